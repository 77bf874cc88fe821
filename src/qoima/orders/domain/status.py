"""Order lifecycle: the statuses, which moves between them exist, and which of
them a user may make on a given order.

Three layers, one home each:
- TRANSITIONS is the state machine: every move that anyone (the system or a user)
  can ever make. `check_transition` refuses anything outside it (409).
- `allocated` and `backordered` say what the stock is doing, so only sourcing sets
  them (on intake, when a backorder fills, and when staff re-source an order). No
  user move targets them.
- `refusal` / `user_moves` / `may_resource` decide, from the facts of one order
  (`OrderFacts`), what this user may do with it now. The service checks with them
  and the web page offers exactly what they allow.

Rules of the user moves:
- a seller may only cancel or put on hold (403 otherwise);
- an order enters `picking` only when every line is fully reserved; `picked`,
  `packed` and `shipped` take the reserved goods and need the same while the goods
  are still on the shelf;
- `on_hold` resumes only where the order was (the status before the hold) or is
  cancelled; `exception` likewise resumes only where it was, keeps whatever was
  picked, is cancelled only when it came from before shipping and is returned only
  when it came from the carrier. When "where it was" is `allocated` or
  `backordered`, the way back is re-sourcing.

Re-sourcing (staff only): from `new`, `backordered`, `allocated`, and from
`on_hold` / `exception` whose previous status was one of these or `picking` (the
goods are still on the shelf; also when the timeline does not say where it was
and nothing was picked). Never from `picking` itself (a picker works from
the reservations) and never once the goods are picked.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from qoima.platform.errors import Conflict, DomainError, Forbidden, InvalidTransition, ValidationError


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
_PRE_SHIP = (S.NEW, S.BACKORDERED, S.ALLOCATED, S.PICKING, S.PICKED, S.PACKED)
_CARRIER = (S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY)

TRANSITIONS: dict[Status, set[Status]] = {
    S.NEW: {S.ALLOCATED, S.BACKORDERED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    S.BACKORDERED: {S.ALLOCATED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    S.ALLOCATED: {S.BACKORDERED, S.PICKING, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},  # -> backordered: re-sourcing
    S.PICKING: {S.PICKED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    S.PICKED: {S.PACKED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    S.PACKED: {S.SHIPPED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    S.SHIPPED: {S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED},
    S.IN_TRANSIT: {S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED},
    S.OUT_FOR_DELIVERY: {S.DELIVERED, S.IN_TRANSIT, S.EXCEPTION, S.RETURNED},
    S.DELIVERED: {S.RETURNED},
    S.ON_HOLD: {*_PRE_SHIP, S.CANCELLED},
    S.EXCEPTION: {*_PRE_SHIP, *_CARRIER, S.CANCELLED, S.RETURNED},  # back where it was, or out
    S.CANCELLED: set(),
    S.RETURNED: set(),
}

# Only sourcing sets these: they say whether every unit is reserved.
SYSTEM_SET = frozenset({S.ALLOCATED, S.BACKORDERED})
SELLER_MAY = frozenset({S.CANCELLED, S.ON_HOLD})
# Paused statuses: they resume only where the order was before.
PAUSED = frozenset({S.ON_HOLD, S.EXCEPTION})
# Moves that take the reserved goods off the shelf (a no-op once they are taken).
TAKES_GOODS = frozenset({S.PICKED, S.PACKED, S.SHIPPED})
# Statuses in which the order's goods have left their bins.
GOODS_TAKEN = frozenset({S.PICKED, S.PACKED, *_CARRIER, S.DELIVERED, S.RETURNED})
# Re-sourcing is allowed from these, and from a paused order that was one of RESOURCE_FROM_PAUSED.
RESOURCE_FROM = frozenset({S.NEW, S.BACKORDERED, S.ALLOCATED})
RESOURCE_FROM_PAUSED = RESOURCE_FROM | {S.PICKING}

# Statuses in which the order still holds reserved stock (cancelling releases it).
HOLDS_RESERVATION = {S.ALLOCATED, S.BACKORDERED, S.PICKING, S.ON_HOLD, S.EXCEPTION, S.NEW}
# Statuses after which the goods have left the warehouse.
SHIPPED_OR_LATER = {S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.RETURNED}
OPEN = {S.NEW, S.BACKORDERED, S.ALLOCATED, S.PICKING, S.PICKED, S.PACKED, S.ON_HOLD, S.EXCEPTION}


def parse_status(value: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise ValidationError("unknown status '%(status)s'; one of: %(allowed)s", field="status",
                              code="orders.unknown_status", status=value,
                              allowed=", ".join(s.value for s in Status)) from None


def check_transition(current: str, target: str) -> Status:
    """Return the target status if the state machine has the move, else raise InvalidTransition (409)."""
    src, dst = parse_status(current), parse_status(target)
    if dst not in TRANSITIONS[src]:
        raise InvalidTransition(src.value, dst.value)
    return dst


def can_cancel(current: str) -> bool:
    return parse_status(current) in _CANCELLABLE


@dataclass(frozen=True)
class OrderFacts:
    """What the rules need to know about one order, read by the service under the order's lock."""
    status: Status
    was: Status | None = None  # when paused: the status before the latest hold / exception
    goods_taken: bool = False  # the order's units have left their bins (picked)
    short: tuple[str, ...] = ()  # SKUs of the lines that are not fully reserved
    part_shipped: bool = False  # one shipment of it left with the carrier while another is still here


