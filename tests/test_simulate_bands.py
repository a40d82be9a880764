"""The simulator, the honesty of the bands, and ladder planning."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scalefit.analysis import ExtrapolationWarning, analyze
from scalefit.cli import main
from scalefit.fitting import fit_law
from scalefit.ladder import read_ladder
from scalefit.laws import PowerLaw, SaturatingLaw
from scalefit.planning import plan_ladder
from scalefit.simulate import ReferenceSpec, SimulationSpec, read_truth, simulate, simulated_csv

SAT = SaturatingLaw()


@st.composite
def specs(draw, noise=None):
    alpha = draw(st.floats(0.05, 0.5))
    c_min = 10.0 ** draw(st.floats(15, 22))
    decades = draw(st.floats(2, 4))
    n = draw(st.integers(5, 12))
    E = draw(st.floats(0.5, 3.0))
    A = draw(st.floats(0.3, 3.0)) * c_min ** alpha
    refs = tuple(ReferenceSpec(f"r{i}", draw(st.floats(1.2, 15)), draw(st.floats(0, 2)))
                 for i in range(draw(st.integers(0, 2))))
    return SimulationSpec(params=(E, A, alpha), flops=tuple(np.geomspace(c_min, c_min * 10 ** decades, n)),
                          noise=draw(st.floats(0.001, 0.03)) if noise is None else noise,
                          seed=draw(st.integers(0, 2**31 - 1)), references=refs,
                          second_ladder=draw(st.none() | st.floats(1.2, 15)))


@settings(max_examples=30, deadline=None)
@given(specs())
def test_header_truth_round_trips(tmp_path_factory, spec):
    path = tmp_path_factory.mktemp("sim") / "ladder.csv"
    path.write_text(simulated_csv(spec))
    assert read_truth(path) == spec
    ladder = read_ladder(path)  # the file is a valid ladder
    assert len(ladder.runs) == len(spec.flops) * (2 if spec.second_ladder else 1) + len(spec.references)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(noise=0.0))
def test_noiseless_files_are_fit_exactly(tmp_path_factory, spec):
    path = tmp_path_factory.mktemp("sim") / "ladder.csv"
    path.write_text(simulated_csv(spec))
    result = analyze(path, focus="focus", bootstrap=0)
    fit = result.fits["focus"].fit
    assert fit.objective < 1e-18
    assert fit.param("alpha") == pytest.approx(spec.params[2], rel=1e-4)
    for m in result.multipliers:
        truth = spec.second_ladder if m.reference == "other" else \
            next(r.multiplier for r in spec.references if r.name == m.reference)
        assert m.multiplier == pytest.approx(truth, rel=1e-4)


def test_noiseless_ladders_have_a_band_between_them_as_against_a_reference():
    """Found by a new user checking the tool on a noise-free simulation: the multiplier against the
    second ladder had no band (blank, JSON null, no warning) while the reference point's was
    [4x, 4x]; each exact fit's band is its estimate, and so is their ratio's."""
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 8)), noise=0.0,
                          second_ladder=2.0, references=(ReferenceSpec("big", 4.0, 1.0),))
    result = analyze(simulate(spec), focus="focus", at_loss=[2.3, 2.2])
    assert sorted(m.reference for m in result.multipliers) == ["big", "other", "other", "other"]
    for m in result.multipliers:
        truth = 4.0 if m.reference == "big" else 2.0
        assert m.low <= m.multiplier <= m.high
        assert m.low == pytest.approx(truth, rel=1e-4) and m.high == pytest.approx(truth, rel=1e-4)


@pytest.mark.parametrize("exact", ["other", "focus"])
def test_against_an_exact_ladder_the_band_is_the_other_familys_own(exact):
    """Found by review: with one family fitted exactly (a noise-free simulation) and the other not,
    the multiplier's band was missing, a point or one-sided ([2.14x, 2.87x] around 2.87x where the
    noisy family's own band gives [1.96x, 3.85x]; 20 of 24 seeds and exponents wrong): the exact
    fit's profile deviance is rounding error, which the ratio's deviance combined. With one family
    exact the ratio's band is the other family's own, as against a reference point."""
    flops = tuple(np.geomspace(1e19, 1e22, 8))
    noisy = simulate(SimulationSpec(params=(1.8, 1000.0, 0.15), flops=flops, noise=0.01, seed=1, second_ladder=3.0))
    noiseless = simulate(SimulationSpec(params=(1.8, 1000.0, 0.15), flops=flops, noise=0.0, second_ladder=3.0))
    frame = pd.concat([(noiseless if family == exact else noisy).query("family == @family")
                       for family in ("focus", "other")], ignore_index=True)
    m = analyze(frame, focus="focus", band_method="profile").multipliers[0]
    assert m.reference == "other" and m.low < m.multiplier < m.high
    if exact == "other":
        band = (m.reference_flops / m.focus_flops_high, m.reference_flops / m.focus_flops_low)
    else:
        band = (m.reference_flops_low / m.focus_flops, m.reference_flops_high / m.focus_flops)
    assert (m.low, m.high) == pytest.approx(band, rel=2e-3)


def test_same_seed_same_file_and_noise_is_lognormal():
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 4000)),
                          noise=0.02, seed=11)
    assert simulated_csv(spec) == simulated_csv(spec)
    frame = simulate(spec)
    log_ratio = np.log(frame.loss.to_numpy() / spec.true_loss(frame.flops.to_numpy()))
    assert abs(log_ratio.mean()) < 4 * 0.02 / np.sqrt(4000)
    assert log_ratio.std() == pytest.approx(0.02, rel=0.05)


def test_reference_sits_at_its_true_multiplier():
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e18, 1e19, 1e20, 1e21), noise=0.0,
                          references=(ReferenceSpec("big", 6.0, 1.5),))
    c_ref, loss = spec.reference_truth(spec.references[0])
    focus_needs = SAT.invert(np.array(spec.params), loss)
    assert c_ref / focus_needs == pytest.approx(6.0, rel=1e-9)
    assert focus_needs == pytest.approx(1e21 * 10 ** 1.5, rel=1e-9)


def _coverage(method: str, n_ladders: int, level: float = 0.95) -> float:
    """Share of simulated ladders (8 runs over 3 decades, 1% noise, alpha 0.2, reference 1 decade
    beyond at 4x) whose multiplier band contains the true 4x."""
    hits = 0
    for k in range(n_ladders):
        spec = SimulationSpec(params=(1.8, 1.2 * 1e19 ** 0.2, 0.2), flops=tuple(np.geomspace(1e19, 1e22, 8)),
                              noise=0.01, seed=1000 + k, references=(ReferenceSpec("ref", 4.0, 1.0),))
        result = analyze(simulate(spec), focus="focus", band_method=method, bootstrap=300, seed=k, level=level)
        m = result.multipliers[0]
        hits += m.low <= 4.0 <= m.high
    return hits / n_ladders


def test_profile_bands_cover_the_truth():
    """Regression guard on the default band method: 100 ladders of one easy design (95 covered; of 200,
    188)."""
    assert _coverage("profile", 100) >= 0.90


def test_profile_band_contains_point_and_narrows_with_level():
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 8)), noise=0.01,
                          seed=5, references=(ReferenceSpec("ref", 3.0, 1.0),), second_ladder=2.0)
    frame = simulate(spec)
    wide, narrow = (analyze(frame, focus="focus", level=lv) for lv in (0.95, 0.8))
    for mw, mn in zip(wide.multipliers, narrow.multipliers):
        assert mw.low <= mn.low <= mn.multiplier <= mn.high <= mw.high
    for fw, fn in zip(wide.fits.values(), narrow.fits.values()):
        assert np.all(fw.low <= fn.low) and np.all(fn.high <= fw.high)
        assert np.all(fn.low <= fn.fit.params) and np.all(fn.fit.params <= fn.high)


def test_bands_contain_the_estimate_where_the_prediction_lies_within_1e_9_of_e():
    """A fit with E at its bound (the smallest loss), alpha 4.6, predicting 100x past its largest
    run: the prediction is within 1e-9 of E and the profile rises by a deviance of 2,400 within
    1e-6 of it. The loss band missed its own estimate (its grid stepped over it) and so did the
    compute band (a margin of 1e-9 below L* on E excluded the fit itself). Found by a reviewer."""
    from scalefit.profile import compute_deviance, interval_from_deviance, loss_band

    flops = np.array([3.0551513120638700e+15, 4.1423292463264270e+15, 5.6163802811389580e+15, 7.6149735056286400e+15,
                      1.0324767659726006e+16, 1.3998844138923082e+16, 1.8980343547126368e+16, 2.5734513334945748e+16])
    loss = np.array([3.2310209810618873, 1.3656384922944327, 0.9062505501799288, 0.8006032961183095,
                     0.7686916520626104, 0.7809309560160812, 0.7689122177918164, 0.7624248394397827])
    fit = fit_law(flops, loss, SaturatingLaw())
    far = flops.max() * 100
    predicted = float(fit.predict(far))
    assert 0 < predicted - fit.params[0] < 1e-9 * predicted
    low, high = loss_band(fit, np.array([far]), 0.95)
    assert low[0] <= predicted <= high[0]
    c_low, c_high = interval_from_deviance(compute_deviance(fit, predicted, 0.95), 0.95)
    assert c_low <= np.log10(fit.invert(predicted)) <= c_high


def test_profile_interval_matches_exact_t_interval_for_the_power_law():
    """For a law linear in its parameters the profile-t band is the exact t interval."""
    from scipy import stats

    rng = np.random.default_rng(0)
    flops = np.geomspace(1e18, 1e21, 7)
    loss = 50 * flops ** -0.05 * np.exp(rng.normal(0, 0.01, 7))
    fit = fit_law(flops, loss, __import__("scalefit").get_law("power"))
    from scalefit.profile import compute_deviance, interval_from_deviance
    target = 50 * 1e22 ** -0.05
    lo, hi = interval_from_deviance(compute_deviance(fit, target, 0.95), 0.95)
    # delta-free check: the log10 C* band is {v : t^2 <= F_{1,5}} -> solve by brute force
    x = np.log(flops)
    grid = np.linspace(np.log10(fit.invert(target)) - 3, np.log10(fit.invert(target)) + 3, 20001)
    z = x[None, :] - grid[:, None] * np.log(10)
    r = np.log(loss)[None, :] - np.log(target)
    a = -(z * r).sum(1) / (z * z).sum(1)
    s = ((r + a[:, None] * z) ** 2).sum(1)
    inside = grid[(s - fit.objective) / (fit.objective / 5) <= stats.f.ppf(0.95, 1, 5)]
    assert lo == pytest.approx(inside.min(), abs=2e-3)
    assert hi == pytest.approx(inside.max(), abs=2e-3)


def test_plan_ranks_designs_and_a_longer_ladder_narrows_the_band():
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e21, 6)), noise=0.01)
    plan = plan_ladder(spec, multiplier=3.0, beyond=1.0, claim=2.0, simulations=40, seed=1,
                       extra_runs=[1e21, 1e22], workers=1)
    # designs shared by two processes (each on one thread): the same plan
    shared = plan_ladder(spec, multiplier=3.0, beyond=1.0, claim=2.0, simulations=40, seed=1,
                         extra_runs=[1e21, 1e22], workers=2)
    pd.testing.assert_frame_equal(shared.frame(), plan.frame(), check_exact=True)
    assert [o.design.split(" (")[0] for o in plan.outcomes] == ["proposed ladder", "+ run at 1e+21", "+ run at 1e+22"]
    proposed, _, far = plan.outcomes
    assert far.median_width < proposed.median_width
    assert plan.best_extra is far
    assert 0 <= proposed.claim_supported_share <= far.claim_supported_share <= 1
    # compute is weighed: what each extra run adds, and the cheapest whose band was always bounded
    total = sum(spec.flops)
    assert plan.added_compute(proposed) == 0
    assert plan.added_compute(far) == pytest.approx(1e22 / total)
    assert list(plan.frame()["added_compute"]) == pytest.approx([0.0, 1e21 / total, 1e22 / total])
    bounded = [o for o in plan.outcomes[1:] if o.unbounded_share == 0]
    assert plan.cheapest_always_bounded is (min(bounded, key=lambda o: o.total_flops) if bounded else None)


def test_plan_says_when_its_best_extra_run_costs_more_than_the_reference():
    """The default candidates reach 1.5 decades past the ladder, beyond the reference's own compute
    (multiplier x 10^beyond x largest run) when the multiplier is under 10^0.5: the narrowest band
    then comes from a run that spends more than the saving it is to show, and the plan says so."""
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e21, 6)), noise=0.01)
    plan = plan_ladder(spec, multiplier=3.0, beyond=1.0, simulations=20, seed=1, extra_runs=[1e21, 1e23], workers=1)
    assert plan.reference_flops == pytest.approx(3e22)
    assert plan.best_extra.extra_flops == 1e23 and plan.costs_more_than_reference(plan.best_extra)
    assert "at least the compute of the reference itself (3.00e22)" in plan.summary()
    cheaper = plan_ladder(spec, multiplier=3.0, beyond=1.0, simulations=20, seed=1, extra_runs=[1e21, 1e22], workers=1)
    assert not cheaper.costs_more_than_reference(cheaper.best_extra)
    assert "reference itself" not in cheaper.summary()
    # a true multiplier below 1 has no saving to spend: the plan says what the run costs instead
    slower = plan_ladder(spec, multiplier=0.5, beyond=1.0, simulations=20, seed=1, extra_runs=[1e21, 1e23], workers=1)
    assert slower.costs_more_than_reference(slower.best_extra)
    assert "saving" not in slower.summary() and "would cost more than the reference" in slower.summary()


def test_plan_says_so_when_no_extra_run_bounds_the_band():
    """A 4-run ladder with 5% noise and a 99% band: every design's median band is unbounded, so
    the plan names the candidate with the fewest unbounded bands instead of 'inf -> inf'."""
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e21, 4)), noise=0.05)
    plan = plan_ladder(spec, multiplier=2.0, beyond=1.0, level=0.99, simulations=40)
    extras = plan.outcomes[1:]
    assert all(not np.isfinite(o.median_width) for o in plan.outcomes)
    assert plan.best_extra.unbounded_share == min(o.unbounded_share for o in extras) < 1.0
    text = plan.summary()
    assert "No candidate extra run bounds the band" in text and plan.best_extra.design in text
    assert "inf -> inf" not in text


def test_simulate_and_plan_commands(tmp_path):
    runner = CliRunner()
    out = tmp_path / "sim.csv"
    r = runner.invoke(main, ["simulate", "--reference", "big=4@1", "--flops", "1e19:1e22:6", "--seed", "2",
                             "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert read_truth(out).references[0].multiplier == 4.0
    r = runner.invoke(main, ["fit", str(out), "--format", "json"])
    assert r.exit_code == 0
    m = json.loads(r.stdout)["multipliers"][0]
    assert m["low"] <= 4.0 <= m["high"]
    r = runner.invoke(main, ["plan", "--simulations", "20", "--extra-run", "1e22", "--format", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert len(data["designs"]) == 2 and data["best_extra_run"].startswith("+ run at 1e+22")
    assert data["designs"][0]["added_compute"] == 0 and data["designs"][1]["added_compute"] > 0
    assert "cheapest_always_bounded_extra_run" in data
    r = runner.invoke(main, ["simulate", "--params", "E=1,A=2"])
    assert r.exit_code == 2 and "alpha" in r.stderr
    r = runner.invoke(main, ["simulate", "--params", "E=abc,A=2,alpha=0.1"])
    assert r.exit_code == 2 and "E='abc' is not a number" in r.stderr
    r = runner.invoke(main, ["simulate", "--law", "power"])          # the default --params follow the law
    assert r.exit_code == 0 and '"law":"power"' in r.stdout, r.stderr
    for clash in (["--reference", "focus=4@1"], ["--reference", "other=4@1", "--second-ladder", "2"],
                  ["--reference", "a=4@1", "--reference", "a=2@1"]):
        r = runner.invoke(main, ["simulate", *clash])
        assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "used twice" in r.stderr, r.stderr
    r = runner.invoke(main, ["plan", "--simulations", "20", "--noise", "0"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "--noise" in r.stderr, r.stderr
    for args, option in ((["--flops", "1e19:1e22:3"], "--flops"), (["--beyond", "nan"], "--beyond")):
        r = runner.invoke(main, ["plan", "--simulations", "20", *args])
        assert r.exit_code == 2 and r.stderr.count("\n") == 1 and option in r.stderr, r.stderr
    for bad in ("-5", "0"):
        r = runner.invoke(main, ["plan", "--simulations", "20", "--extra-run", bad])
        assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "--extra-run" in r.stderr, r.stderr
    for flops in ("1e19:abc:3", "1e19:1e22:inf", "1e19:1e22:1e9", "-1e19:1e22:8", "1e19:1e22:2.5"):
        r = runner.invoke(main, ["simulate", "--flops", flops])
        assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "START:STOP:COUNT" in r.stderr, (flops, r.stderr)


def test_plan_from_a_ladder_of_checkpoints_says_it_simulates_every_row_as_a_run(tmp_path, checkpoint_ladder):
    """Found by a new-user review: `scalefit plan` on a file of 6 runs of 10 checkpoints each said
    nothing, yet simulated 60 independent runs (its header read '60 runs'), so its bands came out far
    narrower than 6 runs give and its compute counted every checkpoint. It now says so; one row per
    run, or --flops given, is not warned about."""
    path, finals = tmp_path / "checkpoints.csv", tmp_path / "finals.csv"
    checkpoint_ladder.to_csv(path, index=False)
    checkpoint_ladder.groupby("run").tail(1).to_csv(finals, index=False)
    common = ["--simulations", "20", "--extra-run", "1e23"]
    r = CliRunner().invoke(main, ["plan", str(path), *common])
    assert r.exit_code == 0, r.stderr
    (said,) = [line for line in r.stderr.splitlines() if "checkpoints" in line]
    assert "family 'f': its 60 rows are checkpoints of 6 runs" in said and "simulates each row as a run" in said
    assert f"against {checkpoint_ladder.groupby('run')['flops'].max().sum():.3g} for the runs' final" in said
    assert said.endswith("with --flops")
    for quiet in (["plan", str(finals), *common], ["plan", str(path), "--flops", "1e19:1e22:6", *common]):
        r = CliRunner().invoke(main, quiet)
        assert r.exit_code == 0 and "checkpoints" not in r.stderr, r.stderr


def test_plan_says_where_a_reference_at_zero_or_negative_decades_beyond_lies():
    """Found by a walkthrough: plan --beyond -5 printed 'reached by the focus -5 decades beyond the
    largest run', and 0 '0 decades beyond'. A reference at or below the largest run has a meaning
    (its loss is reached inside the ladder, or below it), said in words."""
    from scalefit.planning import reference_place

    flops = (1e19, 1e20, 1e21, 1e22)
    assert reference_place(1.0, flops) == "1 decade beyond the largest run"
    assert reference_place(0.0, flops) == "at the largest run (0 decades beyond it)"
    assert reference_place(-1.5, flops) == "1.5 decades below the largest run, inside the ladder"
    assert reference_place(-3.0, flops) == "at the smallest run (3 decades below the largest)"
    assert reference_place(-5.0, flops) == "2 decades below the smallest run, outside the ladder"
    for beyond, said in (("-5", "reached by the focus 2 decades below the smallest run, outside the ladder;"),
                         ("0", "reached by the focus at the largest run (0 decades beyond it);")):
        r = CliRunner().invoke(main, ["plan", "--simulations", "20", "--extra-run", "1e22", "--flops", "1e19:1e22:4",
                                      f"--beyond={beyond}"])
        assert r.exit_code == 0 and said in r.stdout.splitlines()[1], r.stdout
        assert "-5 decades beyond" not in r.stdout


def test_plan_takes_its_truth_from_a_fitted_ladder(tmp_path):
    """`scalefit plan LADDER.csv`: the focus family's fit is the truth (its parameters, its runs'
    compute, sigma = sqrt(S / (n - p))), the same plan as that truth stated by hand; options given
    override it; the table says where the truth came from."""
    from scalefit.planning import spec_from_fit

    runner = CliRunner()
    path = tmp_path / "sim.csv"
    assert runner.invoke(main, ["simulate", "--flops", "1e19:1e22:7", "--second-ladder", "3", "-o", str(path)]).exit_code == 0
    ladder = read_ladder(path)
    runs = ladder.family_runs("focus")
    fit = fit_law(runs["flops"].to_numpy(), runs["loss"].to_numpy(), SAT, "focus")
    spec = spec_from_fit(fit)
    assert spec.params == tuple(fit.params) and spec.flops == tuple(runs["flops"])
    assert spec.noise == pytest.approx(np.sqrt(fit.objective / (fit.n_runs - 3)))
    common = ["--simulations", "20", "--extra-run", "3e22", "--format", "json"]
    from_file = runner.invoke(main, ["plan", str(path), "--focus", "focus", *common])
    assert from_file.exit_code == 0, from_file.stderr
    stated = runner.invoke(main, ["plan", "--params", ",".join(f"{n}={float(v)!r}" for n, v in zip(SAT.param_names, fit.params)),
                                  "--flops", ",".join(repr(c) for c in spec.flops), "--noise", repr(spec.noise), *common])
    assert stated.exit_code == 0, stated.stderr
    got, want = json.loads(from_file.stdout), json.loads(stated.stdout)
    assert got["designs"] == want["designs"]
    assert "fit of family 'focus'" in got["truth"]["from"] and want["truth"]["from"] is None
    quieter = json.loads(runner.invoke(main, ["plan", str(path), "--noise", "0.002", *common]).stdout)
    assert quieter["truth"]["noise"] == 0.002 and "--noise as given" in quieter["truth"]["from"]
    assert quieter["truth"]["params"] == got["truth"]["params"]
    table = runner.invoke(main, ["plan", str(path), "--simulations", "20"]).stdout
    assert f"(assumed truth: the saturating fit of family 'focus' in {path}" in table
    r = runner.invoke(main, ["plan", "--focus", "focus"])
    assert r.exit_code == 2 and "give the file" in r.stderr
    small = tmp_path / "small.csv"
    small.write_text("family,flops,loss\na,1e19,3.2\na,1e20,3.0\na,1e21,2.9\n")
    r = runner.invoke(main, ["plan", str(small)])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "needs at least 4 runs" in r.stderr, r.stderr
    # one parameter replaced, the others the fit's
    half = json.loads(runner.invoke(main, ["plan", str(path), "--params", "E=1.5", *common]).stdout)
    assert half["truth"]["params"] == dict(got["truth"]["params"], E=1.5)
    # an exact fit has no noise to plan with, unless the user gives one
    exact = tmp_path / "exact.csv"
    flops = [float(c) for c in np.geomspace(1e19, 1e22, 6)]
    exact.write_text("family,flops,loss\n" + "".join(f"a,{c!r},{1.8 + 1000 * c ** -0.15!r}\n" for c in flops))
    r = runner.invoke(main, ["plan", str(exact), "--simulations", "20"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "too little to simulate from" in r.stderr, r.stderr
    r = runner.invoke(main, ["plan", str(exact), "--noise", "0.01", *common])
    assert r.exit_code == 0 and json.loads(r.stdout)["truth"]["noise"] == 0.01, r.stderr
    # the fit's warnings, as fit prints them
    rising = tmp_path / "rising.csv"
    rising.write_text("family,flops,loss\na,1e19,3.0\na,1e20,3.05\na,1e21,3.02\na,1e22,3.1\na,1e23,3.12\n")
    r = runner.invoke(main, ["plan", str(rising), "--simulations", "20"])
    assert r.exit_code == 0 and "loss rises with compute" in r.stderr, r.stderr
    # two seeds at the largest compute: the extra one there is a third
    twice = tmp_path / "twice.csv"
    twice.write_text(path.read_text() + f"focus,focus-again,{max(spec.flops)!r},{float(runs['loss'].iloc[-1]) * 1.01!r}\n")
    r = runner.invoke(main, ["plan", str(twice), "--focus", "focus", "--simulations", "20", "--extra-run", "3e22",
                             "--extra-run", repr(max(spec.flops))])
    assert r.exit_code == 0, r.stderr
    assert "a third run at the largest compute" in r.stdout


def test_designs_outside_the_calibration_are_flagged():
    """Bands from designs the calibration study did not cover (extrapolated beyond 3 decades, a
    ladder spanning under 2 decades) and all percentile bands are flagged in the result, the JSON,
    the table and a warning; the demo ladder's bands are inside."""
    from scalefit.formatting import format_table, to_dict

    refs = (ReferenceSpec("far", 3.0, 4.0), ReferenceSpec("near", 3.0, 0.5))
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 8)), noise=0.005,
                          seed=3, references=refs)
    result = analyze(simulate(spec), focus="focus")
    assert {m.reference: m.band_checked for m in result.multipliers} == {"far": False, "near": True}
    assert any("not checked" in w and "is extrapolated" in w for w in result.warnings if "far" in w)
    assert sum("far" in w and "extrapolated" in w for w in result.warnings) == 1      # said once, not twice
    assert [m["band_checked"] for m in to_dict(result)["multipliers"]] == [False, True]
    assert "design outside what the calibration study checked" in format_table(result)

    short = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e21, 1e22, 8)), noise=0.005,
                           seed=3, references=refs[1:])
    result = analyze(simulate(short), focus="focus")
    assert not result.multipliers[0].band_checked
    assert any("spans 1.0 decades" in w for w in result.warnings)

    percentile = analyze(simulate(spec), focus="focus", band_method="percentile", bootstrap=100)
    assert not any(m.band_checked for m in percentile.multipliers)
    assert any("not calibrated" in w for w in percentile.warnings)

    # a reference far below the ladder (its loss above the ladder's smallest-compute run): warned, unchecked
    below = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 8)), noise=0.005,
                           seed=3, references=(ReferenceSpec("small", 1.0, -4.5), ReferenceSpec("inside", 1.0, -2.0)))
    result = analyze(simulate(below), focus="focus")
    by_name = {m.reference: m for m in result.multipliers}
    assert by_name["small"].extrapolation_decades < -1 and not by_name["small"].band_checked
    assert by_name["inside"].extrapolation_decades == 0 and by_name["inside"].band_checked
    assert any("below its smallest run" in w and "not checked" in w for w in result.warnings)
    assert sum("small" in w and "extrapolated" in w for w in result.warnings) == 1      # said once

    demo = analyze(Path(__file__).resolve().parent.parent / "data" / "ladders" / "muse.csv")
    assert all(m.band_checked for m in demo.multipliers)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.sampled_from(["saturating", "power"]))
