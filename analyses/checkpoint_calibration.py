"""Calibration study for ladders whose rows are checkpoints: do the bands cover the truth?

    python analyses/checkpoint_calibration.py            # full study: 200 ladders per cell, 400 resamples;
                                                         # 35 min on 2 cores shared with other work (32 CPU-min)
    python analyses/checkpoint_calibration.py --quick    # smoke run: 2 cells, 10 ladders, prints only

A ladder file whose 'run' column names one run at several computes holds checkpoints. Since the
checkpoints of one run share its luck, `analyze` gives such files percentile bands that resample
whole runs (a cluster bootstrap) by default. This study simulates such ladders with known truth and
counts how often the 80% and 95% bands of three methods contain it:

- cluster: `analyze(frame)` as a user gets it (band method "auto", which must resolve to percentile
  bands resampling whole runs);
- profile: `analyze(frame, band_method="profile")`, which counts every checkpoint as a run;
- rows: percentile bands resampling rows, `analyze(frame.drop(columns="run"), band_method="percentile")`.

Quantities: the loss predicted 1 and 2 decades beyond the largest checkpoint (`at_flops`, the true
law's loss there) and the exponent alpha. The 95% bands come from `analyze`; the 80% bands from the
same fit and refits through scalefit's own band functions (`predict_at`, `param_band`,
`parameter_bands`), so the 80% bootstrap bands rest on the same resamples.

Data model (that of tests/test_simulate_bands.py::test_checkpoint_bootstrap_resamples_whole_runs):
a run i reaches compute c_i * 1.25^k at its checkpoints k = 0..K-1, with loss
L(c) * exp(u_i + e_ik), u_i ~ N(0, s_run) shared by the run's checkpoints, e_ik ~ N(0, 0.2%).
Cells: runs in {4, 6, 10} x checkpoints per run in {5, 20} x s_run in {1%, 3%} (12 cells). Within a
cell each ladder draws the rest as analyses/calibration.py does: c_i log-spaced over 2 to 4 decades
from 1e19, alpha 0.05 to 0.35, E = 1.8 and A such that E is 50% to 85% of the loss at the largest
checkpoint. Seeded per ladder: the same command writes the same files for any --workers.

Writes analyses/results/checkpoint_calibration.csv (every cell, method, quantity and level) and
analyses/results/checkpoint_calibration.md (the table the README quotes), and prints the table.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from scalefit import analyze
from scalefit.laws import SaturatingLaw
from scalefit.prediction import predict_at
from scalefit.profile import parameter_bands

RUNS = (4, 6, 10)
CHECKPOINTS = (5, 20)
RUN_SDS = (0.01, 0.03)
CHECKPOINT_SD = 0.002
CHECKPOINT_GROWTH = 1.25
BEYOND_DECADES = (1, 2)
LEVELS = (0.95, 0.80)
METHODS = ("cluster", "profile", "rows")
C_MIN = 1e19
E_TRUE = 1.8
LAW = SaturatingLaw()
OUT = Path(__file__).resolve().parent / "results"
QUANTITIES = tuple(f"loss_{10 ** b}x" for b in BEYOND_DECADES) + ("alpha",)
CELL_KEYS = ("runs", "checkpoints", "run_sd")


def cells() -> list[dict]:
    """The design grid: runs x checkpoints per run x run-offset sd."""
    return [dict(runs=n, checkpoints=k, run_sd=s) for n, k, s in itertools.product(RUNS, CHECKPOINTS, RUN_SDS)]


def draw_truth(cell: dict, rng: np.random.Generator) -> dict:
    """One ladder's true law and run computes within a cell (the rest as analyses/calibration.py)."""
    span = rng.uniform(2.0, 4.0)
    alpha = rng.uniform(0.05, 0.35)
    e_share = rng.uniform(0.50, 0.85)                      # E / L(largest checkpoint)
    run_flops = np.geomspace(C_MIN, C_MIN * 10 ** span, cell["runs"])
    c_top = run_flops[-1] * CHECKPOINT_GROWTH ** (cell["checkpoints"] - 1)
    A = E_TRUE * (1 / e_share - 1) * c_top ** alpha
    return dict(params=(E_TRUE, A, alpha), run_flops=run_flops, c_top=c_top)


def true_loss(params: tuple[float, float, float], flops) -> np.ndarray:
    """The true law's loss at ``flops``."""
    return LAW.predict(np.asarray(params, dtype=float), np.asarray(flops, dtype=float))


