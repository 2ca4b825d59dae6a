"""Combining networks trained apart, on the cluster: better than a plain mean (issue 14).

:func:`run_combination` distributes the data (:func:`exemplar.parallel.distribute.distribute`), fits
every shard once (one-shot, :func:`exemplar.parallel.engine.fit_shard`), and then combines the
**same** fitted networks with every method of :data:`METHODS`, each on the cluster with MPI
collectives (:class:`~exemplar.parallel.collectives.Collectives`), and evaluates each result in the
master. The maths is :mod:`exemplar.models.combination` (and :mod:`exemplar.models.distillation`);
this module moves what it needs.

The engines call into this module: :func:`fit_to_combine` and :func:`combine_on_engine` run on every
rank (submitted with :func:`exemplar.parallel.remote.submit`,
like :mod:`exemplar.parallel.engine`'s functions), over ``MPI.COMM_WORLD``.

How each method moves the models (``K`` ranks, ``P`` bytes per network)
-----------------------------------------------------------------------
``mean``
    One ``Allreduce`` of each rank's weights times its share of the rows.
``matched``
    One ``Gather`` of the networks to rank 0, which aligns every network's hidden units to its own
    (:func:`~exemplar.models.combination.matched`) and averages.
``fisher``
    One ``Allreduce`` of ``s (F + eps) W`` and ``s (F + eps)`` (``F``: the rank's diagonal Fisher on
    its shard, ``s``: its share of the rows); rank 0 divides.
``regmean``
    One ``Allreduce`` of the terms of :func:`~exemplar.models.combination.regmean_terms` (float64
    Grams, Gram x weights, weights), times ``s``; rank 0 solves.
``distilled``
    ``Allgather`` of all networks; every rank aligns them (matching, as ``matched``: with identical
    starts the permutations are the identity), starts from their matched mean and trains it for a
    few epochs on its own shard toward targets mixing the ensemble's probabilities with the true
    labels (a :class:`~exemplar.models.distillation.Distiller` driven by
    :func:`~exemplar.parallel.rounds.extra_round`); then one ``Allreduce`` averages the students.
``retrained``
    The same round with the true labels only: one more round of local training from the matched
    mean, then averaging (what periodic averaging does every epoch), kept apart so that
    ``distilled`` stays a distillation.
``ensemble``
    The reference, not one network: a ``Gather`` of the networks to rank 0; the master predicts with
    the mean of their ``predict_proba``.

Counters, per method
--------------------
``exchanges``: collective exchanges of models after the data are distributed (1 for a single
reduction or gather, 2 for the distillation round); ``extra_rounds = exchanges - 1``;
``extra_bytes``: the bytes one rank sent or received in them beyond its own network's ``P``
(an ``Allreduce`` or ``Gather`` counts the buffer a rank contributes; an ``Allgather`` counts
what it sends plus what it receives), checked against
:func:`~exemplar.models.combination.exchange_cost` (``collectives=True``); ``seconds``: wall time in
the master from submitting the step to holding rank 0's result; ``comm_seconds``: the largest
time any rank spent inside the collectives. With one engine nothing is exchanged: every method
returns the engine's network unchanged (0 extra rounds and bytes, one exchange: the fetch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exemplar.models import combination as cb
from exemplar.models.combination import METHODS
from exemplar.models.distillation import Distiller, distillation_targets, mixed_targets
from exemplar.models.sklearn_mlp import accuracy_pct, model_from_weights
from exemplar.models.wrappers import EnsembleModel, PixelScaledModel
from exemplar.parallel import engine
from exemplar.parallel.collectives import Collectives, flatten, unflatten
from exemplar.parallel.distribute import check_shards, distribute, forget_run
from exemplar.parallel.remote import EngineError, submit, wait
from exemplar.parallel.rounds import extra_round
from exemplar.parallel.shards import check_arrays, check_source, features
from exemplar.validation import (check_bool, check_choice, check_dtype, check_interval, check_mpi_cluster,
                                 check_positive_int, check_timeout, check_trainer)

#: The methods' settings (chosen from the one-process probe; see the chapter ``04b-combining``).
DEFAULT_SETTINGS = {
    "fisher_kind": "expected",       # Matena & Raffel's Fisher: labels drawn from the model (beat "empirical")
    "regmean_alpha": 0.9,            # shrinking of the Grams' off-diagonal entries
    "distill_epochs": 5,             # epochs of the distillation (and retraining) round
    "distill_true_share": 0.5,       # share of the true labels in the distillation targets (Hinton et al.)
    "distill_learning_rate": 1e-3,   # Adam's step, scikit-learn's default
}


@dataclass
class CombinationResult:
    """One training and every method's combination of it.

    Attributes
    ----------
    n_engines, hidden, epochs, seed, n_train : int
        The run's settings (engine ``r`` starts from ``seed`` or, with different starts, ``seed + r``).
    same_start, scale_inputs : bool
        Identical initial weights on every engine; pixels / 255 (else raw).
    dtype : str
        The training's floating-point type.
    trainer : str
        Who trained the networks: ``"sklearn"`` or ``"numpy"`` (:mod:`exemplar.models.numpy_mlp`).
    shard_sizes, fit_seconds, n_iter : list
        Per rank, in rank order.
    read_seconds, distribute_seconds, fit_seconds_max : float
        Rank 0's read, the scatter, the slowest rank's fit.
    methods : list of dict
        Per method, in the order run: ``method``, ``accuracy_pct``, ``exchanges``, ``extra_rounds``,
        ``extra_bytes``, ``seconds``, ``comm_seconds``, ``eval_seconds``.
    models : dict
        Per method, the combined model (takes raw pixels).
    """

    n_engines: int
    hidden: int
    epochs: int
    seed: int
    n_train: int
    same_start: bool
    scale_inputs: bool
    dtype: str
    shard_sizes: list[int]
    fit_seconds: list[float]
    n_iter: list[int]
    read_seconds: float
    distribute_seconds: float
    fit_seconds_max: float
    methods: list[dict] = field(default_factory=list)
    models: dict = field(default_factory=dict, repr=False)
    trainer: str = "sklearn"

    def rows(self) -> list[dict]:
        """One tidy row per method: the run's scalar settings and costs, then the method's counters."""
        run = {"n_engines": self.n_engines, "hidden": self.hidden, "epochs": self.epochs, "seed": self.seed,
               "n_train": self.n_train, "same_start": self.same_start, "scale_inputs": self.scale_inputs,
               "dtype": self.dtype, "trainer": self.trainer, "read_seconds": self.read_seconds,
               "distribute_seconds": self.distribute_seconds, "fit_seconds_max": self.fit_seconds_max,
               "n_iter_max": max(self.n_iter)}
        return [{**run, **m} for m in self.methods]


# ---------------------------------------------------------------------------------------------- the master
def check_settings(settings: dict | None) -> dict:
    """:data:`DEFAULT_SETTINGS` updated with ``settings``; unknown names and bad values refused."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
    if unknown:
        raise ValueError(f"settings: unknown name(s) {unknown}; accepted: {sorted(DEFAULT_SETTINGS)}")
    out = {**DEFAULT_SETTINGS, **settings}
    check_choice("settings['fisher_kind']", out["fisher_kind"], ("empirical", "expected"))
    check_positive_int("settings['distill_epochs']", out["distill_epochs"], minimum=0)
    for name in ("regmean_alpha", "distill_true_share"):
        check_interval(f"settings[{name!r}]", out[name], low=0, high=1)
    check_interval("settings['distill_learning_rate']", out["distill_learning_rate"], low=0, closed="right")
    return out


