"""Seller B can neither see nor change seller A's data, through ANY /api/ endpoint.

The table below has one check per (method, path); a test enumerates the routes of
the real application and fails when an /api/ route is missing from the table, so a
new endpoint cannot ship without an isolation check.

At the end, the role matrix (platform/roles.py): every role x every API route and web
page x seller, against the real app; a route without a rule or without a probe fails."""

from __future__ import annotations

from typing import Callable

from conftest import order_payload
from sqlalchemy import func, select

from qoima.db import tables as t
from qoima.platform import auth

PROBLEM = "application/problem+json"




def app_api_routes(app) -> set[tuple[str, str]]:
    """Every (method, path) under /api/ the application serves."""
    try:  # FastAPI >= 0.120 keeps included routers nested; flatten them
        from fastapi.routing import iter_route_contexts
        routes = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: app.routes is already flat
        routes = list(app.routes)
    found = set()
    for r in routes:
        path = getattr(r, "path", None) or ""
        if path.startswith("/api/"):
            for method in sorted((getattr(r, "methods", None) or set()) - {"HEAD", "OPTIONS"}):
                found.add((method, path))
    return found


def snapshot(world) -> dict:
    """Everything of seller A (and the shared tables) that a write could change."""
    a = world.sellers["seller-a"]
    with world.engine.connect() as conn:
        def rows(q):
            return sorted(tuple(r) for r in conn.execute(q))
        return {
            "orders": rows(select(t.orders.c.id, t.orders.c.status, t.orders.c.external_id)
                           .where(t.orders.c.seller_id == a)),
            "lines": rows(select(t.order_lines.c.id, t.order_lines.c.quantity, t.order_lines.c.backordered)),
            "products": rows(select(t.products.c.id, t.products.c.sku, t.products.c.name, t.products.c.price)
                             .where(t.products.c.seller_id == a)),
            "barcodes": rows(select(t.barcodes.c.product_id, t.barcodes.c.code).where(t.barcodes.c.seller_id == a)),
            "stock": rows(select(t.stock.c.id, t.stock.c.on_hand, t.stock.c.reserved)),
            "movements": conn.execute(select(func.count()).select_from(t.stock_movements)).scalar_one(),
            "transfers": rows(select(t.transfers.c.id, t.transfers.c.status)),
            "receipts": conn.execute(select(func.count()).select_from(t.receipts)).scalar_one(),
            "inbound": rows(select(t.inbound_deliveries.c.id, t.inbound_deliveries.c.status)),
            "inbound_lines": rows(select(t.inbound_delivery_lines.c.id, t.inbound_delivery_lines.c.received_qty)),
            "customers": rows(select(t.customers.c.id, t.customers.c.phone, t.customers.c.email,
                                     t.customers.c.merged_into_id).where(t.customers.c.seller_id == a)),
            "merges": conn.execute(select(func.count()).select_from(t.customer_merges)).scalar_one(),
            "outbox": rows(select(t.outbox.c.id, t.outbox.c.status)),
            "sellers": rows(select(t.sellers.c.id, t.sellers.c.code, t.sellers.c.webhook_url)),
            "users": rows(select(t.users.c.id, t.users.c.email, t.users.c.role)),
            "alerts": rows(select(t.stock_alerts.c.id, t.stock_alerts.c.kind, t.stock_alerts.c.value)),
        }


def a_delivery_and_receipt(client, world) -> tuple[int, int]:
    """An inbound delivery seller A announced (SECRET supplier), and one of seller A's receipts."""
    r = client.post("/api/v1/inbound", headers=world.headers("seller_a"), json={
        "warehouse": "ALA", "supplier": "A-SECRET supplier", "lines": [{"sku": "SKU-1", "expected": 3}]})
    assert r.status_code == 201, r.text
    with world.engine.connect() as conn:
        receipt = conn.execute(select(func.min(t.receipts.c.id)).where(
            t.receipts.c.seller_id == world.sellers["seller-a"])).scalar_one()
    return r.json()["id"], receipt


