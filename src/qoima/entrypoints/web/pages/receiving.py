"""Receiving: supplier receipts (/receipts, /receipts/{id}) and inbound deliveries
(ASN: /inbound, /inbound/{id}). A seller announces a delivery (lines typed or a
CSV file); the warehouse receives against it by scanning (a keyboard-wedge scanner
types a barcode or SKU and Enter into the scan box: one unit per scan) or by typing
quantities, sees expected vs received per line before it confirms, and may receive
a delivery in several receipts until it is closed.

Forms keep every typed line when one is refused (the bad line is marked, nothing
is booked); the limits and their messages are stock/domain/asn.py's. "Add line"
works without JavaScript (the form comes back with one more row) and with it
(/static/receiving.js adds the row in place)."""

from __future__ import annotations

from datetime import date
from math import ceil
from typing import Annotated
from uuid import uuid4

from fastapi import File, Form, UploadFile
from pydantic import ValidationError as PydanticError

from qoima.entrypoints.web import lookups
from qoima.entrypoints.web.common import CsrfDep, StaffDep, UserDep, Web, int_param, page_router
from qoima.platform.bounds import Id64, SafeQuery
from qoima.platform.errors import DomainError, RowErrors
from qoima.platform.idempotency import KeyInProgress, KeyReused
from qoima.platform.imports import Upload
from qoima.stock.domain import asn as rules
from qoima.stock.schemas import AsnHeaderIn, AsnIn, AsnReceiveIn, ReceiptIn, ReceiptLineIn
from qoima.stock.services import asn, operations, receipts

router = page_router()
RECEIPTS_PAGE = 20
DELIVERIES_PAGE = 30
BLANK_ROWS = 3
FormList = Annotated[list[str], Form()]
FormText = Annotated[str, Form()]


def new_operation_id() -> str:
    """The client operation id a stock form carries (hidden field `op`): the form sent twice
    (a double click, a resent POST) is booked once."""
    return uuid4().hex


def _said(web: Web, problem: rules.Problem) -> str:
    return web._(problem.template, **problem.params)


def _line_of(field: str | None) -> int | None:
    """0-based line index of a field like lines[3].sku."""
    if field and field.startswith("lines[") and "]" in field:
        try:
            return int(field[6:field.index("]")])
        except ValueError:
            return None
    return None


def _service_error(web: Web, exc: DomainError, filled: list[int]) -> tuple[str, int | None]:
    """A service's refusal as a translated message and the form row (index into all rows) it is about."""
    code = exc.code
    i = _line_of(exc.field)
    row = filled[i] if i is not None and i < len(filled) else None
    line = (row + 1) if row is not None else None
    if code == "stock.unknown_sku" and line:
        return web._("Line %(line)s: unknown SKU or barcode %(sku)s.", line=line, sku=exc.extra.get("sku", "")), row
    if code == "stock.duplicate_sku" and line:
        return web._("Line %(line)s: SKU %(sku)s appears twice.", line=line, sku=exc.extra.get("sku", "")), row
    if code == "stock.nothing_received":
        return web._(rules.NOTHING_RECEIVED), None
    if code == "stock.unknown_warehouse":
        return web._("Choose the warehouse and location."), None
    reason = web.error(exc)
    return (web._("Line %(line)s: %(reason)s", line=line, reason=reason) if line else reason), row


def _pydantic(web: Web, exc: PydanticError) -> str:
    """A schema's refusal (control characters, a code too long), translated and naming the field."""
    return web.invalid(exc)


def _key_error(web: Web, exc: Exception, form: dict) -> str:
    if isinstance(exc, KeyReused):
        form["op"] = new_operation_id()  # the earlier booking stands; sending this form again books a new one
        return web._("this form was already sent with other values and that receipt is booked; "
                     "check the list below before you send it again.")
    return web._("this form is still being booked; wait a moment and reload the page.")


# ---------------------------------------------------------------- receipts

