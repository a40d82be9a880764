"""Two-variable law L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, "Approach 3").

Objective, as in Hoffmann et al. and Besiroglu et al. 2024: the *sum* over runs of the Huber loss
(delta = 1e-3 by default) of the log-space residual r_i = ln L_i - ln L(N_i, D_i).

Optimizer: variable projection instead of the papers' 4,500-point grid of L-BFGS starts. N and D
are normalized by their geometric means. For fixed exponents (alpha, beta) the law is linear in
(E, A, B) >= 0; on a 64 x 64 log grid of exponents (0.001 to 2.5) those are solved exactly by non-negative
weighted least squares (weights 1/L, the first-order form of the log residual), the exact Huber
objective is evaluated at each grid point, and the lowest local minima of that grid are polished on
all five parameters by a batched bounded Levenberg-Marquardt with Huber reweighting and by L-BFGS-B
(analytic gradient); the lowest objective wins. Bootstrap refits use the batched LM alone. Parameters are reported in the user's units
(A_user = A_norm * N_ref^alpha, B_user = B_norm * D_ref^beta).

Along the compute-optimal frontier (C = k N D, k = 6 by default) the law is a saturating law of
compute, L_opt(C) = E + K (C/k)^-gamma with gamma = alpha beta / (alpha + beta), so multipliers
between families use the same closed-form inversion as the compute laws.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .fitting import bounded_least_squares
from .laws import Law

HUBER_DELTA = 1e-3
FLOPS_PER_PARAM_TOKEN = 6.0
EXPONENT_GRID = np.geomspace(1e-3, 2.5, 64)
COARSE_EXPONENT_GRID = np.geomspace(1e-3, 2.5, 20)
EXPONENT_BOUNDS = (1e-3, 5.0)
POLISH_STARTS = 8


@dataclass(frozen=True)
class ChinchillaLaw(Law):
    """L(N, D) = E + A N^-alpha + B D^-beta; as a law of compute, its compute-optimal frontier."""

    name: str = "chinchilla"
    formula: str = "L(N, D) = E + A / N^alpha + B / D^beta"
    param_names: tuple[str, ...] = ("E", "A", "B", "alpha", "beta")
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN
    huber_delta: float = HUBER_DELTA

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
    """Huber loss: r^2 / 2 for |r| <= delta, delta (|r| - delta / 2) beyond."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


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
    starts = np.array(_grid_starts(data, delta))
    theta, obj = _polish_many(data.u[None], data.v[None], data.y[None], starts, np.zeros(len(starts), int), delta)
    # The Huber loss has kinks at |r| = delta where local methods can stall in flat valleys, each
    # at a different place: L-BFGS-B also runs from every grid start and every LM result, and the
    # lowest objective wins. (Bootstrap refits use the batched LM alone, for speed.)
    candidates = [(float(o), t) for o, t in zip(obj, theta)]
    candidates += [polish_lbfgs(data, t, delta)[::-1] for t in np.concatenate([starts, theta])]
    best_obj, best_theta = min(candidates, key=lambda c: c[0])
    return data.to_user(best_theta), float(best_obj)


