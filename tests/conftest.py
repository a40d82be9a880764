"""Shared test set-up. Hypothesis profiles: CI (CI=true) replays the same examples every run
(derandomized), so a submission's result does not depend on luck; local runs explore new examples
each time. The progress_bars fixture records the CLI's progress bars."""

import contextlib
import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")



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
