"""A seller helps itself in a real browser: creates a product with a barcode, sets a low-stock alert on it,
exports its orders (the live server and Chromium of test_browser.py)."""

from __future__ import annotations

import csv
import io

from test_browser import browser, pytestmark, server  # noqa: F401 - the fixtures and the skip rule

GOOD_EAN = "4006381333931"


def test_seller_creates_a_product_sets_an_alert_and_exports_orders(server, browser, tmp_path):  # noqa: F811
    base, _ids = server
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/login?lang=en")
    page.fill("input[name=email]", "a@seller-a.kz")
    page.fill("input[name=password]", "password123")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.locator(".who-role").inner_text() == "Seller-A"  # the shop's name, not the role

    page.goto(f"{base}/products")
    page.click("a[data-new-product]")
    page.wait_for_url(f"{base}/products/new")
    page.fill("input[name=sku]", "BRW-1")
    page.fill("input[name=name]", "Browser thermos")
    page.fill("input[name=price]", "4990")
    page.fill("input[name=barcodes]", "4006381333932")  # a wrong check digit first
    page.fill("input[name=length_mm]", "80")
    page.click("form[data-product-form] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("[data-field-error=barcodes]").is_visible()
    assert "check digit" in page.locator("[data-field-error=barcodes]").inner_text()
    page.fill("input[name=barcodes]", GOOD_EAN)
    page.click("form[data-product-form] button[type=submit]")
    page.wait_for_url(lambda url: "/products/" in url and not url.endswith("/new"))
    assert page.locator(".flash-success").is_visible()
    assert page.locator("input[name=barcodes]").input_value() == GOOD_EAN
    page.screenshot(path=str(tmp_path / "product.png"), full_page=True)

    page.goto(f"{base}/alerts?sku=SKU-1")
    assert page.locator("form[data-alert-form] input[name=sku]").input_value() == "SKU-1"
    page.select_option("form[data-alert-form] select[name=kind]", "threshold")
    page.fill("form[data-alert-form] input[name=value]", "50")  # 8 of 10 available: low at once
    page.click("form[data-alert-form] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".flash-success").is_visible()
    row = page.locator("tr[data-alert-sku=SKU-1]")
    assert row.count() == 1 and "low" in row.inner_text()

    page.goto(f"{base}/orders")
    page.screenshot(path=str(tmp_path / "orders.png"))
    with page.expect_download() as info:
        page.click("[data-order-export] a:has-text('CSV')")
    path = tmp_path / "orders.csv"
    info.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    numbers = {r[1] for r in rows[1:]}
    assert rows[0][:2] == ["Order", "Order number"] and numbers == {"WEB-1", "WEB-2"}  # not seller B's WEB-3
    shot = tmp_path / "alerts.png"
    page.goto(f"{base}/alerts")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert not errors
