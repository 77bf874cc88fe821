"""What of an order a role may see: one redaction for the API and the web pages.

The warehouse floor (platform/roles.py: SEE_CONTACTS, SEE_MONEY) sees an order's
lines, reservations, status, timeline, delivery type and city, but not who the
customer is (name, phone, e-mail, address, coordinates) nor any money (total,
unit prices, line amounts). The hidden fields stay in the answer as null and
`redacted` names what was hidden, so a client can tell "hidden" from "empty".

Applied by the order queries (orders/services/queries.py) to the order and to each
item of the list, so every reader (API routes, web pages) gets the same view.
"""

from __future__ import annotations

from qoima.platform import roles

CONTACTS = "contacts"
MONEY = "money"


def hidden_from(role: str | None) -> list[str]:
    """What of an order this role may not see: [], ["contacts"], ["money"] or both."""
    out = []
    if not roles.may(role, roles.SEE_CONTACTS):
        out.append(CONTACTS)
    if not roles.may(role, roles.SEE_MONEY):
        out.append(MONEY)
    return out


def redact_order(order: dict, role: str | None) -> dict:
    """The order (a full order or an item of the list) as this role may see it; the input is not changed."""
    hidden = hidden_from(role)
    if not hidden:
        return order
    out = dict(order)
    if CONTACTS in hidden:
        if "customer" in out:
            out["customer"] = None
        if "customer_id" in out:
            out["customer_id"] = None
        if isinstance(out.get("delivery"), dict):
            out["delivery"] = {**out["delivery"], "address": None, "lat": None, "lon": None}
        for key in ("address", "lat", "lon"):
            if key in out:
                out[key] = None
    if MONEY in hidden:
        if "total" in out:
            out["total"] = None
        if isinstance(out.get("lines"), list):
            out["lines"] = [{**ln, **{k: None for k in ("unit_price", "amount") if k in ln}} for ln in out["lines"]]
    out["redacted"] = hidden
    return out
