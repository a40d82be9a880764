"""Backtests: each family fitted without its largest runs predicts them, as `fit --at-flops` would."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import scalefit
from scalefit.analysis import analyze
from scalefit.chinchilla import ChinchillaLaw
from scalefit.cli import main
from scalefit.laws import SaturatingLaw

SAT, CHIN = SaturatingLaw(), ChinchillaLaw()


def ladder_frame(seed: int = 0) -> pd.DataFrame:
    """Two families of the saturating law (the second with a repeated largest run) and a reference."""
    rng = np.random.default_rng(seed)
    rows = []
    for family, flops in (("a", np.geomspace(1e19, 1e22, 8)), ("b", np.r_[np.geomspace(1e19, 3e21, 6), 3e21])):
        loss = SAT.predict(np.array([1.8, 1e3, 0.15]), flops) * np.exp(rng.normal(0, 0.01, flops.size))
        rows += [dict(family=family, run=f"{family}{i}", flops=c, loss=v) for i, (c, v) in enumerate(zip(flops, loss))]
    rows.append(dict(family="ref", run="ref", flops=1e23, loss=2.0))
    return pd.DataFrame(rows)


def assert_same(a, b) -> None:
    """Equal predictions, NaN fields (no N and D for a compute law) counting as equal."""
    np.testing.assert_equal(dataclasses.asdict(a), dataclasses.asdict(b))


def test_backtest_predicts_each_held_out_run_from_the_smaller_runs():
    frame = ladder_frame()
    bt = scalefit.backtest(frame, hold_out=2)
    assert [(h.family, h.run) for h in bt.rows] == [("a", "a6"), ("a", "a7"), ("b", "b4"), ("b", "b5"), ("b", "b6")]
    for family in ("a", "b"):
        runs = frame[frame.family == family]
        cut = np.unique(runs.flops)[-2]
        alone = analyze(runs[runs.flops < cut], at_flops=runs.flops[runs.flops >= cut].to_numpy())
        held = [h for h in bt.rows if h.family == family]
        for h in held:
            (same,) = [p for p in alone.predictions if p.flops == h.prediction.flops]
            assert_same(h.prediction, same)                    # as `fit --at-flops` on the smaller runs
            assert h.observed == float(runs.loss[runs.run == h.run].iloc[0])
            assert h.error == pytest.approx((same.loss - h.observed) / h.observed)
            assert h.inside == (same.low <= h.observed <= same.high)
    b5, b6 = bt.rows[3], bt.rows[4]                            # two runs at one compute share a prediction
    assert_same(b5.prediction, b6.prediction)
    assert b5.observed != b6.observed
    frame_out = bt.frame()
    assert list(frame_out.run) == ["a6", "a7", "b4", "b5", "b6"]
    assert bt.coverage == pytest.approx(frame_out.inside.mean())
    assert bt.median_abs_error == pytest.approx(frame_out.error.abs().median())
    shuffled = scalefit.backtest(frame.sample(frac=1.0, random_state=3), hold_out=2)   # rows in any order:
    assert sorted(h.run for h in shuffled.rows) == sorted(frame_out.run)             # the same runs, listed
    for family in ("a", "b"):                                                         # by compute in a family
        flops = [h.prediction.flops for h in shuffled.rows if h.family == family]
        assert flops == sorted(flops)


def test_families_too_small_to_hold_out_are_skipped_with_a_warning():
    frame = ladder_frame()
    small = pd.concat([frame, pd.DataFrame(dict(family="c", run=["c0", "c1", "c2", "c3"],
                                                flops=[1e19, 1e20, 1e21, 1e22], loss=[3.0, 2.6, 2.3, 2.1]))])
    bt = scalefit.backtest(small, hold_out=1)
    assert {h.family for h in bt.rows} == {"a", "b"}
    assert any("family 'c': not backtested" in w and "keeps 3 run(s)" in w for w in bt.warnings)
    at_four = scalefit.backtest(small, hold_out=4)         # c has 4 computes: nothing left to fit on
    assert "family 'c': not backtested: it has 4 compute value(s), not more than the 4 to hold out" in at_four.warnings
    with pytest.raises(scalefit.LadderError, match="no family could be backtested"):
        scalefit.backtest(small, hold_out=7)
    with pytest.raises(ValueError, match="hold_out"):
        scalefit.backtest(frame, hold_out=0)


def test_chinchilla_backtest_predicts_at_each_runs_own_size():
    n = np.repeat(np.geomspace(1e7, 1e9, 6), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 6)
    loss = CHIN.predict_nd(np.array([1.7, 400.0, 2000.0, 0.34, 0.36]), n, d) * np.exp(
        np.random.default_rng(1).normal(0, 0.005, n.size))
    frame = pd.DataFrame(dict(family="f", params=n, tokens=d, loss=loss))
    bt = scalefit.backtest(frame, law="chinchilla", hold_out=1, bootstrap=100)
    (h,) = bt.rows                                   # the largest compute: 1e9 params at 80 tokens each
    assert (h.prediction.params, h.prediction.tokens) == (1e9, 8e10) and h.prediction.where == "size"
    train = frame[6 * frame.params * frame.tokens < 6 * 1e9 * 8e10]
    fit = analyze(train, law="chinchilla", bootstrap=0).fits["f"].fit
    assert h.prediction.loss == pytest.approx(float(CHIN.predict_nd(fit.params, 1e9, 8e10)), rel=1e-9)
    assert h.prediction.band_method == "percentile" and h.prediction.low < h.prediction.loss < h.prediction.high


def test_backtest_command(tmp_path):
    path = tmp_path / "ladder.csv"
    ladder_frame().to_csv(path, index=False)
    runner = CliRunner()
    table = runner.invoke(main, ["backtest", str(path), "--hold-out", "2"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["family", "run"])
    assert [line.split()[1] for line in lines[head + 1:head + 6]] == ["a6", "a7", "b4", "b5", "b6"]
    (summary,) = [line for line in lines if line.startswith("5 held-out run(s); median |error| ")]
    assert f"inside the 95% band: {sum(line.split()[-3] == 'yes' for line in lines[head + 1:head + 6])} of 5" in summary
    data = json.loads(runner.invoke(main, ["backtest", str(path), "--hold-out", "2", "--format", "json"]).stdout,
                      parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert data["hold_out"] == 2 and len(data["held_out"]) == 5 and data["bands"]["method"] == "profile"
    assert data["held_out"][0]["run"] == "a6" and data["held_out"][0]["params"] is None
    csv = runner.invoke(main, ["backtest", str(path), "--format", "csv", "--bootstrap", "0"]).stdout
    assert csv.splitlines()[0].startswith("family,run,flops,") and len(csv.splitlines()) == 1 + 3
    bad = runner.invoke(main, ["backtest", str(path), "--hold-out", "9"])
    assert bad.exit_code == 2 and len(bad.stderr.splitlines()) == 1 and "hold out fewer compute values" in bad.stderr


def test_backtest_refusals_and_outputs_without_bands(tmp_path):
    runner = CliRunner()
    flops_only = runner.invoke(main, ["backtest", "data/ladders/muse.csv", "--law", "chinchilla"])
    assert flops_only.exit_code == 2 and len(flops_only.stderr.splitlines()) == 1
    assert "needs 'params' and 'tokens' columns" in flops_only.stderr
    path = tmp_path / "two.csv"
    path.write_text("family,flops,loss\n" + "".join(f"{f},{c:g},{v}\n" for f in "ab" for c, v in
                                                    zip((1e19, 1e20, 1e21, 1e22), (3.0, 2.8, 2.6, 2.5))))
    none_left = runner.invoke(main, ["backtest", str(path)])
    assert none_left.exit_code == 2 and len(none_left.stderr.splitlines()) == 1
    assert "no family could be backtested: family 'a': not backtested: " in none_left.stderr
    assert "it keeps 3 run(s) at 3 compute value(s), too few to fit the saturating law" in none_left.stderr
    assert "hold out fewer" not in none_left.stderr            # --hold-out is already 1
    far = tmp_path / "far.csv"                 # the largest run 15 decades past the others: refused, not a crash
    far.write_text("family,flops,loss\n" + "".join(f"a,{c:g},{v}\n" for c, v in
                                                 zip((1e10, 1e11, 1e12, 1e13, 1e14, 1e29), (3.0, 2.8, 2.6, 2.5, 2.45, 2.0))))
    beyond = runner.invoke(main, ["backtest", str(far)])
    assert beyond.exit_code == 2 and len(beyond.stderr.splitlines()) == 1 and "decades outside" in beyond.stderr
    # the held-out run, not an argument the backtest has not ('at_flops 1e+29' / '--at-flops')
    assert "not backtested: its held-out run at compute 1e+29: 15.0 decades outside" in beyond.stderr
    assert "at_flops" not in beyond.stderr and "at-flops" not in beyond.stderr
    bare = json.loads(runner.invoke(main, ["backtest", "data/ladders/muse.csv", "--bootstrap", "0",
                                           "--format", "json"]).stdout)
    (row,) = bare["held_out"]
    assert row["inside"] is None and row["low"] is None and bare["coverage"] is None
    table = runner.invoke(main, ["backtest", "data/ladders/muse.csv", "--bootstrap", "0"])   # crashed once
    assert table.exit_code == 0 and "no bands" in table.stdout and "inside the" not in table.stdout, table.stderr
    assert "1 held-out run(s)" in scalefit.backtest("data/ladders/muse.csv", bootstrap=0).summary()
    assert row["observed_perplexity"] == pytest.approx(np.exp(row["observed"]))
    assert row["predicted_perplexity"] == pytest.approx(np.exp(row["predicted"]))


def test_backtest_warns_once_and_not_of_extrapolating_on_purpose():
    frame = ladder_frame()
    bt = scalefit.backtest(frame, hold_out=3, band_method="percentile", bootstrap=50)
    assert sum("bootstrap resamples are few" in w for w in bt.warnings) == 1      # not once per family
    assert not any(" is extrapolated " in w and ": the prediction " in w for w in bt.warnings)
    assert bt.coverage == pytest.approx(np.mean([h.inside for h in bt.rows]))


def test_backtest_figure(tmp_path):
    path = tmp_path / "ladder.csv"
    ladder_frame().to_csv(path, index=False)
    out = tmp_path / "bt.png"
    runner = CliRunner()
    r = runner.invoke(main, ["backtest", str(path), "--hold-out", "2", "--figure", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"\x89PNG") and f"wrote {out}" in r.stderr
    from scalefit.plots import backtest_figure
    bt = scalefit.backtest(path, hold_out=2)
    figure = backtest_figure(bt)
    layers = {}
    for layer in figure.layers:
        layers.setdefault(type(layer.geom).__name__, []).append(layer._data)
    points = pd.concat(layers["geom_point"][:2])                   # fitted, then held-out runs
    layers = {name: data[0] for name, data in layers.items()} | {"rings": layers["geom_point"][2]}
    assert sorted(points[points.role == "held-out runs"].flops) == sorted(h.prediction.flops for h in bt.rows)
    assert sorted(layers["rings"].flops) == sorted(h.prediction.flops for h in bt.rows)   # held-out runs ringed
    assert len(points[points.role == "fitted runs"]) == 6 + 4       # a: 8 - 2 held out; b: 7 - 3 (a repeat)
    bars = layers["geom_linerange"]
    assert sorted(bars.high) == sorted(h.prediction.high for h in bt.rows)
    bad = runner.invoke(main, ["backtest", "data/ladders/muse.csv", "--law", "chinchilla", "--figure", str(out)])
    assert bad.exit_code == 2 and "--figure draws compute laws" in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_families_held_out_at_one_compute_are_drawn_side_by_side():
    """Found by a new user: in the backtest figure of three data sets trained at the same sizes
    (Gadre et al.), each held-out compute showed one family's bar and run, the last drawn, over
    the others'. Families held out at one compute are set side by side (as predictions at one
    compute are), each run on its own bar; with no compute shared nothing moves."""
    import warnings

    from scalefit.plots import backtest_figure

    flops = np.geomspace(1e19, 1e22, 6)
    noise = np.exp(np.random.default_rng(0).normal(0, 0.005, 12))
    rows = [(f, c, (1.8 + 1000 * c ** -0.15) * s * noise[i])
            for i, (f, s, c) in enumerate((f, s, c) for f, s in (("a", 1.0), ("b", 1.01)) for c in flops)]
    shared = backtest_figure(scalefit.backtest(pd.DataFrame(rows, columns=["family", "flops", "loss"]), hold_out=2))
    offset = [(f, c * (1.3 if f == "b" else 1.0), loss) for f, c, loss in rows]      # no compute shared
    apart = backtest_figure(scalefit.backtest(pd.DataFrame(offset, columns=["family", "flops", "loss"]), hold_out=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shared.draw(), apart.draw()

    def dodged(plot):
        return [layer for layer in plot.layers if type(layer.position).__name__ == "position_dodge"]

    assert [type(layer.geom).__name__ for layer in dodged(shared)] == ["geom_linerange", "geom_point", "geom_point"]
    bars, held, rings = (layer.data for layer in dodged(shared))
    x = bars.sort_values(["color", "x"])["x"].to_numpy()
    assert len(x) == 4 and np.allclose(held.sort_values(["color", "x"])["x"], x)   # each run on its family's bar
    assert np.allclose(np.sort(rings["x"]), np.sort(x))
    at_one = bars.groupby(np.round(bars["x"]))["x"]
    assert len(at_one) == 2 and (at_one.max() - at_one.min() > 0.1).all()      # side by side, not over each other
    assert not dodged(apart)


def test_a_tiny_share_of_unreachable_draws_is_not_printed_as_zero():
    """Found by a new user: with 1,000,000 resamples a handful of unreachable draws read '0.0% of
    bootstrap draws'; the warning gives the count, and the warning and the table's column a share
    never rounded onto 0% or 100%."""
    from scalefit.formatting import fmt_share
    from scalefit.analysis import _multiplier_warnings
    from scalefit.efficiency import Multiplier

    ladder = scalefit.read_ladder(ladder_frame())
    m = Multiplier(focus="a", reference="b", reference_kind="ladder", where="largest run", loss=2.0,
                   reference_flops=1e21, reference_flops_low=5e20, reference_flops_high=2e21, focus_flops=1e20,
                   focus_flops_low=5e19, focus_flops_high=2e20, multiplier=10.0, low=0.0, high=20.0,
                   unreachable_fraction=3e-6, n_draws=1_000_000, extrapolation_decades=0.0,
                   reference_extrapolation_decades=0.0)
    (warning,) = _multiplier_warnings([m], ladder)
    assert "unreachable in 3 of 1,000,000 bootstrap draws (<0.1%)" in warning
    assert (fmt_share(3e-6, 1), fmt_share(0.9999, 1), fmt_share(0.005), fmt_share(0.995)) == ("<0.1%", ">99.9%", "<1%", ">99%")
    (warning,) = _multiplier_warnings([dataclasses.replace(m, unreachable_fraction=0.125, n_draws=1000)], ladder)
    assert "unreachable in 125 of 1,000 bootstrap draws (12.5%)" in warning


def long_ladder_frame(runs: int = 520, seed: int = 1) -> pd.DataFrame:
    """Two families of ``runs`` runs each at distinct computes: long enough (1,000 rows or more)
    for the command's progress bar of profile bands."""
    rng = np.random.default_rng(seed)
    rows = []
    for family, shift in (("a", 1.0), ("b", 2.0)):
        flops = np.geomspace(1e19, 1e22, runs) * (1 + 1e-3 * shift)
        loss = SAT.predict(np.array([1.8, 1e3, 0.15]), flops * shift) * np.exp(rng.normal(0, 0.01, runs))
        rows.append(pd.DataFrame({"family": family, "flops": flops, "loss": loss}))
    return pd.concat(rows, ignore_index=True)


