"""Command line: parse, call the library, format. Heavy imports happen inside commands."""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import sys
import tempfile
import warnings
from dataclasses import replace

import click

from . import __version__
from .arguments import MAX_AXIS_VALUE, MAX_XLIM_DECADES, axis_limits_fault
from .outputs import is_stream, write_output

MAX_INCHES = 25.0          # plotnine's limit on a figure's side
MAX_PIXELS = 200e6         # of a PNG figure: about 1 GB of memory to render
MAX_RESAMPLES = 1_000_000  # bootstrap resamples: beyond this the arrays outgrow memory
MAX_HUBER_DELTA = 10.0     # chinchilla.MAX_HUBER_DELTA, not imported here (numpy at start-up)


class FiniteFloat(click.FloatRange):
    """click.FloatRange that also refuses nan and inf (a range check lets nan through)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.min is None and self.max is None:
            self.name = "float"          # shown as FLOAT, not FLOAT RANGE

    def _describe_range(self) -> str:
        """The range for --help; none for an unbounded one (click would print 'x<=None')."""
        return "" if self.min is None and self.max is None else super()._describe_range()


class ComputeList(click.ParamType):
    """'1e24' or '1e23,1e24': positive, finite compute values (the same list form as simulate's and
    plan's --flops; a comma list was refused as 'not a valid float')."""

    name = "C[,C...]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        text = str(value)
        try:
            values = tuple(_flops_entry(text, i, entry) for i, entry in
                           _list_entries("--flops", text, "compute values", "1e23,1e24"))
        except InputError as exc:
            self.fail(str(exc).removeprefix("--flops "), param, ctx)
        for v in values:
            if not (0 < v < float("inf")):
                self.fail(f"{text}: a compute budget must be a positive, finite number ({v:g} is not)", param, ctx)
        return values


class ParamsTokens(click.ParamType):
    """'N,D': a parameter count and a token count, both positive and finite."""

    name = "N,D"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            n, d = (float(x) for x in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r}: write the parameter and token counts as N,D, e.g. 7e9,1.4e11", param, ctx)
        if not (0 < n < math.inf and 0 < d < math.inf):
            self.fail(f"{value!r}: parameters and tokens must be positive, finite numbers", param, ctx)
        return n, d


EXIT_BAD_INPUT = 2
MAX_RUNS = 1_000_000  # runs a simulated ladder may have (--flops START:STOP:COUNT)


class InputError(click.ClickException):
    """Bad data or bad usage found after parsing: one line on stderr, exit code 2."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None):
        click.echo(f"scalefit: error: {self.format_message()}", err=True)


class _OneLineErrors(click.Group):
    """click's group, with usage errors (an unknown option, a value out of range, a missing file
    argument) on one line like every other error, instead of click's usage block."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        # numpy's overflow and invalid-value notices from inside the fits (where a trial step or a
        # grid point overflows and is discarded) are not the user's business: results are checked,
        # and problems reported, in scalefit's own one-line messages
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._main(args, prog_name, complete_var, standalone_mode, **extra)

    def _main(self, args, prog_name, complete_var, standalone_mode, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:     # 'scalefit' alone: its help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "scalefit"
            click.echo(f"scalefit: error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(name="scalefit", cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scalefit")
def main():
    """Fit scaling laws to training ladders and compare recipes by equivalent compute."""


# options of the commands that fit a ladder file (fit, backtest): one definition each
LAW_OPTION = click.option(
    "--law", type=click.Choice(["saturating", "power", "chinchilla"]), default="saturating", show_default=True,
    help="saturating: L = E + A*C^-alpha; power: L = A*C^-alpha; chinchilla: L = E + A/N^alpha + B/D^beta "
         "(needs a params column, and tokens or flops).")
BAND_METHOD_OPTION = click.option(
    "--band-method", type=click.Choice(["auto", "profile", "percentile"]), default="auto", show_default=True,
    help="profile: profile-likelihood bands (calibrated, see README); percentile: bootstrap over runs; "
         "auto: profile for compute laws, percentile for chinchilla and for files of checkpoints.")
AT_FLOPS_OPTION = click.option("--at-flops", "at_flops", type=FiniteFloat(min=0, min_open=True), multiple=True,
                               help="Also predict each family's loss at this compute, with its band (chinchilla: on "
                                    "the compute-optimal frontier); repeatable.")
AT_PARAMS_TOKENS_OPTION = click.option(
    "--at-params-tokens", "at_params_tokens", type=ParamsTokens(), multiple=True,
    help="Chinchilla law: also predict L(N, D) at N parameters and D tokens, written N,D; repeatable.")
FOCUS_OPTION = click.option("--focus", default=None, help="Family compared against all others [default: the family "
                            "with most runs, the first in the file on a tie].")
HUBER_OPTION = click.option("--huber-delta", type=FiniteFloat(min=0, min_open=True, max=MAX_HUBER_DELTA), default=1e-3,
                            show_default=True,
                            help="Huber delta of the chinchilla law's objective (on ln-loss residuals; 10 or less, "
                                 "above which it is least squares).")
K_OPTION = click.option("--flops-per-param-token", "k", type=FiniteFloat(min=0, min_open=True), default=6.0,
                        show_default=True, help="C = k N D for the chinchilla law's compute-optimal frontier.")
BOOTSTRAP_OPTION = click.option("--bootstrap", type=click.IntRange(min=0, max=MAX_RESAMPLES), default=1000,
                                show_default=True, help="Resamples of runs for percentile bands; 0 fits without any bands.")
LEVEL_OPTION = click.option("--level", type=FiniteFloat(0, 1, min_open=True, max_open=True), default=0.95,
                            show_default=True, help="Band coverage.")
SEED_OPTION = click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                           help="Seed of the bootstrap.")
WORKERS_OPTION = click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Cores to use: processes sharing the bootstrap resamples, threads sharing the profile grids of long "
         "ladders [default: all cores when that pays]; results are the same for any number.")
FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
                             show_default=True, help="table to read; json or csv for programs.")
# fit's JSON has its schema in the README (backtest's, compare's and plan's are their tables' fields)
FIT_FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
                                 show_default=True,
                                 help="table to read; json or csv for programs (README: JSON output).")
