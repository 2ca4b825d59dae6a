"""Fuzzing the readers (issue 24, part 2): ``exemplar validate`` and the CSV/IDX loaders on mutated files.

Every input is either read correctly (the properties of a good read hold; a file built to be valid gives back
exactly what was written) or refused with a :class:`~exemplar.data.DataError` whose message names the file:
never another exception, never a hang (hypothesis' deadline), with bounded memory. The examples that broke the
readers before are pinned with ``@example`` and plain tests. The profile ``exemplar-fuzz`` (deterministic, a
few seconds) runs in ``make test``; ``EXEMPLAR_FUZZ_PROFILE=exemplar-fuzz-long`` tries many more inputs, and
``python -m exemplar.bench.fuzz`` runs atheris on the same readers.
"""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
import tempfile
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from exemplar import data
from exemplar.data import DataError
from exemplar.data.csvrows import parse_block, parse_line

# the profiles (exemplar-fuzz, exemplar-fuzz-long) are registered once, in conftest.py
FUZZ = settings.get_profile(os.environ.get("EXEMPLAR_FUZZ_PROFILE", "exemplar-fuzz"))

PAPER_HEADER = data.CSV_HEADER
HEADERS = [None, PAPER_HEADER, "label," + ",".join(f"pixel{i}" for i in range(784)),
           "label," + ",".join(f"pixel{i + 1}" for i in range(784)),
           '"Label",' + ",".join(f'" pixel_{i} "' for i in range(784)), PAPER_HEADER.upper()]
#: Cell values the CSV format must refuse, the nastier the better.
BAD_CELLS = ["", " ", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400", "-1", "256", "10", "-0.5", "2.5",
             "9" * 5000, "-" + "9" * 5000, "1" * 4301 + ".5", "0x1", "1_0", "--1", "+", ".", "e5", '"5"', "5 5",
             "\x00", "é", "٣", "∞", "१", "1e", "١٢", "True", "NULL", "#N/A", "1.#QNAN", "\ufeff1", "5\r"]
#: Other spellings of a good value: the readers take any whole number within range.
GOOD_SPELLINGS = {3: ["3", "03", "+3", "3.0", "3.", "0.3e1", " 3", "3 ", "300e-2", "0" * 25 + "3"]}
LINE_ENDS = ["\n", "\r\n"]


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="exemplar-fuzz-") as d:
        yield Path(d)


def table(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 784), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def csv_text(X, y, header, ends, bom=False, final_newline=True) -> bytes:
    lines = ([header] if header else []) + [",".join(map(str, [int(v), *map(int, x)])) for x, v in zip(X, y)]
    text = "".join(line + ends[i % len(ends)] for i, line in enumerate(lines))
    raw = text.encode()
    if not final_newline:
        raw = raw.rstrip(b"\r\n")
    return (b"\xef\xbb\xbf" + raw) if bom else raw


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    big = arr.astype(arr.dtype.newbyteorder(">"))
    return bytes([0, 0, code, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes() + big.tobytes()


def refused_or_read(read, path: Path, *names: Path):
    """``read(path)``, or None when refused with a DataError naming ``path`` (or one of ``names``); any other
    exception fails the test."""
    try:
        return read(path)
    except DataError as exc:
        message = str(exc)
        assert any(str(p) in message for p in (path, *names)), message
        assert "Traceback" not in message
        return None


def assert_good(got: data.DataFile, path: Path) -> None:
    assert got.path == path and got.X.dtype == np.uint8 and got.y.dtype == np.int64
    assert got.X.ndim == 2 and got.X.shape[0] == len(got.y) >= 1
    assert got.summary().startswith(f"{path}: ") and got.summary().endswith(", OK")


# --------------------------------------------------------------------------- valid files, every framing


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3), header=st.sampled_from(HEADERS),
       ends=st.lists(st.sampled_from(LINE_ENDS), min_size=1, max_size=3), bom=st.booleans(), gz=st.booleans(),
       final_newline=st.booleans(), blank_tail=st.sampled_from(["", "\n", "\r\n\r\n", "\n \t\n"]),
       spelled=st.sampled_from(GOOD_SPELLINGS[3]))
