"""Every stock change writes a stock.changed outbox event (product, warehouse,
on-hand, available) in its own transaction, and orders fill their backorders
from that event after the change committed: idempotently, skipping orders that
left `backordered` meanwhile (a hold stays a hold). SQLite and PostgreSQL."""

from __future__ import annotations

from conftest import order_payload
from sqlalchemy import select

from qoima.db import tables as t
from qoima.orders.schemas import OrderIn
from qoima.orders.services import backorders, lifecycle
from qoima.orders.services.intake import submit_order
from qoima.platform import outbox
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn, TransferIn, TransferLineIn
from qoima.stock.services import inbound, inventory
from test_stock_ledger import assert_ledger_consistent, drain_outbox, run


def stock_events(engine, after: int = 0) -> list:
    with engine.connect() as conn:
        return conn.execute(select(t.outbox).where(t.outbox.c.topic == "stock.changed", t.outbox.c.id > after)
                            .order_by(t.outbox.c.id)).all()


def last_id(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(t.outbox.c.id).order_by(t.outbox.c.id.desc()).limit(1)).scalar() or 0


def receipt(sku: str, qty: int, wh: str = "ALA", loc: str = "A-01") -> ReceiptIn:
    return ReceiptIn(seller="seller-a", warehouse=wh, location=loc, supplier="Acme",
                     lines=[ReceiptLineIn(sku=sku, expected=qty, received=qty)])


def place(world, external_id: str, lines) -> dict:
    return submit_order(world.engine, world.principals["seller_a"], OrderIn(**order_payload(external_id, lines)))[0]


def status_and_held(engine, order_id: int) -> tuple[str, int]:
    with engine.connect() as conn:
        status = conn.execute(select(t.orders.c.status).where(t.orders.c.id == order_id)).scalar_one()
        held = sum(conn.execute(select(t.reservations.c.quantity).where(t.reservations.c.order_id == order_id))
                   .scalars())
    return status, held


def test_a_receipt_writes_stock_changed_with_the_committed_counters(world):
    eng, worker = world.engine, world.principals["worker"]
    place(world, "EV-1", [("SKU-1", 4)])  # 4 of the 10 in ALA reserved
    start = last_id(eng)
    run(eng, inbound.receive, worker, receipt("SKU-1", 3))
    run(eng, inbound.receive, worker, receipt("SKU-1", 2, loc="RCV"))  # on the dock of a 'reserve' warehouse
    first, second = stock_events(eng, start)
    assert first.aggregate_id == first.payload["product_id"] and first.seller_id == world.sellers["seller-a"]
    assert {k: v for k, v in first.payload.items() if k != "product_id"} == {
        "sku": "SKU-1", "warehouse_id": world.warehouses["ALA"], "warehouse": "ALA", "on_hand": 13,
        "reserved": 4, "available": 9, "actor": "worker@qoima.local"}
    assert (second.payload["on_hand"], second.payload["reserved"], second.payload["available"]) == (15, 4, 11)
    assert first.status == "pending"


def test_every_stock_use_case_writes_one_event_per_product_and_warehouse(world):
    eng, worker, seller_id = world.engine, world.principals["worker"], world.sellers["seller-a"]
    loc = world.locations

    def events_of(fn, *args, **kwargs):
        start = last_id(eng)
        result = run(eng, fn, worker, *args, **kwargs)
        return result, [(e.payload["sku"], e.payload["warehouse"], e.payload["on_hand"], e.payload["available"])
                        for e in stock_events(eng, start)]

    assert events_of(inventory.move, seller_id=seller_id, sku="SKU-1", from_location=loc[("ALA", "A-01")],
                     to_location=loc[("ALA", "A-02")], quantity=4)[1] == [("SKU-1", "ALA", 10, 10)]
    assert events_of(inventory.adjust, seller_id=seller_id, sku="SKU-1", location_id=loc[("ALA", "A-02")],
                     delta=-1, reason="broken")[1] == [("SKU-1", "ALA", 9, 9)]
    assert events_of(inventory.adjust, seller_id=seller_id, sku="SKU-1", location_id=loc[("ALA", "A-02")],
                     delta=1, reason="scrap", scrap=True)[1] == [("SKU-1", "ALA", 8, 8)]
    tr, evs = events_of(inbound.start_transfer, TransferIn(seller="seller-a", from_warehouse="ALA", to_warehouse="AST",
                                                           lines=[TransferLineIn(sku="SKU-1", quantity=2,
                                                                                 from_location="A-01"),
                                                                  TransferLineIn(sku="SKU-3", quantity=1,
                                                                                 from_location="A-01")]))
    assert evs == [("SKU-1", "ALA", 6, 6), ("SKU-3", "ALA", 1, 1)]
    assert events_of(inbound.receive_transfer, tr["id"], "RCV")[1] == [("SKU-1", "AST", 2, 2), ("SKU-3", "AST", 4, 4)]
    order = place(world, "EV-2", [("SKU-2", 2)])
    worker = world.principals["manager"]  # the floor may not cancel (platform/roles.py)
    assert events_of(lifecycle.transition, order["id"], "cancelled", "test")[1] == [("SKU-2", "AST", 5, 5)]
    worker = world.principals["worker"]
    order = place(world, "EV-3", [("SKU-2", 2)])
    run(eng, lifecycle.transition, worker, order["id"], "picking")
    assert events_of(lifecycle.transition, order["id"], "picked")[1] == [("SKU-2", "AST", 3, 3)]
    assert_ledger_consistent(eng)


