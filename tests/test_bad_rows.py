"""Many bad rows, one line: an error names the first bad cell, counts the other rows of its column
with the same problem and names the first few, so that a ladder with 37 diverged runs (no loss) is
fixed in one go rather than one rerun at a time."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalefit import LadderError, read_ladder
from scalefit.cli import main
from scalefit.ladder import ROWS_SHOWN, _cell_number, _numbers

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ladder_text(n: int, bad: dict[int, str], column: str = "loss") -> str:
    """A 'family,flops,loss' file of n runs (line 2 is run 0), with cell ``column`` of run i written
    as bad[i]."""
    lines = ["family,flops,loss"]
    for i in range(n):
        cells = {"family": "a", "flops": f"{1e18 * 1.01 ** i:.6g}", "loss": f"{3 - i / (2 * n):.6g}"}
        if i in bad:
            cells[column] = bad[i]
        lines.append(",".join(cells[c] for c in ("family", "flops", "loss")))
    return "\n".join(lines) + "\n"


@pytest.fixture
def _file(tmp_path):
    def write(text: str):
        path = tmp_path / "ladder.csv"
        path.write_text(text)
        return path
    return write


def error_of(source) -> str:
    with pytest.raises(LadderError) as caught:
        read_ladder(source, name="ladder.csv")
    message = str(caught.value)
    assert "\n" not in message
    return message


def counted(message: str) -> tuple[int, list[int]]:
    """How many other rows the message says share the first's problem, and the lines it names."""
    found = re.search(r"(\d+) more rows?\b[^:]*: (lines? [^;)]*)", message)
    if not found:
        return 0, []
    return int(found.group(1)), [int(n) for n in re.findall(r"\d+", found.group(2))]


# Each check of a cell: the column and a cell that fails it (and no other check before it)
CELL_CHECKS = {
    "not a number": ("loss", "abc"), "empty": ("loss", ""), "not finite": ("loss", "nan"),
    "infinite": ("flops", "inf"), "loss not positive": ("loss", "-1"), "compute not positive": ("flops", "0"),
    "loss too large": ("loss", "1e5"), "loss too small": ("loss", "1e-9"), "no family": ("family", " "),
}


@pytest.mark.parametrize("check", sorted(CELL_CHECKS))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.sets(st.integers(0, 199), min_size=1, max_size=60))
def test_the_count_is_the_number_of_bad_rows_and_the_first_few_are_named(tmp_path_factory, rows, check):
    column, cell = CELL_CHECKS[check]
    path = tmp_path_factory.mktemp("bad") / "ladder.csv"
    path.write_text(ladder_text(200, dict.fromkeys(rows, cell), column))
    message = error_of(path)
    lines = [i + 2 for i in sorted(rows)]
    assert message.startswith(f"ladder.csv, line {lines[0]}, column '{column}': ")
    assert counted(message) == (len(lines) - 1, lines[1:1 + ROWS_SHOWN])
    assert ("...)" in message) == (len(lines) - 1 > ROWS_SHOWN)


def test_diverged_runs_with_no_loss_are_all_counted_in_one_line(_file):
    message = error_of(_file(ladder_text(40, dict.fromkeys([5, 7, 10, 13, 20], ""))))
    assert message == ("ladder.csv, line 7, column 'loss': an empty cell is not a number (4 more rows are not "
                       "numbers either: lines 9, 12, 15, ...); write plain numbers such as 2.31 or remove those rows")


def test_one_bad_row_keeps_its_message_and_an_empty_cell_says_the_row_may_go(_file):
    assert error_of(_file(ladder_text(6, {3: "abc"}))) == (
        "ladder.csv, line 5, column 'loss': abc is not a number; write a plain number such as 2.31")
    assert error_of(_file(ladder_text(6, {3: "nan"}))) == (
        "ladder.csv, line 5, column 'loss': nan is not a finite number; remove the run or give its measured value")
    assert error_of(_file(ladder_text(6, {3: ""}))) == (
        "ladder.csv, line 5, column 'loss': an empty cell is not a number; write a plain number such as 2.31 "
        "or remove the row")


