"""The PL/pgSQL booking function installed in PostgreSQL is the one in
src/qoima/db/sql/, and the function the previous release calls stays installed
(a rolling deploy runs old and new code against one migrated database)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from qoima.db import functions

pytestmark = pytest.mark.postgres

if not os.environ.get("QOIMA_TEST_DATABASE_URL"):
    pytest.skip("PL/pgSQL functions exist on PostgreSQL only: set QOIMA_TEST_DATABASE_URL", allow_module_level=True)


def _functions(pg) -> dict:
    with pg.connect() as conn:
        rows = conn.execute(text(
            "SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args, p.prosrc, l.lanname,"
            " pg_get_function_result(p.oid) AS result FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
            " WHERE p.pronamespace = current_schema()::regnamespace AND p.proname LIKE 'book_order%'")).all()
    return {r.proname: r for r in rows}


def test_the_installed_booking_function_equals_its_sql_file(pg_engine_session):
    installed = _functions(pg_engine_session)["book_order_v3"]
    assert installed.prosrc == functions.body("book_order_v3")
    assert (installed.args, installed.result, installed.lanname) == ("p_booking jsonb", "bigint", "plpgsql")
    assert "CREATE OR REPLACE FUNCTION book_order_v3(p_booking jsonb) RETURNS bigint" in functions.source(
        "book_order_v3")


def test_only_the_current_function_is_installed(pg_engine_session):
    """book_order (0002) and book_order_v2 (0004) wrote orders.warehouses, which migration 0010
    replaced by shipments: they are dropped with it (calling them would fail half-way)."""
    assert set(_functions(pg_engine_session)) == {"book_order_v3"}
