"""The outbox worker against a real local HTTP server: events are marked done,
seller webhooks carry the event and an Idempotency-Key, 5xx is retried with
exponential back-off, 4xx parks the event as dead (visible, replayable), and two
workers never handle the same event twice."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import order_payload
from sqlalchemy import func, select, update

from qoima.db import tables as t
from qoima.platform import auth, outbox  # noqa: F401 - webhooks registers the handlers
from qoima.orders.services import lifecycle
from qoima.channels import webhooks
from qoima.channels.endpoints import BREAKERS
from qoima.platform.settings import get_settings
from qoima.orders.services.intake import submit_order
from qoima.orders.services.records import enqueue
from qoima.orders.schemas import OrderIn
from qoima.platform.unit_of_work import UnitOfWork, utcnow




class Receiver:
    """A seller's webhook endpoint: records every request and answers with the next
    scripted status code (200 when the script is exhausted)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: list[int] = []
        self.decide = None  # optional: body -> status code, instead of the script
        self.in_flight: set = set()  # order ids whose event is being answered right now
        self.overlaps: list = []  # two events of one order delivered at the same time
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(body)
                order = (body.get("data") or {}).get("order_id")
                with receiver.lock:
                    if order in receiver.in_flight:
                        receiver.overlaps.append(order)
                    receiver.in_flight.add(order)
                    if receiver.decide is not None:
                        code = receiver.decide(body)
                    else:
                        code = receiver.script.pop(0) if receiver.script else 200
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body, "answered": code})
                time.sleep(0.001)  # a real endpoint takes a moment: room for an overlap to show
                with receiver.lock:
                    receiver.in_flight.discard(order)
                payload = b'{"error": "bad payload"}' if code == 400 else b"{}"
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/qoima"

    def keys(self) -> list[str]:
        return [r["headers"]["Idempotency-Key"] for r in self.requests]


def allow_local_webhooks(monkeypatch, **extra) -> None:
    """Local receivers are refused by default (SSRF guard): a test allows them, as an operator would."""
    env = {"QOIMA_WEBHOOK_ALLOW_PRIVATE": "true", "QOIMA_WEBHOOK_HTTP_HOSTS": "127.0.0.1,localhost", **extra}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    BREAKERS.reset()


@pytest.fixture(autouse=True)
def local_webhooks(monkeypatch):
    """Local receivers allowed; the per-endpoint limit and breaker kept out of these tests' way (they have
    their own, in test_webhook_delivery.py)."""
    allow_local_webhooks(monkeypatch, QOIMA_WEBHOOK_BREAKER_FAILURES="1000", QOIMA_WEBHOOK_MAX_IN_FLIGHT="100")
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    BREAKERS.reset()


