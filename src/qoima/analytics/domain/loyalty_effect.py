"""The fulfillment-to-loyalty report: does a good order bring the buyer back sooner?

Unit of analysis: a *valid* order (not cancelled, ``created_at <= as_of``; see
`customer_metrics.valid_orders`).  For each one:

* ``days_to_next``: days until the same customer's next valid order (an
  *event*), or, when there is none yet, days until ``as_of`` (right-censored:
  the buyer may still come back).  Ties in time count as a next order at 0 days.
* ``observed_days``: days from the order to ``as_of``.

Comparisons (group A = the good experience, group B = the bad one; orders
whose flag is null are in neither group):

==================  ================================  ===============================
key                 A                                 B
==================  ================================  ===============================
same_day_shipping   shipped_same_day is true          shipped_same_day is false
on_time_delivery    delivered_on_time is true         delivered_on_time is false
correct_item        fulfillment_error is false        fulfillment_error is true
fast_return         return_days <= threshold (7)      return_days > threshold
==================  ================================  ===============================

Per group: n orders; n next orders (events); repeat rate within 30/60/90 days
= share of orders followed by another order within that many days, counting
*only orders observed at least that long* (observed_days >= window) in the
denominator, with a Wilson 95% CI; the Kaplan-Meier curve of time to next order
(daily points 0..curve_days) and its median with a Brookmeyer-Crowley CI.
Durations are measured to the minute (KM by counting, no sort).

Per comparison: ``days_sooner`` = median(B) - median(A) (positive: A came back
sooner) with a percentile bootstrap 95% CI (orders resampled within groups,
``n_boot`` resamples, fixed seed; see `survival.bootstrap_median_difference`,
which bins times so it needs no subsampling cap even at 5M orders); the
log-rank p-value; the difference of repeat rates A - B per window with
Newcombe's 95% CI.  Orders are treated as independent; several orders of one
buyer are correlated, so the intervals are somewhat optimistic for sellers
whose revenue comes from a few very frequent buyers.

Verdict (first rule that applies):

1. ``too_little_data`` if either group has fewer than ``min_events`` (30) next
   orders.
2. If both medians are reached and the bootstrap CI is finite:
   ``sooner`` / ``later`` if log-rank p < alpha (0.05) and the CI of
   days_sooner excludes 0 (sign decides); otherwise ``no_difference``.
3. Otherwise (fewer than half the buyers came back, so a median does not
   exist) the longest window with at least ``min_events`` eligible orders in
   each group decides: ``more_often`` / ``less_often`` if p < alpha and the
   Newcombe CI excludes 0, else ``no_difference``; ``too_little_data`` if no
   window qualifies.

A verdict is ``{"key", "params", "text"}``: the key and params are for
translation, ``text`` the English rendering; `render_verdict` renders "en" or
"ru".  Everything returned is JSON-serializable (NaN -> None).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime

import numpy as np
import polars as pl

from qoima.analytics.domain import survival as sv
from qoima.analytics.domain.customer_metrics import US_PER_DAY, to_epoch_us, valid_orders

__all__ = ["COMPARISONS", "ReportOptions", "LoyaltyReport", "Comparison", "GroupStats", "Verdict",
           "next_order_table", "loyalty_report", "render_verdict"]

COMPARISONS = ("same_day_shipping", "on_time_delivery", "correct_item", "fast_return")
_GROUPS = {  # comparison -> (group A key, group B key)
    "same_day_shipping": ("same_day", "later"),
    "on_time_delivery": ("on_time", "late"),
    "correct_item": ("correct", "error"),
    "fast_return": ("fast_return", "slow_return"),
}
_FLAGS = ("shipped_same_day", "delivered_on_time", "fulfillment_error", "return_days")


@dataclass(frozen=True)
class ReportOptions:
    """Settings of `loyalty_report` (defaults in brackets in the module docstring)."""

    return_threshold_days: float = 7.0
    windows: tuple[int, ...] = (30, 60, 90)
    n_boot: int = 300
    seed: int = 0
    min_events: int = 30
    alpha: float = 0.05
    curve_days: int = 180
    resolution_days: float = 1 / 1440  # durations measured to the minute


@dataclass
class RepeatRate:
    days: int
    eligible: int      # orders observed >= days before as_of
    repeated: int      # of those, followed by a next order within days
    rate: float | None
    lower: float | None
    upper: float | None


@dataclass
class GroupStats:
    group: str
    n_orders: int
    n_next_orders: int
    repeat: list[RepeatRate]
    median_days: float | None
    median_lower: float | None
    median_upper: float | None
    curve: dict  # {"t": [...days], "s": [...], "lo": [...], "hi": [...]}


@dataclass
class RateDifference:
    days: int
    difference: float | None  # rate A - rate B
    lower: float | None
    upper: float | None


@dataclass
class Verdict:
    key: str
    params: dict
    text: str


@dataclass
class Comparison:
    key: str
    group_a: GroupStats
    group_b: GroupStats
    days_sooner: float | None        # median B - median A
    days_sooner_lower: float | None
    days_sooner_upper: float | None
    logrank_chi2: float
    logrank_p: float
    rate_differences: list[RateDifference]
    verdict: Verdict


@dataclass
class LoyaltyReport:
    as_of: str
    orders: int
    customers: int
    options: dict
    comparisons: list[Comparison] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _num(x, digits: int | None = None) -> float | None:
    if x is None:
        return None
    x = float(x)
    if not np.isfinite(x):
        return None
    return round(x, digits) if digits is not None else x


# ------------------------------------------------------------------ data prep


def _prepared(orders: pl.DataFrame, as_of_us: int, threshold: float) -> tuple[pl.DataFrame, dict]:
    """Valid orders with next-order durations, plus boolean group masks."""
    present = [c for c in _FLAGS if c in orders.columns]
    extra = ["order_id"] if "order_id" in orders.columns else []
    v = valid_orders(orders, as_of_us, extra + present)
    for c in _FLAGS:
        if c not in v.columns:
            v = v.with_columns(pl.lit(None, pl.Float64 if c == "return_days" else pl.Boolean).alias(c))
    same = pl.col("customer_id").shift(-1) == pl.col("customer_id")
    nxt = pl.col("t_us").shift(-1)
    v = v.with_columns(
        same.fill_null(False).alias("has_next"),
        ((pl.when(same).then(nxt).otherwise(as_of_us) - pl.col("t_us")) / US_PER_DAY).alias("days_to_next"),
        ((as_of_us - pl.col("t_us")) / US_PER_DAY).alias("observed_days"),
    )
    rd = pl.col("return_days")
    masks = v.select(
        pl.col("shipped_same_day").fill_null(False).alias("same_day"),
        (~pl.col("shipped_same_day")).fill_null(False).alias("later"),
        pl.col("delivered_on_time").fill_null(False).alias("on_time"),
        (~pl.col("delivered_on_time")).fill_null(False).alias("late"),
        (~pl.col("fulfillment_error")).fill_null(False).alias("correct"),
        pl.col("fulfillment_error").fill_null(False).alias("error"),
        (rd <= threshold).fill_null(False).alias("fast_return"),
        (rd > threshold).fill_null(False).alias("slow_return"),
    )
    return v, {c: masks[c].to_numpy() for c in masks.columns}


def next_order_table(orders: pl.DataFrame, as_of: datetime | date | None = None) -> pl.DataFrame:
    """Per valid order: its experience flags and the buyer's next order.

    Columns: order_id (if given), customer_id, created_at, shipped_same_day,
    delivered_on_time, fulfillment_error, return_days, has_next (Boolean),
    days_to_next (Float64; censored at as_of when has_next is false),
    observed_days (Float64).  Sorted by customer_id, created_at.
    ``as_of`` defaults to the last order's time.
    """
    as_of_us = _as_of_us(orders, as_of)
    v, _ = _prepared(orders, as_of_us, 7.0)
    return v.with_columns(pl.col("t_us").cast(pl.Datetime("us")).alias("created_at")).select(
        [c for c in ("order_id", "customer_id", "created_at") if c in v.columns or c == "created_at"]
        + list(_FLAGS) + ["has_next", "days_to_next", "observed_days"])


def _as_of_us(orders: pl.DataFrame, as_of) -> int:
    if as_of is not None:
        return to_epoch_us(as_of)
    last = orders.select(pl.col("created_at").dt.epoch("us").max()).item()
    return int(last) if last is not None else 0


# ------------------------------------------------------------------- analysis


def _group_stats(name: str, t: np.ndarray, e: np.ndarray, obs: np.ndarray, opt: ReportOptions):
    km = sv.kaplan_meier(t, e, resolution=opt.resolution_days)
    med = sv.km_median(km)
    gt, gs, glo, ghi = sv.km_curve(km, np.arange(opt.curve_days + 1, dtype=np.float64))
    rates = []
    for w in opt.windows:
        elig = obs >= w
        k, m = int((e & (t <= w) & elig).sum()), int(elig.sum())
        lo, hi = sv.wilson_interval(k, m)
        rates.append(RepeatRate(int(w), m, k, _num(k / m) if m else None, _num(lo), _num(hi)))
    curve = {"t": gt.tolist(), "s": np.round(gs, 5).tolist(), "lo": np.round(glo, 5).tolist(),
             "hi": np.round(ghi, 5).tolist()}
    stats = GroupStats(name, int(t.size), int(e.sum()), rates, _num(med.median, 3), _num(med.lower, 3),
                       _num(med.upper, 3), curve)
    return stats


def _compare(key: str, data: dict, masks: dict, opt: ReportOptions) -> Comparison:
    ga, gb = _GROUPS[key]
    t, e, obs = data["t"], data["e"], data["obs"]
    ma, mb = masks[ga], masks[gb]
    ta, ea, oa = t[ma], e[ma], obs[ma]
    tb, eb, ob = t[mb], e[mb], obs[mb]
    a = _group_stats(ga, ta, ea, oa, opt)
    b = _group_stats(gb, tb, eb, ob, opt)
    both = ma | mb
    lr = sv.logrank_test_grouped(t[both], e[both], ma[both], resolution=opt.resolution_days)
    sooner = lo = hi = None
    enough = min(a.n_next_orders, b.n_next_orders) >= opt.min_events
    if enough and a.median_days is not None and b.median_days is not None:
        sooner = b.median_days - a.median_days
        horizon = min(max(ta.max(), tb.max()), 3 * max(a.median_days, b.median_days) + 1)
        lo, hi, _ = sv.bootstrap_median_difference(ta, ea, tb, eb, n_boot=opt.n_boot, seed=opt.seed,
                                                   horizon=horizon)
    diffs = []
    for ra, rb in zip(a.repeat, b.repeat, strict=True):
        d, dlo, dhi = sv.newcombe_diff_interval(ra.repeated, ra.eligible, rb.repeated, rb.eligible)
        diffs.append(RateDifference(ra.days, _num(d), _num(dlo), _num(dhi)))
    cmp = Comparison(key, a, b, _num(sooner, 3), _num(lo, 3), _num(hi, 3), _num(lr.chi2) or 0.0,
                     _num(lr.p_value) if lr.p_value is not None else 1.0, diffs, Verdict("", {}, ""))
    cmp.verdict = _verdict(cmp, opt)
    return cmp


def _verdict(c: Comparison, opt: ReportOptions) -> Verdict:
    a, b = c.group_a, c.group_b
    base = {"comparison": c.key, "n_a": a.n_orders, "n_b": b.n_orders, "p_value": c.logrank_p}
    if c.key == "fast_return":
        base["threshold_days"] = opt.return_threshold_days
    significant = c.logrank_p < opt.alpha

    def make(key: str, **params) -> Verdict:
        v = Verdict(key, {**base, **params}, "")
        v.text = render_verdict(v, "en")
        return v

    if min(a.n_next_orders, b.n_next_orders) < opt.min_events:
        return make("too_little_data", events_a=a.n_next_orders, events_b=b.n_next_orders,
                    min_events=opt.min_events)
    if c.days_sooner is not None and c.days_sooner_lower is not None and c.days_sooner_upper is not None:
        lo, hi = c.days_sooner_lower, c.days_sooner_upper
        if significant and (lo > 0 or hi < 0):
            sign = 1 if lo > 0 else -1  # the CI decides the direction
            lo, hi = sorted((sign * lo, sign * hi))
            return make("sooner" if sign > 0 else "later", days=abs(c.days_sooner), lower=lo, upper=hi,
                        median_a=a.median_days, median_b=b.median_days)
        return make("no_difference", days=c.days_sooner, lower=lo, upper=hi)
    usable = [(ra, rb, d) for ra, rb, d in zip(a.repeat, b.repeat, c.rate_differences, strict=True)
              if min(ra.eligible, rb.eligible) >= opt.min_events and d.lower is not None]
    if not usable:
        return make("too_little_data", events_a=a.n_next_orders, events_b=b.n_next_orders,
                    min_events=opt.min_events)
    ra, rb, d = max(usable, key=lambda x: x[0].days)
    params = dict(window=ra.days, rate_a=ra.rate, rate_b=rb.rate, difference=d.difference,
                  lower=d.lower, upper=d.upper)
    if significant and (d.lower > 0 or d.upper < 0):
        return make("more_often" if d.difference > 0 else "less_often", **params)
    return make("no_difference", **params)


def loyalty_report(orders: pl.DataFrame, as_of: datetime | date | None = None,
                   options: ReportOptions | None = None) -> LoyaltyReport:
    """The fulfillment-to-loyalty report (definitions in the module docstring).

    ``as_of`` defaults to the last order's time.  Returns a `LoyaltyReport`
    (``.to_dict()`` is JSON-ready) with one `Comparison` per key in
    `COMPARISONS`, each carrying its `Verdict`.
    """
    opt = options or ReportOptions()
    as_of_us = _as_of_us(orders, as_of)
    v, masks = _prepared(orders, as_of_us, opt.return_threshold_days)
    data = {"t": v["days_to_next"].to_numpy(), "e": v["has_next"].to_numpy(),
            "obs": v["observed_days"].to_numpy()}
    n_customers = int(v["customer_id"].n_unique()) if v.height else 0
    report = LoyaltyReport(np.datetime64(as_of_us, "us").astype(datetime).isoformat() + "Z", v.height, n_customers,
                           {**asdict(opt), "windows": list(opt.windows)})
    for key in COMPARISONS:
        report.comparisons.append(_compare(key, data, masks, opt))
    return report


# ------------------------------------------------------------------ wording

_PHRASES = {  # comparison -> lang -> (subject A, after A, after B, topic)
    "same_day_shipping": {
        "en": ("Buyers whose order shipped the same day", "orders shipped the same day",
               "orders shipped later", "same-day shipping"),
        "ru": ("Покупатели, чей заказ отгрузили в тот же день", "заказов, отгруженных в тот же день",
               "заказов, отгруженных позже", "отгрузка в тот же день"),
        "kk": ("Тапсырысы сол күні жөнелтілген сатып алушылар", "сол күні жөнелтілген тапсырыстардан",
               "кейін жөнелтілген тапсырыстардан", "сол күні жөнелту"),
        "uk": ("Покупці, чиє замовлення відвантажили того ж дня", "замовлень, відвантажених того ж дня",
               "замовлень, відвантажених пізніше", "відвантаження того ж дня"),
    },
    "on_time_delivery": {
        "en": ("Buyers whose order arrived on time", "on-time deliveries", "late deliveries",
               "on-time delivery"),
        "ru": ("Покупатели, получившие заказ вовремя", "доставки вовремя", "доставки с опозданием",
               "доставка вовремя"),
        "kk": ("Тапсырысын уақытында алған сатып алушылар", "уақытында жеткізуден", "кешіккен жеткізуден",
               "уақытында жеткізу"),
        "uk": ("Покупці, які отримали замовлення вчасно", "доставки вчасно", "доставки із запізненням",
               "доставка вчасно"),
    },
    "correct_item": {
        "en": ("Buyers who received the right items", "correct orders", "orders with a picking error",
               "exact picking"),
        "ru": ("Покупатели, получившие правильный товар", "заказов без ошибок",
               "заказов с ошибкой комплектации", "точная комплектация"),
        "kk": ("Дұрыс тауар алған сатып алушылар", "қатесіз тапсырыстардан", "жинақтау қатесі бар тапсырыстардан",
               "дәл жинақтау"),
        "uk": ("Покупці, які отримали правильний товар", "замовлень без помилок",
               "замовлень з помилкою комплектації", "точна комплектація"),
    },
    "fast_return": {
        "en": ("Buyers whose return was processed within {t} days", "returns processed within {t} days",
               "slower returns", "fast return processing"),
        "ru": ("Покупатели, чей возврат обработали за {t} дн.", "возвратов, обработанных за {t} дн.",
               "более долгих возвратов", "быстрая обработка возвратов"),
        "kk": ("Қайтаруы {t} күнде өңделген сатып алушылар", "{t} күнде өңделген қайтарулардан",
               "ұзағырақ қайтарулардан", "қайтаруды жылдам өңдеу"),
        "uk": ("Покупці, чиє повернення обробили за {t} дн.", "повернень, оброблених за {t} дн.",
               "довших повернень", "швидка обробка повернень"),
    },
}

_TEMPLATES = {
    "en": {
        "sooner": "{subject} came back a median {days} days sooner (95% CI {lower}–{upper}, n = {n_a} vs {n_b}).",
        "later": "{subject} came back a median {days} days later (95% CI {lower}–{upper}, n = {n_a} vs {n_b}).",
        "more_often": "{subject} came back within {window} days more often: {rate_a} vs {rate_b} "
                      "(difference {diff} points, 95% CI {lower}–{upper}, n = {n_a} vs {n_b}).",
        "less_often": "{subject} came back within {window} days less often: {rate_a} vs {rate_b} "
                      "(difference {diff} points, 95% CI {lower}–{upper}, n = {n_a} vs {n_b}).",
        "no_difference": "No clear difference in how soon buyers came back after {after_a} and after "
                         "{after_b} (log-rank p = {p}, n = {n_a} vs {n_b}).",
        "too_little_data": "Too little data to conclude whether {topic} brings buyers back sooner: "
                           "{events_a} and {events_b} repeat orders so far, at least {min_events} "
                           "needed in each group.",
    },
    "ru": {
        "sooner": "{subject}, вернулись за новым заказом быстрее: по медиане на {days} дн. раньше "
                  "(95% ДИ {lower}–{upper}, n = {n_a} и {n_b}).",
        "later": "{subject}, вернулись за новым заказом медленнее: по медиане на {days} дн. позже "
                 "(95% ДИ {lower}–{upper}, n = {n_a} и {n_b}).",
        "more_often": "{subject}, чаще возвращались в течение {window} дн.: {rate_a} против {rate_b} "
                      "(разница {diff} п. п., 95% ДИ {lower}–{upper}, n = {n_a} и {n_b}).",
        "less_often": "{subject}, реже возвращались в течение {window} дн.: {rate_a} против {rate_b} "
                      "(разница {diff} п. п., 95% ДИ {lower}–{upper}, n = {n_a} и {n_b}).",
        "no_difference": "Явной разницы нет: покупатели возвращались примерно одинаково — что после "
                         "{after_a}, что после {after_b} (log-rank p = {p}, n = {n_a} и {n_b}).",
        "too_little_data": "Пока мало данных, чтобы понять, влияет ли {topic} на возвращение покупателей: "
                           "повторных заказов {events_a} и {events_b}, нужно не меньше {min_events} "
                           "в каждой группе.",
    },
    "kk": {
        "sooner": "{subject} жаңа тапсырысқа тезірек оралды: медиана бойынша {days} күн ерте "
                  "(95% СА {lower}–{upper}, n = {n_a} және {n_b}).",
        "later": "{subject} жаңа тапсырысқа баяуырақ оралды: медиана бойынша {days} күн кеш "
                 "(95% СА {lower}–{upper}, n = {n_a} және {n_b}).",
        "more_often": "{subject} {window} күн ішінде жиірек оралды: {rate_a}, ал екіншілері {rate_b} "
                      "(айырмашылық {diff} п. т., 95% СА {lower}–{upper}, n = {n_a} және {n_b}).",
        "less_often": "{subject} {window} күн ішінде сиректеу оралды: {rate_a}, ал екіншілері {rate_b} "
                      "(айырмашылық {diff} п. т., 95% СА {lower}–{upper}, n = {n_a} және {n_b}).",
        "no_difference": "Айқын айырмашылық жоқ: сатып алушылар {after_a} кейін де, {after_b} кейін де "
                         "шамамен бірдей оралды (log-rank p = {p}, n = {n_a} және {n_b}).",
        "too_little_data": "{topic} сатып алушылардың оралуына әсер ете ме, түсіну үшін деректер әлі аз: "
                           "қайталама тапсырыстар {events_a} және {events_b}, әр топта кемінде {min_events} "
                           "қажет.",
    },
    "uk": {
        "sooner": "{subject}, поверталися по нове замовлення швидше: за медіаною на {days} дн. раніше "
                  "(95% ДІ {lower}–{upper}, n = {n_a} і {n_b}).",
        "later": "{subject}, поверталися по нове замовлення повільніше: за медіаною на {days} дн. пізніше "
                 "(95% ДІ {lower}–{upper}, n = {n_a} і {n_b}).",
        "more_often": "{subject}, частіше поверталися протягом {window} дн.: {rate_a} проти {rate_b} "
                      "(різниця {diff} в. п., 95% ДІ {lower}–{upper}, n = {n_a} і {n_b}).",
        "less_often": "{subject}, рідше поверталися протягом {window} дн.: {rate_a} проти {rate_b} "
                      "(різниця {diff} в. п., 95% ДІ {lower}–{upper}, n = {n_a} і {n_b}).",
        "no_difference": "Явної різниці немає: покупці поверталися приблизно однаково — що після "
                         "{after_a}, що після {after_b} (log-rank p = {p}, n = {n_a} і {n_b}).",
        "too_little_data": "Поки замало даних, щоб зрозуміти, чи впливає {topic} на повернення покупців: "
                           "повторних замовлень {events_a} і {events_b}, потрібно щонайменше {min_events} "
                           "у кожній групі.",
    },
}


def _fmt(x: float, digits: int, lang: str) -> str:
    s = f"{x:,.{digits}f}"
    if lang in ("ru", "kk", "uk"):  # a space between thousands, a decimal comma
        s = s.replace(",", "\u00a0").replace(".", ",")
    return s.replace("-", "−")


def _fmt_p(p: float, lang: str) -> str:
    if p < 0.001:
        return "< " + _fmt(0.001, 3, lang)
    return _fmt(p, 3 if p < 0.01 else 2, lang)


def render_verdict(verdict: Verdict | dict, lang: str = "en") -> str:
    """Render a verdict (`Verdict` or its dict) as a sentence in "en", "ru", "kk" or "uk"."""
    key = verdict.key if isinstance(verdict, Verdict) else verdict["key"]
    prm = verdict.params if isinstance(verdict, Verdict) else verdict["params"]
    if lang not in _TEMPLATES:
        raise ValueError(f"unsupported language {lang!r}; use one of {', '.join(_TEMPLATES)}")
    thr = prm.get("threshold_days")
    thr_s = _fmt(thr, 0 if float(thr).is_integer() else 1, lang) if thr is not None else ""
    subject, after_a, after_b, topic = (x.format(t=thr_s) for x in _PHRASES[prm["comparison"]][lang])
    pct = "%" if lang == "en" else " %"
    values = {
        "subject": subject, "after_a": after_a, "after_b": after_b, "topic": topic,
        "n_a": _fmt(prm["n_a"], 0, lang), "n_b": _fmt(prm["n_b"], 0, lang),
        "p": _fmt_p(prm.get("p_value", 1.0), lang),
    }
    if key in ("sooner", "later"):
        values.update(days=_fmt(prm["days"], 1, lang), lower=_fmt(prm["lower"], 1, lang),
                      upper=_fmt(prm["upper"], 1, lang))
    elif key in ("more_often", "less_often"):
        values.update(window=prm["window"], rate_a=_fmt(100 * prm["rate_a"], 1, lang) + pct,
                      rate_b=_fmt(100 * prm["rate_b"], 1, lang) + pct,
                      diff=_fmt(100 * abs(prm["difference"]), 1, lang),
                      lower=_fmt(100 * min(abs(prm["lower"]), abs(prm["upper"])), 1, lang),
                      upper=_fmt(100 * max(abs(prm["lower"]), abs(prm["upper"])), 1, lang))
    elif key == "too_little_data":
        values.update(events_a=_fmt(prm["events_a"], 0, lang), events_b=_fmt(prm["events_b"], 0, lang),
                      min_events=prm["min_events"])
    return _TEMPLATES[lang][key].format(**values)
