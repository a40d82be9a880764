"""Global least-squares fits of compute laws, vectorized over bootstrap resamples.

Objective (every law): the sum over runs of squared log-space residuals,

    S = sum_i (ln L_i - ln L(C_i))^2,

i.e. least squares on relative error. Compute is normalized internally, x = C / C_ref with C_ref the
geometric mean of the family's compute, so that the coefficient is of order one; parameters are
reported in the user's units (A_user = A_norm * C_ref^alpha).

Saturating law L = E + A x^(-alpha), with 0 <= E < min L_i and alpha > 0. No starting values are
needed: for each alpha on a log-spaced grid the problem is linear in (E, A), solved exactly in the
relative-error weighting w_i = 1 / L_i (a first-order approximation of the log residual) with E
held inside its bounds; the exact log objective is evaluated along that profile, and the two best
local minima of the profile are polished with a bounded Levenberg-Marquardt on (E, ln A, alpha).
The grid reaches down to alpha = 1e-6; for nearly flat ladders the best law on the face E = 0
(a power law, in closed form; the face is E = e_min when a profile bounds E) is polished as well.
Power law L = A x^(-alpha): ln L is linear in (ln A, alpha), solved in closed form.

The engine works on arrays of shape (B, n): B resamples of n runs each, all solved at once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .laws import Law, PowerLaw, SaturatingLaw
from .threads import one_blas_thread

# 160 exponents from 1e-3 to 4, and 12 below down to the bound 1e-6: a nearly flat ladder's optimum
# can sit there, where E and A trade off (the law is then close to a power law with a tiny exponent)
ALPHA_GRID = np.concatenate([np.geomspace(1e-6, 1e-3, 12, endpoint=False), np.geomspace(1e-3, 4.0, 160)])
ALPHA_BOUNDS = (1e-6, 10.0)
E_CEILING = 1.0 - 1e-9  # E stays below (1 - 1e-9) * the smallest observed loss
LM_ITERATIONS = 1000
FACE_ITERATIONS = 20


@dataclass(frozen=True)
class EngineResult:
    """Fits of B resamples: user-unit parameters (B, p), objective (B,), and which succeeded."""

    params: np.ndarray
    objective: np.ndarray
    ok: np.ndarray


def fit_many(flops: np.ndarray, loss: np.ndarray, law: Law, c_ref: float | None = None) -> EngineResult:
    """Fit ``law`` to each row of ``flops`` and ``loss`` (arrays of shape (B, n)).

    A row fails (``ok`` False) when it has fewer distinct compute values than the law has
    parameters, or when the fit is not finite.
    """
    flops = np.atleast_2d(np.asarray(flops, dtype=float))
    loss = np.atleast_2d(np.asarray(loss, dtype=float))
    log_c = np.log(flops)
    log_ref = float(np.mean(log_c)) if c_ref is None else float(np.log(c_ref))
    u = log_c - log_ref
    y = np.log(loss)
    if isinstance(law, SaturatingLaw):
        theta, ssr = fit_saturating_rows(u, y)
        params = np.column_stack([theta[:, 0], np.exp(theta[:, 1] + theta[:, 2] * log_ref), theta[:, 2]])
    elif isinstance(law, PowerLaw):
        theta, ssr = _fit_power(u, y)
        params = np.column_stack([np.exp(theta[:, 0] + theta[:, 1] * log_ref), theta[:, 1]])
    else:
        raise TypeError(f"no fitting engine for law {law.name!r}")
    ok = (_distinct_per_row(flops) >= law.n_params) & np.all(np.isfinite(params), axis=1) & np.isfinite(ssr)
    return EngineResult(params=params, objective=ssr, ok=ok)


def unreachable_ssr(flops, loss, target_loss: float) -> float:
    """Best log-space SSR of the saturating law with E >= target_loss, i.e. among fits for which
    the target loss is unreachable; inf when the target is at or above the smallest loss."""
    flops, loss = np.asarray(flops, dtype=float), np.asarray(loss, dtype=float)
    if target_loss >= loss.min() * E_CEILING:
        return float("inf")
    log_c = np.log(flops)
    _, ssr = fit_saturating_rows((log_c - log_c.mean())[None], np.log(loss)[None], e_min=target_loss)
    return float(ssr[0])


def _distinct_per_row(values: np.ndarray) -> np.ndarray:
    ordered = np.sort(values, axis=1)
    return 1 + np.count_nonzero(np.diff(ordered, axis=1) > 0, axis=1)


# ----- power law: closed form ---------------------------------------------------------------

def _fit_power(u: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ordinary least squares of ln L = a - alpha u per row; returns (a, alpha) and the SSR."""
    u_mean = u.mean(axis=1, keepdims=True)
    y_mean = y.mean(axis=1, keepdims=True)
    du, dy = u - u_mean, y - y_mean
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (du * dy).sum(axis=1) / (du * du).sum(axis=1)
    alpha = -slope
    a = y_mean[:, 0] + alpha * u_mean[:, 0]
    resid = y - (a[:, None] - alpha[:, None] * u)
    return np.column_stack([a, alpha]), (resid ** 2).sum(axis=1)


