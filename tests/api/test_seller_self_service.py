"""Sellers help themselves (SQLite and PostgreSQL): products and barcodes created and edited from the web
and the API, low-stock alerts that fire once per crossing and re-arm, and the order export (only the
seller's own orders, safe against formula injection)."""

from __future__ import annotations

import re

import csv
import io

from conftest import order_payload
from sqlalchemy import func, select

from qoima.db import tables as t
from qoima.orders.services import low_stock
from test_web_pages import csrf_of, login

GOOD_EAN = "4006381333931"  # a real EAN-13 (check digit 1)
BAD_EAN = "4006381333932"


def _count(world, table, *where) -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def _product_form(client, url: str, **fields):
    token = csrf_of(client.get(url).text)
    return client.post(url, data={"csrf": token, **fields}, follow_redirects=False)


# --- products ------------------------------------------------------------------------------------------------

def test_seller_creates_and_edits_a_product_with_a_barcode(client, world):
    login(client, "a@seller-a.kz")
    r = _product_form(client, "/products/new", sku="NEW-1", name="Thermos", category="Home", price="4990,50",
                      barcodes=GOOD_EAN, weight_g="450", length_mm="80", width_mm="80", height_mm="260",
                      marking_required="1")
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    page = client.get(url).text
    assert "NEW-1" in page and GOOD_EAN in page and 'value="260"' in page
    with world.engine.connect() as conn:
        p = conn.execute(select(t.products).where(t.products.c.sku == "NEW-1")).one()
    assert p.seller_id == world.sellers["seller-a"] and str(p.price) == "4990.50" and p.marking_required
    assert (p.weight_g, p.length_mm, p.width_mm, p.height_mm) == (450, 80, 80, 260)
    r = _product_form(client, url, sku="NEW-1", name="Thermos 0.5 l", price="5100", barcodes="", weight_g="500")
    assert r.status_code == 303
    with world.engine.connect() as conn:
        p = conn.execute(select(t.products).where(t.products.c.sku == "NEW-1")).one()
    assert p.name == "Thermos 0.5 l" and p.weight_g == 500 and not p.marking_required
    assert _count(world, t.barcodes, t.barcodes.c.product_id == p.id) == 0


def test_bad_gtin_duplicate_barcode_and_bounds_are_refused_naming_the_field(client, world):
    login(client, "a@seller-a.kz")
    before = _count(world, t.products)
    r = _product_form(client, "/products/new", sku="NEW-2", name="X", barcodes=BAD_EAN)
    assert r.status_code == 422 and 'data-field-error="barcodes"' in r.text and "контрольная цифра" in r.text.lower()
    client.get("/products/new?lang=en")
    r = _product_form(client, "/products/new", sku="NEW-2", name="X", barcodes=BAD_EAN)
    assert r.status_code == 422 and "check digit" in r.text
    r = _product_form(client, "/products/new", sku="NEW-2", name="X", barcodes="4870000009015")  # SKU-1's
    assert r.status_code == 409 and 'data-field-error="barcodes"' in r.text and "SKU-1" in r.text
    r = _product_form(client, "/products/new", sku="NEW-2", name="X", weight_g=str(2**31))
    assert r.status_code == 422 and 'data-field-error="weight_g"' in r.text
    r = _product_form(client, "/products/new", sku="x" * 65, name="X")
    assert r.status_code == 422 and 'data-field-error="sku"' in r.text
    r = _product_form(client, "/products/new", sku="SKU-2", name="X")
    assert r.status_code == 409 and 'data-field-error="sku"' in r.text
    assert _count(world, t.products) == before  # nothing half-written
    # seller B's barcode is no clash for seller A (unique per seller), but the same barcode twice within A is
    r = _product_form(client, "/products/new", sku="NEW-3", name="Y", barcodes=GOOD_EAN)
    assert r.status_code == 303
    r = _product_form(client, "/products/new", sku="NEW-4", name="Z", barcodes=GOOD_EAN)
    assert r.status_code == 409


