"""The order state machine, checked against an independent specification of
which moves make sense in a warehouse: every one of the 14 x 14 pairs."""

from __future__ import annotations

import itertools

import pytest

from qoima.platform.errors import Conflict, InvalidTransition, ValidationError
from qoima.orders.domain.status import HOLDS_RESERVATION, OPEN, SHIPPED_OR_LATER, TRANSITIONS, Status, can_cancel, check_transition, parse_status

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
OUT_OF_EXCEPTION = {(S.EXCEPTION, s) for s in (S.ALLOCATED, S.BACKORDERED, S.PICKING, S.PACKED, S.SHIPPED,
                                               S.IN_TRANSIT, S.DELIVERED, S.RETURNED)}
ALLOWED = FORWARD | RETURNS | CANCELS | HOLDS | RESUMES | EXCEPTIONS | OUT_OF_EXCEPTION

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
