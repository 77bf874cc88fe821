"""Jobs: long work taken off the request (file imports today).

The API stores the job (who asked, what, the uploaded file) and answers 202 with
the job's URL; a runner in the worker process claims queued jobs (FOR UPDATE
SKIP LOCKED on PostgreSQL, so several workers share them), runs the handler
registered for the job's kind, and stores the outcome: status done or failed,
the per-line report, or the error. While a job runs, its progress (stage, done,
total) is kept in memory and written to the job's row about once a second with
a heartbeat; a running job whose heartbeat stopped (its worker was killed) is
taken over by another runner (the imports are all-or-nothing and idempotent, so
running one again is safe). The file is dropped from the row when the job ends.

SQLite (the one-process demo): the import holds the database's write lock, so a
running job's progress is served from memory (``live``) instead of the row, and
nothing is written until the job ends.

A seller user sees the jobs of its own seller; staff see every job.
"""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from sqlalchemy import Engine, or_, select, update

from qoima.db import tables as t
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict, DomainError, NotFound, problem_body
from qoima.platform.unit_of_work import UnitOfWork, utcnow

log = logging.getLogger("qoima.jobs")
STALE_AFTER = timedelta(seconds=60)  # a running job without a heartbeat for this long is taken over
BEAT_SECONDS = 1.0
MAX_ATTEMPTS = 3
_VIEW_COLUMNS = [c for c in t.jobs.c if c.name != "input"]


class TooLarge(DomainError):
    status = 413
    title = "File too large"


@dataclass
class Outcome:
    """What a handler returns: the report to show, and whether the job failed."""
    report: dict | None = None
    failed: bool = False
    error: dict | None = None  # {title, detail, field}


@dataclass
class Run:
    """A claimed job as its handler sees it."""
    id: int
    kind: str
    principal: Principal
    options: dict
    data: bytes
    stage: str = ""
    done: int = 0
    total: int = 0
    status: str = "running"
    row: dict = field(default_factory=dict)  # the job's row when claimed (for the live view)

    def progress(self, stage: str, done: int, total: int) -> None:
        """The importers' progress callback: kept in memory, written by the heartbeat."""
        self.stage, self.done, self.total = stage, max(done, 0), max(total, 0)


Handler = Callable[[Engine, Run], Outcome]
HANDLERS: dict[str, Handler] = {}
_live: dict[int, Run] = {}  # the jobs running in this process
_live_lock = threading.Lock()


def handles(kind: str):
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn
    return register


# ---------------------------------------------------------------- the API's side

@dataclass(frozen=True)
class NewJob:
    kind: str
    data: bytes
    options: dict


def submit(uow: UnitOfWork, principal: Principal, job: NewJob) -> int:
    """Queue a job; returns its id. The caller commits."""
    return uow.execute(t.jobs.insert().values(
        kind=job.kind, seller_id=principal.seller_id, user_id=principal.user_id, actor=principal.email,
        role=principal.role, status="queued", options=job.options, input=job.data, input_bytes=len(job.data),
        created_at=utcnow()).returning(t.jobs.c.id)).scalar_one()


def get(engine: Engine, principal: Principal, job_id: int) -> dict:
    """The job as the API shows it; NotFound for a job that is not the principal's to see."""
    with _live_lock:
        run = _live.get(job_id)
        row = dict(run.row) if run is not None else None
    if row is not None:  # running here: its progress is in memory (and the database may be busy with it)
        row.update(stage=run.stage, progress_done=run.done, progress_total=run.total)
    else:
        with UnitOfWork(engine) as uow:
            found = uow.execute(select(*_VIEW_COLUMNS).where(t.jobs.c.id == job_id)).first()
        row = dict(found._mapping) if found is not None else None
    if row is None or not _visible(principal, row):
        raise NotFound("no job %(id)s", field="job_id", code="jobs.no_job", id=job_id)
    return view(row)


def recent(engine: Engine, principal: Principal, limit: int = 20) -> list[dict]:
    """The latest jobs the principal may see, newest first."""
    q = select(*_VIEW_COLUMNS).order_by(t.jobs.c.id.desc()).limit(limit)
    if not principal.is_staff:
        q = q.where(t.jobs.c.seller_id == principal.seller_id)
    with UnitOfWork(engine) as uow:
        rows = [dict(r._mapping) for r in uow.execute(q)]
    with _live_lock:
        for row in rows:
            run = _live.get(row["id"])
            if run is not None:
                row.update(status="running", stage=run.stage, progress_done=run.done, progress_total=run.total)
    return [view(row) for row in rows]


