"""System endpoints: health, Prometheus metrics, API docs, and the SLA KPIs on a
constructed case."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from conftest import order_payload

from qoima.catalog.domain.calendar import local_day_bounds
from qoima.entrypoints import metric_snapshots
from qoima.platform.unit_of_work import utcnow




def metric(text: str, name: str, **labels) -> float | None:
    """The value of one sample of the Prometheus text exposition, or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def test_healthz(client, world):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": world.engine.dialect.name}


def test_metrics(client, world):
    a = world.headers("seller_a")
    oid = client.post("/api/v1/orders", json=order_payload("M-1"), headers=a).json()["id"]
    client.post("/api/v1/orders", json=order_payload("M-2", [("SKU-2", 9)]), headers=a)
    client.post(f"/api/v1/orders/{oid}/transitions", json={"status": "shipped"}, headers=world.headers("worker"))
    client.get("/api/v1/orders", headers=a)
    client.get("/api/v1/orders")
    metric_snapshots.take(world.engine)  # the worker's snapshot of the gauges (a scrape counts no table)
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "# TYPE qoima_http_requests_total counter" in text
    assert metric(text, "qoima_http_requests_total", method="POST", route="/api/v1/orders", status="201") == 2
    assert metric(text, "qoima_http_requests_total", method="GET", route="/api/v1/orders", status="200") == 1
    assert metric(text, "qoima_http_requests_total", method="GET", route="/api/v1/orders", status="401") == 1
    assert metric(text, "qoima_http_requests_total", method="POST", route="/api/v1/orders/{order_id}/transitions",
                  status="409") == 1  # the route template, not the raw path
    assert metric(text, "qoima_http_request_seconds_count", method="POST", route="/api/v1/orders") == 2
    assert metric(text, "qoima_orders", status="allocated") == 1
    assert metric(text, "qoima_orders", status="backordered") == 1
    assert metric(text, "qoima_orders", status="shipped") is None
    assert metric(text, "qoima_outbox_events", status="pending") == 6
    client.get(f"/api/v1/orders/{oid}", headers=a)
    again = client.get("/metrics").text
    assert metric(again, "qoima_http_requests_total", method="GET", route="/metrics", status="200") == 1
    assert metric(again, "qoima_http_requests_total", method="GET", route="/api/v1/orders/{order_id}",
                  status="200") == 1


def test_docs_and_openapi(client):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    body = spec.json()
    assert body["info"]["title"] == "Qoima"
    for path in ("/api/v1/orders", "/api/v1/orders/{order_id}", "/api/v1/orders/{order_id}/transitions",
                 "/api/v1/stock", "/api/v1/products", "/api/v1/kpis", "/healthz"):
        assert path in body["paths"], path
    assert "post" in body["paths"]["/api/v1/orders"] and "get" in body["paths"]["/api/v1/orders"]


def _ship(client, world, oid: int) -> None:
    for step in ("picking", "picked", "packed", "shipped"):
        r = client.post(f"/api/v1/orders/{oid}/transitions", json={"status": step}, headers=world.headers("worker"))
        assert r.status_code == 200, r.text


def test_kpis_on_a_constructed_case(client, world):
    a = world.headers("seller_a")
    long_ago = (utcnow() - timedelta(days=10)).replace(microsecond=0)

    def utc(text):  # the API answers with the offset; the comparisons below are naive UTC
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)

    def order(ext, **extra):
        r = client.post("/api/v1/orders", json=order_payload(ext, **extra), headers=a)
        assert r.status_code == 201, r.text
        return r.json()

    late_open = order("K-LATE", received_at=long_ago.isoformat())  # open, ship-by long past
    late_shipped = order("K-LATE-SHIPPED", received_at=long_ago.isoformat())
    fresh_shipped = order("K-FRESH-SHIPPED")  # received now: its ship-by is ahead
    fresh_open = order("K-FRESH")
    cancelled = order("K-CANCELLED", received_at=long_ago.isoformat())
    assert utc(late_open["ship_by"]) < utcnow()
    assert utc(fresh_shipped["ship_by"]) > utcnow()
    _ship(client, world, late_shipped["id"])
    _ship(client, world, fresh_shipped["id"])
    client.post(f"/api/v1/orders/{cancelled['id']}/cancel", headers=a)
    client.post("/api/v1/orders", json=order_payload("K-B", seller="seller-b", received_at=long_ago.isoformat()),
                headers=world.headers("seller_b"))

    k = client.get("/api/v1/kpis", headers=a).json()
    assert k["late"] == 1  # K-LATE (cancelled and shipped ones are not open)
    assert k["open"] == 2  # K-LATE, K-FRESH
    assert k["shipped_last_days"] == 2
    assert k["same_day_ship_rate"] == 0.5  # K-FRESH-SHIPPED on time, K-LATE-SHIPPED not
    assert k["avg_hours_received_to_shipped"] == pytest.approx((10 * 24 + 0) / 2, abs=0.5)
    assert k["orders_by_status"] == {"allocated": 2, "shipped": 2, "cancelled": 1}
    _, end_of_day = local_day_bounds(utcnow(), "Asia/Almaty")
    fresh_due = utc(fresh_open["ship_by"])
    assert k["due_today"] == (1 if fresh_due < end_of_day else 0)
    assert k["at_risk"] == (1 if fresh_due < utcnow() + timedelta(hours=2) else 0)
    assert k["days"] == 30

    staff = client.get("/api/v1/kpis", headers=world.headers("manager")).json()
    assert staff["late"] == 2 and staff["open"] == 3  # seller B's late order too
    short = client.get("/api/v1/kpis", params={"days": 5}, headers=a).json()
    assert short["shipped_last_days"] == 2  # shipped now, received long ago: the window is on shipping time
    assert client.get("/api/v1/kpis", params={"days": 0}, headers=a).status_code == 422


def test_kpis_with_no_orders(client, world):
    k = client.get("/api/v1/kpis", headers=world.headers("seller_a")).json()
    assert (k["late"], k["open"], k["due_today"], k["shipped_last_days"]) == (0, 0, 0, 0)
    assert k["same_day_ship_rate"] is None and k["avg_hours_received_to_shipped"] is None
