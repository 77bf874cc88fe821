"""`qoima bench analytics`: the whole customer-analytics pipeline on a simulated
seller with 1,000,000 customers / 5,000,000 orders, and the BG/NBD fit against
lifetimes 0.11.3 on the same customers in the same run.

Timed (`seconds`): summary metrics, cohort retention, RFM + segments, LTV curve,
the RFM summary for CLV, the BG/NBD and Gamma-Gamma fits, per-customer scores
(P(alive), expected purchases, CLV) and the fulfillment-to-loyalty report.
Generating the history is not timed. `peak_rss_mb` is the peak resident memory of
this process (lifetimes runs in its own virtualenv, in a child process).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))

from qoima.analytics.domain import clv  # noqa: E402
from qoima.analytics.domain import customer_metrics as cm  # noqa: E402
from qoima.analytics.domain.loyalty_effect import loyalty_report  # noqa: E402
from qoima.analytics.domain.simulate import simulate_history  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n_customers: int = 1_000_000, n_orders: int = 5_000_000, seed: int = 1, lifetimes: bool = True) -> dict:
    history = simulate_history(n_customers=n_customers, n_orders=n_orders, seed=seed, effect_days=2.5)
    orders, as_of = history.orders, history.as_of
    steps: dict[str, float] = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        out = fn()
        steps[name] = round(time.perf_counter() - t0, 3)
        return out

    started = time.perf_counter()
    timed("summary", lambda: cm.summary(orders, as_of))
    timed("cohorts", lambda: cm.cohort_heatmap(cm.cohort_retention(orders, as_of)))
    rfm = timed("rfm", lambda: cm.rfm(orders, as_of))
    timed("rfm_segments", lambda: cm.rfm_segments(rfm))
    timed("ltv_curve", lambda: cm.ltv_curve(orders, 24, as_of))
    tx = orders.filter(~pl.col("cancelled")).select("customer_id", pl.col("created_at").alias("date"), "amount")
    summ = timed("clv_summary", lambda: clv.summary_from_transactions(tx, observation_end=as_of, unit="weeks"))
    x, t_x, T = (summ[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    m = summ["monetary_value"].to_numpy()
    model = timed("bgnbd_fit", lambda: clv.fit_bgnbd(x, t_x, T))
    repeat = x > 0
    spend = timed("gamma_gamma_fit", lambda: clv.fit_gamma_gamma(x[repeat], m[repeat]))
    timed("clv_scores", lambda: clv.score_customers(model, x, t_x, T, horizon=13.0, monetary=m, spend_model=spend))
    report = timed("loyalty_report", lambda: loyalty_report(orders, as_of))
    seconds = time.perf_counter() - started
    out = {"seconds": round(seconds, 2), "peak_rss_mb": round(_rss_mb(), 1), "bgnbd_fit_s": steps["bgnbd_fit"],
           "customers": int(len(x)), "orders": orders.height, "steps": steps,
           "bgnbd_params": {k: round(v, 6) for k, v in model.as_dict().items()},
           "same_day_verdict": report.comparisons[0].verdict.text}
    if lifetimes:
        from clv_fit import _time_lifetimes  # the pinned lifetimes venv lives there
        theirs = _time_lifetimes(x, t_x, T, timeout=3600)
        out["lifetimes_fit_s"] = round(theirs["lifetimes_fit_s"], 3) if "lifetimes_fit_s" in theirs else None
        out["lifetimes_params"] = {k: round(v, 6) for k, v in theirs.get("lifetimes_params", {}).items()}
        if out["lifetimes_fit_s"]:
            out["speedup"] = round(out["lifetimes_fit_s"] / out["bgnbd_fit_s"], 1)
        if "lifetimes_error" in theirs:
            out["lifetimes_error"] = theirs["lifetimes_error"]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--orders", type=int, default=5_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-lifetimes", action="store_true")
    a = p.parse_args(argv)
    print(json.dumps(run(a.customers, a.orders, a.seed, lifetimes=not a.skip_lifetimes), ensure_ascii=False))


if __name__ == "__main__":
    main()
