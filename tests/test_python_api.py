"""The Python API as a notebook uses it: names that resolve to what they say, arguments checked
with one clear message, figures saved at the size they were drawn."""

import subprocess
import sys

import pandas as pd
import pytest

import scalefit
from scalefit.simulate import SimulationSpec

SPEC = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22), noise=0.01, seed=3)


def test_scalefit_simulate_stays_callable_after_its_module_is_imported():
    """The first access gave the function and bound the submodule over it: the second call failed
    with "'module' object is not callable"."""
    first, second = scalefit.simulate(SPEC), scalefit.simulate(SPEC)
    pd.testing.assert_frame_equal(first, second)
    from scalefit.simulate import simulate
    pd.testing.assert_frame_equal(first, simulate(SPEC))


def test_scalefit_simulate_in_a_fresh_interpreter_is_callable_and_a_module():
    code = ("import scalefit\n"
            "from scalefit.simulate import SimulationSpec\n"
            "spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22))\n"
            "a = scalefit.simulate(spec); b = scalefit.simulate(spec)\n"
            "import scalefit.simulate as module\n"
            "assert module.read_truth is scalefit.read_truth and a.equals(b)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# ----- figures -------------------------------------------------------------------------------------

def _png_size(path) -> tuple[int, int]:
    from PIL import Image
    with Image.open(path) as image:
        return image.size


FIVE_REFERENCES = pd.DataFrame({
    "family": ["a"] * 6 + ["r1", "r2", "r3", "r4", "r5"],
    "flops": [1e19, 3e19, 1e20, 3e20, 1e21, 3e21, 1e22, 2e22, 5e22, 1e23, 3e23],
    "loss": [3.2, 3.05, 2.92, 2.81, 2.71, 2.63, 2.55, 2.50, 2.46, 2.43, 2.40]})


def test_save_figure_keeps_the_size_a_figure_was_drawn_at(tmp_path):
    """save_figure's default options (3.4 x 2.6 in) overrode the drawn size: the shared-law figure,
    drawn two panels wide (6.8 in), was saved squeezed into one column, by `compare --figure` too."""
    from scalefit.plots import shared_figure
    path = tmp_path / "cmp.png"
    scalefit.save_figure(shared_figure(scalefit.compare_shared(scalefit.simulate(
        SimulationSpec(SPEC.params, SPEC.flops, second_ladder=3.0)))), str(path), dpi=100)
    assert _png_size(path) == (680, 260)


def test_backtest_and_shared_figures_from_python_have_the_commands_size(tmp_path):
    """Found by review: FigureOptions' height None is documented as the figure's natural height,
    but backtest_figure and shared_figure drew 2.6 inches whatever their legend needed (seven long
    family names left the backtest figure's panel 0.8 inches), and after the day's merges `compare
    --figure` drew the two-panel shared-law figure one column wide (3.4 in), while from Python it
    is two (6.8 in). Both figures now take their natural size, from Python and from the commands."""
    import struct
    import sys
    from pathlib import Path

    from click.testing import CliRunner
    from scalefit.cli import main
    from scalefit.plots import COLUMN_SIZE, backtest_figure, backtest_height, shared_figure, shared_height
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_figures_report import long_named_ladders

    frame = long_named_ladders(7)
    path = tmp_path / "seven.csv"
    frame.to_csv(path, index=False)
    bt, cmp = scalefit.backtest(frame, hold_out=2), scalefit.compare_shared(frame)
    assert backtest_height(bt) > COLUMN_SIZE[1] and shared_height(cmp, width=2 * COLUMN_SIZE[0]) > COLUMN_SIZE[1]
    for plot, command in ((backtest_figure(bt), ["backtest", str(path), "--hold-out", "2"]),
                          (shared_figure(cmp), ["compare", str(path)])):
        scalefit.save_figure(plot, str(tmp_path / "python.png"), dpi=100)
        r = CliRunner().invoke(main, command + ["--figure", str(tmp_path / "cli.png")])
        assert r.exit_code == 0, r.output
        cli = struct.unpack(">II", (tmp_path / "cli.png").read_bytes()[16:24])
        assert _png_size(tmp_path / "python.png") == (round(cli[0] / 3), round(cli[1] / 3))   # 100 and 300 dpi
    assert _png_size(tmp_path / "python.png") == (680, round(100 * shared_height(cmp, width=6.8)))
    scalefit.save_figure(backtest_figure(bt), str(tmp_path / "bt.png"), dpi=100)
    assert _png_size(tmp_path / "bt.png") == (340, round(100 * backtest_height(bt)))


def test_a_multipliers_figure_from_python_has_the_commands_height(tmp_path):
    """With more than three arrows the figure carries a key of one line per arrow: `scalefit plot`
    grew the figure for it, FIGURES['multipliers'](result) squeezed the plot into 2.6 inches."""
    from scalefit.plots import COLUMN_SIZE, natural_height
    result = scalefit.analyze(FIVE_REFERENCES)
    path = tmp_path / "m.png"
    scalefit.save_figure(scalefit.FIGURES["multipliers"](result), str(path), dpi=100)
    height = natural_height("multipliers", result, COLUMN_SIZE[1])
    assert height > COLUMN_SIZE[1] + 0.5
    assert _png_size(path) == (340, round(100 * height))


def test_save_figure_refuses_options_it_cannot_apply(tmp_path):
    """A title, labels or limits given to save_figure were silently dropped."""
    figure = scalefit.FIGURES["residuals"](scalefit.analyze(FIVE_REFERENCES, bootstrap=0))
    with pytest.raises(ValueError, match="title, xlim .*figure's function"):
        scalefit.save_figure(figure, str(tmp_path / "r.png"), scalefit.FigureOptions(title="t", xlim=(1, 2)))
    with pytest.warns(UserWarning, match="laid out for 3.4 x 2.6 in .* saved at 5 x 3 in"):
        scalefit.save_figure(figure, str(tmp_path / "r.png"), scalefit.FigureOptions(width=5.0, height=3.0), dpi=100)
    assert _png_size(tmp_path / "r.png") == (500, 300)


def test_save_figure_warns_when_saving_at_another_size_than_drawn(tmp_path):
    """Drawn at 3.4 x 2.6 in and saved at 2.5 x 2 with save_figure's width and height, a contours
    figure's caption ran off the figure and its labels sat on lines, without a word; drawn at the
    size it is saved at, or saved at the drawn size, it says nothing."""
    import warnings

    result = scalefit.analyze(FIVE_REFERENCES, bootstrap=0)
    figure = scalefit.FIGURES["residuals"](result)
    with pytest.warns(UserWarning, match=r"FigureOptions\(width=2.5, height=2\)") as caught:
        scalefit.save_figure(figure, str(tmp_path / "small.png"), scalefit.FigureOptions(width=2.5, height=2), dpi=50)
    assert [w.filename for w in caught] == [__file__]         # the user's line, not save_figure's
    with pytest.warns(UserWarning, match=r"saved at 2.5 x 2.6 in.*FigureOptions\(width=2.5\)"):
        scalefit.save_figure(figure, str(tmp_path / "narrow.png"), scalefit.FigureOptions(width=2.5), dpi=50)
    small = scalefit.FIGURES["residuals"](result, options=scalefit.FigureOptions(width=2.5, height=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scalefit.save_figure(small, str(tmp_path / "drawn.png"), dpi=50)
        scalefit.save_figure(small, str(tmp_path / "same.png"), scalefit.FigureOptions(width=2.5, height=2), dpi=50)
        scalefit.save_figure(figure, str(tmp_path / "default.png"), dpi=50)


# ----- arguments -----------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["huber_delta", "flops_per_param_token"])
@pytest.mark.parametrize("bad", [0, -1e-3, float("nan"), float("inf"), "0.001", True])
def test_chinchilla_law_refuses_a_delta_or_k_the_command_refuses(field, bad):
    """The command's options are x > 0; ChinchillaLaw(huber_delta=-1) fitted a meaningless law (E = 0,
    A = 4e-13) without a word, k = 0 divided by zero deep in the efficiency code, k = nan failed in
    numpy's argmax."""
    with pytest.raises(ValueError, match=f"{field} .*positive, finite"):
        scalefit.ChinchillaLaw(**{field: bad})
    assert scalefit.ChinchillaLaw(**{field: 2}).__getattribute__(field) == 2.0


def _chinchilla_frame() -> pd.DataFrame:
    """A made-up L(N, D) ladder: 5 sizes x 4 token counts, exact losses of a Chinchilla-like law."""
    import numpy as np
    n, d = (a.ravel() for a in np.meshgrid(np.geomspace(1e7, 1e9, 5), np.geomspace(1e9, 1e11, 4)))
    law = scalefit.ChinchillaLaw()
    return pd.DataFrame({"family": "f", "params": n, "tokens": d,
                         "loss": law.predict_nd(np.array([1.7, 400.0, 2000.0, 0.34, 0.36]), n, d)})


def test_optimal_report_takes_the_law_by_name_and_checks_its_tolerance():
    """law="chinchilla" (as analyze takes it) failed with AttributeError 'str' object has no
    attribute 'flops_per_param_token'; a negative budget tolerance failed in numpy's argmax."""
    frame = _chinchilla_frame()
    by_name = scalefit.optimal_report(frame, [1e21], law="chinchilla", bootstrap=0)
    assert by_name.frame().equals(scalefit.optimal_report(frame, [1e21], bootstrap=0).frame())
    # in any case, as analyze takes law names (review: "Chinchilla" was refused here only)
    assert scalefit.optimal_report(frame, [1e21], law=" Chinchilla", bootstrap=0).frame().equals(by_name.frame())
    with pytest.raises(ValueError, match="law must be the L\\(N, D\\) law"):
        scalefit.optimal_report(frame, [1e21], law="saturating", bootstrap=0)
    for bad in (0, -1, float("nan"), "0.05"):
        with pytest.raises(ValueError, match="budget_tolerance"):
            scalefit.optimal_report(frame, [1e21], budget_tolerance=bad, bootstrap=0)


def test_optimal_report_shows_its_warnings_and_gives_a_frame():
    """summary() left out the warnings (every other result's summary ends with them; in a notebook
    stderr is out of sight), and there was no DataFrame of the allocations."""
    report = scalefit.optimal_report(_chinchilla_frame(), [1e21, 1e30], bootstrap=0)
    assert report.warnings and all(w in report.summary() for w in report.warnings)
    frame = report.frame()
    assert list(frame[["family", "flops"]].itertuples(index=False, name=None)) == [("f", 1e21), ("f", 1e30)]
    at = report.families[0].at[1e21]
    assert frame.loc[0, "n_opt"] == at["n_opt"][0] and frame.loc[0, "tokens_per_param"] == at["tokens_per_param"][0]
    assert {"d_opt_low", "loss_high", "a", "b", "isoflop_n_opt"} <= set(frame.columns)


@pytest.mark.parametrize("bad", ["0.9", None, True, 1.0, 0, float("nan"), 95])
def test_every_entry_point_refuses_a_level_that_is_not_a_share_in_one_message(bad):
    """level="0.9" (a value read from a config file) failed with "TypeError: '<' not supported
    between instances of 'float' and 'str'"; plan_ladder's message formatted it with :g and failed too."""
    from scalefit.planning import plan_ladder
    calls = [lambda: scalefit.analyze(FIVE_REFERENCES, level=bad), lambda: scalefit.backtest(FIVE_REFERENCES, level=bad),
             lambda: scalefit.compare_shared(scalefit.simulate(SimulationSpec(SPEC.params, SPEC.flops, second_ladder=2.0)),
                                             level=bad),
             lambda: plan_ladder(SPEC, multiplier=2.0, beyond=1.0, level=bad)]
    for call in calls:
        with pytest.raises(ValueError, match=r"level must be a number between 0 and 1 .*got"):
            call()


@pytest.mark.parametrize("bad", [3, None, "saturation"])
def test_backtest_refuses_what_is_not_a_law_as_analyze_does(bad):
    """backtest(law=3) failed with "AttributeError: 'int' object has no attribute 'name'"."""
    with pytest.raises(ValueError, match="law"):
        scalefit.backtest(FIVE_REFERENCES, law=bad)


# ----- results -------------------------------------------------------------------------------------

def test_frozen_results_keep_their_numbers_and_leave_the_callers_arrays_alone():
    """The results are frozen dataclasses, but their arrays were writeable: fit.params[0] = 99
    silently changed every later predict() and invert()."""
    import numpy as np
    flops, loss = np.geomspace(1e19, 1e22, 6), np.array([3.2, 3.0, 2.85, 2.72, 2.62, 2.55])
    fit = scalefit.fit_law(flops, loss, "saturating")
    before = fit.predict(1e23)
    with pytest.raises(ValueError, match="read-only"):
        fit.params[0] = 99.0
    assert fit.predict(1e23) == before
    assert flops.flags.writeable and loss.flags.writeable      # the caller's arrays are not frozen
    result = scalefit.analyze(FIVE_REFERENCES, band_method="percentile", bootstrap=50, workers=1)
    ff = result.fits["a"]
    arrays = [ff.fit.params, ff.fit.stderr, ff.fit.flops, ff.fit.loss, ff.low, ff.high, ff.draws.params, ff.draws.ok,
              scalefit.compare_shared(scalefit.simulate(SimulationSpec(SPEC.params, SPEC.flops, second_ladder=2.0))).params]
    assert not any(a.flags.writeable for a in arrays)



def _array_fields(result) -> dict:
    import dataclasses
    import numpy as np
    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)
            if isinstance(getattr(result, f.name), np.ndarray)}


def test_unpickled_and_deep_copied_results_keep_their_arrays_read_only():
    """Found by review: pickle and copy.deepcopy restore a result's fields without __post_init__, and
    numpy makes every unpickled array writeable, so after pickle.loads(pickle.dumps(fit)),
    fit.params[0] = 99 went through and changed the copy's predictions (a notebook that caches its
    analyses, or a process pool that returns them, got results that were frozen in name only)."""
    import copy
    import pickle

    import numpy as np
    from scalefit.isoflop import isoflop_analysis
    analysis = scalefit.analyze(FIVE_REFERENCES, band_method="percentile", bootstrap=50, workers=1)
    ff = analysis.fits["a"]
    cmp = scalefit.compare_shared(scalefit.simulate(SimulationSpec(SPEC.params, SPEC.flops, second_ladder=2.0)))
    budgets = np.repeat([1e18, 1e19, 1e20], 5)
    n = budgets ** 0.5 * np.tile(np.geomspace(0.3, 3.0, 5), 3) / 20       # 5 sizes around N_opt per budget
    d = budgets / (6 * n)
    iso = isoflop_analysis(n, d, 1.7 + 400 * n ** -0.34 + 2000 * d ** -0.36, n_resamples=20)
    results = [ff.fit, ff, ff.draws, cmp, iso]
    assert all(_array_fields(r) for r in results)
    for result in results:
        for again in (pickle.loads(pickle.dumps(result)), copy.deepcopy(result)):
            arrays = _array_fields(again)
            assert not [name for name, a in arrays.items() if a.flags.writeable], type(result).__name__
            for name, a in arrays.items():
                np.testing.assert_array_equal(a, getattr(result, name))
    fit = pickle.loads(pickle.dumps(ff.fit))
    before = fit.predict(1e23)
    with pytest.raises(ValueError, match="read-only"):
        fit.params[0] = 99.0
    assert fit.predict(1e23) == before


def test_an_analysis_fits_and_a_backtests_training_cannot_be_changed():
    """Found by review: Analysis.fits (and Backtest.training) were plain dicts on frozen results, so
    analysis.fits['focus'] = analysis.fits['other'] made fits_frame() give the focus the other's
    parameters beside multipliers computed from its own, and del analysis.fits[name] dropped a
    family from every later table. They are read-only mappings now, also once unpickled, and the
    dict a caller passes to Analysis stays the caller's."""
    import copy
    import dataclasses
    import pickle
    frame = scalefit.simulate(SimulationSpec(SPEC.params, (1e19, 1e20, 1e21, 1e22, 1e23), second_ladder=3.0))
    analysis = scalefit.analyze(frame, bootstrap=0)
    bt = scalefit.backtest(frame, hold_out=1, bootstrap=0)
    params = analysis.fits_frame()
    for result, name in [(analysis, "fits"), (bt, "training")]:
        for mapping in (getattr(result, name), getattr(pickle.loads(pickle.dumps(result)), name),
                        getattr(copy.deepcopy(result), name), pickle.loads(pickle.dumps(getattr(result, name)))):
            assert list(mapping) == ["focus", "other"]
            with pytest.raises(TypeError):
                mapping["focus"] = mapping["other"]
            with pytest.raises(TypeError):
                del mapping["other"]
            with pytest.raises(AttributeError):
                mapping.clear()
    pd.testing.assert_frame_equal(analysis.fits_frame(), params)
    given = dict(analysis.fits)
    rebuilt = dataclasses.replace(analysis, fits=given)
    del given["other"]
    assert list(rebuilt.fits) == ["focus", "other"]


def test_an_allocations_budgets_and_quantities_cannot_be_changed():
    """Found by review: FamilyAllocation.at was a dict of dicts on a frozen result, so
    report.families[0].at[c]['n_opt'] = ... changed every later frame(), summary() and JSON, and
    at[c2] = at[c] added a budget never allocated. Read-only all the way down now, also once
    unpickled or deep-copied, and the dicts a caller passes stay the caller's."""
    import copy
    import dataclasses
    import pickle
    report = scalefit.optimal_report(_chinchilla_frame(), [1e21, 1e22], bootstrap=0)
    frame = report.frame()
    family = report.families[0]
    for again in (family, pickle.loads(pickle.dumps(report)).families[0], copy.deepcopy(family)):
        assert list(again.at) == [1e21, 1e22] and again.at[1e21]["n_opt"][0] == family.at[1e21]["n_opt"][0]
        with pytest.raises(TypeError):
            again.at[1e21]["n_opt"] = (1.0, 0.5, 2.0)
        with pytest.raises(TypeError):
            again.at[1e23] = again.at[1e21]
        with pytest.raises(TypeError):
            del again.at[1e22]["loss"]
    pd.testing.assert_frame_equal(report.frame(), frame)
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(report)).frame(), frame)
    given = {c: dict(quantities) for c, quantities in family.at.items()}
    rebuilt = dataclasses.replace(family, at=given)
    given[1e21]["n_opt"] = (1.0, 0.5, 2.0)
    assert rebuilt.at[1e21]["n_opt"][0] == family.at[1e21]["n_opt"][0] != 1.0


