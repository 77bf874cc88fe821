"""The fulfillment-to-loyalty report finds effects planted by the simulator."""

import json
from datetime import datetime, timedelta

import polars as pl
import pytest

from qoima.analytics.domain.loyalty_effect import COMPARISONS, loyalty_report, next_order_table, render_verdict
from qoima.analytics.domain.simulate import simulate_history


def _same_day(report):
    return next(c for c in report.comparisons if c.key == "same_day_shipping")


@pytest.fixture(scope="module")
def planted():
    h = simulate_history(n_customers=30_000, effect_days=3.0, seed=3)
    return loyalty_report(h.orders, h.as_of)


def test_recovers_planted_effect(planted):
    c = _same_day(planted)
    assert c.verdict.key == "sooner"
    assert c.days_sooner_lower > 0
    assert 1.5 < c.days_sooner < 4.5
    assert c.days_sooner_lower < 3.5 and c.days_sooner_upper > 2.5  # CI around the planted 3 days
    assert c.logrank_p < 0.001
    assert c.verdict.text.startswith("Buyers whose order shipped the same day came back a median")
    assert "sooner (95% CI" in c.verdict.text
    # the error -> dropout effect of the simulator shows up as well
    errors = next(x for x in planted.comparisons if x.key == "correct_item")
    assert errors.verdict.key == "sooner"


def test_report_shape_and_json(planted):
    d = planted.to_dict()
    json.dumps(d)  # no NaN, no numpy scalars
    assert [c["key"] for c in d["comparisons"]] == list(COMPARISONS)
    g = d["comparisons"][0]["group_a"]
    assert g["group"] == "same_day" and g["n_orders"] > g["n_next_orders"] > 0
    assert [r["days"] for r in g["repeat"]] == [30, 60, 90]
    r30, r90 = g["repeat"][0], g["repeat"][2]
    assert r30["eligible"] >= r90["eligible"]  # longer window -> fewer orders observed long enough
    assert r30["lower"] < r30["rate"] < r30["upper"] <= r90["rate"] + 0.05
    assert len(g["curve"]["t"]) == 181 and g["curve"]["s"][0] == 1.0
    assert d["comparisons"][0]["verdict"]["params"]["comparison"] == "same_day_shipping"


def test_no_effect_gives_no_clear_difference():
    h = simulate_history(n_customers=30_000, effect_days=0.0, seed=3)
    c = _same_day(loyalty_report(h.orders, h.as_of))
    assert c.verdict.key == "no_difference"
    assert c.days_sooner_lower < 0 < c.days_sooner_upper
    assert c.verdict.text.startswith("No clear difference")


def test_tiny_history_says_too_little_data():
    h = simulate_history(n_customers=15, seed=2)
    report = loyalty_report(h.orders, h.as_of)
    for c in report.comparisons:
        assert c.verdict.key == "too_little_data"
        assert c.verdict.text.startswith("Too little data")
        assert render_verdict(c.verdict, "ru").startswith("Пока мало данных")
    json.dumps(report.to_dict())


def _orders(rows):
    return pl.DataFrame(rows, schema={"order_id": pl.Int64, "customer_id": pl.Int64, "created_at": pl.Datetime("us"),
                                      "amount": pl.Float64, "shipped_same_day": pl.Boolean,
                                      "delivered_on_time": pl.Boolean, "fulfillment_error": pl.Boolean,
                                      "return_days": pl.Float64, "cancelled": pl.Boolean}, orient="row")


def test_next_order_table_censoring_and_cancelled():
    d0 = datetime(2024, 1, 1)
    rows = [
        (1, 1, d0, 10.0, True, True, False, None, False),
        (2, 1, d0 + timedelta(days=5), 10.0, None, None, None, None, True),   # cancelled: skipped
        (3, 1, d0 + timedelta(days=12), 10.0, False, True, False, 3.0, False),
        (4, 2, d0 + timedelta(days=1), 10.0, True, None, False, None, False),
        (5, 2, d0 + timedelta(days=300), 10.0, True, None, False, None, False),  # after as_of
    ]
    t = next_order_table(_orders(rows), as_of=d0 + timedelta(days=100)).sort("order_id")
    assert t["order_id"].to_list() == [1, 3, 4]
    assert t["has_next"].to_list() == [True, False, False]
    assert t["days_to_next"].to_list() == pytest.approx([12.0, 88.0, 99.0])
    assert t["observed_days"].to_list() == pytest.approx([100.0, 88.0, 99.0])


def _two_groups(n_a, back_a, n_b, back_b, gap_days=10.0):
    """Customers whose first order was same-day (A) or later (B); some come back."""
    d0, rows, oid = datetime(2024, 1, 1), [], 0
    for cid in range(n_a + n_b):
        in_a = cid < n_a
        oid += 1
        rows.append((oid, cid, d0, 10.0, in_a, None, None, None, False))
        if (in_a and cid < back_a) or (not in_a and cid - n_a < back_b):
            oid += 1  # the repeat order itself has no flags, so it is in no group
            rows.append((oid, cid, d0 + timedelta(days=gap_days), 10.0, None, None, None, None, False))
    return _orders(rows), d0 + timedelta(days=200)


def test_rate_based_verdict_when_median_not_reached():
    orders, as_of = _two_groups(400, 180, 400, 80)
    c = _same_day(loyalty_report(orders, as_of))
    assert c.group_a.median_days is None and c.days_sooner is None
    assert c.verdict.key == "more_often"
    assert c.verdict.params["window"] == 90
    assert c.verdict.params["rate_a"] == pytest.approx(0.45) and c.verdict.params["rate_b"] == pytest.approx(0.2)
    assert "within 90 days more often: 45.0% vs 20.0%" in c.verdict.text
    assert c.group_a.repeat[0].eligible == 400 and c.group_a.repeat[0].repeated == 180
    ru = render_verdict(c.verdict, "ru")
    assert "чаще возвращались в течение 90 дн.: 45,0 % против 20,0 %" in ru


def test_repeat_rate_counts_only_orders_observed_long_enough():
    orders, _ = _two_groups(100, 50, 100, 50)
    as_of = datetime(2024, 1, 1) + timedelta(days=45)  # 30-day window observable, 60/90 not
    c = _same_day(loyalty_report(orders, as_of))
    r30, r60, r90 = c.group_a.repeat
    assert (r30.eligible, r30.repeated) == (100, 50)  # repeat orders (day 10) are 35 days old: excluded
    assert r60.eligible == 0 and r60.rate is None and r90.lower is None


def test_render_russian_and_english_numbers():
    v = {"key": "sooner", "params": {"comparison": "same_day_shipping", "days": 2.43, "lower": 1.1, "upper": 3.6,
                                     "n_a": 1234, "n_b": 567, "p_value": 0.001}}
    assert render_verdict(v, "en") == ("Buyers whose order shipped the same day came back a median 2.4 days sooner "
                                       "(95% CI 1.1–3.6, n = 1,234 vs 567).")
    assert render_verdict(v, "ru") == ("Покупатели, чей заказ отгрузили в тот же день, вернулись за новым заказом "
                                       "быстрее: по медиане на 2,4 дн. раньше (95% ДИ 1,1–3,6, n = 1\u00a0234 и 567).")
    r = {"key": "no_difference", "params": {"comparison": "fast_return", "threshold_days": 7.0, "n_a": 10,
                                            "n_b": 20, "p_value": 0.41}}
    assert "returns processed within 7 days" in render_verdict(r, "en")
    assert "обработанных за 7 дн." in render_verdict(r, "ru")
    with pytest.raises(ValueError):
        render_verdict(v, "de")
