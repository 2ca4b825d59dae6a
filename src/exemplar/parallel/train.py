"""Exemplar-parallel training (the paper's Section III.B / IV.B) on an ipyparallel MPI cluster.

The training set is split into contiguous, nearly equal shards, one per MPI rank. Every engine
builds the same MLP with the same seed (identical initial weights), fits its own shard, and the
master (this process: the notebook or script that holds the client) combines the fitted weights
by their mean weighted by shard size -- the paper's plain average when shards are equal -- and
evaluates the combined model on the test set.

The driver's steps
------------------
:func:`run_exemplar` is check -> distribute -> train -> collect -> evaluate: every argument is
checked in the master first; :func:`~exemplar.parallel.distribute.distribute` (the first step of
every driver, :mod:`exemplar.parallel.distribute`) leaves a shard on every rank; each
rank trains (:func:`exemplar.parallel.engine.train_shard`); the model is collected and combined
in the master, and evaluated there.

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
  by MPI rank, not engine id). ``combine_seconds`` is that gather plus :func:`exemplar.models.sklearn_mlp.combine`.

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
    Every ``sync_every`` epochs the engines average their weights with one ``MPI.Allreduce``
    (weighted by shard size) and all continue from the average (:mod:`exemplar.parallel.rounds`).
``"gradient-allreduce"`` (synchronous data-parallel SGD)
    Every step, every engine computes the summed gradient of its mini-batch, one ``Allreduce``
    adds them, and all apply the same Adam update: the sequential run with a global batch of
    ``n_engines x batch_size`` rows. scikit-learn has no hook between gradient and update, so this
    always uses the numpy trainer (below).
``"ensemble"``
    Every engine fits its shard as for one-shot; nothing is averaged. The master predicts with
    the mean of the engines' ``predict_proba`` (weighted by shard size): a reference for what
    combining the engines' models can reach.

``trainer`` chooses who trains: ``"sklearn"`` (``MLPClassifier``, the paper's; the default) or
``"numpy"``, :mod:`exemplar.models.numpy_mlp`, the same network, initialisation, loss, Adam and
stopping rule (equal to ``fit`` to rounding in float64) running near the GEMM limit.
``scale_inputs`` and ``dtype`` are described with :func:`run_exemplar`'s parameters.

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

Every run also records each rank's compute CPU time apart from its time inside MPI calls, and
from them ``dedicated_seconds``, the training time with a core per engine
(:mod:`exemplar.parallel.dedicated`).
"""


