"""Customer metrics on a hand-computed history (dates and sums worked out below).

as_of = 2024-07-01.  Valid orders (cancelled and post-as_of ones excluded):
  C1: Jan 10 (100), Jan 20 (50), Mar 10 (150), Jun 10 (100)  -> 4 orders, 400
  C2: Jan 15 (200) [+ cancelled Feb 1]                        -> 1 order, 200
  C3: Feb 5 (80), Feb 25 (120)                                -> 2 orders, 200
  C4: Jun 20 (300)                                            -> 1 order, 300
  C5: only Jul 5 (after as_of)                                -> not a customer yet
Gaps between consecutive orders: C1 10, 50, 92; C3 20 days.
"""

from datetime import datetime

import polars as pl
import pytest

from qoima.analytics.domain import customer_metrics as cm

AS_OF = datetime(2024, 7, 1)


def _orders() -> pl.DataFrame:
    rows = [  # order_id, customer_id, created_at, amount, cancelled
        (1, 1, datetime(2024, 1, 10), 100.0, False),
        (2, 2, datetime(2024, 1, 15), 200.0, False),
        (3, 1, datetime(2024, 1, 20), 50.0, False),
        (4, 2, datetime(2024, 2, 1), 999.0, True),
        (5, 3, datetime(2024, 2, 5), 80.0, False),
        (6, 3, datetime(2024, 2, 25), 120.0, False),
        (7, 1, datetime(2024, 3, 10), 150.0, False),
        (8, 1, datetime(2024, 6, 10), 100.0, False),
        (9, 4, datetime(2024, 6, 20), 300.0, False),
        (10, 5, datetime(2024, 7, 5), 500.0, False),
    ]
    df = pl.DataFrame(rows, schema=["order_id", "customer_id", "created_at", "amount", "cancelled"], orient="row")
    return df.sample(fraction=1.0, shuffle=True, seed=3)  # input order must not matter


def test_summary_headline_numbers():
    s = cm.summary(_orders(), AS_OF)
    assert s["customers"] == 4
    assert s["orders"] == 8
    assert s["cancelled_orders"] == 1
    assert s["revenue"] == pytest.approx(1100.0)
    assert s["ltv"] == pytest.approx(275.0)
    assert s["aov"] == pytest.approx(137.5)
    assert s["orders_per_customer"] == pytest.approx(2.0)
    assert s["repeat_customers"] == 2
    assert s["repeat_rate"] == pytest.approx(0.5)
    assert s["days_to_second_order_median"] == pytest.approx(15.0)  # C1 10 days, C3 20 days
    assert s["days_to_second_order_mean"] == pytest.approx(15.0)


def test_churn_horizon_and_rate():
    orders = _orders()
    # gaps 10, 20, 50, 92: 90th percentile = 50 + 0.7 * 42 = 79.4 -> 80 days
    assert cm.churn_horizon_days(orders, as_of=AS_OF) == 80.0
    assert cm.churn_horizon_days(orders, quantile=0.5, as_of=AS_OF) == 35.0
    assert cm.churn_horizon_days(orders, quantile=0.5, minimum=40, as_of=AS_OF) == 40.0
    assert cm.churn_horizon_days(orders, maximum=60, as_of=AS_OF) == 60.0
    s = cm.summary(orders, AS_OF)
    # cutoff Apr 12: eligible C1, C2, C3 (C4 too new); churned C2 (Jan 15), C3 (Feb 25)
    assert s["churn_horizon_days"] == 80.0
    assert s["churn_eligible_customers"] == 3
    assert s["churned_customers"] == 2
    assert s["churn_rate"] == pytest.approx(2 / 3)
    # horizon 20 days: cutoff Jun 11, C1's last order (Jun 10) is now too old as well
    s20 = cm.summary(orders, AS_OF, churn_horizon=20)
    assert (s20["churn_eligible_customers"], s20["churned_customers"]) == (3, 3)


def test_no_repeat_customers_uses_maximum_horizon():
    one = pl.DataFrame({"order_id": [1, 2], "customer_id": [1, 2], "amount": [10.0, 20.0], "cancelled": [False, False],
                        "created_at": [datetime(2024, 1, 1), datetime(2024, 5, 1)]})
    assert cm.churn_horizon_days(one) == 365.0
    s = cm.summary(one, AS_OF)
    assert s["repeat_rate"] == 0.0 and s["days_to_second_order_median"] is None
    assert s["churn_eligible_customers"] == 0 and s["churn_rate"] is None


