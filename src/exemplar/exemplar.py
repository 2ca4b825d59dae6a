"""Exemplar-parallel training (the paper's Section III.B / IV.B) on an ipyparallel MPI cluster.

The training set is split into contiguous, nearly equal shards, one per MPI rank. Every engine
builds the same MLP with the same seed (identical initial weights), fits its own shard, and the
master (this process: the notebook or script that holds the client) combines the fitted weights
by their mean weighted by shard size -- the paper's plain average when shards are equal -- and
evaluates the combined model on the test set.

How the data move
-----------------
* Rank 0 (an engine) reads the training data once, from a *source* it resolves itself:
  :func:`csv_source` (``("csv", path, n_rows)``: ``exemplar.data.load_csv`` on rank 0, so the
  images never pass through the client or the controller) or :func:`array_source`
  (``("arrays", X, y)``: the arrays go through the controller to rank 0 only; meant for tests
  and small data).
* Rank 0 broadcasts a small header (rows, columns, status) with ``Bcast`` and sends each rank
  its shard with ``Scatterv``: the pixels as **uint8** (8 times less data than float64; MNIST
  pixels are integers 0-255, and anything else is refused), the labels as int64. Counts and
  displacements come from :func:`shard_bounds`. Each engine then converts its pixels to the
  training ``dtype`` (float64 by default, as scikit-learn; raw 0-255 as the paper, exact in
  either type) before fitting.
* ``read_seconds`` is rank 0's read; ``distribute_seconds`` runs from the end of the read to
  every rank holding its shard (a ``Barrier`` after the scatter), both measured on rank 0.
* The fitted weights come back to the master through ipyparallel (one reply per engine, mapped
  by MPI rank, not engine id). ``combine_seconds`` is that gather plus :func:`exemplar.mlp.combine`.

MPI distribution needs a cluster started with ``launcher="mpi"``; with ``launcher="local"``
:func:`run_exemplar` refuses with a ``ValueError`` (the engines share no ``COMM_WORLD``).

With one engine there is one shard and nothing to average: the result equals a sequential fit
of the same model on the same data (bit for bit, BLAS being pinned to one thread). Every shard
must hold every class present in the data (else :func:`run_exemplar` raises ``ValueError``):
``MLPClassifier.fit`` sizes its output layer by the classes it sees.

Each step on the engines runs under a time limit (``timeout``), and the master stops waiting
as soon as any rank fails (the others may then be stuck in a collective: stop the cluster).

Strategies
----------
:func:`run_exemplar`'s ``strategy`` chooses how the engines' work is combined; all use the same
cluster, the same shards and the same seed on every engine (:data:`STRATEGIES`):

``"one-shot"`` (the paper's)
    Every engine fits its shard fully (``MLPClassifier.fit``, which stops early when its own
    training loss stalls); the master gathers the weights once and averages them, weighted by
    shard size.
``"periodic"`` (local SGD, federated averaging)
    Every ``sync_every`` epochs the engines average their weights among themselves with one
    ``MPI.Allreduce`` (weighted by shard size; the controller is not involved) and all continue
    from the average, for ``epochs`` epochs in all (the last round is shorter when ``sync_every``
    does not divide ``epochs``). An epoch is one ``MLPClassifier.partial_fit`` call, on the
    shard's rows already in the order ``fit`` would shuffle them into that epoch (``partial_fit``'s
    own shuffle restarts from the original order at every call, so it is switched off and done
    outside, from the same ``RandomState(seed)`` stream). **Optimizer state:** each engine keeps its own Adam moments and step
    count across rounds; only the weights are averaged (averaging the moments too would triple
    the bytes, and the moments describe each engine's own gradient noise). **Stopping:**
    scikit-learn's rule (training loss not better by ``tol`` for more than ``n_iter_no_change``
    epochs) is applied to the *global* training loss, the shard-size-weighted mean of the
    engines' epoch losses, which travel in the same ``Allreduce`` as the weights. The engines
    learn it only when they communicate, so a stop takes effect at the end of the round in which
    the rule fires: up to ``sync_every - 1`` epochs late (on time for ``sync_every=1``). With one
    engine and ``sync_every=1`` this is ``MLPClassifier.fit``, bit for bit.
``"gradient-allreduce"`` (synchronous data-parallel SGD)
    Every step, every engine computes the summed gradient of its mini-batch, one ``Allreduce``
    adds them, and all apply the same Adam update: the sequential run with a global batch of
    ``n_engines x batch_size`` rows. scikit-learn has no hook between gradient and update, so this
    uses :mod:`exemplar.numpy_mlp`, a numpy re-implementation of ``MLPClassifier``'s network,
    initialisation, loss, Adam and stopping rule (which reproduces ``fit`` on one process).
``"ensemble"``
    Every engine fits its shard as for one-shot; nothing is averaged. The master predicts with
    the mean of the engines' ``predict_proba`` (weighted by shard size): a reference for what
    combining the engines' models can reach.

``scale_inputs=True`` trains on pixels / 255 (the paper used raw 0-255 pixels); the returned
model then takes raw pixels and scales them itself (:class:`PixelScaledModel`).

``dtype="float32"`` trains in single precision end to end: the engines' features, the weights
(scikit-learn keeps float32 inputs in float32), the ``Allreduce`` buffers of the periodic and
gradient strategies and the weights gathered to the master, which are half the bytes. The
shards stay uint8 on the wire in both cases (a quarter of float32's bytes).

Communication counters
----------------------
``comm_rounds`` counts the exchanges of model state that combine the engines' work: one for
one-shot and ensemble (the gather of every engine's weights to the master), one per averaging
``Allreduce`` for periodic, one per step for gradient-allreduce. ``comm_bytes`` is the bytes one
rank contributes per round (its weights, in the training ``dtype``; for the ``Allreduce`` strategies the whole
buffer, with the few numbers piggybacked on it: losses and batch rows) times the rounds; the
cluster as a whole moves about ``n_engines`` times that. ``comm_seconds`` is the time in those
exchanges: for the ``Allreduce`` strategies the largest over the ranks of each rank's total time
inside ``Allreduce`` (which includes waiting for slower ranks), for one-shot and ensemble the
gather measured in the master. With one engine the counters still count the (trivial) calls.
Fetching the final, already combined model from rank 0 to the master is in ``combine_seconds``,
not in the counters; so are the set-up collectives (each rank's row count).
"""

