"""Plan a ladder before training it: how wide will the multiplier band be, and which extra run
narrows it most?

Simulates the proposed ladder many times from an assumed truth (law, parameters, noise), places a
reference at the assumed true multiplier, fits each simulated ladder and computes its band with the
default (profile) method. Each candidate extra run is evaluated on the same simulated noise
(common random numbers: the existing runs keep their draws, the extra run gets a new one), so
differences between candidates are not simulation noise.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .analysis import check_level
from .arguments import Message, argument_error, message
from .efficiency import compute_ratio
from .equality import ValueEquality
from .fitting import FitResult, fit_ladders
from .laws import get_law
from .profile import compute_deviances, interval_from_deviance
from .simulate import MAX_BEYOND, MAX_NOISE, SimulationSpec, focus_ladder
from .threads import core_limit
from .uncertainty import map_chunks, resolve_workers

DEFAULT_EXTRA_DECADES = (0.0, 0.25, 0.5, 1.0, 1.5)


@dataclass(frozen=True)
class DesignOutcome:
    """What the simulations predict for one ladder design."""

    design: str
    extra_flops: float           # compute of the added run (nan for the proposed ladder)
    total_flops: float           # compute of all runs of the design
    median_low: float
    median_high: float
    median_width: float          # median of high/low (inf when most bands are unbounded)
    unbounded_share: float       # share of simulations whose band reaches 0 or infinity
    claim_supported_share: float  # share whose band's lower end exceeds the claim
    coverage: float              # share of bands containing the true multiplier


@dataclass(frozen=True, eq=False)
class Plan(ValueEquality):
    spec: SimulationSpec
    multiplier: float
    beyond: float
    claim: float
    level: float
    simulations: int
    outcomes: tuple[DesignOutcome, ...]
    truth_from: str = ""         # where the assumed truth came from, e.g. a fitted ladder (empty: stated)

    def __repr__(self) -> str:
        return (f"<Plan: {len(self.spec.flops)}-run ladder, true multiplier {self.multiplier:g} reached "
                f"{self.reference_place}, {len(self.outcomes)} designs x {self.simulations} "
                "simulations; "
                ".summary() prints the table, .frame() gives a DataFrame>")

    def summary(self) -> str:
        """The table ``scalefit plan`` prints."""
        from .formatting import format_plan, with_warnings
        return with_warnings(format_plan(self))

    def to_json(self) -> str:
        from .formatting import plan_to_json
        return plan_to_json(self)

    def frame(self) -> pd.DataFrame:
        """One row per design; ``added_compute`` is the extra run's compute as a multiple of the
        proposed ladder's (0 for the proposed ladder)."""
        frame = pd.DataFrame([o.__dict__ for o in self.outcomes])
        frame.insert(frame.columns.get_loc("total_flops") + 1, "added_compute",
                     [self.added_compute(o) for o in self.outcomes])
        return frame

    @property
    def proposed(self) -> DesignOutcome:
        return self.outcomes[0]

    def added_compute(self, outcome: DesignOutcome) -> float:
        """Compute a design adds to the proposed ladder, as a multiple of the proposed ladder's."""
        return outcome.total_flops / self.proposed.total_flops - 1.0

    @property
    def reference_place(self) -> str:
        """Where the focus reaches the reference's loss, as :func:`reference_place` says it."""
        return reference_place(self.beyond, self.spec.flops)

    @property
    def reference_flops(self) -> float:
        """The reference's compute: the true multiplier times the focus's compute at its loss."""
        return self.multiplier * max(self.spec.flops) * 10.0 ** self.beyond

    def costs_more_than_reference(self, outcome: DesignOutcome) -> bool:
        """Whether a design's extra run alone takes at least the reference's compute (no saving left)."""
        return bool(outcome.extra_flops >= self.reference_flops)

    @property
    def cheapest_always_bounded(self) -> DesignOutcome | None:
        """The cheapest candidate extra run whose band was bounded in every simulation (None if none
        was): an unbounded band says nothing about the multiplier."""
        bounded = [o for o in self.outcomes[1:] if o.unbounded_share == 0]
        return min(bounded, key=lambda o: o.total_flops) if bounded else None

    @property
    def best_extra(self) -> DesignOutcome | None:
        """The candidate extra run with the narrowest median band, or when every median band is
        unbounded the one with the fewest unbounded bands (None without candidates)."""
        extras = self.outcomes[1:]
        if not extras:
            return None
        return min(extras, key=lambda o: (o.median_width, o.unbounded_share, -o.claim_supported_share))


