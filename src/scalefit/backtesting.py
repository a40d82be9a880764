"""Backtests: fit each family without its largest runs, predict those runs, and compare.

    >>> bt = scalefit.backtest("runs.csv", hold_out=1)
    >>> print(bt.summary()); bt.frame()

A law is judged by how well it extrapolates, not by its residuals: each ladder family is fitted to
its runs below its ``hold_out`` largest distinct computes, exactly as ``analyze`` fits a family
(same law, search and bands), and the fit predicts the loss of every held-out run: at the run's
compute for the compute laws, at the run's own parameter and token counts for the chinchilla law
(``analyze(..., at_flops=...)`` and ``at_params_tokens``). Each row reports the relative error of
the predicted loss, (predicted - observed) / observed, and whether the observed loss lies inside
the prediction's band. The band is for the fitted law's loss; a held-out run also carries its own
seed-to-seed noise, so a band can miss a run's loss even when the law holds. Compute values are
distinct when they differ at all: runs digitised from a chart, whose computes all differ a little,
hold out one run per value. When the rows are checkpoints (a run named at several computes), the runs
whose final checkpoints lie at the ``hold_out`` largest computes are held out whole and predicted at
their final checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .analysis import (Analysis, TargetError, analyze, has_checkpoints, level_percent, nd_bands_warning,
                       resolve_band_method, resolve_law, run_and_row_counts, run_labels, table_warnings)
from .arguments import PythonTerms, messages
from .fitting import ReadOnlyFields
from .ladder import Ladder, LadderError, check_fittable, read_ladder, runs_a_fit_needs
from .laws import Law
from .prediction import Prediction


BACKTEST_PERPLEXITY_COLUMNS = (("observed_perplexity", "observed"), ("predicted_perplexity", "predicted"),
                               ("perplexity_low", "low"), ("perplexity_high", "high"))


@dataclass(frozen=True)
class HeldOut:
    """One held-out run: its observed loss (nats per token) and the prediction of its family's fit
    to the smaller runs."""

    family: str
    run: str
    observed: float
    prediction: Prediction

    @property
    def error(self) -> float:
        """(predicted - observed) / observed, of the loss."""
        return (self.prediction.loss - self.observed) / self.observed

    @property
    def inside(self) -> bool | None:
        """The observed loss lies inside the prediction's band (None without a band)."""
        if np.isnan(self.prediction.low) or np.isnan(self.prediction.high):
            return None
        return bool(self.prediction.low <= self.observed <= self.prediction.high)


@dataclass(frozen=True, eq=False)
class Backtest(ReadOnlyFields):
    """Held-out runs of every family that could be backtested (see :func:`backtest`)."""

    ladder: Ladder
    law: Law
    hold_out: int
    level: float
    band_method: str
    rows: tuple[HeldOut, ...]
    warnings: tuple[str, ...] = field(default=())
    n_bootstrap: int = 0        # resamples behind percentile bands (0 for profile bands or none)
    seed: int = 0
    training: Mapping[str, Analysis] = field(default_factory=dict, repr=False)   # family -> the Analysis of its runs

    def __repr__(self) -> str:
        bands = "no bands" if self.band_method == "none" else f"{level_percent(self.level)} {self.band_method} bands"
        return (f"<Backtest of {self.ladder.source}: {self.law.name} law, {len(self.rows)} held-out run(s) of "
                f"{len(self.training)} famil{'y' if len(self.training) == 1 else 'ies'}, {bands}, "
                f"{len(self.warnings)} warning(s); .summary() prints the table, .frame() gives a DataFrame>")

    def frame(self) -> pd.DataFrame:
        """One row per held-out run: family, run, compute (and N, D for L(N, D)), observed and
        predicted loss (nats per token) and the band, relative error of the loss, inside (None
        without a band), extrapolation of the fit in decades; for perplexity files the observed,
        predicted and band also as perplexities."""
        rows = [dict(family=h.family, run=h.run, flops=h.prediction.flops, params=h.prediction.params,
                     tokens=h.prediction.tokens, observed=h.observed, predicted=h.prediction.loss,
                     low=h.prediction.low, high=h.prediction.high, error=h.error, inside=h.inside,
                     band_checked=h.prediction.band_checked,
                     extrapolation_decades=h.prediction.extrapolation_decades) for h in self.rows]
        columns = ["family", "run", "flops", "params", "tokens", "observed", "predicted", "low", "high", "error",
                   "inside", "band_checked", "extrapolation_decades"]
        frame = pd.DataFrame(rows, columns=columns)
        if self.ladder.metric == "perplexity":
            with np.errstate(over="ignore"):
                for name, column in BACKTEST_PERPLEXITY_COLUMNS:
                    frame[name] = np.exp(frame[column].astype(float))
        return frame

    @property
    def coverage(self) -> float:
        """Share of held-out runs inside their bands (NaN without bands)."""
        inside = [h.inside for h in self.rows if h.inside is not None]
        return float(np.mean(inside)) if inside else float("nan")

    @property
    def median_abs_error(self) -> float:
        return float(np.median([abs(h.error) for h in self.rows])) if self.rows else float("nan")

    def summary(self) -> str:
        """The table the command prints, then its warnings (numbered)."""
        from .formatting import format_backtest, with_warnings
        return with_warnings(format_backtest(self), self.warnings)


