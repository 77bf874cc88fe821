"""Sourcing: which warehouse(s) ship an order.

Rules, in order:
1. fewest parcels: the smallest set of warehouses that can ship every line in full;
2. then nearest to the customer (sum of great-circle distances of the set);
3. then stock depth (most units available in the set after the order).
When no set can ship everything, the order is split over warehouses to reserve
as much as possible (nearest first, deepest stock next) and the rest is
backordered. The chosen plan carries a human-readable reason that is stored.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from qoima.orders.domain import reasons

MAX_EXACT_WAREHOUSES = 8  # subsets are enumerated up to this many candidate warehouses


@dataclass(frozen=True)
class Line:
    product_id: int
    sku: str
    quantity: int


@dataclass
class WarehouseStock:
    warehouse_id: int
    code: str
    lat: float | None
    lon: float | None
    available: dict[int, int]  # product_id -> units available


@dataclass
class Plan:
    picks: list[tuple[int, int, int]] = field(default_factory=list)  # (warehouse_id, product_id, qty)
    backorder: dict[int, int] = field(default_factory=dict)  # product_id -> qty missing
    warehouses: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def complete(self) -> bool:
        return not self.backorder


def distance_km(lat1, lon1, lat2, lon2) -> float | None:
    if None in (lat1, lon1, lat2, lon2):
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def _dist(w: WarehouseStock, lat, lon) -> float:
    d = distance_km(w.lat, w.lon, lat, lon)
    return d if d is not None else 0.0


def _needs(lines: list[Line]) -> dict[int, int]:
    need: dict[int, int] = {}
    for line in lines:
        need[line.product_id] = need.get(line.product_id, 0) + line.quantity
    return need


def _split(need: dict[int, int], ordered: list[WarehouseStock]) -> tuple[list[tuple[int, int, int]], dict[int, int]]:
    """Fill each product from the warehouses in the given order."""
    picks, missing = [], {}
    for pid, qty in need.items():
        left = qty
        for w in ordered:
            take = min(left, w.available.get(pid, 0))
            if take > 0:
                picks.append((w.warehouse_id, pid, take))
                left -= take
            if left == 0:
                break
        if left:
            missing[pid] = left
    return picks, missing


def choose(lines: list[Line], stock: list[WarehouseStock], lat=None, lon=None) -> Plan:
    need = _needs(lines)
    total_need = sum(need.values())
    candidates = [w for w in stock if any(w.available.get(p, 0) > 0 for p in need)]
    if not candidates:
        return Plan(backorder=dict(need), reason=reasons.text("sourcing.none_in_stock"))

    def depth(ws) -> int:
        return sum(w.available.get(p, 0) for w in ws for p in need) - total_need

    def covers(ws) -> bool:
        return all(sum(w.available.get(p, 0) for w in ws) >= q for p, q in need.items())

    # every set size is tried up to MAX_EXACT_WAREHOUSES candidates; past that only 1- and 2-parcel sets
    max_size = len(candidates) if len(candidates) <= MAX_EXACT_WAREHOUSES else 2
    for size in range(1, max_size + 1):
        sets = [ws for ws in itertools.combinations(candidates, size) if covers(ws)]
        if sets:
            best = min(sets, key=lambda ws: (sum(_dist(w, lat, lon) for w in ws), -depth(ws), [w.warehouse_id for w in ws]))
            ordered = sorted(best, key=lambda w: (_dist(w, lat, lon), w.warehouse_id))
            picks, _ = _split(need, ordered)
            return Plan(picks=picks, warehouses=[w.code for w in ordered],
                        reason=_reason(best, sets, lat, lon, depth(best)))
    ordered = sorted(candidates, key=lambda w: (_dist(w, lat, lon), -sum(w.available.get(p, 0) for p in need)))
    picks, missing = _split(need, ordered)
    used = [w for w in ordered if any(p[0] == w.warehouse_id for p in picks)]
    short = sum(missing.values())
    if not missing:
        return Plan(picks=picks, warehouses=[w.code for w in used],
                    reason=reasons.text("sourcing.split", parcels=len(used), codes="+".join(w.code for w in used)))
    return Plan(picks=picks, backorder=missing, warehouses=[w.code for w in used],
                reason=reasons.text("sourcing.partial", reserved=total_need - short, total=total_need,
                                    codes=", ".join(w.code for w in used) or "none", short=short))


def _reason(best, sets, lat, lon, depth_left: int) -> str:
    codes = "+".join(w.code for w in best)
    parcels = len(best)
    parts = [reasons.text("sourcing.parcels", parcels=parcels, codes=codes) if parcels > 1
             else reasons.text("sourcing.one_parcel", codes=codes)]
    if len(sets) > 1:
        parts.append(reasons.text("sourcing.options", options=len(sets), parcels=parcels))
        dist = sum(_dist(w, lat, lon) for w in best)
        if lat is not None and lon is not None:
            parts.append(reasons.text("sourcing.nearest", km=f"{dist:.0f}"))
        parts.append(reasons.text("sourcing.depth", depth=depth_left))
    return reasons.joined(parts)
