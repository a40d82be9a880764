"""Calibration study for the two-variable law L(N, D) = E + A/N^alpha + B/D^beta: do the bootstrap
percentile bands of `--law chinchilla` and `scalefit optimal` cover the truth as often as they claim?

    python analyses/nd_calibration.py             # full study: 24 cells x 40 ladders, 200 resamples; 13-18 min
                                                  # on 2 cores shared with other work (18.5 CPU-minutes)
    python analyses/nd_calibration.py --quick     # smoke run: 2 cells, 10 ladders; prints only (20 s)
    python analyses/nd_calibration.py --out DIR   # the full study, written into DIR

200 resamples (the fewest `analyze` takes without a warning) rather than the default 1,000: on one
cell (chinchilla, isoflop, 40 runs, 1% noise; `--cells 4 --ladders 100`) the same 100 ladders gave
the same coverage with 1,000 resamples to within 3 points on every quantity and level (within 1 on
15 of 20; higher with 200 on some, with 1,000 on others), and median band widths ln(high / low) within 7%, at 4.3
times the time.

Simulates ladders of (N, D, loss) runs with known truth, fits each as a user would and counts how
often the 95% and 80% bands contain the truth. Bands are the library's own:

- nd: `analyze(frame, law="chinchilla", at_params_tokens=...)` (percentile bootstrap over runs, as
  `scalefit fit --law chinchilla --at-params-tokens N,D`) for the loss predicted at a size and the
  exponents alpha and beta; `allocation_with_bands` on the same fit and refits (what
  `optimal_report`, i.e. `scalefit optimal --flops C`, computes) for N_opt, D_opt and a = beta/(alpha+beta);
- isoflop: on IsoFLOP designs, `isoflop_analysis` (the IsoFLOP "Approach 2" band of a that
  `scalefit optimal` prints beside it), seeded as `optimal_report` seeds it.

Quantities (C_top: the ladder's largest compute 6 N D; x10, x100: 1 and 2 decades beyond it):
loss_10x, loss_100x = L(N*, D*) at the true compute-optimal N*, D* of C_top x10 and x100 (the band
of `--at-params-tokens N*,D*`); frontier_* = the same true loss, the band of the fitted frontier's
loss at that budget (`optimal`'s loss column, `fit --at-flops`); n_opt_*, d_opt_* = the true N_opt,
D_opt of those budgets; the parameters E, A, B, alpha, beta; a. The 95% bands come from
the analysis; the 80% bands from the same fit and refits through scalefit's own band functions
(`predict_at_size`, `param_band`, `allocation_with_bands`, `percentile_band` of the IsoFLOP draws).
A percentile band is equivariant under monotone maps of the draws, so D_opt = C / (6 N_opt) and b = 1 - a
cover exactly when N_opt and a do (D_opt is kept in the CSV as a check).

Truths: "chinchilla", the fit of the 240 Chinchilla runs (analyses/chinchilla_replication.py:
E 1.817, A 477.8, B 2143, alpha 0.3473, beta 0.3672, a = 0.514); "apart", alpha 0.25 and beta 0.45
(a = 0.64), A and B set so that each term equals the Chinchilla truth's at that truth's compute-optimal
N and D of 1e19 (similar losses over the ladders). Designs (largest compute 1e20 in both):
- isoflop: budgets log-spaced over 1e18 to 1e20, at each sizes log-spaced over a factor 10 centred
  on the truth's N_opt (4 x 5 = 20, 5 x 8 = 40, 8 x 10 = 80 runs);
- grid: sizes log-spaced over 1.5 decades up to 3.2e8, crossed with tokens per parameter log-spaced over 5 to
  160 (4 x 5, 5 x 8, 8 x 10 runs; compute 3e15 to 1e20).
Loss: L(N, D) x exp(e), e ~ N(0, noise), noise 0.5%, 1% or 2% (one seed per ladder). Cells: every
design x runs x noise for the Chinchilla truth (18), and every design x runs at 1% noise for the
other (6). Seeded per ladder: the same command writes the same files for any --workers.

Writes analyses/results/nd_calibration.csv (every cell, method, quantity and level) and
analyses/results/nd_calibration.md (the tables the README quotes), or both into --out DIR, and
prints the tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))   # analyses/ is a folder of scripts, not a package
from checkpoint_calibration import failed_rows, ladder_rows, run_and_write  # noqa: E402

from scalefit import analyze  # noqa: E402
from scalefit.chinchilla import ChinchillaLaw, allocation, allocation_with_bands  # noqa: E402
from scalefit.isoflop import isoflop_analysis  # noqa: E402
from scalefit.prediction import predict_at_size  # noqa: E402
from scalefit.uncertainty import percentile_band  # noqa: E402

CHINCHILLA = (1.817, 477.8, 2143.0, 0.3473, 0.3672)   # analyses/results/chinchilla_replication.md
APART_EXPONENTS = (0.25, 0.45)
ANCHOR_FLOPS = 1e19
RUNS = {20: (4, 5), 40: (5, 8), 80: (8, 10)}           # runs -> (budgets or sizes, sizes per budget or ratios)
NOISES = (0.005, 0.01, 0.02)
DESIGNS = ("isoflop", "grid")
BUDGETS = (1e18, 1e20)                                  # isoflop: smallest and largest budget
ISOFLOP_SPAN = 10.0                                     # sizes per budget span this factor around N_opt
GRID_TOP = 1e20                                         # grid: compute of its largest run
GRID_SIZE_DECADES = 1.5
GRID_RATIOS = (5.0, 160.0)                              # grid: tokens per parameter
BEYOND_DECADES = (1, 2)
LEVELS = (0.95, 0.80)
K = 6.0
LAW = ChinchillaLaw()
FAMILY = "f"
OUT = Path(__file__).resolve().parent / "results"
CELL_KEYS = ("true_law", "design", "runs", "noise")
BUDGET_NAMES = tuple(f"{10 ** b}x" for b in BEYOND_DECADES)
QUANTITIES = tuple(f"{q}_{b}" for q in ("loss", "frontier", "n_opt", "d_opt") for b in BUDGET_NAMES) + \
    LAW.param_names + ("a",)
METHODS = ("nd", "isoflop")


def apart_truth() -> tuple[float, ...]:
    """The second truth: exponents APART_EXPONENTS, E as Chinchilla's, A and B such that each term
    equals the Chinchilla truth's at that truth's N_opt, D_opt of ANCHOR_FLOPS."""
    E, A, B, alpha, beta = CHINCHILLA
    split = allocation(np.array(CHINCHILLA), ANCHOR_FLOPS, K)
    n0, d0 = float(split["n_opt"]), float(split["d_opt"])
    alpha2, beta2 = APART_EXPONENTS
    return (E, A * n0 ** (alpha2 - alpha), B * d0 ** (beta2 - beta), alpha2, beta2)


TRUTHS = {"chinchilla": CHINCHILLA, "apart": apart_truth()}
TRUTH_NAMES = {"chinchilla": "Chinchilla truth", "apart": "other truth"}


def cells() -> list[dict]:
    """Every design x runs x noise for the Chinchilla truth, then every design x runs at 1% noise
    for the truth with exponents further apart."""
    out = [dict(true_law="chinchilla", design=d, runs=n, noise=s) for d in DESIGNS for n in RUNS for s in NOISES]
    return out + [dict(true_law="apart", design=d, runs=n, noise=0.01) for d in DESIGNS for n in RUNS]


def design_sizes(cell: dict) -> tuple[np.ndarray, np.ndarray]:
    """N and D of every run of the cell's design (fixed per cell; only the noise is drawn)."""
    first, second = RUNS[cell["runs"]]
    params = np.array(TRUTHS[cell["true_law"]])
    if cell["design"] == "isoflop":
        budgets = np.geomspace(*BUDGETS, first)
        centre = allocation(params, budgets, K)["n_opt"]
        n = (centre[:, None] * np.geomspace(ISOFLOP_SPAN ** -0.5, ISOFLOP_SPAN ** 0.5, second)[None, :]).ravel()
        d = np.repeat(budgets, second) / (K * n)
        return n, d
    top_n = np.sqrt(GRID_TOP / (K * GRID_RATIOS[1]))
    sizes = np.geomspace(top_n / 10 ** GRID_SIZE_DECADES, top_n, first)
    n, ratio = np.meshgrid(sizes, np.geomspace(*GRID_RATIOS, second))
    return n.ravel(), (n * ratio).ravel()