DEMO = "data/ladders/muse.csv"


def test_a_ladder_reads_from_an_open_file_or_a_text_buffer_as_from_its_path():
    """pandas reads CSV from buffers, so a notebook passes io.StringIO(text): it was refused as
    'not a CSV path'. CSV text given where a path belongs was 'no such file', named by the whole text."""
    import io
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / DEMO
    text = path.read_text()
    def bands(source):
        return [(m.multiplier, m.low, m.high) for m in scalefit.analyze(source).multipliers]
    by_path = bands(path)
    assert bands(io.StringIO(text)) == by_path
    with open(path, "rb") as handle:
        assert bands(handle) == by_path
    with pytest.raises(scalefit.LadderError, match=r"^'# RECONSTRUCTION.*\\n\.\.\.': is CSV text, not a path; pass "
                                                   r"it as io.StringIO\(text\)$"):
        scalefit.read_ladder(text)
    with pytest.raises(scalefit.LadderError, match="^<stream>: the file is empty"):
        scalefit.read_ladder(io.StringIO(""))


def test_law_names_are_matched_without_regard_to_case():
    assert scalefit.get_law("Saturating").name == "saturating" and scalefit.get_law(" chinchilla").name == "chinchilla"
    frame = pd.DataFrame({"family": ["a"] * 4, "flops": [1e19, 1e20, 1e21, 1e22], "loss": [3.0, 2.6, 2.3, 2.1]})
    assert scalefit.analyze(frame, law="POWER", bootstrap=0).law.name == "power"
    with pytest.raises(ValueError, match="unknown law 'sat'"):
        scalefit.get_law("sat")


