"""A shareable report of an analysis: one self-contained HTML file (figures embedded as PNG data)
or Markdown with the figures written beside it."""

from __future__ import annotations

import base64
import html
import os
import re
import urllib.parse

from . import __version__
from .analysis import Analysis, checkpoint_families, level_percent
from .arguments import message, terms_of
from .formatting import _band, _decades, _with_band, fmt, fmt_multiplier, prediction_rows, runs_cell
from .ladder import LadderError


REPORT_FIGURES = (("multipliers", "Fits, bands and multipliers"), ("residuals", "Residuals of ln loss"),
                  ("multiplier-curve", "Multiplier against target loss"), ("distribution", "Multiplier uncertainty"),
                  ("contours", "Loss over (N, D), compute-optimal frontier and IsoFLOP lines"),
                  ("shared", "One law for all ladders: runs against compute, and against compute / M"))


def markdown_figure_paths(output: str) -> list[str]:
    """The figure files a Markdown report ``output`` may write beside itself, 'STEM-KIND.png'."""
    stem = os.path.splitext(output)[0]
    return [f"{stem}-{kind}.png" for kind, _ in REPORT_FIGURES]


def _figure_png(result: Analysis, kind: str, progress=None, flags: bool = False) -> bytes | None:
    """PNG bytes of one figure, or None when that figure does not apply to this analysis; its
    caption in the command's terms with ``flags``."""
    from .plots import FigureOptions, draw_figure, figure_bytes, with_natural_height

    options = with_natural_height(kind, result, FigureOptions(width=5.0, flags=flags), 3.6)
    try:
        figure = draw_figure(kind, result, options, progress=progress)
    except ValueError:
        return None
    return figure_bytes(figure, ".png", options, dpi=150)


def _shared_png(cmp) -> bytes:
    from .plots import FigureOptions, figure_bytes, shared_figure, shared_height

    options = FigureOptions(width=5.0, height=shared_height(cmp, 3.0, width=5.0))
    return figure_bytes(shared_figure(cmp, options=options), ".png", options, dpi=150)


def _figures(result: Analysis, cmp=None, progress=None, flags: bool = False) -> list[tuple[str, str, bytes]]:
    out = []
    for kind, title in REPORT_FIGURES:
        if (kind == "contours" and result.law.name != "chinchilla") or (kind == "shared" and cmp is None):
            continue
        png = _shared_png(cmp) if kind == "shared" else _figure_png(result, kind, progress, flags)
        if png is not None:
            out.append((kind, title, png))
    return out


def report_steps(result: Analysis) -> int:
    """The steps :func:`render_report` reports to ``progress``: the shared comparison's bands (one
    per family compared with the focus), the profiles its figures compute (``plots.figure_steps``)
    and the backtest's steps (``backtesting.profile_steps``, or one per family's resamples)."""
    from .backtesting import profile_steps, split_held_out
    from .plots import figure_steps

    ladders = result.ladder.ladder_families()
    shared = len(ladders) - 1 if _compares_shared(result) and result.focus in ladders else 0
    figures = sum(figure_steps(kind, result) for kind, _ in REPORT_FIGURES)
    backtest = 0
    try:
        if result.band_method == "profile":
            backtest = profile_steps(result.ladder, 1)
        elif result.band_method == "percentile":
            backtest = sum(not split_held_out(runs, 1)[0].empty for runs in map(result.ladder.family_runs, ladders))
    except LadderError:
        pass
    return shared + figures + backtest


def _per_resampling(progress, resamples: int):
    """A progress callback counting resamples that calls ``progress`` with 1 after every
    ``resamples`` (each family's bootstrap: one step of the report's bar)."""
    if progress is None or resamples <= 0:
        return None
    done = [0]

    def tick(n: int) -> None:
        steps = (done[0] + n) // resamples - done[0] // resamples
        done[0] += n
        if steps:
            progress(steps)
    return tick


