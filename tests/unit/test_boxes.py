"""Box choice: the smallest box that passes weight, orientation and volume checks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qoima.floor.domain.boxes import FILL_FACTOR, Box, Item, fits, suggest_box
from qoima.platform.errors import ValidationError

S = Box("S", 200, 150, 100, 5_000)
M = Box("M", 300, 200, 150, 10_000)
L = Box("L", 400, 300, 250, 20_000)
LONG = Box("TUBE", 800, 100, 100, 3_000)
BOXES = (L, M, LONG, S)


def test_smallest_that_fits():
    assert suggest_box([Item(100, 100, 50, 300, 1)], BOXES) == S
    # a 190 mm item lying on its side still fits S (orientation)
    assert suggest_box([Item(90, 190, 140, 300, 1)], BOXES) == S
    # too heavy for S and M
    assert suggest_box([Item(100, 100, 50, 12_000, 1)], BOXES) == L
    # the longest side only fits the tube
    assert suggest_box([Item(700, 50, 50, 500, 1)], BOXES) == LONG
    # volume: 3 x 1.8 l = 5.4 l > 85 % of S (3 l) -> M (9 l); the tube (8 l) is too narrow
    assert suggest_box([Item(150, 120, 100, 100, 3)], BOXES) == M
    assert suggest_box([Item(1000, 10, 10, 1, 1)], BOXES) is None
    assert suggest_box([], BOXES) is None
    assert suggest_box([Item(10, 10, 10, 1, 0)], BOXES) is None
    assert suggest_box([Item(10, 10, 10, 1, 1)], []) is None


def test_bad_input_names_the_field():
    with pytest.raises(ValidationError) as e:
        suggest_box([Item(-1, 10, 10, 1, 1)], BOXES)
    assert e.value.field == "items[0].length_mm"
    with pytest.raises(ValidationError) as e:
        suggest_box([Item(1, 1, 1, 1, 1)], [Box("X", 0, 1, 1, 1)])
    assert e.value.field == "boxes[0].length_mm"


dims = st.integers(1, 500)
items_st = st.lists(st.builds(Item, dims, dims, dims, st.integers(0, 5000), st.integers(0, 4)), max_size=5)
boxes_st = st.lists(st.builds(Box, st.text("ABC", min_size=1, max_size=3), dims, dims, dims,
                              st.integers(0, 30_000)), max_size=6)


@settings(max_examples=300, deadline=None)
@given(items_st, boxes_st)
def test_the_choice_fits_and_no_smaller_box_does(items, boxes):
    best = suggest_box(items, boxes)
    if best is None:
        assert not any(it.quantity for it in items) or not any(fits(items, b) for b in boxes)
        return
    weight = sum(i.weight_g * i.quantity for i in items)
    volume = sum(i.length_mm * i.width_mm * i.height_mm * i.quantity for i in items)
    assert weight <= best.max_weight_g
    assert volume <= FILL_FACTOR * best.volume_mm3
    assert max(max(i.length_mm, i.width_mm, i.height_mm) for i in items if i.quantity) <= max(
        best.length_mm, best.width_mm, best.height_mm)
    for b in boxes:
        if b.volume_mm3 < best.volume_mm3:
            assert not fits(items, b)
