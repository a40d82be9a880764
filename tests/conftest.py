"""Hypothesis profiles: CI (CI=true) replays the same examples every run (derandomized), so a
submission's result does not depend on luck; local runs explore new examples each time."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
