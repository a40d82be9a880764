"""The checkpoint calibration study (analyses/checkpoint_calibration.py) on one tiny cell: the
rows and summary it produces, and that its seed alone fixes its numbers. Its coverage is the
study's business, not this test's."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit import analyze
from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent


STUDY = load_script(ROOT / "analyses" / "checkpoint_calibration.py")
CELL = dict(runs=4, checkpoints=5, run_sd=0.03)


def _tiny(seed: int) -> pd.DataFrame:
    return STUDY.run_cell(CELL, 0, range(2), n_boot=200, seed=seed)


def test_study_rows_cover_every_method_quantity_and_level_and_the_seed_fixes_them():
    raw = _tiny(11)
    per_ladder = len(STUDY.METHODS) * len(STUDY.QUANTITIES) * len(STUDY.LEVELS)
    assert len(raw) == 2 * per_ladder
    assert {"runs", "checkpoints", "run_sd", "ladder", "seed", "method", "quantity", "level", "truth",
            "low", "high", "covered", "width", "failed_refits", "error"} <= set(raw.columns)
    assert set(raw.method) == set(STUDY.METHODS) and set(raw.quantity) == set(STUDY.QUANTITIES)
    assert set(raw.level) == set(STUDY.LEVELS)
    assert (raw.error == "").all() and np.isfinite(raw[["low", "high"]].to_numpy()).all()
    assert (raw.low <= raw.high).all()
    pd.testing.assert_frame_equal(raw, _tiny(11))                       # same seed, same numbers
    assert not np.allclose(raw.truth.to_numpy(), _tiny(12).truth.to_numpy())  # another seed, other ladders

    summary = STUDY.summarize(raw)
    assert len(summary) == per_ladder and (summary.ladders == 2).all()
    assert {"coverage", "coverage_se", "median_width", "missing", "errors"} <= set(summary.columns)
    assert summary.coverage.between(0, 1).all()
    table = STUDY.markdown(summary, 2, 200, "python analyses/checkpoint_calibration.py --quick")
    assert table.count("| 4 | 5 | 3% |") == len(STUDY.METHODS)


def test_the_default_for_checkpoint_files_is_the_cluster_bootstrap_the_study_measures():
    """The study's 'cluster' method is analyze's default on a checkpoint file; it must stay so."""
    rng = np.random.default_rng(3)
    truth = STUDY.draw_truth(CELL, rng)
    frame = STUDY.simulate_checkpoints(truth, CELL, rng)
    assert frame.groupby("run").flops.nunique().eq(CELL["checkpoints"]).all()
    result = STUDY.method_analysis(frame, "cluster", [truth["c_top"] * 10], 200, 0)
    assert result.band_method == "percentile"
    assert any("the bootstrap resamples whole runs" in w for w in result.warnings)


def test_the_studys_80_percent_bands_are_those_analyze_gives_at_80_percent():
    """The study reads 80% bands off its 95% analysis (same fit, same resamples); they must be
    the bands a user asking for level=0.8 gets."""
    rng = np.random.default_rng(5)
    truth = STUDY.draw_truth(CELL, rng)
    frame = STUDY.simulate_checkpoints(truth, CELL, rng)
    at = [truth["c_top"] * 10, truth["c_top"] * 100]
    for method, kwargs in (("cluster", {}), ("profile", dict(band_method="profile"))):
        derived = STUDY.bands_at_level(STUDY.method_analysis(frame, method, at, 200, 4), 0.8, at)
        direct = analyze(frame, level=0.8, bootstrap=200, seed=4, at_flops=at, workers=1, **kwargs)
        assert derived["alpha"] == pytest.approx(tuple(direct.conf_int().loc[("f", "alpha")]), rel=1e-9)
        for name, p in zip(STUDY.QUANTITIES, direct.predictions):
            assert derived[name] == pytest.approx((p.low, p.high), rel=1e-9)


def test_the_readmes_checkpoint_numbers_are_the_studys():
    """Review: the README quotes the study's per-cell coverage ranges and width ratios; they must be
    those of analyses/results/checkpoint_calibration.csv (the run-column row said profile bands of
    predicted losses covered 24-60% where the study's cells give 24-59%, and that profile and row
    bands were 2.5-5 times narrower where the cells give up to 5.4)."""
    import re
    results = pd.read_csv(ROOT / "analyses" / "results" / "checkpoint_calibration.csv")
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())

    def span(method, quantities, level):
        cov = results[(results.method == method) & results.quantity.isin(quantities) & (results.level == level)].coverage
        return f"{100 * cov.min():.1f}% - {100 * cov.max():.1f}%"

    losses = ["loss_10x", "loss_100x"]
    for label, quantities, level in (("predicted loss, nominal 95%", losses, 0.95),
                                     ("predicted loss, nominal 80%", losses, 0.8),
                                     ("alpha, nominal 95%", ["alpha"], 0.95), ("alpha, nominal 80%", ["alpha"], 0.8)):
        row = f"| {label} | " + " | ".join(span(m, quantities, level) for m in ("cluster", "profile", "rows")) + " |"
        assert row in readme
    profile = results[(results.method == "profile") & results.quantity.isin(losses) & (results.level == 0.95)].coverage
    said = re.search(r"and profile bands (\d+)-(\d+)% at nominal 95%", readme)
    assert (int(said[1]), int(said[2])) == (round(100 * profile.min()), round(100 * profile.max()))
    wide = results[results.level == 0.95].pivot_table(index=["runs", "checkpoints", "run_sd", "quantity"],
                                                      columns="method", values="median_width")
    ratios = pd.concat([wide["cluster"] / wide["profile"], wide["cluster"] / wide["rows"]])
    said = re.search(r"their bands are ([\d.]+)-([\d.]+) times narrower than the cluster bootstrap's", readme)
    assert float(said[1]) <= ratios.min() and ratios.max() <= float(said[2])


def test_the_readmes_coverage_by_runs_and_checkpoints_is_the_studys():
    """The README says the cluster bootstrap's 80% shortfall grows with runs and checkpoints (so
    few-cluster corrections cannot fix it), quoting coverage pooled over the two predicted losses
    by number of runs and of checkpoints: those must be analyses/results/checkpoint_calibration.csv's."""
    results = pd.read_csv(ROOT / "analyses" / "results" / "checkpoint_calibration.csv")
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    cluster = results[(results.method == "cluster") & results.quantity.isin(["loss_10x", "loss_100x"])]

    def pooled(level, by, value):
        g = cluster[(cluster.level == level) & (cluster[by] == value)]
        return f"{100 * np.average(g.coverage, weights=g.ladders):.1f}%"

    at80 = [pooled(0.8, "runs", n) for n in (4, 6, 10)]
    at95 = [pooled(0.95, "runs", n) for n in (4, 6, 10)]
    assert (f"the 80% bands covered {at80[0]} of truths with 4 runs, {at80[1]} with 6 and {at80[2]} with 10 "
            f"(the 95% bands: {at95[0]}, {at95[1]} and {at95[2]})") in readme
    assert (f"They covered {pooled(0.8, 'checkpoints', 5)} with 5 checkpoints per run and "
            f"{pooled(0.8, 'checkpoints', 20)} with 20.") in readme
