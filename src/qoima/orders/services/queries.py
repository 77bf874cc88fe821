"""Reading orders: the one-window list with filters, an order with its timeline, SLA KPIs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select

from qoima.db import tables as t
from qoima.orders.domain import reasons
from qoima.orders.domain.redaction import redact_order
from qoima.orders.domain.search import classify
from qoima.orders.domain.status import OPEN, Status
from qoima.catalog.domain.calendar import local_day_bounds
from qoima.platform import roles
from qoima.platform.access import Principal
from qoima.orders.services import shipments
from qoima.orders.services.intake import order_summary
from qoima.orders.services.lifecycle import load_order
from qoima.orders.services.search import order_match
from qoima.platform.unit_of_work import UnitOfWork, utcnow

AT_RISK_WINDOW = timedelta(hours=2)
DAY_HORIZON = timedelta(hours=26)  # a local day ends at most 26 hours from now anywhere
VIEWS = ("open", "due_today", "at_risk", "late")
"""The shift views of the orders list, each exactly what the dashboard tile of the same name counts."""
SORTS = ("ship_by", "received", "status")
"""Sort keys of the orders list; "-key" sorts descending. Besides: SHIFT, the console's default (open orders
first, soonest ship-by first, then the history newest first), and NEWEST (newest first: the API's default)."""
SHIFT, NEWEST = "shift", "newest"
DELIVERY_TYPES = ("courier", "pickup_point", "self_pickup")


@dataclass(frozen=True)
class OrderFilter:
    """What the orders list shows: filters (None: any), a shift view (VIEWS), the sort (SORTS) and the page."""
    status: str | None = None  # one status or several, comma-separated
    seller: str | None = None
    channel: str | None = None
    warehouse: str | None = None  # ships from it (shipments)
    delivery: str | None = None  # DELIVERY_TYPES
    q: str | None = None  # the search rules: orders/domain/search.py
    view: str | None = None
    late: bool | None = None  # the API's ?late=true: the same as view="late"
    sort: str = NEWEST
    limit: int = 50
    offset: int = 0


def view_clause(uow: UnitOfWork, view: str, now: datetime) -> list:
    """The one rule for the shift views and the dashboard KPIs: the conditions an order meets to be
    open / due today / at risk / late at `now` (see kpis)."""
    o = t.orders.c
    open_ = o.status.in_([s.value for s in OPEN])
    if view == "open":
        return [open_]
    if view == "late":
        return [open_, o.ship_by < now]
    if view == "at_risk":
        return [open_, o.ship_by >= now, o.ship_by < now + AT_RISK_WINDOW]
    if view == "due_today":
        return [open_, o.ship_by >= now, o.ship_by < now + DAY_HORIZON, _ends_today(uow, now)]
    raise ValueError(f"unknown view {view!r}")


def _ends_today(uow: UnitOfWork, now: datetime):
    """Ship-by before the end of today in the time zone of the warehouse that ships the order (its first
    shipment's warehouse; the first warehouse's for an order not sourced yet)."""
    zones = [r.timezone for r in uow.execute(select(t.warehouses.c.timezone).order_by(t.warehouses.c.id))]
    fallback = zones[0] if zones else "Asia/Almaty"
    tz = func.coalesce(
        select(t.warehouses.c.timezone).join(t.shipments, t.shipments.c.warehouse_id == t.warehouses.c.id)
        .where(t.shipments.c.order_id == t.orders.c.id, t.shipments.c.seq == 1).scalar_subquery(), fallback)
    return or_(*[and_(tz == zone, t.orders.c.ship_by < local_day_bounds(now, zone)[1])
                 for zone in sorted(set(zones) | {fallback})])


def _order_by(sort: str | None) -> list:
    o = t.orders.c
    key, desc = (sort or "").lstrip("-"), (sort or "").startswith("-")
    if key == "ship_by":
        return [(o.ship_by.desc().nulls_last() if desc else o.ship_by.asc().nulls_last()), o.id.desc()]
    if key == "received":
        return [(o.received_at.desc() if desc else o.received_at.asc()), o.id.desc()]
    if key == NEWEST:
        return [o.id.desc()]
    if key == "status":
        rank = case({s.value: n for n, s in enumerate(Status)}, value=o.status, else_=len(Status))
        return [(rank.desc() if desc else rank.asc()), o.ship_by.asc().nulls_last(), o.id.desc()]
    open_ = o.status.in_([s.value for s in OPEN])  # the shift's default: what is still to ship, soonest first
    return [case((open_, 0), else_=1), case((open_, o.ship_by), else_=None).asc().nulls_last(),
            o.received_at.desc(), o.id.desc()]


def _page_ids(uow: UnitOfWork, where: list, f: OrderFilter) -> list[int]:
    """The shift order's page in two index-friendly parts: the open orders by ship-by (few), then the
    history newest first (read backwards along received_at) — the same order as _order_by(SHIFT)."""
    o = t.orders.c
    open_ = o.status.in_([s.value for s in OPEN])
    n_open = uow.execute(select(func.count()).select_from(t.orders).where(open_, *where)).scalar_one()
    ids: list[int] = []
    if f.offset < n_open:
        ids = list(uow.execute(select(o.id).where(open_, *where).order_by(o.ship_by.asc().nulls_last(), o.id.desc())
                               .limit(f.limit).offset(f.offset)).scalars())
    if len(ids) < f.limit:
        ids += list(uow.execute(select(o.id).where(~open_, *where).order_by(o.received_at.desc(), o.id.desc())
                                .limit(f.limit - len(ids)).offset(max(0, f.offset - n_open))).scalars())
    return ids


def list_orders(uow: UnitOfWork, principal: Principal, f: OrderFilter | None = None, now: datetime | None = None,
                **filters) -> tuple[list[dict], int]:
    """One page of orders (filters: OrderFilter's fields, as an OrderFilter or keywords) and the total."""
    f = f or OrderFilter(**filters)
    now = now or utcnow()
    o = t.orders.c
    where = [] if principal.is_staff else [o.seller_id == principal.seller_id]
    if f.status:
        where.append(o.status.in_(f.status.split(",")))
    if f.seller:
        where.append(o.seller_id == select(t.sellers.c.id).where(t.sellers.c.code == f.seller).scalar_subquery())
    if f.channel:
        where.append(o.channel == f.channel)
    if f.warehouse:
        where.append(shipments.ships_from(f.warehouse))
    if f.delivery:
        where.append(o.delivery_type == f.delivery)
    if f.q:
        sq = classify(f.q)
        if not sq.empty:
            where.append(order_match(sq, roles.may(principal.role, roles.SEE_CONTACTS)))
    for view in {f.view, "late" if f.late else None} & set(VIEWS):
        where.extend(view_clause(uow, view, now))
    # the page's ids from the orders table alone (a narrow sort), then their rows with seller and buyer
    total = uow.execute(select(func.count()).select_from(t.orders).where(*where)).scalar_one()
    ids = _page_ids(uow, where, f) if f.sort in (SHIFT, None, "") else list(uow.execute(
        select(o.id).where(*where).order_by(*_order_by(f.sort)).limit(f.limit).offset(f.offset)).scalars())
    rows = {r.id: r for r in uow.execute(
        select(o.id, o.external_id, o.channel, o.status, o.ship_by, o.received_at, o.total, o.delivery_type, o.city,
               t.sellers.c.code.label("seller"), t.customers.c.name.label("customer"))
        .join(t.sellers, t.sellers.c.id == o.seller_id).outerjoin(t.customers, t.customers.c.id == o.customer_id)
        .where(o.id.in_(ids)))} if ids else {}
    codes = shipments.codes(uow, ids)
    return [redact_order({**dict(rows[i]._mapping), "total": str(rows[i].total), "warehouses": codes[i]},
                         principal.role) for i in ids], total


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
    o = t.orders.c
    counts = {view: uow.execute(select(func.count()).select_from(t.orders).where(
        *view_clause(uow, view, now), *scope)).scalar_one() for view in VIEWS}
    since = now - timedelta(days=days)
    shipped = uow.execute(select(o.received_at, o.shipped_at, o.ship_by).where(
        o.shipped_at.is_not(None), o.shipped_at >= since, *scope)).all()
    on_time = sum(1 for r in shipped if r.ship_by is None or r.shipped_at <= r.ship_by)
    hours = [(r.shipped_at - r.received_at).total_seconds() / 3600 for r in shipped]
    by_state = dict(uow.execute(select(o.status, func.count()).where(*scope).group_by(o.status)).all())
    return {
        "due_today": counts["due_today"], "at_risk": counts["at_risk"], "late": counts["late"],
        "open": counts["open"], "shipped_last_days": len(shipped), "days": days,
        "same_day_ship_rate": round(on_time / len(shipped), 4) if shipped else None,
        "avg_hours_received_to_shipped": round(sum(hours) / len(hours), 2) if hours else None,
        "orders_by_status": by_state,
    }

