"""Inbound deliveries (ASN): a seller (or staff for a seller) announces a delivery
(supplier, expected day, warehouse, SKU and expected quantity per line) by the
API, the web form or a CSV file; the warehouse receives against it in one or
more receipts (inbound.receive books each one: ledger rows, stock.changed
events), unexpected products included (over-delivery lines, expected 0); the
delivery's status follows from the totals (stock/domain/asn.py) until it is
received in full or closed with discrepancies. A delivery nothing was received
against may be cancelled.

Locks: the delivery row first (FOR UPDATE on PostgreSQL), then the stock rows
(inbound.receive -> inventory.lock_rows), so two receipts of one delivery are
serialized and the received totals stay the sum of its receipts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import ValidationError as PydanticError
from sqlalchemy import Engine, func, insert, or_, select, update

from qoima.platform.bounds import rfc3339
from qoima.catalog.services import resolve_seller
from qoima.db import tables as t
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict, NotFound, ValidationError
from qoima.platform.idempotency import HEADER, Operation, Outcome, run_once
from qoima.platform.imports import Columns, Report, Upload, invalid_rows, open_rows
from qoima.platform.tabular import Limits
from qoima.platform.unit_of_work import UnitOfWork, utcnow
from qoima.stock.domain import asn as rules
from qoima.stock.schemas import AsnHeaderIn, AsnIn, AsnLineIn, AsnReceiveIn, ReceiptIn, ReceiptLineIn
from qoima.stock.services import inbound
from qoima.stock.services.skus import find_product, product_by_code

STAFF = ("admin", "manager", "worker")
CSV_COLUMNS = Columns(("sku", "expected"), ("sku", "expected"))


def refuse(problem: rules.Problem, exc=ValidationError):
    """A domain Problem as the DomainError the entrypoints show (message, field, code, values)."""
    return exc(problem.text, field=problem.field, code=problem.code, **problem.params)


def _warehouse(uow: UnitOfWork, code: str):
    row = uow.execute(select(t.warehouses).where(t.warehouses.c.code == code)).first()
    if row is None:
        raise ValidationError("unknown warehouse '%(warehouse)s'", field="warehouse", code="stock.unknown_warehouse",
                              warehouse=code)
    return row


def _delivery(uow: UnitOfWork, principal: Principal, asn_id: int, lock: bool = False):
    q = select(t.inbound_deliveries).where(t.inbound_deliveries.c.id == asn_id)
    row = uow.execute(q.with_for_update() if lock and uow.is_postgres else q).first()
    if row is None or not principal.can_see(row.seller_id):
        raise NotFound("inbound delivery %(asn_id)s not found", code="stock.asn_not_found", asn_id=asn_id)
    return row


def _lines(uow: UnitOfWork, asn_id: int) -> list:
    ln, p = t.inbound_delivery_lines.c, t.products.c
    return uow.execute(select(ln.id, ln.product_id, ln.expected_qty, ln.received_qty, p.sku, p.name)
                       .join(t.products, p.id == ln.product_id).where(ln.delivery_id == asn_id)
                       .order_by(ln.id)).all()


# ---------------------------------------------------------------- announce

def announce(uow: UnitOfWork, principal: Principal, data: AsnIn) -> dict:
    """A new delivery, status announced; every SKU must be the seller's (any letter case, or a barcode)."""
    seller = resolve_seller(uow, principal, data.seller)
    wh = _warehouse(uow, data.warehouse)
    for problem in rules.text_problems(data.supplier, data.reference) + \
            rules.line_problems([(ln.sku, ln.expected) for ln in data.lines], "expected"):
        raise refuse(problem)
    products, seen = [], {}
    for i, line in enumerate(data.lines):
        product = product_by_code(uow, principal, seller.id, line.sku, field=f"lines[{i}].sku")
        if product.id in seen:
            raise ValidationError("line %(line)s: SKU %(sku)s is already on line %(first)s", field=f"lines[{i}].sku",
                                  code="stock.duplicate_sku", sku=product.sku, line=i + 1, first=seen[product.id] + 1)
        seen[product.id] = i
        products.append(product)
    asn_id = uow.execute(insert(t.inbound_deliveries).values(
        seller_id=seller.id, warehouse_id=wh.id, supplier=data.supplier.strip(), reference=data.reference.strip(),
        expected_at=data.expected_at, status=rules.ANNOUNCED, created_by=principal.email, created_at=utcnow())
        .returning(t.inbound_deliveries.c.id)).scalar_one()
    uow.execute(insert(t.inbound_delivery_lines), [
        {"delivery_id": asn_id, "product_id": p.id, "expected_qty": ln.expected, "received_qty": 0}
        for p, ln in zip(products, data.lines)])
    return get(uow, principal, asn_id)


