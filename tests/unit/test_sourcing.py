"""Sourcing: fewest parcels, then nearest, then stock depth; split or backorder."""

from __future__ import annotations

import pytest

from qoima.orders.domain.sourcing import MAX_EXACT_WAREHOUSES, Line, WarehouseStock, choose, distance_km

ALMATY = (43.24, 76.89)
ASTANA = (51.13, 71.43)
SHYMKENT = (42.34, 69.59)
KARAGANDA = (49.80, 73.10)

MUG, TOWEL, LAMP = 1, 2, 3


def wh(wid: int, code: str, where, **available) -> WarehouseStock:
    ids = {"mug": MUG, "towel": TOWEL, "lamp": LAMP}
    lat, lon = where if where else (None, None)
    return WarehouseStock(wid, code, lat, lon, {ids[k]: v for k, v in available.items()})


def lines(**qty) -> list[Line]:
    ids = {"mug": MUG, "towel": TOWEL, "lamp": LAMP}
    return [Line(ids[k], k.upper(), q) for k, q in qty.items()]


def picked(plan) -> dict[tuple[int, int], int]:
    out: dict[tuple[int, int], int] = {}
    for w, p, q in plan.picks:
        out[(w, p)] = out.get((w, p), 0) + q
    return out


def test_distance_between_almaty_and_astana():
    d = distance_km(*ALMATY, *ASTANA)
    assert 950 < d < 1000  # ~970 km great-circle
    assert distance_km(None, 1, 2, 3) is None
    assert distance_km(*ALMATY, *ALMATY) == 0


def test_fewest_parcels_beats_nearest():
    # The customer is in Almaty; ALA and AST together have everything (2 parcels),
    # far-away Shymkent alone has everything (1 parcel): Shymkent wins.
    stock = [wh(1, "ALA", ALMATY, mug=2), wh(2, "AST", ASTANA, towel=1), wh(3, "SHY", SHYMKENT, mug=5, towel=5)]
    plan = choose(lines(mug=2, towel=1), stock, *ALMATY)
    assert plan.complete
    assert plan.warehouses == ["SHY"]
    assert picked(plan) == {(3, MUG): 2, (3, TOWEL): 1}
    assert plan.reason.startswith("1 parcel from SHY")


def test_nearest_breaks_a_tie_in_parcels():
    stock = [wh(1, "ALA", ALMATY, mug=3), wh(2, "AST", ASTANA, mug=3)]
    near_astana = choose(lines(mug=2), stock, *KARAGANDA)  # Karaganda is ~200 km from Astana
    assert near_astana.warehouses == ["AST"] and picked(near_astana) == {(2, MUG): 2}
    near_almaty = choose(lines(mug=2), stock, *ALMATY)
    assert near_almaty.warehouses == ["ALA"] and picked(near_almaty) == {(1, MUG): 2}
    assert "nearest to customer (0 km)" in near_almaty.reason
    assert "2 option(s) with 1 parcel(s)" in near_almaty.reason


def test_nearest_beats_stock_depth():
    stock = [wh(1, "ALA", ALMATY, mug=2), wh(2, "AST", ASTANA, mug=500)]
    plan = choose(lines(mug=2), stock, *ALMATY)
    assert plan.warehouses == ["ALA"]


def test_stock_depth_breaks_remaining_ties():
    # Same place (or customer location unknown): the warehouse left with more stock wins.
    same_place = [wh(1, "ALA-1", ALMATY, mug=4), wh(2, "ALA-2", ALMATY, mug=9)]
    plan = choose(lines(mug=3), same_place, *ASTANA)
    assert plan.warehouses == ["ALA-2"]
    assert "stock depth after order 6" in plan.reason  # 9 - 3 left in ALA-2
    unknown_customer = [wh(1, "ALA", ALMATY, mug=9), wh(2, "AST", ASTANA, mug=4)]
    plan = choose(lines(mug=3), unknown_customer)
    assert plan.warehouses == ["ALA"]
    assert "nearest" not in plan.reason  # no customer location: distance is not a reason
    assert "stock depth" in plan.reason


def test_lowest_warehouse_id_breaks_a_full_tie():
    stock = [wh(7, "B", ALMATY, mug=5), wh(3, "A", ALMATY, mug=5)]
    assert choose(lines(mug=1), stock, *ALMATY).warehouses == ["A"]