OUTPUT_OPTION = click.option("--output", "-o", default=None, help="Write the result to this file instead of stdout.")
FIX_E_OPTION = click.option(
    "--fix-e", "fix_e", type=FiniteFloat(min=0), default=None, metavar="LOSS",
    help="Hold the saturating law's irreducible loss E at LOSS (nats; ln of a perplexity) for every family instead "
         "of fitting it. Steadies A and alpha on a short ladder; bands then assume this E exactly.")


def _band_options(f):
    """--fix-e, --band-method, --huber-delta, --flops-per-param-token, --bootstrap, --level, --seed."""
    for option in reversed([FIX_E_OPTION, BAND_METHOD_OPTION, HUBER_OPTION, K_OPTION, BOOTSTRAP_OPTION, LEVEL_OPTION,
                            SEED_OPTION]):
        f = option(f)
    return f


@main.command()
@click.argument("ladder_csv", metavar="LADDER.csv")
@LAW_OPTION
@FOCUS_OPTION
@_band_options
@click.option("--at-loss", "at_loss", type=float, multiple=True,
              help="Extra target loss (nats/token) for ladder-vs-ladder multipliers; repeatable.")
@click.option("--at-perplexity", "at_perplexity", type=float, multiple=True,
              help="Extra target perplexity (converted to loss = ln perplexity); repeatable.")
@AT_FLOPS_OPTION
@AT_PARAMS_TOKENS_OPTION
@WORKERS_OPTION
@FIT_FORMAT_OPTION
@OUTPUT_OPTION
def fit(ladder_csv, law, focus, fix_e, band_method, huber_delta, k, bootstrap, level, seed, at_loss, at_perplexity,
        at_flops,
        at_params_tokens, fmt, output, workers):
    """Fit a law per family and print equivalent-compute multipliers with bands.

    LADDER.csv has one row per run: family, flops (or params and tokens), loss (or perplexity).
    """
    from .formatting import format_table, to_csv, to_json

    targets = _target_losses(at_loss, at_perplexity)
    if fmt == "csv" and (at_flops or at_params_tokens):
        raise InputError("--format csv writes one table, the multipliers; predictions (--at-flops, "
                         "--at-params-tokens) are printed with --format table or json")
    _check_output_path(output, ladder_csv)
    result = _run_analysis(ladder_csv, _law_from_options(law, huber_delta, k, fix_e), focus, band_method, bootstrap,
                           level, seed, targets, workers, at_flops, at_params_tokens)
    from .arguments import in_flags
    render = {"table": lambda r: format_table(r, flags=True), "json": lambda r: to_json(in_flags(r)),
              "csv": to_csv}[fmt]
    _emit(render(result), output)


@main.command()
@click.argument("ladder_csv", metavar="LADDER.csv")
@LAW_OPTION
@click.option("--hold-out", "hold_out", type=click.IntRange(min=1, max=100), default=1, show_default=True,
              help="Hold out each family's runs at its K largest compute values.")
@_band_options
@WORKERS_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
@click.option("--figure", default=None,
              help="Also draw each fit carried out to its held-out runs (.png, .svg or .pdf; compute laws).")
def backtest(ladder_csv, law, hold_out, fix_e, band_method, huber_delta, k, bootstrap, level, seed, workers, fmt,
             output, figure):
    """Fit each family without its largest runs and predict them: errors and band coverage.

    Judges the law by how it extrapolates on your own ladder: each family is fitted as `fit` fits
    it, to its runs below its --hold-out largest compute values, and predicts the held-out runs.
    """
    from .arguments import ArgumentError
    from .backtesting import backtest as run_backtest
    from .formatting import backtest_to_csv, backtest_to_json, format_backtest
    from .ladder import LadderError, read_ladder

    _check_output_path(output, ladder_csv)
    if figure is not None:
        _check_figure_path(figure, ladder_csv, output)
        if law == "chinchilla":
            raise InputError("--figure draws compute laws: an L(N, D) prediction sits at each run's own N and D, "
                             "off any one curve (the table shows them)")
    law = _law_from_options(law, huber_delta, k, fix_e)
    try:
        ladder = read_ladder(ladder_csv)
        total, label = _backtest_steps(ladder, law, hold_out, band_method, bootstrap)
        with _progress(total, label) as tick:
            result = run_backtest(ladder, law=law, hold_out=hold_out, level=level, band_method=band_method,
                                  bootstrap=bootstrap, seed=seed, workers=workers, progress=tick)
    except LadderError as exc:
        raise InputError(str(exc)) from None
    except ArgumentError as exc:       # --band-method profile with --law chinchilla, as the library names it
        raise InputError(exc.flags) from None
    render = {"table": format_backtest, "json": backtest_to_json, "csv": backtest_to_csv}[fmt]
    _emit_result(result, render, output, figure, "backtest")


@main.command()
@click.argument("ladder_csv", metavar="LADDER.csv")
@click.option("--focus", default=None, help="Family whose savings are reported [default: the family with most runs, "
                                            "the first in the file on a tie].")
@LEVEL_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
@click.option("--figure", default=None,
              help="Also draw the runs and the shared law, against compute and against compute / M (.png, .svg, .pdf).")
def compare(ladder_csv, focus, level, fmt, output, figure):
    """Fit the ladder families with one law up to a compute factor each: one saving per family.

    L_f(C) = E + A (C / M_f)^-alpha with E and alpha shared: the focus needs M_f times less compute
    than family f at every loss. Profile-likelihood bands, and an F test against separate laws.
    """
    from .formatting import format_shared, shared_to_csv, shared_to_json
    from .ladder import LadderError, read_ladder
    from .shared import compare_shared

    _check_output_path(output, ladder_csv)
    if figure is not None:
        _check_figure_path(figure, ladder_csv, output)
    try:
        ladder = read_ladder(ladder_csv)
        with _progress(len(ladder.ladder_families()) - 1, "bands") as tick:
            result = compare_shared(ladder, focus=focus, level=level, progress=tick)
    except LadderError as exc:         # with the command's terms when it carries them (FewLaddersError)
        raise InputError(getattr(exc, "flags", str(exc))) from None
    render = {"table": lambda c: format_shared(c, flags=True), "json": shared_to_json, "csv": shared_to_csv}[fmt]
    _emit_result(result, render, output, figure, "shared")


