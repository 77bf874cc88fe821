"""The file importers by kind, for the CLI (in the foreground) and for the import
jobs that the API queues and the worker runs (platform/jobs.py)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from qoima.catalog.services.product_import import import_products
from qoima.orders.services.order_import import import_orders
from qoima.platform import jobs, roles
from qoima.platform.access import Principal
from qoima.platform.errors import Forbidden
from qoima.platform.imports import ImportOptions, Upload, invalid_rows
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.services.stock_import import import_stock

IMPORTERS = {"orders": import_orders, "products": import_products, "stock": import_stock}
KINDS = {f"import.{kind}": kind for kind in IMPORTERS}
# who may import what, dry runs included (the role matrix, platform/roles.py; checked before the job is
# queued; the importer checks again when it runs)
ROLES = {kind: roles.roles_with(ability) for kind, ability in roles.IMPORTS.items()}


def read_upload(file, max_mb: int) -> bytes:
    """The uploaded file's bytes (a file object), refused when it is larger than max_mb."""
    limit = max_mb * 1024 * 1024
    data = file.read(limit + 1)
    if len(data) > limit:
        raise jobs.TooLarge(f"the file is larger than {max_mb} MB: split it", field="file")
    return data


def queue(engine: Engine, principal: Principal, kind: str, upload: Upload, dry_run: bool) -> int:
    """Queue an import job for the worker (the API and the web page); returns the job's id."""
    if kind not in IMPORTERS:
        raise Forbidden(f"unknown import '{kind}'", field="kind")
    principal.require(*ROLES[kind])
    with UnitOfWork(engine) as uow:
        job_id = jobs.submit(uow, principal, jobs.NewJob(f"import.{kind}", upload.data, {
            "dry_run": dry_run, "filename": upload.filename, "content_type": upload.content_type}))
        uow.commit()
    return job_id


def _run_import(engine: Engine, run: jobs.Run) -> jobs.Outcome:
    options = run.options
    upload = Upload(run.data, options.get("filename"), options.get("content_type"))
    report = IMPORTERS[KINDS[run.kind]](engine, run.principal, upload,
                                        ImportOptions(dry_run=bool(options.get("dry_run")), progress=run.progress))
    result = report.as_dict()
    if report.valid or report.dry_run:  # a dry run reports a bad file; it does not fail
        return jobs.Outcome(report=result)
    problem = invalid_rows(result)
    return jobs.Outcome(report=result, failed=True, error={"title": problem.title, "status": problem.status,
                                                           "detail": problem.message, "field": problem.field})


for _kind in KINDS:
    jobs.handles(_kind)(_run_import)


def run_jobs(engine: Engine, stop: threading.Event, once: bool = False, interval: float = 0.5) -> None:
    """The worker's import-job runner. With `once`, the queued jobs run now, in the caller's thread; else a
    thread of its own polls for jobs until `stop` (so a long import never holds up the outbox). The
    interpreter is tuned for bulk imports (platform.imports.bulk_interpreter) only when the worker owns its
    process (`qoima worker` runs it in the main thread); in `qoima demo` the worker thread shares the process
    with the API, whose settings stay as they are."""
    own_process = threading.current_thread() is threading.main_thread()
    if once:
        jobs.run_pending(engine, tune_interpreter=own_process)
    else:
        jobs.start_runner(engine, stop, interval=interval, tune_interpreter=own_process)
