"""Shards and sources: how the training rows are split over the MPI ranks, and where rank 0 reads them.

* :func:`shard_bounds` splits ``n`` rows into contiguous, nearly equal pieces, one per rank.
* A *source* says where rank 0 gets the training data: :func:`csv_source` (rank 0 reads the
  paper's CSV itself, so the images never pass through the client or the controller) or
  :func:`array_source` (arrays already in memory, sent through the controller to rank 0 only).
* Pixels travel as uint8 (:func:`as_pixels` refuses anything but integers 0-255), labels as int64;
  :func:`checksum` is what every rank reports of what it received.
* :func:`scatter_source` moves them: rank 0 reads the source, ``Bcast`` sends every rank a header
  and ``Scatterv`` its shard. This is data distribution, not training, so it is the one MPI call
  outside :mod:`exemplar.parallel.collectives` (which counts the training's exchanges only).
"""

from __future__ import annotations

import os
import time
import zlib

import numpy as np

from exemplar.parallel.remote import EngineError
from exemplar.validation import check_positive_int


#: Source kinds :func:`run_exemplar` accepts.
SOURCE_KINDS = ("csv", "arrays")


def shard_bounds(n_samples: int, n_shards: int) -> list[tuple[int, int]]:
    """Split ``range(n_samples)`` into ``n_shards`` contiguous ``(start, stop)`` pieces.

    The first ``n_samples % n_shards`` shards get one row more, so sizes differ by at most 1
    and every row is in exactly one shard.

    Parameters
    ----------
    n_samples : int
        Number of rows, at least 1.
    n_shards : int
        Number of shards, from 1 to ``n_samples``.

    Returns
    -------
    list of (int, int)
        ``(start, stop)`` per shard, in order.
    """
    n = check_positive_int("n_samples", n_samples)
    k = check_positive_int("n_shards", n_shards, maximum=n)
    base, extra = divmod(n, k)
    bounds, start = [], 0
    for i in range(k):
        stop = start + base + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def shard_sizes(n_samples: int, n_shards: int) -> list[int]:
    """Sizes of the shards :func:`shard_bounds` makes."""
    return [b - a for a, b in shard_bounds(n_samples, n_shards)]


def csv_source(path: str | os.PathLike, n_rows: int | None = None) -> tuple:
    """A source that rank 0 reads: the CSV's first ``n_rows`` rows (all by default).

    Rank 0 takes them from the CSV's binary cache (``exemplar.data.cache``: a copy of the CSV's
    arrays, used only while the CSV's size and modification time are those it was made from), so
    that the many runs of a report do not parse the same file again each time; without a valid
    cache it parses the whole CSV (``exemplar.data.load_csv``) and writes the cache. ``path`` must be readable
    where rank 0 runs (the same machine, for a local cluster).
    """
    if n_rows is not None:
        check_positive_int("n_rows", n_rows)
    return ("csv", os.fspath(path), n_rows)


def array_source(X: np.ndarray, y: np.ndarray) -> tuple:
    """A source made of arrays already in memory (they travel through the controller to rank 0)."""
    X, y = check_arrays(X, y)
    return ("arrays", X, y)


def check_source(source, n_engines: int | None = None) -> int | None:
    """Validate a source spec in the master; return its row count when known without reading.

    With ``n_engines``, also refuse a source known to hold fewer rows than engines (every rank
    needs at least one row).
    """
    n_rows = _source_rows(source)
    if n_engines is not None and n_rows is not None and n_engines > n_rows:
        raise ValueError(f"n_engines must be at most the number of training rows ({n_rows}); got {n_engines}")
    return n_rows


def _source_rows(source) -> int | None:
    if not isinstance(source, tuple) or not source or source[0] not in SOURCE_KINDS:
        raise ValueError(
            f"source must be a tuple whose first item is one of {SOURCE_KINDS} "
            f"(see csv_source and array_source); got {_short(source)}"
        )
    kind = source[0]
    if kind == "csv":
        if len(source) not in (2, 3):
            raise ValueError(f"a csv source is ('csv', path) or ('csv', path, n_rows); got {_short(source)}")
        n_rows = source[2] if len(source) == 3 else None
        if n_rows is not None:
            check_positive_int("n_rows", n_rows)
        return n_rows
    if len(source) != 3:
        raise ValueError(f"an arrays source is ('arrays', X, y); got {_short(source)}")
    X, _ = check_arrays(source[1], source[2])
    return X.shape[0]


def _short(obj) -> str:
    text = repr(obj)
    return text if len(text) <= 120 else text[:117] + "..."


def check_arrays(X, y, xname: str = "X", yname: str = "y") -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{xname} must be a 2-D array with at least one row and one column; got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"{yname} must be 1-D with one label per row of {xname} ({X.shape[0]}); got shape {y.shape}")
    return X, y


def as_pixels(X: np.ndarray) -> np.ndarray:
    """``X`` as C-contiguous uint8, refusing values that are not integers 0-255."""
    if X.dtype == np.uint8:
        return np.ascontiguousarray(X)
    if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise ValueError(f"X must hold pixel values 0-255; got dtype {X.dtype}")
    as_u8 = X.astype(np.uint8)
    if not np.array_equal(as_u8, X):
        raise ValueError(
            "X must hold integer pixel values 0-255 (they are scattered as uint8); "
            f"got values from {X.min()!r} to {X.max()!r} of dtype {X.dtype}"
        )
    return np.ascontiguousarray(as_u8)