def _emit_result(result, render, output: str | None, figure: str | None, kind: str) -> None:
    """The result's warnings on stderr, its figure ``kind`` when --figure asks for one, then the
    rendered result on stdout or --output."""
    from .arguments import in_flags
    unused = _unused_bootstrap(result.band_method) if kind == "backtest" else []
    _echo_warnings(list(result.warnings) + unused)
    if figure is not None:
        _emit_bytes(_figure_bytes(kind, result, figure), figure)
        click.echo(f"scalefit: wrote {figure}", err=True)
    _emit(render(in_flags(result)), output)


def _echo_warnings(warnings) -> None:
    """Each warning on stderr, in the command's terms (its flags: 'try --law saturating')."""
    from .arguments import FlagTerms
    for warning in warnings:
        click.echo(f"scalefit: warning: {FlagTerms.text(warning)}", err=True)


def _check_figure_path(figure: str, ladder_csv: str, output: str | None) -> None:
    """--figure names a .png, .svg or .pdf file that is neither the input nor --output (the result,
    written after the figure, would replace it)."""
    if os.path.splitext(figure)[1].lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"--figure {figure}: the figure's file name must end in .png, .svg or .pdf")
    _check_output_path(figure, ladder_csv, option="--figure")
    if output is not None and _same_target(figure, output):
        raise InputError(f"--figure {figure}: is also the --output file {output}, which the result would "
                         "replace the figure with; give them different names")


def _backtest_steps(ladder, law, hold_out: int, band_method: str, bootstrap: int) -> tuple[int, str]:
    """The backtest's progress bar: resamples of every refitted family for percentile bands, or
    the steps of its profile bands (none for a short ladder: they take about a second)."""
    from .analysis import resolve_band_method
    from .backtesting import profile_steps
    if resolve_band_method(band_method, law, ladder) == "percentile":
        return bootstrap * _families_to_hold_out(ladder, hold_out), "bootstrap"
    if bootstrap == 0 or len(ladder.runs) < PROFILE_PROGRESS_RUNS:
        return 0, "bands"
    return profile_steps(ladder, hold_out), "bands"


def _families_to_hold_out(ladder, hold_out: int) -> int:
    """Ladder families with more compute values (of their runs' ends) than --hold-out: those the
    backtest refits."""
    from .backtesting import split_held_out
    return sum(not split_held_out(ladder.family_runs(f), hold_out)[0].empty for f in ladder.ladder_families())


def _figure_bytes(kind: str, result, figure: str) -> bytes:
    """The file bytes of the figure ``kind`` ("backtest" or "shared", scalefit.plots.<kind>_figure)
    of ``result``; a failure inside the plotting stack as one line."""
    from . import plots
    steps = 0
    if kind == "backtest" and len(result.ladder.runs) >= PROFILE_PROGRESS_RUNS:
        steps = sum(plots.band_steps(training) for training in result.training.values())
    try:
        with _progress(steps, "figure") as tick:
            # each at its natural size, as from Python: one column for the backtest, two for the
            # shared-law figure's two panels, taller for legend rows
            if kind == "backtest":
                drawn = plots.backtest_figure(result, progress=tick)
            else:
                drawn = plots.shared_figure(result)
        return plots.figure_bytes(drawn, os.path.splitext(figure)[1].lower())
    except Exception as exc:  # noqa: BLE001 - as `plot` reports it
        first = (str(exc).splitlines() or [""])[0][:200]
        raise InputError(f"--figure {figure}: cannot draw the {kind} figure ({type(exc).__name__}: {first}); "
                         "please report it") from None


def _law_from_options(name: str, huber_delta: float | None = None, k: float | None = None,
                      fix_e: float | None = None):
    """The Law the options describe (the chinchilla law's defaults where not given)."""
    from .laws import get_law
    if fix_e is not None and name != "saturating":
        raise InputError(f"--fix-e holds the irreducible loss E of the saturating law; the {name} law "
                         + ("has no E" if name == "power" else "fits its own E (fix E only with --law saturating)"))
    if name == "chinchilla":
        from .chinchilla import ChinchillaLaw
        given = {key: value for key, value in (("flops_per_param_token", k), ("huber_delta", huber_delta))
                 if value is not None}
        try:
            return ChinchillaLaw(**given)
        except ValueError as exc:       # 'flops_per_param_token 1e-300: ...' is --flops-per-param-token 1e-300
            name, _, rest = str(exc).partition(" ")
            raise InputError(f"--{name.replace('_', '-')} {rest}") from None
    _echo_warnings(_unused_law_options(name))
    law = get_law(name)
    return law if fix_e is None else law.with_fixed_E(fix_e)


def _unused_law_options(name: str) -> list[str]:
    """A warning for each option of the L(N, D) law typed on the command line with a compute law
    (``name``), which does not use it: --huber-delta 0.1 with the saturating law was dropped without
    a word, its fit least squares all the same, and --flops-per-param-token 8 left a params and
    tokens file's compute at 6 N D."""
    context = click.get_current_context(silent=True)
    if context is None:
        return []
    uses = {"huber_delta": f"the Huber objective of --law chinchilla; --law {name} fits by least squares on ln loss",
            "k": f"C = k N D for --law chinchilla; --law {name} reads the 'flops' column, or 6 * params * tokens"}
    return [f"{FLAG_OF_PARAMETER[parameter]} {context.params[parameter]:g} is not used: it sets {what}"
            for parameter, what in uses.items()
            if parameter in context.params
            and context.get_parameter_source(parameter) == click.core.ParameterSource.COMMANDLINE]


FLAG_OF_PARAMETER = {"huber_delta": "--huber-delta", "k": "--flops-per-param-token"}


def _target_losses(at_loss, at_perplexity) -> list[float]:
    """The --at-loss targets and the --at-perplexity ones as losses (nats/token), checked."""
    from .analysis import target_losses
    try:
        return target_losses(at_loss, at_perplexity)
    except ValueError as exc:          # an ArgumentError: 'at_loss 0: ...' is --at-loss 0
        raise InputError(exc.flags) from None


