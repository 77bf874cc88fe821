"""Engines for SQLite (embedded, WAL) and PostgreSQL (production).

On PostgreSQL every connection gets a `lock_timeout` (default 5 s, setting
QOIMA_DB_LOCK_TIMEOUT_MS): a statement that waits longer for a row lock fails
with SQLSTATE 55P03 instead of queueing behind a long import, and the unit of
work (platform/unit_of_work.run) runs the use case again."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event

DEFAULT_LOCK_TIMEOUT_MS = 5000


def is_sqlite(engine_or_url) -> bool:
    url = getattr(engine_or_url, "url", engine_or_url)
    return str(url).startswith("sqlite")


def make_engine(url: str, pool_size: int = 10, echo: bool = False,
                lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS) -> Engine:
    if is_sqlite(url):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_setup(engine)
        return engine
    engine = create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    configure_postgres(engine, lock_timeout_ms)
    return engine


def configure_postgres(engine: Engine, lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS) -> Engine:
    """Set lock_timeout on every new connection of a PostgreSQL engine (0 = wait forever)."""
    if engine.dialect.name != "postgresql":
        return engine
    ms = max(0, int(lock_timeout_ms))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        autocommit = dbapi_conn.autocommit
        cur = dbapi_conn.cursor()
        cur.execute(f"SET lock_timeout = {ms}")  # an int, not user text
        cur.close()
        if not autocommit:
            dbapi_conn.commit()  # a session setting: keep it past this first transaction

    return engine


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy control transactions; take the write lock at BEGIN so two
        # writers never deadlock upgrading a read lock.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
