"""The history simulator: shapes, types, reproducibility, configured rates."""

from datetime import datetime

import polars as pl
import pytest

from qoima.analytics.domain.simulate import HistoryParams, simulate_history

ORDER_SCHEMA = {
    "order_id": pl.Int64, "customer_id": pl.Int64, "created_at": pl.Datetime("us"), "amount": pl.Float64,
    "shipped_same_day": pl.Boolean, "delivered_on_time": pl.Boolean, "fulfillment_error": pl.Boolean,
    "return_days": pl.Float64, "cancelled": pl.Boolean, "promised_at": pl.Datetime("us"),
    "shipped_at": pl.Datetime("us"), "delivered_at": pl.Datetime("us"), "lines": pl.Int64,
}


@pytest.fixture(scope="module")
def history():
    return simulate_history(n_customers=20_000, seed=4)


def test_shapes_and_types(history):
    c, o = history.customers, history.orders
    assert c.height == 20_000
    assert dict(c.schema) == {"customer_id": pl.Int64, "name": pl.Utf8, "phone": pl.Utf8, "email": pl.Utf8,
                              "language": pl.Utf8}
    assert dict(o.schema) == ORDER_SCHEMA
    assert o["order_id"].to_list() == list(range(1, o.height + 1))
    assert o["created_at"].is_sorted()
    assert o["customer_id"].n_unique() == 20_000  # everyone ordered at least once
    assert o["created_at"].min() >= datetime(2023, 1, 1) and o["created_at"].max() < datetime(2025, 1, 1)
    assert history.as_of == datetime(2025, 1, 1)


def test_customers_contacts(history):
    c = history.customers
    assert c["phone"].str.contains(r"^\+77\d{9}$").all()
    assert c["phone"].n_unique() == c.height
    assert set(c["language"].unique()) == {"ru", "kk", "en"}
    assert c.filter(pl.col("language") == "ru").height / c.height == pytest.approx(0.55, abs=0.03)
    emails = c["email"].drop_nulls()
    assert emails.str.contains(r"^[a-z]+\.[a-z]+\d+@[a-z.]+$").all()
    assert emails.len() / c.height == pytest.approx(0.7, abs=0.03)


def test_rates_roughly_as_configured(history):
    o = history.orders
    shipped = o.filter(pl.col("shipped_same_day").is_not_null())
    assert o["cancelled"].mean() == pytest.approx(0.02, abs=0.005)
    assert shipped["shipped_same_day"].mean() == pytest.approx(0.80, abs=0.01)
    assert o["delivered_on_time"].drop_nulls().mean() == pytest.approx(0.90, abs=0.01)
    assert shipped["fulfillment_error"].mean() == pytest.approx(0.01, abs=0.003)
    delivered = o.filter(pl.col("delivered_at").is_not_null())
    assert delivered["return_days"].is_not_null().mean() == pytest.approx(0.055, abs=0.01)
    assert o["return_days"].mean() == pytest.approx(4.0, abs=0.3)
    assert o["amount"].mean() == pytest.approx(15_000, rel=0.1)
    assert o["amount"].min() >= 500
    per_customer = o.height / history.customers.height
    assert 2 < per_customer < 8


def test_fulfillment_timestamps_are_consistent(history):
    o = history.orders
    cancelled = o.filter(pl.col("cancelled"))
    assert cancelled["shipped_same_day"].null_count() == cancelled.height
    assert cancelled["delivered_on_time"].null_count() == cancelled.height
    live = o.filter(pl.col("delivered_at").is_not_null())
    assert (live["shipped_at"] >= live["created_at"]).all()
    assert (live["delivered_at"] >= live["shipped_at"]).all()
    assert ((live["delivered_at"] <= live["promised_at"]) == live["delivered_on_time"]).all()
    same_day = o.filter(pl.col("shipped_same_day"))
    assert ((same_day["shipped_at"] - same_day["created_at"]).dt.total_hours() < 9).all()


def test_reproducible_with_seed():
    a = simulate_history(n_customers=2_000, seed=9)
    b = simulate_history(n_customers=2_000, seed=9)
    c = simulate_history(n_customers=2_000, seed=10)
    assert a.orders.equals(b.orders) and a.customers.equals(b.customers)
    assert not a.orders.equals(c.orders)


def test_target_order_count_and_params_object():
    h = simulate_history(HistoryParams(n_customers=10_000, n_orders=50_000, seed=1))
    assert h.orders.height == pytest.approx(50_000, rel=0.05)
    assert h.rate_scale > 1
    short = simulate_history(n_customers=1_000, start=datetime(2024, 1, 1), end=datetime(2024, 7, 1), seed=1)
    assert short.orders["created_at"].max() < datetime(2024, 7, 1)
    with pytest.raises(ValueError):
        simulate_history(n_customers=10, start=datetime(2024, 1, 1), end=datetime(2023, 1, 1))


def test_error_dropout_parameter_reduces_repeat_after_errors():
    def repeat_after_error(extra):
        o = simulate_history(n_customers=20_000, seed=5, error_dropout=extra, error_rate=0.05).orders
        o = o.sort("customer_id", "created_at").with_columns(
            (pl.col("customer_id").shift(-1) == pl.col("customer_id")).fill_null(False).alias("again"))
        return o.filter(pl.col("fulfillment_error"))["again"].mean()
    assert repeat_after_error(0.8) < repeat_after_error(0.0) - 0.2
