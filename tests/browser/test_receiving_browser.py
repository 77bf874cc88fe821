"""Receiving in a real browser: a seller announces a delivery (adding a line with the "Add line" button,
which /static/receiving.js handles in place), a warehouse worker receives it by typing scans into the
scan box as a keyboard-wedge scanner does (keys, then Enter), sees the discrepancy, confirms, and lands on
the receipt's page with its link to the delivery."""

from __future__ import annotations

import re

from test_browser import CHROMIUM, browser, pytestmark, server  # noqa: F401 - the fixtures and marks

SKU1_BARCODE = "4870000009015"


def _sign_in(page, base, email):
    page.goto(f"{base}/login?lang=en")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "password123")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_seller_announces_worker_scans_and_confirms(server, browser):  # noqa: F811
    base, _ids = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    _sign_in(page, base, "a@seller-a.kz")
    page.goto(f"{base}/inbound")
    page.click("#announce-form >> xpath=ancestor::details/summary")
    page.select_option("#announce-form select[name=warehouse]", "ALA")
    page.fill("#announce-form input[name=supplier]", "Steppe Ceramics")
    rows = page.locator("#announce-form [data-line]")
    assert rows.count() == 3
    url_before = page.url
    page.click("#announce-form [data-add-line]")  # in place, no round trip
    assert rows.count() == 4 and page.url == url_before
    page.locator("#announce-form input[name=sku]").nth(0).fill("sku-1")
    page.locator("#announce-form input[name=expected]").nth(0).fill("3")
    page.locator("#announce-form input[name=sku]").nth(3).fill("SKU-2")
    page.locator("#announce-form input[name=expected]").nth(3).fill("2")
    with page.expect_navigation():
        page.click("#announce-form button[value=announce]")
    assert re.search(r"/inbound/\d+$", page.url), page.url
    asn_url = page.url
    assert "Steppe Ceramics" in page.content()
    page.click("form.logout button[type=submit]")
    page.wait_for_load_state()

    _sign_in(page, base, "worker@qoima.local")
    page.goto(asn_url)
    for code in (SKU1_BARCODE, SKU1_BARCODE, "sku-1", "SKU-2"):
        page.locator("#scan").click()
        page.keyboard.type(code)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement && document.activeElement.id") == "scan"
    sku1 = page.locator("#receive-lines tr[data-sku='SKU-1']")
    sku2 = page.locator("#receive-lines tr[data-sku='SKU-2']")
    assert sku1.locator("input[name=received]").input_value() == "3"
    assert sku2.locator("input[name=received]").input_value() == "1"
    assert sku1.locator("[data-state]").get_attribute("data-state") == "ok"
    assert sku2.locator("[data-state]").get_attribute("data-state") == "short"
    assert sku2.locator("[data-difference]").inner_text() == "-1"
    assert "1 line(s) short" in page.locator("#discrepancy-summary").inner_text()
    with page.expect_navigation():
        page.click("button[data-confirm-receipt]")
    assert re.search(r"/receipts/\d+$", page.url), page.url
    assert page.locator(".flash-success").is_visible()
    lines = page.locator("#receipt-lines tbody tr")
    assert lines.count() == 2
    assert page.locator("#receipt-movements tbody tr").count() == 2
    assert "worker@qoima.local" in page.content()
    page.click("a[data-asn-link]")
    page.wait_for_url(asn_url)
    assert "partially received" in page.content()
    assert not errors
