from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from qoima.stock.services import inventory, operations
from qoima.catalog.services import resolve_seller
from qoima.platform.idempotency import HEADER, MAX_KEY_LENGTH, Outcome
from qoima.stock.schemas import AdjustIn, MoveIn, ReceiptIn, TransferIn, TransferReceiveIn
from qoima.platform.unit_of_work import UnitOfWork
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep
from qoima.entrypoints.api.errors import COMMON, problems
from qoima.platform.bounds import Id64, Offset, SafeQuery

router = APIRouter(prefix="/api/v1", tags=["stock"], responses=COMMON)

KEY_DOC = ("Makes a retry safe: a request repeated with the same key and body is done once and answers what the "
           "first one answered (with `Idempotent-Replay: true`); the same key with another body is refused (422); "
           "while the first request with a key is still running, a retry waits for it or gets 409. Keys are kept "
           "24 hours per caller and operation. Up to 200 visible ASCII characters, e.g. a UUID.")
IdempotencyKey = Annotated[str | None, Header(alias=HEADER, min_length=1, max_length=MAX_KEY_LENGTH,
                                              description=KEY_DOC)]
REPLAY_DOC = {"description": "A replay: the stored response of an earlier request with the same Idempotency-Key",
              "headers": {"Idempotent-Replay": {"description": "true on a replayed response",
                                                "schema": {"type": "string"}}}}


def _answer(outcome: Outcome) -> JSONResponse:
    headers = {"Idempotent-Replay": "true"} if outcome.replayed else None
    return JSONResponse(outcome.response, status_code=outcome.status_code, headers=headers)


@router.get("/stock", summary="On hand, reserved and available per SKU per location")
def stock(engine: EngineDep, principal: PrincipalDep, seller: SafeQuery | None = None,
          warehouse: SafeQuery | None = None, sku: SafeQuery | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
          offset: Offset = 0):
    with UnitOfWork(engine) as uow:
        seller_id = resolve_seller(uow, principal, seller).id if seller else None
        items = inventory.stock_levels(uow, principal, seller_id=seller_id, warehouse=warehouse, sku=sku,
                                       limit=limit, offset=offset)
    return {"items": items, "limit": limit, "offset": offset}


@router.post("/receipts", status_code=201, summary="Book a supplier delivery (expected vs received)",
             responses={201: REPLAY_DOC, **problems(409)})
def receipt(data: ReceiptIn, engine: EngineDep, principal: PrincipalDep, idempotency_key: IdempotencyKey = None):
    return _answer(operations.receive(engine, principal, data, idempotency_key))


@router.post("/transfers", status_code=201, summary="Send stock to another warehouse (in transit)",
             responses={201: REPLAY_DOC, **problems(409)})
def transfer(data: TransferIn, engine: EngineDep, principal: PrincipalDep, idempotency_key: IdempotencyKey = None):
    return _answer(operations.start_transfer(engine, principal, data, idempotency_key))


@router.post("/transfers/{transfer_id}/receive", summary="Receive a transfer at its destination",
             responses={200: REPLAY_DOC, **problems(404, 409)})
def transfer_receive(transfer_id: Id64, data: TransferReceiveIn, engine: EngineDep, principal: PrincipalDep,
                     idempotency_key: IdempotencyKey = None):
    return _answer(operations.receive_transfer(engine, principal, transfer_id, data, idempotency_key))


@router.post("/moves", status_code=201, summary="Move stock between locations of one warehouse (put-away)",
             responses={201: REPLAY_DOC, **problems(409)})
def move(data: MoveIn, engine: EngineDep, principal: PrincipalDep, idempotency_key: IdempotencyKey = None):
    return _answer(operations.move(engine, principal, data, idempotency_key))


@router.post("/adjustments", status_code=201, summary="Correct a count (+/-) or scrap, with a reason",
             responses={201: REPLAY_DOC, **problems(409)})
def adjust(data: AdjustIn, engine: EngineDep, principal: PrincipalDep, idempotency_key: IdempotencyKey = None):
    return _answer(operations.adjust(engine, principal, data, idempotency_key))