from __future__ import annotations

import os
import time
import uuid
import zlib
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from .mlp import accuracy_pct, build_mlp, check_positive_int, combine, fit_timed, get_weights, model_from_weights

#: Source kinds :func:`run_exemplar` accepts.
SOURCE_KINDS = ("csv", "arrays")

#: Training strategies :func:`run_exemplar` implements (see the module's documentation).
STRATEGIES = ("one-shot", "periodic", "gradient-allreduce", "ensemble")

#: Floating-point types the engines may train in (:func:`run_exemplar`'s ``dtype``).
DTYPES = ("float64", "float32")

#: ``mlp_params`` keys that :func:`run_exemplar` sets itself.
_RESERVED_PARAMS = ("hidden_layer_sizes", "max_iter", "random_state")


class ExemplarError(RuntimeError):
    """A step failed or timed out on an engine. The message names the rank and the engine."""


# --------------------------------------------------------------------------------------------
# Shards
# --------------------------------------------------------------------------------------------


def check_dtype(dtype) -> str:
    """``dtype`` as one of :data:`DTYPES` (a name or a numpy type), or ``ValueError`` naming what is accepted."""
    try:  # np.dtype(None) is float64: None is refused rather than guessed
        name = np.dtype(dtype).name if dtype is not None else None
    except (TypeError, ValueError):
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(map(repr, DTYPES))}; got {dtype!r}")
    return name


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


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


def csv_source(path: str | os.PathLike, n_rows: int | None = None) -> tuple:
    """A source that rank 0 reads with ``exemplar.data.load_csv(path, n_rows)``.

    ``path`` must be readable where rank 0 runs (the same machine, for a local cluster).
    """
    if n_rows is not None:
        check_positive_int("n_rows", n_rows)
    return ("csv", os.fspath(path), n_rows)


def array_source(X: np.ndarray, y: np.ndarray) -> tuple:
    """A source made of arrays already in memory (they travel through the controller to rank 0)."""
    X, y = _check_arrays(X, y)
    return ("arrays", X, y)


def _check_source(source) -> int | None:
    """Validate a source spec in the master; return its row count when known without reading."""
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
    X, _ = _check_arrays(source[1], source[2])
    return X.shape[0]


def _short(obj) -> str:
    text = repr(obj)
    return text if len(text) <= 120 else text[:117] + "..."


def _check_arrays(X, y, xname: str = "X", yname: str = "y") -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{xname} must be a 2-D array with at least one row and one column; got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"{yname} must be 1-D with one label per row of {xname} ({X.shape[0]}); got shape {y.shape}")
    return X, y


def _as_pixels(X: np.ndarray) -> np.ndarray:
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


