"""Which stock orders may reserve: one rule for every writer (the careful, bulk
and express intake, backorder fills, re-sourcing) and for the stock.changed
counters: rows in storage locations, and rows in receiving locations of a
warehouse whose receiving_mode is 'reserve' (migration 0013). In an
'auto_putaway' warehouse a receipt into the dock is put away at once
(stock/services/putaway.py), so its dock holds nothing reservable.

Stock reserved on the dock is put away with its reservations (inventory.move),
so a picker is sent to the cell the goods are in."""

from __future__ import annotations

from sqlalchemy import and_, or_, select

from qoima.db import tables as t

RESERVE, AUTO_PUTAWAY = "reserve", "auto_putaway"
RECEIVING_MODES = (RESERVE, AUTO_PUTAWAY)


def reservable(locations=t.locations):
    """The condition on a joined locations row: may orders reserve the stock there?"""
    docks = select(t.warehouses.c.id).where(t.warehouses.c.receiving_mode == RESERVE)
    return or_(locations.c.kind == "storage",
               and_(locations.c.kind == "receiving", locations.c.warehouse_id.in_(docks)))


def reservable_sql(alias: str) -> str:
    """The same condition in SQL text, for the express path's look-up (locations aliased `alias`)."""
    return (f"({alias}.kind = 'storage' OR ({alias}.kind = 'receiving' AND {alias}.warehouse_id IN "
            f"(SELECT w.id FROM warehouses w WHERE w.receiving_mode = '{RESERVE}')))")
