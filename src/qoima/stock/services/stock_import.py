"""Importing stock counts from a CSV or XLSX file (staff only): one row per SKU
and location, the counted quantity. The difference to what the system holds is
booked as an "adjustment" in the stock ledger with the reason "stock import"; a
count below what is reserved for orders at that location is refused.
Validation, report and all-or-nothing: platform/imports.py.

    seller, sku, warehouse (code), location (code), quantity

Sample: ``qoima/data/samples/stock.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError as PydanticError
from sqlalchemy import BigInteger, Engine, and_, bindparam, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from qoima.catalog.services.product_import import product_ids
from qoima.db import tables as t
from qoima.platform.access import Principal
from qoima.platform.errors import Forbidden
from qoima.catalog.services.import_sellers import Sellers
from qoima.platform.imports import (Columns, ImportOptions, Progress, Report, Rows, Upload, chunks, open_rows,
                                    put, pyd_errors)
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.schemas import StockIn

STOCK_COLUMNS = ("seller", "sku", "warehouse", "location", "quantity")
COLUMNS = Columns(STOCK_COLUMNS, ("sku", "warehouse", "location", "quantity"))


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


def validate_stock(uow: UnitOfWork, principal: Principal, rows: Rows, report: Report,
                   progress: Progress | None = None) -> list[StockCount]:
    principal.require("admin", "manager", "worker")
    sellers = Sellers(uow, principal)
    warehouses = {r.code: r.id for r in uow.execute(select(t.warehouses.c.code, t.warehouses.c.id))}
    locations = {(r.warehouse_id, r.code): r.id for r in uow.execute(
        select(t.locations.c.warehouse_id, t.locations.c.code, t.locations.c.id))}
    parsed: list[tuple[int, int, StockIn, int, int]] = []
    seen: dict[tuple, int] = {}
    for i, (line, row) in enumerate(rows):
        if progress and i % 2000 == 0:
            progress("reading", *rows.progress())
        sid, code, problem = sellers.resolve(row.get("seller", ""))
        if problem:
            report.error(line, "seller", problem)
            continue
        payload: dict = {"seller": code}
        for col in ("sku", "warehouse", "location", "quantity"):
            put(payload, col, row.get(col, ""))
        try:
            item = StockIn.model_validate(payload, strict=False)  # cells are text
        except PydanticError as exc:
            for loc, msg in pyd_errors(exc):
                report.error(line, str(loc[0]) if loc else "row", msg)
            continue
        wid = warehouses.get(item.warehouse)
        if wid is None:
            report.error(line, "warehouse", "unknown warehouse '%(warehouse)s'", code="stock.unknown_warehouse",
                         warehouse=item.warehouse)
            continue
        lid = locations.get((wid, item.location))
        if lid is None:
            report.error(line, "location", "unknown location '%(location)s' in warehouse %(warehouse)s",
                         code="import.unknown_location", location=item.location, warehouse=item.warehouse)
            continue
        key = (sid, item.sku, wid, lid)
        if key in seen:
            report.error(line, "row", "the same SKU and location is counted on line %(other)s", code="import.counted_twice",
                         other=seen[key])
            continue
        seen[key] = line
        parsed.append((line, sid, item, wid, lid))
    pids = product_ids(uow, {(sid, item.sku) for _, sid, item, _, _ in parsed})
    counts: list[StockCount] = []
    for line, sid, item, wid, lid in parsed:
        pid = pids.get((sid, item.sku))
        if pid is None:
            report.error(line, "sku", "unknown SKU '%(sku)s' for seller '%(seller)s'", code="import.unknown_sku",
                         sku=item.sku, seller=sellers.code_of[sid])
            continue
        counts.append(StockCount(line, sid, item.sku, pid, wid, lid, item.location, item.quantity, 0, 0))
    _read_current(uow, counts)
    _check_reserved(counts, report)
    if progress:
        progress("validating", report.rows, report.rows)  # validated, nothing written yet
    _tally(counts, report)
    report.counts["rows"] = len(seen)
    return counts


def _read_current(uow: UnitOfWork, counts: list[StockCount], lock: bool = False) -> None:
    """Set on_hand and reserved of every count from its stock row (0 when there is none). With `lock`
    (PostgreSQL), the rows are first created where missing and then locked in one statement, ascending
    by id, so that no receipt, pick or reservation changes them before the import commits."""
    if not counts:
        return
    current: dict[tuple[int, int], tuple[int, int]] = {}
    if uow.is_postgres:  # the pairs as arrays: one statement, two parameters, however many rows
        def array(name: str, values: list[int]):
            return bindparam(name, values, type_=ARRAY(BigInteger))
        if lock:
            new = func.unnest(array("pids", [c.product_id for c in counts]),
                              array("lids", [c.location_id for c in counts]),
                              array("wids", [c.warehouse_id for c in counts])
                              ).table_valued("product_id", "location_id", "warehouse_id").render_derived()
            uow.execute(pg_insert(t.stock).from_select(
                ["product_id", "location_id", "warehouse_id", "on_hand", "reserved"],
                select(new.c.product_id, new.c.location_id, new.c.warehouse_id, literal(0), literal(0))
            ).on_conflict_do_nothing())
        pairs = func.unnest(array("pids", [c.product_id for c in counts]),
                            array("lids", [c.location_id for c in counts])
                            ).table_valued("product_id", "location_id").render_derived()
        q = (select(t.stock.c.product_id, t.stock.c.location_id, t.stock.c.on_hand, t.stock.c.reserved)
             .join(pairs, and_(t.stock.c.product_id == pairs.c.product_id,
                               t.stock.c.location_id == pairs.c.location_id)))
        if lock:
            q = q.order_by(t.stock.c.id).with_for_update(of=t.stock)
        current = {(r.product_id, r.location_id): (r.on_hand, r.reserved) for r in uow.execute(q)}
    else:  # SQLite: the transaction holds the database's write lock since BEGIN
        for part in chunks(counts):
            pairs = [(c.product_id, c.location_id) for c in part]
            for r in uow.execute(select(t.stock.c.product_id, t.stock.c.location_id, t.stock.c.on_hand,
                                        t.stock.c.reserved)
                                 .where(tuple_(t.stock.c.product_id, t.stock.c.location_id).in_(pairs))):
                current[(r.product_id, r.location_id)] = (r.on_hand, r.reserved)
    for c in counts:
        c.on_hand, c.reserved = current.get((c.product_id, c.location_id), (0, 0))


def _check_reserved(counts: list[StockCount], report: Report) -> None:
    for c in counts:
        if c.counted < c.reserved:
            report.error(c.line, "quantity", "counted %(counted)s but %(reserved)s unit(s) of %(sku)s are "
                                             "reserved for orders at %(location)s; release them first",
                         code="import.count_below_reserved", counted=c.counted, reserved=c.reserved, sku=c.sku,
                         location=c.location_code)


def _tally(counts: list[StockCount], report: Report) -> list[StockCount]:
    """The counts that change on-hand; sets the report's counts."""
    changed = [c for c in counts if c.delta]
    report.counts = {"rows": len(counts), "changed": len(changed), "unchanged": len(counts) - len(changed),
                     "units_added": sum(c.delta for c in changed if c.delta > 0),
                     "units_removed": -sum(c.delta for c in changed if c.delta < 0)}
    return changed


