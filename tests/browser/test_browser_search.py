"""The shift console in a real browser: a phone typed the local way in the header search box
goes straight to the order; two orders selected in the list are put on hold in one go."""

from __future__ import annotations

import os
import threading
import time

import pytest
from conftest import build_world, order_payload
from sqlalchemy import select
from test_browser import ARGS, CHROMIUM, _free_port, browser, pytestmark  # noqa: F401  (fixture, marks)

from qoima.db import tables as t
from qoima.db.engine import make_engine
from qoima.db.migrate import upgrade
from qoima.orders.schemas import OrderIn
from qoima.orders.services.intake import submit_order
from qoima.platform.access import SYSTEM
from qoima.platform.settings import Settings


@pytest.fixture
def shop(tmp_path):
    import uvicorn

    from qoima.entrypoints.api.app import create_app
    engine = make_engine(f"sqlite:///{tmp_path / 'qoima.db'}")
    upgrade(engine)
    build_world(engine, {("seller-a", "SKU-1", "ALA"): 10, ("seller-a", "SKU-2", "AST"): 5})
    ids = {}
    for ext, phone, email in (("WEB-1", "+77011234567", "aigerim@example.kz"), ("WEB-2", "+77011234567", "aigerim@example.kz"),
                              ("WEB-9", "+77019998877", "dana@example.kz")):
        body = order_payload(ext)
        body["customer"].update(phone=phone, email=email)
        ids[ext] = submit_order(engine, SYSTEM, OrderIn(**body))[0]["id"]
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
    yield f"http://127.0.0.1:{port}", ids, engine
    srv.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _status(engine, order_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(t.orders.c.status).where(t.orders.c.id == order_id)).scalar_one()


def test_local_phone_in_the_header_box_and_bulk_hold(shop, browser):
    base, ids, engine = shop
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/login?lang=en")
    page.fill("input[name=email]", "manager@qoima.local")
    page.fill("input[name=password]", "password123")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")

    box = page.locator("header input[data-top-search]")
    box.fill("8 701 999 88 77")
    box.press("Enter")
    page.wait_for_url(f"{base}/orders/{ids['WEB-9']}")
    assert "WEB-9" in page.content()

    page.goto(f"{base}/orders")
    if os.environ.get("QOIMA_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["QOIMA_SHOTS"], "orders.png"), full_page=True)
    page.check("input[data-select-all]")  # the header box selects the page, and unselects it
    assert page.locator("input[name=order]:checked").count() == 3
    page.uncheck("input[data-select-all]")
    assert page.locator("input[name=order]:checked").count() == 0
    page.check(f"input[name=order][value='{ids['WEB-1']}']")
    page.check(f"input[name=order][value='{ids['WEB-2']}']")
    page.select_option("select[name=action]", "hold")
    page.fill("form#bulk input[name=reason]", "address check")
    page.click("form#bulk button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("table.bulk-result tr.row-ok").count() == 2
    if os.environ.get("QOIMA_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["QOIMA_SHOTS"], "bulk.png"), full_page=True)
    assert page.locator("table.bulk-result tr.row-refused").count() == 0
    assert _status(engine, ids["WEB-1"]) == _status(engine, ids["WEB-2"]) == "on_hold"
    assert _status(engine, ids["WEB-9"]) == "allocated"
    page.click("text=Back to the orders")
    page.wait_for_url(f"{base}/orders")
    if os.environ.get("QOIMA_SHOTS"):
        page.goto(f"{base}/search?q=8+701+123+45+67")
        page.screenshot(path=os.path.join(os.environ["QOIMA_SHOTS"], "search.png"), full_page=True)
    assert not errors
