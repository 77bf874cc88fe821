"""Shipments: what each warehouse ships of an order (order, warehouse, seq, status).

An order sourced from two warehouses has two shipments; seq 1 is the plan's first
warehouse (the one whose calendar sets ship-by). Intake writes them with the order
(every writer, from `Booking.shipment_values`); re-sourcing and backorder fill
replace them. On the floor each shipment walks on its own -- its wave releases it, its
pick lines done make it picked, its packing packed, its manifest shipped (`advance`) -- and the
order is where its least advanced shipment is (`status.order_status_of_shipments`); a status move
of the whole order brings the shipments behind it along (`follow`, `status.shipments_follow`: a hold
or an exception leaves them where they were). The floor, carriers and returns hang parcels, waybills
and tracking on them."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import delete, insert, select, update

from qoima.db import tables as t
from qoima.orders.domain.status import order_status_of_shipments, shipments_follow
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
    """The order moved to `order_status`: its shipments follow (`status.shipments_follow`)."""
    rows = uow.execute(select(s.c.id, s.c.status).where(s.c.order_id == order_id).order_by(s.c.seq)).all()
    now = at or utcnow()
    for (sid, _), new in zip(rows, shipments_follow(order_status, [r.status for r in rows])):
        if new is not None:
            uow.execute(update(s).where(s.c.id == sid).values(status=new, updated_at=now))


def advance(uow: UnitOfWork, shipment_id: int, status: str, at: datetime | None = None) -> str | None:
    """One shipment moved on the floor (released, picked, packed, handed over). Returns the status its
    order is at now by its shipments (`status.order_status_of_shipments`; None: not decided by them)."""
    uow.execute(update(s).where(s.c.id == shipment_id).values(status=status, updated_at=at or utcnow()))
    order_id = uow.execute(select(s.c.order_id).where(s.c.id == shipment_id)).scalar_one()
    return floor_status(uow, order_id)


def floor_status(uow: UnitOfWork, order_id: int) -> str | None:
    """Where the order is by its shipments (None: no shipments, or one off the floor's steps)."""
    got = order_status_of_shipments(uow.execute(select(s.c.status).where(s.c.order_id == order_id)).scalars().all())
    return None if got is None else got.value


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
