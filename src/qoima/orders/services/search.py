"""Finding orders, products and customers by what a user types (the rules of reading the
query: orders/domain/search.py). Each kind of match is an indexed look-up of its own
(migration 0015 adds the lower() expression indexes) and the order match is the union of
their ids, so a search reads a handful of index entries, not 25,000 orders.

Scoping is the caller's: these give conditions that the scoped queries add (a seller's
query keeps its `seller_id =`); `contacts=False` (the floor) leaves out every match that
would tell who bought what (buyer name, phone, e-mail)."""

from __future__ import annotations

from sqlalchemy import func, or_, select, union

from qoima.db import tables as t
from qoima.orders.domain.search import SearchQuery, classify
from qoima.platform import roles
from qoima.platform.access import Principal
from qoima.platform.unit_of_work import UnitOfWork

GROUP_LIMIT = 20  # results per kind on the search page


def order_match(sq: SearchQuery, contacts: bool):
    """Where-clause: the order is found by the query (number, external id, city, a line's SKU or
    barcode; with contacts also the buyer's phone, e-mail or a part of the name)."""
    o, ln, c = t.orders.c, t.order_lines.c, t.customers.c
    ids = [select(o.id).where(func.lower(o.external_id) == sq.text),
           select(o.id).where(func.lower(o.city) == sq.text),
           select(ln.order_id).where(func.lower(ln.sku) == sq.text)]
    if sq.order_id is not None:
        ids.append(select(o.id).where(o.id == sq.order_id))
    if sq.barcode is not None:
        ids.append(select(ln.order_id).join(t.barcodes, t.barcodes.c.product_id == ln.product_id)
                   .where(t.barcodes.c.code == sq.barcode))
    if contacts:
        buyers = [c.phone == sq.phone] if sq.phone else []
        if sq.phone_part:
            buyers.append(c.phone.contains(sq.phone_part, autoescape=True))
        if sq.email:
            buyers.append(c.email == sq.email)
        if sq.part and sq.phone is None and sq.email is None and sq.order_id is None:
            buyers.append(func.lower(c.name).contains(sq.part, autoescape=True))
        if buyers:
            # the buyers first (a phone / e-mail index, or the customers table, smaller than the orders), then
            # their orders by ix_orders_customer_id
            ids.append(select(o.id).where(o.customer_id.in_(select(c.id).where(or_(*buyers)))))
    return o.id.in_(union(*ids))


def product_match(sq: SearchQuery):
    """Where-clause on products: a part of the SKU or of the name (any case), or a barcode."""
    p = t.products.c
    text = sq.part
    found = [func.lower(p.sku).contains(text, autoescape=True), func.lower(p.name).contains(text, autoescape=True)] \
        if text else [func.lower(p.sku) == sq.text]
    if sq.barcode is not None:
        found.append(p.id.in_(select(t.barcodes.c.product_id).where(t.barcodes.c.code == sq.barcode)))
    return or_(*found)


def customer_match(sq: SearchQuery):
    """Where-clause on customers: phone, e-mail or a part of the name."""
    c = t.customers.c
    if sq.phone:
        return c.phone == sq.phone
    if sq.phone_part:
        return c.phone.contains(sq.phone_part, autoescape=True)
    if sq.email:
        return c.email == sq.email
    return func.lower(c.name).contains(sq.part or sq.text, autoescape=True)


def search(uow: UnitOfWork, principal: Principal, raw: str, limit: int = GROUP_LIMIT) -> dict:
    """Everything the header search box finds for this principal, grouped by kind, each group
    at most `limit` rows and its total: {"orders", "products", "customers"} (customers only for
    roles that see contacts). A seller finds only its own."""
    sq = classify(raw)
    out = {"query": sq, "orders": ([], 0), "products": ([], 0), "customers": ([], 0)}
    if sq.empty:
        return out
    scope_o = [] if principal.is_staff else [t.orders.c.seller_id == principal.seller_id]
    sees_contacts = roles.may(principal.role, roles.SEE_CONTACTS)
    o = t.orders.c
    q = (select(o.id, o.external_id, o.status, o.ship_by, o.city, o.customer_id, t.sellers.c.code.label("seller"))
         .join(t.sellers, t.sellers.c.id == o.seller_id).where(order_match(sq, sees_contacts), *scope_o))
    out["orders"] = _page(uow, q, [o.id.desc()], limit)
    p = t.products.c
    q = (select(p.id, p.sku, p.name, t.sellers.c.code.label("seller")).join(t.sellers, t.sellers.c.id == p.seller_id)
         .where(product_match(sq), *([] if principal.is_staff else [p.seller_id == principal.seller_id])))
    out["products"] = _page(uow, q, [p.sku, p.id], limit)
    if sees_contacts:
        c = t.customers.c
        q = (select(c.id, c.name, c.phone, c.email, t.sellers.c.code.label("seller"))
             .join(t.sellers, t.sellers.c.id == c.seller_id)
             .where(customer_match(sq), c.merged_into_id.is_(None),
                    *([] if principal.is_staff else [c.seller_id == principal.seller_id])))
        out["customers"] = _page(uow, q, [c.name, c.id], limit)
    return out


def single_target(found: dict) -> tuple[str, dict] | None:
    """(kind, row) when the search found exactly one thing: one order (with, at most, its own buyer
    among the customers found), one product, or one customer; None otherwise."""
    orders, products, customers = (found[k] for k in ("orders", "products", "customers"))
    if orders[1] == 1 and products[1] == 0 and all(c["id"] == orders[0][0]["customer_id"] for c in customers[0]) \
            and customers[1] <= 1:
        return "order", orders[0][0]
    if products[1] == 1 and orders[1] == 0 and customers[1] == 0:
        return "product", products[0][0]
    if customers[1] == 1 and orders[1] == 0 and products[1] == 0:
        return "customer", customers[0][0]
    return None


def _page(uow: UnitOfWork, q, order_by: list, limit: int) -> tuple[list[dict], int]:
    rows = [dict(r._mapping) for r in uow.execute(q.order_by(*order_by).limit(limit))]
    total = len(rows) if len(rows) < limit else uow.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    return rows, total
