"""Order intake, the careful path: lock, read the snapshot, decide the booking
(domain/booking.py), write it, in one transaction. The same channel order (or
Idempotency-Key) never becomes two. Every database and every hand-over of the
express path comes here."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import Engine, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from qoima.catalog.domain.calendar import Calendar, parse_hhmm
from qoima.catalog.services import resolve_seller
from qoima.db import tables as t
from qoima.orders.domain import booking as bk, replay
from qoima.orders.schemas import OrderIn
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict, NotFound
from qoima.platform.unit_of_work import UnitOfWork, run, utcnow
from qoima.customers.services import contact_taken
from qoima.stock.services.reserve import apply_reservations
from qoima.stock.services.reservable import reservable

CENT = bk.CENT
received_utc = bk.received_utc  # re-exported for the order writers


def submit_order(engine: Engine, principal: Principal, data: OrderIn, idempotency_key: str | None = None,
                 now: datetime | None = None) -> tuple[dict, bool]:
    """Returns (order, created). A duplicate returns the existing order with created=False."""
    try:  # re-run from the start on a deadlock / serialization failure / lock timeout
        return run(engine, lambda uow: create_order(uow, principal, data, idempotency_key, now))
    except IntegrityError as exc:
        if "uq_orders" not in str(exc.orig):
            raise
        with UnitOfWork(engine) as uow:  # a concurrent request won the race: return its order
            seller = resolve_seller(uow, principal, data.seller)
            existing = _existing(uow, seller.id, data.channel, data.external_id, idempotency_key)
            check_replay(uow, existing, data, idempotency_key)
            return order_summary(uow, existing.id), False


def _existing(uow: UnitOfWork, seller_id: int, channel: str, external_id: str, key: str | None):
    """The stored order of this channel order or key (the key's first), or None."""
    o = t.orders.c
    conds = [(o.channel == channel) & (o.external_id == external_id)]
    if key:
        conds.append(o.idempotency_key == key)
    rows = uow.execute(select(o.id, o.idempotency_key, o.request_hash)
                       .where(o.seller_id == seller_id, or_(*conds)).order_by(o.id)).all()
    if not rows:
        return None
    return next((r for r in rows if key and r.idempotency_key == key), rows[0])


def check_replay(uow: UnitOfWork, existing, data: OrderIn, key: str | None) -> None:
    """422 for a used Idempotency-Key with another body, 409 for a used channel order id with other
    lines (orders/domain/replay.py); nothing for a replay."""
    stored = uow.execute(select(t.order_lines.c.sku, t.order_lines.c.quantity, t.order_lines.c.unit_price)
                         .where(t.order_lines.c.order_id == existing.id).order_by(t.order_lines.c.id)).all()
    replay.check(existing.id, key=key, stored_key=existing.idempotency_key, stored_fingerprint=existing.request_hash,
                 request_fingerprint=replay.fingerprint(data),
                 differences=replay.line_differences([tuple(r) for r in stored],
                                                     [(ln.sku, ln.quantity, ln.unit_price) for ln in data.lines]))


def create_order(uow: UnitOfWork, principal: Principal, data: OrderIn, idempotency_key: str | None = None,
                 now: datetime | None = None) -> tuple[dict, bool]:
    seller = resolve_seller(uow, principal, data.seller)
    existing = _existing(uow, seller.id, data.channel, data.external_id, idempotency_key)
    if existing is not None:
        check_replay(uow, existing, data, idempotency_key)
        return order_summary(uow, existing.id), False
    snapshot = read_snapshot(uow, seller.id, principal, data, idempotency_key, now)
    booking = bk.decide(snapshot)
    return write_booking(uow, booking, seller.code), True


def read_snapshot(uow: UnitOfWork, seller_id: int, principal: Principal, data: OrderIn,
                  idempotency_key: str | None = None, now: datetime | None = None) -> bk.Snapshot:
    """What the booking decides on, read under locks: the buyer's contacts (advisory locks on
    PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises), then the stock rows (in id order)."""
    now = now or utcnow()
    pids = _product_ids(uow, seller_id, [ln.sku for ln in data.lines])
    by_phone, by_email = _customers(uow, seller_id, data.customer)
    return bk.Snapshot(seller_id=seller_id, actor=principal.email, order=data, product_ids=pids,
                       stock=_lock_stock(uow, set(pids)), warehouses=warehouses(uow), now=now,
                       by_phone=by_phone, by_email=by_email, idempotency_key=idempotency_key, stamp=utcnow())


def write_booking(uow: UnitOfWork, b: bk.Booking, seller_code: str) -> dict:
    """Store the booking (customer, order, lines, reservations, shipments, timeline, outbox); the order's summary."""
    customer_id = write_customer(uow, b.customer)
    order_id = uow.execute(insert(t.orders).values(**b.order_row(customer_id))
                           .returning(t.orders.c.id)).scalar_one()
    line_ids = uow.execute(insert(t.order_lines).returning(t.order_lines.c.id, sort_by_parameter_order=True),
                           b.line_rows(order_id)).scalars().all()
    apply_reservations(uow, order_id, b.reservation_takes(line_ids))
    if b.warehouse_ids:
        uow.execute(insert(t.shipments), b.shipment_rows(order_id))
    uow.execute(insert(t.order_events), b.timeline_rows(order_id))
    uow.execute(insert(t.outbox), b.outbox_rows(order_id))
    return b.summary(order_id, seller_code, customer_id, line_ids)


def write_customer(uow: UnitOfWork, plan: bk.CustomerPlan) -> int | None:
    if plan.action == "create":
        try:
            with uow.conn.begin_nested():  # a savepoint: losing the race for a contact keeps the transaction
                return uow.execute(insert(t.customers).values(**plan.new).returning(t.customers.c.id)).scalar_one()
        except IntegrityError as exc:
            if not contact_taken(exc):
                raise
        # a writer that takes no advisory lock (an order import) created this buyer and committed it while
        # the unique key of customer_contacts held our insert: that customer is this buyer
        new = plan.new
        by_phone, by_email = _customers(uow, new["seller_id"], SimpleNamespace(phone=new["phone"], email=new["email"]))
        plan = bk.decide_customer(new["seller_id"], SimpleNamespace(**{k: new[k] for k in bk.CUSTOMER_INPUT}),
                                  by_phone, by_email, new["created_at"])
        if plan.action == "create":
            raise Conflict("the customer's phone or e-mail was taken by a concurrent order; try again",
                           field="customer", code="customers.contact_race")
    if plan.fill:
        uow.execute(update(t.customers).where(t.customers.c.id == plan.match.id).values(**plan.fill))
    return plan.customer_id


def _customers(uow: UnitOfWork, seller_id: int, c) -> tuple[bk.StoredCustomer | None, bk.StoredCustomer | None]:
    """The stored customer (lowest id) with the buyer's phone and the one with the buyer's e-mail."""
    if not (c.phone or c.email):
        return None, None
    if uow.is_postgres:
        # Two orders of one buyer arriving together must not create two customers: serialise
        # look-up + insert per (seller, contact) until commit.
        keys = contact_lock_keys(seller_id, c)
        uow.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(CAST(:keys AS text[])) "
                         "WITH ORDINALITY AS u(k, n) ORDER BY n"), {"keys": keys})  # one round trip, fixed order
    found = []
    cc = t.customers.c
    for column, value in ((cc.phone, c.phone), (cc.email, c.email)):
        row = None
        if value:
            row = uow.execute(select(cc.id, cc.merged_into_id, cc.phone, cc.email)
                              .where(cc.seller_id == seller_id, column == value).order_by(cc.id).limit(1)).first()
        found.append(bk.StoredCustomer(*row) if row is not None else None)
    return found[0], found[1]


