"""Analytics snapshots (issue 7, item 9): the worker computes a seller's customer
analytics after its orders change, debounced, and stores them; pages and the API
only read the newest snapshot. Proven on real SQLite and PostgreSQL: a page view
adds no fit and no snapshot row, new orders plus a worker pass give a new
snapshot and a new "as of", two passes in a row compute once, a seller without a
snapshot is told it is being computed, and one seller never gets another's."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta

import pytest
from conftest import order_payload
from sqlalchemy import func, select, update

from qoima.analytics.domain import customer_metrics as cm
from qoima.analytics.domain.simulate import simulate_history
from qoima.analytics.services import compute, refresh
from qoima.analytics.services import snapshots as analytics
from qoima.analytics.services.data import load_orders
from qoima.analytics.services.history import insert_history
from qoima.db import tables as t
from qoima.entrypoints import worker
from qoima.platform.unit_of_work import utcnow

PASSWORD = "password123"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
S = t.analytics_snapshots
AS_OF = re.compile(r'data-snapshot="ready">([^<]+)<')


def login(client, email: str) -> None:
    token = CSRF.search(client.get("/login").text).group(1)
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf": token, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def seed(world, seller: str = "seller-a", n_customers: int = 200, seed: int = 5) -> None:
    end = utcnow() - timedelta(days=1)
    sim = simulate_history(n_customers=n_customers, start=end - timedelta(days=500), end=end, effect_days=3,
                           seed=seed)
    insert_history(world.engine, world.sellers[seller], sim.customers, sim.orders)


def rows(world) -> list[tuple]:
    with world.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(S.c.id, S.c.seller_id, S.c.kind, S.c.computed_at,
                                                      S.c.source_version).order_by(S.c.id))]


@pytest.fixture
def history(world):
    seed(world)
    assert refresh.refresh_due(world.engine) == [world.sellers["seller-a"], world.sellers["seller-b"]]


def test_a_page_view_with_a_fresh_snapshot_never_refits(client, world, history):
    login(client, "a@seller-a.kz")
    before_rows, before_runs = rows(world), dict(compute.RUNS)
    assert len(before_rows) == 8  # four kinds for each of the two sellers
    a = world.headers("seller_a")
    pages = ["/customers", "/customers/list", "/customers/list?segment=Lost&sort=monetary&page=2",
             "/customers/list?q=a", "/loyalty", "/customers?lang=en"]
    for path in pages:
        assert client.get(path).status_code == 200, path
    api = ["/api/v1/analytics/customers", "/api/v1/analytics/customers?churn_horizon_days=30",
           "/api/v1/analytics/clv", "/api/v1/analytics/loyalty?lang=ru", "/api/v1/customers?sort=recency_days",
           "/api/v1/customers?segment=At+risk&limit=5&offset=1", "/api/v1/customers?format=csv",
           "/api/v1/customers?format=xlsx"]
    for path in api:
        r = client.get(path, headers=a)
        assert r.status_code == 200, (path, r.text)
        assert "Retry-After" not in r.headers, path
    assert dict(compute.RUNS) == before_runs  # no fit, no snapshot computed by any request
    assert rows(world) == before_rows  # same snapshots, same computed_at


def test_query_variants_are_cut_from_the_one_snapshot(world, history):
    p = world.principals["seller_a"]
    frame = load_orders(world.engine, world.sellers["seller-a"])
    base = analytics.overview(world.engine, p)
    assert base["status"] == "ready" and base["computed_at"]
    as_of = datetime.fromisoformat(base["as_of"])
    for horizon in (1, 30, 45, 200, 3650):
        got = analytics.overview(world.engine, p, churn_horizon_days=horizon)["summary"]
        expected = cm.summary(frame, as_of, churn_horizon=horizon)
        for key in ("churn_horizon_days", "churn_eligible_customers", "churned_customers", "churn_rate"):
            assert got[key] == pytest.approx(expected[key]), (horizon, key)
    everyone = analytics.customer_list(world.engine, p, analytics.CustomerQuery(limit=None))
    assert everyone.status == "ready" and everyone.computed_at is not None
    lost = analytics.customer_list(world.engine, p, analytics.CustomerQuery(segment="Lost", sort="name", limit=None))
    assert lost.total == sum(r["segment"] == "Lost" for r in everyone.rows)
    assert [r["name"] for r in lost.rows] == sorted(r["name"] for r in lost.rows)
    page = analytics.customer_list(world.engine, p, analytics.CustomerQuery(limit=10, offset=5))
    assert page.rows == everyone.rows[5:15] and page.total == everyone.total


def test_new_orders_then_a_worker_pass_give_a_new_snapshot(client, world, history):
    login(client, "a@seller-a.kz")
    a_id = world.sellers["seller-a"]
    with world.engine.begin() as conn:  # make the first snapshot look two hours old
        for sid, at in conn.execute(select(S.c.id, S.c.computed_at)).all():
            conn.execute(update(S).where(S.c.id == sid).values(computed_at=at - timedelta(hours=2)))
    old_as_of = AS_OF.search(client.get("/customers").text).group(1)
    old = analytics.overview(world.engine, world.principals["seller_a"])
    r = client.post("/api/v1/orders", json=order_payload("LIVE-1", [("SKU-1", 1)]), headers=world.headers("seller_a"))
    assert r.status_code == 201
    # live intake alone changes nothing the pages show: no request computes
    assert AS_OF.search(client.get("/customers").text).group(1) == old_as_of
    assert refresh.refresh_due(world.engine) == [a_id]  # changed and past the debounce window
    new = analytics.overview(world.engine, world.principals["seller_a"])
    assert new["computed_at"] > old["computed_at"]
    assert new["summary"]["customers"] == old["summary"]["customers"] + 1
    new_as_of = AS_OF.search(client.get("/customers").text).group(1)
    assert new_as_of != old_as_of and new_as_of.startswith("Данные на ")
    for path in ("/customers/list", "/loyalty"):
        assert AS_OF.search(client.get(path).text).group(1) == new_as_of, path
    client.get("/?lang=en")
    assert AS_OF.search(client.get("/customers").text).group(1).startswith("Figures as of ")


def test_debounce_two_passes_in_a_row_compute_once(client, world, history):
    runs = compute.RUNS["snapshot"]
    assert refresh.refresh_due(world.engine) == []  # nothing changed
    assert refresh.refresh_due(world.engine, refresh.Policy(debounce_s=0)) == []  # still nothing changed
    assert compute.RUNS["snapshot"] == runs
    client.post("/api/v1/orders", json=order_payload("LIVE-2"), headers=world.headers("seller_a"))
    rules = refresh.Policy(debounce_s=300)
    assert refresh.refresh_due(world.engine, rules) == []  # changed, but the last snapshot is seconds old
    later = utcnow() + timedelta(seconds=301)
    assert refresh.refresh_due(world.engine, rules, now=later) == [world.sellers["seller-a"]]
    assert refresh.refresh_due(world.engine, rules, now=later) == []  # the second pass of the two
    assert compute.RUNS["snapshot"] == runs + 1
    client.post("/api/v1/orders", json=order_payload("LIVE-3"), headers=world.headers("seller_a"))
    assert refresh.refresh_due(world.engine, rules) == []  # changed again: debounced again


def test_only_the_newest_two_are_kept(client, world, history):
    for i in range(3):
        client.post("/api/v1/orders", json=order_payload(f"KEEP-{i}"), headers=world.headers("seller_a"))
        assert refresh.refresh_due(world.engine, refresh.Policy(debounce_s=0)) == [world.sellers["seller-a"]]
    with world.engine.connect() as conn:
        counts = dict(conn.execute(select(S.c.kind, func.count()).where(S.c.seller_id == world.sellers["seller-a"])
                                   .group_by(S.c.kind)).all())
    assert counts == {"overview": 2, "clv": 2, "customers": 2, "loyalty": 2}


def test_without_a_snapshot_pages_say_it_is_being_computed(client, world, monkeypatch):
    seed(world, n_customers=60)
    login(client, "a@seller-a.kz")
    runs = dict(compute.RUNS)
    for path in ("/customers", "/customers/list", "/loyalty"):
        html = client.get(path).text
        assert 'data-snapshot="computing"' in html and "сейчас считается" in html, path
    client.get("/?lang=en")
    assert "are being computed in the background" in client.get("/customers").text
    for path in ("/api/v1/analytics/customers", "/api/v1/analytics/clv", "/api/v1/analytics/loyalty",
                 "/api/v1/customers"):
        r = client.get(path, headers=world.headers("seller_a"))
        assert r.status_code == 200 and r.json()["status"] == "computing" and r.headers["Retry-After"], path
    assert dict(compute.RUNS) == runs and rows(world) == []  # the requests computed nothing
    monkeypatch.setattr(refresh, "_last_tick", {})
    worker.run(world.engine, once=True)  # the worker loop runs the pass
    assert {r[1] for r in rows(world)} == {world.sellers["seller-a"], world.sellers["seller-b"]}
    html = client.get("/customers").text
    assert 'data-snapshot="computing"' not in html and "Figures as of " in html
    r = client.get("/api/v1/analytics/customers", headers=world.headers("seller_a"))
    assert r.json()["status"] == "ready" and r.json()["summary"]["customers"] > 50 and "Retry-After" not in r.headers


def test_a_seller_never_gets_another_sellers_snapshot(client, world):
    seed(world, "seller-a", n_customers=80, seed=5)
    seed(world, "seller-b", n_customers=40, seed=9)
    refresh.refresh_due(world.engine)
    a, b = world.headers("seller_a"), world.headers("seller_b")
    own_a = client.get("/api/v1/analytics/customers", headers=a).json()
    own_b = client.get("/api/v1/analytics/customers", headers=b).json()
    assert own_a["seller"] == "seller-a" and own_b["seller"] == "seller-b"
    assert own_a["summary"]["customers"] != own_b["summary"]["customers"]
    a_names = {r["name"] for r in client.get("/api/v1/customers?limit=1000", headers=a).json()["items"]}
    b_names = {r["name"] for r in client.get("/api/v1/customers?limit=1000", headers=b).json()["items"]}
    with world.engine.connect() as conn:
        b_customers = set(conn.execute(select(t.customers.c.name)
                                       .where(t.customers.c.seller_id == world.sellers["seller-b"])).scalars())
    assert b_names <= b_customers and not (a_names - b_customers) & b_names
    for path in ("/api/v1/analytics/customers", "/api/v1/analytics/clv", "/api/v1/analytics/loyalty",
                 "/api/v1/customers"):
        assert client.get(path, params={"seller": "seller-a"}, headers=b).status_code == 404, path
    manager = world.headers("manager")
    assert client.get("/api/v1/analytics/customers?seller=seller-b", headers=manager).json()["summary"] == \
        own_b["summary"]


def test_concurrent_passes_store_one_snapshot_per_kind(world):
    seed(world, n_customers=80)
    barrier, results = threading.Barrier(3), []

    def one_pass():
        barrier.wait()
        results.append(refresh.refresh_due(world.engine))
    threads = [threading.Thread(target=one_pass) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    a = world.sellers["seller-a"]
    assert sum(r.count(a) for r in results) == 1  # one pass computed seller A, the others skipped it
    kinds = [r[2] for r in rows(world) if r[1] == a]
    assert sorted(kinds) == sorted(compute.KINDS)