def _visible(principal: Principal, row: dict) -> bool:
    return principal.is_staff or (principal.seller_id is not None and row["seller_id"] == principal.seller_id)


def view(row: dict) -> dict:
    total, done = row["progress_total"], row["progress_done"]
    if row["status"] in ("done", "failed"):
        percent = 100
    else:
        percent = min(100, done * 100 // total) if total else 0
    return {"id": row["id"], "url": f"/api/v1/jobs/{row['id']}", "kind": row["kind"], "status": row["status"],
            "dry_run": bool((row["options"] or {}).get("dry_run")), "filename": (row["options"] or {}).get("filename"),
            "progress": {"stage": row["stage"], "done": done, "total": total, "percent": percent},
            "created_at": row["created_at"], "started_at": row["started_at"], "finished_at": row["finished_at"],
            "report": row["report"], "error": row["error"]}


# ---------------------------------------------------------------- the worker's side

def claim(engine: Engine) -> Run | None:
    """The oldest queued job (or a running one whose worker died), marked running by this runner."""
    now = utcnow()
    with UnitOfWork(engine) as uow:
        q = (select(t.jobs).where(or_(t.jobs.c.status == "queued",
                                      (t.jobs.c.status == "running") & (t.jobs.c.heartbeat_at < now - STALE_AFTER)))
             .order_by(t.jobs.c.id).limit(1))
        if uow.is_postgres:
            q = q.with_for_update(skip_locked=True)
        row = uow.execute(q).first()
        if row is None:
            return None
        if row.attempts >= MAX_ATTEMPTS:  # taken over too often: it kills its worker; give up on it
            _finish(uow, row.id, Outcome(failed=True, error={
                "title": "Import failed", "field": "file",
                "detail": "the job stopped its worker several times; nothing was written"}))
            uow.commit()
            return claim(engine)
        uow.execute(update(t.jobs).where(t.jobs.c.id == row.id).values(
            status="running", attempts=row.attempts + 1, started_at=now, heartbeat_at=now))
        uow.commit()
    data = row._mapping
    principal = Principal(user_id=data["user_id"], email=data["actor"], role=data["role"], seller_id=data["seller_id"])
    view_row = {c.name: data[c.name] for c in _VIEW_COLUMNS}
    view_row.update(status="running", started_at=now)
    return Run(id=row.id, kind=row.kind, principal=principal, options=dict(row.options or {}),
               data=bytes(row.input or b""), row=view_row)


def run_one(engine: Engine, tune_interpreter: bool = False) -> bool:
    """Claim and run one job; False when there was none."""
    run = claim(engine)
    if run is None:
        return False
    with _live_lock:
        _live[run.id] = run
    beat = _Heartbeat(engine, run)
    beat.start()
    try:
        outcome = _execute(engine, run, tune_interpreter)
    finally:
        beat.stop()
    with UnitOfWork(engine) as uow:
        _finish(uow, run.id, outcome, run)
        uow.commit()
    with _live_lock:
        _live.pop(run.id, None)
    return True


def _execute(engine: Engine, run: Run, tune_interpreter: bool) -> Outcome:
    handler = HANDLERS.get(run.kind)
    if handler is None:
        return Outcome(failed=True, error={"title": "Unknown job", "detail": f"no handler for '{run.kind}'",
                                           "field": "kind"})
    from qoima.platform.imports import bulk_interpreter
    try:
        with bulk_interpreter() if tune_interpreter else nullcontext():
            return handler(engine, run)
    except DomainError as exc:  # refused as a whole (no right, a lost race): the API's problem, in the job
        body = problem_body(exc)
        return Outcome(failed=True, error={**{k: body[k] for k in ("title", "status", "detail", "field", "code", "params")},
                                           "template": exc.template})
    except Exception:  # noqa: BLE001 - recorded on the job; the import's transaction was rolled back
        log.exception("job %s (%s) failed", run.id, run.kind)
        return Outcome(failed=True, error={"title": "Import failed", "status": 500, "field": None,
                                           "detail": "the import stopped with an internal error; nothing was written"})


def _keeps_input(outcome: Outcome, run: Run | None) -> bool:
    """A check-only run that found the file valid keeps the file, so that it can be written as it was
    checked (`take_checked_input`) when it was asked to (the web page's check; option `keep_checked`);
    every other ended job lets its file go, and a kept one goes after KEEP_CHECKED (`forget_checked`)."""
    return (run is not None and bool(run.options.get("dry_run")) and bool(run.options.get("keep_checked"))
            and not outcome.failed and bool((outcome.report or {}).get("valid")))


def _finish(uow: UnitOfWork, job_id: int, outcome: Outcome, run: Run | None = None) -> None:
    now = utcnow()
    progress = {} if run is None else {"stage": run.stage[:20], "progress_done": run.done, "progress_total": run.total}
    dropped = {} if _keeps_input(outcome, run) else {"input": None}
    uow.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(
        status="failed" if outcome.failed else "done", report=outcome.report, error=outcome.error,
        finished_at=now, heartbeat_at=now, **dropped, **progress))