def contact_lock_keys(seller_id: int, c) -> list[str]:
    """Advisory lock keys of a buyer's contacts, in the order they are taken (every writer)."""
    return [f"customer:{seller_id}:{k}" for k in sorted(k for k in (c.phone, c.email) if k)]


def _lock_stock(uow: UnitOfWork, product_ids) -> list[bk.StockRow]:
    """Reservable rows (stock/services/reserve.py) with free units of these products, locked in id order."""
    s = t.stock.c
    q = (select(s.id, s.product_id, s.warehouse_id, s.on_hand, s.reserved)
         .join(t.locations, t.locations.c.id == s.location_id)
         .where(s.product_id.in_(list(product_ids)), s.on_hand > s.reserved, reservable())
         .order_by(s.id))
    if uow.is_postgres:
        q = q.with_for_update(of=t.stock)
    return [bk.StockRow(r.id, r.product_id, r.warehouse_id, r.on_hand - r.reserved) for r in uow.execute(q)]


def warehouses(uow: UnitOfWork) -> dict[int, bk.Warehouse]:
    """Every warehouse with its calendar (holidays included), by id in id order."""
    days = holidays(uow.execute)
    return {w.id: warehouse_of(w, days.get(w.id, frozenset()))
            for w in uow.execute(select(t.warehouses).order_by(t.warehouses.c.id))}