def _tables(result: Analysis) -> list[tuple[str, list[list[str]]]]:
    pct = level_percent(result.level)
    data = [["family", "runs", "kind", "compute range"]]
    checkpoints = checkpoint_families(result.ladder, result.ladder.families)
    for family, n in result.ladder.run_counts().items():
        runs = result.ladder.family_runs(family)
        shown = f"{n} rows: checkpoints of {checkpoints[family][1]} runs" if family in checkpoints else str(n)
        low, high = fmt(runs['flops'].min(), 3), fmt(runs['flops'].max(), 3)
        data.append([family, shown, "ladder" if n > 1 else "reference point",
                     low if low == high else f"{low} .. {high}"])
    fits = [["family"] + [f"{p} [{pct} band]" for p in result.law.param_names] + ["objective", "rmse(ln L)"]]
    for name, ff in result.fits.items():
        fits.append([name] + [f"{fmt(v)} {'(fixed)' if p in result.law.fixed else _band(lo, hi, fmt)}".strip()
                              for p, v, lo, hi in zip(result.law.param_names, ff.fit.params, ff.low, ff.high)]
                    + [fmt(ff.fit.objective), fmt(ff.fit.rmse_log, 3)])
    metric = result.ladder.metric
    mult = [["reference", "at", metric, "reference compute", f"{result.focus} compute", "multiplier",
             f"{pct} band", "beyond ladder", "band checked"]]
    for m in result.multipliers:
        value = float(result.ladder.loss_to_metric(m.loss))
        mult.append([m.reference, m.where, fmt(value), fmt(m.reference_flops, 3), fmt(m.focus_flops, 3),
                     fmt_multiplier(m.multiplier), _band(m.low, m.high, fmt_multiplier),
                     _decades(m.extrapolation_decades), "yes" if m.band_checked else "no"])
    tables = [("Data", data), ("Fitted laws", fits)]
    if result.law.name == "chinchilla":
        tables.append(("Compute-optimal allocation (C = k N D), at each family's largest run", _allocations(result)))
    if result.multipliers:            # one family: nothing to compare, no empty table
        tables.append((f"Equivalent-compute multipliers of {result.focus}", mult))
    if result.predictions:            # --at-flops
        tables.append(prediction_rows(result))
    return tables


def _backtest(result: Analysis, progress=None):
    """Each family refitted without its largest-compute runs, predicting them (``scalefit
    backtest``), with the analysis's bands; None when no family has runs to spare."""
    from .backtesting import backtest

    bootstrap = {"percentile": result.n_bootstrap, "none": 0}.get(result.band_method, 1)
    if result.band_method == "percentile":
        progress = _per_resampling(progress, bootstrap)
    try:
        return backtest(result.ladder, law=result.law, hold_out=1, level=result.level,
                        band_method="auto" if result.band_method == "none" else result.band_method,
                        bootstrap=bootstrap, seed=result.seed, progress=progress)
    except LadderError:
        return None


def _backtest_table(result: Analysis, bt) -> list[tuple]:
    """The backtest's held-out runs as a table, bands outside the calibration study marked * (no
    table without a backtest)."""
    if bt is None:
        return []
    metric = result.ladder.metric
    rows = [["family", "held-out run", "compute", f"observed {metric}", "predicted", "error (loss)",
             f"{level_percent(result.level)} band", "inside", "beyond fit"]]
    for h in bt.rows:
        p = h.prediction
        shown = [float(result.ladder.loss_to_metric(x)) for x in (h.observed, p.loss, p.low, p.high)]
        band = _band(shown[2], shown[3], fmt) + ("" if p.band_checked or h.inside is None else " *")
        rows.append([h.family, h.run, fmt(p.flops, 3), fmt(shown[0]), fmt(shown[1]), f"{h.error:+.2%}",
                     band, {True: "yes", False: "no", None: ""}[h.inside], _decades(p.extrapolation_decades)])
    whole = " (whole, with their checkpoints)" if checkpoint_families(result.ladder, list(bt.training)) else ""
    title = f"Backtest: each family refitted without its largest-compute run(s){whole}, predicting them"
    unchecked = [h for h in bt.rows if not h.prediction.band_checked and h.inside is not None]
    return [(title, rows) + (("* marks a band outside what the calibration study checked (see the Warnings).",)
                             if unchecked else ())]


def _compares_shared(result: Analysis) -> bool:
    return result.law.name == "saturating" and len(result.ladder.ladder_families()) >= 2


def _shared_comparison(result: Analysis, progress=None):
    """The ladder families fitted with one saturating law up to a compute factor each (``scalefit
    compare``); None for fewer than two ladders, another law, or a focus that is a reference run."""
    from .shared import compare_shared

    if not _compares_shared(result):
        return None
    try:
        return compare_shared(result.ladder, focus=result.focus, level=result.level, progress=progress)
    except LadderError:
        return None


