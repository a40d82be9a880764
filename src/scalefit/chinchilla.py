"""Two-variable law L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, "Approach 3").

Objective, as in Hoffmann et al. and Besiroglu et al. 2024: the *sum* over runs of the Huber loss
(delta = 1e-3 by default) of the log-space residual r_i = ln L_i - ln L(N_i, D_i).

Optimizer: variable projection instead of the papers' 4,500-point grid of L-BFGS starts. N and D
are normalized by their geometric means. For fixed exponents (alpha, beta) the law is linear in
(E, A, B) >= 0; on a 64 x 64 log grid of exponents (0.001 to 2.5) those are solved exactly by
non-negative weighted least squares (weights 1/L, the first-order form of the log residual; the
normal equations of the whole grid come from a few matrix products), and the exact Huber objective
is evaluated at every grid point (in single precision: it only ranks the points). From 8 grid points
in different basins, the best point of a 9 x 9 finer grid (one coarse step either side)
around each of the 2 lowest of them, and the lowest grid point with E in each of [0.5, 0.8) and
[0.8, 1) times the smallest loss (polished first with E held, 5 iterations: starts spread along the
valley where E trades off against the exponents), a batched bounded Levenberg-Marquardt with Huber reweighting polishes all five
parameters (capped at 60 iterations; after 20, three restarts from the best so far join it, at
E = 0, 0.5 and 0.9 times the smallest loss with the amplitudes rescaled, along the valley where E
trades off against A and B), and L-BFGS-B (analytic gradient, the papers' optimizer) finishes from
the best result of each of up to 3 distinct basins within 10% of the lowest (and, when a term
barely varies across the runs, from the best result moved along the E valley to E = 0.5 and 0.9
times the smallest loss); the lowest objective wins. Bootstrap refits use the same search (each resample's own grid and 8 basins, plus the
full-data optimum as a ninth start, and the same restarts along E), polished by the batched LM run
to convergence instead of the L-BFGS finish; starts of one resample that meet in a basin are merged.
Parameters are reported in the user's units (A_user = A_norm * N_ref^alpha, B_user = B_norm * D_ref^beta).

Along the compute-optimal frontier (C = k N D, k = 6 by default) the law is a saturating law of
compute, L_opt(C) = E + K (C/k)^-gamma with gamma = alpha beta / (alpha + beta), so multipliers
between families use the same closed-form inversion as the compute laws.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .fitting import bounded_least_squares, lowest_per_owner
from .laws import Law
from .threads import one_blas_thread

HUBER_DELTA = 1e-3
MAX_HUBER_DELTA = 10.0  # on ln-loss residuals: a residual of 10 is a factor e^10; any larger delta is least squares
FLOPS_PER_PARAM_TOKEN = 6.0
# k in C = k N D is compute per parameter and token in the file's units: 6 for FLOPs (2 forward
# only), 6.9e-20 for PF-days; no unit of compute is 30 decades from a FLOP
FLOPS_PER_PARAM_TOKEN_RANGE = (1e-30, 1e30)
EXPONENT_GRID = np.geomspace(1e-3, 2.5, 64)
EXPONENT_BOUNDS = (1e-3, 5.0)
POLISH_STARTS = 8
POINT_FIT_LM_ITERATIONS = 60
RESAMPLE_LM_ITERATIONS = 500  # bootstrap refits: LM to convergence (no L-BFGS finish)
E_LEVEL_AFTER = 20         # LM iterations of the point fit before the restarts along E (the rest after)
E_LEVELS = (0.0, 0.5, 0.9)  # restarts at E = level * smallest loss, from the best start so far
LBFGS_FINISHES = 3
FINISH_WITHIN = 0.1  # relative objective above the best LM result within which basins are finished


def flops_per_param_token_message(value: float) -> str:
    """Why a k in C = k N D outside FLOPS_PER_PARAM_TOKEN_RANGE is refused: it names no unit of
    compute (1e-300 gave an infinite N_opt, 1e300 a traceback, with a hint about params and tokens)."""
    low, high = FLOPS_PER_PARAM_TOKEN_RANGE
    return (f"flops_per_param_token {value:g}: must be between {low:g} and {high:g}: it is k in C = k N D, the "
            f"compute per parameter and token in the file's units (6 for FLOPs, 6.9e-20 for PF-days), and no unit "
            f"of compute is 30 decades from a FLOP")


def huber_delta_message(value: float) -> str:
    """Why a Huber delta above MAX_HUBER_DELTA is refused, and what to give instead."""
    return (f"huber_delta {value:g}: must be at most {MAX_HUBER_DELTA:g} (it is on ln-loss residuals; "
            f"{MAX_HUBER_DELTA:g} already makes the objective plain least squares); 1e-3 is the papers' choice")


@dataclass(frozen=True)
class ChinchillaLaw(Law):
    """L(N, D) = E + A N^-alpha + B D^-beta; as a law of compute, its compute-optimal frontier.

    Fitted by minimizing sum_i Huber_delta(ln L_i - ln L(N_i, D_i)) with ``huber_delta`` the delta
    (on ln-loss residuals); ``flops_per_param_token`` is k in C = k N D, which turns compute into
    tokens and places the frontier. Both must be positive and finite, ``huber_delta`` at most
    MAX_HUBER_DELTA and ``flops_per_param_token`` within FLOPS_PER_PARAM_TOKEN_RANGE (ValueError
    otherwise).
    """

    name: str = "chinchilla"
    formula: str = "L(N, D) = E + A / N^alpha + B / D^beta"
    param_names: tuple[str, ...] = ("E", "A", "B", "alpha", "beta")
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN
    huber_delta: float = HUBER_DELTA

    def __post_init__(self):
        for name in ("flops_per_param_token", "huber_delta"):
            value = getattr(self, name)
            number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            if not (number and 0 < value < np.inf):
                raise ValueError(f"{name} {value!r}: must be a positive, finite number")
            object.__setattr__(self, name, float(value))
        if self.huber_delta > MAX_HUBER_DELTA:
            raise ValueError(huber_delta_message(self.huber_delta))
        low, high = FLOPS_PER_PARAM_TOKEN_RANGE
        if not low <= self.flops_per_param_token <= high:
            raise ValueError(flops_per_param_token_message(self.flops_per_param_token))

    def predict_nd(self, params, n_params, tokens):
        """L(N, D) at the given parameter and token counts."""
        p = np.asarray(params, dtype=float)
        E, A, B, alpha, beta = (p[..., i, None] for i in range(5))
        out = E + np.exp(np.log(A) - alpha * np.log(n_params)) + np.exp(np.log(B) - beta * np.log(tokens))
        return out[..., 0] if np.ndim(n_params) == 0 and np.ndim(tokens) == 0 else out

    def frontier(self, params) -> np.ndarray:
        """Saturating-law parameters (E, A_c, gamma) of the frontier, L_opt(C) = E + A_c C^-gamma."""
        p = np.asarray(params, dtype=float)
        E, A, B, alpha, beta = (p[..., i] for i in range(5))
        gamma = alpha * beta / (alpha + beta)
        log_g = (np.log(alpha * A) - np.log(beta * B)) / (alpha + beta)
        K = np.exp(np.log(A) - alpha * log_g) + np.exp(np.log(B) + beta * log_g)
        return np.stack([E, K * self.flops_per_param_token ** gamma, gamma], axis=-1)

    def predict(self, params, flops):
        """Loss along the compute-optimal frontier at compute C."""
        from .laws import SaturatingLaw
        return SaturatingLaw().predict(self.frontier(params), flops)

    def invert(self, params, loss):
        """Compute needed on the frontier to reach ``loss``; inf at or below E."""
        from .laws import SaturatingLaw
        return SaturatingLaw().invert(self.frontier(params), loss)

    def irreducible(self, params):
        return np.asarray(params, dtype=float)[..., 0]


@dataclass(frozen=True)
class Allocation:
    """Compute-optimal split of a budget C: N_opt = G (C/k)^a, D_opt = (C/k)^b / G."""

    flops: float
    n_opt: float
    d_opt: float
    tokens_per_param: float
    loss: float
    a: float
    b: float


def allocation(params, flops, k: float = FLOPS_PER_PARAM_TOKEN):
    """N_opt, D_opt, tokens per parameter, frontier loss and exponents a = beta/(alpha+beta),
    b = alpha/(alpha+beta); broadcasts over leading axes of ``params``.

    From minimizing A N^-alpha + B D^-beta with N D = C / k:
    G = (alpha A / (beta B))^(1/(alpha+beta)).
    """
    p = np.asarray(params, dtype=float)
    E, A, B, alpha, beta = (p[..., i] for i in range(5))
    a, b = beta / (alpha + beta), alpha / (alpha + beta)
    log_g = (np.log(alpha * A) - np.log(beta * B)) / (alpha + beta)
    log_c = np.log(np.asarray(flops, dtype=float) / k)
    n_opt = np.exp(log_g + a * log_c)
    d_opt = np.exp(-log_g + b * log_c)
    loss = E + np.exp(np.log(A) - alpha * np.log(n_opt)) + np.exp(np.log(B) - beta * np.log(d_opt))
    return dict(n_opt=n_opt, d_opt=d_opt, tokens_per_param=d_opt / n_opt, loss=loss, a=a, b=b)


# ----- fitting --------------------------------------------------------------------------------

def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss: r^2 / 2 for |r| <= delta, delta (|r| - delta / 2) beyond; as m (|r| - m / 2)
    with m = min(|r|, delta)."""
    a = np.abs(r)
    m = np.minimum(a, delta)
    a -= 0.5 * m
    a *= m
    return a


