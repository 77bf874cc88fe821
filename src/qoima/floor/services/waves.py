"""Waves: the allocated shipments of one warehouse grouped by ship-by deadline and carrier, released by
the shift lead or automatically a set time before the cut-off (the worker, `auto_release`).

Releasing takes the shipments due soonest first; a shipment whose order is not fully reserved is
refused (named in the answer) and the others go on. The released orders are batched onto carts
(`batching.make_batches`, up to the warehouse's cart capacity in totes, each order its own tote) and
each cart gets the shortest walk `routing.route` finds; each reservation becomes one pick task line
(location, units, tote). The orders move to `picking` through the lifecycle service, so the status
rules and the timeline are the ones every other move goes through.

Locks: every order is locked (lifecycle.transition) before its shipment is read again under the lock,
so two releases of one shipment never both make pick lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, insert, select, update

from qoima.db import tables as t
from qoima.floor.domain.batching import OrderPicks, make_batches, single_order_walk
from qoima.floor.domain.routing import Pick
from qoima.floor.services.layouts import layout_of, warehouse_row
from qoima.orders.domain import reasons
from qoima.orders.domain.status import Status
from qoima.orders.services.lifecycle import load_order, order_facts, transition
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict
from qoima.platform.unit_of_work import UnitOfWork, utcnow

RELEASABLE = ("allocated", "picking")  # a second warehouse's shipment of an order already picking elsewhere


def carrier_of(delivery_type: str) -> str:
    """The carrier a shipment leaves with. No carrier integration yet: the delivery type stands for it."""
    return delivery_type or "courier"


def _unwaved():
    return ~exists().where(t.pick_task_lines.c.shipment_id == t.shipments.c.id)


def candidates(uow: UnitOfWork, warehouse_id: int, due_before: datetime | None = None, limit: int = 20000):
    """Shipments waiting for a wave, due soonest first: never waved, or waved with units reserved that its
    pick lines do not cover (re-sourced there after a short pick: orders/services/topup.py)."""
    s, o = t.shipments.c, t.orders.c
    q = (select(s.id.label("shipment_id"), s.order_id, s.warehouse_id, o.external_id, o.ship_by, o.delivery_type,
                o.status, o.seller_id)
         .join(t.orders, o.id == s.order_id)
         .where(s.warehouse_id == warehouse_id, s.status.in_(RELEASABLE), o.status.in_(RELEASABLE))
         .order_by(o.ship_by.is_(None), o.ship_by, s.order_id))
    if due_before is not None:
        q = q.where(o.ship_by <= due_before)
    rows = uow.execute(q.where(_unwaved()).limit(limit)).all()
    again = _topped_up(uow, warehouse_id)
    if again:
        rows += uow.execute(q.where(~_unwaved(), s.order_id.in_(sorted(again))).limit(limit)).all()
        rows.sort(key=lambda r: (r.ship_by is None, r.ship_by or datetime.min, r.order_id))
    return rows[:limit]


def _topped_up(uow: UnitOfWork, warehouse_id: int, order_id: int | None = None) -> set[int]:
    """Orders picking here that hold units in this warehouse no open pick line covers."""
    rv, st, ln, o = t.reservations.c, t.stock.c, t.pick_task_lines.c, t.orders.c
    held = select(rv.order_id, rv.order_line_id, st.location_id, func.sum(rv.quantity)).join(
        t.stock, st.id == rv.stock_id).join(t.orders, o.id == rv.order_id).where(
        rv.warehouse_id == warehouse_id, o.status == Status.PICKING.value).group_by(
        rv.order_id, rv.order_line_id, st.location_id)
    open_ = select(ln.order_id, ln.order_line_id, ln.location_id, func.sum(ln.quantity - ln.picked - ln.short)).join(
        t.pick_tasks, t.pick_tasks.c.id == ln.task_id).join(t.orders, o.id == ln.order_id).where(
        t.pick_tasks.c.warehouse_id == warehouse_id, o.status == Status.PICKING.value,
        ln.quantity > ln.picked + ln.short).group_by(ln.order_id, ln.order_line_id, ln.location_id)
    if order_id is not None:
        held, open_ = held.where(rv.order_id == order_id), open_.where(ln.order_id == order_id)
    covered = {(a, b, c): int(q) for a, b, c, q in uow.execute(open_)}
    return {a for a, b, c, q in uow.execute(held) if int(q) > covered.get((a, b, c), 0)}


@dataclass(frozen=True)
class Group:
    ship_by: datetime | None
    carrier: str
    shipments: int


def groups(uow: UnitOfWork, warehouse_id: int) -> list[Group]:
    """What a shift lead may release: per ship-by deadline and carrier, due soonest first."""
    out: dict[tuple, int] = {}
    for r in candidates(uow, warehouse_id):
        key = (r.ship_by, carrier_of(r.delivery_type))
        out[key] = out.get(key, 0) + 1
    return [Group(k[0], k[1], n) for k, n in out.items()]


@dataclass(frozen=True)
class ReleaseRequest:
    warehouse: str
    ship_by: datetime | None = None  # only this deadline (None: every one up to `due_before`)
    carrier: str | None = None
    due_before: datetime | None = None
    limit: int = 5000
    automatic: bool = False


def release(uow: UnitOfWork, principal: Principal, req: ReleaseRequest) -> dict:
    principal.require("admin", "manager")
    wh = warehouse_row(uow, req.warehouse)
    rows = [r for r in candidates(uow, wh.id, req.due_before, req.limit)
            if (req.carrier is None or carrier_of(r.delivery_type) == req.carrier)
            and (req.ship_by is None or r.ship_by == req.ship_by)]
    taken, refused = [], []
    for r in sorted(rows, key=lambda r: r.order_id):  # orders locked in id order
        why = _lock_and_check(uow, principal, r)
        (refused.append({"order_id": r.order_id, "external_id": r.external_id, "short": why}) if why
         else taken.append(r))
    if not taken:
        if refused:
            raise Conflict("no shipment could be released: not fully reserved: %s"
                           % ", ".join(x["external_id"] for x in refused), field="shipments",
                           code="floor.not_reserved", refused=refused)
        raise Conflict("no allocated shipment waits for a wave here", field="warehouse", code="floor.nothing_to_release")
    taken.sort(key=lambda r: (r.ship_by is None, r.ship_by or datetime.min, r.order_id))
    waves = []
    by_group: dict[tuple, list] = {}
    for r in taken:
        by_group.setdefault((r.ship_by, carrier_of(r.delivery_type)), []).append(r)
    layout = layout_of(uow, wh)
    for (ship_by, carrier), group in by_group.items():
        waves.append(_make_wave(uow, principal, (wh, layout), _Wave(ship_by, carrier, group, req.automatic)))
    return {"waves": waves, "released": len(taken), "refused": refused}


def _lock_and_check(uow: UnitOfWork, principal: Principal, r) -> list[str] | None:
    """Lock the order; None when its shipment may be released, else the SKUs not reserved."""
    order = load_order(uow, principal, r.order_id, lock=True)
    if order.status not in RELEASABLE:
        return [f"status {order.status}"]
    again = uow.execute(select(t.shipments.c.status).where(t.shipments.c.id == r.shipment_id, _unwaved())).scalar()
    if again is None and r.order_id not in _topped_up(uow, r.warehouse_id, r.order_id):
        return ["already in a wave"]
    facts = order_facts(uow, order)
    if facts.short:
        return list(facts.short)
    return None


@dataclass(frozen=True)
class _Reserved:
    order_line_id: int
    quantity: int
    product_id: int
    location_id: int
    x: float
    y: float
    code: str


def _reserved_picks(uow: UnitOfWork, order_id: int, warehouse_id: int) -> list[_Reserved]:
    """The order's reservations here less what its open pick lines already cover (a shipment waved again)."""
    rv, st, loc, ln = t.reservations.c, t.stock.c, t.locations.c, t.pick_task_lines.c
    covered = {(a, b): int(q) for a, b, q in uow.execute(
        select(ln.order_line_id, ln.location_id, func.sum(ln.quantity - ln.picked - ln.short))
        .join(t.pick_tasks, t.pick_tasks.c.id == ln.task_id)
        .where(ln.order_id == order_id, t.pick_tasks.c.warehouse_id == warehouse_id, ln.quantity > ln.picked + ln.short)
        .group_by(ln.order_line_id, ln.location_id))}
    out = []
    for r in uow.execute(select(rv.order_line_id, rv.quantity, st.product_id, st.location_id, loc.x, loc.y, loc.code)
                         .join(t.stock, st.id == rv.stock_id).join(t.locations, loc.id == st.location_id)
                         .where(rv.order_id == order_id, rv.warehouse_id == warehouse_id).order_by(rv.id)):
        key = (r.order_line_id, r.location_id)
        cover = min(r.quantity, covered.get(key, 0))
        covered[key] = covered.get(key, 0) - cover
        if r.quantity > cover:
            out.append(_Reserved(r.order_line_id, r.quantity - cover, r.product_id, r.location_id, r.x, r.y, r.code))
    return out


