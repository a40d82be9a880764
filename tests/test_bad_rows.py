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


def counted(message: str) -> int:
    """The number of other rows the message says share the first's problem (0 if it says none)."""
    found = re.search(r"\((?:nor (?:is|are)|as (?:is|are)) (\d+) more rows?:|\((\d+) more rows? (?:is|are) ", message)
    return int(found.group(1) or found.group(2)) if found else 0


@FAST
@given(st.sets(st.integers(0, 199), min_size=1, max_size=60), st.sampled_from(["", "nan", "inf", "-inf", "NaN", " "]))
def test_the_count_is_the_number_of_bad_rows_and_the_first_few_are_named(tmp_path_factory, rows, cell):
    path = tmp_path_factory.mktemp("bad") / "ladder.csv"
    path.write_text(ladder_text(200, dict.fromkeys(rows, cell)))
    message = error_of(path)
    lines = [i + 2 for i in sorted(rows)]
    assert message.startswith(f"ladder.csv, line {lines[0]}, column 'loss': ")
    assert counted(message) == len(lines) - 1
    named = [int(n) for n in re.findall(r"\d+", message.split(" more row", 1)[1].split(")")[0])] if len(lines) > 1 else []
    assert named == lines[1:1 + ROWS_SHOWN]
    assert ("...)" in message) == (len(lines) - 1 > ROWS_SHOWN)
    if len(lines) > 1:
        assert "remove those rows" in message


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
