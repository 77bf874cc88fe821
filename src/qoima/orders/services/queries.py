"""Reading orders: the one-window list with filters, an order with its timeline, SLA KPIs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select

from qoima.db import tables as t
from qoima.orders.domain import reasons
from qoima.orders.domain.redaction import redact_order
from qoima.orders.domain.status import OPEN
from qoima.catalog.domain.calendar import local_day_bounds
from qoima.platform import roles
from qoima.platform.access import Principal
from qoima.orders.services import shipments
from qoima.orders.services.intake import order_summary
from qoima.orders.services.lifecycle import load_order
from qoima.platform.unit_of_work import UnitOfWork, utcnow

AT_RISK_WINDOW = timedelta(hours=2)


def list_orders(uow: UnitOfWork, principal: Principal, *, status: str | None = None, seller: str | None = None,
                channel: str | None = None, warehouse: str | None = None, q: str | None = None,
                late: bool | None = None, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
    base = (select(t.orders.c.id, t.orders.c.external_id, t.orders.c.channel, t.orders.c.status,
                   t.orders.c.ship_by, t.orders.c.received_at, t.orders.c.total,
                   t.orders.c.city, t.sellers.c.code.label("seller"), t.customers.c.name.label("customer"))
            .join(t.sellers, t.sellers.c.id == t.orders.c.seller_id)
            .outerjoin(t.customers, t.customers.c.id == t.orders.c.customer_id))
    if not principal.is_staff:
        base = base.where(t.orders.c.seller_id == principal.seller_id)
    if status:
        base = base.where(t.orders.c.status.in_(status.split(",")))
    if seller:
        base = base.where(t.sellers.c.code == seller)
    if channel:
        base = base.where(t.orders.c.channel == channel)
    if warehouse:
        base = base.where(shipments.ships_from(warehouse))
    if q:
        like = f"%{q}%"
        if roles.may(principal.role, roles.SEE_CONTACTS):
            base = base.where(or_(t.orders.c.external_id.ilike(like), t.customers.c.name.ilike(like),
                                  t.customers.c.phone.ilike(like)))
        else:  # searching by name or phone would tell the floor who bought what
            base = base.where(t.orders.c.external_id.ilike(like))
    if late:
        base = base.where(t.orders.c.status.in_([s.value for s in OPEN]), t.orders.c.ship_by < utcnow())
    total = uow.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = uow.execute(base.order_by(t.orders.c.id.desc()).limit(limit).offset(offset)).all()
    codes = shipments.codes(uow, [r.id for r in rows])
    return [redact_order({**dict(r._mapping), "total": str(r.total), "warehouses": codes[r.id]}, principal.role)
            for r in rows], total


def get_order(uow: UnitOfWork, principal: Principal, order_id: int) -> dict:
    order = load_order(uow, principal, order_id)
    data = reasons.with_code(order_summary(uow, order.id), "sourcing_reason")
    data["timeline"] = [reasons.with_code(dict(e._mapping), "reason") for e in uow.execute(
        select(t.order_events.c.from_status, t.order_events.c.to_status, t.order_events.c.actor,
               t.order_events.c.reason, t.order_events.c.created_at)
        .where(t.order_events.c.order_id == order.id).order_by(t.order_events.c.id))]
    if order.customer_id:
        c = uow.execute(select(t.customers).where(t.customers.c.id == order.customer_id)).one()
        data["customer"] = {"id": c.id, "name": c.name, "phone": c.phone, "email": c.email, "language": c.language,
                            "preferred_channel": c.preferred_channel}
    data["reservations"] = [dict(r._mapping) for r in uow.execute(
        select(t.order_lines.c.sku, t.warehouses.c.code.label("warehouse"), t.locations.c.code.label("location"),
               t.reservations.c.quantity)
        .join(t.order_lines, t.order_lines.c.id == t.reservations.c.order_line_id)
        .join(t.stock, t.stock.c.id == t.reservations.c.stock_id)
        .join(t.locations, t.locations.c.id == t.stock.c.location_id)
        .join(t.warehouses, t.warehouses.c.id == t.stock.c.warehouse_id)
        .where(t.reservations.c.order_id == order.id).order_by(t.reservations.c.id))]
    data["shipped_at"], data["delivered_at"] = order.shipped_at, order.delivered_at
    return redact_order(data, principal.role)


def kpis(uow: UnitOfWork, principal: Principal, now: datetime | None = None, days: int = 30) -> dict:
    """Due today / at risk / late (open orders) and, over the last `days`: same-day ship
    rate (shipped no later than the ship-by deadline of its day) and average hours
    from received to shipped."""
    now = now or utcnow()
    scope = [] if principal.is_staff else [t.orders.c.seller_id == principal.seller_id]
    open_states = [s.value for s in OPEN]
    o = t.orders.c
    open_row = uow.execute(select(
        func.sum(case((and_(o.ship_by >= now, o.ship_by < now + AT_RISK_WINDOW), 1), else_=0)),
        func.sum(case((o.ship_by < now, 1), else_=0)),
        func.count()).where(o.status.in_(open_states), *scope)).one()
    due_today = _due_today(uow, now, [o.status.in_(open_states), *scope])
    since = now - timedelta(days=days)
    shipped = uow.execute(select(o.received_at, o.shipped_at, o.ship_by).where(
        o.shipped_at.is_not(None), o.shipped_at >= since, *scope)).all()
    on_time = sum(1 for r in shipped if r.ship_by is None or r.shipped_at <= r.ship_by)
    hours = [(r.shipped_at - r.received_at).total_seconds() / 3600 for r in shipped]
    by_state = dict(uow.execute(select(o.status, func.count()).where(*scope).group_by(o.status)).all())
    return {
        "due_today": due_today, "at_risk": int(open_row[0] or 0), "late": int(open_row[1] or 0),
        "open": int(open_row[2] or 0), "shipped_last_days": len(shipped), "days": days,
        "same_day_ship_rate": round(on_time / len(shipped), 4) if shipped else None,
        "avg_hours_received_to_shipped": round(sum(hours) / len(hours), 2) if hours else None,
        "orders_by_status": by_state,
    }


def _due_today(uow: UnitOfWork, now: datetime, where: list) -> int:
    """Open orders whose ship-by falls before the end of today in the time zone of the warehouse that
    ships them (its first shipment's warehouse; the first warehouse's for an order not sourced yet).
    A local day ends at most 26 hours from now anywhere, so only those deadlines are read."""
    zones = {r.code: r.timezone for r in uow.execute(select(t.warehouses.c.code, t.warehouses.c.timezone)
                                                      .order_by(t.warehouses.c.id))}
    fallback = next(iter(zones.values()), "Asia/Almaty")
    ends = {tz: local_day_bounds(now, tz)[1] for tz in set(zones.values()) | {fallback}}
    o = t.orders.c
    first = (select(t.warehouses.c.code).join(t.shipments, t.shipments.c.warehouse_id == t.warehouses.c.id)
             .where(t.shipments.c.order_id == t.orders.c.id, t.shipments.c.seq == 1).scalar_subquery())
    rows = uow.execute(select(o.ship_by, first.label("code")).where(
        o.ship_by >= now, o.ship_by < now + timedelta(hours=26), *where)).all()
    due = 0
    for r in rows:
        if r.ship_by < ends[zones.get(r.code, fallback)]:
            due += 1
    return due