def check_methods(methods) -> tuple[str, ...]:
    """``methods`` as a tuple of names of :data:`METHODS`, at least one, no repeats."""
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    bad = [m for m in methods if m not in METHODS]
    if not methods or bad or len(set(methods)) != len(methods):
        raise ValueError(f"methods must be one or more of {list(METHODS)}, without repeats; got {list(methods)}")
    return methods


def run_combination(cl, source, X_test, y_test, *, hidden: int, epochs: int, seed: int, same_start: bool = True,
                    scale_inputs: bool = False, methods=METHODS, dtype: str = "float64",
                    timeout: float | None = 3600.0, settings: dict | None = None,
                    trainer: str = "sklearn") -> CombinationResult:
    """Train one-shot on every engine of ``cl``, then combine the same networks with every method.

    Parameters
    ----------
    cl : exemplar.parallel.cluster.RunningCluster
        A cluster started with ``launcher="mpi"``; one shard per engine.
    source : tuple
        Where rank 0 reads the training data (:func:`~exemplar.parallel.shards.csv_source`,
        :func:`~exemplar.parallel.shards.array_source`).
    X_test, y_test : ndarray
        The test set (raw pixels), in the master.
    hidden, epochs, seed : int
        The MLP (``MLPClassifier``, ``max_iter=epochs``); engine ``r`` uses ``random_state`` ``seed``,
        or ``seed + r`` when not ``same_start``.
    same_start : bool
        Identical initial weights everywhere (the paper's premise), else a different start per engine.
    scale_inputs : bool
        Train on pixels / 255 (the models returned take raw pixels either way).
    methods : sequence of str
        Names from :data:`METHODS`, combined in this order.
    dtype : {"float64", "float32"}
        The training's floating-point type (and that of the weights the collectives move).
    timeout : float or None
        Seconds each step may take on the engines.
    settings : dict, optional
        Overrides of :data:`DEFAULT_SETTINGS`.
    trainer : {"sklearn", "numpy"}
        Who trains the networks: ``MLPClassifier`` or the fast numpy trainer (same network and training).

    Returns
    -------
    CombinationResult

    Raises
    ------
    ValueError
        For a bad argument (naming it and what it accepts), or shards lacking a class.
    EngineError
        When a step fails or times out on an engine, or a method's counted bytes or rounds differ
        from :func:`~exemplar.models.combination.exchange_cost`.
    """
    n_engines = check_mpi_cluster(cl, "run_combination")
    hidden, epochs = check_positive_int("hidden", hidden), check_positive_int("epochs", epochs)
    seed = check_positive_int("seed", seed, minimum=0)
    same_start, scale_inputs = check_bool("same_start", same_start), check_bool("scale_inputs", scale_inputs)
    methods, dtype, timeout = check_methods(methods), check_dtype(dtype), check_timeout(timeout)
    settings, trainer = check_settings(settings), check_trainer(trainer)
    check_source(source, n_engines)
    X_test, y_test = check_arrays(X_test, y_test, "X_test", "y_test")
    dist = distribute(cl, source, timeout)
    try:
        classes = np.asarray(check_shards(dist, X_test.shape[1]))
        args = (dist.token, hidden, epochs, seed, same_start, scale_inputs, dtype, trainer)
        fits = wait(cl, submit(cl, fit_to_combine, lambda rank: args), "fitting", timeout)
        fit_seconds = [f["fit_seconds"] for f in fits]
        result = CombinationResult(n_engines, hidden, epochs, seed, int(sum(dist.sizes)), same_start, scale_inputs,
                                   dtype, dist.sizes, fit_seconds, [f["n_iter"] for f in fits], dist.read_seconds,
                                   dist.distribute_seconds, max(fit_seconds), trainer=trainer)
        for method in methods:
            row, model = _combine(cl, dist, method, settings, classes, scale_inputs, timeout)
            t0 = time.perf_counter()
            row["accuracy_pct"] = accuracy_pct(model, X_test, y_test)
            row["eval_seconds"] = time.perf_counter() - t0
            result.methods.append(row)
            result.models[method] = model
    finally:
        forget_run(cl)
    return result