@contextlib.contextmanager
def _progress(total: int, label: str):
    """Yield a callback advancing a progress bar on stderr; silent when stderr is not a terminal."""
    if total <= 0 or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def _check_output_path(output: str | None, *inputs: str, option: str = "--output") -> None:
    """Fail before any work when ``--output`` cannot be written, or would replace one of ``inputs``
    (input files are never modified)."""
    if output is None:
        return
    if not output.strip():
        raise InputError(f"{option} is empty; give a file name")
    for path in inputs:
        if _same_file(output, path):
            raise InputError(f"{option} {output}: is the input file {path}; write the result to another file")
    if is_stream(output):      # /dev/null, /dev/stdout, a pipe: written in place
        return
    directory = os.path.dirname(os.path.realpath(output))
    if not os.path.isdir(directory):
        raise InputError(f"{option} {output}: directory {directory} does not exist")
    if os.path.isdir(output):
        raise InputError(f"{option} {output}: is a directory; give a file name")
    if not os.access(directory, os.W_OK):
        raise InputError(f"{option} {output}: directory {directory} is not writable")
    try:      # the temporary file the output is written through (a read-only file system, /proc)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".scalefit-probe-"):
            pass
    except OSError as exc:
        raise InputError(f"{option} {output}: cannot write in {directory} ({exc.strerror or exc})") from None


def _same_target(a: str, b: str) -> bool:
    """True when output paths ``a`` and ``b`` would write one file, existing or not (links followed)."""
    return os.path.realpath(a) == os.path.realpath(b) or _same_file(a, b)


def _same_file(a: str, b: str) -> bool:
    """True when paths ``a`` and ``b`` name one existing file (through links or relative paths too)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _emit(text: str, output: str | None) -> None:
    """Write to stdout, or to ``output`` whole or not at all (temporary file, then rename)."""
    if output is None:
        click.echo(text, nl=False)
        return
    _emit_bytes(text.encode("utf-8"), output)


def _emit_bytes(data: bytes, path: str) -> None:
    try:
        write_output(path, data)
    except OSError as exc:
        raise InputError(f"--output {path}: cannot write ({exc.strerror or exc})") from None


# ----- shared option parsing for simulate and plan -------------------------------------------------

DEFAULT_PARAMS = {"saturating": "E=1.8,A=1000,alpha=0.15", "power": "A=30,alpha=0.05"}


SPEC_OPTIONS = ("params", "flops", "noise", "reference", "second-ladder", "repeats")


def _as_option_error(exc: ValueError) -> str:
    """A SimulationSpec message as the option's error: an ArgumentError's flags ('second_ladder 0'
    is '--second-ladder 0'), else 'noise 2: ...' is '--noise 2: ...'."""
    from .arguments import ArgumentError
    if isinstance(exc, ArgumentError):
        return exc.flags
    text = str(exc)
    return f"--{text}" if text.startswith(SPEC_OPTIONS) else text


def _parse_flops(text: str) -> tuple[float, ...]:
    """'1e19:1e22:8' (8 log-spaced runs) or '1e19,3e19,1e20'."""
    import numpy as np
    try:
        if ":" in text:
            start, stop, count = (float(x) for x in text.split(":"))
            if not (0 < start < float("inf") and 0 < stop < float("inf") and 2 <= count <= MAX_RUNS
                    and count == int(count)):
                raise ValueError
            values = np.geomspace(start, stop, int(count))
        else:
            values = np.array([_ladder_flops_entry(text, i, entry)
                               for i, entry in _list_entries("--flops", text, "compute values", "1e19,3e19,1e20")])
    except ValueError:
        raise InputError(f"--flops {text}: give 'START:STOP:COUNT' (positive compute, log-spaced, a whole COUNT "
                         f"from 2 to {MAX_RUNS:,}) or a comma-separated list") from None
    if values.size < 2 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise InputError(f"--flops {text}: need at least 2 positive, finite compute values")
    return tuple(float(v) for v in values)


def _list_entries(option: str, text: str, what: str, example: str) -> list[tuple[int, str]]:
    """The comma-separated entries of ``option``'s ``text``, each with its place (from 1); an empty
    one is refused by its place: dropped without a word, --flops 1e19,,1e20 wrote a run fewer than
    written and --params E=1.8,,A=1000,alpha=0.15 read as if the stray comma were a typo (it is as
    likely a missing value)."""
    entries = list(enumerate(text.split(","), 1))
    for i, entry in entries:
        if not entry.strip():
            raise InputError(f"{option} {text}: entry {i} is empty; separate {what} by single commas, e.g. {example}")
    return entries


def _flops_entry(text: str, i: int, entry: str) -> float:
    """Entry ``i`` (from 1) of a --flops list as a number."""
    try:
        return float(entry)
    except ValueError:
        raise InputError(f"--flops {text}: entry {i} ({entry.strip()!r}) is not a number; give compute values "
                         "like 1e19,3e19,1e20") from None


def _ladder_flops_entry(text: str, i: int, entry: str) -> float:
    """Entry ``i`` (from 1) of simulate's or plan's --flops list as a run's compute: a positive,
    finite number, or an error naming the entry (a list with one bad entry among three good ones
    was refused as needing 'at least 2 positive, finite compute values', which it had)."""
    value = _flops_entry(text, i, entry)
    if not 0 < value < math.inf:
        raise InputError(f"--flops {text}: entry {i} ({entry.strip()}) is not a run's compute, which must be a "
                         "positive, finite number; give compute values like 1e19,3e19,1e20")
    return value


def _parse_params(text: str | None, law_name: str, defaults: dict | None = None) -> tuple[float, ...]:
    """'E=1.8,A=1000,alpha=0.15' -> values in the law's parameter order (None: the law's default);
    with ``defaults`` (name -> value), the parameters not named keep those values."""
    from .laws import get_law
    law = get_law(law_name)
    text = DEFAULT_PARAMS[law_name] if text is None else text
    given = {}
    for _, item in _list_entries("--params", text, "NAME=VALUE pairs", DEFAULT_PARAMS[law_name]):
        name, equals, value = item.partition("=")
        if not equals:
            raise InputError(f"--params {text}: write NAME=VALUE pairs, e.g. {DEFAULT_PARAMS[law_name]}")
        if name.strip() in given:
            raise InputError(f"--params {text}: {name.strip()} is given twice")
        try:
            given[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--params {text}: {name.strip()}={value.strip()!r} is not a number") from None
    given = {**(defaults or {}), **given}
    missing = [p for p in law.param_names if p not in given]
    unknown = [k for k in given if k not in law.param_names]
    if missing or unknown:
        raise InputError(f"--params {text}: the {law_name} law needs {', '.join(law.param_names)}"
                         + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    values = tuple(given[p] for p in law.param_names)
    if not all(math.isfinite(v) for v in values) or any(v <= 0 for p, v in zip(law.param_names, values) if p != "E") \
            or given.get("E", 0) < 0:
        raise InputError(f"--params {text}: need finite numbers, A and alpha > 0 and E >= 0")
    return values


def _parse_reference(text: str, index: int):
    """'NAME=MULT@BEYOND', 'MULT@BEYOND' or 'MULT' (1 decade beyond). An '@' with nothing after
    it ('big=4@') is refused, not read as the default: the distance was meant and left out."""
    from .simulate import ReferenceSpec
    name, _, rest = text.rpartition("=")
    mult, at, beyond = rest.partition("@")
    if at and not beyond.strip():
        raise InputError(f"--reference {text}: nothing after '@'; write the decades beyond the ladder, "
                         f"e.g. {text}1, or leave out '@' for 1 decade")
    try:
        spec = ReferenceSpec(name=name or f"ref{index}", multiplier=float(mult), beyond=float(beyond or 1.0))
    except ValueError:
        raise InputError(f"--reference {text}: write MULTIPLIER@DECADES_BEYOND, e.g. 4@1 or big=4@1") from None
    if not 0 < spec.multiplier < math.inf or not math.isfinite(spec.beyond):
        raise InputError(f"--reference {text}: the multiplier must be a positive number and DECADES_BEYOND a number")
    return spec


NOISE_HELP = {"simulate": "Relative seed-to-seed noise on loss (log-normal sigma: the standard deviation of "
                          "ln loss, 0 to 1; 0 draws the law's exact losses).",
              "plan": "Relative seed-to-seed noise on loss (log-normal sigma), estimated from a fit's residuals by "
                      "sqrt(S / (n - p)) (plan LADDER.csv does); plan needs it above 0."}


def _law_options(command: str):
    """The options stating a truth, shared by simulate and plan; --noise's help is the ``command``'s
    own (simulate's said what plan does with it and that 'plan needs it above 0')."""
    def options(f):
        f = click.option("--noise", type=FiniteFloat(min=0), default=0.01, show_default=True,
                         help=NOISE_HELP[command])(f)
        return _truth_options(f)
    return options


def _truth_options(f):
    f = click.option("--flops", "flops_text", default="1e19:1e22:8", show_default=True,
                     help="Ladder compute: START:STOP:COUNT (log-spaced) or a comma list.")(f)
    f = click.option("--params", "params_text", default=None,
                     help=f"True parameters, NAME=VALUE (user units, loss in nats) [default: "
                          f"{DEFAULT_PARAMS['saturating']}; with --law power: {DEFAULT_PARAMS['power']}].")(f)
    f = click.option("--law", type=click.Choice(["saturating", "power"]), default="saturating", show_default=True,
                     help="saturating: L = E + A*C^-alpha; power: L = A*C^-alpha.")(f)
    return f


@main.command()
@_law_options("simulate")
@click.option("--reference", "references", multiple=True,
              help="Reference point NAME=MULTIPLIER@DECADES_BEYOND (e.g. big=4@1; without NAME= it is named "
                   "ref1, ref2, ...; without @DECADES_BEYOND it is 1 decade beyond); repeatable.")
@click.option("--second-ladder", type=FiniteFloat(min=0, min_open=True), default=None,
              help="Add a ladder 'other' needing this many times more compute at every loss.")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True, help="Runs per compute value.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the noise.")
