"""Proven equal: every order writer stores the same rows for the same orders.

Hypothesis generates the stock (two sellers, three warehouses in three time
zones with their own cut-offs and working days, two storage rows each and a
receiving dock, reservable in two of them (receiving_mode 'reserve') and not in
the third ('auto_putaway')) and a
sequence of orders: received just before and after a cut-off, on a Saturday
and a Sunday, before a warehouse's holiday, with and without a time zone, or not at all (now); shortfalls,
splits over two warehouses and two rows; replays by channel external id and by
Idempotency-Key (and the same id or key with another order: refused alike); buyers known by phone only, by e-mail only, merged into
another customer, returning, new, by name only or nobody. The sequence goes
through each writer on a fresh copy of the same world, and every row stored
(customers, orders, lines, reservations, stock counters, timeline, outbox) must
be the same, ids compared by rank (writers_compare.py):

- careful (intake.submit_order) and bulk (bulk_intake.create_orders, in small
  batches) on SQLite and PostgreSQL;
- express (express_intake.submit, which hands some orders to the careful path)
  on PostgreSQL.

A file import knows no Idempotency-Key: the bulk writer gets the sequence
without the orders that the other writers answer as key replays, and the
idempotency_key column is left out of that comparison."""

from __future__ import annotations

import asyncio
import shutil
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text
from test_stock_ledger import assert_ledger_consistent
from writers_compare import ranked, snapshot

from qoima.catalog import services as catalog
from qoima.catalog.schemas import ProductIn
from qoima.db import pg_async
from qoima.db import tables as t
from qoima.db.engine import make_engine
from qoima.db.tables import metadata
from qoima.orders.schemas import OrderIn
from qoima.orders.services import bulk_intake, express_intake
from qoima.orders.services.intake import submit_order
from qoima.platform.access import SYSTEM, Principal
from qoima.platform.unit_of_work import UnitOfWork
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn
from qoima.stock.services import inbound

NOW = datetime(2026, 12, 4, 8, 30)  # Friday 13:30 in Almaty, 11:30 in Moscow, 15:30 in Novosibirsk (UTC)
MANAGER = Principal(None, "manager@qoima.local", "manager")
SELLERS = ("seller-a", "seller-b")
SKUS = ("SKU-1", "SKU-2", "SKU-3")
# code, time zone, cut-off, hand-over, working days, lat, lon
WAREHOUSES = [("ALA", "Asia/Almaty", "14:00", "18:00", "12345", 43.24, 76.89),
              ("MOW", "Europe/Moscow", "12:00", "16:00", "123456", 55.75, 37.62),
              ("NSK", "Asia/Novosibirsk", "15:00", "19:00", "1234567", 55.03, 82.92)]
# holidays the ship-by calendars skip: a working Saturday off in Moscow, a Monday off in Almaty
HOLIDAYS = {"MOW": [(date(2026, 12, 5), "Day off")], "ALA": [(date(2026, 12, 7), "Holiday")]}
CELLS = [(seller, sku, wh, loc) for seller in SELLERS for sku in SKUS for wh, *_ in WAREHOUSES
         for loc in ("A-01", "A-02", "RCV")]
# the receiving docks: ALA's and MOW's are reservable ('reserve', the default), NSK's is not ('auto_putaway',
# set after its goods were received into the dock): every writer must read them alike
AUTO_PUTAWAY = ("NSK",)
KNOWN = {"phone_only": "+77010000001", "email_only": "mail@example.kz", "merged": "+77010000003"}

