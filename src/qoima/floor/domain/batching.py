"""Order batching: which orders go on one pick cart (one tote per order, `capacity` totes).

Inside the heuristics a batch is judged by a cheap estimate: its S-shape length computed from the
batch's aisle summary (the aisles it visits and, per aisle, the farthest pick), merging two
summaries is a union with a max, so an estimate costs O(aisles). The final route of each batch is
the best router's (routing.route, method "best").

- ``savings`` (Clarke & Wright, as used for order batching by de Koster et al. 1999): the saving
  of picking orders i and j together is est(i) + est(j) - est(i + j). Pairs are formed among
  neighbours only (orders sorted by their mean aisle and mean position; each one paired with the
  next `WINDOW` ones), which keeps 10,000 orders at a few seconds with the routes; pairs are taken by decreasing
  saving and their batches joined while the cart has room.
- ``seed``: the unassigned order farthest from the depot opens a batch; the batch then takes,
  among the next `WINDOW` unassigned neighbours in the same order, the one that adds least to its
  estimate, until the cart is full.

A batch whose final route would be longer than picking its orders one by one (possible only with
middle cross aisles, where routes are heuristic) is split back into single orders, so the total
walk is never more than `single_order_walk`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qoima.floor.domain.routing import Layout, Pick, Route, check_picks, route
from qoima.platform.errors import ValidationError

BATCH_METHODS = ("savings", "seed")
MAX_CAPACITY = 1000
MAX_ORDERS = 100_000
WINDOW = 24


@dataclass(frozen=True)
class OrderPicks:
    order_id: int
    picks: tuple[Pick, ...]


@dataclass(frozen=True)
class Batch:
    order_ids: tuple[int, ...]
    route: Route


Summary = tuple  # (aisle bit mask, lowest aisle, highest aisle, farthest pick in the highest aisle)


def _summary(picks: Sequence[Pick]) -> Summary | None:
    if not picks:
        return None
    mask, lo, hi, far = 0, None, -1, 0.0
    for p in picks:
        mask |= 1 << p.aisle
        lo = p.aisle if lo is None else min(lo, p.aisle)
        if p.aisle > hi:
            hi, far = p.aisle, p.position
        elif p.aisle == hi and p.position > far:
            far = p.position
    return (mask, lo, hi, far)


def _merge(a: Summary | None, b: Summary | None) -> Summary | None:
    if a is None:
        return b
    if b is None:
        return a
    if a[2] > b[2]:
        hi, far = a[2], a[3]
    elif b[2] > a[2]:
        hi, far = b[2], b[3]
    else:
        hi, far = a[2], max(a[3], b[3])
    return (a[0] | b[0], min(a[1], b[1]), hi, far)


def estimate(layout: Layout, summary: Summary | None) -> float:
    """S-shape length from a batch's summary (the aisles it visits, the farthest pick of the last
    one): every aisle but the last walked through, the last one (odd count) entered and left from
    the front, plus the way along the front from the depot to the outermost aisles and back."""
    if summary is None:
        return 0.0
    mask, lo, hi, far = summary
    k = mask.bit_count()
    horizontal = 2 * (max(hi, layout.depot_aisle) - min(lo, layout.depot_aisle)) * layout.aisle_spacing
    if k % 2 == 0:
        return horizontal + k * layout.aisle_length
    return horizontal + (k - 1) * layout.aisle_length + 2 * far


def _validate(layout: Layout, orders: Sequence[OrderPicks], capacity: int, method: str) -> None:
    if method not in BATCH_METHODS:
        raise ValidationError("method must be one of %s" % ", ".join(BATCH_METHODS), field="method",
                              code="floor.bad_method", choices=", ".join(BATCH_METHODS))
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= MAX_CAPACITY:
        raise ValidationError(f"capacity must be between 1 and {MAX_CAPACITY}", field="capacity",
                              code="floor.out_of_range", min=1, max=MAX_CAPACITY)
    if len(orders) > MAX_ORDERS:
        raise ValidationError(f"at most {MAX_ORDERS} orders", field="orders", code="floor.too_many", max=MAX_ORDERS)
    seen_orders: set[int] = set()
    seen_ids: set[str] = set()
    for i, o in enumerate(orders):
        if o.order_id in seen_orders:
            raise ValidationError(f"order {o.order_id} is twice in the list", field=f"orders[{i}].order_id",
                                  code="floor.duplicate_order", order_id=o.order_id)
        seen_orders.add(o.order_id)
        for j, p in enumerate(o.picks):
            if p.id in seen_ids:
                raise ValidationError(f"pick id {p.id} is used twice (pick ids must be unique across orders)",
                                      field=f"orders[{i}].picks[{j}].id", code="floor.duplicate_id", id=p.id)
            seen_ids.add(p.id)
    check_picks(layout, [p for o in orders for p in o.picks])


def _order_key(o: OrderPicks) -> tuple[float, float]:
    if not o.picks:
        return (-1.0, -1.0)
    n = len(o.picks)
    return (sum(p.aisle for p in o.picks) / n, sum(p.position for p in o.picks) / n)


def _savings(layout: Layout, orders: list[OrderPicks], capacity: int) -> list[list[int]]:
    n = len(orders)
    summ = [_summary(o.picks) for o in orders]
    est = [estimate(layout, s) for s in summ]
    idx = sorted(range(n), key=lambda i: _order_key(orders[i]))
    pairs: list[tuple[float, int, int]] = []
    for pos, i in enumerate(idx):
        for j in idx[pos + 1:pos + 1 + WINDOW]:
            s = est[i] + est[j] - estimate(layout, _merge(summ[i], summ[j]))
            if s > 0:
                pairs.append((-s, i, j))
    pairs.sort()
    parent = list(range(n))
    members: dict[int, list[int]] = {i: [i] for i in range(n)}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, i, j in pairs:
        ri, rj = find(i), find(j)
        if ri == rj or len(members[ri]) + len(members[rj]) > capacity:
            continue
        if len(members[ri]) < len(members[rj]):
            ri, rj = rj, ri
        parent[rj] = ri
        members[ri].extend(members.pop(rj))
    groups = sorted(members.values(), key=lambda g: min(g))
    return [sorted(g) for g in groups]


def _seed(layout: Layout, orders: list[OrderPicks], capacity: int) -> list[list[int]]:
    n = len(orders)
    summ = [_summary(o.picks) for o in orders]
    est = [estimate(layout, s) for s in summ]
    idx = sorted(range(n), key=lambda i: _order_key(orders[i]))
    rank = {i: r for r, i in enumerate(idx)}
    free = idx[:]  # unassigned, in neighbour order
    by_far = sorted(range(n), key=lambda i: (-est[i], i))
    assigned = [False] * n
    groups: list[list[int]] = []
    for seed in by_far:
        if assigned[seed]:
            continue
        assigned[seed] = True
        group, cur = [seed], summ[seed]
        free = [i for i in free if not assigned[i]] if len(free) > 4 * n // 5 or len(groups) % 50 == 0 else free
        while len(group) < capacity:
            # neighbours of the seed in the sorted order that are still free
            r = rank[seed]
            cand = [i for i in idx[max(0, r - WINDOW):r + WINDOW + 1] if not assigned[i]]
            if not cand:
                cand = [i for i in free if not assigned[i]][:WINDOW]
            if not cand:
                break
            base = estimate(layout, cur)
            best = min(cand, key=lambda i: (estimate(layout, _merge(cur, summ[i])) - base, i))
            assigned[best] = True
            group.append(best)
            cur = _merge(cur, summ[best])
        groups.append(sorted(group))
    return groups


def make_batches(layout: Layout, orders: Sequence[OrderPicks], capacity: int,
                 method: str = "savings") -> list[Batch]:
    """Orders grouped into carts of at most `capacity` orders, each with its route (module doc)."""
    _validate(layout, orders, capacity, method)
    orders = list(orders)
    if not orders:
        return []
    groups = _savings(layout, orders, capacity) if method == "savings" else _seed(layout, orders, capacity)
    batches: list[Batch] = []
    for g in groups:
        picks = [p for i in g for p in orders[i].picks]
        r = route(layout, picks, "best")
        if len(g) > 1 and layout.cross_aisles:  # on a single block the exact tour is never longer
            alone = [route(layout, orders[i].picks, "best") for i in g]
            if r.length > sum(a.length for a in alone) + 1e-9:
                batches.extend(Batch((orders[i].order_id,), a) for i, a in zip(g, alone))
                continue
        batches.append(Batch(tuple(orders[i].order_id for i in g), r))
    return batches


def single_order_walk(layout: Layout, orders: Sequence[OrderPicks]) -> float:
    """The benchmark's reference: total S-shape walk when every order is picked on its own."""
    check_picks(layout, [p for o in orders for p in o.picks])
    return sum(route(layout, o.picks, "s-shape").length for o in orders)
