"""File imports on the web: upload a CSV / XLSX file (/imports), then follow the
job the worker runs (/imports/{id}: a progress bar polling /imports/{id}/status,
then the report with every bad row)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import File, Form, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from qoima.entrypoints import importers
from qoima.entrypoints.web import lookups
from qoima.entrypoints.web.common import CsrfDep, UserDep, Web, page_router
from qoima.entrypoints.web.i18n import N_
from qoima.platform import jobs
from qoima.platform.bounds import Id64, Text
from qoima.platform.errors import DomainError
from qoima.platform.imports import Upload

router = page_router()
KIND_LABELS = {"orders": N_("Orders"), "products": N_("Products"), "stock": N_("Stock counts")}
STATUS_LABELS = {"queued": N_("Queued"), "running": N_("Running"), "done": N_("Done"), "failed": N_("Failed")}
SAMPLES = {"orders": "seller, channel, external_id, customer_name, customer_phone, customer_email, delivery_type, "
                     "address, city, lat, lon, received_at, sku, quantity, unit_price",
           "products": "seller, sku, name, category, price, barcodes, weight_g, length_mm, width_mm, height_mm, "
                       "marking_required, replenishment_days",
           "stock": "seller, sku, warehouse, location, quantity"}


def _kinds(web: Web) -> list[str]:
    p = web.principal
    return [k for k in importers.IMPORTERS if p.role in importers.ROLES[k]]


def _page(web: Web, form_error: str | None = None, status: int = 200, kind: str = "", seller: str = ""):
    sellers = []
    if web.principal.is_staff:
        with web.uow() as uow:
            sellers = lookups.sellers(uow, web.principal)
    return web.render("imports.html", status=status, kinds=_kinds(web), kind_labels=KIND_LABELS, columns=SAMPLES,
                      status_labels=STATUS_LABELS, items=jobs.recent(web.engine, web.principal),
                      form_error=form_error, chosen=kind, sellers=sellers, chosen_seller=seller)


def _acting(web: Web, seller: str):
    """Who the import runs as: staff who chose a seller act for it (the rows without a seller are that
    seller's, and the seller sees the job); a seller user always for itself."""
    p = web.principal
    if not p.is_staff or not seller:
        return p
    with web.uow() as uow:
        sid = lookups.seller_id_by_code(uow, p, seller)
    if sid is None:
        raise DomainError("Choose the seller.", field="seller", code="imports.seller_required")
    return replace(p, seller_id=sid)


def _too_large(web: Web, mb) -> str:
    return web._("The import was not started: %(reason)s",
                 reason=web._("the file is larger than %(mb)s MB, the limit of this import; split it into smaller "
                              "files", mb=mb))


@router.get("/imports")
def imports_page(web: UserDep, too_large: int | None = None):
    """`too_large`: the upload was refused by its size before it was read (entrypoints/uploads.py)."""
    if too_large is not None:
        return _page(web, form_error=_too_large(web, too_large))
    return _page(web)


@router.post("/imports")
def start_import(web: UserDep, _csrf: CsrfDep, file: Annotated[UploadFile, File()],
                 kind: Annotated[str, Form()] = "", dry_run: Annotated[str, Form()] = "",
                 seller: Annotated[Text(40), Form()] = ""):
    try:
        if kind not in _kinds(web):
            raise DomainError("Choose what the file holds.", code="imports.kind_required")
        if not file.filename:
            raise DomainError("Choose a file.", code="imports.file_required")
        data = importers.read_upload(file, web.request.app.state.settings, kind)
        job_id = importers.queue(web.engine, _acting(web, seller.strip()), kind,
                                 Upload(data, file.filename, file.content_type), dry_run == "1", keep_checked=True)
    except jobs.TooLarge as exc:
        return _page(web, form_error=_too_large(web, exc.extra.get("limit_mb")), status=413, kind=kind,
                     seller=seller)
    except DomainError as exc:
        return _page(web, form_error=web._("The import was not started: %(reason)s", reason=web.error(exc)),
                     status=422 if exc.status < 500 else exc.status, kind=kind, seller=seller)
    return web.redirect(f"/imports/{job_id}")


@router.get("/imports/{job_id}")
def import_job_page(web: UserDep, job_id: Id64):
    job = jobs.get(web.engine, web.principal, job_id)
    kind = job["kind"].removeprefix("import.")
    committable = (job["dry_run"] and job["status"] == "done" and bool((job["report"] or {}).get("valid"))
                   and kind in _kinds(web) and jobs.has_checked_input(web.engine, job_id))
    return web.render("import_job.html", job=job, kind=kind, kind_labels=KIND_LABELS, status_labels=STATUS_LABELS,
                      committable=committable)


@router.post("/imports/{job_id}/commit")
def commit_checked_import(web: UserDep, _csrf: CsrfDep, job_id: Id64):
    """Write the file that a check-only run found valid, exactly as it was checked (a new job; the whole
    file is checked again as it is written, so a change in between still refuses it line by line)."""
    jobs.get(web.engine, web.principal, job_id)  # another seller's job: the 404 page
    with web.uow() as uow:
        try:
            kind, options, data, seller_id = jobs.take_checked_input(uow, web.principal, job_id)
        except DomainError as exc:
            if exc.status == 404:
                raise
            web.flash("error", web._("The import was not started: %(reason)s", reason=web.error(exc)))
            return web.redirect(f"/imports/{job_id}")
        plain = kind.removeprefix("import.")
        if plain not in _kinds(web):
            raise DomainError("Choose what the file holds.", code="imports.kind_required")
        acting = replace(web.principal, seller_id=seller_id) if web.principal.is_staff else web.principal
        new_id = jobs.submit(uow, acting, jobs.NewJob(kind, data, {
            "dry_run": False, "filename": options.get("filename"), "content_type": options.get("content_type")}))
        uow.commit()
    return web.redirect(f"/imports/{new_id}")


@router.get("/imports/{job_id}/status")
def import_job_status(web: UserDep, job_id: Id64):
    """The job as JSON, for the progress bar's polling (signed in with the web session)."""
    job = jobs.get(web.engine, web.principal, job_id)
    return JSONResponse(jsonable_encoder({k: job[k] for k in ("id", "status", "progress", "finished_at")}),
                        headers={"Cache-Control": "no-store"})