# the moments orders are received: around each warehouse's cut-off, a weekend, aware and naive
RECEIVED = [
    None,  # now
    datetime(2026, 12, 4, 7, 59), datetime(2026, 12, 4, 8, 1),  # ALA cut-off 14:00 (UTC+5) - 1 / + 1 minute
    datetime(2026, 12, 4, 8, 59), datetime(2026, 12, 4, 9, 1),  # MOW cut-off 12:00 (UTC+3)
    datetime(2026, 12, 4, 7, 59, tzinfo=timezone(timedelta(hours=7))),  # NSK 14:59 local, aware
    datetime(2026, 12, 4, 15, 1, tzinfo=timezone(timedelta(hours=7))),  # NSK 15:01 local, aware
    datetime(2026, 12, 5, 6, 0),  # Saturday: MOW and NSK work, ALA does not
    datetime(2026, 12, 6, 6, 0),  # Sunday: only NSK works
    datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc),  # Monday morning
]
PLACES = [(43.25, 76.93), (55.7, 37.5), (55.0, 82.9), (None, None)]
BUYERS = [
    {},  # nobody
    {"name": "Only a name"},
    {"name": "Phone", "phone": KNOWN["phone_only"]},  # stored, by phone (its e-mail is missing)
    {"name": "Phone", "phone": KNOWN["phone_only"], "email": "phone@example.kz"},  # ... fills the e-mail in
    {"email": KNOWN["email_only"]},  # stored, by e-mail
    {"phone": "+77010000002", "email": KNOWN["email_only"]},  # by e-mail; fills the phone in
    {"name": "Merged", "phone": KNOWN["merged"]},  # a customer merged into the phone-only one
    {"name": "New", "phone": "+77010000009"},  # new, then returning
    {"name": "New", "phone": "+77010000009", "email": "new@example.kz"},
    {"email": "new@example.kz"},  # returning by the e-mail just filled in
    {"name": "Other", "email": "other@example.kz"},
]

orders_strategy = st.lists(st.fixed_dictionaries({
    "seller": st.sampled_from(SELLERS[:1] * 3 + SELLERS[1:]),
    "external_id": st.sampled_from([f"E-{i}" for i in range(1, 9)]),  # small: replays by external id
    "key": st.one_of(st.none(), st.none(), st.sampled_from(["K-1", "K-2"])),  # replays by Idempotency-Key
    "lines": st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 6)), min_size=1, max_size=3),
    "buyer": st.sampled_from(range(len(BUYERS))),
    "received": st.sampled_from(range(len(RECEIVED))),
    "place": st.sampled_from(range(len(PLACES))),
}), min_size=1, max_size=8)
stock_strategy = st.lists(st.sampled_from([0, 0, 1, 2, 3, 5]), min_size=len(CELLS), max_size=len(CELLS))


def _order(o: dict) -> OrderIn:
    lat, lon = PLACES[o["place"]]
    return OrderIn(seller=o["seller"], channel="api", external_id=o["external_id"], customer=BUYERS[o["buyer"]],
                   delivery={"type": "courier", "address": "Street 1", "city": "City", "lat": lat, "lon": lon},
                   received_at=RECEIVED[o["received"]],
                   lines=[{"sku": s, "quantity": q, "unit_price": Decimal("1250.50")} for s, q in o["lines"]])


def _without_key_replays(orders: list[dict]) -> list[dict]:
    """The sequence a file import would carry: no order answered by its Idempotency-Key."""
    taken, keys, out = set(), set(), []
    for o in orders:
        if (o["seller"], o["external_id"]) in taken:
            out.append(o)  # a replay by external id: every writer skips it
            continue
        if o["key"] and (o["seller"], o["key"]) in keys:
            continue
        taken.add((o["seller"], o["external_id"]))
        if o["key"]:
            keys.add((o["seller"], o["key"]))
        out.append(o)
    return out


def build(engine, stock: list[int]) -> None:
    """The world: sellers, warehouses (two storage rows each), products, stock, three stored customers."""
    with UnitOfWork(engine) as uow:
        sellers = {code: catalog.create_seller(uow, SYSTEM, code, code.title()) for code in SELLERS}
        for code, tz, cutoff, handover, days, lat, lon in WAREHOUSES:
            wid = catalog.create_warehouse(uow, SYSTEM, code=code, name=code, city=code, timezone=tz,
                                           cutoff_time=cutoff, handover_time=handover, working_days=days,
                                           lat=lat, lon=lon)
            for day, name in HOLIDAYS.get(code, ()):
                uow.execute(insert(t.warehouse_holidays).values(warehouse_id=wid, day=day, name=name))
            for loc, kind in (("RCV", "receiving"), ("A-01", "storage"), ("A-02", "storage")):
                catalog.create_location(uow, SYSTEM, warehouse_id=wid, code=loc, kind=kind)
        for seller in SELLERS:
            for sku in SKUS:
                catalog.upsert_product(uow, SYSTEM, ProductIn(seller=seller, sku=sku, name=sku, price=Decimal(1)))
        a = sellers["seller-a"]
        phone_only = uow.execute(insert(t.customers).values(
            seller_id=a, name="Phone", phone=KNOWN["phone_only"], created_at=NOW).returning(t.customers.c.id)).scalar()
        uow.execute(insert(t.customers).values(seller_id=a, name="Mail", email=KNOWN["email_only"], created_at=NOW))
        uow.execute(insert(t.customers).values(seller_id=a, name="Merged", phone=KNOWN["merged"],
                                               merged_into_id=phone_only, created_at=NOW))
        uow.commit()
    with UnitOfWork(engine) as uow:
        for (seller, sku, wh, loc), qty in zip(CELLS, stock):
            if qty:
                inbound.receive(uow, SYSTEM, ReceiptIn(seller=seller, warehouse=wh, location=loc,
                                                       lines=[ReceiptLineIn(sku=sku, expected=qty, received=qty)]))
        uow.execute(t.warehouses.update().where(t.warehouses.c.code.in_(AUTO_PUTAWAY))
                    .values(receiving_mode="auto_putaway"))
        uow.commit()


