"""The fast engines against slow reference paths, on random and on ill-conditioned ladders.

Fast: the batched compute-law engine (alpha-grid profile + batched Levenberg-Marquardt, all rows at
once) and the L(N, D) variable-projection fit. Slow: scipy's least_squares or L-BFGS-B from a grid
of starting values, one ladder at a time, code paths that share nothing with the engines but the
objective. "Agree" means the same optimum within tolerance: the engine's objective is never worse,
and where both reach it, the fitted losses at the runs coincide.

Ill-conditioned cases, where fitting tools most often fail: an exponent near 0 (the law is nearly
flat, E and A trade off), E just below the smallest loss (the ladder barely shows saturation), and
very few runs (3 or 4 for three parameters).
"""

from __future__ import annotations

import itertools
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scalefit.chinchilla import (E_LEVELS, ChinchillaLaw, _Normalized, bootstrap_chinchilla, e_level_restarts,
                                 fit_chinchilla, fit_chinchilla_params, fit_chinchilla_resamples, polish_lbfgs)
from scalefit import fitting
from scalefit.fitting import E_CEILING, _distinct_per_row, fit_many
from scalefit.laws import PowerLaw, SaturatingLaw
from scalefit.uncertainty import bootstrap_family, draw_counts

from conftest import STRESS, reference_data

