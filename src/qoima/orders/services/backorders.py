"""Backorders are filled first come, first served when stock arrives.

Stock (a lower capability) does not call this: every stock change writes a
stock.changed outbox event, and `on_stock_changed` fills the waiting orders of
that product after the change committed, in its own unit of work, retried on
deadlocks and lock timeouts (platform/unit_of_work.run).

Locks, always in this order (the order every other use case takes them too):
the waiting orders (FOR UPDATE, ascending by id), then their lines, then every
stock row the fill may reserve from, in one statement ascending by id. Under
these locks it re-reads each order's status and each line's `backordered`, so
an order put on hold (or cancelled) meanwhile is skipped and keeps its status,
and a retried or duplicate event reserves nothing twice: it is idempotent."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Engine, bindparam, select, update

from qoima.db import tables as t
from qoima.orders.domain import reasons
from qoima.orders.domain.status import Status
from qoima.orders.services import shipments
from qoima.orders.services.records import record_transition
from qoima.platform.outbox import TransientError, handles
from qoima.platform.unit_of_work import Busy, UnitOfWork, run, utcnow
from qoima.stock.services.events import TOPIC as STOCK_CHANGED, touched
from qoima.stock.services.reserve import apply_reservations, lock_stock_rows

REASON = reasons.text("timeline.backorder_filled")


def fill_backorders(uow: UnitOfWork, product_ids: list[int], actor: str) -> list[int]:
    """Reserve free stock for the waiting lines of these products, oldest order first.
    Returns the ids of orders that became fully allocated (in the order they were served)."""
    product_ids = sorted(set(product_ids))
    if not product_ids:
        return []
    candidates = uow.execute(
        select(t.orders.c.id).distinct()
        .join(t.order_lines, t.order_lines.c.order_id == t.orders.c.id)
        .where(t.order_lines.c.product_id.in_(product_ids), t.order_lines.c.backordered > 0,
               t.orders.c.status == Status.BACKORDERED.value)).scalars().all()
    if not candidates:
        return []
    orders = _lock_orders(uow, sorted(candidates))
    if not orders:
        return []
    lines = _lock_lines(uow, sorted(orders))
    waiting = [ln for ln in lines if ln.product_id in product_ids and ln.backordered > 0]
    if not waiting:
        return []
    free = {r.id: r for r in lock_stock_rows(uow, sorted({ln.product_id for ln in waiting}))}
    left = {r.id: r.on_hand - r.reserved for r in free.values()}
    rows_of: dict[int, list] = defaultdict(list)
    for r in free.values():  # ascending by id, like every reservation
        rows_of[r.product_id].append(r)
    waiting.sort(key=lambda ln: (orders[ln.order_id].received_at, ln.order_id, ln.id))
    takes: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    still = {ln.id: ln.backordered for ln in lines}
    served: list[int] = []
    for ln in waiting:
        for r in rows_of[ln.product_id]:
            take = min(still[ln.id], left[r.id])
            if take > 0:
                takes[ln.order_id].append((ln.id, r.id, r.warehouse_id, take))
                left[r.id] -= take
                still[ln.id] -= take
        if ln.order_id not in served and any(q for _l, _s, _w, q in takes[ln.order_id]):
            served.append(ln.order_id)
    if not served:
        return []
    for order_id in sorted(served):
        apply_reservations(uow, order_id, takes[order_id])
    changed = [{"lid": ln.id, "left": still[ln.id]} for ln in lines if still[ln.id] != ln.backordered]
    uow.execute(update(t.order_lines).where(t.order_lines.c.id == bindparam("lid"))
                .values(backordered=bindparam("left")), changed)
    for sid in sorted({sid for order_id in served for _l, sid, _w, _q in takes[order_id]}):
        touched(uow, free[sid].product_id, free[sid].warehouse_id, actor)
    complete = {ln.order_id for ln in lines} - {ln.order_id for ln in lines if still[ln.id] > 0}
    completed = [order_id for order_id in served if order_id in complete]
    for order_id in sorted(served):  # a warehouse that now holds part of the order ships that part
        _ship_from_held(uow, order_id, Status.ALLOCATED.value if order_id in complete else Status.BACKORDERED.value)
        short = sum(still[ln.id] for ln in lines if ln.order_id == order_id)
        _store_reason(uow, order_id, short)
    for order_id in completed:
        _allocate(uow, orders[order_id], actor)
    return completed


def _lock_orders(uow: UnitOfWork, order_ids: list[int]) -> dict:
    """Lock the candidate orders ascending by id and keep those still waiting (a hold stays a hold)."""
    q = (select(t.orders.c.id, t.orders.c.seller_id, t.orders.c.status, t.orders.c.received_at)
         .where(t.orders.c.id.in_(order_ids)).order_by(t.orders.c.id))
    rows = uow.execute(q.with_for_update() if uow.is_postgres else q).all()
    return {r.id: r for r in rows if r.status == Status.BACKORDERED.value}


def _lock_lines(uow: UnitOfWork, order_ids: list[int]) -> list:
    q = (select(t.order_lines.c.id, t.order_lines.c.order_id, t.order_lines.c.product_id,
                t.order_lines.c.backordered)
         .where(t.order_lines.c.order_id.in_(order_ids)).order_by(t.order_lines.c.id))
    return uow.execute(q.with_for_update() if uow.is_postgres else q).all()


def _ship_from_held(uow: UnitOfWork, order_id: int, status: str) -> None:
    """The order's shipments: the warehouses its reservations are in (those of the plan first, in
    their order, then the new ones by id)."""
    held = set(uow.execute(select(t.reservations.c.warehouse_id).distinct()
                           .where(t.reservations.c.order_id == order_id)).scalars())
    before = shipments.warehouse_ids(uow, order_id)
    ships = [w for w in before if w in held] + sorted(held - set(before))
    if ships != before:
        shipments.replace(uow, order_id, ships, status)


def current_reason(warehouses: list[str], short: int) -> str:
    """The sourcing reason of an order after a fill (stored, so the order page shows why it ships now)."""
    where = "+".join(warehouses) or "-"
    if short:
        return reasons.joined([reasons.text("sourcing.arrived_at", codes=where),
                               reasons.text("sourcing.still_backordered", short=short)])
    return reasons.joined([reasons.text("timeline.backorder_filled"), reasons.text("sourcing.ships_from", codes=where)])


def _store_reason(uow: UnitOfWork, order_id: int, short: int) -> None:
    codes = uow.execute(select(t.warehouses.c.code).join(t.shipments, t.shipments.c.warehouse_id == t.warehouses.c.id)
                        .where(t.shipments.c.order_id == order_id).order_by(t.shipments.c.seq)).scalars().all()
    uow.execute(update(t.orders).where(t.orders.c.id == order_id)
                .values(sourcing_reason=current_reason(list(codes), short)[:500]))


def _allocate(uow: UnitOfWork, order, actor: str) -> None:
    uow.execute(update(t.orders).where(t.orders.c.id == order.id)
                .values(status=Status.ALLOCATED.value, updated_at=utcnow()))
    record_transition(uow, order.id, order.seller_id, Status.BACKORDERED.value, Status.ALLOCATED.value, actor,
                      REASON)


@handles(STOCK_CHANGED)
def on_stock_changed(engine: Engine, event: dict) -> None:
    """Outbox handler: stock of a product changed somewhere, fill its waiting orders."""
    payload = event["payload"] or {}
    if payload.get("available", 1) <= 0:
        return  # nothing reservable came free with this change
    actor = payload.get("actor") or "system"
    try:
        run(engine, lambda uow: fill_backorders(uow, [payload["product_id"]], actor=actor))
    except Busy as exc:  # still contended after the in-place retries: let the outbox retry later
        raise TransientError(str(exc)) from exc
