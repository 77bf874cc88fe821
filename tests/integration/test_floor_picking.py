"""Scan rules of the pick walk, on SQLite and PostgreSQL, through the API: wrong location, wrong item,
marking codes (required, seen twice, GS lost and rebuilt), over-pick, undo, short pick, a retried
operation id; every accepted unit is one ledger pick and the ledger stays consistent."""

from __future__ import annotations

from sqlalchemy import func, select

from floor_helpers import (add_marked_product, marking_code, movements, on_hand, op, order_status, place,
                           receive, release, scan, take)
from test_stock_ledger import assert_ledger_consistent

from qoima.db import tables as t


def _count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_release_makes_one_task_with_a_tote_per_order_and_moves_the_orders_to_picking(client, world):
    a = place(client, world, "W-1", [("SKU-1", 2)])
    b = place(client, world, "W-2", [("SKU-1", 1), ("SKU-3", 1)])
    wave = release(client, world)
    assert wave["released"] == 2 and wave["refused"] == []
    assert order_status(world.engine, a) == order_status(world.engine, b) == "picking"
    task = take(client, world)
    totes = {s["order"]: s["tote"] for s in task["stops"]}
    assert sorted(totes) == ["W-1", "W-2"] and len(set(totes.values())) == 2
    assert sum(s["quantity"] for s in task["stops"]) == 4
    assert task["current"]["expect"] == "location"
    # released once: a second release finds nothing
    r = client.post("/api/v1/floor/waves", json={"warehouse": "ALA"}, headers=world.headers("manager"))
    assert r.status_code == 409 and r.json()["code"] == "floor.nothing_to_release"
    assert_ledger_consistent(world.engine)


def test_release_refuses_a_shipment_that_is_not_fully_reserved(client, world):
    short = place(client, world, "W-SHORT", [("SKU-3", 9)])  # 2 in ALA: backordered, never allocated
    assert order_status(world.engine, short) == "backordered"
    r = client.post("/api/v1/floor/waves", json={"warehouse": "ALA"}, headers=world.headers("manager"))
    assert r.status_code == 409
    r = client.post("/api/v1/floor/waves", json={"warehouse": "ALA"}, headers=world.headers("worker"))
    assert r.status_code == 403


def test_wrong_location_wrong_item_retry_over_pick_and_undo(client, world):
    order = place(client, world, "W-3", [("SKU-1", 2)])
    release(client, world)
    task = take(client, world)
    tid = task["id"]
    r = scan(client, world, tid, "A-02")
    assert not r["ok"] and r["code"] == "floor.wrong_location"
    assert r["message"] == "wrong location: you are at A-02, go to A-01"
    r = scan(client, world, tid, "4870000009015")  # the item before the location
    assert not r["ok"] and r["code"] == "floor.location_first"
    assert scan(client, world, tid, "a-01")["ok"]  # typed, lower case
    r = scan(client, world, tid, "4870000009022")
    assert not r["ok"] and r["message"] == "this is Item 2, the line wants Item 1"
    r = scan(client, world, tid, "0000000000000")
    assert not r["ok"] and r["code"] == "floor.unknown_item"
    before = on_hand(world.engine, "seller-a", "SKU-1", "ALA", "A-01")
    key = op()
    first = scan(client, world, tid, "4870000009015", op_id=key)
    assert first["ok"] and first["message"] == "1 of 2 × Item 1 into tote 1"
    again = client.post(f"/api/v1/floor/tasks/{tid}/scans?lang=en", headers=world.headers("worker"),
                        json={"op_id": key, "raw": "4870000009015", "quantity": 1})
    assert again.status_code == 200 and again.headers.get("idempotent-replay") == "true"
    assert again.json()["params"] == first["params"]
    assert movements(world.engine, "pick", f"order:{order}") == 1
    assert on_hand(world.engine, "seller-a", "SKU-1", "ALA", "A-01") == (before[0] - 1, before[1] - 1)
    r = scan(client, world, tid, "4870000009015", quantity=2)
    assert not r["ok"] and r["message"] == "over-pick: the line wants 2, 1 already picked"
    assert_ledger_consistent(world.engine)
    u = client.post(f"/api/v1/floor/tasks/{tid}/undo?lang=en", headers=world.headers("worker"), json={"op_id": op()})
    assert u.status_code == 200 and u.json()["ok"], u.text
    assert on_hand(world.engine, "seller-a", "SKU-1", "ALA", "A-01") == before  # back on the shelf, reserved again
    assert movements(world.engine, "return", f"order:{order}") == 1
    assert_ledger_consistent(world.engine)
    r = scan(client, world, tid, "4870000009015", quantity=2)
    assert r["ok"] and r.get("finished") and r["task"]["done"]
    assert order_status(world.engine, order) == "picked"
    assert_ledger_consistent(world.engine)
    refused = _count(world.engine, t.floor_scans, t.floor_scans.c.accepted.is_(False))
    assert refused == 5
    # every pick and the undo are timeline entries of the order, by the worker
    with world.engine.connect() as conn:
        notes = conn.execute(select(t.order_events.c.reason).where(
            t.order_events.c.order_id == order, t.order_events.c.actor == "worker@qoima.local")
            .order_by(t.order_events.c.id)).scalars().all()
    assert [n.split(":")[0].split(" ")[0] for n in notes[:3]] == ["picked", "pick", "picked"], notes
    # the board counts them: scans refused, lines picked per picker
    from qoima.floor.services import board
    from qoima.platform.unit_of_work import UnitOfWork
    with UnitOfWork(world.engine) as uow:
        b = board.board(uow, world.warehouses["ALA"])
    assert b["scans_refused"] == 5 and b["pickers"][0]["actor"] == "worker@qoima.local"
    assert b["pickers"][0]["lines"] == 1 and b["pick_accuracy"] == 1.0
    assert b["waves"][0]["picked"] == 2 and b["states"]["picked"]["due"] + b["states"]["picked"]["late"] == 1


