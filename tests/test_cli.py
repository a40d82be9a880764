"""Example tests of the ``scalefit`` command line.

Ladders are built in ``tmp_path`` from a known law, loss = 1.5 + 200 * C^-0.15, with a tiny
deterministic multiplicative noise, so the expected multipliers are known:

- a reference run at compute 8e20 with the law's loss at 2e20: multiplier of the focus ~ 4;
- a second ladder that needs 3x the compute for every loss: multiplier of the focus ~ 3.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit import __version__
from scalefit.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "ladders" / "muse.csv"
PUBLISHED = {"Llama-4-Maverick-Base": 10.3, "DeepSeek-V3.1-Base": 8.2, "Kimi-K2-Base": 3.3}
BOOT = "200"  # small bootstrap: the whole file stays fast

FLOPS = np.geomspace(1e18, 1e21, 8)
NOISE = 1.0 + 0.002 * np.sin(np.arange(8) * 2.3)  # deterministic, +-0.2%
REF_FLOPS, REF_AT = 8e20, 2e20  # reference run: the law's loss at 2e20, reached with 8e20 -> ~4x
BASE_SHIFT = 3.0  # the 'base' ladder needs 3x the compute of 'new' for the same loss


# ----- helpers -----------------------------------------------------------------------------------

def law_loss(flops, shift=1.0):
    return 1.5 + 200.0 * (np.asarray(flops, dtype=float) / shift) ** -0.15


def ladder_rows(family, shift=1.0, noise=NOISE):
    loss = law_loss(FLOPS, shift) * noise
    return [(family, f"{family}-{i}", repr(float(c)), repr(float(l)))
            for i, (c, l) in enumerate(zip(FLOPS, loss))]


def reference_row(name="ref"):
    return (name, name, repr(REF_FLOPS), repr(float(law_loss(REF_AT))))


def write_csv(path, header, rows, comments=("# synthetic ladder: loss = 1.5 + 200 * C^-0.15",)):
    lines = list(comments) + [",".join(header)] + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_ladder(tmp_path, name="ladder.csv", *, base=False, copy=False, reference=True):
    rows = ladder_rows("new")
    if base:
        rows += ladder_rows("base", BASE_SHIFT, NOISE[::-1])
    if copy:
        rows += ladder_rows("new-copy")
    if reference:
        rows.append(reference_row())
    return write_csv(tmp_path / name, ("family", "run", "flops", "loss"), rows)


def run(*args):
    """Invoke the CLI in-process; stdout and stderr are kept apart (click >= 8.2)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def no_crash(result):
    """No exception other than click's normal exit, and no traceback text anywhere."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout
    assert "Traceback" not in result.stderr


def assert_input_error(result, *fragments, line=None):
    """Exit 2, nothing on stdout, exactly one stderr line 'scalefit: error: ...' with the fragments."""
    no_crash(result)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    message = lines[0]
    assert message.startswith("scalefit: error: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    if line is not None:
        assert re.search(rf"\bline {line}\b", message), (line, message)
    return message


def strict_json(text):
    """Parse JSON refusing NaN / Infinity constants."""
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def fit_json(path, *args):
    result = run("fit", path, "--bootstrap", BOOT, "--format", "json", *args)
    no_crash(result)
    assert result.exit_code == 0, result.stderr
    return strict_json(result.stdout)


def multiplier(data, reference, where=None, loss=None):
    rows = [m for m in data["multipliers"] if m["reference"] == reference
            and (where is None or m["where"] == where)
            and (loss is None or math.isclose(m["loss"], loss, rel_tol=1e-12))]
    assert len(rows) == 1, (reference, where, loss, data["multipliers"])
    return rows[0]


# ----- help ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["--help"], "fit"),
    (["-h"], "fit"),
    (["fit", "--help"], "--bootstrap"),
])
def test_help_exits_zero(args, expected):
    result = run(*args)
    no_crash(result)
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    assert expected in result.stdout
    assert result.stderr == ""


def test_fit_help_lists_every_option():
    out = run("fit", "--help").stdout
    for option in ("--law", "--focus", "--bootstrap", "--level", "--seed", "--at-loss",
                   "--at-perplexity", "--format", "--output"):
        assert option in out


@pytest.mark.parametrize("args, fragment", [
    (["fit", DEMO, "--level", "1"], "Invalid value for '--level'"),
    (["fit", DEMO, "--law", "foo"], "Invalid value for '--law'"),
    (["fit", DEMO, "--no-such-option"], "No such option"),
    (["fit"], "Missing argument 'LADDER.csv'"),
    (["fitt"], "No such command 'fitt'"),
])
def test_usage_errors_are_one_line_too(args, fragment):
    message = assert_input_error(run(*args), fragment)
    assert message.endswith("--help')"), message


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


@pytest.mark.parametrize("rows, fragment", [
    ("a,a1,1e19,3.2\na,a2,1e20,2.9\na,a3,1e21,2.7\na,a3,1e21,2.7\na,a4,1e22,2.6\n",
     "1 run appears on more than one row (2 rows): lines 5 and 6 (run 'a3' at compute 1e+21 in family 'a')"),
    ("a,a1,1e19,24.5\na,a2,1e20,18\na,a3,1e21,14\na,a4,1e22,10\n",
     "line 3, column 'loss': 24.5 nats per token is implausibly high"),
])
def test_suspicious_but_valid_rows_are_fitted_with_a_warning(tmp_path, rows, fragment):
    path = tmp_path / "suspicious.csv"
    path.write_text("# c\nfamily,run,flops,loss\n" + rows)
    result = run("fit", path, "--bootstrap", "0")
    assert result.exit_code == 0, result.stderr
    assert any(line.startswith("scalefit: warning: ") and fragment in line for line in result.stderr.splitlines()), \
        result.stderr


def test_rows_repeating_compute_and_loss_without_run_names_are_warned_about(tmp_path):
    path = write_csv(tmp_path / "copied.csv", ("family", "flops", "loss"),
                     [("a", "1e19", "3.2"), ("a", "1e20", "2.9"), ("a", "1e20", "2.9"), ("a", "1e21", "2.7"),
                      ("a", "1e22", "2.6")])
    result = run("fit", path, "--bootstrap", "0")
    assert result.exit_code == 0 and "lines 4 and 5 (the same loss at compute 1e+20" in result.stderr, result.stderr
    assert "on more than one row" not in run("fit", make_ladder(tmp_path), "--bootstrap", "0").stderr


def test_repeated_rows_give_one_bounded_warning_and_blank_run_names_count_as_unnamed(tmp_path):
    rows = [("a", "", f"{c:.6g}", f"{1.8 + 1000 * c ** -0.15:.6g}") for c in np.geomspace(1e19, 1e22, 400)]
    result = run("fit", write_csv(tmp_path / "copied.csv", ("family", "run", "flops", "loss"), rows + rows),
                 "--bootstrap", "0")
    warnings = [w for w in result.stderr.splitlines() if "on more than one row" in w]
    assert result.exit_code == 0 and len(warnings) == 1, result.stderr
    assert "400 runs appear on more than one row (800 rows)" in warnings[0] and "and 397 more such groups" in warnings[0] and len(warnings[0]) < 600


def test_checkpoints_of_one_run_are_not_repeated_runs(tmp_path):
    """Rows of one named run at different compute are its checkpoints, not copies."""
    rows = [("a", f"a{i % 2}", f"1e{19 + i}", f"{3.2 - 0.15 * i:.2f}") for i in range(5)]
    result = run("fit", write_csv(tmp_path / "checkpoints.csv", ("family", "run", "flops", "loss"), rows),
                 "--bootstrap", "0")
    assert result.exit_code == 0 and "on more than one row" not in result.stderr, result.stderr


@pytest.mark.parametrize("command, output", [("plot", "x.png"), ("report", "x.html")])
def test_plot_and_report_take_the_targets_fit_takes(tmp_path, command, output):
    path = make_ladder(tmp_path)
    assert "--at-perplexity" in run(command, "--help").stdout
    assert_input_error(run(command, path, "-o", tmp_path / output, "--at-perplexity", "0.5"), "--at-perplexity 0.5")
    assert_input_error(run(command, path, "-o", tmp_path / output, "--at-loss", "inf"), "--at-loss inf", "finite")
    assert not (tmp_path / output).exists()


def test_report_compares_ladders_at_a_target_perplexity(tmp_path):
    path = make_ladder(tmp_path, base=True)
    out = tmp_path / "r.md"
    result = run("report", path, "-o", out, "--bootstrap", "0", "--at-perplexity", "7.5")
    assert result.exit_code == 0, result.stderr
    assert f"{math.log(7.5):.4g}" in out.read_text()          # the target's loss, ln 7.5, has its row


def test_dataframe_errors_name_rows_by_index_label():
    """A DataFrame has no lines: a bad row is named by its index label (what frame.loc takes), or
    by position (frame.iloc) when labels repeat; repeated rows are listed the same way."""
    from scalefit import LadderError, analyze, read_ladder

    frame = pd.DataFrame({"family": ["a"] * 4, "flops": [1e19, 1e20, 1e21, 1e22], "loss": [3.0, 2.9, -1.0, 2.5]},
                         index=[10, 11, 12, 13])
    with pytest.raises(LadderError, match=r"^<DataFrame>, row 12, column 'loss': -1 is not positive"):
        analyze(frame)
    with pytest.raises(LadderError, match=r"^<DataFrame>, row 'c', column 'loss'"):
        analyze(frame.set_axis(list("abcd")))
    with pytest.raises(LadderError, match=r"^<DataFrame>, row at position 2, column 'loss'"):
        analyze(frame.set_axis([0, 0, 1, 1]))
    repeated = pd.concat([frame.assign(loss=[3.0, 2.9, 2.7, 2.5]).iloc[[0, 1, 2, 3, 3]]]).set_axis([5, 6, 7, 8, 9])
    assert "rows 8 and 9 (the same loss" in read_ladder(repeated, name="mine").warnings[0]
    assert read_ladder(repeated, name="mine").runs["where"].tolist() == [f"row {i}" for i in range(5, 10)]


def test_csv_of_a_file_with_nothing_to_compare_is_its_header(tmp_path):
    path = make_ladder(tmp_path, reference=False)
    result = run("fit", path, "--bootstrap", "0", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert list(pd.read_csv(io.StringIO(result.stdout)).columns[:3]) == ["focus", "reference", "reference_kind"]
    assert result.stdout.count("\n") == 1


def test_every_public_name_and_every_name_the_readme_uses_resolves():
    import scalefit

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    used = set(re.findall(r"\bscalefit\.([A-Za-z_]\w*)\(", readme))
    assert used, "the README shows no scalefit.name(...) call"
    for name in sorted(set(scalefit.__all__) | used):
        assert getattr(scalefit, name) is not None, name


# ----- the demo ladder ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_json():
    result = run("fit", DEMO, "--bootstrap", BOOT, "--format", "json")
    no_crash(result)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_demo_table_shows_references_and_published_multipliers():
    result = run("fit", DEMO, "--bootstrap", BOOT)
    no_crash(result)
    assert result.exit_code == 0
    out = result.stdout
    for name, published in PUBLISHED.items():
        row = [line for line in out.splitlines() if line.strip().startswith(name)]
        assert len(row) == 1, out
        assert f"{published}x" in row[0].split(), row[0]
    assert "95% band" in out
    assert "Traceback" not in result.stderr


def test_demo_json_structure(demo_json):
    data = strict_json(demo_json)
    assert data["focus"] == "muse"
    assert data["metric"] == "perplexity"
    assert data["law"]["name"] == "saturating"
    assert data["bands"] == {"method": "profile", "level": 0.95}
    assert data["bootstrap"]["resamples"] == 0  # the default profile bands do not resample
    assert [f["family"] for f in data["families"]] == ["muse"]
    fam = data["families"][0]
    assert fam["runs"] == 10
    assert isinstance(fam["objective"], float) and fam["objective"] >= 0
    assert set(fam["parameters"]) == {"E", "A", "alpha"}
    for name, p in fam["parameters"].items():
        assert {"value", "low", "high"} <= set(p), name
        assert p["low"] <= p["value"] <= p["high"], (name, p)
    keys = {"reference", "loss", "reference_flops", "focus_flops", "multiplier", "low", "high",
            "unreachable_fraction", "extrapolation_decades"}
    assert len(data["multipliers"]) == 3
    for m in data["multipliers"]:
        assert keys <= set(m), set(m) ^ keys
        assert m["where"] == "reference run"
        assert m["low"] <= m["multiplier"] <= m["high"], m
        assert m["unreachable_fraction"] is None  # profile bands draw nothing; percentile ones do
        assert m["extrapolation_decades"] > 0  # the references are far beyond the muse ladder
        assert math.isclose(m["multiplier"], m["reference_flops"] / m["focus_flops"], rel_tol=1e-9)
        # perplexity files also report the target as a perplexity, = exp(loss)
        assert math.isclose(m["perplexity"], math.exp(m["loss"]), rel_tol=1e-12)


def test_demo_json_multipliers_round_to_published(demo_json):
    data = strict_json(demo_json)
    got = {m["reference"]: round(m["multiplier"], 1) for m in data["multipliers"]}
    assert got == PUBLISHED


def test_demo_json_reference_flops_match_file(demo_json):
    data = strict_json(demo_json)
    by_ref = {m["reference"]: m["reference_flops"] for m in data["multipliers"]}
    assert by_ref == {"Llama-4-Maverick-Base": 2.2440e24, "DeepSeek-V3.1-Base": 3.4721e24,
                      "Kimi-K2-Base": 2.9760e24}


def test_demo_json_has_no_nan_text(demo_json):
    strict_json(demo_json)  # raises on NaN / Infinity
    assert "NaN" not in demo_json and "Infinity" not in demo_json


def test_demo_csv_one_row_per_multiplier(demo_json):
    result = run("fit", DEMO, "--bootstrap", BOOT, "--format", "csv")
    no_crash(result)
    assert result.exit_code == 0
    frame = pd.read_csv(io.StringIO(result.stdout))
    data = strict_json(demo_json)
    assert len(frame) == len(data["multipliers"]) == 3
    assert list(frame["reference"]) == [m["reference"] for m in data["multipliers"]]
    for col in ("multiplier", "low", "high", "loss", "perplexity"):
        assert col in frame.columns
    np.testing.assert_allclose(frame["multiplier"], [m["multiplier"] for m in data["multipliers"]],
                               rtol=1e-8)
    assert frame["multiplier"].round(1).tolist() == list(PUBLISHED.values())


# ----- a synthetic ladder with known answers -----------------------------------------------------

def test_known_law_gives_known_multipliers(tmp_path):
    data = fit_json(make_ladder(tmp_path, base=True))
    assert data["focus"] == "new"  # tie on run count: the first family in the file
    assert [f["family"] for f in data["families"]] == ["new", "base"]
    ref = multiplier(data, "ref", "reference run")
    assert 3.5 < ref["multiplier"] < 4.6, ref
    assert ref["reference_flops"] == REF_FLOPS
    base = multiplier(data, "base", "largest run")
    assert 2.6 < base["multiplier"] < 3.5, base
    e = data["families"][0]["parameters"]["E"]["value"]
    assert 1.4 < e < 1.6  # the law's irreducible loss is 1.5


def test_table_and_csv_agree_with_json(tmp_path):
    path = make_ladder(tmp_path, base=True)
    data = fit_json(path)
    csv_result = run("fit", path, "--bootstrap", BOOT, "--format", "csv")
    frame = pd.read_csv(io.StringIO(csv_result.stdout))
    assert len(frame) == len(data["multipliers"]) == 2
    np.testing.assert_allclose(frame["multiplier"], [m["multiplier"] for m in data["multipliers"]],
                               rtol=1e-8)
    table = run("fit", path, "--bootstrap", BOOT).stdout
    section = table.split("Equivalent-compute multipliers of new")[1]
    for m in data["multipliers"]:
        row = next(line for line in section.splitlines() if line.strip().startswith(m["reference"] + " "))
        assert f"{m['multiplier']:.3g}x" in row


# ----- --output ------------------------------------------------------------------------------------

def test_output_writes_file_and_nothing_on_stdout(tmp_path):
    path = make_ladder(tmp_path)
    out = tmp_path / "result.json"
    result = run("fit", path, "--bootstrap", BOOT, "--format", "json", "--output", out)
    no_crash(result)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert strict_json(out.read_text(encoding="utf-8")) == fit_json(path)
    assert not list(tmp_path.glob(".scalefit-*"))  # no temporary file left behind


def test_output_short_option_and_overwrite(tmp_path):
    path = make_ladder(tmp_path)
    out = tmp_path / "result.csv"
    out.write_text("old content\n", encoding="utf-8")
    result = run("fit", path, "--bootstrap", BOOT, "--format", "csv", "-o", out)
    assert result.exit_code == 0
    assert result.stdout == ""
    frame = pd.read_csv(out)
    assert list(frame["reference"]) == ["ref"]


def test_output_to_missing_directory(tmp_path):
    path = make_ladder(tmp_path)  # a clean ladder: no warnings
    target = tmp_path / "no-such-dir" / "result.json"
    message = assert_input_error(run("fit", path, "--bootstrap", BOOT, "-o", target),
                                 "--output", "does not exist")
    assert str(target.parent) in message
    assert not target.parent.exists()


def test_output_to_a_directory_fails_cleanly(tmp_path):
    path = make_ladder(tmp_path)
    target = tmp_path / "adir"
    target.mkdir()
    assert_input_error(run("fit", path, "--bootstrap", BOOT, "-o", target), "--output", str(target))
    assert list(target.iterdir()) == []
    assert not list(tmp_path.glob(".scalefit-*"))


def test_output_to_missing_directory_is_one_line_even_with_warnings(tmp_path):
    # the demo ladder emits extrapolation warnings; a bad --output must still give one line only
    target = tmp_path / "no-such-dir" / "result.json"
    assert_input_error(run("fit", DEMO, "--bootstrap", "20", "-o", target), "does not exist")


@pytest.mark.parametrize("command", ["fit", "optimal", "plot", "report"])
@pytest.mark.parametrize("how", ["same path", "relative path", "symbolic link"])
def test_output_never_replaces_the_input_ladder(tmp_path, monkeypatch, command, how):
    name = {"fit": "ladder.csv", "optimal": "ladder.json", "plot": "ladder.png", "report": "ladder.md"}[command]
    path = make_ladder(tmp_path, name)
    before = path.read_bytes()
    monkeypatch.chdir(tmp_path)
    target = {"same path": path, "relative path": Path(".") / ".." / tmp_path.name / name,
              "symbolic link": tmp_path / ("link" + Path(name).suffix)}[how]
    if how == "symbolic link":
        target.symlink_to(path)
    extra = ["--flops", "1e21"] if command == "optimal" else []
    assert_input_error(run(command, path, *extra, "--bootstrap", "0", "-o", target), "is the input file")
    assert path.read_bytes() == before


@pytest.mark.parametrize("case", ["missing-ladder", "bad-value", "missing-focus", "bad-at-loss"])
def test_existing_output_untouched_when_the_command_fails(tmp_path, case):
    good = make_ladder(tmp_path)
    out = tmp_path / "result.json"
    before = b'{"previous": "result"}\n'
    out.write_bytes(before)
    args = {
        "missing-ladder": [tmp_path / "absent.csv"],
        "bad-value": [write_csv(tmp_path / "bad.csv", ("family", "flops", "loss"),
                                [("a", "1e18", "3.0"), ("a", "1e19", "oops")])],
        "missing-focus": [good, "--focus", "nobody"],
        "bad-at-loss": [good, "--at-loss", "-1"],
    }[case]
    result = run("fit", *args, "--bootstrap", BOOT, "--format", "json", "-o", out)
    assert_input_error(result)
    assert out.read_bytes() == before
    assert not list(tmp_path.glob(".scalefit-*"))


# ----- seeds and bootstrap -------------------------------------------------------------------------

def test_same_seed_gives_identical_json(tmp_path):
    path = make_ladder(tmp_path, base=True)
    a = run("fit", path, "--bootstrap", BOOT, "--format", "json", "--seed", "7")
    b = run("fit", path, "--bootstrap", BOOT, "--format", "json", "--seed", "7")
    assert a.exit_code == b.exit_code == 0
    assert a.stdout_bytes == b.stdout_bytes
    assert strict_json(a.stdout)["bootstrap"]["seed"] == 7


def test_different_seed_gives_different_bands(tmp_path):
    path = make_ladder(tmp_path, base=True)
    a = fit_json(path, "--seed", "1", "--band-method", "percentile")
    b = fit_json(path, "--seed", "2", "--band-method", "percentile")
    # the point estimates do not depend on the seed ...
    assert [m["multiplier"] for m in a["multipliers"]] == [m["multiplier"] for m in b["multipliers"]]
    # ... the bands do
    bands_a = [(m["low"], m["high"]) for m in a["multipliers"]]
    bands_b = [(m["low"], m["high"]) for m in b["multipliers"]]
    assert bands_a != bands_b
    pa = a["families"][0]["parameters"]["alpha"]
    pb = b["families"][0]["parameters"]["alpha"]
    assert (pa["low"], pa["high"]) != (pb["low"], pb["high"])


def test_level_narrows_bands(tmp_path):
    path = make_ladder(tmp_path)
    wide = multiplier(fit_json(path, "--level", "0.95"), "ref")
    narrow_json = fit_json(path, "--level", "0.5")
    narrow = multiplier(narrow_json, "ref")
    assert narrow_json["bands"] == {"method": "profile", "level": 0.5}
    assert wide["low"] <= narrow["low"] <= narrow["high"] <= wide["high"]
    assert (narrow["high"] - narrow["low"]) < (wide["high"] - wide["low"])


def test_a_level_is_shown_with_the_digits_it_was_given(tmp_path):
    """Found by a walkthrough: plan --level 0.9999999 printed '100% profile bands', a band it is not
    ('{:.0%}'); every command's table, a report and the results' reprs use one formatter."""
    import scalefit
    from scalefit.analysis import level_percent, tail_percent

    assert [level_percent(x) for x in (0.95, 0.8, 0.999, 0.995, 0.9999999, np.float64(0.5))] == \
        ["95%", "80%", "99.9%", "99.5%", "99.99999%", "50%"]
    assert (tail_percent(0.95), tail_percent(0.995)) == ("2.5%", "0.25%")
    path = make_ladder(tmp_path, base=True)
    nd = tmp_path / "nd.csv"
    n = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    pd.DataFrame({"family": "f", "params": n, "tokens": d,
                  "loss": 1.7 + 400 * n ** -0.34 + 2000 * d ** -0.36}).to_csv(nd, index=False)
    commands = {"fit": ["fit", path], "backtest": ["backtest", path], "compare": ["compare", path],
                "optimal": ["optimal", nd, "--flops", "1e20", "--bootstrap", "20"],
                "plan": ["plan", "--simulations", "20", "--extra-run", "1e22"]}
    for name, args in commands.items():
        for level, shown in (("0.999", "99.9%"), ("0.9999999", "99.99999%")):
            r = run(*args, "--level", level)
            assert r.exit_code == 0, (name, r.stderr)
            assert f"{shown} " in r.stdout and "100%" not in r.stdout.split("\n\n")[0], (name, r.stdout)
    report = tmp_path / "r.md"
    r = run("report", path, "-o", report, "--level", "0.999")
    assert r.exit_code == 0, r.stderr
    assert "Bands: 99.9% " in report.read_text() and "99.9% band" in report.read_text()
    result = scalefit.analyze(path, level=0.999)
    for obj in (result, scalefit.backtest(path, level=0.999), scalefit.compare_shared(path, level=0.999)):
        assert "99.9% " in repr(obj), repr(obj)
    few = scalefit.analyze(path, level=0.995, band_method="percentile", bootstrap=50).warnings
    assert any("few for 99.5% percentile bands: their ends are the outermost 0.25% " in w for w in few), few


def test_bootstrap_zero_table_has_no_band(tmp_path):
    path = make_ladder(tmp_path)
    result = run("fit", path, "--bootstrap", "0")
    no_crash(result)
    assert result.exit_code == 0
    assert "band" not in result.stdout.split("bands: none")[1]  # no band column after the header line
    assert "bands: none" in result.stdout
    assert "[" not in result.stdout  # bands are printed as [low, high]
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("ref "))
    assert "x" in row


def test_bootstrap_zero_json_has_null_bands(tmp_path):
    data = fit_json(make_ladder(tmp_path), "--bootstrap", "0")  # later option wins
    assert data["bootstrap"]["resamples"] == 0
    for fam in data["families"]:
        for p in fam["parameters"].values():
            assert p["low"] is None and p["high"] is None
            assert isinstance(p["value"], float)
    m = multiplier(data, "ref")
    assert m["low"] is None and m["high"] is None
    assert isinstance(m["multiplier"], float) and 3.5 < m["multiplier"] < 4.6


def test_negative_seed_is_handled(tmp_path):
    result = run("fit", make_ladder(tmp_path), "--bootstrap", "20", "--seed", "-1")
    no_crash(result)
    assert result.exit_code in (0, 2)


def test_bootstrap_zero_table_numbers_use_the_table_style(tmp_path):
    out = run("fit", make_ladder(tmp_path), "--bootstrap", "0").stdout
    assert "e+" not in out, out


# ----- --focus ---------------------------------------------------------------------------------------

def test_focus_missing_family_lists_families(tmp_path):
    path = make_ladder(tmp_path, base=True)
    message = assert_input_error(run("fit", path, "--focus", "nobody", "--bootstrap", BOOT),
                                 str(path), "'nobody'")
    assert "new, base, ref" in message


def test_focus_on_a_reference_point_is_an_error(tmp_path):
    path = make_ladder(tmp_path)
    assert_input_error(run("fit", path, "--focus", "ref", "--bootstrap", BOOT), str(path), "'ref'",
                       "single run")


def test_focus_selects_the_other_ladder(tmp_path):
    data = fit_json(make_ladder(tmp_path, base=True), "--focus", "base")
    assert data["focus"] == "base"
    m = multiplier(data, "new", "largest run")
    assert 1 / 3.5 < m["multiplier"] < 1 / 2.6  # base needs ~3x more compute than new


# ----- bad input files -----------------------------------------------------------------------------

HEAD = "# comment line 1\n# comment line 2\nfamily,run,flops,loss\n"  # runs start on line 4
GOOD_RUNS = "".join(f"a,a{i},1e{18 + i},{3.0 - 0.1 * i}\n" for i in range(5))  # lines 4..8

BAD_FILES = [
    # id, content, fragments expected in the message, line number (or None), extra args
    ("empty", b"", ["empty"], None, []),
    ("whitespace-only", b"  \n\n \t\n", ["empty"], None, []),
    ("comments-only", b"# just a comment\n", ["no header"], None, []),
    ("binary", b"family,flops,loss\n\x00\x01\x02\xff\xfe\x00", ["binary"], None, []),
    ("not-utf8", "family,flops,loss\nm\xfcnchen,1e18,3.0\n".encode("latin-1"), ["UTF-8"], None, []),
    ("header-only", HEAD, ["no runs"], None, []),
    ("no-family-column", "# c\nrecipe,flops,loss\na,1e18,3\n", ["'family'"], None, []),
    ("misspelled-flops", "# c\nfamily,flop,loss\na,1e18,3\n", ["'flop'", "did you mean 'flops'"], None, []),
    ("misspelled-perplexity", "# c\nfamily,flops,perplexty\na,1e18,30\n",
     ["'perplexty'", "did you mean 'perplexity'"], None, []),
    ("no-compute-column", "# c\nfamily,loss\na,3\n", ["compute"], None, []),
    ("compute-column-named-otherwise", "# c\nfamily,compute,loss\na,1e19,3\n",
     ["no compute column", "found 'compute'", "rename it to 'flops'"], None, []),
    ("metric-column-named-otherwise", "# c\nfamily,flops,train_loss\na,1e19,3\n",
     ["no metric column", "found 'train_loss'"], None, []),
    ("metric-column-named-ppl", "# c\nfamily,flops,ppl\na,1e19,30\n", ["found 'ppl'", "'perplexity'"], None, []),
    ("several-metric-candidates", "# c\nfamily,flops,loss_de,loss_val\na,1e19,3,3\n",
     ["found 2 candidates, 'loss_de', 'loss_val'", "the one you mean"], None, []),
    ("params-without-tokens", "# c\nfamily,params,loss\na,1e9,3\n", ["'tokens'"], None, []),
    ("no-metric-column", "# c\nfamily,flops\na,1e18\n", ["'loss'", "'perplexity'"], None, []),
    ("loss-and-perplexity", "# c\nfamily,flops,loss,perplexity\na,1e18,3,20\n",
     ["'loss'", "'perplexity'"], None, []),
    ("duplicate-column", "# c\nfamily,flops,loss,loss\na,1e18,3,3\n", ["'loss'", "more than once"], None, []),
    ("one-column", "# c\nfamily\na\n", ["header"], 2, []),
    ("non-numeric-loss", HEAD + GOOD_RUNS + "a,a9,1e23,abc\n", ["'loss'", "abc"], 9, []),
    ("empty-loss", HEAD + "a,a0,1e18,\n" + GOOD_RUNS, ["'loss'", "empty"], 4, []),
    ("nan-loss", HEAD + GOOD_RUNS + "a,a9,1e23,nan\n", ["'loss'", "nan", "finite"], 9, []),
    ("inf-flops", HEAD + "a,a0,inf,3.0\n" + GOOD_RUNS, ["'flops'", "inf", "finite"], 4, []),
    ("overflowing-flops", HEAD + GOOD_RUNS + "a,a9,1e400,2.0\n", ["'flops'", "finite"], 9, []),
    ("zero-flops", HEAD + GOOD_RUNS + "a,a9,0,2.0\n", ["'flops'", "positive"], 9, []),
    ("negative-flops", HEAD + "a,a0,-1e18,3.0\n" + GOOD_RUNS, ["'flops'", "positive"], 4, []),
    ("zero-loss", HEAD + GOOD_RUNS + "a,a9,1e23,0\n", ["'loss'", "positive"], 9, []),
    ("vanishing-loss", HEAD + GOOD_RUNS + "a,a9,1e23,1e-200\n", ["'loss'", "1e-200", "nats per token"], 9, []),
    ("vanishing-perplexity", "# c\nfamily,flops,perplexity\na,1e18,20\na,1e19,1.0000000001\n",
     ["'perplexity'", "1.0000000001", "nats per token"], 4, []),
    ("negative-params", "# c\nfamily,params,tokens,loss\na,1e9,2e10,3\na,-1e9,2e10,3\n",
     ["'params'", "positive"], 4, []),
    ("perplexity-one", "# c\nfamily,flops,perplexity\na,1e18,20\na,1e19,1\n", ["'perplexity'", "above 1"], 4, []),
    ("perplexity-below-one", "# c\nfamily,flops,perplexity\na,1e18,0.5\n", ["'perplexity'", "above 1"], 3, []),
    ("empty-family", HEAD + GOOD_RUNS + ",a9,1e23,2.0\n", ["'family'", "empty"], 9, []),
    ("too-many-fields", HEAD + GOOD_RUNS + "a,a9,1e23,2.0,extra\n", ["5 fields", "header has 4"], 9, []),
    ("too-few-fields", HEAD + "a,a0,1e18\n" + GOOD_RUNS, ["3 fields", "header has 4"], 4, []),
    ("too-few-runs-saturating", HEAD + "r,r,1e22,2.0\n" + "".join(GOOD_RUNS.splitlines(True)[:3]),
     ["family 'a' has 3 runs", "at least 4"], 5, []),
    ("too-few-runs-power", HEAD + "r,r,1e22,2.0\n" + "".join(GOOD_RUNS.splitlines(True)[:2]),
     ["family 'a' has 2 runs", "at least 3"], 5, ["--law", "power"]),
    ("one-compute-value", HEAD + "r,r,1e22,2.0\n" + "".join(f"a,a{i},1e19,{3 - 0.1 * i}\n" for i in range(5)),
     ["'flops'", "one compute value"], 5, []),
    ("two-compute-values-saturating",
     HEAD + "".join(f"a,a{i},1e{18 + i % 2},{3 - 0.1 * i}\n" for i in range(5)),
     ["'flops'", "2 distinct"], 4, []),
    ("only-reference-points", HEAD + "a,a,1e18,3\nb,b,1e19,2.9\n", ["single run"], None, []),
    # found by a new user on Muennighoff et al.'s runs (params and tokens, no flops): the message named
    # a 'flops' column the file does not have; 5 seeds of one model are a reference point's mean
    ("one-compute-value-from-params-and-tokens",
     "# c\nfamily,run,params,tokens,loss\n" + "".join(f"a,seed{i},2.8e9,5.5e10,{3.42 + 0.001 * i}\n" for i in range(5)),
     ["columns 'params' and 'tokens'", "one compute value", "mean loss as one run"], 3, []),
    ("two-compute-values-from-params-and-tokens",
     "# c\nfamily,params,tokens,loss\n" + "".join(f"a,1e{8 + i % 2},2e10,{3 - 0.1 * i}\n" for i in range(5)),
     ["columns 'params' and 'tokens'", "2 distinct"], 3, []),
]


@pytest.mark.parametrize("name, content, fragments, line, extra", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_input_file(tmp_path, name, content, fragments, line, extra):
    path = tmp_path / f"{name}.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    before = path.read_bytes()
    result = run("fit", path, "--bootstrap", "20", *extra)
    assert_input_error(result, str(path), *fragments, line=line)
    assert path.read_bytes() == before


def test_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    assert_input_error(run("fit", path), str(path), "no such file")


def test_directory_instead_of_file(tmp_path):
    assert_input_error(run("fit", tmp_path), str(tmp_path), "directory")


def test_line_numbers_count_comment_and_blank_lines(tmp_path):
    text = ("# provenance\n"            # 1
            "family,run,flops,loss\n"   # 2
            "a,a0,1e18,3.0\n"           # 3
            "# a comment between runs\n"  # 4
            "\n"                        # 5
            "a,a1,1e19,2.9\n"           # 6
            "   # indented comment\n"   # 7
            "a,a2,1e20,two\n")          # 8
    path = tmp_path / "lines.csv"
    path.write_text(text, encoding="utf-8")
    assert_input_error(run("fit", path), str(path), "'loss'", "two", line=8)


def test_crlf_and_bom_are_read(tmp_path):
    path = make_ladder(tmp_path)
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    a = multiplier(fit_json(path), "ref")["multiplier"]
    b = multiplier(fit_json(crlf), "ref")["multiplier"]
    assert a == b


def test_line_number_after_a_quoted_multiline_field(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('family,run,flops,loss\na,"run\nzero",1e18,3.0\na,a1,1e19,abc\n', encoding="utf-8")
    assert_input_error(run("fit", path), str(path), "abc", line=4)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_params_times_tokens_overflow_is_an_input_error(tmp_path):
    path = write_csv(tmp_path / "overflow.csv", ("family", "params", "tokens", "loss"),
                     [("a", "1e9", "2e10", "3.0"), ("a", "1e10", "2e11", "2.8"),
                      ("a", "1e11", "2e12", "2.6"), ("a", "1e200", "2e200", "2.5"),
                      ("r", "1e12", "1e13", "2.4")])
    # line 1 is the comment, line 2 the header: the 1e200 row is line 6
    assert_input_error(run("fit", path, "--bootstrap", "0"), str(path), line=6)


@pytest.mark.parametrize("args, fragment", [
    (["--at-loss", "0"], "--at-loss"),
    (["--at-loss", "-2"], "--at-loss"),
    (["--at-loss", "nan"], "--at-loss"),
    (["--at-loss", "inf"], "--at-loss"),
    (["--at-perplexity", "1"], "--at-perplexity"),
    (["--at-perplexity", "0.5"], "--at-perplexity"),
])
def test_bad_targets(tmp_path, args, fragment):
    assert_input_error(run("fit", make_ladder(tmp_path, base=True), "--bootstrap", "20", *args), fragment)


@pytest.mark.parametrize("args", [
    ["--law", "linear"], ["--format", "xml"], ["--bootstrap", "-1"], ["--level", "1"], ["--level", "0"],
    ["--seed", "abc"],
])
def test_bad_option_values_exit_2(tmp_path, args):
    result = run("fit", make_ladder(tmp_path), *args)
    no_crash(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert args[0] in result.stderr


# ----- inputs are read-only ------------------------------------------------------------------------

def test_input_files_are_not_modified(tmp_path):
    path = make_ladder(tmp_path, base=True)
    demo_copy = tmp_path / "muse.csv"
    shutil.copyfile(DEMO, demo_copy)
    before = {p: p.read_bytes() for p in (path, demo_copy, DEMO)}
    for fmt in ("table", "json", "csv"):
        assert run("fit", path, "--bootstrap", "50", "--format", fmt, "--at-loss", "1.7").exit_code == 0
        assert run("fit", demo_copy, "--bootstrap", "50", "--format", fmt,
                   "-o", tmp_path / f"out.{fmt}").exit_code == 0
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["ladder.csv", "muse.csv", "out.table", "out.json", "out.csv"])


# ----- warnings ------------------------------------------------------------------------------------

def test_rising_loss_warns_but_succeeds(tmp_path):
    rows = [("up", f"up-{i}", repr(float(c)), repr(2.0 + 0.05 * i)) for i, c in enumerate(FLOPS)]
    rows.append(reference_row())
    path = write_csv(tmp_path / "rising.csv", ("family", "run", "flops", "loss"), rows)
    result = run("fit", path, "--bootstrap", BOOT, "--format", "json")
    no_crash(result)
    assert result.exit_code == 0
    data = strict_json(result.stdout)
    warnings = result.stderr.splitlines()
    assert warnings and all(w.startswith("scalefit: warning: ") for w in warnings), warnings
    assert any("'up'" in w and "rises with compute" in w for w in warnings)
    assert any("rises with compute" in w for w in data["warnings"])


def test_clean_ladder_has_no_warnings(tmp_path):
    result = run("fit", make_ladder(tmp_path, base=True))
    assert result.exit_code == 0
    assert result.stderr == ""


# ----- params and tokens -----------------------------------------------------------------------------

def test_params_and_tokens_equal_flops(tmp_path):
    def split(c):  # params and tokens with 20 tokens per parameter, flops = 6 * params * tokens
        p = math.sqrt(c / 120.0)
        return p, 20.0 * p

    flops_rows, pt_rows = [], []
    for family, run_name, c, loss in ladder_rows("new") + [reference_row()]:
        p, t = split(float(c))
        flops_rows.append((family, run_name, repr(6.0 * p * t), loss))
        pt_rows.append((family, run_name, repr(p), repr(t), loss))
    a = write_csv(tmp_path / "flops.csv", ("family", "run", "flops", "loss"), flops_rows)
    b = write_csv(tmp_path / "pt.csv", ("family", "run", "params", "tokens", "loss"), pt_rows)
    ma = multiplier(fit_json(a), "ref")
    mb = multiplier(fit_json(b), "ref")
    for key in ("multiplier", "low", "high", "reference_flops", "focus_flops"):
        assert math.isclose(ma[key], mb[key], rel_tol=1e-9), key
    assert 3.5 < mb["multiplier"] < 4.6


def test_perplexity_file_matches_loss_file(tmp_path):
    loss_path = make_ladder(tmp_path)
    rows = [(f, r, c, repr(math.exp(float(l)))) for f, r, c, l in ladder_rows("new") + [reference_row()]]
    ppl_path = write_csv(tmp_path / "ppl.csv", ("family", "run", "flops", "perplexity"), rows)
    a, b = fit_json(loss_path), fit_json(ppl_path)
    assert b["metric"] == "perplexity"
    assert math.isclose(multiplier(a, "ref")["multiplier"], multiplier(b, "ref")["multiplier"], rel_tol=1e-6)


# ----- --at-loss between ladders -------------------------------------------------------------------

def test_at_loss_adds_ladder_rows(tmp_path):
    path = make_ladder(tmp_path, base=True)
    data = fit_json(path, "--at-loss", "1.7", "--at-loss", "1.75")
    at = [m for m in data["multipliers"] if m["where"] == "at-loss"]
    assert sorted(m["loss"] for m in at) == [1.7, 1.75]
    assert all(m["reference"] == "base" for m in at)  # reference points get no at-loss rows
    for m in at:
        assert 2.6 < m["multiplier"] < 3.5, m
        assert m["low"] <= m["multiplier"] <= m["high"]
    assert len(data["multipliers"]) == 4  # base largest run, 2 x base at-loss, ref reference run
    frame = pd.read_csv(io.StringIO(run("fit", path, "--bootstrap", BOOT, "--format", "csv",
                                        "--at-loss", "1.7", "--at-loss", "1.75").stdout))
    assert (frame["where"] == "at-loss").sum() == 2
    assert len(frame) == 4


def test_at_perplexity_is_at_loss_of_its_log(tmp_path):
    path = make_ladder(tmp_path, base=True)
    by_loss = multiplier(fit_json(path, "--at-loss", repr(math.log(5.5))), "base", "at-loss")
    by_ppl = multiplier(fit_json(path, "--at-perplexity", "5.5"), "base", "at-loss")
    assert math.isclose(by_loss["multiplier"], by_ppl["multiplier"], rel_tol=1e-12)
    assert math.isclose(by_ppl["loss"], math.log(5.5), rel_tol=1e-12)


def test_family_against_its_own_copy_is_one(tmp_path):
    path = make_ladder(tmp_path, copy=True, reference=False)
    data = fit_json(path, "--focus", "new", "--at-loss", "1.7", "--at-loss", "1.8")
    rows = [m for m in data["multipliers"] if m["reference"] == "new-copy"]
    assert sorted(m["where"] for m in rows) == ["at-loss", "at-loss", "largest run"]
    for m in rows:
        assert math.isclose(m["multiplier"], 1.0, rel_tol=1e-9), m
        assert m["low"] <= 1.0 <= m["high"], m


def test_at_loss_without_a_second_ladder_warns(tmp_path):
    result = run("fit", make_ladder(tmp_path), "--bootstrap", BOOT, "--at-loss", "1.7")
    assert result.exit_code == 0
    assert "--at-loss and --at-perplexity apply to comparisons between ladders" in result.stderr
    assert "at-loss" not in result.stdout


def test_unreachable_target_is_reported_not_nan(tmp_path):
    # 1.0 is below both ladders' irreducible loss (~1.5): no multiplier exists, written as null
    result = run("fit", make_ladder(tmp_path, base=True), "--bootstrap", BOOT, "--format", "json",
                 "--at-loss", "1.0")
    assert result.exit_code == 0
    data = strict_json(result.stdout)
    m = multiplier(data, "base", "at-loss")
    assert m["focus_flops"] == "inf" and m["reference_flops"] == "inf"
    assert m["multiplier"] is None
    assert "unreachable" in result.stderr


# ----- the installed entry point -------------------------------------------------------------------

def _entry_point():
    exe = Path(sys.executable).parent / "scalefit"
    if not exe.exists():
        pytest.skip("the scalefit console script is not installed next to this interpreter")
    return str(exe)


def test_entry_point_error_has_no_traceback(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("family,flops,loss\na,1e18,x\n", encoding="utf-8")
    proc = subprocess.run([_entry_point(), "fit", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [f"scalefit: error: {path}, line 2, column 'loss': x is not a "
                                        "number; write a plain number such as 2.31"]


def test_entry_point_help():
    proc = subprocess.run([_entry_point(), "fit", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "LADDER.csv" in proc.stdout


# ----- compare -------------------------------------------------------------------------------------

def test_compare_gives_one_multiplier_per_ladder_with_its_band(tmp_path):
    """'base' needs BASE_SHIFT times the compute of 'new' at every loss (same law, +-0.2% noise):
    the shared law recovers it, in the table, the JSON and the CSV; the single run is left out."""
    path = make_ladder(tmp_path, base=True)
    table = run("compare", path, "--focus", "new")
    assert table.exit_code == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.strip().startswith("base"))
    assert "x" in row and "[" in row
    section = table.stdout.split("Multipliers")[1].split("check")[0]
    assert not any(line.strip().startswith("ref") for line in section.splitlines())     # no row of its own,
    assert "  not in the shared law: ref (single run, compared by scalefit fit)" in section   # but named as left out
    data = json.loads(run("compare", path, "--focus", "new", "--format", "json").stdout)
    (base,) = data["families"]
    assert data["left_out"] == ["ref"]                  # named in the JSON too
    assert base["family"] == "base" and base["multiplier"] == pytest.approx(BASE_SHIFT, rel=0.02)
    assert base["low"] < BASE_SHIFT < base["high"] < 2 * BASE_SHIFT
    assert data["law"]["alpha"] == pytest.approx(0.15, rel=0.05) and data["check"]["dof"] == [2, 10]
    frame = pd.read_csv(io.StringIO(run("compare", path, "--focus", "new", "--format", "csv").stdout))
    assert list(frame.columns) == ["focus", "family", "runs", "rows", "multiplier", "low", "high", "band_checked"]
    assert set(frame.focus) == {"new"}
    assert frame.multiplier.iloc[0] == pytest.approx(base["multiplier"])


def test_the_readme_first_output_is_what_the_first_command_prints(monkeypatch):
    """The README's "What it prints" block: the warnings (stderr), then the table (stdout), of the
    first command, run from the project's root as the README shows it; and summary() in Python
    ends with the same warnings, numbered."""
    import scalefit

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("## What it prints")[1].split("```\n", 2)[1].split("```")[0]
    monkeypatch.chdir(ROOT)
    result = run("fit", "data/ladders/muse.csv")
    assert result.exit_code == 0, result.stderr
    assert result.stderr + result.stdout == shown
    summary = scalefit.analyze("data/ladders/muse.csv").summary()
    warnings = [line.removeprefix("scalefit: warning: ") for line in result.stderr.splitlines()]
    assert summary.split("\nWarnings:\n")[1].splitlines() == [f"  [{i}] {w}" for i, w in enumerate(warnings, 1)]


def test_the_readme_compare_example_is_what_the_commands_print(tmp_path, monkeypatch):
    """The README's `scalefit simulate ... -o two.csv` then `scalefit compare two.csv`, run as shown."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = readme.split("$ scalefit simulate ")[1].split("```")[0]
    simulate_args, rest = example.split("\n", 1)
    compare_args, shown = rest.split("\n", 1)
    assert compare_args.startswith("$ scalefit compare ")
    monkeypatch.chdir(tmp_path)
    assert run("simulate", *simulate_args.split()).exit_code == 0
    assert run(*compare_args.split()[2:]).stdout == shown


