"""Helpers for the input schemas of every capability: a domain rule used as a Pydantic
validator, so a bad field gets the same message in the API, the import and the CLI."""

from __future__ import annotations

from qoima.platform.errors import ValidationError as RuleError


def _rule(fn, value, field):
    try:
        return fn(value, field=field)
    except RuleError as exc:
        raise ValueError(exc.message) from None