class MoveRefused(InvalidTransition):
    """A move the state machine has, refused for this order: the message says why; from and to are named."""

    def __init__(self, from_status: str, to_status: str, why: str, code: str = "orders.move_refused", **extra):
        super().__init__(from_status, to_status)
        self.code = code  # `why` is a template of its own params (extra), appended to the transition's
        self.reword("cannot move order from '%(from_status)s' to '%(to_status)s': " + why, **extra)


def _resume_targets(facts: OrderFacts) -> set[Status]:
    """Where a paused order may go: back where it was, or out (cancelled / returned) as that status allows."""
    was = facts.was
    if was is None:  # unknown origin: it can only be cancelled, and only while the goods are on the shelf
        return set() if facts.goods_taken else {S.CANCELLED}
    out = {was}
    if was in _CANCELLABLE:
        out.add(S.CANCELLED)
    if facts.status == S.EXCEPTION and was in _CARRIER:
        out.add(S.RETURNED)
    return out


def refusal(facts: OrderFacts, target: Status, is_staff: bool) -> DomainError | None:
    """Why this user may not move this order to `target` (None when the move is allowed)."""
    src = facts.status
    if target not in TRANSITIONS[src]:
        return InvalidTransition(src.value, target.value)
    if not is_staff and target not in SELLER_MAY:
        return Forbidden("a seller may only cancel or hold an order, not move it from '%(from_status)s' to "
                         "'%(to_status)s'", field="status", code="orders.seller_move_forbidden",
                         from_status=src.value, to_status=target.value)
    if target == S.CANCELLED and facts.part_shipped:
        return MoveRefused(src.value, target.value, "a shipment of it has left with the carrier already; hold the "
                           "rest, or take it back as a return once it comes back", code="orders.part_shipped")
    if target in SYSTEM_SET:
        return MoveRefused(src.value, target.value, "'%(to_status)s' is set by sourcing only (on intake, when a "
                           "backorder fills, or when staff re-source the order)", code="orders.set_by_sourcing",
                           system_only=True)
    if src in PAUSED and target not in _resume_targets(facts):
        why = ("'%(from_status)s' resumes only where it was (the order was '%(resume_to)s' before)" if facts.was
               else "'%(from_status)s' resumes only where it was (where it was is unknown)")
        return MoveRefused(src.value, target.value, why, code="orders.resume_only_where_it_was",
                           resume_to=facts.was.value if facts.was else None)
    needs_stock = target == S.PICKING or (target in TAKES_GOODS and not facts.goods_taken)
    if needs_stock and facts.short:
        return MoveRefused(src.value, target.value, "not every line is reserved, short: %(short_skus)s",
                           code="orders.lines_not_reserved", short_skus=list(facts.short))
    return None


