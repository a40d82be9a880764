"""Rough edges a notebook user of the Python API hits: the signals the command gives (refusal of a
compute far from the runs, warnings about extrapolation) given from Python too, validated data that
stays validated, and Python's wording in Python's outputs."""

import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit.cli import main as scalefit_main
from scalefit.simulate import SimulationSpec, simulate

MUSE = "data/ladders/muse.csv"     # muse's runs: 1e19 to 1e22


@pytest.fixture(scope="module")
def muse():
    return scalefit.analyze(MUSE, bootstrap=0)


@pytest.fixture(scope="module")
def two_ladders():
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 6)), noise=0.01,
                          second_ladder=3.0, seed=1)
    return scalefit.compare_shared(simulate(spec), name="two")


def _caught(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = call()
    return value, [w for w in caught if issubclass(w.category, scalefit.ExtrapolationWarning)]


def test_predict_far_from_the_runs_is_refused_as_the_command_refuses_at_flops(muse):
    with pytest.raises(ValueError, match=r"^flops 1e\+40: 18.0 decades outside the fitted runs' compute"):
        muse.predict("muse", 1e40)
    with pytest.raises(ValueError, match=r"^flops 1e\+08: "):
        muse.predict("muse", [1e20, 1e8])


def test_predict_beyond_a_decade_warns_with_the_commands_warning(muse, capsys):
    value, caught = _caught(lambda: muse.predict("muse", 3e23))
    assert len(caught) == 1
    text = caught[0].message.args[0]
    assert text == "muse at compute 3e+23: the prediction is extrapolated 1.5 decades beyond its largest run"
    assert text.flags == text and caught[0].filename == __file__      # the user's line, not the library's
    with pytest.raises(SystemExit):
        scalefit_main(["fit", MUSE, "--bootstrap", "0", "--at-flops", "3e23"])
    assert f"scalefit: warning: {text}\n" in capsys.readouterr().err
    assert value == muse.fits["muse"].fit.predict(3e23)


def test_predict_inside_the_runs_is_silent_and_an_array_warns_once_per_side(muse):
    assert _caught(lambda: muse.predict("muse", [1e19, 1e21, 1e23]))[1] == []    # within a decade
    _, caught = _caught(lambda: muse.predict("muse", [3e23, 1e25, 1e17]))
    texts = [str(w.message) for w in caught]
    assert texts == ["muse at compute 3e+23, compute 1e+25: the prediction is extrapolated up to 3.0 decades "
                     "beyond its largest run",
                     "muse at compute 1e+17: the prediction is extrapolated 2.0 decades below its smallest run"]


def test_a_compute_given_twice_is_named_once_in_the_warning(muse):
    """An array with repeats (a grid rounded, np.full) named '3e+23, 3e+23, 3e+23 and 2 more'."""
    _, caught = _caught(lambda: muse.predict("muse", [3e23, 3e23, 3e23, 3e23, 1e24]))
    assert [str(w.message) for w in caught] == [
        "muse at compute 3e+23, compute 1e+24: the prediction is extrapolated up to 2.0 decades beyond its largest run"]
    _, caught = _caught(lambda: muse.predict("muse", np.full(3, 3e23)))
    assert [str(w.message) for w in caught] == [
        "muse at compute 3e+23: the prediction is extrapolated 1.5 decades beyond its largest run"]


def test_invert_warns_when_the_compute_needed_is_far_beyond_the_runs(muse):
    flops, caught = _caught(lambda: muse.invert("muse", 0.6))
    assert flops > 1e23 and [str(w.message) for w in caught] == [
        "muse at loss 0.6 (perplexity 1.822): muse's fit is extrapolated 2.1 decades beyond its largest run"]
    assert caught[0].filename == __file__
    assert _caught(lambda: muse.invert("muse", 0.8))[1] == []
    assert _caught(lambda: muse.invert("muse", 0.1)) == (np.inf, [])     # unreachable: inf says so


def test_invert_of_an_array_warns_once_per_side(muse):
    """invert warned once per loss (a notebook's np.linspace of 50 target losses gave 50 warnings),
    where predict names a few points and the farthest; now invert does the same."""
    flops, caught = _caught(lambda: muse.invert("muse", np.linspace(0.6, 0.62, 50)))
    assert flops.shape == (50,) and [str(w.message) for w in caught] == [
        "muse at loss 0.6 (perplexity 1.822), loss 0.6004 (perplexity 1.823), loss 0.6008 (perplexity 1.824) "
        "and 47 more: muse's fit is extrapolated up to 2.1 decades beyond its largest run"]
    _, caught = _caught(lambda: muse.invert("muse", [0.6, 0.8, 3.0, 0.6]))
    assert [str(w.message) for w in caught] == [
        "muse at loss 0.6 (perplexity 1.822): muse's fit is extrapolated 2.1 decades beyond its largest run",
        "muse at loss 3 (perplexity 20.09): muse's fit is extrapolated 3.8 decades below its smallest run"]


def test_shared_predict_refuses_and_warns_as_analysis_predict(two_ladders):
    with pytest.raises(ValueError, match=r"^flops 1e\+40: "):
        two_ladders.predict("other", 1e40)
    value, caught = _caught(lambda: two_ladders.predict("other", 1e24))
    assert [str(w.message) for w in caught] == [
        "other at compute 1e+24: the prediction is extrapolated 2.0 decades beyond its largest run"]
    assert caught[0].filename == __file__
    assert np.isfinite(value) and _caught(lambda: two_ladders.predict("other", 1e21))[1] == []


def test_predict_and_shared_predict_read_the_fitted_range_once(muse, two_ladders, monkeypatch):
    """The check against the runs recounted every family's rows at every call: a scalar predict
    took 17 ms with 60 families, 0.016 ms before the check (a notebook's loop over computes)."""
    muse.predict("muse", 1e21), two_ladders.predict("other", 1e21)
    monkeypatch.setattr(scalefit.Ladder, "run_counts", lambda self: pytest.fail("the runs recounted"))
    muse.predict("muse", [1e21, 1e22])
    two_ladders.predict("other", 1e21)
    with pytest.raises(ValueError, match=r"^flops 1e\+40: 18.0 decades outside the fitted runs' compute "
                                         r"\(1e\+19 to 1e\+22\)"):
        muse.predict("muse", 1e40)


# ----- validated runs stay validated ---------------------------------------------------------------

def _change_every_way(ladder) -> None:
    """What a notebook might do to the frame it reads from a ladder, directly or kept in a name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # pandas' chained-assignment warning, where it gives one
        ladder.runs.loc[0, "loss"] = -1.0
        ladder.runs["flops"] = 0.0
        runs = ladder.runs
        runs.iloc[1, runs.columns.get_loc("loss")] = 1e9
        runs.drop(columns=["family"], inplace=True)
        ladder.family_runs("muse").loc[0, "loss"] = -1.0


def test_the_runs_of_a_ladder_cannot_be_changed_through_it():
    ladder = scalefit.read_ladder(MUSE)
    read, fitted = scalefit.read_ladder(MUSE).runs, scalefit.analyze(ladder, bootstrap=0)   # not ladder.runs
    _change_every_way(ladder)
    assert ladder.runs.equals(read) and (ladder.runs["loss"] > 0).all()
    assert scalefit.analyze(ladder, bootstrap=0) == fitted     # before: a LadderError about loss -1


def test_the_runs_of_a_result_cannot_be_changed_through_it(muse):
    before = scalefit.read_ladder(MUSE).runs      # not muse.ladder.runs, which shared its changes
    _change_every_way(muse.ladder)
    assert muse.ladder.runs.equals(before)
    assert scalefit.analyze(muse.ladder, bootstrap=0) == muse


@pytest.mark.skipif(int(pd.__version__.split(".")[0]) >= 3, reason="pandas 3 copies on write always")
def test_the_runs_stay_unchanged_when_copy_on_write_is_turned_off_after_the_import():
    """pandas 2 copies on write only while pd.options.mode.copy_on_write is on; scalefit read the
    option once, when it read its first ladder, and with it on then and off later, ladder.runs
    shared its data with the ladder: a write to it changed the runs every later fit used."""
    code = textwrap.dedent(f"""
        import warnings
        import pandas as pd
        import scalefit
        pd.options.mode.copy_on_write = True
        ladder = scalefit.read_ladder({MUSE!r})
        pd.options.mode.copy_on_write = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ladder.runs.loc[0, "loss"] = -1.0
        print(ladder.runs.loc[0, "loss"])
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) == scalefit.read_ladder(MUSE).runs.loc[0, "loss"] > 0


