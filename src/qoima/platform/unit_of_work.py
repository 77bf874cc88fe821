"""Unit of work: one transaction per use case. It rolls back unless the use
case calls commit(). Work that must see the final state of the transaction
(e.g. the stock.changed events with the final counters) registers itself with
`before_commit` and runs inside the transaction, just before it commits.

`run(engine, fn)` runs a whole use case `fn(uow)` in a fresh unit of work,
commits it, and re-runs it from the start when PostgreSQL asks for it: a
serialization failure (40001), a deadlock (40P01) or a lock timeout (55P03,
lock_timeout is set on every connection, see db/engine.py). Re-running is safe
because nothing leaves the transaction before it commits (side effects go
through the outbox). The number of attempts is bounded and the waits between
them are jittered, so two transactions that deadlocked do not meet again."""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timezone
from typing import Callable, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from qoima.platform.errors import DomainError

log = logging.getLogger("qoima.db")
T = TypeVar("T")

# SQLSTATEs after which the whole transaction may simply be run again
SERIALIZATION_FAILURE, DEADLOCK, LOCK_TIMEOUT = "40001", "40P01", "55P03"
RETRYABLE = frozenset({SERIALIZATION_FAILURE, DEADLOCK, LOCK_TIMEOUT})
DEFAULT_ATTEMPTS = 5
BASE_DELAY_S = 0.02


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Busy(DomainError):
    """The database stayed too busy for this request after every retry: try again shortly."""

    status = 503
    title = "Busy, try again"


class UnitOfWork:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.conn: Connection | None = None
        self._tx = None
        self.committed = False
        self._before_commit: dict[str, Callable[["UnitOfWork"], None]] = {}
        self.state: dict = {}  # per-transaction scratch space of the use cases (e.g. stock rows touched)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def __enter__(self) -> "UnitOfWork":
        self.conn = self.engine.connect()
        self._tx = self.conn.begin()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._tx is not None and self._tx.is_active:
                self._tx.rollback()
        finally:
            self.conn.close()

    def before_commit(self, key: str, fn: Callable[["UnitOfWork"], None]) -> None:
        """Run fn(uow) once, inside the transaction, right before it commits (registered once per key)."""
        self._before_commit.setdefault(key, fn)

    def commit(self) -> None:
        while self._before_commit:
            key = next(iter(self._before_commit))
            self._before_commit.pop(key)(self)
        self._tx.commit()
        self.committed = True

    def execute(self, statement, params=None):
        return self.conn.execute(statement, params) if params is not None else self.conn.execute(statement)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (psycopg), or None."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(exc, "sqlstate", None)


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and sqlstate(exc) in RETRYABLE


def retry_delay(attempt: int) -> float:
    """Full jitter: a random wait up to BASE_DELAY_S * 2**attempt (20, 40, 80, 160 ms ...)."""
    return random.uniform(0, BASE_DELAY_S * (2 ** attempt))


def attempts_allowed() -> int:
    from qoima.platform.settings import get_settings
    return max(1, get_settings().db_retry_attempts)


def run(engine: Engine, fn: Callable[[UnitOfWork], T], attempts: int | None = None) -> T:
    """Run the use case fn(uow) in its own unit of work and commit it; a serialization failure,
    deadlock or lock timeout rolls it back and runs it again (bounded, jittered). When every
    attempt failed, Busy (503 problem+json) says so instead of a bare database error."""
    attempts = attempts or attempts_allowed()
    for attempt in range(1, attempts + 1):
        try:
            with UnitOfWork(engine) as uow:
                result = fn(uow)
                uow.commit()
                return result
        except DBAPIError as exc:
            if not is_retryable(exc):
                raise
            state = sqlstate(exc)
            if attempt == attempts:
                log.warning("giving up after %s attempts (SQLSTATE %s): %s", attempt, state, exc.orig)
                raise Busy("the database is busy (SQLSTATE %(sqlstate)s); nothing was changed, please retry",
                           field=None, code="db.busy", sqlstate=state) from exc
            log.info("retrying after SQLSTATE %s (attempt %s of %s)", state, attempt, attempts)
            time.sleep(retry_delay(attempt))
    raise AssertionError("unreachable")
