"""A request for an order that exists already: a replay, or a different order under a used name.

Rules (IETF draft "The Idempotency-Key HTTP Header Field", and the channel order id):
- the same Idempotency-Key with a different request body is refused with 422: the key names
  one request, and the client must use a new key for a new one. "The same body" is compared by
  `fingerprint`: the order as the schema reads it (defaults filled in, the seller left out: the
  key is the seller's already), canonical JSON, SHA-256. Orders stored before fingerprints were
  kept have none and are replays;
- the same channel and external id with different lines is refused with 409, listing what
  differs per line (sku, quantity, unit price); a replay whose lines agree returns the stored
  order (the buyer's contact or the address may have been corrected meanwhile: that is not a
  different order);
- anything else is a replay: the stored order is returned and the answer says so.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Sequence

from qoima.platform.errors import Conflict, DomainError

if TYPE_CHECKING:
    from qoima.orders.schemas import OrderIn


class KeyReused(DomainError):
    status = 422
    title = "Idempotency-Key reused for a different request"


def fingerprint(order: "OrderIn") -> str:
    body = order.model_dump(mode="json", exclude={"seller"})
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def line_differences(stored: Sequence[tuple[str, int, Decimal]], wanted: Sequence[tuple[str, int, Decimal]]
                     ) -> list[dict]:
    """(sku, quantity, unit price) of the stored order's lines and of the request's, in line order:
    one entry per line that differs ({"line": n (from 1), "field", "stored", "requested"})."""
    out = []
    for n in range(max(len(stored), len(wanted))):
        a = stored[n] if n < len(stored) else None
        b = wanted[n] if n < len(wanted) else None
        if a is None or b is None:
            out.append({"line": n + 1, "field": "line", "stored": _line(a), "requested": _line(b)})
            continue
        for field, x, y in (("sku", a[0], b[0]), ("quantity", a[1], b[1]),
                            ("unit_price", Decimal(a[2]), Decimal(b[2]))):
            if x != y:
                out.append({"line": n + 1, "field": field, "stored": str(x), "requested": str(y)})
    return out


def _line(ln) -> str | None:
    return None if ln is None else f"{ln[0]} x {ln[1]} @ {Decimal(ln[2])}"


def check(order_id: int, *, key: str | None, stored_key: str | None, stored_fingerprint: str | None,
          request_fingerprint: str, differences: list[dict]) -> None:
    """Raise when the request is not a replay of the stored order (see the module's rules)."""
    if key is not None and stored_key == key:
        if stored_fingerprint is not None and stored_fingerprint != request_fingerprint:
            raise KeyReused("Idempotency-Key '%(key)s' was used for a different request (order %(order_id)s): "
                            "use a new key for a new request", field="Idempotency-Key",
                            code="orders.idempotency_key_reused", key=key, order_id=order_id)
        return
    if differences:
        what = "; ".join(f"line {d['line']} {d['field']}: {d['stored']} stored, {d['requested']} requested"
                         for d in differences[:5])
        raise Conflict("order %(order_id)s exists with this channel and external id and other lines: %(what)s",
                       field="lines", code="orders.replay_differs", order_id=order_id, what=what,
                       differences=differences)
