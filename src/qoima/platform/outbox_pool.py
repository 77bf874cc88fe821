"""The outbox worker's delivery pool: events of different aggregates are handled side
by side on a thread pool, so a slow or dead webhook endpoint holds up only its own
events; the events of one aggregate still go one after the other (the next waits for
the previous, as in `outbox.run_once`).

`Dispatcher.pump` claims what the pool has room for, as `outbox.claim` does (in
aggregate order, under a short lease renewed by a heartbeat), groups the batch by
aggregate and hands each group to a thread; it does not wait for them. The next pump
claims more: an aggregate whose event is still in flight is not claimed again, since
its pending, leased event holds its later events back (`outbox._claim_query`). A
group stops at its first event that did not succeed; the rest of it is given back
when the batch's lease is closed and waits in its place in the queue.

How many events of one endpoint are in flight at once, and when an endpoint that
keeps failing is left alone for a while, is for the handler to say (it raises
`outbox.Deferred`): see channels/endpoints.py for the webhooks."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from qoima.platform import outbox

log = logging.getLogger("qoima.worker")


class Dispatcher:
    def __init__(self, engine: Engine, *, threads: int = 8, max_attempts: int = 8, worker_id: str | None = None,
                 lease_s: float | None = None):
        self.engine, self.threads, self.max_attempts = engine, max(1, threads), max_attempts
        self.worker_id = worker_id or outbox.default_worker_id()
        self.lease_s = lease_s
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="qoima-outbox")
        self._lock = threading.Lock()
        self._in_flight = 0  # claimed events not yet finished or given back
        self._idle = threading.Condition(self._lock)
        self.handled = 0
        self.wake = threading.Event()  # set when a group finishes: there may be room, or a next event

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def pump(self, batch: int = 50) -> int:
        """Claim what there is room for and start it; returns how many events were claimed."""
        room = min(batch, self.threads * 4 - self.in_flight)
        if room <= 0:
            return 0
        lease = outbox.Lease(self.engine, self.worker_id, outbox._lease_seconds(self.lease_s))
        since = time.monotonic()
        claimed = outbox.claim(self.engine, room, worker_id=self.worker_id, lease_s=lease.seconds)
        if not claimed:
            return 0
        lease.hold([c.id for c in claimed], since)
        groups: dict = {}
        for c in claimed:
            groups.setdefault(c.key if c.key is not None else ("event", c.id), []).append(c)
        with self._lock:
            self._in_flight += len(claimed)
        remaining = [len(groups)]
        for group in groups.values():
            self._pool.submit(self._run_group, lease, group, remaining)
        return len(claimed)

    def _run_group(self, lease: outbox.Lease, group: list, remaining: list) -> None:
        handled = 0
        rest = group
        try:
            for c in group:
                if not lease.valid():
                    break
                outcome = outbox._handle(self.engine, lease, c, self.max_attempts)
                handled += 1
                rest = group[handled:]
                if outcome != "done":
                    break  # the rest of its aggregate waits behind it
        except Exception:  # noqa: BLE001 - a database hiccup: the lease gives the events back
            log.exception("outbox worker %s: a group of %s event(s) failed", self.worker_id, len(group))
        finally:
            if rest and remaining[0] > 1:
                outbox.give_back(lease, [c.id for c in rest])  # now, not when the batch ends
            with self._lock:
                self.handled += handled
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                lease.close()  # gives back what was not handled
            with self._lock:
                self._in_flight -= len(group)
                self._idle.notify_all()
            self.wake.set()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until nothing is in flight; False if the timeout came first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._in_flight:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        self.drain()
        self._pool.shutdown(wait=True)