def simulate_checkpoints(truth: dict, cell: dict, rng: np.random.Generator) -> pd.DataFrame:
    """A ladder file of checkpoints: columns family, run, flops, loss (one family 'f')."""
    rows = []
    for i, c_run in enumerate(truth["run_flops"]):
        offset = rng.normal(0.0, cell["run_sd"])
        flops = c_run * CHECKPOINT_GROWTH ** np.arange(cell["checkpoints"])
        noise = rng.normal(0.0, CHECKPOINT_SD, size=flops.size)
        loss = true_loss(truth["params"], flops) * np.exp(offset + noise)
        rows += [("f", f"run{i}", c, value) for c, value in zip(flops, loss)]
    return pd.DataFrame(rows, columns=["family", "run", "flops", "loss"])


def method_analysis(frame: pd.DataFrame, method: str, at_flops: list[float], n_boot: int, seed: int):
    """`analyze` at 95% as a user would call it for ``method``."""
    if method == "cluster":
        result = analyze(frame, bootstrap=n_boot, seed=seed, at_flops=at_flops, workers=1)
        if result.band_method != "percentile":
            raise RuntimeError(f"checkpoint file resolved to {result.band_method!r}, not percentile")
        return result
    if method == "profile":
        return analyze(frame, band_method="profile", at_flops=at_flops, workers=1)
    return analyze(frame.drop(columns="run"), band_method="percentile", bootstrap=n_boot, seed=seed,
                   at_flops=at_flops, workers=1)


def bands_at_level(result, level: float, at_flops: list[float]) -> dict[str, tuple[float, float]]:
    """(low, high) of each quantity at ``level``: the analysis's own bands at its level, otherwise
    the same fit's (and refits') bands from scalefit's band functions."""
    ff = result.fits["f"]
    alpha = LAW.param_names.index("alpha")
    if level == result.level:
        predictions, (low, high) = result.predictions, (ff.low, ff.high)
    else:
        method = result.band_method
        predictions = predict_at(ff.fit, ff.draws, at_flops, level, method)
        low, high = ff.draws.param_band(level) if method == "percentile" else parameter_bands(ff.fit, level)
    out = {name: (p.low, p.high) for name, p in zip(QUANTITIES, predictions)}
    out["alpha"] = (float(low[alpha]), float(high[alpha]))
    return out


def evaluate_ladder(cell: dict, seed: int, n_boot: int) -> list[dict]:
    """Simulate one ladder from ``seed``, fit it with every method; per method, quantity and level:
    the band, whether it covers the truth, and the warnings the analysis gave."""
    rng = np.random.default_rng(seed)
    truth = draw_truth(cell, rng)
    frame = simulate_checkpoints(truth, cell, rng)
    at_flops = [truth["c_top"] * 10.0 ** b for b in BEYOND_DECADES]
    true_values = dict(zip(QUANTITIES, true_loss(truth["params"], at_flops)), alpha=truth["params"][2])
    rows = []
    for method in METHODS:
        try:
            result = method_analysis(frame, method, at_flops, n_boot, seed)
        except Exception as exc:          # a finding to report, not a reason to lose the other ladders
            rows += failed_rows(method, true_values, f"{type(exc).__name__}: {exc}")
            continue
        failed = 0 if result.fits["f"].draws is None else result.fits["f"].draws.n_failed
        for level in LEVELS:
            for quantity, (low, high) in bands_at_level(result, level, at_flops).items():
                truth_value = float(true_values[quantity])
                rows.append(dict(method=method, quantity=quantity, level=level, truth=truth_value,
                                 low=low, high=high, covered=bool(low <= truth_value <= high),
                                 width=high - low, failed_refits=failed, error=""))
    return rows


def failed_rows(method: str, true_values: dict, error: str, levels: tuple[float, ...] = LEVELS) -> list[dict]:
    """Rows for a method whose analysis raised: no band, so not covered, with the error said (one
    per quantity of ``true_values`` and level)."""
    nan = float("nan")
    return [dict(method=method, quantity=q, level=level, truth=float(true_values[q]), low=nan, high=nan,
                 covered=False, width=nan, failed_refits=0, error=error) for level in levels for q in true_values]


def ladder_seed(seed: int, cell_index: int, ladder: int) -> int:
    """The seed of one simulated ladder: depends on the study's seed, the cell and the ladder only."""
    return int(np.random.default_rng([seed, cell_index, ladder]).integers(0, 2**31))


def run_cell(cell: dict, cell_index: int, ladders: range, n_boot: int, seed: int) -> pd.DataFrame:
    """Every method's bands on ladders ``ladders`` of one cell: one row per ladder, method,
    quantity and level."""
    return ladder_rows(evaluate_ladder, cell, cell_index, ladders, n_boot, seed)


