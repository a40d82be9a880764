"""Calibration of `scalefit compare`: do its profile bands on the shared-law multiplier cover the
truth as often as they claim, and how often does its F test reject a true shared law?

    python analyses/shared_calibration.py                                    # 400 comparisons per cell, ~4 min on 2 cores
    python analyses/shared_calibration.py --comparisons 40 --out /tmp/quick  # a quick look

Simulated truth (made up, seeded): two families, the focus and one other, of one saturating law up
to a compute factor M, L_f(C) = E + A (C / M_f)^-alpha. Cells: runs per family n in {4, 6, 10} x
relative noise in {0.3%, 1%, 3%}. Within a cell each comparison draws the rest: exponent alpha 0.05
to 0.35, true M 1/15 to 15 (log-uniform), each family's runs log-spaced over 2 to 4 decades starting
anywhere within a decade of 1e19 (the families' ranges overlap partly), and E 50% to 85% of the
focus's loss at its largest run. Writes analyses/results/shared_calibration.md (or into --out DIR;
without --out, a quick look rewrites the committed results): per cell the coverage of the 80%, 90%
and 95% bands (with the binomial standard error), the share of unbounded bands, and the F test's
rejection rate at 5% (nominal 5% when the shared law is true).
"""

from __future__ import annotations

import argparse
import itertools
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.shared import compare_shared

LEVELS = (0.80, 0.90, 0.95)
RUNS = (4, 6, 10)
NOISES = (0.003, 0.01, 0.03)
OUT = Path(__file__).resolve().parent / "results"


def simulated_pair(rng: np.random.Generator, n: int, noise: float) -> tuple[pd.DataFrame, float]:
    """Two families of one law up to a compute factor; returns the runs and the true M."""
    alpha = rng.uniform(0.05, 0.35)
    multiplier = float(np.exp(rng.uniform(np.log(1 / 15), np.log(15))))
    starts = 1e19 * 10 ** rng.uniform(-1, 1, 2)
    spans = rng.uniform(2, 4, 2)
    share = rng.uniform(0.5, 0.85)                  # E's share of the focus's loss at its largest run
    focus_top = starts[0] * 10 ** spans[0]
    A = focus_top ** alpha                          # reducible loss 1 at the focus's largest run
    E = share / (1 - share)
    rows = []
    for f, (m, start, span) in enumerate(zip((1.0, multiplier), starts, spans)):
        flops = np.geomspace(start, start * 10 ** span, n)
        loss = (E + A * (flops / m) ** -alpha) * np.exp(rng.normal(0, noise, n))
        rows += [(f"f{f}", c, l) for c, l in zip(flops, loss)]
    return pd.DataFrame(rows, columns=["family", "flops", "loss"]), multiplier


def run_cell(args) -> dict:
    n, noise, comparisons, seed = args
    rng = np.random.default_rng(seed)
    hits = {level: 0 for level in LEVELS}
    unbounded = rejected = tested = 0
    for _ in range(comparisons):
        frame, truth = simulated_pair(rng, n, noise)
        for level in LEVELS:
            cmp = compare_shared(frame, focus="f0", level=level)
            f = cmp.factors[1]
            hits[level] += f.low <= truth <= f.high
        unbounded += not (np.isfinite(f.high) and f.low > 0)         # of the last, the 95% band
        if np.isfinite(cmp.p_value):
            tested += 1
            rejected += cmp.p_value < 0.05
    return dict(runs=n, noise=noise, comparisons=comparisons,
                **{f"cover_{int(level * 100)}": hits[level] / comparisons for level in LEVELS},
                unbounded_95=unbounded / comparisons, check_tested=tested,
                check_rejects=rejected / tested if tested else np.nan)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comparisons", type=int, default=400, help="simulated pairs per cell")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT, help=f"directory for the results (default {OUT})")
    args = parser.parse_args(argv)
    cells = [(n, noise, args.comparisons, 1000 * i + 7) for i, (n, noise) in enumerate(itertools.product(RUNS, NOISES))]
    start = time.perf_counter()
    with Pool(args.workers) as pool:
        rows = pool.map(run_cell, cells)
    table = pd.DataFrame(rows)
    lines = ["# Calibration of `scalefit compare` (shared-law multiplier bands)", "",
             f"`python analyses/shared_calibration.py --comparisons {args.comparisons}` "
             f"({time.perf_counter() - start:.0f} s). Simulated, seeded: two families of one saturating law "
             "up to a true compute factor M (1/15 to 15), alpha 0.05-0.35, 2-4 decades per family, "
             "E 50-85% of the focus's loss at its largest run. Coverage of the profile bands of M; "
             f"binomial standard error at 95%: {np.sqrt(0.95 * 0.05 / args.comparisons):.1%}.", "",
             "| runs per family | noise | 80% band | 90% band | 95% band | 95% band unbounded | F test rejects at 5% |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['runs']} | {r['noise']:.1%} | {r['cover_80']:.1%} | {r['cover_90']:.1%} | "
                     f"{r['cover_95']:.1%} | {r['unbounded_95']:.1%} | "
                     + ("not tested (< 4 runs)" if r['check_tested'] == 0 else f"{r['check_rejects']:.1%}") + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "shared_calibration.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