def test_a_valid_file_in_any_framing_reads_back_exactly(workdir, seed, n, header, ends, bom, gz, final_newline,
                                                         blank_tail, spelled):
    X, y = table(seed, n)
    y[-1] = 3
    raw = csv_text(X, y, header, ends, bom, final_newline or bool(blank_tail)) + blank_tail.encode()
    last = max(raw.rfind(b"\n", 0, len(raw.rstrip(b" \t\r\n"))) + 1, 3 * bom)  # respell the last row's label
    raw = raw[:last] + spelled.encode() + raw[last + 1:]
    path = workdir / "valid.csv"
    path.write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)
    got = data.read_csv(path)
    np.testing.assert_array_equal(got.X, X)
    np.testing.assert_array_equal(got.y, y)
    assert ("gzip-compressed" in got.found) == gz and ("without a header" in got.found) == (header is None)
    assert data.validate_file(path) == got.summary()
    if n > 1:
        np.testing.assert_array_equal(data.read_csv(path, n_rows=n - 1).y, y[:-1])


# --------------------------------------------------------------------------- mutated CSV files


def _mutate_cell(raw: bytes, draw) -> bytes:
    lines = raw.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    cells = lines[i].split(b",")
    j = draw(st.integers(0, len(cells) - 1))
    cells[j] = draw(st.sampled_from(BAD_CELLS)).encode()
    lines[i] = b",".join(cells)
    return b"\n".join(lines)


def _mutate_bytes(raw: bytes, draw) -> bytes:
    at = draw(st.integers(0, len(raw)))
    kind = draw(st.sampled_from(["insert", "delete", "truncate", "replace", "duplicate", "cr"]))
    chunk = draw(st.binary(min_size=1, max_size=8))
    if kind == "insert":
        return raw[:at] + chunk + raw[at:]
    if kind == "delete":
        return raw[:at] + raw[at + len(chunk):]
    if kind == "truncate":
        return raw[:at]
    if kind == "replace":
        return raw[:at] + chunk + raw[at + len(chunk):]
    if kind == "duplicate":
        return raw + raw[at:at + 200]
    return raw.replace(b"\n", b"\r", 1 + at % 3)  # old Mac line ends, some of them


def _reframe(raw: bytes, draw) -> bytes:
    frame = draw(st.sampled_from(["plain", "gzip", "gzip-cut", "gzip-garbage", "gzip-flip", "gzip-twice",
                                  "gzip-members", "utf16", "utf16-bom", "bom-twice", "latin1-header"]))
    if frame == "plain":
        return raw
    if frame == "utf16":
        return raw.decode("latin-1").encode("utf-16-le")
    if frame == "utf16-bom":
        return raw.decode("latin-1").encode("utf-16")
    if frame == "bom-twice":
        return b"\xef\xbb\xbf\xef\xbb\xbf" + raw
    if frame == "latin1-header":
        return raw.replace(b"label", "labél".encode("latin-1"), 1)
    gz = gzip.compress(raw, compresslevel=1)
    at = draw(st.integers(0, len(gz) - 1))
    return {"gzip": gz, "gzip-cut": gz[:at], "gzip-garbage": gz + draw(st.binary(min_size=1, max_size=16)),
            "gzip-flip": gz[:at] + bytes([gz[at] ^ 0x5A]) + gz[at + 1:], "gzip-twice": gzip.compress(gz),
            "gzip-members": gz + gzip.compress(raw[:at])}[frame]


@st.composite
def mutated_csv(draw) -> bytes:
    X, y = table(draw(st.integers(0, 2**32 - 1)), draw(st.integers(1, 3)))
    raw = csv_text(X, y, draw(st.sampled_from(HEADERS)), draw(st.lists(st.sampled_from(LINE_ENDS), min_size=1,
                                                                       max_size=2)))
    for _ in range(draw(st.integers(0, 2))):
        raw = _mutate_cell(raw, draw)
    for _ in range(draw(st.integers(0, 2))):
        raw = _mutate_bytes(raw, draw)
    return _reframe(raw, draw)


ROW = ",".join(["3"] + ["0"] * 784)


