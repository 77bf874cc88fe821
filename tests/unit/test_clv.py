"""CLV maths against the published CDNOW estimates and hand-computed cases.

Reference values: Fader, Hardie & Lee (2005) and Fader & Hardie's notes (see
/work/shared/DESIGN.md section 6), plus what lifetimes 0.11.3 computes on the
same CDNOW summary (recorded here as literals; lifetimes itself is not needed).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.integrate import quad
from scipy.special import hyp2f1

from qoima.analytics.domain.clv import BgNbdParams, GammaGammaParams, ParetoNbdParams, calibration_holdout_summary, calibration_holdout_table, compress_rfm, customer_lifetime_value, fit_bgnbd, fit_gamma_gamma, fit_pareto, fit_purchase_model, gamma_gamma_expected_spend, score_customers, summary_from_transactions
from qoima.analytics.domain.clv_bgnbd import simulate_bgnbd
from qoima.analytics.domain.clv_pareto import _log_A0

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    return pl.read_csv(FIXTURES / "cdnow_summary.csv")


@pytest.fixture(scope="module")
def cdnow_monetary() -> pl.DataFrame:
    return pl.read_csv(FIXTURES / "cdnow_summary_with_monetary.csv")


@pytest.fixture(scope="module")
def bgnbd(cdnow) -> BgNbdParams:
    return fit_bgnbd(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def pareto(cdnow) -> ParetoNbdParams:
    return fit_pareto(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def gamma_gamma(cdnow_monetary) -> GammaGammaParams:
    return fit_gamma_gamma(cdnow_monetary["x"], cdnow_monetary["zbar"])


# Customers of the CDNOW summary plus two synthetic heavy buyers.
ROWS_X = np.array([0, 1, 2, 10, 5, 50], dtype=float)
ROWS_TX = np.array([0.0, 1.71, 30.43, 35.0, 10.0, 38.0])
ROWS_T = np.full(6, 38.86)


# --------------------------------------------------------------------- BG/NBD
def test_bgnbd_reproduces_published_cdnow_estimates(bgnbd):
    assert round(bgnbd.r, 3) == 0.243
    assert round(bgnbd.alpha, 3) == 4.414
    assert round(bgnbd.a, 3) == 0.793
    assert round(bgnbd.b, 3) == 2.426
    assert bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert bgnbd.n_customers == 2357
    assert bgnbd.fit_seconds > 0


def test_bgnbd_matches_lifetimes_to_five_digits(bgnbd):
    lifetimes = {"r": 0.242593, "alpha": 4.413532, "a": 0.792886, "b": 2.425752}
    for name, value in lifetimes.items():
        assert bgnbd.as_dict()[name] == pytest.approx(value, rel=2e-5)


def test_bgnbd_predictions_match_lifetimes(bgnbd):
    p_alive = [1.0, 0.2122273881, 0.7266091368, 0.8469607644, 0.0248149954, 0.9594435798]
    expected = [0.19478086, 0.20325062, 1.22591042, 6.16380170, 0.09447726, 33.39262083]
    np.testing.assert_allclose(bgnbd.p_alive(ROWS_X, ROWS_TX, ROWS_T), p_alive, rtol=1e-5)
    np.testing.assert_allclose(
        bgnbd.conditional_expected_purchases(39, ROWS_X, ROWS_TX, ROWS_T), expected, rtol=1e-5
    )
    assert bgnbd.expected_purchases(39.0) == pytest.approx(1.1950162, rel=1e-6)


def test_bgnbd_p_alive_is_one_without_repeat_purchases(bgnbd):
    alive = bgnbd.p_alive([0, 0, 0], [0, 0, 0], [1.0, 38.86, 5000.0])
    assert alive.tolist() == [1.0, 1.0, 1.0]


def test_bgnbd_euler_form_equals_textbook_formula(bgnbd):
    """FHL 2005 eq. 10 evaluated literally, where it does not overflow."""
    r, alpha, a, b = bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    x, t_x, T, t = ROWS_X[:5], ROWS_TX[:5], ROWS_T[:5], 20.0
    z = t / (alpha + T + t)
    literal = (
        (a + b + x - 1) / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    )
    np.testing.assert_allclose(bgnbd.conditional_expected_purchases(t, x, t_x, T), literal, rtol=1e-10)


def test_unconditional_expectation_is_the_new_customer_limit(bgnbd, pareto):
    for model in (bgnbd, pareto):
        newcomer = model.conditional_expected_purchases(52.0, [0], [0.0], [1e-9])[0]
        assert model.expected_purchases(52.0) == pytest.approx(newcomer, rel=1e-7)


def test_bgnbd_recovers_simulated_parameters():
    truth = BgNbdParams(r=0.5, alpha=5.0, a=0.6, b=2.5)
    rng = np.random.default_rng(42)
    T = rng.integers(7, 365, size=100_000) / 7.0
    x, t_x = simulate_bgnbd(truth, T, rng)
    fitted = fit_bgnbd(x, np.round(t_x * 7) / 7, T)
    assert fitted.r == pytest.approx(0.5, rel=0.05)
    assert fitted.alpha == pytest.approx(5.0, rel=0.08)
    assert fitted.a == pytest.approx(0.6, rel=0.15)
    assert fitted.b == pytest.approx(2.5, rel=0.2)


# ----------------------------------------------------------------- Pareto/NBD
def test_pareto_reproduces_published_cdnow_estimates(pareto):
    assert round(pareto.r, 3) == 0.553
    assert round(pareto.alpha, 2) == 10.58
    assert round(pareto.s, 3) == 0.606
    assert round(pareto.beta, 2) == 11.67
    # BTYD reports -9594.98; the likelihood is flat along (s, beta), so
    # lifetimes (s=0.60626, beta=11.6697) and we agree on it to 1e-6.
    assert pareto.log_likelihood == pytest.approx(-9594.97, abs=0.02)
    assert pareto.s == pytest.approx(0.606261, rel=5e-4)
    assert pareto.beta == pytest.approx(11.669657, rel=5e-4)


def test_pareto_predictions_match_lifetimes(pareto):
    p_alive = [0.29509933, 0.16787363, 0.86911400, 0.92730217, 0.04664978, 0.98342532]
    expected = [0.10705956, 0.17098044, 1.45508983, 6.41687895, 0.16986901, 32.59912616]
    np.testing.assert_allclose(pareto.p_alive(ROWS_X, ROWS_TX, ROWS_T), p_alive, rtol=2e-4)
    np.testing.assert_allclose(
        pareto.conditional_expected_purchases(39, ROWS_X, ROWS_TX, ROWS_T), expected, rtol=2e-4
    )
    assert pareto.expected_purchases(39.0) == pytest.approx(1.2134089, rel=2e-4)


@pytest.mark.parametrize(
    "r, alpha, s, beta", [(0.55, 10.58, 0.606, 11.67), (0.55, 20.0, 0.606, 5.0), (2.0, 3.0, 1.5, 3.0)]
)
@pytest.mark.parametrize("x, t_x, T", [(0, 0.0, 38.86), (3, 10.0, 38.86), (50, 30.0, 40.0), (1, 0.5, 0.6)])
def test_pareto_A0_equals_its_integral(r, alpha, s, beta, x, t_x, T):
    """A0 = (r+s+x) * int_{t_x}^{T} (alpha+u)^-(r+x) (beta+u)^-(s+1) du, both 2F1 branches."""
    integral, _ = quad(
        lambda u: (alpha + u) ** -(r + x) * (beta + u) ** -(s + 1), t_x, T, epsabs=0, epsrel=1e-13
    )
    got = _log_A0(r, alpha, s, beta, np.array([x], float), np.array([t_x]), np.array([T]))[0]
    assert got == pytest.approx(np.log((r + s + x) * integral), rel=1e-10)


# ---------------------------------------------------------------- Gamma-Gamma
def test_gamma_gamma_reproduces_published_cdnow_estimates(gamma_gamma):
    assert gamma_gamma.n_customers == 946
    assert round(gamma_gamma.p, 2) == 6.25
    assert round(gamma_gamma.q, 2) == 3.74
    assert gamma_gamma.gamma == pytest.approx(15.44, abs=0.01)
    # lifetimes 0.11.3: p=6.248802, q=3.744588, v=15.447748
    assert gamma_gamma.p == pytest.approx(6.248802, rel=1e-5)
    assert gamma_gamma.q == pytest.approx(3.744588, rel=1e-5)
    assert gamma_gamma.gamma == pytest.approx(15.447748, rel=1e-5)


def test_gamma_gamma_expected_spend(gamma_gamma):
    spend = gamma_gamma_expected_spend(gamma_gamma, [2, 1, 5, 0], [22.35, 11.77, 40.0, 99.0])
    np.testing.assert_allclose(spend[:3], [24.6586162, 18.9114799, 39.6100572], rtol=1e-6)
    assert spend[3] == pytest.approx(gamma_gamma.population_mean_spend)
    p, q, g = gamma_gamma.p, gamma_gamma.q, gamma_gamma.gamma
    assert spend[0] == pytest.approx(p * (g + 2 * 22.35) / (2 * p + q - 1))


def test_clv_matches_lifetimes(bgnbd, gamma_gamma, cdnow_monetary):
    head = cdnow_monetary.head(5)
    spend = gamma_gamma.expected_spend(head["x"], head["zbar"])
    clv = customer_lifetime_value(
        bgnbd, head["x"], head["t_x"], head["T"], spend, months=12, discount_rate=0.01
    )
    np.testing.assert_allclose(clv, [36.2784958, 4.6374663, 8.3440931, 8.3440931, 8.3440931], rtol=1e-5)


def test_clv_undiscounted_is_spend_times_expected_purchases(bgnbd):
    x, t_x, T = [3, 0], [20.0, 0.0], [38.86, 38.86]
    clv = customer_lifetime_value(bgnbd, x, t_x, T, [10.0, 10.0], months=6.5, discount_rate=0.0)
    expected = bgnbd.conditional_expected_purchases(6.5 * 4.345, x, t_x, T) * 10.0
    np.testing.assert_allclose(clv, expected, rtol=1e-12)


def test_score_customers(bgnbd, gamma_gamma):
    scores = score_customers(
        bgnbd, [2, 0], [30.43, 0.0], [38.86, 38.86], horizon=52.14,
        monetary=[22.35, 0.0], spend_model=gamma_gamma,
    )
    assert scores.p_alive[1] == 1.0
    assert scores.expected_purchases[0] == pytest.approx(
        bgnbd.conditional_expected_purchases(52.14, [2], [30.43], [38.86])[0]
    )
    assert scores.clv[0] == pytest.approx(36.2784958, rel=1e-4)  # 52.14 weeks = 12 months


# ------------------------------------------------------------ numerics / data
def test_heavy_buyer_does_not_overflow(cdnow):
    x = np.append(cdnow["frequency"].to_numpy(), 500)
    t_x = np.append(cdnow["recency"].to_numpy(), 990.0)
    T = np.append(cdnow["T"].to_numpy(), 1000.0)
    for fit in (fit_bgnbd, fit_pareto):
        model = fit(x, t_x, T)
        assert np.isfinite(model.log_likelihood)
        args = ([500, 500, 500], [999.0, 990.0, 10.0], [1000.0, 1000.0, 1000.0])
        alive = model.p_alive(*args)
        expected = model.conditional_expected_purchases(52.0, *args)
        assert np.all(np.isfinite(alive)) and np.all(np.isfinite(expected))
        # ~0.5 purchases/week: silent 1 week -> alive; silent 990 weeks -> gone
        assert alive[0] > 0.99 and 0.5 < alive[1] < alive[0] and alive[2] < 1e-12
        assert 24 < expected[0] < 27 and expected[1] < expected[0] and expected[2] < 1e-12


def test_extreme_parameters_fall_back_to_the_gauss_series():
    """A degenerate fit (no observed dropout): r, b ~ 1e7 make scipy's hyp2f1 return NaN."""
    model = BgNbdParams(r=8489653.94, alpha=183376477.4, a=0.00040053, b=97080.12)
    got = model.conditional_expected_purchases(90.0, [2, 0], [21.0, 0.0], [28.0, 14.0])
    # no dropout, Poisson rate r/alpha: 90 * 0.0462958 purchases
    np.testing.assert_allclose(got, 90 * model.r / model.alpha, rtol=1e-5)


