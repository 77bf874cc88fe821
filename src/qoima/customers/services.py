"""One customer per seller across channels, matched by normalized phone, then e-mail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from qoima.db import tables as t
from qoima.customers.schemas import CustomerIn
from qoima.platform.errors import Conflict
from qoima.platform.unit_of_work import UnitOfWork, utcnow


def find_or_create_customer(uow: UnitOfWork, seller_id: int, c: CustomerIn, actor: str, now: datetime) -> int | None:
    """The customer of this buyer: the one that has the phone, else the one that has the e-mail
    (customer_contacts: the oldest customer with it, or its survivor when merged), with a missing
    phone / e-mail filled in; a new customer when neither is known. A concurrent writer that creates
    the same buyer first (the unique key of customer_contacts refuses our insert) gives its customer."""
    if not (c.phone or c.email or c.name):
        return None
    if not (c.phone or c.email):
        return _insert(uow, seller_id, c, now)  # a name only: nothing to know the buyer by
    if uow.is_postgres:
        # Two orders of one buyer arriving together must not create two customers: serialise
        # look-up + insert per (seller, contact) until commit (the express path takes the same locks;
        # the unique key of customer_contacts holds any other writer). SQLite's BEGIN IMMEDIATE already does.
        keys = [f"customer:{seller_id}:{k}" for k in sorted(k for k in (c.phone, c.email) if k)]
        uow.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(CAST(:keys AS text[])) "
                         "WITH ORDINALITY AS u(k, n) ORDER BY n"), {"keys": keys})  # one round trip, fixed order
    match = _match(uow, seller_id, c)
    if match is None:
        try:
            with uow.conn.begin_nested():  # a savepoint: losing the race below keeps the transaction
                return _insert(uow, seller_id, c, now)
        except IntegrityError as exc:
            if not contact_taken(exc):
                raise
        # a concurrent writer created a customer with one of these contacts and has committed it
        # (the unique key waited for it): that customer is this buyer
        match = _match(uow, seller_id, c)
        if match is None:
            raise Conflict("the customer's phone or e-mail was taken by a concurrent order; try again",
                           field="customer", code="customers.contact_race")
    fill = {}
    if c.email and not match.email:
        fill["email"] = c.email
    if c.phone and not match.phone:
        fill["phone"] = c.phone
    if fill:  # the triggers link the new contact to this customer (unless an older customer has it)
        uow.execute(update(t.customers).where(t.customers.c.id == match.customer_id).values(**fill))
    return match.customer_id


def _match(uow: UnitOfWork, seller_id: int, c: CustomerIn):
    """(kind, customer_id, phone, email) of the customer that has the phone, else the e-mail; or None."""
    cc, cu = t.customer_contacts.c, t.customers.c
    wanted = [(cc.kind == kind) & (cc.value == value) for kind, value in (("phone", c.phone), ("email", c.email))
              if value]
    rows = uow.execute(select(cc.kind, cc.customer_id, cu.phone, cu.email)
                       .join(t.customers, cu.id == cc.customer_id)
                       .where(cc.seller_id == seller_id, or_(*wanted))).all()
    return min(rows, key=lambda r: r.kind != "phone", default=None)


def contact_taken(exc: IntegrityError) -> bool:
    """The unique key of customer_contacts refused a row (not any other constraint)."""
    message = str(exc.orig)
    unique = getattr(exc.orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in message
    return unique and "customer_contacts" in message


def _insert(uow: UnitOfWork, seller_id: int, c: CustomerIn, now: datetime) -> int:
    return uow.execute(insert(t.customers).values(
        seller_id=seller_id, name=c.name, phone=c.phone, email=c.email, language=c.language,
        preferred_channel=c.preferred_channel, created_at=now).returning(t.customers.c.id)).scalar_one()


def duplicate_groups(uow: UnitOfWork, seller_id: int) -> list[list[int]]:
    """Customers of one seller that share a normalized phone or e-mail (connected
    groups: A~B by phone and B~C by e-mail make one group), oldest first."""
    rows = uow.execute(select(t.customers.c.id, t.customers.c.phone, t.customers.c.email)
                       .where(t.customers.c.seller_id == seller_id, t.customers.c.merged_into_id.is_(None))
                       .order_by(t.customers.c.id)).all()
    parent = {r.id: r.id for r in rows}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_by_key: dict[tuple, int] = {}
    for r in rows:
        for key in (("phone", r.phone), ("email", r.email)):
            if key[1]:
                if key in first_by_key:
                    a, b = find(first_by_key[key]), find(r.id)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
                else:
                    first_by_key[key] = r.id
    groups: dict[int, list[int]] = {}
    for r in rows:
        groups.setdefault(find(r.id), []).append(r.id)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def merge_duplicates(uow: UnitOfWork, seller_id: int, actor: str, dry_run: bool = False) -> list[dict]:
    """Merge each duplicate group into its oldest customer: orders move to the kept
    customer, missing contact fields are filled, and every merge leaves an audit row
    with a snapshot of the merged record. The merged customer's customer_contacts rows
    follow it to the kept customer (the customers trigger of migration 0005 moves them when
    merged_into_id is set), so any writer finds the kept customer by them."""
    result = []
    now = utcnow()
    for group in duplicate_groups(uow, seller_id):
        kept, others = group[0], group[1:]
        kept_row = uow.execute(select(t.customers).where(t.customers.c.id == kept)).one()
        for other in others:
            row = uow.execute(select(t.customers).where(t.customers.c.id == other)).one()
            reason = ("same phone" if row.phone and row.phone == kept_row.phone else
                      "same e-mail" if row.email and row.email == kept_row.email else "linked by phone/e-mail")
            entry = {"kept_id": kept, "merged_id": other, "reason": reason}
            result.append(entry)
            if dry_run:
                continue
            snapshot = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row._mapping.items()}
            uow.execute(insert(t.customer_merges).values(seller_id=seller_id, kept_id=kept, merged_id=other,
                                                         reason=reason, snapshot=snapshot, actor=actor, created_at=now))
            uow.execute(update(t.orders).where(t.orders.c.customer_id == other).values(customer_id=kept))
            uow.execute(update(t.customers).where(t.customers.c.id == other).values(merged_into_id=kept))
            fill = {f: getattr(row, f) for f in ("phone", "email") if getattr(row, f) and not getattr(kept_row, f)}
            if fill:
                uow.execute(update(t.customers).where(t.customers.c.id == kept).values(**fill))
                kept_row = uow.execute(select(t.customers).where(t.customers.c.id == kept)).one()
    return result
