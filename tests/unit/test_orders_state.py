"""The order state machine, checked against an independent specification of
which moves make sense in a warehouse: every one of the 14 x 14 pairs; then the
moves a staff or seller user may make on an order with given facts (system-only
`allocated` / `backordered`, picking only when fully reserved, resume only where
the order was), and when an order may be re-sourced."""

from __future__ import annotations

import itertools

import pytest

from qoima.platform.errors import Conflict, Forbidden, InvalidTransition, ValidationError
from qoima.orders.domain.status import (
    HOLDS_RESERVATION, OPEN, SHIPPED_OR_LATER, TRANSITIONS, OrderFacts, Status, can_cancel, check_resource,
    check_transition, check_user_move, may_resource, parse_status, user_moves,
)

S = Status
PRE_SHIP = [S.NEW, S.BACKORDERED, S.ALLOCATED, S.PICKING, S.PICKED, S.PACKED]
CARRIER = [S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY]
TERMINAL = [S.CANCELLED, S.RETURNED]

# The specification, written out move by move (not derived from TRANSITIONS).
FORWARD = {
    (S.NEW, S.ALLOCATED), (S.NEW, S.BACKORDERED), (S.BACKORDERED, S.ALLOCATED),
    (S.ALLOCATED, S.PICKING), (S.PICKING, S.PICKED), (S.PICKED, S.PACKED), (S.PACKED, S.SHIPPED),
    (S.SHIPPED, S.IN_TRANSIT), (S.SHIPPED, S.OUT_FOR_DELIVERY), (S.SHIPPED, S.DELIVERED),
    (S.IN_TRANSIT, S.OUT_FOR_DELIVERY), (S.IN_TRANSIT, S.DELIVERED),
    (S.OUT_FOR_DELIVERY, S.DELIVERED),
    (S.OUT_FOR_DELIVERY, S.IN_TRANSIT),  # failed attempt: back to the carrier's depot
}
RETURNS = {(s, S.RETURNED) for s in CARRIER + [S.DELIVERED]}
CANCELS = {(s, S.CANCELLED) for s in PRE_SHIP + [S.ON_HOLD, S.EXCEPTION]}
HOLDS = {(s, S.ON_HOLD) for s in PRE_SHIP}
RESUMES = {(S.ON_HOLD, s) for s in PRE_SHIP}
EXCEPTIONS = {(s, S.EXCEPTION) for s in PRE_SHIP + CARRIER}
# an exception resumes where the order was (any status that can enter it), or ends returned / cancelled
OUT_OF_EXCEPTION = {(S.EXCEPTION, s) for s in PRE_SHIP + CARRIER + [S.RETURNED]}
RESOURCING = {(S.ALLOCATED, S.BACKORDERED)}  # re-sourcing an allocated order may find the stock gone
ALLOWED = FORWARD | RETURNS | CANCELS | HOLDS | RESUMES | EXCEPTIONS | OUT_OF_EXCEPTION | RESOURCING

ALL_PAIRS = list(itertools.product(list(Status), list(Status)))


def _id(pair):
    return f"{pair[0].value}->{pair[1].value}"


@pytest.mark.parametrize("pair", sorted(ALLOWED), ids=_id)
def test_allowed_move(pair):
    src, dst = pair
    assert check_transition(src.value, dst.value) is dst


@pytest.mark.parametrize("pair", [p for p in ALL_PAIRS if p not in ALLOWED], ids=_id)
def test_forbidden_move_names_from_and_to(pair):
    src, dst = pair
    with pytest.raises(InvalidTransition) as info:
        check_transition(src.value, dst.value)
    err = info.value
    assert isinstance(err, Conflict) and err.status == 409
    assert err.extra == {"from_status": src.value, "to_status": dst.value}
    assert f"'{src.value}'" in err.message and f"'{dst.value}'" in err.message
    assert err.field == "status"


def test_the_table_has_no_move_outside_the_specification():
    table = {(src, dst) for src, dsts in TRANSITIONS.items() for dst in dsts}
    assert table == ALLOWED
    assert set(TRANSITIONS) == set(Status)  # every status has an entry (KeyError otherwise)


def test_shipped_cannot_go_back_to_allocated():
    with pytest.raises(InvalidTransition) as info:
        check_transition("shipped", "allocated")
    assert info.value.message == "cannot move order from 'shipped' to 'allocated'"
    assert info.value.extra["from_status"] == "shipped"
    assert info.value.extra["to_status"] == "allocated"


@pytest.mark.parametrize("terminal", TERMINAL, ids=str)
def test_terminal_states_have_no_way_out(terminal):
    for dst in Status:
        with pytest.raises(InvalidTransition):
            check_transition(terminal.value, dst.value)


def test_no_status_moves_to_itself():
    for s in Status:
        with pytest.raises(InvalidTransition):
            check_transition(s.value, s.value)


