"""Order intake: validate, find or create the customer, choose warehouses,
reserve, and write the order with its timeline and outbox event in one
transaction. The same channel order (or Idempotency-Key) never becomes two."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import Engine, insert, or_, select
from sqlalchemy.exc import IntegrityError

from qoima.db import tables as t
from qoima.orders.domain import sourcing
from qoima.platform.errors import Forbidden, NotFound, ValidationError
from qoima.orders.domain.status import Status
from qoima.catalog.domain.calendar import Calendar, parse_hhmm, ship_by
from qoima.platform.access import Principal
from qoima.customers.services import find_or_create_customer
from qoima.stock.services.reserve import apply_reservations
from qoima.orders.schemas import OrderIn
from qoima.platform.unit_of_work import UnitOfWork, run, utcnow
from qoima.catalog.services import resolve_seller  # noqa: F401 - re-exported for the order writers

CENT = Decimal("0.01")




def submit_order(engine: Engine, principal: Principal, data: OrderIn, idempotency_key: str | None = None,
                 now: datetime | None = None) -> tuple[dict, bool]:
    """Returns (order, created). A duplicate returns the existing order with created=False."""
    try:  # re-run from the start on a deadlock / serialization failure / lock timeout
        return run(engine, lambda uow: create_order(uow, principal, data, idempotency_key, now))
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
    received = received_utc(data.received_at, now)
    products = _products(uow, seller.id, [ln.sku for ln in data.lines])
    customer_id = find_or_create_customer(uow, seller.id, data.customer, actor=principal.email, now=received)
    rows = _lock_stock(uow, {p.id for p in products.values()})
    plan = sourcing.choose([sourcing.Line(products[ln.sku].id, ln.sku, ln.quantity) for ln in data.lines],
                           warehouse_stock(rows), data.delivery.lat, data.delivery.lon)
    status = Status.ALLOCATED if plan.complete else Status.BACKORDERED
    cal = plan_calendar(rows, plan) or calendar_of(_calendar_warehouse(uow, plan, data.delivery.lat,
                                                                         data.delivery.lon))
    total = sum((ln.quantity * ln.unit_price for ln in data.lines), Decimal(0)).quantize(CENT)
    deadline = ship_by(received, cal) if cal is not None else None
    order_id = uow.execute(insert(t.orders).values(
        seller_id=seller.id, channel=data.channel, external_id=data.external_id, idempotency_key=idempotency_key,
        customer_id=customer_id, status=status.value, delivery_type=data.delivery.type,
        address=data.delivery.address, city=data.delivery.city, lat=data.delivery.lat, lon=data.delivery.lon,
        total=total, warehouses=",".join(plan.warehouses), sourcing_reason=plan.reason, ship_by=deadline,
        received_at=received, updated_at=now).returning(t.orders.c.id)).scalar_one()
    lines = _insert_lines(uow, order_id, data, products, plan)
    apply_reservations(uow, order_id, spread_over_stock(plan, rows, [ln["id"] for ln in lines], data, products))
    _record_intake(uow, order_id, seller.id, principal.email, data.channel, status.value, plan.reason)
    summary = new_order_summary(seller.code, order_id, data, status.value, plan, deadline, total, received,
                                customer_id, lines)
    return summary, True


def new_order_summary(seller_code: str, order_id: int, data: OrderIn, status: str, plan, deadline, total,
                      received, customer_id, lines: list[dict]) -> dict:
    """The order as order_summary would read it back, built from what was just written."""
    return {
        "id": order_id, "seller": seller_code, "channel": data.channel, "external_id": data.external_id,
        "status": status, "warehouse": plan.warehouses[0] if plan.warehouses else None,
        "warehouses": list(plan.warehouses), "ship_by": deadline, "sourcing_reason": plan.reason,
        "total": str(total), "currency": "KZT", "received_at": received, "customer_id": customer_id,
        "delivery": {"type": data.delivery.type, "address": data.delivery.address, "city": data.delivery.city,
                     "lat": data.delivery.lat, "lon": data.delivery.lon},
        "lines": [{"id": ln["id"], "sku": ln["sku"], "quantity": ln["quantity"],
                   "unit_price": str(ln["unit_price"].quantize(CENT)), "backordered": ln["backordered"]}
                  for ln in lines],
    }


def intake_records(order_id: int, seller_id: int, actor: str, channel: str, status: str, reason: str,
                   now: datetime) -> tuple[list[dict], list[dict]]:
    """The timeline rows (None -> new -> allocated/backordered) and the outbox events of a new order,
    as records.record_transition and records.enqueue write them."""
    moves = [(None, Status.NEW.value, actor, f"received via {channel}"[:500]),
             (Status.NEW.value, status, "sourcing", reason[:500])]
    timeline = [{"order_id": order_id, "from_status": f, "to_status": to, "actor": who, "reason": why,
                 "created_at": now} for f, to, who, why in moves]
    events = [("order.status_changed", {"order_id": order_id, "from": f, "to": to, "reason": why})
              for f, to, _, why in moves] + [("order.created", {"order_id": order_id})]
    outbox = [{"topic": topic, "aggregate_id": order_id, "seller_id": seller_id, "payload": payload,
               "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
              for topic, payload in events]
    return timeline, outbox


def _record_intake(uow: UnitOfWork, order_id: int, seller_id: int, actor: str, channel: str, status: str,
                   reason: str) -> None:
    timeline, outbox = intake_records(order_id, seller_id, actor, channel, status, reason, utcnow())
    uow.execute(insert(t.order_events), timeline)
    uow.execute(insert(t.outbox), outbox)


def _lock_stock(uow: UnitOfWork, product_ids):
    """reserve.lock_stock_rows (storage rows with free units, locked in id order) with each row's warehouse."""
    w = t.warehouses.c
    q = (select(t.stock.c.id, t.stock.c.product_id, t.stock.c.warehouse_id, t.stock.c.location_id,
                t.stock.c.on_hand, t.stock.c.reserved, w.code.label("wh_code"), w.lat.label("wh_lat"),
                w.lon.label("wh_lon"), w.timezone, w.cutoff_time, w.handover_time, w.working_days)
         .join(t.locations, t.locations.c.id == t.stock.c.location_id)
         .join(t.warehouses, w.id == t.stock.c.warehouse_id)
         .where(t.stock.c.product_id.in_(list(product_ids)), t.stock.c.on_hand > t.stock.c.reserved,
                t.locations.c.kind == "storage")
         .order_by(t.stock.c.id))
    if uow.is_postgres:
        q = q.with_for_update(of=t.stock)
    return uow.execute(q).all()