def _shared_table(result: Analysis, cmp, flags: bool = False) -> list[tuple]:
    """The shared-law comparison's multipliers, with its law and check as a note under the title,
    which names what makes it (``scalefit.compare_shared``, or with ``flags`` ``scalefit compare``);
    no table without one."""
    if cmp is None:
        return []
    E, _, alpha = cmp.params
    if cmp.p_value != cmp.p_value:
        check = "the check against separate laws was not run (the Warnings below say why)"
    else:
        check = (f"F test against separate laws: p = {cmp.p_value:.2g}, "
                 + ("the data contradict the shared law (the saving depends on the loss)" if cmp.p_value < 0.05
                    else "no evidence against it"))
    title = f"One law for all ladders up to a compute factor each ({terms_of(flags).tool('compare_shared', 'compare')})"
    unchecked = "" if all(f.band_checked for f in cmp.factors) else \
        " * marks a band outside what the calibration study checked (see the Warnings)."
    note = f"Shared E = {fmt(E)}, alpha = {fmt(alpha)}; {check}.{unchecked}"
    rows = [["family", "runs", f"multiplier of {cmp.focus} (any loss)", f"{level_percent(result.level)} profile band"]]
    rows += [[f.family, runs_cell(cmp.ladder, f.family, f.n_runs), fmt_multiplier(f.multiplier),
              _band(f.low, f.high, fmt_multiplier) + ("" if f.band_checked else " *")]
             for f in cmp.factors if f.family != cmp.focus]
    return [(title, rows, note)]


def _allocations(result: Analysis) -> list[list[str]]:
    """Exponents a (N_opt ∝ C^a) and b, and N_opt, D_opt and tokens per parameter at the compute of
    each family's largest run, with bootstrap bands when there are draws (see ``scalefit optimal``)."""
    from .chinchilla import allocation_with_bands

    rows = [["family", "compute", "a", "b", "N_opt", "D_opt", "tokens/param"]]
    for name, ff in result.fits.items():
        at = allocation_with_bands(ff.fit, ff.draws, ff.fit.flops_max, result.level)
        rows.append([name, fmt(ff.fit.flops_max, 3)]
                    + [_with_band(at[q]) for q in ("a", "b", "n_opt", "d_opt", "tokens_per_param")])
    return rows


def render_report(result: Analysis, command: str = "(from Python)", markdown: bool = False,
                  output: str = "report.html", progress=None, flags: bool = False) -> tuple[str, dict[str, bytes]]:
    """The report's text and, for Markdown, the figure files to write beside it (path -> bytes).
    ``progress`` is called with the steps done as the work goes (:func:`report_steps` counts them).
    Its warnings name arguments as Python does (``law='saturating'``), or with ``flags`` as the
    command's options (``--law saturating``, what ``scalefit report`` writes)."""
    if not isinstance(result, Analysis):
        raise TypeError(f"a report is written from an analysis (scalefit.analyze(...)), not {type(result).__name__}")
    cmp = _shared_comparison(result, progress)
    figures = _figures(result, cmp, progress, flags)
    bt = _backtest(result, progress)
    tables = _tables(result) + _shared_table(result, cmp, flags) + _backtest_table(result, bt)
    band = {"profile": "profile likelihood (F-calibrated)", "percentile":
            f"bootstrap percentile over runs ({result.n_bootstrap} resamples, seed {result.seed})",
            "none": "none"}[result.band_method]
    objective = (f"; objective: sum of Huber (delta {result.law.huber_delta:g}) of ln-loss residuals"
                 if result.law.name == "chinchilla" else "; objective: sum of squared ln-loss residuals")
    intro = [f"Source: {result.ladder.source}", f"Law: {result.law.formula}{objective}",
             f"Bands: {level_percent(result.level)} {band}", f"Command: {command}", f"scalefit {__version__}"]
    provenance = list(result.ladder.header)
    warnings = [terms_of(flags).text(w) for w in report_warnings(result, cmp, bt)] + _undrawable_names(result)
    if markdown:
        return _markdown(result, intro, provenance, tables, figures, output, warnings)
    return _html(result, intro, provenance, tables, figures, warnings), {}