SAT, POW, CHIN = SaturatingLaw(), PowerLaw(), ChinchillaLaw()
AGREE = settings(max_examples=20 * STRESS, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def hard_saturating_ladders(draw):
    """A noisy ladder of the saturating law: ordinary, exponent near 0, E near the smallest loss,
    or very few runs."""
    kind = draw(st.sampled_from(["ordinary", "exponent near 0", "E near smallest loss", "few runs"]))
    c_min = 10.0 ** draw(st.floats(15, 23))
    decades = draw(st.floats(1.0, 4.0))
    n = draw(st.integers(3, 4)) if kind == "few runs" else draw(st.integers(5, 12))
    alpha = draw(st.floats(0.005, 0.05)) if kind == "exponent near 0" else draw(st.floats(0.05, 1.0))
    E = draw(st.floats(0.0, 4.0))
    if kind == "E near smallest loss":        # reducible part 0.2% to 3% of the loss at the largest run
        E = draw(st.floats(0.5, 4.0))
        reducible_at_max = draw(st.floats(0.002, 0.03)) * E
        reducible_at_min = reducible_at_max * 10 ** (alpha * decades)
    else:
        reducible_at_min = draw(st.floats(0.1, 5.0))
    flops = np.geomspace(c_min, c_min * 10 ** decades, n)
    truth = np.array([E, reducible_at_min * c_min ** alpha, alpha])
    sigma = draw(st.sampled_from([0.0, 0.002, 0.01, 0.03]))
    seed = draw(st.integers(0, 2**31 - 1))
    loss = SAT.predict(truth, flops) * np.exp(np.random.default_rng(seed).normal(0, sigma, n))
    return flops, loss


class _ExactFit(Exception):
    """Raised by the slow path at a point whose objective is below EXACT: the ladder is fitted to
    rounding, and the tests' absolute slack (1e-14) covers any smaller objective."""

    def __init__(self, point):
        self.point = point


EXACT = 1e-16


def reference_saturating_fit(flops, loss):
    """Slow path: bounded least_squares on the log residuals from 5 x 3 starting values (with the
    exact Jacobian: finite differences cost a residual evaluation per parameter). A noise-free
    ladder stops at the first point fitted to EXACT (least_squares has no absolute tolerance and
    ran each start to its 2,000 evaluations on such ladders; on the CI profile's examples this
    saves about a fifth of the agreement test's time)."""
    from scipy.optimize import least_squares

    u = np.log(flops) - np.log(flops).mean()
    y = np.log(loss)
    e_max = loss.min() * E_CEILING

    def fitted(t):
        return y - np.log(t[0] + np.exp(t[1] - t[2] * u))

    def resid(t):
        r = fitted(t)
        if r @ r < EXACT:
            raise _ExactFit(np.array(t, dtype=float))
        return r

    def jac(t):
        """d r / d (E, a, alpha), r = y - ln(E + P), P = exp(a - alpha u)."""
        p = np.exp(t[1] - t[2] * u)
        total = t[0] + p
        return np.column_stack([-1 / total, -p / total, u * p / total])

    best = (np.inf, None)
    for alpha0, e_frac in itertools.product((0.001, 0.02, 0.1, 0.4, 1.5), (0.0, 0.5, 0.99)):
        E0 = e_frac * e_max
        a0 = np.log(max(np.mean(loss) - E0, 1e-9 * np.mean(loss)))
        try:
            res = least_squares(resid, [E0, a0, alpha0], jac=jac, bounds=([0, -np.inf, 1e-6], [e_max, np.inf, 10]),
                                xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=2000)
        except _ExactFit as exact:
            r = fitted(exact.point)
            return float(r @ r), np.exp(y - r)
        if 2 * res.cost < best[0]:
            best = (2 * res.cost, res.x)
    return best[0], np.exp(y - fitted(best[1]))


@AGREE
@given(hard_saturating_ladders(), st.integers(0, 2**31 - 1))
def test_saturating_engine_agrees_with_the_slow_path(ladder, seed):
    flops, loss = ladder
    # the engine fits this ladder inside a batch of other ladders, as in the bootstrap
    rng = np.random.default_rng(seed)
    others = rng.integers(0, flops.size, size=(7, flops.size))
    batch_c = np.vstack([flops[None], flops[others]])
    batch_l = np.vstack([loss[None], loss[others]])
    engine = fit_many(batch_c, batch_l, SAT)
    ours, params = float(engine.objective[0]), engine.params[0]
    slow, slow_pred = reference_saturating_fit(flops, loss)
    assert ours <= slow * (1 + 1e-6) + 1e-14
    if ours >= slow * (1 - 1e-6) - 1e-14:      # both at the optimum: the same fitted curve
        np.testing.assert_allclose(SAT.predict(params, flops), slow_pred, rtol=1e-3)
    # and a row's optimum does not depend on the other rows of its batch (to rounding: the bootstrap's
    # chunks are fixed, so that 1 or N workers give identical numbers, see below)
    alone = fit_many(flops[None], loss[None], SAT)
    assert alone.objective[0] == pytest.approx(ours, rel=1e-9, abs=1e-14)


@settings(max_examples=8 * STRESS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hard_saturating_ladders(), st.integers(0, 2**31 - 1))
def test_bootstrap_refits_by_counts_agree_with_the_slow_path(ladder, seed):
    """The bootstrap fits a resample as the original runs weighted by how often each was drawn.
    Each such refit must reach the slow path's optimum on the resample's rows written out, and
    match the engine run on those rows."""
    flops, loss = ladder
    index = np.random.default_rng(seed).integers(0, flops.size, size=(4, flops.size))
    by_counts = fit_many(flops, loss, SAT, counts=draw_counts(index, flops.size))
    by_rows = fit_many(flops[index], loss[index], SAT)
    np.testing.assert_array_equal(by_counts.ok, by_rows.ok)
    np.testing.assert_allclose(by_counts.objective, by_rows.objective, rtol=1e-6, atol=1e-14)
    for rows, ours, ok in zip(index, by_counts.objective, by_counts.ok):
        if ok:
            slow, _ = reference_saturating_fit(flops[rows], loss[rows])
            assert ours <= slow * (1 + 1e-6) + 1e-14


@settings(max_examples=10 * STRESS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hard_saturating_ladders(), st.integers(0, 2**31 - 1))
def test_grid_taken_a_block_of_resamples_at_a_time_changes_no_fit(ladder, seed):
    """The grid of a large bootstrap is computed a cache-sized block of resamples at a time; every
    resample's fit is the one that a single pass over all resamples gives, to rounding (a block of
    one row takes a matrix-vector product where the pass takes a matrix product: starts differ by
    about 1e-15)."""
    flops, loss = ladder
    counts = draw_counts(np.random.default_rng(seed).integers(0, flops.size, size=(500, flops.size)), flops.size)
    blocked = fit_many(flops, loss, SAT, counts=counts)
    assert len(fitting.row_blocks(500, fitting.ALPHA_GRID.size, fitting.GRID_BLOCK)) > 1
    with mock.patch.object(fitting, "GRID_BLOCK", 10**9):
        one_pass = fit_many(flops, loss, SAT, counts=counts)
    np.testing.assert_array_equal(blocked.ok, one_pass.ok)
    np.testing.assert_allclose(blocked.objective, one_pass.objective, rtol=1e-9, atol=1e-14)


def test_distinct_compute_values_of_resamples_are_counted_in_linear_memory():
    """A refit fails when its resample draws fewer distinct compute values than the law has
    parameters; counting them must not build a runs x values table (40 GB for these 200,000 runs)."""
    flops = np.geomspace(1e18, 1e21, 200_000)
    flops[1] = flops[0]                                  # two runs at the same compute
    counts = np.zeros((3, flops.size))
    counts[0, :2] = 1
    counts[1, ::2] = 1
    counts[2, :5] = [3, 2, 0, 0, 1]
    np.testing.assert_array_equal(_distinct_per_row(flops[None], counts), [1, 100_000, 2])


def test_counts_are_how_often_each_run_is_drawn():
    index = np.array([[0, 0, 2], [1, 2, 2], [2, 2, 2]])
    np.testing.assert_array_equal(draw_counts(index, 4), [[2, 0, 1, 0], [0, 1, 2, 0], [0, 0, 3, 0]])


def test_power_law_by_counts_is_the_fit_of_the_repeated_rows():
    flops = np.geomspace(1e18, 1e21, 7)
    loss = POW.predict(np.array([50.0, 0.07]), flops) * np.exp(np.random.default_rng(2).normal(0, 0.02, 7))
    index = np.random.default_rng(3).integers(0, 7, size=(50, 7))
    by_counts = fit_many(flops, loss, POW, counts=draw_counts(index, 7))
    by_rows = fit_many(flops[index], loss[index], POW)
    np.testing.assert_array_equal(by_counts.ok, by_rows.ok)
    ok = by_rows.ok
    np.testing.assert_allclose(by_counts.params[ok], by_rows.params[ok], rtol=1e-9)
    np.testing.assert_allclose(by_counts.objective[ok], by_rows.objective[ok], rtol=1e-7, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(st.floats(10, 24), st.floats(0.5, 5), st.integers(2, 12), st.floats(-0.2, 1.5), st.integers(0, 2**31 - 1))
def test_power_engine_agrees_with_polyfit(log_cmin, decades, n, alpha, seed):
    flops = np.geomspace(10 ** log_cmin, 10 ** (log_cmin + decades), n)
    loss = 3.0 * (flops / flops[0]) ** -alpha * np.exp(np.random.default_rng(seed).normal(0, 0.02, n))
    engine = fit_many(flops[None], loss[None], POW)
    slope, intercept = np.polyfit(np.log(flops), np.log(loss), 1)
    assert engine.params[0, 1] == pytest.approx(-slope, rel=1e-8, abs=1e-10)
    assert np.log(engine.params[0, 0]) == pytest.approx(intercept, rel=1e-8, abs=1e-8)


# ----- L(N, D) ------------------------------------------------------------------------------------

@st.composite
def hard_chinchilla_ladders(draw):
    """Noisy L(N, D) ladders: ordinary, one exponent near 0, E near the smallest loss, or 9 runs."""
    kind = draw(st.sampled_from(["ordinary", "alpha near 0", "beta near 0", "E near smallest loss", "9 runs"]))
    E = draw(st.floats(5.0, 10.0)) if kind == "E near smallest loss" else draw(st.floats(0.5, 3.0))
    alpha = draw(st.floats(0.01, 0.06)) if kind == "alpha near 0" else draw(st.floats(0.1, 0.8))
    beta = draw(st.floats(0.01, 0.06)) if kind == "beta near 0" else draw(st.floats(0.1, 0.8))
    A = draw(st.floats(0.2, 3.0)) * 1e8 ** alpha   # reducible terms of order 1 in the middle of the design
    B = draw(st.floats(0.2, 3.0)) * 2e9 ** beta
    sizes, ratios = (3, (5, 40, 160)) if kind == "9 runs" else (6, (5, 20, 80))
    n = np.repeat(np.geomspace(1e7, 1e9, sizes), len(ratios))
    d = n * np.tile(np.asarray(ratios, float), sizes)
    sigma = draw(st.sampled_from([0.003, 0.01, 0.02]))
    seed = draw(st.integers(0, 2**31 - 1))
    loss = CHIN.predict_nd(np.array([E, A, B, alpha, beta]), n, d) * np.exp(
        np.random.default_rng(seed).normal(0, sigma, n.size))
    return n, d, loss


def papers_procedure(n, d, loss):
    """Slow path: L-BFGS-B from a 2 x 2 x 2 x 3 x 3 grid over (E, ln A, ln B, alpha, beta)."""
    data = _Normalized.of(n, d, loss)
    grid = itertools.product([0.5, 1.5], [-1.0, 1.0], [-1.0, 1.0], [0.1, 0.4, 1.0], [0.1, 0.4, 1.0])
    return min(polish_lbfgs(data, np.array(theta), 1e-3)[1] for theta in grid)


@settings(max_examples=4 * STRESS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hard_chinchilla_ladders())
def test_chinchilla_fit_is_no_worse_than_the_papers_procedure(ladder):
    """Our objective against L-BFGS from 72 starts, as a deviance gap n * (ours - papers) / papers.

    On most ladders the two agree to rounding, and ours is sometimes lower. The Huber objective is
    nearly an L1 sum here and has shallow local minima, most of them along the valley where E trades
    off against the amplitudes (the restarts along E are for those), some in narrow basins between
    grid exponents (the finer grids around the lowest grid minima are for those). On 1,000 seeded
    random ladders of this strategy (3 seeds), 3 ended above the papers' procedure (largest gap a
    deviance of 0.0009, against 3.84 for a 95% band) and 12 below; without the finer grids 5 ended
    above, by up to 0.028, and without the restarts along E as well 9, by up to 0.045. Bounded at a
    deviance of 0.05. A later example ended 0.077 above (now in VALLEY_LADDERS), until the point fit
    got starts spread along E; on about 170 more examples the largest gap was then 1e-5. (A few seconds per example: SCALEFIT_STRESS=20 for a stress run.)"""
    n, d, loss = ladder
    _, ours = fit_chinchilla_params(n, d, loss)
    papers = papers_procedure(n, d, loss)
    assert n.size * (ours - papers) <= 0.05 * papers + 1e-12


# Two ladders of that strategy (noisy, alpha near 0) on which the search without the restarts along
# E stopped in a shallow minimum of the valley, above the papers' procedure (deviance gaps 0.045
# and 0.0008; the second has its optimum on the floor E = 0). Losses as drawn, runs as designed.
# A third (a hypothesis example in a new user's run): its optimum is at the far end of the valley
# (E = 88% of the smallest loss, alpha 0.17), where the grid's least-squares ranking put no start;
# every start ended at E = 0 or 3.7 (deviance gap 0.077) until starts spread along E, first
# polished with E held, reached it.
VALLEY_LADDERS = {
    "E far along the valley": [24.697551502684185, 13.055760000374312, 8.88516606289874, 15.83200310869683,
                               9.765744255287146, 7.4219999116344315, 10.819692349077142, 7.742019767393082,
                               6.564182215663074, 8.42488947547312, 6.72311240702008, 6.24155853928484,
                               7.056859227773419, 6.222963599920965, 5.912595598113518, 6.265400604761091,
                               5.79191450222297, 5.619356105456911],
    "E above 0": [7.7680710426899875, 5.935988804229566, 5.239978859800764, 6.647045576323378, 5.2749476864187095,
                  4.5371694306835915, 5.641188833238056, 4.987956098815058, 4.1668830520921745, 4.88847243800369,
                  4.345436333376754, 3.7569153876168406, 4.673030454035375, 3.8352977408853066, 3.3645436044038672,
                  4.072788333660596, 3.590851856910604, 3.279110990821942],
    "E = 0": [21.048522256668694, 11.617911851081038, 7.062320917342896, 14.206723663137664, 8.251720772544608,
              5.333508102353543, 9.772798921312685, 6.120735886008062, 4.265809104480189, 7.056937107445464,
              4.73328536695448, 3.5773901244556754, 5.373348678068526, 3.869475221999505, 3.140014726017557,
              4.229742617910472, 3.325191688001838, 2.8698406610735923],
}


def eighteen_run_design() -> tuple[np.ndarray, np.ndarray]:
    """The hard ladders' 18 runs: 6 sizes from 1e7 to 1e9 parameters at 5, 20 and 80 tokens each."""
    n = np.repeat(np.geomspace(1e7, 1e9, 6), 3)
    return n, n * np.tile([5.0, 20.0, 80.0], 6)


@pytest.mark.parametrize("name", sorted(VALLEY_LADDERS))
def test_restarts_along_e_leave_shallow_minima_of_the_valley(name):
    n, d = eighteen_run_design()
    loss = np.array(VALLEY_LADDERS[name])
    _, ours = fit_chinchilla_params(n, d, loss)
    assert ours <= papers_procedure(n, d, loss) * (1 + 1e-6)


# A hypothesis example of that strategy (E near the smallest loss, 2% noise) where the grid's
# least-squares coefficients ranked the optimum's basin (alpha 0.28, beta 0.45) 72nd and lower: the
# starts from the grid's lowest basins (alpha 1.19 and 0.50) stopped at alpha 1.03, 1.7% above the
# papers' procedure (a deviance gap of 0.31), until the lowest grid points were also ranked with
# Huber-weighted coefficients. Losses as drawn (printed to 10 digits), runs as designed.
HUBER_RANKED_LADDER = [12.87840765, 11.95684238, 12.20086257, 11.83860683, 11.20475595, 10.86591293,
                       11.08711814, 10.70775296, 10.94475147, 10.70362202, 10.36919656, 10.20321136,
                       10.47477661, 10.14000621, 9.89859053, 9.70435269, 9.87973012, 9.74795783]


def test_grid_points_ranked_with_huber_weights_find_the_basin_least_squares_ranked_low():
    from scalefit import chinchilla

    n, d = eighteen_run_design()
    loss = np.array(HUBER_RANKED_LADDER)
    params, ours = fit_chinchilla_params(n, d, loss)
    assert ours <= papers_procedure(n, d, loss) * (1 + 1e-6)
    assert params[3] == pytest.approx(0.2842, abs=1e-3)
    data = _Normalized.of(n, d, loss)
    grid = chinchilla.EXPONENT_GRID
    _, surface = chinchilla.grid_profile(data.u[None], data.v[None], data.y[None], grid, 1e-3)
    i, j = np.argmin(abs(grid - 0.284)), np.argmin(abs(grid - 0.447))
    assert (surface[0] < surface[0, i, j]).sum() > 50          # least squares ranks the basin low


# A ladder of that strategy (E near the smallest loss, 2% noise) whose optimum sits in a basin
# narrower in beta than the exponent grid's step: polished from the nearest grid points, the search
# stopped in a neighbouring basin 0.028 of deviance above the papers' procedure. Losses as drawn.
NARROW_BASIN_LADDER = [57.49283695603892, 29.156998514869553, 18.6023065811689, 34.243580610709,
                       20.233194808980706, 15.035370196215952, 23.28795080403836, 15.660712252835534,
                       13.082804744961994, 16.895818481934253, 13.313174809391922, 11.978164880912018,
                       13.94259889866245, 12.003469211513979, 11.24204378346988, 12.055035523051492,
                       11.07384024229997, 10.72630487603613]


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 9), st.integers(2, 9), st.integers(0, 2**31 - 1))
def test_grid_profile_on_unequal_grids_is_each_points_own_solution(n_alpha, n_beta, seed):
    """The exponent grid of alpha and of beta may differ in size (the zoomed grids): every point's
    coefficients and objective equal those of a 1 x 1 grid at that point alone."""
    from scalefit.chinchilla import grid_profile
    rng = np.random.default_rng(seed)
    n, d = np.repeat(np.geomspace(1e7, 1e9, 5), 3), np.tile([5.0, 20.0, 80.0], 5) * np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    loss = CHIN.predict_nd(np.array([1.7, 400.0, 2000.0, 0.34, 0.36]), n, d) * np.exp(rng.normal(0, 0.01, n.size))
    data = _Normalized.of(n, d, loss)
    alphas, betas = np.sort(rng.uniform(0.05, 1.0, n_alpha)), np.sort(rng.uniform(0.05, 1.0, n_beta))
    coef, obj = grid_profile(data.u[None], data.v[None], data.y[None], alphas, 1e-3, betas=betas)
    assert coef.shape == (1, n_alpha, n_beta, 3) and obj.shape == (1, n_alpha, n_beta)
    for i, j in [(0, 0), (n_alpha - 1, n_beta - 1), (n_alpha // 2, n_beta - 1)]:
        c1, o1 = grid_profile(data.u[None], data.v[None], data.y[None], alphas[i:i + 1], 1e-3, betas=betas[j:j + 1])
        np.testing.assert_allclose(coef[0, i, j], c1[0, 0, 0], rtol=1e-9, atol=1e-12)
        assert obj[0, i, j] == pytest.approx(o1[0, 0, 0], rel=1e-6, abs=1e-12)


def test_a_basin_narrower_than_the_exponent_grid_is_found_by_the_zoomed_grid():
    n, d = eighteen_run_design()
    loss = np.array(NARROW_BASIN_LADDER)
    _, ours = fit_chinchilla_params(n, d, loss)
    assert ours <= papers_procedure(n, d, loss) * (1 + 1e-6)


@given(st.floats(0.0, 5.0), st.floats(-5.0, 5.0), st.floats(-5.0, 5.0), st.floats(1e-3, 2.0),
       st.floats(1e-3, 2.0), st.floats(0.01, 10.0))
def test_e_level_restarts_keep_the_law_at_the_reference_point(E, log_a, log_b, alpha, beta, smallest):
    """Each valid restart has E = level * smallest loss, the exponents kept, and the same prediction
    E + A + B at N = N_ref, D = D_ref; a level at or above that prediction is not valid."""
    theta = np.array([[E, log_a, log_b, alpha, beta]])
    restarts, valid = e_level_restarts(theta, np.array([smallest]))
    at_reference = E + np.exp(log_a) + np.exp(log_b)
    for level, r, ok in zip(E_LEVELS, restarts[0], valid[0]):
        assert ok == (level * smallest < at_reference)
        if ok:
            assert r[0] == level * smallest and r[3] == alpha and r[4] == beta
            assert r[0] + np.exp(r[1]) + np.exp(r[2]) == pytest.approx(at_reference, rel=1e-12)


@settings(max_examples=4 * STRESS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hard_chinchilla_ladders(), st.integers(0, 2**31 - 1))
def test_bootstrap_refits_reach_the_full_fits_optimum(ladder, seed):
    """The batched refits of resamples (the point fit's grid starts, the full-data optimum and the
    restarts along E, LM to convergence, no L-BFGS finish) against the full point fit of each resample. They agree to
    rounding on most resamples; on ill-conditioned ladders the two finishes can end a little apart:
    on 1,136 resamples of 120 such 18-run ladders the largest gap was a deviance (n * relative gap,
    exact for least squares, the scale for Huber) of 0.0013, against 3.84 for a 95% band. (Without
    the restarts along E in the refits, while the point fit had them, it was 0.49.) Bounded here at
    0.01."""
    n, d, loss = ladder
    start, _ = fit_chinchilla_params(n, d, loss)
    index = np.random.default_rng(seed).integers(0, n.size, size=(6, n.size))
    _, objectives = fit_chinchilla_resamples(n, d, loss, index, start)
    for rows, obj in zip(index, objectives):
        assume(len(set(n[rows])) >= 3 and len(set(d[rows])) >= 3)
        _, full = fit_chinchilla_params(n[rows], d[rows], loss[rows])
        assert n.size * (obj - full) <= 0.01 * full + 1e-12   # an exact fit has full = 0


# ----- real ladders (../shared/reference-data or $SCALEFIT_REFERENCE_DATA; skipped when absent) --

REFERENCE = reference_data()
MUENNIGHOFF = REFERENCE / "data-constrained-muennighoff2023" / "datablations_final_val_loss.csv"
GADRE = REFERENCE / "overtraining-gadre2024" / "gadre2024_runs_summary.csv"


def gadre_runs() -> pd.DataFrame:
    if not GADRE.exists():
        pytest.skip(f"reference data not present: {GADRE}")
    return pd.read_csv(GADRE)


def test_saturating_engine_agrees_with_the_slow_path_on_real_ladders():
    """Gadre et al. 2024's runs of each training set at each token multiplier: 24 real ladders of 3
    to 6 runs (C4 validation loss against 6ND), fitted together as the bootstrap fits rows."""
    ladders = [group.sort_values("flops_6ND") for _, group in
               gadre_runs().groupby(["train_dataset", "chinchilla_multiplier"])]
    assert len(ladders) == 24
    for runs in ladders:
        flops, loss = runs["flops_6ND"].to_numpy(float), runs["loss_c4_val"].to_numpy(float)
        engine = fit_many(flops[None], loss[None], SAT)
        slow, slow_pred = reference_saturating_fit(flops, loss)
        assert engine.ok[0]
        assert engine.objective[0] <= slow * (1 + 1e-6) + 1e-14, runs["run"].iloc[0]
        if engine.objective[0] >= slow * (1 - 1e-6) - 1e-14:
            np.testing.assert_allclose(SAT.predict(engine.params[0], flops), slow_pred, rtol=1e-3)


def real_nd_sets():
    sets = []
    if MUENNIGHOFF.exists():
        one = pd.read_csv(MUENNIGHOFF).query("epochs == 1.0")
        sets.append(pytest.param(one["params"], one["tokens"], one["val_loss_c4"], id="muennighoff-single-epoch"))
    if GADRE.exists():
        for name, runs in pd.read_csv(GADRE).groupby("train_dataset"):
            sets.append(pytest.param(runs["params"], runs["tokens"], runs["loss_c4_val"], id=f"gadre-{name}"))
    return sets or [pytest.param(None, None, None, marks=pytest.mark.skip(reason=f"reference data not present: {REFERENCE}"))]


@pytest.mark.parametrize("n, d, loss", real_nd_sets())
def test_chinchilla_fit_is_no_worse_than_the_papers_procedure_on_real_runs(n, d, loss):
    """Muennighoff et al. 2023's 41 single-epoch runs and Gadre et al. 2024's runs of each training
    set (34-35, tokens per parameter 5 to 640). Against the full 4,500-start procedure
    (analyses/reference_fits.py) the gaps are rounding, below a deviance of 2e-7."""
    n, d, loss = (np.asarray(x, dtype=float) for x in (n, d, loss))
    _, ours = fit_chinchilla_params(n, d, loss)
    assert n.size * (ours - papers_procedure(n, d, loss)) <= 1e-6 * ours


# ----- workers ----------------------------------------------------------------------------------

def test_compute_law_bootstrap_is_the_same_with_one_or_two_workers():
    flops = np.geomspace(1e19, 1e22, 9)
    loss = SAT.predict(np.array([1.8, 1e3, 0.15]), flops) * np.exp(np.random.default_rng(3).normal(0, 0.01, 9))
    ticks: list[int] = []
    one = bootstrap_family(flops, loss, SAT, 2500, seed=11, family="f", workers=1, progress=ticks.append)
    two = bootstrap_family(flops, loss, SAT, 2500, seed=11, family="f", workers=2)
    assert one.n_resamples == two.n_resamples == 2500
    assert sorted(ticks) == [500, 1000, 1000]     # progress counts resamples, chunk by chunk
    assert np.array_equal(one.ok, two.ok)
    assert np.array_equal(one.params, two.params, equal_nan=True)


def test_chinchilla_bootstrap_is_the_same_with_one_or_two_workers():
    n = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    loss = CHIN.predict_nd(np.array([1.7, 400.0, 2000.0, 0.34, 0.37]), n, d) * np.exp(
        np.random.default_rng(4).normal(0, 0.01, n.size))
    fit = fit_chinchilla(n, d, loss, family="c")
    ticks: list[int] = []
    one = bootstrap_chinchilla(fit, 300, seed=5, workers=1)
    two = bootstrap_chinchilla(fit, 300, seed=5, workers=2, progress=ticks.append)
    assert sum(ticks) == 300                      # progress reported for every chunk
    assert np.array_equal(one.ok, two.ok)
    assert np.array_equal(one.params, two.params, equal_nan=True)


def test_cli_output_is_the_same_with_one_or_two_workers(tmp_path):
    from click.testing import CliRunner

    from scalefit.cli import main

    flops = np.geomspace(1e19, 1e22, 8)
    loss = SAT.predict(np.array([1.8, 1e3, 0.15]), flops) * np.exp(np.random.default_rng(1).normal(0, 0.01, 8))
    path = tmp_path / "ladder.csv"
    pd.DataFrame({"family": ["f"] * 8 + ["ref"], "flops": list(flops) + [3e22],
                  "loss": list(loss) + [1.95]}).to_csv(path, index=False)
    runner = CliRunner()
    outputs = [runner.invoke(main, ["fit", str(path), "--band-method", "percentile", "--bootstrap", "2500",
                                    "--format", "json", "--workers", w]) for w in ("1", "2")]
    assert all(r.exit_code == 0 for r in outputs), outputs[0].output
    assert outputs[0].stdout == outputs[1].stdout
    bad = runner.invoke(main, ["fit", str(path), "--workers", "0"])
    assert bad.exit_code == 2 and "--workers" in bad.output


# ----- standard errors ------------------------------------------------------------------------------

def lmfit_standard_errors(flops, loss, law, params) -> np.ndarray:
    """Slow path: lmfit's least_squares on the log residuals, bounded, started at ``params``, and its
    standard errors (finite-difference Jacobian, covariance scaled by the reduced chi-square)."""
    import warnings

    import lmfit

    log_ref = float(np.mean(np.log(flops)))
    u, y = np.log(flops) - log_ref, np.log(loss)
    p = lmfit.Parameters()
    if law is SAT:
        e_max = float(loss.min() * E_CEILING)
        p.add("E", value=min(params[0], e_max), min=0, max=e_max)
        p.add("a", value=np.log(params[1]) - params[2] * log_ref)
        p.add("alpha", value=params[2], min=fitting.ALPHA_BOUNDS[0], max=fitting.ALPHA_BOUNDS[1])

        def residual(ps):
            return y - np.log(ps["E"].value + np.exp(ps["a"].value - ps["alpha"].value * u))
    else:
        p.add("a", value=np.log(params[0]) - params[1] * log_ref)
        p.add("alpha", value=params[1])

        def residual(ps):
            return y - (ps["a"].value - ps["alpha"].value * u)
    p.add("A", expr=f"exp(a + alpha * {log_ref!r})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = lmfit.minimize(residual, p, method="least_squares")
    return np.array([np.nan if result.params[name].stderr is None else result.params[name].stderr
                     for name in law.param_names])


def normal_matrix_condition(fit) -> float:
    """cond(J^T J) of the fit's log residuals in normalized parameters."""
    log_ref = np.log(fit.flops).mean()
    theta = np.array(fit.params, dtype=float)
    i_a, i_alpha = fit.law.param_names.index("A"), fit.law.param_names.index("alpha")
    theta[i_a] = np.log(fit.params[i_a]) - fit.params[i_alpha] * log_ref
    jac = fitting.log_residual_jacobian(np.log(fit.flops) - log_ref, fit.law, theta)
    return float(np.linalg.cond(jac.T @ jac))


@AGREE
@given(hard_saturating_ladders(), st.sampled_from([SAT, POW]))
def test_standard_errors_are_the_ones_lmfit_reports(ladder, law):
    """fit_law's standard errors (exact Jacobian) against lmfit's (finite differences), where the
    normal matrix is conditioned well enough (cond < 1e8) for finite differences to carry 1e-4:
    beyond that (an exponent near its bound, E and A trading off) the two drift apart by up to 10%,
    on standard errors far larger than the parameters."""
    flops, loss = ladder
    assume(flops.size > law.n_params)
    fit = fitting.fit_law(flops, loss, law)
    assume(fit.rmse_log > 1e-9 and normal_matrix_condition(fit) < 1e8)    # exact fits: errors are rounding
    expected = lmfit_standard_errors(flops, loss, law, fit.params)
    np.testing.assert_allclose(fit.stderr, expected, rtol=1e-4)


def test_standard_errors_of_a_perfectly_collinear_fit_are_not_numbers():
    """Runs at one compute value: fit_law refuses them, and standard_errors, asked directly, finds
    J^T J singular and makes no standard error up."""
    with pytest.raises(ValueError):
        fitting.fit_law([1e20, 1e20, 1e20], [3.0, 3.1, 2.9], POW)
    stderr = fitting.standard_errors(np.array([1e20, 1e20, 1e20]), np.array([3.0, 3.1, 2.9]), POW,
                                     np.array([3.0, 0.0]))
    assert np.isnan(stderr).all()


def test_the_fit_report_is_lmfits_and_is_made_only_when_asked():
    flops, loss = np.geomspace(1e19, 1e22, 6), np.array([3.2, 3.0, 2.8, 2.65, 2.55, 2.48])
    fit = fitting.fit_law(flops, loss, SAT)
    assert "report" not in fit.__dict__
    report = fit.report
    assert "[[Fit Statistics]]" in report and "alpha:" in report and "ended above" not in report
    assert fit.report is report                                        # computed once


# ----- resamples of whole runs, weights and chunk sizes ------------------------------------------

@given(st.integers(1, 30), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_resamples_of_whole_runs_draw_every_row_of_a_drawn_run(n_runs, n_resamples, seed):
    """draw_run_counts: the rows of one run always count alike, each resample draws as many runs as
    there are (so the rows drawn are the runs' rows, with multiplicity), and with one row per run it
    is the row bootstrap itself, draw for draw."""
    from scalefit.uncertainty import draw_run_counts

    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, n_runs)
    runs = rng.permutation(np.repeat([f"r{i}" for i in range(n_runs)], sizes))
    counts = draw_run_counts(np.random.default_rng(seed), runs, n_resamples)
    assert counts.shape == (n_resamples, runs.size)
    for label in set(runs):
        rows = counts[:, runs == label]
        assert np.all(rows == rows[:, :1])
    per_run = np.array([[c[runs == label][0] for label in sorted(set(runs))] for c in counts])
    assert np.all(per_run.sum(axis=1) == n_runs)
    singles = draw_run_counts(np.random.default_rng(seed), np.arange(n_runs), n_resamples)
    rows = np.random.default_rng(seed).integers(0, n_runs, size=(n_resamples, n_runs))
    assert np.array_equal(singles, draw_counts(rows, n_runs))


@settings(max_examples=6 * STRESS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hard_chinchilla_ladders(), st.integers(0, 2**31 - 1))
def test_chinchilla_refits_weighted_by_counts_are_the_refits_of_the_repeated_rows(ladder, seed):
    """A resample given as every run with its count (how resamples of whole runs reach the engine)
    minimizes the same objective as the resample given as its rows, repeats included: the two reach
    the same objective, to rounding or the engine's small misses (bounded as in the test above)."""
    n, d, loss = ladder
    start, _ = fit_chinchilla_params(n, d, loss)
    index = np.random.default_rng(seed).integers(0, n.size, size=(4, n.size))
    _, by_rows = fit_chinchilla_resamples(n, d, loss, index, start)
    every = np.broadcast_to(np.arange(n.size), index.shape)
    _, by_counts = fit_chinchilla_resamples(n, d, loss, every, start, counts=draw_counts(index, n.size))
    for rows, a, b in zip(index, by_rows, by_counts):
        assume(len(set(n[rows])) >= 3 and len(set(d[rows])) >= 3)
        assert n.size * abs(a - b) <= 0.01 * max(a, b) + 1e-9


def test_bootstraps_are_the_same_whatever_the_chunk_size(monkeypatch):
    """Long ladders refit fewer resamples per chunk (memory); the chunk size never changes a draw, and
    changes a refit at most by rounding (the batched linear algebra's sums depend on the batch's
    shape): compute law and L(N, D), rows and whole runs, with chunks as small as one resample.
    Rounding moves a refit along the flat valley of its optimum, A most: by up to 9e-7 of A with
    numpy 2.4 and 4e-6 with numpy 1.24 and 1.26 (whose fitted curves then differ by 4e-8), so the
    parameters agree to 1e-5 and the curves at the runs to 1e-6."""
    from scalefit import chinchilla, uncertainty

    flops = np.geomspace(1e19, 1e22, 12)
    loss = SAT.predict(np.array([1.8, 1e3, 0.15]), flops) * np.exp(np.random.default_rng(3).normal(0, 0.01, 12))
    runs = np.repeat(["a", "b", "c", "d", "e", "f"], 2)
    n = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    closs = CHIN.predict_nd(np.array([1.7, 400.0, 2000.0, 0.34, 0.37]), n, d) * np.exp(
        np.random.default_rng(4).normal(0, 0.01, n.size))
    fit = fit_chinchilla(n, d, closs, family="c")
    cruns = np.repeat(["p", "q", "r", "s", "t"], 3)

    def draws():
        return [bootstrap_family(flops, loss, SAT, 40, seed=2, family="f", workers=1, runs=r) for r in (None, runs)] + [
            bootstrap_chinchilla(fit, 12, seed=5, workers=1, runs=r) for r in (None, cruns)]

    whole = draws()
    monkeypatch.setattr(uncertainty, "CHUNK_RUN_ROWS", 12 * 7)
    monkeypatch.setattr(chinchilla, "CHUNK_RUN_ROWS", 15 * 5)
    assert uncertainty.resample_chunk(12) == 7 and chinchilla.resample_chunk(15) == 5
    monkeypatch.setattr(uncertainty, "CHUNK_RUN_ROWS", 1)
    small = draws()
    for a, b in zip(whole, small):
        assert np.array_equal(a.ok, b.ok)
        assert np.allclose(a.params, b.params, rtol=1e-5, atol=0, equal_nan=True)
    for a, b in zip(whole[:2], small[:2]):
        curves = [np.array([SAT.predict(p, flops) for p in draws.params[draws.ok]]) for draws in (a, b)]
        assert np.allclose(*curves, rtol=1e-6, atol=0)
    assert not np.array_equal(whole[0].params, whole[1].params, equal_nan=True)   # runs change the draws


def test_chunks_of_long_ladders_hold_bounded_work():
    """A 10,000-row L(N, D) ladder took 2.2 GB with 125 resamples per chunk; chunks now hold at most
    CHUNK_RUN_ROWS (resample, run) pairs, and short ladders keep the full chunk."""
    from scalefit import chinchilla, uncertainty

    assert chinchilla.resample_chunk(240) == chinchilla.RESAMPLE_CHUNK
    assert chinchilla.resample_chunk(10_000) * 10_000 <= chinchilla.CHUNK_RUN_ROWS
    assert chinchilla.resample_chunk(100_000) == 1
    assert uncertainty.resample_chunk(10) == uncertainty.CHUNK
    assert uncertainty.resample_chunk(100_000) * 100_000 <= uncertainty.CHUNK_RUN_ROWS


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 60), st.integers(1, 40), st.integers(1, 17), st.booleans())
def test_resample_chunks_are_one_draw_of_all_resamples_stored_small(seed, n, n_resamples, size, whole_runs):
    """The bootstrap draws each chunk's resamples when it needs them and keeps their counts in small
    integers (1,000 resamples of 100,000 rows were 0.8 GB of float counts, and twice that with the
    row numbers drawn); expanded, the chunks are exactly the counts of one draw of all resamples."""
    from scalefit.uncertainty import draw_run_counts, family_rng, resample_count_chunks

    runs = np.random.default_rng(seed).integers(0, max(1, n // 3), n) if whole_runs else None
    chunks = resample_count_chunks(family_rng(seed, "f"), n, n_resamples, size, runs)
    rng = family_rng(seed, "f")
    whole = (draw_run_counts(rng, runs, n_resamples) if whole_runs
             else draw_counts(rng.integers(0, n, size=(n_resamples, n)), n))
    assert [c.n_resamples for c in chunks] == [min(size, n_resamples - s) for s in range(0, n_resamples, size)]
    assert np.array_equal(np.concatenate([c.expand() for c in chunks]), whole)
    assert all(c.drawn.dtype == np.uint8 for c in chunks)          # counts this small fit in a byte
    if whole_runs:                                                 # one count per run, not per row
        assert all(c.drawn.shape[1] == np.unique(runs).size for c in chunks)
    from scalefit.chinchilla import resample_row_chunks       # L(N, D) refits take row numbers
    rows = resample_row_chunks(family_rng(seed, "g"), n, n_resamples, size)
    assert np.array_equal(np.concatenate(rows), family_rng(seed, "g").integers(0, n, size=(n_resamples, n)))
    assert all(r.dtype == np.uint8 for r in rows)


def test_counts_too_large_for_a_byte_keep_their_value():
    from scalefit.uncertainty import smallest_unsigned

    assert smallest_unsigned(np.array([[255.0, 0.0]])).dtype == np.uint8
    big = smallest_unsigned(np.array([[256.0, 70_000.0]]))
    assert big.dtype == np.uint32 and big.tolist() == [[256, 70_000]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1))
def test_each_piece_of_the_weighted_refit_is_that_of_the_repeated_rows(seed):
    """A resample given as counts must be the resample of repeated rows in every piece of the L(N, D)
    refit: the exponent grid (normal equations and Huber sums), the smallest loss the restarts along
    E start from, and the checks that a resample can identify both exponents (distinct N and D,
    collinearity); a piece that looked at undrawn runs would be caught here."""
    from scalefit.chinchilla import EXPONENT_GRID, _identifiable, collinearity, grid_profile, smallest_drawn

    rng = np.random.default_rng(seed)
    n = np.repeat(np.geomspace(1e7, 1e9, 4), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 4) * rng.uniform(0.8, 1.25, n.size)
    loss = CHIN.predict_nd(np.array([1.7, 400.0, 2000.0, 0.34, 0.37]), n, d) * np.exp(rng.normal(0, 0.02, n.size))
    runs = np.repeat(np.arange(6), 2)                       # whole runs: pairs of rows
    drawn = rng.integers(0, 6, size=(3, 6))
    counts = draw_counts(drawn, 6)[:, runs]
    rows = [np.repeat(np.arange(n.size), c.astype(int)) for c in counts]
    data = _Normalized.of(n, d, loss)
    for c, r in zip(counts, rows):
        coef_w, obj_w = grid_profile(data.u[None], data.v[None], data.y[None], EXPONENT_GRID, 1e-3, counts=c[None])
        coef_r, obj_r = grid_profile(data.u[r][None], data.v[r][None], data.y[r][None], EXPONENT_GRID, 1e-3)
        assert np.allclose(coef_w, coef_r, rtol=1e-6, atol=1e-9)
        assert np.allclose(obj_w, obj_r, rtol=1e-3, atol=1e-6)           # single-precision sums
        assert smallest_drawn(data.y[None], c[None])[0] == data.y[r].min()
        assert collinearity(n[None], d[None], c[None])[0] == pytest.approx(collinearity(n[r], d[r])[0], abs=1e-12)
        assert _identifiable(n[None], d[None], c[None])[0] == _identifiable(n[r][None], d[r][None])[0]
    few = np.zeros((1, n.size))
    few[0, :6] = 1.0                                         # two sizes drawn: not identifiable
    assert not _identifiable(n[None], d[None], few)[0] and _identifiable(n[None], d[None])[0]


def test_l_n_d_analysis_resamples_whole_runs_when_rows_are_checkpoints():
    """End to end: analyze with the L(N, D) law hands the run labels of a checkpoint family to its
    bootstrap (the draws are exactly those of whole runs, not of rows)."""
    from scalefit import analyze

    n = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    loss = CHIN.predict_nd(np.array([1.7, 400.0, 2000.0, 0.34, 0.37]), n, d) * np.exp(
        np.random.default_rng(4).normal(0, 0.01, n.size))
    runs = np.array([f"s{i // 3}-{i % 3 // 2}" for i in range(n.size)])   # the 1st and 2nd ratio: one run's checkpoints
    frame = pd.DataFrame(dict(family="c", run=runs, params=n, tokens=d, loss=loss))
    result = analyze(frame, law="chinchilla", bootstrap=40, seed=2, workers=1)
    fit = result.fits["c"]
    expected = bootstrap_chinchilla(fit.fit, 40, seed=2, workers=1, runs=runs)
    by_rows = bootstrap_chinchilla(fit.fit, 40, seed=2, workers=1)
    assert np.array_equal(fit.draws.params, expected.params, equal_nan=True)
    assert not np.array_equal(fit.draws.params, by_rows.params, equal_nan=True)
    assert any("the bootstrap resamples whole runs" in w for w in result.warnings)
