"""Property tests of the laws, the fit engine and the multipliers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scalefit.analysis import analyze, decades_past
from scalefit.fitting import _step_within_bounds, fit_law, fit_many, lowest_local_minima
from scalefit.laws import PowerLaw, SaturatingLaw

SAT, POW = SaturatingLaw(), PowerLaw()
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def saturating_ladders(draw, noise=False):
    """A ladder design and a true (E, A, alpha) over wide ranges, with visible curvature."""
    c_min = 10.0 ** draw(st.floats(10, 23))
    decades = draw(st.floats(2.0, 5.0))
    n = draw(st.integers(5, 14))
    alpha = draw(st.floats(0.05, 0.9))
    E = draw(st.floats(0.0, 4.0))
    reducible_at_min = draw(st.floats(0.3, 6.0))
    flops = np.geomspace(c_min, c_min * 10 ** decades, n)
    A = reducible_at_min * c_min ** alpha
    # The reducible part must still be visible at the largest run, or E is not identifiable.
    assume(reducible_at_min * 10 ** (-alpha * decades) > 0.02 * (E + 0.1))
    truth = np.array([E, A, alpha])
    loss = SAT.predict(truth, flops)
    if noise:
        sigma = draw(st.floats(0.002, 0.02))
        seed = draw(st.integers(0, 2**31 - 1))
        loss = loss * np.exp(np.random.default_rng(seed).normal(0, sigma, n))
    return flops, loss, truth


@FAST
@given(saturating_ladders())
def test_noiseless_saturating_ladder_is_recovered(case):
    flops, loss, truth = case
    fit = fit_law(flops, loss, SAT)
    assert fit.objective < 1e-16
    np.testing.assert_allclose(fit.predict(flops), loss, rtol=1e-7)
    assert fit.param("alpha") == pytest.approx(truth[2], rel=1e-3)
    assert fit.param("E") == pytest.approx(truth[0], abs=1e-3 * loss.max())
    assert np.log(fit.param("A")) == pytest.approx(np.log(truth[1]), abs=2e-3 * max(1, abs(np.log(truth[1]))))


@FAST
@given(st.floats(10, 24), st.floats(1, 5), st.integers(3, 12), st.floats(-0.5, 1.5), st.floats(-3, 3))
def test_noiseless_power_ladder_is_recovered(log_cmin, decades, n, alpha, log_a):
    flops = np.geomspace(10 ** log_cmin, 10 ** (log_cmin + decades), n)
    truth = np.array([np.exp(log_a) * 10 ** (log_cmin * alpha), alpha])
    fit = fit_law(flops, POW.predict(truth, flops), POW)
    assert fit.param("alpha") == pytest.approx(alpha, abs=1e-9)
    assert fit.param("A") == pytest.approx(truth[0], rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 5), st.floats(-5, 5), st.floats(0.01, 2.0), st.floats(5, 30))
def test_invert_undoes_predict(E, log_a, alpha, log10_c):
    params = np.array([E, np.exp(log_a) * 10.0 ** (15 * alpha), alpha])
    flops = 10.0 ** log10_c
    loss = SAT.predict(params, flops)
    assume(loss - E > 1e-9 * loss)  # otherwise the reducible part is lost to rounding
    assert SAT.invert(params, loss) == pytest.approx(flops, rel=1e-6)
    assert POW.invert(params[1:], POW.predict(params[1:], flops)) == pytest.approx(flops, rel=1e-9)


@given(st.floats(0.1, 5), st.floats(0.0, 1.0))
def test_loss_at_or_below_irreducible_is_unreachable(E, below):
    params = np.array([E, 10.0, 0.2])
    assert SAT.invert(params, E * (1 - below)) == np.inf


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(saturating_ladders(noise=True))
def test_engine_is_no_worse_than_many_scipy_starts(case):
    """The engine's optimum is at least as good as the best of a grid of bounded least_squares starts."""
    from scipy.optimize import least_squares

    flops, loss, _ = case
    ours = fit_many(flops[None], loss[None], SAT)
    u = np.log(flops) - np.log(flops).mean()
    y = np.log(loss)
    e_max = loss.min() * (1 - 1e-9)

    def resid(t):
        return y - np.log(t[0] + np.exp(t[1] - t[2] * u))

    best = np.inf
    for alpha0 in (0.02, 0.1, 0.3, 1.0):
        for e_frac in (0.0, 0.5, 0.9):
            E0 = e_frac * e_max
            a0 = np.log(max(np.mean(loss) - E0, 1e-6))
            res = least_squares(resid, [E0, a0, alpha0], bounds=([0, -np.inf, 1e-6], [e_max, np.inf, 10]),
                                xtol=1e-15, ftol=1e-15, gtol=1e-15)
            best = min(best, 2 * res.cost)
    assert ours.objective[0] <= best * (1 + 1e-6) + 1e-15


