"""The L(N, D) calibration study (analyses/nd_calibration.py) on tiny runs: the rows and summary it
produces, that its seed alone fixes its numbers, that its designs and truths are what it says, and
that its bands are the ones a user gets from `analyze` and `optimal_report`. Its coverage is the
study's business, not this test's."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit import analyze, optimal_report
from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent


STUDY = load_script(ROOT / "analyses" / "nd_calibration.py")
ISOFLOP = dict(true_law="chinchilla", design="isoflop", runs=20, noise=0.02)
GRID = dict(true_law="apart", design="grid", runs=20, noise=0.01)


def _tiny(cell: dict, seed: int) -> pd.DataFrame:
    return STUDY.run_cell(cell, 0, range(2), n_boot=200, seed=seed)


def test_study_rows_cover_every_quantity_and_level_and_the_seed_fixes_them():
    raw = _tiny(ISOFLOP, 11)
    nd, iso = raw[raw.method == "nd"], raw[raw.method == "isoflop"]
    assert len(nd) == 2 * len(STUDY.QUANTITIES) * len(STUDY.LEVELS)
    assert len(iso) == 2 * len(STUDY.LEVELS) and set(iso.quantity) == {"a"}
    assert set(nd.quantity) == set(STUDY.QUANTITIES) and set(raw.level) == set(STUDY.LEVELS)
    assert {"true_law", "design", "runs", "noise", "ladder", "seed", "method", "quantity", "level", "truth",
            "low", "high", "covered", "width", "failed_refits", "error"} <= set(raw.columns)
    assert (raw.error == "").all() and np.isfinite(raw[["low", "high"]].to_numpy()).all()
    assert (raw.low <= raw.high).all()
    # a percentile band follows a monotone map of the draws: D_opt = C / (6 N_opt) covers with N_opt
    for budget in STUDY.BUDGET_NAMES:
        n_opt = nd[nd.quantity == f"n_opt_{budget}"].covered.to_numpy()
        assert (n_opt == nd[nd.quantity == f"d_opt_{budget}"].covered.to_numpy()).all()
    pd.testing.assert_frame_equal(raw, _tiny(ISOFLOP, 11))                      # same seed, same numbers
    assert not np.allclose(raw.low.to_numpy(), _tiny(ISOFLOP, 12).low.to_numpy())  # another seed, other ladders

    from checkpoint_calibration import summarize      # the study's shared summary (on the path once loaded)

    summary = summarize(pd.concat([raw, _tiny(GRID, 11)]), STUDY.CELL_KEYS)
    assert (summary.ladders == 2).all() and summary.coverage.between(0, 1).all()
    assert {"coverage", "coverage_se", "median_width", "missing", "errors"} <= set(summary.columns)
    table = STUDY.markdown(summary, 2, 200, "python analyses/nd_calibration.py --quick")
    assert table.count("| chinchilla | isoflop | 20 | 2.0% |") == len(STUDY.LEVELS) + 1     # coverage, widths
    assert table.count("| apart | grid | 20 | 1.0% |") == len(STUDY.LEVELS) + 1


def test_the_designs_and_truths_are_those_the_study_describes():
    chinchilla, apart = np.array(STUDY.TRUTHS["chinchilla"]), np.array(STUDY.TRUTHS["apart"])
    split = STUDY.allocation(chinchilla, STUDY.ANCHOR_FLOPS)
    n0, d0 = split["n_opt"], split["d_opt"]
    assert apart[1] * n0 ** -apart[3] == pytest.approx(chinchilla[1] * n0 ** -chinchilla[3], rel=1e-12)
    assert apart[2] * d0 ** -apart[4] == pytest.approx(chinchilla[2] * d0 ** -chinchilla[4], rel=1e-12)
    for cell in STUDY.cells():
        n, d = STUDY.design_sizes(cell)
        flops = 6 * n * d
        assert n.size == cell["runs"] and flops.max() == pytest.approx(1e20, rel=1e-9)
        if cell["design"] == "isoflop":         # every budget's sizes span a factor 10 around the true N_opt
            budgets, per_budget = STUDY.RUNS[cell["runs"]]
            assert np.unique(np.round(np.log10(flops), 9)).size == budgets
            centre = STUDY.allocation(np.array(STUDY.TRUTHS[cell["true_law"]]), flops)["n_opt"]
            spread = np.log10(n / centre)
            assert spread.min() == pytest.approx(-0.5) and spread.max() == pytest.approx(0.5)
        else:
            assert np.unique(np.round(d / n, 6)).size == STUDY.RUNS[cell["runs"]][1]
            assert (d / n).min() == pytest.approx(5) and (d / n).max() == pytest.approx(160)
    truth, budgets, sizes = STUDY.true_values(ISOFLOP)
    assert budgets == pytest.approx([1e21, 1e22])
    assert truth["a"] == pytest.approx(chinchilla[4] / (chinchilla[3] + chinchilla[4]))
    frontier = float(STUDY.allocation(chinchilla, 1e21)["loss"])
    assert truth["loss_10x"] == truth["frontier_10x"] == pytest.approx(frontier)


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_the_studys_bands_are_those_fit_and_optimal_give_a_user(level):
    """The study reads 80% bands off its 95% analysis (same fit, same resamples) and computes the
    IsoFLOP band itself; all must be the bands `analyze` and `optimal_report` give at that level."""
    frame = STUDY.simulate_ladder(ISOFLOP, np.random.default_rng(5))
    truth, budgets, sizes = STUDY.true_values(ISOFLOP)
    result = analyze(frame, law="chinchilla", bootstrap=200, seed=4, at_params_tokens=sizes, workers=1)
    bands = STUDY.nd_bands(result, level, budgets, sizes)
    direct = analyze(frame, law="chinchilla", level=level, bootstrap=200, seed=4, at_params_tokens=sizes, workers=1)
    for name, p in zip(STUDY.BUDGET_NAMES, direct.predictions):
        assert bands[f"loss_{name}"] == pytest.approx((p.low, p.high), rel=1e-12)
    for name in ("alpha", "beta"):
        assert bands[name] == pytest.approx(tuple(direct.conf_int().loc[("f", name)]), rel=1e-12)
    opt = optimal_report(frame, budgets=budgets, bootstrap=200, seed=4, level=level, workers=1)
    table = opt.frame().set_index("flops")
    frontier = analyze(frame, law="chinchilla", level=level, bootstrap=200, seed=4, at_flops=budgets, workers=1)
    for name, c, p in zip(STUDY.BUDGET_NAMES, budgets, frontier.predictions):
        for q, column in (("n_opt", "n_opt"), ("d_opt", "d_opt"), ("frontier", "loss")):    # optimal's columns
            said = (table.loc[c, f"{column}_low"], table.loc[c, f"{column}_high"])
            assert bands[f"{q}_{name}"] == pytest.approx(said, rel=1e-12)
        assert bands[f"frontier_{name}"] == pytest.approx((p.low, p.high), rel=1e-9)    # fit --at-flops
    assert bands["a"] == pytest.approx((table.a_low.iloc[0], table.a_high.iloc[0]), rel=1e-12)
    assert STUDY.isoflop_bands(frame, 200, 4)[level] == pytest.approx(opt.families[0].isoflop.a_band, rel=1e-12)



def test_a_band_reaching_zero_is_scored_not_raised():
    """E's band reaches 0 when refits put E at its bound: ln(high / low) divided a Python float by
    zero and lost the whole ladder (every band counted as missing) in a first run of the study."""
    rows = STUDY.band_rows("nd", {"E": (0.0, 1.9), "beta": (0.3, 0.4)}, {"E": 1.8, "beta": 0.45}, 0.95, 0)
    assert [r["covered"] for r in rows] == [True, False]
    assert rows[0]["width"] == np.inf and rows[1]["width"] == pytest.approx(np.log(0.4 / 0.3))


def test_the_readme_and_the_bands_warning_quote_the_studys_numbers():
    """The README's table is the study's summary of analyses/results/nd_calibration.csv, and the
    coverage the L(N, D) bands warning states is the lowest and highest of the study's pooled
    coverages (per method, quantity and true law) at each level, for the runs it simulated."""
    from scalefit.analysis import ND_STUDY_COVERAGE, ND_STUDY_RUNS

    results = pd.read_csv(ROOT / "analyses" / "results" / "nd_calibration.csv")
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    for line in STUDY.readme_table(results):
        assert line in readme, line
    assert STUDY.standard_errors(results) in readme
    for level, (low, high) in ND_STUDY_COVERAGE.items():
        at = results[results.level == level]
        pooled = [STUDY.pooled_coverage(g) for _, g in at.groupby(["method", "quantity", "true_law"])]
        assert (low, high) == (round(100 * min(pooled), 1), round(100 * max(pooled), 1))
    assert ND_STUDY_RUNS == (min(STUDY.RUNS), max(STUDY.RUNS))
    assert set(results.runs) == set(STUDY.RUNS) and set(results.noise) == set(STUDY.NOISES)
