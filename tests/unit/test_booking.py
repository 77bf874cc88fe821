"""The booking decision (orders/domain/booking.py): pure, dataclasses in and out."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from qoima.catalog.domain.calendar import Calendar, ship_by
from qoima.catalog.domain.sellers import seller_problem
from qoima.orders.domain import booking as bk
from qoima.orders.schemas import OrderIn
from qoima.platform.errors import Forbidden, ValidationError

NOW = datetime(2026, 12, 4, 8, 30)  # Friday
WAREHOUSES = {
    1: bk.Warehouse(1, "ALA", 43.24, 76.89, Calendar("Asia/Almaty", time(14), time(18), "12345")),
    2: bk.Warehouse(2, "MOW", 55.75, 37.62, Calendar("Europe/Moscow", time(12), time(16), "123456")),
    3: bk.Warehouse(3, "NSK", 55.03, 82.92, Calendar("Asia/Novosibirsk", time(15), time(19), "1234567")),
}


def order(lines, customer=None, lat=43.25, lon=76.93, received_at=None, channel="api") -> OrderIn:
    return OrderIn(seller="a", channel=channel, external_id="E-1", customer=customer or {},
                   delivery={"lat": lat, "lon": lon}, received_at=received_at,
                   lines=[{"sku": f"SKU-{p}", "quantity": q, "unit_price": price} for p, q, price in lines])


WAREHOUSES_BY_CODE = {w.code: w.id for w in WAREHOUSES.values()}


def snap(o: OrderIn, stock, **kw) -> bk.Snapshot:
    return bk.Snapshot(seller_id=7, actor="me@x.kz", order=o, product_ids=[int(ln.sku[4:]) for ln in o.lines],
                       stock=stock, warehouses=WAREHOUSES, now=NOW, **kw)


# ---------------------------------------------------------------- properties

stock_rows = st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 6)), max_size=8).map(
    lambda cells: [bk.StockRow(i, p, w, f) for i, (p, w, f) in enumerate(cells, 1)])
order_lines = st.lists(st.tuples(st.integers(1, 3), st.integers(1, 8),
                                 st.decimals(0, 10_000, places=2, allow_nan=False)), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(lines=order_lines, stock=stock_rows, place=st.sampled_from([(43.25, 76.93), (55.7, 37.5), (None, None)]))
def test_every_unit_is_reserved_or_backordered_and_no_row_gives_more_than_it_has(lines, stock, place):
    o = order(lines, lat=place[0], lon=place[1])
    b = bk.decide(snap(o, stock))
    free = {r.id: r.free for r in stock}
    by_row = dict(b.per_stock)
    assert all(0 < n <= free[sid] for sid, n in by_row.items())
    rows = {r.id: r for r in stock}
    for i, (ln, booked) in enumerate(zip(o.lines, b.lines)):
        reserved = sum(q for li, _, _, q in b.reservations if li == i)
        assert reserved + booked.backordered == ln.quantity
        assert all(rows[sid].product_id == booked.product_id and rows[sid].warehouse_id == wid
                   for li, sid, wid, _ in b.reservations if li == i)
    assert b.complete == all(ln.backordered == 0 for ln in b.lines)
    assert b.status == ("allocated" if b.complete else "backordered")
    used = {WAREHOUSES[wid].code for _, _, wid, _ in b.reservations}
    assert set(b.warehouses) == used
    # one shipment per warehouse of the plan, in its order, with the order's status
    assert [(WAREHOUSES[r["warehouse_id"]].code, r["seq"], r["status"]) for r in b.shipment_rows(1)] == [
        (code, n, b.status) for n, code in enumerate(b.warehouses, start=1)]
    assert b.total == sum((ln.quantity * ln.unit_price for ln in o.lines), Decimal(0)).quantize(Decimal("0.01"))
    # the calendar: the plan's lowest-id warehouse, else the nearest one
    cal_wh = (min((w for w in WAREHOUSES.values() if w.code in b.warehouses), key=lambda w: w.id)
              if b.warehouses else bk.calendar_warehouse([], WAREHOUSES, *place))
    assert b.ship_by == ship_by(NOW, cal_wh.calendar)
    assert [(f, to) for f, to, _, _ in b.timeline] == [(None, "new"), ("new", b.status)]


@settings(max_examples=100, deadline=None)
@given(lines=order_lines, stock=stock_rows)
def test_the_decision_is_pure(lines, stock):
    """The same snapshot gives the same booking, and the snapshot is left as it was."""
    s = snap(order(lines), stock)
    before = list(s.stock)
    first, second = bk.decide(s), bk.decide(s)
    assert first == second and s.stock == before


@settings(max_examples=200, deadline=None)
@given(quantities=st.lists(st.integers(1, 5), min_size=1, max_size=4), free=st.integers(0, 12))
def test_a_shortfall_goes_to_the_last_lines_of_the_product(quantities, free):
    o = order([(1, q, "1") for q in quantities])
    b = bk.decide(snap(o, [bk.StockRow(1, 1, 1, free)]))
    short = max(0, sum(quantities) - free)
    expected, left = [], short
    for q in reversed(quantities):
        expected.insert(0, min(q, left))
        left -= expected[0]
    assert [ln.backordered for ln in b.lines] == expected


# ---------------------------------------------------------------- examples

def test_a_split_over_two_warehouses_ships_by_the_lowest_ids_calendar():
    o = order([(1, 3, "10")], received_at=datetime(2026, 12, 5, 6, 0))  # Saturday
    b = bk.decide(snap(o, [bk.StockRow(10, 1, 2, 1), bk.StockRow(11, 1, 1, 2)]))
    assert b.complete and b.warehouses == ["ALA", "MOW"]
    assert [(r["warehouse_id"], r["seq"], r["status"]) for r in b.shipment_rows(1)] == [
        (WAREHOUSES_BY_CODE["ALA"], 1, "allocated"), (WAREHOUSES_BY_CODE["MOW"], 2, "allocated")]
    assert b.reservations == [(0, 11, 1, 2), (0, 10, 2, 1)] and b.per_stock == [(10, 1), (11, 2)]
    assert b.ship_by == datetime(2026, 12, 7, 13, 0)  # ALA's calendar: Monday 18:00 Almaty
    assert b.reason.startswith("2 parcels from MOW+ALA")  # the candidates in the order of their first stock row


def test_nothing_in_stock_backorders_and_takes_the_nearest_warehouses_calendar():
    o = order([(1, 2, "10")], lat=55.0, lon=82.9)
    b = bk.decide(snap(o, []))
    assert b.status == "backordered" and b.warehouses == [] and b.reservations == []
    assert b.ship_by == ship_by(NOW, WAREHOUSES[3].calendar)
    assert b.reason == "no warehouse has any of the ordered items: backordered"


def test_received_at_with_a_time_zone_is_utc_and_none_is_now():
    aware = datetime(2026, 12, 4, 14, 30, tzinfo=timezone(timedelta(hours=5)))
    assert bk.decide(snap(order([(1, 1, "1")], received_at=aware), [])).received_at == datetime(2026, 12, 4, 9, 30)
    assert bk.decide(snap(order([(1, 1, "1")]), [])).received_at == NOW


def test_rows_of_the_booking():
    o = order([(1, 1, "1.5"), (2, 2, "2")], customer={"name": "A", "phone": "+77011234567"}, channel="kaspi")
    b = bk.decide(snap(o, [bk.StockRow(5, 1, 1, 3)], idempotency_key="k", stamp=NOW + timedelta(seconds=1)))
    row = b.order_row(42)
    assert set(row) == set(bk.ORDER_COLUMNS) and row["customer_id"] == 42 and row["idempotency_key"] == "k"
    assert row["total"] == Decimal("5.50") and row["updated_at"] == NOW
    assert b.shipment_rows(9) == [{"order_id": 9, "warehouse_id": 1, "seq": 1, "status": "backordered",
                                   "created_at": NOW + timedelta(seconds=1), "updated_at": NOW + timedelta(seconds=1)}]
    assert [r["backordered"] for r in b.line_rows(9)] == [0, 2]
    assert b.reservation_takes([100, 101]) == [(100, 5, 1, 1)]
    assert [(r["actor"], r["reason"]) for r in b.timeline_rows(9)] == [
        ("me@x.kz", "received via kaspi"), ("sourcing", b.reason)]
    assert [(r["topic"], r["payload"]) for r in b.outbox_rows(9)] == [
        ("order.status_changed", {"order_id": 9, "from": None, "to": "new", "reason": "received via kaspi"}),
        ("order.status_changed", {"order_id": 9, "from": "new", "to": "backordered", "reason": b.reason}),
        ("order.created", {"order_id": 9})]
    assert all(r["created_at"] == NOW + timedelta(seconds=1) for r in b.outbox_rows(9))
    summary = b.summary(9, "a", 42, [100, 101])
    assert summary["lines"][0] == {"id": 100, "sku": "SKU-1", "quantity": 1, "unit_price": "1.50", "backordered": 0}


# ---------------------------------------------------------------- the customer

C = bk.StoredCustomer


def test_no_contact_and_no_name_is_no_customer():
    assert bk.decide_customer(7, order([(1, 1, "1")]).customer, C(1, None, "+77011234567", None), None, NOW) \
        == bk.NO_CUSTOMER


def test_phone_first_then_e_mail_with_missing_contacts_filled_in():
    c = order([(1, 1, "1")], customer={"phone": "+77011234567", "email": "a@x.kz"}).customer
    by_phone, by_email = C(1, None, "+77011234567", None), C(2, None, None, "a@x.kz")
    plan = bk.decide_customer(7, c, by_phone, by_email, NOW)
    assert (plan.action, plan.match, plan.fill, plan.customer_id) == ("reuse", by_phone, {"email": "a@x.kz"}, 1)
    plan = bk.decide_customer(7, c, None, by_email, NOW)
    assert (plan.match, plan.fill) == (by_email, {"phone": "+77011234567"})


def test_a_merged_customer_gives_the_one_it_was_merged_into():
    c = order([(1, 1, "1")], customer={"phone": "+77011234567"}).customer
    assert bk.decide_customer(7, c, C(3, 1, "+77011234567", None), None, NOW).customer_id == 1


def test_a_new_buyer_is_created_received_at_their_order():
    c = order([(1, 1, "1")], customer={"name": "N", "email": "n@x.kz"}).customer
    plan = bk.decide_customer(7, c, None, None, NOW)
    assert plan.action == "create" and plan.customer_id is None
    assert plan.new == {"seller_id": 7, "name": "N", "phone": None, "email": "n@x.kz", "language": "ru",
                        "preferred_channel": "sms", "created_at": NOW}
    assert set(plan.new) == set(bk.CUSTOMER_COLUMNS)


# ---------------------------------------------------------------- one message per rule

def test_seller_rule():
    assert seller_problem("a", 1, True) is None and seller_problem(None, 1, True) is None
    missing, unknown, other = seller_problem("", None, True), seller_problem("x", None, False), \
        seller_problem("b", 2, False, field="orders[3].seller")
    assert isinstance(missing, ValidationError) and missing.message == "seller is required"
    assert isinstance(unknown, ValidationError) and unknown.message == "unknown seller 'x'"
    # another seller's code gets the answer of an unknown one (no seller enumeration)
    assert isinstance(other, ValidationError) and other.field == "orders[3].seller"
    assert other.message == "unknown seller 'b'" and other.status == unknown.status == 422
    assert bk.unknown_sku("S", 2).field == "lines[2].sku"