def import_stock(engine: Engine, principal: Principal, upload: Upload, options: ImportOptions | None = None) -> Report:
    # counted stock that arrives fills backorders after the commit: every change writes a stock.changed
    # event that orders handles (orders/services/backorders.py)
    options = options or ImportOptions()
    progress = options.progress
    report = Report("stock", options.dry_run)
    if not principal.is_staff:
        raise Forbidden("importing stock counts needs a staff role (admin, manager or worker)",
                        code="stock.import_staff_only")
    with open_rows(upload, report, COLUMNS, options.limits) as rows:
        if rows is None:
            return report
        with UnitOfWork(engine) as uow:
            counts = validate_stock(uow, principal, rows, report, progress)
            if options.dry_run or not report.valid:
                return report
            # what was read above is the report's; the adjustments are computed from the rows as they are
            # under the lock (a pick or a reservation may have been committed meanwhile)
            _read_current(uow, counts, lock=True)
            _check_reserved(counts, report)
            if not report.valid:
                return report
            _write_counts(uow, principal, _tally(counts, report), progress)
            uow.commit()
    report.committed = True
    return report


def _write_counts(uow: UnitOfWork, principal: Principal, changed: list[StockCount], progress: Progress | None) -> None:
    from qoima.stock.services.inventory import add_on_hand, remove_on_hand
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
    if progress:
        progress("writing", len(changed), len(changed))
