"""The orders REST API: create (idempotent), list with filters and pages, read with
timeline, move through the lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta

from conftest import order_payload
from sqlalchemy import func, select

from qoima.db import tables as t

PROBLEM = "application/problem+json"




def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def post_order(client, world, body, who="seller_a", **headers):
    return client.post("/api/v1/orders", json=body, headers={**world.headers(who), **headers})


def test_create_returns_201_with_id_status_warehouse_and_ship_by(client, world):
    r = post_order(client, world, order_payload("API-1", [("SKU-1", 2)]))
    assert r.status_code == 201, r.text
    body = r.json()
    assert isinstance(body["id"], int)
    assert r.headers["location"] == f"/api/v1/orders/{body['id']}"
    assert body["status"] == "allocated"
    assert body["warehouse"] == "ALA" and body["warehouses"] == ["ALA"]
    assert body["seller"] == "seller-a" and body["external_id"] == "API-1" and body["channel"] == "api"
    ship_by, received = datetime.fromisoformat(body["ship_by"]), datetime.fromisoformat(body["received_at"])
    assert received < ship_by <= received + timedelta(days=4)
    assert body["total"] == "3000.00" and body["currency"] == "KZT"
    assert body["lines"] == [{"id": body["lines"][0]["id"], "sku": "SKU-1", "quantity": 2, "unit_price": "1500.00",
                              "backordered": 0}]
    assert body["sourcing_reason"]


def test_backordered_order_is_created_too(client, world):
    r = post_order(client, world, order_payload("API-BO", [("SKU-2", 9)]))
    assert r.status_code == 201
    assert r.json()["status"] == "backordered" and r.json()["lines"][0]["backordered"] == 4


def test_same_channel_order_again_returns_the_same_order(client, world):
    first = post_order(client, world, order_payload("API-2"))
    assert first.status_code == 201 and "idempotent-replay" not in first.headers
    again = post_order(client, world, order_payload("API-2"))
    assert again.status_code == 200
    assert again.headers.get("idempotent-replay") == "true"
    assert again.json()["id"] == first.json()["id"]
    # the buyer's contact corrected meanwhile is the same order, not a new one
    fixed = order_payload("API-2")
    fixed["customer"]["name"] = "Aigerim N."
    assert post_order(client, world, fixed).json()["id"] == first.json()["id"]
    by_staff = post_order(client, world, order_payload("API-2"), who="manager")
    assert by_staff.status_code == 200 and by_staff.json()["id"] == first.json()["id"]
    assert count(world.engine, t.orders) == 1
    other_channel = post_order(client, world, order_payload("API-2", channel="kaspi"))
    assert other_channel.status_code == 201 and other_channel.json()["id"] != first.json()["id"]
    other_seller = post_order(client, world, order_payload("API-2", seller="seller-b"), who="seller_b")
    assert other_seller.status_code == 201
    assert count(world.engine, t.orders) == 3


def test_same_channel_order_with_other_lines_is_a_conflict_that_says_what_differs(client, world):
    first = post_order(client, world, order_payload("API-3", [("SKU-1", 1), ("SKU-2", 1)]))
    assert first.status_code == 201
    body = order_payload("API-3", [("SKU-1", 5)])
    r = post_order(client, world, body)
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert problem["field"] == "lines" and problem["order_id"] == first.json()["id"]
    assert problem["differences"] == [
        {"line": 1, "field": "quantity", "stored": "1", "requested": "5"},
        {"line": 2, "field": "line", "stored": "SKU-2 x 1 @ 1500.00", "requested": None}]
    assert "line 1 quantity: 1 stored, 5 requested" in problem["detail"]
    with world.engine.connect() as conn:  # the stored order is untouched
        assert conn.execute(select(t.order_lines.c.quantity).order_by(t.order_lines.c.id)).scalars().all() == [1, 1]
    assert count(world.engine, t.orders) == 1


def test_idempotency_key_header_is_honoured(client, world):
    first = post_order(client, world, order_payload("API-K1"), **{"Idempotency-Key": "retry-42"})
    assert first.status_code == 201
    again = post_order(client, world, order_payload("API-K1"), **{"Idempotency-Key": "retry-42"})
    assert again.status_code == 200 and again.headers["idempotent-replay"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["external_id"] == "API-K1"
    assert count(world.engine, t.orders) == 1
    # keys are per seller: seller B may use the same key for its own order
    b = post_order(client, world, order_payload("B-K1", seller="seller-b"), who="seller_b",
                   **{"Idempotency-Key": "retry-42"})
    assert b.status_code == 201 and b.json()["seller"] == "seller-b"
    # a new key with a new external id is a new order
    assert post_order(client, world, order_payload("API-K3"), **{"Idempotency-Key": "retry-43"}).status_code == 201


def test_a_reused_idempotency_key_with_another_body_is_refused_with_422(client, world):
    """IETF draft: the key names one request; reusing it for another body is a client error."""
    first = post_order(client, world, order_payload("API-K5"), **{"Idempotency-Key": "retry-77"})
    assert first.status_code == 201
    for other in (order_payload("API-K6", [("SKU-2", 1)]), order_payload("API-K5", [("SKU-1", 2)]),
                  {**order_payload("API-K5"), "delivery": {"type": "self_pickup"}}):
        r = post_order(client, world, other, **{"Idempotency-Key": "retry-77"})
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
        assert r.json()["field"] == "Idempotency-Key" and r.json()["order_id"] == first.json()["id"]
        assert "retry-77" in r.json()["detail"]
    # the same body again (the seller named or left out: the key is the seller's anyway) is a replay
    same = order_payload("API-K5", seller=None)
    r = post_order(client, world, same, **{"Idempotency-Key": "retry-77"})
    assert r.status_code == 200 and r.json()["id"] == first.json()["id"]
    assert count(world.engine, t.orders) == 1


def test_seller_user_may_omit_seller_but_staff_may_not(client, world):
    r = post_order(client, world, order_payload("API-3", seller=None))
    assert r.status_code == 201 and r.json()["seller"] == "seller-a"
    staff = post_order(client, world, order_payload("API-4", seller=None), who="manager")
    assert staff.status_code == 422
    assert staff.headers["content-type"] == PROBLEM and staff.json()["field"] == "seller"
    unknown = post_order(client, world, order_payload("API-5", seller="no-such-seller"), who="manager")
    assert unknown.status_code == 422 and unknown.json()["field"] == "seller"


def test_phone_is_stored_in_e164_and_email_lower_case(client, world):
    body = order_payload("API-6")
    body["customer"] = {"name": "Nurlan", "phone": "8 (701) 765-43-21", "email": "Nurlan@Mail.KZ"}
    r = post_order(client, world, body)
    assert r.status_code == 201
    order = client.get(f"/api/v1/orders/{r.json()['id']}", headers=world.headers("seller_a")).json()
    assert order["customer"]["phone"] == "+77017654321"
    assert order["customer"]["email"] == "nurlan@mail.kz"
    with world.engine.connect() as conn:
        assert conn.execute(select(t.customers.c.phone)).scalars().all() == ["+77017654321"]
    # the same buyer writing the number differently is the same customer
    body2 = order_payload("API-7")
    body2["customer"] = {"name": "Nurlan", "phone": "+7 701 765 4321"}
    r2 = post_order(client, world, body2)
    assert r2.json()["customer_id"] == r.json()["customer_id"]


def _seed_list(client, world) -> dict:
    ids = {}
    specs = [("L-1", "api", [("SKU-1", 1)], "Aigerim", "+77011111111"),
             ("L-2", "kaspi", [("SKU-1", 1)], "Dana", "+77012222222"),
             ("L-3", "kaspi", [("SKU-2", 9)], "Yerlan", "+77013333333"),  # backordered
             ("L-4", "website", [("SKU-3", 1)], "Dana", "+77014444444"),
             ("L-5", "kaspi", [("SKU-1", 1)], "Madina", "+77015555555")]
    for ext, channel, lines, name, phone in specs:
        body = order_payload(ext, lines, channel=channel)
        body["customer"] = {"name": name, "phone": phone}
        r = post_order(client, world, body)
        assert r.status_code == 201
        ids[ext] = r.json()["id"]
    r = client.post(f"/api/v1/orders/{ids['L-5']}/cancel", headers=world.headers("seller_a"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    post_order(client, world, order_payload("B-1", seller="seller-b"), who="seller_b")
    return ids


def _list(client, world, who="seller_a", **params):
    r = client.get("/api/v1/orders", params=params, headers=world.headers(who))
    assert r.status_code == 200, r.text
    return r.json()


def test_list_with_filters(client, world):
    ids = _seed_list(client, world)
    everything = _list(client, world)
    assert everything["total"] == 5
    assert [o["external_id"] for o in everything["items"]] == ["L-5", "L-4", "L-3", "L-2", "L-1"]  # newest first
    assert {o["seller"] for o in everything["items"]} == {"seller-a"}
    assert _list(client, world, who="admin")["total"] == 6
    assert [o["id"] for o in _list(client, world, status="backordered")["items"]] == [ids["L-3"]]
    assert {o["external_id"] for o in _list(client, world, status="allocated")["items"]} == {"L-1", "L-2", "L-4"}
    assert _list(client, world, status="cancelled,backordered")["total"] == 2
    assert {o["external_id"] for o in _list(client, world, channel="kaspi")["items"]} == {"L-2", "L-3", "L-5"}
    assert _list(client, world, channel="kaspi", status="allocated")["total"] == 1
    assert [o["external_id"] for o in _list(client, world, q="L-4")["items"]] == ["L-4"]
    assert {o["external_id"] for o in _list(client, world, q="dana")["items"]} == {"L-2", "L-4"}  # customer name
    assert [o["external_id"] for o in _list(client, world, q="3333333")["items"]] == ["L-3"]  # phone
    assert _list(client, world, q="nobody")["total"] == 0
    assert _list(client, world, who="admin", seller="seller-b")["total"] == 1
    item = _list(client, world, q="L-1")["items"][0]
    assert item["customer"] == "Aigerim" and item["warehouses"] == ["ALA"] and item["status"] == "allocated"


def test_list_pagination(client, world):
    _seed_list(client, world)
    page1 = _list(client, world, limit=2, offset=0)
    page2 = _list(client, world, limit=2, offset=2)
    page3 = _list(client, world, limit=2, offset=4)
    assert (page1["total"], page2["total"], page3["total"]) == (5, 5, 5)
    assert (page1["limit"], page1["offset"], page2["offset"]) == (2, 0, 2)
    seen = [o["external_id"] for p in (page1, page2, page3) for o in p["items"]]
    assert seen == ["L-5", "L-4", "L-3", "L-2", "L-1"]
    assert _list(client, world, limit=2, offset=10)["items"] == []
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        r = client.get("/api/v1/orders", params=bad, headers=world.headers("seller_a"))
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM


def test_get_order_has_timeline_customer_and_reservations(client, world):
    r = post_order(client, world, order_payload("API-8", [("SKU-3", 4)]))
    oid = r.json()["id"]
    assert client.post(f"/api/v1/orders/{oid}/transitions", json={"status": "picking", "reason": "wave 7"},
                       headers=world.headers("worker")).status_code == 200
    order = client.get(f"/api/v1/orders/{oid}", headers=world.headers("seller_a")).json()
    assert [(e["from_status"], e["to_status"]) for e in order["timeline"]] == [
        (None, "new"), ("new", "allocated"), ("allocated", "picking")]
    assert order["timeline"][-1]["actor"] == "worker@qoima.local" and order["timeline"][-1]["reason"] == "wave 7"
    assert order["timeline"][0]["reason"] == "received via api"
    assert order["timeline"][0]["reason_code"] == "timeline.received"  # the English text plus its code
    assert order["timeline"][0]["reason_params"] == [{"code": "timeline.received", "channel": "api"}]
    assert order["customer"]["name"] == "Aigerim" and order["customer"]["phone"] == "+77011234567"
    assert sorted((x["warehouse"], x["location"], x["quantity"]) for x in order["reservations"]) == [
        ("ALA", "A-01", 2), ("AST", "A-01", 2)]
    missing = client.get("/api/v1/orders/999999", headers=world.headers("admin"))
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


def test_transitions_allowed_invalid_and_unknown(client, world):
    oid = post_order(client, world, order_payload("API-9")).json()["id"]
    url = f"/api/v1/orders/{oid}/transitions"
    ok = client.post(url, json={"status": "picking"}, headers=world.headers("worker"))
    assert ok.status_code == 200 and ok.json()["status"] == "picking"
    assert ok.json()["timeline"][-1]["to_status"] == "picking"
    events_before = count(world.engine, t.order_events)
    bad = client.post(url, json={"status": "shipped"}, headers=world.headers("worker"))
    assert bad.status_code == 409
    assert bad.headers["content-type"] == PROBLEM
    problem = bad.json()
    assert problem["status"] == 409 and problem["title"] == "Invalid status transition"
    assert problem["from_status"] == "picking" and problem["to_status"] == "shipped"
    assert "'picking'" in problem["detail"] and "'shipped'" in problem["detail"]
    unknown = client.post(url, json={"status": "teleported"}, headers=world.headers("worker"))
    assert unknown.status_code == 422 and unknown.json()["field"] == "status"
    assert count(world.engine, t.order_events) == events_before
    for step in ("picked", "packed", "shipped", "delivered"):
        r = client.post(url, json={"status": step}, headers=world.headers("worker"))
        assert r.status_code == 200 and r.json()["status"] == step
    assert r.json()["shipped_at"] is not None and r.json()["delivered_at"] is not None
    back = client.post(url, json={"status": "allocated"}, headers=world.headers("admin"))
    assert back.status_code == 409 and (back.json()["from_status"], back.json()["to_status"]) == ("delivered",
                                                                                               "allocated")


def test_seller_may_cancel_but_not_ship(client, world):
    oid = post_order(client, world, order_payload("API-10")).json()["id"]
    url = f"/api/v1/orders/{oid}/transitions"
    for step in ("picking", "exception"):
        r = client.post(url, json={"status": step}, headers=world.headers("seller_a"))
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    for who in ("admin", "manager", "worker"):
        assert client.get(f"/api/v1/orders/{oid}", headers=world.headers(who)).json()["status"] == "allocated"
    ok = client.post(url, json={"status": "cancelled", "reason": "changed mind"}, headers=world.headers("seller_a"))
    assert ok.status_code == 200 and ok.json()["status"] == "cancelled"
    shipped = post_order(client, world, order_payload("API-11")).json()["id"]
    for step in ("picking", "picked", "packed"):
        client.post(f"/api/v1/orders/{shipped}/transitions", json={"status": step}, headers=world.headers("worker"))
    r = client.post(f"/api/v1/orders/{shipped}/transitions", json={"status": "shipped"},
                    headers=world.headers("seller_a"))
    assert r.status_code == 403
    assert client.get(f"/api/v1/orders/{shipped}", headers=world.headers("seller_a")).json()["status"] == "packed"


def test_cancel_endpoint(client, world):
    oid = post_order(client, world, order_payload("API-12", [("SKU-1", 4)])).json()["id"]
    r = client.post(f"/api/v1/orders/{oid}/cancel", params={"reason": "duplicate"}, headers=world.headers("seller_a"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["timeline"][-1]["reason"] == "duplicate"
    assert r.json()["reservations"] == []
    again = client.post(f"/api/v1/orders/{oid}/cancel", headers=world.headers("seller_a"))
    assert again.status_code == 409 and again.json()["from_status"] == "cancelled"


def test_received_at_with_an_offset_is_stored_in_utc(client, world):
    body = order_payload("API-TZ", received_at="2025-01-15T13:30:00+05:00")  # Wednesday, before the cut-off
    r = post_order(client, world, body)
    assert r.status_code == 201
    assert r.json()["received_at"] == "2025-01-15T08:30:00Z"  # answered in UTC with the offset (RFC 3339)
    assert r.json()["ship_by"] == "2025-01-15T13:00:00Z"  # 18:00 Almaty the same day


def test_an_order_split_over_two_warehouses_has_a_shipment_from_each(client, world):
    """4 units of SKU-3: 2 in ALA, 3 in AST, so two parcels; each warehouse's list finds the order,
    a cancel moves both shipments."""
    r = post_order(client, world, order_payload("SPLIT-API", [("SKU-3", 4)]))
    assert r.status_code == 201
    body = r.json()
    assert sorted(sh["warehouse"] for sh in body["shipments"]) == ["ALA", "AST"]
    assert {sh["status"] for sh in body["shipments"]} == {"allocated"}
    assert body["warehouses"] == [sh["warehouse"] for sh in body["shipments"]]
    other = post_order(client, world, order_payload("ONE-ALA", [("SKU-1", 1)])).json()
    assert [sh["warehouse"] for sh in other["shipments"]] == ["ALA"]
    for code, expected in (("ALA", {body["id"], other["id"]}), ("AST", {body["id"]})):
        listed = client.get("/api/v1/orders", params={"warehouse": code}, headers=world.headers("worker")).json()
        assert {o["id"] for o in listed["items"]} == expected, code
    client.post(f"/api/v1/orders/{body['id']}/cancel", headers=world.headers("seller_a"))
    got = client.get(f"/api/v1/orders/{body['id']}", headers=world.headers("seller_a")).json()
    assert got["status"] == "cancelled" and {sh["status"] for sh in got["shipments"]} == {"cancelled"}
