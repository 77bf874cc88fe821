"""The warehouse floor: waves, pick tasks and scans, packing, labels, courier handover, settings.

A scan's answer names what was wrong in the picker's language (`lang` query parameter, else the user's
language); `code` and `params` stay stable for machines. Every scan carries an operation id (`op_id`):
a retry with the same id gets the first answer back and changes nothing."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from qoima.platform.bounds import rfc3339
from qoima.db import tables as t
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep
from qoima.entrypoints.api.errors import COMMON, problems
from qoima.entrypoints.web import i18n
from qoima.floor import schemas as fs
from qoima.floor.domain.boxes import Box
from qoima.floor.services import boxes, documents, exceptions, handover, layouts, packing, picking, waves
from qoima.platform.bounds import Id64, Text
from qoima.platform.idempotency import Outcome
from qoima.platform.unit_of_work import UnitOfWork, run

router = APIRouter(prefix="/api/v1/floor", tags=["floor"], responses=COMMON)
Lang = Annotated[Text(5) | None, Query(description="language of the answer's message (ru, kk, uk, en)")]


def language(engine, principal, lang: str | None) -> str:
    chosen = i18n.normalize(lang) if lang else None
    if chosen:
        return chosen
    if principal.user_id is not None:
        with UnitOfWork(engine) as uow:
            user_lang = uow.execute(select(t.users.c.language).where(t.users.c.id == principal.user_id)).scalar()
        return i18n.normalize(user_lang) or i18n.DEFAULT_LANGUAGE
    return i18n.DEFAULT_LANGUAGE


def translate(answer, lang: str):
    """The answer with its message in `lang` (message: an English template with %(name)s params)."""
    if isinstance(answer, dict):
        if "message" in answer and isinstance(answer.get("params"), dict):
            text = i18n.get_translations(lang).gettext(answer["message"])
            try:
                answer = {**answer, "message": text % answer["params"]}
            except (KeyError, ValueError, TypeError):
                answer = {**answer, "message": answer["message"] % answer["params"]}
        return {k: translate(v, lang) if k != "params" else v for k, v in answer.items()}
    if isinstance(answer, list):
        return [translate(v, lang) for v in answer]
    return answer


def _answer(outcome: Outcome, lang: str) -> JSONResponse:
    headers = {"Idempotent-Replay": "true"} if outcome.replayed else None
    return JSONResponse(translate(outcome.response, lang), status_code=outcome.status_code, headers=headers)


def _default(value):
    """Times as every API answer gives them (RFC 3339 with the offset); anything else as text."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _plain(value):
    return json.loads(json.dumps(value, default=_default))


def _json(value, status_code: int = 200) -> JSONResponse:
    return JSONResponse(_plain(value), status_code=status_code)


# --- waves ----------------------------------------------------------------------------------------------------

@router.get("/waves", summary="Shipments waiting for a wave (by ship-by and carrier) and recent waves",
            responses=problems(404))
def list_waves(engine: EngineDep, principal: PrincipalDep, warehouse: Annotated[Text(20), Query()]):
    with UnitOfWork(engine) as uow:
        wh = layouts.warehouse_row(uow, warehouse)
        return _json({"warehouse": wh.code,
                      "waiting": [g.__dict__ for g in waves.groups(uow, wh.id)],
                      "waves": waves.wave_progress(uow, wh.id)})


@router.post("/waves", status_code=201, summary="Release a wave: pick tasks with the shortest walks",
             responses=problems(404, 409))
def release_wave(data: fs.ReleaseIn, engine: EngineDep, principal: PrincipalDep):
    req = waves.ReleaseRequest(warehouse=data.warehouse, ship_by=data.ship_by, carrier=data.carrier, limit=data.limit)
    result = run(engine, lambda uow: waves.release(uow, principal, req))
    return _json(result, status_code=201)


# --- picking --------------------------------------------------------------------------------------------------

@router.post("/tasks/next", summary="Take the next pick task (or the one in progress)", responses=problems(404))
def next_task(data: fs.NextTaskIn, engine: EngineDep, principal: PrincipalDep, lang: Lang = None):
    def use_case(uow):
        wid = layouts.warehouse_row(uow, data.warehouse).id if data.warehouse else None
        return picking.next_task(uow, principal, wid)
    task = run(engine, use_case)
    return _json({"task": translate(task, language(engine, principal, lang))})