def _receipts_page(web: Web, filters: dict, page: str | None, form: dict | None = None, status: int = 200):
    p = web.principal
    page_no = int_param(page, 1, minimum=1)
    with web.uow() as uow:
        seller_id = lookups.seller_id_by_code(uow, p, filters["seller"])
        if filters["seller"] and seller_id is None:
            items, total = [], 0
        else:
            items, total = receipts.list_receipts(uow, p, receipts.ReceiptFilter(
                seller_id=seller_id, warehouse=filters["warehouse"] or None, sku=filters["q"] or None,
                limit=RECEIPTS_PAGE, offset=(page_no - 1) * RECEIPTS_PAGE))
        sellers = lookups.sellers(uow, p) if p.is_staff else []
        warehouses = lookups.warehouses(uow)
        locations = lookups.locations(uow, kinds=("receiving", "storage")) if p.is_staff else []
    form = form or {"seller": "", "place": "", "supplier": "", "reference": "", "op": new_operation_id(),
                    "lines": [_blank() for _ in range(BLANK_ROWS)], "error": None}
    return web.render("receipts.html", status=status, items=items, total=total, filters=filters, sellers=sellers,
                      warehouses=warehouses, locations=locations, page=page_no,
                      pages=max(1, ceil(total / RECEIPTS_PAGE)), form=form, form_error=form.get("error"))


def _blank() -> dict:
    return {"sku": "", "expected": "", "received": "", "error": None}


@router.get("/receipts")
def receipts_page(web: UserDep, seller: SafeQuery | None = None, warehouse: SafeQuery | None = None,
                  q: SafeQuery | None = None, page: SafeQuery | None = None):
    filters = {"seller": (seller or "") if web.principal.is_staff else "", "warehouse": warehouse or "",
               "q": (q or "").strip()}
    return _receipts_page(web, filters, page)


def _filled(rows: list[dict], *columns: str) -> list[int]:
    return [i for i, r in enumerate(rows) if any((r.get(c) or "").strip() for c in ("sku", *columns))]


def mark_rows(web: Web, rows: list[dict], filled: list[int], problems: list[rules.Problem]) -> list[str]:
    """Translate the problems of the filled rows (their `lines[i]` index the filled rows) to the form's
    own line numbers, mark the first problem of each row on it; returns every message."""
    messages = []
    for problem in problems:
        i = _line_of(problem.field)
        row = filled[i] if i is not None and i < len(filled) else None
        params = dict(problem.params)
        if row is not None:
            params["line"] = row + 1
            if "first" in params:
                params["first"] = filled[params["first"] - 1] + 1
        message = web._(problem.template, **params) if params else web._(problem.template)
        if row is not None and not rows[row]["error"]:
            rows[row]["error"] = message
        messages.append(message)
    return messages


@router.post("/receipts")
def book_receipt(web: StaffDep, _csrf: CsrfDep, seller: FormText = "", place: FormText = "",
                 supplier: FormText = "", reference: FormText = "", sku: FormList = [],  # noqa: B006
                 expected: FormList = [], received: FormList = [],  # noqa: B006
                 op: FormText = "", action: FormText = ""):
    n = len(sku)
    rows = [{"sku": (s or "").strip(), "expected": e or "", "received": r or "", "error": None}
            for s, e, r in zip(sku, expected + [""] * n, received + [""] * n)]
    warehouse, _sep, location = place.partition("|")
    form = {"seller": seller, "place": place, "supplier": supplier, "reference": reference,
            "op": op[:200] or new_operation_id(), "lines": rows, "error": None}
    filters = {"seller": "", "warehouse": "", "q": ""}
    if action == "add_line":
        rows.append(_blank())
        return _receipts_page(web, filters, None, form)
    filled = _filled(rows, "expected", "received")
    problems = rules.line_problems([(rows[i]["sku"], rows[i]["received"]) for i in filled], "received")
    problems += [p for n, i in enumerate(filled)
                 if (p := rules.quantity_problem(rows[i]["expected"], "expected", n + 1)) is not None]
    messages = mark_rows(web, rows, filled, problems)
    messages += [_said(web, p) for p in rules.text_problems(supplier, reference)]
    if not filled and not messages:
        messages.append(web._("Add at least one line with a SKU."))
    if not messages and (not warehouse or not location):
        messages.append(web._("Choose the warehouse and location."))
    outcome = None
    if not messages:
        try:
            data = ReceiptIn(seller=seller or None, warehouse=warehouse, location=location,
                             supplier=supplier.strip(), reference=reference.strip(), lines=[
                                 ReceiptLineIn(sku=rows[i]["sku"], expected=rules.parse_quantity(rows[i]["expected"]),
                                               received=rules.parse_quantity(rows[i]["received"])) for i in filled])
            outcome = operations.receive(web.engine, web.principal, data, key=op or None, field="op")
        except (KeyReused, KeyInProgress) as exc:
            messages.append(_key_error(web, exc, form))
        except DomainError as exc:
            message, row = _service_error(web, exc, filled)
            if row is not None:
                rows[row]["error"] = message
            messages.append(message)
        except PydanticError as exc:
            messages.append(_pydantic(web, exc))
    if outcome is None:
        form["error"] = web._("The receipt was not booked: %(reason)s", reason=" ".join(dict.fromkeys(messages)))
        return _receipts_page(web, filters, None, form, status=422)
    result = outcome.response
    web.flash("success", web._("Receipt #%(id)s booked into %(warehouse)s / %(location)s.", id=result["id"],
                               warehouse=result["warehouse"], location=result["location"]))
    if outcome.replayed:
        web.flash("info", web._("This form had already been sent: the receipt was booked once."))
    if result["discrepancies"]:
        diff = ", ".join(f"{d['sku']} {d['difference']:+d}" for d in result["discrepancies"])
        web.flash("info", web._("Discrepancies against the expected quantities: %(lines)s", lines=diff))
    web.flash("info", web._("Orders waiting for these goods are being allocated in the background."))
    return web.redirect(f"/receipts/{result['id']}")


