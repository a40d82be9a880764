"""Rough edges a notebook user of the Python API hits: the signals the command gives (refusal of a
compute far from the runs, warnings about extrapolation) given from Python too, validated data that
stays validated, and Python's wording in Python's outputs."""

import warnings

import numpy as np
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


def test_invert_warns_when_the_compute_needed_is_far_beyond_the_runs(muse):
    flops, caught = _caught(lambda: muse.invert("muse", 0.6))
    assert flops > 1e23 and [str(w.message) for w in caught] == [
        "muse at loss 0.6 (perplexity 1.822): muse's fit is extrapolated 2.1 decades beyond its largest run"]
    assert _caught(lambda: muse.invert("muse", 0.8))[1] == []
    assert _caught(lambda: muse.invert("muse", 0.1)) == (np.inf, [])     # unreachable: inf says so


def test_shared_predict_refuses_and_warns_as_analysis_predict(two_ladders):
    with pytest.raises(ValueError, match=r"^flops 1e\+40: "):
        two_ladders.predict("other", 1e40)
    value, caught = _caught(lambda: two_ladders.predict("other", 1e24))
    assert [str(w.message) for w in caught] == [
        "other at compute 1e+24: the prediction is extrapolated 2.0 decades beyond its largest run"]
    assert np.isfinite(value) and _caught(lambda: two_ladders.predict("other", 1e21))[1] == []


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
    read, fitted = ladder.runs, scalefit.analyze(ladder, bootstrap=0)
    _change_every_way(ladder)
    assert ladder.runs.equals(read) and (ladder.runs["loss"] > 0).all()
    assert scalefit.analyze(ladder, bootstrap=0) == fitted     # before: a LadderError about loss -1


def test_the_runs_of_a_result_cannot_be_changed_through_it(muse):
    before = muse.ladder.runs
    _change_every_way(muse.ladder)
    assert muse.ladder.runs.equals(before)
    assert scalefit.analyze(muse.ladder, bootstrap=0) == muse
