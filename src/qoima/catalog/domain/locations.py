"""Location codes from a pattern, e.g. `A-01..20-01..50-1..4`: pure parsing and expansion.

The parts, separated by '-', are the zone (letters and digits, taken as they are),
the aisle, the bay and, optionally, the level; each of the last three is a number
or a range `low..high`. The numbers keep the width of the pattern's low end, so
`01..20` gives 01, 02, ... 20 and `1..4` gives 1 ... 4. `A-01..20-01..50-1..4`
makes 20 × 50 × 4 = 4,000 codes, A-01-01-1 to A-20-50-4.

Each location carries what the floor's routing reads (the contract with the
picking routes):
- `zone`, `aisle`, `position` (the bay), `level`: the pattern's parts as text;
- `x`: the aisle's index from left to right, an integer held in a float: the
  aisle number less one (aisle 01 is x = 0), or the number itself when the
  pattern numbers aisles from 0, so aisles made by two requests (01..10 then
  11..20) line up;
- `y`: metres from the aisle's front end to the centre of the bay: (bay index
  + 0.5) × bay width, the bay index counted the same way as the aisle's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qoima.platform.errors import ValidationError

MAX_LOCATIONS = 20_000
"""At most this many locations from one pattern (one request, one transaction)."""
MAX_CODE = 40  # locations.code
MAX_PART = 20  # locations.zone / aisle / position / level
MAX_BAY_WIDTH = 100.0

_ZONE = re.compile(r"^[A-Za-z0-9]{1,20}$")
_PART = re.compile(r"^(\d{1,6})(?:\.\.(\d{1,6}))?$")


@dataclass(frozen=True)
class Span:
    """One numeric part of the pattern: low..high, printed `width` digits wide."""
    low: int
    high: int
    width: int

    def __len__(self) -> int:
        return self.high - self.low + 1

    def text(self, n: int) -> str:
        return str(n).zfill(self.width)

    @property
    def origin(self) -> int:
        """The number that stands at index 0 (aisles and bays are numbered from 1, or from 0)."""
        return 0 if self.low == 0 else 1


@dataclass(frozen=True)
class Pattern:
    zone: str
    aisle: Span
    bay: Span
    level: Span | None

    @property
    def count(self) -> int:
        return len(self.aisle) * len(self.bay) * (len(self.level) if self.level else 1)


@dataclass(frozen=True)
class Cell:
    """One location a pattern makes."""
    code: str
    zone: str
    aisle: str
    position: str
    level: str
    x: float
    y: float


def _error(message: str, code: str, **params) -> ValidationError:
    return ValidationError(message, field="pattern", code=code, **params)


def _span(text: str, name: str) -> Span:
    m = _PART.match(text)
    if m is None:
        raise _error("the %(part)s must be a number or a range such as 01..20, got '%(value)s'",
                     "locations.pattern_part", part=name, value=text[:40])
    low, high = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
    if high < low:
        raise _error("the %(part)s range %(value)s runs backwards", "locations.pattern_backwards",
                     part=name, value=text)
    return Span(low, high, len(m.group(1)))


def parse(pattern: str) -> Pattern:
    """The pattern's parts, checked: a ValidationError (field 'pattern') names what is wrong."""
    text = (pattern or "").strip()
    parts = text.split("-")
    if not 3 <= len(parts) <= 4:
        raise _error("the pattern is ZONE-AISLES-BAYS[-LEVELS], e.g. A-01..20-01..50-1..4",
                     "locations.pattern_shape")
    if not _ZONE.match(parts[0]):
        raise _error("the zone must be 1 to 20 Latin letters or digits, got '%(value)s'",
                     "locations.pattern_zone", value=parts[0][:40])
    spans = [_span(p, name) for p, name in zip(parts[1:], ("aisle", "bay", "level"))]
    result = Pattern(parts[0], spans[0], spans[1], spans[2] if len(spans) > 2 else None)
    if result.count > MAX_LOCATIONS:
        raise _error("the pattern makes %(count)s locations, at most %(max)s at once", "locations.pattern_too_many",
                     count=result.count, max=MAX_LOCATIONS)
    longest = "-".join([result.zone] + [s.text(s.high) for s in spans])
    if len(longest) > MAX_CODE:
        raise _error("the codes would be longer than %(max)s characters", "locations.code_too_long", max=MAX_CODE)
    return result


def expand(pattern: Pattern, bay_width: float = 1.0) -> list[Cell]:
    """Every location of the pattern: aisle by aisle, bay by bay, level by level."""
    if not 0 < bay_width <= MAX_BAY_WIDTH:
        raise ValidationError("bay width must be above 0 and at most %(max)s m", field="bay_width",
                              code="locations.bay_width", max=f"{MAX_BAY_WIDTH:g}")
    levels = range(pattern.level.low, pattern.level.high + 1) if pattern.level else [None]
    cells = []
    for a in range(pattern.aisle.low, pattern.aisle.high + 1):
        aisle = pattern.aisle.text(a)
        x = float(a - pattern.aisle.origin)
        for b in range(pattern.bay.low, pattern.bay.high + 1):
            bay = pattern.bay.text(b)
            y = (b - pattern.bay.origin + 0.5) * bay_width
            for lv in levels:
                level = pattern.level.text(lv) if pattern.level and lv is not None else ""
                code = "-".join(p for p in (pattern.zone, aisle, bay, level) if p)
                cells.append(Cell(code, pattern.zone, aisle, bay, level, x, y))
    return cells
