"""Tests of the CSV reader's errors: file, line and problem named; bounded memory; truncated files."""

from __future__ import annotations

import gzip
import tracemalloc

import numpy as np
import pytest

from exemplar import data
from exemplar.data import DataError

HEADER = data.CSV_HEADER


def row(label=3, seed=0) -> list[str]:
    return [str(label)] + [str(int(p)) for p in np.random.default_rng(seed).integers(0, 256, 784)]


def rows(n: int) -> list[list[str]]:
    return [row(label=i % 10, seed=i) for i in range(n)]


def write_lines(path, lines, newline="\n", gz=False, trailing_newline=True):
    raw = (newline.join(lines) + (newline if trailing_newline else "")).encode()
    path.write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)
    return path


def csv_lines(table) -> list[str]:
    return [HEADER] + [",".join(r) for r in table]


def _set(col, value):
    def edit(r):
        r[col] = value
        return ",".join(r)
    return edit


BAD_ROWS = {
    # name: (how to spoil line 4, substrings the message must contain)
    "too_few_columns": (lambda r: ",".join(r[:-1]), ["found 784", "expected 785"]),
    "too_many_columns": (lambda r: ",".join(r + ["0"]), ["found 786", "expected 785"]),
    "trailing_comma": (lambda r: ",".join(r) + ",", ["found 786", "expected 785"]),
    "non_numeric": (_set(10, "abc"), ["column 11", "pixel 9", "'abc'", "not a number"]),
    "quoted_number": (_set(10, '"5"'), ["column 11", "not a number"]),
    "pixel_too_big": (_set(5, "256"), ["column 6", "pixel 4", "256", "outside 0 to 255"]),
    "pixel_huge": (_set(5, "99999999999999999999999"), ["column 6", "outside 0 to 255"]),
    "pixel_negative": (_set(784, "-1"), ["column 785", "pixel 783", "-1", "outside 0 to 255"]),
    "pixel_fraction": (_set(2, "12.5"), ["column 3", "pixel 1", "12.5", "fraction"]),
    "label_too_big": (_set(0, "10"), ["column 1", "label", "10", "outside 0 to 9"]),
    "label_negative": (_set(0, "-3"), ["column 1", "label", "outside 0 to 9"]),
    "label_fraction": (_set(0, "2.5"), ["column 1", "label", "2.5", "fraction"]),
    "missing_pixel": (_set(7, ""), ["column 8", "pixel 6", "empty", "missing value"]),
    "missing_label": (_set(0, ""), ["column 1", "label", "missing value"]),
    "na_pixel": (_set(7, "NA"), ["column 8", "'NA'", "missing value"]),
    "empty_line": (lambda r: "", ["empty"]),
}