def test_compressed_fit_equals_uncompressed_fit(cdnow):
    x, t_x, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    assert len(compress_rfm(x, t_x, T).x) == 1016
    for fit in (fit_bgnbd, fit_pareto):
        packed, plain = fit(x, t_x, T), fit(x, t_x, T, compress=False)
        np.testing.assert_allclose(list(packed.as_dict().values()), list(plain.as_dict().values()), rtol=1e-5)
        assert packed.log_likelihood == pytest.approx(plain.log_likelihood, abs=1e-6)


def test_weights_equal_repeated_rows():
    x, t_x, T = np.array([0, 1, 4, 2.0]), np.array([0, 3.0, 20.0, 9.0]), np.array([30.0, 25.0, 30.0, 12.0])
    w = np.array([5, 2, 1, 3])
    by_weight = fit_purchase_model("bgnbd", x, t_x, T, weights=w)
    repeated = fit_bgnbd(np.repeat(x, w), np.repeat(t_x, w), np.repeat(T, w))
    assert by_weight.n_customers == repeated.n_customers == 11
    np.testing.assert_allclose(list(by_weight.as_dict().values()), list(repeated.as_dict().values()), rtol=1e-6)


def test_customers_first_seen_on_the_last_day_add_nothing(cdnow):
    """T = 0 (first purchase on the calibration end): likelihood 1, fit unchanged."""
    x, t_x, T = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T"))
    for fit in (fit_bgnbd, fit_pareto):
        base = fit(x, t_x, T)
        more = fit(np.append(x, [0, 0]), np.append(t_x, [0.0, 0.0]), np.append(T, [0.0, 0.0]))
        assert more.n_customers == base.n_customers + 2
        assert more.log_likelihood == pytest.approx(base.log_likelihood, abs=1e-6)
        np.testing.assert_allclose(list(more.as_dict().values()), list(base.as_dict().values()), rtol=1e-5)
        assert more.p_alive([0], [0.0], [0.0])[0] == pytest.approx(1.0)


