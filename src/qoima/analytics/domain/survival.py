"""Survival analysis and proportion intervals, written out in numpy.

Why hand-written: `lifelines` pulls in pandas, matplotlib and autograd and works
on pandas frames row by row in places; the estimators needed here (Kaplan-Meier
with Greenwood variance, log-rank, Wilson and Newcombe intervals, a bootstrap of
a median difference) are a few vectorized lines each, run on millions of
durations in well under a second and are checked against published values in
`tests/unit/test_survival.py` (Freireich 6-MP leukaemia data, Newcombe 1998).

Conventions
-----------
* ``durations`` are non-negative floats (any unit; the callers use days),
  ``events`` are booleans: True = the event happened at that time, False = the
  observation was right-censored then (we stopped watching; the event may still
  happen later).
* At tied times events are counted before censorings (the usual KM convention),
  so a subject censored at t is still at risk for events at t.
* Confidence intervals use a two-sided normal quantile ``z`` for ``conf_level``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "KMResult",
    "MedianEstimate",
    "LogRankResult",
    "kaplan_meier",
    "km_median",
    "km_curve",
    "survival_at",
    "logrank_test",
    "logrank_test_grouped",
    "bootstrap_median_difference",
    "wilson_interval",
    "newcombe_diff_interval",
]


def _z(conf_level: float) -> float:
    return float(stats.norm.ppf(0.5 + conf_level / 2.0))


# --------------------------------------------------------------------------- KM


@dataclass(frozen=True)
class KMResult:
    """Kaplan-Meier estimate at the distinct event times.

    ``time[i]`` is the i-th distinct time with at least one event,
    ``n_at_risk[i]`` the subjects still under observation just before it,
    ``n_events[i]`` the events at it.  ``survival[i]`` = prod_{j<=i}
    (1 - d_j / n_j) is S(t) on [time[i], time[i+1]).  ``std_err`` is the
    Greenwood standard error of S: sqrt(S^2 * sum d_j / (n_j (n_j - d_j))).
    ``lower``/``upper`` are pointwise log-log intervals:
    S ** exp(+-z * se_loglog) with se_loglog = sqrt(sum d/(n(n-d))) / |log S|
    (never outside [0, 1]; equal to S where S is 0 or 1).
    """

    time: np.ndarray
    n_at_risk: np.ndarray
    n_events: np.ndarray
    survival: np.ndarray
    std_err: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n: int
    n_events_total: int
    max_time: float
    conf_level: float = 0.95


def _as_arrays(durations, events) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(durations, dtype=np.float64).ravel()
    if events is None:
        e = np.ones(t.shape, dtype=bool)
    else:
        e = np.asarray(events, dtype=bool).ravel()
    if t.shape != e.shape:
        raise ValueError("durations and events must have the same length")
    if t.size and (np.isnan(t).any() or t.min() < 0):
        raise ValueError("durations must be non-negative numbers")
    return t, e


def _aggregate(t: np.ndarray, e: np.ndarray, g: np.ndarray | None, resolution: float | None, presorted: bool):
    """Collapse subjects to distinct times: (time, events, subjects[, events_a, subjects_a]).

    With ``resolution`` durations are floored to multiples of it and counted
    with ``bincount`` (no sort: O(n)); otherwise exact times are used (sorted
    unless ``presorted``).  Times come back ascending.
    """
    if resolution:
        k = np.floor(t / resolution).astype(np.int64)
        size = int(k.max()) + 1 if k.size else 0
        cnt = np.bincount(k, minlength=size)
        nz = np.flatnonzero(cnt)
        out = [nz * float(resolution), np.bincount(k, weights=e, minlength=size)[nz].astype(np.int64), cnt[nz]]
        if g is not None:
            out.append(np.bincount(k, weights=e & g, minlength=size)[nz].astype(np.int64))
            out.append(np.bincount(k, weights=g, minlength=size)[nz].astype(np.int64))
        return out
    if not presorted:
        order = np.argsort(t, kind="stable")
        t, e = t[order], e[order]
        g = None if g is None else g[order]
    if t.size == 0:
        z = np.zeros(0, dtype=np.int64)
        return [np.zeros(0), z, z] + ([] if g is None else [z, z])
    starts = np.concatenate(([0], np.flatnonzero(t[1:] != t[:-1]) + 1))
    cnt = np.diff(np.append(starts, t.size))
    out = [t[starts], np.add.reduceat(e.astype(np.int64), starts), cnt]
    if g is not None:
        out.append(np.add.reduceat((e & g).astype(np.int64), starts))
        out.append(np.add.reduceat(g.astype(np.int64), starts))
    return out


def _at_risk(cnt: np.ndarray) -> np.ndarray:
    """Subjects with time >= each distinct time (total minus those before)."""
    return cnt.sum() - (np.cumsum(cnt) - cnt)


def kaplan_meier(durations, events=None, conf_level: float = 0.95, *, presorted: bool = False,
                 resolution: float | None = None) -> KMResult:
    """Kaplan-Meier survival estimate with Greenwood variance and log-log CI.

    ``presorted=True`` skips the sort when ``durations`` is already ascending.
    ``resolution`` (e.g. 1/1440 of a day) floors durations to that grid and
    aggregates with a counting pass instead of a sort: the estimate is the exact
    KM of the rounded durations, which is O(n) and fast on millions of subjects.
    """
    t, e = _as_arrays(durations, events)
    n = t.size
    if n == 0:
        empty = np.zeros(0)
        return KMResult(empty, empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty, empty,
                        0, 0, 0.0, conf_level)
    times, d_all, cnt = _aggregate(t, e, None, resolution, presorted)
    r_all = _at_risk(cnt)
    keep = d_all > 0
    time, d, r = times[keep], d_all[keep], r_all[keep]
    s = np.cumprod(1.0 - d / r)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(r > d, d / (r * (r - d).astype(np.float64)), np.inf)
        cum = np.cumsum(term)
        se = np.where(s == 0, 0.0, np.where(np.isfinite(cum), s * np.sqrt(cum), np.nan))
        z = _z(conf_level)
        se_ll = np.sqrt(cum) / np.abs(np.log(s))
        lo = s ** np.exp(z * se_ll)
        hi = s ** np.exp(-z * se_ll)
    edge = (s <= 0) | (s >= 1) | ~np.isfinite(se_ll)
    lo = np.where(edge, s, lo)
    hi = np.where(edge, s, hi)
    return KMResult(time, r.astype(np.int64), d.astype(np.int64), s, se, lo, hi,
                    int(n), int(e.sum()), float(times[-1]), conf_level)


def survival_at(km: KMResult, times) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """S(t), lower(t), upper(t) of the step function at arbitrary ``times``.

    Before the first event S = 1.  After the last observation the value of the
    last step is carried (callers should not chart beyond ``km.max_time``).
    """
    tq = np.asarray(times, dtype=np.float64)
    idx = np.searchsorted(km.time, tq, side="right") - 1
    pad = lambda a: np.concatenate(([1.0], a))  # noqa: E731 - index -1 -> S = 1
    return pad(km.survival)[idx + 1], pad(km.lower)[idx + 1], pad(km.upper)[idx + 1]


def km_curve(km: KMResult, grid=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The KM curve for charting as four arrays ``(t, S, lo, hi)``.

    Without ``grid``: the step corners, starting at (0, 1), one point per event
    time (draw with a "step-after" line).  With ``grid`` (e.g. 0..180 days):
    the step function evaluated at those points, clipped to the last observed
    time (points beyond it are dropped).
    """
    if grid is None:
        t = np.concatenate(([0.0], km.time))
        s = np.concatenate(([1.0], km.survival))
        lo = np.concatenate(([1.0], km.lower))
        hi = np.concatenate(([1.0], km.upper))
        return t, s, lo, hi
    g = np.asarray(grid, dtype=np.float64)
    g = g[g <= km.max_time] if km.n else g[:0]
    s, lo, hi = survival_at(km, g)
    return g, s, lo, hi


