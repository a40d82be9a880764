"""What a new user reads: numbers that do not hide what matters (which side of 1x a band's end lies
on), refusals that name the value at fault, and the Python names of the commands' functions."""

import re

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import scalefit
from scalefit.cli import main
from scalefit.formatting import fmt_multiplier
from scalefit.simulate import SimulationSpec


@given(st.floats(0.98, 1.02).filter(lambda x: x != 1))
def test_a_multiplier_near_1x_is_never_shown_as_1x(x):
    """A band's end of 1.0045 was printed '1x', as one of 0.9996 was: whether the band clears 1x
    could not be read from the table."""
    text = fmt_multiplier(x)
    shown = float(text.removesuffix("x"))
    assert text != "1x"
    assert shown == 1 or (shown - 1) * (x - 1) > 0          # on the value's side of 1x, or visibly rounded


def test_exactly_1x_and_multipliers_away_from_1_keep_three_figures():
    assert [fmt_multiplier(x) for x in (1.0, 10.3, 0.312, 2.004, 1.05)] == ["1x", "10.3x", "0.312x", "2x", "1.05x"]


def test_tiny_multipliers_are_written_as_large_ones_are():
    """Found by a new-user review: '3.46e-07x' and '1e-12x' beside '1.00e12x'; both ends now take
    3 figures and an exponent without padding."""
    assert [fmt_multiplier(x) for x in (3.456e-7, 1e-12, 0.00123, 1e12)] == ["3.46e-7x", "1.00e-12x", "0.00123x",
                                                                             "1.00e12x"]


def test_a_negative_multiplier_is_written_not_a_crash():
    """Found by review: the tiny-multiplier branch took every negative value and split a mantissa
    without an exponent ('-1' from fmt), a ValueError where '-1x' was printed before."""
    assert [fmt_multiplier(x) for x in (-1.0, -0.5, -2.5e-4, -3e6, -float("inf"))] == \
        ["-1x", "-0.5x", "-2.50e-4x", "-3.00e6x", "-inf"]


def test_the_fit_table_shows_a_band_end_just_above_1x_above_1x():
    """Two seeded simulated ladders (2 seeds per compute, the second needing 2x the compute) whose
    95% band of the multiplier starts just above 1x: the table showed it as '[1x, 2.88x]'."""
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 5.62e19, 3.16e20, 1.78e21, 1e22), noise=0.01,
                          second_ladder=2.0, repeats=2, seed=2)
    result = scalefit.analyze(scalefit.simulate(spec))
    (m,) = result.multipliers
    assert 1 < m.low < 1.005                                   # the case in question
    band = re.search(r"\[([0-9.e+-]+)x, ([0-9.e+-]+)x\]", result.summary()).group(1)
    assert float(band) > 1


@pytest.mark.parametrize("command", ["simulate", "plan"])
@pytest.mark.parametrize("flops, entry", [("-1e19,1e20,1e21,1e22", "entry 1 (-1e19)"),
                                          ("1e19,1e20,inf,1e22", "entry 3 (inf)"),
                                          ("1e19,0,1e21,1e22", "entry 2 (0)")])
def test_a_compute_list_with_one_bad_entry_is_refused_naming_it(command, flops, entry):
    """Three good entries and one negative were refused as 'need at least 2 positive, finite compute
    values', which the list had."""
    result = CliRunner().invoke(main, [command, "--flops", flops])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"scalefit: error: --flops {flops}: {entry} is not a run's compute")
    assert "at least 2" not in line


def test_simulates_help_speaks_of_simulate_only_and_says_what_a_short_reference_means():
    """simulate --help shared plan's --noise text ('plan LADDER.csv does; plan needs it above 0'), and
    its --reference did not say that NAME= and @DECADES_BEYOND may be left out, as they may."""
    text = " ".join(CliRunner().invoke(main, ["simulate", "--help"]).stdout.split())
    assert "plan" not in text
    assert "without NAME= it is named ref1" in text and "without @DECADES_BEYOND it is 1 decade beyond" in text
    assert "plan LADDER.csv does" in " ".join(CliRunner().invoke(main, ["plan", "--help"]).stdout.split())


@pytest.mark.parametrize("command, function", [("fit", "analyze"), ("compare", "compare_shared"),
                                               ("optimal", "optimal_report"), ("plan", "plan_ladder")])
def test_a_command_name_tried_in_python_points_at_its_function(command, function):
    """scalefit.plan(...) said only "module 'scalefit' has no attribute 'plan'"; the function that
    does what the command does has another name, which the error now gives, and which exists."""
    with pytest.raises(AttributeError, match=rf"'scalefit {command}' is scalefit\.{function} in Python"):
        getattr(scalefit, command)
    assert callable(getattr(scalefit, function))
    assert not hasattr(scalefit, command)


def test_a_missing_loss_in_a_nullable_column_reads_as_an_empty_cell():
    """frame.convert_dtypes() turns a diverged run's NaN into pd.NA, which was refused as '<NA> is
    not a number; write a plain number such as 2.31', not as the missing value it is."""
    frame = scalefit.simulate(SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22)))
    frame.loc[2, "loss"] = float("nan")
    with pytest.raises(scalefit.LadderError) as refused:
        scalefit.read_ladder(frame.convert_dtypes())
    assert str(refused.value) == ("<DataFrame>, row 2, column 'loss': an empty cell is not a number; "
                                  "write a plain number such as 2.31 or remove the row")


def test_compare_names_the_reference_points_it_leaves_out(tmp_path):
    """A reference run in the file vanished from compare's table without a word; it is named below
    the table, with what compares it (the command or the Python function)."""
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22), noise=0.01, second_ladder=2.0,
                          references=(scalefit.ReferenceSpec("big", multiplier=4.0, beyond=1.0),), seed=3)
    path = tmp_path / "three.csv"
    path.write_text(scalefit.simulated_csv(spec))
    table = CliRunner().invoke(main, ["compare", str(path)]).stdout
    assert "  not in the shared law: big (single run, compared by scalefit fit)" in table.splitlines()
    assert "(single run, compared by scalefit.analyze)" in scalefit.compare_shared(path).summary()
    without = tmp_path / "two.csv"
    without.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                               if not line.startswith("big,")))
    assert "not in the shared law" not in scalefit.compare_shared(without).summary()


@pytest.mark.parametrize("hold_out, kept", [(5, 3), (6, 2), (7, 1)])
def test_a_backtest_that_holds_out_too_much_says_what_the_law_needs(hold_out, kept):
    """Fit's refusal was quoted out of context: 2 runs kept read 'needs at least 4 runs, or exactly 1
    run to serve as a reference point', 1 run 'focus family ... the focus must be a ladder'."""
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(10.0 ** k for k in range(19, 27)), noise=0.01,
                          seed=1)
    with pytest.raises(scalefit.LadderError) as refused:
        scalefit.backtest(scalefit.simulate(spec), hold_out=hold_out)
    message = str(refused.value)
    assert (f"it keeps {kept} run(s) at {kept} compute value(s), too few to fit the saturating law, which needs "
            "4 or more runs at 3 or more compute values") in message
    assert "reference point" not in message and "focus family" not in message and "ladder" not in message
