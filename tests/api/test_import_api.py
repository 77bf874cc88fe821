"""POST /api/v1/{orders,products,stock}/import: multipart upload, answered 202 with a job that the
worker runs (polled at GET /api/v1/jobs/{id}); dry run, line-numbered errors in the job, permissions."""

from __future__ import annotations

import io
import threading
import time

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from qoima.db import tables as t
from qoima.entrypoints import importers  # noqa: F401 - registers the import jobs, as the worker does
from qoima.platform import jobs

HEAD = "seller,channel,external_id,customer_name,customer_phone,sku,quantity,unit_price\n"
ROWS = ("seller-a,website,W-1,Aigerim,+77011234567,SKU-1,2,1500\n"
        "seller-a,website,W-1,Aigerim,+77011234567,SKU-3,1,800\n"
        "seller-a,website,W-2,Nurlan,87017654321,SKU-2,1,990\n")


def upload(client, world, path, body: bytes, who="admin", name="orders.csv", ctype="text/csv", **params):
    return client.post(path, params=params, headers=world.headers(who), files={"file": (name, body, ctype)})


@pytest.fixture(autouse=True)
def runner(world):
    """The worker's job runner, in a thread of its own as in `qoima demo`."""
    stop = threading.Event()
    thread = jobs.start_runner(world.engine, stop, interval=0.02)
    yield
    stop.set()
    thread.join(timeout=30)


def ended(client, world, response, who="admin", timeout=30.0) -> dict:
    """202 with the job's URL; poll it until the job has ended."""
    assert response.status_code == 202, response.text
    url = response.headers["location"]
    assert response.json()["url"] == url and response.json()["status"] in ("queued", "running", "done", "failed")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(url, headers=world.headers(who))
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("done", "failed"):
            assert job["finished_at"] and job["progress"]["percent"] == 100
            return job
        time.sleep(0.02)
    raise AssertionError(f"{url} did not end within {timeout} s")


def orders_count(world) -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.orders)).scalar_one()


def test_dry_run_then_commit_then_idempotent_replay(client, world):
    body = (HEAD + ROWS).encode()
    job = ended(client, world, upload(client, world, "/api/v1/orders/import", body, dry_run="true"))
    assert job["status"] == "done" and job["dry_run"] is True and job["kind"] == "import.orders"
    assert job["report"]["valid"] is True and job["report"]["committed"] is False
    assert job["report"]["counts"] == {"orders": 2, "lines": 3, "new": 2, "existing": 0}
    assert orders_count(world) == 0

    job = ended(client, world, upload(client, world, "/api/v1/orders/import", body))
    assert job["status"] == "done" and job["error"] is None
    assert job["report"]["committed"] is True and job["report"]["counts"]["allocated"] == 2
    assert job["report"]["errors"] == [] and job["filename"] == "orders.csv"
    listed = client.get("/api/v1/orders", headers=world.headers("seller_a")).json()
    assert {o["external_id"] for o in listed["items"]} == {"W-1", "W-2"}

    job = ended(client, world, upload(client, world, "/api/v1/orders/import", body))
    assert job["report"]["counts"]["existing"] == 2 and job["report"]["counts"]["new"] == 0
    assert orders_count(world) == 2
    with world.engine.connect() as conn:  # the files are not kept once their jobs have ended
        assert conn.execute(select(func.count()).select_from(t.jobs).where(t.jobs.c.input.is_not(None))
                            ).scalar_one() == 0


def test_bad_rows_fail_the_job_with_lines_and_nothing_is_stored(client, world):
    body = (HEAD + ROWS + "seller-a,website,W-3,Dana,+7 701,SKU-1,1,10\n"
                          "seller-a,website,W-4,Dana,,SKU-404,1,10\n"
                          "seller-a,website,W-5,Dana,,SKU-1,-2,10\n").encode()
    job = ended(client, world, upload(client, world, "/api/v1/orders/import", body))
    assert job["status"] == "failed"
    assert job["error"]["title"] == "Import has invalid rows" and job["error"]["field"] == "file"
    report = job["report"]
    assert report["valid"] is False and report["committed"] is False and report["error_count"] == 3
    assert [(e["line"], e["field"]) for e in report["errors"]] == [(5, "customer_phone"), (6, "sku"),
                                                                   (7, "quantity")]
    assert report["errors"][1]["message"] == "unknown SKU 'SKU-404' for seller 'seller-a'"
    assert orders_count(world) == 0  # the three good orders were not stored either

    job = ended(client, world, upload(client, world, "/api/v1/orders/import", body, dry_run="true"))
    assert job["status"] == "done" and job["report"]["valid"] is False and len(job["report"]["errors"]) == 3


def test_missing_column(client, world):
    job = ended(client, world, upload(client, world, "/api/v1/orders/import", b"external_id,sku,quantity\nW-1,SKU-1,1\n"))
    assert job["status"] == "failed"
    assert job["report"]["errors"][0]["line"] == 1 and job["report"]["errors"][0]["field"] == "unit_price"


