"""The import pages: upload a file, follow the job's progress bar (polling its status), read the report;
a seller sees only its own jobs and cannot import stock counts; the form needs the CSRF token."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from qoima.db import tables as t
from qoima.entrypoints import importers  # noqa: F401 - registers the import jobs, as the worker does
from qoima.platform import jobs
from test_web_pages import csrf_of, login

HEAD = "seller,channel,external_id,customer_name,customer_phone,sku,quantity,unit_price\n"


def start(client, body: bytes, kind: str = "orders", dry_run: bool = False, name: str = "orders.csv"):
    token = csrf_of(client.get("/imports").text)
    data = {"csrf": token, "kind": kind, **({"dry_run": "1"} if dry_run else {})}
    return client.post("/imports", data=data, files={"file": (name, body, "text/csv")}, follow_redirects=False)


def orders_count(world) -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.orders)).scalar_one()


def test_upload_follow_the_progress_bar_and_read_the_report(client, world):
    login(client, "manager@qoima.local")
    page = client.get("/imports")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert 'value="stock"' in page.text and 'href="/imports"' in page.text  # in the menu too
    r = start(client, (HEAD + "seller-a,web,W-1,Aigerim,+77011234567,SKU-1,2,1500\n").encode())
    assert r.status_code == 303 and re.fullmatch(r"/imports/\d+", r.headers["location"])
    url = r.headers["location"]
    queued = client.get(url)
    assert queued.status_code == 200
    assert f'data-job-progress="{url}/status"' in queued.text and "<progress" in queued.text
    assert client.get(f"{url}/status").json()["status"] == "queued"
    assert orders_count(world) == 0  # nothing happened in the request
    assert jobs.run_pending(world.engine) == 1  # the worker
    status = client.get(f"{url}/status").json()
    assert status["status"] == "done" and status["progress"]["percent"] == 100
    done = client.get(url).text
    assert 'data-job-ended="true"' in done and ("Imported" in done or "Импортировано" in done)
    assert orders_count(world) == 1
    listing = client.get("/imports").text
    assert url in listing and "orders.csv" in listing


def test_bad_rows_are_listed_on_the_job_page(client, world):
    login(client, "admin@qoima.local")
    url = start(client, (HEAD + "seller-a,web,W-1,X,12345,SKU-1,1,10\nseller-a,web,W-2,Y,,SKU-404,1,10\n").encode()
                ).headers["location"]
    jobs.run_pending(world.engine)
    page = client.get(url + "?lang=en", follow_redirects=True).text
    assert "Nothing was written." in page and "Bad rows: 2" in page
    assert "customer_phone" in page and "unknown SKU &#39;SKU-404&#39; for seller &#39;seller-a&#39;" in page
    assert orders_count(world) == 0


def test_a_seller_sees_only_its_own_imports(client, world):
    login(client, "b@seller-b.kz")
    page = client.get("/imports").text
    assert 'value="stock"' not in page and 'value="orders"' in page  # stock counts are for staff
    url = start(client, (HEAD + ",web,B-1,,,SKU-1,1,10\n").encode(), dry_run=True).headers["location"]
    jobs.run_pending(world.engine)
    assert client.get(url).status_code == 200
    refused = start(client, b"seller,sku,warehouse,location,quantity\nseller-b,SKU-1,AST,A-01,1\n", kind="stock")
    assert refused.status_code == 422
    client.post("/logout", data={"csrf": csrf_of(client.get("/imports").text)})
    login(client, "a@seller-a.kz")
    assert client.get(url).status_code == 404 and client.get(f"{url}/status").status_code == 404
    assert url not in client.get("/imports").text


def test_the_import_form_needs_the_csrf_token(client, world):
    login(client, "admin@qoima.local")
    r = client.post("/imports", data={"kind": "orders"}, files={"file": ("o.csv", b"x", "text/csv")},
                    follow_redirects=False)
    assert r.status_code == 403
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.jobs)).scalar_one() == 0