def test_ladders_profiled_together_get_the_bands_they_get_alone(seed, law):
    """compute_deviances shares the array work of many ladders (plan, calibration): each band must
    be the one its ladder gets alone, whatever ladders it is batched with (sizes mixed, targets
    reachable or not, fits in any order)."""
    from scalefit.fitting import fit_ladders
    from scalefit.laws import get_law
    from scalefit.profile import compute_deviance, compute_deviances, interval_from_deviance

    rng = np.random.default_rng(seed)
    fits, targets = [], []
    for n in (5, 8, 5, 8, 5):
        flops = np.geomspace(1e19, 10 ** rng.uniform(20.5, 23), n)
        params = (1.8, 1000.0, rng.uniform(0.05, 0.4)) if law == "saturating" else (30.0, rng.uniform(0.02, 0.1))
        spec = SimulationSpec(params=params, flops=tuple(flops), noise=rng.uniform(0.002, 0.03), law=law)
        truth = spec.true_loss(flops)
        losses = truth * np.exp(rng.normal(0.0, spec.noise, (2, n)))
        fits += fit_ladders(flops, losses, get_law(law))
        targets += [float(spec.true_loss(flops[-1] * 10 ** rng.uniform(-0.5, 2.0))), float(truth.min() * 0.98)]
    together = compute_deviances(fits, targets, 0.95)
    for fit, target, deviance in zip(fits, targets, together):
        alone = compute_deviance(fit, target, 0.95)
        np.testing.assert_allclose(interval_from_deviance(deviance, 0.95), interval_from_deviance(alone, 0.95),
                                   rtol=1e-7, atol=1e-7)
        assert deviance.at_infinity == pytest.approx(alone.at_infinity, rel=1e-7)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.sampled_from(["saturating", "power"]), st.sampled_from([0.8, 0.95]))
