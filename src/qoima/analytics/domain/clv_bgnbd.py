"""BG/NBD ("beta-geometric / negative binomial") purchase model.

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your Customers'
the Easy Way: An Alternative to the Pareto/NBD Model", *Marketing Science* 24(2),
275-284; and Fader & Hardie, "Computing P(alive) Using the BG/NBD Model" (2008).

While alive a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; after
every repeat purchase they drop out with probability ``p ~ Beta(a, b)``.

Per-customer likelihood (FHL 2005 eq. 6), written in log space::

    log L = lnG(r+x) - lnG(r) + r ln(alpha) + lnB(a, b+x) - lnB(a, b)
            + logaddexp( -(r+x) ln(alpha+T),
                         [x>0] (ln a - ln(b+x-1) - (r+x) ln(alpha+t_x)) )

Only ``gammaln``/``log``/``logaddexp`` appear, so x = 500 purchases over T = 1000
weeks cannot overflow.  The gradient with respect to ``log(r, alpha, a, b)`` is
analytic (digamma terms), which makes L-BFGS-B converge in a few dozen steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, expit, gammaln

from qoima.analytics.domain.clv_common import FloatArray, RfmData, check_rfm, hyp2f1_stable, minimize_log_params, rfm_data, time_scale


WARM_START_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class BgNbdParams:
    """Fitted BG/NBD parameters (``alpha`` is in the data's time unit)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    fit_seconds: float = 0.0

    model = "bgnbd"

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        return bgnbd_p_alive(self, x, t_x, T)

    def conditional_expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        return bgnbd_conditional_expected_purchases(self, t, x, t_x, T)

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        return bgnbd_expected_purchases(self, t)


def bgnbd_loglik_rows(params: FloatArray, d: RfmData) -> FloatArray:
    """Log-likelihood of each (compressed) row, unweighted."""
    r, alpha, a, b = params
    x = d.x
    base = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    base += gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    l3 = -(r + x) * np.log(alpha + d.T)
    bx1 = np.where(x > 0, b + x - 1.0, 1.0)  # avoid log(b-1) on x == 0 rows
    l4 = np.where(x > 0, np.log(a) - np.log(bx1) - (r + x) * np.log(alpha + d.t_x), -np.inf)
    return base + np.logaddexp(l3, l4)


@dataclass(frozen=True, slots=True)
class _Grouped:
    """The fitting data arranged so that one likelihood evaluation touches each
    row only with cheap gathers and multiplies:

    - gammaln/digamma terms depend on x only: evaluated once per distinct x;
    - ln(alpha+T), ln(alpha+t_x) and their reciprocals are evaluated once per
      distinct T / t_x (a few hundred values when times are whole days) and
      gathered by index;
    - non-buyers (x = 0) have no ``logaddexp`` term at all: they are summed
      per distinct T.
    """

    xu: FloatArray  # distinct frequencies
    wx: FloatArray  # total weight per distinct frequency
    Tu: FloatArray  # distinct ages
    w0_T: FloatArray  # weight of non-buyers per distinct age
    txu: FloatArray  # distinct recencies
    # buyers (x > 0), one entry per row
    ix: NDArray[np.intp]
    iT: NDArray[np.intp]
    itx: NDArray[np.intp]
    xb: FloatArray
    wb: FloatArray
    n: float

    @classmethod
    def of(cls, d: RfmData) -> _Grouped:
        xu, inv_x = np.unique(d.x, return_inverse=True)
        Tu, inv_T = np.unique(d.T, return_inverse=True)
        txu, inv_tx = np.unique(d.t_x, return_inverse=True)
        buyer = d.x > 0
        w0 = np.where(buyer, 0.0, d.weight)
        return cls(xu, np.bincount(inv_x.ravel(), weights=d.weight, minlength=len(xu)), Tu,
                   np.bincount(inv_T.ravel(), weights=w0, minlength=len(Tu)), txu,
                   inv_x.ravel()[buyer], inv_T.ravel()[buyer], inv_tx.ravel()[buyer], d.x[buyer],
                   d.weight[buyer], float(d.weight.sum()))

    def subsample(self, share: float, rng: np.random.Generator) -> _Grouped:
        """Buyers thinned to ``share`` (re-weighted), for a cheap warm start."""
        keep = rng.random(len(self.xb)) < share
        return _Grouped(self.xu, self.wx, self.Tu, self.w0_T, self.txu, self.ix[keep], self.iT[keep],
                        self.itx[keep], self.xb[keep], self.wb[keep] / share, self.n)


def _dot(a: FloatArray, b: FloatArray) -> float:
    """Inner product without BLAS: OpenBLAS threads spin against each other on a
    busy 2-core machine and made one likelihood evaluation 4x slower."""
    return float(np.einsum("i,i->", a, b))


def _neg_ll_and_grad(log_params: FloatArray, g: _Grouped) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood and its gradient in log(r, alpha, a, b)."""
    params = np.exp(log_params)
    r, alpha, a, b = params
    xu, wx = g.xu, g.wx
    per_x = gammaln(r + xu) - gammaln(r) + r * np.log(alpha)
    per_x += gammaln(a + b) + gammaln(b + xu) - gammaln(b) - gammaln(a + b + xu)
    bx1 = np.where(xu > 0, b + xu - 1.0, 1.0)
    log_aT, log_atx = np.log(alpha + g.Tu), np.log(alpha + g.txu)
    # non-buyers: -r ln(alpha+T), summed per distinct T
    ll = _dot(wx, per_x) - r * _dot(g.w0_T, log_aT)
    # buyers: logaddexp(l3, l4) = l3 + log1p(exp(l4 - l3))
    rx = r + g.xb
    lT, ltx = log_aT[g.iT], log_atx[g.itx]
    l3 = -rx * lT
    diff = (np.log(a) - np.log(bx1))[g.ix] - rx * (ltx - lT)
    ll += _dot(g.wb, l3 + np.logaddexp(0.0, diff))
    w4 = g.wb * expit(diff)  # weight of "died after t_x"
    w3 = g.wb - w4
    nT, ntx = len(g.Tu), len(g.txu)
    w3_T = np.bincount(g.iT, weights=w3, minlength=nT) + g.w0_T
    w4_tx = np.bincount(g.itx, weights=w4, minlength=ntx)
    w3x_T = np.bincount(g.iT, weights=w3 * g.xb, minlength=nT)
    w4x_tx = np.bincount(g.itx, weights=w4 * g.xb, minlength=ntx)
    inv_aT, inv_atx = 1.0 / (alpha + g.Tu), 1.0 / (alpha + g.txu)
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + xu)
    d_r = _dot(wx, digamma(r + xu) - digamma(r) + np.log(alpha)) - _dot(w3_T, log_aT) - _dot(w4_tx, log_atx)
    d_alpha = g.n * r / alpha - _dot(r * w3_T + w3x_T, inv_aT) - _dot(r * w4_tx + w4x_tx, inv_atx)
    d_a = _dot(wx, psi_ab - psi_abx) + w4.sum() / a
    w4x = np.bincount(g.ix, weights=w4, minlength=len(xu))
    d_b = _dot(wx, psi_ab + digamma(b + xu) - digamma(b) - psi_abx) - _dot(w4x, 1.0 / bx1)
    grad = np.array([d_r, d_alpha, d_a, d_b]) * params
    return -float(ll / g.n), -grad / g.n


def bgnbd_log_likelihood(params: BgNbdParams | ArrayLike, data: RfmData) -> float:
    """Total (weighted) log-likelihood of ``data`` under BG/NBD ``params``."""
    if isinstance(params, BgNbdParams):
        params = [params.r, params.alpha, params.a, params.b]
    return float(data.weight @ bgnbd_loglik_rows(np.asarray(params, dtype=np.float64), data))


def fit_bgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    compress: bool = True,
) -> BgNbdParams:
    """Maximum-likelihood BG/NBD fit.

    Customers are first collapsed to unique ``(x, t_x, T)`` rows (``compress``);
    times are rescaled so that max(T) = 10 for conditioning and ``alpha`` is
    mapped back to the caller's unit afterwards.
    """
    started = time.perf_counter()
    data = rfm_data(x, t_x, T, weights, compress=compress)
    scale = time_scale(data.T)
    grouped = _Grouped.of(data.scaled(scale))
    start = np.zeros(4)
    if len(grouped.xb) > WARM_START_ROWS:  # a fit on a 5% sample lands next to the optimum
        sample = grouped.subsample(WARM_START_ROWS / len(grouped.xb), np.random.default_rng(0))
        start = minimize_log_params(lambda lp: _neg_ll_and_grad(lp, sample), start, jac=True)
    best = minimize_log_params(lambda lp: _neg_ll_and_grad(lp, grouped), start, jac=True)
    r, alpha, a, b = np.exp(best)
    alpha /= scale
    ll = bgnbd_log_likelihood(np.array([r, alpha, a, b]), data)
    return BgNbdParams(
        float(r), float(alpha), float(a), float(b),
        log_likelihood=ll, n_customers=data.n_customers,
        fit_seconds=time.perf_counter() - started,
    )


def bgnbd_p_alive(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(alive | x, t_x, T) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).

    Fader & Hardie (2008), eq. 1; evaluated as ``expit(-log odds)``.
    """
    x, t_x, T = check_rfm(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    buyer = x > 0
    log_odds = np.log(a) - np.log(np.where(buyer, b + x - 1.0, 1.0)) + (r + x) * (
        np.log(alpha + T) - np.log(alpha + t_x)
    )
    return np.where(buyer, expit(-log_odds), 1.0)


def bgnbd_conditional_expected_purchases(
    params: BgNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` units (FHL 2005 eq. 10).

    ``(a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]
    * P(alive)`` with ``z = t/(alpha+T+t)``.  Euler's transformation turns the
    bracketed power times 2F1 into ``(1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``,
    whose parameters do not grow with x, so heavy buyers stay finite.
    (The expression is 0/0 at exactly a = 1, which a fit never lands on.)
    """
    x, t_x, T = check_rfm(x, t_x, T)
    t = np.asarray(t, dtype=np.float64)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + T + t)
    c = a + b + x - 1.0
    tail = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1_stable(a + b - 1.0 - r, a - 1.0, c, z)
    return c / (a - 1.0) * (1.0 - tail) * bgnbd_p_alive(params, x, t_x, T)


def bgnbd_expected_purchases(params: BgNbdParams, t: ArrayLike) -> FloatArray:
    """E[X(t)] for a new customer (FHL 2005 eq. 9):
    ``(a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]``
    (Euler-transformed as in :func:`bgnbd_conditional_expected_purchases`)."""
    t = np.asarray(t, dtype=np.float64)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + t)
    tail = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1_stable(a + b - 1.0 - r, a - 1.0, a + b - 1.0, z)
    return (a + b - 1.0) / (a - 1.0) * (1.0 - tail)


def simulate_bgnbd(
    params: BgNbdParams, T: ArrayLike, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Draw ``(x, t_x)`` for customers of age ``T`` from the BG/NBD process.

    ``lambda ~ Gamma(r, 1/alpha)``, ``p ~ Beta(a, b)``; a customer can make at most
    ``K ~ Geometric(p)`` repeat purchases (drops out right after the K-th), so
    ``x = min(K, N)`` with ``N ~ Poisson(lambda T)`` and, given N, ``t_x`` is the
    x-th order statistic of N uniform times: ``T * Beta(x, N - x + 1)``.
    """
    T = np.asarray(T, dtype=np.float64)
    lam = rng.gamma(params.r, 1.0 / params.alpha, size=T.shape)
    p = rng.beta(params.a, params.b, size=T.shape)
    n = rng.poisson(lam * T)
    x = np.minimum(rng.geometric(p), n)
    buyer = x > 0
    t_x = np.zeros_like(T)
    t_x[buyer] = T[buyer] * rng.beta(x[buyer], n[buyer] - x[buyer] + 1)
    return x.astype(np.float64), t_x
