"""Families that share one law up to a compute factor: one multiplier per family, with its band.

    >>> cmp = scalefit.compare_shared("runs.csv", focus="new")
    >>> print(cmp.summary()); cmp.frame()

Fitted separately, two families have two exponents, so the compute multiplier between them is a
curve that changes with the target loss, and an ill-conditioned one: within each fit the exponent
and the coefficient trade off. When families differ in how efficiently they use compute rather
than in how they scale, one saturating law with a compute factor per family says so with one
number:

    L_f(C) = E + A (C / M_f)^(-alpha),    M_focus = 1,

E and alpha shared, and M_f the focus family's saving against family f: at every loss the focus
needs M_f times less compute than f (M_f < 1: more). Objective: S = sum over the runs of all the
families of (ln L_i - ln L_f(C_i))^2, as for one family; compute is normalized by the geometric
mean of all the runs, x = C / C_ref, and A is reported in the file's units.

No starting values: for each alpha on the engine's grid the law is linear in E and the per-family
coefficients A_f = A M_f^alpha; the weighted normal equations (w = 1 / L^2, the relative-error
weighting) have an arrow shape, solved in closed form with E kept in its bounds; from the two lowest
local minima of the exact log objective along alpha a bounded Levenberg-Marquardt polishes
(E, ln A_norm, alpha, ln M_f).

Bands: profile likelihood. ln M_g is held at each point of a grid and every other parameter refitted
(the same search); D = (S(ln M_g) - S_min) / (S_min / dof) against the F_{1, dof} quantile, as the
compute bands of one family (dof = runs - families - 2).

Check: the shared law is a special case of a separate saturating law per family (3 parameters each),
so the F test of S_shared against S_separate on (2F - 2, n - 3F) degrees of freedom says whether
the data contradict it; it needs 4 or more runs in every family.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd

from .arguments import ArgumentError, argument_error, message, messages
from .fitting import (ALPHA_BOUNDS, ALPHA_GRID, E_CEILING, check_representable, bounded_least_squares, fit_law,
                      ReadOnlyFields, lowest_local_minima, lowest_per_owner)
from .ladder import Ladder, LadderError, read_ladder
from .laws import SaturatingLaw

MAX_LOG_FACTOR = float(np.log(1e12))   # |ln M_f| bound: a factor beyond 1e12 is no measurement
PROFILE_POINTS = 61                     # grid of ln M_g for one band, widened until the band closes
PROFILE_WIDENINGS = 4                   # times the grid may be widened fourfold
STARTS_PER_ROW = 2                      # lowest local minima along alpha polished per problem
CHECK_LEVEL = 0.05                      # p below this: the data contradict the shared law (a warning)


@dataclass(frozen=True)
class _Runs:
    """All compared runs, normalized: u = ln(C / C_ref), y = ln L, family index (focus = 0)."""

    u: np.ndarray
    y: np.ndarray
    family: np.ndarray
    n_families: int
    log_ref: float

    @property
    def e_max(self) -> float:
        return float(np.exp(self.y.min()) * E_CEILING)


@dataclass(frozen=True)
class FamilyFactor:
    """The focus family's saving against one family: M with its band (``low``, ``high``)."""

    family: str
    n_runs: int
    multiplier: float
    low: float
    high: float
    band_checked: bool = True     # the design lies inside what analyses/shared_calibration.py verified