def plan_ladder(spec: SimulationSpec, multiplier: float = 2.0, beyond: float = 1.0, claim: float = 1.0,
                level: float = 0.95, simulations: int = 200, seed: int | None = None,
                extra_runs: Sequence[float] | None = None,
                progress: Callable[[int], None] | None = None, workers: int | None = None,
                truth_from: str = "") -> Plan:
    """Predict the multiplier band of the ladder ``spec.flops`` against a reference at true
    ``multiplier`` (2, as the command's), ``beyond`` decades past its largest run (1), and of the ladder plus each extra run
    (default: at the largest run's compute and 0.25, 0.5, 1 and 1.5 decades beyond it). The
    simulations are seeded by ``seed`` (default: ``spec.seed``). ``workers`` processes share the
    designs (default: all cores when that pays); the plan is the same for any number. Bad
    arguments raise ValueError. ``truth_from`` says where ``spec`` came from (see ``spec_from_fit``),
    for the summary."""
    from .analysis import check_seed
    seed = spec.seed if seed is None else check_seed(seed)
    _check_plan(spec, multiplier, beyond, claim, level, simulations, extra_runs)
    top = max(spec.flops)
    extras = [top * 10 ** d for d in DEFAULT_EXTRA_DECADES] if extra_runs is None else list(extra_runs)
    focus_flops = top * 10 ** beyond
    ref_flops = multiplier * focus_flops
    target = float(spec.true_loss(focus_flops))
    designs = [("proposed ladder", float("nan"), tuple(spec.flops))]
    at_top = sum(c == top for c in spec.flops) * spec.repeats
    designs += [(_extra_run_name(c, top, at_top), float(c), tuple(spec.flops) + (float(c),)) for c in extras]
    seeds = [int(s) for s in np.random.default_rng([seed, zlib.crc32(b"plan")]).integers(0, 2**31, simulations)]
    runs = sum(len(flops) for _, _, flops in designs) * simulations
    workers = resolve_workers(workers, seconds_estimate=SECONDS_PER_SIMULATED_RUN * runs)
    jobs = [(replace(spec, flops=flops, references=()), seeds, target, ref_flops, level, 1 if workers > 1 else None)
            for _, _, flops in designs]
    bands = map_chunks(_design_bands, jobs, workers, progress, sizes=[len(seeds)] * len(jobs))
    outcomes = [_summarize(name, extra, sum(flops), b, multiplier, claim)
                for (name, extra, flops), b in zip(designs, bands)]
    return Plan(spec=spec, multiplier=multiplier, beyond=beyond, claim=claim, level=level,
                simulations=simulations, outcomes=tuple(outcomes), truth_from=truth_from)


def spec_from_fit(fit: FitResult, seed: int = 0, noise: float | None = None) -> SimulationSpec:
    """The truth a plan assumes from a fitted ladder family: its law and parameters, its runs'
    computes, and ``noise`` or else its noise estimated from the residuals, s = sqrt(S / (n - p))
    with S the sum of squared ln-loss residuals (the lognormal sigma the simulations draw with).
    ValueError when the fit leaves no residual degree of freedom to estimate it, or fits exactly,
    or scatters by more than MAX_NOISE."""
    if noise is None:
        noise = _residual_noise(fit)
    return SimulationSpec(params=tuple(float(p) for p in fit.params), flops=tuple(float(c) for c in fit.flops),
                          noise=float(noise), law=fit.law.name, seed=seed)


