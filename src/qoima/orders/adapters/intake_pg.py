"""The two round trips of express order intake on PostgreSQL (psycopg).

`look` reads, without locks and in one statement, what sourcing needs: the
seller, an order already taken under the same channel id or Idempotency-Key,
the products with their storage stock and warehouses, the customer by phone and
by e-mail, and ids for the order and its lines. `write` books the order with
one call of the `book_order` function (migration 0002): the customer lock, the
stock counters in id order, a first-time customer unless one appeared
meanwhile, the order, lines, reservations, timeline and outbox, in the call's
own transaction. A refusal by the database (stock CHECK, unique keys, foreign
keys, a concurrent customer) rolls it all back and is raised as `Refused`.

Both are single statements prepared once per connection, so PostgreSQL parses
and plans nothing per order, and Python sends one message and waits once.
Measured on the way there: SQLAlchemy Core cost ~0.2 ms of Python per
statement (a dozen per order); a psycopg pipeline of the same statements ~20
event-loop waits per order; one multi-statement text query left PostgreSQL
parsing and planning ~15 statements per order (half of its time).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Json


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


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Refused(Exception):
    """The database refused the booking (a concurrent order changed what the plan relied on)."""


class NotMigrated(Exception):
    """The database lacks what the express path needs (migration 0002)."""


def _look_sql(seller_column: str) -> str:
    return (
        "SELECT s.id, s.code,"
        " coalesce((SELECT o.id FROM orders o WHERE o.seller_id = s.id AND o.channel = %(channel)s"
        " AND o.external_id = %(ext)s), (SELECT o.id FROM orders o WHERE o.seller_id = s.id"
        " AND o.idempotency_key = %(key)s)),"
        # per product (LATERAL, OFFSET 0 keeps the planner from flattening it), so that the stock rows are
        # found through their product index
        # whatever the number of SKUs a generic plan has to assume
        " (SELECT json_agg(json_build_array(p.id, p.sku, x.id, x.warehouse_id, x.location_id, x.on_hand,"
        " x.reserved, x.code, x.lat, x.lon, x.timezone, x.cutoff_time, x.handover_time, x.working_days)"
        " ORDER BY x.id)"
        " FROM products p LEFT JOIN LATERAL (SELECT st.id, st.warehouse_id, st.location_id, st.on_hand,"
        " st.reserved, w.code, w.lat, w.lon, w.timezone, w.cutoff_time, w.handover_time, w.working_days"
        " FROM stock st JOIN locations l ON l.id = st.location_id JOIN warehouses w ON w.id = st.warehouse_id"
        " WHERE st.product_id = p.id AND st.on_hand > st.reserved AND l.kind = 'storage' OFFSET 0) x ON true"
        " WHERE p.seller_id = s.id AND p.sku = ANY(%(skus)s::text[])),"
        " (SELECT json_build_array(c.id, c.merged_into_id, c.phone, c.email) FROM customers c"
        " WHERE c.phone = %(phone)s::text AND c.seller_id = s.id ORDER BY c.id LIMIT 1),"
        " (SELECT json_build_array(c.id, c.merged_into_id, c.phone, c.email) FROM customers c"
        " WHERE c.email = %(email)s::text AND c.seller_id = s.id ORDER BY c.id LIMIT 1),"
        " nextval('orders_id_seq'),"
        " ARRAY(SELECT nextval('order_lines_id_seq') FROM generate_series(1, %(lines)s::int))"
        f" FROM sellers s WHERE s.{seller_column}"
    )


LOOK_BY_CODE = _look_sql("code = %(seller)s::text")
LOOK_BY_ID = _look_sql("id = %(seller)s::bigint")


async def look(conn: AsyncConnection, *, seller: str | int, channel: str, external_id: str,
               idempotency_key: str | None, skus: list[str], phone: str | None, email: str | None,
               lines: int) -> Look:
    """seller: its code, or its id (a seller user who left the field out)."""
    params = {"seller": seller, "channel": channel, "ext": external_id, "key": idempotency_key,
              "skus": sorted(set(skus)), "phone": phone, "email": email, "lines": lines}
    cur = await conn.execute(LOOK_BY_ID if isinstance(seller, int) else LOOK_BY_CODE, params, prepare=True)
    row = await cur.fetchone()
    if row is None:
        return Look(None, None, {}, [], None, None, 0, [])
    sid, code, existing, stock, by_phone, by_email, order_id, line_ids = row
    products, rows = {}, []
    for r in stock or ():
        products[r[1]] = Product(r[0], r[1])
        if r[2] is not None:
            rows.append(StockRow(r[2], r[0], *r[3:]))
    return Look(seller=(sid, code), existing_id=existing, products=products, stock=rows,
                by_phone=CustomerRow(*by_phone) if by_phone else None,
                by_email=CustomerRow(*by_email) if by_email else None, order_id=order_id, line_ids=list(line_ids))


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


BOOK_ORDER = "SELECT book_order(" + ", ".join(["%s"] * 31) + ")"


async def write(conn: AsyncConnection, b: Booking) -> int | None:
    """Book the order in one transaction; returns its customer id. Raises Refused when the
    database refuses any part of it (nothing is then stored). The rows go as five JSON arrays:
    psycopg dumps a list parameter in Python, element by element; json.dumps is C."""
    o, c = b.order, b.new_customer or {}
    params = (
        o["id"], o["seller_id"], o["channel"], o["external_id"], o["idempotency_key"], o["customer_id"],
        b.new_customer is not None, c.get("name"), c.get("phone"), c.get("email"), c.get("language"),
        c.get("preferred_channel"), b.lock_keys, o["status"], o["delivery_type"], o["address"], o["city"],
        o["lat"], o["lon"], o["total"], o["warehouses"], o["sourcing_reason"], o["ship_by"], o["received_at"],
        o["updated_at"], b.now,
        Json(b.stock, dumps=_dumps),
        Json([[x["id"], x["product_id"], x["sku"], x["quantity"], str(x["unit_price"])] for x in b.lines],
             dumps=_dumps),
        Json(b.reservations, dumps=_dumps),
        Json([[e["from_status"], e["to_status"], e["actor"], e["reason"]] for e in b.timeline], dumps=_dumps),
        Json([[e["topic"], e["payload"]] for e in b.outbox], dumps=_dumps))
    try:
        cur = await conn.execute(BOOK_ORDER, params, prepare=True)
        row = await cur.fetchone()
    except (psycopg.errors.IntegrityError, psycopg.errors.LockNotAvailable, psycopg.errors.DataError,
            psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
        # DataError (a value out of a column's range): the careful path meets it too and answers as it always has
        raise Refused(f"{type(exc).__name__}: {exc}") from exc
    except psycopg.errors.UndefinedFunction as exc:  # a database not migrated to 0002 yet
        raise NotMigrated("book_order() is missing: run `qoima migrate`") from exc
    return row[0]
