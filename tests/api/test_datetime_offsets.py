"""Every time in an API answer is RFC 3339 with its offset (the database keeps naive UTC): the answers of
every GET route of the API (walked from the application's routes, path parameters filled), an order's
creation (the express path), a stock operation and its idempotent replay, an import job; and every
date-time the OpenAPI document declares for an answer."""

from __future__ import annotations

import re
from datetime import datetime

from conftest import order_payload
from test_role_route_matrix import app_routes

from sqlalchemy import select

from qoima.analytics.services import refresh
from qoima.db import tables as t
from qoima.platform import roles

LOOKS_LIKE_A_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _times(value, where="$"):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _times(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _times(v, f"{where}[{i}]")
    elif isinstance(value, str) and LOOKS_LIKE_A_TIME.match(value):
        yield where, value


def _check(body, url: str) -> int:
    found = list(_times(body))
    bad = [(w, v) for w, v in found if not WITH_OFFSET.match(v)]
    assert not bad, f"{url}: times without an offset: {bad[:5]}"
    for _, v in found:
        assert datetime.fromisoformat(v.replace("Z", "+00:00")).utcoffset() is not None
    return len(found)


def test_every_answer_gives_its_times_with_the_offset(client, world):
    admin = world.headers("admin")
    r = client.post("/api/v1/orders", json=order_payload("T-1", received_at="2026-12-03T09:00:00"), headers=admin)
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    seen = _check(r.json(), "POST /api/v1/orders")
    receipt = {"seller": "seller-a", "warehouse": "ALA", "location": "RCV",
               "lines": [{"sku": "SKU-1", "expected": 1, "received": 1}]}
    first = client.post("/api/v1/receipts", json=receipt, headers={**admin, "Idempotency-Key": "r-1"})
    again = client.post("/api/v1/receipts", json=receipt, headers={**admin, "Idempotency-Key": "r-1"})
    assert first.status_code < 300 and again.json() == first.json()
    _check(first.json(), "POST /api/v1/receipts")
    job = client.post("/api/v1/orders/import", params={"dry_run": "true"}, headers=admin,
                      files={"file": ("o.csv", b"channel,external_id,sku,quantity,unit_price\ncsv,J-1,SKU-1,1,10\n",
                                      "text/csv")})
    assert job.status_code == 202, job.text
    seen += _check(job.json(), "POST /api/v1/orders/import")
    refresh.refresh_seller(world.engine, world.sellers["seller-a"])  # the analytics answers carry their as-of time
    asn = client.post("/api/v1/inbound", headers=admin, json={
        "seller": "seller-a", "warehouse": "ALA", "lines": [{"sku": "SKU-1", "expected": 1}]})
    assert asn.status_code == 201, asn.text
    seen += _check(asn.json(), "POST /api/v1/inbound")
    product = client.get("/api/v1/products", params={"seller": "seller-a"}, headers=admin).json()["items"][0]
    # the floor: the order released in a wave (a task with its stops), an open manifest
    wave = client.post("/api/v1/floor/waves", json={"warehouse": "ALA"}, headers=admin)
    assert wave.status_code == 201, wave.text
    task = client.post("/api/v1/floor/tasks/next", json={"warehouse": "ALA"}, headers=admin).json()["task"]
    manifest = client.post("/api/v1/floor/manifests", json={"warehouse": "ALA", "carrier": "courier"}, headers=admin)
    assert manifest.status_code < 300, manifest.text
    # a floor exception: the task's first stop reported short
    stop = client.post(f"/api/v1/floor/tasks/{task['id']}/scans", headers=admin,
                       json={"op_id": "offsets-loc", "raw": task["current"]["location"]})
    assert stop.status_code == 200 and stop.json()["ok"], stop.text
    short = client.post(f"/api/v1/floor/tasks/{task['id']}/short", headers=admin, json={"op_id": "offsets-short", "found": 0})
    assert short.status_code == 200 and short.json()["ok"], short.text
    with world.engine.connect() as conn:
        exception_id = conn.execute(select(t.pick_tasks.c.id).where(t.pick_tasks.c.kind == "exception")).scalar_one()
    ids = {"order_id": str(order_id), "job_id": str(job.json()["id"]), "asn_id": str(asn.json()["id"]),
           "receipt_id": str(first.json()["id"]), "product_id": str(product["id"]), "warehouse": "ALA",
           "task_id": str(task["id"]), "manifest_id": str(manifest.json()["id"])}
    documents = ("label.pdf", "label.zpl", "slip.pdf", "manifest.pdf", "printer-font.zpl")  # documents, not JSON: no times to check
    for method, path in sorted(app_routes(client.app)):
        if method != "GET" or not path.startswith("/api/"):
            continue
        assert ("GET", path) in roles.API
        if path.endswith(documents):
            continue
        url = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)
        if path.startswith("/api/v1/floor/exceptions/"):  # its id is an exception task's
            url = path.replace("{task_id}", str(exception_id))
        params = {"seller": "seller-a"} if "analytics" in url or "customers" in url else None
        if path == "/api/v1/floor/pack":  # the packing station looks an order up by its tote
            params = {"code": f"T{task['id']}-{task['stops'][0]['tote']}"}
        elif path.startswith("/api/v1/floor/"):  # the floor's lists are per warehouse
            params = {"warehouse": "ALA"}
        r = client.get(url, params=params, headers=admin)
        assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:200]}"
        if r.headers["content-type"].startswith("application/json"):
            seen += _check(r.json(), url)
    assert seen >= 10  # the order's ship-by, received and timeline times, the job's, the tokens'...
    detail = client.get(f"/api/v1/orders/{order_id}", headers=admin).json()
    assert detail["received_at"] == "2026-12-03T09:00:00Z"
    assert detail["ship_by"].endswith("Z")


def test_the_openapi_answers_declare_date_times_that_carry_the_offset(client):
    """A response schema's date-time is RFC 3339 (format date-time), so with an offset by definition;
    every one is declared with that format, none as a bare string named *_at."""
    spec = client.get("/openapi.json").json()
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, dict) and (k.endswith("_at") or k in ("ship_by", "at")) and where.endswith("properties"):
                    kinds = [v] + v.get("anyOf", [])
                    found.append(k)
                    assert any(x.get("format") in ("date-time", "date") for x in kinds), f"{where}.{k}: {v}"
                walk(v, f"{where}.{k}" if where else k)
        elif isinstance(node, list):
            for x in node:
                walk(x, where)
    walk(spec.get("components", {}).get("schemas", {}), "")
    assert "created_at" in found  # the token answers at least
