"""Stock by warehouse and location and the product catalog (receipts and inbound deliveries: receiving.py)."""

from __future__ import annotations

from math import ceil

from qoima.platform.bounds import SafeQuery
from qoima.catalog import services as catalog
from qoima.stock.services import inventory
from qoima.entrypoints.web import lookups
from qoima.entrypoints.web.common import UserDep, int_param, page_router

router = page_router()
STOCK_PAGE = 100
PRODUCTS_PAGE = 50


@router.get("/stock")
def stock_page(web: UserDep, seller: SafeQuery | None = None, warehouse: SafeQuery | None = None, sku: SafeQuery | None = None,
               page: SafeQuery | None = None):
    p = web.principal
    page_no = int_param(page, 1, minimum=1)
    filters = {"seller": (seller or "") if p.is_staff else "", "warehouse": warehouse or "", "sku": (sku or "").strip()}
    with web.uow() as uow:
        seller_id = lookups.seller_id_by_code(uow, p, filters["seller"])
        unknown_seller = bool(filters["seller"]) and seller_id is None
        rows = [] if unknown_seller else lookups.stock_levels(  # sku: a part of the SKU or name, or a barcode
            uow, p, seller_id=seller_id, warehouse=filters["warehouse"] or None, q=filters["sku"] or None,
            limit=STOCK_PAGE + 1, offset=(page_no - 1) * STOCK_PAGE)
        sellers = lookups.sellers(uow, p) if p.is_staff else []
        warehouses = lookups.warehouses(uow)
    has_next = len(rows) > STOCK_PAGE
    rows = rows[:STOCK_PAGE]
    totals = {"on_hand": sum(r["on_hand"] for r in rows), "reserved": sum(r["reserved"] for r in rows),
              "available": sum(r["available"] for r in rows)}
    return web.render("stock.html", rows=rows, filters=filters, sellers=sellers, warehouses=warehouses,
                      page=page_no, has_next=has_next, totals=totals)


@router.get("/products")
def products_page(web: UserDep, q: SafeQuery | None = None, seller: SafeQuery | None = None, page: SafeQuery | None = None):
    p = web.principal
    page_no = int_param(page, 1, minimum=1)
    filters = {"q": (q or "").strip(), "seller": (seller or "") if p.is_staff else ""}
    with web.uow() as uow:
        items, total = lookups.products(uow, p, seller=filters["seller"] or None, q=filters["q"] or None,
                                             limit=PRODUCTS_PAGE, offset=(page_no - 1) * PRODUCTS_PAGE)
        sellers = lookups.sellers(uow, p) if p.is_staff else []
    return web.render("products.html", items=items, total=total, filters=filters, sellers=sellers, page=page_no,
                      pages=max(1, ceil(total / PRODUCTS_PAGE)), page_size=PRODUCTS_PAGE)