@click.option("--output", "-o", default=None, help="Write the CSV here instead of stdout.")
def simulate(law, params_text, flops_text, noise, references, second_ladder, repeats, seed, output):
    """Write a synthetic ladder CSV drawn from a stated truth (written into its header)."""
    from .simulate import SimulationSpec, simulated_csv

    _check_output_path(output)
    try:
        spec = SimulationSpec(params=_parse_params(params_text, law), flops=_parse_flops(flops_text), noise=noise,
                              law=law, seed=seed, second_ladder=second_ladder, repeats=repeats,
                              references=tuple(_parse_reference(r, i + 1) for i, r in enumerate(references)))
    except ValueError as exc:
        raise InputError(_as_option_error(exc)) from None
    _emit(simulated_csv(spec), output)


@main.command()
@click.argument("ladder_csv", metavar="[LADDER.csv]", required=False)
@_law_options("plan")
@click.option("--focus", default=None, help="With LADDER.csv: the family whose fit is the assumed truth "
                                            "[default: the family with most runs, the first in the file on a tie].")
@click.option("--multiplier", type=FiniteFloat(min=0, min_open=True), default=2.0, show_default=True,
              help="Assumed true multiplier against the reference.")
@click.option("--beyond", type=FiniteFloat(), default=1.0, show_default=True,
              help="Decades beyond the largest run where the focus reaches the reference's loss (within +-10; 0: "
                   "at the largest run; below 0: inside the ladder, or below its smallest run).")
@click.option("--claim", type=FiniteFloat(min=0, min_open=True), default=None,
              help="The claim to support, e.g. 2 for '2x less compute' [default: 1, the band excludes 1x].")
@click.option("--simulations", type=click.IntRange(min=20, max=100_000), default=200, show_default=True,
              help="Simulated ladders per design.")
@LEVEL_OPTION
@click.option("--extra-run", "extra_runs", type=FiniteFloat(), multiple=True,
              help="Candidate extra run compute; repeatable [default: at the largest run and 0.25-1.5 decades beyond].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the simulations.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Cores to use: processes sharing the designs [default: all cores when that pays]; the plan "
                   "is the same for any number.")
