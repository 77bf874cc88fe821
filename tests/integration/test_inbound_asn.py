"""Inbound deliveries (ASN) on SQLite and PostgreSQL: announce, receive partially twice (scans by SKU in
any case and by barcode), over-delivery, discrepancies, close; the ledger agrees with the counters;
a receipt retried with the same Idempotency-Key is booked once; out-of-bounds input is refused naming
the field; the ad-hoc receipt takes lowercase SKUs and refuses an all-zero receipt."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from test_stock_ledger import assert_ledger_consistent, count, level, movements, run

from qoima.db import tables as t
from qoima.platform.errors import Conflict, Forbidden, NotFound, ValidationError
from qoima.stock.schemas import AsnIn, AsnReceiveIn, ReceiptIn, ReceiptLineIn
from qoima.stock.services import asn, inbound, receipts
from qoima.platform.unit_of_work import UnitOfWork

A_SKU1_BARCODE = "4870000009015"  # conftest: SKU-1's barcode


def _announce(world, who="seller_a", **extra):
    body = {"warehouse": "ALA", "supplier": "Steppe Ceramics", "reference": "INV-9", "expected_at": "2026-12-10",
            "lines": [{"sku": "SKU-1", "expected": 10}, {"sku": "sku-2", "expected": 4}], **extra}
    return run(world.engine, asn.announce, world.principals[who], AsnIn(**body))


def _receive(world, asn_id, lines, close=False, location="RCV"):
    return run(world.engine, asn.receive, world.principals["worker"], asn_id,
               AsnReceiveIn(location=location, lines=[{"sku": s, "received": q} for s, q in lines], close=close))


def test_announce_receive_twice_over_delivery_and_close(world):
    eng = world.engine
    d = _announce(world)
    assert d["status"] == "announced" and d["seller"] == "seller-a" and d["expected_at"] == "2026-12-10"
    assert [(ln["sku"], ln["expected"], ln["received"], ln["state"]) for ln in d["lines"]] == [
        ("SKU-1", 10, 0, "waiting"), ("SKU-2", 4, 0, "waiting")]
    before = len(movements(eng))
    # first receipt: 6 of SKU-1 by barcode scans and lowercase SKU, SKU-2 not yet
    first = _receive(world, d["id"], [(A_SKU1_BARCODE, 5), ("sku-1", 1)])
    assert first["status"] == "partially_received"
    assert {x["sku"]: x["difference"] for x in first["discrepancies"]} == {"SKU-1": -4, "SKU-2": -4}
    assert level(eng, "seller-a", "SKU-1", "ALA", "RCV") == (6, 0)
    # second receipt: the rest of SKU-1, 3 of SKU-2 and 2 of SKU-3 that was never announced
    second = _receive(world, d["id"], [("SKU-1", 4), ("SKU-2", 3), ("SKU-3", 2)])
    assert second["status"] == "partially_received"
    assert second["receipt_discrepancies"] == [
        {"sku": "SKU-2", "expected": 4, "received": 3, "difference": -1},
        {"sku": "SKU-3", "expected": 0, "received": 2, "difference": 2}]
    got = run(eng, asn.get, world.principals["seller_a"], d["id"])
    assert [(ln["sku"], ln["expected"], ln["received"], ln["state"]) for ln in got["lines"]] == [
        ("SKU-1", 10, 10, "ok"), ("SKU-2", 4, 3, "short"), ("SKU-3", 0, 2, "unexpected")]
    assert [r["id"] for r in got["receipts"]] == [first["receipt_id"], second["receipt_id"]]
    rows = movements(eng)[before:]
    assert sum(m.quantity for m in rows) == 15 and {m.kind for m in rows} == {"receipt"}
    assert all(m.actor == "worker@qoima.local" for m in rows)
    closed = run(eng, asn.close, world.principals["manager"], d["id"])
    assert closed["status"] == "closed_with_discrepancies" and closed["closed_by"] == "manager@qoima.local"
    with pytest.raises(Conflict):
        _receive(world, d["id"], [("SKU-1", 1)])
    detail = run(eng, receipts.receipt_detail, world.principals["seller_a"], second["receipt_id"])
    assert detail["asn_id"] == d["id"] and detail["actor"] == "worker@qoima.local"
    assert [(m["sku"], m["quantity"], m["location"]) for m in detail["movements"]] == [
        ("SKU-1", 4, "RCV"), ("SKU-2", 3, "RCV"), ("SKU-3", 2, "RCV")]
    assert_ledger_consistent(eng)


def test_exact_delivery_is_received_and_a_fresh_one_can_be_cancelled(world):
    d = _announce(world, lines=[{"sku": "SKU-1", "expected": 3}])
    assert _receive(world, d["id"], [("SKU-1", 3)])["status"] == "received"
    other = _announce(world)
    assert run(world.engine, asn.cancel, world.principals["seller_a"], other["id"])["status"] == "cancelled"
    with pytest.raises(Conflict):
        run(world.engine, asn.cancel, world.principals["seller_a"], d["id"])
    assert_ledger_consistent(world.engine)


def test_sellers_see_only_their_own_and_do_not_receive(world):
    d = _announce(world)
    with pytest.raises(NotFound):
        run(world.engine, asn.get, world.principals["seller_b"], d["id"])
    with pytest.raises(NotFound):
        run(world.engine, asn.cancel, world.principals["seller_b"], d["id"])
    with pytest.raises(Forbidden):
        run(world.engine, asn.receive, world.principals["seller_a"], d["id"],
            AsnReceiveIn(location="RCV", lines=[{"sku": "SKU-1", "received": 1}]))
    with UnitOfWork(world.engine) as uow:
        mine, n = asn.list_deliveries(uow, world.principals["seller_b"], asn.AsnFilter())
        assert n == 0 and mine == []
        found, n = asn.list_deliveries(uow, world.principals["admin"], asn.AsnFilter(q="ku-2"))
        assert n == 1 and found[0]["id"] == d["id"]


def test_receipt_retried_with_the_same_key_is_booked_once(world):
    d = _announce(world)
    data = AsnReceiveIn(location="RCV", lines=[{"sku": "SKU-1", "received": 2}])
    first = asn.receive_once(world.engine, world.principals["worker"], d["id"], data, key="scan-42")
    again = asn.receive_once(world.engine, world.principals["worker"], d["id"], data, key="scan-42")
    assert again.replayed and again.response == first.response
    assert count(world.engine, t.receipts) == 1 + 5  # the world's own receipts
    assert level(world.engine, "seller-a", "SKU-1", "ALA", "RCV") == (2, 0)
    assert_ledger_consistent(world.engine)


@pytest.mark.parametrize("body,field", [
    ({"supplier": "x" * 5000}, "supplier"),
    ({"lines": [{"sku": "SKU-1", "expected": 99_999_999_999}]}, "lines.0.expected"),
    ({"lines": [{"sku": "SKU-1", "expected": 0}]}, "lines.0.expected"),
])
def test_announce_bounds_name_the_field(world, body, field):
    from pydantic import ValidationError as PydanticError
    with pytest.raises(PydanticError) as info:
        AsnIn(**{"warehouse": "ALA", "lines": [{"sku": "SKU-1", "expected": 1}], **body})
    assert field in str(info.value).replace("\n", " ").replace("lines.0.", "lines.0.")


def test_receive_bounds_and_all_zero_are_refused(world):
    from pydantic import ValidationError as PydanticError
    d = _announce(world)
    for lines in ([{"sku": "SKU-1", "received": 99_999_999_999}], [{"sku": "SKU-1", "received": 0}]):
        with pytest.raises(PydanticError):
            AsnReceiveIn(location="RCV", lines=lines)
    n = count(world.engine, t.stock_movements)
    with pytest.raises(ValidationError) as info:
        _receive(world, d["id"], [("SKU-1", 1), ("NOPE-1", 1)])
    assert info.value.field == "lines[1].sku"
    assert count(world.engine, t.stock_movements) == n


def test_ad_hoc_receipt_takes_lowercase_skus_and_refuses_all_zero(world):
    eng = world.engine
    r = run(eng, inbound.receive, world.principals["worker"], ReceiptIn(
        seller="seller-a", warehouse="ALA", location="A-02", lines=[ReceiptLineIn(sku="sku-3", received=2)]))
    assert r["lines"][0]["sku"] == "SKU-3" and level(eng, "seller-a", "SKU-3", "ALA", "A-02") == (2, 0)
    with pytest.raises(ValidationError) as info:
        run(eng, inbound.receive, world.principals["worker"], ReceiptIn(
            seller="seller-a", warehouse="ALA", location="A-02", lines=[ReceiptLineIn(sku="SKU-1", expected=3)]))
    assert info.value.field == "lines" and info.value.code == "stock.nothing_received"
    with UnitOfWork(eng) as uow:
        found, n = receipts.list_receipts(uow, world.principals["admin"], receipts.ReceiptFilter(sku="ku-3"))
    assert n >= 1 and all(any("SKU-3" == ln["sku"] for ln in x["lines"]) for x in found)
    assert_ledger_consistent(eng)


def test_database_refuses_impossible_delivery_lines(world):
    from sqlalchemy.exc import IntegrityError
    d = _announce(world)
    with world.engine.connect() as conn:
        line = conn.execute(select(t.inbound_delivery_lines.c.id)).first().id
    for values in ({"expected_qty": -1}, {"expected_qty": 1_000_001}, {"received_qty": -1}):
        with pytest.raises(IntegrityError), world.engine.begin() as conn:
            conn.execute(t.inbound_delivery_lines.update().where(t.inbound_delivery_lines.c.id == line).values(**values))
    with pytest.raises(IntegrityError), world.engine.begin() as conn:
        conn.execute(t.inbound_deliveries.update().where(t.inbound_deliveries.c.id == d["id"]).values(status="lost"))