def test_api_edit_of_a_product(client, world):
    a = world.headers("seller_a")
    pid = client.get("/api/v1/products", params={"q": "SKU-2"}, headers=a).json()["items"][0]["id"]
    r = client.put(f"/api/v1/products/{pid}", headers=a,
                   json={"sku": "SKU-2", "name": "Renamed", "barcodes": [BAD_EAN]})
    assert r.status_code == 422 and "barcodes" in r.text
    r = client.put(f"/api/v1/products/{pid}", headers=a,
                   json={"sku": "SKU-2", "name": "Renamed", "barcodes": ["4870000009015"]})
    assert r.status_code == 409 and r.json()["field"] == "barcodes"
    r = client.put(f"/api/v1/products/{pid}", headers=a, json={"sku": "SKU-2", "name": "Renamed",
                                                              "barcodes": [GOOD_EAN], "length_mm": 300})
    assert r.status_code == 200 and r.json()["name"] == "Renamed" and r.json()["barcodes"] == [GOOD_EAN]
    assert client.get(f"/api/v1/products/{pid}", headers=world.headers("worker")).json()["price"] is None
    assert client.put(f"/api/v1/products/{pid}", headers=world.headers("seller_b"),
                      json={"sku": "SKU-2", "name": "x"}).status_code == 404


# --- low-stock alerts ----------------------------------------------------------------------------------------

def _events(world) -> list[dict]:
    with world.engine.connect() as conn:
        return [r.payload for r in conn.execute(select(t.outbox).where(t.outbox.c.topic == "stock.low")
                                                .order_by(t.outbox.c.id))]


def _set_alert(client, **fields):
    token = csrf_of(client.get("/alerts").text)
    return client.post("/alerts", data={"csrf": token, "action": "set", **fields}, follow_redirects=False)


def test_an_alert_fires_once_per_crossing_and_rearms(client, world):
    login(client, "a@seller-a.kz")
    assert _set_alert(client, sku="SKU-1", kind="threshold", value="5").status_code == 303
    assert low_stock.check(world.engine) == [] and _events(world) == []  # 10 available
    a = world.headers("seller_a")
    r = client.post("/api/v1/orders", headers=a, json=order_payload("LOW-1", [("SKU-1", 6)]))
    assert r.status_code == 201
    first = r.json()["id"]
    assert len(low_stock.check(world.engine)) == 1
    assert low_stock.check(world.engine) == []  # still low: no second event
    events = _events(world)
    assert len(events) == 1 and events[0]["sku"] == "SKU-1" and events[0]["available"] == 4
    page = client.get("/alerts").text
    assert 'data-alert-sku="SKU-1"' in page and "data-low-count" in page
    assert client.post(f"/api/v1/orders/{first}/cancel", headers=a).status_code == 200  # back to 10: re-armed
    assert low_stock.check(world.engine) == []
    with world.engine.connect() as conn:
        assert conn.execute(select(t.stock_alerts.c.is_low)).scalar_one() is False
    assert client.post("/api/v1/orders", headers=a, json=order_payload("LOW-2", [("SKU-1", 7)])).status_code == 201
    assert len(low_stock.check(world.engine)) == 1 and len(_events(world)) == 2


def test_days_of_cover_uses_the_sales_rate_and_settings_are_bounded(client, world):
    login(client, "a@seller-a.kz")
    r = client.post("/api/v1/orders", headers=world.headers("seller_a"),
                    json=order_payload("RATE-1", [("SKU-3", 3)]))  # 3 in 30 days: 0.1 a day; 2 left: 20 days
    assert r.status_code == 201
    assert _set_alert(client, sku="SKU-3", kind="days_of_cover", value="14", window_days="30").status_code == 303
    assert low_stock.check(world.engine) == []
    assert _set_alert(client, sku="SKU-3", kind="days_of_cover", value="21", window_days="30").status_code == 303
    assert len(low_stock.check(world.engine)) == 1
    assert _count(world, t.stock_alerts) == 1  # the same SKU and scope: one alert, changed
    for bad in ({"kind": "days_of_cover", "value": "0"}, {"kind": "threshold", "value": "-1"},
                {"kind": "weekly", "value": "1"}, {"kind": "threshold", "value": "1", "window_days": "400"}):
        r = _set_alert(client, sku="SKU-3", **bad)
        assert r.status_code == 422, (bad, r.status_code)
    r = _set_alert(client, sku="SKU-404", kind="threshold", value="1")
    assert r.status_code == 422 and "SKU-404" in r.text
    # seller B cannot see nor clear A's alert
    with world.engine.connect() as conn:
        aid = conn.execute(select(t.stock_alerts.c.id)).scalar_one()
    other = client.__class__(client.app)
    login(other, "b@seller-b.kz")
    assert "SKU-3" not in other.get("/alerts").text
    token = csrf_of(other.get("/alerts").text)
    assert other.post("/alerts", data={"csrf": token, "action": "clear", "alert_id": str(aid)}).status_code == 404
    assert _count(world, t.stock_alerts) == 1


# --- the order export ----------------------------------------------------------------------------------------

