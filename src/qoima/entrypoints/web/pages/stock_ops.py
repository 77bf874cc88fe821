"""Stock work in the console (staff): put-away from the receiving dock, moves
between cells, transfers between warehouses (sent, then received), adjustments
with a reason from the fixed list and cycle counts; the movement history of a
SKU (sellers: their own) and of a cell; the receiving mode of each warehouse.

Every change goes through the stock services and their ledger
(stock/services/operations.py, stock_work.py), idempotent per form operation id
(hidden field `op`, as the receipt form): a form sent twice changes stock once.
Bad input is answered with the form again (422) and a translated message that
names the field; nothing is written."""

from __future__ import annotations

import re
from typing import Annotated
from uuid import uuid4

from fastapi import Form
from pydantic import ValidationError as PydanticError

from qoima.entrypoints.web import lookups
from qoima.entrypoints.web.common import CsrfDep, StaffDep, UserDep, Web, int_param, page_router
from qoima.platform.bounds import INT32_MAX, Id64, SafeQuery
from qoima.platform.errors import DomainError, format_template
from qoima.platform.idempotency import KeyInProgress, KeyReused
from qoima.stock.domain import adjustments as rules
from qoima.stock.schemas import AdjustIn, CountIn, MoveIn, ReceivingModeIn, TransferIn, TransferLineIn, TransferReceiveIn
from qoima.stock.services import operations, stock_work

router = page_router()
HISTORY_PAGE = 50
Raw = Annotated[str, Form()]

FIELD_LABELS = {  # form field -> msgid of its label
    "seller": "Seller", "sku": "SKU", "place": "Warehouse / location", "warehouse": "Warehouse",
    "from_location": "From", "to_location": "To", "location": "Location", "quantity": "Quantity",
    "counted": "Counted quantity", "reason": "Reason", "direction": "Direction", "note": "Note",
    "to_warehouse": "To warehouse", "from_warehouse": "From warehouse", "mode": "Receiving mode",
    "cell": "Put-away cell", "op": "Form", "delta": "Quantity", "lines": "Quantity",
}
KIND_LABELS = {"receipt": "receipt", "putaway": "put-away", "transfer_out": "transfer sent",
               "transfer_in": "transfer received", "move": "move", "pick": "pick", "adjustment": "adjustment",
               "return": "return", "scrap": "scrap"}  # ledger kind -> msgid
TEXT_LIMITS = {"sku": 64, "note": 200, "seller": 40, "location": 40, "to_location": 40, "cell": 40,
               "to_warehouse": 20, "warehouse": 20, "place": 61}
_WHOLE = re.compile(r"[+-]?\d{1,12}")


def new_operation_id() -> str:
    """The operation id a stock form carries (hidden field `op`): sent twice, it is booked once."""
    return uuid4().hex


class FormError(Exception):
    """Bad input of a stock form: `message` is translated and names the field."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _label(web: Web, field: str | None) -> str:
    name = (field or "").split(".")[-1].split("[")[0]
    return web._(FIELD_LABELS.get(name, "Form"))


def _number(web: Web, value: str, field: str, minimum: int = 1) -> int:
    raw = (value or "").strip()
    if not _WHOLE.fullmatch(raw):
        raise FormError(web._("%(field)s: enter a whole number.", field=_label(web, field)))
    n = int(raw)
    if n < minimum:
        raise FormError(web._("%(field)s must be at least %(min)s.", field=_label(web, field), min=minimum))
    if n > INT32_MAX:
        raise FormError(web._("%(field)s must be at most %(max)s.", field=_label(web, field), max=INT32_MAX))
    return n


def _texts(web: Web, **values: str) -> dict[str, str]:
    """The text fields stripped, each within its column's length."""
    out = {}
    for field, value in values.items():
        value = (value or "").strip()
        limit = TEXT_LIMITS.get(field, 200)
        if len(value) > limit:
            raise FormError(web._("%(field)s is longer than %(max)s characters.", field=_label(web, field), max=limit))
        out[field] = value
    return out


def _place(web: Web, value: str, field: str = "place") -> tuple[str, str]:
    warehouse, _sep, location = (value or "").partition("|")
    if not warehouse or not location:
        raise FormError(web._("%(field)s: choose the warehouse and location.", field=_label(web, field)))
    return warehouse, location


def explain(web: Web, exc: Exception) -> str:
    """The translated message of a refusal, naming the field."""
    if isinstance(exc, FormError):
        return exc.message
    if isinstance(exc, KeyReused):
        return web._("this form was already sent with other values and that operation is booked; "
                     "check the page before you send it again.")
    if isinstance(exc, KeyInProgress):
        return web._("this form is still being booked; wait a moment and reload the page.")
    if isinstance(exc, PydanticError):
        return web.invalid(exc, FIELD_LABELS)
    if isinstance(exc, rules.AdjustmentRefused):
        return web._("%(field)s: %(problem)s", field=_label(web, exc.field),
                     problem=format_template(web._(exc.template), exc.params))
    assert isinstance(exc, DomainError)
    text = web.error(exc)
    return web._("%(field)s: %(problem)s", field=_label(web, exc.field), problem=text) if exc.field else text


