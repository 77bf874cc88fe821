"""Bulk order intake: many orders in one transaction, with the same result as
calling `intake.create_order` for each of them in turn (status, warehouses,
sourcing reason, ship-by, reservations, backorders, timeline, outbox).

Orders are processed in batches. For each batch the sellers, products,
existing orders and customers are looked up with a handful of queries, the
stock rows of every product of the batch are locked (in id order), and
sourcing runs in memory against that availability, order by order in the
given order (first come, first served). Rows are then written in bulk. The
caller's unit of work decides whether it all commits; call `finish()` first:
it writes what is still queued and raises the stock counters in SQL (once
per stock row for the whole run: a row updated after every batch would carry
a chain of row versions that every foreign-key check of a reservation has to
walk).

What this transaction has seen or done stays in memory from batch to batch:
customers (found or created), the free units of the stock rows it has locked
(nobody else can change a locked row until the commit) and the units it has
reserved on them, the orders it has taken. Look-ups ask the database only for
what is not known yet.

On PostgreSQL all statements run in order in a background thread on the
transaction's connection (so it is never used by two threads at once): for
batch N+1 the look-ups are queued first (with ids for its new customers,
orders and lines, drawn from their sequences in the same go), then the rows
of batch N, held until then, go in with COPY (psycopg's C row formatter).
The database answers the look-ups and goes on inserting and checking batch
N while batch N+1 is sourced and built in Python. Elsewhere (SQLite) rows
are written at once with executemany and `RETURNING ...
sort_by_parameter_order`.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Callable, Sequence

from sqlalchemy import Table, any_, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from qoima.db import tables as t
from qoima.orders.domain import sourcing
from qoima.platform.errors import Forbidden, ValidationError
from qoima.orders.domain.status import Status
from qoima.catalog.domain.calendar import Calendar, parse_hhmm, ship_by
from qoima.platform.access import Principal
from qoima.orders.services.intake import received_utc
from qoima.stock.services.reserve import lock_stock_rows
from qoima.orders.schemas import OrderIn
from qoima.platform.unit_of_work import UnitOfWork, utcnow

CENT = Decimal("0.01")
ZERO = Decimal(0)

CUSTOMER_COLUMNS = ("seller_id", "name", "phone", "email", "language", "preferred_channel", "created_at")
ORDER_COLUMNS = ("seller_id", "channel", "external_id", "idempotency_key", "customer_id", "status", "delivery_type",
                 "address", "city", "lat", "lon", "total", "warehouses", "sourcing_reason", "ship_by", "received_at",
                 "updated_at")
LINE_COLUMNS = ("order_id", "product_id", "sku", "quantity", "unit_price", "backordered")
RESERVATION_COLUMNS = ("order_id", "order_line_id", "stock_id", "warehouse_id", "quantity", "created_at")
EVENT_COLUMNS = ("order_id", "from_status", "to_status", "actor", "reason", "created_at")
OUTBOX_COLUMNS = ("topic", "aggregate_id", "seller_id", "payload", "status", "attempts", "next_attempt_at",
                  "created_at")


@dataclass
class BulkResult:
    created: int = 0
    existing: int = 0
    allocated: int = 0
    backordered: int = 0
    order_ids: list[int] = field(default_factory=list)  # created orders, in input order


@dataclass
class _Customer:
    key: tuple  # (0, id) for a stored customer, (1, n) for one created in this batch: lowest key = oldest
    id: int | None
    merged_into_id: int | None
    phone: str | None
    email: str | None
    new_row: dict | None = None  # values to insert (new customers)
    dirty: bool = False  # a stored customer whose phone/e-mail was filled in


@dataclass
class _Warehouse:
    id: int
    code: str
    lat: float | None
    lon: float | None
    calendar: Calendar


class _StockRow:
    """A locked stock row (what sourcing needs of it)."""
    __slots__ = ("id", "product_id", "warehouse_id")

    def __init__(self, id: int, product_id: int, warehouse_id: int):
        self.id, self.product_id, self.warehouse_id = id, product_id, warehouse_id


_NEW, _ALLOCATED, _BACKORDERED = Status.NEW.value, Status.ALLOCATED.value, Status.BACKORDERED.value


@dataclass
class _Plan:
    """A batch before its look-ups."""
    now: datetime
    candidates: list  # (seller_id, OrderIn), in input order
    keys: list  # (seller_id, channel, external_id) of each
    unseen: list  # the keys this run has not taken yet
    skus: set  # (seller_id, sku)
    contacts: dict  # (seller_id, "phone" / "email") -> contacts not met yet


@dataclass
class _Looked:
    """What the database answered for a batch."""
    existing: set
    customers: dict  # id -> stored customer row
    stock: list  # locked stock rows (id order)
    ids: dict  # table name -> new ids drawn (PostgreSQL)


@dataclass
class _Prepared:
    """A batch after its look-ups: what is left to do is Python (sourcing) and writing."""
    now: datetime
    todo: list  # (seller_id, OrderIn, received_at UTC)
    pids: list  # product ids of each order's lines
    customer_ids: list
    rows: list  # locked stock rows of the batch's products (id order)


class BulkIntake:
    def __init__(self, uow: UnitOfWork, principal: Principal, now: datetime | None = None):
        self.uow, self.principal, self.now = uow, principal, now
        self.sellers: dict[str, tuple[int, str]] = {}  # code -> (id, code)
        self.products: dict[tuple[int, str], int] = {}
        self.seen: set[tuple] = set()
        self.new_customers = 0
        self.writer = RowWriter(uow)
        rows = self._query(select(t.warehouses).order_by(t.warehouses.c.id)).all()
        self.warehouses = [_Warehouse(w.id, w.code, w.lat, w.lon, Calendar(
            timezone=w.timezone, cutoff=parse_hhmm(w.cutoff_time), handover=parse_hhmm(w.handover_time),
            working_days=w.working_days)) for w in rows]
        self.wh_by_id = {w.id: w for w in self.warehouses}
        # customers known to this transaction, by (seller, phone) / (seller, e-mail) and by id
        self.by_phone: dict[tuple, _Customer] = {}
        self.by_email: dict[tuple, _Customer] = {}
        self.customers_by_id: dict[int, _Customer] = {}
        self.free: dict[int, int] = {}  # stock id -> free units, for the rows this transaction has locked
        self.reserved: dict[int, int] = {}  # stock id -> units reserved by this run, not yet added to the row
        self._line_cache: dict[tuple, sourcing.Line] = {}
        self._ship_by_cache: dict[tuple, datetime] = {}
        self._offset = 0
        self._analyzed_at = 0

    def _query(self, statement, params=None):
        """A statement of our own on the connection: the queued writes go first (unless this runs in
        the background thread itself, as a look-up queued with RowWriter.call)."""
        if not self.writer.in_worker():
            self.writer.sync()
        return self.uow.execute(statement, params)

    def _in(self, column, values: list):
        if self.writer.pg:  # one array parameter instead of thousands of placeholders
            return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
        return column.in_(list(values))

    # ---------------------------------------------------------------- lookups
    def _seller(self, code: str | None, index: int) -> tuple[int, str]:
        if not code:
            if self.principal.seller_id is None:
                raise ValidationError("seller is required", field=f"orders[{index}].seller")
            row = self._query(select(t.sellers.c.id, t.sellers.c.code)
                              .where(t.sellers.c.id == self.principal.seller_id)).one()
            return row.id, row.code
        if code not in self.sellers:
            row = self._query(select(t.sellers.c.id, t.sellers.c.code).where(t.sellers.c.code == code)).first()
            if row is None:
                raise ValidationError(f"unknown seller '{code}'", field=f"orders[{index}].seller")
            self.sellers[code] = (row.id, row.code)
        sid, scode = self.sellers[code]
        if not self.principal.can_see(sid):
            raise Forbidden(f"you may act only for your own seller, not '{code}'", field=f"orders[{index}].seller")
        return sid, scode

    def _load_products(self, wanted: set[tuple[int, str]]) -> None:
        missing = wanted - self.products.keys()
        by_seller: dict[int, set[str]] = {}
        for sid, sku in missing:
            by_seller.setdefault(sid, set()).add(sku)
        for sid, skus in by_seller.items():
            for r in self._query(select(t.products.c.id, t.products.c.sku)
                                 .where(t.products.c.seller_id == sid, t.products.c.sku.in_(sorted(skus)))):
                self.products[(sid, r.sku)] = r.id

    def _existing(self, keys: list[tuple[int, str, str]]) -> set[tuple]:
        by_channel: dict[tuple[int, str], set[str]] = {}
        for sid, channel, ext in keys:
            by_channel.setdefault((sid, channel), set()).add(ext)
        found = set()
        for (sid, channel), exts in by_channel.items():  # uses the unique index (seller, channel, external_id)
            for ext in self._query(select(t.orders.c.external_id).where(
                    t.orders.c.seller_id == sid, t.orders.c.channel == channel,
                    self._in(t.orders.c.external_id, sorted(exts)))).scalars():
                found.add((sid, channel, ext))
        return found

    # ---------------------------------------------------------------- customers
    def _wanted_contacts(self, candidates) -> dict[tuple[int, str], set[str]]:
        """(seller, "phone" / "email") -> the contacts of these orders that this run has not met yet."""
        by_phone, by_email = self.by_phone, self.by_email
        wanted: dict[tuple[int, str], set[str]] = {}
        for sid, d in candidates:
            cust = d.customer
            if cust.phone and (sid, cust.phone) not in by_phone:
                wanted.setdefault((sid, "phone"), set()).add(cust.phone)
            if cust.email and (sid, cust.email) not in by_email:
                wanted.setdefault((sid, "email"), set()).add(cust.email)
        return wanted

    def _find_customers(self, wanted: dict[tuple[int, str], set[str]]) -> dict[int, object]:
        """The stored customers with those contacts: one index-friendly query per seller and kind."""
        found: dict[int, object] = {}
        c = t.customers.c
        for (sid, kind), values in wanted.items():
            column = c.phone if kind == "phone" else c.email
            for r in self._query(select(c.id, c.seller_id, c.phone, c.email, c.merged_into_id)
                                 .where(c.seller_id == sid, self._in(column, sorted(values)))):
                found[r.id] = r
        return found

    def _customers(self, items: list[tuple[int, OrderIn, datetime]], found: dict[int, object]) -> list[_Customer | None]:
        """Same matching as customers.find_or_create_customer, for a whole batch:
        by phone first, then e-mail; the oldest match wins; missing contacts are filled in.
        `found`: the stored customers with contacts this run had not met yet (_find_customers)."""
        by_phone, by_email = self.by_phone, self.by_email
        for cid in sorted(found):  # oldest first: the lowest id of a phone / e-mail wins
            if cid in self.customers_by_id:
                continue  # known already (and indexed under its contacts)
            r = found[cid]
            rec = self.customers_by_id[cid] = _Customer((0, r.id), r.id, r.merged_into_id, r.phone, r.email)
            if r.phone:
                self._index(by_phone, (r.seller_id, r.phone), rec)
            if r.email:
                self._index(by_email, (r.seller_id, r.email), rec)
        result: list[_Customer | None] = []
        for sid, d, received in items:
            cust = d.customer
            if not (cust.phone or cust.email or cust.name):
                result.append(None)
                continue
            rec = None
            if cust.phone:
                rec = by_phone.get((sid, cust.phone))
            if rec is None and cust.email:
                rec = by_email.get((sid, cust.email))
            if rec is not None:
                if cust.email and not rec.email:
                    rec.email, rec.dirty = cust.email, True
                    self._index(by_email, (sid, cust.email), rec)
                if cust.phone and not rec.phone:
                    rec.phone, rec.dirty = cust.phone, True
                    self._index(by_phone, (sid, cust.phone), rec)
                result.append(rec)
                continue
            self.new_customers += 1
            rec = _Customer((1, self.new_customers), None, None, cust.phone, cust.email, new_row={
                "seller_id": sid, "name": cust.name, "language": cust.language,
                "preferred_channel": cust.preferred_channel, "created_at": received})
            if cust.phone:
                by_phone.setdefault((sid, cust.phone), rec)
            if cust.email:
                by_email.setdefault((sid, cust.email), rec)
            result.append(rec)
        return result

    @staticmethod
    def _index(index: dict, key: tuple, rec: _Customer) -> None:
        if key not in index or rec.key < index[key].key:
            index[key] = rec

    @staticmethod
    def _unique(recs: list[_Customer | None]) -> tuple[list[_Customer], list[_Customer]]:
        new, dirty, seen = [], [], set()
        for rec in recs:
            if rec is None or id(rec) in seen:
                continue
            seen.add(id(rec))
            if rec.new_row is not None:
                new.append(rec)
            elif rec.dirty:
                dirty.append(rec)
        return new, dirty

    def _write_customers(self, recs: list[_Customer | None]) -> list[int | None]:
        new, dirty = self._unique(recs)
        if new:
            ids = self.writer.insert(t.customers, CUSTOMER_COLUMNS, [
                (r.new_row["seller_id"], r.new_row["name"], r.phone, r.email, r.new_row["language"],
                 r.new_row["preferred_channel"], r.new_row["created_at"]) for r in new], ids=True)
            for rec, cid in zip(new, ids):
                rec.id, rec.new_row = cid, None
                rec.key = (0, cid)
                self.customers_by_id[cid] = rec
        if dirty:
            self.writer.update_customers([(r.id, r.phone, r.email) for r in dirty])
            for r in dirty:
                r.dirty = False
        return [None if r is None else (r.merged_into_id or r.id) for r in recs]

    # ---------------------------------------------------------------- batches
    def run(self, orders: Sequence[OrderIn], batch_size: int = 2000,
            progress: Callable[[int, int], None] | None = None) -> BulkResult:
        result = BulkResult()
        try:
            for start in range(0, len(orders), batch_size):
                self.add(orders[start:start + batch_size], result)
                if progress:
                    progress(min(start + batch_size, len(orders)), len(orders))
            self.finish()
        finally:
            self.close()
        return result

    def add(self, batch: Sequence[OrderIn], result: BulkResult) -> None:
        """Process one batch (orders in the given order), adding to result. The rows may still be
        on their way to the database when this returns: call finish() before committing.

        On PostgreSQL the look-ups of this batch are queued first, then the rows of the previous
        batch: the database answers the look-ups and goes on with those rows while this batch is
        sourced and built here."""
        plan = self._plan(batch, self._offset)
        self._offset += len(batch)
        looked = self.writer.call(lambda: self._lookup(plan))
        self.writer.release()  # the previous batch's rows, after the look-ups
        prepared = self._prepare(plan, looked.result(), result)
        if prepared is not None:
            self._build(prepared, result)
        if self.writer.pg and result.created >= max(2 * self._analyzed_at, 2000):
            # Fresh planner statistics for the tables this run keeps querying while they grow
            # (otherwise the existing-order and customer look-ups turn into scans: quadratic; a
            # 100,000-order import took 75 s more without). For the columns these look-ups filter
            # on: a quarter of the time of a whole-table ANALYZE (autovacuum does the rest later).
            self.writer.execute("ANALYZE orders (seller_id, channel, external_id), "
                                "customers (seller_id, phone, email)")
            self._analyzed_at = result.created

    def finish(self) -> None:
        """Write everything still queued, raise the stock counters, and wait for it all (raises what the
        database refused)."""
        if self.reserved:
            self.writer.add_reserved(sorted(self.reserved.items()))
            self.reserved = {}
        self.writer.release()
        self.writer.sync()

    def close(self) -> None:
        """Stop the background writer (after finish(), or abandoning what is queued on an error)."""
        self.writer.close()

    def _plan(self, batch: Sequence[OrderIn], offset: int) -> _Plan:
        """What the look-ups of a batch need to know (no queries, but for a seller not met yet)."""
        sellers: dict = {}
        candidates = []
        for i, d in enumerate(batch):
            if d.seller not in sellers:  # the same answer for every order of a seller
                sellers[d.seller] = self._seller(d.seller, offset + i)
            candidates.append((sellers[d.seller][0], d))
        seen = self.seen
        keys = [(sid, d.channel, d.external_id) for sid, d in candidates]
        return _Plan(now=self.now or utcnow(), candidates=candidates, keys=keys,
                     unseen=[k for k in keys if k not in seen],
                     skus={(sid, ln.sku) for sid, d in candidates for ln in d.lines},
                     contacts=self._wanted_contacts(candidates))

    def _lookup(self, plan: _Plan) -> _Looked:
        """The queries of a batch, in one go (on PostgreSQL in the background thread): orders that
        exist, products not known yet, customers with contacts not met yet, the stock rows of the
        batch's products (locked), and ids enough for the new rows."""
        existing = self._existing(plan.unseen)
        self._load_products(plan.skus)
        products = self.products
        found = self._find_customers(plan.contacts)
        pids = sorted({products[k] for k in plan.skus if k in products})
        stock = lock_stock_rows(self.uow, pids) if pids else []
        ids: dict[str, list[int]] = {}
        if self.writer.pg:  # as many as the batch may need; what is left over serves the next batch
            fresh = [(sid, d) for (sid, d), key in zip(plan.candidates, plan.keys) if key not in existing]
            ids = self.writer.draw({
                t.customers: sum(1 for _, d in fresh if d.customer.phone or d.customer.email or d.customer.name),
                t.orders: len(fresh), t.order_lines: sum(len(d.lines) for _, d in fresh)})
        return _Looked(existing, found, stock, ids)

    def _prepare(self, plan: _Plan, looked: _Looked, result: BulkResult) -> _Prepared | None:
        """The batch's new orders with their products, customers and stock rows (Python only)."""
        self.writer.add_ids(looked.ids)
        existing, seen, now = looked.existing, self.seen, plan.now
        todo = []
        received: dict = {}
        for (sid, d), key in zip(plan.candidates, plan.keys):
            if key in existing or key in seen:
                result.existing += 1
                continue
            seen.add(key)
            at = d.received_at
            if at not in received:
                received[at] = received_utc(at, now)
            todo.append((sid, d, received[at]))
        if not todo:
            return None
        products = self.products
        pids = []
        for sid, d, _ in todo:
            these = []
            for j, ln in enumerate(d.lines):
                pid = products.get((sid, ln.sku))
                if pid is None:
                    raise ValidationError(f"unknown SKU '{ln.sku}' for this seller", field=f"lines[{j}].sku")
                these.append(pid)
            pids.append(these)
        recs = self._customers(todo, looked.customers)
        rows = []
        free = self.free
        for r in looked.stock:
            if r.id not in free:  # a row locked before keeps the count this transaction holds for it
                free[r.id] = r.on_hand - r.reserved
            rows.append(_StockRow(r.id, r.product_id, r.warehouse_id))
        customer_ids = self._write_customers(recs)
        return _Prepared(now, todo, pids, customer_ids, rows)

    def _build(self, p: _Prepared, result: BulkResult) -> None:
        """Sourcing in memory and the rows of the batch (no queries on PostgreSQL)."""
        now, free, writer = p.now, self.free, self.writer
        by_product: dict[int, list] = {}
        for r in p.rows:  # in id order
            by_product.setdefault(r.product_id, []).append(r)
        lines_of = self._lines
        ship_by_of = self._ship_by
        choose, stock_of, calendar_of = sourcing.choose, self._stock, self._calendar_warehouse

        order_rows, plans = [], []
        for (sid, d, received), pids, cid in zip(p.todo, p.pids, p.customer_ids):
            lines, delivery = d.lines, d.delivery
            if len(pids) == 1:
                mine = [r for r in by_product.get(pids[0], ()) if free[r.id] > 0]
            else:
                mine = sorted((r for pid in dict.fromkeys(pids) for r in by_product.get(pid, ()) if free[r.id] > 0),
                              key=_row_id)
            lat, lon = delivery.lat, delivery.lon
            plan = choose(lines_of(pids, lines), stock_of(mine, free), lat, lon)
            takes = _takes(plan, mine, free, lines, pids)  # also takes the units out of `free`
            status = _ALLOCATED if plan.complete else _BACKORDERED
            cal = calendar_of(plan, lat, lon)
            total = ZERO
            for ln in lines:
                total += ln.quantity * ln.unit_price
            plans.append((sid, d, pids, plan, takes, status))
            order_rows.append((
                sid, d.channel, d.external_id, None, cid, status, delivery.type, delivery.address, delivery.city,
                lat, lon, total.quantize(CENT), ",".join(plan.warehouses), plan.reason,
                ship_by_of(received, cal) if cal is not None else None, received, now))
        order_ids = writer.insert(t.orders, ORDER_COLUMNS, order_rows, ids=True)

        line_rows = []
        for oid, (sid, d, pids, plan, takes, status) in zip(order_ids, plans):
            shortfalls = _shortfalls(plan, pids, d.lines)
            for pid, ln, short in zip(pids, d.lines, shortfalls):
                line_rows.append((oid, pid, ln.sku, ln.quantity, ln.unit_price, short))
        line_ids = writer.insert(t.order_lines, LINE_COLUMNS, line_rows, ids=True)

        reservations, events, outbox, per_stock = [], [], [], self.reserved
        k = 0
        actor = self.principal.email
        new, as_json = _NEW, writer.pg  # PostgreSQL gets the JSON text, SQLite the dict
        received_reasons: dict[str, str] = {}
        for oid, (sid, d, pids, plan, takes, status) in zip(order_ids, plans):
            if takes:
                for li, stock_id, wid, qty in takes:
                    reservations.append((oid, line_ids[k + li], stock_id, wid, qty, now))
                    per_stock[stock_id] = per_stock.get(stock_id, 0) + qty
            k += len(pids)
            channel = d.channel
            received_reason = received_reasons.get(channel)
            if received_reason is None:
                received_reason = received_reasons[channel] = f"received via {channel}"[:500]
            reason = plan.reason[:500]
            events.append((oid, None, new, actor, received_reason, now))
            events.append((oid, new, status, "sourcing", reason, now))
            outbox.append(("order.status_changed", oid, sid, _payload(oid, None, new, received_reason, as_json),
                           "pending", 0, now, now))
            outbox.append(("order.status_changed", oid, sid, _payload(oid, new, status, reason, as_json),
                           "pending", 0, now, now))
            outbox.append(("order.created", oid, sid, f'{{"order_id": {oid}}}' if as_json else {"order_id": oid},
                           "pending", 0, now, now))
            if status == _ALLOCATED:
                result.allocated += 1
            else:
                result.backordered += 1
        writer.insert(t.reservations, RESERVATION_COLUMNS, reservations)
        writer.insert(t.order_events, EVENT_COLUMNS, events)
        writer.insert(t.outbox, OUTBOX_COLUMNS, outbox)
        result.created += len(order_ids)
        result.order_ids.extend(order_ids)

    def _lines(self, pids: list[int], lines) -> list[sourcing.Line]:
        """sourcing.Line of each order line (immutable, so one object per product, SKU and quantity)."""
        cache = self._line_cache
        out = []
        for pid, ln in zip(pids, lines):
            key = (pid, ln.sku, ln.quantity)
            line = cache.get(key)
            if line is None:
                line = cache[key] = sourcing.Line(pid, ln.sku, ln.quantity)
            out.append(line)
        return out

    def _ship_by(self, received: datetime, w: _Warehouse) -> datetime:
        """sla.ship_by, remembered per (received, warehouse): orders of a file share their timestamps."""
        key = (received, w.id)
        found = self._ship_by_cache.get(key)
        if found is None:
            if len(self._ship_by_cache) > 100_000:
                self._ship_by_cache.clear()
            found = self._ship_by_cache[key] = ship_by(received, w.calendar)
        return found

    def _stock(self, rows, free) -> list[sourcing.WarehouseStock]:
        result: dict[int, sourcing.WarehouseStock] = {}
        for r in rows:
            ws = result.get(r.warehouse_id)
            if ws is None:
                w = self.wh_by_id[r.warehouse_id]
                ws = result[r.warehouse_id] = sourcing.WarehouseStock(w.id, w.code, w.lat, w.lon, {})
            available = ws.available
            available[r.product_id] = available.get(r.product_id, 0) + free[r.id]
        return list(result.values())

    def _calendar_warehouse(self, plan, lat, lon) -> _Warehouse | None:
        if not self.warehouses:
            return None
        for w in self.warehouses:
            if w.code in plan.warehouses:
                return w
        return min(self.warehouses, key=lambda w: (sourcing.distance_km(w.lat, w.lon, lat, lon) or 0.0, w.id))


