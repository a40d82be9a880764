"""Speed of scalefit against baselines measured in the same run (ratios, not absolute times).

    python benchmarks/bench.py            # several minutes: the baselines are the slow part
    python benchmarks/bench.py --quick    # smaller baselines, extrapolated (says so)

Cases
- saturating bootstrap: 1,000 resamples of a 10-run ladder. Ours: `scalefit fit --band-method
  percentile --bootstrap 1000` end to end, minus its start-up (the same command on a 4-run ladder
  with --bootstrap 0). Baseline: a careful hand-written loop, scipy curve_fit on ln L from 3
  starts per resample, best kept.
- L(N, D) fit of the Chinchilla runs (../shared/reference-data, skipped when absent). Ours:
  `scalefit fit --law chinchilla --bootstrap 0` end to end minus start-up. Baseline: the published
  procedure, L-BFGS-B (analytic gradient) from a 4,500-point grid of initializations of
  (alpha, beta, e, a, b) with Huber delta 1e-3 on log residuals.
- L(N, D) bootstrap, 1,000 resamples (ours only).
- fit time against the number of runs (100 to 100,000), saturating law.
- `scalefit --help` start-up.
Objectives (lower is better) are printed next to each fit: ours must be as low as the baseline's.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
CHINCHILLA = ROOT.parent / "shared" / "reference-data" / "chinchilla" / "svg_extracted_data.csv"
SCALEFIT = [str(Path(sys.executable).parent / "scalefit")]


def run_seconds(args: list[str], repeat: int = 3) -> float:
    """Best wall time of a command over ``repeat`` runs."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def write_ladder(path: Path, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flops = np.geomspace(1e19, 1e22, n)
    loss = (1.8 + 1000 * flops ** -0.15) * np.exp(rng.normal(0, 0.01, n))
    rows = [("f", c, l) for c, l in zip(flops, loss)] + [("ref", 3e23, 1.9)]
    pd.DataFrame(rows, columns=["family", "flops", "loss"]).to_csv(path, index=False)
    return flops, loss


def startup_seconds(tmp: Path) -> float:
    small = tmp / "small.csv"
    write_ladder(small, 4)
    return run_seconds(SCALEFIT + ["fit", str(small), "--bootstrap", "0"])


def baseline_saturating_bootstrap(flops, loss, n_resamples: int) -> tuple[float, float]:
    """Seconds for the hand-written loop, and its objective on the full data."""
    from scipy.optimize import curve_fit

    log_c = np.log(flops) - np.log(flops).mean()

    def model(u, E, log_a, alpha):
        return np.log(np.abs(E) + np.exp(log_a - alpha * u))

    def best_fit(u, y):
        best = (np.inf, None)
        for alpha0 in (0.05, 0.2, 0.6):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    p, _ = curve_fit(model, u, y, p0=[0.5 * np.exp(y).min(), 0.0, alpha0], maxfev=5000)
            except RuntimeError:
                continue
            ssr = float(np.sum((y - model(u, *p)) ** 2))
            best = min(best, (ssr, tuple(p)), key=lambda t: t[0])
        return best

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(n_resamples):
        idx = rng.integers(0, flops.size, flops.size)
        best_fit(log_c[idx], np.log(loss[idx]))
    seconds = time.perf_counter() - start
    return seconds, best_fit(log_c, np.log(loss))[0]


