"""Order intake: validate, find or create the customer, choose warehouses,
reserve, and write the order with its timeline and outbox event in one
transaction. The same channel order (or Idempotency-Key) never becomes two."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert, or_, select
from sqlalchemy.exc import IntegrityError

from ..adapters.db import tables as t
from ..domain import sourcing
from ..domain.errors import Forbidden, NotFound, ValidationError
from ..domain.orders import Status
from ..domain.sla import Calendar, parse_hhmm, ship_by
from .access import Principal
from .customers import find_or_create_customer
from .records import enqueue, record_transition
from .reserve import apply_reservations, lock_stock_rows
from .schemas import OrderIn
from .unit_of_work import UnitOfWork, utcnow


def resolve_seller(uow: UnitOfWork, principal: Principal, code: str | None, field: str = "seller"):
    if code is None or code == "":
        if principal.seller_id is None:
            raise ValidationError("seller is required", field=field)
        return uow.execute(select(t.sellers).where(t.sellers.c.id == principal.seller_id)).one()
    row = uow.execute(select(t.sellers).where(t.sellers.c.code == code)).first()
    if row is None or not principal.can_see(row.id):
        if row is not None:
            raise Forbidden(f"you may act only for your own seller, not '{code}'", field=field)
        raise ValidationError(f"unknown seller '{code}'", field=field)
    return row


def submit_order(engine: Engine, principal: Principal, data: OrderIn, idempotency_key: str | None = None,
                 now: datetime | None = None) -> tuple[dict, bool]:
    """Returns (order, created). A duplicate returns the existing order with created=False."""
    try:
        with UnitOfWork(engine) as uow:
            result = create_order(uow, principal, data, idempotency_key, now)
            uow.commit()
            return result
    except IntegrityError as exc:
        if "uq_orders" not in str(exc.orig):
            raise
        with UnitOfWork(engine) as uow:  # a concurrent request won the race: return its order
            seller = resolve_seller(uow, principal, data.seller)
            existing = _existing(uow, seller.id, data.channel, data.external_id, idempotency_key)
            return order_summary(uow, existing), False


def _existing(uow: UnitOfWork, seller_id: int, channel: str, external_id: str, key: str | None):
    conds = [(t.orders.c.channel == channel) & (t.orders.c.external_id == external_id)]
    if key:
        conds.append(t.orders.c.idempotency_key == key)
    return uow.execute(select(t.orders.c.id).where(t.orders.c.seller_id == seller_id, or_(*conds))).scalar()


def create_order(uow: UnitOfWork, principal: Principal, data: OrderIn, idempotency_key: str | None = None,
                 now: datetime | None = None) -> tuple[dict, bool]:
    seller = resolve_seller(uow, principal, data.seller)
    existing = _existing(uow, seller.id, data.channel, data.external_id, idempotency_key)
    if existing is not None:
        return order_summary(uow, existing), False
    now = now or utcnow()
    received = (data.received_at.replace(tzinfo=None) if data.received_at else now)
    products = _products(uow, seller.id, [ln.sku for ln in data.lines])
    customer_id = find_or_create_customer(uow, seller.id, data.customer, actor=principal.email, now=received)
    rows = lock_stock_rows(uow, {p.id for p in products.values()})
    plan = sourcing.choose([sourcing.Line(products[ln.sku].id, ln.sku, ln.quantity) for ln in data.lines],
                           _warehouse_stock(uow, rows), data.delivery.lat, data.delivery.lon)
    status = Status.ALLOCATED if plan.complete else Status.BACKORDERED
    cal_wh = _calendar_warehouse(uow, plan, data.delivery.lat, data.delivery.lon)
    total = sum(ln.quantity * ln.unit_price for ln in data.lines)
    order_id = uow.execute(insert(t.orders).values(
        seller_id=seller.id, channel=data.channel, external_id=data.external_id, idempotency_key=idempotency_key,
        customer_id=customer_id, status=status.value, delivery_type=data.delivery.type,
        address=data.delivery.address, city=data.delivery.city, lat=data.delivery.lat, lon=data.delivery.lon,
        total=total, warehouses=",".join(plan.warehouses), sourcing_reason=plan.reason,
        ship_by=ship_by(received, _calendar(cal_wh)) if cal_wh is not None else None,
        received_at=received, updated_at=now).returning(t.orders.c.id)).scalar_one()
    line_ids = _insert_lines(uow, order_id, data, products, plan)
    apply_reservations(uow, order_id, _takes(plan, rows, line_ids, data, products))
    record_transition(uow, order_id, seller.id, None, Status.NEW.value, principal.email, f"received via {data.channel}")
    record_transition(uow, order_id, seller.id, Status.NEW.value, status.value, "sourcing", plan.reason)
    enqueue(uow, "order.created", order_id, seller.id, {"order_id": order_id})
    return order_summary(uow, order_id), True


def _products(uow: UnitOfWork, seller_id: int, skus: list[str]) -> dict:
    found = {r.sku: r for r in uow.execute(select(t.products.c.id, t.products.c.sku)
                                           .where(t.products.c.seller_id == seller_id, t.products.c.sku.in_(set(skus))))}
    for i, sku in enumerate(skus):
        if sku not in found:
            raise ValidationError(f"unknown SKU '{sku}' for this seller", field=f"lines[{i}].sku")
    return found


def _warehouse_stock(uow: UnitOfWork, rows) -> list[sourcing.WarehouseStock]:
    whs = {w.id: w for w in uow.execute(select(t.warehouses.c.id, t.warehouses.c.code, t.warehouses.c.lat,
                                                t.warehouses.c.lon))}
    result: dict[int, sourcing.WarehouseStock] = {}
    for r in rows:
        w = whs[r.warehouse_id]
        ws = result.setdefault(w.id, sourcing.WarehouseStock(w.id, w.code, w.lat, w.lon, {}))
        ws.available[r.product_id] = ws.available.get(r.product_id, 0) + (r.on_hand - r.reserved)
    return list(result.values())


def _insert_lines(uow: UnitOfWork, order_id: int, data: OrderIn, products: dict, plan) -> list[int]:
    missing = dict(plan.backorder)
    values = []
    for ln in data.lines:  # the shortfall of a product goes to its last lines
        values.append({"order_id": order_id, "product_id": products[ln.sku].id, "sku": ln.sku,
                       "quantity": ln.quantity, "unit_price": ln.unit_price, "backordered": 0})
    for v in reversed(values):
        short = min(missing.get(v["product_id"], 0), v["quantity"])
        v["backordered"] = short
        if short:
            missing[v["product_id"]] -= short
    ids = uow.execute(insert(t.order_lines).returning(t.order_lines.c.id, sort_by_parameter_order=True), values)
    return [r.id for r in ids]


def _takes(plan, rows, line_ids, data: OrderIn, products) -> list[tuple[int, int, int, int]]:
    """Spread the plan's (warehouse, product, qty) over stock rows and order lines."""
    need_by_line = {}
    for lid, ln in zip(line_ids, data.lines):
        need_by_line[lid] = (products[ln.sku].id, ln.quantity)
    takes = []
    free = {r.id: r.on_hand - r.reserved for r in rows}
    for wid, pid, qty in plan.picks:
        for r in rows:
            if qty == 0:
                break
            if r.warehouse_id != wid or r.product_id != pid or free[r.id] == 0:
                continue
            for lid, (lpid, lneed) in need_by_line.items():
                if lpid != pid or lneed == 0 or qty == 0 or free[r.id] == 0:
                    continue
                take = min(qty, free[r.id], lneed)
                takes.append((lid, r.id, wid, take))
                free[r.id] -= take
                qty -= take
                need_by_line[lid] = (lpid, lneed - take)
    return takes


