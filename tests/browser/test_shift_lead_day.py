"""A shift lead's day in a real browser, in Russian (the default language), end to end:

1. the seller announces a delivery of SKU-2, for which an order (WEB-BO) has been waiting: it asks for 5,
   only 2 are on hand in ALA;
2. the shift lead (manager) receives it on the delivery's page by typing scans into the scan box as a
   keyboard-wedge scanner does (keys, then Enter) and confirms: the goods land in ALA's receiving dock RCV;
3. puts them away into the cell A-02 from /stock/putaway;
4. sees the waiting order allocated, with its current sourcing reason, its reservation gone with the goods
   into the cell;
5. types the buyer's phone the local way (8 701 ...) into the header search box and lands on that order;
6. selects two orders in the list and puts them on hold in one go;
7. exports the orders on hold as CSV: the file holds exactly those two.
At the end the stock ledger agrees with the counters and the reservations.

ALA keeps its receiving mode 'reserve' (the default) on purpose: in 'auto_putaway' a receipt into the dock
is put away into the warehouse's put-away cell in the same transaction, /stock/putaway would have nothing to
show and step 3 would be meaningless. In 'reserve' the goods stay in RCV where the waiting order can already
reserve them, and the put-away moves the reservation with them into the cell.

The live server is the one of test_browser.py, but on the `engine` fixture of tests/conftest.py, so the
walk runs on SQLite and, with QOIMA_TEST_DATABASE_URL, on PostgreSQL too. The outbox is drained by hand
after each step that commits stock, as the worker process does after each commit."""

from __future__ import annotations

import csv
import io
import re
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import build_world, order_payload
from sqlalchemy import select
from test_browser import _free_port, browser, pytestmark  # noqa: F401 - the fixture and the marks

from qoima.db import tables as t
from qoima.orders.schemas import OrderIn
from qoima.orders.services import backorders  # noqa: F401 - registers the stock.changed handler
from qoima.orders.services.intake import submit_order
from qoima.platform import outbox
from qoima.platform.access import SYSTEM
from qoima.platform.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_stock_ledger import assert_ledger_consistent  # noqa: E402

SKU2_BARCODE = "4870000009022"
BUYER_PHONE = "+77017654321"
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _drain(engine) -> None:
    while outbox.run_once(engine):  # what the worker does after each commit
        pass


@pytest.fixture
def day(engine, tmp_path):
    """SKU-1: 10 in ALA; SKU-2: 2 in ALA and an order for 5 of it waiting; two more orders of SKU-1."""
    import uvicorn

    from qoima.entrypoints.api.app import create_app
    build_world(engine, {("seller-a", "SKU-1", "ALA"): 10, ("seller-a", "SKU-2", "ALA"): 2})
    ids = {}
    for ext, lines, phone in (("WEB-BO", (("SKU-2", 5),), BUYER_PHONE), ("WEB-1", (("SKU-1", 1),), "+77011234567"),
                              ("WEB-2", (("SKU-1", 2),), "+77011234568")):
        body = order_payload(ext, lines=lines)
        body["customer"].update(phone=phone, email=f"{ext.lower()}@example.kz")
        order, _ = submit_order(engine, SYSTEM, OrderIn(**body))
        ids[ext] = order["id"]
    with engine.connect() as conn:
        assert conn.execute(select(t.orders.c.status).where(t.orders.c.id == ids["WEB-BO"])).scalar_one() == "backordered"
    _drain(engine)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(engine, Settings(data_dir=tmp_path / "data",
                                                                    secret_key="browser-test-secret-key")),
                                        host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", ids
    srv.should_exit = True
    thread.join(timeout=10)


def _sign_in(page, base, email):
    """No ?lang switch: once signed in, the user's language, Russian by default (users.language), wins over
    Chromium's en-US Accept-Language (which the login page itself honours)."""
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "password123")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.locator("html").get_attribute("lang") == "ru"


def _russian(text: str) -> str:
    assert CYRILLIC.search(text), f"not Russian: {text!r}"
    return text


def _status(engine, order_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(t.orders.c.status).where(t.orders.c.id == order_id)).scalar_one()