# ----- saturating law: profile over alpha, then bounded Levenberg-Marquardt -----------------

ROW_BLOCK = 1 << 20  # elements of a (rows, runs) block: many long rows are fitted a block at a time


def row_blocks(n_rows: int, elements_per_row: int) -> list[slice]:
    """Slices of range(n_rows) whose blocks hold about ROW_BLOCK elements: memory and time per
    element stay flat however long the rows are."""
    step = max(1, ROW_BLOCK // max(1, elements_per_row))
    return [slice(lo, min(lo + step, n_rows)) for lo in range(0, n_rows, step)]


def fit_saturating_rows(u: np.ndarray, y: np.ndarray, e_min=0.0, e_max=None) -> tuple[np.ndarray, np.ndarray]:
    """Return theta = (E, ln A_norm, alpha) per row and the log-space SSR, with
    e_min <= E <= e_max (default: just below the row's smallest loss). Rows are taken in blocks of
    bounded size, so that memory, and time per run, stay flat for long rows."""
    loss = np.exp(y)
    ceiling = loss.min(axis=1) * E_CEILING
    e_max = ceiling if e_max is None else np.minimum(np.broadcast_to(np.asarray(e_max, float), ceiling.shape), ceiling)
    e_min = np.minimum(np.broadcast_to(np.asarray(e_min, dtype=float), e_max.shape), e_max)
    chunks = row_blocks(*u.shape)
    if len(chunks) > 1:
        parts = [_fit_saturating_block(u[c], y[c], loss[c], e_min[c], e_max[c]) for c in chunks]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return _fit_saturating_block(u, y, loss, e_min, e_max)


def _fit_saturating_block(u, y, loss, e_min, e_max):
    profile_ssr, profile_E, profile_A = linear_profile_over_alpha(u, loss, y, e_min, e_max, ALPHA_GRID)
    starts = two_best_local_minima(profile_ssr)                        # (B, 2)
    # both starts of every row are polished in one batched call: rows [0, B) and [B, 2B)
    B = u.shape[0]
    rows = np.arange(B)
    theta0 = np.concatenate([np.column_stack([profile_E[rows, c], np.log(profile_A[rows, c]), ALPHA_GRID[c]])
                             for c in starts.T])
    both = np.concatenate([rows, rows])
    theta, ssr = saturating_lm(u[both], y[both], theta0, e_min[both], e_max[both])
    second_better = ssr[B:] < ssr[:B]
    best_theta = np.where(second_better[:, None], theta[B:], theta[:B])
    best_ssr = np.where(second_better, ssr[B:], ssr[:B])
    # Nearly flat ladders: the optimum can sit at E = e_min with a tiny exponent, at the end of a
    # valley along which E and A trade off and LM crawls. The best law on that face (closed form)
    # is polished too, for rows where it is competitive with the grid's best.
    face = _power_law_face_start(u, loss, e_min)
    face_ssr = ((y - np.log(face[:, :1] + np.exp(face[:, 1:2] - face[:, 2:3] * u))) ** 2).sum(axis=1)
    near = np.flatnonzero(face_ssr <= 1.5 * profile_ssr.min(axis=1) + 1e-300)
    if near.size:
        theta_f, ssr_f = saturating_lm(u[near], y[near], face[near], e_min[near], e_max[near], FACE_ITERATIONS)
        better = ssr_f < best_ssr[near]
        best_theta[near[better]], best_ssr[near[better]] = theta_f[better], ssr_f[better]
    return best_theta, best_ssr


def _power_law_face_start(u, loss, e_min):
    """(E, ln A, alpha) with E = e_min and ln(L - e_min) = ln A - alpha u by least squares, alpha
    clipped into its bounds. For e_min = 0 this is the exact optimum of the pure power law."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log(np.maximum(loss - e_min[:, None], 1e-300))
        theta, _ = _fit_power(u, z)
    alpha = np.clip(np.nan_to_num(theta[:, 1], nan=ALPHA_BOUNDS[0]), ALPHA_BOUNDS[0], ALPHA_BOUNDS[1])
    a = np.nan_to_num(theta[:, 0], nan=0.0, posinf=0.0, neginf=0.0)
    return np.column_stack([e_min, a, alpha])


PROFILE_BLOCK = 1 << 18  # elements of a (resamples, alphas, runs) block: its two buffers stay in cache


def linear_profile_over_alpha(u, loss, y, e_min, e_max, alphas):
    """For each alpha, (E, A) minimizing sum w^2 (L - E - A x^-alpha)^2 with w = 1/L, e_min <= E <= e_max.

    Returns the exact log-space SSR at those (E, A), and E and A, each of shape (B, G). Work and
    memory are linear in the number of runs: rows and alphas are taken in blocks of about
    PROFILE_BLOCK elements, computed in two reused buffers.
    """
    B, n = u.shape
    ssr = np.empty((B, alphas.size))
    E = np.empty_like(ssr)
    A = np.empty_like(ssr)
    w2 = 1.0 / loss ** 2
    sums = _RowSums(w2=w2, w=w2 * loss, s11=w2.sum(axis=1), t1=(w2 * loss).sum(axis=1))
    buffers = np.empty(2 * max(PROFILE_BLOCK, n))
    rows_step = max(1, PROFILE_BLOCK // max(1, n))
    for r0 in range(0, B, rows_step):
        rows = slice(r0, min(r0 + rows_step, B))
        b = rows.stop - rows.start
        step = max(1, PROFILE_BLOCK // (b * n))
        for lo in range(0, alphas.size, step):
            cols = slice(lo, min(lo + step, alphas.size))
            size = b * (cols.stop - cols.start) * n
            work = (buffers[:size].reshape(b, -1, n), buffers[size:2 * size].reshape(b, -1, n))
            ssr[rows, cols], E[rows, cols], A[rows, cols] = _profile_block(
                u[rows], y[rows], sums.take(rows), e_min[rows], e_max[rows], alphas[cols], work)
    return ssr, E, A


@dataclass(frozen=True)
class _RowSums:
    """Per-row weights and sums of the weighted linear problem: w2 = 1/L^2, w = w2 L, s11 = sum w2,
    t1 = sum w2 L."""

    w2: np.ndarray
    w: np.ndarray
    s11: np.ndarray
    t1: np.ndarray

    def take(self, rows: slice) -> "_RowSums":
        return _RowSums(self.w2[rows], self.w[rows], self.s11[rows], self.t1[rows])


def _profile_block(u, y, sums: _RowSums, e_min, e_max, alphas, work):
    """Profile SSR, E and A at ``alphas`` for a block of rows, with f = x^-alpha in ``work[0]``."""
    f, scratch = work
    np.multiply(-alphas[None, :, None], u[:, None, :], out=f)
    np.exp(f, out=f)                                               # (b, g, n)
    s11, t1 = sums.s11[:, None], sums.t1[:, None]
    s12 = np.einsum("bgn,bn->bg", f, sums.w2)
    t2 = np.einsum("bgn,bn->bg", f, sums.w)
    np.multiply(f, f, out=scratch)
    s22 = np.einsum("bgn,bn->bg", scratch, sums.w2)
    det = s11 * s22 - s12 ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        E = np.where(det > 1e-14 * s11 * s22, (s22 * t1 - s12 * t2) / det, 0.0)
    E = np.clip(np.nan_to_num(E), e_min[:, None], e_max[:, None])
    A = np.maximum((t2 - E * s12) / s22, 1e-300)
    f *= A[:, :, None]
    f += E[:, :, None]
    r = np.log(f, out=f)
    r -= y[:, None, :]
    return np.einsum("bgn,bgn->bg", r, r), E, A


def two_best_local_minima(profile: np.ndarray) -> np.ndarray:
    """Indices (B, 2) of the two lowest local minima of each row (the same one twice if only one)."""
    padded = np.pad(profile, ((0, 0), (1, 1)), constant_values=np.inf)
    is_min = (profile <= padded[:, :-2]) & (profile <= padded[:, 2:])
    ranked = np.argsort(np.where(is_min, profile, np.inf), axis=1)[:, :2]
    second_valid = np.take_along_axis(is_min, ranked[:, 1:2], axis=1)[:, 0]
    ranked[:, 1] = np.where(second_valid, ranked[:, 1], ranked[:, 0])
    return ranked


def _saturating_residuals(u, y, theta):
    """Residuals r = ln L - ln(E + exp(a - alpha u)) (B, n) and their Jacobian in theta = (E, a, alpha),
    laid out (B, 3, n)."""
    g = np.exp(theta[:, 1:2] - theta[:, 2:3] * u)
    pred = theta[:, 0:1] + g
    r = y - np.log(pred)
    jac = np.empty((u.shape[0], 3, u.shape[1]))
    np.divide(-1.0, pred, out=jac[:, 0])                  # dr/dE = -1 / pred
    np.multiply(g, jac[:, 0], out=jac[:, 1])               # dr/da = -g / pred
    np.multiply(jac[:, 1], -u, out=jac[:, 2])              # dr/dalpha = g u / pred
    return r, jac


def saturating_lm(u, y, theta, e_min, e_max, iterations=LM_ITERATIONS, alpha_lo=None, alpha_hi=None):
    """Minimize the log-space SSR of the saturating law for all rows at once, with
    e_min <= E <= e_max and alpha_lo <= alpha <= alpha_hi (default ALPHA_BOUNDS)."""
    alpha_lo = np.full_like(e_min, ALPHA_BOUNDS[0]) if alpha_lo is None else alpha_lo
    alpha_hi = np.full_like(e_max, ALPHA_BOUNDS[1]) if alpha_hi is None else alpha_hi
    lower = np.column_stack([e_min, np.full_like(e_min, -np.inf), alpha_lo])
    upper = np.column_stack([e_max, np.full_like(e_max, np.inf), alpha_hi])
    theta_out, ssr_out = np.empty_like(theta, dtype=float), np.empty(theta.shape[0])
    for c in row_blocks(*u.shape):
        uc, yc = u[c], y[c]
        theta_out[c], ssr_out[c] = bounded_least_squares(
            lambda th, rows, uc=uc, yc=yc: _saturating_residuals(uc[rows], yc[rows], th),
            theta[c], lower[c], upper[c], iterations)
    return theta_out, ssr_out


MERGE_TOLERANCE = 1e-4  # starts of one problem closer than this (relative, every parameter) share a basin
MERGE_EVERY = 4         # iterations between checks for such twins


@one_blas_thread
def bounded_least_squares(residuals, theta, lower, upper, iterations=LM_ITERATIONS, huber_delta=None,
                          problem=None):
    """Levenberg-Marquardt on many independent problems at once, within box bounds.

    Minimizes sum_i rho(r_i) per row, with rho(r) = r^2 (least squares) or, given ``huber_delta``,
    twice the Huber loss (r^2 inside delta, 2 delta |r| - delta^2 beyond), using the iteratively
    reweighted Gauss-Newton matrix J^T W J with W = psi(r) / r.

    ``residuals(theta_rows, rows)`` returns residuals (b, n) and Jacobian (b, p, n) for the given
    rows; ``theta``, ``lower``, ``upper`` are (B, p). A parameter at a bound that the gradient
    pushes against is held fixed for that step (an active set), so a problem whose optimum sits on
    a bound converges like the smaller problem. Returns the parameters and the objective per row.

    ``problem`` (B,) marks rows that are starts of the same problem (same data). Every MERGE_EVERY
    iterations a start that has come within MERGE_TOLERANCE of a lower start of its problem stops
    where it is: both are in one basin and the lower one goes on to its minimum. Such a row's
    objective is then above its problem's best, so the lowest row of each problem is unaffected.
    """
    def objective_terms(r):
        if huber_delta is None:
            return (r ** 2).sum(axis=1), np.ones_like(r)
        a = np.abs(r)
        inside = a <= huber_delta
        rho = np.where(inside, r * r, 2 * huber_delta * a - huber_delta ** 2)
        return rho.sum(axis=1), np.where(inside, 1.0, huber_delta / np.maximum(a, 1e-300))

    theta = np.clip(theta.copy(), lower, upper)
    n_rows = theta.shape[0]
    r, jac = residuals(theta, np.arange(n_rows))
    if jac.shape != (n_rows, theta.shape[1], r.shape[1]):
        raise ValueError(f"Jacobian must be (rows, parameters, residuals) = {(n_rows, theta.shape[1], r.shape[1])}, "
                         f"got {jac.shape}")
    obj, weight = objective_terms(r)
    damping = np.full(n_rows, 1e-3)
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
        jw = J if huber_delta is None else J * weight[sel][:, None, :]
        jtj = jw @ J.transpose(0, 2, 1)                                # batched BLAS products
        grad = (jw @ rr[:, :, None])[:, :, 0]
        frozen = ((th <= lo) & (grad > 0)) | ((th >= hi) & (grad < 0))
        diag = np.einsum("bii->bi", jtj)
        h = jtj + lam[:, None, None] * (diag[:, :, None] * eye + 1e-12 * eye)
        if frozen.any():
            keep_mask = ~frozen
            h = h * keep_mask[:, :, None] * keep_mask[:, None, :] + frozen[:, :, None] * eye
        rhs = np.where(frozen, 0.0, -grad)
        step = _solve_batched(h, rhs)
        trial = np.clip(th + step, lo, hi)
        tiny_step = np.all(np.abs(trial - th) <= 1e-13 * (1.0 + np.abs(th)), axis=1)
        # decrease of the objective that the local quadratic model predicts for the (unclipped) step:
        # -2 g.d - d^T J^T W J d
        predicted = -2.0 * np.einsum("bi,bi->b", grad, step) - np.einsum("bi,bij,bj->b", step, jtj, step)
        r_new, jac_new = residuals(trial, idx)
        obj_new, weight_new = objective_terms(r_new)
        better = np.isfinite(obj_new) & (obj_new < obj_old)
        gain = np.where(better, obj_old - obj_new, 0.0)
        keep = idx[better]
        theta[keep], r[keep], jac[keep] = trial[better], r_new[better], jac_new[better]
        obj[keep], weight[keep] = obj_new[better], weight_new[better]
        lam_before = lam
        lam = np.where(better, np.maximum(lam * 0.3, 1e-12), lam * 10.0)
        damping[idx] = lam
        small_gain = better & (gain <= 1e-15 * np.maximum(obj_new, 1e-300) + 1e-30)
        # a nearly Gauss-Newton step that the model says cannot lower the objective beyond rounding:
        # converged (without this, a converged row spends many rejected steps raising its damping)
        model_done = (lam_before <= 1e-3) & (predicted <= 1e-15 * np.maximum(obj_old, 1e-300) + 1e-30)
        # a rejected step that moves no parameter beyond rounding: more damping only shrinks it
        stalled = ~better & ((lam > 1e12) | tiny_step)
        active[idx[small_gain | stalled | model_done]] = False
    return theta, obj


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


# ----- single fit with lmfit polish and report ------------------------------------------------

@dataclass(frozen=True)
class FitResult:
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
    report: str = field(repr=False, default="")
    flops: np.ndarray = field(repr=False, default=None)
    loss: np.ndarray = field(repr=False, default=None)
    model_params: np.ndarray = field(repr=False, default=None)  # N, for two-variable laws
    tokens: np.ndarray = field(repr=False, default=None)        # D, for two-variable laws

    def param(self, name: str) -> float:
        return float(self.params[self.law.param_names.index(name)])

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.law.param_names, map(float, self.params)))

    def predict(self, flops):
        """Loss (nats per token) at the given compute."""
        return self.law.predict(self.params, flops)

    def invert(self, loss):
        """Compute needed to reach the given loss; +inf where it is at or below the irreducible loss."""
        return self.law.invert(self.params, loss)

    @property
    def decades(self) -> float:
        """Decades of compute the ladder spans."""
        return float(np.log10(self.flops_max / self.flops_min))


def fit_law(flops, loss, law: Law, family: str = "", polish: bool = True) -> FitResult:
    """Fit ``law`` to one family's runs: the vectorized engine finds the global optimum, lmfit
    polishes it within bounds, computes standard errors and writes the fit report.

    ``polish=False`` keeps the engine's optimum and skips lmfit (no standard errors, no report):
    for simulation studies that fit thousands of ladders.
    """
    flops = np.asarray(flops, dtype=float)
    loss = np.asarray(loss, dtype=float)
    engine = fit_many(flops[None, :], loss[None, :], law)
    params, objective = engine.params[0], float(engine.objective[0])
    stderr, report = np.full(law.n_params, np.nan), ""
    if polish:
        params, stderr, objective, report = _polish_with_lmfit(flops, loss, law, params, objective)
    n = flops.size
    return FitResult(family=family, law=law, params=params, stderr=stderr, objective=objective,
                     rmse_log=float(np.sqrt(objective / n)), n_runs=n,
                     flops_min=float(flops.min()), flops_max=float(flops.max()), report=report,
                     flops=flops, loss=loss)


def _polish_with_lmfit(flops, loss, law: Law, start: np.ndarray, start_objective: float):
    """Polish the engine's optimum with lmfit (least_squares, bounded) in normalized compute.

    Returns user-unit parameters, their standard errors (NaN where not estimable), the objective
    and lmfit's fit report. The engine's solution is kept if lmfit does not improve on it.
    """
    import lmfit

    log_ref = float(np.mean(np.log(flops)))
    u = np.log(flops) - log_ref
    y = np.log(loss)
    p = lmfit.Parameters()
    if isinstance(law, SaturatingLaw):
        E0, A0, alpha0 = start
        e_max = float(loss.min() * E_CEILING)
        p.add("E", value=min(max(E0, 0.0), e_max), min=0.0, max=e_max)
        p.add("log_A_norm", value=float(np.log(A0) - alpha0 * log_ref))
        p.add("alpha", value=float(alpha0), min=ALPHA_BOUNDS[0], max=ALPHA_BOUNDS[1])

        def residual(pars):
            v = pars.valuesdict()
            return y - np.log(v["E"] + np.exp(v["log_A_norm"] - v["alpha"] * u))
    else:
        A0, alpha0 = start
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
    objective = float(np.sum(result.residual ** 2))
    if not np.isfinite(objective) or objective > start_objective * (1 + 1e-9) + 1e-24:
        return start, np.full(law.n_params, np.nan), start_objective, "lmfit polish did not improve the global search"
    values = np.array([result.params[name].value for name in law.param_names])
    stderr = np.array([np.nan if result.params[name].stderr is None else result.params[name].stderr
                       for name in law.param_names])
    return values, stderr, objective, lmfit.fit_report(result)
