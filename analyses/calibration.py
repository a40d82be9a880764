"""Calibration study: do scalefit's bands cover the truth as often as they claim?

    python analyses/calibration.py                                # full study: 400 ladders per cell, ~30 min on 2 cores
    python analyses/calibration.py --ladders 40 --out /tmp/quick  # a quick look

Simulates ladders with known truth (scalefit.simulate), fits each, and records whether the bands
of each method contain the true value, at nominal 80%, 90% and 95%.

Cells (each with --ladders simulated ladders):
- reference point: runs n in {5, 8, 12} x relative noise in {0.3%, 1%, 3%} x reference placed
  {0, 1, 2} decades beyond the largest run (27 cells);
- second ladder: n x noise (9 cells); the multiplier is taken at the loss of the second ladder's
  largest run;
- just outside that grid: 4 runs (noise x beyond, 9 cells) and a reference 3 decades beyond
  (n x noise, 9 cells), to show where the bands stop being checked.
Within a cell, each ladder draws the rest of its design uniformly: span 2 to 4 decades of compute,
exponent alpha 0.05 to 0.35, true multiplier 1.2x to 15x (log-uniform), and an irreducible loss
E that is 50% to 85% of the loss at the largest run. Runs are log-spaced. Seeded: the same command
writes the same tables.

Writes analyses/results/calibration.csv (every cell, method, quantity and level) and
analyses/results/calibration.md (the summary the README quotes), or both into --out DIR; without
--out, a quick look rewrites the committed results.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.efficiency import compute_ratio
from scalefit.fitting import fit_law
from scalefit.laws import SaturatingLaw
from scalefit.profile import compute_deviance, interval_from_deviance, parameter_bands, parameter_deviances, ratio_interval
from scalefit.simulate import ReferenceSpec, SimulationSpec, simulate
from scalefit.uncertainty import bootstrap_family, percentile_band

LEVELS = (0.80, 0.90, 0.95)
RUNS = (5, 8, 12)
NOISES = (0.003, 0.01, 0.03)
BEYONDS = (0.0, 1.0, 2.0)
C_MIN = 1e19
E_TRUE = 1.8
LAW = SaturatingLaw()
OUT = Path(__file__).resolve().parent / "results"


def cells() -> list[dict]:
    """The design grid of the issue, then designs just outside it (4 runs; 3 decades beyond)."""
    out = [dict(grid="inside", comparison="reference", runs=n, noise=s, beyond=b)
           for n, s, b in itertools.product(RUNS, NOISES, BEYONDS)]
    out += [dict(grid="inside", comparison="ladder", runs=n, noise=s, beyond=float("nan"))
            for n, s in itertools.product(RUNS, NOISES)]
    out += [dict(grid="outside", comparison="reference", runs=4, noise=s, beyond=b)
            for s, b in itertools.product(NOISES, BEYONDS)]
    out += [dict(grid="outside", comparison="reference", runs=n, noise=s, beyond=3.0)
            for n, s in itertools.product(RUNS, NOISES)]
    return out


def draw_design(cell: dict, rng: np.random.Generator) -> SimulationSpec:
    """One ladder's truth within a cell."""
    span = rng.uniform(2.0, 4.0)
    alpha = rng.uniform(0.05, 0.35)
    multiplier = float(np.exp(rng.uniform(np.log(1.2), np.log(15.0))))
    e_share = rng.uniform(0.50, 0.85)              # E / L(largest run)
    c_max = C_MIN * 10 ** span
    A = E_TRUE * (1 / e_share - 1) * c_max ** alpha  # reducible loss at c_max = E (1/share - 1)
    flops = tuple(np.geomspace(C_MIN, c_max, cell["runs"]))
    seed = int(rng.integers(0, 2**31))
    if cell["comparison"] == "reference":
        return SimulationSpec(params=(E_TRUE, A, alpha), flops=flops, noise=cell["noise"], seed=seed,
                              references=(ReferenceSpec("ref", multiplier, cell["beyond"]),))
    return SimulationSpec(params=(E_TRUE, A, alpha), flops=flops, noise=cell["noise"], seed=seed,
                          second_ladder=multiplier)