from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from exemplar.models.sklearn_mlp import accuracy_pct, build_mlp, combine, model_from_weights
from exemplar.models.wrappers import EnsembleModel, PixelScaledModel
from exemplar.parallel import engine
from exemplar.parallel.dedicated import estimate
from exemplar.parallel.distribute import Distribution, distribute_checked
from exemplar.parallel.engine import APART, STRATEGIES
from exemplar.parallel.remote import EngineError, submit, wait
from exemplar.parallel.shards import check_arrays, check_source
from exemplar.validation import (check_bool, check_choice, check_dtype, check_mpi_cluster, check_positive_int,
                                 check_timeout, check_trainer)


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
        What each rank received, as :func:`~exemplar.parallel.shards.shard_checksum` computes it.
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
    trainer : str
        Who trained the engines' networks (:func:`exemplar.parallel.engine.trainer_used`).
    fit_cpu_seconds, fit_cpu_seconds_max : list of float, float
        Each rank's CPU time computing (MPI calls excluded), and the largest.
    compute_cpu_seconds, allreduce_probe_seconds, comm_model_seconds, dedicated_seconds : float
        The estimated training time with a core per engine (``dedicated_seconds``) and its parts
        (:func:`exemplar.parallel.dedicated.estimate`).
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
    trainer: str = "sklearn"
    fit_cpu_seconds: list[float] = field(default_factory=list)
    fit_cpu_seconds_max: float = float("nan")
    compute_cpu_seconds: float = float("nan")
    allreduce_probe_seconds: float = float("nan")
    comm_model_seconds: float = float("nan")
    dedicated_seconds: float = float("nan")

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
    trainer: str = "sklearn",
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
        :class:`EngineError`; ``None`` waits for ever (failures still stop the wait).
    strategy : {"one-shot", "periodic", "gradient-allreduce", "ensemble"}
        How the engines' work is combined (see the module's documentation). ``"one-shot"`` is
        the paper's method. ``"gradient-allreduce"`` accepts only the ``mlp_params`` that
        :mod:`exemplar.models.numpy_mlp` implements (``batch_size`` is then per engine).
    sync_every : int
        Epochs between weight averages, for ``"periodic"`` (1: every epoch). Ignored otherwise.
    scale_inputs : bool
        Train on pixels / 255 instead of the raw 0-255 pixels (the paper's). The returned model takes
        raw pixels either way (:class:`PixelScaledModel` scales them).
    dtype : {"float64", "float32"}
        Floating-point type of the training, end to end: features, weights (scikit-learn keeps
        float32 inputs in float32), ``Allreduce`` buffers and the gathered weights (half the bytes
        in float32). The shards travel as uint8 either way.
    trainer : {"sklearn", "numpy"}
        ``MLPClassifier`` (the default), or the fast numpy trainer, which accepts only the
        ``mlp_params`` :mod:`exemplar.models.numpy_mlp` implements. ``"gradient-allreduce"``
        always uses the numpy trainer.

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
    EngineError
        When a step fails or times out on an engine.
    """
    t_start = time.perf_counter()
    run = _check(cl, source, hidden, epochs, seed, mlp_params, timeout, strategy, sync_every, scale_inputs, dtype,
                 trainer)
    X_test, y_test = check_arrays(X_test, y_test, "X_test", "y_test")
    dist, classes = distribute_checked(cl, source, X_test.shape[1], timeout)
    fits = _train(cl, dist, run, classes)
    t0 = time.perf_counter()
    model, comm = collect_model(cl, dist, run, fits, classes)
    combine_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    acc = accuracy_pct(model, X_test, y_test)
    eval_seconds = time.perf_counter() - t0
    fit_seconds = [f["fit_seconds"] for f in fits]
    return ExemplarResult(
        n_engines=run.n_engines, hidden=run.hidden, epochs=run.epochs, seed=run.seed, n_train=int(sum(dist.sizes)),
        shard_sizes=dist.sizes, fit_seconds=fit_seconds, fit_seconds_max=max(fit_seconds),
        n_iter=[f["n_iter"] for f in fits], read_seconds=dist.read_seconds,
        distribute_seconds=dist.distribute_seconds, combine_seconds=combine_seconds, eval_seconds=eval_seconds,
        wall_seconds=time.perf_counter() - t_start, accuracy_pct=acc, model=model, shard_checksums=dist.checksums,
        strategy=run.strategy, sync_every=run.sync_every if run.strategy == "periodic" else None,
        scale_inputs=run.scale_inputs, dtype=run.dtype, trainer=engine.trainer_used(run.strategy, run.trainer), **comm, **estimate(run.strategy, fits, run.n_engines),
    )


@dataclass(frozen=True)
class RunSettings:
    """:func:`run_exemplar`'s settings, checked."""

    n_engines: int
    hidden: int
    epochs: int
    seed: int
    timeout: float | None
    mlp_params: dict
    strategy: str
    sync_every: int
    scale_inputs: bool
    dtype: str
    trainer: str


def _check(cl, source, hidden, epochs, seed, mlp_params, timeout, strategy, sync_every, scale_inputs,
           dtype, trainer) -> RunSettings:
    """Step 1: every argument checked in the master, before anything runs on the engines."""
    n_engines = check_mpi_cluster(cl, "run_exemplar")
    run = RunSettings(n_engines=n_engines, hidden=check_positive_int("hidden", hidden),
               epochs=check_positive_int("epochs", epochs), seed=check_positive_int("seed", seed, minimum=0),
               timeout=check_timeout(timeout), mlp_params=_check_mlp_params(mlp_params),
               strategy=check_choice("strategy", strategy, STRATEGIES),
               sync_every=check_positive_int("sync_every", sync_every),
               scale_inputs=check_bool("scale_inputs", scale_inputs), dtype=check_dtype(dtype),
               trainer=check_trainer(trainer))
    _check_strategy(run)
    check_source(source, n_engines)
    return run


def _check_mlp_params(mlp_params: dict | None) -> dict:
    mlp_params = dict(mlp_params or {})
    bad = sorted(set(mlp_params) & set(_RESERVED_PARAMS))
    if bad:
        raise ValueError(
            f"mlp_params must not set {', '.join(bad)}: use the hidden, epochs and seed arguments"
        )
    return mlp_params


def _check_strategy(run: RunSettings) -> None:
    """What the strategy needs of the MLP's parameters (unknown parameters fail here, not on the engines)."""
    probe = build_mlp(run.hidden, run.epochs, run.seed, **run.mlp_params)
    if run.strategy == "periodic":
        if probe.solver not in ("adam", "sgd"):
            raise ValueError(f"strategy='periodic' trains with partial_fit, which needs solver 'adam' or 'sgd'; "
                             f"got solver={probe.solver!r}")
        if probe.early_stopping:
            raise ValueError("strategy='periodic' cannot use early_stopping=True (partial_fit does not support it); "
                             "it stops on the global training loss instead")
    if engine.trainer_used(run.strategy, run.trainer) == "numpy":
        from exemplar.models.numpy_mlp import check_params

        check_params(run.mlp_params)


def _train(cl, dist: Distribution, run: RunSettings, classes: list) -> list[dict]:
    """Step 3: same seed everywhere, each rank its own shard; per rank, what it reports."""
    args = (dist.token, run.strategy, run.hidden, run.epochs, run.seed, run.mlp_params, run.sync_every,
            run.scale_inputs, classes, run.dtype, run.trainer)
    ars = submit(cl, engine.train_shard, lambda rank: args)
    return wait(cl, ars, "fitting", run.timeout)


def collect_model(cl, dist: Distribution, run: RunSettings, fits: list[dict], classes: list) -> tuple[Any, dict]:
    """Step 4: the combined model in the master, and the communication counters."""
    build = dict(classes=np.asarray(classes), max_iter=run.epochs, random_state=run.seed, **run.mlp_params)
    if run.strategy in APART:
        model, comm = _gather_and_combine(cl, dist, run, build)
    else:
        model, comm = _fetch_replica(cl, dist, run, fits, build)
    if run.scale_inputs:
        model = PixelScaledModel(model)
    return model, comm


def _gather_and_combine(cl, dist: Distribution, run: RunSettings, build: dict) -> tuple[Any, dict]:
    """Gather every engine's weights; one-shot averages them (weighted by shard size), ensemble keeps them."""
    t0 = time.perf_counter()
    ars = submit(cl, engine.take_weights, lambda rank: (dist.token,))
    weight_sets = wait(cl, ars, "gathering the weights", run.timeout)
    comm = {"comm_seconds": float(time.perf_counter() - t0), "comm_rounds": 1,
            "comm_bytes": int(sum(w.nbytes for w in weight_sets[0])), "replicas_identical": None}
    if run.strategy == "one-shot":
        model = model_from_weights(combine(weight_sets, dist.sizes), **build)
    else:
        model = EnsembleModel([model_from_weights(w, **build) for w in weight_sets], weights=dist.sizes)
    return model, comm


def _fetch_replica(cl, dist: Distribution, run: RunSettings, fits: list[dict], build: dict) -> tuple[Any, dict]:
    """Every rank holds the same combined weights: fetch rank 0's; the counters come from the fits."""
    ars = submit(cl, engine.take_root_weights, lambda rank: (dist.token,))
    model = model_from_weights(wait(cl, ars, "gathering the weights", run.timeout)[0], **build)
    rounds = {f["comm_rounds"] for f in fits}
    if len(rounds) != 1:  # every rank joins every Allreduce, so this cannot differ
        raise EngineError(f"ranks report different numbers of communication rounds: {sorted(rounds)}")
    comm = {"comm_rounds": int(rounds.pop()), "comm_bytes": int(fits[0]["comm_bytes"]),
            "comm_seconds": float(max(f["comm_seconds"] for f in fits)),
            "replicas_identical": len({f["weights_crc"] for f in fits}) == 1}
    return model, comm
