"""The bounds of every API input, in one place: annotated types that the input schemas
(`<capability>/schemas.py`), the route parameters (`entrypoints/api/routes/*.py`) and the web
forms share, so that the schema says what the server and the database enforce.

- `Id64`, `Offset`: ids and offsets within the 64-bit signed range of the `BigInteger` columns
  (SQLite: 64-bit `INTEGER`); `Id64` starts at 1.
- `Count`, `Quantity`, `Delta`, `Days`: the 32-bit `Integer` columns (2^31-1 at most); *strict*
  in the API (a JSON `true` or `"5"` is not a quantity; a whole `2.0` is, as JSON Schema says);
  the CSV/XLSX imports validate the same models with `strict=False`, since their cells are text.
  Sums are checked where they are made: on hand at a location past 2^31-1 (repeated receipts,
  moves, adjustments) is a 422 from stock/services (inventory.add_on_hand, inbound.receive).
- `Money`: `Numeric(14, 2)`, 0 .. 999,999,999,999.99, two decimal places (`MONEY_MAX`); an order
  whose computed total passes it is refused too (orders/schemas.py).
- `Text(n)`: a text column of length n: at most n characters and no control characters (C0,
  DEL, C1) nor lone surrogates; `Text(n, multiline=True)` also allows tab, CR and LF.
  PostgreSQL refuses NUL in text, so without this a NUL byte was a 500.
- `SafeQuery`: a search / filter parameter (`Text(200)`).
- `PlausibleDateTime`: 2000-01-01T00:00Z .. now + 366 days (`DATE_MIN`, `FUTURE_DAYS`); a
  time-zone offset that would move the moment past year 9999 is refused, not a 500.

Written by hand (a few annotated types over Pydantic's own constraints) because the rules are
ours: the limits are those of our columns. Each rule is also written into the JSON Schema
(`pattern`, `maximum`, ...) so that OpenAPI clients and Schemathesis see it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from qoima.platform.errors import ValidationError

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MONEY_MAX = Decimal("999999999999.99")  # Numeric(14, 2)
DATE_MIN = datetime(2000, 1, 1, tzinfo=timezone.utc)
FUTURE_DAYS = 366
QUERY_MAX = 200



def _whole(value):
    """JSON Schema counts 2.0 as an integer: take a whole float as the int it is (1.5 stays refused)."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= INT64_MAX:
        return int(value)
    return value


def strict_int(**bounds):
    """int within bounds, strict (no booleans, no text) but for whole floats (2.0)."""
    return Annotated[int, Field(strict=True, **bounds), BeforeValidator(_whole)]


Id64 = Annotated[int, Field(ge=1, le=INT64_MAX)]
Offset = Annotated[int, Field(ge=0, le=INT64_MAX)]
Count = strict_int(ge=0, le=INT32_MAX)
Quantity = strict_int(gt=0, le=INT32_MAX)
Delta = strict_int(ge=-INT32_MAX, le=INT32_MAX)
Days = strict_int(gt=0, le=36_500)  # replenishment_days: a century at most


# ---------------------------------------------------------------- text

_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MULTI_LINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


_C0 = ("NUL SOH STX ETX EOT ENQ ACK BEL BS TAB LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC "
       "FS GS RS US").split()


def control_character(value: str, multiline: bool = False) -> str | None:
    """The first control character of value, as 'U+0000 at position 3', or None."""
    found = (_MULTI_LINE if multiline else _SINGLE_LINE).search(value)
    if found is None:
        return None
    ch = found.group()
    code = ord(ch)
    name = _C0[code] if code < 32 else "DEL" if code == 127 else unicodedata.name(ch, "control character").lower()
    return f"U+{code:04X} ({name}) at position {found.start() + 1}"


class ControlCharacter(ValueError):
    """A control character in a text field: the English message for Pydantic and, as `domain_error`, the
    template with its code and parameters (shown in the reader's language: errors.schema_rule)."""

    def __init__(self, rule: ValidationError):
        super().__init__(rule.message)
        self.domain_error = rule


def _no_controls(multiline: bool):
    def check(value: str) -> str:
        bad = control_character(value, multiline)
        if bad:
            rule = ValidationError("must not contain control characters (tab and line breaks are allowed): found "
                                   "%(where)s" if multiline else "must not contain control characters: found %(where)s",
                                   code="text.control", where=bad)
            raise ControlCharacter(rule)
        return value
    return check


_TEXT_TYPES: dict[tuple, Any] = {}


def Text(max_length: int, *, min_length: int = 0, multiline: bool = False):  # noqa: N802 - a type factory
    """str of at most max_length characters (a String(max_length) column), without control characters."""
    key = (max_length, min_length, multiline)
    if key not in _TEXT_TYPES:
        pattern = MULTI_LINE_PATTERN if multiline else SINGLE_LINE_PATTERN
        _TEXT_TYPES[key] = Annotated[str, Field(min_length=min_length, max_length=max_length,
                                                json_schema_extra={"pattern": pattern}),
                                     AfterValidator(_no_controls(multiline))]
    return _TEXT_TYPES[key]


SafeQuery = Text(QUERY_MAX)


# ---------------------------------------------------------------- money

def _money_float(value):
    """A JSON number arrives as a float: 0.57 may be 0.5700000000000001; read it as the cents it means."""
    if isinstance(value, bool):
        raise ValueError("must be a number or a decimal string, not a boolean")
    if isinstance(value, float) and value == value and abs(value) < 1e15:
        cents = round(value * 100)
        if abs(value * 100 - cents) < 1e-6:
            return Decimal(cents) / 100
    return value


MONEY_SCHEMA = {"anyOf": [{"type": "number", "minimum": 0, "maximum": float(MONEY_MAX), "multipleOf": 0.01},
                          {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$"}],
                "description": "0 .. 999999999999.99, at most two decimal places"}
Money = Annotated[Decimal, BeforeValidator(_money_float), Field(ge=0, le=MONEY_MAX, max_digits=14, decimal_places=2),
                  WithJsonSchema(MONEY_SCHEMA)]


# ---------------------------------------------------------------- dates

def date_max() -> datetime:
    return datetime.now(timezone.utc) + timedelta(days=FUTURE_DAYS)


def _plausible(value: datetime) -> datetime:
    try:
        moment = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    except (OverflowError, ValueError):
        raise ValueError("is out of range: give a date between 2000-01-01 and one year from now") from None
    if not DATE_MIN <= moment <= date_max():
        raise ValueError(f"{value.isoformat()} is out of range: give a date between 2000-01-01 and one year "
                         "from now")
    return value


PlausibleDateTime = Annotated[datetime, AfterValidator(_plausible),
                              Field(description="ISO 8601; between 2000-01-01T00:00:00Z and one year from now "
                                                "(a time without offset is UTC)")]


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
"""A time in a response: the database keeps naive UTC, the answer says so (RFC 3339 needs an offset)."""


def rfc3339(moment: datetime) -> str:
    """A time as an API answer gives it: RFC 3339 in UTC with its offset ('Z'); a naive time is UTC (the
    database keeps naive UTC). The same text pydantic writes for a UtcDateTime field."""
    return _as_utc(moment).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