def evaluate_ladder(spec: SimulationSpec, n_boot: int, methods: tuple[str, ...]) -> list[dict]:
    """Fit one simulated ladder; per method, level and quantity: covered?, band width."""
    frame = simulate(spec)
    focus = frame[frame.family == "focus"]
    fit = fit_law(focus.flops.to_numpy(), focus.loss.to_numpy(), LAW, "focus")
    truth = dict(zip(LAW.param_names, spec.params))
    if spec.references:
        ref_flops, target = spec.reference_truth(spec.references[0])
        other_fit = None
    else:
        other = frame[frame.family == "other"]
        other_fit = fit_law(other.flops.to_numpy(), other.loss.to_numpy(), LAW, "other")
        target = float(other.loss.to_numpy()[np.argmax(other.flops.to_numpy())])
        ref_flops = None
    true_focus_flops = float(LAW.invert(np.asarray(spec.params), target))
    true_multiplier = spec.references[0].multiplier if spec.references else spec.second_ladder
    rows = []
    for method in methods:
        bands = (_profile_bands(fit, other_fit, ref_flops, target) if method == "profile"
                 else _percentile_bands(fit, other_fit, ref_flops, target, spec.seed, n_boot))
        for level, quantities in bands.items():
            values = dict(truth, focus_flops=true_focus_flops, multiplier=true_multiplier)
            for name, (low, high) in quantities.items():
                true_value = values[name]
                rows.append(dict(method=method, level=level, quantity=name,
                                 covered=bool(low <= true_value <= high),
                                 log10_width=_log_width(low, high), infinite=bool(np.isinf(high) or low <= 0)))
    return rows


def _log_width(low, high) -> float:
    if not (low > 0 and np.isfinite(high)):
        return float("inf")
    return float(np.log10(high / low))


def _profile_bands(fit, other_fit, ref_flops, target) -> dict:
    focus_dev = compute_deviance(fit, target)
    other_dev = compute_deviance(other_fit, target) if other_fit is not None else None
    param_devs = parameter_deviances(fit) if other_fit is None else None
    out = {}
    for level in LEVELS:
        c_lo, c_hi = (10.0 ** x for x in interval_from_deviance(focus_dev, level))
        q = {"focus_flops": (c_lo, c_hi)}
        if other_fit is None:
            q["multiplier"] = (float(compute_ratio(ref_flops, c_hi)), float(compute_ratio(ref_flops, c_lo)))
            low, high = parameter_bands(fit, level, param_devs)
            q.update({p: (low[j], high[j]) for j, p in enumerate(LAW.param_names)})
        else:
            q["multiplier"] = tuple(10.0 ** x for x in ratio_interval(other_dev, focus_dev, level))
        out[level] = q
    return out


def _percentile_bands(fit, other_fit, ref_flops, target, seed, n_boot) -> dict:
    draws = bootstrap_family(fit.flops, fit.loss, LAW, n_boot, seed, "focus", workers=1)  # already in a Pool
    focus = np.full(n_boot, np.nan)
    focus[draws.ok] = LAW.invert(draws.params[draws.ok], target)
    if other_fit is None:
        ref = np.full(n_boot, ref_flops)
    else:
        other = bootstrap_family(other_fit.flops, other_fit.loss, LAW, n_boot, seed, "other", workers=1)
        ref = np.full(n_boot, np.nan)
        ref[other.ok] = LAW.invert(other.params[other.ok], target)
    ratio = compute_ratio(ref, focus)
    out = {}
    for level in LEVELS:
        q = {"focus_flops": percentile_band(focus, level), "multiplier": percentile_band(ratio, level)}
        if other_fit is None:
            low, high = draws.param_band(level)
            q.update({p: (low[j], high[j]) for j, p in enumerate(LAW.param_names)})
        out[level] = q
    return out


def run_cell(args) -> pd.DataFrame:
    index, cell, n_ladders, n_boot, methods, seed = args
    rng = np.random.default_rng([seed, index])
    rows = []
    for i in range(n_ladders):
        for row in evaluate_ladder(draw_design(cell, rng), n_boot, methods):
            rows.append(dict(cell, ladder=i, **row))
    return pd.DataFrame(rows)


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    keys = ["grid", "comparison", "runs", "noise", "beyond", "method", "quantity", "level"]
    grouped = raw.groupby(keys, dropna=False)
    return grouped.agg(ladders=("covered", "size"), coverage=("covered", "mean"),
                       median_log10_width=("log10_width", "median"),
                       infinite_share=("infinite", "mean")).reset_index()


