"""The background worker: drains the outbox; several may run at once on PostgreSQL.
Each worker has an id (host:pid:random) that it records on the events it holds;
its claims are short leases renewed while it works, so when a worker dies another
one takes its events over within `outbox_lease_s` seconds."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time

from sqlalchemy import Engine

from qoima.platform import outbox, outbox_pool  # noqa: F401 - outbox: the core the pool runs
from qoima.platform.settings import get_settings
from qoima.entrypoints import metric_snapshots
from qoima.channels import webhooks  # noqa: F401 - registers the webhook handlers
from qoima.orders.services import backorders  # noqa: F401 - registers the stock.changed handler
from qoima.entrypoints import importers  # import jobs queued by the API (platform/jobs.py)
from qoima.analytics.services import refresh as analytics_refresh
from qoima.orders.services import low_stock
from qoima.platform import idempotency, jobs

log = logging.getLogger("qoima.worker")
MIN_PASS_S = 0.02  # between two claim passes that found nothing to do
PURGE_EVERY = 600.0  # seconds between clean-ups of expired idempotency keys
_last_purge = [0.0]
WAVES_EVERY = 60.0  # seconds between two looks for waves due for automatic release
_last_waves = [0.0]


def _release_waves(engine: Engine) -> None:
    """Warehouses with an auto-release lead time: release what is due (floor/services/waves.py)."""
    now = time.monotonic()
    if now - _last_waves[0] < WAVES_EVERY:
        return
    _last_waves[0] = now
    try:
        from qoima.floor.services import waves
        waves.auto_release(engine)
    except Exception:  # noqa: BLE001 - a failed release waits for the next round
        log.exception("automatic wave release failed")


def _purge_keys(engine: Engine) -> None:
    """Expired Idempotency-Keys (24 h) go, in batches; a failure waits for the next round."""
    now = time.monotonic()
    if now - _last_purge[0] < PURGE_EVERY:
        return
    _last_purge[0] = now
    try:
        idempotency.purge_expired(engine)
        jobs.forget_checked(engine)  # checked import files nobody wrote within a day
    except Exception:  # noqa: BLE001 - housekeeping must not stop the worker
        log.exception("purging expired idempotency keys failed")


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:80]


def run(engine: Engine, interval: float = 1.0, once: bool = False, stop: threading.Event | None = None,
        max_attempts: int = 8, lease_s: float | None = None, worker_id: str | None = None) -> int:
    handled = 0
    stop = stop or threading.Event()
    importers.run_jobs(engine, stop, once=once)  # import jobs: a thread of their own (now, with once)
    worker_id = worker_id or new_worker_id()
    log.info("outbox worker %s started", worker_id)
    # events of different orders side by side, each order's in turn (platform/outbox_pool.py)
    pool = outbox_pool.Dispatcher(engine, threads=get_settings().outbox_threads, max_attempts=max_attempts,
                                  worker_id=worker_id, lease_s=lease_s)
    try:
        while not stop.is_set():
            pool.wake.clear()
            try:
                n = pool.pump()
            except Exception:  # noqa: BLE001 - keep the worker alive across database hiccups
                log.exception("outbox pass failed")
                n = 0
            _purge_keys(engine)
            _release_waves(engine)
            analytics_refresh.tick(engine)  # analytics snapshots: a debounced pass, at most every few seconds
            metric_snapshots.tick(engine)  # the gauges /metrics shows, at most every metrics_snapshot_s
            low_stock.tick(engine)  # low-stock alerts: `stock.low` once per crossing, at most every minute
            if once and n == 0:
                pool.drain()
                if pool.pump() == 0:
                    pool.drain()
                    break
                continue
            if n == 0:
                pool.wake.wait(interval)  # a finished event may let the next of its order go
                stop.wait(MIN_PASS_S)  # at most so many claim passes a second, however often events finish
    finally:
        pool.close()
    return handled + pool.handled


def start_thread(engine: Engine, interval: float = 1.0) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=run, args=(engine, interval, False, stop), name="qoima-worker", daemon=True).start()
    return stop
