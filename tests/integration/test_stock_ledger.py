"""Stock as an append-only ledger: receipts, put-away, moves, adjustments, scrap and
transfers, each a movement with actor, reason and reference; counters always agree
with the ledger, and the database itself refuses impossible counters.

`assert_ledger_consistent(engine)` is imported by the other integration modules."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from qoima.db import tables as t
from qoima.platform.errors import Conflict, Forbidden, NotFound, ValidationError
from qoima.orders.domain.status import FLOOR_STEPS, Status, order_status_of_shipments
from qoima.stock.services import inbound, inventory
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn, TransferIn, TransferLineIn
from qoima.platform.unit_of_work import UnitOfWork




# --- helpers shared with the other integration modules -----------------------


def assert_ledger_consistent(engine) -> None:
    """For every (product, location): ledger in minus out == stock.on_hand; for every
    stock row: sum of its reservations == stock.reserved; and each order's reservations
    match what its status says it holds."""
    with engine.connect() as conn:
        stock = {(r.product_id, r.location_id): r for r in conn.execute(select(t.stock))}
        ledger: dict[tuple[int, int], int] = defaultdict(int)
        for m in conn.execute(select(t.stock_movements)):
            assert m.quantity > 0 and m.actor and m.kind
            if m.to_location_id is not None:
                ledger[(m.product_id, m.to_location_id)] += m.quantity
            if m.from_location_id is not None:
                ledger[(m.product_id, m.from_location_id)] -= m.quantity
        reserved: dict[int, int] = defaultdict(int)
        for r in conn.execute(select(t.reservations)):
            reserved[r.stock_id] += r.quantity
        loc_wh = dict(conn.execute(select(t.locations.c.id, t.locations.c.warehouse_id)).all())
        res_wh = conn.execute(select(t.reservations.c.warehouse_id, t.stock.c.warehouse_id.label("stock_wh"))
                              .join(t.stock, t.stock.c.id == t.reservations.c.stock_id)).all()
        lines = conn.execute(select(t.order_lines.c.id, t.order_lines.c.quantity, t.order_lines.c.backordered,
                                    t.orders.c.status, t.orders.c.id.label("order_id"))
                             .join(t.orders, t.orders.c.id == t.order_lines.c.order_id)).all()
        per_line: dict[int, int] = defaultdict(int)
        for r in conn.execute(select(t.reservations.c.order_line_id, t.reservations.c.quantity)):
            per_line[r.order_line_id] += r.quantity
        held_in: dict[int, set] = defaultdict(set)
        for r in conn.execute(select(t.reservations.c.order_id, t.reservations.c.warehouse_id)):
            held_in[r.order_id].add(r.warehouse_id)
        ships: dict[int, list] = defaultdict(list)
        for sh in conn.execute(select(t.shipments).order_by(t.shipments.c.order_id, t.shipments.c.seq)):
            ships[sh.order_id].append(sh)
        order_status = dict(conn.execute(select(t.orders.c.id, t.orders.c.status)).all())
        waved: dict[int, set] = defaultdict(set)
        for r in conn.execute(select(t.shipments.c.order_id, t.shipments.c.warehouse_id).where(
                select(t.pick_task_lines.c.id).where(t.pick_task_lines.c.shipment_id == t.shipments.c.id).exists())):
            waved[r.order_id].add(r.warehouse_id)
    problems = _shipment_problems(order_status, held_in, ships, waved)
    for key in sorted(set(stock) | set(ledger)):
        on_hand = stock[key].on_hand if key in stock else 0
        if ledger.get(key, 0) != on_hand:
            problems.append(f"product {key[0]} location {key[1]}: ledger says {ledger.get(key, 0)}, on_hand {on_hand}")
    for key, row in stock.items():
        if reserved.get(row.id, 0) != row.reserved:
            problems.append(f"stock {row.id} {key}: reservations sum {reserved.get(row.id, 0)}, "
                            f"reserved {row.reserved}")
        if not 0 <= row.reserved <= row.on_hand:
            problems.append(f"stock {row.id}: reserved {row.reserved} on_hand {row.on_hand}")
        if loc_wh[row.location_id] != row.warehouse_id:
            problems.append(f"stock {row.id}: warehouse {row.warehouse_id} != its location's")
    for r in res_wh:
        if r.warehouse_id != r.stock_wh:
            problems.append(f"reservation warehouse {r.warehouse_id} != stock warehouse {r.stock_wh}")
    # picking on the floor takes units off the shelf one scan at a time (floor/services/picking.py): while an
    # order is picking, each of its products is covered by what is still reserved plus what the ledger picked
    picking = {ln.order_id for ln in lines if ln.status == Status.PICKING.value}
    product_of = dict(_line_products(engine))
    want, have = defaultdict(int), defaultdict(int)
    for ln in lines:
        if ln.order_id in picking:
            want[(ln.order_id, product_of[ln.id])] += ln.quantity
            have[(ln.order_id, product_of[ln.id])] += per_line.get(ln.id, 0)
    for (oid, pid), qty in _net_picked(engine, picking).items():
        have[(oid, pid)] += qty
    for key in sorted(want):
        if want[key] != have[key]:
            problems.append(f"order {key[0]} (picking) product {key[1]}: reserved + picked {have[key]} "
                            f"of {want[key]}")
    for ln in lines:
        held = per_line.get(ln.id, 0)
        if ln.status == Status.ALLOCATED.value and (held, ln.backordered) != (ln.quantity, 0):
            problems.append(f"order {ln.order_id} ({ln.status}) line {ln.id}: reserved {held} of {ln.quantity}")
        if ln.status == Status.BACKORDERED.value and held + ln.backordered != ln.quantity:
            problems.append(f"order {ln.order_id} line {ln.id}: reserved {held} + backordered {ln.backordered} "
                            f"!= {ln.quantity}")
        if ln.status not in (Status.ALLOCATED.value, Status.PICKING.value, Status.BACKORDERED.value,
                             Status.ON_HOLD.value, Status.EXCEPTION.value, Status.NEW.value) and held:
            problems.append(f"order {ln.order_id} ({ln.status}) still holds {held} reserved on line {ln.id}")
    assert not problems, "ledger inconsistent:\n" + "\n".join(problems)


def _line_products(engine):
    with engine.connect() as conn:
        return conn.execute(select(t.order_lines.c.id, t.order_lines.c.product_id)).all()


def _net_picked(engine, order_ids) -> dict:
    """(order, product) -> units the ledger took off the shelves for the order, less what went back."""
    out: dict = defaultdict(int)
    if not order_ids:
        return out
    refs = {f"order:{oid}": oid for oid in order_ids}
    with engine.connect() as conn:
        for m in conn.execute(select(t.stock_movements).where(t.stock_movements.c.reference.in_(sorted(refs)),
                                                              t.stock_movements.c.kind.in_(("pick", "return")))):
            out[(refs[m.reference], m.product_id)] += m.quantity if m.kind == "pick" else -m.quantity
    return out


def _shipment_problems(order_status: dict, held_in: dict, ships: dict, waved: dict) -> list[str]:
    """Shipments: one per warehouse the order holds stock in (exactly those while allocated; while
    picking, those and the ones already waved: a warehouse whose pick lines are all picked or short
    holds nothing any more, its shipment stays), numbered 1..n; on the floor (allocated .. shipped) the
    order is where its least advanced shipment is (`order_status_of_shipments`), otherwise every shipment
    has the order's status, unless the order is on hold / in exception."""
    problems = []
    for oid, status in order_status.items():
        mine = ships.get(oid, [])
        wh = {sh.warehouse_id for sh in mine}
        if not held_in.get(oid, set()) <= wh:
            problems.append(f"order {oid}: holds stock in warehouses {sorted(held_in[oid])}, ships from {sorted(wh)}")
        if status == Status.ALLOCATED.value and wh != held_in.get(oid, set()):
            problems.append(f"order {oid} ({status}): ships from {sorted(wh)}, holds {sorted(held_in.get(oid, ()))}")
        if status == Status.PICKING.value and wh != held_in.get(oid, set()) | waved.get(oid, set()):
            problems.append(f"order {oid} ({status}): ships from {sorted(wh)}, holds {sorted(held_in.get(oid, ()))}, "
                            f"waved {sorted(waved.get(oid, ()))}")
        if [sh.seq for sh in mine] != list(range(1, len(mine) + 1)):
            problems.append(f"order {oid}: shipments numbered {[sh.seq for sh in mine]}")
        if status in {s.value for s in FLOOR_STEPS} and mine:  # on the floor: where its least advanced shipment is
            by_ships = order_status_of_shipments([sh.status for sh in mine])
            if by_ships != status:
                problems.append(f"order {oid} ({status}): its shipments {[sh.status for sh in mine]} say {by_ships}")
        elif status not in (Status.ON_HOLD.value, Status.EXCEPTION.value):
            problems += [f"order {oid} ({status}): shipment {sh.id} is {sh.status}" for sh in mine
                         if sh.status != status]
    return problems