@dataclass(frozen=True, eq=False)
class SharedComparison(ReadOnlyFields):
    """Families fitted with one saturating law up to a compute factor each (see the module)."""

    ladder: Ladder
    focus: str
    params: np.ndarray            # E, A, alpha of the focus family, A in the file's compute units
    factors: tuple[FamilyFactor, ...]
    objective: float              # S, sum of squared log residuals over all compared runs
    n_runs: int
    level: float
    separate_objective: float     # S of a separate saturating law per family (nan: not tested)
    f_statistic: float
    p_value: float
    check_dof: tuple[int, int]
    warnings: tuple[str, ...] = field(default=())

    def __repr__(self) -> str:
        from .analysis import level_percent
        return (f"<SharedComparison of {self.ladder.source}: {len(self.factors)} families, focus '{self.focus}', "
                f"{self.n_runs} runs, {level_percent(self.level)} bands, {len(self.warnings)} warning(s); "
                ".summary() prints the table, .frame() gives a DataFrame>")

    @property
    def dof(self) -> int:
        return self.n_runs - len(self.factors) - 2

    @property
    def rmse_log(self) -> float:
        return float(np.sqrt(self.objective / self.n_runs))

    def multiplier(self, family: str) -> float:
        """The focus's saving M_f against ``family`` (1 for the focus itself)."""
        family = self.ladder.family_name(family)
        for factor in self.factors:
            if factor.family == family:
                return factor.multiplier
        raise ValueError(self.ladder.not_among(family, [f.family for f in self.factors], "compared"))

    def predict(self, family: str, flops) -> np.ndarray:
        """L_f(C) = E + A (C / M_f)^(-alpha), nats per token, at ``flops`` (positive, finite compute).
        As ``Analysis.predict``: a compute more than 10 decades outside the compared runs raises
        ValueError, one more than a decade outside the family's runs warns (ExtrapolationWarning)."""
        from .analysis import check_within_reach, positive_finite, warn_extrapolated

        family = self.ladder.family_name(family)
        self.multiplier(family)                       # a compared family, or ValueError naming them
        flops = positive_finite(flops, "flops")
        check_within_reach(np.ravel(flops), self.ladder, argument="flops")
        own = self.ladder.family_runs(family)["flops"]
        warn_extrapolated(family, float(own.min()), float(own.max()), np.ravel(flops))
        return self._curve(family, flops)

    def _curve(self, family: str, flops) -> np.ndarray:
        """L_f(C) at ``flops`` as they are, unchecked (a figure's curves, over its axis)."""
        E, A, alpha = self.params
        return E + A * np.exp(-alpha * (np.log(flops) - np.log(self.multiplier(family))))

    def frame(self) -> pd.DataFrame:
        """One row per compared family other than the focus: its runs and rows (fewer runs than rows
        when the rows are checkpoints) and the focus's saving (the ``focus`` column names whose saving
        it is)."""
        from .analysis import checkpoint_families
        checkpoints = checkpoint_families(self.ladder, [f.family for f in self.factors])
        return pd.DataFrame([dict(focus=self.focus, family=f.family, runs=checkpoints.get(f.family, (0, f.n_runs))[1],
                                  rows=f.n_runs, multiplier=f.multiplier, low=f.low, high=f.high,
                                  band_checked=f.band_checked)
                             for f in self.factors if f.family != self.focus],
                            columns=["focus", "family", "runs", "rows", "multiplier", "low", "high", "band_checked"])

    def summary(self) -> str:
        """The table the command prints, then its warnings (numbered)."""
        from .formatting import format_shared, with_warnings
        return with_warnings(format_shared(self), self.warnings)