REFUSALS = (FormError, KeyReused, KeyInProgress, PydanticError, DomainError, rules.AdjustmentRefused)


def _done(web: Web, outcome, message: str, back: str):
    web.flash("success", message)
    if outcome.replayed:
        web.flash("info", web._("This form had already been sent: the operation was booked once."))
    return web.redirect(back)


# --- put-away -----------------------------------------------------------------------------------------------

def _putaway_page(web: Web, warehouse: str | None = None, form_error: str | None = None, status: int = 200):
    with web.uow() as uow:
        rows = stock_work.on_the_dock(uow, web.principal, warehouse or None)
        cells = lookups.locations(uow, kinds=("storage",))
        warehouses = lookups.warehouses(uow)
    for r in rows:
        r["op"] = new_operation_id()
        r["cells"] = [c["code"] for c in cells if c["warehouse"] == r["warehouse"]]
    return web.render("stock_putaway.html", status=status, rows=rows, warehouses=warehouses,
                      filters={"warehouse": warehouse or ""}, form_error=form_error)


@router.get("/stock/putaway")
def putaway_page(web: StaffDep, warehouse: SafeQuery | None = None):
    return _putaway_page(web, warehouse)


@router.post("/stock/putaway")
def putaway(web: StaffDep, _csrf: CsrfDep, seller: Raw = "", sku: Raw = "", warehouse: Raw = "",
            from_location: Raw = "", to_location: Raw = "", quantity: Raw = "", op: Raw = ""):
    try:
        f = _texts(web, seller=seller, sku=sku, warehouse=warehouse, location=from_location, to_location=to_location)
        if not f["to_location"]:
            raise FormError(web._("%(field)s: choose a cell.", field=_label(web, "to_location")))
        qty = _number(web, quantity, "quantity")
        data = MoveIn(seller=f["seller"] or None, sku=f["sku"], warehouse=f["warehouse"], from_location=f["location"],
                      to_location=f["to_location"], quantity=qty, reason="put-away")
        outcome = operations.move(web.engine, web.principal, data, key=op[:200] or None, field="op")
    except REFUSALS as exc:
        return _putaway_page(web, status=422, form_error=web._("Nothing was put away: %(reason)s",
                                                                 reason=explain(web, exc)))
    return _done(web, outcome, web._("%(qty)s × %(sku)s put away from %(src)s to %(dst)s.", qty=qty, sku=data.sku,
                                     src=data.from_location, dst=data.to_location), "/stock/putaway")


# --- moves, adjustments, counts -----------------------------------------------------------------------------

def _blank_work() -> dict:
    return {"seller": "", "sku": "", "place": "", "to_location": "", "quantity": "", "reason": "", "note": "",
            "direction": rules.REMOVE, "counted": "", "op": new_operation_id()}


def _work_page(web: Web, form: dict | None = None, which: str = "", form_error: str | None = None,
               status: int = 200):
    with web.uow() as uow:
        sellers = lookups.sellers(uow, web.principal)
        locations = lookups.locations(uow)
    form = {**_blank_work(), **(form or {})}
    return web.render("stock_work.html", status=status, form=form, which=which, form_error=form_error,
                      sellers=sellers, locations=locations, reasons=list(rules.REASONS.values()))


@router.get("/stock/work")
def work_page(web: StaffDep, sku: SafeQuery | None = None, seller: SafeQuery | None = None,
              place: SafeQuery | None = None):
    return _work_page(web, {"sku": sku or "", "seller": seller or "", "place": place or ""})


@router.post("/stock/move")
def move(web: StaffDep, _csrf: CsrfDep, seller: Raw = "", sku: Raw = "", place: Raw = "", to_location: Raw = "",
         quantity: Raw = "", note: Raw = "", op: Raw = ""):
    form = {"seller": seller, "sku": sku, "place": place, "to_location": to_location, "quantity": quantity,
            "note": note, "op": op}
    try:
        f = _texts(web, seller=seller, sku=sku, to_location=to_location, note=note)
        warehouse, src = _place(web, place)
        if not f["to_location"]:
            raise FormError(web._("%(field)s: enter the target location.", field=_label(web, "to_location")))
        qty = _number(web, quantity, "quantity")
        data = MoveIn(seller=f["seller"] or None, sku=f["sku"], warehouse=warehouse, from_location=src,
                      to_location=f["to_location"], quantity=qty, reason=f["note"])
        outcome = operations.move(web.engine, web.principal, data, key=op[:200] or None, field="op")
    except REFUSALS as exc:
        return _work_page(web, form, "move", web._("Nothing was moved: %(reason)s", reason=explain(web, exc)), 422)
    return _done(web, outcome, web._("%(qty)s × %(sku)s moved from %(src)s to %(dst)s.", qty=qty, sku=data.sku,
                                     src=src, dst=data.to_location), "/stock/work")


