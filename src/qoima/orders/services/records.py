"""Writing the timeline and the outbox, always inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy import insert

from qoima.db import tables as t
from qoima.orders.services import shipments
from qoima.platform.unit_of_work import UnitOfWork, utcnow


def record_transition(uow: UnitOfWork, order_id: int, seller_id: int, from_status: str | None,
                      to_status: str, actor: str, reason: str = "", at=None) -> None:
    now = at or utcnow()
    uow.execute(insert(t.order_events).values(order_id=order_id, from_status=from_status, to_status=to_status,
                                              actor=actor, reason=reason[:500], created_at=now))
    shipments.follow(uow, order_id, to_status, now)
    enqueue(uow, "order.status_changed", order_id, seller_id,
            {"order_id": order_id, "from": from_status, "to": to_status, "reason": reason[:500]})


_INSERT_EVENT = insert(t.order_events)  # built once: the floor writes one per unit picked


def note(uow: UnitOfWork, order_id: int, status: str, actor: str, reason: str, at=None) -> None:
    """A timeline entry that is no move of the order (a unit picked, a pick undone, a short pick, a
    shipment of it packed or handed over)."""
    uow.execute(_INSERT_EVENT, {"order_id": order_id, "from_status": status, "to_status": status,
                                "actor": actor[:254], "reason": reason[:500], "created_at": at or utcnow()})


def enqueue(uow: UnitOfWork, topic: str, aggregate_id: int | None, seller_id: int | None, payload: dict) -> None:
    now = utcnow()
    uow.execute(insert(t.outbox).values(topic=topic, aggregate_id=aggregate_id, seller_id=seller_id, payload=payload,
                                        status="pending", attempts=0, next_attempt_at=now, created_at=now))
