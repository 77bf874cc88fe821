"""Low-stock alerts: which SKUs are low now, and the worker's check that sends `stock.low` once per crossing.

Here rather than in stock/ because days of cover needs the sales rate, read from the order lines (the
orders capability's data): units of the SKU in orders received over the alert's window, cancelled orders
left out, over all warehouses (an order is booked wherever the stock is, so the rate is the SKU's demand).
Available units are on hand less reserved, in the alert's warehouse or in all of them. The rule:
stock/domain/low_stock.py; the settings: stock/services/alerts.py.

`check` locks the alerts (in id order) so that two workers never both fire the same crossing; an event
fires when an alert goes low and the alert is re-armed when its SKU recovers.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select, update

from qoima.db import tables as t
from qoima.orders.services.records import enqueue
from qoima.platform.access import Principal
from qoima.platform.unit_of_work import UnitOfWork, utcnow
from qoima.stock.domain.low_stock import FIRE, REARM, Level, daily_rate, days_of_cover, is_low, step

log = logging.getLogger("qoima.low_stock")
CHECK_EVERY_S = 60.0  # how often the worker checks the alerts
TOPIC = "stock.low"
_last = [0.0]


def _alerts_query():
    a = t.stock_alerts
    return (select(a, t.products.c.sku, t.products.c.name, t.sellers.c.code.label("seller"),
                   t.warehouses.c.code.label("warehouse"))
            .join(t.products, t.products.c.id == a.c.product_id)
            .join(t.sellers, t.sellers.c.id == a.c.seller_id)
            .outerjoin(t.warehouses, t.warehouses.c.id == a.c.warehouse_id))


def _levels(uow: UnitOfWork, alerts: list, now: datetime) -> dict[int, Level]:
    """alert id -> Level (available units in its scope, units ordered over its window)."""
    pids = sorted({a.product_id for a in alerts})
    if not pids:
        return {}
    available: dict[tuple[int, int], int] = {}
    for r in uow.execute(select(t.stock.c.product_id, t.stock.c.warehouse_id,
                                func.sum(t.stock.c.on_hand - t.stock.c.reserved).label("free"))
                         .where(t.stock.c.product_id.in_(pids))
                         .group_by(t.stock.c.product_id, t.stock.c.warehouse_id)):
        available[(r.product_id, r.warehouse_id)] = int(r.free or 0)
    sold: dict[tuple[int, int], int] = {}
    for window in sorted({a.window_days for a in alerts}):
        since = now - timedelta(days=window)
        for r in uow.execute(select(t.order_lines.c.product_id, func.sum(t.order_lines.c.quantity).label("units"))
                             .join(t.orders, t.orders.c.id == t.order_lines.c.order_id)
                             .where(t.order_lines.c.product_id.in_(pids), t.orders.c.received_at >= since,
                                    t.orders.c.status != "cancelled")
                             .group_by(t.order_lines.c.product_id)):
            sold[(r.product_id, window)] = int(r.units or 0)
    out = {}
    for a in alerts:
        free = sum(v for (pid, wid), v in available.items()
                   if pid == a.product_id and (a.warehouse_id is None or wid == a.warehouse_id))
        out[a.id] = Level(available=free, units_sold=sold.get((a.product_id, a.window_days), 0),
                          window_days=a.window_days)
    return out


def current(uow: UnitOfWork, principal: Principal, seller_id: int | None = None,
            now: datetime | None = None) -> list[dict]:
    """Every alert the principal may see (a seller: its own; staff: all, or one seller's), with the SKU's
    available units, sales rate, days of cover and whether it is low now; the low ones first."""
    principal.require("admin", "manager", "seller")
    now = now or utcnow()
    q = _alerts_query()
    if not principal.is_staff:
        q = q.where(t.stock_alerts.c.seller_id == principal.seller_id)
    elif seller_id is not None:
        q = q.where(t.stock_alerts.c.seller_id == seller_id)
    alerts = uow.execute(q.order_by(t.stock_alerts.c.seller_id, t.products.c.sku, t.stock_alerts.c.id)).all()
    levels = _levels(uow, alerts, now)
    items = []
    for a in alerts:
        lv = levels[a.id]
        items.append({"id": a.id, "seller": a.seller, "sku": a.sku, "name": a.name, "warehouse": a.warehouse,
                      "kind": a.kind, "value": a.value, "window_days": a.window_days, "available": lv.available,
                      "daily_rate": round(daily_rate(lv.units_sold, lv.window_days), 2),
                      "days_of_cover": days_of_cover(lv), "low": is_low(a.kind, a.value, lv),
                      "last_notified_at": a.last_notified_at})
    return sorted(items, key=lambda i: not i["low"])


def check(engine: Engine, now: datetime | None = None) -> list[int]:
    """One pass over every alert: `stock.low` for each that went low (once per crossing), re-arming those
    that recovered; returns the ids of the alerts that fired."""
    now = now or utcnow()
    fired: list[int] = []
    with UnitOfWork(engine) as uow:
        alerts = uow.execute(_alerts_query().order_by(t.stock_alerts.c.id)
                             .with_for_update(of=t.stock_alerts)).all()
        levels = _levels(uow, alerts, now)
        for a in alerts:
            lv = levels[a.id]
            low = is_low(a.kind, a.value, lv)
            action = step(bool(a.is_low), low)
            if action == FIRE:
                uow.execute(update(t.stock_alerts).where(t.stock_alerts.c.id == a.id)
                            .values(is_low=True, last_notified_at=now))
                enqueue(uow, TOPIC, a.product_id, a.seller_id, {
                    "alert_id": a.id, "seller": a.seller, "sku": a.sku, "warehouse": a.warehouse, "kind": a.kind,
                    "value": a.value, "available": lv.available, "days_of_cover": days_of_cover(lv)})
                fired.append(a.id)
            elif action == REARM:
                uow.execute(update(t.stock_alerts).where(t.stock_alerts.c.id == a.id).values(is_low=False))
        uow.commit()
    return fired


def tick(engine: Engine) -> None:
    """The worker's periodic check, at most every CHECK_EVERY_S; a failure waits for the next round."""
    moment = time.monotonic()
    if moment - _last[0] < CHECK_EVERY_S:
        return
    _last[0] = moment
    try:
        fired = check(engine)
        if fired:
            log.info("low stock: %s alert(s) fired", len(fired))
    except Exception:  # noqa: BLE001 - housekeeping must not stop the worker
        log.exception("the low-stock check failed")