def backtest(source, law: str | Law = "saturating", hold_out: int = 1, level: float = 0.95,
             band_method: str = "auto", bootstrap: int = 1000, seed: int = 0, workers: int | None = None,
             progress: Callable[[int], None] | None = None, name: str | None = None) -> Backtest:
    """Fit each ladder family without the runs at its ``hold_out`` largest distinct computes and
    predict those runs. Options as in :func:`scalefit.analyze`. A family left with too few runs to
    fit is skipped with a warning."""
    if isinstance(hold_out, bool) or not isinstance(hold_out, (int, np.integer)) or hold_out < 1:
        raise ValueError(f"hold_out must be a whole number >= 1, got {hold_out!r}")
    ladder = read_ladder(source, name=name)
    law = resolve_law(law)
    if law.name == "chinchilla":
        ladder = ladder.with_tokens(law.flops_per_param_token)
    check_fittable(ladder, law.n_free, law.name, None, law.fixed.get("E"))       # the whole file, as fit checks it
    if resolve_band_method(band_method, law, ladder) == "percentile":    # checkpoints in one family: resample
        band_method = "percentile"                                      # every family, as fit does
    warnings: list[str] = list(ladder.warnings)
    skipped: list[str] = []
    rows: list[HeldOut] = []
    method, n_bootstrap = "none", 0
    training = {}
    for family in ladder.ladder_families():
        runs = ladder.family_runs(family)
        held, train = split_held_out(runs, hold_out)
        checkpoints = has_checkpoints(runs)
        kept = f"{len(train)} {'row' if checkpoints else 'run'}(s) at {train['flops'].nunique()} compute value(s)"
        if held.empty:
            ends = "its runs end at" if checkpoints else "it has"
            skipped.append(f"family '{family}': not backtested: {ends} {np.unique(_run_ends(runs)).size} compute "
                           f"value(s), not more than the {hold_out} to hold out")
            continue
        if checkpoints:
            n_held = len(set(run_labels(held)))
            warnings.append(f"family '{family}': its rows are checkpoints, so each held-out run is left out whole "
                            f"({len(runs) - len(train)} rows of {n_held} run{'s' * (n_held > 1)}) and predicted at "
                            "its final checkpoint")
        too_few = _too_few_to_fit(train, law)
        if too_few:
            skipped.append(f"family '{family}': not backtested: without its runs at its {hold_out} largest compute "
                           f"value(s) it keeps {kept}, {too_few}")
            continue
        try:
            result = analyze(ladder.with_runs(train, warnings=()), law=law, bootstrap=bootstrap, level=level,
                             seed=seed, band_method=band_method, workers=workers, progress=progress,
                             **_targets(held, law))
        except LadderError as exc:
            skipped.append(f"family '{family}': not backtested: without its runs at its {hold_out} largest compute "
                           f"value(s) it keeps {kept}, which cannot be fitted ({_reason(exc)})")
            continue
        except TargetError as exc:           # a held-out run far beyond the others
            skipped.append(f"family '{family}': not backtested: {exc.in_terms(HeldOutTerms)}")
            continue
        method, n_bootstrap = result.band_method, result.n_bootstrap
        training[family] = result
        said_of_the_table = table_warnings(result)     # of its parameters too: said for the backtest below
        warnings.extend(w for w in result.warnings if not _plain_extrapolation(w) and w not in said_of_the_table)
        rows.extend(_held_out_rows(family, held, result.predictions, law))
    if not rows:
        advice = "; hold out fewer compute values" if hold_out > 1 else ""
        raise LadderError(f"{ladder.source}: no family could be backtested: " + "; ".join(skipped) + advice)
    warnings = _said_once(warnings + skipped + _held_out_bands_warnings(law, method, training))
    return Backtest(ladder=ladder, law=law, hold_out=hold_out, level=level, band_method=method, rows=tuple(rows),
                    warnings=messages(warnings), n_bootstrap=n_bootstrap, seed=seed, training=training)


def _held_out_bands_warnings(law: Law, band_method: str, training: Mapping[str, Analysis]) -> list[str]:
    """For L(N, D) with bands, what analyses/nd_calibration.py measured of such bands (:func:`nd_bands_warning`),
    with the runs each family's refit rests on: said once for the backtest, not once per refit."""
    if band_method != "percentile" or law.name != "chinchilla":
        return []
    runs, rows = {}, {}
    for family, result in training.items():      # each refit's runs: its ladder holds the family's fitted runs
        family_runs, family_rows = run_and_row_counts(result.ladder, [family])
        runs.update(family_runs)
        rows.update(family_rows)
    return [nd_bands_warning("the L(N, D) bands of the held-out runs' predicted losses", runs, law.n_params, rows)]


