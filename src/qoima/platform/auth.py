"""Users, password login (argon2), web session versions and API tokens (only a SHA-256 of the token
is stored; a token has an expiry, can be listed and revoked, and its last use is written at most once
a minute)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, Select, insert, or_, select, update

from qoima.db import tables as t
from qoima.platform.contacts import normalize_email
from qoima.platform.errors import Conflict, NotFound, ValidationError
from qoima.platform.settings import get_settings
from qoima.platform.access import ROLES, Principal
from qoima.platform.unit_of_work import UnitOfWork, utcnow

_hasher = PasswordHasher()
TOKEN_PREFIX = "qma_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(uow: UnitOfWork, *, email: str, password: str | None, role: str, seller_id: int | None = None,
                full_name: str = "", language: str = "ru") -> int:
    email = normalize_email(email, field="email", internal=True)
    if not email:
        raise ValidationError("a user needs an e-mail address", field="email", code="auth.email_required")
    if role not in ROLES:
        raise ValidationError("role must be one of %(roles)s", field="role", code="auth.unknown_role", roles=list(ROLES))
    if (role == "seller") != (seller_id is not None):
        raise ValidationError("a seller user needs a seller; staff users have none", field="seller",
                              code="auth.seller_mismatch")
    if password is not None and len(password) < 8:
        raise ValidationError("password must have at least %(min)s characters", field="password",
                              code="auth.password_too_short", min=8)
    if uow.execute(select(t.users.c.id).where(t.users.c.email == email)).first():
        raise Conflict("user %(email)s already exists", field="email", code="auth.user_exists", email=email)
    return uow.execute(insert(t.users).values(
        email=email, password_hash=_hasher.hash(password) if password else None, role=role, seller_id=seller_id,
        full_name=full_name, language=language, is_active=True, created_at=utcnow()).returning(t.users.c.id)).scalar_one()


def principal_of(row) -> Principal:
    return Principal(user_id=row.id, email=row.email, role=row.role, seller_id=row.seller_id)


def authenticate(uow: UnitOfWork, email: str, password: str) -> Principal | None:
    row = uow.execute(select(t.users).where(t.users.c.email == (email or "").strip().lower())).first()
    if row is None or not row.is_active or not row.password_hash:
        _hasher.hash("timing-equaliser")
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return principal_of(row)


def user_by_id(uow: UnitOfWork, user_id: int, session_version: int | None = None) -> Principal | None:
    """The active user; with session_version, only while the user's sessions are still of that version."""
    row = uow.execute(select(t.users).where(t.users.c.id == user_id, t.users.c.is_active.is_(True))).first()
    if row is None or (session_version is not None and row.session_version != session_version):
        return None
    return principal_of(row)


def session_version(uow: UnitOfWork, user_id: int) -> int:
    return uow.execute(select(t.users.c.session_version).where(t.users.c.id == user_id)).scalar_one()


def end_sessions(uow: UnitOfWork, user_id: int) -> None:
    """Every web session of the user ends at once (logout, "log out everywhere", a new password)."""
    uow.execute(update(t.users).where(t.users.c.id == user_id)
                .values(session_version=t.users.c.session_version + 1))


def set_password(uow: UnitOfWork, email: str, password: str) -> int:
    """A new password; every web session of the user ends. Returns the user id."""
    if len(password) < 8:
        raise ValidationError("password must have at least %(min)s characters", field="password",
                              code="auth.password_too_short", min=8)
    uid = uow.execute(select(t.users.c.id).where(t.users.c.email == email.strip().lower())).scalar()
    if uid is None:
        raise NotFound("no user %(email)s", field="email", code="auth.no_user", email=email)
    uow.execute(update(t.users).where(t.users.c.id == uid).values(password_hash=_hasher.hash(password)))
    end_sessions(uow, uid)
    return uid


def create_token(uow: UnitOfWork, email: str, name: str = "", ttl_days: int | None = None) -> str:
    """A new token for the user (shown once). It expires after ttl_days (QOIMA_TOKEN_TTL_DAYS; 0: never)."""
    user = uow.execute(select(t.users).where(t.users.c.email == email.strip().lower())).first()
    if user is None:
        raise NotFound("no user %(email)s", field="email", code="auth.no_user", email=email)
    ttl = get_settings().token_ttl_days if ttl_days is None else ttl_days
    now = utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    uow.execute(insert(t.api_tokens).values(user_id=user.id, token_hash=hash_token(token), prefix=token[:12],
                                            name=name[:100], created_at=now,
                                            expires_at=now + timedelta(days=ttl) if ttl > 0 else None))
    return token


