"""Reading and validating ladder files: every check on user input lives in this module.

A ladder file is a tidy CSV, one row per training run. Lines whose first non-blank character is
``#`` are comments (provenance). Columns:

- ``family`` (required): the recipe a run belongs to.
- compute: ``flops``, or ``params`` and ``tokens`` (then flops = 6 * params * tokens unless
  ``flops`` is also given); ``params`` with ``flops`` and no ``tokens`` gives L(N, D) fits
  tokens = flops / (k params), k the law's FLOPs per parameter-token (6 by default).
- metric: ``loss`` (nats per token) or ``perplexity`` (loss = ln perplexity), not both.
- ``run`` (optional): a name for the run.

Column names are matched without regard to case (``Family``, ``FLOPs`` and ``Loss`` are read as
``family``, ``flops`` and ``loss``). Other columns are kept but ignored, unless their name looks like
a misspelling of a known one.
A family with one run is a *reference point*; a family with enough runs to fit a law is a *ladder*.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .equality import ValueEquality

# The smallest loss (nats per token) accepted: a perplexity of 1.000001. The fits weight runs by
# 1 / loss^2, which overflows for losses near 1e-154, and no training run comes near either.
SMALLEST_LOSS = 1e-6
LARGEST_LOSS = 1e4        # nats per token: far above any training run's loss
MAX_COMPUTE_DECADES = 30  # between a file's smallest and largest compute
KNOWN_COLUMNS = ("family", "run", "flops", "params", "tokens", "loss", "perplexity")
FLOPS_PER_PARAM_TOKEN = 6.0
PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3


def copy_on_write() -> bool:
    """Whether pandas copies a frame's data only when a copy is written to: always in pandas 3,
    before it while ``pd.options.mode.copy_on_write`` is True, read at each call (a notebook may
    turn it off after reading a ladder: a shallow copy then shared its writes with the ladder)."""
    return PANDAS_3 or pd.options.mode.copy_on_write is True


class LadderError(ValueError):
    """Bad input: the message is one line naming the file, row and column, and what to do."""


@dataclass(frozen=True, eq=False)
class Ladder(ValueEquality):
    """Validated training runs.

    ``runs`` has columns ``family``, ``run``, ``flops``, ``loss`` and ``where`` (where the run
    came from, for messages: "line 7" of a file, "row 5" of a DataFrame by its index label), plus
    ``params`` and ``tokens`` when given. It is a copy of the validated runs, which stay as they
    were read whatever is done to it (``ladder.runs.loc[0, 'loss'] = -1`` changed the runs every
    later fit used, unchecked): to fit changed runs, read the changed frame, ``read_ladder(frame)``.
    ``metric`` is the column the losses came from (``"loss"`` or ``"perplexity"``).
    """

    _runs: pd.DataFrame                # the validated runs; read them as .runs
    metric: str
    source: str
    header: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()    # valid but suspicious input: repeated rows, implausible losses
    params_problem: str = ""          # why a 'params' column given with 'flops' (no 'tokens') is unusable
    flops_given: bool = True          # the source had a 'flops' column (else flops = 6 * params * tokens)

    @property
    def runs(self) -> pd.DataFrame:
        """The validated runs, as a copy: with pandas' copy-on-write (pandas 3) a copy that shares
        the data until either is written to (free); before it, the data copied (about 7 ms for
        100,000 runs; the library reads its own frame)."""
        return self._runs.copy(deep=not copy_on_write())

    def with_runs(self, runs: pd.DataFrame, **changes) -> "Ladder":
        """This ladder with other runs, already validated (some of these: a backtest's training runs),
        and other fields ``changes``."""
        return replace(self, _runs=runs, **changes)

    def __repr__(self) -> str:
        ladders, points = len(self.ladder_families()), len(self.reference_families())
        return (f"<Ladder {self.source}: {len(self._runs)} runs of {self.metric}, {ladders} ladder famil"
                f"{'y' if ladders == 1 else 'ies'} and {points} reference point(s), {len(self.warnings)} warning(s); "
                ".runs is the DataFrame, .family_runs(name) one family's runs>")

    def with_tokens(self, k: float) -> "Ladder":
        """The ladder as an L(N, D) law with C = k N D reads it: tokens D = C / (k N) where the file
        gave params N and flops C but no tokens (Epoch's digitised Chinchilla table), and compute
        C = k N D where the file gave no flops (read as 6 N D: with another k a reference run's
        compute and the frontier's disagreed, and multipliers against reference runs were off by k / 6)."""
        if "tokens" in self._runs.columns:
            if self.flops_given or k == FLOPS_PER_PARAM_TOKEN:
                return self
            return self.with_runs(self._runs.assign(flops=k * self._runs["params"] * self._runs["tokens"]))
        if self.params_problem:
            raise LadderError(self.params_problem + " (L(N, D) needs every run's parameter count)")
        if "params" not in self._runs.columns:
            return self            # check_fittable says what L(N, D) needs
        return self.with_runs(self._runs.assign(tokens=self._runs["flops"] / (k * self._runs["params"])))

    def compute_columns(self) -> str:
        """Where a run's compute comes from, as an error message names it: "column 'flops'", or
        "columns 'params' and 'tokens'" when the file gave no flops (compute 6 * params * tokens)."""
        return "column 'flops'" if self.flops_given else "columns 'params' and 'tokens' (compute 6 * params * tokens)"

    @property
    def families(self) -> list[str]:
        """Family names in the order they first appear in the file."""
        return list(dict.fromkeys(self._runs["family"]))

    def family_runs(self, family: str) -> pd.DataFrame:
        return self._runs[self._runs["family"] == self.family_name(family)]

    def run_counts(self) -> dict[str, int]:
        return {f: int((self._runs["family"] == f).sum()) for f in self.families}

    def reference_families(self) -> list[str]:
        """Families with a single run: reference points, not fitted."""
        return [f for f, n in self.run_counts().items() if n == 1]

    def ladder_families(self) -> list[str]:
        """Families with more than one run: ladders, fitted with a law."""
        return [f for f, n in self.run_counts().items() if n > 1]

    @cached_property
    def fitted_compute_range(self) -> tuple[float, float]:
        """Smallest and largest compute of the ladder families' runs (reference points are not
        fitted), read once: the runs do not change, and Analysis.predict checks every call against it."""
        runs = self._runs
        flops = runs.loc[runs["family"].isin(self.ladder_families()), "flops"].to_numpy(dtype=float)
        return float(flops.min()), float(flops.max())

    def default_focus(self) -> str:
        """The family with the most runs (the first in the file on a tie)."""
        counts = self.run_counts()
        return max(self.families, key=lambda f: counts[f])

    @staticmethod
    def family_name(name) -> str | None:
        """A family name as the ladder holds it: text, stripped (a DataFrame's family 2 is '2')."""
        return None if name is None else str(name).strip()

    def not_among(self, family: str, among: list[str], what: str) -> str:
        """The message for a family that is not among ``among`` (the families that were ``what``,
        e.g. "fitted"): a reference point, or not in the file (with the closest name, if any)."""
        if family in self.families:
            return (f"family {family!r} is a reference point (one run), not {what}; {what} families: "
                    f"{', '.join(repr(f) for f in among)}")
        return self.unknown_family(family, role="family")

    def unknown_family(self, name: str, role: str = "focus family") -> str:
        """The message for a family name that is not in the file, with the closest name if any."""
        folded = {f.casefold(): f for f in self.families}
        close = difflib.get_close_matches(str(name).casefold(), list(folded), n=1, cutoff=0.75)
        hint = f"did you mean '{folded[close[0]]}'? " if close else ""
        return f"{self.source}: {role} '{name}' is not in the file; {hint}families are: {', '.join(self.families)}"

    def metric_to_loss(self, value: float) -> float:
        """Convert a value in the file's metric to loss in nats per token."""
        return math.log(value) if self.metric == "perplexity" else float(value)

    def loss_to_metric(self, loss):
        """Convert loss in nats per token to the file's metric."""
        return np.exp(loss) if self.metric == "perplexity" else loss


def read_ladder(source, name: str | None = None) -> Ladder:
    """Read and validate a ladder from a CSV path, an open CSV file or text buffer, or a pandas DataFrame.

    Raises :class:`LadderError` with a one-line message on any problem.
    """
    if isinstance(source, Ladder):
        if name is None or name == source.source:
            return source
        # its messages name the source as they begin: renamed with it
        renamed = tuple(name + w[len(source.source):] if w.startswith(source.source) else w for w in source.warnings)
        return replace(source, source=name, warnings=renamed)
    readable = hasattr(source, "read")
    if not isinstance(source, (pd.DataFrame, str, os.PathLike)) and not readable:
        raise TypeError(f"a ladder is a CSV path, an open CSV file (or io.StringIO), a pandas DataFrame or a Ladder, "
                        f"not {type(source).__name__}")
    if isinstance(source, pd.DataFrame):
        _refuse_needed_columns_in_index(source, name or "<DataFrame>")
        table = source.copy()
        table.columns = [str(c).strip() for c in table.columns]
        return _validate(table.astype(object), _frame_rows(source), name or "<DataFrame>", header=())
    if readable:
        label = name or str(getattr(source, "name", "<stream>"))
        text = _decoded(_read_stream(source, label), label)
    else:
        label = name or _path_label(str(source))
        text = _read_text(Path(source), label)
    header, body, lines = _split_comments(text)
    if not body:
        raise LadderError(f"{label}: the file has no header row and no runs; "
                          "add a header like 'family,flops,loss' and one row per run")
    rows, row_lines = _parse_csv(body, lines, label)
    lines = row_lines
    columns = [c.strip() for c in rows[0]]
    if len(columns) == 1 and _other_separator(columns[0]):
        raise LadderError(f"{label}, line {lines[0]}: {_other_separator(columns[0])}")
    _refuse_misplaced_header(text, rows, lines, label)
    if len(columns) < 2:
        raise LadderError(f"{label}, line {lines[0]}: the header has {len(columns)} column(s) "
                          f"({','.join(columns) or 'empty'}); expected comma-separated columns "
                          "like 'family,flops,loss'")
    data = rows[1:]
    ragged = np.flatnonzero(np.fromiter(map(len, data), dtype=int, count=len(data)) != len(columns))
    if ragged.size:
        i = ragged[0]
        more = _more_rows(ragged, [f"line {n}" for n in lines[1:]], "1 more row does not match it either",
                          "{n} more rows do not match it either")
        raise LadderError(f"{label}, line {lines[1 + i]}: {len(data[i])} fields but the header has "
                          f"{len(columns)}{more}; check for a missing or extra comma")
    table = pd.DataFrame(data, columns=columns, dtype=object)
    return _validate(table, [f"line {n}" for n in lines[1:]], label, header=tuple(header))


def _refuse_needed_columns_in_index(frame: pd.DataFrame, label: str) -> None:
    """A LadderError when a column the ladder needs is the DataFrame's index (its level) rather
    than a column, as after ``frame.set_index('family')`` or a ``groupby``: the error said 'no
    'family' column; add one' of a frame that has it, in its index. Needed: family; loss or
    perplexity; flops, or params and tokens."""
    columns = {str(c).strip().lower() for c in frame.columns}
    in_index = [str(n).strip() for n in frame.index.names if n is not None]
    needed = {"family"} if "family" not in columns else set()
    if not {"loss", "perplexity"} & columns:
        needed |= {"loss", "perplexity"}
    if "flops" not in columns and not {"params", "tokens"} <= columns:
        needed |= {"flops", "params", "tokens"} - columns
    misplaced = [n for n in in_index if n.lower() in needed]
    if misplaced:
        names, one = " and ".join(f"'{n}'" for n in misplaced), len(misplaced) == 1
        raise LadderError(f"{label}, header: {names} {'is' if one else 'are'} in the DataFrame's index, not "
                          f"{'a column' if one else 'columns'}; pass frame.reset_index() to make "
                          f"{'it a column' if one else 'them columns'}")


def _frame_rows(frame: pd.DataFrame) -> list[str]:
    """Where each row of a DataFrame is, for messages: 'row LABEL' by its index label (what
    ``frame.loc`` takes), or 'row at position I' (``frame.iloc``) when labels repeat."""
    if not frame.index.is_unique:
        return [f"row at position {i}" for i in range(len(frame))]
    return [f"row {label!r}" if isinstance(label, str) else f"row {label}" for label in frame.index]


def _several(places: list[str]) -> str:
    """'lines 3, 5 and 8' from ['line 3', 'line 5', 'line 8'] (rows alike; a trailing '...' kept):
    several places in one phrase."""
    if len(places) == 1:
        return places[0]
    kinds = {p.split(" ", 1)[0] for p in places if p != "..."}
    if len(kinds) == 1 and not any(p.startswith("row at") for p in places):
        places = [kinds.pop() + "s " + places[0].split(" ", 1)[1]] + [p.split(" ", 1)[-1] for p in places[1:]]
    if places[-1] == "...":
        return ", ".join(places)
    return ", ".join(places[:-1]) + " and " + places[-1]


ROWS_SHOWN = 3  # further rows named in an error that other rows share (the rest are counted)


def _more_rows(bad: np.ndarray, where: list[str], one: str, many: str, form: str = " ({})") -> str:
    """' (nor are 36 more rows: lines 9, 12, 15, ...)': the rows after the first of ``bad`` (indices
    into ``where``), which share the problem an error names at the first; ``one`` or ``many`` (with
    {n}) says so, in ``form``. Names the first ROWS_SHOWN and counts the rest, so that the error
    stays one line however long the file, and a user fixes every such row in one go. '' when the
    first is the only one."""
    rest = bad[1:]
    if rest.size == 0:
        return ""
    places = [where[i] for i in rest[:ROWS_SHOWN]] + (["..."] if rest.size > ROWS_SHOWN else [])
    return form.format(f"{(one if rest.size == 1 else many).format(n=rest.size)}: {_several(places)}")


def _path_label(path: str) -> str:
    """The path as messages name it; CSV text given where a path belongs, by its first line."""
    return path if "\n" not in path else repr(path.split("\n", 1)[0] + "\n...")


def _read_text(path: Path, label: str) -> str:
    if "\n" in str(path):
        raise LadderError(f"{label}: is CSV text, not a path; pass it as io.StringIO(text)")
    if not path.exists():
        raise LadderError(f"{label}: no such file; check the path")
    if path.is_dir():
        raise LadderError(f"{label}: is a directory, not a CSV file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LadderError(f"{label}: cannot read the file ({exc.strerror or exc})")
    return _decoded(raw, label)


def _read_stream(stream, label: str) -> bytes:
    """The bytes of an open file or buffer (text is encoded as UTF-8)."""
    try:
        data = stream.read()
    except (OSError, ValueError) as exc:       # closed, or opened for writing only
        raise LadderError(f"{label}: cannot read it ({exc})") from None
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    raise TypeError(f"{label}: read() gave {type(data).__name__}, not CSV text or bytes")


def _decoded(raw: bytes, label: str) -> str:
    """CSV text from a file's bytes: UTF-8 (with or without a byte-order mark) or UTF-16 with its mark."""
    if not raw.strip():
        raise LadderError(f"{label}: the file is empty; a ladder needs a header row and one row per run")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):      # UTF-16 with its byte-order mark (Excel's "Unicode" text)
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise LadderError(f"{label}: starts as UTF-16 text but byte {exc.start} cannot be decoded; save the "
                              "file as UTF-8 comma-separated text") from None
    if b"\x00" in raw[:65536]:
        raise LadderError(f"{label}: is not CSV text (it contains binary data); "
                          "export the ladder as a comma-separated text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LadderError(f"{label}: is not UTF-8 CSV text (byte {exc.start} cannot be decoded); "
                          "save the file as UTF-8 comma-separated text")


def _parse_csv(body: list[str], lines: list[int], label: str) -> tuple[list[list[str]], list[int]]:
    """Parse CSV records, returning each record's first line number in the file (a quoted field
    may span several lines)."""
    reader = csv.reader(iter(body))
    rows, row_lines, consumed = [], [], 0
    try:
        for row in reader:
            rows.append(row)
            row_lines.append(lines[consumed])
            consumed = reader.line_num
    except csv.Error as exc:
        raise LadderError(f"{label}, line {lines[min(consumed, len(lines) - 1)]}: not readable as CSV "
                          f"({exc}); save it as comma-separated text") from None
    return rows, row_lines


def _names_known_columns(fields: list[str]) -> bool:
    """Whether a row's fields include 'family' and another of our column names (any case): a header."""
    names = {f.strip().lower() for f in fields}
    return "family" in names and len(names & set(KNOWN_COLUMNS)) >= 2


def _refuse_misplaced_header(text: str, rows: list[list[str]], lines: list[int], label: str) -> None:
    """A first row that names none of our columns while the real header sits elsewhere: commented out
    ('#family,flops,loss', so the first run is read as the header) or below a note written without
    its '#' (so the note is read as the header). Either names the line to fix, rather than the
    missing 'family' column or the rows' field counts that follow from it."""
    if any(c.strip().lower() in KNOWN_COLUMNS for c in rows[0]):
        return
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#") and _names_known_columns(next(csv.reader([stripped.lstrip("#")]), [])):
            raise LadderError(f"{label}, line {number}: the header '{stripped}' is commented out (a line starting "
                              "with '#' is a comment); remove the '#'")
    later = next((i for i, row in enumerate(rows[1:], start=1) if _names_known_columns(row)), None)
    if later is not None:
        raise LadderError(f"{label}, line {lines[0]}: '{','.join(rows[0])}' is read as the header, but the header "
                          f"is on line {lines[later]}; start a note line with '#' (or delete the lines above the "
                          "header)")


def _other_separator(header: str) -> str:
    """What is wrong with a one-column ``header`` split by tabs (a tab-separated export, such as
    Excel's 'Unicode Text') or semicolons (the CSV of a locale whose decimal mark is a comma), and
    what to do; '' for any other."""
    if "\t" in header:
        return ("the header's columns are separated by tabs, not commas (a tab-separated export, e.g. Excel's "
                "'Unicode Text'); save the file as comma-separated CSV (in Excel: 'CSV UTF-8')")
    if ";" in header:
        return ("the header's columns are separated by semicolons, not commas (a CSV written where the decimal "
                "mark is a comma); save it with commas between columns and points as decimal marks")
    return ""


def _split_comments(text: str) -> tuple[list[str], list[str], list[int]]:
    """Separate '#' comment lines from CSV lines, remembering each CSV line's number."""
    header, body, lines = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            header.append(stripped.lstrip("#").strip())
            continue
        body.append(line)
        lines.append(number)
    return header, body, lines


def _without_empty_rows(table: pd.DataFrame, where: list[str], label: str) -> tuple[pd.DataFrame, list[str], list[str]]:
    """``table`` and ``where`` without the rows whose every field is blank (a spreadsheet's ',,'
    rows, which were refused as "column 'family': empty"), and a warning naming them: they hold
    no run, so nothing is lost, but the user learns the file has them."""
    def blank(column: pd.Series) -> np.ndarray:
        return (column.isna() | column.map(lambda v: isinstance(v, str) and not v.strip())).to_numpy(dtype=bool)

    empty = np.flatnonzero(blank(table["family"])) if "family" in table.columns else np.array([], dtype=int)
    if empty.size:      # a blank row's family is blank: only those rows are looked at whole (0.1 s for 1e5 rows)
        # by position: unnamed columns (a spreadsheet's trailing commas) share the name '', and
        # table[''] of two of them is a frame, which failed with numpy's 'inhomogeneous shape'
        empty = empty[np.all([blank(table.iloc[empty, j]) for j in range(table.shape[1])], axis=0)]
    if empty.size == 0:
        return table, where, []
    first = where[empty[0]]
    more = _more_rows(empty, where, "and 1 more", "and {n} more", form=" ({})")
    keep = np.setdiff1d(np.arange(len(table)), empty)
    return (table.iloc[keep].reset_index(drop=True), [where[i] for i in keep],
            [f"{label}, {first}{more}: every field is blank; skipped {'them' if more else 'it'} (no run there)"])


def _validate(table: pd.DataFrame, where: list[str], label: str, header: tuple) -> Ladder:
    table = table.set_axis(_known_names_lowered(list(table.columns)), axis=1)
    columns = list(table.columns)
    _check_column_names(columns, label)
    table, where, skipped = _without_empty_rows(table, where, label)
    if len(table) == 0:
        raise LadderError(f"{label}: the header is there but no runs follow; add one row per run")
    has = set(columns)
    metric = "loss" if "loss" in has else "perplexity"

    out = pd.DataFrame({"family": _text_column(table, "family", where, label)})
    _refuse_names_alike_once_stripped(table["family"], out["family"], where, label, "family")
    out["run"] = (_text_column(table, "run", where, label, required=False)
                  if "run" in has else [f"{f}#{i + 1}" for i, f in enumerate(out["family"])])
    if "run" in has:
        _refuse_names_alike_once_stripped(table["run"], out["run"], where, label, "run", within=out["family"])
    if "params" in has and "tokens" in has:
        out["params"] = _positive_column(table, "params", where, label, "parameter count")
        out["tokens"] = _positive_column(table, "tokens", where, label, "token count")
    params_problem = ""
    if "flops" in has:
        out["flops"] = _positive_column(table, "flops", where, label, "training compute")
        if "params" in has and "tokens" not in has:      # e.g. Epoch's Chinchilla table: N and C
            try:        # only L(N, D) needs them (Ladder.with_tokens): a compute law ignores a blank
                out["params"] = _positive_column(table, "params", where, label, "parameter count")
            except LadderError as exc:
                params_problem = str(exc)
    else:
        out["flops"] = FLOPS_PER_PARAM_TOKEN * out["params"] * out["tokens"]
        bad = np.flatnonzero(~(np.isfinite(out["flops"].to_numpy()) & (out["flops"].to_numpy() > 0)))
        if bad.size:
            i = bad[0]
            more = _more_rows(bad, where, "nor on 1 more row", "nor on {n} more rows", form=", {}")
            raise LadderError(f"{label}, {where[i]}, columns 'params' and 'tokens': 6 * params * tokens "
                              f"is not a positive float (it overflows or underflows){more}; give compute in a "
                              "'flops' column in units nearer 1")
    values = _number_column(table, metric, where, label)
    if metric == "perplexity":
        bad = np.flatnonzero(values <= 1.0)
        if bad.size:
            i = bad[0]
            more = _more_rows(bad, where, "nor is 1 more row", "nor are {n} more rows", form=", {}")
            raise LadderError(f"{label}, {where[i]}, column 'perplexity': {values[i]:g} is not "
                              f"above 1 (loss = ln perplexity must be positive){more}; check the "
                              f"{'values' if more else 'value'}")
        loss = np.log(values)
    else:
        bad = np.flatnonzero(values <= 0.0)
        if bad.size:
            i = bad[0]
            raise LadderError(f"{label}, {where[i]}, column 'loss': {values[i]:g} is not positive"
                              f"{_more_rows(bad, where, 'nor is 1 more row', 'nor are {n} more rows')}; "
                              "loss must be in nats per token (> 0)")
        loss = values
    _refuse_losses_outside(loss > LARGEST_LOSS, f"above {LARGEST_LOSS:g}", values, loss, where, label, metric)
    _check_compute_span(out["flops"].to_numpy(), where, label)
    _refuse_losses_outside(loss < SMALLEST_LOSS, f"below {SMALLEST_LOSS:g}", values, loss, where, label, metric)
    out["loss"] = loss
    out["where"] = where
    out = out.reset_index(drop=True)
    warnings = skipped + (_repeated_runs(out, label, "run" in has) + _implausible_losses(out, metric, label)
                + _compute_disagreements(out, where, label, "flops" in has))
    return Ladder(_runs=out, metric=metric, source=label, header=header, warnings=tuple(warnings),
                  params_problem=params_problem, flops_given="flops" in has)


COMPUTE_DISAGREEMENT = 3.0  # flops this far from 6 N D: more than accounting conventions (embeddings, attention) explain


def _compute_disagreements(runs: pd.DataFrame, where, label: str, flops_given: bool) -> list[str]:
    """At most one warning: rows whose 'flops' differ from 6 * params * tokens by more than
    COMPUTE_DISAGREEMENT either way (a unit slip or a wrong column); the compute laws use 'flops'."""
    if not flops_given or not {"params", "tokens"} <= set(runs.columns):
        return []
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = runs["flops"].to_numpy(dtype=float) / (FLOPS_PER_PARAM_TOKEN * runs["params"].to_numpy(dtype=float)
                                                       * runs["tokens"].to_numpy(dtype=float))
    far = np.flatnonzero(np.isfinite(ratio) & ((ratio > COMPUTE_DISAGREEMENT) | (ratio < 1.0 / COMPUTE_DISAGREEMENT)))
    if far.size == 0:
        return []
    i = far[0]
    return [f"{label}, {where[i]}: 'flops' is {ratio[i]:.3g} times 6 * params * tokens"
            + (f" (and on {far.size - 1} more row(s))" if far.size > 1 else "")
            + "; compute laws use 'flops', L(N, D) uses params and tokens: check the units of each"]


# Above this a 'loss' column is unlikely to hold nats per token: ln of a 256k-token vocabulary is 12.5
LARGEST_PLAUSIBLE_LOSS = 20.0


REPEATS_SHOWN = 3  # repeated groups named in the warning (the rest are counted)


def _repeated_runs(runs: pd.DataFrame, label: str, named: bool) -> list[str]:
    """At most one warning: rows that repeat a named run at the same compute (rows of one run at
    other compute are its checkpoints), or, for rows without a run name, that repeat another row's
    family, compute and loss exactly. Either counts one run twice in every fit. Names the first
    REPEATS_SHOWN groups and counts the rest, so its length is bounded however long the file."""
    has_name = runs["run"].astype(str).str.strip() != "" if named else pd.Series(False, index=runs.index)
    parts = [(runs[has_name], ["family", "run", "flops"]), (runs[~has_name], ["family", "flops", "loss"])]
    repeated = [(rows[rows.duplicated(keys, keep=False)], keys) for rows, keys in parts]
    n_rows = sum(len(rows) for rows, _ in repeated)
    if n_rows == 0:
        return []
    n_groups = sum(int((~rows.duplicated(keys)).sum()) for rows, keys in repeated)
    shown = []
    for rows, keys in repeated:
        for key in rows[keys].drop_duplicates().head(REPEATS_SHOWN - len(shown)).itertuples(index=False):
            group = rows[(rows[keys] == pd.Series(key, index=keys)).all(axis=1)]
            places = list(group["where"][:4]) + (["..."] if len(group) > 4 else [])
            what = f"run '{group['run'].iloc[0]}'" if "run" in keys else "the same loss"
            shown.append(f"{_several(places)} ({what} at compute {group['flops'].iloc[0]:.4g} in family "
                         f"'{group['family'].iloc[0]}')")
    more = f"; and {n_groups - len(shown)} more such groups" if n_groups > len(shown) else ""
    runs_appear = "1 run appears" if n_groups == 1 else f"{n_groups} runs appear"
    return [f"{label}: {runs_appear} on more than one row ({n_rows} rows): {'; '.join(shown)}{more}. Every row is "
            "fitted as a separate run, so delete the copies if they are one run"]


def _implausible_losses(runs: pd.DataFrame, metric: str, label: str) -> list[str]:
    top = int(np.argmax(runs["loss"].to_numpy()))
    if metric != "loss" or runs["loss"].iloc[top] <= LARGEST_PLAUSIBLE_LOSS:
        return []
    return [f"{label}, {runs['where'].iloc[top]}, column 'loss': {runs['loss'].iloc[top]:g} nats per token is "
            f"implausibly high (above {LARGEST_PLAUSIBLE_LOSS:g}); if the column holds perplexities, name it "
            "'perplexity'"]


def _known_names_lowered(columns: list[str]) -> list[str]:
    """The column names with known ones in any case written as ours ('FLOPs' -> 'flops')."""
    return [c.lower() if c.lower() in KNOWN_COLUMNS else c for c in columns]


def _check_column_names(columns: list[str], label: str) -> None:
    has = set(columns)
    for column in columns:
        if column not in KNOWN_COLUMNS:
            close = difflib.get_close_matches(column.lower(), KNOWN_COLUMNS, n=1, cutoff=0.75)
            if close and close[0] not in has:
                raise LadderError(f"{label}, header: column '{column}' is not known; "
                                  f"did you mean '{close[0]}'?")
    # unnamed columns (a spreadsheet's trailing commas) are never read, so several of them are no ambiguity
    duplicated = sorted({c for c in columns if c and columns.count(c) > 1})
    if duplicated:
        raise LadderError(f"{label}, header: column '{duplicated[0]}' appears more than once "
                          "(names are matched without regard to case); keep one")
    if "family" not in has:
        raise LadderError(f"{label}, header: no 'family' column; add one naming the recipe of each run "
                          f"(columns found: {', '.join(columns)})")
    if "flops" not in has and not {"params", "tokens"} <= has:
        missing = "tokens" if "params" in has else "params" if "tokens" in has else None
        hint = (f"'{missing}' is missing to compute flops = 6 * params * tokens" if missing
                else "add 'flops', or 'params' and 'tokens'")
        raise LadderError(f"{label}, header: no compute column; {hint}{_rename_hint(columns, 'flops')}")
    if "loss" in has and "perplexity" in has:
        raise LadderError(f"{label}, header: both 'loss' and 'perplexity' are given; keep one "
                          "(loss = ln perplexity)")
    if "loss" not in has and "perplexity" not in has:
        raise LadderError(f"{label}, header: no metric column; add 'loss' (nats per token) "
                          f"or 'perplexity'{_rename_hint(columns, 'loss')}")


# Words in column names that other tools use for our columns: a hint to rename, never a guess
COLUMN_WORDS = {"flops": ("flop", "compute"), "loss": ("loss", "ppl", "perplex", "nll", "xent")}


HINTS_SHOWN = 4  # candidate columns named in a rename hint


def _rename_hint(columns: list[str], wanted: str) -> str:
    """' (found 'train_loss': rename it to 'loss' or 'perplexity')' when a column's name suggests the
    missing ``wanted`` one, else ''; with several candidates, ' (found 'a', 'b' and 2 more: rename
    the one you mean to ...)', since guessing among them would be wrong."""
    found = [c for c in columns if any(w in c.lower() for w in COLUMN_WORDS[wanted])]
    if not found:
        return ""
    other = " or 'perplexity'" if wanted == "loss" else ""
    if len(found) == 1:
        return f" (found '{found[0]}': rename it to '{wanted}'{other})"
    shown = ", ".join(f"'{c}'" for c in found[:HINTS_SHOWN])
    more = f" and {len(found) - HINTS_SHOWN} more" if len(found) > HINTS_SHOWN else ""
    return f" (found {len(found)} candidates, {shown}{more}: rename the one you mean to '{wanted}'{other})"


def _text_column(table, column, where, label, required=True) -> list[str]:
    """The column's cells as stripped text ('' for a missing one); with ``required``, an error at its
    first empty cell, counting the others."""
    cells = table[column]
    values = cells.astype(str).str.strip().mask(cells.isna(), "")
    empty = np.flatnonzero(values.to_numpy() == "")
    if empty.size and required:
        more = _more_rows(empty, where, "as is 1 more row", "as are {n} more rows")
        fix = f"every run needs a {column}" + (": fill them in or remove those rows" if more else "")
        raise LadderError(f"{label}, {where[empty[0]]}, column '{column}': empty{more}; {fix}")
    return values.tolist()


def _refuse_names_alike_once_stripped(cells: pd.Series, names: pd.Series, where, label, column,
                                      within: pd.Series | None = None) -> None:
    """Names are read stripped ('a ' is 'a'), so cells that differ only in the spaces around them
    (' a' and 'a ') would be one name: refused, naming the rows of the first two such spellings and
    counting the other names spelled so, since the file cannot say whether they are one name
    (spaces typed unevenly) or two (a family: fitted as one, both families' results would be wrong
    without a word; a run: two runs' rows read as checkpoints of one). ``within`` (the rows'
    families) compares names within each family only: runs of two families may share a name."""
    raw = cells.astype(str).mask(cells.isna(), "").to_numpy(dtype=object)
    group = np.full(len(raw), "", dtype=object) if within is None else within.to_numpy(dtype=object)
    spelled = pd.DataFrame({"group": group, "name": names.to_numpy(dtype=object), "raw": raw})
    spellings = spelled[spelled["name"] != ""].drop_duplicates()          # each cell as written, at its first row
    alike = spellings[spellings.duplicated(["group", "name"], keep=False)]
    if alike.empty:
        return
    (group, name), *others = dict.fromkeys(zip(alike["group"], alike["name"]))
    i, j = alike.index[(alike["group"] == group) & (alike["name"] == name)][:2]
    shown = ", ".join(repr(n) for _, n in others[:ROWS_SHOWN]) + (", ..." if len(others) > ROWS_SHOWN else "")
    more = f" (as do the spellings of {len(others)} more name{'s' * (len(others) > 1)}: {shown})" if others else ""
    of = "" if within is None else f" of family {group!r}"
    raise LadderError(f"{label}, {_several([where[i], where[j]])}, column '{column}': {raw[i]!r} and {raw[j]!r} "
                      f"differ only in the spaces around them, which are ignored, so both would be {column} "
                      f"{name!r}{of}{more}; write them alike if they are one {column}, or give them "
                      "names that differ in more than spaces")


PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE | re.ASCII)


EXAMPLE_VALUES = {"flops": "3.2e21", "params": "7e9", "tokens": "1.4e12", "loss": "2.31", "perplexity": "10.1"}
DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+([eE][+-]?\d+)?", re.ASCII)
THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+", re.ASCII)


def _not_a_number(text: str, column: str, several: bool = False) -> tuple[str, str]:
    """What is wrong with a cell that is not a plain number, and how to write it (with its separator);
    ``several`` when other cells of the column are not numbers either."""
    example = EXAMPLE_VALUES.get(column, "3.2e21")
    if THOUSANDS.fullmatch(text) and text.count(",") > 1:
        return (f"{text} has thousands separators",
                f"; write {text.replace(',', '')} (or {float(text.replace(',', '')):.3g})")
    if THOUSANDS.fullmatch(text):          # '125,000': thousands, or a decimal comma before 3 digits
        return (f"{text} is not a plain number", f": write {text.replace(',', '')} if the comma separates thousands, "
                f"or {text.replace(',', '.')} if it is a decimal comma")
    if DECIMAL_COMMA.fullmatch(text):
        return (f"{text} has a decimal comma", f"; write a decimal point ({text.replace(',', '.')}), "
                "e.g. export the CSV with '.' as the decimal separator")
    if several:        # diverged runs without a loss, say: their rows go, or get a value
        return (f"{text or 'an empty cell'} is not a number",
                f"; write plain numbers such as {example} or remove those rows")
    if not text:
        return "an empty cell is not a number", f"; write a plain number such as {example} or remove the row"
    return f"{text} is not a number", f"; write a plain number such as {example}"


def _cell_number(value) -> float | None:
    """One cell as a float, None if it is not a number: text must be a plain number ('1_000' and
    non-ASCII digits, which float() would take, are not), None is an empty cell, and anything else
    is what float() makes of it."""
    if value is None or isinstance(value, str):
        text = "" if value is None else value.strip()
        if not PLAIN_NUMBER.fullmatch(text):
            return None
        return float(text)
    if isinstance(value, (bool, np.bool_)):       # True is 1.0 to float(), not a measurement
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _missing(value) -> bool:
    """A cell with no value: None, or pandas' missing value of its nullable dtypes (``pd.NA``, as
    ``frame.convert_dtypes()`` makes of a NaN), which read '<NA> is not a number; write a plain
    number' where an empty cell reads 'an empty cell is not a number; ... or remove the row'."""
    return value is None or value is pd.NA


def _numbers(cells: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each cell as a float (NaN where it is not a number) and whether it is a number, as
    _cell_number says: at once for a CSV's text and a DataFrame's numbers, cell by cell otherwise."""
    kind = pd.api.types.infer_dtype(cells, skipna=False)
    if kind == "string":
        text = cells.str.strip()
        ok = text.str.fullmatch(PLAIN_NUMBER).to_numpy(dtype=bool)
        numbers = np.full(len(cells), np.nan)
        numbers[ok] = text.to_numpy()[ok].astype(float)
        return numbers, ok
    if kind in ("floating", "integer", "mixed-integer-float"):
        try:
            return cells.to_numpy(dtype=float), np.ones(len(cells), dtype=bool)
        except (TypeError, ValueError, OverflowError):
            pass           # an integer too large for a float: found cell by cell
    parsed = [_cell_number(value) for value in cells]
    ok = np.array([number is not None for number in parsed], dtype=bool)
    return np.array([np.nan if number is None else number for number in parsed], dtype=float), ok


def _number_column(table, column, where, label) -> np.ndarray:
    """The column as floats; an error at its first cell that is not a finite number, counting the
    other cells with the same problem."""
    numbers, ok = _numbers(table[column])
    not_number = np.flatnonzero(~ok)
    infinite = np.flatnonzero(ok & ~np.isfinite(numbers))
    if not_number.size or infinite.size:
        first = min(bad[0] for bad in (not_number, infinite) if bad.size)
        value = table[column].iloc[first]
        text = "" if _missing(value) else str(value).strip()
        if not_number.size and not_number[0] == first:
            what, fix = _not_a_number(text, column, several=not_number.size > 1)
            more = _more_rows(not_number, where, "1 more row is not a number either",
                              "{n} more rows are not numbers either")
            raise LadderError(f"{label}, {where[first]}, column '{column}': {what}{more}{fix}")
        more = _more_rows(infinite, where, "nor is 1 more row", "nor are {n} more rows")
        fix = ("remove those rows or give their measured values" if infinite.size > 1
               else "remove the run or give its measured value")
        raise LadderError(f"{label}, {where[first]}, column '{column}': {text or numbers[first]} is not a "
                          f"finite number{more}; {fix}")
    return numbers


def _refuse_losses_outside(outside: np.ndarray, bound: str, values: np.ndarray, loss: np.ndarray,
                           where: list[str], label: str, metric: str) -> None:
    """One line naming the first row whose loss (ln of a perplexity) is ``outside`` the plausible
    range (``bound``: "above 1e4"), and how many more are."""
    rows = np.flatnonzero(outside)
    if rows.size:
        i = rows[0]
        more = _more_rows(rows, where, "as is 1 more row", "as are {n} more rows")
        raise LadderError(f"{label}, {where[i]}, column '{metric}': {float(values[i])!r} means a loss of "
                          f"{loss[i]:.3g} nats per token, {bound}{more}; a training run's loss is of "
                          f"order 1: check the {'values and their' if more else 'value and its'} units")


def _check_compute_span(flops: np.ndarray, where, label) -> None:
    """Refuse runs spread over more than MAX_COMPUTE_DECADES of compute: a unit mistake (real
    ladders and their references span a few decades), and beyond the fit's numerical range."""
    low, high = int(np.argmin(flops)), int(np.argmax(flops))
    decades = math.log10(flops[high] / flops[low])
    if decades > MAX_COMPUTE_DECADES:
        raise LadderError(f"{label}, {_several([where[low], where[high]])}, compute: {flops[low]:g} and "
                          f"{flops[high]:g} are {decades:.0f} decades apart (more than {MAX_COMPUTE_DECADES}); "
                          "check the units of each run's compute")


def _positive_column(table, column, where, label, what) -> np.ndarray:
    values = _number_column(table, column, where, label)
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        i = bad[0]
        raise LadderError(f"{label}, {where[i]}, column '{column}': {values[i]:g} is not positive"
                          f"{_more_rows(bad, where, 'nor is 1 more row', 'nor are {n} more rows')}; "
                          f"a {what} must be > 0")
    return values


def runs_a_fit_needs(n_params: int) -> tuple[int, int]:
    """(runs, distinct compute values) a family needs for a law of compute with ``n_params`` free
    parameters: a run more than the parameters (a residual degree of freedom, for the noise and
    the bands) and as many distinct computes as parameters (repeats at one compute are seeds)."""
    return n_params + 1, n_params


def check_fittable(ladder: Ladder, n_params: int, law_name: str, focus: str | None,
                   fixed_e: float | None = None) -> str:
    """Check that every ladder family can be fitted and that the focus family exists.

    Returns the focus family. A family needs more runs than the law fits parameters (``n_params``,
    so that the fit has residual degrees of freedom) and at least ``n_params`` distinct compute
    values; with an irreducible loss ``fixed_e`` held fixed, every run's loss above it.
    """
    counts = ladder.run_counts()
    focus = ladder.family_name(focus)
    two_variable = law_name == "chinchilla"
    if two_variable and not {"params", "tokens"} <= set(ladder.runs.columns):
        raise LadderError(f"{ladder.source}, header: the chinchilla law L(N, D) needs 'params' and 'tokens' "
                          "columns; add them, or fit a law of compute, such as the saturating law")
    for family, n in counts.items():
        if n == 1:
            continue
        rows = ladder.family_runs(family)
        first = rows["where"].iloc[0]
        if two_variable:
            _check_two_variable_family(ladder, family, rows, n, n_params, first)
            continue
        need_runs, need_distinct = runs_a_fit_needs(n_params)
        if n < need_runs:
            seeds = ("; seeds of one model at one compute? write their mean loss as one run" if rows["flops"].nunique() == 1
                     else "")
            raise LadderError(
                f"{ladder.source}, {first}, column 'family': family '{family}' has {n} runs; "
                f"the {law_name} law fits {n_params} parameters and needs at least {need_runs} runs, "
                f"or exactly 1 run to serve as a reference point{seeds}")
        distinct = np.unique(rows["flops"].to_numpy()).size
        if distinct == 1:
            raise LadderError(
                f"{ladder.source}, {first}, {ladder.compute_columns()}: all {n} runs of family '{family}' "
                "are at one compute value; a law needs runs at different compute (seeds of one model? "
                "write their mean loss as one run to use it as a reference point)")
        if distinct < need_distinct:
            raise LadderError(
                f"{ladder.source}, {first}, {ladder.compute_columns()}: family '{family}' has only "
                f"{distinct} distinct compute values; the {law_name} law needs at least {need_distinct}")
        if fixed_e is not None:
            _check_loss_above(ladder, family, rows, fixed_e)
    if focus is None:
        focus = ladder.default_focus()
    if focus not in counts:
        raise LadderError(ladder.unknown_family(focus))
    if counts[focus] == 1:
        raise LadderError(f"{ladder.source}: focus family '{focus}' has a single run; the focus must be "
                          "a ladder with enough runs to fit a law")
    return focus


def _check_loss_above(ladder: Ladder, family: str, rows: pd.DataFrame, fixed_e: float) -> None:
    """A fixed irreducible loss must lie below every run of the family (E + A C^-alpha > E)."""
    from .fitting import FIXED_E_CEILING

    lowest = rows.loc[rows["loss"].idxmin()]
    if not lowest["loss"] * FIXED_E_CEILING >= fixed_e:
        value = f"loss {lowest['loss']:.6g}" + (f" (perplexity {math.exp(lowest['loss']):.6g})"
                                                 if ladder.metric == "perplexity" else "")
        raise LadderError(
            f"{ladder.source}, {lowest['where']}, column '{ladder.metric}': family '{family}' has a run at "
            f"{value}, not above the fixed E = {fixed_e:g}; the law E + A*C^-alpha stays above E, so fix E below "
            "every run's loss (in nats; ln of a perplexity)")


def _check_two_variable_family(ladder: Ladder, family: str, rows: pd.DataFrame, n: int, n_params: int,
                               first: str) -> None:
    """A two-variable family needs > n_params runs, 3+ distinct N and D, and D not a power of N."""
    from .chinchilla import COLLINEAR_R2, collinearity

    if n <= n_params:
        raise LadderError(
            f"{ladder.source}, {first}, column 'family': family '{family}' has {n} runs; "
            f"the chinchilla law has {n_params} parameters and needs at least {n_params + 1} runs")
    for column in ("params", "tokens"):
        if np.unique(rows[column].to_numpy()).size < 3:
            raise LadderError(
                f"{ladder.source}, {first}, column '{column}': family '{family}' has fewer than 3 "
                f"distinct {column} values; L(N, D) needs runs that vary both parameters and tokens")
    if collinearity(rows["params"].to_numpy(), rows["tokens"].to_numpy())[0] >= COLLINEAR_R2:
        raise LadderError(
            f"{ladder.source}, {first}, columns 'params' and 'tokens': in family '{family}' tokens "
            "are a fixed power of parameters (collinear), so the exponents of N and D cannot both be "
            "identified; add runs with other tokens-per-parameter ratios, or fit a law of compute, "
            "such as the saturating law")