def test_the_first_bad_row_is_named_whatever_its_problem_and_the_count_is_of_its_problem(_file):
    """Non-numbers and non-finite numbers are two problems: the first bad row decides which is said."""
    text = ladder_text(30, {4: "inf", 6: "", 8: "nan", 9: "x", 11: "nan"})
    assert error_of(_file(text)) == ("ladder.csv, line 6, column 'loss': inf is not a finite number (nor are "
                                     "2 more rows: lines 10 and 13); remove those rows or give their measured values")
    message = error_of(_file(ladder_text(30, {6: "", 9: "x"})))
    assert message.startswith("ladder.csv, line 8, column 'loss': an empty cell is not a number (1 more row is not "
                              "a number either: line 11); ")


def test_a_column_of_decimal_commas_is_counted_with_the_first_cells_fix(_file):
    message = error_of(_file(ladder_text(10, {i: f'"{3 - i / 20:.2f}"'.replace(".", ",") for i in range(10)})))
    assert message.startswith("ladder.csv, line 2, column 'loss': 3,00 has a decimal comma (9 more rows are not "
                              "numbers either: lines 3, 4, 5, ...); write a decimal point (3.00)")


def test_dataframe_rows_are_named_by_index_label():
    frame = pd.DataFrame({"family": ["a"] * 8, "flops": np.geomspace(1e18, 1e22, 8),
                          "loss": [3.0, np.nan, 2.8, 2.7, np.nan, np.nan, 2.4, np.nan]}, index=[f"r{i}" for i in range(8)])
    assert error_of(frame) == ("ladder.csv, row 'r1', column 'loss': nan is not a finite number (nor are 3 more "
                               "rows: rows 'r4', 'r5' and 'r7'); remove those rows or give their measured values")
    assert "rows at position" not in error_of(frame.set_axis([0, 0, 1, 1, 2, 2, 3, 3]))
    assert "(nor are 3 more rows: row at position 4, row at position 5 and row at position 7)" in error_of(
        frame.set_axis([0, 0, 1, 1, 2, 2, 3, 3]))
    mixed = frame.astype({"loss": object}).assign(loss=[3.0, None, 2.8, "x", 2.6, 2.5, None, 2.3])
    assert error_of(mixed) == ("ladder.csv, row 'r1', column 'loss': an empty cell is not a number (2 more rows are "
                               "not numbers either: rows 'r3' and 'r6'); write plain numbers such as 2.31 or remove "
                               "those rows")


def test_a_needed_column_in_a_dataframes_index_is_named_there():
    """Found by a new-user review: a notebook's frame after set_index('family') (or a groupby) was
    refused with "no 'family' column; add one naming the recipe of each run", of a frame that has
    it, in its index. The error now says where it is and what to call; a run name in the index,
    which no ladder needs, is read as before."""
    frame = pd.DataFrame({"family": ["a"] * 4, "run": ["r1", "r2", "r3", "r4"], "flops": [1e19, 1e20, 1e21, 1e22],
                          "loss": [3.0, 2.8, 2.6, 2.5]})
    assert error_of(frame.set_index("family")) == (
        "ladder.csv, header: 'family' is in the DataFrame's index, not a column; pass frame.reset_index() to make "
        "it a column")
    assert error_of(frame.set_index(["family", "flops"])) == (
        "ladder.csv, header: 'family' and 'flops' are in the DataFrame's index, not columns; pass "
        "frame.reset_index() to make them columns")
    assert len(read_ladder(frame.set_index("run")).family_runs("a")) == 4


def test_params_or_tokens_in_a_dataframes_index_are_named_there():
    """Found by review (untested): with no flops column, params and tokens are the compute, and one
    of them in the index was refused as 'no compute column' like a frame without it."""
    frame = pd.DataFrame({"family": ["a"] * 4, "params": [1e7, 1e8, 1e9, 1e10], "tokens": [1e9, 1e10, 1e11, 1e12],
                          "loss": [3.0, 2.8, 2.6, 2.5]})
    assert error_of(frame.set_index("tokens")) == (
        "ladder.csv, header: 'tokens' is in the DataFrame's index, not a column; pass frame.reset_index() to make "
        "it a column")


