"""Everything that runs on the engines: the only module of this package the engines call into.

Each function here is submitted to every rank by :mod:`exemplar.parallel.train` (or
:mod:`exemplar.parallel.algorithms`) through :func:`exemplar.parallel.remote.submit`. Between
steps an engine keeps its run's state (its shard, then its fitted weights or statistics) in a
per-process table keyed by the run's token; :func:`state` reads it, :func:`forget` drops it.
"""

from __future__ import annotations

import os
import pickle
import time
import zlib
from typing import Any

import numpy as np

from exemplar.models.periodic import periodic_fit
from exemplar.models.sklearn_mlp import build_mlp, fit_timed, get_weights
from exemplar.models.statistics import STATISTICS_ALGORITHMS, build_tree, shard_statistics
from exemplar.parallel.remote import ExemplarError
from exemplar.parallel.shards import checksum, features, read_source, shard_bounds


#: Training strategies :func:`train_shard` implements (see :mod:`exemplar.parallel.train`).
STRATEGIES = ("one-shot", "periodic", "gradient-allreduce", "ensemble")

#: Who trains an engine's network: scikit-learn's ``MLPClassifier`` (the paper's, the default) or the
#: fast numpy trainer (:mod:`exemplar.models.numpy_mlp`: the same network and training, near the GEMM limit).
TRAINERS = ("sklearn", "numpy")


def trainer_used(strategy: str, trainer: str) -> str:
    """The trainer a strategy actually runs: gradient-allreduce needs the numpy trainer's hook between
    gradient and update, so it always uses it; the other strategies use the one asked for."""
    return "numpy" if strategy == "gradient-allreduce" else trainer


#: Per-engine state between steps, keyed by run token: the shard, then the fitted weights.
_STATE: dict[str, dict[str, Any]] = {}


def state(token: str) -> dict[str, Any] | None:
    """This engine's state for run ``token`` (its shard ``X``, ``y``; later ``weights`` or ``result``), or ``None``."""
    return _STATE.get(token)


def distribute_shards(token: str, source) -> dict:
    """Collective over ``COMM_WORLD``: rank 0 reads ``source`` and scatters the shards.

    Every rank must call this (rank 0 with the source, the others with ``None``). Keeps the
    rank's shard in ``_STATE[token]`` and returns what it received.
    """
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    _STATE.clear()  # one run at a time; drop what an earlier (failed) run left
    comm.Barrier()
    t0 = time.perf_counter()
    # header: rows, columns, status (0 ok, 1 rank 0 failed to read, 2 more ranks than rows)
    header = np.zeros(3, dtype=np.int64)
    error = None
    X = y = None
    if rank == 0:
        try:
            X, y = read_source(source)
            header[:2] = X.shape
            if X.shape[0] < size:
                header[2] = 2
                error = ValueError(
                    f"n_engines must be at most the number of training rows ({X.shape[0]}); got {size}"
                )
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
        raise ExemplarError(f"rank 0 could not provide the training data (status {status}); see rank 0's error")
    bounds = shard_bounds(n_rows, size)
    counts = np.array([b - a for a, b in bounds], dtype=np.int64)
    displs = np.array([a for a, _ in bounds], dtype=np.int64)
    mine = int(counts[rank])
    X_shard = np.empty((mine, n_cols), dtype=np.uint8)
    y_shard = np.empty(mine, dtype=np.int64)
    send_X = [X, (counts * n_cols, displs * n_cols), MPI.UINT8_T] if rank == 0 else None
    send_y = [y, (counts, displs), MPI.INT64_T] if rank == 0 else None
    comm.Scatterv(send_X, [X_shard, MPI.UINT8_T], root=0)
    comm.Scatterv(send_y, [y_shard, MPI.INT64_T], root=0)
    comm.Barrier()
    t_dist = time.perf_counter() - t1
    del X, y
    _STATE[token] = {"X": X_shard, "y": y_shard}
    return {
        "rank": rank,
        "pid": os.getpid(),
        "n_rows_total": n_rows,
        "n_cols": n_cols,
        "start": int(displs[rank]),
        "n_rows": mine,
        "labels": np.unique(y_shard).tolist(),
        "checksum": checksum(X_shard, y_shard),
        "read_seconds": t_read if rank == 0 else 0.0,
        "distribute_seconds": t_dist,
    }


