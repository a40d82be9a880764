"""The saturating law with its irreducible loss E held fixed (``--fix-e``, SaturatingLaw.with_fixed_E).

Against slow reference paths that share nothing with the engine but the objective: the fit is the
optimum over (ln A, alpha) with E at the given value; fixing E at a free fit's E gives back that
fit; the compute band's ends sit where a brute-force restricted profile crosses the threshold; bands
with E fixed at the truth cover it; the command line reports E as fixed, refuses an E above a run.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scalefit.cli import main
from scalefit.efficiency import compute_ratio
from scalefit.fitting import FIXED_E_CEILING, fit_law, fit_ladders, standard_errors
from scalefit.laws import SaturatingLaw
from scalefit.profile import compute_deviance, compute_deviances, interval_from_deviance, parameter_bands, threshold
from scalefit.simulate import ReferenceSpec, SimulationSpec, focus_ladder
from scalefit.uncertainty import bootstrap_family

SAT = SaturatingLaw()
FIXED = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def ladders_and_fixed_e(draw):
    """A noisy saturating ladder and an E to fix: its truth, or anywhere from 0 to just below the
    smallest loss (a wrong E makes a poor fit, which must still be the best one)."""
    n = draw(st.integers(3, 10))
    c_min = 10.0 ** draw(st.floats(15, 23))
    flops = np.geomspace(c_min, c_min * 10 ** draw(st.floats(1.0, 4.0)), n)
    E, alpha = draw(st.floats(0.0, 3.0)), draw(st.floats(0.02, 1.0))
    truth = np.array([E, draw(st.floats(0.1, 5.0)) * c_min ** alpha, alpha])
    sigma = draw(st.sampled_from([0.0, 0.003, 0.02]))
    loss = SAT.predict(truth, flops) * np.exp(np.random.default_rng(draw(st.integers(0, 2**31 - 1))).normal(0, sigma, n))
    share = draw(st.sampled_from([None, 0.0, 0.5, 0.9, 0.999]))
    fixed = E if share is None or (share == 0.0 and E == 0.0) else share * loss.min()
    return flops, loss, min(fixed, 0.999 * loss.min())


def restricted_reference_fit(flops, loss, fixed_e):
    """Slow path: scipy least_squares over (ln A_norm, alpha) with E = fixed_e, from 8 x 3 starts."""
    from scipy.optimize import least_squares

    u = np.log(flops) - np.log(flops).mean()
    y = np.log(loss)

    def resid(t):
        return y - np.log(fixed_e + np.exp(t[0] - t[1] * u))

    best = np.inf
    for alpha0, shift in itertools.product((1e-4, 0.003, 0.03, 0.1, 0.3, 1.0, 3.0, 8.0), (-1.0, 0.0, 1.0)):
        a0 = np.log(max(np.mean(loss) - fixed_e, 1e-9)) + shift
        res = least_squares(resid, [a0, alpha0], bounds=([-np.inf, 1e-6], [np.inf, 10.0]),
                            xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=3000)
        best = min(best, float(res.fun @ res.fun))
    return best


@FIXED
@given(ladders_and_fixed_e())
def test_fixed_e_fit_is_the_restricted_optimum(case):
    flops, loss, fixed_e = case
    fit = fit_law(flops, loss, SAT.with_fixed_E(fixed_e))
    assert fit.params[0] == fixed_e
    reference = restricted_reference_fit(flops, loss, fixed_e)
    assert fit.objective <= reference * (1 + 1e-7) + 1e-20


@FIXED
@given(ladders_and_fixed_e())
def test_fixing_e_at_the_free_fits_e_gives_back_the_free_fit(case):
    flops, loss, _ = case
    assume(flops.size > 3)                              # the free fit needs 4 runs, the fixed one 3
    free = fit_law(flops, loss, SAT)
    assume(free.params[0] <= loss.min() * FIXED_E_CEILING)     # not at the free fit's bound on E
    fixed = fit_law(flops, loss, SAT.with_fixed_E(float(free.params[0])))
    # the free optimum is a point of the restricted problem: the restricted one is no worse, and
    # no better than the free one by more than rounding
    assert fixed.objective <= free.objective * (1 + 1e-9) + 1e-20
    assert fixed.objective >= free.objective * (1 - 1e-6) - 1e-20


def test_fixed_e_standard_errors_are_of_a_two_parameter_fit():
    flops = np.geomspace(1e19, 1e22, 8)
    loss = 1.8 + 2000 * flops ** -0.15 * np.exp(np.random.default_rng(0).normal(0, 0.01, 8))
    law = SAT.with_fixed_E(1.8)
    fit = fit_law(flops, loss, law)
    stderr = standard_errors(flops, loss, law, fit.params)
    assert stderr[0] == 0.0 and np.all(stderr[1:] > 0)
    # lmfit's report (its own least_squares with E not varied) gives the same errors of A and alpha
    report = fit.report
    assert "E:           1.8 (fixed)" in report
    assert "# variables        = 2" in report
    a_line = next(line for line in report.splitlines() if line.strip().startswith("A:"))
    assert float(a_line.split("+/-")[1].split()[0]) == pytest.approx(stderr[1], rel=1e-3)


def test_fixed_e_at_or_above_a_run_is_refused():
    flops = np.geomspace(1e19, 1e22, 6)
    loss = 2.0 + flops ** -0.1 * 1e2
    with pytest.raises(ValueError, match="not below the smallest loss"):
        fit_law(flops, loss, SAT.with_fixed_E(float(loss.min())))
    with pytest.raises(ValueError, match="finite number >= 0"):
        SAT.with_fixed_E(-0.1)


def brute_restricted_profile(flops, loss, fixed_e, target, log10_c):
    """S(C*) with E fixed: the law through (C*, target) has A = (target - E) C*^alpha, leaving alpha;
    minimized on a dense log grid of alpha, then by a bounded scalar search around its best point."""
    from scipy.optimize import minimize_scalar

    y, log_c = np.log(loss), np.log(flops)
    v = log10_c * np.log(10)

    def ssr(alpha):
        pred = fixed_e + (target - fixed_e) * np.exp(-np.multiply.outer(alpha, log_c - v))
        return ((y - np.log(pred)) ** 2).sum(-1)

    grid = np.geomspace(1e-6, 10.0, 20001)
    values = ssr(grid)
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = minimize_scalar(lambda a: ssr(np.array([a]))[0], bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-14})
    return min(float(values[i]), float(res.fun))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fixed_e_compute_band_ends_where_the_restricted_profile_crosses_the_threshold(seed):
    rng = np.random.default_rng(seed)
    flops = np.geomspace(1e19, 1e21, 7)
    truth = np.array([1.7, 900.0, 0.13])
    loss = SAT.predict(truth, flops) * np.exp(rng.normal(0, 0.01, flops.size))
    fit = fit_law(flops, loss, SAT.with_fixed_E(1.7))
    target = float(SAT.predict(truth, 1e22))
    low, high = interval_from_deviance(compute_deviance(fit, target, 0.95), 0.95)
    dof = flops.size - 2
    limit = threshold(0.95, dof)
    for end in (low, high):
        deviance = (brute_restricted_profile(flops, loss, 1.7, target, end) - fit.objective) / (fit.objective / dof)
        assert deviance == pytest.approx(limit, rel=2e-3)
    # and the point estimate lies inside with deviance 0
    assert low < np.log10(fit.invert(target)) < high


def test_fixed_e_just_below_the_target_puts_the_band_around_an_estimate_far_out():
    """E fixed 1.6e-4 below the target: the estimate is 15 decades beyond the runs, past the search's
    usual edge (10 decades). The band was cut there, [edge, estimate]; the search now reaches past
    the estimate and the ends are where the restricted profile crosses the threshold."""
    flops = np.geomspace(1e19, 1e22, 10)
    rng = np.random.default_rng(5)
    loss = SAT.predict(np.array([0.41, 233.0, 0.1285]), flops) * np.exp(rng.normal(0, 0.002, flops.size))
    target, fixed_e = 0.6081501, 0.60796
    fit = fit_law(flops, loss, SAT.with_fixed_E(fixed_e))
    estimate = np.log10(fit.invert(target))
    assert estimate > np.log10(flops.max()) + 12
    dev = compute_deviance(fit, target, 0.95)
    low, high = interval_from_deviance(dev, 0.95)
    assert low < estimate < high < dev.grid[-1]
    dof = flops.size - 2
    for end in (low, high):
        deviance = (brute_restricted_profile(flops, loss, fixed_e, target, end) - fit.objective) / (fit.objective / dof)
        assert deviance == pytest.approx(threshold(0.95, dof), rel=2e-3)


def test_fixed_e_above_the_target_makes_the_target_unreachable_in_the_whole_band():
    flops = np.geomspace(1e19, 1e21, 7)
    loss = SAT.predict(np.array([1.7, 900.0, 0.13]), flops)
    loss = loss * np.exp(np.random.default_rng(3).normal(0, 0.01, flops.size))
    fit = fit_law(flops, loss, SAT.with_fixed_E(1.7))
    low, high = interval_from_deviance(compute_deviance(fit, 1.69, 0.95), 0.95)
    assert low == np.inf and high == np.inf


def test_fixed_e_parameter_bands_hold_e_and_contain_the_estimates():
    flops = np.geomspace(1e19, 1e22, 8)
    loss = SAT.predict(np.array([1.8, 2000.0, 0.15]), flops) * np.exp(np.random.default_rng(4).normal(0, 0.01, 8))
    fit = fit_law(flops, loss, SAT.with_fixed_E(1.8))
    low, high = parameter_bands(fit, 0.95)
    assert low[0] == high[0] == 1.8
    assert np.all(low[1:] < fit.params[1:]) and np.all(fit.params[1:] < high[1:])
    free_low, free_high = parameter_bands(fit_law(flops, loss, SAT), 0.95)
    # holding E removes the trade-off between E and (A, alpha): their bands narrow
    assert np.all(high[1:] / low[1:] < free_high[1:] / free_low[1:])


def test_fixed_e_bootstrap_keeps_e_in_every_refit():
    flops = np.geomspace(1e19, 1e22, 8)
    loss = SAT.predict(np.array([1.8, 2000.0, 0.15]), flops) * np.exp(np.random.default_rng(5).normal(0, 0.01, 8))
    draws = bootstrap_family(flops, loss, SAT.with_fixed_E(1.8), 300, 0, "f", workers=1)
    assert draws.ok.sum() > 250
    assert np.all(draws.params[draws.ok, 0] == 1.8)


def test_fixed_e_at_the_truth_gives_bands_that_cover_the_truth():
    """Coverage of 95% multiplier bands with E fixed at its true value (200 simulated ladders of
    an easy design: 6 runs over 2 decades, 1% noise, reference 1 decade beyond): a 2-parameter
    nonlinear fit whose profile band should cover about 95%; at least 90% asserted."""
    design = SimulationSpec(params=(1.8, 1500.0, 0.14), flops=tuple(np.geomspace(1e19, 1e21, 6)), noise=0.01,
                            references=(ReferenceSpec("ref", 4.0, 1.0),))
    ref_flops, target = design.reference_truth(design.references[0])
    losses = np.array([focus_ladder(replace(design, seed=s))[1] for s in range(200)])
    fits = fit_ladders(np.asarray(design.flops), losses, SAT.with_fixed_E(1.8))
    bands = np.array([interval_from_deviance(d, 0.95) for d in compute_deviances(fits, [target] * len(fits), 0.95)])
    low, high = compute_ratio(ref_flops, 10.0 ** bands[:, 1]), compute_ratio(ref_flops, 10.0 ** bands[:, 0])
    coverage = float(np.mean((low <= 4.0) & (4.0 <= high)))
    assert coverage >= 0.90


# ----- command line ------------------------------------------------------------------------------

LADDER = """family,flops,loss
a,1e19,3.10
a,3e19,2.95
a,1e20,2.82
a,3e20,2.72
a,1e21,2.64
ref,1e22,2.50
"""


@pytest.fixture
def ladder_file(tmp_path):
    path = tmp_path / "ladder.csv"
    path.write_text(LADDER)
    return path


def test_cli_fix_e_reports_e_as_fixed(ladder_file):
    result = CliRunner().invoke(main, ["fit", str(ladder_file), "--fix-e", "2.0"])
    assert result.exit_code == 0, result.output
    assert "E fixed at 2" in result.stdout
    family_row = next(line for line in result.stdout.splitlines() if line.strip().startswith("a "))
    assert "2 (fixed)" in family_row
    assert "E is fixed at 2, not fitted; its bands assume that value exactly" in result.stderr
    assert result.stderr.count("E is fixed") == 1          # said once, not for every band
    data = json.loads(CliRunner().invoke(main, ["fit", str(ladder_file), "--fix-e", "2.0", "--format", "json"]).stdout)
    assert data["law"]["fixed"] == {"E": 2.0}
    assert data["families"][0]["parameters"]["E"] == {"value": 2.0, "stderr": 0.0, "low": 2.0, "high": 2.0}
    assert data["multipliers"][0]["band_checked"] is False


def test_cli_fix_e_above_a_run_names_the_row(ladder_file):
    result = CliRunner().invoke(main, ["fit", str(ladder_file), "--fix-e", "2.7"])
    assert result.exit_code == 2
    assert "line 6, column 'loss': family 'a' has a run at loss 2.64, not above the fixed E = 2.7" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("law", ["power", "chinchilla"])
def test_cli_fix_e_needs_the_saturating_law(ladder_file, law):
    result = CliRunner().invoke(main, ["fit", str(ladder_file), "--fix-e", "2.0", "--law", law])
    assert result.exit_code == 2
    assert "--fix-e holds the irreducible loss E of the saturating law" in result.stderr


def test_cli_fix_e_in_backtest(ladder_file):
    result = CliRunner().invoke(main, ["backtest", str(ladder_file), "--fix-e", "2.0", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["law"]["fixed"] == {"E": 2.0}


def test_a_parameter_band_wider_than_the_probes_doublings_is_found():
    """With E fixed far from where the runs put it, ln A's band is about +-10 wide: the probe's
    doublings (out to +-8.2) ended inside it and the band was printed [0, inf]; the probe now
    includes the search's edges. Its ends are where a brute-force profile over alpha (A and E
    held) crosses the F threshold. Found by a reviewer."""
    from pathlib import Path

    from scalefit.ladder import read_ladder

    demo = read_ladder(Path(__file__).resolve().parents[1] / "data" / "ladders" / "muse.csv").family_runs("muse")
    flops, loss = demo["flops"].to_numpy()[:5], demo["loss"].to_numpy()[:5]
    fit = fit_law(flops, loss, SAT.with_fixed_E(0.95))
    low, high = parameter_bands(fit, 0.95)
    assert 0 < low[1] < fit.params[1] < high[1] < np.inf
    dof = flops.size - 2
    alphas = np.geomspace(1e-6, 10.0, 200001)
    for a_end in (low[1], high[1]):
        pred = 0.95 + a_end * np.exp(-np.multiply.outer(alphas, np.log(flops)))
        ssr = ((np.log(loss) - np.log(pred)) ** 2).sum(-1).min()
        assert (ssr - fit.objective) / (fit.objective / dof) == pytest.approx(threshold(0.95, dof), rel=0.05)


def test_with_fixed_e_none_is_the_plain_law():
    law = SAT.with_fixed_E(1.8).with_fixed_E(None)
    assert law == SAT and law.formula == SAT.formula and law.n_free == 3


def test_cli_fix_e_refusal_names_the_perplexity_column(tmp_path):
    path = tmp_path / "ppl.csv"
    path.write_text("family,flops,perplexity\n" + "".join(f"a,{c:g},{p}\n" for c, p in
                    zip((1e18, 1e19, 1e20, 1e21), (9.0, 7.0, 6.0, 5.5))))
    result = CliRunner().invoke(main, ["fit", str(path), "--fix-e", "1.75"])
    assert result.exit_code == 2
    assert "line 5, column 'perplexity': family 'a' has a run at loss 1.70475 (perplexity 5.5)" in result.stderr


def test_report_shows_a_fixed_e_as_fixed(ladder_file, tmp_path):
    out = tmp_path / "r.md"
    assert CliRunner().invoke(main, ["report", str(ladder_file), "--fix-e", "2.0", "-o", str(out)]).exit_code == 0
    assert "| a | 2 (fixed) |" in out.read_text()


def test_a_ratio_band_still_inside_where_a_search_ends_goes_on_past_it():
    """The compute searches' edges limit the search, not the compute: a focus whose band is still
    inside at its search's lower edge (it may need no compute at all) gives no upper end to the
    multiplier, and a reference inside at its lower edge gives no lower end (ratio 0)."""
    from scalefit.profile import Deviance, ratio_interval
    grid = np.linspace(15.0, 32.0, 69)
    closed = Deviance(grid=grid, values=(grid - 24.0) ** 2, at_infinity=np.inf, dof=5, touches_top=True,
                      touches_bottom=True)
    open_below = replace(closed, values=np.where(grid < 16.0, 0.0, (grid - 16.0) ** 2))
    low, high = ratio_interval(closed, closed, 0.95)
    assert np.isfinite(low) and np.isfinite(high)
    assert ratio_interval(closed, open_below, 0.95)[1] == np.inf        # focus (denominator) open below
    assert ratio_interval(open_below, closed, 0.95)[0] == -np.inf       # reference (numerator) open below
