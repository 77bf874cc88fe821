"""Creating and editing a product and its barcodes (/products/new, /products/{id}):
a seller on its own catalog, staff for a chosen seller. The form is validated by
the same `ProductIn` as the API and the import (bounds of the columns, the GTIN
check digit); a bad field is shown next to the field, nothing is written."""

from __future__ import annotations

import re

from fastapi import Request
from pydantic import ValidationError as PydanticError

from qoima.catalog.schemas import ProductIn
from qoima.catalog.services import products
from qoima.entrypoints.web import lookups
from qoima.entrypoints.web.common import CsrfDep, UserDep, Web, page_router, schema_problem
from qoima.platform.bounds import Id64
from qoima.platform.errors import DomainError
from qoima.platform.imports import number

router = page_router()
TEXT_FIELDS = ("sku", "name", "category", "weight_g", "length_mm", "width_mm", "height_mm", "replenishment_days")
BLANK = {"seller": "", "sku": "", "name": "", "category": "", "price": "", "barcodes": "", "weight_g": "",
         "length_mm": "", "width_mm": "", "height_mm": "", "marking_required": False, "replenishment_days": ""}


def _as_form(product: dict) -> dict:
    form = {k: ("" if product.get(k) is None else product.get(k)) for k in BLANK}
    form["barcodes"] = ", ".join(product.get("barcodes") or [])
    form["marking_required"] = bool(product.get("marking_required"))
    return form


async def _read_form(request: Request) -> dict:
    raw = await request.form()
    form = {k: str(raw.get(k, "")).strip() for k in BLANK if k != "marking_required"}
    form["marking_required"] = raw.get("marking_required") in ("1", "on", "true")
    return form


def _validate(web: Web, form: dict, seller: str | None) -> tuple[ProductIn | None, dict[str, str]]:
    payload: dict = {"seller": seller or None, "marking_required": form["marking_required"]}
    for k in TEXT_FIELDS:
        if form[k] != "":
            payload[k] = form[k]
    for k in ("sku", "name"):  # required: an empty one is named, not defaulted
        payload.setdefault(k, "")
    if form["price"] != "":
        payload["price"] = number(form["price"])
    payload["barcodes"] = [c for c in re.split(r"[\s,;|]+", form["barcodes"]) if c]
    try:
        return ProductIn.model_validate(payload, strict=False), {}
    except PydanticError as exc:
        errors: dict[str, str] = {}
        for e in exc.errors():
            loc = e.get("loc", ())
            errors.setdefault(str(loc[0]) if loc else "form", schema_problem(web, e))
        return None, errors


def _render(web: Web, form: dict, product: dict | None = None, errors: dict | None = None, status: int = 200):
    p = web.principal
    sellers = []
    if p.is_staff and product is None:
        with web.uow() as uow:
            sellers = lookups.sellers(uow, p)
    return web.render("product_form.html", status=status, form=form, product=product, errors=errors or {},
                      sellers=sellers)


def _fail(web: Web, form: dict, product: dict | None, exc: DomainError):
    field = exc.field if exc.field in BLANK else "form"
    return _render(web, form, product, {field: web.error(exc)}, status=exc.status if exc.status < 500 else 422)


@router.get("/products/new")
def new_product_page(web: UserDep):
    return _render(web, dict(BLANK))


@router.post("/products/new")
async def create_product(web: UserDep, _csrf: CsrfDep, request: Request):
    form = await _read_form(request)
    seller = form["seller"] if web.principal.is_staff else None
    if web.principal.is_staff and not seller:
        return _render(web, form, errors={"seller": web._("Choose the seller.")}, status=422)
    data, errors = _validate(web, form, seller)
    if errors:
        return _render(web, form, errors=errors, status=422)
    try:
        pid = web.run(lambda uow: products.create_product(uow, web.principal, data))
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _fail(web, form, None, exc)
    web.flash("success", web._("Product %(sku)s created.", sku=data.sku))
    return web.redirect(f"/products/{pid}")


@router.get("/products/{product_id}")
def product_page(web: UserDep, product_id: Id64):
    with web.uow() as uow:
        product = products.get_product(uow, web.principal, product_id)
    return _render(web, _as_form(product), product)


@router.post("/products/{product_id}")
async def edit_product(web: UserDep, _csrf: CsrfDep, request: Request, product_id: Id64):
    with web.uow() as uow:
        product = products.get_product(uow, web.principal, product_id)  # 404 for another seller's product
    form = await _read_form(request)
    form["seller"] = product["seller"]
    data, errors = _validate(web, form, product["seller"])
    if errors:
        return _render(web, form, product, errors, status=422)
    try:
        web.run(lambda uow: products.update_product(uow, web.principal, product_id, data))
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _fail(web, form, product, exc)
    web.flash("success", web._("Product %(sku)s saved.", sku=data.sku))
    return web.redirect(f"/products/{product_id}")
