"""Request dependencies: the database engine and who is calling (Bearer token or web session)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine

from ...services import auth
from ...services.access import Principal
from ...services.unit_of_work import UnitOfWork


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def optional_principal(request: Request) -> Principal | None:
    engine = request.app.state.engine
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        with UnitOfWork(engine) as uow:
            p = auth.principal_for_token(uow, header[7:].strip())
        if p is None:
            raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        return p
    user_id = request.session.get("user_id") if "session" in request.scope else None
    if user_id:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            token = request.session.get("csrf")
            if not token or request.headers.get("x-csrf-token") != token:
                raise HTTPException(403, "CSRF token missing or wrong: send the X-CSRF-Token header")
        with UnitOfWork(engine) as uow:
            return auth.user_by_id(uow, int(user_id))
    return None


def current_principal(p: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if p is None:
        raise HTTPException(401, "authentication required: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    return p


EngineDep = Annotated[Engine, Depends(get_engine)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