@example(seed=41829, law="saturating", level=0.8)    # a kink in the profile right at the band's lower end
def test_band_ends_alone_are_the_bands_of_the_whole_curve(seed, law, level):
    """plan resolves only the ends of each band (band_end_deviances): each end must lie in the
    interval of the whole deviance curve's grid where that curve crosses the threshold (the curve
    then interpolates linearly inside it, off by up to 3e-3 decades at a kink of the profile), with
    the same ends at 0 or infinity, and be pinned between two evaluated points within 1e-5 decades
    on either side of the threshold."""
    from scalefit.fitting import fit_ladders
    from scalefit.laws import get_law
    from scalefit.profile import compute_deviances, interval_from_deviance, threshold

    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 9))
    flops = np.geomspace(1e19, 10 ** rng.uniform(20.5, 23), n)
    params = (1.8, 1000.0, rng.uniform(0.05, 0.4)) if law == "saturating" else (30.0, rng.uniform(0.02, 0.1))
    spec = SimulationSpec(params=params, flops=tuple(flops), noise=rng.uniform(0.002, 0.03), law=law)
    losses = spec.true_loss(flops) * np.exp(rng.normal(0.0, spec.noise, (6, n)))
    fits = fit_ladders(flops, losses, get_law(law))
    targets = [float(spec.true_loss(flops[-1] * 10 ** rng.uniform(-0.5, 2.0))) for _ in fits]
    whole = compute_deviances(fits, targets, level)
    ends = compute_deviances(fits, targets, level, ends_only=True)
    for curve, short in zip(whole, ends):
        expected, got = interval_from_deviance(curve, level), interval_from_deviance(short, level)
        assert np.isfinite(expected).tolist() == np.isfinite(got).tolist()
        assert short.grid.size <= curve.grid.size
        assert np.all(short.grid[:-1] <= short.grid[1:])
        curve_inside = curve.values <= threshold(level, curve.dof)
        for side, (want, have) in enumerate(zip(expected, got)):
            if not np.isfinite(want):
                continue
            crossing = np.flatnonzero(curve_inside)[[0, -1][side]] + (-1, 1)[side]
            bracket = sorted(curve.grid[[crossing - (-1, 1)[side], crossing]])
            assert bracket[0] - 1e-6 <= have <= bracket[1] + 1e-6, (side, bracket, have, want)
        inside = short.values <= threshold(level, short.dof)
        for end in np.asarray(got)[np.isfinite(got)]:
            i = np.searchsorted(short.grid, end)
            if 0 < i < short.grid.size and inside[i - 1] != inside[i]:
                assert short.grid[i] - short.grid[i - 1] <= 1e-5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(0.05, 20), st.floats(0.1, 3), st.sampled_from([1, -1]),
                          st.booleans()), min_size=1, max_size=6),
       st.sampled_from(["none", "inf", "nan"]))