def _row_id(r) -> int:
    return r.id


_JSON_NULL = "null"


def _payload(oid: int, frm: str | None, to: str, reason: str, as_json: bool):
    """The payload of an order.status_changed event; as JSON text, the exact text json.dumps gives."""
    if not as_json:
        return {"order_id": oid, "from": frm, "to": to, "reason": reason}
    return (f'{{"order_id": {oid}, "from": {_JSON_NULL if frm is None else json.dumps(frm)}, '
            f'"to": {json.dumps(to)}, "reason": {json.dumps(reason)}}}')


class RowWriter:
    """Bulk writes inside the caller's transaction.

    PostgreSQL: ids come from the sequences (`draw`, one round trip), rows go in with COPY.
    Writes are held until `release()`, then run in order by a background thread on the same
    connection, as do look-ups queued with `call()`; `sync()` waits until all is done (and raises
    the first error). Elsewhere: executemany at once (ids by RETURNING)."""

    def __init__(self, uow: UnitOfWork):
        self.uow = uow
        self.pg = uow.is_postgres
        self._sequences: dict[str, str] = {}
        self._ids: dict[str, list[int]] = {}
        self._held: list[Callable] = []
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._abandon = False

    # ------------------------------------------------------------ ids
    def draw(self, counts: dict[Table, int]) -> dict[str, list[int]]:
        """PostgreSQL: new ids from the tables' sequences (ascending), one query for all the tables.
        The caller hands them to add_ids(); the connection must be free (see call())."""
        wanted = [(table, n) for table, n in counts.items() if n > 0]
        if not self.pg or not wanted:
            return {}
        for table, _ in wanted:
            if table.name not in self._sequences:
                self._sequences[table.name] = self.uow.execute(
                    text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar_one()
        sql = "SELECT " + ", ".join(
            f"ARRAY(SELECT nextval(CAST(:s{i} AS regclass)) FROM generate_series(1, :n{i}))"
            for i in range(len(wanted)))
        params = {}
        for i, (table, n) in enumerate(wanted):
            params[f"s{i}"], params[f"n{i}"] = self._sequences[table.name], n
        row = self.uow.execute(text(sql), params).one()
        return {table.name: sorted(ids) for (table, _), ids in zip(wanted, row)}

    def add_ids(self, drawn: dict[str, list[int]]) -> None:
        """Ids for the next inserts (after those not used yet: still ascending)."""
        for name, ids in drawn.items():
            self._ids.setdefault(name, []).extend(ids)

    def _take_ids(self, table: Table, n: int) -> list[int]:
        pool = self._ids.get(table.name, [])
        if len(pool) < n:  # not expected (look-ups draw enough), but never short
            self.sync()
            self.add_ids(self.draw({table: n - len(pool)}))
            pool = self._ids[table.name]
        taken, self._ids[table.name] = pool[:n], pool[n:]
        return taken

    # ------------------------------------------------------------ writes
    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple], ids: bool = False) -> list[int]:
        """Insert rows (tuples in `columns` order); with ids=True return the new ids in row order."""
        if not rows:
            return []
        if not self.pg:
            values = [dict(zip(columns, r)) for r in rows]
            if ids:
                return self.uow.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                        values).scalars().all()
            self.uow.execute(insert(table), values)
            return []
        new_ids: list[int] = []
        if ids:
            new_ids = self._take_ids(table, len(rows))
            rows = [(i, *r) for i, r in zip(new_ids, rows)]
            columns = ("id", *columns)
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"

        def copy(cursor) -> None:
            with cursor.copy(statement) as cp:
                write = cp.write_row
                for r in rows:
                    write(r)
        self._held.append(copy)
        return new_ids

    def add_reserved(self, per_stock: list[tuple[int, int]]) -> None:
        """stock.reserved += n for (stock id, n), atomically in SQL (the CHECK refuses too much)."""
        if not self.pg:
            self.uow.execute(update(t.stock).where(t.stock.c.id == bindparam("sid"))
                             .values(reserved=t.stock.c.reserved + bindparam("n")),
                             [{"sid": sid, "n": n} for sid, n in per_stock])
            return
        ids, ns = [s for s, _ in per_stock], [n for _, n in per_stock]
        self._held.append(lambda cursor: cursor.execute(
            "UPDATE stock SET reserved = stock.reserved + v.n FROM unnest(%s::bigint[], %s::integer[]) AS v(id, n) "
            "WHERE stock.id = v.id", (ids, ns)))

    def update_customers(self, rows: list[tuple[int, str | None, str | None]]) -> None:
        """(id, phone, email): contacts filled in on stored customers."""
        if not self.pg:
            self.uow.execute(update(t.customers).where(t.customers.c.id == bindparam("cid"))
                             .values(phone=bindparam("new_phone"), email=bindparam("new_email")),
                             [{"cid": cid, "new_phone": p, "new_email": e} for cid, p, e in rows])
            return
        cols = [list(c) for c in zip(*rows)]
        self._held.append(lambda cursor: cursor.execute(
            "UPDATE customers SET phone = v.phone, email = v.email "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, phone, email) WHERE customers.id = v.id",
            cols))

    def execute(self, sql: str) -> None:
        if not self.pg:
            self.uow.execute(text(sql))
            return
        self._held.append(lambda cursor: cursor.execute(sql))

    # ------------------------------------------------------------ the background thread
    def call(self, fn: Callable[[], object]) -> "_Call":
        """Run fn (statements of our own) on the connection: on PostgreSQL in the background thread,
        after what was released before and before what is released next; elsewhere at once.
        `.result()` waits for it and returns fn's value (or raises its error, or an earlier write's)."""
        done = _Call(fn)
        if not self.pg:
            done.run()
            return done
        self._start()
        self._queue.put(done)
        return done

    def in_worker(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def release(self) -> None:
        """Hand the held writes to the background thread (in order)."""
        if not self._held:
            return
        self._start()
        for job in self._held:
            self._queue.put(job)
        self._held = []

    def _start(self) -> None:
        if self._queue is None:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._run, name="qoima-bulk-copy", daemon=True)
            self._thread.start()

    def sync(self) -> None:
        """Wait until the released writes are done; raise the first error."""
        if self._queue is not None:
            self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the thread; writes still held or queued (after an error) are dropped."""
        self._held = []
        if self._queue is None:
            return
        self._abandon = True
        self._queue.put(None)
        self._thread.join()
        self._queue = self._thread = None

    def _run(self) -> None:
        cursor = self.uow.conn.connection.driver_connection.cursor()
        try:
            while True:
                job = self._queue.get()
                try:
                    if job is None:
                        return
                    if self._error is not None or self._abandon:
                        if isinstance(job, _Call):
                            job.fail(self._error or RuntimeError("bulk intake closed"))
                    elif isinstance(job, _Call):
                        job.run()
                        if job.error is not None:
                            self._error = job.error
                    else:
                        job(cursor)
                except BaseException as exc:  # noqa: BLE001 - raised by sync() in the caller's thread
                    self._error = exc
                finally:
                    self._queue.task_done()
        finally:
            cursor.close()


class _Call:
    """A function run by RowWriter.call, and its outcome."""

    def __init__(self, fn: Callable[[], object]):
        self.fn, self.value, self.error = fn, None, None
        self._done = threading.Event()

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:  # noqa: BLE001 - raised by result() in the caller's thread
            self.error = exc
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._done.set()

    def result(self):
        self._done.wait()
        if self.error is not None:
            raise self.error
        return self.value


def _shortfalls(plan, pids: list[int], lines) -> list[int]:
    """The shortfall of a product goes to its last lines (as intake._insert_lines)."""
    out = [0] * len(pids)
    if not plan.backorder:
        return out
    missing = dict(plan.backorder)
    for i in range(len(pids) - 1, -1, -1):
        short = min(missing.get(pids[i], 0), lines[i].quantity)
        out[i] = short
        if short:
            missing[pids[i]] -= short
    return out


def _takes(plan, rows, free: dict, lines, pids: list[int]) -> list[tuple[int, int, int, int]]:
    """Spread the plan's (warehouse, product, qty) over stock rows and order lines, as intake._takes;
    returns (line index, stock id, warehouse id, qty) and decrements `free`."""
    need = [[pid, ln.quantity] for pid, ln in zip(pids, lines)]
    takes = []
    for wid, pid, qty in plan.picks:
        for r in rows:
            if qty == 0:
                break
            if r.warehouse_id != wid or r.product_id != pid or free[r.id] == 0:
                continue
            for li, entry in enumerate(need):
                if entry[0] != pid or entry[1] == 0 or qty == 0 or free[r.id] == 0:
                    continue
                take = min(qty, free[r.id], entry[1])
                takes.append((li, r.id, wid, take))
                free[r.id] -= take
                qty -= take
                entry[1] -= take
    return takes


def create_orders(uow: UnitOfWork, principal: Principal, orders: Sequence[OrderIn], *, now: datetime | None = None,
                  batch_size: int = 2000, progress: Callable[[int, int], None] | None = None) -> BulkResult:
    """Create many orders in the caller's transaction; existing (seller, channel, external_id) are skipped."""
    return BulkIntake(uow, principal, now).run(orders, batch_size, progress)