def test_the_command_prints_one_line_and_exits_2(tmp_path):
    path = tmp_path / "ladder.csv"
    path.write_text(ladder_text(100, dict.fromkeys(range(10, 100, 3), "")))
    result = CliRunner().invoke(main, ["fit", str(path)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "line 12, column 'loss': an empty cell is not a number (29 more rows are not numbers either: lines 15, " \
           "18, 21, ...)" in result.stderr


CELLS = st.one_of(
    st.sampled_from(["", " ", "1", "-1", "+.5", "5.", "1e5", "1E-5", "1.e3", "inf", "-Infinity", "NaN", "nan", "1_000",
                     "\uff11e19", "1,5", "1,000", "0x10", "1e400", "--1", "1e", "e5", ".", "infinity ", " 7 "]),
    st.text(alphabet="0123456789.eE+-_, infa\t", max_size=8),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(CELLS, min_size=1, max_size=20))
def test_a_columns_text_is_read_at_once_as_each_cell_alone_would_be(cells):
    numbers, ok = _numbers(pd.Series(cells, dtype=object))
    alone = [_cell_number(cell) for cell in cells]
    assert ok.tolist() == [number is not None for number in alone]
    assert np.array_equal(numbers[ok], np.array([n for n in alone if n is not None], dtype=float), equal_nan=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.floats(), st.integers(-10 ** 400, 10 ** 400), st.none(), st.booleans(), CELLS),
                min_size=1, max_size=12))
def test_a_dataframes_cells_are_read_at_once_as_each_cell_alone_would_be(cells):
    numbers, ok = _numbers(pd.Series(cells, dtype=object))
    alone = [_cell_number(cell) for cell in cells]
    assert ok.tolist() == [number is not None for number in alone]
    assert np.array_equal(numbers[ok], np.array([n for n in alone if n is not None], dtype=float), equal_nan=True)


def test_one_bad_row_of_any_check_is_said_as_before(_file):
    """The messages tests and the README quote, for a single bad row, are unchanged."""
    frame = pd.DataFrame({"family": ["a"] * 5, "flops": np.geomspace(1e18, 1e22, 5), "loss": [3.0, 2.9, 2.8, 2.7, 2.6]})
    assert error_of(frame.assign(loss=[3.0, 2.9, -1.0, 2.7, 2.6])) == (
        "ladder.csv, row 2, column 'loss': -1 is not positive; loss must be in nats per token (> 0)")
    assert error_of(frame.assign(flops=[1e18, 0.0, 1e20, 1e21, 1e22])) == (
        "ladder.csv, row 1, column 'flops': 0 is not positive; a training compute must be > 0")
    assert error_of(frame.rename(columns={"loss": "perplexity"}).assign(perplexity=[3.0, 2.9, 2.8, 0.9, 2.6])) == (
        "ladder.csv, row 3, column 'perplexity': 0.9 is not above 1 (loss = ln perplexity must be positive); "
        "check the value")
    assert error_of(frame.assign(loss=[3.0, 2.9, 2.8, 2.7, 1e5])) == (
        "ladder.csv, row 4, column 'loss': 100000.0 means a loss of 1e+05 nats per token, above 10000; "
        "a training run's loss is of order 1: check the value and its units")
    assert error_of(frame.assign(loss=[3.0, 2.9, 2.8, 1e-7, 2e-7])) == (
        "ladder.csv, row 3, column 'loss': 1e-07 means a loss of 1e-07 nats per token, below 1e-06 (as is 1 more "
        "row: row 4); a training run's loss is of order 1: check the values and their units")
    assert error_of(frame.assign(family=["a", "a", None, "a", "a"])) == (
        "ladder.csv, row 2, column 'family': empty; every run needs a family")
    assert error_of(_file("family,flops,loss\na,1e18,3\na,1e19,2.9,\na,1e20,2.8\n")) == (
        "ladder.csv, line 3: 4 fields but the header has 3; check for a missing or extra comma")


def test_rows_with_a_non_positive_perplexity_are_counted():
    frame = pd.DataFrame({"family": ["a"] * 6, "flops": np.geomspace(1e18, 1e22, 6),
                          "perplexity": [12.0, 1.0, 11.0, 0.5, 10.0, 1.0]})
    assert error_of(frame) == ("ladder.csv, row 1, column 'perplexity': 1 is not above 1 (loss = ln perplexity "
                               "must be positive), nor are 2 more rows: rows 3 and 5; check the values")


