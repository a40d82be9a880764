"""IsoFLOP analysis (Hoffmann et al. 2022, "Approach 2").

Runs whose compute C = k N D agrees within ``tolerance`` decades form a budget: sorted by compute,
runs closer than ``tolerance`` to the next are grouped, and a group that spans more than
``tolerance`` (runs spread along compute, chained by small gaps) is no budget and is skipped. In each budget with
at least MIN_RUNS runs at MIN_DISTINCT_N or more model sizes, a parabola is fitted by least squares
to loss against x = ln N, L = c0 + c1 x + c2 x^2; where it opens upwards (c2 > 0) its minimum gives
the budget's optimal size N*(C) = exp(-c1 / (2 c2)), and D*(C) = C / (k N*). Across budgets,
ln N* = ln G + a ln C is fitted by least squares, so N_opt ∝ C^a and D_opt ∝ C^b with b = 1 - a.
Bands: bootstrap over runs within each budget, refitting every parabola and the power law; a
resampled parabola counts only under the rule of the point estimate (opening upwards, minimum at
most 0.5 in ln N beyond the sizes trained), and resamples where some budget breaks it are dropped
(``draws_used`` says what share was kept). No resamples: no band.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .uncertainty import percentile_band

MIN_RUNS = 4
MIN_DISTINCT_N = 3


@dataclass(frozen=True)
class IsoflopResult:
    budgets: pd.DataFrame       # one row per usable budget: flops, runs, n_opt, d_opt, loss_opt
    skipped: tuple[str, ...]    # why other budgets were not used
    a: float
    b: float
    a_band: tuple[float, float]
    log_g: float                # N_opt = exp(log_g) * C^a
    draws_a: np.ndarray
    draws_log_g: np.ndarray
    k: float
    draws_used: float = float("nan")   # share of resamples in which every budget's parabola was usable

    def n_opt(self, flops: float) -> float:
        return float(np.exp(self.log_g + self.a * np.log(flops)))

    def n_opt_band(self, flops: float, level: float) -> tuple[float, float]:
        return percentile_band(np.exp(self.draws_log_g + self.draws_a * np.log(flops)), level)

    def d_opt(self, flops: float) -> float:
        return flops / (self.k * self.n_opt(flops))


def group_budgets(flops: np.ndarray, tolerance: float) -> np.ndarray:
    """Budget labels: sorted log10 compute values closer than ``tolerance`` decades chain together."""
    order = np.argsort(flops)
    log_c = np.log10(flops[order])
    labels_sorted = np.concatenate([[0], np.cumsum(np.diff(log_c) > tolerance)])
    labels = np.empty_like(labels_sorted)
    labels[order] = labels_sorted
    return labels


def isoflop_analysis(n_params, tokens, loss, k: float = 6.0, tolerance: float = 0.05,
                     n_resamples: int = 1000, level: float = 0.95, seed: int = 0,
                     family: str = "") -> IsoflopResult | None:
    """Approach 2 on one family; None when fewer than 2 budgets are usable."""
    n_params, tokens, loss = (np.asarray(x, dtype=float) for x in (n_params, tokens, loss))
    flops = k * n_params * tokens
    labels = group_budgets(flops, tolerance)
    rng = np.random.default_rng([seed, zlib.crc32(f"isoflop:{family}".encode())])
    rows, skipped, draws_x, draws_y = [], [], [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        budget = float(np.exp(np.mean(np.log(flops[members]))))
        span = float(np.log10(flops[members].max() / flops[members].min()))
        if span > tolerance * (1 + 1e-9):
            skipped.append(f"runs from {flops[members].min():.3g} to {flops[members].max():.3g}: spread over "
                           f"{span:.2f} decades of compute (more than the tolerance {tolerance:g}), not one budget")
            continue
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
        resample = rng.integers(0, members.size, size=(n_resamples, members.size))
        cb = _parabolas(x[resample], y[resample])
        with np.errstate(divide="ignore", invalid="ignore"):
            xb = np.where(cb[:, 2] > 0, -cb[:, 1] / (2 * cb[:, 2]), np.nan)
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
    ok = np.all(np.isfinite(xb), axis=1)
    da, dg = _line(np.broadcast_to(log_c, xb.shape)[ok], xb[ok])
    return IsoflopResult(budgets=budgets, skipped=tuple(skipped), a=float(a[0]), b=float(1 - a[0]),
                         a_band=percentile_band(da, level), log_g=float(log_g[0]), draws_a=da, draws_log_g=dg, k=k,
                         draws_used=float(ok.mean()) if ok.size else float("nan"))


def spread_groups(flops: np.ndarray, tolerance: float) -> int:
    """How many groups of ``group_budgets`` span more than ``tolerance`` decades (no budget)."""
    flops = np.asarray(flops, dtype=float)
    labels = group_budgets(flops, tolerance)
    return sum(np.log10(flops[labels == g].max() / flops[labels == g].min()) > tolerance * (1 + 1e-9)
               for g in np.unique(labels))


def _parabolas(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares (c0, c1, c2) of y = c0 + c1 x + c2 x^2 per row, x centered for conditioning."""
    center = x.mean(axis=1, keepdims=True)
    z = x - center
    X = np.stack([np.ones_like(z), z, z * z], axis=-1)
    xtx = np.einsum("bni,bnj->bij", X, X) + 1e-12 * np.eye(3)
    xty = np.einsum("bni,bn->bi", X, y)
    try:
        c = np.linalg.solve(xtx, xty[..., None])[..., 0]
    except np.linalg.LinAlgError:
        c = np.einsum("bij,bj->bi", np.linalg.pinv(xtx), xty)
    m = center[:, 0]
    # back to uncentered x: c0 - c1 m + c2 m^2, c1 - 2 c2 m, c2
    return np.column_stack([c[:, 0] - c[:, 1] * m + c[:, 2] * m * m, c[:, 1] - 2 * c[:, 2] * m, c[:, 2]])


def _line(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope and intercept of y on x per row."""
    xm, ym = x.mean(axis=1, keepdims=True), y.mean(axis=1, keepdims=True)
    slope = ((x - xm) * (y - ym)).sum(axis=1) / ((x - xm) ** 2).sum(axis=1)
    return slope, ym[:, 0] - slope * xm[:, 0]
