"""Benchmark: BG/NBD fit of qoima.analytics.domain.clv versus lifetimes 0.11.3.

Simulates ``n_customers`` from a BG/NBD process with the CDNOW parameters
(r=0.243, alpha=4.414, a=0.793, b=2.426, weeks), with ages of 1..364 whole days
and purchase times recorded to the day (as a transaction log gives them), then

* fits it with :func:`qoima.analytics.domain.clv.fit_bgnbd` (``bgnbd_fit_s``, includes the
  compression to unique rows), and
* fits the same arrays with lifetimes' ``BetaGeoFitter().fit(frequency, recency, T)``
  in a separate virtualenv (``lifetimes_fit_s``), because lifetimes needs old
  pandas/numpy.  Also timed: lifetimes given our compressed rows through its own
  ``weights=`` argument (``lifetimes_weighted_fit_s``).

The lifetimes interpreter is ``$QOIMA_LIFETIMES_PYTHON`` if set, otherwise
``/tmp/qoima-lifetimes-venv/bin/python``, created on first use with
``pip install lifetimes==0.11.3`` plus the pins in ``LIFETIMES_PINS``.

    python bench/clv_fit.py --customers 1000000     # prints one JSON line
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qoima.analytics.domain.clv import BgNbdParams, bgnbd_log_likelihood, compress_rfm, fit_bgnbd
from qoima.analytics.domain.clv_bgnbd import simulate_bgnbd

TRUE_PARAMS = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
LIFETIMES_VENV = Path("/tmp/qoima-lifetimes-venv")
# lifetimes 0.11.3 (2020) on Python 3.11: its fitters also run on numpy 2 / pandas 3,
# but its transaction summary needs pandas < 2.2; these pins are the tested set.
LIFETIMES_PINS = [
    "lifetimes==0.11.3", "numpy<2", "pandas<2.2", "scipy<1.14", "autograd<1.7", "setuptools<70",
]

LIFETIMES_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
from lifetimes import BetaGeoFitter

data = np.load(sys.argv[1])
out = {}
for label, args, weights in [
    ("weighted", ("ux", "ut_x", "uT"), "uw"),
    ("plain", ("x", "t_x", "T"), None),
]:
    x, t_x, T = (data[k] for k in args)
    kwargs = {} if weights is None else {"weights": data[weights].astype(np.int64)}
    started = time.perf_counter()
    try:
        fitter = BetaGeoFitter().fit(x, t_x, T, **kwargs)
    except Exception as exc:  # e.g. lifetimes' ConvergenceError
        out[label + "_error"] = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
        continue
    out[label + "_fit_s"] = time.perf_counter() - started
    out[label + "_params"] = {k: float(v) for k, v in fitter.params_.items()}
print(json.dumps(out))
"""


def simulate(n_customers: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) in weeks; ages 1..364 days, purchase days floored to whole days."""
    rng = np.random.default_rng(seed)
    age_days = rng.integers(1, 365, size=n_customers)
    T = age_days / 7.0
    x, t_x = simulate_bgnbd(TRUE_PARAMS, T, rng)
    t_x = np.floor(t_x * 7.0) / 7.0
    return x, t_x, T


def lifetimes_python() -> Path:
    """Interpreter with lifetimes 0.11.3; creates the pinned virtualenv if needed."""
    configured = os.environ.get("QOIMA_LIFETIMES_PYTHON")
    if configured:
        return Path(configured)
    python = LIFETIMES_VENV / "bin" / "python"
    probe = [str(python), "-c", "import lifetimes"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(LIFETIMES_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *LIFETIMES_PINS], check=True)
    subprocess.run(probe, check=True)
    return python


def _time_lifetimes(x, t_x, T, timeout: float) -> dict:
    packed = compress_rfm(x, t_x, T)
    python = lifetimes_python()
    with tempfile.TemporaryDirectory() as tmp:
        data, script = Path(tmp) / "rfm.npz", Path(tmp) / "fit.py"
        np.savez(data, x=x, t_x=t_x, T=T, ux=packed.x, ut_x=packed.t_x, uT=packed.T, uw=packed.weight)
        script.write_text(LIFETIMES_SCRIPT)
        done = subprocess.run(
            [str(python), str(script), str(data)], capture_output=True, text=True, timeout=timeout
        )
    if done.returncode != 0:
        return {"lifetimes_error": done.stderr.strip().splitlines()[-1:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    out = {"lifetimes_python": str(python)}
    for theirs, ours in [("plain", "lifetimes"), ("weighted", "lifetimes_weighted")]:
        for suffix in ("_fit_s", "_params", "_error"):
            if theirs + suffix in result:
                out[ours + suffix] = result[theirs + suffix]
    return out


def run(n_customers: int = 1_000_000, seed: int = 0, *, lifetimes: bool = True, timeout: float = 3600) -> dict:
    """Simulate, fit with qoima and (optionally) lifetimes; return the figures."""
    started = time.perf_counter()
    x, t_x, T = simulate(n_customers, seed)
    simulate_s = time.perf_counter() - started
    started = time.perf_counter()
    fitted = fit_bgnbd(x, t_x, T)
    bgnbd_fit_s = time.perf_counter() - started
    packed = compress_rfm(x, t_x, T)
    out: dict = {
        "n_customers": n_customers,
        "unique_rows": len(packed.x),
        "seed": seed,
        "simulate_s": round(simulate_s, 3),
        "true_params": TRUE_PARAMS.as_dict(),
        "bgnbd_fit_s": round(bgnbd_fit_s, 3),
        "bgnbd_params": fitted.as_dict(),
        "bgnbd_log_likelihood": fitted.log_likelihood,
    }
    if not lifetimes:
        return out
    out.update(_time_lifetimes(x, t_x, T, timeout))
    if "lifetimes_params" in out:
        theirs = BgNbdParams(**out["lifetimes_params"])
        out["lifetimes_log_likelihood"] = bgnbd_log_likelihood(theirs, packed)
        out["max_param_rel_diff"] = max(
            abs(getattr(theirs, k) / v - 1.0) for k, v in fitted.as_dict().items()
        )
        out["ratio"] = round(out["lifetimes_fit_s"] / bgnbd_fit_s, 1)
    for key in ("lifetimes_fit_s", "lifetimes_weighted_fit_s"):
        if key in out:
            out[key] = round(out[key], 3)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-lifetimes", action="store_true", help="time qoima only")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed for lifetimes")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.customers, args.seed, lifetimes=not args.skip_lifetimes, timeout=args.timeout)))


if __name__ == "__main__":
    main()