def plan_calendar(rows, plan) -> Calendar | None:
    """The calendar of the first (lowest id) warehouse of the plan, from the locked rows."""
    chosen = [r for r in rows if r.wh_code in plan.warehouses]
    if not chosen:
        return None
    return calendar_of(min(chosen, key=lambda r: r.warehouse_id))


def received_utc(received_at: datetime | None, now: datetime) -> datetime:
    """A naive UTC datetime; an aware one is converted (10:30+05:00 is 05:30 UTC), a naive one is UTC."""
    if received_at is None:
        return now
    if received_at.tzinfo is not None:
        return received_at.astimezone(timezone.utc).replace(tzinfo=None)
    return received_at


def _products(uow: UnitOfWork, seller_id: int, skus: list[str]) -> dict:
    found = {r.sku: r for r in uow.execute(select(t.products.c.id, t.products.c.sku)
                                           .where(t.products.c.seller_id == seller_id, t.products.c.sku.in_(set(skus))))}
    for i, sku in enumerate(skus):
        if sku not in found:
            raise ValidationError(f"unknown SKU '{sku}' for this seller", field=f"lines[{i}].sku")
    return found


def warehouse_stock(rows) -> list[sourcing.WarehouseStock]:
    result: dict[int, sourcing.WarehouseStock] = {}
    for r in rows:
        ws = result.get(r.warehouse_id)
        if ws is None:
            ws = result[r.warehouse_id] = sourcing.WarehouseStock(r.warehouse_id, r.wh_code, r.wh_lat, r.wh_lon, {})
        ws.available[r.product_id] = ws.available.get(r.product_id, 0) + (r.on_hand - r.reserved)
    return list(result.values())


def _insert_lines(uow: UnitOfWork, order_id: int, data: OrderIn, products: dict, plan) -> list[dict]:
    """Returns the inserted lines (with their ids)."""
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
    for v, r in zip(values, ids):
        v["id"] = r.id
    return values


def spread_over_stock(plan, rows, line_ids, data: OrderIn, products) -> list[tuple[int, int, int, int]]:
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
    whs = uow.execute(select(t.warehouses).order_by(t.warehouses.c.id)).all()
    if not whs:
        return None
    chosen = [w for w in whs if w.code in plan.warehouses]
    if chosen:
        return chosen[0]
    return min(whs, key=lambda w: (sourcing.distance_km(w.lat, w.lon, lat, lon) or 0.0, w.id))


def calendar_of(w) -> Calendar | None:
    if w is None:
        return None
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