def ladder_rows(evaluate: Callable[[dict, int, int], list[dict]], cell: dict, cell_index: int, ladders: range,
                n_boot: int, seed: int) -> pd.DataFrame:
    """``evaluate(cell, ladder_seed, n_boot)``'s rows for each of ``ladders``, labelled with the cell,
    the ladder and its seed (``ladder_seed``)."""
    rows = []
    for i in ladders:
        s = ladder_seed(seed, cell_index, i)
        rows += [dict(cell, ladder=i, seed=s, **row) for row in evaluate(cell, s, n_boot)]
    return pd.DataFrame(rows)


def _run_job(job: tuple) -> pd.DataFrame:
    return run_cell(*job)


def jobs_for(cell_list: list[dict], n_ladders: int, n_boot: int, seed: int, chunk: int = 10) -> list[tuple]:
    """The study cut into chunks of ladders, so two processes share it evenly."""
    return [(cell, index, range(start, min(start + chunk, n_ladders)), n_boot, seed)
            for index, cell in enumerate(cell_list) for start in range(0, n_ladders, chunk)]


def summarize(raw: pd.DataFrame, cell_keys: tuple[str, ...] = CELL_KEYS) -> pd.DataFrame:
    """Per cell (``cell_keys``), method, quantity and level: ladders, coverage with its binomial
    standard error, median band width (nats for losses, absolute for alpha), bands missing an end,
    failed bootstrap refits and analyses that raised."""
    keys = [*cell_keys, "method", "quantity", "level"]
    raw = raw.assign(missing=~(np.isfinite(raw["low"]) & np.isfinite(raw["high"])), errors=raw["error"] != "")
    out = raw.groupby(keys, sort=True).agg(ladders=("covered", "size"), coverage=("covered", "mean"),
                                             median_width=("width", "median"), missing=("missing", "sum"),
                                             failed_refits=("failed_refits", "sum"),
                                             errors=("errors", "sum")).reset_index()
    out.insert(out.columns.get_loc("coverage") + 1, "coverage_se",
               np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["ladders"]))
    return out


def markdown(summary: pd.DataFrame, n_ladders: int, n_boot: int, command: str) -> str:
    """The results as Markdown: one row per cell and method."""
    se95 = np.sqrt(0.95 * 0.05 / n_ladders)
    lines = [f"# Calibration of bands on checkpoint ladders ({n_ladders} simulated ladders per cell)", "",
             f"Made by `{command}` (seeded). Each ladder: runs log-spaced over 2-4 decades from 1e19, each run "
             f"with checkpoints at c_run x 1.25^k, loss = L(c) x exp(u_run + e), u_run ~ N(0, run sd) shared by a "
             f"run's checkpoints, e ~ N(0, {CHECKPOINT_SD:.1%}); alpha 0.05-0.35 and E 50-85% of the loss at the "
             f"largest checkpoint drawn per ladder. Methods: **cluster** = `analyze` default on a checkpoint file "
             f"(percentile bootstrap resampling whole runs, {n_boot} resamples); **profile** = "
             "`band_method=\"profile\"` (every checkpoint counted as a run); **rows** = percentile bootstrap "
             f"resampling rows (run column dropped, {n_boot} resamples). Quantities: loss predicted 10x and 100x "
             "beyond the largest checkpoint, and the exponent alpha. Coverage: share of ladders whose band "
             f"contains the truth; binomial standard error about {se95:.1%} at 95% coverage "
             "(the `coverage_se` column of the CSV gives each cell's). Width: median of high - low "
             "(nats for losses).", ""]
    head = ["runs", "ckpts", "run sd", "method"] + [f"{q} {lv:.0%}" for q in QUANTITIES for lv in LEVELS] + \
        [f"{q} width 95%" for q in QUANTITIES]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    wide = summary.set_index(["runs", "checkpoints", "run_sd", "method", "quantity", "level"])
    for (n, k, s) in summary[["runs", "checkpoints", "run_sd"]].drop_duplicates().itertuples(index=False):
        for method in METHODS:
            if (n, k, s, method, QUANTITIES[0], LEVELS[0]) not in wide.index:
                continue
            cov = [f"{wide.loc[(n, k, s, method, q, lv), 'coverage']:.1%}" for q in QUANTITIES for lv in LEVELS]
            width = [f"{wide.loc[(n, k, s, method, q, LEVELS[0]), 'median_width']:.3g}" for q in QUANTITIES]
            lines.append(f"| {n} | {k} | {s:.0%} | {method} | " + " | ".join(cov + width) + " |")
    lines += ["", "## Pooled over all cells", "",
              "| method | " + " | ".join(f"{q} {lv:.0%}" for q in QUANTITIES for lv in LEVELS) + " |",
              "|---|" + "---|" * (len(QUANTITIES) * len(LEVELS))]
    for method in METHODS:
        g = summary[summary.method == method]
        if g.empty:
            continue
        pooled = [np.average(g[(g.quantity == q) & (g.level == lv)].coverage,
                             weights=g[(g.quantity == q) & (g.level == lv)].ladders) for q in QUANTITIES for lv in LEVELS]
        lines.append(f"| {method} | " + " | ".join(f"{v:.1%}" for v in pooled) + " |")
    first = summary[(summary.level == LEVELS[0]) & (summary.quantity == QUANTITIES[0])]
    lines += ["", f"Bands missing an end (NaN or infinite, counted as not covering): {int(summary['missing'].sum())} "
              f"of {int(summary['ladders'].sum())}. Analyses that raised: {int(first['errors'].sum())}. "
              f"Failed bootstrap refits, all ladders: {int(first['failed_refits'].sum())}."]
    return "\n".join(lines) + "\n"