def _as_labels(y: np.ndarray) -> np.ndarray:
    if not np.issubdtype(y.dtype, np.integer):
        as_int = y.astype(np.int64)
        if not np.array_equal(as_int, y):
            raise ValueError(f"y must hold integer class labels; got dtype {y.dtype}")
        y = as_int
    return np.ascontiguousarray(y, dtype=np.int64)


def _read_source(source) -> tuple[np.ndarray, np.ndarray]:
    """Resolve a source on rank 0: the pixels as uint8, the labels as int64."""
    kind = source[0]
    if kind == "csv":
        from .data import load_csv  # lazily: only rank 0 reads

        n_rows = source[2] if len(source) == 3 else None
        X, y = load_csv(source[1], n_rows)
    else:
        X, y = source[1], source[2]
    X, y = _check_arrays(X, y)
    return _as_pixels(X), _as_labels(y)


# --------------------------------------------------------------------------------------------
# What runs on the engines
# --------------------------------------------------------------------------------------------

#: Per-engine state between steps, keyed by run token: the shard, then the fitted weights.
_STATE: dict[str, dict[str, Any]] = {}


def _checksum(X: np.ndarray, y: np.ndarray) -> int:
    """CRC-32 of a shard's pixel bytes (uint8, C order) followed by its labels (int64)."""
    crc = zlib.crc32(np.ascontiguousarray(X, dtype=np.uint8).tobytes())
    return zlib.crc32(np.ascontiguousarray(y, dtype=np.int64).tobytes(), crc)


def _engine_distribute(token: str, source) -> dict:
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
            X, y = _read_source(source)
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
        "checksum": _checksum(X_shard, y_shard),
        "read_seconds": t_read if rank == 0 else 0.0,
        "distribute_seconds": t_dist,
    }


def features(X: np.ndarray, scale_inputs: bool = False, dtype: str = "float64") -> np.ndarray:
    """Pixels (uint8) as the features the model trains on, in ``dtype``: raw 0-255, or / 255."""
    X = X.astype(dtype)
    if scale_inputs:
        X /= X.dtype.type(255)
    return X


