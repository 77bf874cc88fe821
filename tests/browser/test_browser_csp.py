"""The Content-Security-Policy in a real browser: Chromium reports no violation on any page of the
console (signed in as an admin, both languages), and a page of the console cannot be framed."""

from __future__ import annotations

from test_browser import CHROMIUM, browser, pytestmark, server  # noqa: F401 - the fixtures and marks

PAGES = ["/", "/account", "/orders", "/stock", "/products", "/inbound", "/receipts", "/customers", "/customers/list", "/loyalty",
         "/imports", "/admin/sellers", "/admin/users", "/admin/tokens", "/products/new", "/alerts",
         "/admin/warehouses", "/admin/warehouses/ALA", "/admin/warehouses/ALA/locations",
         "/floor", "/floor/waves", "/floor/scan", "/floor/pack", "/floor/handover", "/floor/settings"]


def test_no_csp_violation_on_any_page(server, browser):  # noqa: F811
    base, ids = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(f"{page.url}: {msg.text}")
            if "Content Security Policy" in msg.text or "Refused to" in msg.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "console.error('Refused to (CSP) ' + e.violatedDirective + ' ' + e.blockedURI));")
    page.goto(f"{base}/login?lang=en")
    page.fill("input[name=email]", "admin@qoima.local")
    page.fill("input[name=password]", "password123")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")
    for lang in ("en", "ru"):
        page.goto(f"{base}/?lang={lang}")
        for path in [*PAGES, f"/orders/{ids[0]}"]:
            page.goto(base + path)
            page.wait_for_load_state("load")
    # the script-driven bits still work under the CSP: the role select hides the seller field
    page.goto(f"{base}/admin/users")
    page.click("details.form-card summary")
    page.select_option("select[name=role]", "manager")
    assert not page.locator("[data-seller-field]").is_visible()
    page.select_option("select[name=role]", "seller")
    assert page.locator("[data-seller-field]").is_visible()
    # the status badge keeps its colour from the stylesheet (no style attribute any more)
    page.goto(f"{base}/orders/{ids[0]}")
    colour = page.eval_on_selector(".badge", "el => getComputedStyle(el).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
    assert not violations, violations


def test_pages_cannot_be_framed(server, browser):  # noqa: F811
    base, ids = server
    page = browser.new_page()
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text) if "frame" in msg.text.lower() else None)
    page.set_content(f'<iframe id="f" src="{base}/login" width="400" height="300"></iframe>')
    page.wait_for_timeout(1500)
    frame = page.frame_locator("#f")
    assert frame.locator("input[name=email]").count() == 0  # the login form never renders in the frame
    assert blocked, "Chromium reports the refused frame"


def test_docs_render_offline_without_violations(server, browser):  # noqa: F811
    """Swagger UI draws the API's operations from this server's own assets; nothing is fetched from outside
    and the CSP refuses nothing."""
    base, _ids = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    violations: list[str] = []
    page.on("request", lambda req: outside.append(req.url) if not req.url.startswith((base, "data:", "blob:")) else None)
    page.on("console", lambda msg: violations.append(msg.text)
            if "Content Security Policy" in msg.text or "Refused to" in msg.text else None)
    page.goto(f"{base}/docs")
    page.wait_for_selector(".opblock", timeout=20000)
    assert page.locator(".opblock").count() > 10
    assert not outside, outside
    assert not violations, violations