def shipped_from(engine, order_id: int) -> list[tuple[str, str]]:
    """(warehouse code, status) of the order's shipments, in their order."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(t.warehouses.c.code, t.shipments.c.status).join(t.shipments)
            .where(t.shipments.c.order_id == order_id).order_by(t.shipments.c.seq))]


def product_id(engine, seller: str, sku: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(t.products.c.id).join(t.sellers).where(
            t.sellers.c.code == seller, t.products.c.sku == sku)).scalar_one()


def level(engine, seller: str, sku: str, wh: str, loc: str) -> tuple[int, int]:
    """(on_hand, reserved) of one SKU at one location; (0, 0) when there is no row."""
    with engine.connect() as conn:
        row = conn.execute(select(t.stock.c.on_hand, t.stock.c.reserved)
                           .join(t.locations, t.locations.c.id == t.stock.c.location_id)
                           .join(t.warehouses, t.warehouses.c.id == t.locations.c.warehouse_id)
                           .where(t.stock.c.product_id == product_id(engine, seller, sku),
                                  t.warehouses.c.code == wh, t.locations.c.code == loc)).first()
    return (row.on_hand, row.reserved) if row else (0, 0)


def in_warehouse(engine, seller: str, sku: str, wh: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.sum(t.stock.c.on_hand), 0))
                            .join(t.warehouses, t.warehouses.c.id == t.stock.c.warehouse_id)
                            .where(t.stock.c.product_id == product_id(engine, seller, sku),
                                   t.warehouses.c.code == wh)).scalar_one()


def movements(engine, **where) -> list:
    q = select(t.stock_movements).order_by(t.stock_movements.c.id)
    for k, v in where.items():
        q = q.where(getattr(t.stock_movements.c, k) == v)
    with engine.connect() as conn:
        return conn.execute(q).all()


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def run(engine, fn, *args, **kwargs):
    """Run one use case in its own committed unit of work."""
    with UnitOfWork(engine) as uow:
        result = fn(uow, *args, **kwargs)
        uow.commit()
        return result


def drain_outbox(engine) -> int:
    """Handle every due outbox event, as the worker does after a commit (stock.changed fills
    backorders); returns how many were handled."""
    from qoima.orders.services import backorders  # noqa: F401 - registers the stock.changed handler
    from qoima.platform import outbox
    handled = 0
    while (n := outbox.run_once(engine)):
        handled += n
    return handled


# --- receipts ------------------------------------------------------------------

def test_world_setup_is_consistent(world):
    assert level(world.engine, "seller-a", "SKU-1", "ALA", "A-01") == (10, 0)
    assert in_warehouse(world.engine, "seller-a", "SKU-3", "ALA") == 2
    assert in_warehouse(world.engine, "seller-a", "SKU-3", "AST") == 3
    assert_ledger_consistent(world.engine)


def test_receipt_adds_on_hand_with_ledger_rows_and_reports_discrepancies(world):
    eng, worker = world.engine, world.principals["worker"]
    before = len(movements(eng))
    result = run(eng, inbound.receive, worker, ReceiptIn(
        seller="seller-a", warehouse="ALA", location="A-02", supplier="Steppe Ceramics", reference="ASN-77",
        lines=[ReceiptLineIn(sku="SKU-1", expected=10, received=8), ReceiptLineIn(sku="SKU-2", expected=4, received=4),
               ReceiptLineIn(sku="SKU-3", expected=0, received=2)]))
    assert result["warehouse"] == "ALA" and result["location"] == "A-02"
    assert result["discrepancies"] == [
        {"sku": "SKU-1", "expected": 10, "received": 8, "difference": -2},
        {"sku": "SKU-3", "expected": 0, "received": 2, "difference": 2},
    ]
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-02") == (8, 0)
    assert level(eng, "seller-a", "SKU-2", "ALA", "A-02") == (4, 0)
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (10, 0)  # other location untouched
    rows = movements(eng)[before:]
    assert [(m.kind, m.quantity, m.from_location_id) for m in rows] == [("receipt", 8, None), ("receipt", 4, None),
                                                                        ("receipt", 2, None)]
    for m in rows:
        assert m.to_location_id == world.locations[("ALA", "A-02")]
        assert m.actor == "worker@qoima.local"
        assert m.reason == "supplier delivery Steppe Ceramics"
        assert m.reference == f"receipt:{result['id']}"
        assert m.created_at is not None
    with eng.connect() as conn:
        receipt = conn.execute(select(t.receipts).where(t.receipts.c.id == result["id"])).one()
        lines = conn.execute(select(t.receipt_lines.c.expected_qty, t.receipt_lines.c.received_qty)
                             .where(t.receipt_lines.c.receipt_id == receipt.id).order_by(t.receipt_lines.c.id)).all()
    assert (receipt.supplier, receipt.reference, receipt.status) == ("Steppe Ceramics", "ASN-77", "closed")
    assert [tuple(r) for r in lines] == [(10, 8), (4, 4), (0, 2)]
    assert_ledger_consistent(eng)


def test_receipt_with_nothing_received_is_refused_and_writes_nothing(world):
    eng = world.engine
    before = len(movements(eng))
    receipts = count(eng, t.receipts)
    with pytest.raises(ValidationError) as info:  # a receipt with every quantity 0 books nothing (issue 9)
        run(eng, inbound.receive, world.principals["worker"], ReceiptIn(
            seller="seller-a", warehouse="AST", location="A-01",
            lines=[ReceiptLineIn(sku="SKU-1", expected=5, received=0)]))
    assert info.value.field == "lines"
    assert len(movements(eng)) == before and count(eng, t.receipts) == receipts
    assert_ledger_consistent(eng)


def test_a_bad_receipt_line_leaves_nothing_behind(world):
    eng = world.engine
    counts = (count(eng, t.receipts), count(eng, t.receipt_lines), count(eng, t.stock_movements))
    snapshot = level(eng, "seller-a", "SKU-1", "ALA", "A-01")
    twice = [ReceiptLineIn(sku="SKU-1", received=3), ReceiptLineIn(sku="SKU-1", received=1)]
    unknown = [ReceiptLineIn(sku="SKU-1", received=3), ReceiptLineIn(sku="NOPE", received=1)]
    for lines, field in ((twice, "lines[1].sku"), (unknown, "lines[1].sku")):
        with pytest.raises(ValidationError) as info:
            run(eng, inbound.receive, world.principals["worker"],
                ReceiptIn(seller="seller-a", warehouse="ALA", location="A-01", lines=lines))
        assert info.value.field == field
    with pytest.raises(ValidationError) as info:
        run(eng, inbound.receive, world.principals["worker"],
            ReceiptIn(seller="seller-a", warehouse="ALA", location="Z-99",
                      lines=[ReceiptLineIn(sku="SKU-1", received=1)]))
    assert info.value.field == "location"
    assert (count(eng, t.receipts), count(eng, t.receipt_lines), count(eng, t.stock_movements)) == counts
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == snapshot
    assert_ledger_consistent(eng)


def test_only_staff_receive_goods(world):
    with pytest.raises(Forbidden):
        run(world.engine, inbound.receive, world.principals["seller_a"],
            ReceiptIn(seller="seller-a", warehouse="ALA", location="A-01",
                      lines=[ReceiptLineIn(sku="SKU-1", received=1)]))


# --- moves and put-away ------------------------------------------------------

def test_putaway_from_receiving_then_move_between_bins(world):
    eng, worker = world.engine, world.principals["worker"]
    seller_a = world.sellers["seller-a"]
    run(eng, inbound.receive, worker, ReceiptIn(seller="seller-a", warehouse="ALA", location="RCV",
                                                lines=[ReceiptLineIn(sku="SKU-2", expected=6, received=6)]))
    loc = world.locations
    run(eng, inventory.move, worker, seller_id=seller_a, sku="SKU-2", from_location=loc[("ALA", "RCV")],
        to_location=loc[("ALA", "A-02")], quantity=4)
    assert level(eng, "seller-a", "SKU-2", "ALA", "RCV") == (2, 0)
    assert level(eng, "seller-a", "SKU-2", "ALA", "A-02") == (4, 0)
    putaway = movements(eng, kind="putaway")
    assert len(putaway) == 2  # one row out of RCV, one into A-02
    assert {(m.from_location_id, m.to_location_id) for m in putaway} == {(loc[("ALA", "RCV")], None),
                                                                         (None, loc[("ALA", "A-02")])}
    assert all(m.reference == "move:RCV->A-02" and m.actor == "worker@qoima.local" and m.quantity == 4 for m in putaway)
    run(eng, inventory.move, worker, seller_id=seller_a, sku="SKU-2", from_location=loc[("ALA", "A-02")],
        to_location=loc[("ALA", "A-01")], quantity=1, reason="consolidate bins")
    moves = movements(eng, kind="move")
    assert len(moves) == 2 and all(m.reason == "consolidate bins" for m in moves)
    assert level(eng, "seller-a", "SKU-2", "ALA", "A-01") == (1, 0)
    assert_ledger_consistent(eng)


def test_move_refuses_more_than_free_other_warehouse_and_bad_quantity(world):
    eng, worker, loc = world.engine, world.principals["worker"], world.locations
    seller_a = world.sellers["seller-a"]
    before = len(movements(eng))
    with pytest.raises(Conflict) as info:
        run(eng, inventory.move, worker, seller_id=seller_a, sku="SKU-1", from_location=loc[("ALA", "A-01")],
            to_location=loc[("ALA", "A-02")], quantity=11)
    assert "only 10 unit(s)" in info.value.message
    with pytest.raises(ValidationError) as info:
        run(eng, inventory.move, worker, seller_id=seller_a, sku="SKU-1", from_location=loc[("ALA", "A-01")],
            to_location=loc[("AST", "A-01")], quantity=1)
    assert "transfer" in info.value.message
    for qty in (0, -3):
        with pytest.raises(ValidationError):
            run(eng, inventory.move, worker, seller_id=seller_a, sku="SKU-1", from_location=loc[("ALA", "A-01")],
                to_location=loc[("ALA", "A-02")], quantity=qty)
    with pytest.raises(Forbidden):
        run(eng, inventory.move, world.principals["seller_a"], seller_id=seller_a, sku="SKU-1",
            from_location=loc[("ALA", "A-01")], to_location=loc[("ALA", "A-02")], quantity=1)
    assert len(movements(eng)) == before
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (10, 0)
    assert_ledger_consistent(eng)


# --- adjustments and scrap -------------------------------------------------------

def test_adjustments_need_a_reason_and_are_ledgered(world):
    eng, manager, loc = world.engine, world.principals["manager"], world.locations
    seller_a = world.sellers["seller-a"]
    for reason in ("", "   "):
        with pytest.raises(ValidationError) as info:
            run(eng, inventory.adjust, manager, seller_id=seller_a, sku="SKU-1", location_id=loc[("ALA", "A-01")],
                delta=2, reason=reason)
        assert info.value.field == "reason"
    with pytest.raises(ValidationError) as info:
        run(eng, inventory.adjust, manager, seller_id=seller_a, sku="SKU-1", location_id=loc[("ALA", "A-01")],
            delta=0, reason="count")
    assert info.value.field == "delta"
    run(eng, inventory.adjust, manager, seller_id=seller_a, sku="SKU-1", location_id=loc[("ALA", "A-01")],
        delta=3, reason="cycle count found 3 more")
    run(eng, inventory.adjust, manager, seller_id=seller_a, sku="SKU-1", location_id=loc[("ALA", "A-01")],
        delta=-5, reason="cycle count: 5 missing")
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (8, 0)
    adj = movements(eng, kind="adjustment")
    assert [(m.quantity, m.to_location_id is not None, m.reason, m.actor) for m in adj] == [
        (3, True, "cycle count found 3 more", "manager@qoima.local"),
        (5, False, "cycle count: 5 missing", "manager@qoima.local")]
    assert all(m.reference == "adjustment:A-01" for m in adj)
    with pytest.raises(Conflict):  # cannot count below zero
        run(eng, inventory.adjust, manager, seller_id=seller_a, sku="SKU-1", location_id=loc[("ALA", "A-01")],
            delta=-9, reason="lost")
    assert_ledger_consistent(eng)


def test_scrap_always_goes_down_and_never_takes_reserved_units(world):
    from conftest import order_payload

    from qoima.orders.services.intake import submit_order
    from qoima.orders.schemas import OrderIn

    eng, worker, loc = world.engine, world.principals["worker"], world.locations
    seller_a = world.sellers["seller-a"]
    run(eng, inventory.adjust, worker, seller_id=seller_a, sku="SKU-1", location_id=loc[("ALA", "A-01")],
        delta=2, reason="broken in handling", scrap=True)  # a positive delta still scraps 2
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (8, 0)
    (scrap,) = movements(eng, kind="scrap")
    assert (scrap.quantity, scrap.from_location_id, scrap.to_location_id) == (2, loc[("ALA", "A-01")], None)
    assert scrap.reason == "broken in handling" and scrap.reference == "scrap:A-01"
    order, _ = submit_order(eng, world.principals["seller_a"], OrderIn(**order_payload("SCRAP-1", [("SKU-1", 7)])))
    assert order["status"] == "allocated"
    with pytest.raises(Conflict) as info:  # 8 on hand, 7 reserved: only 1 may be scrapped
        run(eng, inventory.adjust, worker, seller_id=seller_a, sku="SKU-1", location_id=loc[("ALA", "A-01")],
            delta=-2, reason="water damage", scrap=True)
    assert "only 1 unit(s)" in info.value.message
    run(eng, inventory.adjust, worker, seller_id=seller_a, sku="SKU-1", location_id=loc[("ALA", "A-01")],
        delta=-1, reason="water damage", scrap=True)
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (7, 7)
    assert_ledger_consistent(eng)


def test_a_seller_cannot_touch_stock_of_another_seller_through_the_service(world):
    with pytest.raises((Forbidden, NotFound)):
        run(world.engine, inventory.adjust, world.principals["seller_b"], seller_id=world.sellers["seller-a"],
            sku="SKU-1", location_id=world.locations[("ALA", "A-01")], delta=1, reason="x")


# --- transfers ---------------------------------------------------------------

def test_transfer_is_in_transit_then_received_at_destination(world):
    eng, worker = world.engine, world.principals["worker"]
    tr = run(eng, inbound.start_transfer, worker, TransferIn(
        seller="seller-a", from_warehouse="ALA", to_warehouse="AST",
        lines=[TransferLineIn(sku="SKU-1", quantity=4, from_location="A-01"),
               TransferLineIn(sku="SKU-3", quantity=2, from_location="A-01")]))
    assert tr["status"] == "in_transit" and (tr["from"], tr["to"]) == ("ALA", "AST")
    # in transit: gone from the origin, not yet at the destination
    assert in_warehouse(eng, "seller-a", "SKU-1", "ALA") == 6
    assert in_warehouse(eng, "seller-a", "SKU-1", "AST") == 0
    assert in_warehouse(eng, "seller-a", "SKU-3", "ALA") == 0
    assert in_warehouse(eng, "seller-a", "SKU-3", "AST") == 3
    out = movements(eng, kind="transfer_out")
    assert [(m.quantity, m.reference, m.reason) for m in out] == [(4, f"transfer:{tr['id']}", "transfer to AST"),
                                                                  (2, f"transfer:{tr['id']}", "transfer to AST")]
    with eng.connect() as conn:
        status = conn.execute(select(t.transfers.c.status).where(t.transfers.c.id == tr["id"])).scalar_one()
    assert status == "in_transit"
    assert_ledger_consistent(eng)

    done = run(eng, inbound.receive_transfer, worker, tr["id"], "A-02")
    assert done["status"] == "received"
    assert level(eng, "seller-a", "SKU-1", "AST", "A-02") == (4, 0)
    assert level(eng, "seller-a", "SKU-3", "AST", "A-02") == (2, 0)
    assert in_warehouse(eng, "seller-a", "SKU-3", "AST") == 5
    incoming = movements(eng, kind="transfer_in")
    assert [(m.quantity, m.to_location_id) for m in incoming] == [(4, world.locations[("AST", "A-02")]),
                                                                  (2, world.locations[("AST", "A-02")])]
    with pytest.raises(Conflict):  # a transfer is received once
        run(eng, inbound.receive_transfer, worker, tr["id"], "A-02")
    with pytest.raises(NotFound):
        run(eng, inbound.receive_transfer, worker, 999_999, "A-02")
    assert_ledger_consistent(eng)


def test_transfer_refuses_more_than_free_and_same_warehouse(world):
    eng, worker = world.engine, world.principals["worker"]
    counts = (count(eng, t.transfers), count(eng, t.transfer_lines), count(eng, t.stock_movements))
    with pytest.raises(Conflict):  # the second line fails after the first was written: all rolled back
        run(eng, inbound.start_transfer, worker, TransferIn(
            seller="seller-a", from_warehouse="ALA", to_warehouse="AST",
            lines=[TransferLineIn(sku="SKU-1", quantity=2, from_location="A-01"),
                   TransferLineIn(sku="SKU-3", quantity=3, from_location="A-01")]))
    with pytest.raises(ValidationError):
        run(eng, inbound.start_transfer, worker, TransferIn(
            seller="seller-a", from_warehouse="ALA", to_warehouse="ALA",
            lines=[TransferLineIn(sku="SKU-1", quantity=1, from_location="A-01")]))
    assert (count(eng, t.transfers), count(eng, t.transfer_lines), count(eng, t.stock_movements)) == counts
    assert in_warehouse(eng, "seller-a", "SKU-1", "ALA") == 10
    assert_ledger_consistent(eng)


# --- the database refuses impossible counters ------------------------------------

def _stock_id(world, sku="SKU-1", wh="ALA") -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(t.stock.c.id).where(
            t.stock.c.product_id == product_id(world.engine, "seller-a", sku),
            t.stock.c.location_id == world.locations[(wh, "A-01")])).scalar_one()


@pytest.mark.parametrize("values,sql", [
    ({"on_hand": -1}, "UPDATE stock SET on_hand = -1 WHERE id = :id"),
    ({"reserved": 11}, "UPDATE stock SET reserved = on_hand + 1 WHERE id = :id"),
    ({"reserved": -1}, "UPDATE stock SET reserved = -1 WHERE id = :id"),
], ids=["negative-on-hand", "reserved-over-on-hand", "negative-reserved"])
def test_database_refuses_impossible_stock_counters(world, values, sql):
    sid = _stock_id(world)
    with pytest.raises(IntegrityError):
        with world.engine.begin() as conn:
            conn.execute(update(t.stock).where(t.stock.c.id == sid).values(**values))
    with pytest.raises(IntegrityError):  # raw SQL too, not only SQLAlchemy expressions
        with world.engine.begin() as conn:
            conn.execute(text(sql), {"id": sid})
    assert level(world.engine, "seller-a", "SKU-1", "ALA", "A-01") == (10, 0)


def test_database_refuses_reserving_more_than_on_hand_via_atomic_increment(world):
    sid = _stock_id(world)
    with world.engine.begin() as conn:
        conn.execute(update(t.stock).where(t.stock.c.id == sid).values(reserved=t.stock.c.reserved + 10))
    with pytest.raises(IntegrityError):
        with world.engine.begin() as conn:
            conn.execute(update(t.stock).where(t.stock.c.id == sid).values(reserved=t.stock.c.reserved + 1))
    with pytest.raises(IntegrityError):  # nor can on-hand drop below what is reserved
        with world.engine.begin() as conn:
            conn.execute(update(t.stock).where(t.stock.c.id == sid).values(on_hand=t.stock.c.on_hand - 1))


def test_database_refuses_bad_ledger_rows(world):
    from datetime import datetime
    pid = product_id(world.engine, "seller-a", "SKU-1")
    base = {"kind": "receipt", "product_id": pid, "to_location_id": world.locations[("ALA", "A-01")], "quantity": 1,
            "actor": "test", "created_at": datetime(2025, 1, 1)}
    for bad in ({"quantity": 0}, {"quantity": -4}, {"kind": "teleport"}, {"to_location_id": None}):
        with pytest.raises(IntegrityError):
            with world.engine.begin() as conn:
                conn.execute(t.stock_movements.insert().values(**{**base, **bad}))
    with pytest.raises(IntegrityError):  # one stock row per (product, location)
        with world.engine.begin() as conn:
            conn.execute(t.stock.insert().values(product_id=pid, location_id=world.locations[("ALA", "A-01")],
                                                 warehouse_id=world.warehouses["ALA"], on_hand=0, reserved=0))
