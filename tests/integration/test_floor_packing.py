"""Packing and handover through the API, on SQLite and PostgreSQL: every item scanned again (missing and
extra blocked), the box suggested, parcels with tracking numbers, labels (PDF, ZPL) and the slip, the
order packed; a manifest per carrier, parcels scanned onto it, closing ships the orders and lists what
was expected but not scanned."""

from __future__ import annotations

from floor_helpers import op, order_status, place, release, scan, take
from test_stock_ledger import assert_ledger_consistent

from qoima.floor.services.packing import s10_tracking


def _pick_all(client, world, task):
    tid = task["id"]
    while not task["done"]:
        cur = task["current"]
        assert scan(client, world, tid, cur["location"])["ok"]
        barcode = {"SKU-1": "4870000009015", "SKU-2": "4870000009022", "SKU-3": "4870000009039"}[cur["sku"]]
        r = scan(client, world, tid, barcode, quantity=cur["quantity"] - cur["picked"])
        assert r["ok"], r
        task = r["task"]


def test_s10_tracking_numbers_carry_their_check_digit():
    assert s10_tracking(47312482) == "QM473124829KZ"  # the UPU S10 example: 47312482 -> check 9
    assert len({s10_tracking(n) for n in range(1, 2000)}) == 1999


def test_pick_pack_label_handover_ships_the_order(client, world):
    h = world.headers("worker")
    box = {"code": "M", "length_mm": 350, "width_mm": 250, "height_mm": 150, "max_weight_g": 10000}
    assert client.put("/api/v1/floor/boxes/M", json=box, headers=h).status_code == 403  # the office sets boxes
    assert client.put("/api/v1/floor/boxes/M", json=box, headers=world.headers("manager")).status_code == 200
    a = place(client, world, "P-1", [("SKU-1", 2), ("SKU-3", 1)])
    b = place(client, world, "P-2", [("SKU-1", 1)])
    release(client, world)
    task = take(client, world)
    _pick_all(client, world, task)
    assert order_status(world.engine, a) == order_status(world.engine, b) == "picked"
    tote = next(s["tote"] for s in task["stops"] if s["order"] == "P-1")
    r = client.get("/api/v1/floor/pack", params={"code": f"T{task['id']}-{tote}"}, headers=h)
    assert r.status_code == 200 and r.json()["order"] == "P-1", r.text
    pack = r.json()
    assert pack["box"] is not None and not pack["complete"]  # a box that holds the items
    url = f"/api/v1/floor/pack/{a}"
    closing = {"op_id": op(), "parcels": [{"weight_g": 900}]}
    r = client.post(f"{url}/close?lang=en", json=closing, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "floor.pack_missing"
    ok = client.post(f"{url}/scans?lang=en", json={"op_id": op(), "raw": "4870000009015"}, headers=h).json()
    assert ok["ok"] and ok["message"] == "1 of 2 × Item 1"
    bad = client.post(f"{url}/scans?lang=en", json={"op_id": op(), "raw": "4870000009022"}, headers=h).json()
    assert not bad["ok"] and bad["code"] == "floor.pack_not_in_order"
    for raw in ("4870000009015", "4870000009039"):
        assert client.post(f"{url}/scans", json={"op_id": op(), "raw": raw}, headers=h).json()["ok"]
    extra = client.post(f"{url}/scans?lang=en", json={"op_id": op(), "raw": "4870000009015"}, headers=h).json()
    assert not extra["ok"] and extra["message"] == "extra Item 1: the order has 2"
    r = client.post(f"{url}/close?lang=en", json={"op_id": op(), "parcels": [{"weight_g": 900}, {"weight_g": 300}]},
                    headers=h)
    assert r.status_code == 200, r.text
    parcels = r.json()["parcels"]
    assert len(parcels) == 2 and all(p["tracking"].startswith("QM") for p in parcels)
    assert order_status(world.engine, a) == "packed"
    pdf = client.get(f"/api/v1/floor/parcels/{parcels[0]['id']}/label.pdf", headers=h)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    zpl = client.get(f"/api/v1/floor/parcels/{parcels[0]['id']}/label.zpl", headers=h)
    assert zpl.status_code == 200 and zpl.text.startswith("^XA") and parcels[0]["tracking"] in zpl.text
    assert client.get(f"/api/v1/floor/parcels/{parcels[0]['id']}/label.zpl", headers=h).text == zpl.text  # reprint
    slip = client.get(f"/api/v1/floor/orders/{a}/slip.pdf", headers=h)
    assert slip.status_code == 200 and slip.content.startswith(b"%PDF")
    # P-2 packed too: its parcel is expected on the manifest but will not be scanned
    for raw in ("4870000009015",):
        assert client.post(f"/api/v1/floor/pack/{b}/scans", json={"op_id": op(), "raw": raw}, headers=h).json()["ok"]
    r2 = client.post(f"/api/v1/floor/pack/{b}/close", json={"op_id": op(), "parcels": [{"weight_g": 400}]}, headers=h)
    assert r2.status_code == 200
    m = client.post("/api/v1/floor/manifests", json={"warehouse": "ALA", "carrier": "courier"}, headers=h).json()
    mid = m["id"]
    assert {p["tracking"] for p in m["waiting"]} == {p["tracking"] for p in parcels} | {r2.json()["parcels"][0]["tracking"]}
    unknown = client.post(f"/api/v1/floor/manifests/{mid}/scans?lang=en", json={"op_id": op(), "raw": "QM000000000KZ"},
                          headers=h).json()
    assert not unknown["ok"] and unknown["code"] == "floor.unknown_parcel"
    for p in parcels:
        assert client.post(f"/api/v1/floor/manifests/{mid}/scans", json={"op_id": op(), "raw": p["tracking"]},
                           headers=h).json()["ok"]
    twice = client.post(f"/api/v1/floor/manifests/{mid}/scans", json={"op_id": op(), "raw": parcels[0]["tracking"]},
                        headers=h).json()
    assert not twice["ok"] and twice["code"] == "floor.parcel_on_manifest"
    closed = client.post(f"/api/v1/floor/manifests/{mid}/close?lang=en", json={"op_id": op()}, headers=h)
    assert closed.status_code == 200, closed.text
    assert closed.json()["shipped"] == ["P-1"] and [x["order"] for x in closed.json()["missing"]] == ["P-2"]
    assert order_status(world.engine, a) == "shipped" and order_status(world.engine, b) == "packed"
    doc = client.get(f"/api/v1/floor/manifests/{mid}/manifest.pdf", headers=h)
    assert doc.status_code == 200 and doc.content.startswith(b"%PDF")
    assert_ledger_consistent(world.engine)


def test_the_label_font_downloads_for_the_floor_and_not_for_sellers(client, world):
    r = client.get("/api/v1/floor/printer-font.zpl", headers=world.headers("worker"))
    assert r.status_code == 200 and r.text.startswith("~DYE:DEJAVU,A,T,"), r.text[:80]
    assert "attachment" in r.headers["content-disposition"]
    size = int(r.text.split(",")[3])
    assert len(r.text.split(",", 5)[5].strip()) == 2 * size  # the whole font, as hex
    assert client.get("/api/v1/floor/printer-font.zpl", headers=world.headers("seller_a")).status_code == 403
