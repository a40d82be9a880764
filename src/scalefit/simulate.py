"""Synthetic ladders from a stated truth, written in the same CSV format as real ones.

The truth (law, parameters, run compute, noise, references, seed) is written into the file's
``#`` header as one JSON line, ``# truth: {...}``, so a simulated file explains itself and
:func:`read_truth` recovers it exactly.

Noise is log-normal: L_observed = L_true * exp(N(0, sigma^2)), sigma the relative noise.
A reference placed at true multiplier m, d decades beyond the ladder, is a single run at compute
m * C_F with the focus law's true loss at C_F = (largest run) * 10^d: the focus family reaches the
reference's loss with exactly m times less compute. A second ladder at multiplier m has the focus
law with compute scaled by m, L_G(C) = L_F(C / m), at the same run compute (m at every loss).
References are noiseless unless ``reference_noise`` is set.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import types
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .arguments import FlagTerms, argument_error
from .ladder import LARGEST_LOSS, MAX_COMPUTE_DECADES, SMALLEST_LOSS, runs_a_fit_needs
from .laws import get_law

TRUTH_PREFIX = "truth: "
MAX_NOISE = 1.0     # standard deviation of ln loss: beyond this a draw is mostly noise
MAX_BEYOND = 10.0   # decades between the ladder and a simulated reference
MAX_RUNS = 1_000_000  # runs of one simulated ladder (compute values x repeats): beyond this memory runs out


@dataclass(frozen=True)
class ReferenceSpec:
    """A reference point at true multiplier ``multiplier``, ``beyond`` decades past the ladder."""

    name: str
    multiplier: float
    beyond: float = 1.0


@dataclass(frozen=True)
class SimulationSpec:
    """What a simulated ladder file is drawn from. Parameters are in user units (loss in nats)."""

    params: tuple[float, ...]
    flops: tuple[float, ...]
    noise: float = 0.01
    law: str = "saturating"
    seed: int = 0
    family: str = "focus"
    references: tuple[ReferenceSpec, ...] = ()
    second_ladder: float | None = None   # true multiplier of a second ladder 'other', if any
    reference_noise: float = 0.0
    repeats: int = 1                     # runs (seeds) per compute value

    def __post_init__(self):
        law = get_law(self.law)
        if len(self.params) != law.n_params:
            raise ValueError(f"the {self.law} law takes {law.n_params} parameters {law.param_names}, "
                             f"got {len(self.params)}")
        values = dict(zip(law.param_names, self.params))
        if not all(np.isfinite(v) for v in self.params) or values.get("E", 0.0) < 0 or \
                any(v <= 0 for name, v in values.items() if name != "E"):
            shown = ", ".join(f"{name}={v:g}" for name, v in values.items())
            raise ValueError(f"params {shown}: need finite numbers, E >= 0 and the others > 0")
        if len(self.flops) < 2 or not all(0 < c < np.inf for c in self.flops):
            raise ValueError("flops: a ladder needs at least 2 runs at positive, finite compute")
        self._check_fittable(law)
        if not 1 <= self.repeats <= MAX_RUNS // len(self.flops):
            raise ValueError(f"repeats {self.repeats}: {len(self.flops)} compute values x {self.repeats} runs each "
                             f"must make at most {MAX_RUNS:,} runs; give fewer repeats")
        if np.log10(max(self.flops) / min(self.flops)) > MAX_COMPUTE_DECADES:
            raise ValueError(f"flops: the runs span more than {MAX_COMPUTE_DECADES} decades of compute, which a "
                             "ladder file may not")
        with np.errstate(all="ignore"):
            true = self.true_loss(np.asarray(self.flops, dtype=float))
        if not np.all((true >= SMALLEST_LOSS) & (true <= LARGEST_LOSS)):
            raise ValueError(f"params: the true loss of the runs goes from {np.min(true):.3g} to {np.max(true):.3g} "
                             f"nats per token, outside what a ladder file may hold ({SMALLEST_LOSS:g} to "
                             f"{LARGEST_LOSS:g}); choose parameters for losses of order 1")
        from .analysis import check_seed
        check_seed(self.seed)
        for name, value in (("noise", self.noise), ("reference noise", self.reference_noise)):
            if not 0 <= value <= MAX_NOISE:
                raise ValueError(f"{name} {value:g}: must be between 0 and {MAX_NOISE:g} (the standard deviation "
                                 "of ln loss: 0.01 is 1%)")
        if self.second_ladder is not None and not 0 < self.second_ladder < np.inf:
            raise argument_error(lambda t: f"{t.given('second_ladder', self.second_ladder, 'g')}: its true multiplier "
                                           "must be a positive number")
        for ref in self.references:
            self._check_reference(ref)
        names = [self.family] + (["other"] if self.second_ladder is not None else []) + [r.name for r in self.references]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            ladders = f"'{self.family}'" + (" and 'other'" if self.second_ladder is not None else "")
            raise argument_error(lambda t: f"family name '{clash[0]}' is used twice (ladders: {ladders}); give each "
                                           "reference a name of its own, as in "
                                           + ("--reference NAME=M@D" if t is FlagTerms else "ReferenceSpec(name=...)"))

    def _check_fittable(self, law) -> None:
        """The ladder must be one :func:`scalefit.analyze` (``scalefit fit``) can fit (check_fittable's
        counts): --flops 1e19,1e19,1e19 wrote a file of runs at one compute that fit then refused."""
        need_runs, need_distinct = runs_a_fit_needs(law.n_params)
        distinct, runs = len(set(self.flops)), len(self.flops) * self.repeats
        fitting = f"fitting the {self.law} law ({law.n_params} parameters) needs"
        if distinct < need_distinct:
            raise argument_error(lambda t: f"{t.name('flops')}: the runs are at {distinct} distinct compute "
                                           f"value{'s' * (distinct > 1)}; {fitting} {need_distinct} or more, as "
                                           f"{t.tool('analyze', 'fit')} does (repeats at one compute are seeds, not "
                                           "new points)")
        if runs < need_runs:
            raise argument_error(lambda t: f"{t.name('flops')}: {runs} runs; {fitting} {need_runs} or more, as "
                                           f"{t.tool('analyze', 'fit')} does (a residual for the noise): give more "
                                           "compute values or repeats")

    def _check_reference(self, ref: ReferenceSpec) -> None:
        if not ref.name.strip() or ref.name.lstrip().startswith("#") or "\n" in ref.name or "\r" in ref.name:
            raise ValueError(f"reference name {ref.name!r}: give a name on one line, not starting with '#'")
        if not 0 < ref.multiplier < np.inf:
            raise ValueError(f"reference {ref.name}: its true multiplier {ref.multiplier:g} must be a positive number")
        if not abs(ref.beyond) <= MAX_BEYOND:
            raise ValueError(f"reference {ref.name}: {ref.beyond:g} decades beyond the ladder; give a number of "
                             f"decades within +-{MAX_BEYOND:g}")
        with np.errstate(all="ignore"):
            compute, loss = self.reference_truth(ref)
        if not (0 < compute < np.inf and 0 < loss < np.inf):
            raise ValueError(f"reference {ref.name}: its compute ({compute:g}) or true loss ({loss:g}) is not a "
                             "positive float; place it nearer the ladder")

    def true_loss(self, flops):
        return get_law(self.law).predict(np.asarray(self.params, dtype=float), flops)

    def reference_truth(self, ref: ReferenceSpec) -> tuple[float, float]:
        """(compute, true loss) of a reference point."""
        focus_flops = max(self.flops) * 10.0 ** ref.beyond
        return ref.multiplier * focus_flops, float(self.true_loss(focus_flops))

    def to_json(self) -> str:
        out = asdict(self)
        out["params"] = dict(zip(get_law(self.law).param_names, self.params))
        return json.dumps(out, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "SimulationSpec":
        raw = json.loads(text)
        names = get_law(raw["law"]).param_names
        raw["params"] = tuple(float(raw["params"][n]) for n in names)
        raw["flops"] = tuple(float(c) for c in raw["flops"])
        raw["references"] = tuple(ReferenceSpec(**r) for r in raw["references"])
        return cls(**raw)


def simulate(spec: SimulationSpec) -> pd.DataFrame:
    """Draw one ladder (and its references) from ``spec``: a DataFrame with family, run, flops, loss."""
    rng = np.random.default_rng(spec.seed)
    flops, loss = _draw_ladder(spec, rng)
    rows = _ladder_rows(spec.family, flops, loss)
    if spec.second_ladder is not None:
        rows += _ladder_rows("other", *_draw_ladder(spec, rng, spec.second_ladder))
    for ref in spec.references:
        c, loss = spec.reference_truth(ref)
        loss *= math.exp(rng.normal(0.0, spec.reference_noise)) if spec.reference_noise else 1.0
        rows.append({"family": ref.name, "run": ref.name, "flops": c, "loss": loss})
    return pd.DataFrame(rows)


def focus_ladder(spec: SimulationSpec) -> tuple[np.ndarray, np.ndarray]:
    """(flops, loss) of the focus ladder exactly as ``simulate(spec)`` draws it, without the frame:
    for simulation studies that draw thousands of ladders."""
    return _draw_ladder(spec, np.random.default_rng(spec.seed))


def _draw_ladder(spec: SimulationSpec, rng, multiplier: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A ladder that needs ``multiplier`` times the truth's compute: L = L_true(C / multiplier) exp(noise)."""
    flops = np.repeat(np.asarray(spec.flops, dtype=float), spec.repeats)
    return flops, spec.true_loss(flops / multiplier) * np.exp(rng.normal(0.0, spec.noise, flops.size))


