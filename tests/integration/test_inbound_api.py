"""The inbound deliveries API (ASN): announce (JSON, Idempotency-Key), list and read, receive in parts
against it (Idempotency-Key: a retried receipt is booked once), close, cancel; bounds refused as 422
problems naming the field; a CSV of lines is all or nothing with an error per line; a receipt's page."""

from __future__ import annotations

from sqlalchemy import func, select
from test_stock_ledger import assert_ledger_consistent, level

from qoima.db import tables as t

PROBLEM = "application/problem+json"


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _asn(client, world, who="seller_a", key=None, **extra):
    body = {"warehouse": "ALA", "supplier": "Steppe Ceramics", "expected_at": "2026-12-10",
            "lines": [{"sku": "SKU-1", "expected": 5}, {"sku": "sku-2", "expected": 2}], **extra}
    headers = {**world.headers(who), **({"Idempotency-Key": key} if key else {})}
    return client.post("/api/v1/inbound", json=body, headers=headers)


def test_announce_list_read_receive_twice_and_close(client, world):
    r = _asn(client, world, key="asn-1")
    assert r.status_code == 201, r.text
    again = _asn(client, world, key="asn-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replay"] == "true"
    assert again.json()["id"] == r.json()["id"] and _count(world.engine, t.inbound_deliveries) == 1
    asn_id = r.json()["id"]
    listed = client.get("/api/v1/inbound", params={"q": "KU-2"}, headers=world.headers("seller_a")).json()
    assert [d["id"] for d in listed["items"]] == [asn_id] and listed["items"][0]["expected"] == 7
    assert client.get("/api/v1/inbound", headers=world.headers("seller_b")).json()["total"] == 0
    assert client.get(f"/api/v1/inbound/{asn_id}", headers=world.headers("seller_b")).status_code == 404
    assert client.post(f"/api/v1/inbound/{asn_id}/receipts", headers=world.headers("seller_a"),
                       json={"location": "RCV", "lines": [{"sku": "SKU-1", "received": 1}]}).status_code == 403
    staff = {**world.headers("worker"), "Idempotency-Key": "dock-7-scan-1"}
    body = {"location": "RCV", "lines": [{"sku": "4870000009015", "received": 3}]}  # SKU-1's barcode
    first = client.post(f"/api/v1/inbound/{asn_id}/receipts", json=body, headers=staff)
    assert first.status_code == 201, first.text
    retry = client.post(f"/api/v1/inbound/{asn_id}/receipts", json=body, headers=staff)
    assert retry.headers["Idempotent-Replay"] == "true" and retry.json() == first.json()
    assert level(world.engine, "seller-a", "SKU-1", "ALA", "RCV") == (3, 0)
    assert first.json()["status"] == "partially_received"
    second = client.post(f"/api/v1/inbound/{asn_id}/receipts", headers=world.headers("worker"), json={
        "location": "RCV", "lines": [{"sku": "sku-1", "received": 2}, {"sku": "SKU-2", "received": 3},
                                     {"sku": "SKU-3", "received": 1}]})
    assert second.status_code == 201, second.text
    got = client.get(f"/api/v1/inbound/{asn_id}", headers=world.headers("seller_a")).json()
    assert [(ln["sku"], ln["expected"], ln["received"], ln["state"]) for ln in got["lines"]] == [
        ("SKU-1", 5, 5, "ok"), ("SKU-2", 2, 3, "over"), ("SKU-3", 0, 1, "unexpected")]
    assert len(got["receipts"]) == 2
    closed = client.post(f"/api/v1/inbound/{asn_id}/close", headers=world.headers("manager"))
    assert closed.status_code == 200 and closed.json()["status"] == "closed_with_discrepancies"
    late = client.post(f"/api/v1/inbound/{asn_id}/receipts", json=body, headers=world.headers("worker"))
    assert late.status_code == 409 and late.headers["content-type"] == PROBLEM
    receipt = client.get(f"/api/v1/receipts/{second.json()['receipt_id']}", headers=world.headers("seller_a"))
    assert receipt.status_code == 200 and receipt.json()["asn_id"] == asn_id
    assert [m["quantity"] for m in receipt.json()["movements"]] == [2, 3, 1]
    assert client.get(f"/api/v1/receipts/{second.json()['receipt_id']}",
                      headers=world.headers("seller_b")).status_code == 404
    assert_ledger_consistent(world.engine)


