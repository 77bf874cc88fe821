"""Helpers for the input schemas of every capability: a domain rule used as a Pydantic
validator, so a bad field gets the same message in the API, the import and the CLI."""

from __future__ import annotations

from pydantic import BaseModel, Field

from qoima.platform.access import ROLES
from qoima.platform.bounds import Text
from qoima.platform.errors import ValidationError as RuleError


class RuleValueError(ValueError):
    """A domain rule's error inside Pydantic: its message, and the error itself (code, params) for the
    import's row errors (imports.pyd_errors)."""

    def __init__(self, error: RuleError):
        super().__init__(error.message)
        self.domain_error = error


def _rule(fn, value, field):
    try:
        return fn(value, field=field)
    except RuleError as exc:
        raise RuleValueError(exc) from None


class UserIn(BaseModel):
    """A new user (API and the admin page); auth.create_user checks the e-mail, role and seller."""
    email: Text(254, min_length=3)
    password: Text(200, min_length=8)
    role: Text(20) = Field(json_schema_extra={"enum": list(ROLES)})
    seller: Text(40) | None = None
    full_name: Text(200) = ""
