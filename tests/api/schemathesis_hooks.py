"""Schemathesis hooks for tests/api/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

Two built-in checks are narrowed, each for one reason that a JSON Schema cannot express:

- `positive_data_acceptance`: a schema-valid request may still break a *rule of the data* -- an
  unknown seller, SKU or location, a staff caller that must name the seller, a zero delta, a
  barcode's check digit, a date more than a year ahead, an order total past Numeric(14, 2). Those
  answer 422 from a domain rule (`DomainError`: problem+json without an `errors` list) or from one
  of our validators (every item of `errors` has type `value_error`). A 422 for a limit the schema
  states itself (too long, out of range, wrong type: any other Pydantic error type) stays a
  failure: that is the server enforcing a limit its schema does not say.
- `negative_data_rejection`: a multipart file part is bytes; Schemathesis "mutates" its type by
  sending other bytes (e.g. `35747`), which is still a file. Other negative cases of the import
  operations (query parameters, a missing file) are still checked.
"""

from __future__ import annotations

import schemathesis
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

PROBLEM = "application/problem+json"


def _header(response, name: str) -> str:
    values = response.headers.get(name.lower()) or []
    return values[0] if isinstance(values, list) and values else (values or "")


def _domain_rule(response) -> bool:
    if response.status_code != 422 or not _header(response, "content-type").startswith(PROBLEM):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict) or not body.get("field"):
        return False
    # a DomainError has no `errors`; a validator of ours (a check digit, a date range, the order total)
    # is a `value_error`; anything else (too long, not an integer, ...) is a limit the schema states
    return all(e.get("type") == "value_error" for e in body.get("errors", []))


@schemathesis.check
def positive_data_acceptance_but_rules_of_the_data(ctx, response, case):
    if _domain_rule(response):
        return None
    return positive_data_acceptance(ctx, response, case)


@schemathesis.check
def negative_data_rejection_but_file_bytes(ctx, response, case):
    media = (case.media_type or "").lower()
    if media.startswith("multipart/") and isinstance(case.body, dict) and "file" in case.body \
            and response.status_code == 202:
        return None
    return negative_data_rejection(ctx, response, case)