def _frame(families: dict[str, tuple[np.ndarray, np.ndarray]], metric="loss") -> pd.DataFrame:
    rows = []
    for name, (flops, loss) in families.items():
        for c, l in zip(np.atleast_1d(flops), np.atleast_1d(loss)):
            rows.append({"family": name, "flops": c, metric: l if metric == "loss" else np.exp(l)})
    return pd.DataFrame(rows)


@st.composite
def comparisons(draw):
    """A noisy focus ladder and a reference point placed 0 to 2 decades beyond it."""
    flops, loss, truth = draw(saturating_ladders(noise=True))
    beyond = draw(st.floats(0.0, 2.0))
    saving = draw(st.floats(1.2, 15.0))
    focus_needed = flops.max() * 10 ** beyond
    ref_loss = float(SAT.predict(truth, focus_needed))
    return flops, loss, focus_needed * saving, ref_loss


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(comparisons(), st.floats(0.01, 1e3))
def test_reference_compute_times_k_scales_multiplier_by_k(case, k):
    flops, loss, ref_flops, ref_loss = case
    base = analyze(_frame({"f": (flops, loss), "ref": (ref_flops, ref_loss)}), bootstrap=100, seed=3)
    scaled = analyze(_frame({"f": (flops, loss), "ref": (ref_flops * k, ref_loss)}), bootstrap=100, seed=3)
    m0, m1 = base.multipliers[0], scaled.multipliers[0]
    for field in ("multiplier", "low", "high"):
        a, b = getattr(m0, field), getattr(m1, field)
        if np.isfinite(a) and a > 0:
            assert b == pytest.approx(k * a, rel=1e-9)
        else:
            assert b == a


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(comparisons(), st.sampled_from([1 / 8.64e19, 1e-15, 1e6]))
def test_rescaling_compute_units_leaves_exponents_and_multipliers(case, unit):
    """FLOPs vs PF-days: E and alpha and every multiplier and band are unchanged; A scales by unit^alpha.
    The objective is the same to 1e-9; a parameter the runs barely determine is the same to 1e-4 of
    its standard error (a ladder with E 0.068 +- 10.7 under losses of 2 found E 1.4e-6 apart in two
    units, at objectives equal to 16 digits: the valley is that flat, not one fit worse)."""
    flops, loss, ref_flops, ref_loss = case
    a = analyze(_frame({"f": (flops, loss), "ref": (ref_flops, ref_loss)}), bootstrap=100, seed=1)
    b = analyze(_frame({"f": (flops * unit, loss), "ref": (ref_flops * unit, ref_loss)}), bootstrap=100, seed=1)
    fa, fb = a.fits["f"].fit, b.fits["f"].fit
    assert fb.objective == pytest.approx(fa.objective, rel=1e-9, abs=1e-15)
    stderr = a.params_frame().set_index(["family", "parameter"])["stderr"]
    for name in ("alpha", "E"):
        slack = 1e-4 * stderr[("f", name)] if np.isfinite(stderr[("f", name)]) else 0.0
        assert fb.param(name) == pytest.approx(fa.param(name), rel=1e-5, abs=max(1e-8, slack))
    assert fb.param("A") == pytest.approx(fa.param("A") * unit ** fa.param("alpha"), rel=1e-4)
    ma, mb = a.multipliers[0], b.multipliers[0]
    for field in ("multiplier", "low", "high"):
        assert getattr(mb, field) == pytest.approx(getattr(ma, field), rel=1e-4)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(comparisons())
def test_family_against_itself_has_multiplier_one(case):
    flops, loss, _, _ = case
    result = analyze(_frame({"f": (flops, loss), "g": (flops, loss)}), focus="f", bootstrap=50,
                     at_loss=[float(loss.max()), float(loss.min())])
    for m in result.multipliers:
        assert m.multiplier == pytest.approx(1.0, rel=1e-9)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(comparisons())
