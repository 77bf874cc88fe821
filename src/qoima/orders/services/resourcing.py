"""Re-sourcing an order (staff): release what it holds, run sourcing again with
the rules intake uses, reserve, and set `allocated` or `backordered` from the
result. The new sourcing reason is stored on the order and written to the
timeline and the outbox in the same transaction.

Locks, in the order `lifecycle.transition` (and cancel) takes them: the order,
then its lines, then in one statement ascending by id every stock row the use
case may touch (the rows it holds and every reservable row of its products), before
anything changes."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import bindparam, or_, select, update

from qoima.db import tables as t
from qoima.orders.domain import booking as bk, reasons
from qoima.orders.domain.status import Status, check_resource
from qoima.orders.services import intake, shipments, topup
from qoima.orders.services.lifecycle import load_order, order_facts
from qoima.orders.services.records import record_transition
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict
from qoima.platform.unit_of_work import UnitOfWork, utcnow
from qoima.stock.services.reserve import apply_reservations, release
from qoima.stock.services.reservable import reservable


@dataclass(frozen=True)
class StockRow:
    """A locked stock row as intake's sourcing helpers read it, with this order's own hold given back."""
    id: int
    product_id: int
    warehouse_id: int
    location_id: int
    on_hand: int
    reserved: int
    wh_code: str
    wh_lat: float | None
    wh_lon: float | None
    timezone: str
    cutoff_time: str
    handover_time: str
    working_days: str


@dataclass(frozen=True)
class Resourced:
    order_id: int
    from_status: str
    status: str
    warehouses: list[str]
    reason: str


def resource(uow: UnitOfWork, principal: Principal, order_id: int, note: str = "") -> Resourced:
    order = load_order(uow, principal, order_id, lock=True)
    check_resource(order_facts(uow, order), principal.is_staff)
    on_floor = uow.execute(select(t.pick_task_lines.c.task_id).where(t.pick_task_lines.c.order_id == order.id)
                           .limit(1)).scalar()
    if on_floor is not None:  # its pick lines hang on its shipments: only what is missing is re-sourced
        return _on_floor(uow, principal, order, on_floor, note)
    lines = _lock_lines(uow, order.id)
    raw = _lock_stock(uow, {ln.product_id for ln in lines}, set(_held(uow, order.id)))
    held = _held(uow, order.id)  # read again under the stock locks: nothing can add to it now
    rows = _free_rows(raw, {ln.product_id for ln in lines}, held)
    release(uow, order.id)
    stock = [bk.StockRow(r.id, r.product_id, r.warehouse_id, r.on_hand - r.reserved) for r in rows]
    plan = bk.decide_resourcing(lines, [ln.product_id for ln in lines], stock, intake.warehouses(uow),
                                (order.lat, order.lon), order.received_at)
    takes = [(lines[i].id, sid, wid, q) for i, sid, wid, q in plan.reservations]
    apply_reservations(uow, order.id, takes)
    uow.execute(update(t.order_lines).where(t.order_lines.c.id == bindparam("lid"))
                .values(backordered=bindparam("short")),
                [{"lid": ln.id, "short": short} for ln, short in zip(lines, plan.backordered)])
    status = Status(plan.status)
    values = {"status": status.value, "sourcing_reason": plan.reason, "updated_at": utcnow()}
    if plan.ship_by is not None:  # the deadline follows the calendar of the warehouse that now ships
        values["ship_by"] = plan.ship_by
    uow.execute(update(t.orders).where(t.orders.c.id == order.id).values(**values))
    shipments.replace(uow, order.id, plan.warehouse_ids, status.value)
    why = (reasons.text("timeline.resourced_note", plan=plan.reason, note=note.strip()) if note.strip()
           else reasons.text("timeline.resourced", plan=plan.reason))
    record_transition(uow, order.id, order.seller_id, order.status, status.value, principal.email, why)
    freed = _freed_products(held, takes, rows)
    if freed:  # stock this order no longer holds may fill others' backorders, as after a cancel
        from qoima.orders.services.backorders import fill_backorders
        fill_backorders(uow, freed, actor=principal.email)
    return Resourced(order.id, order.status, status.value, list(plan.warehouses), plan.reason)


def _on_floor(uow: UnitOfWork, principal: Principal, order, task_id: int, note: str) -> Resourced:
    """An order with pick lines keeps its picked units, its reservations and its shipments: only an order
    in exception that was picking is re-sourced, and only its missing units (orders/services/topup.py)."""
    facts = order_facts(uow, order)
    if facts.status != Status.EXCEPTION or facts.was != Status.PICKING:
        raise Conflict("order %(order)s is on the warehouse floor (pick task %(task_id)s): only an order in exception "
                       "after a short pick is re-sourced there; wait for the floor, resolve its exception or cancel "
                       "it", field="status", code="orders.on_floor", order=order.external_id, task_id=task_id)
    _lock_lines(uow, order.id)
    top = topup.resume_exception(uow, principal, order, note)
    return Resourced(order.id, order.status, Status.PICKING.value, shipments.codes(uow, [order.id])[order.id],
                     top.reason)


def _lock_lines(uow: UnitOfWork, order_id: int):
    q = (select(t.order_lines.c.id, t.order_lines.c.product_id, t.order_lines.c.sku, t.order_lines.c.quantity)
         .where(t.order_lines.c.order_id == order_id).order_by(t.order_lines.c.id))
    if uow.is_postgres:
        q = q.with_for_update(key_share=True)
    return uow.execute(q).all()


def _held(uow: UnitOfWork, order_id: int) -> dict[int, int]:
    """stock_id -> units this order has reserved there."""
    held: dict[int, int] = {}
    for r in uow.execute(select(t.reservations.c.stock_id, t.reservations.c.quantity)
                         .where(t.reservations.c.order_id == order_id)):
        held[r.stock_id] = held.get(r.stock_id, 0) + r.quantity
    return held


def _lock_stock(uow: UnitOfWork, product_ids: set[int], held_ids: set[int]):
    """Lock the rows the order holds and every reservable row of its products, in one statement ascending by id."""
    w = t.warehouses.c
    q = (select(t.stock.c.id, t.stock.c.product_id, t.stock.c.warehouse_id, t.stock.c.location_id,
                t.stock.c.on_hand, t.stock.c.reserved, w.code.label("wh_code"), w.lat.label("wh_lat"),
                w.lon.label("wh_lon"), w.timezone, w.cutoff_time, w.handover_time, w.working_days,
                reservable().label("reservable"))
         .join(t.locations, t.locations.c.id == t.stock.c.location_id)
         .join(t.warehouses, w.id == t.stock.c.warehouse_id)
         .where(or_((t.stock.c.product_id.in_(sorted(product_ids))) & reservable(),
                    t.stock.c.id.in_(sorted(held_ids))))
         .order_by(t.stock.c.id))
    if uow.is_postgres:
        q = q.with_for_update(of=t.stock)
    return uow.execute(q).all()


def _free_rows(raw, product_ids: set[int], held: dict[int, int]) -> list[StockRow]:
    """The reservable rows with free units once this order's hold is given back, as sourcing reads them."""
    rows = []
    for r in raw:
        row = StockRow(**{k: v for k, v in r._mapping.items() if k != "reservable"})
        row = replace(row, reserved=row.reserved - held.get(row.id, 0))
        if r.reservable and row.product_id in product_ids and row.on_hand > row.reserved:
            rows.append(row)
    return rows


def _freed_products(held: dict[int, int], takes, rows: list[StockRow]) -> list[int]:
    now: dict[int, int] = {}
    for _, sid, _, qty in takes:
        now[sid] = now.get(sid, 0) + qty
    product_of = {r.id: r.product_id for r in rows}
    return sorted({product_of[sid] for sid, qty in held.items() if now.get(sid, 0) < qty and sid in product_of})
