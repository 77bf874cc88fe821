"""Migration 0012 forgets the receivers' response bodies that earlier refusals kept in
outbox.last_error (they were readable in /api/v1/outbox)."""

from __future__ import annotations

from sqlalchemy import text

from qoima.db.engine import make_engine
from qoima.db.migrate import upgrade


def test_old_refusals_lose_the_response_body(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0011")
    old = 'RuntimeError: webhook http://10.0.0.1/x refused the event: 400 {"ami-id": "secret-from-metadata"}'
    with engine.begin() as conn:
        conn.execute(text("insert into outbox (topic, payload, status, attempts, next_attempt_at, created_at, "
                          "last_error) values ('order.created', '{}', 'dead', 1, '2026-01-01', '2026-01-01', :e), "
                          "('order.created', '{}', 'dead', 1, '2026-01-01', '2026-01-01', 'TransientError: x')"),
                     {"e": old})
    upgrade(engine)
    with engine.connect() as conn:
        errors = [r[0] for r in conn.execute(text("select last_error from outbox order by id"))]
    assert errors == ["RuntimeError: webhook http://10.0.0.1/x refused the event: 400 (response body not kept)",
                      "TransientError: x"]
    engine.dispose()
