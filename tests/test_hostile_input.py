"""Hostile and odd input found by fuzzing the command line and the Python API: each gets one clear
line (or a ValueError naming the value), never a traceback, a silent NaN or a replaced file."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import scalefit
from scalefit.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "ladders" / "muse.csv"
FLOPS = np.geomspace(1e18, 1e21, 6)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result, *fragments):
    assert result.exit_code == 2, (result.exit_code, result.stderr, repr(result.exception))
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scalefit: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def ladder(tmp_path, rows=None, name="ladder.csv") -> Path:
    rows = rows or [("a", c, 1.5 + 200 * c ** -0.15) for c in FLOPS] + [("ref", 4e21, 1.5 + 200 * 1e21 ** -0.15)]
    path = tmp_path / name
    pd.DataFrame(rows, columns=["family", "flops", "loss"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("args", [
    ["fit", "{ladder}", "--level", "nan"],
    ["fit", "{ladder}", "--huber-delta", "inf"],
    ["fit", "{ladder}", "--bootstrap", "2000000"],
    ["plot", "{ladder}", "-o", "{tmp}/f.png", "--width", "1000"],
    ["plot", "{ladder}", "-o", "{tmp}/f.png", "--dpi", "100000"],
    ["plot", "{ladder}", "-o", "{tmp}/f.png", "--xlim", "1,inf"],
    ["plot", "{ladder}", "-o", "{tmp}/f.png", "--xlim", "0,1e25"],
    ["plot", "{ladder}", "-o", "{tmp}/f.png", "--ylim", "1e-300,1e300"],
    ["plot", "{ladder}", "-o", "{tmp}/f.png", "--title", "$\\undefinedcmd$"],
    ["plan", "--simulations", "20", "--noise", "nan"],
    ["plan", "--simulations", "20", "--noise", "5"],
    ["plan", "--simulations", "20", "--beyond", "400"],
    ["plan", "--simulations", "20", "--multiplier", "1e300"],
    ["plan", "--simulations", "20", "--extra-run", "1e300"],
    ["plan", "--simulations", "20", "--params", "E=nan,A=1000,alpha=0.15"],
    ["plan", "--simulations", "20", "--params", "E=1.8,A=1000,alpha=0.15,E=2"],
    ["plan", "--simulations", "20", "--flops", "1e19,1e19,1e19,1e19,1e19"],
    ["simulate", "--params", "E=inf,A=1000,alpha=0.15"],
    ["simulate", "--reference", "big=4@400"],
    ["simulate", "--reference", "4@nan"],
    ["simulate", "--reference", "big=4@"],
    ["simulate", "--reference", "#x=4@1"],
    ["simulate", "--second-ladder", "inf"],
    ["simulate", "--flops", "1e-20:1e20:8", "--params", "E=1.8,A=2,alpha=0.05"],
    ["simulate", "--params", "E=0,A=1,alpha=0.5", "--flops", "1e10:1e14:5"],
    ["plot", "{ladder}", "-o", "{tmp}/f.png", "--width", "25", "--height", "25", "--dpi", "2400"],
    ["fit", "{ladder}", "-o", ""],
    ["fit", "{ladder}", "-o", "/proc/version"],
    ["fit", "{ladder}", "--at-loss", "1e300"],
    ["fit", "{ladder}", "--at-perplexity", "1.0000000000001"],
])
def test_option_values_that_are_not_numbers_a_run_can_have_get_one_line(tmp_path, args):
    args = [a.format(ladder=ladder(tmp_path), tmp=tmp_path) for a in args]
    one_error_line(run(*args))
    assert not (tmp_path / "f.png").exists()


def test_a_huber_delta_that_would_overflow_the_objective_is_refused_by_the_law():
    from scalefit.chinchilla import MAX_HUBER_DELTA, ChinchillaLaw
    from scalefit.cli import MAX_HUBER_DELTA as CLI_MAX
    assert CLI_MAX == MAX_HUBER_DELTA
    with pytest.raises(ValueError, match="at most 10"):
        ChinchillaLaw(huber_delta=1e300)
    assert ChinchillaLaw(huber_delta=MAX_HUBER_DELTA).huber_delta == MAX_HUBER_DELTA


@pytest.mark.parametrize("command", [["fit", "--law", "chinchilla"], ["optimal", "--flops", "1e22"]])
def test_a_huber_delta_that_would_overflow_the_objective_is_one_line_not_a_traceback(tmp_path, command):
    n, d = np.meshgrid(np.geomspace(1e7, 1e9, 4), np.geomspace(1e9, 1e11, 4))
    n, d = n.ravel(), d.ravel()
    path = tmp_path / "nd.csv"
    pd.DataFrame({"family": "a", "params": n, "tokens": d,
                  "loss": 1.8 + 400 / n ** 0.34 + 400 / d ** 0.28}).to_csv(path, index=False)
    one_error_line(run(command[0], path, *command[1:], "--bootstrap", "0", "--huber-delta", "1e300"), "--huber-delta")


@pytest.mark.parametrize("rows, fragment", [
    ([("a", "1_000", 3.0)] * 5, "1_000 is not a number"),
    ([("a", "\uff11e19", 3.0)] * 5, "is not a number"),
    ([("a", 1e19 * (i + 1), 10.0 ** (300 + i)) for i in range(5)], "above 10000"),
    ([("a", 1e-100, 3.0), ("a", 1e-99, 2.9), ("a", 1e-98, 2.8), ("a", 1e200, 2.0)], "decades apart"),
])
def test_implausible_numbers_in_a_file_are_refused(tmp_path, rows, fragment):
    one_error_line(run("fit", ladder(tmp_path, rows)), fragment)


def test_compute_from_params_and_tokens_that_underflows_is_refused(tmp_path):
    path = tmp_path / "uf.csv"
    path.write_text("family,params,tokens,loss\n" + "".join(f"a,1e-200,{i}e-200,{3 - i / 10}\n" for i in range(1, 6)))
    one_error_line(run("fit", path), "line 2", "underflows")


def test_a_markdown_report_never_replaces_its_input_with_a_figure(tmp_path):
    source = tmp_path / "r-multipliers.png"
    source.write_bytes(ladder(tmp_path).read_bytes())
    before = source.read_bytes()
    one_error_line(run("report", source, "-o", tmp_path / "r.md"), "is the input file")
    assert source.read_bytes() == before and not (tmp_path / "r.md").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_output_to_a_pipe_or_device_writes_into_it_and_leaves_it_in_place(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()))
    reader.start()
    result = run("fit", ladder(tmp_path), "--bootstrap", "0", "--format", "json", "-o", pipe)
    reader.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert b'"multipliers"' in received[0]
    if os.path.exists("/dev/null") and stat.S_ISCHR(os.stat("/dev/null").st_mode):
        assert run("fit", ladder(tmp_path), "--bootstrap", "0", "-o", "/dev/null").exit_code == 0
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_output_through_a_symbolic_link_writes_the_target_and_keeps_its_permissions(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    target.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert run("fit", ladder(tmp_path), "--bootstrap", "0", "--format", "json", "-o", link).exit_code == 0
    assert link.is_symlink() and '"multipliers"' in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scalefit-")]


@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="needs /dev/stdout")
def test_output_to_dev_stdout_appends_to_what_stdout_is(tmp_path):
    """'-o /dev/stdout >> log' appends to log: the open descriptor is written, not the file behind
    it truncated or replaced."""
    log = tmp_path / "log.txt"
    log.write_text("before\n")
    with open(log, "a") as handle:
        proc = subprocess.run([sys.executable, "-c", "from scalefit.cli import main; main()", "fit",
                               str(ladder(tmp_path)), "--bootstrap", "0", "--format", "csv", "-o", "/dev/stdout"],
                              stdout=handle, stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = log.read_text()
    assert text.startswith("before\nfocus,reference,") and text.count("\n") >= 3


@pytest.mark.parametrize("suffix", [".svg", ".pdf", ".png"])
def test_the_same_figure_command_writes_the_same_bytes(tmp_path, suffix):
    path = ladder(tmp_path)
    for name in ("a", "b"):
        assert run("plot", path, "-o", tmp_path / f"{name}{suffix}").exit_code == 0
    assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()


def test_one_unreachable_reference_point_still_gives_a_report(tmp_path):
    path = tmp_path / "unreachable.csv"
    text = DEMO.read_text().split("\n")
    path.write_text("\n".join(line for line in text if not line or line.startswith(("#", "family", "muse")))
                    + "Super-Base,Super-Base,1e25,1.3\n")
    assert run("report", path, "-o", tmp_path / "r.html").exit_code == 0
    result = run("plot", path, "--kind", "distribution", "-o", tmp_path / "d.png")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    # the warning says why (unreachable), then the one error line
    assert result.stderr.splitlines()[-1].startswith("scalefit: error: no reference point the focus's law can reach")


def test_simulated_reference_names_with_commas_and_quotes_read_back(tmp_path):
    out = tmp_path / "sim.csv"
    assert run("simulate", "--reference", "x,y=4@1", "--reference", '"q=3@1', "-o", out).exit_code == 0
    data = scalefit.read_ladder(out).runs
    assert {"x,y", '"q'} <= set(data["family"])


def test_markdown_report_shows_names_literally(tmp_path):
    rows = [("a|b <i>", c, 1.5 + 200 * c ** -0.15) for c in FLOPS] + [("ref", 4e21, 2.0)]
    text, _ = scalefit.render_report(scalefit.analyze(pd.DataFrame(rows, columns=["family", "flops", "loss"]),
                                                      bootstrap=0), markdown=True, output=str(tmp_path / "r.md"))
    assert "a\\|b &lt;i&gt;" in text and "<i>" not in text


def test_python_api_refuses_what_is_not_a_ladder_number():
    result = scalefit.analyze(DEMO, bootstrap=0)
    for call, fragment in [
        (lambda: result.predict("muse", -1e20), "flops -1e+20"),
        (lambda: result.predict("muse", [1e20, np.nan]), "flops nan"),
        (lambda: result.predict("muse", None), "flops None: not a number"),     # read as nan
        (lambda: result.predict("muse", True), "flops True: not a number"),     # read as compute 1
        (lambda: result.predict("muse", [1e20, None]), "flops None: not a number"),
        (lambda: result.predict("muse", [1e20, True]), "flops True: not a number"),   # numpy reads [1e20, 1.0]
        (lambda: result.invert("muse", (0.7, False)), "loss False: not a number"),
        (lambda: result.predict("muse", [[1e20], [1e21, 1e22]]), "not a number"),     # numpy's own words, ragged
        (lambda: result.invert("muse", "low"), "loss 'low': not a number"),   # numpy's own words
        (lambda: result.invert("muse", 0.0), "loss 0"),
        (lambda: result.invert("Kimi-K2-Base", 0.6), "reference point"),
        (lambda: result.invert("nope", 0.6), "family 'nope' is not in the file"),
        (lambda: scalefit.analyze(DEMO, law=None), "law must be"),
        (lambda: scalefit.analyze(DEMO, workers="2"), "workers"),
        (lambda: scalefit.analyze(DEMO, at_loss=[[1.0, 2.0]]), "flat sequence"),
        (lambda: scalefit.fit_law(np.array([1, 2, 3, 4]) * (1e19 + 1j), [3, 2.9, 2.8, 2.7], "saturating"), "complex"),
        (lambda: scalefit.fit_law(pd.to_datetime(["2020", "2021", "2022", "2023"]), [3, 2.9, 2.8, 2.7],
                                  "saturating"), "datetime64"),
        (lambda: scalefit.fit_law(FLOPS, 1e305 * np.ones(6), "saturating"), "rescale the losses"),
    ]:
        with pytest.raises(ValueError, match=None) as info:
            call()
        assert fragment in str(info.value), (fragment, str(info.value))
    assert result.predict("muse", 1e22) == pytest.approx(float(result.fits["muse"].fit.predict(1e22)))


def test_fit_law_takes_any_scale_of_loss_the_arithmetic_allows():
    flops = np.geomspace(1e18, 1e22, 5)
    small = scalefit.fit_law(flops, 1e-7 * (1.1 + 2 * (flops / 1e18) ** -0.3), "saturating")
    assert small.params[0] == pytest.approx(1.1e-7, rel=1e-3)
    with pytest.raises(ValueError, match="rescale"):
        scalefit.fit_law(flops, np.full(5, 1e200), "saturating")


def test_with_axis_limits_every_keyed_number_is_inside_them(tmp_path):
    from scalefit.plots import FigureOptions, _annotation_layout
    path = ladder(tmp_path, [("a", c, 1.5 + 200 * c ** -0.15) for c in FLOPS]
                  + [(f"r{k}", 10.0 ** (20 + k / 2), 1.5 + 200 * (10.0 ** (19.5 + k / 2)) ** -0.15) for k in range(4)])
    result = scalefit.analyze(path, bootstrap=0)
    options = FigureOptions(xlim=(3e19, 3e21), ylim=(2.2, 2.6))
    arrows, _, _, keyed = _annotation_layout(result, options)
    assert keyed and len(arrows) == 4
    assert np.all((arrows["label_x"] > 3e19) & (arrows["label_x"] < 3e21))
    assert np.all((arrows["label_y"] > 2.2) & (arrows["label_y"] < 2.6))


def test_seeds_of_a_reference_model_are_refused_with_what_to_do(tmp_path):
    rows = [("a", c, 1.5 + 200 * c ** -0.15) for c in FLOPS] + [("ref", 4e21, 1.62), ("ref", 4e21, 1.63)]
    one_error_line(run("fit", ladder(tmp_path, rows)), "family 'ref' has 2 runs",
                   "seeds of one model at one compute? write their mean loss as one run")


def test_a_utf16_file_with_its_byte_order_mark_is_read(tmp_path):
    """Excel's 'Unicode' text is UTF-16 with a byte-order mark: read as text (it was 'binary data')."""
    text = DEMO.read_text()
    for encoding in ("utf-16", "utf-16-be"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes((b"\xfe\xff" if encoding == "utf-16-be" else b"") + text.encode(encoding))
        assert scalefit.read_ladder(path).runs.equals(scalefit.read_ladder(DEMO).runs)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\xff\xfe" + "family,flops,loss\n".encode("utf-16-le") + b"\x00\xd8")
    one_error_line(run("fit", broken), "starts as UTF-16 text")


def test_a_tab_or_semicolon_separated_file_is_refused_naming_its_separator(tmp_path):
    """Excel's 'Unicode Text' export is UTF-16 separated by tabs; a European CSV is separated by
    semicolons. Both were told 'the header has 1 column(s) (family	flops	loss)', a tab printed
    as whitespace, without saying what separated the columns or how to save the file."""
    rows = "".join(f"a\t1e{19 + i}\t{3 - 0.1 * i:.1f}\n" for i in range(5))
    tabs = tmp_path / "unicode.txt"
    tabs.write_bytes(("family\tflops\tloss\n" + rows).encode("utf-16"))
    one_error_line(run("fit", tabs), "unicode.txt, line 1: the header's columns are separated by tabs",
                   "save the file as comma-separated CSV")
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_text("family;flops;loss\na;1e19;3,0\n")
    one_error_line(run("fit", semicolons), "semicolons.csv, line 1: the header's columns are separated by semicolons",
                   "commas between columns")
    one_column = tmp_path / "one.csv"
    one_column.write_text("family\na\n")
    one_error_line(run("fit", one_column), "the header has 1 column(s) (family); expected comma-separated")


def test_known_column_names_are_read_in_any_case(tmp_path):
    """A header written 'Family,FLOPs,Perplexity' (a spreadsheet's habit) is our columns, in a file and
    in a DataFrame; the same name twice in two cases is refused, as any repeated column is."""
    demo = scalefit.read_ladder(DEMO)
    text = DEMO.read_text().replace("family,run,flops,perplexity", "Family,Run,FLOPs,Perplexity")
    assert "Family,Run,FLOPs,Perplexity" in text
    path = tmp_path / "capitals.csv"
    path.write_text(text)
    assert scalefit.read_ladder(path).runs.equals(demo.runs)
    frame = pd.read_csv(DEMO, comment="#").rename(columns=str.upper)
    assert scalefit.read_ladder(frame).runs.drop(columns="where").equals(demo.runs.drop(columns="where"))
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("family,Loss,flops,loss\na,3,1e19,3\n")
    one_error_line(run("fit", repeated), "column 'loss' appears more than once", "without regard to case")


def test_flops_far_from_six_n_d_are_questioned(tmp_path):
    """A file giving flops, params and tokens whose flops are 100x 6 N D on one row: the compute laws
    and L(N, D) would see different runs, so the reader is asked to check; other accounting
    conventions (here 1.3x) pass."""
    n = np.array([1e8, 2e8, 4e8, 8e8])
    d = 20 * n
    rows = ["family,params,tokens,flops,loss"] + [f"a,{p:g},{t:g},{6 * p * t * k:g},{3.2 - 0.15 * i}"
                                                  for i, (p, t, k) in enumerate(zip(n, d, [1.3, 100.0, 1.3, 1.3]))]
    path = tmp_path / "disagree.csv"
    path.write_text("\n".join(rows) + "\n")
    warnings = [w for w in scalefit.read_ladder(path).warnings if "times 6 * params * tokens" in w]
    assert warnings == [f"{path}, line 3: 'flops' is 100 times 6 * params * tokens; compute laws use 'flops', "
                        "L(N, D) uses params and tokens: check the units of each"]
    path.write_text("\n".join(rows[:2] + rows[3:]) + "\n")              # without the 100x row
    assert not any("times 6" in w for w in scalefit.read_ladder(path).warnings)


def test_an_output_is_replaced_whole_or_left_as_it_was(tmp_path, monkeypatch):
    """Found by a mutation audit: nothing checked that a failed write leaves the old file and no
    temporary file, that a normal write replaces the file (a new inode) rather than rewriting it,
    or a new file's permissions (0666 less the umask)."""
    from scalefit.outputs import write_output

    out = tmp_path / "out.json"
    out.write_bytes(b"old")
    before = out.stat().st_ino
    write_output(str(out), b"new")
    assert out.read_bytes() == b"new" and out.stat().st_ino != before

    def refuse(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_output(str(out), b"newer")
    assert out.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    monkeypatch.undo()
    old_umask = os.umask(0o022)
    try:
        write_output(str(tmp_path / "fresh.json"), b"{}")
    finally:
        os.umask(old_umask)
    assert (tmp_path / "fresh.json").stat().st_mode & 0o777 == 0o644


def test_flops_are_questioned_from_three_times_6nd(tmp_path):
    """COMPUTE_DISAGREEMENT = 3 (found by a mutation audit: only a 100x row was tested)."""
    def ladder(factor):
        rows = ["family,params,tokens,flops,loss"]
        for i, (n, d) in enumerate([(1e8, 2e9), (3e8, 6e9), (1e9, 2e10), (3e9, 6e10)]):
            rows.append(f"a,{n:g},{d:g},{6 * n * d * (factor if i == 1 else 1.0):g},{3.2 - 0.15 * i}")
        path = tmp_path / f"x{factor}.csv"
        path.write_text("\n".join(rows) + "\n")
        return scalefit.read_ladder(path)

    (warning,) = ladder(3.1).warnings
    assert ", line 3: 'flops' is 3.1 times 6 * params * tokens" in warning
    assert ladder(2.9).warnings == () and len(ladder(1 / 3.1).warnings) == 1


def test_families_six_decades_apart_are_asked_about_units_and_four_are_not(tmp_path):
    """UNIT_SLIP_DECADES = 6 (found by a mutation audit: only a 20-decade slip was tested): 6.05 to
    6.24 decades apart are asked about, 5.75 to 5.94 are not."""
    text = DEMO.read_text().splitlines()
    rows = [line.split(",") for line in text if line and not line.startswith("#")]
    col = rows[0].index("flops")
    # Maverick, Kimi and DeepSeek lie 2.35, 2.47 and 2.54 decades beyond muse's largest run
    for divisor, expected in ((10 ** 3.7, 3), (10 ** 3.4, 0)):
        body = [row[:col] + [repr(float(row[col]) / divisor) if row[0] == "muse" else row[col]] + row[col + 1:]
                for row in rows[1:]]
        path = tmp_path / f"shifted{divisor:g}.csv"
        path.write_text("\n".join(",".join(r) for r in [rows[0]] + body) + "\n")
        warnings = scalefit.analyze(path).warnings
        assert sum("decades from muse's runs: are the families' computes in the same units" in w
                   for w in warnings) == expected, warnings


def test_simulated_repeats_are_bounded_before_any_memory_is_taken():
    from scalefit.simulate import MAX_RUNS, SimulationSpec
    spec = dict(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22))
    with pytest.raises(ValueError, match="^repeats 100000000: 4 compute values"):
        SimulationSpec(**spec, repeats=10 ** 8)     # was accepted, then the draw was killed for memory
    assert SimulationSpec(**spec, repeats=MAX_RUNS // 4).repeats == MAX_RUNS // 4


@pytest.mark.parametrize("flops, entry", [("1e19,,1e20,1e21", "entry 2 is empty"), ("1e19,1e20,1e21,", "entry 4 is empty"),
                                          (",1e19,1e20,1e21", "entry 1 is empty"),
                                          ("1e19,abc,1e21", "entry 2 ('abc') is not a number")])
@pytest.mark.parametrize("command", ["simulate", "plan"])
def test_an_empty_or_bad_entry_of_a_flops_list_is_named(flops, entry, command):
    """Found by a walkthrough: simulate --flops 1e19,,1e20 dropped the empty entry without a word and
    wrote a ladder with a run fewer than the list."""
    one_error_line(run(command, "--flops", flops, *(["--simulations", "20"] if command == "plan" else [])),
                   f"--flops {flops}: {entry}")


@pytest.mark.parametrize("law, flops, repeats", [
    ("saturating", (1e19, 1e19, 1e19), 1), ("saturating", (1e19, 1e20), 3), ("saturating", (1e19, 1e20, 1e21), 1),
    ("saturating", (1e19, 1e20, 1e21), 2), ("saturating", (1e19, 1e20, 1e21, 1e22), 1),
    ("power", (1e19, 1e20), 1), ("power", (1e19, 1e19), 4), ("power", (1e19, 1e19, 1e20), 1)])
def test_simulate_writes_only_ladders_that_fit_can_fit(tmp_path, law, flops, repeats):
    """Found by a walkthrough: simulate --flops 1e19,1e19,1e19 wrote a ladder at one compute that
    fit refused. A simulated ladder is refused up front exactly when fit would refuse its runs."""
    from scalefit.simulate import SimulationSpec

    params = (1.8, 1000.0, 0.15) if law == "saturating" else (30.0, 0.05)
    runs = np.repeat(flops, repeats)
    path = ladder(tmp_path, [("a", c, 2.0 + 0.01 * i + 1000 * c ** -0.15) for i, c in enumerate(runs)])
    fitted = run("fit", path, "--law", law, "--bootstrap", "0")
    text = ",".join(f"{c:g}" for c in flops)
    simulated = run("simulate", "--law", law, "--flops", text, "--repeats", repeats,
                    "--params", ",".join(f"{n}={v}" for n, v in zip(("E", "A", "alpha")[3 - len(params):], params)))
    assert (simulated.exit_code == 0) == (fitted.exit_code == 0), (simulated.stderr, fitted.stderr)
    if fitted.exit_code:
        one_error_line(simulated, "--flops: ", f"fitting the {law} law", "as scalefit fit does")
        with pytest.raises(ValueError) as raised:       # Python's caller is told of analyze, not a command
            SimulationSpec(params=params, flops=flops, law=law, repeats=repeats)
        assert str(raised.value).startswith("flops: ") and "as scalefit.analyze does" in str(raised.value)
        assert "scalefit fit" not in str(raised.value) and "as scalefit fit does" in raised.value.flags


@pytest.mark.parametrize("params, entry", [("E=1.8,,A=1000,alpha=0.15", "entry 2 is empty"),
                                           ("E=1.8,A=1000,alpha=0.15,", "entry 4 is empty"),
                                           (",E=1.8,A=1000,alpha=0.15", "entry 1 is empty")])
@pytest.mark.parametrize("command", ["simulate", "plan", "plan-ladder"])
def test_an_empty_entry_of_a_params_list_is_named(params, entry, command, tmp_path):
    """Found by review: simulate --params E=1.8,,A=1000,alpha=0.15 dropped the empty entry without a
    word (a stray comma is as likely a missing value as a typo); refused as --flops refuses it."""
    args = {"simulate": ["simulate"], "plan": ["plan", "--simulations", "20"],
            "plan-ladder": ["plan", ladder(tmp_path), "--simulations", "20", "--noise", "0.01"]}[command]
    one_error_line(run(*args, "--params", params),
                   f"--params {params}: {entry}; separate NAME=VALUE pairs by single commas, e.g. E=1.8,A=1000,alpha=0.15")


def test_markdown_report_shows_emphasis_and_link_characters_literally_and_links_its_figures(tmp_path):
    """Found by a new user: a family '_base_' showed as an italic 'base' and '*new*' as an italic
    'new' in the Markdown report, and the figures of 'my report.md' were linked as
    '(my report-multipliers.png)', a link target Markdown ends at the space (no image shown)."""
    rows = ([("*new*", c, 1.5 + 200 * c ** -0.15) for c in FLOPS]
            + [("_base_", 3 * c, 1.5 + 200 * c ** -0.15 * 1.001) for c in FLOPS] + [("c4_original", 4e21, 2.0)])
    result = scalefit.analyze(pd.DataFrame(rows, columns=["family", "flops", "loss"]), bootstrap=0)
    text, assets = scalefit.render_report(result, markdown=True, output=str(tmp_path / "my report.md"))
    assert "\\*new\\*" in text and "\\_base\\_" in text and "c4_original" in text
    assert "*new*" not in text.replace("\\*new\\*", "") and "_base_" not in text.replace("\\_base\\_", "")
    links = re.findall(r"!\[[^\]]*\]\(([^)]*)\)", text)
    assert links and all(" " not in link for link in links)
    assert sorted(urllib.parse.unquote(link) for link in links) == sorted(os.path.basename(p) for p in assets)


def test_a_distribution_figure_without_reference_points_says_there_are_none(tmp_path):
    """Found by a new user: two ladders and no single-run family were told 'no reference point the
    focus's law can reach', as if one were out of reach."""
    path = tmp_path / "two.csv"
    assert run("simulate", "--second-ladder", "2", "-o", path).exit_code == 0
    result = run("plot", path, "--kind", "distribution", "-o", tmp_path / "d.png")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("scalefit: error: the file has no reference point (a family of one run): ")
    assert "--band-method percentile" in result.stderr


def _gadre_like_rows() -> str:
    return "".join(f"a,r{i},{1e18 * 10 ** i:g},{3 - i / 10}\n" for i in range(5))


def test_a_commented_out_header_is_named_not_read_from_the_first_run(tmp_path):
    """'#family,run,flops,loss' makes the first run the header: the error said 'no family column'
    and listed the run's values as the columns found; it names the commented header line."""
    path = tmp_path / "commented.csv"
    path.write_text("# from the paper's table 3\n#family,run,flops,loss\n" + _gadre_like_rows())
    one_error_line(run("fit", path), "commented.csv, line 2: the header '#family,run,flops,loss' is commented out",
                   "remove the '#'")


def test_a_note_above_the_header_without_its_hash_names_both_lines(tmp_path):
    """A note on line 1 written without '#' was read as the header ('line 2: 4 fields but the header has
    2'); the error says the note is taken for the header and where the header is."""
    path = tmp_path / "note.csv"
    path.write_text("Source: Gadre et al. 2024, C4 validation loss\nfamily,run,flops,loss\n" + _gadre_like_rows())
    one_error_line(run("fit", path), "note.csv, line 1: 'Source: Gadre et al. 2024, C4 validation loss' is read as "
                   "the header, but the header is on line 2", "start a note line with '#'")
    path.write_text("Source: Gadre et al. 2024\nfamily,run,flops,loss\n" + _gadre_like_rows())   # no comma: 1 column
    one_error_line(run("fit", path), "the header is on line 2")


def test_unnamed_trailing_columns_of_a_spreadsheet_are_ignored(tmp_path):
    """A spreadsheet's export with two or more empty trailing columns ('...,loss,,') was refused as
    "column '' appears more than once"; unnamed columns are never read, like one unnamed column."""
    rows = "family,run,flops,loss\n" + _gadre_like_rows()
    plain, trailing = tmp_path / "plain.csv", tmp_path / "trailing.csv"
    plain.write_text(rows)
    trailing.write_text("".join(line + ",,\n" for line in rows.splitlines()))
    assert scalefit.read_ladder(trailing).runs.drop(columns="where").equals(
        scalefit.read_ladder(plain).runs.drop(columns="where"))
    assert run("fit", trailing).exit_code == 0
