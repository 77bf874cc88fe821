"""The exact pick tour of a single-block warehouse: Ratliff & Rosenthal (1983).

The aisle network: aisles j = 0..N-1 (x = j * W) joined by a front cross aisle (y = 0) and a back
one (y = L). a_j / b_j are the front / back ends of aisle j. A tour is a multigraph on this
network (each edge used at most twice) that is connected, has even degrees everywhere and touches
every required vertex (the picks and the depot a_K). The dynamic program sweeps left to right:

- L_j^- holds everything left of aisle j plus the cross-aisle edges into a_j and b_j;
  L_j^+ = L_j^- plus the vertical edges of aisle j.
- A partial subgraph is summarised by its *equivalence class*: the degree of a_j and of b_j
  (zero / odd / even and positive) and whether they lie in one component or two. Reachable
  classes are the paper's seven: (U,U,1C), (E,0,1C), (0,E,1C), (E,E,1C), (E,E,2C), (0,0,0C) and
  (0,0,1C) -- the last is a tour already closed on the left (``CLOSED`` here), the one before it
  the empty graph (``EMPTY``). The class is all that matters to complete the tour to the right.
- Aisle transitions L_j^- -> L_j^+ use the six vertical configurations: (1) one full traversal,
  (2) a double traversal, (3) in from the front to the farthest pick and back, (4) in from the back
  to the nearest pick and back, (5) in from both ends, leaving out the largest gap between two
  adjacent picks, (6) nothing (only if the aisle has no picks).
- Gap transitions L_j^+ -> L_{j+1}^- add 0, 1 or 2 copies of the front edge a_j-a_{j+1} and of the
  back edge b_j-b_{j+1}; parity leaves five feasible ones ((0,0), (1,1), (2,0), (0,2), (2,2)).
  A component that no longer touches a_{j+1} or b_{j+1} is closed: allowed only if it is the
  whole tour (class CLOSED), after which nothing more may be added.

Instead of hard-coding the class tables of the paper, the transitions are derived once from these
rules (degree arithmetic and a two-label union of components) and memoised; the result is the same
table. A pick at position 0 or L lies on a cross aisle: it makes a_j / b_j a required vertex (like
the depot) instead of entering the aisle. Backtracking keeps each stage's choice; the tour's edges
are rebuilt and walked as an Eulerian circuit from the depot, and the picks are ordered as the
circuit first meets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

EMPTY = "E"
CLOSED = "C"
VERTICAL = ("none", "full", "double", "top", "bottom", "gap")
HORIZONTAL = ((0, 0), (1, 1), (2, 0), (0, 2), (2, 2), (1, 0), (0, 1), (2, 1), (1, 2))

# config -> (degree added to a_j, degree added to b_j, joins a_j and b_j)
_V_EFFECT = {"none": (0, 0, False), "full": (1, 1, True), "double": (2, 2, True),
             "top": (2, 0, False), "bottom": (0, 2, False), "gap": (2, 2, False)}


def _cls(old: int, added: int) -> int:
    """Degree class after adding edges: 0 = none, 1 = odd, 2 = even and positive."""
    if added == 0:
        return old
    parity = (old % 2 + added) % 2  # class 1 is odd, 2 even, 0 even
    return 1 if parity else 2


def _parity_ok(cls: int, added: int) -> bool:
    """A vertex leaving the sweep must end with an even degree."""
    return added == 1 if cls == 1 else added in (0, 2)


def _labels(state):
    da, db, same = state
    la = 1 if da else None
    lb = (1 if same else 2) if db else None
    return la, lb


@lru_cache(maxsize=None)
def vertical(state, cfg: str):
    """L_j^- class -> L_j^+ class for a vertical configuration (None: infeasible)."""
    add_a, add_b, join = _V_EFFECT[cfg]
    if state == CLOSED:
        return CLOSED if cfg == "none" else None
    if state == EMPTY:
        if cfg == "none":
            return EMPTY
        state = (0, 0, False)
    da, db, _ = state
    la, lb = _labels(state)
    if add_a and la is None:
        la = 3
    if add_b and lb is None:
        lb = 4
    if join:
        if la != lb:
            lb = la
    new_a, new_b = _cls(da, add_a), _cls(db, add_b)
    return (new_a, new_b, bool(new_a and new_b and la == lb))


@lru_cache(maxsize=None)
def horizontal(state, x: int, y: int, req_a: bool, req_b: bool):
    """L_j^+ class -> L_{j+1}^- class adding x front and y back edges (None: infeasible).
    req_a / req_b: a_j / b_j must be in the tour (the depot, or a pick on the cross aisle)."""
    if state == CLOSED:
        return CLOSED if (x, y) == (0, 0) and not req_a and not req_b else None
    if state == EMPTY:
        state = (0, 0, False)
    da, db, _ = state
    if not (_parity_ok(da, x) and _parity_ok(db, y)):
        return None
    if (req_a and da == 0 and x == 0) or (req_b and db == 0 and y == 0):
        return None
    la, lb = _labels(state)
    old = {lbl for lbl in (la, lb) if lbl is not None}
    na = (la if la is not None else 3) if x else None
    nb = (lb if lb is not None else 4) if y else None
    carried = {lbl for lbl in (na, nb) if lbl is not None}
    closed = old - carried
    if closed:
        if len(old) == 1 and not carried:
            return CLOSED
        return None
    if na is None and nb is None:
        return EMPTY
    return (_cls(0, x), _cls(0, y), bool(na is not None and na == nb))


def final_ok(state, req_a: bool, req_b: bool) -> bool:
    """Is an L_{N-1}^+ class a complete tour?"""
    if state == CLOSED:
        return not req_a and not req_b
    if state == EMPTY:
        return False
    da, db, same = state
    if da == 1 or db == 1:
        return False
    if req_a and not da or req_b and not db:
        return False
    return not (da and db and not same)


def _vertical_cost(cfg: str, q: list[float], length: float) -> float | None:
    """Length of a vertical configuration over the interior pick positions q (sorted, distinct)."""
    if cfg == "none":
        return None if q else 0.0
    if cfg == "full":
        return length
    if cfg == "double":
        return 2 * length
    if not q:
        return None
    if cfg == "top":
        return 2 * q[-1]
    if cfg == "bottom":
        return 2 * (length - q[0])
    if len(q) < 2:
        return None
    return 2 * (length - _largest_gap(q)[1])


def _largest_gap(q: list[float]) -> tuple[int, float]:
    best_i, best = 0, -1.0
    for i in range(len(q) - 1):
        g = q[i + 1] - q[i]
        if g > best:
            best_i, best = i, g
    return best_i, best


def _all_states():
    out = [EMPTY, CLOSED]
    for da in (0, 1, 2):
        for db in (0, 1, 2):
            for same in (False, True):
                if same and not (da and db):
                    continue
                out.append((da, db, same))
    return out


STATES = _all_states()
_SID = {st: i for i, st in enumerate(STATES)}
# feasible transitions as index tables, built once: the program itself only adds costs
V_TABLE = {cfg: [(i, _SID[ns]) for i, st in enumerate(STATES) if (ns := vertical(st, cfg)) is not None]
           for cfg in VERTICAL}
H_TABLE = {(ra, rb): [(i, _SID[ns], x, y) for i, st in enumerate(STATES) for x, y in HORIZONTAL
                      if (ns := horizontal(st, x, y, ra, rb)) is not None]
           for ra in (False, True) for rb in (False, True)}
_INF = float("inf")


@dataclass(frozen=True)
class Problem:
    """interior[j]: sorted distinct pick positions strictly inside aisle j; req_front/back[j]:
    a_j/b_j must be visited (the depot is added to req_front)."""

    n: int
    length: float
    spacing: float
    depot: int
    interior: list[list[float]]
    req_front: list[bool]
    req_back: list[bool]


def solve(problem: Problem):
    """The optimal tour: (length, first aisle, [config per aisle], [(x, y) per gap]). At least one
    required vertex besides the depot is expected (the caller answers the trivial case)."""
    n, length, spacing, depot = problem.n, problem.length, problem.spacing, problem.depot
    interior, req_back = problem.interior, problem.req_back
    req_front = list(problem.req_front)
    req_front[depot] = True
    used = [j for j in range(n) if interior[j] or req_front[j] or req_back[j]]
    lo, hi = min(used), max(used)
    # aisles outside [lo, hi] are never worth using: the sweep covers lo..hi only
    ns_count = len(STATES)
    layer = [_INF] * ns_count
    layer[_SID[EMPTY]] = 0.0
    back: list[list] = []
    best_state, best = None, _INF
    for j in range(lo, hi + 1):
        plus = [_INF] * ns_count
        choice_v: list = [None] * ns_count
        for cfg in VERTICAL:
            vc = _vertical_cost(cfg, interior[j], length)
            if vc is None:
                continue
            for s, t in V_TABLE[cfg]:
                c = layer[s]
                if c == _INF:
                    continue
                c += vc
                if c < plus[t] - 1e-12:
                    plus[t] = c
                    choice_v[t] = (s, cfg)
        back.append(choice_v)
        if j == hi:
            for t in range(ns_count):
                if plus[t] < best - 1e-12 and final_ok(STATES[t], req_front[j], req_back[j]):
                    best_state, best = t, plus[t]
            break
        nxt = [_INF] * ns_count
        choice_h: list = [None] * ns_count
        for s, t, x, y in H_TABLE[(req_front[j], req_back[j])]:
            c = plus[s]
            if c == _INF:
                continue
            c += (x + y) * spacing
            if c < nxt[t] - 1e-12:
                nxt[t] = c
                choice_h[t] = (s, (x, y))
        back.append(choice_h)
        layer = nxt
    if best_state is None:  # pragma: no cover - a tour always exists
        raise RuntimeError("no tour found")
    configs: list[str] = []
    gaps: list[tuple[int, int]] = []
    st = best_state
    for k in range(len(back) - 1, -1, -1):
        prev, what = back[k][st]
        if k % 2 == 0:
            configs.append(what)
        else:
            gaps.append(what)
        st = prev
    configs.reverse()
    gaps.reverse()
    return best, lo, configs, gaps


def tour_edges(lo: int, configs: list[str], gaps: list[tuple[int, int]], interior: list[list[float]],
               length: float):
    """The tour multigraph: nodes (aisle, y); yields (u, v, multiplicity)."""
    edges = []
    for off, cfg in enumerate(configs):
        j = lo + off
        q = interior[j]
        pts = [0.0] + q + [length]
        segs = list(zip(pts, pts[1:]))
        if cfg == "none":
            mult = [0] * len(segs)
        elif cfg == "full":
            mult = [1] * len(segs)
        elif cfg == "double":
            mult = [2] * len(segs)
        elif cfg == "top":
            mult = [2 if hi_ <= q[-1] else 0 for _, hi_ in segs]
        elif cfg == "bottom":
            mult = [2 if lo_ >= q[0] else 0 for lo_, _ in segs]
        else:
            gi = _largest_gap(q)[0] + 1  # segment index of the gap (q[gi-1], q[gi])
            mult = [0 if i == gi else 2 for i in range(len(segs))]
        for (y0, y1), m in zip(segs, mult):
            if m:
                edges.append(((j, y0), (j, y1), m))
    for off, (x, y) in enumerate(gaps):
        j = lo + off
        if x:
            edges.append(((j, 0.0), (j + 1, 0.0), x))
        if y:
            edges.append(((j, length), (j + 1, length), y))
    return edges


def euler_circuit(edges, start):
    """Hierholzer's algorithm on a connected multigraph with even degrees: the node sequence."""
    adj: dict = {}
    used = []
    for idx, (u, v, m) in enumerate(edges):
        for _ in range(m):
            eid = len(used)
            used.append(False)
            adj.setdefault(u, []).append((v, eid))
            adj.setdefault(v, []).append((u, eid))
    if start not in adj:
        return [start]
    stack, out = [start], []
    ptr = {node: 0 for node in adj}
    while stack:
        node = stack[-1]
        lst = adj[node]
        i = ptr[node]
        while i < len(lst) and used[lst[i][1]]:
            i += 1
        ptr[node] = i
        if i == len(lst):
            out.append(stack.pop())
        else:
            nxt, eid = lst[i]
            used[eid] = True
            stack.append(nxt)
    out.reverse()
    return out
