"""Pick routing: the exact program against brute force, the heuristics as valid walks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qoima.floor.domain.routing import (
    METHODS, Layout, Pick, Route, layout_from_json, picks_from_json, replay_length, route)
from qoima.platform.errors import ValidationError


def metric(layout: Layout, a1, y1, a2, y2) -> float:
    """Written independently of the module: the shortest walk in the aisle network. Within one
    aisle: straight. Between aisles: down/up to one cross aisle (front, back or a middle one, which
    all span the whole width), across, and up/down again."""
    if a1 == a2:
        return abs(y1 - y2)
    crosses = [0.0, float(layout.aisle_length), *layout.cross_aisles]
    return abs(a1 - a2) * layout.aisle_spacing + min(abs(y1 - c) + abs(c - y2) for c in crosses)


def brute_force(layout: Layout, picks: list[Pick]) -> float:
    """Shortest closed tour depot -> every pick once -> depot (every order tried)."""
    depot = (layout.depot_aisle, 0.0)
    pts = [(p.aisle, p.position) for p in picks]
    best = float("inf")
    if not pts:
        return 0.0
    first, rest = pts[0], pts[1:]
    # fix the first pick's place up to rotation: try all permutations (n <= 7)
    for perm in itertools.permutations(pts):
        if perm[0] != first and len(pts) > 1 and False:
            continue
        tot, cur = 0.0, depot
        for q in perm:
            tot += metric(layout, *cur, *q)
            cur = q
            if tot >= best:
                break
        else:
            tot += metric(layout, *cur, *depot)
            best = min(best, tot)
    del rest
    return best


def walk_len(layout, picks, r: Route) -> float:
    where = {p.id: (p.aisle, p.position) for p in picks}
    cur, tot = (layout.depot_aisle, 0.0), 0.0
    for pid in r.sequence:
        tot += metric(layout, *cur, *where[pid])
        cur = where[pid]
    return tot + metric(layout, *cur, layout.depot_aisle, 0.0)


@st.composite
def instances(draw, max_picks=7, multi=False):
    aisles = draw(st.integers(1, 6))
    length = float(draw(st.integers(2, 30)))
    spacing = float(draw(st.integers(1, 8)))
    depot = draw(st.integers(0, aisles - 1))
    cross: tuple[float, ...] = ()
    if multi:
        cross = tuple(sorted(draw(st.sets(st.integers(1, int(length) - 1), min_size=1, max_size=2))))
        cross = tuple(float(c) for c in cross)
    n = draw(st.integers(0, max_picks))
    picks = []
    for i in range(n):
        a = draw(st.integers(0, aisles - 1))
        # integer positions, ends included: picks on a cross aisle are legal too
        y = float(draw(st.integers(0, int(length))))
        picks.append(Pick(f"p{i}", a, y))
    return Layout(aisles, length, spacing, depot, cross), picks


def assert_valid(layout, picks, r: Route):
    assert sorted(r.sequence) == sorted(p.id for p in picks)
    assert len(set(r.sequence)) == len(r.sequence)
    assert r.length >= -1e-9
    # the walk reported is at least as long as visiting the same order by shortest paths
    assert walk_len(layout, picks, r) <= r.length + 1e-6


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_exact_equals_brute_force_on_single_block(inst):
    layout, picks = inst
    r = route(layout, picks, "exact")
    assert r.method == "exact"
    opt = brute_force(layout, picks)
    assert r.length == pytest.approx(opt, abs=1e-6)
    assert_valid(layout, picks, r)
    # the sequence is a real optimal tour: replaying it costs exactly the optimum
    assert walk_len(layout, picks, r) == pytest.approx(opt, abs=1e-6)
    assert replay_length(layout, picks, r.sequence) == pytest.approx(opt, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(instances(max_picks=25))
def test_heuristics_are_valid_walks_never_shorter_than_exact(inst):
    layout, picks = inst
    exact = route(layout, picks, "exact")
    for method in ("s-shape", "largest-gap"):
        r = route(layout, picks, method)
        assert r.method == method
        assert_valid(layout, picks, r)
        assert r.length >= exact.length - 1e-6
    best = route(layout, picks, "best")
    assert best.method == "exact" and best.length == pytest.approx(exact.length)


@settings(max_examples=200, deadline=None)
@given(instances(max_picks=6, multi=True))
def test_multi_block_routes_are_valid_walks(inst):
    layout, picks = inst
    opt = brute_force(layout, picks)
    lengths = {}
    for method in METHODS:
        r = route(layout, picks, method)
        assert_valid(layout, picks, r)
        assert r.length >= opt - 1e-6
        lengths[method] = r
    assert lengths["exact"].method in ("s-shape", "largest-gap", "aisle-dp")
    assert lengths["best"].length <= min(lengths["s-shape"].length, lengths["largest-gap"].length) + 1e-9


def test_known_instance():
    layout = Layout(aisles=5, aisle_length=10, aisle_spacing=2, depot_aisle=2)
    picks = [Pick("a", 0, 3), Pick("b", 4, 7), Pick("c", 2, 5), Pick("d", 1, 9)]
    r = route(layout, picks)
    # front 0..2 once each way (4), back 0..2 (4) and 2..4 twice (8); aisle 0 and 2 through (20),
    # aisle 1 from the back to 9 and back (2), aisle 4 from the back to 7 and back (6)
    assert (r.method, r.length) == ("exact", 44.0)
    assert r.sequence in (("c", "b", "d", "a"), ("a", "d", "b", "c"))
    s = route(layout, picks, "s-shape")
    assert s.length == 56.0  # 4 traversals (40) + 2 x front span 0..8 (16)


def test_empty_and_depot_only():
    layout = Layout(3, 10, 2, 1)
    assert route(layout, []) == Route("exact", 0.0, ())
    assert route(layout, [Pick("x", 1, 0)]).length == 0.0
    assert route(layout, [Pick("x", 1, 0)], "s-shape").length == 0.0


def test_multi_block_uses_the_middle_cross_aisle():
    layout = Layout(aisles=4, aisle_length=40, aisle_spacing=3, depot_aisle=0, cross_aisles=(20,))
    picks = [Pick("a", 0, 18), Pick("b", 3, 18), Pick("c", 1, 2)]
    r = route(layout, picks, "exact")
    assert r.method in ("s-shape", "largest-gap", "aisle-dp")
    s = route(layout, picks, "s-shape")
    # up aisle 0 to the middle cross aisle (20, takes a), along it to aisle 1 (3), through aisle 1's
    # front block (20, takes c), along the front to aisle 3 (6), in to b and out (36), home (9)
    assert (s.length, s.sequence) == (94.0, ("a", "c", "b"))
    assert brute_force(layout, picks) == 62.0
    # multi-block largest gap: up aisle 0 to the middle cross aisle (20, a), along it to aisle 3
    # (9), the block's last sub-aisle, walked through (20, b), back along the front to aisle 1 (6),
    # in to c and out (4), home (3)
    lg = route(layout, picks, "largest-gap")
    assert (lg.length, lg.sequence) == (62.0, ("a", "b", "c"))
    assert route(layout, picks, "best") == lg


def test_layout_from_json_errors_name_the_field():
    ok = layout_from_json({"aisles": 3, "aisle_length": 10, "aisle_spacing": 2.5, "depot_aisle": 1,
                           "cross_aisles": [5]})
    assert ok == Layout(3, 10.0, 2.5, 1, (5.0,))
    cases = [
        ({"aisle_length": 10, "aisle_spacing": 2, "depot_aisle": 0}, "aisles"),
        ({"aisles": 0, "aisle_length": 10, "aisle_spacing": 2, "depot_aisle": 0}, "aisles"),
        ({"aisles": True, "aisle_length": 10, "aisle_spacing": 2, "depot_aisle": 0}, "aisles"),
        ({"aisles": 2, "aisle_length": -1, "aisle_spacing": 2, "depot_aisle": 0}, "aisle_length"),
        ({"aisles": 2, "aisle_length": 10, "aisle_spacing": "2", "depot_aisle": 0}, "aisle_spacing"),
        ({"aisles": 2, "aisle_length": 10, "aisle_spacing": 2, "depot_aisle": 2}, "depot_aisle"),
        ({"aisles": 2, "aisle_length": 10, "aisle_spacing": 2, "depot_aisle": 0, "cross_aisles": [10]},
         "cross_aisles[0]"),
        ({"aisles": 2, "aisle_length": 10, "aisle_spacing": 2, "depot_aisle": 0, "extra": 1}, "extra"),
    ]
    for data, field in cases:
        with pytest.raises(ValidationError) as e:
            layout_from_json(data)
        assert e.value.field == field
    with pytest.raises(ValidationError) as e:
        layout_from_json([])
    assert e.value.field == "layout"


def test_picks_from_json_and_route_bounds():
    picks = picks_from_json([{"id": "A-1", "aisle": 0, "position": 2}, {"id": "A-2", "aisle": 1, "position": 3.5}])
    assert picks == [Pick("A-1", 0, 2.0), Pick("A-2", 1, 3.5)]
    for data, field in [
        ([{"id": "x", "aisle": 0}], "picks[0].position"),
        ([{"id": "", "aisle": 0, "position": 1}], "picks[0].id"),
        ([{"id": "x", "aisle": 0, "position": 1}, {"id": "x", "aisle": 1, "position": 1}], "picks[1].id"),
        ([{"id": "x", "aisle": -1, "position": 1}], "picks[0].aisle"),
        ([{"id": "x", "aisle": 0, "position": float("nan")}], "picks[0].position"),
        ([1], "picks[0]"),
        ({}, "picks"),
    ]:
        with pytest.raises(ValidationError) as e:
            picks_from_json(data)
        assert e.value.field == field
    layout = Layout(2, 10, 2, 0)
    with pytest.raises(ValidationError) as e:
        route(layout, [Pick("x", 2, 1)])
    assert e.value.field == "picks[0].aisle"
    with pytest.raises(ValidationError) as e:
        route(layout, [Pick("x", 1, 11)])
    assert e.value.field == "picks[0].position"
    with pytest.raises(ValidationError) as e:
        route(layout, [], "fastest")
    assert e.value.field == "method"


def test_large_instance_is_fast():
    import random
    import time
    rnd = random.Random(5)
    layout = Layout(aisles=20, aisle_length=50, aisle_spacing=3, depot_aisle=9)
    picks = [Pick(str(i), rnd.randrange(20), float(rnd.randrange(51))) for i in range(300)]
    t = time.perf_counter()
    for m in METHODS:
        assert_valid(layout, picks, route(layout, picks, m))
    assert time.perf_counter() - t < 2


def test_the_derived_classes_are_the_papers_seven():
    from qoima.floor.domain import routing_exact as rr

    seen, frontier = {rr.EMPTY}, [rr.EMPTY]
    while frontier:
        state = frontier.pop()
        for cfg in rr.VERTICAL:
            v = rr.vertical(state, cfg)
            if v is None:
                continue
            for nxt in [v] + [rr.horizontal(v, x, y, ra, rb) for x, y in rr.HORIZONTAL
                              for ra in (False, True) for rb in (False, True)]:
                if nxt is not None and nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
    # (U,U,1C), (E,0,1C), (0,E,1C), (E,E,1C), (E,E,2C), (0,0,0C) and (0,0,1C)
    assert seen == {(1, 1, True), (2, 0, False), (0, 2, False), (2, 2, True), (2, 2, False), rr.EMPTY, rr.CLOSED}
    # and the feasible gap moves are the five of the paper
    moves = {(x, y) for s in seen for x, y in rr.HORIZONTAL for ra in (False, True) for rb in (False, True)
             if s not in (rr.EMPTY, rr.CLOSED) and rr.horizontal(s, x, y, ra, rb) is not None}
    assert moves == {(0, 0), (1, 1), (2, 0), (0, 2), (2, 2)}