def fit_chinchilla_resamples(n_params, tokens, loss, index: np.ndarray, start: np.ndarray,
                             delta: float = HUBER_DELTA) -> tuple[np.ndarray, np.ndarray]:
    """Refit every resample (rows of ``index`` into the runs) at once.

    Each resample is polished from two starts: the full-data optimum ``start`` (user units) and its
    own best point on a coarse exponent grid. Returns user-unit parameters (B, 5) and objectives.
    """
    full = _Normalized.of(np.asarray(n_params, float), np.asarray(tokens, float), np.asarray(loss, float))
    u, v, y = full.u[index], full.v[index], full.y[index]
    E, A, B, alpha, beta = start
    theta_full = np.array([E, np.log(A) - alpha * full.log_n_ref, np.log(B) - beta * full.log_d_ref, alpha, beta])
    coarse = np.array([_grid_starts(_Normalized(u[i], v[i], y[i], full.log_n_ref, full.log_d_ref), delta,
                                    grid=COARSE_EXPONENT_GRID, count=1)[0] for i in range(len(index))])
    starts = np.concatenate([np.broadcast_to(theta_full, coarse.shape), coarse])
    owner = np.concatenate([np.arange(len(index)), np.arange(len(index))])
    theta, obj = _polish_many(u, v, y, starts, owner, delta)
    pick = np.where(obj[:len(index)] <= obj[len(index):], 0, 1)
    rows = np.arange(len(index)) + pick * len(index)
    params = np.array([full.to_user(t) for t in theta[rows]])
    return params, obj[rows]


def _polish_many(u, v, y, theta0, owner, delta):
    """Minimize sum Huber(r) from each start; start i belongs to data row owner[i]."""
    u, v, y = u[owner], v[owner], y[owner]

    def residuals(theta, rows):
        # a trial step may overflow: its objective is then inf and the step is rejected
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            E, la, lb, alpha, beta = (theta[:, i:i + 1] for i in range(5))
            g1 = np.exp(la - alpha * u[rows])
            g2 = np.exp(lb - beta * v[rows])
            pred = E + g1 + g2
            jac = -np.stack([np.ones_like(g1), g1, g2, -g1 * u[rows], -g2 * v[rows]], axis=-1) / pred[..., None]
            return y[rows] - np.log(pred), jac

    k = theta0.shape[0]
    lower = np.tile([0.0, -np.inf, -np.inf, EXPONENT_BOUNDS[0], EXPONENT_BOUNDS[0]], (k, 1))
    upper = np.tile([np.inf, np.inf, np.inf, EXPONENT_BOUNDS[1], EXPONENT_BOUNDS[1]], (k, 1))
    theta, twice_huber = bounded_least_squares(residuals, theta0, lower, upper, iterations=500,
                                               huber_delta=delta)
    return theta, twice_huber / 2.0


def _grid_starts(data: _Normalized, delta: float, grid=EXPONENT_GRID, count=POLISH_STARTS) -> list[np.ndarray]:
    """Best ``count`` points of the exponent grid, with (E, A, B) >= 0 solved exactly."""
    alphas, betas = np.meshgrid(grid, grid, indexing="ij")
    alphas, betas = alphas.ravel(), betas.ravel()
    loss = np.exp(data.y)
    w = 1.0 / loss
    f1 = np.exp(-alphas[:, None] * data.u)                       # (G, n)
    f2 = np.exp(-betas[:, None] * data.v)
    basis = np.stack([np.ones_like(f1), f1, f2], axis=-1) * w[None, :, None]   # (G, n, 3)
    target = loss * w                                            # = 1
    coef = _nonnegative_least_squares_3(basis, target)
    pred = coef[:, 0:1] + coef[:, 1:2] * f1 + coef[:, 2:3] * f2
    with np.errstate(divide="ignore", invalid="ignore"):
        obj = huber(data.y - np.log(np.maximum(pred, 1e-300)), delta).sum(axis=1)
    obj = np.where(np.isfinite(obj), obj, np.inf)
    order = _best_local_minima(obj.reshape(grid.size, grid.size), count)
    starts = []
    for g in order:
        E, A, B = np.maximum(coef[g], 1e-12)
        starts.append(np.array([coef[g, 0], np.log(A), np.log(B), alphas[g], betas[g]]))
    return starts


