"""Stock use cases: every change of on-hand is one ledger row (movement) with
actor, reason and reference, and the per-location counter changes atomically
in SQL in the same transaction, with a stock.changed outbox event (events.py).

Locks: a use case first locks every stock row it will touch, in one statement
ascending by id (`lock_rows`), and only then changes any; so two use cases never
hold one row each while waiting for the other's. Waiting orders are filled after
the change commits, by the orders capability (a stock.changed handler)."""

from __future__ import annotations

from sqlalchemy import bindparam, case, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qoima.db import tables as t
from qoima.platform.errors import Conflict, ValidationError
from qoima.platform.access import Principal
from qoima.platform.bounds import INT32_MAX
from qoima.platform.unit_of_work import UnitOfWork, utcnow
from qoima.stock.services.events import touched
from qoima.stock.services.reservable import reservable

_LOCKED = "stock.locked"  # uow.state key: (product_id, location_id) pairs this transaction has locked


def location_row(uow: UnitOfWork, location_id: int | None = None, code: str | None = None,
                 warehouse_code: str | None = None, field: str = "location"):
    q = select(t.locations, t.warehouses.c.code.label("warehouse_code")).join(t.warehouses)
    if location_id is not None:
        q = q.where(t.locations.c.id == location_id)
    else:
        q = q.where(t.locations.c.code == code)
        if warehouse_code:
            q = q.where(t.warehouses.c.code == warehouse_code)
    rows = uow.execute(q).all()
    if not rows:
        raise ValidationError("unknown location '%(location)s'", field=field, code="stock.unknown_location",
                              location=code or location_id)
    if len(rows) > 1:
        raise ValidationError("location '%(location)s' exists in several warehouses; name the warehouse", field=field,
                              code="stock.ambiguous_location", location=code)
    return rows[0]


def product_row(uow: UnitOfWork, principal: Principal, sku: str, seller_id: int, field: str = "sku"):
    principal.check_seller(seller_id)
    row = uow.execute(select(t.products).where(t.products.c.seller_id == seller_id, t.products.c.sku == sku)).first()
    if row is None:
        raise ValidationError("unknown SKU '%(sku)s'", field=field, code="stock.unknown_sku", sku=sku)
    return row


def _ensure_stock(uow: UnitOfWork, product_id: int, location_id: int, warehouse_id: int) -> None:
    if (product_id, location_id) in uow.state.get(_LOCKED, ()):
        return  # created and locked by lock_rows
    ins = pg_insert if uow.is_postgres else sqlite_insert
    uow.execute(ins(t.stock).values(product_id=product_id, location_id=location_id, warehouse_id=warehouse_id,
                                    on_hand=0, reserved=0).on_conflict_do_nothing())


def lock_rows(uow: UnitOfWork, adds=(), removes=()) -> dict:
    """Lock, in one statement ascending by id, every stock row a use case will change:
    adds: (product_id, location_id, warehouse_id) that receive goods (their rows are created
    first when missing); removes: (product_id, location_id) that give goods. Returns
    {(product_id, location_id): row} of the rows that exist."""
    adds = sorted(set(adds))
    pairs = sorted({(p, loc) for p, loc, _w in adds} | set(removes))
    if not pairs:
        return {}
    if adds:
        ins = pg_insert if uow.is_postgres else sqlite_insert
        uow.execute(ins(t.stock).values([{"product_id": p, "location_id": loc, "warehouse_id": w, "on_hand": 0,
                                          "reserved": 0} for p, loc, w in adds]).on_conflict_do_nothing())
    q = (select(t.stock).where(tuple_(t.stock.c.product_id, t.stock.c.location_id).in_(pairs))
         .order_by(t.stock.c.id))
    if uow.is_postgres:
        q = q.with_for_update()
    rows = {(r.product_id, r.location_id): r for r in uow.execute(q).all()}
    uow.state.setdefault(_LOCKED, set()).update(rows)
    return rows


def _lock_stock(uow: UnitOfWork, product_id: int, location_id: int):
    q = select(t.stock).where(t.stock.c.product_id == product_id, t.stock.c.location_id == location_id)
    if uow.is_postgres:
        q = q.with_for_update()
    return uow.execute(q).first()


