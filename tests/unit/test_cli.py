"""The `qoima` command line on a temporary data directory (embedded SQLite):
migrate, demo (idempotent), token create, worker --once."""

from __future__ import annotations

import shutil

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from qoima.db import tables as t
from qoima.db.engine import make_engine
from qoima.entrypoints.cli import app
from qoima.platform import auth
from qoima.platform.settings import get_settings

COUNTED = (t.sellers, t.users, t.warehouses, t.locations, t.products, t.barcodes, t.customers, t.orders,
           t.order_lines, t.order_events, t.reservations, t.stock_movements, t.outbox, t.receipts)


def _clean_env(mp: pytest.MonkeyPatch, where) -> None:
    mp.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for var in ("QOIMA_DATABASE_URL", "QOIMA_SECRET_KEY", "QOIMA_ENV"):
        mp.delenv(var, raising=False)
    mp.setenv("QOIMA_DATA_DIR", str(where))  # the CLI sets it; monkeypatch puts the old value back
    get_settings.cache_clear()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty data directory; the CLI's environment changes are undone afterwards."""
    _clean_env(monkeypatch, tmp_path / "unused")
    yield tmp_path / "qoima-data"
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """`qoima demo --no-serve --orders 20` run once (it also loads two years of history,
    which takes seconds); each test gets its own copy of the data directory."""
    where = tmp_path_factory.mktemp("demo") / "qoima-data"
    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp, where)
        result = CliRunner().invoke(app, ["demo", "--no-serve", "--orders", "20", "--data-dir", str(where)],
                                    catch_exceptions=False)
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return where, result.output


@pytest.fixture
def demo_dir(seeded, data_dir):
    shutil.copytree(seeded[0], data_dir)
    return data_dir


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner, *args):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


def counts(engine) -> dict:
    with engine.connect() as conn:
        return {tbl.name: conn.execute(select(func.count()).select_from(tbl)).scalar_one() for tbl in COUNTED}


def engine_of(data_dir):
    return make_engine(f"sqlite:///{data_dir / 'qoima.db'}")


