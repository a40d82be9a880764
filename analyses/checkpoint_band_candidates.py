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
them at levels 50%, 80%, 90%, 95% and 99%. For the BCa band the ladder is also refitted G times by
scalefit's engine (`fit_many`, the bootstrap's compute scale), each time without one of its G runs
and all that run's checkpoints (a leave-one-run-out, or cluster, jackknife).

Candidates (g = ln loss, or alpha; theta the point fit's g; q_x the x-quantile of the refits' g,
as order statistics the way scalefit's percentile_band takes them; z_x the standard normal's):
- percentile: [q_(1-p)/2, q_(1+p)/2], scalefit's band today;
- normal95: each side normal, its scale read off the 95% percentile band, anchored at theta:
  theta - (theta - q_.025) r, theta + (q_.975 - theta) r, r = z_(1+p)/2 / z_.975 (= percentile at 95%);
- normal95_median: the same anchored at the refits' median (also = percentile at 95%);
- logistic95: as normal95 with the logistic's ratio r = ln((1+p)/(1-p)) / ln 39;
- t95_runs: as normal95 with Student-t quantiles, G - 1 degrees of freedom for G runs;
- normal_sd: theta -/+ z_(1+p)/2 sd(g over refits);
- normal_iqr: theta -/+ z_(1+p)/2 IQR(g) / 1.349 (a robust sd);
- bc (bias-corrected percentile, Efron 1987): [q_l, q_u] at l = Phi(2 z0 + z_(1-p)/2),
  u = Phi(2 z0 + z_(1+p)/2), with z0 = Phi^-1(share of refits below theta, a tie counting half;
  refits within TIE_RTOL of theta, relative, are ties: a resample that draws every run once is the
  ladder itself, refitted to about 1e-9); z0 = 0 gives the percentile band;
- bca (bias-corrected and accelerated): levels Phi(z0 + (z0 + z_x) / (1 - a (z0 + z_x))) for
  x = (1-p)/2 and (1+p)/2, acceleration a = sum d_i^3 / (6 (sum d_i^2)^1.5), d_i = mean(g_(-j)) - g_(-i),
  g_(-i) the fit without run i (cluster jackknife); a = 0 gives the bc band.
Degenerate cases, handled so and counted in the Markdown: every refit on one side of theta (z0
infinite): bc and bca fall back to the percentile band; a jackknife refit failed or all g_(-i)
equal (a undefined): bca falls back to bc; 1 - a (z0 + z_x) <= 0 (the level is past the formula's
pole): that end is the extreme refit on its side (level 0 or 1).

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
from scalefit.fitting import fit_many  # noqa: E402

LEVELS = (0.50, 0.80, 0.90, 0.95, 0.99)
NAME = "checkpoint_band_candidates"
TIE_RTOL = 1e-7     # |refit - theta| <= TIE_RTOL |theta| is a tie (refits of the ladder itself differ by ~3e-9)
MAX_RUNS = 10       # jackknife values are stored padded with NaN to this many runs
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
    jack = np.full((MAX_RUNS, len(QUANTITIES)), np.nan)
    jack[:cell["runs"]] = run_jackknife(frame, at_flops)
    return dict(cell=cell_index, ladder=ladder, seed=seed, runs=cell["runs"],
                point=np.r_[np.log(ff.fit.predict(at_flops)), ff.fit.params[a]],
                truth=np.r_[np.log(true_loss(truth["params"], at_flops)), truth["params"][2]],
                draws=quantities_of(params, at_flops), jack=jack)


def quantities_of(params: np.ndarray, at_flops: np.ndarray) -> np.ndarray:
    """(ln loss at each of ``at_flops``, alpha) of each row of law parameters (NaN rows stay NaN)."""
    with np.errstate(invalid="ignore"):
        return np.column_stack([np.log(LAW.predict(params, at_flops)), params[:, LAW.param_names.index("alpha")]])


def run_jackknife(frame: pd.DataFrame, at_flops: np.ndarray) -> np.ndarray:
    """(G, quantities): the law refitted G times by scalefit's engine, each time without one run
    (all its checkpoints), at the bootstrap's compute scale; NaN where a refit failed."""
    flops, loss = frame["flops"].to_numpy(float), frame["loss"].to_numpy(float)
    _, run_of_row = np.unique(frame["run"].to_numpy(), return_inverse=True)
    counts = (run_of_row[None, :] != np.arange(run_of_row.max() + 1)[:, None]).astype(float)
    engine = fit_many(flops, loss, LAW, c_ref=float(np.exp(np.mean(np.log(flops)))), counts=counts)
    return quantities_of(np.where(engine.ok[:, None], engine.params, np.nan), at_flops)


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


def order_statistic(values: np.ndarray, q: np.ndarray, method: str) -> np.ndarray:
    """Per row of ``values`` (L, B), the order statistic of its non-NaN values at quantile ``q`` (L,),
    the way np.nanquantile's method "lower" (floor) or "higher" (ceil) takes it; NaN for an all-NaN row."""
    ordered = np.sort(values, axis=1)                      # NaN last
    n = np.sum(~np.isnan(values), axis=1)
    at = np.clip(q, 0.0, 1.0) * (n - 1)
    index = np.floor(at) if method == "lower" else np.ceil(at)
    index = np.clip(index, 0, np.maximum(n - 1, 0)).astype(int)
    out = np.take_along_axis(ordered, index[:, None], axis=1)[:, 0]
    return np.where(n > 0, out, np.nan)


