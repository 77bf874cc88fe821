"""Concurrency on PostgreSQL: many simultaneous orders for scarce stock never
over-reserve and never deadlock; simultaneous duplicates become one order.

Skipped when QOIMA_TEST_DATABASE_URL is unset; when it is set and PostgreSQL is
unreachable the session fixture fails (it is not caught here)."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import build_world, order_payload
from sqlalchemy import func, select, text
from test_stock_ledger import assert_ledger_consistent, run

from qoima.db import pg_async
from qoima.db import tables as t
from qoima.orders.services import express_intake
from qoima.stock.services import inventory
from qoima.orders.services.intake import submit_order
from qoima.orders.schemas import OrderIn

pytestmark = pytest.mark.postgres

if not os.environ.get("QOIMA_TEST_DATABASE_URL"):
    pytest.skip("PostgreSQL concurrency tests need QOIMA_TEST_DATABASE_URL "
                "(e.g. postgresql://postgres@127.0.0.1:5432/test)", allow_module_level=True)




@pytest.fixture
def pg(pg_engine_session):
    """The migrated PostgreSQL schema of this worker, emptied."""
    names = ", ".join(f'"{tbl.name}"' for tbl in reversed(t.metadata.sorted_tables))
    with pg_engine_session.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return pg_engine_session


def in_parallel(fn, args: list, workers: int = 40) -> tuple[list, list]:
    """Run fn(arg) for every arg on `workers` threads released together; (results, errors).
    40 threads = the pool size + overflow of the test engine."""
    gate = threading.Barrier(min(workers, len(args)))

    def call(arg):
        try:
            gate.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        return fn(arg)

    results, errors = [], []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(call, a) for a in args]
        for f in futures:
            try:
                results.append(f.result(timeout=120))
            except Exception as exc:  # noqa: BLE001 - every error is reported by the test
                errors.append(repr(exc))
    return results, errors


def express_in_parallel(engine, calls: list[tuple]) -> tuple[list, list]:
    """Each (principal, OrderIn, key) through express_intake.submit, all at once on one event loop
    (as one API process serves concurrent requests); (results, errors)."""
    async def main():
        try:
            out = await asyncio.gather(*(express_intake.submit(engine, p, d, k) for p, d, k in calls),
                                       return_exceptions=True)
        finally:
            await pg_async.close_pools(engine)
        return out
    out = asyncio.run(main())
    return [r for r in out if not isinstance(r, BaseException)], [repr(r) for r in out if isinstance(r, BaseException)]


def place_all(engine, path: str, calls: list[tuple], workers: int = 40) -> tuple[list, list]:
    """Submit every (principal, OrderIn, key) concurrently: on threads through the careful path,
    or on one event loop through the express path (which hands races over to the careful one)."""
    if path == "express":
        return express_in_parallel(engine, calls)
    return in_parallel(lambda c: submit_order(engine, c[0], c[1], c[2]), calls, workers=workers)


PATHS = pytest.mark.parametrize("path", ["careful", "express"])


@PATHS
def test_200_concurrent_orders_for_100_units(pg, path):
    # 100 units of SKU-1 over three stock rows in two warehouses (locks must be taken in order)
    world = build_world(pg, {("seller-a", "SKU-1", "ALA"): 60, ("seller-a", "SKU-1", "AST"): 40})
    run(pg, inventory.move, world.principals["worker"], seller_id=world.sellers["seller-a"], sku="SKU-1",
        from_location=world.locations[("ALA", "A-01")], to_location=world.locations[("ALA", "A-02")], quantity=15)
    seller = world.principals["seller_a"]

    calls = [(seller, OrderIn(**order_payload(f"RUSH-{i:03d}", [("SKU-1", 1)],
                                              customer={"name": f"Buyer {i}", "phone": f"+7701{1000000 + i}"})),
              None) for i in range(200)]
    express_before = express_intake.taken["express", ""]
    results, errors = place_all(pg, path, calls)
    assert errors == []
    if path == "express":  # the express path booked some, and handed the shortfalls and lost races over
        assert express_intake.taken["express", ""] > express_before
    assert len(results) == 200 and all(created for _, created in results)
    statuses = [order["status"] for order, _ in results]
    assert statuses.count("allocated") == 100
    assert statuses.count("backordered") == 100
    with pg.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.orders)).scalar_one() == 200
        by_status = dict(conn.execute(select(t.orders.c.status, func.count()).group_by(t.orders.c.status)).all())
        reserved = conn.execute(select(func.sum(t.stock.c.reserved), func.sum(t.stock.c.on_hand))).one()
        units_reserved = conn.execute(select(func.sum(t.reservations.c.quantity))).scalar_one()
        units_backordered = conn.execute(select(func.sum(t.order_lines.c.backordered))).scalar_one()
        events = conn.execute(select(func.count()).select_from(t.order_events)).scalar_one()
        outbox = conn.execute(select(func.count()).select_from(t.outbox)  # the move above wrote a stock.changed
                              .where(t.outbox.c.topic.like("order.%"))).scalar_one()
    assert by_status == {"allocated": 100, "backordered": 100}
    assert tuple(reserved) == (100, 100)
    assert units_reserved == 100 and units_backordered == 100
    assert events == 400 and outbox == 600  # new + allocated/backordered per order; + order.created
    assert_ledger_consistent(pg)


def _duplicates(pg, path: str, payloads: list[dict], key: str | None = None):
    world = build_world(pg, {("seller-a", "SKU-1", "ALA"): 10})
    seller = world.principals["seller_a"]
    results, errors = place_all(pg, path, [(seller, OrderIn(**body), key) for body in payloads], workers=25)
    assert errors == []
    ids = {order["id"] for order, _ in results}
    assert len(ids) == 1
    assert sum(1 for _, created in results if created) == 1
    with pg.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.orders)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(t.order_lines)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(t.customers)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(t.outbox)).scalar_one() == 3
        assert conn.execute(select(func.sum(t.stock.c.reserved))).scalar_one() == 2
    assert_ledger_consistent(pg)


@PATHS
def test_50_concurrent_duplicates_become_one_order(pg, path):
    _duplicates(pg, path, [order_payload("DUP-1", [("SKU-1", 2)]) for _ in range(50)])


@PATHS
def test_50_concurrent_posts_with_one_idempotency_key_become_one_order(pg, path):
    _duplicates(pg, path, [order_payload("KEY-1", [("SKU-1", 2)]) for _ in range(50)], key="client-retry-7f3a")


@PATHS
def test_one_key_with_50_different_bodies_at_once_books_one_and_refuses_the_rest(pg, path):
    """The same Idempotency-Key for 50 other requests at once: one is booked; every other one is
    refused with KeyReused (422) whichever won the race, never a server error or a second order."""
    world = build_world(pg, {("seller-a", "SKU-1", "ALA"): 10})
    seller = world.principals["seller_a"]
    calls = [(seller, OrderIn(**order_payload(f"KEY-{i}", [("SKU-1", 2)])), "client-retry-9") for i in range(50)]
    results, errors = place_all(pg, path, calls, workers=25)
    assert len(results) == 1 and results[0][1] is True
    assert len(errors) == 49 and all(e.startswith("KeyReused(") for e in errors), set(errors)
    with pg.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.orders)).scalar_one() == 1
    assert_ledger_consistent(pg)


@PATHS
def test_concurrent_orders_of_one_customer_make_one_customer(pg, path):
    world = build_world(pg, {("seller-a", "SKU-1", "ALA"): 50})
    seller = world.principals["seller_a"]
    results, errors = place_all(pg, path, [(seller, OrderIn(**order_payload(f"SAME-{i}", [("SKU-1", 1)])), None)
                                           for i in range(30)])
    assert errors == [] and len({o["id"] for o, _ in results}) == 30
    with pg.connect() as conn:
        customers = conn.execute(select(func.count()).select_from(t.customers)).scalar_one()
        per_order = conn.execute(select(func.count(func.distinct(t.orders.c.customer_id)))).scalar_one()
    assert (customers, per_order) == (1, 1)
