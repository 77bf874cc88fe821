"""The booking of a new order: one decision, taken by every writer.

`decide(snapshot)` is a pure function. The snapshot is what a writer has read
(the order, its product ids, the storage rows of those products with their free
units, every warehouse with its calendar, the stored customer matched by phone
and by e-mail, the clock); the `Booking` it returns is everything the writer
stores: status, warehouses and the sourcing reason, reservations per stock row,
backordered units per line, ship-by, total, the customer to reuse (with the
contacts to fill in) or to create, the timeline and outbox rows and the order
row's columns.

The three writers only read and write around it:
- careful (services/intake.py): locks the stock rows, reads, decides, writes
  with SQLAlchemy; SQLite and PostgreSQL;
- express (services/express_intake.py + adapters/intake_pg.py): reads in one
  statement without locks, decides, writes with one call of the PL/pgSQL
  function `book_order_v3` (db/sql/book_order_v3.sql); the database refuses a
  booking that no longer holds and the careful path decides again;
- bulk (services/bulk_intake.py): reads a batch, decides order after order
  against the free units it keeps in memory, writes with COPY / executemany.

Rules (each has its home here):
- sourcing (domain/sourcing.py) picks the warehouses; allocated when every unit
  is reserved, backordered otherwise;
- a product's shortfall is put on its last lines;
- the plan's (warehouse, product, units) are spread over the stock rows in id
  order and over the order's lines in their order;
- the calendar is the one of the lowest-id warehouse of the plan; with no
  warehouse in the plan (nothing in stock), of the warehouse nearest to the
  delivery point (the lowest id when distances tie or are unknown);
- a received_at with a time zone is converted to UTC; none means now;
- money is rounded to cents;
- the customer: none without name, phone and e-mail; else the stored customer of
  the phone, then of the e-mail (the one it was merged into, if any), with a
  missing phone / e-mail filled in; else a new customer;
- timeline: None -> new (the principal, "received via <channel>"), new ->
  allocated / backordered ("sourcing", the reason); outbox: the two status
  changes and order.created;
- an order taken with an Idempotency-Key keeps the fingerprint of its request
  (domain/replay.py), so that the key cannot be reused for another body;
- shipments: one per warehouse of the plan, numbered in the plan's shipping
  order (seq 1 = the first), with the order's status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

from qoima.catalog.domain.calendar import Calendar, ship_by
from qoima.orders.domain import reasons, replay, sourcing
from qoima.orders.domain.status import Status
from qoima.platform.errors import ValidationError

if TYPE_CHECKING:  # the input schema (pydantic) is only read here
    from qoima.orders.schemas import OrderIn

CENT = Decimal("0.01")
ZERO = Decimal(0)
NEW, ALLOCATED, BACKORDERED = Status.NEW.value, Status.ALLOCATED.value, Status.BACKORDERED.value

# the columns every writer stores, in this order (COPY and tuples follow it)
ORDER_COLUMNS = ("seller_id", "channel", "external_id", "idempotency_key", "request_hash", "customer_id", "status",
                 "delivery_type", "address", "city", "lat", "lon", "total", "sourcing_reason", "ship_by",
                 "received_at", "updated_at")
SHIPMENT_COLUMNS = ("order_id", "warehouse_id", "seq", "status", "created_at", "updated_at")
CUSTOMER_COLUMNS = ("seller_id", "name", "phone", "email", "language", "preferred_channel", "created_at")
LINE_COLUMNS = ("order_id", "product_id", "sku", "quantity", "unit_price", "backordered")
RESERVATION_COLUMNS = ("order_id", "order_line_id", "stock_id", "warehouse_id", "quantity", "created_at")
EVENT_COLUMNS = ("order_id", "from_status", "to_status", "actor", "reason", "created_at")
OUTBOX_COLUMNS = ("topic", "aggregate_id", "seller_id", "payload", "status", "attempts", "next_attempt_at",
                  "created_at")


def unknown_sku(sku: str, index: int) -> ValidationError:
    """An order line whose SKU the seller does not have (the same message on every path)."""
    return ValidationError("unknown SKU '%(sku)s' for this seller", field=f"lines[{index}].sku",
                           code="orders.unknown_sku", sku=sku)


# ---------------------------------------------------------------- the snapshot

@dataclass(frozen=True, slots=True)
class StockRow:
    """A storage row of one of the order's products: `free` = on hand - reserved."""
    id: int
    product_id: int
    warehouse_id: int
    free: int


