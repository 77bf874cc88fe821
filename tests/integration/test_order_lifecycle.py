"""An order's road through the warehouse on a real database: intake reserves or
backorders, receipts fill backorders first come first served, picking consumes
reservations, cancelling gives stock back; every move is one timeline row and one
outbox event written in the same transaction, and a refused move writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import order_payload
from sqlalchemy import func, select
from test_stock_ledger import assert_ledger_consistent, drain_outbox, level, movements, run, shipped_from

from qoima.db import tables as t
from qoima.platform.errors import Conflict, Forbidden, InvalidTransition, NotFound
from qoima.stock.services import inbound, inventory
from qoima.orders.services import lifecycle, resourcing
from qoima.orders.services.intake import submit_order
from qoima.orders.schemas import OrderIn
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn, TransferIn, TransferLineIn
from qoima.platform.unit_of_work import UnitOfWork, utcnow




def place(world, external_id: str, lines=(("SKU-1", 1),), who: str = "seller_a", **extra) -> dict:
    order, created = submit_order(world.engine, world.principals[who],
                                  OrderIn(**order_payload(external_id, lines, **extra)))
    assert created
    return order


def move(world, order_id: int, status: str, who: str = "worker", reason: str = "") -> str:
    if status == "cancelled" and who == "worker":
        who = "manager"  # the floor may not cancel (platform/roles.py)
    return run(world.engine, lifecycle.transition, world.principals[who], order_id, status, reason)


def status_of(engine, order_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(t.orders.c.status).where(t.orders.c.id == order_id)).scalar_one()


def timeline(engine, order_id: int) -> list:
    with engine.connect() as conn:
        return conn.execute(select(t.order_events).where(t.order_events.c.order_id == order_id)
                            .order_by(t.order_events.c.id)).all()


def events(engine, order_id: int) -> list:
    """The order's outbox events (stock.changed events carry a product id as their aggregate)."""
    with engine.connect() as conn:
        return conn.execute(select(t.outbox).where(t.outbox.c.aggregate_id == order_id,
                                                   t.outbox.c.topic.like("order.%"))
                            .order_by(t.outbox.c.id)).all()


def reservations(engine, order_id: int) -> list:
    with engine.connect() as conn:
        return conn.execute(select(t.reservations).where(t.reservations.c.order_id == order_id)).all()


def backordered(engine, order_id: int) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(t.order_lines.c.backordered).where(t.order_lines.c.order_id == order_id)
                                 .order_by(t.order_lines.c.id)).scalars())


def receive(world, sku: str, qty: int, wh: str = "ALA", loc: str = "A-01", seller: str = "seller-a") -> dict:
    """Book a receipt, then let the worker fill the backorders (after the commit, from stock.changed);
    the events of earlier changes are handled first, so the fill is the receipt's."""
    drain_outbox(world.engine)
    result = run(world.engine, inbound.receive, world.principals["worker"],
                 ReceiptIn(seller=seller, warehouse=wh, location=loc, lines=[ReceiptLineIn(sku=sku, expected=qty,
                                                                                            received=qty)]))
    drain_outbox(world.engine)
    return result


def allocated_by_fill(engine, order_ids) -> list[int]:
    """Which of these orders the backorder fill moved to allocated, oldest move first."""
    with engine.connect() as conn:
        return list(conn.execute(select(t.order_events.c.order_id).where(
            t.order_events.c.order_id.in_(list(order_ids)), t.order_events.c.to_status == "allocated",
            t.order_events.c.reason == "backorder filled: stock arrived").order_by(t.order_events.c.id)).scalars())


# --- intake -----------------------------------------------------------------

