"""How a search box query is read: one pure rule for every search (the header box, the
orders list, products and stock).

`classify(raw)` says what a query could be, all at once (a query is often several things:
`87011234567` is a phone and not an order number the user means, but we cannot tell, so
it is tried as both):
- **order number**: digits, optionally after `#` (`25004`, `#25004`, `# 25004`);
- **phone**: anything the customer contacts normalization turns into an E.164 number
  (`8 701 123 45 67`, `87011234567`, `+7 (701) 123-45-67`): the query is normalized
  exactly as stored phones are (platform/contacts.normalize_phone);
- **a part of a phone**: 7 digits or more that are not a whole phone (matched inside stored phones);
- **e-mail**: text with an `@`, lower-cased as stored e-mails are;
- **barcode**: 8, 12, 13 or 14 digits (spaces and dashes dropped, as barcodes are stored);
- **text**: the query trimmed, inner spaces collapsed and lower-cased, for the
  case-insensitive matches (external id, name part, city, SKU part).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qoima.platform.contacts import normalize_phone
from qoima.platform.errors import ValidationError

MAX_QUERY = 200  # platform/bounds.py QUERY_MAX: a longer query is cut
ORDER_ID_MAX = 2**63 - 1
BARCODE_LENGTHS = frozenset({8, 12, 13, 14})
MIN_PHONE_PART = 7  # a part of a phone is matched from this many digits (an order number is shorter)
MIN_PART = 2  # a part of a name / SKU is matched from this many characters (one letter would match everything)
_ORDER = re.compile(r"#?\s*(\d{1,19})")
_SEPARATORS = re.compile(r"[\s\-]+")
_PHONEISH = re.compile(r"\+?[\d\s\-().]{6,30}")
_PHONEISH_PART = re.compile(r"\+?[\d\s\-()]{5,30}")


@dataclass(frozen=True)
class SearchQuery:
    text: str  # trimmed, spaces collapsed, lower-cased; "" for an empty query
    order_id: int | None = None
    phone: str | None = None  # E.164
    email: str | None = None  # lower-cased
    barcode: str | None = None  # digits only

    @property
    def empty(self) -> bool:
        return self.text == ""

    @property
    def part(self) -> str | None:
        """The text for "contains" matches (names, SKUs), None when too short to mean anything."""
        return self.text if len(self.text) >= MIN_PART else None

    @property
    def phone_part(self) -> str | None:
        """The digits of a query that looks like a part of a phone (7 digits or more, not a whole number):
        the tail a buyer reads out ("the number ending 45 67 ...")."""
        if self.phone is not None or not _PHONEISH_PART.fullmatch(self.text):
            return None
        digits = "".join(c for c in self.text if c.isdigit())
        return digits if len(digits) >= MIN_PHONE_PART else None

    @property
    def kinds(self) -> tuple[str, ...]:
        """What the query may be, for display and tests: number, phone, email, barcode, text."""
        out = [k for k, v in (("number", self.order_id), ("phone", self.phone), ("email", self.email),
                              ("barcode", self.barcode)) if v is not None]
        return (*out, "text") if self.text else tuple(out)


def classify(raw: str | None) -> SearchQuery:
    text = " ".join((raw or "")[:MAX_QUERY].split()).lower()
    if not text:
        return SearchQuery(text="")
    order_id = None
    m = _ORDER.fullmatch(text)
    if m and 0 < int(m.group(1)) <= ORDER_ID_MAX:
        order_id = int(m.group(1))
    email = text if "@" in text and " " not in text else None
    digits = _SEPARATORS.sub("", text)
    barcode = digits if digits.isdigit() and len(digits) in BARCODE_LENGTHS else None
    return SearchQuery(text=text, order_id=order_id, phone=phone_of(text), email=email, barcode=barcode)


def phone_of(text: str) -> str | None:
    """The E.164 form of a query that is a phone number, normalized as stored phones are; None otherwise."""
    if not _PHONEISH.fullmatch(text) or sum(c.isdigit() for c in text) < 10:
        return None  # too short to be a full number (an order number, a part of something)
    try:
        return normalize_phone(text, field="q")
    except ValidationError:
        return None
