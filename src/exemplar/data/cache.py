"""Loading the data sets' CSV files through a binary cache (``data/{name}_{split}.npz``).

The cache is a copy of a CSV file's arrays, stamped with the CSV's size and modification
time; it is used only while both are unchanged, so an edited CSV is always read again.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from exemplar.config import N_PIXELS
from exemplar.data.common import DataError, check_dataset, check_n_rows, check_split, dataset_csv, \
    how_to_get
from exemplar.data.csvfile import load_csv
from exemplar.fileio import atomic_write

__all__ = ["load_dataset", "load_mnist", "cache_path", "read_cache", "write_cache"]

CACHE_VERSION = 1


def cache_path(csv_path: Path) -> Path:
    """Where the binary cache of a CSV file lives: beside it, ``.npz`` for ``.csv``."""
    return Path(csv_path).with_suffix(".npz")


def write_cache(csv_path: Path, X: np.ndarray, y: np.ndarray) -> None:
    """Store X, y beside the CSV with the CSV's size and mtime; skipped if it cannot be written."""
    st = csv_path.stat()
    meta = np.array([CACHE_VERSION, st.st_size, st.st_mtime_ns], dtype=np.int64)
    with contextlib.suppress(OSError):
        atomic_write(cache_path(csv_path), lambda fh: np.savez(fh, X=X, y=y, meta=meta))


def read_cache(csv_path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """X, y from the cache when it belongs to the CSV as it is now, else None (missing, stale or damaged)."""
    cache = cache_path(csv_path)
    if not cache.is_file():
        return None
    try:
        st = csv_path.stat()
        with np.load(cache, allow_pickle=False) as npz:
            meta = npz["meta"]
            if meta.tolist() != [CACHE_VERSION, st.st_size, st.st_mtime_ns]:
                return None
            X, y = npz["X"], npz["y"]
    except Exception:  # a damaged or foreign cache is only a missed shortcut
        return None
    if X.dtype != np.uint8 or y.dtype != np.int64 or X.ndim != 2 or X.shape != (len(y), N_PIXELS):
        return None
    return X, y


def _rebuild_command(name: str) -> str:
    return "`exemplar data`" if name == "mnist" else f"`exemplar data --dataset {name}`"


def _load_with_hint(path: Path, name: str, n_rows: int | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`load_csv`; an error says how to rebuild the data set's file."""
    try:
        return load_csv(path, n_rows)
    except DataError as exc:
        if "exemplar data" in str(exc):
            raise
        raise DataError(f"{exc} To check {path.name} against SHA256SUMS and rebuild it, run "
                        f"{_rebuild_command(name)}.") from None


def load_dataset(name: str = "mnist", split: str = "train", n_rows: int | None = None, *,
                 cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A data set as written by :func:`~exemplar.data.fetch_dataset`: ``data/{name}_{split}.csv``.

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
        When the CSV file is missing (run ``exemplar data --dataset NAME``) or invalid (the
        message says how to rebuild it).
    """
    check_dataset(name)
    check_split(split)
    check_n_rows(n_rows)
    path = dataset_csv(name, split)
    if not path.is_file():
        raise DataError(f"{path}: no such file; {how_to_get(name)}.")
    if not cache:
        return _load_with_hint(path, name, n_rows)
    got = read_cache(path)
    if got is None:
        got = _load_with_hint(path, name, None)
        write_cache(path, *got)
    X, y = got
    if n_rows is not None:
        if n_rows > len(y):
            raise DataError(f"{path}: has only {len(y):,} data rows; n_rows={n_rows:,} were asked for. Ask for "
                            f"fewer, or, if the file was cut short, run {_rebuild_command(name)} to rebuild it.")
        X, y = X[:n_rows].copy(), y[:n_rows].copy()
    return X, y


def load_mnist(split: str = "train", n_rows: int | None = None, *, cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MNIST as written by :func:`~exemplar.data.fetch_mnist`: ``data/mnist_{split}.csv``.

    :func:`load_dataset` for ``"mnist"``; the same parameters, results and errors.
    """
    return load_dataset("mnist", split, n_rows, cache=cache)