def check_user_move(facts: OrderFacts, target: str, is_staff: bool) -> Status:
    """Return the target if this user may move the order there, else raise (422 / 403 / 409)."""
    dst = parse_status(target)
    error = refusal(facts, dst, is_staff)
    if error is not None:
        raise error
    return dst


def user_moves(facts: OrderFacts, is_staff: bool) -> list[Status]:
    """Every status this user may move the order to now, in the order of `Status`."""
    return [s for s in Status if refusal(facts, s, is_staff) is None]


def resource_refusal(facts: OrderFacts, is_staff: bool) -> DomainError | None:
    """Why this user may not re-source this order now (None when they may)."""
    if not is_staff:
        return Forbidden("only staff may re-source an order", field="status", code="orders.resource_staff_only")
    src = facts.status
    if src in RESOURCE_FROM:
        return None
    if src in PAUSED and (facts.was is None or facts.was in RESOURCE_FROM_PAUSED) and not facts.goods_taken:
        return None
    return Conflict("cannot re-source an order in '%(from_status)s': only new, backordered or allocated orders, "
                    "and orders on hold or in exception before the pick, are re-sourced", field="status",
                    code="orders.resource_refused", from_status=src.value)


def may_resource(facts: OrderFacts, is_staff: bool) -> bool:
    return resource_refusal(facts, is_staff) is None


def check_resource(facts: OrderFacts, is_staff: bool) -> None:
    error = resource_refusal(facts, is_staff)
    if error is not None:
        raise error


# The floor's steps, in order: each shipment walks them on its own (its wave, its pick, its packing, its
# manifest); the order is where its least advanced shipment is (`order_status_of_shipments`).
FLOOR_STEPS = (S.ALLOCATED, S.PICKING, S.PICKED, S.PACKED, S.SHIPPED)
_STEP = {s: n for n, s in enumerate(FLOOR_STEPS)}


def shipment_status(order_status: str) -> str | None:
    """The status an order's shipments take when the order moves to `order_status`; None: they keep
    theirs (a hold or an exception pauses the order, the shipments stay where they were)."""
    s = parse_status(order_status)
    return None if s in PAUSED else s.value


def order_status_of_shipments(statuses) -> Status | None:
    """Where an order on the floor is, from its shipments: the least advanced one, except that the order
    is `picking` as soon as any shipment is released (one warehouse picks while another waits for its
    wave). A cancelled shipment (left with nothing to ship after a short pick) does not count. None when
a shipment is off the floor's steps (the order is not decided by its shipments)."""
    steps = [parse_status(x) for x in statuses]
    steps = [x for x in steps if x != S.CANCELLED] or steps  # a shipment left with nothing to ship
    if not steps or any(x not in _STEP for x in steps):
        return None
    least = min(steps, key=_STEP.__getitem__)
    if least == S.ALLOCATED and any(x != S.ALLOCATED for x in steps):
        return S.PICKING
    return least


def shipments_follow(order_status: str, current: list[str]) -> list[str | None]:
    """The status each shipment (by position in `current`) takes when its order moves to
    `order_status`; None: that one stays.

    On the floor's steps a shipment never goes back and only catches up: a move of the whole order
    (a staff click, or the floor's last shipment getting there) brings every shipment behind it up to
    it, one already ahead stays. `picking` is the exception: the floor releases shipments one by one
    (the wave sets its own first), so the order moving to `picking` moves its shipments only when none
    is released yet (a staff move, or a re-source that picks again). Paused orders leave them be; every
    other status (re-sourced, cancelled, with the carrier, delivered, returned) is the whole order's."""
    target = parse_status(order_status)
    if target in PAUSED:
        return [None] * len(current)
    cur = [parse_status(x) for x in current]
    if target == S.PICKING and any(c in _STEP and c != S.ALLOCATED for c in cur):
        return [None] * len(current)
    out: list[str | None] = []
    for c in cur:
        if c == S.CANCELLED and target in _STEP:
            out.append(None)  # left with nothing to ship: only a re-source there revives it
        elif target in _STEP and c in _STEP:
            out.append(target.value if _STEP[c] < _STEP[target] else None)
        else:
            out.append(None if c == target else target.value)
    return out
