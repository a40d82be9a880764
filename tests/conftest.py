"""Shared test set-up. Hypothesis profiles: CI (CI=true) replays the same examples every run
(derandomized), so a submission's result does not depend on luck; local runs explore new examples
each time. The progress_bars fixture records the CLI's progress bars; checkpoint_ladder is a made-up
file of checkpoints; reference_data() is where the published reference data is looked for;
load_script(path) loads a script of analyses/ or benchmarks/ as a module."""

import contextlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Each of pytest-xdist's workers (one per core) runs BLAS on one thread: two workers with two BLAS
    # threads each oversubscribed two cores, and the tests of scipy's L-BFGS-B ran 3x slower
    import scipy.linalg  # noqa: F401  (load scipy's BLAS too, so that the limit covers it)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parent.parent

# The tests that check an optimum against a slow reference path (dozens of scipy starts per example,
# up to a few seconds each) run few examples, to keep the suite short; SCALEFIT_STRESS=k multiplies
# them for a deep run by hand (e.g. SCALEFIT_STRESS=20 python -m pytest tests/test_engine_agreement.py).
STRESS = int(os.environ.get("SCALEFIT_STRESS", "1"))


def reference_data() -> Path:
    """The published reference data, where the analyses look for it: the folder the environment
    variable SCALEFIT_REFERENCE_DATA names, else ../shared/reference-data beside the project. Never
    copied into the project; the tests that read it skip when it is absent."""
    return Path(os.environ.get("SCALEFIT_REFERENCE_DATA", ROOT.parent / "shared" / "reference-data"))


def load_script(path: Path):
    """A script of analyses/ or benchmarks/ (not a package) loaded as a module named by its file,
    to test its functions without running it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def progress_bars(monkeypatch):
    """The progress bars the CLI opens, recorded instead of drawn: a list of (total, label, ticks),
    ticks being the steps each bar was advanced by."""
    import scalefit.cli as cli

    bars = []

    @contextlib.contextmanager
    def recording(total, label):
        ticks = []
        bars.append((total, label, ticks))
        yield ticks.append

    monkeypatch.setattr(cli, "_progress", recording)
    return bars


@pytest.fixture
def checkpoint_ladder() -> pd.DataFrame:
    """Made up: 6 runs of 10 checkpoints each (overlapping in compute) of the saturating law
    E = 1.8, A = 1000, alpha = 0.15, with a 3% offset per run shared by its checkpoints and 0.2%
    scatter between checkpoints (seed 7)."""
    rng = np.random.default_rng(7)
    rows = []
    for size in range(6):
        offset = np.exp(rng.normal(0, 0.03))
        for step in range(10):
            c = 1e19 * 10 ** (0.6 * size) * 1.25 ** step
            rows.append(("f", f"run{size}", c, (1.8 + 1e3 * c ** -0.15) * offset * np.exp(rng.normal(0, 0.002))))
    return pd.DataFrame(rows, columns=["family", "run", "flops", "loss"])