def fit_shard(token: str, hidden: int, epochs: int, seed: int, mlp_params: dict, scale_inputs: bool = False,
                dtype: str = "float64", trainer: str = "sklearn") -> dict:
    """Fit this rank's shard (pixels as ``dtype``, raw 0-255 or / 255) alone; keep the weights.

    ``trainer="sklearn"``: ``MLPClassifier.fit`` (``fit_timed``) on the shard converted to ``dtype``.
    ``trainer="numpy"``: :func:`exemplar.models.numpy_mlp.train`, which keeps the pixels as uint8
    and converts each batch as it gathers it.
    """
    from mpi4py import MPI

    state = _STATE.get(token)
    if state is None or "X" not in state:
        raise ExemplarError(f"no shard for run {token} on this engine: distribute first")
    if trainer == "numpy":
        from exemplar.models.numpy_mlp import train

        res = train(state["X"], state["y"], hidden, epochs, seed, dtype=dtype, scale=255 if scale_inputs else None,
                    **mlp_params)
        state["weights"], state["classes"] = res.net.weights(), np.unique(state["y"])
        seconds, cpu_seconds, n_iter = res.seconds, res.cpu_seconds, res.n_iter
    elif trainer == "sklearn":
        result = fit_timed(build_mlp(hidden, epochs, seed, **mlp_params), features(state["X"], scale_inputs, dtype),
                           state["y"])
        state["weights"], state["classes"] = get_weights(result.model), result.model.classes_
        seconds, cpu_seconds, n_iter = result.seconds, result.cpu_seconds, result.n_iter
    else:
        raise ValueError(f"trainer must be one of {TRAINERS}; got {trainer!r}")
    del state["X"], state["y"]
    return {"rank": MPI.COMM_WORLD.Get_rank(), "fit_seconds": seconds, "fit_cpu_seconds": cpu_seconds,
            "n_iter": n_iter}


def _flat_crc(weights) -> int:
    crc = 0
    for w in weights:
        crc = zlib.crc32(np.ascontiguousarray(w).tobytes(), crc)
    return crc


def train_shard(token: str, strategy: str, hidden: int, epochs: int, seed: int, mlp_params: dict,
                  sync_every: int, scale_inputs: bool, classes: list, dtype: str = "float64",
                  trainer: str = "sklearn") -> dict:
    """Train this rank's shard with ``strategy`` and ``trainer`` (:func:`trainer_used`); keep the weights
    (and a checksum of them).

    Besides the fit's wall time (``fit_seconds``) every rank reports its compute's CPU time
    (``fit_cpu_seconds``, MPI calls excluded). The ``Allreduce`` strategies add it per round
    (``round_cpu_seconds``, ``round_comm_seconds``) and, on rank 0 of two or more,
    ``allreduce_probe_seconds``: :func:`allreduce_probe` at the rounds' message size.
    """
    from mpi4py import MPI

    trainer = trainer_used(strategy, trainer)
    if strategy in ("one-shot", "ensemble"):
        out = fit_shard(token, hidden, epochs, seed, mlp_params, scale_inputs, dtype, trainer)
        out.update(comm_rounds=0, comm_bytes=0, comm_seconds=0.0, trainer=trainer)
        out["weights_crc"] = _flat_crc(_STATE[token]["weights"])
        return out
    state = _STATE.get(token)
    if state is None or "X" not in state:
        raise ExemplarError(f"no shard for run {token} on this engine: distribute first")
    comm = MPI.COMM_WORLD
    X, y = state["X"], state["y"]
    scale = 255 if scale_inputs else None
    classes = np.asarray(classes)
    if strategy == "periodic":
        rows = X if trainer == "numpy" else features(X, scale_inputs, dtype)  # numpy converts per batch
        res = periodic_fit(rows, y, hidden, epochs, seed, mlp_params, sync_every, classes, comm, trainer=trainer,
                           dtype=dtype, scale=scale)
        weights = res["weights"]
        keys = ("n_iter", "comm_rounds", "comm_bytes", "comm_seconds", "round_cpu_seconds", "round_comm_seconds")
        out = {k: res[k] for k in keys}
        out.update(fit_seconds=res["seconds"], fit_cpu_seconds=res["cpu_seconds"])
    elif strategy == "gradient-allreduce":
        from exemplar.models.numpy_mlp import train

        res = train(X, y, hidden, epochs, seed, classes=classes, comm=comm, dtype=dtype, scale=scale, **mlp_params)
        weights = res.net.weights()
        out = {"n_iter": res.n_iter, "comm_rounds": res.comm_rounds, "comm_bytes": res.comm_bytes,
               "comm_seconds": res.comm_seconds, "fit_seconds": res.seconds,
               "global_batch": res.global_batch, "fit_cpu_seconds": res.cpu_seconds,
               "round_cpu_seconds": res.round_cpu_seconds, "round_comm_seconds": res.round_comm_seconds}
    else:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}")
    state["weights"] = weights
    del state["X"], state["y"], X
    n_values = out["comm_bytes"] // max(out["comm_rounds"], 1) // np.dtype(dtype).itemsize
    out["allreduce_probe_seconds"] = allreduce_probe(comm, n_values, dtype)
    out["rank"] = comm.Get_rank()
    out["trainer"] = trainer
    out["weights_crc"] = _flat_crc(weights)
    return out


