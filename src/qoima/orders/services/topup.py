"""Re-sourcing what an order on the warehouse floor is missing, shipment by shipment.

An order being picked keeps what it has: the units already picked (in their tote), the units still
reserved for its pick lines, and every shipment a pick line hangs on. Only the missing units -- the
lines' units neither reserved nor picked (a short pick wrote them off) -- are sourced again, with the
rules intake uses (domain/sourcing.py through `booking.decide_resourcing`: fewest parcels, nearest,
deepest stock), the warehouses that already ship the order tried first so that no new parcel is made
when they have it all. A warehouse the order does not ship from yet gets a shipment (seq n + 1,
`allocated`: not released yet), one whose shipment was picked already (or left with nothing) gets it
back to `allocated`; a warehouse whose shipment is packed or further on takes no units. The wave release of that warehouse then makes its pick lines
(floor/services/waves.py also releases a waved shipment again for the units its pick lines do not
cover).

Callers: the floor's short pick (floor/services/picking.py, the task's warehouse skipped: it has been
tried already), the shift lead's resolution of a floor exception and staff re-sourcing of an order in
`exception` on the floor (orders/services/resourcing.py).

Locks: the caller holds the order; the stock rows of the missing products are locked here in one
statement ascending by id, before anything changes."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, insert, select, update

from qoima.db import tables as t
from qoima.orders.domain import booking as bk, reasons
from qoima.orders.domain.status import Status
from qoima.orders.services import intake
from qoima.orders.services.lifecycle import transition
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict
from qoima.platform.unit_of_work import UnitOfWork, utcnow
from qoima.stock.services.reserve import apply_reservations, lock_stock_rows


@dataclass(frozen=True)
class Need:
    """Units of one order line neither reserved nor picked (sku and quantity: as sourcing reads a line)."""
    line_id: int
    product_id: int
    sku: str
    quantity: int


@dataclass
class TopUp:
    wanted: int = 0
    reserved: int = 0
    warehouses: list[str] = field(default_factory=list)  # codes of the warehouses units were reserved in
    added: list[str] = field(default_factory=list)  # codes of the warehouses that got a new shipment
    reason: str = ""

    @property
    def missing(self) -> int:
        return self.wanted - self.reserved


def missing_units(uow: UnitOfWork, order_id: int) -> list[Need]:
    """Per line: its quantity less what is reserved for it and what its pick lines picked (line order)."""
    rv, ln = t.reservations.c, t.pick_task_lines.c
    held = dict(uow.execute(select(rv.order_line_id, func.sum(rv.quantity)).where(rv.order_id == order_id)
                            .group_by(rv.order_line_id)).all())
    picked = dict(uow.execute(select(ln.order_line_id, func.sum(ln.picked)).where(ln.order_id == order_id)
                              .group_by(ln.order_line_id)).all())
    out = []
    for r in uow.execute(select(t.order_lines.c.id, t.order_lines.c.product_id, t.order_lines.c.sku,
                                t.order_lines.c.quantity).where(t.order_lines.c.order_id == order_id)
                         .order_by(t.order_lines.c.id)):
        left = r.quantity - int(held.get(r.id) or 0) - int(picked.get(r.id) or 0)
        if left > 0:
            out.append(Need(r.id, r.product_id, r.sku, left))
    return out


def reserve_missing(uow: UnitOfWork, order, needs: list[Need], skip: frozenset[int] = frozenset()) -> TopUp:
    """Reserve what it can of `needs` outside the warehouses in `skip`; new warehouses get a shipment."""
    top = TopUp(wanted=sum(n.quantity for n in needs))
    if not needs:
        return top
    pids = [n.product_id for n in needs]
    shipping, done = _shipments(uow, order.id)
    skip = skip | done
    rows = [r for r in lock_stock_rows(uow, sorted(set(pids))) if r.warehouse_id not in skip]
    if not rows:
        return top
    stock = [bk.StockRow(r.id, r.product_id, r.warehouse_id, r.on_hand - r.reserved) for r in rows]
    whs = intake.warehouses(uow)
    where = (order.lat, order.lon)
    plan = None
    own = [s for s in stock if s.warehouse_id in shipping]
    if own:  # no new parcel when the warehouses already shipping the order have it all
        plan = bk.decide_resourcing(needs, pids, own, whs, where, order.received_at)
        plan = plan if plan.status == Status.ALLOCATED.value else None
    if plan is None:
        plan = bk.decide_resourcing(needs, pids, stock, whs, where, order.received_at)
    takes = [(needs[i].line_id, sid, wid, q) for i, sid, wid, q in plan.reservations]
    apply_reservations(uow, order.id, takes)
    top.reserved = sum(q for *_, q in takes)
    used = sorted({wid for _, _, wid, _ in takes})
    top.warehouses = [whs[w].code for w in used]
    top.reason = plan.reason
    new, now = [w for w in used if w not in shipping], utcnow()
    again = [w for w in used if w in shipping and shipping[w][1] not in _WAITING]
    if again:  # picked (or left with nothing) there: it waits for a wave again
        s = t.shipments.c
        uow.execute(update(t.shipments).where(s.order_id == order.id, s.warehouse_id.in_(again))
                    .values(status=Status.ALLOCATED.value, updated_at=now))
    if new:  # not released yet: allocated until its warehouse's wave
        seq = uow.execute(select(func.coalesce(func.max(t.shipments.c.seq), 0))
                          .where(t.shipments.c.order_id == order.id)).scalar_one()
        uow.execute(insert(t.shipments), [{"order_id": order.id, "warehouse_id": w, "seq": seq + n,
                                           "status": Status.ALLOCATED.value, "created_at": now, "updated_at": now}
                                          for n, w in enumerate(new, start=1)])
        top.added = [whs[w].code for w in new]
    return top


def resume_exception(uow: UnitOfWork, principal: Principal, order, note: str = "") -> TopUp:
    """An order in `exception` on the floor (it was picking): its missing units are re-sourced and it
    picks again. All or nothing: when no warehouse has every missing unit, nothing changes (409)."""
    top = reserve_missing(uow, order, missing_units(uow, order.id))
    if top.missing > 0:
        raise Conflict("order %(order)s: %(missing)s unit(s) are still missing and no warehouse has them; nothing "
                       "was re-sourced", field="status", code="orders.still_missing", order=order.external_id,
                       missing=top.missing)
    plan = top.reason or reasons.text("sourcing.ships_from", codes=", ".join(top.warehouses) or "-")
    why = (reasons.text("timeline.topped_up_note", plan=plan, note=note.strip()) if note.strip()
           else reasons.text("timeline.topped_up", plan=plan))
    transition(uow, principal, order.id, Status.PICKING.value, reason=why)
    return top


_WAITING = (Status.ALLOCATED.value, Status.PICKING.value)
_REOPENS = (*_WAITING, Status.PICKED.value, Status.CANCELLED.value)


def _shipments(uow: UnitOfWork, order_id: int) -> tuple[dict[int, tuple[int, str]], frozenset[int]]:
    """(warehouse id -> (seq, status) of the order's shipments that may take units: waiting for or in
    their pick, picked, or left with nothing; the warehouses whose shipment is packed or further on)."""
    s = t.shipments.c
    rows = uow.execute(select(s.warehouse_id, s.seq, s.status).where(s.order_id == order_id)).all()
    return ({r.warehouse_id: (r.seq, r.status) for r in rows if r.status in _REOPENS},
            frozenset(r.warehouse_id for r in rows if r.status not in _REOPENS))
