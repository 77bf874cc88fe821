"""Moving an order through its lifecycle. Each move is checked by the domain
state machine, written to the timeline and to the outbox in one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from qoima.db import tables as t
from qoima.platform.errors import Forbidden, NotFound
from qoima.orders.domain.status import Status, check_transition
from qoima.platform.access import Principal
from qoima.stock.services.inventory import add_on_hand, remove_on_hand
from qoima.orders.services.records import record_transition
from qoima.stock.services.reserve import release
from qoima.platform.unit_of_work import UnitOfWork, utcnow

SELLER_MAY = {Status.CANCELLED, Status.ON_HOLD}
# Moves after which the goods are off the shelf (also when reached through exception).
TAKES_GOODS = {Status.PICKED, Status.PACKED, Status.SHIPPED}


def load_order(uow: UnitOfWork, principal: Principal, order_id: int, lock: bool = False):
    q = select(t.orders).where(t.orders.c.id == order_id)
    if lock and uow.is_postgres:
        q = q.with_for_update()
    row = uow.execute(q).first()
    if row is None or not principal.can_see(row.seller_id):
        raise NotFound(f"order {order_id} not found", field="id")
    return row


def transition(uow: UnitOfWork, principal: Principal, order_id: int, to_status: str, reason: str = "",
               at: datetime | None = None) -> str:
    """Move an order; `at` backdates the move (imports of history, demo data)."""
    order = load_order(uow, principal, order_id, lock=True)
    target = check_transition(order.status, to_status)
    if not principal.is_staff and target not in SELLER_MAY:
        raise Forbidden(f"a seller may only cancel or hold an order, not move it to '{target.value}'", field="status")
    if order.status == Status.ON_HOLD.value and target not in (Status.CANCELLED,):
        _check_resume(uow, order, target)
    now = at or utcnow()
    values = {"status": target.value, "updated_at": now}
    refill: list[int] = []
    if target == Status.CANCELLED:
        refill = _give_back(uow, order, principal.email, reason)
    elif target in TAKES_GOODS:
        _consume(uow, order, principal.email)  # a no-op once the reservations are consumed
    if target == Status.SHIPPED:
        values["shipped_at"] = now
    elif target == Status.DELIVERED:
        values["delivered_at"] = now
    uow.execute(update(t.orders).where(t.orders.c.id == order.id).values(**values))
    record_transition(uow, order.id, order.seller_id, order.status, target.value, principal.email, reason, at=now)
    # the freed stock (`refill`) fills waiting orders from its stock.changed events, after the commit
    return target.value


def _check_resume(uow: UnitOfWork, order, target: Status) -> None:
    """Leaving hold must go back to where the order was (the status before the hold)."""
    before = uow.execute(select(t.order_events.c.from_status).where(
        t.order_events.c.order_id == order.id, t.order_events.c.to_status == Status.ON_HOLD.value)
        .order_by(t.order_events.c.id.desc()).limit(1)).scalar()
    if before and before != target.value:
        from qoima.platform.errors import InvalidTransition
        raise InvalidTransition(order.status, f"{target.value} (the order was '{before}' before the hold)")


def _reservations(uow: UnitOfWork, order_id: int):
    return uow.execute(select(t.reservations.c.id, t.reservations.c.quantity, t.stock.c.id.label("stock_id"),
                              t.stock.c.product_id, t.stock.c.location_id, t.stock.c.warehouse_id)
                       .join(t.stock, t.stock.c.id == t.reservations.c.stock_id)
                       .where(t.reservations.c.order_id == order_id).order_by(t.stock.c.id)).all()


def _consume(uow: UnitOfWork, order, actor: str) -> None:
    """Picked: the reserved units leave their locations (ledger 'pick') and the
    reservations are used up."""
    rows = _reservations(uow, order.id)
    if not rows:
        return
    for r in rows:
        remove_on_hand(uow, product_id=r.product_id, location_id=r.location_id, quantity=r.quantity, kind="pick",
                       actor=actor, reason="picked for order", reference=f"order:{order.id}", from_reserved=True)
    uow.execute(t.reservations.delete().where(t.reservations.c.order_id == order.id))
    uow.execute(update(t.order_lines).where(t.order_lines.c.order_id == order.id).values(backordered=0))


def _give_back(uow: UnitOfWork, order, actor: str, reason: str) -> list[int]:
    """Cancel: release reservations; goods already picked go back to their locations.
    Returns the products whose freed stock may fill other orders' backorders."""
    freed = [r.product_id for r in _reservations(uow, order.id)]
    release(uow, order.id, actor)
    # picked goods (also when the order went on hold or into exception after the pick)
    picked = uow.execute(select(t.stock_movements.c.product_id, t.stock_movements.c.from_location_id,
                                t.stock_movements.c.quantity, t.locations.c.warehouse_id)
                         .join(t.locations, t.locations.c.id == t.stock_movements.c.from_location_id)
                         .where(t.stock_movements.c.kind == "pick",
                                t.stock_movements.c.reference == f"order:{order.id}")
                         .order_by(t.stock_movements.c.id)).all()
    for p in picked:
        freed.append(p.product_id)
        add_on_hand(uow, product_id=p.product_id, location_id=p.from_location_id, warehouse_id=p.warehouse_id,
                    quantity=p.quantity, kind="return", actor=actor,
                    reason=f"order cancelled after pick: {reason}"[:500], reference=f"order:{order.id}")
    uow.execute(update(t.order_lines).where(t.order_lines.c.order_id == order.id).values(backordered=0))
    return sorted(set(freed))