@dataclass(frozen=True)
class MedianEstimate:
    """Median survival time and its confidence interval (None = not reached)."""

    median: float | None
    lower: float | None
    upper: float | None


def _first_crossing(time: np.ndarray, curve: np.ndarray, level: float = 0.5) -> float | None:
    """Smallest t with curve(t) <= level; if the curve sits exactly at ``level``
    over a flat stretch the midpoint to the next step is taken (as R does)."""
    hit = np.flatnonzero(curve <= level + 1e-12)
    if hit.size == 0:
        return None
    i = int(hit[0])
    if abs(curve[i] - level) < 1e-12 and i + 1 < time.size:
        return float((time[i] + time[i + 1]) / 2.0)
    return float(time[i])


def km_median(km: KMResult) -> MedianEstimate:
    """Median survival time: the smallest t with S(t) <= 0.5.

    CI by Brookmeyer & Crowley (1982) in the form used by R's ``survfit``: the
    set of t whose pointwise log-log interval contains 0.5, i.e. lower limit =
    first t with ``lower(t) <= 0.5``, upper limit = first t with
    ``upper(t) <= 0.5``.  A bound that is never reached is None (unbounded).
    """
    if km.time.size == 0:
        return MedianEstimate(None, None, None)
    return MedianEstimate(
        _first_crossing(km.time, km.survival),
        _first_crossing(km.time, km.lower),
        _first_crossing(km.time, km.upper),
    )