@router.post("/stock/adjust")
def adjust(web: StaffDep, _csrf: CsrfDep, seller: Raw = "", sku: Raw = "", place: Raw = "", reason: Raw = "",
           direction: Raw = "", quantity: Raw = "", note: Raw = "", op: Raw = ""):
    form = {"seller": seller, "sku": sku, "place": place, "reason": reason, "direction": direction,
            "quantity": quantity, "note": note, "op": op}
    try:
        f = _texts(web, seller=seller, sku=sku, note=note)
        warehouse, location = _place(web, place)
        qty = _number(web, quantity, "quantity")
        delta = rules.signed_delta(reason, direction, qty)
        data = AdjustIn(seller=f["seller"] or None, sku=f["sku"], warehouse=warehouse, location=location, delta=delta,
                        reason=rules.ledger_reason(reason, f["note"]), scrap=rules.REASONS[reason].scrap)
        outcome = operations.adjust(web.engine, web.principal, data, key=op[:200] or None, field="op")
    except REFUSALS as exc:
        return _work_page(web, form, "adjust", web._("Nothing was adjusted: %(reason)s",
                                                     reason=explain(web, exc)), 422)
    signed = f"{delta:+d}"
    return _done(web, outcome, web._("%(sku)s at %(location)s adjusted by %(delta)s (%(reason)s).", sku=data.sku,
                                     location=location, delta=signed,
                                     reason=web._(rules.REASONS[reason].label)), "/stock/work")


@router.post("/stock/count")
def count(web: StaffDep, _csrf: CsrfDep, seller: Raw = "", sku: Raw = "", place: Raw = "", counted: Raw = "",
          note: Raw = "", op: Raw = ""):
    form = {"seller": seller, "sku": sku, "place": place, "counted": counted, "note": note, "op": op}
    try:
        f = _texts(web, seller=seller, sku=sku, note=note)
        warehouse, location = _place(web, place)
        data = CountIn(seller=f["seller"] or None, sku=f["sku"], warehouse=warehouse, location=location,
                       counted=_number(web, counted, "counted", minimum=0), note=f["note"])
        outcome = stock_work.count(web.engine, web.principal, data, key=op[:200] or None, field="op")
    except REFUSALS as exc:
        return _work_page(web, form, "count", web._("The count was not booked: %(reason)s",
                                                    reason=explain(web, exc)), 422)
    r = outcome.response
    signed = f"{r['delta']:+d}"
    message = (web._("Count of %(sku)s at %(location)s matches: nothing booked.", sku=r["sku"], location=r["location"])
               if r["delta"] == 0 else
               web._("Count of %(sku)s at %(location)s booked: %(before)s → %(counted)s (%(delta)s).", sku=r["sku"],
                     location=r["location"], before=r["before"], counted=r["counted"], delta=signed))
    return _done(web, outcome, message, "/stock/work")


# --- transfers ----------------------------------------------------------------------------------------------

def _transfers_page(web: Web, form: dict | None = None, form_error: str | None = None, status: int = 200):
    with web.uow() as uow:
        transit = stock_work.in_transit(uow, web.principal)
        sellers = lookups.sellers(uow, web.principal)
        locations = lookups.locations(uow)
        warehouses = lookups.warehouses(uow)
    for tr in transit:
        tr["op"] = new_operation_id()
        tr["places"] = [loc for loc in locations if loc["warehouse"] == tr["to_warehouse"]]
    form = {"seller": "", "sku": "", "place": "", "to_warehouse": "", "quantity": "", "op": new_operation_id(),
            **(form or {})}
    return web.render("stock_transfers.html", status=status, transit=transit, sellers=sellers, locations=locations,
                      warehouses=warehouses, form=form, form_error=form_error)


@router.get("/stock/transfers")
def transfers_page(web: StaffDep):
    return _transfers_page(web)


