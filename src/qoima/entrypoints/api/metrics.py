"""Prometheus metrics: request counts and latency, order intake paths, plus orders by
state and the outbox backlog from the worker's snapshot (entrypoints/metric_snapshots.py:
a scrape counts no table).

Several processes (`qoima serve --workers N`): with PROMETHEUS_MULTIPROC_DIR set (serve
sets it for N > 1) prometheus-client keeps each process's counters in files there and
a scrape adds them up (multiprocess mode), so whichever process answers, the totals
are the same. The token (QOIMA_METRICS_TOKEN) is checked by the route (routes/system.py)."""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine

from qoima.entrypoints import metric_snapshots
from qoima.orders.services.express_intake import INTAKE
from qoima.platform.unit_of_work import utcnow


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


class _DbCollector:
    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self):
        values, taken_at = metric_snapshots.read(self.engine)
        for name, (doc, _) in metric_snapshots.GAUGES.items():
            gauge = GaugeMetricFamily(name, f"{doc} (the worker's snapshot)", labels=["status"])
            for status, n in sorted(values.get(name, {}).items()):
                gauge.add_metric([status], n)
            yield gauge
        age = GaugeMetricFamily("qoima_metrics_snapshot_age_seconds", "Age of the snapshot of the gauges above "
                                "(absent before the worker's first one)")
        if taken_at is not None:
            age.add_metric([], max(0.0, (utcnow() - taken_at).total_seconds()))
        yield age


class Metrics:
    def __init__(self, engine: Engine):
        self.registry = CollectorRegistry()
        self.requests = Counter("qoima_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("qoima_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 registry=self.registry)
        self.db = _DbCollector(engine)
        self.registry.register(self.db)
        self.registry.register(INTAKE)

    def exposition(self) -> bytes:
        """The text a scrape gets: this process's metrics, or every process's in multiprocess mode."""
        if multiprocess_dir():
            from prometheus_client import multiprocess
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            registry.register(self.db)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def asgi(self, app):
        """Pure ASGI middleware (Starlette's BaseHTTPMiddleware costs a task and a queue per request)."""
        async def record(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            start, status = time.perf_counter(), [500]

            async def send_status(message):
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                path = getattr(scope.get("route"), "path", "unmatched")
                self.requests.labels(scope["method"], path, str(status[0])).inc()
                self.latency.labels(scope["method"], path).observe(time.perf_counter() - start)
        return record
