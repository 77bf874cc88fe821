"""The file importers by kind, for the CLI (in the foreground) and for the import
jobs that the API queues and the worker runs (platform/jobs.py)."""

from __future__ import annotations

import tempfile
import threading

from sqlalchemy import Engine

from qoima.catalog.services.product_import import import_products
from qoima.orders.services.order_import import import_orders
from qoima.platform import jobs, roles
from qoima.platform.access import Principal
from qoima.platform.errors import Forbidden, problem_body
from qoima.platform.imports import ImportOptions, Upload, invalid_rows
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.services.stock_import import import_stock

IMPORTERS = {"orders": import_orders, "products": import_products, "stock": import_stock}
KINDS = {f"import.{kind}": kind for kind in IMPORTERS}
# who may import what, dry runs included (the role matrix, platform/roles.py; checked before the job is
# queued; the importer checks again when it runs)
ROLES = {kind: roles.roles_with(ability) for kind, ability in roles.IMPORTS.items()}


def read_upload(file, settings, kind: str) -> bytes:
    """The bytes of an uploaded file (a Starlette UploadFile, spooled to disk by the multipart parser), for
    the job's row; refused (413) when it is larger than the limit of its kind (entrypoints/uploads.py)."""
    from qoima.entrypoints.uploads import check_size
    check_size(file, settings, kind)
    file.file.seek(0)
    return file.file.read()


def queue(engine: Engine, principal: Principal, kind: str, upload: Upload, dry_run: bool,
          keep_checked: bool = False) -> int:
    """Queue an import job for the worker (the API and the web page); returns the job's id. `keep_checked`:
    a check-only run that finds the file valid keeps it, to be written as checked (the web page)."""
    if kind not in IMPORTERS:
        raise Forbidden("unknown import '%(kind)s'", field="kind", code="import.unknown_kind", kind=kind)
    principal.require(*ROLES[kind])
    with UnitOfWork(engine) as uow:
        job_id = jobs.submit(uow, principal, jobs.NewJob(f"import.{kind}", upload.data, {
            "dry_run": dry_run, "filename": upload.filename, "content_type": upload.content_type,
            **({"keep_checked": True} if dry_run and keep_checked else {})}))
        uow.commit()
    return job_id


def _run_import(engine: Engine, run: jobs.Run) -> jobs.Outcome:
    """The job's file is spooled to a temporary file and its bytes let go: the import reads the file as a
    stream, so the worker holds neither the upload nor its rows while it runs."""
    with tempfile.NamedTemporaryFile(prefix="qoima-import-") as spool:
        spool.write(run.data)
        spool.flush()
        run.data = b""
        return _import(engine, run, Upload(None, run.options.get("filename"), run.options.get("content_type"),
                                           path=spool.name))


def _import(engine: Engine, run: jobs.Run, upload: Upload) -> jobs.Outcome:
    options = run.options
    from qoima.platform.settings import get_settings
    report = IMPORTERS[KINDS[run.kind]](engine, run.principal, upload,
                                        ImportOptions(dry_run=bool(options.get("dry_run")), progress=run.progress,
                                                      limits=get_settings().import_limits()))
    result = report.as_dict()
    if report.valid or report.dry_run:  # a dry run reports a bad file; it does not fail
        return jobs.Outcome(report=result)
    problem = invalid_rows(result)
    body = problem_body(problem)
    return jobs.Outcome(report=result, failed=True,
                        error={**{k: body[k] for k in ("title", "status", "detail", "field", "code", "params")},
                               "template": problem.template})


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