def test_narrowed_brackets_hold_the_root(cases, beyond):
    """narrow_brackets finds the root of increasing and decreasing functions (steep, flat, curved)
    in brackets up to 20 wide given in either order, each to the tolerance, also when values on
    one side of the root are infinite or NaN (NaN counts as +inf: placed where f is positive)."""
    from scalefit.profile import narrow_brackets

    root, width, power, direction, swap = (np.array(v) for v in zip(*cases))
    a, b = root - width * 0.3, root + width * 0.7
    a, b = np.where(swap, b, a), np.where(swap, a, b)

    def f(rows, x):
        z = (x - root[rows]) * direction[rows]
        value = np.sign(z) * np.abs(z) ** power[rows]
        far = z > 0.2 * width[rows]
        return np.where(far, {"none": value, "inf": np.inf, "nan": np.nan}[beyond], value)

    rows = np.arange(a.size)
    calls = []
    ends = narrow_brackets(lambda r, x: calls.append(r.size) or f(r, x), a, b, f(rows, a), f(rows, b), tolerance=1e-7)
    low, high = ends.min(axis=1), ends.max(axis=1)
    assert np.all((low <= root + 1e-12) & (root <= high + 1e-12))
    assert np.all((high - low <= 1e-7) | (f(rows, ends[:, 0]) * f(rows, ends[:, 1]) == 0))
    assert len(calls) < 60