def test_backtest_reports_each_step_of_its_profile_bands():
    """With profile bands, backtest calls progress once per refitted family's parameter bands and
    predictions: as many times as backtesting.profile_steps counts (families not refitted count none)."""
    from scalefit.backtesting import profile_steps

    frame = ladder_frame()
    calls = []
    scalefit.backtest(frame, hold_out=2, progress=calls.append)
    assert calls == [1] * profile_steps(frame, hold_out=2) and profile_steps(frame, hold_out=2) == 2 * 2
    small = frame[(frame.family != "b") | (frame.flops < 1e21)]        # b: 4 computes
    assert profile_steps(small, hold_out=4) == 2                          # only a is refitted


def test_backtest_command_shows_progress_of_profile_bands(tmp_path, progress_bars):
    """Found by a walkthrough: `scalefit backtest` of a 10k-row ladder with profile bands (the
    default for the compute laws) showed no progress bar; the command counted only bootstrap work."""
    bars = progress_bars
    path = tmp_path / "long.csv"
    long_ladder_frame().to_csv(path, index=False)
    r = CliRunner().invoke(main, ["backtest", str(path)])
    assert r.exit_code == 0, r.output
    ((total, label, ticks),) = bars
    assert label == "bands" and total == 4 and sum(ticks) == total
    short = tmp_path / "short.csv"
    ladder_frame().to_csv(short, index=False)
    bars.clear()
    assert CliRunner().invoke(main, ["backtest", str(short)]).exit_code == 0
    assert bars[0][0] == 0                                  # a short ladder's bands take about a second: no bar