def test_a_column_of_booleans_is_not_a_column_of_numbers():
    """True was read as a loss of 1.0 nats without a word."""
    frame = pd.DataFrame({"family": ["a"] * 4, "flops": [1e19, 1e20, 1e21, 1e22], "loss": [True] * 4})
    with pytest.raises(scalefit.LadderError, match="row 0, column 'loss': True is not a number"):
        scalefit.read_ladder(frame)


@pytest.mark.parametrize("field, bad", [("width", -1), ("height", 0), ("base_size", "8"), ("width", float("nan"))])
def test_figure_options_refuse_sizes_that_are_not_positive_numbers(field, bad):
    from scalefit.plots import FigureOptions
    with pytest.raises(ValueError, match=f"FigureOptions {field} .*: must be a positive number"):
        FigureOptions(**{field: bad})


@pytest.mark.parametrize("bad", ["a", True, [1.0]])
def test_a_fixed_e_that_is_not_a_number_is_named_in_the_message(bad):
    """with_fixed_E('a') failed with numpy's "could not convert string to float"; True was E = 1."""
    from scalefit.laws import SaturatingLaw
    with pytest.raises(ValueError, match=r"^fixed E .*: the irreducible loss must be a finite number >= 0"):
        SaturatingLaw().with_fixed_E(bad)


