"""Importing orders from a CSV or XLSX file: one row per order line. Validation,
report and all-or-nothing: platform/imports.py. Rows with the same (seller,
channel, external_id) form one order; the order columns may be repeated on every
row or left empty after the first one, but they may not contradict each other.

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
The new orders are written by the bulk writer (orders/services/bulk_intake.py).
Sample: ``qoima/data/samples/orders.csv``.

The file is read as a stream; what is kept of it until the end is per order the
order columns and per line its (sku, quantity, unit_price) text, shared between
the lines that repeat it, so that a dry run of a large file stays in bounded
memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Callable

from pydantic import ValidationError as PydanticError
from sqlalchemy import Engine, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from qoima.catalog.services.product_import import product_ids
from qoima.customers.schemas import CustomerIn
from qoima.db import tables as t
from qoima.orders.schemas import LineIn, OrderIn
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict
from qoima.catalog.services.import_sellers import Sellers
from qoima.platform.imports import (CHUNK, Columns, ImportOptions, Progress, Report, Rows, Upload, chunks,
                                    open_rows, put, pyd_errors)
from qoima.platform.unit_of_work import UnitOfWork

ORDER_HEADER = ("seller", "channel", "external_id", "customer_name", "customer_phone", "customer_email",
                "customer_language", "preferred_channel", "delivery_type", "address", "city", "lat", "lon",
                "received_at")
ORDER_LINE = ("sku", "quantity", "unit_price")
ORDER_COLUMNS = ORDER_HEADER + ORDER_LINE
COLUMNS = Columns(ORDER_COLUMNS, ("external_id", "sku", "quantity", "unit_price"))

# Pydantic location of an OrderIn field -> the file's column
_ORDER_FIELDS = {("customer", "name"): "customer_name", ("customer", "phone"): "customer_phone",
                 ("customer", "email"): "customer_email", ("customer", "language"): "customer_language",
                 ("customer", "preferred_channel"): "preferred_channel", ("delivery", "type"): "delivery_type",
                 ("delivery", "address"): "address", ("delivery", "city"): "city", ("delivery", "lat"): "lat",
                 ("delivery", "lon"): "lon"}


@dataclass(slots=True)
class _OrderRows:
    key: tuple  # (seller id, channel, external_id)
    code: str  # the seller's code
    lines: list[int]
    rows: list[tuple[str, str, str]]  # (sku, quantity, unit_price) of each line
    head: tuple  # the order columns (_HEAD) as given over the order's rows ("": not given)
    late: dict | None = None  # column -> line, for a value first given after the order's first line
    index: dict | None = None  # (sku, quantity, unit_price) -> line, once the order has many lines

    @property
    def header(self) -> dict:
        h = {col: value for col, value in zip(_HEAD, self.head) if value != ""}
        h["seller"], h["channel"] = self.code, self.key[1]
        return h

    def line_of(self, column: str) -> int:
        """The line where the order's value of this column was given."""
        return (self.late or {}).get(column, self.lines[0])

    def merge(self, line: int, head: tuple, report: Report) -> None:
        """The order columns of a further row: an empty one says nothing, a new value is taken, a different
        one contradicts."""
        merged = list(self.head)
        for i, (column, value) in enumerate(zip(_HEAD, head)):
            if value == "" or value == merged[i]:
                continue
            if merged[i] == "":
                merged[i] = value
                self.late = self.late or {}
                self.late[column] = line
            else:
                report.error(line, column, "'%(value)s' contradicts '%(other)s' on line %(other_line)s "
                                           "of the same order", code="import.contradiction", value=value,
                             other=merged[i], other_line=self.line_of(column))
        self.head = tuple(merged)

    def duplicate_of(self, item: tuple) -> int | None:
        """The line that already holds this (sku, quantity, unit_price), if any."""
        if self.index is not None:
            return self.index.get(item)
        for line, other in zip(self.lines, self.rows):
            if other == item:
                return line
        if len(self.rows) >= 8:
            self.index = {}
            for line, other in zip(self.lines, self.rows):
                self.index.setdefault(other, line)
        return None

    def add(self, line: int, item: tuple) -> None:
        self.lines.append(line)
        self.rows.append(item)
        if self.index is not None:
            self.index.setdefault(item, line)


