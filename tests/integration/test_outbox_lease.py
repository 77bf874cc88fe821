"""The outbox under failure: short claim leases with heartbeats (a dead worker's events are
taken over within seconds), and events of one aggregate handled in the order they were
written, while unrelated aggregates flow (platform/outbox.py). Split from
test_outbox_worker.py, whose receiver and helpers these tests share."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from test_outbox_worker import local_webhooks, make_due, one_event, outbox_rows, receiver, set_webhook  # noqa: F401 - fixtures

from qoima.db import tables as t
from qoima.platform import outbox
from qoima.channels import webhooks  # noqa: F401 - registers the webhook handlers
from qoima.orders.services.records import enqueue
from qoima.platform.unit_of_work import UnitOfWork, utcnow


@pytest.fixture
def handler_for():
    """Register a test handler for a topic; removed again after the test."""
    added = []

    def register(topic: str, fn) -> None:
        outbox.HANDLERS.setdefault(topic, []).append(fn)
        added.append((topic, fn))

    yield register
    for topic, fn in added:
        outbox.HANDLERS[topic].remove(fn)


def events_for(engine, writes: list[tuple[str, int | None, dict]], seller_id: int | None = None) -> list[int]:
    """Write events (topic, aggregate_id, payload) in this order; returns their ids."""
    with UnitOfWork(engine) as uow:
        for topic, aggregate_id, payload in writes:
            enqueue(uow, topic, aggregate_id, seller_id, payload)
        uow.commit()
    return [r.id for r in outbox_rows(engine)][-len(writes):]


def drain(engine, worker_id: str = "w", rounds: int = 50, **kw) -> int:
    total = 0
    for _ in range(rounds):
        n = outbox.run_once(engine, worker_id=worker_id, **kw)
        total += n
        if n == 0:
            return total
    raise AssertionError("the outbox did not drain")


def wait_until(check, timeout: float = 60.0, step: float = 0.05):
    """Poll until check() is truthy (generous bound: this machine is shared and loaded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(step)
    raise AssertionError(f"not reached within {timeout} s")


def test_a_batch_claimed_by_a_worker_that_died_is_taken_over_once_its_lease_runs_out(world, receiver):
    eng = world.engine
    seller = world.sellers["seller-a"]
    set_webhook(eng, seller, receiver.url)
    ids = events_for(eng, [("order.status_changed", 7, {"order_id": 7, "step": i}) for i in range(3)]
                     + [("order.created", 8, {"order_id": 8})], seller)
    claimed = outbox.claim(eng, worker_id="worker-killed", lease_s=2)  # ... and it never finishes
    assert [c.id for c in claimed] == ids  # one batch takes a whole run of an order's events
    rows = outbox_rows(eng)
    assert {(r.claimed_by, r.status) for r in rows} == {("worker-killed", "pending")}
    lease_end = rows[0].claimed_until
    assert timedelta(seconds=1) <= lease_end - rows[0].created_at <= timedelta(seconds=30)

    if utcnow() < lease_end - timedelta(seconds=1):  # (skip if this machine stalled past the lease)
        assert outbox.run_once(eng, worker_id="rescuer") == 0  # still held: nobody else takes it
    assert receiver.requests == []
    wait_until(lambda: outbox.run_once(eng, worker_id="rescuer", lease_s=10), timeout=60)

    rows = outbox_rows(eng)
    assert all(r.status == "done" and r.claimed_by == "rescuer" and r.claimed_until is None for r in rows)
    assert all(r.handled_at >= lease_end for r in rows)  # not before the dead worker's lease ran out
    assert all(r.attempts == 2 for r in rows)  # the lost attempt counts
    assert receiver.keys() == [f"qoima-event-{i}" for i in ids]  # in the order written


SIGKILLED_WORKER = """
import sys, time
from sqlalchemy import create_engine
from qoima.db.engine import make_engine
from qoima.platform import outbox

url, search_path, marker, lease = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
engine = (make_engine(url) if url.startswith("sqlite") else
          create_engine(url, connect_args={"options": f"-csearch_path={search_path}"}))

@outbox.handles("test.hang")
def hang(engine, event):
    with open(marker, "a") as f:
        f.write(f"{event['id']}\\n")
    time.sleep(3600)  # stuck in a side effect until SIGKILLed

outbox.run_once(engine, batch=10, worker_id="doomed", lease_s=lease)
"""


def test_a_sigkilled_worker_process_loses_its_events_to_another_worker_within_seconds(world, handler_for,
                                                                                       tmp_path):
    import signal
    import subprocess
    import sys

    eng = world.engine
    seen: list[tuple[int, int]] = []
    handler_for("test.hang", lambda _engine, event: seen.append((event["id"], event["attempt"])))
    ids = events_for(eng, [("test.hang", 1, {"n": i}) for i in range(3)] + [("test.hang", 2, {"n": 9})])
    url = eng.url.render_as_string(hide_password=False)
    search_path = ""
    if eng.dialect.name == "postgresql":
        with eng.connect() as conn:
            search_path = conn.exec_driver_sql("show search_path").scalar()
    marker = tmp_path / "handling.txt"
    lease = 2.0
    proc = subprocess.Popen([sys.executable, "-c", SIGKILLED_WORKER, url, search_path, str(marker), str(lease)])
    try:
        wait_until(marker.exists, timeout=120)
        first_lease = {r.id: r.claimed_until for r in outbox_rows(eng)}
        assert {r.claimed_by for r in outbox_rows(eng)} == {"doomed"}
        # it is alive and stuck: its heartbeat keeps renewing the lease on the whole batch
        renewed = wait_until(lambda: all(r.claimed_until > first_lease[r.id] for r in outbox_rows(eng))
                             and min(r.claimed_until for r in outbox_rows(eng)), timeout=60)
        if utcnow() < renewed - timedelta(seconds=0.5):  # (skip if this machine stalled past the lease)
            assert outbox.run_once(eng, worker_id="rescuer") == 0  # held while its holder lives
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    killed_at = time.monotonic()
    wait_until(lambda: outbox.run_once(eng, worker_id="rescuer", lease_s=10), timeout=60)
    took = time.monotonic() - killed_at
    drain(eng, "rescuer")
    assert took < lease + 30, took  # seconds, not the 5 minutes of the old lease
    assert marker.read_text().split() == [str(ids[0])]  # it had started on the first event
    assert [i for i, _ in seen] == ids  # the rescuer handled them all, in order, once
    assert all(attempt == 2 for _, attempt in seen)  # the killed worker's attempt counts
    assert outbox.backlog(eng) == {"done": 4}


def test_heartbeats_keep_the_claim_of_a_slow_handler(world, handler_for):
    eng = world.engine
    calls: list[int] = []
    others: list[int] = []

    def slow(_engine, event):
        calls.append(event["id"])
        if event["payload"]["slow"]:
            first = outbox_rows(eng, id=event["id"])[0].claimed_until
            # slower than the lease itself: only the heartbeat keeps the event ours
            wait_until(lambda: outbox_rows(eng, id=event["id"])[0].claimed_until > first, timeout=60)
            others.append(outbox.run_once(eng, worker_id="other", lease_s=3))

    handler_for("test.slow", slow)
    ids = events_for(eng, [("test.slow", 5, {"slow": True}), ("test.slow", 5, {"slow": False})])
    assert outbox.run_once(eng, worker_id="busy", lease_s=3) == 2
    assert others == [0]  # the other worker found nothing to take, not even the second event
    assert calls == ids  # each handled once, in order
    assert [(r.status, r.attempts, r.claimed_by) for r in outbox_rows(eng)] == [("done", 1, "busy")] * 2


def test_a_worker_that_lost_its_lease_stops_and_the_new_holder_finishes(world, handler_for):
    eng = world.engine
    calls: list[tuple[str, int]] = []

    def stalls(_engine, event):
        calls.append((threading.current_thread().name, event["id"]))
        if len(calls) == 1:  # the first holder stalls past its lease and another worker takes over
            with eng.begin() as conn:
                conn.execute(update(t.outbox).values(claimed_until=utcnow() - timedelta(seconds=1)))
            th = threading.Thread(target=lambda: drain(eng, "second"), name="second")
            th.start()
            th.join(timeout=120)

    handler_for("test.stall", stalls)
    ids = events_for(eng, [("test.stall", 1, {}), ("test.stall", 2, {})])
    assert outbox.run_once(eng, worker_id="first", lease_s=30) == 1  # its outcome refused: it stops there
    rows = outbox_rows(eng)
    assert [(r.status, r.claimed_by, r.attempts) for r in rows] == [("done", "second", 2), ("done", "second", 2)]
    assert [i for _, i in calls] == [ids[0], ids[0], ids[1]]  # the same key twice: handlers are idempotent


def test_an_event_that_kills_every_worker_is_parked_after_its_attempts(world, handler_for):
    eng = world.engine
    handler_for("test.poison", lambda _engine, event: None)
    poison, behind = events_for(eng, [("test.poison", 1, {}), ("test.poison", 1, {"after": True})])
    for n in range(3):  # three workers die holding it
        assert [c.id for c in outbox.claim(eng, batch=1, worker_id=f"victim-{n}", lease_s=0.05)] == [poison]
        wait_until(lambda: utcnow() > outbox_rows(eng, id=poison)[0].claimed_until, timeout=30)
    assert outbox.run_once(eng, max_attempts=3, worker_id="w") == 1
    row = outbox_rows(eng, id=poison)[0]
    assert (row.status, row.attempts) == ("dead", 3) and "WorkerLost" in row.last_error
    assert outbox_rows(eng, id=behind)[0].status == "pending"  # held behind the dead one


# --- order per aggregate -------------------------------------------------------------------------------

def test_a_retried_event_holds_back_the_later_events_of_its_order_only(world, receiver):
    eng = world.engine
    seller = world.sellers["seller-a"]
    set_webhook(eng, seller, receiver.url)
    first, second, other, loose = events_for(eng, [
        ("order.status_changed", 1, {"order_id": 1, "to": "allocated"}),
        ("order.status_changed", 1, {"order_id": 1, "to": "picking"}),
        ("order.status_changed", 2, {"order_id": 2, "to": "allocated"}),
        ("order.created", None, {"order_id": None})], seller)
    receiver.decide = lambda body: 503 if body["id"] == first and len(receiver.requests) == 0 else 200
    assert drain(eng) == 3  # the first fails; the second waits; order 2 and the loose event go
    assert [(r.id, r.status) for r in outbox_rows(eng)] == [(first, "pending"), (second, "pending"),
                                                            (other, "done"), (loose, "done")]
    with eng.begin() as conn:  # the second is due, yet it waits while the first is being retried
        conn.execute(update(t.outbox).where(t.outbox.c.id == second)
                     .values(next_attempt_at=utcnow() - timedelta(minutes=5)))
    assert outbox.run_once(eng) == 0
    make_due(eng, first)
    assert drain(eng) == 2
    assert receiver.keys() == [f"qoima-event-{i}" for i in (first, other, loose, first, second)]
    assert outbox.backlog(eng) == {"done": 4}


def test_a_dead_event_holds_its_aggregate_until_replayed_and_unrelated_ones_flow(world, receiver):
    eng = world.engine
    seller = world.sellers["seller-a"]
    set_webhook(eng, seller, receiver.url)
    ids = events_for(eng, [
        ("order.status_changed", 1, {"order_id": 1, "to": "allocated"}),
        ("order.status_changed", 2, {"order_id": 2, "to": "allocated"}),
        ("order.status_changed", 1, {"order_id": 1, "to": "picking"}),
        ("stock.changed", 1, {"product_id": 1}),  # another family: stock row 1 is not order 1
        ("order.status_changed", 2, {"order_id": 2, "to": "picking"}),
        ("order.status_changed", 1, {"order_id": 1, "to": "picked"})], seller)
    dead, o2a, o1b, stock, o2b, o1c = ids
    receiver.decide = lambda body: 422 if body["id"] == dead and len(receiver.requests) == 0 else 200
    assert drain(eng) == 4
    status = {r.id: r.status for r in outbox_rows(eng)}
    assert status == {dead: "dead", o2a: "done", o1b: "pending", stock: "done", o2b: "done", o1c: "pending"}
    for _ in range(3):  # however often the worker comes by, the order's later events stay parked
        make_due(eng, o1b)
        assert outbox.run_once(eng) == 0
    assert outbox.replay(eng, dead) is True
    assert drain(eng) == 3
    assert receiver.keys() == [f"qoima-event-{i}" for i in (dead, o2a, o2b, dead, o1b, o1c)]
    assert outbox.backlog(eng) == {"done": 6}


def test_replaying_a_dead_event_gives_it_a_full_new_set_of_attempts(world, receiver):
    eng = world.engine
    set_webhook(eng, world.sellers["seller-a"], receiver.url)
    event_id = one_event(eng, world.sellers["seller-a"])
    receiver.script = [500, 500, 500, 500]
    for _ in range(3):
        outbox.run_once(eng, max_attempts=3)
        make_due(eng, event_id)
    assert outbox_rows(eng, id=event_id)[0].status == "dead"
    assert outbox.replay(eng, event_id) is True
    assert outbox.replay(eng, event_id) is False  # not dead any more
    assert outbox.run_once(eng, max_attempts=3) == 1  # the fourth 500: the first of a new set of three
    row = outbox_rows(eng, id=event_id)[0]
    assert (row.status, row.attempts) == ("pending", 1)
    make_due(eng, event_id)
    assert outbox.run_once(eng, max_attempts=3) == 1
    assert [(r.status, r.attempts) for r in outbox_rows(eng, id=event_id)] == [("done", 2)]


def test_an_event_claimed_by_another_worker_holds_back_its_aggregate_only(world, handler_for):
    eng = world.engine
    seen: list[int] = []
    handler_for("test.step", lambda _engine, event: seen.append(event["id"]))
    a1, b1, a2, b2 = events_for(eng, [("test.step", 1, {}), ("test.step", 2, {}), ("test.step", 1, {}),
                                      ("test.step", 2, {})])
    assert [c.id for c in outbox.claim(eng, batch=1, worker_id="w1", lease_s=60)] == [a1]
    assert outbox.run_once(eng, worker_id="w2") == 2
    assert seen == [b1, b2]  # a2 waits for a1, which w1 holds


@pytest.mark.skipif(not os.environ.get("QOIMA_TEST_DATABASE_URL"), reason="SKIP LOCKED is PostgreSQL's")
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_a_run_whose_head_another_worker_is_claiming_is_skipped_whole(engine, handler_for):
    """SKIP LOCKED skips the head another worker has locked but not yet claimed; the
    events behind it must not be taken without it."""
    seen: list[int] = []
    handler_for("test.step", lambda _engine, event: seen.append(event["id"]))
    a1, a2, b1 = events_for(engine, [("test.step", 1, {}), ("test.step", 1, {}), ("test.step", 2, {})])
    with engine.connect() as conn, conn.begin():  # worker 1 mid-claim: a1 locked, its claim not committed
        conn.execute(select(t.outbox.c.id).where(t.outbox.c.id == a1).with_for_update())
        assert [c.id for c in outbox.claim(engine, worker_id="w2", lease_s=60)] == [b1]
    assert outbox.run_once(engine, worker_id="w3") == 2
    assert seen == [a1, a2]


def test_many_orders_with_random_failures_and_three_workers_keep_every_orders_order(world, receiver):
    import random

    eng = world.engine
    seller = world.sellers["seller-a"]
    set_webhook(eng, seller, receiver.url)
    rng = random.Random(7)
    orders, steps = list(range(1, 101)), ("allocated", "picking", "picked", "packed", "shipped")
    for step, to in enumerate(steps):  # interleaved, as live traffic writes them
        rng.shuffle(orders)
        events_for(eng, [("order.status_changed", o, {"order_id": o, "step": step, "to": to}) for o in orders],
                   seller)
    failures = {r.id: rng.choice((0, 0, 0, 1, 1, 2, 3)) for r in outbox_rows(eng)}  # transient 5xx per event
    tried = Counter()

    def decide(body):
        tried[body["id"]] += 1
        return 503 if tried[body["id"]] <= failures[body["id"]] else 200

    receiver.decide = decide
    total = len(failures)
    stop = threading.Event()
    errors: list[BaseException] = []
    handled = Counter()

    def clock():  # time passes faster: a retried event is due again within ~50 ms
        while not stop.wait(0.05):
            try:
                with eng.begin() as conn:
                    conn.execute(update(t.outbox).where(t.outbox.c.status == "pending",
                                                        t.outbox.c.next_attempt_at > utcnow())
                                 .values(next_attempt_at=utcnow()))
            except Exception as exc:  # noqa: BLE001 - surfaced below
                errors.append(exc)

    def work(name: str) -> None:
        try:
            while not stop.is_set():
                got = outbox.run_once(eng, batch=10, worker_id=name, lease_s=30)
                handled[name] += got
                if got == 0:
                    if outbox.backlog(eng).get("done", 0) == total:
                        return
                    time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=clock)] + [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 300
    for th in threads[1:]:
        th.join(timeout=max(1.0, deadline - time.monotonic()))
    stop.set()
    threads[0].join(timeout=30)
    assert not errors, errors[:3]
    assert not any(th.is_alive() for th in threads)
    assert outbox.backlog(eng) == {"done": total}

    by_order: dict[int, list[tuple[int, int]]] = {}
    for r in receiver.requests:
        by_order.setdefault(r["body"]["data"]["order_id"], []).append((r["body"]["data"]["step"], r["answered"]))
    assert sorted(by_order) == sorted(orders)
    for order, seen in by_order.items():
        # the seller sees each order's events in written order: never a later step before the
        # earlier one was accepted, each step accepted exactly once, failures only before that
        assert [s for s, code in seen if code == 200] == list(range(len(steps))), (order, seen)
        assert [s for s, _ in seen] == sorted(s for s, _ in seen), (order, seen)
    assert receiver.overlaps == []  # never two events of one order in flight at once
    assert sum(tried.values()) == total + sum(failures.values())
    assert sum(handled.values()) == total + sum(failures.values())
    if eng.dialect.name == "postgresql":  # SKIP LOCKED: the workers really share the queue
        assert sum(1 for n in handled.values() if n > 0) >= 2, handled


def test_the_database_refuses_a_lease_on_a_finished_event(engine):
    from sqlalchemy.exc import IntegrityError

    (event_id,) = events_for(engine, [("test.step", 1, {})])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(update(t.outbox).where(t.outbox.c.id == event_id)
                     .values(status="done", claimed_by="w", claimed_until=utcnow()))
    assert outbox_rows(engine, id=event_id)[0].status == "pending"
