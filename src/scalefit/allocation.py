"""Compute-optimal allocation of a budget between parameters N and tokens D.

Two estimates per family: the parametric one (Approach 3) from the fitted
L(N, D) = E + A/N^alpha + B/D^beta with C = k N D (see :func:`scalefit.chinchilla.allocation`), with
bootstrap bands; and, when the runs group into compute budgets, the IsoFLOP one (Approach 2, see
:mod:`scalefit.isoflop`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .analysis import (EXTRAPOLATION_WARNING_DECADES, UNIT_SLIP_DECADES, Analysis, analyze, compute_column_warnings,
                       decades_past, nd_bands_warning, run_and_row_counts, runs_if_checkpoints,
                       table_warnings)
from .arguments import messages
from .chinchilla import FLOPS_PER_PARAM_TOKEN, ChinchillaLaw, allocation_with_bands
from .equality import ValueEquality
from .fitting import ReadOnlyFields
from .isoflop import IsoflopResult, isoflop_analysis


@dataclass(frozen=True, eq=False)
class FamilyAllocation(ReadOnlyFields):
    """One family's allocation of each budget, and its IsoFLOP analysis (None without one)."""

    family: str
    # budget -> quantity -> (value, low, high); read-only all the way down (dicts given are copied)
    at: Mapping[float, Mapping[str, tuple[float, float, float]]]
    isoflop: IsoflopResult | None


@dataclass(frozen=True, eq=False)
class OptimalReport(ValueEquality):
    analysis: Analysis
    budgets: tuple[float, ...]
    families: tuple[FamilyAllocation, ...]
    warnings: tuple[str, ...] = field(default=())

    def __repr__(self) -> str:
        return (f"<OptimalReport: {len(self.families)} famil{'y' if len(self.families) == 1 else 'ies'} "
                f"({', '.join(f.family for f in self.families)}), budgets "
                f"{', '.join(f'{c:.3g}' for c in self.budgets)}, {len(self.warnings)} warning(s); "
                ".summary() prints the table, .frame() gives a DataFrame>")

    def summary(self) -> str:
        """The table ``scalefit optimal`` prints, then its warnings (numbered)."""
        from .formatting import format_optimal, with_warnings
        return with_warnings(format_optimal(self), self.warnings)

    def frame(self) -> pd.DataFrame:
        """One row per family and budget: ``flops``, then each quantity of the allocation (``n_opt``,
        ``d_opt``, ``tokens_per_param``, ``loss`` on the frontier, exponents ``a`` and ``b``) with
        its band (``_low``, ``_high``; NaN without bootstrap), and the IsoFLOP estimates
        ``isoflop_n_opt`` and ``isoflop_d_opt`` (NaN without an IsoFLOP analysis)."""
        rows = []
        for fa in self.families:
            for c, quantities in fa.at.items():
                row = {"family": fa.family, "flops": c}
                for name, (value, low, high) in quantities.items():
                    row.update({name: value, f"{name}_low": low, f"{name}_high": high})
                iso = fa.isoflop
                row["isoflop_n_opt"] = np.nan if iso is None else iso.n_opt(c)
                row["isoflop_d_opt"] = np.nan if iso is None else iso.d_opt(c)
                rows.append(row)
        return pd.DataFrame(rows).astype({c: float for c in rows[0] if c != "family"})

    def to_json(self) -> str:
        from .formatting import optimal_to_json
        return optimal_to_json(self)


