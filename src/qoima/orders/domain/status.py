"""Order lifecycle: the statuses and which moves between them are allowed."""

from __future__ import annotations

from enum import StrEnum

from qoima.platform.errors import InvalidTransition


class Status(StrEnum):
    NEW = "new"
    BACKORDERED = "backordered"
    ALLOCATED = "allocated"
    PICKING = "picking"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    EXCEPTION = "exception"
    RETURNED = "returned"


S = Status
_CANCELLABLE = {S.NEW, S.BACKORDERED, S.ALLOCATED, S.PICKING, S.PICKED, S.PACKED, S.ON_HOLD, S.EXCEPTION}

TRANSITIONS: dict[Status, set[Status]] = {
    S.NEW: {S.ALLOCATED, S.BACKORDERED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    S.BACKORDERED: {S.ALLOCATED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    S.ALLOCATED: {S.PICKING, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    S.PICKING: {S.PICKED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    S.PICKED: {S.PACKED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    S.PACKED: {S.SHIPPED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    S.SHIPPED: {S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED},
    S.IN_TRANSIT: {S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED},
    S.OUT_FOR_DELIVERY: {S.DELIVERED, S.IN_TRANSIT, S.EXCEPTION, S.RETURNED},
    S.DELIVERED: {S.RETURNED},
    S.ON_HOLD: {S.NEW, S.BACKORDERED, S.ALLOCATED, S.PICKING, S.PICKED, S.PACKED, S.CANCELLED},
    S.EXCEPTION: {S.ALLOCATED, S.BACKORDERED, S.PICKING, S.PACKED, S.SHIPPED, S.IN_TRANSIT, S.DELIVERED,
                  S.CANCELLED, S.RETURNED},
    S.CANCELLED: set(),
    S.RETURNED: set(),
}

# Statuses in which the order still holds reserved stock (cancelling releases it).
HOLDS_RESERVATION = {S.ALLOCATED, S.BACKORDERED, S.PICKING, S.ON_HOLD, S.EXCEPTION, S.NEW}
# Statuses after which the goods have left the warehouse.
SHIPPED_OR_LATER = {S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.RETURNED}
OPEN = {S.NEW, S.BACKORDERED, S.ALLOCATED, S.PICKING, S.PICKED, S.PACKED, S.ON_HOLD, S.EXCEPTION}


def parse_status(value: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        from qoima.platform.errors import ValidationError

        raise ValidationError(
            f"unknown status '{value}'; one of: {', '.join(s.value for s in Status)}", field="status"
        ) from None


def check_transition(current: str, target: str) -> Status:
    """Return the target status if the move is allowed, else raise InvalidTransition (409)."""
    src, dst = parse_status(current), parse_status(target)
    if dst not in TRANSITIONS[src]:
        raise InvalidTransition(src.value, dst.value)
    return dst


def can_cancel(current: str) -> bool:
    return parse_status(current) in _CANCELLABLE
