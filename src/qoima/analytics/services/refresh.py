"""The worker's analytics pass: which sellers changed since their last snapshot and are
due, and computing a fresh snapshot for each (every kind at once, from one read of
the orders). Debounced, not driven by events: live intake writes hundreds of
orders a second, and a seller's snapshot is recomputed at most once per
`debounce_s` (settings: QOIMA_ANALYTICS_REFRESH_SECONDS) and only when the state
of its orders (count, last update, merges) differs from the one the newest
snapshot was computed from. A seller without any snapshot is due at once, so
`qoima demo` fills its pages within seconds of start.

Several workers may run the pass at once on PostgreSQL: a seller is computed
under a session advisory lock that the others skip, and one snapshot per
source version is all the unique key allows (a second one is dropped)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from qoima.analytics.services import compute, store
from qoima.analytics.services.data import load_orders
from qoima.db import tables as t
from qoima.platform.settings import get_settings
from qoima.platform.unit_of_work import UnitOfWork, utcnow

log = logging.getLogger("qoima.analytics")


@dataclass(frozen=True)
class Policy:
    debounce_s: float = 300.0  # at most one snapshot per seller per this many seconds
    check_s: float = 5.0       # how often the worker loop looks for due sellers (`tick`)


def policy() -> Policy:
    s = get_settings()
    return Policy(debounce_s=s.analytics_refresh_seconds, check_s=s.analytics_check_seconds)


def refresh_due(engine: Engine, rules: Policy | None = None, now: datetime | None = None) -> list[int]:
    """One pass: compute a snapshot for every due seller; returns the ids of the sellers computed.
    A seller whose computation fails is logged and skipped (the next pass tries again after the
    debounce window); the pass itself never raises on one seller's data."""
    rules = rules or policy()
    now = now or utcnow()
    with engine.connect() as conn:
        sellers = conn.execute(select(t.sellers.c.id).order_by(t.sellers.c.id)).scalars().all()
        heads = store.heads(conn)
        due = [(sid, version) for sid in sellers
               if (version := _due(conn, sid, heads.get(sid), rules, now)) is not None]
    done = []
    for seller_id, version in due:
        try:
            if _refresh_locked(engine, seller_id, version):
                done.append(seller_id)
        except Exception:  # noqa: BLE001 - one seller's failure must not stop the others or the worker
            log.exception("analytics snapshot of seller %s failed", seller_id)
            _failed[(_engine_key(engine), seller_id)] = now
    return done


def _due(conn, seller_id: int, head: store.Head | None, rules: Policy, now: datetime) -> str | None:
    """The source version to compute the seller at, or None when it is not due."""
    failed = _failed.get((_engine_key(conn.engine), seller_id))
    if failed is not None and (now - failed).total_seconds() < rules.debounce_s:
        return None
    if head is not None and (now - head.computed_at).total_seconds() < rules.debounce_s:
        return None
    version = store.source_version(conn, seller_id)
    return None if head is not None and head.source_version == version else version


def refresh_seller(engine: Engine, seller_id: int, version: str | None = None) -> bool:
    """Compute and store a snapshot of every kind for one seller now (no debounce, no lock).
    False when a snapshot of that source version exists already."""
    with engine.connect() as conn:
        version = version or store.source_version(conn, seller_id)
    started = time.perf_counter()
    compute.RUNS["snapshot"] += 1
    as_of = utcnow()
    orders = load_orders(engine, seller_id)
    data = compute.compute_all(orders, _contacts(engine, seller_id), as_of)
    run = store.Run(seller_id, version, as_of, time.perf_counter() - started, data)
    try:
        with UnitOfWork(engine) as uow:
            store.save(uow.conn, run)
            uow.commit()
    except IntegrityError:  # another worker stored this source version first: same data, keep theirs
        return False
    log.info("analytics snapshot of seller %s: %.2f s", seller_id, run.compute_seconds)
    return True


def _refresh_locked(engine: Engine, seller_id: int, version: str) -> bool:
    """`refresh_seller` unless another pass (thread or worker) holds the seller or has just stored
    this version; one computation per seller at a time."""
    if engine.dialect.name != "postgresql":
        with _local_lock:
            return not _stored(engine, seller_id, version) and refresh_seller(engine, seller_id, version)
    # advisory locks are per database: the schema is part of the key, so two installations (or two
    # test processes) in one database never take each other's seller for busy
    key = f"qoima.analytics_snapshot:{seller_id}"
    with engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(hashtextextended(current_schema() || '/' || :k, 0))"),
                           {"k": key}).scalar()
        conn.commit()
        if not got:
            return False  # another worker is computing this seller right now
        try:
            return not _stored(engine, seller_id, version) and refresh_seller(engine, seller_id, version)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(current_schema() || '/' || :k, 0))"),
                         {"k": key})
            conn.commit()


def _stored(engine: Engine, seller_id: int, version: str) -> bool:
    """Has a pass that finished just before we took the lock stored this version already?"""
    with engine.connect() as conn:
        head = store.latest_head(conn, seller_id, "overview")
    return head is not None and head[1].source_version == version


def _contacts(engine: Engine, seller_id: int) -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(t.customers.c.id, t.customers.c.name, t.customers.c.phone, t.customers.c.email)
                            .where(t.customers.c.seller_id == seller_id, t.customers.c.merged_into_id.is_(None))).all()
    return pl.DataFrame([tuple(x) for x in rows], schema=compute.CONTACT_SCHEMA, orient="row")


# --- the worker loop's hook -------------------------------------------------------------------------------------

_local_lock = threading.Lock()       # one computation at a time per process on SQLite
_failed: dict[tuple, datetime] = {}  # (engine, seller) -> when its last computation failed
_last_tick: dict[str, float] = {}    # engine -> monotonic time of its last pass


def _engine_key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def tick(engine: Engine, rules: Policy | None = None) -> list[int]:
    """Called by the worker on every loop turn: runs `refresh_due` at most every `check_s` seconds.
    Never raises (the worker must keep draining the outbox)."""
    rules = rules or policy()
    key, clock = _engine_key(engine), time.monotonic()
    if clock - _last_tick.get(key, float("-inf")) < rules.check_s:
        return []
    _last_tick[key] = clock
    try:
        return refresh_due(engine, rules)
    except Exception:  # noqa: BLE001 - e.g. the database is away for a moment
        log.exception("analytics refresh pass failed")
        return []
