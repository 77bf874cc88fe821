"""Synthetic order history of one seller: customers, orders, fulfillment.

A pure, seeded generator (numpy ``default_rng``) used for demos, tests and
benchmarks.  It follows the classic buy-till-you-die story:

* Customers arrive uniformly over [start, end); their first order is at arrival.
* Purchasing (BG/NBD-like): each customer has a purchase rate
  lambda ~ Gamma(shape=rate_shape, mean=rate_mean) orders per day and a dropout
  probability p ~ Beta(dropout_a, dropout_b).  After every order the customer
  drops out with probability p (raised to p + error_dropout * (1 - p) if that
  order had a fulfillment error); otherwise the next order comes
  min_gap_days + Exponential(1/lambda) days later.
* Planted effect: after an order that was *not* shipped the same day (and not
  cancelled) the next order is pushed back by ``effect_days``.  So, order for
  order, the next purchase after a same-day shipment comes ``effect_days``
  sooner - in mean and in median, the whole distribution is shifted.
  ``effect_days = 0`` means shipping speed has no effect at all.
* Spend (Gamma-Gamma-like): each customer has nu ~ Gamma(spend_q, rate
  spend_gamma); an order's amount ~ Gamma(spend_p, rate nu) in KZT, rounded to
  10 tenge, at least 500.  The mean order is about spend_p * spend_gamma /
  (spend_q - 1).
* Fulfillment per order: cancelled with ``cancel_rate``; otherwise shipped the
  same day with ``same_day_rate`` (1-8 h after the order) or later (0.6-1.9
  days), promised 2-4 days after the order, delivered on time with
  ``on_time_rate`` (between shipping and the promise) or 0.1-3 days late;
  picking error with ``error_rate``; returned with ``return_rate`` (half of the
  orders with an error come back); a return is received ~5 days after delivery
  and processed in Gamma(2, return_days_mean / 2) days.  Anything that would
  happen after ``end`` has not happened yet (null).
* ``n_orders``: if set, the purchase rates are scaled (by bisection on a pilot
  run of the same model) so the total number of orders comes out close to it.

Rounds: one vectorized step per "k-th order of every still-active customer",
so the Python loop runs once per round, never per order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import polars as pl

__all__ = ["HistoryParams", "SimulatedHistory", "simulate_history"]

US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class HistoryParams:
    """Knobs of `simulate_history`; defaults describe a typical Kaspi seller."""

    n_customers: int = 10_000
    start: datetime = datetime(2023, 1, 1)
    end: datetime = datetime(2025, 1, 1)
    seed: int = 0
    n_orders: int | None = None          # target total; None = use rate_mean as is
    rate_mean: float = 1 / 45            # orders per day while active
    rate_shape: float = 1.5
    dropout_a: float = 1.2
    dropout_b: float = 5.0
    min_gap_days: float = 1.0
    effect_days: float = 0.0             # next order sooner after a same-day shipment
    error_dropout: float = 0.3           # extra dropout after a picking error
    cancel_rate: float = 0.02
    same_day_rate: float = 0.80
    on_time_rate: float = 0.90
    error_rate: float = 0.01
    return_rate: float = 0.05
    return_days_mean: float = 4.0
    spend_p: float = 6.0
    spend_q: float = 4.0
    spend_gamma: float = 7_500.0         # mean order ~ 15,000 KZT
    email_share: float = 0.7


@dataclass(frozen=True)
class SimulatedHistory:
    """``customers``: customer_id, name, phone (E.164), email (nullable),
    language (ru/kk/en).  ``orders``: the analytics contract (order_id,
    customer_id, created_at, amount, shipped_same_day, delivered_on_time,
    fulfillment_error, return_days, cancelled) plus promised_at, shipped_at,
    delivered_at and lines; sorted by created_at, order_id 1..n in that order.
    ``as_of`` = params.end."""

    customers: pl.DataFrame
    orders: pl.DataFrame
    as_of: datetime
    params: HistoryParams
    rate_scale: float = 1.0


# --------------------------------------------------------------- purchasing


def _purchases(p: HistoryParams, rng: np.random.Generator, scale: float, n_customers: int):
    """Order skeleton: customer index, time (days from start), cancelled, same-day, error."""
    horizon = (p.end - p.start).total_seconds() / 86_400
    lam = rng.gamma(p.rate_shape, p.rate_mean * scale / p.rate_shape, n_customers)
    drop = rng.beta(p.dropout_a, p.dropout_b, n_customers)
    idx = np.arange(n_customers)
    t = rng.uniform(0, horizon, n_customers)
    parts = []
    while idx.size:
        m = idx.size
        cancelled = rng.random(m) < p.cancel_rate
        same_day = rng.random(m) < p.same_day_rate
        error = (rng.random(m) < p.error_rate) & ~cancelled
        parts.append((idx, t, cancelled, same_day, error))
        q = drop[idx]
        q = np.where(error, q + p.error_dropout * (1 - q), q)
        gap = p.min_gap_days + rng.standard_exponential(m) / lam[idx]
        gap += p.effect_days * (~same_day & ~cancelled)
        t_next = t + gap
        keep = (rng.random(m) >= q) & (t_next < horizon)
        idx, t = idx[keep], t_next[keep]
    return [np.concatenate(col) for col in zip(*parts, strict=True)]


def _calibrate(p: HistoryParams) -> float:
    """Rate multiplier giving ~p.n_orders / p.n_customers orders per customer."""
    target = p.n_orders / p.n_customers
    pilot = min(p.n_customers, 40_000)

    def per_customer(scale: float) -> float:
        rng = np.random.default_rng(p.seed + 7919)
        return _purchases(p, rng, scale, pilot)[0].size / pilot

    lo, hi = 1e-3, 1e3
    if per_customer(hi) < target:
        raise ValueError(f"{target:.2f} orders per customer is unreachable with this dropout")
    for _ in range(30):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if per_customer(mid) < target else (lo, mid)
        if hi / lo < 1.01:
            break
    return float(np.sqrt(lo * hi))


# ---------------------------------------------------------------- customers

_NAMES = {  # language -> (male first, female first, male last, female last), "Cyrillic|Latin"
    "kk": (["Ерлан|erlan", "Нұрлан|nurlan", "Айдос|aidos", "Бауыржан|bauyrzhan", "Данияр|daniyar",
            "Серік|serik", "Арман|arman", "Ержан|erzhan", "Әлихан|alikhan", "Темірлан|temirlan"],
           ["Айгерім|aigerim", "Асель|asel", "Дана|dana", "Гүлнара|gulnara", "Әлия|aliya",
            "Мадина|madina", "Жанар|zhanar", "Айжан|aizhan", "Сәуле|saule", "Аружан|aruzhan"],
           ["Ахметов|akhmetov", "Серікбаев|serikbaev", "Жұмабаев|zhumabaev", "Қасымов|kasymov",
            "Омаров|omarov", "Әбенов|abenov", "Нұрланов|nurlanov", "Сейітов|seitov"],
           ["Ахметова|akhmetova", "Серікбаева|serikbaeva", "Жұмабаева|zhumabaeva", "Қасымова|kasymova",
            "Омарова|omarova", "Әбенова|abenova", "Нұрланова|nurlanova", "Сейітова|seitova"]),
    "ru": (["Александр|aleksandr", "Дмитрий|dmitriy", "Сергей|sergey", "Иван|ivan", "Андрей|andrey",
            "Михаил|mikhail", "Алексей|aleksey", "Николай|nikolay"],
           ["Елена|elena", "Ольга|olga", "Наталья|natalya", "Татьяна|tatyana", "Анна|anna",
            "Мария|mariya", "Ирина|irina", "Екатерина|ekaterina"],
           ["Иванов|ivanov", "Петров|petrov", "Смирнов|smirnov", "Ким|kim", "Пак|pak", "Кузнецов|kuznetsov",
            "Попов|popov", "Васильев|vasilev"],
           ["Иванова|ivanova", "Петрова|petrova", "Смирнова|smirnova", "Ким|kim", "Пак|pak",
            "Кузнецова|kuznetsova", "Попова|popova", "Васильева|vasileva"]),
    "en": (["John|john", "Michael|michael", "David|david", "James|james", "Daniel|daniel"],
           ["Emily|emily", "Sarah|sarah", "Anna|anna", "Laura|laura", "Emma|emma"],
           ["Smith|smith", "Brown|brown", "Johnson|johnson", "Lee|lee", "Walker|walker"],
           ["Smith|smith", "Brown|brown", "Johnson|johnson", "Lee|lee", "Walker|walker"]),
}
_LANGS = ("ru", "kk", "en")
_LANG_P = (0.55, 0.35, 0.10)
_MOBILE_CODES = ("700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778")
_DOMAINS = ("mail.ru", "gmail.com", "yandex.kz", "inbox.kz", "list.ru")


def _pick(rng, lang: np.ndarray, female: np.ndarray, which: int) -> tuple[pl.Series, pl.Series]:
    """Cyrillic and Latin name part for every customer from their language's lists.

    All lists are laid end to end in one pool; each customer gets an index into
    the slice for their (language, gender), and Polars gathers the strings.
    """
    pools = [_NAMES[code][which * 2 + g] for code in _LANGS for g in (0, 1)]
    sizes = np.array([len(x) for x in pools])
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    slot = lang * 2 + female
    idx = offsets[slot] + np.floor(rng.random(lang.size) * sizes[slot]).astype(np.int64)
    flat = [s.split("|") for pool in pools for s in pool]
    return pl.Series([c for c, _ in flat]).gather(idx), pl.Series([la for _, la in flat]).gather(idx)


def _customers(p: HistoryParams, rng: np.random.Generator) -> pl.DataFrame:
    n = p.n_customers
    lang = rng.choice(3, n, p=_LANG_P)
    female = rng.integers(0, 2, n)
    first_c, first_l = _pick(rng, lang, female, 0)
    last_c, last_l = _pick(rng, lang, female, 1)
    # unique phones: an affine permutation of 0..12e7-1 -> (operator code, 7 digits)
    space = len(_MOBILE_CODES) * 10_000_000
    j = (np.arange(n, dtype=np.int64) * 7_919_233 + int(rng.integers(0, space))) % space
    df = pl.DataFrame({
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        "first": first_c, "last": last_c, "first_l": first_l, "last_l": last_l,
        "code": pl.Series(_MOBILE_CODES).gather(j // 10_000_000), "sub": j % 10_000_000,
        "domain": pl.Series(_DOMAINS).gather(rng.integers(0, len(_DOMAINS), n)),
        "language": pl.Series(_LANGS).gather(lang), "has_email": rng.random(n) < p.email_share,
    })
    return df.select(
        "customer_id",
        pl.concat_str(["first", "last"], separator=" ").alias("name"),
        pl.concat_str([pl.lit("+7"), "code", pl.col("sub").cast(pl.Utf8).str.zfill(7)]).alias("phone"),
        pl.when("has_email").then(pl.concat_str(
            ["first_l", pl.lit("."), "last_l", pl.col("customer_id").cast(pl.Utf8), pl.lit("@"), "domain"]))
        .alias("email"),
        "language",
    )


# ------------------------------------------------------------------- orders


def _orders(p: HistoryParams, rng: np.random.Generator, scale: float) -> pl.DataFrame:
    cust, t, cancelled, same_day, error = _purchases(p, rng, scale, p.n_customers)
    order = np.argsort(t)  # ties between float times have probability ~0
    cust, t, cancelled, same_day, error = (a[order] for a in (cust, t, cancelled, same_day, error))
    n = t.size
    horizon = (p.end - p.start).total_seconds() / 86_400
    nu = rng.gamma(p.spend_q, 1 / p.spend_gamma, p.n_customers)
    amount = np.maximum(np.round(rng.standard_gamma(p.spend_p, n) / nu[cust], -1), 500.0)
    lines = 1 + rng.poisson(0.6, n)
    promised = t + rng.integers(2, 5, n)
    u = rng.random(n)
    shipped = t + np.where(same_day, 1 / 24 + u * 7 / 24, 0.6 + u * 1.3)
    on_time = rng.random(n) < p.on_time_rate
    u = rng.random(n)
    delivered = np.where(on_time, shipped + u * (promised - shipped), promised + 0.1 + 2.9 * u)
    returned = rng.random(n) < np.where(error, 0.5, p.return_rate)
    ret_days = np.zeros(n)
    ret_days[returned] = np.round(rng.gamma(2.0, p.return_days_mean / 2.0, int(returned.sum())), 2)
    is_shipped = ~cancelled & (shipped < horizon)
    is_delivered = is_shipped & (delivered < horizon)
    has_return = is_delivered & returned & (delivered + 5.0 + ret_days < horizon)
    start_us = int(np.datetime64(p.start, "us").astype(np.int64))
    us = lambda days: (start_us + days * US_PER_DAY).astype(np.int64)  # noqa: E731
    raw = pl.DataFrame({
        "order_id": np.arange(1, n + 1, dtype=np.int64),
        "customer_id": (cust + 1).astype(np.int64),
        "created_at": us(t), "amount": amount,
        "shipped_same_day": same_day, "delivered_on_time": on_time, "fulfillment_error": error,
        "return_days": ret_days, "cancelled": cancelled,
        "promised_at": us(promised), "shipped_at": us(shipped), "delivered_at": us(delivered),
        "lines": lines.astype(np.int64),
        "_shipped": is_shipped, "_delivered": is_delivered, "_returned": has_return,
    })
    only = lambda col, flag: pl.when(flag).then(pl.col(col)).alias(col)  # noqa: E731 - null otherwise
    ts = pl.Datetime("us")
    return raw.select(
        "order_id", "customer_id", pl.col("created_at").cast(ts), "amount",
        only("shipped_same_day", "_shipped"), only("delivered_on_time", "_delivered"),
        only("fulfillment_error", "_shipped"), only("return_days", "_returned"), "cancelled",
        pl.col("promised_at").cast(ts), only("shipped_at", "_shipped").cast(ts),
        only("delivered_at", "_delivered").cast(ts), "lines",
    )


def simulate_history(params: HistoryParams | None = None, **overrides) -> SimulatedHistory:
    """Generate a seller's history; ``overrides`` replace fields of ``params``.

    Example: ``simulate_history(n_customers=20_000, effect_days=3, seed=1)``.
    Same parameters and seed give the same frames.
    """
    p = replace(params or HistoryParams(), **overrides)
    if p.end <= p.start:
        raise ValueError("end must be after start")
    scale = _calibrate(p) if p.n_orders else 1.0
    rng = np.random.default_rng(p.seed)
    customers = _customers(p, rng)
    orders = _orders(p, rng, scale)
    return SimulatedHistory(customers, orders, p.end, p, scale)
