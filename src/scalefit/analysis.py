"""The whole analysis of a ladder file: fit every ladder family, bootstrap it, compare the focus
family with every other family. This is what ``scalefit fit`` runs.

    >>> import scalefit
    >>> result = scalefit.analyze("data/ladders/muse.csv", bootstrap=200)
    >>> result.multipliers_frame()[["reference", "multiplier", "low", "high"]]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Callable, Sequence

import math
import warnings as python_warnings

import numpy as np
import pandas as pd

from .arguments import ArgumentError, Message, argument_error, message, messages
from .efficiency import Comparison, Multiplier, extrapolation_decades, multipliers_of
from .fitting import FitResult, ReadOnlyFields, fit_law
from .ladder import LARGEST_LOSS, SMALLEST_LOSS, Ladder, LadderError, check_fittable, read_ladder
from .laws import Law, get_law
from .prediction import Prediction, predict_at, predict_at_size
from .threads import core_limit
from .uncertainty import BootstrapFits, bootstrap_family

EXTRAPOLATION_WARNING_DECADES = 1.0


class ExtrapolationWarning(UserWarning):
    """A fitted law evaluated more than EXTRAPOLATION_WARNING_DECADES outside its family's runs
    (``Analysis.predict``, ``Analysis.invert``, ``SharedComparison.predict``): its message is a
    :class:`~scalefit.arguments.Message`, worded as the warning ``scalefit fit`` prints for the same
    prediction. Silence it with ``warnings.simplefilter("ignore", scalefit.ExtrapolationWarning)``
    (Python's ``-W`` option and PYTHONWARNINGS cannot name it: they are read before installed
    packages can be imported)."""


@dataclass(frozen=True, eq=False)
class FamilyFit(ReadOnlyFields):
    """A fitted family with its bootstrap draws (None without bootstrap) and parameter bands."""

    fit: FitResult
    draws: BootstrapFits | None
    low: np.ndarray
    high: np.ndarray

    @property
    def family(self) -> str:
        return self.fit.family

    def __repr__(self) -> str:
        draws = "" if self.draws is None else f", {self.draws.n_resamples} bootstrap refits"
        return f"<FamilyFit '{self.family}': {self.fit.law.name} law, {self.fit.n_runs} runs{draws}>"


LEVEL_TOLERANCE = 1e-6  # conf_int's alpha restates the level within this: np.float32(0.05) is 0.05 + 7e-10, and
# a level printed in 6 figures (as the refusal prints it) moves at this step


@dataclass(frozen=True, eq=False)
class Analysis(ReadOnlyFields):
    """Fits, bands and multipliers of one ladder file (see :func:`analyze`).

    Each family's law is fitted by log-space least squares, sum_i (ln L_i - ln L(C_i))^2 (a Huber
    loss for L(N, D)); a multiplier of the focus F against a reference R at loss L* is
    m = C_R(L*) / C_F(L*), C_F the inverse of F's law (:mod:`scalefit.efficiency`).
    """

    ladder: Ladder
    law: Law
    focus: str
    level: float
    n_bootstrap: int
    seed: int
    band_method: str
    fits: Mapping[str, FamilyFit]      # read-only (a dict given is kept as a ReadOnlyDict of it)
    multipliers: tuple[Multiplier, ...]
    warnings: tuple[str, ...] = field(default=())
    predictions: tuple[Prediction, ...] = field(default=())

    def __repr__(self) -> str:
        bands = "no bands" if self.band_method == "none" else f"{level_percent(self.level)} {self.band_method} bands"
        return (f"<Analysis of {self.ladder.source}: {self.law.name} law, focus '{self.focus}', "
                f"{len(self.fits)} fitted famil{'y' if len(self.fits) == 1 else 'ies'}, "
                f"{len(self.multipliers)} multiplier(s), {bands}, {len(self.warnings)} warning(s); "
                ".summary() prints the table, .multipliers_frame() and .params_frame() give DataFrames>")

    def params_frame(self) -> pd.DataFrame:
        """One row per (family, parameter): value, standard error (lmfit's, for the compute laws),
        band, and the standard deviation of the bootstrap refits when there are any (the s.e. the
        L(N, D) replication reports)."""
        rows = []
        for name, ff in self.fits.items():
            spread = (np.full(self.law.n_params, np.nan) if ff.draws is None or not ff.draws.ok.any()
                      else ff.draws.params[ff.draws.ok].std(axis=0, ddof=1))
            for j, param in enumerate(self.law.param_names):
                se = 0.0 if param in self.law.fixed and np.isfinite(spread[j]) else spread[j]   # not rounding's 1e-15
                rows.append(dict(family=name, parameter=param, value=ff.fit.params[j],
                                 stderr=ff.fit.stderr[j], low=ff.low[j], high=ff.high[j], bootstrap_se=se))
        return pd.DataFrame(rows)

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """The parameters' bands at the analysis's ``level`` as statsmodels gives them: columns
        ``low`` and ``high``, indexed by (family, parameter). ``alpha`` (statsmodels' argument, level
        = 1 - alpha) may only restate that level: bands at another level need
        ``analyze(..., level=...)`` (profile bands are found at one level), which the ValueError says
        (statsmodels' ``conf_int(alpha=0.1)`` was a TypeError here)."""
        if alpha is not None and not 0 < alpha < 1:
            raise ValueError(f"conf_int(alpha={alpha!r}): alpha is 1 - level, between 0 and 1; this analysis's "
                             f"bands are at level {self.level:g} (alpha {1 - self.level:.6g})")
        if alpha is not None and not math.isclose(1 - alpha, self.level, rel_tol=0, abs_tol=LEVEL_TOLERANCE):
            raise ValueError(f"conf_int(alpha={alpha!r}): this analysis's bands are at level {self.level:g} "
                             f"(alpha {1 - self.level:.6g}); bands at level {1 - alpha:.6g} need "
                             f"scalefit.analyze(..., level={1 - alpha:.6g})")
        return self.params_frame().set_index(["family", "parameter"])[["low", "high"]]

    def checkpoint_runs(self) -> dict[str, int]:
        """The fitted families whose rows are checkpoints, each with the number of runs they come from."""
        return {family: runs for family, (_, runs) in checkpoint_families(self.ladder, list(self.fits)).items()}

    def fits_frame(self) -> pd.DataFrame:
        """One row per fitted family: runs (fewer than its rows when the rows are checkpoints), rows,
        compute range, objective, fit quality, failed refits."""
        rows = []
        checkpoints = self.checkpoint_runs()
        for name, ff in self.fits.items():
            f = ff.fit
            rows.append(dict(family=name, runs=checkpoints.get(name, f.n_runs), rows=f.n_runs,
                             flops_min=f.flops_min, flops_max=f.flops_max,
                             objective=f.objective, rmse_log=f.rmse_log,
                             failed_refits=0 if ff.draws is None else ff.draws.n_failed,
                             **{p: v for p, v in zip(self.law.param_names, f.params)}))
        return pd.DataFrame(rows)

    def multipliers_frame(self) -> pd.DataFrame:
        """One row per multiplier (see :class:`scalefit.efficiency.Multiplier`), with a ``perplexity``
        column after ``loss`` when the ladder gave perplexities (as the table, JSON and CSV); its
        columns, that one too, are there even when nothing was compared."""
        columns = [f.name for f in fields(Multiplier)]
        frame = pd.DataFrame([m.__dict__ for m in self.multipliers], columns=columns)
        if self.ladder.metric == "perplexity":        # empty too: a frame's columns do not hang on its rows
            frame.insert(frame.columns.get_loc("loss") + 1, "perplexity", np.exp(frame["loss"].astype(float)))
        return frame

    def predictions_frame(self) -> pd.DataFrame:
        """One row per family and compute asked for with ``at_flops`` or size with
        ``at_params_tokens`` (see :class:`scalefit.prediction.Prediction`), with perplexity columns
        when the ladder gave perplexities; its columns, those too, are there even when no prediction
        was asked for."""
        columns = [f.name for f in fields(Prediction)]
        frame = pd.DataFrame([p.__dict__ for p in self.predictions], columns=columns)
        if self.ladder.metric == "perplexity":
            at = frame.columns.get_loc("high") + 1
            for offset, (name, column) in enumerate(PERPLEXITY_COLUMNS):
                frame.insert(at + offset, name, np.exp(frame[column].astype(float)))
        return frame

    def predict(self, family: str, flops):
        """Fitted loss L(C) (nats per token) of ``family`` at ``flops`` (positive, finite compute; a
        number or an array), without a band (``analyze(..., at_flops=...)`` gives one). As the
        command's ``--at-flops``: a compute more than 10 decades outside the fitted runs raises
        ValueError, and one more than a decade outside the family's runs warns
        (:class:`ExtrapolationWarning`)."""
        ff = self._fitted(family)
        flops = positive_finite(flops, "flops")
        check_within_reach(np.ravel(flops), self.ladder, argument="flops")
        warn_extrapolated(ff.family, ff.fit.flops_min, ff.fit.flops_max, np.ravel(flops),
                          "compute-optimal" if self.law.name == "chinchilla" else "compute")
        return ff.fit.predict(flops)

    def invert(self, family: str, loss):
        """Compute ``family`` needs to reach ``loss`` (positive, finite; nats per token), C(L) the
        inverse of its law; inf where unreachable. A compute more than a decade outside the family's
        runs warns (:class:`ExtrapolationWarning`), as the command does for a multiplier there: once
        for those beyond its runs and once for those below, as ``predict``."""
        ff = self._fitted(family)
        loss = positive_finite(loss, "loss")
        flops = ff.fit.invert(loss)
        warn_inverse_extrapolated(ff.fit, np.ravel(loss), np.ravel(flops), self.ladder)
        return flops

    def _fitted(self, family: str) -> FamilyFit:
        family = self.ladder.family_name(family)
        if family not in self.fits:
            raise ValueError(self.ladder.not_among(family, list(self.fits), "fitted"))
        return self.fits[family]

    def summary(self) -> str:
        """The table the command prints, then its warnings (numbered)."""
        from .formatting import format_table, with_warnings
        return with_warnings(format_table(self), self.warnings)


BAND_METHODS = ("auto", "profile", "percentile")
PERPLEXITY_COLUMNS = (("perplexity", "loss"), ("perplexity_low", "low"), ("perplexity_high", "high"))


def resolve_law(law: str | Law) -> Law:
    """A Law, or one by its name; ValueError for anything else."""
    law = get_law(law) if isinstance(law, str) else law
    if not isinstance(law, Law):
        raise ValueError(f"law must be a law's name ('saturating', 'power', 'chinchilla') or a Law, got {law!r}")
    return law


def check_level(level) -> float:
    """``level`` as a float strictly between 0 and 1, or ValueError naming it (a string such as
    "0.9" failed with a TypeError about comparing float and str)."""
    number = isinstance(level, (int, float, np.integer, np.floating)) and not isinstance(level, bool)
    if not (number and 0.0 < level < 1.0):
        raise ValueError(f"level must be a number between 0 and 1 (e.g. 0.95), got {level!r}")
    return float(level)


def level_percent(level: float) -> str:
    """A band's level as a percentage with the digits it was given: 0.95 -> '95%', 0.999 -> '99.9%',
    0.9999999 -> '99.99999%' (``{:.0%}`` printed that one as '100%', a band it is not). The digits
    are those of the level's shortest repr, times 100."""
    return _decimal_percent(Decimal(repr(float(level))))


def tail_percent(level: float) -> str:
    """The share (1 - level) / 2 beyond each end of an equal-tailed band at ``level``, as
    :func:`level_percent` writes it: 0.95 -> '2.5%', 0.995 -> '0.25%'."""
    return _decimal_percent((1 - Decimal(repr(float(level)))) / 2)


def _decimal_percent(share: Decimal) -> str:
    text = format(share * 100, "f")
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"


def check_seed(seed) -> int:
    """``seed``, or ValueError unless it is a whole number >= 0 (numpy's own words otherwise, from
    deep in the random generator)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    return seed


def positive_finite(values, name: str):
    """``values`` as floats (a number stays a number), or ValueError if any is not positive and finite,
    or not a number (None read as nan, True as 1, 'abc' as numpy's own words)."""
    odd = _none_or_bool(values)
    if odd != "":
        raise ValueError(f"{name} {odd if odd is None else bool(odd)!r}: not a number; give positive, finite numbers")
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {values!r}: not a number; give positive, finite numbers") from None
    bad = np.flatnonzero(~(np.isfinite(array) & (array > 0)).ravel())
    if bad.size:
        raise ValueError(f"{name} {array.ravel()[bad[0]]:g}: must be positive and finite")
    return float(array) if array.ndim == 0 else array


def _none_or_bool(values):
    """The first None or boolean among ``values`` (a number, a sequence or an array), else "": looked
    for among the given objects, as numpy reads [1e20, True] as [1e20, 1.0] and [True] as a bool array."""
    if isinstance(values, (np.ndarray, pd.Series)) and values.dtype.kind in "iuf":
        return ""                        # numbers already: nothing to look at one by one
    try:
        given = np.asarray(values, dtype=object)
    except ValueError:                   # a nested sequence numpy cannot shape: the float conversion says so
        return ""
    return next((v for v in given.ravel() if v is None or isinstance(v, (bool, np.bool_))), "")


def analyze(source, law: str | Law = "saturating", focus: str | None = None, bootstrap: int = 1000,
            level: float = 0.95, seed: int = 0, at_loss: Sequence[float] | float = (),
            progress: Callable[[int], None] | None = None, band_method: str = "auto",
            workers: int | None = None, at_perplexity: Sequence[float] | float = (),
            name: str | None = None, at_flops: Sequence[float] | float = (),
            at_params_tokens: Sequence[tuple[float, float]] = ()) -> Analysis:
    """Fit each ladder family, compute bands, and compute the focus family's multipliers.

    ``source`` is a path, a DataFrame or a :class:`Ladder` (``name`` labels it in messages and
    outputs); ``at_loss`` are extra target losses in nats per token for ladder-vs-ladder
    comparisons (``at_perplexity`` the same as perplexities; a single number is one target);
    ``at_flops`` are computes at which to predict each family's loss, with bands (``predictions``;
    for the chinchilla law on its compute-optimal frontier), and ``at_params_tokens`` (N, D) pairs
    at which to predict L(N, D) itself (chinchilla law only).
    ``band_method`` "profile" gives profile-likelihood bands (what "auto" gives the compute laws,
    calibrated by analyses/calibration.py); "percentile" gives
    bootstrap percentile bands from ``bootstrap`` resamples of runs (seeded by ``seed``), and
    ``progress`` is then called with the number of resamples done after each chunk; with profile
    bands it is called with 1 after each family's parameter bands, each multiplier and each
    family's predictions (:func:`profile_steps` counts them).
    ``bootstrap=0`` gives no bands at all. "auto" (default) is "profile" for the compute laws and
    "percentile" for the two-variable chinchilla law and for ladders whose rows include checkpoints
    (:func:`resolve_band_method`). ``workers`` processes share the resamples,
    and as many threads the profile grids of long ladders (default: all cores when that pays);
    results are the same for any number of workers.
    """
    if band_method not in BAND_METHODS:
        raise ValueError(f"band_method must be one of {BAND_METHODS}, got {band_method!r}")
    given_losses = _flat_numbers(at_loss, "at_loss")
    at_loss = target_losses(at_loss, at_perplexity)
    at_flops = target_computes(at_flops)
    at_sizes = target_sizes(at_params_tokens)
    ladder = read_ladder(source, name=name)
    law = resolve_law(law)
    level = check_level(level)
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(f"bootstrap must be a whole number >= 0, got {bootstrap!r}")
    check_seed(seed)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer))
                                or workers < 1):
        raise ValueError(f"workers must be a whole number >= 1 (or None: all cores), got {workers!r}")
    if law.name == "chinchilla":
        ladder = ladder.with_tokens(law.flops_per_param_token)
    focus = check_fittable(ladder, law.n_free, law.name, focus, law.fixed.get("E"))
    check_within_reach(at_flops, ladder)
    check_sizes(at_sizes, ladder, law)
    asked_for_profile = band_method == "profile"
    band_method = resolve_band_method(band_method, law, ladder)
    if band_method == "profile" and law.name == "chinchilla":
        raise argument_error(lambda t: f"{t.setting('band_method', 'profile')}: profile bands are available for "
                             f"the compute laws; the chinchilla law uses {t.setting('band_method', 'percentile')} "
                             "(bootstrap over runs)")
    warnings: list[str] = list(ladder.warnings) + perplexities_given_as_losses(given_losses, ladder)
    if asked_for_profile and bootstrap == 0:
        warnings.append("bootstrap 0 fits without any bands, profile bands included (they need no resampling: "
                        "leave the number of resamples at its default to get them)")
    method = None if bootstrap == 0 else band_method
    n_resamples = bootstrap if method == "percentile" else 0
    if 0 < n_resamples < FEW_RESAMPLES:
        warnings.append(f"{n_resamples} bootstrap resamples are few for {level_percent(level)} percentile bands: "
                        f"their ends are the outermost {tail_percent(level)} of the draws; use {FEW_RESAMPLES} or more "
                        "(1000 by default)")
    checkpoints = checkpoint_families(ladder, ladder.ladder_families())
    with core_limit(workers):
        fits = {name: _fit_family(ladder, name, law, method, n_resamples, level, seed, progress, warnings, workers)
                for name in ladder.ladder_families()}
        step = progress if method == "profile" else None
        multipliers = _all_multipliers(ladder, fits, focus, level, at_loss, method, warnings, step)
        predictions = _all_predictions(fits, at_flops, at_sizes, level, method, warnings, step)
    if checkpoints:
        warnings += [_checkpoint_warning(name, rows, runs, law, method) for name, (rows, runs) in checkpoints.items()]
        multipliers = [replace(m, band_checked=False) if m.focus in checkpoints or m.reference in checkpoints
                       else m for m in multipliers]
        predictions = [replace(p, band_checked=False) if p.family in checkpoints else p for p in predictions]
    result = Analysis(ladder=ladder, law=law, focus=focus, level=level, n_bootstrap=n_resamples, seed=seed,
                      band_method=method or "none", fits=fits, multipliers=tuple(multipliers),
                      warnings=tuple(warnings), predictions=tuple(predictions))
    return replace(result, warnings=messages(result.warnings + tuple(table_warnings(result))))


