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

import time
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from exemplar.models.sklearn_mlp import accuracy_pct, build_mlp, combine, model_from_weights
from exemplar.models.wrappers import EnsembleModel, PixelScaledModel
from exemplar.parallel import engine
from exemplar.parallel.cluster import ExemplarError, submit, wait
from exemplar.parallel.engine import STRATEGIES
from exemplar.parallel.shards import check_arrays, check_source
from exemplar.validation import check_bool, check_choice, check_dtype, check_mpi_cluster, check_positive_int, check_timeout


#: ``mlp_params`` keys that :func:`run_exemplar` sets itself.
_RESERVED_PARAMS = ("hidden_layer_sizes", "max_iter", "random_state")


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
    cl : exemplar.parallel.cluster.RunningCluster
        A cluster from :func:`exemplar.parallel.cluster.start_cluster` with ``launcher="mpi"``; every
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
    n_engines = check_mpi_cluster(cl, "run_exemplar")
    hidden = check_positive_int("hidden", hidden)
    epochs = check_positive_int("epochs", epochs)
    seed = check_positive_int("seed", seed, minimum=0)
    check_timeout(timeout)
    mlp_params = dict(mlp_params or {})
    bad = sorted(set(mlp_params) & set(_RESERVED_PARAMS))
    if bad:
        raise ValueError(
            f"mlp_params must not set {', '.join(bad)}: use the hidden, epochs and seed arguments"
        )
    check_choice("strategy", strategy, STRATEGIES)
    sync_every = check_positive_int("sync_every", sync_every)
    scale_inputs = check_bool("scale_inputs", scale_inputs)
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
        from exemplar.models.numpy_mlp import check_params

        check_params(mlp_params)
    n_known = check_source(source)
    if n_known is not None and n_engines > n_known:
        raise ValueError(f"n_engines must be at most the number of training rows ({n_known}); got {n_engines}")
    X_test, y_test = check_arrays(X_test, y_test, "X_test", "y_test")

    token = uuid.uuid4().hex
    # --- distribute: rank 0 gets the source; every rank joins the collectives
    ars = submit(cl, engine.distribute_shards, lambda rank: (token, source if rank == 0 else None))
    dist = wait(cl, ars, "reading and distributing the data", timeout)
    n_cols = dist[0]["n_cols"]
    if X_test.shape[1] != n_cols:
        forget_run(cl)
        raise ValueError(f"X_test must have {n_cols} columns, as the training data; got {X_test.shape[1]}")
    sizes = [d["n_rows"] for d in dist]
    classes = sorted(set().union(*(d["labels"] for d in dist)))
    lacking = {d["rank"]: sorted(set(classes) - set(d["labels"])) for d in dist if len(d["labels"]) < len(classes)}
    if lacking:
        forget_run(cl)
        detail = "; ".join(f"rank {r} lacks {m}" for r, m in lacking.items())
        raise ValueError(
            "every shard must hold every class (MLPClassifier learns only the classes it sees, and "
            f"weights of different output sizes cannot be averaged): {detail}. Use fewer engines, "
            "or shuffle the training rows"
        )

    # --- train: same seed everywhere, each rank its own shard
    ars = submit(cl, engine.train_shard, lambda rank: (token, strategy, hidden, epochs, seed, mlp_params, sync_every,
                                                   scale_inputs, classes, dtype))
    fits = wait(cl, ars, "fitting", timeout)

    # --- bring the result to the master
    t0 = time.perf_counter()
    build = dict(classes=np.asarray(classes), max_iter=epochs, random_state=seed, **mlp_params)
    replicas_identical = None
    if strategy in ("one-shot", "ensemble"):
        # gather every engine's weights; one-shot averages them (weighted by shard size)
        ars = submit(cl, engine.take_weights, lambda rank: (token,))
        weight_sets = wait(cl, ars, "gathering the weights", timeout)
        comm_seconds = time.perf_counter() - t0
        comm_rounds = 1
        comm_bytes = int(sum(w.nbytes for w in weight_sets[0]))
        if strategy == "one-shot":
            model = model_from_weights(combine(weight_sets, sizes), **build)
        else:
            model = EnsembleModel([model_from_weights(w, **build) for w in weight_sets], weights=sizes)
    else:
        # every rank holds the same combined weights: fetch rank 0's
        ars = submit(cl, engine.take_root_weights, lambda rank: (token,))
        model = model_from_weights(wait(cl, ars, "gathering the weights", timeout)[0], **build)
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


def forget_run(cl) -> None:
    """Ask every engine to drop its run state; does not wait (an engine may be busy or stuck)."""
    try:
        cl.view.apply_async(engine.forget)
    except Exception:
        pass


def distribute_only(cl, source, timeout: float | None = 600.0) -> list[dict]:
    """Read and scatter ``source`` as :func:`run_exemplar` does, without fitting; per rank, in rank order:
    ``rank``, ``start``, ``n_rows``, ``checksum`` (:func:`shard_checksum` of what it received),
    ``read_seconds`` (rank 0), ``distribute_seconds``. For tests and for timing the scatter alone."""
    check_mpi_cluster(cl, "distribute_only")
    n_known = check_source(source)
    if n_known is not None and cl.n > n_known:
        raise ValueError(f"n_engines must be at most the number of training rows ({n_known}); got {cl.n}")
    token = uuid.uuid4().hex
    ars = submit(cl, engine.distribute_shards, lambda rank: (token, source if rank == 0 else None))
    try:
        return wait(cl, ars, "reading and distributing the data", timeout)
    finally:
        forget_run(cl)