def test_figures_and_the_report_name_what_they_were_given_instead_of_an_analysis():
    """FIGURES[kind](frame) and render_report(frame) failed with pandas' AttributeError."""
    from scalefit.plots import FIGURES
    from scalefit.report import render_report
    frame = pd.DataFrame({"family": ["a"] * 4, "flops": [1e19, 1e20, 1e21, 1e22], "loss": [3.0, 2.6, 2.3, 2.1]})
    for draw in list(FIGURES.values()) + [render_report]:
        with pytest.raises(TypeError, match=r"from an analysis \(scalefit.analyze\(...\)\), not DataFrame"):
            draw(frame)


def test_tables_line_up_when_a_family_is_named_in_wide_characters():
    """Found by a new user: a family named in Chinese counted one column per character, while a
    terminal draws each in two, so its row's columns ran two places right of the others'."""
    import unicodedata

    import numpy as np

    flops = np.geomspace(1e19, 1e22, 6)
    loss = 1.8 + 1000 * flops ** -0.15 * (1 + 0.003 * np.sin(np.arange(6)))
    frame = pd.concat([pd.DataFrame({"family": "模型", "flops": flops, "loss": loss}),
                       pd.DataFrame({"family": "base", "flops": 3 * flops, "loss": loss[::-1] * 1.001})])
    table = scalefit.analyze(frame).summary().split("\n\n")[1].splitlines()
    header, wide, narrow = table[1], table[2], table[3]
    assert wide.lstrip().startswith("模型") and narrow.lstrip().startswith("base")

    def column_starts(line):      # display columns where each cell after the first begins
        starts, col, gap = [], 0, 0
        for ch in line:
            if ch == " ":
                gap += 1
            else:
                if gap >= 2:
                    starts.append(col)
                gap = 0
            col += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        return starts[:3]

    assert column_starts(wide) == column_starts(narrow) == column_starts(header)


