"""Stock work on the floor, beyond receipts: cycle counts (the counted quantity
booked as the difference, an adjustment with reason count_correction), the
adjustment reasons (stock/domain/adjustments.py), movement history per SKU and
per location, what sits in receiving locations, transfers in transit, and the
receiving mode of a warehouse. Changes go through the ledger functions of
inventory.py; a count is idempotent per form operation id like every stock
write (platform/idempotency.py)."""

from __future__ import annotations

from sqlalchemy import Engine, delete, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from qoima.catalog.services import resolve_seller
from qoima.db import tables as t
from qoima.platform.access import Principal
from qoima.platform.errors import NotFound, ValidationError
from qoima.platform.idempotency import HEADER, Operation, Outcome, run_once
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.domain import adjustments as rules
from qoima.stock.schemas import CountIn, ReceivingModeIn
from qoima.stock.services.events import touched
from qoima.stock.services.inventory import add_on_hand, location_row, lock_rows, product_row, remove_on_hand
from qoima.stock.services.reservable import RECEIVING_MODES, AUTO_PUTAWAY


def refused(exc: rules.AdjustmentRefused) -> ValidationError:
    """A domain refusal as the DomainError the entrypoints show (message, field, code, template, params)."""
    return ValidationError(exc.template, field=exc.field, code=exc.code, **exc.params)


def count(engine: Engine, principal: Principal, data: CountIn, key: str | None = None, field: str = HEADER) -> Outcome:
    """A cycle count booked once per key."""
    op = Operation("stock.count", principal, key, data.model_dump(mode="json"), field=field)
    return run_once(engine, op, lambda uow: cycle_count(uow, principal, data))


def cycle_count(uow: UnitOfWork, principal: Principal, data: CountIn) -> dict:
    """Book the difference between the counted quantity and on hand, under the row's lock."""
    principal.require("admin", "manager", "worker")
    seller = resolve_seller(uow, principal, data.seller)
    product = product_row(uow, principal, data.sku, seller.id)
    loc = location_row(uow, code=data.location, warehouse_code=data.warehouse)
    row = lock_rows(uow, adds=[(product.id, loc.id, loc.warehouse_id)])[(product.id, loc.id)]
    try:
        delta = rules.check_count(rules.Count(data.counted, row.on_hand, row.reserved))
    except rules.AdjustmentRefused as exc:
        raise refused(exc) from None
    common = dict(product_id=product.id, location_id=loc.id, quantity=abs(delta), kind="adjustment",
                  actor=principal.email, reason=rules.ledger_reason(rules.COUNT_REASON, data.note),
                  reference=f"count:{loc.code}")
    if delta > 0:
        add_on_hand(uow, warehouse_id=loc.warehouse_id, **common)
    elif delta < 0:
        remove_on_hand(uow, sku=data.sku, **common)
    return {"sku": data.sku, "location": loc.code, "warehouse": loc.warehouse_code, "before": row.on_hand,
            "counted": data.counted, "delta": delta}


# --- history ------------------------------------------------------------------------------------------------

