"""Editing users (the administration): name, role, seller, language, active; a new password.

Deactivating a user or giving a new password ends every web session of the user
at once, and a deactivated user's API tokens stop working (auth checks
`is_active`). An admin cannot deactivate themselves or take away their own
admin role, so the console keeps someone who can administer it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from qoima.db import tables as t
from qoima.platform import auth
from qoima.platform.access import ROLES, Principal
from qoima.platform.bounds import control_character
from qoima.platform.errors import NotFound, ValidationError
from qoima.platform.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class UserEdit:
    full_name: str
    role: str
    seller_id: int | None
    language: str
    is_active: bool


def _user(uow: UnitOfWork, user_id: int):
    row = uow.execute(select(t.users).where(t.users.c.id == user_id)).first()
    if row is None:
        raise NotFound("no user #%(user_id)s", field="user", code="users.not_found", user_id=user_id)
    return row


def update_user(uow: UnitOfWork, principal: Principal, user_id: int, edit: UserEdit) -> str:
    """Save the edit; returns the user's e-mail."""
    principal.require("admin")
    row = _user(uow, user_id)
    if control_character(edit.full_name):
        raise ValidationError("full name has a control character (%(where)s)", field="full_name", code="text.control",
                              where=control_character(edit.full_name))
    if len(edit.full_name) > 200:
        raise ValidationError("full name has at most 200 characters", field="full_name", code="users.full_name",
                              max=200)
    if edit.role not in ROLES:
        raise ValidationError("role must be one of %(roles)s", field="role", code="users.role",
                              roles=", ".join(ROLES))
    if (edit.role == "seller") != (edit.seller_id is not None):
        raise ValidationError("a seller user needs a seller; staff users have none", field="seller",
                              code="users.seller")
    if len(edit.language) > 5 or not edit.language:
        raise ValidationError("unknown language", field="language", code="users.language")
    if row.id == principal.user_id and (edit.role != row.role or not edit.is_active):
        raise ValidationError("you cannot take away your own role or deactivate yourself", field="role",
                              code="users.self_lockout")
    uow.execute(update(t.users).where(t.users.c.id == user_id).values(
        full_name=edit.full_name, role=edit.role, seller_id=edit.seller_id, language=edit.language,
        is_active=edit.is_active))
    if (row.is_active and not edit.is_active) or row.role != edit.role or row.seller_id != edit.seller_id:
        auth.end_sessions(uow, user_id)  # a session must not keep rights the user no longer has
    return row.email


def reset_password(uow: UnitOfWork, principal: Principal, user_id: int, password: str) -> str:
    """A new password set by an admin (every session of the user ends); returns the user's e-mail."""
    principal.require("admin")
    row = _user(uow, user_id)
    if len(password) > 200:
        raise ValidationError("password has at most 200 characters", field="password", code="users.password_long",
                              max=200)
    auth.set_password(uow, row.email, password)
    return row.email
