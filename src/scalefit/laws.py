"""Laws of loss against training compute, with closed-form inversion.

Parameters are arrays whose last axis holds the law's parameters in the user's units (compute in
the units of the ladder file, loss in nats per token), so every function here broadcasts over
bootstrap resamples. Arithmetic goes through logarithms so that A * C^(-alpha) does not overflow
for large compute.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Law:
    """A law L(C) with named parameters; subclasses define predict and invert."""

    name: str
    formula: str
    param_names: tuple[str, ...]

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def n_free(self) -> int:
        """Parameters the fit estimates (``n_params`` less those held fixed): the residual degrees
        of freedom of n runs are n - n_free."""
        return self.n_params

    @property
    def fixed(self) -> dict[str, float]:
        """Parameters held at given values instead of fitted, by name."""
        return {}

    def predict(self, params, flops):  # pragma: no cover - abstract
        raise NotImplementedError

    def invert(self, params, loss):  # pragma: no cover - abstract
        raise NotImplementedError

    def irreducible(self, params) -> np.ndarray:
        """The loss approached as compute grows without bound."""
        return np.zeros(np.shape(params)[:-1])


@dataclass(frozen=True)
class SaturatingLaw(Law):
    """L(C) = E + A * C^(-alpha), with E >= 0 the irreducible loss.

    ``fixed_E``: hold E at this loss (nats) and fit A and alpha only (:meth:`with_fixed_E`). A short
    ladder often cannot tell E from A and alpha; fixing E (from a larger study of the same data)
    steadies them, and every band then assumes that E is exactly right.
    """

    name: str = "saturating"
    formula: str = "L(C) = E + A * C^(-alpha)"
    param_names: tuple[str, ...] = ("E", "A", "alpha")
    fixed_E: float | None = None

    def __post_init__(self):
        if self.fixed_E is None:
            if self.formula.startswith(f"{SaturatingLaw.formula}, E fixed at"):    # with_fixed_E(None)
                object.__setattr__(self, "formula", SaturatingLaw.formula)
            return
        try:
            if isinstance(self.fixed_E, (bool, np.bool_)):
                raise TypeError("a truth value is not a loss")
            value = float(self.fixed_E)
        except (TypeError, ValueError):
            raise ValueError(f"fixed E {self.fixed_E!r}: the irreducible loss must be a finite number >= 0 "
                             "(nats)") from None
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"fixed E {value:g}: the irreducible loss must be a finite number >= 0 (nats)")
        object.__setattr__(self, "fixed_E", value)
        object.__setattr__(self, "formula", f"{SaturatingLaw.formula}, E fixed at {value:.6g}")

    def with_fixed_E(self, value: float) -> "SaturatingLaw":
        """This law with E held at ``value`` (nats per token, finite, >= 0)."""
        return replace(self, fixed_E=value)

    @property
    def n_free(self) -> int:
        return self.n_params - (self.fixed_E is not None)

    @property
    def fixed(self) -> dict[str, float]:
        return {} if self.fixed_E is None else {"E": self.fixed_E}

    def predict(self, params, flops):
        """L = E + exp(ln A - alpha ln C)."""
        params = np.asarray(params, dtype=float)
        E, A, alpha = (params[..., i, None] for i in range(3))
        out = E + np.exp(np.log(A) - alpha * np.log(np.asarray(flops, dtype=float)))
        return _squeeze_scalar(out, flops)

    def invert(self, params, loss):
        """C(L) = ((L - E) / A)^(-1/alpha); +inf where L <= E (the loss is unreachable)."""
        params = np.asarray(params, dtype=float)
        E, A, alpha = (params[..., i, None] for i in range(3))
        loss = np.asarray(loss, dtype=float)
        gap = loss - E
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_c = (np.log(A) - np.log(np.where(gap > 0, gap, 1.0))) / alpha
            out = np.where(gap > 0, np.exp(log_c), np.inf)
        return _squeeze_scalar(out, loss)

    def irreducible(self, params) -> np.ndarray:
        return np.asarray(params, dtype=float)[..., 0]


@dataclass(frozen=True)
class PowerLaw(Law):
    """L(C) = A * C^(-alpha): no irreducible loss, every positive loss is reachable."""

    name: str = "power"
    formula: str = "L(C) = A * C^(-alpha)"
    param_names: tuple[str, ...] = ("A", "alpha")

    def predict(self, params, flops):
        """L = exp(ln A - alpha ln C)."""
        params = np.asarray(params, dtype=float)
        A, alpha = (params[..., i, None] for i in range(2))
        out = np.exp(np.log(A) - alpha * np.log(np.asarray(flops, dtype=float)))
        return _squeeze_scalar(out, flops)

    def invert(self, params, loss):
        """C(L) = (L / A)^(-1/alpha); +inf for every L when alpha <= 0 (a flat or rising fit
        reaches no lower loss; analyze warns of such ladders)."""
        params = np.asarray(params, dtype=float)
        A, alpha = (params[..., i, None] for i in range(2))
        loss = np.asarray(loss, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.exp((np.log(A) - np.log(loss)) / alpha)
            out = np.where(alpha > 0, out, np.inf)
        return _squeeze_scalar(out, loss)


def _squeeze_scalar(out, like):
    """Drop the broadcast axis when the compute/loss argument was a scalar."""
    out = np.asarray(out)
    if np.ndim(like) == 0:
        out = out[..., 0]
    return out[()] if out.ndim == 0 else out


LAWS: dict[str, Law] = {"saturating": SaturatingLaw(), "power": PowerLaw()}


LAW_NAMES = ("saturating", "power", "chinchilla")


def get_law(name: str) -> Law:
    """A law by name, in any case; the two-variable 'chinchilla' law lives in :mod:`scalefit.chinchilla`."""
    if isinstance(name, str):
        name = name.strip().lower()
    if name == "chinchilla":
        from .chinchilla import ChinchillaLaw
        return ChinchillaLaw()
    try:
        return LAWS[name]
    except KeyError:
        raise ValueError(f"unknown law '{name}'; choose one of: {', '.join(LAW_NAMES)}") from None
