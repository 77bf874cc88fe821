"""Input schemas of catalog (API, import, CLI share them)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qoima.catalog.domain.barcodes import normalize_barcode
from qoima.platform.schemas import _rule


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
