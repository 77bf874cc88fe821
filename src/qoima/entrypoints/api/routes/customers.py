from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from qoima.db import tables as t
from qoima.analytics.services import snapshots as analytics
from qoima.customers.services import merge_duplicates
from qoima.platform.unit_of_work import UnitOfWork
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep
from qoima.entrypoints.api.errors import COMMON
from qoima.entrypoints.web import i18n
from qoima.platform.bounds import Offset, SafeQuery

router = APIRouter(prefix="/api/v1", tags=["customers"], responses=COMMON)


EXPORTS = {200: {"description": "The list as JSON, or with `format=csv` / `format=xlsx` the file to download",
                "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}},
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                                {"schema": {"type": "string", "format": "binary"}}}}}
RETRY_AFTER_S = "5"  # the worker's analytics pass looks for sellers without a snapshot every few seconds


def _status_headers(response: Response, status: str) -> None:
    """Until the worker's first snapshot of the seller: say so, and when to ask again."""
    if status == analytics.COMPUTING:
        response.headers["Retry-After"] = RETRY_AFTER_S


@router.get("/customers", summary="Customers with RFM segment, P(alive), expected purchases and CLV",
            responses=EXPORTS)
def customers(engine: EngineDep, principal: PrincipalDep, response: Response, seller: SafeQuery | None = None,
              segment: SafeQuery | None = None, q: SafeQuery | None = None, sort: SafeQuery = "clv",
              limit: Annotated[int, Query(ge=1, le=100_000)] = 50, offset: Offset = 0,
              format: Literal["json", "csv", "xlsx"] = "json",
              lang: Annotated[Literal["ru", "en", "kk", "uk"] | None, Query(
                  description="exports only: column names and segment names in this language (the web "
                              "console's export); without it the columns keep their stable English machine "
                              "names (customer_id, segment...) and segments their English names")] = None):
    """Read from the newest analytics snapshot (`computed_at`); `status` is "computing" (and the list
    empty) until the worker has computed the seller's first snapshot."""
    query = analytics.CustomerQuery(seller, segment, q, sort, limit, offset)
    if format != "json":  # exports take the whole (filtered) list
        found = analytics.customer_list(engine, principal, replace(query, limit=None, offset=0))
        rows = i18n.localized_rows(found.rows, lang) if lang else found.rows
        body, media = analytics.export(rows, format)
        name = f"customers-{segment or 'all'}.{format}".replace(" ", "-").lower()
        headers = {"Content-Disposition": f'attachment; filename="{name}"', "X-Analytics-Status": found.status}
        if found.computed_at:
            headers["X-Analytics-Computed-At"] = found.computed_at.isoformat(timespec="seconds")
        if found.status == analytics.COMPUTING:
            headers["Retry-After"] = RETRY_AFTER_S
        return Response(body, media_type=media, headers=headers)
    found = analytics.customer_list(engine, principal, query)
    _status_headers(response, found.status)
    return {"items": found.rows, "total": found.total, "limit": limit, "offset": offset, **found.meta}


@router.get("/analytics/customers", summary="LTV, repeat rate, churn, cohorts, LTV curve, RFM segments")
def overview(engine: EngineDep, principal: PrincipalDep, response: Response, seller: SafeQuery | None = None,
             churn_horizon_days: Annotated[int | None, Query(ge=1, le=3650)] = None):
    """From the newest analytics snapshot; `churn_horizon_days` is applied per request."""
    out = analytics.overview(engine, principal, seller, churn_horizon_days)
    _status_headers(response, out["status"])
    return out


@router.get("/analytics/clv", summary="Fitted BG/NBD + Gamma-Gamma and the calibration/holdout check")
def clv(engine: EngineDep, principal: PrincipalDep, response: Response, seller: SafeQuery | None = None):
    """The fit of the newest analytics snapshot (the worker fits; a request never does)."""
    out = analytics.clv_model(engine, principal, seller)
    _status_headers(response, out["status"])
    return out


@router.get("/analytics/loyalty", summary="Fulfillment-to-loyalty report with confidence intervals and verdicts")
def loyalty(engine: EngineDep, principal: PrincipalDep, response: Response, seller: SafeQuery | None = None,
            lang: Literal["en", "ru", "kk", "uk"] = "en"):
    """From the newest analytics snapshot; the verdicts are worded per request in `lang`."""
    out = analytics.loyalty(engine, principal, seller, lang)
    _status_headers(response, out["status"])
    return out


@router.post("/customers/merge", summary="Merge customers sharing a phone or e-mail (audited)")
def merge(engine: EngineDep, principal: PrincipalDep, seller: SafeQuery | None = None, dry_run: bool = True):
    principal.require("admin", "manager", "seller")
    seller_id, code = analytics.seller_for(engine, principal, seller)
    with UnitOfWork(engine) as uow:
        merged = merge_duplicates(uow, seller_id, principal.email, dry_run=dry_run)
        if not dry_run:
            uow.commit()
    return {"seller": code, "dry_run": dry_run, "merges": merged}


@router.get("/customers/merges", summary="Audit of customer merges")
def merges(engine: EngineDep, principal: PrincipalDep, seller: SafeQuery | None = None):
    seller_id, code = analytics.seller_for(engine, principal, seller)
    with UnitOfWork(engine) as uow:
        rows = uow.execute(select(t.customer_merges).where(t.customer_merges.c.seller_id == seller_id)
                           .order_by(t.customer_merges.c.id.desc())).all()
    return {"seller": code, "items": [dict(r._mapping) for r in rows]}
