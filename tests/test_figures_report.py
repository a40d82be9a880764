"""Figures and reports: produced for every example ladder, numbers agree with the JSON, errors are clean."""

from __future__ import annotations

import itertools
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from click.testing import CliRunner

from scalefit.analysis import analyze
from scalefit.cli import main
from scalefit.formatting import fmt, fmt_multiplier
from scalefit.plots import FIGURES, FigureOptions, multiplier_figure, save_figure

ROOT = Path(__file__).resolve().parent.parent
LADDERS = sorted((ROOT / "data" / "ladders").glob("*.csv"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def two_ladders(tmp_path) -> Path:
    flops = np.geomspace(1e18, 1e21, 7)
    noise = np.exp(np.random.default_rng(4).normal(0, 0.004, (2, flops.size)))
    old = (1.8 + 300 * flops ** -0.15) * noise[0]
    new = (1.8 + 300 * (flops * 3) ** -0.15) * noise[1]
    rows = [("old", c, l) for c, l in zip(flops, old)] + [("new", c, l) for c, l in zip(flops, new)]
    rows.append(("big", 1e23, 1.8 + 300 * (1e23 / 5) ** -0.15))
    path = tmp_path / "two.csv"
    pd.DataFrame(rows, columns=["family", "flops", "loss"]).to_csv(path, index=False)
    return path


def chinchilla_ladder(tmp_path) -> Path:
    n = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    loss = 1.7 + 400 * n ** -0.34 + 2000 * d ** -0.36
    path = tmp_path / "nd.csv"
    pd.DataFrame({"family": "f", "params": n, "tokens": d, "loss": loss}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("ladder", LADDERS, ids=[p.name for p in LADDERS])
def test_main_figure_for_every_example_ladder(tmp_path, ladder):
    for suffix in (".png", ".svg", ".pdf"):
        out = tmp_path / f"fig{suffix}"
        r = CliRunner().invoke(main, ["plot", str(ladder), "-o", str(out)])
        assert r.exit_code == 0, r.output
        assert out.stat().st_size > 1000
    assert (tmp_path / "fig.png").read_bytes().startswith(PNG_MAGIC)
    assert b"<svg" in (tmp_path / "fig.svg").read_bytes()[:2000]
    assert (tmp_path / "fig.pdf").read_bytes().startswith(b"%PDF")


def test_every_figure_kind(tmp_path):
    result = analyze(two_ladders(tmp_path), focus="new", at_loss=[2.5])
    for kind in ("multipliers", "residuals", "multiplier-curve", "distribution"):
        save_figure(FIGURES[kind](result), str(tmp_path / f"{kind}.png"))
        assert (tmp_path / f"{kind}.png").read_bytes().startswith(PNG_MAGIC)
    percentile = analyze(two_ladders(tmp_path), focus="new", band_method="percentile", bootstrap=200)
    save_figure(FIGURES["distribution"](percentile), str(tmp_path / "hist.png"))
    nd = analyze(chinchilla_ladder(tmp_path), law="chinchilla", bootstrap=100)
    save_figure(FIGURES["contours"](nd), str(tmp_path / "contours.png"))
    assert (tmp_path / "contours.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="chinchilla"):
        FIGURES["contours"](result)


def test_figures_without_bands_do_not_resample(tmp_path, monkeypatch):
    """The residuals and contours figures draw no band: plot fits without the bootstrap (for the
    L(N, D) law it took 20 s of a 22 s command, for a figure byte-identical to --bootstrap 0)."""
    import scalefit.analysis as analysis_module
    import scalefit.chinchilla as chinchilla_module

    def refuse(*_, **__):
        raise AssertionError("resampled for a figure without bands")

    monkeypatch.setattr(chinchilla_module, "bootstrap_chinchilla", refuse)
    monkeypatch.setattr(analysis_module, "bootstrap_family", refuse)
    ladder = chinchilla_ladder(tmp_path)
    for kind, law in (("contours", "chinchilla"), ("residuals", "chinchilla"), ("residuals", "saturating")):
        out = tmp_path / f"{kind}-{law}.png"
        method = "percentile" if law == "chinchilla" else "profile"
        r = CliRunner().invoke(main, ["plot", str(ladder if law == "chinchilla" else two_ladders(tmp_path)),
                                      "--kind", kind, "--law", law, "--band-method", method, "-o", str(out)])
        assert r.exit_code == 0, r.output
        assert "bootstrap 0" not in r.stderr          # the user did not turn the bands off: no advice about it
        assert out.read_bytes().startswith(PNG_MAGIC)


def test_main_figure_draws_one_arrow_per_multiplier_with_its_label(tmp_path):
    result = analyze(two_ladders(tmp_path), focus="new")
    plot = multiplier_figure(result, FigureOptions(title="T"))
    texts = [layer for layer in plot.layers if type(layer.geom).__name__ == "geom_text"]
    labels = set(texts[-1]._data["label"])
    for m in result.multipliers:
        name = f"vs {m.reference}: " if m.reference_kind == "ladder" else ""    # a point is named beside it
        assert f"{name}{fmt_multiplier(m.multiplier)} [{fmt_multiplier(m.low)}, {fmt_multiplier(m.high)}]" in labels
    # the plot is a plotnine object a notebook user can restyle
    import plotnine
    assert isinstance(plot + plotnine.theme_classic(), plotnine.ggplot)


def test_a_ladder_spanning_a_wide_range_of_loss_is_drawn_on_a_log_axis(tmp_path):
    """Perplexity from 300 down to 11 (a ladder from tiny models): a log value axis, so that the
    arrows at the bottom are not squeezed into a tenth of it; the demo (1.8 to 2.6) stays linear."""
    import plotnine
    from scalefit.plots import log_value_axis

    flops = np.geomspace(1e16, 1e22, 7)
    rows = [(f, c, float(np.exp(2.0 + 2e4 * c ** -0.25)) * s) for f, s in (("a", 1.0), ("b", 1.05)) for c in flops]
    wide = analyze(pd.DataFrame(rows, columns=["family", "flops", "perplexity"]), focus="a")
    assert log_value_axis(wide) and not log_value_axis(analyze(LADDERS[0], bootstrap=0))
    plot = multiplier_figure(wide)
    assert any(isinstance(scale, plotnine.scales.scale_y_log10) for scale in plot.scales)
    arrows = [layer for layer in plot.layers if type(layer.geom).__name__ == "geom_segment"][-2]._data
    label_y, y = arrows["label_y"].to_numpy(), arrows["y"].to_numpy()
    assert np.all(np.abs(np.log10(label_y / y)) < 0.2)        # labels beside their arrows, in data units
    save_figure(plot, str(tmp_path / "wide.png"))
    keyed = multiplier_figure(wide, FigureOptions(ylim=(8, 400)))         # user's window on the log axis
    assert keyed.coordinates.limits.y == (8, 400)                          # in data units, as the user wrote it
    assert not log_value_axis(wide, FigureOptions(ylim=(0, 40)))           # a window from 0: linear
    linear = multiplier_figure(wide, FigureOptions(ylim=(0, 40)))
    assert not any(isinstance(scale, plotnine.scales.scale_y_log10) for scale in linear.scales)
    save_figure(linear, str(tmp_path / "linear.png"))
    save_figure(keyed, str(tmp_path / "keyed.png"))
    assert (tmp_path / "keyed.png").read_bytes().startswith(PNG_MAGIC)


def test_predictions_at_a_compute_are_drawn_with_their_bands(tmp_path):
    """plot --at-flops: each family's prediction as a marker with its band as a bar, at the values
    `fit --at-flops` gives, the curves and the axis carried out to them; other kinds refuse it."""
    from scalefit.plots import PREDICTION_DODGE, prediction_frame

    ladder = two_ladders(tmp_path)
    result = analyze(ladder, focus="new", at_flops=[1e23])
    plot = multiplier_figure(result)
    (bars,) = [layer for layer in plot.layers if type(layer.geom).__name__ == "geom_errorbar"]
    for p in result.predictions:
        row = bars._data[bars._data["family"] == p.family].iloc[0]
        assert (row["flops"], row["value"], row["low"], row["high"]) == (1e23, p.loss, p.low, p.high)
    curves = [layer for layer in plot.layers if type(layer.geom).__name__ == "geom_line"][0]._data
    assert curves["flops"].max() >= 1e23 * 10 ** (PREDICTION_DODGE / 2)
    assert len(prediction_frame(analyze(ladder, focus="new"))) == 0
    out = tmp_path / "pred.png"
    r = CliRunner().invoke(main, ["plot", str(ladder), "--focus", "new", "--at-flops", "1e23", "-o", str(out)])
    assert r.exit_code == 0 and out.read_bytes().startswith(PNG_MAGIC), r.stderr
    r = CliRunner().invoke(main, ["plot", str(ladder), "--kind", "residuals", "--at-flops", "1e23", "-o", str(out)])
    assert r.exit_code == 2 and "--at-flops" in r.stderr and r.stderr.count("\n") == 1
    # the report carries them too: a table of the values fit --at-flops gives, and the figure
    md = tmp_path / "pred.md"
    r = CliRunner().invoke(main, ["report", str(ladder), "--focus", "new", "--at-flops", "1e23", "-o", str(md)])
    assert r.exit_code == 0, r.stderr
    table = md.read_text().split("## Predicted loss at the given compute")[1].split("\n\n")[1].splitlines()[2:]
    assert [row.split(" | ")[0].lstrip("| ") for row in table] == [p.family for p in result.predictions]
    for row, p in zip(table, result.predictions):
        assert row.split(" | ")[2] == fmt(p.loss) and row.split(" | ")[3] == f"[{fmt(p.low)}, {fmt(p.high)}]"


def test_without_predictions_or_arrows_the_plotted_compute_stays_numeric_and_nothing_warns(tmp_path):
    """Without --at-flops the frame of predictions is empty, and without multipliers the frame of
    arrows, and their columns were object: concatenated with the runs to lay out the labels, they
    made the plotted compute object (pandas 3) or warned of that change (pandas 2.1 and 2.2, a
    FutureWarning under `scalefit plot`)."""
    from scalefit.plots import prediction_frame

    with_arrows = analyze(two_ladders(tmp_path), focus="new")
    assert prediction_frame(with_arrows)[["flops", "value", "low", "high"]].dtypes.eq(float).all()
    flops = np.geomspace(1e18, 1e21, 7)
    one = analyze(pd.DataFrame({"family": "one", "flops": flops, "loss": 1.8 + 300 * flops ** -0.15}), bootstrap=0)
    assert not one.multipliers
    for result in (with_arrows, one):
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            multiplier_figure(result)


def test_many_arrows_are_numbered_and_keyed_in_the_caption(tmp_path):
    from scalefit.plots import COLUMN_SIZE, INLINE_ARROWS, natural_height
    frame = pd.read_csv(two_ladders(tmp_path))
    extra = [(f"model-{k}", 10.0 ** (22.3 + 0.2 * k), 1.8 + 300 * (10.0 ** (22.3 + 0.2 * k) / 4) ** -0.15)
             for k in range(INLINE_ARROWS)]
    frame = pd.concat([frame, pd.DataFrame(extra, columns=frame.columns)], ignore_index=True)
    result = analyze(frame, focus="new", name="many.csv")
    shown = [m for m in result.multipliers if m.where != "at-loss"]
    assert len(shown) > INLINE_ARROWS
    plot = multiplier_figure(result)
    key = plot.labels.get("caption") if isinstance(plot.labels, dict) else plot.labels.caption
    lines = key.splitlines()
    assert len(lines) == len(shown)
    for k, (line, m) in enumerate(zip(lines, shown)):
        assert line.startswith(f"{k + 1}   {fmt_multiplier(m.multiplier)} [{fmt_multiplier(m.low)}, "
                               f"{fmt_multiplier(m.high)}]") and m.reference in line
    texts = [layer for layer in plot.layers if type(layer.geom).__name__ == "geom_text"]
    assert list(texts[-1]._data["label"]) == [str(k + 1) for k in range(len(shown))]
    assert len(texts) == 1  # every reference is named in the key, none again on the plot
    assert natural_height("multipliers", result, COLUMN_SIZE[1]) > COLUMN_SIZE[1]
    assert natural_height("multipliers", analyze(two_ladders(tmp_path), focus="new"), 2.6) == 2.6
    save_figure(plot, str(tmp_path / "keyed.png"))
    assert (tmp_path / "keyed.png").read_bytes().startswith(PNG_MAGIC)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=8), st.floats(0.01, 2),
       st.sampled_from(["centre", "below", "above"]))
def test_spread_labels_keep_order_and_gap(values, gap, anchor):
    from scalefit.plots import _spread
    values = np.array(values)
    placed = _spread(values, gap, anchor=anchor)
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(placed[order]) >= gap * (1 - 1e-9))
    if anchor == "centre":
        assert placed.mean() == pytest.approx(values.mean(), abs=1e-9)
    elif anchor == "below":   # at or below each value, and as high as that allows: one label sits at its value
        assert np.all(placed <= values + 1e-9) and np.min(values - placed) == pytest.approx(0, abs=1e-9)
    else:
        assert np.all(placed >= values - 1e-9) and np.min(placed - values) == pytest.approx(0, abs=1e-9)


def test_a_label_that_would_cover_the_runs_becomes_a_number(tmp_path):
    """Three ladders of one law, runs every 0.1 decade, the focus between the others: left of the
    arrows (below the focus's curve) lie the better ladder's runs, so the two arrows are numbered
    and keyed though there are fewer than INLINE_ARROWS."""
    from scalefit.plots import FigureOptions, _annotation_layout, natural_height
    flops = np.geomspace(1e18, 1e22, 41)
    noise = np.exp(np.random.default_rng(5).normal(0, 0.003, (3, flops.size)))
    rows = [(name, c, (1.8 + 300 * (speed * c) ** -0.15) * e)
            for name, speed, row in (("a", 1.0, 0), ("b", 1.3, 1), ("c", 10.0, 2))
            for c, e in zip(flops, noise[row])]
    result = analyze(pd.DataFrame(rows, columns=["family", "flops", "loss"]), focus="b")
    arrows, _, _, keyed = _annotation_layout(result, FigureOptions())
    assert len(arrows) == 2 and keyed
    assert natural_height("multipliers", result, 2.6) > 2.6
    caption = multiplier_figure(result).labels
    caption = caption.get("caption") if isinstance(caption, dict) else caption.caption
    assert caption.splitlines()[0].startswith("1   ") and "vs c (largest run)" in caption


def test_curve_band_contains_the_fit_and_widens_when_extrapolated(tmp_path):
    from scalefit.plots import curve_frame
    curves = curve_frame(analyze(two_ladders(tmp_path), focus="new"))
    c = curves[curves.family == "new"].dropna()
    assert np.all(c.low <= c.loss + 1e-9) and np.all(c.loss <= c.high + 1e-9)
    inside = (c.high - c.low)[c.part == "fitted"].median()
    beyond = (c.high - c.low)[c.part == "above"].max()
    assert beyond > 2 * inside


@pytest.mark.parametrize("suffix", [".html", ".md"])
def test_report_contains_the_numbers_of_the_json(tmp_path, suffix):
    ladder = two_ladders(tmp_path)
    out = tmp_path / f"report{suffix}"
    runner = CliRunner()
    r = runner.invoke(main, ["report", str(ladder), "--focus", "new", "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    data = json.loads(runner.invoke(main, ["fit", str(ladder), "--focus", "new", "--format", "json"]).stdout)
    for fam in data["families"]:
        for p in fam["parameters"].values():
            assert fmt(p["value"]) in text and fmt(p["low"]) in text and fmt(p["high"]) in text
    for m in data["multipliers"]:
        assert fmt_multiplier(m["multiplier"]) in text
        assert f"[{fmt_multiplier(m['low'])}, {fmt_multiplier(m['high'])}]" in text
    assert "scalefit report" in text and "Command: scalefit" in text and "0.1.0" in text
    for warning in data["warnings"]:
        assert warning.split(":")[0] in text
    if suffix == ".html":
        assert text.count("data:image/png;base64,") >= 3  # self-contained: figures embedded
        assert not re.search(r"src=['\"](?!data:)", text)
    else:
        for image in re.findall(r"\]\(([^)]+\.png)\)", text):
            assert (tmp_path / image).read_bytes().startswith(PNG_MAGIC)


def test_report_has_the_backtest_of_each_family(tmp_path):
    ladder = two_ladders(tmp_path)
    out = tmp_path / "report.md"
    runner = CliRunner()
    assert runner.invoke(main, ["report", str(ladder), "--focus", "new", "-o", str(out)]).exit_code == 0
    text = out.read_text()
    section = text.split("## Backtest: each family refitted without its largest-compute run(s), predicting them")[1]
    rows = [line.split(" | ") for line in section.split("\n\n")[1].splitlines()[2:]]
    data = json.loads(runner.invoke(main, ["backtest", str(ladder), "--format", "json"]).stdout)
    assert len(rows) == len(data["held_out"]) == 2            # old and new; 'big' is a reference point
    for row, held in zip(rows, data["held_out"]):
        assert row[0] == f"| {held['family']}" and row[1] == held["run"]
        assert row[4] == fmt(held["predicted"]) and row[5] == f"{held['error']:+.2%}"
        assert row[6] == f"[{fmt(held['low'])}, {fmt(held['high'])}]" and row[7] == ("yes" if held["inside"] else "no")


def test_report_has_the_shared_law_comparison_of_the_ladders(tmp_path):
    """Two ladders: the report carries `scalefit compare`'s multiplier, band and check, and its
    figure; one ladder (the demo) has neither."""
    ladder = two_ladders(tmp_path)
    out = tmp_path / "report.md"
    runner = CliRunner()
    written = runner.invoke(main, ["report", str(ladder), "--focus", "new", "-o", str(out)])
    assert written.exit_code == 0
    assert written.stderr.startswith(f"scalefit: wrote {out} and its figures ") and "report-shared.png" in written.stderr
    section = out.read_text().split("## One law for all ladders up to a compute factor each (scalefit compare)")[1]
    data = json.loads(runner.invoke(main, ["compare", str(ladder), "--focus", "new", "--format", "json"]).stdout)
    heading, note, table = section.split("\n\n")[:3]
    assert heading == "" and f"p = {data['check']['p']:.2g}" in note        # the check under the title
    (row,) = [line.split(" | ") for line in table.splitlines()[2:]]
    (other,) = data["families"]
    assert row[0] == f"| {other['family']}" and row[2] == fmt_multiplier(other["multiplier"])
    assert row[3] == f"[{fmt_multiplier(other['low'])}, {fmt_multiplier(other['high'])}] |"
    assert (tmp_path / "report-shared.png").read_bytes().startswith(b"\x89PNG")       # its figure beside it
    demo = tmp_path / "demo.md"
    assert runner.invoke(main, ["report", "data/ladders/muse.csv", "-o", str(demo)]).exit_code == 0
    assert "scalefit compare" not in demo.read_text() and not (tmp_path / "demo-shared.png").exists()


def test_bad_paths_give_one_clear_error(tmp_path):
    runner = CliRunner()
    ladder = two_ladders(tmp_path)
    cases = [
        (["plot", str(ladder), "-o", str(tmp_path / "missing" / "f.png")], "does not exist"),
        (["plot", str(ladder), "-o", str(tmp_path / "f.gif")], ".png, .svg or .pdf"),
        (["plot", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "f.png")], "no such file"),
        (["report", str(ladder), "-o", str(tmp_path / "r.txt")], ".html or .md"),
        (["report", str(ladder), "-o", str(tmp_path / "missing" / "r.html")], "does not exist"),
        (["plot", str(ladder), "--kind", "contours", "-o", str(tmp_path / "c.png")], "chinchilla"),
        (["plot", str(ladder), "--xlim", "5,1", "-o", str(tmp_path / "c.png")], "LOW must be below HIGH"),
    ]
    demo = Path(__file__).resolve().parent.parent / "data" / "ladders" / "muse.csv"
    # figures that do not apply are refused before any fitting: no fit warnings, one line only
    cases += [(["plot", str(demo), "--kind", "multiplier-curve", "-o", str(tmp_path / "m.png")], "two ladders"),
              (["plot", str(demo), "--kind", "contours", "-o", str(tmp_path / "m.png")], "chinchilla")]
    for args, fragment in cases:
        r = runner.invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        lines = [x for x in r.stderr.splitlines() if x.startswith("scalefit: error")]
        assert len(lines) == 1 and fragment in lines[0], (args, r.stderr)
        assert "Traceback" not in r.output
        if args[1] == str(demo):
            assert r.stderr.count("\n") == 1, r.stderr


def test_unwritable_output_directory_is_a_clear_error(tmp_path):
    import os
    runner = CliRunner()
    ladder = two_ladders(tmp_path)
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        if os.access(readonly, os.W_OK):  # root ignores directory permissions
            pytest.skip("running as root: cannot make an unwritable directory")
        r = runner.invoke(main, ["plot", str(ladder), "-o", str(readonly / "f.png")])
        assert r.exit_code == 2 and "not writable" in r.stderr
    finally:
        readonly.chmod(0o700)


def test_distribution_pairs_the_draws_of_one_resample_and_needs_something_to_compare(tmp_path):
    """Each bootstrap multiplier is reference / focus compute of the same resample, also when some
    refits failed (4-run ladders: resamples with under 3 distinct runs fail, at different draws
    in each family). A file with one family has nothing to show."""
    from scalefit.efficiency import compute_ratio
    from scalefit.plots import distribution_figure
    from scalefit.simulate import SimulationSpec, simulate

    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22), noise=0.01,
                          second_ladder=2.0, seed=1)
    result = analyze(simulate(spec), focus="focus", band_method="percentile", bootstrap=200)
    focus, other = result.fits["focus"].draws, result.fits["other"].draws
    assert not focus.ok.all() and not other.ok.all() and (focus.ok != other.ok).any()
    m = result.multipliers[0]
    ok = focus.ok & other.ok
    expected = compute_ratio(other.law.invert(other.params[ok], m.loss), focus.law.invert(focus.params[ok], m.loss))
    expected = np.sort(expected[np.isfinite(expected) & (expected > 0)])
    drawn = distribution_figure(result).data
    np.testing.assert_allclose(np.sort(drawn["multiplier"].to_numpy()), expected)
    # targets that agree to the 4 digits of the table still get a facet each
    close = analyze(simulate(spec), focus="focus", band_method="percentile", bootstrap=50, at_loss=[2.30001, 2.30004])
    assert distribution_figure(close).data["comparison"].nunique() == len(close.multipliers) == 3

    single = tmp_path / "one.csv"
    simulate(SimulationSpec(params=spec.params, flops=spec.flops, seed=1)).to_csv(single, index=False)
    r = CliRunner().invoke(main, ["plot", str(single), "--kind", "distribution", "-o", str(tmp_path / "d.png")])
    assert r.exit_code == 2 and "one family" in r.stderr


