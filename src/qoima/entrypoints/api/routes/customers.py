from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from qoima.db import tables as t
from qoima.analytics.services import snapshots as analytics
from qoima.customers.services import merge_duplicates
from qoima.platform.unit_of_work import UnitOfWork
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep

router = APIRouter(prefix="/api/v1", tags=["customers"])


@router.get("/customers", summary="Customers with RFM segment, P(alive), expected purchases and CLV")
def customers(engine: EngineDep, principal: PrincipalDep, seller: str | None = None, segment: str | None = None,
              q: str | None = None, sort: str = "clv", limit: Annotated[int, Query(ge=1, le=100_000)] = 50,
              offset: Annotated[int, Query(ge=0)] = 0, format: Literal["json", "csv", "xlsx"] = "json"):
    if format != "json":  # exports take the whole (filtered) list
        rows, _ = analytics.customers(engine, principal, seller, segment, q, sort, limit=None)
        body, media = analytics.export(rows, format)
        name = f"customers-{segment or 'all'}.{format}".replace(" ", "-").lower()
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
    items, total = analytics.customers(engine, principal, seller, segment, q, sort, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/analytics/customers", summary="LTV, repeat rate, churn, cohorts, LTV curve, RFM segments")
def overview(engine: EngineDep, principal: PrincipalDep, seller: str | None = None,
             churn_horizon_days: Annotated[int | None, Query(ge=1, le=3650)] = None):
    return analytics.overview(engine, principal, seller, churn_horizon_days)


@router.get("/analytics/clv", summary="Fitted BG/NBD + Gamma-Gamma and the calibration/holdout check")
def clv(engine: EngineDep, principal: PrincipalDep, seller: str | None = None):
    return analytics.clv_model(engine, principal, seller)


@router.get("/analytics/loyalty", summary="Fulfillment-to-loyalty report with confidence intervals and verdicts")
def loyalty(engine: EngineDep, principal: PrincipalDep, seller: str | None = None,
            lang: Literal["en", "ru"] = "en"):
    return analytics.loyalty(engine, principal, seller, lang)


@router.post("/customers/merge", summary="Merge customers sharing a phone or e-mail (audited)")
def merge(engine: EngineDep, principal: PrincipalDep, seller: str | None = None, dry_run: bool = True):
    principal.require("admin", "manager", "seller")
    seller_id, code = analytics.seller_for(engine, principal, seller)
    with UnitOfWork(engine) as uow:
        merged = merge_duplicates(uow, seller_id, principal.email, dry_run=dry_run)
        if not dry_run:
            uow.commit()
    return {"seller": code, "dry_run": dry_run, "merges": merged}


@router.get("/customers/merges", summary="Audit of customer merges")
def merges(engine: EngineDep, principal: PrincipalDep, seller: str | None = None):
    seller_id, code = analytics.seller_for(engine, principal, seller)
    with UnitOfWork(engine) as uow:
        rows = uow.execute(select(t.customer_merges).where(t.customer_merges.c.seller_id == seller_id)
                           .order_by(t.customer_merges.c.id.desc())).all()
    return {"seller": code, "items": [dict(r._mapping) for r in rows]}