@router.post("/stock/transfers")
def send_transfer(web: StaffDep, _csrf: CsrfDep, seller: Raw = "", sku: Raw = "", place: Raw = "",
                  to_warehouse: Raw = "", quantity: Raw = "", op: Raw = ""):
    form = {"seller": seller, "sku": sku, "place": place, "to_warehouse": to_warehouse, "quantity": quantity, "op": op}
    try:
        f = _texts(web, seller=seller, sku=sku, to_warehouse=to_warehouse)
        warehouse, location = _place(web, place)
        if not f["to_warehouse"]:
            raise FormError(web._("%(field)s: choose a warehouse.", field=_label(web, "to_warehouse")))
        qty = _number(web, quantity, "quantity")
        data = TransferIn(seller=f["seller"] or None, from_warehouse=warehouse, to_warehouse=f["to_warehouse"],
                          lines=[TransferLineIn(sku=f["sku"], quantity=qty, from_location=location)])
        outcome = operations.start_transfer(web.engine, web.principal, data, key=op[:200] or None, field="op")
    except REFUSALS as exc:
        return _transfers_page(web, form, web._("The transfer was not sent: %(reason)s", reason=explain(web, exc)), 422)
    return _done(web, outcome, web._("Transfer #%(id)s sent from %(src)s to %(dst)s.", id=outcome.response["id"],
                                     src=warehouse, dst=data.to_warehouse), "/stock/transfers")


@router.post("/stock/transfers/{transfer_id}/receive")
def receive_transfer(web: StaffDep, _csrf: CsrfDep, transfer_id: Id64, location: Raw = "", op: Raw = ""):
    try:
        f = _texts(web, location=location)
        if not f["location"]:
            raise FormError(web._("%(field)s: choose a location.", field=_label(web, "location")))
        outcome = operations.receive_transfer(web.engine, web.principal, transfer_id,
                                              TransferReceiveIn(location=f["location"]), key=op[:200] or None,
                                              field="op")
    except REFUSALS as exc:
        if isinstance(exc, DomainError) and exc.status == 404:
            raise
        return _transfers_page(web, None, web._("The transfer was not received: %(reason)s",
                                                reason=explain(web, exc)), 422)
    return _done(web, outcome, web._("Transfer #%(id)s received into %(location)s.", id=transfer_id,
                                     location=f["location"]), "/stock/transfers")


# --- history ------------------------------------------------------------------------------------------------

def _history(web: Web, page: str | None, **which):
    page_no = int_param(page, 1, minimum=1)
    with web.uow() as uow:
        rows = stock_work.history(uow, web.principal, limit=HISTORY_PAGE + 1, offset=(page_no - 1) * HISTORY_PAGE,
                                  **which)
    for r in rows:
        listed, note = rules.split_reason(r["reason"])
        r["reason_label"] = web._(listed.label) if listed else ""
        r["note"] = note
    return rows[:HISTORY_PAGE], len(rows) > HISTORY_PAGE, page_no


@router.get("/stock/products/{product_id}/history")
def product_history(web: UserDep, product_id: Id64, page: SafeQuery | None = None):
    with web.uow() as uow:
        product = stock_work.product_of(uow, web.principal, product_id)
    rows, has_next, page_no = _history(web, page, product_id=product_id)
    return web.render("stock_history.html", rows=rows, has_next=has_next, page=page_no, product=product,
                      location=None, holdings=[], kind_labels=KIND_LABELS)


@router.get("/stock/locations/{location_id}/history")
def location_history(web: StaffDep, location_id: Id64, page: SafeQuery | None = None):
    with web.uow() as uow:
        location = stock_work.location_of(uow, location_id)
        holdings = stock_work.holdings(uow, location_id)
    rows, has_next, page_no = _history(web, page, location_id=location_id)
    return web.render("stock_history.html", rows=rows, has_next=has_next, page=page_no, product=None,
                      location=location, holdings=holdings, kind_labels=KIND_LABELS)


# --- receiving mode -----------------------------------------------------------------------------------------

def _settings_page(web: Web, form_error: str | None = None, status: int = 200):
    with web.uow() as uow:
        items = stock_work.receiving_settings(uow)
        cells = lookups.locations(uow, kinds=("storage",))
    for w in items:
        w["cells"] = [c["code"] for c in cells if c["warehouse"] == w["code"]]
    return web.render("stock_settings.html", status=status, items=items, form_error=form_error)


@router.get("/stock/settings")
def settings_page(web: StaffDep):
    return _settings_page(web)


@router.post("/stock/settings")
def save_settings(web: StaffDep, _csrf: CsrfDep, warehouse: Raw = "", mode: Raw = "", cell: Raw = ""):
    try:
        f = _texts(web, warehouse=warehouse, cell=cell, mode=mode)
        data = ReceivingModeIn(warehouse=f["warehouse"], mode=f["mode"], cell=f["cell"] or None)
        web.run(lambda uow: stock_work.set_receiving_mode(uow, web.principal, data))
    except REFUSALS as exc:
        return _settings_page(web, web._("The setting was not saved: %(reason)s", reason=explain(web, exc)), 422)
    web.flash("success", web._("Receiving mode of %(warehouse)s saved.", warehouse=data.warehouse))
    return web.redirect("/stock/settings")