@dataclass(frozen=True)
class Warehouse:
    id: int
    code: str
    lat: float | None
    lon: float | None
    calendar: Calendar


class KnownCustomer(Protocol):
    """A stored customer found by a contact (bulk intake also passes the customers it has created)."""
    id: int | None
    merged_into_id: int | None
    phone: str | None
    email: str | None


@dataclass
class StoredCustomer:
    id: int | None
    merged_into_id: int | None
    phone: str | None
    email: str | None


@dataclass
class Snapshot:
    seller_id: int
    actor: str  # who takes the order (the principal's e-mail)
    order: "OrderIn"
    product_ids: Sequence[int]  # of each line, in line order
    stock: Sequence[StockRow]  # storage rows of the order's products (others and rows without free units ignored)
    warehouses: Mapping[int, Warehouse]  # every warehouse by id, in id order
    now: datetime  # naive UTC: the order's clock (received_at when none is given, updated_at)
    by_phone: KnownCustomer | None = None  # the stored customer with the buyer's phone (lowest id)
    by_email: KnownCustomer | None = None  # ... with the buyer's e-mail
    idempotency_key: str | None = None
    stamp: datetime | None = None  # naive UTC: when the rows are written (timeline, outbox); default now
    # the customer already decided with decide_customer (a writer that matches a whole batch of buyers
    # at once); by_phone / by_email are then not read
    customer: "CustomerPlan | None" = None


# ---------------------------------------------------------------- the booking

@dataclass
class CustomerPlan:
    action: str  # "none", "reuse" or "create"
    match: KnownCustomer | None = None  # reuse: the stored customer found
    fill: dict = field(default_factory=dict)  # reuse: contacts to fill in on `match` ({"phone": ..., "email": ...})
    new: dict | None = None  # create: the customers row (CUSTOMER_COLUMNS)

    @property
    def customer_id(self) -> int | None:
        """The order's customer (for "create": None until the writer has the new id)."""
        if self.match is None:
            return None
        return self.match.merged_into_id or self.match.id


NO_CUSTOMER = CustomerPlan("none")


@dataclass
class BookedLine:
    product_id: int
    sku: str
    quantity: int
    unit_price: Decimal
    backordered: int


