"""/metrics (issue 8, finding 10): a token when QOIMA_METRICS_TOKEN is set, no
full-table count on a scrape (the worker's snapshot), and the same totals from
whichever of several processes answers (prometheus-client multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from fastapi.testclient import TestClient
from sqlalchemy import event
from test_system_api import metric

from conftest import order_payload
from qoima.entrypoints import metric_snapshots
from qoima.entrypoints.api.app import create_app
from qoima.platform.settings import Settings


def test_metrics_token_is_required_when_set(world, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", secret_key="k" * 32, metrics_token="scrape-me-please")
    with TestClient(create_app(world.engine, settings)) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert "QOIMA_METRICS_TOKEN" in wrong.json()["detail"]
        assert client.get("/metrics", headers={"Authorization": "Basic scrape-me-please"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
        assert ok.status_code == 200 and "qoima_http_requests_total" in ok.text
    with TestClient(create_app(world.engine, Settings(data_dir=tmp_path / "d2", secret_key="k" * 32))) as client:
        assert client.get("/metrics").status_code == 200  # no token set: open, as before


def test_a_scrape_counts_no_table(client, world):
    a = world.headers("seller_a")
    client.post("/api/v1/orders", json=order_payload("S-1"), headers=a)
    client.post("/api/v1/orders", json=order_payload("S-2"), headers=a)
    metric_snapshots.take(world.engine)  # the worker's pass
    statements: list[str] = []

    def record(conn, cursor, statement, params, context, executemany):
        statements.append(statement.lower())

    event.listen(world.engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            text = client.get("/metrics").text
    finally:
        event.remove(world.engine, "before_cursor_execute", record)
    assert metric(text, "qoima_orders", status="allocated") == 2
    assert metric(text, "qoima_outbox_events", status="pending") == 6
    age = metric(text, "qoima_metrics_snapshot_age_seconds")
    assert age is not None and 0 <= age < 60
    assert statements, "a scrape reads the snapshot"
    assert not any("count(" in s for s in statements), statements
    assert not any(" orders" in s or " outbox" in s for s in statements), statements
    assert all("metric_snapshots" in s for s in statements if s.startswith("select"))
    # a new order shows after the worker's next snapshot, not before
    client.post("/api/v1/orders", json=order_payload("S-3"), headers=a)
    assert metric(client.get("/metrics").text, "qoima_orders", status="allocated") == 2
    metric_snapshots.take(world.engine)
    assert metric(client.get("/metrics").text, "qoima_orders", status="allocated") == 3


SERVE = textwrap.dedent("""
    import sys
    from fastapi.testclient import TestClient
    from qoima.db.engine import make_engine
    from qoima.entrypoints.api.app import create_app
    from qoima.platform.settings import Settings
    engine = make_engine(sys.argv[1])
    app = create_app(engine, Settings(data_dir=sys.argv[2], secret_key="k" * 32))
    with TestClient(app) as client:
        for _ in range(int(sys.argv[3])):
            assert client.get("/healthz").status_code == 200
        if sys.argv[4] == "scrape":
            print(client.get("/metrics").text)
""")


def test_several_processes_add_up(tmp_path, sqlite_template):
    """Like `serve --workers 3`: two processes answer health checks, a third answers the scrape;
    the scrape counts the requests of all three."""
    db = tmp_path / "q.db"
    db.write_bytes(sqlite_template.read_bytes())
    prom = tmp_path / "prom"
    prom.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(prom)}

    def run(n: int, mode: str) -> str:
        out = subprocess.run([sys.executable, "-c", SERVE, f"sqlite:///{db}", str(tmp_path / "data"), str(n), mode],
                             env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    run(7, "no")
    run(5, "no")
    text = run(2, "scrape")
    assert metric(text, "qoima_http_requests_total", method="GET", route="/healthz", status="200") == 14
    assert metric(text, "qoima_http_request_seconds_count", method="GET", route="/healthz") == 14
    # without the shared directory each process counts only itself (the finding)
    del env["PROMETHEUS_MULTIPROC_DIR"]
    alone = run(2, "scrape")
    assert metric(alone, "qoima_http_requests_total", method="GET", route="/healthz", status="200") == 2
