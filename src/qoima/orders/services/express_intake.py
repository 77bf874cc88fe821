"""Express intake: the order of `intake.create_order`, booked on PostgreSQL in
two round trips from the event loop instead of a dozen from a worker thread.

1. Look (no locks): seller, an order already taken, products with storage
   stock and warehouses, the customer by phone / e-mail, ids.
2. Decide in memory with the same rules and helpers as create_order
   (domain.sourcing, domain.sla, intake's helpers).
3. Book in one transaction (adapters.db.intake_pg.write).

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
from decimal import Decimal

import psycopg
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from qoima.orders.adapters import intake_pg
from qoima.db import pg_async
from qoima.orders.domain import sourcing
from qoima.orders.domain.status import Status
from qoima.catalog.domain.calendar import ship_by
from qoima.platform.access import Principal
from qoima.orders.services.intake import CENT, intake_records, new_order_summary, plan_calendar, received_utc, spread_over_stock, submit_order, warehouse_stock
from qoima.orders.schemas import OrderIn
from qoima.platform.unit_of_work import utcnow

log = logging.getLogger(__name__)

# how orders went in this process: "express", or "careful" with why (exported on /metrics)
taken: Counter[tuple[str, str]] = Counter()


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
            return booked, True
        why = booked
    taken["careful", why] += 1
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
        seen = await intake_pg.look(conn, seller=seller_key, channel=data.channel, external_id=data.external_id,
                                    idempotency_key=idempotency_key, skus=[ln.sku for ln in data.lines],
                                    phone=c.phone, email=c.email, lines=len(data.lines))
        if seen.seller is None or not principal.can_see(seen.seller[0]):
            return "seller"
        if seen.existing_id is not None:
            return "replay"
        if any(ln.sku not in seen.products for ln in data.lines):
            return "unknown SKU"
        customer = _customer(seen, data)
        if customer is False:
            return "contacts to fill in"
        booking, summary = _decide(seen, principal, data, idempotency_key, customer, now)
        if booking is None:
            return "short of stock"
        customer_id = await intake_pg.write(conn, booking)
    summary["customer_id"] = customer_id
    return summary


def _customer(seen: intake_pg.Look, data: OrderIn):
    """As customers.find_or_create_customer: the matched customer's id, None for no customer,
    "new" for a first-time buyer, or False when contacts must be filled in (careful path)."""
    c = data.customer
    if not (c.phone or c.email or c.name):
        return None
    for value, row in ((c.phone, seen.by_phone), (c.email, seen.by_email)):
        if value and row is not None:
            if (c.email and not row.email) or (c.phone and not row.phone):
                return False
            return row.merged_into_id or row.id
    return "new"


def _decide(seen: intake_pg.Look, principal: Principal, data: OrderIn, idempotency_key, customer, now):
    seller_id, seller_code = seen.seller
    rows = seen.stock
    products = seen.products
    plan = sourcing.choose([sourcing.Line(products[ln.sku].id, ln.sku, ln.quantity) for ln in data.lines],
                           warehouse_stock(rows), data.delivery.lat, data.delivery.lon)
    cal = plan_calendar(rows, plan) if plan.complete else None
    if cal is None:
        return None, None
    now = now or utcnow()
    received = received_utc(data.received_at, now)
    deadline = ship_by(received, cal)
    total = sum((ln.quantity * ln.unit_price for ln in data.lines), Decimal(0)).quantize(CENT)
    status = Status.ALLOCATED.value
    order_id = seen.order_id
    lines = [{"id": lid, "order_id": order_id, "product_id": products[ln.sku].id, "sku": ln.sku,
              "quantity": ln.quantity, "unit_price": ln.unit_price, "backordered": 0}
             for lid, ln in zip(seen.line_ids, data.lines)]
    takes = spread_over_stock(plan, rows, seen.line_ids, data, products)
    per_stock: dict[int, int] = {}
    for _, sid, _, q in takes:
        per_stock[sid] = per_stock.get(sid, 0) + q
    c = data.customer
    new_customer = None
    lock_keys: list[str] = []
    if customer == "new":
        new_customer = {"name": c.name, "phone": c.phone, "email": c.email, "language": c.language,
                        "preferred_channel": c.preferred_channel}
        lock_keys = [f"customer:{seller_id}:{k}" for k in sorted(k for k in (c.phone, c.email) if k)]
        customer = None
    stamp = utcnow()
    timeline, outbox = intake_records(order_id, seller_id, principal.email, data.channel, status, plan.reason, stamp)
    d = data.delivery
    order = {"id": order_id, "seller_id": seller_id, "channel": data.channel, "external_id": data.external_id,
             "idempotency_key": idempotency_key, "customer_id": customer, "status": status,
             "delivery_type": d.type, "address": d.address, "city": d.city, "lat": d.lat, "lon": d.lon,
             "total": total, "warehouses": ",".join(plan.warehouses), "sourcing_reason": plan.reason,
             "ship_by": deadline, "received_at": received, "updated_at": now}
    booking = intake_pg.Booking(order=order, new_customer=new_customer, lock_keys=lock_keys,
                                stock=sorted(per_stock.items()), lines=lines, reservations=takes,
                                timeline=timeline, outbox=outbox, now=stamp)
    summary = new_order_summary(seller_code, order_id, data, status, plan, deadline, total, received, customer,
                                lines)
    return booking, summary