@dataclass
class Booking:
    seller_id: int
    order: "OrderIn"
    idempotency_key: str | None
    status: str
    warehouses: list[str]  # codes, the shipping order of the plan
    reason: str  # why these warehouses (stored as sourcing_reason)
    lines: list[BookedLine]
    warehouse_ids: list[int]  # of `warehouses`, same order: one shipment each
    reservations: list[tuple[int, int, int, int]]  # (line index, stock id, warehouse id, units)
    ship_by: datetime | None
    total: Decimal
    received_at: datetime
    customer: CustomerPlan
    timeline: list[tuple[str | None, str, str, str]]  # (from, to, actor, reason)
    now: datetime
    stamp: datetime

    @property
    def complete(self) -> bool:
        return self.status == ALLOCATED

    @property
    def per_stock(self) -> list[tuple[int, int]]:
        """(stock id, units reserved) in id order: what the stock counters go up by."""
        units: dict[int, int] = {}
        for _, sid, _, q in self.reservations:
            units[sid] = units.get(sid, 0) + q
        return sorted(units.items())

    def order_values(self, customer_id: int | None) -> tuple:
        """The orders row in ORDER_COLUMNS order."""
        o, d = self.order, self.order.delivery
        request_hash = replay.fingerprint(o) if self.idempotency_key is not None else None
        return (self.seller_id, o.channel, o.external_id, self.idempotency_key, request_hash, customer_id,
                self.status, d.type, d.address, d.city, d.lat, d.lon, self.total, self.reason, self.ship_by,
                self.received_at, self.now)

    def order_row(self, customer_id: int | None) -> dict:
        return dict(zip(ORDER_COLUMNS, self.order_values(customer_id)))

    def line_rows(self, order_id: int | None) -> list[dict]:
        return [{"order_id": order_id, "product_id": ln.product_id, "sku": ln.sku, "quantity": ln.quantity,
                 "unit_price": ln.unit_price, "backordered": ln.backordered} for ln in self.lines]

    def reservation_takes(self, line_ids: Sequence[int]) -> list[tuple[int, int, int, int]]:
        """(line id, stock id, warehouse id, units)."""
        return [(line_ids[i], sid, wid, q) for i, sid, wid, q in self.reservations]

    def shipment_values(self, order_id: int | None) -> list[tuple]:
        """The shipments rows in SHIPMENT_COLUMNS order."""
        return [(order_id, wid, seq, self.status, self.stamp, self.stamp)
                for seq, wid in enumerate(self.warehouse_ids, start=1)]

    def shipment_rows(self, order_id: int | None) -> list[dict]:
        return [dict(zip(SHIPMENT_COLUMNS, v)) for v in self.shipment_values(order_id)]

    def timeline_rows(self, order_id: int) -> list[dict]:
        return [{"order_id": order_id, "from_status": f, "to_status": to, "actor": who, "reason": why,
                 "created_at": self.stamp} for f, to, who, why in self.timeline]

    def events(self, order_id: int) -> list[tuple[str, dict]]:
        """(topic, payload) of the outbox rows, in the order they are written."""
        return [("order.status_changed", {"order_id": order_id, "from": f, "to": to, "reason": why})
                for f, to, _, why in self.timeline] + [("order.created", {"order_id": order_id})]

    def outbox_rows(self, order_id: int) -> list[dict]:
        return [{"topic": topic, "aggregate_id": order_id, "seller_id": self.seller_id, "payload": payload,
                 "status": "pending", "attempts": 0, "next_attempt_at": self.stamp, "created_at": self.stamp}
                for topic, payload in self.events(order_id)]

    def summary(self, order_id: int, seller_code: str, customer_id: int | None, line_ids: Sequence[int]) -> dict:
        """The order as intake.order_summary reads it back."""
        o, d = self.order, self.order.delivery
        return {
            "id": order_id, "seller": seller_code, "channel": o.channel, "external_id": o.external_id,
            "status": self.status, "warehouse": self.warehouses[0] if self.warehouses else None,
            "warehouses": list(self.warehouses),
            "shipments": [{"warehouse": code, "status": self.status} for code in self.warehouses],
            "ship_by": self.ship_by, "sourcing_reason": self.reason,
            "total": str(self.total), "currency": "KZT", "received_at": self.received_at, "customer_id": customer_id,
            "delivery": {"type": d.type, "address": d.address, "city": d.city, "lat": d.lat, "lon": d.lon},
            "lines": [{"id": lid, "sku": ln.sku, "quantity": ln.quantity, "unit_price": str(ln.unit_price.quantize(CENT)),
                       "backordered": ln.backordered} for lid, ln in zip(line_ids, self.lines)],
        }


# ---------------------------------------------------------------- the decision