def test_intake_reserves_and_writes_timeline_and_outbox(world):
    eng = world.engine
    order = place(world, "RES-1", [("SKU-1", 3), ("SKU-2", 2)])
    assert order["status"] == "allocated"
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (10, 3)
    assert level(eng, "seller-a", "SKU-2", "AST", "A-01") == (5, 2)
    assert sorted(order["warehouses"]) == ["ALA", "AST"]  # SKU-1 only in ALA, SKU-2 only in AST
    assert order["sourcing_reason"].startswith("2 parcels from ")
    assert sum(r.quantity for r in reservations(eng, order["id"])) == 5
    assert [(e.from_status, e.to_status) for e in timeline(eng, order["id"])] == [(None, "new"), ("new", "allocated")]
    assert [e.topic for e in events(eng, order["id"])] == ["order.status_changed", "order.status_changed",
                                                           "order.created"]
    assert all(e.status == "pending" and e.seller_id == world.sellers["seller-a"] for e in events(eng, order["id"]))
    assert events(eng, order["id"])[1].payload == {"order_id": order["id"], "from": "new", "to": "allocated",
                                                   "reason": order["sourcing_reason"]}
    assert order["ship_by"] is not None and order["ship_by"] > order["received_at"]
    assert_ledger_consistent(eng)


def test_intake_backorders_what_is_missing(world):
    eng = world.engine
    order = place(world, "BO-1", [("SKU-3", 7)])  # 2 in ALA + 3 in AST
    assert order["status"] == "backordered"
    assert order["lines"][0]["backordered"] == 2
    assert level(eng, "seller-a", "SKU-3", "ALA", "A-01") == (2, 2)
    assert level(eng, "seller-a", "SKU-3", "AST", "A-01") == (3, 3)
    assert "2 backordered" in order["sourcing_reason"]
    assert [e.to_status for e in timeline(eng, order["id"])] == ["new", "backordered"]
    nothing = place(world, "BO-2", [("SKU-3", 1)])
    assert nothing["status"] == "backordered" and nothing["lines"][0]["backordered"] == 1
    assert nothing["warehouses"] == [] and reservations(eng, nothing["id"]) == []
    assert_ledger_consistent(eng)


def test_duplicate_submission_returns_the_first_order(world):
    first = place(world, "DUP-1", [("SKU-1", 2)])
    again, created = submit_order(world.engine, world.principals["seller_a"],
                                  OrderIn(**order_payload("DUP-1", [("SKU-1", 2)])))
    assert not created and again["id"] == first["id"] and again["lines"][0]["quantity"] == 2
    with pytest.raises(Conflict) as info:  # the same channel order with other lines is not a duplicate
        submit_order(world.engine, world.principals["seller_a"], OrderIn(**order_payload("DUP-1", [("SKU-1", 5)])))
    assert info.value.extra["differences"] == [{"line": 1, "field": "quantity", "stored": "2", "requested": "5"}]
    assert level(world.engine, "seller-a", "SKU-1", "ALA", "A-01") == (10, 2)
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.orders)).scalar_one() == 1


# --- backorders -----------------------------------------------------------------

def test_receipt_fills_backorders_first_come_first_served(world):
    eng = world.engine
    now = utcnow()
    big = place(world, "FC-0", [("SKU-1", 8)], received_at=(now - timedelta(hours=5)).isoformat())
    second = place(world, "FC-2", [("SKU-1", 4)], received_at=(now - timedelta(hours=2)).isoformat())
    third = place(world, "FC-3", [("SKU-1", 3)], received_at=(now - timedelta(hours=1)).isoformat())
    # placed last but received first (e.g. imported late): it is the oldest, so it is served first
    oldest = place(world, "FC-1", [("SKU-1", 2)], received_at=(now - timedelta(hours=3)).isoformat())
    assert big["status"] == "allocated"
    assert second["lines"][0]["backordered"] == 2  # got the last 2 free units
    assert third["lines"][0]["backordered"] == 3 and oldest["lines"][0]["backordered"] == 2
    assert_ledger_consistent(eng)

    result = receive(world, "SKU-1", 3)
    # oldest (2 missing) first, then second (2 missing) gets the remaining 1; filled after the commit
    assert result["orders_allocated"] == []
    assert allocated_by_fill(eng, [big["id"], second["id"], third["id"], oldest["id"]]) == [oldest["id"]]
    assert status_of(eng, oldest["id"]) == "allocated" and backordered(eng, oldest["id"]) == [0]
    assert status_of(eng, second["id"]) == "backordered" and backordered(eng, second["id"]) == [1]
    assert backordered(eng, third["id"]) == [3]
    last = timeline(eng, oldest["id"])[-1]
    assert (last.from_status, last.to_status, last.actor) == ("backordered", "allocated", "worker@qoima.local")
    assert last.reason == "backorder filled: stock arrived"
    assert events(eng, oldest["id"])[-1].payload["to"] == "allocated"
    assert_ledger_consistent(eng)

    receive(world, "SKU-1", 4, wh="AST")
    assert allocated_by_fill(eng, [second["id"], third["id"]]) == [second["id"], third["id"]]
    assert status_of(eng, third["id"]) == "allocated"
    # the order now ships from both: its first warehouse, then the one the receipt filled it from
    assert shipped_from(eng, second["id"]) == [("ALA", "allocated"), ("AST", "allocated")]
    assert level(eng, "seller-a", "SKU-1", "AST", "A-01") == (4, 4)
    assert_ledger_consistent(eng)


