"""IsoFLOP analysis (Hoffmann et al. 2022, "Approach 2").

Runs whose compute C = k N D agrees within ``tolerance`` decades form a budget: sorted by compute,
runs closer than ``tolerance`` to the next are grouped, and a group that spans more than
``tolerance`` (runs spread along compute, chained by small gaps: one such chain of the digitised
Chinchilla runs spanned a decade) is split at its widest gap until every part spans at most
``tolerance``. In each budget with
at least MIN_RUNS runs at MIN_DISTINCT_N or more model sizes, a parabola is fitted by least squares
to loss against x = ln N, L = c0 + c1 x + c2 x^2; where it opens upwards (c2 > 0) its minimum gives
the budget's optimal size N*(C) = exp(-c1 / (2 c2)), and D*(C) = C / (k N*). Across budgets,
ln N* = ln G + a ln C is fitted by least squares, so N_opt ∝ C^a and D_opt ∝ C^b with b = 1 - a.
Bands: bootstrap over runs within each budget, refitting every parabola and the power law; a
resampled parabola counts only under the rule of the point estimate (opening upwards, minimum at
most 0.5 in ln N beyond the sizes trained), and each resample's power law goes through the budgets
usable in it (``draws_used``: the share of resampled parabolas that were). No resamples: no band.
When rows are checkpoints (``runs`` labels them by run), a resample draws whole runs once for all
budgets, and each budget's parabola weighs its rows by how often their run was drawn: a run's
checkpoints share its luck across budgets.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .fitting import ReadOnlyFields
from .uncertainty import draw_run_counts, percentile_band

MIN_RUNS = 4
MIN_DISTINCT_N = 3


@dataclass(frozen=True, eq=False)
class IsoflopResult(ReadOnlyFields):
    budgets: pd.DataFrame       # one row per usable budget: flops, runs, n_opt, d_opt, loss_opt
    skipped: tuple[str, ...]    # why other budgets were not used
    a: float
    b: float
    a_band: tuple[float, float]
    log_g: float                # N_opt = exp(log_g) * C^a
    draws_a: np.ndarray
    draws_log_g: np.ndarray
    k: float
    draws_used: float = float("nan")   # share of the resampled budget parabolas that were usable

    def n_opt(self, flops: float) -> float:
        return float(np.exp(self.log_g + self.a * np.log(flops)))

    def n_opt_band(self, flops: float, level: float) -> tuple[float, float]:
        return percentile_band(np.exp(self.draws_log_g + self.draws_a * np.log(flops)), level)

    def d_opt(self, flops: float) -> float:
        return flops / (self.k * self.n_opt(flops))


def group_budgets(flops: np.ndarray, tolerance: float) -> np.ndarray:
    """Budget labels, numbered by compute: sorted log10 compute values closer than ``tolerance``
    decades chain together, and a chain spanning more than ``tolerance`` is split at its widest
    gap, again and again, until no part does."""
    order = np.argsort(flops, kind="stable")
    log_c = np.log10(flops[order])
    pending = np.split(np.arange(log_c.size), np.flatnonzero(np.diff(log_c) > tolerance) + 1)
    budgets = []
    while pending:
        group = pending.pop()
        if log_c[group[-1]] - log_c[group[0]] <= tolerance * (1 + 1e-9):
            budgets.append(group)
            continue
        cut = int(np.argmax(np.diff(log_c[group]))) + 1
        pending += [group[:cut], group[cut:]]
    labels = np.empty(log_c.size, dtype=int)
    for label, group in enumerate(sorted(budgets, key=lambda g: g[0])):
        labels[order[group]] = label
    return labels


def isoflop_analysis(n_params, tokens, loss, k: float = 6.0, tolerance: float = 0.05,
                     n_resamples: int = 1000, level: float = 0.95, seed: int = 0,
                     family: str = "", runs=None) -> IsoflopResult | None:
    """Approach 2 on one family; None when fewer than 2 budgets are usable. ``runs``: a run label
    per row, when rows are checkpoints (resamples then draw whole runs)."""
    n_params, tokens, loss = (np.asarray(x, dtype=float) for x in (n_params, tokens, loss))
    flops = k * n_params * tokens
    labels = group_budgets(flops, tolerance)
    rng = np.random.default_rng([seed, zlib.crc32(f"isoflop:{family}".encode())])
    run_counts = None if runs is None else draw_run_counts(rng, runs, n_resamples)
    rows, skipped, draws_x, draws_y = [], [], [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        budget = float(np.exp(np.mean(np.log(flops[members]))))
        if members.size < MIN_RUNS or np.unique(n_params[members]).size < MIN_DISTINCT_N:
            skipped.append(f"budget {budget:.3g}: {members.size} runs at {np.unique(n_params[members]).size} sizes")
            continue
        x, y = np.log(n_params[members]), loss[members]
        c = _parabolas(x[None], y[None])[0]
        if not c[2] > 0:
            skipped.append(f"budget {budget:.3g}: loss against ln N does not curve upwards")
            continue
        x_opt = -c[1] / (2 * c[2])
        if not (x.min() - 0.5 <= x_opt <= x.max() + 0.5):
            skipped.append(f"budget {budget:.3g}: its minimum lies outside the sizes trained")
            continue
        if run_counts is None:
            resample = rng.integers(0, members.size, size=(n_resamples, members.size))
            cb = _parabolas(x[resample], y[resample])
            enough = np.ones(n_resamples, dtype=bool)
        else:
            weight = run_counts[:, members]
            cb = _parabolas(np.broadcast_to(x, weight.shape), np.broadcast_to(y, weight.shape), weight)
            enough = _distinct_drawn(n_params[members], weight) >= MIN_DISTINCT_N
        with np.errstate(divide="ignore", invalid="ignore"):
            xb = np.where(enough & (cb[:, 2] > 0), -cb[:, 1] / (2 * cb[:, 2]), np.nan)
        xb[~((x.min() - 0.5 <= xb) & (xb <= x.max() + 0.5))] = np.nan     # the point estimate's rule
        rows.append(dict(flops=budget, runs=int(members.size), n_opt=float(np.exp(x_opt)),
                         d_opt=float(budget / (k * np.exp(x_opt))),
                         loss_opt=float(c[0] + c[1] * x_opt + c[2] * x_opt ** 2)))
        draws_x.append(xb)
        draws_y.append(np.log(budget))
    if len(rows) < 2:
        return None
    budgets = pd.DataFrame(rows)
    log_c = np.log(budgets["flops"].to_numpy())
    a, log_g = _line(log_c[None], np.log(budgets["n_opt"].to_numpy())[None])
    xb = np.column_stack(draws_x)                        # (B, budgets) of ln N*
    usable = np.isfinite(xb)
    rows_ok = usable.sum(axis=1) >= 2                    # a line needs two budgets
    da, dg = _line(np.broadcast_to(log_c, xb.shape)[rows_ok], np.where(usable, xb, 0.0)[rows_ok], usable[rows_ok])
    return IsoflopResult(budgets=budgets, skipped=tuple(skipped), a=float(a[0]), b=float(1 - a[0]),
                         a_band=percentile_band(da, level), log_g=float(log_g[0]), draws_a=da, draws_log_g=dg, k=k,
                         draws_used=float(usable.mean()) if usable.size else float("nan"))



def _distinct_drawn(sizes: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Distinct values of ``sizes`` (n,) among the rows with positive ``weight`` (B, n), per row."""
    _, which = np.unique(sizes, return_inverse=True)
    onehot = np.zeros((sizes.size, int(which.max()) + 1))
    onehot[np.arange(sizes.size), which.ravel()] = 1.0
    return ((weight > 0) @ onehot > 0).sum(axis=1)


