"""The heavy half of the customer analytics: everything a snapshot holds, computed
in one go from a seller's orders (KPIs, cohorts, LTV curve, RFM segments, the
BG/NBD + Gamma-Gamma fit with its holdout check, the per-customer table, the
fulfillment-to-loyalty report). Only the worker's refresh pass calls this
(analytics/services/refresh.py); pages and the API read the stored result
(analytics/services/snapshots.py) and do the cheap filtering per request.

`RUNS` counts, per process, how many times each heavy step ran: the tests use it
to prove that a page view never refits a model."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict
from datetime import date, datetime

import numpy as np
import polars as pl

from qoima.analytics.domain import clv, customer_metrics as cm
from qoima.analytics.domain.loyalty_effect import loyalty_report
from qoima.platform.bounds import rfc3339

HORIZON_DAYS = 90           # expected purchases / CLV horizon shown to sellers
HOLDOUT_SHARE = 0.25        # last quarter of the history is the holdout of the calibration check
KINDS = ("overview", "clv", "customers", "loyalty")
RUNS: Counter = Counter()   # heavy step -> times run in this process ("fit", "snapshot")

CUSTOMER_COLUMNS = ("customer_id", "name", "phone", "email", "frequency", "monetary", "recency_days", "r_score",
                    "f_score", "m_score", "segment", "p_alive", "expected_purchases", "clv", "first_order_at",
                    "last_order_at")
CUSTOMER_SCHEMA = {"customer_id": pl.Int64, "name": pl.Utf8, "phone": pl.Utf8, "email": pl.Utf8,
                   "frequency": pl.Int64, "monetary": pl.Float64, "recency_days": pl.Int64, "r_score": pl.Int8,
                   "f_score": pl.Int8, "m_score": pl.Int8, "segment": pl.Utf8, "p_alive": pl.Float64,
                   "expected_purchases": pl.Float64, "clv": pl.Float64, "first_order_at": pl.Datetime("us"),
                   "last_order_at": pl.Datetime("us")}
CONTACT_SCHEMA = {"customer_id": pl.Int64, "name": pl.Utf8, "phone": pl.Utf8, "email": pl.Utf8}


def json_safe(value):
    """Plain JSON: NaN and infinities become null, datetimes ISO strings, numpy scalars Python ones."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return rfc3339(value)  # naive UTC, as the database keeps it: RFC 3339 with the offset
    if isinstance(value, date):
        return value.isoformat()
    return value


def compute_all(orders: pl.DataFrame, contacts: pl.DataFrame, as_of: datetime) -> dict[str, dict]:
    """kind -> JSON-ready data of one snapshot (`KINDS`), all as of the same moment."""
    fit = fit_clv(orders, as_of)
    per_customer = fit.pop("per_customer", None)
    return {"overview": json_safe(overview_data(orders, as_of)), "clv": json_safe(fit),
            "customers": encode_table(customer_table(orders, contacts, per_customer, as_of)),
            "loyalty": json_safe(loyalty_report(orders, as_of).to_dict())}


def overview_data(orders: pl.DataFrame, as_of: datetime) -> dict:
    """KPIs with the churn horizon derived from the seller's own inter-purchase times, plus the
    per-day ages that give the churn figures for any other horizon (`customer_metrics.churn_at`)."""
    horizon = cm.churn_horizon_days(orders, as_of=as_of)
    segments = cm.rfm_segments(cm.rfm(orders, as_of)) if orders.height else pl.DataFrame()
    return {
        "as_of": rfc3339(as_of.replace(microsecond=0)),
        "summary": cm.summary(orders, as_of, churn_horizon=horizon),
        "derived_churn_horizon_days": horizon,
        "churn_ages": cm.churn_ages(orders, as_of),
        "cohorts": cm.cohort_heatmap(cm.cohort_retention(orders, as_of)) if orders.height else None,
        "ltv_curve": cm.ltv_curve(orders, as_of=as_of).to_dicts() if orders.height else [],
        "segments": [{**r, "segment": str(r["segment"])} for r in segments.to_dicts()],
    }


