"""Everything that runs on the engines: the only module of this package the engines call into.

Each function here is submitted to every rank by :mod:`exemplar.parallel.train` (or
:mod:`exemplar.parallel.algorithms`) through :func:`exemplar.parallel.cluster.submit`. Between
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

from exemplar.models.sklearn_mlp import build_mlp, fit_timed, get_weights
from exemplar.models.statistics import STATISTICS_ALGORITHMS, build_tree, shard_statistics
from exemplar.parallel.cluster import ExemplarError
from exemplar.parallel.shards import checksum, features, read_source, shard_bounds
from exemplar.validation import check_positive_int


#: Training strategies :func:`train_shard` implements (see :mod:`exemplar.parallel.train`).
STRATEGIES = ("one-shot", "periodic", "gradient-allreduce", "ensemble")


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
                dtype: str = "float64") -> dict:
    """Fit this rank's shard (pixels as ``dtype``, raw 0-255 or / 255) with ``fit_timed``; keep the weights."""
    from mpi4py import MPI

    state = _STATE.get(token)
    if state is None or "X" not in state:
        raise ExemplarError(f"no shard for run {token} on this engine: distribute first")
    model = build_mlp(hidden, epochs, seed, **mlp_params)
    X = features(state["X"], scale_inputs, dtype)
    result = fit_timed(model, X, state["y"])
    state["weights"] = get_weights(result.model)
    state["classes"] = result.model.classes_
    del state["X"], state["y"]
    return {
        "rank": MPI.COMM_WORLD.Get_rank(),
        "fit_seconds": result.seconds,
        "n_iter": result.n_iter,
    }


def _flat_crc(weights) -> int:
    crc = 0
    for w in weights:
        crc = zlib.crc32(np.ascontiguousarray(w).tobytes(), crc)
    return crc


def periodic_fit(X: np.ndarray, y: np.ndarray, hidden: int, epochs: int, seed: int, mlp_params: dict,
                 sync_every: int, classes: np.ndarray, comm) -> dict:
    """Local training with weight averaging every ``sync_every`` epochs (the ``"periodic"`` strategy).

    Every rank of ``comm`` calls this together with its own rows. See the module's documentation
    for how epochs, Adam's state and early stopping are handled.

    Returns
    -------
    dict
        ``model`` (the averaged ``MLPClassifier``, identical on every rank), ``seconds``,
        ``n_iter`` (epochs run), ``loss_curve`` (global training loss per epoch),
        ``comm_rounds``, ``comm_bytes``, ``comm_seconds``.
    """
    import warnings

    from mpi4py import MPI
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import shuffle as sk_shuffle

    sync_every = check_positive_int("sync_every", sync_every)
    n_local = X.shape[0]
    n_total = comm.allreduce(n_local, op=MPI.SUM)  # set-up, not counted as a round
    frac = n_local / n_total
    model = build_mlp(hidden, epochs, seed, **mlp_params)
    tol, patience, shuffle = model.tol, model.n_iter_no_change, model.shuffle
    # The epochs' shuffles are drawn here, exactly as fit draws them: one RandomState(seed) stream,
    # first the initial weights (drawn by the first partial_fit; replayed here to advance the
    # stream past them), then one shuffle of the previous epoch's order per epoch. partial_fit
    # itself would restart from arange every call; it gets the rows already in order instead.
    model.set_params(shuffle=False)
    rng = np.random.RandomState(seed)
    units = [X.shape[1], *model.hidden_layer_sizes, len(classes) if len(classes) > 2 else 1]
    for a, b in zip(units[:-1], units[1:]):
        rng.uniform(-1.0, 1.0, (a, b))
        rng.uniform(-1.0, 1.0, b)
    order = np.arange(n_local)
    buf = None
    done = rounds = 0
    comm_seconds = 0.0
    best, no_improvement, stop = np.inf, 0, False
    loss_curve: list[float] = []
    t_start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        while done < epochs and not stop:
            e = min(sync_every, epochs - done)
            losses = []
            for _ in range(e):
                if shuffle:
                    order = sk_shuffle(order, random_state=rng)
                    model.partial_fit(X[order], y[order], classes=classes)
                else:
                    model.partial_fit(X, y, classes=classes)
                losses.append(model.loss_)
            done += e
            params = [*model.coefs_, *model.intercepts_]
            n_params = sum(p.size for p in params)
            if buf is None:  # weights, then up to sync_every epoch losses, in the weights' dtype
                buf = np.empty(n_params + sync_every, dtype=params[0].dtype)
            offset = 0
            for p in params:
                np.multiply(p.ravel(), frac, out=buf[offset:offset + p.size])
                offset += p.size
            buf[n_params:] = 0.0
            buf[n_params:n_params + e] = np.asarray(losses) * frac
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            comm_seconds += time.perf_counter() - t0
            rounds += 1
            offset = 0
            for p in params:  # in place: the arrays Adam updates stay the model's own
                p[...] = buf[offset:offset + p.size].reshape(p.shape)
                offset += p.size
            for loss in buf[n_params:n_params + e]:
                loss = float(loss)
                loss_curve.append(loss)
                if loss > best - tol:
                    no_improvement += 1
                else:
                    no_improvement = 0
                if loss < best:
                    best = loss
                if no_improvement > patience:
                    stop = True  # takes effect at the end of this round
    return {
        "model": model,
        "seconds": time.perf_counter() - t_start,
        "n_iter": done,
        "loss_curve": loss_curve,
        "comm_rounds": rounds,
        "comm_bytes": rounds * (buf.nbytes if buf is not None else 0),
        "comm_seconds": comm_seconds,
    }


def train_shard(token: str, strategy: str, hidden: int, epochs: int, seed: int, mlp_params: dict,
                  sync_every: int, scale_inputs: bool, classes: list, dtype: str = "float64") -> dict:
    """Train this rank's shard with ``strategy``; keep the weights (and a checksum of them)."""
    from mpi4py import MPI

    if strategy in ("one-shot", "ensemble"):
        out = fit_shard(token, hidden, epochs, seed, mlp_params, scale_inputs, dtype)
        out.update(comm_rounds=0, comm_bytes=0, comm_seconds=0.0)
        out["weights_crc"] = _flat_crc(_STATE[token]["weights"])
        return out
    state = _STATE.get(token)
    if state is None or "X" not in state:
        raise ExemplarError(f"no shard for run {token} on this engine: distribute first")
    comm = MPI.COMM_WORLD
    X = features(state["X"], scale_inputs, dtype)
    y = state["y"]
    classes = np.asarray(classes)
    if strategy == "periodic":
        res = periodic_fit(X, y, hidden, epochs, seed, mlp_params, sync_every, classes, comm)
        weights = get_weights(res["model"])
        out = {k: res[k] for k in ("n_iter", "comm_rounds", "comm_bytes", "comm_seconds")}
        out["fit_seconds"] = res["seconds"]
    elif strategy == "gradient-allreduce":
        from exemplar.models.numpy_mlp import train

        res = train(X, y, hidden, epochs, seed, classes=classes, comm=comm, **mlp_params)
        weights = res.net.weights()
        out = {"n_iter": res.n_iter, "comm_rounds": res.comm_rounds, "comm_bytes": res.comm_bytes,
               "comm_seconds": res.comm_seconds, "fit_seconds": res.seconds,
               "global_batch": res.global_batch}
    else:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}")
    state["weights"] = weights
    del state["X"], state["y"], X
    out["rank"] = comm.Get_rank()
    out["weights_crc"] = _flat_crc(weights)
    return out


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
