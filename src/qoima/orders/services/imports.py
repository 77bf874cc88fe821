"""Importing orders, products and stock counts from CSV or XLSX files.

Every file is validated as a whole first. The report lists every bad row with
its line number in the file (the header is line 1), the column and the reason;
field rules are the API's own (``services/schemas.py``), so a broken phone reads
the same here as in ``POST /api/v1/orders``. A commit is all-or-nothing: one bad
row and nothing is written.

Orders file: one row per order line. Rows with the same (seller, channel,
external_id) form one order; the order columns may be repeated on every row or
left empty after the first one, but they may not contradict each other.

    column             required  meaning
    seller             staff     seller code (a seller user may leave it empty)
    channel            no        where the order came from (default "csv")
    external_id        yes       the order number in that channel
    customer_name      no
    customer_phone     no        any common notation; stored as E.164 (+77011234567)
    customer_email     no
    customer_language  no        ru, kk, uk, en (default ru)
    preferred_channel  no        sms, email, telegram, whatsapp (default sms)
    delivery_type      no        courier, pickup_point, self_pickup (default courier)
    address, city      no
    lat, lon           no        customer coordinates (decimal degrees)
    received_at        no        ISO date-time, e.g. 2024-05-01T10:30:00+05:00 (default: now)
    sku                yes       the seller's SKU
    quantity           yes       whole number > 0
    unit_price         yes       price of one unit, e.g. 1990.00

An order whose (seller, channel, external_id) already exists is skipped and
counted as existing: importing the same file twice never doubles an order.

Products file: one row per product, created or updated by (seller, sku).

    seller (staff), sku, name (required), category, price, barcodes (EAN-13 /
    GTIN-14, several separated by ";" or "|"), weight_g, length_mm, width_mm,
    height_mm, marking_required (true/false), replenishment_days

Stock file (staff only): one row per SKU and location, the counted quantity.
The difference to what the system holds is booked as an "adjustment" in the
stock ledger with the reason "stock import"; a count below what is reserved for
orders at that location is refused.

    seller, sku, warehouse (code), location (code), quantity

Samples: ``qoima/data/samples/{orders,products,stock}.csv``.
"""

from __future__ import annotations

import gc
import re
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Callable

from pydantic import ValidationError as PydanticError
from sqlalchemy import Engine, any_, bindparam, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY

from qoima.catalog.domain.sellers import seller_problem
from qoima.platform.tabular import FileFormatError, Table, detect_format, read_table
from qoima.db import tables as t
from qoima.platform.errors import Conflict, Forbidden
from qoima.platform.access import Principal
from qoima.customers.schemas import CustomerIn
from qoima.orders.schemas import LineIn, OrderIn
from qoima.catalog.schemas import ProductIn
from qoima.stock.schemas import StockIn
from qoima.platform.unit_of_work import UnitOfWork

Progress = Callable[[str, int, int], None]  # (stage, done, total)
MAX_REPORTED = 1000
CHUNK = 2000

ORDER_HEADER = ("seller", "channel", "external_id", "customer_name", "customer_phone", "customer_email",
                "customer_language", "preferred_channel", "delivery_type", "address", "city", "lat", "lon",
                "received_at")
ORDER_LINE = ("sku", "quantity", "unit_price")
ORDER_COLUMNS = ORDER_HEADER + ORDER_LINE
PRODUCT_COLUMNS = ("seller", "sku", "name", "category", "price", "barcodes", "weight_g", "length_mm", "width_mm",
                   "height_mm", "marking_required", "replenishment_days")
STOCK_COLUMNS = ("seller", "sku", "warehouse", "location", "quantity")
REQUIRED = {"orders": ("external_id", "sku", "quantity", "unit_price"), "products": ("sku", "name"),
            "stock": ("sku", "warehouse", "location", "quantity")}
COLUMNS = {"orders": ORDER_COLUMNS, "products": PRODUCT_COLUMNS, "stock": STOCK_COLUMNS}