def fit_clv(orders: pl.DataFrame, as_of: datetime) -> dict:
    """BG/NBD + Gamma-Gamma on the whole history (in days), plus a calibration / holdout check."""
    tx = orders.filter(~pl.col("cancelled").fill_null(False)).select(
        "customer_id", pl.col("created_at").alias("date"), "amount")
    if tx.height == 0 or tx["customer_id"].n_unique() < 20:
        return {"enough_data": False}
    RUNS["fit"] += 1
    rfm = clv.summary_from_transactions(tx, observation_end=as_of, unit="days")
    x, t_x, T = (rfm[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    started = time.perf_counter()
    model = clv.fit_bgnbd(x, t_x, T)
    repeat = x > 0
    spend_model = clv.fit_gamma_gamma(x[repeat], rfm["monetary_value"].to_numpy()[repeat]) if repeat.sum() >= 20 else None
    fit_s = time.perf_counter() - started
    scores = clv.score_customers(model, x, t_x, T, horizon=HORIZON_DAYS, monetary=rfm["monetary_value"].to_numpy(),
                                 spend_model=spend_model, periods_per_month=clv.PERIODS_PER_MONTH["days"])
    first, last = tx["date"].min(), as_of
    cal_end = first + (last - first) * (1 - HOLDOUT_SHARE)
    cal = clv.calibration_holdout_summary(tx, calibration_end=cal_end, observation_end=as_of, unit="days")
    cx, ct, cT = (cal[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    cal_model = clv.fit_bgnbd(cx, ct, cT)
    table = clv.calibration_holdout_table(cal_model, cx, ct, cT, cal["frequency_holdout"].to_numpy(),
                                          cal["duration_holdout"].to_numpy())
    nan = np.full(len(x), np.nan)
    per_customer = rfm.select("customer_id").with_columns(
        pl.Series("p_alive", scores.p_alive), pl.Series("expected_purchases", scores.expected_purchases),
        pl.Series("clv", scores.clv if scores.clv is not None else nan))
    return {"enough_data": True, "model": asdict(model), "spend_model": asdict(spend_model) if spend_model else None,
            "fit_seconds": round(fit_s, 3), "horizon_days": HORIZON_DAYS,
            "calibration": {"calibration_end": rfc3339(cal_end.replace(microsecond=0)),
                            "rows": [asdict(r) for r in table]},
            "per_customer": per_customer}


def customer_table(orders: pl.DataFrame, contacts: pl.DataFrame, per_customer: pl.DataFrame | None,
                   as_of: datetime) -> pl.DataFrame:
    """Per-customer RFM, segment and predictions, joined with contact details (`CUSTOMER_COLUMNS`)."""
    if orders.height == 0:
        return pl.DataFrame(schema=CUSTOMER_SCHEMA)
    r = cm.rfm(orders, as_of).with_columns(pl.col("segment").cast(pl.Utf8))
    if per_customer is not None:
        r = r.join(per_customer, on="customer_id", how="left")
    else:
        r = r.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ("p_alive", "expected_purchases", "clv"))
    table = contacts.join(r, on="customer_id", how="inner").select(
        "customer_id", "name", "phone", "email", "frequency", "monetary", "recency_days", "r_score", "f_score",
        "m_score", "segment", pl.col("p_alive").round(4), pl.col("expected_purchases").round(3), pl.col("clv").round(0),
        "first_order_at", "last_order_at")
    return table.with_columns(pl.col(c).fill_nan(None) for c in ("monetary", "p_alive", "expected_purchases", "clv"))


def encode_table(table: pl.DataFrame) -> dict:
    """A frame as columnar JSON (datetimes as ISO strings): {"rows": n, "columns": {name: [values]}}."""
    cols = {}
    for name in CUSTOMER_COLUMNS:
        s = table[name]
        if s.dtype == pl.Datetime("us") or isinstance(s.dtype, pl.Datetime):
            s = s.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f")
        cols[name] = json_safe(s.to_list())
    return {"rows": table.height, "columns": cols}


def decode_table(data: dict) -> pl.DataFrame:
    """`encode_table` undone: the customer table with its column types."""
    cols = data.get("columns") or {}
    if not data.get("rows"):
        return pl.DataFrame(schema=CUSTOMER_SCHEMA)
    raw = {name: cols[name] for name in CUSTOMER_COLUMNS}
    frame = pl.DataFrame({name: values for name, values in raw.items()},
                         schema={n: (pl.Utf8 if isinstance(d, pl.Datetime) else d) for n, d in CUSTOMER_SCHEMA.items()})
    return frame.with_columns(pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%S%.6f", time_unit="us")
                              for c in ("first_order_at", "last_order_at"))
