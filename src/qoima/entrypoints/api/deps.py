"""Request dependencies: the database engine and who is calling (Bearer token or web session)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from qoima.platform import auth
from qoima.platform.access import Principal
from qoima.platform.unit_of_work import UnitOfWork


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


TOKEN_CACHE_SECONDS = 30.0  # a revoked token or deactivated user stops working within this time
_token_cache: dict[str, tuple[float, Principal]] = {}


def _cached_principal(token: str) -> Principal | None:
    hit = _token_cache.get(auth.hash_token(token))
    return hit[1] if hit and hit[0] > time.monotonic() else None


def _principal_for_token(engine, token: str) -> Principal | None:
    key = auth.hash_token(token)
    now = time.monotonic()
    with UnitOfWork(engine) as uow:
        p = auth.principal_for_token(uow, token)
    if p is not None:
        if len(_token_cache) > 10_000:
            _token_cache.clear()
        _token_cache[key] = (now + TOKEN_CACHE_SECONDS, p)
    return p


async def optional_principal(request: Request) -> Principal | None:
    """Async so that API calls with a cached token need no worker thread; look-ups run in one."""
    engine = request.app.state.engine
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        p = _cached_principal(token) or await run_in_threadpool(_principal_for_token, engine, token)
        if p is None:
            raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        return p
    user_id = request.session.get("user_id") if "session" in request.scope else None
    if user_id:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            token = request.session.get("csrf")
            if not token or request.headers.get("x-csrf-token") != token:
                raise HTTPException(403, "CSRF token missing or wrong: send the X-CSRF-Token header")
        return await run_in_threadpool(_user_by_id, engine, int(user_id))
    return None


def _user_by_id(engine, user_id: int) -> Principal | None:
    with UnitOfWork(engine) as uow:
        return auth.user_by_id(uow, user_id)


async def current_principal(p: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if p is None:
        raise HTTPException(401, "authentication required: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    return p


EngineDep = Annotated[Engine, Depends(get_engine)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