@FUZZ
@given(raw=mutated_csv())
@example(raw=(ROW.replace("3", "9" * 5000, 1) + "\n").encode())  # int() refuses > 4,300 digits: was a ValueError
@example(raw=(PAPER_HEADER.replace("1x1", "pixel" + "9" * 5000) + "\n" + ROW + "\n").encode())
@example(raw=("label," + ",".join(f"p{'9' * 5000 if i == 0 else i}" for i in range(784)) + "\n" + ROW).encode())
@example(raw=(ROW + "\r" + ROW + "\n").encode())
@example(raw=b"\xff\xfe" + (ROW + "\n").encode("utf-16-le"))
@example(raw=b"\x1f\x8b")
@example(raw=gzip.compress((ROW + "\n").encode()) + b"garbage")
def test_a_mutated_csv_file_is_read_or_refused_naming_the_file(workdir, raw):
    path = workdir / "mutated.csv"
    path.write_bytes(raw)
    got = refused_or_read(data.read_csv, path)
    if got is not None:
        assert_good(got, path)
        assert got.X.shape[1] == 784 and 0 <= got.y.min() <= got.y.max() <= 9
    summary = refused_or_read(data.validate_file, path)
    assert (summary is None) == (got is None)


@FUZZ
@given(body=st.lists(st.sampled_from([ROW, ROW.replace(",0", ",255", 5), *(ROW.replace(",0,", f",{c},", 1)
                                                                             for c in BAD_CELLS)]),
                     min_size=1, max_size=4).map("\n".join))
@example(body=ROW + "\n" + ROW.replace(",0,", ",True,", 1))  # pandas read True as 1: the file was accepted
def test_the_fast_parser_agrees_with_the_line_by_line_check(body):
    """pandas' C parser (the fast path) accepts exactly what the line-by-line check accepts, with the same values."""
    raw = body.encode()
    try:
        X, y = parse_block(raw, Path("f.csv"), 1)
    except DataError as exc:
        assert str(exc).startswith("f.csv, line ")
        with pytest.raises(DataError):
            for i, line in enumerate(raw.split(b"\n"), start=1):
                parse_line(line, f"f.csv, line {i}")
        return
    rows = np.array([parse_line(line, "f.csv") for line in raw.split(b"\n")])
    np.testing.assert_array_equal(X, rows[:, 1:])
    np.testing.assert_array_equal(y, rows[:, 0])


@FUZZ
@given(raw=st.one_of(st.binary(max_size=2048), st.binary(max_size=512).map(lambda b: b"\x1f\x8b" + b),
                     st.binary(max_size=512).map(lambda b: b"\x00\x00\x08\x03" + b),
                     st.binary(max_size=512).map(lambda b: gzip.compress(b"\x00\x00\x08\x01" + b)),
                     st.text(max_size=2048).map(lambda t: t.encode("utf-8", "surrogatepass"))))
@example(raw=b"")
@example(raw=b"\xef\xbb\xbf")
@example(raw=b"\x00\x00\x08\x01\x00\x00\x00\x00")  # an IDX label file with no labels: was a numpy ValueError
def test_any_bytes_are_validated_or_refused_naming_the_file(workdir, raw):
    path = workdir / "any-bytes"
    path.write_bytes(raw)
    summary = refused_or_read(data.validate_file, path)
    assert summary is None or (summary.startswith(f"{path}: ") and summary.endswith(", OK"))
    refused_or_read(data.read_data, path)


# --------------------------------------------------------------------------- IDX files and pairs


@st.composite
def idx_pair(draw) -> tuple[bytes, bytes]:
    n, rows, cols = draw(st.integers(0, 3)), draw(st.integers(0, 4)), draw(st.integers(0, 4))
    images = idx_bytes(np.arange(n * rows * cols, dtype=np.uint8).reshape(n, rows, cols))
    code, dtype = draw(st.sampled_from([(0x08, "u1"), (0x09, "i1"), (0x0B, "i2"), (0x0C, "i4"), (0x0D, "f4"),
                                        (0x0E, "f8")]))
    values = draw(st.lists(st.sampled_from([0, 1, 9, 10, 255, -1, 2**31 - 1, -2**31, float("nan"), 2.5]),
                           min_size=n, max_size=n))
    with np.errstate(all="ignore"):
        labels = idx_bytes(np.array(values, dtype=np.float64).astype(dtype), code)
    raws = [images, labels]
    for _ in range(draw(st.integers(0, 2))):
        k = draw(st.integers(0, 1))
        raw, at = raws[k], draw(st.integers(0, max(len(raws[k]) - 1, 0)))
        raws[k] = draw(st.sampled_from([
            raw[:at], raw + draw(st.binary(min_size=1, max_size=9)), raw[:at] + draw(st.binary(min_size=1,
                                                                                           max_size=4)) + raw[at + 1:],
            raw[:4] + struct.pack(">I", draw(st.sampled_from([0, 1, 2**32 - 1, 2**31]))) + raw[8:],
            raw[:2] + bytes([draw(st.integers(0, 255)), draw(st.integers(0, 255))]) + raw[4:],
            gzip.compress(raw), gzip.compress(raw)[:max(at, 2)]]))
    return raws[0], raws[1]