def test_warehouse_steps_cannot_be_skipped():
    for src, dst in [("allocated", "picked"), ("allocated", "packed"), ("allocated", "shipped"),
                     ("exception", "delivered"),
                     ("picking", "packed"), ("picked", "shipped"), ("backordered", "picking"), ("new", "shipped")]:
        with pytest.raises(InvalidTransition):
            check_transition(src, dst)


def test_cancel_only_before_the_goods_leave():
    for s in Status:
        expected = s in PRE_SHIP or s in (S.ON_HOLD, S.EXCEPTION)
        assert can_cancel(s.value) is expected, s
        if expected:
            assert check_transition(s.value, "cancelled") is S.CANCELLED
    for s in SHIPPED_OR_LATER:
        assert not can_cancel(s.value)


def test_status_groups_are_consistent():
    assert not (OPEN & SHIPPED_OR_LATER)
    assert OPEN | SHIPPED_OR_LATER | {S.CANCELLED} == set(Status)
    assert S.CANCELLED not in OPEN and S.DELIVERED not in OPEN
    # picked goods are no longer "reserved", they left their locations
    assert S.PICKED not in HOLDS_RESERVATION and S.PACKED not in HOLDS_RESERVATION
    assert not (HOLDS_RESERVATION & SHIPPED_OR_LATER)


def test_unknown_status_is_a_validation_error_listing_the_choices():
    with pytest.raises(ValidationError) as info:
        check_transition("allocated", "teleported")
    assert info.value.field == "status"
    assert "teleported" in info.value.message and "allocated" in info.value.message
    assert info.value.status == 422
    with pytest.raises(ValidationError):
        parse_status("SHIPPED")  # statuses are lower-case values
    assert parse_status("shipped") is S.SHIPPED


# --- what a user may do with one order: the specification, scenario by scenario --------------------------

def facts(status, was=None, short=()):
    taken = status in (S.PICKED, S.PACKED, *CARRIER, S.DELIVERED, S.RETURNED) or was in (
        S.PICKED, S.PACKED, *CARRIER)
    return OrderFacts(status=status, was=was, goods_taken=taken, short=tuple(short))


FULL, SHORT = (), ("SKU-1",)
# (facts, what staff may move it to, whether staff may re-source it); written out, not derived
SCENARIOS = [
    (facts(S.NEW, short=SHORT), {S.ON_HOLD, S.CANCELLED, S.EXCEPTION}, True),
    (facts(S.BACKORDERED, short=SHORT), {S.ON_HOLD, S.CANCELLED, S.EXCEPTION}, True),
    (facts(S.ALLOCATED), {S.PICKING, S.ON_HOLD, S.CANCELLED, S.EXCEPTION}, True),
    (facts(S.ALLOCATED, short=SHORT), {S.ON_HOLD, S.CANCELLED, S.EXCEPTION}, True),  # the old hole's data
    (facts(S.PICKING), {S.PICKED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION}, False),
    (facts(S.PICKING, short=SHORT), {S.ON_HOLD, S.CANCELLED, S.EXCEPTION}, False),
    (facts(S.PICKED), {S.PACKED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION}, False),
    (facts(S.PACKED), {S.SHIPPED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION}, False),
    (facts(S.SHIPPED), {S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED}, False),
    (facts(S.IN_TRANSIT), {S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED}, False),
    (facts(S.OUT_FOR_DELIVERY), {S.DELIVERED, S.IN_TRANSIT, S.EXCEPTION, S.RETURNED}, False),
    (facts(S.DELIVERED), {S.RETURNED}, False),
    (facts(S.CANCELLED), set(), False),
    (facts(S.RETURNED), set(), False),
    (facts(S.ON_HOLD, S.NEW, SHORT), {S.NEW, S.CANCELLED}, True),
    (facts(S.ON_HOLD, S.BACKORDERED, SHORT), {S.CANCELLED}, True),  # back through re-sourcing only
    (facts(S.ON_HOLD, S.ALLOCATED), {S.CANCELLED}, True),
    (facts(S.ON_HOLD, S.PICKING), {S.PICKING, S.CANCELLED}, True),
    (facts(S.ON_HOLD, S.PICKING, SHORT), {S.CANCELLED}, True),
    (facts(S.ON_HOLD, S.PICKED), {S.PICKED, S.CANCELLED}, False),
    (facts(S.ON_HOLD, S.PACKED), {S.PACKED, S.CANCELLED}, False),
    (facts(S.ON_HOLD), {S.CANCELLED}, True),  # no timeline row says where it was
    (facts(S.EXCEPTION, S.NEW, SHORT), {S.NEW, S.CANCELLED}, True),
    (facts(S.EXCEPTION, S.BACKORDERED, SHORT), {S.CANCELLED}, True),
    (facts(S.EXCEPTION, S.ALLOCATED), {S.CANCELLED}, True),
    (facts(S.EXCEPTION, S.PICKING), {S.PICKING, S.CANCELLED}, True),
    (facts(S.EXCEPTION, S.PICKED), {S.PICKED, S.CANCELLED}, False),  # keeps what was picked
    (facts(S.EXCEPTION, S.PACKED), {S.PACKED, S.CANCELLED}, False),
    (facts(S.EXCEPTION, S.SHIPPED), {S.SHIPPED, S.RETURNED}, False),
    (facts(S.EXCEPTION, S.IN_TRANSIT), {S.IN_TRANSIT, S.RETURNED}, False),
    (facts(S.EXCEPTION, S.OUT_FOR_DELIVERY), {S.OUT_FOR_DELIVERY, S.RETURNED}, False),
    (OrderFacts(S.EXCEPTION, None, goods_taken=True), set(), False),
]


