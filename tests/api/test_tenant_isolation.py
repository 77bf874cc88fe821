"""Seller B can neither see nor change seller A's data, through ANY /api/ endpoint.

The table below has one check per (method, path); a test enumerates the routes of
the real application and fails when an /api/ route is missing from the table, so a
new endpoint cannot ship without an isolation check.

The role matrix (every role x every route x seller) is in test_role_route_matrix.py."""

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
    ("GET", "/api/v1/floor/orders/{order_id}/slip.pdf"), ("GET", "/api/v1/floor/printer-font.zpl"),
    ("POST", "/api/v1/floor/manifests"),
    ("GET", "/api/v1/floor/manifests/{manifest_id}"), ("POST", "/api/v1/floor/manifests/{manifest_id}/scans"),
    ("POST", "/api/v1/floor/manifests/{manifest_id}/close"),
    ("GET", "/api/v1/floor/manifests/{manifest_id}/manifest.pdf"),
    ("GET", "/api/v1/floor/exceptions/{task_id}"), ("POST", "/api/v1/floor/exceptions/{task_id}/resolve"),
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
