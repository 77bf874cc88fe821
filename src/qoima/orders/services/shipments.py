"""Shipments: what each warehouse ships of an order (order, warehouse, seq, status).

An order sourced from two warehouses has two shipments; seq 1 is the plan's first
warehouse (the one whose calendar sets ship-by). Intake writes them with the order
(every writer, from `Booking.shipment_values`); re-sourcing and backorder fill
replace them; every status move of the order moves them along
(`status.shipment_status`: a hold or an exception leaves them where they were).
The floor, carriers and returns hang parcels, waybills and tracking on them."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import delete, insert, select, update

from qoima.db import tables as t
from qoima.orders.domain.status import shipment_status
from qoima.platform.unit_of_work import UnitOfWork, utcnow

s = t.shipments


def replace(uow: UnitOfWork, order_id: int, warehouse_ids: Sequence[int], status: str,
            at: datetime | None = None) -> None:
    """The order is shipped from these warehouses now (in this order). Only before picking
    (re-sourcing, backorder fill), so nothing hangs on the rows yet."""
    now = at or utcnow()
    uow.execute(delete(s).where(s.c.order_id == order_id))
    if warehouse_ids:
        uow.execute(insert(s), [{"order_id": order_id, "warehouse_id": wid, "seq": n, "status": status,
                                 "created_at": now, "updated_at": now}
                                for n, wid in enumerate(warehouse_ids, start=1)])


def follow(uow: UnitOfWork, order_id: int, order_status: str, at: datetime | None = None) -> None:
    """The order moved to `order_status`: its shipments follow (unless it was paused)."""
    new = shipment_status(order_status)
    if new is not None:
        uow.execute(update(s).where(s.c.order_id == order_id, s.c.status != new)
                    .values(status=new, updated_at=at or utcnow()))


def warehouse_ids(uow: UnitOfWork, order_id: int) -> list[int]:
    """The order's shipping warehouses, seq order."""
    return list(uow.execute(select(s.c.warehouse_id).where(s.c.order_id == order_id).order_by(s.c.seq)).scalars())


def codes(uow: UnitOfWork, order_ids: Iterable[int]) -> dict[int, list[str]]:
    """Warehouse codes of each order's shipments, seq order (orders without shipments: [])."""
    ids = list(dict.fromkeys(order_ids))
    out: dict[int, list[str]] = {i: [] for i in ids}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for oid, code in uow.execute(select(s.c.order_id, t.warehouses.c.code)
                                     .join(t.warehouses, t.warehouses.c.id == s.c.warehouse_id)
                                     .where(s.c.order_id.in_(chunk)).order_by(s.c.order_id, s.c.seq)):
            out[oid].append(code)
    return out


def ships_from(code: str):
    """A WHERE clause: the order has a shipment from the warehouse with this code."""
    return (select(s.c.id).join(t.warehouses, t.warehouses.c.id == s.c.warehouse_id)
            .where(s.c.order_id == t.orders.c.id, t.warehouses.c.code == code).exists())
