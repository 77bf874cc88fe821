"""Input schemas of orders (API, import, CLI share them); the bounds are platform/bounds.py's."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qoima.customers.schemas import CustomerIn
from qoima.platform.bounds import MONEY_MAX, Money, PlausibleDateTime, Text, strict_int


class DeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["courier", "pickup_point", "self_pickup"] = "courier"
    address: Text(500, multiline=True) = ""
    city: Text(100) = ""
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Text(64, min_length=1)
    quantity: strict_int(gt=0, le=100_000)
    unit_price: Money


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seller: Text(40) | None = Field(None, description="seller code; a seller user may omit it")
    channel: Text(30, min_length=1)
    external_id: Text(100, min_length=1)
    customer: CustomerIn = CustomerIn()
    delivery: DeliveryIn = DeliveryIn()
    lines: list[LineIn] = Field(min_length=1, max_length=500,
                                description="the order total (quantity x unit_price summed) is at most "
                                            "999999999999.99")
    received_at: PlausibleDateTime | None = None

    @field_validator("lines")
    @classmethod
    def _total(cls, lines):
        total = sum((ln.quantity * ln.unit_price for ln in lines), Decimal(0))
        if total > MONEY_MAX:
            raise ValueError(f"the order total {total} is more than {MONEY_MAX}")
        return lines