def test_perplexity_and_loss_inputs_agree(case):
    """exp(loss) read back as log(perplexity) differs from loss by rounding only, so the fits agree to
    the optimizer's tolerance: the objective to 1e-9, relative 1e-6 for each parameter, 1e-6 nats absolute
    for a floor E near zero, which the runs pin down only that well (a floor of 5e-4 under losses of 0.4
    to 1.9 moved 2e-9 between the two readings), and 1e-4 of its standard error for a parameter the runs
    barely determine."""
    flops, loss, ref_flops, ref_loss = case
    fams = {"f": (flops, loss), "ref": (ref_flops, ref_loss)}
    a = analyze(_frame(fams, "loss"), bootstrap=100, seed=5)
    b = analyze(_frame(fams, "perplexity"), bootstrap=100, seed=5)
    fa, fb = a.fits["f"].fit, b.fits["f"].fit
    assert fb.objective == pytest.approx(fa.objective, rel=1e-9, abs=1e-15)
    stderr = a.params_frame().set_index(["family", "parameter"])["stderr"]
    for name in ("E", "A", "alpha"):       # a barely determined one to 1e-4 of its standard error, as above
        slack = 1e-4 * stderr[("f", name)] if np.isfinite(stderr[("f", name)]) else 0.0
        assert fb.param(name) == pytest.approx(fa.param(name), rel=1e-6, abs=max(1e-6 if name == "E" else 0, slack))
    ma, mb = a.multipliers[0], b.multipliers[0]
    assert (mb.multiplier, mb.low, mb.high) == pytest.approx((ma.multiplier, ma.low, ma.high), rel=1e-6)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(comparisons())
def test_bands_contain_the_point_estimate(case):
    flops, loss, ref_flops, ref_loss = case
    result = analyze(_frame({"f": (flops, loss), "ref": (ref_flops, ref_loss)}), bootstrap=200, seed=0)
    ff = result.fits["f"]
    # optimizer tolerance: an E of 1e-10 at its bound 0 counts as inside [0, 0]
    assert np.all(ff.low <= ff.fit.params * (1 + 1e-7) + 1e-8)
    assert np.all(ff.fit.params <= ff.high * (1 + 1e-7) + 1e-8)
    m = result.multipliers[0]
    assert m.low <= m.multiplier <= m.high
    assert 0.0 <= ff.low[0] and ff.high[0] <= loss.min()          # E's band stays in E's domain


@pytest.mark.parametrize("shape", ["power law (E = 0)", "loss rises with compute"])
def test_band_of_e_stops_at_the_ends_of_its_domain(shape):
    """0 <= E < smallest loss: a profile band of E that runs into an end stops there (it was -inf)."""
    flops = np.geomspace(1e19, 1e22, 8)
    noise = np.exp(np.random.default_rng(3).normal(0, 0.005, 8))
    loss = (30 * flops ** -0.07 if shape.startswith("power") else 2.0 * (flops / 1e19) ** 0.01) * noise
    ff = analyze(_frame({"f": (flops, loss)})).fits["f"]
    assert ff.low[0] == 0.0
    assert np.isfinite(ff.high[0]) and ff.high[0] <= loss.min()


def test_same_seed_same_numbers_and_other_seed_differs():
    rng = np.random.default_rng(0)
    flops = np.geomspace(1e18, 1e21, 8)
    loss = SAT.predict([1.5, 2e3, 0.2], flops) * np.exp(rng.normal(0, 0.01, 8))
    frame = _frame({"f": (flops, loss), "ref": (3e22, 1.9)})
    a, b = (analyze(frame, bootstrap=300, seed=7, band_method="percentile") for _ in range(2))
    c = analyze(frame, bootstrap=300, seed=8, band_method="percentile")
    assert a.multipliers_frame().equals(b.multipliers_frame())
    assert a.params_frame().equals(b.params_frame())
    assert not a.multipliers_frame().equals(c.multipliers_frame())


