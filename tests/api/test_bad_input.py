"""Bad input gets a problem+json that names the wrong field, and leaves nothing
half-written behind."""

from __future__ import annotations

import pytest
from conftest import order_payload
from sqlalchemy import func, select

from qoima.db import tables as t

PROBLEM = "application/problem+json"
WATCHED = (t.orders, t.customers, t.order_lines, t.order_events, t.outbox, t.reservations, t.products, t.barcodes,
           t.stock_movements, t.receipts, t.transfers)




def state(engine) -> dict:
    with engine.connect() as conn:
        counts = {tbl.name: conn.execute(select(func.count()).select_from(tbl)).scalar_one() for tbl in WATCHED}
        counts["stock"] = tuple(conn.execute(select(func.sum(t.stock.c.on_hand), func.sum(t.stock.c.reserved))).one())
        counts["product_rows"] = sorted(tuple(r) for r in conn.execute(
            select(t.products.c.id, t.products.c.name, t.products.c.price)))
        counts["barcode_rows"] = sorted(tuple(r) for r in conn.execute(select(t.barcodes.c.product_id,
                                                                              t.barcodes.c.code)))
    return counts


@pytest.fixture
def guard(client, world):
    """Call guard.check(response, status, field) after a failing request: it also asserts
    nothing was stored."""
    # one good order first, so that "nothing partial" is checked against a non-empty database
    assert client.post("/api/v1/orders", json=order_payload("GOOD-1"), headers=world.headers("seller_a")).status_code \
        == 201

    class Guard:
        before = state(world.engine)

        def check(self, r, status: int, field: str | None, *fragments: str) -> dict:
            assert r.status_code == status, r.text
            assert r.headers["content-type"] == PROBLEM
            body = r.json()
            assert body["status"] == status and body["title"] and body["type"] == "about:blank"
            if field is not None:
                assert body["field"] == field, body
            for fragment in fragments:
                assert fragment in body["detail"], body
            assert state(world.engine) == self.before, "a failed request left rows behind"
            return body

    return Guard()


def post(client, world, body, who="seller_a"):
    return client.post("/api/v1/orders", json=body, headers=world.headers(who))


def with_customer(ext: str, **customer) -> dict:
    body = order_payload(ext)
    body["customer"].update(customer)
    return body


def test_malformed_json_is_400(client, world, guard):
    for raw in (b'{"channel": "api", "external_id": ', b"not json at all", b'{"lines": [1, 2,]}'):
        r = client.post("/api/v1/orders", content=raw,
                        headers={**world.headers("seller_a"), "Content-Type": "application/json"})
        body = guard.check(r, 400, "body")
        assert body["title"] == "Malformed JSON"


def test_unknown_sku_names_the_line(client, world, guard):
    body = guard.check(post(client, world, order_payload("BAD-1", [("NO-SUCH-SKU", 1)])), 422, "lines[0].sku",
                       "NO-SUCH-SKU")
    assert body["title"] == "Invalid input"
    guard.check(post(client, world, order_payload("BAD-2", [("SKU-1", 1), ("SKU-2", 1), ("GHOST", 2)])), 422,
                "lines[2].sku", "GHOST")


def test_another_sellers_sku_is_unknown(client, world, guard):
    r = client.post("/api/v1/products", json={"seller": "seller-b", "sku": "B-ONLY", "name": "B only"},
                    headers=world.headers("seller_b"))
    assert r.status_code == 201
    guard.before = state(world.engine)
    guard.check(post(client, world, order_payload("BAD-3", [("B-ONLY", 1)])), 422, "lines[0].sku")


@pytest.mark.parametrize("qty", [-1, 0, -100, 100_001])
def test_bad_quantity_names_the_line(client, world, guard, qty):
    guard.check(post(client, world, order_payload("BAD-Q", [("SKU-1", qty)])), 422, "lines[0].quantity")


def test_non_integer_quantity_and_negative_price(client, world, guard):
    body = order_payload("BAD-Q2", [("SKU-1", 1), ("SKU-2", 1)])
    body["lines"][1]["quantity"] = "two"
    guard.check(post(client, world, body), 422, "lines[1].quantity")
    body = order_payload("BAD-P", [("SKU-1", 1)])
    body["lines"][0]["unit_price"] = "-5"
    guard.check(post(client, world, body), 422, "lines[0].unit_price")