def test_rows_whose_compute_from_params_and_tokens_overflows_are_counted():
    frame = pd.DataFrame({"family": ["a"] * 5, "params": [1e200, 1e9, 1e200, 1e200, 1e9],
                          "tokens": [1e200, 1e10, 1e200, 1e200, 1e11], "loss": [3.0, 2.9, 2.8, 2.7, 2.6]})
    assert error_of(frame) == ("ladder.csv, row 0, columns 'params' and 'tokens': 6 * params * tokens is not a "
                               "positive float (it overflows or underflows), nor on 2 more rows: rows 2 and 3; give "
                               "compute in a 'flops' column in units nearer 1")


def test_rows_without_a_family_are_counted_and_the_fix_says_fill_or_remove():
    frame = pd.DataFrame({"family": ["a", None, "a", " ", np.nan, "a", pd.NA], "flops": np.geomspace(1e18, 1e22, 7),
                          "loss": np.linspace(3, 2.4, 7)}, index=list("abcdefg"))
    assert error_of(frame) == ("ladder.csv, row 'b', column 'family': empty (as are 3 more rows: rows 'd', 'e' and "
                               "'g'); every run needs a family: fill them in or remove those rows")


def test_rows_with_too_many_or_too_few_fields_are_counted(_file):
    text = "family,flops,loss\n" + "".join(f"a,1e{18 + i},{3 - i / 10}{',' if i % 2 else ''}\n" for i in range(12))
    assert error_of(_file(text)) == ("ladder.csv, line 3: 4 fields but the header has 3 (5 more rows do not match it "
                                     "either: lines 5, 7, 9, ...); check for a missing or extra comma")


def test_a_missing_family_in_a_string_column_is_empty_not_a_family_named_na():
    frame = pd.DataFrame({"family": pd.array(["a", None, "a", "a"], dtype="string"),
                          "flops": [1e19, 1e20, 1e21, 1e22], "loss": [3.0, 2.9, 2.8, 2.7]})
    assert error_of(frame) == "ladder.csv, row 1, column 'family': empty; every run needs a family"


def test_the_readmes_example_is_what_is_printed(_file):
    from pathlib import Path

    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").split())
    rows = [5, 7, 10, 13] + list(range(20, 53))          # lines 7, 9, 12, 15 and 33 more: 37 diverged runs
    message = error_of(_file(ladder_text(60, dict.fromkeys(rows, ""))))
    assert f"`{message.split(', ', 1)[1]}`" in readme, message


# ----- names that differ only in the spaces around them ----------------------------------------------

def _two_spellings(family_cells: list[str]) -> pd.DataFrame:
    n = len(family_cells)
    return pd.DataFrame({"family": family_cells, "flops": np.geomspace(1e18, 1e22, n), "loss": np.linspace(3, 2.4, n)})


def test_family_names_that_strip_to_one_name_are_refused_naming_both_rows():
    """Found by a new user: ' a' and 'a ' were stripped into one family 'a' and fitted together
    without a word, so two recipes' runs made one ladder (and each one's multipliers were wrong)."""
    frame = _two_spellings([" a"] * 4 + ["a "] * 4 + ["ref"])
    with pytest.raises(LadderError) as raised:
        read_ladder(frame)
    message = str(raised.value)
    assert message.startswith("<DataFrame>, rows 0 and 4, column 'family': ' a' and 'a ' differ only in the spaces")
    assert "both would be family 'a'" in message and "write them alike if they are one family" in message
    assert "\n" not in message


def test_only_the_first_names_rows_are_named_and_the_other_names_counted():
    frame = _two_spellings(["a", "b", " a", " b", "b ", "c", "c "])
    message = str(pytest.raises(LadderError, read_ladder, frame).value)
    assert "rows 0 and 2, column 'family': 'a' and ' a'" in message
    assert "(as do the spellings of 2 more names: 'b', 'c')" in message


def test_names_spelled_alike_with_spaces_are_still_read_stripped():
    """The refusal is of two spellings of one name; one spelling with spaces is read as before."""
    ladder = read_ladder(_two_spellings([" a "] * 4 + ["b"]))
    assert ladder.run_counts() == {"a": 4, "b": 1}