# ----- Python's wording in Python's outputs --------------------------------------------------------

VERSION = scalefit.__version__


def test_a_comparison_summary_is_titled_by_its_function_and_the_commands_by_the_command(two_ladders):
    from scalefit.formatting import format_shared
    summary = two_ladders.summary()
    assert summary.startswith(f"scalefit {VERSION} compare_shared: two\n") and "scalefit compare" not in summary
    assert format_shared(two_ladders, flags=True).startswith(f"scalefit {VERSION} compare: two\n")


@pytest.fixture(scope="module")
def plan():
    from scalefit.planning import plan_ladder
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 5)), noise=0.01)
    return plan_ladder(spec, multiplier=3.0, beyond=1.0, claim=2.0, simulations=20, workers=1)


@pytest.fixture(scope="module")
def optimal():
    n = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    law = scalefit.ChinchillaLaw()
    frame = pd.DataFrame({"family": "f", "params": n, "tokens": d,
                          "loss": law.predict_nd(np.array([1.7, 400.0, 2000.0, 0.34, 0.36]), n, d)})
    return scalefit.optimal_report(frame, [1e21], bootstrap=0, name="nd")


def test_a_plan_summary_is_titled_by_plan_ladder(plan):
    from scalefit.formatting import format_plan
    assert plan.summary().startswith("scalefit plan_ladder: 5 runs from 1.00e19")
    assert format_plan(plan, flags=True).startswith("scalefit plan: 5 runs from 1.00e19")


