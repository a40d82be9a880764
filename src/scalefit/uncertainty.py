"""Bootstrap over runs: resample each family's runs with replacement and refit fully every time.

The resampled unit is a run. Every resample is refitted with the same global engine as the point
fit (all resamples at once, see :mod:`scalefit.fitting`). Refits that fail (too few distinct
compute values drawn, or a non-finite fit) are kept as failures and counted, never dropped silently.
Bands are percentile intervals taken from order statistics (no interpolation), so they stay well
defined when some draws are infinite (an unreachable loss).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .fitting import fit_many
from .laws import Law

CHUNK = 250  # resamples fitted per engine call; also the progress granularity


@dataclass(frozen=True)
class BootstrapFits:
    """Refits of B resamples of one family: ``params`` (B, p) in user units, NaN where ``ok`` is False."""

    family: str
    law: Law
    params: np.ndarray
    ok: np.ndarray

    @property
    def n_resamples(self) -> int:
        return int(self.ok.size)

    @property
    def n_failed(self) -> int:
        return int((~self.ok).sum())

    def param_band(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Percentile band of each parameter over the successful refits."""
        good = self.params[self.ok]
        bands = [percentile_band(good[:, j], level) for j in range(self.params.shape[1])]
        return np.array([b[0] for b in bands]), np.array([b[1] for b in bands])


def family_rng(seed: int, family: str) -> np.random.Generator:
    """A generator that depends on the seed and the family's name only, so adding or reordering
    families never changes another family's resamples."""
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng([int(seed), zlib.crc32(family.encode("utf-8"))])


def bootstrap_family(flops, loss, law: Law, n_resamples: int, seed: int, family: str,
                     progress: Callable[[int], None] | None = None) -> BootstrapFits:
    """Refit ``law`` on ``n_resamples`` resamples (with replacement) of one family's runs."""
    flops = np.asarray(flops, dtype=float)
    loss = np.asarray(loss, dtype=float)
    n = flops.size
    index = family_rng(seed, family).integers(0, n, size=(n_resamples, n))
    c_ref = float(np.exp(np.mean(np.log(flops))))
    params = np.full((n_resamples, law.n_params), np.nan)
    ok = np.zeros(n_resamples, dtype=bool)
    for start in range(0, n_resamples, CHUNK):
        rows = index[start:start + CHUNK]
        result = fit_many(flops[rows], loss[rows], law, c_ref=c_ref)
        params[start:start + len(rows)] = np.where(result.ok[:, None], result.params, np.nan)
        ok[start:start + len(rows)] = result.ok
        if progress is not None:
            progress(len(rows))
    return BootstrapFits(family=family, law=law, params=params, ok=ok)


def percentile_band(values, level: float) -> tuple[float, float]:
    """Equal-tailed percentile band [q_(1-level)/2, q_(1+level)/2] of the non-NaN values.

    The lower end is the order statistic at or below its quantile and the upper end the one at or
    above it (conservative, and exact with infinite values). Returns (nan, nan) when no value is left.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    low = np.quantile(values, tail, method="lower")
    high = np.quantile(values, 1.0 - tail, method="higher")
    return float(low), float(high)