def table_warnings(result: Analysis) -> list[str]:
    """What an analysis says of the L(N, D) numbers its table prints: the compute its frontier
    spends where the file's 'flops' column counts otherwise (:func:`frontier_compute_warnings`), and
    its unchecked bands (:func:`analysis_bands_warnings`). A command that prints other numbers of
    the analysis (optimal's allocation, backtest's held-out runs) says its own in their place."""
    return frontier_compute_warnings(result) + analysis_bands_warnings(result)


# What analyses/nd_calibration.py measured of L(N, D)'s percentile bands (its CSV: coverage pooled
# per quantity and true law, lowest and highest, in percent, at each nominal level; the runs of its
# smallest and largest simulated ladders). A test checks these against the study's results.
ND_STUDY_COVERAGE = {0.95: (97.1, 99.2), 0.80: (83.8, 92.5)}
ND_STUDY_RUNS = (20, 80)


def nd_bands_warning(bands: str, runs: Mapping[str, int], n_params: int,
                     rows: Mapping[str, int] | None = None) -> str:
    """What is known of L(N, D)'s bootstrap percentile bands (``bands``: which, e.g. "the
    allocation's bands (N_opt, ...)"; ``runs``: each family's runs; ``rows``: the rows of those
    families whose rows are checkpoints): the coverage analyses/nd_calibration.py measured on
    simulated ladders (ND_STUDY_COVERAGE), what it did not simulate, and the runs the bands rest on
    (6 runs for 5 parameters printed bands without a word); said whenever such bands are printed.
    Families with fewer runs than the study's smallest ladders, or with rows of checkpoints, are
    named as outside it."""
    rows = rows or {}
    counts = ", ".join(f"'{name}' has {n} runs" + (f" ({rows[name]} rows of checkpoints)" if name in rows else "")
                       for name, n in runs.items())
    (lo95, hi95), (lo80, hi80) = ND_STUDY_COVERAGE[0.95], ND_STUDY_COVERAGE[0.80]
    few, most = ND_STUDY_RUNS
    outside = [f"'{name}' ({'; '.join(why)})" for name, n in runs.items()
               if (why := [f"fewer than {few} runs"] * (n < few) + ["checkpoints"] * (name in rows))]
    beyond = f"; outside the study here: {', '.join(outside)}" if outside else ""
    return (f"{bands} are bootstrap percentile bands, which analyses/nd_calibration.py found conservative on "
            f"simulated ladders of {few}-{most} runs (grid and IsoFLOP designs, 0.5-2% noise, two true laws): pooled "
            f"per quantity, {lo95:g}-{hi95:g}% of the true parameters, exponent a, N_opt, D_opt and predicted losses "
            f"(1-2 decades beyond the runs) fell inside the 95% bands and {lo80:g}-{hi80:g}% inside the 80% ones "
            "(README, 'Calibration of L(N, D) bands'); multipliers between families, checkpoints and other designs "
            f"were not simulated{beyond}; here {counts} for L(N, D)'s {n_params} parameters")