# Pydantic location of an OrderIn field -> the file's column
_ORDER_FIELDS = {("customer", "name"): "customer_name", ("customer", "phone"): "customer_phone",
                 ("customer", "email"): "customer_email", ("customer", "language"): "customer_language",
                 ("customer", "preferred_channel"): "preferred_channel", ("delivery", "type"): "delivery_type",
                 ("delivery", "address"): "address", ("delivery", "city"): "city", ("delivery", "lat"): "lat",
                 ("delivery", "lon"): "lon"}
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


@dataclass
class Report:
    kind: str
    dry_run: bool
    rows: int = 0
    errors: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    committed: bool = False

    @property
    def valid(self) -> bool:
        return not self.errors

    def error(self, line: int, column: str, message: str) -> None:
        self.errors.append({"line": line, "field": column, "message": message})

    def as_dict(self) -> dict:
        errors = sorted(self.errors, key=lambda e: e["line"])
        return {"kind": self.kind, "dry_run": self.dry_run, "valid": self.valid, "committed": self.committed,
                "rows": self.rows, "counts": self.counts, "error_count": len(errors),
                "errors": errors[:MAX_REPORTED], "warnings": self.warnings}

    def raise_if_invalid(self) -> None:
        if self.errors:
            from qoima.platform.errors import RowErrors
            errors = sorted(self.errors, key=lambda e: e["line"])
            exc = RowErrors(errors[:MAX_REPORTED])
            exc.extra.update(error_count=len(errors), counts=self.counts, kind=self.kind)
            if len(errors) > MAX_REPORTED:
                exc.message = f"{len(errors)} invalid row(s); the first {MAX_REPORTED} are listed"
            raise exc


def load_table(data: bytes, filename: str | None, content_type: str | None, report: Report) -> Table | None:
    try:
        table = read_table(data, detect_format(filename, content_type, data[:4]))
    except FileFormatError as exc:
        report.error(1, "file", str(exc))
        return None
    known = COLUMNS[report.kind]
    for col in REQUIRED[report.kind]:
        if col not in table.columns:
            report.error(1, col, f"missing column '{col}' (columns: {', '.join(known)})")
    unknown = [c for c in table.columns if c and c not in known]
    if unknown:
        report.warnings.append(f"ignored unknown column(s): {', '.join(unknown)}")
    report.rows = len(table.rows)
    return None if report.errors else table


def _pyd_errors(exc: PydanticError):
    for e in exc.errors():
        yield tuple(e.get("loc", ())), e.get("msg", "invalid").removeprefix("Value error, ")


def _number(value: str) -> str:
    return value.replace(",", ".") if _DECIMAL_COMMA.match(value) else value


def _put(target: dict, key: str, value: str, number: bool = False) -> None:
    if value != "":
        target[key] = _number(value) if number else value