def _ladder_rows(family, flops, loss) -> list[dict]:
    return [{"family": family, "run": f"{family}-{i + 1:02d}", "flops": c, "loss": l}
            for i, (c, l) in enumerate(zip(flops, loss))]


def simulated_csv(spec: SimulationSpec) -> str:
    """The CSV text of one simulated ladder, with the truth in its header."""
    frame = simulate(spec)
    lines = ["# SIMULATED ladder (made up by scalefit simulate, not measurements).",
             f"# law {spec.law}: {get_law(spec.law).formula}; log-normal relative noise {spec.noise:g}; "
             f"seed {spec.seed}",
             f"# {TRUTH_PREFIX}{spec.to_json()}",
             "family,run,flops,loss"]
    rows = io.StringIO()
    csv.writer(rows, lineterminator="\n").writerows(
        (r.family, r.run, repr(r.flops), repr(r.loss)) for r in frame.itertuples())
    return "\n".join(lines) + "\n" + rows.getvalue()


def read_truth(path) -> SimulationSpec:
    """The truth written into a simulated file's header."""
    for line in Path(path).read_text().splitlines():
        stripped = line.lstrip("#").strip()
        if line.startswith("#") and stripped.startswith(TRUTH_PREFIX):
            return SimulationSpec.from_json(stripped[len(TRUTH_PREFIX):])
    raise ValueError(f"{path}: no '# {TRUTH_PREFIX}...' line; not a file written by scalefit simulate")


class _CallableModule(types.ModuleType):
    """This module, which called runs :func:`simulate`: ``scalefit.simulate`` names both, and Python
    binds a package's submodule over a function of the same name once the submodule is imported, so
    ``scalefit.simulate(spec)`` worked only until then."""

    def __call__(self, spec: SimulationSpec) -> pd.DataFrame:
        """Draw one ladder from ``spec``: :func:`simulate`."""
        return simulate(spec)


sys.modules[__name__].__class__ = _CallableModule
