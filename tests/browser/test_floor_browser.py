"""The floor in a real browser (Chromium, Playwright): keyboard scans typed into the pages walk one order
from wave release through pick, pack, label and handover to shipped. A keyboard-wedge scanner is keys
and Enter into the focused input: that is exactly what `keyboard.type` + `press("Enter")` sends."""

from __future__ import annotations

from test_browser import browser, server  # noqa: F401 - the fixtures



def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login?lang=en")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "password123")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")


def _scan(page, text: str, expect: str) -> str:
    page.locator("[data-scan-input]").focus()
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    result = page.locator("[data-result]")
    result.locator(f"text={expect}").wait_for(timeout=10_000)
    return result.get_attribute("class")




def test_one_order_from_wave_to_shipped_by_keyboard_scans(server, browser):  # noqa: F811
    base, ids = server
    order_id = ids[0]  # WEB-1: 2 x SKU-1 from ALA A-01
    errors: list[str] = []
    office = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    office.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(office, base, "manager@qoima.local")
    office.goto(f"{base}/floor/waves?warehouse=ALA")
    office.click("[data-release]")
    office.wait_for_load_state()
    assert office.locator(".flash-success").is_visible()

    floor = browser.new_context(viewport={"width": 390, "height": 844}).new_page()  # a scanner in the hand
    floor.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(floor, base, "worker@qoima.local")
    floor.goto(f"{base}/floor/scan?warehouse=ALA")
    floor.locator("[data-stop-location]").locator("text=A-01").wait_for(timeout=10_000)
    assert "bad" in _scan(floor, "A-02", "wrong location: you are at A-02, go to A-01")
    assert "ok" in _scan(floor, "A-01", "A-01: take 2")
    assert "bad" in _scan(floor, "4870000009022", "this is Item 2, the line wants Item 1")
    assert "ok" in _scan(floor, "4870000009015", "1 of 2")
    assert "ok" in _scan(floor, "4870000009015", "2 of 2")
    floor.locator("[data-prompt]").locator("text=Task done").wait_for(timeout=10_000)

    floor.goto(f"{base}/floor/pack")
    assert "ok" in _scan(floor, "WEB-1", "WEB-1")
    _scan(floor, "4870000009015", "1 of 2")
    _scan(floor, "4870000009015", "2 of 2")
    floor.fill("[data-weights]", "850")
    floor.click("[data-close]")
    floor.locator("[data-result]").locator("text=packed").wait_for(timeout=10_000)
    label = floor.locator("[data-docs] a", has_text="PDF").first
    label.wait_for(timeout=10_000)
    tracking = label.inner_text().split(" ")[1]
    pdf = floor.request.get(base + label.get_attribute("href"))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    zpl = floor.request.get(base + floor.locator("[data-docs] a", has_text="ZPL").first.get_attribute("href"))
    assert zpl.ok and tracking in zpl.text()

    floor.goto(f"{base}/floor/handover?warehouse=ALA")
    floor.select_option("[data-carrier]", "courier")
    floor.click("[data-open-form] button")
    floor.locator("[data-waiting]").locator(f"text={tracking}").wait_for(timeout=10_000)
    assert "ok" in _scan(floor, tracking, "added")
    floor.click("[data-close]")
    floor.locator("[data-result]").locator("text=1 order(s) shipped").wait_for(timeout=10_000)
    floor.locator("[data-docs] a").wait_for(timeout=10_000)

    office.goto(f"{base}/orders/{order_id}")
    assert "Shipped" in office.locator(".badge").first.inner_text()
    assert not errors, errors


def test_an_order_from_two_warehouses_is_packed_in_each_after_choosing_it(tmp_path, browser):  # noqa: F811
    from test_browser import serve
    with serve(tmp_path, (("WEB-9", "seller-a", (("SKU-1", 1), ("SKU-2", 1))),)) as (base, ids):
        errors: list[str] = []
        office = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        office.on("pageerror", lambda exc: errors.append(str(exc)))
        _sign_in(office, base, "manager@qoima.local")
        floor = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        floor.on("pageerror", lambda exc: errors.append(str(exc)))
        _sign_in(floor, base, "worker@qoima.local")
        for wh, barcode in (("ALA", "4870000009015"), ("AST", "4870000009022")):  # each warehouse picks its part
            office.goto(f"{base}/floor/waves?warehouse={wh}")
            office.click("[data-release]")
            office.wait_for_load_state()
            floor.goto(f"{base}/floor/scan?warehouse={wh}")
            floor.locator("[data-stop-location]").locator("text=A-01").wait_for(timeout=10_000)
            assert "ok" in _scan(floor, "A-01", "A-01: take 1")
            assert "ok" in _scan(floor, barcode, "1 of 1")
            floor.locator("[data-prompt]").locator("text=Task done").wait_for(timeout=10_000)

        floor.goto(f"{base}/floor/pack?lang=en")
        assert "bad" in _scan(floor, "WEB-9", "choose the warehouse")  # both wait for packing: which one is here?
        floor.click("[data-choose] button[data-warehouse=AST]")
        floor.locator("[data-order-number]").locator("text=WEB-9 · AST").wait_for(timeout=10_000)
        assert "bad" in _scan(floor, "4870000009015", "is not in order")  # Item 1 is packed in ALA
        _scan(floor, "4870000009022", "1 of 1")
        floor.fill("[data-weights]", "400")
        slow = []  # the page's reload of the packed view held back: the packer scans the next order before it
        floor.route("**/api/v1/floor/pack?code=%23*", lambda route: slow.append(route))
        floor.click("[data-close]")
        floor.locator("[data-result]").locator("text=packed").wait_for(timeout=10_000)
        assert "ok" in _scan(floor, "WEB-9", "WEB-9 · ALA")  # now only ALA's shipment waits
        assert slow  # it was held: the scan above did not wait for it
        floor.unroute("**/api/v1/floor/pack?code=%23*")  # lets the held reload go on ...
        floor.wait_for_timeout(1000)  # ... and arrive late: it must not replace the packing now open
        _scan(floor, "4870000009015", "1 of 1")
        floor.fill("[data-weights]", "300")
        floor.click("[data-close]")
        floor.locator("[data-result]").locator("text=packed").wait_for(timeout=10_000)

        office.goto(f"{base}/orders/{ids[0]}?lang=en")
        assert "Packed" in office.locator(".badge").first.inner_text()
        assert "packed in AST" in office.locator("#timeline").inner_text()
        assert not errors, errors