def test_backorder_of_a_multi_line_order_allocates_only_when_every_line_is_filled(world):
    eng = world.engine
    order = place(world, "ML-1", [("SKU-1", 12), ("SKU-2", 6)])
    assert backordered(eng, order["id"]) == [2, 1]
    receive(world, "SKU-1", 5)
    assert status_of(eng, order["id"]) == "backordered" and backordered(eng, order["id"]) == [0, 1]
    assert [e.to_status for e in timeline(eng, order["id"])] == ["new", "backordered"]
    receive(world, "SKU-2", 1, wh="AST")
    assert status_of(eng, order["id"]) == "allocated"
    assert [e.to_status for e in timeline(eng, order["id"])] == ["new", "backordered", "allocated"]
    assert_ledger_consistent(eng)


def test_receipt_of_another_sellers_same_sku_fills_nothing(world):
    order = place(world, "ISO-1", [("SKU-1", 11)])
    assert order["status"] == "backordered"
    receive(world, "SKU-1", 5, seller="seller-b")  # seller B's SKU-1 is another product
    assert status_of(world.engine, order["id"]) == "backordered"
    assert_ledger_consistent(world.engine)


def test_putaway_from_receiving_fills_backorders(world):
    """In a 'reserve' warehouse (the default) goods received into the receiving dock fill the
    waiting orders at once; put away into a storage bin, the reservation goes with them."""
    eng = world.engine
    order = place(world, "PUT-1", [("SKU-2", 7)])
    assert backordered(eng, order["id"]) == [2]
    receive(world, "SKU-2", 2, wh="AST", loc="RCV")
    drain_outbox(eng)
    assert status_of(eng, order["id"]) == "allocated"
    assert level(eng, "seller-a", "SKU-2", "AST", "RCV") == (2, 2)  # reserved on the dock
    run(eng, inventory.move, world.principals["worker"], seller_id=world.sellers["seller-a"], sku="SKU-2",
        from_location=world.locations[("AST", "RCV")], to_location=world.locations[("AST", "A-02")], quantity=2)
    assert level(eng, "seller-a", "SKU-2", "AST", "A-02") == (2, 2)  # the reservation moved with the goods
    assert level(eng, "seller-a", "SKU-2", "AST", "RCV") == (0, 0)
    assert_ledger_consistent(eng)


def test_positive_adjustment_and_transfer_receipt_fill_backorders(world):
    eng, worker = world.engine, world.principals["worker"]
    a = place(world, "ADJ-1", [("SKU-1", 11)])
    run(eng, inventory.adjust, worker, seller_id=world.sellers["seller-a"], sku="SKU-1",
        location_id=world.locations[("ALA", "A-02")], delta=1, reason="found one")
    drain_outbox(eng)
    assert status_of(eng, a["id"]) == "allocated"
    b = place(world, "TR-1", [("SKU-2", 6)])
    tr = run(eng, inbound.start_transfer, worker, TransferIn(seller="seller-a", from_warehouse="ALA",
                                                            to_warehouse="AST",
                                                            lines=[TransferLineIn(sku="SKU-3", quantity=1,
                                                                                  from_location="A-01")]))
    receive(world, "SKU-2", 1, wh="ALA", loc="RCV")
    run(eng, inventory.move, worker, seller_id=world.sellers["seller-a"], sku="SKU-2",
        from_location=world.locations[("ALA", "RCV")], to_location=world.locations[("ALA", "A-02")], quantity=1)
    drain_outbox(eng)
    assert status_of(eng, b["id"]) == "allocated"
    c = place(world, "TR-2", [("SKU-3", 5)])  # 1 of SKU-3 is on the road: 4 free
    assert c["status"] == "backordered"
    done = run(eng, inbound.receive_transfer, worker, tr["id"], "A-01")
    assert done["orders_allocated"] == [] and status_of(eng, c["id"]) == "backordered"
    drain_outbox(eng)
    assert allocated_by_fill(eng, [c["id"]]) == [c["id"]] and status_of(eng, c["id"]) == "allocated"
    assert_ledger_consistent(eng)


