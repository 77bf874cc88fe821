"""The background worker: drains the outbox; several may run at once on PostgreSQL."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from qoima.platform import outbox  # noqa: F401 - registers handlers
from qoima.channels import webhooks
from qoima.analytics.services import refresh as analytics_refresh

log = logging.getLogger("qoima.worker")


def run(engine: Engine, interval: float = 1.0, once: bool = False, stop: threading.Event | None = None,
        max_attempts: int = 8) -> int:
    handled = 0
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            n = outbox.run_once(engine, max_attempts=max_attempts)
        except Exception:  # noqa: BLE001 - keep the worker alive across database hiccups
            log.exception("outbox pass failed")
            n = 0
        handled += n
        analytics_refresh.tick(engine)  # analytics snapshots: a debounced pass, at most every few seconds
        if once and n == 0:
            break
        if n == 0:
            stop.wait(interval)
    return handled


def start_thread(engine: Engine, interval: float = 1.0) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=run, args=(engine, interval, False, stop), name="qoima-worker", daemon=True).start()
    return stop