def test_export_has_only_the_sellers_orders_and_no_formula(client, world):
    evil = {"name": "=HYPERLINK(\"http://x\",\"y\")", "phone": "+77010000001", "email": "e@example.kz"}
    assert client.post("/api/v1/orders", headers=world.headers("seller_a"),
                       json=order_payload("A-EXP-1", customer=evil)).status_code == 201
    assert client.post("/api/v1/orders", headers=world.headers("seller_b"),
                       json=order_payload("B-EXP-1", seller="seller-b")).status_code == 201
    login(client, "a@seller-a.kz")
    r = client.get("/orders/export", params={"format": "csv", "seller": "seller-b", "page": "3", "bogus": "1"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    body = r.content.decode("utf-8-sig")
    assert "A-EXP-1" in body and "B-EXP-1" not in body
    header, first = rows[0], rows[1]
    assert first[header.index("Customer") if "Customer" in header else 5].startswith("'=")
    assert not any(cell.startswith(("=", "+", "@")) for row in rows[1:] for cell in row)
    r = client.get("/orders/export", params={"format": "xlsx", "q": "A-EXP"})
    from openpyxl import load_workbook
    ws = load_workbook(io.BytesIO(r.content)).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert len(values) == 2 and any(isinstance(v, str) and v.startswith("'=HYPERLINK") for v in values[1])
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    worker = client.__class__(client.app)
    login(worker, "worker@qoima.local")
    assert worker.get("/orders/export", params={"format": "csv"}).status_code == 403
    manager = client.__class__(client.app)
    login(manager, "manager@qoima.local")
    body = manager.get("/orders/export", params={"format": "csv", "seller": "seller-b"}).content.decode("utf-8-sig")
    assert "B-EXP-1" in body and "A-EXP-1" not in body


def test_the_header_shows_the_shop_name_for_a_seller(client, world):
    login(client, "a@seller-a.kz")
    assert "data-shop-name>Seller-A<" in client.get("/").text
    staff = client.__class__(client.app)
    login(staff, "manager@qoima.local")
    assert "data-shop-name" not in staff.get("/").text


# --- imports: check first, then write the checked file --------------------------------------------------------

def _upload(client, body: bytes, kind: str = "products", dry_run: bool = True):
    token = csrf_of(client.get("/imports").text)
    return client.post("/imports", data={"csrf": token, "kind": kind, **({"dry_run": "1"} if dry_run else {})},
                       files={"file": ("products.csv", body, "text/csv")}, follow_redirects=False)


def test_seller_checks_a_products_file_sees_the_bad_line_then_imports_the_checked_file(client, world):
    from qoima.entrypoints import importers  # noqa: F401 - registers the import jobs, as the worker does
    from qoima.platform import jobs
    login(client, "a@seller-a.kz")
    assert 'value="stock"' not in client.get("/imports").text  # stock counts are the warehouse's
    before = _count(world, t.products)
    bad = (f"sku,name,price,barcodes\nIMP-1,Mug,990,{GOOD_EAN}\nIMP-2,Cup,abc,{BAD_EAN}\n").encode()
    url = _upload(client, bad).headers["location"]
    jobs.run_pending(world.engine)
    page = client.get(url + "?lang=en", follow_redirects=True).text
    assert re.search(r'<td class="num">3</td><td>(<code>)?(barcodes|price)(</code>)?</td>', page)
    assert "Input should be" not in page  # pydantic's English is not shown: the rule, in the page's language
    assert "data-import-commit" not in page  # a bad file cannot be written
    assert _count(world, t.products) == before
    good = f"sku,name,price,barcodes\nIMP-1,Mug,990,{GOOD_EAN}\nIMP-2,Cup,450,\n".encode()
    url = _upload(client, good).headers["location"]
    jobs.run_pending(world.engine)
    page = client.get(url).text
    assert "data-import-commit" in page and _count(world, t.products) == before  # checked, nothing written
    token = csrf_of(page) if 'name="csrf"' in page else csrf_of(client.get("/imports").text)
    r = client.post(f"{url}/commit", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] != url
    jobs.run_pending(world.engine)
    assert _count(world, t.products) == before + 2
    with world.engine.connect() as conn:
        assert set(conn.execute(select(t.products.c.seller_id).where(t.products.c.sku.like("IMP-%"))).scalars()) \
            == {world.sellers["seller-a"]}
    again = client.post(f"{url}/commit", data={"csrf": token}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == url  # written once
    assert _count(world, t.jobs) == 3
    # seller B sees neither the job nor can it write it
    other = client.__class__(client.app)
    login(other, "b@seller-b.kz")
    assert other.get(url).status_code == 404
    token_b = csrf_of(other.get("/imports").text)
    assert other.post(f"{url}/commit", data={"csrf": token_b}, follow_redirects=False).status_code == 404


def test_a_seller_imports_only_into_its_own_seller(client, world):
    from qoima.entrypoints import importers  # noqa: F401
    from qoima.platform import jobs
    login(client, "a@seller-a.kz")
    url = _upload(client, b"seller,sku,name\nseller-b,PLANT-1,x\n").headers["location"]
    jobs.run_pending(world.engine)
    page = client.get(url).text
    assert "seller" in page and "data-import-commit" not in page
    assert _count(world, t.products, t.products.c.sku == "PLANT-1") == 0


def test_staff_import_for_a_chosen_seller_then_write_the_checked_file(client, world):
    from qoima.entrypoints import importers  # noqa: F401
    from qoima.platform import jobs
    login(client, "manager@qoima.local")
    page = client.get("/imports").text
    token = csrf_of(page)
    assert 'name="seller"' in page
    r = client.post("/imports", data={"csrf": token, "kind": "products", "dry_run": "1", "seller": "seller-b"},
                    files={"file": ("p.csv", b"sku,name\nFOR-B-1,Kettle\n", "text/csv")}, follow_redirects=False)
    url = r.headers["location"]
    jobs.run_pending(world.engine)
    assert "data-import-commit" in client.get(url).text
    r = client.post(f"{url}/commit", data={"csrf": token}, follow_redirects=False)
    jobs.run_pending(world.engine)
    with world.engine.connect() as conn:
        assert conn.execute(select(t.products.c.seller_id).where(t.products.c.sku == "FOR-B-1")).scalar_one() \
            == world.sellers["seller-b"]
    seller_b = client.__class__(client.app)
    login(seller_b, "b@seller-b.kz")
    assert seller_b.get(r.headers["location"]).status_code == 200  # the seller sees the import made for it


# --- the alerts table's constraints and the worker ------------------------------------------------------------

def test_the_database_refuses_bad_or_duplicate_alerts(world):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from qoima.platform.unit_of_work import utcnow
    with world.engine.connect() as conn:
        pid = conn.execute(select(t.products.c.id).where(t.products.c.sku == "SKU-1",
                                                         t.products.c.seller_id == world.sellers["seller-a"])
                           ).scalar_one()
    base = {"seller_id": world.sellers["seller-a"], "product_id": pid, "warehouse_id": None, "kind": "threshold",
            "value": 5, "window_days": 30, "created_at": utcnow(), "updated_at": utcnow()}
    with world.engine.begin() as conn:
        conn.execute(t.stock_alerts.insert().values(**base))
    for bad in ({"kind": "weekly"}, {"value": -1}, {"kind": "days_of_cover", "value": 0}, {"window_days": 0},
                {}):  # the last one: a second alert of the same SKU for all warehouses
        with pytest.raises(IntegrityError):
            with world.engine.begin() as conn:
                conn.execute(t.stock_alerts.insert().values(**{**base, **bad}))
    with world.engine.begin() as conn:  # one per warehouse is another scope
        conn.execute(t.stock_alerts.insert().values(**{**base, "warehouse_id": world.warehouses["ALA"]}))
    assert _count(world, t.stock_alerts) == 2


def test_the_worker_checks_the_alerts(client, world):
    from qoima.entrypoints import worker
    login(client, "a@seller-a.kz")
    assert _set_alert(client, sku="SKU-2", kind="threshold", value="5", warehouse="AST").status_code == 303
    low_stock._last[0] = 0.0  # the worker's minute has passed
    worker.run(world.engine, once=True)
    assert [e["sku"] for e in _events(world)] == ["SKU-2"]
    with world.engine.connect() as conn:
        assert conn.execute(select(t.outbox.c.status).where(t.outbox.c.topic == "stock.low")).scalar_one() == "done"
    low_stock._last[0] = 0.0
    worker.run(world.engine, once=True)
    assert len(_events(world)) == 1  # still low: once per crossing


def test_two_checks_at_once_fire_a_crossing_once(client, world):
    import threading

    import pytest
    if world.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: the race needs PostgreSQL")
    login(client, "a@seller-a.kz")
    assert _set_alert(client, sku="SKU-1", kind="threshold", value="50").status_code == 303
    barrier, fired = threading.Barrier(4), []

    def run():
        barrier.wait()
        fired.extend(low_stock.check(world.engine))
    threads = [threading.Thread(target=run) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(fired) == 1 and len(_events(world)) == 1
