"""The paper's CSV format on disk: read it (streamed, in bounded memory), check it, write it.

A file holds an optional header line, then one row per image::

    label,1x1,1x2,...,1x28,2x1,...,28x28
    5,0,0,...,0

the digit label (0-9) followed by the 784 pixel intensities (integers 0-255) of the 28x28
image in row-major order. :func:`write_csv` writes the header the paper's files have (pixels
named ``<row>x<col>``, 1-based). Readers accept a file with that header, with the other
common pixel names (``pixel0,...,pixel783``), or with no header at all (the widely used
MNIST CSV files have none): a first line of 785 numbers is data, never dropped as a header.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from exemplar.config import N_PIXELS
from exemplar.data.common import (
    BOM,
    CSV_HEADER,
    EXPECTED_ROW,
    N_COLUMNS,
    REBUILD_HINT,
    DataError,
    DataFile,
    check_n_rows,
    gzip_errors,
    is_gzip,
    open_data,
)
from exemplar.data.csvrows import check_header, is_number_row, parse_block, parse_line
from exemplar.data.idx import is_idx
from exemplar.fileio import atomic_write

__all__ = ["load_csv", "read_csv", "write_csv", "csv_chunks", "iter_blocks", "MAX_LINE_BYTES"]

#: How much a reader reads at a time (4 MiB).
CHUNK_BYTES = 1 << 22
MAX_VALUE_CHARS = 32
#: The longest line a reader accepts: 785 values of up to 32 characters and their commas.
#: A longer line (or a file with no line break, such as a binary file) is refused unread.
MAX_LINE_BYTES = N_COLUMNS * (MAX_VALUE_CHARS + 1)
#: The byte-order marks of UTF-16 (and UTF-32) text, little- and big-endian.
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _too_long(path: Path, lineno: int) -> DataError:
    return DataError(
        f"{path}, line {lineno}: runs past {MAX_LINE_BYTES:,} bytes without a line break; a row of the paper's "
        f"CSV format ({EXPECTED_ROW}, each at most {MAX_VALUE_CHARS} characters) is shorter. Is this a CSV file? "
        f"(Binary files, and text with no line breaks, are refused without reading them whole.)"
    )


def _blank(path: Path, lineno: int) -> DataError:
    what = f"a header line (such as 'label,1x1,...,28x28') or a first row of {EXPECTED_ROW}" if lineno == 1 \
        else EXPECTED_ROW
    return DataError(f"{path}, line {lineno}: the line is empty; expected {what}.")


def _truncated(path: Path, lineno: int, tail: bytes) -> DataError:
    return DataError(
        f"{path}, line {lineno}: the last line has only {tail.count(b',') + 1} of {N_COLUMNS} values and no line "
        f"break: the file looks truncated. {REBUILD_HINT}"
    )


def iter_blocks(fh: BinaryIO, path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """Read ``fh`` in chunks; yield ``(lineno, block)`` for each run of complete lines.

    ``block`` holds whole lines joined by ``\\n`` (no final newline) and ``lineno`` is the
    1-based number of its first line. A leading byte-order mark is dropped. Blank lines at
    the end of the file are ignored; blank lines followed by more data raise. At most
    ``chunk_bytes`` plus :data:`MAX_LINE_BYTES` bytes are held at a time.

    Raises
    ------
    DataError
        For a line longer than :data:`MAX_LINE_BYTES`, an empty line followed by data, or a
        last line with fewer than 785 values and no line break (a truncated file).
    """
    pending, lineno, blank_at = fh.read(len(BOM)), 1, None
    if pending == BOM:
        pending = b""
    while chunk := fh.read(chunk_bytes):
        buf = pending + chunk
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > MAX_LINE_BYTES:
                raise _too_long(path, lineno)
            pending = buf
            continue
        complete, pending = buf[:cut], buf[cut + 1:]
        n_lines = complete.count(b"\n") + 1
        if len(pending) > MAX_LINE_BYTES:
            raise _too_long(path, lineno + n_lines)
        content = complete.rstrip(b" \t\r\n")
        if content:
            if blank_at is not None:
                raise _blank(path, blank_at)
            end = complete.find(b"\n", len(content))
            block = complete if end < 0 else complete[:end]
            yield lineno, block
            blank_at = None if end < 0 else lineno + block.count(b"\n") + 1
        elif blank_at is None:
            blank_at = lineno
        lineno += n_lines
    tail = pending.rstrip(b" \t\r\n")
    if tail:
        if blank_at is not None:
            raise _blank(path, blank_at)
        if lineno > 1 and tail.count(b",") + 1 < N_COLUMNS and is_number_row(tail):
            raise _truncated(path, lineno, tail)
        yield lineno, tail


def _first_lines(path: Path, lineno: int, block: bytes) -> tuple[str | None, int, bytes]:
    """Split line 1 off the first block when it is a header: ``(header scheme or None, lineno, rest)``."""
    nl = block.find(b"\n")
    line1 = block if nl < 0 else block[:nl]
    if not line1.strip():
        raise _blank(path, 1)
    if line1[:2] in UTF16_BOMS:
        raise DataError(f"{path}, line 1: starts with a UTF-16 byte-order mark ({line1[0]:02x} {line1[1]:02x}): the "
                        f"file is UTF-16 text; expected ASCII (or UTF-8). Convert it, e.g. with "
                        f"`iconv -f UTF-16 -t UTF-8`.")
    if is_number_row(line1):
        return None, lineno, block  # no header: line 1 is the first image
    if is_number_row(line1.split(b",", 1)[0]):  # no header starts with a number: a first image with a bad value
        parse_line(line1, f"{path}, line 1")  # names the bad value (raises)
    return check_header(line1, path), lineno + 1, b"" if nl < 0 else block[nl + 1:]


def _take(block: bytes, n: int) -> bytes:
    """The first ``n`` lines of ``block``."""
    pos = -1
    for _ in range(n):
        pos = block.find(b"\n", pos + 1)
        if pos < 0:
            return block
    return block[:pos]


def _check_not_idx(fh: BinaryIO, path: Path) -> None:
    head = fh.peek(4)[:4]
    if is_idx(head):
        raise DataError(
            f"{path}: starts with the bytes of an IDX file (00 00 {head[2]:02x} {head[3]:02x}), not text; expected "
            f"a CSV file. Read IDX files with exemplar.data.read_data (or load_idx / load_idx_pair); "
            f"`exemplar validate` checks either format."
        )


def read_csv(path, n_rows: int | None = None) -> DataFile:
    """Read a CSV file in the paper's format and say what was found (header or not, gzip or not).

    Parameters
    ----------
    path : str or os.PathLike
        The file. It may have a header line or not, use Windows (CRLF) line endings, start
        with a UTF-8 byte-order mark, or be gzip-compressed (recognised by its first two
        bytes, whatever its name).
    n_rows : int, optional
        Read only the first ``n_rows`` data rows (a header is not counted); the rest of the
        file is not read. Default: all.

    Returns
    -------
    DataFile
        ``X`` (uint8, (n, 784)), ``y`` (int64, (n,)) and ``found``, e.g. ``"CSV with a header line
        (label,1x1,...,28x28)"`` or ``"gzip-compressed CSV without a header line"``.

    Raises
    ------
    DataError
        When the file is missing, empty, an IDX file, has a header with the wrong names or no
        data rows, a line longer than :data:`MAX_LINE_BYTES`, or any data row has the wrong
        number of values, a missing or non-numeric value, a fractional value, a pixel outside
        0-255 or a label outside 0-9. The message names the file and the 1-based line of the
        first problem. Also when the file has fewer than ``n_rows`` data rows.
    ValueError
        When ``n_rows`` is not a positive integer.
    """
    check_n_rows(n_rows)
    path = Path(path)
    xs, ys, have, header = [], [], 0, None
    with open_data(path, "CSV file") as fh, gzip_errors(path):
        _check_not_idx(fh, path)
        blocks = iter_blocks(fh, path, CHUNK_BYTES)
        first = next(blocks, None)
        if first is None:
            raise DataError(f"{path}: the file is empty; expected an optional header line, then rows of "
                            f"{EXPECTED_ROW}. {REBUILD_HINT}")
        header, lineno, rest = _first_lines(path, *first)
        for lineno, block in itertools.chain([(lineno, rest)] if rest else [], blocks):
            if n_rows is not None:
                block = _take(block, n_rows - have)
            X, y = parse_block(block, path, lineno)
            xs.append(X)
            ys.append(y)
            have += len(y)
            if n_rows is not None and have >= n_rows:
                break
    if not ys:
        raise DataError(f"{path}: has a header line but no data rows; expected rows of {EXPECTED_ROW} from line 2 on.")
    if n_rows is not None and have < n_rows:
        raise DataError(f"{path}: has only {have:,} data rows; n_rows={n_rows:,} were asked for. Ask for fewer.")
    found = "CSV without a header line" if header is None else f"CSV with a header line ({header})"
    found = f"gzip-compressed {found}" if is_gzip(path) else found
    X, y = (xs[0], ys[0]) if len(ys) == 1 else (np.concatenate(xs), np.concatenate(ys))
    return DataFile(path, X, y, found)


def load_csv(path, n_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV file in the paper's format (header line or not): :func:`read_csv`'s ``X, y``.

    Returns
    -------
    X : ndarray of uint8, shape (n, 784)
        Pixel intensities 0-255.
    y : ndarray of int64, shape (n,)
        Labels 0-9.

    Raises
    ------
    DataError, ValueError
        As :func:`read_csv`.

    Notes
    -----
    A first line of 785 numbers is the first image, never a header to drop (the paper's
    reader lost the first test image that way); any other first line must be a header.
    """
    got = read_csv(path, n_rows)
    return got.X, got.y