@dataclass(frozen=True)
class _Normalized:
    u: np.ndarray       # ln N - ln N_ref
    v: np.ndarray       # ln D - ln D_ref
    y: np.ndarray       # ln L
    log_n_ref: float
    log_d_ref: float

    @classmethod
    def of(cls, n_params, tokens, loss):
        ln_n, ln_d = np.log(n_params), np.log(tokens)
        return cls(u=ln_n - ln_n.mean(), v=ln_d - ln_d.mean(), y=np.log(loss),
                   log_n_ref=float(ln_n.mean()), log_d_ref=float(ln_d.mean()))

    def to_user(self, theta: np.ndarray) -> np.ndarray:
        """(E, ln A_norm, ln B_norm, alpha, beta) -> (E, A, B, alpha, beta) in user units."""
        E, la, lb, alpha, beta = theta
        return np.array([E, np.exp(la + alpha * self.log_n_ref), np.exp(lb + beta * self.log_d_ref), alpha, beta])


def fit_chinchilla_params(n_params, tokens, loss, delta: float = HUBER_DELTA) -> tuple[np.ndarray, float]:
    """Global minimum of sum Huber_delta(ln L - ln L(N, D)): user-unit parameters and the objective."""
    data = _Normalized.of(np.asarray(n_params, float), np.asarray(tokens, float), np.asarray(loss, float))
    starts, along_e = _grid_starts(data, delta)
    if along_e.any():       # settle the exponents at the start's E first (see _best_along_e)
        starts[along_e] = _polish_many(data.u[None], data.v[None], data.y[None], starts[along_e],
                                       np.zeros(int(along_e.sum()), int), delta, E_HELD_ITERATIONS, hold_e=True)[0]
    theta, obj, _ = _polish_with_e_levels(data.u[None], data.v[None], data.y[None], starts,
                                          np.zeros(len(starts), int), delta, POINT_FIT_LM_ITERATIONS)
    # Levenberg-Marquardt with Huber reweighting converges slowly near the kinks at |r| = delta, and
    # nearby basins differ little: L-BFGS-B (the papers' optimizer) finishes from the best result of
    # each of the LBFGS_FINISHES lowest basins within FINISH_WITHIN of the best (a start still
    # crawling at the LM cap can be the one in the global basin, behind several in a shallower one).
    candidates = [(float(obj[i]), theta[i]) for i in range(len(obj))]
    order = np.argsort(obj, kind="stable")
    order = order[obj[order] <= obj[order[0]] * (1.0 + FINISH_WITHIN)]
    finishes = _distinct_basins(theta[order], LBFGS_FINISHES) + _valley_finishes(data, theta[order[0]])
    candidates += [polish_lbfgs(data, t, delta)[::-1] for t in finishes]
    best_obj, best_theta = min(candidates, key=lambda c: c[0])
    return data.to_user(best_theta), float(best_obj)


FLAT_TERM = 1.0  # exponent x ln-span of its variable below which a term barely varies across the runs


