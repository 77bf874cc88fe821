"""The gauges /metrics shows that need the database (orders and outbox events by
status), as a snapshot the worker takes at most every `metrics_snapshot_s` seconds
(QOIMA_METRICS_SNAPSHOT_S, 15 by default) into `metric_snapshots`. A scrape reads
those few rows and counts no table, however many processes serve it and however
often it is scraped; `qoima_metrics_snapshot_age_seconds` says how old they are."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, select

from qoima.db import tables as t
from qoima.platform.settings import get_settings
from qoima.platform.unit_of_work import UnitOfWork, utcnow

log = logging.getLogger("qoima.worker")
GAUGES = {"qoima_orders": ("Orders by status", t.orders), "qoima_outbox_events": ("Outbox events by status", t.outbox)}
_last = [float("-inf")]


def take(engine: Engine) -> None:
    """Count now and replace the snapshot (one transaction: a scrape sees the old one or the new one)."""
    with UnitOfWork(engine) as uow:
        now = utcnow()
        rows = [{"name": name, "label": status, "value": float(n), "taken_at": now}
                for name, (_, table) in GAUGES.items()
                for status, n in uow.execute(select(table.c.status, func.count()).group_by(table.c.status))]
        uow.execute(delete(t.metric_snapshots))
        if rows:
            uow.execute(insert(t.metric_snapshots), rows)
        uow.commit()


def tick(engine: Engine) -> None:
    """The worker's pass: a new snapshot when the last one is older than metrics_snapshot_s."""
    now = time.monotonic()
    if now - _last[0] < get_settings().metrics_snapshot_s:
        return
    _last[0] = now
    try:
        take(engine)
    except Exception:  # noqa: BLE001 - housekeeping must not stop the worker
        log.exception("metric snapshot failed")


def read(engine: Engine) -> tuple[dict[str, dict[str, float]], datetime | None]:
    """{gauge: {status: value}} and when it was taken (None before the worker's first snapshot)."""
    out: dict[str, dict[str, float]] = {name: {} for name in GAUGES}
    taken_at = None
    with engine.connect() as conn:
        for r in conn.execute(select(t.metric_snapshots)):
            out.setdefault(r.name, {})[r.label] = r.value
            taken_at = r.taken_at if taken_at is None else min(taken_at, r.taken_at)
    return out, taken_at