def compare_shared(source, focus: str | None = None, level: float = 0.95, name: str | None = None,
                   progress: Callable[[int], None] | None = None) -> SharedComparison:
    """Fit every ladder family (2 or more runs) of ``source`` with one saturating law up to a
    compute factor per family, and give the focus family's saving against each other family with
    its profile-likelihood band at ``level``, and the F test of the shared law (module docstring).
    ``source`` is a path, a DataFrame or a Ladder; ``focus`` defaults to the family with the most runs;
    ``progress`` is called with 1 after each family's band.
    """
    ladder = read_ladder(source, name=name)
    from .analysis import check_level
    level = check_level(level)
    families, focus = _compared_families(ladder, focus)
    runs = _normalized_runs(ladder, families)
    theta, objective = fit_shared_rows(runs, np.full((1, runs.n_families), np.nan))
    theta, objective = theta[0], float(objective[0])
    E, a, alpha = theta[:3]
    with np.errstate(over="ignore"):                 # A beyond a float in these units: refused below
        params = np.array([E, float(np.exp(a + alpha * runs.log_ref)), alpha])
    try:
        check_representable(params, SaturatingLaw(), ladder.runs["flops"].to_numpy(dtype=float))
    except ValueError as exc:        # the runs passed the ladder's checks: only the units are left
        raise LadderError(f"{ladder.source}: {exc}") from None
    dof = runs.u.size - runs.n_families - 2
    counts = ladder.run_counts()
    factors = [FamilyFactor(focus, counts[focus], 1.0, 1.0, 1.0)]
    for g in range(1, runs.n_families):
        low, high = _factor_band(runs, g, theta, objective, dof, level)
        factors.append(FamilyFactor(families[g], counts[families[g]], float(np.exp(theta[2 + g])),
                                    float(np.exp(low)), float(np.exp(high))))
        if progress is not None:
            progress(1)
    at_limit = [families[g] for g in range(1, runs.n_families) if abs(theta[2 + g]) >= MAX_LOG_FACTOR * (1 - 1e-9)]
    notes = _fit_notes(ladder, families, runs, objective, dof, at_limit)
    if not at_limit:
        from .analysis import implausible_factor

        for factor in factors[1:]:
            notes += tuple(implausible_factor(factor.multiplier, focus, factor.family))
    if not at_limit:                 # at the limit every factor is bent: the note says no row can be trusted
        factors, unchecked = _mark_checked(factors, ladder, _family_scatter(runs, theta, families))
        notes += unchecked
    separate, f_stat, p_value, check_dof = float("nan"), float("nan"), float("nan"), (0, 0)
    if not at_limit:
        separate, f_stat, p_value, check_dof, check_notes = _check_against_separate_laws(ladder, families, objective,
                                                                                         runs.u.size)
        notes += check_notes
    return SharedComparison(ladder=ladder, focus=focus, params=params, factors=tuple(factors),
                            objective=objective, n_runs=runs.u.size, level=level, separate_objective=separate,
                            f_statistic=f_stat, p_value=p_value, check_dof=check_dof,
                            warnings=messages(tuple(ladder.warnings) + tuple(notes)))


# The designs on which analyses/shared_calibration.py verified the bands of M (README, "Comparing
# ladders"): pairs of families of 4 to 10 runs each over 2 to 4 decades, up to 3% noise, true M
# from 1/15 to 15; 95% bands covered 94.0-97.5% of the truths in every cell. Runs, span and
# scatter are judged as for fit's bands (analysis.design_reasons).
CHECKED_MAX_FACTOR = 15.0


def _family_scatter(runs: _Runs, theta: np.ndarray, families: list[str]) -> dict[str, float]:
    """Each family's scatter around the shared law: sqrt(sum of its squared ln residuals / (n_f - 1)),
    one degree of freedom taken by its own factor."""
    E, a, alpha = theta[:3]
    log_m = np.r_[0.0, theta[3:]]
    residual = runs.y - np.log(E + np.exp(a - alpha * (runs.u - log_m[runs.family])))
    return {family: float(np.sqrt(np.sum(residual[runs.family == g] ** 2) / max((runs.family == g).sum() - 1, 1)))
            for g, family in enumerate(families)}


