"""Forward predictions: the loss a fitted family reaches at a given compute, with a band.

    >>> result = scalefit.analyze("data/ladders/muse.csv", at_flops=[1e23])
    >>> result.predictions_frame()

The prediction is the fitted law at C, L(C) (for the chinchilla law, its compute-optimal frontier
L_opt(C) with C = k N D). Bands:

- profile (compute laws): the losses L0 such that the best law through (C, L0) has profile
  deviance below the F threshold (``profile.loss_band``). "The law passes through (C, L0)" is the
  same constraint that profiles the compute needed to reach L0, so L0 is in the loss band at C
  exactly when C is in the compute band at L0: the coverage that analyses/calibration.py measured
  for the compute bands at the loss of a reference holds for these bands at the same designs.
- percentile: the equal-tailed percentiles of L(C) over the bootstrap refits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .efficiency import extrapolation_decades
from .fitting import FitResult
from .uncertainty import BootstrapFits, percentile_band


@dataclass(frozen=True)
class Prediction:
    """Fitted loss of ``family`` at compute ``flops`` (nats per token), with its band [low, high]
    at ``level`` (NaN without bands). ``extrapolation_decades``: > 0 beyond the family's largest
    run, < 0 below its smallest, 0 inside. ``band_checked``: the design lies where the calibration
    study checked profile bands (percentile bands are never marked checked)."""

    family: str
    flops: float
    loss: float
    low: float
    high: float
    level: float
    band_method: str
    extrapolation_decades: float
    band_checked: bool
    n_draws: int = 0


def predict_at(fit: FitResult, draws: BootstrapFits | None, flops: Sequence[float], level: float,
               band_method: str) -> list[Prediction]:
    """One :class:`Prediction` per compute in ``flops`` (positive, finite) for one fitted family.
    ``band_method`` is "profile" (compute laws), "percentile" (needs ``draws``) or "none"."""
    flops = np.asarray(flops, dtype=float).ravel()
    loss = np.asarray(fit.predict(flops), dtype=float).reshape(flops.shape)
    low, high, n_draws = _bands(fit, draws, flops, level, band_method)
    return [Prediction(family=fit.family, flops=float(c), loss=float(value), low=float(lo), high=float(hi),
                       level=level, band_method=band_method,
                       extrapolation_decades=extrapolation_decades(float(c), fit.flops_min, fit.flops_max),
                       band_checked=band_method == "profile", n_draws=n_draws)
            for c, value, lo, hi in zip(flops, loss, low, high)]


def _bands(fit: FitResult, draws: BootstrapFits | None, flops: np.ndarray, level: float,
           band_method: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(low, high) per compute and the number of refits they rest on."""
    if band_method == "profile":
        from .profile import loss_band
        low, high = loss_band(fit, flops, level)
        return low, high, 0
    if band_method == "percentile":
        if draws is None:
            raise ValueError("percentile bands need the bootstrap refits (draws)")
        good = draws.params[draws.ok]
        predicted = np.asarray(fit.law.predict(good, flops), dtype=float).reshape(good.shape[0], flops.size)
        bands = np.array([percentile_band(predicted[:, j], level) for j in range(flops.size)]).reshape(-1, 2)
        return bands[:, 0], bands[:, 1], int(good.shape[0])
    nan = np.full(flops.shape, np.nan)
    return nan, nan, 0
