"""Can another band read from the cluster bootstrap make the checkpoint ladders' 80% bands honest?

    python analyses/checkpoint_band_candidates.py                   # 200 ladders per cell, 400 resamples:
                                                                    # 6 min on 2 shared cores
    python analyses/checkpoint_band_candidates.py --draws D.npz     # also keep the refits in D.npz (or
                                                                    # score them again if D.npz exists)
    python analyses/checkpoint_band_candidates.py --quick           # smoke run: 2 cells, 10 ladders, prints only

The ladders are those of analyses/checkpoint_calibration.py (same cells, seeds and data model), so
the "percentile" candidate reproduces that study's cluster rows exactly. Per ladder, `analyze` runs
the cluster bootstrap (resampling whole runs) once; the point fit's and every refit's ln loss at 10x
and 100x beyond the largest checkpoint and alpha are kept, and each candidate band is computed from
them at levels 50%, 80%, 90%, 95% and 99%.

Candidates (g = ln loss, or alpha; theta the point fit's g; q_x the x-quantile of the refits' g,
as order statistics the way scalefit's percentile_band takes them; z_x the standard normal's):
- percentile: [q_(1-p)/2, q_(1+p)/2], scalefit's band today;
- normal95: each side normal, its scale read off the 95% percentile band, anchored at theta:
  theta - (theta - q_.025) r, theta + (q_.975 - theta) r, r = z_(1+p)/2 / z_.975 (= percentile at 95%);
- normal95_median: the same anchored at the refits' median (also = percentile at 95%);
- logistic95: as normal95 with the logistic's ratio r = ln((1+p)/(1-p)) / ln 39;
- t95_runs: as normal95 with Student-t quantiles, G - 1 degrees of freedom for G runs;
- normal_sd: theta -/+ z_(1+p)/2 sd(g over refits);
- normal_iqr: theta -/+ z_(1+p)/2 IQR(g) / 1.349 (a robust sd).

Also per cell, a diagnostic of what any band shaped from the 95% band would need: the 50%, 80% and
95% quantiles of |truth - theta| / (the 95% band's half-width on the truth's side), beside the
normal's ratios (0.344, 0.654, 1) and the percentile band's median 80% ratio.

Writes analyses/results/checkpoint_band_candidates.{csv,md} and prints the Markdown.
"""

from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checkpoint_calibration import (BEYOND_DECADES, LAW, OUT, QUANTITIES, cells, draw_truth,  # noqa: E402
                                    ladder_seed, simulate_checkpoints, true_loss, write_results)

from scalefit import analyze  # noqa: E402

LEVELS = (0.50, 0.80, 0.90, 0.95, 0.99)
NAME = "checkpoint_band_candidates"
Band = tuple[np.ndarray, np.ndarray]


def collect_ladder(job: tuple) -> dict:
    """One ladder's truth, point fit and refits of (ln loss_10x, ln loss_100x, alpha)."""
    cell_index, cell, ladder, seed, n_boot = job
    rng = np.random.default_rng(seed)
    truth = draw_truth(cell, rng)
    frame = simulate_checkpoints(truth, cell, rng)
    at_flops = np.array([truth["c_top"] * 10.0 ** b for b in BEYOND_DECADES])
    result = analyze(frame, bootstrap=n_boot, seed=seed, at_flops=list(at_flops), workers=1)
    if result.band_method != "percentile":
        raise RuntimeError(f"checkpoint file resolved to {result.band_method!r}, not percentile")
    ff, a = result.fits["f"], LAW.param_names.index("alpha")
    params = ff.draws.params                                 # (B, p), NaN where a refit failed
    with np.errstate(invalid="ignore"):
        draws = np.column_stack([np.log(LAW.predict(params, at_flops)), params[:, a]])
    return dict(cell=cell_index, ladder=ladder, seed=seed, runs=cell["runs"],
                point=np.r_[np.log(ff.fit.predict(at_flops)), ff.fit.params[a]],
                truth=np.r_[np.log(true_loss(truth["params"], at_flops)), truth["params"][2]], draws=draws)


