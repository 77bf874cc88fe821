"""Request dependencies: the database engine and who is calling (Bearer token or web session)."""

from __future__ import annotations

from collections import namedtuple
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from qoima.db import pg_async
from qoima.platform import auth
from qoima.platform.access import Principal
from qoima.platform.unit_of_work import UnitOfWork, utcnow


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


# No per-process cache of tokens: a revoked or expired token, or a deactivated user, is refused by
# every process on its next request. The check is one look-up by the unique token_hash index; on
# PostgreSQL it runs on the event loop's async pool (no worker thread, like express intake).


def _principal_for_token(engine, token: str) -> Principal | None:
    with UnitOfWork(engine) as uow:
        p = auth.principal_for_token(uow, token)
        uow.commit()  # last_used_at, when due
    return p


async def _principal_for_token_pg(engine, token: str) -> Principal | None:
    now = utcnow()
    compiled = auth.token_lookup(token, now).compile(dialect=engine.dialect)
    pool = await pg_async.pool_for(engine)
    async with pool.connection() as conn:
        cur = await conn.execute(str(compiled), compiled.params)
        row = await cur.fetchone()
        if row is None:
            return None
        row = _Row(*row)
        if auth.touch_due(row, now):
            touch = auth.token_touch(row.token_id, now).compile(dialect=engine.dialect)
            await conn.execute(str(touch), touch.params)
    return auth.principal_of(row)


_Row = namedtuple("_Row", "id email role seller_id token_id last_used_at")


async def principal_for_token(engine, token: str) -> Principal | None:
    if engine.dialect.name == "postgresql":
        return await _principal_for_token_pg(engine, token)
    return await run_in_threadpool(_principal_for_token, engine, token)


async def optional_principal(request: Request) -> Principal | None:
    """Async so that API calls with a cached token need no worker thread; look-ups run in one."""
    engine = request.app.state.engine
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        p = await principal_for_token(engine, token)
        if p is None:
            raise HTTPException(401, "invalid, expired or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        return p
    user_id = request.session.get("user_id") if "session" in request.scope else None
    if user_id:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            token = request.session.get("csrf")
            if not token or request.headers.get("x-csrf-token") != token:
                raise HTTPException(403, "CSRF token missing or wrong: send the X-CSRF-Token header")
        return await run_in_threadpool(_user_by_id, engine, int(user_id), request.session.get("sv"))
    return None


def _user_by_id(engine, user_id: int, version) -> Principal | None:
    """The signed-in user while the session's version is the user's (logout elsewhere ends it)."""
    if not isinstance(version, int):
        return None
    with UnitOfWork(engine) as uow:
        return auth.user_by_id(uow, user_id, version)


async def current_principal(p: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if p is None:
        raise HTTPException(401, "authentication required: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    return p


EngineDep = Annotated[Engine, Depends(get_engine)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