def report_warnings(result: Analysis, cmp, bt=None) -> list[str]:
    """The analysis's warnings, then the shared-law comparison's and the backtest's own (those
    they do not repeat), marked as theirs."""
    out = list(result.warnings)
    for label, other in (("shared-law comparison", cmp), ("backtest", bt)):
        if other is not None:
            out += [message(lambda t, w=w: f"{label}: {t.text(w)}")
                    for w in other.warnings if w not in result.warnings and not _restated(w, label)]
    return out


def _undrawable_names(result: Analysis) -> list[str]:
    """The warning that the figures draw some names' characters as boxes, when they do."""
    from .plots import undrawable_names_warning

    warning = undrawable_names_warning(result)
    return [] if warning is None else [warning]


def _restated(warning: str, label: str) -> bool:
    """A backtest's refit saying its rows are checkpoints: the analysis said so of the whole file."""
    return label == "backtest" and " rows are checkpoints of " in warning


def _markdown(result, intro, provenance, tables, figures, output, warnings):
    lines = [f"# scalefit report: {_md_text(os.path.basename(result.ladder.source))}", ""]
    lines += [f"- {_md_text(x)}" for x in intro]
    if provenance:
        lines += ["", "## Provenance (file header)", ""] + [f"> {_md_text(x)}" for x in provenance]
    for title, rows, *note in tables:
        lines += ["", f"## {_md_text(title)}", ""] + [_md_text(n) + "\n" for n in note]
        lines += ["| " + " | ".join(map(_md_cell, rows[0])) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows[1:]]
    assets = {}
    lines += ["", "## Figures"]
    for kind, title, png in figures:
        path = dict(zip((k for k, _ in REPORT_FIGURES), markdown_figure_paths(output)))[kind]
        assets[path] = png
        lines += ["", f"### {_md_text(title)}", "", f"![{_md_text(title)}]({_md_link(os.path.basename(path))})"]
    lines += ["", "## Warnings", ""] + ([f"- {_md_text(w)}" for w in warnings] or ["None."])
    return "\n".join(lines) + "\n", assets


MARKDOWN_PUNCTUATION = re.compile(r"([\\`*~])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def _md_text(text) -> str:
    """Text as Markdown shows it literally, not as HTML (a family may be named '<i>') nor as
    emphasis or code ('*new*', '_base_', '`x`'); an underscore inside a word ('c4_original')
    cannot start emphasis, and brackets without a link target make no link ('[1.78, 1.94]'):
    those are left as they are."""
    escaped = MARKDOWN_PUNCTUATION.sub(lambda m: "\\" + m.group(0), str(text))
    return html.escape(escaped, quote=False)


def _md_link(path: str) -> str:
    """A file name as a Markdown link's target: percent-encoded, as a target ends at a space (the
    figures of 'my report.md' are 'my report-multipliers.png')."""
    return urllib.parse.quote(path)


def _md_cell(text) -> str:
    """A table cell's text as Markdown shows it literally: also '|' escaped and newlines joined."""
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def _html(result, intro, provenance, tables, figures, warnings) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>scalefit report: {esc(os.path.basename(result.ladder.source))}</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ccc;"
             "padding:.25em .5em;text-align:left}th{background:#f3f3f3}img{max-width:100%}"
             "blockquote{color:#555;margin:.2em 1em}.warn{color:#8a3b00}</style></head><body>",
             f"<h1>scalefit report: {esc(os.path.basename(result.ladder.source))}</h1><ul>"]
    parts += [f"<li>{esc(x)}</li>" for x in intro] + ["</ul>"]
    if provenance:
        parts += ["<h2>Provenance (file header)</h2>"] + [f"<blockquote>{esc(x)}</blockquote>" for x in provenance]
    for title, rows, *note in tables:
        parts.append(f"<h2>{esc(title)}</h2>" + "".join(f"<p>{esc(n)}</p>" for n in note)
                     + "<table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in rows[0]) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows[1:]]
        parts.append("</table>")
    parts.append("<h2>Figures</h2>")
    for _, title, png in figures:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h3>{esc(title)}</h3><img alt='{esc(title)}' src='data:image/png;base64,{data}'>")
    parts.append("<h2>Warnings</h2>")
    parts += ([f"<p class='warn'>{esc(w)}</p>" for w in warnings] or ["<p>None.</p>"])
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
