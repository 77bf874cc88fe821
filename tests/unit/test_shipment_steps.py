"""The floor's shipment rule: an order is where its least advanced shipment is (picking once any is
released), and a move of the whole order brings its shipments along without ever sending one back."""

from __future__ import annotations

from hypothesis import given, strategies as st

from qoima.orders.domain.status import (FLOOR_STEPS, PAUSED, Status, order_status_of_shipments,
                                        shipments_follow)

STEPS = [s.value for s in FLOOR_STEPS]
RANK = {s: n for n, s in enumerate(STEPS)}
floor_lists = st.lists(st.sampled_from(STEPS), min_size=1, max_size=4)


def test_examples_from_a_two_warehouse_order():
    assert order_status_of_shipments(["allocated", "allocated"]) == Status.ALLOCATED
    assert order_status_of_shipments(["picking", "allocated"]) == Status.PICKING  # one released
    assert order_status_of_shipments(["packed", "allocated"]) == Status.PICKING
    assert order_status_of_shipments(["shipped", "picked"]) == Status.PICKED
    assert order_status_of_shipments(["shipped", "shipped"]) == Status.SHIPPED
    assert order_status_of_shipments(["cancelled", "picked"]) == Status.PICKED  # left with nothing to ship
    assert order_status_of_shipments(["delivered", "shipped"]) is None  # off the floor: not decided here
    assert order_status_of_shipments([]) is None


@given(floor_lists)
def test_the_order_is_never_ahead_of_a_shipment_and_picking_once_any_left_allocated(statuses):
    got = order_status_of_shipments(statuses).value
    least = min(statuses, key=RANK.__getitem__)
    assert RANK[got] <= max(RANK[s] for s in statuses)
    if least == "allocated" and set(statuses) != {"allocated"}:
        assert got == "picking"
    else:
        assert got == least


@given(floor_lists, st.sampled_from([s.value for s in Status]))
def test_following_the_order_never_sends_a_shipment_back_on_the_floor(statuses, target):
    new = shipments_follow(target, statuses)
    assert len(new) == len(statuses)
    after = [n or s for n, s in zip(new, statuses)]
    if Status(target) in PAUSED:
        assert after == statuses
    elif target in RANK:
        assert all(RANK[a] >= RANK[s] for a, s in zip(after, statuses))
        if target != "picking":  # a whole-order move: nothing stays behind it
            assert all(RANK[a] >= RANK[target] for a in after)
        if RANK[target] > RANK["picking"]:  # and the order is then where its shipments say
            assert order_status_of_shipments(after).value == min(after, key=RANK.__getitem__)
    else:  # re-sourced, with the carrier, delivered, cancelled, returned: the whole order's
        assert set(after) == {target}


def test_picking_moves_the_shipments_only_when_none_is_released():
    assert shipments_follow("picking", ["allocated", "allocated"]) == ["picking", "picking"]  # a staff move
    assert shipments_follow("picking", ["picking", "allocated"]) == [None, None]  # a wave released one
    assert shipments_follow("picking", ["picked", "allocated"]) == [None, None]  # re-sourced after a short pick
    assert shipments_follow("picked", ["picking", "packed"]) == ["picked", None]
    assert shipments_follow("on_hold", ["picking", "allocated"]) == [None, None]
    assert shipments_follow("packed", ["cancelled", "picked"]) == [None, "packed"]


def test_a_part_shipped_order_is_never_cancelled_but_may_be_held():
    from qoima.orders.domain.status import OrderFacts, refusal, user_moves
    for status in (Status.PICKING, Status.PICKED, Status.PACKED):
        facts = OrderFacts(status=status, goods_taken=status != Status.PICKING, part_shipped=True)
        error = refusal(facts, Status.CANCELLED, is_staff=True)
        assert error is not None and error.code == "orders.part_shipped"
        assert Status.CANCELLED not in user_moves(facts, is_staff=True)
        assert Status.ON_HOLD in user_moves(facts, is_staff=True)
        assert refusal(OrderFacts(status=status, goods_taken=status != Status.PICKING), Status.CANCELLED, True) is None
