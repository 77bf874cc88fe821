"""Everything at once on PostgreSQL, for a few seconds: careful intake, receipts
(into storage and onto the dock), moves and put-aways, transfers sent and
received, adjustments, cancellations, holds, picks, and two outbox workers filling
backorders from stock.changed. No client gets an unexpected exception (a refusal
such as "only 1 unit free" is a 4xx DomainError and expected; a deadlock, lock
timeout, CHECK violation or Busy is not), and at the end ledger, counters and
reservations agree, no order is allocated without its stock, and no order waits
for stock that is free.

Skipped when QOIMA_TEST_DATABASE_URL is unset."""

from __future__ import annotations

import os
import random
import threading
import time
import traceback
from collections import Counter

import pytest
from conftest import build_world, order_payload
from sqlalchemy import create_engine, func, select, text

from qoima.db import tables as t
from qoima.db.engine import configure_postgres
from qoima.orders.schemas import OrderIn
from qoima.orders.services import backorders, lifecycle  # noqa: F401 - backorders registers the stock.changed handler
from qoima.orders.services.intake import submit_order
from qoima.platform import outbox
from qoima.platform.errors import DomainError
from qoima.platform import unit_of_work
from qoima.platform.unit_of_work import Busy, run
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn, TransferIn, TransferLineIn
from qoima.stock.services import inbound, inventory
from test_stock_ledger import assert_ledger_consistent, drain_outbox

pytestmark = pytest.mark.postgres

if not os.environ.get("QOIMA_TEST_DATABASE_URL"):
    pytest.skip("PostgreSQL concurrency tests need QOIMA_TEST_DATABASE_URL", allow_module_level=True)

SECONDS = 4.0
SKUS = ("SKU-1", "SKU-2", "SKU-3")
WAREHOUSES = ("ALA", "AST")


@pytest.fixture
def pg(pg_engine_session):
    """The emptied test schema, through an engine configured as production's (lock_timeout set)."""
    names = ", ".join(f'"{tbl.name}"' for tbl in reversed(t.metadata.sorted_tables))
    with pg_engine_session.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        schema = conn.execute(text("select current_schema()")).scalar_one()
    eng = configure_postgres(create_engine(pg_engine_session.url, pool_size=20, max_overflow=20,
                                           connect_args={"options": f"-csearch_path={schema}"}))
    yield eng
    eng.dispose()


class Clients:
    """Client threads that run until the deadline and record what they were answered."""

    def __init__(self, engine, world, seconds: float):
        self.engine, self.world = engine, world
        self.deadline = time.monotonic() + seconds
        self.done = Counter()
        self.refused = Counter()
        self.unexpected: list[str] = []
        self.lock = threading.Lock()
        self.order_ids: list[int] = []
        self.transfers: list[int] = []

    def loop(self, name: str, step, seed: int) -> None:
        rnd = random.Random(seed)
        while time.monotonic() < self.deadline:
            try:
                step(rnd)
            except (Busy, AssertionError) as exc:
                self._unexpected(name, exc)
            except DomainError as exc:
                with self.lock:
                    self.refused[f"{name}: {type(exc).__name__}"] += 1
            except Exception as exc:  # noqa: BLE001 - every other failure fails the test
                self._unexpected(name, exc)
            else:
                with self.lock:
                    self.done[name] += 1

    def _unexpected(self, name: str, exc: BaseException) -> None:
        with self.lock:
            self.unexpected.append(f"{name}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")

    # --- the clients ---------------------------------------------------------------

    def intake(self, rnd: random.Random) -> None:
        n = rnd.randrange(10**9)
        lines = [(sku, rnd.randint(1, 3)) for sku in rnd.sample(SKUS, rnd.randint(1, 2))]
        body = order_payload(f"MIX-{n}", lines, customer={"name": f"B{n}", "phone": f"+7702{n % 10**7:07d}"})
        order, _created = submit_order(self.engine, self.world.principals["seller_a"], OrderIn(**body))
        with self.lock:
            self.order_ids.append(order["id"])

    def receipt(self, rnd: random.Random) -> None:
        data = ReceiptIn(seller="seller-a", warehouse=rnd.choice(WAREHOUSES),
                         location=rnd.choice(("A-01", "A-02", "A-02", "RCV")), supplier="Acme",
                         lines=[ReceiptLineIn(sku=sku, expected=3, received=rnd.randint(1, 4))
                                for sku in rnd.sample(SKUS, rnd.randint(1, 3))])
        run(self.engine, lambda uow: inbound.receive(uow, self.world.principals["worker"], data))

    def move(self, rnd: random.Random) -> None:
        wh = rnd.choice(WAREHOUSES)
        src, dst = rnd.choice([("RCV", "A-01"), ("RCV", "A-02"), ("A-01", "A-02"), ("A-02", "A-01")])
        loc = self.world.locations
        run(self.engine, lambda uow: inventory.move(
            uow, self.world.principals["worker"], seller_id=self.world.sellers["seller-a"], sku=rnd.choice(SKUS),
            from_location=loc[(wh, src)], to_location=loc[(wh, dst)], quantity=rnd.randint(1, 2)))

    def adjust(self, rnd: random.Random) -> None:
        loc = self.world.locations[(rnd.choice(WAREHOUSES), rnd.choice(("A-01", "A-02")))]
        run(self.engine, lambda uow: inventory.adjust(
            uow, self.world.principals["worker"], seller_id=self.world.sellers["seller-a"], sku=rnd.choice(SKUS),
            location_id=loc, delta=rnd.choice((-1, 1, 2)), reason="cycle count"))

    def transfer(self, rnd: random.Random) -> None:
        with self.lock:
            pending = self.transfers.pop() if self.transfers and rnd.random() < 0.6 else None
        if pending is not None:
            run(self.engine, lambda uow: inbound.receive_transfer(uow, self.world.principals["worker"], pending,
                                                                  rnd.choice(("A-01", "RCV"))))
            return
        src = rnd.choice(WAREHOUSES)
        data = TransferIn(seller="seller-a", from_warehouse=src, to_warehouse=[w for w in WAREHOUSES if w != src][0],
                          lines=[TransferLineIn(sku=rnd.choice(SKUS), quantity=1, from_location=rnd.choice(("A-01",
                                                                                                          "A-02")))])
        tr = run(self.engine, lambda uow: inbound.start_transfer(uow, self.world.principals["worker"], data))
        with self.lock:
            self.transfers.append(tr["id"])

    def order_move(self, rnd: random.Random) -> None:
        with self.lock:
            order_id = None if not self.order_ids else 0
        if order_id is None:
            time.sleep(0.05)
            return
        with self.lock:
            order_id = rnd.choice(self.order_ids)
        to = rnd.choice(("cancelled", "cancelled", "on_hold", "picking", "picked"))
        who = self.world.principals["seller_a" if to in ("cancelled", "on_hold") else "worker"]
        run(self.engine, lambda uow: lifecycle.transition(uow, who, order_id, to, "concurrency test"))

    def worker(self, _rnd: random.Random) -> None:
        if outbox.run_once(self.engine, batch=20) == 0:
            time.sleep(0.02)