@FAST
@given(st.integers(0, 2**31 - 1), st.integers(1, 5))
def test_step_within_bounds_minimizes_the_model_on_the_face_it_reaches(seed, p):
    """Where the Newton step h d = g would cross a bound, those parameters stop on it and the
    others minimize the quadratic model 1/2 d'hd - g'd with them held there."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(p, p))
    h = m @ m.T + 0.1 * np.eye(p)
    g = rng.normal(size=p)
    th = rng.normal(size=p)
    lo, hi = th - rng.uniform(0, 2, p), th + rng.uniform(0, 2, p)
    newton_step, step = (d[0] for d in _step_within_bounds(h[None], g[None], th[None], lo[None], hi[None]))
    newton = np.linalg.solve(h, g)
    np.testing.assert_allclose(newton_step, newton, rtol=1e-8, atol=1e-10)
    crossed = (th + newton < lo) | (th + newton > hi)
    expected = np.where(crossed, np.clip(th + newton, lo, hi) - th, 0.0)
    free = ~crossed
    if free.any():
        rhs = g[free] - h[np.ix_(free, crossed)] @ expected[crossed]
        expected[free] = np.linalg.solve(h[np.ix_(free, free)], rhs)
    np.testing.assert_allclose(step, expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(th[crossed] + step[crossed], np.clip(th + newton, lo, hi)[crossed], rtol=1e-12)


@FAST
@given(st.lists(st.integers(0, 6), min_size=1, max_size=30), st.integers(1, 4))
def test_lowest_local_minima_match_a_plain_scan(values, k):
    profile = np.array(values, dtype=float) + np.arange(len(values)) * 1e-3   # no ties
    columns, valid = lowest_local_minima(profile[None], k)
    left = np.r_[np.inf, profile[:-1]]
    right = np.r_[profile[1:], np.inf]
    minima = sorted((v, i) for i, v in enumerate(profile) if v <= left[i] and v <= right[i])
    expected = [i for _, i in minima[:k]]
    assert list(columns[0][valid[0]]) == expected
    assert np.all(columns[0][~valid[0]] == expected[0])


@FAST
@given(st.floats(0.0, 10.0), st.sampled_from([1.0, 2.0, 3.0]))
def test_decades_read_on_their_side_of_the_threshold(value, threshold):
    """A span of 1.96 decades against 'checked: 2 or more' must not read '2.0'."""
    assume(abs(value - threshold) >= 5e-4)
    text = decades_past(value, threshold)
    assert (float(text) > threshold) == (value > threshold) and float(text) != threshold
    assert abs(float(text) - value) <= 0.05 + 1e-9          # one decimal: off by at most half of 0.1


# ----- quantiles without scipy.stats --------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.floats(0.5, 0.9999), st.integers(1, 10_000))
def test_band_quantiles_are_scipy_stats_quantiles(level, dof):
    """profile.py computes its quantiles with scipy.special (importing scipy.stats costs 0.4 s of
    start-up): the same numbers as scipy.stats' distributions."""
    from scipy import stats

    from scalefit.profile import chi2_1_quantile, f_1_quantile, t_quantile

    assert chi2_1_quantile(level) == pytest.approx(stats.chi2.ppf(level, 1), rel=1e-12)
    assert f_1_quantile(level, dof) == pytest.approx(stats.f.ppf(level, 1, dof), rel=1e-12)
    assert t_quantile(level, dof) == pytest.approx(stats.t.ppf(level, dof), rel=1e-12)


@given(st.integers(1, 10_000))
def test_f_deviances_map_onto_the_chi_square_scale_as_scipy_stats_does(dof):
    from scipy import stats

    from scalefit.profile import f_1_to_chi2_1

    values = np.array([0.0, 1e-12, 0.5, 3.84, 40.0, 700.0, 1e6, np.inf])
    expected = stats.chi2.isf(stats.f.sf(values, 1, dof), 1)
    np.testing.assert_allclose(f_1_to_chi2_1(values, dof), expected, rtol=1e-12)


# ----- found by a mutation audit: behaviour no test pinned ---------------------------------------

def two_ladders(e_second: float, e_first: float = 1.0) -> pd.DataFrame:
    """Families 'f' and 'g', 8 runs each of E + 2000 C^-0.17 with 1% noise (seeded)."""
    rng = np.random.default_rng(1)
    flops = np.geomspace(1e19, 1e22, 8)
    rows = []
    for family, E in (("f", e_first), ("g", e_second)):
        loss = (E + 2000 * flops ** -0.17) * np.exp(rng.normal(0, 0.01, flops.size))
        rows += [(family, c, v) for c, v in zip(flops, loss)]
    return pd.DataFrame(rows, columns=["family", "flops", "loss"])