def history(uow: UnitOfWork, principal: Principal, *, product_id: int | None = None,
            location_id: int | None = None, limit: int = 50, offset: int = 0) -> list[dict]:
    """Movements of one product or through one location, newest first: who, when, why, reference,
    kind, quantity, from and to. A seller sees the movements of its own products only."""
    src, dst = aliased(t.locations, name="src"), aliased(t.locations, name="dst")
    m = t.stock_movements.c
    q = (select(m.id, m.created_at, m.actor, m.reason, m.reference, m.kind, m.quantity, t.products.c.sku,
                t.products.c.id.label("product_id"), t.sellers.c.code.label("seller"),
                src.c.code.label("from_location"), src.c.id.label("from_location_id"),
                dst.c.code.label("to_location"), dst.c.id.label("to_location_id"),
                func.coalesce(src.c.warehouse_id, dst.c.warehouse_id).label("warehouse_id"))
         .join(t.products, t.products.c.id == m.product_id).join(t.sellers, t.sellers.c.id == t.products.c.seller_id)
         .outerjoin(src, src.c.id == m.from_location_id).outerjoin(dst, dst.c.id == m.to_location_id))
    if product_id is not None:
        q = q.where(m.product_id == product_id)
    if location_id is not None:
        q = q.where(or_(m.from_location_id == location_id, m.to_location_id == location_id))
    if not principal.is_staff:
        q = q.where(t.products.c.seller_id == principal.seller_id)
    rows = uow.execute(q.order_by(m.id.desc()).limit(limit).offset(offset)).all()
    codes = dict(uow.execute(select(t.warehouses.c.id, t.warehouses.c.code)).all())
    return [{**r._mapping, "warehouse": codes.get(r.warehouse_id, "")} for r in rows]


def product_of(uow: UnitOfWork, principal: Principal, product_id: int):
    """A product the caller may see (another seller's is 404, as one that does not exist)."""
    row = uow.execute(select(t.products, t.sellers.c.code.label("seller")).join(t.sellers)
                      .where(t.products.c.id == product_id)).first()
    if row is None or not principal.can_see(row.seller_id):
        raise NotFound("product %(product_id)s not found", field="product_id", code="stock.product_not_found",
                       product_id=product_id)
    return row


def location_of(uow: UnitOfWork, location_id: int):
    row = uow.execute(select(t.locations, t.warehouses.c.code.label("warehouse"))
                      .join(t.warehouses, t.warehouses.c.id == t.locations.c.warehouse_id)
                      .where(t.locations.c.id == location_id)).first()
    if row is None:
        raise NotFound("location %(location_id)s not found", field="location_id", code="stock.location_not_found",
                       location_id=location_id)
    return row


def holdings(uow: UnitOfWork, location_id: int) -> list[dict]:
    """What one location holds now, per SKU."""
    return [dict(r._mapping) for r in uow.execute(
        select(t.products.c.id.label("product_id"), t.products.c.sku, t.sellers.c.code.label("seller"),
               t.stock.c.on_hand, t.stock.c.reserved)
        .join(t.products, t.products.c.id == t.stock.c.product_id).join(t.sellers)
        .where(t.stock.c.location_id == location_id, t.stock.c.on_hand > 0).order_by(t.products.c.sku))]


# --- the dock, transfers, settings --------------------------------------------------------------------------

def on_the_dock(uow: UnitOfWork, principal: Principal, warehouse: str | None = None) -> list[dict]:
    """Stock rows in receiving locations (to put away), by warehouse, location and SKU."""
    principal.require("admin", "manager", "worker")
    q = (select(t.stock.c.id, t.products.c.sku, t.products.c.name, t.sellers.c.code.label("seller"),
                t.warehouses.c.code.label("warehouse"), t.warehouses.c.receiving_mode,
                t.locations.c.code.label("location"), t.locations.c.id.label("location_id"),
                t.stock.c.on_hand, t.stock.c.reserved)
         .join(t.products, t.products.c.id == t.stock.c.product_id).join(t.sellers)
         .join(t.locations, t.locations.c.id == t.stock.c.location_id)
         .join(t.warehouses, t.warehouses.c.id == t.stock.c.warehouse_id)
         .where(t.locations.c.kind == "receiving", t.stock.c.on_hand > 0))
    if warehouse:
        q = q.where(t.warehouses.c.code == warehouse)
    return [dict(r._mapping) for r in uow.execute(
        q.order_by(t.warehouses.c.code, t.locations.c.code, t.products.c.sku).limit(500))]