def test_migrate_creates_the_schema(runner, data_dir):
    result = invoke(runner, "migrate", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    assert "schema up to date" in result.output
    assert (data_dir / "qoima.db").exists()
    eng = engine_of(data_dir)
    assert set(t.metadata.tables) <= set(inspect(eng).get_table_names())
    assert counts(eng)["orders"] == 0
    again = invoke(runner, "migrate", "--data-dir", str(data_dir))
    assert again.exit_code == 0
    eng.dispose()


def test_demo_twice_adds_nothing_the_second_time(runner, seeded, demo_dir):
    assert "demo data created" in seeded[1]
    eng = engine_of(demo_dir)
    after_first = counts(eng)
    assert after_first["sellers"] == 2 and after_first["users"] == 5 and after_first["warehouses"] == 2
    assert after_first["products"] == 50 and after_first["barcodes"] == 50
    with eng.connect() as conn:
        demo_orders = conn.execute(select(func.count()).select_from(t.orders)
                                   .where(t.orders.c.external_id.like("DEMO-%"))).scalar_one()
    assert demo_orders == 20
    second = invoke(runner, "demo", "--no-serve", "--orders", "20", "--data-dir", str(demo_dir))
    assert second.exit_code == 0, second.output
    assert "already present" in second.output
    assert counts(eng) == after_first
    eng.dispose()


def test_token_create_prints_a_token_that_authenticates(runner, demo_dir, settings):
    from fastapi.testclient import TestClient

    from qoima.entrypoints.api.app import create_app

    data_dir = demo_dir
    result = invoke(runner, "token", "create", "--email", "admin@qoima.local", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("qma_") and len(token) > 30
    eng = engine_of(data_dir)
    with TestClient(create_app(eng, settings)) as client:
        ok = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["total"] >= 20
        assert client.get("/api/v1/outbox", headers={"Authorization": f"Bearer {token}"}).status_code == 200  # admin
        assert client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    with eng.connect() as conn:  # only the hash is stored
        hashes = conn.execute(select(t.api_tokens.c.token_hash)).scalars().all()
    assert auth.hash_token(token) in hashes and token not in hashes
    unknown = runner.invoke(app, ["token", "create", "--email", "nobody@qoima.local", "--data-dir", str(data_dir)])
    assert unknown.exit_code == 2
    eng.dispose()


def test_worker_once_drains_the_outbox(runner, demo_dir):
    data_dir = demo_dir
    eng = engine_of(data_dir)
    with eng.connect() as conn:
        pending = conn.execute(select(func.count()).select_from(t.outbox)
                               .where(t.outbox.c.status == "pending")).scalar_one()
    assert pending > 0
    result = invoke(runner, "worker", "--once", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    assert f"handled {pending} event(s)" in result.output
    with eng.connect() as conn:
        by_status = dict(conn.execute(select(t.outbox.c.status, func.count()).group_by(t.outbox.c.status)).all())
    assert by_status == {"done": pending}
    again = invoke(runner, "worker", "--once", "--data-dir", str(data_dir))
    assert "handled 0 event(s)" in again.output
    eng.dispose()


def test_help_lists_the_commands(runner):
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("migrate", "demo", "serve", "worker", "token", "user"):
        assert command in result.output


def test_demo_on_a_busy_port_says_so_and_names_a_free_one(runner, data_dir):
    import socket

    from qoima import demo
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not demo.port_is_free("127.0.0.1", port)
        r = runner.invoke(app, ["demo", "--data-dir", str(data_dir), "--port", str(port)])
        assert r.exit_code == 1
        said = " ".join(r.output.split())
        assert f"port {port} on 127.0.0.1 is busy" in said
        assert "http://" not in said and "password" not in said  # no URL nor logins for a server that cannot start
        free = int(said.split("Port ")[1].split()[0])
        assert free > port and demo.port_is_free("127.0.0.1", free)
        assert f"qoima demo --port {free}" in said and "--any-port" in said
        assert not (data_dir / "qoima.db").exists()  # refused before anything was written
        assert demo.free_port("127.0.0.1", port - 1, tries=1) is None  # the busy one is never offered
    assert demo.port_is_free("127.0.0.1", port)  # released: free again


def test_import_from_another_folder_refuses_to_create_an_empty_database(runner, data_dir, tmp_path, monkeypatch):
    """Run from a folder without .qoima (and without QOIMA_DATA_DIR), `qoima import` would make an empty database
    and report 'unknown seller' on every row: it refuses, names the file it looked for and how to point at one."""
    from importlib.resources import files
    sample = files("qoima") / "data" / "samples" / "orders.csv"
    elsewhere = tmp_path / "another-folder"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("QOIMA_DATA_DIR")
    r = runner.invoke(app, ["import", "orders", str(sample), "--dry-run"])
    said = " ".join(r.output.split())
    assert r.exit_code == 2, r.output
    assert f"no database at {elsewhere / '.qoima' / 'qoima.db'}" in said
    assert "--data-dir" in said and "--database-url" in said and "QOIMA_DATABASE_URL" in said and "qoima migrate" in said
    assert not (elsewhere / ".qoima").exists()  # nothing created
    missing = tmp_path / "nowhere.db"
    r = runner.invoke(app, ["token", "create", "--email", "admin@qoima.local", "--database-url", f"sqlite:///{missing}"])
    assert r.exit_code == 2 and f"no database at {missing}" in " ".join(r.output.split())
    assert not missing.exists()
    assert invoke(runner, "migrate", "--data-dir", str(data_dir)).exit_code == 0  # migrate may create one
    r = runner.invoke(app, ["import", "orders", str(sample), "--dry-run", "--data-dir", str(data_dir)])
    assert "no database at" not in r.output  # pointed at an existing database: it runs