def _sketch_matches(sketch, real, where="") -> list[str]:
    """Where the README's JSON sketch (numbers kept as their text) differs from real output: a
    number that is not the real one rounded to the sketch's digits, another value, a field in one
    and not the other; an object elided as {...}, or a list ending in ..., matches what it shows."""
    if isinstance(sketch, dict):
        if sketch == {"...": True}:
            return []
        if not isinstance(real, dict) or set(sketch) != set(real):
            return [f"{where}: fields {sorted(set(sketch) ^ set(real or {}))} shown or printed, not both"]
        return [d for key in sketch for d in _sketch_matches(sketch[key], real[key], f"{where}.{key}")]
    if isinstance(sketch, list):
        elided = bool(sketch) and sketch[-1] == "..."
        shown = sketch[:-1] if elided else sketch
        if not isinstance(real, list) or len(real) < len(shown) or (not elided and len(real) != len(shown)):
            return [f"{where}: {len(shown)} entries shown, the output has {real!r:.60}"]
        return [d for i, item in enumerate(shown) for d in _sketch_matches(item, real[i], f"{where}[{i}]")]
    if isinstance(sketch, str) and re.fullmatch(r"-?[\d.]+(e-?\d+)?", sketch) and isinstance(real, float):
        mantissa = sketch.split("e")[0]
        digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
        exponent = int(sketch.split("e")[1]) if "e" in sketch else 0
        rounded = round(real / 10.0 ** exponent, digits) * 10.0 ** exponent
        return [] if math.isclose(rounded, float(sketch), rel_tol=1e-9) else [f"{where}: {sketch} shown, {real} printed"]
    if isinstance(sketch, str) and re.fullmatch(r"-?\d+", sketch):
        return [] if sketch == str(real) else [f"{where}: {sketch} shown, {real} printed"]
    return [] if sketch == real or sketch == ["..."] else [f"{where}: {sketch!r} shown, {real!r} printed"]