@pytest.mark.parametrize("phone", ["12345", "+7 000 000 00 00", "call me", "8 701 123"])
def test_bad_phone_names_customer_phone(client, world, guard, phone):
    body = guard.check(post(client, world, with_customer("BAD-PH", phone=phone)), 422, "customer.phone", phone)
    assert body["errors"][0]["field"] == "customer.phone"


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@example.kz", "space in@example.kz"])
def test_bad_email_names_customer_email(client, world, guard, email):
    guard.check(post(client, world, with_customer("BAD-EM", email=email)), 422, "customer.email", email)


def test_every_bad_field_is_listed(client, world, guard):
    body = with_customer("BAD-ALL", phone="12345", email="nope")
    body["lines"] = [{"sku": "SKU-1", "quantity": -1, "unit_price": "1"}]
    body["delivery"]["type"] = "teleport"
    problem = guard.check(post(client, world, body), 422, None)
    fields = {e["field"] for e in problem["errors"]}
    assert {"customer.phone", "customer.email", "lines[0].quantity", "delivery.type"} <= fields


@pytest.mark.parametrize("mutate,field", [
    (lambda b: b.pop("lines"), "lines"),
    (lambda b: b.update(lines=[]), "lines"),
    (lambda b: b.pop("external_id"), "external_id"),
    (lambda b: b.update(channel=""), "channel"),
    (lambda b: b.update(surprise=1), "surprise"),
    (lambda b: b["delivery"].update(lat=123.0), "delivery.lat"),
    (lambda b: b["customer"].update(language="de"), "customer.language"),
    (lambda b: b.update(received_at="yesterday"), "received_at"),
], ids=["no-lines", "empty-lines", "no-external-id", "empty-channel", "extra-field", "latitude", "language",
        "received-at"])
def test_structural_errors_name_the_field(client, world, guard, mutate, field):
    body = order_payload("BAD-S")
    mutate(body)
    guard.check(post(client, world, body), 422, field)


def test_staff_with_unknown_seller(client, world, guard):
    guard.check(post(client, world, order_payload("BAD-SELLER", seller="nobody"), who="admin"), 422, "seller",
                "nobody")


# --- products ------------------------------------------------------------------

def post_product(client, world, body, who="seller_a"):
    return client.post("/api/v1/products", json=body, headers=world.headers(who))


def test_wrong_barcode_check_digit_names_barcodes_and_the_expected_digit(client, world, guard):
    body = guard.check(post_product(client, world, {"sku": "NEW-1", "name": "Mug", "barcodes": ["4870000009043"]}),
                       422, "barcodes", "expected 6", "got 3")
    assert "4870000009043" in body["detail"]
    guard.check(post_product(client, world, {"sku": "NEW-1", "name": "Mug",
                                             "barcodes": ["4870000009053", "10614141000410"]}),
                422, "barcodes", "expected 5")
    guard.check(post_product(client, world, {"sku": "NEW-1", "name": "Mug", "barcodes": ["48700000"]}),
                422, "barcodes", "expected 9")  # EAN-8
    guard.check(post_product(client, world, {"sku": "NEW-1", "name": "Mug", "barcodes": ["487000000905"]}),
                422, "barcodes", "expected 0")  # UPC-A
    guard.check(post_product(client, world, {"sku": "NEW-1", "name": "Mug", "barcodes": ["12345"]}),
                422, "barcodes", "has 5 digits")
    guard.check(post_product(client, world, {"sku": "NEW-1", "name": "Mug", "barcodes": ["48700000O9046"]}),
                422, "barcodes", "digits only")


def test_a_valid_barcode_is_accepted(client, world, guard):
    r = post_product(client, world, {"sku": "NEW-2", "name": "Mug", "barcodes": ["4870000009046 "]})
    assert r.status_code == 201 and r.json()["created"] is True
    listed = client.get("/api/v1/products", params={"q": "NEW-2"}, headers=world.headers("seller_a")).json()
    assert listed["items"][0]["barcodes"] == ["4870000009046"]