def decide(s: Snapshot) -> Booking:
    o = s.order
    lines, pids = o.lines, s.product_ids
    received = received_utc(o.received_at, s.now)
    wanted = set(pids)
    rows = sorted((r for r in s.stock if r.free > 0 and r.product_id in wanted), key=_row_id)
    lat, lon = o.delivery.lat, o.delivery.lon
    plan = sourcing.choose([sourcing.Line(pid, ln.sku, ln.quantity) for pid, ln in zip(pids, lines)],
                           _warehouse_stock(rows, s.warehouses), lat, lon)
    shortfalls = _shortfalls(plan, pids, lines)
    status = ALLOCATED if plan.complete else BACKORDERED
    cal = calendar_warehouse(plan.warehouses, s.warehouses, lat, lon)
    total = ZERO
    for ln in lines:
        total += ln.quantity * ln.unit_price
    reason = plan.reason[:500]
    return Booking(
        seller_id=s.seller_id, order=o, idempotency_key=s.idempotency_key, status=status,
        warehouses=list(plan.warehouses), reason=plan.reason,
        lines=[BookedLine(pid, ln.sku, ln.quantity, ln.unit_price, short)
               for pid, ln, short in zip(pids, lines, shortfalls)],
        warehouse_ids=warehouse_ids(plan.warehouses, s.warehouses),
        reservations=_spread(plan, rows, pids, lines),
        ship_by=_ship_by(received, cal.calendar) if cal is not None else None,
        total=total.quantize(CENT), received_at=received,
        customer=s.customer or decide_customer(s.seller_id, o.customer, s.by_phone, s.by_email, received),
        timeline=[(None, NEW, s.actor, _received_reason(o.channel)), (NEW, status, "sourcing", reason)],
        now=s.now, stamp=s.stamp or s.now)


def warehouse_ids(codes: Sequence[str], warehouses: Mapping[int, Warehouse]) -> list[int]:
    """The ids of the plan's warehouses (codes), in the plan's order: the order's shipments."""
    by_code = {w.code: w.id for w in warehouses.values()}
    return [by_code[c] for c in codes]


@dataclass
class Resourcing:
    """A re-sourcing of a stored order: the same sourcing, spreading, shortfall and ship-by rules as decide()."""
    status: str
    warehouses: list[str]
    warehouse_ids: list[int]
    reason: str
    reservations: list[tuple[int, int, int, int]]  # (line index, stock id, warehouse id, units)
    backordered: list[int]  # per line
    ship_by: datetime | None


def decide_resourcing(lines, pids: Sequence[int], stock: Sequence[StockRow], warehouses: Mapping[int, Warehouse],
                      where: tuple, received: datetime) -> Resourcing:
    """lines: the order's lines (sku, quantity), pids their products; stock: the free units with the order's own
    hold given back; where: the delivery (lat, lon); received: when the order came in (naive UTC)."""
    lat, lon = where
    wanted = set(pids)
    rows = sorted((r for r in stock if r.free > 0 and r.product_id in wanted), key=_row_id)
    plan = sourcing.choose([sourcing.Line(pid, ln.sku, ln.quantity) for pid, ln in zip(pids, lines)],
                           _warehouse_stock(rows, warehouses), lat, lon)
    cal = calendar_warehouse(plan.warehouses, warehouses, lat, lon)
    return Resourcing(status=ALLOCATED if plan.complete else BACKORDERED, warehouses=list(plan.warehouses),
                      warehouse_ids=warehouse_ids(plan.warehouses, warehouses),
                      reason=plan.reason, reservations=_spread(plan, rows, pids, lines),
                      backordered=_shortfalls(plan, pids, lines),
                      ship_by=_ship_by(received, cal.calendar) if cal is not None and plan.warehouses else None)


CUSTOMER_INPUT = ("name", "phone", "email", "language", "preferred_channel")


