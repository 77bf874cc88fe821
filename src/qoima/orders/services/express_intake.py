"""Express intake: the order of `intake.create_order`, booked on PostgreSQL in
two round trips from the event loop instead of a dozen from a worker thread.

1. Look (no locks): seller, an order already taken, products with storage
   stock and warehouses, the customer by phone / e-mail, ids.
2. Decide in memory: the booking of domain/booking.py, as every writer.
3. Book in one transaction (adapters/intake_pg.write: one call of book_order_v3).

The database has the last word: the stock CHECK (reserved <= on hand) refuses a
unit another order took since the look, the unique keys refuse a second copy of
the order, the customers foreign key refuses an order whose new customer a
concurrent order created first. A refusal rolls back everything and the order
goes through `intake.submit_order`, which locks the stock rows and decides again.
Whatever the express path does not decide itself goes there from the start:
unknown seller or SKU (its error messages), a replayed order, anything short of
stock (backorders are first come, first served under the stock locks), and a
known customer whose missing phone or e-mail must be filled in.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

import psycopg
from prometheus_client import Counter as PromCounter
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from qoima.db import pg_async
from qoima.orders.adapters import intake_pg
from qoima.orders.domain import booking as bk
from qoima.orders.schemas import OrderIn
from qoima.orders.services.intake import contact_lock_keys, submit_order
from qoima.platform.access import Principal
from qoima.platform.unit_of_work import utcnow

log = logging.getLogger(__name__)

# how orders went in this process: "express", or "careful" with why (exported on /metrics)
taken: Counter[tuple[str, str]] = Counter()
# the same as a Prometheus counter, added up over the processes in multiprocess mode (registered by /metrics)
INTAKE = PromCounter("qoima_intake_orders", "Orders taken in, by path (express: two round trips; careful: "
                     "locked, with why)", ["path", "why"], registry=None)


async def submit(engine: Engine, principal: Principal, data: OrderIn, idempotency_key: str | None = None,
                 now: datetime | None = None) -> tuple[dict, bool]:
    """As intake.submit_order: (order, created). Express on PostgreSQL, the careful path otherwise."""
    why = "not PostgreSQL"
    if engine.dialect.name == "postgresql":
        try:
            booked = await book(engine, principal, data, idempotency_key, now)
        except intake_pg.Refused as exc:
            log.debug("express intake refused by the database: %s", exc)
            booked = "refused"
        except intake_pg.NotMigrated as exc:
            log.warning("express intake unavailable, the careful path takes the order: %s", exc)
            booked = "not migrated"
        except psycopg.OperationalError as exc:
            log.warning("express intake lost its connection, the careful path takes the order: %s", exc)
            booked = "connection"
        if isinstance(booked, dict):
            taken["express", ""] += 1
            INTAKE.labels("express", "").inc()
            return booked, True
        why = booked
    taken["careful", why] += 1
    INTAKE.labels("careful", why).inc()
    return await run_in_threadpool(submit_order, engine, principal, data, idempotency_key, now)


async def book(engine: Engine, principal: Principal, data: OrderIn, idempotency_key: str | None = None,
               now: datetime | None = None) -> dict | str:
    """The new order's summary, or why the careful path must decide."""
    if data.seller:
        seller_key: str | int = data.seller
    elif principal.seller_id is not None:
        seller_key = principal.seller_id
    else:
        return "no seller"
    pool = await pg_async.pool_for(engine)
    async with pool.connection() as conn:
        c = data.customer
        seen = await intake_pg.look(conn, intake_pg.LookFor(
            seller=seller_key, channel=data.channel, external_id=data.external_id, idempotency_key=idempotency_key,
            skus=[ln.sku for ln in data.lines], phone=c.phone, email=c.email))
        if seen.seller is None or not principal.can_see(seen.seller[0]):
            return "seller"
        if seen.existing_id is not None:
            return "replay"
        if any(ln.sku not in seen.products for ln in data.lines):
            return "unknown SKU"
        doc, booking = decide(seen, principal, data, idempotency_key, now)
        if isinstance(booking, str):
            return booking
        customer_id = await intake_pg.write(conn, doc)
    return booking.summary(seen.order_id, seen.seller[1], customer_id, seen.line_ids)


def decide(seen: intake_pg.Look, principal: Principal, data: OrderIn, idempotency_key: str | None = None,
           now: datetime | None = None) -> tuple[dict | None, bk.Booking | str]:
    """(book_order_v3's document, the booking), or (None, why the careful path must decide): a
    known customer whose missing phone or e-mail must be filled in, or anything short of stock
    (backorders are first come, first served under the stock locks)."""
    seller_id = seen.seller[0]
    now = now or utcnow()
    b = bk.decide(bk.Snapshot(
        seller_id=seller_id, actor=principal.email, order=data,
        product_ids=[seen.products[ln.sku] for ln in data.lines], stock=seen.stock, warehouses=seen.warehouses,
        now=now, by_phone=seen.by_phone, by_email=seen.by_email, idempotency_key=idempotency_key, stamp=utcnow()))
    if b.customer.fill:
        return None, "contacts to fill in"
    if not b.complete or b.ship_by is None:
        return None, "short of stock"
    return intake_pg.document(b, seen.order_id, seen.line_ids, contact_lock_keys(seller_id, data.customer)), b
