"""The stock operations of the API and the web forms, each one transaction and
idempotent per key: a receipt, a transfer sent or received, a move (put-away)
or an adjustment retried with the same Idempotency-Key (or form operation id)
changes stock once and answers what the first request answered.

The use cases themselves live in inbound.py and inventory.py; this module only
wraps them from the outside (see platform/idempotency.py)."""

from __future__ import annotations

from sqlalchemy import Engine

from qoima.catalog.services import resolve_seller
from qoima.platform.access import Principal
from qoima.platform.idempotency import HEADER, Operation, Outcome, run_once
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.schemas import AdjustIn, MoveIn, ReceiptIn, TransferIn, TransferReceiveIn
from qoima.stock.services import inbound, inventory


def receive(engine: Engine, principal: Principal, data: ReceiptIn, key: str | None = None,
            field: str = HEADER) -> Outcome:
    """A supplier delivery booked once per key."""
    op = Operation("stock.receipt", principal, key, data.model_dump(mode="json"), field=field)
    return run_once(engine, op, lambda uow: inbound.receive(uow, principal, data))


def start_transfer(engine: Engine, principal: Principal, data: TransferIn, key: str | None = None,
                   field: str = HEADER) -> Outcome:
    op = Operation("stock.transfer", principal, key, data.model_dump(mode="json"), field=field)
    return run_once(engine, op, lambda uow: inbound.start_transfer(uow, principal, data))


def receive_transfer(engine: Engine, principal: Principal, transfer_id: int, data: TransferReceiveIn,
                     key: str | None = None, field: str = HEADER) -> Outcome:
    body = {"transfer_id": transfer_id, **data.model_dump(mode="json")}
    op = Operation("stock.transfer_receive", principal, key, body, field=field, status_code=200)
    return run_once(engine, op, lambda uow: inbound.receive_transfer(uow, principal, transfer_id, data.location))


def move(engine: Engine, principal: Principal, data: MoveIn, key: str | None = None, field: str = HEADER) -> Outcome:
    """A move between two locations of one warehouse (a put-away when it leaves receiving)."""
    op = Operation("stock.move", principal, key, data.model_dump(mode="json"), field=field)
    return run_once(engine, op, lambda uow: _move(uow, principal, data))


def adjust(engine: Engine, principal: Principal, data: AdjustIn, key: str | None = None,
           field: str = HEADER) -> Outcome:
    """A count correction (+/-) or scrap."""
    op = Operation("stock.adjustment", principal, key, data.model_dump(mode="json"), field=field)
    return run_once(engine, op, lambda uow: _adjust(uow, principal, data))


def _move(uow: UnitOfWork, principal: Principal, data: MoveIn) -> dict:
    seller = resolve_seller(uow, principal, data.seller)
    src = inventory.location_row(uow, code=data.from_location, warehouse_code=data.warehouse, field="from_location")
    dst = inventory.location_row(uow, code=data.to_location, warehouse_code=data.warehouse, field="to_location")
    inventory.move(uow, principal, seller_id=seller.id, sku=data.sku, from_location=src.id, to_location=dst.id,
                   quantity=data.quantity, reason=data.reason)
    return {"ok": True}


def _adjust(uow: UnitOfWork, principal: Principal, data: AdjustIn) -> dict:
    seller = resolve_seller(uow, principal, data.seller)
    loc = inventory.location_row(uow, code=data.location, warehouse_code=data.warehouse)
    inventory.adjust(uow, principal, seller_id=seller.id, sku=data.sku, location_id=loc.id, delta=data.delta,
                     reason=data.reason, scrap=data.scrap)
    return {"ok": True}
