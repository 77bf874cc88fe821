"""Ship-by deadlines: cut-off, working days, time zones (incl. a DST zone)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from qoima.catalog.domain.calendar import Calendar, local_day_bounds, parse_hhmm, ship_by, ship_day

ALMATY = Calendar()  # Asia/Almaty, cut-off 14:00, hand-over 18:00, Monday-Friday
KYIV = Calendar(timezone="Europe/Kyiv")


def local(y, m, d, hh, mm, tz="Asia/Almaty") -> datetime:
    """A local wall-clock moment as naive UTC (how Qoima stores times)."""
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(tz)).astimezone(timezone.utc).replace(tzinfo=None)


# 2025-01-15 is a Wednesday, 2025-01-17 a Friday, 2025-01-20 a Monday.

def test_calendar_defaults():
    assert ALMATY.timezone == "Asia/Almaty"
    assert (ALMATY.cutoff, ALMATY.handover, ALMATY.working_days) == (time(14), time(18), "12345")
    assert ALMATY.is_working(date(2025, 1, 17)) and not ALMATY.is_working(date(2025, 1, 18))


def test_before_cutoff_ships_the_same_day():
    received = local(2025, 1, 15, 13, 59)
    assert ship_day(received, ALMATY) == date(2025, 1, 15)
    assert ship_by(received, ALMATY) == local(2025, 1, 15, 18, 0)


def test_almaty_is_utc_plus_5_since_2024():
    # Kazakhstan moved to a single zone, UTC+5, on 2024-03-01.
    assert ship_by(datetime(2025, 1, 15, 8, 0), ALMATY) == datetime(2025, 1, 15, 13, 0)


def test_at_and_after_cutoff_ships_the_next_working_day():
    assert ship_day(local(2025, 1, 15, 14, 0), ALMATY) == date(2025, 1, 16)  # exactly at the cut-off: too late
    assert ship_by(local(2025, 1, 15, 16, 30), ALMATY) == local(2025, 1, 16, 18, 0)


def test_friday_after_cutoff_ships_on_monday():
    assert ship_by(local(2025, 1, 17, 15, 0), ALMATY) == local(2025, 1, 20, 18, 0)
    assert ship_by(local(2025, 1, 17, 23, 59), ALMATY) == local(2025, 1, 20, 18, 0)


@pytest.mark.parametrize("day", [18, 19])  # Saturday, Sunday
@pytest.mark.parametrize("hh", [0, 9, 13, 15, 23])
def test_weekend_orders_ship_on_monday(day, hh):
    assert ship_by(local(2025, 1, day, hh, 0), ALMATY) == local(2025, 1, 20, 18, 0)


def test_saturday_working_calendar():
    six_days = Calendar(working_days="123456")
    assert ship_by(local(2025, 1, 18, 10, 0), six_days) == local(2025, 1, 18, 18, 0)
    assert ship_by(local(2025, 1, 18, 15, 0), six_days) == local(2025, 1, 20, 18, 0)  # Sunday off


def test_the_local_day_counts_not_the_utc_day():
    # 20:30 UTC on Wednesday is 01:30 on Thursday in Almaty: ships Thursday (before cut-off).
    received = datetime(2025, 1, 15, 20, 30)
    assert ship_day(received, ALMATY) == date(2025, 1, 16)
    assert ship_by(received, ALMATY) == local(2025, 1, 16, 18, 0)
    # The same UTC moment is still Wednesday 22:30 in Kyiv: after cut-off, ships Thursday.
    assert ship_day(received, KYIV) == date(2025, 1, 16)
    # 08:30 UTC: 13:30 in Almaty (before cut-off), 10:30 in Kyiv (before cut-off)
    assert ship_by(datetime(2025, 1, 15, 8, 30), ALMATY) == datetime(2025, 1, 15, 13, 0)
    assert ship_by(datetime(2025, 1, 15, 8, 30), KYIV) == datetime(2025, 1, 15, 16, 0)


def test_almaty_versus_kyiv_for_the_same_moment():
    # 10:00 UTC = 15:00 Almaty (after cut-off) = 12:00 Kyiv (before cut-off)
    moment = datetime(2025, 1, 15, 10, 0)
    assert ship_day(moment, ALMATY) == date(2025, 1, 16)
    assert ship_day(moment, KYIV) == date(2025, 1, 15)
    assert ship_by(moment, ALMATY) == datetime(2025, 1, 16, 13, 0)  # 18:00 UTC+5
    assert ship_by(moment, KYIV) == datetime(2025, 1, 15, 16, 0)  # 18:00 UTC+2 (winter)


def test_kyiv_summer_time_moves_the_cutoff_in_utc():
    # 11:30 UTC is 13:30 in Kyiv in winter (UTC+2) but 14:30 in summer (UTC+3).
    assert ship_by(datetime(2025, 1, 15, 11, 30), KYIV) == datetime(2025, 1, 15, 16, 0)
    assert ship_by(datetime(2025, 7, 16, 11, 30), KYIV) == datetime(2025, 7, 17, 15, 0)


def test_friday_after_cutoff_across_the_spring_dst_switch():
    # Ukraine switches to summer time on Sunday 2025-03-30. Friday 28th after cut-off ships
    # Monday 31st at 18:00 local, which is 15:00 UTC (not 16:00 as on the Friday).
    friday_late = datetime(2025, 3, 28, 13, 0)  # 15:00 Kyiv (UTC+2)
    assert ship_by(friday_late, KYIV) == datetime(2025, 3, 31, 15, 0)
    assert ship_by(datetime(2025, 3, 28, 10, 0), KYIV) == datetime(2025, 3, 28, 16, 0)


def test_autumn_dst_switch():
    # Summer time ends Sunday 2025-10-26: Friday 24th ships at 15:00 UTC, Monday 27th at 16:00 UTC.
    assert ship_by(datetime(2025, 10, 24, 10, 0), KYIV) == datetime(2025, 10, 24, 15, 0)
    assert ship_by(datetime(2025, 10, 24, 12, 0), KYIV) == datetime(2025, 10, 27, 16, 0)


def test_aware_datetimes_are_converted_not_relabelled():
    aware = datetime(2025, 1, 15, 13, 30, tzinfo=ZoneInfo("Asia/Almaty"))  # 08:30 UTC, before cut-off
    assert ship_by(aware, ALMATY) == datetime(2025, 1, 15, 13, 0)
    assert ship_by(aware, ALMATY) == ship_by(datetime(2025, 1, 15, 8, 30), ALMATY)


def test_result_is_naive_utc_and_never_before_receipt():
    start = datetime(2025, 1, 13, 0, 0)
    for hours in range(0, 24 * 14, 1):
        received = start + timedelta(hours=hours, minutes=17)
        for cal in (ALMATY, KYIV):
            due = ship_by(received, cal)
            assert due.tzinfo is None
            assert received < due <= received + timedelta(days=3, hours=18)
            assert cal.is_working(due.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(cal.timezone)).date())


def test_custom_cutoff_and_handover():
    cal = Calendar(cutoff=parse_hhmm("11:30"), handover=parse_hhmm("16:00"))
    assert ship_by(local(2025, 1, 15, 11, 29), cal) == local(2025, 1, 15, 16, 0)
    assert ship_by(local(2025, 1, 15, 11, 30), cal) == local(2025, 1, 16, 16, 0)


def test_parse_hhmm():
    assert parse_hhmm("14:00") == time(14, 0)
    assert parse_hhmm(" 09:05 ") == time(9, 5)
    assert parse_hhmm("18:30:00") == time(18, 30)
    with pytest.raises(ValueError):
        parse_hhmm("25:00")
    with pytest.raises(ValueError):
        parse_hhmm("noon")


def test_local_day_bounds_in_almaty_and_kyiv():
    start, end = local_day_bounds(datetime(2025, 1, 15, 20, 30), "Asia/Almaty")  # Thursday 01:30 local
    assert (start, end) == (datetime(2025, 1, 15, 19, 0), datetime(2025, 1, 16, 19, 0))
    start, end = local_day_bounds(datetime(2025, 7, 16, 12, 0), "Europe/Kyiv")
    assert (start, end) == (datetime(2025, 7, 15, 21, 0), datetime(2025, 7, 16, 21, 0))


def test_local_day_bounds_on_the_short_dst_day():
    start, end = local_day_bounds(datetime(2025, 3, 30, 12, 0), "Europe/Kyiv")
    assert start == datetime(2025, 3, 29, 22, 0)  # midnight at UTC+2
    assert end == datetime(2025, 3, 30, 21, 0)  # next midnight at UTC+3
    assert end - start == timedelta(hours=23)


def test_holidays_are_skipped_like_days_off():
    """A holiday is a day off: an order of the day before, after the cut-off, ships on the next working day."""
    new_year = Calendar(holidays=frozenset({date(2025, 1, 1), date(2025, 1, 2)}))
    # Tuesday 31 December 2024, 15:00 in Almaty: after the cut-off; Wednesday and Thursday are holidays
    assert ship_day(local(2024, 12, 31, 15, 0), new_year) == date(2025, 1, 3)
    assert ship_day(local(2025, 1, 1, 9, 0), new_year) == date(2025, 1, 3)  # on a holiday, before the cut-off
    assert ship_day(local(2024, 12, 31, 15, 0), ALMATY) == date(2025, 1, 1)  # without them: the next day
    # a Friday holiday before the weekend: Monday
    friday = Calendar(holidays=frozenset({date(2025, 1, 17)}))
    assert ship_day(local(2025, 1, 16, 15, 0), friday) == date(2025, 1, 20)
    assert ship_by(local(2025, 1, 16, 15, 0), friday) == local(2025, 1, 20, 18, 0)


def test_a_long_closure_is_looked_past():
    closed = Calendar(holidays=frozenset(date(2025, 2, 1) + timedelta(days=i) for i in range(60)))
    assert ship_day(local(2025, 1, 31, 15, 0), closed) == date(2025, 4, 2)
