"""Customer analytics for a seller: metrics, cohorts, RFM, predictive CLV and the
fulfillment-to-loyalty report, computed from the seller's own orders.

Results are cached per seller and invalidated when the seller's orders change
(count and last update), so the pages stay fast while the worker keeps running."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from datetime import datetime

import numpy as np
import polars as pl
from sqlalchemy import Engine, func, select

from qoima.db import tables as t
from qoima.analytics.domain import clv, customer_metrics as cm
from qoima.platform.errors import ValidationError
from qoima.analytics.domain.loyalty_effect import loyalty_report, render_verdict
from qoima.platform.access import Principal
from qoima.analytics.services.data import load_orders
from qoima.platform.unit_of_work import UnitOfWork, utcnow

HORIZON_DAYS = 90           # expected purchases / CLV horizon shown to sellers
HOLDOUT_SHARE = 0.25        # last quarter of the history is the holdout of the calibration check
_cache: dict = {}
_lock = threading.Lock()


def seller_for(engine: Engine, principal: Principal, code: str | None) -> tuple[int, str]:
    """A seller user always gets their own seller; staff name one (default: the first)."""
    with UnitOfWork(engine) as uow:
        q = select(t.sellers.c.id, t.sellers.c.code)
        if not principal.is_staff:
            row = uow.execute(q.where(t.sellers.c.id == principal.seller_id)).one()
            if code and code != row.code:
                from qoima.platform.errors import NotFound
                raise NotFound(f"seller '{code}' not found", field="seller")
            return row.id, row.code
        row = uow.execute(q.where(t.sellers.c.code == code) if code else q.order_by(t.sellers.c.id).limit(1)).first()
    if row is None:
        raise ValidationError(f"unknown seller '{code}'", field="seller")
    return row.id, row.code


def _version(engine: Engine, seller_id: int):
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count(), func.max(t.orders.c.updated_at))
                                  .where(t.orders.c.seller_id == seller_id)).one())


def _cached(engine: Engine, seller_id: int, name: str, compute):
    key = (id(engine), seller_id, name)
    version = _version(engine, seller_id)
    with _lock:
        hit = _cache.get(key)
        if hit and hit[0] == version:
            return hit[1]
    value = compute()
    with _lock:
        _cache[key] = (version, value)
    return value


def orders_frame(engine: Engine, seller_id: int) -> pl.DataFrame:
    return _cached(engine, seller_id, "orders", lambda: load_orders(engine, seller_id))


def overview(engine: Engine, principal: Principal, seller: str | None = None,
             churn_horizon_days: int | None = None) -> dict:
    """`churn_horizon_days` overrides the seller's configured horizon (sellers.churn_horizon_days),
    which otherwise overrides the one derived from the seller's own inter-purchase times."""
    seller_id, code = seller_for(engine, principal, seller)

    def compute():
        orders, as_of = orders_frame(engine, seller_id), utcnow()
        with UnitOfWork(engine) as uow:
            configured = churn_horizon_days or uow.execute(
                select(t.sellers.c.churn_horizon_days).where(t.sellers.c.id == seller_id)).scalar()
        horizon = configured or cm.churn_horizon_days(orders, as_of=as_of)
        segments = cm.rfm_segments(cm.rfm(orders, as_of)) if orders.height else pl.DataFrame()
        return {
            "seller": code, "as_of": as_of.isoformat(timespec="seconds"),
            "summary": cm.summary(orders, as_of, churn_horizon=horizon),
            "churn_horizon_configured": configured is not None,
            "cohorts": cm.cohort_heatmap(cm.cohort_retention(orders, as_of)) if orders.height else None,
            "ltv_curve": cm.ltv_curve(orders, as_of=as_of).to_dicts() if orders.height else [],
            "segments": [{**r, "segment": str(r["segment"])} for r in segments.to_dicts()],
        }
    return _cached(engine, seller_id, f"overview:{churn_horizon_days}", compute)


def _fit(orders: pl.DataFrame, as_of: datetime) -> dict:
    """BG/NBD + Gamma-Gamma on the whole history (in days), plus a calibration / holdout check."""
    tx = orders.filter(~pl.col("cancelled").fill_null(False)).select(
        "customer_id", pl.col("created_at").alias("date"), "amount")
    if tx.height == 0 or tx["customer_id"].n_unique() < 20:
        return {"enough_data": False}
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
    per_customer = rfm.select("customer_id", "frequency", "recency", "T", "monetary_value").with_columns(
        pl.Series("p_alive", scores.p_alive), pl.Series("expected_purchases", scores.expected_purchases),
        pl.Series("expected_spend", scores.expected_spend if scores.expected_spend is not None else np.full(len(x), np.nan)),
        pl.Series("clv", scores.clv if scores.clv is not None else np.full(len(x), np.nan)))
    return {"enough_data": True, "model": asdict(model), "spend_model": asdict(spend_model) if spend_model else None,
            "fit_seconds": round(fit_s, 3), "horizon_days": HORIZON_DAYS,
            "calibration": {"calibration_end": cal_end.isoformat(timespec="seconds"),
                            "rows": [asdict(r) for r in table]},
            "per_customer": per_customer}


