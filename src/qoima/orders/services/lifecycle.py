"""Moving an order through its lifecycle. Each move is checked by the domain
rules (orders/domain/status.py) against the facts of the order read under its
lock, and written to the timeline and to the outbox in one transaction.
`next_steps` gives the web page the same answer the service acts on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, exists, func, select, update

from qoima.db import tables as t
from qoima.platform import roles
from qoima.platform.errors import Forbidden, NotFound
from qoima.orders.domain.status import (
    GOODS_TAKEN, PAUSED, SELLER_MAY, SHIPPED_OR_LATER, TAKES_GOODS, OrderFacts, Status, check_user_move, may_resource, user_moves,
)
from qoima.platform.access import Principal
from qoima.stock.services.inventory import add_on_hand, remove_on_hand
from qoima.orders.services.records import record_transition
from qoima.stock.services.reserve import release
from qoima.platform.unit_of_work import UnitOfWork, utcnow

__all__ = ["SELLER_MAY", "TAKES_GOODS", "NextSteps", "load_order", "next_steps", "order_facts", "transition"]


_ORDER = select(t.orders).where(t.orders.c.id == bindparam("oid"))
# FOR NO KEY UPDATE: writers that only reference the order (timeline rows, reservations of a backorder
# fill) are not blocked by it, which removes a deadlock with cancel -> refill
_ORDER_LOCKED = _ORDER.with_for_update(key_share=True)


def load_order(uow: UnitOfWork, principal: Principal, order_id: int, lock: bool = False):
    row = uow.execute(_ORDER_LOCKED if lock and uow.is_postgres else _ORDER, {"oid": order_id}).first()
    if row is None or not principal.can_see(row.seller_id):
        raise NotFound("order %(id)s not found", field="id", code="orders.not_found", id=order_id)
    return row


def order_facts(uow: UnitOfWork, order) -> OrderFacts:
    """The facts the status rules decide on: where a paused order was, whether its goods
    were picked, which lines are not fully reserved, whether a shipment of it has left already."""
    status = Status(order.status)
    was = None
    if status in PAUSED:
        before = uow.execute(select(t.order_events.c.from_status).where(
            t.order_events.c.order_id == order.id, t.order_events.c.to_status == status.value)
            .order_by(t.order_events.c.id.desc()).limit(1)).scalar()
        was = Status(before) if before else None
    taken = status in GOODS_TAKEN or was in GOODS_TAKEN
    if status in PAUSED and was is None:  # no timeline row says where it was: the ledger says whether it was picked
        taken = bool(uow.execute(select(exists().where(
            t.stock_movements.c.kind == "pick", t.stock_movements.c.reference == f"order:{order.id}"))).scalar())
    held = (select(t.reservations.c.order_line_id, func.sum(t.reservations.c.quantity).label("qty"))
            .where(t.reservations.c.order_id == order.id).group_by(t.reservations.c.order_line_id).subquery())
    short = uow.execute(select(t.order_lines.c.sku).outerjoin(held, held.c.order_line_id == t.order_lines.c.id)
                        .where(t.order_lines.c.order_id == order.id,
                               func.coalesce(held.c.qty, 0) < t.order_lines.c.quantity)
                        .order_by(t.order_lines.c.id)).scalars().all()
    if short and (status == Status.PICKING or was == Status.PICKING):
        short = _short_after_scans(uow, order.id)
    left = status not in SHIPPED_OR_LATER and status != Status.CANCELLED and uow.execute(
        select(exists().where(t.shipments.c.order_id == order.id,
                              t.shipments.c.status.in_([s.value for s in SHIPPED_OR_LATER])))).scalar()
    return OrderFacts(status=status, was=was, goods_taken=taken, short=tuple(dict.fromkeys(short)),
                      part_shipped=bool(left))


def picked_units(uow: UnitOfWork, order_id: int) -> list:
    """The units of the order off their shelves now, per (product, location): the ledger's picks of the
    order less what went back to the shelf (an undone scan on the floor, a cancel after the pick)."""
    m = t.stock_movements.c
    sign = case((m.kind == "pick", m.quantity), else_=-m.quantity)
    loc = func.coalesce(m.from_location_id, m.to_location_id)
    rows = uow.execute(select(m.product_id, loc.label("location_id"), func.sum(sign).label("qty"))
                       .where(m.reference == f"order:{order_id}", m.kind.in_(("pick", "return")))
                       .group_by(m.product_id, loc).order_by(m.product_id, loc)).all()
    return [r for r in rows if r.qty > 0]


def _short_after_scans(uow: UnitOfWork, order_id: int) -> list[str]:
    """While the floor picks an order unit by unit (floor/services/picking.py), a line is covered by its
    reservation plus the units already scanned off the shelf: the SKUs neither covers."""
    picked: dict[int, int] = {}
    for r in picked_units(uow, order_id):
        picked[r.product_id] = picked.get(r.product_id, 0) + int(r.qty)
    held: dict[int, int] = {}
    for lid, qty in uow.execute(select(t.reservations.c.order_line_id, t.reservations.c.quantity)
                                .where(t.reservations.c.order_id == order_id)):
        held[lid] = held.get(lid, 0) + qty
    short = []
    for ln in uow.execute(select(t.order_lines.c.id, t.order_lines.c.product_id, t.order_lines.c.sku,
                                 t.order_lines.c.quantity).where(t.order_lines.c.order_id == order_id)
                          .order_by(t.order_lines.c.id)):
        missing = ln.quantity - held.get(ln.id, 0)
        take = min(missing, picked.get(ln.product_id, 0))
        picked[ln.product_id] = picked.get(ln.product_id, 0) - take
        if missing - take > 0:
            short.append(ln.sku)
    return short


@dataclass(frozen=True)
class NextSteps:
    moves: list[str]  # statuses this user may move the order to now
    resource: bool  # whether this user may re-source it now


def next_steps(uow: UnitOfWork, principal: Principal, order_id: int) -> NextSteps:
    """What this user may do with the order now: exactly what `transition` and
    `resourcing.resource` would accept."""
    facts = order_facts(uow, load_order(uow, principal, order_id))
    return NextSteps(moves=[s.value for s in user_moves(facts, principal.is_staff)
                            if _role_refusal(principal, s.value) is None],
                     resource=may_resource(facts, principal.is_staff))


def _role_refusal(principal: Principal, to_status: str) -> Forbidden | None:
    """The moves the role matrix keeps from a role (platform/roles.py): cancelling needs CANCEL_ORDERS."""
    if to_status == Status.CANCELLED.value and not roles.may(principal.role, roles.CANCEL_ORDERS):
        return Forbidden("the role %(role)s may not cancel an order (that needs the role %(roles)s)", field="status",
                         code="orders.cancel_forbidden", to_status=to_status, role=principal.role,
                         roles=" or ".join(roles.roles_with(roles.CANCEL_ORDERS)))
    return None


def transition(uow: UnitOfWork, principal: Principal, order_id: int, to_status: str, reason: str = "",
               at: datetime | None = None) -> str:
    """Move an order; `at` backdates the move (imports of history, demo data)."""
    order = load_order(uow, principal, order_id, lock=True)
    refused = _role_refusal(principal, to_status)
    if refused is not None:
        raise refused
    facts = order_facts(uow, order)
    target = check_user_move(facts, to_status, principal.is_staff)
    now = at or utcnow()
    values = {"status": target.value, "updated_at": now}
    refill: list[int] = []
    if target == Status.CANCELLED:
        refill = _give_back(uow, order, principal.email, reason)
    elif target in TAKES_GOODS and not facts.goods_taken:
        _consume(uow, order, principal.email)
    if target == Status.SHIPPED:
        values["shipped_at"] = now
    elif target == Status.DELIVERED:
        values["delivered_at"] = now
    uow.execute(update(t.orders).where(t.orders.c.id == order.id).values(**values))
    record_transition(uow, order.id, order.seller_id, order.status, target.value, principal.email, reason, at=now)
    # the freed stock (`refill`) fills waiting orders from its stock.changed events, after the commit
    return target.value


def _reservations(uow: UnitOfWork, order_id: int):
    return uow.execute(select(t.reservations.c.id, t.reservations.c.quantity, t.stock.c.id.label("stock_id"),
                              t.stock.c.product_id, t.stock.c.location_id, t.stock.c.warehouse_id)
                       .join(t.stock, t.stock.c.id == t.reservations.c.stock_id)
                       .where(t.reservations.c.order_id == order_id).order_by(t.stock.c.id)).all()


def _consume(uow: UnitOfWork, order, actor: str) -> None:
    """Picked: the reserved units leave their locations (ledger 'pick') and the
    reservations are used up. The rules let only a fully reserved order get here."""
    rows = _reservations(uow, order.id)
    if not rows:
        return
    for r in rows:
        remove_on_hand(uow, product_id=r.product_id, location_id=r.location_id, quantity=r.quantity, kind="pick",
                       actor=actor, reason="picked for order", reference=f"order:{order.id}", from_reserved=True)
    uow.execute(t.reservations.delete().where(t.reservations.c.order_id == order.id))


def _give_back(uow: UnitOfWork, order, actor: str, reason: str) -> list[int]:
    """Cancel: release reservations; goods already picked go back to their locations.
    Returns the products whose freed stock may fill other orders' backorders."""
    freed = [r.product_id for r in _reservations(uow, order.id)]
    release(uow, order.id, actor)
    # picked goods (also when the order went on hold or into exception after the pick)
    # net of what already went back (a pick undone on the floor)
    where = {r.location_id: r for r in picked_units(uow, order.id)}
    wh = dict(uow.execute(select(t.locations.c.id, t.locations.c.warehouse_id)
                          .where(t.locations.c.id.in_(sorted(where)))).all()) if where else {}
    for p in sorted(picked_units(uow, order.id), key=lambda r: (r.location_id, r.product_id)):
        freed.append(p.product_id)
        add_on_hand(uow, product_id=p.product_id, location_id=p.location_id, warehouse_id=wh[p.location_id],
                    quantity=int(p.qty), kind="return", actor=actor,
                    reason=f"order cancelled after pick: {reason}"[:500], reference=f"order:{order.id}")
    uow.execute(update(t.order_lines).where(t.order_lines.c.order_id == order.id).values(backordered=0))
    return sorted(set(freed))
