"""The role matrix (platform/roles.py): every role x every route (API and web pages) x seller, against the
real application; a route without a rule or without a probe fails. Split from test_tenant_isolation.py,
whose snapshot and fixtures it reuses."""

from __future__ import annotations

# the role matrix: every role x every route (API and web) x seller ======================================
#
# platform/roles.py declares, per route, which roles may call it. Below, one probe per route sends a real
# request as admin, manager, worker, seller A and seller B; a role the matrix refuses must get 403 (problem+json
# for the API, the localized error page for the web) and change nothing; a role it allows must not be refused
# (no 401/403, no 5xx). A probe marked `owned` acts on one record of seller A: seller B gets 404 and seller A
# does not. A route of the app without a rule, or without a probe here, fails the test.

import re as _re
from dataclasses import dataclass as _dataclass
from typing import Callable

from conftest import order_payload
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from test_tenant_isolation import PROBLEM, _csv, a_delivery_and_receipt, app_api_routes, snapshot

from qoima.db import tables as t
from qoima.entrypoints.web import i18n
from qoima.platform import auth, roles

MATRIX_ROLES = {"admin": "admin", "manager": "manager", "worker": "worker", "seller_a": "seller",
                "seller_b": "seller"}
EMAILS = {"admin": "admin@qoima.local", "manager": "manager@qoima.local", "worker": "worker@qoima.local",
          "seller_a": "a@seller-a.kz", "seller_b": "b@seller-b.kz"}
_CSRF_META = _re.compile(r'<meta name="csrf-token" content="([^"]*)"')


def app_routes(app) -> set[tuple[str, str]]:
    """Every (method, path) of the application's FastAPI routes: the API and the web pages (not /static,
    not the OpenAPI documents, which are Starlette routes)."""
    from fastapi.routing import APIRoute
    try:
        from fastapi.routing import iter_route_contexts
        found = [(c.original_route, c.path) for c in iter_route_contexts(app.routes)]
    except ImportError:
        found = [(r, r.path) for r in app.routes]
    return {(m, path) for route, path in found if isinstance(route, APIRoute)
            for m in (route.methods or set()) - {"HEAD", "OPTIONS"}}