def error_report(raw: pd.DataFrame, cell_keys: tuple[str, ...] = CELL_KEYS) -> list[str]:
    """One line per distinct error an analysis raised: method, message, how often, a ladder's seed
    and cell to reproduce it with ``evaluate_ladder``."""
    bad = raw[raw["error"] != ""].drop_duplicates([*cell_keys, "ladder", "method"])
    return [f"{len(g)}x {method}: {error} (e.g. cell " + ", ".join(f"{k}={g[k].iloc[0]}" for k in cell_keys)
            + f", seed={g.seed.iloc[0]})" for (method, error), g in bad.groupby(["method", "error"])]


def run_study(cell_list: list[dict], n_ladders: int, n_boot: int, seed: int, workers: int,
              job: Callable[[tuple], pd.DataFrame] = _run_job) -> pd.DataFrame:
    """Every ladder of every cell, shared by ``workers`` processes; rows in a fixed order. ``job``
    runs one chunk of :func:`jobs_for` (a study's own ``run_cell(*chunk)``, a module-level function)."""
    jobs = jobs_for(cell_list, n_ladders, n_boot, seed)
    start, frames = time.time(), []
    with Pool(workers) as pool:
        for done, frame in enumerate(pool.imap(job, jobs), start=1):
            frames.append(frame)
            print(f"\rchunk {done}/{len(jobs)}  {time.time() - start:.0f}s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return pd.concat(frames, ignore_index=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ladders", type=int, default=200, help="simulated ladders per cell (default 200)")
    parser.add_argument("--bootstrap", type=int, default=400, help="resamples per percentile band (default 400)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2, help="processes (each fit uses one core)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 cells, 10 ladders, 200 resamples; writes files only with --out")
    parser.add_argument("--out", type=Path, default=None, help=f"directory for the results (default {OUT})")
    args = parser.parse_args(argv)
    cell_list = cells()
    if args.quick:
        cell_list, args.ladders, args.bootstrap = [cell_list[0], cell_list[-1]], 10, 200
    run_and_write("checkpoint_calibration", cell_list, args, markdown)


def run_and_write(name: str, cell_list: list[dict], args, markdown_of: Callable, job: Callable = _run_job,
                  cell_keys: tuple[str, ...] = CELL_KEYS) -> None:
    """Run the study ``name`` (its script analyses/NAME.py) on ``cell_list`` with the parsed ``args``
    (ladders, bootstrap, seed, workers, quick, out), print its errors and table, and write NAME.csv
    and NAME.md to ``args.out`` (a --quick run without --out writes nowhere; a full run, to results/)."""
    start = time.time()
    raw = run_study(cell_list, args.ladders, args.bootstrap, args.seed, args.workers, job=job)
    for line in error_report(raw, cell_keys):
        print("error:", line, file=sys.stderr)
    summary = summarize(raw, cell_keys)
    command = f"python analyses/{name}.py" + (" --quick" if args.quick else "")
    table = markdown_of(summary, args.ladders, args.bootstrap, command)
    print(table)
    write_results(name, summary, table, args)
    print(f"{time.time() - start:.0f}s", file=sys.stderr)


def write_results(name: str, summary: pd.DataFrame, table: str, args) -> None:
    """NAME.csv (``summary``) and NAME.md (``table``) into ``args.out``; a --quick run without --out
    writes nowhere, a full run without it into analyses/results/."""
    out = args.out if args.out is not None or args.quick else OUT
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        summary.to_csv(out / f"{name}.csv", index=False, float_format="%.6g")
        (out / f"{name}.md").write_text(table)
        print(f"wrote {out / f'{name}.csv'} and {name}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