class Ctx:
    def __init__(self, client, world):
        self.client, self.world = client, world
        self.b = world.headers("seller_b")
        a = world.headers("seller_a")
        secret_buyer = {"name": "Secret Buyer", "phone": "+77019990001", "email": "secret.buyer@example.kz"}
        r = client.post("/api/v1/orders", json=order_payload("A-SECRET-1", [("SKU-1", 2)], customer=secret_buyer),
                        headers=a)
        assert r.status_code == 201
        self.a_order = r.json()["id"]
        client.post("/api/v1/orders", json=order_payload("A-SECRET-2", [("SKU-2", 9)], customer=secret_buyer),
                    headers=a)
        # a duplicate customer record for A, something a merge could act on
        client.post("/api/v1/orders", json=order_payload("A-SECRET-3", customer={
            "name": "Secret Buyer", "email": "secret.buyer@example.kz"}, channel="kaspi"), headers=a)
        r = client.post("/api/v1/orders", json=order_payload("B-OWN-1", seller="seller-b"), headers=self.b)
        assert r.status_code == 201
        self.b_order = r.json()["id"]
        r = client.post("/api/v1/transfers", headers=world.headers("worker"), json={
            "seller": "seller-a", "from_warehouse": "ALA", "to_warehouse": "AST",
            "lines": [{"sku": "SKU-1", "quantity": 1, "from_location": "A-01"}]})
        assert r.status_code == 201
        self.a_transfer = r.json()["id"]
        self.a_asn, self.a_receipt = a_delivery_and_receipt(client, world)
        with world.engine.connect() as conn:
            self.a_event = conn.execute(select(func.min(t.outbox.c.id)).where(
                t.outbox.c.seller_id == world.sellers["seller-a"])).scalar_one()
            self.a_product_ids = set(conn.execute(select(t.products.c.id).where(
                t.products.c.seller_id == world.sellers["seller-a"])).scalars())

    def snapshot(self) -> dict:
        return snapshot(self.world)

    def leaks(self, response, echo: bool = False) -> bool:
        """Does the response show anything of seller A? (`echo`: an error message may repeat
        the seller code the caller sent, which reveals nothing.)"""
        secrets = ("A-SECRET", "Secret Buyer", "+77019990001", "secret.buyer") + (() if echo else ("seller-a",))
        return any(secret in response.text for secret in secrets)