def _valley_finishes(data: _Normalized, best: np.ndarray) -> list[np.ndarray]:
    """Further L-BFGS starts for the point fit when a term barely varies across the runs (alpha x
    the ln-span of N, or beta x that of D, below FLAT_TERM): E then trades off against that term's
    amplitude along a long, rippled valley, and the capped LM from the grid can stop far down it
    (found by hypothesis: E 0.07 left 1.4e-5 above the optimum at E 0.21, which L-BFGS from E = 0.5 x
    the smallest loss reaches). The best LM result's restarts at E = 0.5 and 0.9 x the smallest loss
    (``e_level_restarts``); none for well-determined exponents (Chinchilla's: about 2)."""
    if min(best[3] * np.ptp(data.u), best[4] * np.ptp(data.v)) >= FLAT_TERM:
        return []
    restarts, valid = e_level_restarts(best[None], np.exp(data.y.min(keepdims=True)))
    return [r for r, ok in zip(restarts[0], valid[0]) if ok and r[0] > 0]


def _polish_with_e_levels(u, v, y, theta, owner, delta, iterations, counts=None):
    """Batched LM from the starts (start i belongs to data row owner[i]); after E_LEVEL_AFTER
    iterations each row's best start so far spawns its ``e_level_restarts``, and all go on together
    for the remaining iterations. Returns parameters, objectives and the owner of every row.
    ``counts`` (rows of data, n) weights each run (0: not in that row's resample)."""
    theta, obj = _polish_many(u, v, y, theta, owner, delta, iterations=E_LEVEL_AFTER, counts=counts)
    best = lowest_per_owner(obj, owner, u.shape[0])
    restarts, valid = e_level_restarts(theta[best], np.exp(smallest_drawn(y, counts)))
    rows, level = np.nonzero(valid)
    theta = np.concatenate([theta, restarts[rows, level]])
    owner = np.concatenate([owner, rows])
    theta, obj = _polish_many(u, v, y, theta, owner, delta, iterations=iterations - E_LEVEL_AFTER, counts=counts)
    return theta, obj, owner