# --- picking, cancelling ----------------------------------------------------------

def test_full_road_to_delivered(world):
    eng = world.engine
    order = place(world, "ROAD-1", [("SKU-1", 2)])
    for step in ("picking", "picked", "packed", "shipped", "in_transit", "out_for_delivery", "delivered"):
        assert move(world, order["id"], step) == step
        assert_ledger_consistent(eng)
    with eng.connect() as conn:
        o = conn.execute(select(t.orders).where(t.orders.c.id == order["id"])).one()
    assert o.shipped_at is not None and o.delivered_at is not None and o.delivered_at >= o.shipped_at
    assert [e.to_status for e in timeline(eng, order["id"])] == [
        "new", "allocated", "picking", "picked", "packed", "shipped", "in_transit", "out_for_delivery", "delivered"]
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (8, 0)


def test_picked_consumes_the_reservations(world):
    eng = world.engine
    order = place(world, "PICK-1", [("SKU-3", 4)])  # 2 ALA + 2 of 3 AST
    assert order["status"] == "allocated"
    move(world, order["id"], "picking")
    assert level(eng, "seller-a", "SKU-3", "ALA", "A-01") == (2, 2)
    move(world, order["id"], "picked")
    assert level(eng, "seller-a", "SKU-3", "ALA", "A-01") == (0, 0)
    assert level(eng, "seller-a", "SKU-3", "AST", "A-01") == (1, 0)
    picks = movements(eng, kind="pick")
    assert sorted(m.quantity for m in picks) == [2, 2]
    assert all(m.reference == f"order:{order['id']}" and m.actor == "worker@qoima.local"
               and m.to_location_id is None for m in picks)
    assert reservations(eng, order["id"]) == []  # consumed, not still held
    assert_ledger_consistent(eng)


def test_cancel_releases_reservations_and_refills_waiting_orders(world):
    eng = world.engine
    first = place(world, "CXL-1", [("SKU-1", 10)])
    waiting = place(world, "CXL-2", [("SKU-1", 4)])
    assert waiting["status"] == "backordered"
    assert move(world, first["id"], "cancelled", who="seller_a", reason="customer changed their mind") == "cancelled"
    assert reservations(eng, first["id"]) == []
    drain_outbox(eng)  # the refill runs after the cancel committed, from stock.changed
    assert status_of(eng, waiting["id"]) == "allocated"  # the freed units went to the waiting order
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (10, 4)
    last = timeline(eng, first["id"])[-1]
    assert (last.from_status, last.to_status, last.actor, last.reason) == (
        "allocated", "cancelled", "a@seller-a.kz", "customer changed their mind")
    assert timeline(eng, waiting["id"])[-1].to_status == "allocated"
    assert_ledger_consistent(eng)


def test_cancel_of_a_partly_backordered_order_releases_what_it_held(world):
    eng = world.engine
    order = place(world, "CXL-3", [("SKU-3", 9)])
    move(world, order["id"], "cancelled")
    assert level(eng, "seller-a", "SKU-3", "ALA", "A-01") == (2, 0)
    assert level(eng, "seller-a", "SKU-3", "AST", "A-01") == (3, 0)
    assert backordered(eng, order["id"]) == [0]
    receive(world, "SKU-3", 5)  # a cancelled order is not filled any more
    assert status_of(eng, order["id"]) == "cancelled"
    assert_ledger_consistent(eng)


