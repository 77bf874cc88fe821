"""Read-only look-ups the pages need and no service offers yet (filter choices,
user and seller lists; the receipts list moved to stock/services/receipts.py). Every one is scoped by the
Principal the same way the services scope: a seller sees only their seller.
Candidates to move into services/ when another entrypoint needs them."""

from __future__ import annotations

from sqlalchemy import func, select

from qoima.db import tables as t
from qoima.platform import auth
from qoima.platform.access import Principal
from qoima.platform.unit_of_work import UnitOfWork


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