@router.get("/receipts/{receipt_id}")
def receipt_page(web: UserDep, receipt_id: Id64):
    with web.uow() as uow:
        receipt = receipts.receipt_detail(uow, web.principal, receipt_id)
    return web.render("receiving_receipt.html", receipt=receipt)


# ---------------------------------------------------------------- inbound deliveries (ASN)

def _inbound_page(web: Web, filters: dict, page: str | None, form: dict | None = None, status: int = 200):
    p = web.principal
    page_no = int_param(page, 1, minimum=1)
    with web.uow() as uow:
        seller_id = lookups.seller_id_by_code(uow, p, filters["seller"])
        if filters["seller"] and seller_id is None:
            items, total = [], 0
        else:
            items, total = asn.list_deliveries(uow, p, asn.AsnFilter(
                seller_id=seller_id, warehouse=filters["warehouse"] or None, status=filters["status"] or None,
                q=filters["q"] or None, limit=DELIVERIES_PAGE, offset=(page_no - 1) * DELIVERIES_PAGE))
        sellers = lookups.sellers(uow, p) if p.is_staff else []
        warehouses = lookups.warehouses(uow)
    form = form or {"seller": "", "warehouse": "", "supplier": "", "reference": "", "expected_at": "",
                    "op": new_operation_id(), "lines": [_blank() for _ in range(BLANK_ROWS)], "error": None,
                    "row_errors": []}
    return web.render("receiving_inbound.html", status=status, items=items, total=total, filters=filters,
                      sellers=sellers, warehouses=warehouses, page=page_no, statuses=rules.STATUSES,
                      pages=max(1, ceil(total / DELIVERIES_PAGE)), form=form)


@router.get("/inbound")
def inbound_page(web: UserDep, seller: SafeQuery | None = None, warehouse: SafeQuery | None = None,
                 status: SafeQuery | None = None, q: SafeQuery | None = None, page: SafeQuery | None = None):
    filters = {"seller": (seller or "") if web.principal.is_staff else "", "warehouse": warehouse or "",
               "status": status if status in rules.STATUSES else "", "q": (q or "").strip()}
    return _inbound_page(web, filters, page)


def _announce(web: Web, form: dict, upload: Upload | None):
    """Announce from the form (or its file); returns (delivery id, messages, row errors of the file)."""
    rows = form["lines"]
    header = {"seller": form["seller"] or None, "warehouse": form["warehouse"], "supplier": form["supplier"].strip(),
              "reference": form["reference"].strip(), "expected_at": form["expected_at"] or None}
    messages = [_said(web, p) for p in rules.text_problems(header["supplier"], header["reference"])]
    if not form["warehouse"]:
        messages.append(web._("Choose the warehouse."))
    if form["expected_at"]:
        try:
            day = date.fromisoformat(form["expected_at"])
        except ValueError:
            day = date.min
        problem = rules.day_problem(day, date.today())
        if problem is not None:
            messages.append(_said(web, problem))
    filled = _filled(rows, "expected")
    if upload is None:
        messages += mark_rows(web, rows, filled, rules.line_problems(
            [(rows[i]["sku"], rows[i]["expected"]) for i in filled], "expected"))
        if not filled:
            messages.append(web._(rules.NOTHING_EXPECTED))
    if messages:
        return None, messages, []
    try:
        if upload is not None:
            head = AsnHeaderIn(**header)
            outcome = asn.import_csv(web.engine, web.principal, head, upload, key=form["op"])
        else:
            data = AsnIn(**header, lines=[{"sku": rows[i]["sku"], "expected": rules.parse_quantity(rows[i]["expected"])}
                                          for i in filled])
            outcome = asn.announce_once(web.engine, web.principal, data, key=form["op"], field="op")
        return outcome.response["id"], [], []
    except RowErrors as exc:
        return None, [web._("The file has %(n)s invalid row(s); nothing was announced.", n=len(exc.errors))], \
            exc.errors[:50]
    except PydanticError as exc:
        return None, [_pydantic(web, exc)], []
    except (KeyReused, KeyInProgress) as exc:
        return None, [_key_error(web, exc, form)], []
    except DomainError as exc:
        message, row = _service_error(web, exc, filled)
        if row is not None:
            rows[row]["error"] = message
        return None, [message], []