@dataclass(frozen=True)
class _Wave:
    ship_by: datetime | None
    carrier: str
    group: list
    automatic: bool


def _make_wave(uow, principal, where: tuple, wave: _Wave) -> dict:
    """where: (warehouse row, its layout)."""
    wh, layout = where
    ship_by, carrier, group, automatic = wave.ship_by, wave.carrier, wave.group, wave.automatic
    now = utcnow()
    picks_of: dict[int, list] = {}
    orders: list[OrderPicks] = []
    for r in group:
        rows = _reserved_picks(uow, r.order_id, wh.id)
        picks_of[r.order_id] = [(r, row) for row in rows]
        orders.append(OrderPicks(r.order_id, tuple(
            Pick(f"{r.order_id}:{i}", _aisle(row.x, layout.aisles), _position(row.y, layout.aisle_length))
            for i, row in enumerate(rows))))
    batches = make_batches(layout, orders, wh.cart_capacity)
    single = single_order_walk(layout, orders)
    total = sum(b.route.length for b in batches)
    wave_id = uow.execute(insert(t.waves).values(
        warehouse_id=wh.id, carrier=carrier, ship_by=ship_by, status="released", released_by=principal.email,
        automatic=automatic, route_length=total, single_walk=single, created_at=now)
        .returning(t.waves.c.id)).scalar_one()
    for r in group:  # the shipment first: the order's move to picking then leaves its other shipments be
        uow.execute(update(t.shipments).where(t.shipments.c.id == r.shipment_id)
                    .values(status="picking", updated_at=now))
        if uow.execute(select(t.orders.c.status).where(t.orders.c.id == r.order_id)).scalar() == Status.ALLOCATED.value:
            transition(uow, principal, r.order_id, Status.PICKING.value,
                       reason=reasons.text("floor.wave_released_auto" if automatic else "floor.wave_released",
                                           wave=wave_id), at=now)
    tasks = []
    for batch in batches:
        task_id = uow.execute(insert(t.pick_tasks).values(
            wave_id=wave_id, warehouse_id=wh.id, kind="pick", status="open", route_method=batch.route.method[:40],
            route_length=batch.route.length, created_at=now).returning(t.pick_tasks.c.id)).scalar_one()
        tote = {oid: n for n, oid in enumerate(batch.order_ids, start=1)}
        by_id = {f"{oid}:{i}": (r, row) for oid in batch.order_ids for i, (r, row) in enumerate(picks_of[oid])}
        order_seq = [pid for pid in batch.route.sequence if pid in by_id]
        order_seq += [pid for pid in by_id if pid not in set(order_seq)]  # anything the route did not name
        lines = []
        for seq, pid in enumerate(order_seq, start=1):
            r, row = by_id[pid]
            lines.append({"task_id": task_id, "seq": seq, "order_id": r.order_id, "shipment_id": r.shipment_id,
                          "order_line_id": row.order_line_id, "product_id": row.product_id,
                          "location_id": row.location_id, "tote": tote[r.order_id], "quantity": row.quantity,
                          "picked": 0, "short": 0, "at_location": False})
        if lines:
            uow.execute(insert(t.pick_task_lines), lines)
        tasks.append({"id": task_id, "orders": list(batch.order_ids), "route_length": round(batch.route.length, 2),
                      "stops": len(lines)})
    return {"id": wave_id, "carrier": carrier, "ship_by": ship_by, "orders": [r.order_id for r in group],
            "route_length": round(total, 2), "single_order_walk": round(single, 2), "tasks": tasks}


