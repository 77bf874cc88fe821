"""Inputs past the bounds of their columns (platform/bounds.py) get a 4xx problem+json naming the
field, never a 500, and the keep-alive connection survives. Each case was a 500 (or a silent
accept) before: ids and offsets of 2^63, 32-bit columns overflowing, order totals of 10^12,
dates out of range, text longer than its column, NUL and other control characters, booleans
as quantities. Against a real uvicorn server on SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlencode

import pytest
from conftest import build_world, order_payload

from qoima.platform.bounds import INT32_MAX
from qoima.platform.settings import Settings

PROBLEM = "application/problem+json"
BIG = 2**63
INT32 = 2**31


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(request, tmp_path_factory, sqlite_template):
    """(port, world): the app under uvicorn on a free port, with the conftest world."""
    import shutil
    import socket

    import uvicorn

    from conftest import PG_URL, _truncate
    from qoima.db.engine import make_engine
    from qoima.entrypoints.api.app import create_app
    tmp = tmp_path_factory.mktemp("bounds")
    if request.param == "sqlite":
        shutil.copy(sqlite_template, tmp / "qoima.db")
        engine = make_engine(f"sqlite:///{tmp / 'qoima.db'}")
    else:
        if not PG_URL:
            pytest.skip("needs QOIMA_TEST_DATABASE_URL")
        engine = request.getfixturevalue("pg_engine_session")
        _truncate(engine)
    world = build_world(engine, {("seller-a", "SKU-1", "ALA"): 10, ("seller-a", "SKU-2", "AST"): 5})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(data_dir=tmp / "data", secret_key="bounds-test-secret-key")
    srv = uvicorn.Server(uvicorn.Config(create_app(engine, settings), host="127.0.0.1", port=port,
                                        log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield port, world
    srv.should_exit = True
    thread.join(timeout=10)
    if request.param == "sqlite":
        engine.dispose()


class Conn:
    """One keep-alive HTTP/1.1 connection: `call` sends a request and reads the answer."""

    def __init__(self, port: int, token: str):
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.token = token

    def call(self, method: str, path: str, body=None, query: dict | None = None):
        url = path + ("?" + urlencode(query) if query else "")
        headers = {"Authorization": f"Bearer {self.token}"}
        raw = None
        if body is not None:
            raw = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.http.request(method, url, body=raw, headers=headers)
        resp = self.http.getresponse()
        data = resp.read()
        return resp, data


def expect_problem(conn: Conn, method: str, path: str, field: str, body=None, query=None, status=422) -> dict:
    resp, data = conn.call(method, path, body, query)
    assert resp.status == status, data
    assert resp.getheader("content-type") == PROBLEM, data
    problem = json.loads(data)
    assert problem["status"] == status and problem["field"] == field, problem
    assert not resp.will_close, "the server dropped the keep-alive connection"
    sock = conn.http.sock
    ok, _ = conn.call("GET", "/healthz")
    assert ok.status == 200 and conn.http.sock is sock, "the connection did not survive the bad request"
    return problem


def order(ext: str, **changes) -> dict:
    body = order_payload(ext)
    for key, value in changes.items():
        if key.startswith("customer."):
            body["customer"][key.split(".", 1)[1]] = value
        elif key.startswith("line."):
            body["lines"][0][key.split(".", 1)[1]] = value
        else:
            body[key] = value
    return body


def receipt(**line) -> dict:
    return {"seller": "seller-a", "warehouse": "ALA", "location": "A-02",
            "lines": [{"sku": "SKU-3", "expected": 1, "received": 1, **line}]}


def adjustment(**changes) -> dict:
    return {"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA", "location": "A-01", "delta": 1,
            "reason": "count", **changes}


def product(**changes) -> dict:
    return {"sku": "BND-1", "name": "Bounded", **changes}


# (who, method, path, body, query, field) -- every one answered 500 or was silently accepted before
CASES = {
    # 64-bit ids and offsets
    "order id 2^63": ("admin", "GET", f"/api/v1/orders/{BIG}", None, None, "path.order_id"),
    "order id 2^64 transition": ("admin", "POST", f"/api/v1/orders/{2**64}/transitions", {"status": "packed"}, None,
                                 "path.order_id"),
    "cancel id 2^63": ("admin", "POST", f"/api/v1/orders/{BIG}/cancel", None, None, "path.order_id"),
    "resource id 2^63": ("admin", "POST", f"/api/v1/orders/{BIG}/resource", None, None, "path.order_id"),
    "job id 2^63": ("admin", "GET", f"/api/v1/jobs/{BIG}", None, None, "path.job_id"),
    "outbox event 2^63": ("admin", "POST", f"/api/v1/outbox/{BIG}/replay", None, None, "path.event_id"),
    "transfer id 2^63": ("admin", "POST", f"/api/v1/transfers/{BIG}/receive", {"location": "A-01"}, None,
                         "path.transfer_id"),
    "orders offset 2^63": ("admin", "GET", "/api/v1/orders", None, {"offset": BIG}, "query.offset"),
    "products offset 2^63": ("admin", "GET", "/api/v1/products", None, {"offset": BIG}, "query.offset"),
    "stock offset 2^63": ("admin", "GET", "/api/v1/stock", None, {"offset": BIG}, "query.offset"),
    "customers offset 2^63": ("admin", "GET", "/api/v1/customers", None, {"offset": BIG}, "query.offset"),
    # 32-bit columns
    "received 2^31": ("admin", "POST", "/api/v1/receipts", receipt(received=INT32), None, "lines[0].received"),
    "expected 2^31": ("admin", "POST", "/api/v1/receipts", receipt(expected=INT32), None, "lines[0].expected"),
    "delta 2^40": ("admin", "POST", "/api/v1/adjustments", adjustment(delta=2**40), None, "delta"),
    "move quantity 2^31": ("admin", "POST", "/api/v1/moves",
                           {"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA", "from_location": "A-01",
                            "to_location": "A-02", "quantity": INT32}, None, "quantity"),
    "weight_g 2^31": ("seller_a", "POST", "/api/v1/products", product(weight_g=INT32), None, "weight_g"),
    "replenishment_days 2^31": ("seller_a", "POST", "/api/v1/products", product(replenishment_days=INT32), None,
                                "replenishment_days"),
    # money
    "order total 10^12": ("seller_a", "POST", "/api/v1/orders",
                          order("TOT-1", **{"line.quantity": 100_000, "line.unit_price": "10000000.00"}), None,
                          "lines"),
    "unit price 10^12": ("seller_a", "POST", "/api/v1/orders", order("TOT-2", **{"line.unit_price": "1e12"}), None,
                         "lines[0].unit_price"),
    "price 10^12": ("seller_a", "POST", "/api/v1/products", product(price="1000000000000"), None, "price"),
    # dates
    "received_at 9999 -14:00": ("seller_a", "POST", "/api/v1/orders",
                                order("DT-1", received_at="9999-12-31T23:59:59-14:00"), None, "received_at"),
    "received_at year 1": ("seller_a", "POST", "/api/v1/orders", order("DT-2", received_at="0001-01-01T00:00:00Z"),
                           None, "received_at"),
    "received_at 2090": ("seller_a", "POST", "/api/v1/orders", order("DT-3", received_at="2090-01-01T00:00:00"),
                         None, "received_at"),
    # text longer than its column
    "category 101": ("seller_a", "POST", "/api/v1/products", product(category="c" * 101), None, "category"),
    "webhook_url 501": ("admin", "POST", "/api/v1/sellers",
                        {"code": "long-url", "name": "Long", "webhook_url": "https://x.kz/" + "a" * 490}, None,
                        "webhook_url"),
    "full_name 201": ("admin", "POST", "/api/v1/users",
                      {"email": "long@x.kz", "password": "password123", "role": "manager", "full_name": "n" * 201},
                      None, "full_name"),
    "external_id 101": ("seller_a", "POST", "/api/v1/orders", order("x" * 101), None, "external_id"),
    "search 201": ("admin", "GET", "/api/v1/orders", None, {"q": "q" * 201}, "query.q"),
    # NUL and other control characters, in bodies and in search parameters
    "NUL customer name": ("seller_a", "POST", "/api/v1/orders", order("NUL-1", **{"customer.name": "Ai\x00gerim"}),
                          None, "customer.name"),
    "NUL sku": ("seller_a", "POST", "/api/v1/orders", order("NUL-2", **{"line.sku": "SKU\x00-1"}), None,
                "lines[0].sku"),
    "ESC external_id": ("seller_a", "POST", "/api/v1/orders", order("NUL\x1b[31m"), None, "external_id"),
    "newline in channel": ("seller_a", "POST", "/api/v1/orders", order("NUL-3", channel="api\nx"), None, "channel"),
    "NUL product name": ("seller_a", "POST", "/api/v1/products", product(name="Mug\x00"), None, "name"),
    "NUL receipt supplier": ("admin", "POST", "/api/v1/receipts", {**receipt(), "supplier": "ACME\x00"}, None,
                             "supplier"),
    "NUL adjustment reason": ("admin", "POST", "/api/v1/adjustments", adjustment(reason="count\x00"), None, "reason"),
    "NUL transition reason": ("admin", "POST", "/api/v1/orders/1/transitions", {"status": "on_hold",
                                                                                 "reason": "x\x00"}, None, "reason"),
    "NUL seller name": ("admin", "POST", "/api/v1/sellers", {"code": "nul-name", "name": "N\x00"}, None, "name"),
    "NUL orders q": ("admin", "GET", "/api/v1/orders", None, {"q": "a\x00b"}, "query.q"),
    "NUL orders status": ("admin", "GET", "/api/v1/orders", None, {"status": "new\x00"}, "query.status"),
    "NUL products q": ("admin", "GET", "/api/v1/products", None, {"q": "\x00"}, "query.q"),
    "NUL stock sku": ("admin", "GET", "/api/v1/stock", None, {"sku": "SKU\x00"}, "query.sku"),
    "NUL customers q": ("admin", "GET", "/api/v1/customers", None, {"q": "\x00"}, "query.q"),
    "DEL customers seller": ("admin", "GET", "/api/v1/customers/merges", None, {"seller": "a\x7f"},
                             "query.seller"),
    "NUL outbox status": ("admin", "GET", "/api/v1/outbox", None, {"status": "\x00"}, "query.status"),
    "token id 2^63": ("admin", "DELETE", f"/api/v1/tokens/{BIG}", None, None, "path.token_id"),
    "NUL token name": ("admin", "POST", "/api/v1/auth/token", {"email": "admin@qoima.local",
                                                              "password": "password123", "name": "ci\x00"}, None,
                       "name"),
    "NUL sign-in e-mail": ("admin", "POST", "/api/v1/auth/token", {"email": "admin\x00@qoima.local",
                                                                  "password": "password123"}, None, "email"),
    "NUL tokens e-mail": ("admin", "GET", "/api/v1/tokens", None, {"email": "a\x00"}, "query.email"),
    # strict types: a boolean is not a number
    "quantity true": ("seller_a", "POST", "/api/v1/orders", order("BOOL-1", **{"line.quantity": True}), None,
                      "lines[0].quantity"),
    "received true": ("admin", "POST", "/api/v1/receipts", receipt(received=True), None, "lines[0].received"),
    "delta true": ("admin", "POST", "/api/v1/adjustments", adjustment(delta=True), None, "delta"),
    "weight_g false": ("seller_a", "POST", "/api/v1/products", product(weight_g=False), None, "weight_g"),
    "unit_price true": ("seller_a", "POST", "/api/v1/orders", order("BOOL-2", **{"line.unit_price": True}), None,
                        "lines[0].unit_price"),
    "quantity as text": ("seller_a", "POST", "/api/v1/orders", order("STR-1", **{"line.quantity": "2"}), None,
                         "lines[0].quantity"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_out_of_bounds_input_is_a_422_naming_the_field(live, case):
    port, world = live
    who, method, path, body, query, field = CASES[case]
    problem = expect_problem(Conn(port, world.tokens[who]), method, path, field, body, query)
    assert problem["title"] and problem["detail"].startswith(field), problem


def test_on_hand_past_int32_by_repeated_receipts_is_refused(live):
    port, world = live
    conn = Conn(port, world.tokens["admin"])
    first = {"seller": "seller-a", "warehouse": "AST", "location": "A-02",
             "lines": [{"sku": "SKU-1", "expected": INT32_MAX - 5, "received": INT32_MAX - 5}]}
    resp, data = conn.call("POST", "/api/v1/receipts", first)
    assert resp.status == 201, data
    again = {**first, "lines": [{"sku": "SKU-1", "expected": 10, "received": 10}]}
    problem = expect_problem(conn, "POST", "/api/v1/receipts", "lines[0].received", again)
    assert str(INT32_MAX) in problem["detail"]
    # an adjustment and a move up past the limit are refused as well
    expect_problem(conn, "POST", "/api/v1/adjustments", "delta",
                   {"seller": "seller-a", "sku": "SKU-1", "warehouse": "AST", "location": "A-02", "delta": 6,
                    "reason": "count"})
    resp, data = conn.call("POST", "/api/v1/receipts", {**first, "location": "A-01",
                                                        "lines": [{"sku": "SKU-1", "received": 10}]})
    assert resp.status == 201, data
    expect_problem(conn, "POST", "/api/v1/moves", "quantity",
                   {"seller": "seller-a", "sku": "SKU-1", "warehouse": "AST", "from_location": "A-01",
                    "to_location": "A-02", "quantity": 10})
    # nothing moved: the last receipt's 10 are still at is at the limit less 5
    resp, data = conn.call("GET", "/api/v1/stock", query={"seller": "seller-a", "warehouse": "AST", "sku": "SKU-1"})
    levels = {row["location"]: row["on_hand"] for row in json.loads(data)["items"]}
    assert levels["A-02"] == INT32_MAX - 5 and levels["A-01"] == 10


def test_what_is_within_bounds_is_accepted(live):
    """The limits themselves are fine: a multi-line address, the largest total, a date within a year."""
    port, world = live
    conn = Conn(port, world.tokens["seller_a"])
    body = order("OK-1", delivery={"type": "courier", "address": "Abay 1\napt. 5\tentrance 2", "city": "Almaty"},
                 received_at="2026-01-01T10:00:00+05:00")
    body["lines"][0].update(quantity=1, unit_price="999999999999.99")
    resp, data = conn.call("POST", "/api/v1/orders", body)
    assert resp.status == 201, data
    assert json.loads(data)["total"] == "999999999999.99"
    resp, data = conn.call("POST", "/api/v1/products", product(category="c" * 100, weight_g=INT32_MAX,
                                                               price=0.57, name="Кружка «Степь»"))
    assert resp.status == 201, data
    resp, data = conn.call("GET", "/api/v1/products", query={"q": "BND-1"})
    assert json.loads(data)["items"][0]["price"] in ("0.57", 0.57)


# ---------------------------------------------------------------- the web forms and pages: a 4xx page, never a 500

def _web_login(client, email="admin@qoima.local"):
    import re
    page = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"email": email, "password": "password123", "csrf": token, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/sellers").text).group(1)


def test_web_forms_and_pages_refuse_what_is_out_of_bounds(client, world):
    token = _web_login(client)
    receipt_form = {"csrf": token, "seller": "seller-a", "place": "ALA|A-01", "sku": ["SKU-1"], "expected": ["1"]}
    for received in (str(INT32), "9" * 30):
        r = client.post("/receipts", data={**receipt_form, "received": [received]})
        assert r.status_code == 422 and "flash-error" in r.text, r.text[:300]
    r = client.post("/receipts", data={**receipt_form, "received": ["1"], "supplier": "ACME\x00"})
    assert r.status_code == 422 and "управляющих символов" in r.text  # the rule, in the page's language
    r = client.post("/admin/sellers", data={"csrf": token, "code": "long-url", "name": "Long",
                                            "webhook_url": "https://x.kz/" + "a" * 490})
    assert r.status_code == 422 and "URL вебхука" in r.text
    r = client.post("/admin/sellers", data={"csrf": token, "code": "nul-name", "name": "N\x00"})
    assert r.status_code == 422 and "управляющих символов" in r.text
    r = client.post("/admin/users", data={"csrf": token, "email": "long@x.kz", "password": "password123",
                                          "role": "manager", "full_name": "Ai\x00gerim", "language": "ru"})
    assert r.status_code == 422 and "full_name" in r.text
    assert client.get(f"/orders/{BIG}").status_code == 400
    assert client.get(f"/imports/{BIG}").status_code == 400
    r = client.post(f"/orders/{BIG}/transition", data={"csrf": token, "to_status": "on_hold", "reason": "x"})
    assert r.status_code == 400
    for path in ("/orders?q=a%00b", "/stock?sku=%00", "/products?q=%00", "/customers/list?q=%00"):
        assert client.get(path).status_code == 400, path
    for path in ("/orders?page=" + "9" * 30, "/stock?page=99999999999999999999", "/products?page=1e99"):
        assert client.get(path).status_code == 200, path