@dataclass
class _Grouped:
    """The file's rows grouped into orders, with the bulk look-ups of the database."""
    groups: list[_OrderRows]
    pids: dict  # (seller_id, sku) -> product id
    existing: set  # keys of the orders that are already there
    total_rows: int


def validate_orders(uow: UnitOfWork, principal: Principal, rows: Rows, report: Report,
                    progress: Progress | None = None) -> list[OrderIn]:
    """Returns the new orders (file order); fills the report with errors and counts."""
    grouped = _group_orders(uow, principal, rows, report, progress)
    return [order for batch in _validated_chunks(grouped, report, progress, CHUNK) for order in batch]


_KEY = ("seller", "channel", "external_id")
_HEAD = ORDER_HEADER[3:]
CACHE_MAX = 20_000  # distinct values kept by a validation cache before it starts afresh


def _getter(columns, wanted: tuple[str, ...]) -> Callable[[dict], tuple]:
    """row -> the values of `wanted` ("" for a missing column), as a tuple."""
    if all(c in columns for c in wanted):  # every row of a table has every column of the file
        get = itemgetter(*wanted)
        return get if len(wanted) > 1 else lambda row: (get(row),)
    return lambda row: tuple(row.get(c, "") for c in wanted)


def _group_orders(uow: UnitOfWork, principal: Principal, rows: Rows, report: Report,
                  progress: Progress | None = None) -> _Grouped:
    """Rows -> orders (checking duplicates, sellers and contradicting order columns), plus the bulk
    look-ups: product ids and the orders that already exist. Sets the counts."""
    sellers = Sellers(uow, principal)
    groups: dict[tuple, _OrderRows] = {}
    key_of, line_of, head_of = (_getter(rows.columns, _KEY), _getter(rows.columns, ORDER_LINE),
                                _getter(rows.columns, _HEAD))
    resolved: dict[str, tuple] = {}
    shared: dict[tuple, tuple] = {}  # one (sku, quantity, unit_price) tuple for all the lines that repeat it
    for i, (line, row) in enumerate(rows):
        if "__extra__" in row:
            report.error(line, "row", "%(extra)s value(s) more than there are columns", code="import.extra_values",
                         extra=row.pop("__extra__"))
        seller, channel, external_id = key_of(row)
        item = line_of(row)
        item = shared.setdefault(item, item) if len(shared) < CACHE_MAX else item
        if seller not in resolved:
            resolved[seller] = sellers.resolve(seller)
        sid, code, problem = resolved[seller]
        if problem:
            report.error(line, "seller", problem)
            continue
        channel = channel or "csv"
        channel = shared.setdefault(channel, channel)  # one string per channel, not one per order
        key = (sid, channel, external_id)
        g = groups.get(key)
        if g is None:
            groups[key] = _OrderRows(key, code, [line], [item], head_of(row))
        elif (first := g.duplicate_of(item)) is not None:
            report.error(line, "row", "duplicate of line %(other)s (same order, SKU, quantity and "
                                      "price); give the total quantity on one row", code="import.duplicate_line",
                         other=first)
        else:
            g.add(line, item)
            head = head_of(row)
            if head != g.head:  # the same values as the order's other rows: nothing to check
                g.merge(line, head, report)
        if progress and i % 5000 == 0:
            progress("reading", *rows.progress())
    if progress:
        progress("reading", *rows.progress())
    total = report.rows
    pids = product_ids(uow, {(g.key[0], item[0]) for g in groups.values() for item in g.rows})
    existing = _existing_orders(uow, list(groups))
    report.counts = {"orders": len(groups), "lines": sum(len(g.rows) for g in groups.values()),
                     "new": len(groups) - len(existing), "existing": len(existing)}
    return _Grouped(list(groups.values()), pids, existing, total)


def _validated_chunks(grouped: _Grouped, report: Report, progress: Progress | None, size: int):
    """Validate order by order (file order); yields the valid new orders chunk by chunk."""
    groups, pids, existing, total_rows = grouped.groups, grouped.pids, grouped.existing, grouped.total_rows
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
        if len(cache) >= CACHE_MAX:
            cache.clear()
        customer: dict = {}
        for col, name in _CUSTOMER_COLUMNS:
            put(customer, name, h.get(col, ""))
        try:
            found = cache[key] = CustomerIn.model_validate(customer)
        except PydanticError:
            found = cache[key] = customer
    return found


