"""Warehouses, their holidays and their locations, as the administration edits them.

A warehouse's calendar (time zone, cut-off, hand-over, working days, holidays)
sets every new order's ship-by (catalog/domain/calendar.py); locations made from
a pattern (catalog/domain/locations.py) carry the aisle and position the floor's
routes read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, update

from qoima.catalog.domain import locations as patterns
from qoima.catalog.domain.calendar import parse_hhmm
from qoima.db import tables as t
from qoima.platform.access import Principal
from qoima.platform.bounds import control_character
from qoima.platform.errors import Conflict, NotFound, ValidationError
from qoima.platform.unit_of_work import UnitOfWork, utcnow

KINDS = ("storage", "receiving", "shipping", "returns", "quarantine")
MAX_HOLIDAYS = 366


@dataclass(frozen=True)
class WarehouseData:
    """A warehouse as the form gives it (checked by `check`)."""
    code: str
    name: str
    city: str = ""
    timezone: str = "Asia/Almaty"
    cutoff_time: str = "14:00"
    handover_time: str = "18:00"
    working_days: str = "12345"
    holidays: tuple[tuple[date, str], ...] = field(default=())


def _invalid(message: str, field: str, code: str, **params) -> ValidationError:
    return ValidationError(message, field=field, code=code, **params)


def _no_control(fields: dict[str, str]) -> None:
    for name, value in fields.items():
        found = control_character(value)
        if found:
            raise _invalid("%(what)s has a control character (%(where)s)", name, "text.control", what=name,
                           where=found)


def check(data: WarehouseData) -> WarehouseData:
    """The rules of every field, each refusal naming its field."""
    _no_control({"code": data.code, "name": data.name, "city": data.city, "timezone": data.timezone,
                 "cutoff_time": data.cutoff_time, "handover_time": data.handover_time,
                 **{"holidays": n for _, n in data.holidays}})
    if not data.code or len(data.code) > 20 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in data.code):
        raise _invalid("the code has 1 to 20 Latin letters, digits, '-' or '_'", "code", "warehouse.code")
    if not data.name or len(data.name) > 200:
        raise _invalid("the name is required, at most %(max)s characters", "name", "warehouse.name", max=200)
    if len(data.city) > 100:
        raise _invalid("the city has at most %(max)s characters", "city", "warehouse.city", max=100)
    try:
        if not data.timezone or len(data.timezone) > 60:
            raise ValueError
        ZoneInfo(data.timezone)
    except Exception:
        raise _invalid("unknown time zone '%(value)s' (an IANA name such as Asia/Almaty)", "timezone",
                       "warehouse.timezone", value=data.timezone[:60]) from None
    for name, value in (("cutoff_time", data.cutoff_time), ("handover_time", data.handover_time)):
        try:
            if len(value) != 5:
                raise ValueError
            parse_hhmm(value)
        except Exception:
            raise _invalid("%(what)s must be HH:MM, got '%(value)s'", name, "warehouse.time",
                           what=name, value=value[:20]) from None
    if not data.working_days or any(c not in "1234567" for c in data.working_days):
        raise _invalid("choose at least one working day", "working_days", "warehouse.working_days")
    if len(data.holidays) > MAX_HOLIDAYS:
        raise _invalid("at most %(max)s holidays", "holidays", "warehouse.holidays", max=MAX_HOLIDAYS)
    for day, name in data.holidays:
        if len(name) > 100:
            raise _invalid("a holiday's name has at most %(max)s characters", "holidays", "warehouse.holiday_name",
                           max=100)
    days = "".join(sorted(set(data.working_days)))
    holidays = tuple(sorted(dict(data.holidays).items()))  # one per day, the last name given
    return WarehouseData(data.code, data.name, data.city, data.timezone, data.cutoff_time, data.handover_time,
                         days, holidays)


def _row(data: WarehouseData) -> dict:
    return {"code": data.code, "name": data.name, "city": data.city, "timezone": data.timezone,
            "cutoff_time": data.cutoff_time, "handover_time": data.handover_time, "working_days": data.working_days}


def save_warehouse(uow: UnitOfWork, principal: Principal, data: WarehouseData, warehouse_id: int | None = None) -> int:
    """Create (no id) or edit a warehouse with its holidays; the code is unique."""
    principal.require("admin")
    data = check(data)
    taken = uow.execute(select(t.warehouses.c.id).where(t.warehouses.c.code == data.code)).scalar()
    if taken is not None and taken != warehouse_id:
        raise Conflict("warehouse %(value)s already exists", field="code", code="warehouse.code_taken",
                       value=data.code)
    if warehouse_id is None:
        warehouse_id = uow.execute(insert(t.warehouses).values(created_at=utcnow(), **_row(data))
                                   .returning(t.warehouses.c.id)).scalar_one()
    else:
        found = uow.execute(update(t.warehouses).where(t.warehouses.c.id == warehouse_id).values(**_row(data))
                            .returning(t.warehouses.c.id)).scalar()
        if found is None:
            raise NotFound("no warehouse #%(warehouse_id)s", field="warehouse", code="warehouse.not_found",
                           warehouse_id=warehouse_id)
    uow.execute(delete(t.warehouse_holidays).where(t.warehouse_holidays.c.warehouse_id == warehouse_id))
    if data.holidays:
        uow.execute(insert(t.warehouse_holidays), [{"warehouse_id": warehouse_id, "day": d, "name": n}
                                                   for d, n in data.holidays])
    return warehouse_id


def warehouses(uow: UnitOfWork) -> list[dict]:
    """Every warehouse with its holidays and its number of locations, by code."""
    days: dict[int, list] = {}
    for r in uow.execute(select(t.warehouse_holidays).order_by(t.warehouse_holidays.c.day)):
        days.setdefault(r.warehouse_id, []).append({"day": r.day, "name": r.name})
    counts = dict(uow.execute(select(t.locations.c.warehouse_id, func.count()).group_by(t.locations.c.warehouse_id))
                  .all())
    return [{**dict(r._mapping), "holidays": days.get(r.id, []), "locations": counts.get(r.id, 0)}
            for r in uow.execute(select(t.warehouses).order_by(t.warehouses.c.code))]


def warehouse_id(uow: UnitOfWork, code: str) -> int:
    wid = uow.execute(select(t.warehouses.c.id).where(t.warehouses.c.code == code)).scalar()
    if wid is None:
        raise NotFound("no warehouse %(value)s", field="warehouse", code="warehouse.not_found", value=code)
    return wid


def locations(uow: UnitOfWork, warehouse: int, limit: int = 500, offset: int = 0) -> tuple[list[dict], int]:
    """A page of the warehouse's locations by code, and how many it has."""
    c = t.locations.c
    total = uow.execute(select(func.count()).select_from(t.locations).where(c.warehouse_id == warehouse)).scalar_one()
    rows = uow.execute(select(c.id, c.code, c.kind, c.zone, c.aisle, c.position, c.level, c.x, c.y)
                       .where(c.warehouse_id == warehouse).order_by(c.code).limit(limit).offset(offset))
    return [dict(r._mapping) for r in rows], total


