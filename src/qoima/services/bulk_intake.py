"""Bulk order intake: many orders in one transaction, with the same result as
calling `intake.create_order` for each of them in turn (status, warehouses,
sourcing reason, ship-by, reservations, backorders, timeline, outbox).

Orders are processed in batches. For each batch the sellers, products,
existing orders and customers are looked up with a handful of queries, the
stock rows of every product of the batch are locked once (in id order), and
sourcing runs in memory against that availability, order by order in the
given order (first come, first served). Rows are then written in bulk and
the stock counters are raised atomically in SQL, in id order. The caller's
unit of work decides whether it all commits.

Writing: on PostgreSQL the ids of new orders and lines are drawn from their
sequences in one query each and the rows go in with COPY (several times
faster than multi-row INSERT for 10^5 rows); elsewhere (SQLite) with
executemany and `RETURNING ... sort_by_parameter_order`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Callable, Sequence

from sqlalchemy import Table, bindparam, insert, select, text, update

from ..adapters.db import tables as t
from ..domain import sourcing
from ..domain.errors import Forbidden, ValidationError
from ..domain.orders import Status
from ..domain.sla import Calendar, parse_hhmm, ship_by
from .access import Principal
from .intake import received_utc
from .reserve import lock_stock_rows
from .schemas import OrderIn
from .unit_of_work import UnitOfWork, utcnow

CENT = Decimal("0.01")


@dataclass
class BulkResult:
    created: int = 0
    existing: int = 0
    allocated: int = 0
    backordered: int = 0
    order_ids: list[int] = field(default_factory=list)  # created orders, in input order


@dataclass
class _Customer:
    key: tuple  # (0, id) for a stored customer, (1, n) for one created in this run: lowest key = oldest
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


class BulkIntake:
    def __init__(self, uow: UnitOfWork, principal: Principal, now: datetime | None = None):
        self.uow, self.principal, self.now = uow, principal, now
        self.sellers: dict[str, tuple[int, str]] = {}  # code -> (id, code)
        self.products: dict[tuple[int, str], int] = {}
        self.seen: set[tuple] = set()
        self.new_customers = 0
        rows = uow.execute(select(t.warehouses).order_by(t.warehouses.c.id)).all()
        self.warehouses = [_Warehouse(w.id, w.code, w.lat, w.lon, Calendar(
            timezone=w.timezone, cutoff=parse_hhmm(w.cutoff_time), handover=parse_hhmm(w.handover_time),
            working_days=w.working_days)) for w in rows]
        self.wh_by_id = {w.id: w for w in self.warehouses}
        self.writer = RowWriter(uow)
        self._offset = 0
        self._analyzed_at = 0

    # ---------------------------------------------------------------- lookups
    def _seller(self, code: str | None, index: int) -> tuple[int, str]:
        if not code:
            if self.principal.seller_id is None:
                raise ValidationError("seller is required", field=f"orders[{index}].seller")
            row = self.uow.execute(select(t.sellers.c.id, t.sellers.c.code)
                                   .where(t.sellers.c.id == self.principal.seller_id)).one()
            return row.id, row.code
        if code not in self.sellers:
            row = self.uow.execute(select(t.sellers.c.id, t.sellers.c.code).where(t.sellers.c.code == code)).first()
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
            for r in self.uow.execute(select(t.products.c.id, t.products.c.sku)
                                      .where(t.products.c.seller_id == sid, t.products.c.sku.in_(sorted(skus)))):
                self.products[(sid, r.sku)] = r.id

    def _existing(self, keys: list[tuple[int, str, str]]) -> set[tuple]:
        by_channel: dict[tuple[int, str], set[str]] = {}
        for sid, channel, ext in keys:
            by_channel.setdefault((sid, channel), set()).add(ext)
        found = set()
        for (sid, channel), exts in by_channel.items():  # uses the unique index (seller, channel, external_id)
            for ext in self.uow.execute(select(t.orders.c.external_id).where(
                    t.orders.c.seller_id == sid, t.orders.c.channel == channel,
                    t.orders.c.external_id.in_(sorted(exts)))).scalars():
                found.add((sid, channel, ext))
        return found

    # ---------------------------------------------------------------- customers
    def _customers(self, items: list[tuple[int, OrderIn, datetime]]) -> list[_Customer | None]:
        """Same matching as customers.find_or_create_customer, for a whole batch:
        by phone first, then e-mail; the oldest match wins; missing contacts are filled in."""
        wanted: dict[tuple[int, str], set[str]] = {}
        for sid, d, _ in items:
            for kind in ("phone", "email"):
                value = getattr(d.customer, kind)
                if value:
                    wanted.setdefault((sid, kind), set()).add(value)
        by_phone: dict[tuple, _Customer] = {}
        by_email: dict[tuple, _Customer] = {}
        found: dict[int, object] = {}
        c = t.customers.c
        for (sid, kind), values in wanted.items():  # one index-friendly query per seller and contact kind
            column = c.phone if kind == "phone" else c.email
            for r in self.uow.execute(select(c.id, c.seller_id, c.phone, c.email, c.merged_into_id)
                                      .where(c.seller_id == sid, column.in_(sorted(values)))):
                found[r.id] = r
        for cid in sorted(found):  # oldest first: the lowest id of a phone / e-mail wins
            r = found[cid]
            rec = _Customer((0, r.id), r.id, r.merged_into_id, r.phone, r.email)
            if r.phone:
                by_phone.setdefault((r.seller_id, r.phone), rec)
            if r.email:
                by_email.setdefault((r.seller_id, r.email), rec)
        result: list[_Customer | None] = []
        for sid, d, received in items:
            cust = d.customer
            if not (cust.phone or cust.email or cust.name):
                result.append(None)
                continue
            rec = None
            for index, value in ((by_phone, cust.phone), (by_email, cust.email)):
                if value and (sid, value) in index:
                    rec = index[(sid, value)]
                    break
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

    def _write_customers(self, recs: list[_Customer | None]) -> list[int | None]:
        new, seen = [], set()
        dirty = []
        for rec in recs:
            if rec is None or id(rec) in seen:
                continue
            seen.add(id(rec))
            if rec.new_row is not None:
                new.append(rec)
            elif rec.dirty:
                dirty.append(rec)
        if new:
            ids = self.writer.insert(t.customers, [{**r.new_row, "phone": r.phone, "email": r.email} for r in new],
                                     ids=True)
            for rec, cid in zip(new, ids):
                rec.id, rec.new_row = cid, None
                rec.key = (0, cid)
        if dirty:
            self.uow.execute(update(t.customers).where(t.customers.c.id == bindparam("cid"))
                             .values(phone=bindparam("new_phone"), email=bindparam("new_email")),
                             [{"cid": r.id, "new_phone": r.phone, "new_email": r.email} for r in dirty])
            for r in dirty:
                r.dirty = False
        return [None if r is None else (r.merged_into_id or r.id) for r in recs]

    # ---------------------------------------------------------------- a batch
    def run(self, orders: Sequence[OrderIn], batch_size: int = 2000,
            progress: Callable[[int, int], None] | None = None) -> BulkResult:
        result = BulkResult()
        for start in range(0, len(orders), batch_size):
            self.add(orders[start:start + batch_size], result)
            if progress:
                progress(min(start + batch_size, len(orders)), len(orders))
        return result

    def add(self, batch: Sequence[OrderIn], result: BulkResult) -> None:
        """Process one batch (orders in the given order), adding to result."""
        self._batch(batch, self._offset, result)
        self._offset += len(batch)
        if self.writer.pg and result.created >= max(2 * self._analyzed_at, 2000):
            # Fresh planner statistics for the tables this run keeps querying while they grow
            # (otherwise the existing-order and customer look-ups turn into scans: quadratic).
            self.uow.execute(text("ANALYZE orders, customers"))
            self._analyzed_at = result.created

    def _batch(self, batch: Sequence[OrderIn], offset: int, result: BulkResult) -> None:
        uow, now = self.uow, self.now or utcnow()
        keyed = [(self._seller(d.seller, offset + i), d) for i, d in enumerate(batch)]
        existing = self._existing([(sid, d.channel, d.external_id) for (sid, _), d in keyed])
        todo = []
        for (sid, scode), d in keyed:
            key = (sid, d.channel, d.external_id)
            if key in existing or key in self.seen:
                result.existing += 1
                continue
            self.seen.add(key)
            todo.append((sid, d, received_utc(d.received_at, now)))
        if not todo:
            return
        self._load_products({(sid, ln.sku) for sid, d, _ in todo for ln in d.lines})
        for i, (sid, d, _) in enumerate(todo):
            for j, ln in enumerate(d.lines):
                if (sid, ln.sku) not in self.products:
                    raise ValidationError(f"unknown SKU '{ln.sku}' for this seller", field=f"lines[{j}].sku")
        customer_ids = self._write_customers(self._customers(todo))
        rows = lock_stock_rows(uow, sorted({self.products[(sid, ln.sku)] for sid, d, _ in todo for ln in d.lines}))
        free = {r.id: r.on_hand - r.reserved for r in rows}
        by_product: dict[int, list] = {}
        for r in rows:
            by_product.setdefault(r.product_id, []).append(r)

        order_rows, plans = [], []
        for (sid, d, received), cid in zip(todo, customer_ids):
            pids = [self.products[(sid, ln.sku)] for ln in d.lines]
            mine = sorted((r for pid in dict.fromkeys(pids) for r in by_product.get(pid, ()) if free[r.id] > 0),
                          key=lambda r: r.id)
            plan = sourcing.choose([sourcing.Line(pid, ln.sku, ln.quantity) for pid, ln in zip(pids, d.lines)],
                                   self._stock(mine, free), d.delivery.lat, d.delivery.lon)
            takes = _takes(plan, mine, free, d, pids)  # also takes the units out of `free`
            status = Status.ALLOCATED if plan.complete else Status.BACKORDERED
            cal = self._calendar_warehouse(plan, d.delivery.lat, d.delivery.lon)
            plans.append((sid, d, pids, plan, takes, status))
            order_rows.append({
                "seller_id": sid, "channel": d.channel, "external_id": d.external_id, "idempotency_key": None,
                "customer_id": cid, "status": status.value, "delivery_type": d.delivery.type,
                "address": d.delivery.address, "city": d.delivery.city, "lat": d.delivery.lat, "lon": d.delivery.lon,
                "total": sum((ln.quantity * ln.unit_price for ln in d.lines), Decimal(0)).quantize(CENT),
                "warehouses": ",".join(plan.warehouses), "sourcing_reason": plan.reason,
                "ship_by": ship_by(received, cal.calendar) if cal is not None else None,
                "received_at": received, "updated_at": now})
        order_ids = self.writer.insert(t.orders, order_rows, ids=True)

        line_rows = []
        for oid, (sid, d, pids, plan, takes, status) in zip(order_ids, plans):
            line_rows.extend({"order_id": oid, "product_id": pid, "sku": ln.sku, "quantity": ln.quantity,
                              "unit_price": ln.unit_price, "backordered": short}
                             for pid, ln, short in zip(pids, d.lines, _shortfalls(plan, pids, d)))
        line_ids = self.writer.insert(t.order_lines, line_rows, ids=True)

        reservations, events, outbox, per_stock = [], [], [], {}
        k = 0
        actor = self.principal.email
        for oid, (sid, d, pids, plan, takes, status) in zip(order_ids, plans):
            ids = line_ids[k:k + len(d.lines)]
            k += len(d.lines)
            for li, stock_id, wid, qty in takes:
                reservations.append({"order_id": oid, "order_line_id": ids[li], "stock_id": stock_id,
                                     "warehouse_id": wid, "quantity": qty, "created_at": now})
                per_stock[stock_id] = per_stock.get(stock_id, 0) + qty
            for frm, to, who, reason in ((None, Status.NEW.value, actor, f"received via {d.channel}"),
                                         (Status.NEW.value, status.value, "sourcing", plan.reason)):
                events.append({"order_id": oid, "from_status": frm, "to_status": to, "actor": who,
                               "reason": reason[:500], "created_at": now})
                outbox.append(_outbox("order.status_changed", oid, sid, now,
                                      {"order_id": oid, "from": frm, "to": to, "reason": reason[:500]}))
            outbox.append(_outbox("order.created", oid, sid, now, {"order_id": oid}))
            if status is Status.ALLOCATED:
                result.allocated += 1
            else:
                result.backordered += 1
        self.writer.insert(t.reservations, reservations)
        self.writer.insert(t.order_events, events)
        self.writer.insert(t.outbox, outbox)
        if per_stock:
            uow.execute(update(t.stock).where(t.stock.c.id == bindparam("sid"))
                        .values(reserved=t.stock.c.reserved + bindparam("n")),
                        [{"sid": sid, "n": n} for sid, n in sorted(per_stock.items())])
        result.created += len(order_ids)
        result.order_ids.extend(order_ids)

    def _stock(self, rows, free) -> list[sourcing.WarehouseStock]:
        result: dict[int, sourcing.WarehouseStock] = {}
        for r in rows:
            ws = result.get(r.warehouse_id)
            if ws is None:
                w = self.wh_by_id[r.warehouse_id]
                ws = result[r.warehouse_id] = sourcing.WarehouseStock(w.id, w.code, w.lat, w.lon, {})
            ws.available[r.product_id] = ws.available.get(r.product_id, 0) + free[r.id]
        return list(result.values())

    def _calendar_warehouse(self, plan, lat, lon) -> _Warehouse | None:
        if not self.warehouses:
            return None
        for w in self.warehouses:
            if w.code in plan.warehouses:
                return w
        return min(self.warehouses, key=lambda w: (sourcing.distance_km(w.lat, w.lon, lat, lon) or 0.0, w.id))


_COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPE)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dict, list)):
        return json.dumps(value).translate(_COPY_ESCAPE)
    return str(value)  # int, float (repr: exact), Decimal


class RowWriter:
    """Bulk inserts inside the caller's transaction: COPY on PostgreSQL, executemany elsewhere."""

    def __init__(self, uow: UnitOfWork):
        self.uow = uow
        self.pg = uow.is_postgres
        self._sequences: dict[str, str] = {}

    def insert(self, table: Table, rows: list[dict], ids: bool = False) -> list[int]:
        """Insert rows (all with the same keys, in the same order); with ids=True return the new ids in row order."""
        if not rows:
            return []
        if not self.pg:
            if ids:
                return self.uow.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                        rows).scalars().all()
            self.uow.execute(insert(table), rows)
            return []
        new_ids: list[int] = []
        if ids:
            new_ids = self.uow.execute(text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)"),
                                       {"seq": self._sequence(table), "n": len(rows)}).scalars().all()
            new_ids.sort()
        columns = (["id"] if ids else []) + list(rows[0])
        cursor = self.uow.conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for start in range(0, len(rows), 500):  # the server parses a chunk while the next one is built
                part = rows[start:start + 500]
                if ids:
                    copy.write("".join("\t".join(map(_copy_text, (i, *r.values()))) + "\n"
                                       for i, r in zip(new_ids[start:start + 500], part)))
                else:
                    copy.write("".join("\t".join(map(_copy_text, r.values())) + "\n" for r in part))
        return new_ids

    def _sequence(self, table: Table) -> str:
        if table.name not in self._sequences:
            self._sequences[table.name] = self.uow.execute(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar_one()
        return self._sequences[table.name]


def _outbox(topic: str, oid: int, sid: int, now: datetime, payload: dict) -> dict:
    return {"topic": topic, "aggregate_id": oid, "seller_id": sid, "payload": payload, "status": "pending",
            "attempts": 0, "next_attempt_at": now, "created_at": now}


def _shortfalls(plan, pids: list[int], d: OrderIn) -> list[int]:
    """The shortfall of a product goes to its last lines (as intake._insert_lines)."""
    missing = dict(plan.backorder)
    out = [0] * len(pids)
    for i in range(len(pids) - 1, -1, -1):
        short = min(missing.get(pids[i], 0), d.lines[i].quantity)
        out[i] = short
        if short:
            missing[pids[i]] -= short
    return out


def _takes(plan, rows, free: dict, d: OrderIn, pids: list[int]) -> list[tuple[int, int, int, int]]:
    """Spread the plan's (warehouse, product, qty) over stock rows and order lines, as intake._takes;
    returns (line index, stock id, warehouse id, qty) and decrements `free`."""
    need = [[pid, ln.quantity] for pid, ln in zip(pids, d.lines)]
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