def _said_once(warnings: list[str]) -> list[str]:
    """Each warning once, in order (every family's refit says the same), and none that another
    extends with more clauses ('...; on simulated checkpoint ladders ...' of a checkpoint family's
    refit beside the plain version of another family's)."""
    unique = list(dict.fromkeys(warnings))
    return [w for w in unique if not any(other.startswith(w + "; ") for other in unique)]


def profile_steps(source, hold_out: int = 1) -> int:
    """The steps :func:`backtest` reports to ``progress`` with profile bands: for each family it
    refits, those of its fit (``analysis.profile_steps``: its parameter bands and its
    predictions of the held-out runs)."""
    from .analysis import profile_steps as analysis_steps
    ladder = read_ladder(source)
    steps = 0
    for family in ladder.ladder_families():
        held, train = split_held_out(ladder.family_runs(family), hold_out)
        if not held.empty:
            steps += analysis_steps(ladder.with_runs(train), family, 0, len(held))
    return steps


def _too_few_to_fit(train: pd.DataFrame, law: Law) -> str:
    """Why the runs a family keeps are too few for a law of compute (its parameters + 1 runs at as
    many distinct computes as parameters, as fit counts them), or '' when they suffice. Said here,
    since fit's refusal, read out of context, ended 'or exactly 1 run to serve as a reference
    point' (for 2 runs kept) or 'the focus must be a ladder' (for 1), advice that does not apply."""
    if law.name == "chinchilla":
        return ""
    need_runs, need_distinct = runs_a_fit_needs(law.n_free)
    if len(train) >= need_runs and train["flops"].nunique() >= need_distinct:
        return ""
    return (f"too few to fit the {law.name} law, which needs {need_runs} or more runs at {need_distinct} or more "
            "compute values")


def _reason(exc: LadderError) -> str:
    """The fit's complaint without its 'file, line, column' prefix (which points at the family's
    first run, not at what the hold-out removed)."""
    return str(exc).split(": ", 1)[-1]


def _plain_extrapolation(warning: str) -> bool:
    """A prediction's 'is extrapolated N decades' warning: a backtest extrapolates on purpose, and
    its table shows how far ('beyond fit'); warnings about unchecked bands are kept."""
    return ": the prediction " in warning and " is extrapolated " in warning


def split_held_out(runs: pd.DataFrame, hold_out: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(held-out rows to predict, in order of compute; training rows) of one family: the runs at
    the ``hold_out`` largest distinct computes, and the others (none held out when the family has
    no more distinct computes than that).

    When the rows are checkpoints (a run's name at several computes), a run is held out whole: the
    runs whose final checkpoints lie at the ``hold_out`` largest distinct final computes lose every
    checkpoint from the training rows, and each is predicted at its final checkpoint; a held-out
    run's earlier checkpoints would otherwise tell the fit where that run goes."""
    ends = _run_ends(runs)
    distinct = np.unique(ends)
    cut = distinct[-hold_out] if distinct.size > hold_out else np.inf
    held = ends >= cut
    final = held & (runs["flops"].to_numpy(dtype=float) == ends)
    return runs[final].sort_values("flops", kind="stable"), runs[~held]


def _run_ends(runs: pd.DataFrame) -> np.ndarray:
    """Each row's run's largest compute: the row's own compute unless the rows are checkpoints."""
    flops = runs["flops"].to_numpy(dtype=float)
    if not has_checkpoints(runs):
        return flops
    return pd.Series(flops).groupby(run_labels(runs)).transform("max").to_numpy()


class HeldOutTerms(PythonTerms):
    """The targets of the backtest's predictions as the backtest made them: held-out runs, at their
    compute (at_flops) or size (at_params_tokens), which its caller never gave ('at_flops 1e+29'
    named an argument a backtest has not)."""

    @staticmethod
    def given(argument: str, value, digits: str = ".6g") -> str:
        if isinstance(value, tuple):
            return f"its held-out run at (N, D) = ({', '.join(format(float(v), digits) for v in value)})"
        return f"its held-out run at compute {format(float(value), digits)}"


def _targets(held: pd.DataFrame, law: Law) -> dict:
    if law.name == "chinchilla":
        return {"at_params_tokens": list(zip(held["params"].to_numpy(dtype=float), held["tokens"].to_numpy(dtype=float)))}
    return {"at_flops": held["flops"].to_numpy(dtype=float)}


def _held_out_rows(family: str, held: pd.DataFrame, predictions, law: Law) -> list[HeldOut]:
    """Each held-out run with the prediction at its compute, or at its size for L(N, D) (repeated
    runs at one point share a prediction)."""
    nd = law.name == "chinchilla"
    by_point = {(p.params, p.tokens) if nd else p.flops: p for p in predictions}
    return [HeldOut(family=family, run=str(run.run), observed=float(run.loss),
                    prediction=by_point[(float(run.params), float(run.tokens)) if nd else float(run.flops)])
            for run in held.itertuples()]