@dataclass(frozen=True)
class Created:
    created: int
    skipped: list[str]  # codes the warehouse already had


def create_locations(uow: UnitOfWork, principal: Principal, warehouse: int, cells: list[patterns.Cell],
                     kind: str = "storage") -> Created:
    """Locations from a pattern's cells (or one); the codes the warehouse has already are skipped."""
    principal.require("admin", "manager")
    if kind not in KINDS:
        raise _invalid("kind must be one of %(kinds)s", "kind", "locations.kind", kinds=", ".join(KINDS))
    if len(cells) > patterns.MAX_LOCATIONS:
        raise _invalid("at most %(max)s locations at once", "pattern", "locations.pattern_too_many",
                       max=patterns.MAX_LOCATIONS)
    codes = [c.code for c in cells]
    existing: set[str] = set()
    for i in range(0, len(codes), 500):
        existing.update(uow.execute(select(t.locations.c.code).where(
            t.locations.c.warehouse_id == warehouse, t.locations.c.code.in_(codes[i:i + 500]))).scalars())
    new = [c for c in dict((c.code, c) for c in cells).values() if c.code not in existing]
    if new:
        uow.execute(insert(t.locations), [
            {"warehouse_id": warehouse, "code": c.code, "kind": kind, "zone": c.zone, "aisle": c.aisle,
             "position": c.position, "level": c.level, "x": c.x, "y": c.y} for c in new])
    return Created(len(new), sorted(existing))


def check_cell(cell: patterns.Cell) -> patterns.Cell:
    """One location typed in by hand, checked like the pattern's."""
    _no_control({"code": cell.code, "zone": cell.zone, "aisle": cell.aisle, "position": cell.position,
                 "level": cell.level})
    if not cell.code or len(cell.code) > patterns.MAX_CODE:
        raise _invalid("the code is required, at most %(max)s characters", "code", "locations.code",
                       max=patterns.MAX_CODE)
    for name in ("zone", "aisle", "position", "level"):
        if len(getattr(cell, name)) > patterns.MAX_PART:
            raise _invalid("%(what)s has at most %(max)s characters", name, "locations.part", what=name,
                           max=patterns.MAX_PART)
    for name in ("x", "y"):
        if not -1e6 <= getattr(cell, name) <= 1e6:
            raise _invalid("%(what)s must be between -1000000 and 1000000", name, "locations.coordinate", what=name)
    return cell
