"""Input schemas of stock (API, import, CLI share them); the bounds are platform/bounds.py's."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from qoima.platform.bounds import Count, Delta, Quantity, Text, _whole
from qoima.stock.domain import asn as asn_rules

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
# ---------------------------------------------------------------- inbound deliveries (ASN)
# The bounds and their messages are stock/domain/asn.py's, shared with the CSV import and the web form.

def _line_qty(kind: str, minimum: int = 0):
    def check(value: int) -> int:
        if not minimum <= value <= asn_rules.LINE_QTY_MAX:
            raise ValueError(f"must be a whole number from {minimum} to {asn_rules.LINE_QTY_MAX}")
        return value
    return Annotated[int, Field(strict=True, json_schema_extra={"minimum": minimum,
                                                                "maximum": asn_rules.LINE_QTY_MAX}),
                     BeforeValidator(_whole), AfterValidator(check)]


Expected = _line_qty("expected", 1)
Received = _line_qty("received")
Supplier = Text(asn_rules.SUPPLIER_MAX)
Reference = Text(asn_rules.REFERENCE_MAX)


def _plausible_day(value: date | None) -> date | None:
    problem = asn_rules.day_problem(value, date.today()) if value is not None else None
    if problem is not None:
        raise ValueError(problem.text)
    return value


ExpectedDay = Annotated[date | None, AfterValidator(_plausible_day)]


def _problems(problems) -> None:
    if problems:
        raise ValueError("; ".join(p.text for p in problems))


class AsnLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Text(asn_rules.SKU_MAX, min_length=1) = Field(description="the seller's SKU (any letter case)")
    expected: Expected


class AsnHeaderIn(BaseModel):
    """What a delivery announces besides its lines (the CSV upload sends these as form fields)."""
    model_config = ConfigDict(extra="forbid")
    seller: Code | None = None
    warehouse: Code
    supplier: Supplier = ""
    reference: Reference = Field("", description="the supplier's delivery note or invoice number")
    expected_at: ExpectedDay = Field(
        None, description="the day the delivery is expected (YYYY-MM-DD), 2000-01-01 .. one year from today")


class AsnIn(AsnHeaderIn):
    lines: list[AsnLineIn] = Field(min_length=1, max_length=asn_rules.LINES_MAX)

    @field_validator("lines")
    @classmethod
    def _lines(cls, lines):
        _problems(asn_rules.line_problems([(ln.sku, ln.expected) for ln in lines], "expected"))
        return lines


class AsnReceiveLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Text(asn_rules.SKU_MAX, min_length=1) = Field(description="a SKU (any letter case) or a barcode")
    received: Received


class AsnReceiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location: Code = Field(description="location code where the goods are put (e.g. the receiving dock)")
    lines: list[AsnReceiveLineIn] = Field(min_length=1, max_length=asn_rules.LINES_MAX)
    close: bool = Field(False, description="close the delivery after this receipt, even with discrepancies")

    @field_validator("lines")
    @classmethod
    def _lines(cls, lines):
        _problems(asn_rules.line_problems([(ln.sku, ln.received) for ln in lines], "received"))
        return lines