@FORMAT_OPTION
@OUTPUT_OPTION
def plan(ladder_csv, law, params_text, flops_text, noise, focus, multiplier, beyond, claim, simulations, level,
         extra_runs, seed, workers, fmt, output):
    """Predict by simulation how wide the multiplier band of a planned ladder will be, and which
    extra run would narrow it most. The truth is stated (--params, --flops, --noise) or, given
    LADDER.csv, the fit of one of its families (its law's parameters, its runs' compute, the noise of
    its residuals); options given as well override it."""
    from .formatting import format_plan, plan_to_csv, plan_to_json
    from .planning import DEFAULT_EXTRA_DECADES, plan_ladder
    from .simulate import SimulationSpec

    _check_output_path(output, *([ladder_csv] if ladder_csv else []))
    truth_from = ""
    try:
        if ladder_csv is None:
            if focus is not None:
                raise InputError("--focus names the family of LADDER.csv whose fit is the truth; give the file")
            spec = SimulationSpec(params=_parse_params(params_text, law), flops=_parse_flops(flops_text), noise=noise,
                                  law=law, seed=seed)
        else:
            given = {name: value for name, value in (("params", params_text), ("flops", flops_text), ("noise", noise))
                     if click.get_current_context().get_parameter_source(f"{name}_text" if name != "noise" else name)
                     == click.core.ParameterSource.COMMANDLINE}
            spec, truth_from = _spec_from_ladder(ladder_csv, law, focus, seed, given)
    except ValueError as exc:
        raise InputError(_as_option_error(exc)) from None
    n_designs = 1 + (len(extra_runs) if extra_runs else len(DEFAULT_EXTRA_DECADES))
    try:
        with _progress(simulations * n_designs, "simulating") as tick:
            result = plan_ladder(spec, multiplier=multiplier, beyond=beyond, claim=claim or 1.0, level=level,
                                 simulations=simulations, seed=seed, extra_runs=extra_runs or None, progress=tick,
                                 workers=workers, truth_from=truth_from)
    except ValueError as exc:     # the library's checks, with the flags: 'noise 0: ...' is --noise 0
        raise InputError(_as_option_error(exc)) from None
    render = {"table": lambda p: format_plan(p, flags=True), "json": plan_to_json, "csv": plan_to_csv}[fmt]
    _emit(render(result), output)


def _spec_from_ladder(ladder_csv: str, law: str, focus: str | None, seed: int, given: dict):
    """The truth of a plan from the fit of one family of a ladder file, with the options the user
    gave (``given``: 'params', 'flops', 'noise' -> their text or value) in place of what the fit
    says, and a line saying where it came from."""
    from .analysis import family_fit_warnings
    from .fitting import fit_law
    from .ladder import LadderError, check_fittable, read_ladder
    from .laws import get_law
    from .planning import checkpoint_plan_warnings, spec_from_fit

    try:
        ladder = read_ladder(ladder_csv)
        focus = check_fittable(ladder, get_law(law).n_params, law, focus)
        runs = ladder.family_runs(focus)
        fit = fit_law(runs["flops"].to_numpy(), runs["loss"].to_numpy(), law, family=focus)
    except LadderError as exc:
        raise InputError(str(exc)) from None
    _echo_warnings(list(ladder.warnings) + family_fit_warnings(fit, runs)
                   + ([] if "flops" in given else checkpoint_plan_warnings(runs, focus)))
    try:
        spec = spec_from_fit(fit, seed, given.get("noise"))
    except ValueError as exc:           # an ArgumentError: 'give noise=...' is 'give --noise'
        raise InputError(f"{ladder_csv}: {getattr(exc, 'flags', exc)}") from None
    if "params" in given:
        spec = replace(spec, params=_parse_params(given["params"], law, dict(zip(get_law(law).param_names, spec.params))))
    if "flops" in given:
        spec = replace(spec, flops=_parse_flops(given["flops"]))
    said = f"the {law} fit of family '{focus}' in {ladder_csv}"
    if "noise" not in given:
        said += f", its noise the residuals' sqrt(S / (n - p)) = {spec.noise:.2%}"
    if given:
        said += "; " + ", ".join(f"--{name}" for name in sorted(given)) + " as given"
    return spec, said


@main.command()
@click.argument("ladder_csv", metavar="LADDER.csv")
@click.option("--flops", "budget_lists", type=ComputeList(), multiple=True, required=True,
              help="Compute budget(s) to allocate, in the file's units: one value or a comma list; repeatable.")
@click.option("--focus", default=None, help="Only this family [default: every family with enough runs].")
@BOOTSTRAP_OPTION
@LEVEL_OPTION
@SEED_OPTION
@HUBER_OPTION
@click.option("--flops-per-param-token", "k", type=FiniteFloat(min=0, min_open=True), default=6.0,
              show_default=True, help="C = k N D.")
@click.option("--budget-tolerance", type=FiniteFloat(min=0, min_open=True), default=0.05, show_default=True,
              help="IsoFLOP analysis: runs within this many decades of compute form one budget.")
@WORKERS_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table to read; json for programs.")
@OUTPUT_OPTION
def optimal(ladder_csv, budget_lists, focus, bootstrap, level, seed, huber_delta, k, budget_tolerance, fmt, output,
            workers):
    """Compute-optimal allocation N_opt(C), D_opt(C) from L(N, D) = E + A/N^alpha + B/D^beta, with bands,
    and the IsoFLOP (parabola) analysis when runs group into compute budgets."""
    from .allocation import optimal_report
    from .arguments import in_flags
    from .formatting import format_optimal, optimal_to_json
    from .ladder import LadderError, read_ladder

    _check_output_path(output, ladder_csv)
    budgets = [c for values in budget_lists for c in values]
    try:
        ladder = read_ladder(ladder_csv)
        with _progress(bootstrap * len(ladder.ladder_families()), "bootstrap") as tick:
            report = optimal_report(ladder, budgets, focus=focus, bootstrap=bootstrap, level=level, seed=seed,
                                    law=_law_from_options("chinchilla", huber_delta, k),
                                    budget_tolerance=budget_tolerance, progress=tick, workers=workers)
    except LadderError as exc:
        raise InputError(str(exc)) from None
    _echo_warnings(report.warnings)
    _emit(format_optimal(report, flags=True) if fmt == "table" else optimal_to_json(in_flags(report)), output)


def _analysis_options(f):
    """Options shared by fit-like commands (plot, report)."""
    for option in reversed([
        LAW_OPTION, FOCUS_OPTION, FIX_E_OPTION, BAND_METHOD_OPTION, HUBER_OPTION, K_OPTION, BOOTSTRAP_OPTION,
        LEVEL_OPTION, SEED_OPTION,
        click.option("--at-loss", "at_loss", type=float, multiple=True,
                     help="Extra target loss (nats/token) for ladder-vs-ladder multipliers; repeatable."),
        click.option("--at-perplexity", "at_perplexity", type=float, multiple=True,
                     help="Extra target perplexity (converted to loss = ln perplexity); repeatable."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Cores to use: processes sharing the bootstrap resamples, threads sharing "
                          "the profile grids of long ladders [default: all cores when that pays]."),
    ]):
        f = option(f)
    return f


