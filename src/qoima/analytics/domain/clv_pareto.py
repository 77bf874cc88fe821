"""Pareto/NBD purchase model.

Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987), "Counting Your
Customers: Who Are They and What Will They Do Next?", *Management Science* 33(1);
formulas from Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model and
Related Expressions" (eqs. 16-22).

Purchase rate ``lambda ~ Gamma(r, alpha)``, exponential lifetime with rate
``mu ~ Gamma(s, beta)``.  The likelihood is::

    L = G(r+x) alpha^r beta^s / G(r) * { 1 / ((alpha+T)^(r+x) (beta+T)^s)
                                         + s/(r+s+x) * A0 }

    A0 = F(t_x) - F(T)        with, for alpha >= beta,
    F(y) = 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+y)) / (alpha+y)^(r+s+x)
    and, for alpha < beta,
    F(y) = 2F1(r+s+x, r+x; r+s+x+1; (beta-alpha)/(beta+y)) / (beta+y)^(r+s+x).

Everything is evaluated in log space.  In the ``alpha < beta`` branch the 2F1
grows like ``(1-z)^(1-r-x)`` and overflows for heavy buyers, so Euler's
transformation ``2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z)`` is applied:
``log F(y) = log 2F1(1, s+1; r+s+x+1; z) + (1-r-x) log(alpha+y) - (s+1) log(beta+y)``.
No closed-form gradient is used (derivatives of 2F1 in its parameters):
L-BFGS-B runs on central finite differences, and the 2F1 terms are computed
once per distinct ``(x, t_x)`` and ``(x, T)`` pair rather than once per row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, gammaln

from qoima.analytics.domain.clv_common import FloatArray, RfmData, check_rfm, hyp2f1_stable, minimize_log_params, rfm_data, time_scale, unique_rows


@dataclass(frozen=True, slots=True)
class ParetoNbdParams:
    """Fitted Pareto/NBD parameters (``alpha`` and ``beta`` in the data's time unit)."""

    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    fit_seconds: float = 0.0

    model = "pareto"

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        return pareto_p_alive(self, x, t_x, T)

    def conditional_expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        return pareto_conditional_expected_purchases(self, t, x, t_x, T)

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        return pareto_expected_purchases(self, t)


def _log_F(r: float, alpha: float, s: float, beta: float, x: FloatArray, y: FloatArray) -> FloatArray:
    """log F(y) of the module docstring (one of the two terms of A0)."""
    rsx = r + s + x
    if alpha >= beta:
        z = (alpha - beta) / (alpha + y)
        return np.log(hyp2f1_stable(rsx, s + 1.0, rsx + 1.0, z)) - rsx * np.log(alpha + y)
    z = (beta - alpha) / (beta + y)
    return (
        np.log(hyp2f1_stable(1.0, s + 1.0, rsx + 1.0, z))
        + (1.0 - r - x) * np.log(alpha + y)
        - (s + 1.0) * np.log(beta + y)
    )


def _log_A0_from_F(f1: FloatArray, f2: FloatArray) -> FloatArray:
    """log(F(t_x) - F(T)) from the two logs; -inf when t_x == T (A0 = 0)."""
    with np.errstate(divide="ignore"):
        return f1 + np.log1p(-np.exp(np.minimum(f2 - f1, 0.0)))


def _log_A0(r: float, alpha: float, s: float, beta: float, x, t_x, T) -> FloatArray:
    return _log_A0_from_F(_log_F(r, alpha, s, beta, x, t_x), _log_F(r, alpha, s, beta, x, T))


def _combine(params: FloatArray, d: RfmData, log_A0: FloatArray) -> FloatArray:
    r, alpha, s, beta = params
    x = d.x
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + d.T) - s * np.log(beta + d.T)
    died = np.log(s) - np.log(r + s + x) + log_A0
    return head + np.logaddexp(alive, died)


def pareto_loglik_rows(params: FloatArray, d: RfmData) -> FloatArray:
    """Log-likelihood of each (compressed) row, unweighted (Fader-Hardie 2005 eq. 16)."""
    return _combine(params, d, _log_A0(*params, d.x, d.t_x, d.T))