def _combine(cl, dist, method: str, settings: dict, classes, scale_inputs: bool, timeout) -> tuple[dict, Any]:
    """One method on every rank: its counters (checked against ``exchange_cost``) and its model."""
    t0 = time.perf_counter()
    args = (dist.token, method, dist.sizes, settings)
    replies = wait(cl, submit(cl, combine_on_engine, lambda rank: args), f"combining ({method})", timeout)
    seconds = time.perf_counter() - t0
    counts = {(r["rounds"], r["bytes"]) for r in replies}
    if len(counts) != 1:
        raise EngineError(f"{method}: ranks moved different rounds and bytes: {sorted(counts)}")
    rounds, moved = counts.pop()
    result = replies[0]["result"]
    network = result[0] if method == "ensemble" else result
    extra = (max(rounds - 1, 0), max(moved - cb.network_bytes(network), 0))
    expected = cb.exchange_cost(method, [network] * len(replies), collectives=True)
    if extra != expected:
        raise EngineError(f"{method}: the collectives moved {extra} (extra rounds, extra bytes per rank); "
                            f"exchange_cost expects {expected}")
    if method == "ensemble":
        model = EnsembleModel([model_from_weights(w, classes=classes) for w in result], weights=dist.sizes)
    else:
        model = model_from_weights(result, classes=classes)
    row = {"method": method, "exchanges": 1 + extra[0], "extra_rounds": extra[0], "extra_bytes": extra[1],
           "seconds": seconds, "comm_seconds": max(r["comm_seconds"] for r in replies)}
    return row, PixelScaledModel(model) if scale_inputs else model


