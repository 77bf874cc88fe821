"""Predictive customer-lifetime-value maths: BG/NBD, Pareto/NBD, Gamma-Gamma, CLV.

This is the public import for the CLV domain; the models live in
:mod:`qoima.analytics.domain.clv_bgnbd`, :mod:`qoima.analytics.domain.clv_pareto`,
:mod:`qoima.analytics.domain.clv_gammagamma` and the transaction-log summary in
:mod:`qoima.analytics.domain.clv_summary`.  Everything is pure numpy/scipy (polars for
the summary), free of I/O and of the ORM.

Why by hand rather than the ``lifetimes`` package: lifetimes has been
unmaintained since 2020 (0.11.3, last release), drags in autograd, dill and
``pkg_resources``, breaks on current pandas (its
``summary_data_from_transaction_data`` fails on pandas 3 with "No objects to
concatenate"; it works only with pins such as pandas < 2.2 and numpy < 2), and
is slow on large bases because it evaluates the likelihood once per customer
instead of once per distinct ``(x, t_x, T)`` (see bench/clv_fit.py).  Here customers are compressed to
unique rows with integer weights, the log-likelihoods are written in log space
(``gammaln``/``logaddexp``/``log1p``, Euler-transformed 2F1) so heavy buyers
never overflow, and BG/NBD and Gamma-Gamma use analytic gradients.  On the CDNOW
sample the fits reproduce the published estimates (see tests/unit/test_clv.py).

Time unit: all models work in whatever unit ``t_x``/``T`` are given in (weeks or
days); ``alpha``/``beta`` come out in that unit.  CLV discounting is monthly, as
in lifetimes' ``customer_lifetime_value``: a month is 4.345 weeks or 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike

from qoima.analytics.domain.clv_bgnbd import BgNbdParams, bgnbd_conditional_expected_purchases, bgnbd_expected_purchases, bgnbd_log_likelihood, bgnbd_p_alive, fit_bgnbd
from qoima.analytics.domain.clv_common import FloatArray, RfmData, check_rfm, compress_rfm
from qoima.analytics.domain.clv_gammagamma import GammaGammaParams, fit_gamma_gamma, gamma_gamma_expected_spend
from qoima.analytics.domain.clv_pareto import ParetoNbdParams, fit_pareto, pareto_conditional_expected_purchases, pareto_expected_purchases, pareto_log_likelihood, pareto_p_alive
from qoima.analytics.domain.clv_summary import calibration_holdout_summary, summary_from_transactions

__all__ = [
    "PERIODS_PER_MONTH",
    "BgNbdParams",
    "CalibrationHoldoutRow",
    "CustomerScores",
    "GammaGammaParams",
    "ParetoNbdParams",
    "PurchaseModel",
    "RfmData",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_expected_purchases",
    "bgnbd_log_likelihood",
    "bgnbd_p_alive",
    "calibration_holdout_summary",
    "calibration_holdout_table",
    "compress_rfm",
    "customer_lifetime_value",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_pareto",
    "fit_purchase_model",
    "gamma_gamma_expected_spend",
    "pareto_conditional_expected_purchases",
    "pareto_expected_purchases",
    "pareto_log_likelihood",
    "pareto_p_alive",
    "score_customers",
    "summary_from_transactions",
]

ModelName = Literal["bgnbd", "pareto"]

#: Model time units per month used for monthly discounting (lifetimes' factors).
PERIODS_PER_MONTH: dict[str, float] = {"days": 30.0, "weeks": 4.345}


class PurchaseModel(Protocol):
    """What CLV and the holdout table need from a fitted purchase model."""

    model: str

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray: ...

    def conditional_expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray: ...

    def expected_purchases(self, t: ArrayLike) -> FloatArray: ...


def fit_purchase_model(
    model: ModelName, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
) -> BgNbdParams | ParetoNbdParams:
    """Fit ``"bgnbd"`` or ``"pareto"`` by maximum likelihood."""
    if model == "bgnbd":
        return fit_bgnbd(x, t_x, T, weights=weights)
    if model == "pareto":
        return fit_pareto(x, t_x, T, weights=weights)
    raise ValueError(f"model must be 'bgnbd' or 'pareto', got {model!r}")


def customer_lifetime_value(
    model: PurchaseModel,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    spend: ArrayLike,
    *,
    months: float = 12.0,
    discount_rate: float = 0.01,
    periods_per_month: float = PERIODS_PER_MONTH["weeks"],
) -> FloatArray:
    """Discounted value of the purchases expected in the next ``months`` months.

    As lifetimes' ``GammaGammaFitter.customer_lifetime_value``::

        CLV = sum_{i=1..months} spend * (E[Y(i f)] - E[Y((i-1) f)]) / (1 + d)^i

    with ``f = periods_per_month`` model units per month (4.345 for weeks, 30 for
    days), ``d`` the *monthly* discount rate and ``spend`` the expected spend per
    purchase (normally :func:`gamma_gamma_expected_spend`).  A fractional
    ``months`` adds a final partial month discounted at ``(1 + d)^months``.
    """
    if months < 0 or discount_rate <= -1:
        raise ValueError("months must be >= 0 and discount_rate > -1")
    x, t_x, T = check_rfm(x, t_x, T)
    spend = np.broadcast_to(np.asarray(spend, dtype=np.float64), x.shape)
    ends = list(np.arange(1, int(np.floor(months)) + 1, dtype=np.float64))
    if months > len(ends):
        ends.append(float(months))
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for month in ends:
        cumulative = model.conditional_expected_purchases(month * periods_per_month, x, t_x, T)
        total += spend * (cumulative - previous) / (1.0 + discount_rate) ** month
        previous = cumulative
    return total


@dataclass(frozen=True, slots=True)
class CustomerScores:
    """Per-customer predictions, aligned with the input arrays."""

    p_alive: FloatArray
    expected_purchases: FloatArray
    expected_spend: FloatArray | None
    clv: FloatArray | None


def score_customers(
    model: PurchaseModel,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    horizon: float,
    monetary: ArrayLike | None = None,
    spend_model: GammaGammaParams | None = None,
    discount_rate: float = 0.01,
    periods_per_month: float = PERIODS_PER_MONTH["weeks"],
) -> CustomerScores:
    """P(alive), expected purchases in ``horizon`` units and, given a spend model,
    expected spend per purchase and CLV over the same horizon."""
    x, t_x, T = check_rfm(x, t_x, T)
    alive = model.p_alive(x, t_x, T)
    expected = model.conditional_expected_purchases(horizon, x, t_x, T)
    if spend_model is None or monetary is None:
        return CustomerScores(alive, expected, None, None)
    spend = gamma_gamma_expected_spend(spend_model, x, monetary)
    clv = customer_lifetime_value(
        model, x, t_x, T, spend,
        months=horizon / periods_per_month, discount_rate=discount_rate,
        periods_per_month=periods_per_month,
    )
    return CustomerScores(alive, expected, spend, clv)


@dataclass(frozen=True, slots=True)
class CalibrationHoldoutRow:
    """One bar pair of the calibration/holdout chart."""

    frequency: int  # calibration repeat purchases; the last bucket means "or more"
    label: str  # "0", "1", ..., "7+"
    n_customers: int
    actual: float  # mean holdout purchases observed
    predicted: float  # mean holdout purchases predicted from calibration data


def calibration_holdout_table(
    model: PurchaseModel,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    x_holdout: ArrayLike,
    holdout_length: ArrayLike,
    *,
    max_frequency: int = 7,
) -> list[CalibrationHoldoutRow]:
    """Mean predicted vs. actual holdout purchases by calibration frequency.

    Customers with ``x >= max_frequency`` share the last bucket (``"7+"``).
    Predictions are ``E[Y(holdout_length) | x, t_x, T]``; empty buckets are
    omitted.  (Fader, Hardie & Lee 2005, fig. 4.)
    """
    x, t_x, T = check_rfm(x, t_x, T)
    actual = np.broadcast_to(np.asarray(x_holdout, dtype=np.float64), x.shape)
    predicted = model.conditional_expected_purchases(holdout_length, x, t_x, T)
    bucket = np.minimum(x, max_frequency).astype(np.int64)
    n = np.bincount(bucket, minlength=max_frequency + 1)
    act = np.bincount(bucket, weights=actual, minlength=max_frequency + 1)
    pred = np.bincount(bucket, weights=np.broadcast_to(predicted, x.shape), minlength=max_frequency + 1)
    rows = []
    for k in range(max_frequency + 1):
        if n[k] == 0:
            continue
        label = f"{k}+" if k == max_frequency else str(k)
        rows.append(CalibrationHoldoutRow(k, label, int(n[k]), float(act[k] / n[k]), float(pred[k] / n[k])))
    return rows