def _sid(scenario):
    f = scenario[0]
    return f"{f.status.value}{'<-' + f.was.value if f.was else ''}{'-short' if f.short else ''}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=_sid)
def test_every_target_for_staff_and_seller(scenario):
    """All 14 targets, for staff and for a seller: allowed exactly as specified, else 403 / 409 naming both ends."""
    f, staff_may, _ = scenario
    seller_may = staff_may & {S.CANCELLED, S.ON_HOLD}
    for is_staff, expected in ((True, staff_may), (False, seller_may)):
        assert set(user_moves(f, is_staff)) == expected, (is_staff, f)
        for target in Status:
            if target in expected:
                assert check_user_move(f, target.value, is_staff) is target
                continue
            with pytest.raises((InvalidTransition, Forbidden)) as info:
                check_user_move(f, target.value, is_staff)
            err = info.value
            assert err.status in (403, 409) and err.field == "status"
            assert err.extra["from_status"] == f.status.value and err.extra["to_status"] == target.value
            assert f"'{f.status.value}'" in err.message and f"'{target.value}'" in err.message
            if not is_staff and target in TRANSITIONS[f.status] and target not in (S.CANCELLED, S.ON_HOLD):
                assert err.status == 403



@pytest.mark.parametrize("scenario", SCENARIOS, ids=_sid)
def test_re_sourcing_is_for_staff_before_the_pick(scenario):
    f, _, staff_may = scenario
    assert may_resource(f, True) is staff_may
    assert may_resource(f, False) is False
    with pytest.raises(Forbidden):
        check_resource(f, False)
    if staff_may:
        check_resource(f, True)
    else:
        with pytest.raises(Conflict) as info:
            check_resource(f, True)
        assert info.value.status == 409 and f"'{f.status.value}'" in info.value.message


def test_allocated_and_backordered_are_never_a_user_move():
    for f, _, _ in SCENARIOS:
        for target in (S.ALLOCATED, S.BACKORDERED):
            for is_staff in (True, False):
                assert target not in user_moves(f, is_staff)
    with pytest.raises(InvalidTransition) as info:  # the reproduction of issue 7: backordered -> allocated
        check_user_move(facts(S.BACKORDERED, short=SHORT), "allocated", True)
    assert info.value.status == 409
    assert info.value.message.startswith("cannot move order from 'backordered' to 'allocated': 'allocated' is set by "
                                         "sourcing only")
    with pytest.raises(InvalidTransition) as info:  # exception -> backordered while reservations are held
        check_user_move(facts(S.EXCEPTION, S.ALLOCATED), "backordered", True)
    assert "sourcing only" in info.value.message
    with pytest.raises(Forbidden) as info:
        check_user_move(facts(S.BACKORDERED, short=SHORT), "allocated", False)
    assert "'backordered'" in info.value.message and "'allocated'" in info.value.message


def test_picking_needs_every_line_reserved_and_names_the_short_skus():
    with pytest.raises(InvalidTransition) as info:
        check_user_move(facts(S.ALLOCATED, short=("STE-001", "STE-002")), "picking", True)
    err = info.value
    assert err.status == 409 and err.extra["short_skus"] == ["STE-001", "STE-002"]
    assert "STE-001, STE-002" in err.message and "'allocated'" in err.message and "'picking'" in err.message
    with pytest.raises(InvalidTransition):  # nor can a short order take its goods
        check_user_move(facts(S.PICKING, short=("STE-001",)), "picked", True)


def test_after_the_pick_an_exception_resumes_only_where_it_was():
    f = facts(S.EXCEPTION, S.PICKED)
    with pytest.raises(InvalidTransition) as info:
        check_user_move(f, "picking", True)
    assert "the order was 'picked' before" in info.value.message and info.value.extra["resume_to"] == "picked"
    assert check_user_move(f, "picked", True) is S.PICKED