def add_on_hand(uow: UnitOfWork, *, product_id: int, location_id: int, warehouse_id: int, quantity: int,
                kind: str, actor: str, reason: str, reference: str) -> None:
    _ensure_stock(uow, product_id, location_id, warehouse_id)
    if not 0 < quantity <= INT32_MAX:
        raise ValidationError("quantity must be between 1 and %(max)s", field="quantity", code="stock.bad_quantity",
                              max=INT32_MAX)
    done = uow.execute(update(t.stock).where(t.stock.c.product_id == product_id, t.stock.c.location_id == location_id,
                                             t.stock.c.on_hand <= INT32_MAX - quantity)
                       .values(on_hand=t.stock.c.on_hand + quantity))
    if done.rowcount != 1:  # on_hand is a 32-bit column: refuse what would pass it (PostgreSQL: a 500 before)
        raise ValidationError("on hand at this location would pass %(max)s (the most one location holds)",
                              field="quantity", code="stock.location_full", max=INT32_MAX)
    _ledger(uow, kind, product_id, None, location_id, quantity, actor, reason, reference)
    touched(uow, product_id, warehouse_id, actor)


def remove_on_hand(uow: UnitOfWork, *, product_id: int, location_id: int, quantity: int, kind: str, actor: str,
                   reason: str, reference: str, from_reserved: bool = False, sku: str = "") -> None:
    if from_reserved:  # units reserved for an order leave (a pick): one statement locks, checks and changes
        taken = uow.execute(_TAKE_RESERVED, {"p": product_id, "loc": location_id, "q": quantity}).first()
        if taken is not None:
            _ledger(uow, kind, product_id, location_id, None, quantity, actor, reason, reference)
            touched(uow, product_id, taken.warehouse_id, actor)
            return
    row = _lock_stock(uow, product_id, location_id)
    free = 0 if row is None else (row.on_hand if from_reserved else row.on_hand - row.reserved)
    if row is None or free < quantity:
        raise Conflict("only %(free)s unit(s) of %(sku)s free at this location, %(asked)s asked",
                       field="quantity", code="stock.not_enough_free", free=free, sku=sku or product_id, asked=quantity)
    values = {"on_hand": t.stock.c.on_hand - quantity}
    if from_reserved:
        values["reserved"] = t.stock.c.reserved - quantity
    uow.execute(update(t.stock).where(t.stock.c.id == row.id).values(**values))
    _ledger(uow, kind, product_id, location_id, None, quantity, actor, reason, reference)
    touched(uow, product_id, row.warehouse_id, actor)


_st = t.stock.c
_TAKE_RESERVED = (update(t.stock).where(_st.product_id == bindparam("p"), _st.location_id == bindparam("loc"),
                                        _st.on_hand >= bindparam("q"), _st.reserved >= bindparam("q"))
                  .values(on_hand=_st.on_hand - bindparam("q"), reserved=_st.reserved - bindparam("q"))
                  .returning(_st.warehouse_id))  # built once: every pick runs it
_INSERT_MOVEMENT = insert(t.stock_movements)


def _ledger(uow, kind, product_id, from_loc, to_loc, quantity, actor, reason, reference) -> None:
    uow.execute(_INSERT_MOVEMENT, {
        "kind": kind, "product_id": product_id, "from_location_id": from_loc, "to_location_id": to_loc,
        "quantity": quantity, "actor": actor, "reason": reason[:500], "reference": reference[:100],
        "created_at": utcnow()})