def _parabolas(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Least-squares (c0, c1, c2) of y = c0 + c1 x + c2 x^2 per row, x centered for conditioning;
    with ``w`` (B, n) the sum of squares weighs point i by w_i (the count of its draws)."""
    if w is None:
        center = x.mean(axis=1, keepdims=True)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            center = np.nan_to_num((w * x).sum(axis=1, keepdims=True) / w.sum(axis=1, keepdims=True))
    z = x - center
    X = np.stack([np.ones_like(z), z, z * z], axis=-1)
    if w is None:
        xtx = np.einsum("bni,bnj->bij", X, X) + 1e-12 * np.eye(3)
        xty = np.einsum("bni,bn->bi", X, y)
    else:
        xtx = np.einsum("bni,bn,bnj->bij", X, w, X) + 1e-12 * np.eye(3)
        xty = np.einsum("bni,bn,bn->bi", X, w, y)
    try:
        c = np.linalg.solve(xtx, xty[..., None])[..., 0]
    except np.linalg.LinAlgError:
        c = np.einsum("bij,bj->bi", np.linalg.pinv(xtx), xty)
    m = center[:, 0]
    # back to uncentered x: c0 - c1 m + c2 m^2, c1 - 2 c2 m, c2
    return np.column_stack([c[:, 0] - c[:, 1] * m + c[:, 2] * m * m, c[:, 1] - 2 * c[:, 2] * m, c[:, 2]])


def _line(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Slope and intercept of y on x per row, by least squares over the points where ``w`` (0/1
    weights, default all) is set."""
    w = np.ones_like(x) if w is None else w.astype(float)
    total = w.sum(axis=1, keepdims=True)
    xm, ym = (w * x).sum(axis=1, keepdims=True) / total, (w * y).sum(axis=1, keepdims=True) / total
    slope = (w * (x - xm) * (y - ym)).sum(axis=1) / (w * (x - xm) ** 2).sum(axis=1)
    return slope, ym[:, 0] - slope * xm[:, 0]
