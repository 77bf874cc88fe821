from __future__ import annotations

from typing import Annotated

import orjson

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from qoima.orders.services import express_intake, lifecycle, queries as order_queries, resourcing
from qoima.orders.domain.status import Status
from qoima.orders.schemas import OrderIn
from qoima.platform.unit_of_work import UnitOfWork, run
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep
from qoima.entrypoints.api.errors import COMMON, problems
from qoima.platform.bounds import Id64, Offset, SafeQuery, Text, rfc3339

router = APIRouter(prefix="/api/v1/orders", tags=["orders"], responses=COMMON)


@router.post("", status_code=201, summary="Create an order (idempotent per seller, channel and external_id)",
             responses=problems(409))
async def create(data: OrderIn, engine: EngineDep, principal: PrincipalDep,
                 idempotency_key: Annotated[str | None, Header(max_length=200)] = None):
    order, created = await express_intake.submit(engine, principal, data, idempotency_key)
    headers = {"Location": f"/api/v1/orders/{order['id']}"}
    if not created:
        headers["Idempotent-Replay"] = "true"
    # the summary is plain JSON but for two datetimes: skip the generic encoder on this hot path
    body = {**order, "ship_by": _iso(order["ship_by"]), "received_at": _iso(order["received_at"])}
    return _Json(body, status_code=201 if created else 200, headers=headers)


class _Json(JSONResponse):
    """JSONResponse's bytes (compact, UTF-8) written by orjson: the answer of every order taken in."""

    def render(self, content) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def _iso(moment):
    return rfc3339(moment) if moment is not None else None


@router.get("")
def list_(engine: EngineDep, principal: PrincipalDep, status: SafeQuery | None = None, seller: SafeQuery | None = None,
          channel: SafeQuery | None = None, warehouse: SafeQuery | None = None, q: SafeQuery | None = None,
          late: bool | None = None,
          limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0):
    with UnitOfWork(engine) as uow:
        items, total = order_queries.list_orders(uow, principal, status=status, seller=seller, channel=channel,
                                                 warehouse=warehouse, q=q, late=late, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/{order_id}", responses=problems(404))
def get(order_id: Id64, engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        return order_queries.get_order(uow, principal, order_id)


class TransitionIn(BaseModel):
    status: Text(20) = Field(json_schema_extra={"enum": [s.value for s in Status]})
    reason: Text(500, multiline=True) = ""


class ResourceIn(BaseModel):
    reason: Text(500, multiline=True) = Field("", description="why, for the timeline (optional)")


@router.post("/{order_id}/transitions", summary="Move the order to another status (409 when not allowed)",
             description="`allocated` and `backordered` are set by sourcing only: use `/resource` instead. "
                         "`picking` needs every line fully reserved (409 names the short SKUs); on hold and "
                         "exception resume only where the order was.", responses=problems(404, 409))
def move(order_id: Id64, data: TransitionIn, engine: EngineDep, principal: PrincipalDep):
    run(engine, lambda uow: lifecycle.transition(uow, principal, order_id, data.status, data.reason))
    with UnitOfWork(engine) as uow:
        return order_queries.get_order(uow, principal, order_id)


@router.post("/{order_id}/cancel", responses=problems(404, 409))
def cancel(order_id: Id64, engine: EngineDep, principal: PrincipalDep,
           reason: Annotated[Text(500, multiline=True), Query()] = ""):
    return move(order_id, TransitionIn(status="cancelled", reason=reason or "cancelled"), engine, principal)


@router.post("/{order_id}/resource", summary="Re-source the order: release what it holds and run sourcing again",
             description="Staff only. Allowed from new, backordered and allocated, and from on_hold / exception "
                         "while the goods are not picked yet. The order ends `allocated` or `backordered`; the new "
                         "sourcing reason is stored and written to the timeline.",
             responses=problems(404, 409))
def resource(order_id: Id64, engine: EngineDep, principal: PrincipalDep, data: ResourceIn | None = None):
    with UnitOfWork(engine) as uow:
        resourcing.resource(uow, principal, order_id, data.reason if data else "")
        uow.commit()
    with UnitOfWork(engine) as uow:
        return order_queries.get_order(uow, principal, order_id)
