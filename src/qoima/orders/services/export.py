"""The orders of the list's filters, for an export (CSV / XLSX, entrypoints/web/pages/order_export.py).

The filters are those of the order list (`queries.list_orders`: status, seller, channel, warehouse, q,
late), with its scoping: a seller only ever gets its own orders; contacts and money are left out for a role
that may not see them (orders/domain/redaction.py). The rows are read in batches by id (keyset, newest
first), each batch in a short transaction of its own, so a large export is streamed without holding the
whole list in memory or a transaction open while the client downloads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import Engine, or_, select

from qoima.db import tables as t
from qoima.orders.domain.redaction import redact_order
from qoima.orders.domain.status import OPEN, Status
from qoima.orders.services import shipments
from qoima.platform import roles
from qoima.platform.access import Principal
from qoima.platform.unit_of_work import UnitOfWork, utcnow

BATCH = 1000
COLUMNS = ("id", "external_id", "seller", "channel", "status", "customer", "phone", "email", "delivery_type",
           "city", "address", "warehouses", "items", "total", "currency", "received_at", "ship_by", "shipped_at",
           "delivered_at")
CONTACT_COLUMNS = {"customer", "phone", "email", "address"}
MONEY_COLUMNS = {"total", "currency"}


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    seller: str | None = None
    channel: str | None = None
    warehouse: str | None = None
    q: str | None = None
    late: bool = False


def columns(principal: Principal) -> tuple[str, ...]:
    """The columns this role's export has (no contacts or money for the roles that may not see them)."""
    hidden = set()
    if not roles.may(principal.role, roles.SEE_CONTACTS):
        hidden |= CONTACT_COLUMNS
    if not roles.may(principal.role, roles.SEE_MONEY):
        hidden |= MONEY_COLUMNS
    return tuple(c for c in COLUMNS if c not in hidden)


def _query(principal: Principal, f: Filters):
    o = t.orders
    q = (select(o.c.id, o.c.external_id, t.sellers.c.code.label("seller"), o.c.channel, o.c.status,
                t.customers.c.name.label("customer"), t.customers.c.phone, t.customers.c.email, o.c.delivery_type,
                o.c.city, o.c.address, o.c.total, o.c.currency, o.c.received_at, o.c.ship_by, o.c.shipped_at,
                o.c.delivered_at)
         .join(t.sellers, t.sellers.c.id == o.c.seller_id)
         .outerjoin(t.customers, t.customers.c.id == o.c.customer_id))
    if not principal.is_staff:
        q = q.where(o.c.seller_id == principal.seller_id)
    statuses = [s for s in (f.status or "").split(",") if s in {x.value for x in Status}]
    if statuses:
        q = q.where(o.c.status.in_(statuses))
    if f.seller and principal.is_staff:
        q = q.where(t.sellers.c.code == f.seller)
    if f.channel:
        q = q.where(o.c.channel == f.channel)
    if f.warehouse:
        q = q.where(shipments.ships_from(f.warehouse))
    if f.q:
        like = f"%{f.q}%"
        if roles.may(principal.role, roles.SEE_CONTACTS):
            q = q.where(or_(o.c.external_id.ilike(like), t.customers.c.name.ilike(like),
                            t.customers.c.phone.ilike(like)))
        else:
            q = q.where(o.c.external_id.ilike(like))
    if f.late:
        q = q.where(o.c.status.in_([s.value for s in OPEN]), o.c.ship_by < utcnow())
    return q


def _items(uow: UnitOfWork, ids: list[int]) -> dict[int, str]:
    out: dict[int, list[str]] = {}
    for r in uow.execute(select(t.order_lines.c.order_id, t.order_lines.c.sku, t.order_lines.c.quantity)
                         .where(t.order_lines.c.order_id.in_(ids)).order_by(t.order_lines.c.id)):
        out.setdefault(r.order_id, []).append(f"{r.sku} x {r.quantity}")
    return {k: "; ".join(v) for k, v in out.items()}


def rows(engine: Engine, principal: Principal, f: Filters, batch: int = BATCH) -> Iterator[tuple]:
    """The export's rows (in the order of `columns(principal)`), newest order first, batch by batch."""
    principal.require("admin", "manager", "seller")
    cols = columns(principal)
    base = _query(principal, f)
    before: int | None = None
    while True:
        q = base if before is None else base.where(t.orders.c.id < before)
        with UnitOfWork(engine) as uow:
            found = uow.execute(q.order_by(t.orders.c.id.desc()).limit(batch)).all()
            if not found:
                return
            ids = [r.id for r in found]
            codes = shipments.codes(uow, ids)
            items = _items(uow, ids)
        for r in found:
            d = dict(r._mapping)
            d.update(warehouses=", ".join(codes.get(r.id, [])), items=items.get(r.id, ""),
                     total=r.total)
            d = redact_order(d, principal.role)
            yield tuple(d.get(c) for c in cols)
        if len(found) < batch:
            return
        before = ids[-1]
