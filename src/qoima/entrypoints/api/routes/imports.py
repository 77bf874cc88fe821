"""CSV / XLSX import of orders, products and stock counts (columns: see orders/services/order_import.py,
catalog/services/product_import.py, stock/services/stock_import.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from qoima.entrypoints.importers import IMPORTERS
from qoima.platform.imports import ImportOptions
from qoima.platform.imports import Upload as FileUpload
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep

router = APIRouter(prefix="/api/v1", tags=["import"])

DryRun = Annotated[bool, Query(description="validate and count only; nothing is written")]
Upload = Annotated[UploadFile, File(description="a .csv (UTF-8) or .xlsx file")]
DESCRIPTION = ("Multipart upload of one file (field `file`). The whole file is validated first; any bad row and "
               "nothing is written: 422 problem+json with `errors: [{line, field, message}]` (the header is "
               "line 1). With `dry_run=true` the report is returned (200) whether valid or not.")


def _run(kind: str, file: UploadFile, dry_run: bool, engine, principal) -> dict:
    data = file.file.read()
    report = IMPORTERS[kind](engine, principal, FileUpload(data, file.filename, file.content_type),
                             ImportOptions(dry_run=dry_run))
    if not dry_run:
        report.raise_if_invalid()
    return report.as_dict()


@router.post("/orders/import", summary="Import orders (one row per order line)", description=DESCRIPTION)
def import_orders(file: Upload, engine: EngineDep, principal: PrincipalDep, dry_run: DryRun = False):
    return _run("orders", file, dry_run, engine, principal)


@router.post("/products/import", summary="Import products (created or updated by seller and SKU)",
             description=DESCRIPTION)
def import_products(file: Upload, engine: EngineDep, principal: PrincipalDep, dry_run: DryRun = False):
    return _run("products", file, dry_run, engine, principal)


@router.post("/stock/import", summary="Import counted stock per SKU and location (staff only)",
             description=DESCRIPTION)
def import_stock(file: Upload, engine: EngineDep, principal: PrincipalDep, dry_run: DryRun = False):
    return _run("stock", file, dry_run, engine, principal)