def test_a_refused_change_writes_no_event(world):
    eng, start = world.engine, last_id(world.engine)
    try:
        run(eng, inventory.move, world.principals["worker"], seller_id=world.sellers["seller-a"], sku="SKU-1",
            from_location=world.locations[("ALA", "A-01")], to_location=world.locations[("ALA", "A-02")], quantity=99)
    except Exception as exc:  # noqa: BLE001 - the refusal itself is tested in test_stock_ledger
        assert "free at" in str(exc)
    assert stock_events(eng, start) == []


def test_backorders_fill_after_the_receipt_commits_from_the_event(world):
    eng = world.engine
    order = place(world, "BO-1", [("SKU-1", 12)])
    assert order["status"] == "backordered"
    drain_outbox(eng)
    result = run(eng, inbound.receive, world.principals["worker"], receipt("SKU-1", 2))
    assert result["orders_allocated"] == [] and status_and_held(eng, order["id"]) == ("backordered", 10)
    drain_outbox(eng)
    assert status_and_held(eng, order["id"]) == ("allocated", 12)
    with eng.connect() as conn:
        last = conn.execute(select(t.order_events).where(t.order_events.c.order_id == order["id"])
                            .order_by(t.order_events.c.id.desc()).limit(1)).one()
    assert (last.to_status, last.actor, last.reason) == ("allocated", "worker@qoima.local",
                                                         "backorder filled: stock arrived")
    assert_ledger_consistent(eng)


def test_a_retried_stock_changed_event_reserves_nothing_twice(world):
    eng = world.engine
    first = place(world, "ID-1", [("SKU-1", 11)])  # waits for 1
    second = place(world, "ID-2", [("SKU-1", 3)])  # waits for 3
    drain_outbox(eng)
    start = last_id(eng)
    run(eng, inbound.receive, world.principals["worker"], receipt("SKU-1", 2))
    event = stock_events(eng, start)[0]
    as_handled = {"id": event.id, "topic": event.topic, "aggregate_id": event.aggregate_id,
                  "seller_id": event.seller_id, "payload": event.payload, "attempt": 1}
    for attempt in (1, 2, 3):  # the worker died after handling, the event came again
        backorders.on_stock_changed(eng, {**as_handled, "attempt": attempt})
        assert status_and_held(eng, first["id"]) == ("allocated", 11)
        assert status_and_held(eng, second["id"]) == ("backordered", 1)
    drain_outbox(eng)
    assert status_and_held(eng, second["id"]) == ("backordered", 1)
    with eng.connect() as conn:
        allocations = conn.execute(select(t.order_events.c.order_id).where(
            t.order_events.c.to_status == "allocated", t.order_events.c.order_id == first["id"])).all()
    assert len(allocations) == 1
    assert_ledger_consistent(eng)


def test_an_order_held_before_the_fill_runs_stays_on_hold(world):
    eng = world.engine
    held = place(world, "H-1", [("SKU-1", 11)])
    other = place(world, "H-2", [("SKU-1", 1)])
    drain_outbox(eng)
    run(eng, inbound.receive, world.principals["worker"], receipt("SKU-1", 2))
    run(eng, lifecycle.transition, world.principals["seller_a"], held["id"], "on_hold", "fraud check")
    drain_outbox(eng)
    assert status_and_held(eng, held["id"]) == ("on_hold", 10)  # nothing added, status kept
    assert status_and_held(eng, other["id"]) == ("allocated", 1)  # the older order was skipped, this one served
    assert_ledger_consistent(eng)


def test_a_cancel_refills_waiting_orders_through_the_event(world):
    eng = world.engine
    first = place(world, "C-1", [("SKU-3", 5)])
    waiting = place(world, "C-2", [("SKU-3", 2)])
    drain_outbox(eng)
    assert status_and_held(eng, waiting["id"]) == ("backordered", 0)
    run(eng, lifecycle.transition, world.principals["seller_a"], first["id"], "cancelled", "changed mind")
    assert status_and_held(eng, waiting["id"]) == ("backordered", 0)  # not inside the cancel
    drain_outbox(eng)
    assert status_and_held(eng, waiting["id"]) == ("allocated", 2)
    assert_ledger_consistent(eng)


def test_the_worker_registers_and_runs_the_backorder_handler(world):
    from qoima.entrypoints import worker
    assert backorders.on_stock_changed in outbox.HANDLERS["stock.changed"]
    order = place(world, "W-1", [("SKU-2", 6)])
    run(world.engine, inbound.receive, world.principals["worker"], receipt("SKU-2", 1, wh="AST"))
    worker.run(world.engine, once=True)
    assert status_and_held(world.engine, order["id"]) == ("allocated", 6)
    with UnitOfWork(world.engine) as uow:
        pending = uow.execute(select(t.outbox.c.id).where(t.outbox.c.status != "done")).all()
    assert pending == []
