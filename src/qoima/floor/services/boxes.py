"""Box sizes the packing station suggests from (table box_sizes, edited on the floor settings page)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qoima.db import tables as t
from qoima.floor.domain.boxes import Box
from qoima.platform.unit_of_work import UnitOfWork


def list_boxes(uow: UnitOfWork, active_only: bool = False) -> list[dict]:
    q = select(t.box_sizes).order_by(t.box_sizes.c.length_mm * t.box_sizes.c.width_mm * t.box_sizes.c.height_mm,
                                     t.box_sizes.c.code)
    if active_only:
        q = q.where(t.box_sizes.c.active.is_(True))
    return [dict(r._mapping) for r in uow.execute(q)]


def boxes_for_suggestion(uow: UnitOfWork) -> list[Box]:
    return [Box(b["code"], b["length_mm"], b["width_mm"], b["height_mm"], b["max_weight_g"])
            for b in list_boxes(uow, active_only=True)]


def save_box(uow: UnitOfWork, box: Box, active: bool = True) -> None:
    """Create or change a box by its code (the CHECK constraints hold the bounds too)."""
    values = {"code": box.code.strip().upper(), "length_mm": box.length_mm, "width_mm": box.width_mm,
              "height_mm": box.height_mm, "max_weight_g": box.max_weight_g, "active": active}
    ins = pg_insert if uow.is_postgres else sqlite_insert
    uow.execute(ins(t.box_sizes).values(**values).on_conflict_do_update(
        index_elements=["code"], set_={k: v for k, v in values.items() if k != "code"}))


def deactivate(uow: UnitOfWork, code: str) -> None:
    uow.execute(update(t.box_sizes).where(t.box_sizes.c.code == code).values(active=False))
