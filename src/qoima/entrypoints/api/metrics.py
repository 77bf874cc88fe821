"""Prometheus metrics: request counts and latency, plus orders by state and the
outbox backlog read from the database at scrape time."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine, func, select

from ...adapters.db import tables as t


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
        yield orders
        yield backlog


class Metrics:
    def __init__(self, engine: Engine):
        self.registry = CollectorRegistry()
        self.requests = Counter("qoima_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("qoima_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 registry=self.registry)
        self.registry.register(_DbCollector(engine))

    def middleware(self):
        async def record(request, call_next):
            start = time.perf_counter()
            response = await call_next(request)
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.requests.labels(request.method, path, str(response.status_code)).inc()
            self.latency.labels(request.method, path).observe(time.perf_counter() - start)
            return response
        return record