@pytest.mark.parametrize("after", ["picked", "packed"])
def test_cancel_after_pick_puts_goods_back_with_a_return_movement(world, after):
    eng = world.engine
    order = place(world, "CXL-P", [("SKU-1", 3)])
    for step in ("picking", "picked", "packed")[: 2 if after == "picked" else 3]:
        move(world, order["id"], step)
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (7, 0)
    move(world, order["id"], "cancelled", reason="address does not exist")
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (10, 0)
    (ret,) = movements(eng, kind="return")
    assert (ret.quantity, ret.to_location_id, ret.reference) == (3, world.locations[("ALA", "A-01")],
                                                                  f"order:{order['id']}")
    assert ret.reason == "order cancelled after pick: address does not exist"
    assert_ledger_consistent(eng)


def test_cancel_of_a_picked_order_that_was_put_on_hold(world):
    eng = world.engine
    order = place(world, "HOLD-P", [("SKU-1", 3)])
    move(world, order["id"], "picking")
    move(world, order["id"], "picked")
    move(world, order["id"], "on_hold", reason="payment check")
    move(world, order["id"], "cancelled", reason="fraud")
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (10, 0)
    assert len(movements(eng, kind="return")) == 1
    assert_ledger_consistent(eng)


def test_cancel_of_a_picked_order_in_exception(world):
    eng = world.engine
    order = place(world, "EXC-P", [("SKU-1", 2)])
    for step in ("picking", "picked", "exception", "cancelled"):
        move(world, order["id"], step)
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (10, 0)
    assert_ledger_consistent(eng)


def test_exception_before_the_pick_resumes_through_re_sourcing_not_by_skipping_to_shipped(world):
    """Changed on purpose (issue 7, item 4): allocated -> exception -> shipped used to take the
    goods by hand; an exception now resumes only where the order was, and since `allocated`
    is set by sourcing only, the way back is re-sourcing; then the normal road."""
    eng = world.engine
    order = place(world, "EXC-S", [("SKU-1", 2)])
    move(world, order["id"], "exception", reason="scanner down")
    for refused in ("shipped", "packed", "picking", "allocated"):
        with pytest.raises(InvalidTransition) as info:
            move(world, order["id"], refused)
        assert info.value.extra["from_status"] == "exception" and info.value.extra["to_status"] == refused
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (10, 2)  # still reserved, nothing taken
    assert run(eng, resourcing.resource, world.principals["worker"], order["id"]).status == "allocated"
    for step in ("picking", "picked", "packed", "shipped"):
        move(world, order["id"], step)
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (8, 0)
    assert reservations(eng, order["id"]) == []
    assert_ledger_consistent(eng)


def test_an_exception_after_the_pick_keeps_the_goods_and_resumes_where_it_was(world):
    """Changed on purpose (issue 7, item 4): picked -> exception -> picking used to be allowed;
    now the order goes back to `picked`, and the goods are taken only once."""
    eng = world.engine
    order = place(world, "EXC-2", [("SKU-1", 2)])
    for step in ("picking", "picked", "exception"):
        move(world, order["id"], step)
    with pytest.raises(InvalidTransition) as info:
        move(world, order["id"], "picking")
    assert "the order was 'picked' before" in info.value.message
    move(world, order["id"], "picked")
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (8, 0)
    assert len(movements(eng, kind="pick")) == 1
    assert_ledger_consistent(eng)


def test_hold_resumes_only_to_where_the_order_was(world):
    eng = world.engine
    order = place(world, "HOLD-1")
    move(world, order["id"], "on_hold", who="seller_a", reason="customer asked to wait")
    with pytest.raises(InvalidTransition) as info:
        move(world, order["id"], "picking")
    assert "allocated" in info.value.message
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (10, 1)  # the hold kept the reservation
    # changed on purpose (issue 7, item 4): `allocated` is set by sourcing only, so the way back is re-sourcing
    with pytest.raises(InvalidTransition) as info:
        move(world, order["id"], "allocated")
    assert "sourcing only" in info.value.message
    assert run(eng, resourcing.resource, world.principals["worker"], order["id"]).status == "allocated"
    assert status_of(eng, order["id"]) == "allocated"
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (10, 1)
    assert_ledger_consistent(eng)


# --- one timeline row and one outbox event per move, in the same transaction ------