def _refused(ctx: Ctx, method: str, url: str, allowed=(403, 404, 422), **kwargs) -> None:
    """Refused (422: another seller's code is answered as an unknown one), nothing leaked, nothing changed."""
    before = ctx.snapshot()
    r = ctx.client.request(method, url, headers=ctx.b, **kwargs)
    assert r.status_code in allowed, (url, r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM
    assert not ctx.leaks(r, echo=True)
    assert ctx.snapshot() == before, f"{method} {url} changed seller A's data"


def _csv(rows: list[dict]) -> bytes:
    header = list(rows[0])
    return "\n".join([",".join(header)] + [",".join(str(r[h]) for h in header) for r in rows]).encode()


# --- one check per endpoint --------------------------------------------------

def get_sellers(ctx):
    r = ctx.client.get("/api/v1/sellers", headers=ctx.b)
    assert r.status_code == 200
    assert [s["code"] for s in r.json()["items"]] == ["seller-b"]


def post_sellers(ctx):
    _refused(ctx, "POST", "/api/v1/sellers", json={"code": "seller-c", "name": "C"})


def post_webhook_secret(ctx):
    # seller B may not rotate seller A's webhook secret, nor its own (staff do it)
    _refused(ctx, "POST", "/api/v1/sellers/seller-a/webhook-secret")
    _refused(ctx, "POST", "/api/v1/sellers/seller-b/webhook-secret")


def get_warehouses(ctx):
    r = ctx.client.get("/api/v1/warehouses", headers=ctx.b)
    assert r.status_code == 200  # operator data shared by every seller; nothing of seller A in it
    assert {w["code"] for w in r.json()["items"]} == {"ALA", "AST"}
    assert not ctx.leaks(r)


def post_users(ctx):
    _refused(ctx, "POST", "/api/v1/users",
             json={"email": "spy@seller-b.kz", "password": "password123", "role": "seller", "seller": "seller-a"})
    _refused(ctx, "POST", "/api/v1/users", json={"email": "boss@seller-b.kz", "password": "password123",
                                                "role": "admin"})


def get_products(ctx):
    r = ctx.client.get("/api/v1/products", headers=ctx.b)
    assert r.status_code == 200 and r.json()["total"] == 3
    assert {p["seller"] for p in r.json()["items"]} == {"seller-b"}
    assert not ({p["id"] for p in r.json()["items"]} & ctx.a_product_ids)
    r = ctx.client.get("/api/v1/products", params={"seller": "seller-a"}, headers=ctx.b)
    assert r.status_code in (200, 403, 404)
    if r.status_code == 200:
        assert r.json()["items"] == [] and r.json()["total"] == 0


def post_products(ctx):
    _refused(ctx, "POST", "/api/v1/products", json={"seller": "seller-a", "sku": "SKU-1", "name": "hijacked"})
    _refused(ctx, "POST", "/api/v1/products", json={"seller": "seller-a", "sku": "NEW-1", "name": "planted"})


def _a_product(ctx) -> int:
    with ctx.world.engine.connect() as conn:
        return conn.execute(select(t.products.c.id).where(t.products.c.seller_id == ctx.world.sellers["seller-a"],
                                                          t.products.c.sku == "SKU-1")).scalar_one()


def get_product(ctx):
    r = ctx.client.get(f"/api/v1/products/{_a_product(ctx)}", headers=ctx.b)
    assert r.status_code == 404 and not ctx.leaks(r)
    own = ctx.client.get("/api/v1/products", headers=ctx.b).json()["items"][0]
    assert ctx.client.get(f"/api/v1/products/{own['id']}", headers=ctx.b).json()["seller"] == "seller-b"


def put_product(ctx):
    _refused(ctx, "PUT", f"/api/v1/products/{_a_product(ctx)}", allowed=(404,),
             json={"sku": "SKU-1", "name": "hijacked", "price": "1.00"})


def _import_job(ctx, path: str, body: bytes, name: str, headers=None, **params) -> dict | None:
    """Post an import as the caller (B unless told), let the worker run it; the ended job (None when refused)."""
    from qoima.entrypoints import importers  # noqa: F401 - registers the import jobs, as the worker does
    from qoima.platform import jobs
    headers = headers or ctx.b
    r = ctx.client.post(path, params=params, headers=headers, files={"file": (name, body, "text/csv")})
    if r.status_code != 202:
        assert r.status_code in (403, 404, 422), r.text
        assert r.headers["content-type"] == PROBLEM and not ctx.leaks(r, echo=True)
        return None
    jobs.run_pending(ctx.world.engine)
    job = ctx.client.get(r.headers["location"], headers=headers)
    assert job.status_code == 200, job.text
    return job.json()


def post_orders_import(ctx):
    row = {"seller": "seller-a", "channel": "csv", "external_id": "B-PLANTED", "sku": "SKU-1", "quantity": 1,
           "unit_price": "10.00"}
    for dry_run in ("false", "true"):
        before = ctx.snapshot()
        job = _import_job(ctx, "/api/v1/orders/import", _csv([row]), "orders.csv", dry_run=dry_run)
        if job is not None:
            assert job["report"]["valid"] is False and "A-SECRET" not in str(job)
            assert job["status"] == ("done" if dry_run == "true" else "failed")
        assert ctx.snapshot() == before


def post_products_import(ctx):
    row = {"seller": "seller-a", "sku": "SKU-1", "name": "hijacked", "price": "1.00"}
    before = ctx.snapshot()
    job = _import_job(ctx, "/api/v1/products/import", _csv([row]), "products.csv")
    assert job is None or (job["status"] == "failed" and not job["report"]["committed"])
    assert ctx.snapshot() == before


def post_stock_import(ctx):
    row = {"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA", "location": "A-01", "quantity": 0}
    before = ctx.snapshot()
    job = _import_job(ctx, "/api/v1/stock/import", _csv([row]), "stock.csv")
    assert job is None or job["status"] == "failed"
    assert ctx.snapshot() == before


def get_job(ctx):
    """A's import job (its report names A's order) is 404 for B, as a job that does not exist."""
    a = ctx.world.headers("seller_a")
    row = {"channel": "csv", "external_id": "A-SECRET-JOB", "sku": "SKU-1", "quantity": 1, "unit_price": "10.00"}
    a_job = _import_job(ctx, "/api/v1/orders/import", _csv([row, {**row, "sku": "SKU-404"}]),
                        "A-SECRET-orders.csv", headers=a, dry_run="true")
    assert a_job["status"] == "done" and a_job["filename"] == "A-SECRET-orders.csv"
    assert "unknown SKU 'SKU-404' for seller 'seller-a'" in str(a_job["report"])
    _refused(ctx, "GET", a_job["url"], allowed=(404,))
    _refused(ctx, "GET", "/api/v1/jobs/999999", allowed=(404,))
    own = _import_job(ctx, "/api/v1/orders/import", _csv([{**row, "external_id": "B-OWN-JOB"}]), "orders.csv",
                      dry_run="true")
    assert own["status"] == "done" and not ctx.leaks(ctx.client.get(own["url"], headers=ctx.b))


def post_orders(ctx):
    # another seller's code is answered as an unknown one (422), so codes cannot be enumerated
    _refused(ctx, "POST", "/api/v1/orders", allowed=(422,), json=order_payload("B-AS-A", seller="seller-a"))
    # re-posting A's own channel order id under seller A must not reveal A's order either
    _refused(ctx, "POST", "/api/v1/orders", allowed=(422,), json=order_payload("A-SECRET-1", seller="seller-a"))


def get_orders(ctx):
    for params in ({}, {"seller": "seller-a"}, {"q": "A-SECRET"}, {"status": "allocated,backordered"},
                   {"channel": "api"}):
        r = ctx.client.get("/api/v1/orders", params=params, headers=ctx.b)
        assert r.status_code == 200
        assert all(o["seller"] == "seller-b" for o in r.json()["items"])
        assert not ctx.leaks(r)
    assert ctx.client.get("/api/v1/orders", headers=ctx.b).json()["total"] == 1


def get_order(ctx):
    r = ctx.client.get(f"/api/v1/orders/{ctx.a_order}", headers=ctx.b)
    assert r.status_code == 404 and not ctx.leaks(r)
    assert ctx.client.get(f"/api/v1/orders/{ctx.b_order}", headers=ctx.b).status_code == 200


def post_transitions(ctx):
    for status in ("cancelled", "on_hold", "picking"):
        _refused(ctx, "POST", f"/api/v1/orders/{ctx.a_order}/transitions", allowed=(404,), json={"status": status})


def post_resource(ctx):
    # a seller may not re-source at all (the role matrix: 403 for any order, so nothing is learnt)
    _refused(ctx, "POST", f"/api/v1/orders/{ctx.a_order}/resource", allowed=(403,))
    _refused(ctx, "POST", f"/api/v1/orders/{ctx.a_order}/resource", allowed=(403,), json={"reason": "x"})
    # on their own order a seller is refused too: re-sourcing is for staff
    r = ctx.client.post(f"/api/v1/orders/{ctx.b_order}/resource", headers=ctx.b)
    assert r.status_code == 403 and not ctx.leaks(r)


def post_cancel(ctx):
    _refused(ctx, "POST", f"/api/v1/orders/{ctx.a_order}/cancel", allowed=(404,))


def get_stock(ctx):
    r = ctx.client.get("/api/v1/stock", headers=ctx.b)
    assert r.status_code == 200
    items = r.json()["items"]
    assert items and {s["seller"] for s in items} == {"seller-b"}
    assert not ctx.leaks(r)
    r = ctx.client.get("/api/v1/stock", params={"seller": "seller-a"}, headers=ctx.b)
    # another seller's code is answered as an unknown one (422): nothing to tell the two apart
    unknown = ctx.client.get("/api/v1/stock", params={"seller": "seller-zzz"}, headers=ctx.b)
    assert r.status_code in (403, 404, 422) or r.json()["items"] == []
    assert (r.status_code, r.json()["detail"].replace("seller-a", "X")) == \
        (unknown.status_code, unknown.json()["detail"].replace("seller-zzz", "X"))


def post_receipts(ctx):
    _refused(ctx, "POST", "/api/v1/receipts", json={
        "seller": "seller-a", "warehouse": "ALA", "location": "A-01",
        "lines": [{"sku": "SKU-1", "expected": 5, "received": 5}]})


def post_transfers(ctx):
    _refused(ctx, "POST", "/api/v1/transfers", json={
        "seller": "seller-a", "from_warehouse": "ALA", "to_warehouse": "AST",
        "lines": [{"sku": "SKU-1", "quantity": 1, "from_location": "A-01"}]})


def post_transfer_receive(ctx):
    _refused(ctx, "POST", f"/api/v1/transfers/{ctx.a_transfer}/receive", json={"location": "A-01"})


def post_moves(ctx):
    _refused(ctx, "POST", "/api/v1/moves", json={"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA",
                                                 "from_location": "A-01", "to_location": "A-02", "quantity": 1})


def post_adjustments(ctx):
    for scrap in (False, True):
        _refused(ctx, "POST", "/api/v1/adjustments", json={"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA",
                                                           "location": "A-01", "delta": -3, "reason": "x",
                                                           "scrap": scrap})


def post_inbound(ctx):
    _refused(ctx, "POST", "/api/v1/inbound", json={"seller": "seller-a", "warehouse": "ALA",
                                                   "lines": [{"sku": "SKU-1", "expected": 1}]})


def post_inbound_import(ctx):
    _refused(ctx, "POST", "/api/v1/inbound/import", data={"seller": "seller-a", "warehouse": "ALA"},
             files={"file": ("asn.csv", b"sku,expected\nSKU-1,1\n", "text/csv")})


def get_inbound(ctx):
    r = ctx.client.get("/api/v1/inbound", headers=ctx.b)
    assert r.status_code == 200 and all(d["seller"] == "seller-b" for d in r.json()["items"])
    assert not ctx.leaks(r)
    _refused(ctx, "GET", "/api/v1/inbound", params={"seller": "seller-a"})


def get_inbound_one(ctx):
    _refused(ctx, "GET", f"/api/v1/inbound/{ctx.a_asn}", allowed=(404,))


def post_inbound_receipts(ctx):
    _refused(ctx, "POST", f"/api/v1/inbound/{ctx.a_asn}/receipts",
             json={"location": "RCV", "lines": [{"sku": "SKU-1", "received": 1}]})


def post_inbound_close(ctx):
    _refused(ctx, "POST", f"/api/v1/inbound/{ctx.a_asn}/close")


def post_inbound_cancel(ctx):
    _refused(ctx, "POST", f"/api/v1/inbound/{ctx.a_asn}/cancel", allowed=(404,))


def get_receipt(ctx):
    _refused(ctx, "GET", f"/api/v1/receipts/{ctx.a_receipt}", allowed=(404,))


def get_kpis(ctx):
    r = ctx.client.get("/api/v1/kpis", headers=ctx.b)
    assert r.status_code == 200
    assert r.json()["open"] == 1 and r.json()["orders_by_status"] == {"allocated": 1}
    admin = ctx.client.get("/api/v1/kpis", headers=ctx.world.headers("admin")).json()
    assert admin["open"] == 4


def get_outbox(ctx):
    _refused(ctx, "GET", "/api/v1/outbox")


def post_outbox_replay(ctx):
    _refused(ctx, "POST", f"/api/v1/outbox/{ctx.a_event}/replay")


def _seller_scoped_get(ctx, url: str) -> None:
    """B gets its own figures; asking for seller A is refused; nothing of A shows."""
    own = ctx.client.get(url, headers=ctx.b)
    assert own.status_code == 200, own.text
    assert not ctx.leaks(own)
    _refused(ctx, "GET", url, params={"seller": "seller-a"})


def get_customers(ctx):
    _seller_scoped_get(ctx, "/api/v1/customers")
    for fmt in ("csv", "xlsx"):
        r = ctx.client.get("/api/v1/customers", params={"format": fmt}, headers=ctx.b)
        assert r.status_code == 200 and b"Secret Buyer" not in r.content and b"+77019990001" not in r.content


def get_analytics_customers(ctx):
    _seller_scoped_get(ctx, "/api/v1/analytics/customers")


def get_analytics_clv(ctx):
    _seller_scoped_get(ctx, "/api/v1/analytics/clv")


def get_analytics_loyalty(ctx):
    _seller_scoped_get(ctx, "/api/v1/analytics/loyalty")


def post_customers_merge(ctx):
    for dry_run in ("true", "false"):
        _refused(ctx, "POST", "/api/v1/customers/merge", params={"seller": "seller-a", "dry_run": dry_run})


def get_customers_merges(ctx):
    _seller_scoped_get(ctx, "/api/v1/customers/merges")


def post_auth_token(ctx):
    """Signing in as A with a wrong password gives nothing; B's own sign-in gives a token of B."""
    r = ctx.client.post("/api/v1/auth/token", json={"email": "a@seller-a.kz", "password": "wrong-password"})
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM and not ctx.leaks(r)
    r = ctx.client.post("/api/v1/auth/token", json={"email": "b@seller-b.kz", "password": "password123"})
    assert r.status_code == 201
    me = ctx.client.get("/api/v1/orders", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.status_code == 200 and all(o["seller"] == "seller-b" for o in me.json()["items"])


def get_tokens(ctx):
    r = ctx.client.get("/api/v1/tokens", headers=ctx.b)
    assert r.status_code == 200 and {k["user"] for k in r.json()["items"]} == {"b@seller-b.kz"}
    r = ctx.client.get("/api/v1/tokens", params={"email": "a@seller-a.kz"}, headers=ctx.b)
    assert r.status_code == 200 and {k["user"] for k in r.json()["items"]} == {"b@seller-b.kz"}
    assert not ctx.leaks(r)


def delete_token(ctx):
    with ctx.world.engine.connect() as conn:
        a_token = conn.execute(select(t.api_tokens.c.id).where(
            t.api_tokens.c.token_hash == auth.hash_token(ctx.world.tokens["seller_a"]))).scalar_one()
    _refused(ctx, "DELETE", f"/api/v1/tokens/{a_token}", allowed=(404,))
    assert ctx.client.get("/api/v1/orders", headers=ctx.world.headers("seller_a")).status_code == 200


def _floor(method: str, path: str, **kwargs) -> Callable[[Ctx], None]:
    """The floor is none of a seller's business: every route refuses seller B (403), on A's order too."""
    def check(ctx: Ctx) -> None:
        url = (path.replace("{order_id}", str(ctx.a_order)).replace("{task_id}", "1").replace("{parcel_id}", "1")
               .replace("{manifest_id}", "1").replace("{warehouse}", "ALA").replace("{code}", "M"))
        _refused(ctx, method, url, allowed=(403,), **kwargs)
    return check


_FLOOR_ROUTES = [
    ("GET", "/api/v1/floor/waves"), ("POST", "/api/v1/floor/waves"), ("POST", "/api/v1/floor/tasks/next"),
    ("GET", "/api/v1/floor/tasks/{task_id}"), ("POST", "/api/v1/floor/tasks/{task_id}/scans"),
    ("POST", "/api/v1/floor/tasks/{task_id}/undo"), ("POST", "/api/v1/floor/tasks/{task_id}/short"),
    ("GET", "/api/v1/floor/settings/{warehouse}"), ("PUT", "/api/v1/floor/settings/{warehouse}"),
    ("GET", "/api/v1/floor/boxes"), ("PUT", "/api/v1/floor/boxes/{code}"), ("GET", "/api/v1/floor/pack"),
    ("POST", "/api/v1/floor/pack/{order_id}/scans"), ("POST", "/api/v1/floor/pack/{order_id}/close"),
    ("GET", "/api/v1/floor/parcels/{parcel_id}/label.pdf"), ("GET", "/api/v1/floor/parcels/{parcel_id}/label.zpl"),
    ("GET", "/api/v1/floor/orders/{order_id}/slip.pdf"), ("POST", "/api/v1/floor/manifests"),
    ("GET", "/api/v1/floor/manifests/{manifest_id}"), ("POST", "/api/v1/floor/manifests/{manifest_id}/scans"),
    ("POST", "/api/v1/floor/manifests/{manifest_id}/close"),
    ("GET", "/api/v1/floor/manifests/{manifest_id}/manifest.pdf"),
]

CHECKS: dict[tuple[str, str], Callable[[Ctx], None]] = {
    **{route: _floor(*route) for route in _FLOOR_ROUTES},
    ("POST", "/api/v1/auth/token"): post_auth_token,
    ("GET", "/api/v1/tokens"): get_tokens,
    ("DELETE", "/api/v1/tokens/{token_id}"): delete_token,
    ("GET", "/api/v1/sellers"): get_sellers,
    ("POST", "/api/v1/sellers"): post_sellers,
    ("POST", "/api/v1/sellers/{code}/webhook-secret"): post_webhook_secret,
    ("GET", "/api/v1/warehouses"): get_warehouses,
    ("POST", "/api/v1/users"): post_users,
    ("GET", "/api/v1/products"): get_products,
    ("POST", "/api/v1/products"): post_products,
    ("GET", "/api/v1/products/{product_id}"): get_product,
    ("PUT", "/api/v1/products/{product_id}"): put_product,
    ("POST", "/api/v1/orders/import"): post_orders_import,
    ("POST", "/api/v1/products/import"): post_products_import,
    ("POST", "/api/v1/stock/import"): post_stock_import,
    ("GET", "/api/v1/jobs/{job_id}"): get_job,
    ("POST", "/api/v1/orders"): post_orders,
    ("GET", "/api/v1/orders"): get_orders,
    ("GET", "/api/v1/orders/{order_id}"): get_order,
    ("POST", "/api/v1/orders/{order_id}/transitions"): post_transitions,
    ("POST", "/api/v1/orders/{order_id}/cancel"): post_cancel,
    ("POST", "/api/v1/orders/{order_id}/resource"): post_resource,
    ("GET", "/api/v1/stock"): get_stock,
    ("POST", "/api/v1/receipts"): post_receipts,
    ("POST", "/api/v1/transfers"): post_transfers,
    ("POST", "/api/v1/transfers/{transfer_id}/receive"): post_transfer_receive,
    ("POST", "/api/v1/moves"): post_moves,
    ("POST", "/api/v1/adjustments"): post_adjustments,
    ("POST", "/api/v1/inbound"): post_inbound,
    ("POST", "/api/v1/inbound/import"): post_inbound_import,
    ("GET", "/api/v1/inbound"): get_inbound,
    ("GET", "/api/v1/inbound/{asn_id}"): get_inbound_one,
    ("POST", "/api/v1/inbound/{asn_id}/receipts"): post_inbound_receipts,
    ("POST", "/api/v1/inbound/{asn_id}/close"): post_inbound_close,
    ("POST", "/api/v1/inbound/{asn_id}/cancel"): post_inbound_cancel,
    ("GET", "/api/v1/receipts/{receipt_id}"): get_receipt,
    ("GET", "/api/v1/kpis"): get_kpis,
    ("GET", "/api/v1/customers"): get_customers,
    ("GET", "/api/v1/analytics/customers"): get_analytics_customers,
    ("GET", "/api/v1/analytics/clv"): get_analytics_clv,
    ("GET", "/api/v1/analytics/loyalty"): get_analytics_loyalty,
    ("POST", "/api/v1/customers/merge"): post_customers_merge,
    ("GET", "/api/v1/customers/merges"): get_customers_merges,
    ("GET", "/api/v1/outbox"): get_outbox,
    ("POST", "/api/v1/outbox/{event_id}/replay"): post_outbox_replay,
}


def _fill(path: str) -> str:
    return path.replace("{order_id}", "1").replace("{transfer_id}", "1").replace("{event_id}", "1").replace(
        "{job_id}", "1").replace("{asn_id}", "1").replace("{receipt_id}", "1").replace("{product_id}", "1")


def test_every_api_route_has_an_isolation_check(client):
    served = app_api_routes(client.app)
    assert len(served) >= len(CHECKS) - 3  # the enumeration itself works
    missing = served - set(CHECKS)
    assert not missing, f"new /api/ routes without a tenant-isolation check in CHECKS: {sorted(missing)}"
    gone = set(CHECKS) - served
    assert not gone, f"CHECKS lists routes the app no longer serves: {sorted(gone)}"


def test_openapi_lists_no_api_route_outside_the_table(client):
    spec = client.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() if p.startswith("/api/") for m in ops}
    assert documented <= set(CHECKS)


def test_seller_b_cannot_see_or_change_seller_a(client, world):
    """Every check on one world (each one asserts it changed nothing, so they cannot
    influence each other); all failing routes are reported together."""
    ctx = Ctx(client, world)
    failures = {}
    for route in sorted(CHECKS):
        try:
            CHECKS[route](ctx)
        except AssertionError as exc:
            failures[f"{route[0]} {route[1]}"] = str(exc).splitlines()[0][:300]
    assert not failures, "tenant isolation broken:\n" + "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_unauthenticated_is_401_with_www_authenticate_on_every_api_route(client, world):
    before = snapshot(world)
    public = {("POST", "/api/v1/auth/token")}  # signing in for a token (its own checks: test_login_throttle.py)
    for method, path in sorted(app_api_routes(client.app) - public):
        for headers in ({}, {"Authorization": "Bearer qma_not-a-real-token"}, {"Authorization": "Basic YTpi"}):
            r = client.request(method, _fill(path), headers=headers, json={} if method == "POST" else None)
            assert r.status_code == 401, (method, path, headers, r.status_code, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.headers["content-type"] == PROBLEM
            assert r.json()["status"] == 401
    assert snapshot(world) == before


def test_a_revoked_token_no_longer_works(client, world):
    from datetime import datetime

    from sqlalchemy import update

    from qoima.entrypoints.api import deps

    def revoke(who: str) -> None:
        with world.engine.begin() as conn:
            conn.execute(update(t.api_tokens).where(t.api_tokens.c.token_hash == auth.hash_token(world.tokens[who]))
                         .values(revoked_at=datetime(2025, 1, 1)))

    revoke("seller_a")  # never used: refused at once
    r = client.get("/api/v1/orders", headers=world.headers("seller_a"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/orders", headers=world.headers("seller_b")).status_code == 200
    revoke("seller_b")  # used a moment ago: refused at once too (no per-process token cache)
    assert not hasattr(deps, "_token_cache")
    r = client.get("/api/v1/orders", headers=world.headers("seller_b"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_route_enumeration_sees_nested_routers(client):
    """Guard for the guard: the enumeration finds the routes of included routers."""
    routes = app_api_routes(client.app)
    assert ("GET", "/api/v1/orders/{order_id}") in routes and ("POST", "/api/v1/moves") in routes
    assert ("GET", "/healthz") not in routes and ("GET", "/orders") not in routes  # only /api/


# === the role matrix: every role x every route (API and web) x seller ======================================
#
# platform/roles.py declares, per route, which roles may call it. Below, one probe per route sends a real
# request as admin, manager, worker, seller A and seller B; a role the matrix refuses must get 403 (problem+json
# for the API, the localized error page for the web) and change nothing; a role it allows must not be refused
# (no 401/403, no 5xx). A probe marked `owned` acts on one record of seller A: seller B gets 404 and seller A
# does not. A route of the app without a rule, or without a probe here, fails the test.

import re as _re  # noqa: E402
from dataclasses import dataclass as _dataclass  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402

from qoima.entrypoints.web import i18n  # noqa: E402
from qoima.platform import roles  # noqa: E402

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