def test_bad_product_fields(client, world, guard):
    guard.check(post_product(client, world, {"sku": "", "name": "x"}), 422, "sku")
    guard.check(post_product(client, world, {"sku": "NEW-3"}), 422, "name")
    guard.check(post_product(client, world, {"sku": "NEW-3", "name": "x", "price": "-1"}), 422, "price")
    guard.check(post_product(client, world, {"sku": "NEW-3", "name": "x", "weight_g": -5}), 422, "weight_g")
    guard.check(post_product(client, world, {"sku": "NEW-3", "name": "x", "replenishment_days": 0}), 422,
                "replenishment_days")


def test_barcode_of_another_product_rolls_the_whole_product_back(client, world, guard):
    """The product row is written before its barcodes; the conflict on the second barcode
    must undo the product too (and, for an update, keep the old name and barcodes)."""
    taken = "4870000009022"  # SKU-2 of seller A
    guard.check(post_product(client, world, {"sku": "NEW-4", "name": "Cup", "barcodes": ["4870000009046", taken]}),
                409, "barcodes", "SKU-2")
    guard.check(post_product(client, world, {"sku": "SKU-1", "name": "Renamed", "barcodes": ["4870000009046", taken]}),
                409, "barcodes")


def test_transition_with_bad_body(client, world, guard):
    oid = client.get("/api/v1/orders", headers=world.headers("seller_a")).json()["items"][0]["id"]
    url = f"/api/v1/orders/{oid}/transitions"
    guard.check(client.post(url, json={}, headers=world.headers("worker")), 422, "status")
    guard.check(client.post(url, json={"status": "nowhere"}, headers=world.headers("worker")), 422, "status")
    guard.check(client.post(url, content=b"{", headers={**world.headers("worker"), "Content-Type": "application/json"}),
                400, "body")
    guard.check(client.post("/api/v1/orders/abc/transitions", json={"status": "picking"},
                            headers=world.headers("worker")), 422, "path.order_id")


def test_resource_with_bad_body_or_by_a_seller(client, world, guard):
    oid = client.get("/api/v1/orders", headers=world.headers("seller_a")).json()["items"][0]["id"]
    url = f"/api/v1/orders/{oid}/resource"
    guard.check(client.post(url, json={"reason": 5}, headers=world.headers("worker")), 422, "reason")
    guard.check(client.post(url, content=b"{", headers={**world.headers("worker"), "Content-Type": "application/json"}),
                400, "body")
    guard.check(client.post("/api/v1/orders/abc/resource", headers=world.headers("worker")), 422, "path.order_id")
    # refused by the role matrix before the order is read (platform/roles.py)
    guard.check(client.post(url, headers=world.headers("seller_a")), 403, None, "needs the role", "you are seller")
    client.post(f"/api/v1/orders/{oid}/transitions", json={"status": "picking"}, headers=world.headers("worker"))
    r = client.post(url, headers=world.headers("worker"))
    assert r.status_code == 409 and r.json()["from_status"] == "picking" and "'picking'" in r.json()["detail"]


def test_stock_endpoints_with_bad_input(client, world, guard):
    worker = world.headers("worker")
    guard.check(client.post("/api/v1/receipts", json={"seller": "seller-a", "warehouse": "ALA", "location": "A-01",
                                                      "lines": [{"sku": "SKU-1", "received": -2}]}, headers=worker),
                422, "lines[0].received")
    guard.check(client.post("/api/v1/receipts", json={"seller": "seller-a", "warehouse": "XXX", "location": "A-01",
                                                      "lines": [{"sku": "SKU-1", "received": 2}]}, headers=worker),
                422, "warehouse")
    guard.check(client.post("/api/v1/adjustments", json={"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA",
                                                         "location": "A-01", "delta": 2, "reason": " "},
                            headers=worker), 422, "reason")
    guard.check(client.post("/api/v1/moves", json={"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA",
                                                   "from_location": "A-01", "to_location": "A-02", "quantity": 0},
                            headers=worker), 422, "quantity")
    guard.check(client.post("/api/v1/transfers", json={"seller": "seller-a", "from_warehouse": "ALA",
                                                       "to_warehouse": "AST",
                                                       "lines": [{"sku": "SKU-1", "quantity": 99,
                                                                  "from_location": "A-01"}]}, headers=worker),
                409, "quantity")
