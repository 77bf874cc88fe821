"""stock.changed: every change of stock writes, in the same transaction, one
outbox event per (product, warehouse) it touched, with the counters as they are
when the transaction commits:

    {"product_id", "sku", "warehouse_id", "warehouse", "on_hand", "reserved", "available", "actor"}

on_hand and reserved are summed over every location of the warehouse; available
is what can still be reserved (on hand minus reserved where orders may reserve: storage, and the
dock of a warehouse whose receiving_mode is 'reserve'),
which is what a channel's stock feed offers. Orders fill their backorders from
this event (orders/services/backorders.py), after the change committed.

The use cases call `touched(uow, product_id, warehouse_id, actor)` for every row
they change; the events are written once, just before the unit of work commits
(so a use case that changes one row three times writes one event)."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, case, func, insert, or_, select

from qoima.db import tables as t
from qoima.platform.unit_of_work import UnitOfWork, utcnow
from qoima.stock.services.reservable import reservable

TOPIC = "stock.changed"
_KEY = "stock.changed"


def touched(uow: UnitOfWork, product_id: int, warehouse_id: int, actor: str) -> None:
    pending: dict = uow.state.setdefault(_KEY, {})
    pending.setdefault((product_id, warehouse_id), actor)
    uow.before_commit(_KEY, write_events)


def _counters():
    storage = reservable()
    return (select(t.stock.c.product_id, t.stock.c.warehouse_id, t.products.c.sku, t.products.c.seller_id,
                   t.warehouses.c.code.label("warehouse"),
                   func.coalesce(func.sum(t.stock.c.on_hand), 0).label("on_hand"),
                   func.coalesce(func.sum(t.stock.c.reserved), 0).label("reserved"),
                   func.coalesce(func.sum(case((storage, t.stock.c.on_hand - t.stock.c.reserved), else_=0)), 0)
                   .label("available"))
            .join(t.locations, t.locations.c.id == t.stock.c.location_id)
            .join(t.products, t.products.c.id == t.stock.c.product_id)
            .join(t.warehouses, t.warehouses.c.id == t.stock.c.warehouse_id)
            .group_by(t.stock.c.product_id, t.stock.c.warehouse_id, t.products.c.sku, t.products.c.seller_id,
                      t.warehouses.c.code))


_COUNTERS = _counters()
# one (product, warehouse), the common case (a pick, a scan at the dock): built once
_COUNTERS_ONE = _COUNTERS.where(t.stock.c.product_id == bindparam("p"), t.stock.c.warehouse_id == bindparam("w"))
_INSERT_OUTBOX = insert(t.outbox)


def write_events(uow: UnitOfWork) -> None:
    pending: dict = uow.state.pop(_KEY, {})
    if not pending:
        return
    pairs = sorted(pending)
    if len(pairs) == 1:
        rows = uow.execute(_COUNTERS_ONE, {"p": pairs[0][0], "w": pairs[0][1]}).all()
    else:
        rows = uow.execute(_COUNTERS.where(
            or_(*(and_(t.stock.c.product_id == p, t.stock.c.warehouse_id == w) for p, w in pairs)))).all()
    now = utcnow()
    by_pair = {(r.product_id, r.warehouse_id): r for r in rows}
    events = []
    for pair in pairs:
        r = by_pair.get(pair)
        if r is None:  # no stock row (cannot happen after a change; keep the event honest anyway)
            continue
        events.append({"topic": TOPIC, "aggregate_id": r.product_id, "seller_id": r.seller_id,
                       "payload": {"product_id": r.product_id, "sku": r.sku, "warehouse_id": r.warehouse_id,
                                   "warehouse": r.warehouse, "on_hand": int(r.on_hand), "reserved": int(r.reserved),
                                   "available": int(r.available), "actor": pending[pair]},
                       "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now})
    if events:
        uow.execute(_INSERT_OUTBOX, events)
