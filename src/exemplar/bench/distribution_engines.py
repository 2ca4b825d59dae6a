"""What the distribution benchmark runs on the engines: one function per way of giving out the shards.

Each function is called on every rank at once (:func:`exemplar.parallel.remote.submit`), with the
arrays rank 0 holds (``None`` on the others), and returns what its rank received: ``rank``,
``n_rows``, ``start``, ``dtype``, ``checksum`` (:func:`exemplar.parallel.shards.shard_checksum`) and,
for the timed methods, ``seconds``. Each imports what it needs itself, so that the engines can run
it however ipyparallel sends it.
"""

from __future__ import annotations


def ours(X, y, n_train: int) -> dict:
    """Our path, as ``run_exemplar`` runs it: :func:`exemplar.parallel.engine.distribute_shards` itself.

    Rank 0 holds ``X`` (uint8) and ``y``; the others ``None``. The time is the call's own
    ``distribute_seconds``.
    """
    import uuid

    from mpi4py import MPI

    from exemplar.parallel import engine

    rank = MPI.COMM_WORLD.Get_rank()
    source = ("arrays", X[:n_train], y[:n_train]) if rank == 0 else None
    token = uuid.uuid4().hex  # rank-local: distribute_shards only uses it as its own state key
    out = engine.distribute_shards(token, source)
    shard_dtype = str(engine.state(token)["X"].dtype)  # the shard it keeps for the fit
    engine.forget()
    return {"rank": rank, "seconds": out["distribute_seconds"], "n_rows": out["n_rows"],
            "start": out["start"], "dtype": shard_dtype, "checksum": out["checksum"]}


def scatterv(X, y, n_train: int) -> dict:
    """``Bcast`` header, ``Scatterv`` of ``X`` in its own dtype and of ``y`` (int64), ``Barrier``."""
    import time

    import numpy as np
    from mpi4py import MPI

    from exemplar.parallel.shards import shard_bounds, shard_checksum

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    header = np.zeros(3, dtype=np.int64)  # rows, columns, dtype code (0 uint8, 1 float64)
    if rank == 0:
        X, y = X[:n_train], np.ascontiguousarray(y[:n_train], dtype=np.int64)
        header[:] = (X.shape[0], X.shape[1], 0 if X.dtype == np.uint8 else 1)
    comm.Barrier()
    t0 = time.perf_counter()
    comm.Bcast(header, root=0)
    n_rows, n_cols, code = (int(v) for v in header)
    dtype, mpi_type = (np.uint8, MPI.UINT8_T) if code == 0 else (np.float64, MPI.DOUBLE)
    bounds = shard_bounds(n_rows, size)
    counts = np.array([b - a for a, b in bounds], dtype=np.int64)
    displs = np.array([a for a, _ in bounds], dtype=np.int64)
    mine = int(counts[rank])
    X_shard = np.empty((mine, n_cols), dtype=dtype)
    y_shard = np.empty(mine, dtype=np.int64)
    send_X = [X, (counts * n_cols, displs * n_cols), mpi_type] if rank == 0 else None
    send_y = [y, (counts, displs), MPI.INT64_T] if rank == 0 else None
    comm.Scatterv(send_X, [X_shard, mpi_type], root=0)
    comm.Scatterv(send_y, [y_shard, MPI.INT64_T], root=0)
    comm.Barrier()
    seconds = time.perf_counter() - t0
    return {"rank": rank, "seconds": seconds, "n_rows": mine, "start": int(displs[rank]),
            "dtype": str(X_shard.dtype), "checksum": shard_checksum(X_shard, y_shard)}


def pickle_scatter(X, y, n_train: int) -> dict:
    """Lower-case ``comm.scatter`` of a list of per-rank ``(X, y)`` shards (pickled), then ``Barrier``."""
    import time

    from mpi4py import MPI

    from exemplar.parallel.shards import shard_bounds, shard_checksum

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    comm.Barrier()
    t0 = time.perf_counter()
    if rank == 0:
        Xn, yn = X[:n_train], y[:n_train]
        parts = [(Xn[a:b], yn[a:b]) for a, b in shard_bounds(n_train, size)]
    else:
        parts = None
    X_shard, y_shard = comm.scatter(parts, root=0)
    comm.Barrier()
    seconds = time.perf_counter() - t0
    start = shard_bounds(n_train, size)[rank][0]
    return {"rank": rank, "seconds": seconds, "n_rows": int(X_shard.shape[0]), "start": start,
            "dtype": str(X_shard.dtype), "checksum": shard_checksum(X_shard, y_shard)}


def held_shard(X, y) -> dict:
    """What an engine holds after ``view.scatter``: its rank, rows, dtype and checksum."""
    from mpi4py import MPI

    from exemplar.parallel.shards import shard_checksum

    return {"rank": MPI.COMM_WORLD.Get_rank(), "n_rows": int(X.shape[0]), "dtype": str(X.dtype),
            "checksum": shard_checksum(X, y)}
