"""The warehouse's aisle layout (warehouses.layout, JSON) and the floor settings of a warehouse.

Locations carry their place on the floor: x is the aisle index (0..aisles-1), y the position along the
aisle from the front end in metres. A warehouse without a stored layout gets one derived from its
storage locations (one aisle per x, as long as the farthest y, 3 m apart, depot at aisle 0)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select, update

from qoima.db import tables as t
from qoima.floor.domain.routing import Layout, layout_from_json
from qoima.platform.errors import NotFound, ValidationError
from qoima.platform.unit_of_work import UnitOfWork

MAX_AISLES = 500
MAX_LENGTH_M = 1000.0


def warehouse_row(uow: UnitOfWork, code: str | None = None, warehouse_id: int | None = None, field: str = "warehouse"):
    q = select(t.warehouses)
    q = q.where(t.warehouses.c.id == warehouse_id) if warehouse_id is not None else q.where(t.warehouses.c.code == code)
    row = uow.execute(q).first()
    if row is None:
        raise NotFound(f"unknown warehouse '{code or warehouse_id}'", field=field, code="floor.unknown_warehouse")
    return row


def layout_of(uow: UnitOfWork, warehouse) -> Layout:
    if warehouse.layout:
        try:
            return layout_from_json(json.loads(warehouse.layout))
        except (ValueError, TypeError, KeyError):
            pass  # a broken stored layout: route on the derived one rather than refuse to pick
    xs = uow.execute(select(func.max(t.locations.c.x), func.max(t.locations.c.y))
                     .where(t.locations.c.warehouse_id == warehouse.id, t.locations.c.kind == "storage")).first()
    aisles = int(xs[0] or 0) + 1
    return Layout(aisles=max(1, aisles), aisle_length=max(1.0, float(xs[1] or 0) + 1.0), aisle_spacing=3.0,
                  depot_aisle=0)


@dataclass(frozen=True)
class FloorSettings:
    aisles: int
    aisle_length: float
    aisle_spacing: float
    depot_aisle: int
    cross_aisles: tuple[float, ...]
    cart_capacity: int
    auto_release_minutes: int | None


def check_settings(s: FloorSettings) -> FloorSettings:
    if not 1 <= s.aisles <= MAX_AISLES:
        raise ValidationError(f"aisles must be between 1 and {MAX_AISLES}", field="aisles", code="floor.aisles")
    if not 0 < s.aisle_length <= MAX_LENGTH_M:
        raise ValidationError(f"aisle length must be above 0 and at most {MAX_LENGTH_M:g} m", field="aisle_length",
                              code="floor.aisle_length")
    if not 0 < s.aisle_spacing <= 100:
        raise ValidationError("aisle spacing must be above 0 and at most 100 m", field="aisle_spacing",
                              code="floor.aisle_spacing")
    if not 0 <= s.depot_aisle < s.aisles:
        raise ValidationError(f"the depot aisle must be between 0 and {s.aisles - 1}", field="depot_aisle",
                              code="floor.depot_aisle")
    if len(s.cross_aisles) > 20 or any(not 0 < c < s.aisle_length for c in s.cross_aisles):
        raise ValidationError("cross aisles lie strictly inside the aisle length (at most 20)", field="cross_aisles",
                              code="floor.cross_aisles")
    if not 1 <= s.cart_capacity <= 50:
        raise ValidationError("cart capacity must be between 1 and 50 totes", field="cart_capacity",
                              code="floor.cart_capacity")
    if s.auto_release_minutes is not None and not 0 <= s.auto_release_minutes <= 1440:
        raise ValidationError("auto release must be between 0 and 1440 minutes before the cut-off",
                              field="auto_release_minutes", code="floor.auto_release")
    return s


def settings_of(uow: UnitOfWork, warehouse) -> FloorSettings:
    lay = layout_of(uow, warehouse)
    return FloorSettings(lay.aisles, lay.aisle_length, lay.aisle_spacing, lay.depot_aisle, tuple(lay.cross_aisles),
                         warehouse.cart_capacity, warehouse.auto_release_minutes)


def save_settings(uow: UnitOfWork, warehouse_id: int, s: FloorSettings) -> None:
    check_settings(s)
    layout = {"aisles": s.aisles, "aisle_length": s.aisle_length, "aisle_spacing": s.aisle_spacing,
              "depot_aisle": s.depot_aisle, "cross_aisles": sorted(s.cross_aisles)}
    uow.execute(update(t.warehouses).where(t.warehouses.c.id == warehouse_id).values(
        layout=json.dumps(layout), cart_capacity=s.cart_capacity, auto_release_minutes=s.auto_release_minutes))
