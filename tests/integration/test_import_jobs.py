"""Import jobs in the worker (platform/jobs.py, entrypoints/importers.py): the worker runs what the API
queued, a dead worker's job is taken over, progress is visible while a job runs; and `qoima import`
still runs in the foreground, without a job."""

from __future__ import annotations

import gc
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

import qoima
from qoima.db import tables as t
from qoima.entrypoints import importers, worker
from qoima.platform import jobs
from qoima.platform.access import Principal
from qoima.platform.unit_of_work import UnitOfWork, utcnow

ADMIN = Principal(user_id=None, email="importer@qoima.local", role="admin")
ORDERS = (b"seller,channel,external_id,sku,quantity,unit_price\n"
          b"seller-a,api,J-1,SKU-1,2,100\nseller-a,api,J-1,SKU-2,1,100\nseller-a,api,J-2,SKU-3,1,100\n")
SAMPLES = Path(qoima.__file__).parent / "data" / "samples"


def submit(engine, data: bytes = ORDERS, principal: Principal = ADMIN, kind: str = "import.orders",
           dry_run: bool = False) -> int:
    with UnitOfWork(engine) as uow:
        job_id = jobs.submit(uow, principal, jobs.NewJob(kind, data, {"dry_run": dry_run, "filename": "o.csv",
                                                                     "content_type": "text/csv"}))
        uow.commit()
    return job_id


def job_row(engine, job_id: int):
    with engine.connect() as conn:
        return conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).one()


def orders(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.orders)).scalar_one()


def test_the_worker_runs_a_queued_import_and_keeps_its_report(world):
    job_id = submit(world.engine)
    assert job_row(world.engine, job_id).status == "queued" and orders(world.engine) == 0
    worker.run(world.engine, once=True)  # `qoima worker --once`: the queued jobs, then the outbox
    row = job_row(world.engine, job_id)
    assert row.status == "done" and row.attempts == 1 and row.input is None and row.error is None
    assert row.report["committed"] is True and row.report["counts"]["new"] == 2
    assert row.started_at <= row.finished_at and row.progress_total > 0
    assert orders(world.engine) == 2
    assert gc.isenabled()  # tuned for the import in the worker's own process, restored after it
    with world.engine.connect() as conn:  # the orders' events were handled by the same pass
        assert conn.execute(select(func.count()).select_from(t.outbox).where(t.outbox.c.status == "pending")
                            ).scalar_one() == 0


def test_a_job_of_a_killed_worker_is_taken_over(world):
    job_id = submit(world.engine)
    assert jobs.claim(world.engine).id == job_id  # a worker took it ... and died: no heartbeat since
    assert jobs.run_pending(world.engine) == 0  # its heartbeat is fresh: nobody else takes it yet
    with world.engine.begin() as conn:
        conn.execute(update(t.jobs).values(heartbeat_at=utcnow() - jobs.STALE_AFTER - timedelta(seconds=1)))
    assert jobs.run_pending(world.engine) == 1
    row = job_row(world.engine, job_id)
    assert row.status == "done" and row.attempts == 2 and orders(world.engine) == 2


def test_a_job_that_keeps_killing_its_worker_fails(world):
    job_id = submit(world.engine)
    with world.engine.begin() as conn:
        conn.execute(update(t.jobs).values(status="running", attempts=jobs.MAX_ATTEMPTS,
                                           heartbeat_at=utcnow() - jobs.STALE_AFTER - timedelta(seconds=1)))
    assert jobs.run_pending(world.engine) == 0
    row = job_row(world.engine, job_id)
    assert row.status == "failed" and row.error["field"] == "file" and orders(world.engine) == 0


def test_a_refused_import_fails_with_the_problem(world):
    job_id = submit(world.engine, b"seller,sku,warehouse,location,quantity\nseller-a,SKU-1,ALA,A-01,1\n",
                    principal=world.principals["seller_a"], kind="import.stock")
    jobs.run_pending(world.engine)
    row = job_row(world.engine, job_id)
    assert row.status == "failed" and row.report is None
    assert row.error["status"] == 403 and "staff role" in row.error["detail"]