def test_brackets_without_a_sign_change_are_left_as_given():
    from scalefit.profile import narrow_brackets

    calls = []
    ends = narrow_brackets(lambda r, x: calls.append(r) or x - 5.0, np.array([0.0, 0.0]), np.array([1.0, 10.0]),
                           np.array([-5.0, -5.0]), np.array([-4.0, 5.0]), tolerance=1e-9)
    assert ends[0].tolist() == [0.0, 1.0]
    assert 5.0 in ends[1].tolist()           # found exactly: f is 0 at an end, the bracket stops
    assert all(r.tolist() == [1] for r in calls)


def test_band_ends_alone_find_the_outermost_of_several_crossings():
    """A deviance that leaves the band, comes back into it and leaves again within one interval of
    the probe: the band ends at the outer crossing, as the whole curve finds it."""
    from scalefit.profile import Search, adaptive_deviances, band_end_deviances, interval_from_deviance, threshold

    limit = threshold(0.95, 5)

    def deviance(x):
        x = np.asarray(x)
        return np.select([x < 1.2, x < 1.5, x < 1.7], [(x / 1.2) ** 2 * limit, 2 * limit, 0.5 * limit],
                         3 * limit * (1 + x))

    def ssr_of(_, x):
        return 1.0 + deviance(x) / 5

    search = Search(0.0, -10.0, 10.0, 0.002, 1.0, 5, 0.95, np.inf, 0.25)
    whole = interval_from_deviance(adaptive_deviances(ssr_of, [search])[0], 0.95)
    ends = interval_from_deviance(band_end_deviances(ssr_of, [search])[0], 0.95)
    assert ends[1] == pytest.approx(1.7, abs=1e-5) and whole[1] == pytest.approx(1.7, abs=0.01)
    assert ends[0] == pytest.approx(-1.2, abs=1e-5)


def test_fit_ladders_is_fit_law_of_each_row():
    from scalefit.fitting import fit_ladders

    rng = np.random.default_rng(4)
    flops = np.geomspace(1e19, 1e22, 7)
    losses = (1.8 + 1000.0 * flops ** -0.15) * np.exp(rng.normal(0, 0.01, (6, 7)))
    for together, loss in zip(fit_ladders(flops, losses, SAT), losses):
        alone = fit_law(flops, loss, SAT)
        np.testing.assert_allclose(together.params, alone.params, rtol=1e-7)
        assert together.objective == pytest.approx(alone.objective, rel=1e-9)
        assert together.n_runs == 7 and together.flops_max == flops.max()


def test_a_loss_neither_ladder_can_reach_has_no_band():
    """Both fitted E's bands lie above the target: no ratio exists, so no band (it was [1x, 1x])."""
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 8)), noise=0.01,
                          second_ladder=2.0, seed=0)
    result = analyze(simulate(spec), focus="focus", at_loss=[1.0])
    m = result.multipliers[-1]
    assert m.where == "at-loss" and np.isnan(m.multiplier)
    assert np.isnan(m.low) and np.isnan(m.high)


def test_loss_band_points_searched_together_equal_each_alone():
    from scalefit.profile import loss_band

    rng = np.random.default_rng(3)
    flops = np.geomspace(1e19, 1e22, 6)
    for law in ("saturating", "power"):
        loss = (1.8 + 1000 * flops ** -0.15) * np.exp(rng.normal(0, 0.01, 6))
        fit = fit_law(flops, loss, __import__("scalefit").get_law(law))
        points = np.geomspace(1e17, 1e25, 7)
        low, high = loss_band(fit, points, 0.95)
        assert [a.size for a in loss_band(fit, np.array([]), 0.95)] == [0, 0]
        alone = np.array([[b[0] for b in loss_band(fit, [c], 0.95)] for c in points])
        np.testing.assert_allclose(np.column_stack([low, high]), alone, rtol=1e-9)
        assert np.all(low <= fit.predict(points)) and np.all(fit.predict(points) <= high)


def test_unreachable_draws_warning_says_whether_the_band_reaches_zero_or_infinity():
    from dataclasses import replace

    from scalefit.analysis import _multiplier_warnings

    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 8)), noise=0.01,
                          second_ladder=2.0, seed=0)
    result = analyze(simulate(spec), focus="focus", band_method="percentile", bootstrap=50)
    m = result.multipliers[0]
    finite = replace(m, unreachable_fraction=0.01, low=1.5, high=3.0)
    reaching = replace(m, unreachable_fraction=0.2, low=1.5, high=float("inf"))
    assert "band stays finite" in _multiplier_warnings([finite], result.ladder)[0]
    assert "reaches 0 or infinity" in _multiplier_warnings([reaching], result.ladder)[0]


# ----- predicted loss at a given compute ------------------------------------------------------------

@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(), st.floats(-0.5, 2.5))
# E at its bound and the fitted loss at c_hi 3.4e-6 above it: the deviance rises from 0 to the threshold
# (18.5) within 1.2e-3 in ln L and to 24.4 by the next grid point, 2.4e-3 out; read off that grid the
# loss band ended at 2.05977 (deviance 21.9) instead of L* = 2.05849, 34% of its half-width out
@example(spec=SimulationSpec(params=(2.0, 11858541.225631421, 0.5), flops=tuple(np.geomspace(1e15, 1e17, 5)),
                             noise=0.015625, seed=93), decades_beyond=1.0)
# the compute band's lower end where the constrained fit's optimum is at alpha = 10 (below)
@example(spec=SimulationSpec(params=(1.3014114462549649, 25.273092708642995, 0.05), noise=0.02764251352051652, seed=6,
                             flops=(6.03255031387717e+18, 2.1844853459803767e+19, 7.91037948879703e+19,
                                    2.8644780690299437e+20, 1.0372744594079264e+21)), decades_beyond=1.975529518091243)
def test_loss_band_at_c_ends_where_the_compute_band_at_that_loss_ends(spec, decades_beyond):
    """The predicted loss's profile band is the calibrated compute band read the other way: with
    [c_lo, c_hi] the compute band at a loss L*, the loss band at c_lo ends below at L*, and the
    loss band at c_hi ends above at L* (the same constraint, the law through (C, L*), profiled).
    To within 1% of the loss band's half-width (the compute band's grid; the loss band's ends are
    narrowed to 1e-6 in ln L)."""
    from scalefit.prediction import predict_at
    from scalefit.profile import compute_deviance, interval_from_deviance

    frame = simulate(spec)
    focus = frame[frame.family == "focus"]
    fit = fit_law(focus.flops.to_numpy(), focus.loss.to_numpy(), SAT)
    target = float(fit.predict(fit.flops_max * 10 ** decades_beyond))
    c_lo, c_hi = (10.0 ** x for x in interval_from_deviance(compute_deviance(fit, target, 0.95), 0.95))
    for c, end in ((c_lo, 0), (c_hi, 1)):
        if not 0 < c < np.inf:          # the band runs to 0 or infinity: no edge to compare
            continue
        (p,) = predict_at(fit, None, [c], 0.95, "profile")       # the band --at-flops prints
        edge, half_width = (p.low, p.loss - p.low) if end == 0 else (p.high, p.high - p.loss)
        assert abs(edge - target) <= 0.01 * half_width