KEEP_CHECKED = timedelta(hours=24)


def forget_checked(engine: Engine, now=None) -> int:
    """Drop the files of checked jobs nobody wrote within KEEP_CHECKED (the worker's housekeeping)."""
    cutoff = (now or utcnow()) - KEEP_CHECKED
    with UnitOfWork(engine) as uow:
        n = uow.execute(update(t.jobs).where(t.jobs.c.status == "done", t.jobs.c.input.is_not(None),
                                             t.jobs.c.finished_at < cutoff).values(input=None)).rowcount
        uow.commit()
    return n


def has_checked_input(engine: Engine, job_id: int) -> bool:
    """Does this ended check-only job still hold its valid file (it can be written once)?"""
    with UnitOfWork(engine) as uow:
        return bool(uow.execute(select(t.jobs.c.id).where(
            t.jobs.c.id == job_id, t.jobs.c.status == "done", t.jobs.c.input.is_not(None))).first())


def take_checked_input(uow: UnitOfWork, principal: Principal, job_id: int) -> tuple[str, dict, bytes, int | None]:
    """(kind, options, file, the seller it was checked for) of a valid check-only job of the principal's, for writing it now; the job lets
    its file go (it is written once). NotFound for a job not the principal's to see; a Conflict when the
    job has no file to write (not a valid check, or written already)."""
    row = uow.execute(select(t.jobs).where(t.jobs.c.id == job_id).with_for_update()).first()
    if row is None or not _visible(principal, dict(row._mapping)):
        raise NotFound("no job %(job_id)s", field="job_id", code="jobs.not_found", job_id=job_id)
    if row.status != "done" or row.input is None or not (row.options or {}).get("dry_run"):
        raise Conflict("this import has no checked file to write: check the file again", field="job_id",
                       code="jobs.nothing_to_commit")
    uow.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(input=None))
    return row.kind, dict(row.options or {}), bytes(row.input), row.seller_id


class _Heartbeat:
    """Writes the running job's progress and heartbeat about once a second (PostgreSQL; on SQLite the import
    holds the write lock and the progress is served from memory)."""

    def __init__(self, engine: Engine, run: Run):
        self.engine, self.run = engine, run
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"qoima-job-{run.id}", daemon=True)

    def start(self) -> None:
        if self.engine.dialect.name == "postgresql":
            self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join()

    def _beat(self) -> None:
        while not self.stopped.wait(BEAT_SECONDS):
            run = self.run
            try:
                with UnitOfWork(self.engine) as uow:
                    uow.execute(update(t.jobs).where(t.jobs.c.id == run.id, t.jobs.c.status == "running").values(
                        stage=run.stage[:20], progress_done=run.done, progress_total=run.total,
                        heartbeat_at=utcnow()))
                    uow.commit()
            except Exception:  # noqa: BLE001 - a missed beat is retried a second later
                log.warning("heartbeat of job %s failed", run.id, exc_info=True)


def run_pending(engine: Engine, tune_interpreter: bool = False) -> int:
    """Run queued jobs until there are none; returns how many ran."""
    n = 0
    while run_one(engine, tune_interpreter):
        n += 1
    return n


def run_forever(engine: Engine, stop: threading.Event, interval: float = 0.5, tune_interpreter: bool = False) -> None:
    while not stop.is_set():
        try:
            ran = run_one(engine, tune_interpreter)
        except Exception:  # noqa: BLE001 - keep the runner alive across database hiccups
            log.exception("job runner pass failed")
            ran = False
        if not ran:
            stop.wait(interval)


def start_runner(engine: Engine, stop: threading.Event, interval: float = 0.5,
                 tune_interpreter: bool = False) -> threading.Thread:
    thread = threading.Thread(target=run_forever, args=(engine, stop, interval, tune_interpreter),
                              name="qoima-jobs", daemon=True)
    thread.start()
    return thread