def test_marking_code_required_seen_twice_refused_and_gs_lost_is_rebuilt(client, world):
    add_marked_product(world.engine)
    order = place(client, world, "W-4", [("MARKED", 2)])
    release(client, world)
    tid = take(client, world)["id"]
    assert scan(client, world, tid, "A-02")["ok"]
    r = scan(client, world, tid, "4870000009046")  # the plain EAN is not enough
    assert not r["ok"] and r["code"] == "floor.marking_needed"
    assert scan(client, world, tid, "]d2" + marking_code("5ABCDEFGHIJKL"))["ok"]
    r = scan(client, world, tid, marking_code("5ABCDEFGHIJKL", gs=False))  # GS dropped by the scanner
    assert not r["ok"] and r["code"] == "floor.marking_seen"
    r = scan(client, world, tid, marking_code("5ZYXWVUTSRQPO", gs=False), quantity=1)
    assert r["ok"], r
    assert _count(world.engine, t.marking_codes) == 2
    with world.engine.connect() as conn:
        codes = set(conn.execute(select(t.marking_codes.c.code)).scalars())
    assert all("\x1d" in c for c in codes)
    assert order_status(world.engine, order) == "picked"
    assert_ledger_consistent(world.engine)


def test_short_pick_writes_off_the_shelf_resources_elsewhere_and_opens_an_exception_task(client, world):
    receive(world.engine, "seller-a", "SKU-3", 4, "ALA", "A-02")  # A-01 has 2, A-02 has 4
    order = place(client, world, "W-5", [("SKU-3", 2)])
    release(client, world)
    task = take(client, world)
    tid = task["id"]
    stop = task["current"]["location"]
    other = "A-02" if stop == "A-01" else "A-01"
    assert scan(client, world, tid, stop)["ok"]
    r = client.post(f"/api/v1/floor/tasks/{tid}/short?lang=en", headers=world.headers("worker"),
                    json={"op_id": op(), "found": 0})
    assert r.status_code == 200 and r.json()["ok"], r.text
    body = r.json()
    assert body["params"]["missing"] == 2 and body["params"]["resourced"] == 2 and body["params"]["stops"] == other
    assert on_hand(world.engine, "seller-a", "SKU-3", "ALA", stop)[0] == 0
    assert _count(world.engine, t.pick_tasks, t.pick_tasks.c.kind == "exception") == 1
    from qoima.floor.services import board
    from qoima.platform.unit_of_work import UnitOfWork
    with UnitOfWork(world.engine) as uow:  # on the board, for the shift lead
        assert board.board(uow, world.warehouses["ALA"])["exceptions"][0]["note"].startswith(
            "short pick: 2 x SKU-3 missing at")
    with world.engine.connect() as conn:
        reasons = conn.execute(select(t.stock_movements.c.reason).where(
            t.stock_movements.c.kind == "adjustment")).scalars().all()
    assert reasons and all(r.startswith("short pick") for r in reasons)
    assert_ledger_consistent(world.engine)
    assert scan(client, world, tid, other)["ok"]
    assert scan(client, world, tid, "4870000009039", quantity=2)["ok"]
    assert order_status(world.engine, order) == "picked"
    assert_ledger_consistent(world.engine)


def test_short_pick_with_nothing_elsewhere_puts_the_order_in_exception(client, world):
    order = place(client, world, "W-6", [("SKU-1", 3)])
    release(client, world)
    tid = take(client, world)["id"]
    assert scan(client, world, tid, "A-01")["ok"]
    assert scan(client, world, tid, "4870000009015")["ok"]
    r = client.post(f"/api/v1/floor/tasks/{tid}/short?lang=en", headers=world.headers("worker"),
                    json={"op_id": op(), "found": 0})
    assert r.json()["ok"] and r.json()["params"]["resourced"] == 0
    assert order_status(world.engine, order) == "exception"
    assert_ledger_consistent(world.engine)


