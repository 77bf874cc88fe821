"""Customer analytics for a seller, as the pages and the API read them: metrics,
cohorts, RFM, predictive CLV and the fulfillment-to-loyalty report.

Nothing heavy runs here. The worker computes a snapshot of every kind after the
seller's orders change (debounced: analytics/services/refresh.py) and stores it
(table analytics_snapshots); a request reads the newest snapshot and does only
the cheap part itself: the churn figures for another horizon, the segment /
search / sort / page of the customer list, the verdict texts in the viewer's
language. Every answer says when its snapshot was computed (`computed_at`) and
whether one exists yet (`status`: "ready", or "computing" until the worker's
first pass for the seller; a seller without any order is "ready" and empty)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
from sqlalchemy import Engine, select

from qoima.analytics.domain import customer_metrics as cm
from qoima.analytics.domain.loyalty_effect import render_verdict
from qoima.analytics.services import compute, store
from qoima.analytics.services.compute import HORIZON_DAYS  # noqa: F401 - shown by the customer list page
from qoima.analytics.services.data import to_analytics_frame, SCHEMA
from qoima.db import tables as t
from qoima.platform import export_safety
from qoima.platform.access import Principal
from qoima.platform.errors import NotFound, ValidationError
from qoima.platform.unit_of_work import UnitOfWork, utcnow
from qoima.platform.bounds import rfc3339

READY, COMPUTING = "ready", "computing"


def seller_for(engine: Engine, principal: Principal, code: str | None) -> tuple[int, str]:
    """A seller user always gets their own seller; staff name one (default: the first)."""
    with UnitOfWork(engine) as uow:
        q = select(t.sellers.c.id, t.sellers.c.code)
        if not principal.is_staff:
            row = uow.execute(q.where(t.sellers.c.id == principal.seller_id)).one()
            if code and code != row.code:
                raise NotFound("seller '%(seller)s' not found", field="seller", code="catalog.seller_not_found", seller=code)
            return row.id, row.code
        row = uow.execute(q.where(t.sellers.c.code == code) if code else q.order_by(t.sellers.c.id).limit(1)).first()
    if row is None:
        raise ValidationError("unknown seller '%(seller)s'", field="seller", code="catalog.unknown_seller", seller=code)
    return row.id, row.code


@dataclass(frozen=True)
class _Read:
    status: str
    computed_at: datetime | None
    data: dict | None


def _iso(moment: datetime | None) -> str | None:
    """RFC 3339 with the offset, to the second (the database keeps naive UTC)."""
    return rfc3339(moment.replace(microsecond=0)) if moment else None


def _empty(kind: str) -> dict:
    """The snapshot of a seller without orders (nothing to fit: no worker pass needed)."""
    orders = to_analytics_frame(pl.DataFrame(schema=SCHEMA))
    contacts = pl.DataFrame(schema=compute.CONTACT_SCHEMA)
    return compute.compute_all(orders, contacts, utcnow())[kind]


def _read(engine: Engine, seller_id: int, kind: str) -> _Read:
    with engine.connect() as conn:
        snap = store.latest(conn, seller_id, kind)
        if snap is not None:
            return _Read(READY, snap.computed_at, snap.data)
        if not store.has_orders(conn, seller_id):
            return _Read(READY, None, _empty(kind))
    return _Read(COMPUTING, None, None)


def _meta(code: str, read: _Read) -> dict:
    return {"seller": code, "status": read.status, "computed_at": _iso(read.computed_at)}


def overview(engine: Engine, principal: Principal, seller: str | None = None,
             churn_horizon_days: int | None = None) -> dict:
    """`churn_horizon_days` overrides the seller's configured horizon (sellers.churn_horizon_days),
    which otherwise overrides the one derived from the seller's own inter-purchase times. The
    churn figures for a horizon other than the derived one come from the snapshot's per-day ages."""
    seller_id, code = seller_for(engine, principal, seller)
    read = _read(engine, seller_id, "overview")
    if read.data is None:
        return {**_meta(code, read), "as_of": None, "summary": None, "churn_horizon_configured": False,
                "cohorts": None, "ltv_curve": [], "segments": []}
    with engine.connect() as conn:
        configured = churn_horizon_days or conn.execute(
            select(t.sellers.c.churn_horizon_days).where(t.sellers.c.id == seller_id)).scalar()
    d = read.data
    summary = dict(d["summary"])
    if configured and float(configured) != summary["churn_horizon_days"]:
        summary.update(cm.churn_at(d["churn_ages"], int(configured)))
    return {**_meta(code, read), "as_of": d["as_of"], "summary": summary,
            "churn_horizon_configured": configured is not None, "cohorts": d["cohorts"],
            "ltv_curve": d["ltv_curve"], "segments": d["segments"]}


