"""Allocated means reserved (issue 7, item 4), on a real database.

A walk over every (from, to) pair: for each status (on hold and exception once per
status they can come from) a real order is brought there through the services; then
a staff user and a seller user try every one of the 14 targets and a re-source. The
moves that are allowed are written out below (not derived from the code under test);
an allowed move must succeed, any other must be refused with 403 / 409 and change
nothing. After every move that happened, every order between allocated and packed
must hold reservations (allocated, picking) or picked units (picked, packed) equal to
its lines, and the ledger must agree with the counters. The page's list of moves
(`lifecycle.next_steps`) must be exactly what was accepted.

Plus the reproduction of the issue: 500 units ordered with 29 on hand can no longer
be moved to allocated and picked as complete; re-sourcing after the stock arrived
allocates it."""

from __future__ import annotations

from collections import defaultdict

import pytest
from conftest import build_world, order_payload
from sqlalchemy import func, select, update
from test_stock_ledger import assert_ledger_consistent, level, run, shipped_from

from qoima.db import tables as t
from qoima.orders.domain.status import Status
from qoima.orders.schemas import OrderIn
from qoima.orders.services import lifecycle, resourcing
from qoima.orders.services.intake import submit_order
from qoima.platform.errors import Conflict, Forbidden, InvalidTransition
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn
from qoima.stock.services import inbound

S = Status
FULL = [("SKU-1", 2)]  # plenty of SKU-1 in ALA: always allocated
SHORT = [("SKU-1", 1), ("SKU-3", 50)]  # 5 of SKU-3 on hand: always backordered
ROAD = ["picking", "picked", "packed", "shipped", "in_transit", "out_for_delivery", "delivered"]

# name -> (lines, path of staff moves from intake, or "new": left in `new`)
SCENARIOS = {
    "new": (SHORT, "new"),
    "backordered": (SHORT, []),
    "allocated": (FULL, []),
    **{step: (FULL, ROAD[: i + 1]) for i, step in enumerate(ROAD)},
    "returned": (FULL, ROAD + ["returned"]),
    "cancelled": (FULL, ["cancelled"]),
    "on_hold<-new": (SHORT, "new", ["on_hold"]),
    "on_hold<-backordered": (SHORT, ["on_hold"]),
    "on_hold<-allocated": (FULL, ["on_hold"]),
    **{f"on_hold<-{s}": (FULL, ROAD[: i + 1] + ["on_hold"]) for i, s in enumerate(ROAD[:3])},
    "exception<-new": (SHORT, "new", ["exception"]),
    "exception<-backordered": (SHORT, ["exception"]),
    "exception<-allocated": (FULL, ["exception"]),
    **{f"exception<-{s}": (FULL, ROAD[: i + 1] + ["exception"]) for i, s in enumerate(ROAD[:6])},
}

