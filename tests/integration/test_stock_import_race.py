"""The stock-count import against a stock change committed meanwhile (PostgreSQL: SQLite takes the write
lock at BEGIN, nobody else writes during an import)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from qoima.db import tables as t
from qoima.platform.access import SYSTEM, Principal
from qoima.platform.imports import ImportOptions, Upload
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.services.inventory import remove_on_hand
from qoima.stock.services.stock_import import import_stock

ADMIN = Principal(user_id=None, email="counter@qoima.local", role="admin")
HEAD = "seller,sku,warehouse,location,quantity\n"


def _stock(engine, pid: int, lid: int) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(select(t.stock.c.on_hand, t.stock.c.reserved)
                           .where(t.stock.c.product_id == pid, t.stock.c.location_id == lid)).one()
        ledger = conn.execute(select(
            func.coalesce(func.sum(t.stock_movements.c.quantity).filter(t.stock_movements.c.to_location_id == lid), 0)
            - func.coalesce(func.sum(t.stock_movements.c.quantity)
                            .filter(t.stock_movements.c.from_location_id == lid), 0))
            .where(t.stock_movements.c.product_id == pid)).scalar_one()
    return row.on_hand, ledger


def test_a_pick_committed_between_validation_and_write_is_not_lost(world):
    """The file says 12 units are on the shelf. While the import validates (having read on-hand 10), a
    picker takes 3 units and commits. The count is the truth after the import: on-hand 12, booked as one
    adjustment of +5 from the 7 that were there when the rows were locked; the ledger adds up."""
    engine = world.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes the write lock at BEGIN: nobody else can write during an import")
    with engine.connect() as conn:
        pid = conn.execute(select(t.products.c.id).where(t.products.c.sku == "SKU-1",
                                                         t.products.c.seller_id == world.sellers["seller-a"])
                           ).scalar_one()
    lid = world.locations[("ALA", "A-01")]
    assert _stock(engine, pid, lid) == (10, 10)
    picked = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "validating" and done == total and not picked:  # validated, not written yet
            with UnitOfWork(engine) as uow:  # another transaction, committed
                remove_on_hand(uow, product_id=pid, location_id=lid, quantity=3, kind="pick", actor="picker",
                               reason="pick", reference="order:1")
                uow.commit()
            picked.append(True)

    report = import_stock(engine, ADMIN, Upload((HEAD + "seller-a,SKU-1,ALA,A-01,12\n").encode(), "stock.csv"),
                          ImportOptions(progress=progress))
    assert picked and report.committed, report.errors
    on_hand, ledger = _stock(engine, pid, lid)
    assert on_hand == 12 and ledger == 12
    with engine.connect() as conn:
        adjustments = conn.execute(select(t.stock_movements.c.quantity, t.stock_movements.c.to_location_id)
                                   .where(t.stock_movements.c.kind == "adjustment")).all()
    assert [tuple(a) for a in adjustments] == [(5, lid)]
    assert report.counts["units_added"] == 5 and report.counts["units_removed"] == 0


def test_a_reservation_committed_meanwhile_refuses_a_count_below_it(world):
    """Counted 1 while validation saw nothing reserved; meanwhile an order reserves 4 there. Under the lock
    the count is below what is reserved: the import is refused with the row's line, nothing written."""
    engine = world.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes the write lock at BEGIN: nobody else can write during an import")
    from qoima.orders.schemas import OrderIn
    from qoima.orders.services.intake import create_order
    lid = world.locations[("ALA", "A-01")]
    reserved = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "validating" and done == total and not reserved:
            with UnitOfWork(engine) as uow:
                create_order(uow, SYSTEM, OrderIn.model_validate(
                    {"seller": "seller-a", "channel": "api", "external_id": "R-1", "delivery": {"lat": 43.2, "lon": 76.9},
                     "lines": [{"sku": "SKU-1", "quantity": 4, "unit_price": "10"}]}))
                uow.commit()
            reserved.append(True)

    moves = _count(engine)
    report = import_stock(engine, ADMIN, Upload((HEAD + "seller-a,SKU-1,ALA,A-01,1\n").encode(), "stock.csv"),
                          ImportOptions(progress=progress))
    assert reserved and not report.committed
    assert [(e["line"], e["field"]) for e in report.errors] == [(2, "quantity")]
    assert "reserved" in report.errors[0]["message"]
    assert _count(engine) == moves
    with engine.connect() as conn:
        row = conn.execute(select(t.stock.c.on_hand, t.stock.c.reserved).join(t.products).where(
            t.stock.c.location_id == lid, t.products.c.sku == "SKU-1",
            t.products.c.seller_id == world.sellers["seller-a"])).one()
    assert tuple(row) == (10, 4)  # the order's reservation stands, the count was not booked


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.stock_movements)).scalar_one()