def _counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(t.order_events)).scalar_one(),
                conn.execute(select(func.count()).select_from(t.outbox)  # a pick also writes stock.changed
                             .where(t.outbox.c.topic.like("order.%"))).scalar_one())


def test_every_transition_writes_one_timeline_row_and_one_event(world):
    eng = world.engine
    order = place(world, "ONE-1", [("SKU-1", 1)])
    # leaving the hold is a re-source since issue 7 (item 4): still one timeline row and one event
    for step in ("on_hold", "allocated", "picking", "picked", "packed", "shipped", "out_for_delivery", "in_transit",
                 "delivered", "returned"):
        before_tl, before_ev = _counts(eng)
        if step == "allocated":
            run(eng, resourcing.resource, world.principals["worker"], order["id"], f"to {step}")
        else:
            move(world, order["id"], step, reason=f"to {step}")
        after_tl, after_ev = _counts(eng)
        assert (after_tl - before_tl, after_ev - before_ev) == (1, 1), step
        row, event = timeline(eng, order["id"])[-1], events(eng, order["id"])[-1]
        assert row.to_status == step and f"to {step}" in row.reason and row.actor == "worker@qoima.local"
        assert event.topic == "order.status_changed" and event.status == "pending"
        assert event.payload == {"order_id": order["id"], "from": row.from_status, "to": step, "reason": row.reason}
    assert_ledger_consistent(eng)


@pytest.mark.parametrize("path,refused", [
    ((), "shipped"), ((), "picked"), (("picking", "picked", "packed", "shipped"), "allocated"),
    (("cancelled",), "allocated"), (("cancelled",), "cancelled"), (("picking",), "picking"),
])
def test_a_refused_transition_writes_nothing(world, path, refused):
    eng = world.engine
    order = place(world, "NO-1", [("SKU-1", 2)])
    for step in path:
        move(world, order["id"], step)
    before = (_counts(eng), status_of(eng, order["id"]), level(eng, "seller-a", "SKU-1", "ALA", "A-01"),
              len(movements(eng)))
    with pytest.raises(InvalidTransition) as info:
        move(world, order["id"], refused)
    assert info.value.extra == {"from_status": before[1], "to_status": refused}
    after = (_counts(eng), status_of(eng, order["id"]), level(eng, "seller-a", "SKU-1", "ALA", "A-01"),
             len(movements(eng)))
    assert after == before
    assert_ledger_consistent(eng)


def test_an_uncommitted_transition_leaves_no_trace(world):
    """The status, the timeline row, the outbox event and the ledger rows are one
    transaction: without commit, none of them exists."""
    eng = world.engine
    order = place(world, "TX-1", [("SKU-1", 2)])
    move(world, order["id"], "picking")
    before = (_counts(eng), len(movements(eng)), level(eng, "seller-a", "SKU-1", "ALA", "A-01"))
    with UnitOfWork(eng) as uow:
        lifecycle.transition(uow, world.principals["worker"], order["id"], "picked")
        # inside the transaction everything is there
        assert uow.execute(select(t.orders.c.status).where(t.orders.c.id == order["id"])).scalar_one() == "picked"
        assert uow.execute(select(func.count()).select_from(t.outbox)
                           .where(t.outbox.c.topic.like("order.%"))).scalar_one() == before[0][1] + 1
    assert status_of(eng, order["id"]) == "picking"
    assert (_counts(eng), len(movements(eng)), level(eng, "seller-a", "SKU-1", "ALA", "A-01")) == before
    assert_ledger_consistent(eng)


def test_a_seller_may_cancel_or_hold_but_not_move_the_order_through_the_warehouse(world):
    eng = world.engine
    order = place(world, "SELL-1")
    before = _counts(eng)
    for step in ("picking", "shipped"):
        with pytest.raises((Forbidden, InvalidTransition)):
            move(world, order["id"], step, who="seller_a")
    with pytest.raises(Forbidden):
        move(world, order["id"], "picking", who="seller_a")
    with pytest.raises(NotFound):  # another seller does not even see it
        move(world, order["id"], "cancelled", who="seller_b")
    assert _counts(eng) == before and status_of(eng, order["id"]) == "allocated"
    assert move(world, order["id"], "cancelled", who="seller_a") == "cancelled"