def _run_analysis(source, law, focus, band_method, bootstrap, level, seed, at_loss, workers=None, at_flops=(),
                  at_params_tokens=()):
    """Read ``source`` (a path, or a Ladder already read), analyze (with a progress bar while
    resampling) and print warnings; bad data -> exit 2."""
    from .analysis import analyze, resolve_band_method
    from .arguments import ArgumentError
    from .ladder import LadderError, read_ladder
    try:
        ladder = read_ladder(source)
        resampling = resolve_band_method(band_method, law, ladder) == "percentile"
        total, label = bootstrap * len(ladder.ladder_families()), "bootstrap"
        if not resampling:
            total, label = _profile_steps(ladder, focus, bootstrap, at_loss, len(at_flops) + len(at_params_tokens)), \
                "bands"
        with _progress(total, label) as tick:
            result = analyze(ladder, law=law, focus=focus, band_method=band_method, bootstrap=bootstrap,
                             level=level, seed=seed, at_loss=at_loss, progress=tick, workers=workers,
                             at_flops=at_flops, at_params_tokens=at_params_tokens)
    except LadderError as exc:
        raise InputError(str(exc)) from None
    except ArgumentError as exc:       # the library's message, naming the flags ('at_flops 1e+40' is --at-flops 1e+40)
        raise InputError(exc.flags) from None
    _echo_warnings(list(result.warnings) + _unused_bootstrap(result.band_method))
    return result


def _unused_bootstrap(band_method: str | None) -> list[str]:
    """A warning when the command line gave --bootstrap N (N > 0) but the bands are profile
    likelihood, which resample nothing: N would otherwise be dropped without a word."""
    context = click.get_current_context(silent=True)
    typed = (context is not None and "bootstrap" in context.params
             and context.get_parameter_source("bootstrap") != click.core.ParameterSource.DEFAULT)
    bootstrap = context.params["bootstrap"] if typed else 0
    if bootstrap == 0 or band_method != "profile":
        return []
    return [f"--bootstrap {bootstrap} is not used: the bands are profile likelihood, which need no resampling "
            "(--band-method percentile gives bootstrap bands; --bootstrap 0 gives none)"]


PROFILE_PROGRESS_RUNS = 1000  # runs from which profile bands take seconds (about 1.4 ms a run), and show progress


def _profile_steps(ladder, focus, bootstrap: int, at_loss, n_predictions: int) -> int:
    """Steps of a progress bar for profile bands, or 0 (no bar) when there are none or the ladder
    is short enough that they take about a second."""
    from .analysis import profile_steps
    if bootstrap == 0 or len(ladder.runs) < PROFILE_PROGRESS_RUNS:
        return 0
    return profile_steps(ladder, ladder.default_focus() if focus is None else focus, len(at_loss), n_predictions)


def _limits(text: str | None, name: str):
    if text is None:
        return None
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise InputError(f"--{name} {text}: write LOW,HIGH, e.g. 1e19,1e25") from None
    fault = axis_limits_fault(name, low, high)
    if fault == "order":
        raise InputError(f"--{name} {text}: LOW must be below HIGH")
    if fault == "log":
        raise InputError(f"--xlim {text}: compute is on a log axis: give 0 < LOW < HIGH, at most "
                         f"{MAX_XLIM_DECADES} decades apart")
    if fault == "finite":
        raise InputError(f"--ylim {text}: give finite limits within +-{MAX_AXIS_VALUE:g}")
    return low, high


@main.command()
@click.argument("ladder_csv", metavar="LADDER.csv")
@click.option("--output", "-o", required=True, help="Figure file: .png, .svg or .pdf.")
@click.option("--kind", type=click.Choice(["multipliers", "residuals", "multiplier-curve", "distribution", "contours"]),
              default="multipliers", show_default=True,
              help="multipliers: runs, fits, bands and multiplier arrows; residuals: ln-loss residuals; "
                   "multiplier-curve: the multiplier against another ladder by target loss; distribution: "
                   "each multiplier's bootstrap distribution or profile confidence curve; contours: L(N, D) "
                   "and its compute-optimal frontier (--law chinchilla).")
@_analysis_options
@AT_FLOPS_OPTION
@click.option("--title", default=None, help="Title above the figure [default: none].")
@click.option("--xlabel", default=None, help="Horizontal axis title [default: the figure's own, e.g. 'training "
                                             "compute (FLOPs)'].")
@click.option("--ylabel", default=None, help="Vertical axis title [default: the figure's own, e.g. the file's loss "
                                             "or perplexity].")
@click.option("--xlim", default=None, help="LOW,HIGH of the compute axis.")
@click.option("--ylim", default=None, help="LOW,HIGH of the loss/perplexity axis (log when the runs span more "
                                          "than 3x, unless LOW <= 0).")
@click.option("--width", type=FiniteFloat(min=1, max=MAX_INCHES), default=3.4, show_default=True, help="Inches.")
@click.option("--height", type=FiniteFloat(min=1, max=MAX_INCHES), default=None,
              help="Inches [default: 2.6, more for stacked panels (many comparisons, long family names), "
                   "a multipliers figure's key and a legend of several rows].")
@click.option("--dpi", type=click.IntRange(min=50, max=2400), default=300, show_default=True,
              help="Dots per inch of a .png.")
