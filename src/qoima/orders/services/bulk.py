"""Bulk actions on the orders a user selected in the list: hold, release, cancel. Each order
goes through the lifecycle services on its own, in its own transaction (one refused order
does not stop the others), and an order already where the action would take it is
reported as such and left alone, so sending the same form twice changes nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlalchemy.engine import Engine

from qoima.orders.domain.status import SYSTEM_SET, Status
from qoima.orders.services import lifecycle, resourcing
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict, DomainError
from qoima.platform.unit_of_work import UnitOfWork, run as run_use_case

ACTIONS = ("hold", "release", "cancel")
MAX_ORDERS = 200  # the largest page of the orders list
TARGET = {"hold": Status.ON_HOLD.value, "cancel": Status.CANCELLED.value}


@dataclass(frozen=True)
class Outcome:
    order_id: int
    status: str | None = None  # the order's status afterwards (None when refused)
    already: bool = False  # it was there already: nothing was done
    error: DomainError | None = None  # why it was refused

    @property
    def ok(self) -> bool:
        return self.error is None


def apply(uow: UnitOfWork, principal: Principal, order_id: int, action: str, reason: str = "") -> Outcome:
    """One order: hold it, release it (back where it was: the move, or re-sourcing when it was
    allocated or backordered), or cancel it."""
    order = lifecycle.load_order(uow, principal, order_id, lock=True)
    if action in TARGET:
        if order.status == TARGET[action]:
            return Outcome(order_id, order.status, already=True)
        return Outcome(order_id, lifecycle.transition(uow, principal, order_id, TARGET[action], reason))
    if action != "release":
        raise Conflict("unknown bulk action '%(action)s'", field="action", code="orders.bulk_unknown_action",
                       action=action)
    if order.status != Status.ON_HOLD.value:
        raise Conflict("the order is not on hold", field="status", code="orders.not_on_hold")
    was = lifecycle.order_facts(uow, order).was
    if was is None or was in SYSTEM_SET:
        return Outcome(order_id, resourcing.resource(uow, principal, order_id, reason).status)
    return Outcome(order_id, lifecycle.transition(uow, principal, order_id, was.value, reason))


def apply_all(engine: Engine, principal: Principal, order_ids: Sequence[int], action: str,
              reason: str = "") -> list[Outcome]:
    """Every order on its own (each retried on a deadlock); what was done and what was refused, per order."""
    out = []
    for oid in list(dict.fromkeys(order_ids))[:MAX_ORDERS]:
        try:
            out.append(run_use_case(engine, lambda uow, oid=oid: apply(uow, principal, oid, action, reason)))
        except DomainError as exc:  # NotFound too: another seller's order is "not found", as everywhere
            out.append(Outcome(oid, error=exc))
    return out
