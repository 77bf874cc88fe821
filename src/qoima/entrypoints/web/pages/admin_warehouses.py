"""Administration of warehouses (admins edit, managers read) and their locations (admins and managers):
the calendar that sets ship-by (time zone, cut-off, hand-over, working days, holidays) and locations
one by one or in bulk from a pattern such as A-01..20-01..50-1..4 (a preview with the count first)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Form

from qoima.catalog.domain import locations as patterns
from qoima.catalog.services import warehouses as svc
from qoima.entrypoints.web.common import CsrfDep, PageError, Web, WebDep, int_param, page_router
from qoima.entrypoints.web.i18n import N_
from qoima.platform.errors import DomainError, NotFound
from qoima.platform.unit_of_work import utcnow

router = page_router()
WEEKDAYS = [("1", N_("Mon")), ("2", N_("Tue")), ("3", N_("Wed")), ("4", N_("Thu")), ("5", N_("Fri")),
            ("6", N_("Sat")), ("7", N_("Sun"))]
KIND_LABELS = {"storage": N_("Storage"), "receiving": N_("Receiving"), "shipping": N_("Shipping"),
               "returns": N_("Returns"), "quarantine": N_("Quarantine")}
PAGE = 500
SHOWN_SKIPPED = 20

# the refusals of catalog/services/warehouses.py and catalog/domain/locations.py, by code, as the form shows them
MESSAGES = {
    "warehouse.code": N_("Code: 1 to 20 Latin letters, digits, '-' or '_'."),
    "warehouse.code_taken": N_("Code: a warehouse %(value)s already exists."),
    "warehouse.name": N_("Name: required, at most %(max)s characters."),
    "warehouse.city": N_("City: at most %(max)s characters."),
    "warehouse.timezone": N_("Time zone: unknown time zone '%(value)s' (an IANA name such as Asia/Almaty)."),
    "warehouse.time": N_("%(label)s: a time as HH:MM is needed, got '%(value)s'."),
    "warehouse.working_days": N_("Working days: choose at least one."),
    "warehouse.holidays": N_("Holidays: at most %(max)s."),
    "warehouse.holiday_name": N_("Holidays: a holiday's name has at most %(max)s characters."),
    "warehouse.holiday_line": N_("Holidays, line %(line)s: a date as YYYY-MM-DD and a name are needed, got '%(value)s'."),
    "locations.pattern_shape": N_("Pattern: ZONE-AISLES-BAYS[-LEVELS] is needed, e.g. A-01..20-01..50-1..4."),
    "locations.pattern_zone": N_("Pattern: the zone must be 1 to 20 Latin letters or digits, got '%(value)s'."),
    "locations.pattern_part": N_("Pattern: the %(part)s must be a number or a range such as 01..20, got '%(value)s'."),
    "locations.pattern_backwards": N_("Pattern: the %(part)s range %(value)s runs backwards."),
    "locations.pattern_too_many": N_("Pattern: it makes %(count)s locations, at most %(max)s at once."),
    "locations.code_too_long": N_("Pattern: the codes would be longer than %(max)s characters."),
    "locations.bay_width": N_("Bay width: above 0 and at most %(max)s m."),
    "locations.kind": N_("Kind: choose one of the list."),
    "locations.code": N_("Code: required, at most %(max)s characters."),
    "locations.part": N_("%(label)s: at most %(max)s characters."),
    "locations.coordinate": N_("%(label)s: a number between -1000000 and 1000000."),
    "text.control": N_("%(label)s: a control character is not allowed (%(where)s)."),
}
LABELS = {"cutoff_time": N_("Cut-off time"), "handover_time": N_("Courier hand-over time"), "zone": N_("Zone"),
          "aisle": N_("Aisle"), "position": N_("Position"), "level": N_("Level"), "code": N_("Code"),
          "name": N_("Name"), "city": N_("City"), "timezone": N_("Time zone"), "holidays": N_("Holidays")}
PARTS = {"aisle": N_("aisle"), "bay": N_("bay"), "level": N_("level")}


def reason(web: Web, exc: DomainError) -> str:
    """The refusal, translated and naming the field (a code this page does not know: the message as it is)."""
    code = exc.code
    if code not in MESSAGES:
        return web.error(exc)
    params = dict(exc.params)
    label = exc.field or ""
    params["label"] = web._(LABELS[label]) if label in LABELS else label
    if params.get("part") in PARTS:
        params["part"] = web._(PARTS[params["part"]])
    params.setdefault("value", "")
    params.setdefault("max", "")
    params.setdefault("count", "")
    params.setdefault("line", "")
    params.setdefault("where", "")
    return web._(MESSAGES[code], **params)


def _holidays(text: str) -> tuple[tuple[date, str], ...]:
    """One holiday a line: 'YYYY-MM-DD name' (the name may be left out)."""
    found = []
    for n, line in enumerate((text or "").splitlines()[:svc.MAX_HOLIDAYS + 1], start=1):
        line = line.strip()
        if not line:
            continue
        day, _, name = line.partition(" ")
        try:
            found.append((date.fromisoformat(day.strip()), name.strip()))
        except ValueError:
            raise DomainError("bad holiday line", field="holidays", code="warehouse.holiday_line", line=n,
                              value=line[:40]) from None
    return tuple(found)


def _form(code="", name="", city="", timezone="Asia/Almaty", cutoff_time="14:00", handover_time="18:00",
          working_days="12345", holidays="") -> dict:
    return {"code": code, "name": name, "city": city, "timezone": timezone, "cutoff_time": cutoff_time,
            "handover_time": handover_time, "working_days": working_days, "holidays": holidays}


def _form_of(w: dict) -> dict:
    return _form(w["code"], w["name"], w["city"], w["timezone"], w["cutoff_time"], w["handover_time"],
                 w["working_days"], "\n".join(f"{h['day'].isoformat()} {h['name']}".strip() for h in w["holidays"]))


def _page(web: Web, form: dict | None = None, editing: str | None = None, error: str | None = None,
          status: int = 200):
    with web.uow() as uow:
        rows = svc.warehouses(uow)
    if editing is not None and form is None:
        found = [w for w in rows if w["code"] == editing]
        if not found:
            raise PageError(404)
        form = _form_of(found[0])
    return web.render("admin_warehouses.html", status=status, warehouses=rows, form=form or _form(),
                      editing=editing, form_error=error, weekdays=WEEKDAYS, today=utcnow().date())


@router.get("/admin/warehouses")
def warehouses_page(web: WebDep):
    return _page(web)


@router.get("/admin/warehouses/{code}")
def warehouse_page(code: str, web: WebDep):
    return _page(web, editing=code[:20])


def _save(web: Web, editing: str | None, form: dict, days: list[str]):
    form["working_days"] = "".join(d for d, _ in WEEKDAYS if d in days)
    try:
        data = svc.WarehouseData(form["code"], form["name"], form["city"], form["timezone"], form["cutoff_time"],
                                 form["handover_time"], form["working_days"], _holidays(form["holidays"]))
        with web.uow() as uow:
            wid = svc.warehouse_id(uow, editing) if editing is not None else None
            svc.save_warehouse(uow, web.principal, data, wid)
            uow.commit()
    except NotFound:
        raise PageError(404) from None
    except DomainError as exc:
        return _page(web, form, editing, web._("The warehouse was not saved: %(reason)s", reason=reason(web, exc)),
                     422)
    web.flash("success", web._("Warehouse %(code)s saved.", code=form["code"]))
    return web.redirect("/admin/warehouses")


Field = Annotated[str, Form()]


@router.post("/admin/warehouses")
def create_warehouse(web: WebDep, _csrf: CsrfDep, code: Field = "", name: Field = "", city: Field = "",
                     timezone: Field = "", cutoff_time: Field = "", handover_time: Field = "",
                     working_days: Annotated[list[str], Form()] = (), holidays: Field = ""):
    form = _form(code.strip(), name.strip(), city.strip(), timezone.strip(), cutoff_time.strip(),
                 handover_time.strip(), "", holidays)
    return _save(web, None, form, list(working_days))


@router.post("/admin/warehouses/{warehouse}")
def save_warehouse(warehouse: str, web: WebDep, _csrf: CsrfDep, code: Field = "", name: Field = "",
                   city: Field = "", timezone: Field = "", cutoff_time: Field = "", handover_time: Field = "",
                   working_days: Annotated[list[str], Form()] = (), holidays: Field = ""):
    form = _form(code.strip(), name.strip(), city.strip(), timezone.strip(), cutoff_time.strip(),
                 handover_time.strip(), "", holidays)
    return _save(web, warehouse[:20], form, list(working_days))


# --- locations --------------------------------------------------------------------------------------------------

def _locations_page(web: Web, code: str, *, single: dict | None = None, bulk: dict | None = None,
                    preview: dict | None = None, error: str | None = None, status: int = 200):
    page = int_param(web.request.query_params.get("page"), 1, 1)
    with web.uow() as uow:
        try:
            wid = svc.warehouse_id(uow, code)
        except NotFound:
            raise PageError(404) from None
        rows, total = svc.locations(uow, wid, PAGE, (page - 1) * PAGE)
    return web.render("admin_locations.html", status=status, code=code, locations=rows, total=total, page=page,
                      pages=max(1, -(-total // PAGE)), kinds=KIND_LABELS, form_error=error, preview=preview,
                      single=single or {"code": "", "kind": "storage", "zone": "", "aisle": "", "position": "",
                                        "level": "", "x": "0", "y": "0"},
                      bulk=bulk or {"pattern": "", "kind": "storage", "bay_width": "1.0"},
                      max_locations=patterns.MAX_LOCATIONS)


@router.get("/admin/warehouses/{code}/locations")
def locations_page(code: str, web: WebDep):
    return _locations_page(web, code[:20])


def _number(text: str, field: str) -> float:
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        value = float("nan")
    if value != value or abs(value) == float("inf"):
        if field == "bay_width":
            raise DomainError("bay width is not a number", field=field, code="locations.bay_width",
                              max=patterns.MAX_BAY_WIDTH)
        raise DomainError("%(name)s is not a number", field=field, code="locations.coordinate", name=field)
    return value


def _created(web: Web, code: str, result: svc.Created):
    message = web.ngettext("%(num)s location created.", "%(num)s locations created.", result.created)
    if result.skipped:
        shown = ", ".join(result.skipped[:SHOWN_SKIPPED]) + ("…" if len(result.skipped) > SHOWN_SKIPPED else "")
        message += " " + web.ngettext("%(num)s already existed and was skipped: %(codes)s",
                                      "%(num)s already existed and were skipped: %(codes)s",
                                      len(result.skipped), codes=shown)
    web.flash("success", message)
    return web.redirect(f"/admin/warehouses/{code}/locations")


@router.post("/admin/warehouses/{code}/locations")
def create_location(code: str, web: WebDep, _csrf: CsrfDep, location: Field = "", kind: Field = "storage",
                    zone: Field = "", aisle: Field = "", position: Field = "", level: Field = "",
                    x: Field = "0", y: Field = "0"):
    code = code[:20]
    single = {"code": location.strip(), "kind": kind, "zone": zone.strip(), "aisle": aisle.strip(),
              "position": position.strip(), "level": level.strip(), "x": x, "y": y}
    try:
        cell = svc.check_cell(patterns.Cell(single["code"], single["zone"], single["aisle"], single["position"],
                                            single["level"], _number(x or "0", "x"), _number(y or "0", "y")))
        with web.uow() as uow:
            result = svc.create_locations(uow, web.principal, _warehouse(uow, code), [cell], kind)
            uow.commit()
    except DomainError as exc:
        return _locations_page(web, code, single=single, status=422,
                               error=web._("The location was not created: %(reason)s", reason=reason(web, exc)))
    return _created(web, code, result)


def _warehouse(uow, code: str) -> int:
    try:
        return svc.warehouse_id(uow, code)
    except NotFound:
        raise PageError(404) from None


@router.post("/admin/warehouses/{code}/locations/pattern")
def create_from_pattern(code: str, web: WebDep, _csrf: CsrfDep, pattern: Field = "", kind: Field = "storage",
                        bay_width: Field = "1.0", confirm: Field = ""):
    """Without `confirm`: the preview (the count, the first and last codes); with it: create them."""
    code = code[:20]
    bulk = {"pattern": pattern.strip()[:200], "kind": kind, "bay_width": bay_width}
    try:
        parsed = patterns.parse(bulk["pattern"])
        cells = patterns.expand(parsed, _number(bay_width or "1", "bay_width"))
        if kind not in svc.KINDS:
            raise DomainError("bad kind", field="kind", code="locations.kind")
        if not confirm:
            preview = {"count": len(cells), "first": cells[0], "last": cells[-1], "sample": cells[:5]}
            return _locations_page(web, code, bulk=bulk, preview=preview)
        with web.uow() as uow:
            result = svc.create_locations(uow, web.principal, _warehouse(uow, code), cells, kind)
            uow.commit()
    except DomainError as exc:
        return _locations_page(web, code, bulk=bulk, status=422,
                               error=web._("The locations were not created: %(reason)s", reason=reason(web, exc)))
    return _created(web, code, result)
