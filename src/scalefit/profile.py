"""Profile-likelihood bands for a fitted family, calibrated with the F distribution.

For a quantity q of the fit (a parameter, or the log compute ln C* needed to reach a loss L*), the
profile objective is S(q) = min of the log-space SSR over the other parameters with q held fixed.
With Gaussian errors in ln L the band at level 1 - a is

    { q : (S(q) - S_min) / s^2 <= F_{1, n-p}(1 - a) },   s^2 = S_min / (n - p),

the profile-t interval of nonlinear regression (Bates and Watts 1988, ch. 6). It follows the
curvature of the law instead of assuming a symmetric error, and stays exact for a law that is
linear in its parameters.

Every profile is computed on grids without starting values. Holding q fixed and alpha on a grid
(PROFILE_ALPHAS, 1e-3 to 10) leaves one parameter that enters the law linearly (E or A); it is
solved by weighted least squares and one Gauss-Newton step on the exact log objective. From the
two best local minima over the alpha grid, a bounded Levenberg-Marquardt polishes (that parameter,
alpha) on the exact objective, alpha within its full bounds, and the lower result is the profile.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from .fitting import (ALPHA_BOUNDS, E_CEILING, ROW_BLOCK, FitResult, Runs, bounded_least_squares, fit_saturating_rows,
                      linear_profile_over_alpha, row_blocks, saturating_lm, two_best_local_minima,
                      unreachable_ssrs)
from .laws import PowerLaw, SaturatingLaw
from .threads import map_blocks

# alpha's grid goes on past 4 to its bound, at about the same ratio: a constrained fit whose optimum is
# at alpha = 10 (a law through a point below the runs, dropping to E before the first) had no start
# there, the grid's lowest SSR was a plateau (E at L*, the law flat) and the polish stayed on it
PROFILE_ALPHAS = np.concatenate([np.geomspace(1e-3, 4.0, 90), np.geomspace(4.4, ALPHA_BOUNDS[1], 10)])
GN_STEPS = 1   # on the grid only (starting points); 4 steps gave the same bands to 1e-11 on 80 ladders
DECADES_BELOW = 4.0    # ln C* grid: from this many decades below the smallest run ...
DECADES_ABOVE = 10.0   # ... to this many above the largest run
PROBE_FIRST_STEP = 0.002      # decades: first probe step away from the point estimate ...
PROBE_DOUBLINGS = 14          # ... doubled this many times (out to ~16 decades)
COARSE_STEP_DECADES = 0.25    # probe grid when the point estimate is unreachable
FINE_POINTS = 121             # points across the region where the band lies
# points added between the two fine-grid points around each end of the band at the search's level:
# a band that runs on to one edge (an unreachable loss is consistent with the data) spreads the fine
# points over many decades, and its other end, interpolated between them, was off by up to 7% in
# compute; 12 more points in the bracket make linear interpolation there about 100 times closer
CROSSING_POINTS = 12
MAX_RATIO_POINTS = 20001
LM_PASSES = 20                # rough count of passes over the runs in one profile polish (to size its work)


@dataclass(frozen=True)
class Deviance:
    """Profile deviance D(q) = (S(q) - S_min) / s^2 of a quantity on a grid, and at q = +inf.

    ``grid`` holds log10 compute for inverted compute; ``at_infinity`` is the deviance of the
    loss being unreachable (inf when the law cannot make it unreachable).
    """

    grid: np.ndarray
    values: np.ndarray
    at_infinity: float
    dof: int
    touches_top: bool = False     # the grid ends at the search's upper limit: the band may go on beyond it
    touches_bottom: bool = False  # the same at the lower limit


CHI2_DOF = -1  # marks a deviance already on the chi-square scale (threshold chi2_1)


# Quantiles through scipy.special, the functions scipy.stats calls for these distributions, since
# importing scipy.stats costs about 0.4 s of every command's start-up (tests compare them with stats).
def chi2_1_quantile(level: float) -> float:
    """chi2_1^-1(level) = 2 P^-1(1/2, level), P the regularized lower incomplete gamma function."""
    return float(2.0 * special.gammaincinv(0.5, level))


def f_1_quantile(level: float, dof: int) -> float:
    """F_{1, dof}^-1(level)."""
    return float(special.fdtri(1, dof, level))


def t_quantile(q: float, dof: int) -> float:
    """Student t_dof^-1(q)."""
    return float(special.stdtrit(dof, q))


def f_1_to_chi2_1(values, dof: int) -> np.ndarray:
    """chi2_1^-1(F_{1,dof}(D)) through survival functions (accurate far in the tail): the value on the
    chi-square scale with the same tail probability as D on the F_{1, dof} scale."""
    return special.chdtri(1, special.fdtrc(1, dof, values))


def threshold(level: float, dof: int) -> float:
    """F_{1, dof} quantile at ``level``: the deviance bound of a profile-t band (chi2_1 for CHI2_DOF)."""
    if dof == CHI2_DOF:
        return chi2_1_quantile(level)
    return f_1_quantile(level, max(dof, 1))


def interval_from_deviance(dev: Deviance, level: float, dof: int | None = None) -> tuple[float, float]:
    """Ends (in the grid's units) of {q : D(q) <= threshold}; +inf when unreachable is inside."""
    limit = threshold(level, dev.dof if dof is None else dof)
    inside = dev.values <= limit
    if not inside.any():
        # only an unreachable loss is consistent with the data, or the profile is degenerate
        best = float(dev.grid[int(np.argmin(dev.values))])
        low = high = float("inf") if dev.at_infinity <= limit else best
    else:
        first, last = np.flatnonzero(inside)[[0, -1]]
        low = deviance_crossing(dev.grid, dev.values, first, first - 1, limit)
        high = deviance_crossing(dev.grid, dev.values, last, last + 1, limit)
    if dev.at_infinity <= limit:
        high = float("inf")
    return low, high


def ratio_interval(numerator: Deviance, denominator: Deviance, level: float) -> tuple[float, float]:
    """Band of log10(numerator / denominator) for two independent families' inverted compute.

    Each family's deviance is first put on the chi-square scale through its own F distribution,
    chi2_1^-1(F_{1,dof}(D)), which leaves each family's own band unchanged; the profile deviance of
    the difference r is then min over c of D_den(c) + D_num(c + r) (D_num interpolated linearly),
    compared with chi2_1(level). Returns -inf for a band reaching a ratio of 0 (the denominator's
    family may be unable to reach the loss), +inf for a band reaching infinity, and (nan, nan) when
    no ratio, finite, 0 or infinite, is consistent with the data (typically neither family reaches
    the loss; also a degenerate profile, such as a law fitted to losses that rise with compute).
    """
    num, den = _on_chi2_scale(numerator), _on_chi2_scale(denominator)
    limit = chi2_1_quantile(level)
    step = min(np.min(np.diff(num.grid)), np.min(np.diff(den.grid)))
    span_lo, span_hi = num.grid[0] - den.grid[-1], num.grid[-1] - den.grid[0]
    step = max(step, (span_hi - span_lo) / (MAX_RATIO_POINTS - 1))
    r = np.arange(span_lo, span_hi + step / 2, step)
    num_at = np.interp(den.grid[None, :] + r[:, None], num.grid, num.values, left=np.inf, right=np.inf)
    combined = Deviance(grid=r, values=np.min(num_at + den.values[None, :], axis=1),
                        at_infinity=num.at_infinity + float(np.min(den.values)), dof=CHI2_DOF)
    low, high = interval_from_deviance(combined, level)
    # a band still inside at an edge of either search goes on beyond it: the edges limit the search
    reaches_zero = (den.at_infinity + float(np.min(num.values)) <= limit or (den.touches_top and den.values[-1] <= limit)
                    or (num.touches_bottom and num.values[0] <= limit))
    reaches_infinity = (combined.at_infinity <= limit or (num.touches_top and num.values[-1] <= limit)
                        or (den.touches_bottom and den.values[0] <= limit))
    if not np.any(combined.values <= limit):           # no finite ratio is consistent with the data
        if not (reaches_zero or reaches_infinity):
            return float("nan"), float("nan")
        return -float("inf") if reaches_zero else float("inf"), float("inf") if reaches_infinity else -float("inf")
    if reaches_zero:
        low = -float("inf")
    if reaches_infinity:
        high = float("inf")
    return low, high


def _on_chi2_scale(dev: Deviance) -> Deviance:
    """The same deviance mapped through chi2_1^-1(F_{1,dof}(D)) (survival functions, for accuracy)."""
    def convert(values):
        values = np.maximum(np.asarray(values, dtype=float), 0.0)
        return f_1_to_chi2_1(values, max(dev.dof, 1))
    return Deviance(grid=dev.grid, values=convert(dev.values), at_infinity=float(convert(dev.at_infinity)),
                    dof=CHI2_DOF, touches_top=dev.touches_top, touches_bottom=dev.touches_bottom)


def deviance_crossing(grid, values, inside_i, outside_i, limit) -> float:
    """Linear interpolation of where the deviance crosses ``limit`` between two grid points;
    -inf / +inf when the outside point is beyond the grid's first / last point."""
    if outside_i < 0:
        return -float("inf")
    if outside_i >= grid.size:
        return float("inf")
    d_in, d_out = values[inside_i], values[outside_i]
    if not np.isfinite(d_out) or d_out == d_in:
        return float(grid[inside_i])
    t = (limit - d_in) / (d_out - d_in)
    return float(grid[inside_i] + t * (grid[outside_i] - grid[inside_i]))


# ----- the family's data in normalized form -----------------------------------------------------

@dataclass(frozen=True)
class _Data:
    """One ladder in normalized form: u, y and loss (n,), log_ref and E's bounds e_min <= E <= e_max,
    scalars (both the fixed value when the law fixes E). ``stack`` puts S ladders of n runs each
    together: u, y and loss (S, n), log_ref, e_min and e_max (S,)."""

    u: np.ndarray        # ln C - ln c_ref
    y: np.ndarray        # ln L
    loss: np.ndarray
    log_ref: float | np.ndarray
    e_max: float | np.ndarray
    e_min: float | np.ndarray = 0.0

    @classmethod
    def of(cls, fit: FitResult) -> "_Data":
        log_c = np.log(np.asarray(fit.flops, dtype=float))
        loss = np.asarray(fit.loss, dtype=float)
        log_ref = float(log_c.mean())
        fixed = fit.law.fixed.get("E")
        e_max = float(loss.min() * E_CEILING) if fixed is None else fixed
        return cls(u=log_c - log_ref, y=np.log(loss), loss=loss, log_ref=log_ref, e_max=e_max,
                   e_min=0.0 if fixed is None else fixed)

    @classmethod
    def stack(cls, ladders: "list[_Data]") -> "_Data":
        return cls(*(np.array([getattr(d, name) for d in ladders])
                     for name in ("u", "y", "loss", "log_ref", "e_max", "e_min")))

    def bounds_of(self, ladder: np.ndarray | None) -> tuple:
        """(e_min, e_max) of each row's ladder (``ladder`` as in ``rows``), or the scalars."""
        if ladder is None:
            return self.e_min, self.e_max
        return self.e_min[ladder], self.e_max[ladder]

    def rows(self, ladder: np.ndarray | None):
        """Per-row views (rows, n) of u, y and loss, row k from ladder ``ladder[k]``; for a single
        ladder (``ladder`` None) the (1, n) arrays, which broadcast over the rows."""
        if ladder is None:
            return self.u[None], self.y[None], self.loss[None]
        return self.u[ladder], self.y[ladder], self.loss[ladder]


def _solve_linear_parameter(y, loss, a, b, lo, hi):
    """min over t in [lo, hi] of sum (y - ln(a + b t))^2, batched over leading axes of a and b
    (``y`` = ln ``loss``, broadcast against them).

    Weighted least squares (w = 1/L) gives the start; Gauss-Newton steps on the exact log
    objective polish it. Returns (SSR, t), both of the leading shape. Used on alpha grids to find
    starting points; the profiles are then polished by Levenberg-Marquardt.
    """
    w2 = 1.0 / loss ** 2
    # grid points far from the runs overflow (a or b infinite): their start falls back to a bound, their
    # steps to none, and their SSR is inf (p is not positive), without warnings
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = (w2 * b * (loss - a)).sum(-1) / (w2 * b * b).sum(-1)
        t = np.clip(np.nan_to_num(t, nan=0.0), lo, hi)
        for _ in range(GN_STEPS):
            p = np.maximum(a + b * t[..., None], 1e-300)
            r = y - np.log(p)
            jb = b / p
            step = (r * jb).sum(-1) / (jb * jb).sum(-1)
            t = np.clip(t + np.nan_to_num(step), lo, hi)
        p = a + b * t[..., None]
        ssr = ((y - np.log(p)) ** 2).sum(-1)
    return np.where(np.all(p > 0, axis=-1), ssr, np.inf), t


def _polish_two_starts(grid_ssr, grid_t, residuals, lower, upper, n_runs: int):
    """From the two best local minima over the alpha grid (axis 1), polish theta = (t, alpha) by
    bounded Levenberg-Marquardt and keep the lower SSR per row (rows taken in memory-bounded blocks,
    shared by threads when they are many)."""
    k = grid_ssr.shape[0]
    best = np.full(k, np.inf)
    starts = two_best_local_minima(grid_ssr)

    def polish(block):
        rows = np.arange(k)[block]
        for column in starts[block].T:
            theta0 = np.column_stack([grid_t[rows, column], PROFILE_ALPHAS[column]])
            _, ssr = bounded_least_squares(lambda th, r, rows=rows: residuals(th, rows[r]), theta0,
                                           lower[block], upper[block])
            best[block] = np.minimum(best[block], ssr)

    map_blocks(polish, row_blocks(k, 2 * n_runs), elements=2 * k * n_runs * LM_PASSES)
    return best


def _grid_over_alphas(k: int, n_runs: int, solve_rows):
    """Stack ``solve_rows(rows, alphas) -> (ssr, t)`` (each (rows, alphas)) over blocks of rows and of
    PROFILE_ALPHAS that hold about ROW_BLOCK elements each, whatever the number of runs; on long
    ladders the blocks are shared by threads (the same numbers on any number of threads)."""
    ssr = np.empty((k, PROFILE_ALPHAS.size))
    t = np.empty_like(ssr)
    per_block = max(1, ROW_BLOCK // max(1, n_runs))            # (row, alpha) pairs per block
    alpha_step = min(PROFILE_ALPHAS.size, per_block)
    blocks = [(rows, slice(lo, lo + alpha_step)) for rows in row_blocks(k, alpha_step * n_runs)
              for lo in range(0, PROFILE_ALPHAS.size, alpha_step)]

    def solve(block):
        rows, cols = block
        ssr[rows, cols], t[rows, cols] = solve_rows(rows, PROFILE_ALPHAS[cols])

    map_blocks(solve, blocks, elements=k * PROFILE_ALPHAS.size * n_runs)
    return ssr, t


# ----- saturating law ---------------------------------------------------------------------------

def _saturating_log_compute_profile(d: _Data, target_loss, v: np.ndarray, ladder=None) -> np.ndarray:
    """S(v) with v = ln C* - ln c_ref: the law through (C*, L*) is L = E + (L* - E) (x/x*)^-alpha,
    with e_min <= E < min(L*, min L) (E = e_min = e_max when fixed); minimized over (E, alpha); inf
    where no E is left (a fixed E at or above L*). With stacked ladders, row k of ``v`` (and of
    ``target_loss``) belongs to ladder ``ladder[k]``."""
    target = np.broadcast_to(np.asarray(target_loss, dtype=float), v.shape)   # one L* per v, or shared
    e_lo, e_max = (np.broadcast_to(bound, v.shape) for bound in d.bounds_of(ladder))
    # E strictly below L* (the law through the point is then defined), but no further: a margin like the
    # data's (1 - 1e-9) excluded the fit itself where its prediction lies within 1e-9 of its E (a fit with
    # E at its bound, predicting far out), and the band then missed its own point estimate
    e_hi = np.minimum(e_max, np.nextafter(target, 0.0))
    feasible = e_lo <= e_hi
    if not feasible.all():               # a fixed E at or above L*: no law through the point
        out = np.full(v.shape, np.inf)
        rows = np.flatnonzero(feasible)
        if rows.size:
            out[rows] = _saturating_log_compute_profile(d, target[rows], v[rows],
                                                        None if ladder is None else ladder[rows])
        return out

    def data(rows):
        return d.rows(None if ladder is None else ladder[rows])

    def solve_rows(block, alphas):
        u, y, loss = data(block)
        with np.errstate(over="ignore", invalid="ignore"):      # far out: inf, and an SSR of inf below
            g = np.exp(-alphas[None, :, None] * (u[:, None, :] - v[block, None, None]))   # (rows, G, n)
            a, b = target[block, None, None] * g, 1.0 - g
        return _solve_linear_parameter(y[:, None, :], loss[:, None, :], a, b, e_lo[block, None], e_hi[block, None])

    n_runs = d.u.shape[-1]
    grid_ssr, grid_E = _grid_over_alphas(v.size, n_runs, solve_rows)

    def residuals(theta, rows):
        u, y, _ = data(rows)
        E, alpha = theta[:, 0:1], theta[:, 1:2]
        z = u - v[rows][:, None]
        t = target[rows][:, None]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # an overflowing trial is rejected
            gz = np.exp(-alpha * z)
            p = E + (t - E) * gz
            jac = -np.stack([(1.0 - gz) / p, -(t - E) * gz * z / p], axis=1)       # (rows, 2, runs)
            return y - np.log(p), jac

    k = v.size
    lower = np.column_stack([e_lo, np.full(k, ALPHA_BOUNDS[0])])
    upper = np.column_stack([e_hi, np.full(k, ALPHA_BOUNDS[1])])
    return _polish_two_starts(grid_ssr, grid_E, residuals, lower, upper, n_runs)


@dataclass(frozen=True)
class Search:
    """Where to look for one quantity's band; see ``adaptive_deviance`` for the fields."""

    center: float | None
    edge_lo: float
    edge_hi: float
    first_step: float
    s_min: float
    dof: int
    level: float = 0.99
    at_inf_ssr: float = float("inf")
    coarse_step: float | None = None
    fine_points: int = FINE_POINTS
    crossing_points: int = CROSSING_POINTS

    def probe(self) -> np.ndarray:
        """Doubling steps out from the point estimate, and the search's edges (the doublings reach
        8,192 first steps: a parameter whose band is wider, e.g. ln A once E is fixed, was called
        unbounded when its deviance was still below the threshold there); or a coarse grid when
        there is no point estimate."""
        if self.center is not None and np.isfinite(self.center) and self.edge_lo <= self.center <= self.edge_hi:
            offsets = self.first_step * 2.0 ** np.arange(PROBE_DOUBLINGS)
            probe = np.concatenate([[self.edge_lo], self.center - offsets[::-1], [self.center], self.center + offsets,
                                    [self.edge_hi]])
            return np.unique(np.clip(probe, self.edge_lo, self.edge_hi))
        step = self.coarse_step or (self.edge_hi - self.edge_lo) / 60
        return np.arange(self.edge_lo, self.edge_hi + step / 2, step)

    def fine_grid(self, probe: np.ndarray, probe_ssr: np.ndarray, s_min: float) -> np.ndarray | None:
        """FINE_POINTS across where the probe's deviance is below 1.5 times the threshold of a band
        at ``level`` (or 0.99 if higher), and the point estimate (so that a band whose profile rises
        steeply within a grid step of it still contains it); None when no probe point is (the probe
        is the grid)."""
        scale = max(s_min, 1e-300) / max(self.dof, 1)
        near = np.flatnonzero((probe_ssr - s_min) / scale <= 1.5 * threshold(max(self.level, 0.99), self.dof))
        if near.size == 0:
            return None
        lo = probe[max(near[0] - 1, 0)]
        hi = probe[min(near[-1] + 1, probe.size - 1)]
        grid = np.linspace(lo, hi, self.fine_points)
        if self.center is not None and lo < self.center < hi:
            grid = np.union1d(grid, [self.center])
        return grid

    def excess(self, ssr, s_min: float) -> np.ndarray:
        """D - threshold at ``level``: the deviance of profile SSRs ``ssr`` above the band's bound."""
        scale = max(s_min, 1e-300) / max(self.dof, 1)
        return (np.asarray(ssr) - s_min) / scale - threshold(self.level, self.dof)

    def end_intervals(self, ssr: np.ndarray, s_min: float) -> np.ndarray:
        """Indices i of the grid intervals (i, i + 1) where the band at ``level`` ends: the first and
        the last where the deviance crosses its threshold (none if it never does)."""
        inside = self.excess(ssr, s_min) <= 0
        changes = np.flatnonzero(inside[1:] != inside[:-1])
        return np.unique(changes[[0, -1]]) if changes.size else changes

    def around_ends(self, grid: np.ndarray, ssr: np.ndarray, s_min: float) -> np.ndarray:
        """``crossing_points`` evenly inside each grid interval where the band ends (``end_intervals``)."""
        brackets = self.end_intervals(ssr, s_min)
        if self.crossing_points <= 0 or brackets.size == 0:
            return np.zeros(0)
        steps = np.arange(1, self.crossing_points + 1) / (self.crossing_points + 1)
        return np.concatenate([grid[i] + steps * (grid[i + 1] - grid[i]) for i in brackets])

    def deviance(self, grid: np.ndarray, ssr: np.ndarray, s_min: float) -> Deviance:
        scale = max(s_min, 1e-300) / max(self.dof, 1)
        return Deviance(grid=grid, values=(ssr - s_min) / scale, at_infinity=(self.at_inf_ssr - s_min) / scale,
                        dof=self.dof, touches_top=bool(grid[-1] >= self.edge_hi - 1e-12),
                        touches_bottom=bool(grid[0] <= self.edge_lo + 1e-12))


def adaptive_deviance(ssr_of, center: float | None, edge_lo: float, edge_hi: float, first_step: float,
                      s_min: float, dof: int, level: float = 0.99, at_inf_ssr: float = float("inf"),
                      coarse_step: float | None = None, fine_points: int = FINE_POINTS) -> Deviance:
    """Profile deviance of one quantity, on a grid fitted to where its band lies.

    ``ssr_of(grid)`` gives the profile SSR on a grid of the quantity. Probes outward from the point
    estimate ``center`` in doubling steps (from ``first_step``), or on a coarse grid when there is
    no finite estimate, to find where the deviance is below 1.5 times the threshold of a band at
    ``level`` (or 0.99 if higher); then evaluates FINE_POINTS points across that region, so narrow
    and wide bands are resolved alike. The search stays within [edge_lo, edge_hi].
    """
    search = Search(center, edge_lo, edge_hi, first_step, s_min, dof, level, at_inf_ssr, coarse_step, fine_points)
    return adaptive_deviances(lambda _, grid: ssr_of(grid), [search])[0]


def adaptive_deviances(ssr_of, searches: list[Search]) -> list[Deviance]:
    """``adaptive_deviance`` of several quantities at once. ``ssr_of(which, grid)`` gets the grid
    points of all searches in one flat array, with the index of the search each belongs to, so
    that one pass of array work serves them all (three passes: the probes, the fine grids, then
    CROSSING_POINTS more inside the intervals where each band ends)."""
    probes = [search.probe() for search in searches]
    probe_ssr = _evaluate(ssr_of, probes, range(len(searches)))
    s_mins = [min(search.s_min, float(np.min(ssr)), search.at_inf_ssr) for search, ssr in zip(searches, probe_ssr)]
    grids = [search.fine_grid(probe, ssr, s_min)
             for search, probe, ssr, s_min in zip(searches, probes, probe_ssr, s_mins)]
    refined = [i for i, grid in enumerate(grids) if grid is not None]
    fine_ssr = dict(zip(refined, _evaluate(ssr_of, [grids[i] for i in refined], refined)))
    grids = [grids[i] if i in fine_ssr else probes[i] for i in range(len(searches))]
    ssrs = [fine_ssr[i] if i in fine_ssr else probe_ssr[i] for i in range(len(searches))]
    s_mins = [min(s_min, float(np.min(ssr))) for s_min, ssr in zip(s_mins, ssrs)]
    _add_points_around_ends(ssr_of, searches, grids, ssrs, s_mins)
    return [search.deviance(grid, ssr, s_min) for search, grid, ssr, s_min in zip(searches, grids, ssrs, s_mins)]


def _add_points_around_ends(ssr_of, searches: list[Search], grids: list, ssrs: list, s_mins: list) -> None:
    """Evaluate ``Search.around_ends`` of every search in one call and merge the points into its
    grid, profile SSRs and lowest SSR (the lists are updated in place)."""
    extra = [search.around_ends(grid, ssr, s_min) for search, grid, ssr, s_min in zip(searches, grids, ssrs, s_mins)]
    ends = [i for i, points in enumerate(extra) if points.size]
    for i, ssr in zip(ends, _evaluate(ssr_of, [extra[i] for i in ends], ends)):
        grids[i], ssrs[i] = _merged(grids[i], ssrs[i], extra[i], ssr)
        s_mins[i] = min(s_mins[i], float(np.min(ssr)))


def _merged(grid: np.ndarray, values: np.ndarray, points: np.ndarray, at_points: np.ndarray):
    """A grid and its values with more points added, in order."""
    order = np.argsort(np.concatenate([grid, points]), kind="stable")
    return np.concatenate([grid, points])[order], np.concatenate([values, at_points])[order]


END_TOLERANCE = 1e-6   # decades: a bracket around a band's end narrower than this is done
END_ROUNDS = 60        # cap on the narrowing rounds (Illinois typically needs about 6)
# points inside each probe interval where a band ends, before the narrowing: of several crossings in
# one probe interval the outermost is then found unless they lie within a seventh of it (12 points,
# as the whole curve has there, made `scalefit plan` 25% slower than 6)
END_SUBDIVISIONS = 6


def band_end_deviances(ssr_of, searches: list[Search], tolerance: float = END_TOLERANCE) -> list[Deviance]:
    """Deviances that resolve only where each band ends, for studies that need bands, not curves
    (``scalefit plan``): about a third of the points of ``adaptive_deviances``.

    The probe as there, and END_SUBDIVISIONS points inside each probe interval where the band ends
    (so that of several crossings in one probe interval the outermost is found); then the interval where the band ends on that grid is narrowed by the Illinois
    method (``narrow_brackets`` on D - threshold) to ``tolerance``, the brackets of all searches
    evaluated in one call per round. Every evaluated point is kept on the grid, so
    ``interval_from_deviance`` interpolates between a bracket's final ends, within ``tolerance``
    of the crossing, where ``adaptive_deviances`` interpolates between its fine grid's points (off
    by up to about 3e-3 decades where the profile bends sharply).
    """
    grids = [search.probe() for search in searches]
    ssrs = _evaluate(ssr_of, grids, range(len(searches)))
    s_mins = [min(search.s_min, float(np.min(ssr)), search.at_inf_ssr) for search, ssr in zip(searches, ssrs)]
    _add_points_around_ends(ssr_of, [replace(search, crossing_points=END_SUBDIVISIONS) for search in searches],
                            grids, ssrs, s_mins)
    ends = [(i, j) for i, (search, ssr, s_min) in enumerate(zip(searches, ssrs, s_mins))
            for j in search.end_intervals(ssr, s_min)]
    if ends:
        owner = np.array([i for i, _ in ends])
        a, b = (np.array([grids[i][j + k] for i, j in ends]) for k in (0, 1))
        fa, fb = (np.array([searches[i].excess(ssrs[i][j + k], s_mins[i]) for i, j in ends]) for k in (0, 1))
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

        def excess_at(rows, x):
            ssr = ssr_of(owner[rows], x)
            found.append((owner[rows], x, ssr))
            return np.array([searches[i].excess(v, s_mins[i]) for i, v in zip(owner[rows], ssr)])

        narrow_brackets(excess_at, a, b, fa, fb, tolerance)
        if found:
            which, x, ssr = (np.concatenate(part) for part in zip(*found))
            for i in np.unique(which):
                grids[i], ssrs[i] = _merged(grids[i], ssrs[i], x[which == i], ssr[which == i])
    s_mins = [min(s_min, float(np.min(ssr))) for s_min, ssr in zip(s_mins, ssrs)]
    return [search.deviance(grid, ssr, s_min) for search, grid, ssr, s_min in zip(searches, grids, ssrs, s_mins)]


def narrow_brackets(f, a, b, fa, fb, tolerance: float, rounds: int = END_ROUNDS) -> np.ndarray:
    """Roots of f in brackets between a and b (arrays, either order) by the Illinois method, all
    brackets at once: ``f(rows, x)`` evaluates f for the brackets ``rows`` at points x.

    The new point c = (a f(b) - b f(a)) / (f(b) - f(a)) replaces the end whose value has its sign;
    an end kept twice in a row has its value halved (so that it moves too, superlinearly); a
    bracket with an infinite end is halved instead; c stays half the tolerance inside both ends.
    NaN counts as +inf (for a deviance: no law through the point, outside the band). A bracket
    stops when narrower than ``tolerance`` or when f is 0 at an end; one whose ends have values of
    the same sign holds no root it could narrow to and is returned as given. After ``rounds``
    rounds the brackets are returned as they are (a deviance's needs at most about 30; a root
    where f is very flat, like x^15, can need more). Returns the brackets' ends, (k, 2), in the
    order the method left them."""
    a, b, fa, fb = (np.array(v, dtype=float) for v in (a, b, fa, fb))
    fa[np.isnan(fa)], fb[np.isnan(fb)] = np.inf, np.inf
    has_root = np.sign(fa) != np.sign(fb)
    for _ in range(rounds):
        rows = np.flatnonzero(has_root & (np.abs(b - a) > tolerance) & (fa != 0) & (fb != 0))
        if rows.size == 0:
            break
        ra, rb, rfa, rfb = a[rows], b[rows], fa[rows], fb[rows]
        finite = np.isfinite(rfa) & np.isfinite(rfb)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(finite, (ra * rfb - rb * rfa) / (rfb - rfa), 0.5 * (ra + rb))
        c = np.where(np.isfinite(c), c, 0.5 * (ra + rb))
        # at least half the tolerance inside each end: a point next to the root on one side is then
        # followed by one beyond it (without this, a flat crossing approaches from one side only)
        low, high = np.minimum(ra, rb) + 0.5 * tolerance, np.maximum(ra, rb) - 0.5 * tolerance
        c = np.minimum(np.maximum(c, low), high)
        fc = np.asarray(f(rows, c), dtype=float)
        fc = np.where(np.isnan(fc), np.inf, fc)
        crossed = np.sign(fc) != np.sign(rfb)               # the root lies between c and b: a := b
        a[rows] = np.where(crossed, rb, ra)
        fa[rows] = np.where(crossed, rfb, 0.5 * rfa)
        b[rows], fb[rows] = c, fc
    return np.column_stack([a, b])


def _evaluate(ssr_of, grids: list[np.ndarray], owners) -> list[np.ndarray]:
    """``ssr_of`` on the grids of the given searches in one call, split back per search."""
    if not grids:
        return []
    which = np.repeat(np.asarray(list(owners), dtype=np.intp), [g.size for g in grids])
    values = ssr_of(which, np.concatenate(grids))
    return np.split(values, np.cumsum([g.size for g in grids])[:-1])


def compute_deviance(fit: FitResult, target_loss: float, level: float = 0.99) -> Deviance:
    """Profile deviance of log10 of the compute the family needs to reach ``target_loss``, searched
    from DECADES_BELOW below the smallest run to DECADES_ABOVE above the largest (as far beyond the
    estimate when the estimate lies outside that)."""
    return compute_deviances([fit], [target_loss], level)[0]


def compute_deviances(fits: list[FitResult], target_losses, level: float = 0.99,
                      ends_only: bool = False) -> list[Deviance]:
    """``compute_deviance`` of each fit at its target loss. Fits of one law with the same number of
    runs (the ladders of a simulation study) are profiled together, which shares the array work
    of their grids and polishes; each result is that of its fit alone up to rounding. With
    ``ends_only`` the deviances resolve only the ends of the band at ``level`` (``band_end_deviances``):
    each end within 1e-6 decades of where the deviance crosses the threshold (the whole curve
    interpolates, off by up to about 3e-3 decades where the profile bends sharply), for about a
    third of the work, but no curve to draw or to combine into a ratio band."""
    target_losses = [float(t) for t in target_losses]
    out: list[Deviance | None] = [None] * len(fits)
    groups: dict[tuple, list[int]] = {}
    for i, fit in enumerate(fits):
        groups.setdefault((type(fit.law), fit.n_runs), []).append(i)
    for members in groups.values():
        for i, deviance in zip(members, _compute_deviances_of([fits[i] for i in members],
                                                              [target_losses[i] for i in members], level,
                                                              ends_only)):
            out[i] = deviance
    return out


def _compute_deviances_of(fits: list[FitResult], targets: list[float], level: float,
                          ends_only: bool = False) -> list[Deviance]:
    """compute_deviance of fits of one law with the same number of runs, in one search."""
    law = fits[0].law
    single = len(fits) == 1
    data = [_Data.of(fit) for fit in fits]
    d = data[0] if single else _Data.stack(data)
    at_inf = _unreachable_ssrs_of(fits, targets) if isinstance(law, SaturatingLaw) else np.full(len(fits), np.inf)
    searches = []
    for fit, target, inf_ssr in zip(fits, targets, at_inf):
        c_hat = float(fit.invert(target))
        center = np.log10(c_hat) if 0.0 < c_hat < np.inf else None
        edge_lo, edge_hi = np.log10(fit.flops_min) - DECADES_BELOW, np.log10(fit.flops_max) + DECADES_ABOVE
        # an estimate beyond an edge (e.g. E fixed just below the target: 15 decades out) moves that
        # edge as far beyond it (its band was cut at the edge, between the edge and the estimate)
        if center is not None and center > edge_hi:
            edge_hi = center + DECADES_ABOVE
        if center is not None and center < edge_lo:
            edge_lo = center - DECADES_BELOW
        searches.append(Search(
            center=center, edge_lo=edge_lo, edge_hi=edge_hi,
            first_step=PROBE_FIRST_STEP, s_min=fit.objective, dof=fit.n_runs - fit.law.n_free, level=level,
            at_inf_ssr=float(inf_ssr), coarse_step=COARSE_STEP_DECADES))
    profile = _saturating_log_compute_profile if isinstance(law, SaturatingLaw) else _power_log_compute_profile
    targets = np.array(targets)
    log_ref = np.atleast_1d(d.log_ref)

    def ssr_of(which, grid10):
        ladder = None if single else which
        v = np.asarray(grid10) * np.log(10) - (d.log_ref if single else log_ref[which])
        return profile(d, targets[which], v, ladder)

    search_all = band_end_deviances if ends_only else adaptive_deviances
    deviances = search_all(ssr_of, searches)
    # a band that goes on past an edge of its search (_open_sides): the edge moves out and a search
    # of the next EDGE_MOVE_DECADES runs, joined to the first (which resolved the band's other end);
    # an estimate at 31.75 decades, edge 32, had printed [0x, ...]. After EDGE_MOVES the band is
    # taken as open there (interval_from_deviance: inf)
    edges = {i: (search.edge_lo, search.edge_hi) for i, search in enumerate(searches)}
    for _ in range(EDGE_MOVES):
        moves = [(i, side) for i, (search, dev) in enumerate(zip(searches, deviances))
                 for side in _open_sides(search, dev)]
        if not moves:
            break
        beyond = []
        for i, side in moves:      # a search of the next EDGE_MOVE_DECADES past that edge
            lo, hi = edges[i]
            lo, hi = (hi, hi + EDGE_MOVE_DECADES) if side == "top" else (lo - EDGE_MOVE_DECADES, lo)
            edges[i] = (min(lo, edges[i][0]), max(hi, edges[i][1]))
            beyond.append(replace(searches[i], edge_lo=lo, edge_hi=hi))
        owner = np.array([i for i, _ in moves])
        again = search_all(lambda which, grid10: ssr_of(owner[which], grid10), beyond)
        for (i, side), dev in zip(moves, again):
            deviances[i] = _joined(deviances[i], dev) if side == "top" else _joined(dev, deviances[i])
    return deviances


EDGE_MOVES = 3  # times a compute search's edge moves out, EDGE_MOVE_DECADES each, while its band is open there
EDGE_MOVE_DECADES = 20.0


def _open_sides(search: Search, dev: Deviance) -> list[str]:
    """The edges of a search past which its band at the search's level goes on: around a point
    estimate, "bottom" where the band is still inside there, and "top" unless the target's being
    unreachable is itself inside (the band then goes to infinity whatever the edge). Without a point
    estimate (the fit cannot reach the target) but with "unreachable" inside the band, "top" while
    no grid point is inside and the deviance still falls there: the band's finite end may lie
    beyond (it was printed [inf, inf] for a true [10^36, inf])."""
    limit = threshold(search.level, search.dof)
    if search.center is None:      # a coarse grid, whose last point may fall short of the edge by a step
        at_top = dev.grid[-1] >= search.edge_hi - (search.coarse_step or 0.0) - 1e-12
        falling = dev.values.size > 1 and dev.values[-1] < dev.values[-2]
        unseen = dev.at_infinity <= limit and not np.any(dev.values <= limit)
        return ["top"] if at_top and falling and unseen else []
    sides = ["bottom"] if dev.touches_bottom and dev.values[0] <= limit else []
    if dev.touches_top and dev.values[-1] <= limit and not dev.at_infinity <= limit:
        sides.append("top")
    return sides


def _joined(below: Deviance, above: Deviance) -> Deviance:
    """One deviance from two searches side by side: ``below``'s grid, then ``above``'s beyond it
    (each keeps its own resolution: the first search's resolved the band's other end)."""
    keep = above.grid > below.grid[-1]
    return replace(below, grid=np.concatenate([below.grid, above.grid[keep]]),
                   values=np.concatenate([below.values, above.values[keep]]), touches_top=above.touches_top)


def _unreachable_ssrs_of(fits: list[FitResult], targets: list[float]) -> np.ndarray:
    """Lowest SSR of a saturating law that cannot reach each fit's target loss (E >= target): the
    profile at C* = infinity. With E fixed that is the fit's own objective when E >= the target
    (no law of the fit reaches it), and inf otherwise (every one does)."""
    out = np.full(len(fits), np.inf)
    free = [i for i, fit in enumerate(fits) if fit.law.fixed_E is None]
    if free:
        out[free] = unreachable_ssrs(np.array([fits[i].flops for i in free]), np.array([fits[i].loss for i in free]),
                                     np.array([targets[i] for i in free]))
    for i, fit in enumerate(fits):
        if fit.law.fixed_E is not None and targets[i] <= fit.law.fixed_E:
            out[i] = fit.objective
    return out


def _power_log_compute_profile(d: _Data, target_loss, v: np.ndarray, ladder=None) -> np.ndarray:
    """S(v) for ln L = ln L* - alpha (u - v): least squares in alpha alone, in closed form (row k
    of ``v`` from ladder ``ladder[k]`` when ``d`` holds several)."""
    u, y, _ = d.rows(ladder)
    z = u - v[:, None]
    target = y - np.log(np.broadcast_to(np.asarray(target_loss, dtype=float), v.shape))[:, None]
    alpha = -(z * target).sum(-1) / (z * z).sum(-1)
    return ((target + alpha[:, None] * z) ** 2).sum(-1)


# ----- parameters -------------------------------------------------------------------------------

def parameter_deviances(fit: FitResult, level: float = 0.99) -> list[Deviance | None]:
    """Profile deviance of each saturating-law parameter: E, ln A (user units) and ln alpha; None
    for E when the law fixes it (it has no band)."""
    d = _Data.of(fit)
    dof = d.u.size - fit.law.n_free
    E_hat, A_hat, alpha_hat = fit.params
    n = d.u.size

    def rows(k):
        return np.broadcast_to(d.u, (k, n)), np.broadcast_to(d.y, (k, n))

    def ssr_E(grid):
        # every row is the same ladder: shared runs, so the grid work is matrix products
        return fit_saturating_rows(d.u[None], d.y[None], e_min=grid, e_max=grid, counts=np.ones((grid.size, n)))[1]

    def ssr_ln_alpha(grid):
        alphas = np.exp(grid)
        E0, A0, _ = linear_profile_over_alpha(Runs(d.u[None], d.y[None]), np.full(1, d.e_min), np.full(1, d.e_max),
                                              alphas)
        theta0 = np.column_stack([E0[0], np.log(A0[0]), alphas])
        return saturating_lm(*rows(grid.size), theta0, np.full(grid.size, d.e_min), np.full(grid.size, d.e_max),
                             alpha_lo=alphas, alpha_hi=alphas)[1]

    common = dict(s_min=fit.objective, dof=dof, level=level)
    e_deviance = (None if fit.law.fixed else
                  adaptive_deviance(ssr_E, E_hat, 0.0, d.e_max, 1e-4 * d.e_max, **common))
    return [
        e_deviance,
        adaptive_deviance(lambda g: _saturating_ln_A_profile(d, g), np.log(A_hat), np.log(A_hat) - 60,
                          np.log(A_hat) + 60, 1e-3, **common),
        adaptive_deviance(ssr_ln_alpha, np.log(alpha_hat), np.log(ALPHA_BOUNDS[0]), np.log(ALPHA_BOUNDS[1]),
                          1e-3, **common),
    ]


def parameter_bands(fit: FitResult, level: float, deviances: list[Deviance | None] | None = None):
    """Profile-t bands of each parameter, in the user's units: arrays (low, high); a fixed E is
    its own band."""
    if isinstance(fit.law, PowerLaw):
        d = _Data.of(fit)
        return _power_parameter_bands(fit, d, level, d.u.size - fit.law.n_params)
    deviances = parameter_deviances(fit, level) if deviances is None else deviances
    d = _Data.of(fit)
    bands = [(d.e_min, d.e_max) if dev is None else interval_from_deviance(dev, level) for dev in deviances]
    low = np.array([b[0] for b in bands])
    high = np.array([b[1] for b in bands])
    low[1:], high[1:] = np.exp(low[1:]), np.exp(high[1:])  # A and alpha were profiled in logs
    # E is searched on its whole domain, 0 <= E <= e_max: a band that runs into an end stops there
    low[0], high[0] = max(low[0], d.e_min), min(high[0], d.e_max)
    # a band always contains its point estimate (the profile's minimum can sit a hair away from it)
    return np.minimum(low, fit.params), np.maximum(high, fit.params)


def _saturating_ln_A_profile(d: _Data, ln_a: np.ndarray) -> np.ndarray:
    """S(ln A_user): with A fixed in user units the law is E + exp(ln A - alpha ln C), minimized
    over (E, alpha), E within its bounds."""
    log_c = d.u + d.log_ref

    def solve_rows(block, alphas):
        g = np.exp(ln_a[block, None, None] - alphas[None, :, None] * log_c)           # (rows, G, n)
        return _solve_linear_parameter(d.y, d.loss, g, np.ones_like(g), d.e_min, d.e_max)

    grid_ssr, grid_E = _grid_over_alphas(ln_a.size, d.u.size, solve_rows)

    def residuals(theta, rows):
        E, alpha = theta[:, 0:1], theta[:, 1:2]
        gz = np.exp(ln_a[rows][:, None] - alpha * log_c)
        p = E + gz
        return d.y - np.log(p), -np.stack([np.ones_like(p) / p, -gz * log_c / p], axis=1)  # (rows, 2, runs)

    k = ln_a.size
    lower = np.column_stack([np.full(k, d.e_min), np.full(k, ALPHA_BOUNDS[0])])
    upper = np.column_stack([np.full(k, d.e_max), np.full(k, ALPHA_BOUNDS[1])])
    return _polish_two_starts(grid_ssr, grid_E, residuals, lower, upper, d.u.size)


def _power_parameter_bands(fit: FitResult, d: _Data, level: float, dof: int):
    """Exact t intervals of ordinary least squares on ln L = ln A_user - alpha ln C."""
    x = d.u + d.log_ref
    X = np.column_stack([np.ones_like(x), -x])
    s2 = fit.objective / max(dof, 1)
    cov = s2 * np.linalg.inv(X.T @ X)
    t = t_quantile(0.5 + level / 2, max(dof, 1))
    ln_a, alpha = np.log(fit.params[0]), fit.params[1]
    half = t * np.sqrt(np.diag(cov))
    return (np.array([np.exp(ln_a - half[0]), alpha - half[1]]),
            np.array([np.exp(ln_a + half[0]), alpha + half[1]]))


def loss_band(fit: FitResult, flops: np.ndarray, level: float, fine_points: int = 41,
              ends_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise profile band of the fitted loss at each compute: the losses L0 for which the best
    law through (C, L0) has deviance below the threshold. The points are searched together (one
    pass of array work for all of them) on ``fine_points`` losses across each band (41: a figure's
    bands), with CROSSING_POINTS more around each end; with ``ends_only``, only where each band
    ends (``band_end_deviances``: about half the work, each end within 1e-6 in ln L)."""
    d = _Data.of(fit)
    dof = d.u.size - fit.law.n_free
    flops = np.asarray(flops, dtype=float)
    v = np.log(flops) - d.log_ref
    searches = [Search(np.log(fitted), np.log(fitted) - 5.0, np.log(fitted) + 3.0, 1e-4, s_min=fit.objective,
                       dof=dof, level=level, fine_points=fine_points) for fitted in np.asarray(fit.predict(flops), dtype=float)]
    profile = _saturating_log_compute_profile if isinstance(fit.law, SaturatingLaw) else _power_log_compute_profile

    def ssr_of(which, grid):
        return profile(d, np.exp(grid), v[which])

    search_all = band_end_deviances if ends_only else adaptive_deviances
    bands = np.array([interval_from_deviance(dev, level) for dev in search_all(ssr_of, searches)])
    bands = bands.reshape(-1, 2)                    # no points: two empty arrays
    return np.exp(bands[:, 0]), np.exp(bands[:, 1])
