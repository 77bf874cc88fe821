"""Creating and editing one product and its barcodes (the web form and the API's
PUT): a seller on its own catalog, staff for a chosen seller.

The input is `ProductIn` (catalog/schemas.py: bounds of the columns, GTIN check
digit by catalog/domain/barcodes.py). A barcode is unique per seller (the
database's `uq_barcodes_seller_code` as well as the check here, which names the
SKU that has it); a SKU is unique per seller. Another seller's product is a 404.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from qoima.catalog.schemas import ProductIn
from qoima.catalog.services import resolve_seller
from qoima.db import tables as t
from qoima.platform import roles
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict, NotFound
from qoima.platform.unit_of_work import UnitOfWork, utcnow

WRITERS = ("admin", "manager", "seller")


def _fields(data: ProductIn) -> dict:
    return data.model_dump(exclude={"seller", "barcodes"})


def get_product(uow: UnitOfWork, principal: Principal, product_id: int) -> dict:
    """One product with its barcodes; NotFound for a product the principal may not see (price hidden from
    the floor)."""
    row = uow.execute(select(t.products, t.sellers.c.code.label("seller"), t.sellers.c.name.label("seller_name"))
                      .join(t.sellers).where(t.products.c.id == product_id)).first()
    if row is None or not principal.can_see(row.seller_id):
        raise NotFound("no product #%(product_id)s", field="product_id", code="catalog.product_not_found",
                       product_id=product_id)
    codes = uow.execute(select(t.barcodes.c.code).where(t.barcodes.c.product_id == product_id)
                        .order_by(t.barcodes.c.id)).scalars().all()
    sees_money = roles.may(principal.role, roles.SEE_MONEY)
    return {"id": row.id, "seller": row.seller, "seller_name": row.seller_name, "sku": row.sku, "name": row.name,
            "category": row.category, "price": str(row.price) if sees_money else None, "barcodes": list(codes),
            "weight_g": row.weight_g, "length_mm": row.length_mm, "width_mm": row.width_mm,
            "height_mm": row.height_mm, "marking_required": bool(row.marking_required),
            "replenishment_days": row.replenishment_days}


def create_product(uow: UnitOfWork, principal: Principal, data: ProductIn) -> int:
    """A new product; a SKU the seller already has is a Conflict naming the field `sku`."""
    principal.require(*WRITERS)
    seller = resolve_seller(uow, principal, data.seller)
    if uow.execute(select(t.products.c.id).where(t.products.c.seller_id == seller.id,
                                                 t.products.c.sku == data.sku)).first():
        raise Conflict("SKU '%(sku)s' already exists", field="sku", code="catalog.sku_exists", sku=data.sku)
    _check_barcodes(uow, seller.id, None, data.barcodes)
    try:
        pid = uow.execute(insert(t.products).values(seller_id=seller.id, created_at=utcnow(), **_fields(data))
                          .returning(t.products.c.id)).scalar_one()
        _write_barcodes(uow, seller.id, pid, data.barcodes)
    except IntegrityError:  # a concurrent writer took the SKU or a barcode between the check and the insert
        raise Conflict("the SKU or a barcode was just taken by another product", field="sku",
                       code="catalog.concurrent_change") from None
    return pid


def update_product(uow: UnitOfWork, principal: Principal, product_id: int, data: ProductIn) -> None:
    """Edit a product (its seller stays); renaming its SKU to one the seller has is a Conflict."""
    principal.require(*WRITERS)
    row = uow.execute(select(t.products.c.id, t.products.c.seller_id, t.products.c.sku)
                      .where(t.products.c.id == product_id).with_for_update()).first()
    if row is None or not principal.can_see(row.seller_id):
        raise NotFound("no product #%(product_id)s", field="product_id", code="catalog.product_not_found",
                       product_id=product_id)
    if data.sku != row.sku and uow.execute(select(t.products.c.id).where(
            t.products.c.seller_id == row.seller_id, t.products.c.sku == data.sku)).first():
        raise Conflict("SKU '%(sku)s' already exists", field="sku", code="catalog.sku_exists", sku=data.sku)
    _check_barcodes(uow, row.seller_id, product_id, data.barcodes)
    fields = _fields(data)
    if not roles.may(principal.role, roles.SEE_MONEY):
        fields.pop("price")
    try:
        uow.execute(update(t.products).where(t.products.c.id == product_id).values(**fields))
        uow.execute(delete(t.barcodes).where(t.barcodes.c.product_id == product_id))
        _write_barcodes(uow, row.seller_id, product_id, data.barcodes)
    except IntegrityError:
        raise Conflict("the SKU or a barcode was just taken by another product", field="sku",
                       code="catalog.concurrent_change") from None


def _check_barcodes(uow: UnitOfWork, seller_id: int, product_id: int | None, codes: list[str]) -> None:
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return
    for r in uow.execute(select(t.barcodes.c.code, t.products.c.id, t.products.c.sku)
                         .join(t.products, t.products.c.id == t.barcodes.c.product_id)
                         .where(t.barcodes.c.seller_id == seller_id, t.barcodes.c.code.in_(wanted))):
        if r.id != product_id:
            raise Conflict("barcode %(barcode)s already belongs to SKU '%(sku)s'", field="barcodes",
                           code="catalog.barcode_taken", barcode=r.code, sku=r.sku)


def _write_barcodes(uow: UnitOfWork, seller_id: int, product_id: int, codes: list[str]) -> None:
    for code in dict.fromkeys(codes):
        uow.execute(insert(t.barcodes).values(seller_id=seller_id, product_id=product_id, code=code))
