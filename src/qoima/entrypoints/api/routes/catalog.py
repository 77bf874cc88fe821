from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from qoima.catalog import services as catalog
from qoima.catalog.services import products as product_service
from qoima.catalog.schemas import ProductIn
from qoima.platform.unit_of_work import UnitOfWork
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep
from qoima.entrypoints.api.errors import COMMON, problems
from qoima.platform.bounds import Id64, Offset, SafeQuery

router = APIRouter(prefix="/api/v1", tags=["catalog"], responses=COMMON)


@router.get("/products")
def products(engine: EngineDep, principal: PrincipalDep, seller: SafeQuery | None = None, q: SafeQuery | None = None,
             limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0):
    with UnitOfWork(engine) as uow:
        items, total = catalog.list_products(uow, principal, seller=seller, q=q, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/products", status_code=201, summary="Create or update a product (by seller and SKU)",
             responses=problems(409))
def upsert(data: ProductIn, engine: EngineDep, principal: PrincipalDep, response: Response):
    with UnitOfWork(engine) as uow:
        pid, created = catalog.upsert_product(uow, principal, data)
        uow.commit()
    if not created:
        response.status_code = 200
    return {"id": pid, "sku": data.sku, "created": created}


@router.get("/products/{product_id}", summary="One product with its barcodes", responses=problems(404))
def product(product_id: Id64, engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        return product_service.get_product(uow, principal, product_id)


@router.put("/products/{product_id}", summary="Edit a product (its seller stays)", responses=problems(404, 409))
def edit(product_id: Id64, data: ProductIn, engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        product_service.update_product(uow, principal, product_id, data)
        result = product_service.get_product(uow, principal, product_id)
        uow.commit()
    return result
