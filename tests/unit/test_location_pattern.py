"""Location codes from a pattern (catalog/domain/locations.py): parsing, expansion, the routing coordinates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qoima.catalog.domain import locations as lp
from qoima.platform.errors import ValidationError


def test_the_example_pattern():
    p = lp.parse("A-01..20-01..50-1..4")
    assert p.count == 4000
    cells = lp.expand(p)
    assert len(cells) == 4000
    assert cells[0] == lp.Cell("A-01-01-1", "A", "01", "01", "1", 0.0, 0.5)
    assert cells[-1] == lp.Cell("A-20-50-4", "A", "20", "50", "4", 19.0, 49.5)
    assert len({c.code for c in cells}) == 4000


def test_bay_width_and_no_levels():
    cells = lp.expand(lp.parse("B-3-001..003"), bay_width=1.2)
    assert [c.code for c in cells] == ["B-3-001", "B-3-002", "B-3-003"]
    assert [c.y for c in cells] == pytest.approx([0.6, 1.8, 3.0])
    assert {c.x for c in cells} == {2.0} and {c.level for c in cells} == {""}


def test_numbering_from_zero_starts_at_index_zero():
    cells = lp.expand(lp.parse("Z-00..01-0..1"))
    assert [(c.code, c.x, c.y) for c in cells] == [("Z-00-0", 0.0, 0.5), ("Z-00-1", 0.0, 1.5),
                                                   ("Z-01-0", 1.0, 0.5), ("Z-01-1", 1.0, 1.5)]


def test_two_requests_line_up():
    first = lp.expand(lp.parse("A-01..10-01"))
    second = lp.expand(lp.parse("A-11..20-01"))
    assert [c.x for c in first + second] == [float(i) for i in range(20)]


@pytest.mark.parametrize("pattern, code", [
    ("", "locations.pattern_shape"), ("A-01", "locations.pattern_shape"), ("A-1-2-3-4", "locations.pattern_shape"),
    ("Ä-01-01", "locations.pattern_zone"), ("-01-01", "locations.pattern_zone"),
    ("A-x-01", "locations.pattern_part"), ("A-01..-01", "locations.pattern_part"),
    ("A-20..01-01", "locations.pattern_backwards"), ("A-1..200-1..200", "locations.pattern_too_many"),
    ("ABCDEFGHIJKLMNOPQRST-000001-000001-000001", "locations.code_too_long"),
])
def test_bad_patterns_are_refused_naming_the_field(pattern, code):
    with pytest.raises(ValidationError) as err:
        lp.parse(pattern)
    assert err.value.field == "pattern" and err.value.code == code


@pytest.mark.parametrize("width", [0, -1, 101, float("nan")])
def test_bad_bay_width(width):
    with pytest.raises(ValidationError) as err:
        lp.expand(lp.parse("A-1-1"), bay_width=width)
    assert err.value.field == "bay_width"


spans = st.tuples(st.integers(0, 30), st.integers(0, 12), st.integers(1, 3))


@given(zone=st.text("ABCXYZ019", min_size=1, max_size=3), aisle=spans, bay=spans,
       level=st.one_of(st.none(), spans), width=st.floats(0.1, 5))
def test_expansion_properties(zone, aisle, bay, level, width):
    def part(s):
        low, extra, digits = s
        return f"{str(low).zfill(digits)}..{str(low + extra).zfill(digits)}"
    parts = [zone, part(aisle), part(bay)] + ([part(level)] if level else [])
    p = lp.parse("-".join(parts))
    cells = lp.expand(p, width)
    expected = (aisle[1] + 1) * (bay[1] + 1) * ((level[1] + 1) if level else 1)
    assert len(cells) == p.count == expected
    assert len({c.code for c in cells}) == expected  # every code once
    for c in cells:
        pieces = c.code.split("-")
        assert pieces == [c.zone, c.aisle, c.position] + ([c.level] if level else [])
        assert len(c.aisle) >= aisle[2] and len(c.position) >= bay[2]  # the pattern's zero-padding kept
        assert c.x == int(c.x) and c.x == int(c.aisle) - (0 if aisle[0] == 0 else 1)  # an integer index
        assert c.y == pytest.approx((int(c.position) - (0 if bay[0] == 0 else 1) + 0.5) * width)
        assert aisle[0] <= int(c.aisle) <= aisle[0] + aisle[1]
    assert cells == sorted(cells, key=lambda c: (c.x, c.y, int(c.level or 0)))  # aisle by aisle, bay by bay
