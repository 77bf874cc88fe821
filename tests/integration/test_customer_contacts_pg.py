"""One customer per contact under concurrency, on PostgreSQL: orders of one new buyer placed
at once through the careful path, a writer that holds the buyer's contact uncommitted, and an
order import racing API orders for the same new buyer all end with one customer.

Skipped when QOIMA_TEST_DATABASE_URL is unset."""

from __future__ import annotations

import os
import random
import threading
import time

import pytest
from conftest import build_world, order_payload
from sqlalchemy import func, insert, select, text
from test_concurrency_pg import in_parallel

from qoima.customers.schemas import CustomerIn
from qoima.customers.services import find_or_create_customer
from qoima.db import tables as t
from qoima.orders.schemas import OrderIn
from qoima.orders.services.order_import import import_orders
from qoima.platform.imports import ImportOptions, Upload
from qoima.orders.services.intake import submit_order
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict
from qoima.platform.unit_of_work import UnitOfWork, utcnow

pytestmark = pytest.mark.postgres

if not os.environ.get("QOIMA_TEST_DATABASE_URL"):
    pytest.skip("PostgreSQL concurrency tests need QOIMA_TEST_DATABASE_URL", allow_module_level=True)

ADMIN = Principal(user_id=None, email="importer@qoima.local", role="admin")
HEAD = ("seller,channel,external_id,customer_name,customer_phone,customer_email,delivery_type,address,city,"
        "lat,lon,received_at,sku,quantity,unit_price\n")


@pytest.fixture
def pg(pg_engine_session):
    names = ", ".join(f'"{tbl.name}"' for tbl in reversed(t.metadata.sorted_tables))
    with pg_engine_session.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return pg_engine_session


def customers_with(engine, seller_id: int, phone: str) -> list[int]:
    with engine.connect() as conn:
        return conn.execute(select(t.customers.c.id).where(t.customers.c.seller_id == seller_id,
                                                           t.customers.c.phone == phone)).scalars().all()


def test_concurrent_orders_of_one_new_buyer_make_one_customer(pg):
    world = build_world(pg, {("seller-a", "SKU-1", "ALA"): 100})
    seller = world.principals["seller_a"]
    buyer = {"name": "Dana", "phone": "+77017770001", "email": "dana@example.kz"}
    # phone and e-mail, the phone only, the e-mail only: all of them the same buyer once one order has both
    shapes = [buyer, {"name": "Dana", "phone": buyer["phone"]}]
    calls = [OrderIn(**order_payload(f"D-{i:02d}", customer=shapes[i % 2])) for i in range(30)]
    results, errors = in_parallel(lambda d: submit_order(pg, seller, d), calls, workers=30)
    assert errors == [] and len(results) == 30
    ids = customers_with(pg, world.sellers["seller-a"], buyer["phone"])
    assert len(ids) == 1
    with pg.connect() as conn:
        assert set(conn.execute(select(t.orders.c.customer_id)).scalars()) == set(ids)
        assert conn.execute(select(func.count()).select_from(t.customers)).scalar_one() == 1
        contacts = conn.execute(select(t.customer_contacts.c.kind, t.customer_contacts.c.customer_id)).all()
    assert sorted(contacts) == [("email", ids[0]), ("phone", ids[0])]


