"""Customer analytics on real databases: history in, the same numbers out as the
domain computes on the simulated frame; merges are audited; sellers are scoped."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import select

from qoima.db import tables as t
from qoima.analytics.domain import customer_metrics as cm
from qoima.platform.errors import NotFound
from qoima.analytics.domain.simulate import simulate_history
from qoima.analytics.services import snapshots as analytics
from qoima.analytics.services.data import load_orders
from qoima.customers.services import merge_duplicates
from qoima.analytics.services.history import insert_history
from qoima.analytics.services.refresh import refresh_due
from qoima.analytics.services.snapshots import CustomerQuery
from qoima.platform.unit_of_work import UnitOfWork, utcnow


@pytest.fixture
def history(world):
    end = utcnow().replace(microsecond=0) - timedelta(days=1)
    sim = simulate_history(n_customers=300, start=end - timedelta(days=700), end=end, effect_days=3, seed=5)
    insert_history(world.engine, world.sellers["seller-a"], sim.customers, sim.orders)
    refresh_due(world.engine)  # the worker's analytics pass: the service reads its snapshot
    return sim


def test_loaded_frame_matches_simulation(world, history):
    frame = load_orders(world.engine, world.sellers["seller-a"])
    sim = history.orders.filter(pl.col("cancelled") | pl.col("shipped_at").is_not_null())  # finished orders only
    assert frame.height == sim.height
    assert frame["customer_id"].n_unique() == sim["customer_id"].n_unique()
    assert frame.filter(pl.col("cancelled"))["order_id"].len() == sim.filter(pl.col("cancelled")).height
    assert frame["amount"].sum() == pytest.approx(sim["amount"].sum(), rel=1e-9)
    # shipped-same-day and error flags survive the round trip through the database
    assert frame["shipped_same_day"].sum() == sim["shipped_same_day"].sum()
    assert frame["fulfillment_error"].sum() == sim["fulfillment_error"].fill_null(False).sum()
    assert frame["return_days"].drop_nulls().len() == sim["return_days"].drop_nulls().len()


def test_overview_numbers_equal_domain_on_same_data(world, history):
    p = world.principals["seller_a"]
    out = analytics.overview(world.engine, p)
    frame = load_orders(world.engine, world.sellers["seller-a"])
    expected = cm.summary(frame, datetime.fromisoformat(out["as_of"]), churn_horizon=out["summary"]["churn_horizon_days"])
    assert out["seller"] == "seller-a"
    for key in ("customers", "orders", "revenue", "repeat_customers", "churned_customers"):
        assert out["summary"][key] == expected[key]
    assert sum(s["customers"] for s in out["segments"]) == out["summary"]["customers"]
    assert out["cohorts"]["values"][0][0] == pytest.approx(1.0)  # everybody orders in their first month


def test_customer_list_predictions_and_export(world, history):
    p = world.principals["seller_a"]
    rows, total = analytics.customers(world.engine, p, CustomerQuery(limit=None))
    buyers = history.orders.filter(~pl.col("cancelled") & pl.col("shipped_at").is_not_null())["customer_id"].n_unique()  # a cancelled-only customer has no RFM
    assert total == buyers
    assert all(0 <= r["p_alive"] <= 1 for r in rows)
    assert rows == sorted(rows, key=lambda r: -(r["clv"] or 0))
    at_risk, n = analytics.customers(world.engine, p, CustomerQuery(segment="At risk", limit=None))
    assert n == len(at_risk) and all(r["segment"] == "At risk" for r in at_risk)
    body, media = analytics.export(at_risk, "csv")
    text = body.decode("utf-8-sig").splitlines()
    assert media.startswith("text/csv") and len(text) == n + 1 and text[0].startswith("customer_id,name,phone")


def test_seller_cannot_read_another_sellers_analytics(world, history):
    with pytest.raises(NotFound):
        analytics.overview(world.engine, world.principals["seller_b"], "seller-a")
    rows, total = analytics.customers(world.engine, world.principals["seller_b"])
    assert total == 0 and rows == []


def test_merge_duplicates_is_audited(world):
    from qoima.customers.services import find_or_create_customer
    from qoima.customers.schemas import CustomerIn
    sid = world.sellers["seller-a"]
    now = utcnow()
    with UnitOfWork(world.engine) as uow:
        a = find_or_create_customer(uow, sid, CustomerIn(name="A", phone="+77011112233"), "t", now)
        b = find_or_create_customer(uow, sid, CustomerIn(name="A2", email="a@example.kz"), "t", now)
        # a later order carries both contacts: it matches A by phone, and B stays a duplicate by e-mail
        c = find_or_create_customer(uow, sid, CustomerIn(name="A", phone="+77011112233", email="a@example.kz"), "t", now)
        assert c == a and a != b
        preview = merge_duplicates(uow, sid, "tester", dry_run=True)
        assert preview == [{"kept_id": a, "merged_id": b, "reason": "same e-mail"}]
        merge_duplicates(uow, sid, "tester")
        uow.commit()
    with UnitOfWork(world.engine) as uow:
        audit = uow.execute(select(t.customer_merges)).all()
        assert len(audit) == 1 and audit[0].actor == "tester" and audit[0].snapshot["name"] == "A2"
        assert uow.execute(select(t.customers.c.merged_into_id).where(t.customers.c.id == b)).scalar() == a
        assert merge_duplicates(uow, sid, "tester") == []  # idempotent


def test_churn_horizon_is_configurable(world, history):
    p = world.principals["seller_a"]
    derived = analytics.overview(world.engine, p)["summary"]
    short = analytics.overview(world.engine, p, churn_horizon_days=30)["summary"]
    assert short["churn_horizon_days"] == 30 and derived["churn_horizon_days"] != 30
    # a shorter horizon makes every customer churned under the longer one churned too, and more eligible
    assert short["churned_customers"] > derived["churned_customers"]
    assert short["churn_eligible_customers"] > derived["churn_eligible_customers"]