def test_compute_band_end_where_the_constrained_fit_has_alpha_at_its_bound():
    """A 5-run ladder's compute band at a loss 2 decades out ends below its smallest run, where the
    best law through (C*, L*) has alpha = 10, its upper bound. The profile's alpha grid stopped at 4,
    and there its lowest SSR was the flat law (E = L*): at 10^18.853 the profile gave a deviance of
    25.2 where scipy finds 20.3 (E = 3.42, alpha = 10), and the band's lower end was 18.878 (deviance
    16.2) or, ends only, 18.875. scipy's profile crosses the threshold at 18.86272."""
    from scalefit.profile import compute_deviance, compute_deviances, interval_from_deviance

    spec = SimulationSpec(params=(1.3014114462549649, 25.273092708642995, 0.05), noise=0.02764251352051652, seed=6,
                          flops=(6.03255031387717e+18, 2.1844853459803767e+19, 7.91037948879703e+19,
                                 2.8644780690299437e+20, 1.0372744594079264e+21))
    frame = simulate(spec)
    fit = fit_law(frame.flops.to_numpy(), frame.loss.to_numpy(), SAT)
    target = float(fit.predict(fit.flops_max * 10 ** 1.975529518091243))
    low, high = interval_from_deviance(compute_deviance(fit, target, 0.95), 0.95)
    assert low == pytest.approx(18.86272, abs=1e-3) and high == np.inf
    (ends,) = compute_deviances([fit], [target], 0.95, ends_only=True)
    assert interval_from_deviance(ends, 0.95)[0] == pytest.approx(18.86272, abs=1e-5)


def test_predictions_at_compute_have_bands_marks_and_warnings():
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 8)), noise=0.01,
                          second_ladder=2.0, seed=4)
    ladder = simulate(spec)
    result = analyze(ladder, focus="focus", at_flops=[3e20, 1e23, 1e26])
    frame = result.predictions_frame()
    assert list(zip(frame.family, frame.flops)) == [(f, c) for f in ("focus", "other") for c in (3e20, 1e23, 1e26)]
    for p in result.predictions:
        with warnings.catch_warnings(record=True) as caught:      # Analysis.predict warns as the table does
            warnings.simplefilter("always")
            assert p.loss == pytest.approx(float(result.predict(p.family, p.flops)), rel=1e-12)
        assert [type(w.message) for w in caught] == [ExtrapolationWarning] * (p.extrapolation_decades > 1)
        assert p.low < p.loss < p.high and p.band_method == "profile"
    # inside the runs, 1 decade beyond, 4 beyond: only the last is outside the calibration study
    assert [p.band_checked for p in result.predictions[:3]] == [True, True, False]
    assert [p.extrapolation_decades for p in result.predictions[:3]] == pytest.approx([0.0, 1.0, 4.0])
    assert any("focus at compute 1e+26" in w and "not checked" in w for w in result.warnings)
    # the 95% band is inside the 99% band, percentile bands are never marked checked, none has no band
    wide = analyze(ladder, focus="focus", at_flops=1e23, level=0.99).predictions[0]
    assert wide.low < result.predictions[1].low and result.predictions[1].high < wide.high
    boot = analyze(ladder, focus="focus", at_flops=1e23, band_method="percentile", bootstrap=300).predictions[0]
    assert boot.low < boot.loss < boot.high and boot.n_draws == 300 and not boot.band_checked
    bare = analyze(ladder, focus="focus", at_flops=[1e23, 1e23], bootstrap=0).predictions   # asked twice: once
    assert len(bare) == 2 and [p.family for p in bare] == ["focus", "other"]
    assert np.isnan(bare[0].low) and np.isnan(bare[0].high) and bare[0].loss == result.predictions[1].loss
    assert bare[0].band_checked        # no band: nothing unchecked, as for multipliers
    with pytest.raises(ValueError, match="at_flops 1e\\+40: .* decades outside"):
        analyze(ladder, at_flops=1e40)
    with pytest.raises(ValueError, match="at_flops -1"):
        analyze(ladder, at_flops=[-1.0])


def test_fit_command_predicts_at_compute_in_table_and_json(tmp_path):
    spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=tuple(np.geomspace(1e19, 1e22, 8)), noise=0.01,
                          references=(ReferenceSpec("big", 4.0, 1.0),), seed=2)
    path = tmp_path / "ladder.csv"
    path.write_text(simulated_csv(spec))
    runner = CliRunner()
    table = runner.invoke(main, ["fit", str(path), "--at-flops", "1e23", "--at-flops", "1e20"])
    assert table.exit_code == 0, table.output
    section = table.stdout.split("Predicted loss at the given compute\n")[1].splitlines()
    assert section[0].split() == ["family", "compute", "loss", "95%", "band", "beyond", "ladder"]
    assert section[1].split()[:2] == ["focus", "1.00e23"] and section[1].endswith("+1.0 dec")
    assert section[2].split()[:2] == ["focus", "1.00e20"] and section[2].endswith("inside")
    data = json.loads(runner.invoke(main, ["fit", str(path), "--at-flops", "1e23", "--format", "json"]).stdout)
    (p,) = data["predictions"]
    assert p["family"] == "focus" and p["flops"] == 1e23 and p["low"] < p["loss"] < p["high"]
    assert section[1].split()[2] == f"{p['loss']:.4g}"
    assert json.loads(runner.invoke(main, ["fit", str(path), "--format", "json"]).stdout)["predictions"] == []
    bad = runner.invoke(main, ["fit", str(path), "--at-flops", "1e40"])
    assert bad.exit_code == 2 and bad.stderr.startswith("scalefit: error: --at-flops 1e+40: ")
    assert "Traceback" not in bad.output and len(bad.stderr.splitlines()) == 1


def test_predictions_in_perplexity_files_and_reference_points_outside_the_reach(tmp_path):
    """A perplexity file's predictions are shown as perplexities (inf past the largest float, not a
    crash); a reference point does not stretch the 10-decade reach of the fitted runs; csv refuses."""
    flops = np.geomspace(1e19, 1e22, 8)
    loss = SAT.predict(np.array([0.4, 1e11, 0.6]), flops) * np.exp(np.random.default_rng(5).normal(0, 0.005, 8))
    path = tmp_path / "ppl.csv"
    path.write_text("family,flops,perplexity\n" + "".join(f"f,{c:.6g},{np.exp(v):.8g}\n" for c, v in zip(flops, loss))
                    + "far,1e31,1.5\n")
    runner = CliRunner()
    r = runner.invoke(main, ["fit", str(path), "--at-flops", "1e23", "--format", "json"])
    (p,) = json.loads(r.stdout)["predictions"]
    assert (p["perplexity"], p["perplexity_low"], p["perplexity_high"]) == pytest.approx(
        tuple(np.exp([p["loss"], p["low"], p["high"]])), rel=1e-12)
    table = runner.invoke(main, ["fit", str(path), "--at-flops", "1e23", "--at-flops", "1e12"]).stdout
    rows = table.split("Predicted perplexity at the given compute\n")[1].splitlines()
    assert rows[1].split()[2] == f"{p['perplexity']:.4g}"
    assert rows[2].split()[2] == "inf"                 # 7 decades below: a loss past 709 nats
    bare = json.loads(runner.invoke(main, ["fit", str(path), "--at-flops", "1e23", "--bootstrap", "0",
                                           "--format", "json"]).stdout)["predictions"][0]
    assert bare["perplexity"] == pytest.approx(p["perplexity"]) and bare["perplexity_low"] is None
    far = runner.invoke(main, ["fit", str(path), "--at-flops", "1e33"])   # 1e31 is only a reference point
    assert far.exit_code == 2 and "11.0 decades outside the fitted runs' compute" in far.stderr
    csv = runner.invoke(main, ["fit", str(path), "--at-flops", "1e23", "--format", "csv"])
    assert csv.exit_code == 2 and "--format csv" in csv.stderr and csv.stdout == ""


