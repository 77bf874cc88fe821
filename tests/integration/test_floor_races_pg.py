"""PostgreSQL races on the floor: two pickers scan the last unit of a SKU at the same moment (two
devices on one walk): one wins, the other is refused as an over-pick, and the stock stays right; a
retried operation id sent twice at once is done once."""

from __future__ import annotations

import os

import pytest
from conftest import build_world
from fastapi.testclient import TestClient
from floor_helpers import movements, on_hand, place, release, scan, take
from test_concurrency_pg import in_parallel, pg  # noqa: F401 - the fixture
from test_stock_ledger import assert_ledger_consistent

from qoima.entrypoints.api.app import create_app
from qoima.floor.services import picking
from qoima.platform.settings import Settings

pytestmark = pytest.mark.skipif(not os.environ.get("QOIMA_TEST_DATABASE_URL"),
                                reason="QOIMA_TEST_DATABASE_URL is not set: PostgreSQL races not run")


@pytest.fixture
def floor(pg, tmp_path):
    world = build_world(pg, {("seller-a", "SKU-3", "ALA"): 2})
    with TestClient(create_app(pg, Settings(data_dir=tmp_path, secret_key="test-secret-key-not-for-production"))) as c:
        yield world, c


def test_two_pickers_scan_the_last_unit_at_once_one_wins(floor):
    world, client = floor
    order = place(client, world, "RACE-1", [("SKU-3", 2)])
    release(client, world)
    task = take(client, world)
    tid = task["id"]
    assert scan(client, world, tid, "A-01")["ok"]
    assert scan(client, world, tid, "4870000009039")["ok"]  # one left on the shelf, reserved for the order
    pickers = [world.principals["worker"], world.principals["manager"]]
    results, errors = in_parallel(
        lambda p: picking.scan(world.engine, p, tid, picking.ScanIn(f"race-{p.email}", "4870000009039")).response,
        pickers)
    assert not errors, errors
    assert sorted(r["ok"] for r in results) == [False, True]
    assert next(r for r in results if not r["ok"])["code"] in ("floor.over_pick", "floor.task_done")
    assert on_hand(world.engine, "seller-a", "SKU-3", "ALA", "A-01") == (0, 0)
    assert movements(world.engine, "pick", f"order:{order}") == 2
    assert_ledger_consistent(world.engine)


def test_one_operation_id_sent_twice_at_once_is_done_once(floor):
    world, client = floor
    order = place(client, world, "RACE-2", [("SKU-3", 2)])
    release(client, world)
    tid = take(client, world)["id"]
    assert scan(client, world, tid, "A-01")["ok"]
    worker = world.principals["worker"]
    results, errors = in_parallel(
        lambda _n: picking.scan(world.engine, worker, tid, picking.ScanIn("same-op", "4870000009039")), [1, 2, 3])
    assert not errors, errors
    assert all(r.response == results[0].response for r in results) and results[0].response["ok"]
    assert sum(r.replayed for r in results) == 2
    assert movements(world.engine, "pick", f"order:{order}") == 1
    assert_ledger_consistent(world.engine)