def test_report_of_one_family_has_no_empty_multiplier_table(tmp_path):
    from scalefit.simulate import SimulationSpec, simulate

    ladder = tmp_path / "one.csv"
    simulate(SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 6)), seed=3)).to_csv(
        ladder, index=False)
    out = tmp_path / "one.md"
    assert CliRunner().invoke(main, ["report", str(ladder), "-o", str(out)]).exit_code == 0
    text = out.read_text()
    assert "## Fitted laws" in text and "Equivalent-compute multipliers" not in text


def test_report_of_an_nd_law_has_the_allocation(tmp_path):
    from scalefit.chinchilla import ChinchillaLaw

    truth = np.array([1.7, 400.0, 2000.0, 0.34, 0.36])
    n = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    path = tmp_path / "nd.csv"
    pd.DataFrame({"family": "f", "params": n, "tokens": d,
                  "loss": ChinchillaLaw().predict_nd(truth, n, d)}).to_csv(path, index=False)
    out = tmp_path / "nd.md"
    r = CliRunner().invoke(main, ["report", str(path), "--law", "chinchilla", "--bootstrap", "0", "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "Compute-optimal allocation" in text and f"| f | {fmt(6 * (n * d).max(), 3)} | {fmt(0.36 / 0.70, 3)}" in text


RISING = """family,flops,loss
a,1e18,3.50
a,1e19,3.10
a,1e20,2.82
a,1e21,2.63
a,1e22,2.50
bad,1e18,2.9
bad,1e19,3.0
bad,1e20,3.1
bad,1e21,3.25
bad,1e22,3.3
"""


def test_a_family_whose_loss_rises_gives_no_multiplier_and_still_a_figure(tmp_path):
    """Its flat fit reaches a loss above its curve at no compute (the power of a tiny exponent
    underflows to 0): no '0x' (which reads 'the focus cannot reach it'), a warning, and figures
    and reports that are drawn (they divided by that 0). Found by a new user."""
    path = tmp_path / "rise.csv"
    path.write_text(RISING)
    result = analyze(path, focus="a")
    m = result.multipliers[0]
    assert m.reference_flops == 0 and np.isnan(m.multiplier) and not m.reachable
    assert any("needs no compute at all" in w for w in result.warnings)
    r = CliRunner().invoke(main, ["fit", str(path)])
    row = [line for line in r.stdout.splitlines() if line.strip().startswith("bad")][-1]    # the multipliers'
    assert row.split()[6] == "-" and "inf decades" not in r.stderr      # bad, largest run, loss, 0, compute, -
    for command in (["plot", str(path), "-o", str(tmp_path / "r.png")], ["report", str(path), "-o", str(tmp_path / "r.md")]):
        r = CliRunner().invoke(main, command)
        assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["compare", str(path)])
    assert "family 'bad': loss rises with compute" in r.stderr


def test_families_in_different_compute_units_are_questioned_and_drawn(tmp_path):
    """A ladder in PF-days against references in FLOPs: a multiplier near 1e21, shown as 8.9e20x (not
    21 digits), a warning that asks about the units, and a figure (labels of 21 digits had made the
    axis room diverge to 0)."""
    text = Path(ROOT / "data" / "ladders" / "muse.csv").read_text().splitlines()
    rows = [line.split(",") for line in text if line and not line.startswith("#")]
    header, body = rows[0], rows[1:]
    col = header.index("flops")
    for row in body:
        if row[0] == "muse":
            row[col] = repr(float(row[col]) / 8.64e19)      # PF-days
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(",".join(row) for row in [header] + body) + "\n")
    r = CliRunner().invoke(main, ["fit", str(path)])
    assert r.exit_code == 0
    assert re.search(r"\s\d\.\d\de20x\s", r.stdout)
    assert "are the families' computes in the same units" in r.stderr
    r = CliRunner().invoke(main, ["plot", str(path), "-o", str(tmp_path / "m.png")])
    assert r.exit_code == 0, r.output
    # the demo's savings (3.3x to 10.3x) are not questioned
    assert "same units" not in CliRunner().invoke(main, ["fit", str(ROOT / "data" / "ladders" / "muse.csv")]).stderr


def test_a_focus_that_needs_more_compute_than_a_reference_has_its_arrow_on_the_axis(tmp_path):
    """0.11x: the focus reaches the reference's loss beyond both the runs and the reference; the
    compute axis ends past that point, so the arrow and the curve reaching it are drawn."""
    from scalefit.plots import _annotation_layout

    path = tmp_path / "worse.csv"
    path.write_text("family,flops,loss\n" + "".join(f"mine,{c:g},{l}\n" for c, l in
                    zip((1e18, 1e19, 1e20, 1e21, 1e22), (3.50, 3.10, 2.82, 2.63, 2.50))) + "base,1e23,2.35\n")
    result = analyze(path, focus="mine")
    m = result.multipliers[0]
    assert m.multiplier < 0.2 and m.focus_flops > m.reference_flops
    _, _, limits, _ = _annotation_layout(result, FigureOptions())
    assert limits[1] >= m.focus_flops


def test_distribution_of_ladders_with_profile_bands_says_how_to_draw_it(tmp_path):
    from scalefit.simulate import SimulationSpec, simulate

    path = tmp_path / "two.csv"
    simulate(SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22), noise=0.01,
                            second_ladder=2.0, seed=1)).to_csv(path, index=False)
    r = CliRunner().invoke(main, ["plot", str(path), "--kind", "distribution", "-o", str(tmp_path / "d.png")])
    assert r.exit_code == 2 and "--band-method percentile" in r.stderr


def test_a_legend_of_long_family_names_is_wrapped_into_columns_that_fit():
    from scalefit.plots import CHAR_WIDTH, LEGEND_KEY_WIDTH, LEGEND_TEXT_SCALE, legend_columns

    options = FigureOptions()
    assert legend_columns(["muse"], options) is None                    # plotnine's own layout
    assert legend_columns(list("abcdef"), options) is None
    names = ["c4_original / c4_val", "c4_original / paloma_ptb", "rpj / c4_val", "rpj / paloma_ptb",
             "rw_original / c4_val", "rw_original / paloma_ptb"]     # Gadre et al.'s ladders: clipped before
    columns = legend_columns(names, options)
    entry = LEGEND_KEY_WIDTH + max(map(len, names)) * CHAR_WIDTH * LEGEND_TEXT_SCALE * options.base_size
    assert 1 <= columns < len(names) and columns * entry <= options.width
    assert legend_columns(names, FigureOptions(width=20.0)) is None


def test_report_and_plot_take_the_chinchilla_options_fit_takes(tmp_path):
    path = chinchilla_ladder(tmp_path)
    r = CliRunner().invoke(main, ["report", str(path), "--law", "chinchilla", "--bootstrap", "50", "--huber-delta",
                                  "0.01", "--at-params-tokens", "1e9,2e10", "-o", str(tmp_path / "r.md")])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "r.md").read_text()
    assert "| f | size | 1.00e09 | 2.00e10 |" in text and "Huber (delta 0.01)" in text
    r = CliRunner().invoke(main, ["plot", str(path), "--law", "chinchilla", "--kind", "residuals",
                                  "--flops-per-param-token", "6", "-o", str(tmp_path / "r.png")])
    assert r.exit_code == 0, r.output


def test_compute_axis_says_flops_only_when_the_file_can_be_in_flops():
    """The demo's compute axis is in FLOPs; the same ladder in PF-days (runs of 0.1 to 100) is not
    labelled FLOPs, on every figure of a compute law."""
    def x_title(plot):
        return plot.labels.get("x") if isinstance(plot.labels, dict) else plot.labels.x

    demo = pd.read_csv(ROOT / "data" / "ladders" / "muse.csv", comment="#")
    in_flops = analyze(demo, name="muse.csv")
    in_pf_days = analyze(demo.assign(flops=demo["flops"] / 8.64e19), name="muse-pf-days.csv")
    for kind in ("multipliers", "residuals"):
        assert x_title(FIGURES[kind](in_flops)) == "training compute (FLOPs)"
        assert x_title(FIGURES[kind](in_pf_days)) == "training compute (the file's units)"


def test_a_family_fitted_with_e_fixed_says_so_in_the_legend():
    """--fix-e: the band assumes that E, so the figure's legend names it; a plain fit is its name."""
    from scalefit.laws import SaturatingLaw

    def colour_labels(plot):
        scale = next(s for s in plot.scales if {"colour", "color"} & set(s.aesthetics))
        return scale.labels

    demo = ROOT / "data" / "ladders" / "muse.csv"
    held = analyze(demo, law=SaturatingLaw().with_fixed_E(0.41))
    assert colour_labels(multiplier_figure(held)) == {"muse": "muse (E fixed at 0.41 nats)"}
    assert colour_labels(multiplier_figure(analyze(demo))) == {"muse": "muse"}


def test_figure_marks_unchecked_bands_as_the_table_does(tmp_path):
    """A band the table marks '*' (outside what the calibration study checked) is marked on the
    figure too, with the note in the caption; the demo's checked bands carry no mark."""
    from scalefit.plots import UNCHECKED_NOTE, _annotation_layout

    def caption_of(plot):
        labels = plot.labels
        return labels.get("caption") if isinstance(labels, dict) else getattr(labels, "caption", None)

    demo = pd.read_csv(ROOT / "data" / "ladders" / "muse.csv", comment="#")
    short = pd.concat([demo[demo["family"] == "muse"].head(5), demo[demo["family"] != "muse"]])
    result = analyze(short, name="muse5.csv")
    assert not any(m.band_checked for m in result.multipliers)
    arrows, _, _, keyed = _annotation_layout(result, FigureOptions())
    marks = arrows["key" if keyed else "label"]
    assert len(marks) == 3 and all(label.endswith(" *") for label in marks)
    assert caption_of(multiplier_figure(result)).splitlines()[-1] == UNCHECKED_NOTE
    checked = analyze(demo, name="muse.csv")
    assert all(m.band_checked for m in checked.multipliers)
    arrows, _, _, keyed = _annotation_layout(checked, FigureOptions())
    assert not keyed and not any(label.endswith("*") for label in arrows["label"])
    assert not caption_of(multiplier_figure(checked))


def test_value_axis_is_set_by_runs_and_curves_not_by_unbounded_bands():
    """Bands may widen the value axis by a quarter of the runs' and curves' span at either end, no
    more (an unbounded band had put real ladders in the bottom tenth of a 55-nat axis); bands that
    stay within that leave the axis to plotnine."""
    from scalefit.plots import BAND_ROOM, value_limits_clipping_bands
    shown = np.array([2.7, 3.5, 7.6])
    assert value_limits_clipping_bands(shown, np.array([[2.5, 8.0]]), log_axis=False) is None
    lo, hi = value_limits_clipping_bands(shown, np.array([[2.5, 55.0], [0.1, 8.0]]), log_axis=False)
    assert lo == pytest.approx(2.7 - BAND_ROOM * 4.9) and hi == pytest.approx(7.6 + BAND_ROOM * 4.9)
    lo, hi = value_limits_clipping_bands(shown, np.array([[0.0, np.inf]]), log_axis=True)   # decades on a log axis
    room = BAND_ROOM * np.log10(7.6 / 2.7)
    assert np.log10(lo) == pytest.approx(np.log10(2.7) - room) and np.log10(hi) == pytest.approx(np.log10(7.6) + room)
    assert value_limits_clipping_bands(shown, np.array([[2.5, 8.0]]), log_axis=True) is None
    lo, hi = value_limits_clipping_bands(shown, np.array([[3.0, np.inf], [np.nan, np.nan]]), log_axis=False)
    assert lo == 2.7 and hi == pytest.approx(7.6 + BAND_ROOM * 4.9)        # never inside the runs' span


def test_profile_distribution_figure_names_the_ladder_comparisons_it_leaves_out(tmp_path):
    """With profile bands the figure draws reference points' confidence curves; a comparison with
    another ladder in the same file was left out without a word."""
    result = analyze(two_ladders(tmp_path), focus="new")
    assert {m.reference_kind for m in result.multipliers} == {"point", "ladder"}
    plot = FIGURES["distribution"](result)
    caption = plot.labels.get("caption") if isinstance(plot.labels, dict) else plot.labels.caption
    assert caption.splitlines()[1:] == ["not drawn (other ladders; band_method='percentile' draws them):",
                                        "vs old"]
    plot = FIGURES["distribution"](result, options=FigureOptions(flags=True))      # as `scalefit plot` draws it
    caption = plot.labels.get("caption") if isinstance(plot.labels, dict) else plot.labels.caption
    assert caption.splitlines()[1] == "not drawn (other ladders; --band-method percentile draws them):"