def test_the_readme_json_sketch_shows_what_the_demo_prints(monkeypatch):
    """Found by a README audit: the sketch's references entry was Kimi-K2's while the output's list
    starts with Llama 4 Maverick's. Every value it shows is the demo's (predictions: --at-flops 1e23)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sketch = readme.split("```jsonc\n", 1)[1].split("```", 1)[0]
    sketch = re.sub(r"//[^\n]*", "", sketch)
    sketch = sketch.replace("{...}", '{"...": true}').replace(", ...]", ', "..."]')
    sketch = json.loads(sketch, parse_float=str, parse_int=str)
    monkeypatch.chdir(ROOT)
    result = run("fit", "data/ladders/muse.csv", "--format", "json", "--at-flops", "1e23")
    assert result.exit_code == 0, result.stderr
    real = json.loads(result.stdout)
    assert _sketch_matches(sketch, real) == []


SYNOPSES = {"fit": "## `scalefit fit`", "optimal": "## Two-variable laws", "plot": "## Figures and reports",
            "report": "## Figures and reports", "backtest": "## Backtesting your ladder",
            "compare": "## Comparing ladders", "simulate": "## Simulated ladders", "plan": "## Planning a ladder"}


def _readme_synopsis(readme: str, command: str) -> str:
    """In the README section that documents COMMAND, the lines of code blocks that start
    `scalefit COMMAND ` (with their indented continuations), and the "(plus the fit options ...)"
    sentence after a block that has one."""
    section = readme.split(SYNOPSES[command], 1)[1].split("\n## ", 1)[0]
    lines = []
    for block, after in re.findall(r"```(?:sh)?\n(.*?)```\n\n?(\(plus the fit options.*?\))?", section, re.S):
        mine, found = False, []
        for line in block.splitlines():
            mine = line.startswith(f"scalefit {command} ") or (mine and line.startswith(" "))
            if mine:
                found.append(line)
        lines += found + ([after] if found and after else [])
    return "\n".join(lines)


@pytest.mark.parametrize("command", SYNOPSES)
def test_the_readme_synopses_list_every_option_and_no_other(command):
    """Found by a README audit: the fit synopsis left out --huber-delta and --flops-per-param-token,
    the optimal one 8 of its 11 options, plot's and report's --bootstrap, --seed, --at-perplexity
    and --workers."""
    synopsis = _readme_synopsis((ROOT / "README.md").read_text(encoding="utf-8"), command)
    assert synopsis, f"README has no synopsis of scalefit {command}"
    listed = set(re.findall(r"(?<![\w-])--?[a-z][a-z-]*", synopsis))             # -o or --output
    params = [p for p in main.commands[command].params if isinstance(p, click.Option) and p.name != "help"]
    assert [p.opts[-1] for p in params if not set(p.opts) & listed] == [], \
        f"scalefit {command} --help has options its README synopsis lacks"
    assert {o for o in listed if o.startswith("--")} - {o for p in params for o in p.opts} == set(), \
        f"the README synopsis of scalefit {command} lists options it does not have"


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_option_says_in_help_what_it_does(command):
    """plan's --output, --simulations, --level and --seed, optimal's --bootstrap, --seed and --output,
    simulate's --law and --seed, plot's --kind, --title and --dpi and every --format had none."""
    silent = [p.opts[-1] for p in main.commands[command].params if isinstance(p, click.Option) and not p.help]
    assert silent == [], f"scalefit {command} --help shows these options without a word"


def test_compare_on_a_single_ladder_says_what_it_needs(tmp_path):
    result = run("compare", DEMO)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"scalefit: error: {DEMO}: compare needs two or more families with 2 or more runs each (ladders: muse); "
        "single runs are compared by `scalefit fit`"]


HEAVY_MODULES = ("lmfit", "scipy.stats", "scipy.optimize", "matplotlib", "plotnine")


@pytest.mark.parametrize("args, forbidden", [
    (["--help"], HEAVY_MODULES + ("pandas", "scipy")),
    (["fit", "--help"], HEAVY_MODULES + ("pandas", "scipy")),
    (["fit", "{demo}"], HEAVY_MODULES),
    (["fit", "{demo}", "--band-method", "percentile", "--format", "json"], HEAVY_MODULES),
    (["backtest", "{demo}"], HEAVY_MODULES),
    (["fit", "{demo}", "--law", "power", "--at-flops", "1e24"], HEAVY_MODULES),
    (["compare", "--help"], HEAVY_MODULES + ("pandas", "scipy")),
])
def test_commands_import_only_what_they_use(args, forbidden):
    """Start-up is most of a command's time: lmfit and scipy.stats (about 0.9 s together here),
    scipy.optimize and the plotting stack load only on the paths that use them (a fit report, the
    L(N, D) finish, figures); help loads no numerical library. Checked in a fresh interpreter, by
    the modules it ends the command with."""
    demo = str(ROOT / "data" / "ladders" / "muse.csv")
    argv = [a.format(demo=demo) for a in args]
    code = ("import sys\nfrom scalefit.cli import main\n"
            f"try:\n    main.main({argv!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {forbidden!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"


def test_python_api_checks_its_arguments_like_the_command():
    """What the command refuses, the library refuses too, with a ValueError naming the value."""
    import scalefit
    from scalefit.efficiency import multiplier_at
    from scalefit.planning import plan_ladder
    from scalefit.simulate import SimulationSpec

    muse = ROOT / "data" / "ladders" / "muse.csv"
    with pytest.raises(ValueError, match=r"flops\[0\] = 0"):
        scalefit.fit_law([0, 1e20, 1e21, 1e22, 1e23], [3.0, 2.9, 2.8, 2.7, 2.6], "saturating")
    with pytest.raises(ValueError, match=r"loss\[1\] = nan"):
        scalefit.fit_law([1e19, 1e20, 1e21, 1e22], [3.0, np.nan, 2.8, 2.7], "saturating")
    with pytest.raises(ValueError, match="2 runs at 2 compute"):
        scalefit.fit_law([1e19, 1e20], [3.0, 2.9], "power")
    for bad in ([], [0.0], [-1e24], [float("inf")]):
        with pytest.raises(ValueError, match="budget"):
            scalefit.optimal_report(pd.DataFrame(), bad)
    with pytest.raises(ValueError, match="at_loss 0"):
        scalefit.analyze(muse, at_loss=[0.0])
    with pytest.raises(ValueError, match="at_perplexity 0.5"):
        scalefit.analyze(muse, at_perplexity=0.5)
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22), noise=0.0)
    for kwargs, what in ((dict(), "noise 0"), (dict(multiplier=-3.0), "multiplier -3")):
        with pytest.raises(ValueError, match=what):
            plan_ladder(spec if what == "noise 0" else SimulationSpec(spec.params, spec.flops, noise=0.01),
                        **{"multiplier": 3.0, "beyond": 1.0, **kwargs})
    # the spec's seed is the plan's seed unless one is given
    noisy = SimulationSpec(spec.params, spec.flops, noise=0.01, seed=7)
    runs = dict(multiplier=3.0, beyond=1.0, simulations=20, extra_runs=[])
    assert plan_ladder(noisy, **runs).frame().equals(plan_ladder(noisy, seed=7, **runs).frame())
    # multiplier_at's default band is the profile band, as analyze's
    result = scalefit.analyze(muse)
    fit = result.fits["muse"].fit
    m = result.multipliers[0]
    alone = multiplier_at(fit, None, m.reference, m.loss, 0.95, m.where, reference_flops=m.reference_flops)
    assert (alone.low, alone.high) == pytest.approx((m.low, m.high))
    # the DataFrame carries the perplexity column the table, JSON and CSV show for a perplexity ladder
    frame = result.multipliers_frame()
    assert list(frame.columns[4:6]) == ["loss", "perplexity"]
    np.testing.assert_allclose(frame["perplexity"], np.exp(frame["loss"]))
    # ... and so do the empty frames of a ladder compared with nothing and predicted nowhere (found by
    # a new-user review: their columns hung on whether there were rows)
    runs = pd.read_csv(muse, comment="#")
    alone = scalefit.analyze(runs[runs["family"] == "muse"], bootstrap=0)
    assert alone.multipliers_frame().empty and list(alone.multipliers_frame().columns) == list(frame.columns)
    predicted = scalefit.analyze(muse, at_flops=[1e22]).predictions_frame()
    assert alone.predictions_frame().empty and list(alone.predictions_frame().columns) == list(predicted.columns)


def test_compute_units_that_overflow_A_are_one_clear_line(tmp_path):
    """A steep ladder in compute units near 1e40 has A ~ C^alpha ~ e^736 in those units: refused
    with a hint, not a traceback from lmfit or a silently wrong fit (tiny units: A subnormal)."""
    for c0 in (1e40, 1e-40):
        flops = np.geomspace(c0, 3 * c0, 5)
        path = tmp_path / "steep.csv"
        lines = ["# made up: E=1, alpha=8", "family,flops,loss"]
        lines += [f"a,{float(c)!r},{float(1.0 + 0.5 * (c / c0) ** -8.0)!r}" for c in flops]
        path.write_text("\n".join(lines) + "\n")
        r = CliRunner().invoke(main, ["fit", str(path)])
        assert r.exit_code == 2, r.output
        assert r.stderr.count("\n") == 1 and "compute units" in r.stderr and "family 'a'" in r.stderr, r.stderr


def test_result_objects_print_short_in_a_notebook(tmp_path):
    """Reprs were the whole dataclass (13,000+ characters, every bootstrap draw)."""
    import scalefit
    from scalefit.planning import plan_ladder
    from scalefit.simulate import SimulationSpec

    result = scalefit.analyze(ROOT / "data" / "ladders" / "muse.csv", band_method="percentile", bootstrap=200)
    plan = plan_ladder(SimulationSpec((1.8, 1000.0, 0.15), (1e19, 1e20, 1e21, 1e22)), 3.0, 1.0, simulations=20,
                       extra_runs=[])
    ladder = result.ladder
    backtest = scalefit.backtest(ladder, hold_out=2)
    shared = scalefit.compare_shared(make_ladder(tmp_path, base=True, reference=False))
    for obj in (result, result.fits["muse"], result.fits["muse"].draws, plan, ladder, backtest, shared):
        assert len(repr(obj)) < 300 and repr(obj).startswith("<"), repr(obj)
    # the lazily imported API is listed (tab completion, help); a Ladder can be renamed like a DataFrame
    assert {"analyze", "read_ladder", "backtest", "FIGURES"} <= set(dir(scalefit))
    assert scalefit.analyze(ladder, name="renamed", bootstrap=0).ladder.source == "renamed"
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("family,flops,loss\na,1e19,3\na,1e19,3\na,1e20,2.8\na,1e21,2.7\na,1e22,2.65\n")
    warned = scalefit.read_ladder(scalefit.read_ladder(repeated), name="renamed").warnings
    assert warned and all(w.startswith("renamed") for w in warned), warned
    draws = result.fits["muse"].draws
    np.testing.assert_allclose(result.params_frame()["bootstrap_se"], draws.params[draws.ok].std(axis=0, ddof=1))
    assert plan.summary().startswith("scalefit plan_ladder:") and json.loads(plan.to_json())["simulations"] == 20
    # a DataFrame can be named for messages and outputs; a report can be rendered from Python
    from scalefit.report import render_report

    frame = pd.read_csv(ROOT / "data" / "ladders" / "muse.csv", comment="#")
    named = scalefit.analyze(frame, name="muse runs", bootstrap=0)
    assert named.ladder.source == "muse runs" and "muse runs" in render_report(named)[0]


def test_few_resamples_are_warned_about():
    import scalefit

    muse = ROOT / "data" / "ladders" / "muse.csv"
    few = scalefit.analyze(muse, band_method="percentile", bootstrap=20)
    assert any("20 bootstrap resamples are few" in w for w in few.warnings)
    enough = scalefit.analyze(muse, band_method="percentile", bootstrap=200)
    assert not any("are few" in w for w in enough.warnings)


def test_analyze_names_a_bad_argument_type():
    import scalefit

    muse = ROOT / "data" / "ladders" / "muse.csv"
    for kwargs in (dict(seed=None), dict(seed=-1), dict(bootstrap=100.5), dict(bootstrap=True)):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            scalefit.analyze(muse, **kwargs)
    with pytest.raises(TypeError, match="CSV path, an open CSV file .or io.StringIO., a pandas DataFrame or a Ladder"):
        scalefit.analyze({"family": ["a"]})


def test_a_decimal_comma_and_a_misspelt_focus_are_named_with_the_fix(tmp_path):
    path = tmp_path / "comma.csv"
    path.write_text('family,flops,loss\nA,1e19,"3,2"\nA,1e20,2.9\nA,1e21,2.7\nA,1e22,2.6\n')
    assert_input_error(run("fit", path), "line 2, column 'loss': 3,2 has a decimal comma", "(3.2)")
    grouped = tmp_path / "grouped.csv"
    grouped.write_text('family,flops,loss\nA,"1,000,000",3.2\nA,"125,000",2.9\n')
    assert_input_error(run("fit", grouped), "1,000,000 has thousands separators (1 more row is not a number either: "
                                            "line 3); write 1000000")
    grouped.write_text('family,flops,loss\nA,"125,000",3.2\n')
    assert_input_error(run("fit", grouped), "write 125000 if the comma separates thousands, or 125.000 if it is a "
                                            "decimal comma")
    words = tmp_path / "words.csv"
    words.write_text("family,flops,loss\nA,1e19,x\n")
    assert_input_error(run("fit", words), "column 'loss': x is not a number", "such as 2.31")
    ladder = make_ladder(tmp_path, base=True)
    for command in ("fit", "compare"):
        assert_input_error(run(command, ladder, "--focus", "NEW"), "focus family 'NEW' is not in the file",
                           "did you mean 'new'?")
        assert_input_error(run(command, ladder, "--focus", "bsae"), "did you mean 'base'?")
        assert_input_error(run(command, ladder, "--focus", "BSAE"), "did you mean 'base'?")     # case and typo


def test_profile_bands_report_each_step_they_take(tmp_path):
    """With profile bands, analyze reports a step per family's parameter bands, multiplier and
    family's predictions: as many as profile_steps counts (the command's progress bar for long
    ladders, which took 10 s without one); the multipliers, profiled together, in one call."""
    from scalefit.analysis import analyze, profile_steps
    from scalefit.ladder import read_ladder
    from scalefit.simulate import ReferenceSpec, SimulationSpec, simulate

    frame = simulate(SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 6)), noise=0.01,
                                    second_ladder=2.0, references=(ReferenceSpec("ref", 3.0, 1.0),), seed=2))
    ladder = read_ladder(frame, name="sim")
    calls = []
    analyze(ladder, focus="focus", at_loss=[2.3], at_flops=[1e23], progress=calls.append)
    assert sum(calls) == profile_steps(ladder, "focus", n_at_loss=1, n_predictions=1)
    assert calls == [1, 1, 3, 1, 1]        # each family's parameter bands, the 3 multipliers, each family's predictions
    assert profile_steps(ladder, "focus", 1, 1) == 2 * 2 + (1 + 1) + 1


def test_power_law_fit_that_misses_the_flattening_is_warned_about():
    """The demo flattens toward E ~ 0.41: under --law power it gives 29.6x against 10.3x, and nothing
    said the power law missed the runs. Pure power-law ladders are warned about rarely (the F test at
    1%, conservative because E = 0 is on the boundary)."""
    from scalefit.analysis import power_law_lack_of_fit
    from scalefit.fitting import fit_law

    r = run("fit", ROOT / "data" / "ladders" / "muse.csv", "--law", "power")
    assert r.exit_code == 0 and "fits its runs much better than the power law" in r.stderr
    assert "much better" not in run("fit", ROOT / "data" / "ladders" / "muse.csv").stderr
    rng = np.random.default_rng(11)
    flops = np.geomspace(1e19, 1e22, 8)
    warned = 0
    for _ in range(200):
        loss = 300.0 * flops ** -0.12 * np.exp(rng.normal(0, 0.01, flops.size))
        fit = fit_law(flops, loss, "power")
        warned += bool(power_law_lack_of_fit(fit, flops, loss))
    assert warned <= 8                    # 1% nominal, at most 4% here


def test_every_result_writes_json_and_family_names_may_be_numbers(tmp_path):
    """Found by a new user: to_json of a compare or backtest result raised AttributeError, an unknown
    family in SharedComparison.predict a bare StopIteration, and families named 1, 2 in a DataFrame
    could not be the focus (focus=2 against the file's '2')."""
    import json

    from scalefit import analyze, backtest, compare_shared, to_csv, to_dict, to_json

    frame = pd.DataFrame({"family": [1] * 5 + [2] * 5, "flops": [1e19, 1e20, 1e21, 1e22, 1e23] * 2,
                          "loss": [3.1, 2.7, 2.45, 2.3, 2.21, 3.0, 2.62, 2.38, 2.25, 2.17]})
    result = analyze(frame, focus=2, bootstrap=0)
    assert result.focus == "2" and result.predict(2, 1e21) == result.predict("2", 1e21)
    cmp = compare_shared(frame, focus=2)
    assert cmp.focus == "2" and cmp.multiplier(1) == cmp.multiplier("1") > 1
    with pytest.raises(ValueError, match=r"<DataFrame>: family 'x' is not in the file; families are: 1, 2"):
        cmp.predict("x", 1e21)
    with pytest.raises(ValueError, match="flops -1: must be positive"):
        cmp.predict(1, -1.0)
    bt = backtest(frame, hold_out=1, bootstrap=0)
    assert json.loads(to_json(cmp))["focus"] == "2" and to_dict(bt)["hold_out"] == 1
    assert to_csv(cmp).startswith("focus,family,") and to_csv(bt) == bt.frame().to_csv(index=False, float_format="%.10g")
    with pytest.raises(TypeError, match="to_json takes an Analysis, Backtest"):
        to_json(frame)


def test_a_typed_bootstrap_count_that_profile_bands_do_not_use_is_said(tmp_path):
    """Found by a new user: `fit --bootstrap 20000` printed profile bands and dropped the count
    without a word. Said when typed and unused; not for the default, 0, or percentile bands."""
    path = make_ladder(tmp_path, base=True)
    said = "--bootstrap 500 is not used: the bands are profile likelihood"
    for command in (["fit", path, "--bootstrap", "500"], ["backtest", path, "--bootstrap", "500"]):
        result = run(*command)
        assert result.exit_code == 0 and said in result.stderr, result.stderr
    for command in (["fit", path], ["fit", path, "--bootstrap", "0"],
                    ["fit", path, "--bootstrap", "500", "--band-method", "percentile"]):
        result = run(*command)
        assert result.exit_code == 0 and "is not used" not in result.stderr, result.stderr


def test_options_of_the_nd_law_typed_with_a_compute_law_are_said_to_be_unused(tmp_path):
    """Found by the new-user review: `fit --huber-delta 0.1` (a robust fit, one would think) and
    `--flops-per-param-token 8` with the saturating or power law were dropped without a word, the
    fit least squares and a params and tokens file's compute 6 N D all the same. Said when typed
    with a compute law; not for the defaults, nor with --law chinchilla, which uses them."""
    path = make_ladder(tmp_path, base=True)
    for command in (["fit", path, "--huber-delta", "0.1", "--flops-per-param-token", "8"],
                    ["backtest", path, "--law", "power", "--huber-delta", "0.1", "--flops-per-param-token", "8"]):
        result = run(*command)
        assert result.exit_code == 0, result.stderr
        assert "--huber-delta 0.1 is not used: it sets the Huber objective of --law chinchilla" in result.stderr
        assert "--flops-per-param-token 8 is not used: it sets C = k N D for --law chinchilla" in result.stderr
    result = run("fit", path)
    assert result.exit_code == 0 and "is not used" not in result.stderr, result.stderr
    nd = tmp_path / "nd.csv"
    rng = np.random.default_rng(0)
    n, d = np.meshgrid(np.geomspace(1e7, 1e9, 5), np.geomspace(1e9, 1e11, 5))
    loss = (1.8 + 400 / n ** 0.34 + 2000 / d ** 0.37) * np.exp(rng.normal(0, 0.005, n.shape))
    pd.DataFrame({"family": "a", "params": n.ravel(), "tokens": d.ravel(), "loss": loss.ravel()}).to_csv(nd, index=False)
    result = run("fit", str(nd), "--law", "chinchilla", "--bootstrap", "0", "--huber-delta", "0.1",
                 "--flops-per-param-token", "8")
    assert result.exit_code == 0 and "is not used" not in result.stderr, result.stderr


def test_a_perplexity_typed_as_a_target_loss_is_questioned(tmp_path):
    """Found by a new user: on a perplexity file `--at-loss 12` (meant: perplexity 12) quietly asked
    for perplexity e^12 = 1.6e5. A target loss above twice every run's loss but among the runs'
    perplexities is questioned; --at-perplexity 12, plausible losses (2.5), a loss below twice the
    highest run's (6 nats, though a perplexity the runs have) and one far from any run's perplexity
    (500) are not. The runs' losses reach 3.35 nats, perplexities 10 to 28."""
    rows = [f"{f},{c:.6g},{math.exp(1.8 + 1e3 * c ** -0.15 * s):.6g}"
            for f, s in (("a", 1.0), ("b", 1.1)) for c in (1e19, 1e20, 1e21, 1e22)]
    path = tmp_path / "ppl.csv"
    path.write_text("family,flops,perplexity\n" + "\n".join(rows) + "\n")
    said = "if 12 is a perplexity, give it as --at-perplexity 12"
    assert said in run("fit", path, "--bootstrap", "0", "--at-loss", "12").stderr
    for option in (["--at-perplexity", "12"], ["--at-loss", "2.5"], ["--at-loss", "6"], ["--at-loss", "500"]):
        result = run("fit", path, "--bootstrap", "0", *option)
        assert result.exit_code == 0 and "is a perplexity" not in result.stderr, result.stderr


def test_a_factor_is_questioned_from_exactly_1000x_either_way():
    from scalefit.analysis import implausible_factor

    for factor in (1000.0, 1e-3, 2e6):
        assert len(implausible_factor(factor, "a", "b")) == 1, factor
    for factor in (999.0, 1 / 999.0, 1.0, np.inf, 0.0, np.nan):
        assert implausible_factor(factor, "a", "b") == [], factor


def test_conf_int_gives_each_familys_parameter_bands_as_statsmodels_does():
    from scalefit import analyze

    result = analyze(DEMO)
    bands = result.conf_int()
    assert list(bands.columns) == ["low", "high"] and bands.index.names == ["family", "parameter"]
    alpha = result.params_frame().query("family == 'muse' and parameter == 'alpha'").iloc[0]
    assert tuple(bands.loc[("muse", "alpha")]) == (alpha["low"], alpha["high"])
    assert (bands["low"] < result.params_frame().set_index(["family", "parameter"])["value"]).all()
    # statsmodels' alpha restates the level, or is told how to get another (it was a TypeError)
    assert result.conf_int(alpha=0.05).equals(bands) and result.conf_int(1 - 0.95).equals(bands)
    with pytest.raises(ValueError, match=r"level 0\.95 .* need scalefit\.analyze\(\.\.\., level=0\.9\)"):
        result.conf_int(alpha=0.1)
    # found by review: a float32 alpha (0.05 + 7e-10) was refused as needing the level it has, and an
    # alpha outside (0, 1) was told to re-run analyze at a level it refuses
    assert result.conf_int(alpha=np.float32(0.05)).equals(bands)
    for alpha in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"alpha is 1 - level, between 0 and 1") as refused:
            result.conf_int(alpha=alpha)
        assert "scalefit.analyze" not in str(refused.value)