def test_a_file_whose_family_names_differ_in_spaces_exits_2_naming_its_lines(tmp_path):
    path = tmp_path / "spaces.csv"
    path.write_text("family,flops,loss\n a,1e19,3\n a,1e20,2.8\na ,1e21,2.7\na ,1e22,2.6\nref,1e23,2.5\n")
    result = CliRunner().invoke(main, ["fit", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"scalefit: error: {path}, lines 2 and 4, column 'family': ' a' and 'a '")
    assert len(result.stderr.splitlines()) == 1


def test_run_names_that_strip_to_one_name_within_a_family_are_refused():
    """' r1' and 'r1' in one family were stripped into one run 'r1', whose rows then read as
    checkpoints of one run: the bands resampled two runs as one and the fit was warned of as
    checkpoints, without a word of the spaces."""
    frame = pd.DataFrame({"family": ["a"] * 4 + ["ref"], "run": ["r0", " r1", "r1", "r2", " r1"],
                          "flops": np.geomspace(1e18, 1e22, 5), "loss": np.linspace(3, 2.4, 5)})
    message = str(pytest.raises(LadderError, read_ladder, frame).value)
    assert message.startswith("<DataFrame>, rows 1 and 2, column 'run': ' r1' and 'r1' differ only in the spaces")
    assert "both would be run 'r1' of family 'a'" in message and "write them alike if they are one run" in message


def test_run_names_alike_in_different_families_are_still_read():
    """Runs are named within their family: ' r1' in one family and 'r1' in another are two runs."""
    frame = pd.DataFrame({"family": ["a"] * 4 + ["b"] * 4, "run": [" r1", "r2", "r3", "r4", "r1", "r2", "r3", "r4"],
                          "flops": np.tile(np.geomspace(1e18, 1e22, 4), 2), "loss": np.tile(np.linspace(3, 2.4, 4), 2)})
    assert read_ladder(frame).run_counts() == {"a": 4, "b": 4}


def test_rows_whose_every_field_is_blank_are_skipped_with_a_warning(_file):
    """Found by the new-user review: a spreadsheet's ',,' row (an export of a sheet with a blank
    line or trailing rows) was refused as "column 'family': empty; every run needs a family". Such a
    row holds no run: it is skipped, and a warning names it; a row with any field filled is still
    refused, and a file of blank rows has no runs."""
    lines = ladder_text(6, {}).splitlines()
    text = "\n".join(lines[:3] + [",,", " , ,"] + lines[3:] + [",,"]) + "\n"
    ladder = read_ladder(_file(text))
    assert len(ladder.runs) == 6 and ladder.warnings == (
        f"{ladder.source}, line 4 (and 2 more: lines 5 and 10): every field is blank; skipped them (no run there)",)
    assert read_ladder(_file(ladder_text(6, {}))).runs.equals(ladder.runs.assign(where=[f"line {n}" for n in range(2, 8)]))
    assert "column 'family': empty" in error_of(_file("\n".join(lines[:3] + [",1e20,"] + lines[3:]) + "\n"))
    assert "no runs follow" in error_of(_file("family,flops,loss\n,,\n"))
    frame = pd.DataFrame({"family": ["a"] * 4 + [np.nan], "flops": [1e19, 1e20, 1e21, 1e22, np.nan],
                          "loss": [3.0, 2.8, 2.6, 2.5, None]})
    assert read_ladder(frame).warnings == ("<DataFrame>, row 4: every field is blank; skipped it (no run there)",)


def test_blank_rows_of_a_file_with_several_unnamed_columns_are_skipped(_file):
    """Found by review: a spreadsheet's export with trailing commas has several unnamed columns
    (all named ''), and a blank row in it failed read_ladder with numpy's "setting an array element
    with a sequence ... inhomogeneous shape" (a traceback from the command): the row was looked at
    column by column by name, and the name '' picks both columns."""
    lines = [line + ",," for line in ladder_text(6, {}).splitlines()]
    ladder = read_ladder(_file("\n".join(lines[:3] + [",,,,"] + lines[3:]) + "\n"))
    assert len(ladder.runs) == 6 and ladder.warnings == (
        f"{ladder.source}, line 4: every field is blank; skipped it (no run there)",)
    frame = pd.DataFrame([["a", 1e19 * 10 ** i, 3.0 - i / 10, None, None] for i in range(4)] + [[None] * 5],
                         columns=["family", "flops", "loss", "", " "])
    assert read_ladder(frame).warnings == ("<DataFrame>, row 4: every field is blank; skipped it (no run there)",)