def announce_once(engine: Engine, principal: Principal, data: AsnIn, key: str | None = None,
                  field: str = HEADER) -> Outcome:
    op = Operation("stock.asn", principal, key, data.model_dump(mode="json"), field=field)
    return run_once(engine, op, lambda uow: announce(uow, principal, data))


def read_csv_lines(uow: UnitOfWork, principal: Principal, seller_id: int, upload: Upload) -> list[AsnLineIn]:
    """The lines of a CSV/XLSX file (columns sku, expected; the header is line 1): every bad row is reported
    with its line number (RowErrors) and then nothing is announced."""
    report = Report(kind="inbound", dry_run=False)
    lines: list[AsnLineIn] = []
    seen: dict[int, int] = {}
    with open_rows(upload, report, CSV_COLUMNS, Limits(max_rows=rules.LINES_MAX)) as rows:
        for line, row in rows or ():
            sku, raw = row.get("sku", "").strip(), row.get("expected", "")
            problems = rules.line_problems([(sku, raw)], "expected")
            for p in problems:
                message = p.template % {**p.params, "line": line} if p.params else p.template
                report.error(line, p.field.rsplit(".", 1)[-1] if "." in p.field else "expected", message)
            if problems:
                continue
            product = find_product(uow, seller_id, sku)
            if product is None:
                report.error(line, "sku", f"Line {line}: unknown SKU or barcode '{sku}'.")
                continue
            if product.id in seen:
                report.error(line, "sku", f"Line {line}: SKU {product.sku} is already on line {seen[product.id]}.")
                continue
            seen[product.id] = line
            lines.append(AsnLineIn(sku=product.sku, expected=rules.parse_quantity(raw)))
    if not report.errors and not lines:
        report.error(2, "sku", rules.NOTHING_EXPECTED)
    if report.errors:
        for error in report.errors:  # each a rule of the data, as the API's own validators say it
            error["type"] = "value_error"
        raise invalid_rows(report.as_dict())
    return lines


def header_of(**fields) -> AsnHeaderIn:
    """The delivery's fields as a form sent them (text); a refusal is the 422 naming the field."""
    try:
        return AsnHeaderIn(**fields)
    except PydanticError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ())) or "expected_at"
        raise ValidationError("%(loc)s: %(why)s", field=loc, code="stock.asn_header_invalid", loc=loc,
                              why=first.get("msg", "invalid").removeprefix("Value error, ")) from None


def import_csv(engine: Engine, principal: Principal, header: AsnHeaderIn, upload: Upload,
               key: str | None = None) -> Outcome:
    """Announce a delivery whose lines come from a file; all or nothing."""
    with upload.open() as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    op = Operation("stock.asn_import", principal, key, {**header.model_dump(mode="json"), "file": digest})

    def use_case(uow: UnitOfWork) -> dict:
        seller = resolve_seller(uow, principal, header.seller)
        lines = read_csv_lines(uow, principal, seller.id, upload)
        return announce(uow, principal, AsnIn(**{**header.model_dump(), "seller": seller.code}, lines=lines))
    return run_once(engine, op, use_case)


# ---------------------------------------------------------------- receive, close, cancel

def _check(row, action: str) -> None:
    try:
        rules.check_action(row.status, action)
    except rules.TransitionRefused as exc:
        raise Conflict(exc.template, field="status", code="stock.asn_status", asn_status=row.status, **exc.params) from None


