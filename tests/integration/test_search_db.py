"""Search that finds, on SQLite and PostgreSQL: every example users tried (order number with
and without #, the phone typed the local way, a city, an e-mail in another case, a part of
the buyer's name, a line's SKU in any case and its barcode) finds the order; products and
stock by a part of the SKU or name and by barcode; a seller finds only its own, the floor
finds no one by contacts; the shift views list exactly what the dashboard KPIs count."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from conftest import order_payload
from sqlalchemy import update

from qoima.catalog import services as catalog
from qoima.catalog.domain.barcodes import check_digit
from qoima.catalog.schemas import ProductIn
from qoima.db import tables as t
from qoima.entrypoints.web import lookups
from qoima.orders.schemas import OrderIn
from qoima.orders.services import lifecycle, queries, search
from qoima.orders.services.intake import submit_order
from qoima.platform.access import SYSTEM
from qoima.platform.unit_of_work import UnitOfWork, run, utcnow
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn
from qoima.stock.services import inbound

BARCODE = "487000001234" + check_digit("487000001234")
README_PHONE = "8 701 123 45 67"


def _order(world, seller: str, ext: str, phone: str, city: str, lines, name="Aigerim Nurlanovna",
           email="Aigerim@Example.kz") -> int:
    body = order_payload(ext, lines=lines, seller=seller)
    body["customer"].update(phone=phone, name=name, email=email)
    body["delivery"]["city"] = city
    order, _ = submit_order(world.engine, SYSTEM, OrderIn(**body))
    return order["id"]


@pytest.fixture
def shop(world):
    with UnitOfWork(world.engine) as uow:
        catalog.upsert_product(uow, SYSTEM, ProductIn(seller="seller-a", sku="ARU-001", name="Aruzhan green tea",
                                                      price=Decimal("990"), barcodes=[BARCODE]))
        inbound.receive(uow, SYSTEM, ReceiptIn(seller="seller-a", warehouse="ALA", location="A-01",
                                               lines=[ReceiptLineIn(sku="ARU-001", expected=5, received=5)]))
        uow.commit()
    ids = {"a": _order(world, "seller-a", "KASPI-25004", README_PHONE, "Almaty", (("ARU-001", 1),)),
           "a2": _order(world, "seller-a", "KASPI-25005", "+77017654321", "Astana", (("SKU-1", 1),),
                        name="Dana", email="dana@example.kz"),
           "b": _order(world, "seller-b", "B-9", "+77011234567", "Almaty", (("SKU-1", 1),))}
    return ids


def found(world, who: str, q: str) -> set[int]:
    with UnitOfWork(world.engine) as uow:
        items, total = queries.list_orders(uow, world.principals[who], q=q, limit=200)
    assert total == len(items)
    return {o["id"] for o in items}


def test_every_example_finds_the_order(world, shop):
    a = shop["a"]
    for q in (str(a), f"#{a}", f"# {a}", "KASPI-25004", "kaspi-25004", README_PHONE, "87011234567",
              "+77011234567", "+7 (701) 123-45-67", "AIGERIM@example.KZ", "nurlan", "ARU-001", "aru-001", BARCODE,
              "almaty"):
        assert a in found(world, "seller_a", q), q
        assert a in found(world, "manager", q), q
    assert found(world, "seller_a", "Almaty") == {a}
    assert found(world, "manager", "Almaty") == {a, shop["b"]}
    assert found(world, "seller_a", "astana") == {shop["a2"]}
    assert found(world, "seller_a", "no such thing") == set()


def test_a_seller_finds_only_its_own_and_the_floor_no_one_by_contacts(world, shop):
    assert found(world, "manager", README_PHONE) == {shop["a"], shop["b"]}
    assert found(world, "seller_b", README_PHONE) == {shop["b"]}
    assert found(world, "seller_b", f"#{shop['a']}") == set()
    assert found(world, "seller_b", "KASPI-25004") == set()
    for q in (README_PHONE, "aigerim@example.kz", "nurlan"):
        assert found(world, "worker", q) == set(), q
    assert found(world, "worker", f"#{shop['a']}") == {shop["a"]}  # the number and the goods: yes
    assert found(world, "worker", BARCODE) == {shop["a"]}


def test_header_search_groups_and_goes_straight_to_one_match(world, shop):
    with UnitOfWork(world.engine) as uow:
        got = search.search(uow, world.principals["seller_a"], README_PHONE)
        assert [o["id"] for o in got["orders"][0]] == [shop["a"]] and got["customers"][1] == 1
        assert search.single_target(got) == ("order", got["orders"][0][0])
        worker = search.search(uow, world.principals["worker"], README_PHONE)
        assert worker["customers"] == ([], 0) and worker["orders"] == ([], 0)
        staff = search.search(uow, world.principals["manager"], README_PHONE)
        assert staff["orders"][1] == 2 and search.single_target(staff) is None
        product = search.search(uow, world.principals["seller_a"], "aruzhan")
        assert search.single_target(product)[0] == "product" and product["products"][0][0]["sku"] == "ARU-001"
        assert search.search(uow, world.principals["seller_b"], "aruzhan")["products"] == ([], 0)
        dana = search.search(uow, world.principals["seller_a"], "Dana")
        assert [c["name"] for c in dana["customers"][0]] == ["Dana"]


@pytest.mark.parametrize("q", ["ARU", "aru", "aru-001", "Aruzhan", "GREEN TEA", BARCODE])
def test_products_and_stock_by_part_of_sku_or_name_and_by_barcode(world, shop, q):
    with UnitOfWork(world.engine) as uow:
        items, total = lookups.products(uow, world.principals["seller_a"], q=q)
        assert [p["sku"] for p in items] == ["ARU-001"] and total == 1
        assert items[0]["barcodes"] == [BARCODE]
        rows = lookups.stock_levels(uow, world.principals["manager"], q=q)
        assert {(r["sku"], r["warehouse"], r["on_hand"]) for r in rows} == {("ARU-001", "ALA", 5)}  # one of them reserved
        assert lookups.products(uow, world.principals["seller_b"], q=q) == ([], 0)
        assert lookups.stock_levels(uow, world.principals["seller_b"], q=q) == []


def test_a_percent_or_underscore_is_a_character_not_a_wildcard(world, shop):
    with UnitOfWork(world.engine) as uow:
        assert lookups.products(uow, world.principals["manager"], q="%")[1] == 0
        assert lookups.products(uow, world.principals["manager"], q="SKU_1")[1] == 0
        assert lookups.products(uow, world.principals["manager"], q="sku-1")[1] == 2  # seller A's and B's


def test_shift_views_list_exactly_what_the_kpis_count(world, shop):
    now = utcnow()
    extra = [_order(world, "seller-a", f"V-{i}", "+77015550000", "Almaty", (("SKU-1", 1),), name="V") for i in range(6)]
    deadlines = [now - timedelta(hours=3), now - timedelta(minutes=5), now + timedelta(minutes=30),
                 now + timedelta(hours=1, minutes=50), now + timedelta(hours=5), now + timedelta(days=3)]
    with UnitOfWork(world.engine) as uow:
        for oid, ship_by in zip(extra, deadlines):
            uow.execute(update(t.orders).where(t.orders.c.id == oid).values(ship_by=ship_by))
        uow.execute(update(t.orders).where(t.orders.c.id == shop["b"]).values(ship_by=now - timedelta(hours=1)))
        uow.commit()
    run(world.engine, lambda uow: lifecycle.transition(uow, world.principals["manager"], extra[0], "cancelled", "x"))
    for who in ("manager", "seller_a", "seller_b", "worker"):
        with UnitOfWork(world.engine) as uow:
            k = queries.kpis(uow, world.principals[who], now=now)
            for view in queries.VIEWS:
                items, total = queries.list_orders(uow, world.principals[who], view=view, now=now, limit=200)
                assert total == len(items) == k[view], (who, view)
    with UnitOfWork(world.engine) as uow:
        k = queries.kpis(uow, world.principals["seller_a"], now=now)
        late = queries.list_orders(uow, world.principals["seller_a"], view="late", now=now)[0]
        risk = queries.list_orders(uow, world.principals["seller_a"], view="at_risk", now=now)[0]
    assert k["late"] == 1 and [o["id"] for o in late] == [extra[1]]  # the cancelled one is not late
    assert k["at_risk"] == 2 and {o["id"] for o in risk} == {extra[2], extra[3]}
    assert k["open"] == 2 + 5


def test_default_order_is_open_first_soonest_ship_by_and_sorts_both_ways(world, shop):
    now = utcnow()
    with UnitOfWork(world.engine) as uow:
        uow.execute(update(t.orders).where(t.orders.c.id == shop["a"]).values(ship_by=now + timedelta(days=2)))
        uow.execute(update(t.orders).where(t.orders.c.id == shop["a2"]).values(ship_by=now + timedelta(hours=1)))
        uow.execute(update(t.orders).where(t.orders.c.id == shop["b"]).values(ship_by=now + timedelta(days=9)))
        uow.commit()
    run(world.engine, lambda uow: lifecycle.transition(uow, world.principals["manager"], shop["b"], "cancelled", "x"))
    p = world.principals["manager"]
    with UnitOfWork(world.engine) as uow:
        ids = lambda **kw: [o["id"] for o in queries.list_orders(uow, p, **kw)[0]]  # noqa: E731
        assert ids(sort="shift") == [shop["a2"], shop["a"], shop["b"]]  # open by ship-by, then the closed history
        assert ids() == [shop["b"], shop["a2"], shop["a"]]  # the API's default: newest first
        assert ids(sort="ship_by") == [shop["a2"], shop["a"], shop["b"]]
        assert ids(sort="-ship_by") == [shop["b"], shop["a"], shop["a2"]]
        assert ids(sort="received") == sorted(ids(sort="received"))
        assert ids(sort="-received") == [shop["b"], shop["a2"], shop["a"]]
        statuses = [o["status"] for o in queries.list_orders(uow, p, sort="status")[0]]
        assert statuses[-1] == "cancelled"
        assert [o["status"] for o in queries.list_orders(uow, p, sort="-status")[0]][0] == "cancelled"


def test_the_shift_order_pages_through_open_orders_then_the_history(world, shop):
    now = utcnow()
    more = [_order(world, "seller-a", f"S-{i}", "+77015550000", "Almaty", (("SKU-1", 1),), name="S") for i in range(7)]
    with UnitOfWork(world.engine) as uow:
        for n, oid in enumerate(more):
            uow.execute(update(t.orders).where(t.orders.c.id == oid).values(
                ship_by=None if n == 3 else now + timedelta(hours=(n * 5) % 7), received_at=now - timedelta(hours=n)))
        uow.commit()
    for oid in more[:3]:
        run(world.engine, lambda uow, oid=oid: lifecycle.transition(uow, world.principals["manager"], oid,
                                                                    "cancelled", "x"))
    p = world.principals["manager"]
    with UnitOfWork(world.engine) as uow:
        rows = uow.execute(t.orders.select()).all()
        open_ = sorted((r for r in rows if r.status != "cancelled"),
                       key=lambda r: (r.ship_by is None, r.ship_by or now, -r.id))
        history = sorted((r for r in rows if r.status == "cancelled"), key=lambda r: (r.received_at, r.id), reverse=True)
        expected = [r.id for r in open_ + history]
        for size in (1, 2, 3, 4, 50):
            pages = [queries.list_orders(uow, p, sort="shift", limit=size, offset=k)[0]
                     for k in range(0, len(expected), size)]
            assert [o["id"] for page in pages for o in page] == expected, size
