"""Asynchronous PostgreSQL connections beside an SQLAlchemy engine, for request
paths that run on the event loop (order intake) instead of a worker thread.

A pool (psycopg_pool) is kept per engine and per event loop: uvicorn runs one
loop per process, a test client one per `with` block. Its connections are made
with the parameters of a live connection of the engine (read from libpq), so
they reach the same database, user and search_path whether those came from the
URL or from `connect_args`, and with the engine's `lock_timeout` (db/engine.py),
so an express order fails fast (55P03) instead of waiting behind a long import.
Connections are in autocommit mode: callers send their own BEGIN ... COMMIT
(in one pipeline).
"""

from __future__ import annotations

import asyncio
import weakref

from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine

_conninfo: "weakref.WeakKeyDictionary[Engine, str]" = weakref.WeakKeyDictionary()
_lock_timeouts: "weakref.WeakKeyDictionary[Engine, str]" = weakref.WeakKeyDictionary()
_pools: "weakref.WeakKeyDictionary[Engine, weakref.WeakKeyDictionary]" = weakref.WeakKeyDictionary()


def conninfo_of(engine: Engine) -> str:
    """libpq parameters of the engine's connections (password included)."""
    cached = _conninfo.get(engine)
    if cached is None:
        with engine.connect() as conn:
            info = conn.connection.driver_connection.info
            cached = make_conninfo(info.dsn, password=info.password) if info.password else info.dsn
            _lock_timeouts[engine] = str(conn.exec_driver_sql("SHOW lock_timeout").scalar())
        _conninfo[engine] = cached
    return cached


async def pool_for(engine: Engine) -> AsyncConnectionPool:
    """The open pool of this engine on the running loop (opened on first use)."""
    loop = asyncio.get_running_loop()
    per_loop = _pools.setdefault(engine, weakref.WeakKeyDictionary())
    opening = per_loop.get(loop)
    if opening is None:
        opening = per_loop[loop] = loop.create_task(_open(engine))
    try:
        return await asyncio.shield(opening)
    except BaseException:
        if opening.done() and (opening.cancelled() or opening.exception() is not None):
            per_loop.pop(loop, None)  # a failed open is tried again by the next request
        raise


async def _open(engine: Engine) -> AsyncConnectionPool:
    conninfo = _conninfo.get(engine) or await asyncio.to_thread(conninfo_of, engine)
    size = max(2, engine.pool.size() if hasattr(engine.pool, "size") else 10)
    lock_timeout = _lock_timeouts.get(engine, "0")

    async def configure(conn) -> None:  # a session setting on an autocommit connection: it stays
        await conn.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))

    pool = AsyncConnectionPool(conninfo, min_size=1, max_size=size, kwargs={"autocommit": True},
                               configure=configure, open=False, name="qoima-async", timeout=30)
    await pool.open(wait=True, timeout=30)
    return pool


async def close_pools(engine: Engine) -> None:
    """Close the pools of this engine that belong to the running loop (application shutdown)."""
    loop = asyncio.get_running_loop()
    per_loop = _pools.get(engine)
    if not per_loop or loop not in per_loop:
        return
    task = per_loop.pop(loop)
    if task.done() and not task.cancelled() and task.exception() is None:
        await task.result().close()
