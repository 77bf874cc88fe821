"""The two round trips of express order intake on PostgreSQL (psycopg, pipeline mode).

`look` reads, without locks, what sourcing needs: the seller, an order already
taken under the same channel id or Idempotency-Key, the products with their
storage stock and warehouses, the customer by phone and by e-mail, and ids for
the order and its lines. `write` books the order in one transaction: the
customer lock, the stock counters (row by row, in id order), a new customer if
still none matches, the order, its lines, reservations, timeline and outbox,
then COMMIT. A refusal by the database (stock CHECK, unique keys, foreign keys)
rolls everything back and is raised as `Refused`.

Written against psycopg directly: SQLAlchemy Core costs ~0.2 ms of Python per
statement, which was most of the time of an order. Each round trip is one
simple-protocol query of several statements with the values bound client-side
(psycopg's ClientCursor quotes them): one send, one wait, several results.
Pipeline mode was tried first and cost ~20 event-loop waits per order.
In READ COMMITTED every statement of such a query takes its own snapshot, so a
statement after the customer lock sees what the lock holder committed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

import psycopg
from psycopg import AsyncClientCursor, AsyncConnection


class StockRow(NamedTuple):
    """A storage row with free units and its warehouse (the shape intake's helpers read)."""
    id: int
    product_id: int
    warehouse_id: int
    location_id: int
    on_hand: int
    reserved: int
    wh_code: str
    wh_lat: float | None
    wh_lon: float | None
    timezone: str
    cutoff_time: str
    handover_time: str
    working_days: str


class Product(NamedTuple):
    id: int
    sku: str


class CustomerRow(NamedTuple):
    id: int
    merged_into_id: int | None
    phone: str | None
    email: str | None


@dataclass
class Look:
    seller: tuple[int, str] | None  # (id, code)
    existing_id: int | None
    products: dict[str, Product]  # by SKU
    stock: list[StockRow]  # id order
    by_phone: CustomerRow | None
    by_email: CustomerRow | None
    order_id: int
    line_ids: list[int]


class Refused(Exception):
    """The database refused the booking (a concurrent order changed what the plan relied on)."""


def _seller_sql(by_id: bool) -> str:
    return "id = %(seller)s" if by_id else "code = %(seller)s"


def _look_sql(by_id: bool) -> str:
    seller = f"(SELECT id FROM sellers WHERE {_seller_sql(by_id)})"
    return "; ".join((
        f"SELECT id, code FROM sellers WHERE {_seller_sql(by_id)}",
        f"SELECT id FROM orders WHERE seller_id = {seller} AND ((channel = %(channel)s AND external_id = %(ext)s)"
        " OR idempotency_key = %(key)s) ORDER BY id LIMIT 1",
        "SELECT p.id, p.sku, s.id, s.warehouse_id, s.location_id, s.on_hand, s.reserved, w.code, w.lat, w.lon,"
        " w.timezone, w.cutoff_time, w.handover_time, w.working_days"
        " FROM products p LEFT JOIN (stock s JOIN locations l ON l.id = s.location_id AND l.kind = 'storage'"
        " JOIN warehouses w ON w.id = s.warehouse_id) ON s.product_id = p.id AND s.on_hand > s.reserved"
        f" WHERE p.seller_id = {seller} AND p.sku = ANY(%(skus)s::text[]) ORDER BY s.id",
        f"(SELECT 1, id, merged_into_id, phone, email FROM customers WHERE seller_id = {seller}"
        " AND phone = %(phone)s ORDER BY id LIMIT 1) UNION ALL"
        f" (SELECT 2, id, merged_into_id, phone, email FROM customers WHERE seller_id = {seller}"
        " AND email = %(email)s ORDER BY id LIMIT 1)",
        "SELECT nextval('orders_id_seq'), ARRAY(SELECT nextval('order_lines_id_seq')"
        " FROM generate_series(1, %(lines)s))",
    ))


LOOK_SQL = {False: _look_sql(False), True: _look_sql(True)}


async def _results(cur: AsyncClientCursor) -> list[list[tuple]]:
    """Rows of every statement of the query just run (empty lists for those without rows)."""
    out = []
    while True:
        out.append(await cur.fetchall() if cur.description is not None else [])
        if not cur.nextset():
            return out


async def look(conn: AsyncConnection, *, seller: str | int, channel: str, external_id: str,
               idempotency_key: str | None, skus: list[str], phone: str | None, email: str | None,
               lines: int) -> Look:
    """seller: its code, or its id (a seller user who left the field out)."""
    params = {"seller": seller, "channel": channel, "ext": external_id, "key": idempotency_key,
              "skus": sorted(set(skus)), "phone": phone, "email": email, "lines": lines}
    async with AsyncClientCursor(conn) as cur:
        await cur.execute(LOOK_SQL[isinstance(seller, int)], params)
        seller_row, existing, stock, customers, ids = await _results(cur)
    products, rows = {}, []
    for r in stock:
        products[r[1]] = Product(r[0], r[1])
        if r[2] is not None:
            rows.append(StockRow(r[2], r[0], *r[3:]))
    found = {r[0]: CustomerRow(*r[1:]) for r in customers}
    return Look(seller=tuple(seller_row[0]) if seller_row else None,
                existing_id=existing[0][0] if existing else None, products=products, stock=rows,
                by_phone=found.get(1), by_email=found.get(2), order_id=ids[0][0], line_ids=list(ids[0][1]))


@dataclass
class Booking:
    """Everything `write` stores for one order."""
    order: dict  # orders columns (id included; customer_id None when a new customer is created)
    new_customer: dict | None  # customers columns for a buyer seen for the first time
    lock_keys: list[str]  # advisory lock keys of the new customer's contacts
    stock: list[tuple[int, int]]  # (stock id, units) in id order
    lines: list[dict]  # order_lines columns, ids included
    reservations: list[tuple[int, int, int, int]]  # (line id, stock id, warehouse id, units)
    timeline: list[dict]
    outbox: list[dict]
    now: object


ORDER_COLUMNS = ("id", "seller_id", "channel", "external_id", "idempotency_key", "customer_id", "status",
                 "delivery_type", "address", "city", "lat", "lon", "total", "warehouses", "sourcing_reason",
                 "ship_by", "received_at", "updated_at")
_ORDER_VALUES = ", ".join("%s" for _ in ORDER_COLUMNS)
INSERT_ORDER = f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({_ORDER_VALUES}) RETURNING customer_id"
INSERT_ORDER_NEW_CUSTOMER = (
    "WITH c AS (INSERT INTO customers (seller_id, name, phone, email, language, preferred_channel, created_at)"
    " SELECT %s, %s, %s, %s, %s, %s, %s"
    " WHERE NOT EXISTS (SELECT 1 FROM customers WHERE seller_id = %s AND (phone = %s OR email = %s))"
    " RETURNING id)"
    f" INSERT INTO orders ({', '.join(ORDER_COLUMNS)})"
    " SELECT " + ", ".join("c.id" if col == "customer_id" else "%s" for col in ORDER_COLUMNS)
    + " FROM c RETURNING customer_id")
LOCK_CUSTOMER = ("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(%s::text[])"
                 " WITH ORDINALITY AS u(k, n) ORDER BY n")
RAISE_STOCK = "UPDATE stock SET reserved = reserved + %s WHERE id = %s"
INSERT_LINES = ("INSERT INTO order_lines (id, order_id, product_id, sku, quantity, unit_price, backordered)"
                " SELECT i, %s, p, s, q, u, 0 FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::int[],"
                " %s::numeric[]) AS x(i, p, s, q, u)")
INSERT_RESERVATIONS = ("INSERT INTO reservations (order_id, order_line_id, stock_id, warehouse_id, quantity,"
                       " created_at) SELECT %s, l, s, w, q, %s FROM unnest(%s::bigint[], %s::bigint[],"
                       " %s::bigint[], %s::int[]) AS x(l, s, w, q)")
INSERT_TIMELINE = ("INSERT INTO order_events (order_id, from_status, to_status, actor, reason, created_at)"
                   " SELECT %s, f, t, a, r, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])"
                   " AS x(f, t, a, r)")
INSERT_OUTBOX = ("INSERT INTO outbox (topic, aggregate_id, seller_id, payload, status, attempts, next_attempt_at,"
                 " created_at) SELECT t, %s, %s, p::json, 'pending', 0, %s, %s"
                 " FROM unnest(%s::text[], %s::text[]) AS x(t, p)")


async def write(conn: AsyncConnection, b: Booking) -> int | None:
    """Book the order in one transaction; returns its customer id. Raises Refused when the
    database refuses any part of it (nothing is then stored)."""
    o = b.order
    oid = o["id"]
    parts: list[str] = ["BEGIN"]
    params: list = []

    def add(sql: str, *values) -> None:
        parts.append(sql)
        params.extend(values)

    if b.lock_keys:
        add(LOCK_CUSTOMER, b.lock_keys)
    for stock_id, units in b.stock:
        add(RAISE_STOCK, units, stock_id)
    order_at = len(parts)
    if b.new_customer is not None:
        c = b.new_customer
        add(INSERT_ORDER_NEW_CUSTOMER, o["seller_id"], c["name"], c["phone"], c["email"], c["language"],
            c["preferred_channel"], o["received_at"], o["seller_id"], c["phone"], c["email"],
            *(o[col] for col in ORDER_COLUMNS if col != "customer_id"))
    else:
        add(INSERT_ORDER, *(o[col] for col in ORDER_COLUMNS))
    ls = b.lines
    add(INSERT_LINES, oid, [x["id"] for x in ls], [x["product_id"] for x in ls], [x["sku"] for x in ls],
        [x["quantity"] for x in ls], [x["unit_price"] for x in ls])
    if b.reservations:
        rs = b.reservations
        add(INSERT_RESERVATIONS, oid, b.now, [r[0] for r in rs], [r[1] for r in rs], [r[2] for r in rs],
            [r[3] for r in rs])
    tl = b.timeline
    add(INSERT_TIMELINE, oid, b.now, [e["from_status"] for e in tl], [e["to_status"] for e in tl],
        [e["actor"] for e in tl], [e["reason"] for e in tl])
    add(INSERT_OUTBOX, oid, o["seller_id"], b.now, b.now, [e["topic"] for e in b.outbox],
        [json.dumps(e["payload"]) for e in b.outbox])
    parts.append("COMMIT")
    try:
        async with AsyncClientCursor(conn) as cur:
            await cur.execute("; ".join(parts), params)
            results = await _results(cur)
    except (psycopg.errors.IntegrityError, psycopg.errors.LockNotAvailable,
            psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
        await _rollback(conn)
        raise Refused(f"{type(exc).__name__}: {exc}") from exc
    except BaseException:
        await _rollback(conn)
        raise
    row = results[order_at]
    return row[0][0] if row else None


async def _rollback(conn: AsyncConnection) -> None:
    if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        try:
            await conn.execute("ROLLBACK")
        except psycopg.Error:
            pass
