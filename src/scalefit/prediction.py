"""Forward predictions: the loss a fitted family reaches at a given compute, with a band.

    >>> result = scalefit.analyze("data/ladders/muse.csv", at_flops=[1e23])
    >>> result.predictions_frame()

The prediction is the fitted law at C, L(C). For the chinchilla law it is either the frontier,
L_opt(C) = min over N D = C / k of L(N, D) (with the N and D that reach it), or L(N, D) at a given
parameter and token count (``predict_at_size``). Bands:

- profile (compute laws): the losses L0 such that the best law through (C, L0) has profile
  deviance below the F threshold (``profile.loss_band``). "The law passes through (C, L0)" is the
  same constraint that profiles the compute needed to reach L0, so L0 is in the loss band at C
  exactly when C is in the compute band at L0: the coverage that analyses/calibration.py measured
  for the compute bands at the loss of a reference holds for these bands at the same designs.
- percentile: the equal-tailed percentiles of the prediction over the bootstrap refits.
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
    at ``level`` (NaN without bands). ``where``: "compute" (a compute law), "compute-optimal" (an
    L(N, D) law on its frontier; ``params`` and ``tokens`` are then N_opt and D_opt) or "size" (an
    L(N, D) law at the given ``params`` and ``tokens``, flops = k N D); ``params`` and ``tokens``
    are NaN for compute laws. ``extrapolation_decades``: > 0 beyond the family's largest run in
    compute, < 0 below its smallest, 0 inside. ``band_checked``: the design lies where the
    calibration study checked profile bands (percentile bands are never marked checked; without
    bands it stays True, as for multipliers)."""

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
    where: str = "compute"
    params: float = float("nan")
    tokens: float = float("nan")


def predict_at(fit: FitResult, draws: BootstrapFits | None, flops: Sequence[float], level: float,
               band_method: str) -> list[Prediction]:
    """One :class:`Prediction` per compute in ``flops`` (positive, finite) for one fitted family.
    ``band_method`` is "profile" (compute laws), "percentile" (needs ``draws``) or "none"."""
    flops = np.asarray(flops, dtype=float).ravel()
    loss = np.asarray(fit.predict(flops), dtype=float).reshape(flops.shape)
    low, high, n_draws = _bands(fit, draws, flops, level, band_method,
                                lambda params: fit.law.predict(params, flops))
    where, n_opt, d_opt = "compute", np.full(flops.shape, np.nan), np.full(flops.shape, np.nan)
    if fit.law.name == "chinchilla":
        from .chinchilla import allocation
        split = allocation(fit.params, flops, fit.law.flops_per_param_token)
        where, n_opt, d_opt = "compute-optimal", split["n_opt"], split["d_opt"]
    return [_prediction(fit, c, value, lo, hi, level, band_method, n_draws, where, n, d)
            for c, value, lo, hi, n, d in zip(flops, loss, low, high, n_opt, d_opt)]


def predict_at_size(fit: FitResult, draws: BootstrapFits | None, params: Sequence[float], tokens: Sequence[float],
                    level: float, band_method: str) -> list[Prediction]:
    """One :class:`Prediction` per (N, D) pair for an L(N, D) fit: L(N, D) itself, not the frontier.
    ``band_method`` is "percentile" (needs ``draws``) or "none"."""
    if fit.law.name != "chinchilla":
        raise ValueError(f"predictions at a parameter and token count need an L(N, D) law, not {fit.law.name!r}")
    n, d = np.asarray(params, dtype=float).ravel(), np.asarray(tokens, dtype=float).ravel()
    flops = fit.law.flops_per_param_token * n * d
    loss = np.asarray(fit.law.predict_nd(fit.params, n, d), dtype=float).reshape(n.shape)
    low, high, n_draws = _bands(fit, draws, flops, level, band_method, lambda p: fit.law.predict_nd(p, n, d))
    return [_prediction(fit, c, value, lo, hi, level, band_method, n_draws, "size", n_i, d_i)
            for c, value, lo, hi, n_i, d_i in zip(flops, loss, low, high, n, d)]


def _prediction(fit, flops, loss, low, high, level, band_method, n_draws, where, params, tokens) -> Prediction:
    return Prediction(family=fit.family, flops=float(flops), loss=float(loss), low=float(low), high=float(high),
                      level=level, band_method=band_method,
                      extrapolation_decades=extrapolation_decades(float(flops), fit.flops_min, fit.flops_max),
                      band_checked=band_method != "percentile", n_draws=n_draws, where=where,
                      params=float(params), tokens=float(tokens))


def _bands(fit: FitResult, draws: BootstrapFits | None, flops: np.ndarray, level: float, band_method: str,
           predict) -> tuple[np.ndarray, np.ndarray, int]:
    """(low, high) per point and the number of refits they rest on. ``predict(params)`` gives the
    prediction at every point for parameters (B, p) as (B, points), for the percentile band;
    the profile band is that of L(C) at compute ``flops``."""
    if band_method == "profile":
        from .profile import loss_band
        # each end narrowed to within 1e-6 in ln L: read off a grid, an end where the profile bends
        # sharply (E at its bound, the fitted loss a hair above it) was 34% of its half-width out
        low, high = loss_band(fit, flops, level, ends_only=True)
        return low, high, 0
    if band_method == "percentile":
        if draws is None:
            raise ValueError("percentile bands need the bootstrap refits (draws)")
        good = draws.params[draws.ok]
        predicted = np.asarray(predict(good), dtype=float).reshape(good.shape[0], flops.size)
        bands = np.array([percentile_band(predicted[:, j], level) for j in range(flops.size)]).reshape(-1, 2)
        return bands[:, 0], bands[:, 1], int(good.shape[0])
    nan = np.full(flops.shape, np.nan)
    return nan, nan, 0