@dataclass(frozen=True, slots=True)
class _Pairs:
    """Distinct ``(x, y)`` pairs over y in {t_x, T}: the 2F1 terms depend on
    nothing else, and there are far fewer pairs than rows (times are days)."""

    d: RfmData
    x: FloatArray
    y: FloatArray
    inv: NDArray[np.intp]  # first len(d.x) entries: (x, t_x) pairs; then (x, T)

    @classmethod
    def of(cls, d: RfmData) -> _Pairs:
        (px, py), _, inv = unique_rows([np.concatenate([d.x, d.x]), np.concatenate([d.t_x, d.T])])
        return cls(d, px, py, inv)

    def loglik_rows(self, params: FloatArray) -> FloatArray:
        log_F = _log_F(*params, self.x, self.y)
        n = len(self.d.x)
        return _combine(params, self.d, _log_A0_from_F(log_F[self.inv[:n]], log_F[self.inv[n:]]))


def pareto_log_likelihood(params: ParetoNbdParams | ArrayLike, data: RfmData) -> float:
    """Total (weighted) log-likelihood of ``data`` under Pareto/NBD ``params``."""
    if isinstance(params, ParetoNbdParams):
        params = [params.r, params.alpha, params.s, params.beta]
    return float((data.weight * pareto_loglik_rows(np.asarray(params, float), data)).sum())


def _neg_mean_ll(log_params: FloatArray, pairs: _Pairs) -> float:
    d = pairs.d
    with np.errstate(all="ignore"):
        value = -(d.weight @ pairs.loglik_rows(np.exp(log_params))) / d.weight.sum()
    return float(value) if np.isfinite(value) else 1e300


def fit_pareto(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    compress: bool = True,
) -> ParetoNbdParams:
    """Maximum-likelihood Pareto/NBD fit on compressed, time-rescaled data."""
    started = time.perf_counter()
    data = rfm_data(x, t_x, T, weights, compress=compress)
    scale = time_scale(data.T)
    pairs = _Pairs.of(data.scaled(scale))
    best = minimize_log_params(lambda lp: _neg_mean_ll(lp, pairs), np.zeros(4), jac=False)
    r, alpha, s, beta = np.exp(best)
    alpha, beta = alpha / scale, beta / scale
    ll = pareto_log_likelihood([r, alpha, s, beta], data)
    return ParetoNbdParams(
        float(r), float(alpha), float(s), float(beta),
        log_likelihood=ll, n_customers=data.n_customers,
        fit_seconds=time.perf_counter() - started,
    )


def pareto_p_alive(params: ParetoNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(alive | x, t_x, T) = 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0) (eq. 18)."""
    x, t_x, T = check_rfm(x, t_x, T)
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    log_odds = (
        np.log(s) - np.log(r + s + x)
        + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
        + _log_A0(r, alpha, s, beta, x, t_x, T)
    )
    return expit(-log_odds)


def _growth(s: float, beta_T: FloatArray, t: FloatArray) -> FloatArray:
    """(beta+T)/(s-1) * [1 - ((beta+T)/(beta+T+t))^(s-1)], with its s -> 1 limit."""
    log_ratio = np.log1p(t / beta_T)
    if abs(s - 1.0) < 1e-9:
        return beta_T * log_ratio
    return beta_T * -np.expm1(-(s - 1.0) * log_ratio) / (s - 1.0)


def pareto_conditional_expected_purchases(
    params: ParetoNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T] = (r+x)/(alpha+T) * (beta+T)/(s-1) * [1 - ((beta+T)/(beta+T+t))^(s-1)]
    * P(alive)  (Fader-Hardie 2005 eq. 22)."""
    x, t_x, T = check_rfm(x, t_x, T)
    t = np.asarray(t, dtype=np.float64)
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    return (r + x) / (alpha + T) * _growth(s, beta + T, t) * pareto_p_alive(params, x, t_x, T)


def pareto_expected_purchases(params: ParetoNbdParams, t: ArrayLike) -> FloatArray:
    """E[X(t)] = r beta / (alpha (s-1)) * [1 - (beta/(beta+t))^(s-1)]  (eq. 17)."""
    t = np.asarray(t, dtype=np.float64)
    return params.r / params.alpha * _growth(params.s, np.full_like(t, params.beta), t)
