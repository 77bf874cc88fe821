"""Security headers on every response (entrypoints/api/security_headers.py): API, web pages, static
files and errors, 500s included; HSTS only under QOIMA_ENV=production; and no page relies on inline
script, inline style or on*= handlers the CSP would block. Reproduces the finding first: an order
page with cancel buttons could be framed by any site."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from conftest import order_payload
from fastapi.testclient import TestClient

from qoima.entrypoints.api.app import create_app
from qoima.platform.settings import Settings

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
WEB = Path(__file__).resolve().parents[2] / "src" / "qoima" / "entrypoints" / "web"
# what a strict CSP blocks: inline <script> (no src), <style> elements, style= attributes, on*= handlers
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style[\s>]|\sstyle=|\son[a-z]+\s*=|javascript:", re.I)


def assert_secured(r, production: bool = False) -> None:
    h = r.headers
    csp = h["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "object-src 'none'" in csp
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "same-origin"
    assert ("strict-transport-security" in h) == production
    if production:
        assert h["strict-transport-security"].startswith("max-age=31536000")


def _admin_session(client) -> None:
    token = CSRF.search(client.get("/login").text).group(1)
    assert client.post("/login", data={"email": "admin@qoima.local", "password": "password123", "csrf": token},
                       follow_redirects=False).status_code == 303


def test_headers_on_api_web_static_and_error_responses(world, settings):
    app = create_app(world.engine, settings)

    @app.get("/test-boom")
    def boom():
        raise RuntimeError("an unexpected bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        order = client.post("/api/v1/orders", json=order_payload("SEC-1"), headers=world.headers("seller_a"))
        assert order.status_code == 201
        responses = {
            "api 201": order,
            "api 200": client.get("/api/v1/orders", headers=world.headers("seller_a")),
            "api 401": client.get("/api/v1/orders"),
            "api 404": client.get("/api/v1/orders/999999", headers=world.headers("seller_a")),
            "api 422": client.post("/api/v1/orders", json={"lines": "x"}, headers=world.headers("seller_a")),
            "healthz": client.get("/healthz"),
            "openapi": client.get("/openapi.json"),
            "login page": client.get("/login"),
            "redirect": client.get("/orders", follow_redirects=False),
            "static": client.get("/static/app.js"),
            "not found page": client.get("/no-such-page"),
            "500": client.get("/test-boom"),
        }
        _admin_session(client)
        responses["order page"] = client.get(f"/orders/{order.json()['id']}")
        responses["web 404"] = client.get("/orders/999999")
    assert responses["500"].status_code == 500 and responses["order page"].status_code == 200
    for name, r in responses.items():
        try:
            assert_secured(r)
        except (AssertionError, KeyError) as exc:
            raise AssertionError(f"{name} ({r.status_code}): {exc!r} {dict(r.headers)}") from None


def test_hsts_only_in_production(world, tmp_path):
    prod = Settings(data_dir=tmp_path / "p", secret_key="a-production-secret-key-0123456789", env="production")
    with TestClient(create_app(world.engine, prod), base_url="https://testserver") as client:
        for r in (client.get("/healthz"), client.get("/login"), client.get("/api/v1/orders")):
            assert_secured(r, production=True)
    local = Settings(data_dir=tmp_path / "l", secret_key="a-local-secret-key-0123456789")
    with TestClient(create_app(world.engine, local)) as client:
        assert_secured(client.get("/healthz"), production=False)


def test_docs_allow_exactly_their_own_inline_script(client):
    r = client.get("/docs")
    assert r.status_code == 200
    assert_secured(r)
    csp = r.headers["content-security-policy"]
    inline = re.findall(r"<script>(.*?)</script>", r.text, re.S)
    assert inline, "FastAPI's Swagger page sets itself up with one inline script"
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    redoc = client.get("/redoc")
    assert redoc.status_code == 200 and "frame-ancestors 'none'" in redoc.headers["content-security-policy"]


def test_a_route_may_set_its_own_policy(world, settings):
    from fastapi.responses import PlainTextResponse
    app = create_app(world.engine, settings)

    @app.get("/test-own-policy")
    def own():
        return PlainTextResponse("x", headers={"Content-Security-Policy": "default-src 'none'"})

    with TestClient(app) as client:
        r = client.get("/test-own-policy")
    assert r.headers["content-security-policy"] == "default-src 'none'" and r.headers["x-frame-options"] == "DENY"


def test_templates_and_charts_have_nothing_inline_the_csp_blocks():
    sources = [*sorted((WEB / "templates").glob("*.html")), WEB / "charts.py", WEB / "static" / "app.js"]
    found = {str(p.name): INLINE.findall(p.read_text()) for p in sources}
    assert {k: v for k, v in found.items() if v} == {}


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_rendered_pages_have_nothing_inline(client, world, lang):
    """Every page an admin sees, as rendered (macros, charts, filters), passes the same check."""
    client.post("/api/v1/orders", json=order_payload("SEC-2"), headers=world.headers("seller_a"))
    _admin_session(client)
    client.get(f"/?lang={lang}")
    pages = ["/", "/account", "/orders", "/orders/1", "/stock", "/products", "/receipts", "/customers",
             "/customers/list", "/loyalty", "/imports", "/admin/sellers", "/admin/users", "/admin/tokens", "/login"]
    for path in pages:
        r = client.get(path)
        assert r.status_code in (200, 303), (path, r.status_code)
        assert not INLINE.findall(r.text), (path, INLINE.findall(r.text))


def test_badge_colours_in_the_stylesheet_match_the_status_colours():
    """The badge colours moved from a style attribute to app.css; they stay those of i18n.STATUS_COLORS."""
    from qoima.entrypoints.web.i18n import STATUS_COLORS
    css = (WEB / "static" / "app.css").read_text()
    for status, (bg, fg) in STATUS_COLORS.items():
        assert f".badge.status-{status} {{ background: {bg}; color: {fg}; }}" in css, status