def test_residual_panels_follow_the_file_and_leave_room_for_long_names():
    from scalefit.plots import natural_height, residual_columns
    options = FigureOptions()
    assert residual_columns(["a", "b"], options) == 2 and residual_columns(list("abcde"), options) == 3
    long_names = [f"RedPajama, {k} tokens/param" for k in (5, 10, 160, 320)]
    assert residual_columns(long_names, options) == 2                  # 27 characters fit in half of 3.4 in
    assert residual_columns([f"{name}, C4 validation" for name in long_names], options) == 1
    rows = []
    for k, name in enumerate(["zeta", "alpha"]):          # not in alphabetical order
        rows += [(name, c, 1.8 + 300 * (c * (k + 1)) ** -0.15) for c in FLOPS_7]
    result = analyze(pd.DataFrame(rows, columns=["family", "flops", "loss"]), name="order.csv")
    plot = FIGURES["residuals"](result)
    assert list(plot.data["family"].cat.categories) == ["zeta", "alpha"]
    assert natural_height("residuals", result, 2.6) == 2.6


FLOPS_7 = np.geomspace(1e18, 1e21, 7)


def test_multiplier_curve_panels_say_what_the_focus_is_compared_with(tmp_path):
    result = analyze(two_ladders(tmp_path), focus="new", bootstrap=0)
    plot = FIGURES["multiplier-curve"](result)
    assert list(plot.data["reference"].cat.categories) == ["vs old"]


def test_l_nd_multipliers_figure_says_its_curve_is_the_compute_optimal_frontier(tmp_path):
    from scalefit.plots import FRONTIER_NOTE, caption_line_count
    result = analyze(chinchilla_ladder(tmp_path), law="chinchilla", bootstrap=50)
    plot = multiplier_figure(result)
    caption = plot.labels.get("caption") if isinstance(plot.labels, dict) else plot.labels.caption
    assert caption.splitlines()[-1] == FRONTIER_NOTE
    assert caption_line_count(result) == len(caption.splitlines())


def test_contours_label_each_loss_line_and_each_budget_once(tmp_path):
    result = analyze(chinchilla_ladder(tmp_path), law="chinchilla", bootstrap=50)
    plot = FIGURES["contours"](result)
    texts = [layer._data for layer in plot.layers if type(layer.geom).__name__ == "geom_text"]
    lines = [layer._data for layer in plot.layers if type(layer.geom).__name__ == "geom_line"]
    iso = next(layer._data for layer in plot.layers if type(layer.geom).__name__ == "geom_path")
    losses, budgets = texts[0], pd.concat(texts[1:])
    assert sorted(losses["level"]) == sorted(lines[0]["level"].unique())          # each contour once
    assert sorted(budgets["budget"]) == sorted(iso["budget"].unique())            # each IsoFLOP line once
    assert all("e+" not in b for b in budgets["budget"])


def test_prediction_markers_are_explained_in_the_caption():
    """In the caller's terms: Python's figure said 'predictions at --at-flops', a flag it never gave."""
    result = analyze(ROOT / "data" / "ladders" / "muse.csv", at_flops=[1e23])
    for options, note in ((FigureOptions(), "filled markers: predictions at at_flops, with their bands"),
                          (FigureOptions(flags=True), "filled markers: predictions at --at-flops, with their bands")):
        plot = multiplier_figure(result, options)
        caption = plot.labels.get("caption") if isinstance(plot.labels, dict) else plot.labels.caption
        assert caption.splitlines()[-1] == note


def test_multipliers_figure_keeps_an_unbounded_band_from_setting_the_value_axis():
    """A 4-run family scattering 8% has a band that runs off to 0 and beyond the runs; the axis is
    set by what the compute axis shows, and the legend lists families in the file's order."""
    from scalefit.plots import BAND_ROOM
    rng = np.random.default_rng(0)
    rows = [("zeta", c, 1.8 + 300 * c ** -0.15 * np.exp(rng.normal(0, 0.003))) for c in FLOPS_7]
    rows += [("alpha", c, (1.8 + 300 * c ** -0.15) * np.exp(rng.normal(0, 0.08))) for c in np.geomspace(1e18, 1e19, 4)]
    result = analyze(pd.DataFrame(rows, columns=["family", "flops", "loss"]), focus="zeta", name="wide.csv")
    plot = multiplier_figure(result)
    from scalefit.plots import curve_frame
    low, high = plot.coordinates.limits.y
    losses = np.array([loss for _, _, loss in rows])
    bands = curve_frame(result)
    assert bands["low"].min() < low <= losses.min() and losses.max() <= high < bands["high"].max()   # cut
    curves = bands["loss"].to_numpy()
    span = curves.max() - curves.min()
    assert curves.min() - BAND_ROOM * span <= low and high <= curves.max() + BAND_ROOM * span
    assert next(s for s in plot.scales if {"colour", "color"} & set(s.aesthetics)).breaks == ["zeta", "alpha"]


def test_a_long_title_is_wrapped_to_the_figure_width(tmp_path):
    """Found by a new user: plotnine cut a long --title off at both edges; it is broken into lines
    that fit the width (capitals counted wider, review), line breaks given are kept, and a short
    title is left alone. The figure's title is the wrapped one."""
    from scalefit.plots import AXIS_MARGIN, TITLE_TEXT_SCALE, text_width, wrapped_title

    for title in ("muse vs reference models (reconstruction), held-out code perplexity on the evaluation set",
                  "MUSE VS REFERENCE MODELS WITH MOMENTUM WARMUP ON HELD-OUT CODE SET"):
        options = FigureOptions(title=title)
        lines = wrapped_title(options).split("\n")
        assert len(lines) >= 2 and " ".join(lines) == title
        assert max(text_width(line, TITLE_TEXT_SCALE * options.base_size) for line in lines) \
            <= options.width - AXIS_MARGIN
    assert wrapped_title(FigureOptions(title="muse")) == "muse"
    demo = "muse vs reference models (reconstruction)"          # the README's figure: one line
    assert wrapped_title(FigureOptions(title=demo)) == demo
    assert wrapped_title(FigureOptions(title="muse\nvs three models")) == "muse\nvs three models"
    assert len(wrapped_title(FigureOptions(title="/a/path/without/spaces" * 8)).split("\n")) >= 2
    result = analyze(ROOT / "data" / "ladders" / "muse.csv")
    options = FigureOptions(title=title)
    assert multiplier_figure(result, options).labels.get("title", None) == wrapped_title(options)


def test_the_report_lists_the_shared_law_comparisons_own_warnings():
    """Found by a new user: the report's Warnings section left out what the shared-law comparison
    warned of (that the data contradict the shared law); now listed, marked as the comparison's."""
    from scalefit.report import render_report

    flops = np.geomspace(1e19, 1e22, 6)
    rows = [("a", c, 1.8 + 1e3 * c ** -0.15) for c in flops] + [("b", c, 1.5 + 3e4 * c ** -0.25) for c in flops]
    noise = np.exp(np.random.default_rng(0).normal(0, 0.002, len(rows)))
    frame = pd.DataFrame(rows, columns=["family", "flops", "loss"]).assign(loss=lambda d: d.loss * noise)
    result = analyze(frame, bootstrap=0)
    text, _ = render_report(result, markdown=True)
    warnings = text.split("## Warnings", 1)[1]
    assert "- shared-law comparison: the data contradict the shared law" in warnings
    for w in result.warnings:
        assert w.replace("'", "&#x27;") in warnings or w in warnings


def test_the_reports_shared_law_table_marks_unchecked_bands_and_says_each_warning_once():
    """Found by review: the report's shared-law table dropped compare's '*' and its legend, and a
    comparison whose check was not run had its warnings both under the table and in Warnings."""
    from scalefit.report import render_report

    flops = np.geomspace(1e19, 1e22, 6)
    rows = [("a", c, 1.8 + 1e3 * c ** -0.15) for c in flops] + [("b", c, 1.8 + 1e3 * (c / 2) ** -0.15)
                                                                for c in flops[[0, 1, 1, 3]]]
    noise = np.exp(np.random.default_rng(0).normal(0, 0.01, len(rows)))
    frame = pd.DataFrame(rows, columns=["family", "flops", "loss"]).assign(loss=lambda d: d.loss * noise)
    text, _ = render_report(analyze(frame, bootstrap=0), markdown=True)
    shared = text.split("One law for all ladders")[1].split("##")[0]
    # Markdown shows '\*' as '*' (a '*' opening a line would make it a bullet)
    assert "] \\* |" in shared and "\\* marks a band outside what the calibration study checked" in shared
    note = "a vs b: the band was not checked by the calibration study (analyses/shared_calibration.py)"
    assert text.count(note) == 1
    a = frame[frame.family == "a"]
    slipped = pd.concat([a, a.assign(family="b", flops=a.flops * 1e14, loss=a.loss * 1.001)])
    text, _ = render_report(analyze(slipped, bootstrap=0), markdown=True)     # compare's factor at its limit
    assert "the check against separate laws was not run" in text.split("One law for all ladders")[1].split("##")[0]
    assert text.count("reached the search limit") == 1


def test_dense_runs_are_drawn_small_and_unfilled_so_families_show_through_each_other():
    """Found by a new user: three training sets' 104 runs at the same sizes showed as two families,
    the last drawn covering the others with white-filled markers."""
    from scalefit.plots import DENSE_RUNS, run_markers

    def run_layer(plot, families):    # the first points drawn are the ladders' runs, sized by their family
        layer = next(l for l in plot.layers if type(l.geom).__name__ == "geom_point")
        sizes = marker_sizes(plot, families)
        assert len(set(sizes.values())) == 1             # no star among them
        return {**layer.geom.aes_params, "size": next(iter(sizes.values()))}

    demo = run_layer(multiplier_figure(analyze(ROOT / "data" / "ladders" / "muse.csv")), ["muse"])
    assert (demo["fill"], demo["size"]) == ("white", 1.5)
    flops = np.geomspace(1e19, 1e22, 15)
    rows = [(f, c, 1.8 + 1e3 * (c / m) ** -0.15) for f, m in (("a", 1), ("b", 1.01), ("c", 1.02)) for c in flops]
    dense = run_layer(multiplier_figure(analyze(pd.DataFrame(rows, columns=["family", "flops", "loss"]), bootstrap=0)),
                      ["a", "b", "c"])
    assert 3 * len(flops) > DENSE_RUNS and dense == {**dense, **run_markers(3 * len(flops), 1.5)}
    assert dense["fill"] == "none" and dense["size"] < 1.5


def marker_sizes(plot, families: list[str]) -> dict[str, float]:
    """Each family's marker size in a figure: the size scale its runs' markers map the family to."""
    scale = next(s for s in plot.scales if "size" in s.aesthetics)
    sizes = scale.palette(len(families))        # the manual scale's family -> size (map() of the untrained
    return {family: sizes[family] for family in families}   # scale warned that it had too few values)


def long_ladder(tmp_path, runs: int = 60) -> Path:
    """Two families of ``runs`` runs each, and a reference point."""
    rng = np.random.default_rng(8)
    flops = np.geomspace(1e18, 1e21, runs)
    rows = []
    for family, factor in (("old", 1.0), ("new", 3.0)):
        loss = (1.8 + 300 * (flops * factor) ** -0.15) * np.exp(rng.normal(0, 0.01, runs))
        rows += [(family, c, l) for c, l in zip(flops, loss)]
    rows.append(("big", 1e23, 1.8 + 300 * (1e23 / 5) ** -0.15))
    path = tmp_path / "long.csv"
    pd.DataFrame(rows, columns=["family", "flops", "loss"]).to_csv(path, index=False)
    return path


def test_long_ladders_bands_are_computed_at_a_few_points_and_follow_the_exact_band(tmp_path, monkeypatch):
    """Found by a walkthrough: the figure of two 5,000-run families took 68 s after the analysis,
    without progress, computing the profile band at every 4th of the curve's 200 points (0.5 ms
    per run and point). A long ladder's band is computed at band_points points (ends only), one at
    a time with a progress step each, and interpolated as its distance from the curve."""
    import scalefit.plots as plots
    import scalefit.profile as profile

    result = analyze(long_ladder(tmp_path), focus="new")
    assert plots.band_points(150) == plots.BAND_RUN_POINTS // 150 and plots.band_points(60) is None
    assert plots.band_points(5000) == plots.FEWEST_BAND_POINTS
    monkeypatch.setattr(plots, "BAND_RUN_POINTS", 1)               # as for a 5,000-run ladder: the fewest points
    calls = []
    exact_band = profile.loss_band

    def counted(fit, flops, level, **kwargs):
        calls.append((np.size(flops), kwargs))
        return exact_band(fit, flops, level, **kwargs)

    monkeypatch.setattr(profile, "loss_band", counted)
    ticks = []
    curves = plots.curve_frame(result, progress=ticks.append)
    assert calls == [(1, {"ends_only": True})] * (2 * plots.FEWEST_BAND_POINTS)
    assert ticks == [1] * plots.band_steps(result) == [1] * len(calls)
    grid = plots._compute_grid(result)
    for family, ff in result.fits.items():
        some = grid[3::9]                   # between the band's points
        low, high = exact_band(ff.fit, some, result.level)
        drawn = curves[(curves.family == family) & curves.flops.isin(some)].drop_duplicates("flops").sort_values("flops")
        width = np.log(high / low)
        assert np.all(np.abs(np.log(drawn["low"].to_numpy() / low)) <= 0.1 * width)
        assert np.all(np.abs(np.log(drawn["high"].to_numpy() / high)) <= 0.1 * width)
        assert np.all((drawn["low"] <= drawn["loss"]) & (drawn["loss"] <= drawn["high"]))