# --------------------------------------------------------------------- log-rank


@dataclass(frozen=True)
class LogRankResult:
    """Mantel-Haenszel log-rank test of equal hazards in two groups (1 df)."""

    chi2: float
    p_value: float
    observed_a: int
    expected_a: float
    observed_b: int
    expected_b: float


def logrank_test_grouped(durations, events, in_a, *, presorted: bool = False,
                         resolution: float | None = None) -> LogRankResult:
    """Log-rank test for one array of subjects split by the boolean ``in_a``.

    At each distinct event time t_j with n_j at risk (n_aj of them in A) and
    d_j events: E_a = sum d_j n_aj / n_j and
    V = sum d_j (n_aj/n_j)(1 - n_aj/n_j)(n_j - d_j)/(n_j - 1);
    chi2 = (O_a - E_a)^2 / V, p from the chi-square distribution with 1 df.
    ``presorted`` and ``resolution`` as in `kaplan_meier`.
    """
    t, e = _as_arrays(durations, events)
    g = np.asarray(in_a, dtype=bool).ravel()
    if t.size == 0 or not e.any():
        return LogRankResult(0.0, 1.0, 0, 0.0, 0, 0.0)
    _, d, cnt, d_a, cnt_a = _aggregate(t, e, g, resolution, presorted)
    n_at = _at_risk(cnt).astype(np.float64)
    n_a = _at_risk(cnt_a).astype(np.float64)
    d = d.astype(np.float64)
    frac = n_a / n_at
    exp_a = float(np.sum(d * frac))
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(n_at > 1, d * frac * (1 - frac) * (n_at - d) / (n_at - 1), 0.0)
    var = float(v.sum())
    obs_a = int(d_a.sum())
    total = int(d.sum())
    if var <= 0:
        return LogRankResult(0.0, 1.0, obs_a, exp_a, total - obs_a, total - exp_a)
    chi2 = (obs_a - exp_a) ** 2 / var
    return LogRankResult(float(chi2), float(stats.chi2.sf(chi2, 1)), obs_a, exp_a, total - obs_a, total - exp_a)


def logrank_test(durations_a, events_a, durations_b, events_b) -> LogRankResult:
    """Log-rank test between group A and group B (see `logrank_test_grouped`)."""
    ta, ea = _as_arrays(durations_a, events_a)
    tb, eb = _as_arrays(durations_b, events_b)
    g = np.concatenate((np.ones(ta.size, bool), np.zeros(tb.size, bool)))
    return logrank_test_grouped(np.concatenate((ta, tb)), np.concatenate((ea, eb)), g)


# -------------------------------------------------------------------- bootstrap


def _binned_cells(t, e, width: float, n_bins: int) -> np.ndarray:
    """Counts per (bin, status) cell: [events per bin | censored per bin | beyond]."""
    inside = t < width * n_bins
    idx = (t[inside] / width).astype(np.int64)
    ev = np.bincount(idx, weights=e[inside], minlength=n_bins)
    al = np.bincount(idx, minlength=n_bins)
    return np.concatenate((ev, al - ev, [float((~inside).sum())]))


def _medians_from_cells(cells: np.ndarray, width: float, n_bins: int) -> np.ndarray:
    """KM median per row of a (B, 2K+1) matrix of cell counts; inf = not reached."""
    d, c = cells[:, :n_bins], cells[:, n_bins:2 * n_bins]
    total = cells.sum(axis=1, keepdims=True)
    removed = np.cumsum(d + c, axis=1) - (d + c)
    at_risk = total - removed
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(at_risk > 0, d / at_risk, 0.0)
    s = np.cumprod(1.0 - h, axis=1)
    hit = s <= 0.5
    first = hit.argmax(axis=1)
    return np.where(hit.any(axis=1), (first + 0.5) * width, np.inf)


