"""Order batching: every order once, carts within capacity, less walking than one by one."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qoima.floor.domain.batching import OrderPicks, make_batches, single_order_walk
from qoima.floor.domain.routing import Layout, Pick, replay_length, route
from qoima.platform.errors import ValidationError


@st.composite
def problems(draw):
    aisles = draw(st.integers(1, 8))
    length = float(draw(st.integers(5, 40)))
    cross = tuple(float(c) for c in sorted(draw(st.sets(st.integers(1, int(length) - 1), max_size=2))))
    layout = Layout(aisles, length, float(draw(st.integers(1, 5))), draw(st.integers(0, aisles - 1)), cross)
    n = draw(st.integers(0, 25))
    orders, c = [], 0
    for oid in range(n):
        picks = []
        for _ in range(draw(st.integers(0, 4))):
            picks.append(Pick(f"p{c}", draw(st.integers(0, aisles - 1)), float(draw(st.integers(0, int(length))))))
            c += 1
        orders.append(OrderPicks(1000 + oid, tuple(picks)))
    return layout, orders, draw(st.integers(1, 6)), draw(st.sampled_from(["savings", "seed"]))


@settings(max_examples=150, deadline=None)
@given(problems())
def test_batches_are_a_partition_within_capacity_and_walk_less(problem):
    layout, orders, capacity, method = problem
    batches = make_batches(layout, orders, capacity, method)
    ids = [oid for b in batches for oid in b.order_ids]
    assert sorted(ids) == sorted(o.order_id for o in orders)
    assert all(1 <= len(b.order_ids) <= capacity for b in batches)
    by_id = {o.order_id: o for o in orders}
    for b in batches:
        picks = [p for oid in b.order_ids for p in by_id[oid].picks]
        assert sorted(b.route.sequence) == sorted(p.id for p in picks)
        assert replay_length(layout, picks, b.route.sequence) <= b.route.length + 1e-6
    assert sum(b.route.length for b in batches) <= single_order_walk(layout, orders) + 1e-6


def test_single_order_walk_is_the_s_shape_sum():
    layout = Layout(4, 10, 2, 0)
    orders = [OrderPicks(1, (Pick("a", 1, 5),)), OrderPicks(2, (Pick("b", 3, 2), Pick("c", 0, 9)))]
    assert single_order_walk(layout, orders) == sum(route(layout, o.picks, "s-shape").length for o in orders)
    # order 1: along the front to aisle 1 and back (4), in to 5 and out (10); order 2: up aisle 0
    # (10), along the back to aisle 3 (6), down it (10), back along the front (6)
    assert single_order_walk(layout, orders) == (4 + 10) + (10 + 6 + 10 + 6)


def test_orders_in_the_same_aisles_share_a_cart():
    layout = Layout(10, 20, 3, 0)
    orders = [OrderPicks(i, (Pick(f"x{i}", 8 if i % 2 else 2, 10.0 + i),)) for i in range(6)]
    for method in ("savings", "seed"):
        batches = make_batches(layout, orders, 3, method)
        assert sorted(sorted(b.order_ids) for b in batches) == [[0, 2, 4], [1, 3, 5]]


def test_bad_input():
    layout = Layout(3, 10, 2, 0)
    o = [OrderPicks(1, (Pick("a", 0, 1),)), OrderPicks(2, (Pick("a", 1, 1),))]
    with pytest.raises(ValidationError) as e:
        make_batches(layout, o, 2)
    assert e.value.field == "orders[1].picks[0].id"
    with pytest.raises(ValidationError) as e:
        make_batches(layout, o[:1], 0)
    assert e.value.field == "capacity"
    with pytest.raises(ValidationError) as e:
        make_batches(layout, o[:1], 2, "random")
    assert e.value.field == "method"
    with pytest.raises(ValidationError) as e:
        make_batches(layout, [OrderPicks(1, (Pick("a", 5, 1),))], 2)
    assert e.value.field == "picks[0].aisle"
    assert make_batches(layout, [], 4) == []


def test_ten_thousand_orders_in_a_few_seconds():
    rnd = random.Random(7)
    layout = Layout(aisles=20, aisle_length=50, aisle_spacing=3, depot_aisle=0)
    orders, c = [], 0
    for oid in range(10_000):
        picks = []
        for _ in range(rnd.choice([1, 1, 1, 2, 2, 3, 4, 5])):
            picks.append(Pick(f"{oid}-{c}", rnd.randrange(20), float(rnd.randrange(1, 51))))
            c += 1
        orders.append(OrderPicks(oid, tuple(picks)))
    t = time.perf_counter()
    batches = make_batches(layout, orders, 10, "savings")
    elapsed = time.perf_counter() - t
    assert elapsed < 15  # about 2-3 s alone on one core; the machine is shared
    total = sum(b.route.length for b in batches)
    assert total < 0.25 * single_order_walk(layout, orders)