def test_invalid_input_is_rejected():
    with pytest.raises(ValueError, match="recency"):
        fit_bgnbd([1], [5.0], [4.0])
    with pytest.raises(ValueError, match="frequency"):
        fit_bgnbd([-1], [0.0], [4.0])
    with pytest.raises(ValueError, match="model"):
        fit_purchase_model("nope", [1], [1.0], [2.0])


class _LinearModel:
    """Stub: E[Y(t)] = x * t / T, so holdout predictions are hand-computable."""

    model = "stub"

    def conditional_expected_purchases(self, t, x, t_x, T):
        return np.asarray(x) * t / np.asarray(T)


def test_calibration_holdout_table_hand_case():
    x = [0, 0, 1, 3, 5]
    T = [10.0, 10.0, 10.0, 10.0, 20.0]
    rows = calibration_holdout_table(
        _LinearModel(), x, [0, 0, 4.0, 8.0, 15.0], T, [0, 1, 2, 4, 2], 10.0, max_frequency=2
    )
    assert [(r.frequency, r.label, r.n_customers) for r in rows] == [(0, "0", 2), (1, "1", 1), (2, "2+", 2)]
    assert [r.actual for r in rows] == [0.5, 2.0, 3.0]
    # predictions: x=0 -> 0; x=1 -> 1*10/10 = 1; x=3 -> 3, x=5 -> 5*10/20 = 2.5 -> mean 2.75
    assert [r.predicted for r in rows] == pytest.approx([0.0, 1.0, 2.75])