def simulate_ladder(cell: dict, rng: np.random.Generator) -> pd.DataFrame:
    """A ladder file: columns family, params, tokens, loss (log-normal noise around the truth)."""
    n, d = design_sizes(cell)
    truth = LAW.predict_nd(np.array(TRUTHS[cell["true_law"]]), n, d)
    loss = truth * np.exp(rng.normal(0.0, cell["noise"], n.size))
    return pd.DataFrame({"family": FAMILY, "params": n, "tokens": d, "loss": loss})


def true_values(cell: dict) -> tuple[dict[str, float], list[float], list[tuple[float, float]]]:
    """The true value of every quantity, the budgets beyond the ladder and the true (N_opt, D_opt)
    of each, at which the loss is predicted."""
    params = np.array(TRUTHS[cell["true_law"]])
    n, d = design_sizes(cell)
    top = float(np.max(K * n * d))
    budgets = [top * 10.0 ** b for b in BEYOND_DECADES]
    split = allocation(params, budgets, K)
    sizes = [(float(a), float(b)) for a, b in zip(split["n_opt"], split["d_opt"])]
    values = {}
    for name, (n_opt, d_opt) in zip(BUDGET_NAMES, sizes):
        values[f"loss_{name}"] = values[f"frontier_{name}"] = float(LAW.predict_nd(params, n_opt, d_opt))
        values[f"n_opt_{name}"], values[f"d_opt_{name}"] = n_opt, d_opt
    values.update({name: float(v) for name, v in zip(LAW.param_names, params)}, a=float(split["a"]))
    return {q: values[q] for q in QUANTITIES}, budgets, sizes


