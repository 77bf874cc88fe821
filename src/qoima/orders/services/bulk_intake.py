"""Bulk order intake: many orders in one transaction, with the same result as
calling `intake.create_order` for each of them in turn (status, warehouses,
sourcing reason, ship-by, reservations, backorders, timeline, outbox).

Orders are processed in batches. For each batch the sellers, products,
existing orders and customers are looked up with a handful of queries, the
stock rows of every product of the batch are locked (in id order), and the
booking (domain/booking.py, the decision of every writer) is taken in memory
against that availability, order by order in the given order (first come,
first served). Rows are then written in bulk (adapters/bulk_writer.py). The
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
N while batch N+1 is booked and built in Python. Elsewhere (SQLite) rows
are written at once with executemany.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Sequence

from sqlalchemy import any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from qoima.catalog.domain.sellers import seller_problem
from qoima.db import tables as t
from qoima.orders.adapters.bulk_writer import RowWriter
from qoima.orders.domain import booking as bk
from qoima.orders.domain.booking import (CUSTOMER_COLUMNS, EVENT_COLUMNS, LINE_COLUMNS, ORDER_COLUMNS,
                                         OUTBOX_COLUMNS, RESERVATION_COLUMNS, SHIPMENT_COLUMNS)
from qoima.orders.schemas import OrderIn
from qoima.orders.services.intake import holidays, warehouse_of
from qoima.platform.access import Principal
from qoima.platform.unit_of_work import UnitOfWork, utcnow
from qoima.stock.services.reserve import lock_stock_rows

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


class _StockRow:
    """A locked stock row (what sourcing needs of it)."""
    __slots__ = ("id", "product_id", "warehouse_id")

    def __init__(self, id: int, product_id: int, warehouse_id: int):
        self.id, self.product_id, self.warehouse_id = id, product_id, warehouse_id


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
    customers: list  # bk.CustomerPlan of each order
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
        days = holidays(self._query)
        self.warehouses = {w.id: warehouse_of(w, days.get(w.id, frozenset()))
                           for w in self._query(select(t.warehouses).order_by(t.warehouses.c.id))}
        # customers known to this transaction, by (seller, phone) / (seller, e-mail) and by id
        self.by_phone: dict[tuple, _Customer] = {}
        self.by_email: dict[tuple, _Customer] = {}
        self.customers_by_id: dict[int, _Customer] = {}
        self.free: dict[int, int] = {}  # stock id -> free units, for the rows this transaction has locked
        self.reserved: dict[int, int] = {}  # stock id -> units reserved by this run, not yet added to the row
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
        field = f"orders[{index}].seller"
        if not code:
            problem = seller_problem(code, self.principal.seller_id, True, field)
            if problem is not None:
                raise problem
            row = self._query(select(t.sellers.c.id, t.sellers.c.code)
                              .where(t.sellers.c.id == self.principal.seller_id)).one()
            return row.id, row.code
        if code not in self.sellers:
            row = self._query(select(t.sellers.c.id, t.sellers.c.code).where(t.sellers.c.code == code)).first()
            if row is None:
                raise seller_problem(code, None, False, field)
            self.sellers[code] = (row.id, row.code)
        sid, scode = self.sellers[code]
        problem = seller_problem(code, sid, self.principal.can_see(sid), field)
        if problem is not None:
            raise problem
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

    def _customers(self, items: list[tuple[int, OrderIn, datetime]],
                   found: dict[int, object]) -> tuple[list[_Customer | None], list[bk.CustomerPlan]]:
        """The booking's customer rule (booking.decide_customer) for a whole batch, against the customers
        this run knows by phone and by e-mail (the oldest of a contact wins, as in the database).
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
        recs: list[_Customer | None] = []
        plans: list[bk.CustomerPlan] = []
        decide_customer = bk.decide_customer
        for sid, d, received in items:
            cust = d.customer
            plan = decide_customer(sid, cust, by_phone.get((sid, cust.phone)) if cust.phone else None,
                                   by_email.get((sid, cust.email)) if cust.email else None, received)
            plans.append(plan)
            rec = plan.match
            if plan.action == "reuse":
                for kind, value in plan.fill.items():  # the contacts the booking fills in
                    setattr(rec, kind, value)
                    rec.dirty = True
                    self._index(by_email if kind == "email" else by_phone, (sid, value), rec)
            elif plan.action == "create":
                self.new_customers += 1
                rec = plan.match = _Customer((1, self.new_customers), None, None, cust.phone, cust.email,
                                             new_row=plan.new)
                if cust.phone:
                    by_phone.setdefault((sid, cust.phone), rec)
                if cust.email:
                    by_email.setdefault((sid, cust.email), rec)
            recs.append(rec)
        return recs, plans

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
            ids = self.writer.insert(t.customers, CUSTOMER_COLUMNS, [  # with the contacts filled in meanwhile
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
                received[at] = bk.received_utc(at, now)
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
                    raise bk.unknown_sku(ln.sku, j)
                these.append(pid)
            pids.append(these)
        recs, plans = self._customers(todo, looked.customers)
        rows = []
        free = self.free
        for r in looked.stock:
            if r.id not in free:  # a row locked before keeps the count this transaction holds for it
                free[r.id] = r.on_hand - r.reserved
            rows.append(_StockRow(r.id, r.product_id, r.warehouse_id))
        customer_ids = self._write_customers(recs)
        return _Prepared(now, todo, pids, plans, customer_ids, rows)

    def _build(self, p: _Prepared, result: BulkResult) -> None:
        """The booking of each order in turn (against the free units this run holds) and the rows of
        the batch (no queries on PostgreSQL)."""
        now, free, writer, warehouses = p.now, self.free, self.writer, self.warehouses
        by_product: dict[int, list] = {}
        for r in p.rows:  # in id order
            by_product.setdefault(r.product_id, []).append(r)
        decide, Snapshot, StockRow = bk.decide, bk.Snapshot, bk.StockRow
        actor = self.principal.email

        order_rows, bookings = [], []
        for (sid, d, _), pids, customer, cid in zip(p.todo, p.pids, p.customers, p.customer_ids):
            if len(pids) == 1:
                mine = [StockRow(r.id, r.product_id, r.warehouse_id, free[r.id])
                        for r in by_product.get(pids[0], ()) if free[r.id] > 0]
            else:
                mine = [StockRow(r.id, r.product_id, r.warehouse_id, free[r.id])
                        for pid in dict.fromkeys(pids) for r in by_product.get(pid, ()) if free[r.id] > 0]
            b = decide(Snapshot(seller_id=sid, actor=actor, order=d, product_ids=pids, stock=mine,
                                warehouses=warehouses, now=now, customer=customer, stamp=now))
            for _, stock_id, _, qty in b.reservations:  # taken out of what this run holds
                free[stock_id] -= qty
            bookings.append(b)
            order_rows.append(b.order_values(cid))
        order_ids = writer.insert(t.orders, ORDER_COLUMNS, order_rows, ids=True)

        line_rows = []
        for oid, b in zip(order_ids, bookings):
            for ln in b.lines:
                line_rows.append((oid, ln.product_id, ln.sku, ln.quantity, ln.unit_price, ln.backordered))
        line_ids = writer.insert(t.order_lines, LINE_COLUMNS, line_rows, ids=True)

        reservations, shipments, events, outbox, per_stock = [], [], [], [], self.reserved
        k = 0
        dumps = json.dumps if writer.pg else _as_is  # PostgreSQL gets the JSON text, SQLite the dict
        for oid, b in zip(order_ids, bookings):
            for li, stock_id, wid, qty in b.reservations:
                reservations.append((oid, line_ids[k + li], stock_id, wid, qty, now))
                per_stock[stock_id] = per_stock.get(stock_id, 0) + qty
            k += len(b.lines)
            shipments.extend(b.shipment_values(oid))
            for frm, to, who, why in b.timeline:
                events.append((oid, frm, to, who, why, now))
            for topic, payload in b.events(oid):
                outbox.append((topic, oid, b.seller_id, dumps(payload), "pending", 0, now, now))
            if b.complete:
                result.allocated += 1
            else:
                result.backordered += 1
        writer.insert(t.reservations, RESERVATION_COLUMNS, reservations)
        writer.insert(t.shipments, SHIPMENT_COLUMNS, shipments)
        writer.insert(t.order_events, EVENT_COLUMNS, events)
        writer.insert(t.outbox, OUTBOX_COLUMNS, outbox)
        result.created += len(order_ids)
        result.order_ids.extend(order_ids)


def _as_is(value):
    return value


def create_orders(uow: UnitOfWork, principal: Principal, orders: Sequence[OrderIn], *, now: datetime | None = None,
                  batch_size: int = 2000, progress: Callable[[int, int], None] | None = None) -> BulkResult:
    """Create many orders in the caller's transaction; existing (seller, channel, external_id) are skipped."""
    return BulkIntake(uow, principal, now).run(orders, batch_size, progress)
