"""Which seller an input acts for: one rule, one message per case, for every path
(the API and web forms, the careful / express / bulk order writers, the imports).

A seller user gets the same answer (422 "unknown seller 'X'") for a code that does not exist and
for another seller's code, so seller codes cannot be enumerated by comparing the two."""

from __future__ import annotations

from qoima.platform.errors import DomainError, ValidationError

SELLER_REQUIRED = "seller is required"


def unknown_seller(code: str) -> str:
    return f"unknown seller '{code}'"


def seller_problem(code: str | None, found_id: int | None, allowed: bool,
                   field: str = "seller") -> DomainError | None:
    """The error of a seller reference, or None when it is fine.

    code: the seller code given (None or "" when left out); found_id: the id of the seller with
    that code (None when there is none; for a left-out code, the principal's own seller id, None
    for staff); allowed: whether the principal may act for that seller."""
    if not code:
        return ValidationError(SELLER_REQUIRED, field=field, code="catalog.seller_required") if found_id is None else None
    if found_id is None or not allowed:  # one answer for both: no seller enumeration
        return ValidationError("unknown seller '%(seller)s'", field=field, code="catalog.unknown_seller", seller=code)
    return None
