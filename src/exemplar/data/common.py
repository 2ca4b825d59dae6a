"""What every module of :mod:`exemplar.data` shares: the error, the format's constants, paths, file opening.

The paper's CSV format: one optional header line, then one row per image, the digit label
(0-9) followed by the 784 pixel intensities (0-255) of the 28x28 image in row-major order.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import numbers
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from exemplar.config import MNIST_TEST_CSV, MNIST_TRAIN_CSV, N_PIXELS, data_dir

N_COLUMNS = N_PIXELS + 1  # label + pixels
#: The checksum file beside the CSV files, in ``sha256sum`` format.
SHA256SUMS = "SHA256SUMS"
#: The header line :func:`exemplar.data.write_csv` writes: pixels named ``<row>x<col>``, 1-based.
CSV_HEADER = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
#: The splits and MNIST's CSV file name for each.
SPLITS = {"train": MNIST_TRAIN_CSV, "test": MNIST_TEST_CSV}
#: The data sets :func:`load_dataset`, :func:`fetch_dataset` and ``exemplar data --dataset`` know.
DATASETS = ("mnist", "fashion-mnist")
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
HOW_TO_GET = "run `exemplar data` (or `make data`) to download and convert MNIST"
#: Appended to errors that mean "this file was cut short".
REBUILD_HINT = ("If it is one of the files `exemplar data` writes, run `exemplar data` (or `make data`) to check it "
                "against SHA256SUMS and rebuild it; otherwise copy or download it again.")
EXPECTED_ROW = f"{N_COLUMNS} comma-separated values (a label 0 to 9, then {N_PIXELS} pixels 0 to 255)"


class DataError(ValueError):
    """Bad or missing data: a file that is absent, malformed, or fails its checksum."""


@dataclass(frozen=True)
class DataFile:
    """Images and labels read from a file (or an IDX pair), with what was found on the way.

    Attributes
    ----------
    path : Path
        The file read (the images file of an IDX pair).
    X : ndarray of uint8, shape (n, n_pixels)
    y : ndarray of int64, shape (n,)
    found : str
        What the file turned out to be, e.g. ``"CSV without a header line"`` or
        ``"gzip-compressed IDX images (60,000 x 28 x 28) with labels .../train-labels-idx1-ubyte"``.
    """

    path: Path
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    found: str

    def summary(self) -> str:
        """One line: ``PATH: FOUND; N rows, P pixels, labels A–B (counts ...), OK``."""
        labels = f"labels {self.y.min()}–{self.y.max()}{label_counts(self.y, 0)}" if len(self.y) else "no labels"
        return f"{self.path}: {self.found}; {len(self.y):,} rows, {self.X.shape[1]} pixels, {labels}, OK"


#: The most distinct label values a summary counts one by one (EMNIST's 62 classes fit).
MAX_COUNTED_LABELS = 256


def label_counts(y: np.ndarray, start: int | None = None) -> str:
    """`` (counts c0 c1 ...)``: how many labels of each value from ``start`` (default: the smallest) to the largest.

    Empty when a label is negative or the labels span more than :data:`MAX_COUNTED_LABELS` values (an
    IDX file may hold any integers: counting them one by one could take gigabytes).
    """
    if not len(y):
        return ""
    lo, hi = int(y.min()), int(y.max())
    first = lo if start is None else start
    if lo < 0 or hi - min(first, lo) >= MAX_COUNTED_LABELS:
        return ""
    counts = np.bincount(y.astype(np.int64) - first, minlength=0 if start is None else 10)
    return " (counts " + " ".join(str(c) for c in counts) + ")"


def check_n_rows(n_rows) -> None:
    """Raise ``ValueError`` unless ``n_rows`` is ``None`` or a positive integer."""
    if n_rows is None:
        return
    if isinstance(n_rows, bool) or not isinstance(n_rows, numbers.Integral) or n_rows < 1:
        raise ValueError(f"n_rows must be a positive integer or None; got {n_rows!r}")


def check_dataset(name: str) -> str:
    """Return ``name`` if it is one of :data:`DATASETS`, else raise ``ValueError`` listing them."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(map(repr, DATASETS))}; got {name!r}")
    return name


def check_split(split: str) -> str:
    """Return ``split`` if it is ``"train"`` or ``"test"``, else raise ``ValueError``."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return split


def dataset_csv(name: str, split: str) -> Path:
    """The CSV file of a data set's split: ``data/{name}_{split}.csv`` (``data/mnist_train.csv``, ...)."""
    check_dataset(name)
    check_split(split)
    return data_dir() / f"{name}_{split}.csv"


def how_to_get(name: str) -> str:
    """How to create a data set's files, as a clause for error messages."""
    return HOW_TO_GET if name == "mnist" else (
        f"run `exemplar data --dataset {name}` (or `make data`) to install and convert {name}")


def say(quiet: bool, message: str) -> None:
    """Print ``message`` (flushed) unless ``quiet``."""
    if not quiet:
        print(message, flush=True)


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes as hex, read 1 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_gzip(path: Path) -> bool:
    """Whether the file starts with the gzip magic bytes 1f 8b (whatever its name)."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def open_data(path, what: str = "file") -> BinaryIO:
    """Open a data file for streaming reads, gunzipping it when it starts with the gzip magic bytes.

    Raises
    ------
    DataError
        When the file is missing, a folder, not a regular file (a FIFO, a device) or cannot be opened.
    """
    path = Path(path)
    try:
        st = path.stat()
    except (OSError, ValueError) as exc:  # missing, a name too long, an embedded NUL, no permission to look
        if isinstance(exc, (FileNotFoundError, ValueError)):
            raise DataError(f"{path}: no such file. To create the MNIST files, {HOW_TO_GET}.") from None
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); expected a readable {what}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{path}: is a directory; expected a {what}.")
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the reader for ever; a device may never end
        raise DataError(f"{path}: is not a regular file (a pipe, socket or device); expected a {what}. "
                        f"Copy the data into a file first.")
    try:
        if is_gzip(path):
            return gzip.open(path, "rb")
        return open(path, "rb")
    except OSError as exc:  # no permission to read, ...
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); expected a readable {what}.") from None


@contextlib.contextmanager
def gzip_errors(path: Path) -> Iterator[None]:
    """Turn a damaged or cut-short gzip stream (read inside the block) into a :class:`DataError`.

    Other errors pass through unchanged.
    """
    try:
        yield
    except EOFError:
        raise DataError(f"{path}: the gzip stream ends before its end marker: the file is truncated. "
                        f"{REBUILD_HINT}") from None
    except (OSError, zlib.error) as exc:
        if not is_gzip(path):  # a plain file's read error is not a gzip problem
            raise
        raise DataError(f"{path}: starts with the gzip magic bytes 1f 8b but cannot be decompressed ({exc}); "
                        f"expected a complete gzip file. {REBUILD_HINT}") from None
