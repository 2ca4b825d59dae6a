"""Parsing the paper's CSV rows and header from bytes: fast when the data are good, precise when not.

A block of data lines is parsed with pandas' C parser; only when that fails is the block
re-checked line by line, so that the error names the first bad line, column and value.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
import warnings
from pathlib import Path

import numpy as np

from exemplar.config import N_PIXELS
from exemplar.data.common import EXPECTED_ROW, N_COLUMNS, DataError

__all__ = ["parse_block", "parse_line", "is_number_row", "check_header"]

BLOCK_ROWS = 1000  # rows re-checked at a time when the fast path finds a problem
_NUMBER = re.compile(rb"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NA_TOKENS = {
    b"", b"na", b"nan", b"-nan", b"n/a", b"null", b"none", b"<na>", b"#n/a", b"#na",
    b"#n/a n/a", b"-1.#ind", b"1.#ind", b"-1.#qnan", b"1.#qnan",
}
_DIGITS_AND_COMMAS = b"0123456789,"
#: The only bytes the fast parser is shown: pandas reads more than numbers (``True`` as 1, for one).
_FAST_BYTES = b"0123456789,\n\r \t+-.eE"
_PREFIXED = re.compile(r"([a-z_ ]*?)_?(\d+)")
_ACCEPTED_HEADERS = (f"'label' then {N_PIXELS} pixel names in order: 1x1,1x2,...,28x28 (the paper's), or one "
                     f"prefix numbered 0 to {N_PIXELS - 1} or 1 to {N_PIXELS} (pixel0,...,pixel{N_PIXELS - 1})")


class _NotFast(Exception):
    """Internal: the fast parser could not accept this text; re-check it line by line."""


def _column_name(j: int) -> str:
    return "label" if j == 0 else f"pixel {j - 1}"


def _expected_value(j: int) -> str:
    return "a whole-number label 0 to 9" if j == 0 else "a whole-number pixel value 0 to 255"


def _cut(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters for a message, with its length said when cut."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _shown(s: bytes) -> str:
    """A cell as a message shows it: decoded (bad bytes replaced) and cut."""
    return _cut(s.decode("utf-8", "replace"))


def _cell_value(cell: bytes, j: int, where: str) -> int:
    """Parse and check one cell of column ``j`` (0 = label); ``where`` prefixes errors."""
    col = f"column {j + 1} ({_column_name(j)})"
    s = cell.strip()
    if s.lower() in _NA_TOKENS:
        shown = "empty" if not s else f"{s.decode('latin-1')!r}"
        raise DataError(f"{where}: {col} is {shown}, a missing value; expected {_expected_value(j)}.")
    if not _NUMBER.fullmatch(s):
        raise DataError(f"{where}: {col} is {_shown(cell)!r}, which is not a number; expected {_expected_value(j)}.")
    # float() for long digit strings too: int() refuses more than 4,300 digits (sys.get_int_max_str_digits)
    v = float(s) if len(s) > 20 or any(c in s for c in b".eE") else int(s)
    hi = 9 if j == 0 else 255
    if not (0 <= v <= hi):
        raise DataError(f"{where}: {col} is {_shown(s)}, outside 0 to {hi}; expected {_expected_value(j)}.")
    if v != math.floor(v):
        raise DataError(f"{where}: {col} is {_shown(s)}, a fraction; expected {_expected_value(j)}.")
    return int(v)


def _range_error(vals: np.ndarray, where: str) -> None:
    """Raise for the first out-of-range cell of an int row (label first, then pixels)."""
    if not 0 <= vals[0] <= 9:
        raise DataError(f"{where}: column 1 (label) is {vals[0]}, outside 0 to 9; expected {_expected_value(0)}.")
    bad = np.flatnonzero((vals[1:] < 0) | (vals[1:] > 255))
    if bad.size:
        j = int(bad[0]) + 1
        raise DataError(
            f"{where}: column {j + 1} ({_column_name(j)}) is {vals[j]}, outside 0 to 255; "
            f"expected {_expected_value(j)}."
        )


def parse_line(line: bytes, where: str) -> np.ndarray:
    """One data line -> int64 array of 785 checked values, or :class:`DataError` naming the problem.

    ``where`` (such as ``"data/mnist_train.csv, line 4"``) starts the error message.
    """
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line.strip():
        raise DataError(f"{where}: the line is empty; expected {EXPECTED_ROW}.")
    fields = line.split(b",")
    if len(fields) != N_COLUMNS:
        hint = (" The line holds a carriage return (\\r) that ends no line: are its line ends the old Mac ones "
                "(\\r alone)? Convert them to \\n or \\r\\n.") if b"\r" in line else ""
        raise DataError(f"{where}: found {len(fields)} comma-separated values; expected {EXPECTED_ROW}.{hint}")
    vals = None
    if not line.translate(None, _DIGITS_AND_COMMAS):  # plain digits: the quick way
        with contextlib.suppress(ValueError, OverflowError):  # diagnosed cell by cell below
            vals = np.array([int(f) for f in fields], dtype=np.int64)
    if vals is None:
        vals = np.array([_cell_value(f, j, where) for j, f in enumerate(fields)], dtype=np.int64)
    _range_error(vals, where)
    return vals


def _parse_slow(lines: list[bytes], first_lineno: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = np.empty((len(lines), N_COLUMNS), dtype=np.int64)
    for i, line in enumerate(lines):
        rows[i] = parse_line(line, f"{path}, line {first_lineno + i}")
    return rows[:, 1:].astype(np.uint8), rows[:, 0].copy()


def _parse_fast(text: bytes) -> tuple[np.ndarray, np.ndarray]:
    """pandas' C parser; raises :class:`_NotFast` on anything it cannot accept as is.

    Reading as uint8 makes pandas itself refuse values outside 0-255, fractions, missing
    values and text; only the labels' 0-9 range and the column count are checked here.
    """
    import pandas as pd

    if text.translate(None, _FAST_BYTES):  # a letter, a quote, a NUL...: the line-by-line check decides
        raise _NotFast("not only numbers")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pd.read_csv(
                io.BytesIO(text), header=None, dtype=np.uint8, engine="c",
                skip_blank_lines=False, quoting=csv.QUOTE_NONE, encoding="latin-1",
            )
    except Exception as exc:  # any parse problem: let the line-by-line check name it
        raise _NotFast(str(exc)) from None
    rows = frame.to_numpy()
    if rows.ndim != 2 or rows.shape[1] != N_COLUMNS or rows.dtype != np.uint8:
        raise _NotFast(f"shape {rows.shape}, dtype {rows.dtype}")
    if rows.size and rows[:, 0].max() > 9:
        raise _NotFast("label out of range")
    return rows[:, 1:].copy(), rows[:, 0].astype(np.int64)


def parse_block(body: bytes, path: Path, first_lineno: int) -> tuple[np.ndarray, np.ndarray]:
    """Complete data lines (joined by newlines, no final newline) -> X uint8, y int64.

    ``first_lineno`` is the 1-based line number of the block's first line in the file, for
    error messages. Fast when the data are good; otherwise the first bad line is named.
    """
    try:
        X, y = _parse_fast(body)
        if len(y) == body.count(b"\n") + 1:
            return X, y
    except _NotFast:
        pass
    # Something is off: check blocks of lines, the good ones still fast, the first bad one
    # line by line, so the error names the first bad line of the file.
    lines = body.split(b"\n")
    xs, ys = [], []
    for start in range(0, len(lines), BLOCK_ROWS):
        block = lines[start:start + BLOCK_ROWS]
        try:
            X, y = _parse_fast(b"\n".join(block))
            if len(y) != len(block):
                raise _NotFast("row count")
        except _NotFast:
            X, y = _parse_slow(block, first_lineno + start, path)
        xs.append(X)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def is_number_row(line: bytes) -> bool:
    """Whether every comma-separated field of ``line`` is a number (a data row, not a header)."""
    return all(_NUMBER.fullmatch(f.strip()) for f in line.rstrip(b"\r").split(b","))


def _pixel_scheme(names: list[str]) -> str | None:
    """The naming scheme of 784 pixel names, or None when they follow none."""
    if names == [f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)]:
        return "1x1,...,28x28"
    first = _PREFIXED.fullmatch(names[0])
    if first is None or len(first.group(2)) > 6:  # int() refuses thousands of digits; no pixel needs 7
        return None
    prefix, start = first.group(1), int(first.group(2))
    if start not in (0, 1):
        return None
    for k, name in enumerate(names):
        m = _PREFIXED.fullmatch(name)
        if m is None or m.group(1) != prefix or len(m.group(2)) > 6 or int(m.group(2)) != start + k:
            return None
    return f"{names[0]},...,{names[-1]}"


def check_header(line: bytes, path: Path) -> str:
    """Check line 1 as a header (a label name, then 784 pixel names); return its scheme.

    Names are compared without surrounding whitespace or double quotes, ignoring case.

    Raises
    ------
    DataError
        When the header has the wrong number of names or names that follow no scheme.
    """
    fields = line.rstrip(b"\r").split(b",")
    if len(fields) != N_COLUMNS:
        raise DataError(
            f"{path}, line 1 (the header): found {len(fields)} comma-separated names; "
            f"expected {N_COLUMNS} ({_ACCEPTED_HEADERS}), or no header and a first row of {EXPECTED_ROW}."
        )
    names = [f.decode("utf-8", "replace").strip().strip('"').strip().lower() for f in fields]
    if names[0] != "label":
        raise DataError(f"{path}, line 1 (the header): the first name is {_cut(names[0])!r}; "
                        f"expected {_ACCEPTED_HEADERS}.")
    scheme = _pixel_scheme(names[1:])
    if scheme is None:
        raise DataError(f"{path}, line 1 (the header): the pixel names {_cut(names[1])!r}, {_cut(names[2])!r}, ... "
                        f"{_cut(names[-1])!r} follow no known scheme; expected {_ACCEPTED_HEADERS}.")
    return f"label,{scheme}"