def test_figures_and_the_report_report_each_profile_they_compute(tmp_path, monkeypatch):
    """plot and report of long ladders showed no progress while their figures computed profiles
    (68 s for the main figure of a 10k-row ladder; the report spent minutes in its figures, the
    shared comparison and the backtest): each reports as many steps as it says it will, one call
    per profile (the multiplier-curve figure: one per chunk of targets, with their number)."""
    import scalefit.plots as plots
    from scalefit.efficiency import COMPARISONS_TOGETHER
    from scalefit.plots import PROGRESS_FIGURES, draw_figure, figure_steps
    from scalefit.report import render_report, report_steps

    result = analyze(long_ladder(tmp_path), focus="new", at_loss=[2.5])
    assert figure_steps("multiplier-curve", result) == plots.CURVE_TARGETS          # 120 runs: all 24 targets
    monkeypatch.setattr(plots, "CURVE_RUN_TARGETS", 1)                              # as for 10,000 runs
    assert figure_steps("multiplier-curve", result) == plots.FEWEST_CURVE_TARGETS
    for kind in PROGRESS_FIGURES:
        ticks = []
        draw_figure(kind, result, progress=ticks.append)
        assert sum(ticks) == figure_steps(kind, result) and min(ticks, default=0) >= 1, kind
        assert len(ticks) == (-(-figure_steps(kind, result) // COMPARISONS_TOGETHER) if kind == "multiplier-curve"
                              else figure_steps(kind, result)), kind
    ticks = []
    render_report(result, progress=ticks.append)
    assert sum(ticks) == report_steps(result) and min(ticks) >= 1
    assert report_steps(result) == 1 + sum(figure_steps(kind, result) for kind in PROGRESS_FIGURES) + 2 * 2
    percentile = analyze(two_ladders(tmp_path), focus="new", band_method="percentile", bootstrap=50)
    ticks = []
    render_report(percentile, progress=ticks.append)
    assert sum(ticks) == report_steps(percentile) == 1 + 2          # shared bands; each family's resamples


def test_plot_and_report_commands_show_the_progress_of_their_profiles(tmp_path, monkeypatch, progress_bars):
    import scalefit.cli as cli

    bars = progress_bars
    monkeypatch.setattr(cli, "PROFILE_PROGRESS_RUNS", 10)           # as for a long ladder
    ladder = two_ladders(tmp_path)
    for command in (["plot", str(ladder), "-o", str(tmp_path / "f.png")],
                    ["report", str(ladder), "-o", str(tmp_path / "r.html")],
                    ["backtest", str(ladder), "--figure", str(tmp_path / "b.png")]):
        bars.clear()
        r = CliRunner().invoke(main, command)
        assert r.exit_code == 0, r.output
        shown = {label: (total, sum(ticks)) for total, label, ticks in bars}
        last = {"plot": "figure", "report": "report", "backtest": "figure"}[command[0]]
        assert shown[last][0] == shown[last][1] > 0, (command[0], shown)


def test_a_short_ladders_band_reaches_the_end_of_its_curve():
    """The band of a ladder of up to 100 runs is computed at every 8th curve point and interpolated;
    it was held constant past the last computed point (196 of 200), so the curve could leave its own
    band at the end (found by a helper). Its last point is now computed too."""
    from scalefit.plots import curve_frame
    from scalefit.profile import loss_band

    result = analyze(ROOT / "data" / "ladders" / "muse.csv")
    grid = np.geomspace(1e18, 1e25, 202)             # 202 points: the last is not a 4th
    frame = curve_frame(result, grid)
    last = frame[(frame.family == "muse") & (frame.flops == grid[-1])].iloc[0]
    low, high = loss_band(result.fits["muse"].fit, grid[-1:], result.level, ends_only=True)   # as the tables' bands
    assert last.low == pytest.approx(low[0], rel=1e-9) and last.high == pytest.approx(high[0], rel=1e-9)
    assert last.low < last.loss < last.high


@pytest.mark.parametrize("ladder", ["demo", "two", "long names"])
def test_a_short_ladders_band_follows_the_exact_band_between_its_points(tmp_path, ladder):
    """Between the points where it is computed, a figure's band is interpolated as its ends'
    distances from the fitted curve, within 1% of its width of the band computed there (measured:
    up to 0.15% on 17 ladders). Interpolated directly at every 4th point, as it was, the demo's band
    was 2.2% of its width off, and a 6-run made-up ladder's 7%."""
    from scalefit.plots import _compute_grid, curve_frame
    from scalefit.profile import loss_band

    source = {"demo": ROOT / "data" / "ladders" / "muse.csv", "two": two_ladders(tmp_path),
              "long names": long_named_ladders(3)}[ladder]
    result = analyze(source)
    grid = _compute_grid(result)
    curves = curve_frame(result, grid)
    some = grid[1::3]
    for family, ff in result.fits.items():
        low, high = loss_band(ff.fit, some, result.level, ends_only=True)
        drawn = curves[(curves.family == family) & curves.flops.isin(some)].drop_duplicates("flops").sort_values("flops")
        width = np.log(high / low)
        assert np.all(np.isfinite(width)) and len(drawn) == some.size
        assert np.all(np.abs(np.log(drawn["low"].to_numpy() / low)) <= 0.01 * width), family
        assert np.all(np.abs(np.log(drawn["high"].to_numpy() / high)) <= 0.01 * width), family


def test_the_report_of_a_checkpoint_file_says_rows_are_checkpoints_and_marks_the_backtests_bands():
    """Found by trying the report on a file of checkpoints: its Data table counted 60 rows as 60
    runs, its backtest table dropped the '*' the backtest command prints, and the backtest's own
    warnings (that runs are held out whole) were missing from Warnings."""
    from scalefit.report import render_report

    rng = np.random.default_rng(7)
    rows = [("f", f"run{s}", c, (1.8 + 1e3 * c ** -0.15) * offset * np.exp(rng.normal(0, 0.002)))
            for s, offset in enumerate(np.exp(rng.normal(0, 0.03, 5)))
            for c in 1e19 * 10 ** (0.6 * s) * 1.25 ** np.arange(4)]
    frame = pd.DataFrame(rows, columns=["family", "run", "flops", "loss"])
    text, _ = render_report(analyze(frame, bootstrap=200), markdown=True)
    assert "| f | 20 rows: checkpoints of 5 runs | ladder |" in text
    section = text.split("## Backtest: each family refitted without its largest-compute run(s) (whole, with their "
                         "checkpoints), predicting them")[1].split("##")[0]
    assert "\\* marks a band outside what the calibration study checked" in section and "] \\* |" in section
    warnings = text.split("## Warnings", 1)[1]
    assert warnings.count("backtest: family 'f': its rows are checkpoints, so each held-out run is left "
                          "out whole (4 rows of 1 run)") == 1
    assert warnings.count("rows are checkpoints of") == 1          # the file's, not restated by the backtest's refit


def _drawn_at(plot, dpi: int):
    """The drawn matplotlib figure of ``plot`` and its canvas, rendered at ``dpi`` (plotnine's
    warnings silenced)."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure = plot.draw()
        figure.set_dpi(dpi)
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
    return figure, canvas


def _texts_outside(plot, dpi: int = 300) -> list[str]:
    """The texts of a drawn figure that reach past its edges, and the labels drawn on a panel
    (geom_text) that reach past the panel's, as rendered at ``dpi``."""
    from matplotlib.text import Text

    figure, canvas = _drawn_at(plot, dpi)
    renderer = canvas.get_renderer()
    out = []
    for ax in figure.axes:
        for text in ax.texts:
            box = text.get_window_extent(renderer)
            if text.get_text() and (box.x0 < ax.bbox.x0 - 1 or box.x1 > ax.bbox.x1 + 1):
                out.append(text.get_text())
    for text in figure.findobj(Text):
        box, edge = text.get_window_extent(renderer), figure.bbox
        if text.get_visible() and text.get_text().strip() and (
                box.x0 < edge.x0 - 1 or box.x1 > edge.x1 + 1 or box.y0 < edge.y0 - 1 or box.y1 > edge.y1 + 1):
            out.append(text.get_text())
    return out


def long_named_ladders(count: int) -> pd.DataFrame:
    """``count`` 8-run ladders of one law, each 1.4 times more efficient than the one before,
    named like real recipe families (26 to 29 characters)."""
    names = ["baseline-transformer-adamw", "muP-transformer-with-qk-norm", "mixture-of-experts-8x-top2",
             "state-space-hybrid-mamba2", "linear-attention-retnet-style", "transformer-lion-optimizer",
             "transformer-sophia-optimizer"][:count]
    flops = np.geomspace(1e19, 1e22, 8)
    noise = np.exp(np.random.default_rng(3).normal(0, 0.008, (count, flops.size)))
    rows = [(name, c, (1.8 + 1000 * (c * (1 + 0.4 * i)) ** -0.15) * e)
            for i, name in enumerate(names) for c, e in zip(flops, noise[i])]
    return pd.DataFrame(rows, columns=["family", "flops", "loss"])


def test_arrow_labels_of_long_family_names_stay_on_the_figure():
    """Found by a new user: with four families of 26-29 character names the three arrow labels
    ('vs muP-transformer-with-qk-norm: 0.622x [0.0883x, 1.89x]') were placed in the plot, wider
    than its panel could hold: they ran over the value axis and off the figure's left edge. Labels
    that do not fit the axis become numbers, keyed in the caption, whose lines are wrapped to the
    figure's width (a key line ran off its right edge), and the figure grows by the wrapped lines."""
    from scalefit.plots import _annotation_layout, natural_height

    result = analyze(long_named_ladders(4))
    options = FigureOptions(height=natural_height("multipliers", result, 2.6))
    assert _annotation_layout(result, options)[3]             # keyed
    assert _texts_outside(multiplier_figure(result, options)) == []
    result = analyze(long_named_ladders(7))
    options = FigureOptions(height=natural_height("multipliers", result, 2.6))
    assert natural_height("multipliers", result, 2.6) > 2.6 + 0.16 * 6   # 6 arrows, some keyed on two lines
    assert _texts_outside(multiplier_figure(result, options)) == []
    demo = analyze(ROOT / "data" / "ladders" / "muse.csv")     # labels that fit stay in place
    assert not _annotation_layout(demo, FigureOptions())[3]
    assert _texts_outside(multiplier_figure(demo)) == []


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 64))
def test_every_family_gets_its_own_colour_and_marker(n):
    """Found by a new user: colours and markers cycled together (8 of each), so the 9th family
    was drawn exactly as the 1st, in the multipliers and shared-law figures. The first 8 pair the
    palette's colours with the markers in order, as before."""
    from scalefit.plots import OKABE_ITO, SHAPES, family_marks

    marks = [family_marks(i) for i in range(n)]
    assert len(set(marks)) == n
    assert marks[:8] == list(zip(OKABE_ITO, SHAPES))[:n]


def _contrast_with_white(colour: str) -> float:
    """WCAG contrast ratio (L_white + 0.05) / (L + 0.05), L the relative luminance."""
    rgb = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return 1.05 / (linear @ [0.2126, 0.7152, 0.0722] + 0.05)


def test_no_family_is_drawn_in_a_colour_faint_on_white():
    """Found by review: the 7th family was drawn in Okabe-Ito yellow (#F0E442), 1.3:1 against the
    white panel, so its curve, band and open markers all but vanished. Yellow now comes last (the
    8th family) and darkened; every family's colour stands out at least 2:1, as the orange and the
    sky blue (2.3:1) do, and the first six, which the demo figure uses, are as before."""
    from scalefit.plots import family_marks

    colours = {family_marks(i)[0] for i in range(64)}
    assert len(colours) == 8 and min(map(_contrast_with_white, colours)) >= 2.0
    assert [family_marks(i)[0] for i in range(6)] == ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                                                       "#56B4E9"]


def test_nine_ladders_are_told_apart_in_the_figures():
    from scalefit.plots import _styles

    flops = np.geomspace(1e19, 1e22, 6)
    rows = [(name, c, 1.8 + 1000 * (c * (1 + 0.3 * i)) ** -0.15) for i, name in enumerate("ABCDEFGHI")
            for c in flops]
    frame = pd.DataFrame(rows, columns=["family", "flops", "loss"])
    styles = _styles(analyze(frame, focus="A", bootstrap=0))
    assert len({(colour, shape) for colour, shape, _ in styles.values()}) == 9


