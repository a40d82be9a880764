"""Render an :class:`~scalefit.analysis.Analysis` as a table, JSON or CSV.

JSON numbers that are infinite are written as the string ``"inf"`` and missing values (no band
without bootstrap) as ``null``, so the output is strict JSON.
"""

from __future__ import annotations

import io
import json
import math
import unicodedata

import numpy as np

from . import __version__
from .analysis import PERPLEXITY_COLUMNS, Analysis, level_percent
from .arguments import terms_of
from .efficiency import Multiplier
from .prediction import Prediction

JSON_SCHEMA_VERSION = 1



def plain_texts(messages) -> list[str]:
    """Messages as plain strings (a :class:`~scalefit.arguments.Message` is a str subclass, in
    Python's terms): what a dict of plain data holds, which yaml.safe_dump refuses a subclass in."""
    return [str(m) for m in messages]


def _title(flags: bool, function: str, command: str, version: str = "") -> str:
    """A table's title: 'scalefit 0.1.0 compare_shared', what a Python call made it, or with
    ``flags`` 'scalefit 0.1.0 compare', the command that printed it (``version`` left out if empty)."""
    return " ".join(part for part in ("scalefit", version, command if flags else function) if part)


class Summary(str):
    """A summary's text: a ``str`` in every way (print it, write it, compare it), which a notebook
    cell ending in ``result.summary()`` shows as the table itself rather than as a quoted string
    of ``\\n`` escapes (IPython's ``_repr_pretty_``)."""

    __slots__ = ()

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str.__str__(self))


def with_warnings(text: str, warnings=()) -> Summary:
    """``text`` followed by the warnings the command prints on stderr, numbered (what a summary()
    in a notebook shows, where stderr is not in sight)."""
    if not warnings:
        return Summary(text)
    lines = [f"  [{i}] {w}" for i, w in enumerate(warnings, start=1)]
    return Summary(text.rstrip("\n") + "\n\nWarnings:\n" + "\n".join(lines) + "\n")

def _clean(value):
    """A JSON-safe scalar: floats stay floats, inf becomes "inf"/"-inf", NaN becomes None."""
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    return value


def strict_json(data: dict) -> str:
    """``data`` as indented, strict JSON (no NaN or Infinity literals: see ``_clean``)."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def frame_csv(frame, float_format: str = "%.10g") -> str:
    """A DataFrame as CSV text, without the index."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format=float_format)
    return buffer.getvalue()


def perplexity(loss: float) -> float:
    """e^loss, inf past the largest float (a loss above about 709.8 nats) instead of OverflowError;
    NaN (no band) stays NaN."""
    return math.inf if loss >= LARGEST_LN_FLOAT else math.exp(loss)


LARGEST_LN_FLOAT = math.log(np.finfo(float).max)


def to_dict(result) -> dict:
    """The stable JSON structure documented in the README: of an Analysis (``scalefit fit``), or of
    a Backtest, SharedComparison, Plan or OptimalReport as its own command writes it."""
    if not isinstance(result, Analysis):
        return _writer(result, "dict")(result)
    ladder = result.ladder
    families = []
    checkpoints = result.checkpoint_runs()
    for name, ff in result.fits.items():
        f = ff.fit
        families.append({
            "family": name,
            "runs": checkpoints.get(name, f.n_runs),
            "rows": f.n_runs,
            "flops_min": _clean(f.flops_min),
            "flops_max": _clean(f.flops_max),
            "objective": _clean(f.objective),
            "rmse_log": _clean(f.rmse_log),
            "failed_refits": 0 if ff.draws is None else ff.draws.n_failed,
            "parameters": {
                p: {"value": _clean(f.params[j]), "stderr": _clean(f.stderr[j]),
                    "low": _clean(ff.low[j]), "high": _clean(ff.high[j])}
                for j, p in enumerate(result.law.param_names)},
        })
    references = [
        {"family": r.family, "run": r.run, "flops": _clean(r.flops), "loss": _clean(r.loss),
         **({"perplexity": _clean(perplexity(r.loss))} if ladder.metric == "perplexity" else {})}
        for r in ladder.runs[ladder.runs["family"].isin(ladder.reference_families())].itertuples()]
    return {
        "schema": JSON_SCHEMA_VERSION,
        "scalefit_version": __version__,
        "source": ladder.source,
        "metric": ladder.metric,
        "law": {"name": result.law.name, "formula": result.law.formula,
                "parameters": list(result.law.param_names), "fixed": result.law.fixed},
        "objective": "sum of squared residuals of ln(loss)",
        "focus": result.focus,
        "bands": {"method": result.band_method, "level": result.level},
        "bootstrap": {"resamples": result.n_bootstrap, "seed": result.seed, "unit": "run"},
        "families": families,
        "references": references,
        "multipliers": [_multiplier_dict(m, ladder.metric) for m in result.multipliers],
        "predictions": [_prediction_dict(p, ladder.metric) for p in result.predictions],
        "warnings": plain_texts(result.warnings),
    }


