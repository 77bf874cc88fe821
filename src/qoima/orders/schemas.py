"""Input schemas of orders (API, import, CLI share them)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qoima.customers.schemas import CustomerIn


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
