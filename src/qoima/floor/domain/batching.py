"""Order batching for pick carts (interface; implementation follows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qoima.floor.domain.routing import Layout, Pick, Route


@dataclass(frozen=True)
class OrderPicks:
    order_id: int
    picks: tuple[Pick, ...]


@dataclass(frozen=True)
class Batch:
    order_ids: tuple[int, ...]
    route: Route


def make_batches(layout: Layout, orders: Sequence[OrderPicks], capacity: int,
                 method: str = "savings") -> list[Batch]:
    raise NotImplementedError


def single_order_walk(layout: Layout, orders: Sequence[OrderPicks]) -> float:
    raise NotImplementedError