def clv_model(engine: Engine, principal: Principal, seller: str | None = None) -> dict:
    seller_id, code = seller_for(engine, principal, seller)
    read = _read(engine, seller_id, "clv")
    return {**(read.data or {"enough_data": False}), **_meta(code, read)}


# --- the customer list ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CustomerQuery:
    """What a customer list request asks: seller (staff), segment, search, sort and page (limit None: all)."""
    seller: str | None = None
    segment: str | None = None
    q: str | None = None
    sort: str = "clv"
    limit: int | None = 50
    offset: int = 0


@dataclass(frozen=True)
class CustomerList:
    rows: list[dict]
    total: int
    seller: str
    status: str
    computed_at: datetime | None = None
    meta: dict = field(default_factory=dict)


_tables: OrderedDict = OrderedDict()  # (database, snapshot id, computed_at) -> decoded customer table
_tables_lock = threading.Lock()
_TABLES_KEPT = 8


def _customer_table(engine: Engine, seller_id: int) -> tuple[_Read, pl.DataFrame | None]:
    """The newest customer table, decoded once per snapshot and process (snapshots never change)."""
    with engine.connect() as conn:
        head = store.latest_head(conn, seller_id, "customers")
        if head is None:
            if store.has_orders(conn, seller_id):
                return _Read(COMPUTING, None, None), None
            return _Read(READY, None, {}), pl.DataFrame(schema=compute.CUSTOMER_SCHEMA)
        snapshot_id, h = head
        key = (engine.url.render_as_string(hide_password=True), snapshot_id, h.computed_at, h.source_version)
        with _tables_lock:
            table = _tables.get(key)
            if table is not None:
                _tables.move_to_end(key)
        if table is None:
            table = compute.decode_table(store.data_of(conn, snapshot_id))
            with _tables_lock:
                _tables[key] = table
                while len(_tables) > _TABLES_KEPT:
                    _tables.popitem(last=False)
    return _Read(READY, h.computed_at, {}), table


def customer_list(engine: Engine, principal: Principal, query: CustomerQuery = CustomerQuery()) -> CustomerList:
    """Per-customer RFM, segment and predictions with contact details, filtered, sorted and paged."""
    seller_id, code = seller_for(engine, principal, query.seller)
    read, table = _customer_table(engine, seller_id)
    if table is None or table.height == 0:
        return CustomerList([], 0, code, read.status, read.computed_at, _meta(code, read))
    if query.sort not in table.columns:
        raise ValidationError("cannot sort by '%(sort)s'", field="sort", code="analytics.bad_sort", sort=query.sort)
    if query.segment:
        table = table.filter(pl.col("segment") == query.segment)
    if query.q:
        needle = query.q.lower()
        table = table.filter(pl.col("name").str.to_lowercase().str.contains(needle, literal=True)
                             | pl.col("phone").fill_null("").str.contains(needle, literal=True))
    table = table.sort(query.sort, descending=query.sort not in ("recency_days", "name"), nulls_last=True)
    page = table.slice(query.offset, query.limit) if query.limit else table
    return CustomerList(page.to_dicts(), table.height, code, read.status, read.computed_at, _meta(code, read))


def customers(engine: Engine, principal: Principal, query: CustomerQuery = CustomerQuery()) -> tuple[list[dict], int]:
    """(rows of the page, total matching): `customer_list` without the snapshot details."""
    found = customer_list(engine, principal, query)
    return found.rows, found.total


# --- the loyalty report -----------------------------------------------------------------------------------------

def loyalty(engine: Engine, principal: Principal, seller: str | None = None, lang: str = "en") -> dict:
    seller_id, code = seller_for(engine, principal, seller)
    read = _read(engine, seller_id, "loyalty")
    if read.data is None:
        return {**_meta(code, read), "orders": 0, "comparisons": [], "options": {}}
    out = {**read.data, **_meta(code, read)}
    out["comparisons"] = [{**c, "verdict_text": render_verdict(c["verdict"], lang)} for c in read.data["comparisons"]]
    return out


def export(rows: list[dict], fmt: str) -> tuple[bytes, str]:
    """Rows as CSV or XLSX bytes (with the media type); text cells cannot run as formulas."""
    frame = pl.DataFrame(rows) if rows else pl.DataFrame({"customer_id": []})
    if fmt == "csv":
        return export_safety.csv_bytes(frame), export_safety.CSV_MEDIA
    if fmt == "xlsx":
        return export_safety.xlsx_bytes(frame.columns, frame.iter_rows(), "customers"), export_safety.XLSX_MEDIA
    raise ValidationError("format must be csv or xlsx", field="format", code="analytics.bad_format")
