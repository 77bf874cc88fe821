"""Input schemas of the floor (API and pages share them); bounds match the columns (platform/bounds.py)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from qoima.platform.bounds import Text, strict_int

Code = Text(40)
OpId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[ -~]+$",
                            description="the client's operation id: a retry with the same id is done once")]
_SCAN_BAD = re.compile(r"[\x00-\x1c\x1e-\x1f\x7f]")


def _scan_text(value: str) -> str:
    """A scanner's text: printable, plus GS (ASCII 29), the separator of GS1 and marking codes."""
    found = _SCAN_BAD.search(value)
    if found:
        raise ValueError(f"must not contain control characters other than GS: found U+{ord(found.group()):04X} "
                         f"at position {found.start() + 1}")
    return value


ScanText = Annotated[str, Field(max_length=500), AfterValidator(_scan_text)]


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse: Text(20)
    ship_by: datetime | None = None
    carrier: Text(40) | None = None
    limit: strict_int(ge=1, le=20000) = 5000


class NextTaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse: Text(20) | None = None


class PickScanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op_id: OpId
    raw: ScanText
    quantity: strict_int(ge=1, le=10000) = 1


class OpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op_id: OpId


class ShortIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op_id: OpId
    found: strict_int(ge=0, le=10000) = 0


class FloorSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aisles: strict_int(ge=1, le=500)
    aisle_length: float = Field(gt=0, le=1000)
    aisle_spacing: float = Field(gt=0, le=100)
    depot_aisle: strict_int(ge=0, le=499) = 0
    cross_aisles: list[Annotated[float, Field(gt=0, le=1000)]] = Field(default_factory=list, max_length=20)
    cart_capacity: strict_int(ge=1, le=50) = 6
    auto_release_minutes: strict_int(ge=0, le=1440) | None = None


class BoxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Text(20, min_length=1)
    length_mm: strict_int(ge=1, le=5000)
    width_mm: strict_int(ge=1, le=5000)
    height_mm: strict_int(ge=1, le=5000)
    max_weight_g: strict_int(ge=1, le=1000000)
    active: Annotated[bool, Field(strict=True)] = True


class PackScanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op_id: OpId
    raw: ScanText
    warehouse: Text(20) | None = None  # an order shipped from two warehouses: which one packs now


class ParcelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight_g: strict_int(ge=1, le=1000000)
    box_code: Text(20) = ""
    length_mm: strict_int(ge=0, le=5000) = 0
    width_mm: strict_int(ge=0, le=5000) = 0
    height_mm: strict_int(ge=0, le=5000) = 0


class PackCloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op_id: OpId
    parcels: list[ParcelIn] = Field(min_length=1, max_length=20)
    warehouse: Text(20) | None = None  # an order shipped from two warehouses: which one packs now


class ManifestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse: Text(20)
    carrier: Text(40, min_length=1)


class ManifestScanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op_id: OpId
    raw: ScanText


class ResolveIn(BaseModel):
    """The shift lead's resolution of a floor exception (floor/services/exceptions.py checks action and note)."""
    model_config = ConfigDict(extra="forbid")
    op_id: OpId
    action: Text(20) = Field(description="resource | cancel | close")
    note: Text(500) = ""