def test_nine_ladders_are_told_apart_in_the_backtest_figure():
    """Found by review: the backtest figure's markers told fitted from held-out runs, so its
    families differed by colour alone and the 9th of 9 ladders was drawn exactly as the 1st. Its
    families now have the other figures' colour and marker (family_marks); fitted runs are open
    and held-out runs filled in their family's colour."""
    import warnings

    import matplotlib.pyplot as plt
    from scalefit.backtesting import backtest
    from scalefit.plots import backtest_figure, family_marks

    flops = np.geomspace(1e19, 1e22, 8)
    rows = [(name, c, 1.8 + 1000 * (c * (1 + 0.3 * i)) ** -0.15) for i, name in enumerate("ABCDEFGHI")
            for c in flops]
    plot = backtest_figure(backtest(pd.DataFrame(rows, columns=["family", "flops", "loss"]), hold_out=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plt.close(plot.draw())                                  # maps the points' aesthetics
    points = pd.concat([layer.data for layer in plot.layers if type(layer.geom).__name__ == "geom_point"][:2])
    assert set(zip(points["color"], points["shape"])) == {family_marks(i) for i in range(9)}   # fitted, held out
    held = points["fill"] != "white"
    assert held.sum() == 9 * 2 and (points["fill"][held] == points["color"][held]).all()


def test_keyed_numbers_are_neither_side_by_side_nor_on_top_of_each_other():
    """Found by a new user: of seven or nine ladders ending at one compute, keyed numbers were set
    side by side ('5' and '6' read as '56') or on top of each other ('4' over '5'): placed numbers
    were kept clear of by their anchor point only. As drawn, two numbers less than half a line
    apart in height are half a line apart in width."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from scalefit.plots import natural_height

    flops = np.geomspace(1e19, 1e22, 8)
    noise = np.exp(np.random.default_rng(3).normal(0, 0.008, (9, flops.size)))
    nine = pd.DataFrame([(name, c, (1.8 + 1000 * (c * (1 + 0.3 * i)) ** -0.15) * e)
                         for i, name in enumerate("ABCDEFGHI") for c, e in zip(flops, noise[i])],
                        columns=["family", "flops", "loss"])
    for frame in (long_named_ladders(7), nine):
        result = analyze(frame)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            figure = multiplier_figure(result, FigureOptions(height=natural_height("multipliers", result, 2.6))).draw()
            figure.set_dpi(300)
            canvas = FigureCanvasAgg(figure)
            canvas.draw()
        boxes = [t.get_window_extent(canvas.get_renderer()) for ax in figure.axes for t in ax.texts
                 if t.get_text().isdigit()]
        assert len(boxes) == len(frame["family"].unique()) - 1
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                line = a.height
                assert abs((a.y0 + a.y1) - (b.y0 + b.y1)) / 2 >= line / 2 or max(a.x0, b.x0) - min(a.x1, b.x1) >= line / 2


def test_a_tall_legend_makes_the_figure_taller_not_its_panel_shorter(tmp_path):
    """Found by a new user: the backtest figure of seven families with long names (one legend row
    each) kept its 2.6 inches, leaving 0.8 inches of panel and its value axis's title cut off at the
    top. The backtest and multipliers figures grow by a row of legend per row beyond the first."""
    import struct
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from scalefit.backtesting import backtest
    from scalefit.plots import (COLUMN_SIZE, KEY_LINE_HEIGHT, LEGEND_ROW_HEIGHT, backtest_figure, backtest_height,
                                natural_height)

    frame = long_named_ladders(7)
    bt = backtest(frame, hold_out=2)
    options = FigureOptions(height=backtest_height(bt))
    assert options.height >= COLUMN_SIZE[1] + 6 * 0.15
    plot = backtest_figure(bt, options)
    assert _texts_outside(plot) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure = plot.draw()
        FigureCanvasAgg(figure).draw()
    assert figure.axes[0].bbox.height / figure.dpi > 1.4
    path = tmp_path / "seven.csv"
    frame.to_csv(path, index=False)
    r = CliRunner().invoke(main, ["backtest", str(path), "--hold-out", "2", "--figure", str(tmp_path / "bt.png")])
    assert r.exit_code == 0, r.output
    width, height = struct.unpack(">II", (tmp_path / "bt.png").read_bytes()[16:24])
    assert (width, height) == (round(300 * COLUMN_SIZE[0]), round(300 * options.height))
    assert backtest_height(backtest(two_ladders(tmp_path))) == COLUMN_SIZE[1]      # short names: as before
    four = analyze(frame[frame["family"].isin(frame["family"].unique()[:4])])
    assert natural_height("multipliers", four, 2.6) >= 2.6 + 3 * LEGEND_ROW_HEIGHT + 3 * KEY_LINE_HEIGHT  # and a key


def test_fitted_curves_are_drawn_over_dense_runs():
    """Found by a new user: when a family has more than DENSE_RUNS runs (240 Chinchilla runs, two
    ladders of 120) its markers covered its fitted curve, which was drawn first and in the same
    colour. Such runs are faint and the curves are drawn again over them, in the multipliers and
    shared-law figures; short ladders' figures are as before, also when seven of 8 runs each make
    a dense panel (their curves show between the runs)."""
    from scalefit.plots import DENSE_RUNS, shared_figure
    from scalefit.shared import compare_shared

    def kinds(plot):
        return [type(layer.geom).__name__ for layer in plot.layers]

    flops = np.geomspace(1e18, 1e22, 50)
    rows = [(f, c, 1.8 + 1e3 * (c / m) ** -0.15) for f, m in (("a", 1), ("b", 1.5)) for c in flops]
    frame = pd.DataFrame(rows, columns=["family", "flops", "loss"])
    assert len(flops) > DENSE_RUNS
    for plot in (multiplier_figure(analyze(frame, bootstrap=0)), shared_figure(compare_shared(frame))):
        layers = kinds(plot)
        runs = layers.index("geom_point")
        assert "geom_line" in layers[runs + 1:]
        assert plot.layers[runs].geom.aes_params["alpha"] < 1
    for result in (analyze(ROOT / "data" / "ladders" / "muse.csv"), analyze(long_named_ladders(7), bootstrap=0)):
        plot = multiplier_figure(result)
        layers = kinds(plot)
        assert "geom_line" not in layers[layers.index("geom_point") + 1:]
        assert "alpha" not in plot.layers[layers.index("geom_point")].geom.aes_params


def test_a_family_of_checkpoints_says_in_the_legend_that_its_band_is_too_narrow():
    """Found by a new user: a family whose rows are checkpoints (a run's name at several computes)
    is fitted row by row, so its profile band is too narrow (the warning says so, the table marks
    it *), yet the figure drew that band like any other. The legend says so, in the multipliers and
    backtest figures; with percentile bands (whole runs resampled) it does not."""
    from scalefit.backtesting import backtest
    from scalefit.plots import backtest_figure

    def colour_labels(plot):
        scale = next(s for s in plot.scales if {"colour", "color"} & set(s.aesthetics))
        return scale.labels

    rng = np.random.default_rng(2)
    rows = []
    for r, final in enumerate(np.geomspace(1e19, 1e21, 5)):
        offset = rng.normal(0, 0.02)
        rows += [("ck", f"run{r}", c, (1.8 + 1e3 * c ** -0.15) * np.exp(offset + rng.normal(0, 0.002)))
                 for c in np.geomspace(final / 10, final, 6)]
    rows += [("plain", f"p{i}", c, 1.8 + 1e3 * (2 * c) ** -0.15) for i, c in enumerate(np.geomspace(1e19, 1e22, 8))]
    frame = pd.DataFrame(rows, columns=["family", "run", "flops", "loss"])
    narrow = {"ck": "ck (checkpoints as runs: band too narrow)", "plain": "plain"}
    assert colour_labels(multiplier_figure(analyze(frame, band_method="profile"))) == narrow
    assert colour_labels(backtest_figure(backtest(frame, band_method="profile"))) == narrow
    resampled = analyze(frame, bootstrap=100)        # the default for checkpoints: whole runs resampled
    assert resampled.band_method == "percentile"
    assert colour_labels(multiplier_figure(resampled)) == {"ck": "ck", "plain": "plain"}


def test_isoflop_lines_are_white_over_the_dark_half_of_the_contours():
    """Found by a new user: the contours figure's IsoFLOP lines were dark grey dots, which vanished
    on the dark half of viridis, where the largest budgets of the Chinchilla runs lie. Each line
    is white over the dark half and dark grey over the light half, its pieces meeting; every
    budget still has its line."""
    from scalefit.plots import ON_DARK, ON_LIGHT, _shaded_segments

    n = np.geomspace(1e7, 1e10, 9)
    lines = pd.concat([pd.DataFrame({"params": n, "tokens": 1e20 / (6 * n), "budget": "1e20"}),
                       pd.DataFrame({"params": n, "tokens": 1e22 / (6 * n), "budget": "1e22"})], ignore_index=True)
    dark = np.r_[[False] * 3 + [True] * 3 + [False] * 3, [True] * 9]
    shaded = _shaded_segments(lines, dark)
    assert set(shaded["budget"]) == {"1e20", "1e22"}
    pieces = [(g["budget"].iloc[0], g["shade"].iloc[0], len(g)) for _, g in shaded.groupby("segment", sort=True)]
    assert pieces == [("1e20", ON_LIGHT, 4), ("1e20", ON_DARK, 4), ("1e20", ON_LIGHT, 3), ("1e22", ON_DARK, 9)]
    assert shaded.groupby("segment")["shade"].nunique().eq(1).all()


def test_contours_draw_isoflop_lines_in_the_colour_of_their_background(tmp_path):
    result = analyze(chinchilla_ladder(tmp_path), law="chinchilla", bootstrap=0)
    plot = FIGURES["contours"](result)
    iso = next(layer._data for layer in plot.layers if type(layer.geom).__name__ == "geom_path")
    fit = result.fits["f"].fit
    loss = fit.law.predict_nd(fit.params, iso["params"].to_numpy(), iso["tokens"].to_numpy())
    grid = plot.data["loss"]
    middle = grid.min() + 0.5 * (grid.max() - grid.min())
    first = iso.groupby("segment").head(1)                 # each piece's colour is that of its first point
    assert ((loss[first.index] < middle) == (first["shade"] == "#FFFFFF")).all()
    assert len(set(iso["shade"])) == 2


def test_a_percentile_curve_band_is_the_band_the_table_prints(tmp_path):
    """Found by a new user: with --band-method percentile the figure's band took interpolated
    percentiles of the draws, the tables the order statistics at or beyond them, so the band drawn
    was narrower than the band printed (the upper end at 1e23 of a 400-draw band: 2.2729 drawn,
    2.2792 printed). At the compute of each prediction the curve's band is the printed one."""
    from scalefit.plots import curve_frame

    at = [1e20, 1e23]
    result = analyze(two_ladders(tmp_path), focus="new", band_method="percentile", bootstrap=400, at_flops=at)
    curves = curve_frame(result, np.array(at))
    for p in result.predictions:
        row = curves[(curves["family"] == p.family) & (curves["flops"] == p.flops)].iloc[0]
        assert (row["low"], row["high"]) == pytest.approx((p.low, p.high), rel=1e-12)


def test_a_height_too_small_for_the_figure_is_warned_about(tmp_path):
    """Found by a new user: `scalefit plot --width 2 --height 1.5` of the demo drew its key under a
    panel a third of an inch high, cutting the axis title, without a word. A height below what
    the figure needs (natural_height with SMALLEST_PANEL_HEIGHT for the panel) warns once, in the
    command's flags or Python's terms; the natural height and a height that fits do not."""
    from scalefit.plots import SMALLEST_PANEL_HEIGHT, natural_height

    demo = ROOT / "data" / "ladders" / "muse.csv"
    result = analyze(demo)
    needed = natural_height("multipliers", result, SMALLEST_PANEL_HEIGHT, 2.0, flags=True)
    assert 2.0 < needed < 3.0                          # the key of three numbered comparisons takes ~1 in
    out = tmp_path / "small.png"
    squeezed = CliRunner().invoke(main, ["plot", str(demo), "--width", "2", "--height", "1.5", "-o", str(out)])
    said = [line for line in squeezed.stderr.splitlines() if "--height 1.5" in line]
    assert squeezed.exit_code == 0 and len(said) == 1, squeezed.stderr
    least = math.ceil(needed * 10 - 1e-9) / 10                     # the advice, rounded up to a tenth
    assert said[0].startswith("scalefit: warning: ") and said[0].endswith(f"give at least {least:g}")
    for height in ([], ["--height", f"{least:g}"]):                # following the advice: no warning
        fits = CliRunner().invoke(main, ["plot", str(demo), "--width", "2", *height, "-o", str(out)])
        assert fits.exit_code == 0 and "figure of this analysis" not in fits.stderr, fits.stderr
    with pytest.warns(UserWarning, match=r"^height 1\.5: the multipliers figure"):
        FIGURES["multipliers"](result, FigureOptions(width=2.0, height=1.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FIGURES["multipliers"](result, FigureOptions(width=2.0, height=needed))


def test_the_multiplier_curve_over_a_wide_range_of_perplexity_is_drawn_on_a_log_axis(tmp_path):
    """Found by a new user: the multiplier-curve of a ladder from perplexity 300 down to 11 put
    perplexity on a linear axis, squeezing the low end (the largest runs, where claims are made)
    into a fifth of the panel, while the multipliers figure of the same file used a log axis. Both
    now use one rule (spans more than LOG_VALUE_RATIO); a narrow ladder's curve stays linear."""
    import plotnine

    flops = np.geomspace(1e16, 1e22, 7)
    rows = [(f, c, float(np.exp(2.0 + 2e4 * c ** -0.25)) * s) for f, s in (("a", 1.0), ("b", 1.05)) for c in flops]
    wide = analyze(pd.DataFrame(rows, columns=["family", "flops", "perplexity"]), focus="a", bootstrap=0)
    plot = FIGURES["multiplier-curve"](wide, points=6)
    assert plot.data["value"].max() > 5 * plot.data["value"].min()          # 8 to 55
    assert any(isinstance(scale, plotnine.scales.scale_x_log10) for scale in plot.scales)
    save_figure(plot, str(tmp_path / "wide.png"))
    narrow = FIGURES["multiplier-curve"](analyze(two_ladders(tmp_path), focus="new", bootstrap=0), points=6)
    assert not any(isinstance(scale, plotnine.scales.scale_x_log10) for scale in narrow.scales)


def test_multiplier_curve_draws_unbounded_bands_to_the_edge_and_dashes_extrapolation(tmp_path):
    """Found by a new user: for two ladders 5 decades of compute apart, whose losses do not
    overlap, the multiplier-curve figure dropped the band wherever one end was unbounded (0x or
    inf), so the curve looked most certain where the table printed [0x, 7458x], and drew the
    curve solid though every point inverts one fit outside its runs. Unbounded ends now run past
    the value axis and such a curve is dashed, labelled 'extrapolated'; overlapping ladders'
    figures are as before."""
    rng = np.random.default_rng(3)
    rows = [(f, c, (1.8 + 1e3 * (c / m) ** -0.15) * np.exp(rng.normal(0, 0.008)))
            for f, m, flops in (("small", 1, np.geomspace(1e15, 1e17, 6)), ("large", 3, np.geomspace(1e22, 1e24, 6)))
            for c in flops]
    result = analyze(pd.DataFrame(rows, columns=["family", "flops", "loss"]), focus="small")
    m = next(m for m in result.multipliers if m.reference == "large")
    assert m.low == 0                                                  # the table's band is open below
    plot = FIGURES["multiplier-curve"](result, points=12)
    frame = plot.data
    assert (frame["part"] == "extrapolated").all()
    assert any(type(layer.geom).__name__ == "geom_line" and "linetype" in layer.mapping for layer in plot.layers)
    ylim = plot.coordinates.limits.y
    assert frame[["low", "high"]].notna().all().all()                  # a ribbon at every target
    assert (frame["low"] < ylim[0]).any()                              # open ends run past the axis
    assert ylim[0] <= frame["multiplier"].min() and frame["multiplier"].max() <= ylim[1]
    overlapping = FIGURES["multiplier-curve"](analyze(two_ladders(tmp_path), focus="new"), points=8)
    assert (overlapping.data["part"] == "fitted range").all()
    assert not any("linetype" in layer.mapping for layer in overlapping.layers)


def test_the_shared_law_figure_of_long_family_names_keeps_its_legend_on_the_figure(tmp_path):
    """Found by a new user: `scalefit compare --figure` of seven families with long names laid the
    legend out in one block wider than the figure: names were cut off at both edges and the 7th
    left out. The legend is set in columns that fit, and the figure grows by its extra rows."""
    import struct

    from scalefit.plots import COLUMN_SIZE, shared_figure, shared_height
    from scalefit.shared import compare_shared

    frame = long_named_ladders(7)
    cmp = compare_shared(frame)
    options = FigureOptions(height=shared_height(cmp))
    assert options.height > COLUMN_SIZE[1]
    assert _texts_outside(shared_figure(cmp, options)) == []
    assert _texts_outside(shared_figure(cmp)) == []                  # its own size: two columns wide
    path = tmp_path / "seven.csv"
    frame.to_csv(path, index=False)
    r = CliRunner().invoke(main, ["compare", str(path), "--figure", str(tmp_path / "cmp.png")])
    assert r.exit_code == 0, r.output
    wide = 2 * COLUMN_SIZE[0]            # two panels: as shared_figure(cmp) draws it from Python
    assert struct.unpack(">II", (tmp_path / "cmp.png").read_bytes()[16:24]) == \
        (round(300 * wide), round(300 * shared_height(cmp, width=wide)))
    small = compare_shared(two_ladders(tmp_path))
    assert _texts_outside(shared_figure(small, FigureOptions(height=shared_height(small)))) == []


def test_the_multiplier_curves_band_is_smooth_where_the_loss_nears_the_floor():
    """Found by a new user: on the Gadre et al. ladders the multiplier-curve band had corners at the
    low-loss end, where the band changes fastest and evenly spaced target losses left it a few
    straight pieces. The targets are now evenly spaced in the focus's log compute: drawn as the
    figure draws them (straight between targets), the band is within 1% of its width of the band
    computed at 97 losses (2.2% with evenly spaced losses, on this ladder: 6 runs, 3 decades)."""
    from scalefit.efficiency import Comparison, multipliers_of
    from scalefit.simulate import SimulationSpec, simulate

    frame = simulate(SimulationSpec(params=(2.0, 3000.0, 0.2), flops=tuple(np.geomspace(1e17, 1e20, 6)), noise=0.01,
                                    second_ladder=1.5, seed=0))
    result = analyze(frame, focus="focus")
    drawn = FIGURES["multiplier-curve"](result).data
    losses = np.linspace(drawn["value"].min(), drawn["value"].max(), 97)
    exact = multipliers_of(result.fits["focus"].fit, None, [Comparison("other", float(x), "curve",
                                                                       reference_fit=result.fits["other"].fit)
                                                            for x in losses], result.level)
    ends = np.log([[m.low, m.high] for m in exact])
    between = np.column_stack([np.interp(losses, drawn["value"], np.log(drawn[end])) for end in ("low", "high")])
    assert np.max(np.abs(between - ends) / np.ptp(ends, axis=1, keepdims=True)) < 0.01


def test_the_multiplier_curves_targets_span_the_losses_even_where_the_focus_cannot_reach_the_low_end():
    """Found by review (untested): where the focus's fit cannot reach the lowest target (it lies
    below the focus's floor E, when the two ladders' losses do not overlap), its compute there is
    inf and the targets fall back to evenly spaced losses, not NaN ones; otherwise the ends are the
    range's ends exactly."""
    from scalefit.plots import curve_target_losses

    flops = np.geomspace(1e18, 1e21, 7)
    frame = pd.DataFrame([("focus", c, 2.6 + 300 * (3 * c) ** -0.15) for c in flops]
                         + [("other", c, 1.8 + 300 * c ** -0.2) for c in flops * 100], columns=["family", "flops", "loss"])
    fit = analyze(frame, focus="focus", bootstrap=0).fits["focus"].fit
    low, high = float(frame["loss"].min()), float(frame["loss"].max())
    assert np.isinf(fit.invert(low))
    assert curve_target_losses(fit, low, high, 6).tolist() == np.linspace(low, high, 6).tolist()
    low = float(fit.loss.min())
    targets = curve_target_losses(fit, low, high, 6)
    assert targets[0] == low and targets[-1] == high and np.all(np.diff(targets) > 0)


def test_multiplier_curve_panels_of_long_names_neither_overlap_nor_leave_the_figure():
    """Found by a new user: the multiplier-curve figure of four families with long names set its
    three panels side by side, their titles ('vs muP-transformer-with-qk-norm') running into each
    other, and its value axis's title ("baseline-transformer-adamw's compute multiplier") off the
    figure at both ends. Panels are stacked when their titles need it (as the residuals figure's),
    the figure grows for them, and the axis title is broken into lines that fit."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from scalefit.plots import natural_height

    result = analyze(long_named_ladders(4), bootstrap=0)
    options = FigureOptions(height=natural_height("multiplier-curve", result, 2.6))
    assert options.height > 2.6
    plot = FIGURES["multiplier-curve"](result, options, points=8)
    assert _texts_outside(plot) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure = plot.draw()
        figure.set_dpi(300)
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
    from matplotlib.text import Text
    strips = {t.get_text(): t for t in figure.findobj(Text) if t.get_text().startswith("vs ")}.values()
    titles = [t.get_window_extent(canvas.get_renderer()) for t in strips]
    assert len(titles) == 3
    for i, a in enumerate(titles):
        assert all(not a.overlaps(b) for b in titles[i + 1:])


def test_the_shared_law_figure_gives_each_familys_factor_as_the_table_prints_it(tmp_path):
    """Found by a new user: the shared-law figure's right panel divides each family's compute by
    its factor M, but the figure gave no M: a reader had to find the table. The legend names each
    family's M and band as `compare` prints them, and the focus as the focus."""
    from scalefit.plots import shared_figure
    from scalefit.shared import compare_shared

    cmp = compare_shared(two_ladders(tmp_path), focus="new")
    scale = next(s for s in shared_figure(cmp).scales if {"colour", "color"} & set(s.aesthetics))
    other = next(f for f in cmp.factors if f.family == "old")
    assert scale.labels == {"new": "new (focus)", "old": f"old: M = {fmt_multiplier(other.multiplier)} "
                                                         f"[{fmt_multiplier(other.low)}, {fmt_multiplier(other.high)}]"}
    assert f"{fmt_multiplier(other.multiplier)}" in cmp.summary()


def test_a_pdf_figure_embeds_its_fonts_as_truetype_not_type_3(tmp_path):
    """Found by a new user: PDF figures embedded matplotlib's default Type 3 fonts, which the PDF
    checks of ACM, IEEE and other publishers refuse in a submitted paper. They are embedded as
    TrueType (Type 42); the bytes are still the same on every run."""
    result = analyze(ROOT / "data" / "ladders" / "muse.csv")
    for name in ("a.pdf", "b.pdf"):
        save_figure(multiplier_figure(result), str(tmp_path / name))
    data = (tmp_path / "a.pdf").read_bytes()
    assert b"/Type3" not in data and b"/FontFile2" in data
    assert data == (tmp_path / "b.pdf").read_bytes()


def test_curve_frame_takes_a_grid_beyond_the_runs():
    """curve_frame(result, grid) with every point of the grid above the largest run (a user
    drawing the extrapolation alone) raised IndexError: it looked for the fitted range's ends."""
    from scalefit.plots import curve_frame

    result = analyze(ROOT / "data" / "ladders" / "muse.csv")
    frame = curve_frame(result, np.array([1e23, 1e24]))
    assert list(frame["part"]) == ["above", "above"] and frame[["low", "high"]].notna().all().all()
    assert (frame["low"] < frame["loss"]).all() and (frame["loss"] < frame["high"]).all()


def test_a_legend_entry_wider_than_the_figure_is_broken_into_lines():
    """A long family name with its note ('transformer-sophia-optimizer-v2 (checkpoints as runs:
    band too narrow)') was wider than the figure even in a column of its own, and was cut off at
    both edges. Such an entry is broken into lines, and the figure grows for them."""
    from scalefit.backtesting import backtest
    from scalefit.plots import backtest_figure, backtest_height, natural_height

    rng = np.random.default_rng(2)
    name = "transformer-sophia-optimizer-v2"
    rows = []
    for r, final in enumerate(np.geomspace(1e19, 1e21, 5)):
        offset = rng.normal(0, 0.02)
        rows += [(name, f"run{r}", c, (1.8 + 1e3 * c ** -0.15) * np.exp(offset + rng.normal(0, 0.002)))
                 for c in np.geomspace(final / 10, final, 6)]
    rows += [("baseline", f"p{i}", c, (1.8 + 1e3 * (2 * c) ** -0.15) * np.exp(rng.normal(0, 0.005)))
             for i, c in enumerate(np.geomspace(1e19, 1e22, 8))]
    frame = pd.DataFrame(rows, columns=["family", "run", "flops", "loss"])
    result = analyze(frame, band_method="profile")       # whose legend notes the too narrow band
    options = FigureOptions(height=natural_height("multipliers", result, 2.6))
    plot = multiplier_figure(result, options)
    scale = next(s for s in plot.scales if {"colour", "color"} & set(s.aesthetics))
    assert "\n" in scale.labels[name] and scale.labels[name].replace("\n", " ").startswith(name)
    assert _texts_outside(plot) == []
    bt = backtest(frame, band_method="profile")
    assert _texts_outside(backtest_figure(bt, FigureOptions(height=backtest_height(bt)))) == []


def test_the_multiplier_curve_says_which_way_its_multiplier_favours_the_focus(tmp_path):
    """Found by a new user: the multiplier-curve figure's axis read "new's compute multiplier", and
    nothing in the figure said whether 3x meant the focus needs 3 times less compute or 3 times
    more. Its caption says so as the table's header does; the figure grows for it."""
    from scalefit.plots import COLUMN_SIZE, natural_height

    result = analyze(two_ladders(tmp_path), focus="new", bootstrap=0)
    plot = FIGURES["multiplier-curve"](result, points=6)
    caption = plot.labels.get("caption") if isinstance(plot.labels, dict) else plot.labels.caption
    flat = caption.replace("\n", " ")
    assert "compute / new's at the same loss" in flat and "> 1: new needs less" in flat
    height = natural_height("multiplier-curve", result, COLUMN_SIZE[1])
    assert height >= COLUMN_SIZE[1] + len(caption.splitlines()) * 0.16
    assert _texts_outside(FIGURES["multiplier-curve"](result, FigureOptions(height=height), points=6)) == []


def test_the_reports_data_table_gives_a_reference_points_compute_once():
    """A reference point's compute read '2.24e24 .. 2.24e24'; a ladder keeps its range."""
    from scalefit.report import _tables

    result = analyze(ROOT / "data" / "ladders" / "muse.csv", bootstrap=0)
    data = dict(_tables(result))["Data"]
    compute = {row[0]: row[3] for row in data[1:]}
    assert compute["muse"] == "1.00e19 .. 1.00e22" and compute["Llama-4-Maverick-Base"] == "2.24e24"


@pytest.mark.parametrize("from_console_script", [True, False])
def test_the_reports_command_can_be_pasted_back_into_a_shell(tmp_path, monkeypatch, from_console_script):
    """Found by a new user: the report's 'Command:' line joined the arguments with spaces, so a file
    named 'my ladder.csv' read 'scalefit report my ladder.csv -o ...', which a shell splits in two."""
    import shlex
    import sys

    source = tmp_path / "my ladder.csv"
    source.write_bytes((ROOT / "data" / "ladders" / "muse.csv").read_bytes())
    output = tmp_path / "the report.md"
    args = ["report", str(source), "-o", str(output), "--focus", "muse"]
    if from_console_script:
        monkeypatch.setattr(sys, "argv", ["/venv/bin/scalefit", *args])
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.stderr
    line = next(x for x in output.read_text().splitlines() if "Command: " in x)
    words = shlex.split(line.split("Command: ", 1)[1])
    expected = ["scalefit", *args] if from_console_script else ["scalefit", "report", str(source), "-o", str(output)]
    assert words == expected


def test_log_axes_write_powers_of_ten_as_papers_do():
    """Found by review: the log axes read '1e21' (programmers' notation) while a paper writes 10^21;
    mizani's own label_log would label 3e20 as 10^20. Ticks between powers keep their digits, and
    an axis whose ticks are all ordinary numbers (0.03 to 3) keeps them plain."""
    from scalefit.plots import log_tick_labels

    assert log_tick_labels([1e19, 1e21, 3e21, 1e-5]) == ["$10^{19}$", "$10^{21}$", "$3\\times10^{21}$",
                                                           "$10^{-5}$"]
    assert log_tick_labels([0.03, 0.3, 1, 3, 300]) == ["0.03", "0.3", "1", "3", "300"]
    assert log_tick_labels([9.999999e20, np.nan]) == ["$10^{21}$", ""]


def test_a_log_axis_under_a_decade_has_ticks_to_read_a_band_against():
    """Found by a new user: the demo's distribution figure set 'vs Llama-4-Maverick-Base' (its
    band 7.2x to 14x) on an axis from 5.007 to 18 with ticks at 6, 7 and 10 only, nothing past the
    estimate; under a decade the axis takes evenly spaced round ticks when more of them fall on it."""
    from mizani.breaks import breaks_log

    from scalefit.plots import log_breaks

    def inside(limits):
        ticks = log_breaks(limits)
        return ticks[(ticks >= limits[0]) & (ticks <= limits[1])].tolist()

    assert inside((5.007, 18.0)) == [7.5, 10, 12.5, 15, 17.5]
    assert inside((3.2, 16.2)) == [4, 6, 8, 10, 12, 14, 16]
    assert inside((0.95, 7.8)) == [1, 3, 5]                            # as many log ticks as round ones
    for limits in [(1e19, 1e22), (0.5, 5.0), (2e20, 3e24)]:               # a decade or more: the log ticks
        assert log_breaks(limits).tolist() == breaks_log()(limits).tolist()
    axes = FIGURES["distribution"](analyze(ROOT / "data" / "ladders" / "muse.csv", bootstrap=0)).draw().axes
    low, high = axes[0].get_xlim()                                     # vs Llama-4-Maverick-Base
    assert sum(low <= t <= high for t in axes[0].get_xticks()) >= 4


def test_compute_ticks_under_a_decade_do_not_run_into_each_other():
    """Found by review: the evenly spaced ticks of an axis under a decade (meant for a multiplier's
    axis, 7.5 to 17.5) were also given to compute axes, whose labels are powers of ten: a residuals
    panel of runs from 1.2e21 to 9e21 read '4x10^21 6x10^21 8x10^21' run together, as did the
    multipliers figure with --xlim 2e21,1.5e22 ('1.2x10^22 1.6x10^22'), crowded at the high end of
    the log axis. Axes labelled in powers of ten keep the 1-3-10 ticks (whose labels still crowd a
    narrow residuals panel: 2, 3 and 5 x 10^21 touch, as before)."""
    from mizani.breaks import breaks_log

    from scalefit.plots import log_breaks

    for limits in [(1.2e21, 9e21), (2e21, 1.5e22), (1.5e4, 9e4)]:
        assert log_breaks(limits).tolist() == breaks_log()(limits).tolist()
    figure, canvas = _drawn_at(multiplier_figure(analyze(ROOT / "data" / "ladders" / "muse.csv", bootstrap=0),
                                                 FigureOptions(xlim=(2e21, 1.5e22))), 300)
    renderer, ax = canvas.get_renderer(), figure.axes[0]
    low, high = ax.get_xlim()
    boxes = [label.get_window_extent(renderer) for tick, label in zip(ax.get_xticks(), ax.get_xticklabels())
             if low <= tick <= high and label.get_text()]
    assert len(boxes) >= 2 and not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2)), [
        label.get_text() for label in ax.get_xticklabels()]


@pytest.mark.parametrize("kind", ["multipliers", "residuals", "contours"])
def test_every_log_axis_of_the_figures_is_labelled_in_powers_of_ten(tmp_path, kind):
    from scalefit.plots import log_tick_labels

    source = chinchilla_ladder(tmp_path) if kind == "contours" else ROOT / "data" / "ladders" / "muse.csv"
    result = analyze(source, law="chinchilla" if kind == "contours" else "saturating", bootstrap=0)
    plot = FIGURES[kind](result)
    logs = [s for s in plot.scales if type(s).__name__.endswith("log10")]
    assert len(logs) == (2 if kind == "contours" else 1) and all(s.labels is log_tick_labels for s in logs)


def _tick_label_gaps(plot, dpi: int = 300) -> dict[str, list[float]]:
    """The space in inches between neighbouring tick labels within each panel's axis, as drawn at
    ``dpi``: across for the x axes' labels, up for the y axes'."""
    figure, canvas = _drawn_at(plot, dpi)
    renderer, gaps = canvas.get_renderer(), {"x": [], "y": []}
    for ax in figure.axes:
        for along, ticks, labels, limits in (("x", ax.get_xticks(), ax.get_xticklabels(), ax.get_xlim()),
                                             ("y", ax.get_yticks(), ax.get_yticklabels(), ax.get_ylim())):
            boxes = sorted((label.get_window_extent(renderer) for tick, label in zip(ticks, labels)
                            if min(limits) <= tick <= max(limits) and label.get_text() and label.get_visible()),
                           key=lambda box: box.x0 if along == "x" else box.y0)
            gaps[along] += [((b.x0 - a.x1) if along == "x" else (b.y0 - a.y1)) / dpi
                            for a, b in zip(boxes, boxes[1:])]
    return gaps


def test_evenly_spaced_ticks_on_a_log_axis_widen_their_step_where_their_labels_would_bunch():
    """Found by review: a log axis under a decade took evenly spaced round ticks, which draw closer
    toward its high end: the demo's distribution figure set '15' and '17.5' 0.20 in apart (its
    first labels 0.55 in), '14' and '16' 0.13 in, and a stacked multiplier-curve panel '0.9' and
    '1' 0.005 in. Past where labels would crowd, the step widens to a round one (4 6 8 10 15)."""
    from mizani.breaks import breaks_log

    from scalefit.plots import AXIS_TEXT_SCALE, TICK_LABEL_GAP_EMS, log_breaks

    assert log_breaks((5.007, 18.0), room=3.0).tolist() == [7.5, 10, 12.5, 15]
    assert log_breaks((3.21, 16.23), room=3.0).tolist() == [4, 6, 8, 10, 15]
    assert log_breaks((1.5, 9.0), room=3.0).tolist() == [2, 3, 4, 5, 6, 8]
    assert log_breaks((5.007, 18.0), room=6.5).tolist() == [7.5, 10, 12.5, 15, 17.5]     # room for all
    assert log_breaks((0.45, 1.05), room=0.72, along="y").tolist() == [0.5, 0.6, 0.8, 1]
    for limits in [(1.2e21, 9e21), (2e20, 3e24), (0.5, 5.0)]:         # powers of ten, a decade or more: as before
        assert log_breaks(limits, room=1.3).tolist() == breaks_log()(limits).tolist()
    least = {along: 0.9 * ems * AXIS_TEXT_SCALE * FigureOptions().base_size / 72    # the room is estimated
             for along, ems in TICK_LABEL_GAP_EMS.items()}
    demo = _tick_label_gaps(FIGURES["distribution"](analyze(ROOT / "data" / "ladders" / "muse.csv", bootstrap=0)))
    assert min(demo["x"]) >= least["x"], demo["x"]                    # 0.13 in
    curve = _tick_label_gaps(FIGURES["multiplier-curve"](analyze(long_named_ladders(4), bootstrap=0)))
    assert min(curve["y"]) >= least["y"], curve["y"]                  # 0.005 in


def test_the_compute_axis_holds_the_labels_without_grid_lines_or_padding_past_the_data():
    """Found by review: the demo's compute axis ran to 10^28.8, four decades past its last
    reference at 10^24.5: the reference names need room (to about 10^28), but plotnine padded the
    axis 5% beyond that room, which has its own, and drew ticks and grid lines (10^27) where
    there are only labels. Now ticks end at the data, no padding follows the labels' room, and the
    labels still lie inside the panel; an axis set by the data keeps plotnine's own ticks."""
    from scalefit.plots import _annotation_layout, labelled_axis_ends

    demo = analyze(ROOT / "data" / "ladders" / "muse.csv")
    x_min, x_max = _annotation_layout(demo, FigureOptions())[2]
    scale = next(s for s in multiplier_figure(demo).scales if "x" in s.aesthetics)
    assert np.allclose(10.0 ** np.asarray(scale.limits), (x_min, x_max)) and tuple(scale.expand)[2:] == (0, 0)
    data_end = 3.4721e24 * 1.25                                      # the largest reference's compute
    assert x_min <= min(scale.breaks) and max(scale.breaks) <= data_end and len(scale.breaks) >= 3
    assert _texts_outside(multiplier_figure(demo)) == []
    assert labelled_axis_ends(1e18, 1e22, 1e22) == {}


def test_stacked_labels_of_the_demo_do_not_overlap():
    """Found by review: the demo's three multiplier labels and three reference names were stacked
    closer than a line of their text (6.3 pt apart, 7.2 pt high): each touched the next."""
    import itertools
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure = multiplier_figure(analyze(ROOT / "data" / "ladders" / "muse.csv")).draw()
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
    boxes = [t.get_window_extent(canvas.get_renderer()) for t in figure.axes[0].texts if t.get_text()]
    assert len(boxes) == 6
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


def eight_families() -> pd.DataFrame:
    """Eight 6-run ladders of one law, each 1.3 times more efficient than the one before."""
    flops = np.geomspace(1e19, 1e22, 6)
    return pd.DataFrame([(name, c, 1.8 + 1000 * (c * (1 + 0.3 * i)) ** -0.15) for i, name in enumerate("ABCDEFGH")
                         for c in flops], columns=["family", "flops", "loss"])


def test_the_star_marker_is_drawn_as_large_as_the_others():
    """Found by review: the 8th family's star, drawn at the other markers' size, covers a third of
    a circle's area (the other shapes 0.6 to 1.3 of it) and looked a size smaller, in the panel
    and in the legend. Its size is scaled up by STAR_SIZE through a size scale mapped to the
    family, whose legend merges with the colours' and shapes' (one key per family)."""
    from matplotlib.markers import MarkerStyle
    from scalefit.plots import family_marks, shared_figure
    from scalefit.shared import compare_shared

    def area(shape: str) -> float:          # of the marker's outline at size 1
        marker = MarkerStyle(shape)
        polygons = marker.get_path().transformed(marker.get_transform()).to_polygons()
        return sum(abs(np.sum(p[:-1, 0] * p[1:, 1] - p[1:, 0] * p[:-1, 1])) / 2 for p in polygons)

    shapes = {f: family_marks(i)[1] for i, f in enumerate("ABCDEFGH")}
    assert shapes["H"] == "*" and area("*") < 0.4 * area("o")
    frame = eight_families()
    for plot in (multiplier_figure(analyze(frame, band_method="percentile", bootstrap=0)),
                 shared_figure(compare_shared(frame))):
        sizes = marker_sizes(plot, list("ABCDEFGH"))
        drawn = {f: area(shapes[f]) * sizes[f] ** 2 for f in shapes}
        assert len({sizes[f] for f in "ABCDEFG"}) == 1 and drawn["H"] >= min(drawn[f] for f in "ABCDEFG")
        legend = {type(s).__name__: (s.breaks, s.name) for s in plot.scales if {"size", "shape"} & set(s.aesthetics)}
        assert len(set(map(repr, legend.values()))) == 1            # same breaks and title: one merged legend


def test_fitted_range_is_keyed_before_extrapolated():
    demo = multiplier_figure(analyze(ROOT / "data" / "ladders" / "muse.csv", bootstrap=0))
    scale = next(s for s in demo.scales if "linetype" in s.aesthetics)
    assert list(scale.breaks) == ["fitted range", "extrapolated"]


def test_contours_fill_the_panel_and_label_budgets_as_the_axes_write_powers(tmp_path):
    """Found by review: plotnine's 5% margin left a band of grid lines around the raster, and
    budgets read '8.8e18' beside axes reading 10^18."""
    from scalefit.plots import budget_label

    plot = FIGURES["contours"](analyze(chinchilla_ladder(tmp_path), law="chinchilla", bootstrap=0))
    assert all(tuple(s.expand) == (0, 0) for s in plot.scales if {"x", "y"} & set(s.aesthetics))
    assert budget_label(8.8123e18) == "$8.8\\times10^{18}$" and budget_label(3.04e15) == "$3\\times10^{15}$"


def test_the_contours_caption_wraps_to_the_figure_and_the_figure_grows_for_it(tmp_path):
    """Found by a new user: on three Gadre et al. training sets the caption's first line ('...;
    others: --focus c4_original') ran off the figure's right edge; a longer name ran further."""
    from scalefit.plots import AXIS_MARGIN, COLUMN_SIZE, contours_caption, natural_height, text_width

    one = pd.read_csv(chinchilla_ladder(tmp_path))
    two = pd.concat([one, one.assign(family="a_training_set_with_a_rather_long_name", loss=one.loss * 1.01)])
    result = analyze(two, law="chinchilla", bootstrap=0, focus="f")
    options = FigureOptions(width=COLUMN_SIZE[0])
    caption = contours_caption(result, "f", options)
    assert all(text_width(line, options.base_size - 2) <= COLUMN_SIZE[0] - AXIS_MARGIN for line in caption)
    # the argument and its value on one line (the first line ended '--focus', its value began the next)
    assert len(caption) == 3 and caption[1] == "family='a_training_set_with_a_rather_long_name'"
    assert natural_height("contours", result, COLUMN_SIZE[1]) > COLUMN_SIZE[1]
    flagged = contours_caption(result, "f", FigureOptions(width=COLUMN_SIZE[0], flags=True))     # as the command
    assert len(flagged) == 3 and "--focus\u00a0a_training_set_with_a_rather_long_name" in flagged[1]
    assert all(text_width(line, options.base_size - 2) <= COLUMN_SIZE[0] - AXIS_MARGIN for line in flagged)
    short = analyze(one, law="chinchilla", bootstrap=0)
    assert len(contours_caption(short, "f", options)) == 2
    # every other family is named (the caption named only the first, as though it were the only one)
    five = pd.concat([one.assign(family=name, loss=one.loss * (1 + i / 100)) for i, name in enumerate("fabcd")])
    wide = FigureOptions(width=12, flags=True)
    assert contours_caption(analyze(five, law="chinchilla", bootstrap=0, focus="f"), "f", wide)[0].endswith(
        "; others: --focus\u00a0a, --focus\u00a0b, --focus\u00a0c and 1 more")
    assert natural_height("contours", short, COLUMN_SIZE[1]) == COLUMN_SIZE[1]
    plot = FIGURES["contours"](result)
    assert (plot.labels.get("caption") if isinstance(plot.labels, dict) else plot.labels.caption) == "\n".join(caption)


def test_the_contours_caption_naming_other_families_stays_on_the_figure(tmp_path):
    """Found by review: on three training sets named like Gadre et al.'s ('c4 $5', 'rpj $5', 'rw
    $5') the caption's first line, naming two other families, measured 2.98 in, within the 3.0 in
    it was wrapped to (the figure's width less AXIS_MARGIN), but the contours' panel starts 0.43 in
    from the left (its token ticks read 10^11), so the line's last comma was drawn off the figure."""
    from scalefit.plots import contours_figure

    one = pd.read_csv(chinchilla_ladder(tmp_path))
    three = pd.concat([one.assign(family=name, loss=one.loss * (1 + i / 100))
                       for i, name in enumerate(["c4 $5", "rpj $5", "rw $5"])])
    result = analyze(three, law="chinchilla", bootstrap=0, focus="c4 $5")
    assert _texts_outside(contours_figure(result, options=FigureOptions(flags=True))) == []


def test_a_title_wrapped_to_several_lines_takes_its_room_from_a_taller_figure_not_the_panel():
    """Found by the new-user review: a long --title wrapped to three lines and the figure kept its
    height, so the panel lost two lines' height and the demo's three arrow labels crowded. The
    natural height grows by a line for each line past the first; the panel keeps its height."""
    from scalefit.plots import drawn_panel_size, natural_height

    result = analyze(ROOT / "data" / "ladders" / "muse.csv", bootstrap=0)
    short, long = "muse vs reference models", ("A very long title about the muse ladder compared with three reference "
                                               "models from public reports, reconstructed")
    panels = [drawn_panel_size(multiplier_figure(result, FigureOptions(title=title)))[1] for title in (short, long)]
    assert abs(panels[1] - panels[0]) < 0.05, panels                   # it lost 0.36 in
    assert natural_height("multipliers", result, 2.6, title=long) > natural_height("multipliers", result, 2.6,
                                                                                  title=short) + 0.3
    assert natural_height("multipliers", result, 2.6, title=short) == natural_height("multipliers", result, 2.6)


def test_a_wrapped_title_at_a_large_base_size_takes_its_room_from_a_taller_figure_too():
    """Found by review: the natural height measured a title at the default base size, so from
    Python with base_size=12 its four lines counted as three and the panel lost 0.44 in of 1.44,
    and with base_size=20 (7 in wide) plotnine gave up its layout. A one-line title, and any title
    at the default base size, add nothing new (the command's figures are as before)."""
    from dataclasses import replace

    from scalefit.plots import SMALLEST_PANEL_HEIGHT, drawn_panel_size, natural_height, short_height_warning

    result = analyze(ROOT / "data" / "ladders" / "muse.csv", bootstrap=0)
    long = ("A very long title about the muse ladder compared with three reference models from public reports, "
            "reconstructed")
    for options in (FigureOptions(base_size=12), FigureOptions(width=7, base_size=20)):
        panels = [drawn_panel_size(multiplier_figure(result, replace(options, title=title)))[1]
                  for title in ("muse", long)]
        assert abs(panels[1] - panels[0]) < 0.1, (options, panels)
    outside = _texts_outside(multiplier_figure(result, FigureOptions(width=7, base_size=20, title=long)))
    assert not [text for text in outside if text.startswith("A very")], outside   # wrapped to the panel's width
    assert natural_height("multipliers", result, 2.6, title=long, base_size=12) > \
        natural_height("multipliers", result, 2.6, title=long) + 0.3
    assert natural_height("multipliers", result, 2.6, title="muse", base_size=12) == \
        natural_height("multipliers", result, 2.6, base_size=12)
    assert natural_height("multipliers", result, 2.6, title=long, base_size=8.0) == \
        natural_height("multipliers", result, 2.6, title=long)
    enough_at_8 = natural_height("multipliers", result, SMALLEST_PANEL_HEIGHT, title=long)
    assert short_height_warning("multipliers", result, FigureOptions(height=enough_at_8, title=long)) is None
    assert short_height_warning("multipliers", result,
                                FigureOptions(height=enough_at_8, title=long, base_size=12)) is not None


def test_the_backtest_and_shared_figures_grow_for_a_wrapped_title_too(tmp_path):
    """Found by review: the backtest and shared figures' heights (from Python) ignored a title's
    lines, as the other figures had: their panels now keep their height under a long title."""
    from dataclasses import replace

    from scalefit.backtesting import backtest
    from scalefit.plots import backtest_figure, drawn_panel_size, shared_figure
    from scalefit.shared import compare_shared

    frame = pd.read_csv(two_ladders(tmp_path), comment="#")
    short, long = "two ladders", ("A very long title about two made-up ladders and what their fits say when each "
                                  "is refitted without its largest runs")
    for draw in (lambda o: backtest_figure(backtest(frame, hold_out=2), o),
                 lambda o: shared_figure(compare_shared(frame), replace(o, width=5.0))):
        panels = [drawn_panel_size(draw(FigureOptions(title=title)))[1] for title in (short, long)]
        assert abs(panels[1] - panels[0]) < 0.05, panels


def test_a_wrapped_title_is_room_the_command_and_the_height_warning_count_too(tmp_path):
    """Found by review: the taller figure for a wrapped title was tested from Python only; `scalefit
    plot --title` and the too-small-height warning take the title through their own calls of
    natural_height, and a mathtext title is measured as drawn, not as its source text (which is
    four times wider: a formula that fits was cut into pieces)."""
    import struct

    from scalefit.plots import SMALLEST_PANEL_HEIGHT, natural_height, short_height_warning, wrapped_title

    demo = ROOT / "data" / "ladders" / "muse.csv"
    short, long = "muse vs reference models", ("A very long title about the muse ladder compared with three reference "
                                               "models from public reports, reconstructed")
    heights = []
    for title in (short, long):
        out = tmp_path / "titled.png"
        r = CliRunner().invoke(main, ["plot", str(demo), "--bootstrap", "0", "--title", title, "-o", str(out)])
        assert r.exit_code == 0, r.stderr
        heights.append(struct.unpack(">II", out.read_bytes()[16:24])[1] / 300)     # drawn at 300 dpi
    assert heights[1] > heights[0] + 0.3, heights
    result = analyze(demo, bootstrap=0)
    between = (natural_height("multipliers", result, SMALLEST_PANEL_HEIGHT)
               + natural_height("multipliers", result, SMALLEST_PANEL_HEIGHT, title=long)) / 2
    assert short_height_warning("multipliers", result, FigureOptions(height=between, title=short)) is None
    assert short_height_warning("multipliers", result, FigureOptions(height=between, title=long)) is not None
    formula = r"$\mathrm{L}(C)\approx\mathrm{E}+\mathrm{A}\cdot{}C^{-\alpha}\;\mathrm{for}\;\mathrm{muse}$"
    assert wrapped_title(FigureOptions(title=formula)) == formula


def test_the_arrow_keys_numbers_line_up_past_nine():
    """Found by review: '10   12.7x ...' started its label a digit further right than '9   11.7x ...'."""
    from scalefit.plots import FIGURE_SPACE, _arrow_key, text_width

    arrows = pd.DataFrame({"label": list(range(1, 12)), "key": [f"{i}x" for i in range(1, 12)],
                           "title": [f"vs r{i}" for i in range(1, 12)]})
    lines = _arrow_key(arrows).splitlines()
    assert lines[0].startswith(FIGURE_SPACE + "1   1x") and lines[10].startswith("11   11x")
    assert {len(line.split("   ")[0]) for line in lines} == {2}
    # in the figures' font a figure space is as wide as a digit (ink from the first 1 to the last)
    assert text_width("1" + FIGURE_SPACE + "1", 6) == pytest.approx(text_width("101", 6), rel=1e-6)
    assert _arrow_key(arrows.head(3)).splitlines()[0] == "1   1x   vs r1"


def _drawn_labels_and_lines(plot, dpi: int = 100, panel: bool = False):
    """The panel's texts' boxes and its drawn lines, each a (k, 2) array of points at most a pixel
    apart, in pixels, as rendered at ``dpi`` (and the panel's box when ``panel``)."""
    from matplotlib.collections import LineCollection

    figure, canvas = _drawn_at(plot, dpi)
    ax = figure.axes[0]
    boxes = {t.get_text(): t.get_window_extent(canvas.get_renderer()) for t in ax.texts if t.get_text()}
    paths = [(line.get_color(), line.get_transform().transform(line.get_xydata())) for line in ax.get_lines()]
    for collection in ax.collections:
        if isinstance(collection, LineCollection):
            paths += [(collection.get_edgecolor(), collection.get_transform().transform(p.vertices))
                      for p in collection.get_paths()]
    dense = []
    for colour, xy in paths:
        steps = [a + (b - a) * np.linspace(0, 1, int(np.ceil(np.hypot(*(b - a)))) + 2)[:, None]
                 for a, b in zip(xy[:-1], xy[1:])]
        dense.append((colour, np.concatenate(steps) if steps else xy))
    return (boxes, dense, ax.bbox) if panel else (boxes, dense)


def test_contour_labels_are_clear_of_every_line_and_the_frontier(tmp_path):
    """Found by review: each budget label sat at the start of its own dotted IsoFLOP line, over it,
    and on the Gadre et al. runs a loss label sat on the compute-optimal frontier (labels were put
    where each line left the panel, whatever lay there). Each label now sits on its own line, which
    is broken under it, clear of the frontier and of the other labels; as drawn, no line passes
    under a label, the frontier (orange) stays at least a few pixels away, and every label is drawn."""
    one, overtrained = pd.read_csv(chinchilla_ladder(tmp_path)), _overtrained_ladder()
    for frame, options in ((one, FigureOptions()), (overtrained, FigureOptions()),
                           (overtrained, FigureOptions(width=7, height=4, title="L(N, D)"))):
        plot = FIGURES["contours"](analyze(frame, law="chinchilla", bootstrap=0), options=options)
        texts = [layer._data for layer in plot.layers if type(layer.geom).__name__ == "geom_text"]
        drawn, faults = _contour_label_faults(plot)
        assert faults == [] and drawn == sum(len(t) for t in texts) == 13, (drawn, faults)


def _contour_label_faults(plot, dpi: int = 100) -> tuple[int, list[str]]:
    """The labels drawn on a contours figure's panel and what is wrong with them as rendered at
    ``dpi``: a label over a line, within 3 pixels of the frontier (orange, 2.6 pt wide), over
    another label, or reaching past the panel's edge (cut off)."""
    from matplotlib.colors import to_hex

    boxes, lines, panel = _drawn_labels_and_lines(plot, dpi, panel=True)
    faults = []
    for label, box in boxes.items():
        for colour, xy in lines:
            frontier = to_hex(np.asarray(colour).reshape(-1)[:4] if not isinstance(colour, str) else colour) \
                == "#d55e00"
            margin = 3 if frontier else 0
            inside = ((xy[:, 0] > box.x0 - margin) & (xy[:, 0] < box.x1 + margin)
                      & (xy[:, 1] > box.y0 - margin) & (xy[:, 1] < box.y1 + margin))
            if inside.any():
                faults.append(f"{label!r} lies on a {'frontier' if frontier else 'line'}")
        if not (panel.x0 <= box.x0 and box.x1 <= panel.x1 and panel.y0 <= box.y0 and box.y1 <= panel.y1):
            faults.append(f"{label!r} reaches past the panel")
    faults += [f"{a!r} overlaps {b!r}" for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2)
               if box_a.overlaps(box_b)]
    return len(boxes), sorted(set(faults))


def _overtrained_ladder() -> pd.DataFrame:
    """Made up: 7 sizes of 1e7 to 7e9 parameters at 5 to 320 tokens per parameter, on an L(N, D)."""
    grid = pd.DataFrame([(n, n * r) for n in np.geomspace(1e7, 7e9, 7) for r in (5, 20, 80, 320)],
                        columns=["params", "tokens"])
    return grid.assign(family="g", loss=1.9 + 480 * grid.params ** -0.33 + 1900 * grid.tokens ** -0.3)


@pytest.mark.parametrize("ladder, options, fewest", [
    ("nd", FigureOptions(width=2.5, height=2), 12),
    ("overtrained", FigureOptions(width=2.5, height=2), 12),
    ("nd", FigureOptions(width=7, height=4, base_size=20), 10),
    ("overtrained", FigureOptions(width=7, height=4, base_size=20), 10),
    ("nd", FigureOptions(width=25, height=3), 10),
    ("long name", FigureOptions(width=2.5, height=2.4, title="L(N, D) of a made-up ladder, fitted by least "
                                "squares in log space"), 7)],
    ids=["2.5x2", "2.5x2-overtrained", "7x4-base20", "7x4-base20-overtrained", "25x3", "title-3-line-caption"])
def test_contour_labels_are_clear_and_inside_the_panel_at_any_size(tmp_path, ladder, options, fewest):
    """Found by review: labels were placed on an estimate of the panel from fixed margins (0.84 in
    tall at 2.5 x 2 in, drawn 0.93; 1.95 at 25 x 3, drawn 0.46), blind to the text size, and
    measured a sixth shorter than plotnine draws them: at 2.5 x 2 in the 4.8e20 label overlapped
    the 2.33 label and was cut off at the top, with base_size 20 labels overlapped, and a label
    with no clear position was placed regardless. The panel is now measured from a first draw.
    As drawn, no label lies on a line, near the frontier, on another label or past the panel's
    edge, and few labels with no clear position are left out (13 fit at the default size)."""
    one = pd.read_csv(chinchilla_ladder(tmp_path))
    frames = {"nd": one, "overtrained": _overtrained_ladder(),
              "long name": pd.concat([one, one.assign(family="a_training_set_with_a_rather_long_name",
                                                      loss=one.loss * 1.01)])}
    result = analyze(frames[ladder], law="chinchilla", bootstrap=0, focus=frames[ladder]["family"].iloc[0])
    plot = FIGURES["contours"](result, options=options)
    if ladder == "long name":
        caption = plot.labels.get("caption") if isinstance(plot.labels, dict) else plot.labels.caption
        assert len(caption.splitlines()) >= 3
    drawn, faults = _contour_label_faults(plot)
    assert faults == [] and drawn >= fewest, (drawn, faults)


def _marks_at(figure, ax) -> dict[float, list]:
    """The markers drawn in ``ax`` by their x offset (6 decimals): each (path, size, face, edge,
    line width) as the drawn PathCollection gives it."""
    from matplotlib.collections import PathCollection

    def pick(values, i):
        return values[i % len(values)] if len(values) else None

    marks: dict[float, list] = {}
    for c in ax.collections:
        if isinstance(c, PathCollection):
            for i, (x, _) in enumerate(c.get_offsets()):
                marks.setdefault(round(float(x), 6), []).append(
                    (c.get_paths()[0], pick(c.get_sizes(), i), pick(c.get_facecolors(), i), pick(c.get_edgecolors(), i),
                     pick(c.get_linewidths(), i)))
    return marks


def _rendered(marks) -> np.ndarray:
    """``marks`` drawn one over another alone on a white 40-pixel square at 300 dpi (RGB, 0 to 1)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PathCollection
    from matplotlib.figure import Figure
    from matplotlib.transforms import IdentityTransform

    figure = Figure(figsize=(40 / 300, 40 / 300), dpi=300)
    canvas = FigureCanvasAgg(figure)
    for path, size, face, edge, width in marks:          # as Axes.scatter builds them
        marker = PathCollection([path], sizes=[size], facecolors=[face if face is not None else "none"],
                                edgecolors=[edge if edge is not None else "none"], linewidths=[width],
                                offsets=[(0.5, 0.5)], offset_transform=figure.transFigure)
        marker.set_transform(IdentityTransform())
        figure.add_artist(marker)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba(), dtype=float)[..., :3] / 255


def test_held_out_runs_differ_from_fitted_runs_for_every_familys_marker():
    """Found by review: with seven or more families the 7th family's cross (X), and the 6th's
    plus (P), looked the same open (fitted) as filled (held-out): their arms leave no inside to
    show at any stroke (the star little more). Held-out runs are ringed as well as filled; drawn
    alone, each family's held-out run differs from its fitted run in at least a tenth of the
    pixels either inks (open and filled triangles, told apart at a glance, differ in 0.14 of
    them; unringed crosses and pluses in none, stars in 0.04)."""
    import warnings

    from scalefit.backtesting import backtest
    from scalefit.plots import backtest_figure

    flops = np.geomspace(1e19, 1e22, 6)
    rows = [(name, c * 1.3 ** i, 1.8 + 1000 * (c * 1.3 ** i * (1 + 0.3 * i)) ** -0.15)   # no two runs at one compute
            for i, name in enumerate("ABCDEFGHI") for c in flops]
    plot = backtest_figure(backtest(pd.DataFrame(rows, columns=["family", "flops", "loss"]), hold_out=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure = plot.draw()
    marks = _marks_at(figure, figure.axes[0])
    for i in range(9):
        fitted, held = (_rendered(marks[round(float(np.log10(c * 1.3 ** i)), 6)]) for c in (flops[0], flops[-1]))
        inked = (fitted < 0.95).any(axis=-1) | (held < 0.95).any(axis=-1)
        differ = (np.abs(fitted - held) > 0.2).any(axis=-1)
        assert differ[inked].mean() >= 0.1, f"family {'ABCDEFGHI'[i]}: held-out run drawn as its fitted runs"


def test_many_keyed_numbers_keep_to_the_values_plotted():
    """Found by review: with ten reference points a tenth of a decade apart in loss, the keyed
    numbers were stacked a line apart below their arrows, the tenth 0.25 nats below the lowest run
    and curve, stretching the value axis by a third for the numbers alone. When the stack below
    would leave the values plotted, the numbers go above and right of the arrows, where no
    reference is named, in the arrows' order."""
    from scalefit.plots import _annotation_layout

    flops = np.geomspace(1e19, 1e22, 8)
    rows = [("focus", c, 1.8 + 1000 * c ** -0.15) for c in flops]
    rows += [(f"ref{i}", 1e22 * 10 ** (0.2 + 0.12 * i), 1.8 + 1000 * (1e22 * 10 ** (0.2 + 0.12 * i) / (1.5 + 0.9 * i))
              ** -0.15) for i in range(1, 11)]                        # as `scalefit simulate --reference` draws them
    result = analyze(pd.DataFrame(rows, columns=["family", "flops", "loss"]), bootstrap=0)
    arrows, _, _, keyed = _annotation_layout(result, FigureOptions())
    assert keyed and len(arrows) == 10
    values = pd.DataFrame(rows, columns=["family", "flops", "loss"])["loss"]
    assert arrows["label_y"].min() >= values.min() and arrows["label_y"].max() <= values.max()
    assert arrows.sort_values("y")["label_y"].is_monotonic_increasing          # in the arrows' order
    assert _texts_outside(multiplier_figure(result)) == []


def test_keyed_numbers_lines_cross_no_other_arrow_when_references_lie_either_side():
    """Found by review: with references both left and right of the focus's curve (multipliers 0.5x
    and 4x alternating), the numbers went right of the arrows, where an arrow to a reference left
    of the curve ends on the curve: the lines from those arrows' ends up to their numbers ran
    across the 4x arrows above them ('3' read as the number of arrow 4). Numbers go right only when
    every arrow ends at its reference there; here no number's line crosses another arrow."""
    from scalefit.plots import _annotation_layout

    flops = np.geomspace(1e19, 1e22, 8)
    rows = [("focus", c, 1.8 + 1000 * c ** -0.15) for c in flops]
    rows += [(f"ref{i}", 1e19 * 10 ** (0.7 * i), 1.8 + 1000 * (1e19 * 10 ** (0.7 * i) / (0.5 if i % 2 else 4)) ** -0.15)
             for i in range(1, 7)]
    result = analyze(pd.DataFrame(rows, columns=["family", "flops", "loss"]), bootstrap=0)
    arrows, _, _, keyed = _annotation_layout(result, FigureOptions())
    assert keyed and sorted(round(m.multiplier, 1) for m in result.multipliers) == [0.5] * 3 + [4.0] * 3
    for _, number in arrows.iterrows():
        x0, y0, x1, y1 = np.log10(number["end"]), number["y"], np.log10(number["label_x"]), number["label_y"]
        for _, other in arrows.drop(index=number.name).iterrows():
            if (y0 - other["y"]) * (y1 - other["y"]) < 0:           # its line passes the other arrow's height
                x = x0 + (x1 - x0) * (other["y"] - y0) / (y1 - y0)
                assert not np.log10(other["left"]) < x < np.log10(other["right"]), \
                    f"the line to number {number['label']} crosses arrow {other['label']}"


def test_contour_labels_contrast_with_the_colour_behind_them(tmp_path):
    """Found by review (a change no test guarded): loss labels, moved from the panel's edge onto
    their lines, were still drawn white everywhere, so those on the light (high-loss) half of the
    colour scale were white on yellow-green. Every label, loss and budget, contrasts with the
    colour of the loss at its centre by at least 3:1 (WCAG's ratio for large text)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_rgb

    def luminance(rgb) -> float:
        c = np.asarray(rgb, dtype=float)
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(c @ [0.2126, 0.7152, 0.0722])

    grid = pd.DataFrame([(n, n * r) for n in np.geomspace(1e7, 7e9, 7) for r in (5, 20, 80, 320)],
                        columns=["params", "tokens"])             # made up: exponents 0.1, levels spread up the scale
    result = analyze(grid.assign(family="g", loss=1.9 + 4.8 * grid.params ** -0.1 + 19 * grid.tokens ** -0.1),
                     law="chinchilla", bootstrap=0)
    plot = FIGURES["contours"](result)
    fit, scale = result.fits[result.focus].fit, plot.data["loss"]
    texts = pd.concat([layer._data for layer in plot.layers if type(layer.geom).__name__ == "geom_text"])
    share = (fit.law.predict_nd(fit.params, texts["params"].to_numpy(float), texts["tokens"].to_numpy(float))
             - scale.min()) / (scale.max() - scale.min())
    behind = colormaps["viridis"](share)[:, :3]
    assert len(texts) >= 8 and (share[texts["level"].notna().to_numpy()] > 0.7).any()   # a loss label on light colours
    for text, colour, background in zip(texts["level"].fillna(texts["budget"]), texts["shade"], behind):
        a, b = sorted([luminance(to_rgb(colour)), luminance(background)])
        assert (b + 0.05) / (a + 0.05) >= 3, f"label {text} ({colour}) on {background}"


def test_contour_labels_lie_inside_the_panel(tmp_path):
    """Found by review (no test guarded it): a label centred on its line near where the line leaves
    the panel reaches past the panel's edge and is cut off. As drawn, with and without a title
    every label lies inside the panel."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    result = analyze(pd.read_csv(chinchilla_ladder(tmp_path)), law="chinchilla", bootstrap=0)
    for options in (FigureOptions(), FigureOptions(width=3, height=3, title="L(N, D) of a made-up ladder, "
                                                   "fitted by least squares in log space")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            figure = FIGURES["contours"](result, options=options).draw()
            figure.set_dpi(100)
            canvas = FigureCanvasAgg(figure)
            canvas.draw()
        ax = figure.axes[0]
        boxes = {t.get_text(): t.get_window_extent(canvas.get_renderer()) for t in ax.texts if t.get_text()}
        assert len(boxes) >= 8
        for label, box in boxes.items():
            assert (ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1 and ax.bbox.y0 <= box.y0 and box.y1 <= ax.bbox.y1), \
                f"{label!r} ({box}) reaches past the panel ({ax.bbox})"


def _caption(plot) -> str:
    return plot.labels.get("caption") if isinstance(plot.labels, dict) else plot.labels.caption


def test_figures_drawn_from_python_name_its_arguments_and_the_command_its_flags(tmp_path):
    """Found by review: a notebook's figures said 'predictions at --at-flops', '--band-method
    percentile draws them' and 'others: --focus b', options of a command it never ran. Python's
    figures name its arguments; FigureOptions(flags=True), as `scalefit plot` and `scalefit report`
    draw them, the flags, in captions whose lines the figure's height counts."""
    from scalefit.plots import caption_line_count, contours_figure

    two = analyze(two_ladders(tmp_path), focus="new", at_flops=[1e22])
    nd = pd.read_csv(chinchilla_ladder(tmp_path))
    contours = analyze(pd.concat([nd, nd.assign(family="b", loss=nd.loss * 1.01)]), law="chinchilla", bootstrap=0,
                       focus="f")
    drawn = {"multipliers": lambda o: multiplier_figure(two, o),
             "distribution": lambda o: FIGURES["distribution"](two, options=o),
             "contours": lambda o: contours_figure(contours, options=o)}
    for kind, draw in drawn.items():
        python, command = _caption(draw(FigureOptions())), _caption(draw(FigureOptions(flags=True)))
        assert "--" not in python and "--" in command, kind
    for flags in (False, True):                  # the height is made for the caption drawn
        options = FigureOptions(flags=flags)
        assert caption_line_count(two, options) == len(_caption(multiplier_figure(two, options)).splitlines())


def test_the_commands_figures_and_reports_draw_captions_with_its_flags(tmp_path, monkeypatch):
    """`scalefit plot` and `scalefit report` draw with FigureOptions(flags=True): their captions say
    --at-flops, as before; a report rendered from Python draws with Python's terms."""
    import scalefit.plots as plots
    from scalefit.report import render_report

    seen = []
    original = plots.draw_figure

    def recording(kind, result, options=FigureOptions(), progress=None):
        seen.append((kind, options.flags))
        return original(kind, result, options, progress=progress)

    monkeypatch.setattr(plots, "draw_figure", recording)
    path = two_ladders(tmp_path)
    r = CliRunner().invoke(main, ["plot", str(path), "-o", str(tmp_path / "f.png"), "--bootstrap", "0",
                                  "--at-flops", "1e22"])
    assert r.exit_code == 0, r.output
    assert seen == [("multipliers", True)]
    seen.clear()
    r = CliRunner().invoke(main, ["report", str(path), "-o", str(tmp_path / "r.md"), "--bootstrap", "0"])
    assert r.exit_code == 0, r.output
    assert seen and all(flags for _, flags in seen)
    seen.clear()
    render_report(analyze(path, bootstrap=0), markdown=True)
    assert seen and not any(flags for _, flags in seen)


def test_the_profile_distribution_refusal_names_the_callers_band_method(tmp_path):
    """Without a reference point, the profile distribution figure is refused; the advice named
    '--band-method percentile' to Python, and the command printed it only because it was written so."""
    rows = [("old", c, 1.8 + 300 * c ** -0.15) for c in np.geomspace(1e18, 1e21, 7)]
    rows += [("new", c, (1.8 + 300 * (3 * c) ** -0.15) * (1.002 if i % 2 else 0.998))
             for i, c in enumerate(np.geomspace(1e18, 1e21, 7))]
    path = tmp_path / "ladders.csv"
    pd.DataFrame(rows, columns=["family", "flops", "loss"]).to_csv(path, index=False)
    with pytest.raises(ValueError) as raised:
        FIGURES["distribution"](analyze(path, focus="new"))
    assert "add band_method='percentile' (their bootstrap distributions)" in str(raised.value)
    assert "--" not in str(raised.value)
    r = CliRunner().invoke(main, ["plot", str(path), "--kind", "distribution", "--focus", "new", "-o",
                                  str(tmp_path / "d.png")])
    assert r.exit_code == 2 and "add --band-method percentile (their bootstrap distributions)" in r.stderr


def test_axis_limits_on_a_figure_without_those_axes_are_refused_not_dropped(tmp_path):
    """--xlim and --ylim set the multipliers figure's compute and loss axes; the residuals and
    multiplier-curve figures drew their own axes and dropped them without a word (a user asking for
    --ylim -0.02,0.02 on the residuals got the default axis). Refused before fitting, naming the flags."""
    ladder = two_ladders(tmp_path)
    for kind, flags, said in [("residuals", ["--ylim", "-0.02,0.02"], "--ylim: axis limits"),
                              ("multiplier-curve", ["--xlim", "2,6", "--ylim", "0.5,5"], "--xlim and --ylim: axis"),
                              ("distribution", ["--xlim", "1e19,1e23"], "not --kind distribution")]:
        r = CliRunner().invoke(main, ["plot", str(ladder), "--kind", kind, *flags, "-o", str(tmp_path / "f.png")])
        assert r.exit_code == 2 and r.stderr.count("\n") == 1 and said in r.stderr, (kind, r.stderr)
        assert not (tmp_path / "f.png").exists()
    r = CliRunner().invoke(main, ["plot", str(ladder), "--ylim", "1,6", "-o", str(tmp_path / "f.png")])
    assert r.exit_code == 0, r.stderr


FOCUS_NAME, LADDER_NAME, POINT_NAME = "$5 or $6", "a $x^2$ b", r"price $\frac$ ok"   # two dollars: mathtext
POWER_OF_TEN = re.compile(r"\$(\d+(\.\d+)?\\times)?10\^\{-?\d+\}\$")          # a log axis's tick, a budget


def dollar_named_ladders() -> pd.DataFrame:
    """two_ladders' runs, the ladders and the reference point named with dollar signs."""
    flops = np.geomspace(1e18, 1e21, 7)
    noise = np.exp(np.random.default_rng(4).normal(0, 0.004, (2, flops.size)))
    rows = [(LADDER_NAME, c, (1.8 + 300 * c ** -0.15) * e) for c, e in zip(flops, noise[0])]
    rows += [(FOCUS_NAME, c, (1.8 + 300 * (c * 3) ** -0.15) * e) for c, e in zip(flops, noise[1])]
    rows.append((POINT_NAME, 1e23, 1.8 + 300 * (1e23 / 5) ** -0.15))
    return pd.DataFrame(rows, columns=["family", "flops", "loss"])


def _texts_as_set(plot) -> tuple[list[str], list[str]]:
    """The drawn ``plot``'s visible texts as matplotlib sets them: those it reads as plain text,
    '\\$' drawn as '$' and spaces and line breaks as one space, and those it sets as mathtext
    (two unescaped '$')."""
    import matplotlib.pyplot as plt
    from matplotlib.cbook import is_math_text
    from matplotlib.text import Text

    figure, _ = _drawn_at(plot, 72)
    texts = [t.get_text() for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    plt.close(figure)
    plain = [" ".join(t.replace("\\$", "$").split()) for t in texts if not is_math_text(t)]
    return plain, [t for t in texts if is_math_text(t)]


def test_names_with_dollar_signs_are_drawn_as_they_read_in_every_figure():
    """Found by review: names from the data with two dollar signs were set as mathtext, a family
    'a $x^2$ b' drawn 'a x² b' in the legend, and a reference 'price $\\frac$ ok' failed the
    multipliers figure with a mathtext parse error. Every figure now draws names as they read, in
    legends, labels, the arrows' key, panel titles, axis titles and captions; its tick labels
    (and the contours' budgets) stay powers of ten in mathtext, and the user's title mathtext."""
    from scalefit.backtesting import backtest
    from scalefit.plots import backtest_figure, shared_figure
    from scalefit.shared import compare_shared

    frame = dollar_named_ladders()
    ladders = frame[frame["family"] != POINT_NAME]
    result = analyze(frame, focus=FOCUS_NAME)
    percentile = analyze(frame, focus=FOCUS_NAME, band_method="percentile", bootstrap=100)
    n = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    nd = analyze(pd.DataFrame({"family": LADDER_NAME, "params": n, "tokens": d,
                               "loss": 1.7 + 400 * n ** -0.34 + 2000 * d ** -0.36}), law="chinchilla", bootstrap=0)
    title = "$L = E + A C^{-b}$"
    figures = {
        "multipliers": (multiplier_figure(result, FigureOptions(title=title)),
                        [FOCUS_NAME, LADDER_NAME, POINT_NAME, f"vs {LADDER_NAME}: "]),
        "multipliers keyed": (multiplier_figure(result, FigureOptions(xlim=(1e17, 1e25))),
                              [FOCUS_NAME, LADDER_NAME, f"vs {LADDER_NAME} (largest run)", f"vs {POINT_NAME}"]),
        "residuals": (FIGURES["residuals"](result), [FOCUS_NAME, LADDER_NAME]),
        "multiplier-curve": (FIGURES["multiplier-curve"](result, points=8),
                             [f"vs {LADDER_NAME}", f"{FOCUS_NAME}'s compute multiplier", f"{FOCUS_NAME} needs less"]),
        "distribution": (FIGURES["distribution"](result), [f"vs {POINT_NAME}", f"vs {LADDER_NAME}"]),
        "distribution percentile": (FIGURES["distribution"](percentile),
                                    [f"vs {POINT_NAME}", f"vs {LADDER_NAME} (largest run"]),
        "contours": (FIGURES["contours"](nd), [f"family {LADDER_NAME}: L(N, D)"]),
        "backtest": (backtest_figure(backtest(ladders, hold_out=2)), [FOCUS_NAME, LADDER_NAME]),
        "shared": (shared_figure(compare_shared(ladders, focus=FOCUS_NAME)),
                   [f"{FOCUS_NAME} (focus)", f"{LADDER_NAME}: M = "]),
    }
    for kind, (plot, names) in figures.items():
        plain, maths = _texts_as_set(plot)
        for name in names:
            assert any(name in text for text in plain), (kind, name, plain)
        assert all(POWER_OF_TEN.fullmatch(text) or text == title for text in maths), (kind, maths)
        assert kind != "multipliers" or title in maths       # the user's title: mathtext, as given


def test_names_the_font_cannot_draw_are_warned_about_once_by_every_way_of_drawing(tmp_path):
    """Found by a new-user review: a family named '模型' was labelled with two boxes in every figure,
    unsaid (the default font has no CJK glyphs). The command, the report and a figure drawn from
    Python now say which characters and names; names the font has (accents, $, figure spaces) do not."""
    flops = np.geomspace(1e19, 1e22, 6)
    rows = [("模型", c, 1.8 + 300 * c ** -0.15) for c in flops] + [("Ørsted-$", 4e23, 1.8 + 300 * 1e23 ** -0.15)]
    path = tmp_path / "cjk.csv"
    pd.DataFrame(rows, columns=["family", "flops", "loss"]).to_csv(path, index=False)
    runner = CliRunner()
    plot = runner.invoke(main, ["plot", str(path), "-o", str(tmp_path / "f.png"), "--kind", "residuals"])
    report = runner.invoke(main, ["report", str(path), "-o", str(tmp_path / "r.md")])
    for r in (plot, report):
        assert r.exit_code == 0, r.output
        lines = [line for line in r.stderr.splitlines() if "no glyph" in line]
        assert len(lines) == 1, r.stderr
        assert "'模', '型' in '模型'" in lines[0] and "Ørsted" not in lines[0]
    assert "no glyph for '模', '型'" in (tmp_path / "r.md").read_text(encoding="utf-8")
    result = analyze(pd.read_csv(path), bootstrap=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        FIGURES["residuals"](result)
    assert [str(w.message) for w in caught if "no glyph" in str(w.message)] == [lines[0].split("warning: ", 1)[1]]
    latin = analyze(pd.read_csv(path).replace({"模型": "Ünïcode café"}), bootstrap=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        FIGURES["residuals"](latin)
    assert not [w for w in caught if "no glyph" in str(w.message)]


def test_the_font_check_asks_the_font_plotnine_draws_the_figures_in():
    """Found by review: the check asked matplotlib's default font, but plotnine draws in its own
    base family, so with ``plotnine.options.base_family`` set to a font that has the glyphs (as for
    CJK names) the figure was drawn right and still warned of boxes. STIXGeneral, which has the
    'ᶁ' DejaVu Sans lacks, stands in for a CJK font."""
    import plotnine

    flops = np.geomspace(1e19, 1e22, 6)
    result = analyze(pd.DataFrame([("ᶁ-model", c, 1.8 + 300 * c ** -0.15) for c in flops],
                                  columns=["family", "flops", "loss"]), bootstrap=0)

    def warned(figure_font: str) -> list[str]:
        before = plotnine.options.set_option("base_family", figure_font)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                _drawn_at(FIGURES["residuals"](result), 100)
        finally:
            plotnine.options.set_option("base_family", before)
        return [str(w.message) for w in caught if "no glyph" in str(w.message) or "missing from font" in str(w.message)]

    assert any("no glyph for 'ᶁ'" in w for w in warned("sans-serif"))    # DejaVu Sans: a box, and said
    assert warned("STIXGeneral") == []                                   # drawn, and nothing said


@pytest.mark.parametrize("kind", ["multipliers", "distribution", "residuals"])
def test_large_text_takes_its_room_from_a_taller_figure_not_the_panel(kind):
    """Found by review: the natural height counted 8-pt text, so from Python with base_size 12 or 20
    the panels were squeezed (the demo's distribution panels 0.41 in high at base size 12 and gone at
    20, the multipliers panel 0.79 in at 12) and the captions and axis titles ran off the figure.
    Text s times the default's now takes the layout of the default figure s times narrower, scaled
    up: each panel is at least as high as at the default size, and the figure's own texts stay on it."""
    from scalefit.plots import drawn_panel_size

    result = analyze(ROOT / "data" / "ladders" / "muse.csv")
    default = drawn_panel_size(FIGURES[kind](result))[1]
    for options in (FigureOptions(base_size=12), FigureOptions(width=5, base_size=12),
                    FigureOptions(width=7, base_size=20)):
        plot = FIGURES[kind](result, options=options)
        assert drawn_panel_size(plot)[1] >= default - 0.01, (options, drawn_panel_size(plot), default)
        # the reference points' names too, placed by the panel's width (at base size 20 one still reaches
        # past the multipliers panel: there the names are left out of the check)
        allowed = set(result.ladder.families) if options.base_size == 20 else set()
        assert not [text for text in _texts_outside(plot) if text not in allowed], options


def test_reference_names_at_a_large_base_size_are_placed_by_the_panels_width():
    """The panel narrows as the y axis's text grows with the base size: placed as if it did not,
    the demo's reference names ran past the multipliers panel at base sizes 12 and 16 (profile bands)."""
    result = analyze(ROOT / "data" / "ladders" / "muse.csv", bootstrap=0)
    for options in (FigureOptions(base_size=12), FigureOptions(width=4, base_size=16)):
        assert not _texts_outside(multiplier_figure(result, options)), options