def decide_customer(seller_id: int, c, by_phone: KnownCustomer | None, by_email: KnownCustomer | None,
                    received: datetime) -> CustomerPlan:
    """c: the order's customer input (name, phone, email, language, preferred_channel)."""
    if not (c.phone or c.email or c.name):
        return NO_CUSTOMER
    for value, row in ((c.phone, by_phone), (c.email, by_email)):
        if value and row is not None:
            fill = {}
            if c.email and not row.email:
                fill["email"] = c.email
            if c.phone and not row.phone:
                fill["phone"] = c.phone
            return CustomerPlan("reuse", match=row, fill=fill)
    return CustomerPlan("create", new={
        "seller_id": seller_id, "name": c.name, "phone": c.phone, "email": c.email, "language": c.language,
        "preferred_channel": c.preferred_channel, "created_at": received})


def received_utc(received_at: datetime | None, now: datetime) -> datetime:
    """A naive UTC datetime; an aware one is converted (10:30+05:00 is 05:30 UTC), a naive one is UTC."""
    if received_at is None:
        return now
    if received_at.tzinfo is not None:
        return received_at.astimezone(timezone.utc).replace(tzinfo=None)
    return received_at


def calendar_warehouse(codes: Sequence[str], warehouses: Mapping[int, Warehouse], lat, lon) -> Warehouse | None:
    """The warehouse whose calendar sets the ship-by (see the module's rules)."""
    if not warehouses:
        return None
    if codes:
        for w in warehouses.values():  # id order
            if w.code in codes:
                return w
    return min(warehouses.values(), key=lambda w: (sourcing.distance_km(w.lat, w.lon, lat, lon) or 0.0, w.id))


@lru_cache(maxsize=65536)
def _ship_by(received: datetime, cal: Calendar) -> datetime:
    """calendar.ship_by, remembered: the orders of a file or a burst share their timestamps."""
    return ship_by(received, cal)


@lru_cache(maxsize=256)
def _received_reason(channel: str) -> str:
    return reasons.text("timeline.received", channel=channel)[:500]


def _row_id(r: StockRow) -> int:
    return r.id


def _warehouse_stock(rows: Sequence[StockRow], warehouses: Mapping[int, Warehouse]) -> list[sourcing.WarehouseStock]:
    """Free units per warehouse and product, warehouses in the order of their first row (id order)."""
    result: dict[int, sourcing.WarehouseStock] = {}
    for r in rows:
        ws = result.get(r.warehouse_id)
        if ws is None:
            w = warehouses[r.warehouse_id]
            ws = result[r.warehouse_id] = sourcing.WarehouseStock(w.id, w.code, w.lat, w.lon, {})
        available = ws.available
        available[r.product_id] = available.get(r.product_id, 0) + r.free
    return list(result.values())


def _shortfalls(plan: sourcing.Plan, pids: Sequence[int], lines) -> list[int]:
    """A product's shortfall goes to its last lines."""
    out = [0] * len(pids)
    if not plan.backorder:
        return out
    missing = dict(plan.backorder)
    for i in range(len(pids) - 1, -1, -1):
        short = min(missing.get(pids[i], 0), lines[i].quantity)
        out[i] = short
        if short:
            missing[pids[i]] -= short
    return out


def _spread(plan: sourcing.Plan, rows: Sequence[StockRow], pids: Sequence[int],
            lines) -> list[tuple[int, int, int, int]]:
    """The plan's (warehouse, product, units) over the stock rows (id order) and the order's lines:
    (line index, stock id, warehouse id, units)."""
    need = [[pid, ln.quantity] for pid, ln in zip(pids, lines)]
    free = {r.id: r.free for r in rows}
    takes = []
    for wid, pid, qty in plan.picks:
        for r in rows:
            if qty == 0:
                break
            if r.warehouse_id != wid or r.product_id != pid or free[r.id] == 0:
                continue
            for li, entry in enumerate(need):
                if entry[0] != pid or entry[1] == 0 or qty == 0 or free[r.id] == 0:
                    continue
                take = min(qty, free[r.id], entry[1])
                takes.append((li, r.id, wid, take))
                free[r.id] -= take
                qty -= take
                entry[1] -= take
    return takes