# ---------------------------------------------------------------------------------------------- the engines
def fit_to_combine(token: str, hidden: int, epochs: int, seed: int, same_start: bool, scale_inputs: bool,
                   dtype: str, trainer: str = "sklearn") -> dict:
    """On every rank: fit the shard one-shot (:func:`~exemplar.parallel.engine.fit_shard`) and keep it.

    Rank ``r`` uses ``random_state`` ``seed`` (``same_start``) or ``seed + r``. The shard's features
    and labels stay in the run's state (Fisher, Grams and distillation need them) until the run is
    forgotten.
    """
    state = engine.shard_of(token)
    rank = Collectives().rank
    X, y = state["X"], state["y"]
    out = engine.fit_shard(token, hidden, epochs, seed if same_start else seed + rank, {}, scale_inputs, dtype, trainer)
    state["features"], state["labels"] = features(X, scale_inputs, dtype), y
    return out


def combine_on_engine(token: str, method: str, sizes: list[int], settings: dict) -> dict:
    """On every rank: combine the run's fitted networks with ``method``; rank 0 returns the result.

    Returns
    -------
    dict
        ``result`` (rank 0: the combined weights, or for ``ensemble`` the list of every network;
        other ranks ``None``), and this rank's ``rounds``, ``bytes`` and ``comm_seconds``.
    """
    state = engine.state(token)
    if state is None or "weights" not in state or "features" not in state:
        raise EngineError(f"no fitted network and shard for run {token} on this engine: fit_to_combine first")
    coll = Collectives()
    weights = state["weights"]
    if coll.size == 1:
        copies = [np.array(w) for w in weights]
        result = [copies] if method == "ensemble" else copies
    else:
        share = sizes[coll.rank] / float(sum(sizes))
        result = _STEPS[method](coll, weights, state, share, sizes, settings)
    return {"result": result if coll.rank == 0 else None, "rounds": coll.rounds, "bytes": coll.bytes,
            "comm_seconds": coll.seconds}


def _mean(coll, weights, state, share, sizes, settings):
    return unflatten(coll.average(weights, share), weights)


def _gathered(coll, weights):
    rows = coll.gather(flatten(weights))
    return None if rows is None else [unflatten(row, weights) for row in rows]


def _matched(coll, weights, state, share, sizes, settings):
    nets = _gathered(coll, weights)
    return None if nets is None else cb.matched(nets, sizes)


def _ensemble(coll, weights, state, share, sizes, settings):
    return _gathered(coll, weights)


def _fisher(coll, weights, state, share, sizes, settings, epsilon: float = 1e-8):
    F = flatten(cb.diagonal_fisher(weights, state["features"], state["labels"], state["classes"],
                                   kind=settings["fisher_kind"]))
    a = (F + F.dtype.type(epsilon)) * F.dtype.type(share)
    sums = coll.allreduce(np.concatenate([a * flatten(weights), a]))
    num, den = sums[:F.size], sums[F.size:]
    return unflatten((num / den).astype(F.dtype), weights)


def _regmean(coll, weights, state, share, sizes, settings):
    grams = cb.layer_grams(weights, state["features"])
    terms = cb.regmean_terms(weights, grams, settings["regmean_alpha"])
    sums = unflatten(coll.average(terms, share), terms)
    return cb.regmean_solve(sums, weights[0].dtype) if coll.rank == 0 else None


def _round(coll, weights, state, share, sizes, settings, true_share: float):
    """The distillation (or retraining) round: all-gather, match, train locally, average."""
    nets = [unflatten(row, weights) for row in coll.allgather(flatten(weights))]
    start = cb.matched(nets, sizes)
    X, y = state["features"], state["labels"]
    soft = distillation_targets(nets, sizes, X) if true_share < 1 else np.zeros((len(y), len(state["classes"])))
    targets = mixed_targets(soft, y, state["classes"], true_share)
    student = Distiller(start, X, targets, seed=coll.rank, learning_rate=settings["distill_learning_rate"])
    return extra_round(student, coll, share, settings["distill_epochs"])


def _distilled(coll, weights, state, share, sizes, settings):
    return _round(coll, weights, state, share, sizes, settings, settings["distill_true_share"])


def _retrained(coll, weights, state, share, sizes, settings):
    return _round(coll, weights, state, share, sizes, settings, 1.0)


#: Each method's step on a rank (:func:`combine_on_engine`).
_STEPS = {"mean": _mean, "matched": _matched, "fisher": _fisher, "regmean": _regmean, "distilled": _distilled,
          "retrained": _retrained, "ensemble": _ensemble}
