"""CSV / XLSX import of orders, products and stock counts, as background jobs
(columns: see orders/services/order_import.py, catalog/services/product_import.py,
stock/services/stock_import.py; jobs: platform/jobs.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from qoima.entrypoints import importers
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep
from qoima.entrypoints.api.errors import COMMON, problems
from qoima.platform import jobs
from qoima.platform.access import Principal
from qoima.platform.bounds import Id64
from qoima.platform.imports import Upload as FileUpload

router = APIRouter(prefix="/api/v1", tags=["import"], responses=COMMON)

DryRun = Annotated[bool, Query(description="validate and count only; nothing is written")]
Upload = Annotated[UploadFile, File(description="a .csv (UTF-8, UTF-16 with BOM or Windows-1251) or .xlsx file")]
DESCRIPTION = ("Multipart upload of one file (field `file`). Answers **202** with the import job (`Location` and "
               "`url`: `GET /api/v1/jobs/{id}`); the worker runs it. Poll the job: `status` goes queued -> running "
               "-> done or failed, `progress` says how far it is. The whole file is validated first; any bad row "
               "and nothing is written: the job fails, its `report.errors` lists `{line, field, message}` (the "
               "header is line 1) and `error` is the problem (title `Import has invalid rows`). With "
               "`dry_run=true` the job ends `done` with the report whether the file is valid or not. "
               "**413** (problem+json, with `limit_mb`) when the file is larger than the limit of its kind "
               "(`QOIMA_IMPORT_MAX_MB_ORDERS`, `_PRODUCTS`, `_STOCK`; 32, 16, 16 MB by default), checked before "
               "the body is read. A file with more rows than `QOIMA_IMPORT_MAX_ROWS`, a cell longer than 131,072 "
               "characters, or an XLSX that expands too far (`QOIMA_IMPORT_XLSX_MAX_UNCOMPRESSED_MB`, "
               "`QOIMA_IMPORT_XLSX_MAX_RATIO`) fails its job with a row error. The report names the file's "
               "`format` and, for a CSV, the `encoding` it was read in.")

TOO_LARGE = {413: {"description": "The file is larger than the limit of this import (`limit_mb`, `limit_bytes`)",
                   "content": {"application/problem+json": {}}}}


def _queue(kind: str, file: UploadFile, dry_run: bool, request: Request, principal: Principal) -> JSONResponse:
    data = importers.read_upload(file, request.app.state.settings, kind)
    engine = request.app.state.engine
    job_id = importers.queue(engine, principal, kind, FileUpload(data, file.filename, file.content_type), dry_run)
    job = jobs.get(engine, principal, job_id)
    return JSONResponse(jsonable_encoder(job), status_code=202, headers={"Location": job["url"]})


@router.post("/orders/import", summary="Import orders (one row per order line), as a job", description=DESCRIPTION,
             status_code=202, responses=TOO_LARGE)
def import_orders(file: Upload, request: Request, principal: PrincipalDep, dry_run: DryRun = False):
    return _queue("orders", file, dry_run, request, principal)


@router.post("/products/import", summary="Import products (created or updated by seller and SKU), as a job",
             description=DESCRIPTION, status_code=202, responses=TOO_LARGE)
def import_products(file: Upload, request: Request, principal: PrincipalDep, dry_run: DryRun = False):
    return _queue("products", file, dry_run, request, principal)


@router.post("/stock/import", summary="Import counted stock per SKU and location (staff only), as a job",
             description=DESCRIPTION, status_code=202, responses=TOO_LARGE)
def import_stock(file: Upload, request: Request, principal: PrincipalDep, dry_run: DryRun = False):
    return _queue("stock", file, dry_run, request, principal)


@router.get("/jobs/{job_id}", tags=["import"], summary="A background job: status, progress, report",
            description="A seller sees the jobs of its own seller, staff every job; anything else is 404. "
                        "`report` (the per-line report of an import) and `error` are set once the job has ended.",
            responses=problems(404))
def get_job(job_id: Id64, engine: EngineDep, principal: PrincipalDep):
    return jobs.get(engine, principal, job_id)