def csv_chunks(X: np.ndarray, y: np.ndarray, rows_per_chunk: int = 4096) -> Iterator[bytes]:
    """The CSV file as byte chunks: :data:`CSV_HEADER`, then ``label,p0,...,p783`` rows (vectorised).

    ``X`` and ``y`` must already hold values 0-255 and 0-9 (see :func:`write_csv`, which checks).
    """
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


def write_csv(path, X, y) -> Path:
    """Write images and labels as a CSV file in the paper's format, atomically.

    Parameters
    ----------
    path : str or os.PathLike
    X : array-like of int, shape (n, 784)
        Pixels, whole numbers 0-255.
    y : array-like of int, shape (n,)
        Labels 0-9.

    Returns
    -------
    Path
        ``path``, which :func:`load_csv` reads back as ``X.astype(uint8)``, ``y.astype(int64)``.

    Raises
    ------
    ValueError
        When the shapes disagree or a value is outside its range (nothing is written).
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.shape[1] != N_PIXELS or y.shape != (len(X),):
        raise ValueError(f"X must have shape (n, {N_PIXELS}) and y shape (n,); got {X.shape} and {y.shape}")
    if X.size and (X.min() < 0 or X.max() > 255 or not np.array_equal(X, np.round(X))):
        raise ValueError(f"X must hold whole numbers 0 to 255; got values from {X.min()} to {X.max()}")
    if y.size and (y.min() < 0 or y.max() > 9 or not np.array_equal(y, np.round(y))):
        raise ValueError(f"y must hold whole numbers 0 to 9; got values from {y.min()} to {y.max()}")
    return atomic_write(path, lambda fh: fh.writelines(csv_chunks(X.astype(np.uint8), y.astype(np.uint8))))