def _residual_noise(fit: FitResult) -> float:
    """sqrt(S / (n - p)), or ValueError when there is no residual, or it is rounding, or too large."""
    dof = fit.n_runs - fit.law.n_params
    if dof <= 0:
        raise argument_error(lambda t: f"family '{fit.family}': {fit.n_runs} runs leave the {fit.law.name} law's "
                                       f"{fit.law.n_params} parameters no residual to estimate the noise from; give "
                                       f"{t.option('noise')}")
    noise = float(np.sqrt(fit.objective / dof))
    if not MIN_FITTED_NOISE <= noise <= MAX_NOISE:
        why = "too little to simulate from (an exact fit)" if noise < MIN_FITTED_NOISE else "more than a law describes"
        raise argument_error(lambda t: f"family '{fit.family}': its runs scatter {noise:.3g} (ln loss) around the "
                                       f"{fit.law.name} fit, {why}; give the noise you expect with {t.option('noise')}")
    return noise


MIN_FITTED_NOISE = 1e-6   # below this the fit is exact to rounding: no noise to plan with


def checkpoint_plan_warnings(runs: pd.DataFrame, family: str) -> list[Message]:
    """A warning when the rows of the family a plan takes its truth from (``runs``) are checkpoints
    of named runs: :func:`spec_from_fit` makes every row a run of its own, drawn with its own
    noise, so the plan simulates n_rows independent runs where the file has n_runs, and its total
    compute is the sum over rows, sum_i C_i, not over the runs' final checkpoints. Its bands then
    come out narrower than such a ladder's (as profile bands of checkpoints do in fit)."""
    from .analysis import has_checkpoints, run_labels

    if not has_checkpoints(runs):
        return []
    labels = run_labels(runs)
    n_runs = len(set(labels))
    finals = runs.groupby(labels)["flops"].max().to_numpy(dtype=float)
    return [message(lambda t: f"family '{family}': its {len(runs)} rows are checkpoints of {n_runs} runs (a run's name "
                              f"repeats at other compute), but the plan simulates each row as a run of its own with "
                              f"noise of its own, so its bands come out narrower than {n_runs} runs give, and its "
                              f"compute counts every checkpoint ({float(runs['flops'].sum()):.3g}, against "
                              f"{finals.sum():.3g} for the runs' final checkpoints); plan from one row per run (e.g. "
                              f"its final checkpoint), or give the runs' computes with {t.option('flops')}")]


def _check_plan(spec: SimulationSpec, multiplier, beyond, claim, level, simulations, extra_runs) -> None:
    """One clear ValueError for arguments that would make the plan meaningless (a ladder too short
    to fit is refused by SimulationSpec itself)."""
    if not spec.noise > 0:
        raise argument_error(lambda t: f"{t.given('noise', spec.noise, 'g')}: planning needs the ladder's seed-to-seed "
                                       "noise, above 0 (e.g. 0.01 for 1%): without noise every simulated band is a "
                                       "single point")
    if not abs(beyond) <= MAX_BEYOND:
        raise argument_error(lambda t: f"{t.given('beyond', beyond, 'g')}: the reference's distance past the ladder "
                                       f"must be a number of decades within +-{MAX_BEYOND:g}")
    if not 0 < multiplier < np.inf:
        raise argument_error(lambda t: f"{t.given('multiplier', multiplier, 'g')}: the true multiplier must be a "
                                       "positive number")
    if not 0 < claim < np.inf:
        raise argument_error(lambda t: f"{t.given('claim', claim, 'g')}: the claimed multiplier must be a positive "
                                       "number")
    check_level(level)
    if simulations < 20:
        raise argument_error(lambda t: f"{t.name('simulations')} {simulations}: must be at least 20")
    top = max(spec.flops)
    with np.errstate(all="ignore"):
        reference = top * 10.0 ** beyond * multiplier
    if not 0 < reference < np.inf:
        raise argument_error(lambda t: f"{t.given('multiplier', multiplier, 'g')}: the reference's compute "
                                       f"({reference:g}) is not a positive float; plan a smaller multiplier or a "
                                       "nearer reference")
    for c in extra_runs or ():
        if not 0 < c < np.inf:
            raise argument_error(lambda t: f"{t.given('extra_runs', c, 'g')}: a run's compute must be a positive "
                                           "number (in the ladder's units)")
        if abs(np.log10(c / top)) > MAX_BEYOND:
            raise argument_error(lambda t: f"{t.given('extra_runs', c, 'g')}: more than {MAX_BEYOND:g} decades from "
                                           f"the ladder's largest run ({top:g}); give it in the ladder's units")