# What staff may move each one to; a seller may do the same but only cancel / hold. Written out.
STAFF_MAY = {
    "new": {S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    "backordered": {S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    "allocated": {S.PICKING, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    "picking": {S.PICKED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    "picked": {S.PACKED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    "packed": {S.SHIPPED, S.ON_HOLD, S.CANCELLED, S.EXCEPTION},
    "shipped": {S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED},
    "in_transit": {S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED},
    "out_for_delivery": {S.DELIVERED, S.IN_TRANSIT, S.EXCEPTION, S.RETURNED},
    "delivered": {S.RETURNED},
    "returned": set(),
    "cancelled": set(),
    "on_hold<-new": {S.NEW, S.CANCELLED},
    "on_hold<-backordered": {S.CANCELLED},
    "on_hold<-allocated": {S.CANCELLED},
    "on_hold<-picking": {S.PICKING, S.CANCELLED},
    "on_hold<-picked": {S.PICKED, S.CANCELLED},
    "on_hold<-packed": {S.PACKED, S.CANCELLED},
    "exception<-new": {S.NEW, S.CANCELLED},
    "exception<-backordered": {S.CANCELLED},
    "exception<-allocated": {S.CANCELLED},
    "exception<-picking": {S.PICKING, S.CANCELLED},
    "exception<-picked": {S.PICKED, S.CANCELLED},
    "exception<-packed": {S.PACKED, S.CANCELLED},
    "exception<-shipped": {S.SHIPPED, S.RETURNED},
    "exception<-in_transit": {S.IN_TRANSIT, S.RETURNED},
    "exception<-out_for_delivery": {S.OUT_FOR_DELIVERY, S.RETURNED},
}
# Where staff may re-source (and what it ends in: lines that can be filled are; SHORT ones cannot).
RESOURCE = {"new", "backordered", "allocated", "on_hold<-new", "on_hold<-backordered", "on_hold<-allocated",
            "on_hold<-picking", "exception<-new", "exception<-backordered", "exception<-allocated",
            "exception<-picking"}


def test_the_specification_covers_every_scenario():
    assert set(STAFF_MAY) == set(SCENARIOS) and RESOURCE <= set(SCENARIOS)


# --- the invariant ---------------------------------------------------------------------------------------

def _was(conn) -> dict[tuple[int, str], str | None]:
    """(order, status) -> the status it came from the last time it entered that status."""
    return {(e.order_id, e.to_status): e.from_status for e in conn.execute(
        select(t.order_events.c.order_id, t.order_events.c.from_status, t.order_events.c.to_status)
        .order_by(t.order_events.c.id))}


def assert_orders_hold_their_lines(engine) -> None:
    """Every order between allocated and packed (also on hold / in exception from there) holds
    reservations (allocated, picking) or picked units (picked, packed) equal to its lines;
    then the ledger check the other integration tests use."""
    problems = []
    with engine.connect() as conn:
        orders = conn.execute(select(t.orders.c.id, t.orders.c.status)).all()
        was = _was(conn)
        per_line = defaultdict(int)
        for r in conn.execute(select(t.reservations.c.order_line_id, t.reservations.c.quantity)):
            per_line[r.order_line_id] += r.quantity
        taken = defaultdict(int)  # (order, product) -> units picked and not given back
        for m in conn.execute(select(t.stock_movements).where(t.stock_movements.c.kind.in_(("pick", "return")))):
            if m.reference.startswith("order:"):
                taken[(int(m.reference[6:]), m.product_id)] += m.quantity if m.kind == "pick" else -m.quantity
        lines = defaultdict(list)
        for ln in conn.execute(select(t.order_lines)):
            lines[ln.order_id].append(ln)
        for o in orders:
            stage = was.get((o.id, o.status)) if o.status in (S.ON_HOLD, S.EXCEPTION) else o.status
            need = defaultdict(int)
            for ln in lines[o.id]:
                need[ln.product_id] += ln.quantity
                if stage in (S.ALLOCATED, S.PICKING) and (per_line[ln.id], ln.backordered) != (ln.quantity, 0):
                    problems.append(f"order {o.id} ({o.status}, from {stage}): line {ln.sku} reserved "
                                    f"{per_line[ln.id]} of {ln.quantity}, backordered {ln.backordered}")
                if stage in (S.PICKED, S.PACKED) and (per_line[ln.id] or ln.backordered):
                    problems.append(f"order {o.id} ({o.status}): line {ln.sku} still reserved / backordered")
                if per_line[ln.id] + ln.backordered > ln.quantity:
                    problems.append(f"order {o.id}: line {ln.sku} reserved + backordered > quantity")
            if stage in (S.PICKED, S.PACKED):
                for pid, qty in need.items():
                    if taken[(o.id, pid)] != qty:
                        problems.append(f"order {o.id} ({o.status}): picked {taken[(o.id, pid)]} of {qty} "
                                        f"of product {pid}")
    assert not problems, "orders not backed by stock:\n" + "\n".join(problems)
    assert_ledger_consistent(engine)


# --- the walk ------------------------------------------------------------------------------------------

@pytest.fixture
def stocked(engine):
    return build_world(engine, {("seller-a", "SKU-1", "ALA"): 1000, ("seller-a", "SKU-3", "ALA"): 2,
                                ("seller-a", "SKU-3", "AST"): 3})


class Orders:
    """Brings fresh orders into a scenario's status; one is reused while moves on it are refused."""

    def __init__(self, world):
        self.world, self.n, self.ready = world, 0, {}

    def get(self, scenario: str) -> int:
        if scenario not in self.ready:
            self.ready[scenario] = self._build(scenario)
        return self.ready[scenario]

    def used(self, scenario: str) -> None:
        self.ready.pop(scenario, None)

    def _build(self, scenario: str) -> int:
        lines, *paths = SCENARIOS[scenario]
        self.n += 1
        order, created = submit_order(self.world.engine, self.world.principals["seller_a"],
                                      OrderIn(**order_payload(f"WALK-{self.n}", lines)))
        assert created
        for path in paths:
            if path == "new":  # no writer leaves an order in `new` today: put it back there as one would
                with self.world.engine.begin() as conn:
                    conn.execute(update(t.orders).where(t.orders.c.id == order["id"]).values(status="new"))
                    conn.execute(update(t.shipments).where(t.shipments.c.order_id == order["id"]).values(status="new"))
                continue
            for step in path:
                run(self.world.engine, lifecycle.transition, self.world.principals["manager"], order["id"], step)
        return order["id"]


def _state(engine, order_id: int):
    """The order's status and reason, and everything a refused move could have written, in one query."""
    def total(col):
        return select(func.coalesce(func.sum(col), 0)).scalar_subquery()

    def count(table):
        return select(func.count()).select_from(table).scalar_subquery()
    o = t.orders.c
    with engine.connect() as conn:
        return tuple(conn.execute(select(
            o.status, o.sourcing_reason, count(t.shipments), count(t.order_events), count(t.outbox),
            count(t.stock_movements), total(t.stock.c.on_hand), total(t.stock.c.reserved), count(t.reservations),
            total(t.reservations.c.quantity), total(t.order_lines.c.backordered)).where(o.id == order_id)).one())


def _steps(world, who: str, order_id: int) -> lifecycle.NextSteps:
    with UnitOfWork(world.engine) as uow:
        return lifecycle.next_steps(uow, world.principals[who], order_id)


def test_every_move_for_staff_and_seller_keeps_every_order_backed_by_stock(stocked):
    world = stocked
    orders = Orders(world)
    for scenario in SCENARIOS:
        for who in ("manager", "worker", "seller_a"):
            staff = who != "seller_a"
            may = STAFF_MAY[scenario] if staff else STAFF_MAY[scenario] & {S.CANCELLED, S.ON_HOLD}
            if who == "worker":  # the floor may not cancel (platform/roles.py)
                may = may - {S.CANCELLED}
            steps = _steps(world, who, orders.get(scenario))
            assert set(steps.moves) == {s.value for s in may}, (scenario, who)  # what the page offers
            assert steps.resource is (staff and scenario in RESOURCE), (scenario, who)
            for target in Status:
                oid = orders.get(scenario)
                before = _state(world.engine, oid)
                if target in may:
                    assert run(world.engine, lifecycle.transition, world.principals[who], oid, target.value) == target
                    orders.used(scenario)
                    assert _state(world.engine, oid)[0] == target.value
                    assert_orders_hold_their_lines(world.engine)
                    continue
                with pytest.raises((InvalidTransition, Forbidden)) as info:
                    run(world.engine, lifecycle.transition, world.principals[who], oid, target.value)
                refused_role = (who == "worker" and target == S.CANCELLED) or (
                    not staff and target in _table(scenario) and target not in (S.CANCELLED, S.ON_HOLD))
                assert info.value.status == (403 if refused_role else 409), (scenario, who, target)
                assert info.value.extra["to_status"] == target.value
                assert _state(world.engine, oid) == before, (scenario, who, target)
            # re-sourcing
            oid = orders.get(scenario)
            before = _state(world.engine, oid)
            if staff and scenario in RESOURCE:
                done = run(world.engine, resourcing.resource, world.principals[who], oid, "walk")
                orders.used(scenario)
                lines = SCENARIOS[scenario][0]
                assert done.status == ("allocated" if lines is FULL else "backordered"), scenario
                after = _state(world.engine, oid)
                assert after[:2] == (done.status, done.reason)
                assert_orders_hold_their_lines(world.engine)
            else:
                with pytest.raises((Conflict, Forbidden)) as info:
                    run(world.engine, resourcing.resource, world.principals[who], oid)
                assert info.value.status == (409 if staff else 403)
                assert _state(world.engine, oid) == before
    assert_orders_hold_their_lines(world.engine)


def _table(scenario: str) -> set:
    from qoima.orders.domain.status import TRANSITIONS
    return TRANSITIONS[Status(scenario.split("<-")[0])]


# --- the reproduction of issue 7 ------------------------------------------------------------------------

def test_backordered_cannot_be_allocated_by_hand_and_re_sourcing_after_the_stock_arrived_allocates(engine,
                                                                                                    settings):
    """`qoima demo`: 500 units of a SKU with 29 on hand were moved allocated -> picking -> picked by hand
    and reported backordered 0 while on-hand fell by 29 only. Now every such move is refused; once the
    stock is there, re-sourcing allocates the order and the pick takes all 500."""
    from fastapi.testclient import TestClient

    from qoima.entrypoints.api.app import create_app
    world = build_world(engine, {("seller-a", "SKU-1", "ALA"): 29})
    staff, seller = world.headers("worker"), world.headers("seller_a")
    with TestClient(create_app(engine, settings)) as client:
        r = client.post("/api/v1/orders", json=order_payload("STE-500", [("SKU-1", 500)]), headers=seller)
        assert r.status_code == 201 and r.json()["status"] == "backordered"
        oid = r.json()["id"]
        assert r.json()["lines"][0]["backordered"] == 471
        assert level(engine, "seller-a", "SKU-1", "ALA", "A-01") == (29, 29)
        url = f"/api/v1/orders/{oid}/transitions"
        for step in ("allocated", "picking", "picked"):
            bad = client.post(url, json={"status": step}, headers=staff)
            assert bad.status_code == 409 and bad.headers["content-type"] == "application/problem+json", bad.text
            assert (bad.json()["from_status"], bad.json()["to_status"]) == ("backordered", step)
        assert "'allocated' is set by sourcing only" in client.post(url, json={"status": "allocated"},
                                                                     headers=staff).json()["detail"]
        assert client.post(url, json={"status": "allocated"}, headers=seller).status_code == 403
        # the order is held while the goods arrive: the hold stays a hold, the backorder is not filled
        r = client.post(url, json={"status": "on_hold", "reason": "call the buyer"}, headers=seller)
        assert r.status_code == 200
        r = client.post("/api/v1/receipts", headers=staff, json={
            "seller": "seller-a", "warehouse": "ALA", "location": "A-01",
            "lines": [{"sku": "SKU-1", "expected": 471, "received": 471}]})
        assert r.status_code in (200, 201), r.text
        order = client.get(f"/api/v1/orders/{oid}", headers=staff).json()
        assert order["status"] == "on_hold" and order["lines"][0]["backordered"] == 471
        for step in ("allocated", "backordered", "picking"):
            assert client.post(url, json={"status": step}, headers=staff).status_code == 409
        assert client.post(f"/api/v1/orders/{oid}/resource", headers=seller).status_code == 403
        r = client.post(f"/api/v1/orders/{oid}/resource", json={"reason": "goods arrived"}, headers=staff)
        assert r.status_code == 200, r.text
        order = r.json()
        assert order["status"] == "allocated" and order["lines"][0]["backordered"] == 0
        assert order["sourcing_reason"] == "1 parcel from ALA" and order["warehouses"] == ["ALA"]
        assert sum(x["quantity"] for x in order["reservations"]) == 500
        last = order["timeline"][-1]
        assert (last["from_status"], last["to_status"], last["actor"]) == ("on_hold", "allocated",
                                                                           "worker@qoima.local")
        assert last["reason"] == "re-sourced: 1 parcel from ALA (goods arrived)"
        assert_orders_hold_their_lines(engine)
        for step in ("picking", "picked"):
            assert client.post(url, json={"status": step}, headers=staff).status_code == 200
        assert level(engine, "seller-a", "SKU-1", "ALA", "A-01") == (0, 0)  # all 500 left the bin
        # after the pick an exception keeps the goods: no way back to allocated or picking
        assert client.post(url, json={"status": "exception"}, headers=staff).status_code == 200
        for step in ("allocated", "backordered", "picking"):
            assert client.post(url, json={"status": step}, headers=staff).status_code == 409
        assert client.post(f"/api/v1/orders/{oid}/resource", headers=staff).status_code == 409
        assert client.post(url, json={"status": "picked"}, headers=staff).status_code == 200
        assert_orders_hold_their_lines(engine)
    with engine.connect() as conn:
        events = conn.execute(select(t.outbox.c.topic, t.outbox.c.payload).where(t.outbox.c.aggregate_id == oid)
                              .order_by(t.outbox.c.id)).all()
    assert {"order_id": oid, "from": "on_hold", "to": "allocated",
            "reason": "re-sourced: 1 parcel from ALA (goods arrived)"} in [e.payload for e in events]


def test_re_sourcing_finds_a_better_plan_and_stores_its_reason(stocked):
    """An order split over two warehouses ships in one parcel once one warehouse has it all."""
    world, eng = stocked, stocked.engine
    order, _ = submit_order(eng, world.principals["seller_a"], OrderIn(**order_payload("SPLIT-1", [("SKU-3", 4)])))
    assert order["status"] == "allocated" and sorted(order["warehouses"]) == ["ALA", "AST"]
    run(eng, inbound.receive, world.principals["worker"], ReceiptIn(
        seller="seller-a", warehouse="AST", location="A-02", lines=[ReceiptLineIn(sku="SKU-3", expected=10,
                                                                                  received=10)]))
    done = run(eng, resourcing.resource, world.principals["manager"], order["id"])
    assert (done.from_status, done.status, done.warehouses) == ("allocated", "allocated", ["AST"])
    assert done.reason.startswith("1 parcel from AST")
    assert level(eng, "seller-a", "SKU-3", "ALA", "A-01") == (2, 0)  # given back
    with eng.connect() as conn:
        o = conn.execute(select(t.orders).where(t.orders.c.id == order["id"])).one()
        last = conn.execute(select(t.order_events).where(t.order_events.c.order_id == order["id"])
                            .order_by(t.order_events.c.id.desc()).limit(1)).one()
    assert shipped_from(eng, order["id"]) == [("AST", "allocated")] and o.sourcing_reason == done.reason
    assert (last.from_status, last.to_status, last.actor) == ("allocated", "allocated", "manager@qoima.local")
    assert last.reason == f"re-sourced: {done.reason}"
    assert_orders_hold_their_lines(eng)


def test_the_invariant_check_catches_the_old_hole(stocked):
    """Guard for the guard: an order marked allocated over a short reservation (what the old
    backordered -> allocated move left behind) fails the check."""
    world, eng = stocked, stocked.engine
    order, _ = submit_order(eng, world.principals["seller_a"], OrderIn(**order_payload("HOLE-1", SHORT)))
    assert order["status"] == "backordered"
    assert_orders_hold_their_lines(eng)
    with eng.begin() as conn:
        conn.execute(update(t.orders).where(t.orders.c.id == order["id"]).values(status="allocated"))
    with pytest.raises(AssertionError, match="reserved"):
        assert_orders_hold_their_lines(eng)
