from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from qoima.stock.services import inbound, inventory
from qoima.catalog.services import resolve_seller
from qoima.stock.schemas import ReceiptIn, TransferIn
from qoima.platform.unit_of_work import UnitOfWork, run
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep

router = APIRouter(prefix="/api/v1", tags=["stock"])


@router.get("/stock", summary="On hand, reserved and available per SKU per location")
def stock(engine: EngineDep, principal: PrincipalDep, seller: str | None = None, warehouse: str | None = None,
          sku: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
          offset: Annotated[int, Query(ge=0)] = 0):
    with UnitOfWork(engine) as uow:
        seller_id = resolve_seller(uow, principal, seller).id if seller else None
        items = inventory.stock_levels(uow, principal, seller_id=seller_id, warehouse=warehouse, sku=sku,
                                       limit=limit, offset=offset)
    return {"items": items, "limit": limit, "offset": offset}


@router.post("/receipts", status_code=201, summary="Book a supplier delivery (expected vs received)")
def receipt(data: ReceiptIn, engine: EngineDep, principal: PrincipalDep):
    return run(engine, lambda uow: inbound.receive(uow, principal, data))


@router.post("/transfers", status_code=201, summary="Send stock to another warehouse (in transit)")
def transfer(data: TransferIn, engine: EngineDep, principal: PrincipalDep):
    return run(engine, lambda uow: inbound.start_transfer(uow, principal, data))


class TransferReceiveIn(BaseModel):
    location: str


@router.post("/transfers/{transfer_id}/receive")
def transfer_receive(transfer_id: int, data: TransferReceiveIn, engine: EngineDep, principal: PrincipalDep):
    return run(engine, lambda uow: inbound.receive_transfer(uow, principal, transfer_id, data.location))


class MoveIn(BaseModel):
    seller: str | None = None
    sku: str
    warehouse: str
    from_location: str
    to_location: str
    quantity: int = Field(gt=0)
    reason: str = ""


@router.post("/moves", status_code=201, summary="Move stock between locations of one warehouse (put-away)")
def move(data: MoveIn, engine: EngineDep, principal: PrincipalDep):
    def use_case(uow):
        seller = resolve_seller(uow, principal, data.seller)
        src = inventory.location_row(uow, code=data.from_location, warehouse_code=data.warehouse, field="from_location")
        dst = inventory.location_row(uow, code=data.to_location, warehouse_code=data.warehouse, field="to_location")
        inventory.move(uow, principal, seller_id=seller.id, sku=data.sku, from_location=src.id, to_location=dst.id,
                       quantity=data.quantity, reason=data.reason)
    run(engine, use_case)
    return {"ok": True}


class AdjustIn(BaseModel):
    seller: str | None = None
    sku: str
    warehouse: str
    location: str
    delta: int
    reason: str
    scrap: bool = False


@router.post("/adjustments", status_code=201, summary="Correct a count (+/-) or scrap, with a reason")
def adjust(data: AdjustIn, engine: EngineDep, principal: PrincipalDep):
    def use_case(uow):
        seller = resolve_seller(uow, principal, data.seller)
        loc = inventory.location_row(uow, code=data.location, warehouse_code=data.warehouse)
        inventory.adjust(uow, principal, seller_id=seller.id, sku=data.sku, location_id=loc.id, delta=data.delta,
                         reason=data.reason, scrap=data.scrap)
    run(engine, use_case)
    return {"ok": True}
