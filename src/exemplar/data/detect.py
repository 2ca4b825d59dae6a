"""Any supported data file, recognised by its content: the paper's CSV (header or not, gzip or not) or IDX.

:func:`read_data` reads images and labels from a CSV file or an IDX image file (its label
file given or found beside it); :func:`validate_file` (``exemplar validate``) checks a file
of either kind and says what it found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exemplar.data.common import DataError, DataFile, check_n_rows, gzip_errors, is_gzip, label_counts, open_data
from exemplar.data.csvfile import read_csv
from exemplar.data.idx import idx_labels_for, is_idx, load_idx, load_idx_pair

__all__ = ["read_data", "validate_file", "sniff"]


def sniff(path) -> str:
    """What a file holds, from its first (decompressed) bytes: ``"idx"`` or ``"csv"`` (anything else).

    Raises
    ------
    DataError
        When the file is missing, a folder, or a damaged gzip file.
    """
    path = Path(path)
    with open_data(path) as fh, gzip_errors(path):
        return "idx" if is_idx(fh.peek(4)[:4]) else "csv"


def _gz(path: Path) -> str:
    return "gzip-compressed " if is_gzip(path) else ""


def _idx_pair(images: Path, labels: Path, n_rows: int | None) -> DataFile:
    X, y = load_idx_pair(images, labels)
    rows, cols = load_idx_shape(images)
    found = f"{_gz(images)}IDX images ({len(y):,} x {rows} x {cols}) with labels {labels}"
    if n_rows is not None:
        if n_rows > len(y):
            raise DataError(f"{images}: has only {len(y):,} images; n_rows={n_rows:,} were asked for. Ask for fewer.")
        X, y = X[:n_rows].copy(), y[:n_rows].copy()
    return DataFile(images, X, y, found)


def load_idx_shape(images: Path) -> tuple[int, int]:
    """``(rows, cols)`` of an IDX image file, from its header only."""
    with open_data(images, "IDX file") as fh, gzip_errors(images):
        head = fh.read(16)
    dims = np.frombuffer(head, dtype=">u4", count=3, offset=4)
    return int(dims[1]), int(dims[2])


def read_data(path, labels=None, n_rows: int | None = None) -> DataFile:
    """Images and labels from a CSV file in the paper's format, or from an IDX image/label pair.

    Parameters
    ----------
    path : str or os.PathLike
        A CSV file (a header line or not, gzip or not), or an IDX image file (gzip or not).
    labels : str or os.PathLike, optional
        The IDX label file of an IDX image file. Default: the one beside it by the usual
        naming (``train-images-idx3-ubyte`` -> ``train-labels-idx1-ubyte``, ``.gz`` or not).
    n_rows : int, optional
        Only the first ``n_rows`` images.

    Returns
    -------
    DataFile
        ``X``, ``y`` and ``found`` (what the file turned out to be).

    Raises
    ------
    DataError
        When the file is invalid, an IDX image file has no label file, or an IDX label file is
        given as ``path``.
    """
    check_n_rows(n_rows)
    path = Path(path)
    if sniff(path) == "csv":
        if labels is not None:
            raise DataError(f"{path}: is a CSV file, which holds its own labels; labels={labels!s} is only for "
                            f"an IDX image file.")
        return read_csv(path, n_rows)
    labels = idx_labels_for(path) if labels is None else Path(labels)
    if labels is None:
        arr = load_idx(path)
        what = "an IDX label file" if arr.ndim == 1 else f"an IDX file of shape {arr.shape}"
        raise DataError(f"{path}: is {what} with no label file beside it; expected an IDX image file and its "
                        f"label file (such as train-images-idx3-ubyte and train-labels-idx1-ubyte), or pass labels=.")
    return _idx_pair(path, labels, n_rows)


def _validate_idx(path: Path) -> str:
    labels = idx_labels_for(path)
    if labels is not None:
        return _idx_pair(path, labels, None).summary()
    arr = load_idx(path)
    if arr.ndim == 3 and arr.dtype == np.uint8:
        return (f"{path}: {_gz(path)}IDX images; {arr.shape[0]:,} images of {arr.shape[1]} x {arr.shape[2]} "
                f"unsigned-byte pixels (no label file beside it), OK")
    if arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
        if not len(arr):
            raise DataError(f"{path}: an IDX label file holding no labels (its dimension is 0); expected at least one.")
        y = arr.astype(np.int64)
        return f"{path}: {_gz(path)}IDX labels; {len(y):,} labels {y.min()}–{y.max()}{label_counts(y)}, OK"
    raise DataError(f"{path}: an IDX file holding {arr.dtype} data of shape {arr.shape}; expected images "
                    f"(n, rows, cols) of unsigned bytes or integer labels (n,).")


def validate_file(path) -> str:
    """Check a data file and return a one-line summary that says what it is.

    A CSV file in the paper's format (a header line or not; gzip or not) is read in full with
    :func:`~exemplar.data.read_csv`; an IDX image file is checked with the label file beside
    it when there is one; an IDX label file alone is checked too.

    Returns
    -------
    str
        For example ``data/mnist_test.csv: CSV with a header line (label,1x1,...,28x28);
        10,000 rows, 784 pixels, labels 0–9 (counts 980 1135 ...), OK``.

    Raises
    ------
    DataError
        As :func:`~exemplar.data.read_csv` and :func:`~exemplar.data.load_idx`.
    """
    path = Path(path)
    if sniff(path) == "idx":
        return _validate_idx(path)
    return read_csv(path).summary()