def receive(uow: UnitOfWork, principal: Principal, asn_id: int, data: AsnReceiveIn) -> dict:
    """One receipt against the delivery (any number of lines; unknown-to-the-ASN products are over-delivery
    lines with expected 0); `close` closes it afterwards, with discrepancies if any."""
    principal.require(*STAFF)
    row = _delivery(uow, principal, asn_id, lock=True)
    _check(row, "receive")
    for problem in rules.line_problems([(ln.sku, ln.received) for ln in data.lines], "received"):
        raise refuse(problem)
    current = {ln.product_id: ln for ln in _lines(uow, asn_id)}
    received: dict[int, tuple[str, int]] = {}
    for i, line in enumerate(data.lines):
        product = product_by_code(uow, principal, row.seller_id, line.sku, field=f"lines[{i}].sku")
        sku, qty = received.get(product.id, (product.sku, 0))
        received[product.id] = (sku, qty + line.received)
    receipt_lines = [ReceiptLineIn(sku=ln.sku, expected=max(0, ln.expected_qty - ln.received_qty),
                                   received=received.get(pid, ("", 0))[1])
                     for pid, ln in current.items() if ln.expected_qty > ln.received_qty or pid in received]
    receipt_lines += [ReceiptLineIn(sku=sku, expected=0, received=qty)
                      for pid, (sku, qty) in received.items() if pid not in current]
    if len(receipt_lines) > rules.LINES_MAX:
        raise ValidationError(rules.TOO_MANY_LINES, field="lines",
                              code="stock.too_many_lines", max=rules.LINES_MAX)
    seller = uow.execute(select(t.sellers.c.code).where(t.sellers.c.id == row.seller_id)).scalar_one()
    wh = uow.execute(select(t.warehouses.c.code).where(t.warehouses.c.id == row.warehouse_id)).scalar_one()
    booked = inbound.receive(uow, principal, ReceiptIn(
        seller=seller, warehouse=wh, location=data.location, supplier=row.supplier,
        reference=row.reference or f"ASN-{asn_id}", lines=receipt_lines), asn_id=asn_id)
    for pid, (_sku, qty) in received.items():
        if pid in current:
            uow.execute(update(t.inbound_delivery_lines).where(t.inbound_delivery_lines.c.id == current[pid].id)
                        .values(received_qty=t.inbound_delivery_lines.c.received_qty + qty))
        elif qty:
            uow.execute(insert(t.inbound_delivery_lines).values(delivery_id=asn_id, product_id=pid, expected_qty=0,
                                                                received_qty=qty))
    expected, got = _totals(uow, asn_id)
    status = rules.status_on_close(expected, got) if data.close else rules.status_after_receipt(expected, got)
    _set_status(uow, principal, asn_id, status)
    return {"receipt_id": booked["id"], "asn_id": asn_id, "status": status, "location": booked["location"],
            "warehouse": booked["warehouse"], "receipt_discrepancies": booked["discrepancies"],
            "discrepancies": [d.as_dict() for d in rules.discrepancies(expected, got)]}


def receive_once(engine: Engine, principal: Principal, asn_id: int, data: AsnReceiveIn, key: str | None = None,
                 field: str = HEADER) -> Outcome:
    op = Operation("stock.asn_receipt", principal, key, {"asn_id": asn_id, **data.model_dump(mode="json")},
                   field=field)
    return run_once(engine, op, lambda uow: receive(uow, principal, asn_id, data))


def _totals(uow: UnitOfWork, asn_id: int) -> tuple[dict[str, int], dict[str, int]]:
    lines = _lines(uow, asn_id)
    return ({ln.sku: ln.expected_qty for ln in lines if ln.expected_qty},
            {ln.sku: ln.received_qty for ln in lines if ln.received_qty})


def _set_status(uow: UnitOfWork, principal: Principal, asn_id: int, status: str) -> None:
    final = status in rules.FINAL
    uow.execute(update(t.inbound_deliveries).where(t.inbound_deliveries.c.id == asn_id).values(
        status=status, closed_at=utcnow() if final else None, closed_by=principal.email if final else ""))


def close(uow: UnitOfWork, principal: Principal, asn_id: int) -> dict:
    """No more receipts: received when everything arrived as announced, else closed with discrepancies."""
    principal.require(*STAFF)
    row = _delivery(uow, principal, asn_id, lock=True)
    _check(row, "close")
    expected, got = _totals(uow, asn_id)
    _set_status(uow, principal, asn_id, rules.status_on_close(expected, got))
    return get(uow, principal, asn_id)


def cancel(uow: UnitOfWork, principal: Principal, asn_id: int) -> dict:
    """The seller (or staff) withdraws a delivery nothing was received against yet."""
    row = _delivery(uow, principal, asn_id, lock=True)
    _check(row, "cancel")
    _set_status(uow, principal, asn_id, rules.CANCELLED)
    return get(uow, principal, asn_id)


# ---------------------------------------------------------------- reading