def as_labels(y: np.ndarray) -> np.ndarray:
    if not np.issubdtype(y.dtype, np.integer):
        as_int = y.astype(np.int64)
        if not np.array_equal(as_int, y):
            raise ValueError(f"y must hold integer class labels; got dtype {y.dtype}")
        y = as_int
    return np.ascontiguousarray(y, dtype=np.int64)


def read_source(source) -> tuple[np.ndarray, np.ndarray]:
    """Resolve a source on rank 0: the pixels as uint8, the labels as int64."""
    kind = source[0]
    if kind == "csv":
        from pathlib import Path

        from exemplar.data import load_csv  # lazily: only rank 0 reads
        from exemplar.data.cache import read_cache, write_cache

        n_rows = source[2] if len(source) == 3 else None
        cached = read_cache(Path(source[1]))
        if cached is None:  # parse the whole file once, and keep its cache for the next run
            try:
                cached = load_csv(source[1])
            except Exception:  # a fault past the rows asked for is not this run's: parse just those
                return _checked(*load_csv(source[1], n_rows))
            write_cache(Path(source[1]), *cached)
        if n_rows is not None and n_rows > len(cached[1]):
            X, y = load_csv(source[1], n_rows)  # the parser's own error names the file and the fix
        else:
            X, y = (cached[0], cached[1]) if n_rows is None else (cached[0][:n_rows], cached[1][:n_rows])
    else:
        X, y = source[1], source[2]
    return _checked(X, y)


def _checked(X, y) -> tuple[np.ndarray, np.ndarray]:
    X, y = check_arrays(X, y)
    return as_pixels(X), as_labels(y)


def checksum(X: np.ndarray, y: np.ndarray) -> int:
    """CRC-32 of a shard's pixel bytes (uint8, C order) followed by its labels (int64)."""
    crc = zlib.crc32(np.ascontiguousarray(X, dtype=np.uint8).tobytes())
    return zlib.crc32(np.ascontiguousarray(y, dtype=np.int64).tobytes(), crc)


def shard_checksum(X: np.ndarray, y: np.ndarray) -> int:
    """The checksum an engine reports for a shard ``(X, y)`` (pixels as uint8, labels as int64)."""
    return checksum(as_pixels(np.asarray(X)), as_labels(np.asarray(y)))


def features(X: np.ndarray, scale_inputs: bool = False, dtype: str = "float64") -> np.ndarray:
    """Pixels (uint8) as the features the model trains on, in ``dtype``: raw 0-255, or / 255."""
    X = X.astype(dtype)
    if scale_inputs:
        X /= X.dtype.type(255)
    return X


def scatter_source(source) -> dict:
    """Collective over ``COMM_WORLD``: rank 0 reads ``source`` and scatters one shard to every rank.

    Every rank must call this (rank 0 with the source, the others with ``None``). Rank 0 reads the
    source (:func:`read_source`) and broadcasts a header (rows, columns, status: a failed read or
    fewer rows than ranks reach every rank, which would otherwise wait in the ``Bcast`` for ever);
    then ``Scatterv`` gives each rank its contiguous shard (:func:`shard_bounds`), pixels as uint8,
    labels as int64, and a ``Barrier`` waits for every rank to hold it.

    Returns
    -------
    dict
        ``X``, ``y`` (the rank's shard), ``rank``, ``n_rows_total``, ``n_cols``, ``start`` (the
        shard's first row), ``read_seconds`` (rank 0's read; 0 elsewhere) and ``distribute_seconds``
        (from the end of the read to every rank holding its shard).

    Raises
    ------
    EngineError
        On ranks other than 0 when rank 0 could not provide the data (rank 0 raises its own error).
    """
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    comm.Barrier()
    t0 = time.perf_counter()
    header = np.zeros(3, dtype=np.int64)  # rows, columns, status (0 ok, 1 read failed, 2 more ranks than rows)
    error = X = y = None
    if rank == 0:
        try:
            X, y = read_source(source)
            header[:2] = X.shape
            if X.shape[0] < size:
                header[2] = 2
                error = ValueError(f"n_engines must be at most the number of training rows ({X.shape[0]}); got {size}")
        except Exception as exc:  # every rank must learn of it, or they wait in Bcast forever
            header[2] = 1
            error = exc
    t_read = time.perf_counter() - t0
    t1 = time.perf_counter()
    comm.Bcast(header, root=0)
    n_rows, n_cols, status = (int(v) for v in header)
    if status:
        if rank == 0:
            raise error
        raise EngineError(f"rank 0 could not provide the training data (status {status}); see rank 0's error")
    bounds = shard_bounds(n_rows, size)
    counts = np.array([b - a for a, b in bounds], dtype=np.int64)
    displs = np.array([a for a, _ in bounds], dtype=np.int64)
    X_shard = np.empty((int(counts[rank]), n_cols), dtype=np.uint8)
    y_shard = np.empty(int(counts[rank]), dtype=np.int64)
    send_X = [X, (counts * n_cols, displs * n_cols), MPI.UINT8_T] if rank == 0 else None
    send_y = [y, (counts, displs), MPI.INT64_T] if rank == 0 else None
    comm.Scatterv(send_X, [X_shard, MPI.UINT8_T], root=0)
    comm.Scatterv(send_y, [y_shard, MPI.INT64_T], root=0)
    comm.Barrier()
    return {"X": X_shard, "y": y_shard, "rank": rank, "n_rows_total": n_rows, "n_cols": n_cols,
            "start": int(displs[rank]), "read_seconds": t_read if rank == 0 else 0.0,
            "distribute_seconds": time.perf_counter() - t1}
