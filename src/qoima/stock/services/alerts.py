"""Setting and clearing the low-stock alert of a SKU (one per product and warehouse, or per product for all
warehouses). The check that fires them needs the sales rate, so it lives with the orders:
orders/services/low_stock.py; the rule itself: stock/domain/low_stock.py."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from qoima.catalog.services import resolve_seller
from qoima.db import tables as t
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict, NotFound, ValidationError
from qoima.platform.unit_of_work import UnitOfWork, utcnow
from qoima.stock.domain.low_stock import setting_problem

SETTERS = ("admin", "manager", "seller")


@dataclass(frozen=True)
class AlertIn:
    sku: str
    kind: str
    value: int
    seller: str | None = None  # staff name the seller; a seller user acts for its own
    warehouse: str | None = None  # None: all warehouses together
    window_days: int = 30


def set_alert(uow: UnitOfWork, principal: Principal, data: AlertIn) -> int:
    """Create or change the alert of the SKU (and warehouse); returns its id."""
    principal.require(*SETTERS)
    problem = setting_problem(data.kind, data.value, data.window_days)
    if problem is not None:
        field, template, params = problem
        raise ValidationError(template, field=field, code=f"stock.alert_{field}", **params)
    seller = resolve_seller(uow, principal, data.seller)
    pid = uow.execute(select(t.products.c.id).where(t.products.c.seller_id == seller.id,
                                                    t.products.c.sku == data.sku)).scalar()
    if pid is None:
        raise ValidationError("unknown SKU '%(sku)s'", field="sku", code="stock.unknown_sku", sku=data.sku)
    wid = None
    if data.warehouse:
        wid = uow.execute(select(t.warehouses.c.id).where(t.warehouses.c.code == data.warehouse)).scalar()
        if wid is None:
            raise ValidationError("unknown warehouse '%(warehouse)s'", field="warehouse",
                                  code="stock.unknown_warehouse", warehouse=data.warehouse)
    scope = t.stock_alerts.c.warehouse_id.is_(None) if wid is None else t.stock_alerts.c.warehouse_id == wid
    now = utcnow()
    existing = uow.execute(select(t.stock_alerts.c.id).where(t.stock_alerts.c.product_id == pid, scope)
                           .with_for_update()).scalar()
    values = {"kind": data.kind, "value": data.value, "window_days": data.window_days, "updated_at": now}
    try:
        if existing is not None:
            uow.execute(update(t.stock_alerts).where(t.stock_alerts.c.id == existing).values(**values))
            return existing
        return uow.execute(insert(t.stock_alerts).values(seller_id=seller.id, product_id=pid, warehouse_id=wid,
                                                         created_at=now, **values)
                           .returning(t.stock_alerts.c.id)).scalar_one()
    except IntegrityError:  # the same alert set at the same moment by someone else
        raise Conflict("this alert was just set by someone else; reload the page", field="sku",
                       code="stock.alert_concurrent") from None


def clear_alert(uow: UnitOfWork, principal: Principal, alert_id: int) -> None:
    """Remove an alert; another seller's alert is a 404."""
    principal.require(*SETTERS)
    seller_id = uow.execute(select(t.stock_alerts.c.seller_id).where(t.stock_alerts.c.id == alert_id)).scalar()
    if seller_id is None or not principal.can_see(seller_id):
        raise NotFound("no alert #%(alert_id)s", field="alert", code="stock.alert_not_found", alert_id=alert_id)
    uow.execute(delete(t.stock_alerts).where(t.stock_alerts.c.id == alert_id))
