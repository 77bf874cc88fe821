"""Ship-by deadlines from a warehouse's cut-off, working days and time zone.

An order received on a working day before the cut-off ships the same day; after
the cut-off, or on a day off, it ships on the next working day. The ship-by
moment is the courier hand-over time of that day (local), returned in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Calendar:
    timezone: str = "Asia/Almaty"
    cutoff: time = time(14, 0)
    handover: time = time(18, 0)
    working_days: str = "12345"  # ISO weekdays, 1 = Monday

    def is_working(self, d: date) -> bool:
        return str(d.isoweekday()) in self.working_days


def parse_hhmm(text: str) -> time:
    hh, mm = text.strip().split(":")[:2]
    return time(int(hh), int(mm))


def ship_day(received_utc: datetime, cal: Calendar) -> date:
    local = _utc(received_utc).astimezone(ZoneInfo(cal.timezone))
    day = local.date()
    if cal.is_working(day) and local.time() < cal.cutoff:
        return day
    for _ in range(14):
        day += timedelta(days=1)
        if cal.is_working(day):
            return day
    return day  # a calendar without working days ships the next day


def ship_by(received_utc: datetime, cal: Calendar) -> datetime:
    day = ship_day(received_utc, cal)
    local = datetime.combine(day, cal.handover, tzinfo=ZoneInfo(cal.timezone))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def local_day_bounds(now_utc: datetime, tz: str) -> tuple[datetime, datetime]:
    """UTC (naive) start and end of the local calendar day containing now."""
    zone = ZoneInfo(tz)
    local = _utc(now_utc).astimezone(zone)
    start = datetime.combine(local.date(), time(0), tzinfo=zone)
    end = start + timedelta(days=1)
    return (start.astimezone(timezone.utc).replace(tzinfo=None), end.astimezone(timezone.utc).replace(tzinfo=None))


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt
