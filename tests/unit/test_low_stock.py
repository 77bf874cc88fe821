"""The low-stock rule (stock/domain/low_stock.py): threshold and days of cover, and the once-per-crossing
steps the worker takes."""

from __future__ import annotations

from hypothesis import given, strategies as st

from qoima.stock.domain.low_stock import (DAYS_OF_COVER, FIRE, REARM, THRESHOLD, Level, days_of_cover, is_low,
                                          setting_problem, step)

units = st.integers(min_value=0, max_value=10**6)
windows = st.integers(min_value=1, max_value=365)


def test_threshold_is_at_or_below():
    assert is_low(THRESHOLD, 5, Level(5, 0, 30)) and is_low(THRESHOLD, 5, Level(0, 0, 30))
    assert not is_low(THRESHOLD, 5, Level(6, 0, 30))


def test_days_of_cover_from_the_sales_rate():
    lv = Level(available=20, units_sold=30, window_days=30)  # one a day: 20 days of cover
    assert days_of_cover(lv) == 20
    assert is_low(DAYS_OF_COVER, 21, lv) and not is_low(DAYS_OF_COVER, 20, lv)
    assert days_of_cover(Level(20, 0, 30)) is None and not is_low(DAYS_OF_COVER, 3650, Level(0, 0, 30))


@given(units, units, units, windows)
def test_less_stock_is_never_less_low(a, b, sold, window):
    lo, hi = sorted((a, b))
    for kind, value in ((THRESHOLD, 100), (DAYS_OF_COVER, 14)):
        if is_low(kind, value, Level(hi, sold, window)):
            assert is_low(kind, value, Level(lo, sold, window))


@given(units, units, units, windows)
def test_selling_faster_is_never_less_low(available, a, b, window):
    slow, fast = sorted((a, b))
    if is_low(DAYS_OF_COVER, 7, Level(available, slow, window)):
        assert is_low(DAYS_OF_COVER, 7, Level(available, fast, window))


@given(st.lists(st.booleans(), max_size=60))
def test_one_event_per_crossing_and_rearmed_on_recovery(lows):
    was, fired, crossings = False, 0, 0
    for now in lows:
        action = step(was, now)
        fired += action == FIRE
        if now and not was:
            crossings += 1
        assert action != REARM or (was and not now)
        was = now
    assert fired == crossings


def test_settings_out_of_bounds_name_their_field():
    assert setting_problem("threshold", -1, 30)[0] == "value"
    assert setting_problem("days_of_cover", 0, 30)[0] == "value"
    assert setting_problem("days_of_cover", 7, 0)[0] == "window_days"
    assert setting_problem("weekly", 1, 30)[0] == "kind"
    assert setting_problem("threshold", 0, 30) is None