@pytest.mark.parametrize("name", sorted(BAD_ROWS))
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_bad_row_names_file_line_and_problem(tmp_path, name, newline):
    spoil, needles = BAD_ROWS[name]
    table = rows(5)
    lines = csv_lines(table)
    lines[3] = spoil(table[2])  # line 4 of the file (header = line 1)
    path = write_lines(tmp_path / f"{name}.csv", lines, newline=newline)
    with pytest.raises(DataError) as info:
        data.load_csv(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "line 4:" in msg
    for needle in needles:
        assert needle in msg, msg


def test_bad_row_deep_in_a_long_file_is_located(tmp_path):
    table = rows(2600)
    lines = csv_lines(table)
    lines[2344] = _set(300, "x")(table[2343])  # line 2345
    path = write_lines(tmp_path / "long.csv", lines, gz=True)
    with pytest.raises(DataError, match=r"line 2345: column 301 \(pixel 299\) is 'x'"):
        data.load_csv(path)


@pytest.mark.parametrize("chunk_bytes", [1, 7, 2000, 3000, 1 << 20])
def test_the_read_size_changes_nothing(tmp_path, monkeypatch, chunk_bytes):
    """Whatever the size of the pieces read: same arrays, same line numbers, blank lines found."""
    from exemplar.data import csvfile

    monkeypatch.setattr(csvfile, "CHUNK_BYTES", chunk_bytes)
    table = rows(3)
    good = write_lines(tmp_path / "good.csv", csv_lines(table) + ["", " ", ""], newline="\r\n")
    X, y = data.load_csv(good)
    assert y.tolist() == [0, 1, 2] and X[2, 5] == int(table[2][6])
    lines = csv_lines(table)
    lines[2:2] = ["", " "]  # lines 3 and 4 are blank, line 5 is data again
    with pytest.raises(DataError, match=r"bad.csv, line 3: the line is empty"):
        data.load_csv(write_lines(tmp_path / "bad.csv", lines))
    lines = csv_lines(table)
    lines[3] = _set(9, "x")(table[2])
    with pytest.raises(DataError, match=r"bad2.csv, line 4: column 10 \(pixel 8\) is 'x'"):
        data.load_csv(write_lines(tmp_path / "bad2.csv", lines))


def test_first_bad_line_is_reported(tmp_path):
    table = rows(5)
    lines = csv_lines(table)
    lines[2] = _set(0, "11")(table[1])
    lines[4] = _set(3, "bad")(table[3])
    with pytest.raises(DataError, match="line 3:"):
        data.load_csv(write_lines(tmp_path / "two.csv", lines))


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError) as info:
        data.load_csv(path)
    assert str(path) in str(info.value)
    assert "exemplar data" in str(info.value) and "make data" in str(info.value)


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf", b"  \r\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match="empty") as info:
        data.load_csv(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("tail", ["", "\n", "\r\n\r\n"])
def test_header_only(tmp_path, tail):
    path = tmp_path / "header.csv"
    path.write_text(HEADER + tail)
    with pytest.raises(DataError, match="no data rows") as info:
        data.load_csv(path)
    assert str(path) in str(info.value)


def test_broken_gzip_points_to_exemplar_data(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_bytes(gzip.compress(("\n".join(csv_lines(rows(3)))).encode())[:-20])
    with pytest.raises(DataError, match="gzip.*truncated") as info:
        data.load_csv(path)
    assert str(path) in str(info.value) and "run `exemplar data`" in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_last_line_points_to_exemplar_data(tmp_path, gz):
    text = "\n".join(csv_lines(rows(4))) + "\n"
    cut = text[: len(text) - 1000]  # the last row loses its end, and its line break
    path = tmp_path / "cut.csv"
    path.write_bytes(gzip.compress(cut.encode()) if gz else cut.encode())
    with pytest.raises(DataError) as info:
        data.load_csv(path)
    msg = str(info.value)
    assert f"{path}, line 5: the last line has only" in msg and "of 785 values" in msg
    assert "truncated" in msg and "run `exemplar data`" in msg


def test_an_idx_file_is_not_read_as_csv(tmp_path):
    path = tmp_path / "train-labels.csv"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]))
    with pytest.raises(DataError, match="an IDX file .*not text; expected a CSV file.*exemplar validate"):
        data.load_csv(path)


# --------------------------------------------------------------------------- bounded memory


def _peak_while(fn) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_a_file_without_line_breaks_is_refused_without_reading_it_whole(tmp_path, gz):
    path = tmp_path / "one-line.csv"
    big = 64 << 20  # 64 MiB of digits and commas, no line break
    if gz:
        with gzip.open(path, "wb", compresslevel=1) as fh:
            for _ in range(big >> 20):
                fh.write(b"1," * (1 << 19))
    else:
        with open(path, "wb") as fh:
            fh.truncate(big)  # a sparse file of zero bytes
    peak, msg = _peak_while(lambda: data.load_csv(path))
    assert peak < 24 << 20, f"peak {peak / 2**20:.1f} MiB"
    assert f"{path}, line 1: runs past {data.MAX_LINE_BYTES:,} bytes without a line break" in msg
    assert "Is this a CSV file?" in msg


def test_a_long_line_after_good_rows_is_named(tmp_path):
    path = tmp_path / "long-line.csv"
    path.write_bytes(("\n".join(csv_lines(rows(2))) + "\n").encode() + b"5" * (8 << 20))
    peak, msg = _peak_while(lambda: data.load_csv(path))
    assert peak < 32 << 20
    assert "line 4: runs past" in msg