def _mark_checked(factors: list[FamilyFactor], ladder: Ladder, scatter: dict[str, float],
                  ) -> tuple[list[FamilyFactor], tuple[str, ...]]:
    """The factors with ``band_checked`` False where the comparison lies outside the calibration
    study's designs, and a warning for each saying why. The focus's own row stays checked, and so
    does a factor without a band (the fit's notes say why it has none)."""
    from .analysis import checkpoint_families, design_reasons
    from .formatting import fmt_multiplier

    checkpoints = checkpoint_families(ladder, [f.family for f in factors])

    def reasons_of(family: str) -> list[str]:
        flops = ladder.family_runs(family)["flops"].to_numpy(dtype=float)
        reasons = design_reasons(family, flops.size, float(np.log10(flops.max() / flops.min())), scatter[family],
                                 "the shared law")
        if family in checkpoints:
            rows, runs = checkpoints[family]
            reasons.append(f"'{family}' has {rows} rows that are checkpoints of {runs} runs, each fitted as a "
                           "separate run (the band is too narrow; give one row per run)")
        return reasons

    focus = factors[0].family
    out, notes = [factors[0]], []
    for factor in factors[1:]:
        if np.isnan(factor.low):
            out.append(factor)
            continue
        reasons = reasons_of(focus) + reasons_of(factor.family)
        if not 1 / CHECKED_MAX_FACTOR <= factor.multiplier <= CHECKED_MAX_FACTOR:
            reasons.append(f"the factor is {fmt_multiplier(factor.multiplier)} (checked: 1/{CHECKED_MAX_FACTOR:g} "
                           f"to {CHECKED_MAX_FACTOR:g})")
        if reasons:
            notes.append(f"{focus} vs {factor.family}: the band was not checked by the calibration study "
                         f"(analyses/shared_calibration.py): {'; '.join(reasons)}")
            factor = replace(factor, band_checked=False)
        out.append(factor)
    return out, tuple(notes)


def _fit_notes(ladder: Ladder, families: list[str], runs: _Runs, objective: float, dof: int,
               at_limit: list[str]) -> tuple[str, ...]:
    """Warnings about what the fit could not measure."""
    notes = []
    if at_limit:
        notes.append(f"the factor of {', '.join(at_limit)} reached the search limit ({np.exp(MAX_LOG_FACTOR):.0e}x "
                     "either way): it is not measured, the shared E, A and alpha were bent to fit it, so no factor "
                     "in the table can be trusted, and the check against separate laws was not run; are the "
                     "families' computes in the same units, and do their losses fall with compute?"
                     + (" (compare the others without it)" if runs.n_families > 2 else ""))
    if dof < 1:
        notes.append(f"{runs.u.size} runs for {runs.n_families + 2} parameters: no degrees of freedom left for bands "
                     "or the check; add runs")
    elif objective <= 0:
        notes.append("the law fits the runs exactly (zero residuals): no bands; are the runs simulated without noise?")
    from .analysis import rising_loss_warnings

    for family in families:
        runs = ladder.family_runs(family)
        if runs["flops"].nunique() > 1:
            notes += rising_loss_warnings(family, runs["flops"].to_numpy(dtype=float), runs["loss"].to_numpy(dtype=float))
    one_compute = [f for f in families if ladder.family_runs(f)["flops"].nunique() == 1]
    if one_compute:
        notes.append(f"{', '.join(one_compute)}: runs at one compute only, so the family shows no scaling of its own; "
                     "its factor rests on the shared law carried to its loss, like a reference run's")
    return tuple(notes)


class FewLaddersError(LadderError, ArgumentError):
    """A file without two ladders to compare: bad input (a LadderError) whose advice names how the
    caller compares single runs (``scalefit.analyze``; the command's ``flags``: ``scalefit fit``)."""


def _compared_families(ladder: Ladder, focus: str | None) -> tuple[list[str], str]:
    families = ladder.ladder_families()
    focus = ladder.family_name(focus)
    if focus is None:
        focus = ladder.default_focus()
    elif focus not in ladder.families:
        raise LadderError(ladder.unknown_family(focus))
    if focus not in families:
        raise LadderError(f"{ladder.source}: family {focus!r} has one run; a shared law needs a ladder "
                          "(2 or more runs) as the focus")
    if len(families) < 2:
        raise argument_error(lambda t: f"{ladder.source}: compare needs two or more families with 2 or more runs "
                                       f"each (ladders: {', '.join(families)}); single runs are compared by "
                                       f"`{t.tool('analyze', 'fit')}`", FewLaddersError)
    return [focus] + [f for f in families if f != focus], focus


def _normalized_runs(ladder: Ladder, families: list[str]) -> _Runs:
    runs = ladder.runs[ladder.runs["family"].isin(families)]
    log_c = np.log(runs["flops"].to_numpy(dtype=float))
    log_ref = float(log_c.mean())
    index = {f: i for i, f in enumerate(families)}
    return _Runs(u=log_c - log_ref, y=np.log(runs["loss"].to_numpy(dtype=float)),
                 family=runs["family"].map(index).to_numpy(), n_families=len(families), log_ref=log_ref)


