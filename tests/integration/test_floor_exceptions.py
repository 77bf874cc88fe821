"""Short picks re-sourced across warehouses and floor exceptions resolved by the shift lead, on SQLite and
PostgreSQL through the API; the ledger stays consistent after every step."""

from __future__ import annotations

from sqlalchemy import select

from floor_helpers import movements, on_hand, op, order_status, place, receive, release, scan, take
from test_stock_ledger import assert_ledger_consistent

from qoima.db import tables as t


def _short(client, world, tid: int, found: int = 0) -> dict:
    r = client.post(f"/api/v1/floor/tasks/{tid}/short?lang=en", headers=world.headers("worker"),
                    json={"op_id": op(), "found": found})
    assert r.status_code == 200 and r.json()["ok"], r.text
    return r.json()


def _exception_id(engine, order_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(select(t.pick_tasks.c.id).where(t.pick_tasks.c.kind == "exception",
                                                            t.pick_tasks.c.order_id == order_id)).scalar_one()


def _resolve(client, world, xid: int, who: str = "manager", **body):
    return client.post(f"/api/v1/floor/exceptions/{xid}/resolve?lang=en", headers=world.headers(who),
                       json={"op_id": body.pop("op_id", None) or op(), **body})


def _shipments(engine, order_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(t.warehouses.c.code, t.shipments.c.seq, t.shipments.c.status)
            .join(t.warehouses, t.warehouses.c.id == t.shipments.c.warehouse_id)
            .where(t.shipments.c.order_id == order_id).order_by(t.shipments.c.seq))]


def test_short_pick_with_stock_in_a_second_warehouse_ships_the_rest_from_there(client, world):
    order = place(client, world, "X-1", [("SKU-3", 2)])  # ALA has 2, AST 3: one parcel from ALA
    assert _shipments(world.engine, order) == [("ALA", 1, "allocated")]
    release(client, world)
    tid = take(client, world)["id"]
    assert scan(client, world, tid, "A-01")["ok"]
    assert scan(client, world, tid, "4870000009039")["ok"]  # one of two
    body = _short(client, world, tid)
    assert body["params"]["missing"] == 1 and body["params"]["resourced"] == 1 and body["params"]["stops"] == "AST"
    assert order_status(world.engine, order) == "picking"  # the ALA walk is done, AST still to pick
    assert _shipments(world.engine, order) == [("ALA", 1, "picked"), ("AST", 2, "allocated")]  # AST: its own wave
    assert on_hand(world.engine, "seller-a", "SKU-3", "AST", "A-01") == (3, 1)
    assert_ledger_consistent(world.engine)
    wave = release(client, world, "AST")  # the second warehouse's shipment of an order already picking
    assert wave["released"] == 1
    task = take(client, world, warehouse="AST")
    assert [s["order"] for s in task["stops"]] == ["X-1"] and task["stops"][0]["quantity"] == 1
    assert scan(client, world, task["id"], "A-01")["ok"]
    r = scan(client, world, task["id"], "4870000009039")
    assert r["ok"] and r.get("finished")
    assert order_status(world.engine, order) == "picked"
    assert movements(world.engine, "pick", f"order:{order}") == 2
    assert_ledger_consistent(world.engine)