def nd_bands(result, level: float, budgets: list[float],
             sizes: list[tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """(low, high) of each quantity at ``level`` from one L(N, D) analysis: its own bands at its
    level, otherwise the same fit's and refits' through scalefit's band functions."""
    ff = result.fits[FAMILY]
    if level == result.level:
        predictions, (low, high) = result.predictions, (ff.low, ff.high)
    else:
        predictions = predict_at_size(ff.fit, ff.draws, [n for n, _ in sizes], [d for _, d in sizes], level,
                                      "percentile")
        low, high = ff.draws.param_band(level)
    out = {f"loss_{name}": (p.low, p.high) for name, p in zip(BUDGET_NAMES, predictions)}
    for name, c in zip(BUDGET_NAMES, budgets):
        at = allocation_with_bands(ff.fit, ff.draws, c, level)
        out[f"n_opt_{name}"], out[f"d_opt_{name}"] = at["n_opt"][1:], at["d_opt"][1:]
        out[f"frontier_{name}"] = at["loss"][1:]
    out.update({name: (float(lo), float(hi)) for name, lo, hi in zip(LAW.param_names, low, high)})
    out["a"] = allocation_with_bands(ff.fit, ff.draws, budgets[0], level)["a"][1:]
    return {q: out[q] for q in QUANTITIES}


def isoflop_bands(frame: pd.DataFrame, n_boot: int, seed: int) -> dict[float, tuple[float, float]]:
    """The IsoFLOP band of a at each level, as `optimal_report` computes it (same seed, family,
    resamples and budget tolerance); no band when no IsoFLOP analysis is possible."""
    iso = isoflop_analysis(frame.params.to_numpy(), frame.tokens.to_numpy(), frame.loss.to_numpy(), k=K,
                           n_resamples=n_boot, level=LEVELS[0], seed=seed, family=FAMILY)
    if iso is None:
        return {level: (float("nan"), float("nan")) for level in LEVELS}
    return {level: percentile_band(iso.draws_a, level) for level in LEVELS}


def band_rows(method: str, bands: dict[str, tuple[float, float]], truth: dict[str, float], level: float,
              failed: int) -> list[dict]:
    """One row per quantity: the band, whether it covers the truth, its width ln(high / low)."""
    rows = []
    for quantity, (low, high) in bands.items():
        value = truth[quantity]
        with np.errstate(divide="ignore", invalid="ignore"):
            width = float(np.log(np.divide(high, low)))      # inf when E's band reaches 0
        rows.append(dict(method=method, quantity=quantity, level=level, truth=value, low=float(low),
                         high=float(high), covered=bool(low <= value <= high), width=width,
                         failed_refits=failed, error=""))
    return rows


def evaluate_ladder(cell: dict, seed: int, n_boot: int) -> list[dict]:
    """Simulate one ladder from ``seed`` and fit it as a user would; per method, quantity and level:
    the band, whether it covers the truth, and any error the analysis raised."""
    rng = np.random.default_rng(seed)
    frame = simulate_ladder(cell, rng)
    truth, budgets, sizes = true_values(cell)
    rows = []
    try:
        result = analyze(frame, law="chinchilla", bootstrap=n_boot, seed=seed, at_params_tokens=sizes, workers=1)
        failed = result.fits[FAMILY].draws.n_failed
        for level in LEVELS:
            rows += band_rows("nd", nd_bands(result, level, budgets, sizes), truth, level, failed)
    except Exception as exc:          # a finding to report, not a reason to lose the other ladders
        rows += failed_rows("nd", truth, f"{type(exc).__name__}: {exc}", LEVELS)
    if cell["design"] == "isoflop":
        try:
            for level, band in isoflop_bands(frame, n_boot, seed).items():
                rows += band_rows("isoflop", {"a": band}, truth, level, 0)
        except Exception as exc:
            rows += failed_rows("isoflop", {"a": truth["a"]}, f"{type(exc).__name__}: {exc}", LEVELS)
    return rows


def run_cell(cell: dict, cell_index: int, ladders: range, n_boot: int, seed: int) -> pd.DataFrame:
    """Every band of ladders ``ladders`` of one cell: one row per ladder, method, quantity and level."""
    return ladder_rows(evaluate_ladder, cell, cell_index, ladders, n_boot, seed)


def _run_job(job: tuple) -> pd.DataFrame:
    return run_cell(*job)


# ----- tables -----------------------------------------------------------------------------------

TABLE_QUANTITIES = (("nd", "loss_10x"), ("nd", "loss_100x"), ("nd", "frontier_10x"), ("nd", "frontier_100x"),
                    ("nd", "n_opt_10x"), ("nd", "n_opt_100x"), ("nd", "E"), ("nd", "A"), ("nd", "B"),
                    ("nd", "alpha"), ("nd", "beta"), ("nd", "a"), ("isoflop", "a"))
PARAMETER_LABELS = {("nd", name): name for name in LAW.param_names}
LABELS = {("nd", "loss_10x"): "loss 10x", ("nd", "loss_100x"): "loss 100x", ("nd", "frontier_10x"): "frontier 10x",
          ("nd", "frontier_100x"): "frontier 100x", ("nd", "n_opt_10x"): "N_opt 10x",
          ("nd", "n_opt_100x"): "N_opt 100x", **PARAMETER_LABELS, ("nd", "a"): "a", ("isoflop", "a"): "IsoFLOP a"}
README_LABELS = {("nd", "loss_10x"): "loss at N_opt, D_opt 10x beyond (`--at-params-tokens`)",
                 ("nd", "loss_100x"): "loss at N_opt, D_opt 100x beyond",
                 ("nd", "frontier_10x"): "frontier loss 10x beyond (`--at-flops`, `optimal`)",
                 ("nd", "frontier_100x"): "frontier loss 100x beyond",
                 ("nd", "n_opt_10x"): "N_opt (and D_opt) 10x beyond (`optimal`)",
                 ("nd", "n_opt_100x"): "N_opt (and D_opt) 100x beyond", **PARAMETER_LABELS,
                 ("nd", "a"): "a = beta / (alpha + beta) (`optimal`)",
                 ("isoflop", "a"): "IsoFLOP a (`optimal`, IsoFLOP designs)"}


def pooled_coverage(g: pd.DataFrame) -> float:
    """The share of all ladders of the rows ``g`` (cells of one quantity and level) whose band
    covered the truth."""
    return float(np.average(g.coverage, weights=g.ladders)) if len(g) else float("nan")


def coverage_cell(g: pd.DataFrame) -> str:
    return "-" if g.empty else f"{pooled_coverage(g):.1%}"


def standard_error(level: float, ladders: int) -> float:
    """Binomial standard error of a coverage measured on ``ladders`` ladders when the true coverage
    is the nominal ``level``: sqrt(level (1 - level) / ladders)."""
    return float(np.sqrt(level * (1 - level) / ladders))


def readme_table(summary: pd.DataFrame) -> list[str]:
    """The summary the README quotes: per quantity and level, the coverage pooled over each true
    law's cells and the lowest and highest coverage of a cell."""
    head = ["band of"] + [f"{level:.0%}: {what}" for level in LEVELS
                          for what in (*(f"{TRUTH_NAMES[law]}, pooled" for law in TRUTHS), "per cell")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m, q in TABLE_QUANTITIES:
        entries = []
        for level in LEVELS:
            g = summary[(summary.method == m) & (summary.quantity == q) & (summary.level == level)]
            entries += [coverage_cell(g[g.true_law == law]) for law in TRUTHS]
            entries.append(f"{g.coverage.min():.1%} - {g.coverage.max():.1%}" if len(g) else "-")
        lines.append(f"| {README_LABELS[(m, q)]} | " + " | ".join(entries) + " |")
    return lines


def standard_errors(summary: pd.DataFrame) -> str:
    """The binomial standard errors at nominal of the pooled and per-cell coverages, in words."""
    first = summary[(summary.method == "nd") & (summary.quantity == QUANTITIES[0]) & (summary.level == LEVELS[0])]
    def at_levels(ladders: int) -> str:
        return " and ".join(f"{100 * standard_error(level, ladders):.1f} at {level:.0%}" for level in LEVELS)

    pooled = [(law, len(g), int(g.ladders.sum())) for law, g in ((law, first[first.true_law == law]) for law in TRUTHS)]
    parts = [f"{TRUTH_NAMES[law]} pooled ({cells_} cells, {n} ladders): {at_levels(n)}"
             for law, cells_, n in pooled if n]
    per_cell = int(first.ladders.min())
    parts.append(f"one cell ({per_cell} ladders): {at_levels(per_cell)}")
    return "Binomial standard errors at nominal coverage, in points: " + "; ".join(parts) + "."


def markdown(summary: pd.DataFrame, n_ladders: int, n_boot: int, command: str) -> str:
    """The results as Markdown: per cell and pooled, coverage of each quantity at 95% and 80%."""
    apart = ", ".join(f"{name} {value:.4g}" for name, value in zip(LAW.param_names, TRUTHS["apart"]))
    lines = [f"# Calibration of L(N, D) bands ({n_ladders} simulated ladders per cell)", "",
             f"Made by `{command}` (seeded). "
             f"Bands: 95% and 80% bootstrap percentile bands, {n_boot} resamples of runs, from scalefit's own "
             "`analyze(law=\"chinchilla\")`, `allocation_with_bands` (as `scalefit optimal`) and, on IsoFLOP "
             "designs, `isoflop_analysis` (the IsoFLOP band of a). Truths: chinchilla = E 1.817, A 477.8, "
             f"B 2143, alpha 0.3473, beta 0.3672 (the fit of the 240 Chinchilla runs); apart = {apart}. "
             "Designs (largest run 1e20 FLOPs): isoflop = budgets 1e18-1e20, sizes over a factor 10 around "
             "the true N_opt; grid = sizes over 1.5 decades x 5-160 tokens per parameter. Noise: loss x "
             "exp(N(0, noise)). Quantities: loss = L(N, D) at the true N_opt, D_opt of 10x and 100x the largest "
             "run's compute (`--at-params-tokens`); frontier = the fitted frontier's loss at those budgets "
             "(`optimal`, `--at-flops`; same truth); N_opt at those budgets (D_opt = C / 6 N_opt covers exactly "
             "when N_opt does; the CSV has both); the parameters E, A, B, alpha, beta and a = beta / (alpha + beta). "
             "Coverage: the share of ladders whose band contains the truth.", "", standard_errors(summary), "",
             "## Summary (quoted in the README)", ""] + readme_table(summary) + [""]
    lines += ["## Pooled", "", "s.e.: binomial standard error at nominal coverage of the L(N, D) columns (the "
              "IsoFLOP a column rests on the isoflop cells only)", ""] + pooled_table(summary) + [""]
    for level in LEVELS:
        lines += [f"## Nominal {level:.0%}, per cell", ""] + cell_table(summary, level) + [""]
    lines += ["## Median width of the 95% bands, per cell (high / low)", ""] + width_table(summary) + [""]
    first = summary[(summary.level == LEVELS[0]) & (summary.method == "nd") & (summary.quantity == QUANTITIES[0])]
    iso = summary[(summary.level == LEVELS[0]) & (summary.method == "isoflop")]
    lines += [f"Bands missing an end (NaN or infinite, counted as not covering): {int(summary['missing'].sum())} "
              f"of {int(summary['ladders'].sum())}. Analyses that raised: {int(first['errors'].sum())}. "
              f"Failed bootstrap refits, all ladders: {int(first['failed_refits'].sum())} of "
              f"{int(first['ladders'].sum()) * n_boot}. IsoFLOP analyses without a band: {int(iso['missing'].sum())}."]
    return "\n".join(lines) + "\n"


def in_cell_order(summary: pd.DataFrame):
    """(cell, its rows of ``summary``) in the order of :func:`cells`, for the cells present."""
    for cell in cells():
        g = summary[np.logical_and.reduce([summary[k] == v for k, v in cell.items()])]
        if not g.empty:
            yield cell, g


def cell_table(summary: pd.DataFrame, level: float) -> list[str]:
    """Per cell, the coverage of each quantity at ``level``."""
    head = ["true law", "design", "runs", "noise"] + [LABELS[q] for q in TABLE_QUANTITIES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cell, g in in_cell_order(summary[summary.level == level]):
        entries = [coverage_cell(g[(g.method == m) & (g.quantity == q)]) for m, q in TABLE_QUANTITIES]
        lines.append(f"| {cell['true_law']} | {cell['design']} | {cell['runs']} | {cell['noise']:.1%} | "
                     + " | ".join(entries) + " |")
    return lines


def width_table(summary: pd.DataFrame) -> list[str]:
    """Per cell, the median over ladders of high / low of each quantity's 95% band."""
    head = ["true law", "design", "runs", "noise"] + [LABELS[q] for q in TABLE_QUANTITIES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cell, g in in_cell_order(summary[summary.level == LEVELS[0]]):
        entries = []
        for m, q in TABLE_QUANTITIES:
            w = g[(g.method == m) & (g.quantity == q)].median_width
            entries.append("-" if w.empty else f"{np.exp(float(w.iloc[0])):.3g}")
        lines.append(f"| {cell['true_law']} | {cell['design']} | {cell['runs']} | {cell['noise']:.1%} | "
                     + " | ".join(entries) + " |")
    return lines


def pooled_table(summary: pd.DataFrame) -> list[str]:
    """Coverage pooled over the cells of each group (number of cells in brackets): the Chinchilla
    truth's, by design, runs and noise, and the other truth's, at each level, with the binomial
    standard error at nominal coverage."""
    head = ["cells", "level", "s.e."] + [LABELS[q] for q in TABLE_QUANTITIES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    chin = summary[summary.true_law == "chinchilla"]
    groups = [("chinchilla truth, all cells", chin)]
    groups += [(f"chinchilla truth, {d}", chin[chin.design == d]) for d in DESIGNS]
    groups += [(f"chinchilla truth, {n} runs", chin[chin.runs == n]) for n in RUNS]
    groups += [(f"chinchilla truth, noise {s:.1%}", chin[chin.noise == s]) for s in NOISES]
    groups += [("apart truth, all cells", summary[summary.true_law == "apart"])]
    for name, g in groups:
        if g.empty:
            continue
        name += f" ({len(g[['design', 'runs', 'noise']].drop_duplicates())})"
        for level in LEVELS:
            at = g[g.level == level]
            ladders = int(at[(at.method == "nd") & (at.quantity == QUANTITIES[0])].ladders.sum())
            entries = [coverage_cell(at[(at.method == m) & (at.quantity == q)]) for m, q in TABLE_QUANTITIES]
            lines.append(f"| {name} | {level:.0%} | {standard_error(level, ladders):.1%} | "
                         + " | ".join(entries) + " |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ladders", type=int, default=40, help="simulated ladders per cell (default 40)")
    parser.add_argument("--bootstrap", type=int, default=200, help="resamples per band (default 200)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2, help="processes (each fit uses one core)")
    parser.add_argument("--cells", default=None,
                        help="comma list of cell numbers (0-23, in the order above) to run, default all; a "
                             "ladder's seed follows its cell's place in this list, so a subset draws other ladders")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 cells, 10 ladders, 200 resamples; writes files only with --out")
    parser.add_argument("--out", type=Path, default=None, help=f"directory for the results (default {OUT})")
    args = parser.parse_args(argv)
    cell_list = cells()
    if args.cells:
        cell_list = [cell_list[int(i)] for i in args.cells.split(",")]
    if args.quick:
        cell_list, args.ladders, args.bootstrap = [cell_list[0], cell_list[-1]], 10, 200
    run_and_write("nd_calibration", cell_list, args, markdown, job=_run_job, cell_keys=CELL_KEYS)


if __name__ == "__main__":
    main()
