"""Ship-by deadlines from a warehouse's cut-off, working days and time zone.

An order received on a working day before the cut-off ships the same day; after
the cut-off, or on a day off (a weekday outside the working days, or one of the
warehouse's holidays), it ships on the next working day. The ship-by
moment is the courier hand-over time of that day (local), returned in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


LOOK_AHEAD_DAYS = 400
"""How far ship_day looks for a working day (a year of holidays and closed weekdays, then the next day)."""


@dataclass(frozen=True)
class Calendar:
    timezone: str = "Asia/Almaty"
    cutoff: time = time(14, 0)
    handover: time = time(18, 0)
    working_days: str = "12345"  # ISO weekdays, 1 = Monday
    holidays: frozenset[date] = frozenset()  # local dates the warehouse does not work (warehouse_holidays)

    def is_working(self, d: date) -> bool:
        return str(d.isoweekday()) in self.working_days and d not in self.holidays


def parse_hhmm(text: str) -> time:
    hh, mm = text.strip().split(":")[:2]
    return time(int(hh), int(mm))


def ship_day(received_utc: datetime, cal: Calendar) -> date:
    local = _utc(received_utc).astimezone(ZoneInfo(cal.timezone))
    day = local.date()
    if cal.is_working(day) and local.time() < cal.cutoff:
        return day
    first = day + timedelta(days=1)
    for _ in range(LOOK_AHEAD_DAYS):
        day += timedelta(days=1)
        if cal.is_working(day):
            return day
    return first  # a calendar without working days ships the next day


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