def test_a_band_open_on_one_side_has_its_other_end_resolved():
    """A 5-run ladder on which an unreachable target is consistent with the data: the compute band
    runs to infinity, the fine grid spreads over many decades, and its lower end, interpolated
    between fine points 0.1 decade apart, was 0.028 decades (7%) high. The points added around each
    end bring it within 0.002 decades of a 4,001-point reference."""
    from unittest import mock

    from scalefit import profile

    spec = SimulationSpec(params=(0.5, 4.642212553664923, 0.078125), flops=tuple(np.geomspace(1e15, 1e17, 5)),
                          noise=0.02734375, seed=1)
    frame = simulate(spec)
    fit = fit_law(frame.flops.to_numpy(), frame.loss.to_numpy(), SAT)
    target = float(fit.predict(fit.flops_max))
    low, high = profile.interval_from_deviance(profile.compute_deviance(fit, target, 0.95), 0.95)
    assert high == np.inf
    real = profile.Search
    with mock.patch.object(profile, "Search", lambda *a, **k: real(*a, **{**k, "fine_points": 4001})):
        reference, _ = profile.interval_from_deviance(profile.compute_deviance(fit, target, 0.95), 0.95)
    assert low == pytest.approx(reference, abs=0.002)


@pytest.mark.parametrize("decades", [15.2, 31.6, 34.0, 38.0])
def test_compute_band_crossing_an_edge_of_the_search_is_found_past_it(decades):
    """A power law on the demo's runs (1e19 to 1e22) inverted at losses it reaches at 10^15.2 and
    10^31.6 to 10^38: the search's first edges (4 decades below the smallest run, 10 above the
    largest) cut the bands at 15.2 and 31.6, which were printed unbounded; an edge moves out while
    the band is still inside there. The ends equal the brute-force profile's (closed form in alpha
    for a power law through (C*, L*))."""
    from scalefit.profile import compute_deviance, interval_from_deviance, threshold

    demo = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "ladders" / "muse.csv", comment="#")
    demo = demo[demo["family"] == "muse"]
    flops, loss = demo["flops"].to_numpy(float), np.log(demo["perplexity"].to_numpy(float))
    fit = fit_law(flops, loss, PowerLaw())
    target = float(fit.predict(10.0 ** decades))
    estimate = np.log10(fit.invert(target))
    low, high = interval_from_deviance(compute_deviance(fit, target, 0.95), 0.95)
    grid = np.linspace(estimate - 15, estimate + 15, 30001)
    z = np.log(flops)[None, :] - grid[:, None] * np.log(10)
    t = np.log(loss)[None, :] - np.log(target)
    slope = -(z * t).sum(1) / (z * z).sum(1)
    dof = flops.size - 2
    deviance = (((t + slope[:, None] * z) ** 2).sum(1) - fit.objective) / (fit.objective / dof)
    inside = grid[deviance <= threshold(0.95, dof)]
    assert low == pytest.approx(inside.min(), abs=2e-3) and high == pytest.approx(inside.max(), abs=2e-3)


def test_band_of_a_target_the_fit_cannot_reach_keeps_its_finite_end_far_out():
    """A target 0.9% below the fitted E: the fit cannot reach it, and 'unreachable' is inside the band,
    but so is every compute from about 10^36 on (a brute-force profile of the law through (C*, L*)
    is 7.742 at 10^35 and 7.688 at 10^37 against a threshold of 7.709). The search ended at 10^32.5
    and printed [inf, inf]; it moves on while the deviance still falls toward 'unreachable'."""
    from scalefit.profile import compute_deviance, interval_from_deviance

    flops = np.array([1e19, 3.8588868990046626e19, 1.48910080993097e20, 5.7462716067398523e20,
                      2.217421222137089e21, 8.55677770367965e21, 3.3019637378424603e22])
    loss = np.array([3.289173843119328, 2.834616973619531, 2.5107016846095473, 2.2935029824517623,
                     2.1359034635869145, 2.0359073475224974, 1.962737877391989])
    fit = fit_law(flops, loss, SAT)
    low, high = interval_from_deviance(compute_deviance(fit, float(fit.params[0] * (1 - 0.009)), 0.95), 0.95)
    assert 35.0 < low < 37.0 and high == np.inf
    low, high = interval_from_deviance(compute_deviance(fit, float(fit.params[0] * (1 - 0.0084)), 0.95), 0.95)
    assert low == pytest.approx(30.743, abs=2e-3) and high == np.inf       # found inside the first search, as before


# ----- the edges of what the calibration study checked (found by a mutation audit) ---------------

def _ladder_with_reference(flops, residuals, ref_flops, ref_loss_at) -> pd.DataFrame:
    """Family 'f' on the truth 1.8 + 1000 C^-0.15 with the given ln residuals, and a reference run
    at ``ref_flops`` with the truth's loss at ``ref_loss_at``."""
    truth = 1.8 + 1000 * np.asarray(flops) ** -0.15
    runs = pd.DataFrame(dict(family="f", flops=flops, loss=truth * np.exp(residuals)))
    reference = pd.DataFrame([dict(family="ref", flops=ref_flops, loss=float(1.8 + 1000 * ref_loss_at ** -0.15))])
    return pd.concat([runs, reference], ignore_index=True)


def test_four_runs_are_checked_three_are_not_and_three_suffice_with_e_fixed():
    """The study went down to 4 runs: a 4-run ladder's band is checked; with E fixed 3 runs fit
    (2 free parameters) and their band is marked, with the reason."""
    flops = np.geomspace(1e19, 1e22, 4)
    frame = _ladder_with_reference(flops, 0.005 * np.array([1, -1, -1, 1]), 4e23, 1e23)
    result = analyze(frame)
    (m,) = result.multipliers
    assert m.band_checked and np.isfinite(m.low) and not any("calibration" in w for w in result.warnings)
    three = frame.drop(index=2)
    fixed = analyze(three, law=SaturatingLaw().with_fixed_E(1.8))
    (m,) = fixed.multipliers
    assert not m.band_checked and m.low < m.multiplier < m.high
    assert any("'f' has 3 runs (checked: 4 or more)" in w for w in fixed.warnings)


def test_a_ladder_scattering_more_than_4_percent_is_marked():
    """CHECKED_MAX_NOISE = 0.04: about 4.2% scatter is marked, 3.9% is not."""
    flops = np.geomspace(1e19, 1e22, 8)
    for amplitude, marked in ((0.034, True), (0.0316, False)):
        pattern = amplitude * np.array([1, -1, -1, 1, 1, -1, -1, 1])
        result = analyze(_ladder_with_reference(flops, pattern, 4e22, 1e22))
        fit = result.fits["f"].fit
        scatter = np.sqrt(fit.objective / (fit.n_runs - 3))
        assert (0.0405 < scatter < 0.045) if marked else (0.037 < scatter < 0.0395), scatter
        (m,) = result.multipliers
        assert m.band_checked is not marked
        assert any(f"'f' scatters {scatter:.1%}" in w for w in result.warnings) is marked
        # the message names the threshold it applies (it said 'checked: up to 3%' of a 3.5%-scatter cut at 4%)
        assert any("(checked: up to 4%;" in w for w in result.warnings) is marked