def test_progress_is_visible_while_the_job_runs(world, monkeypatch):
    """In this process from memory (on SQLite the import holds the write lock); on PostgreSQL the heartbeat
    also writes it to the job's row for the API processes."""
    monkeypatch.setattr(jobs, "BEAT_SECONDS", 0.05)
    seen, release = [], threading.Event()

    def slow(engine, run: jobs.Run) -> jobs.Outcome:
        run.progress("validating", 3, 10)
        seen.append(jobs.get(engine, ADMIN, run.id))
        if engine.dialect.name == "postgresql":
            for _ in range(100):
                if job_row(engine, run.id).progress_done == 3:
                    break
                release.wait(0.05)
            seen.append(jobs.view(dict(job_row(engine, run.id)._mapping)))
        return jobs.Outcome(report={"ok": True})

    monkeypatch.setitem(jobs.HANDLERS, "test.slow", slow)
    job_id = submit(world.engine, kind="test.slow")
    jobs.run_pending(world.engine)
    assert all(v["status"] == "running" and v["progress"] == {"stage": "validating", "done": 3, "total": 10,
                                                              "percent": 30} for v in seen)
    assert len(seen) == (2 if world.engine.dialect.name == "postgresql" else 1)
    done = jobs.get(world.engine, ADMIN, job_id)
    assert done["status"] == "done" and done["report"] == {"ok": True} and done["progress"]["percent"] == 100


def test_cli_import_runs_in_the_foreground(tmp_path, monkeypatch):
    """`qoima import` writes at once with its progress bar, queues no job, and exits 2 on a bad file."""
    from qoima import demo
    from qoima.db.engine import make_engine
    from qoima.entrypoints.cli import app
    from qoima.platform.settings import get_settings
    for var in ("QOIMA_DATABASE_URL", "QOIMA_SECRET_KEY", "QOIMA_ENV"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QOIMA_DATA_DIR", str(tmp_path / "unused"))
    get_settings.cache_clear()
    data_dir = tmp_path / "data"
    cli = CliRunner()
    try:
        assert cli.invoke(app, ["migrate", "--data-dir", str(data_dir)]).exit_code == 0
        engine = make_engine(f"sqlite:///{data_dir / 'qoima.db'}")
        demo.seed(engine, orders=0)
        interval = sys.getswitchinterval()
        for kind in ("products", "orders", "stock"):
            dry = cli.invoke(app, ["import", kind, str(SAMPLES / f"{kind}.csv"), "--dry-run", "--data-dir",
                                   str(data_dir)], catch_exceptions=False)
            assert dry.exit_code == 0 and "Dry run: nothing was written" in " ".join(dry.stdout.split()), dry.output
            done = cli.invoke(app, ["import", kind, str(SAMPLES / f"{kind}.csv"), "--data-dir", str(data_dir)],
                              catch_exceptions=False)
            assert done.exit_code == 0 and "imported" in done.stdout, done.output
        assert gc.isenabled() and sys.getswitchinterval() == interval
        bad = tmp_path / "bad.csv"
        bad.write_bytes(b"seller,channel,external_id,sku,quantity,unit_price\nnobody,csv,X-1,ARU-001,1,10\n")
        refused = cli.invoke(app, ["import", "orders", str(bad), "--data-dir", str(data_dir)], catch_exceptions=False)
        out = " ".join(refused.stdout.split())
        assert refused.exit_code == 2 and "unknown seller 'nobody'" in out and "nothing was written" in out
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(t.jobs)).scalar_one() == 0
            assert conn.execute(select(func.count()).select_from(t.orders)).scalar_one() > 0
        engine.dispose()
    finally:
        get_settings.cache_clear()


def test_every_import_kind_has_a_job_handler():
    assert set(importers.KINDS) == {"import.orders", "import.products", "import.stock"}
    assert all(jobs.HANDLERS[kind] is not None for kind in importers.KINDS)


@pytest.mark.parametrize("kind", ["orders", "products", "stock"])
def test_a_dry_run_job_of_every_kind(engine, kind):
    from qoima import demo
    from qoima.platform.access import SYSTEM
    demo.seed(engine, orders=0)
    job_id = submit(engine, (SAMPLES / f"{kind}.csv").read_bytes(), principal=SYSTEM, kind=f"import.{kind}",
                    dry_run=True)
    jobs.run_pending(engine)
    row = job_row(engine, job_id)
    assert row.status == "done" and row.report["valid"] and not row.report["committed"], row.report