@router.post("/inbound")
def announce_delivery(web: UserDep, _csrf: CsrfDep, seller: FormText = "", warehouse: FormText = "",
                      supplier: FormText = "", reference: FormText = "", expected_at: FormText = "",
                      sku: FormList = [], expected: FormList = [],  # noqa: B006
                      op: FormText = "", action: FormText = "",
                      file: Annotated[UploadFile | None, File()] = None):
    rows = [{"sku": (s or "").strip(), "expected": e or "", "received": "", "error": None}
            for s, e in zip(sku, expected + [""] * len(sku))]
    form = {"seller": seller if web.principal.is_staff else "", "warehouse": warehouse, "supplier": supplier,
            "reference": reference, "expected_at": expected_at.strip()[:10], "op": op[:200] or new_operation_id(),
            "lines": rows, "error": None, "row_errors": []}
    filters = {"seller": "", "warehouse": "", "status": "", "q": ""}
    if action == "add_line":
        rows.append(_blank())
        return _inbound_page(web, filters, None, form)
    upload = None
    if file is not None and file.filename:
        from qoima.entrypoints.importers import read_upload
        upload = Upload(read_upload(file, web.request.app.state.settings, "stock"), file.filename, file.content_type)
    asn_id, messages, row_errors = _announce(web, form, upload)
    if asn_id is None:
        form["error"] = web._("The delivery was not announced: %(reason)s", reason=" ".join(dict.fromkeys(messages)))
        form["row_errors"] = row_errors
        if not rows:
            rows.extend(_blank() for _ in range(BLANK_ROWS))
        return _inbound_page(web, filters, None, form, status=422)
    web.flash("success", web._("Delivery #%(id)s announced.", id=asn_id))
    return web.redirect(f"/inbound/{asn_id}")


def _receive_lines(delivery: dict, draft: dict[str, str]) -> list[dict]:
    """The delivery's lines with this receipt's draft quantities, and what the delivery would then show."""
    out = []
    known = {ln["sku"] for ln in delivery["lines"]}
    base = [(ln["sku"], ln["name"], ln["expected"], ln["received"]) for ln in delivery["lines"]]
    base += [(sku, "", 0, 0) for sku in draft if sku not in known]
    for sku, name, expected, before in base:
        raw = draft.get(sku, "")
        now = rules.parse_quantity(raw)
        diff = rules.LineDiff(sku, expected, before + (now or 0))
        out.append({"sku": sku, "name": name, "expected": expected, "before": before, "raw": raw,
                    "this": now or 0, "after": diff.received, "difference": diff.difference, "state": diff.state,
                    "error": None})
    return out


def _delivery_page(web: Web, asn_id: int, receive: dict | None = None, status: int = 200):
    with web.uow() as uow:
        delivery = asn.get(uow, web.principal, asn_id)
        locations = [loc for loc in lookups.locations(uow, kinds=("receiving", "storage"))
                     if loc["warehouse"] == delivery["warehouse"]] if web.principal.is_staff else []
    receive = receive or {"draft": {}, "location": locations[0]["code"] if locations else "", "op": new_operation_id(),
                          "error": None, "note": None, "close": False}
    lines = _receive_lines(delivery, receive["draft"])
    for ln in lines:
        ln["error"] = receive.get("errors", {}).get(ln["sku"])
    counts = {"short": sum(1 for ln in lines if ln["state"] in ("short", "waiting")),
              "over": sum(1 for ln in lines if ln["state"] in ("over", "unexpected")),
              "this": sum(ln["this"] for ln in lines)}
    can_receive = web.principal.is_staff and delivery["status"] in rules.OPEN
    can_cancel = delivery["status"] == rules.ANNOUNCED and web.may_open("/inbound/{asn_id}/cancel", "POST")
    return web.render("receiving_delivery.html", status=status, delivery=delivery, lines=lines, receive=receive,
                      locations=locations, counts=counts, can_receive=can_receive, can_cancel=can_cancel)


