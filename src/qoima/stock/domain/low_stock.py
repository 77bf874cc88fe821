"""Low stock of a SKU: the pure rule behind the low-stock alerts (no I/O).

An alert is either a **threshold** (the SKU is low when the units available,
on hand less reserved, are at or below it) or **days of cover** (the SKU is low
when the available units last fewer days than that at the sales rate: units
ordered per day over the last `window_days`). A SKU that does not sell has
unbounded cover, so a days-of-cover alert never calls it low (a threshold does).

`step` says what the worker does with one alert on one check: the event fires
once when the SKU goes low (`FIRE`), nothing happens while it stays low, and the
alert is re-armed when the SKU recovers (`REARM`), so the next crossing fires again.
"""

from __future__ import annotations

from dataclasses import dataclass

THRESHOLD = "threshold"
DAYS_OF_COVER = "days_of_cover"
KINDS = (THRESHOLD, DAYS_OF_COVER)
THRESHOLD_MAX = 1_000_000_000  # the column's CHECK
COVER_DAYS_MAX = 3650
WINDOW_MAX = 365

FIRE, REARM = "fire", "rearm"


@dataclass(frozen=True)
class Level:
    """What the check knows of one SKU: available units and units ordered over the window."""
    available: int
    units_sold: int
    window_days: int


def daily_rate(units_sold: int, window_days: int) -> float:
    """Units per day over the window (0 for an empty window)."""
    return units_sold / window_days if window_days > 0 and units_sold > 0 else 0.0


def days_of_cover(level: Level) -> float | None:
    """How many days the available units last at the sales rate; None when the SKU does not sell."""
    rate = daily_rate(level.units_sold, level.window_days)
    if rate <= 0:
        return None
    return max(level.available, 0) / rate


def is_low(kind: str, value: int, level: Level) -> bool:
    if kind == THRESHOLD:
        return level.available <= value
    if kind == DAYS_OF_COVER:
        cover = days_of_cover(level)
        return cover is not None and cover < value
    raise ValueError(f"unknown alert kind {kind!r}")


def step(was_low: bool, now_low: bool) -> str | None:
    """FIRE on going low, REARM on recovering, None otherwise."""
    if now_low and not was_low:
        return FIRE
    if was_low and not now_low:
        return REARM
    return None


def setting_problem(kind: str, value: int, window_days: int) -> tuple[str, str, dict] | None:
    """(field, message template, params) of an alert setting out of bounds, or None."""
    if kind not in KINDS:
        return "kind", "the alert is a threshold or days of cover, not %(kind)s", {"kind": kind}
    if kind == THRESHOLD and not 0 <= value <= THRESHOLD_MAX:
        return "value", "the threshold must be between 0 and %(max)s units", {"max": THRESHOLD_MAX}
    if kind == DAYS_OF_COVER and not 1 <= value <= COVER_DAYS_MAX:
        return "value", "the days of cover must be between 1 and %(max)s", {"max": COVER_DAYS_MAX}
    if not 1 <= window_days <= WINDOW_MAX:
        return "window_days", "the sales window must be between 1 and %(max)s days", {"max": WINDOW_MAX}
    return None
