"""scalefit: scaling-law fits, equivalent-compute multipliers and uncertainty bands.

The public API is imported lazily so that ``scalefit --help`` starts fast::

    import scalefit
    ladder = scalefit.read_ladder("data/ladders/muse.csv")
    result = scalefit.analyze(ladder, law="saturating", bootstrap=1000, seed=0)
    print(result.summary())
    result.multipliers_frame()
"""

__version__ = "0.1.0"

_EXPORTS = {
    "read_ladder": "ladder", "Ladder": "ladder", "LadderError": "ladder",
    "get_law": "laws", "LAWS": "laws", "SaturatingLaw": "laws", "PowerLaw": "laws",
    "fit_law": "fitting", "fit_many": "fitting", "FitResult": "fitting",
    "bootstrap_family": "uncertainty", "percentile_band": "uncertainty", "BootstrapFits": "uncertainty",
    "multiplier_at": "efficiency", "Multiplier": "efficiency",
    "analyze": "analysis", "Analysis": "analysis", "FamilyFit": "analysis", "ExtrapolationWarning": "analysis",
    "to_dict": "formatting", "to_json": "formatting", "to_csv": "formatting", "format_table": "formatting",
    "ChinchillaLaw": "chinchilla", "fit_chinchilla": "chinchilla", "optimal_report": "allocation",
    "SimulationSpec": "simulate", "ReferenceSpec": "simulate", "simulated_csv": "simulate", "read_truth": "simulate",
    "simulate": "simulate", "plan_ladder": "planning",
    "FIGURES": "plots", "FigureOptions": "plots", "save_figure": "plots", "render_report": "report",
    "backtest": "backtesting", "Backtest": "backtesting",
    "compare_shared": "shared", "SharedComparison": "shared",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

# The commands whose Python function has another name, for the error of ``scalefit.plan(...)`` and
# the like: a user who knows the commands tries their names first ('backtest' and 'simulate' match)
COMMAND_FUNCTIONS = {"fit": "scalefit.analyze", "compare": "scalefit.compare_shared",
                     "optimal": "scalefit.optimal_report", "plan": "scalefit.plan_ladder",
                     "plot": "scalefit.FIGURES[kind](result)", "report": "scalefit.render_report"}


def __dir__():
    """The public API too (it is imported lazily), so that tab completion and help() list it."""
    return sorted(set(globals()) | set(__all__))


def __getattr__(name):
    if name in _EXPORTS:
        import importlib
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        # ``simulate`` names a module and its function: importing the module binds it here, so it is
        # always the module, which calls its function when called (see scalefit.simulate)
        return module if name == _EXPORTS[name] else getattr(module, name)
    if name in COMMAND_FUNCTIONS:
        raise AttributeError(f"module 'scalefit' has no attribute {name!r}; the command 'scalefit {name}' is "
                             f"{COMMAND_FUNCTIONS[name]} in Python (see README, 'Python API')")
    raise AttributeError(f"module 'scalefit' has no attribute {name!r}")