def test_checkpoints_of_a_held_out_run_are_held_out_with_it(checkpoint_ladder):
    """Found by reading the code: on a file of checkpoints the backtest held out a run's last
    checkpoint but fitted its earlier ones, which tell the fit where that run goes (its offset from
    the law), so the backtest looked better than a real extrapolation. A run is now held out whole
    and predicted at its final checkpoint."""
    frame = checkpoint_ladder
    bt = scalefit.backtest(frame, hold_out=2, bootstrap=0)
    assert [h.run for h in bt.rows] == ["run4", "run5"]
    assert [h.prediction.flops for h in bt.rows] == [frame.flops[frame.run == r].max() for r in ("run4", "run5")]
    assert sorted(set(bt.training["f"].ladder.runs["run"])) == ["run0", "run1", "run2", "run3"]
    said = [w for w in bt.warnings if "held-out run is left out whole" in w]
    assert said == ["family 'f': its rows are checkpoints, so each held-out run is left out whole (20 rows of 2 runs) "
                    "and predicted at its final checkpoint"]
    assert "without the runs ending at its 2 largest compute value(s), with all their checkpoints" in bt.summary()
    with pytest.raises(scalefit.LadderError, match="its runs end at 6 compute value"):
        scalefit.backtest(frame, hold_out=6, bootstrap=0)
    other = ladder_frame()[lambda f: f.family == "a"]        # with a family of single runs: one method for both
    mixed = scalefit.backtest(pd.concat([frame, other]), hold_out=2, bootstrap=200)
    assert mixed.band_method == "percentile" and {a.band_method for a in mixed.training.values()} == {"percentile"}
    calibrated = [w for w in mixed.warnings if w.startswith("percentile bootstrap bands are not calibrated")]
    assert len(calibrated) == 1 and "on simulated checkpoint ladders" in calibrated[0]    # not also the plain one
    plain = scalefit.backtest(frame.drop(columns="run"), hold_out=2, bootstrap=0)     # rows as runs: as before
    assert len(plain.rows) == 2 and len(plain.training["f"].ladder.runs) == 58
    assert not any("left out whole" in w for w in plain.warnings)
    assert "without the runs at its 2 largest compute value(s), which the fit then predicts" in plain.summary()


