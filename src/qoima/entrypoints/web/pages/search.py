"""The header search box: one query, every kind of thing it can find (orders, products,
customers for the roles that see them). Exactly one match opens it; otherwise the results
page lists them by kind. The rules of reading the query: orders/domain/search.py; the
matches and their scoping (a seller finds only its own): orders/services/search.py."""

from __future__ import annotations

from urllib.parse import urlencode

from qoima.platform.bounds import SafeQuery
from qoima.orders.services import search as finder
from qoima.entrypoints.web.common import UserDep, page_router

router = page_router()


@router.get("/search")
def search_page(web: UserDep, q: SafeQuery | None = None):
    query = (q or "").strip()
    with web.uow() as uow:
        found = finder.search(uow, web.principal, query)
    if not web.may_open("/customers"):
        found["customers"] = ([], 0)
    single = finder.single_target(found)
    if single is not None:
        kind, row = single
        if kind == "order":
            return web.redirect(f"/orders/{row['id']}")
        if kind == "product":
            return web.redirect("/stock?" + urlencode({"sku": row["sku"]}))
        return web.redirect("/customers/list?" + urlencode({"seller": row["seller"], "q": row["name"]}))
    return web.render("search.html", q=query, search_q=query, found=found, kinds=found["query"].kinds,
                      orders_url="/orders?" + urlencode({"q": query}),
                      products_url="/products?" + urlencode({"q": query}))