def _calendar_warehouse(uow: UnitOfWork, plan, lat, lon):
    whs = uow.execute(select(t.warehouses)).all()
    if not whs:
        return None
    chosen = [w for w in whs if w.code in plan.warehouses]
    if chosen:
        return chosen[0]
    return min(whs, key=lambda w: (sourcing.distance_km(w.lat, w.lon, lat, lon) or 0.0, w.id))


def _calendar(w) -> Calendar:
    return Calendar(timezone=w.timezone, cutoff=parse_hhmm(w.cutoff_time), handover=parse_hhmm(w.handover_time),
                    working_days=w.working_days)


def order_summary(uow: UnitOfWork, order_id: int) -> dict:
    o = uow.execute(select(t.orders, t.sellers.c.code.label("seller")).join(t.sellers)
                    .where(t.orders.c.id == order_id)).first()
    if o is None:
        raise NotFound(f"order {order_id} not found")
    lines = uow.execute(select(t.order_lines).where(t.order_lines.c.order_id == order_id)
                        .order_by(t.order_lines.c.id)).all()
    return {
        "id": o.id, "seller": o.seller, "channel": o.channel, "external_id": o.external_id, "status": o.status,
        "warehouse": o.warehouses.split(",")[0] if o.warehouses else None,
        "warehouses": [c for c in o.warehouses.split(",") if c], "ship_by": o.ship_by,
        "sourcing_reason": o.sourcing_reason, "total": str(o.total), "currency": o.currency,
        "received_at": o.received_at, "customer_id": o.customer_id,
        "delivery": {"type": o.delivery_type, "address": o.address, "city": o.city, "lat": o.lat, "lon": o.lon},
        "lines": [{"id": ln.id, "sku": ln.sku, "quantity": ln.quantity, "unit_price": str(ln.unit_price),
                   "backordered": ln.backordered} for ln in lines],
    }