def test_results_compare_by_value_also_when_unpickled(tmp_path):
    """Found by a new user checking in a notebook that a rerun gives the same result: `a == b` of two
    analyses of one ladder raised 'The truth value of a DataFrame is ambiguous' (an array's, for
    fits); and a NaN field (no bootstrap) would make equal results unequal once unpickled."""
    import pickle

    from scalefit.simulate import ReferenceSpec

    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22, 1e23), noise=0.01, seed=3,
                          second_ladder=2.0, references=(ReferenceSpec("big", 4.0, 1.0),))
    frame = scalefit.simulate(spec)
    makers = [lambda: scalefit.read_ladder(frame), lambda: scalefit.analyze(frame, at_flops=[1e24]),
              lambda: scalefit.analyze(frame, band_method="percentile", bootstrap=40),
              lambda: scalefit.backtest(frame), lambda: scalefit.compare_shared(frame),
              lambda: scalefit.fit_law(frame["flops"][:5], frame["loss"][:5], "saturating")]
    for make in makers:
        a, b = make(), make()
        assert a == b and not (a != b)
        assert pickle.loads(pickle.dumps(a)) == a
        assert a != "something else"
    assert scalefit.analyze(frame) != scalefit.analyze(frame, level=0.9)
    assert scalefit.analyze(frame, band_method="percentile", bootstrap=40, seed=1) != \
        scalefit.analyze(frame, band_method="percentile", bootstrap=40, seed=2)
    with pytest.raises(TypeError):
        hash(scalefit.analyze(frame))


# ----- messages name Python's arguments, the command its flags -------------------------------------

def _nd_frame() -> pd.DataFrame:
    """A made-up L(N, D) grid (E 1.8, A 400, B 2000, alpha 0.34, beta 0.37, 0.5% noise, seed 0)."""
    import numpy as np
    n, d = (a.ravel() for a in np.meshgrid(np.geomspace(1e7, 1e9, 4), np.geomspace(1e9, 1e11, 4)))
    loss = (1.8 + 400 * n ** -0.34 + 2000 * d ** -0.37) * np.exp(np.random.default_rng(0).normal(0, 0.005, n.size))
    return pd.DataFrame({"family": "f", "params": n, "tokens": d, "loss": loss})


@pytest.mark.parametrize("kwargs, said", [
    (dict(at_params_tokens=[(7e9, 1.4e12)]),
     "at_params_tokens: predictions at a parameter and token count need the L(N, D) law (law='chinchilla'); "
     "for a compute law use at_flops"),
    (dict(at_flops=1e40), "at_flops 1e+40: 19.2 decades outside the fitted runs' compute"),
    (dict(at_loss=[0.0]), "at_loss 0: a target loss must be a positive, finite number"),
    (dict(at_loss=[1e5]), "at_loss 100000: a loss of 1e+05 nats per token is outside"),
    (dict(at_perplexity=[0.5]), "at_perplexity 0.5: a perplexity must be a number above 1"),
    (dict(law="chinchilla", band_method="profile"),
     "band_method='profile': profile bands are available for the compute laws; the chinchilla law uses "
     "band_method='percentile'"),
    (dict(law="chinchilla", at_params_tokens=[(1e40, 1e10)]), "at_params_tokens (1e+40, 1e+10): 1e+40 parameters"),
])
def test_analyze_names_its_arguments_not_the_commands_flags(kwargs, said):
    """Found by a new user in a notebook: analyze(..., at_params_tokens=...) under a compute law said
    "need the L(N, D) law (--law chinchilla); for a compute law use --at-flops", flags of a command
    they never ran (and 'at-flops 1e+40' for their at_flops)."""
    ladder = scalefit.read_ladder(_nd_frame())
    with pytest.raises(ValueError) as raised:
        scalefit.analyze(ladder, bootstrap=0, **kwargs)
    assert str(raised.value).startswith(said) and "--" not in str(raised.value)


@pytest.mark.parametrize("args, said", [
    (["fit", "--at-params-tokens", "7e9,1.4e12"],
     "--at-params-tokens: predictions at a parameter and token count need the L(N, D) law (--law chinchilla); "
     "for a compute law use --at-flops"),
    (["fit", "--at-flops", "1e40"], "--at-flops 1e+40: 19.2 decades outside"),
    (["fit", "--at-loss", "1e5"], "--at-loss 100000: a loss of 1e+05 nats per token is outside"),
    (["fit", "--law", "chinchilla", "--band-method", "profile"],
     "--band-method profile: profile bands are available for the compute laws; the chinchilla law uses "
     "--band-method percentile"),
    (["backtest", "--law", "chinchilla", "--band-method", "profile"], "--band-method profile: profile bands"),
    (["fit", "--law", "chinchilla", "--at-params-tokens", "1e40,1e10"],
     "--at-params-tokens 1e+40,1e+10: 1e+40 parameters"),
])
def test_the_command_names_its_flags_in_the_same_messages(tmp_path, args, said):
    from click.testing import CliRunner

    from scalefit.cli import main
    path = tmp_path / "nd.csv"
    _nd_frame().to_csv(path, index=False)
    result = CliRunner().invoke(main, [args[0], str(path), "--bootstrap", "0", *args[1:]])
    assert result.exit_code == 2 and result.stderr.startswith(f"scalefit: error: {said}"), result.output
    assert len(result.stderr.splitlines()) == 1


def test_a_figure_saved_where_it_cannot_be_is_refused_by_its_own_path(tmp_path):
    """Found by a new user: save_figure(figure, 'missing/m.png') raised "No such file or directory:
    'missing/.scalefit-_8m9uof7.tmp'", a file they never named; a directory given as the file
    raised the same way, at the rename."""
    figure = scalefit.FIGURES["multipliers"](scalefit.analyze(DEMO, bootstrap=0))
    missing = tmp_path / "missing" / "m.png"
    with pytest.raises(FileNotFoundError) as raised:
        scalefit.save_figure(figure, str(missing))
    assert raised.value.filename == str(missing) and ".tmp" not in str(raised.value)
    folder = tmp_path / "figures.png"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        scalefit.save_figure(figure, str(folder))
    assert raised.value.filename == str(folder) and "give a file name" in str(raised.value)
    assert list(tmp_path.iterdir()) == [folder] and list(folder.iterdir()) == []


