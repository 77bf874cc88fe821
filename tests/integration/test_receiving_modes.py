"""The receiving mode of a warehouse (migration 0013) through the services, on SQLite and
PostgreSQL: re-sourcing reads the docks as intake does; an 'auto_putaway' dock shows nothing
available; a transfer received into such a dock is put away at once; a move carries the
reservations of orders not being picked and refuses, with the numbers, those being picked."""

from __future__ import annotations

import pytest
from conftest import order_payload
from sqlalchemy import select
from test_stock_ledger import assert_ledger_consistent, drain_outbox, level, movements, run

from qoima.db import tables as t
from qoima.orders.schemas import OrderIn
from qoima.orders.services import lifecycle, resourcing
from qoima.orders.services.intake import submit_order
from qoima.platform.errors import Conflict, ValidationError
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn, ReceivingModeIn, TransferIn, TransferLineIn
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.services import inbound, inventory, stock_work


def place(world, external_id: str, lines) -> dict:
    return submit_order(world.engine, world.principals["seller_a"], OrderIn(**order_payload(external_id, lines)))[0]


def on_dock(world, sku: str, qty: int, wh: str = "ALA") -> dict:
    return run(world.engine, inbound.receive, world.principals["worker"], ReceiptIn(
        seller="seller-a", warehouse=wh, location="RCV", lines=[ReceiptLineIn(sku=sku, expected=qty, received=qty)]))


def set_mode(world, wh: str, mode: str, cell: str | None = None) -> dict:
    return run(world.engine, stock_work.set_receiving_mode, world.principals["manager"],
               ReceivingModeIn(warehouse=wh, mode=mode, cell=cell))


def test_resourcing_reads_a_reserve_dock_and_not_an_auto_putaway_one(world):
    eng, manager = world.engine, world.principals["manager"]
    on_dock(world, "SKU-3", 2, wh="AST")  # on AST's dock, then AST turns to automatic put-away
    set_mode(world, "AST", "auto_putaway", "A-01")
    drain_outbox(eng)
    order = place(world, "RS-1", [("SKU-3", 6)])  # 3 in AST A-01, 2 in ALA A-01: 1 short, the dock not read
    assert order["status"] == "backordered"
    done = run(eng, resourcing.resource, manager, order["id"])
    assert done.status == "backordered" and level(eng, "seller-a", "SKU-3", "AST", "RCV") == (2, 0)
    set_mode(world, "AST", "reserve")  # the dock becomes reservable: its stock.changed fills the backorder
    drain_outbox(eng)
    with eng.connect() as conn:
        status = conn.execute(select(t.orders.c.status).where(t.orders.c.id == order["id"])).scalar_one()
    assert status == "allocated" and level(eng, "seller-a", "SKU-3", "AST", "RCV") == (2, 1)
    done = run(eng, resourcing.resource, manager, order["id"])  # and re-sourcing reads it as intake does
    assert done.status == "allocated"
    assert_ledger_consistent(eng)


def test_an_auto_putaway_dock_shows_nothing_available_and_a_transfer_is_put_away(world):
    eng, worker = world.engine, world.principals["worker"]
    with pytest.raises(ValidationError) as exc:
        set_mode(world, "AST", "auto_putaway")
    assert exc.value.field == "cell"
    set_mode(world, "AST", "auto_putaway", "A-02")
    tr = run(eng, inbound.start_transfer, worker, TransferIn(seller="seller-a", from_warehouse="ALA",
                                                            to_warehouse="AST",
                                                            lines=[TransferLineIn(sku="SKU-1", quantity=2,
                                                                                  from_location="A-01")]))
    run(eng, inbound.receive_transfer, worker, tr["id"], "RCV")
    assert level(eng, "seller-a", "SKU-1", "AST", "RCV") == (0, 0)
    assert level(eng, "seller-a", "SKU-1", "AST", "A-02") == (2, 0)
    kinds = [m.kind for m in movements(eng)][-3:]
    assert kinds == ["transfer_in", "putaway", "putaway"]
    with eng.begin() as conn:  # stock left on the dock (booked before the mode changed)
        conn.execute(t.warehouses.update().where(t.warehouses.c.code == "AST").values(receiving_mode="reserve"))
    on_dock(world, "SKU-3", 2, wh="AST")
    with eng.begin() as conn:
        conn.execute(t.warehouses.update().where(t.warehouses.c.code == "AST").values(receiving_mode="auto_putaway"))
    with UnitOfWork(eng) as uow:
        rows = inventory.stock_levels(uow, world.principals["worker"], warehouse="AST", sku="SKU-3")
    dock = [r for r in rows if r["location"] == "RCV"]
    assert dock and dock[0]["on_hand"] == 2 and dock[0]["available"] == 0
    assert_ledger_consistent(eng)


def test_a_move_carries_holds_of_orders_not_picked_and_refuses_those_being_picked(world):
    eng, worker = world.engine, world.principals["worker"]
    first = place(world, "MV-1", [("SKU-2", 6)])  # 5 in AST, waits for 1
    second = place(world, "MV-2", [("SKU-2", 2)])
    drain_outbox(eng)
    on_dock(world, "SKU-2", 3, wh="ALA")
    drain_outbox(eng)
    assert level(eng, "seller-a", "SKU-2", "ALA", "RCV") == (3, 3)  # 1 for MV-1, 2 for MV-2
    run(eng, lifecycle.transition, worker, second["id"], "picking")
    loc = world.locations
    with pytest.raises(Conflict) as exc:
        run(eng, inventory.move, worker, seller_id=world.sellers["seller-a"], sku="SKU-2",
            from_location=loc[("ALA", "RCV")], to_location=loc[("ALA", "A-01")], quantity=3)
    assert exc.value.field == "quantity" and exc.value.extra["movable"] == 1 and exc.value.extra["stuck"] == 2
    run(eng, inventory.move, worker, seller_id=world.sellers["seller-a"], sku="SKU-2",
        from_location=loc[("ALA", "RCV")], to_location=loc[("ALA", "A-01")], quantity=1)
    assert level(eng, "seller-a", "SKU-2", "ALA", "A-01") == (1, 1)  # MV-1's unit went with the goods
    run(eng, lifecycle.transition, worker, second["id"], "picked")  # picked from the dock, where it was
    assert level(eng, "seller-a", "SKU-2", "ALA", "RCV") == (0, 0)
    with eng.connect() as conn:
        held = conn.execute(select(t.reservations.c.stock_id, t.reservations.c.quantity)
                            .where(t.reservations.c.order_id == first["id"])).all()
    assert sum(q for _s, q in held) == 6
    assert_ledger_consistent(eng)