def test_the_careful_path_reuses_the_customer_of_a_writer_that_won_the_race(pg):
    """Another writer (the bulk import or the express function take no lock of the careful path's)
    inserts the buyer and commits while our look-up found nothing: our insert is refused by the
    unique key, and the careful path re-reads and takes that customer, in the same transaction."""
    world = build_world(pg)
    sid = world.sellers["seller-a"]
    phone = "+77017770002"
    other = pg.connect()
    tx = other.begin()
    winner = other.execute(insert(t.customers).values(seller_id=sid, name="Import", phone=phone,
                                                      created_at=utcnow()).returning(t.customers.c.id)).scalar_one()
    out: dict = {}

    def careful():
        try:
            with UnitOfWork(pg) as uow:
                out["pid"] = uow.execute(text("SELECT pg_backend_pid()")).scalar_one()
                out["id"] = find_or_create_customer(uow, sid, CustomerIn(name="Api", phone=phone,
                                                                          email="api@example.kz"), "t", utcnow())
                uow.execute(text("SELECT 1"))  # the transaction is still usable after the refused insert
                uow.commit()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            out["error"] = repr(exc)

    thread = threading.Thread(target=careful)
    thread.start()
    deadline = time.monotonic() + 20
    waiting = False
    while time.monotonic() < deadline and not waiting:  # until its insert waits for our uncommitted row
        time.sleep(0.05)
        with pg.connect() as conn:
            waiting = "pid" in out and conn.execute(text(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"), {"p": out["pid"]}).scalar()
    assert waiting, "the careful path did not wait for the uncommitted customer"
    tx.commit()
    other.close()
    thread.join(timeout=30)
    assert out.get("error") is None and out["id"] == winner
    assert customers_with(pg, sid, phone) == [winner]
    with pg.connect() as conn:  # the e-mail was filled in on the winner and belongs to it
        assert conn.execute(select(t.customers.c.email).where(t.customers.c.id == winner)).scalar() == "api@example.kz"
        assert dict(conn.execute(select(t.customer_contacts.c.kind, t.customer_contacts.c.customer_id)).all()) == {
            "phone": winner, "email": winner}


def _file(n: int, phone: str, email: str, tag: str) -> bytes:
    """n orders of distinct buyers, the new buyer's orders spread over them (first one early)."""
    rows = []
    for i in range(n):
        if i % 97 == 5:
            name, ph, em = "Raced Buyer", phone, email
        else:
            name, ph, em = f"B{i}", f"+7702{tag}{i:06d}", ""
        rows.append(f"seller-a,csv,{tag}-{i},{name},{ph},{em},courier,Abay 1,Almaty,43.25,76.93,,SKU-1,1,100\n")
    return (HEAD + "".join(rows)).encode()


def test_an_import_racing_api_orders_for_one_new_buyer_gives_one_customer(pg):
    # the API orders take another SKU than the import: both lock their stock rows until commit, and
    # the careful path locks its stock only after the customer (intake.py; see the report of issue 7)
    world = build_world(pg, {("seller-a", "SKU-1", "ALA"): 1_000_000, ("seller-a", "SKU-2", "ALA"): 1_000})
    sid = world.sellers["seller-a"]
    seller = world.principals["seller_a"]
    outcomes = []
    for rnd in range(4):
        phone, email = f"+7701888{rnd:04d}", f"raced{rnd}@example.kz"
        data = _file(3000, phone, email, f"{rnd}")
        api_errors, import_result = [], {}

        def api():
            time.sleep(random.uniform(0, 0.8))
            for i in range(5):
                body = order_payload(f"R{rnd}-API-{i}", [("SKU-2", 1)], customer={"name": "Raced Buyer", "phone": phone,
                                                                   "email": email})
                try:
                    submit_order(pg, seller, OrderIn(**body))
                except Exception as exc:  # noqa: BLE001 - reported by the test
                    api_errors.append(repr(exc))

        def run_import():
            try:
                import_result["report"] = import_orders(pg, ADMIN, Upload(data, "orders.csv"), ImportOptions(batch_size=500))
            except Exception as exc:  # noqa: BLE001 - reported by the test
                import_result["error"] = exc

        threads = [threading.Thread(target=run_import)] + [threading.Thread(target=api) for _ in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        assert api_errors == []  # the careful path never fails on the race
        ids = customers_with(pg, sid, phone)
        assert len(ids) == 1, f"round {rnd}: {len(ids)} customers for one buyer"
        with pg.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(t.orders)
                                  .where(t.orders.c.external_id.like(f"{rnd}-%"))).scalar_one()
            buyers = set(conn.execute(select(t.orders.c.customer_id).where(
                t.orders.c.external_id.like(f"R{rnd}-API-%") | (t.orders.c.external_id.in_(
                    [f"{rnd}-{i}" for i in range(3000) if i % 97 == 5])))).scalars())
        assert buyers == set(ids)  # every order of the buyer, API or import, has that customer
        if "error" in import_result:  # it lost the race: the API's customer committed before its COPY
            outcomes.append(type(import_result["error"]).__name__)
            assert stored == 0  # all or nothing
        else:
            outcomes.append("imported")
            assert import_result["report"].committed and stored == 3000
    print("import outcomes:", outcomes)


def _lose_race(pg) -> tuple[int, int, str, dict]:
    """An import whose look-up found nothing for a buyer that an uncommitted writer (an API order,
    say) has inserted: its COPY waits for that writer, which then commits."""
    world = build_world(pg, {("seller-a", "SKU-1", "ALA"): 100_000})
    sid = world.sellers["seller-a"]
    phone = "+77018889999"
    conn = pg.connect()
    tx = conn.begin()
    winner = conn.execute(insert(t.customers).values(seller_id=sid, name="Api", phone=phone, created_at=utcnow())
                          .returning(t.customers.c.id)).scalar_one()
    xid = conn.execute(text("SELECT (pg_current_xact_id()::text::bigint % 4294967296)::text")).scalar_one()
    out: dict = {}

    def run_import():
        try:
            out["report"] = import_orders(pg, ADMIN, Upload(_file(300, phone, "", "9"), "orders.csv"))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            out["error"] = exc

    thread = threading.Thread(target=run_import)
    thread.start()
    deadline, waiting = time.monotonic() + 30, 0
    while not waiting and time.monotonic() < deadline:
        time.sleep(0.05)
        with pg.connect() as c:
            waiting = c.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' "
                                     "AND transactionid::text = :x AND NOT granted"), {"x": xid}).scalar_one()
    tx.commit()
    conn.close()
    thread.join(timeout=60)
    assert waiting, "the import did not wait for the uncommitted customer"
    return winner, sid, phone, out


def test_an_import_that_loses_the_race_for_a_buyer_stores_nothing(pg):
    winner, sid, phone, out = _lose_race(pg)
    assert "error" in out, f"the import reused a customer it could not see: {out}"
    assert customers_with(pg, sid, phone) == [winner]
    with pg.connect() as c:
        assert c.execute(select(func.count()).select_from(t.orders)).scalar_one() == 0


def test_an_import_that_loses_the_race_for_a_buyer_answers_a_conflict(pg):
    _, _, _, out = _lose_race(pg)
    assert isinstance(out.get("error"), Conflict), repr(out)
    assert out["error"].field == "file"