def test_a_shift_lead_day(day, engine, browser, tmp_path):  # noqa: F811
    base, ids = day
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    statuses: list[str] = []
    page.on("response", lambda r: statuses.append(f"{r.status} {r.url}") if r.status >= 500 else None)

    # 1. the seller announces the delivery
    _sign_in(page, base, "a@seller-a.kz")
    page.goto(f"{base}/inbound")
    _russian(page.locator("h1").first.inner_text())
    page.click("#announce-form >> xpath=ancestor::details/summary")
    page.select_option("#announce-form select[name=warehouse]", "ALA")
    page.fill("#announce-form input[name=supplier]", "Steppe Ceramics")
    page.locator("#announce-form input[name=sku]").nth(0).fill("SKU-2")
    page.locator("#announce-form input[name=expected]").nth(0).fill("3")
    with page.expect_navigation():
        page.click("#announce-form button[value=announce]")
    assert re.search(r"/inbound/\d+$", page.url), page.url
    asn_url = page.url
    _russian(page.locator(".flash-success").inner_text())
    assert "Steppe Ceramics" in page.content()
    page.click("form.logout button[type=submit]")
    page.wait_for_load_state()

    # 2. the shift lead receives it by typing scans, and confirms
    _sign_in(page, base, "manager@qoima.local")
    page.goto(asn_url)
    for code in (SKU2_BARCODE, SKU2_BARCODE, "sku-2"):
        page.locator("#scan").click()
        page.keyboard.type(code)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement && document.activeElement.id") == "scan"
    line = page.locator("#receive-lines tr[data-sku='SKU-2']")
    assert line.locator("input[name=received]").input_value() == "3"
    assert line.locator("[data-state]").get_attribute("data-state") == "ok"
    _russian(page.locator("#discrepancy-summary").inner_text())
    with page.expect_navigation():
        page.click("button[data-confirm-receipt]")
    assert re.search(r"/receipts/\d+$", page.url), page.url
    _russian(page.locator(".flash-success").inner_text())
    booked = page.locator("#receipt-movements tbody tr")
    assert booked.count() == 1 and "RCV" in booked.inner_text()  # landed in the receiving dock
    assert "поставка от поставщика Steppe Ceramics" in booked.inner_text()  # the ledger reason, in Russian
    _drain(engine)

    # 3. put away into A-02
    page.click("nav a[href='/stock/putaway']")
    page.wait_for_url(f"{base}/stock/putaway")
    _russian(page.locator("h1").first.inner_text())
    row = page.locator("form[data-putaway='SKU-2']")
    assert row.locator("input[name=quantity]").input_value() == "3"
    row.locator("select[name=to_location]").select_option("A-02")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()
    done = _russian(page.locator(".flash-success").inner_text())
    assert "RCV" in done and "A-02" in done, done
    assert page.locator("form[data-putaway='SKU-2']").count() == 0
    _drain(engine)

    # 4. the waiting order is allocated, with its current sourcing reason
    page.goto(f"{base}/orders/{ids['WEB-BO']}")
    _russian(page.locator(".badge").first.inner_text())
    assert _status(engine, ids["WEB-BO"]) == "allocated"
    reason = _russian(page.locator(".reason-box").inner_text())
    assert "отгрузка со склада ALA" in reason, reason  # the reason after the fill, in Russian
    assert "A-02" in page.inner_text("body")  # the reservation went with the goods into the cell

    # 5. the buyer's phone typed the local way in the header box goes straight to the order
    page.goto(f"{base}/")
    box = page.locator("header input[data-top-search]")
    _russian(box.get_attribute("placeholder"))
    box.fill("8 701 765 43 21")
    box.press("Enter")
    page.wait_for_url(f"{base}/orders/{ids['WEB-BO']}")
    assert "WEB-BO" in page.content()

    # 6. two orders on hold in one go
    page.goto(f"{base}/orders")
    for label in page.locator("select[name=action] option").all_inner_texts():
        if label != "—":
            _russian(label)  # hold, release, cancel, print: all in Russian
    page.check(f"input[name=order][value='{ids['WEB-1']}']")
    page.check(f"input[name=order][value='{ids['WEB-2']}']")
    page.select_option("select[name=action]", "hold")
    page.fill("form#bulk input[name=reason]", "проверка адреса")
    page.click("form#bulk button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("table.bulk-result tr.row-ok").count() == 2
    assert page.locator("table.bulk-result tr.row-refused").count() == 0
    _russian(page.locator("table.bulk-result").inner_text())
    assert _status(engine, ids["WEB-1"]) == _status(engine, ids["WEB-2"]) == "on_hold"
    assert _status(engine, ids["WEB-BO"]) == "allocated"
    page.goto(f"{base}/orders?status=on_hold")
    listed = page.locator("table.table tbody tr")
    assert listed.count() == 2
    for tr in listed.all():
        _russian(tr.inner_text())

    # 7. export the orders on hold
    with page.expect_download() as info:
        page.click("[data-order-export] a:has-text('CSV')")
    path = tmp_path / "on-hold.csv"
    info.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    _russian(" ".join(rows[0]))  # the header in the reader's language
    assert {r[1] for r in rows[1:]} == {"WEB-1", "WEB-2"}

    assert not errors and not statuses, (errors, statuses)
    assert_ledger_consistent(engine)