def test_split_across_warehouses_when_none_has_everything():
    stock = [wh(1, "ALA", ALMATY, mug=5), wh(2, "AST", ASTANA, towel=5), wh(3, "SHY", SHYMKENT, lamp=1)]
    plan = choose(lines(mug=2, towel=1), stock, *ASTANA)
    assert plan.complete
    assert plan.warehouses == ["AST", "ALA"]  # nearest first
    assert picked(plan) == {(1, MUG): 2, (2, TOWEL): 1}
    assert plan.reason.startswith("2 parcels from ")


def test_split_of_one_product_over_two_warehouses():
    stock = [wh(1, "ALA", ALMATY, mug=3), wh(2, "AST", ASTANA, mug=4)]
    plan = choose(lines(mug=6), stock, *ALMATY)
    assert plan.complete
    assert picked(plan) == {(1, MUG): 3, (2, MUG): 3}  # nearest warehouse gives all it has first
    assert plan.warehouses == ["ALA", "AST"]


def test_partial_with_backorder_when_nothing_covers():
    stock = [wh(1, "ALA", ALMATY, mug=2), wh(2, "AST", ASTANA, mug=1, towel=1)]
    plan = choose(lines(mug=5, towel=1), stock, *ASTANA)
    assert not plan.complete
    assert plan.backorder == {MUG: 2}
    assert picked(plan) == {(2, MUG): 1, (1, MUG): 2, (2, TOWEL): 1}
    assert plan.warehouses == ["AST", "ALA"]
    assert plan.reason == ("no warehouse set has all items; reserved 4 of 6 units from AST, ALA (nearest first), "
                           "2 backordered")


def test_everything_backordered_when_no_warehouse_has_any():
    stock = [wh(1, "ALA", ALMATY, mug=0), wh(2, "AST", ASTANA, lamp=3)]
    plan = choose(lines(mug=2, towel=1), stock, *ALMATY)
    assert plan.picks == [] and plan.warehouses == []
    assert plan.backorder == {MUG: 2, TOWEL: 1}
    assert "backordered" in plan.reason and "no warehouse" in plan.reason
    assert choose(lines(mug=1), []).backorder == {MUG: 1}


def test_never_reserves_more_than_available():
    stock = [wh(1, "ALA", ALMATY, mug=2), wh(2, "AST", ASTANA, mug=3)]
    plan = choose(lines(mug=100), stock, *ALMATY)
    assert picked(plan) == {(1, MUG): 2, (2, MUG): 3}
    assert plan.backorder == {MUG: 95}


def test_two_lines_of_the_same_product_are_summed():
    stock = [wh(1, "ALA", ALMATY, mug=4), wh(2, "AST", ASTANA, mug=5)]
    plan = choose([Line(MUG, "MUG", 3), Line(MUG, "MUG", 2)], stock, *ALMATY)
    assert plan.warehouses == ["AST"]  # only AST has all 5 in one parcel
    assert picked(plan) == {(2, MUG): 5}


def test_many_warehouses_still_prefer_one_parcel():
    """Past MAX_EXACT_WAREHOUSES candidates, a warehouse that has everything must still
    win over splitting the order among nearer ones."""
    n = MAX_EXACT_WAREHOUSES + 2
    near = [wh(i, f"N{i}", (43.24 + i * 0.01, 76.89), mug=1) for i in range(1, n)]
    far = wh(100, "FAR", ASTANA, mug=10)
    plan = choose(lines(mug=5), near + [far], *ALMATY)
    assert plan.complete
    assert plan.warehouses == ["FAR"]
    assert picked(plan) == {(100, MUG): 5}
    assert "no warehouse set has all items" not in plan.reason


def test_many_warehouses_split_reason_does_not_claim_a_shortage():
    n = MAX_EXACT_WAREHOUSES + 2
    stock = [wh(i, f"W{i}", (43.24 + i * 0.01, 76.89), mug=1) for i in range(1, n + 1)]
    plan = choose(lines(mug=n), stock, *ALMATY)
    assert plan.complete and sum(q for _, _, q in plan.picks) == n
    assert "backordered" not in plan.reason and "no warehouse set has all items" not in plan.reason


@pytest.mark.parametrize("qty", [1, 3, 7])
def test_plan_accounts_for_every_unit(qty):
    stock = [wh(1, "ALA", ALMATY, mug=2, towel=1), wh(2, "AST", ASTANA, mug=2, towel=5)]
    plan = choose(lines(mug=qty, towel=qty), stock, *ALMATY)
    for product in (MUG, TOWEL):
        reserved = sum(q for _, p, q in plan.picks if p == product)
        assert reserved + plan.backorder.get(product, 0) == qty
    for w in stock:
        for product, available in w.available.items():
            assert picked(plan).get((w.warehouse_id, product), 0) <= available
