"""One customer per contact, by the database (customer_contacts, migration 0005): a second
customer with a taken phone or e-mail is refused by the unique key whoever inserts it; the
careful path finds buyers by their contacts and reuses the winner of a race; merges move the
contacts to the surviving customer; the migration backfills existing customers."""

from __future__ import annotations

import uuid

import pytest
from conftest import PG_URL
from sqlalchemy import create_engine, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from qoima.customers.schemas import CustomerIn
from qoima.customers.services import duplicate_groups, find_or_create_customer, merge_duplicates
from qoima.db import tables as t
from qoima.db.engine import make_engine
from qoima.db.migrate import upgrade
from qoima.platform.settings import normalize_url
from qoima.platform.unit_of_work import UnitOfWork, utcnow

PHONE, EMAIL = "+77011112233", "buyer@example.kz"


def contacts(engine, seller_id: int) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.customer_contacts).where(t.customer_contacts.c.seller_id == seller_id)).all()
    return {(r.kind, r.value): r.customer_id for r in rows}


def customer_row(seller_id: int, **values) -> dict:
    return {"seller_id": seller_id, "name": "X", "phone": None, "email": None, "created_at": utcnow(), **values}


def find(engine, seller_id: int, commit: bool = True, **c) -> int:
    with UnitOfWork(engine) as uow:
        cid = find_or_create_customer(uow, seller_id, CustomerIn(name="Buyer", **c), "tester", utcnow())
        if commit:
            uow.commit()
    return cid


# ---------------------------------------------------------------- the database refuses

@pytest.mark.parametrize("taken", [{"phone": PHONE}, {"email": EMAIL}])
def test_the_database_refuses_a_second_customer_with_a_taken_contact(world, taken):
    a, b = world.sellers["seller-a"], world.sellers["seller-b"]
    with UnitOfWork(world.engine) as uow:
        first = uow.execute(insert(t.customers).values(customer_row(a, phone=PHONE, email=EMAIL))
                            .returning(t.customers.c.id)).scalar_one()
        uow.commit()
    assert contacts(world.engine, a) == {("phone", PHONE): first, ("email", EMAIL): first}
    with UnitOfWork(world.engine) as uow, pytest.raises(IntegrityError, match="customer_contacts"):
        uow.execute(insert(t.customers).values(customer_row(a, **taken)))
    with UnitOfWork(world.engine) as uow, pytest.raises(IntegrityError, match="customer_contacts"):
        # nor in one statement of many rows, as an import writes them
        uow.execute(insert(t.customers), [customer_row(a, phone="+77015550001"), customer_row(a, **taken)])
    with UnitOfWork(world.engine) as uow:  # another seller's buyer may have the same phone and e-mail
        other = uow.execute(insert(t.customers).values(customer_row(b, phone=PHONE, email=EMAIL))
                            .returning(t.customers.c.id)).scalar_one()
        uow.commit()
    assert contacts(world.engine, b) == {("phone", PHONE): other, ("email", EMAIL): other}
    with world.engine.connect() as conn:
        assert conn.execute(select(t.customers.c.id).where(t.customers.c.seller_id == a)).scalars().all() == [first]


def test_a_contact_row_must_be_normalized(world):
    a = world.sellers["seller-a"]
    with UnitOfWork(world.engine) as uow, pytest.raises(IntegrityError, match="normalized"):
        uow.execute(insert(t.customers).values(customer_row(a, phone="8 701 111 22 33")))


# ---------------------------------------------------------------- the careful path

def test_find_or_create_reuses_by_phone_only(world):
    a = world.sellers["seller-a"]
    first = find(world.engine, a, phone=PHONE)
    assert find(world.engine, a, phone=PHONE) == first
    assert find(world.engine, a, phone=PHONE, email="another@example.kz") == first  # e-mail filled in
    assert contacts(world.engine, a) == {("phone", PHONE): first, ("email", "another@example.kz"): first}


def test_find_or_create_reuses_by_email_only(world):
    a = world.sellers["seller-a"]
    first = find(world.engine, a, email=EMAIL)
    assert find(world.engine, a, email=EMAIL) == first
    assert find(world.engine, a, email=EMAIL, phone=PHONE) == first  # phone filled in
    assert find(world.engine, a, phone=PHONE) == first
    assert contacts(world.engine, a) == {("phone", PHONE): first, ("email", EMAIL): first}


def test_a_new_email_is_linked_to_the_phone_matched_customer(world):
    a = world.sellers["seller-a"]
    first = find(world.engine, a, phone=PHONE)
    assert find(world.engine, a, phone=PHONE, email=EMAIL) == first
    with world.engine.connect() as conn:
        assert conn.execute(select(t.customers.c.email).where(t.customers.c.id == first)).scalar() == EMAIL
    assert find(world.engine, a, email=EMAIL) == first  # the e-mail alone now finds the buyer
    with world.engine.connect() as conn:
        assert conn.execute(select(text("count(*)")).select_from(t.customers)).scalar() == 1
    # the phone is matched first: a second e-mail does not replace the first one
    assert find(world.engine, a, phone=PHONE, email="second@example.kz") == first
    assert contacts(world.engine, a) == {("phone", PHONE): first, ("email", EMAIL): first}