def careful(engine, orders: list[dict]) -> list:
    out = []
    for o in orders:
        try:
            out.append(submit_order(engine, MANAGER, _order(o), o["key"], now=NOW))
        except Exception as exc:  # noqa: BLE001 - the error itself is compared
            out.append(repr(exc))
    return out


def express(engine, orders: list[dict]) -> list:
    async def main():
        out = []
        try:
            for o in orders:
                try:
                    out.append(await express_intake.submit(engine, MANAGER, _order(o), o["key"], now=NOW))
                except Exception as exc:  # noqa: BLE001
                    out.append(repr(exc))
        finally:
            await pg_async.close_pools(engine)
        return out
    return asyncio.run(main())


def bulk(engine, orders: list[dict]) -> None:
    with UnitOfWork(engine) as uow:
        bulk_intake.create_orders(uow, MANAGER, [_order(o) for o in _without_key_replays(orders)], now=NOW,
                                  batch_size=3)
        uow.commit()


class Worlds:
    """A fresh copy of the same world for each writer: a SQLite file, or the truncated PostgreSQL schema."""

    def __init__(self, backend: str, tmp_path, sqlite_template, pg):
        self.backend, self.tmp, self.template, self.pg, self.n = backend, tmp_path, sqlite_template, pg, 0
        self.engines: list = []

    def fresh(self, stock: list[int]):
        if self.backend == "sqlite":
            self.n += 1
            path = self.tmp / f"w{self.n}.db"
            shutil.copy(self.template, path)
            engine = make_engine(f"sqlite:///{path}")
            self.engines.append(engine)
        else:
            engine = self.pg
            names = ", ".join(f'"{tbl.name}"' for tbl in reversed(metadata.sorted_tables))
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        build(engine, stock)
        return engine

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()
        self.engines = []


@pytest.fixture
def worlds(engine, tmp_path, sqlite_template):
    backend = engine.dialect.name
    w = Worlds("sqlite" if backend == "sqlite" else "postgres", tmp_path, sqlite_template,
               None if backend == "sqlite" else engine)
    yield w
    w.close()


NO_KEYS = {"idempotency_key", "request_hash"}  # what a file import (no Idempotency-Key) cannot store


def _rows(engine, skip=frozenset()) -> dict:
    assert_ledger_consistent(engine)
    return snapshot(engine, skip)