@pytest.mark.parametrize("command", ["backtest", "compare"])
@pytest.mark.parametrize("how", ["same path", "relative path", "existing file"])
def test_figure_and_output_cannot_be_one_file(tmp_path, monkeypatch, command, how):
    """Found by a new user: `backtest -o r.png --figure r.png` said 'wrote r.png' and exited 0, but
    the table written after the figure replaced it: one of the two outputs was silently lost."""
    path = make_ladder(tmp_path, base=True)
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "result.png"
    figure = {"same path": output, "relative path": Path(".") / ".." / tmp_path.name / "result.png",
              "existing file": output}[how]
    if how == "existing file":
        output.write_bytes(b"previous\n")
    before = output.read_bytes() if output.exists() else None
    message = assert_input_error(run(command, path, "-o", output, "--figure", figure), "--figure", "--output")
    assert "different names" in message
    assert (output.read_bytes() if output.exists() else None) == before


@pytest.mark.parametrize("command", ["fit", "backtest", "compare", "plan"])
def test_format_help_points_to_the_json_schema_only_where_the_readme_has_one(command):
    """backtest, compare and plan --help sent users to the README's "JSON output", which is fit's
    schema alone; their JSON holds their tables' fields."""
    text = " ".join(run(command, "--help").stdout.split())
    assert ("(README: JSON output)" in text) == (command == "fit")