def markdown(summary: pd.DataFrame, n_ladders: int) -> str:
    lines = [f"# Calibration of scalefit's bands ({n_ladders} simulated ladders per cell)", "",
             "Made by `python analyses/calibration.py` (seeded). Coverage: share of simulated ladders whose "
             "band contains the true value. Width: median over ladders of high/low of the 95% multiplier "
             "band (inf when most bands reach 0 or infinity). Within each cell, the span (2-4 decades), "
             "alpha (0.05-0.35), true multiplier (1.2x-15x) and E (50-85% of the loss at the largest run) "
             "are drawn at random per ladder.", ""]
    for grid, title in (("inside", "95% multiplier bands on the design grid of the issue"),
                        ("outside", "95% multiplier bands just outside that grid (4 runs, or 3 decades beyond)")):
        lines += [f"## {title}", ""] + _cell_table(summary[summary.grid == grid]) + [""]
    lines += ["## Coverage by quantity and nominal level (design grid, all cells pooled)", ""]
    inside = summary[summary.grid == "inside"]
    pooled = inside.groupby(["method", "quantity", "level"]).apply(
        lambda g: np.average(g.coverage, weights=g.ladders), include_groups=False).unstack("level")
    lines.append("| method | quantity | " + " | ".join(f"{c:.0%}" for c in pooled.columns) + " |")
    lines.append("|---|---|" + "---|" * len(pooled.columns))
    for (method, quantity), row in pooled.iterrows():
        lines.append(f"| {method} | {quantity} | " + " | ".join(f"{v:.1%}" for v in row) + " |")
    lines += ["", "## Range of per-cell coverage of 95% multiplier bands", ""]
    m95 = summary[(summary.quantity == "multiplier") & (summary.level == 0.95)]
    lines.append("| grid | comparison | method | lowest | highest |")
    lines.append("|---|---|---|---|---|")
    for (grid, comparison, method), g in m95.groupby(["grid", "comparison", "method"]):
        lines.append(f"| {grid} | {comparison} | {method} | {g.coverage.min():.1%} | {g.coverage.max():.1%} |")
    return "\n".join(lines) + "\n"


def _cell_table(summary: pd.DataFrame) -> list[str]:
    m95 = summary[(summary.quantity == "multiplier") & (summary.level == 0.95)].copy()
    m95["beyond"] = m95["beyond"].fillna(-1.0)   # ladder comparisons have no 'beyond'
    wide = m95.pivot_table(index=["comparison", "runs", "noise", "beyond"], columns="method",
                           values=["coverage", "median_log10_width"]).reset_index()
    wide = wide.sort_values([("comparison", ""), ("runs", ""), ("noise", ""), ("beyond", "")],
                            ascending=[False, True, True, True])
    methods = sorted(m95.method.unique())
    head = ["comparison", "runs", "noise", "ref beyond"] + [f"{m} coverage" for m in methods] + \
        [f"{m} width" for m in methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in wide.iterrows():
        beyond = "-" if r[("beyond", "")] < 0 else f"{r[('beyond', '')]:.0f} dec"
        cov = [f"{r[('coverage', m)]:.1%}" for m in methods]
        width = [_factor(r[("median_log10_width", m)]) for m in methods]
        lines.append(f"| {r[('comparison', '')]} | {r[('runs', '')]} | {r[('noise', '')]:.1%} | {beyond} | "
                     + " | ".join(cov + width) + " |")
    return lines


def _factor(log10_width: float) -> str:
    """A band's width as a factor: 3.29x, 13186.66x, from 1e5 in powers of ten (1.91e20x)."""
    if not np.isfinite(log10_width):
        return "inf"
    return f"{10 ** log10_width:.2f}x" if log10_width < 5 else f"{10 ** log10_width:.2e}x".replace("e+", "e")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ladders", type=int, default=400, help="simulated ladders per cell")
    parser.add_argument("--bootstrap", type=int, default=400, help="resamples for the percentile method")
    parser.add_argument("--methods", default="profile,percentile")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT, help=f"directory for the results (default {OUT})")
    args = parser.parse_args(argv)
    methods = tuple(args.methods.split(","))
    jobs = [(i, cell, args.ladders, args.bootstrap, methods, args.seed) for i, cell in enumerate(cells())]
    start = time.time()
    frames = []
    with Pool(args.workers) as pool:
        for k, frame in enumerate(pool.imap(run_cell, jobs), start=1):
            frames.append(frame)
            print(f"\rcell {k}/{len(jobs)}  {time.time() - start:.0f}s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    summary = summarize(pd.concat(frames, ignore_index=True))
    args.out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(args.out / "calibration.csv", index=False, float_format="%.4f")
    (args.out / "calibration.md").write_text(markdown(summary, args.ladders))
    print(f"wrote {args.out / 'calibration.csv'} and calibration.md in {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
