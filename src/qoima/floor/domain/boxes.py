"""Box choice for packing (interface; implementation follows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    code: str
    length_mm: int
    width_mm: int
    height_mm: int
    max_weight_g: int


@dataclass(frozen=True)
class Item:
    length_mm: int
    width_mm: int
    height_mm: int
    weight_g: int
    quantity: int


def suggest_box(items: Sequence[Item], boxes: Sequence[Box]) -> Box | None:
    raise NotImplementedError
