"""Inbound deliveries (ASN): the pure rules. A seller announces what is coming
(SKU, expected quantity); the warehouse receives against it in one or more
receipts; each line is compared (expected vs received: short, over, unexpected)
and the delivery's status follows from the totals.

The limits of every input of a delivery or a receipt live here too, with their
messages (an English template with %(name)s placeholders, a stable code and the
values), so the API schema, the CSV import and the web form refuse the same
things with the same words (the web translates the template)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

LINE_QTY_MAX = 1_000_000  # one line of one delivery or receipt; far below the 32-bit columns
SUPPLIER_MAX = 200  # receipts.supplier / inbound_deliveries.supplier
REFERENCE_MAX = 100
SKU_MAX = 64
LINES_MAX = 1000

ANNOUNCED, PARTIAL, RECEIVED, CLOSED_SHORT, CANCELLED = (
    "announced", "partially_received", "received", "closed_with_discrepancies", "cancelled")
STATUSES = (ANNOUNCED, PARTIAL, RECEIVED, CLOSED_SHORT, CANCELLED)
OPEN = frozenset({ANNOUNCED, PARTIAL})  # may still be received against
FINAL = frozenset({RECEIVED, CLOSED_SHORT, CANCELLED})


@dataclass(frozen=True)
class Problem:
    """One refused input: where (field, 1-based line or None), a stable code, the English template and its values."""
    field: str
    code: str
    template: str
    params: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.template % self.params if self.params else self.template


QTY_MESSAGES = {
    "expected": "Line %(line)s: the expected quantity must be a whole number from %(min)s to %(max)s.",
    "received": "Line %(line)s: the received quantity must be a whole number from %(min)s to %(max)s.",
}
SKU_MESSAGE = "Line %(line)s: the SKU must be 1 to %(max)s characters."
SUPPLIER_MESSAGE = "The supplier name must be at most %(max)s characters (it has %(length)s)."
REFERENCE_MESSAGE = "The reference must be at most %(max)s characters (it has %(length)s)."
NOTHING_RECEIVED = "Enter a received quantity above 0 on at least one line."
NOTHING_EXPECTED = "Announce at least one line with an expected quantity above 0."
TOO_MANY_LINES = "At most %(max)s lines."
DUPLICATE_SKU = "Line %(line)s: SKU %(sku)s is already on line %(first)s."


def parse_quantity(raw) -> int | None:
    """A typed quantity ('' is 0); None when it is not a whole number."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    text = str(raw if raw is not None else "").strip().replace("\u00a0", "").replace(" ", "")
    if text == "":
        return 0
    if text.lstrip("+-").isdigit() and len(text) <= 30:
        return int(text)
    return None


def quantity_problem(value, kind: str, line: int, minimum: int = 0) -> Problem | None:
    """kind: expected | received; line: 1-based, as the person sees it; value: int or raw text."""
    n = parse_quantity(value)
    if n is not None and minimum <= n <= LINE_QTY_MAX:
        return None
    return Problem(f"lines[{line - 1}].{kind}", f"stock.{kind}_out_of_range", QTY_MESSAGES[kind],
                   {"line": line, "min": minimum, "max": LINE_QTY_MAX})


def text_problems(supplier: str, reference: str = "") -> list[Problem]:
    out = []
    if len(supplier or "") > SUPPLIER_MAX:
        out.append(Problem("supplier", "stock.supplier_too_long", SUPPLIER_MESSAGE,
                           {"max": SUPPLIER_MAX, "length": len(supplier)}))
    if len(reference or "") > REFERENCE_MAX:
        out.append(Problem("reference", "stock.reference_too_long", REFERENCE_MESSAGE,
                           {"max": REFERENCE_MAX, "length": len(reference)}))
    return out


DAY_MESSAGE = "The expected day must be between %(min)s and %(max)s."
DAY_MIN = date(2000, 1, 1)
FUTURE_DAYS = 366


def day_problem(day: date, today: date) -> Problem | None:
    """The expected day of a delivery: from 2000-01-01 to a year from today."""
    latest = today + timedelta(days=FUTURE_DAYS)
    if DAY_MIN <= day <= latest:
        return None
    return Problem("expected_at", "stock.expected_day_out_of_range", DAY_MESSAGE,
                   {"min": DAY_MIN.isoformat(), "max": latest.isoformat()})


def normalize_sku(sku: str) -> str:
    """The key SKUs are compared by: trimmed, case-folded (aru-003 is ARU-003)."""
    return (sku or "").strip().casefold()


