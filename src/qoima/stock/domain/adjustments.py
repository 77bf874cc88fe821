"""Why stock is adjusted: a fixed list of reasons, each with the direction it may
take stock in, and the cycle count (the counted quantity against what the
system holds). Pure rules; the web console translates the labels (msgids below)
and the services book the result in the ledger.

A booked adjustment's ledger reason is "<code>" or "<code>: <note>" (e.g.
"damaged: box crushed"), so history pages can show the reason translated."""

from __future__ import annotations

from dataclasses import dataclass

ADD, REMOVE = "add", "remove"


@dataclass(frozen=True)
class Reason:
    code: str
    label: str  # English msgid, translated by the web console
    directions: tuple[str, ...]  # the directions this reason may take stock in
    scrap: bool = False  # booked as ledger kind 'scrap' rather than 'adjustment'


REASONS: dict[str, Reason] = {r.code: r for r in (
    Reason("count_correction", "count correction", (ADD, REMOVE)),
    Reason("damaged", "damaged", (REMOVE,)),
    Reason("lost", "lost", (REMOVE,)),
    Reason("found", "found", (ADD,)),
    Reason("expired", "expired", (REMOVE,)),
    Reason("scrap", "scrap", (REMOVE,), scrap=True),
)}
COUNT_REASON = "count_correction"  # what a cycle count books its difference as


class AdjustmentRefused(ValueError):
    """A rule says no; `field` names the input, `template` and `params` the message (English msgid)."""

    def __init__(self, field: str, code: str, template: str, **params):
        super().__init__(template % params)
        self.field, self.code, self.template, self.params = field, code, template, params


def signed_delta(reason: str, direction: str, quantity: int) -> int:
    """The change of on-hand an adjustment books: +quantity or -quantity; refused when the reason
    is not in the list, the direction does not suit it, or the quantity is not positive."""
    r = REASONS.get(reason)
    if r is None:
        raise AdjustmentRefused("reason", "stock.unknown_reason", "choose a reason from the list")
    if direction not in (ADD, REMOVE):
        raise AdjustmentRefused("direction", "stock.bad_direction", "choose whether stock is added or removed")
    if direction not in r.directions:
        template = ("“%(reason)s” only adds stock" if r.directions == (ADD,) else "“%(reason)s” only removes stock")
        raise AdjustmentRefused("direction", "stock.reason_direction", template, reason=r.label)
    if quantity <= 0:
        raise AdjustmentRefused("quantity", "stock.quantity_positive", "quantity must be at least 1")
    return quantity if direction == ADD else -quantity


def ledger_reason(reason: str, note: str = "") -> str:
    note = " ".join(note.split())
    return f"{reason}: {note}" if note else reason


def split_reason(text: str) -> tuple[Reason | None, str]:
    """The listed reason a ledger reason starts with (or None) and the rest (the note)."""
    code, sep, note = (text or "").partition(": ")
    r = REASONS.get(code)
    if r is None:
        return None, text or ""
    return r, note if sep else ""


@dataclass(frozen=True)
class Count:
    """A cycle count of one SKU in one cell."""
    counted: int
    on_hand: int
    reserved: int

    @property
    def delta(self) -> int:
        return self.counted - self.on_hand


def check_count(count: Count) -> int:
    """The difference to book; refused when fewer are counted than are reserved for orders there."""
    if count.counted < 0:
        raise AdjustmentRefused("counted", "stock.count_negative", "the counted quantity cannot be negative")
    if count.counted < count.reserved:
        raise AdjustmentRefused("counted", "stock.count_below_reserved",
                                "counted %(counted)s but %(reserved)s unit(s) are reserved for orders here; "
                                "release them first", counted=count.counted, reserved=count.reserved)
    return count.delta