@pytest.fixture
def receiver():
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def set_webhook(engine, seller_id: int, url: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(update(t.sellers).where(t.sellers.c.id == seller_id).values(webhook_url=url))


def outbox_rows(engine, **where) -> list:
    q = select(t.outbox).order_by(t.outbox.c.id)
    for k, v in where.items():
        q = q.where(getattr(t.outbox.c, k) == v)
    with engine.connect() as conn:
        return conn.execute(q).all()


def make_due(engine, event_id: int) -> None:
    """Let the back-off delay pass (the clock is the database row, not a mock)."""
    with engine.begin() as conn:
        conn.execute(update(t.outbox).where(t.outbox.c.id == event_id)
                     .values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def one_event(engine, seller_id: int, payload: dict | None = None) -> int:
    with UnitOfWork(engine) as uow:
        enqueue(uow, "order.status_changed", 4242, seller_id, payload or {"order_id": 4242, "from": "packed",
                                                                          "to": "shipped", "reason": ""})
        uow.commit()
    return outbox_rows(engine)[-1].id


def test_worker_delivers_order_events_and_marks_them_done(world, receiver):
    eng = world.engine
    set_webhook(eng, world.sellers["seller-a"], receiver.url)
    order, _ = submit_order(eng, world.principals["seller_a"], OrderIn(**order_payload("WH-1")))
    submit_order(eng, world.principals["seller_b"], OrderIn(**order_payload("WH-B", seller="seller-b")))
    pending = outbox_rows(eng, status="pending")
    assert len(pending) == 6
    assert outbox.run_once(eng) == 6
    assert outbox.run_once(eng) == 0
    done = outbox_rows(eng)
    assert all(e.status == "done" and e.attempts == 1 and e.handled_at is not None and e.last_error is None
               for e in done)
    # only seller A has a webhook: its three events arrive, in order, with their ids as keys
    a_events = [e for e in done if e.seller_id == world.sellers["seller-a"]]
    assert len(receiver.requests) == 3
    assert receiver.keys() == [f"qoima-event-{e.id}" for e in a_events]
    assert [r["body"]["type"] for r in receiver.requests] == ["order.status_changed", "order.status_changed",
                                                              "order.created"]
    first = receiver.requests[1]
    assert first["path"] == "/hooks/qoima"
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["headers"]["User-Agent"] == "qoima-webhooks"
    assert first["body"] == {"id": a_events[1].id, "type": "order.status_changed",
                             "data": {"order_id": order["id"], "from": "new", "to": "allocated",
                                      "reason": order["sourcing_reason"]}}
    assert receiver.requests[2]["body"]["data"] == {"order_id": order["id"]}
    assert outbox.backlog(eng) == {"done": 6}


def test_nothing_is_sent_before_commit(world, receiver):
    eng = world.engine
    set_webhook(eng, world.sellers["seller-a"], receiver.url)
    order, _ = submit_order(eng, world.principals["seller_a"], OrderIn(**order_payload("WH-2")))
    outbox.run_once(eng)
    sent = len(receiver.requests)
    with UnitOfWork(eng) as uow:
        lifecycle.transition(uow, world.principals["worker"], order["id"], "picking")
        if eng.dialect.name == "postgresql":  # (SQLite: the open write transaction blocks other writers)
            assert outbox.run_once(eng) == 0  # a worker on another connection sees nothing uncommitted
    # rolled back: still nothing to send
    assert outbox.run_once(eng) == 0
    assert len(receiver.requests) == sent


def test_server_errors_are_retried_with_backoff_then_succeed(world, receiver):
    eng = world.engine
    set_webhook(eng, world.sellers["seller-a"], receiver.url)
    event_id = one_event(eng, world.sellers["seller-a"])
    receiver.script = [500, 503, 500]
    for attempt in (1, 2, 3):
        started = utcnow()
        assert outbox.run_once(eng) == 1
        (row,) = outbox_rows(eng, id=event_id)
        assert (row.status, row.attempts) == ("pending", attempt)
        assert "TransientError" in row.last_error and "answered 5" in row.last_error
        delay = row.next_attempt_at - started
        assert timedelta(seconds=2 ** attempt) <= delay <= timedelta(seconds=2 ** attempt + 5), delay
        claimed = outbox.run_once(eng)
        if utcnow() < row.next_attempt_at:  # (skip the check if this machine stalled past the delay)
            assert claimed == 0  # not due yet: no hammering
        make_due(eng, event_id)
    assert outbox.run_once(eng) == 1
    (row,) = outbox_rows(eng, id=event_id)
    assert (row.status, row.attempts, row.last_error) == ("done", 4, None)
    assert [r["answered"] for r in receiver.requests] == [500, 503, 500, 200]
    assert set(receiver.keys()) == {f"qoima-event-{event_id}"}  # every retry carries the same key
    assert all(r["body"]["id"] == event_id for r in receiver.requests)


def test_too_many_transient_failures_park_the_event(world, receiver):
    eng = world.engine
    set_webhook(eng, world.sellers["seller-a"], receiver.url)
    event_id = one_event(eng, world.sellers["seller-a"])
    receiver.script = [500] * 10
    for _ in range(3):
        outbox.run_once(eng, max_attempts=3)
        make_due(eng, event_id)
    (row,) = outbox_rows(eng, id=event_id)
    assert (row.status, row.attempts) == ("dead", 3)
    assert outbox.run_once(eng, max_attempts=3) == 0
    assert len(receiver.requests) == 3


def test_unreachable_endpoint_is_transient(world):
    eng = world.engine
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    set_webhook(eng, world.sellers["seller-a"], f"http://127.0.0.1:{port}/hook")
    event_id = one_event(eng, world.sellers["seller-a"])
    assert outbox.run_once(eng) == 1
    (row,) = outbox_rows(eng, id=event_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "unreachable" in row.last_error


def test_client_error_makes_a_dead_event_that_stays_visible_and_can_be_replayed(world, receiver, settings):
    from fastapi.testclient import TestClient

    from qoima.entrypoints.api.app import create_app

    eng = world.engine
    set_webhook(eng, world.sellers["seller-a"], receiver.url)
    event_id = one_event(eng, world.sellers["seller-a"])
    other_id = one_event(eng, world.sellers["seller-a"])
    receiver.script = [400]
    assert outbox.run_once(eng) == 1
    (row,) = outbox_rows(eng, id=event_id)
    assert (row.status, row.attempts) == ("dead", 1)  # no retry of a refused payload
    # a short status line only: the receiver's body is never kept (it would be readable in /api/v1/outbox)
    assert "refused the event: 400 Bad Request" in row.last_error and "bad payload" not in row.last_error
    # the later event of the same order waits behind the dead one (webhook consumers expect order)
    assert outbox_rows(eng, id=other_id)[0].status == "pending"
    assert outbox.backlog(eng) == {"dead": 1, "pending": 1}
    make_due(eng, event_id)
    assert outbox.run_once(eng) == 0  # dead events are never picked up by themselves, nor what waits behind

    with TestClient(create_app(eng, settings)) as client:
        listed = client.get("/api/v1/outbox", params={"status": "dead"}, headers=world.headers("manager"))
        assert listed.status_code == 200
        items = listed.json()["items"]
        assert [i["id"] for i in items] == [event_id] and "400" in items[0]["last_error"]
        assert "bad payload" not in listed.text
        assert listed.json()["backlog"] == {"dead": 1, "pending": 1}
        assert client.post(f"/api/v1/outbox/{event_id}/replay", headers=world.headers("manager")).status_code == 403
        assert client.post(f"/api/v1/outbox/{event_id}/replay", headers=world.headers("admin")).status_code == 200
        again = client.post(f"/api/v1/outbox/{event_id}/replay", headers=world.headers("admin"))
        assert again.status_code == 404 and "only dead events" in again.json()["detail"]
    (row,) = outbox_rows(eng, id=event_id)
    assert (row.status, row.attempts) == ("pending", 0)  # a replay gets a full new set of attempts
    assert outbox.run_once(eng) == 2  # the replayed event, then the one that waited behind it
    (row,) = outbox_rows(eng, id=event_id)
    assert (row.status, row.attempts, row.last_error) == ("done", 1, None)
    assert outbox_rows(eng, id=other_id)[0].status == "done"
    assert receiver.keys() == [f"qoima-event-{event_id}", f"qoima-event-{event_id}", f"qoima-event-{other_id}"]
    outbox.replay(eng, other_id)  # replaying an event that is not dead changes nothing
    assert outbox_rows(eng, id=other_id)[0].status == "done"
    assert outbox.run_once(eng) == 0


def test_two_workers_never_handle_the_same_event_twice(world, receiver):
    eng = world.engine
    seller = world.sellers["seller-a"]
    set_webhook(eng, seller, receiver.url)
    n = 240
    with UnitOfWork(eng) as uow:
        for i in range(n):
            enqueue(uow, "order.created", i, seller, {"order_id": i})
        uow.commit()
    errors: list[BaseException] = []
    handled = Counter()
    start = threading.Barrier(2)

    def work(name: str) -> None:
        try:
            start.wait()
            while True:
                got = outbox.run_once(eng, batch=7)
                handled[name] += got
                if got == 0:
                    with eng.connect() as conn:
                        left = conn.execute(select(func.count()).select_from(t.outbox)
                                            .where(t.outbox.c.status == "pending")).scalar_one()
                    if left == 0:
                        return
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("w1", "w2")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    assert not any(th.is_alive() for th in threads)
    deliveries = Counter(receiver.keys())
    assert len(deliveries) == n and set(deliveries.values()) == {1}, deliveries.most_common(3)
    assert handled["w1"] + handled["w2"] == n
    assert outbox.backlog(eng) == {"done": n}
    assert all(e.attempts == 1 for e in outbox_rows(eng))
    if eng.dialect.name == "postgresql":  # with SKIP LOCKED both workers really share the queue
        assert handled["w1"] > 0 and handled["w2"] > 0, handled


# --- the claim lease: a killed worker's batch is taken over within seconds --------------------------