def bootstrap_median_difference(durations_a, events_a, durations_b, events_b, *, n_boot: int = 300,
                                seed: int = 0, conf_level: float = 0.95, horizon: float | None = None,
                                max_bins: int = 2000) -> tuple[float | None, float | None, np.ndarray]:
    """Percentile bootstrap CI of median_KM(B) - median_KM(A).

    Subjects are resampled with replacement within each group (``n_boot``
    times, fixed ``seed``).  To do that for millions of subjects at once,
    durations are put on a grid of ``max_bins`` bins of equal width up to
    ``horizon`` (default: the last observed time); every subject beyond the
    horizon is pooled into one "still at risk" cell, which leaves S(t) for
    t < horizon exactly as it was.  Resampling subjects is then a multinomial
    draw over (bin, event/censored) cells, and the KM median of every resample
    is computed as a matrix operation.  Medians are located at bin midpoints,
    so the bounds carry at most half a bin of rounding.  A resample whose curve
    does not reach 0.5 before the horizon has an infinite median; the bounds
    are then infinite (returned as None).

    Returns ``(lower, upper, differences)``; bounds are None when undefined.
    """
    ta, ea = _as_arrays(durations_a, events_a)
    tb, eb = _as_arrays(durations_b, events_b)
    if ta.size == 0 or tb.size == 0:
        return None, None, np.zeros(0)
    top = float(horizon) if horizon else float(max(ta.max(), tb.max()))
    width = max(top / max_bins, 1e-9)
    n_bins = int(np.ceil(top / width)) + 1
    rng = np.random.default_rng(seed)
    meds = []
    for t, e in ((ta, ea), (tb, eb)):
        cells = _binned_cells(t, e, width, n_bins)
        nz = np.flatnonzero(cells)  # draw only over occupied cells
        draws = np.zeros((n_boot, cells.size))
        draws[:, nz] = rng.multinomial(t.size, cells[nz] / cells.sum(), size=n_boot)
        meds.append(_medians_from_cells(draws, width, n_bins))
    with np.errstate(invalid="ignore"):
        diffs = meds[1] - meds[0]
    diffs = diffs[~np.isnan(diffs)]  # both infinite: the resample says nothing
    if diffs.size == 0:
        return None, None, diffs
    alpha = (1 - conf_level) / 2
    lo, hi = np.quantile(diffs, [alpha, 1 - alpha], method="inverted_cdf")
    fin = lambda x: float(x) if np.isfinite(x) else None  # noqa: E731
    return fin(lo), fin(hi), diffs


# ------------------------------------------------------------------ proportions


def wilson_interval(successes, n, conf_level: float = 0.95):
    """Wilson score interval for a proportion x/n (vectorized over arrays).

    centre = (p + z^2/2n) / (1 + z^2/n),
    half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2).
    Returns ``(lower, upper)``; NaN where n == 0.
    """
    x = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    z = _z(conf_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / m
        denom = 1 + z * z / m
        centre = (p + z * z / (2 * m)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m))
        lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    lo, hi = np.where(m > 0, lo, np.nan), np.where(m > 0, hi, np.nan)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def newcombe_diff_interval(x1, n1, x2, n2, conf_level: float = 0.95):
    """Difference p1 - p2 with Newcombe's hybrid score interval (method 10).

    With Wilson limits (l1, u1), (l2, u2):
    lower = d - sqrt((p1 - l1)^2 + (u2 - p2)^2),
    upper = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).
    Returns ``(difference, lower, upper)``; NaN if either n is 0.
    """
    l1, u1 = wilson_interval(x1, n1, conf_level)
    l2, u2 = wilson_interval(x2, n2, conf_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = np.asarray(x1, dtype=np.float64) / np.asarray(n1, dtype=np.float64)
        p2 = np.asarray(x2, dtype=np.float64) / np.asarray(n2, dtype=np.float64)
    d = p1 - p2
    lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    if np.ndim(d) == 0:
        return float(d), float(lo), float(hi)
    return d, lo, hi
