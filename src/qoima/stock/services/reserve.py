"""Reserving stock rows for an order line, locking rows in id order; which rows
orders may reserve is `reservable` (stock/services/reservable.py)."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update

from qoima.db import tables as t
from qoima.platform.unit_of_work import UnitOfWork, utcnow
from qoima.stock.services.events import touched
from qoima.stock.services.reservable import reservable


def lock_stock_rows(uow: UnitOfWork, product_ids, warehouse_ids=None):
    q = (select(t.stock.c.id, t.stock.c.product_id, t.stock.c.warehouse_id, t.stock.c.location_id,
                t.stock.c.on_hand, t.stock.c.reserved)
         .join(t.locations, t.locations.c.id == t.stock.c.location_id)
         .where(t.stock.c.product_id.in_(list(product_ids)), t.stock.c.on_hand > t.stock.c.reserved,
                reservable())
         .order_by(t.stock.c.id))
    if warehouse_ids is not None:
        q = q.where(t.stock.c.warehouse_id.in_(list(warehouse_ids)))
    if uow.is_postgres:
        q = q.with_for_update(of=t.stock)
    return uow.execute(q).all()


def apply_reservations(uow: UnitOfWork, order_id: int, takes: list[tuple[int, int, int, int]]) -> None:
    """takes: (order_line_id, stock_id, warehouse_id, qty). Counters change atomically in SQL;
    the CHECK constraint refuses reserving more than is on hand."""
    if not takes:
        return
    now = utcnow()
    uow.execute(insert(t.reservations), [
        {"order_id": order_id, "order_line_id": lid, "stock_id": sid, "warehouse_id": wid, "quantity": q,
         "created_at": now} for lid, sid, wid, q in takes])
    per_stock: dict[int, int] = {}
    for _, sid, _, q in takes:
        per_stock[sid] = per_stock.get(sid, 0) + q
    # one executemany (pipelined on PostgreSQL), still row by row in id order
    uow.execute(update(t.stock).where(t.stock.c.id == bindparam("sid"))
                .values(reserved=t.stock.c.reserved + bindparam("n")),
                [{"sid": sid, "n": per_stock[sid]} for sid in sorted(per_stock)])


def reserve_in_warehouses(uow: UnitOfWork, *, order_id: int, line_id: int, product_id: int, quantity: int,
                          warehouse_ids) -> int:
    """Reserve up to quantity units of one product; returns how many were reserved."""
    rows = lock_stock_rows(uow, [product_id], warehouse_ids)
    takes, left = [], quantity
    for r in rows:
        take = min(left, r.on_hand - r.reserved)
        if take > 0:
            takes.append((line_id, r.id, r.warehouse_id, take))
            left -= take
        if left == 0:
            break
    apply_reservations(uow, order_id, takes)
    return quantity - left


def release(uow: UnitOfWork, order_id: int, actor: str = "system") -> int:
    """Give back every reservation of an order; returns units released. The stock rows are
    locked in one statement ascending by id first; the freed units fill waiting orders from
    the stock.changed event, after the commit."""
    rows = uow.execute(select(t.reservations.c.stock_id, t.reservations.c.quantity)
                       .where(t.reservations.c.order_id == order_id).order_by(t.reservations.c.stock_id)).all()
    per_stock: dict[int, int] = {}
    for r in rows:
        per_stock[r.stock_id] = per_stock.get(r.stock_id, 0) + r.quantity
    if not per_stock:
        return 0
    q = (select(t.stock.c.id, t.stock.c.product_id, t.stock.c.warehouse_id)
         .where(t.stock.c.id.in_(sorted(per_stock))).order_by(t.stock.c.id))
    locked = uow.execute(q.with_for_update() if uow.is_postgres else q).all()
    uow.execute(update(t.stock).where(t.stock.c.id == bindparam("sid"))
                .values(reserved=t.stock.c.reserved - bindparam("n")),
                [{"sid": sid, "n": per_stock[sid]} for sid in sorted(per_stock)])
    uow.execute(t.reservations.delete().where(t.reservations.c.order_id == order_id))
    for row in locked:
        touched(uow, row.product_id, row.warehouse_id, actor)
    return sum(per_stock.values())
