"""The band-candidate study (analyses/checkpoint_band_candidates.py) on one tiny ladder: its
"percentile" candidate is scalefit's own band from the same refits, and the candidates shaped from
the 95% band equal it at 95%. Which candidate covers best is the study's business, not this test's."""

import sys
from pathlib import Path

import numpy as np
import pytest

from scalefit import analyze
from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent


sys.path.insert(0, str(ROOT / "analyses"))     # the study imports checkpoint_calibration
STUDY = load_script(ROOT / "analyses" / "checkpoint_band_candidates.py")
CELL = dict(runs=10, checkpoints=5, run_sd=0.03)     # 10 runs: few tied refits, so the order statistic taken matters


@pytest.fixture(scope="module")
def ladder():
    return STUDY.collect_ladder((0, CELL, 0, 7, 200))


def test_percentile_candidate_is_the_analysis_band_from_the_same_refits(ladder):
    rng = np.random.default_rng(7)
    truth = STUDY.draw_truth(CELL, rng)
    frame = STUDY.simulate_checkpoints(truth, CELL, rng)
    at = [truth["c_top"] * 10.0 ** b for b in STUDY.BEYOND_DECADES]
    result = analyze(frame, bootstrap=200, seed=7, at_flops=at, workers=1)
    low, high = STUDY.percentile(ladder["draws"].T, 0.95)            # one row per quantity
    for j, p in enumerate(result.predictions):
        assert np.exp(low[j]) == pytest.approx(p.low, rel=1e-12)
        assert np.exp(high[j]) == pytest.approx(p.high, rel=1e-12)
    a = STUDY.LAW.param_names.index("alpha")
    ff = result.fits["f"]
    assert (low[2], high[2]) == pytest.approx((ff.low[a], ff.high[a]), rel=1e-12)
    assert ladder["truth"][2] == truth["params"][2]


def test_candidates_shaped_from_the_95_band_equal_it_at_95_and_nest_by_level(ladder):
    point, values = ladder["point"], ladder["draws"].T
    runs = np.full(point.size, CELL["runs"])
    at95 = STUDY.candidate_bands(point, values, runs, 0.95)
    for name in ("normal95", "normal95_median", "logistic95", "t95_runs"):
        np.testing.assert_allclose(at95[name], at95["percentile"], rtol=1e-12)
    for name, (low, high) in STUDY.candidate_bands(point, values, runs, 0.80).items():
        assert (at95[name][0] <= low + 1e-12).all() and (high <= at95[name][1] + 1e-12).all(), name


def test_the_readmes_band_candidate_numbers_are_the_studys():
    """The README's paragraph on other bands quotes analyses/results/checkpoint_band_candidates.csv:
    the 80% coverage of both predicted losses by checkpoints per run, one cell's jump, and the
    standard-deviation band's pooled 95% coverage."""
    import pandas as pd
    results = pd.read_csv(ROOT / "analyses" / "results" / "checkpoint_band_candidates.csv")
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    losses = results[results.quantity.isin(["loss_10x", "loss_100x"])]

    def pooled(candidate, level, checkpoints=None, frame=losses):
        g = frame[(frame.candidate == candidate) & (frame.level == level)]
        g = g if checkpoints is None else g[g.checkpoints == checkpoints]
        return np.average(g.coverage, weights=g.ladders)

    normal, pct, logistic = ([f"{100 * pooled(c, 0.8, k):.1f}%" for k in (5, 20)]
                             for c in ("normal95", "percentile", "logistic95"))
    assert (f"its 80% band covers {normal[0]} with 5 checkpoints per run and {normal[1]} with 20; the "
            f"percentile band covers {pct[0]} and {pct[1]}. With a logistic shape the figures are "
            f"{logistic[0]} and {logistic[1]}.") in readme
    cell = losses[(losses.quantity == "loss_10x") & (losses.level == 0.8) & (losses.runs == 4)
                  & (losses.checkpoints == 5) & (losses.run_sd == 0.03)].set_index("candidate").coverage
    assert f"(4 runs of 5 checkpoints at 3%: {100 * cell['percentile']:.1f}% to {100 * cell['normal95']:.1f}% at 10x)" in readme
    assert f"covers only {100 * pooled('normal_sd', 0.95):.0f}% at 95%" in readme
