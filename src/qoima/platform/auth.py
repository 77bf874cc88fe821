"""Users, password login (argon2) and API tokens (only a SHA-256 of the token is stored)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select

from qoima.db import tables as t
from qoima.platform.contacts import normalize_email
from qoima.platform.errors import Conflict, NotFound, ValidationError
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
        raise ValidationError("a user needs an e-mail address", field="email")
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", field="role")
    if (role == "seller") != (seller_id is not None):
        raise ValidationError("a seller user needs a seller; staff users have none", field="seller")
    if password is not None and len(password) < 8:
        raise ValidationError("password must have at least 8 characters", field="password")
    if uow.execute(select(t.users.c.id).where(t.users.c.email == email)).first():
        raise Conflict(f"user {email} already exists", field="email")
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


def user_by_id(uow: UnitOfWork, user_id: int) -> Principal | None:
    row = uow.execute(select(t.users).where(t.users.c.id == user_id, t.users.c.is_active.is_(True))).first()
    return principal_of(row) if row else None


def create_token(uow: UnitOfWork, email: str, name: str = "") -> str:
    user = uow.execute(select(t.users).where(t.users.c.email == email.strip().lower())).first()
    if user is None:
        raise NotFound(f"no user {email}", field="email")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    uow.execute(insert(t.api_tokens).values(user_id=user.id, token_hash=hash_token(token), prefix=token[:12],
                                            name=name, created_at=utcnow()))
    return token


def principal_for_token(uow: UnitOfWork, token: str) -> Principal | None:
    row = uow.execute(select(t.users).join(t.api_tokens, t.api_tokens.c.user_id == t.users.c.id).where(
        t.api_tokens.c.token_hash == hash_token(token), t.api_tokens.c.revoked_at.is_(None),
        t.users.c.is_active.is_(True))).first()
    return principal_of(row) if row else None
