"""API tokens: sign in for a token (throttled like the web login), list them, revoke them.

Anyone lists and revokes their own tokens; an admin lists everyone's (or one user's, ?email=) and
revokes any. Someone else's token is "not found" to a non-admin. A revoked token is refused by every
process on its next request (deps.py looks every token up)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel

from qoima.platform import auth, login_throttle
from qoima.platform.unit_of_work import UnitOfWork
from qoima.entrypoints.api.deps import EngineDep, PrincipalDep
from qoima.entrypoints.api.errors import COMMON
from qoima.platform.bounds import Text, UtcDateTime

router = APIRouter(prefix="/api/v1", tags=["tokens"], responses=COMMON)
PROBLEM = {"content": {"application/problem+json": {}}}


class TokenRequest(BaseModel):
    email: Text(254, min_length=1)
    password: Text(1000, min_length=1)
    name: Text(100) = "api"


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    user: str
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None
    expires_at: UtcDateTime | None
    revoked_at: UtcDateTime | None


class TokenList(BaseModel):
    items: list[TokenOut]


class NewToken(BaseModel):
    token: str
    expires_at: UtcDateTime | None


@router.post("/auth/token", status_code=201, response_model=NewToken,
             summary="Sign in with e-mail and password for a new API token (throttled: 429 with Retry-After)",
             responses={401: {"description": "wrong e-mail or password", **PROBLEM},
                        429: {"description": "too many failed sign-ins; Retry-After says when to try again",
                              **PROBLEM}})
def sign_in(data: TokenRequest, request: Request, engine: EngineDep):
    throttle = login_throttle.Throttle.from_settings(request.app.state.settings)
    address = request.client.host if request.client else None
    principal = login_throttle.authenticate(engine, throttle, data.email, data.password, address)
    if principal is None:
        raise HTTPException(401, "wrong e-mail or password")
    with UnitOfWork(engine) as uow:
        token = auth.create_token(uow, principal.email, data.name)
        uow.commit()
        expires = auth.token_expiry(uow, token)
    return {"token": token, "expires_at": expires}


@router.get("/tokens", response_model=TokenList, summary="API tokens: your own; an admin sees everyone's")
def list_tokens(engine: EngineDep, principal: PrincipalDep,
                email: Annotated[Text(254) | None, Query(description="admins: one user's")] = None):
    with UnitOfWork(engine) as uow:
        return {"items": auth.list_tokens(uow, principal, email)}


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke a token (at once, in every process)",
               responses={404: {"description": "no such token, or not yours", **PROBLEM}})
def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**63 - 1)], engine: EngineDep, principal: PrincipalDep):
    with UnitOfWork(engine) as uow:
        item = auth.revoke_token(uow, principal, token_id)
        uow.commit()
    return item
