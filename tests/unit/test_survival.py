"""Survival estimators against published values.

Freireich et al. (1963) 6-MP leukaemia remission data as tabulated in
Kleinbaum & Klein, *Survival Analysis*, and reproduced by R
``survfit(Surv(time, status) ~ 1, conf.type = "log-log")``; log-rank 6-MP vs
placebo: chi2 = 16.8, p = 4.17e-5, O/E 9/19.25 and 21/10.75.
Wilson and Newcombe examples from Newcombe (1998), Stat Med 17:857-872 and
17:873-890.
"""

import numpy as np
import pytest

from qoima.analytics.domain import survival as sv

SIX_MP_T = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIX_MP_E = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PLACEBO_T = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


@pytest.mark.parametrize("resolution", [None, 1.0])
def test_kaplan_meier_six_mp(resolution):
    km = sv.kaplan_meier(SIX_MP_T, SIX_MP_E, resolution=resolution)
    assert km.time.tolist() == [6, 7, 10, 13, 16, 22, 23]
    assert km.n_at_risk.tolist() == [21, 17, 15, 12, 11, 7, 6]
    assert km.n_events.tolist() == [3, 1, 1, 1, 1, 1, 1]
    np.testing.assert_allclose(km.survival, [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448], atol=5e-4)
    np.testing.assert_allclose(km.std_err, [0.0764, 0.0869, 0.0963, 0.1068, 0.1141, 0.1282, 0.1346], atol=5e-5)
    np.testing.assert_allclose(km.lower, [0.620, 0.563, 0.503, 0.432, 0.368, 0.268, 0.188], atol=5e-4)
    np.testing.assert_allclose(km.upper, [0.952, 0.923, 0.889, 0.849, 0.805, 0.747, 0.680], atol=5e-4)
    med = sv.km_median(km)
    assert (med.median, med.lower, med.upper) == (23.0, 13.0, None)


def test_median_of_uncensored_group_and_exact_half():
    med = sv.km_median(sv.kaplan_meier(PLACEBO_T))
    assert (med.median, med.lower, med.upper) == (8.0, 4.0, 11.0)
    # S drops to exactly 0.5 at t=2 and stays until t=3: median is the midpoint, as in R
    assert sv.km_median(sv.kaplan_meier([1, 2, 3, 4])).median == 2.5


def test_logrank_six_mp_vs_placebo():
    lr = sv.logrank_test(SIX_MP_T, SIX_MP_E, PLACEBO_T, np.ones(len(PLACEBO_T)))
    assert lr.chi2 == pytest.approx(16.79, abs=0.01)
    assert lr.p_value == pytest.approx(4.17e-5, rel=0.01)
    assert (lr.observed_a, lr.observed_b) == (9, 21)
    assert lr.expected_a == pytest.approx(19.25, abs=0.01)
    assert lr.expected_b == pytest.approx(10.75, abs=0.01)


def test_km_curve_shapes():
    km = sv.kaplan_meier(SIX_MP_T, SIX_MP_E)
    t, s, lo, hi = sv.km_curve(km)
    assert t[0] == 0 and s[0] == 1 and len(t) == len(s) == len(lo) == len(hi) == 8
    t, s, lo, hi = sv.km_curve(km, np.arange(0, 50, 5))
    assert t.tolist() == [0, 5, 10, 15, 20, 25, 30, 35]  # clipped to the last observation (35)
    np.testing.assert_allclose(s[:4], [1.0, 1.0, 0.7529, 0.6902], atol=1e-4)
    assert np.all(lo <= s) and np.all(s <= hi)


def test_resolution_matches_exact_on_large_sample():
    rng = np.random.default_rng(5)
    t = rng.exponential(30, 50_000)
    e = rng.random(50_000) < 0.7
    exact = sv.km_median(sv.kaplan_meier(t, e)).median
    binned = sv.km_median(sv.kaplan_meier(t, e, resolution=1 / 1440)).median
    assert binned == pytest.approx(exact, abs=1 / 1440)


def test_bootstrap_median_difference_recovers_shift():
    rng = np.random.default_rng(11)
    ta = rng.exponential(20, 20_000)
    tb = rng.exponential(20, 20_000) + 3.0
    ea, eb = rng.random(20_000) < 0.9, rng.random(20_000) < 0.9
    lo, hi, diffs = sv.bootstrap_median_difference(ta, ea, tb, eb, n_boot=300, seed=1)
    assert lo < 3.0 < hi and lo > 1.5 and hi < 4.5
    assert diffs.size == 300
    again = sv.bootstrap_median_difference(ta, ea, tb, eb, n_boot=300, seed=1)
    assert (again[0], again[1]) == (lo, hi)


def test_wilson_interval_published_values():
    cases = {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605), (0, 20): (0.0, 0.1611),
             (1, 29): (0.0061, 0.1718)}
    for (x, n), (lo, hi) in cases.items():
        got = sv.wilson_interval(x, n)
        assert got == pytest.approx((lo, hi), abs=1e-4)
    lo, hi = sv.wilson_interval(np.array([81, 0]), np.array([263, 0]))
    assert lo[0] == pytest.approx(0.2553, abs=1e-4) and np.isnan(lo[1]) and np.isnan(hi[1])


def test_newcombe_difference_published_values():
    cases = {(56, 70, 48, 80): (0.0524, 0.3339), (9, 10, 3, 10): (0.1705, 0.8090),
             (5, 56, 0, 29): (-0.0381, 0.1926)}
    for args, (lo, hi) in cases.items():
        d, got_lo, got_hi = sv.newcombe_diff_interval(*args)
        assert d == pytest.approx(args[0] / args[1] - args[2] / args[3])
        assert (got_lo, got_hi) == pytest.approx((lo, hi), abs=1e-4)


def test_empty_and_invalid_inputs():
    km = sv.kaplan_meier([], [])
    assert km.n == 0 and sv.km_median(km).median is None
    with pytest.raises(ValueError):
        sv.kaplan_meier([1.0, -1.0], [1, 1])
    assert sv.logrank_test([], [], [1.0], [1]).p_value == 1.0