def test_a_name_only_buyer_is_a_new_customer_each_time(world):
    a = world.sellers["seller-a"]
    assert find(world.engine, a) != find(world.engine, a)
    assert contacts(world.engine, a) == {}


# ---------------------------------------------------------------- merges

def test_merge_moves_contacts_to_the_survivor_and_keeps_the_audit(world):
    a = world.sellers["seller-a"]
    older = find(world.engine, a, phone=PHONE)
    younger = find(world.engine, a, email=EMAIL, phone="+77015550001")
    # an order with the older one's phone and the younger one's e-mail: the same buyer, two records
    assert find(world.engine, a, phone=PHONE, email=EMAIL) == older
    assert contacts(world.engine, a) == {("phone", PHONE): older, ("email", EMAIL): older,  # oldest has it
                                         ("phone", "+77015550001"): younger}
    with UnitOfWork(world.engine) as uow:
        assert duplicate_groups(uow, a) == [[older, younger]]
        assert merge_duplicates(uow, a, "tester") == [{"kept_id": older, "merged_id": younger,
                                                       "reason": "same e-mail"}]
        uow.commit()
    assert contacts(world.engine, a) == {("phone", PHONE): older, ("email", EMAIL): older,
                                         ("phone", "+77015550001"): older}
    with world.engine.connect() as conn:
        audit = conn.execute(select(t.customer_merges)).one()
        assert (audit.kept_id, audit.merged_id, audit.actor) == (older, younger, "tester")
        assert audit.snapshot["phone"] == "+77015550001" and audit.snapshot["email"] == EMAIL
    assert find(world.engine, a, phone="+77015550001") == older  # the merged one's phone finds the survivor
    with UnitOfWork(world.engine) as uow:
        assert merge_duplicates(uow, a, "tester") == []


def test_deleting_a_customer_hands_its_contact_to_the_next_oldest(world):
    a = world.sellers["seller-a"]
    first = find(world.engine, a, phone=PHONE)
    second = find(world.engine, a, email=EMAIL)
    with UnitOfWork(world.engine) as uow:  # a record that came to hold the same phone (an older import, say)
        uow.execute(update(t.customers).where(t.customers.c.id == second).values(phone=PHONE))
        uow.commit()
    assert contacts(world.engine, a) == {("phone", PHONE): first, ("email", EMAIL): second}
    with UnitOfWork(world.engine) as uow:
        uow.execute(delete(t.customers).where(t.customers.c.id == first))
        uow.commit()
    assert contacts(world.engine, a) == {("phone", PHONE): second, ("email", EMAIL): second}
    with UnitOfWork(world.engine) as uow:
        uow.execute(update(t.customers).where(t.customers.c.id == second).values(phone=None))
        uow.commit()
    assert contacts(world.engine, a) == {("email", EMAIL): second}


# ---------------------------------------------------------------- the migration's backfill

@pytest.fixture(params=["sqlite", "postgres"])
def bare_engine(request, tmp_path):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'backfill.db'}")
        yield eng
        eng.dispose()
        return
    if not PG_URL:
        pytest.skip("QOIMA_TEST_DATABASE_URL is not set")
    schema = f"qoima_contacts_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = create_engine(normalize_url(PG_URL), connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_the_migration_backfills_the_oldest_customer_of_each_contact(bare_engine):
    upgrade(bare_engine, "0003")
    now = utcnow()
    with bare_engine.begin() as conn:
        sid = conn.execute(text("INSERT INTO sellers (code, name, created_at) VALUES ('s', 'S', :now) RETURNING id"),
                           {"now": now}).scalar_one()
        ids = [conn.execute(text("INSERT INTO customers (seller_id, name, phone, email, language, preferred_channel, "
                                 "created_at) VALUES (:s, 'x', :p, :e, 'ru', 'sms', :now) RETURNING id"),
                            {"s": sid, "p": p, "e": e, "now": now}).scalar_one()
               for p, e in ((PHONE, None), (PHONE, EMAIL), (None, EMAIL), ("+77015550001", None))]
        conn.execute(text("UPDATE customers SET merged_into_id = :k WHERE id = :m"), {"k": ids[0], "m": ids[3]})
    upgrade(bare_engine)
    # duplicates stay for the audited merge; the merged one's phone belongs to its survivor
    assert contacts(bare_engine, sid) == {("phone", PHONE): ids[0], ("email", EMAIL): ids[1],
                                          ("phone", "+77015550001"): ids[0]}
    with UnitOfWork(bare_engine) as uow:
        assert duplicate_groups(uow, sid) == [ids[:3]]
        merge_duplicates(uow, sid, "tester")
        uow.commit()
    assert contacts(bare_engine, sid) == {("phone", PHONE): ids[0], ("email", EMAIL): ids[0],
                                          ("phone", "+77015550001"): ids[0]}
    with bare_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM customer_merges")).scalar() == 2
