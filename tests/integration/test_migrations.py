"""Alembic migrations build exactly the schema that `tables.metadata` describes, on
SQLite and PostgreSQL, and can be rolled back to nothing and applied again."""

from __future__ import annotations

import os
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from qoima.db.engine import make_engine
from qoima.db.migrate import alembic_config, upgrade
from qoima.db.tables import metadata
from qoima.platform.settings import normalize_url

PG_URL = os.environ.get("QOIMA_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request, tmp_path):
    """A brand-new empty database (its own PostgreSQL schema, dropped afterwards)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield eng
        eng.dispose()
        return
    if not PG_URL:
        pytest.skip("QOIMA_TEST_DATABASE_URL is not set: PostgreSQL migration check not run")
    schema = f"qoima_migr_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(PG_URL))
    with admin.begin() as conn:  # fails (does not skip) when PostgreSQL is unreachable
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = create_engine(normalize_url(PG_URL), connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _diff(engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return compare_metadata(ctx, metadata)


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _cfg(engine):
    return alembic_config(engine.url.render_as_string(hide_password=False))


def _run(engine, fn, revision: str) -> None:
    cfg = _cfg(engine)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        fn(cfg, revision)
        conn.commit()


def _current(engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_upgrade_head_matches_the_metadata(empty_engine):
    assert _tables(empty_engine) == set()
    upgrade(empty_engine)
    assert _tables(empty_engine) == set(metadata.tables) | {"alembic_version"}
    assert _diff(empty_engine) == []
    head = ScriptDirectory.from_config(_cfg(empty_engine)).get_current_head()
    assert _current(empty_engine) == head


def test_constraints_survive_the_migration(empty_engine):
    upgrade(empty_engine)
    insp = inspect(empty_engine)
    checks = {c["name"] for c in insp.get_check_constraints("stock")}
    assert {"ck_stock_on_hand_not_negative", "ck_stock_reserved_within_on_hand"} <= checks
    uniques = {u["name"]: u["column_names"] for u in insp.get_unique_constraints("orders")}
    assert uniques["uq_orders_channel_order"] == ["seller_id", "channel", "external_id"]
    assert uniques["uq_orders_idempotency_key"] == ["seller_id", "idempotency_key"]


def test_downgrade_to_base_then_upgrade_again(empty_engine):
    upgrade(empty_engine)
    _run(empty_engine, command.downgrade, "base")
    assert _tables(empty_engine) - {"alembic_version"} == set()
    assert _current(empty_engine) is None
    upgrade(empty_engine)
    assert _tables(empty_engine) == set(metadata.tables) | {"alembic_version"}
    assert _diff(empty_engine) == []
    upgrade(empty_engine)  # a second upgrade is a no-op
    assert _diff(empty_engine) == []
