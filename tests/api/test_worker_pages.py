"""The floor's view (role matrix, platform/roles.py): signed in as the demo's worker, every web page the worker
may open (the application's own routes, path parameters filled with the demo's ids: an order of each status)
shows no customer name, phone, e-mail or address of the demo data, no money (₸ / KZT), no analytics links and
no cancel button."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from test_role_route_matrix import app_routes

from qoima import demo
from qoima.db import tables as t
from qoima.platform import roles

WORKER = next((email, password) for email, password, role, _ in demo.LOGINS if role == "worker")
ANALYTICS = ("/customers", "/loyalty", "/analytics", "/imports", "/api/v1/analytics", "export")
CANCEL = re.compile(r'<button[^>]*value="cancelled"')  # a status move to cancelled (a filter's <option> is fine)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def demo_client(engine, settings):
    from qoima.entrypoints.api.app import create_app
    assert demo.seed(engine, orders=40)
    with TestClient(create_app(engine, settings), headers={"Accept-Language": "en"}) as c:
        token = CSRF.search(c.get("/login").text).group(1)
        r = c.post("/login", data={"email": WORKER[0], "password": WORKER[1], "csrf": token},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        yield c


def _demo_ids(engine) -> dict[str, list[str]]:
    """Values for each path parameter: an order of every status, the demo's warehouses, receipts, ..."""
    with engine.connect() as conn:
        orders = [str(r.id) for r in conn.execute(
            select(func.min(t.orders.c.id).label("id")).group_by(t.orders.c.status))]
        receipts = [str(r) for r in conn.execute(select(t.receipts.c.id).limit(2)).scalars()]
        warehouses = list(conn.execute(select(t.warehouses.c.code)).scalars())
        locations = list(conn.execute(select(t.locations.c.code).limit(2)).scalars())
        products = [str(r) for r in conn.execute(select(t.products.c.id).limit(2)).scalars()]
        deliveries = [str(r) for r in conn.execute(select(t.inbound_deliveries.c.id).limit(2)).scalars()]
        cells = [str(r) for r in conn.execute(select(t.locations.c.id).limit(2)).scalars()]
    return {"order_id": orders, "receipt_id": receipts, "code": warehouses, "warehouse": warehouses,
            "location": locations, "product_id": products, "asn_id": deliveries, "location_id": cells}


def _contacts(engine) -> set[str]:
    """Every customer name, phone (as stored and as digits), e-mail and delivery address of the demo."""
    found = set()
    with engine.connect() as conn:
        for r in conn.execute(select(t.customers.c.name, t.customers.c.phone, t.customers.c.email)):
            found |= {v for v in (r.name, r.phone, r.email) if v}
            if r.phone:
                found.add(r.phone.lstrip("+"))
        found |= {a for a in conn.execute(select(t.orders.c.address)).scalars() if a}
    return found


def _worker_pages(app, ids: dict[str, list[str]]) -> list[str]:
    """Every GET page of the application (its FastAPI routes, as the role-matrix test reads them) the worker
    may open, each path parameter filled with every demo value of it."""
    urls = []
    for method, path in sorted(app_routes(app)):
        if method != "GET" or ("GET", path) not in roles.WEB or roles.is_public("GET", path) \
                or not roles.allows("worker", "GET", path):
            continue
        params = re.findall(r"{(\w+)(?::\w+)?}", path)
        missing = [p for p in params if not ids.get(p)]
        assert not missing, f"{path}: give the test demo values for {missing}"
        combos = [path]
        for p in params:
            combos = [re.sub(r"{%s(?::\w+)?}" % p, v, c) for c in combos for v in ids[p]]
        urls += combos
    return urls


def test_worker_pages_show_no_contacts_money_analytics_or_cancel(demo_client, engine):
    urls = _worker_pages(demo_client.app, _demo_ids(engine))
    assert "/orders" in urls and "/stock" in urls and any(u.startswith("/orders/") for u in urls)
    contacts = _contacts(engine)
    assert len(contacts) > 40  # the demo has buyers with names, phones and addresses
    for url in urls:
        r = demo_client.get(url, follow_redirects=False)
        assert r.status_code == 200, f"{url}: {r.status_code}"
        html = r.text
        shown = sorted(c for c in contacts if c in html)
        assert not shown, f"{url} shows customer contacts: {shown[:5]}"
        assert "₸" not in html and "KZT" not in html, f"{url} shows money"
        links = re.findall(r'(?:href|action)="([^"]+)"', html)
        assert not [u for u in links if any(a in u for a in ANALYTICS)], f"{url} links to analytics: {links}"
        assert not CANCEL.search(html) and "/cancel" not in html, f"{url} offers a cancel button"


def test_the_check_sees_what_an_office_user_sees(demo_client, engine):
    """The same checks find the contacts, money and cancel button on a manager's order page (the test can fail)."""
    token = CSRF.search(demo_client.get("/").text).group(1)
    demo_client.post("/logout", data={"csrf": token})
    token = CSRF.search(demo_client.get("/login").text).group(1)
    manager = next((e, p) for e, p, role, _ in demo.LOGINS if role == "manager")
    demo_client.post("/login", data={"email": manager[0], "password": manager[1], "csrf": token})
    with engine.connect() as conn:
        oid = conn.execute(select(t.orders.c.id).where(t.orders.c.status == "allocated").limit(1)).scalar()
    html = demo_client.get(f"/orders/{oid}").text
    assert any(c in html for c in _contacts(engine))
    assert "₸" in html or "KZT" in html
    assert CANCEL.search(html)
    assert any(a in html for a in ('href="/customers"', 'href="/loyalty"'))
