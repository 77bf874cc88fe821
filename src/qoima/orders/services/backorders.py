"""Backorders are filled first come, first served when stock arrives."""

from __future__ import annotations

from sqlalchemy import select, update

from qoima.db import tables as t
from qoima.orders.domain.status import Status
from qoima.orders.services.records import record_transition
from qoima.stock.services.reserve import reserve_in_warehouses
from qoima.platform.unit_of_work import UnitOfWork, utcnow


def fill_backorders(uow: UnitOfWork, product_ids: list[int], actor: str) -> list[int]:
    """Reserve newly available stock for waiting order lines, oldest order first.
    Returns the ids of orders that became fully allocated."""
    if not product_ids:
        return []
    waiting = uow.execute(
        select(t.order_lines.c.id, t.order_lines.c.order_id, t.order_lines.c.product_id, t.order_lines.c.sku,
               t.order_lines.c.backordered, t.orders.c.seller_id)
        .join(t.orders, t.orders.c.id == t.order_lines.c.order_id)
        .where(t.order_lines.c.product_id.in_(product_ids), t.order_lines.c.backordered > 0,
               t.orders.c.status == Status.BACKORDERED.value)
        .order_by(t.orders.c.received_at, t.orders.c.id, t.order_lines.c.id)
    ).all()
    touched: set[int] = set()
    for line in waiting:
        got = reserve_in_warehouses(uow, order_id=line.order_id, line_id=line.id, product_id=line.product_id,
                                    quantity=line.backordered, warehouse_ids=None)
        if got:
            uow.execute(update(t.order_lines).where(t.order_lines.c.id == line.id)
                        .values(backordered=t.order_lines.c.backordered - got))
            touched.add(line.order_id)
    completed = []
    for order_id in sorted(touched):
        left = uow.execute(select(t.order_lines.c.id).where(t.order_lines.c.order_id == order_id,
                                                            t.order_lines.c.backordered > 0)).first()
        if left is None:
            seller_id = uow.execute(select(t.orders.c.seller_id).where(t.orders.c.id == order_id)).scalar_one()
            codes = uow.execute(select(t.warehouses.c.code).distinct()
                                .join(t.reservations, t.reservations.c.warehouse_id == t.warehouses.c.id)
                                .where(t.reservations.c.order_id == order_id).order_by(t.warehouses.c.code)).scalars().all()
            uow.execute(update(t.orders).where(t.orders.c.id == order_id)
                        .values(status=Status.ALLOCATED.value, warehouses=",".join(codes), updated_at=utcnow()))
            record_transition(uow, order_id, seller_id, Status.BACKORDERED.value, Status.ALLOCATED.value, actor,
                              "backorder filled: stock arrived")
            completed.append(order_id)
    return completed