def test_calibration_holdout_table_default_buckets(bgnbd):
    rows = calibration_holdout_table(bgnbd, [0, 9, 7], [0, 30.0, 20.0], [38.86] * 3, [0, 3, 1], 39.0)
    assert [r.label for r in rows] == ["0", "7+"]
    assert rows[1].actual == 2.0
    pred = bgnbd.conditional_expected_purchases(39.0, [9, 7], [30.0, 20.0], [38.86, 38.86]).mean()
    assert rows[1].predicted == pytest.approx(pred)


def _tiny_log() -> pl.DataFrame:
    d = dt.date
    return pl.DataFrame(
        {
            "customer_id": ["A", "A", "A", "A", "A", "B", "C", "B"],
            "date": [d(2024, 1, 1), d(2024, 1, 1), d(2024, 1, 8), d(2024, 1, 10), d(2024, 1, 22),
                     d(2024, 1, 17), d(2024, 2, 10), d(2024, 2, 5)],
            "amount": [10.0, 5.0, 20.0, 4.0, 30.0, 7.0, 99.0, 3.0],
        }
    )


def test_summary_from_transactions_hand_case_days():
    s = summary_from_transactions(_tiny_log(), observation_end="2024-01-29", unit="days")
    # A: days 01-01 (15), 01-08 (20), 01-10 (4), 01-22 (30); C starts after the end.
    assert s.to_dicts() == [
        {"customer_id": "A", "frequency": 3, "recency": 21.0, "T": 28.0, "monetary_value": 18.0},
        {"customer_id": "B", "frequency": 0, "recency": 0.0, "T": 12.0, "monetary_value": 0.0},
    ]


