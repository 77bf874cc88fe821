"""Input schemas of catalog (API, import, CLI share them)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qoima.catalog.domain.barcodes import normalize_barcode
from qoima.platform.bounds import Count, Days, Money, Text
from qoima.platform.schemas import _rule


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seller: Text(40) | None = None
    sku: Text(64, min_length=1)
    name: Text(300, min_length=1)
    category: Text(100) = ""
    price: Money = Decimal("0")
    barcodes: list[Text(64)] = Field([], max_length=100)
    weight_g: Count = 0
    length_mm: Count = 0
    width_mm: Count = 0
    height_mm: Count = 0
    marking_required: bool = False
    replenishment_days: Days | None = None

    @field_validator("barcodes")
    @classmethod
    def _barcodes(cls, v):
        return [_rule(normalize_barcode, code, "barcodes") for code in v]


class SellerIn(BaseModel):
    """A new seller (API and the admin page)."""
    code: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    name: Text(200, min_length=1)
    webhook_url: Text(500) | None = None
