"""Re-sourcing under concurrency on PostgreSQL: re-sources, warehouse moves, holds and
exceptions of the same orders, and new orders for the same stock, all at once. Each
call either succeeds or is refused with a clear 4xx domain error (never a database error),
and at the end every order between allocated and packed is backed by its stock and the
ledger agrees with the counters."""

from __future__ import annotations

import os
import random

import pytest
from conftest import build_world, order_payload
from test_concurrency_pg import in_parallel, pg  # noqa: F401 - the fixture
from test_order_moves import assert_orders_hold_their_lines
from test_stock_ledger import run

from qoima.orders.schemas import OrderIn
from qoima.orders.services import lifecycle, resourcing
from qoima.orders.services.intake import submit_order
from qoima.platform.errors import DomainError

pytestmark = pytest.mark.postgres
# Cancellations are left out on purpose: cancel refills backorders inside its transaction, locking
# stock first and the waiting orders after, the reverse of every other order use case (order, then
# stock); with re-sourcing beside it PostgreSQL then detects deadlocks. That refill is being moved
# (issue 7, item 5: fill locks the waiting orders it reads / runs after commit; the unit of work
# retries 40P01); add "cancelled" here once it has landed.
KINDS = ["resource", "resource", "picking", "picked", "on_hold", "exception", "new"]

if not os.environ.get("QOIMA_TEST_DATABASE_URL"):
    pytest.skip("needs QOIMA_TEST_DATABASE_URL", allow_module_level=True)


def test_re_sources_moves_and_new_orders_at_once_keep_every_order_backed(pg):  # noqa: F811
    world = build_world(pg, {("seller-a", "SKU-1", "ALA"): 30, ("seller-a", "SKU-1", "AST"): 20,
                             ("seller-a", "SKU-3", "ALA"): 6, ("seller-a", "SKU-3", "AST"): 6})
    seller, staff = world.principals["seller_a"], world.principals["worker"]
    ids = [submit_order(pg, seller, OrderIn(**order_payload(f"C-{i}", [("SKU-1", 3), ("SKU-3", 2)])))[0]["id"]
           for i in range(8)]  # 6 allocated in full, 2 partly backordered (SKU-3 runs out)
    rng = random.Random(7)
    actions = []
    for k in range(80):
        oid = rng.choice(ids)
        kind = rng.choice(KINDS)
        actions.append((kind, oid, k))

    def act(a):
        kind, oid, k = a
        try:
            if kind == "new":
                return submit_order(pg, seller, OrderIn(**order_payload(f"N-{k}", [("SKU-1", 2), ("SKU-3", 1)])))
            if kind == "resource":
                return run(pg, resourcing.resource, staff, oid)
            return run(pg, lifecycle.transition, staff, oid, kind)
        except DomainError as exc:  # refused for this order now: a 4xx, fine
            assert exc.status in (403, 409), exc
            return exc

    results, errors = in_parallel(act, actions, workers=16)
    assert errors == []
    assert sum(1 for r in results if not isinstance(r, DomainError)) > 20  # the mix really moved orders
    assert_orders_hold_their_lines(pg)
