"""An order shipped from two warehouses walks the floor shipment by shipment, on SQLite and PostgreSQL
through the API: each warehouse releases, picks, packs and hands over its own shipment; the order is
where its least advanced shipment is (picking as soon as one is released); the ledger and the
timeline stay right after every step."""

from __future__ import annotations

import pypdfium2
from sqlalchemy import select

from floor_helpers import op, order_status, place, release, scan, take
from test_stock_ledger import assert_ledger_consistent

from qoima.db import tables as t

BARCODE = {"SKU-1": "4870000009015", "SKU-2": "4870000009022", "SKU-3": "4870000009039"}


def _shipments(engine, order_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(t.warehouses.c.code, t.shipments.c.status)
            .join(t.warehouses, t.warehouses.c.id == t.shipments.c.warehouse_id)
            .where(t.shipments.c.order_id == order_id).order_by(t.shipments.c.seq))]


def _pick_all(client, world, warehouse: str) -> dict:
    task = take(client, world, warehouse=warehouse)
    while not task["done"]:
        cur = task["current"]
        assert scan(client, world, task["id"], cur["location"])["ok"]
        r = scan(client, world, task["id"], BARCODE[cur["sku"]], quantity=cur["quantity"] - cur["picked"])
        assert r["ok"], r
        task = r["task"]
    return task


def _pack(client, world, order_id: int, warehouse: str, items: list[str], weight: int = 500) -> dict:
    h = world.headers("worker")
    for sku in items:
        r = client.post(f"/api/v1/floor/pack/{order_id}/scans?lang=en", headers=h,
                        json={"op_id": op(), "raw": BARCODE[sku], "warehouse": warehouse})
        assert r.status_code == 200 and r.json()["ok"], r.text
    r = client.post(f"/api/v1/floor/pack/{order_id}/close?lang=en", headers=h,
                    json={"op_id": op(), "parcels": [{"weight_g": weight}], "warehouse": warehouse})
    assert r.status_code == 200, r.text
    return r.json()


