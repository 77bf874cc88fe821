"""What a scanned code is: a unit of which product (by its barcodes), or a location, or nothing known.
Shared by the pick scans and the packing station."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qoima.db import tables as t
from qoima.floor.domain.scans import Scan, gtin_matches, parse_scan
from qoima.platform.unit_of_work import UnitOfWork, utcnow


@dataclass(frozen=True)
class Refusal:
    """A scan refused on the spot: `code` stable, `message` an English template with %(name)s params."""
    code: str
    message: str
    params: dict

    def answer(self, **extra) -> dict:
        return {"ok": False, "code": self.code, "message": self.message, "params": self.params, **extra}


def read(raw: str) -> Scan:
    return parse_scan(raw)


def _gtin_variants(gtin: str) -> list[str]:
    """The ways a GTIN-14 is stored as a barcode: GTIN-14, EAN-13, UPC-A (12), EAN-8."""
    out = [gtin]
    for cut in (1, 2, 6):
        if gtin[:cut].strip("0") == "":
            out.append(gtin[cut:])
    return out


def products_for(uow: UnitOfWork, scan: Scan, seller_id: int | None = None) -> list:
    """The products whose barcode the scan is (id, sku, name); SKU typed by hand as a fallback."""
    b, p = t.barcodes.c, t.products.c
    found = []
    if scan.gtin:
        q = (select(p.id, p.sku, p.name, p.seller_id, b.code).join(t.barcodes, b.product_id == p.id)
             .where(b.code.in_(_gtin_variants(scan.gtin))))
        if seller_id is not None:
            q = q.where(p.seller_id == seller_id)
        found = [r for r in uow.execute(q) if gtin_matches(scan.gtin, r.code)]
    if not found and scan.raw.strip():
        q = select(p.id, p.sku, p.name, p.seller_id).where(p.sku == scan.raw.strip()[:64])
        if seller_id is not None:
            q = q.where(p.seller_id == seller_id)
        found = list(uow.execute(q))
    return found


def is_product(uow: UnitOfWork, scan: Scan, product_id: int, sku: str, codes=None) -> bool:
    """Is the scanned unit this product (by one of its barcodes, or its SKU typed)? `codes`: its barcodes
    when the caller has read them already."""
    if scan.gtin:
        if codes is None:
            codes = uow.execute(select(t.barcodes.c.code).where(t.barcodes.c.product_id == product_id)).scalars()
        if any(gtin_matches(scan.gtin, c) for c in codes):
            return True
    return scan.kind == "text" and scan.raw.strip() == sku


def location_named(uow: UnitOfWork, warehouse_id: int, raw: str):
    code = raw.strip().upper()[:40]
    if not code:
        return None
    return uow.execute(select(t.locations.c.id, t.locations.c.code)
                       .where(t.locations.c.warehouse_id == warehouse_id,
                              func.upper(t.locations.c.code) == code)).first()


def claim_marking(uow: UnitOfWork, code: str, gtin: str | None, product_id: int, order_id: int, actor: str) -> bool:
    """Record a marking code; False when it was seen before (in any warehouse): one code is one unit."""
    ins = pg_insert if uow.is_postgres else sqlite_insert
    row = uow.execute(ins(t.marking_codes).values(
        code=code[:200], gtin=gtin or "", product_id=product_id, order_id=order_id, actor=actor[:254],
        created_at=utcnow()).on_conflict_do_nothing(index_elements=["code"]).returning(t.marking_codes.c.id)).first()
    return row is not None
