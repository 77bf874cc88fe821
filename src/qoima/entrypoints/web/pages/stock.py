"""Stock by warehouse and location, the product catalog, and supplier receipts."""

from __future__ import annotations

from math import ceil
from typing import Annotated
from uuid import uuid4

from fastapi import Form
from pydantic import ValidationError as PydanticError

from qoima.platform.bounds import SafeQuery
from qoima.platform.errors import DomainError
from qoima.platform.idempotency import KeyInProgress, KeyReused
from qoima.catalog import services as catalog
from qoima.stock.services import inventory, operations
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn
from qoima.entrypoints.web import lookups
from qoima.entrypoints.web.common import CsrfDep, StaffDep, UserDep, Web, int_param, page_router

router = page_router()
STOCK_PAGE = 100
PRODUCTS_PAGE = 50
RECEIPTS_PAGE = 20
RECEIPT_ROWS = 5


@router.get("/stock")
def stock_page(web: UserDep, seller: SafeQuery | None = None, warehouse: SafeQuery | None = None, sku: SafeQuery | None = None,
               page: SafeQuery | None = None):
    p = web.principal
    page_no = int_param(page, 1, minimum=1)
    filters = {"seller": (seller or "") if p.is_staff else "", "warehouse": warehouse or "", "sku": (sku or "").strip()}
    with web.uow() as uow:
        seller_id = lookups.seller_id_by_code(uow, p, filters["seller"])
        unknown_seller = bool(filters["seller"]) and seller_id is None
        rows = [] if unknown_seller else inventory.stock_levels(
            uow, p, seller_id=seller_id, warehouse=filters["warehouse"] or None, sku=filters["sku"] or None,
            limit=STOCK_PAGE + 1, offset=(page_no - 1) * STOCK_PAGE)
        sellers = lookups.sellers(uow, p) if p.is_staff else []
        warehouses = lookups.warehouses(uow)
    has_next = len(rows) > STOCK_PAGE
    rows = rows[:STOCK_PAGE]
    totals = {"on_hand": sum(r["on_hand"] for r in rows), "reserved": sum(r["reserved"] for r in rows),
              "available": sum(r["available"] for r in rows)}
    return web.render("stock.html", rows=rows, filters=filters, sellers=sellers, warehouses=warehouses,
                      page=page_no, has_next=has_next, totals=totals)


@router.get("/products")
def products_page(web: UserDep, q: SafeQuery | None = None, seller: SafeQuery | None = None, page: SafeQuery | None = None):
    p = web.principal
    page_no = int_param(page, 1, minimum=1)
    filters = {"q": (q or "").strip(), "seller": (seller or "") if p.is_staff else ""}
    with web.uow() as uow:
        items, total = catalog.list_products(uow, p, seller=filters["seller"] or None, q=filters["q"] or None,
                                             limit=PRODUCTS_PAGE, offset=(page_no - 1) * PRODUCTS_PAGE)
        sellers = lookups.sellers(uow, p) if p.is_staff else []
    return web.render("products.html", items=items, total=total, filters=filters, sellers=sellers, page=page_no,
                      pages=max(1, ceil(total / PRODUCTS_PAGE)), page_size=PRODUCTS_PAGE)


def _receipts_page(web: Web, *, seller: str | None, warehouse: str | None, page: str | None,
                   form: dict | None = None, form_error: str | None = None, status: int = 200):
    p = web.principal
    page_no = int_param(page, 1, minimum=1)
    filters = {"seller": (seller or "") if p.is_staff else "", "warehouse": warehouse or ""}
    with web.uow() as uow:
        seller_id = lookups.seller_id_by_code(uow, p, filters["seller"])
        if filters["seller"] and seller_id is None:
            items, total = [], 0
        else:
            items, total = lookups.receipts(uow, p, seller_id=seller_id, warehouse=filters["warehouse"] or None,
                                            limit=RECEIPTS_PAGE, offset=(page_no - 1) * RECEIPTS_PAGE)
        sellers = lookups.sellers(uow, p) if p.is_staff else []
        warehouses = lookups.warehouses(uow)
        locations = lookups.locations(uow, kinds=("receiving", "storage")) if p.is_staff else []
    form = form or {"seller": "", "place": "", "supplier": "", "reference": "", "op": new_operation_id(),
                    "lines": [{"sku": "", "expected": "", "received": ""} for _ in range(RECEIPT_ROWS)]}
    return web.render("receipts.html", status=status, items=items, total=total, filters=filters, sellers=sellers,
                      warehouses=warehouses, locations=locations, page=page_no,
                      pages=max(1, ceil(total / RECEIPTS_PAGE)), form=form, form_error=form_error)