def test_ladders_the_chinchilla_law_cannot_fit_are_refused_without_the_commands_words():
    """The shared message of a ladder without parameter counts, or with tokens a fixed multiple of
    them, told a notebook user to run `scalefit fit --law saturating`; it names the law instead."""
    import numpy as np
    n = np.geomspace(1e7, 1e10, 8)
    loss = 1.8 + 400 * n ** -0.34
    for frame in (pd.DataFrame({"family": "f", "flops": 120 * n * n, "loss": loss}),
                  pd.DataFrame({"family": "f", "params": n, "tokens": 20 * n, "loss": loss})):
        with pytest.raises(scalefit.LadderError) as raised:
            scalefit.analyze(frame, law="chinchilla", bootstrap=0)
        assert str(raised.value).endswith("or fit a law of compute, such as the saturating law")


def test_to_csv_refuses_an_analysis_with_predictions_as_the_command_does():
    """Found by a new user: to_csv(analyze(..., at_flops=[...])) wrote the multipliers alone and
    dropped the predictions without a word, where `fit --format csv --at-flops` refuses."""
    result = scalefit.analyze(DEMO, bootstrap=0, at_flops=[1e23])
    with pytest.raises(ValueError) as raised:
        scalefit.to_csv(result)
    said = str(raised.value)
    assert "1 prediction(s)" in said and "predictions_frame()" in said and "to_json(result)" in said
    assert scalefit.to_csv(scalefit.analyze(DEMO, bootstrap=0)).startswith("focus,reference,")


# ----- warnings and summaries name Python's arguments, the command its flags ----------------------

def _scattered_frame() -> pd.DataFrame:
    """Made up: the saturating law E 1.8, A 1000, alpha 0.15 at 8 computes with 25% log-normal
    scatter (seed 4), and a reference run."""
    import numpy as np
    flops = np.geomspace(1e19, 1e22, 8)
    loss = (1.8 + 1000 * flops ** -0.15) * np.exp(np.random.default_rng(4).normal(0, 0.25, flops.size))
    return pd.DataFrame({"family": ["a"] * 8 + ["ref"], "flops": [*flops, 1e23], "loss": [*loss, 2.0]})


def _diverging_frame() -> pd.DataFrame:
    """Made up: two ladders of 8 runs whose exponents differ (0.15 and 0.30), 0.5% noise (seed 0)."""
    import numpy as np
    rng = np.random.default_rng(0)
    flops = np.geomspace(1e19, 1e22, 8)
    rows = [("a", c, (1.8 + 1000 * c ** -0.15) * np.exp(rng.normal(0, 0.005))) for c in flops]
    rows += [("b", c, (1.8 + 3e5 * c ** -0.30) * np.exp(rng.normal(0, 0.005))) for c in flops]
    return pd.DataFrame(rows, columns=["family", "flops", "loss"])


def _warning(warnings, part: str):
    (found,) = [w for w in warnings if part in w]
    return found


@pytest.mark.parametrize("make, part, python, command", [
    (lambda: scalefit.analyze(DEMO, law="power", bootstrap=0), "fits its runs much better",
     "try law='saturating'", "try --law saturating"),
    (lambda: scalefit.analyze(DEMO, bootstrap=0, at_loss=[2.5]), "apply to comparisons",
     "at_loss and at_perplexity apply", "--at-loss and --at-perplexity apply"),
    (lambda: scalefit.analyze(_scattered_frame(), bootstrap=0), "does not describe them well",
     "(see FIGURES['residuals'](result))", "(see 'scalefit plot --kind residuals')"),
    (lambda: scalefit.compare_shared(_diverging_frame(), focus="a"), "contradict the shared law",
     "with analyze(..., at_loss=...)", "with `scalefit fit --at-loss`"),
])
def test_warnings_a_result_returns_name_pythons_arguments_and_carry_the_flags(make, part, python, command):
    """Found by a new user in a notebook: result.warnings said "try --law saturating" and "see
    'scalefit plot --kind residuals'", a command they never ran; the command prints the flags."""
    warning = _warning(make().warnings, part)
    assert python in warning and "--" not in warning
    assert command in warning.flags and warning.flags.replace(command, python) == str(warning)


def test_a_checkpoint_warning_names_the_band_method_as_an_argument(checkpoint_ladder):
    result = scalefit.analyze(checkpoint_ladder.assign(family="f"), band_method="profile")
    warning = _warning(result.warnings, "rows are checkpoints")
    assert "band_method='percentile' resamples whole runs instead" in warning and "--" not in warning
    assert "--band-method percentile resamples whole runs instead" in warning.flags


def test_summaries_name_pythons_arguments_and_the_command_its_flags():
    result = scalefit.analyze(DEMO, bootstrap=0)
    assert "bands: none (bootstrap=0)" in result.summary() and "--" not in result.summary()
    assert "bands: none (--bootstrap 0)" in scalefit.format_table(result, flags=True)


def test_warnings_carrying_flags_keep_results_frozen_equal_and_picklable():
    import copy
    import pickle
    result = scalefit.analyze(DEMO, law="power", bootstrap=0)
    warning = _warning(result.warnings, "fits its runs much better")
    for again in (pickle.loads(pickle.dumps(result)), copy.deepcopy(result)):
        assert again == result
        assert _warning(again.warnings, "fits its runs much better").flags == warning.flags
    with pytest.raises(AttributeError):
        warning.flags = "changed"
    assert scalefit.to_dict(result)["warnings"] == [str(w) for w in result.warnings]


def test_the_command_prints_the_same_warnings_with_its_flags(tmp_path):
    from click.testing import CliRunner

    from scalefit.cli import main
    path = tmp_path / "scattered.csv"
    _scattered_frame().to_csv(path, index=False)
    result = CliRunner().invoke(main, ["fit", str(path), "--bootstrap", "0", "--format", "json"])
    assert "(see 'scalefit plot --kind residuals')" in result.stderr and "FIGURES" not in result.stderr
    import json
    assert any("(see 'scalefit plot --kind residuals')" in w for w in json.loads(result.stdout)["warnings"])


