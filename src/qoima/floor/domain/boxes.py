"""Box choice for packing.

`suggest_box` returns the smallest box (by inner volume) that passes every check, or None:

1. weight: the items' total weight is at most the box's `max_weight_g`;
2. each item fits alone in some orientation: its sides sorted are each at most the box's sides
   sorted (for boxes in a box with axis-parallel sides this is exactly "fits in one of the six
   orientations"); this also means the longest item side fits along the box's longest side;
3. volume: the items' total volume is at most `FILL_FACTOR` of the box's volume (85 %: real
   items never pack without gaps, and padding needs room).

It is a heuristic, not a 3-D packing: many flat items may pass (3) in a box where they could not
really be arranged, and the packer may still pick another box. Ties (same volume) go to the box
with the larger weight limit, then to the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qoima.platform.errors import ValidationError

FILL_FACTOR = 0.85
MAX_SIDE_MM = 10_000
MAX_WEIGHT_G = 10_000_000
MAX_QUANTITY = 100_000


@dataclass(frozen=True)
class Box:
    code: str
    length_mm: int
    width_mm: int
    height_mm: int
    max_weight_g: int

    @property
    def volume_mm3(self) -> int:
        return self.length_mm * self.width_mm * self.height_mm


@dataclass(frozen=True)
class Item:
    length_mm: int
    width_mm: int
    height_mm: int
    weight_g: int
    quantity: int


def _check(value, field: str, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ValidationError(f"{field} must be between {lo} and {hi}", field=field,
                              code="floor.out_of_range", min=lo, max=hi)


def _validate(items: Sequence[Item], boxes: Sequence[Box]) -> None:
    for i, it in enumerate(items):
        for name in ("length_mm", "width_mm", "height_mm"):
            _check(getattr(it, name), f"items[{i}].{name}", 0, MAX_SIDE_MM)
        _check(it.weight_g, f"items[{i}].weight_g", 0, MAX_WEIGHT_G)
        _check(it.quantity, f"items[{i}].quantity", 0, MAX_QUANTITY)
    for i, b in enumerate(boxes):
        for name in ("length_mm", "width_mm", "height_mm"):
            _check(getattr(b, name), f"boxes[{i}].{name}", 1, MAX_SIDE_MM)
        _check(b.max_weight_g, f"boxes[{i}].max_weight_g", 0, MAX_WEIGHT_G)


def fits(items: Sequence[Item], box: Box) -> bool:
    """Does `box` pass the three checks of the module doc for these items?"""
    items = [it for it in items if it.quantity > 0]
    weight = sum(it.weight_g * it.quantity for it in items)
    if weight > box.max_weight_g:
        return False
    inner = sorted((box.length_mm, box.width_mm, box.height_mm))
    for it in items:
        if any(s > b for s, b in zip(sorted((it.length_mm, it.width_mm, it.height_mm)), inner)):
            return False
    volume = sum(it.length_mm * it.width_mm * it.height_mm * it.quantity for it in items)
    return volume <= FILL_FACTOR * box.volume_mm3


def suggest_box(items: Sequence[Item], boxes: Sequence[Box]) -> Box | None:
    """The smallest box the items fit in (module doc), None if none does or nothing is to pack."""
    _validate(items, boxes)
    if not any(it.quantity > 0 for it in items):
        return None
    ok = [b for b in boxes if fits(items, b)]
    if not ok:
        return None
    return min(ok, key=lambda b: (b.volume_mm3, -b.max_weight_g, b.code))
