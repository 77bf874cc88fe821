"""Customer metrics over one seller's order history (Polars in, Polars/dicts out).

Input contract: a Polars DataFrame ``orders``, one row per order of one seller,
with ``order_id`` Int64, ``customer_id`` Int64, ``created_at`` Datetime (UTC;
naive = UTC), ``amount`` Float64 and ``cancelled`` Boolean (other columns are
ignored here).  Unless said otherwise every metric uses the *valid* orders:
not cancelled (null counts as not cancelled), customer_id and created_at not
null, ``created_at <= as_of``.  A missing amount counts as 0.

Definitions (all over valid orders):

* customers: distinct customer_id; orders: number of valid orders;
  revenue: sum of ``amount``.
* LTV: historical revenue per customer = revenue / customers.
* AOV (average order value) = revenue / orders;
  orders per customer = orders / customers.
* repeat-purchase rate: share of customers with at least 2 orders.
* days to second order: for customers with >= 2 orders, (time of 2nd order -
  time of 1st order) in days; median and mean over those customers only (it is
  conditional on having come back, and short histories bias it downwards).
* churn horizon H (`churn_horizon_days`): the ``quantile`` (default 90th
  percentile) of the gaps in days between consecutive orders of the same
  customer, rounded up to whole days and clamped to [minimum, maximum]; with no
  repeat orders at all H = maximum.  Meaning: 90% of returning buyers come back
  within H days.
* churn rate: among customers whose first order is at least H days before
  ``as_of`` (younger customers cannot have churned yet and are left out of the
  denominator), the share with no order in the last H days, i.e. last order
  <= as_of - H.

Heavy lifting is one multi-threaded Polars sort by (customer_id, created_at)
followed by O(n) segment operations in numpy; no Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl

__all__ = [
    "SEGMENTS",
    "summary",
    "churn_horizon_days",
    "cohort_retention",
    "cohort_heatmap",
    "ltv_curve",
    "rfm",
    "rfm_segments",
    "to_epoch_us",
    "valid_orders",
    "US_PER_DAY",
]

US_PER_DAY = 86_400_000_000
DAYS_PER_MONTH = 365.25 / 12  # 30.4375: "months since first order" for the LTV curve
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_epoch_us(value: datetime | date) -> int:
    """Microseconds since 1970-01-01 UTC; a naive datetime is taken as UTC and a
    date as its midnight UTC."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // timedelta(microseconds=1)


def _iso(us: int) -> str:
    """Microseconds since the epoch (UTC) as RFC 3339 with the offset."""
    return np.datetime64(int(us), "us").astype(datetime).isoformat() + "Z"


def valid_orders(orders: pl.DataFrame, as_of_us: int | None, columns: list[str] | tuple = ()) -> pl.DataFrame:
    """Valid orders sorted by (customer_id, created_at), input order kept on ties.

    Adds ``t_us`` (created_at as epoch microseconds); keeps ``customer_id``,
    ``amount`` (null -> 0) and any extra ``columns`` asked for.
    """
    t_us = pl.col("created_at").dt.epoch("us")
    cond = pl.col("customer_id").is_not_null() & pl.col("created_at").is_not_null()
    if "cancelled" in orders.columns:
        cond = cond & ~pl.col("cancelled").fill_null(False)
    if as_of_us is not None:
        cond = cond & (t_us <= as_of_us)
    amount = pl.col("amount").fill_null(0.0).cast(pl.Float64) if "amount" in orders.columns else pl.lit(0.0)
    # Eager on purpose: a two-pass stable sort (time, then customer) is the
    # fastest deterministic (customer_id, created_at) order in Polars here.
    v = orders.filter(cond).select(pl.col("customer_id").cast(pl.Int64), t_us.alias("t_us"),
                                   amount.alias("amount"), *columns)
    return v.sort("t_us", maintain_order=True).sort("customer_id", maintain_order=True)


@dataclass(frozen=True)
class _Customers:
    """Valid orders as sorted numpy arrays plus per-customer segments."""

    cust: np.ndarray      # per order, sorted
    t_us: np.ndarray      # per order
    amount: np.ndarray    # per order
    starts: np.ndarray    # index of each customer's first order
    counts: np.ndarray    # orders per customer
    ids: np.ndarray       # customer_id per customer
    as_of_us: int

    @property
    def first(self) -> np.ndarray:
        return self.t_us[self.starts]

    @property
    def last(self) -> np.ndarray:
        return self.t_us[self.starts + self.counts - 1]

    def revenue(self) -> np.ndarray:
        if self.starts.size == 0:
            return np.zeros(0)
        return np.add.reduceat(self.amount, self.starts)

    def gaps_days(self) -> np.ndarray:
        """Days between consecutive orders of the same customer."""
        same = self.cust[1:] == self.cust[:-1]
        return np.diff(self.t_us)[same] / US_PER_DAY


