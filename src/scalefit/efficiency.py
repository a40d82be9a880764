"""Equivalent-compute multipliers: how much less compute the focus family needs for the same loss.

For a target loss L*, the multiplier of the focus family F against a reference R is

    m(L*) = C_R(L*) / C_F(L*),

where C_F = F's fitted law inverted at L*, and C_R is the reference run's compute (a reference
point, L* being its loss) or R's inverted law (another ladder). m > 1 means F reaches L* with m
times less compute. When F cannot reach L* (L* at or below F's irreducible loss) C_F = inf and
m = 0; when R cannot, m = inf. In the bootstrap each draw refits both families and computes m
inside the draw; draws where either side is unreachable are counted in ``unreachable_fraction``
(and give a band reaching 0 or infinity), draws where both are unreachable have no multiplier.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .fitting import FitResult
from .uncertainty import BootstrapFits, percentile_band


@dataclass(frozen=True)
class Multiplier:
    """One comparison of the focus family F with a reference R, at one target loss L* (``loss``,
    nats per token): ``multiplier`` m = C_R(L*) / C_F(L*) = ``reference_flops / focus_flops``, C_F
    the compute at which F's law reaches L* ((A / (L* - E))^(1/alpha) for the saturating law, E = 0
    for the power law; on the compute-optimal frontier for L(N, D)), C_R the reference run's compute
    or R's law inverted alike; ``low`` and ``high`` the band at the analysis's level."""

    focus: str
    reference: str
    reference_kind: str  # "point" (a single run) or "ladder"
    where: str  # "reference run", "largest run" or "at-loss"
    loss: float
    reference_flops: float
    reference_flops_low: float
    reference_flops_high: float
    focus_flops: float
    focus_flops_low: float
    focus_flops_high: float
    multiplier: float
    low: float
    high: float
    unreachable_fraction: float
    n_draws: int
    extrapolation_decades: float
    reference_extrapolation_decades: float
    band_checked: bool = True  # the design lies inside what analyses/calibration.py verified

    @property
    def reachable(self) -> bool:
        """Both families reach the loss at some positive, finite compute."""
        return bool(0 < self.focus_flops < np.inf and 0 < self.reference_flops < np.inf)


def compute_ratio(reference_flops, focus_flops):
    """m = reference / focus with 0 when only the focus is unreachable, inf when only the reference
    is, and NaN when both are (no multiplier exists)."""
    reference_flops = np.asarray(reference_flops, dtype=float)
    focus_flops = np.asarray(focus_flops, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = reference_flops / focus_flops
    both = np.isinf(reference_flops) & np.isinf(focus_flops)
    return np.where(both, np.nan, ratio)


def extrapolation_decades(flops: float, flops_min: float, flops_max: float) -> float:
    """Decades of compute outside a ladder's range: > 0 beyond its largest run, < 0 below its
    smallest, 0 inside, inf when the loss is unreachable, -inf when it needs no compute."""
    if not np.isfinite(flops):
        return float("inf")
    if flops <= 0:
        return float("-inf")
    if flops > flops_max:
        return float(np.log10(flops / flops_max))
    if flops < flops_min:
        return float(np.log10(flops / flops_min))
    return 0.0


def multiplier_at(focus_fit: FitResult, focus_draws: BootstrapFits | None, reference: str, loss: float,
                  level: float, where: str, reference_flops: float | None = None,
                  reference_fit: FitResult | None = None,
                  reference_draws: BootstrapFits | None = None, band_method: str = "profile") -> Multiplier:
    """The multiplier of the focus family against one reference at target ``loss``.

    Give ``reference_flops`` for a reference point, or ``reference_fit`` (and its draws) for a
    reference ladder. ``band_method`` is "profile" (profile-likelihood bands, see
    :mod:`scalefit.profile`; the default, as in :func:`scalefit.analyze`), "percentile" (from the
    bootstrap draws) or "none". :func:`multipliers_of` computes several at once.
    """
    comparison = Comparison(reference, float(loss), where, reference_flops, reference_fit, reference_draws)
    return multipliers_of(focus_fit, focus_draws, [comparison], level, band_method)[0]


@dataclass(frozen=True)
class Comparison:
    """One multiplier to compute: the focus against ``reference`` at target ``loss`` (nats per
    token), ``where`` saying which loss it is ("reference run", "largest run", "at-loss", ...); a
    reference point has ``reference_flops``, another ladder ``reference_fit`` and its draws."""

    reference: str
    loss: float
    where: str
    reference_flops: float | None = None
    reference_fit: FitResult | None = None
    reference_draws: BootstrapFits | None = None


COMPARISONS_TOGETHER = 8   # comparisons whose profiles are searched at once: 24 took 0.9 s, one at a time 1.7 s


def multipliers_of(focus_fit: FitResult, focus_draws: BootstrapFits | None, comparisons: Sequence[Comparison],
                   level: float, band_method: str = "profile",
                   progress: Callable[[int], None] | None = None) -> list[Multiplier]:
    """:func:`multiplier_at` for each comparison. With profile bands the profiles of up to
    COMPARISONS_TOGETHER of them are searched together (:func:`~scalefit.profile.compute_deviances`),
    which shares their array work: the same bands, about twice as fast for 24 as one at a time.
    ``progress`` is called after each such chunk with the number of comparisons in it."""
    comparisons = list(comparisons)
    out: list[Multiplier] = []
    for start in range(0, len(comparisons), COMPARISONS_TOGETHER):
        chunk = comparisons[start:start + COMPARISONS_TOGETHER]
        deviances = (_profile_deviances(focus_fit, chunk, level) if band_method == "profile"
                     else [None] * len(chunk))
        out += [_multiplier(focus_fit, focus_draws, c, level, band_method, pair) for c, pair in zip(chunk, deviances)]
        if progress is not None:
            progress(len(chunk))
    return out


def _profile_deviances(focus_fit: FitResult, comparisons: list[Comparison], level: float) -> list[tuple]:
    """(focus deviance, reference deviance or None for a point) of the inverted computes of each
    comparison, in one search."""
    from .profile import compute_deviances

    ladders = [i for i, c in enumerate(comparisons) if c.reference_fit is not None]
    fits = [focus_fit] * len(comparisons) + [comparisons[i].reference_fit for i in ladders]
    found = compute_deviances(fits, [c.loss for c in comparisons] + [comparisons[i].loss for i in ladders], level)
    references: list = [None] * len(comparisons)
    for i, deviance in zip(ladders, found[len(comparisons):]):
        references[i] = deviance
    return list(zip(found[:len(comparisons)], references))


def _multiplier(focus_fit: FitResult, focus_draws: BootstrapFits | None, c: Comparison, level: float,
                band_method: str, deviances: tuple | None) -> Multiplier:
    """:func:`multiplier_at` of comparison ``c``, given the profile deviances of its band (for profile bands)."""
    loss = c.loss
    focus_flops = float(focus_fit.invert(loss))
    if c.reference_fit is not None:
        ref_flops = float(c.reference_fit.invert(loss))
        ref_extra = extrapolation_decades(ref_flops, c.reference_fit.flops_min, c.reference_fit.flops_max)
        kind = "ladder"
    else:
        ref_flops = float(c.reference_flops)
        ref_extra = 0.0
        kind = "point"
    # a fit whose inversion is 0 (the loss lies above its whole curve, as for a family whose loss rises
    # with compute: the power of a tiny exponent underflows) needs no compute: there is no ratio
    point = float(compute_ratio(ref_flops, focus_flops)) if ref_flops > 0 and focus_flops > 0 else float("nan")
    if band_method == "profile":
        bands = _profile_bands(focus_fit, c.reference_fit, ref_flops, loss, level, *deviances)
    else:
        bands = _bootstrap_bands(focus_draws, c.reference_draws, ref_flops, loss, level)
    return Multiplier(
        focus=focus_fit.family, reference=c.reference, reference_kind=kind, where=c.where, loss=float(loss),
        reference_flops=ref_flops, focus_flops=focus_flops, multiplier=point,
        extrapolation_decades=extrapolation_decades(focus_flops, focus_fit.flops_min, focus_fit.flops_max),
        reference_extrapolation_decades=ref_extra, **bands)


def _profile_bands(focus_fit: FitResult, reference_fit: FitResult | None, ref_flops: float, loss: float,
                   level: float, focus_dev, ref_dev) -> dict:
    """Profile-t bands of the inverted compute and of the multiplier (no resampling), from the
    deviances of the two inverted computes (``ref_dev`` None for a reference point)."""
    from .profile import interval_from_deviance, ratio_interval

    focus_lo, focus_hi = (10.0 ** x for x in interval_from_deviance(focus_dev, level))
    focus_point = float(focus_fit.invert(loss))
    if reference_fit is None:
        ref_lo = ref_hi = ref_point = ref_flops
    else:
        ref_lo, ref_hi = (10.0 ** x for x in interval_from_deviance(ref_dev, level))
        ref_point = float(reference_fit.invert(loss))
    if reference_fit is None or exact_band(ref_lo, ref_hi):
        # a reference point, or a ladder fitted exactly (no scatter, e.g. a noise-free simulation),
        # whose band is its estimate: the ratio's band is the focus's alone
        low, high = float(compute_ratio(ref_point, focus_hi)), float(compute_ratio(ref_point, focus_lo))
    elif exact_band(focus_lo, focus_hi):
        low, high = float(compute_ratio(ref_lo, focus_point)), float(compute_ratio(ref_hi, focus_point))
    else:
        low, high = (10.0 ** x for x in ratio_interval(ref_dev, focus_dev, level))
    # The profile's minimum can sit a hair from the point fit's optimum (optimizer tolerance); a
    # band always contains its own point estimate.
    point = float(compute_ratio(ref_point, focus_point))
    nan = float("nan")
    return dict(reference_flops_low=float(min(ref_lo, ref_point)), reference_flops_high=float(max(ref_hi, ref_point)),
                focus_flops_low=float(min(focus_lo, focus_point)), focus_flops_high=float(max(focus_hi, focus_point)),
                low=float(_fmin(low, point)), high=float(_fmax(high, point)), unreachable_fraction=nan, n_draws=0)


EXACT_BAND_DECADES = 1e-9   # a compute band narrower than this is an exact fit's estimate (its deviance is rounding)


def exact_band(low: float, high: float) -> bool:
    """Whether the compute band [low, high] is a single point, as an exact fit's is: its profile
    deviance is then rounding error (5, say, at the estimate and 1e20 a grid step away), and
    combined with another family's (:func:`~scalefit.profile.ratio_interval`) it gave no band, a
    point or a one-sided one (found on noise-free simulations)."""
    return bool(0 < low <= high < np.inf and np.log10(high / low) < EXACT_BAND_DECADES)


def _fmin(a: float, b: float) -> float:
    return a if np.isnan(b) else min(a, b)


def _fmax(a: float, b: float) -> float:
    return a if np.isnan(b) else max(a, b)


def _bootstrap_bands(focus_draws, reference_draws, ref_flops, loss, level) -> dict:
    nan = float("nan")
    if focus_draws is None:
        return dict(reference_flops_low=nan, reference_flops_high=nan, focus_flops_low=nan,
                    focus_flops_high=nan, low=nan, high=nan, unreachable_fraction=nan, n_draws=0)
    ok = focus_draws.ok.copy()
    focus = np.full(ok.size, np.nan)
    focus[ok] = focus_draws.law.invert(focus_draws.params[ok], loss)
    if reference_draws is not None:
        ok &= reference_draws.ok
        ref = np.full(ok.size, np.nan)
        ref[ok] = reference_draws.law.invert(reference_draws.params[ok], loss)
        ref_low, ref_high = percentile_band(ref[ok], level)
    else:
        ref = np.full(ok.size, ref_flops)
        ref_low = ref_high = ref_flops
    focus, ref = focus[ok], ref[ok]
    ratio = compute_ratio(ref, focus)
    unreachable = np.isinf(focus) | np.isinf(ref)
    low, high = percentile_band(ratio, level)
    focus_low, focus_high = percentile_band(focus, level)
    return dict(reference_flops_low=ref_low, reference_flops_high=ref_high, focus_flops_low=focus_low,
                focus_flops_high=focus_high, low=low, high=high,
                unreachable_fraction=float(unreachable.mean()) if ok.any() else nan, n_draws=int(ok.sum()))
