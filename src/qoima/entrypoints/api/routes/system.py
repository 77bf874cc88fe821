from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import select, text

from qoima.db import tables as t
from qoima.orders.services import queries as order_queries
from qoima.platform import outbox
from qoima.platform.errors import NotFound
from qoima.platform.unit_of_work import UnitOfWork
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep
from qoima.entrypoints.api.errors import COMMON, problems
from qoima.platform.bounds import Id64, SafeQuery

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(engine: EngineDep):
    with engine.connect() as conn:
        conn.execute(text("select 1"))
    return {"status": "ok", "database": engine.dialect.name}


@router.get("/metrics", summary="Prometheus metrics: requests, orders by state, outbox backlog",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
                       401: {**problems(401)[401],
                             "description": "QOIMA_METRICS_TOKEN is set and the Bearer token is missing or wrong"}})
def metrics(request: Request):
    token = request.app.state.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise HTTPException(401, "/metrics needs 'Authorization: Bearer <QOIMA_METRICS_TOKEN>'",
                                headers={"WWW-Authenticate": "Bearer"})
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/kpis", tags=["orders"], summary="SLA: due today, at risk, late, same-day ship rate",
            responses=COMMON)
def kpis(engine: EngineDep, principal: PrincipalDep, days: Annotated[int, Query(ge=1, le=365)] = 30):
    with UnitOfWork(engine) as uow:
        return order_queries.kpis(uow, principal, days=days)


@router.get("/api/v1/outbox", tags=["system"], summary="Outbox events (failed ones stay visible)",
            responses=COMMON)
def outbox_list(engine: EngineDep, principal: PrincipalDep, status: SafeQuery | None = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50):
    principal.require("admin", "manager")
    q = select(t.outbox).order_by(t.outbox.c.id.desc()).limit(limit)
    if status:
        q = q.where(t.outbox.c.status == status)
    with UnitOfWork(engine) as uow:
        items = [dict(r._mapping) for r in uow.execute(q)]
    return {"items": items, "backlog": outbox.backlog(engine)}


@router.post("/api/v1/outbox/{event_id}/replay", tags=["system"], responses={**COMMON, **problems(404, 409)})
def outbox_replay(event_id: Id64, engine: EngineDep, principal: PrincipalDep):
    principal.require("admin")
    if not outbox.replay(engine, event_id):
        raise NotFound("no dead outbox event #%(id)s (only dead events are replayed)", field="event_id",
                       code="outbox.no_dead_event", id=event_id)
    return {"ok": True}