def _extra_run_name(flops: float, top: float, at_top: int = 1) -> str:
    """'+ run at 1e+22 (a second run at the largest compute)' or '(+0.5 decades)'; ``at_top`` runs
    of the ladder are at its largest compute already."""
    decades = np.log10(flops / top)
    nth = {1: "a second", 2: "a third", 3: "a fourth"}.get(at_top, "another")
    where = f"{nth} run at the largest compute" if abs(decades) < 1e-9 else decades_phrase(decades, sign=True)
    return f"+ run at {flops:.3g} ({where})"


def reference_place(beyond: float, flops: Sequence[float]) -> str:
    """Where a reference ``beyond`` decades past the largest of ``flops`` is reached by the focus:
    '1 decade beyond the largest run', 'at the largest run', or for a negative ``beyond`` (its loss
    reached inside the ladder, or below it) 'x decades below the largest run, inside the ladder' or
    'x decades below the smallest run, outside the ladder' ('-5 decades beyond' read as a slip)."""
    if beyond > 0:
        return f"{decades_phrase(beyond)} beyond the largest run"
    if beyond == 0:
        return "at the largest run (0 decades beyond it)"
    below_smallest = np.log10(min(flops) / max(flops)) - beyond
    if below_smallest > 1e-9:
        return f"{decades_phrase(below_smallest)} below the smallest run, outside the ladder"
    if below_smallest > -1e-9:
        return f"at the smallest run ({decades_phrase(-beyond)} below the largest)"
    return f"{decades_phrase(-beyond)} below the largest run, inside the ladder"


def decades_phrase(decades: float, sign: bool = False) -> str:
    """'1 decade', '0.25 decades', '+1.5 decades' (two significant digits)."""
    number = f"{decades:+.2g}" if sign else f"{decades:.2g}"
    return f"{number} decade" if abs(float(number)) == 1 else f"{number} decades"


SECONDS_PER_SIMULATED_RUN = 4e-4   # one core, band of 95% (measured: 200 x 6 designs of 8-9 runs, 4.3 s)


def _design_bands(job) -> np.ndarray:
    """``_simulated_bands`` of one design, using at most ``threads`` threads (None: all cores):
    one in each worker process when the designs are shared among processes."""
    design, seeds, target, ref_flops, level, threads = job
    with core_limit(threads):
        return _simulated_bands(design, seeds, target, ref_flops, level)


def _simulated_bands(design: SimulationSpec, seeds: list[int], target: float, ref_flops: float,
                     level: float) -> np.ndarray:
    """The multiplier band (low, high) of the ladder ``design`` drawn with each seed, (seeds, 2):
    all drawn ladders are fitted, and their compute profiles searched, together."""
    ladders = [focus_ladder(replace(design, seed=s)) for s in seeds]
    fits = fit_ladders(ladders[0][0], np.array([loss for _, loss in ladders]), get_law(design.law))
    deviances = compute_deviances(fits, [target] * len(fits), level, ends_only=True)
    bands = [interval_from_deviance(deviance, level) for deviance in deviances]
    lo, hi = np.array(bands).T
    return np.column_stack([compute_ratio(ref_flops, 10.0 ** hi), compute_ratio(ref_flops, 10.0 ** lo)])


def _summarize(name, extra, total, bands: np.ndarray, multiplier: float, claim: float) -> DesignOutcome:
    low, high = bands[:, 0], bands[:, 1]
    unbounded = (low <= 0) | ~np.isfinite(high)
    with np.errstate(divide="ignore"):
        width = np.where(unbounded, np.inf, high / np.where(low > 0, low, 1.0))
    return DesignOutcome(design=name, extra_flops=extra, total_flops=float(total),
                         median_low=float(np.median(low)), median_high=float(np.median(high)),
                         median_width=float(np.median(width)), unbounded_share=float(unbounded.mean()),
                         claim_supported_share=float((low > claim).mean()),
                         coverage=float(((low <= multiplier) & (multiplier <= high)).mean()))