def _best_local_minima(surface: np.ndarray, count: int) -> np.ndarray:
    """Flat indices of the ``count`` lowest local minima of a 2-D grid (8-neighbourhood), so the
    polish starts in different basins; topped up with the next-lowest points if there are fewer."""
    padded = np.pad(surface, 1, constant_values=np.inf)
    is_min = np.ones_like(surface, dtype=bool)
    rows, cols = surface.shape
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                is_min &= surface <= padded[1 + di:1 + di + rows, 1 + dj:1 + dj + cols]
    flat = surface.ravel()
    minima = np.flatnonzero(is_min.ravel())
    minima = minima[np.argsort(flat[minima])][:count]
    rest = [i for i in np.argsort(flat) if i not in set(minima)][:count - minima.size]
    return np.concatenate([minima, np.asarray(rest, dtype=int)]).astype(int)


def _nonnegative_least_squares_3(basis: np.ndarray, target: np.ndarray) -> np.ndarray:
    """min ||basis c - target|| over c >= 0 for every grid point: (G, n, 3) -> (G, 3).

    Solves every subset of active columns and keeps the best feasible one (exact for 3 unknowns).
    """
    G = basis.shape[0]
    best = np.zeros((G, 3))
    best_ssr = np.full(G, (target ** 2).sum())
    for size in (1, 2, 3):
        for cols in itertools.combinations(range(3), size):
            X = basis[:, :, cols]                                  # (G, n, k)
            xtx = np.einsum("gni,gnj->gij", X, X) + 1e-14 * np.eye(size)
            xty = np.einsum("gni,n->gi", X, target)
            c = np.linalg.solve(xtx, xty[..., None])[..., 0]
            feasible = np.all(c >= 0, axis=1)
            resid = np.einsum("gni,gi->gn", X, c) - target
            ssr = (resid ** 2).sum(axis=1)
            better = feasible & (ssr < best_ssr)
            full = np.zeros((G, 3))
            full[:, cols] = c
            best = np.where(better[:, None], full, best)
            best_ssr = np.where(better, ssr, best_ssr)
    return best


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
                     flops_min=float(flops.min()), flops_max=float(flops.max()), report=report,
                     flops=flops, loss=loss, model_params=n_params, tokens=tokens)


def bootstrap_chinchilla(fit, n_resamples: int, seed: int, progress=None, delta: float = HUBER_DELTA):
    """Refit L(N, D) on resamples of the family's runs (all at once, in chunks for progress)."""
    from .uncertainty import CHUNK, BootstrapFits, family_rng

    n = fit.n_runs
    index = family_rng(seed, fit.family).integers(0, n, size=(n_resamples, n))
    params = np.full((n_resamples, 5), np.nan)
    ok = np.zeros(n_resamples, dtype=bool)
    for start in range(0, n_resamples, CHUNK):
        rows = index[start:start + CHUNK]
        p, obj = fit_chinchilla_resamples(fit.model_params, fit.tokens, fit.loss, rows, fit.params, delta)
        good = np.all(np.isfinite(p), axis=1) & np.isfinite(obj) & _identifiable(fit.model_params[rows],
                                                                                 fit.tokens[rows])
        params[start:start + len(rows)] = np.where(good[:, None], p, np.nan)
        ok[start:start + len(rows)] = good
        if progress is not None:
            progress(len(rows))
    return BootstrapFits(family=fit.family, law=fit.law, params=params, ok=ok)


def _identifiable(n_params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Rows with at least 3 distinct N, 3 distinct D and ln D not a linear function of ln N."""
    distinct_n = np.array([np.unique(r).size for r in n_params])
    distinct_d = np.array([np.unique(r).size for r in tokens])
    return (distinct_n >= 3) & (distinct_d >= 3) & (collinearity(n_params, tokens) < COLLINEAR_R2)


COLLINEAR_R2 = 0.9999


def collinearity(n_params, tokens) -> np.ndarray:
    """R^2 of ln D regressed on ln N, per row (1 when tokens are a power of parameters)."""
    x = np.log(np.atleast_2d(n_params))
    y = np.log(np.atleast_2d(tokens))
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = (x * y).sum(1) ** 2 / ((x * x).sum(1) * (y * y).sum(1))
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