def collect(cell_indices, n_ladders: int, n_boot: int, seed: int, workers: int) -> dict[str, np.ndarray]:
    """Every ladder of the cells ``cell_indices``, in a fixed order, as arrays."""
    cell_list = cells()
    jobs = [(i, cell_list[i], j, ladder_seed(seed, i, j), n_boot) for i in cell_indices for j in range(n_ladders)]
    start, out = time.time(), []
    with Pool(workers) as pool:
        for done, row in enumerate(pool.imap(collect_ladder, jobs, chunksize=5), start=1):
            out.append(row)
            print(f"\rladder {done}/{len(jobs)}  {time.time() - start:.0f}s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {key: np.array([row[key] for row in out]) for key in out[0]}


def percentile(values: np.ndarray, level: float) -> Band:
    """scalefit's percentile band along axis 1: the order statistics at or beyond each quantile."""
    tail = (1 - level) / 2
    return (np.nanquantile(values, tail, axis=1, method="lower"),
            np.nanquantile(values, 1 - tail, axis=1, method="higher"))


def scaled_from_95(anchor: np.ndarray, values: np.ndarray, ratio) -> Band:
    """Each side of the 95% percentile band, measured from ``anchor``, times ``ratio``."""
    low, high = percentile(values, 0.95)
    return anchor - (anchor - low) * ratio, anchor + (high - anchor) * ratio


def candidate_bands(point: np.ndarray, values: np.ndarray, runs: np.ndarray, level: float) -> dict[str, Band]:
    """(low, high) per ladder of every candidate at ``level``: point (L,), values (L, B), runs (L,)."""
    z = stats.norm.ppf((1 + level) / 2)
    sd = np.nanstd(values, axis=1, ddof=1)
    q25, q75 = np.nanquantile(values, [0.25, 0.75], axis=1)
    return {"percentile": percentile(values, level),
            "normal95": scaled_from_95(point, values, z / stats.norm.ppf(0.975)),
            "normal95_median": scaled_from_95(np.nanmedian(values, axis=1), values, z / stats.norm.ppf(0.975)),
            "logistic95": scaled_from_95(point, values, np.log((1 + level) / (1 - level)) / np.log(39)),
            "t95_runs": scaled_from_95(point, values, stats.t.ppf((1 + level) / 2, runs - 1)
                                       / stats.t.ppf(0.975, runs - 1)),
            "normal_sd": (point - z * sd, point + z * sd),
            "normal_iqr": (point - z * (q75 - q25) / 1.349, point + z * (q75 - q25) / 1.349)}


def score(data: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per cell, candidate, quantity and level: ladders, coverage, its binomial se, median width."""
    cell_list, rows = cells(), []
    for q, name in enumerate(QUANTITIES):
        truth = data["truth"][:, q]
        for level in LEVELS:
            for cand, (low, high) in candidate_bands(data["point"][:, q], data["draws"][:, :, q],
                                                     data["runs"], level).items():
                frame = pd.DataFrame(dict(cell=data["cell"], covered=(low <= truth) & (truth <= high), width=high - low))
                for c, g in frame.groupby("cell"):
                    rows.append(dict(cell_list[c], candidate=cand, quantity=name, level=level, ladders=len(g),
                                     coverage=g.covered.mean(), median_width=g.width.median()))
    out = pd.DataFrame(rows)
    out["coverage_se"] = np.sqrt(out.coverage * (1 - out.coverage) / out.ladders)
    return out


def needed_ratios(data: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per cell and quantity: quantiles of |truth - point| over the 95% band's half-width on the
    truth's side (what a band shaped from the 95% band must reach), the percentile band's median
    80%/95% ratio on that side, the median ratio of the 95% band's longer side to its shorter, and
    the shares of truths the 80% percentile band misses on its longer and on its shorter side."""
    cell_list, rows = cells(), []
    for q, name in enumerate(QUANTITIES):
        values, point, truth = data["draws"][:, :, q], data["point"][:, q], data["truth"][:, q]
        low95, high95 = percentile(values, 0.95)
        low80, high80 = percentile(values, 0.80)
        below = truth < point
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(below, (point - truth) / (point - low95), (truth - point) / (high95 - point))
            r80 = np.where(below, (point - low80) / (point - low95), (high80 - point) / (high95 - point))
            skew = np.maximum(high95 - point, point - low95) / np.minimum(high95 - point, point - low95)
        long_up = high95 - point > point - low95
        miss_up, miss_low = truth > high80, truth < low80
        frame = pd.DataFrame(dict(cell=data["cell"], u=u, r80=r80, long_over_short=skew,
                                  miss_long=(miss_up & long_up) | (miss_low & ~long_up),
                                  miss_short=(miss_up & ~long_up) | (miss_low & long_up)))
        for c, g in frame.groupby("cell"):
            rows.append(dict(cell_list[c], quantity=name, need_50=g.u.quantile(0.5), need_80=g.u.quantile(0.8),
                             need_95=g.u.quantile(0.95), percentile_80=g.r80.median(), skew=g.long_over_short.median(),
                             miss_long=g.miss_long.mean(), miss_short=g.miss_short.mean()))
    return pd.DataFrame(rows)


def pooled(summary: pd.DataFrame) -> pd.DataFrame:
    """Per candidate, quantity and level: pooled coverage, lowest and highest cell, median width."""
    return summary.groupby(["quantity", "candidate", "level"], sort=False).apply(
        lambda g: pd.Series(dict(pooled=np.average(g.coverage, weights=g.ladders), worst=g.coverage.min(),
                                 best=g.coverage.max(), width=g.median_width.median(), ladders=g.ladders.sum())),
        include_groups=False).reset_index()


def by_factor(summary: pd.DataFrame, level: float = 0.80) -> list[str]:
    """Markdown rows: per candidate, the predicted losses' coverage at ``level`` by runs and by
    checkpoints per run."""
    losses = summary[(summary.quantity != "alpha") & (summary.level == level)]
    runs, ckpts = sorted(losses.runs.unique()), sorted(losses.checkpoints.unique())
    head = [f"{n} runs" for n in runs] + [f"{k} ckpts" for k in ckpts]
    rows = ["| candidate | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    for cand, g in losses.groupby("candidate", sort=False):
        values = [np.average(g[g[col] == v].coverage, weights=g[g[col] == v].ladders)
                  for col, vs in (("runs", runs), ("checkpoints", ckpts)) for v in vs]
        rows.append(f"| {cand} | " + " | ".join(f"{v:.1%}" for v in values) + " |")
    return rows


def markdown(summary: pd.DataFrame, ratios: pd.DataFrame, n_ladders: int, n_boot: int, command: str) -> str:
    table = pooled(summary)
    n = int(table.ladders.iloc[0])
    lines = [f"# Band candidates on checkpoint ladders ({n_ladders} simulated ladders per cell, {n} in all)", "",
             f"Made by `{command}` (seeded): the ladders of analyses/checkpoint_calibration.py, one cluster "
             f"bootstrap ({n_boot} resamples of whole runs) each, every candidate band computed from the same "
             "refits (see the script's docstring for the formulas). Each entry: pooled coverage / lowest cell / "
             "highest cell, then the median width (nats for losses). Binomial standard error of a coverage near "
             f"p: sqrt(p(1-p)/{n_ladders}) per cell (2.8 points at 80%, 1.5 at 95%), "
             f"sqrt(p(1-p)/{n}) pooled (0.8 points at 80%, 0.4 at 95%).", ""]
    for quantity in QUANTITIES:
        lines += [f"## {quantity}", "", "| candidate | " + " | ".join(f"{lv:.0%}" for lv in LEVELS) + " |",
                  "|---|" + "---|" * len(LEVELS)]
        for cand, g in table[table.quantity == quantity].groupby("candidate", sort=False):
            cells_ = [f"{r.pooled:.1%} / {r.worst:.1%} / {r.best:.1%}, w {r.width:.3g}"
                      for r in g.sort_values("level").itertuples()]
            lines.append(f"| {cand} | " + " | ".join(cells_) + " |")
        lines.append("")
    lines += ["## Predicted losses at 80% by design factor", "",
              "Coverage of the 80% bands of both predicted losses together (10x and 100x), by runs per ladder "
              "and by checkpoints per run (each column pools the cells with that value).", "",
              *by_factor(summary), "",
              "## What a band shaped from the 95% band would need, per cell", "",
              "Quantiles of |truth - point fit| in units of the 95% percentile band's half-width on the truth's "
              "side (a band r x that half-width covers p of truths if r = need_p), beside the percentile band's "
              "median 80% ratio; a normal shape gives 0.344 / 0.654 / 1 at 50 / 80 / 95%. Skew: median of the "
              "95% band's longer side over its shorter (from the point fit). Missed long / short: share of "
              "truths outside the 80% percentile band on its longer / shorter side.", "",
              "| quantity | runs | ckpts | run sd | need 50% | need 80% | need 95% | percentile 80% | skew | "
              "missed long | missed short |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in ratios.itertuples():
        lines.append(f"| {r.quantity} | {r.runs} | {r.checkpoints} | {r.run_sd:.0%} | {r.need_50:.3f} | "
                     f"{r.need_80:.3f} | {r.need_95:.3f} | {r.percentile_80:.3f} | {r.skew:.2f} | "
                     f"{r.miss_long:.1%} | {r.miss_short:.1%} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ladders", type=int, default=200, help="simulated ladders per cell (default 200)")
    parser.add_argument("--bootstrap", type=int, default=400, help="resamples per ladder (default 400)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--draws", type=Path, default=None,
                        help="npz of the refits: read if it exists (no refitting), else written")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 cells, 10 ladders, 200 resamples")
    parser.add_argument("--out", type=Path, default=None, help=f"directory for the results (default {OUT})")
    args = parser.parse_args(argv)
    indices = range(len(cells()))
    if args.quick:
        indices, args.ladders, args.bootstrap = [0, len(cells()) - 1], 10, 200
    if args.draws is not None and args.draws.exists():
        data = dict(np.load(args.draws))
    else:
        data = collect(indices, args.ladders, args.bootstrap, args.seed, args.workers)
        if args.draws is not None:
            np.savez_compressed(args.draws, **data)
    summary = score(data)
    command = f"python analyses/{NAME}.py" + (" --quick" if args.quick else "")
    text = markdown(summary, needed_ratios(data), args.ladders, args.bootstrap, command)
    print(text)
    write_results(NAME, summary, text, args)


if __name__ == "__main__":
    main()