def test_short_pick_with_no_stock_anywhere_then_resolved_by_re_source_after_a_receipt(client, world):
    order = place(client, world, "X-2", [("SKU-1", 3)])  # only ALA has SKU-1 of seller A
    release(client, world)
    tid = take(client, world)["id"]
    assert scan(client, world, tid, "A-01")["ok"]
    assert scan(client, world, tid, "4870000009015")["ok"]
    assert _short(client, world, tid)["params"]["resourced"] == 0
    assert order_status(world.engine, order) == "exception"
    xid = _exception_id(world.engine, order)
    r = _resolve(client, world, xid, action="resource")  # nothing arrived yet: 409, nothing changes
    assert r.status_code == 409 and r.json()["code"] == "orders.still_missing", r.text
    assert_ledger_consistent(world.engine)
    receive(world.engine, "seller-a", "SKU-1", 5, "ALA", "A-02")
    key = op()
    r = _resolve(client, world, xid, action="resource", op_id=key)
    assert r.status_code == 200 and r.json()["code"] == "floor.exception_resourced", r.text
    again = _resolve(client, world, xid, action="resource", op_id=key)
    assert again.status_code == 200 and again.headers.get("idempotent-replay") == "true"
    assert order_status(world.engine, order) == "picking"
    assert on_hand(world.engine, "seller-a", "SKU-1", "ALA", "A-02") == (5, 2)  # reserved once, not twice
    assert_ledger_consistent(world.engine)
    board = client.get("/api/v1/floor/exceptions/%s" % xid, headers=world.headers("manager")).json()
    assert board["resolution"] == "resource" and board["resolved_by"] == "manager@qoima.local"
    wave = release(client, world)  # the ALA shipment is waved again for the two units re-sourced
    assert wave["released"] == 1
    task = take(client, world)
    assert scan(client, world, task["id"], "A-02")["ok"]
    assert scan(client, world, task["id"], "4870000009015", quantity=2)["ok"]
    assert order_status(world.engine, order) == "picked"
    assert_ledger_consistent(world.engine)
    r = _resolve(client, world, xid, action="close", note="again")
    assert r.status_code == 409 and r.json()["code"] == "floor.exception_resolved"


def test_resolve_by_cancel_puts_the_picked_units_back_and_close_needs_a_note(client, world):
    order = place(client, world, "X-3", [("SKU-1", 3)])
    release(client, world)
    tid = take(client, world)["id"]
    assert scan(client, world, tid, "A-01")["ok"]
    assert scan(client, world, tid, "4870000009015")["ok"]
    _short(client, world, tid)
    xid = _exception_id(world.engine, order)
    r = _resolve(client, world, xid, who="worker", action="close", note="x")
    assert r.status_code == 403
    r = _resolve(client, world, xid, action="cancel")
    assert r.status_code == 422 and r.json()["field"] == "note", r.text
    r = _resolve(client, world, xid, action="explode", note="x")
    assert r.status_code == 422 and r.json()["field"] == "action", r.text
    r = _resolve(client, world, xid, action="cancel", note="customer gave up")
    assert r.status_code == 200, r.text
    assert order_status(world.engine, order) == "cancelled"
    assert movements(world.engine, "return", f"order:{order}") == 1  # the picked unit back on its shelf
    # the short pick wrote off every free unit the books showed on the shelf; the picked one is back
    assert on_hand(world.engine, "seller-a", "SKU-1", "ALA", "A-01") == (1, 0)
    with world.engine.connect() as conn:
        notes = conn.execute(select(t.order_events.c.reason).where(
            t.order_events.c.order_id == order, t.order_events.c.actor == "manager@qoima.local")).scalars().all()
    assert any("floor exception" in n for n in notes), notes
    b = client.get("/api/v1/floor/exceptions/%s" % xid, headers=world.headers("manager")).json()
    assert b["open"] is False and b["resolution"] == "cancel"
    assert_ledger_consistent(world.engine)


def test_close_with_a_note_takes_the_exception_off_the_board(client, world):
    receive(world.engine, "seller-a", "SKU-3", 4, "ALA", "A-02")
    order = place(client, world, "X-4", [("SKU-3", 2)])
    release(client, world)
    tid = take(client, world)["id"]
    stop = take(client, world)["current"]["location"]
    assert scan(client, world, tid, stop)["ok"]
    _short(client, world, tid)
    xid = _exception_id(world.engine, order)
    from qoima.floor.services import board
    from qoima.platform.unit_of_work import UnitOfWork
    with UnitOfWork(world.engine) as uow:
        assert [x["id"] for x in board.board(uow, world.warehouses["ALA"])["exceptions"]] == [xid]
    r = _resolve(client, world, xid, action="close")
    assert r.status_code == 422 and r.json()["field"] == "note"
    r = _resolve(client, world, xid, action="close", note="shelf recounted, units found in returns")
    assert r.status_code == 200 and r.json()["code"] == "floor.exception_closed", r.text
    with UnitOfWork(world.engine) as uow:
        assert board.board(uow, world.warehouses["ALA"])["exceptions"] == []
    assert order_status(world.engine, order) == "picking"
    assert client.get(f"/api/v1/floor/exceptions/{xid}", headers=world.headers("seller_a")).status_code == 403
    assert_ledger_consistent(world.engine)
