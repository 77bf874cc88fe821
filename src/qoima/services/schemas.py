"""Input schemas shared by the API, the CSV/XLSX import and the CLI, so that a
bad field gets the same message everywhere (Pydantic names its location)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..domain import contacts
from ..domain.barcodes import normalize_barcode
from ..domain.errors import ValidationError as RuleError


def _rule(fn, value, field):
    try:
        return fn(value, field=field)
    except RuleError as exc:
        raise ValueError(exc.message) from None


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=200)
    phone: str | None = None
    email: str | None = None
    language: str = "ru"
    preferred_channel: str = "sms"

    @field_validator("phone")
    @classmethod
    def _phone(cls, v):
        return _rule(contacts.normalize_phone, v, "customer.phone")

    @field_validator("email")
    @classmethod
    def _email(cls, v):
        return _rule(contacts.normalize_email, v, "customer.email")

    @field_validator("language")
    @classmethod
    def _lang(cls, v):
        return _rule(contacts.normalize_language, v, "customer.language")

    @field_validator("preferred_channel")
    @classmethod
    def _channel(cls, v):
        return _rule(contacts.normalize_channel, v, "customer.preferred_channel")


class DeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["courier", "pickup_point", "self_pickup"] = "courier"
    address: str = Field("", max_length=500)
    city: str = Field("", max_length=100)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=100_000)
    unit_price: Decimal = Field(ge=0, max_digits=14, decimal_places=2)


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seller: str | None = Field(None, description="seller code; a seller user may omit it")
    channel: str = Field(min_length=1, max_length=30)
    external_id: str = Field(min_length=1, max_length=100)
    customer: CustomerIn = CustomerIn()
    delivery: DeliveryIn = DeliveryIn()
    lines: list[LineIn] = Field(min_length=1, max_length=500)
    received_at: datetime | None = None


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seller: str | None = None
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=300)
    category: str = ""
    price: Decimal = Field(Decimal("0"), ge=0, max_digits=14, decimal_places=2)
    barcodes: list[str] = []
    weight_g: int = Field(0, ge=0)
    length_mm: int = Field(0, ge=0)
    width_mm: int = Field(0, ge=0)
    height_mm: int = Field(0, ge=0)
    marking_required: bool = False
    replenishment_days: int | None = Field(None, gt=0)

    @field_validator("barcodes")
    @classmethod
    def _barcodes(cls, v):
        return [_rule(normalize_barcode, code, "barcodes") for code in v]


class ReceiptLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str
    expected: int = Field(0, ge=0)
    received: int = Field(0, ge=0)


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seller: str | None = None
    warehouse: str
    location: str = Field(description="location code where the goods are put")
    supplier: str = ""
    reference: str = ""
    lines: list[ReceiptLineIn] = Field(min_length=1)


class TransferLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str
    quantity: int = Field(gt=0)
    from_location: str


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seller: str | None = None
    from_warehouse: str
    to_warehouse: str
    lines: list[TransferLineIn] = Field(min_length=1)


class StockIn(BaseModel):
    """One row of a stock import: set the counted quantity at a location (adjusts by the difference)."""
    model_config = ConfigDict(extra="forbid")
    seller: str | None = None
    sku: str
    warehouse: str
    location: str
    quantity: int = Field(ge=0)
