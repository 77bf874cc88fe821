"""Finding a seller's product by what a person types or scans: the SKU in any
letter case (aru-003 is ARU-003), or one of its barcodes (the barcodes table).
An exact SKU wins over a case-insensitive one, a SKU over a barcode."""

from __future__ import annotations

from sqlalchemy import func, select

from qoima.db import tables as t
from qoima.platform.access import Principal
from qoima.platform.errors import ValidationError
from qoima.platform.unit_of_work import UnitOfWork


def find_product(uow: UnitOfWork, seller_id: int, code: str):
    """The products row of the seller that `code` names (SKU any case, or barcode), or None."""
    code = (code or "").strip()
    if not code:
        return None
    p = t.products.c
    row = uow.execute(select(t.products).where(p.seller_id == seller_id, p.sku == code)).first()
    if row is not None:
        return row
    rows = uow.execute(select(t.products).where(p.seller_id == seller_id, func.lower(p.sku) == code.lower())
                       .order_by(p.id).limit(2)).all()
    if len(rows) == 1:
        return rows[0]
    if len(code) <= 14:
        return uow.execute(select(t.products).join(t.barcodes, t.barcodes.c.product_id == p.id)
                           .where(t.barcodes.c.seller_id == seller_id, t.barcodes.c.code == code)).first()
    return None


def product_by_code(uow: UnitOfWork, principal: Principal, seller_id: int, code: str, field: str = "sku"):
    """find_product, or the 422 naming the field ("unknown SKU or barcode")."""
    principal.check_seller(seller_id)
    row = find_product(uow, seller_id, code)
    if row is None:
        raise ValidationError("unknown SKU or barcode '%(sku)s'", field=field, code="stock.unknown_sku",
                              sku=code.strip())
    return row