def _multiplier_dict(m: Multiplier, metric: str) -> dict:
    out = {k: _clean(v) for k, v in m.__dict__.items()}
    if metric == "perplexity":
        out["perplexity"] = _clean(perplexity(m.loss))
    return out


def _prediction_dict(p: Prediction, metric: str) -> dict:
    out = {k: _clean(v) for k, v in p.__dict__.items()}
    if metric == "perplexity":
        out.update({name: _clean(perplexity(getattr(p, column))) for name, column in PERPLEXITY_COLUMNS})
    return out


def to_json(result) -> str:
    """A result as JSON text, as its command's ``--format json`` writes it (``scalefit fit`` for an
    Analysis): ``to_dict`` written strictly, an unbounded band's inf as the string "inf" and a
    missing value (nan) as null."""
    return strict_json(to_dict(result))


def to_csv(result) -> str:
    """A result as its command's ``--format csv`` writes it: for an Analysis one row per multiplier,
    with the same fields as the JSON ``multipliers`` entries; for the others their ``frame()``.
    An Analysis with predictions is refused (ValueError), as ``fit --format csv`` refuses them: a
    CSV is one table, and the multipliers' would leave the predictions out without a word."""
    if not isinstance(result, Analysis):
        return _writer(result, "csv")(result)
    if result.predictions:
        raise ValueError(f"to_csv writes one table, the multipliers, and this analysis has {len(result.predictions)} "
                         "prediction(s) too (at_flops, at_params_tokens), which it would leave out: write "
                         "result.multipliers_frame() and result.predictions_frame() as two tables, or to_json(result) "
                         "for both")
    return frame_csv(result.multipliers_frame())


def _writer(result, kind: str):
    """The function writing ``result`` (a Backtest, SharedComparison, Plan or OptimalReport) as
    ``kind`` ("dict" or "csv"), or TypeError naming what is accepted."""
    prefix = {"Backtest": "backtest", "SharedComparison": "shared", "Plan": "plan",
              "OptimalReport": "optimal"}.get(type(result).__name__)
    writer = globals().get(f"{prefix}_to_{kind}") if prefix else None
    if writer is None:
        kinds = ("an Analysis, Backtest, SharedComparison, Plan or OptimalReport" if kind == "dict"
                 else "an Analysis, Backtest, SharedComparison or Plan (an OptimalReport has no CSV form)")
        raise TypeError(f"to_{'json' if kind == 'dict' else kind} takes {kinds}, not {type(result).__name__}")
    return writer


# ----- table -----------------------------------------------------------------------------------