def test_the_power_laws_lack_of_fit_is_warned_about_below_p_one_percent_only():
    """POWER_LAW_CHECK_LEVEL = 0.01: p = 0.0062 warns, p = 0.013 does not."""
    flops = np.geomspace(1e19, 1e22, 8)
    noise = np.exp(np.random.default_rng(0).normal(0, 0.003, flops.size))
    said = {}
    for E in (0.3, 0.2):
        frame = pd.DataFrame(dict(family="f", flops=flops, loss=(E + 30 * flops ** -0.07) * noise))
        warnings = analyze(frame, law="power", bootstrap=0).warnings
        said[E] = [w for w in warnings if "F test" in w]
    assert len(said[0.3]) == 1 and "p = 0.0062" in said[0.3][0]
    assert said[0.2] == []


def test_checkpoints_fitted_as_runs_are_warned_about_and_their_bands_marked():
    """Found by a walkthrough with every checkpoint of every run as a row: the compute law counted
    each checkpoint as a run, and its bands narrowed with the number of rows until they excluded
    the truth. Rows of one named run at several computes are now said to be checkpoints, and every
    band resting on that family is marked; one row per run, or no run names, is not."""
    rows = []
    for family, shift in (("a", 1.0), ("b", 2.0)):
        for size in range(6):
            for step in range(5):
                c = 1e19 * 10 ** (0.5 * size) * 2.0 ** step
                rows.append((family, f"{family}-{size}", c, 1.8 + 1e3 * (c / shift) ** -0.15 * (1 + 0.01 * (4 - step))))
    frame = pd.DataFrame(rows, columns=["family", "run", "flops", "loss"])
    result = analyze(frame, at_flops=[1e23])
    said = [w for w in result.warnings if "are checkpoints of 6 runs" in w]
    assert len(said) == 2 and "family 'a': its 30 rows" in said[0]
    assert not any(m.band_checked for m in result.multipliers) and not any(p.band_checked for p in result.predictions)
    finals = frame.groupby("run").tail(1)
    for plain in (finals, frame.drop(columns="run")):
        assert not any("checkpoints" in w for w in analyze(plain, bootstrap=0).warnings)


def test_unchecked_prediction_bands_are_said_once_per_family_and_reason():
    """Found by a walkthrough: a backtest holding out 100 checkpoints printed 200 near-identical
    lines, one per prediction. One line per family and reason now names 3 points and counts the rest."""
    flops = np.geomspace(1e19, 1e22, 8)
    frame = _ladder_with_reference(flops, 0.034 * np.array([1, -1, -1, 1, 1, -1, -1, 1]), 4e22, 1e22)
    result = analyze(frame, at_flops=[1e20, 2e20, 3e20, 4e20, 5e20])
    said = [w for w in result.warnings if "predicted loss's band was not checked" in w]
    assert len(said) == 1 and "f at compute 1e+20, compute 2e+20, compute 3e+20 and 2 more:" in said[0]
    assert not any(p.band_checked for p in result.predictions)


def test_checkpoint_bootstrap_resamples_whole_runs(checkpoint_ladder):
    """Checkpoints of one run share its luck (here a 3% offset per run, 0.2% scatter between
    checkpoints): resampling rows treats 60 rows as 60 independent runs and its band is far too
    narrow; resampling whole runs (what percentile bands now do when run names repeat) counts 6.
    The warning says which of the two the bands are."""
    frame = checkpoint_ladder
    by_runs = analyze(frame, band_method="percentile", bootstrap=400, at_flops=[1e24])
    by_rows = analyze(frame.drop(columns="run"), band_method="percentile", bootstrap=400, at_flops=[1e24])
    width = {name: np.log(r.predictions[0].high / r.predictions[0].low) for name, r in
             (("runs", by_runs), ("rows", by_rows))}
    assert width["runs"] > 2.5 * width["rows"]
    said = [w for w in by_runs.warnings if "checkpoints of 6 runs" in w]
    assert len(said) == 1 and "the bootstrap resamples whole runs" in said[0] and "too narrow" not in said[0]
    profile = [w for w in analyze(frame, band_method="profile").warnings if "checkpoints of 6 runs" in w]
    assert "too narrow" in profile[0] and "band_method='percentile' resamples whole runs" in profile[0]
    assert "--band-method percentile resamples whole runs" in profile[0].flags          # what the command prints
    by_default = analyze(frame, bootstrap=400, at_flops=[1e24])       # checkpoints: whole runs by default
    assert by_default.band_method == "percentile"
    assert [(p.low, p.high) for p in by_default.predictions] == [(p.low, p.high) for p in by_runs.predictions]


def test_checkpoint_warning_without_bands_speaks_of_no_bands():
    """With --bootstrap 0 there are no bands to call too narrow (found by a review)."""
    frame = pd.DataFrame([("f", f"r{s}", 1e19 * 10 ** (0.5 * s) * 2.0 ** k, 1.8 + 1e3 * (1e19 * 10 ** (0.5 * s) * 2.0 ** k) ** -0.15)
                          for s in range(5) for k in range(3)], columns=["family", "run", "flops", "loss"])
    said = [w for w in analyze(frame, bootstrap=0).warnings if "checkpoints of 5 runs" in w]
    assert len(said) == 1 and "every row is fitted as a separate run" in said[0]
    assert "bands" not in said[0] and "marked" not in said[0]


def test_a_checkpoint_family_counts_its_runs_and_its_rows(checkpoint_ladder):
    """Found by the checkpoint calibration study: the table, the JSON and fits_frame gave 60 runs for
    6 runs of 10 checkpoints, while the warning spoke of 6 runs. Runs and rows are both given now,
    and the warnings cite the checkpoint study."""
    import json
    from scalefit.formatting import format_table, to_json
    result = analyze(checkpoint_ladder, bootstrap=200)
    assert result.fits_frame()[["runs", "rows"]].values.tolist() == [[6, 60]]
    assert json.loads(to_json(result))["families"][0]["runs"] == 6
    assert json.loads(to_json(result))["families"][0]["rows"] == 60
    assert "  f       6 (60 rows)  " in format_table(result)
    cited = [w for w in result.warnings if "analyses/checkpoint_calibration.py" in w]
    assert len(cited) == 2 and "covered 92.5-98.5% at 95% but 71-86% at 80%" in cited[0]
    plain = analyze(checkpoint_ladder.drop(columns="run"), bootstrap=200, band_method="percentile")
    assert plain.fits_frame()[["runs", "rows"]].values.tolist() == [[60, 60]]
    assert not any("checkpoint" in w for w in plain.warnings)


def test_only_the_law_the_checkpoint_study_fits_cites_its_coverage(checkpoint_ladder):
    """Found by review: analyses/checkpoint_calibration.py fits the saturating law with E free, yet
    a power-law, fixed-E or L(N, D) fit of a checkpoint file said its bands "were checked on one
    simulated design" and quoted that study's 92.5-98.5% coverage (an L(N, D) summary said in the
    next warning that its bands were checked by no study)."""
    def said(result):
        return [w for w in result.warnings if "checkpoint" in w]

    saturating = said(analyze(checkpoint_ladder, bootstrap=100))
    assert any("were checked on one simulated design" in w for w in saturating)
    assert any("covered 92.5-98.5% at 95%" in w for w in saturating)
    rng = np.random.default_rng(1)
    rows = [("a", f"r{i}", n, 6 * n * d, (1.7 + 400 / n ** 0.34 + 410 / d ** 0.28) * np.exp(rng.normal(0, 0.002)))
            for i, n in enumerate(np.geomspace(1e7, 1e9, 6)) for d in 20 * n * 2.0 ** np.arange(-3, 3)]
    nd = pd.DataFrame(rows, columns=["family", "run", "params", "flops", "loss"])
    others = [analyze(checkpoint_ladder, law="power", bootstrap=100),
              analyze(checkpoint_ladder, law=SaturatingLaw().with_fixed_E(1.8), bootstrap=100),
              analyze(nd, law="chinchilla", bootstrap=50)]
    for result in others:
        assert result.band_method == "percentile"
        warnings = said(result)
        assert any("whole runs" in w and "fits the saturating law with E free only" in w for w in warnings)
        assert not any("were checked on one simulated design" in w or "92.5-98.5%" in w for w in warnings)