def _line(key: tuple[str, str, str], cache: dict):
    """One order line, validated once per distinct (sku, quantity, unit_price) text: a file repeats
    the same few hundred SKUs, quantities and prices over and over. Returns the validated LineIn
    (shared by the orders with that line; nothing modifies them) or, when invalid, the raw dict,
    so that OrderIn validation reports the error at the line's index."""
    found = cache.get(key)
    if found is None:
        if len(cache) >= CACHE_MAX:
            cache.clear()
        ln: dict = {}
        put(ln, "sku", key[0])
        put(ln, "quantity", key[1], as_number=True)
        put(ln, "unit_price", key[2], as_number=True)
        try:
            found = cache[key] = LineIn.model_validate(ln, strict=False)  # cells are text
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
    put(delivery, "type", h.get("delivery_type", ""))
    put(delivery, "address", h.get("address", ""))
    put(delivery, "city", h.get("city", ""))
    put(delivery, "lat", h.get("lat", ""), as_number=True)
    put(delivery, "lon", h.get("lon", ""), as_number=True)
    cache = {} if lines_cache is None else lines_cache
    lines = [_line(item, cache) for item in g.rows]
    payload = {"seller": g.code, "channel": g.key[1], "customer": customer, "delivery": delivery,
               "lines": lines}
    put(payload, "external_id", g.key[2])
    put(payload, "received_at", h.get("received_at", ""))
    ok = True
    sid = g.key[0]
    for i, item in enumerate(g.rows):
        sku = item[0]
        if sku and (sid, sku) not in pids:
            report.error(g.lines[i], "sku", "unknown SKU '%(sku)s' for seller '%(seller)s'", code="import.unknown_sku",
                         sku=sku, seller=h["seller"])
            ok = False
    try:
        order = OrderIn.model_validate(payload, strict=False)
    except PydanticError as exc:
        for loc, msg in pyd_errors(exc):
            if loc and loc[0] == "lines" and len(loc) >= 3 and isinstance(loc[1], int):
                report.error(g.lines[loc[1]], str(loc[2]), msg)
            elif loc and loc[0] == "lines":
                report.error(g.lines[0], "sku", "order %(order)s: %(why)s", code="import.order_invalid", order=g.key[2],
                             why=msg)
            else:
                column = _ORDER_FIELDS.get(loc[:2], loc[0] if loc else "row")
                line = g.line_of(column)
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
        for part in chunks(sorted(set(exts)), size):
            for ext in uow.execute(select(t.orders.c.external_id).where(
                    t.orders.c.seller_id == sid, t.orders.c.channel == channel,
                    _in(uow, t.orders.c.external_id, part))).scalars():
                found.add((sid, channel, ext))
    return found


def import_orders(engine: Engine, principal: Principal, upload: Upload,
                  options: ImportOptions | None = None) -> Report:
    """Validate the file; unless dry_run, write the new orders in one transaction. While orders are being
    validated, the ones already validated are written by a second thread (the database works while Python
    validates); at the first bad row the writing stops, and the transaction is rolled back in the end.
    For a large file run it inside `platform.imports.bulk_interpreter()` where the process is the import's
    own (the CLI, the worker)."""
    options = options or ImportOptions()
    progress = options.progress
    report = Report("orders", options.dry_run)
    with open_rows(upload, report, COLUMNS, options.limits) as rows:
        if rows is None:
            return report
        with UnitOfWork(engine) as uow:
            grouped = _group_orders(uow, principal, rows, report, progress)
    batches = _validated_chunks(grouped, report, progress, options.batch_size)
    if options.dry_run or not report.valid:
        for _ in batches:  # validate everything for the report
            pass
        return report
    writer = _Writer(engine, principal, report.counts["new"], progress)
    writer.start()
    try:
        for batch in batches:
            if report.valid and batch:
                writer.put(batch)
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
                               "run the import again", field="file", code="import.order_race") from None
            if unique and "customer_contacts" in str(getattr(self.error, "orig", self.error)):
                raise Conflict("a buyer of the file was created by an order that arrived meanwhile; nothing was "
                               "imported, run the import again (it will reuse that customer)", field="file",
                               code="import.customer_race") from None
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
