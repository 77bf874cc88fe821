"""One customer per seller across channels, matched by normalized phone, then e-mail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from ..adapters.db import tables as t
from .schemas import CustomerIn
from .unit_of_work import UnitOfWork


def find_or_create_customer(uow: UnitOfWork, seller_id: int, c: CustomerIn, actor: str, now: datetime) -> int | None:
    if not (c.phone or c.email or c.name):
        return None
    for column, value in ((t.customers.c.phone, c.phone), (t.customers.c.email, c.email)):
        if not value:
            continue
        row = uow.execute(select(t.customers.c.id, t.customers.c.merged_into_id, t.customers.c.email,
                                 t.customers.c.phone)
                          .where(t.customers.c.seller_id == seller_id, column == value)
                          .order_by(t.customers.c.id).limit(1)).first()
        if row is not None:
            cid = row.merged_into_id or row.id
            fill = {}
            if c.email and not row.email:
                fill["email"] = c.email
            if c.phone and not row.phone:
                fill["phone"] = c.phone
            if fill:
                uow.execute(update(t.customers).where(t.customers.c.id == row.id).values(**fill))
            return cid
    return uow.execute(insert(t.customers).values(
        seller_id=seller_id, name=c.name, phone=c.phone, email=c.email, language=c.language,
        preferred_channel=c.preferred_channel, created_at=now).returning(t.customers.c.id)).scalar_one()
