"""Importing products from a CSV or XLSX file: one row per product, created or
updated by (seller, sku). Validation, report and all-or-nothing: platform/imports.py.

    seller (staff), sku, name (required), category, price, barcodes (EAN-13 /
    GTIN-14, several separated by ";" or "|"), weight_g, length_mm, width_mm,
    height_mm, marking_required (true/false), replenishment_days

Sample: ``qoima/data/samples/products.csv``.
"""

from __future__ import annotations

import re

from pydantic import ValidationError as PydanticError
from sqlalchemy import Engine, select

from qoima.catalog.schemas import ProductIn
from qoima.db import tables as t
from qoima.platform.access import Principal
from qoima.catalog.services.import_sellers import Sellers
from qoima.platform.imports import (Columns, ImportOptions, Progress, Report, Rows, Upload, chunks, open_rows,
                                    put, pyd_errors)
from qoima.platform.unit_of_work import UnitOfWork

PRODUCT_COLUMNS = ("seller", "sku", "name", "category", "price", "barcodes", "weight_g", "length_mm", "width_mm",
                   "height_mm", "marking_required", "replenishment_days")
COLUMNS = Columns(PRODUCT_COLUMNS, ("sku", "name"))


def product_ids(uow: UnitOfWork, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """(seller_id, sku) -> product id, for the pairs that exist."""
    found: dict[tuple[int, str], int] = {}
    by_seller: dict[int, list[str]] = {}
    for sid, sku in pairs:
        by_seller.setdefault(sid, []).append(sku)
    for sid, skus in by_seller.items():
        for part in chunks(sorted(skus)):
            for r in uow.execute(select(t.products.c.id, t.products.c.sku)
                                 .where(t.products.c.seller_id == sid, t.products.c.sku.in_(part))):
                found[(sid, r.sku)] = r.id
    return found


def validate_products(uow: UnitOfWork, principal: Principal, rows: Rows, report: Report,
                      progress: Progress | None = None) -> list[tuple[int, int, ProductIn]]:
    principal.require("admin", "manager", "seller")
    sellers = Sellers(uow, principal)
    seen: dict[tuple, int] = {}
    barcode_line: dict[tuple[int, str], tuple[int, str]] = {}
    good: list[tuple[int, int, ProductIn]] = []
    for i, (line, row) in enumerate(rows):
        if progress and i % 2000 == 0:
            progress("reading", *rows.progress())
        sid, code, problem = sellers.resolve(row.get("seller", ""))
        if problem:
            report.error(line, "seller", problem)
            continue
        key = (sid, row.get("sku", ""))
        if key in seen:
            report.error(line, "sku", "SKU '%(sku)s' is also on line %(other)s", code="import.duplicate_sku",
                         sku=key[1], other=seen[key])
            continue
        seen[key] = line
        payload: dict = {"seller": code}
        for col in ("sku", "name", "category", "weight_g", "length_mm", "width_mm", "height_mm",
                    "marking_required", "replenishment_days"):
            put(payload, col, row.get(col, ""))
        put(payload, "price", row.get("price", ""), as_number=True)
        raw_codes = [c.strip() for c in re.split(r"[;|]", row.get("barcodes", "")) if c.strip()]
        payload["barcodes"] = raw_codes
        try:
            product = ProductIn.model_validate(payload, strict=False)  # cells are text
        except PydanticError as exc:
            for loc, msg in pyd_errors(exc):
                report.error(line, str(loc[0]) if loc else "row", msg)
            continue
        clash = False
        for bc in dict.fromkeys(product.barcodes):
            other = barcode_line.get((sid, bc))
            if other is not None and other[1] != product.sku:
                report.error(line, "barcodes", "barcode %(barcode)s is also given to SKU '%(sku)s' on line %(other)s",
                             code="import.barcode_twice", barcode=bc, sku=other[1], other=other[0])
                clash = True
            barcode_line.setdefault((sid, bc), (line, product.sku))
        if not clash:
            good.append((line, sid, product))
    if progress:
        progress("validating", report.rows, report.rows)
    existing = product_ids(uow, set(seen))
    in_file = {(sid, p.sku) for _, sid, p in good}
    _barcodes_in_db(uow, good, in_file, report)
    new = sum(1 for key in seen if key not in existing)
    report.counts = {"products": len(seen), "new": new, "updated": len(seen) - new}
    return good


def _barcodes_in_db(uow: UnitOfWork, good, in_file: set, report: Report) -> None:
    """A barcode owned by a product that the file does not re-import is a conflict."""
    codes = sorted({bc for _, _, p in good for bc in p.barcodes})
    owner: dict[tuple[int, str], tuple[int, str]] = {}
    for part in chunks(codes):
        for r in uow.execute(select(t.barcodes.c.seller_id, t.barcodes.c.code, t.products.c.sku)
                             .join(t.products, t.products.c.id == t.barcodes.c.product_id)
                             .where(t.barcodes.c.code.in_(part))):
            owner[(r.seller_id, r.code)] = (r.seller_id, r.sku)
    for line, sid, p in good:
        for bc in p.barcodes:
            o = owner.get((sid, bc))
            if o is not None and o[1] != p.sku and o not in in_file:
                report.error(line, "barcodes", "barcode %(barcode)s already belongs to SKU '%(sku)s'",
                             code="catalog.barcode_taken", barcode=bc, sku=o[1])


def import_products(engine: Engine, principal: Principal, upload: Upload,
                    options: ImportOptions | None = None) -> Report:
    options = options or ImportOptions()
    progress = options.progress
    report = Report("products", options.dry_run)
    principal.require("admin", "manager", "seller")
    with open_rows(upload, report, COLUMNS, options.limits) as rows:
        if rows is None:
            return report
        with UnitOfWork(engine) as uow:
            products = validate_products(uow, principal, rows, report, progress)
            if options.dry_run or not report.valid:
                return report
            _write_products(uow, principal, products, progress)
            uow.commit()
    report.committed = True
    return report


def _write_products(uow: UnitOfWork, principal: Principal, products, progress: Progress | None) -> None:
    from qoima.catalog.services import upsert_product
    # Drop the barcodes of every re-imported product first, so that two products may swap barcodes.
    ids = product_ids(uow, {(sid, p.sku) for _, sid, p in products})
    for part in chunks(sorted(ids.values())):
        uow.execute(t.barcodes.delete().where(t.barcodes.c.product_id.in_(part)))
    for i, (_, _, product) in enumerate(products):
        upsert_product(uow, principal, product)
        if progress and i % 200 == 0:
            progress("writing", i, len(products))
    if progress:
        progress("writing", len(products), len(products))
