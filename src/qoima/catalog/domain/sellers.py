"""Which seller an input acts for: one rule, one message per case, for every path
(the API and web forms, the careful / express / bulk order writers, the imports)."""

from __future__ import annotations

from qoima.platform.errors import DomainError, Forbidden, ValidationError

SELLER_REQUIRED = "seller is required"


def unknown_seller(code: str) -> str:
    return f"unknown seller '{code}'"


def not_your_seller(code: str) -> str:
    return f"you may act only for your own seller, not '{code}'"


def seller_problem(code: str | None, found_id: int | None, allowed: bool,
                   field: str = "seller") -> DomainError | None:
    """The error of a seller reference, or None when it is fine.

    code: the seller code given (None or "" when left out); found_id: the id of the seller with
    that code (None when there is none; for a left-out code, the principal's own seller id, None
    for staff); allowed: whether the principal may act for that seller."""
    if not code:
        return ValidationError(SELLER_REQUIRED, field=field) if found_id is None else None
    if found_id is None:
        return ValidationError(unknown_seller(code), field=field)
    if not allowed:
        return Forbidden(not_your_seller(code), field=field)
    return None
