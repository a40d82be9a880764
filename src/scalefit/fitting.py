"""Global least-squares fits of compute laws, vectorized over bootstrap resamples.

Objective (every law): the sum over runs of squared log-space residuals,

    S = sum_i (ln L_i - ln L(C_i))^2,

i.e. least squares on relative error. Compute is normalized internally, x = C / C_ref with C_ref the
geometric mean of the family's compute, so that the coefficient is of order one; parameters are
reported in the user's units (A_user = A_norm * C_ref^alpha).

Saturating law L = E + A x^(-alpha), with 0 <= E < min L_i and alpha > 0. No starting values are
needed: for each alpha on a log-spaced grid the problem is linear in (E, A), solved exactly in the
relative-error weighting w_i = 1 / L_i (a first-order approximation of the log residual) with E
held inside its bounds. Along that profile, the two lowest local minima of its weighted objective
and the two lowest of the exact log objective (in single precision) are polished with a bounded
Levenberg-Marquardt on (E, ln A, alpha), starts of one ladder that meet in a basin merged.
The grid reaches down to alpha = 1e-6; for nearly flat ladders the best law on the face E = 0
(a power law, in closed form; the face is E = e_min when a profile bounds E) is polished as well.
With E fixed by the user (``SaturatingLaw.with_fixed_E``) the same search runs with E bounded to
that value, over (ln A, alpha). Power law L = A x^(-alpha): ln L is linear in (ln A, alpha), solved
in closed form.

The engine works on arrays of shape (B, n): B ladders of n runs each, all solved at once. A
bootstrap resample is the ladder's own runs, each counted as often as it was drawn: the objective
becomes sum_i c_i r_i^2 and all resamples share the runs, so the grid work is matrix products.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property

import numpy as np

from .equality import ValueEquality
from .laws import Law, PowerLaw, SaturatingLaw
from .threads import one_blas_thread

# 160 exponents from 1e-3 to 4, and 12 below down to the bound 1e-6: a nearly flat ladder's optimum
# can sit there, where E and A trade off (the law is then close to a power law with a tiny exponent)
ALPHA_GRID = np.concatenate([np.geomspace(1e-6, 1e-3, 12, endpoint=False), np.geomspace(1e-3, 4.0, 160)])
ALPHA_BOUNDS = (1e-6, 10.0)
E_CEILING = 1.0 - 1e-9  # E stays below (1 - 1e-9) * the smallest observed loss
FIXED_E_CEILING = 1.0 - 2e-9  # a fixed E must lie below this times the smallest loss: the engine's bound on E,
                              # computed from ln L, then never moves it
LM_ITERATIONS = 1000
START_DAMPING = 1e-6  # the grid's starts are close: LM begins nearly at Gauss-Newton (1e-3: 40% more steps)
# Relative change of the objective that counts as rounding in the saturating polish. A residual
# r = y - f computed from values of size |y| carries an error of about eps |y|, so sum r^2 is known
# to about 2 eps |y| / |r| relative: 1e-13 for |y| ~ 1 and residuals of 0.5%, hence 1e-12
# (parameters then sit within about 1e-6 relative of the minimum along the flattest direction)
FLAT_RTOL = 1e-12
FACE_ITERATIONS = 20


@dataclass(frozen=True)
class EngineResult:
    """Fits of B resamples: user-unit parameters (B, p), objective (B,), and which succeeded."""

    params: np.ndarray
    objective: np.ndarray
    ok: np.ndarray


def fit_many(flops: np.ndarray, loss: np.ndarray, law: Law, c_ref: float | None = None,
             counts: np.ndarray | None = None) -> EngineResult:
    """Fit ``law`` to each row of ``flops`` and ``loss`` (arrays of shape (B, n)).

    With ``counts`` (B, n), ``flops`` and ``loss`` are one set of n runs (shape (n,)) and row b is
    those runs with run i counted ``counts[b, i]`` times: exactly the fit of the rows that repeat
    each run that often (a bootstrap resample), at the cost of n distinct runs.

    A row fails (``ok`` False) when it has fewer distinct compute values than the law has
    parameters, when the fit is not finite, or when A in the user's compute units overflows or
    underflows a float (A = A_norm C_ref^alpha: e.g. alpha = 8 with compute near 1e40).
    """
    flops = np.atleast_2d(np.asarray(flops, dtype=float))
    loss = np.atleast_2d(np.asarray(loss, dtype=float))
    if counts is not None:
        counts = np.asarray(counts, dtype=float)
        if flops.shape[0] != 1 or counts.shape[1:] != flops.shape[1:]:
            raise ValueError(f"counts must be (rows, {flops.shape[-1]}) for one set of runs, got {counts.shape}")
    log_c = np.log(flops)
    log_ref = float(np.mean(log_c)) if c_ref is None else float(np.log(c_ref))
    runs = Runs(log_c - log_ref, np.log(loss), counts)
    if isinstance(law, SaturatingLaw):
        e_bounds = {} if law.fixed_E is None else {"e_min": law.fixed_E, "e_max": law.fixed_E}
        theta, ssr = fit_saturating_rows(runs.u, runs.y, counts=counts, **e_bounds)
        with np.errstate(over="ignore", under="ignore"):      # A beyond a float in these units: not ok, below
            params = np.column_stack([theta[:, 0], np.exp(theta[:, 1] + theta[:, 2] * log_ref), theta[:, 2]])
    elif isinstance(law, PowerLaw):
        theta, ssr = _fit_power(runs.u, runs.y, counts)
        with np.errstate(over="ignore", under="ignore"):
            params = np.column_stack([np.exp(theta[:, 0] + theta[:, 1] * log_ref), theta[:, 1]])
    else:
        raise TypeError(f"no fitting engine for law {law.name!r}")
    ok = ((_distinct_per_row(flops, counts) >= law.n_free) & np.all(np.isfinite(params), axis=1)
          & np.isfinite(ssr) & representable_a(params, law) & _holds_fixed(params, law))
    return EngineResult(params=params, objective=ssr, ok=ok)


def _holds_fixed(params: np.ndarray, law: Law) -> np.ndarray:
    """Per row: the fixed parameters kept their values (a fixed E at or above a row's smallest loss
    cannot be: the engine's bound on E stops it below that loss)."""
    ok = np.ones(params.shape[0], dtype=bool)
    for name, value in law.fixed.items():
        ok &= params[:, law.param_names.index(name)] == value
    return ok


def unreachable_ssrs(flops: np.ndarray, loss: np.ndarray, target_loss: np.ndarray) -> np.ndarray:
    """Best log-space SSR of the saturating law with E >= the target loss, i.e. among fits for which
    the target is unreachable, for each row of ``flops`` and ``loss`` (B, n) and its target (B,),
    fitted together; inf where the target is at or above the row's smallest loss."""
    out = np.full(flops.shape[0], np.inf)
    rows = np.flatnonzero(target_loss < loss.min(axis=1) * E_CEILING)
    if rows.size:
        log_c = np.log(flops[rows])
        u = log_c - log_c.mean(axis=1, keepdims=True)
        out[rows] = fit_saturating_rows(u, np.log(loss[rows]), e_min=target_loss[rows])[1]
    return out


def _distinct_per_row(values: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Distinct values per row of ``values`` (B, n); with ``counts``, among the runs of the single
    row of ``values`` that each row of counts draws."""
    if counts is None:
        ordered = np.sort(values, axis=1)
        return 1 + np.count_nonzero(np.diff(ordered, axis=1) > 0, axis=1)
    order = np.argsort(values[0], kind="stable")
    ordered = values[0][order]
    group_starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    drawn = np.add.reduceat(counts[:, order], group_starts, axis=1) > 0        # (B, distinct values)
    return drawn.sum(axis=1)


@dataclass(frozen=True)
class Runs:
    """The runs of B least-squares problems: ``u`` = ln(C / C_ref) and ``y`` = ln L, each (B, n),
    or (1, n) when all rows share them; ``counts`` (B, n), or None for all ones, multiplies each
    run's squared residual. A bootstrap resample is the original runs with counts (how often each
    run was drawn), so all resamples share u and y and the grid work is matrix products."""

    u: np.ndarray
    y: np.ndarray
    counts: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return self.counts.shape[0] if self.shared else self.u.shape[0]

    @property
    def shared(self) -> bool:
        """True when the rows are weightings (counts) of one set of runs. Only then is the grid
        computed by matrix products: a ladder fitted alone takes the same path as in a batch."""
        return self.counts is not None and self.u.shape[0] == 1

    def take(self, rows) -> "Runs":
        """The runs of the given rows (an index array or a slice)."""
        counts = None if self.counts is None else self.counts[rows]
        if self.u.shape[0] == 1:
            return Runs(self.u, self.y, counts)
        return Runs(self.u[rows], self.y[rows], counts)

    def weights(self) -> np.ndarray:
        return np.ones_like(self.u) if self.counts is None else self.counts

    def smallest_loss(self) -> np.ndarray:
        """Smallest loss of each row's runs (counted at least once)."""
        loss = np.exp(self.y)
        if self.counts is None:
            return loss.min(axis=1)
        return np.where(self.counts > 0, loss, np.inf).min(axis=1)


# ----- power law: closed form ---------------------------------------------------------------

def _fit_power(u: np.ndarray, y: np.ndarray, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of ln L = a - alpha u per row, each run weighted by its count (default 1);
    returns (a, alpha) and the weighted SSR. ``u`` may be one row shared by all rows of ``y``."""
    c = np.ones_like(y) if counts is None else counts
    total = c.sum(axis=1, keepdims=True)
    u_mean = (c * u).sum(axis=1, keepdims=True) / total
    y_mean = (c * y).sum(axis=1, keepdims=True) / total
    du, dy = u - u_mean, y - y_mean
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (c * du * dy).sum(axis=1) / (c * du * du).sum(axis=1)
    alpha = -slope
    a = y_mean[:, 0] + alpha * u_mean[:, 0]
    resid = y - (a[:, None] - alpha[:, None] * u)
    return np.column_stack([a, alpha]), (c * resid ** 2).sum(axis=1)


# ----- saturating law: profile over alpha, then bounded Levenberg-Marquardt -----------------

ROW_BLOCK = 1 << 20  # elements of a (rows, runs) block: many long rows are fitted a block at a time
GRID_CANDIDATES = 4  # starts from the grid: the two lowest local minima of each of its two profiles
FLAT_PROFILE = 1e-3  # relative spread of the exact profile below which it is computed in double precision
FACE_MARGIN = 1.5    # the power-law face is polished when within this factor of the best objective


def row_blocks(n_rows: int, elements_per_row: int, elements: int = ROW_BLOCK) -> list[slice]:
    """Slices of range(n_rows) whose blocks hold about ``elements`` elements: memory and time per
    element stay flat however long the rows are."""
    step = max(1, elements // max(1, elements_per_row))
    return [slice(lo, min(lo + step, n_rows)) for lo in range(0, n_rows, step)]


def fit_saturating_rows(u: np.ndarray, y: np.ndarray, e_min=0.0, e_max=None,
                        counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return theta = (E, ln A_norm, alpha) per row and the log-space SSR sum_i c_i r_i^2, with
    e_min <= E <= e_max (default: just below the row's smallest loss). ``u`` and ``y`` are (B, n),
    or (1, n) shared by the B rows of ``counts``. Rows are taken in blocks of bounded size, so
    that memory, and time per run, stay flat for long rows."""
    runs = Runs(u, y, counts)
    ceiling = runs.smallest_loss() * E_CEILING
    e_max = ceiling if e_max is None else np.minimum(np.broadcast_to(np.asarray(e_max, float), ceiling.shape), ceiling)
    e_min = np.minimum(np.broadcast_to(np.asarray(e_min, dtype=float), e_max.shape), e_max)
    chunks = row_blocks(runs.n_rows, u.shape[1])
    if len(chunks) > 1:
        parts = [_fit_saturating_block(runs.take(c), e_min[c], e_max[c]) for c in chunks]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return _fit_saturating_block(runs, e_min, e_max)


def _fit_saturating_block(runs: Runs, e_min, e_max):
    theta0, owner = _starts_from_grid(runs, e_min, e_max)
    theta, ssr = _saturating_lm(runs.take(owner), theta0, e_min[owner], e_max[owner], problem=owner)
    best = lowest_per_owner(ssr, owner, runs.n_rows)
    return _polish_power_law_face(runs, e_min, e_max, theta[best], ssr[best])


GRID_BLOCK = 1 << 15  # elements of a (rows, alphas) block of the grid: its dozen arrays stay in cache


def _starts_from_grid(runs: Runs, e_min, e_max):
    """The polish's starts of every row, from the profiles along ALPHA_GRID (see ``_grid_starts``),
    computed a block of rows at a time: each block's (rows, alphas) arrays stay in cache, which
    makes the grid about 40% faster for 1,000 resamples than one pass over all rows (measured).
    Returns the starts (k, 3) and the row each belongs to."""
    starts, owners = [], []
    for rows in row_blocks(runs.n_rows, ALPHA_GRID.size, GRID_BLOCK):
        block = runs.take(rows)
        E, A, Q = linear_profile_over_alpha(block, e_min[rows], e_max[rows], ALPHA_GRID)
        theta0, owner = _grid_starts(block, E, A, Q, ALPHA_GRID)
        starts.append(theta0)
        owners.append(owner + rows.start)
    return np.concatenate(starts), np.concatenate(owners)


def _grid_starts(runs: Runs, E, A, Q, alphas):
    """Starts for the polish, taken along the grid profile (E, A)(alpha): the two lowest local
    minima of Q (right when residuals are small) and the two lowest of the exact log-space SSR in
    single precision, double where it is nearly flat (right when residuals are not small), each once.
    Returns the starts (E, ln A, alpha), (k, 3), and the row each belongs to."""
    by_q, valid_q = lowest_local_minima(Q, GRID_CANDIDATES // 2)
    by_exact, valid_exact = lowest_local_minima(_exact_profile(runs, E, A, alphas), GRID_CANDIDATES // 2)
    valid_exact &= np.all(by_exact[:, :, None] != by_q[:, None, :], axis=2)         # not already a start
    valid_exact[:, 1] &= by_exact[:, 1] != by_exact[:, 0]
    owner, which = np.nonzero(np.concatenate([valid_q, valid_exact], axis=1))
    column = np.concatenate([by_q, by_exact], axis=1)[owner, which]
    return np.column_stack([E[owner, column], np.log(A[owner, column]), alphas[column]]), owner


def lowest_local_minima(profile: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns (B, k) of the k lowest local minima of each row of ``profile`` (B, G), lowest first,
    and whether each is one (rows with fewer minima repeat their lowest, marked invalid)."""
    is_min = np.ones(profile.shape, dtype=bool)
    is_min[:, 1:] &= profile[:, 1:] <= profile[:, :-1]
    is_min[:, :-1] &= profile[:, :-1] <= profile[:, 1:]
    masked = np.where(is_min, profile, np.inf)
    rows = np.arange(profile.shape[0])
    columns = np.empty((profile.shape[0], k), dtype=np.intp)
    valid = np.empty((profile.shape[0], k), dtype=bool)
    for j in range(k):                       # k is small: k passes of argmin beat a sort
        columns[:, j] = np.argmin(masked, axis=1)
        valid[:, j] = np.isfinite(masked[rows, columns[:, j]])
        masked[rows, columns[:, j]] = np.inf
    valid[:, 0] = True
    columns = np.where(valid, columns, columns[:, :1])
    return columns, valid


def _exact_profile(runs: Runs, E, A, alphas):
    """The log-space SSR sum_i c_i (y_i - ln(E + A x_i^-alpha))^2 at every grid point (B, G).

    Computed in single precision (three times as fast, and enough to rank basins), except for rows
    whose profile is so flat (relative spread below FLAT_PROFILE) that single-precision rounding
    could hide a minimum: those are computed again in double precision."""
    profile = _exact_profile_in(runs, E, A, alphas, np.float32).astype(float)
    low = profile.min(axis=1)
    flat = np.flatnonzero(~(profile.max(axis=1) - low > FLAT_PROFILE * low))
    if flat.size:
        profile[flat] = _exact_profile_in(runs.take(flat), E[flat], A[flat], alphas, np.float64)
    return profile


def _exact_profile_in(runs: Runs, E, A, alphas, single):
    """The exact profile in the float type ``single``, in blocks of rows and alphas of about
    PROFILE_BLOCK elements, so that time and memory stay linear in the runs."""
    B, n = runs.n_rows, runs.u.shape[1]
    E, A = E.astype(single), A.astype(single)
    u, y, weights = runs.u.astype(single), runs.y.astype(single), runs.weights().astype(single)
    alphas_single = alphas.astype(single)
    out = np.empty(E.shape, dtype=single)
    rows_step = max(1, PROFILE_BLOCK // (alphas.size * n))
    alpha_step = max(1, min(alphas.size, PROFILE_BLOCK // n))
    buffer = np.empty(rows_step * alpha_step * n, dtype=single)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for lo in range(0, alphas.size, alpha_step):
            cols = slice(lo, min(lo + alpha_step, alphas.size))
            f = np.exp(-alphas_single[cols, None] * u) if runs.shared else None          # (g, n)
            for r0 in range(0, B, rows_step):
                rows = slice(r0, min(r0 + rows_step, B))
                p = buffer[:(rows.stop - r0) * (cols.stop - lo) * n].reshape(rows.stop - r0, -1, n)
                if f is None:
                    np.multiply(-alphas_single[None, cols, None], u[rows, None, :], out=p)
                    np.exp(p, out=p)
                    p *= A[rows, cols, None]
                else:
                    np.multiply(A[rows, cols, None], f, out=p)
                p += E[rows, cols, None]
                np.log(p, out=p)
                p -= _rows_of(y, rows)[:, None, :]
                p *= p
                out[rows, cols] = np.einsum("bgn,bn->bg", p, _rows_of(weights, rows))
    return np.where(np.isfinite(out), out, np.inf)


def _rows_of(values: np.ndarray, rows: slice) -> np.ndarray:
    """``values[rows]``, or ``values`` itself when it is one row shared by all."""
    return values if values.shape[0] == 1 else values[rows]


def _polish_power_law_face(runs: Runs, e_min, e_max, best_theta, best_ssr):
    """Nearly flat ladders: the optimum can sit at E = e_min with a tiny exponent, at the end of a
    valley along which E and A trade off. The best power law on that face (closed form) is
    polished too, for rows where it is a candidate: within FACE_MARGIN of the best objective and
    either below it or with the objective rising into the interior (dS/dE >= 0, a minimum on the
    face). Where the objective falls into the interior, the polish from the grid has followed it."""
    face = _power_law_face_start(runs, e_min)
    r, jac = _saturating_residuals(runs, face)
    face_ssr = (r * r).sum(axis=1)
    rises_inward = (jac[:, 0] * r).sum(axis=1) >= 0.0            # dS/dE = -2 sum r / pred * c
    near = np.flatnonzero((face_ssr <= FACE_MARGIN * best_ssr + 1e-300) & (rises_inward | (face_ssr < best_ssr)))
    best_theta, best_ssr = best_theta.copy(), best_ssr.copy()
    if near.size:
        theta_f, ssr_f = _saturating_lm(runs.take(near), face[near], e_min[near], e_max[near], FACE_ITERATIONS)
        better = ssr_f < best_ssr[near]
        best_theta[near[better]], best_ssr[near[better]] = theta_f[better], ssr_f[better]
    return best_theta, best_ssr


def _power_law_face_start(runs: Runs, e_min):
    """(E, ln A, alpha) with E = e_min and ln(L - e_min) = ln A - alpha u by (count-weighted) least
    squares, alpha clipped into its bounds. For e_min = 0 this is the exact optimum of the pure
    power law."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log(np.maximum(np.exp(runs.y) - e_min[:, None], 1e-300))
        theta, _ = _fit_power(runs.u, z, runs.counts)
    alpha = np.clip(np.nan_to_num(theta[:, 1], nan=ALPHA_BOUNDS[0]), ALPHA_BOUNDS[0], ALPHA_BOUNDS[1])
    a = np.nan_to_num(theta[:, 0], nan=0.0, posinf=0.0, neginf=0.0)
    return np.column_stack([e_min, a, alpha])


PROFILE_BLOCK = 1 << 18  # elements of a (resamples, alphas, runs) block: its two buffers stay in cache


def linear_profile_over_alpha(runs: Runs, e_min, e_max, alphas):
    """For each alpha, (E, A) minimizing the relative-error weighted least squares

        Q = sum_i c_i (L_i - E - A f_i)^2 / L_i^2,   f_i = x_i^-alpha,   e_min <= E <= e_max,

    the first-order approximation of the log-space SSR (ln L - ln P ~ (L - P) / L). With w2 = 1/L^2
    and the sums s11 = sum c w2, s12 = sum c w2 f, s22 = sum c w2 f^2, t0 = sum c, t1 = sum c w2 L,
    t2 = sum c w2 L f, it is closed form: E = (s22 t1 - s12 t2) / (s11 s22 - s12^2) clipped into
    its bounds, A = (t2 - E s12) / s22 and Q = t0 - 2 E t1 + E^2 s11 - (t2 - E s12)^2 / s22.
    Returns E, A and Q, each (B, G). Work and memory are linear in the number of runs.
    """
    loss = np.exp(runs.y)
    cw2 = runs.weights() / loss ** 2
    s11 = cw2.sum(axis=1)[:, None] * np.ones((runs.n_rows, 1))
    t1 = (cw2 * loss).sum(axis=1)[:, None] * np.ones((runs.n_rows, 1))
    t0 = runs.weights().sum(axis=1)[:, None] * np.ones((runs.n_rows, 1))
    s12, t2, s22 = _grid_sums(runs, cw2, cw2 * loss, alphas)
    # in place: these (B, G) arrays are the bulk of the grid's work
    s11_s22 = s11 * s22
    det = s12 * s12
    np.subtract(s11_s22, det, out=det)
    E = s12 * t2
    np.subtract(s22 * t1, E, out=E)
    with np.errstate(divide="ignore", invalid="ignore"):
        E /= det
    E[~(det > 1e-14 * s11_s22) | ~np.isfinite(E)] = 0.0       # collinear columns: E = 0
    np.clip(E, e_min[:, None], e_max[:, None], out=E)
    residual_t2 = E * s12
    np.subtract(t2, residual_t2, out=residual_t2)
    np.maximum(residual_t2, 0.0, out=residual_t2)               # A >= 0: then A = 1e-300, the term ~ 0
    A = residual_t2 / s22
    Q = residual_t2 * A
    np.maximum(A, 1e-300, out=A)
    np.subtract(t0 + E * (E * s11 - 2.0 * t1), Q, out=Q)
    return E, A, Q


def _grid_sums(runs: Runs, cw2, cw, alphas):
    """s12 = sum c w2 f, t2 = sum c w f and s22 = sum c w2 f^2 at every alpha, each (B, G), with
    f = exp(-alpha u). Shared runs: matrix products with f over the n runs; otherwise f per row,
    in blocks of about PROFILE_BLOCK elements computed in two reused buffers."""
    B, n = runs.n_rows, runs.u.shape[1]
    s12, t2, s22 = (np.empty((B, alphas.size)) for _ in range(3))
    if runs.shared:
        step = max(1, PROFILE_BLOCK // n)
        for lo in range(0, alphas.size, step):
            cols = slice(lo, min(lo + step, alphas.size))
            f = np.exp(-alphas[cols, None] * runs.u)                   # (g, n)
            s12[:, cols], t2[:, cols], s22[:, cols] = cw2 @ f.T, cw @ f.T, cw2 @ (f * f).T
        return s12, t2, s22
    buffers = np.empty(2 * max(PROFILE_BLOCK, n))
    rows_step = max(1, PROFILE_BLOCK // max(1, n))
    for r0 in range(0, B, rows_step):
        rows = slice(r0, min(r0 + rows_step, B))
        b = rows.stop - rows.start
        step = max(1, PROFILE_BLOCK // (b * n))
        for lo in range(0, alphas.size, step):
            cols = slice(lo, min(lo + step, alphas.size))
            size = b * (cols.stop - cols.start) * n
            f = buffers[:size].reshape(b, -1, n)
            squared = buffers[size:2 * size].reshape(b, -1, n)
            np.multiply(-alphas[None, cols, None], runs.u[rows, None, :], out=f)
            np.exp(f, out=f)
            np.multiply(f, f, out=squared)
            s12[rows, cols] = np.einsum("bgn,bn->bg", f, cw2[rows])
            t2[rows, cols] = np.einsum("bgn,bn->bg", f, cw[rows])
            s22[rows, cols] = np.einsum("bgn,bn->bg", squared, cw2[rows])
    return s12, t2, s22


def two_best_local_minima(profile: np.ndarray) -> np.ndarray:
    """Indices (B, 2) of the two lowest local minima of each row (the same one twice if only one)."""
    columns, _ = lowest_local_minima(profile, 2)
    return columns


def lowest_per_owner(values: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """Index of the lowest value of each owner 0..count-1 (the first one on ties)."""
    order = np.lexsort((np.arange(values.size), values, owner))
    first = np.flatnonzero(np.r_[True, owner[order][1:] != owner[order][:-1]])
    return order[first][:count]


def _saturating_residuals(runs: Runs, theta):
    """Residuals r = sqrt(c) (ln L - ln(E + exp(a - alpha u))) (B, n) and their Jacobian in
    theta = (E, a, alpha), laid out (B, 3, n)."""
    u = runs.u
    jac = np.empty((theta.shape[0], 3, u.shape[1]))
    # a trial step may overflow: its objective is then inf or nan and the step is rejected
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        g = np.exp(theta[:, 1:2] - theta[:, 2:3] * u)
        pred = theta[:, 0:1] + g
        r = runs.y - np.log(pred)
        if runs.counts is None:
            np.divide(-1.0, pred, out=jac[:, 0])                  # dr/dE = -1 / pred
        else:
            root = np.sqrt(runs.counts)
            r *= root
            np.divide(-root, pred, out=jac[:, 0])
        np.multiply(g, jac[:, 0], out=jac[:, 1])                  # dr/da = -g / pred
        np.multiply(jac[:, 1], -u, out=jac[:, 2])                 # dr/dalpha = g u / pred
    return r, jac


def saturating_lm(u, y, theta, e_min, e_max, iterations=LM_ITERATIONS, alpha_lo=None, alpha_hi=None):
    """Minimize the log-space SSR of the saturating law for all rows at once (rows of ``u`` and
    ``y``, (B, n)), with e_min <= E <= e_max and alpha_lo <= alpha <= alpha_hi (default ALPHA_BOUNDS)."""
    return _saturating_lm(Runs(u, y), theta, e_min, e_max, iterations, alpha_lo, alpha_hi)


def _saturating_lm(runs: Runs, theta, e_min, e_max, iterations=LM_ITERATIONS, alpha_lo=None, alpha_hi=None,
                   problem=None):
    alpha_lo = np.full_like(e_min, ALPHA_BOUNDS[0]) if alpha_lo is None else alpha_lo
    alpha_hi = np.full_like(e_max, ALPHA_BOUNDS[1]) if alpha_hi is None else alpha_hi
    lower = np.column_stack([e_min, np.full_like(e_min, -np.inf), alpha_lo])
    upper = np.column_stack([e_max, np.full_like(e_max, np.inf), alpha_hi])
    theta_out, ssr_out = np.empty_like(theta, dtype=float), np.empty(theta.shape[0])
    for c in row_blocks(theta.shape[0], runs.u.shape[1]):
        block = runs.take(c)
        theta_out[c], ssr_out[c] = bounded_least_squares(
            lambda th, rows, block=block: _saturating_residuals(block.take(rows), th),
            theta[c], lower[c], upper[c], iterations, problem=None if problem is None else problem[c],
            damping=START_DAMPING, flat_rtol=FLAT_RTOL)
    return theta_out, ssr_out


MERGE_TOLERANCE = 1e-4  # starts of one problem closer than this (relative, every parameter) share a basin
MERGE_EVERY = 4         # iterations between checks for such twins


@one_blas_thread
def bounded_least_squares(residuals, theta, lower, upper, iterations=LM_ITERATIONS, huber_delta=None,
                          problem=None, damping=1e-3, flat_rtol=1e-15, counts=None):
    """Levenberg-Marquardt on many independent problems at once, within box bounds.

    Minimizes sum_i c_i rho(r_i) per row, with rho(r) = r^2 (least squares) or, given ``huber_delta``,
    twice the Huber loss (r^2 inside delta, 2 delta |r| - delta^2 beyond), using the iteratively
    reweighted Gauss-Newton matrix J^T W J with W = c psi(r) / r. The weights c are ``counts``
    (B, n), how often each residual counts (a resample's draws), or 1.

    ``residuals(theta_rows, rows)`` returns residuals (b, n) and Jacobian (b, p, n) for the given
    rows; ``theta``, ``lower``, ``upper`` are (B, p). A parameter at a bound that the gradient
    pushes against is held fixed for that step (an active set), so a problem whose optimum sits on
    a bound converges like the smaller problem; a step that would cross a bound stops on it and the
    other parameters are re-solved there. The damping starts at ``damping`` (relative to the
    diagonal of J^T W J) and follows Nielsen's rule. A row stops when a trial changes its objective
    by at most ``flat_rtol`` (relative), when the model predicts no gain beyond rounding, or when
    its step underflows. Returns the parameters and the objective per row.

    ``problem`` (B,) marks rows that are starts of the same problem (same data). Every MERGE_EVERY
    iterations a start that has come within MERGE_TOLERANCE of a lower start of its problem stops
    where it is: both are in one basin and the lower one goes on to its minimum. Such a row's
    objective is then above its problem's best, so the lowest row of each problem is unaffected.
    """
    def objective_terms(r, rows):
        if huber_delta is None:
            rho, weight = r ** 2, np.ones_like(r)
        else:
            a = np.abs(r)
            inside = a <= huber_delta
            rho = np.where(inside, r * r, 2 * huber_delta * a - huber_delta ** 2)
            weight = np.where(inside, 1.0, huber_delta / np.maximum(a, 1e-300))
        if counts is not None:
            # a trial that overflows on a run of count 0 gives inf * 0 = nan and is rejected, as one
            # that overflows on a counted run is: steps stay where every run of the data is finite
            with np.errstate(invalid="ignore"):
                rho, weight = rho * counts[rows], weight * counts[rows]
        return rho.sum(axis=1), weight

    theta = np.clip(theta.copy(), lower, upper)
    n_rows = theta.shape[0]
    r, jac = residuals(theta, np.arange(n_rows))
    if jac.shape != (n_rows, theta.shape[1], r.shape[1]):
        raise ValueError(f"Jacobian must be (rows, parameters, residuals) = {(n_rows, theta.shape[1], r.shape[1])}, "
                         f"got {jac.shape}")
    obj, weight = objective_terms(r, slice(None))
    damping = np.full(n_rows, float(damping))
    growth = np.full(n_rows, 2.0)
    active = np.isfinite(obj)
    eye = np.eye(theta.shape[1])
    twins = None if problem is None else _pairs_within(np.asarray(problem))
    for iteration in range(iterations):
        if twins is not None and iteration % MERGE_EVERY == MERGE_EVERY - 1:
            active &= ~_merged_twins(theta, obj, active, twins)
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        sel = slice(None) if idx.size == n_rows else idx      # a view while every row is active
        J, rr, th, lo, hi = jac[sel], r[sel], theta[sel], lower[sel], upper[sel]
        lam, obj_old = damping[sel].copy(), obj[sel].copy()     # copies: the state is updated below
        jw = J if huber_delta is None and counts is None else J * weight[sel][:, None, :]
        jtj = jw @ J.transpose(0, 2, 1)                                # batched BLAS products
        grad = (jw @ rr[:, :, None])[:, :, 0]
        frozen = ((th <= lo) & (grad > 0)) | ((th >= hi) & (grad < 0))
        diag = np.einsum("bii->bi", jtj)
        h = jtj + lam[:, None, None] * (diag[:, :, None] * eye + 1e-12 * eye)
        if frozen.any():
            keep_mask = ~frozen
            h = h * keep_mask[:, :, None] * keep_mask[:, None, :] + frozen[:, :, None] * eye
        rhs = np.where(frozen, 0.0, -grad)
        free_step, face_step = _step_within_bounds(h, rhs, th, lo, hi)
        clipped_step = within(th + free_step, lo, hi) - th
        # decrease of the objective that the local quadratic model predicts for a step d:
        # -2 g.d - d^T J^T W J d. Of the clipped step and the step re-solved on the face it reaches,
        # the one the model prefers is taken.
        face_gain = _model_decrease(grad, jtj, face_step)
        clipped_gain = _model_decrease(grad, jtj, clipped_step)
        use_face = face_gain > clipped_gain
        trial = th + np.where(use_face[:, None], face_step, clipped_step)
        within(trial, lo, hi, out=trial)
        predicted = np.where(use_face, face_gain, clipped_gain)
        tiny_step = np.all(np.abs(trial - th) <= 1e-13 * (1.0 + np.abs(th)), axis=1)
        r_new, jac_new = residuals(trial, idx)
        obj_new, weight_new = objective_terms(r_new, idx)
        better = np.isfinite(obj_new) & (obj_new < obj_old)
        gain = np.where(better, obj_old - obj_new, 0.0)
        keep = idx[better]
        theta[keep], r[keep], jac[keep] = trial[better], r_new[better], jac_new[better]
        obj[keep], weight[keep] = obj_new[better], weight_new[better]
        lam_before = lam
        # Nielsen's update: after a step, the damping follows how well the model predicted the gain
        # (rho = gain / predicted); after a rejection it grows by a factor that doubles each time
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.where(better, gain / predicted, 0.0)
        shrink = np.maximum(1.0 / 3.0, 1.0 - (2.0 * within(rho, 0.0, 1.0) - 1.0) ** 3)
        lam = np.where(better, np.maximum(lam * shrink, 1e-12), lam * growth[sel])
        growth[idx] = np.where(better, 2.0, growth[sel] * 2.0)
        damping[idx] = lam
        # a trial whose objective differs from the current one only at the level of rounding, lower or
        # higher: at the minimum to working precision (without this, a converged row spends many
        # rejected steps raising its damping until its step is below rounding)
        flat = np.isfinite(obj_new) & (np.abs(obj_new - obj_old) <= flat_rtol * np.maximum(obj_old, 1e-300) + 1e-30)
        # a nearly Gauss-Newton step that the model says cannot lower the objective beyond rounding:
        # converged (without this, a converged row spends many rejected steps raising its damping)
        model_done = (lam_before <= 1e-3) & (_model_decrease(grad, jtj, free_step)
                                              <= 1e-15 * np.maximum(obj_old, 1e-300) + 1e-30)
        # a rejected step that moves no parameter beyond rounding: more damping only shrinks it
        stalled = ~better & ((lam > 1e12) | tiny_step)
        active[idx[flat | stalled | model_done]] = False
    return theta, obj


def _step_within_bounds(h: np.ndarray, rhs: np.ndarray, th, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """The solution d of h d = rhs, and the same where d would carry a parameter across a bound
    but with that parameter set on the bound and the others re-solved with it held there: the
    minimizer of the quadratic model on that face. (Clipping the full step instead leaves the other
    parameters where the correlated, unclipped step put them, and LM can crawl along the bound.)"""
    step = _solve_batched(h, rhs)
    target = th + step
    cross = (target < lo) | (target > hi)
    rows = np.flatnonzero(cross.any(axis=1))
    if rows.size == 0:
        return step, step
    c = cross[rows]
    fixed = np.where(c, within(target[rows], lo[rows], hi[rows]) - th[rows], 0.0)
    hr = h[rows]
    free = ~c
    reduced = hr * free[:, :, None] * free[:, None, :] + c[:, :, None] * np.eye(h.shape[1])
    rhs_r = np.where(c, fixed, rhs[rows] - (hr @ fixed[:, :, None])[:, :, 0])
    face = step.copy()
    face[rows] = _solve_batched(reduced, rhs_r)
    return step, face


def _model_decrease(grad: np.ndarray, jtj: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Decrease of the objective predicted by the Gauss-Newton model: -2 g.d - d^T J^T W J d."""
    curvature = (jtj @ step[:, :, None])[:, :, 0]
    curvature += 2.0 * grad
    return -np.einsum("bi,bi->b", step, curvature)


def within(x, lo, hi, out=None):
    """x clipped into [lo, hi] elementwise (NaN stays NaN): np.clip without its per-call error-state
    set-up, which costs more than the clipping on the LM's small arrays."""
    return np.minimum(np.maximum(x, lo, out=out), hi, out=out)


def _pairs_within(problem: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (i, j), i != j, of rows with the same problem label."""
    order = np.argsort(problem, kind="stable")
    labels = problem[order]
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    sizes = np.diff(np.r_[starts, labels.size])
    first, second = [], []
    for size in np.unique(sizes):
        if size < 2:
            continue
        groups = order[starts[sizes == size][:, None] + np.arange(size)]      # (groups, size)
        i, j = np.nonzero(~np.eye(size, dtype=bool))
        first.append(groups[:, i].ravel())
        second.append(groups[:, j].ravel())
    if not first:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(first), np.concatenate(second)


def _merged_twins(theta, obj, active, twins) -> np.ndarray:
    """Active rows i within MERGE_TOLERANCE of a row j of the same problem that is lower (or equal
    and earlier), as a mask: row i stops and j carries on."""
    i, j = twins
    live = active[i]
    i, j = i[live], j[live]
    close = np.all(np.abs(theta[i] - theta[j]) <= MERGE_TOLERANCE * (1.0 + np.abs(theta[j])), axis=1)
    lower = (obj[j] < obj[i]) | ((obj[j] == obj[i]) & (j < i))
    mask = np.zeros(active.shape, dtype=bool)
    mask[i[close & lower]] = True
    return mask


def _solve_batched(h: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve h x = rhs per row; a singular row falls back to the pseudo-inverse on its own, so a
    row's step never depends on which other rows share the batch."""
    try:
        return np.linalg.solve(h, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.empty_like(rhs)
        for i in range(h.shape[0]):
            try:
                out[i] = np.linalg.solve(h[i], rhs[i])
            except np.linalg.LinAlgError:
                out[i] = np.linalg.pinv(h[i]) @ rhs[i]
        return out


# ----- single fit: result, standard errors, report ----------------------------------------------

class ReadOnlyDict(Mapping):
    """A dict that cannot be changed (``d[k] = v``, ``del d[k]`` raise TypeError); it reads, compares
    and pickles as a dict does."""

    __slots__ = ("_items",)

    def __init__(self, items=()):
        self._items = dict(items)

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ReadOnlyDict({self._items!r})"

    def __reduce__(self):
        return ReadOnlyDict, (self._items,)


def read_only_fields(result) -> None:
    """Replace each writeable array field of the frozen dataclass ``result`` by a read-only copy, and
    each dict field by a :class:`ReadOnlyDict` of it, dicts within it too (:func:`read_only_dict`):
    frozen results keep their numbers (``fit.params[0] = 1`` changed every later prediction,
    ``del analysis.fits[name]`` every later table, ``report.families[0].at[c]['n_opt'] = ...`` every
    later frame), and the arrays and dicts a caller passed in stay the caller's."""
    for f in fields(result):
        value = getattr(result, f.name)
        if isinstance(value, np.ndarray) and value.flags.writeable:
            value = value.copy()
            value.flags.writeable = False
            object.__setattr__(result, f.name, value)
        elif isinstance(value, dict):
            object.__setattr__(result, f.name, read_only_dict(value))


def read_only_dict(value: dict) -> ReadOnlyDict:
    """A :class:`ReadOnlyDict` of ``value`` whose values that are dicts are read-only too, all the
    way down (a budget -> quantity -> (value, low, high) allocation)."""
    return ReadOnlyDict({key: read_only_dict(item) if isinstance(item, dict) else item for key, item in value.items()})


class ReadOnlyFields(ValueEquality):
    """Base of the frozen result dataclasses whose array and dict fields are read-only
    (:func:`read_only_fields`) when made and also when unpickled or deep-copied: pickle and copy
    restore an object's fields without ``__post_init__``, and numpy unpickles (and deep-copies)
    every array writeable, so ``pickle.loads(pickle.dumps(fit)).params[0] = 99`` changed the
    copy's predictions."""

    def __post_init__(self):
        read_only_fields(self)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        read_only_fields(self)


@dataclass(frozen=True, eq=False)
class FitResult(ReadOnlyFields):
    """A law fitted to one family.

    ``params`` and ``stderr`` are in the user's units (compute as in the file, loss in nats).
    ``objective`` is sum (ln L_i - ln L(C_i))^2; ``rmse_log`` = sqrt(objective / n).
    """

    family: str
    law: Law
    params: np.ndarray
    stderr: np.ndarray
    objective: float
    rmse_log: float
    n_runs: int
    flops_min: float
    flops_max: float
    written_report: str = field(repr=False, default="")  # a report made at fit time (L(N, D)); see .report
    flops: np.ndarray = field(repr=False, default=None)
    loss: np.ndarray = field(repr=False, default=None)
    model_params: np.ndarray = field(repr=False, default=None)  # N, for two-variable laws
    tokens: np.ndarray = field(repr=False, default=None)        # D, for two-variable laws

    def param(self, name: str) -> float:
        return float(self.params[self.law.param_names.index(name)])

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.law.param_names, map(float, self.params)))

    def predict(self, flops):
        """Loss (nats per token) at the given compute: the law itself, at any compute, unchecked
        (figures and bands evaluate it over whole axes); ``Analysis.predict`` refuses a compute far
        from the runs and warns of extrapolation, as the command does."""
        return self.law.predict(self.params, flops)

    def invert(self, loss):
        """Compute needed to reach the given loss; +inf where it is at or below the irreducible loss."""
        return self.law.invert(self.params, loss)

    @property
    def decades(self) -> float:
        """Decades of compute the ladder spans."""
        return float(np.log10(self.flops_max / self.flops_min))

    @cached_property
    def report(self) -> str:
        """lmfit's fit report of a compute law (its own least_squares started at this optimum:
        values, standard errors, correlations), made on first use: importing lmfit costs about half a
        second, which no command pays unless it asks for the report. A notebook cell ending in
        ``fit.report`` shows it as text, as a summary()."""
        from .formatting import Summary
        if self.written_report or self.flops is None:
            return Summary(self.written_report)
        return Summary(lmfit_report(self.flops, self.loss, self.law, self.params, self.objective))


def fit_law(flops, loss, law: Law, family: str = "") -> FitResult:
    """Fit ``law`` to one family's runs: the vectorized engine finds the global optimum of the
    log-space least squares (module docstring); standard errors come from its Jacobian there
    (:func:`standard_errors`).

    ``law`` is a Law or its name. Runs that cannot be fitted (not positive and finite, too few)
    raise ValueError saying which.
    """
    if isinstance(law, str):
        from .laws import get_law
        law = get_law(law)
    flops, loss = check_runs(flops, loss, law)
    engine = fit_many(flops[None, :], loss[None, :], law)
    params, objective = engine.params[0], float(engine.objective[0])
    check_representable(params, law, flops)
    return _fit_result(family, law, flops, loss, params, objective, standard_errors(flops, loss, law, params))


def representable_a(params: np.ndarray, law: Law) -> np.ndarray:
    """Per row of ``params`` (B, p): A is a finite normal float (neither overflowed nor subnormal)."""
    a = params[:, law.param_names.index("A")]
    return np.isfinite(a) & (a >= np.finfo(float).tiny)


def check_representable(params: np.ndarray, law: Law, flops: np.ndarray) -> None:
    """ValueError when the fitted coefficient A, reported in the user's compute units
    (A = A_norm C_ref^alpha), overflows or underflows a float: e.g. alpha = 8 with compute near 1e40."""
    if representable_a(params[None], law)[0]:
        return
    alpha = params[law.param_names.index("alpha")]
    scale = np.exp(np.mean(np.log(flops)))
    raise ValueError(f"the fitted A (alpha = {alpha:.3g}) cannot be stored as a number in these compute units "
                     f"(about {scale:.2g}): it is C^alpha in size; give compute in units nearer 1 (e.g. divide "
                     "it by a power of 10; multipliers do not depend on the unit)")


def check_runs(flops, loss, law: Law) -> tuple[np.ndarray, np.ndarray]:
    """``flops`` and ``loss`` as float arrays, or ValueError: they must be 1-D of one length,
    positive and finite, with more runs than the law has parameters and as many distinct compute
    values as it has parameters (what :func:`scalefit.read_ladder` checks for a file)."""
    flops, loss = _real_numbers(flops, "flops"), _real_numbers(loss, "loss")
    if flops.ndim != 1 or flops.shape != loss.shape:
        raise ValueError(f"flops and loss must be 1-D arrays of one length, got shapes {flops.shape} and {loss.shape}")
    for name, values in (("flops", flops), ("loss", loss)):
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if bad.size:
            raise ValueError(f"{name}[{bad[0]}] = {values[bad[0]]:g}: must be a positive, finite number "
                             f"({bad.size} such value(s))")
    odd = np.flatnonzero((loss < FLOAT_SAFE_LOSS[0]) | (loss > FLOAT_SAFE_LOSS[1]))
    if odd.size:
        raise ValueError(f"loss[{odd[0]}] = {loss[odd[0]]:g}: too large or small for the fit's arithmetic "
                         f"({FLOAT_SAFE_LOSS[0]:g} to {FLOAT_SAFE_LOSS[1]:g}); rescale the losses")
    distinct = np.unique(flops).size
    if flops.size <= law.n_free or distinct < law.n_free:
        raise ValueError(f"{flops.size} runs at {distinct} compute value(s): the {law.name} law needs more runs "
                         f"than its {law.n_free} fitted parameters, at {law.n_free} or more compute values")
    check_fixed_e_below(law, loss)
    return flops, loss


def check_fixed_e_below(law: Law, loss: np.ndarray) -> None:
    """ValueError when a fixed E is not below every loss: L = E + A C^-alpha stays above E, and E
    must sit below the smallest run's loss (as a fitted E does)."""
    fixed = law.fixed.get("E")
    if fixed is None or fixed <= loss.min() * FIXED_E_CEILING:
        return
    i = int(np.argmin(loss))
    raise ValueError(f"E fixed at {fixed:g} is not below the smallest loss, loss[{i}] = {loss[i]:g}: the law "
                     "E + A*C^-alpha stays above E; fix E below every run's loss (nats)")


FLOAT_SAFE_LOSS = (1e-150, 1e150)  # losses whose squares (the weights' normal equations) stay finite


def _real_numbers(values, name: str) -> np.ndarray:
    """``values`` as a float array, or ValueError for what is not real numbers (complex, dates,
    text): numpy would silently drop an imaginary part or count nanoseconds."""
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        try:
            if array.dtype.kind != "O":
                raise TypeError
            array = np.array([float(v) for v in array.ravel()]).reshape(array.shape)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be real numbers, got {array.dtype} values") from None
    return array.astype(float)


def fit_ladders(flops, losses, law: Law) -> list[FitResult]:
    """``fit_law(flops, loss, law)`` of each row of ``losses`` (S, n), all at the compute ``flops``
    (n,), without standard errors (NaN): the S ladders of a simulation study, solved by the engine
    together."""
    flops = np.asarray(flops, dtype=float)
    losses = np.asarray(losses, dtype=float)
    engine = fit_many(np.broadcast_to(flops, losses.shape), losses, law)
    nan = np.full(law.n_params, np.nan)
    return [_fit_result("", law, flops, loss, params, float(objective), nan)
            for loss, params, objective in zip(losses, engine.params, engine.objective)]


def _fit_result(family, law, flops, loss, params, objective, stderr) -> FitResult:
    n = flops.size
    return FitResult(family=family, law=law, params=params, stderr=stderr, objective=objective,
                     rmse_log=float(np.sqrt(objective / n)), n_runs=n,
                     flops_min=float(flops.min()), flops_max=float(flops.max()), flops=flops, loss=loss)


def log_residual_jacobian(u: np.ndarray, law: Law, theta: np.ndarray) -> np.ndarray:
    """Jacobian (n, p) of r_i = ln L_i - ln L(x_i) in normalized parameters, u_i = ln x_i:
    theta = (E, a, alpha) for the saturating law, L = E + g, g = exp(a - alpha u):
    dr/dE = -1/L, dr/da = -g/L, dr/dalpha = g u / L; theta = (a, alpha) for the power law,
    ln L = a - alpha u: dr/da = -1, dr/dalpha = u."""
    if isinstance(law, SaturatingLaw):
        g = np.exp(theta[1] - theta[2] * u)
        pred = theta[0] + g
        return np.column_stack([-1.0 / pred, -g / pred, g * u / pred])
    return np.column_stack([-np.ones_like(u), u])


def standard_errors(flops, loss, law: Law, params) -> np.ndarray:
    """Standard errors of the user-unit parameters from the linearized least squares at the optimum:
    Cov(theta) = s^2 (J^T J)^-1, s^2 = S / (n - p), J from :func:`log_residual_jacobian` in
    normalized compute (x = C / C_ref, a = ln A_norm), then A = exp(a + alpha ln C_ref) by the delta
    method, Var(A) = A^2 (Var a + 2 ln C_ref Cov(a, alpha) + ln C_ref^2 Var alpha). This is the
    covariance lmfit reports (``least_squares``, scale_covar), with an exact Jacobian in place of
    finite differences (tests compare the two). NaN where not estimable (J^T J singular, n <= p);
    p counts the fitted parameters only, and a fixed one (E held by the user) has standard error 0.
    """
    flops, loss, params = (np.asarray(v, dtype=float) for v in (flops, loss, params))
    log_ref = float(np.mean(np.log(flops)))
    u, y = np.log(flops) - log_ref, np.log(loss)
    i_a, i_alpha = law.param_names.index("A"), law.param_names.index("alpha")
    theta = params.copy()
    theta[i_a] = np.log(params[i_a]) - params[i_alpha] * log_ref        # a = ln A_norm
    dof = loss.size - law.n_free
    resid = y - np.log(law.predict(params, flops))
    jac = log_residual_jacobian(u, law, theta)
    free = np.array([name not in law.fixed for name in law.param_names])
    cov = np.zeros((law.n_params, law.n_params))              # a fixed parameter: no variance
    try:
        with np.errstate(all="ignore"):
            cov[np.ix_(free, free)] = (np.linalg.inv(jac[:, free].T @ jac[:, free])
                                       * (float(resid @ resid) / dof if dof > 0 else np.nan))
    except np.linalg.LinAlgError:
        return np.where(free, np.nan, 0.0)
    d_a = np.zeros(law.n_params)                                       # gradient of A in theta
    d_a[i_a], d_a[i_alpha] = params[i_a], params[i_a] * log_ref
    variance = np.diag(cov).copy()
    with np.errstate(all="ignore"):                                    # degenerate fits: inf or nan, below
        variance[i_a] = d_a @ cov @ d_a
        stderr = np.sqrt(variance)
    return np.where(np.isfinite(stderr), stderr, np.nan)


def lmfit_report(flops, loss, law: Law, params, objective: float) -> str:
    """lmfit's fit report for a compute law: lmfit's ``least_squares``, bounded, in normalized
    compute, started at ``params`` (the engine's optimum, objective ``objective``)."""
    import lmfit

    flops, loss = np.asarray(flops, dtype=float), np.asarray(loss, dtype=float)
    log_ref = float(np.mean(np.log(flops)))
    u = np.log(flops) - log_ref
    y = np.log(loss)
    p = lmfit.Parameters()
    if isinstance(law, SaturatingLaw):
        E0, A0, alpha0 = params
        e_max = float(loss.min() * E_CEILING)
        if law.fixed_E is None:
            p.add("E", value=min(max(E0, 0.0), e_max), min=0.0, max=e_max)
        else:
            p.add("E", value=law.fixed_E, vary=False)
        p.add("log_A_norm", value=float(np.log(A0) - alpha0 * log_ref))
        p.add("alpha", value=float(alpha0), min=ALPHA_BOUNDS[0], max=ALPHA_BOUNDS[1])

        def residual(pars):
            v = pars.valuesdict()
            return y - np.log(v["E"] + np.exp(v["log_A_norm"] - v["alpha"] * u))
    else:
        A0, alpha0 = params
        p.add("log_A_norm", value=float(np.log(A0) - alpha0 * log_ref))
        p.add("alpha", value=float(alpha0))

        def residual(pars):
            v = pars.valuesdict()
            return y - (v["log_A_norm"] - v["alpha"] * u)
    p.add("A", expr=f"exp(log_A_norm + alpha * {log_ref!r})")
    p.add("log_C_ref", value=log_ref, vary=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # exact fits: lmfit divides by zero errors
        result = lmfit.minimize(residual, p, method="least_squares")
    lmfit_objective = float(np.sum(result.residual ** 2))
    note = ("" if lmfit_objective <= objective * (1 + 1e-9) + 1e-24 else
            f"    (lmfit ended above scalefit's optimum: {lmfit_objective:.10g} against {objective:.10g})\n")
    return note + lmfit.fit_report(result)
