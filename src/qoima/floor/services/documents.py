"""The floor's documents from the stored rows: shipping labels (PDF, ZPL), packing slips, manifests.
Made on request, so a reprint is the same document."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import select

from qoima.db import tables as t
from qoima.floor.adapters import labels
from qoima.floor.services import packing
from qoima.orders.services.lifecycle import load_order
from qoima.platform.access import Principal
from qoima.platform.errors import NotFound
from qoima.platform.unit_of_work import UnitOfWork


def _parcel(uow: UnitOfWork, principal: Principal, parcel_id: int):
    row = uow.execute(select(t.parcels).where(t.parcels.c.id == parcel_id)).first()
    if row is None:
        raise NotFound(f"parcel {parcel_id} not found", field="parcel_id", code="floor.unknown_parcel")
    load_order(uow, principal, row.order_id)  # a seller reaches its own orders' parcels only
    return row


def label_data(uow: UnitOfWork, principal: Principal, parcel_id: int) -> labels.LabelData:
    p = _parcel(uow, principal, parcel_id)
    o = uow.execute(select(t.orders.c.external_id, t.orders.c.address, t.orders.c.city, t.orders.c.customer_id,
                           t.sellers.c.name.label("seller"))
                    .join(t.sellers, t.sellers.c.id == t.orders.c.seller_id).where(t.orders.c.id == p.order_id)).first()
    c = uow.execute(select(t.customers.c.name, t.customers.c.phone)
                    .where(t.customers.c.id == o.customer_id)).first() if o.customer_id else None
    wh = uow.execute(select(t.warehouses.c.code, t.warehouses.c.name).join(
        t.shipments, t.shipments.c.warehouse_id == t.warehouses.c.id).where(t.shipments.c.id == p.shipment_id)).first()
    count = len(uow.execute(select(t.parcels.c.id).where(t.parcels.c.shipment_id == p.shipment_id)).all())
    return labels.LabelData(tracking=p.tracking, order_number=o.external_id, carrier=p.carrier,
                            recipient_name=(c.name if c else "") or "", recipient_phone=(c.phone if c else "") or "",
                            address=o.address, city=o.city, weight_g=p.weight_g, parcel_no=p.parcel_no,
                            parcel_count=count, seller_name=o.seller, warehouse=f"{wh.code} {wh.name}")


def label_pdf(uow: UnitOfWork, principal: Principal, parcel_id: int) -> bytes:
    return labels.shipping_label_pdf(label_data(uow, principal, parcel_id))


@lru_cache(maxsize=1)
def printer_font() -> str:
    """The ZPL that puts the labels' font on a printer (the same file for every printer)."""
    return labels.printer_font_zpl()


def label_zpl(uow: UnitOfWork, principal: Principal, parcel_id: int) -> str:
    return labels.shipping_label_zpl(label_data(uow, principal, parcel_id))


def slip_pdf(uow: UnitOfWork, principal: Principal, order_id: int, lang: str, warehouse: str | None = None) -> bytes:
    """The packing slip of the order, or (`warehouse`) of its shipment from there: what that parcel holds."""
    order = load_order(uow, principal, order_id)
    seller = uow.execute(select(t.sellers.c.name).where(t.sellers.c.id == order.seller_id)).scalar_one()
    buyer = uow.execute(select(t.customers.c.name).where(t.customers.c.id == order.customer_id)).scalar() \
        if order.customer_id else ""
    lines = tuple(labels.SlipLine(r.sku, r.name, r.quantity) for r in uow.execute(
        select(t.order_lines.c.sku, t.products.c.name, t.order_lines.c.quantity)
        .join(t.products, t.products.c.id == t.order_lines.c.product_id)
        .where(t.order_lines.c.order_id == order.id).order_by(t.order_lines.c.id)))
    if warehouse:
        ship = packing.shipment_of(uow, order, warehouse)
        lines = tuple(labels.SlipLine(r.sku, r.name, r.quantity) for r in packing.pack_lines(uow, ship))
    first = (buyer or "").split(" ")[0]
    return labels.packing_slip_pdf(labels.PackingSlip(order.external_id, first, seller, lines), lang)


def manifest_doc(uow: UnitOfWork, manifest_id: int) -> labels.ManifestDoc:
    m = uow.execute(select(t.manifests, t.warehouses.c.code.label("warehouse"))
                    .join(t.warehouses, t.warehouses.c.id == t.manifests.c.warehouse_id)
                    .where(t.manifests.c.id == manifest_id)).first()
    if m is None:
        raise NotFound(f"manifest {manifest_id} not found", field="manifest_id", code="floor.unknown_manifest")
    parcels = tuple(labels.ManifestParcel(r.tracking, r.external_id, r.weight_g) for r in uow.execute(
        select(t.parcels.c.tracking, t.orders.c.external_id, t.parcels.c.weight_g)
        .join(t.orders, t.orders.c.id == t.parcels.c.order_id)
        .where(t.parcels.c.manifest_id == m.id).order_by(t.parcels.c.id)))
    missing = tuple(f"{x['tracking']} ({x['order']})" for x in (m.missing or []))
    return labels.ManifestDoc(number=f"M-{m.id:06d}", carrier=m.carrier, warehouse=m.warehouse,
                              closed_at=m.closed_at.isoformat(timespec="minutes") if m.closed_at else "",
                              parcels=parcels, missing=missing)


def manifest_pdf(uow: UnitOfWork, manifest_id: int, lang: str) -> bytes:
    return labels.manifest_pdf(manifest_doc(uow, manifest_id), lang)
