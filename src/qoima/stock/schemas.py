"""Input schemas of stock (API, import, CLI share them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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


class TransferReceiveIn(BaseModel):
    location: str


class MoveIn(BaseModel):
    seller: str | None = None
    sku: str
    warehouse: str
    from_location: str
    to_location: str
    quantity: int = Field(gt=0)
    reason: str = ""


class AdjustIn(BaseModel):
    seller: str | None = None
    sku: str
    warehouse: str
    location: str
    delta: int
    reason: str
    scrap: bool = False