def run_and_row_counts(ladder: Ladder, families: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Each family's runs, checkpoints of one run counted once (:func:`run_labels`), and the rows of
    the families whose rows are checkpoints, for :func:`nd_bands_warning` (it said 'has 56 runs' of
    8 runs of 7 checkpoints each, as the fit's row count)."""
    runs, rows = {}, {}
    for family in families:
        table = ladder.family_runs(family)
        if has_checkpoints(table):
            runs[family], rows[family] = len(set(run_labels(table))), len(table)
        else:
            runs[family] = len(table)
    return runs, rows


def analysis_bands_warnings(result: Analysis) -> list[str]:
    """:func:`nd_bands_warning` for the bands an L(N, D) analysis prints (percentile bands): its
    parameters', and its multipliers' and predictions' when it has any; none for a compute law or
    without bands (``fit --law chinchilla`` printed parameter bands without a word)."""
    law = result.law
    if result.band_method != "percentile" or law.name != "chinchilla":
        return []
    shown = [f"parameters ({', '.join(law.param_names)})"] + ["multipliers"] * bool(result.multipliers) \
        + ["predictions"] * bool(result.predictions)
    listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
    runs, rows = run_and_row_counts(result.ladder, list(result.fits))
    return [nd_bands_warning(f"the L(N, D) bands of the {listed}", runs, law.n_params, rows)]


COMPUTE_COLUMN_TOLERANCE = 1.05  # a 'flops' column further from k N D than this factor: budgets are not in its units
ALLOCATION_COST = "N_opt and D_opt of a budget cost about {r} times that budget as the column counts compute"


def compute_column_warnings(family: str, ladder: Ladder, k: float, spender: str = "the allocation spends",
                            effects: Sequence[str] = (ALLOCATION_COST,)) -> list[Message]:
    """A warning when the family's 'flops' column (given in the file, beside params and tokens)
    differs from k N D by more than COMPUTE_COLUMN_TOLERANCE on some run: L(N, D)'s frontier spends
    a compute C as k N D (``spender``: what spends it), so in the column's units N_opt and D_opt cost
    about r C (r = flops / (k N D), its geometric mean over the runs; ``effects`` say what that does,
    "{r}" standing for r), and k r would match the column. The column is not used in its place: the
    frontier needs C as a function of N and D, which a column at the runs is not."""
    runs = ladder.family_runs(family)
    if not ladder.flops_given or not {"params", "tokens"} <= set(runs.columns):
        return []
    ratio = runs["flops"].to_numpy(float) / (k * runs["params"].to_numpy(float) * runs["tokens"].to_numpy(float))
    low, high = float(ratio.min()), float(ratio.max())
    if max(high, 1 / low) <= COMPUTE_COLUMN_TOLERANCE:
        return []
    typical = float(np.exp(np.mean(np.log(ratio))))
    one_k = high / low <= COMPUTE_COLUMN_TOLERANCE
    times = f"{typical:.3g} times" if one_k else f"{low:.3g} to {high:.3g} times (geometric mean {typical:.3g})"
    return [message(lambda t: f"family '{family}': its 'flops' column is {times} C = {k:g} N D, the compute "
                              f"{t.text(spender)}; "
                    + "; ".join(effect.format(r=f"{typical:.3g}") for effect in effects)
                    + f", and {t.law_setting('flops_per_param_token', k * typical)} matches the column"
                    + ("" if one_k else " on average (no single k matches every run)"))]


def frontier_compute_warnings(result: Analysis) -> list[str]:
    """:func:`compute_column_warnings` for each L(N, D) family whose frontier spends compute as
    k N D where the user reads the file's units: its predictions at --at-flops (a compute given as
    the column counts it), and the focus's multipliers against reference runs (whose compute is
    their column). At 1.2 x 6 N D, fit --at-flops placed the N_opt and D_opt of 1.2 C at C, and a
    reference run's multiplier was 1.2 times that in the column's units, without a word."""
    law = result.law
    if law.name != "chinchilla":
        return []
    out = []
    for name in result.fits:
        uses = []
        if any(p.family == name and p.where == "compute-optimal" for p in result.predictions):
            uses.append((message(lambda t: f"the predictions at {t.name('at_flops')}"),
                         "the N_opt and D_opt of a prediction cost about {r} times its compute as the column counts "
                         "compute"))
        if name == result.focus and any(m.reference_kind == "point" for m in result.multipliers):
            uses.append(("the multipliers against reference runs",
                         "those multipliers are about {r} times what they are in the column's units (a reference "
                         "run's compute is its column)"))
        if uses:
            spender = message(lambda t, uses=uses: "the frontier spends for "
                              + " and ".join(t.text(u) for u, _ in uses))
            out += compute_column_warnings(name, result.ladder, law.flops_per_param_token, spender,
                                           [effect for _, effect in uses])
    return out


def resolve_band_method(band_method: str, law: Law | str, ladder: Ladder) -> str:
    """The band method "auto" stands for: percentile (a bootstrap over runs) for the chinchilla law
    and for ladders whose rows include checkpoints (a percentile bootstrap resamples whole runs,
    where profile bands would count every checkpoint as a run and come out too narrow), profile
    otherwise. Other methods stand for themselves."""
    if band_method != "auto":
        return band_method
    if getattr(law, "name", law) == "chinchilla" or checkpoint_families(ladder, ladder.ladder_families()):
        return "percentile"
    return "profile"


def checkpoint_families(ladder: Ladder, families: list[str]) -> dict[str, tuple[int, int]]:
    """Families whose rows include checkpoints: a run named in the 'run' column at more than one
    compute. Maps each to (rows, named runs)."""
    out = {}
    for family in families:
        rows = ladder.family_runs(family)
        if has_checkpoints(rows):
            out[family] = (len(rows), int(_named(rows)["run"].nunique()))
    return out


def has_checkpoints(rows: pd.DataFrame) -> bool:
    """Some run named in the rows' 'run' column appears at more than one compute."""
    return bool((_named(rows).groupby("run")["flops"].nunique() > 1).any())


def _named(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["run"].astype(str).str.strip() != ""]


def run_labels(rows: pd.DataFrame) -> np.ndarray:
    """A label per row naming the run it belongs to: its name in the 'run' column, or, for a row
    without one, a label of its own (a run of one row)."""
    names = rows["run"].astype(str).str.strip().to_numpy(dtype=object)
    unnamed = names == ""
    names[unnamed] = [f"\0row {i}" for i in np.flatnonzero(unnamed)]
    return names


def runs_if_checkpoints(ladder: Ladder, family: str) -> np.ndarray | None:
    """The family's run labels (:func:`run_labels`, in the order of its rows) when its rows include
    checkpoints, so that resamples draw whole runs; None otherwise."""
    return run_labels(ladder.family_runs(family)) if checkpoint_families(ladder, [family]) else None


def _percentile_warning(ladder: Ladder, law: Law) -> str:
    """What the calibration studies measured of percentile bands of a compute law: on ladders of one
    row per run (analyses/calibration.py) and, when the ladder's rows are checkpoints and the law is
    the one that study fits (:func:`checkpoint_study_law`), on simulated checkpoint ladders
    (analyses/checkpoint_calibration.py)."""
    said = ("percentile bootstrap bands are not calibrated: in analyses/calibration.py their 95% bands covered "
            "83-99% of simulated truths (52-72% with 4 runs); profile bands, on ladders of one row per run, "
            "covered 93-98%")
    if checkpoint_study_law(law) and checkpoint_families(ladder, ladder.ladder_families()):
        said += ("; on simulated checkpoint ladders (analyses/checkpoint_calibration.py) resampling whole runs, "
                 "their bands of predicted losses covered 92.5-98.5% at 95% but 71-86% at 80%")
    return said


def checkpoint_study_law(law: Law) -> bool:
    """The law analyses/checkpoint_calibration.py fits to its simulated checkpoint ladders: the
    saturating law with E free. Its coverage says nothing of the power law's, L(N, D)'s or a fit
    with E held."""
    return law.name == "saturating" and not law.fixed


def _checkpoint_warning(family: str, rows: int, runs: int, law: Law, method: str | None) -> str:
    """What checkpoints fitted as runs do to the fit and its bands, and what to fit instead."""
    said = f"family '{family}': its {rows} rows are checkpoints of {runs} runs (a run's name repeats at other compute)"
    if method == "percentile":
        checked = ("were checked on one simulated design only (analyses/checkpoint_calibration.py; marked *)"
                   if checkpoint_study_law(law) else
                   "are not checked by a calibration study: analyses/checkpoint_calibration.py fits the saturating "
                   "law with E free only (marked *)")
        how = ("the bootstrap resamples whole runs (each with all its checkpoints), so its bands count runs, not "
               f"rows, but {checked}")
    elif method == "profile":
        how = message(lambda t: "every row is fitted as a separate run, so its bands are too narrow (marked *); "
                                f"{t.setting('band_method', 'percentile')} resamples whole runs instead")
    else:
        how = "every row is fitted as a separate run"
    what = ("the law of compute fits the blend of checkpoints, not the loss each run reaches at its compute: "
            "give one row per run (e.g. its final checkpoint)" if law.name != "chinchilla" else
            "one row per run (e.g. its final checkpoint) is the design the fit assumes")
    return message(lambda t: f"{said}, and {t.text(how)}; {what}")


def perplexities_given_as_losses(losses: Sequence[float], ladder: Ladder) -> list[str]:
    """A question for each target loss of a perplexity file that lies above twice the highest run's
    loss yet among the runs' perplexities (within a factor of 2): typed as a loss, meant as a
    perplexity (``--at-loss 12`` for perplexity 12 asks for perplexity e^12 = 1.6e5)."""
    if ladder.metric != "perplexity":
        return []
    loss = ladder.runs["loss"].to_numpy(dtype=float)
    low, high = np.exp(loss.min()) / 2, np.exp(loss.max()) * 2
    return [message(lambda a, t=t: f"the target loss {t:g} ({a.name('at_loss')}) is {t:g} nats, perplexity "
                                   f"{np.exp(t):.3g}, above twice every run's loss (at most {loss.max():.4g}); "
                                   f"if {t:g} is a perplexity, give it as {a.given('at_perplexity', t, 'g')}")
            for t in losses if t > 2 * loss.max() and low <= t <= high]


FEW_RESAMPLES = 200  # percentile bands from fewer resamples rest on a handful of draws in each tail


def profile_steps(ladder: Ladder, focus: str, n_at_loss: int = 0, n_predictions: int = 0) -> int:
    """The steps ``analyze`` reports to ``progress`` with profile bands: each ladder family's
    parameter bands, each multiplier (one per reference run; per other ladder, its largest run's
    loss and each extra target), and each family's predictions when there are any."""
    families = ladder.ladder_families()
    others = [f for f in ladder.families if f != focus]
    multipliers = sum(1 + n_at_loss if f in families else 1 for f in others)
    return len(families) * (2 if n_predictions else 1) + multipliers


def target_losses(at_loss: Sequence[float] | float = (), at_perplexity: Sequence[float] | float = ()) -> list[float]:
    """The target losses (nats/token): ``at_loss`` as given and ``at_perplexity`` as ln(perplexity),
    each a number or a sequence. ArgumentError (a ValueError), naming the value, for a loss that is
    not positive and finite or a perplexity not above 1."""
    losses, perplexities = _flat_numbers(at_loss, "at_loss"), _flat_numbers(at_perplexity, "at_perplexity")
    for t in losses:
        if not 0 < t < np.inf:
            raise argument_error(lambda a: f"{a.given('at_loss', t, 'g')}: a target loss must be a positive, finite "
                                           "number (nats/token)")
    for p in perplexities:
        if not 1 < p < np.inf:
            raise argument_error(lambda a: f"{a.given('at_perplexity', p, 'g')}: a perplexity must be a number above 1")
    targets = losses + [float(np.log(p)) for p in perplexities]
    given = [("at_loss", t) for t in losses] + [("at_perplexity", p) for p in perplexities]
    for t, (argument, value) in zip(targets, given):
        if not SMALLEST_LOSS <= t <= LARGEST_LOSS:
            raise argument_error(lambda a: f"{a.given(argument, value, '.15g')}: a loss of {t:.3g} nats per token is "
                                           f"outside what a training run can have ({SMALLEST_LOSS:g} to "
                                           f"{LARGEST_LOSS:g}); check the value and its units")
    return targets


class TargetError(ArgumentError):
    """A target (a loss or compute to evaluate the fits at) that cannot be used with this ladder."""


MAX_PREDICTION_DECADES = 10.0  # predictions farther than this from every run are refused (a unit slip)


def target_computes(at_flops: Sequence[float] | float = ()) -> list[float]:
    """The computes to predict at: a number or a sequence, each positive and finite (ValueError
    naming the value otherwise)."""
    computes = _flat_numbers(at_flops, "at_flops")
    for c in computes:
        if not 0 < c < np.inf:
            raise argument_error(lambda a: f"{a.given('at_flops', c, 'g')}: compute must be a positive, finite number "
                                           "(in the file's units)")
    return list(dict.fromkeys(computes))          # each once, in the order given


def check_within_reach(at_flops: Sequence[float], ladder: Ladder, argument: str = "at_flops") -> None:
    """TargetError for a compute more than MAX_PREDICTION_DECADES outside the fitted families' runs
    (reference points, which are not fitted, do not extend the range), naming it as given in
    ``argument``."""
    smallest, largest = ladder.fitted_compute_range
    low, high = np.log10(smallest), np.log10(largest)
    for c in at_flops:
        outside = max(np.log10(c) - high, low - np.log10(c))
        if outside > MAX_PREDICTION_DECADES:
            raise argument_error(lambda a: f"{a.given(argument, c)}: {decades_past(outside, MAX_PREDICTION_DECADES)} "
                                           f"decades outside the fitted runs' compute ({smallest:.3g} to "
                                           f"{largest:.3g}); predictions go at most {MAX_PREDICTION_DECADES:g} "
                                           "decades out. Check the value and its units", TargetError)


def target_sizes(at_params_tokens: Sequence[tuple[float, float]] = ()) -> list[tuple[float, float]]:
    """The (N, D) pairs to predict L(N, D) at, each two positive, finite numbers (ValueError otherwise)."""
    try:
        pairs = np.asarray(at_params_tokens, dtype=float)
    except (TypeError, ValueError):
        pairs = np.zeros(1)                  # refused below
    if pairs.ndim not in (1, 2) or (pairs.size and pairs.shape[-1] != 2):
        raise ValueError(f"at_params_tokens must be a (params, tokens) pair or a sequence of them, "
                         f"got {at_params_tokens!r}")
    pairs = pairs.reshape(-1, 2)
    for n, d in pairs:
        if not (0 < n < np.inf and 0 < d < np.inf):
            raise argument_error(lambda a: f"{a.given('at_params_tokens', (n, d), 'g')}: parameters and tokens must be "
                                           "positive, finite numbers")
    return list(dict.fromkeys((float(n), float(d)) for n, d in pairs))   # each once, in the order given


def check_sizes(sizes: Sequence[tuple[float, float]], ladder: Ladder, law: Law) -> None:
    """TargetError for sizes given to a compute law, or with N or D more than
    MAX_PREDICTION_DECADES outside the runs' parameter or token counts."""
    if not sizes:
        return
    if law.name != "chinchilla":
        raise argument_error(lambda a: f"{a.name('at_params_tokens')}: predictions at a parameter and token count "
                                       f"need the L(N, D) law ({a.setting('law', 'chinchilla')}); for a compute law "
                                       f"use {a.name('at_flops')}", TargetError)
    for (n, d) in sizes:
        for value, column, what in ((n, "params", "parameters"), (d, "tokens", "tokens")):
            runs = ladder.runs[column].to_numpy(dtype=float)
            outside = max(np.log10(value / runs.max()), np.log10(runs.min() / value))
            if outside > MAX_PREDICTION_DECADES:
                raise argument_error(lambda a: f"{a.given('at_params_tokens', (n, d))}: {value:.6g} {what} is "
                                               f"{decades_past(outside, MAX_PREDICTION_DECADES)} decades outside "
                                               f"the runs' ({runs.min():.3g} to {runs.max():.3g}); predictions go at "
                                               f"most {MAX_PREDICTION_DECADES:g} decades out. Check the value and its "
                                               "units", TargetError)


def _flat_numbers(values, name: str) -> list[float]:
    """A number or a flat sequence of numbers, as a list of floats; ValueError otherwise."""
    try:
        array = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a sequence of numbers, got {values!r}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a number or a flat sequence of numbers, got shape {array.shape}")
    return [float(v) for v in array]


def _fit_family(ladder, name, law, method, bootstrap, level, seed, progress, warnings, workers) -> FamilyFit:
    """Fit one family and its bands; when its rows include checkpoints (a run's name at several
    computes) the bootstrap resamples whole runs."""
    runs = ladder.family_runs(name)
    flops, loss = runs["flops"].to_numpy(), runs["loss"].to_numpy()
    labels = runs_if_checkpoints(ladder, name) if method == "percentile" else None
    if law.name == "chinchilla":
        return _fit_chinchilla_family(runs, name, law, method, bootstrap, level, seed, progress, warnings, workers,
                                      labels)
    try:
        fit = fit_law(flops, loss, law, family=name)
    except ValueError as exc:        # the runs passed the ladder's checks: only the units are left
        raise LadderError(f"{ladder.source}, family '{name}': {exc}") from None
    warnings.extend(family_fit_warnings(fit, runs))
    if method is None:
        nan = np.full(law.n_params, np.nan)
        return FamilyFit(fit=fit, draws=None, low=nan, high=nan)
    warnings.extend(fixed_parameter_warnings(fit))
    if method == "profile":
        from .profile import parameter_bands
        low, high = parameter_bands(fit, level)
        if progress is not None:
            progress(1)
        return FamilyFit(fit=fit, draws=None, low=low, high=high)
    draws = bootstrap_family(flops, loss, law, bootstrap, seed, name, progress, workers, runs=labels)
    if draws.n_failed:
        warnings.append(f"family '{name}': {draws.n_failed} of {bootstrap} bootstrap refits failed "
                        "(resamples with too few distinct compute values); bands use the rest")
    low, high = draws.param_band(level)
    return FamilyFit(fit=fit, draws=draws, low=low, high=high)


def _fit_chinchilla_family(runs, name, law, method, bootstrap, level, seed, progress, warnings, workers,
                           labels=None) -> FamilyFit:
    """L(N, D) fits get bootstrap percentile bands (profile bands are for the compute laws)."""
    from .chinchilla import bootstrap_chinchilla, fit_chinchilla

    fit = fit_chinchilla(runs["params"].to_numpy(), runs["tokens"].to_numpy(), runs["loss"].to_numpy(),
                         family=name, delta=law.huber_delta, k=law.flops_per_param_token)
    warnings.extend(_scatter_warnings(fit))
    if method is None:
        nan = np.full(law.n_params, np.nan)
        return FamilyFit(fit=fit, draws=None, low=nan, high=nan)
    draws = bootstrap_chinchilla(fit, bootstrap, seed, progress, delta=law.huber_delta, workers=workers,
                                 runs=labels)
    if draws.n_failed:
        warnings.append(f"family '{name}': {draws.n_failed} of {bootstrap} bootstrap refits failed "
                        "(resamples that cannot identify both exponents); bands use the rest")
    low, high = draws.param_band(level)
    return FamilyFit(fit=fit, draws=draws, low=low, high=high)


def family_fit_warnings(fit: FitResult, runs: pd.DataFrame) -> list[str]:
    """What a compute law's fit to one family's runs (``runs``: that family's rows) should warn of:
    loss rising with compute, E at its bound, poor scatter, an IsoFLOP grid."""
    flops, loss = runs["flops"].to_numpy(), runs["loss"].to_numpy()
    return _fit_warnings(fit, flops, loss) + _isoflop_warnings(runs, fit.family)


def fixed_parameter_warnings(fit: FitResult) -> list[str]:
    """What bands of a fit with parameters held fixed (E given, not fitted) do not cover."""
    return [f"family '{fit.family}': {name} is fixed at {value:g}, not fitted; its bands assume that value exactly "
            f"(they cover the runs' scatter, not an error in {name}) and were not checked by the calibration study, "
            f"which fitted {name}" for name, value in fit.law.fixed.items()]


def rising_loss_warnings(family: str, flops, loss) -> list[str]:
    """A warning when the family's loss rises with compute (least-squares slope of ln L on log10 C)."""
    slope = np.polyfit(np.log10(flops), np.log(loss), 1)[0]
    if slope > 0:
        return [f"family '{family}': loss rises with compute (log-loss slope {slope:+.3g} per decade); the fitted "
                "law is flat and its inversions are not meaningful"]
    return []


def _fit_warnings(fit: FitResult, flops, loss) -> list[str]:
    out = rising_loss_warnings(fit.family, flops, loss)
    if fit.law.name == "saturating" and not fit.law.fixed and fit.param("E") >= 0.999 * loss.min():
        out.append(f"family '{fit.family}': the irreducible loss E sits at its bound (the smallest "
                   "observed loss); the ladder does not show where the loss saturates")
    if fit.law.name == "power" and not out:
        out += power_law_lack_of_fit(fit, flops, loss)
    return out + _scatter_warnings(fit)


POWER_LAW_CHECK_LEVEL = 0.01  # F-test level below which a power-law fit is said to miss the runs' flattening


def power_law_lack_of_fit(fit: FitResult, flops, loss) -> list[str]:
    """A warning when the saturating law E + A C^-alpha fits the family's runs significantly better
    than the power law A C^-alpha it contains (E = 0): F = (S_power - S_sat) / (S_sat / (n - 3)) on
    (1, n - 3) degrees of freedom, p < POWER_LAW_CHECK_LEVEL. (E = 0 lies on the boundary, which
    makes this p-value conservative.) The demo's runs give 29.6x [22.4x, 38.1x] under the power law
    against 10.3x [7.17x, 14x] with E, and nothing said the power law missed them."""
    from scipy import special

    from .laws import SaturatingLaw

    n = len(loss)
    if n < 4 or np.unique(flops).size < 3:
        return []
    try:
        saturating = fit_law(flops, loss, SaturatingLaw(), family=fit.family).objective
    except ValueError:
        return []
    if saturating > 0:
        f_stat = max(fit.objective - saturating, 0.0) / (saturating / (n - 3))
        p_value = float(special.fdtrc(1, n - 3, f_stat))
    else:
        p_value = 0.0 if fit.objective > 0 else 1.0
    if p_value >= POWER_LAW_CHECK_LEVEL:
        return []
    return [message(lambda t: f"family '{fit.family}': the saturating law (with an irreducible loss E) fits its runs "
                              f"much better than the power law (F test p = {p_value:.2g}); the loss is flattening, "
                              f"which the power law's curve and bands ignore: try {t.setting('law', 'saturating')}")]


ISOFLOP_SIZES = 2.0   # model sizes this far apart within one compute budget make an IsoFLOP grid


def _isoflop_warnings(runs: pd.DataFrame, family: str) -> list[str]:
    """For a compute law: a warning when three or more of the family's runs share a compute budget
    (within 0.05 decades) with model sizes ISOFLOP_SIZES or more apart, an IsoFLOP grid, whose losses
    depend on how the budget was split, which a law of compute alone cannot see."""
    if "params" not in runs.columns:
        return []
    from .isoflop import group_budgets

    flops, params = runs["flops"].to_numpy(), runs["params"].to_numpy(dtype=float)
    labels = group_budgets(flops, 0.05)
    grids = [b for b in np.unique(labels) if np.sum(labels == b) >= 3
             and np.nanmax(params[labels == b]) >= ISOFLOP_SIZES * np.nanmin(params[labels == b])]
    if not grids:
        return []
    return [message(lambda t: f"family '{family}': {len(grids)} compute budget(s) hold 3 or more runs of model "
                              f"sizes {ISOFLOP_SIZES:g}x or more apart (an IsoFLOP grid); a law of compute alone fits "
                              f"through the middle of each budget. For L(N, D) use {t.setting('law', 'chinchilla')} "
                              "(tokens from a tokens column, or D = C / 6N), or keep each budget's lowest-loss run "
                              "for a compute-optimal ladder")]


POOR_FIT_SCATTER = 0.10  # rms relative residual above which a law does not describe the runs (good fits: < 3%)


def _scatter_warnings(fit: FitResult) -> list[str]:
    """A warning when the runs scatter around the fitted law by more than POOR_FIT_SCATTER (rms of
    the ln-loss residuals)."""
    if fit.rmse_log <= POOR_FIT_SCATTER:
        return []
    return [message(lambda t: f"family '{fit.family}': the runs scatter {fit.rmse_log:.0%} (rms of ln-loss "
                              f"residuals) around the fitted {fit.law.name} law; it does not describe them well "
                              f"(see {t.figure('residuals')})")]


def _all_multipliers(ladder: Ladder, fits: dict[str, FamilyFit], focus: str, level: float,
                     at_loss: Sequence[float], method: str | None, warnings: list[str],
                     step: Callable[[int], None] | None = None) -> list[Multiplier]:
    focus_fit = fits[focus]
    out: list[Multiplier] = []
    others = [f for f in ladder.families if f != focus]
    if at_loss and not any(f in fits for f in others):
        warnings.append(message(lambda t: f"{t.name('at_loss')} and {t.name('at_perplexity')} apply to comparisons "
                                          "between ladders; this file has no other ladder"))
    comparisons = []
    for other in others:
        if other in fits:
            ref = fits[other]
            targets = [("largest run", _largest_run_loss(ladder, other))] + [("at-loss", float(x)) for x in at_loss]
            comparisons += [Comparison(other, target, where, reference_fit=ref.fit, reference_draws=ref.draws)
                            for where, target in targets]
        else:
            run = ladder.family_runs(other).iloc[0]
            comparisons.append(Comparison(other, float(run["loss"]), "reference run",
                                          reference_flops=float(run["flops"])))
    out += multipliers_of(focus_fit.fit, focus_fit.draws, comparisons, level, method or "none", step)
    if method == "profile":
        out = [_mark_checked(m, fits, warnings, ladder) for m in out]
    elif method == "percentile" and fits[focus].fit.law.name != "chinchilla":
        warnings.append(_percentile_warning(ladder, fits[focus].fit.law))
        out = [replace(m, band_checked=False) for m in out]
    elif method == "percentile":            # L(N, D): said once with the predictions' (see analyze)
        out = [replace(m, band_checked=False) for m in out]
    warnings.extend(_multiplier_warnings(out, ladder))
    return out


# The designs on which analyses/calibration.py verified the profile bands (see README, "Honest
# bands"): 95% bands covered 93-98% of simulated truths with 4 to 12 runs over 2 to 4 decades,
# up to 3% noise, references up to 3 decades beyond the ladder. Percentile bands were not honest
# there (83-99% on the grid, 52-72% with 4 runs), so they are never marked as checked.
CHECKED_MIN_RUNS = 4
CHECKED_MIN_SPAN_DECADES = 2.0
CHECKED_MAX_EXTRAPOLATION_DECADES = 3.0
# The study placed every reference at or beyond the ladder's largest run; below the smallest run it
# checked nothing, so only a short step below (the warning's threshold) keeps a band marked checked
CHECKED_MAX_DECADES_BELOW = EXTRAPOLATION_WARNING_DECADES
CHECKED_MAX_NOISE = 0.04  # the study went to 3% relative noise; estimates scatter above it


def design_reasons(family: str, n_runs: int, decades: float, scatter: float, around: str = "its fit") -> list[str]:
    """Why a family's runs lie outside the calibration studies' designs: too few runs, too short a
    span of compute, too much scatter (relative, ln residuals) around ``around``."""
    reasons = []
    if n_runs < CHECKED_MIN_RUNS:
        reasons.append(f"'{family}' has {n_runs} runs (checked: {CHECKED_MIN_RUNS} or more)")
    if decades < CHECKED_MIN_SPAN_DECADES - 1e-9:
        span = decades_past(decades, CHECKED_MIN_SPAN_DECADES)
        reasons.append(f"'{family}' spans {span} decades of compute "
                       f"(checked: {CHECKED_MIN_SPAN_DECADES:g} or more)")
    if scatter > CHECKED_MAX_NOISE:
        reasons.append(f"'{family}' scatters {scatter:.1%} around {around} (checked: up to {CHECKED_MAX_NOISE:.0%}; "
                       "the study's runs had up to 3% noise, which a fit's scatter can exceed)")
    return reasons


def unchecked_reasons(fit: FitResult, extrapolation: float) -> list[str]:
    """Why a band computed from this family's fit lies outside the calibration study's designs."""
    dof = fit.n_runs - fit.law.n_free
    noise = np.sqrt(fit.objective / dof) if dof > 0 else np.inf
    reasons = design_reasons(fit.family, fit.n_runs, fit.decades, noise)
    if np.isfinite(extrapolation) and extrapolation > CHECKED_MAX_EXTRAPOLATION_DECADES + 1e-9:
        beyond = decades_past(extrapolation, CHECKED_MAX_EXTRAPOLATION_DECADES)
        reasons.append(f"'{fit.family}' is extrapolated {beyond} decades "
                       f"(checked: up to {CHECKED_MAX_EXTRAPOLATION_DECADES:g})")
    if -np.inf < extrapolation < -CHECKED_MAX_DECADES_BELOW - 1e-9:
        below = decades_past(-extrapolation, CHECKED_MAX_DECADES_BELOW)
        reasons.append(f"'{fit.family}' is extrapolated {below} decades below its smallest run "
                       "(the study's references were all at or beyond the largest run)")
    return reasons


def _mark_checked(m: Multiplier, fits: dict[str, FamilyFit], warnings: list[str], ladder: Ladder) -> Multiplier:
    reasons = unchecked_reasons(fits[m.focus].fit, m.extrapolation_decades)
    if m.reference_kind == "ladder":
        reasons += unchecked_reasons(fits[m.reference].fit, m.reference_extrapolation_decades)
    fixed = fits[m.focus].fit.law.fixed or (m.reference_kind == "ladder" and fits[m.reference].fit.law.fixed)
    if reasons:
        warnings.append(f"{m.focus} vs {m.reference} at {at_target(m.loss, ladder)}: the band was not checked by the "
                        f"calibration study: {'; '.join(reasons)}")
    return replace(m, band_checked=False) if reasons or fixed else m


def _all_predictions(fits: dict[str, FamilyFit], at_flops: Sequence[float], at_sizes: Sequence[tuple[float, float]],
                     level: float, method: str | None, warnings: list[str],
                     step: Callable[[int], None] | None = None) -> list[Prediction]:
    """Every fitted family's loss at every compute of ``at_flops`` and every (N, D) of ``at_sizes``,
    bands marked checked where the calibration study covers their design (profile bands only),
    with a warning where not."""
    out: list[Prediction] = []
    for name, ff in fits.items():
        sized = predict_at_size(ff.fit, ff.draws, [n for n, _ in at_sizes], [d for _, d in at_sizes], level,
                                method or "none") if at_sizes else []
        unchecked: dict[str, list[str]] = {}        # reasons -> the points they apply to, said once
        for p in predict_at(ff.fit, ff.draws, at_flops, level, method or "none") + sized:
            reasons = unchecked_reasons(ff.fit, p.extrapolation_decades) if method == "profile" else []
            if reasons:
                unchecked.setdefault("; ".join(reasons), []).append(_prediction_point(p))
            if reasons or (method == "profile" and ff.fit.law.fixed):     # fixed: said once, by _fit_family
                p = replace(p, band_checked=False)
            beyond_study = any("extrapolated" in reason for reason in reasons)
            if abs(p.extrapolation_decades) > EXTRAPOLATION_WARNING_DECADES and not beyond_study:
                warnings.append(_prediction_extrapolated(name, [_prediction_point(p)], p.extrapolation_decades, p.where))
            out.append(p)
        warnings += [f"{name} at {_listed(points)}: the predicted loss's band was not checked by the calibration "
                     f"study: {reasons}" for reasons, points in unchecked.items()]
        warnings.extend(_size_warnings(ff.fit, sized))
        if step is not None and (len(at_flops) or len(at_sizes)):
            step(1)
    return out


def _prediction_extrapolated(family: str, points: list[str], decades: float, where: str, up_to: bool = False) -> str:
    """'muse at compute 1e+23: the prediction is extrapolated 1.3 decades beyond its largest run'
    (``up_to``: 'is extrapolated up to ...', the farthest of several points)."""
    where = {"compute-optimal": "on its compute-optimal frontier ", "size": "in compute "}.get(where, "")
    return f"{family} at {_listed(points)}: the prediction {where}is {_extrapolated(decades, up_to)}"


def warn_extrapolated(family: str, flops_min: float, flops_max: float, flops: np.ndarray,
                      where: str = "compute") -> None:
    """An :class:`ExtrapolationWarning` for the computes ``flops`` more than
    EXTRAPOLATION_WARNING_DECADES beyond the family's largest run (``flops_max``), and one for those
    below its smallest, each the warning the command gives a prediction there (naming the farthest
    of several, each named once). ``where``: "compute", or "compute-optimal" for an L(N, D) law's frontier."""
    decades = np.array([extrapolation_decades(float(c), flops_min, flops_max) for c in flops])
    for side in (decades > EXTRAPOLATION_WARNING_DECADES, decades < -EXTRAPOLATION_WARNING_DECADES):
        if side.any():
            points = list(dict.fromkeys(f"compute {c:.4g}" for c in flops[side]))     # each once
            farthest = decades[side][np.argmax(np.abs(decades[side]))]
            _warn(_prediction_extrapolated(family, points, farthest, where, up_to=len(points) > 1))


def warn_inverse_extrapolated(fit: FitResult, loss: np.ndarray, flops: np.ndarray, ladder: Ladder) -> None:
    """An :class:`ExtrapolationWarning` for the losses whose compute ``flops`` (finite) lies more
    than EXTRAPOLATION_WARNING_DECADES beyond the family's largest run, and one for those below its
    smallest, worded as the command's warning of a multiplier there: 'muse at loss 0.6: muse's fit
    is extrapolated 2.0 decades beyond its largest run' (several losses: each named once, the first
    POINTS_SHOWN of them, and 'up to' the farthest, as :func:`warn_extrapolated`)."""
    decades = np.array([extrapolation_decades(float(c), fit.flops_min, fit.flops_max) if 0 < c < np.inf else 0.0
                        for c in flops])
    for side in (decades > EXTRAPOLATION_WARNING_DECADES, decades < -EXTRAPOLATION_WARNING_DECADES):
        if side.any():
            points = list(dict.fromkeys(at_target(float(target), ladder) for target in np.asarray(loss)[side]))
            farthest = decades[side][np.argmax(np.abs(decades[side]))]
            _warn(f"{fit.family} at {_listed(points)}: {fit.family}'s fit is {_extrapolated(farthest, len(points) > 1)}")


def _warn(text: str) -> None:
    """Warn with ``text`` as a Message (it names no argument: both wordings are the same), pointing at
    the caller's line (the public method's caller, two frames up)."""
    python_warnings.warn(Message(text), ExtrapolationWarning, stacklevel=4)


POINTS_SHOWN = 3  # prediction points named in one warning (the rest are counted)


def _listed(points: list[str]) -> str:
    """'compute 1e+21', or 'compute 1e+21, compute 2e+21, compute 4e+21 and 7 more'."""
    shown = ", ".join(points[:POINTS_SHOWN])
    return shown + (f" and {len(points) - POINTS_SHOWN} more" if len(points) > POINTS_SHOWN else "")


def _prediction_point(p: Prediction) -> str:
    """'compute 1e+23', or 'N = 7e+09, D = 1.4e+11' for a prediction at a size."""
    return f"N = {p.params:.4g}, D = {p.tokens:.4g}" if p.where == "size" else f"compute {p.flops:.4g}"


def _size_warnings(fit: FitResult, predictions: Sequence[Prediction]) -> list[str]:
    """A warning for each (N, D) whose N or D lies more than EXTRAPOLATION_WARNING_DECADES outside
    the family's runs: L(N, D) is extrapolated along that axis however close the compute is."""
    out = []
    for p in predictions:
        for value, runs, what in ((p.params, fit.model_params, "parameters"), (p.tokens, fit.tokens, "tokens")):
            beyond, below = np.log10(value / runs.max()), np.log10(runs.min() / value)
            if max(beyond, below) > EXTRAPOLATION_WARNING_DECADES:
                where = (f"{decades_past(beyond, EXTRAPOLATION_WARNING_DECADES)} decades beyond the largest" if beyond > 0
                         else f"{decades_past(below, EXTRAPOLATION_WARNING_DECADES)} decades below the smallest")
                out.append(f"{fit.family} at {_prediction_point(p)}: {value:.4g} {what} is {where} in its runs "
                           f"({runs.min():.3g} to {runs.max():.3g})")
    return out


def _largest_run_loss(ladder: Ladder, family: str) -> float:
    """Loss of the family's largest-compute run (mean loss if several runs share that compute)."""
    runs = ladder.family_runs(family)
    top = runs["flops"].max()
    return float(runs.loc[runs["flops"] == top, "loss"].mean())


def decades_past(value: float, threshold: float) -> str:
    """``value`` with one decimal, or as many more (up to 3) as it takes to read on the same side of
    ``threshold`` as it is: a span of 1.96 decades against 'checked: 2 or more' reads 1.96, not 2.0."""
    for digits in (1, 2, 3):
        text = f"{value:.{digits}f}"
        if (float(text) > threshold) == (value > threshold) and float(text) != threshold:
            return text
    return f"{value:.3f}"


def _no_compute(family: str) -> str:
    return (f"{family}'s fit needs no compute at all for it (the loss lies above its whole fitted curve, as when "
            "the loss rises with compute): there is no multiplier")


def _extrapolated(decades: float, up_to: bool = False) -> str:
    """'extrapolated 1.3 decades beyond its largest run', or '... below its smallest run' (decades < 0);
    ``up_to``: 'extrapolated up to 1.3 decades ...' (the farthest of several points)."""
    where = "beyond its largest run" if decades > 0 else "below its smallest run"
    return f"extrapolated {'up to ' if up_to else ''}{decades_past(abs(decades), EXTRAPOLATION_WARNING_DECADES)} decades {where}"


def _said_unchecked(m: Multiplier, extrapolation: float) -> bool:
    """The profile band's 'not checked' warning already says how far this fit is extrapolated."""
    beyond_study = (extrapolation > CHECKED_MAX_EXTRAPOLATION_DECADES + 1e-9
                    or extrapolation < -CHECKED_MAX_DECADES_BELOW - 1e-9)
    return m.n_draws == 0 and not m.band_checked and beyond_study and np.isfinite(extrapolation)


def at_target(loss: float, ladder: Ladder) -> str:
    """'loss 0.6472', with the perplexity beside it for a perplexity file: 'loss 0.6472 (perplexity 1.91)'."""
    if ladder.metric == "perplexity":
        return f"loss {loss:.4g} (perplexity {float(ladder.loss_to_metric(loss)):.4g})"
    return f"loss {loss:.4g}"


UNIT_SLIP_DECADES = 6.0  # families whose runs lie this far apart in compute: more likely a unit slip
UNIT_SLIP_FACTOR = 1e3   # a multiplier this large either way: rarely a recipe's saving, often a unit slip (K vs M)


def implausible_factor(factor: float, focus: str, other: str) -> list[str]:
    """A question when a compute factor between two families is UNIT_SLIP_FACTOR or more either way:
    recipes rarely differ that much, and a thousand, a million or 8.64e19 (PF-days) is what a unit
    slip in one family's compute gives. Ladders in different units can overlap in compute, so
    this catches slips that the distance between runs (UNIT_SLIP_DECADES) does not."""
    if not (np.isfinite(factor) and factor > 0) or 1 / UNIT_SLIP_FACTOR < factor < UNIT_SLIP_FACTOR:
        return []
    from .formatting import fmt_multiplier

    return [f"{other} needs {fmt_multiplier(factor)} the compute {focus} needs, a larger difference than recipes usually show "
            f"({UNIT_SLIP_FACTOR:.0f}x either way): are the families' computes in the same units (e.g. GFLOPs in "
            "one, FLOPs in another, or parameters counted in millions)?"]


def _decades_apart(ladder: Ladder, focus: str, reference: str) -> float:
    """Decades of compute between two families' runs (0 when their ranges overlap)."""
    a, b = (np.log10(ladder.family_runs(f)["flops"].to_numpy(dtype=float)) for f in (focus, reference))
    return float(max(0.0, b.min() - a.max(), a.min() - b.max()))


def _unit_questions(ladder: Ladder, m: Multiplier) -> list[str]:
    """Whether the two families' computes are in the same units: asked when their runs lie more
    than UNIT_SLIP_DECADES apart, or when the multiplier is UNIT_SLIP_FACTOR or more either way."""
    apart = _decades_apart(ladder, m.focus, m.reference)
    if apart > UNIT_SLIP_DECADES:
        return [f"{m.reference}'s compute lies {apart:.0f} decades from {m.focus}'s runs: are the families' "
                "computes in the same units (e.g. FLOPs in one, PF-days in another)?"]
    return implausible_factor(m.multiplier, m.focus, m.reference)


def _multiplier_warnings(multipliers: Sequence[Multiplier], ladder: Ladder) -> list[str]:
    """One line per multiplier that is unreachable, far extrapolated, or unreachable in some draws;
    a question about units once per pair of families."""
    out, asked = [], set()
    for m in multipliers:
        issues = []
        if not np.isfinite(m.focus_flops):
            issues.append(f"unreachable for {m.focus} (at or below its irreducible loss E)")
        elif m.focus_flops == 0:
            issues.append(_no_compute(m.focus))
        elif (abs(m.extrapolation_decades) > EXTRAPOLATION_WARNING_DECADES
              and not _said_unchecked(m, m.extrapolation_decades)):
            issues.append(f"{m.focus}'s fit is {_extrapolated(m.extrapolation_decades)}")
        if m.reference_kind == "ladder" and not np.isfinite(m.reference_flops):
            issues.append(f"unreachable for {m.reference} (at or below its irreducible loss E)")
        elif m.reference_kind == "ladder" and m.reference_flops == 0:
            issues.append(_no_compute(m.reference))
        elif (abs(m.reference_extrapolation_decades) > EXTRAPOLATION_WARNING_DECADES
              and not _said_unchecked(m, m.reference_extrapolation_decades)):
            issues.append(f"{m.reference}'s fit is {_extrapolated(m.reference_extrapolation_decades)}")
        units = [] if m.reference in asked else _unit_questions(ladder, m)
        if units:
            asked.add(m.reference)
            issues += units
        if m.n_draws and m.unreachable_fraction > 0:
            reaches = m.low == 0 or m.high == np.inf
            from .formatting import fmt_share

            count = round(m.unreachable_fraction * m.n_draws)
            issues.append(f"unreachable in {count:,} of {m.n_draws:,} bootstrap draws "
                          f"({fmt_share(m.unreachable_fraction, 1)}), "
                          + ("so the band reaches 0 or infinity" if reaches else "fewer than the band's tails "
                             "(the band stays finite)"))
        if issues:
            out.append(f"{m.focus} vs {m.reference} at {at_target(m.loss, ladder)}: " + "; ".join(issues))
    return out
