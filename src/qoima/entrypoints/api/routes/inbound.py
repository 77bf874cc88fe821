"""Inbound deliveries (ASN): announced by a seller (or staff for a seller) as JSON
or as a CSV/XLSX file of lines, received by the warehouse in one or more
receipts, closed or cancelled (stock/services/asn.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from qoima.catalog.services import resolve_seller
from qoima.entrypoints import importers
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep
from qoima.entrypoints.api.errors import COMMON, problems
from qoima.entrypoints.api.routes.stock import REPLAY_DOC, IdempotencyKey, _answer
from qoima.platform.bounds import Id64, Offset, SafeQuery, Text
from qoima.platform.imports import Upload
from qoima.platform.unit_of_work import UnitOfWork, run
from qoima.stock.domain import asn as rules
from qoima.stock.schemas import AsnIn, AsnReceiveIn, Code, Reference, Supplier
from qoima.stock.services import asn, receipts

router = APIRouter(prefix="/api/v1", tags=["inbound"], responses=COMMON)
Status = Annotated[str | None, Query(pattern="^(" + "|".join(rules.STATUSES) + ")$")]


@router.post("/inbound", status_code=201, summary="Announce an inbound delivery (ASN): supplier, day, lines",
             responses={201: REPLAY_DOC, **problems(409)})
def announce(data: AsnIn, engine: EngineDep, principal: PrincipalDep, idempotency_key: IdempotencyKey = None):
    return _answer(asn.announce_once(engine, principal, data, idempotency_key))


@router.post("/inbound/import", status_code=201, summary="Announce a delivery whose lines are a CSV/XLSX file",
             description="Multipart: `file` with the columns `sku`, `expected` (the header is line 1) and the "
                         "delivery's fields. All or nothing: a bad row and nothing is announced; the 422 lists "
                         "every bad row as `{line, field, message}` in `errors`.",
             responses={201: REPLAY_DOC, **problems(409)})
def announce_file(request: Request, engine: EngineDep, principal: PrincipalDep,
                  file: Annotated[UploadFile, File(description="a .csv or .xlsx file: sku, expected")],
                  warehouse: Annotated[Text(40, min_length=1), Form()],
                  seller: Annotated[Code | None, Form()] = None,
                  supplier: Annotated[Supplier, Form()] = "", reference: Annotated[Reference, Form()] = "",
                  expected_at: Annotated[Text(10), Form(description="YYYY-MM-DD, 2000-01-01 .. a year ahead",
                                                                     json_schema_extra={"format": "date"})] = "",
                  idempotency_key: IdempotencyKey = None):
    header = asn.header_of(seller=seller or None, warehouse=warehouse, supplier=supplier, reference=reference,
                           expected_at=expected_at.strip() or None)
    data = importers.read_upload(file, request.app.state.settings, "stock")
    return _answer(asn.import_csv(engine, principal, header, Upload(data, file.filename, file.content_type),
                                  idempotency_key))


@router.get("/inbound", summary="Inbound deliveries, newest first (a seller sees its own)")
def deliveries(engine: EngineDep, principal: PrincipalDep, seller: SafeQuery | None = None,
               warehouse: SafeQuery | None = None, status: Status = None,
               q: Annotated[SafeQuery | None, Query(description="part of a SKU (any case), supplier or reference")] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0):
    with UnitOfWork(engine) as uow:
        seller_id = resolve_seller(uow, principal, seller).id if seller else None
        items, total = asn.list_deliveries(uow, principal, asn.AsnFilter(
            seller_id=seller_id, warehouse=warehouse, status=status, q=q, limit=limit, offset=offset))
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/inbound/{asn_id}", summary="One inbound delivery: lines expected vs received, its receipts",
            responses=problems(404))
def delivery(asn_id: Id64, engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        return asn.get(uow, principal, asn_id)


@router.post("/inbound/{asn_id}/receipts", status_code=201, summary="Receive goods against a delivery (staff)",
             description="Any number of lines, by SKU (any letter case) or barcode; products the delivery did not "
                         "announce are over-delivery lines. `close: true` closes the delivery afterwards.",
             responses={201: REPLAY_DOC, **problems(404, 409)})
def receive(asn_id: Id64, data: AsnReceiveIn, engine: EngineDep, principal: PrincipalDep,
            idempotency_key: IdempotencyKey = None):
    return _answer(asn.receive_once(engine, principal, asn_id, data, idempotency_key))


@router.post("/inbound/{asn_id}/close", summary="Close a delivery: no more receipts (staff)",
             responses=problems(404, 409))
def close(asn_id: Id64, engine: EngineDep, principal: PrincipalDep):
    return run(engine, lambda uow: asn.close(uow, principal, asn_id))


@router.post("/inbound/{asn_id}/cancel", summary="Cancel a delivery nothing was received against",
             responses=problems(404, 409))
def cancel(asn_id: Id64, engine: EngineDep, principal: PrincipalDep):
    return run(engine, lambda uow: asn.cancel(uow, principal, asn_id))


@router.get("/receipts/{receipt_id}", summary="One receipt: lines, who, when, ledger movements, its delivery",
            responses=problems(404))
def receipt(receipt_id: Id64, engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        return receipts.receipt_detail(uow, principal, receipt_id)