def _engine_fit(token: str, hidden: int, epochs: int, seed: int, mlp_params: dict, scale_inputs: bool = False,
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


def _engine_train(token: str, strategy: str, hidden: int, epochs: int, seed: int, mlp_params: dict,
                  sync_every: int, scale_inputs: bool, classes: list, dtype: str = "float64") -> dict:
    """Train this rank's shard with ``strategy``; keep the weights (and a checksum of them)."""
    from mpi4py import MPI

    if strategy in ("one-shot", "ensemble"):
        out = _engine_fit(token, hidden, epochs, seed, mlp_params, scale_inputs, dtype)
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
        from .numpy_mlp import train

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


def _engine_root_weights(token: str):
    """Rank 0's weights (the others return ``None``); every rank forgets the run."""
    from mpi4py import MPI

    state = _STATE.pop(token, None)
    if state is None or "weights" not in state:
        raise ExemplarError(f"no fitted weights for run {token} on this engine: fit first")
    return state["weights"] if MPI.COMM_WORLD.Get_rank() == 0 else None


def _engine_weights(token: str) -> list[np.ndarray]:
    """This rank's fitted weights (``get_weights`` order); forgets the run."""
    state = _STATE.pop(token, None)
    if state is None or "weights" not in state:
        raise ExemplarError(f"no fitted weights for run {token} on this engine: fit first")
    return state["weights"]


def _engine_forget(token: str | None = None) -> None:
    """Drop the state of one run (or all runs) on this engine."""
    if token is None:
        _STATE.clear()
    else:
        _STATE.pop(token, None)


# --------------------------------------------------------------------------------------------
# The master
# --------------------------------------------------------------------------------------------


@dataclass
class ExemplarResult:
    """What one exemplar-parallel run produced and what each step cost (seconds, wall clock).

    Attributes
    ----------
    n_engines, hidden, epochs, seed : int
        The run's settings (``n_engines`` MPI ranks, one shard each).
    n_train : int
        Training rows, all shards together.
    shard_sizes : list of int
        Rows per rank, in rank order (:func:`shard_bounds`).
    fit_seconds : list of float
        Each rank's own ``fit`` time (``fit_timed``), in rank order; ``fit_seconds_max`` their maximum.
    n_iter : list of int
        Epochs each rank ran (scikit-learn may stop early).
    read_seconds : float
        Rank 0 reading the source.
    distribute_seconds : float
        From the end of the read to every rank holding its shard (``Bcast`` + ``Scatterv`` + ``Barrier``).
    combine_seconds : float
        Gathering the weights to the master plus combining them and building the model.
    eval_seconds : float
        Predicting the test set in the master.
    wall_seconds : float
        The whole :func:`run_exemplar` call, validation and submission overheads included.
    accuracy_pct : float
        Test-set accuracy of the combined model, 0-100.
    model : MLPClassifier
        The combined model (predicts; was never ``fit`` itself).
    shard_checksums : list of int
        What each rank received, as :func:`shard_checksum` computes it.
    strategy : str
        One of :data:`STRATEGIES`.
    sync_every : int or None
        Epochs between averages (``"periodic"`` only; ``None`` for the other strategies).
    scale_inputs : bool
        Whether the model trained on pixels / 255 (else raw 0-255 pixels, as the paper).
    comm_rounds, comm_bytes, comm_seconds : int, int, float
        Rounds of model-state exchange, bytes one rank contributed in them, and seconds spent in
        them (see "Communication counters" in the module's documentation).
    replicas_identical : bool or None
        For ``"periodic"`` and ``"gradient-allreduce"``: whether every rank ended with bit-identical
        weights (checksums compared); ``None`` for the strategies that do not replicate the model.
    dtype : str
        The floating-point type the engines trained in (``"float64"`` or ``"float32"``).
    """

    n_engines: int
    hidden: int
    epochs: int
    seed: int
    n_train: int
    shard_sizes: list[int]
    fit_seconds: list[float]
    fit_seconds_max: float
    n_iter: list[int]
    read_seconds: float
    distribute_seconds: float
    combine_seconds: float
    eval_seconds: float
    wall_seconds: float
    accuracy_pct: float
    model: Any = field(repr=False)
    shard_checksums: list[int] = field(default_factory=list, repr=False)
    strategy: str = "one-shot"
    sync_every: int | None = None
    scale_inputs: bool = False
    comm_rounds: int = 0
    comm_bytes: int = 0
    comm_seconds: float = 0.0
    replicas_identical: bool | None = None
    dtype: str = "float64"

    def as_row(self) -> dict:
        """The scalar fields as a dict (one tidy row): no lists, no model."""
        row = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "model" and not isinstance(value, (list, tuple, dict, np.ndarray)):
                row[f.name] = value
        return row


class PixelScaledModel:
    """A model trained on pixels / 255 that takes raw 0-255 pixels: it divides by 255 first.

    ``model`` is the wrapped classifier; ``predict``, ``predict_proba`` and ``classes_`` are its.
    """

    def __init__(self, model, scale: float = 255.0):
        self.model = model
        self.scale = float(scale)

    @property
    def classes_(self):
        return self.model.classes_

    def _scaled(self, X):
        return np.asarray(X, dtype=np.float64) / self.scale

    def predict(self, X):
        return self.model.predict(self._scaled(X))

    def predict_proba(self, X):
        return self.model.predict_proba(self._scaled(X))


class EnsembleModel:
    """Predicts with the mean of its members' ``predict_proba``, weighted by ``weights``.

    Parameters
    ----------
    members : list of classifiers
        With the same ``classes_``, in the same order.
    weights : sequence of float, optional
        E.g. shard sizes; default equal.
    """

    def __init__(self, members, weights=None):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (len(members),) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be {len(members)} non-negative numbers with a positive sum; got {weights!r}")
        self.weights = w / w.sum()
        self.classes_ = self.members[0].classes_

    def predict_proba(self, X):
        return sum(w * m.predict_proba(X) for w, m in zip(self.weights, self.members))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _submit(cl, func, args_of_rank) -> dict[int, Any]:
    """Submit ``func(*args_of_rank(rank))`` to every rank's engine; refuse if an engine is gone."""
    registered = set(cl.rc.ids)
    gone = [r for r in range(cl.n) if cl.engine_of[r] not in registered]
    if gone:
        who = ", ".join(f"rank {r} (engine {cl.engine_of[r]})" for r in gone)
        raise ExemplarError(
            f"{who} no longer registered with the controller (dead?); "
            "stop the cluster (leave its `with` block) and start a new one"
        )
    ars = {}
    for rank in range(cl.n):
        try:
            ars[rank] = cl.rc[cl.engine_of[rank]].apply_async(func, *args_of_rank(rank))
        except Exception as exc:
            raise ExemplarError(
                f"could not submit {func.__name__} to rank {rank} (engine {cl.engine_of[rank]}): {exc}"
            ) from exc
    return ars


def _wait(cl, ars: dict[int, Any], step: str, timeout: float | None) -> list:
    """Results of one async call per rank, in rank order.

    Raises :class:`ExemplarError` naming the rank(s) and engine(s) as soon as any rank fails
    (after a short grace for the other ranks' errors, so the first cause is reported too), or
    naming the ranks still running once ``timeout`` seconds have passed.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pending = [rank for rank, ar in ars.items() if not ar.ready()]
        if any(ars[r].ready() and not ars[r].successful() for r in ars):
            grace = time.monotonic() + 1.0
            while pending and time.monotonic() < grace:
                ars[pending[0]].wait(0.05)
                pending = [rank for rank, ar in ars.items() if not ar.ready()]
            _raise_failures(cl, ars, step)
        if not pending:
            return [ars[rank].get() for rank in sorted(ars)]
        if deadline is not None and time.monotonic() > deadline:
            alive = set(cl.rc.ids)
            who = ", ".join(
                f"rank {r} (engine {cl.engine_of[r]}{'' if cl.engine_of[r] in alive else ', no longer registered'})"
                for r in pending
            )
            raise ExemplarError(
                f"{step} did not finish within {timeout:g} s on {who}; "
                "stop the cluster (leave its `with` block) and start a new one"
            )
        wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
        ars[pending[0]].wait(wait)


def _raise_failures(cl, ars: dict[int, Any], step: str) -> None:
    failures = []
    for rank in sorted(ars):
        ar = ars[rank]
        if ar.ready() and not ar.successful():
            try:
                ar.get()
            except Exception as exc:
                failures.append((rank, exc))
    first_exc = failures[0][1]
    detail = "; ".join(f"rank {r} (engine {cl.engine_of[r]}): {_describe(e)}" for r, e in failures)
    hint = ""
    died = [r for r, e in failures if "EngineError" in (type(e).__name__, getattr(e, "ename", ""))]
    if died:
        hint = (
            "; an engine died (MPI then ends the whole job): stop the cluster "
            "(leave its `with` block) and start a new one"
        )
    elif len(failures) < len(ars):
        hint = (
            "; the other ranks may be blocked in an MPI collective: stop the cluster "
            "(leave its `with` block) and start a new one"
        )
    raise ExemplarError(f"{step} failed on {detail}{hint}") from first_exc


def _describe(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(exc).__name__}: {exc}"


def run_exemplar(
    cl,
    source,
    X_test: np.ndarray,
    y_test: np.ndarray,
    hidden: int = 75,
    epochs: int = 75,
    seed: int = 0,
    mlp_params: dict | None = None,
    timeout: float | None = 3600.0,
    strategy: str = "one-shot",
    sync_every: int = 1,
    scale_inputs: bool = False,
    dtype: str = "float64",
) -> ExemplarResult:
    """Train one MLP exemplar-parallel on all engines of ``cl`` and evaluate it.

    Parameters
    ----------
    cl : exemplar.cluster.RunningCluster
        A cluster from :func:`exemplar.cluster.start_cluster` with ``launcher="mpi"``; every
        engine (MPI rank) gets one shard, so ``n_engines = cl.n``.
    source : tuple
        Where rank 0 gets the training data: :func:`csv_source` or :func:`array_source`.
    X_test, y_test : ndarray
        The test set, in this (the master) process.
    hidden : int
        Units in the hidden layer.
    epochs : int
        At most this many epochs (``max_iter``).
    seed : int
        ``random_state`` of every engine's model: identical initial weights everywhere.
    mlp_params : dict, optional
        Further ``MLPClassifier`` parameters (not ``hidden_layer_sizes``, ``max_iter`` or
        ``random_state``, which the arguments above set).
    timeout : float or None
        Seconds each step (distribute, fit, gather) may take on the engines before
        :class:`ExemplarError`; ``None`` waits for ever (failures still stop the wait).
    strategy : {"one-shot", "periodic", "gradient-allreduce", "ensemble"}
        How the engines' work is combined (see the module's documentation). ``"one-shot"`` is
        the paper's method. ``"gradient-allreduce"`` accepts only the ``mlp_params`` that
        :mod:`exemplar.numpy_mlp` implements (``batch_size`` is then per engine).
    sync_every : int
        Epochs between weight averages, for ``"periodic"`` (1: every epoch). Ignored otherwise.
    scale_inputs : bool
        Train on pixels / 255 instead of the raw 0-255 pixels. The returned model takes raw
        pixels either way.
    dtype : {"float64", "float32"}
        Floating-point type of the training: features, weights, ``Allreduce`` buffers and the
        gathered weights (see the module's documentation). The shards travel as uint8 either way.

    Returns
    -------
    ExemplarResult
        With the combined model in ``model``: an ``MLPClassifier`` (an :class:`EnsembleModel`
        for ``"ensemble"``), wrapped in a :class:`PixelScaledModel` when ``scale_inputs``.

    Raises
    ------
    ValueError
        For bad parameters (message names the parameter and the accepted range), a local
        cluster, or shards that do not all hold the same classes.
    ExemplarError
        When a step fails or times out on an engine.
    """
    t_start = time.perf_counter()
    if getattr(cl, "launcher", None) != "mpi":
        raise ValueError(
            "run_exemplar scatters the data with MPI and needs a cluster started with "
            f"start_cluster(..., launcher='mpi'); got launcher={getattr(cl, 'launcher', None)!r}"
        )
    n_engines = check_positive_int("cl.n (number of engines)", cl.n)
    hidden = check_positive_int("hidden", hidden)
    epochs = check_positive_int("epochs", epochs)
    seed = check_positive_int("seed", seed, minimum=0)
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds or None; got {timeout!r}")
    mlp_params = dict(mlp_params or {})
    bad = sorted(set(mlp_params) & set(_RESERVED_PARAMS))
    if bad:
        raise ValueError(
            f"mlp_params must not set {', '.join(bad)}: use the hidden, epochs and seed arguments"
        )
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}; got {strategy!r}")
    sync_every = check_positive_int("sync_every", sync_every)
    if not isinstance(scale_inputs, (bool, np.bool_)):
        raise ValueError(f"scale_inputs must be True or False; got {scale_inputs!r}")
    scale_inputs = bool(scale_inputs)
    dtype = check_dtype(dtype)
    probe = build_mlp(hidden, epochs, seed, **mlp_params)  # unknown parameters fail here, not on the engines
    if strategy == "periodic":
        if probe.solver not in ("adam", "sgd"):
            raise ValueError(f"strategy='periodic' trains with partial_fit, which needs solver 'adam' or 'sgd'; "
                             f"got solver={probe.solver!r}")
        if probe.early_stopping:
            raise ValueError("strategy='periodic' cannot use early_stopping=True (partial_fit does not support it); "
                             "it stops on the global training loss instead")
    elif strategy == "gradient-allreduce":
        from .numpy_mlp import check_params

        check_params(mlp_params)
    n_known = _check_source(source)
    if n_known is not None and n_engines > n_known:
        raise ValueError(f"n_engines must be at most the number of training rows ({n_known}); got {n_engines}")
    X_test, y_test = _check_arrays(X_test, y_test, "X_test", "y_test")

    token = uuid.uuid4().hex
    # --- distribute: rank 0 gets the source; every rank joins the collectives
    ars = _submit(cl, _engine_distribute, lambda rank: (token, source if rank == 0 else None))
    dist = _wait(cl, ars, "reading and distributing the data", timeout)
    n_cols = dist[0]["n_cols"]
    if X_test.shape[1] != n_cols:
        _forget(cl)
        raise ValueError(f"X_test must have {n_cols} columns, as the training data; got {X_test.shape[1]}")
    sizes = [d["n_rows"] for d in dist]
    classes = sorted(set().union(*(d["labels"] for d in dist)))
    lacking = {d["rank"]: sorted(set(classes) - set(d["labels"])) for d in dist if len(d["labels"]) < len(classes)}
    if lacking:
        _forget(cl)
        detail = "; ".join(f"rank {r} lacks {m}" for r, m in lacking.items())
        raise ValueError(
            "every shard must hold every class (MLPClassifier learns only the classes it sees, and "
            f"weights of different output sizes cannot be averaged): {detail}. Use fewer engines, "
            "or shuffle the training rows"
        )

    # --- train: same seed everywhere, each rank its own shard
    ars = _submit(cl, _engine_train, lambda rank: (token, strategy, hidden, epochs, seed, mlp_params, sync_every,
                                                   scale_inputs, classes, dtype))
    fits = _wait(cl, ars, "fitting", timeout)

    # --- bring the result to the master
    t0 = time.perf_counter()
    build = dict(classes=np.asarray(classes), max_iter=epochs, random_state=seed, **mlp_params)
    replicas_identical = None
    if strategy in ("one-shot", "ensemble"):
        # gather every engine's weights; one-shot averages them (weighted by shard size)
        ars = _submit(cl, _engine_weights, lambda rank: (token,))
        weight_sets = _wait(cl, ars, "gathering the weights", timeout)
        comm_seconds = time.perf_counter() - t0
        comm_rounds = 1
        comm_bytes = int(sum(w.nbytes for w in weight_sets[0]))
        if strategy == "one-shot":
            model = model_from_weights(combine(weight_sets, sizes), **build)
        else:
            model = EnsembleModel([model_from_weights(w, **build) for w in weight_sets], weights=sizes)
    else:
        # every rank holds the same combined weights: fetch rank 0's
        ars = _submit(cl, _engine_root_weights, lambda rank: (token,))
        model = model_from_weights(_wait(cl, ars, "gathering the weights", timeout)[0], **build)
        rounds = {f["comm_rounds"] for f in fits}
        if len(rounds) != 1:  # every rank joins every Allreduce, so this cannot differ
            raise ExemplarError(f"ranks report different numbers of communication rounds: {sorted(rounds)}")
        comm_rounds = rounds.pop()
        comm_bytes = int(fits[0]["comm_bytes"])
        comm_seconds = max(f["comm_seconds"] for f in fits)
        replicas_identical = len({f["weights_crc"] for f in fits}) == 1
    if scale_inputs:
        model = PixelScaledModel(model)
    combine_seconds = time.perf_counter() - t0

    # --- evaluate in the master
    t0 = time.perf_counter()
    acc = accuracy_pct(model, X_test, y_test)
    eval_seconds = time.perf_counter() - t0

    fit_seconds = [f["fit_seconds"] for f in fits]
    return ExemplarResult(
        n_engines=n_engines,
        hidden=hidden,
        epochs=epochs,
        seed=seed,
        n_train=int(sum(sizes)),
        shard_sizes=sizes,
        fit_seconds=fit_seconds,
        fit_seconds_max=max(fit_seconds),
        n_iter=[f["n_iter"] for f in fits],
        read_seconds=dist[0]["read_seconds"],
        distribute_seconds=dist[0]["distribute_seconds"],
        combine_seconds=combine_seconds,
        eval_seconds=eval_seconds,
        wall_seconds=time.perf_counter() - t_start,
        accuracy_pct=acc,
        model=model,
        shard_checksums=[d["checksum"] for d in dist],
        strategy=strategy,
        sync_every=sync_every if strategy == "periodic" else None,
        scale_inputs=scale_inputs,
        comm_rounds=int(comm_rounds),
        comm_bytes=int(comm_bytes),
        comm_seconds=float(comm_seconds),
        replicas_identical=replicas_identical,
        dtype=dtype,
    )


def _forget(cl) -> None:
    """Ask every engine to drop its run state; does not wait (an engine may be busy or stuck)."""
    try:
        cl.view.apply_async(_engine_forget)
    except Exception:
        pass


def distribute_only(cl, source, timeout: float | None = 600.0) -> list[dict]:
    """Read and scatter ``source`` as :func:`run_exemplar` does, without fitting; per rank, in rank order:
    ``rank``, ``start``, ``n_rows``, ``checksum`` (:func:`shard_checksum` of what it received),
    ``read_seconds`` (rank 0), ``distribute_seconds``. For tests and for timing the scatter alone."""
    if getattr(cl, "launcher", None) != "mpi":
        raise ValueError(
            "distribute_only scatters with MPI and needs start_cluster(..., launcher='mpi'); "
            f"got launcher={getattr(cl, 'launcher', None)!r}"
        )
    n_known = _check_source(source)
    if n_known is not None and cl.n > n_known:
        raise ValueError(f"n_engines must be at most the number of training rows ({n_known}); got {cl.n}")
    token = uuid.uuid4().hex
    ars = _submit(cl, _engine_distribute, lambda rank: (token, source if rank == 0 else None))
    try:
        return _wait(cl, ars, "reading and distributing the data", timeout)
    finally:
        _forget(cl)


def shard_checksum(X: np.ndarray, y: np.ndarray) -> int:
    """The checksum an engine reports for a shard ``(X, y)`` (pixels as uint8, labels as int64)."""
    return _checksum(_as_pixels(np.asarray(X)), _as_labels(np.asarray(y)))


# --------------------------------------------------------------------------------------------
# Reading the runs: per strategy, and the title question
# --------------------------------------------------------------------------------------------


def variant_name(strategy: str, sync_every=None) -> str:
    """A label for a strategy and its setting: ``"periodic, every 5 epochs"``, else the strategy."""
    if strategy == "periodic":
        k = int(sync_every)
        return f"periodic, every {k} epoch{'s' if k != 1 else ''}"
    return str(strategy)


def _with_derived(runs):
    runs = runs.copy()
    if "variant" not in runs.columns:
        runs["variant"] = [variant_name(s, e) for s, e in zip(runs["strategy"], runs.get("sync_every", [None] * len(runs)))]
    if "scale_inputs" not in runs.columns:
        runs["scale_inputs"] = False
    runs["training_seconds"] = runs["fit_seconds_max"] + runs["distribute_seconds"] + runs["combine_seconds"]
    return runs


def summarize_strategies(runs):
    """Per input scaling, strategy variant and engine count: means (and sd) over the repeats.

    Parameters
    ----------
    runs : DataFrame
        Rows of :meth:`ExemplarResult.as_row` (plus ``variant``, else derived from ``strategy`` and
        ``sync_every``).

    Returns
    -------
    DataFrame
        ``scale_inputs, variant, strategy, n_engines, runs``, the mean and sd of ``accuracy_pct``,
        ``wall_seconds`` and ``training_seconds`` (slowest engine's fit + distribution + combination),
        and the means of ``fit_seconds_max``, ``comm_rounds``, ``comm_bytes``, ``comm_seconds``
        (and ``n_iter_max`` when present).
    """
    import pandas as pd

    runs = _with_derived(runs)
    keys = ["scale_inputs", "variant", "strategy", "n_engines"]
    g = runs.groupby(keys, sort=True)
    out = g[["accuracy_pct", "wall_seconds", "training_seconds"]].agg(["mean", "std"])
    out.columns = [f"{a}_{'mean' if b == 'mean' else 'sd'}" for a, b in out.columns]
    extra = [c for c in ("fit_seconds_max", "comm_rounds", "comm_bytes", "comm_seconds", "n_iter_max")
             if c in runs.columns]
    out = pd.concat([out, g[extra].mean(), g.size().rename("runs")], axis=1).reset_index()
    return out


def speed_at_same_accuracy(summary, tolerance_pp: float = 0.5, reference: str = "one-shot"):
    """The title question, per input scaling and engine count (more than one).

    The reference is the 1-engine run of ``reference`` (one-shot with one engine is a plain
    sequential ``fit``). A variant reaches "the same accuracy" when its mean accuracy is at least
    the reference's minus ``tolerance_pp`` percentage points (being more accurate counts).

    Parameters
    ----------
    summary : DataFrame
        :func:`summarize_strategies`' table.

    Returns
    -------
    DataFrame
        Per ``scale_inputs`` and ``n_engines``: ``sequential_accuracy``, ``sequential_wall``,
        ``reached`` (some variant within the tolerance), ``fastest`` (the one with the smallest mean
        wall time among those, else ``None``) with its ``accuracy_pct``, ``gap_pp`` (its accuracy minus
        the reference's), ``wall_seconds``, ``speedup`` (reference wall time / its wall time),
        ``speedup_training`` (the same for training time) and ``faster`` (reached *and* speedup > 1);
        and the ``most_accurate`` variant with its ``most_accurate_gap_pp``.
    """
    import pandas as pd

    if not (isinstance(tolerance_pp, (int, float)) and tolerance_pp >= 0):
        raise ValueError(f"tolerance_pp must be a non-negative number; got {tolerance_pp!r}")
    rows = []
    for scale, part in summary.groupby("scale_inputs", sort=True):
        ref = part[(part.variant == reference) & (part.n_engines == 1)]
        if ref.empty:
            raise ValueError(f"no 1-engine {reference!r} runs (scale_inputs={scale}) to compare with")
        ref = ref.iloc[0]
        for n, at_n in part[part.n_engines > 1].groupby("n_engines", sort=True):
            ok = at_n[at_n.accuracy_pct_mean >= ref.accuracy_pct_mean - tolerance_pp]
            best = at_n.loc[at_n.accuracy_pct_mean.idxmax()]
            row = {"scale_inputs": bool(scale), "n_engines": int(n),
                   "sequential_accuracy": ref.accuracy_pct_mean, "sequential_wall": ref.wall_seconds_mean,
                   "reached": not ok.empty}
            if ok.empty:
                row.update(fastest=None, accuracy_pct=np.nan, gap_pp=np.nan, wall_seconds=np.nan, speedup=np.nan,
                           speedup_training=np.nan, faster=False)
            else:
                f = ok.loc[ok.wall_seconds_mean.idxmin()]
                speedup = ref.wall_seconds_mean / f.wall_seconds_mean
                row.update(fastest=f.variant, accuracy_pct=f.accuracy_pct_mean,
                           gap_pp=f.accuracy_pct_mean - ref.accuracy_pct_mean, wall_seconds=f.wall_seconds_mean,
                           speedup=speedup, speedup_training=ref.training_seconds_mean / f.training_seconds_mean,
                           faster=bool(speedup > 1))
            row.update(most_accurate=best.variant, most_accurate_gap_pp=best.accuracy_pct_mean - ref.accuracy_pct_mean)
            rows.append(row)
    return pd.DataFrame(rows)