@router.get("/inbound/{asn_id}")
def delivery_page(web: UserDep, asn_id: Id64):
    return _delivery_page(web, asn_id)


@router.post("/inbound/{asn_id}/receive")
def receive_delivery(web: StaffDep, _csrf: CsrfDep, asn_id: Id64, location: FormText = "", scan: FormText = "",
                     sku: FormList = [], received: FormList = [],  # noqa: B006
                     op: FormText = "", action: FormText = "", close: FormText = ""):
    draft: dict[str, str] = {}
    for s, r in zip(sku, received + [""] * len(sku)):
        if s.strip() and (r or "").strip():
            draft[s.strip()] = r.strip()
    receive = {"draft": draft, "location": location, "op": op[:200] or new_operation_id(), "error": None,
               "note": None, "close": bool(close), "errors": {}}
    code = scan.strip()
    if action != "confirm":
        if code:
            with web.uow() as uow:
                found = asn.resolve_code(uow, web.principal, asn_id, code[:64])
            if found is None:
                receive["error"] = web._("Unknown barcode or SKU: %(code)s", code=code[:64])
            else:
                n = (rules.parse_quantity(draft.get(found, "")) or 0) + 1
                draft[found] = str(n)
                receive["note"] = web._("%(sku)s: %(n)s in this receipt", sku=found, n=n)
        return _delivery_page(web, asn_id, receive)
    lines = [(s, q) for s, q in draft.items()]
    problems = rules.line_problems(lines, "received") if lines else [
        rules.Problem("lines", "stock.nothing_received", rules.NOTHING_RECEIVED)]
    for p in problems:
        i = _line_of(p.field)
        if i is not None:
            receive["errors"].setdefault(lines[i][0], web._(p.template, **p.params))
    messages = [web._(p.template, **p.params) if p.params else web._(p.template) for p in problems]
    if not location:
        messages.append(web._("Choose the location."))
    outcome = None
    if not messages:
        try:
            data = AsnReceiveIn(location=location, close=bool(close),
                                lines=[{"sku": s, "received": rules.parse_quantity(q)} for s, q in lines])
            outcome = asn.receive_once(web.engine, web.principal, asn_id, data, key=op or None, field="op")
        except (KeyReused, KeyInProgress) as exc:
            messages.append(_key_error(web, exc, receive))
        except DomainError as exc:
            messages.append(_service_error(web, exc, list(range(len(lines))))[0])
        except PydanticError as exc:
            messages.append(_pydantic(web, exc))
    if outcome is None:
        receive["error"] = web._("The receipt was not booked: %(reason)s", reason=" ".join(dict.fromkeys(messages)))
        return _delivery_page(web, asn_id, receive, status=422)
    result = outcome.response
    web.flash("success", web._("Receipt #%(id)s booked against delivery #%(asn)s.", id=result["receipt_id"],
                               asn=asn_id))
    if result["discrepancies"]:
        diff = ", ".join(f"{d['sku']} {d['difference']:+d}" for d in result["discrepancies"])
        web.flash("info", web._("Discrepancies against the delivery: %(lines)s", lines=diff))
    return web.redirect(f"/receipts/{result['receipt_id']}")


@router.post("/inbound/{asn_id}/close")
def close_delivery(web: StaffDep, _csrf: CsrfDep, asn_id: Id64):
    delivery = web.run(lambda uow: asn.close(uow, web.principal, asn_id))
    web.flash("success", web._("Delivery #%(id)s closed.", id=asn_id))
    if delivery["status"] == rules.CLOSED_SHORT:
        web.flash("info", web._("It was closed with discrepancies."))
    return web.redirect(f"/inbound/{asn_id}")


@router.post("/inbound/{asn_id}/cancel")
def cancel_delivery(web: UserDep, _csrf: CsrfDep, asn_id: Id64):
    web.run(lambda uow: asn.cancel(uow, web.principal, asn_id))
    web.flash("success", web._("Delivery #%(id)s cancelled.", id=asn_id))
    return web.redirect(f"/inbound/{asn_id}")