# ----- the fit: rows of problems, each with some ln M_f held fixed ------------------------------

def fit_shared_rows(runs: _Runs, fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global fits of the shared law, one per row of ``fixed`` (B, F): ln M_f held at the given
    value where not NaN (column 0, the focus, is always 0). Returns theta (B, 3 + F - 1) =
    (E, a = ln A_norm, alpha, ln M_1 .. ln M_{F-1}) and the objective S (B,)."""
    fixed = np.array(fixed, dtype=float)
    fixed[:, 0] = 0.0
    along, owner = _starts_along_alpha(runs, fixed)
    starts = np.concatenate([along, _power_law_face_starts(runs, fixed)])
    owner = np.concatenate([owner, np.arange(fixed.shape[0])])
    free = np.isnan(fixed[owner])
    n_rows, n_params = starts.shape[0], 2 + runs.n_families
    lower = np.tile(np.r_[0.0, -np.inf, ALPHA_BOUNDS[0], np.full(runs.n_families - 1, -MAX_LOG_FACTOR)], (n_rows, 1))
    upper = np.tile(np.r_[runs.e_max, np.inf, ALPHA_BOUNDS[1], np.full(runs.n_families - 1, MAX_LOG_FACTOR)],
                    (n_rows, 1))
    held = np.zeros((n_rows, n_params), dtype=bool)
    held[:, 3:] = ~free[:, 1:]
    lower[held], upper[held] = starts[held], starts[held]       # a held ln M: bounds pinned to its value
    theta, objective = bounded_least_squares(lambda th, rows: _log_residuals(runs, th), starts, lower, upper,
                                             problem=owner, damping=1e-6, flat_rtol=1e-12)
    best = lowest_per_owner(objective, owner, fixed.shape[0])
    return theta[best], objective[best]


def _log_residuals(runs: _Runs, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """r_i = ln L_i - ln(E + g_i), g_i = exp(a - alpha (u_i - ln M_f(i))), for rows of theta (b, p),
    and the Jacobian (b, p, n): dr/dE = -1/L, dr/da = -g/L, dr/dalpha = g (u - ln M)/L,
    dr/d ln M_f = -alpha g/L on family f's runs."""
    log_m = np.concatenate([np.zeros((theta.shape[0], 1)), theta[:, 3:]], axis=1)[:, runs.family]
    shifted = runs.u[None, :] - log_m
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        g = np.exp(theta[:, 1:2] - theta[:, 2:3] * shifted)
        pred = theta[:, 0:1] + g
        r = runs.y[None, :] - np.log(pred)
        jac = np.zeros((theta.shape[0], theta.shape[1], runs.u.size))
        jac[:, 0] = -1.0 / pred
        jac[:, 1] = -g / pred
        jac[:, 2] = g * shifted / pred
        for f in range(1, runs.n_families):
            on_f = runs.family == f
            jac[:, 2 + f, on_f] = -theta[:, 2:3] * g[:, on_f] / pred[:, on_f]
    return r, jac


STARTS_BLOCK = 1 << 22   # elements of one (problems, alphas, runs) array of the starts: problems a block at a time


def _starts_along_alpha(runs: _Runs, fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_starts_of_block`` of the problems (rows of ``fixed``) a block at a time, each block's
    arrays about STARTS_BLOCK elements: a band's 61 problems on 10,000 runs made arrays of 0.8 GB
    each, and `scalefit compare` took 4.2 GB. Each problem's starts are its own."""
    per_block = max(1, STARTS_BLOCK // (ALPHA_GRID.size * runs.u.size))
    if fixed.shape[0] <= per_block:
        return _starts_of_block(runs, fixed)
    parts = [_starts_of_block(runs, fixed[lo:lo + per_block]) for lo in range(0, fixed.shape[0], per_block)]
    offsets = range(0, fixed.shape[0], per_block)
    return (np.concatenate([starts for starts, _ in parts]),
            np.concatenate([rows + lo for (_, rows), lo in zip(parts, offsets)]))


def _starts_of_block(runs: _Runs, fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starting points: for each problem (row of ``fixed``) and each alpha on ALPHA_GRID, the law is
    linear in E and one coefficient per group of runs, c_k x^-alpha s_i: the focus with every
    family whose ln M is held (s_i = M^alpha, tied to A), and each free family alone. The weighted
    normal equations (w = 1/L^2) are an arrow: the coefficients decouple given E, so
    c_k = (b_k - n_Ek E) / n_kk and E solves one equation, then is kept in [0, e_max]. The lowest
    STARTS_PER_ROW local minima along alpha of the exact log objective start the polish.
    Returns starts (rows, p) and the problem each belongs to."""
    n_problems, n_fam = fixed.shape
    alphas = ALPHA_GRID
    loss = np.exp(runs.y)
    w = 1.0 / loss ** 2
    free = np.isnan(fixed)                                               # (B, F); column 0 is held (0)
    group = np.where(free[:, runs.family], runs.family[None, :], 0)      # (B, n): the coefficient of run i
    log_s = np.where(free[:, runs.family], 0.0, np.nan_to_num(fixed[:, runs.family]))  # ln M of held runs
    # basis b_i = x_i^-alpha M^alpha = exp(-alpha (u_i - ln M)), (B, G, n)
    basis = np.exp(-alphas[None, :, None] * (runs.u[None, None, :] - log_s[:, None, :]))
    onehot = (group[:, :, None] == np.arange(n_fam)[None, None, :]).astype(float)   # (B, n, F)
    wb = w * basis
    n_ek = np.einsum("bgn,bnk->bgk", wb, onehot)                        # sum over group k of w b
    n_kk = np.einsum("bgn,bnk->bgk", wb * basis, onehot)                # sum of w b^2
    rhs_k = np.einsum("bgn,bnk->bgk", wb * loss, onehot)               # sum of w b L
    used = n_kk > 0
    safe_kk = np.where(used, n_kk, 1.0)
    n_ee, rhs_e = w.sum(), (w * loss).sum()
    schur = n_ee - np.sum(np.where(used, n_ek ** 2 / safe_kk, 0.0), axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        E = (rhs_e - np.sum(np.where(used, n_ek * rhs_k / safe_kk, 0.0), axis=2)) / schur
    E = np.clip(np.nan_to_num(E, nan=0.0), 0.0, runs.e_max)
    coef = np.where(used, (rhs_k - n_ek * E[:, :, None]) / safe_kk, 1.0)
    coef = np.maximum(coef, 1e-12 * loss.max())                         # a positive coefficient to start from
    pred = E[:, :, None] + np.take_along_axis(coef, np.broadcast_to(group[:, None, :], basis.shape), axis=2) * basis
    exact = np.sum((runs.y - np.log(pred)) ** 2, axis=2)                 # (B, G)
    columns, valid = lowest_local_minima(exact, STARTS_PER_ROW)
    rows = np.repeat(np.arange(n_problems), STARTS_PER_ROW)[valid.ravel()]
    cols = columns.ravel()[valid.ravel()]
    alpha = alphas[cols]
    a = np.log(coef[rows, cols, 0])
    log_m = (np.log(coef[rows, cols, :]) - a[:, None]) / alpha[:, None]
    log_m = np.where(free[rows], np.clip(log_m, -MAX_LOG_FACTOR, MAX_LOG_FACTOR), fixed[rows])
    starts = np.column_stack([E[rows, cols], a, alpha, log_m[:, 1:]])
    return starts, rows


def _power_law_face_starts(runs: _Runs, fixed: np.ndarray) -> np.ndarray:
    """One start per problem on the face E = 0, where the law is a power law and ln L is linear:
    ln L_i = c_k(i) - alpha (u_i - s_i), one intercept per group of runs as in
    :func:`_starts_along_alpha` (s_i the held ln M), solved by least squares. A nearly flat ladder's
    optimum sits near this face with a tiny exponent, where Levenberg-Marquardt from the alpha grid
    crawls (E and A trade off)."""
    n_problems, n_fam = fixed.shape
    free = np.isnan(fixed)
    group = np.where(free[:, runs.family], runs.family[None, :], 0)                     # (B, n)
    shift = np.where(free[:, runs.family], 0.0, np.nan_to_num(fixed[:, runs.family]))
    design = np.concatenate([(group[:, :, None] == np.arange(n_fam)).astype(float),
                             -(runs.u[None, :] - shift)[:, :, None]], axis=2)            # (B, n, F + 1)
    normal = design.transpose(0, 2, 1) @ design + 1e-12 * np.eye(n_fam + 1)
    coef = np.linalg.solve(normal, (design.transpose(0, 2, 1) @ runs.y[:, None]))[:, :, 0]
    alpha = np.clip(coef[:, -1], ALPHA_BOUNDS[0], ALPHA_BOUNDS[1])
    a = coef[:, 0]
    log_m = np.clip((coef[:, :n_fam] - a[:, None]) / alpha[:, None], -MAX_LOG_FACTOR, MAX_LOG_FACTOR)
    log_m = np.where(free, log_m, fixed)
    return np.column_stack([np.zeros(n_problems), a, alpha, log_m[:, 1:]])


# ----- band and check -----------------------------------------------------------------------------

def _factor_band(runs: _Runs, g: int, theta: np.ndarray, objective: float, dof: int,
                 level: float) -> tuple[float, float]:
    """Profile-likelihood band of ln M_g: {ln M : (S(ln M) - S_min) / (S_min / dof) <= F_{1,dof}(level)};
    -inf / +inf for an end that stays inside the band out to MAX_LOG_FACTOR; nan without residual
    degrees of freedom or residuals. PROFILE_POINTS over +-8 linearized standard errors, widened
    fourfold until both ends are outside the band, then CROSSING_POINTS more inside each end's bracket."""
    from .profile import CROSSING_POINTS, deviance_crossing, threshold

    if dof < 1 or objective <= 0:
        return float("nan"), float("nan")
    limit = threshold(level, dof)
    centre = float(theta[2 + g])
    half = max(8.0 * _linearized_se(runs, theta, objective, dof, g), 0.05)
    for _ in range(PROFILE_WIDENINGS + 1):
        grid = np.unique(np.clip(np.linspace(centre - half, centre + half, PROFILE_POINTS),
                                 -MAX_LOG_FACTOR, MAX_LOG_FACTOR))
        deviance = _profile_deviance(runs, g, grid, objective, dof)
        open_low = deviance[0] <= limit and grid[0] > -MAX_LOG_FACTOR
        open_high = deviance[-1] <= limit and grid[-1] < MAX_LOG_FACTOR
        if not (open_low or open_high):
            break
        half *= 4.0
    bounds = [v for v, still_open in ((-MAX_LOG_FACTOR, open_low), (MAX_LOG_FACTOR, open_high)) if still_open]
    if bounds:                              # still inside at the widest grid: is it inside out to the limit?
        grid = np.concatenate([grid, bounds])
        deviance = np.concatenate([deviance, _profile_deviance(runs, g, np.array(bounds), objective, dof)])
        order = np.argsort(grid)
        grid, deviance = grid[order], deviance[order]
    inside = np.flatnonzero(deviance <= limit)
    if inside.size == 0:                    # the grid missed the optimum's neighbourhood: a point band
        return centre, centre
    brackets = [(grid[i - 1], grid[i]) for i in (inside[0],) if i > 0]
    brackets += [(grid[i], grid[i + 1]) for i in (inside[-1],) if i + 1 < grid.size]
    if brackets:
        extra = np.concatenate([np.linspace(lo, hi, CROSSING_POINTS + 2)[1:-1] for lo, hi in brackets])
        grid = np.concatenate([grid, extra])
        deviance = np.concatenate([deviance, _profile_deviance(runs, g, extra, objective, dof)])
        order = np.argsort(grid)
        grid, deviance = grid[order], deviance[order]
        inside = np.flatnonzero(deviance <= limit)
    first, last = inside[0], inside[-1]
    low = deviance_crossing(grid, deviance, first, first - 1, limit)      # -inf / +inf past the grid's ends
    high = deviance_crossing(grid, deviance, last, last + 1, limit)
    return float(low), float(high)


def _profile_deviance(runs: _Runs, g: int, log_m: np.ndarray, objective: float, dof: int) -> np.ndarray:
    """(S(ln M_g) - S_min) / (S_min / dof) at each value of ``log_m``, the rest refitted."""
    fixed = np.full((log_m.size, runs.n_families), np.nan)
    fixed[:, g] = log_m
    _, s = fit_shared_rows(runs, fixed)
    return (np.where(np.isfinite(s), s, np.inf) - objective) / (objective / dof)


def _linearized_se(runs: _Runs, theta: np.ndarray, objective: float, dof: int, g: int) -> float:
    """Standard error of ln M_g from s^2 (J^T J)^-1 at the optimum: only to size the profile's grid."""
    _, jac = _log_residuals(runs, theta[None, :])
    j = jac[0]
    try:
        cov = np.linalg.pinv(j @ j.T) * objective / dof
    except np.linalg.LinAlgError:
        return 1.0
    se = float(np.sqrt(max(cov[2 + g, 2 + g], 0.0)))
    return se if np.isfinite(se) else 1.0


EXACT_RMSE = 1e-9   # rms of ln-loss residuals below which a fit is exact to rounding (losses carry ~1e-16)


def _check_against_separate_laws(ladder: Ladder, families: list[str], shared_objective: float, n_runs: int):
    """F test of the shared law (F + 2 parameters) against a separate saturating law per family (3F):
    F = ((S_shared - S_sep) / (2F - 2)) / (S_sep / (n - 3F)). Returns S_sep, F, p, the two degrees of
    freedom and notes; NaNs (with a note) when a family has fewer than 4 runs or no dof remain."""
    from scipy import special

    n_fam = len(families)
    df1, df2 = 2 * n_fam - 2, n_runs - 3 * n_fam
    short = [f for f in families if len(ladder.family_runs(f)) < 4 or ladder.family_runs(f)["flops"].nunique() < 3]
    if short or df2 < 1:
        why = (f"{', '.join(short)} {'has' if len(short) == 1 else 'have'} fewer than 4 runs (or 3 compute values)"
               if short else "too few runs")
        return float("nan"), float("nan"), float("nan"), (df1, df2), (
            f"the shared law was not checked against separate laws per family: {why}",)
    separate = 0.0
    for f in families:
        runs = ladder.family_runs(f)
        try:
            separate += fit_law(runs["flops"].to_numpy(), runs["loss"].to_numpy(), SaturatingLaw()).objective
        except ValueError as exc:             # e.g. A beyond a float in these compute units
            return float("nan"), float("nan"), float("nan"), (df1, df2), (
                f"the shared law was not checked against separate laws per family: {f}: {exc}",)
    if np.sqrt(shared_objective / n_runs) < EXACT_RMSE:       # both exact: F would be a ratio of rounding errors
        return separate, float("nan"), float("nan"), (df1, df2), (
            "the shared law was not checked against separate laws per family: both fit the runs exactly "
            "(zero residuals, to rounding)",)
    f_stat = max(shared_objective - separate, 0.0) / df1 / (separate / df2) if separate > 0 else float("inf")
    p_value = float(special.fdtrc(df1, df2, f_stat)) if np.isfinite(f_stat) else 0.0
    notes = ()
    if p_value < CHECK_LEVEL:
        notes = (message(lambda t: f"the data contradict the shared law (F test against separate laws per family: "
                                   f"p = {p_value:.2g}): the families scale differently, so the saving depends on the "
                                   f"loss; compare them at chosen losses with {t.call('analyze', 'fit', 'at_loss')}"),)
    return separate, float(f_stat), p_value, (df1, df2), notes