def papers_grid_lbfgs(n, d, loss, max_starts: int | None = None) -> tuple[float, float, int]:
    """The published L(N, D) procedure: seconds, best objective, starts used."""
    from scipy.optimize import minimize

    ln_n, ln_d, y = np.log(n), np.log(d), np.log(loss)
    delta = 1e-3

    def objective(t):
        a, b, e, alpha, beta = t
        terms = np.stack([a - alpha * ln_n, b - beta * ln_d, np.full_like(ln_n, e)])
        top = terms.max(axis=0)
        w = np.exp(terms - top)
        lse = top + np.log(w.sum(axis=0))
        r = lse - y
        ar = np.abs(r)
        obj = np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)).sum()
        psi = np.clip(r, -delta, delta)
        soft = w / w.sum(axis=0)
        grad = np.array([(psi * soft[0]).sum(), (psi * soft[1]).sum(), (psi * soft[2]).sum(),
                         -(psi * soft[0] * ln_n).sum(), -(psi * soft[1] * ln_d).sum()])
        return obj, grad

    grid = list(itertools.product([0, 5, 10, 15, 20, 25], [0, 5, 10, 15, 20, 25], [-1, -0.5, 0, 0.5, 1],
                                  [0, 0.5, 1, 1.5, 2], [0, 0.5, 1, 1.5, 2]))
    if max_starts:
        grid = grid[:: max(1, len(grid) // max_starts)]
    start = time.perf_counter()
    best = np.inf
    for t0 in grid:
        res = minimize(objective, np.array(t0, float), jac=True, method="L-BFGS-B")
        best = min(best, float(res.fun))
    return time.perf_counter() - start, best, len(grid)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="baselines on a subset, scaled up")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        startup = startup_seconds(tmp)
        rows.append(("scalefit --help", run_seconds(SCALEFIT + ["--help"]), np.nan, "", ""))

        ladder = tmp / "ten.csv"
        flops, loss = write_ladder(ladder, 10)
        ours = run_seconds(SCALEFIT + ["fit", str(ladder), "--band-method", "percentile", "--bootstrap", "1000"]) - startup
        from scalefit.fitting import fit_law
        from scalefit.laws import SaturatingLaw
        our_obj = fit_law(flops, loss, SaturatingLaw()).objective
        n_base = 100 if args.quick else 1000
        base_s, base_obj = baseline_saturating_bootstrap(flops, loss, n_base)
        base_s *= 1000 / n_base
        rows.append(("saturating, 10 runs, 1,000 resamples", ours, base_s, f"{our_obj:.6g}", f"{base_obj:.6g}"))

        if CHINCHILLA.exists():
            raw = pd.read_csv(CHINCHILLA).sort_values("loss").iloc[:-5]
            n = raw["Model Size"].to_numpy()
            d = raw["Training FLOP"].to_numpy() / (6 * n)
            path = tmp / "chin.csv"
            pd.DataFrame({"family": "c", "params": n, "tokens": d, "loss": raw["loss"]}).to_csv(path, index=False)
            # start-up of the chinchilla path: the same command on a small L(N, D) ladder (9 runs)
            small = tmp / "chin-small.csv"
            pick = np.linspace(0, len(n) - 1, 9).astype(int)
            pd.DataFrame({"family": "c", "params": n[pick], "tokens": d[pick],
                          "loss": raw["loss"].to_numpy()[pick]}).to_csv(small, index=False)
            startup_nd = run_seconds(SCALEFIT + ["fit", str(small), "--law", "chinchilla", "--bootstrap", "0"])
            ours = run_seconds(SCALEFIT + ["fit", str(path), "--law", "chinchilla", "--bootstrap", "0"], 2) - startup_nd
            from scalefit.chinchilla import fit_chinchilla_params
            our_obj = fit_chinchilla_params(n, d, raw["loss"].to_numpy())[1]
            base_s, base_obj, used = papers_grid_lbfgs(n, d, raw["loss"].to_numpy(), 450 if args.quick else None)
            base_s *= 4500 / used
            rows.append(("L(N, D), 240 Chinchilla runs, one fit", ours, base_s, f"{our_obj:.8g}", f"{base_obj:.8g}"))
            boot = run_seconds(SCALEFIT + ["fit", str(path), "--law", "chinchilla", "--bootstrap", "1000"], 1) - startup_nd
            rows.append(("L(N, D), 240 runs, 1,000 resamples", boot, np.nan, "", ""))

        from scalefit.fitting import fit_law
        for n_runs in (100, 1_000, 10_000, 100_000):
            rng = np.random.default_rng(1)
            c = np.geomspace(1e19, 1e22, n_runs)
            l = (1.8 + 1000 * c ** -0.15) * np.exp(rng.normal(0, 0.01, n_runs))
            start = time.perf_counter()
            fit_law(c, l, SaturatingLaw())
            rows.append((f"saturating fit, {n_runs:,} runs", time.perf_counter() - start, np.nan, "", ""))

    print(f"start-up subtracted from end-to-end times: {startup:.2f} s (compute laws)" + ("  (--quick: baselines scaled up)" if args.quick else ""))
    print(f"{'case':45s} {'ours (s)':>10s} {'baseline (s)':>13s} {'ratio':>8s}  objective ours / baseline")
    for case, ours, base, o1, o2 in rows:
        ratio = f"{base / ours:8.0f}x" if np.isfinite(base) else " " * 9
        base_text = f"{base:13.2f}" if np.isfinite(base) else " " * 13
        print(f"{case:45s} {ours:10.3f} {base_text} {ratio}  {o1} {'/ ' + o2 if o2 else ''}")


if __name__ == "__main__":
    main()