@router.get("/receipts")
def receipts_page(web: UserDep, seller: SafeQuery | None = None, warehouse: SafeQuery | None = None, page: SafeQuery | None = None):
    return _receipts_page(web, seller=seller, warehouse=warehouse, page=page)


def new_operation_id() -> str:
    """The client operation id a stock form carries (hidden field `op`): the form sent twice
    (a double click, a resent POST) is booked once."""
    return uuid4().hex


def _qty(value: str) -> int:
    value = (value or "").strip()
    return int(value) if value else 0


@router.post("/receipts")
def book_receipt(web: StaffDep, _csrf: CsrfDep, seller: Annotated[str, Form()] = "",
                 place: Annotated[str, Form()] = "",
                 supplier: Annotated[str, Form()] = "", reference: Annotated[str, Form()] = "",
                 sku: Annotated[list[str], Form()] = [], expected: Annotated[list[str], Form()] = [],  # noqa: B006
                 received: Annotated[list[str], Form()] = [],  # noqa: B006
                 op: Annotated[str, Form()] = ""):
    rows = [{"sku": (s or "").strip(), "expected": e, "received": r}
            for s, e, r in zip(sku, expected + [""] * len(sku), received + [""] * len(sku))]
    warehouse, _sep, location = place.partition("|")
    form = {"seller": seller, "place": place, "supplier": supplier, "op": op[:200] or new_operation_id(),
            "reference": reference, "lines": rows + [{"sku": "", "expected": "", "received": ""}
                                                     for _ in range(max(0, RECEIPT_ROWS - len(rows)))]}
    error = None
    try:
        lines = []
        for i, row in enumerate(r for r in rows if r["sku"]):
            try:
                lines.append(ReceiptLineIn(sku=row["sku"], expected=_qty(row["expected"]),
                                           received=_qty(row["received"])))
            except (ValueError, PydanticError):
                raise DomainError(web._("Line %(n)s: quantities must be whole numbers of zero or more.",
                                        n=i + 1)) from None
        if not lines:
            raise DomainError(web._("Add at least one line with a SKU."))
        if not warehouse or not location:
            raise DomainError(web._("Choose the warehouse and location."))
        data = ReceiptIn(seller=seller or None, warehouse=warehouse, location=location,
                         supplier=supplier.strip(), reference=reference.strip(), lines=lines)
        outcome = operations.receive(web.engine, web.principal, data, key=op or None, field="op")
        result = outcome.response
    except KeyReused:
        form["op"] = new_operation_id()  # the earlier receipt stands; sending this form again books a new one
        error = web._("this form was already sent with other values and that receipt is booked; "
                      "check the list below before you send it again.")
    except KeyInProgress:
        error = web._("this form is still being booked; wait a moment and reload the page.")
    except PydanticError as exc:
        first = exc.errors()[0]
        error = f"{'.'.join(str(x) for x in first.get('loc', ()))}: {first.get('msg', '')}"
    except DomainError as exc:
        error = web.error(exc)
    if error is not None:
        return _receipts_page(web, seller=None, warehouse=None, page=None, form=form, status=422,
                              form_error=web._("The receipt was not booked: %(reason)s", reason=error))
    web.flash("success", web._("Receipt #%(id)s booked into %(warehouse)s / %(location)s.", id=result["id"],
                               warehouse=result["warehouse"], location=result["location"]))
    if outcome.replayed:
        web.flash("info", web._("This form had already been sent: the receipt was booked once."))
    if result["discrepancies"]:
        diff = ", ".join(f"{d['sku']} {d['difference']:+d}" for d in result["discrepancies"])
        web.flash("info", web._("Discrepancies against the expected quantities: %(lines)s", lines=diff))
    if any(line.received for line in data.lines):  # filled after the commit, by the worker (stock.changed)
        web.flash("info", web._("Orders waiting for these goods are being allocated in the background."))
    return web.redirect("/receipts")
