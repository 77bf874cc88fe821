"""Benchmark of the customer analytics core on a simulated seller history.

Simulates ``n_customers`` buyers with about ``n_orders`` orders, then times
summary, cohort retention, RFM (+ segments), the LTV curve and the
fulfillment-to-loyalty report.  Prints one JSON line:

    python bench/analytics_core.py [n_customers] [n_orders]
"""

from __future__ import annotations

import json
import resource
import sys
import time

from qoima.domain import customer_metrics as cm
from qoima.domain.loyalty_effect import loyalty_report
from qoima.domain.simulate import simulate_history


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(n_customers: int = 1_000_000, n_orders: int = 5_000_000, seed: int = 1, effect_days: float = 2.5) -> dict:
    """Simulate, then time every analytics step; returns seconds per step."""
    seconds: dict[str, float] = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        out = fn()
        seconds[name] = round(time.perf_counter() - t0, 3)
        return out

    history = timed("simulate", lambda: simulate_history(n_customers=n_customers, n_orders=n_orders,
                                                         seed=seed, effect_days=effect_days))
    orders, as_of = history.orders, history.as_of
    rss_after_simulate = _peak_rss_mb()
    summary = timed("summary", lambda: cm.summary(orders, as_of))
    timed("cohort_retention", lambda: cm.cohort_heatmap(cm.cohort_retention(orders, as_of)))
    rfm = timed("rfm", lambda: cm.rfm(orders, as_of))
    timed("rfm_segments", lambda: cm.rfm_segments(rfm))
    timed("ltv_curve", lambda: cm.ltv_curve(orders, 24, as_of))
    report = timed("loyalty_report", lambda: loyalty_report(orders, as_of))
    analytics = round(sum(v for k, v in seconds.items() if k != "simulate"), 3)
    same_day = report.comparisons[0]
    return {
        "n_customers": n_customers,
        "n_orders": orders.height,
        "seconds": seconds,
        "analytics_total_seconds": analytics,
        "peak_rss_mb_after_simulate": round(rss_after_simulate, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "repeat_rate": summary["repeat_rate"],
        "planted_effect_days": effect_days,
        "same_day_days_sooner": [same_day.days_sooner, same_day.days_sooner_lower, same_day.days_sooner_upper],
        "same_day_verdict": same_day.verdict.text,
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    print(json.dumps(run(*args), ensure_ascii=False))
