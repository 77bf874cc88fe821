"""Receiving into a warehouse whose receiving_mode is 'auto_putaway' (migration
0013): a receipt (or a transfer received) into one of its receiving locations
is put away, in the same transaction, into the warehouse's put-away cell: the
ledger gets the receipt and then the put-away (a row out of the dock and a row
into the cell, as every move). A receipt straight into a storage cell, or into
a 'reserve' warehouse, is left where it was booked (its dock stock is
reservable there, stock/services/reservable.py).

`auto_target` is asked before the receipt locks its rows, so that the cell's
rows are locked in the same statement (ascending by id) as the dock's."""

from __future__ import annotations

from sqlalchemy import select

from qoima.db import tables as t
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.services.inventory import add_on_hand, location_row, remove_on_hand
from qoima.stock.services.reservable import AUTO_PUTAWAY


def auto_target(uow: UnitOfWork, location):
    """The cell goods received into `location` are put away into at once, or None."""
    if location.kind != "receiving":
        return None
    wh = uow.execute(select(t.warehouses.c.receiving_mode, t.warehouses.c.code, t.putaway_cells.c.location_code)
                     .outerjoin(t.putaway_cells, t.putaway_cells.c.warehouse_id == t.warehouses.c.id)
                     .where(t.warehouses.c.id == location.warehouse_id)).one()
    if wh.receiving_mode != AUTO_PUTAWAY or wh.location_code is None:
        return None
    return location_row(uow, code=wh.location_code, warehouse_code=wh.code)


def put_away(uow: UnitOfWork, actor: str, dock, cell, goods: list[tuple[int, int]]) -> None:
    """Move (product_id, quantity) from the dock to the cell; the rows are locked by the caller."""
    ref = f"move:{dock.code}->{cell.code}"
    for product_id, quantity in goods:
        if quantity <= 0:
            continue
        remove_on_hand(uow, product_id=product_id, location_id=dock.id, quantity=quantity, kind="putaway",
                       actor=actor, reason="automatic put-away", reference=ref)
        add_on_hand(uow, product_id=product_id, location_id=cell.id, warehouse_id=cell.warehouse_id,
                    quantity=quantity, kind="putaway", actor=actor, reason="automatic put-away", reference=ref)