def line_problems(lines: list[tuple[str, object]], kind: str) -> list[Problem]:
    """Every problem of the lines (sku, quantity) of a delivery (kind expected) or receipt (kind received):
    bad quantities, SKUs too long, a SKU twice, too many lines, nothing above 0."""
    out: list[Problem] = []
    seen: dict[str, int] = {}
    if len(lines) > LINES_MAX:
        out.append(Problem("lines", "stock.too_many_lines", TOO_MANY_LINES, {"max": LINES_MAX}))
    positive = False
    for i, (sku, qty) in enumerate(lines, start=1):
        if not (sku or "").strip() or len(sku.strip()) > SKU_MAX:
            out.append(Problem(f"lines[{i - 1}].sku", "stock.sku_length", SKU_MESSAGE, {"line": i, "max": SKU_MAX}))
        else:
            key = normalize_sku(sku)
            if key in seen:
                out.append(Problem(f"lines[{i - 1}].sku", "stock.duplicate_sku", DUPLICATE_SKU,
                                   {"line": i, "sku": sku.strip(), "first": seen[key]}))
            seen.setdefault(key, i)
        problem = quantity_problem(qty, kind, i, minimum=1 if kind == "expected" else 0)
        if problem:
            out.append(problem)
        elif (parse_quantity(qty) or 0) > 0:
            positive = True
    if lines and not positive and not any(p.code.endswith("out_of_range") for p in out):
        message, code = (NOTHING_RECEIVED, "stock.nothing_received") if kind == "received" else \
            (NOTHING_EXPECTED, "stock.nothing_expected")
        out.append(Problem("lines", code, message))
    return out


# ---------------------------------------------------------------- discrepancies and status

@dataclass(frozen=True)
class LineDiff:
    sku: str
    expected: int
    received: int

    @property
    def difference(self) -> int:
        return self.received - self.expected

    @property
    def state(self) -> str:
        """ok | short | over | unexpected (received without being announced) | waiting (nothing yet)."""
        if self.expected == 0:
            return "unexpected" if self.received else "ok"
        if self.received == self.expected:
            return "ok"
        if self.received == 0:
            return "waiting"
        return "short" if self.received < self.expected else "over"

    def as_dict(self) -> dict:
        return {"sku": self.sku, "expected": self.expected, "received": self.received,
                "difference": self.difference, "state": self.state}


def compare(expected: dict[str, int], received: dict[str, int]) -> list[LineDiff]:
    """Every SKU of either side, expected lines first (in their order), then the unexpected ones."""
    skus = list(expected) + [s for s in received if s not in expected]
    return [LineDiff(s, expected.get(s, 0), received.get(s, 0)) for s in skus]


def discrepancies(expected: dict[str, int], received: dict[str, int]) -> list[LineDiff]:
    return [d for d in compare(expected, received) if d.difference]


def merge(*counts: dict[str, int]) -> dict[str, int]:
    """The sum of several receipts' quantities per SKU."""
    out: dict[str, int] = {}
    for c in counts:
        for sku, n in c.items():
            out[sku] = out.get(sku, 0) + n
    return out


def remaining(expected: dict[str, int], received: dict[str, int]) -> dict[str, int]:
    """What is still expected per SKU (never below 0)."""
    return {s: max(0, e - received.get(s, 0)) for s, e in expected.items()}


def status_after_receipt(expected: dict[str, int], received: dict[str, int]) -> str:
    """After a receipt: everything arrived exactly as announced is `received` (done); else the
    delivery stays open (`partially_received`) for another receipt or a close."""
    if not discrepancies(expected, received):
        return RECEIVED
    return PARTIAL if any(received.values()) else ANNOUNCED


def status_on_close(expected: dict[str, int], received: dict[str, int]) -> str:
    return RECEIVED if not discrepancies(expected, received) else CLOSED_SHORT


class TransitionRefused(ValueError):
    def __init__(self, status: str, action: str):
        self.template, self.params = "a delivery that is %(status)s cannot be %(action)s", {"status": status, "action": action}
        super().__init__(self.template % self.params)
        self.status, self.action = status, action


def check_action(status: str, action: str) -> None:
    """receive / close: an open delivery; cancel: only before anything was received."""
    allowed = {"receive": OPEN, "close": OPEN, "cancel": frozenset({ANNOUNCED})}[action]
    if status not in allowed:
        raise TransitionRefused(status, {"receive": "received", "close": "closed", "cancel": "cancelled"}[action])