def _hand_over(client, world, warehouse: str, trackings: list[str]) -> dict:
    h = world.headers("worker")
    m = client.post("/api/v1/floor/manifests", json={"warehouse": warehouse, "carrier": "courier"}, headers=h).json()
    for tracking in trackings:
        r = client.post(f"/api/v1/floor/manifests/{m['id']}/scans?lang=en", headers=h,
                        json={"op_id": op(), "raw": tracking})
        assert r.json()["ok"], r.text
    r = client.post(f"/api/v1/floor/manifests/{m['id']}/close?lang=en", json={"op_id": op()}, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def test_each_warehouse_ships_its_own_shipment_and_the_order_follows_the_least_advanced(client, world):
    order = place(client, world, "W-1", [("SKU-1", 2), ("SKU-2", 1)])  # SKU-1 only in ALA, SKU-2 only in AST
    assert _shipments(world.engine, order) == [("ALA", "allocated"), ("AST", "allocated")]
    release(client, world, "ALA")  # one warehouse released: the order is picking, AST waits for its own wave
    assert order_status(world.engine, order) == "picking"
    assert _shipments(world.engine, order) == [("ALA", "picking"), ("AST", "allocated")]
    assert_ledger_consistent(world.engine)

    ala = _pick_all(client, world, "ALA")
    assert order_status(world.engine, order) == "picking"  # AST not picked yet
    assert _shipments(world.engine, order) == [("ALA", "picked"), ("AST", "allocated")]
    tote = f"T{ala['id']}-{ala['stops'][0]['tote']}"
    r = client.get("/api/v1/floor/pack", params={"code": tote}, headers=world.headers("worker"))
    assert r.status_code == 200, r.text
    view = r.json()  # the tote names the ALA shipment: only what ALA picked is packed here
    assert view["warehouse"] == "ALA" and [(x["sku"], x["quantity"]) for x in view["lines"]] == [("SKU-1", 2)]
    wrong = client.post(f"/api/v1/floor/pack/{order}/scans?lang=en", headers=world.headers("worker"),
                        json={"op_id": op(), "raw": BARCODE["SKU-2"], "warehouse": "ALA"}).json()
    assert not wrong["ok"] and wrong["code"] == "floor.pack_not_in_order"  # SKU-2 is AST's to pack
    early = client.post(f"/api/v1/floor/pack/{order}/scans?lang=en", headers=world.headers("worker"),
                        json={"op_id": op(), "raw": BARCODE["SKU-2"], "warehouse": "AST"})
    assert early.status_code == 409 and early.json()["code"] == "floor.not_picked", early.text
    packed_ala = _pack(client, world, order, "ALA", ["SKU-1", "SKU-1"])
    assert packed_ala["warehouse"] == "ALA" and packed_ala["order_status"] == "picking"
    assert _shipments(world.engine, order) == [("ALA", "packed"), ("AST", "allocated")]
    assert_ledger_consistent(world.engine)

    # ALA's parcel leaves before AST has even picked: the shipment is shipped, the order is not
    closed = _hand_over(client, world, "ALA", [p["tracking"] for p in packed_ala["parcels"]])
    assert closed["shipped"] == [] and closed["missing"] == []
    assert _shipments(world.engine, order) == [("ALA", "shipped"), ("AST", "allocated")]
    assert order_status(world.engine, order) == "picking"
    assert_ledger_consistent(world.engine)
    # half of it is with the courier: cancelling would put units that left back on the shelf
    r = client.post(f"/api/v1/orders/{order}/transitions?lang=en", json={"status": "cancelled", "reason": "buyer"},
                    headers=world.headers("manager"))
    assert r.status_code == 409 and r.json()["code"] == "orders.part_shipped", r.text
    assert order_status(world.engine, order) == "picking"

    release(client, world, "AST")
    _pick_all(client, world, "AST")
    assert order_status(world.engine, order) == "picked"
    by_number = client.get("/api/v1/floor/pack", params={"code": "W-1"}, headers=world.headers("worker")).json()
    assert by_number["warehouse"] == "AST"  # the one shipment waiting for packing
    packed_ast = _pack(client, world, order, "AST", ["SKU-2"])
    slip = client.get(f"/api/v1/floor/orders/{order}/slip.pdf?lang=en&warehouse=AST", headers=world.headers("worker"))
    text = pypdfium2.PdfDocument(slip.content)[0].get_textpage().get_text_range()
    assert "SKU-2" in text and "SKU-1" not in text  # the slip of the AST parcel lists what it holds
    assert packed_ast["order_status"] == "packed"
    assert order_status(world.engine, order) == "packed"
    closed = _hand_over(client, world, "AST", [p["tracking"] for p in packed_ast["parcels"]])
    assert closed["shipped"] == ["W-1"]
    assert order_status(world.engine, order) == "shipped"
    assert _shipments(world.engine, order) == [("ALA", "shipped"), ("AST", "shipped")]
    with world.engine.connect() as conn:
        reasons = conn.execute(select(t.order_events.c.reason).where(t.order_events.c.order_id == order)
                               .order_by(t.order_events.c.id)).scalars().all()
    assert any(x.startswith("packed in ALA") for x in reasons) and any(x.startswith("packed in AST") for x in reasons)
    assert any("(from ALA)" in x for x in reasons)
    assert_ledger_consistent(world.engine)


def test_an_order_number_with_two_shipments_to_pack_asks_for_the_warehouse(client, world):
    order = place(client, world, "W-2", [("SKU-1", 1), ("SKU-2", 1)])
    for wh in ("ALA", "AST"):
        release(client, world, wh)
        _pick_all(client, world, wh)
    assert order_status(world.engine, order) == "picked"
    h = world.headers("worker")
    r = client.get("/api/v1/floor/pack?lang=ru", params={"code": "W-2"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "floor.pack_choose_warehouse", r.text
    assert r.json()["params"]["warehouses"] == ["ALA", "AST"]
    r = client.post(f"/api/v1/floor/pack/{order}/scans?lang=en", json={"op_id": op(), "raw": BARCODE["SKU-1"]},
                    headers=h)
    assert r.status_code == 409 and r.json()["code"] == "floor.pack_choose_warehouse", r.text
    nowhere = client.get("/api/v1/floor/pack", params={"code": "W-2", "warehouse": "NOWHERE"}, headers=h)
    assert nowhere.status_code == 404 and nowhere.json()["code"] == "floor.pack_not_here"
    there = client.get("/api/v1/floor/pack", params={"code": "W-2", "warehouse": "AST"}, headers=h)
    assert there.status_code == 200 and [x["sku"] for x in there.json()["lines"]] == ["SKU-2"]
    _pack(client, world, order, "AST", ["SKU-2"])
    assert order_status(world.engine, order) == "picked"  # ALA still to pack
    again = client.get("/api/v1/floor/pack", params={"code": "W-2"}, headers=h).json()
    assert again["warehouse"] == "ALA"  # now only one waits
    _pack(client, world, order, "ALA", ["SKU-1"])
    assert order_status(world.engine, order) == "packed"
    assert_ledger_consistent(world.engine)


def test_a_held_order_keeps_its_packed_shipment_off_the_manifest(client, world):
    order = place(client, world, "W-3", [("SKU-1", 1), ("SKU-2", 1)])
    release(client, world, "ALA")
    _pick_all(client, world, "ALA")
    packed = _pack(client, world, order, "ALA", ["SKU-1"])
    r = client.post(f"/api/v1/orders/{order}/transitions", json={"status": "on_hold", "reason": "fraud check"},
                    headers=world.headers("manager"))
    assert r.status_code == 200, r.text
    h = world.headers("worker")
    m = client.post("/api/v1/floor/manifests", json={"warehouse": "ALA", "carrier": "courier"}, headers=h).json()
    assert m["waiting"] == []
    refused = client.post(f"/api/v1/floor/manifests/{m['id']}/scans?lang=en", headers=h,
                          json={"op_id": op(), "raw": packed["parcels"][0]["tracking"]}).json()
    assert not refused["ok"] and refused["code"] == "floor.parcel_not_packed"
    assert _shipments(world.engine, order) == [("ALA", "packed"), ("AST", "allocated")]
    assert_ledger_consistent(world.engine)


def test_an_order_moved_by_hand_packs_in_each_warehouse_what_was_taken_there(client, world):
    order = place(client, world, "W-4", [("SKU-1", 2), ("SKU-2", 1)])
    h = world.headers("manager")
    for status in ("picking", "picked"):  # staff clicks, no wave: the ledger takes the reserved units
        r = client.post(f"/api/v1/orders/{order}/transitions", json={"status": status}, headers=h)
        assert r.status_code == 200, r.text
    assert _shipments(world.engine, order) == [("ALA", "picked"), ("AST", "picked")]
    w = world.headers("worker")
    ala = client.get("/api/v1/floor/pack", params={"code": "W-4", "warehouse": "ALA"}, headers=w).json()
    ast = client.get("/api/v1/floor/pack", params={"code": "W-4", "warehouse": "AST"}, headers=w).json()
    assert [(x["sku"], x["quantity"]) for x in ala["lines"]] == [("SKU-1", 2)]
    assert [(x["sku"], x["quantity"]) for x in ast["lines"]] == [("SKU-2", 1)]
    _pack(client, world, order, "ALA", ["SKU-1", "SKU-1"])
    _pack(client, world, order, "AST", ["SKU-2"])
    assert order_status(world.engine, order) == "packed"
    assert_ledger_consistent(world.engine)