def move(uow: UnitOfWork, principal: Principal, *, seller_id: int, sku: str, from_location: int, to_location: int,
         quantity: int, reason: str = "") -> None:
    """Move stock between two locations of the same warehouse (put-away when it leaves receiving).
    Free units go first; then units reserved for orders not yet being picked go too, with their
    reservations (so a picker is sent where the goods are), when the target is reservable
    (stock/services/reservable.py). Orders, then stock rows are locked, as every use case does."""
    principal.require("admin", "manager", "worker")
    _positive(quantity)
    product = product_row(uow, principal, sku, seller_id)
    src, dst = location_row(uow, from_location, field="from_location"), location_row(uow, to_location, field="to_location")
    if src.warehouse_id != dst.warehouse_id:
        raise ValidationError("locations are in different warehouses: use a transfer", field="to_location",
                              code="stock.move_across_warehouses")
    if src.id == dst.id:
        raise ValidationError("the goods are already at %(location)s", field="to_location",
                              code="stock.move_same_location", location=dst.code)
    kind = "putaway" if src.kind == "receiving" else "move"
    ref = f"move:{src.code}->{dst.code}"
    carry = _lock_carried_orders(uow, product.id, src.id) if _reservable(uow, dst.id) else set()
    rows = lock_rows(uow, adds=[(product.id, dst.id, dst.warehouse_id)], removes=[(product.id, src.id)])
    row = rows.get((product.id, src.id))
    free = 0 if row is None else row.on_hand - row.reserved
    held = _carried(uow, row.id, carry) if row is not None and quantity > free else []
    reserved = max(0, quantity - free)
    if reserved > sum(q for _rid, q in held):
        _refuse_move(row, free, held, quantity, sku, src.code)
    if reserved:  # the reserved units leave with their reservations
        uow.execute(update(t.stock).where(t.stock.c.id == row.id).values(reserved=t.stock.c.reserved - reserved))
    remove_on_hand(uow, product_id=product.id, location_id=src.id, quantity=quantity, kind=kind, actor=principal.email,
                   reason=reason or kind, reference=ref, sku=sku)
    add_on_hand(uow, product_id=product.id, location_id=dst.id, warehouse_id=dst.warehouse_id, quantity=quantity,
                kind=kind, actor=principal.email, reason=reason or kind, reference=ref)
    if reserved:
        _carry(uow, held, reserved, rows[(product.id, dst.id)].id)
    # put away into storage: now reservable; waiting orders are filled from the stock.changed event


MOVABLE_HOLDS = ("allocated", "backordered")  # orders not being picked: their reservations may follow the goods


def _reservable(uow: UnitOfWork, location_id: int) -> bool:
    return bool(uow.execute(select(reservable()).where(t.locations.c.id == location_id)).scalar())


def _lock_carried_orders(uow: UnitOfWork, product_id: int, location_id: int) -> set[int]:
    """Lock (ascending by id, before any stock row) the orders holding units at this location that are
    not being picked; their ids."""
    ids = uow.execute(select(t.reservations.c.order_id).distinct()
                      .join(t.stock, t.stock.c.id == t.reservations.c.stock_id)
                      .where(t.stock.c.product_id == product_id, t.stock.c.location_id == location_id)).scalars().all()
    if not ids:
        return set()
    q = select(t.orders.c.id, t.orders.c.status).where(t.orders.c.id.in_(sorted(ids))).order_by(t.orders.c.id)
    if uow.is_postgres:
        q = q.with_for_update(key_share=True)  # as an order's status move locks it
    return {r.id for r in uow.execute(q) if r.status in MOVABLE_HOLDS}


def _carried(uow: UnitOfWork, stock_id: int, orders: set[int]) -> list[tuple[int, int]]:
    """(reservation id, quantity) of the locked orders at this stock row, oldest first."""
    if not orders:
        return []
    return [(r.id, r.quantity) for r in uow.execute(
        select(t.reservations.c.id, t.reservations.c.quantity)
        .where(t.reservations.c.stock_id == stock_id, t.reservations.c.order_id.in_(sorted(orders)))
        .order_by(t.reservations.c.id))]


def _refuse_move(row, free: int, held, quantity: int, sku: str, code: str) -> None:
    movable = sum(q for _rid, q in held)
    stuck = (0 if row is None else row.reserved) - movable
    params = {"free": free, "sku": sku, "location": code, "movable": movable, "quantity": quantity, "stuck": stuck}
    template = ("only %(free)s unit(s) of %(sku)s free at %(location)s and %(movable)s reserved that may move, "
                "%(quantity)s asked (%(stuck)s reserved for orders being picked, or the target is not a storage cell)"
                if stuck else
                "only %(free)s unit(s) of %(sku)s free at %(location)s and %(movable)s reserved that may move, "
                "%(quantity)s asked")
    raise Conflict(template, field="quantity", code="stock.move_short", **params)