def test_cohort_retention_cells():
    r = cm.cohort_retention(_orders(), AS_OF)
    cell = {(c, o): (size, k, share) for c, o, size, k, share in
            r.select("cohort", "offset", "cohort_size", "customers", "share").iter_rows()}
    assert cell[("2024-01", 0)] == (2, 2, 1.0)
    assert cell[("2024-01", 1)] == (2, 0, 0.0)   # C2's February order was cancelled
    assert cell[("2024-01", 2)] == (2, 1, 0.5)   # C1 in March
    assert cell[("2024-01", 5)] == (2, 1, 0.5)   # C1 in June
    assert cell[("2024-01", 6)] == (2, 0, 0.0)   # July (as_of month) observed, empty
    assert cell[("2024-02", 0)] == (1, 1, 1.0)
    assert ("2024-02", 6) not in cell            # not observable yet
    assert cell[("2024-06", 1)] == (1, 0, 0.0)
    assert set(r["cohort"].unique()) == {"2024-01", "2024-02", "2024-06"}  # empty months have no cohort
    hm = cm.cohort_heatmap(r)
    assert hm["cohorts"] == ["2024-01", "2024-02", "2024-06"]
    assert hm["sizes"] == [2, 1, 1]
    assert hm["offsets"] == list(range(7))
    assert hm["values"][0] == [1.0, 0.0, 0.5, 0.0, 0.0, 0.5, 0.0]
    assert hm["values"][1] == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, None]
    assert hm["values"][2] == [1.0, 0.0, None, None, None, None, None]


def test_ltv_curve_only_counts_customers_observed_long_enough():
    c = cm.ltv_curve(_orders(), max_months=5, as_of=AS_OF)
    rows = {m: (n, ltv, opc) for m, n, ltv, opc in c.iter_rows()}
    # month 0 = first 30.4375 days: C1 150, C2 200, C3 200; C4 (11 days old) not eligible
    assert rows[0][0] == 3 and rows[0][1] == pytest.approx(550 / 3) and rows[0][2] == pytest.approx(5 / 3)
    assert rows[1][1] == pytest.approx(700 / 3)  # C1's March order (day 60) falls in month 1
    assert rows[3][0] == 3 and rows[3][1] == pytest.approx(700 / 3)
    # month 4: only C1 (173 days) and C2 (168 days) observed; C1's day-152 order counts
    assert rows[4][0] == 2 and rows[4][1] == pytest.approx(300.0)
    assert rows[5] == (0, None, None)


def test_rfm_scores_and_segments():
    r = cm.rfm(_orders(), AS_OF).sort("customer_id")
    assert r["recency_days"].to_list() == [21, 168, 127, 11]
    assert r["frequency"].to_list() == [4, 1, 2, 1]
    assert r["monetary"].to_list() == [400.0, 200.0, 200.0, 300.0]
    # score = 1 + floor(5 * strictly_worse / 4)
    assert r["r_score"].to_list() == [3, 1, 2, 4]
    assert r["f_score"].to_list() == [4, 1, 3, 1]
    assert r["m_score"].to_list() == [4, 1, 1, 3]
    assert r["fm_score"].to_list() == [4, 1, 2, 2]
    assert r["rfm_code"].to_list() == ["344", "111", "231", "413"]
    assert r["segment"].cast(pl.Utf8).to_list() == ["Loyal", "Lost", "Hibernating", "Potential loyalist"]
    seg = cm.rfm_segments(r)
    assert seg["segment"].cast(pl.Utf8).to_list() == list(cm.SEGMENTS)
    by = {s: (n, rev) for s, n, rev in seg.select(pl.col("segment").cast(pl.Utf8), "customers", "revenue").iter_rows()}
    assert by["Loyal"] == (1, 400.0) and by["Lost"] == (1, 200.0) and by["Champions"] == (0, 0.0)
    assert seg["customers"].sum() == 4
    assert seg["revenue_share"].sum() == pytest.approx(1.0)


def test_rfm_quintiles_ties_and_tiny_inputs():
    n = 10
    orders = pl.DataFrame({
        "order_id": list(range(n)), "customer_id": list(range(n)), "cancelled": [False] * n,
        "amount": [float(10 * (i + 1)) for i in range(n)],
        "created_at": [datetime(2024, 6, 1)] * n,  # everyone ties on recency and frequency
    })
    r = cm.rfm(orders, AS_OF).sort("customer_id")
    assert r["m_score"].to_list() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert set(r["r_score"].to_list()) == {1} and set(r["f_score"].to_list()) == {1}
    single = cm.rfm(orders.head(1), AS_OF)
    assert single.select("r_score", "f_score", "m_score").row(0) == (1, 1, 1)
    assert single["segment"].cast(pl.Utf8).item() == "Lost"
    assert cm.rfm(orders.head(0), AS_OF).height == 0


def test_segment_map_covers_every_score_combination():
    assert len(cm._SEGMENT_OF) == 25 and set(cm._SEGMENT_OF.values()) == set(cm.SEGMENTS)


def test_timezone_aware_input_gives_same_result():
    orders = _orders().with_columns(pl.col("created_at").dt.replace_time_zone("UTC"))
    assert cm.summary(orders, AS_OF)["ltv"] == pytest.approx(275.0)