def _customers(orders: pl.DataFrame, as_of: datetime | date | None) -> _Customers:
    as_of_us = None if as_of is None else to_epoch_us(as_of)
    v = valid_orders(orders, as_of_us)
    cust = v["customer_id"].to_numpy()
    t_us = v["t_us"].to_numpy()
    amount = v["amount"].to_numpy()
    if cust.size:
        starts = np.concatenate(([0], np.flatnonzero(cust[1:] != cust[:-1]) + 1))
    else:
        starts = np.zeros(0, dtype=np.int64)
    counts = np.diff(np.append(starts, cust.size))
    if as_of_us is None:
        as_of_us = int(t_us.max()) if t_us.size else 0
    return _Customers(cust, t_us, amount, starts, counts, cust[starts], int(as_of_us))


def _num(x) -> float | None:
    """JSON-friendly float: None for NaN/inf."""
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _horizon(gaps: np.ndarray, quantile: float, minimum: float, maximum: float) -> float:
    if gaps.size == 0:
        return float(maximum)
    return float(np.clip(np.ceil(np.quantile(gaps, quantile)), minimum, maximum))


def churn_horizon_days(orders: pl.DataFrame, quantile: float = 0.9, minimum: float = 30,
                       maximum: float = 365, as_of: datetime | date | None = None) -> float:
    """Churn horizon in whole days from the seller's own inter-purchase gaps.

    The ``quantile`` of the gaps (days) between consecutive valid orders of the
    same customer, rounded up and clamped to [minimum, maximum]; ``maximum``
    when nobody ever ordered twice.
    """
    return _horizon(_customers(orders, as_of).gaps_days(), quantile, minimum, maximum)


def summary(orders: pl.DataFrame, as_of: datetime | date, churn_horizon: float | None = None) -> dict:
    """Headline customer metrics as of ``as_of`` (see the module docstring).

    ``churn_horizon`` (days) overrides the horizon derived with
    `churn_horizon_days` defaults.  Returns a JSON-ready dict with keys
    ``as_of, customers, orders, cancelled_orders, revenue, ltv, aov,
    orders_per_customer, repeat_customers, repeat_rate,
    days_to_second_order_median, days_to_second_order_mean,
    churn_horizon_days, churn_eligible_customers, churned_customers,
    churn_rate`` (ratios as fractions 0..1; None when undefined).
    """
    c = _customers(orders, as_of)
    n_cust, n_orders = int(c.ids.size), int(c.t_us.size)
    revenue = float(c.amount.sum())
    repeat = c.counts >= 2
    second = (c.t_us[c.starts[repeat] + 1] - c.first[repeat]) / US_PER_DAY
    horizon = float(churn_horizon) if churn_horizon is not None else _horizon(c.gaps_days(), 0.9, 30, 365)
    cutoff = c.as_of_us - horizon * US_PER_DAY
    eligible = c.first <= cutoff
    churned = eligible & (c.last <= cutoff)
    cancelled = 0
    if "cancelled" in orders.columns:
        cancelled = int(orders.lazy().filter(pl.col("cancelled").fill_null(False)
                                             & (pl.col("created_at").dt.epoch("us") <= c.as_of_us))
                        .select(pl.len()).collect().item())
    div = lambda a, b: _num(a / b) if b else None  # noqa: E731
    return {
        "as_of": _iso(c.as_of_us),
        "customers": n_cust,
        "orders": n_orders,
        "cancelled_orders": cancelled,
        "revenue": revenue,
        "ltv": div(revenue, n_cust),
        "aov": div(revenue, n_orders),
        "orders_per_customer": div(n_orders, n_cust),
        "repeat_customers": int(repeat.sum()),
        "repeat_rate": div(int(repeat.sum()), n_cust),
        "days_to_second_order_median": _num(np.median(second)) if second.size else None,
        "days_to_second_order_mean": _num(second.mean()) if second.size else None,
        "churn_horizon_days": horizon,
        "churn_eligible_customers": int(eligible.sum()),
        "churned_customers": int(churned.sum()),
        "churn_rate": div(int(churned.sum()), int(eligible.sum())),
    }