@pytest.mark.parametrize("call, said", [
    (lambda: SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22), second_ladder=-2),
     "second_ladder -2: its true multiplier must be a positive number"),
    (lambda: SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22), second_ladder=2,
                            references=(scalefit.ReferenceSpec(name="other", multiplier=2.0),)),
     "family name 'other' is used twice (ladders: 'focus' and 'other'); give each reference a name of its own, "
     "as in ReferenceSpec(name=...)"),
    (lambda: scalefit.plan_ladder(SPEC, multiplier=2.0, beyond=1.0, extra_runs=[-1.0]),
     "extra_runs -1: a run's compute must be a positive number"),
    (lambda: scalefit.plan_ladder(SPEC, multiplier=2.0, beyond=1.0, extra_runs=[1e40]),
     "extra_runs 1e+40: more than 10 decades from the ladder's largest run"),
])
def test_simulate_and_plan_name_their_arguments(call, said):
    """'second-ladder -2' and 'extra run -1' named the command's options (the command added the
    dashes by rewriting the text); the arguments are second_ladder and extra_runs."""
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value).startswith(said) and "--" not in str(raised.value)


def test_a_plan_from_an_exact_fit_asks_for_the_noise_argument():
    """spec_from_fit said "give the noise you expect with --noise" to a caller whose argument is noise."""
    import numpy as np

    from scalefit.planning import spec_from_fit
    flops = np.geomspace(1e19, 1e22, 6)
    fit = scalefit.fit_law(flops, 1.8 + 1000 * flops ** -0.15, "saturating", family="a")      # exact: no noise
    with pytest.raises(ValueError) as raised:
        spec_from_fit(fit)
    assert str(raised.value).endswith("give the noise you expect with noise=...")
    assert raised.value.flags.endswith("give the noise you expect with --noise")


def test_contours_of_a_compute_law_ask_for_the_law_argument():
    """Only Python reaches this refusal (the command refuses --kind contours without --law chinchilla
    before fitting), yet it said 'use --law chinchilla'."""
    with pytest.raises(ValueError) as raised:
        scalefit.FIGURES["contours"](scalefit.analyze(DEMO, bootstrap=0))
    assert str(raised.value) == "contours need a two-variable law: analyze with law='chinchilla'"


def test_compare_shared_on_a_single_ladder_points_python_at_analyze():
    """compare_shared told a notebook "single runs are compared by `scalefit fit`", a command it never
    ran; the refusal stays a LadderError (bad input), and the command still names `scalefit fit`."""
    import pickle
    with pytest.raises(scalefit.LadderError) as raised:
        scalefit.compare_shared(DEMO)
    said = str(raised.value)
    assert said.endswith("single runs are compared by `scalefit.analyze`") and "scalefit fit" not in said
    assert raised.value.flags.endswith("single runs are compared by `scalefit fit`")
    again = pickle.loads(pickle.dumps(raised.value))
    assert isinstance(again, scalefit.LadderError) and (str(again), again.flags) == (said, raised.value.flags)


def _nd_frame_with_a_flops_column() -> pd.DataFrame:
    """Made up: L(N, D) = 1.7 + 400 N^-0.34 + 2000 D^-0.36 on a 5 x 3 grid, 0.5% noise (seed 1), with
    a 'flops' column of 7.2 N D (1.2 times the 6 N D the law spends)."""
    import numpy as np
    n = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    loss = (1.7 + 400 * n ** -0.34 + 2000 * d ** -0.36) * np.exp(np.random.default_rng(1).normal(0, 0.005, n.size))
    return pd.DataFrame({"family": "f", "params": n, "tokens": d, "flops": 7.2 * n * d, "loss": loss})


@pytest.mark.parametrize("make", [
    lambda: scalefit.analyze(DEMO, law="power", bootstrap=0),
    lambda: scalefit.backtest(DEMO, law="power", bootstrap=0),
    lambda: scalefit.compare_shared(_diverging_frame(), focus="a"),
    lambda: scalefit.optimal_report(_nd_frame_with_a_flops_column(), [1e20], bootstrap=0),
], ids=["analysis", "backtest", "shared", "optimal"])
def test_to_dict_holds_warnings_as_plain_strings(make):
    """Found by review: to_dict's warnings were the results' Messages (a str subclass), which
    yaml.safe_dump refuses ('cannot represent an object'); the dict is plain data: str, in Python's terms."""
    from scalefit.arguments import Message
    result = make()
    assert any(isinstance(w, Message) for w in result.warnings)           # the case: a warning carrying flags
    said = scalefit.to_dict(result)["warnings"]
    assert said == [str(w) for w in result.warnings] and all(type(w) is str for w in said)


# ----- guards found by reverting each change of the wording merge alone -------------------------

def _perplexity_file(tmp_path):
    """Made up: two ladders of perplexities exp(1.8 + 1000 C^-0.15 s), s 1 and 1.1, at 4 computes."""
    import math
    rows = [f"{f},{c:.6g},{math.exp(1.8 + 1e3 * c ** -0.15 * s):.6g}"
            for f, s in (("a", 1.0), ("b", 1.1)) for c in (1e19, 1e20, 1e21, 1e22)]
    path = tmp_path / "ppl.csv"
    path.write_text("family,flops,perplexity\n" + "\n".join(rows) + "\n")
    return path