def smallest_drawn(y: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Per row of ``y`` (B, n), its smallest value among the runs with a positive count (all runs
    without ``counts``): the smallest ln-loss of a resample."""
    return y.min(axis=1) if counts is None else np.where(counts > 0, y, np.inf).min(axis=1)


def e_level_restarts(theta: np.ndarray, smallest_loss: np.ndarray, levels=E_LEVELS):
    """Restarts along the valley where E trades off against the amplitudes, for rows of normalized
    parameters ``theta`` (B, 5): E = level * smallest_loss, the exponents kept, and A, B scaled by
    one factor so that the law still predicts E + A + B at the reference point (N_ref, D_ref).
    Returns the restarts (B, k, 5) and which are valid (level below that prediction), (B, k).

    With a nearly-L1 objective (Huber with a small delta on noisy runs) this valley holds shallow
    local minima, and LM from the grid stops in the first it meets; E = 0 (a pure power law in
    each variable) is often the floor of the valley when an exponent is near 0.
    """
    amplitude = np.exp(theta[:, 1]) + np.exp(theta[:, 2])
    at_reference = theta[:, 0] + amplitude
    e = np.asarray(levels, dtype=float)[None, :] * np.asarray(smallest_loss, dtype=float)[:, None]
    valid = e < at_reference[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.log(np.where(valid, at_reference[:, None] - e, 1.0) / amplitude[:, None])
    restarts = np.repeat(theta[:, None, :], len(levels), axis=1)
    restarts[:, :, 0] = e
    restarts[:, :, 1] += scale
    restarts[:, :, 2] += scale
    return restarts, valid & np.isfinite(scale)


SAME_BASIN = 1e-2  # parameters all within this (relative) of each other: one basin, for choosing finishes


def _distinct_basins(ranked: np.ndarray, count: int) -> list[np.ndarray]:
    """The first ``count`` rows of ``ranked`` (best first) that are not within SAME_BASIN of an
    earlier chosen row in every parameter."""
    chosen: list[np.ndarray] = []
    for t in ranked:
        if not any(np.all(np.abs(t - c) <= SAME_BASIN * (1.0 + np.abs(c))) for c in chosen):
            chosen.append(t)
            if len(chosen) == count:
                break
    return chosen


def fit_chinchilla_resamples(n_params, tokens, loss, index: np.ndarray, start: np.ndarray,
                             delta: float = HUBER_DELTA, counts: np.ndarray | None = None
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Refit every resample (rows of ``index`` into the runs, each counted ``counts`` times, by
    default once) at once, with the point fit's search: resample b minimizes
    sum_k counts[b, k] Huber_delta(ln L_k - ln L(N_k, D_k)) over the runs k = index[b].

    Each resample gets the starts the point fit would give it (its own exponent grid, best
    ``POLISH_STARTS`` basins) plus the full-data optimum ``start`` (user units); all are polished
    together by the batched Levenberg-Marquardt, run to convergence, joined after E_LEVEL_AFTER
    iterations by each resample's ``e_level_restarts``. Returns user-unit parameters (B, 5) and
    objectives.
    """
    full = _Normalized.of(np.asarray(n_params, float), np.asarray(tokens, float), np.asarray(loss, float))
    u, v, y = full.u[index], full.v[index], full.y[index]
    E, A, B, alpha, beta = start
    theta_full = np.array([E, np.log(A) - alpha * full.log_n_ref, np.log(B) - beta * full.log_d_ref, alpha, beta])
    coef, surface = grid_profile(u, v, y, EXPONENT_GRID, delta, counts=counts)
    starts, owner = [np.tile(theta_full, (len(index), 1))], [np.arange(len(index))]
    for i in range(len(index)):
        picks = _best_local_minima(surface[i], POLISH_STARTS)
        starts.append(np.array([_start_at(coef[i].reshape(-1, 3)[g], EXPONENT_GRID, EXPONENT_GRID, g)
                                for g in picks]).reshape(-1, 5))
        owner.append(np.full(len(picks), i))
    starts, owner = np.concatenate(starts), np.concatenate(owner)
    theta, obj, owner = _polish_with_e_levels(u, v, y, starts, owner, delta, RESAMPLE_LM_ITERATIONS, counts)
    best = lowest_per_owner(obj, owner, len(index))
    params = np.array([full.to_user(t) for t in theta[best]]).reshape(-1, 5)
    return params, obj[best]


def _polish_many(u, v, y, theta0, owner, delta, iterations=500, hold_e: bool = False, counts=None):
    """Minimize sum c Huber(r) from each start (weights c: ``counts`` of the data row, or 1); start i
    belongs to data row owner[i]. With ``hold_e`` each start's E stays at its value and the other
    four parameters move."""
    u, v, y = u[owner], v[owner], y[owner]

    def residuals(theta, rows):
        # a trial step may overflow: its objective is then inf and the step is rejected
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ur, vr = u[rows], v[rows]
            g1 = np.exp(theta[:, 1:2] - theta[:, 3:4] * ur)
            g2 = np.exp(theta[:, 2:3] - theta[:, 4:5] * vr)
            pred = theta[:, 0:1] + g1 + g2
            jac = np.empty((pred.shape[0], 5, pred.shape[1]))  # dr/dtheta = -(d pred / d theta) / pred
            np.divide(-1.0, pred, out=jac[:, 0])
            np.multiply(g1, jac[:, 0], out=jac[:, 1])
            np.multiply(g2, jac[:, 0], out=jac[:, 2])
            np.multiply(jac[:, 1], -ur, out=jac[:, 3])
            np.multiply(jac[:, 2], -vr, out=jac[:, 4])
            return y[rows] - np.log(pred), jac

    k = theta0.shape[0]
    lower = np.tile([0.0, -np.inf, -np.inf, EXPONENT_BOUNDS[0], EXPONENT_BOUNDS[0]], (k, 1))
    upper = np.tile([np.inf, np.inf, np.inf, EXPONENT_BOUNDS[1], EXPONENT_BOUNDS[1]], (k, 1))
    if hold_e:
        lower[:, 0] = upper[:, 0] = theta0[:, 0]
    theta, twice_huber = bounded_least_squares(residuals, theta0, lower, upper, iterations=iterations,
                                               huber_delta=delta, problem=owner,
                                               counts=None if counts is None else counts[owner])
    return theta, twice_huber / 2.0


def _grid_starts(data: _Normalized, delta: float, grid=EXPONENT_GRID,
                 count=POLISH_STARTS) -> tuple[np.ndarray, np.ndarray]:
    """Starts of a point fit, (k, 5), and which of them are spread along E: the best ``count``
    local minima of the exponent grid, with (E, A, B) >= 0 solved exactly; the best point of a
    finer grid around each of the ZOOMED lowest of them; and the lowest grid point in each band of
    E (``_best_along_e``)."""
    coef, obj = grid_profile(data.u[None], data.v[None], data.y[None], grid, delta)
    order = _best_local_minima(obj[0], count)
    along_e = _best_along_e(coef[0], obj[0], float(np.exp(data.y.min())), order)
    starts = [_start_at(coef[0].reshape(-1, 3)[g], grid, grid, g) for g in order]
    starts += [_zoomed_start(data, start[3], start[4], delta) for start in starts[:ZOOMED]]
    starts += _huber_weighted_starts(data, coef[0], obj[0], grid, delta, order)
    starts += [_start_at(coef[0].reshape(-1, 3)[g], grid, grid, g) for g in along_e]
    return np.array(starts), np.arange(len(starts)) >= len(starts) - along_e.size


E_BANDS = (0.5, 0.8, 1.0)  # point-fit starts: the lowest grid point with E in each band (x smallest loss)
E_HELD_ITERATIONS = 5      # LM iterations of those starts with E held, before they join the others


def _best_along_e(coef: np.ndarray, surface: np.ndarray, smallest_loss: float, chosen: np.ndarray) -> np.ndarray:
    """Flat indices of the lowest grid points whose E lies in each band of E_BANDS (times the
    smallest loss), those not already ``chosen``. The grid ranks points by least-squares
    coefficients, which along the valley where E trades off against the exponents can rank the
    Huber objective's basins wrongly (by 2% where they differ by 0.4%): its local minima then all
    lie at one end of the valley, and starts spread along E reach the other. Such a start is first
    polished with its E held (E_HELD_ITERATIONS): polished freely at once, Levenberg-Marquardt slid
    down the valley in E before the exponents moved, into a shallower basin that L-BFGS from the
    same start avoided (a hypothesis example, now a test)."""
    e = coef[..., 0].ravel() / smallest_loss
    flat = surface.ravel()
    out = []
    for lo, hi in zip(E_BANDS[:-1], E_BANDS[1:]):
        inside = np.flatnonzero((e >= lo) & (e < hi) & np.isfinite(flat))
        if inside.size:
            best = int(inside[np.argmin(flat[inside])])
            if best not in chosen and best not in out:
                out.append(best)
    return np.asarray(out, dtype=int)


WEIGHTED_CANDIDATES = 128  # point fits: the lowest grid points re-solved with Huber weights ...
WEIGHTED_ITERATIONS = 2    # ... for this many reweightings ...
WEIGHTED_STARTS = 2        # ... and the lowest of their basins not already a start


def _huber_weighted_starts(data: _Normalized, coef: np.ndarray, surface: np.ndarray, grid: np.ndarray,
                           delta: float, chosen: np.ndarray) -> list[np.ndarray]:
    """Starts from the grid ranked by the Huber objective at Huber-weighted coefficients.

    The grid's (E, A, B) are least squares, which a few runs far off the law (residuals much larger
    than delta: the objective is then nearly an L1 sum) pull away from the Huber objective's own
    coefficients, so that the grid can rank a basin's points below their due. (A hypothesis
    example: the grid's lowest basins were at alpha 1.19 and 0.50 and LM from them stopped 1.7% above
    the optimum, at alpha 0.28, whose grid points ranked 72nd and lower.) The WEIGHTED_CANDIDATES
    lowest grid points are re-solved by iteratively reweighted least squares
    (:func:`huber_reweighted_coefficients`), and the lowest WEIGHTED_STARTS local minima (among
    them, 8-neighbourhood) of those re-solved objectives that are not ``chosen`` already become starts."""
    flat = surface.ravel()
    candidates = np.argsort(flat, kind="stable")[:WEIGHTED_CANDIDATES]
    candidates = candidates[np.isfinite(flat[candidates])]
    i, j = np.divmod(candidates, grid.size)
    f = np.exp(-grid[i, None] * data.u[None, :])
    g = np.exp(-grid[j, None] * data.v[None, :])
    c, obj = huber_reweighted_coefficients(f, g, data.y, coef.reshape(-1, 3)[candidates], delta)
    refined = np.full(flat.shape, np.inf)
    refined[candidates] = obj
    minima = candidates[_is_local_minimum(refined.reshape(surface.shape)).ravel()[candidates]]
    minima = minima[np.argsort(refined[minima], kind="stable")]
    already = set(chosen.tolist())
    picks = [p for p in minima.tolist() if p not in already][:WEIGHTED_STARTS]
    where = {p: k for k, p in enumerate(candidates.tolist())}
    return [_start_at(c[where[p]], grid, grid, p) for p in picks]


def _is_local_minimum(surface: np.ndarray) -> np.ndarray:
    """Finite points no higher than any of their 8 neighbours."""
    rows, cols = surface.shape
    padded = np.pad(surface, 1, constant_values=np.inf)
    is_min = np.isfinite(surface)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                is_min &= surface <= padded[1 + di:1 + di + rows, 1 + dj:1 + dj + cols]
    return is_min


def huber_reweighted_coefficients(f: np.ndarray, g: np.ndarray, y: np.ndarray, coef: np.ndarray, delta: float,
                                  iterations: int = WEIGHTED_ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """(E, A, B) >= 0 at K exponent pairs (rows of ``f``, ``g``: (K, n)), moved from least squares
    ``coef`` (K, 3) towards the minimum of sum_k Huber_delta(y_k - ln(E + A f_k + B g_k)).

    Each iteration solves the weighted least squares sum_k h_k ((L_k - E - A f_k - B g_k) / L_k)^2
    with h_k = min(1, delta / |r_k|) at the current residuals r_k (the Huber loss's weights; the
    relative error stands in for the ln residual), and keeps the new coefficients where they lower
    the objective. Returns the coefficients (K, 3) and objectives (K,)."""
    w = np.exp(-y)                                                     # 1 / L

    def residuals(c):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return y - np.log(np.maximum(c[:, :1] + c[:, 1:2] * f + c[:, 2:] * g, 1e-300))

    r = residuals(coef)
    obj = huber(r, delta).sum(axis=1)
    for _ in range(iterations):
        with np.errstate(divide="ignore"):
            h1 = np.minimum(1.0, delta / np.abs(r)) * w
        h2 = h1 * w
        h2f, h2g = h2 * f, h2 * g
        dot = lambda a, b: np.einsum("kn,kn->k", a, b)
        m = _Gram(m00=h2.sum(axis=1), m01=h2f.sum(axis=1), m02=h2g.sum(axis=1), m11=dot(h2f, f),
                  m12=dot(h2f, g), m22=dot(h2g, g))
        t = (h1.sum(axis=1), dot(h1, f), dot(h1, g))
        new = _nonnegative_normal_equations_3(m, t, (f.shape[0],))
        new_r = residuals(new)
        new_obj = huber(new_r, delta).sum(axis=1)
        better = np.isfinite(new_obj) & (new_obj < obj)
        coef = np.where(better[:, None], new, coef)
        r = np.where(better[:, None], new_r, r)
        obj = np.where(better, new_obj, obj)
    return coef, obj


ZOOMED = 2       # coarse-grid minima refined on a finer grid (point fits)
ZOOM_POINTS = 9  # per exponent, spanning one coarse grid step either side


def _zoomed_start(data: _Normalized, alpha: float, beta: float, delta: float) -> np.ndarray:
    """The lowest point of a ZOOM_POINTS x ZOOM_POINTS exponent grid spanning one coarse step
    either side of (alpha, beta). With many runs and small noise a basin can be narrower than the
    coarse grid's 13% steps in an exponent: its floor can be far below the nearest coarse point,
    and the polish from that point then settles in a shallower neighbour."""
    step = np.log(EXPONENT_GRID[1] / EXPONENT_GRID[0])
    offsets = np.exp(np.linspace(-step, step, ZOOM_POINTS))
    alphas = np.clip(alpha * offsets, *EXPONENT_BOUNDS)
    betas = np.clip(beta * offsets, *EXPONENT_BOUNDS)
    coef, obj = grid_profile(data.u[None], data.v[None], data.y[None], alphas, delta, betas=betas)
    best = int(np.argmin(obj[0]))
    return _start_at(coef[0].reshape(-1, 3)[best], alphas, betas, best)


def _start_at(coef: np.ndarray, alphas: np.ndarray, betas: np.ndarray, flat: int) -> np.ndarray:
    """Normalized parameters (E, ln A, ln B, alpha, beta) at flat index ``flat`` of the grid."""
    i, j = divmod(int(flat), betas.size)
    A, B = np.maximum(coef[1:], 1e-12)
    return np.array([coef[0], np.log(A), np.log(B), alphas[i], betas[j]])


GRID_BLOCK = 1 << 20  # elements of a (rows, grid points, runs) block of the exact objective


@one_blas_thread
def grid_profile(u: np.ndarray, v: np.ndarray, y: np.ndarray, grid: np.ndarray, delta: float,
                 betas: np.ndarray | None = None, counts: np.ndarray | None = None):
    """The variable-projection profile on an exponent grid (alpha in ``grid``, beta in ``betas``,
    by default the same grid), for B rows (resamples) at once.

    For each (alpha_i, beta_j) the law is linear in c = (E, A, B): c >= 0 minimizes the weighted
    least squares sum_k w_k^2 (L_k - E - A f_ik - B g_jk)^2, w = 1/L, f_ik = exp(-alpha_i u_k),
    g_jk = exp(-beta_j v_k). Its normal equations need only sums that separate over i and j, plus
    one matrix product for sum w^2 f_ik g_jk, so the whole grid costs O((Ga + Gb) n + Ga Gb n)
    flops in BLAS. The exact objective sum Huber_delta(ln L - ln(E + A f + B g)) is then evaluated
    at every grid point. With ``counts`` (B, n) run k weighs counts[b, k] in both sums (the weight
    of a resample's draws). Returns c (B, Ga, Gb, 3) and the objective (B, Ga, Gb).
    """
    loss = np.exp(y)
    w = 1.0 / loss
    w2 = w * w
    if counts is not None:
        w2 = w2 * counts
        w = w * counts
    betas = grid if betas is None else betas
    f = np.exp(-grid[None, :, None] * u[:, None, :])                 # (B, Ga, n)
    g = np.exp(-betas[None, :, None] * v[:, None, :])                # (B, Gb, n)
    # the normal equations M c = t, each entry broadcastable to (B, Ga, Gb): i indexes alpha, j beta
    m = _Gram(m00=w2.sum(axis=1)[:, None, None],
              m01=np.einsum("bin,bn->bi", f, w2)[:, :, None],
              m02=np.einsum("bjn,bn->bj", g, w2)[:, None, :],
              m11=np.einsum("bin,bin,bn->bi", f, f, w2)[:, :, None],
              m12=np.matmul(f * w2[:, None, :], g.transpose(0, 2, 1)),
              m22=np.einsum("bjn,bjn,bn->bj", g, g, w2)[:, None, :])
    t = (w.sum(axis=1)[:, None, None], np.einsum("bin,bn->bi", f, w)[:, :, None],
         np.einsum("bjn,bn->bj", g, w)[:, None, :])
    coef = _nonnegative_normal_equations_3(m, t, (u.shape[0], grid.size, betas.size))
    obj = np.empty(coef.shape[:-1])
    rows_per_block = max(1, GRID_BLOCK // (grid.size * betas.size * u.shape[1]))
    for lo in range(0, u.shape[0], rows_per_block):
        b = slice(lo, lo + rows_per_block)
        obj[b] = _grid_huber(coef[b], f[b], g[b], y[b], delta, None if counts is None else counts[b])
    return coef, np.where(np.isfinite(obj), obj, np.inf)


HUBER_BLOCK = 1 << 16  # float32 elements per block of the grid objective: three such buffers stay in cache


def _grid_huber(coef, f, g, y, delta, counts=None):
    """sum_k c_k Huber(y_k - ln(E + A f_ik + B g_jk)) at every grid point (i, j), for a block of
    rows (c: ``counts``, or 1).

    Evaluated in single precision: it only ranks grid points to choose where the polish starts
    (which runs in double precision). The (row, alpha) pairs are taken a few at a time into three
    reused buffers, so every pass over the data stays in cache and no large array is allocated.
    """
    b, ga, gb, _ = coef.shape
    n = f.shape[-1]
    c = coef.astype(np.float32).reshape(b * ga, gb, 3)
    f32 = f.astype(np.float32).reshape(b * ga, n)
    g32, y32 = g.astype(np.float32), y.astype(np.float32)
    c32 = None if counts is None else counts.astype(np.float32)
    owner = np.repeat(np.arange(b), ga)                                  # data row of each (row, alpha)
    half, delta32, tiny = np.float32(0.5), np.float32(delta), np.float32(1e-30)
    step = max(1, HUBER_BLOCK // (gb * n))
    buffers = np.empty((3, step, gb, n), dtype=np.float32)
    out = np.empty((b * ga, gb))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for lo in range(0, b * ga, step):
            k = min(step, b * ga - lo)
            pred, m, scratch = buffers[0, :k], buffers[1, :k], buffers[2, :k]
            block, rows = slice(lo, lo + k), owner[lo:lo + k]
            np.multiply(c[block, :, 1, None], f32[block, None, :], out=pred)     # A f
            np.multiply(c[block, :, 2, None], g32[rows], out=m)                  # B g
            pred += m
            pred += c[block, :, 0, None]
            np.maximum(pred, tiny, out=pred)
            r = np.log(pred, out=pred)
            np.subtract(y32[rows, None, :], r, out=r)
            # Huber as m (|r| - m / 2) with m = min(|r|, delta), the same arithmetic as huber()
            np.abs(r, out=r)
            np.minimum(r, delta32, out=m)
            np.multiply(m, half, out=scratch)
            r -= scratch
            r *= m
            if c32 is not None:
                r *= c32[rows, None, :]
            r.sum(axis=-1, dtype=np.float64, out=out[block])
    return out.reshape(b, ga, gb)


def _best_local_minima(surface: np.ndarray, count: int) -> np.ndarray:
    """Flat indices of up to ``count`` grid points in different basins, to start the polish from.

    In order: the local minima of the 2-D grid (8-neighbourhood), lowest first; then the local
    minima of the two 1-D profiles (the lowest point of each row, as a function of alpha, and of
    each column, as a function of beta), which find valleys that run diagonally or along a flat
    ridge; then the lowest remaining points. A point whose objective ties one already chosen (a
    plateau: with B = 0, say, beta does not matter) is skipped.
    """
    flat = surface.ravel()
    rows, cols = surface.shape
    padded = np.pad(surface, 1, constant_values=np.inf)
    is_min = np.ones_like(surface, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                is_min &= surface <= padded[1 + di:1 + di + rows, 1 + dj:1 + dj + cols]
    by_value = lambda idx: np.asarray(idx, dtype=int)[np.argsort(flat[np.asarray(idx, dtype=int)], kind="stable")]
    best_j = np.argmin(surface, axis=1)                                # lowest beta of each alpha
    best_i = np.argmin(surface, axis=0)                                # lowest alpha of each beta
    along_alpha = np.arange(rows) * cols + best_j
    along_beta = best_i * cols + np.arange(cols)
    candidates = [by_value(np.flatnonzero(is_min.ravel())),
                  by_value(along_alpha[_local_minima_1d(flat[along_alpha])]),
                  by_value(along_beta[_local_minima_1d(flat[along_beta])]),
                  np.argsort(flat, kind="stable")]
    chosen: list[int] = []
    for index in np.concatenate(candidates):
        value = flat[index]
        if not np.isfinite(value) or any(abs(value - flat[k]) <= 1e-10 * abs(flat[k]) for k in chosen):
            continue
        chosen.append(int(index))
        if len(chosen) == count:
            break
    return np.asarray(chosen, dtype=int)


def _local_minima_1d(values: np.ndarray) -> np.ndarray:
    padded = np.pad(values, 1, constant_values=np.inf)
    return np.flatnonzero((values <= padded[:-2]) & (values <= padded[2:]))


@dataclass(frozen=True)
class _Gram:
    """The six distinct entries of a symmetric 3 x 3 matrix M, each an array (broadcastable)."""

    m00: np.ndarray
    m01: np.ndarray
    m02: np.ndarray
    m11: np.ndarray
    m12: np.ndarray
    m22: np.ndarray

    def entry(self, i: int, j: int) -> np.ndarray:
        i, j = min(i, j), max(i, j)
        return getattr(self, f"m{i}{j}")


def _nonnegative_normal_equations_3(m: _Gram, t: tuple, shape: tuple) -> np.ndarray:
    """min c^T M c - 2 c^T t over c >= 0 (a least-squares problem in normal form) at every grid
    point: entries of M and t broadcast to ``shape``; returns c (shape + (3,)).

    Solves every subset S of free coefficients in closed form (M_SS c = t_S, with a relative ridge
    of 1e-14 (1 + |M_ii|) on the diagonal, plus one step of iterative refinement: Cramer's rule
    alone loses accuracy on ill-conditioned grid points) and keeps the feasible one with the lowest
    c^T M c - 2 c^T t, computed as such (exact for 3 unknowns).
    """
    diag = [m.entry(i, i) * (1 + 1e-14) + 1e-14 for i in range(3)]     # M_ii + 1e-14 (1 + |M_ii|)
    best = np.zeros(shape + (3,))
    best_value = np.zeros(shape)                                  # c = 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for size in (1, 2, 3):
            for idx in itertools.combinations(range(3), size):
                c = _solve_subset(m, diag, t, idx)
                if size > 1:
                    residual = [0.0, 0.0, 0.0]
                    for i, mc in zip(idx, _product(m, diag, c, idx)):
                        residual[i] = t[i] - mc
                    c = [c_k + d_k for c_k, d_k in zip(c, _solve_subset(m, diag, residual, idx))]
                value = sum(c_a * c_b * m.entry(i, j) for c_a, i in zip(c, idx) for c_b, j in zip(c, idx)) \
                    - 2.0 * sum(c_k * t[i] for c_k, i in zip(c, idx))
                better = np.isfinite(value) & (value < best_value)
                for c_k in c:
                    better &= c_k >= 0
                for c_k, i in zip(c, idx):
                    best[..., i] = np.where(better, c_k, best[..., i])
                for i in set(range(3)) - set(idx):
                    best[..., i] = np.where(better, 0.0, best[..., i])
                best_value = np.where(better, value, best_value)
    return best


def _product(m: _Gram, diag: list, c: list, idx: tuple) -> list:
    """M_SS c for the subset S = idx, with the ridged diagonal ``diag``."""
    return [sum((diag[i] if i == j else m.entry(i, j)) * c_j for c_j, j in zip(c, idx)) for i in idx]


def _solve_subset(m: _Gram, diag: list, t: tuple, idx: tuple) -> list:
    """Solve M_SS c = t_S (ridged diagonal ``diag``) for the coefficients S = idx, in closed form
    (Cramer's rule); returns the coefficients of S in order."""
    if len(idx) == 1:
        (i,) = idx
        return [t[i] / diag[i]]
    if len(idx) == 2:
        i, j = idx
        off = m.entry(i, j)
        det = diag[i] * diag[j] - off * off
        return [(diag[j] * t[i] - off * t[j]) / det, (diag[i] * t[j] - off * t[i]) / det]
    a, b, c, d, e, f = diag[0], m.m01, m.m02, diag[1], m.m12, diag[2]
    adj00, adj01, adj02 = d * f - e * e, c * e - b * f, b * e - c * d
    adj11, adj12, adj22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * adj00 + b * adj01 + c * adj02
    return [(adj00 * t[0] + adj01 * t[1] + adj02 * t[2]) / det,
            (adj01 * t[0] + adj11 * t[1] + adj12 * t[2]) / det,
            (adj02 * t[0] + adj12 * t[1] + adj22 * t[2]) / det]


def _objective_and_gradient(theta, data: _Normalized, delta: float):
    """Sum of Huber losses and its gradient; inf (rejected by the line search) on overflow."""
    E, la, lb, alpha, beta = theta
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        g1 = np.exp(la - alpha * data.u)
        g2 = np.exp(lb - beta * data.v)
        pred = E + g1 + g2
        r = data.y - np.log(pred)
        psi = np.clip(r, -delta, delta)
        obj = huber(r, delta).sum()
        # d r / d theta = -(d pred / d theta) / pred
        dpred = np.stack([np.ones_like(g1), g1, g2, -g1 * data.u, -g2 * data.v])
        grad = -(psi / pred) @ dpred.T
    if not np.isfinite(obj) or not np.all(np.isfinite(grad)):
        return np.inf, np.zeros_like(theta)
    return obj, grad


def polish_lbfgs(data: _Normalized, theta0: np.ndarray, delta: float) -> tuple[np.ndarray, float]:
    """The papers' optimizer (L-BFGS-B on the Huber sum) from one start: the slow reference path."""
    from scipy.optimize import minimize

    bounds = [(0.0, None), (None, None), (None, None), EXPONENT_BOUNDS, EXPONENT_BOUNDS]
    result = minimize(_objective_and_gradient, theta0, args=(data, delta), jac=True, method="L-BFGS-B",
                      bounds=bounds, options=dict(maxiter=5000, maxfun=20000, ftol=1e-15, gtol=1e-12))
    return result.x, float(result.fun)


# ----- fitting a family and bootstrapping it ----------------------------------------------------

def fit_chinchilla(n_params, tokens, loss, family: str = "", delta: float = HUBER_DELTA,
                   k: float = FLOPS_PER_PARAM_TOKEN):
    """Fit L(N, D) to one family's runs; a FitResult whose law is the compute-optimal frontier."""
    from .fitting import FitResult

    n_params, tokens, loss = (np.asarray(x, dtype=float) for x in (n_params, tokens, loss))
    params, objective = fit_chinchilla_params(n_params, tokens, loss, delta)
    law = ChinchillaLaw(flops_per_param_token=k, huber_delta=delta)
    resid = np.log(loss) - np.log(law.predict_nd(params, n_params, tokens))
    flops = k * n_params * tokens
    report = (f"[[Fit]] {law.formula}; objective sum Huber(delta={delta:g}) of ln-loss residuals = "
              f"{objective:.6g}; {loss.size} runs\n" +
              "\n".join(f"    {name:6s} = {value:.6g}" for name, value in zip(law.param_names, params)))
    return FitResult(family=family, law=law, params=params, stderr=np.full(5, np.nan), objective=objective,
                     rmse_log=float(np.sqrt(np.mean(resid ** 2))), n_runs=loss.size,
                     flops_min=float(flops.min()), flops_max=float(flops.max()), written_report=report,
                     flops=flops, loss=loss, model_params=n_params, tokens=tokens)


RESAMPLE_CHUNK = 125     # resamples per batched refit (fixed: results never depend on workers)
CHUNK_RUN_ROWS = 30_000  # at most this many (resample, run) pairs per chunk: its exponent grid holds
                         # 2 x 64 values per pair (30,000: 125 resamples of 240 runs, about 31 MB)


def resample_chunk(n_runs: int) -> int:
    """Resamples refitted together: RESAMPLE_CHUNK, fewer for long ladders so that a chunk's
    memory stays bounded (a 10,000-row ladder took 2.2 GB with 125 per chunk)."""
    return max(1, min(RESAMPLE_CHUNK, CHUNK_RUN_ROWS // max(n_runs, 1)))


def bootstrap_chinchilla(fit, n_resamples: int, seed: int, progress=None, delta: float = HUBER_DELTA,
                         workers: int | None = None, runs=None):
    """Refit L(N, D) on resamples of the family's runs: batched, in chunks (fixed for a ladder's
    length) shared by ``workers`` processes (default: all cores when that pays); the same for any
    number of workers. With ``runs`` (a label per row: rows of one label are checkpoints of one
    run) a resample draws whole runs, as many as there are, each with all its rows
    (:func:`draw_run_counts`); otherwise it draws rows."""
    from .uncertainty import BootstrapFits, family_rng, map_chunks, resample_count_chunks, resolve_workers

    n = fit.n_runs
    size = resample_chunk(n)
    rng = family_rng(seed, fit.family)
    if runs is None:
        draws = resample_row_chunks(rng, n, n_resamples, size)
    else:
        draws = resample_count_chunks(rng, n, n_resamples, size, runs)
    chunks = [(fit.model_params, fit.tokens, fit.loss, d, fit.params, delta) for d in draws]
    workers = resolve_workers(workers, seconds_estimate=4e-5 * n * n_resamples)
    results = map_chunks(_refit_chunk, chunks, workers, progress, sizes=[len(d) for d in draws])
    if not results:
        return BootstrapFits(family=fit.family, law=fit.law, params=np.zeros((0, 5)), ok=np.zeros(0, bool))
    params = np.concatenate([p for p, _ in results])
    ok = np.concatenate([good for _, good in results])
    return BootstrapFits(family=fit.family, law=fit.law, params=np.where(ok[:, None], params, np.nan), ok=ok)


def resample_row_chunks(rng: np.random.Generator, n: int, n_resamples: int, size: int) -> list[np.ndarray]:
    """The row numbers of ``n_resamples`` resamples of n rows drawn with replacement, ``size`` at a
    time and in the smallest unsigned type that holds them (the generator's draws in order, so they
    equal one draw of all resamples: 1,000 resamples of 50,000 rows were 0.4 GB as int64)."""
    from .uncertainty import chunk_sizes, smallest_unsigned

    return [smallest_unsigned(rng.integers(0, n, size=(m, n))) for m in chunk_sizes(n_resamples, size)]


def _refit_chunk(chunk):
    """Refit one chunk of resamples: ``draws`` is either row numbers (m, n) or a CountChunk of
    whole runs (every row, counted as often as its run was drawn)."""
    n_params, tokens, loss, draws, start, delta = chunk
    if isinstance(draws, np.ndarray):
        rows, counts = draws.astype(np.intp), None
    else:
        counts = draws.expand()
        rows = np.broadcast_to(np.arange(counts.shape[1]), counts.shape)
    p, obj = fit_chinchilla_resamples(n_params, tokens, loss, rows, start, delta, counts)
    good = (np.all(np.isfinite(p), axis=1) & np.isfinite(obj)
            & _identifiable(n_params[rows], tokens[rows], counts))
    return p, good


def _identifiable(n_params: np.ndarray, tokens: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Rows with at least 3 distinct N, 3 distinct D and ln D not a linear function of ln N (among
    the runs with a positive count, when ``counts`` weighs them)."""
    drawn = np.ones(n_params.shape, dtype=bool) if counts is None else counts > 0
    distinct_n = np.array([np.unique(r[d]).size for r, d in zip(n_params, drawn)])
    distinct_d = np.array([np.unique(r[d]).size for r, d in zip(tokens, drawn)])
    return (distinct_n >= 3) & (distinct_d >= 3) & (collinearity(n_params, tokens, counts) < COLLINEAR_R2)


COLLINEAR_R2 = 0.9999


def collinearity(n_params, tokens, counts=None) -> np.ndarray:
    """R^2 of ln D regressed on ln N, per row (1 when tokens are a power of parameters); with
    ``counts``, each run weighs its count (the R^2 of the rows repeated that often)."""
    x = np.log(np.atleast_2d(n_params))
    y = np.log(np.atleast_2d(tokens))
    if counts is None:
        x = x - x.mean(axis=1, keepdims=True)
        y = y - y.mean(axis=1, keepdims=True)
        c = 1.0
    else:
        c = np.atleast_2d(counts)
        x = x - (c * x).sum(1, keepdims=True) / c.sum(1, keepdims=True)
        y = y - (c * y).sum(1, keepdims=True) / c.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = (c * x * y).sum(1) ** 2 / ((c * x * x).sum(1) * (c * y * y).sum(1))
    return np.where(np.isfinite(r2), r2, 1.0)


ALLOCATION_FIELDS = ("n_opt", "d_opt", "tokens_per_param", "loss", "a", "b")


def allocation_with_bands(fit, draws, flops: float, level: float) -> dict[str, tuple[float, float, float]]:
    """Each allocation quantity at compute ``flops`` as (value, low, high); bands from bootstrap draws."""
    from .uncertainty import percentile_band

    k = fit.law.flops_per_param_token
    point = allocation(fit.params, flops, k)
    out = {}
    for name in ALLOCATION_FIELDS:
        low = high = float("nan")
        if draws is not None:
            sampled = allocation(draws.params[draws.ok], flops, k)[name]
            low, high = percentile_band(sampled, level)
        out[name] = (float(point[name]), low, high)
    return out
