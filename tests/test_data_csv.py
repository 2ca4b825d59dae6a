"""Tests of the paper's CSV format: reading (header or not, gzip, bounded memory), the checks, writing."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from exemplar import data
from exemplar.data import DataError

HEADER = data.CSV_HEADER


def row(label=3, pixels=None, seed=0) -> list[str]:
    if pixels is None:
        pixels = np.random.default_rng(seed).integers(0, 256, 784)
    return [str(label)] + [str(int(p)) for p in pixels]


def rows(n: int) -> list[list[str]]:
    return [row(label=i % 10, seed=i) for i in range(n)]


def write_lines(path, lines, newline="\n", bom=False, gz=False, trailing_newline=True):
    text = newline.join(lines) + (newline if trailing_newline else "")
    raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    if gz:
        raw = gzip.compress(raw, compresslevel=1)
    path.write_bytes(raw)
    return path


def csv_lines(table, header=HEADER) -> list[str]:
    return ([header] if header else []) + [",".join(r) for r in table]


def expected_arrays(table):
    X = np.array([[int(v) for v in r[1:]] for r in table], dtype=np.uint8)
    y = np.array([int(r[0]) for r in table], dtype=np.int64)
    return X, y


def assert_table(got, table):
    X, y = got
    eX, ey = expected_arrays(table)
    assert X.dtype == np.uint8 and X.shape == eX.shape and y.dtype == np.int64
    np.testing.assert_array_equal(X, eX)
    np.testing.assert_array_equal(y, ey)


# --------------------------------------------------------------------------- good CSV files


def test_round_trip(tmp_path):
    table = rows(5)
    assert_table(data.load_csv(write_lines(tmp_path / "good.csv", csv_lines(table))), table)


def test_first_data_row_is_never_lost(tmp_path):
    table = [row(label=7, seed=1), row(label=2, seed=2)]
    assert data.load_csv(write_lines(tmp_path / "t.csv", csv_lines(table)))[1].tolist() == [7, 2]


def test_write_csv_and_load_csv_agree(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (50, 784)).astype(np.uint8)
    X[0, :3] = [0, 9, 255]  # one, two and three digits
    y = rng.integers(0, 10, 50)
    path = data.write_csv(tmp_path / "w.csv", X, y)
    assert path.read_text().splitlines()[0] == HEADER
    assert HEADER.startswith("label,1x1,1x2,") and HEADER.endswith(",28x28")
    X2, y2 = data.load_csv(path)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert b"".join(data.csv_chunks(X, y, rows_per_chunk=7)) == path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["w.csv"]  # no temporary file left


@pytest.mark.parametrize("X, y, match", [
    (np.zeros((2, 783)), np.zeros(2), r"shape \(n, 784\)"),
    (np.zeros((2, 784)), np.zeros(3), r"shape \(n, 784\)"),
    (np.full((1, 784), 256), np.zeros(1), "0 to 255; got values from 256 to 256"),
    (np.full((1, 784), 0.5), np.zeros(1), "whole numbers 0 to 255"),
    (np.zeros((1, 784)), np.array([10]), "0 to 9; got values from 10 to 10"),
])
def test_write_csv_refuses_bad_arrays(tmp_path, X, y, match):
    with pytest.raises(ValueError, match=match):
        data.write_csv(tmp_path / "bad.csv", X, y)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("newline, bom, gz", [("\r\n", True, False), ("\r\n", False, False),
                                              ("\n", True, False), ("\n", False, True), ("\r\n", True, True)])
@pytest.mark.parametrize("header", [HEADER, None])
def test_crlf_bom_and_gzip_accepted(tmp_path, newline, bom, gz, header):
    table = rows(4)
    # gzip is recognised by its magic bytes, not by the name
    path = write_lines(tmp_path / "plain.csv", csv_lines(table, header), newline=newline, bom=bom, gz=gz)
    assert_table(data.load_csv(path), table)
    found = data.read_csv(path).found
    assert found.startswith("gzip-compressed CSV") == gz
    assert ("without a header line" in found) == (header is None)


def test_no_trailing_newline_and_trailing_blank_lines(tmp_path):
    table = rows(3)
    a = data.load_csv(write_lines(tmp_path / "a.csv", csv_lines(table), trailing_newline=False))
    b = data.load_csv(write_lines(tmp_path / "b.csv", csv_lines(table) + ["", ""]))
    assert len(a[1]) == len(b[1]) == 3


def test_whole_number_floats_are_accepted(tmp_path):
    r = row(label=4)
    r[0], r[5] = "4.0", "17.0"
    X, y = data.load_csv(write_lines(tmp_path / "f.csv", csv_lines([r])))
    assert y[0] == 4 and X[0, 4] == 17


@pytest.mark.parametrize("header", [HEADER, None])
def test_n_rows(tmp_path, header):
    table = rows(6)
    path = write_lines(tmp_path / "n.csv", csv_lines(table, header))
    assert_table(data.load_csv(path, n_rows=4), table[:4])


def test_n_rows_ignores_bad_lines_after_it(tmp_path):
    lines = csv_lines(rows(3)) + ["not,a,row"]
    X, y = data.load_csv(write_lines(tmp_path / "n.csv", lines), n_rows=3)
    assert len(y) == 3


def test_n_rows_more_than_file_has(tmp_path):
    path = write_lines(tmp_path / "short.csv", csv_lines(rows(2)))
    with pytest.raises(DataError, match=r"only 2 data rows.*n_rows=5"):
        data.load_csv(path, n_rows=5)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_n_rows_must_be_positive_int(tmp_path, bad):
    path = write_lines(tmp_path / "n.csv", csv_lines(rows(2)))
    with pytest.raises(ValueError, match="n_rows"):
        data.load_csv(path, n_rows=bad)


def test_many_chunks_give_the_same_arrays(tmp_path):
    """A file longer than one read (4 MiB) is read piece by piece; the result does not depend on it."""
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, (3000, 784)).astype(np.uint8)
    y = rng.integers(0, 10, 3000)
    path = data.write_csv(tmp_path / "big.csv", X, y)
    assert path.stat().st_size > 2 * (1 << 22)
    X2, y2 = data.load_csv(path)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(data.load_csv(path, n_rows=2999)[0], X[:2999])


# --------------------------------------------------------------------------- header line or not


def test_headerless_file_is_read_from_line_1_and_said(tmp_path):
    table = rows(3)
    path = write_lines(tmp_path / "noheader.csv", csv_lines(table, header=None))
    got = data.read_csv(path)
    assert_table((got.X, got.y), table)
    assert got.found == "CSV without a header line"
    assert data.validate_file(path).startswith(f"{path}: CSV without a header line; 3 rows, 784 pixels")


@pytest.mark.parametrize("names, scheme", [
    ([f"pixel{i}" for i in range(784)], "label,pixel0,...,pixel783"),
    ([f"pixel{i}" for i in range(1, 785)], "label,pixel1,...,pixel784"),
    ([f"p{i}" for i in range(784)], "label,p0,...,p783"),
    ([f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)], "label,1x1,...,28x28"),
])
def test_common_header_names_are_accepted_and_said(tmp_path, names, scheme):
    header = '"Label", ' + ",".join(names)  # quotes, spaces and case do not matter
    path = write_lines(tmp_path / "h.csv", csv_lines(rows(2), header))
    assert data.read_csv(path).found == f"CSV with a header line ({scheme})"


@pytest.mark.parametrize("names, needles", [
    (["label"] + [f"pixel{i}" for i in range(2, 786)], ["'pixel2'", "follow no known scheme"]),
    (["label"] + [f"pixel{i}" for i in range(783)] + ["colour"], ["'colour'", "no known scheme"]),
    (["label"] + [f"{c}x{r}" for r in range(1, 29) for c in range(1, 29)][:783] + ["x"], ["no known scheme"]),
    (["digit"] + [f"pixel{i}" for i in range(784)], ["first name is 'digit'", "'label' then 784 pixel names"]),
])
def test_header_names_are_checked(tmp_path, names, needles):
    path = write_lines(tmp_path / "h.csv", csv_lines(rows(2), ",".join(names)))
    with pytest.raises(DataError) as info:
        data.load_csv(path)
    msg = str(info.value)
    assert f"{path}, line 1 (the header)" in msg and "pixel0,...,pixel783" in msg
    for needle in needles:
        assert needle in msg, msg


def test_header_with_wrong_column_count(tmp_path):
    path = write_lines(tmp_path / "h.csv", ["label,a,b"] + [",".join(r) for r in rows(2)])
    with pytest.raises(DataError, match=r"line 1 \(the header\): found 3 .*expected 785"):
        data.load_csv(path)


def test_first_line_of_numbers_out_of_range_is_a_bad_data_row(tmp_path):
    table = rows(2)
    table[0][0] = "12"
    path = write_lines(tmp_path / "h.csv", csv_lines(table, header=None))
    with pytest.raises(DataError, match=r"line 1: column 1 \(label\) is 12, outside 0 to 9"):
        data.load_csv(path)


def test_empty_first_line(tmp_path):
    path = write_lines(tmp_path / "h.csv", [""] + csv_lines(rows(2)))
    with pytest.raises(DataError, match="line 1: the line is empty; expected a header line .* or a first row"):
        data.load_csv(path)