def test_cancel_only_before_anything_arrived(client, world):
    asn_id = _asn(client, world).json()["id"]
    assert client.post(f"/api/v1/inbound/{asn_id}/cancel", headers=world.headers("seller_b")).status_code == 404
    r = client.post(f"/api/v1/inbound/{asn_id}/cancel", headers=world.headers("seller_a"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/inbound/{asn_id}/cancel", headers=world.headers("seller_a")).status_code == 409


def test_bounds_are_422_naming_the_field(client, world):
    cases = [
        ({"supplier": "x" * 5000}, "supplier"),
        ({"lines": [{"sku": "SKU-1", "expected": 99_999_999_999}]}, "lines[0].expected"),
        ({"lines": [{"sku": "SKU-1", "expected": 0}]}, "lines[0].expected"),
        ({"lines": [{"sku": "SKU-1", "expected": 1}, {"sku": "sku-1", "expected": 1}]}, "lines"),
    ]
    for extra, field in cases:
        r = _asn(client, world, **extra)
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
        assert r.json()["detail"].startswith(field), (field, r.json())
    asn_id = _asn(client, world).json()["id"]
    for lines, field, text in (
            ([{"sku": "SKU-1", "received": 99_999_999_999}], "lines[0].received", "1000000"),
            ([{"sku": "SKU-1", "received": 0}, {"sku": "SKU-2", "received": 0}], "lines",
             "Enter a received quantity above 0 on at least one line.")):
        r = client.post(f"/api/v1/inbound/{asn_id}/receipts", headers=world.headers("worker"),
                        json={"location": "RCV", "lines": lines})
        assert r.status_code == 422 and r.json()["detail"].startswith(field) and text in r.json()["detail"], r.text
    zero = client.post("/api/v1/receipts", headers=world.headers("worker"), json={
        "seller": "seller-a", "warehouse": "ALA", "location": "RCV", "lines": [{"sku": "SKU-1", "expected": 4}]})
    assert zero.status_code == 422 and zero.json()["field"] == "lines"
    assert _count(world.engine, t.inbound_deliveries) == 1


def test_csv_lines_all_or_nothing_with_an_error_per_line(client, world):
    bad = b"sku,expected\nSKU-1,5\nNOPE,1\nsku-2,99999999999\nSKU-1,2\n"
    r = client.post("/api/v1/inbound/import", headers=world.headers("seller_a"),
                    data={"warehouse": "ALA", "supplier": "Acme", "expected_at": "2026-12-10"},
                    files={"file": ("asn.csv", bad, "text/csv")})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    errors = {(e["line"], e["field"]) for e in r.json()["errors"]}
    assert errors == {(3, "sku"), (4, "expected"), (5, "sku")}, r.json()["errors"]
    assert _count(world.engine, t.inbound_deliveries) == 0
    good = "sku;expected\nsku-1;5\nSKU-2;7\n".encode("cp1251")
    r = client.post("/api/v1/inbound/import", headers={**world.headers("manager"), "Idempotency-Key": "file-1"},
                    data={"seller": "seller-a", "warehouse": "ALA"}, files={"file": ("asn.csv", good, "text/csv")})
    assert r.status_code == 201, r.text
    assert [(ln["sku"], ln["expected"]) for ln in r.json()["lines"]] == [("SKU-1", 5), ("SKU-2", 7)]
    again = client.post("/api/v1/inbound/import", headers={**world.headers("manager"), "Idempotency-Key": "file-1"},
                        data={"seller": "seller-a", "warehouse": "ALA"}, files={"file": ("asn.csv", good, "text/csv")})
    assert again.headers.get("Idempotent-Replay") == "true" and _count(world.engine, t.inbound_deliveries) == 1