def _carry(uow: UnitOfWork, held, units: int, to_stock_id: int) -> None:
    """Point `units` reserved units (of the reservations `held`, oldest first) at the target row."""
    uow.execute(update(t.stock).where(t.stock.c.id == to_stock_id).values(reserved=t.stock.c.reserved + units))
    for rid, qty in held:
        if units <= 0:
            break
        n = min(qty, units)
        units -= n
        if n == qty:
            uow.execute(update(t.reservations).where(t.reservations.c.id == rid).values(stock_id=to_stock_id))
            continue
        r = uow.execute(select(t.reservations).where(t.reservations.c.id == rid)).one()
        uow.execute(update(t.reservations).where(t.reservations.c.id == rid).values(quantity=qty - n))
        uow.execute(insert(t.reservations).values(order_id=r.order_id, order_line_id=r.order_line_id,
                                                  stock_id=to_stock_id, warehouse_id=r.warehouse_id, quantity=n,
                                                  created_at=r.created_at))


def adjust(uow: UnitOfWork, principal: Principal, *, seller_id: int, sku: str, location_id: int, delta: int,
           reason: str, scrap: bool = False) -> None:
    """Stock count correction (+/-) or scrap (always down); a reason is required."""
    principal.require("admin", "manager", "worker")
    if not reason.strip():
        raise ValidationError("an adjustment needs a reason", field="reason", code="stock.reason_required")
    if delta == 0:
        raise ValidationError("delta must not be zero", field="delta", code="stock.zero_delta")
    product = product_row(uow, principal, sku, seller_id)
    loc = location_row(uow, location_id)
    kind = "scrap" if scrap else "adjustment"
    if scrap and delta > 0:
        delta = -delta
    if delta > 0:  # waiting orders are filled from the stock.changed event
        row = lock_rows(uow, adds=[(product.id, loc.id, loc.warehouse_id)]).get((product.id, loc.id))
        if row is not None and row.on_hand + delta > INT32_MAX:
            raise ValidationError("%(on_hand)s on hand and %(delta)s more would pass %(max)s, the most one "
                                  "location holds", field="delta", code="stock.adjust_overflow", on_hand=row.on_hand,
                                  delta=delta, max=INT32_MAX)
        add_on_hand(uow, product_id=product.id, location_id=loc.id, warehouse_id=loc.warehouse_id, quantity=delta,
                    kind=kind, actor=principal.email, reason=reason, reference=f"{kind}:{loc.code}")
    else:
        lock_rows(uow, removes=[(product.id, loc.id)])
        remove_on_hand(uow, product_id=product.id, location_id=loc.id, quantity=-delta, kind=kind,
                       actor=principal.email, reason=reason, reference=f"{kind}:{loc.code}", sku=sku)


def _positive(quantity: int, field: str = "quantity") -> None:
    if quantity is None or quantity <= 0:
        raise ValidationError("quantity must be a positive whole number, got %(quantity)s", field=field,
                              code="stock.not_positive", quantity=quantity)


def stock_levels(uow: UnitOfWork, principal: Principal, *, seller_id: int | None = None, warehouse: str | None = None,
                 sku: str | None = None, limit: int = 100, offset: int = 0):
    free = case((reservable(), t.stock.c.on_hand - t.stock.c.reserved), else_=0)
    q = (select(t.stock.c.id, t.stock.c.product_id, t.stock.c.location_id, t.locations.c.kind.label("location_kind"),
                t.products.c.sku, t.products.c.name, t.products.c.seller_id,
                t.sellers.c.code.label("seller"), t.warehouses.c.code.label("warehouse"),
                t.locations.c.code.label("location"), t.stock.c.on_hand, t.stock.c.reserved,
                free.label("available"))
         .select_from(t.stock.join(t.products).join(t.sellers).join(t.locations, t.stock.c.location_id == t.locations.c.id)
                      .join(t.warehouses, t.stock.c.warehouse_id == t.warehouses.c.id))
         .where(t.stock.c.on_hand > 0))
    if not principal.is_staff:
        q = q.where(t.products.c.seller_id == principal.seller_id)
    if seller_id is not None:
        q = q.where(t.products.c.seller_id == seller_id)
    if warehouse:
        q = q.where(t.warehouses.c.code == warehouse)
    if sku:
        q = q.where(t.products.c.sku == sku)
    rows = uow.execute(q.order_by(t.warehouses.c.code, t.locations.c.code, t.products.c.sku).limit(limit).offset(offset)).all()
    return [dict(r._mapping) for r in rows]
