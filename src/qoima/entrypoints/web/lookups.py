"""Read-only look-ups the pages need and no service offers yet (filter choices,
user and seller lists; the receipts list moved to stock/services/receipts.py). Every one is scoped by the
Principal the same way the services scope: a seller sees only their seller.
Candidates to move into services/ when another entrypoint needs them."""

from __future__ import annotations

from sqlalchemy import case, func, select

from qoima.db import tables as t
from qoima.orders.domain.search import classify
from qoima.orders.services.search import product_match
from qoima.platform import roles
from qoima.platform import auth
from qoima.platform.access import Principal
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.services.reservable import reservable


def signed_in_user(uow: UnitOfWork, user_id: int, session_version=None) -> tuple[Principal, str, str] | None:
    """(principal, language, full name) of an active user whose sessions are still of session_version
    (a logout, a new password or "log out everywhere" bumps the user's version: platform/auth.py)."""
    row = uow.execute(select(t.users).where(t.users.c.id == user_id, t.users.c.is_active.is_(True))).first()
    if row is None or not isinstance(session_version, int) or row.session_version != session_version:
        return None
    return auth.principal_of(row), row.language, row.full_name


def sellers(uow: UnitOfWork, principal: Principal) -> list[dict]:
    q = select(t.sellers.c.id, t.sellers.c.code, t.sellers.c.name, t.sellers.c.webhook_url,
               t.sellers.c.created_at).order_by(t.sellers.c.code)
    if not principal.is_staff:
        q = q.where(t.sellers.c.id == principal.seller_id)
    return [dict(r._mapping) for r in uow.execute(q)]


def seller_name(uow: UnitOfWork, seller_id: int) -> str:
    """The name of a seller (a seller user's shop, for the header)."""
    return uow.execute(select(t.sellers.c.name).where(t.sellers.c.id == seller_id)).scalar() or ""


def seller_stats(uow: UnitOfWork, principal: Principal) -> dict[int, dict]:
    """Per seller: number of users, products and orders (admin list)."""
    principal.require("admin", "manager")
    out: dict[int, dict] = {}
    for key, table in (("users", t.users), ("products", t.products), ("orders", t.orders)):
        for sid, n in uow.execute(select(table.c.seller_id, func.count()).where(table.c.seller_id.is_not(None))
                                  .group_by(table.c.seller_id)):
            out.setdefault(sid, {"users": 0, "products": 0, "orders": 0})[key] = n
    return out


def seller_id_by_code(uow: UnitOfWork, principal: Principal, code: str | None) -> int | None:
    """The id of a seller the principal may see, None when unknown or not visible."""
    if not code:
        return None
    sid = uow.execute(select(t.sellers.c.id).where(t.sellers.c.code == code)).scalar()
    return sid if sid is not None and principal.can_see(sid) else None


def warehouses(uow: UnitOfWork) -> list[dict]:
    return [dict(r._mapping) for r in uow.execute(
        select(t.warehouses.c.id, t.warehouses.c.code, t.warehouses.c.name, t.warehouses.c.city,
               t.warehouses.c.timezone, t.warehouses.c.cutoff_time).order_by(t.warehouses.c.code))]


def locations(uow: UnitOfWork, kinds: tuple[str, ...] | None = None) -> list[dict]:
    """Locations by warehouse; receiving locations first within a warehouse."""
    q = (select(t.locations.c.code, t.locations.c.kind, t.warehouses.c.code.label("warehouse"))
         .join(t.warehouses)
         .order_by(t.warehouses.c.code, (t.locations.c.kind != "receiving"), t.locations.c.code))
    if kinds:
        q = q.where(t.locations.c.kind.in_(kinds))
    return [dict(r._mapping) for r in uow.execute(q)]


def channels(uow: UnitOfWork, principal: Principal) -> list[str]:
    q = select(t.orders.c.channel).distinct().order_by(t.orders.c.channel)
    if not principal.is_staff:
        q = q.where(t.orders.c.seller_id == principal.seller_id)
    return [r.channel for r in uow.execute(q)]


def users(uow: UnitOfWork, principal: Principal) -> list[dict]:
    principal.require("admin")
    return [dict(r._mapping) for r in uow.execute(
        select(t.users.c.id, t.users.c.email, t.users.c.full_name, t.users.c.role, t.users.c.language,
               t.users.c.is_active, t.users.c.created_at, t.sellers.c.code.label("seller"))
        .outerjoin(t.sellers, t.sellers.c.id == t.users.c.seller_id).order_by(t.users.c.id))]


def products(uow: UnitOfWork, principal: Principal, *, seller: str | None = None, q: str | None = None,
             limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
    """The products page: a part of the SKU or name (any case) or a barcode finds a product
    (the search rules: orders/domain/search.py); prices hidden from the floor."""
    p = t.products.c
    base = select(t.products, t.sellers.c.code.label("seller")).join(t.sellers)
    if not principal.is_staff:
        base = base.where(p.seller_id == principal.seller_id)
    if seller:
        base = base.where(t.sellers.c.code == seller)
    sq = classify(q)
    if not sq.empty:
        base = base.where(product_match(sq))
    total = uow.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = uow.execute(base.order_by(p.seller_id, p.sku).limit(limit).offset(offset)).all()
    codes: dict[int, list[str]] = {}
    ids = [r.id for r in rows]
    if ids:
        for b in uow.execute(select(t.barcodes.c.product_id, t.barcodes.c.code).where(t.barcodes.c.product_id.in_(ids))
                             .order_by(t.barcodes.c.id)):
            codes.setdefault(b.product_id, []).append(b.code)
    sees_money = roles.may(principal.role, roles.SEE_MONEY)
    return [{"id": r.id, "seller": r.seller, "sku": r.sku, "name": r.name, "category": r.category,
             "price": str(r.price) if sees_money else None, "barcodes": codes.get(r.id, []), "weight_g": r.weight_g,
             "dimensions_mm": [r.length_mm, r.width_mm, r.height_mm], "marking_required": r.marking_required,
             "replenishment_days": r.replenishment_days} for r in rows], total


def stock_levels(uow: UnitOfWork, principal: Principal, *, seller_id: int | None = None, warehouse: str | None = None,
                 q: str | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
    """The stock page: stock on hand by location; `q` finds by a part of the SKU or name (any case)
    or a barcode, as the products page does."""
    s = t.stock.c
    free = case((reservable(), s.on_hand - s.reserved), else_=0)  # what orders can reserve (stock/services/reservable.py)
    base = (select(s.id, s.product_id, s.location_id, t.locations.c.kind.label("location_kind"),
                   t.products.c.sku, t.products.c.name, t.products.c.seller_id,
                   t.sellers.c.code.label("seller"), t.warehouses.c.code.label("warehouse"),
                   t.locations.c.code.label("location"), s.on_hand, s.reserved, free.label("available"))
            .select_from(t.stock.join(t.products).join(t.sellers).join(t.locations, s.location_id == t.locations.c.id)
                         .join(t.warehouses, s.warehouse_id == t.warehouses.c.id))
            .where(s.on_hand > 0))
    if not principal.is_staff:
        base = base.where(t.products.c.seller_id == principal.seller_id)
    if seller_id is not None:
        base = base.where(t.products.c.seller_id == seller_id)
    if warehouse:
        base = base.where(t.warehouses.c.code == warehouse)
    sq = classify(q)
    if not sq.empty:
        base = base.where(product_match(sq))
    return [dict(r._mapping) for r in uow.execute(
        base.order_by(t.warehouses.c.code, t.locations.c.code, t.products.c.sku).limit(limit).offset(offset))]