def churn_ages(orders: pl.DataFrame, as_of: datetime | date) -> dict:
    """Whole days from each customer's first and last valid order to ``as_of``, counted per
    day: ``{"first": [[days, customers], ...], "last": [...]}``. Enough to give the churn
    figures of `summary` for any whole-day horizon later (`churn_at`), without the orders."""
    c = _customers(orders, as_of)

    def counts(t_us: np.ndarray) -> list[list[int]]:
        days, n = np.unique((c.as_of_us - t_us) // US_PER_DAY, return_counts=True)
        return [[int(d), int(k)] for d, k in zip(days, n)]
    return {"first": counts(c.first), "last": counts(c.last)}


def churn_at(ages: dict, horizon_days: int) -> dict:
    """The churn keys of `summary` for a whole-day ``horizon_days``, from `churn_ages`: a customer
    is eligible when the first order is at least H days old, churned when the last one is too
    (the last order is never older than the first, so churned customers are eligible)."""
    h = int(horizon_days)
    eligible = sum(n for d, n in ages["first"] if d >= h)
    churned = sum(n for d, n in ages["last"] if d >= h)
    return {"churn_horizon_days": float(h), "churn_eligible_customers": eligible, "churned_customers": churned,
            "churn_rate": _num(churned / eligible) if eligible else None}


# ------------------------------------------------------------------- cohorts


def _month_index(t_us: np.ndarray) -> np.ndarray:
    """Calendar months since 1970-01 (UTC), via a per-day lookup table (fast)."""
    day = t_us // US_PER_DAY
    if day.size == 0:
        return day
    d0 = int(day.min())
    table = np.arange(d0, int(day.max()) + 1).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return table[day - d0]


def cohort_retention(orders: pl.DataFrame, as_of: datetime | date | None = None) -> pl.DataFrame:
    """Monthly cohort retention, long format.

    A customer's cohort is the calendar month (UTC) of their first valid order.
    ``offset`` = calendar months between the order's month and the cohort month
    (0 = the cohort month itself).  ``customers`` = distinct customers of the
    cohort with at least one valid order in that month; ``share`` = customers /
    cohort_size (offset 0 is therefore always 1.0).  Every cell up to the month
    of ``as_of`` (default: the last order) is present, zeros included; the
    month of ``as_of`` itself is partial.

    Columns: cohort (str "YYYY-MM"), cohort_start (Date), cohort_size (Int64),
    offset (Int32), customers (Int64), share (Float64); sorted by cohort, offset.
    Use `cohort_heatmap` for a chart-ready matrix.
    """
    c = _customers(orders, as_of)
    schema = {"cohort": pl.Utf8, "cohort_start": pl.Date, "cohort_size": pl.Int64, "offset": pl.Int32,
              "customers": pl.Int64, "share": pl.Float64}
    if c.ids.size == 0:
        return pl.DataFrame(schema=schema)
    month = _month_index(c.t_us)
    cohort_m = month[c.starts]
    m0 = int(cohort_m.min())
    last_m = int(_month_index(np.array([c.as_of_us]))[0])
    n_coh, width = last_m - m0 + 1, last_m - m0 + 1
    offset = month - np.repeat(cohort_m, c.counts)
    new = np.ones(month.size, dtype=bool)  # first order of a (customer, month) pair
    new[1:] = (c.cust[1:] != c.cust[:-1]) | (offset[1:] != offset[:-1])
    coh_idx = np.repeat(cohort_m - m0, c.counts)
    active = np.bincount(coh_idx[new] * width + offset[new], minlength=n_coh * width).reshape(n_coh, width)
    sizes = np.bincount(cohort_m - m0, minlength=n_coh)
    ci, oi = np.nonzero(np.ones((n_coh, width), dtype=bool))
    keep = (sizes[ci] > 0) & (ci + oi <= last_m - m0)
    ci, oi = ci[keep], oi[keep]
    start = (m0 + ci).astype("datetime64[M]").astype("datetime64[D]")
    return pl.DataFrame({
        "cohort": np.datetime_as_string(start.astype("datetime64[M]")),
        "cohort_start": start,
        "cohort_size": sizes[ci].astype(np.int64),
        "offset": oi.astype(np.int32),
        "customers": active[ci, oi].astype(np.int64),
        "share": active[ci, oi] / sizes[ci],
    }, schema=schema)


def cohort_heatmap(retention: pl.DataFrame) -> dict:
    """Chart-ready matrix from `cohort_retention` output.

    ``{"cohorts": ["2024-01", ...], "sizes": [...], "offsets": [0, 1, ...],
    "values": [[share or None, ...], ...]}`` where ``values[i][j]`` is the share
    of cohort i active j months after its first month; None = not yet observed.
    """
    if retention.height == 0:
        return {"cohorts": [], "sizes": [], "offsets": [], "values": []}
    width = int(retention["offset"].max()) + 1
    rows = retention.group_by("cohort", maintain_order=True).agg(
        pl.col("cohort_size").first(), pl.col("offset"), pl.col("share")).sort("cohort")
    values = []
    for offs, shares in zip(rows["offset"].to_list(), rows["share"].to_list(), strict=True):  # one per cohort
        line: list[float | None] = [None] * width
        for o, s in zip(offs, shares, strict=True):
            line[o] = s
        values.append(line)
    return {"cohorts": rows["cohort"].to_list(), "sizes": rows["cohort_size"].to_list(),
            "offsets": list(range(width)), "values": values}


def ltv_curve(orders: pl.DataFrame, max_months: int = 24, as_of: datetime | date | None = None) -> pl.DataFrame:
    """Average cumulative revenue per customer by months since first order.

    A "month" here is 30.4375 days of elapsed time since the customer's first
    valid order; month k covers [0, (k+1) * 30.4375) days.  ``ltv`` at month k
    = mean over customers observed for the whole month k (first order at least
    (k+1) * 30.4375 days before ``as_of``, default: the last order) of their
    revenue from orders placed before the end of month k; customers not yet
    observed that long are left out, so late cohorts do not drag the curve
    down.  ``orders_per_customer`` is the same average for order counts.

    Columns: month (Int32, 0..max_months), customers (Int64, eligible),
    ltv (Float64, null if nobody eligible), orders_per_customer (Float64).
    """
    c = _customers(orders, as_of)
    size = max_months + 2  # row 0 = "not even month 0 complete"
    mlen = DAYS_PER_MONTH * US_PER_DAY
    k_cust = np.minimum(np.floor((c.as_of_us - c.first) / mlen).astype(np.int64) - 1, max_months)
    k_ord = np.floor((c.t_us - np.repeat(c.first, c.counts)) / mlen).astype(np.int64)
    k_own = np.repeat(k_cust, c.counts)
    inside = k_ord <= max_months
    cell = (k_own[inside] + 1) * (max_months + 1) + k_ord[inside]
    rev = np.bincount(cell, weights=c.amount[inside], minlength=size * (max_months + 1))
    cnt = np.bincount(cell, minlength=size * (max_months + 1)).astype(np.float64)
    rev, cnt = rev.reshape(size, max_months + 1), cnt.reshape(size, max_months + 1)
    # cum[K, k] = amount of customers with horizon K from orders of month <= k
    rev_cum, cnt_cum = np.cumsum(rev, axis=1), np.cumsum(cnt, axis=1)
    # sum over customers with horizon >= k: reverse cumulative over rows
    rev_tail = np.cumsum(rev_cum[::-1], axis=0)[::-1]
    cnt_tail = np.cumsum(cnt_cum[::-1], axis=0)[::-1]
    eligible = np.cumsum(np.bincount(k_cust + 1, minlength=size)[::-1])[::-1]
    months = np.arange(max_months + 1)
    n_el = eligible[months + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ltv = np.where(n_el > 0, rev_tail[months + 1, months] / n_el, np.nan)
        opc = np.where(n_el > 0, cnt_tail[months + 1, months] / n_el, np.nan)
    return pl.DataFrame({"month": months.astype(np.int32), "customers": n_el.astype(np.int64),
                         "ltv": ltv, "orders_per_customer": opc}).with_columns(
        pl.col("ltv").fill_nan(None), pl.col("orders_per_customer").fill_nan(None))


# ----------------------------------------------------------------------- RFM

SEGMENTS = ("Champions", "Loyal", "Potential loyalist", "New customers", "Promising", "Need attention",
            "About to sleep", "At risk", "Cannot lose them", "Hibernating", "Lost")

# (R score, FM score) -> segment.  FM = (F + M + 1) // 2, the rounded-up mean
# of the frequency and monetary scores.  Rows R = 5..1, columns FM = 1..5.
_GRID = {
    5: ("New customers", "Potential loyalist", "Potential loyalist", "Champions", "Champions"),
    4: ("Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Loyal"),
    3: ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At risk", "At risk", "Cannot lose them"),
    1: ("Lost", "Hibernating", "At risk", "At risk", "Cannot lose them"),
}
_SEGMENT_OF = {r * 10 + fm: name for r, row in _GRID.items() for fm, name in enumerate(row, start=1)}


def _score(col: str, n: int, better_is_lower: bool = False) -> pl.Expr:
    """1 + floor(5 * (customers strictly worse) / n), so ties share a score."""
    worse = pl.col(col).rank("min", descending=better_is_lower) - 1
    return (1 + (worse * 5 // max(n, 1))).clip(1, 5).cast(pl.Int8)


def rfm(orders: pl.DataFrame, as_of: datetime | date) -> pl.DataFrame:
    """RFM table, one row per customer with a valid order by ``as_of``.

    * recency_days: whole days (floored) from the last valid order to as_of;
    * frequency: number of valid orders; monetary: their total amount.
    * r_score, f_score, m_score in 1..5 by quintile of rank:
      score = 1 + floor(5 * w / n) where n = customers and w = customers with a
      strictly worse value (larger recency; smaller frequency / monetary).
      Equal values always get equal scores (deterministic, no random tie
      breaking); e.g. every one-order customer has f_score 1.  With few
      customers the scores are still defined (one customer: all 1).
    * fm_score = (f_score + m_score + 1) // 2; rfm_code e.g. "534".
    * segment from (r_score, fm_score), the common RFM segment map:

      ======  ==============  ==================  ==================  =========  ================
      R \\ FM  1               2                   3                   4          5
      ======  ==============  ==================  ==================  =========  ================
      5       New customers   Potential loyalist  Potential loyalist  Champions  Champions
      4       Promising       Potential loyalist  Potential loyalist  Loyal      Loyal
      3       About to sleep  About to sleep      Need attention      Loyal      Loyal
      2       Hibernating     Hibernating         At risk             At risk    Cannot lose them
      1       Lost            Hibernating         At risk             At risk    Cannot lose them
      ======  ==============  ==================  ==================  =========  ================

    Columns: customer_id, first_order_at, last_order_at (Datetime us),
    recency_days (Int64), frequency (Int64), monetary (Float64), r_score,
    f_score, m_score, fm_score (Int8), rfm_code (str), segment (Enum SEGMENTS).
    """
    c = _customers(orders, as_of)
    n = int(c.ids.size)
    df = pl.DataFrame({
        "customer_id": c.ids,
        "first_order_at": c.first.astype("datetime64[us]"),
        "last_order_at": c.last.astype("datetime64[us]"),
        "recency_days": (c.as_of_us - c.last) // US_PER_DAY,
        "frequency": c.counts.astype(np.int64),
        "monetary": c.revenue(),
    })
    df = df.with_columns(
        _score("recency_days", n, better_is_lower=True).alias("r_score"),
        _score("frequency", n).alias("f_score"),
        _score("monetary", n).alias("m_score"),
    ).with_columns(((pl.col("f_score").cast(pl.Int16) + pl.col("m_score") + 1) // 2).cast(pl.Int8).alias("fm_score"))
    key = pl.col("r_score").cast(pl.Int16) * 10 + pl.col("fm_score")
    return df.with_columns(
        pl.concat_str([pl.col("r_score"), pl.col("f_score"), pl.col("m_score")]).alias("rfm_code"),
        key.replace_strict(_SEGMENT_OF, return_dtype=pl.Enum(SEGMENTS)).alias("segment"),
    )


def rfm_segments(rfm_df: pl.DataFrame) -> pl.DataFrame:
    """Counts and revenue per RFM segment, all segments in `SEGMENTS` order.

    Columns: segment, customers, customer_share, revenue (sum of monetary),
    revenue_share, avg_recency_days, avg_frequency, avg_monetary (null for an
    empty segment).
    """
    total_c = max(rfm_df.height, 1)
    total_r = float(rfm_df["monetary"].sum()) if rfm_df.height else 0.0
    agg = rfm_df.group_by("segment").agg(
        pl.len().cast(pl.Int64).alias("customers"),
        pl.col("monetary").sum().alias("revenue"),
        pl.col("recency_days").mean().alias("avg_recency_days"),
        pl.col("frequency").mean().alias("avg_frequency"),
        pl.col("monetary").mean().alias("avg_monetary"),
    )
    base = pl.DataFrame({"segment": pl.Series(SEGMENTS, dtype=pl.Enum(SEGMENTS))})
    return base.join(agg, on="segment", how="left").with_columns(
        pl.col("customers").fill_null(0), pl.col("revenue").fill_null(0.0),
    ).with_columns(
        (pl.col("customers") / total_c).alias("customer_share"),
        (pl.col("revenue") / total_r if total_r else pl.lit(0.0)).alias("revenue_share"),
    ).select("segment", "customers", "customer_share", "revenue", "revenue_share",
             "avg_recency_days", "avg_frequency", "avg_monetary")