def in_transit(uow: UnitOfWork, principal: Principal) -> list[dict]:
    """Transfers on the road, oldest first, with their lines."""
    principal.require("admin", "manager", "worker")
    src, dst = aliased(t.warehouses, name="src"), aliased(t.warehouses, name="dst")
    rows = uow.execute(select(t.transfers.c.id, t.transfers.c.created_at, t.transfers.c.actor,
                              t.sellers.c.code.label("seller"), src.c.code.label("from_warehouse"),
                              dst.c.code.label("to_warehouse"))
                       .join(t.sellers, t.sellers.c.id == t.transfers.c.seller_id)
                       .join(src, src.c.id == t.transfers.c.from_warehouse_id)
                       .join(dst, dst.c.id == t.transfers.c.to_warehouse_id)
                       .where(t.transfers.c.status == "in_transit").order_by(t.transfers.c.id).limit(200)).all()
    lines: dict[int, list] = {}
    if rows:
        for ln in uow.execute(select(t.transfer_lines.c.transfer_id, t.products.c.sku, t.transfer_lines.c.quantity)
                              .join(t.products, t.products.c.id == t.transfer_lines.c.product_id)
                              .where(t.transfer_lines.c.transfer_id.in_([r.id for r in rows]))
                              .order_by(t.transfer_lines.c.id)):
            lines.setdefault(ln.transfer_id, []).append({"sku": ln.sku, "quantity": ln.quantity})
    return [{**r._mapping, "lines": lines.get(r.id, [])} for r in rows]


def receiving_settings(uow: UnitOfWork) -> list[dict]:
    return [dict(r._mapping) for r in uow.execute(
        select(t.warehouses.c.id, t.warehouses.c.code, t.warehouses.c.name, t.warehouses.c.receiving_mode,
               t.putaway_cells.c.location_code.label("cell"))
        .outerjoin(t.putaway_cells, t.putaway_cells.c.warehouse_id == t.warehouses.c.id)
        .order_by(t.warehouses.c.code))]


def set_receiving_mode(uow: UnitOfWork, principal: Principal, data: ReceivingModeIn) -> dict:
    """'reserve' or 'auto_putaway' (which needs a storage cell of that warehouse)."""
    principal.require("admin", "manager")
    wh = uow.execute(select(t.warehouses).where(t.warehouses.c.code == data.warehouse)).first()
    if wh is None:
        raise ValidationError("unknown warehouse '%(warehouse)s'", field="warehouse", code="stock.unknown_warehouse",
                              warehouse=data.warehouse)
    if data.mode not in RECEIVING_MODES:
        raise ValidationError("choose a receiving mode from the list", field="mode", code="stock.unknown_mode")
    cell = None
    if data.cell:
        cell = location_row(uow, code=data.cell, warehouse_code=wh.code, field="cell")
        if cell.kind != "storage":
            raise ValidationError("%(location)s is not a storage cell", field="cell", code="stock.cell_not_storage",
                                  location=cell.code)
    if data.mode == AUTO_PUTAWAY and cell is None:
        raise ValidationError("automatic put-away needs a put-away cell", field="cell", code="stock.cell_required")
    uow.execute(update(t.warehouses).where(t.warehouses.c.id == wh.id).values(receiving_mode=data.mode))
    uow.execute(delete(t.putaway_cells).where(t.putaway_cells.c.warehouse_id == wh.id))
    if cell is not None:
        uow.execute(insert(t.putaway_cells).values(warehouse_id=wh.id, location_code=cell.code))
    if data.mode != wh.receiving_mode:  # the dock's stock became (or stopped being) reservable: say so
        for r in uow.execute(select(t.stock.c.product_id).join(t.locations, t.locations.c.id == t.stock.c.location_id)
                             .where(t.stock.c.warehouse_id == wh.id, t.locations.c.kind == "receiving",
                                    t.stock.c.on_hand > 0).order_by(t.stock.c.product_id)):
            touched(uow, r.product_id, wh.id, principal.email)
    return {"warehouse": wh.code, "mode": data.mode, "cell": cell.code if cell is not None else None}
