"""Command line: parse, call the library, format. Heavy imports happen inside commands."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import click

from . import __version__

EXIT_BAD_INPUT = 2


class InputError(click.ClickException):
    """Bad data or bad usage found after parsing: one line on stderr, exit code 2."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None):
        click.echo(f"scalefit: error: {self.format_message()}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scalefit")
def main():
    """Fit scaling laws to training ladders and compare recipes by equivalent compute."""


@main.command()
@click.argument("ladder_csv", metavar="LADDER.csv")
@click.option("--law", type=click.Choice(["saturating", "power"]), default="saturating", show_default=True,
              help="saturating: L = E + A*C^-alpha; power: L = A*C^-alpha.")
@click.option("--focus", default=None, help="Family compared against all others [default: the family with most runs].")
@click.option("--band-method", type=click.Choice(["profile", "percentile"]), default="profile", show_default=True,
              help="profile: profile-likelihood bands (calibrated, see README); percentile: bootstrap over runs.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Resamples of runs for percentile bands; 0 fits without any bands.")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Band coverage.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--at-loss", "at_loss", type=float, multiple=True,
              help="Extra target loss (nats/token) for ladder-vs-ladder multipliers; repeatable.")
@click.option("--at-perplexity", "at_perplexity", type=float, multiple=True,
              help="Extra target perplexity (converted to loss = ln perplexity); repeatable.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--output", "-o", default=None, help="Write the result to this file instead of stdout.")
def fit(ladder_csv, law, focus, band_method, bootstrap, level, seed, at_loss, at_perplexity, fmt, output):
    """Fit a law per family and print equivalent-compute multipliers with bands.

    LADDER.csv has one row per run: family, flops (or params and tokens), loss (or perplexity).
    """
    import math

    from .analysis import analyze
    from .formatting import format_table, to_csv, to_json
    from .ladder import LadderError, read_ladder

    targets = list(at_loss) + [_perplexity_to_loss(p) for p in at_perplexity]
    for t in targets:
        if not (math.isfinite(t) and t > 0):
            raise InputError(f"--at-loss {t:g}: a target loss must be a positive number (nats/token)")
    _check_output_path(output)
    try:
        ladder = read_ladder(ladder_csv)
        n_resamples = bootstrap * len(ladder.ladder_families()) if band_method == "percentile" else 0
        with _progress(n_resamples, "bootstrap") as tick:
            result = analyze(ladder, law=law, focus=focus, bootstrap=bootstrap, level=level, seed=seed,
                             at_loss=targets, progress=tick, band_method=band_method)
    except LadderError as exc:
        raise InputError(str(exc)) from None
    for warning in result.warnings:
        click.echo(f"scalefit: warning: {warning}", err=True)
    render = {"table": format_table, "json": to_json, "csv": to_csv}[fmt]
    _emit(render(result), output)


def _perplexity_to_loss(p: float) -> float:
    import math
    if not (math.isfinite(p) and p > 1):
        raise InputError(f"--at-perplexity {p:g}: a perplexity must be a number above 1")
    return math.log(p)


@contextlib.contextmanager
def _progress(total: int, label: str):
    """Yield a callback advancing a progress bar on stderr; silent when stderr is not a terminal."""
    if total <= 0 or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def _check_output_path(output: str | None) -> None:
    """Fail before any work when ``--output`` cannot be written."""
    if output is None:
        return
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise InputError(f"--output {output}: directory {directory} does not exist")
    if os.path.isdir(output):
        raise InputError(f"--output {output}: is a directory; give a file name")
    if not os.access(directory, os.W_OK):
        raise InputError(f"--output {output}: directory {directory} is not writable")


def _emit(text: str, output: str | None) -> None:
    """Write to stdout, or to ``output`` whole or not at all (temporary file, then rename)."""
    if output is None:
        click.echo(text, nl=False)
        return
    directory = os.path.dirname(os.path.abspath(output))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".scalefit-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, output)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise InputError(f"--output {output}: cannot write ({exc.strerror or exc})") from None