def fmt(x: float, digits: int = 4) -> str:
    """A number in `digits` significant figures, scientific outside [1e-3, 1e5)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.0f}" if abs(x) >= 10 ** digits else f"{x:.{digits}g}"
    return f"{x:.{digits - 1}e}".replace("e+", "e")


def fmt_share(x: float, decimals: int = 0) -> str:
    """A share as a percentage with ``decimals`` decimals, never rounded onto 0% or 100% when it is
    not: '<1%' and '>99%' (decimals 0), '<0.1%' and '>99.9%' (decimals 1)."""
    step = 10.0 ** -(decimals + 2)
    if 0 < x < step:
        return f"<{100 * step:.{decimals}f}%"
    if 1 - step < x < 1:
        return f">{100 * (1 - step):.{decimals}f}%"
    return f"{x:.{decimals}%}"


MULTIPLIER_DIGITS_NEAR_1 = 6


def fmt_multiplier(x: float) -> str:
    """A multiplier in 3 significant figures ('10.3x', '0.312x', '8.90e20x', '3.46e-7x'), except near 1x: a
    multiplier that is not exactly 1 gets up to 6 figures, enough to say on which side of 1x it
    lies ('1.004x', '0.9996x'), since whether a band's end clears 1x is what a reader looks for
    (a band [1.0045, 2.88] printed '[1x, 2.88x]' could not be told from one that reaches 1x)."""
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0x"
    if not 1e-3 <= abs(x) < 1e5:      # by size, as fmt: a negative (a bug upstream) is shown, not a crash
        mantissa, exponent = fmt(x, 3).split("e")        # 8.90e20x, 1.66e7x: not 21 digits; 3.46e-7x as those
        return f"{mantissa}e{int(exponent)}x"
    if abs(x) >= 100:
        return f"{x:.0f}x"
    return f"{_off_one(x, 3)}x"


def _off_one(x: float, digits: int) -> str:
    """``x`` in ``digits`` significant figures, or more (up to MULTIPLIER_DIGITS_NEAR_1) when those
    round a value that is not 1 onto '1'; still '1' at that many, it keeps its trailing zeros
    ('1.00000'), which say it was rounded."""
    for d in range(digits, MULTIPLIER_DIGITS_NEAR_1 + 1):
        text = f"{x:.{d}g}"
        if text != "1" or x == 1:
            return text
    return f"{x:#.{MULTIPLIER_DIGITS_NEAR_1}g}"


def _band(low, high, formatter) -> str:
    if math.isnan(low) or math.isnan(high):
        return ""
    return f"[{formatter(low)}, {formatter(high)}]"


def _align(rows: list[list[str]], indent: str = "  ") -> str:
    widths = [max(display_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [indent + "  ".join(c + " " * (w - display_width(c)) for c, w in zip(r, widths)).rstrip()
             for r in rows]
    return "\n".join(lines)


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: 2 for each wide (East Asian) character, 0 for a
    combining mark, 1 for the rest; so that a family named in Chinese or Japanese does not push
    its row's columns out of line with the others."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def _fixed_phrase(law) -> str:
    """', E fixed at 0.4' for a law with fixed parameters, else ''."""
    return "".join(f", {name} fixed at {value:.6g}" for name, value in law.fixed.items())


def compute_note(law) -> str:
    """What the compute column means: the file's, or for L(N, D) C = k N D (the fit's compute range
    and its frontier spend that, whatever a flops column says)."""
    k = getattr(law, "flops_per_param_token", None)
    return "compute C in the file's units" if k is None else f"compute C = {k:g} N D in the file's units"


def format_table(result: Analysis, flags: bool = False) -> str:
    """A table readable at a glance: fits with bands, then multipliers with bands; arguments named
    as Python does (``bootstrap=0``), or with ``flags`` as the command's options (``--bootstrap 0``)."""
    terms = terms_of(flags)
    ladder = result.ladder
    pct = level_percent(result.level)
    metric_note = "loss = ln(perplexity), nats/token" if ladder.metric == "perplexity" else "loss in nats/token"
    lines = [f"scalefit {__version__}: {ladder.source}",
             f"law: {result.law.name}, {result.law.formula}   ({metric_note}; {compute_note(result.law)})"]
    if result.band_method == "percentile":
        lines.append(f"bands: {pct} percentile bootstrap over runs, {result.n_bootstrap} resamples, "
                     f"seed {result.seed}")
    elif result.band_method == "profile":
        lines.append(f"bands: {pct} profile likelihood (F-calibrated), see README 'Honest bands'")
    elif any(np.isfinite(ff.fit.stderr).any() for ff in result.fits.values()):
        lines.append(f"bands: none ({terms.setting('bootstrap', 0)}); parameter ± are standard errors")
    else:
        lines.append(f"bands: none ({terms.setting('bootstrap', 0)})")
    has_bands = result.band_method != "none"
    lines += ["", "Fitted families"]
    header = ["family", "runs", "compute range"] + list(result.law.param_names) + ["rmse(ln L)"]
    rows = [header]
    for name, ff in result.fits.items():
        f = ff.fit
        row = [name, runs_cell(result.ladder, name, f.n_runs), f"{fmt(f.flops_min, 2)} .. {fmt(f.flops_max, 2)}"]
        for j, param in enumerate(result.law.param_names):
            value = fmt(f.params[j])
            if param in result.law.fixed:
                extra = "(fixed)"
            elif has_bands:
                extra = _band(ff.low[j], ff.high[j], fmt)
            else:
                extra = f"± {fmt(f.stderr[j], 2)}" if math.isfinite(f.stderr[j]) else ""
            row.append(f"{value} {extra}".strip())
        row.append(fmt(f.rmse_log, 3))
        rows.append(row)
    lines.append(_align(rows))
    if result.multipliers:
        lines += ["", f"Equivalent-compute multipliers of {result.focus} "
                      f"(reference compute / {result.focus} compute at the same loss; > 1: {result.focus} needs less)"]
        metric_col = "perplexity" if ladder.metric == "perplexity" else "loss"
        head = ["reference", "at", metric_col, "ref compute", f"{result.focus} compute", "multiplier"]
        if has_bands:
            head += [f"{pct} band"]
        if result.band_method == "percentile":
            head += ["unreachable"]
        head += ["beyond ladder"]
        rows = [head]
        for m in result.multipliers:
            value = perplexity(m.loss) if ladder.metric == "perplexity" else m.loss
            row = [m.reference, m.where, fmt(value), fmt(m.reference_flops, 3), fmt(m.focus_flops, 3),
                   fmt_multiplier(m.multiplier)]
            if has_bands:
                row += [_band(m.low, m.high, fmt_multiplier) + ("" if m.band_checked else " *")]
            if result.band_method == "percentile":
                row += [fmt_share(m.unreachable_fraction, 1)]
            row.append(_decades(m.extrapolation_decades))
            rows.append(row)
        lines.append(_align(rows))
    else:
        lines += ["", f"No other family to compare {result.focus} with."]
    if result.predictions:
        lines += [""] + _prediction_table(result)
    if has_bands and not all(x.band_checked for x in result.multipliers + result.predictions):
        lines.append("  * design outside what the calibration study checked (see the warnings and README)")
    return "\n".join(lines) + "\n"


