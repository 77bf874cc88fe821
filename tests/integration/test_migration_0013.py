"""Migration 0013 adds the receiving mode to warehouses that hold data: every existing warehouse
reserves on its dock; the database refuses an unknown mode and a put-away cell of another warehouse."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from qoima.db.engine import make_engine
from qoima.db.migrate import upgrade


def test_existing_warehouses_reserve_on_the_dock(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0012")
    with engine.begin() as conn:
        conn.execute(text("insert into warehouses (code, name, created_at) values ('ALA', 'A', '2026-01-01'), "
                          "('AST', 'B', '2026-01-01')"))
        conn.execute(text("insert into locations (warehouse_id, code, kind) values (1, 'RCV', 'receiving'), "
                          "(1, 'A-01', 'storage'), (2, 'B-01', 'storage')"))
    upgrade(engine)
    with engine.begin() as conn:
        assert conn.execute(text("select code, receiving_mode from warehouses order by id")).all() == [
            ("ALA", "reserve"), ("AST", "reserve")]
        conn.execute(text("update warehouses set receiving_mode = 'auto_putaway' where id = 1"))
        conn.execute(text("insert into putaway_cells (warehouse_id, location_code) values (1, 'A-01')"))
    for bad in ("update warehouses set receiving_mode = 'later' where id = 2",
                "insert into putaway_cells (warehouse_id, location_code) values (2, 'A-01')"):  # A-01 is ALA's
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(bad))
    engine.dispose()
