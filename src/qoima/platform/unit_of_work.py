"""Unit of work: one transaction per use case. It rolls back unless the use
case calls commit(); after a commit the outbox worker is nudged."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, Engine


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class UnitOfWork:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.conn: Connection | None = None
        self._tx = None
        self.committed = False

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def __enter__(self) -> "UnitOfWork":
        self.conn = self.engine.connect()
        self._tx = self.conn.begin()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._tx is not None and self._tx.is_active:
                self._tx.rollback()
        finally:
            self.conn.close()

    def commit(self) -> None:
        self._tx.commit()
        self.committed = True

    def execute(self, statement, params=None):
        return self.conn.execute(statement, params) if params is not None else self.conn.execute(statement)
