"""Reading receipts: the list (newest first, filtered by seller, warehouse,
delivery, or part of a SKU in any letter case) and one receipt with its lines,
who booked it, its ledger movements and the delivery (ASN) it belongs to. A
seller sees only its own receipts; another seller's receipt is 404."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from qoima.db import tables as t
from qoima.platform.access import Principal
from qoima.platform.errors import NotFound
from qoima.platform.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ReceiptFilter:
    seller_id: int | None = None
    warehouse: str | None = None
    sku: str | None = None  # part of a SKU, any letter case
    asn_id: int | None = None
    limit: int = 25
    offset: int = 0


def _line_rows(uow: UnitOfWork, ids: list[int]) -> dict[int, list[dict]]:
    rl, p = t.receipt_lines.c, t.products.c
    out: dict[int, list[dict]] = {}
    if not ids:
        return out
    for ln in uow.execute(select(rl.receipt_id, p.sku, p.name, rl.expected_qty, rl.received_qty)
                          .join(t.products, p.id == rl.product_id).where(rl.receipt_id.in_(ids)).order_by(rl.id)):
        diff = ln.received_qty - ln.expected_qty
        state = "ok" if not diff else ("unexpected" if not ln.expected_qty else ("short" if diff < 0 else "over"))
        out.setdefault(ln.receipt_id, []).append({"sku": ln.sku, "name": ln.name, "expected": ln.expected_qty,
                                                  "received": ln.received_qty, "difference": diff, "state": state})
    return out


def _with_lines(row: dict, lines: list[dict]) -> dict:
    row["lines"] = lines
    row["expected"] = sum(ln["expected"] for ln in lines)
    row["received"] = sum(ln["received"] for ln in lines)
    row["discrepancies"] = [ln for ln in lines if ln["difference"]]
    return row


def _base():
    r, wh, s = t.receipts.c, t.warehouses.c, t.sellers.c
    return (select(r.id, r.supplier, r.reference, r.status, r.created_at, r.closed_at, r.asn_id, r.actor,
                   r.seller_id, s.code.label("seller"), wh.code.label("warehouse"))
            .join(t.sellers, s.id == r.seller_id).join(t.warehouses, wh.id == r.warehouse_id))


def list_receipts(uow: UnitOfWork, principal: Principal, f: ReceiptFilter) -> tuple[list[dict], int]:
    """Receipts newest first, each with its lines (expected vs received) and the lines that differ."""
    r = t.receipts.c
    q = _base()
    if not principal.is_staff:
        q = q.where(r.seller_id == principal.seller_id)
    if f.seller_id is not None:
        q = q.where(r.seller_id == f.seller_id)
    if f.warehouse:
        q = q.where(t.warehouses.c.code == f.warehouse)
    if f.asn_id is not None:
        q = q.where(r.asn_id == f.asn_id)
    if f.sku and f.sku.strip():
        needle = f.sku.strip().lower()
        q = q.where(r.id.in_(select(t.receipt_lines.c.receipt_id)
                             .join(t.products, t.products.c.id == t.receipt_lines.c.product_id)
                             .where(func.lower(t.products.c.sku).contains(needle, autoescape=True))))
    total = uow.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = [dict(x._mapping) for x in uow.execute(q.order_by(r.id.desc()).limit(f.limit).offset(f.offset))]
    lines = _line_rows(uow, [x["id"] for x in rows])
    return [_with_lines(x, lines.get(x["id"], [])) for x in rows], total


def receipt_detail(uow: UnitOfWork, principal: Principal, receipt_id: int) -> dict:
    """One receipt: lines, who and when, the ledger movements it wrote, its delivery (ASN) if any."""
    row = uow.execute(_base().where(t.receipts.c.id == receipt_id)).first()
    if row is None or not principal.can_see(row.seller_id):
        raise NotFound("receipt %(receipt_id)s not found", code="stock.receipt_not_found", receipt_id=receipt_id)
    out = _with_lines(dict(row._mapping), _line_rows(uow, [receipt_id]).get(receipt_id, []))
    m, p, loc = t.stock_movements.c, t.products.c, t.locations.c
    out["movements"] = [dict(x._mapping) for x in uow.execute(
        select(m.id, m.kind, p.sku, m.quantity, loc.code.label("location"), m.actor, m.reason, m.created_at)
        .join(t.products, p.id == m.product_id).outerjoin(t.locations, loc.id == m.to_location_id)
        .where(m.reference == f"receipt:{receipt_id}").order_by(m.id))]
    if not out["actor"] and out["movements"]:  # receipts booked before migration 0014 kept no actor
        out["actor"] = out["movements"][0]["actor"]
    return out