def _aisle(x: float, aisles: int) -> int:
    return min(max(int(round(x or 0)), 0), aisles - 1)


def _position(y: float, length: float) -> float:
    return min(max(float(y or 0), 0.0), length)


def auto_release(engine, now: datetime | None = None) -> int:
    """The worker's tick: for each warehouse with an auto-release lead time, release what is due by
    the next cut-off within that time. Returns the shipments released."""
    from qoima.platform.access import SYSTEM
    from qoima.platform.unit_of_work import run
    now = now or utcnow()
    with UnitOfWork(engine) as uow:
        whs = uow.execute(select(t.warehouses.c.code, t.warehouses.c.auto_release_minutes)
                          .where(t.warehouses.c.auto_release_minutes.is_not(None))).all()
    released = 0
    for code, minutes in whs:
        req = ReleaseRequest(warehouse=code, due_before=now + timedelta(minutes=minutes), automatic=True)
        try:
            released += run(engine, lambda uow, req=req: release(uow, SYSTEM, req))["released"]
        except Conflict:
            continue
    return released


def wave_progress(uow: UnitOfWork, warehouse_id: int | None = None, limit: int = 20) -> list[dict]:
    w, ln = t.waves.c, t.pick_task_lines.c
    q = (select(w.id, w.carrier, w.ship_by, w.status, w.route_length, w.single_walk, w.created_at, w.automatic,
                t.warehouses.c.code.label("warehouse"),
                func.coalesce(func.sum(ln.quantity), 0).label("units"),
                func.coalesce(func.sum(ln.picked), 0).label("picked"),
                func.coalesce(func.sum(ln.short), 0).label("short"))
         .join(t.warehouses, t.warehouses.c.id == w.warehouse_id)
         .outerjoin(t.pick_tasks, t.pick_tasks.c.wave_id == w.id)
         .outerjoin(t.pick_task_lines, and_(ln.task_id == t.pick_tasks.c.id))
         .group_by(w.id, w.carrier, w.ship_by, w.status, w.route_length, w.single_walk, w.created_at, w.automatic,
                   t.warehouses.c.code)
         .order_by(w.id.desc()).limit(limit))
    if warehouse_id is not None:
        q = q.where(w.warehouse_id == warehouse_id)
    return [dict(r._mapping) for r in uow.execute(q)]
