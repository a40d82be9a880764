"""The Python API as a notebook uses it: names that resolve to what they say, arguments checked
with one clear message, figures saved at the size they were drawn."""

import subprocess
import sys

import pandas as pd
import pytest

import scalefit
from scalefit.simulate import SimulationSpec

SPEC = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22), noise=0.01, seed=3)


def test_scalefit_simulate_stays_callable_after_its_module_is_imported():
    """The first access gave the function and bound the submodule over it: the second call failed
    with "'module' object is not callable"."""
    first, second = scalefit.simulate(SPEC), scalefit.simulate(SPEC)
    pd.testing.assert_frame_equal(first, second)
    from scalefit.simulate import simulate
    pd.testing.assert_frame_equal(first, simulate(SPEC))


def test_scalefit_simulate_in_a_fresh_interpreter_is_callable_and_a_module():
    code = ("import scalefit\n"
            "from scalefit.simulate import SimulationSpec\n"
            "spec = SimulationSpec(params=(1.8, 1000.0, 0.15), flops=(1e19, 1e20, 1e21, 1e22))\n"
            "a = scalefit.simulate(spec); b = scalefit.simulate(spec)\n"
            "import scalefit.simulate as module\n"
            "assert module.read_truth is scalefit.read_truth and a.equals(b)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
