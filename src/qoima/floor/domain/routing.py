"""Pick routing in a parallel-aisle warehouse.

Geometry: aisles 0..N-1 from left to right, `aisle_spacing` (W) apart, each `aisle_length` (L)
long; a cross aisle runs along the front (y = 0) and the back (y = L) and, optionally, at each
position of `cross_aisles` (strictly between 0 and L). A pick is a point (aisle, position from the
front). The depot is the front end of aisle `depot_aisle` (K); every route starts and ends there
and its length includes the way back.

Methods:
- ``exact``: Ratliff & Rosenthal's dynamic program (routing_exact.py), optimal for a single block
  (no middle cross aisles). On a multi-block layout it is not applicable: the best heuristic is
  returned under its own name.
- ``s-shape`` (traversal): every aisle with picks is walked through from end to end; when the
  picker would have to come back along the front anyway, the last aisle is entered and left from
  the front (to its farthest pick). Both sweep directions (from the leftmost or the rightmost pick
  aisle) are tried and the shorter is kept. With middle cross aisles this is Roodbergen and
  de Koster's multi-block S-shape: up the leftmost (or rightmost) pick aisle to the back of the
  farthest block with picks, then block by block towards the front, each block's sub-aisles with
  picks walked in an S, the last one of a block entered and left from the block's front cross
  aisle when needed so that the picker ends at the front of each block.
- ``largest-gap``: the leftmost and rightmost pick aisles are walked through; every aisle between
  them is entered from the front up to its largest gap (the largest distance between two adjacent
  picks, or a pick and an end) and from the back down to it. With one pick aisle it is a return
  visit. On a multi-block layout: the shorter of Roodbergen and de Koster's multi-block version
  (block by block from the farthest: sub-aisles entered from the block's back cross aisle up to
  their largest gap, the farthest one walked through, the others entered from the block's front
  cross aisle; started from either side) and the single-block walk (which uses only the front and
  back cross aisles, so it is valid there too).
- ``best``: the shortest of those applicable: the exact tour on a single block; on a multi-block
  layout the shortest of s-shape, largest-gap and ``aisle-dp`` (the exact program of the layout
  without its middle cross aisles: a valid walk, not always optimal with them).

Every route's length is the length of the walk the method describes; its sequence is the order in
which that walk first passes each pick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from qoima.floor.domain import routing_exact as rr
from qoima.platform.errors import ValidationError

METHODS = ("exact", "s-shape", "largest-gap", "best")

MAX_AISLES = 1000
MAX_LENGTH = 10_000.0  # metres (or any unit: lengths only have to agree)
MAX_SPACING = 1_000.0
MAX_CROSS_AISLES = 50
MAX_PICKS = 100_000
MAX_ID_LENGTH = 64
_EPS = 1e-9


@dataclass(frozen=True)
class Layout:
    aisles: int
    aisle_length: float
    aisle_spacing: float
    depot_aisle: int
    cross_aisles: tuple[float, ...] = ()  # middle cross aisles only (0 < x < aisle_length)


@dataclass(frozen=True)
class Pick:
    id: str
    aisle: int
    position: float  # measured from the front end


@dataclass(frozen=True)
class Route:
    method: str
    length: float
    sequence: tuple[str, ...]


# ---------------------------------------------------------------- validation

def _bad(message: str, fld: str, code: str, **params):
    return ValidationError(message % params if params else message, field=fld, code=code, **params)


def _int(value, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not value.is_integer()):
        raise _bad("%(what)s must be a whole number", field, "floor.not_integer", what=field)
    value = int(value)
    if not lo <= value <= hi:
        raise _bad("%(what)s must be between %(min)s and %(max)s", field, "floor.out_of_range",
                   what=field, min=lo, max=hi)
    return value


def _num(value, field: str, lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad("%(what)s must be a number", field, "floor.not_number", what=field)
    value = float(value)
    if value < lo or value > hi or (open_lo and value <= lo) or (open_hi and value >= hi):
        lo_s = f"{lo:g} (exclusive)" if open_lo else f"{lo:g}"
        hi_s = f"{hi:g} (exclusive)" if open_hi else f"{hi:g}"
        raise _bad("%(what)s must be between %(min)s and %(max)s", field, "floor.out_of_range",
                   what=field, min=lo_s, max=hi_s)
    return value


def layout_from_json(data: dict) -> Layout:
    """A Layout from parsed JSON, every field checked (ValidationError naming the field)."""
    if not isinstance(data, dict):
        raise _bad("the layout must be a JSON object", "layout", "floor.layout_not_object")
    unknown = sorted(set(data) - {"aisles", "aisle_length", "aisle_spacing", "depot_aisle", "cross_aisles"})
    if unknown:
        raise _bad("unknown field %(name)s", str(unknown[0]), "floor.unknown_field", name=str(unknown[0])[:64])
    for name in ("aisles", "aisle_length", "aisle_spacing", "depot_aisle"):
        if name not in data:
            raise _bad("%(what)s is required", name, "floor.required", what=name)
    aisles = _int(data["aisles"], "aisles", 1, MAX_AISLES)
    length = _num(data["aisle_length"], "aisle_length", 0, MAX_LENGTH, open_lo=True)
    spacing = _num(data["aisle_spacing"], "aisle_spacing", 0, MAX_SPACING, open_lo=True)
    depot = _int(data["depot_aisle"], "depot_aisle", 0, aisles - 1)
    raw = data.get("cross_aisles", [])
    if not isinstance(raw, (list, tuple)):
        raise _bad("cross_aisles must be a list of positions", "cross_aisles", "floor.not_list")
    if len(raw) > MAX_CROSS_AISLES:
        raise _bad("at most %(max)s cross aisles", "cross_aisles", "floor.too_many", max=MAX_CROSS_AISLES)
    cross = [_num(v, f"cross_aisles[{i}]", 0, length, open_lo=True, open_hi=True) for i, v in enumerate(raw)]
    if len(set(cross)) != len(cross):
        raise _bad("cross_aisles has the same position twice", "cross_aisles", "floor.duplicate")
    return Layout(aisles, length, spacing, depot, tuple(sorted(cross)))


def picks_from_json(data: list) -> list[Pick]:
    """Picks from parsed JSON ([{"id", "aisle", "position"}, ...]); ids unique. Whether an aisle
    or a position lies inside the layout is checked by `route` (field picks[i].aisle / .position)."""
    if not isinstance(data, list):
        raise _bad("the picks must be a JSON list", "picks", "floor.picks_not_list")
    if len(data) > MAX_PICKS:
        raise _bad("at most %(max)s picks", "picks", "floor.too_many", max=MAX_PICKS)
    out: list[Pick] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        f = f"picks[{i}]"
        if not isinstance(item, dict):
            raise _bad("%(what)s must be an object", f, "floor.pick_not_object", what=f)
        unknown = sorted(set(item) - {"id", "aisle", "position"})
        if unknown:
            raise _bad("unknown field %(name)s", f"{f}.{str(unknown[0])[:64]}", "floor.unknown_field",
                       name=str(unknown[0])[:64])
        for name in ("id", "aisle", "position"):
            if name not in item:
                raise _bad("%(what)s is required", f"{f}.{name}", "floor.required", what=f"{f}.{name}")
        pid = item["id"]
        if not isinstance(pid, str) or not 1 <= len(pid) <= MAX_ID_LENGTH or any(
                ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in pid):
            raise _bad("%(what)s must be text of 1 to %(max)s characters without control characters",
                       f"{f}.id", "floor.bad_id", what=f"{f}.id", max=MAX_ID_LENGTH)
        if pid in seen:
            raise _bad("%(what)s repeats the id %(id)s", f"{f}.id", "floor.duplicate_id", what=f"{f}.id", id=pid)
        seen.add(pid)
        aisle = _int(item["aisle"], f"{f}.aisle", 0, MAX_AISLES - 1)
        pos = _num(item["position"], f"{f}.position", 0, MAX_LENGTH)
        out.append(Pick(pid, aisle, pos))
    return out


def _check(layout: Layout, picks: Sequence[Pick], method: str) -> None:
    if method not in METHODS:
        raise _bad("method must be one of %(choices)s", "method", "floor.bad_method", choices=", ".join(METHODS))
    if not 1 <= layout.aisles <= MAX_AISLES or not 0 <= layout.depot_aisle < layout.aisles:
        raise _bad("depot_aisle must be between 0 and %(max)s", "depot_aisle", "floor.out_of_range",
                   max=layout.aisles - 1)
    if not layout.aisle_length > 0 or not layout.aisle_spacing > 0:
        raise _bad("aisle_length and aisle_spacing must be positive", "aisle_length", "floor.out_of_range")
    if any(not 0 < c < layout.aisle_length for c in layout.cross_aisles):
        raise _bad("cross_aisles must lie strictly inside the aisles", "cross_aisles", "floor.out_of_range")
    seen: set[str] = set()
    for i, p in enumerate(picks):
        if not 0 <= p.aisle < layout.aisles:
            raise _bad("%(what)s must be between 0 and %(max)s", f"picks[{i}].aisle", "floor.out_of_range",
                       what=f"picks[{i}].aisle", max=layout.aisles - 1)
        if not (math.isfinite(p.position) and 0 <= p.position <= layout.aisle_length):
            raise _bad("%(what)s must be between 0 and %(max)s", f"picks[{i}].position",
                       "floor.out_of_range", what=f"picks[{i}].position", max=f"{layout.aisle_length:g}")
        if p.id in seen:
            raise _bad("%(what)s repeats the id %(id)s", f"picks[{i}].id", "floor.duplicate_id",
                       what=f"picks[{i}].id", id=p.id)
        seen.add(p.id)


def check_picks(layout: Layout, picks: Sequence[Pick]) -> None:
    """The checks `route` makes on a layout and its picks (ValidationError naming the field)."""
    _check(layout, picks, "best")


# ---------------------------------------------------------------- distances

def cross_positions(layout: Layout) -> tuple[float, ...]:
    return (0.0, *sorted(layout.cross_aisles), float(layout.aisle_length))


def distance(layout: Layout, a1: int, y1: float, a2: int, y2: float) -> float:
    """Shortest walk between two points of the aisle network."""
    if a1 == a2:
        return abs(y1 - y2)
    return abs(a1 - a2) * layout.aisle_spacing + min(abs(y1 - c) + abs(y2 - c) for c in cross_positions(layout))


def replay_length(layout: Layout, picks: Sequence[Pick], sequence: Sequence[str]) -> float:
    """Length of visiting `sequence` from the depot and back with shortest paths between stops."""
    where = {p.id: (p.aisle, p.position) for p in picks}
    a, y = layout.depot_aisle, 0.0
    total = 0.0
    for pid in sequence:
        a2, y2 = where[pid]
        total += distance(layout, a, y, a2, y2)
        a, y = a2, y2
    return total + distance(layout, a, y, layout.depot_aisle, 0.0)


# ---------------------------------------------------------------- walks (heuristics)

class _Walk:
    """A picker walking the network; picks are taken when first passed."""

    def __init__(self, layout: Layout, picks: Sequence[Pick]):
        self.layout = layout
        self.cross = cross_positions(layout)
        self.left: dict[int, list[tuple[float, str]]] = {}
        for p in picks:
            self.left.setdefault(p.aisle, []).append((p.position, p.id))
        for lst in self.left.values():
            lst.sort()
        self.x, self.y = layout.depot_aisle, 0.0
        self.length = 0.0
        self.seq: list[str] = []
        self._take(self.x, 0.0, 0.0)

    def _take(self, aisle: int, y0: float, y1: float) -> None:
        lst = self.left.get(aisle)
        if not lst:
            return
        lo, hi = min(y0, y1) - _EPS, max(y0, y1) + _EPS
        got = [t for t in lst if lo <= t[0] <= hi]
        if not got:
            return
        got.sort(key=lambda t: t[0], reverse=y1 < y0)
        self.seq.extend(pid for _, pid in got)
        self.left[aisle] = [t for t in lst if not lo <= t[0] <= hi]
        if not self.left[aisle]:
            del self.left[aisle]

    def vert(self, y: float) -> None:
        self._take(self.x, self.y, y)
        self.length += abs(y - self.y)
        self.y = y

    def horiz(self, aisle: int) -> None:
        if aisle == self.x:
            return
        if not any(abs(self.y - c) <= _EPS for c in self.cross):  # pragma: no cover - a bug if reached
            raise RuntimeError("horizontal move off a cross aisle")
        step = 1 if aisle > self.x else -1
        for a in range(self.x + step, aisle + step, step):
            self._take(a, self.y, self.y)
        self.length += abs(aisle - self.x) * self.layout.aisle_spacing
        self.x = aisle

    def remaining(self, aisle: int, y0: float, y1: float) -> list[float]:
        return [pos for pos, _ in self.left.get(aisle, []) if y0 - _EPS <= pos <= y1 + _EPS]

    def finish(self, method: str) -> Route:
        if self.y != 0.0:
            self.vert(0.0)
        self.horiz(self.layout.depot_aisle)
        if self.left:  # pragma: no cover - a bug if reached
            raise RuntimeError("walk missed picks")
        return Route(method, self.length, tuple(self.seq))


def _s_shape(layout: Layout, picks: Sequence[Pick], from_right: bool) -> Route:
    w = _Walk(layout, picks)
    if w.left:
        ys = w.cross
        aisles = sorted(w.left)
        first = aisles[-1] if from_right else aisles[0]
        top_block = max(_block_of(ys, pos) for lst in w.left.values() for pos, _ in lst)
        w.horiz(first)
        if len(aisles) == 1:  # one pick aisle: in from the front to its farthest pick and out
            w.vert(max(pos for pos, _ in w.left.get(first, [(0.0, "")])))
            return w.finish("s-shape")
        w.vert(ys[top_block + 1])
        for b in range(top_block, -1, -1):
            lo_y, hi_y = ys[b], ys[b + 1]
            subs = [a for a in sorted(w.left) if w.remaining(a, lo_y, hi_y)]
            if subs and abs(w.x - subs[-1]) < abs(w.x - subs[0]):
                subs.reverse()
            for i, a in enumerate(subs):
                if not w.remaining(a, lo_y, hi_y):
                    continue
                w.horiz(a)
                if not w.remaining(a, lo_y, hi_y):  # taken from the cross aisle on arrival
                    continue
                rest = [s for s in subs[i + 1:] if w.remaining(s, lo_y, hi_y)]
                if w.y == hi_y or rest:
                    w.vert(lo_y if w.y == hi_y else hi_y)
                else:  # at the block's front and the last sub-aisle: in and out
                    w.vert(max(w.remaining(a, lo_y, hi_y)))
                    w.vert(lo_y)
            if w.y != lo_y:
                w.vert(lo_y)
    return w.finish("s-shape")


def _block_of(ys: Sequence[float], pos: float) -> int:
    for b in range(len(ys) - 1):
        if pos <= ys[b + 1] + _EPS:
            return b
    return len(ys) - 2


def _largest_gap(layout: Layout, picks: Sequence[Pick]) -> Route:
    w = _Walk(layout, picks)
    length = layout.aisle_length
    if w.left:
        aisles = sorted(w.left)
        if len(aisles) == 1:
            a = aisles[0]
            w.horiz(a)
            if a in w.left:
                w.vert(max(pos for pos, _ in w.left[a]))
            return w.finish("largest-gap")
        first, last = aisles[0], aisles[-1]
        front: dict[int, float] = {}
        back: dict[int, float] = {}
        for a in aisles[1:-1]:
            pts = [0.0] + [pos for pos, _ in w.left[a]] + [length]
            gi = max(range(len(pts) - 1), key=lambda i: (pts[i + 1] - pts[i], -i))
            if gi > 0:
                front[a] = pts[gi]
            if gi + 1 < len(pts) - 1:
                back[a] = pts[gi + 1]
        k = layout.depot_aisle
        for a in sorted((a for a in front if a <= k), reverse=True):  # on the way left
            w.horiz(a)
            w.vert(front[a])
            w.vert(0.0)
        w.horiz(first)
        w.vert(length)
        for a in sorted(back):
            w.horiz(a)
            w.vert(back[a])
            w.vert(length)
        w.horiz(last)
        w.vert(0.0)
        for a in sorted((a for a in front if a > k), reverse=True):  # on the way back
            w.horiz(a)
            w.vert(front[a])
            w.vert(0.0)
    return w.finish("largest-gap")


def _block_split(lo_y: float, hi_y: float, positions: list[float]) -> tuple[float | None, float | None]:
    """Largest gap of a (sub-)aisle between lo_y and hi_y: (deepest pick reached from lo_y,
    lowest pick reached from hi_y); None where that side has nothing to take."""
    pts = [lo_y] + sorted(positions) + [hi_y]
    gi = max(range(len(pts) - 1), key=lambda i: (pts[i + 1] - pts[i], -i))
    front = pts[gi] if gi > 0 else None
    back = pts[gi + 1] if gi + 1 < len(pts) - 1 else None
    return front, back


def _largest_gap_blocks(layout: Layout, picks: Sequence[Pick], from_right: bool) -> Route:
    """Multi-block largest gap: up the outermost pick aisle to the back of the farthest block
    with picks, then block by block towards the front: along the block's back cross aisle, each
    sub-aisle entered from the back up to its largest gap; the farthest sub-aisle walked through;
    back along the block's front cross aisle, each sub-aisle entered from the front up to its
    largest gap."""
    w = _Walk(layout, picks)
    if w.left:
        ys = w.cross
        aisles = sorted(w.left)
        first = aisles[-1] if from_right else aisles[0]
        top_block = max(_block_of(ys, pos) for lst in w.left.values() for pos, _ in lst)
        w.horiz(first)
        if len(aisles) == 1:
            w.vert(max(pos for pos, _ in w.left.get(first, [(0.0, "")])))
            return w.finish("largest-gap")
        w.vert(ys[top_block + 1])
        for b in range(top_block, -1, -1):
            lo_y, hi_y = ys[b], ys[b + 1]
            subs = [a for a in sorted(w.left) if w.remaining(a, lo_y, hi_y)]
            if not subs:
                w.vert(lo_y)
                continue
            if abs(w.x - subs[-1]) < abs(w.x - subs[0]):
                subs.reverse()
            *others, last = subs
            fronts = {}
            for a in others:
                w.horiz(a)
                rest = w.remaining(a, lo_y, hi_y)
                if not rest:
                    continue
                front, back = _block_split(lo_y, hi_y, rest)
                if back is not None:
                    w.vert(back)
                    w.vert(hi_y)
                if front is not None:
                    fronts[a] = front
            w.horiz(last)
            w.vert(lo_y)
            for a in reversed(others):
                if a in fronts and w.remaining(a, lo_y, hi_y):
                    w.horiz(a)
                    rest = w.remaining(a, lo_y, hi_y)  # a pick on the cross aisle is taken on arrival
                    if rest:
                        w.vert(max(rest))
                        w.vert(lo_y)
    return w.finish("largest-gap")


# ---------------------------------------------------------------- exact

def _exact(layout: Layout, picks: Sequence[Pick], name: str = "exact") -> Route:
    n, length, k = layout.aisles, float(layout.aisle_length), layout.depot_aisle
    at_point: dict[tuple[int, float], list[str]] = {}
    for p in picks:
        at_point.setdefault((p.aisle, float(p.position)), []).append(p.id)
    interior: list[set[float]] = [set() for _ in range(n)]
    req_front, req_back = [False] * n, [False] * n
    for (a, y) in at_point:
        if y <= 0:
            req_front[a] = True
        elif y >= length:
            req_back[a] = True
        else:
            interior[a].add(y)
    depot_ids = at_point.get((k, 0.0), [])
    if len(at_point) == (1 if depot_ids else 0):
        return Route(name, 0.0, tuple(depot_ids))
    inner = [sorted(s) for s in interior]
    best, lo, configs, gaps = rr.solve(rr.Problem(n, length, layout.aisle_spacing, k, inner, req_front, req_back))
    edges = rr.tour_edges(lo, configs, gaps, inner, length)
    # edge lengths: vertical |dy|, horizontal W
    circuit = rr.euler_circuit(edges, (k, 0.0))
    seq: list[str] = []
    seen: set[tuple[int, float]] = set()
    for node in circuit:
        if node not in seen:
            seen.add(node)
            seq.extend(at_point.get(node, ()))
    return Route(name, best, tuple(seq))


# ---------------------------------------------------------------- entry point

def route(layout: Layout, picks: Sequence[Pick], method: str = "best") -> Route:
    """The walk through `picks` from the depot and back by `method` (see the module doc)."""
    _check(layout, picks, method)
    picks = list(picks)
    multi = bool(layout.cross_aisles)
    if method == "s-shape":
        return min((_s_shape(layout, picks, False), _s_shape(layout, picks, True)), key=lambda r: r.length)
    if method == "largest-gap":
        if not multi:
            return _largest_gap(layout, picks)
        return min((_largest_gap(layout, picks), _largest_gap_blocks(layout, picks, False),
                    _largest_gap_blocks(layout, picks, True)), key=lambda r: r.length)
    if not multi:
        return _exact(layout, picks)
    flat = Layout(layout.aisles, layout.aisle_length, layout.aisle_spacing, layout.depot_aisle)
    candidates = [route(layout, picks, "s-shape"), route(layout, picks, "largest-gap"),
                  _exact(flat, picks, "aisle-dp")]
    return min(candidates, key=lambda r: r.length)
