"""The texts Qoima writes itself into an order: its sourcing reason and its timeline entries.

Each is made from one of the English templates below (a code, a template with %(name)s params), and
that English text is what every writer stores (orders.sourcing_reason, order_events.reason: the careful,
express and bulk writers store the booking's rows as they are). Because the templates are a closed set
and a text is made only by `text()`, the stored English is a lossless encoding of (code, params):
`parse()` gives them back, so the order page and the API can show the text in another language
(`localize`) and name its code, for rows written before this module too. A text that matches no
template (a reason a user typed, an older wording) is shown as it was stored.

A sourcing reason can be several parts joined by "; " (one parcel; the options; the distance; the depth).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache

TEMPLATES: dict[str, str] = {
    "sourcing.none_in_stock": "no warehouse has any of the ordered items: backordered",
    "sourcing.partial": ("no warehouse set has all items; reserved %(reserved)s of %(total)s units from %(codes)s "
                         "(nearest first), %(short)s backordered"),
    "sourcing.split": "%(parcels)s parcels from %(codes)s (nearest first)",
    "sourcing.one_parcel": "1 parcel from %(codes)s",
    "sourcing.parcels": "%(parcels)s parcels from %(codes)s",
    "sourcing.options": "%(options)s option(s) with %(parcels)s parcel(s)",
    "sourcing.nearest": "nearest to customer (%(km)s km)",
    "sourcing.depth": "stock depth after order %(depth)s",
    "sourcing.ships_from": "ships from %(codes)s",  # after a backorder fill (orders/services/backorders.py)
    "sourcing.arrived_at": "backorder partly filled: stock arrived at %(codes)s",
    "sourcing.still_backordered": "%(short)s unit(s) still backordered",
    "timeline.received": "received via %(channel)s",
    "timeline.backorder_filled": "backorder filled: stock arrived",
    "timeline.imported_history": "imported history",
    "timeline.cancelled": "cancelled",  # the API's cancel without a reason (api/routes/orders.py)  # analytics/services/history.py (demo history)
    "timeline.resourced": "re-sourced: %(plan)s",
    "timeline.resourced_note": "re-sourced: %(plan)s (%(note)s)",
    # an order on the floor: only its missing units re-sourced (orders/services/topup.py)
    "timeline.topped_up": "missing units re-sourced: %(plan)s",
    "timeline.topped_up_note": "missing units re-sourced: %(plan)s (%(note)s)",
    # the shift lead resolved a floor exception (floor/services/exceptions.py)
    "timeline.exception_resourced": "floor exception %(task)s resolved: missing units re-sourced",
    "timeline.exception_resourced_note": "floor exception %(task)s resolved: missing units re-sourced (%(note)s)",
    "timeline.exception_cancelled": "floor exception %(task)s resolved: order cancelled (%(note)s)",
    "timeline.exception_closed": "floor exception %(task)s closed: %(note)s",
    # the warehouse floor (floor/services: waves, picking, packing, handover); the longer of two
    # templates that share a beginning comes first (parse takes the first that matches)
    "floor.wave_released_auto": "wave %(wave)s released automatically",
    "floor.wave_released": "wave %(wave)s released",
    "floor.picked": "picked %(qty)s x %(sku)s from %(location)s into tote %(tote)s",
    "floor.pick_undone": "pick undone: %(qty)s x %(sku)s back to %(location)s",
    "floor.pick_done": "pick task %(task)s done",
    "floor.short": "short pick: %(missing)s x %(sku)s missing at %(location)s (order %(order)s)",
    "floor.short_resourced": "%(reserved)s re-sourced to %(codes)s",
    "floor.short_nowhere": "%(left)s could not be re-sourced in any warehouse",
    "floor.packed_in": "packed in %(warehouse)s in %(parcels)s parcel(s): %(trackings)s",
    "floor.packed": "packed in %(parcels)s parcel(s): %(trackings)s",
    "floor.handed_from": "handed to %(carrier)s on manifest %(manifest)s (from %(warehouse)s)",
    "floor.handed": "handed to %(carrier)s on manifest %(manifest)s",
    # the floor's stock ledger rows (stock_movements.reason; entrypoints/web/i18n.localize_ledger)
    "ledger.picked_into_tote": "picked into tote %(tote)s (pick task line %(line)s)",
    "ledger.pick_undone": "pick undone (pick task line %(line)s)",
    "ledger.short_pick": "short pick: %(missing)s missing (pick task line %(line)s)",
}
NESTED = {"plan"}  # params that are reasons themselves (localized in turn)
FREE = {"note"}  # params a user typed: shown as they are


def text(code: str, **params) -> str:
    """The English text of a reason (what is stored)."""
    return TEMPLATES[code] % params


def joined(parts: list[str]) -> str:
    return "; ".join(parts)


_VALUE = {"codes": r"[^;()]+?", "channel": r"[^;()]+?"}  # warehouse codes, a channel: no "; " and no brackets


def _regex(template: str) -> str:
    out, pos = "", 0
    for m in re.finditer(r"%\((\w+)\)s", template):
        name = m.group(1)
        value = _VALUE.get(name, r".+?" if name in FREE else r"[^;]+?")  # "; " joins the parts of a reason
        out += re.escape(template[pos:m.start()]) + f"(?P<{name}>{value})"
        pos = m.end()
    return out + re.escape(template[pos:])


@cache
def _pattern(code: str) -> re.Pattern:
    return re.compile(_regex(TEMPLATES[code]), re.S)


def _parse_nested(code: str, part: str) -> dict | None:
    """A template with a reason inside (PREFIX %(plan)s SUFFIX): the longest inner text that is a reason."""
    template = TEMPLATES[code]
    prefix, suffix = template.split("%(plan)s")
    if not part.startswith(prefix):
        return None
    tail = re.compile(_regex(suffix), re.S)
    for end in range(len(part), len(prefix), -1):
        m = tail.fullmatch(part, end)
        if m is not None and parse(part[len(prefix):end]) is not None:
            return {"plan": part[len(prefix):end], **m.groupdict()}
    return None


def _parse_one(part: str) -> tuple[str, dict] | None:
    for code, template in TEMPLATES.items():
        if "%(plan)s" in template:
            params = _parse_nested(code, part)
        else:
            m = _pattern(code).fullmatch(part)
            params = None if m is None else m.groupdict()
        if params is not None:
            return code, params
    return None


def parse(stored: str | None) -> list[tuple[str, dict]] | None:
    """The (code, params) parts of a stored text, or None when it is not one Qoima wrote."""
    if not stored:
        return None
    whole = _parse_one(stored)
    if whole is not None:
        return [whole]
    parts = [_parse_one(p) for p in stored.split("; ")]
    return None if any(p is None for p in parts) else parts


def describe(stored: str | None) -> tuple[str | None, list[dict] | None]:
    """(code, params) for the API: the first part's code, every part's params (None: free text)."""
    parts = parse(stored)
    if parts is None:
        return None, None
    return parts[0][0], [{"code": c, **p} for c, p in parts]


def with_code(row: dict, key: str) -> dict:
    """The row with `<key>_code` and `<key>_params` beside its English `key` (the API's timeline)."""
    code, params = describe(row.get(key))
    return {**row, f"{key}_code": code, f"{key}_params": params}


def localize(stored: str | None, gettext: Callable[[str], str], labels: Mapping | None = None) -> str:
    """The stored text in the language of `gettext` (the stored text itself when it is free text)."""
    parts = parse(stored)
    if parts is None:
        return stored or ""
    out = []
    for code, params in parts:
        shown = {}
        for k, v in params.items():
            table = (labels or {}).get(k)
            if k in NESTED:
                shown[k] = localize(v, gettext, labels)
            elif table and v in table:
                shown[k] = gettext(table[v])
            elif k == "codes" and v == "none":
                shown[k] = gettext("none")
            else:
                shown[k] = v
        out.append(gettext(TEMPLATES[code]) % shown)
    return "; ".join(out)