def _prediction_table(result: Analysis) -> list[str]:
    """The predictions' title and aligned table (see ``prediction_rows``)."""
    title, rows = prediction_rows(result)
    return [title, _align(rows)]


def prediction_rows(result: Analysis) -> tuple[str, list[list[str]]]:
    """Each family's fitted loss (or perplexity) at the computes (and, for L(N, D), the sizes) asked
    for, with bands (' *': a design the calibration study did not check): a title and rows, the
    first the header."""
    as_perplexity = result.ladder.metric == "perplexity"
    show = perplexity if as_perplexity else (lambda x: x)
    what = "perplexity" if as_perplexity else "loss"
    nd = result.law.name == "chinchilla"
    has_bands = result.band_method != "none"
    head = ["family"] + (["at", "params", "tokens"] if nd else []) + ["compute", what]
    head += [f"{level_percent(result.level)} band"] if has_bands else []
    rows = [head + ["beyond ladder"]]
    for p in result.predictions:
        row = [p.family] + ([p.where, fmt(p.params, 3), fmt(p.tokens, 3)] if nd else [])
        row += [fmt(p.flops, 3), fmt(show(p.loss))]
        if has_bands:
            row.append(_band(show(p.low), show(p.high), fmt) + ("" if p.band_checked else " *"))
        rows.append(row + [_decades(p.extrapolation_decades)])
    title = (f"Predicted {what} of L(N, D) (compute-optimal: on the frontier at that compute, with its N and D; "
             "size: at the given N and D; beyond ladder: in compute)" if nd else f"Predicted {what} at the given compute")
    return title, rows


def _decades(d: float) -> str:
    if math.isinf(d):
        return "unreachable"
    if d == 0:
        return "inside"
    return f"{d:+.1f} dec"


# ----- plan --------------------------------------------------------------------------------------

def plan_to_dict(plan) -> dict:
    spec = plan.spec
    from .laws import get_law
    return {
        "schema": JSON_SCHEMA_VERSION,
        "scalefit_version": __version__,
        "truth": {"law": spec.law, "params": dict(zip(get_law(spec.law).param_names, map(float, spec.params))),
                  "noise": spec.noise, "flops": list(spec.flops), "from": plan.truth_from or None},
        "multiplier": plan.multiplier, "beyond": plan.beyond, "claim": plan.claim, "level": plan.level,
        "simulations": plan.simulations, "band_method": "profile",
        "designs": [{k: _clean(v) for k, v in row.items()} for row in plan.frame().to_dict("records")],
        "best_extra_run": None if plan.best_extra is None else plan.best_extra.design,
        "cheapest_always_bounded_extra_run": None if plan.cheapest_always_bounded is None
        else plan.cheapest_always_bounded.design,
    }


def plan_to_json(plan) -> str:
    return strict_json(plan_to_dict(plan))


def plan_to_csv(plan) -> str:
    return frame_csv(plan.frame(), "%.6g")