def plot(ladder_csv, output, kind, law, focus, fix_e, band_method, huber_delta, k, bootstrap, level, seed, at_loss,
         at_perplexity, workers, at_flops, title, xlabel, ylabel, xlim, ylim, width, height, dpi):
    """Draw a figure: the ladder with fits, bands and multiplier arrows (default), or a diagnostic."""
    if os.path.splitext(output)[1].lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"--output {output}: the figure's file name must end in .png, .svg or .pdf")
    _check_output_path(output, ladder_csv)
    if width * (height or 1.0) * dpi ** 2 > MAX_PIXELS and output.lower().endswith(".png"):
        raise InputError(f"--width {width:g} x --height {height or 1.0:g} inches at --dpi {dpi} is more than "
                         f"{MAX_PIXELS / 1e6:.0f} million pixels; lower --dpi")
    options_kwargs = dict(title=title, xlabel=xlabel, ylabel=ylabel, xlim=_limits(xlim, "xlim"),
                          ylim=_limits(ylim, "ylim"), width=width)
    targets = _target_losses(at_loss, at_perplexity)
    source = _check_figure_applies(kind, ladder_csv, law)
    if kind in FIGURES_WITHOUT_BANDS:     # no resampling for a figure that draws no band (20 s for L(N, D))
        bootstrap, band_method = 0, "auto"
    if at_flops and kind != "multipliers":
        raise InputError(f"--at-flops: predictions are drawn on the multipliers figure, not --kind {kind}")
    if (xlim or ylim) and kind != "multipliers":      # the other kinds drew their own axes, dropping them unsaid
        given = " and ".join(flag for flag, value in (("--xlim", xlim), ("--ylim", ylim)) if value)
        raise InputError(f"{given}: axis limits apply to the multipliers figure's compute and loss axes, not "
                         f"--kind {kind}; leave them out")
    result = _run_analysis(source, _law_from_options(law, huber_delta, k, fix_e), focus, band_method, bootstrap,
                           level, seed, targets, workers, at_flops)
    from .plots import (FigureOptions, draw_figure, figure_steps, save_figure, short_height_warning,
                        undrawable_names_warning, with_natural_height)
    from .threads import core_limit
    options = FigureOptions(**options_kwargs, flags=True, height=height)   # captions name the flags (--at-flops)
    if height is None:
        options = with_natural_height(kind, result, options)
    _echo_warnings([w for w in [short_height_warning(kind, result, options) if height else None,
                                undrawable_names_warning(result)] if w is not None])
    steps = figure_steps(kind, result) if len(result.ladder.runs) >= PROFILE_PROGRESS_RUNS else 0
    try:
        with core_limit(workers), _progress(steps, "figure") as tick:
            figure = draw_figure(kind, result, options, progress=tick)
        save_figure(figure, output, dpi=dpi)      # at the size it was drawn at, options'
    except ValueError as exc:          # an ArgumentError in the command's terms (--band-method percentile)
        lines = [line for line in getattr(exc, "flags", str(exc)).splitlines() if line.strip()]
        if "ParseFatalException" in str(exc):      # matplotlib's math text, $...$ in a title or label
            raise InputError(f"--title/--xlabel/--ylabel: cannot typeset the math between $ signs "
                             f"({lines[-1].split(': ', 1)[-1]}); write \\$ for a dollar sign") from None
        raise InputError(lines[0] if lines else "cannot draw this figure") from None
    except OSError as exc:
        raise InputError(f"--output {output}: cannot write ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - a failure inside the plotting stack, as one line
        first = (str(exc).splitlines() or [""])[0][:200]
        raise InputError(f"cannot draw the {kind} figure ({type(exc).__name__}: {first}); if the axes span "
                         "extreme values, --xlim/--ylim may help; otherwise please report it") from None
    click.echo(f"scalefit: wrote {output}", err=True)


FIGURES_WITHOUT_BANDS = ("residuals", "contours")


def _check_figure_applies(kind: str, ladder_csv: str, law: str):
    """Fail before fitting when the figure kind cannot be drawn for this law or file. Returns what
    to analyze: the file, or the ladder when it had to be read for the check (read once)."""
    if kind == "contours" and law != "chinchilla":
        raise InputError(f"--kind contours: loss contours over (N, D) need --law chinchilla (this is --law {law})")
    if kind not in ("multiplier-curve", "distribution"):
        return ladder_csv
    from .ladder import LadderError, read_ladder
    try:
        ladder = read_ladder(ladder_csv)
    except LadderError as exc:
        raise InputError(str(exc)) from None
    if kind == "distribution":
        if len(ladder.families) < 2:
            raise InputError(f"{ladder_csv}: --kind distribution shows multipliers, and this file has one family "
                             "(add a reference run or another ladder)")
        return ladder
    if len(ladder.ladder_families()) < 2:
        raise InputError(f"{ladder_csv}: --kind multiplier-curve compares two ladders, and this file has "
                         f"{len(ladder.ladder_families())} (the other families are single reference runs)")
    return ladder


@main.command()
@click.argument("ladder_csv", metavar="LADDER.csv")
@click.option("--output", "-o", required=True, help="Report file: .html (self-contained) or .md.")
@_analysis_options
@AT_FLOPS_OPTION
@AT_PARAMS_TOKENS_OPTION
def report(ladder_csv, output, law, focus, fix_e, band_method, huber_delta, k, bootstrap, level, seed, at_loss,
           at_perplexity, workers, at_flops, at_params_tokens):
    """Write a shareable report: data summary, fits, multipliers, figures, diagnostics, warnings."""
    extension = os.path.splitext(output)[1].lower()
    if extension not in (".html", ".md"):
        raise InputError(f"--output {output}: the report's file name must end in .html or .md")
    _check_output_path(output, ladder_csv)
    if extension == ".md":
        from .report import markdown_figure_paths
        for path in markdown_figure_paths(output):
            _check_output_path(path, ladder_csv, option=f"--output {output}: its figure file")
    targets = _target_losses(at_loss, at_perplexity)
    result = _run_analysis(ladder_csv, _law_from_options(law, huber_delta, k, fix_e), focus, band_method, bootstrap,
                           level, seed, targets, workers, at_flops, at_params_tokens)
    from .report import render_report, report_steps
    # quoted as a shell reads it, so that the command the report shows can be pasted back (a file
    # name with a space, a --title of several words)
    words = sys.argv[1:] if sys.argv and "scalefit" in sys.argv[0] else ["report", ladder_csv, "-o", output]
    command = shlex.join(["scalefit", *words])
    steps = report_steps(result) if len(result.ladder.runs) >= PROFILE_PROGRESS_RUNS else 0
    with _progress(steps, "report") as tick:
        text, assets = render_report(result, command, markdown=extension == ".md", output=output, progress=tick,
                                     flags=True)
    from .plots import undrawable_names_warning
    _echo_warnings([w for w in [undrawable_names_warning(result)] if w is not None])
    for path, data in assets.items():
        _emit_bytes(data, path)
    _emit(text, output)
    beside = f" and its figures {', '.join(assets)}" if assets else ""
    click.echo(f"scalefit: wrote {output}{beside}", err=True)



