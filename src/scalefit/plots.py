"""Figures as plotnine objects (restyle them in a notebook; save with :func:`save_figure`).

plotnine is imported only here, so the command line starts fast. Colours are the Okabe-Ito
palette (safe for colour-blind readers) and every family also gets its own marker shape, so
figures read in grayscale; line types mark the extrapolated parts of curves. Default size fits a paper column (3.4 x 2.6 inches, 8 pt).

Curve bands are pointwise bands of the fitted loss at each compute, from the same method as the
multiplier bands: profile likelihood (a point (C, L) is inside when the profile deviance of the
law passing through it is below the threshold) or bootstrap percentiles.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import warnings
from dataclasses import dataclass, fields, replace
from typing import Callable, Collection

import numpy as np
import pandas as pd

from .analysis import Analysis, level_percent
from .arguments import (MAX_AXIS_VALUE, MAX_XLIM_DECADES, Message, argument_error, axis_limits_fault, message,
                        terms_of)
from .formatting import fmt_multiplier

# Okabe and Ito's colour-blind-safe palette, its yellow (#F0E442, 1.3:1 against the white panel: a
# faint line, band and open marker) last, so that it only colours the 8th family, and darkened for
# lines and points to a mustard (2.6:1, beside the orange's 2.3:1 and the sky blue's 2.3:1)
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#B5A200"]
SHAPES = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINETYPES = ["solid", "dashdot", "dotted", "dashed"]
COLUMN_SIZE = (3.4, 2.6)
CURVE_POINTS = 200


@dataclass(frozen=True)
class FigureOptions:
    """How a figure is drawn: pass to the figure's function (``FIGURES[kind](result, options=...)``).
    Sizes are in inches; ``height`` None is the figure's natural height, as ``scalefit plot`` draws
    it (2.6, more for a multipliers figure's key or stacked panels). Captions name arguments as
    Python does (``at_flops``), or with ``flags`` as the command's options (``--at-flops``)."""

    title: str | None = None
    xlabel: str | None = None
    ylabel: str | None = None
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    width: float = COLUMN_SIZE[0]
    height: float | None = None
    base_size: float = 8.0
    flags: bool = False

    def __post_init__(self):
        for name in ("width", "height", "base_size"):
            value = getattr(self, name)
            if value is None and name == "height":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not 0 < value < np.inf:
                raise ValueError(f"FigureOptions {name} {value!r}: must be a positive number (inches; points for "
                                 "base_size)")
        _check_limits(self.xlim, "xlim")
        _check_limits(self.ylim, "ylim")




def _check_limits(limits, name: str) -> None:
    """ValueError unless ``limits`` is None or (low, high), numbers with low < high: for xlim
    0 < low and high / low at most 10^MAX_XLIM_DECADES (compute is on a log axis), for ylim within
    +-MAX_AXIS_VALUE, the bounds the command puts on --xlim and --ylim (given (1e25, 1e19), (0, 1e22)
    or (nan, 2), a figure was drawn with no sense in its axis, without a word)."""
    if limits is None:
        return
    try:
        if isinstance(limits, str):
            raise TypeError
        low, high = (float(x) for x in limits)
    except (TypeError, ValueError):
        raise ValueError(f"FigureOptions {name} {limits!r}: give (low, high), two numbers, e.g. "
                         f"{'(1e19, 1e25)' if name == 'xlim' else '(1.5, 3)'}") from None
    fault = "order" if any(isinstance(x, (bool, np.bool_)) for x in limits) else axis_limits_fault(name, low, high)
    if fault == "order":
        raise ValueError(f"FigureOptions {name} {limits!r}: low must be a number below high")
    if fault == "log":
        raise ValueError(f"FigureOptions xlim {limits!r}: compute is on a log axis: give 0 < low < high, at most "
                         f"{MAX_XLIM_DECADES} decades apart")
    if fault == "finite":
        raise ValueError(f"FigureOptions ylim {limits!r}: give finite limits within +-{MAX_AXIS_VALUE:g}")


def _require_analysis(result) -> None:
    """TypeError naming what a figure of an analysis was given instead (a DataFrame failed deep in
    the plotting code with pandas' AttributeError)."""
    if not isinstance(result, Analysis):
        raise TypeError(f"a figure is drawn from an analysis (scalefit.analyze(...)), not {type(result).__name__}")


def _sized(kind: str, result: Analysis, options: FigureOptions) -> FigureOptions:
    """``options`` with the natural height of the figure ``kind`` of ``result`` when none is given;
    a height given too small for the figure warns (:func:`short_height_warning`; the command says
    it itself, in its flags), as do names the font cannot draw (:func:`undrawable_names_warning`)."""
    undrawable = None if options.flags else undrawable_names_warning(result)
    if undrawable is not None:
        warnings.warn(undrawable, stacklevel=3)
    if options.height is not None:
        short = short_height_warning(kind, result, options)
        if short is not None and not options.flags:
            warnings.warn(short, stacklevel=3)
        return options
    return with_natural_height(kind, result, options)


def with_natural_height(kind: str, result: Analysis, options: FigureOptions,
                        height: float = COLUMN_SIZE[1]) -> FigureOptions:
    """``options`` with the natural height (:func:`natural_height`, from ``height`` for the panel)
    of the figure ``kind`` of ``result`` drawn with them: their width, flags, title and base size,
    so that the height is measured as the figure is drawn (a title was measured at the default
    base size, and at base size 20 its extra lines came out of the panel)."""
    return replace(options, height=natural_height(kind, result, height, options.width, options.flags,
                                                  options.title, options.base_size))


def _p9():
    import plotnine
    return plotnine


PLAIN_TICKS = (1e-3, 1e4)  # a log axis whose ticks all lie within this range is labelled in plain numbers


def log_tick_labels(breaks) -> list[str]:
    """Tick labels of a log axis: plain numbers ('0.03', '1', '300') when every tick lies within
    PLAIN_TICKS, else powers of ten set as 10^k (a tick between them as 3x10^k), as papers print
    them: the default '1e21' is programmers' notation, and mizani's label_log rounds 3e20 to 10^20."""
    values = np.asarray(breaks, dtype=float)
    finite = values[np.isfinite(values) & (values > 0)]
    plain = finite.size == 0 or (finite.min() >= PLAIN_TICKS[0] and finite.max() <= PLAIN_TICKS[1])
    return [_tick_label(v, plain) for v in values]


def _tick_label(value: float, plain: bool) -> str:
    """One tick's label: ``value`` to 6 digits when ``plain``, else m x 10^k (mathtext), m to 3."""
    if not (np.isfinite(value) and value > 0):
        return ""
    if plain:
        return f"{value:.6g}"
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = float(f"{value / 10.0 ** exponent:.3g}")
    if mantissa >= 10:
        exponent, mantissa = exponent + 1, mantissa / 10
    power = f"10^{{{exponent}}}"
    return f"${power}$" if mantissa == 1 else f"${mantissa:g}\\times{power}$"


TICK_LABEL_GAP_EMS = {"x": 2.75, "y": 0.6}  # least space between neighbouring tick labels, in ems of their text:
# side by side, '15' and '17.5' 2.3 em apart at the end of an axis whose other labels are 3 to 6 em apart read as
# bunched; stacked, as plotnine spaces a linear axis's labels (0.8 em)
AXIS_TEXT_SCALE = 0.8   # tick labels' text size as a share of the base size (theme_bw)
TICK_LABEL_SIZE = AXIS_TEXT_SCALE * FigureOptions.base_size   # points, at the default base size


def log_breaks(limits, room: float | None = None, size: float = TICK_LABEL_SIZE, along: str = "x") -> np.ndarray:
    """Ticks of a log axis over ``limits``: mizani's log breaks (1, 3, 10, 30, ...), or over less
    than a decade evenly spaced round numbers (6, 8, 10, 12, 14) when more of those fall on the
    axis and they are labelled as plain numbers (PLAIN_TICKS): the log breaks gave 5 to 18 ticks at
    6, 7 and 10 only, nothing to read a band's upper end against. Powers of ten ('4x10^21') are
    too wide for evenly spaced ticks, which crowd at the high end of a log axis: they ran together.
    Given the axis's length ``room`` in inches and its labels' ``size`` in points, the evenly
    spaced ticks widen their step where their labels would crowd (:func:`uncrowded_ticks`)."""
    from mizani.breaks import breaks_extended, breaks_log

    low, high = (float(x) for x in limits)
    logarithmic = breaks_log()(limits)
    if not (0 < low < high < np.inf) or high / low >= 10:
        return logarithmic
    even = breaks_extended(n=6)((low, high))
    even = even[even > 0]
    def inside(breaks):
        return int(np.sum((breaks >= low) & (breaks <= high)))
    plain = even.size > 0 and PLAIN_TICKS[0] <= even.min() and even.max() <= PLAIN_TICKS[1]
    if plain and room is not None and inside(even) > 1:
        even = uncrowded_ticks(even[(even >= low) & (even <= high)], (low, high), room, size, along)
    return even if plain and inside(even) > inside(logarithmic) else logarithmic


def uncrowded_ticks(ticks: np.ndarray, limits: tuple[float, float], room: float, size: float,
                    along: str = "x") -> np.ndarray:
    """Evenly spaced round ``ticks`` of a log axis over ``limits``, ``room`` inches long, with a
    wider step (1, 2, 5 x 10^k) from where labels of ``size`` points ``along`` it would come closer
    than TICK_LABEL_GAP_EMS: evenly spaced values draw closer toward a log axis's high end, where
    '15' and '17.5' bunched. From each kept tick the next is the nearest multiple of the current
    step or a wider one whose label keeps the gap; the step never narrows again (4 6 8 10 15)."""
    low, high = limits
    scale = room / np.log10(high / low)       # inches per decade

    def extent(tick: float) -> float:         # along the axis: a label's width, or its line's height
        return size / 72 if along == "y" else text_width(_tick_label(tick, plain=True), size)

    def clear(a: float, b: float) -> bool:
        apart = scale * np.log10(b / a) - (extent(a) + extent(b)) / 2
        return apart >= TICK_LABEL_GAP_EMS[along] * size / 72

    steps = [float(ticks[1] - ticks[0])] + _wider_round_steps(float(ticks[1] - ticks[0]), high - low)
    kept, current = [float(ticks[0])], 0
    while True:
        nearest = _next_multiple(kept[-1], steps[current])
        widened = ((_next_multiple(kept[-1], steps[i]), i) for i in range(current, len(steps)))
        chosen = next(((tick, i) for tick, i in widened
                       if nearest <= tick <= high and clear(kept[-1], tick)), None)
        if chosen is None:
            return np.array(kept)
        kept.append(chosen[0])
        current = chosen[1]


def _wider_round_steps(step: float, span: float) -> list[float]:
    """The round steps (1, 2, 5 x 10^k) wider than ``step``, up to one wider than ``span``."""
    out, exponent = [], math.floor(math.log10(step))
    while not out or out[-1] <= span:
        out += [m * 10.0 ** exponent for m in (1, 2, 5) if m * 10.0 ** exponent > step * (1 + 1e-9)]
        exponent += 1
    return out


def _next_multiple(value: float, step: float) -> float:
    """The least multiple of ``step`` above ``value``, rounded to 12 significant digits (0.1 * 7
    is 0.7000000000000001)."""
    return float(f"{(math.floor(value / step + 1e-9) + 1) * step:.12g}")


def _log_scale(axis: str = "x", room: float | None = None, size: float = TICK_LABEL_SIZE, **kwargs):
    """plotnine's log10 scale of ``axis`` with :func:`log_breaks` and :func:`log_tick_labels`;
    with the axis's length ``room`` (inches) and its labels' ``size`` (points) its evenly spaced
    ticks keep their labels apart (an estimate: plotnine picks the ticks before it lays out)."""
    p9 = _p9()
    kwargs.setdefault("breaks", functools.partial(log_breaks, room=room, size=size, along=axis))
    return (p9.scale_x_log10 if axis == "x" else p9.scale_y_log10)(labels=log_tick_labels, **kwargs)


def _tick_room(options: FigureOptions, room: float) -> tuple[float, float]:
    """:func:`_log_scale`'s ``room`` and ``size`` for an axis ``room`` inches long in a figure
    drawn with ``options``."""
    return room, AXIS_TEXT_SCALE * options.base_size


def panel_width(options: FigureOptions, columns: int = 1) -> float:
    """Estimated inches across one of ``columns`` panels side by side: the figure less its y axis,
    whose text grows with the base size (one column drawn 2.98, 2.85 and 3.09 in across at base
    sizes 8, 12 and 5, estimated 3.0, 2.8 and 3.15)."""
    return (options.width - AXIS_MARGIN * options.base_size / FigureOptions().base_size) / columns


X_AXIS_EMS = 4.0   # the x axis's labels and title, and the figure's margins, in ems of the base size (0.44 in at 8 pt)
STRIP_EMS = 1.8    # a panel's title strip and the space above it, in ems of the base size (0.2 in at 8 pt)


def stacked_panel_height(options: FigureOptions, rows: int, caption: list[str]) -> float:
    """Estimated inches up one of ``rows`` panels stacked with their title strips, under the
    figure's title and over its x axis and ``caption`` lines (drawn 0.73, 0.63 and, at base size
    12, 0.45 in high where estimated 0.73, 0.64 and 0.38)."""
    em = options.base_size / 72
    taken = X_AXIS_EMS * em + (text_extent("\n".join(caption), options.base_size - 2, MATPLOTLIB_LINE_SPACING)[1]
                               if caption else 0.0)
    if options.title:
        taken += text_extent(wrapped_title(options), TITLE_TEXT_SCALE * options.base_size,
                             MATPLOTLIB_LINE_SPACING)[1] + 0.6 * em
    return max((options.height or COLUMN_SIZE[1]) - taken, 0.1) / rows - STRIP_EMS * em


SMALLEST_FLOPS_LABELLED = 1e12  # compute below this is not FLOPs of a training run (PF-days, GPU-hours, ...)


def _compute_label(ladder) -> str:
    """The compute axis's title: FLOPs when the file's compute can be FLOPs, else unit-free (a file
    in PF-days has runs of 1e-3 to 1e3; scalefit works in the file's units and cannot name them)."""
    return ("training compute (FLOPs)" if ladder.runs["flops"].min() >= SMALLEST_FLOPS_LABELLED
            else "training compute (the file's units)")


def _metric_label(result: Analysis) -> str:
    return "perplexity" if result.ladder.metric == "perplexity" else "loss (nats/token)"


def family_marks(i: int) -> tuple[str, str]:
    """Colour and marker of the ``i``-th family: the pair differs for every family up to 64 (the
    markers shift by one each time the colours come round; with both cycling together the 9th
    family was drawn exactly as the 1st)."""
    return OKABE_ITO[i % len(OKABE_ITO)], SHAPES[(i + i // len(OKABE_ITO)) % len(SHAPES)]


def _styles(result: Analysis) -> dict[str, tuple[str, str, str]]:
    families = result.ladder.families
    focus_first = [result.focus] + [f for f in families if f != result.focus]
    return {f: (*family_marks(i), LINETYPES[i % len(LINETYPES)]) for i, f in enumerate(focus_first)}


def _compute_grid(result: Analysis) -> np.ndarray:
    """Compute from half the smallest run to 1.25 times the largest of the runs, the multipliers'
    focus compute and the predictions (--at-flops)."""
    spread = 10 ** (PREDICTION_DODGE / 2)                      # the predictions' markers are spread this far
    predicted = [c * f for c in prediction_frame(result)["flops"] for f in (1 / spread, spread)]
    lo = min([result.ladder.runs["flops"].min()] + predicted)
    hi = max([result.ladder.runs["flops"].max()] + predicted + [m.focus_flops for m in result.multipliers
                                                                if np.isfinite(m.focus_flops)])
    return np.geomspace(lo / 2, hi * 1.25, CURVE_POINTS)


PREDICTION_DODGE = 0.3  # decades across which the families' predictions at one compute are spread


def prediction_frame(result: Analysis) -> pd.DataFrame:
    """The predictions at a compute (``analyze(..., at_flops=...)``) in the file's metric: family,
    flops, value, low, high (NaN without bands)."""
    rows = [dict(family=p.family, flops=p.flops, value=p.loss, low=p.low, high=p.high)
            for p in result.predictions if p.where in ("compute", "compute-optimal") and np.isfinite(p.loss)]
    frame = pd.DataFrame(rows, columns=["family", "flops", "value", "low", "high"])
    # without predictions the frame is empty and its columns object: flops too, or concatenating it
    # with the runs made their flops object (pandas 3) or warned of that change (pandas 2.1, 2.2)
    frame["flops"] = frame["flops"].to_numpy(dtype=float)
    for column in ("value", "low", "high"):
        frame[column] = result.ladder.loss_to_metric(frame[column].to_numpy(dtype=float))
    return frame


def curve_frame(result: Analysis, grid: np.ndarray | None = None,
                progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Fitted curve and pointwise band of every fitted family on a shared compute grid (by default
    from below the runs to beyond the multipliers); ``part`` says whether a point is inside the
    family's runs or extrapolated below or above them. ``progress`` is called with 1 after each
    point of a long ladder's band (:func:`band_steps` counts them)."""
    grid = _compute_grid(result) if grid is None else grid
    frames = []
    for name, ff in result.fits.items():
        fit = ff.fit
        low, high = _curve_band(result, name, grid, progress)
        part = np.where(grid < fit.flops_min, "below", np.where(grid > fit.flops_max, "above", "fitted"))
        frame = pd.DataFrame({"family": name, "flops": grid, "loss": fit.predict(grid), "low": low,
                              "high": high, "part": part})
        # repeat each boundary point in both parts so that the solid and dashed lines meet
        fitted = frame[frame.part == "fitted"]
        edges = fitted.iloc[[0, -1]].assign(part=["below", "above"]) if len(fitted) else fitted
        frames += [frame, edges]
    out = pd.concat(frames, ignore_index=True).sort_values(["family", "part", "flops"])
    out["extrapolated"] = np.where(out.part == "fitted", "fitted range", "extrapolated")
    return out.reset_index(drop=True)


BAND_STEP = 8            # a figure computes a short ladder's profile band at every 8th point of its curve (26 of
                         # 200; between them within 0.15% of the band's width on 17 ladders tried, 0.03% on the demo)
BAND_RUN_POINTS = 2500   # runs x points of a family's profile band in a figure, at most ...
FEWEST_BAND_POINTS = 7   # ... but at least this many (the band within 5% of its width of the exact one; 6: 12%)


def band_points(n_runs: int, grid_size: int = CURVE_POINTS) -> int | None:
    """Points at which a figure computes a family's profile band on a curve of ``grid_size``
    points: None for every BAND_STEP-th point (a ladder of up to 100 runs), or, for a longer ladder,
    where a point costs about 0.5 ms per run (two families of 5,000 runs took 68 s at every 4th
    point), as many as BAND_RUN_POINTS allows, at least FEWEST_BAND_POINTS."""
    if grid_size <= 8 or n_runs * len(range(0, grid_size, BAND_STEP)) <= BAND_RUN_POINTS:
        return None
    return min(grid_size, max(FEWEST_BAND_POINTS, BAND_RUN_POINTS // n_runs))


def band_steps(result: Analysis, grid_size: int = CURVE_POINTS) -> int:
    """The steps :func:`curve_frame` reports to ``progress``: with profile bands, each point of a
    long ladder's band, and each shorter ladder's band."""
    if result.band_method != "profile":
        return 0
    return sum(band_points(ff.fit.n_runs, grid_size) or 1 for ff in result.fits.values())


PROGRESS_FIGURES = ("multipliers", "multiplier-curve", "distribution")   # the figures that compute profiles


def figure_steps(kind: str, result: Analysis) -> int:
    """The steps :func:`draw_figure` reports to ``progress`` for the figure ``kind``: the profiles
    it computes (none with percentile bands, which are read off the bootstrap draws)."""
    if result.band_method != "profile":
        return 0
    if kind == "multipliers":
        return band_steps(result)
    if kind == "multiplier-curve" and result.focus in result.fits:
        return sum(curve_targets(result, name) for name in result.fits if name != result.focus)
    if kind == "distribution" and result.focus in result.fits:
        return sum(m.reference_kind == "point" for m in result.multipliers)
    return 0


def draw_figure(kind: str, result: Analysis, options: FigureOptions = FigureOptions(),
                progress: Callable[[int], None] | None = None):
    """``FIGURES[kind]`` of ``result``, calling ``progress`` with the number of profile steps done
    (:func:`figure_steps`) as it computes them."""
    if kind in PROGRESS_FIGURES:
        return FIGURES[kind](result, options=options, progress=progress)
    return FIGURES[kind](result, options=options)


def _curve_band(result: Analysis, family: str, grid: np.ndarray,
                progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    ff = result.fits[family]
    nan = np.full(grid.size, np.nan)
    if result.band_method == "percentile" and ff.draws is not None:
        # the tables' band (uncertainty.percentile_band): the order statistics at or beyond each
        # quantile, NaN draws left out; interpolated percentiles drew a band narrower than printed
        pred = ff.draws.law.predict(ff.draws.params[ff.draws.ok], grid)
        tail = (1 - result.level) / 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)      # a point with no finite draw: NaN
            return np.nanquantile(pred, tail, axis=0, method="lower"), \
                np.nanquantile(pred, 1 - tail, axis=0, method="higher")
    if result.band_method != "profile":
        return nan, nan
    from .profile import loss_band

    points = band_points(ff.fit.n_runs, grid.size)
    if points is None:
        # a short ladder: the band's ends at every BAND_STEP-th point and the last, in one pass
        at = np.unique(np.r_[np.arange(0, grid.size, BAND_STEP), grid.size - 1]) if grid.size > 8 \
            else np.arange(grid.size)
        ends = np.column_stack(loss_band(ff.fit, grid[at], result.level, ends_only=True))
        if progress is not None:
            progress(1)
    else:
        # a long ladder: at a few points from one end of the curve to the other, one at a time (a
        # progress step each)
        at = np.unique(np.round(np.linspace(0, grid.size - 1, points)).astype(int))
        ends = []
        for i in at:
            ends.append(np.column_stack(loss_band(ff.fit, grid[i:i + 1], result.level, ends_only=True))[0])
            if progress is not None:
                progress(1)
    return _band_between_points(ff.fit, grid, at, np.array(ends))


def _band_between_points(fit, grid: np.ndarray, at: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The band on the whole ``grid`` from its (low, high) ``ends`` at the points ``at``,
    interpolated as each end's distance from the fitted curve in ln L, which is smooth in ln C (a
    cubic spline; linear where an end is unbounded). The loss itself bends between the points:
    interpolating the ends directly, a 5,000-run band strayed 3 widths from its curve, and the demo's
    band at every 4th point was 2% of its width off between them (every 8th, as distances: 0.03%)."""
    from scipy.interpolate import CubicSpline

    fitted = np.asarray(fit.predict(grid), dtype=float)
    x = np.log(grid)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        offsets = np.log(ends) - np.log(fitted[at])[:, None]      # (points, low/high)
        if at.size < 2:
            between = [np.full(grid.size, offset[0]) for offset in offsets.T]
        else:
            between = [CubicSpline(x[at], offset)(x) if np.all(np.isfinite(offset)) else np.interp(x, x[at], offset)
                       for offset in offsets.T]
        return fitted * np.exp(between[0]), fitted * np.exp(between[1])


LEGEND_KEY_WIDTH = 0.3   # inches of a legend entry besides its text: the key and the spacing
LEGEND_TEXT_SCALE = 0.8  # legend text size / base size (theme_bw)


def legend_names(fits: dict, narrow: Collection[str] = ()) -> dict[str, str]:
    """Each fitted family's legend entry: its name, the E it holds when fitted with E fixed
    (--fix-e), so that a reader of the figure knows its band assumes that E, and for the families
    in ``narrow`` (:func:`narrow_bands`) that their checkpoints, fitted as runs, make the band too
    narrow."""
    out = {}
    for family, fit in fits.items():
        held = getattr(fit, "fit", fit).law.fixed.get("E")
        notes = ([] if held is None else [f"E fixed at {held:.4g} nats"]) + \
            (["checkpoints as runs: band too narrow"] if family in narrow else [])
        out[family] = f"{family} ({'; '.join(notes)})" if notes else family
    return out


def narrow_bands(result: Analysis) -> set[str]:
    """The fitted families whose profile bands are too narrow because their rows include
    checkpoints, each fitted as a run (the table marks their bands *, the warning says why)."""
    if result.band_method != "profile":
        return set()
    from .analysis import checkpoint_families
    return set(checkpoint_families(result.ladder, list(result.fits)))


def legend_columns(names: list[str], options: FigureOptions) -> int | None:
    """Columns of the families' legend when its entries in one row would be wider than the figure
    (long family names were clipped at its edge); None when they fit, for plotnine's own layout."""
    longest = max(len(line) for n in names for line in n.split("\n"))
    entry = LEGEND_KEY_WIDTH + longest * CHAR_WIDTH * LEGEND_TEXT_SCALE * options.base_size
    room = options.width - 0.2
    if len(names) * entry <= room:
        return None
    return max(1, int(room // entry))


def fit_legend(names: dict[str, str], options: FigureOptions) -> dict[str, str]:
    """Legend entries broken into lines that fit beside their key within the figure's width (a
    long family name with its note, 'NAME (checkpoints as runs: band too narrow)', ran off both
    edges even in a column of its own)."""
    size, room = LEGEND_TEXT_SCALE * options.base_size, options.width - LEGEND_KEY_WIDTH - 0.3
    return {family: name if text_width(name, size) <= room else wrap_to_width(name, size, room)
            for family, name in names.items()}


LEGEND_ROW_HEIGHT = 0.16  # inches per row of the families' legend (8 pt text)


def legend_height(names: list[str], options: FigureOptions) -> float:
    """Inches a figure grows by for the families' legend rows beyond the first (one per family
    when long names leave one column: seven of them left a backtest figure 0.8 inches of panel
    and cut its value axis's title), a row counted once per line of its tallest entry."""
    columns = legend_columns(names, options)
    if columns is None:
        return 0.0
    lines = [name.count("\n") + 1 for name in names]
    return LEGEND_ROW_HEIGHT * (sum(max(lines[i:i + columns]) for i in range(0, len(lines), columns)) - 1)


def backtest_height(bt, height: float = COLUMN_SIZE[1], width: float = COLUMN_SIZE[0]) -> float:
    """``height``, and more for the backtest figure's legend rows (:func:`legend_height`)."""
    names = _backtest_legend_names(bt, FigureOptions(width=width))
    return height + legend_height(list(names.values()), FigureOptions(width=width))


def _legend_in_columns(names: list[str], options: FigureOptions):
    """The colour and shape legends in :func:`legend_columns` columns when one row would not fit
    (the shared-law figure of seven long names ran off both edges of the figure)."""
    p9 = _p9()
    columns = legend_columns(names, options)
    if columns is None:
        return p9.guides()
    return p9.guides(colour=p9.guide_legend(ncol=columns), shape=p9.guide_legend(ncol=columns),
                     size=p9.guide_legend(ncol=columns))


def shared_height(cmp, height: float = COLUMN_SIZE[1], width: float = COLUMN_SIZE[0]) -> float:
    """``height``, and more for the shared-law figure's legend rows (:func:`legend_height`)."""
    names = list(fit_legend(shared_legend_names(cmp), FigureOptions(width=width)).values())
    caption = KEY_LINE_HEIGHT if any(name.endswith(" *") for name in shared_legend_names(cmp).values()) else 0.0
    return height + legend_height(names, FigureOptions(width=width)) + caption


EXTRAPOLATION_LINES = {"fitted range": "solid", "extrapolated": "dashed"}


def _extrapolation_scale():
    """The line types of fitted and extrapolated parts of a curve, keyed in that order (plotnine's
    alphabetical order put 'extrapolated' first)."""
    return _p9().scale_linetype_manual(values=EXTRAPOLATION_LINES, breaks=list(EXTRAPOLATION_LINES), name=" ")


def _theme(options: FigureOptions):
    p9 = _p9()
    return (p9.theme_bw(base_size=options.base_size)
            + p9.theme(figure_size=(options.width, options.height or COLUMN_SIZE[1]), legend_position="bottom",
                       legend_title=p9.element_blank(), legend_key_size=8,
                       panel_grid_minor=p9.element_blank(), legend_box_margin=0))


def _labels(options: FigureOptions, xlabel: str, ylabel: str):
    p9 = _p9()
    out = p9.labs(x=options.xlabel or xlabel, y=options.ylabel or ylabel)
    return out + p9.ggtitle(wrapped_title(options)) if options.title else out


TITLE_TEXT_SCALE = 1.2  # the title's text size as a share of the base size (theme_bw)


def literal_text(text: str) -> str:
    """``text`` escaped so that matplotlib draws it as it reads: each ``$`` as ``\\$``, drawn as a
    dollar (a string with two unescaped $ is set as mathtext). Names come from the data: a family
    named 'a $x^2$ b' was drawn 'a x² b', one named 'price $\\frac$ ok' failed the figure. For
    names and text that holds them, after it is measured and wrapped; not for what is mathtext on
    purpose (tick labels, the user's title)."""
    return text.replace("$", "\\$")


def _literal_labels(names: dict[str, str]) -> dict[str, str]:
    """A legend's entries (family: entry) as :func:`literal_text`, for a scale's labels."""
    return {family: literal_text(name) for family, name in names.items()}


def text_width(text: str, size: float, math: bool = False) -> float:
    """Inches that ``text`` takes at ``size`` points in matplotlib's default font (measured from its
    glyph outlines, not estimated), drawn literally (:func:`literal_text`), or with ``math`` as
    matplotlib draws the string given (mathtext between two $: the user's title)."""
    from matplotlib.font_manager import FontProperties, findfont

    if not text.strip():
        return 0.0
    return _outline_width(text if math else literal_text(text), float(size), findfont(FontProperties()))


@functools.lru_cache(maxsize=8192)
def _outline_width(text: str, size: float, font_file: str) -> float:
    """:func:`text_width` of ``text`` in the font of ``font_file``, remembered: measuring an outline
    takes tens of milliseconds, and wrapping and sizing a figure measure the same lines again."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    return float(TextPath((0, 0), text, size=size, prop=FontProperties(fname=font_file)).get_extents().width) / 72


def figures_font():
    """The font the figures' text is drawn in: plotnine's base family (``plotnine.options.base_family``,
    'sans-serif' unless set, which the theme gives every text) as matplotlib finds it, not
    matplotlib's default font (with a CJK base family set, that one still warned of boxes)."""
    from matplotlib.font_manager import FontProperties, findfont, get_font
    from plotnine.options import get_option

    family = get_option("base_family")                # a list: a lone string is read as a fontconfig pattern
    return get_font(findfont(FontProperties(family=[family] if isinstance(family, str) else list(family))))


def undrawable_names_warning(result: Analysis) -> str | None:
    """A warning naming the characters of the family names that the figures' font
    (:func:`figures_font`) has no glyph for, or None: such characters are drawn as boxes, unsaid (a
    family named '模型' was labelled with two boxes)."""
    font = figures_font()
    names = [str(name) for name in result.ladder.families]
    missing = "".join(dict.fromkeys(c for name in names for c in name
                                    if not c.isspace() and font.get_char_index(ord(c)) == 0))
    if not missing:
        return None
    which = [name for name in names if any(c in missing for c in name)]
    return (f"the figures' font ({font.family_name}) has no glyph for {', '.join(repr(c) for c in missing[:8])}"
            f"{' ...' if len(missing) > 8 else ''} in {', '.join(repr(n) for n in which[:3])}"
            f"{' ...' if len(which) > 3 else ''}: the figures draw them as boxes; rename the families to tell "
            "them apart there")


def _longest_prefix_within(word: str, size: float, room: float, math: bool = False) -> int:
    """The length (at least 1) of the longest start of ``word`` no wider than ``room`` (bisection:
    the width of a prefix grows with its length); ``math`` as for :func:`text_width`."""
    low, high = 1, len(word)
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if text_width(word[:mid], size, math) <= room else (low, mid - 1)
    return low


def wrapped_title(options: FigureOptions) -> str:
    """The title broken into lines that fit above the panel, on which plotnine centres it (it does
    not wrap, and cuts a long title off at both edges); the panel as wide as the y axis's text at
    the base size leaves it (at base size 20 a line ran off the figure)."""
    return wrap_to_width(options.title, TITLE_TEXT_SCALE * options.base_size, panel_width(options) - 0.1,
                         math=True)


def wrap_to_width(text: str, size: float, room: float, math: bool = False) -> str:
    """``text`` broken into lines no wider than ``room`` inches at ``size`` points: at spaces, line
    breaks given kept, a word longer than the width cut where it must. Measured as drawn literally
    (escape the result with :func:`literal_text`), or with ``math`` as mathtext (the title)."""
    lines = []
    for given in text.split("\n"):
        line = ""
        for word in given.split(" "):
            while text_width(word, size, math) > room and len(word) > 1:
                cut = _longest_prefix_within(word, size, room, math)
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:cut])
                word = word[cut:]
            candidate = f"{line} {word}" if line else word
            if line and text_width(candidate, size, math) > room:
                lines.append(line)
                candidate = word
            line = candidate
        lines.append(line)
    return "\n".join(lines)


DENSE_RUNS = 40  # runs in one panel from which their markers shrink and show through each other


def run_markers(n_runs: int, size: float, most_in_family: int = 0) -> dict:
    """Marker size and fill for ``n_runs`` runs in one panel: white-filled at ``size`` (they stand
    out from the curves and bands), and for dense panels two thirds the size without fill, so
    that families with nearly equal runs (several training sets at the same sizes) stay visible
    instead of the last drawn covering the others; faint as well when one family has more than
    DENSE_RUNS (``most_in_family``), so that its fitted curve, drawn over them
    (:func:`curves_over_dense_runs`), stands out."""
    if n_runs <= DENSE_RUNS:
        return {"size": size, "fill": "white"}
    faint = {"alpha": DENSE_RUN_ALPHA} if most_in_family > DENSE_RUNS else {}
    return {"size": size * 2 / 3, "fill": "none", **faint}


STAR_SIZE = 1.45  # the star's marker size / the other markers': at one size its five thin points cover a third
                  # of a circle's area (the other shapes 0.6 to 1.3 of it), and the 8th family's runs looked smaller


def marker_size_scale(shapes: dict[str, str], size: float, **legend):
    """The size scale of the families' markers (``shapes``): ``size``, the star STAR_SIZE times
    that. Mapped to the family, with the colour and shape scales' ``legend`` (breaks, labels,
    name), so that the legends merge and the star's key is as large as its points."""
    return _p9().scale_size_manual(values={f: size * (STAR_SIZE if s == "*" else 1.0) for f, s in shapes.items()},
                                   **legend)


DENSE_RUN_ALPHA = 0.45  # a crowded family's markers are faint, so that the curve drawn over them stands out


def curves_over_dense_runs(most_in_family: int, mapping, data: pd.DataFrame, size: float) -> list:
    """The fitted curves drawn again over the runs when one family has more than DENSE_RUNS,
    whose markers hid its curve (240 Chinchilla runs left no curve in sight)."""
    if most_in_family <= DENSE_RUNS:
        return []
    return [_p9().geom_line(mapping, data=data, size=size, show_legend=False)]


def multiplier_figure(result: Analysis, options: FigureOptions = FigureOptions(),
                      progress: Callable[[int], None] | None = None):
    """Runs as points, fitted curves with shaded bands (dashed where extrapolated), reference
    points labelled, for each multiplier a horizontal arrow from the focus curve to the
    reference at the same loss, labelled like "10.3x [7.2x, 14x]", and each prediction at a
    compute (``analyze(..., at_flops=...)``) as a filled marker with its band as a vertical bar. ``progress`` as for
    :func:`curve_frame`."""
    _require_analysis(result)
    p9 = _p9()
    options = _sized("multipliers", result, options)
    styles = _styles(result)
    runs = result.ladder.runs.assign(value=lambda r: result.ladder.loss_to_metric(r["loss"]))
    ladders = runs[runs["family"].isin(list(result.fits))]
    refs = runs[runs["family"].isin(result.ladder.reference_families())]
    curves = curve_frame(result, progress=progress)
    for col in ("loss", "low", "high"):
        curves[col] = result.ladder.loss_to_metric(curves[col])
    colours = {f: styles[f][0] for f in result.fits}
    shapes = {f: styles[f][1] for f in result.fits}
    names = fit_legend(legend_names(result.fits, narrow_bands(result)), options)
    entries = _literal_labels(names)
    crowded = int(ladders.groupby("family").size().max()) if len(ladders) else 0
    markers = run_markers(len(ladders), 1.5, crowded)
    plot = (p9.ggplot()
            + p9.geom_ribbon(p9.aes("flops", ymin="low", ymax="high", fill="family", group="family + part"),
                             data=curves.dropna(subset=["low", "high"]), alpha=0.2, show_legend=False)
            + p9.geom_line(p9.aes("flops", "loss", colour="family", linetype="extrapolated",
                                  group="family + part"), data=curves, size=0.6)
            + p9.geom_point(p9.aes("flops", "value", colour="family", shape="family", size="family"), data=ladders,
                            stroke=0.6, **{k: v for k, v in markers.items() if k != "size"})
            + curves_over_dense_runs(crowded, p9.aes("flops", "loss", colour="family", linetype="extrapolated",
                                                          group="family + part"), curves, size=0.6)
            + p9.scale_colour_manual(values=colours, breaks=list(names), labels=entries, name=" ")
            + p9.scale_fill_manual(values=colours)
            + p9.scale_shape_manual(values=shapes, breaks=list(names), labels=entries, name=" ")   # file order
            + marker_size_scale(shapes, markers["size"], breaks=list(names), labels=entries, name=" ")
            + _extrapolation_scale()
            + _theme(options) + _labels(options, _compute_label(result.ladder), _metric_label(result))
            + p9.theme(legend_box="vertical", legend_spacing=0))    # families, then line styles: never clipped
    columns = legend_columns(list(names.values()), options)
    if columns is not None:
        plot += p9.guides(colour=p9.guide_legend(ncol=columns), shape=p9.guide_legend(ncol=columns),
                          size=p9.guide_legend(ncol=columns))
    arrows, labels, (x_min, x_max), keyed = _annotation_layout(result, options)
    caption = _caption_lines(result, arrows, keyed, options)
    if caption:   # numbers on the plot, each comparison in full; what a '*' means
        plot += p9.labs(caption=literal_text("\n".join(caption)))
        plot += p9.theme(plot_caption=p9.element_text(ha="left", size=options.base_size - 2))
    predicted = prediction_frame(result)
    if len(predicted):
        beside = p9.position_dodge(width=PREDICTION_DODGE)        # families' bars at one compute side by side
        bars = predicted.dropna(subset=["low", "high"])
        if len(bars):
            plot += p9.geom_errorbar(p9.aes("flops", ymin="low", ymax="high", colour="family"), data=bars,
                                     width=0.1, size=0.5, show_legend=False, position=beside)
        plot += p9.geom_point(p9.aes("flops", "value", colour="family", shape="family", fill="family"),
                              data=predicted, size=1.8, stroke=0.6, show_legend=False, position=beside)
    if len(refs):
        plot += p9.geom_point(p9.aes("flops", "value"), data=refs, shape="D", size=1.6, fill="#333333",
                              colour="#333333")
    if len(labels):
        plot += p9.geom_segment(p9.aes(x="flops", xend="x", y="value", yend="y"), data=labels,
                                size=0.2, colour="#777777")
        plot += p9.geom_text(p9.aes("x", "y", label="family"),
                             data=labels.assign(family=labels["family"].map(literal_text)),
                             size=options.base_size - 2, ha="left", va="center", colour="#333333")
    if len(arrows):
        plot += p9.geom_segment(p9.aes(x="x", xend="xend", y="y", yend="y"), data=arrows, size=0.4,
                                arrow=p9.arrow(length=0.04, type="closed"), colour="#333333")
        plot += p9.geom_segment(p9.aes(x="label_x", xend="end", y="label_y", yend="y"), data=arrows,
                                size=0.2, colour="#777777")
        plot += p9.geom_text(p9.aes(x="label_x", y="label_y", label="label"),
                             data=arrows.assign(label=arrows["label"].map(literal_text)),
                             size=options.base_size - 2, ha="left" if (arrows["side"] == "right").all() else "right",
                             va="center", colour="#333333")
    if options.xlim is not None:
        plot += _log_scale("x", limits=options.xlim)
    else:
        data_end = float(_drawn_flops(ladders["flops"], predicted, arrows).max()) * 1.25
        plot += _log_scale("x", limits=(x_min, x_max), **labelled_axis_ends(x_min, x_max, data_end))
    if log_value_axis(result, options):
        plot += _log_scale("y")
    if options.ylim:
        plot += p9.coord_cartesian(ylim=options.ylim)       # in data units on either axis
    else:
        x_lo, x_hi = options.xlim or (x_min, x_max)

        def seen(frame):        # what lies within the compute axis (curves run on past it)
            return frame[frame["flops"].between(x_lo, x_hi)]
        shown = np.concatenate([seen(ladders)["value"], seen(refs)["value"], seen(curves)["loss"],
                                seen(predicted)["value"]])
        limits = value_limits_clipping_bands(shown, seen(curves)[["low", "high"]].to_numpy(dtype=float),
                                             log_value_axis(result, options))
        if limits is not None:
            plot += p9.coord_cartesian(ylim=limits)
    return plot


def labelled_axis_ends(x_min: float, x_max: float, data_end: float) -> dict:
    """The multipliers figure's compute scale's breaks and expansion when the labels right of the
    data set the axis's right end ``x_max`` (beyond ``data_end``): ticks and grid lines only up to
    ``data_end`` and no padding past the labels' room, which has its own (the demo's axis ran on to
    10^28.8, 4 decades beyond its last reference, with grid lines at 10^27 in the labels' room); {}
    when the data set it."""
    if not x_max > data_end * 1.001:
        return {}
    from mizani.breaks import breaks_log

    breaks = [b for b in breaks_log()((x_min, data_end)) if x_min <= b <= data_end]
    return {"expand": (0.05, 0, 0, 0), **({"breaks": breaks} if len(breaks) >= 2 else {})}


BAND_ROOM = 0.25  # share of the runs' and curves' value span that bands may add at either end of the axis


def value_limits_clipping_bands(shown: np.ndarray, bands: np.ndarray, log_axis: bool) -> tuple[float, float] | None:
    """Value-axis limits when the bands would stretch it: the span of the runs, reference points
    and fitted curves (``shown``), widened by the bands (``bands``, (k, 2) low and high) by at most
    BAND_ROOM of that span at either end (in log10 on a log axis); None when the bands stay within
    that room (the axis is then plotnine's own). A family whose band is unbounded (0x to inf) had put
    eight real ladders with losses 2.7 to 7.6 in the bottom tenth of an axis reaching 55 nats."""
    to_axis, from_axis = (np.log10, lambda v: 10.0 ** v) if log_axis else (lambda v: v, lambda v: v)
    with np.errstate(divide="ignore", invalid="ignore"):
        core = to_axis(np.asarray(shown, dtype=float))
        band = to_axis(np.asarray(bands, dtype=float))
    core, band = core[np.isfinite(core)], band[~np.isnan(band)]       # an unbounded band end is +-inf
    if core.size == 0 or band.size == 0:
        return None
    lo, hi = float(core.min()), float(core.max())
    room = BAND_ROOM * max(hi - lo, 0.1 * max(abs(hi), 1e-12))      # flat runs: a tenth of their value
    if band.min() >= lo - room and band.max() <= hi + room:
        return None
    return (float(from_axis(min(lo, max(band.min(), lo - room)))),
            float(from_axis(max(hi, min(band.max(), hi + room)))))


CHAR_WIDTH = 0.55 / 72  # inches per character per point of font size (DejaVu Sans, measured on the demo)
AXIS_MARGIN = 0.4       # inches of the figure's width taken by the y axis and its title
MARKER_RADIUS = 0.03    # inches: half a run's marker (size 1.5), kept clear of labels
MARKER_IN_GAPS = 0.3    # the same radius in label gaps (a gap is about a line of 6 pt text, 0.1 in)


def _drawn_flops(runs: pd.Series, predicted: pd.DataFrame, arrows: pd.DataFrame) -> pd.Series:
    """The computes the multipliers figure draws at, which its axis holds: the runs, the predictions'
    spread markers and both ends of every arrow (a focus that needs more compute than a reference
    reaches its loss beyond the runs)."""
    spread = 10 ** (PREDICTION_DODGE / 2)
    return pd.concat([runs, predicted["flops"] / spread, predicted["flops"] * spread, arrows["left"],
                      arrows["right"]], ignore_index=True)


def _room_for_labels(x_min: float, label_x: float, chars: int, options: FigureOptions) -> float:
    """Right end of a log compute axis starting at ``x_min`` that fits a label of ``chars``
    characters starting at ``label_x``: the label spans a share of the panel's width, so of its
    decades, s = chars * char width / panel width, and the axis needs R = (decades to the label
    + a pad) / (1 - s) decades in all."""
    share = chars * CHAR_WIDTH * (options.base_size - 2) / max(panel_width(options), 1.0)
    decades = (np.log10(label_x / x_min) + 0.3) / max(1.0 - share, 0.25)
    return float(x_min * 10 ** decades)


def _axis_room(flops: pd.Series, arrows: pd.DataFrame, labels: pd.DataFrame, options: FigureOptions):
    """Ends of the compute axis that hold the runs and both kinds of labels: the arrows' labels
    end at ``label_x`` left of the arrows (or start there, right of them), the reference names
    start at 2.5 times the reference's compute (to the right). Each end depends on
    the other (a label's share of the panel is a share of all its decades), so both are settled by
    a few rounds of fixed point."""
    x_min, x_max = float(flops.min()) / 2, float(flops.max()) * 1.25
    left, right = arrows[arrows["side"] == "left"], arrows[arrows["side"] == "right"]
    for _ in range(4):
        if len(left):
            chars = int(left["label"].str.len().max())
            label_end = float(left["label_x"].min())
            x_min = min(float(flops.min()) / 2, _room_left_of_labels(label_end, chars, x_max, options))
        ends = [float(flops.max()) * 1.25]
        if len(labels):
            ends.append(_room_for_labels(x_min, float(labels["x"].max()), int(labels["family"].str.len().max()),
                                         options))
        if len(right):
            ends.append(_room_for_labels(x_min, float(right["label_x"].max()), int(right["label"].str.len().max()),
                                         options))
        x_max = max(ends)
        # labels that would take most of the panel make the rounds diverge (an axis ending at 0 or
        # inf): each end stays within MAX_LABEL_ROOM_DECADES of the runs
        x_min = max(x_min, float(flops.min()) * 10.0 ** -MAX_LABEL_ROOM_DECADES)
        x_max = min(x_max, float(flops.max()) * 10.0 ** MAX_LABEL_ROOM_DECADES)
    return x_min, x_max


MAX_LABEL_ROOM_DECADES = 30.0


def _room_left_of_labels(label_x: float, chars: int, x_max: float, options: FigureOptions) -> float:
    """Left end of a log compute axis ending near ``x_max`` that fits a right-aligned label of
    ``chars`` characters ending at ``label_x``: with s its share of the panel's width, the axis
    start X solves lg label_x - s (lg x_max - lg X) - pad = lg X."""
    share = chars * CHAR_WIDTH * (options.base_size - 2) / max(panel_width(options), 1.0)
    share = min(share, 0.75)
    return float(10 ** ((np.log10(label_x) - share * np.log10(x_max) - 0.3) / (1.0 - share)))


def _spread(values: np.ndarray, gap: float, anchor: str = "centre") -> np.ndarray:
    """Label positions near ``values`` but at least ``gap`` apart (order kept): centred on them
    (``anchor="centre"``), or each at or below its value, as high as that allows ("below"), or
    each at or above it, as low as that allows ("above")."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    order = np.argsort(values, kind="stable")
    placed = values[order]
    for i in range(1, placed.size):
        placed[i] = max(placed[i], placed[i - 1] + gap)
    placed += {"centre": (values[order] - placed).mean(), "below": (values[order] - placed).min(),
               "above": 0.0}[anchor]
    out = np.empty_like(placed)
    out[order] = placed
    return out


def _arrow_frame(result: Analysis) -> pd.DataFrame:
    """One arrow per multiplier at a reference's loss or another ladder's largest run, with its
    label ("10.3x [7.17x, 14x]"), the reference's name and its facet-style title ("vs NAME")."""
    rows = []
    for m in result.multipliers:
        if not m.reachable or m.where == "at-loss":
            continue
        band = "" if math.isnan(m.low) else f" [{fmt_multiplier(m.low)}, {fmt_multiplier(m.high)}]"
        band += "" if math.isnan(m.low) or m.band_checked else " *"       # as the table marks it
        title = f"vs {m.reference}" + ("" if m.reference_kind == "point" else f" ({m.where})")
        rows.append(dict(x=m.focus_flops, xend=m.reference_flops, left=min(m.focus_flops, m.reference_flops),
                         right=max(m.focus_flops, m.reference_flops),
                         y=float(result.ladder.loss_to_metric(m.loss)), label=f"{fmt_multiplier(m.multiplier)}{band}",
                         reference=m.reference, title=title,
                         name=f"vs {m.reference}: " if m.reference_kind == "ladder" else ""))
    frame = pd.DataFrame(rows, columns=["x", "xend", "left", "right", "y", "label", "reference", "title", "name"])
    # numeric without arrows too (empty columns are object), as prediction_frame's flops
    return frame.astype({column: float for column in ("x", "xend", "left", "right", "y")})


INLINE_ARROWS = 3  # more arrows than this, and their labels become numbers keyed in the caption
LABEL_OFFSETS = (4.0, 16.0)  # an arrow's label ends at its left end / offset (in compute), tried in turn
RIGHT_LABEL_OFFSET = 2.5     # or starts at its right end * this, when no reference names are there
LABEL_GAP = 0.065   # vertical distance of stacked labels, as a share of the plotted values' range


def _annotation_layout(result: Analysis, options: FigureOptions):
    """Where the multipliers figure's labels go: the arrows (with label_x, label_y), the reference
    names to draw (with x, y), the compute axis's ends, and whether the arrows are keyed.

    Arrows are labelled in place (unless the user chose the axes' limits: then always keyed, the
    numbers inside the chosen window), their labels stacked left of the arrows (below a falling curve:
    ending at each LABEL_OFFSETS share of the arrow's compute in turn, centred on the arrows or
    else at or below them), or, when no reference point is named on the plot, right of them
    (above a falling curve: centred, or at or above them); reference names go right of the
    references. When there are more than INLINE_ARROWS arrows or every such placement has a label
    covering a run or a fitted curve, the arrows carry numbers, keyed in the caption, and the
    references they name are not named again on the plot.
    """
    to_axis, from_axis = (np.log10, lambda v: 10.0 ** np.asarray(v, dtype=float)) if log_value_axis(result, options) \
        else (np.asarray, np.asarray)
    arrows, labels, limits, keyed = _layout_on_axis(result, options, to_axis)
    arrows = arrows.assign(y=from_axis(arrows["y"]), label_y=from_axis(arrows["label_y"]))
    labels = labels.assign(value=from_axis(labels["value"]), y=from_axis(labels["y"]))
    return arrows, labels, limits, keyed


LOG_VALUE_RATIO = 3.0  # runs spanning more than this factor in loss (or perplexity): a log value axis


def log_value_axis(result: Analysis, options: FigureOptions = FigureOptions()) -> bool:
    """Whether the multipliers figure plots loss (or perplexity) on a log axis: when the runs span
    more than LOG_VALUE_RATIO (a ladder from tiny models, perplexity 300 to 11, leaves every arrow in
    the bottom tenth of a linear axis), unless the user's --ylim starts at 0 or below (linear then)."""
    if options.ylim is not None and not options.ylim[0] > 0:
        return False
    return spans_log_axis(result.ladder.loss_to_metric(result.ladder.runs["loss"].to_numpy(dtype=float)))


def spans_log_axis(values: np.ndarray) -> bool:
    """Whether losses (or perplexities) span more than LOG_VALUE_RATIO, max > ratio x min: drawn on a
    log axis, as on a linear one the low end (where the largest runs are) is squeezed into a corner."""
    return bool(values.max() > LOG_VALUE_RATIO * values.min())


def _layout_on_axis(result: Analysis, options: FigureOptions, to_axis):
    """``_annotation_layout`` with plotted values as ``to_axis`` puts them on the value axis
    (log10 for a log axis), so that gaps and boxes are shares of the axis as drawn."""
    runs = result.ladder.runs.assign(value=lambda r: to_axis(result.ladder.loss_to_metric(r["loss"])))
    refs = runs[runs["family"].isin(result.ladder.reference_families())]
    grid = _compute_grid(result)
    lines = pd.DataFrame({"flops": np.tile(grid, len(result.fits)),
                          "value": to_axis(np.concatenate([result.ladder.loss_to_metric(ff.fit.predict(grid))
                                                           for ff in result.fits.values()]))})
    predicted = prediction_frame(result)
    predicted["value"] = to_axis(predicted["value"].to_numpy(dtype=float))
    shown = pd.concat([runs[["flops", "value"]], lines, predicted[["flops", "value"]]], ignore_index=True)
    arrows = _arrow_frame(result)
    flops = _drawn_flops(runs["flops"], predicted, arrows)
    ylim = None if options.ylim is None else tuple(float(v) for v in to_axis(np.asarray(options.ylim, dtype=float)))
    low, high = ylim or (float(shown["value"].min()), float(shown["value"].max()))
    gap = LABEL_GAP * (high - low)      # a line of label text, as a share of the plotted range
    arrows["y"] = to_axis(arrows["y"].to_numpy(dtype=float))
    user_window = options.xlim is not None or options.ylim is not None
    if len(arrows) <= INLINE_ARROWS and not user_window:
        candidates = [("left", offset, anchor)
                      for offset, anchor in itertools.product(LABEL_OFFSETS, ("centre", "below"))]
        if refs.empty:      # no reference names on the right: labels may go right of the arrows, above the curves
            candidates += [("right", RIGHT_LABEL_OFFSET, anchor) for anchor in ("centre", "above")]
        for side, offset, anchor in candidates:
            inline = _place_labels(arrows, refs, gap, flops, options, keyed=False, anchor=anchor,
                                   offset=offset, side=side)
            if _labels_fit(*inline, options) and not _labels_cover(*inline, shown, gap, options):
                return (*inline, False)
    unnamed = refs[~refs["family"].isin(arrows["reference"])]
    keyed = _clear_numbers(*_place_labels(arrows, unnamed, gap, flops, options, keyed=True, anchor="below"),
                           shown, gap, options)
    if unnamed.empty and _all_point_right(arrows) and float(keyed[0]["label_y"].min()) - gap / 2 < low:
        # the stack below the arrows stretches the value axis (ten references within a few gaps of
        # loss put the tenth number 0.55 nats below every run and curve): numbers above and right of
        # the arrows, where no reference is named, when they stay within the values plotted; only
        # when every arrow ends at its reference on the right (an arrow to a reference left of the
        # curve ends on the curve there, and its number's line rose across the arrows above it)
        above = _clear_numbers(*_place_labels(arrows, unnamed, gap, flops, options, keyed=True, anchor="above",
                                              offset=RIGHT_LABEL_OFFSET, side="right"), shown, gap, options)
        if float(above[0]["label_y"].max()) + gap / 2 <= high:
            keyed = above
    arrows, labels, limits = keyed
    return _inside_window(arrows, options, ylim), labels, limits, True


def _inside_window(arrows: pd.DataFrame, options: FigureOptions, ylim) -> pd.DataFrame:
    """Keyed numbers moved inside the axes the user chose (--xlim, --ylim), 3% in from the edges,
    so that every number the key lists is drawn."""
    arrows = arrows.copy()
    if options.xlim is not None:
        low, high = np.log10(options.xlim)
        pad = 0.03 * (high - low)
        arrows["label_x"] = 10.0 ** np.clip(np.log10(arrows["label_x"].to_numpy(dtype=float)), low + pad, high - pad)
    if ylim is not None:                 # on the value axis (log10 of the limits on a log axis)
        low, high = ylim
        pad = 0.03 * (high - low)
        arrows["label_y"] = np.clip(arrows["label_y"].to_numpy(dtype=float), low + pad, high - pad)
    return arrows


def _place_labels(arrows, refs, gap, flops, options, keyed, anchor, offset=LABEL_OFFSETS[0], side="left"):
    """Arrow labels (keyed: numbers) stacked ``gap`` apart (see ``_spread`` for ``anchor``), ending
    at the arrow's left end / ``offset`` or (``side="right"``) starting at its right end * offset;
    reference names right of the references; and the axis ends."""
    labels = refs.assign(y=_spread(refs["value"].to_numpy(), gap), x=refs["flops"] * 2.5)
    end = arrows["left"] if side == "left" else arrows["right"]
    arrows = arrows.assign(label_y=_spread(arrows["y"].to_numpy(), gap, anchor=anchor), side=side, end=end,
                           label_x=end / offset if side == "left" else end * offset)
    if keyed:
        arrows = arrows.assign(key=arrows["label"], label=[str(i + 1) for i in range(len(arrows))])
    else:
        arrows = arrows.assign(label=arrows["name"] + arrows["label"])
    return arrows, labels, _axis_room(flops, arrows, labels, options)


KEY_NUMBER_STEPS = 8  # a keyed number moves down at most this many gaps to clear the runs and curves


def _all_point_right(arrows: pd.DataFrame) -> bool:
    """Whether every arrow runs from the focus's curve right to its reference (xend >= x: the
    focus needs less compute, multiplier >= 1), so that its right end is the reference's point."""
    return bool((arrows["xend"] >= arrows["x"]).all())


def _clear_numbers(arrows, labels, limits, shown, gap, options):
    """Keyed numbers moved away from the arrows, one gap at a time (the arrow farthest from the
    others' side first): down when left of the arrows, up when right of them, until no run,
    fitted curve or earlier number is inside their box (see ``_labels_cover``), or KEY_NUMBER_STEPS."""
    arrows = arrows.copy()
    placed = shown
    up = bool(len(arrows)) and (arrows["side"] == "right").all()
    for i in np.argsort(arrows["y"].to_numpy() if up else -arrows["y"].to_numpy(), kind="stable"):
        one = arrows.iloc[[i]]
        for _ in range(KEY_NUMBER_STEPS):
            if not _labels_cover(one, labels.iloc[:0], limits, placed, gap, options):
                break
            one = one.assign(label_y=one["label_y"] + (gap if up else -gap))
        arrows.iloc[i, arrows.columns.get_loc("label_y")] = float(one["label_y"].iloc[0])
        placed = pd.concat([placed, _number_ends(one, limits, options)], ignore_index=True)
    return arrows, labels, limits


def _number_ends(number: pd.DataFrame, limits, options: FigureOptions) -> pd.DataFrame:
    """Points every half character across a placed keyed number (right-aligned at label_x; left-aligned
    right of the arrows) and two
    characters beyond either end, which later numbers keep clear of: with only its anchor kept
    clear, numbers of arrows ending near each other were set side by side, '5' and '6' reading
    as '56', or on top of each other (with one character, '1 2' still shared a line)."""
    char = CHAR_WIDTH * (options.base_size - 2) / max(panel_width(options), 1.0) * np.log10(limits[1] / limits[0])
    end = float(np.log10(number["label_x"].iloc[0]))
    start = end - char * len(number["label"].iloc[0])
    if number["side"].iloc[0] == "right":       # left-aligned at label_x
        start, end = end, 2 * end - start
    x = np.linspace(start - 2 * char, end + 2 * char, 2 * (len(number["label"].iloc[0]) + 4) + 1)
    return pd.DataFrame({"flops": 10.0 ** x, "value": float(number["label_y"].iloc[0])})


def _labels_cover(arrows, labels, limits, shown, gap, options) -> bool:
    """Whether any label's box (its text's width as a share of the panel's decades, a stacking gap
    high, widened by a marker's radius on every side) holds a point of ``shown`` (runs and fitted
    curves, in compute and plotted value)."""
    decades = np.log10(limits[1] / limits[0])
    panel = max(panel_width(options), 1.0)
    per_char = CHAR_WIDTH * (options.base_size - 2) / panel * decades
    pad = MARKER_RADIUS / panel * decades
    anchor_x = np.log10(arrows["label_x"].to_numpy(dtype=float))
    width = per_char * arrows["label"].str.len().to_numpy()
    on_right = (arrows["side"] == "right").to_numpy()
    left_starts = np.log10(labels["x"].to_numpy(dtype=float))
    boxes = np.concatenate([
        np.column_stack([np.where(on_right, anchor_x, anchor_x - width), np.where(on_right, anchor_x + width, anchor_x),
                         arrows["label_y"].to_numpy(dtype=float)]),
        np.column_stack([left_starts, left_starts + per_char * labels["family"].str.len().to_numpy(),
                         labels["y"].to_numpy(dtype=float)])]).reshape(-1, 3)
    x, y = np.log10(shown["flops"].to_numpy(dtype=float)), shown["value"].to_numpy(dtype=float)
    inside = ((x[None, :] >= boxes[:, :1] - pad) & (x[None, :] <= boxes[:, 1:2] + pad)
              & (np.abs(y[None, :] - boxes[:, 2:3]) <= gap * (0.5 + MARKER_IN_GAPS)))
    return bool(inside.any())


def _labels_fit(arrows, labels, limits, options) -> bool:
    """Whether every arrow label and reference name lies inside the compute axis ``limits``, its
    width measured in the font (a label too long for the panel, such as 'vs LONG-FAMILY-NAME: 0.622x
    [0.0883x, 1.89x]', ran past the axis and off the figure)."""
    low, high = np.log10(limits[0]), np.log10(limits[1])
    per_inch = (high - low) / max(panel_width(options), 1.0)
    size = options.base_size - 2
    for x, text, side in zip(arrows["label_x"], arrows["label"], arrows["side"]):
        width = text_width(text, size) * per_inch
        start = np.log10(x) - (width if side == "left" else 0.0)
        if start < low or start + width > high:
            return False
    return all(np.log10(x) + text_width(name, size) * per_inch <= high
               for x, name in zip(labels["x"], labels["family"]))


def _arrow_key(arrows: pd.DataFrame) -> str:
    """The caption of a keyed figure: one line per arrow, 'k   LABEL   vs NAME', the numbers right-aligned
    by figure spaces (U+2007, a digit's width), so that lines 10 and on line up with 1 to 9."""
    digits = max((len(str(number)) for number in arrows["label"]), default=1)
    return "\n".join(f"{str(number).rjust(digits, FIGURE_SPACE)}   {label}   {title}"
                     for number, label, title in zip(arrows["label"], arrows["key"], arrows["title"]))


FIGURE_SPACE = "\u2007"


UNCHECKED_NOTE = "* band outside what the calibration study checked"


def prediction_note(flags: bool = False) -> str:
    """What the multipliers figure's filled markers are: predictions at the compute given as
    ``at_flops`` (with ``flags``, ``--at-flops``)."""
    return f"filled markers: predictions at {terms_of(flags).name('at_flops')}, with their bands"
FRONTIER_NOTE = "curves: L(N, D) at compute-optimal N and D, not through each run"


def _caption_lines(result: Analysis, arrows: pd.DataFrame, keyed: bool,
                   options: FigureOptions = FigureOptions()) -> list[str]:
    """The multipliers figure's caption: the key of numbered arrows, what a '*' means when a label
    carries one, for L(N, D) that its curves are the compute-optimal frontier, not through the runs,
    and what the filled markers of predictions (--at-flops) are; wrapped to the figure's width (a
    key line naming a long family ran off the figure's edge)."""
    key = _arrow_key(arrows).splitlines() if keyed else []
    starred = any(label.endswith(" *") for label in arrows["key" if keyed else "label"])
    predicted = len(prediction_frame(result)) > 0
    lines = (key + ([UNCHECKED_NOTE] if starred else []) + ([FRONTIER_NOTE] if result.law.name == "chinchilla" else [])
             + ([prediction_note(options.flags)] if predicted else []))
    room, size = panel_width(options), options.base_size - 2      # the caption starts at the panel's left
    indent = text_width("0" * len(KEY_INDENT), size)
    wrapped = [[line] if text_width(line, size) <= room else wrap_to_width(line, size, room - indent).split("\n")
               for line in lines]
    return [part if i == 0 else KEY_INDENT + part for parts in wrapped for i, part in enumerate(parts)]


KEY_INDENT = "    "  # a caption line's continuation, indented past the key's number


def caption_line_count(result: Analysis, options: FigureOptions = FigureOptions()) -> int:
    """Lines of the multipliers figure's caption (``_caption_lines``), for its height."""
    arrows, _, _, keyed = _annotation_layout(result, options)
    return len(_caption_lines(result, arrows, keyed, options))


def residuals_figure(result: Analysis, options: FigureOptions = FigureOptions()):
    """ln L - ln L_fit against compute, one panel per fitted family."""
    _require_analysis(result)
    p9 = _p9()
    options = _sized("residuals", result, options)
    rows = []
    for name, ff in result.fits.items():
        fit = ff.fit
        fitted = (fit.law.predict_nd(fit.params, fit.model_params, fit.tokens) if fit.model_params is not None
                  else fit.predict(fit.flops))
        rows.append(pd.DataFrame({"family": name, "flops": fit.flops,
                                  "residual": np.log(fit.loss) - np.log(fitted)}))
    frame = pd.concat(rows, ignore_index=True)
    frame["family"] = pd.Categorical(frame["family"], list(result.fits))       # panels in the file's order
    return (p9.ggplot(frame, p9.aes("flops", "residual"))
            + p9.geom_hline(yintercept=0, colour="#888888", size=0.4)
            + p9.geom_point(size=1.2, colour=OKABE_ITO[0])
            + p9.facet_wrap("~family", ncol=residual_columns(list(result.fits), options), labeller=literal_text)
            + _log_scale("x") + _theme(options)
            + p9.theme(panel_spacing_x=0.04)              # adjacent panels' end ticks ran together ("1e221e19")
            + _labels(options, _compute_label(result.ladder), "residual of ln loss"))


STRIP_TEXT_SCALE = 0.8  # panel titles' text size as a share of the base size (theme_bw)


def residual_columns(families: list[str], options: FigureOptions) -> int:
    """Columns of the residuals figure: as in plotnine's default (about square), fewer when a
    panel would be narrower than its family's name (long names ran into the next panel's)."""
    n = len(families)
    columns = int(np.ceil(np.sqrt(n)))
    title = max(len(f) for f in families) * CHAR_WIDTH * STRIP_TEXT_SCALE * options.base_size + 0.1
    while columns > 1 and panel_width(options, columns) < title:
        columns -= 1
    return columns


CURVE_TARGETS = 24         # target losses of the multiplier-curve figure against each other ladder ...
CURVE_RUN_TARGETS = 6000   # ... with profile bands as many as this over the two ladders' runs allows (each
FEWEST_CURVE_TARGETS = 8   # target profiles both: 8 s for two of 5,000 runs), but at least this many


def curve_targets(result: Analysis, other: str) -> int:
    """Target losses of the multiplier-curve figure against ``other``: CURVE_TARGETS, fewer for
    long ladders with profile bands."""
    if result.band_method != "profile":
        return CURVE_TARGETS
    runs = result.fits[result.focus].fit.n_runs + result.fits[other].fit.n_runs
    return min(CURVE_TARGETS, max(FEWEST_CURVE_TARGETS, CURVE_RUN_TARGETS // runs))


def curve_target_losses(fit, low: float, high: float, count: int) -> np.ndarray:
    """``count`` target losses from ``low`` to ``high`` for the multiplier-curve figure, at which
    ``fit`` needs computes evenly spaced in log compute, C_i = C(high) (C(low) / C(high))^(i / (count - 1)),
    L_i = L(C_i): the multiplier and its band change fastest where the loss nears the law's floor,
    and evenly spaced losses drew the band there as a few straight pieces with corners (found on
    the Gadre et al. ladders). Evenly spaced losses where ``fit`` cannot reach ``low``."""
    ends = fit.invert(np.array([high, low], dtype=float))
    if count < 2 or not np.all((ends > 0) & np.isfinite(ends)):
        return np.linspace(low, high, count)
    losses = fit.predict(np.geomspace(ends[1], ends[0], count))
    losses[[0, -1]] = low, high          # the ends exactly, not as rounded by the round trip
    return losses


def multiplier_curve_figure(result: Analysis, options: FigureOptions = FigureOptions(), points: int | None = None,
                            progress: Callable[[int], None] | None = None):
    """The multiplier against another ladder as a function of the target loss, with its band, at
    ``points`` target losses (default :func:`curve_targets`; placed by :func:`curve_target_losses`). With profile bands ``progress`` is
    called with the number of targets done as they are (:func:`figure_steps` counts the targets;
    :func:`~scalefit.efficiency.multipliers_of` profiles them a few at a time)."""
    from .efficiency import Comparison, multipliers_of

    _require_analysis(result)
    p9 = _p9()
    options = _sized("multiplier-curve", result, options)
    rows = []
    focus = result.fits[result.focus]
    for name, ff in result.fits.items():
        if name == result.focus:
            continue
        lo = max(focus.fit.loss.min(), ff.fit.loss.min())
        hi = min(focus.fit.loss.max(), ff.fit.loss.max())
        inside = lo < hi      # the two ladders' losses overlap: both fits are inverted within their runs
        if not inside:
            lo, hi = min(focus.fit.loss.min(), ff.fit.loss.min()), max(focus.fit.loss.max(), ff.fit.loss.max())
        targets = curve_target_losses(focus.fit, lo, hi, points or curve_targets(result, name))
        comparisons = [Comparison(name, float(target), "curve", reference_fit=ff.fit, reference_draws=ff.draws)
                       for target in targets]
        for m in multipliers_of(focus.fit, focus.draws, comparisons, result.level, result.band_method,
                                progress if result.band_method == "profile" else None):
            rows.append(dict(reference=f"vs {name}", value=float(result.ladder.loss_to_metric(m.loss)),
                             multiplier=m.multiplier, low=m.low, high=m.high,
                             part="fitted range" if inside else "extrapolated"))
    if not rows:
        raise ValueError("no other ladder to compare with: the multiplier-curve figure needs two fitted families")
    frame, ylim = _open_band_ends(pd.DataFrame(rows))
    log_x = spans_log_axis(frame["value"].to_numpy(dtype=float))
    panels = list(dict.fromkeys(frame["reference"]))
    frame["reference"] = pd.Categorical(frame["reference"], panels)  # file order
    extrapolated = bool((frame["part"] == "extrapolated").any())
    columns, caption = residual_columns(panels, options), multiplier_curve_caption(result, options)
    panel_rows = int(np.ceil(len(panels) / columns))
    line = ([p9.geom_line(p9.aes(linetype="part"), colour=OKABE_ITO[0], size=0.7),
             _extrapolation_scale()]
            if extrapolated else p9.geom_line(colour=OKABE_ITO[0], size=0.7))
    return (p9.ggplot(frame, p9.aes("value", "multiplier"))
            + p9.geom_ribbon(p9.aes(ymin="low", ymax="high"), fill=OKABE_ITO[0], alpha=0.2)
            + line + p9.geom_hline(yintercept=1, colour="#888888", size=0.4)
            + p9.facet_wrap("~reference", ncol=columns, labeller=literal_text)
            + _log_scale("y", *_tick_room(options, stacked_panel_height(options, panel_rows, caption)))
            + (_log_scale("x", *_tick_room(options, panel_width(options, columns))) if log_x else [])
            + (p9.coord_cartesian(ylim=ylim) if ylim is not None else p9.coord_cartesian()) + _theme(options)
            + _labels(options, _metric_label(result),
                      literal_text(_value_title(f"{result.focus}'s compute multiplier", options)))
            + p9.labs(caption=literal_text("\n".join(caption)))
            + p9.theme(plot_caption=p9.element_text(ha="left", size=options.base_size - 2)))


def multiplier_curve_caption(result: Analysis, options: FigureOptions = FigureOptions()) -> list[str]:
    """What the multiplier-curve figure's multiplier is, and which way it favours the focus (the
    axis title alone left the direction to be guessed), as the table's header says it; wrapped to
    the figure's width."""
    text = (f"multiplier: the other ladder's compute / {result.focus}'s at the same "
            f"{'perplexity' if result.ladder.metric == 'perplexity' else 'loss'}; > 1: {result.focus} needs less")
    room = options.width - AXIS_MARGIN - 0.3       # the caption starts at the panel, right of a 2-line axis title
    return wrap_to_width(text, options.base_size - 2, room).split("\n")


def _value_title(title: str, options: FigureOptions) -> str:
    """A value axis's title broken into lines no longer than the panel is high (a long focus name
    ran it off the figure at both ends)."""
    return wrap_to_width(title, options.base_size, max(options.height - 0.8, 1.0))


def multiplier_curve_panels(result: Analysis) -> list[str]:
    """The multiplier-curve figure's panel titles: 'vs NAME' for every other fitted family."""
    return [f"vs {name}" for name in result.fits if name != result.focus]


def _open_band_ends(frame: pd.DataFrame) -> tuple[pd.DataFrame, tuple[float, float] | None]:
    """Multiplier bands with their unbounded ends (0x, inf) drawn past the value axis, and that
    axis's limits (None when every end is finite): the ribbon was left out wherever an end was
    unbounded, so the curve looked most certain where its band is widest. NaN stays NaN (no band)."""
    frame = frame.copy()
    open_low, open_high = frame["low"] <= 0, np.isposinf(frame["high"])
    finite = frame[["multiplier", "low", "high"]].to_numpy(dtype=float).ravel()
    finite = np.log10(finite[np.isfinite(finite) & (finite > 0)])
    frame["multiplier"] = frame["multiplier"].where(np.isfinite(frame["multiplier"]) & (frame["multiplier"] > 0))
    if not (open_low.any() or open_high.any()) or finite.size == 0:
        frame["low"] = frame["low"].where(~open_low)
        frame["high"] = frame["high"].where(~open_high)
        return frame, None
    pad = max(0.04 * (finite.max() - finite.min()), 0.1)
    low, high = finite.min() - pad, finite.max() + pad
    frame.loc[open_low, "low"] = 10.0 ** (low - 1)
    frame.loc[open_high, "high"] = 10.0 ** (high + 1)
    return frame, (10.0 ** low, 10.0 ** high)


def distribution_figure(result: Analysis, options: FigureOptions = FigureOptions(),
                        progress: Callable[[int], None] | None = None):
    """Bootstrap distribution of each multiplier (percentile bands), or its profile confidence
    curve (profile bands): the deviance against the multiplier, with the band's threshold;
    ``progress`` is called with 1 after each profile (:func:`figure_steps` counts them)."""
    _require_analysis(result)
    p9 = _p9()
    options = _sized("distribution", result, options)
    frames = []
    if result.band_method == "percentile":
        from .efficiency import compute_ratio
        if not result.multipliers:
            raise ValueError("nothing to compare: the distribution figure shows multipliers, and this file has "
                             "one family")
        focus = result.fits[result.focus]
        for m, label in zip(result.multipliers, _comparison_labels(result.multipliers)):
            draws = focus.draws
            ok = draws.ok.copy()
            if m.reference_kind == "ladder":      # resample b of both families, as in the band
                other = result.fits[m.reference].draws
                ok &= other.ok
                r = other.law.invert(other.params[ok], m.loss)
            else:
                r = np.full(int(ok.sum()), m.reference_flops)
            ratio = compute_ratio(r, focus.fit.law.invert(draws.params[ok], m.loss))
            frames.append(pd.DataFrame({"comparison": label, "multiplier": ratio}))
        frame = _in_table_order(pd.concat(frames, ignore_index=True).replace([np.inf, -np.inf], np.nan).dropna())
        frame = frame[frame["multiplier"] > 0]
        if frame.empty:
            raise ValueError("no multiplier has a finite positive value to show: every comparison is unreachable "
                             "by one of its ladders")
        return (p9.ggplot(frame, p9.aes("multiplier")) + p9.geom_histogram(bins=40, fill=OKABE_ITO[0], alpha=0.8)
                + _estimate_and_band(result)
                + p9.facet_wrap("~comparison", scales="free", ncol=1, labeller=literal_text)
                + _log_scale("x", *_tick_room(options, panel_width(options))) + _theme(options)
                + _labels(options, "multiplier (bootstrap draws)", "draws"))
    from .profile import compute_deviance, threshold
    focus = result.fits[result.focus]
    for m, label in zip(result.multipliers, _comparison_labels(result.multipliers)):
        if m.reference_kind != "point":
            continue
        dev = compute_deviance(focus.fit, m.loss, result.level)
        if progress is not None:
            progress(1)
        frames.append(pd.DataFrame({"comparison": label,
                                    "multiplier": m.reference_flops / 10.0 ** dev.grid, "deviance": dev.values}))
    limit = threshold(result.level, focus.fit.n_runs - focus.fit.law.n_free)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["comparison", "deviance"])
    frame = _in_table_order(frame[frame["deviance"] <= 3 * limit])
    if frame.empty:
        ladders = any(m.reference_kind == "ladder" for m in result.multipliers)
        points = any(m.reference_kind == "point" for m in result.multipliers)
        raise argument_error(lambda t: ("no reference point the focus's law can reach" if points else
                                        "the file has no reference point (a family of one run)")
                             + ": with profile bands this figure draws each reference point's confidence curve"
                             + (f"; for comparisons between ladders add {t.setting('band_method', 'percentile')} "
                                "(their bootstrap distributions)" if ladders else ""))
    return (p9.ggplot(frame, p9.aes("multiplier", "deviance")) + p9.geom_line(colour=OKABE_ITO[0], size=0.7)
            + p9.geom_hline(yintercept=limit, linetype="dashed", colour="#888888", size=0.4)
            + p9.facet_wrap("~comparison", scales="free_x", ncol=1, labeller=literal_text)
            + _log_scale("x", *_tick_room(options, panel_width(options)))
            + _theme(options) + _labels(options, "multiplier", "profile deviance")
            + p9.labs(caption=literal_text("\n".join(_distribution_caption(result, options))))
            + p9.theme(plot_caption=p9.element_text(ha="left", size=options.base_size - 2)))


def _distribution_caption(result: Analysis, options: FigureOptions = FigureOptions()) -> list[str]:
    """The profile distribution figure's caption: how to read it, and the comparisons with other
    ladders that it leaves out (their bands combine two curves; band_method='percentile', with
    ``flags`` --band-method percentile, draws their distributions), each wrapped to the panel's
    width at the caption's size (wrapped at 64 characters, a line ran off a figure with larger text)."""
    lines = [f"the {level_percent(result.level)} band is where the curve is below the dashed line"]
    omitted = list(dict.fromkeys(m.reference for m in result.multipliers if m.reference_kind == "ladder"))
    if omitted:
        lines.append(f"not drawn (other ladders; {terms_of(options.flags).setting('band_method', 'percentile')} "
                     "draws them):")
        lines.append(", ".join(f"vs {name}" for name in omitted))
    room = max(panel_width(options), 1.0)
    return [part for line in lines for part in wrap_to_width(line, options.base_size - 2, room).split("\n")]


PANEL_HEIGHT = 0.75  # inches per stacked panel of the distribution figure, beyond the axis labels
KEY_LINE_HEIGHT = 0.16  # inches per line of the multipliers figure's caption key (8 pt text)


def natural_height(kind: str, result: Analysis, height: float, width: float = COLUMN_SIZE[0],
                   flags: bool = False, title: str | None = None,
                   base_size: float = FigureOptions.base_size) -> float:
    """:func:`_natural_height_untitled`, and a line's height more for each line a ``title`` wraps
    to past its first (:func:`wrapped_title`) at ``base_size``: a long title took its lines from
    the panel. :func:`with_natural_height` takes these from the figure's options. Text larger than
    the default (``base_size`` s times 8 pt) takes the height of the default figure s times
    narrower, scaled up s times, the layout its text needs (at base size 20 the stacked panels and
    the key were measured for 8-pt text, and the panels were squeezed to slivers)."""
    scale = max(1.0, base_size / FigureOptions.base_size)
    return (scale * _natural_height_untitled(kind, result, height, width / scale, flags)
            + _title_lines_height(title, width, base_size))


def _title_lines_height(title: str | None, width: float, base_size: float = FigureOptions.base_size) -> float:
    """The height in inches of ``title``'s lines past its first as wrapped to ``width`` and drawn
    at ``base_size`` (matplotlib's default line spacing); 0 for a title matplotlib cannot typeset
    (math between $ signs it does not know), which the figure's drawing reports."""
    if not title:
        return 0.0
    size = TITLE_TEXT_SCALE * base_size
    try:
        wrapped = wrapped_title(FigureOptions(title=title, width=width, base_size=base_size))
        if "\n" not in wrapped:
            return 0.0
        first = wrapped.split("\n")[0]
        return text_extent(wrapped, size, MATPLOTLIB_LINE_SPACING)[1] - text_extent(first, size, MATPLOTLIB_LINE_SPACING)[1]
    except ValueError:
        return 0.0


MATPLOTLIB_LINE_SPACING = 1.2   # matplotlib's default, with which plotnine draws the title


def _natural_height_untitled(kind: str, result: Analysis, height: float, width: float = COLUMN_SIZE[0],
                             flags: bool = False) -> float:
    """``height``, or more for the distribution figure, whose panels are stacked one per comparison,
    and for a multipliers figure ``width`` wide with a caption key, a line per arrow (its caption's
    lines with ``flags`` as the command words them, :class:`FigureOptions`)."""
    if kind == "multipliers":
        return (height + KEY_LINE_HEIGHT * caption_line_count(result, FigureOptions(width=width, height=height,
                                                                                     flags=flags))
                + legend_height(list(fit_legend(legend_names(result.fits, narrow_bands(result)),
                                                FigureOptions(width=width)).values()), FigureOptions(width=width)))
    if kind in ("residuals", "multiplier-curve"):   # stacked rows of panels when long names leave few columns
        panels = list(result.fits) if kind == "residuals" else multiplier_curve_panels(result)
        if not panels:
            return height
        rows = int(np.ceil(len(panels) / residual_columns(panels, FigureOptions(width=width))))
        caption = 0.0 if kind == "residuals" else \
            KEY_LINE_HEIGHT * len(multiplier_curve_caption(result, FigureOptions(width=width)))
        return max(height, 0.8 + PANEL_HEIGHT * rows) + caption
    if kind == "contours":     # room for caption lines beyond the two the height was set for
        if result.law.name != "chinchilla" or result.focus not in result.fits:
            return height
        lines = len(contours_caption(result, result.focus, FigureOptions(width=width, flags=flags)))
        return height + KEY_LINE_HEIGHT * max(0, lines - 2)
    if kind != "distribution":
        return height
    panels = sum(1 for m in result.multipliers if result.band_method == "percentile" or m.reference_kind == "point")
    caption = 0 if result.band_method == "percentile" else len(_distribution_caption(result, FigureOptions(width=width, flags=flags))) - 1
    return max(height, 0.8 + PANEL_HEIGHT * panels + KEY_LINE_HEIGHT * caption)


SMALLEST_PANEL_HEIGHT = 1.6  # inches for a panel with its ticks and axis titles (a figure 1.5 in high cut its y title)


def short_height_warning(kind: str, result: Analysis, options: FigureOptions) -> Message | None:
    """A warning when the height given is below the figure's need, ``natural_height`` with
    SMALLEST_PANEL_HEIGHT for the panel: its key, legend, caption or stacked panels take their
    room first, and the panel is squeezed until its axis titles are cut. None when it fits."""
    if options.height is None:
        return None
    needed = with_natural_height(kind, result, options, SMALLEST_PANEL_HEIGHT).height
    if options.height >= needed - 1e-9:
        return None
    least = f"{math.ceil(needed * 10 - 1e-9) / 10:g}"                 # rounded up to a tenth: enough
    natural = f"{round(with_natural_height(kind, result, options).height, 1):g}"
    return message(lambda t: f"{t.given('height', options.height, 'g')}: the {kind} figure of this analysis, "
                             f"{options.width:g} in wide, needs at least {least} in for its panels, key, legend "
                             f"and caption; lower, its panels are squeezed and labels may overlap or be cut; leave "
                             f"the height out (then {natural} in) or give at least {least}")


def _comparison_label(m, digits: int = 4) -> str:
    """Facet title of one multiplier: 'vs NAME', plus where for comparisons between ladders."""
    if m.reference_kind == "point":
        return f"vs {m.reference}"
    return f"vs {m.reference} ({m.where}, loss {m.loss:.{digits}g})"


def _comparison_labels(multipliers) -> list[str]:
    """Facet titles, one per multiplier and all distinct (they key the facets): the loss with 4
    digits, as in the table, or more where two targets agree to 4."""
    for digits in (4, 6, 8, 12, 17):
        labels = [_comparison_label(m, digits) for m in multipliers]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{label} #{i + 1}" for i, label in enumerate(labels)]


def _in_table_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Facets in the order of the table's rows, not alphabetical."""
    order = list(dict.fromkeys(frame["comparison"]))
    return frame.assign(comparison=pd.Categorical(frame["comparison"], categories=order, ordered=True))


def _estimate_and_band(result: Analysis):
    """Vertical lines at each multiplier (solid) and its band's ends (dashed), per facet."""
    p9 = _p9()
    rows = [(label, m.multiplier, m.low, m.high)
            for m, label in zip(result.multipliers, _comparison_labels(result.multipliers))]
    lines = pd.DataFrame(rows, columns=["comparison", "estimate", "low", "high"])
    lines = _in_table_order(lines)
    finite = lambda column: lines[np.isfinite(lines[column]) & (lines[column] > 0)]
    return [p9.geom_vline(finite("estimate"), p9.aes(xintercept="estimate"), colour="#333333", size=0.5),
            p9.geom_vline(finite("low"), p9.aes(xintercept="low"), colour="#333333", size=0.4, linetype="dashed"),
            p9.geom_vline(finite("high"), p9.aes(xintercept="high"), colour="#333333", size=0.4, linetype="dashed")]


def contours_figure(result: Analysis, family: str | None = None, options: FigureOptions = FigureOptions()):
    """Loss contours of L(N, D) over (N, D), the compute-optimal frontier, and IsoFLOP lines."""
    from .chinchilla import allocation

    _require_analysis(result)
    p9 = _p9()
    options = _sized("contours", result, options)
    if result.law.name != "chinchilla":
        raise ValueError("contours need a two-variable law: analyze with law='chinchilla'")
    family = family or result.focus
    fit = result.fits[family].fit
    n = np.geomspace(fit.model_params.min() / 3, fit.model_params.max() * 3, 80)
    d = np.geomspace(fit.tokens.min() / 3, fit.tokens.max() * 3, 80)
    nn, dd = np.meshgrid(n, d)
    grid = pd.DataFrame({"params": nn.ravel(), "tokens": dd.ravel(),
                         "loss": fit.law.predict_nd(fit.params, nn.ravel(), dd.ravel())})
    k = fit.law.flops_per_param_token
    budgets = np.geomspace(fit.flops.min(), fit.flops.max() * 10, 60)
    alloc = allocation(fit.params, budgets, k)
    frontier = pd.DataFrame({"params": alloc["n_opt"], "tokens": alloc["d_opt"]})
    frontier = frontier[(frontier.params.between(n[0], n[-1])) & (frontier.tokens.between(d[0], d[-1]))]
    iso = []
    for c in np.geomspace(fit.flops.min(), fit.flops.max(), 4):
        iso.append(pd.DataFrame({"params": n, "tokens": c / (k * n), "budget": budget_label(c)}))
    iso = pd.concat(iso, ignore_index=True)
    iso = iso[iso.tokens.between(d[0], d[-1])]
    runs = pd.DataFrame({"params": fit.model_params, "tokens": fit.tokens})
    levels = np.unique(np.round(np.quantile(grid["loss"], np.linspace(0.05, 0.9, 9)), 2))   # readable values
    contours = _iso_loss_lines(fit.params, n, d, levels)
    text = options.base_size - 2   # as the other figures label inside the panel
    # the colours, axes, colour bar, caption and title: drawn once to measure the panel the labels go in
    base = (p9.ggplot(grid, p9.aes("params", "tokens"))
            + p9.geom_raster(p9.aes(fill="loss"), interpolate=True)
            # the raster to the panel's edges (plotnine's 5% margin left a band of grid around it)
            + _log_scale("x", expand=(0, 0)) + _log_scale("y", expand=(0, 0))
            + p9.scale_fill_cmap("viridis", name="loss (nats/token)")
            + _theme(options) + _labels(options, "parameters N", "tokens D")
            + p9.theme(legend_title=p9.element_text(size=options.base_size - 2, margin={"r": 4}))
            + p9.labs(caption=literal_text("\n".join(contours_caption(result, family, options))))
            + p9.theme(plot_caption=p9.element_text(ha="left", size=options.base_size - 2)))
    loss_labels, budget_labels, contours, iso = labelled_contour_lines(
        contours, iso, frontier, runs, (n[[0, -1]], d[[0, -1]]), drawn_panel_size(base), text)
    # lines and labels white on the dark (low-loss) half of the colour scale, dark on the light half
    middle = grid["loss"].min() + 0.5 * (grid["loss"].max() - grid["loss"].min())

    def on_dark(frame: pd.DataFrame) -> np.ndarray:
        return fit.law.predict_nd(fit.params, frame["params"].to_numpy(float), frame["tokens"].to_numpy(float)) < middle

    iso = _shaded_segments(iso, on_dark(iso), by="piece")
    for labels in (loss_labels, budget_labels):
        labels["shade"] = np.where(on_dark(labels), ON_DARK, ON_LIGHT)
    return (base
            + p9.geom_line(p9.aes(group="piece"), data=contours, colour="white", size=0.25)
            + p9.geom_path(p9.aes(group="segment", colour="shade"), data=iso, linetype="dotted", size=0.4)
            + p9.scale_colour_identity()
            + p9.geom_line(data=frontier, colour="#D55E00", size=0.9)
            + p9.geom_point(data=runs, size=0.8, colour="black", fill="white", shape="o")
            + p9.geom_text(p9.aes(label="level", colour="shade"), data=loss_labels, size=text,
                           lineheight=LABEL_LINE_SPACING)
            + p9.geom_text(p9.aes(label="budget", colour="shade"), data=budget_labels, size=text,
                           lineheight=LABEL_LINE_SPACING))


def drawn_panel_size(plot) -> tuple[float, float]:
    """The (width, height) in inches of ``plot``'s (first) panel as matplotlib lays it out: the
    figure less its axes, colour bar, caption and title at the sizes their texts are drawn (a copy
    drawn without rendering, then closed). An estimate from fixed margins was off by 0.1 in at 2.5
    x 2 in, 0.9 in at 16 x 12 and 1.5 in at 25 x 3, and blind to the text size."""
    import copy

    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure = copy.deepcopy(plot).draw()     # draw() builds into the plot it draws
    try:
        figure.draw_without_rendering()
        box = figure.axes[0].get_window_extent()
        return float(box.width) / figure.dpi, float(box.height) / figure.dpi
    finally:
        plt.close(figure)


def contours_caption(result: Analysis, family: str, options: FigureOptions) -> list[str]:
    """The contours figure's caption: whose fit it is, how to draw each other family's (``family='b'``;
    with ``options.flags`` ``--focus b``; it named only the first of them), what the lines are;
    wrapped to the figure's width (a long family name ran off its right edge)."""
    fit = result.fits[family].fit
    others = [f for f in result.fits if f != family]
    lines = [f"family {family}: L(N, D) fitted to its {fit.n_runs} runs (points)"
             + (f"; others: {_other_families(others, options.flags)}" if others else ""),
             f"solid white: loss; orange: compute-optimal frontier; dotted: C = {fit.law.flops_per_param_token:g} N D"]
    room, size = options.width - CONTOURS_AXIS_MARGIN, options.base_size - 2   # the caption starts at the panel's left
    return [part for line in lines for part in wrap_to_width(line, size, room).split("\n")]


# inches left of the contours' panel, where its caption starts: its token ticks (10^11) put the
# panel 0.426 in from the figure's left, past AXIS_MARGIN, and a first line measured 2.98 in to fit
# 3.0 ran its last comma off the figure's right edge (no more: a long family name is cut to fit)
CONTOURS_AXIS_MARGIN = 0.43
OTHERS_NAMED = 3   # other families the contours caption says how to draw (the rest are counted)


def _other_families(families: list[str], flags: bool) -> str:
    """How to draw each of ``families``' contours, '--focus a, --focus b and 2 more' (OTHERS_NAMED of them)."""
    named = ", ".join(_other_family(f, flags) for f in families[:OTHERS_NAMED])
    return named + (f" and {len(families) - OTHERS_NAMED} more" if len(families) > OTHERS_NAMED else "")


def _other_family(family: str, flags: bool) -> str:
    """How to draw the contours of ``family``: the figure's argument ``family='b'``, or the command's
    ``--focus b`` (the option and its value joined by a no-break space: kept on one line)."""
    return f"--focus\u00a0{family}" if flags else f"family={family!r}"


def budget_label(flops: float) -> str:
    """An IsoFLOP line's label, its compute to two digits as the axes write powers of ten ('8.8e18'
    beside axes reading 10^18 read as program output)."""
    return _tick_label(float(f"{flops:.2g}"), plain=False)


ON_DARK, ON_LIGHT = "#FFFFFF", "#333333"   # IsoFLOP lines over the dark and the light half of the colour scale


def _shaded_segments(lines: pd.DataFrame, dark: np.ndarray, by: str = "budget") -> pd.DataFrame:
    """Each line of ``lines`` (points in order, one value of ``by`` each) cut into segments white where
    the background is ``dark`` and dark grey elsewhere (dark grey dotted lines vanished on the
    dark half of viridis, where the largest budgets lie); ``segment`` numbers them, ``shade`` is
    their colour, and the point where a line crosses over belongs to both segments."""
    out = []
    lines = lines.assign(shade=np.where(dark, ON_DARK, ON_LIGHT)).reset_index(drop=True)
    for _, line in lines.groupby(by, sort=False):
        starts = np.flatnonzero(np.r_[True, line["shade"].to_numpy()[1:] != line["shade"].to_numpy()[:-1]])
        for begin, end in zip(starts, np.r_[starts[1:], len(line)]):
            part = line.iloc[begin:min(end + 1, len(line))].assign(shade=line["shade"].iloc[begin])
            out.append(part.assign(segment=len(out)))
    return pd.concat(out, ignore_index=True) if out else lines.assign(segment=[])


def _iso_loss_lines(params, n: np.ndarray, d: np.ndarray, levels) -> pd.DataFrame:
    """Lines of constant loss: D = (B / (L - E - A N^-alpha))^(1/beta) where that is positive."""
    E, A, B, alpha, beta = params
    frames = []
    for level in levels:
        rest = level - E - A * n ** -alpha
        ok = rest > 0
        tokens = (B / rest[ok]) ** (1.0 / beta)
        keep = (tokens >= d[0]) & (tokens <= d[-1])
        frames.append(pd.DataFrame({"params": n[ok][keep], "tokens": tokens[keep], "level": f"{level:.4g}"}))
    return pd.concat(frames, ignore_index=True)


CONTOUR_LABEL_GAP = 0.02     # inches between a contours figure's label and the ends of its line, or another label
FRONTIER_CLEARANCE = 0.035   # inches kept between a label and the frontier's centre (its half width, 0.018, and a gap)
LABEL_STEP = 0.03            # inches between the positions along a line tried for its label


LABEL_LINE_SPACING = 1.2    # the contours figure's labels' line height / text size (plotnine's default, set)
EXTENT_DPIS = (72, 100, 300)  # resolutions a label is measured at: PDF and SVG, plotnine's screen, a saved PNG


def text_extent(text: str, size: float, spacing: float = LABEL_LINE_SPACING) -> tuple[float, float]:
    """(width, height) in inches of the box matplotlib draws ``text`` in at ``size`` points and
    line ``spacing``, math text ('$3\\times10^{20}$') included (its line height, not only its ink:
    boxes kept apart by their ink were drawn overlapping), the largest at EXTENT_DPIS (rounded to
    pixels, '2.33' at 6 pt is 0.194 in wide at 72 dpi, 0.180 at 100). Measured at matplotlib's
    default spacing, plain labels drawn at plotnine's 1.2 were a sixth taller than measured."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sizes = []
    for dpi in EXTENT_DPIS:
        figure = Figure(dpi=dpi)
        box = figure.text(0, 0, text, size=size, linespacing=spacing).get_window_extent(
            FigureCanvasAgg(figure).get_renderer())
        sizes.append((float(box.width) / dpi, float(box.height) / dpi))
    return max(w for w, _ in sizes), max(h for _, h in sizes)


def _polyline_points(xy: np.ndarray, step: float) -> np.ndarray:
    """Points along the polyline ``xy`` ((k, 2), inches) at most ``step`` apart, its vertices included."""
    if len(xy) < 2:
        return xy
    parts = [xy[:1]]
    for a, b in zip(xy[:-1], xy[1:]):
        count = max(int(np.ceil(np.hypot(*(b - a)) / step)), 1)
        parts.append(a + (b - a) * np.linspace(0, 1, count + 1)[1:, None])
    return np.concatenate(parts)


def _points_in_boxes(points: np.ndarray, boxes: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """How many of ``points`` ((k, 2)) lie in each of ``boxes`` ((m, 4): x0, y0, x1, y1) grown by ``margin``."""
    if len(points) == 0 or len(boxes) == 0:
        return np.zeros(len(boxes), dtype=int)
    x, y = points[:, 0][None, :], points[:, 1][None, :]
    inside = ((x >= boxes[:, [0]] - margin) & (x <= boxes[:, [2]] + margin)
              & (y >= boxes[:, [1]] - margin) & (y <= boxes[:, [3]] + margin))
    return inside.sum(axis=1)


def _boxes_overlap(boxes: np.ndarray, placed: list[np.ndarray], gap: float) -> np.ndarray:
    """Whether each of ``boxes`` comes within ``gap`` of one of the ``placed`` boxes."""
    hit = np.zeros(len(boxes), dtype=bool)
    for b in placed:
        hit |= ((boxes[:, 0] < b[2] + gap) & (boxes[:, 2] > b[0] - gap)
                & (boxes[:, 1] < b[3] + gap) & (boxes[:, 3] > b[1] - gap))
    return hit


def _label_candidates(line: np.ndarray, text: str, from_end: bool, others: list[np.ndarray], frontier: np.ndarray,
                      runs: np.ndarray, panel: tuple[float, float], size: float) -> tuple[np.ndarray, np.ndarray]:
    """The boxes ((k, 4): x0, y0, x1, y1, inches) of ``text`` centred on points of ``line`` every
    LABEL_STEP from its preferred end (its last point when ``from_end``, else its first), and the
    cost of each: 1 per line of ``others`` it crosses, 0.3 per run it covers, 1 per half inch from
    that end, infinite where it reaches past the panel or onto the ``frontier``."""
    width, height = panel
    anchors = _polyline_points(line[::-1] if from_end else line, LABEL_STEP)
    along = np.r_[0.0, np.cumsum(np.hypot(*np.diff(anchors, axis=0).T))]
    w, h = text_extent(text, size)
    boxes = np.column_stack([anchors[:, 0] - w / 2, anchors[:, 1] - h / 2,
                             anchors[:, 0] + w / 2, anchors[:, 1] + h / 2])
    edge = CONTOUR_LABEL_GAP / 2
    outside = (boxes[:, 0] < edge) | (boxes[:, 1] < edge) | (boxes[:, 2] > width - edge) | (boxes[:, 3] > height - edge)
    crossings = sum((_points_in_boxes(other, boxes) > 0).astype(float) for other in others)
    cost = crossings + 0.3 * _points_in_boxes(runs, boxes, MARKER_RADIUS / 2) + along / 0.5
    cost[outside | (_points_in_boxes(frontier, boxes, FRONTIER_CLEARANCE) > 0)] = np.inf
    return boxes, cost


def place_line_labels(lines: list[np.ndarray], texts: list[str], from_end: list[bool], frontier: np.ndarray,
                      runs: np.ndarray, panel: tuple[float, float], size: float) -> np.ndarray:
    """Boxes ((k, 4): x0, y0, x1, y1, inches in the panel) of one label per line of ``lines``
    (each (m, 2), in order of increasing x), placed in order, each centred on its line (which is
    then broken under it, :func:`_cut_under_labels`), inside the panel, clear of the ``frontier``
    (points along it) and of the labels placed before it; of those positions the one of least
    cost (:func:`_label_candidates`). A label with no clear position (a small figure, large text)
    is left out: its row is NaN (placed regardless, it had overlapped another label and been cut
    off at the panel's edge)."""
    dense = [_polyline_points(line, LABEL_STEP / 3) for line in lines]
    placed = np.full((len(lines), 4), np.nan)
    for i, (line, text, end) in enumerate(zip(lines, texts, from_end)):
        boxes, cost = _label_candidates(line, text, end, [o for j, o in enumerate(dense) if j != i], frontier, runs,
                                        panel, size)
        cost[_boxes_overlap(boxes, list(placed[:i]), CONTOUR_LABEL_GAP)] = np.inf
        if np.isfinite(cost).any():
            placed[i] = boxes[int(np.argmin(cost))]
    return placed


STUB = 0.15   # inches: the part of a line left between a label and the panel's edge shorter than this is not drawn


def _cut_under_labels(line: np.ndarray, boxes: np.ndarray, gap: float) -> list[np.ndarray]:
    """The pieces of ``line`` ((m, 2), inches) outside every one of ``boxes`` ((k, 4)) grown by
    ``gap`` (the line first cut into steps of a tenth of the gap: the break is that precise),
    less a piece at either end shorter than STUB (a stub between a label and the panel's edge)."""
    points = _polyline_points(line, gap / 10)
    keep = np.ones(len(points), dtype=bool)
    for box in boxes:
        keep &= ~((points[:, 0] >= box[0] - gap) & (points[:, 0] <= box[2] + gap)
                  & (points[:, 1] >= box[1] - gap) & (points[:, 1] <= box[3] + gap))
    piece = np.cumsum(~keep)
    pieces = [points[keep & (piece == k)] for k in np.unique(piece[keep])]
    if len(pieces) < 2:
        return pieces
    ends = [i for i, touches in ((0, keep[0]), (len(pieces) - 1, keep[-1])) if touches]
    stubs = {i for i in ends if np.hypot(*np.diff(pieces[i], axis=0).T).sum() < STUB}
    return [p for i, p in enumerate(pieces) if i not in stubs]


def labelled_contour_lines(contours: pd.DataFrame, iso: pd.DataFrame, frontier: pd.DataFrame, runs: pd.DataFrame,
                           limits: tuple[np.ndarray, np.ndarray], panel: tuple[float, float], size: float):
    """The contours figure's labels and lines: one label per loss line (``level``), preferably at
    its large-N end, and one per IsoFLOP line (``budget``), preferably at its small-N end, each on
    its own line, clear of the frontier and of each other and crossing as few other lines as it
    can (:func:`place_line_labels`), or left out where no position is clear; every line is broken
    under every label (``piece`` numbers the parts of a line); ``panel`` is its size in inches as
    drawn (:func:`drawn_panel_size`). Labels at their centre (params, tokens). Labels had sat
    where each line left the panel: budgets over the start of their own dotted line, a loss on
    the frontier."""
    (n0, n1), (d0, d1) = np.log10(limits[0]), np.log10(limits[1])
    width, height = panel

    def to_panel(frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([(np.log10(frame["params"].to_numpy(dtype=float)) - n0) / (n1 - n0) * width,
                                (np.log10(frame["tokens"].to_numpy(dtype=float)) - d0) / (d1 - d0) * height])

    def from_panel(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 10 ** (n0 + xy[:, 0] / width * (n1 - n0)), 10 ** (d0 + xy[:, 1] / height * (d1 - d0))

    named = [("level", level, to_panel(g.sort_values("params"))) for level, g in contours.groupby("level", sort=False)]
    named += [("budget", budget, to_panel(g.sort_values("params"))) for budget, g in iso.groupby("budget", sort=False)]
    boxes = place_line_labels([xy for *_, xy in named], [t for _, t, _ in named], [c == "level" for c, *_ in named],
                              _polyline_points(to_panel(frontier), LABEL_STEP / 3), to_panel(runs), panel, size)
    labels, lines = {"level": [], "budget": []}, {"level": [], "budget": []}
    drawn = boxes[np.isfinite(boxes).all(axis=1)]
    for (column, text, xy), box in zip(named, boxes):
        if np.isfinite(box).all():
            params, tokens = from_panel(np.array([[(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]]))
            labels[column].append(pd.DataFrame({"params": params, "tokens": tokens, column: [text]}))
        for k, piece in enumerate(_cut_under_labels(xy, drawn, CONTOUR_LABEL_GAP)):
            params, tokens = from_panel(piece)
            lines[column].append(pd.DataFrame({"params": params, "tokens": tokens, column: text, "piece": f"{text}/{k}"}))
    return tuple(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
                 for parts, columns in ((labels["level"], ["params", "tokens", "level"]),
                                        (labels["budget"], ["params", "tokens", "budget"]),
                                        (lines["level"], ["params", "tokens", "level", "piece"]),
                                        (lines["budget"], ["params", "tokens", "budget", "piece"])))


def _backtest_legend_names(bt, options: FigureOptions = FigureOptions()) -> dict[str, str]:
    """:func:`legend_names` of the backtest's families, each from the fit to its smaller runs."""
    return fit_legend(legend_names({f: r.fits[f] for f, r in bt.training.items()},
                                   {f for f, r in bt.training.items() if f in narrow_bands(r)}), options)


FITTED, HELD_OUT = "fitted runs", "held-out runs"
ROLE_FILLS = {" fitted": "white", " held-out": "#555555"}   # the roles' legend keys (no family name starts with a
                                                            # space); held-out runs are filled in their family's colour
HELD_OUT_RING = {"size": 3.6, "stroke": 0.3, "colour": "#333333"}   # the ring around each held-out run: filled and
# open differ by the inside of a marker, which the thin plus (P) and cross (X) do not show at any stroke


def backtest_figure(bt, options: FigureOptions = FigureOptions(), progress: Callable[[int], None] | None = None):
    """Each family's fit to its smaller runs, with its band, carried out to the held-out runs
    (dashed where extrapolated); runs in their family's colour and marker (:func:`family_marks`, as
    the other figures draw families), fitted runs open and held-out runs filled and ringed
    (HELD_OUT_RING: open and filled plus and cross look alike), and the
    prediction's band at each held-out compute as a vertical bar. Compute laws only: an L(N, D)
    fit predicts each held-out run at its own N and D, off any one curve. ``progress`` as for
    :func:`curve_frame` (``sum(band_steps(r) for r in bt.training.values())`` steps)."""
    if bt.law.name == "chinchilla":
        raise ValueError("the backtest figure draws compute laws; an L(N, D) prediction sits at each run's own N "
                         "and D, off any one curve (see the table)")
    p9 = _p9()
    if options.height is None:      # its natural height, as `backtest --figure` draws it
        options = replace(options, height=backtest_height(bt, width=options.width)
                          + _title_lines_height(options.title, options.width, options.base_size))
    any_result = next(iter(bt.training.values()))
    curves, runs, bars = [], [], []
    for family, result in bt.training.items():
        fit = result.fits[family].fit
        held = [h for h in bt.rows if h.family == family]
        top = max([fit.flops_max] + [h.prediction.flops for h in held])
        curves.append(curve_frame(result, np.geomspace(fit.flops_min / 2, top * 1.25, CURVE_POINTS), progress))
        runs.append(pd.DataFrame({"family": family, "flops": fit.flops, "loss": fit.loss, "role": FITTED}))
        runs.append(pd.DataFrame({"family": family, "flops": [h.prediction.flops for h in held],
                                  "loss": [h.observed for h in held], "role": HELD_OUT}))
        bars.append(pd.DataFrame({"family": family, "flops": [h.prediction.flops for h in held],
                                  "low": [h.prediction.low for h in held], "high": [h.prediction.high for h in held]}))
    curves, runs, bars = (pd.concat(frames, ignore_index=True) for frames in (curves, runs, bars))
    for frame, columns in ((curves, ("loss", "low", "high")), (runs, ("loss",)), (bars, ("low", "high"))):
        for column in columns:
            frame[column] = any_result.ladder.loss_to_metric(frame[column])
    families = list(bt.training)
    colours = {f: family_marks(i)[0] for i, f in enumerate(families)}
    shapes = {f: family_marks(i)[1] for i, f in enumerate(families)}
    runs["fill"] = runs["family"].where(runs["role"] == HELD_OUT, " fitted")   # held-out runs filled in their colour
    runs["ring"] = np.where(runs["role"] == HELD_OUT, " held-out", " fitted")
    names = _backtest_legend_names(bt, options)
    columns = legend_columns(list(names.values()), options)
    entries = _literal_labels(names)
    held_out = runs[runs["role"] == HELD_OUT]
    # families held out at one compute: their bars side by side (the last drawn hid the others); only
    # then, as a dodge widens the compute axis by half its width
    beside = p9.position_dodge(width=PREDICTION_DODGE) if held_out["flops"].duplicated().any() else "identity"
    return (p9.ggplot()
            + p9.geom_ribbon(p9.aes("flops", ymin="low", ymax="high", fill="family", group="family + part"),
                             data=curves.dropna(subset=["low", "high"]), alpha=0.2, show_legend=False)
            + p9.geom_line(p9.aes("flops", "loss", colour="family", linetype="extrapolated", group="family + part"),
                           data=curves, size=0.6)
            + p9.geom_linerange(p9.aes("flops", ymin="low", ymax="high", colour="family"),
                                data=bars.dropna(subset=["low", "high"]), size=0.8, show_legend=False, position=beside)
            + p9.geom_point(p9.aes("flops", "loss", colour="family", shape="family", fill="fill", size="family"),
                            data=runs[runs["role"] == FITTED], stroke=0.7)
            + p9.geom_point(p9.aes("flops", "loss", colour="family", shape="family", fill="fill", size="family"),
                            data=held_out, stroke=0.7, position=beside, show_legend=False)   # keyed above
            # held-out runs ringed, keyed with the fills (same breaks, labels and name: one legend)
            + p9.geom_point(p9.aes("flops", "loss", alpha="ring", group="family"), data=held_out, shape="o",
                            fill="none", position=beside, **HELD_OUT_RING)
            + p9.scale_alpha_manual(values={" fitted": 0.0, " held-out": 1.0}, limits=list(ROLE_FILLS),
                                    breaks=list(ROLE_FILLS), labels=[FITTED, HELD_OUT], name=" ")
            + p9.scale_colour_manual(values=colours, breaks=families, labels=entries, name=" ")   # file order
            + p9.scale_shape_manual(values=shapes, breaks=families, labels=entries, name=" ")
            + marker_size_scale(shapes, 1.6, breaks=families, labels=entries, name=" ")
            + p9.scale_fill_manual(values={**colours, **ROLE_FILLS}, limits=families + list(ROLE_FILLS),
                                   breaks=list(ROLE_FILLS), labels=[FITTED, HELD_OUT], name=" ")
            # the families' keys open, as most runs are (override_aes on one guide: merged, a repeat is dropped)
            + p9.guides(colour=p9.guide_legend(ncol=columns, override_aes={"fill": "white"}, order=1),
                        shape=p9.guide_legend(ncol=columns, order=1), size=p9.guide_legend(ncol=columns, order=1),
                        fill=p9.guide_legend(order=2), alpha=p9.guide_legend(order=2),
                        linetype=p9.guide_legend(order=3))
            + _extrapolation_scale()
            + _log_scale("x", limits=options.xlim)
            + (p9.coord_cartesian(ylim=options.ylim) if options.ylim else p9.coord_cartesian())
            + _theme(options) + _labels(options, _compute_label(any_result.ladder), _metric_label(any_result))
            + p9.theme(legend_box="vertical", legend_spacing=0))


SHARED_WIDTH = COLUMN_SIZE[0] * 2   # two panels side by side: the width of two columns


def shared_figure(cmp, options: FigureOptions = FigureOptions(width=SHARED_WIDTH)):
    """The shared-law comparison in two panels: each family's runs and its curve of the shared law
    against its own compute, and the same runs against compute divided by the family's factor M_f
    (the compute the focus would need), where a family that obeys the shared law falls on the
    focus's curve. A height of None is :func:`shared_height` at the options' width."""
    p9 = _p9()
    if options.height is None:      # its natural height, as `compare --figure` draws it
        options = replace(options, height=shared_height(cmp, width=options.width)
                          + _title_lines_height(options.title, options.width, options.base_size))
    families = [f.family for f in cmp.factors]
    as_trained, shifted = "compute as trained", "compute / M"
    runs, curves = [], []
    for f in families:
        own = cmp.ladder.family_runs(f)
        flops, loss = own["flops"].to_numpy(dtype=float), own["loss"].to_numpy(dtype=float)
        m = cmp.multiplier(f)
        grid = np.geomspace(flops.min() / 2, flops.max() * 2, CURVE_POINTS)
        runs += [pd.DataFrame({"family": f, "flops": flops, "loss": loss, "panel": as_trained}),
                 pd.DataFrame({"family": f, "flops": flops / m, "loss": loss, "panel": shifted})]
        curves.append(pd.DataFrame({"family": f, "flops": grid, "loss": cmp._curve(f, grid), "panel": as_trained}))
    lows = [r.flops.min() for r in runs[1::2]]
    highs = [r.flops.max() for r in runs[1::2]]
    grid = np.geomspace(min(lows) / 2, max(highs) * 2, CURVE_POINTS)
    curves.append(pd.DataFrame({"family": cmp.focus, "flops": grid, "loss": cmp._curve(cmp.focus, grid),
                                "panel": shifted}))
    runs, curves = pd.concat(runs, ignore_index=True), pd.concat(curves, ignore_index=True)
    for frame in (runs, curves):
        frame["loss"] = cmp.ladder.loss_to_metric(frame["loss"])
        frame["panel"] = pd.Categorical(frame["panel"], [as_trained, shifted])
        frame["family"] = pd.Categorical(frame["family"], families)
    colours = {f: family_marks(i)[0] for i, f in enumerate(families)}
    shapes = {f: family_marks(i)[1] for i, f in enumerate(families)}
    names = fit_legend(shared_legend_names(cmp), options)
    entries = _literal_labels(names)
    crowded = max(len(cmp.ladder.family_runs(f)) for f in families)
    markers = run_markers(len(runs), 1.6, crowded)
    ylabel = "perplexity" if cmp.ladder.metric == "perplexity" else "loss (nats/token)"
    starred = any(name.endswith(" *") for name in shared_legend_names(cmp).values())
    return (p9.ggplot()
            + p9.geom_line(p9.aes("flops", "loss", colour="family"), data=curves, size=0.6)
            + p9.geom_point(p9.aes("flops", "loss", colour="family", shape="family", size="family"), data=runs,
                            stroke=0.7, **{k: v for k, v in markers.items() if k != "size"})
            + curves_over_dense_runs(crowded, p9.aes("flops", "loss", colour="family"), curves, size=0.6)
            + p9.facet_wrap("panel", scales="free_x")
            + p9.scale_colour_manual(values=colours, breaks=families, labels=entries)
            + p9.scale_shape_manual(values=shapes, breaks=families, labels=entries)
            + marker_size_scale(shapes, markers["size"], breaks=families, labels=entries)
            + _legend_in_columns(list(names.values()), options)
            + _log_scale("x")
            + (p9.coord_cartesian(ylim=options.ylim) if options.ylim else p9.coord_cartesian())
            + _theme(options) + _labels(options, _compute_label(cmp.ladder), ylabel)
            + ([p9.labs(caption=UNCHECKED_NOTE),
                p9.theme(plot_caption=p9.element_text(ha="left", size=options.base_size - 2))] if starred else []))


def shared_legend_names(cmp) -> dict[str, str]:
    """The shared-law figure's legend: each family with its factor M and band as the table prints
    them ('other: M = 2.87x [2.51x, 3.3x]', ' *' when unchecked), the focus named as such: the
    right panel divides compute by M, which the figure did not give."""
    out = {}
    for f in cmp.factors:
        if f.family == cmp.focus:
            out[f.family] = f"{f.family} (focus)"
            continue
        band = "" if math.isnan(f.low) else f" [{fmt_multiplier(f.low)}, {fmt_multiplier(f.high)}]"
        star = "" if math.isnan(f.low) or f.band_checked else " *"
        out[f.family] = f"{f.family}: M = {fmt_multiplier(f.multiplier)}{band}{star}"
    return out


FIGURES = {"multipliers": multiplier_figure, "residuals": residuals_figure,
           "multiplier-curve": multiplier_curve_figure, "distribution": distribution_figure,
           "contours": contours_figure}


FIXED_METADATA = {".svg": {"Date": None}, ".pdf": {"CreationDate": None}, ".png": {}}


def save_figure(plot, path: str, options: FigureOptions | None = None, dpi: int = 300) -> None:
    """Write a figure (.png, .svg or .pdf) whole or not at all (rendered in memory, then written
    to a temporary file renamed over ``path``), at the size it was drawn at, or at ``options``'s
    width and height. Titles, labels, limits and text size are drawn into the figure: give them
    to the figure's function (``FIGURES[kind](result, options=...)``); here they are refused. A
    figure is laid out for the size it is drawn at (its caption's line breaks, its height, where
    labels clear the lines), so saving it at another size warns: draw it at that size instead."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in (".png", ".svg", ".pdf"):
        raise ValueError(f"{path}: the figure's file name must end in .png, .svg or .pdf")
    drawn = [f.name for f in fields(FigureOptions)
             if f.name not in ("width", "height") and options is not None and getattr(options, f.name) != f.default]
    if drawn:
        raise ValueError(f"save_figure: {', '.join(drawn)} shape the figure as it is drawn, not as it is saved; "
                         "pass the options to the figure's function, e.g. "
                         "FIGURES['multipliers'](result, options=FigureOptions(title=...))")
    warn_if_resized(plot, options)
    from .outputs import write_output
    write_output(path, figure_bytes(plot, extension, options, dpi))


def warn_if_resized(plot, options: FigureOptions | None) -> None:
    """Warn, at the line that called save_figure, when ``options`` would save ``plot`` at a size
    other than the one it was drawn at: drawn at 3.4 x 2.6 in and saved at 2.5 x 2, a contours
    figure's caption ran off the figure and its labels sat on the lines they had been placed beside."""
    if options is None:
        return
    drawn = tuple(float(x) for x in plot.theme.getp("figure_size"))
    saved = (float(options.width), drawn[1] if options.height is None else float(options.height))
    if not np.allclose(saved, drawn, rtol=1e-6, atol=0):
        size = f"width={_inches(saved[0])}" + ("" if options.height is None else f", height={_inches(saved[1])}")
        warnings.warn(f"save_figure: the figure was laid out for {_inches(drawn[0])} x {_inches(drawn[1])} in "
                      f"(its caption's line breaks, its labels' places); saved at {_inches(saved[0])} x "
                      f"{_inches(saved[1])} in, text may be cut off or overlap: draw it at that size, "
                      f"FIGURES[kind](result, options=FigureOptions({size}))", UserWarning,
                      stacklevel=3)          # the line that called save_figure


def _inches(x: float) -> str:
    return f"{x:.3g}"


# SVG element ids from a fixed salt (the same bytes every time); in PDF and PostScript the fonts
# embedded as TrueType (Type 42), not matplotlib's default Type 3, which the PDF checks of ACM,
# IEEE and other publishers refuse
FIGURE_RC = {"svg.hashsalt": "scalefit", "pdf.fonttype": 42, "ps.fonttype": 42}


def figure_bytes(plot, extension: str, options: FigureOptions | None = None, dpi: int = 300) -> bytes:
    """The figure as a .png, .svg or .pdf file's bytes, at the size it was drawn at, or at
    ``options``'s width and height (a height of None: the drawn one). The same figure gives the
    same bytes: no creation date, and SVG element ids from a fixed salt; a PDF embeds its fonts as
    TrueType."""
    import io

    import matplotlib

    width, height = (None, None) if options is None else (options.width, options.height)
    if options is not None and height is None:
        height = plot.theme.getp("figure_size")[1]
    buffer = io.BytesIO()
    with warnings.catch_warnings(), matplotlib.rc_context(FIGURE_RC):
        warnings.simplefilter("ignore")
        plot.save(buffer, format=extension[1:], width=width, height=height, dpi=dpi,
                  verbose=False, limitsize=False, metadata=FIXED_METADATA[extension])
    return buffer.getvalue()