def test_everything_at_once_keeps_ledger_counters_and_reservations_agreeing(pg, monkeypatch):
    retries: Counter = Counter()
    real_delay = unit_of_work.retry_delay

    def counted_delay(attempt: int) -> float:
        retries[attempt] += 1
        return real_delay(attempt)

    monkeypatch.setattr(unit_of_work, "retry_delay", counted_delay)
    world = build_world(pg, {("seller-a", "SKU-1", "ALA"): 20, ("seller-a", "SKU-1", "AST"): 10,
                             ("seller-a", "SKU-2", "AST"): 8, ("seller-a", "SKU-3", "ALA"): 4,
                             ("seller-a", "SKU-3", "AST"): 4})
    clients = Clients(pg, world, SECONDS)
    plan = [("intake", clients.intake)] * 4 + [("receipt", clients.receipt)] * 2 + [
        ("move", clients.move), ("adjust", clients.adjust), ("transfer", clients.transfer),
        ("order_move", clients.order_move), ("order_move", clients.order_move),
        ("worker", clients.worker), ("worker", clients.worker)]
    threads = [threading.Thread(target=clients.loop, args=(name, step, i)) for i, (name, step) in enumerate(plan)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=SECONDS + 120)
    assert not any(th.is_alive() for th in threads)
    assert clients.unexpected == [], "\n".join(clients.unexpected[:5])
    for name in ("intake", "receipt", "move", "transfer", "order_move", "worker"):
        assert clients.done[name] > 0, (name, clients.done, clients.refused)

    print("answered:", dict(clients.done), "refused:", dict(clients.refused), "retries by attempt:", dict(retries))
    drain_outbox(pg)
    with pg.connect() as conn:
        dead = conn.execute(select(func.count()).select_from(t.outbox).where(t.outbox.c.status != "done")).scalar()
        by_status = dict(conn.execute(select(t.orders.c.status, func.count()).group_by(t.orders.c.status)).all())
        waiting_for_free = conn.execute(
            select(t.order_lines.c.product_id).distinct()
            .join(t.orders, t.orders.c.id == t.order_lines.c.order_id)
            .join(t.stock, t.stock.c.product_id == t.order_lines.c.product_id)
            .join(t.locations, t.locations.c.id == t.stock.c.location_id)
            .where(t.orders.c.status == "backordered", t.order_lines.c.backordered > 0,
                   t.locations.c.kind == "storage", t.stock.c.on_hand > t.stock.c.reserved)).scalars().all()
    assert dead == 0
    assert by_status.get("allocated", 0) + by_status.get("backordered", 0) > 0, by_status
    assert waiting_for_free == [], "orders wait for stock that is free"
    assert_ledger_consistent(pg)  # includes: every allocated/picking order holds all its lines
