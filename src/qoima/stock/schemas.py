"""Input schemas of stock (API, import, CLI share them); the bounds are platform/bounds.py's."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from qoima.platform.bounds import Count, Delta, Quantity, Text

Code = Text(40)  # seller, warehouse (20) and location codes (40)


class ReceiptLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Text(64)
    expected: Count = 0
    received: Count = 0


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seller: Code | None = None
    warehouse: Code
    location: Code = Field(description="location code where the goods are put")
    supplier: Text(200) = ""
    reference: Text(100) = ""
    lines: list[ReceiptLineIn] = Field(min_length=1, max_length=1000)


class TransferLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Text(64)
    quantity: Quantity
    from_location: Code


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seller: Code | None = None
    from_warehouse: Code
    to_warehouse: Code
    lines: list[TransferLineIn] = Field(min_length=1, max_length=1000)


class StockIn(BaseModel):
    """One row of a stock import: set the counted quantity at a location (adjusts by the difference)."""
    model_config = ConfigDict(extra="forbid")
    seller: Code | None = None
    sku: Text(64)
    warehouse: Code
    location: Code
    quantity: Count


class TransferReceiveIn(BaseModel):
    location: Code


class MoveIn(BaseModel):
    seller: Code | None = None
    sku: Text(64)
    warehouse: Code
    from_location: Code
    to_location: Code
    quantity: Quantity
    reason: Text(500, multiline=True) = ""


class AdjustIn(BaseModel):
    seller: Code | None = None
    sku: Text(64)
    warehouse: Code
    location: Code
    delta: Delta
    reason: Text(500, multiline=True)
    scrap: bool = False


class CountIn(BaseModel):
    """A cycle count: the quantity counted of one SKU in one location; the difference is booked."""
    model_config = ConfigDict(extra="forbid")
    seller: Code | None = None
    sku: Text(64)
    warehouse: Code
    location: Code
    counted: Count
    note: Text(200) = ""


class ReceivingModeIn(BaseModel):
    """A warehouse's receiving mode (migration 0013) and, for 'auto_putaway', its put-away cell."""
    model_config = ConfigDict(extra="forbid")
    warehouse: Code
    mode: Text(20)
    cell: Code | None = None