def optimal_report(source, budgets: Sequence[float], focus: str | None = None, bootstrap: int = 1000,
                   level: float = 0.95, seed: int = 0, law: ChinchillaLaw | None = None,
                   budget_tolerance: float = 0.05,
                   progress: Callable[[int], None] | None = None, workers: int | None = None,
                   name: str | None = None) -> OptimalReport:
    """Fit L(N, D) to each family (or only ``focus``) and allocate each budget (``workers`` and
    ``name``, a DataFrame's label in messages and outputs: see :func:`scalefit.analyze`). ``law`` is a ChinchillaLaw (its Huber delta and k in C = k N D) or
    "chinchilla"; ``budget_tolerance`` (decades, > 0) groups runs into IsoFLOP budgets."""
    law = _chinchilla_law(law)
    if isinstance(budget_tolerance, bool) or not isinstance(budget_tolerance, (int, float, np.integer, np.floating)) \
            or not 0 < budget_tolerance < np.inf:
        raise ValueError(f"budget_tolerance {budget_tolerance!r}: must be a positive, finite number of decades "
                         "(0.05 by default)")
    budgets = [float(c) for c in np.atleast_1d(np.asarray(budgets, dtype=float))]
    if not budgets:
        raise ValueError("budgets: give at least one compute budget to allocate")
    for c in budgets:
        if not 0 < c < np.inf:
            raise ValueError(f"budget {c:g}: a compute budget must be a positive, finite number")
    result = analyze(source, law=law, focus=focus, bootstrap=bootstrap, level=level, seed=seed,
                     progress=progress, band_method="percentile" if bootstrap else "auto", workers=workers, name=name)
    names = [result.focus] if focus is not None else list(result.fits)
    families = []
    said_of_the_table = table_warnings(result)       # of numbers optimal does not print: its own below
    warnings = [w for w in result.warnings if w not in said_of_the_table]
    for name in names:
        ff = result.fits[name]
        at = {float(c): allocation_with_bands(ff.fit, ff.draws, c, level) for c in budgets}
        iso = isoflop_analysis(ff.fit.model_params, ff.fit.tokens, ff.fit.loss, k=law.flops_per_param_token,
                               tolerance=budget_tolerance, n_resamples=bootstrap, level=level,
                               seed=seed, family=name, runs=runs_if_checkpoints(result.ladder, name))
        if iso is None:
            warnings.append(f"family '{name}': no IsoFLOP analysis: fewer than 2 compute budgets with "
                            f"4 or more runs at 3 or more sizes (budget tolerance {budget_tolerance:g} decades)")
        elif bootstrap and iso.draws_used < 0.95:
            warnings.append(f"family '{name}': {1 - iso.draws_used:.0%} of the resampled IsoFLOP parabolas have no "
                            "usable minimum (too few runs per budget); read the band of a with care")
        warnings += _extrapolation_warnings(name, law.flops_per_param_token * ff.fit.model_params * ff.fit.tokens,
                                            budgets, law.flops_per_param_token)
        warnings += compute_column_warnings(name, result.ladder, law.flops_per_param_token)
        families.append(FamilyAllocation(family=name, at=at, isoflop=iso))
    if result.band_method == "percentile":
        runs, rows = run_and_row_counts(result.ladder, names)
        warnings.append(allocation_bands_warning(runs, law.n_params, any(f.isoflop is not None for f in families),
                                                 rows))
    return OptimalReport(analysis=result, budgets=tuple(float(c) for c in budgets), families=tuple(families),
                         warnings=messages(warnings))


def allocation_bands_warning(runs: dict[str, int], n_params: int, isoflop: bool = False,
                             rows: dict[str, int] | None = None) -> str:
    """:func:`scalefit.analysis.nd_bands_warning` for the allocation's bands (``runs``: each
    allocated family's runs; ``rows``: those of checkpoint families): what analyses/nd_calibration.py measured."""
    return nd_bands_warning("the allocation's bands (N_opt, D_opt, tokens per parameter, loss on the frontier, a and b"
                            + (", and the IsoFLOP a" if isoflop else "") + ")", runs, n_params, rows)


def _chinchilla_law(law) -> ChinchillaLaw:
    """``law`` as a ChinchillaLaw (None or "chinchilla": the default one), or ValueError."""
    if law is None or (isinstance(law, str) and law.strip().lower() == "chinchilla"):    # any case, as get_law
        return ChinchillaLaw()
    if not isinstance(law, ChinchillaLaw):
        raise ValueError(f"law must be the L(N, D) law, 'chinchilla' or a ChinchillaLaw (allocation needs N and D), "
                         f"got {law!r}")
    return law


ALLOCATION_WARNING_DECADES = 3.0  # allocations are routinely taken 2-3 decades past the ladder; farther is warned


def _extrapolation_warnings(family: str, flops: np.ndarray, budgets: Sequence[float],
                            k: float = FLOPS_PER_PARAM_TOKEN) -> list[str]:
    """A warning for each budget more than ALLOCATION_WARNING_DECADES beyond the family's largest run,
    or more than EXTRAPOLATION_WARNING_DECADES below its smallest; the units of N and D (and a k in
    C = k N D other than 6, which scales every run's compute) are questioned only below the runs or
    more than UNIT_SLIP_DECADES beyond them (a budget 3 decades past a ladder is a forecast, not a slip)."""
    out = []
    top, bottom = np.log10(flops.max()), np.log10(flops.min())
    for c in budgets:
        beyond, below = np.log10(c) - top, bottom - np.log10(c)
        if beyond > ALLOCATION_WARNING_DECADES or below > EXTRAPOLATION_WARNING_DECADES:
            where = (f"{decades_past(beyond, UNIT_SLIP_DECADES)} decades beyond its largest run" if beyond > 0
                     else f"{below:.1f} decades below its smallest run")
            units = "; check the units of params and tokens" + (
                "" if k == FLOPS_PER_PARAM_TOKEN else f", and k = {k:g} in C = k N D (6 for FLOPs)")
            units = units if beyond <= 0 or beyond > UNIT_SLIP_DECADES else ""
            out.append(f"family '{family}': the allocation at {c:.3g} is extrapolated {where} "
                       f"(runs span {flops.min():.3g} to {flops.max():.3g}{units})")
    return out