def format_plan(plan, flags: bool = False) -> str:
    """The plan's table and advice; arguments named as Python does (``extra_runs=...``), or with
    ``flags`` as the command's options (``--extra-run``)."""
    from .laws import get_law
    spec = plan.spec
    params = ", ".join(f"{n}={fmt(v)}" for n, v in zip(get_law(spec.law).param_names, spec.params))
    pct = level_percent(plan.level)
    lines = [f"{_title(flags, 'plan_ladder', 'plan')}: {len(spec.flops)} runs from {fmt(min(spec.flops), 3)} to {fmt(max(spec.flops), 3)}; "
             f"{spec.law} law {params} (loss in nats); noise {spec.noise:.2%}"]
    if plan.truth_from:
        lines.append(f"(assumed truth: {plan.truth_from})")
    lines += [f"reference at a true multiplier of {fmt_multiplier(plan.multiplier)}, reached by the focus "
             f"{plan.reference_place}; claim: > {fmt_multiplier(plan.claim)}",
             f"{plan.simulations} simulated ladders per design, {pct} profile bands", ""]
    rows = [["design", "total compute", "added", "median band", "median width", "unbounded",
             f"band > {fmt_multiplier(plan.claim)}", "coverage"]]
    for o in plan.outcomes:
        added = "" if o is plan.proposed else f"+{plan.added_compute(o):.2g}x"
        rows.append([o.design, fmt(o.total_flops, 3), added, _band(o.median_low, o.median_high, fmt_multiplier),
                     fmt_multiplier(o.median_width), fmt_share(o.unbounded_share), fmt_share(o.claim_supported_share),
                     fmt_share(o.coverage)])
    lines.append(_align(rows))
    lines.append("(added: the extra run's compute as a multiple of the proposed ladder's)")
    proposed, best, bounded = plan.proposed, plan.best_extra, plan.cheapest_always_bounded
    lines.append("")
    lines.append(f"With the proposed ladder, {fmt_share(proposed.claim_supported_share)} of simulated experiments give a "
                 f"{pct} band above {fmt_multiplier(plan.claim)}.")
    if best is not None and not np.isfinite(best.median_width):
        lines.append(f"No candidate extra run bounds the band in most simulations; the fewest unbounded bands: "
                     f"{best.design} ({fmt_share(best.unbounded_share)} unbounded; it adds {plan.added_compute(best):.2g}x "
                     "the proposed ladder's compute); bounding it needs a longer ladder, more seeds per run or a "
                     "nearer reference.")
    elif best is not None:
        lines.append(f"The extra run that narrows the band most: {best.design} (median width "
                     f"{fmt_multiplier(proposed.median_width)} -> {fmt_multiplier(best.median_width)}; band above "
                     f"{fmt_multiplier(plan.claim)} in {fmt_share(best.claim_supported_share)}; it adds "
                     f"{plan.added_compute(best):.2g}x the proposed ladder's compute).")
    if best is not None and plan.costs_more_than_reference(best):
        lines.append(f"That run alone takes {fmt(best.extra_flops, 3)}, at least the compute of the reference itself "
                     f"({fmt(plan.reference_flops, 3)}): {_what_the_run_spends(plan.multiplier)}; weigh a "
                     f"cheaper candidate (the 'added' column) or {terms_of(flags).option('extra_runs')}.")
    if bounded is not None and bounded is not best and proposed.unbounded_share > 0:
        lines.append(f"The cheapest extra run whose band was bounded in every simulation: {bounded.design} "
                     f"(median width {fmt_multiplier(bounded.median_width)}; it adds "
                     f"{plan.added_compute(bounded):.2g}x the proposed ladder's compute).")
    return "\n".join(lines) + "\n"


def _what_the_run_spends(multiplier: float) -> str:
    """Why an extra run costing the reference's compute defeats its purpose: with a saving to show
    (multiplier > 1) it spends that saving; without one the measurement outspends what it measures."""
    if multiplier > 1:
        return "it would spend the saving it is meant to show"
    return "the measurement would cost more than the reference it compares against"


# ----- compute-optimal allocation -------------------------------------------------------------------