def test_seller_cannot_import_rows_of_another_seller(client, world):
    body = (HEAD + ",website,OWN-1,,,SKU-1,1,10\nseller-a,website,THEIRS-1,,,SKU-1,1,10\n").encode()
    job = ended(client, world, upload(client, world, "/api/v1/orders/import", body, who="seller_b"), who="seller_b")
    assert job["status"] == "failed"
    assert job["report"]["errors"] == [{"line": 3, "field": "seller", "message": "unknown seller 'seller-a'",
                                        "code": "catalog.unknown_seller", "template": "unknown seller '%(seller)s'",
                                        "params": {"seller": "seller-a"}}]
    assert orders_count(world) == 0


def test_a_job_is_visible_to_its_seller_and_staff_only(client, world):
    body = (HEAD + ",website,OWN-1,,,SKU-1,1,10\n").encode()
    job = ended(client, world, upload(client, world, "/api/v1/orders/import", body, who="seller_a"), who="seller_a")
    assert job["status"] == "done" and job["report"]["committed"] is True
    for who in ("admin", "manager"):
        assert client.get(job["url"], headers=world.headers(who)).json()["id"] == job["id"]
    assert client.get(job["url"], headers=world.headers("worker")).status_code == 403  # the floor: no imports
    r = client.get(job["url"], headers=world.headers("seller_b"))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert "OWN-1" not in r.text
    staff_job = ended(client, world, upload(client, world, "/api/v1/orders/import", body, dry_run="true"))
    assert client.get(staff_job["url"], headers=world.headers("seller_a")).status_code == 404
    assert client.get("/api/v1/jobs/999999", headers=world.headers("admin")).status_code == 404


def test_products_import_from_xlsx_and_barcode_check_digit(client, world):
    wb = Workbook()
    ws = wb.active
    ws.append(["sku", "name", "price", "barcodes", "weight_g"])
    ws.append(["SKU-20", "Lamp", 12990, "4870000009046", 900])
    ws.append(["SKU-21", "Shade", 2990, "4870000009047", 100])  # wrong check digit (6 expected)
    buf = io.BytesIO()
    wb.save(buf)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    job = ended(client, world, upload(client, world, "/api/v1/products/import", buf.getvalue(), who="seller_b",
                                      name="p.xlsx", ctype=xlsx), who="seller_b")
    assert job["status"] == "failed"
    assert [{k: e[k] for k in ("line", "field", "message")} for e in job["report"]["errors"]] == [
        {"line": 3, "field": "barcodes", "message": "barcode 4870000009047 has a wrong check digit (expected 6, got 7)"}]
    assert job["report"]["errors"][0]["code"] == "catalog.barcode_check_digit"
    ws.delete_rows(3)
    buf = io.BytesIO()
    wb.save(buf)
    job = ended(client, world, upload(client, world, "/api/v1/products/import", buf.getvalue(), who="seller_b",
                                      name="p.xlsx", ctype=xlsx), who="seller_b")
    assert job["status"] == "done" and job["report"]["counts"] == {"products": 1, "new": 1, "updated": 0}
    items = client.get("/api/v1/products", params={"q": "SKU-20"}, headers=world.headers("seller_b")).json()["items"]
    assert items[0]["seller"] == "seller-b" and items[0]["barcodes"] == ["4870000009046"]


def test_stock_import_is_for_the_office(client, world):
    body = b"seller,sku,warehouse,location,quantity\nseller-a,SKU-1,ALA,A-01,25\n"
    for who in ("seller_a", "worker"):  # the role matrix: imports are admin's and manager's (and sellers' own)
        r = upload(client, world, "/api/v1/stock/import", body, who=who, name="stock.csv")
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    job = ended(client, world, upload(client, world, "/api/v1/stock/import", body, who="manager", name="stock.csv"),
                who="manager")
    assert job["status"] == "done", job
    assert job["report"]["counts"]["units_added"] == 15
    stock = client.get("/api/v1/stock", params={"sku": "SKU-1", "warehouse": "ALA", "seller": "seller-a"},
                       headers=world.headers("admin")).json()["items"]
    assert stock[0]["on_hand"] == 25


def test_unreadable_file(client, world):
    job = ended(client, world, upload(client, world, "/api/v1/orders/import", b"PK\x03\x04garbage",
                                      name="orders.xlsx", ctype="application/octet-stream"))
    assert job["status"] == "failed" and job["report"]["errors"][0]["field"] == "file"


def test_a_file_over_the_limit_is_refused_at_once(client, world):
    client.app.state.settings.import_max_mb = 1
    r = upload(client, world, "/api/v1/orders/import", (HEAD + ROWS * 20_000).encode())
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "file" and "1 MB" in r.json()["detail"]
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.jobs)).scalar_one() == 0


def test_the_api_process_keeps_its_interpreter_settings(client, world):
    """The import runs in the worker's thread (as in `qoima demo`): garbage collection and the switch
    interval of the process stay as they are while it runs."""
    import gc
    import sys
    interval = sys.getswitchinterval()
    seen = []
    original = jobs.Run.progress

    def watch(self, stage, done, total):
        seen.append((gc.isenabled(), sys.getswitchinterval()))
        original(self, stage, done, total)
    jobs.Run.progress = watch
    try:
        job = ended(client, world, upload(client, world, "/api/v1/orders/import", (HEAD + ROWS).encode()))
    finally:
        jobs.Run.progress = original
    assert job["status"] == "done" and seen
    assert all(enabled and switch == interval for enabled, switch in seen)
