"""Pick routing in a parallel-aisle warehouse (interface; implementation follows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

METHODS = ("exact", "s-shape", "largest-gap", "best")


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


def route(layout: Layout, picks: Sequence[Pick], method: str = "best") -> Route:
    raise NotImplementedError


def layout_from_json(data: dict) -> Layout:
    raise NotImplementedError


def picks_from_json(data: list) -> list[Pick]:
    raise NotImplementedError