@FUZZ
@given(pair=idx_pair())
@example(pair=(idx_bytes(np.zeros((0, 28, 28), np.uint8)), idx_bytes(np.zeros(0, np.uint8))))  # reshape failed
@example(pair=(idx_bytes(np.zeros((1, 2, 2), np.uint8)), idx_bytes(np.array([np.nan], ">f4"), 0x0D)))
@example(pair=(idx_bytes(np.zeros((1, 2, 2), np.uint8)), idx_bytes(np.array([2**31 - 1], ">i4"), 0x0C)))
def test_an_idx_pair_is_read_or_refused_naming_a_file(workdir, pair):
    folder = workdir / "idx"
    folder.mkdir(exist_ok=True)
    images, labels = folder / "train-images-idx3-ubyte", folder / "train-labels-idx1-ubyte"
    images.write_bytes(pair[0])
    labels.write_bytes(pair[1])
    summary = refused_or_read(data.validate_file, images, labels)
    got = refused_or_read(data.read_data, images, labels)
    if got is not None:
        assert_good(got, images)
        assert summary == got.summary()
    for path in (images, labels):
        arr = refused_or_read(data.load_idx, path)
        assert arr is None or arr.flags.writeable
        refused_or_read(data.validate_file, path, images, labels)


# --------------------------------------------------------------------------- the findings, one by one


def test_a_label_file_of_huge_labels_is_summarised_in_bounded_memory(tmp_path):
    """``validate`` counted labels with np.bincount: a label of 2**31 - 1 asked for 16 GiB (the process was killed)."""
    folder = tmp_path
    (folder / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((2, 2, 2), np.uint8)))
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([2**31 - 1, 0], ">i4"), 0x0C))
    tracemalloc.start()
    try:
        pair = data.validate_file(folder / "train-images-idx3-ubyte")
        alone = data.validate_file(folder / "train-labels-idx1-ubyte")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert pair.endswith("labels 0–2147483647, OK") and "counts" not in pair
    assert alone.endswith("2 labels 0–2147483647, OK")


def test_idx_files_with_nothing_in_them_are_refused_with_their_name(tmp_path):
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(0, np.uint8)))
    with pytest.raises(DataError, match=rf"^{labels}: an IDX label file holding no labels"):
        data.validate_file(labels)
    images = tmp_path / "t10k-images-idx3-ubyte"
    images.write_bytes(idx_bytes(np.zeros((0, 28, 28), np.uint8)))
    with pytest.raises(DataError, match=rf"^{images}: holds no images \(its first dimension is 0\)"):
        data.read_data(images)


def test_float_labels_are_refused_not_cast(tmp_path):
    images, labels = tmp_path / "a-images-idx3-ubyte", tmp_path / "a-labels-idx1-ubyte"
    images.write_bytes(idx_bytes(np.zeros((1, 2, 2), np.uint8)))
    labels.write_bytes(idx_bytes(np.array([np.nan], ">f4"), 0x0D))
    with pytest.raises(DataError, match=rf"^{labels}: holds float32 data of shape \(1,\); expected integer labels"):
        data.load_idx_pair(images, labels)


