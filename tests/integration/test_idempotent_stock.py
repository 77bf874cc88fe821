"""Idempotent stock operations: a receipt, move, adjustment or transfer retried
with the same Idempotency-Key (API) or operation id (web form) changes on-hand
once and answers the same; the same key with another body is refused (422);
concurrent requests with one key change stock once (PostgreSQL, threads); a key
never crosses callers; keys expire."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select, text, update
from test_stock_ledger import assert_ledger_consistent, count, level, movements

from qoima.db import tables as t
from qoima.platform import idempotency
from qoima.platform.errors import Conflict, ValidationError
from qoima.platform.idempotency import KeyInProgress, KeyReused, Operation, run_once
from qoima.platform.unit_of_work import utcnow
from qoima.stock.schemas import AdjustIn, MoveIn, ReceiptIn, ReceiptLineIn
from qoima.stock.services import inbound, operations

PROBLEM = "application/problem+json"
KEY = {"Idempotency-Key": "scan-7f3a-0001"}


def _post(client, world, path, body, key=KEY, who="worker"):
    return client.post(path, json=body, headers={**world.headers(who), **(key or {})})


def _receipt(qty=4, sku="SKU-1", loc="RCV"):
    return {"seller": "seller-a", "warehouse": "ALA", "location": loc, "supplier": "Acme",
            "lines": [{"sku": sku, "expected": qty, "received": qty}]}


def _stock_state(engine) -> dict:
    with engine.connect() as conn:
        state = {"stock": sorted(tuple(r) for r in conn.execute(select(t.stock.c.id, t.stock.c.on_hand,
                                                                          t.stock.c.reserved))),
                 "transfers": sorted(tuple(r) for r in conn.execute(select(t.transfers.c.id, t.transfers.c.status)))}
    return {**state, "movements": count(engine, t.stock_movements), "receipts": count(engine, t.receipts)}


# --- each operation, retried -------------------------------------------------------------

def _in_transit(client, world) -> int:
    r = _post(client, world, "/api/v1/transfers", {"seller": "seller-a", "from_warehouse": "ALA",
                                                   "to_warehouse": "AST",
                                                   "lines": [{"sku": "SKU-1", "quantity": 3, "from_location": "A-01"}]},
              key=None)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _on_the_dock(client, world):
    assert _post(client, world, "/api/v1/receipts", _receipt(6), key=None).status_code == 201
    return "/api/v1/moves", {"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA", "from_location": "RCV",
                             "to_location": "A-02", "quantity": 5}


OPERATIONS = {
    # name: (prepare(client, world) -> path, body, {(wh, loc): expected change of SKU-1 of seller-a}, status)
    "receipt": (lambda c, w: ("/api/v1/receipts", _receipt(4)), {("ALA", "RCV"): 4}, 201),
    "putaway": (lambda c, w: _on_the_dock(c, w), {("ALA", "RCV"): -5, ("ALA", "A-02"): 5}, 201),
    "move": (lambda c, w: ("/api/v1/moves", {"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA",
                                             "from_location": "A-01", "to_location": "A-02", "quantity": 2,
                                             "reason": "re-slot"}), {("ALA", "A-01"): -2, ("ALA", "A-02"): 2}, 201),
    "adjustment": (lambda c, w: ("/api/v1/adjustments", {"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA",
                                                         "location": "A-01", "delta": -3, "reason": "damaged"}),
                   {("ALA", "A-01"): -3}, 201),
    "transfer": (lambda c, w: ("/api/v1/transfers", {"seller": "seller-a", "from_warehouse": "ALA",
                                                     "to_warehouse": "AST", "lines": [
                                                         {"sku": "SKU-1", "quantity": 4, "from_location": "A-01"}]}),
                 {("ALA", "A-01"): -4}, 201),
    "transfer_receive": (lambda c, w: (f"/api/v1/transfers/{_in_transit(c, w)}/receive", {"location": "A-02"}),
                         {("AST", "A-02"): 3}, 200),
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_a_retried_operation_changes_stock_once_and_answers_the_same(client, world, name):
    prepare, change, status = OPERATIONS[name]
    path, body = prepare(client, world)
    places = sorted(change)
    before = {p: level(world.engine, "seller-a", "SKU-1", *p)[0] for p in places}
    moves_before = count(world.engine, t.stock_movements)
    first = _post(client, world, path, body)
    assert first.status_code == status, first.text
    assert "idempotent-replay" not in first.headers
    state = _stock_state(world.engine)
    for _ in range(3):  # the scanner did not get the answer and sends it again
        again = _post(client, world, path, body)
        assert again.status_code == status, again.text
        assert again.json() == first.json()
        assert again.headers["idempotent-replay"] == "true"
    assert _stock_state(world.engine) == state
    after = {p: level(world.engine, "seller-a", "SKU-1", *p)[0] for p in places}
    assert {p: after[p] - before[p] for p in places} == change
    assert count(world.engine, t.stock_movements) - moves_before == len(change)
    # without a key the same request is a new one (today's behaviour)
    if name in ("receipt", "adjustment"):
        assert _post(client, world, path, body, key=None).status_code == status
        assert _stock_state(world.engine) != state
    assert_ledger_consistent(world.engine)


def test_the_same_key_with_another_body_is_refused_naming_the_header(client, world):
    assert _post(client, world, "/api/v1/receipts", _receipt(4)).status_code == 201
    state = _stock_state(world.engine)
    r = _post(client, world, "/api/v1/receipts", _receipt(40))
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["field"] == "Idempotency-Key" and "different request" in r.json()["detail"]
    assert _stock_state(world.engine) == state
    # a body that only differs in JSON spelling (key order, defaults written out) is the same request
    same = {"lines": [{"received": 4, "expected": 4, "sku": "SKU-1"}], "supplier": "Acme", "reference": "",
            "location": "RCV", "warehouse": "ALA", "seller": "seller-a"}
    assert _post(client, world, "/api/v1/receipts", same).status_code == 201
    assert _stock_state(world.engine) == state
    assert_ledger_consistent(world.engine)


def test_a_key_is_scoped_to_the_operation_and_the_caller(client, world):
    """One key on two operations, or from two users, are different requests; a seller's
    request with a key a worker used gets no stored answer (and may not receive at all)."""
    ala = level(world.engine, "seller-a", "SKU-1", "ALA", "RCV")[0]
    assert _post(client, world, "/api/v1/receipts", _receipt(4)).status_code == 201
    r = _post(client, world, "/api/v1/moves", {"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA",
                                               "from_location": "RCV", "to_location": "A-02", "quantity": 1})
    assert r.status_code == 201 and "idempotent-replay" not in r.headers
    manager = _post(client, world, "/api/v1/receipts", _receipt(4), who="manager")
    assert manager.status_code == 201 and "idempotent-replay" not in manager.headers
    assert level(world.engine, "seller-a", "SKU-1", "ALA", "RCV")[0] == ala + 4 + 4 - 1
    state = _stock_state(world.engine)
    for who in ("seller_a", "seller_b"):
        r = _post(client, world, "/api/v1/receipts", _receipt(4), who=who)
        assert r.status_code in (403, 404) and r.headers["content-type"] == PROBLEM
        assert "Acme" not in r.text and "idempotent-replay" not in r.headers
    assert _stock_state(world.engine) == state
    with world.engine.connect() as conn:
        scopes = conn.execute(select(t.idempotency_keys.c.scope, t.idempotency_keys.c.actor)
                              .order_by(t.idempotency_keys.c.id)).all()
    assert len(scopes) == 3 and len({s.scope for s in scopes}) == 3
    assert [s.actor for s in scopes] == ["worker@qoima.local", "worker@qoima.local", "manager@qoima.local"]
    assert_ledger_consistent(world.engine)


def test_a_failed_request_stores_nothing_and_its_retry_runs_again(client, world):
    body = {"seller": "seller-a", "sku": "SKU-1", "warehouse": "ALA", "from_location": "RCV",
            "to_location": "A-02", "quantity": 5}
    r = _post(client, world, "/api/v1/moves", body)
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    assert count(world.engine, t.idempotency_keys) == 0
    _post(client, world, "/api/v1/receipts", _receipt(5), key=None)
    r = _post(client, world, "/api/v1/moves", body)  # the goods have arrived meanwhile: now it moves
    assert r.status_code == 201 and "idempotent-replay" not in r.headers
    assert level(world.engine, "seller-a", "SKU-1", "ALA", "A-02") == (5, 0)
    assert _post(client, world, "/api/v1/moves", body).headers["idempotent-replay"] == "true"
    assert level(world.engine, "seller-a", "SKU-1", "ALA", "A-02") == (5, 0)
    assert_ledger_consistent(world.engine)


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "ключ"])
def test_a_bad_key_is_a_422_naming_the_header(client, world, key):
    state = _stock_state(world.engine)
    r = client.post("/api/v1/receipts", json=_receipt(4),
                    headers={**world.headers("worker"), "Idempotency-Key": key.encode()})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    assert "Idempotency-Key" in r.json()["field"]
    assert _stock_state(world.engine) == state


def test_the_header_is_documented_on_every_stock_write(client):
    spec = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/receipts", "/api/v1/transfers", "/api/v1/transfers/{transfer_id}/receive",
                 "/api/v1/moves", "/api/v1/adjustments"):
        params = {p["name"]: p for p in spec[path]["post"]["parameters"] if p["in"] == "header"}
        header = params["Idempotency-Key"]
        assert header["required"] is False and "retry" in header["description"]
        schema = header["schema"].get("anyOf", [header["schema"]])[0]
        assert schema["maxLength"] == 200 and schema["minLength"] == 1


# --- expiry ---------------------------------------------------------------------------------

def test_keys_expire_after_a_day_and_the_cleanup_deletes_them(client, world):
    assert _post(client, world, "/api/v1/receipts", _receipt(4)).status_code == 201
    assert _post(client, world, "/api/v1/receipts", _receipt(1), key={"Idempotency-Key": "other"}).status_code == 201
    with world.engine.begin() as conn:
        conn.execute(update(t.idempotency_keys).where(t.idempotency_keys.c.key == KEY["Idempotency-Key"])
                     .values(created_at=utcnow() - idempotency.TTL - timedelta(minutes=1)))
    # an expired key is a new request again, even before the cleanup ran
    receipts = count(world.engine, t.receipts)
    r = _post(client, world, "/api/v1/receipts", _receipt(4))
    assert r.status_code == 201 and "idempotent-replay" not in r.headers
    assert count(world.engine, t.receipts) == receipts + 1
    with world.engine.begin() as conn:
        conn.execute(update(t.idempotency_keys).values(created_at=utcnow() - timedelta(hours=25)))
        conn.execute(update(t.idempotency_keys).where(t.idempotency_keys.c.key == "other")
                     .values(created_at=utcnow() - timedelta(hours=1)))
    assert idempotency.purge_expired(world.engine, batch=1) == 1
    assert idempotency.purge_expired(world.engine) == 0
    with world.engine.connect() as conn:
        assert conn.execute(select(t.idempotency_keys.c.key)).scalars().all() == ["other"]
    assert_ledger_consistent(world.engine)


# --- the web form -----------------------------------------------------------------------------

def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _login_admin(client) -> None:
    r = client.post("/login", data={"email": "admin@qoima.local", "password": "password123",
                                    "csrf": csrf_of(client.get("/login").text), "next": "/"}, follow_redirects=False)
    assert r.status_code == 303


def test_a_double_submitted_receipt_form_is_booked_once(client, world):
    _login_admin(client)
    page = client.get("/receipts").text
    op = re.search(r'name="op" value="([0-9a-f]{32})"', page).group(1)
    assert op not in client.get("/receipts").text  # every rendering is a new operation
    form = {"csrf": csrf_of(page), "op": op, "seller": "seller-a", "place": "ALA|RCV", "supplier": "Acme",
            "reference": "ASN-9", "sku": ["SKU-1", ""], "expected": ["6", ""], "received": ["6", ""]}
    first = client.post("/receipts", data=form, follow_redirects=False)
    assert first.status_code == 303
    flashed = client.get("/receipts").text
    assert "flash-success" in flashed and "already been sent" not in flashed
    state = _stock_state(world.engine)
    second = client.post("/receipts?lang=en", data=form, follow_redirects=False)  # the double click
    assert second.status_code == 303
    page = client.get("/receipts").text
    assert "already been sent" in page and "flash-success" in page
    assert _stock_state(world.engine) == state
    assert level(world.engine, "seller-a", "SKU-1", "ALA", "RCV") == (6, 0)
    assert len(movements(world.engine, kind="receipt", to_location_id=world.locations[("ALA", "RCV")])) == 1
    # the back button, other values, the same operation id: refused, and the form gets a new id
    bad = client.post("/receipts?lang=en", data={**form, "received": ["60", ""]})
    assert bad.status_code == 422 and "already sent with other values" in bad.text
    assert op not in bad.text and re.search(r'name="op" value="[0-9a-f]{32}"', bad.text)
    assert _stock_state(world.engine) == state
    ru = client.post("/receipts?lang=ru", data={**form, "received": ["60", ""]})
    assert "уже была отправлена с другими значениями" in ru.text
    # an error keeps the operation id: nothing was booked under it
    op2 = re.search(r'name="op" value="([0-9a-f]{32})"', client.get("/receipts").text).group(1)
    err = client.post("/receipts", data={**form, "op": op2, "sku": ["NOPE", ""]})
    assert err.status_code == 422 and f'value="{op2}"' in err.text
    assert client.post("/receipts", data={**form, "op": op2}, follow_redirects=False).status_code == 303
    assert level(world.engine, "seller-a", "SKU-1", "ALA", "RCV") == (12, 0)
    assert_ledger_consistent(world.engine)


# --- concurrency (threads; on SQLite the writers queue at BEGIN, on PostgreSQL at the key) -----------------------------------------------------------------

def _only_postgres(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("lock_timeout is PostgreSQL's (SQLite writers queue at BEGIN IMMEDIATE)")


def test_concurrent_requests_with_one_key_change_stock_once(world):
    """Twelve threads send one receipt with one key at once; the use case is slowed so that
    they all arrive while the first holds the key: one receipt, every answer the same."""
    eng = world.engine
    worker = world.principals["worker"]
    data = ReceiptIn(seller="seller-a", warehouse="ALA", location="RCV",
                     lines=[ReceiptLineIn(sku="SKU-2", expected=3, received=3)])
    op = Operation("stock.receipt", worker, "race-1", data.model_dump(mode="json"))
    runs = []

    def slow_receipt(uow):
        runs.append(1)
        result = inbound.receive(uow, worker, data)
        time.sleep(0.3)
        return result

    gate = threading.Barrier(12)

    def one(_):
        gate.wait()
        return run_once(eng, op, slow_receipt)

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(one, range(12)))
    assert len(runs) == 1
    assert len({str(o.response) for o in outcomes}) == 1 and {o.status_code for o in outcomes} == {201}
    assert sum(not o.replayed for o in outcomes) == 1
    assert level(eng, "seller-a", "SKU-2", "ALA", "RCV") == (3, 0)
    assert count(eng, t.receipts) == 5 + 1  # the world's five receipts and this one
    assert_ledger_consistent(eng)


def test_concurrent_moves_and_adjustments_with_keys_change_stock_once(world):
    """Through the stock operations as the API calls them: per key one change, however many
    threads retry it at the same moment (four moves and two count corrections, three tries each)."""
    eng = world.engine
    worker = world.principals["worker"]
    move = MoveIn(seller="seller-a", sku="SKU-1", warehouse="ALA", from_location="A-01", to_location="A-02",
                  quantity=1)
    found = AdjustIn(seller="seller-a", sku="SKU-1", warehouse="ALA", location="A-01", delta=1, reason="count")
    gate = threading.Barrier(18)

    def one(i):
        gate.wait()
        if i % 6 < 4:
            return operations.move(eng, worker, move, key=f"move-{i % 6}")
        return operations.adjust(eng, worker, found, key=f"count-{i % 6}")

    with ThreadPoolExecutor(18) as pool:
        outcomes = list(pool.map(one, range(18)))
    assert all(o.status_code == 201 and o.response == {"ok": True} for o in outcomes)
    assert sum(not o.replayed for o in outcomes) == 6
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (10 - 4 + 2, 0)
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-02") == (4, 0)
    assert len(movements(eng, kind="move")) == 8 and len(movements(eng, kind="adjustment")) == 2
    assert_ledger_consistent(eng)


def test_a_retry_that_waits_past_lock_timeout_gets_409_in_progress(world):
    eng = world.engine
    _only_postgres(eng)
    with eng.connect() as conn:
        search_path = conn.execute(text("SHOW search_path")).scalar_one()
    impatient = create_engine(eng.url, connect_args={"options": f"-csearch_path={search_path} -clock_timeout=200ms"})
    worker = world.principals["worker"]
    data = ReceiptIn(seller="seller-a", warehouse="ALA", location="RCV",
                     lines=[ReceiptLineIn(sku="SKU-2", expected=2, received=2)])
    op = Operation("stock.receipt", worker, "slow-1", data.model_dump(mode="json"))
    started = threading.Event()

    def slow_receipt(uow):
        result = inbound.receive(uow, worker, data)
        started.set()
        time.sleep(1.0)
        return result

    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(run_once, eng, op, slow_receipt)
            assert started.wait(10)
            with pytest.raises(KeyInProgress) as exc:
                run_once(impatient, op, lambda uow: inbound.receive(uow, worker, data))
            assert exc.value.status == 409 and exc.value.field == "Idempotency-Key"
            assert not first.result().replayed
        replay = run_once(impatient, op, lambda uow: pytest.fail("a stored key must not run again"))
        assert replay.replayed and replay.response == first.result().response
    finally:
        impatient.dispose()
    assert level(eng, "seller-a", "SKU-2", "ALA", "RCV") == (2, 0)
    assert_ledger_consistent(eng)


def test_run_once_without_a_key_runs_every_time_and_errors_are_domain_errors(world):
    eng = world.engine
    worker = world.principals["worker"]
    data = ReceiptIn(seller="seller-a", warehouse="ALA", location="RCV",
                     lines=[ReceiptLineIn(sku="SKU-2", expected=1, received=1)])
    for _ in range(2):
        assert not operations.receive(eng, worker, data).replayed
    assert level(eng, "seller-a", "SKU-2", "ALA", "RCV") == (2, 0)
    assert count(eng, t.idempotency_keys) == 0
    assert issubclass(KeyReused, ValidationError) and issubclass(KeyInProgress, Conflict)
    operations.receive(eng, worker, data, key="k")
    with pytest.raises(KeyReused):
        operations.receive(eng, worker, data.model_copy(update={"supplier": "Other"}), key="k")
    with eng.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.idempotency_keys)).scalar_one() == 1
    assert_ledger_consistent(eng)