@router.get("/tasks/{task_id}", summary="A pick task: its stops and what to scan now", responses=problems(404))
def get_task(task_id: Id64, engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        return _json(picking.task_view(uow, task_id))


@router.post("/tasks/{task_id}/scans", summary="A scan at the current stop (location, then item)",
             responses=problems(404, 409))
def pick_scan(task_id: Id64, data: fs.PickScanIn, engine: EngineDep, principal: PrincipalDep, lang: Lang = None):
    outcome = picking.scan(engine, principal, task_id, picking.ScanIn(data.op_id, data.raw, data.quantity))
    return _answer(outcome, language(engine, principal, lang))


@router.post("/tasks/{task_id}/undo", summary="Undo the last scan", responses=problems(404, 409))
def pick_undo(task_id: Id64, data: fs.OpIn, engine: EngineDep, principal: PrincipalDep, lang: Lang = None):
    return _answer(picking.undo(engine, principal, task_id, data.op_id), language(engine, principal, lang))


@router.post("/tasks/{task_id}/short", summary="Short pick: fewer units on the shelf than the stop wants",
             responses=problems(404, 409))
def pick_short(task_id: Id64, data: fs.ShortIn, engine: EngineDep, principal: PrincipalDep, lang: Lang = None):
    return _answer(picking.short(engine, principal, task_id, data.op_id, data.found),
                   language(engine, principal, lang))


# --- exceptions -----------------------------------------------------------------------------------------------

@router.get("/exceptions/{task_id}", summary="A floor exception (short pick) with its order", responses=problems(404))
def get_exception(task_id: Id64, engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        return _json(exceptions.exception_view(uow, principal, task_id))


@router.post("/exceptions/{task_id}/resolve", summary="Resolve a floor exception: re-source, cancel the order, close",
             responses=problems(404, 409, 422))
def resolve_exception(task_id: Id64, data: fs.ResolveIn, engine: EngineDep, principal: PrincipalDep,
                      lang: Lang = None):
    outcome = exceptions.resolve(engine, principal, task_id, exceptions.ResolveIn(data.op_id, data.action, data.note))
    return _answer(Outcome(outcome.status_code, _plain(outcome.response), outcome.replayed),
                   language(engine, principal, lang))


# --- settings -------------------------------------------------------------------------------------------------

@router.get("/settings/{warehouse}", summary="A warehouse's floor settings: layout, cart, auto release",
            responses=problems(404))
def get_settings(warehouse: Text(20), engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        wh = layouts.warehouse_row(uow, warehouse)
        return _json({"warehouse": wh.code, **layouts.settings_of(uow, wh).__dict__})


@router.put("/settings/{warehouse}", summary="Change a warehouse's floor settings", responses=problems(404))
def put_settings(warehouse: Text(20), data: fs.FloorSettingsIn, engine: EngineDep, principal: PrincipalDep):
    def use_case(uow):
        wh = layouts.warehouse_row(uow, warehouse)
        layouts.save_settings(uow, wh.id, layouts.FloorSettings(**{**data.model_dump(),
                                                                    "cross_aisles": tuple(data.cross_aisles)}))
        return {"warehouse": wh.code, **layouts.settings_of(uow, layouts.warehouse_row(uow, warehouse)).__dict__}
    return _json(run(engine, use_case))


@router.get("/boxes", summary="The box sizes packing suggests from")
def list_boxes(engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        return _json({"items": boxes.list_boxes(uow)})


@router.put("/boxes/{code}", summary="Create or change a box size", responses=problems(404))
def put_box(code: Text(20, min_length=1), data: fs.BoxIn, engine: EngineDep, principal: PrincipalDep):
    box = Box(code, data.length_mm, data.width_mm, data.height_mm, data.max_weight_g)
    run(engine, lambda uow: boxes.save_box(uow, box, data.active))
    with UnitOfWork(engine) as uow:
        return _json({"items": boxes.list_boxes(uow)})


# --- packing --------------------------------------------------------------------------------------------------

@router.get("/pack", summary="Open the packing of a scanned tote (T<task>-<tote>) or order", responses=problems(404, 409))
def open_pack(engine: EngineDep, principal: PrincipalDep, code: Annotated[fs.ScanText, Query(min_length=1)],
              warehouse: Annotated[Text(20) | None, Query()] = None):
    with UnitOfWork(engine) as uow:
        found = packing.find_order(uow, principal, code)
        return _json(packing.view(uow, principal, found.order_id, warehouse, found.shipment_id))


@router.post("/pack/{order_id}/scans", summary="Scan an item into the parcel", responses=problems(404, 409))
def pack_scan(order_id: Id64, data: fs.PackScanIn, engine: EngineDep, principal: PrincipalDep, lang: Lang = None):
    where = packing.Where(order_id, data.warehouse)
    return _answer(packing.scan(engine, principal, where, data.op_id, data.raw), language(engine, principal, lang))


@router.post("/pack/{order_id}/close", summary="Close the packing of the order's shipment: parcels, tracking numbers; "
             "the order is packed once every shipment of it is", responses=problems(404, 409))
def pack_close(order_id: Id64, data: fs.PackCloseIn, engine: EngineDep, principal: PrincipalDep, lang: Lang = None):
    specs = [packing.ParcelSpec(p.weight_g, p.box_code, p.length_mm, p.width_mm, p.height_mm) for p in data.parcels]
    where = packing.Where(order_id, data.warehouse)
    return _answer(packing.close(engine, principal, where, data.op_id, specs), language(engine, principal, lang))


@router.get("/parcels/{parcel_id}/label.pdf", summary="The parcel's shipping label (PDF); a reprint is the same",
            response_class=Response, responses=problems(404))
def label_pdf(parcel_id: Id64, engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        return Response(documents.label_pdf(uow, principal, parcel_id), media_type="application/pdf")


@router.get("/parcels/{parcel_id}/label.zpl", summary="The parcel's shipping label for thermal printers (ZPL)",
            response_class=Response, responses=problems(404))
def label_zpl(parcel_id: Id64, engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        return Response(documents.label_zpl(uow, principal, parcel_id), media_type="application/zpl")


@router.get("/printer-font.zpl", summary="The label font for thermal printers: send it to each printer once (ZPL ~DY, "
            "DejaVu Sans as E:DEJAVU.TTF, which prints Cyrillic and Kazakh names)", response_class=Response)
def printer_font(principal: PrincipalDep):
    principal.require("admin", "manager", "worker")
    return Response(documents.printer_font(), media_type="application/zpl",
                    headers={"Content-Disposition": 'attachment; filename="qoima-printer-font.zpl"'})


@router.get("/orders/{order_id}/slip.pdf", summary="The order's packing slip (PDF)", response_class=Response,
            responses=problems(404))
def slip_pdf(order_id: Id64, engine: EngineDep, principal: PrincipalDep, lang: Lang = None,
             warehouse: Annotated[Text(20) | None, Query(description="the shipment from this warehouse only")] = None):
    chosen = language(engine, principal, lang)
    with UnitOfWork(engine) as uow:
        return Response(documents.slip_pdf(uow, principal, order_id, chosen, warehouse), media_type="application/pdf")


# --- handover -------------------------------------------------------------------------------------------------

@router.post("/manifests", summary="The open manifest of a carrier's pickup (made when there is none)",
             responses=problems(404))
def open_manifest(data: fs.ManifestIn, engine: EngineDep, principal: PrincipalDep):
    return _json(run(engine, lambda uow: handover.open_manifest(uow, principal, data.warehouse, data.carrier)))


@router.get("/manifests/{manifest_id}", summary="A manifest: scanned and awaited parcels", responses=problems(404))
def get_manifest(manifest_id: Id64, engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        return _json(handover.view(uow, manifest_id))


@router.post("/manifests/{manifest_id}/scans", summary="Scan a parcel's label onto the manifest",
             responses=problems(404, 409))
def manifest_scan(manifest_id: Id64, data: fs.ManifestScanIn, engine: EngineDep, principal: PrincipalDep,
                  lang: Lang = None):
    return _answer(handover.scan(engine, principal, manifest_id, data.op_id, data.raw),
                   language(engine, principal, lang))


@router.post("/manifests/{manifest_id}/close", summary="Close: the parcels' orders are shipped, missing ones listed",
             responses=problems(404, 409))
def manifest_close(manifest_id: Id64, data: fs.OpIn, engine: EngineDep, principal: PrincipalDep, lang: Lang = None):
    return _answer(handover.close(engine, principal, manifest_id, data.op_id), language(engine, principal, lang))


@router.get("/manifests/{manifest_id}/manifest.pdf", summary="The manifest as PDF", response_class=Response,
            responses=problems(404))
def manifest_pdf(manifest_id: Id64, engine: EngineDep, principal: PrincipalDep, lang: Lang = None):
    chosen = language(engine, principal, lang)
    with UnitOfWork(engine) as uow:
        return Response(documents.manifest_pdf(uow, manifest_id, chosen), media_type="application/pdf")