class _Sellers:
    """Seller codes -> ids, with the principal's right to act for them."""

    def __init__(self, uow: UnitOfWork, principal: Principal):
        self.principal = principal
        self.by_code = {r.code: r.id for r in uow.execute(select(t.sellers.c.code, t.sellers.c.id))}
        self.code_of = {v: k for k, v in self.by_code.items()}

    def resolve(self, code: str) -> tuple[int | None, str | None, str | None]:
        """(seller_id, code, error message)."""
        sid = self.by_code.get(code) if code else self.principal.seller_id
        problem = seller_problem(code, sid, sid is not None and self.principal.can_see(sid))
        if problem is not None:
            return None, None, problem.message
        return sid, code or self.code_of.get(sid), None


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _product_ids(uow: UnitOfWork, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    found: dict[tuple[int, str], int] = {}
    by_seller: dict[int, list[str]] = {}
    for sid, sku in pairs:
        by_seller.setdefault(sid, []).append(sku)
    for sid, skus in by_seller.items():
        for part in _chunks(sorted(skus)):
            for r in uow.execute(select(t.products.c.id, t.products.c.sku)
                                 .where(t.products.c.seller_id == sid, t.products.c.sku.in_(part))):
                found[(sid, r.sku)] = r.id
    return found


# ---------------------------------------------------------------- orders

@dataclass
class _OrderRows:
    key: tuple
    lines: list[int]
    rows: list[dict]
    header: dict
    header_line: dict  # column -> line where its value was first given
    last_head: tuple = ()  # the order columns of the last row (a repeated row needs no checks)


def validate_orders(uow: UnitOfWork, principal: Principal, table: Table, report: Report,
                    progress: Progress | None = None) -> list[OrderIn]:
    """Returns the new orders (file order); fills the report with errors and counts."""
    groups, pids, existing = _group_orders(uow, principal, table, report, progress)
    chunks = _validated_chunks(list(groups.values()), pids, existing, report, progress, len(table.rows), CHUNK)
    return [order for chunk in chunks for order in chunk]


_SIGNATURE = ("seller", "channel", "external_id") + ORDER_LINE
_HEAD = ORDER_HEADER[3:]


def _getter(columns, wanted: tuple[str, ...]) -> Callable[[dict], tuple]:
    """row -> the values of `wanted` ("" for a missing column), as a tuple."""
    if all(c in columns for c in wanted):  # every row of a table has every column of the file
        get = itemgetter(*wanted)
        return get if len(wanted) > 1 else lambda row: (get(row),)
    return lambda row: tuple(row.get(c, "") for c in wanted)


def _group_orders(uow: UnitOfWork, principal: Principal, table: Table, report: Report,
                  progress: Progress | None = None):
    """Rows -> orders (checking duplicates, sellers and contradicting order columns), plus the bulk
    look-ups: product ids and the orders that already exist. Sets the counts."""
    sellers = _Sellers(uow, principal)
    groups: dict[tuple, _OrderRows] = {}
    seen_rows: dict[tuple, int] = {}
    total = len(table.rows)
    signature_of, head_of = _getter(table.columns, _SIGNATURE), _getter(table.columns, _HEAD)
    resolved: dict[str, tuple] = {}
    for i, (line, row) in enumerate(table.rows):
        if "__extra__" in row:
            report.error(line, "row", f"{row.pop('__extra__')} value(s) more than there are columns")
        signature = signature_of(row)
        if signature in seen_rows:
            report.error(line, "row", f"duplicate of line {seen_rows[signature]} (same order, SKU, quantity and "
                                      "price); give the total quantity on one row")
            continue
        seen_rows[signature] = line
        seller = signature[0]
        if seller not in resolved:
            resolved[seller] = sellers.resolve(seller)
        sid, code, problem = resolved[seller]
        if problem:
            report.error(line, "seller", problem)
            continue
        channel = signature[1] or "csv"
        key = (sid, channel, signature[2])
        g = groups.get(key)
        if g is None:
            g = groups[key] = _OrderRows(key, [], [], {"seller": code, "channel": channel}, {})
        g.lines.append(line)
        g.rows.append(row)
        head = head_of(row)
        if head != g.last_head:  # the same values as the order's previous (consistent) row: nothing to check
            consistent = True
            for col, value in zip(_HEAD, head):
                if value == "":
                    continue
                if col not in g.header:
                    g.header[col], g.header_line[col] = value, line
                elif g.header[col] != value:
                    consistent = False
                    report.error(line, col, f"'{value}' contradicts '{g.header[col]}' on line {g.header_line[col]} "
                                            "of the same order")
            g.last_head = head if consistent else ()
        if progress and i % 5000 == 0:
            progress("validating", i, total)
    pids = _product_ids(uow, {(g.key[0], r.get("sku", "")) for g in groups.values() for r in g.rows})
    existing = _existing_orders(uow, list(groups))
    report.counts = {"orders": len(groups), "lines": sum(len(g.rows) for g in groups.values()),
                     "new": len(groups) - len(existing), "existing": len(existing)}
    return groups, pids, existing


def _validated_chunks(groups: list, pids: dict, existing: set, report: Report, progress: Progress | None,
                      total_rows: int, size: int):
    """Validate order by order (file order); yields the valid new orders chunk by chunk."""
    customers: dict = {}
    lines: dict = {}
    chunk: list[OrderIn] = []
    for k, g in enumerate(groups):
        order = _validate_order(g, pids, report, customers, lines)
        if order is not None and g.key not in existing:
            chunk.append(order)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if progress and k % 2000 == 0:
            progress("validating", total_rows * k // max(len(groups), 1), total_rows)
    if progress:
        progress("validating", total_rows, total_rows)
    yield chunk


_CUSTOMER_COLUMNS = (("customer_name", "name"), ("customer_phone", "phone"), ("customer_email", "email"),
                     ("customer_language", "language"), ("preferred_channel", "preferred_channel"))


def _customer(h: dict, cache: dict):
    """The customer part of an order, validated once per distinct set of values (repeat buyers
    are common in a file). Returns the validated CustomerIn, or the raw dict when it is invalid
    (OrderIn validation then reports the error in its place)."""
    key = tuple(h.get(col, "") for col, _ in _CUSTOMER_COLUMNS)
    found = cache.get(key)
    if found is None:
        customer: dict = {}
        for col, name in _CUSTOMER_COLUMNS:
            _put(customer, name, h.get(col, ""))
        try:
            found = cache[key] = CustomerIn.model_validate(customer)
        except PydanticError:
            found = cache[key] = customer
    return found


def _line(row: dict, cache: dict):
    """One order line, validated once per distinct (sku, quantity, unit_price) text: a file repeats
    the same few hundred SKUs, quantities and prices over and over. Returns the validated LineIn
    (shared by the orders with that line; nothing modifies them) or, when invalid, the raw dict,
    so that OrderIn validation reports the error at the line's index."""
    key = (row.get("sku", ""), row.get("quantity", ""), row.get("unit_price", ""))
    found = cache.get(key)
    if found is None:
        ln: dict = {}
        _put(ln, "sku", key[0])
        _put(ln, "quantity", key[1], number=True)
        _put(ln, "unit_price", key[2], number=True)
        try:
            found = cache[key] = LineIn.model_validate(ln)
        except PydanticError:
            found = cache[key] = ln
    return found


def _validate_order(g: _OrderRows, pids: dict, report: Report, customers: dict | None = None,
                    lines_cache: dict | None = None) -> OrderIn | None:
    """OrderIn.model_validate of the order's rows; parts already validated (customer, lines) are
    passed as model instances, which Pydantic takes as they are (no re-validation)."""
    h = g.header
    customer = _customer(h, {} if customers is None else customers)
    delivery: dict = {}
    _put(delivery, "type", h.get("delivery_type", ""))
    _put(delivery, "address", h.get("address", ""))
    _put(delivery, "city", h.get("city", ""))
    _put(delivery, "lat", h.get("lat", ""), number=True)
    _put(delivery, "lon", h.get("lon", ""), number=True)
    cache = {} if lines_cache is None else lines_cache
    lines = [_line(row, cache) for row in g.rows]
    payload = {"seller": h["seller"], "channel": h["channel"], "customer": customer, "delivery": delivery,
               "lines": lines}
    _put(payload, "external_id", g.key[2])
    _put(payload, "received_at", h.get("received_at", ""))
    ok = True
    sid = g.key[0]
    for i, row in enumerate(g.rows):
        sku = row.get("sku", "")
        if sku and (sid, sku) not in pids:
            report.error(g.lines[i], "sku", f"unknown SKU '{sku}' for seller '{h['seller']}'")
            ok = False
    try:
        order = OrderIn.model_validate(payload)
    except PydanticError as exc:
        for loc, msg in _pyd_errors(exc):
            if loc and loc[0] == "lines" and len(loc) >= 3 and isinstance(loc[1], int):
                report.error(g.lines[loc[1]], str(loc[2]), msg)
            elif loc and loc[0] == "lines":
                report.error(g.lines[0], "sku", f"order {g.key[2]}: {msg}")
            else:
                column = _ORDER_FIELDS.get(loc[:2], loc[0] if loc else "row")
                line = g.header_line.get(column, g.lines[0])
                report.error(line, str(column), msg)
        return None
    return order if ok else None


def _in(uow: UnitOfWork, column, values: list):
    """column IN values: on PostgreSQL as `= ANY(array)`, one parameter however many values
    (a statement with thousands of placeholders costs milliseconds to render and parse)."""
    if uow.is_postgres:
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def _existing_orders(uow: UnitOfWork, keys: list[tuple]) -> set[tuple]:
    found: set[tuple] = set()
    by_channel: dict[tuple[int, str], list[str]] = {}
    for sid, channel, ext in keys:
        by_channel.setdefault((sid, channel), []).append(ext)
    size = 20_000 if uow.is_postgres else CHUNK
    for (sid, channel), exts in by_channel.items():  # uses the unique index (seller, channel, external_id)
        for part in _chunks(sorted(set(exts)), size):
            for ext in uow.execute(select(t.orders.c.external_id).where(
                    t.orders.c.seller_id == sid, t.orders.c.channel == channel,
                    _in(uow, t.orders.c.external_id, part))).scalars():
                found.add((sid, channel, ext))
    return found


def import_orders(engine: Engine, principal: Principal, data: bytes, filename: str | None = None,
                  content_type: str | None = None, dry_run: bool = False, progress: Progress | None = None,
                  batch_size: int = 2000) -> Report:
    """Validate the file; unless dry_run, write the new orders in one transaction. While orders are being
    validated, the ones already validated are written by a second thread (the database works while Python
    validates); at the first bad row the writing stops, and the transaction is rolled back in the end."""
    with bulk_interpreter():
        return _import_orders(engine, principal, data, filename, content_type, dry_run, progress, batch_size)


SWITCH_INTERVAL = 0.001  # seconds a thread may hold the interpreter while another one waits for it
_bulk_lock = threading.Lock()
_bulk_imports = 0  # imports running in this process
_saved: tuple[bool, float] = (True, 0.005)


@contextmanager
def bulk_interpreter():
    """Interpreter settings for a large import, process-wide while it runs (counted for concurrent
    imports), then restored to what they were:

    - no cyclic garbage collection: the import keeps a million container objects alive (rows,
      validated orders, rows to write) and makes no reference cycles, yet every full collection
      walked them all (a third of the Python time of a 100,000-order import); reference counting
      still frees everything acyclic, in other threads too;
    - a shorter switch interval (1 ms instead of 5): the thread that feeds the database needs the
      interpreter for a moment after every network wait, while two others are busy with Python;
      the database sat idle a quarter of the time waiting for it."""
    global _bulk_imports, _saved
    with _bulk_lock:
        if _bulk_imports == 0:
            _saved = (gc.isenabled(), sys.getswitchinterval())
            gc.disable()
            sys.setswitchinterval(min(_saved[1], SWITCH_INTERVAL))
        _bulk_imports += 1
    try:
        yield
    finally:
        with _bulk_lock:
            _bulk_imports -= 1
            if _bulk_imports == 0:
                if _saved[0]:
                    gc.enable()
                sys.setswitchinterval(_saved[1])


def _import_orders(engine: Engine, principal: Principal, data: bytes, filename: str | None,
                   content_type: str | None, dry_run: bool, progress: Progress | None, batch_size: int) -> Report:
    report = Report("orders", dry_run)
    table = load_table(data, filename, content_type, report)
    if table is None:
        return report
    with UnitOfWork(engine) as uow:
        groups, pids, existing = _group_orders(uow, principal, table, report, progress)
    chunks = _validated_chunks(list(groups.values()), pids, existing, report, progress, len(table.rows),
                               batch_size)
    if dry_run or not report.valid:
        for _ in chunks:  # validate everything for the report
            pass
        return report
    writer = _Writer(engine, principal, report.counts["new"], progress)
    writer.start()
    try:
        for chunk in chunks:
            if report.valid and chunk:
                writer.put(chunk)
    finally:
        result = writer.finish(commit=report.valid)
    if not report.valid:
        return report
    report.committed = True
    report.counts.update(allocated=result.allocated, backordered=result.backordered)
    return report


class _Writer:
    """Bulk intake of validated chunks in a thread of its own, in one transaction."""

    def __init__(self, engine: Engine, principal: Principal, expected: int, progress: Progress | None):
        import queue
        import threading
        self.engine, self.principal, self.expected, self.progress = engine, principal, expected, progress
        self.queue: queue.Queue = queue.Queue(maxsize=3)
        self.thread = threading.Thread(target=self._run, name="qoima-import-writer", daemon=True)
        self.error: BaseException | None = None
        self.result = None
        self.commit = False

    def start(self) -> None:
        self.thread.start()

    def put(self, chunk: list[OrderIn]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(chunk)

    def finish(self, commit: bool):
        self.commit = commit
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            # a unique violation from SQLAlchemy (wrapping the driver's error) or from COPY (psycopg's own)
            from sqlalchemy.exc import IntegrityError
            unique = isinstance(self.error, IntegrityError) or getattr(self.error, "sqlstate", None) == "23505"
            if unique and "uq_orders" in str(getattr(self.error, "orig", self.error)):
                raise Conflict("an order of the file was created by someone else meanwhile; nothing was imported, "
                               "run the import again", field="file") from None
            raise self.error
        return self.result

    def _run(self) -> None:
        from qoima.orders.services.bulk_intake import BulkIntake, BulkResult
        drained = False
        try:
            with UnitOfWork(self.engine) as uow:
                bulk = BulkIntake(uow, self.principal)
                try:
                    result = BulkResult()
                    while (chunk := self.queue.get()) is not None:
                        if self.error is None:
                            bulk.add(chunk, result)
                            if self.progress:
                                self.progress("writing", result.created + result.existing, self.expected)
                    drained = True
                    if self.commit:
                        bulk.finish()  # the last batch's rows are written (or the database's refusal raised)
                        uow.commit()
                finally:
                    bulk.close()
                self.result = result
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.error = exc
            while not drained and self.queue.get() is not None:  # drain so that the producer never blocks
                pass


# ---------------------------------------------------------------- products

def validate_products(uow: UnitOfWork, principal: Principal, table: Table, report: Report,
                      progress: Progress | None = None) -> list[tuple[int, int, ProductIn]]:
    principal.require("admin", "manager", "seller")
    sellers = _Sellers(uow, principal)
    seen: dict[tuple, int] = {}
    barcode_line: dict[tuple[int, str], tuple[int, str]] = {}
    good: list[tuple[int, int, ProductIn]] = []
    total = len(table.rows)
    for i, (line, row) in enumerate(table.rows):
        if progress and i % 2000 == 0:
            progress("validating", i, total)
        sid, code, problem = sellers.resolve(row.get("seller", ""))
        if problem:
            report.error(line, "seller", problem)
            continue
        key = (sid, row.get("sku", ""))
        if key in seen:
            report.error(line, "sku", f"SKU '{key[1]}' is also on line {seen[key]}")
            continue
        seen[key] = line
        payload: dict = {"seller": code}
        for col in ("sku", "name", "category", "weight_g", "length_mm", "width_mm", "height_mm",
                    "marking_required", "replenishment_days"):
            _put(payload, col, row.get(col, ""))
        _put(payload, "price", row.get("price", ""), number=True)
        raw_codes = [c.strip() for c in re.split(r"[;|]", row.get("barcodes", "")) if c.strip()]
        payload["barcodes"] = raw_codes
        try:
            product = ProductIn.model_validate(payload)
        except PydanticError as exc:
            for loc, msg in _pyd_errors(exc):
                report.error(line, str(loc[0]) if loc else "row", msg)
            continue
        clash = False
        for bc in dict.fromkeys(product.barcodes):
            other = barcode_line.get((sid, bc))
            if other is not None and other[1] != product.sku:
                report.error(line, "barcodes", f"barcode {bc} is also given to SKU '{other[1]}' on line {other[0]}")
                clash = True
            barcode_line.setdefault((sid, bc), (line, product.sku))
        if not clash:
            good.append((line, sid, product))
    if progress:
        progress("validating", total, total)
    existing = _product_ids(uow, set(seen))
    in_file = {(sid, p.sku) for _, sid, p in good}
    _barcodes_in_db(uow, good, in_file, report)
    new = sum(1 for key in seen if key not in existing)
    report.counts = {"products": len(seen), "new": new, "updated": len(seen) - new}
    return good


def _barcodes_in_db(uow: UnitOfWork, good, in_file: set, report: Report) -> None:
    """A barcode owned by a product that the file does not re-import is a conflict."""
    codes = sorted({bc for _, _, p in good for bc in p.barcodes})
    owner: dict[tuple[int, str], tuple[int, str]] = {}
    for part in _chunks(codes):
        for r in uow.execute(select(t.barcodes.c.seller_id, t.barcodes.c.code, t.products.c.sku)
                             .join(t.products, t.products.c.id == t.barcodes.c.product_id)
                             .where(t.barcodes.c.code.in_(part))):
            owner[(r.seller_id, r.code)] = (r.seller_id, r.sku)
    for line, sid, p in good:
        for bc in p.barcodes:
            o = owner.get((sid, bc))
            if o is not None and o[1] != p.sku and o not in in_file:
                report.error(line, "barcodes", f"barcode {bc} already belongs to SKU '{o[1]}'")


def import_products(engine: Engine, principal: Principal, data: bytes, filename: str | None = None,
                    content_type: str | None = None, dry_run: bool = False,
                    progress: Progress | None = None) -> Report:
    from qoima.catalog.services import upsert_product
    report = Report("products", dry_run)
    principal.require("admin", "manager", "seller")
    table = load_table(data, filename, content_type, report)
    if table is None:
        return report
    with UnitOfWork(engine) as uow:
        products = validate_products(uow, principal, table, report, progress)
        if dry_run or not report.valid:
            return report
        # Drop the barcodes of every re-imported product first, so that two products may swap barcodes.
        ids = _product_ids(uow, {(sid, p.sku) for _, sid, p in products})
        for part in _chunks(sorted(ids.values())):
            uow.execute(t.barcodes.delete().where(t.barcodes.c.product_id.in_(part)))
        for i, (_, _, product) in enumerate(products):
            upsert_product(uow, principal, product)
            if progress and i % 200 == 0:
                progress("writing", i, len(products))
        if progress:
            progress("writing", len(products), len(products))
        uow.commit()
    report.committed = True
    return report


# ---------------------------------------------------------------- stock

@dataclass
class StockCount:
    line: int
    seller_id: int
    sku: str
    product_id: int
    warehouse_id: int
    location_id: int
    location_code: str
    counted: int
    on_hand: int
    reserved: int

    @property
    def delta(self) -> int:
        return self.counted - self.on_hand


def validate_stock(uow: UnitOfWork, principal: Principal, table: Table, report: Report,
                   progress: Progress | None = None) -> list[StockCount]:
    principal.require("admin", "manager", "worker")
    sellers = _Sellers(uow, principal)
    warehouses = {r.code: r.id for r in uow.execute(select(t.warehouses.c.code, t.warehouses.c.id))}
    locations = {(r.warehouse_id, r.code): r.id for r in uow.execute(
        select(t.locations.c.warehouse_id, t.locations.c.code, t.locations.c.id))}
    parsed: list[tuple[int, int, StockIn, int, int]] = []
    seen: dict[tuple, int] = {}
    total = len(table.rows)
    for i, (line, row) in enumerate(table.rows):
        if progress and i % 2000 == 0:
            progress("validating", i, total)
        sid, code, problem = sellers.resolve(row.get("seller", ""))
        if problem:
            report.error(line, "seller", problem)
            continue
        payload: dict = {"seller": code}
        for col in ("sku", "warehouse", "location", "quantity"):
            _put(payload, col, row.get(col, ""))
        try:
            item = StockIn.model_validate(payload)
        except PydanticError as exc:
            for loc, msg in _pyd_errors(exc):
                report.error(line, str(loc[0]) if loc else "row", msg)
            continue
        wid = warehouses.get(item.warehouse)
        if wid is None:
            report.error(line, "warehouse", f"unknown warehouse '{item.warehouse}'")
            continue
        lid = locations.get((wid, item.location))
        if lid is None:
            report.error(line, "location", f"unknown location '{item.location}' in warehouse {item.warehouse}")
            continue
        key = (sid, item.sku, wid, lid)
        if key in seen:
            report.error(line, "row", f"the same SKU and location is counted on line {seen[key]}")
            continue
        seen[key] = line
        parsed.append((line, sid, item, wid, lid))
    pids = _product_ids(uow, {(sid, item.sku) for _, sid, item, _, _ in parsed})
    counts: list[StockCount] = []
    for line, sid, item, wid, lid in parsed:
        pid = pids.get((sid, item.sku))
        if pid is None:
            report.error(line, "sku", f"unknown SKU '{item.sku}' for seller '{sellers.code_of[sid]}'")
            continue
        counts.append(StockCount(line, sid, item.sku, pid, wid, lid, item.location, item.quantity, 0, 0))
    current = {}
    for part in _chunks(counts):
        pairs = [(c.product_id, c.location_id) for c in part]
        for r in uow.execute(select(t.stock.c.product_id, t.stock.c.location_id, t.stock.c.on_hand,
                                    t.stock.c.reserved)
                             .where(tuple_(t.stock.c.product_id, t.stock.c.location_id).in_(pairs))):
            current[(r.product_id, r.location_id)] = (r.on_hand, r.reserved)
    for c in counts:
        c.on_hand, c.reserved = current.get((c.product_id, c.location_id), (0, 0))
        if c.counted < c.reserved:
            report.error(c.line, "quantity", f"counted {c.counted} but {c.reserved} unit(s) of {c.sku} are "
                                             f"reserved for orders at {c.location_code}; release them first")
    if progress:
        progress("validating", total, total)
    changed = [c for c in counts if c.delta]
    report.counts = {"rows": len(seen), "changed": len(changed), "unchanged": len(counts) - len(changed),
                     "units_added": sum(c.delta for c in changed if c.delta > 0),
                     "units_removed": -sum(c.delta for c in changed if c.delta < 0)}
    return changed


def import_stock(engine: Engine, principal: Principal, data: bytes, filename: str | None = None,
                 content_type: str | None = None, dry_run: bool = False, progress: Progress | None = None) -> Report:
    from qoima.orders.services.backorders import fill_backorders
    from qoima.stock.services.inventory import add_on_hand, remove_on_hand
    report = Report("stock", dry_run)
    if not principal.is_staff:
        raise Forbidden("importing stock counts needs a staff role (admin, manager or worker)")
    table = load_table(data, filename, content_type, report)
    if table is None:
        return report
    with UnitOfWork(engine) as uow:
        changed = validate_stock(uow, principal, table, report, progress)
        if dry_run or not report.valid:
            return report
        _lock_counted(uow, changed)
        for i, c in enumerate(changed):
            common = dict(product_id=c.product_id, location_id=c.location_id, quantity=abs(c.delta),
                          kind="adjustment", actor=principal.email, reason="stock import",
                          reference=f"import:{c.location_code}")
            if c.delta > 0:
                add_on_hand(uow, warehouse_id=c.warehouse_id, **common)
            else:
                remove_on_hand(uow, sku=c.sku, **common)
            if progress and i % 500 == 0:
                progress("writing", i, len(changed))
        filled = fill_backorders(uow, sorted({c.product_id for c in changed if c.delta > 0}), actor=principal.email)
        if progress:
            progress("writing", len(changed), len(changed))
        uow.commit()
    report.committed = True
    report.counts["orders_allocated"] = len(filled)
    return report


def _lock_counted(uow: UnitOfWork, changed: list[StockCount]) -> None:
    """Lock the counted stock rows once, in id order (no deadlock with order intake)."""
    if not uow.is_postgres or not changed:
        return
    pairs = [(c.product_id, c.location_id) for c in changed]
    uow.execute(select(t.stock.c.id).where(tuple_(t.stock.c.product_id, t.stock.c.location_id).in_(pairs))
                .order_by(t.stock.c.id).with_for_update())


IMPORTERS = {"orders": import_orders, "products": import_products, "stock": import_stock}