def bias_z0(point: np.ndarray, values: np.ndarray) -> np.ndarray:
    """z0 = Phi^-1(share of the non-NaN refits below ``point``, those within TIE_RTOL of it counting
    half) per row; +-inf when every refit lies on one side."""
    valid = ~np.isnan(values)
    diff = values - point[:, None]
    tie = valid & (np.abs(diff) <= TIE_RTOL * np.abs(point)[:, None])
    below = valid & ~tie & (diff < 0)
    share = (below.sum(axis=1) + 0.5 * tie.sum(axis=1)) / valid.sum(axis=1)
    return stats.norm.ppf(share)


def acceleration(jack: np.ndarray) -> np.ndarray:
    """a = sum d^3 / (6 (sum d^2)^1.5), d_i = mean(jack) - jack_i, over the finite values of each row
    of jackknife values (L, G; NaN-padded past the ladder's runs); NaN where all are equal."""
    d = np.nanmean(jack, axis=1, keepdims=True) - jack
    s2, s3 = np.nansum(d ** 2, axis=1), np.nansum(d ** 3, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s2 > 0, s3 / (6 * s2 ** 1.5), np.nan)


def jackknife_acceleration(jack: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """BCa's acceleration per ladder; NaN when any of its ``runs`` jackknife refits failed."""
    complete = np.sum(np.isfinite(jack), axis=1) == runs
    return np.where(complete, acceleration(jack), np.nan)


def bca_levels(z0: np.ndarray, a: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """BCa quantile levels of both ends: Phi(z0 + w / (1 - a w)), w = z0 + z_x; an end whose
    1 - a w <= 0 (past the pole) goes to level 0 or 1 on its own side. a = 0 gives bc's Phi(2 z0 + z_x)."""
    out = []
    for x in ((1 - level) / 2, (1 + level) / 2):
        w = z0 + stats.norm.ppf(x)
        denom = 1 - a * w
        with np.errstate(divide="ignore", invalid="ignore"):
            inside = stats.norm.cdf(z0 + w / denom)
        out.append(np.where(denom > 0, inside, np.where(w > 0, 1.0, 0.0)))
    return out[0], out[1]


def adjusted_percentile(values: np.ndarray, low_q: np.ndarray, high_q: np.ndarray, fallback: Band,
                        use: np.ndarray) -> Band:
    """The order statistics at ``low_q`` / ``high_q`` per row where ``use``, else ``fallback``'s ends."""
    return (np.where(use, order_statistic(values, low_q, "lower"), fallback[0]),
            np.where(use, order_statistic(values, high_q, "higher"), fallback[1]))


def bias_corrected_bands(point: np.ndarray, values: np.ndarray, level: float, jack: np.ndarray,
                         runs: np.ndarray) -> dict[str, Band]:
    """The bc and bca bands (module docstring) with their fallbacks: percentile where z0 is infinite,
    bc where the acceleration is undefined."""
    z0 = bias_z0(point, values)
    finite = np.isfinite(z0)
    z0_ = np.where(finite, z0, 0.0)
    pct = percentile(values, level)
    bc = adjusted_percentile(values, *bca_levels(z0_, np.zeros_like(z0_), level), pct, finite)
    a = jackknife_acceleration(jack, runs)
    bca = adjusted_percentile(values, *bca_levels(z0_, np.nan_to_num(a), level), bc, finite & np.isfinite(a))
    return {"bc": bc, "bca": bca}


def candidate_bands(point: np.ndarray, values: np.ndarray, runs: np.ndarray, level: float,
                    jack: np.ndarray | None = None) -> dict[str, Band]:
    """(low, high) per ladder of every candidate at ``level``: point (L,), values (L, B), runs (L,);
    bc and bca too when the jackknife values ``jack`` (L, G) are given."""
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
            "normal_iqr": (point - z * (q75 - q25) / 1.349, point + z * (q75 - q25) / 1.349),
            **({} if jack is None else bias_corrected_bands(point, values, level, jack, runs))}


def score(data: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per cell, candidate, quantity and level: ladders, coverage, its binomial se, median width."""
    cell_list, rows = cells(), []
    for q, name in enumerate(QUANTITIES):
        truth = data["truth"][:, q]
        for level in LEVELS:
            for cand, (low, high) in candidate_bands(data["point"][:, q], data["draws"][:, :, q],
                                                     data["runs"], level, data["jack"][:, :, q]).items():
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


def degenerate_cases(data: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per quantity, how often bc and bca met a degenerate case (module docstring): ladders whose
    refits all lie on one side of the point fit, with a failed jackknife refit, with all jackknife
    values equal, with an end past BCa's pole at each level; the refits counted as ties (within
    TIE_RTOL, and of those exactly equal), the median |a| by runs per ladder; and the bias they
    correct: median |z0|, and the share of ladders whose truth lies on the same side of the point
    fit as the refits' median (bc moves the band away from that side, so it expects under half)."""
    rows = []
    for q, name in enumerate(QUANTITIES):
        point, values, jack = data["point"][:, q], data["draws"][:, :, q], data["jack"][:, :, q]
        z0 = bias_z0(point, values)
        failed = np.sum(np.isfinite(jack), axis=1) < data["runs"]
        a = jackknife_acceleration(jack, data["runs"])
        diff = np.abs(values - point[:, None])
        row = dict(quantity=name, ladders=len(point), z0_infinite=int(np.sum(~np.isfinite(z0))),
                   jackknife_failed=int(failed.sum()), a_undefined_equal=int(np.sum(~failed & np.isnan(a))),
                   refits=int(np.sum(~np.isnan(values))), ties=int(np.sum(diff <= TIE_RTOL * np.abs(point)[:, None])),
                   exact_ties=int(np.sum(diff == 0)), median_abs_z0=float(np.median(np.abs(z0))),
                   truth_on_median_side=float(np.mean(np.sign(data["truth"][:, q] - point)
                                                      == np.sign(np.nanmedian(values, axis=1) - point))))
        z0_, a_ = np.where(np.isfinite(z0), z0, 0.0), np.nan_to_num(a)
        for level in LEVELS:
            w = z0_[:, None] + stats.norm.ppf([(1 - level) / 2, (1 + level) / 2])
            row[f"past_pole_{level:.0%}"] = int(np.sum(np.any(1 - a_[:, None] * w <= 0, axis=1)))
        for n in np.unique(data["runs"]):
            row[f"median_abs_a_{n}_runs"] = float(np.nanmedian(np.abs(a[data["runs"] == n])))
        rows.append(row)
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


def degenerate_lines(cases: pd.DataFrame) -> list[str]:
    """Markdown table of :func:`degenerate_cases`."""
    runs = [c.removeprefix("median_abs_a_").removesuffix("_runs") for c in cases.columns if c.startswith("median_abs_a_")]
    head = ["quantity", "ladders", "z0 infinite", "jackknife refit failed", "a undefined (equal)",
            *[f"past pole {lv:.0%}" for lv in LEVELS], "refits", "ties (exact)", *[f"median abs a, {n} runs" for n in runs],
            "median abs z0", "truth on the refits' median side"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---|" * (len(head) - 1)]
    for r in cases.to_dict("records"):
        cells_ = [r["quantity"], r["ladders"], r["z0_infinite"], r["jackknife_failed"], r["a_undefined_equal"],
                  *[r[f"past_pole_{lv:.0%}"] for lv in LEVELS], r["refits"], f"{r['ties']} ({r['exact_ties']})",
                  *[f"{r[f'median_abs_a_{n}_runs']:.3f}" for n in runs], f"{r['median_abs_z0']:.3f}",
                  f"{r['truth_on_median_side']:.1%}"]
        lines.append("| " + " | ".join(str(c) for c in cells_) + " |")
    return lines


def markdown(summary: pd.DataFrame, ratios: pd.DataFrame, n_ladders: int, n_boot: int, command: str,
             cases: pd.DataFrame | None = None) -> str:
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
              *by_factor(summary), ""]
    if cases is not None:
        lines += ["## bc and bca: degenerate cases and the bias they correct", "",
                  "Ladders (of each quantity) whose refits all lie on one side of the point fit (z0 infinite: bc "
                  "and bca fall back to the percentile band); whose leave-one-run-out jackknife had a failed refit, or "
                  "all its values equal (acceleration undefined: bca falls back to bc); whose BCa band at a level "
                  "has an end past the formula's pole (1 - a (z0 + z_x) <= 0: that end is the extreme refit). "
                  f"Ties: refits within {TIE_RTOL:g} (relative) of the point fit, counting half in z0 (in "
                  "brackets those exactly equal; a resample that draws every run once is the ladder itself). "
                  "Median |a|: the jackknife's acceleration by runs per ladder. Truth on the refits' median side: "
                  "share of ladders whose truth lies on the same side of the point fit as the median refit; bc "
                  "and bca move the band away from that side (they read the refits' shift from the point fit as "
                  "the point fit's shift from the truth), so they expect it under half.", "",
                  *degenerate_lines(cases), ""]
    lines += ["## What a band shaped from the 95% band would need, per cell", "",
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
        if "jack" not in data:
            sys.exit(f"{args.draws}: no jackknife refits ('jack'); it was written by an older version of this "
                     "script: delete it or pass another --draws path to refit")
    else:
        data = collect(indices, args.ladders, args.bootstrap, args.seed, args.workers)
        if args.draws is not None:
            np.savez_compressed(args.draws, **data)
    summary = score(data)
    command = f"python analyses/{NAME}.py" + (" --quick" if args.quick else "")
    text = markdown(summary, needed_ratios(data), args.ladders, args.bootstrap, command, degenerate_cases(data))
    print(text)
    write_results(NAME, summary, text, args)


if __name__ == "__main__":
    main()
