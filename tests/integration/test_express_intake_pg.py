"""Express intake on PostgreSQL stores exactly what the careful path stores.

The same sequence of orders (new and returning buyers, contacts by phone, by
e-mail, by name only or none, one and two parcels, a seller user without the
seller field, an Idempotency-Key, replays, shortfalls) goes once through
intake.submit_order and once through express_intake.submit on a fresh world;
every row written (customers, orders, lines, reservations, stock counters,
timeline, outbox) must be the same, apart from the moments of writing and the
numbering of orders and lines: the express path draws their ids from the
sequences before it knows whether it will book the order, so a hand-over leaves
a gap (as any rolled-back insert does). Ids are therefore compared by rank.
The orders that the express path hands over are named, and each reason is checked."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime

import pytest
from conftest import build_world, order_payload
from sqlalchemy import select, text
from test_stock_ledger import assert_ledger_consistent, shipped_from
from writers_compare import ranked, snapshot

from qoima.orders.adapters import intake_pg
from qoima.db import pg_async
from qoima.db import tables as t
from qoima.orders.services import express_intake
from qoima.orders.services.intake import submit_order
from qoima.orders.schemas import OrderIn

pytestmark = pytest.mark.postgres

if not os.environ.get("QOIMA_TEST_DATABASE_URL"):
    pytest.skip("express intake runs on PostgreSQL only: set QOIMA_TEST_DATABASE_URL", allow_module_level=True)

NOW = datetime(2026, 12, 1, 5, 30)  # a Tuesday, 11:30 in Almaty: before the cut-off
STOCK = {("seller-a", "SKU-1", "ALA"): 10, ("seller-a", "SKU-2", "AST"): 5, ("seller-a", "SKU-3", "ALA"): 2,
         ("seller-a", "SKU-3", "AST"): 3, ("seller-b", "SKU-1", "AST"): 7}
AIGERIM = {"name": "Aigerim", "phone": "+77011234567", "email": "aigerim@example.kz"}

# (who, payload, Idempotency-Key, how the express path takes it)
ORDERS = [
    ("seller_a", order_payload("E-1", [("SKU-1", 2)], customer=AIGERIM), None, "express"),
    ("seller_a", order_payload("E-2", [("SKU-1", 1), ("SKU-3", 1)], customer=AIGERIM), None, "express"),  # returning
    ("seller_a", order_payload("E-3", [("SKU-2", 1), ("SKU-1", 1)],  # two parcels: ALA + AST
                               customer={"name": "Dana", "email": "dana@example.kz"}), None, "express"),
    ("seller_a", order_payload("E-4", [("SKU-3", 4)], customer={"name": "Only a name"}), None, "express"),  # split
    ("seller_a", order_payload("E-5", [("SKU-1", 1)], customer={}), None, "express"),  # no customer at all
    ("manager", order_payload("E-6", [("SKU-1", 1)], seller="seller-b",
                              customer={"name": "Bolat", "phone": "87017654321"}), "key-6", "express"),
    ("seller_b", order_payload("E-7", [("SKU-1", 2)], seller=None, customer={"phone": "+77017654321"}), None,
     "express"),  # seller user, no seller field; Bolat again
    ("seller_a", order_payload("E-8", [("SKU-1", 1)], customer={"name": "Dana", "phone": "+77770001122",
                                                                "email": "dana@example.kz"}), None,
     "contacts to fill in"),  # Dana's phone is new to her record
    ("seller_a", order_payload("E-1", [("SKU-1", 2)], customer=AIGERIM), None, "replay"),
    ("manager", order_payload("E-9", [("SKU-2", 1)], seller="seller-b"), "key-6", "replay"),  # same key
    ("seller_a", order_payload("E-10", [("SKU-2", 9)], customer=AIGERIM), None, "short of stock"),
    ("seller_a", order_payload("E-11", [("SKU-9", 1)], customer=AIGERIM), None, "unknown SKU"),
    ("seller_a", order_payload("E-12", [("SKU-1", 1)], seller="seller-b"), None, "seller"),
]

def fresh(pg):
    names = ", ".join(f'"{tbl.name}"' for tbl in reversed(t.metadata.sorted_tables))
    with pg.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return build_world(pg, STOCK)


def careful(pg, world) -> list:
    out = []
    for who, body, key, _ in ORDERS:
        try:
            out.append(submit_order(pg, world.principals[who], OrderIn(**body), key, now=NOW))
        except Exception as exc:  # noqa: BLE001 - the error itself is compared
            out.append(repr(exc))
    return out


def express(pg, world) -> tuple[list, list]:
    async def main():
        results, ways = [], []
        try:
            for who, body, key, _ in ORDERS:
                before = dict(express_intake.taken)
                try:
                    results.append(await express_intake.submit(pg, world.principals[who], OrderIn(**body), key,
                                                               now=NOW))
                except Exception as exc:  # noqa: BLE001
                    results.append(repr(exc))
                moved = [k for k, n in express_intake.taken.items() if n != before.get(k, 0)]
                ways.append(moved[0][1] or moved[0][0])
        finally:
            await pg_async.close_pools(pg)
        return results, ways
    return asyncio.run(main())


def test_express_stores_what_the_careful_path_stores(pg_engine_session):
    pg = pg_engine_session
    world = fresh(pg)
    expected_results = ranked(careful(pg, world), pg)
    expected_rows = snapshot(pg)
    assert_ledger_consistent(pg)

    world = fresh(pg)
    results, ways = express(pg, world)
    results = ranked(results, pg)
    rows = snapshot(pg)
    assert_ledger_consistent(pg)

    assert ways == [how for *_, how in ORDERS]
    for got, want, (_, body, _, _) in zip(results, expected_results, ORDERS):
        assert got == want, body["external_id"]
    for name in expected_rows:
        assert rows[name] == expected_rows[name], name
    # and the rows are what the sequence means
    with pg.connect() as conn:
        orders = {r.external_id: r for r in conn.execute(select(t.orders))}
        customers = conn.execute(select(t.customers.c.name, t.customers.c.phone, t.customers.c.email,
                                        t.customers.c.seller_id).order_by(t.customers.c.id)).all()
    assert sorted(orders) == ["E-1", "E-10", "E-2", "E-3", "E-4", "E-5", "E-6", "E-7", "E-8"]
    assert [w for w, _ in shipped_from(pg, orders["E-3"].id)] == [w for w, _ in shipped_from(pg, orders["E-4"].id)] \
        == ["ALA", "AST"]
    assert orders["E-10"].status == "backordered" and orders["E-5"].customer_id is None
    assert orders["E-1"].customer_id == orders["E-2"].customer_id == orders["E-10"].customer_id
    assert orders["E-7"].seller_id == world.sellers["seller-b"] and orders["E-6"].idempotency_key == "key-6"
    assert [c.name for c in customers] == ["Aigerim", "Dana", "Only a name", "Bolat"]
    assert customers[1].phone == "+77770001122"  # filled in by E-8 (careful path)
    assert customers[3].phone == "+77017654321" and orders["E-6"].customer_id == orders["E-7"].customer_id


def test_a_lost_connection_hands_the_order_over(pg_engine_session):
    """The pool does not ping; a connection the server has dropped fails the look, and the
    careful path (whose engine pings) takes the order. The dead connection leaves the pool."""
    pg = pg_engine_session
    world = fresh(pg)
    seller = world.principals["seller_a"]

    async def main():
        try:
            first, _ = await express_intake.submit(pg, seller, OrderIn(**order_payload("L-1")))
            pool = await pg_async.pool_for(pg)
            assert pool.get_stats()["pool_size"] == 1
            async with pool.connection() as conn:
                pid = conn.info.backend_pid
            with pg.connect() as c:
                assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
            before = express_intake.taken["careful", "connection"]
            second, created = await express_intake.submit(pg, seller, OrderIn(**order_payload("L-2")))
            assert created and express_intake.taken["careful", "connection"] == before + 1
            third, _ = await express_intake.submit(pg, seller, OrderIn(**order_payload("L-3")))
            async with pool.connection() as conn:
                assert conn.info.backend_pid != pid
            return first, second, third
        finally:
            await pg_async.close_pools(pg)

    orders = asyncio.run(main())
    assert [o["status"] for o in orders] == ["allocated"] * 3
    with pg.connect() as conn:
        assert conn.execute(select(t.orders.c.external_id).order_by(t.orders.c.id)).scalars().all() == \
            ["L-1", "L-2", "L-3"]
    assert_ledger_consistent(pg)


def test_a_refused_booking_leaves_nothing_behind(pg_engine_session):
    """Stock taken between the look and the booking: the CHECK refuses the counter, the whole
    transaction rolls back (no order, no customer, no lines), and the careful path backorders."""
    pg = pg_engine_session
    world = fresh(pg)
    seller = world.principals["seller_a"]
    data = OrderIn(**order_payload("R-1", [("SKU-2", 5)], customer={"name": "Late", "phone": "+77015550000"}))

    async def main():
        try:
            pool = await pg_async.pool_for(pg)
            async with pool.connection() as conn:
                seen = await intake_pg.look(conn, intake_pg.LookFor(
                    seller="seller-a", channel=data.channel, external_id=data.external_id, idempotency_key=None,
                    skus=["SKU-2"], phone=data.customer.phone, email=None))
                doc, booking = express_intake.decide(seen, seller, data, None, NOW)
                assert booking.customer.action == "create"
                with pg.begin() as c:  # another order takes one of the five units meanwhile
                    c.execute(text("UPDATE stock SET reserved = reserved + 1 WHERE id = :s"),
                              {"s": doc["stock"][0]["id"]})
                with pytest.raises(intake_pg.Refused, match="CheckViolation"):
                    await intake_pg.write(conn, doc)
                assert conn.info.transaction_status.name == "IDLE"
        finally:
            await pg_async.close_pools(pg)

    asyncio.run(main())
    with pg.connect() as conn:
        for tbl in (t.orders, t.customers, t.order_lines, t.reservations, t.order_events, t.outbox):
            assert conn.execute(select(tbl)).first() is None, tbl.name
        assert conn.execute(select(t.stock.c.reserved).where(t.stock.c.reserved > 0)).scalars().all() == [1]


def test_without_the_booking_function_the_careful_path_takes_orders(pg_engine_session):
    """A database not yet migrated to 0010 (book_order_v3 missing) still takes orders."""
    pg = pg_engine_session
    world = fresh(pg)
    with pg.begin() as conn:
        conn.execute(text("ALTER FUNCTION book_order_v3 RENAME TO book_order_v3_away"))
    try:
        async def main():
            try:
                return await express_intake.submit(pg, world.principals["seller_a"], OrderIn(**order_payload("M-1")))
            finally:
                await pg_async.close_pools(pg)
        before = express_intake.taken["careful", "not migrated"]
        order, created = asyncio.run(main())
        assert created and order["status"] == "allocated"
        assert express_intake.taken["careful", "not migrated"] == before + 1
    finally:
        with pg.begin() as conn:
            conn.execute(text("ALTER FUNCTION book_order_v3_away RENAME TO book_order_v3"))