def test_an_optimal_report_summary_is_titled_by_optimal_report(optimal):
    from scalefit.formatting import format_optimal
    assert optimal.summary().startswith(f"scalefit {VERSION} optimal_report: nd\n")
    assert format_optimal(optimal, flags=True).startswith(f"scalefit {VERSION} optimal: nd\n")


class _Printer:
    """What IPython hands to _repr_pretty_: it collects the text a cell would show."""

    def __init__(self):
        self.shown = ""

    def text(self, text):
        self.shown += text


def test_a_summary_ending_a_notebook_cell_shows_as_the_table(muse, two_ladders, plan, optimal):
    """A notebook cell ending in ``result.summary()`` showed a quoted string of \\n escapes (a plain
    str's repr); every summary is now a str that IPython shows as its text, and still equals the text."""
    summaries = [muse.summary(), two_ladders.summary(), scalefit.backtest(MUSE, hold_out=2).summary(),
                 plan.summary(), optimal.summary()]
    for summary in summaries:
        printer = _Printer()
        summary._repr_pretty_(printer, cycle=False)
        assert printer.shown == str.__str__(summary) and "\n" in printer.shown and "\\n" not in printer.shown
        assert isinstance(summary, str) and summary == str.__str__(summary)


def test_a_fits_lmfit_report_ending_a_notebook_cell_shows_as_text(muse):
    report = muse.fits["muse"].fit.report
    printer = _Printer()
    report._repr_pretty_(printer, cycle=False)
    assert printer.shown == str.__str__(report) and "[[Variables]]" in printer.shown


def test_ipython_shows_a_summary_as_its_text(muse):
    pretty = pytest.importorskip("IPython.lib.pretty")
    summary = muse.summary()
    assert pretty.pretty(summary) == summary and pretty.pretty(str(summary)) != summary


def test_a_reports_shared_law_table_names_the_call_in_python_and_the_command_with_flags(two_ladders):
    from scalefit.report import _shared_table
    result = scalefit.analyze(two_ladders.ladder, bootstrap=0)
    (python_title, *_), = _shared_table(result, two_ladders)
    (flags_title, *_), = _shared_table(result, two_ladders, flags=True)
    assert python_title.endswith("(scalefit.compare_shared)") and flags_title.endswith("(scalefit compare)")


# ----- figure options checked as the command checks --xlim and --ylim -----------------------------

@pytest.mark.parametrize("limits, said", [
    (dict(xlim=(1e25, 1e19)), "xlim (1e+25, 1e+19): low must be a number below high"),
    (dict(xlim=(0, 1e22)), "xlim (0, 1e+22): compute is on a log axis: give 0 < low < high, at most 100 decades apart"),
    (dict(xlim=(1e-90, 1e22)), "compute is on a log axis"),
    (dict(xlim=(1e19, float("inf"))), "compute is on a log axis"),
    (dict(xlim="12"), "xlim '12': give (low, high), two numbers"),
    (dict(xlim=(1e19,)), "give (low, high), two numbers"),
    (dict(ylim=(2, 1)), "ylim (2, 1): low must be a number below high"),
    (dict(ylim=(float("nan"), 2)), "low must be a number below high"),
    (dict(ylim=(0, 1e200)), "ylim (0, 1e+200): give finite limits within +-1e+100"),
])
def test_figure_limits_without_sense_are_refused_by_name(limits, said):
    """They were drawn (a reversed or zero-based log axis, NaN limits) without a word."""
    with pytest.raises(ValueError, match=re.escape(said)) as refused:
        scalefit.FigureOptions(**limits)
    assert str(refused.value).startswith(f"FigureOptions {next(iter(limits))} ")
    scalefit.FigureOptions(xlim=(1e18, 1e24), ylim=(-1, 3))                # sensible limits pass


# ----- simulate and plan as the command takes them -------------------------------------------------

@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_a_simulation_seed_the_command_refuses_is_refused_by_name(seed):
    """numpy refused -1 from deep in the generator ('expected non-negative integer') and 1.5 with a
    TypeError about SeedSequence entropy."""
    from scalefit.planning import plan_ladder
    with pytest.raises(ValueError, match=rf"^seed must be a whole number >= 0, got {seed!r}$"):
        simulate(SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22), seed=seed))
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22), noise=0.01)
    with pytest.raises(ValueError, match=rf"^seed must be a whole number >= 0, got {seed!r}$"):
        plan_ladder(spec, simulations=20, seed=seed)


def test_plan_ladder_defaults_are_the_commands():
    """scalefit plan defaults to --multiplier 2 --beyond 1 --claim 1; plan_ladder required the first two."""
    from scalefit.planning import plan_ladder
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22), noise=0.01)
    assert plan_ladder(spec, simulations=20) == plan_ladder(spec, 2.0, 1.0, 1.0, simulations=20)