def test_the_commands_progress_bars_count_the_resamples_a_checkpoint_file_gets(tmp_path, progress_bars,
                                                                                checkpoint_ladder):
    """Review: on a file of checkpoints --band-method auto means percentile bands, so `fit` and
    `backtest` resample; their bars must count the resamples (no test failed when the commands
    decided as before, profile for the compute laws, and showed no bar). A checkpoint family whose
    runs all end at one compute is not refitted by the backtest, and its resamples are not counted."""
    bars = progress_bars
    same_end = checkpoint_ladder.assign(family="g")
    same_end["flops"] = 1e22 / 1.25 ** (9 - same_end.groupby("run").cumcount())   # every run ends at 1e22
    path = tmp_path / "ckpt.csv"
    pd.concat([checkpoint_ladder, same_end]).to_csv(path, index=False)
    r = CliRunner().invoke(main, ["fit", str(path), "--bootstrap", "50"])
    assert r.exit_code == 0, r.output
    ((total, label, ticks),) = bars
    assert (total, label, sum(ticks)) == (100, "bootstrap", 100)
    bars.clear()
    r = CliRunner().invoke(main, ["backtest", str(path), "--bootstrap", "50"])
    assert r.exit_code == 0, r.output
    assert "family 'g': not backtested: its runs end at 1 compute value(s)" in r.output
    ((total, label, ticks), *_) = bars
    assert (total, label, sum(ticks)) == (50, "bootstrap", 50)