def token_expiry(uow: UnitOfWork, token: str) -> datetime | None:
    return uow.execute(select(t.api_tokens.c.expires_at).where(t.api_tokens.c.token_hash == hash_token(token))).scalar()


TOUCH_INTERVAL = timedelta(seconds=60)  # last_used_at is written at most this often per token


TOKEN_LOOKUP = (
    select(t.users.c.id, t.users.c.email, t.users.c.role, t.users.c.seller_id, t.api_tokens.c.id.label("token_id"),
           t.api_tokens.c.last_used_at)
    .join(t.api_tokens, t.api_tokens.c.user_id == t.users.c.id)
    .where(t.api_tokens.c.token_hash == bindparam("token_hash"), t.api_tokens.c.revoked_at.is_(None),
           t.users.c.is_active.is_(True),
           or_(t.api_tokens.c.expires_at.is_(None), t.api_tokens.c.expires_at > bindparam("now"))))
"""The one indexed look-up (api_tokens.token_hash) of a live token: the user and the token's use.
Built once with named parameters, so the API can compile it once per dialect (a compile per request
costs more than the query)."""


def token_lookup_params(token: str, now: datetime) -> dict:
    return {"token_hash": hash_token(token), "now": now}


def token_lookup(token: str, now: datetime) -> Select:
    return TOKEN_LOOKUP.params(**token_lookup_params(token, now))


def touch_due(row, now: datetime) -> bool:
    return row.last_used_at is None or row.last_used_at <= now - TOUCH_INTERVAL


def token_touch(token_id: int, now: datetime):
    """Write last_used_at, unless another request (of any process) did within the interval."""
    k = t.api_tokens
    return update(k).where(k.c.id == token_id, or_(k.c.last_used_at.is_(None),
                                                   k.c.last_used_at <= now - TOUCH_INTERVAL)).values(last_used_at=now)


def principal_for_token(uow: UnitOfWork, token: str) -> Principal | None:
    """The principal of a live token (not revoked, not expired, active user); writes last_used_at
    when due (the caller commits)."""
    now = utcnow()
    row = uow.execute(token_lookup(token, now)).first()
    if row is None:
        return None
    if touch_due(row, now):
        uow.execute(token_touch(row.token_id, now))
    return principal_of(row)


def _token_item(r) -> dict:
    return {"id": r.id, "name": r.name, "prefix": r.prefix, "user": r.email, "created_at": r.created_at,
            "last_used_at": r.last_used_at, "expires_at": r.expires_at, "revoked_at": r.revoked_at}


def _tokens_query() -> Select:
    k, u = t.api_tokens, t.users
    return (select(k.c.id, k.c.name, k.c.prefix, k.c.created_at, k.c.last_used_at, k.c.expires_at,
                   k.c.revoked_at, u.c.email).join(u, u.c.id == k.c.user_id).order_by(k.c.id))


def list_tokens(uow: UnitOfWork, principal: Principal, email: str | None = None) -> list[dict]:
    """Tokens (never their secret): an admin sees everyone's (or one user's), anyone else their own."""
    k, u = t.api_tokens, t.users
    q = _tokens_query()
    if principal.role != "admin":
        q = q.where(k.c.user_id == principal.user_id)
    elif email:
        if "\x00" in email:
            raise ValidationError("%(name)s must not contain NUL characters", field="email", code="input.nul",
                                  name="email")
        q = q.where(u.c.email == email.strip().lower())
    return [_token_item(r) for r in uow.execute(q)]


def revoke_token(uow: UnitOfWork, principal: Principal, token_id: int) -> dict:
    """Revoke a token at once (every process refuses it on its next request). Someone else's token is
    "not found" unless the principal is an admin."""
    k = t.api_tokens
    q = select(k.c.id, k.c.user_id, k.c.revoked_at).where(k.c.id == token_id)
    row = uow.execute(q).first()
    if row is None or (principal.role != "admin" and row.user_id != principal.user_id):
        raise NotFound("no token %(id)s", field="token_id", code="auth.no_token", id=token_id)
    if row.revoked_at is None:
        uow.execute(update(k).where(k.c.id == token_id, k.c.revoked_at.is_(None)).values(revoked_at=utcnow()))
    return _token_item(uow.execute(_tokens_query().where(k.c.id == token_id)).one())
