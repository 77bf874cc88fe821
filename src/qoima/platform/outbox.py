"""The outbox worker: claims due events (FOR UPDATE SKIP LOCKED on PostgreSQL, so
several workers share the queue), runs the side effect, marks the event done;
a failure is retried with exponential back-off, and after the last attempt the
event is parked as 'dead' where operators see it and can replay it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Callable

from sqlalchemy import Engine, func, select, update

from qoima.db import tables as t
from qoima.platform.unit_of_work import UnitOfWork, utcnow

log = logging.getLogger("qoima.worker")
Handler = Callable[[Engine, dict], None]
HANDLERS: dict[str, list[Handler]] = {}


class TransientError(Exception):
    """A failure worth retrying (network, 5xx, timeouts)."""


def handles(topic: str):
    def register(fn: Handler) -> Handler:
        HANDLERS.setdefault(topic, []).append(fn)
        return fn
    return register


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempts, 3600))


def claim(engine: Engine, batch: int = 50) -> list:
    with UnitOfWork(engine) as uow:
        q = (select(t.outbox).where(t.outbox.c.status == "pending", t.outbox.c.next_attempt_at <= utcnow())
             .order_by(t.outbox.c.id).limit(batch))
        if uow.is_postgres:
            q = q.with_for_update(skip_locked=True)
        rows = uow.execute(q).all()
        if rows:  # lease: push the due time so another worker won't take them meanwhile
            uow.execute(update(t.outbox).where(t.outbox.c.id.in_([r.id for r in rows]))
                        .values(next_attempt_at=utcnow() + timedelta(minutes=5)))
        uow.commit()
        return rows


def run_once(engine: Engine, batch: int = 50, max_attempts: int = 8) -> int:
    rows = claim(engine, batch)
    for row in rows:
        event = {"id": row.id, "topic": row.topic, "aggregate_id": row.aggregate_id, "seller_id": row.seller_id,
                 "payload": row.payload, "attempt": row.attempts + 1}
        try:
            for handler in HANDLERS.get(row.topic, []):
                handler(engine, event)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the event
            _failed(engine, row, exc, max_attempts)
        else:
            with UnitOfWork(engine) as uow:
                uow.execute(update(t.outbox).where(t.outbox.c.id == row.id).values(
                    status="done", handled_at=utcnow(), attempts=row.attempts + 1, last_error=None))
                uow.commit()
    return len(rows)


def _failed(engine: Engine, row, exc: Exception, max_attempts: int) -> None:
    attempts = row.attempts + 1
    dead = attempts >= max_attempts or not isinstance(exc, TransientError)
    log.warning("outbox event %s (%s) failed attempt %s: %s", row.id, row.topic, attempts, exc)
    with UnitOfWork(engine) as uow:
        uow.execute(update(t.outbox).where(t.outbox.c.id == row.id).values(
            status="dead" if dead else "pending", attempts=attempts, last_error=f"{type(exc).__name__}: {exc}"[:2000],
            next_attempt_at=utcnow() + backoff(attempts)))
        uow.commit()


def replay(engine: Engine, event_id: int) -> None:
    with UnitOfWork(engine) as uow:
        uow.execute(update(t.outbox).where(t.outbox.c.id == event_id, t.outbox.c.status == "dead")
                    .values(status="pending", next_attempt_at=utcnow()))
        uow.commit()


def backlog(engine: Engine) -> dict:
    with UnitOfWork(engine) as uow:
        rows = uow.execute(select(t.outbox.c.status, func.count()).group_by(t.outbox.c.status)).all()
        return {s: n for s, n in rows}
