"""Per-endpoint back-off and circuit breaker for webhook deliveries (one process).

An endpoint is a URL's origin (scheme, host, port). Each keeps:

- in flight: at most `webhook_max_in_flight` deliveries at once, so a hanging
  endpoint ties up that many pool threads and no more (its other events wait until
  the oldest delivery has had its timeout; a quick one's wait 0.2 s);
- closed: deliveries go; each failure (no connection, timeout, 5xx, 429) counts,
  a response below 500 resets the count;
- open: after `webhook_breaker_failures` consecutive failures its events are not
  tried for `webhook_breaker_open_s`, doubled each time it opens again (at most an
  hour): the per-endpoint back-off, on top of each event's own;
- half-open: when the open interval has passed, one probe delivery goes; success
  closes the circuit, failure opens it again for longer.

An event that is not tried raises `outbox.Deferred`: it waits in its place (the
events of its order behind it) and no attempt is counted. Hand-written: the
breaker libraries on PyPI (pybreaker, circuitbreaker) count failures per call
site, not per key with a concurrency limit, and the state is a few fields."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from qoima.platform.outbox import Deferred
from qoima.platform.settings import get_settings

MAX_OPEN_S = 3600.0
BUSY_WAIT_S = 0.2  # a busy endpoint that answers quickly: look again soon
SLOW_S = 0.5  # a delivery in flight longer than this: the next slot frees when it times out at the latest


@dataclass
class Endpoint:
    failures: int = 0  # consecutive
    opened: int = 0  # times opened in a row
    open_until: float = 0.0  # time.monotonic()
    in_flight: int = 0
    probing: bool = False
    started: list = field(default_factory=list)  # when the deliveries in flight began (monotonic)

    def state(self, now: float) -> str:
        limit = get_settings().webhook_breaker_failures
        if self.failures < limit:
            return "closed"
        return "open" if now < self.open_until else "half-open"


class Breakers:
    def __init__(self):
        self._lock = threading.Lock()
        self._endpoints: dict[str, Endpoint] = {}

    @staticmethod
    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or ''}"

    def get(self, origin: str) -> Endpoint:
        with self._lock:
            return self._endpoints.setdefault(origin, Endpoint())

    def enter(self, origin: str) -> None:
        """Take a delivery slot of the endpoint, or raise Deferred."""
        s = get_settings()
        with self._lock:
            e = self._endpoints.setdefault(origin, Endpoint())
            now = time.monotonic()
            state = e.state(now)
            if state == "open":
                raise Deferred(f"endpoint {origin} circuit open after {e.failures} failures",
                               max(0.1, e.open_until - now))
            if state == "half-open":
                if e.probing:
                    raise Deferred(f"endpoint {origin} is being probed", s.webhook_timeout_s)
                e.probing = True
            elif e.in_flight >= s.webhook_max_in_flight:
                oldest = min(e.started, default=now)
                wait = oldest + s.webhook_timeout_s - now if now - oldest > SLOW_S else BUSY_WAIT_S
                raise Deferred(f"endpoint {origin} busy ({e.in_flight} in flight)", max(BUSY_WAIT_S, wait))
            e.in_flight += 1
            e.started.append(now)

    def leave(self, origin: str, ok: bool) -> None:
        s = get_settings()
        with self._lock:
            e = self._endpoints.setdefault(origin, Endpoint())
            e.in_flight = max(0, e.in_flight - 1)
            if e.started:
                e.started.pop(0)
            e.probing = False
            if ok:
                e.failures, e.opened, e.open_until = 0, 0, 0.0
                return
            e.failures += 1
            if e.failures >= s.webhook_breaker_failures:
                e.opened += 1
                e.open_until = time.monotonic() + min(s.webhook_breaker_open_s * 2 ** (e.opened - 1), MAX_OPEN_S)

    def reset(self) -> None:
        with self._lock:
            self._endpoints.clear()


BREAKERS = Breakers()
