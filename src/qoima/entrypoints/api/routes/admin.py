from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from qoima.db import tables as t
from qoima.platform import auth
from qoima.platform.errors import NotFound
from qoima.catalog import services as catalog
from qoima.platform.unit_of_work import UnitOfWork
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep
from qoima.entrypoints.api.errors import COMMON, problems
from qoima.catalog.schemas import SellerIn
from qoima.platform.bounds import Text
from qoima.platform.schemas import UserIn

router = APIRouter(prefix="/api/v1", tags=["admin"], responses=COMMON)


@router.get("/sellers")
def sellers(engine: EngineDep, principal: PrincipalDep):
    q = select(t.sellers.c.id, t.sellers.c.code, t.sellers.c.name).order_by(t.sellers.c.code)
    if not principal.is_staff:
        q = q.where(t.sellers.c.id == principal.seller_id)
    with UnitOfWork(engine) as uow:
        return {"items": [dict(r._mapping) for r in uow.execute(q)]}


@router.post("/sellers", status_code=201, responses=problems(409))
def create_seller(data: SellerIn, engine: EngineDep, principal: PrincipalDep):
    """The seller's `webhook_secret` (its webhooks are signed with it) is in this answer only."""
    with UnitOfWork(engine) as uow:
        sid = catalog.create_seller(uow, principal, data.code, data.name, data.webhook_url)
        secret = catalog.rotate_webhook_secret(uow, principal, sid)
        uow.commit()
    return {"id": sid, "code": data.code, "webhook_secret": secret}


@router.post("/sellers/{code}/webhook-secret", summary="A new webhook signing secret (shown once)",
             responses=problems(404))
def rotate_webhook_secret(code: Text(40), engine: EngineDep, principal: PrincipalDep):
    """Admins and managers: the seller's webhooks are signed with the new secret from now on;
    the old one stops working at once. The secret is in this answer only."""
    principal.require("admin", "manager")
    with UnitOfWork(engine) as uow:
        sid = uow.execute(select(t.sellers.c.id).where(t.sellers.c.code == code)).scalar()
        if sid is None:
            raise NotFound("no seller '%(seller)s'", field="code", code="catalog.no_seller", seller=code)
        secret = catalog.rotate_webhook_secret(uow, principal, sid)
        uow.commit()
    return {"seller": code, "webhook_secret": secret}


@router.get("/warehouses")
def warehouses(engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        whs = [dict(r._mapping) for r in uow.execute(select(t.warehouses).order_by(t.warehouses.c.code))]
    return {"items": whs}


@router.post("/users", status_code=201, responses=problems(409))
def create_user(data: UserIn, engine: EngineDep, principal: PrincipalDep):
    principal.require("admin")
    with UnitOfWork(engine) as uow:
        seller_id = None
        if data.seller:
            seller_id = uow.execute(select(t.sellers.c.id).where(t.sellers.c.code == data.seller)).scalar()
            if seller_id is None:
                from qoima.platform.errors import ValidationError
                raise ValidationError("unknown seller '%(seller)s'", field="seller", code="catalog.unknown_seller",
                                      seller=data.seller)
        uid = auth.create_user(uow, email=data.email, password=data.password, role=data.role, seller_id=seller_id,
                               full_name=data.full_name)
        uow.commit()
    return {"id": uid}