@pytest.mark.parametrize("cell, message", [
    ("9" * 5000, r"column 2 \(pixel 0\) is 9{40}\.\.\. \(5,000 characters\), outside 0 to 255"),
    ("nan", r"column 2 \(pixel 0\) is 'nan', a missing value"),  # line 1: was taken for a bad header
    ("\x00", r"column 2 \(pixel 0\) is '\\x00', which is not a number"),
])
def test_a_first_row_with_a_bad_value_names_line_and_column(tmp_path, cell, message):
    path = tmp_path / "first.csv"
    path.write_bytes((ROW.replace(",0", f",{cell}", 1) + "\n" + ROW + "\n").encode())
    with pytest.raises(DataError, match=rf"^{path}, line 1: {message}"):
        data.read_csv(path)


@pytest.mark.parametrize("cell", ["True", "false", "TRUE"])
def test_a_boolean_is_no_pixel(tmp_path, cell):
    """pandas' fast parser read ``True`` as the pixel 1 and ``False`` as 0: such a file passed ``validate``."""
    path = tmp_path / "bools.csv"
    path.write_bytes((ROW + "\n" + ROW.replace(",0,", f",{cell},", 1) + "\n").encode())
    with pytest.raises(DataError, match=rf"^{path}, line 2: column 2 \(pixel 0\) is '{cell}', which is not a number"):
        data.read_csv(path)


def test_encodings_and_line_ends_get_a_hint(tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_bytes((ROW + "\n").encode("utf-16"))
    with pytest.raises(DataError, match=rf"^{path}, line 1: starts with a UTF-16 byte-order mark .*iconv"):
        data.read_csv(path)
    path.write_bytes((ROW + "\r" + ROW + "\r\n").encode())
    with pytest.raises(DataError, match=r"line 1: found 1569 comma-separated values; .* carriage return"):
        data.read_csv(path)


def test_a_fifo_or_a_device_is_refused_at_once_not_read_for_ever(tmp_path):
    """A FIFO blocked ``open`` until a writer came: ``exemplar validate`` hung."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(refused_or_read(data.validate_file, fifo)), daemon=True)
    thread.start()
    thread.join(timeout=20)
    if thread.is_alive():  # unblock it before failing
        with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass
        pytest.fail("validate_file blocked on a FIFO")
    assert outcome == [None]
    for path in ("/dev/null", "/dev/zero"):
        with pytest.raises(DataError, match=f"^{path}: is not a regular file"):
            data.read_csv(path)


def test_cli_validate_names_each_bad_file_and_goes_on(tmp_path):
    """``exemplar validate``: one line per file, no traceback, exit 1, every file checked."""
    bigint = tmp_path / "bigint.csv"
    bigint.write_bytes((ROW.replace("3", "9" * 5000, 1) + "\n").encode())
    empty_labels = tmp_path / "train-labels-idx1-ubyte"
    empty_labels.write_bytes(idx_bytes(np.zeros(0, np.uint8)))
    good = tmp_path / "good.csv"
    good.write_bytes((ROW + "\n").encode())
    os.mkfifo(tmp_path / "fifo")
    paths = [bigint, empty_labels, tmp_path / "fifo", tmp_path / "missing.csv", tmp_path, good]
    proc = subprocess.run([sys.executable, "-m", "exemplar.cli", "validate", *map(str, paths)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = proc.stderr.splitlines()
    assert len(errors) == len(paths) - 1
    assert all(line.startswith(f"error: {p}: ") or line.startswith(f"error: {p}, line 1: ")
               for line, p in zip(errors, paths))
    assert proc.stdout.startswith(f"{good}: CSV without a header line; 1 rows")


def test_the_fuzzing_benchmark_counts_its_inputs_and_memory(tmp_path):
    """``python -m exemplar.bench.fuzz``: one row per target, every input counted, no finding left."""
    from exemplar.bench import fuzz

    assert fuzz.main(["--quick", "--runs", "60", "--output-dir", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "fuzz.csv")
    assert list(df.target) == list(fuzz.TARGETS) and (df.inputs == 60).all()
    assert (df.findings == 0).all() and (df.failing_inputs == 0).all(), df.first_finding.tolist()
    assert (df.peak_rss_mb > 0).all() and (df.peak_rss_mb < 2048).all()
    assert (tmp_path / "fuzz.json").is_file()
    assert fuzz.main(["--runs", "0", "--output-dir", str(tmp_path)]) == 2