def optimal_to_dict(report) -> dict:
    """The allocation as strict JSON; for perplexity files each allocation's frontier loss (nats)
    also as ``perplexity``."""
    result = report.analysis
    metric = result.ladder.metric
    fams = []
    for fa in report.families:
        entry = {"family": fa.family,
                 "parameters": to_dict(result)["families"][list(result.fits).index(fa.family)]["parameters"],
                 "allocations": [dict(flops=c, **{q: {"value": _clean(v), "low": _clean(lo), "high": _clean(hi)}
                                                  for q, (v, lo, hi) in _with_perplexity(quantities, metric).items()})
                                 for c, quantities in fa.at.items()]}
        iso = fa.isoflop
        entry["isoflop"] = None if iso is None else {
            "a": _clean(iso.a), "a_low": _clean(iso.a_band[0]), "a_high": _clean(iso.a_band[1]), "b": _clean(iso.b),
            "budgets": [{k: _clean(v) for k, v in row.items()} for row in iso.budgets.to_dict("records")],
            "skipped": list(iso.skipped),
            "at": [{"flops": c, "n_opt": _clean(iso.n_opt(c)), "d_opt": _clean(iso.d_opt(c))} for c in report.budgets]}
        fams.append(entry)
    law = result.law
    return {"schema": JSON_SCHEMA_VERSION, "scalefit_version": __version__, "source": result.ladder.source,
            "metric": metric,
            "law": {"name": law.name, "formula": law.formula, "huber_delta": law.huber_delta,
                    "flops_per_param_token": law.flops_per_param_token},
            "bands": {"method": result.band_method, "level": result.level, "resamples": result.n_bootstrap,
                      "seed": result.seed},
            "families": fams, "warnings": plain_texts(report.warnings)}


def _with_perplexity(quantities: dict, metric: str) -> dict:
    """The allocation's quantities, plus the frontier loss as a perplexity for perplexity files."""
    if metric != "perplexity":
        return quantities
    return {**quantities, "perplexity": tuple(perplexity(x) for x in quantities["loss"])}


def optimal_to_json(report) -> str:
    return strict_json(optimal_to_dict(report))


def _with_band(value_low_high) -> str:
    """'0.514 [0.484, 0.556]', or '0.514' without a band (3 significant digits)."""
    value, low, high = value_low_high
    return f"{fmt(value, 3)} {_band(low, high, lambda x: fmt(x, 3))}".strip()


def format_optimal(report, flags: bool = False) -> str:
    """The allocation's tables; arguments named as Python does (``bootstrap=0``), or with ``flags``
    as the command's options (``--bootstrap 0``)."""
    result = report.analysis
    law = result.law
    pct = level_percent(result.level)
    bands = (f"{pct} percentile bootstrap bands, {result.n_bootstrap} resamples, seed {result.seed}"
             if result.n_bootstrap else f"no bands ({terms_of(flags).setting('bootstrap', 0)})")
    lines = [f"{_title(flags, 'optimal_report', 'optimal', __version__)}: {result.ladder.source}",
             f"law: {law.formula}, Huber delta {law.huber_delta:g} on ln-loss residuals; "
             f"C = {law.flops_per_param_token:g} N D; {bands}"]
    for fa in report.families:
        fit = result.fits[fa.family].fit
        first = next(iter(fa.at.values()))
        a, b = first["a"], first["b"]
        params = "  ".join(f"{n}={fmt(v)}" for n, v in zip(law.param_names, fit.params))
        lines += ["", f"family {fa.family} ({_runs_phrase(result.ladder, fa.family, fit.n_runs)}): {params}",
                  f"  N_opt ∝ C^a, a = {_with_band(a)};  D_opt ∝ C^b, b = {_with_band(b)}"]
        what = "perplexity" if result.ladder.metric == "perplexity" else "loss"
        rows = [["compute", "N_opt (params)", "D_opt (tokens)", "tokens/param", f"{what} on frontier"]]
        for c, q in fa.at.items():
            q = _with_perplexity(q, result.ladder.metric)
            rows.append([fmt(c, 3)] + [_with_band(q[name]) for name in ("n_opt", "d_opt", "tokens_per_param", what)])
        lines.append(_align(rows))
        iso = fa.isoflop
        if iso is not None:
            lines.append(f"  IsoFLOP (Approach 2): {len(iso.budgets)} budgets, a = {_with_band((iso.a, *iso.a_band))}, "
                         f"b = {fmt(iso.b, 3)}; "
                         + "; ".join(f"at {fmt(c, 3)}: N_opt {fmt(iso.n_opt(c), 3)}, D_opt {fmt(iso.d_opt(c), 3)}"
                                     for c in report.budgets))
    return "\n".join(lines) + "\n"


# ----- backtest --------------------------------------------------------------------------------