def test_draws_where_the_reference_ladder_cannot_reach_the_loss_are_counted():
    """The share of bootstrap draws in which a target is unreachable counts either side; here the
    reference 'g' (E about 1.5) misses a loss of 1.6 in some draws, the focus never does."""
    result = analyze(two_ladders(1.5), focus="f", band_method="percentile", bootstrap=400, seed=0, at_loss=[1.6])
    (m,) = [m for m in result.multipliers if m.where == "at-loss"]
    assert 0.05 < m.unreachable_fraction < 0.5 and m.high == np.inf
    assert any("f vs g at loss 1.6: " in w and "bootstrap draws" in w for w in result.warnings)


@pytest.mark.parametrize("g_runs", [8, 6])      # stacked with the focus's search (same runs) or apart
def test_multipliers_computed_together_are_each_multiplier_alone(g_runs):
    """The multiplier-curve figure and the fit table profile their comparisons together
    (multipliers_of, which shares their array work); each multiplier and band is the one
    multiplier_at finds alone, against a ladder or a point."""
    from scalefit.efficiency import Comparison, multiplier_at, multipliers_of

    frame = two_ladders(1.2)
    frame = frame.drop(frame.index[frame.family.eq("g")][:8 - g_runs])
    result = analyze(frame, focus="f", bootstrap=0)
    f, g = result.fits["f"].fit, result.fits["g"].fit
    losses = np.linspace(max(f.loss.min(), g.loss.min()), min(f.loss.max(), g.loss.max()), 5)
    comparisons = [Comparison("g", loss, "curve", reference_fit=g) for loss in losses]
    comparisons += [Comparison("big", loss, "reference run", reference_flops=1e23) for loss in losses[::2]]
    together = multipliers_of(f, None, comparisons, 0.9)
    for c, m in zip(comparisons, together):
        alone = multiplier_at(f, None, c.reference, c.loss, 0.9, c.where, reference_flops=c.reference_flops,
                              reference_fit=c.reference_fit)
        assert m.loss == alone.loss and m.multiplier == alone.multiplier
        assert np.log10([m.low, m.high]) == pytest.approx(np.log10([alone.low, alone.high]), abs=1e-9)
        assert alone.low < m.multiplier < alone.high


def test_percentile_bands_are_order_statistics_and_keep_infinite_ends():
    from scalefit.uncertainty import percentile_band

    assert percentile_band([1, 2, 3, 4], 0.5) == (1.0, 4.0)          # interpolation would give 1.75, 3.25
    assert percentile_band(np.arange(1, 101), 0.95) == (3.0, 98.0)
    assert percentile_band([1, 2, np.inf, np.inf], 0.5) == (1.0, np.inf)   # interpolation: nan


def test_each_family_draws_its_own_resamples():
    """Two identical ladders resampled alike would give the ratio 1 in every draw, a band [1, 1]."""
    from scalefit.uncertainty import family_rng

    assert not np.array_equal(family_rng(0, "a").integers(0, 10, 20), family_rng(0, "b").integers(0, 10, 20))
    same = two_ladders(1.5, e_first=1.5)
    same.loc[same.family == "g", "loss"] = same.loc[same.family == "f", "loss"].to_numpy()
    (m,) = analyze(same, focus="f", band_method="percentile", bootstrap=400, seed=0).multipliers
    assert m.multiplier == pytest.approx(1.0) and m.low < 0.9 and m.high > 1.1


def test_decades_below_a_ladder_are_counted_from_its_smallest_run():
    from scalefit.efficiency import extrapolation_decades

    assert extrapolation_decades(1e18, 1e19, 1e22) == pytest.approx(-1.0)
    assert extrapolation_decades(1e24, 1e19, 1e22) == pytest.approx(2.0)
    result = analyze(Path(__file__).resolve().parent.parent / "data" / "ladders" / "muse.csv", at_flops=[5e18])
    (p,) = result.predictions
    assert p.extrapolation_decades == pytest.approx(np.log10(0.5)) and p.band_checked
    assert not any("below its smallest run" in w for w in result.warnings)
