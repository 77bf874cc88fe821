"""The outbox worker: claims due events, runs their side effects, marks them done;
a failure is retried with exponential back-off, and after the last attempt the
event is parked as 'dead' where operators see it and can replay it.

Claim lease. A worker claims a batch for a short lease (`outbox_lease_s`, 10 s by
default): `claimed_by` names the worker, `claimed_until` says until when. While
it handles the batch a heartbeat thread renews the lease every third of it, so a
slow webhook keeps its claim; a worker that was killed stops renewing, and once
`claimed_until` has passed another worker takes the events over (the lost attempt
is counted, so an event that kills every worker ends up dead, not in a loop).
Finishing an event is conditional on still holding it: a worker that lost its
lease stops its batch instead of racing the worker that took it over.

Order per aggregate. Events of one aggregate (the family of the topic, the part
before the first dot, plus `aggregate_id`: every `order.*` event of order 42 is
one aggregate) are handled in the order they were written (by id). An event is
claimed only when every earlier event of its aggregate is done, or is claimed in
the same batch ahead of it; it waits while an earlier one is pending, being
retried (back-off), claimed by another worker, or dead. Several workers share the
queue (FOR UPDATE SKIP LOCKED on PostgreSQL; a run whose head another worker has
locked is skipped whole), and unrelated aggregates are never held up. Events
without an aggregate_id have no order.

Dead events. A dead event holds its aggregate's later events back: webhook
consumers expect an order's events in order, so "shipped" must not arrive while
"packed" is parked. `replay` returns the dead event to pending with a full new
set of attempts; once it is done the events behind it follow in order.

Handlers are retried, so they must be idempotent: each gets the event with its
`idempotency_key` ("qoima-event-<id>"), the same on every attempt and takeover."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from sqlalchemy import Engine, and_, case, exists, func, or_, select, update

from qoima.db import tables as t
from qoima.platform.settings import get_settings
from qoima.platform.unit_of_work import UnitOfWork, utcnow

log = logging.getLogger("qoima.worker")
Handler = Callable[[Engine, dict], None]
HANDLERS: dict[str, list[Handler]] = {}
OPEN = ("pending", "dead")  # states in which an event holds back the later events of its aggregate


class TransientError(Exception):
    """A failure worth retrying (network, 5xx, timeouts)."""


class Deferred(Exception):
    """Not tried now (its endpoint's circuit is open, or busy): the event waits `wait_s` seconds in its
    place, and no attempt is counted."""

    def __init__(self, message: str, wait_s: float):
        super().__init__(message)
        self.wait_s = wait_s


def handles(topic: str):
    def register(fn: Handler) -> Handler:
        HANDLERS.setdefault(topic, []).append(fn)
        return fn
    return register


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempts, 3600))


def default_worker_id() -> str:
    """host:pid:thread, unique among the workers sharing one database."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"[:80]


def aggregate_key(topic: str, aggregate_id: int | None) -> tuple[str, int] | None:
    return None if aggregate_id is None else (topic.split(".", 1)[0], aggregate_id)


def idempotency_key(event_id: int) -> str:
    return f"qoima-event-{event_id}"


@dataclass(frozen=True)
class Claimed:
    """One claimed event; attempts counts the lost attempt of a takeover."""
    id: int
    topic: str
    aggregate_id: int | None
    seller_id: int | None
    payload: dict
    attempts: int
    taken_over: bool  # the previous holder's lease ran out

    @property
    def key(self) -> tuple[str, int] | None:
        return aggregate_key(self.topic, self.aggregate_id)

    def event(self) -> dict:
        return {"id": self.id, "topic": self.topic, "aggregate_id": self.aggregate_id, "seller_id": self.seller_id,
                "payload": self.payload, "attempt": self.attempts + 1, "idempotency_key": idempotency_key(self.id)}


def _lease_seconds(lease_s: float | None) -> float:
    return float(lease_s if lease_s is not None else get_settings().outbox_lease_s)


def _family(column, dialect: str):
    """The topic's family: 'order' for 'order.status_changed'."""
    if dialect == "postgresql":
        return func.split_part(column, ".", 1)
    return func.substr(column, 1, func.instr(column + ".", ".") - 1)


def _claim_query(uow: UnitOfWork, batch: int, now):
    o, e = t.outbox, t.outbox.alias("earlier")
    dialect = uow.engine.dialect.name
    same = and_(e.c.aggregate_id == o.c.aggregate_id, e.c.id < o.c.id,
                _family(e.c.topic, dialect) == _family(o.c.topic, dialect))
    held_up = or_(e.c.status == "dead",
                  and_(e.c.status == "pending", or_(e.c.next_attempt_at > now, e.c.claimed_until >= now)))
    prior = select(func.count()).select_from(e).where(same, e.c.status.in_(OPEN)).scalar_subquery()
    q = (select(o, prior.label("prior"))
         .where(o.c.status == "pending", o.c.next_attempt_at <= now,
                or_(o.c.claimed_until.is_(None), o.c.claimed_until < now), ~exists().where(same, held_up))
         .order_by(o.c.id).limit(batch))
    return q.with_for_update(skip_locked=True, of=o) if uow.is_postgres else q


def _in_aggregate_order(rows: list) -> list:
    """Keep an event only if every open earlier event of its aggregate is ahead of it in this batch.
    (On PostgreSQL SKIP LOCKED may have skipped the head that another worker is claiming right now.)"""
    taken, ahead, stopped = [], {}, set()
    for r in rows:
        key = aggregate_key(r.topic, r.aggregate_id)
        if key is not None:
            if key in stopped or r.prior != ahead.get(key, 0):
                stopped.add(key)
                continue
            ahead[key] = ahead.get(key, 0) + 1
        taken.append(r)
    return taken


def claim(engine: Engine, batch: int = 50, *, worker_id: str | None = None, lease_s: float | None = None) -> list:
    """Claim up to `batch` due events for `lease_s` seconds, in aggregate order."""
    worker_id = worker_id or default_worker_id()
    lease = _lease_seconds(lease_s)
    with UnitOfWork(engine) as uow:
        now = utcnow()
        taken = _in_aggregate_order(uow.execute(_claim_query(uow, batch, now)).all())
        if taken:
            o = t.outbox
            uow.execute(update(o).where(o.c.id.in_([r.id for r in taken])).values(
                claimed_by=worker_id, claimed_until=now + timedelta(seconds=lease),
                attempts=o.c.attempts + case((o.c.claimed_by.is_(None), 0), else_=1)))
        uow.commit()
    return [Claimed(r.id, r.topic, r.aggregate_id, r.seller_id, r.payload,
                    r.attempts + (r.claimed_by is not None), r.claimed_by is not None) for r in taken]


class Lease:
    """The claim a worker holds on its batch, renewed by a heartbeat thread until closed."""

    def __init__(self, engine: Engine, worker_id: str, seconds: float):
        self.engine, self.worker_id, self.seconds = engine, worker_id, seconds
        self.held: set[int] = set()
        self.lost = False
        self._renewed = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, ids: list[int], since: float) -> None:
        self.held, self._renewed = set(ids), since
        self._thread = threading.Thread(target=self._beat, name=f"qoima-lease-{self.worker_id}", daemon=True)
        self._thread.start()

    def valid(self) -> bool:
        return not self.lost and time.monotonic() < self._renewed + self.seconds

    def drop(self, event_id: int) -> None:
        with self._lock:
            self.held.discard(event_id)

    def _beat(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            self.renew()

    def renew(self) -> None:
        with self._lock:
            ids = sorted(self.held)
            if not ids or self.lost:
                return
            started = time.monotonic()
            o = t.outbox
            try:
                with UnitOfWork(self.engine) as uow:
                    n = uow.execute(update(o).where(o.c.id.in_(ids), o.c.claimed_by == self.worker_id,
                                                    o.c.status == "pending")
                                    .values(claimed_until=utcnow() + timedelta(seconds=self.seconds))).rowcount
                    uow.commit()
            except Exception:  # noqa: BLE001 - a missed heartbeat is retried; valid() tells when it is too late
                log.exception("outbox lease of %s not renewed", self.worker_id)
                return
            if n < len(ids):
                self.lost = True
                log.warning("outbox worker %s lost its lease on %s event(s)", self.worker_id, len(ids) - n)
            else:
                self._renewed = started

    def close(self) -> None:
        """Stop the heartbeat and give back what was not handled (it stays in its place in the queue)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(self.seconds, 30))
        with self._lock:
            ids, self.held = sorted(self.held), set()
        self.release(ids)

    def release(self, ids: list[int]) -> None:
        if not ids:
            return
        o = t.outbox
        try:
            with UnitOfWork(self.engine) as uow:
                uow.execute(update(o).where(o.c.id.in_(ids), o.c.claimed_by == self.worker_id,
                                            o.c.status == "pending").values(claimed_by=None, claimed_until=None))
                uow.commit()
        except Exception:  # noqa: BLE001 - not given back: the lease runs out by itself in seconds
            log.exception("outbox worker %s could not give back %s event(s)", self.worker_id, len(ids))


def give_back(lease: Lease, ids: list[int]) -> None:
    """Give back some of a lease's events before the lease ends (the delivery pool: a group that stopped)."""
    for event_id in ids:
        lease.drop(event_id)
    lease.release(sorted(ids))


def run_once(engine: Engine, batch: int = 50, max_attempts: int = 8, *, worker_id: str | None = None,
             lease_s: float | None = None) -> int:
    """Claim one batch and handle it; returns how many events were handled (done, retried or parked)."""
    lease = Lease(engine, worker_id or default_worker_id(), _lease_seconds(lease_s))
    since = time.monotonic()
    claimed = claim(engine, batch, worker_id=lease.worker_id, lease_s=lease.seconds)
    if not claimed:
        return 0
    lease.hold([c.id for c in claimed], since)
    handled, stopped = 0, set()
    try:
        for c in claimed:
            if c.key is not None and c.key in stopped:
                continue  # an earlier event of its aggregate failed: this one waits behind it
            if not lease.valid():
                log.warning("outbox worker %s: lease ran out, leaving the rest of the batch", lease.worker_id)
                break
            outcome = _handle(engine, lease, c, max_attempts)
            handled += 1
            if outcome == "lost":
                break
            if outcome != "done" and c.key is not None:
                stopped.add(c.key)
    finally:
        lease.close()
    return handled


def _handle(engine: Engine, lease: Lease, c: Claimed, max_attempts: int) -> str:
    if c.taken_over and c.attempts >= max_attempts:
        return _finish(engine, lease, c, {
            "status": "dead", "last_error": f"WorkerLost: the worker handling it stopped ({c.attempts} times)",
            "next_attempt_at": utcnow()})
    try:
        for handler in HANDLERS.get(c.topic, []):
            handler(engine, c.event())
    except Deferred as exc:
        return _finish(engine, lease, c, {"status": "pending", "claimed_by": None, "last_error": str(exc)[:200],
                                          "next_attempt_at": utcnow() + timedelta(seconds=exc.wait_s)})
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the event
        attempts = c.attempts + 1
        dead = attempts >= max_attempts or not isinstance(exc, TransientError)
        log.warning("outbox event %s (%s) failed attempt %s: %s", c.id, c.topic, attempts, exc)
        values = {"status": "dead" if dead else "pending", "attempts": attempts,
                  "last_error": f"{type(exc).__name__}: {exc}"[:2000], "next_attempt_at": utcnow() + backoff(attempts)}
        if not dead:
            values["claimed_by"] = None
        return _finish(engine, lease, c, values)
    return _finish(engine, lease, c, {"status": "done", "handled_at": utcnow(), "attempts": c.attempts + 1,
                                      "last_error": None})


def _finish(engine: Engine, lease: Lease, c: Claimed, values: dict) -> str:
    """Record the outcome, if this worker still holds the event."""
    lease.drop(c.id)
    o = t.outbox
    with UnitOfWork(engine) as uow:
        n = uow.execute(update(o).where(o.c.id == c.id, o.c.claimed_by == lease.worker_id, o.c.status == "pending")
                        .values(claimed_until=None, **values)).rowcount
        uow.commit()
    if n == 0:
        lease.lost = True
        log.warning("outbox worker %s lost event %s to another worker", lease.worker_id, c.id)
        return "lost"
    return values["status"] if values["status"] != "pending" else "retry"


def replay(engine: Engine, event_id: int) -> bool:
    """Send a dead event again with a full new set of attempts; the events behind it follow."""
    o = t.outbox
    with UnitOfWork(engine) as uow:
        n = uow.execute(update(o).where(o.c.id == event_id, o.c.status == "dead").values(
            status="pending", attempts=0, next_attempt_at=utcnow(), claimed_by=None, claimed_until=None)).rowcount
        uow.commit()
    return n > 0


def backlog(engine: Engine) -> dict:
    with UnitOfWork(engine) as uow:
        rows = uow.execute(select(t.outbox.c.status, func.count()).group_by(t.outbox.c.status)).all()
        return {s: n for s, n in rows}