def test_the_perplexity_hint_names_each_callers_argument(tmp_path):
    """The hint for a perplexity typed as a target loss said '--at-loss' and '--at-perplexity 12
    (at_perplexity in Python)' to both; each now reads in its caller's terms alone."""
    from click.testing import CliRunner

    from scalefit.cli import main
    path = _perplexity_file(tmp_path)
    warning = _warning(scalefit.analyze(path, bootstrap=0, at_loss=[12]).warnings, "is a perplexity")
    assert "the target loss 12 (at_loss)" in warning and "give it as at_perplexity 12" in warning
    assert "--" not in warning and "in Python" not in warning
    assert "the target loss 12 (--at-loss)" in warning.flags and warning.flags.endswith("give it as --at-perplexity 12")
    stderr = CliRunner().invoke(main, ["fit", str(path), "--bootstrap", "0", "--at-loss", "12"]).stderr
    assert "give it as --at-perplexity 12\n" in stderr and "at_perplexity" not in stderr


@pytest.mark.parametrize("args, said", [
    (["simulate", "--second-ladder", "2", "--reference", "other=2@1"],
     "scalefit: error: family name 'other' is used twice (ladders: 'focus' and 'other'); give each reference a name "
     "of its own, as in --reference NAME=M@D"),
    (["plan", "--simulations", "20", "--extra-run", "1e40"],
     "scalefit: error: --extra-run 1e+40: more than 10 decades from the ladder's largest run (1e+22); give it in the "
     "ladder's units"),
])
def test_simulate_and_plan_print_their_refusals_with_the_flags(args, said):
    """The library's refusals name Python's arguments (ReferenceSpec(name=...), extra_runs); the
    command prints their flags (--reference NAME=M@D, --extra-run), not a rewrite of Python's text."""
    from click.testing import CliRunner

    from scalefit.cli import main
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and result.stderr.splitlines() == [said]


def test_plan_from_a_ladder_prints_the_fits_warnings_and_errors_with_the_flags(tmp_path):
    """plan LADDER.csv prints the focus fit's warnings and spec_from_fit's refusal as the command
    words them ('see scalefit plot --kind residuals', 'give ... with --noise'), not Python's."""
    import numpy as np
    from click.testing import CliRunner

    from scalefit.cli import main
    scattered = tmp_path / "scattered.csv"
    _scattered_frame().to_csv(scattered, index=False)
    result = CliRunner().invoke(main, ["plan", str(scattered), "--simulations", "20"])
    assert "(see 'scalefit plot --kind residuals')" in result.stderr and "FIGURES" not in result.stderr
    exact = tmp_path / "exact.csv"
    flops = np.geomspace(1e19, 1e22, 6)
    pd.DataFrame({"family": "a", "flops": flops, "loss": 1.8 + 1000 * flops ** -0.15}).to_csv(exact, index=False)
    result = CliRunner().invoke(main, ["plan", str(exact), "--simulations", "20"])
    assert result.exit_code == 2 and result.stderr.rstrip().endswith("give the noise you expect with --noise")


def test_a_plans_summary_names_the_extra_runs_argument():
    """A plan whose best extra run costs more than the reference advised '--extra-run' in its
    summary(), a flag of a command the notebook never ran; the command's table keeps it."""
    import numpy as np
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e21, 6)), noise=0.01)
    plan = scalefit.plan_ladder(spec, multiplier=3.0, beyond=1.0, simulations=20, seed=1, extra_runs=[1e21, 1e23],
                                workers=1)
    assert "(the 'added' column) or extra_runs=...." in plan.summary() and "--" not in plan.summary()
    from scalefit.formatting import format_plan
    assert "(the 'added' column) or --extra-run." in format_plan(plan, flags=True)


def test_the_commands_report_words_its_warnings_with_the_flags(tmp_path):
    """scalefit report writes the warnings as the command prints them; a report rendered from
    Python in Python's terms."""
    from click.testing import CliRunner

    from scalefit.cli import main
    from scalefit.report import render_report
    out = tmp_path / "r.md"
    result = CliRunner().invoke(main, ["report", DEMO, "--law", "power", "--bootstrap", "0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "try --law saturating" in out.read_text() and "law='saturating'" not in out.read_text()
    text, _ = render_report(scalefit.analyze(DEMO, law="power", bootstrap=0), markdown=True)
    assert "try law='saturating'" in text and "--law" not in text
    diverging = tmp_path / "diverging.csv"                     # the shared-law comparison's own warning
    _diverging_frame().to_csv(diverging, index=False)
    result = CliRunner().invoke(main, ["report", str(diverging), "--focus", "a", "--bootstrap", "0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "shared-law comparison: the data contradict the shared law" in out.read_text()
    assert "with \\`scalefit fit --at-loss\\`" in out.read_text() and "at_loss=" not in out.read_text()  # Markdown-escaped


def test_every_warning_of_a_result_carries_both_wordings(tmp_path):
    """A notebook looping `for w in result.warnings: print(w.flags)` met AttributeError on the
    warnings that name no argument (plain strings, e.g. an extrapolation), while those that do were
    Messages: every warning of analyze, optimal_report, backtest and compare_shared is a Message,
    its .flags the command's wording (the same text when it names no argument)."""
    import scalefit
    from scalefit.arguments import Message

    power = scalefit.analyze("data/ladders/muse.csv", law="power")
    fit = scalefit.analyze("data/ladders/muse.csv")
    backtest = scalefit.backtest("data/ladders/muse.csv", hold_out=5)
    rows = [f"{f},{c:.6g},{1.7 + 400 * (c * m) ** -0.15:.6g}" for f, m in (("a", 1.0), ("b", 3.0))
            for c in (1e19, 3e19, 1e20, 3e20, 1e21)]
    two = tmp_path / "two.csv"
    two.write_text("family,flops,loss\n" + "\n".join(rows + rows[:1]) + "\n")   # a run given twice: warned
    shared = scalefit.compare_shared(two)
    for result in (power, fit, backtest, shared):
        assert result.warnings, result
        for warning in result.warnings:
            assert isinstance(warning, Message) and isinstance(warning.flags, str), (type(warning), warning)
    plain = [w for w in fit.warnings if "extrapolated" in w]
    assert plain and all(w.flags == str(w) for w in plain)
    assert any(w.flags != str(w) for w in power.warnings)             # 'try --law saturating'
