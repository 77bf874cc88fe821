"""Prometheus metrics: request counts and latency, plus orders by state and the
outbox backlog read from the database at scrape time."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import Engine, func, select

from qoima.db import tables as t
from qoima.orders.services.express_intake import taken


class _DbCollector:
    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self):
        orders = GaugeMetricFamily("qoima_orders", "Orders by status", labels=["status"])
        backlog = GaugeMetricFamily("qoima_outbox_events", "Outbox events by status", labels=["status"])
        with self.engine.connect() as conn:
            for status, n in conn.execute(select(t.orders.c.status, func.count()).group_by(t.orders.c.status)):
                orders.add_metric([status], n)
            for status, n in conn.execute(select(t.outbox.c.status, func.count()).group_by(t.outbox.c.status)):
                backlog.add_metric([status], n)
        intake = CounterMetricFamily("qoima_intake_orders", "Orders taken in by this process, by path "
                                     "(express: two round trips; careful: locked, with why)", labels=["path", "why"])
        for (path, why), n in sorted(taken.items()):
            intake.add_metric([path, why], n)
        yield orders
        yield backlog
        yield intake


class Metrics:
    def __init__(self, engine: Engine):
        self.registry = CollectorRegistry()
        self.requests = Counter("qoima_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("qoima_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 registry=self.registry)
        self.registry.register(_DbCollector(engine))

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
