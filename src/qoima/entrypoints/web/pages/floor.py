"""The warehouse floor pages: the scanner pages (picking, packing, handover: mobile-first, one task
at a time, driven by /static/floor.js against the floor API with the session's CSRF header), the
waves page of the shift lead, the floor settings (layout, cart, auto release, box sizes) and the
floor board."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from pydantic import ValidationError as PydanticError

from qoima.entrypoints.web import lookups
from qoima.entrypoints.web.common import CsrfDep, StaffDep, Web, page_router
from qoima.floor.schemas import FloorSettingsIn
from qoima.floor.services import layouts, waves
from qoima.platform.bounds import SafeQuery
from qoima.platform.errors import DomainError

router = page_router()


def _warehouse(web: Web, uow, code: str | None):
    whs = lookups.warehouses(uow)
    chosen = code if code and any(w["code"] == code for w in whs) else (whs[0]["code"] if whs else "")
    return whs, chosen


@router.get("/floor/scan")
def scan_page(web: StaffDep, warehouse: SafeQuery | None = None):
    with web.uow() as uow:
        whs, chosen = _warehouse(web, uow, warehouse)
    return web.render("floor_scan.html", warehouses=whs, warehouse=chosen)


@router.get("/floor/waves")
def waves_page(web: StaffDep, warehouse: SafeQuery | None = None):
    with web.uow() as uow:
        whs, chosen = _warehouse(web, uow, warehouse)
        wh = layouts.warehouse_row(uow, chosen) if chosen else None
        waiting = waves.groups(uow, wh.id) if wh else []
        recent = waves.wave_progress(uow, wh.id) if wh else []
    return web.render("floor_waves.html", warehouses=whs, warehouse=chosen, waiting=waiting, recent=recent)


@router.post("/floor/waves")
def release_page(web: StaffDep, _csrf: CsrfDep, warehouse: Annotated[str, Form(max_length=20)] = "",
                 carrier: Annotated[str, Form(max_length=40)] = ""):
    req = waves.ReleaseRequest(warehouse=warehouse, carrier=carrier or None)
    try:
        result = web.run(lambda uow: waves.release(uow, web.principal, req))
        web.flash("success", web._("Wave released: %(n)s shipment(s), %(tasks)s pick task(s).", n=result["released"],
                                   tasks=sum(len(w["tasks"]) for w in result["waves"])))
        if result["refused"]:
            web.flash("error", web._("Not fully reserved, not released: %(orders)s",
                                     orders=", ".join(x["external_id"] for x in result["refused"])))
    except DomainError as exc:
        web.flash("error", exc.message)
    return web.redirect(f"/floor/waves?warehouse={warehouse}")


def _settings_page(web: Web, warehouse: str | None, error: str | None = None, status: int = 200):
    with web.uow() as uow:
        whs, chosen = _warehouse(web, uow, warehouse)
        wh = layouts.warehouse_row(uow, chosen) if chosen else None
        current = layouts.settings_of(uow, wh) if wh else None
        from qoima.floor.services import boxes
        box_list = boxes.list_boxes(uow)
    return web.render("floor_settings.html", status=status, warehouses=whs, warehouse=chosen, settings=current,
                      boxes=box_list, error=error)


@router.get("/floor/settings")
def settings_page(web: StaffDep, warehouse: SafeQuery | None = None):
    return _settings_page(web, warehouse)


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.replace(";", ",").split(",") if x.strip()]


@router.post("/floor/settings")
def save_settings_page(web: StaffDep, _csrf: CsrfDep, warehouse: Annotated[str, Form(max_length=20)] = "",
                       aisles: Annotated[str, Form(max_length=10)] = "", aisle_length: Annotated[str, Form(max_length=20)] = "",
                       aisle_spacing: Annotated[str, Form(max_length=20)] = "",
                       depot_aisle: Annotated[str, Form(max_length=10)] = "0",
                       cross_aisles: Annotated[str, Form(max_length=300)] = "",
                       cart_capacity: Annotated[str, Form(max_length=10)] = "6",
                       auto_release_minutes: Annotated[str, Form(max_length=10)] = ""):
    try:
        data = FloorSettingsIn(aisles=int(aisles), aisle_length=float(aisle_length), aisle_spacing=float(aisle_spacing),
                               depot_aisle=int(depot_aisle or 0), cross_aisles=_floats(cross_aisles),
                               cart_capacity=int(cart_capacity or 6),
                               auto_release_minutes=int(auto_release_minutes) if auto_release_minutes.strip() else None)
    except (ValueError, PydanticError) as exc:
        field = exc.errors()[0]["loc"][0] if isinstance(exc, PydanticError) else ""
        return _settings_page(web, warehouse, web._("Check the numbers: %(field)s", field=field or "-"), status=422)

    def use_case(uow):
        wh = layouts.warehouse_row(uow, warehouse)
        layouts.save_settings(uow, wh.id, layouts.FloorSettings(**{**data.model_dump(),
                                                                    "cross_aisles": tuple(data.cross_aisles)}))
    try:
        web.run(use_case)
    except DomainError as exc:
        return _settings_page(web, warehouse, exc.message, status=exc.status)
    web.flash("success", web._("Floor settings saved."))
    return web.redirect(f"/floor/settings?warehouse={warehouse}")


@router.post("/floor/boxes")
def save_box_page(web: StaffDep, _csrf: CsrfDep, warehouse: Annotated[str, Form(max_length=20)] = "",
                  code: Annotated[str, Form(max_length=20)] = "", length_mm: Annotated[str, Form(max_length=10)] = "",
                  width_mm: Annotated[str, Form(max_length=10)] = "", height_mm: Annotated[str, Form(max_length=10)] = "",
                  max_weight_g: Annotated[str, Form(max_length=10)] = "", active: Annotated[str, Form(max_length=5)] = ""):
    from qoima.floor.schemas import BoxIn
    from qoima.floor.services import boxes
    try:
        box = BoxIn(code=code.strip(), length_mm=int(length_mm), width_mm=int(width_mm), height_mm=int(height_mm),
                    max_weight_g=int(max_weight_g), active=bool(active))
    except (ValueError, PydanticError) as exc:
        field = exc.errors()[0]["loc"][0] if isinstance(exc, PydanticError) else ""
        return _settings_page(web, warehouse, web._("Check the numbers: %(field)s", field=field or "-"), status=422)
    from qoima.floor.domain.boxes import Box
    size = Box(box.code, box.length_mm, box.width_mm, box.height_mm, box.max_weight_g)
    web.run(lambda uow: boxes.save_box(uow, size, box.active))
    web.flash("success", web._("Box %(code)s saved.", code=box.code.upper()))
    return web.redirect(f"/floor/settings?warehouse={warehouse}")


@router.get("/floor/pack")
def pack_page(web: StaffDep):
    return web.render("floor_pack.html")


@router.get("/floor/handover")
def handover_page(web: StaffDep, warehouse: SafeQuery | None = None):
    with web.uow() as uow:
        whs, chosen = _warehouse(web, uow, warehouse)
    return web.render("floor_handover.html", warehouses=whs, warehouse=chosen,
                      carriers=["courier", "pickup_point", "self_pickup"])


@router.get("/floor")
def board_page(web: StaffDep, warehouse: SafeQuery | None = None):
    from qoima.entrypoints.web import charts, i18n
    from qoima.floor.services import board
    with web.uow() as uow:
        whs, chosen = _warehouse(web, uow, warehouse)
        wh = layouts.warehouse_row(uow, chosen) if chosen else None
        data = board.board(uow, wh.id if wh else None)
    states = list(data["states"])
    chart = charts.bar_chart([web._(i18n.STATUS_LABELS[s]) for s in states],
                             [data["states"][s]["due"] + data["states"][s]["late"] for s in states], horizontal=True,
                             colors=[i18n.STATUS_CHART_COLORS.get(s, "#1c7ed6") for s in states],
                             value_fmt=lambda v: i18n.fmt_number(v, web.lang, 0), width=520,
                             title=web._("Orders on the floor"))
    pickers = charts.bar_chart([p["actor"] for p in data["pickers"]], [p["per_hour"] for p in data["pickers"]],
                               horizontal=True, width=520, title=web._("Lines per hour")) if data["pickers"] else None
    return web.render("floor_board.html", warehouses=whs, warehouse=chosen, b=data, chart=chart, pickers_chart=pickers)


ACTION_LABELS = {"resource": "Re-source the missing units", "cancel": "Cancel the order", "close": "Close with a note"}


@router.get("/floor/exceptions/{task_id}")
def exception_page(web: StaffDep, task_id: int):
    import uuid
    from qoima.floor.services import exceptions
    try:
        with web.uow() as uow:
            x = exceptions.exception_view(uow, web.principal, task_id)
    except DomainError as exc:
        web.flash("error", web.error(exc))
        return web.redirect("/floor")
    return web.render("floor_exception.html", x=x, actions=ACTION_LABELS, op_id=uuid.uuid4().hex)


@router.post("/floor/exceptions/{task_id}")
def resolve_page(web: StaffDep, _csrf: CsrfDep, task_id: int, action: Annotated[str, Form(max_length=20)] = "",
                 note: Annotated[str, Form(max_length=500)] = "", op_id: Annotated[str, Form(max_length=200)] = ""):
    import uuid
    from qoima.floor.services import exceptions
    data = exceptions.ResolveIn(op_id or uuid.uuid4().hex, action, note)
    try:
        exceptions.resolve(web.engine, web.principal, task_id, data)
    except DomainError as exc:
        web.flash("error", web._("The exception was not resolved: %(reason)s", reason=web.error(exc)))
        return web.redirect(f"/floor/exceptions/{task_id}")
    web.flash("success", web._("Exception %(id)s resolved.", id=task_id))
    return web.redirect("/floor")
