"""Gamma-Gamma model of average transaction value.

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "RFM and CLV: Using Iso-Value
Curves for Customer Base Analysis", *Journal of Marketing Research* 42(4); and
Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value".

Each transaction value is ``Gamma(p, nu)`` with the customer's ``nu ~ Gamma(q, gamma)``.
For a repeat buyer with ``x`` repeat transactions of mean value ``m`` the density
of ``m`` is (log form, eq. 3 of the 2013 note)::

    log f = lnG(px+q) - lnG(px) - lnG(q) + q ln(gamma)
            + (px-1) ln(x m) + ln(x) - (px+q) ln(gamma + x m)

The model assumes spend is independent of frequency; it is fitted on customers
with ``x > 0`` and ``m > 0`` only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from qoima.analytics.domain.clv_common import FloatArray, as_float_array, minimize_log_params, unique_rows


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters (``gamma`` is lifetimes' ``v``)."""

    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    fit_seconds: float = 0.0

    model = "gamma_gamma"

    def as_dict(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @property
    def population_mean_spend(self) -> float:
        """E[M] = p gamma / (q - 1); infinite when q <= 1."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")

    def expected_spend(self, x: ArrayLike, m: ArrayLike) -> FloatArray:
        return gamma_gamma_expected_spend(self, x, m)


def _prepare(x: ArrayLike, m: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Keep repeat buyers with positive spend; compress identical (x, m) pairs."""
    xa, ma = np.broadcast_arrays(as_float_array(x, "frequency"), as_float_array(m, "monetary"))
    keep = (xa > 0) & (ma > 0)
    if not np.any(keep):
        raise ValueError("Gamma-Gamma needs at least one customer with frequency > 0 and spend > 0")
    (xu, mu), counts, _ = unique_rows([xa[keep], ma[keep]])
    return xu, mu, counts


def _rows(params: FloatArray, x: FloatArray, m: FloatArray) -> FloatArray:
    p, q, g = params
    px = p * x
    return (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g)
        + (px - 1.0) * np.log(x * m) + np.log(x) - (px + q) * np.log(g + x * m)
    )


def _neg_ll_and_grad(log_params: FloatArray, x, m, w) -> tuple[float, FloatArray]:
    params = np.exp(log_params)
    p, q, g = params
    px, xm = p * x, x * m
    psi = digamma(px + q)
    d_p = x * (psi - digamma(px) + np.log(xm) - np.log(g + xm))
    d_q = psi - digamma(q) + np.log(g) - np.log(g + xm)
    d_g = q / g - (px + q) / (g + xm)
    n = w.sum()
    grad = np.array([(w * d).sum() for d in (d_p, d_q, d_g)]) * params
    return -float((w * _rows(params, x, m)).sum() / n), -grad / n


def fit_gamma_gamma(x: ArrayLike, m: ArrayLike) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma fit on the repeat buyers among (x, m).

    Spend is rescaled by its mean during the fit (``gamma`` scales with money,
    ``p`` and ``q`` are unit-free) and mapped back afterwards.
    """
    started = time.perf_counter()
    xu, mu, w = _prepare(x, m)
    scale = 1.0 / float(np.average(mu, weights=w))
    best = minimize_log_params(lambda lp: _neg_ll_and_grad(lp, xu, mu * scale, w), np.zeros(3), jac=True)
    p, q, g = np.exp(best)
    g /= scale
    ll = float((w * _rows(np.array([p, q, g]), xu, mu)).sum())
    return GammaGammaParams(
        float(p), float(q), float(g),
        log_likelihood=ll, n_customers=int(w.sum()), fit_seconds=time.perf_counter() - started,
    )


def gamma_gamma_expected_spend(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> FloatArray:
    """E[M | p, q, gamma, m, x] = p (gamma + x m) / (p x + q - 1)  (FHL 2005 eq. 5).

    A weighted mean of the population mean ``p gamma/(q-1)`` and the customer's own
    mean ``m``; customers with ``x = 0`` get the population mean.
    """
    xa, ma = np.broadcast_arrays(as_float_array(x, "frequency"), as_float_array(m, "monetary"))
    ma = np.where(xa > 0, ma, 0.0)
    p, q, g = params.p, params.q, params.gamma
    return p * (g + xa * ma) / (p * xa + q - 1.0)