def get(uow: UnitOfWork, principal: Principal, asn_id: int) -> dict:
    row = _delivery(uow, principal, asn_id)
    seller = uow.execute(select(t.sellers.c.code).where(t.sellers.c.id == row.seller_id)).scalar_one()
    wh = uow.execute(select(t.warehouses.c.code).where(t.warehouses.c.id == row.warehouse_id)).scalar_one()
    lines = _lines(uow, asn_id)
    names = {ln.sku: ln.name for ln in lines}
    diffs = rules.compare({ln.sku: ln.expected_qty for ln in lines if ln.expected_qty},
                          {ln.sku: ln.received_qty for ln in lines if ln.received_qty})
    r = t.receipts.c
    receipts = [dict(x._mapping) for x in uow.execute(
        select(r.id, r.created_at, r.actor, func.coalesce(func.sum(t.receipt_lines.c.received_qty), 0)
               .label("received"))
        .outerjoin(t.receipt_lines, t.receipt_lines.c.receipt_id == r.id)
        .where(r.asn_id == asn_id).group_by(r.id, r.created_at, r.actor).order_by(r.id))]
    return {"id": row.id, "seller": seller, "warehouse": wh, "supplier": row.supplier, "reference": row.reference,
            "expected_at": row.expected_at.isoformat() if row.expected_at else None, "status": row.status,
            "created_by": row.created_by, "created_at": rfc3339(row.created_at),
            "closed_at": rfc3339(row.closed_at) if row.closed_at else None, "closed_by": row.closed_by,
            "lines": [{**d.as_dict(), "name": names.get(d.sku, "")} for d in diffs],
            "expected": sum(d.expected for d in diffs), "received": sum(d.received for d in diffs),
            "receipts": [{**x, "created_at": rfc3339(x["created_at"])} for x in receipts]}


@dataclass(frozen=True)
class AsnFilter:
    seller_id: int | None = None
    warehouse: str | None = None
    status: str | None = None
    q: str | None = None  # part of a SKU (any case), the supplier or the reference
    limit: int = 50
    offset: int = 0


def list_deliveries(uow: UnitOfWork, principal: Principal, f: AsnFilter) -> tuple[list[dict], int]:
    d, ln, wh, s = t.inbound_deliveries.c, t.inbound_delivery_lines.c, t.warehouses.c, t.sellers.c
    sums = (select(ln.delivery_id, func.sum(ln.expected_qty).label("expected"),
                   func.sum(ln.received_qty).label("received"), func.count().label("line_count"))
            .group_by(ln.delivery_id).subquery())
    q = (select(d.id, d.supplier, d.reference, d.expected_at, d.status, d.created_at, s.code.label("seller"),
                wh.code.label("warehouse"), func.coalesce(sums.c.expected, 0).label("expected"),
                func.coalesce(sums.c.received, 0).label("received"),
                func.coalesce(sums.c.line_count, 0).label("line_count"))
         .join(t.sellers, s.id == d.seller_id).join(t.warehouses, wh.id == d.warehouse_id)
         .outerjoin(sums, sums.c.delivery_id == d.id))
    if not principal.is_staff:
        q = q.where(d.seller_id == principal.seller_id)
    if f.seller_id is not None:
        q = q.where(d.seller_id == f.seller_id)
    if f.warehouse:
        q = q.where(wh.code == f.warehouse)
    if f.status:
        q = q.where(d.status == f.status)
    if f.q:
        needle = f.q.strip().lower()
        with_sku = (select(ln.delivery_id).join(t.products, t.products.c.id == ln.product_id)
                    .where(func.lower(t.products.c.sku).contains(needle, autoescape=True)))
        q = q.where(or_(d.id.in_(with_sku), func.lower(d.supplier).contains(needle, autoescape=True),
                        func.lower(d.reference).contains(needle, autoescape=True)))
    total = uow.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = [dict(x._mapping) for x in uow.execute(q.order_by(d.id.desc()).limit(f.limit).offset(f.offset))]
    return rows, total


def open_for_receiving(uow: UnitOfWork, principal: Principal, asn_id: int) -> dict:
    """The delivery and what is still expected per SKU (the receive form starts from it)."""
    delivery = get(uow, principal, asn_id)
    delivery["remaining"] = rules.remaining({ln["sku"]: ln["expected"] for ln in delivery["lines"]},
                                            {ln["sku"]: ln["received"] for ln in delivery["lines"]})
    return delivery


def resolve_code(uow: UnitOfWork, principal: Principal, asn_id: int, code: str) -> str | None:
    """The SKU a scanned barcode or typed SKU (any case) names, for the delivery's seller; None when unknown."""
    row = _delivery(uow, principal, asn_id)
    product = find_product(uow, row.seller_id, code)
    return product.sku if product is not None else None