def test_a_seller_sees_nothing_of_the_floor(client, world):
    place(client, world, "W-7", [("SKU-1", 1)])
    release(client, world)
    tid = take(client, world)["id"]
    for method, path, body in (("POST", "/api/v1/floor/tasks/next", {}), ("GET", f"/api/v1/floor/tasks/{tid}", None),
                               ("POST", f"/api/v1/floor/tasks/{tid}/scans", {"op_id": "x", "raw": "A-01"})):
        r = client.request(method, path, json=body, headers=world.headers("seller_a"))
        assert r.status_code == 403, (path, r.text)


def test_cancel_after_a_partial_pick_puts_the_picked_units_back_once(client, world):
    order = place(client, world, "W-8", [("SKU-1", 3)])
    before = on_hand(world.engine, "seller-a", "SKU-1", "ALA", "A-01")
    release(client, world)
    tid = take(client, world)["id"]
    assert scan(client, world, tid, "A-01")["ok"]
    assert scan(client, world, tid, "4870000009015", quantity=2)["ok"]
    u = client.post(f"/api/v1/floor/tasks/{tid}/undo", headers=world.headers("worker"), json={"op_id": op()})
    assert u.json()["ok"]  # one of the two back on the shelf already
    r = client.post(f"/api/v1/orders/{order}/cancel", headers=world.headers("manager"), json={"reason": "test"})
    assert r.status_code == 200, r.text
    assert order_status(world.engine, order) == "cancelled"
    assert on_hand(world.engine, "seller-a", "SKU-1", "ALA", "A-01") == (before[0], 0)  # all back, none held
    assert movements(world.engine, "pick", f"order:{order}") == 2
    assert movements(world.engine, "return", f"order:{order}") == 2  # the undo's one and the cancel's one
    assert_ledger_consistent(world.engine)
    r = scan(client, world, tid, "4870000009015")  # its only order is gone: the walk is over, not stuck
    assert not r["ok"] and r["code"] == "floor.task_done" and r["task"]["status"] == "done", r


def test_a_walk_goes_on_without_the_stops_of_an_order_cancelled_meanwhile(client, world):
    a = place(client, world, "W-10", [("SKU-3", 1)])
    b = place(client, world, "W-11", [("SKU-1", 1)])
    release(client, world)
    task = take(client, world)
    assert {s["order"] for s in task["stops"]} == {"W-10", "W-11"}
    gone = task["current"]["order"]
    r = client.post(f"/api/v1/orders/{a if gone == 'W-10' else b}/cancel", headers=world.headers("manager"),
                    json={"reason": "buyer changed their mind"})
    assert r.status_code == 200, r.text
    r = client.get(f"/api/v1/floor/tasks/{task['id']}", headers=world.headers("worker"))
    cur = r.json()["current"]
    assert cur["order"] != gone  # the cancelled order's stop is skipped
    assert scan(client, world, task["id"], cur["location"])["ok"]
    done = scan(client, world, task["id"], {"SKU-1": "4870000009015", "SKU-3": "4870000009039"}[cur["sku"]])
    assert done["ok"] and done.get("finished") and done["task"]["status"] == "done"
    kept = b if gone == "W-10" else a
    assert order_status(world.engine, kept) == "picked"
    r = client.post("/api/v1/floor/tasks/next?lang=en", json={"warehouse": "ALA"}, headers=world.headers("worker"))
    assert r.status_code == 200 and r.json()["task"] is None, r.text
    assert_ledger_consistent(world.engine)


def test_a_walk_whose_every_order_was_cancelled_is_closed_when_the_picker_asks_for_work(client, world):
    a = place(client, world, "W-12", [("SKU-1", 1)])
    release(client, world)
    task = take(client, world)
    assert client.post(f"/api/v1/orders/{a}/cancel", headers=world.headers("manager"),
                       json={"reason": "fraud"}).status_code == 200
    r = client.post("/api/v1/floor/tasks/next?lang=en", json={"warehouse": "ALA"}, headers=world.headers("worker"))
    assert r.status_code == 200 and r.json()["task"] is None, r.text
    r = client.get(f"/api/v1/floor/tasks/{task['id']}", headers=world.headers("worker"))
    assert r.json()["status"] == "done"
    assert_ledger_consistent(world.engine)


def test_an_order_in_exception_after_a_short_pick_is_re_sourced_only_when_its_missing_units_exist(client, world):
    order = place(client, world, "W-9", [("SKU-1", 3)])
    release(client, world)
    tid = take(client, world)["id"]
    assert scan(client, world, tid, "A-01")["ok"]
    client.post(f"/api/v1/floor/tasks/{tid}/short", headers=world.headers("worker"), json={"op_id": op(), "found": 0})
    assert order_status(world.engine, order) == "exception"
    r = client.post(f"/api/v1/orders/{order}/resource", headers=world.headers("manager"))  # nowhere to be had
    assert r.status_code == 409 and r.json()["code"] == "orders.still_missing", r.text
    assert order_status(world.engine, order) == "exception"
    assert_ledger_consistent(world.engine)
    r = client.post(f"/api/v1/orders/{order}/cancel", headers=world.headers("manager"), json={"reason": "short"})
    assert r.status_code == 200 and order_status(world.engine, order) == "cancelled"
    assert_ledger_consistent(world.engine)
