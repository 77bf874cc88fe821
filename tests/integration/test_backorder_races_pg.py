"""The two backorder races of issue 7, reproduced on PostgreSQL.

1. Two concurrent receipts of 2 units (into two bins) for an order waiting for 2: the fill used to
   read the waiting line without a lock and reserve from a stale `backordered`, so
   the CHECK on order_lines fired and the whole supplier delivery was rolled back.
2. Holds placed while a receipt fills backorders: the fill used to set `allocated`
   without re-checking the order, so orders whose hold had been answered OK ended
   allocated (backordered -> on_hold -> allocated).

Receipts fill backorders through the outbox (stock.changed, handled by the worker
after the receipt commits); here each client books its receipt and then drains the
outbox, so two fills run at once as two workers would run them.

Skipped when QOIMA_TEST_DATABASE_URL is unset."""

from __future__ import annotations

import os
import time
from decimal import Decimal

import pytest
from conftest import build_world, order_payload
from sqlalchemy import func, select, text
from test_concurrency_pg import in_parallel
from test_stock_ledger import assert_ledger_consistent, drain_outbox, run

from qoima.catalog import services as catalog
from qoima.catalog.schemas import ProductIn
from qoima.db import tables as t
from qoima.orders.schemas import OrderIn
from qoima.orders.services import lifecycle
from qoima.orders.services.intake import submit_order
from qoima.platform.access import SYSTEM
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn
from qoima.stock.services import inbound

pytestmark = pytest.mark.postgres

if not os.environ.get("QOIMA_TEST_DATABASE_URL"):
    pytest.skip("PostgreSQL race tests need QOIMA_TEST_DATABASE_URL", allow_module_level=True)


@pytest.fixture
def pg(pg_engine_session):
    names = ", ".join(f'"{tbl.name}"' for tbl in reversed(t.metadata.sorted_tables))
    with pg_engine_session.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return pg_engine_session


def receipt(sku: str, qty: int, loc: str = "A-01") -> ReceiptIn:
    return ReceiptIn(seller="seller-a", warehouse="ALA", location=loc, supplier="Supplier",
                     lines=[ReceiptLineIn(sku=sku, expected=qty, received=qty)])


def receive_and_fill(engine, principal, data: ReceiptIn) -> dict:
    """One scanner client: book the delivery, then (as a worker) handle what it set going."""
    result = run(engine, inbound.receive, principal, data)
    drain_outbox(engine)
    return result


def order_state(engine, order_id: int):
    with engine.connect() as conn:
        status = conn.execute(select(t.orders.c.status).where(t.orders.c.id == order_id)).scalar_one()
        lines = conn.execute(select(t.order_lines.c.quantity, t.order_lines.c.backordered)
                             .where(t.order_lines.c.order_id == order_id)).all()
        held = conn.execute(select(t.reservations.c.quantity).where(t.reservations.c.order_id == order_id)).scalars()
        return status, [tuple(ln) for ln in lines], sum(held)


def on_hand(engine, sku: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.sum(t.stock.c.on_hand)).join(t.products).where(
            t.products.c.sku == sku, t.products.c.seller_id == 1)).scalar_one()


def test_concurrent_receipts_for_one_waiting_order_keep_every_delivery(pg):
    world = build_world(pg)
    worker, seller = world.principals["worker"], world.principals["seller_a"]
    for rnd in range(10):
        sku = f"RACE-{rnd}"
        run(pg, catalog.upsert_product, SYSTEM, ProductIn(seller="seller-a", sku=sku, name=sku, price=Decimal("10")))
        order, _ = submit_order(pg, seller, OrderIn(**order_payload(f"WAIT-{rnd}", [(sku, 2)])))
        assert order["status"] == "backordered"
        # two scanners at two bins: each receipt locks its own stock row
        results, errors = in_parallel(lambda loc: receive_and_fill(pg, worker, receipt(sku, 2, loc)),
                                      ["A-01", "A-02"], workers=2)
        assert errors == [], f"round {rnd}"
        assert len({r["id"] for r in results}) == 2  # both deliveries booked
        drain_outbox(pg)
        assert on_hand(pg, sku) == 4, f"round {rnd}: a delivery was lost"
        assert order_state(pg, order["id"]) == ("allocated", [(2, 0)], 2), f"round {rnd}"
    assert_ledger_consistent(pg)


def test_holds_placed_while_a_receipt_fills_backorders_stay_holds(pg):
    world = build_world(pg)
    worker, seller = world.principals["worker"], world.principals["seller_a"]
    orders = [submit_order(pg, seller, OrderIn(**order_payload(f"HOLD-{i:02d}", [("SKU-1", 1)],
                                                               customer={"name": f"B{i}", "phone": f"+7701{2000000 + i}"})))[0]
              for i in range(40)]
    assert {o["status"] for o in orders} == {"backordered"}
    held = [o["id"] for o in orders[::2]]  # 20 of them, spread over the queue

    def client(job):
        if job == "receipt":
            return receive_and_fill(pg, worker, receipt("SKU-1", 40))
        time.sleep(0.03)
        return run(pg, lifecycle.transition, seller, job, "on_hold", "fraud check")

    results, errors = in_parallel(client, ["receipt"] + held, workers=21)
    assert errors == []
    assert results.count("on_hold") == 20  # every hold was answered OK
    drain_outbox(pg)
    for order_id in held:
        status, _lines, _held = order_state(pg, order_id)
        assert status == "on_hold", f"order {order_id}: hold answered OK, but the order is {status}"
        with pg.connect() as conn:
            after_hold = conn.execute(select(t.order_events.c.to_status).where(
                t.order_events.c.order_id == order_id).order_by(t.order_events.c.id)).scalars().all()
        assert after_hold[-1] == "on_hold", f"order {order_id} timeline {after_hold}"
    for o in orders:
        if o["id"] not in held:
            assert order_state(pg, o["id"]) == ("allocated", [(1, 0)], 1)
    assert_ledger_consistent(pg)