def allreduce_probe(comm, n_values: int, dtype: str = "float64", repeats: int = 21, warmup: int = 3) -> float:
    """The wall time of one ``Allreduce`` of ``n_values`` numbers between two ranks with a core each.

    Collective over ``comm``: ranks 0 and 1 time ``repeats`` sum-``Allreduce`` calls of a buffer of
    ``n_values`` numbers of ``dtype`` on a communicator of their own (after ``warmup`` untimed
    calls, each call after a ``Barrier`` so that neither waits for the other) while every other
    rank waits in a non-blocking barrier polled with short sleeps, leaving the cores to the pair.
    This is the collective's cost on dedicated cores at the message size of the training's rounds,
    whatever the engine count. Returns the median on rank 0, ``nan`` elsewhere and with fewer
    than two ranks.
    """
    from mpi4py import MPI

    rank = comm.Get_rank()
    if comm.Get_size() < 2:
        return float("nan")
    pair = comm.Split(0 if rank < 2 else MPI.UNDEFINED, rank)
    times = []
    if pair != MPI.COMM_NULL:
        buf = np.ones(max(int(n_values), 1), dtype=dtype)
        for i in range(warmup + repeats):
            pair.Barrier()
            t0 = time.perf_counter()
            pair.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        pair.Free()
    done = comm.Ibarrier()
    while not done.Test():
        time.sleep(0.0005)
    return float(np.median(times)) if rank == 0 else float("nan")


def take_root_weights(token: str):
    """Rank 0's weights (the others return ``None``); every rank forgets the run."""
    from mpi4py import MPI

    state = _STATE.pop(token, None)
    if state is None or "weights" not in state:
        raise ExemplarError(f"no fitted weights for run {token} on this engine: fit first")
    return state["weights"] if MPI.COMM_WORLD.Get_rank() == 0 else None


def take_weights(token: str) -> list[np.ndarray]:
    """This rank's fitted weights (``get_weights`` order); forgets the run."""
    state = _STATE.pop(token, None)
    if state is None or "weights" not in state:
        raise ExemplarError(f"no fitted weights for run {token} on this engine: fit first")
    return state["weights"]


def forget(token: str | None = None) -> None:
    """Drop the state of one run (or all runs) on this engine."""
    if token is None:
        _STATE.clear()
    else:
        _STATE.pop(token, None)


def fit_algorithm_shard(token: str, algorithm: str, seed: int, params: dict) -> dict:
    """Fit this rank's shard (kept by ``_engine_distribute``): statistics, or a tree; keep the result."""
    import warnings

    from mpi4py import MPI

    state = _STATE.get(token)
    if state is None or "X" not in state:
        raise ExemplarError(f"no shard for run {token} on this engine: distribute first")
    X, y = state["X"], state["y"]
    t0 = time.perf_counter()
    if algorithm in STATISTICS_ALGORITHMS:
        result = shard_statistics(X, y, algorithm)
    elif algorithm == "tree":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = build_tree(seed, **params).fit(X, y)
    else:
        raise ValueError(f"algorithm must be one of {STATISTICS_ALGORITHMS + ('tree',)} here; got {algorithm!r}")
    seconds = time.perf_counter() - t0
    state["result"] = result
    del state["X"], state["y"]
    return {"rank": MPI.COMM_WORLD.Get_rank(), "fit_seconds": seconds, "n_rows": int(len(y))}


def take_algorithm_result(token: str):
    """This rank's statistics or tree (a tree pickled to bytes); forgets the run."""
    state = _STATE.pop(token, None)
    if state is None or "result" not in state:
        raise ExemplarError(f"no fitted result for run {token} on this engine: fit first")
    result = state["result"]
    return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL) if not isinstance(result, dict) else result
