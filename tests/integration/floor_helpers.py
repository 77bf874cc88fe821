"""Shared set-up of the floor tests: orders placed through the API, a wave released, scans sent."""

from __future__ import annotations

import itertools
from decimal import Decimal

from sqlalchemy import func, select

from qoima.catalog import services as catalog
from qoima.catalog.schemas import ProductIn
from qoima.db import tables as t
from qoima.platform.access import SYSTEM
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn
from qoima.stock.services import inbound

from conftest import order_payload

_ops = itertools.count(1)
MARKED_GTIN = "04870000009046"  # check digit 6
MARKED_BARCODE = "4870000009046"


def marking_code(serial: str, gs: bool = True) -> str:
    """A marking code in the usual layout: (01) GTIN, (21) 13-character serial, GS, (91) key, GS, (92) code."""
    sep = "\x1d" if gs else ""
    return f"01{MARKED_GTIN}21{serial:<13.13}{sep}91EE11{sep}92{'A' * 44}"


def op() -> str:
    return f"op-{next(_ops)}"


def add_marked_product(engine, seller: str = "seller-a", qty: int = 5, wh: str = "ALA", loc: str = "A-02") -> None:
    with UnitOfWork(engine) as uow:
        catalog.upsert_product(uow, SYSTEM, ProductIn(seller=seller, sku="MARKED", name="Perfume", price=Decimal("10"),
                                                      barcodes=[MARKED_BARCODE], marking_required=True))
        uow.commit()
    receive(engine, seller, "MARKED", qty, wh, loc)


def receive(engine, seller: str, sku: str, qty: int, wh: str, loc: str) -> None:
    with UnitOfWork(engine) as uow:
        inbound.receive(uow, SYSTEM, ReceiptIn(seller=seller, warehouse=wh, location=loc,
                                               lines=[ReceiptLineIn(sku=sku, expected=qty, received=qty)]))
        uow.commit()


def place(client, world, external_id: str, lines) -> int:
    r = client.post("/api/v1/orders", json=order_payload(external_id, lines), headers=world.headers("seller_a"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def release(client, world, warehouse: str = "ALA") -> dict:
    r = client.post("/api/v1/floor/waves", json={"warehouse": warehouse}, headers=world.headers("manager"))
    assert r.status_code == 201, r.text
    return r.json()


def take(client, world, who: str = "worker", warehouse: str = "ALA") -> dict:
    r = client.post("/api/v1/floor/tasks/next?lang=en", json={"warehouse": warehouse}, headers=world.headers(who))
    assert r.status_code == 200, r.text
    return r.json()["task"]


def scan(client, world, task_id: int, raw: str, who: str = "worker", op_id: str | None = None, quantity: int = 1):
    r = client.post(f"/api/v1/floor/tasks/{task_id}/scans?lang=en", headers=world.headers(who),
                    json={"op_id": op_id or op(), "raw": raw, "quantity": quantity})
    assert r.status_code == 200, r.text
    return r.json()


def order_status(engine, order_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(t.orders.c.status).where(t.orders.c.id == order_id)).scalar_one()


def movements(engine, kind: str, reference: str | None = None) -> int:
    m = t.stock_movements.c
    q = select(func.coalesce(func.sum(m.quantity), 0)).where(m.kind == kind)
    if reference:
        q = q.where(m.reference == reference)
    with engine.connect() as conn:
        return conn.execute(q).scalar_one()


def on_hand(engine, seller: str, sku: str, wh: str, loc: str) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(select(t.stock.c.on_hand, t.stock.c.reserved)
                           .join(t.products, t.products.c.id == t.stock.c.product_id)
                           .join(t.locations, t.locations.c.id == t.stock.c.location_id)
                           .join(t.warehouses, t.warehouses.c.id == t.stock.c.warehouse_id)
                           .join(t.sellers, t.sellers.c.id == t.products.c.seller_id)
                           .where(t.sellers.c.code == seller, t.products.c.sku == sku, t.warehouses.c.code == wh,
                                  t.locations.c.code == loc)).first()
    return tuple(row) if row else (0, 0)