def holidays(execute) -> dict[int, frozenset]:
    """warehouse id -> the local dates it does not work (warehouse_holidays), read with `execute`."""
    found: dict[int, set] = {}
    for r in execute(select(t.warehouse_holidays.c.warehouse_id, t.warehouse_holidays.c.day)):
        found.setdefault(r.warehouse_id, set()).add(r.day)
    return {wid: frozenset(days) for wid, days in found.items()}


def warehouse_of(w, holidays: frozenset = frozenset()) -> bk.Warehouse:
    return bk.Warehouse(w.id, w.code, w.lat, w.lon, Calendar(
        timezone=w.timezone, cutoff=parse_hhmm(w.cutoff_time), handover=parse_hhmm(w.handover_time),
        working_days=w.working_days, holidays=holidays))


def _product_ids(uow: UnitOfWork, seller_id: int, skus: list[str]) -> list[int]:
    found = {r.sku: r.id for r in uow.execute(select(t.products.c.id, t.products.c.sku).where(
        t.products.c.seller_id == seller_id, t.products.c.sku.in_(set(skus))))}
    for i, sku in enumerate(skus):
        if sku not in found:
            raise bk.unknown_sku(sku, i)
    return [found[sku] for sku in skus]


def order_summary(uow: UnitOfWork, order_id: int) -> dict:
    o = uow.execute(select(t.orders, t.sellers.c.code.label("seller")).join(t.sellers)
                    .where(t.orders.c.id == order_id)).first()
    if o is None:
        raise NotFound("order %(id)s not found", code="orders.not_found", id=order_id)
    lines = uow.execute(select(t.order_lines).where(t.order_lines.c.order_id == order_id)
                        .order_by(t.order_lines.c.id)).all()
    ships = uow.execute(select(t.shipments.c.status, t.warehouses.c.code).join(t.warehouses)
                        .where(t.shipments.c.order_id == order_id).order_by(t.shipments.c.seq)).all()
    codes = [sh.code for sh in ships]
    return {
        "id": o.id, "seller": o.seller, "channel": o.channel, "external_id": o.external_id, "status": o.status,
        "warehouse": codes[0] if codes else None, "warehouses": codes,
        "shipments": [{"warehouse": sh.code, "status": sh.status} for sh in ships], "ship_by": o.ship_by,
        "sourcing_reason": o.sourcing_reason, "total": str(o.total), "currency": o.currency,
        "received_at": o.received_at, "customer_id": o.customer_id,
        "delivery": {"type": o.delivery_type, "address": o.address, "city": o.city, "lat": o.lat, "lon": o.lon},
        "lines": [{"id": ln.id, "sku": ln.sku, "quantity": ln.quantity, "unit_price": str(ln.unit_price),
                   "backordered": ln.backordered} for ln in lines],
    }
