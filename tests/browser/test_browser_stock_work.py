"""Stock work in a real browser: a worker books a receipt into the receiving dock of an
'reserve' warehouse, puts it away from the put-away page, and the
order that waited for it shows allocated with its current sourcing reason."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import build_world, order_payload
from test_browser import _free_port, browser, pytestmark  # noqa: F401 - the fixture and the marks

from qoima.db.engine import make_engine
from qoima.db.migrate import upgrade
from qoima.orders.schemas import OrderIn
from qoima.orders.services import backorders  # noqa: F401 - registers the stock.changed handler
from qoima.orders.services.intake import submit_order
from qoima.platform import outbox
from qoima.platform.access import SYSTEM
from qoima.platform.settings import Settings


@pytest.fixture
def live(tmp_path):
    """The app under uvicorn with a backorder of seller A (SKU-2: 5 in AST, 7 ordered)."""
    import uvicorn

    from qoima.entrypoints.api.app import create_app
    engine = make_engine(f"sqlite:///{tmp_path / 'qoima.db'}")
    upgrade(engine)
    build_world(engine, {("seller-a", "SKU-2", "AST"): 5})
    order, _ = submit_order(engine, SYSTEM, OrderIn(**order_payload("WEB-BO", lines=(("SKU-2", 7),))))
    assert order["status"] == "backordered"
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
    yield f"http://127.0.0.1:{port}", engine, order["id"]
    srv.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _drain(engine) -> None:
    while outbox.run_once(engine):  # what the worker does after each commit
        pass


def test_receive_into_the_dock_put_away_and_see_the_backorder_allocated(live, browser):  # noqa: F811
    base, engine, waiting = live
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/login?lang=en")
    page.fill("input[name=email]", "worker@qoima.local")
    page.fill("input[name=password]", "password123")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()

    page.goto(f"{base}/receipts")
    page.click("details.form-card summary")
    page.select_option("select[name=seller]", "seller-a")
    page.select_option("select[name=place]", "ALA|RCV")
    page.locator("input[name=sku]").first.fill("SKU-2")
    page.locator("input[name=expected]").first.fill("3")
    page.locator("input[name=received]").first.fill("3")
    page.click("form[action='/receipts'] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".flash-success").count() >= 1
    _drain(engine)

    page.click("nav a[href='/stock/putaway']")
    page.wait_for_url(f"{base}/stock/putaway")
    row = page.locator("form[data-putaway='SKU-2']")
    assert row.locator("input[name=quantity]").input_value() == "3"  # all of it by default
    row.locator("select[name=to_location]").select_option("A-02")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "put away from RCV to A-02" in page.locator(".flash-success").inner_text()
    assert page.locator("form[data-putaway='SKU-2']").count() == 0
    _drain(engine)

    page.goto(f"{base}/orders/{waiting}")
    assert "Allocated" in page.locator(".badge").first.inner_text()
    assert "backorder filled: stock arrived" in page.locator(".reason-box").inner_text()
    assert "A-02" in page.inner_text("body")  # the reservation went with the goods into the cell
    assert not errors
