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


def test_shipments_are_copied_from_the_comma_joined_warehouses_and_back(empty_engine):
    """0010 turns orders.warehouses ('ALA,AST') into one shipment per warehouse, in that order, with
    the order's status (a held order's shipments take the status it was held from); its downgrade
    writes the column back."""
    eng = empty_engine
    _run(eng, command.upgrade, "0009")
    now = "2026-12-03 10:00:00"
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO sellers (id, code, name, created_at) VALUES (1, 's', 'S', :n)"), {"n": now})
        for wid, code in ((1, "ALA"), (2, "AST")):
            conn.execute(text("INSERT INTO warehouses (id, code, name, created_at) VALUES (:i, :c, :c, :n)"),
                         {"i": wid, "c": code, "n": now})
        for oid, status, whs in ((1, "allocated", "ALA,AST"), (2, "backordered", ""), (3, "on_hold", "AST"),
                                 (4, "picked", "AST,ALA")):
            conn.execute(text(
                "INSERT INTO orders (id, seller_id, channel, external_id, status, delivery_type, warehouses, "
                "received_at, updated_at) VALUES (:i, 1, 'api', :e, :s, 'courier', :w, :n, :n)"),
                {"i": oid, "e": f"E-{oid}", "s": status, "w": whs, "n": now})
        conn.execute(text("INSERT INTO order_events (order_id, from_status, to_status, actor, reason, created_at) "
                          "VALUES (3, 'picking', 'on_hold', 'x', '', :n)"), {"n": now})
    _run(eng, command.upgrade, "0010")
    with eng.connect() as conn:
        rows = conn.execute(text("SELECT s.order_id, w.code, s.seq, s.status FROM shipments s JOIN warehouses w "
                                 "ON w.id = s.warehouse_id ORDER BY s.order_id, s.seq")).all()
    assert [tuple(r) for r in rows] == [(1, "ALA", 1, "allocated"), (1, "AST", 2, "allocated"),
                                        (3, "AST", 1, "picking"), (4, "AST", 1, "picked"), (4, "ALA", 2, "picked")]
    assert "warehouses" not in {c["name"] for c in inspect(eng).get_columns("orders")}
    _run(eng, command.downgrade, "0009")
    with eng.connect() as conn:
        back = dict(conn.execute(text("SELECT id, warehouses FROM orders")).all())
    assert back == {1: "ALA,AST", 2: "", 3: "AST", 4: "AST,ALA"}