class MatrixCtx:
    """Seller A's records to aim at, and one signed-in web client per role."""

    def __init__(self, client, world):
        self.client, self.world = client, world
        self.a = world.headers("seller_a")
        self.a_order = self.new_order()
        self.a_job = self._a_job()
        with world.engine.connect() as conn:
            self.a_product = conn.execute(select(t.products.c.id).where(
                t.products.c.seller_id == world.sellers["seller-a"], t.products.c.sku == "SKU-1")).scalar_one()
        r = client.post("/api/v1/transfers", headers=world.headers("admin"), json={
            "seller": "seller-a", "from_warehouse": "ALA", "to_warehouse": "AST",
            "lines": [{"sku": "SKU-1", "quantity": 1, "from_location": "A-01"}]})
        assert r.status_code == 201, r.text
        self.a_transfer = r.json()["id"]
        self.a_asn, self.a_receipt = a_delivery_and_receipt(client, world)
        self.web: dict[str, TestClient] = {}

    def new_order(self) -> int:
        """A fresh order of seller A (for the probes that change an order)."""
        n = getattr(self, "_n", 0) + 1
        self._n = n
        r = self.client.post("/api/v1/orders", json=order_payload(f"A-MATRIX-{n}", [("SKU-1", 1)]), headers=self.a)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def _a_job(self) -> int:
        row = {"channel": "csv", "external_id": "A-MATRIX-JOB", "sku": "SKU-1", "quantity": 1, "unit_price": "10"}
        r = self.client.post("/api/v1/orders/import", params={"dry_run": "true"}, headers=self.a,
                             files={"file": ("orders.csv", _csv([row]), "text/csv")})
        assert r.status_code == 202, r.text
        return r.json()["id"]

    def web_client(self, who: str, fresh: bool = False) -> TestClient:
        if who in self.web and not fresh:
            return self.web[who]
        c = TestClient(self.client.app, headers={"Accept-Language": "en"})
        page = c.get("/login").text
        token = _re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        r = c.post("/login", data={"email": EMAILS[who], "password": "password123", "csrf": token},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        if not fresh:
            self.web[who] = c
        return c

    def csrf(self, c: TestClient) -> str:
        return _CSRF_META.search(c.get("/").text).group(1)


@_dataclass(frozen=True)
class Probe:
    """How to call one route: `send(ctx, who)` returns the response; `owned`: it acts on seller A's record;
    `fresh`: it changes an order, so each role gets a new order of seller A (`ctx.fresh`), made beforehand."""
    send: Callable
    owned: bool = False
    fresh: bool = False


def _api(method: str, url, owned: bool = False, fresh: bool = False, **kwargs) -> Probe:
    """An API call as `who` (Bearer token); `url` a string or f(ctx) -> string; kwargs may be f(ctx) too."""
    def send(ctx, who):
        target = url(ctx) if callable(url) else url
        extra = {k: (v(ctx) if callable(v) else v) for k, v in kwargs.items()}
        return ctx.client.request(method, target, headers=ctx.world.headers(who), **extra)
    return Probe(send, owned, fresh)


def _upload(path: str) -> Probe:
    row = {"seller": "seller-a", "channel": "csv", "external_id": "M-1", "sku": "SKU-1", "quantity": 1,
           "unit_price": "1", "name": "x", "warehouse": "ALA", "location": "A-01"}
    return _api("POST", path, params={"dry_run": "true"}, files={"file": ("f.csv", _csv([row]), "text/csv")})


def _page(method: str, url, owned: bool = False, fresh: bool = False, new_session: bool = False, **data) -> Probe:
    """A web request as `who` (signed in with the session; `new_session`: a session of its own); POSTs carry
    the form's CSRF token; a form value may be f(who)."""
    def send(ctx, who):
        c = ctx.web_client(who, fresh=new_session)
        target = url(ctx) if callable(url) else url
        if method == "GET":
            return c.get(target, follow_redirects=False)
        form = {"csrf": ctx.csrf(c), **{k: (v(who) if callable(v) else v) for k, v in data.items() if k != "files"}}
        return c.post(target, data=form, files=data.get("files"), follow_redirects=False)
    return Probe(send, owned, fresh)


def _ends_sessions(ctx, who, path: str):
    """Signing out ends every session of the user, the matrix's own signed-in client included: it signs in again."""
    r = _page("POST", path, new_session=True).send(ctx, who)
    ctx.web.pop(who, None)
    return r


def _bulk_hold(ctx, who):
    """Hold seller A's fresh order from the list; seller B's answer is a per-order "not found" (unchanged)."""
    c = ctx.web_client(who)
    r = c.post("/orders/bulk", data={"csrf": ctx.csrf(c), "action": "hold", "order": [ctx.fresh]},
               follow_redirects=False)
    if who == "seller_b" and r.status_code == 200:
        assert f'class="row-refused" data-order="{ctx.fresh}"' in r.text, r.text[:300]
    return r


def _search_a_order(ctx, who):
    """Seller A's order by its number: straight to it, except for seller B, who finds nothing."""
    r = ctx.web_client(who).get("/search", params={"q": f"#{ctx.a_order}"}, follow_redirects=False)
    if who == "seller_b" and r.status_code == 200:
        assert f"/orders/{ctx.a_order}" not in r.text
    elif r.status_code == 303:
        assert r.headers["location"] == f"/orders/{ctx.a_order}"
    return r


PROBES: dict[tuple[str, str], Probe] = {
    # --- API -----------------------------------------------------------------------------------------------
    ("GET", "/healthz"): _api("GET", "/healthz"),
    ("GET", "/metrics"): _api("GET", "/metrics"),
    ("POST", "/api/v1/auth/token"): Probe(lambda ctx, who: ctx.client.post(
        "/api/v1/auth/token", json={"email": EMAILS[who], "password": "password123", "name": "matrix"})),
    ("GET", "/api/v1/tokens"): _api("GET", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{token_id}"): _api("DELETE", "/api/v1/tokens/999999"),
    ("GET", "/api/v1/sellers"): _api("GET", "/api/v1/sellers"),
    ("POST", "/api/v1/sellers"): _api("POST", "/api/v1/sellers", json={"code": "", "name": ""}),
    ("POST", "/api/v1/sellers/{code}/webhook-secret"): _api("POST", "/api/v1/sellers/seller-b/webhook-secret"),
    ("GET", "/api/v1/warehouses"): _api("GET", "/api/v1/warehouses"),
    ("POST", "/api/v1/users"): _api("POST", "/api/v1/users", json={}),
    ("GET", "/api/v1/products"): _api("GET", "/api/v1/products"),
    ("POST", "/api/v1/products"): _api("POST", "/api/v1/products", json={}),
    ("GET", "/api/v1/products/{product_id}"): _api("GET", lambda ctx: f"/api/v1/products/{ctx.a_product}",
                                                   owned=True),
    ("PUT", "/api/v1/products/{product_id}"): _api("PUT", lambda ctx: f"/api/v1/products/{ctx.a_product}",
                                                   owned=True, json={"sku": "SKU-1", "name": "Renamed"}),
    ("POST", "/api/v1/orders/import"): _upload("/api/v1/orders/import"),
    ("POST", "/api/v1/products/import"): _upload("/api/v1/products/import"),
    ("POST", "/api/v1/stock/import"): _upload("/api/v1/stock/import"),
    ("GET", "/api/v1/jobs/{job_id}"): _api("GET", lambda ctx: f"/api/v1/jobs/{ctx.a_job}", owned=True),
    ("POST", "/api/v1/orders"): _api("POST", "/api/v1/orders", json={}),
    ("GET", "/api/v1/orders"): _api("GET", "/api/v1/orders"),
    ("GET", "/api/v1/orders/{order_id}"): _api("GET", lambda ctx: f"/api/v1/orders/{ctx.a_order}", owned=True),
    ("POST", "/api/v1/orders/{order_id}/transitions"): _api(
        "POST", lambda ctx: f"/api/v1/orders/{ctx.fresh}/transitions", owned=True, fresh=True,
        json={"status": "on_hold"}),
    ("POST", "/api/v1/orders/{order_id}/cancel"): _api(
        "POST", lambda ctx: f"/api/v1/orders/{ctx.fresh}/cancel", owned=True, fresh=True),
    ("POST", "/api/v1/orders/{order_id}/resource"): _api(
        "POST", lambda ctx: f"/api/v1/orders/{ctx.fresh}/resource", owned=True, fresh=True),
    ("GET", "/api/v1/stock"): _api("GET", "/api/v1/stock"),
    ("POST", "/api/v1/receipts"): _api("POST", "/api/v1/receipts", json={}),
    ("POST", "/api/v1/transfers"): _api("POST", "/api/v1/transfers", json={}),
    ("POST", "/api/v1/transfers/{transfer_id}/receive"): _api(
        "POST", lambda ctx: f"/api/v1/transfers/{ctx.a_transfer}/receive", json={}, owned=True),
    ("POST", "/api/v1/moves"): _api("POST", "/api/v1/moves", json={}),
    ("POST", "/api/v1/adjustments"): _api("POST", "/api/v1/adjustments", json={}),
    ("POST", "/api/v1/inbound"): _api("POST", "/api/v1/inbound", json={}),
    ("POST", "/api/v1/inbound/import"): _api("POST", "/api/v1/inbound/import", data={"warehouse": "ALA"},
                                             files={"file": ("a.csv", b"sku,expected\nNOPE,1\n", "text/csv")}),
    ("GET", "/api/v1/inbound"): _api("GET", "/api/v1/inbound"),
    ("GET", "/api/v1/inbound/{asn_id}"): _api("GET", lambda ctx: f"/api/v1/inbound/{ctx.a_asn}", owned=True),
    ("POST", "/api/v1/inbound/{asn_id}/receipts"): _api(
        "POST", lambda ctx: f"/api/v1/inbound/{ctx.a_asn}/receipts", owned=True,
        json={"location": "RCV", "lines": [{"sku": "NOPE", "received": 1}]}),
    ("POST", "/api/v1/inbound/{asn_id}/close"): _api("POST", lambda ctx: f"/api/v1/inbound/{ctx.a_asn}/close",
                                                     owned=True),
    ("POST", "/api/v1/inbound/{asn_id}/cancel"): _api("POST", lambda ctx: f"/api/v1/inbound/{ctx.a_asn}/cancel",
                                                      owned=True),
    ("GET", "/api/v1/receipts/{receipt_id}"): _api("GET", lambda ctx: f"/api/v1/receipts/{ctx.a_receipt}",
                                                   owned=True),
    ("GET", "/api/v1/kpis"): _api("GET", "/api/v1/kpis"),
    ("GET", "/api/v1/customers"): _api("GET", "/api/v1/customers", owned=True, params={"seller": "seller-a"}),
    ("GET", "/api/v1/analytics/customers"): _api("GET", "/api/v1/analytics/customers", owned=True,
                                                 params={"seller": "seller-a"}),
    ("GET", "/api/v1/analytics/clv"): _api("GET", "/api/v1/analytics/clv", owned=True,
                                           params={"seller": "seller-a"}),
    ("GET", "/api/v1/analytics/loyalty"): _api("GET", "/api/v1/analytics/loyalty", owned=True,
                                               params={"seller": "seller-a"}),
    ("POST", "/api/v1/customers/merge"): _api("POST", "/api/v1/customers/merge", owned=True,
                                              params={"seller": "seller-a", "dry_run": "true"}),
    ("GET", "/api/v1/customers/merges"): _api("GET", "/api/v1/customers/merges", owned=True,
                                              params={"seller": "seller-a"}),
    ("GET", "/api/v1/outbox"): _api("GET", "/api/v1/outbox"),
    ("POST", "/api/v1/outbox/{event_id}/replay"): _api("POST", "/api/v1/outbox/999999/replay"),
    # the floor (nothing of it is a seller's): harmless calls, refused by the rules or by the input
    ("GET", "/api/v1/floor/waves"): _api("GET", "/api/v1/floor/waves", params={"warehouse": "ALA"}),
    ("POST", "/api/v1/floor/waves"): _api("POST", "/api/v1/floor/waves", json={"warehouse": "NOWHERE"}),
    ("POST", "/api/v1/floor/tasks/next"): _api("POST", "/api/v1/floor/tasks/next", json={"warehouse": "NOWHERE"}),
    ("GET", "/api/v1/floor/tasks/{task_id}"): _api("GET", "/api/v1/floor/tasks/999999"),
    ("POST", "/api/v1/floor/tasks/{task_id}/scans"): _api("POST", "/api/v1/floor/tasks/999999/scans",
                                                          json={"op_id": "matrix", "raw": "A-01"}),
    ("POST", "/api/v1/floor/tasks/{task_id}/undo"): _api("POST", "/api/v1/floor/tasks/999999/undo",
                                                         json={"op_id": "matrix-undo"}),
    ("POST", "/api/v1/floor/tasks/{task_id}/short"): _api("POST", "/api/v1/floor/tasks/999999/short",
                                                          json={"op_id": "matrix-short"}),
    ("GET", "/api/v1/floor/exceptions/{task_id}"): _api("GET", "/api/v1/floor/exceptions/999999"),
    ("POST", "/api/v1/floor/exceptions/{task_id}/resolve"): _api(
        "POST", "/api/v1/floor/exceptions/999999/resolve", json={"op_id": "matrix-resolve", "action": "close",
                                                                 "note": "matrix"}),
    ("GET", "/api/v1/floor/settings/{warehouse}"): _api("GET", "/api/v1/floor/settings/ALA"),
    ("PUT", "/api/v1/floor/settings/{warehouse}"): _api("PUT", "/api/v1/floor/settings/NOWHERE", json={}),
    ("GET", "/api/v1/floor/boxes"): _api("GET", "/api/v1/floor/boxes"),
    ("PUT", "/api/v1/floor/boxes/{code}"): _api("PUT", "/api/v1/floor/boxes/M", json={}),
    ("GET", "/api/v1/floor/pack"): _api("GET", "/api/v1/floor/pack", params={"code": "NO-SUCH-ORDER"}),
    ("POST", "/api/v1/floor/pack/{order_id}/scans"): _api("POST", "/api/v1/floor/pack/999999/scans",
                                                          json={"op_id": "matrix-pack", "raw": "1"}),
    ("POST", "/api/v1/floor/pack/{order_id}/close"): _api("POST", "/api/v1/floor/pack/999999/close",
                                                          json={"op_id": "matrix-close", "parcels": []}),
    ("GET", "/api/v1/floor/parcels/{parcel_id}/label.pdf"): _api("GET", "/api/v1/floor/parcels/999999/label.pdf"),
    ("GET", "/api/v1/floor/parcels/{parcel_id}/label.zpl"): _api("GET", "/api/v1/floor/parcels/999999/label.zpl"),
    ("GET", "/api/v1/floor/orders/{order_id}/slip.pdf"): _api("GET", "/api/v1/floor/orders/999999/slip.pdf"),
    ("GET", "/api/v1/floor/printer-font.zpl"): _api("GET", "/api/v1/floor/printer-font.zpl"),
    ("POST", "/api/v1/floor/manifests"): _api("POST", "/api/v1/floor/manifests",
                                              json={"warehouse": "NOWHERE", "carrier": "courier"}),
    ("GET", "/api/v1/floor/manifests/{manifest_id}"): _api("GET", "/api/v1/floor/manifests/999999"),
    ("POST", "/api/v1/floor/manifests/{manifest_id}/scans"): _api("POST", "/api/v1/floor/manifests/999999/scans",
                                                                  json={"op_id": "matrix-hand", "raw": "X"}),
    ("POST", "/api/v1/floor/manifests/{manifest_id}/close"): _api("POST", "/api/v1/floor/manifests/999999/close",
                                                                  json={"op_id": "matrix-hand-close"}),
    ("GET", "/api/v1/floor/manifests/{manifest_id}/manifest.pdf"): _api(
        "GET", "/api/v1/floor/manifests/999999/manifest.pdf"),
    # --- web pages -----------------------------------------------------------------------------------------
    ("GET", "/login"): _page("GET", "/login"),
    ("POST", "/login"): _page("POST", "/login", new_session=True, email=EMAILS.get, password="password123"),
    ("POST", "/logout"): Probe(lambda ctx, who: _ends_sessions(ctx, who, "/logout")),
    ("GET", "/"): _page("GET", "/"),
    ("GET", "/orders"): _page("GET", "/orders"),
    ("GET", "/orders/{order_id}"): _page("GET", lambda ctx: f"/orders/{ctx.a_order}", owned=True),
    ("POST", "/orders/{order_id}/transition"): _page(
        "POST", lambda ctx: f"/orders/{ctx.fresh}/transition", owned=True, fresh=True, to_status="on_hold"),
    ("POST", "/orders/{order_id}/resource"): _page(
        "POST", lambda ctx: f"/orders/{ctx.fresh}/resource", owned=True, fresh=True),
    ("POST", "/orders/bulk"): Probe(_bulk_hold, fresh=True),
    ("GET", "/orders/print"): _page("GET", lambda ctx: f"/orders/print?order={ctx.a_order}"),
    ("GET", "/search"): Probe(_search_a_order),
    ("GET", "/stock"): _page("GET", "/stock"),
    ("GET", "/products"): _page("GET", "/products"),
    ("GET", "/receipts"): _page("GET", "/receipts"),
    ("POST", "/receipts"): _page("POST", "/receipts", seller="seller-a", place="ALA|A-01", sku="SKU-1",
                                 expected="1", received="-1"),
    # stock work (web/pages/stock_ops.py): refused input (nothing written) is enough to tell allowed from refused
    ("GET", "/stock/putaway"): _page("GET", "/stock/putaway"),
    ("POST", "/stock/putaway"): _page("POST", "/stock/putaway", seller="seller-a", sku="SKU-1", warehouse="ALA",
                                      from_location="A-01", to_location="A-02", quantity="0"),
    ("GET", "/stock/work"): _page("GET", "/stock/work"),
    ("POST", "/stock/move"): _page("POST", "/stock/move", seller="seller-a", sku="SKU-1", place="ALA|A-01",
                                   to_location="A-02", quantity="0"),
    ("POST", "/stock/adjust"): _page("POST", "/stock/adjust", seller="seller-a", sku="SKU-1", place="ALA|A-01",
                                     reason="found", direction="add", quantity="0"),
    ("POST", "/stock/count"): _page("POST", "/stock/count", seller="seller-a", sku="SKU-1", place="ALA|A-01",
                                    counted="x"),
    ("GET", "/stock/transfers"): _page("GET", "/stock/transfers"),
    ("POST", "/stock/transfers"): _page("POST", "/stock/transfers", seller="seller-a", sku="SKU-1", place="ALA|A-01",
                                        to_warehouse="AST", quantity="0"),
    ("POST", "/stock/transfers/{transfer_id}/receive"): _page(
        "POST", lambda ctx: f"/stock/transfers/{ctx.a_transfer}/receive", location=""),
    ("GET", "/stock/products/{product_id}/history"): _page(
        "GET", lambda ctx: f"/stock/products/{_a_product(ctx)}/history", owned=True),
    ("GET", "/stock/locations/{location_id}/history"): _page(
        "GET", lambda ctx: f"/stock/locations/{ctx.world.locations[('ALA', 'A-01')]}/history"),
    ("GET", "/stock/settings"): _page("GET", "/stock/settings"),
    ("POST", "/stock/settings"): _page("POST", "/stock/settings", warehouse="ALA", mode="bogus"),
    ("GET", "/receipts/{receipt_id}"): _page("GET", lambda ctx: f"/receipts/{ctx.a_receipt}", owned=True),
    ("GET", "/inbound"): _page("GET", "/inbound"),
    ("POST", "/inbound"): _page("POST", "/inbound", warehouse="", sku="SKU-1", expected="1"),
    ("GET", "/inbound/{asn_id}"): _page("GET", lambda ctx: f"/inbound/{ctx.a_asn}", owned=True),
    ("POST", "/inbound/{asn_id}/receive"): _page("POST", lambda ctx: f"/inbound/{ctx.a_asn}/receive", owned=True,
                                                 action="scan", scan="SKU-1"),
    ("POST", "/inbound/{asn_id}/close"): _page("POST", lambda ctx: f"/inbound/{ctx.a_asn}/close", owned=True),
    ("POST", "/inbound/{asn_id}/cancel"): _page("POST", lambda ctx: f"/inbound/{ctx.a_asn}/cancel", owned=True),
    ("GET", "/imports"): _page("GET", "/imports"),
    ("POST", "/imports"): _page("POST", "/imports", kind="orders", dry_run="1",
                                files={"file": ("o.csv", b"external_id,sku,quantity,unit_price\nW-1,SKU-1,1,1\n",
                                                "text/csv")}),
    ("GET", "/imports/{job_id}"): _page("GET", lambda ctx: f"/imports/{ctx.a_job}", owned=True),
    ("GET", "/imports/{job_id}/status"): _page("GET", lambda ctx: f"/imports/{ctx.a_job}/status", owned=True),
    ("POST", "/imports/{job_id}/commit"): _page("POST", lambda ctx: f"/imports/{ctx.a_job}/commit", owned=True),
    ("GET", "/products/new"): _page("GET", "/products/new"),
    ("POST", "/products/new"): _page("POST", "/products/new", sku="", name=""),
    ("GET", "/products/{product_id}"): _page("GET", lambda ctx: f"/products/{ctx.a_product}", owned=True),
    ("POST", "/products/{product_id}"): _page("POST", lambda ctx: f"/products/{ctx.a_product}", owned=True,
                                              sku="", name=""),
    ("GET", "/orders/export"): _page("GET", "/orders/export?format=csv&seller=seller-a"),
    ("GET", "/alerts"): _page("GET", "/alerts"),
    ("POST", "/alerts"): _page("POST", "/alerts", action="clear", alert_id=lambda who: "999999"),
    ("GET", "/customers"): _page("GET", "/customers?seller=seller-a", owned=True),
    ("GET", "/customers/list"): _page("GET", "/customers/list?seller=seller-a", owned=True),
    ("GET", "/loyalty"): _page("GET", "/loyalty?seller=seller-a", owned=True),
    ("GET", "/admin/sellers"): _page("GET", "/admin/sellers"),
    ("POST", "/admin/sellers"): _page("POST", "/admin/sellers", code="", name=""),
    ("GET", "/admin/users"): _page("GET", "/admin/users"),
    ("POST", "/admin/users"): _page("POST", "/admin/users", email="", password="", role="nobody"),
    ("POST", "/admin/sellers/{code}/webhook-secret"): _page("POST", "/admin/sellers/seller-b/webhook-secret"),
    ("GET", "/admin/tokens"): _page("GET", "/admin/tokens"),
    ("POST", "/admin/tokens/{token_id}/revoke"): _page("POST", "/admin/tokens/999999/revoke"),
    ("POST", "/admin/sellers/{code}"): _page("POST", "/admin/sellers/seller-b", name=""),
    ("POST", "/admin/users/{user_id}"): _page("POST", "/admin/users/999999", role="nobody"),
    ("POST", "/admin/users/{user_id}/password"): _page("POST", "/admin/users/999999/password", password="short"),
    ("POST", "/admin/users/{user_id}/deactivate"): _page("POST", "/admin/users/999999/deactivate"),
    ("GET", "/admin/warehouses"): _page("GET", "/admin/warehouses"),
    ("GET", "/admin/warehouses/{code}"): _page("GET", "/admin/warehouses/ALA"),
    ("POST", "/admin/warehouses"): _page("POST", "/admin/warehouses", code="", name=""),
    ("POST", "/admin/warehouses/{warehouse}"): _page("POST", "/admin/warehouses/ALA", code="", name=""),
    ("GET", "/admin/warehouses/{code}/locations"): _page("GET", "/admin/warehouses/ALA/locations"),
    ("POST", "/admin/warehouses/{code}/locations"): _page("POST", "/admin/warehouses/ALA/locations", location=""),
    ("POST", "/admin/warehouses/{code}/locations/pattern"): _page("POST", "/admin/warehouses/ALA/locations/pattern",
                                                                  pattern="Z-1..2-1"),  # the preview only
    ("GET", "/account"): _page("GET", "/account"),
    ("POST", "/account/password"): _page("POST", "/account/password", new_session=True, current="wrong-one",
                                         new="another-password-1", repeat="another-password-1"),
    ("POST", "/account/logout-everywhere"): Probe(lambda ctx, who: _ends_sessions(ctx, who, "/account/logout-everywhere")),
    ("GET", "/floor"): _page("GET", "/floor"),
    ("GET", "/floor/scan"): _page("GET", "/floor/scan"),
    ("GET", "/floor/pack"): _page("GET", "/floor/pack"),
    ("GET", "/floor/handover"): _page("GET", "/floor/handover"),
    ("GET", "/floor/exceptions/{task_id}"): _page("GET", "/floor/exceptions/999999"),
    ("POST", "/floor/exceptions/{task_id}"): _page("POST", "/floor/exceptions/999999", action="close", note="matrix"),
    ("GET", "/floor/waves"): _page("GET", "/floor/waves"),
    ("POST", "/floor/waves"): _page("POST", "/floor/waves", warehouse="NOWHERE"),
    ("GET", "/floor/settings"): _page("GET", "/floor/settings"),
    ("POST", "/floor/settings"): _page("POST", "/floor/settings", warehouse="ALA", aisles="x"),
    ("POST", "/floor/boxes"): _page("POST", "/floor/boxes", code="", length_mm="x"),
}


def _a_product(ctx) -> int:
    """Seller A's SKU-1 (its movement history page)."""
    with ctx.world.engine.connect() as conn:
        return conn.execute(select(t.products.c.id).where(t.products.c.seller_id == ctx.world.sellers["seller-a"],
                                                          t.products.c.sku == "SKU-1")).scalar_one()


def _matrix_snapshot(world) -> dict:
    with world.engine.connect() as conn:
        jobs = conn.execute(select(func.count()).select_from(t.jobs)).scalar_one()
    return {**snapshot(world), "jobs": jobs}


def _check_one(ctx: MatrixCtx, route: tuple[str, str], who: str) -> None:
    method, path = route
    web = (method, path) in roles.WEB
    allowed = roles.allows(MATRIX_ROLES[who], method, path)
    if PROBES[route].fresh:
        ctx.fresh = ctx.new_order()
    before = _matrix_snapshot(ctx.world) if not allowed else None
    r = PROBES[route].send(ctx, who)
    if not allowed:
        assert r.status_code == 403, f"refused by the matrix, answered {r.status_code}: {r.text[:200]}"
        if web:
            assert r.headers["content-type"].startswith("text/html")
            lang = _re.search(r'<html lang="([a-z]+)"', r.text).group(1)
            assert i18n.get_translations(lang).gettext("Access denied") in r.text
        else:
            assert r.headers["content-type"] == PROBLEM and r.json()["status"] == 403
        assert _matrix_snapshot(ctx.world) == before, "a refused request changed data"
        return
    assert r.status_code not in (401, 403) and r.status_code < 500, \
        f"allowed by the matrix, answered {r.status_code}: {r.text[:200]}"
    if PROBES[route].owned and who == "seller_b":
        assert r.status_code == 404, f"seller B reached seller A's record: {r.status_code} {r.text[:200]}"
    elif PROBES[route].owned:
        assert r.status_code != 404, f"{who} should reach seller A's record: {r.text[:200]}"


def test_every_route_has_a_rule_in_the_role_matrix_and_a_probe(client):
    served = app_routes(client.app)
    assert ("GET", "/orders/{order_id}") in served and ("POST", "/api/v1/moves") in served  # the enumeration works
    no_rule = {r for r in served if roles.rule(*r) is None}
    assert not no_rule, f"routes without a rule in platform/roles.py (they are refused to everyone): {sorted(no_rule)}"
    stale = set(roles.RULES) - served
    assert not stale, f"platform/roles.py has rules for routes the app does not serve: {sorted(stale)}"
    assert served == set(PROBES), f"routes without a probe: {sorted(served - set(PROBES))}; " \
                                  f"probes of no route: {sorted(set(PROBES) - served)}"
    assert {r for r in served if r[1].startswith("/api/") or r[1] in ("/healthz", "/metrics")} == set(roles.API)


def test_role_x_route_x_seller_matrix(client, world):
    """Every route, every role, against the real app; all failures are reported together."""
    ctx = MatrixCtx(client, world)
    failures = []
    for route in sorted(PROBES):
        for who in MATRIX_ROLES:
            try:
                _check_one(ctx, route, who)
            except AssertionError as exc:
                failures.append(f"{who:9} {route[0]} {route[1]}: {str(exc).splitlines()[0][:240]}")
    assert not failures, "the role matrix does not hold:\n" + "\n".join(failures)


def test_route_enumeration_sees_nested_routers(client):
    """Guard for the guard: the enumeration finds the routes of included routers."""
    routes = app_api_routes(client.app)
    assert ("GET", "/api/v1/orders/{order_id}") in routes and ("POST", "/api/v1/moves") in routes
    assert ("GET", "/healthz") not in routes and ("GET", "/orders") not in routes  # only /api/
