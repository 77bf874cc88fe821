"""Due today is counted in the time zone of the warehouse that ships the order, not one
time zone for all: 17:30 UTC is 22:30 in Almaty (its day ends at 19:00 UTC) and 20:30 in
Moscow (its day ends at 21:00 UTC)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select

from qoima.catalog import services as catalog
from qoima.db import tables as t
from qoima.orders.services.queries import kpis
from qoima.platform.access import SYSTEM
from qoima.platform.unit_of_work import UnitOfWork

NOW = datetime(2026, 12, 2, 17, 30)


def _order(uow, seller_id, external_id, warehouse, ship_by):
    oid = uow.execute(insert(t.orders).values(
        seller_id=seller_id, channel="api", external_id=external_id, status="allocated", delivery_type="courier",
        ship_by=ship_by, received_at=datetime(2026, 12, 2, 8, 0), updated_at=NOW).returning(t.orders.c.id)).scalar_one()
    wid = uow.execute(select(t.warehouses.c.id).where(t.warehouses.c.code == warehouse)).scalar_one()
    uow.execute(insert(t.shipments).values(order_id=oid, warehouse_id=wid, seq=1, status="allocated",
                                           created_at=NOW, updated_at=NOW))


def test_due_today_follows_each_warehouses_own_day(world):
    with UnitOfWork(world.engine) as uow:
        catalog.create_warehouse(uow, SYSTEM, code="MSK", name="Moscow", timezone="Europe/Moscow")
        codes = dict(uow.execute(select(t.warehouses.c.code, t.warehouses.c.timezone)).all())
        alma = next(c for c, tz in codes.items() if tz == "Asia/Almaty")
        sid = world.sellers["seller-a"]
        _order(uow, sid, "ALA-LATE-EVENING", alma, datetime(2026, 12, 2, 20, 0))  # 01:00 tomorrow in Almaty
        _order(uow, sid, "MSK-TONIGHT", "MSK", datetime(2026, 12, 2, 20, 0))  # 23:00 today in Moscow
        _order(uow, sid, "MSK-TOMORROW", "MSK", datetime(2026, 12, 2, 21, 30))  # 00:30 tomorrow in Moscow
        _order(uow, sid, "ALA-NOW", alma, datetime(2026, 12, 2, 18, 0))  # 23:00 today in Almaty
        uow.commit()
    with UnitOfWork(world.engine) as uow:
        figures = kpis(uow, SYSTEM, now=NOW)
    assert figures["due_today"] == 2  # MSK-TONIGHT and ALA-NOW
    assert figures["at_risk"] == 1 and figures["late"] == 0 and figures["open"] == 4