def test_every_writer_stores_the_same_rows(worlds):
    """12 generated sequences on SQLite, 6 on PostgreSQL (three writers, three worlds each)."""

    @settings(max_examples=12 if worlds.backend == "sqlite" else 6, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(orders=orders_strategy, stock=stock_strategy)
    def every_writer(orders, stock):
        eng = worlds.fresh(stock)
        want_results = ranked(careful(eng, orders), eng)
        want = _rows(eng)
        want_without_keys = _rows(eng, NO_KEYS)

        if worlds.backend == "postgres":
            eng = worlds.fresh(stock)
            got_results = ranked(express(eng, orders), eng)
            assert got_results == want_results
            assert _rows(eng) == want

        eng = worlds.fresh(stock)
        bulk(eng, orders)
        assert _rows(eng, NO_KEYS) == want_without_keys
        worlds.close()

    every_writer()


def test_the_generated_worlds_cover_the_cases(worlds):
    """One fixed example through the same machinery, checking that it means what the cases say:
    a split over two warehouses, a shortfall, a weekend and holiday ship-by, the merged and returning buyers."""
    stock = [0] * len(CELLS)
    stock[CELLS.index(("seller-a", "SKU-1", "ALA", "A-01"))] = 2
    stock[CELLS.index(("seller-a", "SKU-1", "MOW", "A-02"))] = 1
    stock[CELLS.index(("seller-a", "SKU-2", "NSK", "A-01"))] = 1
    orders = [
        {"seller": "seller-a", "external_id": "E-1", "key": "K-1", "lines": [("SKU-1", 3)], "buyer": 6,
         "received": 8, "place": 0},  # split ALA + MOW; Sunday; merged buyer
        {"seller": "seller-a", "external_id": "E-2", "key": None, "lines": [("SKU-2", 2)], "buyer": 3,
         "received": 1, "place": 3},  # 1 of 2 from NSK; phone-only buyer gets an e-mail
        {"seller": "seller-a", "external_id": "E-1", "key": "K-1", "lines": [("SKU-1", 3)], "buyer": 6,
         "received": 8, "place": 0},  # a replay by Idempotency-Key (the same request)
        {"seller": "seller-a", "external_id": "E-2", "key": None, "lines": [("SKU-2", 2)], "buyer": 0,
         "received": 0, "place": 0},  # a replay by external id (the same lines, another buyer spelling)
        {"seller": "seller-a", "external_id": "E-3", "key": "K-1", "lines": [("SKU-3", 1)], "buyer": 0,
         "received": 0, "place": 0},  # the key again with another body: refused (422)
        {"seller": "seller-a", "external_id": "E-1", "key": None, "lines": [("SKU-3", 1)], "buyer": 0,
         "received": 0, "place": 0},  # the external id again with other lines: refused (409)
    ]
    eng = worlds.fresh(stock)
    results = careful(eng, orders)
    assert [created for _, created in results[:4]] == [True, True, False, False]
    assert results[4].startswith("KeyReused(") and results[5].startswith("Conflict(")
    first, second = results[0][0], results[1][0]
    assert first["status"] == "allocated" and first["warehouses"] == ["ALA", "MOW"]
    # Monday 7 December is Almaty's holiday (HOLIDAYS): Tuesday 18:00 in Almaty (the lowest-id warehouse)
    assert first["ship_by"] == datetime(2026, 12, 8, 13, 0)
    assert second["status"] == "backordered" and second["lines"][0]["backordered"] == 1
    assert second["ship_by"] == datetime(2026, 12, 4, 12, 0)  # NSK, before its cut-off: Friday 19:00 local
    with eng.connect() as conn:
        customers = {r.id: r for r in conn.execute(select(t.customers))}
        by_ext = {r.external_id: r.customer_id for r in conn.execute(select(t.orders))}
    assert by_ext["E-1"] == by_ext["E-2"] == 1  # the merged customer's orders go to the one it was merged into
    assert customers[1].email == "phone@example.kz"
    bulk_eng = worlds.fresh(stock)
    bulk(bulk_eng, orders)
    assert _rows(bulk_eng, NO_KEYS) == _rows(eng, NO_KEYS)


def test_a_reserve_dock_is_sourced_and_an_auto_putaway_dock_is_not(worlds):
    """SKU-3 only on docks: 1 on ALA's ('reserve'), 2 on NSK's ('auto_putaway'): every writer reserves
    the one on ALA's dock and backorders the rest."""
    stock = [0] * len(CELLS)
    stock[CELLS.index(("seller-a", "SKU-3", "ALA", "RCV"))] = 1
    stock[CELLS.index(("seller-a", "SKU-3", "NSK", "RCV"))] = 2
    orders = [{"seller": "seller-a", "external_id": "E-1", "key": None, "lines": [("SKU-3", 3)], "buyer": 0,
               "received": 0, "place": 2}]
    eng = worlds.fresh(stock)
    [(order, created)] = careful(eng, orders)
    assert created and order["status"] == "backordered" and order["lines"][0]["backordered"] == 2
    assert order["warehouses"] == ["ALA"]
    want = _rows(eng, NO_KEYS)
    if worlds.backend == "postgres":
        eng = worlds.fresh(stock)
        express(eng, orders)
        assert _rows(eng, NO_KEYS) == want
    eng = worlds.fresh(stock)
    bulk(eng, orders)
    assert _rows(eng, NO_KEYS) == want