def backtest_to_dict(bt) -> dict:
    """The backtest as strict JSON: settings, one entry per held-out run, and the summary."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "scalefit_version": __version__,
        "source": bt.ladder.source,
        "metric": bt.ladder.metric,
        "law": {"name": bt.law.name, "formula": bt.law.formula, "parameters": list(bt.law.param_names),
                "fixed": bt.law.fixed},
        "hold_out": bt.hold_out,
        "bands": {"method": bt.band_method, "level": bt.level},
        "bootstrap": {"resamples": bt.n_bootstrap, "seed": bt.seed, "unit": "run"},
        "held_out": [{k: _clean(v) for k, v in row.items()} for row in bt.frame().to_dict("records")],
        "coverage": _clean(bt.coverage),
        "median_abs_error": _clean(bt.median_abs_error),
        "warnings": plain_texts(bt.warnings),
    }


def backtest_to_json(bt) -> str:
    return strict_json(backtest_to_dict(bt))


def backtest_to_csv(bt) -> str:
    return frame_csv(bt.frame())


def _held_out_phrase(bt) -> str:
    """Which runs a backtest holds out and where it predicts them; runs with checkpoints are held
    out whole (``backtesting.split_held_out``)."""
    from .analysis import checkpoint_families
    what = "N and D" if bt.law.name == "chinchilla" else "compute"
    if checkpoint_families(bt.ladder, list(bt.training)):
        return (f"ending at its {bt.hold_out} largest compute value(s), with all their checkpoints, which the fit "
                f"then predicts (at the {what} of their final checkpoints)")
    return f"at its {bt.hold_out} largest compute value(s), which the fit then predicts (at their {'own ' * (what != 'compute')}{what})"


def format_backtest(bt) -> str:
    """Each held-out run: observed and predicted loss (perplexity for perplexity files), relative
    error of the loss, band and whether the run is inside it; then the summary."""
    as_perplexity = bt.ladder.metric == "perplexity"
    show = perplexity if as_perplexity else (lambda x: x)
    what = "perplexity" if as_perplexity else "loss"
    nd = bt.law.name == "chinchilla"
    has_bands = bt.band_method != "none"
    pct = level_percent(bt.level)
    bands = {"profile": f"{pct} profile bands", "percentile": f"{pct} percentile bootstrap bands"}.get(
        bt.band_method, "no bands")
    lines = [f"scalefit {__version__} backtest: {bt.ladder.source}",
             f"law: {bt.law.name}{_fixed_phrase(bt.law)}; each family fitted without the runs {_held_out_phrase(bt)}; {bands}", ""]
    head = ["family", "run"] + (["params", "tokens"] if nd else []) + ["compute", f"observed {what}", "predicted",
                                                                      "error (loss)"]
    head += [f"{pct} band", "inside"] if has_bands else []
    rows = [head + ["beyond fit"]]
    for h in bt.rows:
        p = h.prediction
        row = [h.family, h.run] + ([fmt(p.params, 3), fmt(p.tokens, 3)] if nd else [])
        row += [fmt(p.flops, 3), fmt(show(h.observed)), fmt(show(p.loss)), f"{h.error:+.2%}"]
        if has_bands:
            row += [_band(show(p.low), show(p.high), fmt) + ("" if p.band_checked else " *"),
                    "yes" if h.inside else "no"]
        rows.append(row + [_decades(p.extrapolation_decades)])
    lines.append(_align(rows))
    summary = f"{len(bt.rows)} held-out run(s); median |error| {bt.median_abs_error:.2%}"
    if has_bands:
        summary += f"; inside the {pct} band: {sum(bool(h.inside) for h in bt.rows)} of {len(bt.rows)}"
    lines += ["", summary]
    if has_bands and not all(h.prediction.band_checked for h in bt.rows):
        lines.append("  * design outside what the calibration study checked (see the warnings and README)")
    return "\n".join(lines) + "\n"


# ----- shared-law comparison ---------------------------------------------------------------------

def shared_to_dict(cmp) -> dict:
    """The shared-law comparison as strict JSON: the law, one entry per family, the file's reference
    points (single runs) the shared law leaves out, as the table names them under its rows, and the check."""
    E, A, alpha = cmp.params
    return {
        "schema": JSON_SCHEMA_VERSION,
        "scalefit_version": __version__,
        "source": cmp.ladder.source,
        "metric": cmp.ladder.metric,
        "focus": cmp.focus,
        "law": {"formula": "L_f(C) = E + A * (C / M_f)^(-alpha)", "E": _clean(E), "A": _clean(A),
                "alpha": _clean(alpha), "A_for": cmp.focus},
        "objective": _clean(cmp.objective), "rmse_log": _clean(cmp.rmse_log), "runs": cmp.n_runs, "dof": cmp.dof,
        "bands": {"method": "profile", "level": cmp.level},
        "families": [{k: _clean(v) for k, v in row.items()} for row in cmp.frame().to_dict("records")],
        "left_out": list(cmp.ladder.reference_families()),
        "check": {"separate_objective": _clean(cmp.separate_objective), "f": _clean(cmp.f_statistic),
                  "dof": list(cmp.check_dof), "p": _clean(cmp.p_value)},
        "warnings": plain_texts(cmp.warnings),
    }


def shared_to_json(cmp) -> str:
    return strict_json(shared_to_dict(cmp))


def shared_to_csv(cmp) -> str:
    return frame_csv(cmp.frame())


def runs_cell(ladder, family: str, rows: int) -> str:
    """A family's runs as the tables give them: its row count, or for a family of checkpoints its
    runs and rows ('6 (60 rows)'; 60 checkpoints of 6 runs were '60' beside a warning about 6 runs)."""
    from .analysis import checkpoint_families
    checkpoints = checkpoint_families(ladder, [family])
    return f"{checkpoints[family][1]} ({rows} rows)" if family in checkpoints else str(rows)


def format_shared(cmp, flags: bool = False) -> str:
    """The shared law, the focus's saving against each family with its band, and the F test; titled
    by the function that made it (``compare_shared``), or with ``flags`` by the command (``compare``)."""
    E, A, alpha = cmp.params
    pct = level_percent(cmp.level)
    lines = [f"{_title(flags, 'compare_shared', 'compare', __version__)}: {cmp.ladder.source}",
             f"one law for {len(cmp.factors)} families up to a compute factor each: "
             f"L_f(C) = E + A * (C / M_f)^(-alpha)",
             f"E = {fmt(E)}, A = {fmt(A)}, alpha = {fmt(alpha)} (A for {cmp.focus}, compute in the file's units, "
             f"{'loss = ln(perplexity), nats/token' if cmp.ladder.metric == 'perplexity' else 'loss in nats/token'}); "
             f"{_shared_runs(cmp)}, rmse of ln L {fmt(cmp.rmse_log, 3)}", ""]
    lines.append(f"Multipliers of {cmp.focus} (family's compute / {cmp.focus}'s compute at the same loss, any loss; "
                 f"> 1: {cmp.focus} needs less)")
    rows = [["family", "runs", "multiplier", f"{pct} profile band"]]
    for f in cmp.factors:
        if f.family == cmp.focus:
            rows.append([f.family, runs_cell(cmp.ladder, f.family, f.n_runs), "1 (focus)", ""])
        else:
            rows.append([f.family, runs_cell(cmp.ladder, f.family, f.n_runs), fmt_multiplier(f.multiplier),
                         _band(f.low, f.high, fmt_multiplier) + ("" if f.band_checked else " *")])
    lines.append(_align(rows))
    if not all(f.band_checked for f in cmp.factors):
        lines.append("  * design outside what the calibration study checked (see the warnings and README)")
    lines += _left_out_of_shared_law(cmp, flags)
    lines.append("")
    if math.isnan(cmp.p_value):
        lines.append("check: not tested (see the warnings)")
    else:
        df1, df2 = cmp.check_dof
        verdict = ("the data contradict the shared law" if cmp.p_value < 0.05
                   else "no evidence against the shared law")
        lines.append(f"check against a separate saturating law per family: F = {cmp.f_statistic:.3g} on "
                     f"({df1}, {df2}) degrees of freedom, p = {cmp.p_value:.2g}: {verdict}")
    return "\n".join(lines) + "\n"


def _left_out_of_shared_law(cmp, flags: bool) -> list[str]:
    """A line naming the file's reference points (single runs), which a shared law leaves out: the
    table listed the ladders alone, and a reference point in the file vanished without a word."""
    left = cmp.ladder.reference_families()
    if not left:
        return []
    names = ", ".join(left)
    return [f"  not in the shared law: {names} (single run{'s' * (len(left) > 1)}, compared by "
            f"{terms_of(flags).tool('analyze', 'fit')})"]


def _runs_phrase(ladder, family: str, rows: int) -> str:
    """'N runs', or 'N runs, M rows' for a family of checkpoints."""
    cell = runs_cell(ladder, family, rows)
    return f"{rows} runs" if cell == str(rows) else f"{cell.split(' ')[0]} runs, {rows} rows"


def _shared_runs(cmp) -> str:
    """The shared fit's runs: 'N runs', or 'M rows of N runs' when some families' rows are checkpoints."""
    from .analysis import checkpoint_families
    checkpoints = checkpoint_families(cmp.ladder, [f.family for f in cmp.factors])
    if not checkpoints:
        return f"{cmp.n_runs} runs"
    runs = sum(checkpoints[f.family][1] if f.family in checkpoints else f.n_runs for f in cmp.factors)
    return f"{cmp.n_runs} rows of {runs} runs"