def test_summary_from_transactions_hand_case_weeks():
    s = summary_from_transactions(_tiny_log(), observation_end=dt.date(2024, 1, 29), unit="weeks")
    assert s["frequency"].to_list() == [3, 0]
    assert s["recency"].to_list() == [3.0, 0.0]
    assert s["T"].to_list() == pytest.approx([4.0, 12 / 7])
    # calendar-week periods (Monday start): 01-08 and 01-10 merge into one purchase of 24
    w = summary_from_transactions(_tiny_log(), observation_end="2024-01-29", unit="weeks", period="unit")
    assert w.to_dicts() == [
        {"customer_id": "A", "frequency": 2, "recency": 3.0, "T": 4.0, "monetary_value": 27.0},
        {"customer_id": "B", "frequency": 0, "recency": 0.0, "T": 2.0, "monetary_value": 0.0},
    ]


def test_calibration_holdout_summary_hand_case():
    h = calibration_holdout_summary(
        _tiny_log(), calibration_end="2024-01-29", observation_end="2024-02-12", unit="days"
    )
    assert h["customer_id"].to_list() == ["A", "B"]
    assert h["frequency_holdout"].to_list() == [0, 1]  # C is new in the holdout: not included
    assert h["duration_holdout"].to_list() == [14.0, 14.0]


def test_summary_reproduces_cdnow_summary_from_raw_transactions(cdnow, cdnow_monetary):
    rows = [line.split() for line in (FIXTURES / "cdnow_sample.txt").read_text().splitlines() if line.strip()]
    log = pl.DataFrame(
        {
            "customer_id": [int(r[1]) for r in rows],
            "date": [dt.datetime.strptime(r[2], "%Y%m%d").date() for r in rows],
            "amount": [float(r[4]) for r in rows],
        }
    )
    s = summary_from_transactions(log, observation_end="1997-09-30", unit="weeks")
    assert s.height == 2357
    assert s["frequency"].to_list() == cdnow["frequency"].to_list()
    np.testing.assert_allclose(s["recency"], cdnow["recency"], atol=0.005)
    np.testing.assert_allclose(s["T"], cdnow["T"], atol=0.005)
    np.testing.assert_allclose(s["monetary_value"], cdnow_monetary["zbar"], atol=0.0051)