def clv_model(engine: Engine, principal: Principal, seller: str | None = None) -> dict:
    seller_id, code = seller_for(engine, principal, seller)
    fit = _cached(engine, seller_id, "clv", lambda: _fit(orders_frame(engine, seller_id), utcnow()))
    return {k: v for k, v in fit.items() if k != "per_customer"} | {"seller": code}


def customers(engine: Engine, principal: Principal, seller: str | None = None, segment: str | None = None,
              q: str | None = None, sort: str = "clv", limit: int | None = 50, offset: int = 0) -> tuple[list[dict], int]:
    """Per-customer RFM, segment and predictions, joined with contact details."""
    seller_id, _ = seller_for(engine, principal, seller)
    orders = orders_frame(engine, seller_id)
    if orders.height == 0:
        return [], 0
    table = _cached(engine, seller_id, "customer_table", lambda: _customer_table(engine, seller_id, orders))
    if segment:
        table = table.filter(pl.col("segment") == segment)
    if q:
        needle = q.lower()
        table = table.filter(pl.col("name").str.to_lowercase().str.contains(needle, literal=True)
                             | pl.col("phone").fill_null("").str.contains(needle, literal=True))
    if sort not in table.columns:
        raise ValidationError(f"cannot sort by '{sort}'", field="sort")
    table = table.sort(sort, descending=sort not in ("recency_days", "name"), nulls_last=True)
    total = table.height
    page = table.slice(offset, limit) if limit else table
    return page.to_dicts(), total


def _customer_table(engine: Engine, seller_id: int, orders: pl.DataFrame) -> pl.DataFrame:
    as_of = utcnow()
    r = cm.rfm(orders, as_of).with_columns(pl.col("segment").cast(pl.Utf8))
    fit = _cached(engine, seller_id, "clv", lambda: _fit(orders, as_of))
    if fit.get("enough_data"):
        r = r.join(fit["per_customer"].select("customer_id", "p_alive", "expected_purchases", "clv"),
                   on="customer_id", how="left")
    else:
        r = r.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ("p_alive", "expected_purchases", "clv"))
    with engine.connect() as conn:
        rows = conn.execute(select(t.customers.c.id, t.customers.c.name, t.customers.c.phone, t.customers.c.email)
                            .where(t.customers.c.seller_id == seller_id, t.customers.c.merged_into_id.is_(None))).all()
    contacts = pl.DataFrame([tuple(x) for x in rows], schema={"customer_id": pl.Int64, "name": pl.Utf8,
                                                             "phone": pl.Utf8, "email": pl.Utf8}, orient="row")
    return contacts.join(r, on="customer_id", how="inner").select(
        "customer_id", "name", "phone", "email", "frequency", "monetary", "recency_days", "r_score", "f_score",
        "m_score", "segment", pl.col("p_alive").round(4), pl.col("expected_purchases").round(3), pl.col("clv").round(0),
        "first_order_at", "last_order_at")


def loyalty(engine: Engine, principal: Principal, seller: str | None = None, lang: str = "en") -> dict:
    seller_id, code = seller_for(engine, principal, seller)
    report = _cached(engine, seller_id, "loyalty",
                     lambda: loyalty_report(orders_frame(engine, seller_id), utcnow()).to_dict())
    out = {**report, "seller": code}
    out["comparisons"] = [{**c, "verdict_text": render_verdict(c["verdict"], lang)} for c in report["comparisons"]]
    return out


def export(rows: list[dict], fmt: str) -> tuple[bytes, str]:
    """Rows as CSV or XLSX bytes (with the media type)."""
    import io
    frame = pl.DataFrame(rows) if rows else pl.DataFrame({"customer_id": []})
    if fmt == "csv":
        return frame.write_csv().encode("utf-8-sig"), "text/csv; charset=utf-8"
    if fmt == "xlsx":
        from openpyxl import Workbook
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("customers")
        ws.append(frame.columns)
        for row in frame.iter_rows():
            ws.append([v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in row])
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    raise ValidationError("format must be csv or xlsx", field="format")
