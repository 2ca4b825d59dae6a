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

from exemplar.models.epochs import epoch_trainer
from exemplar.models.sklearn_mlp import build_mlp, fit_timed, get_weights
from exemplar.models.statistics import STATISTICS_ALGORITHMS, build_tree, shard_statistics
from exemplar.parallel.collectives import Collectives
from exemplar.parallel.remote import EngineError
from exemplar.parallel.rounds import periodic_fit
from exemplar.parallel.shards import checksum, features, scatter_source
from exemplar.validation import check_choice, check_trainer


#: Training strategies :func:`train_shard` implements (see :mod:`exemplar.parallel.train`).
STRATEGIES = ("one-shot", "periodic", "gradient-allreduce", "ensemble")

#: Strategies whose engines train apart and meet once, after training (the others meet every round).
APART = ("one-shot", "ensemble")


def trainer_used(strategy: str, trainer: str) -> str:
    """The trainer a strategy actually runs: gradient-allreduce needs the numpy trainer's hook between
    gradient and update, so it always uses it; the other strategies use the one asked for."""
    return "numpy" if strategy == "gradient-allreduce" else trainer


#: Per-engine state between steps, keyed by run token: the shard, then the fitted weights.
_STATE: dict[str, dict[str, Any]] = {}


def state(token: str) -> dict[str, Any] | None:
    """This engine's state for run ``token`` (its shard ``X``, ``y``; later ``weights`` or ``result``), or ``None``."""
    return _STATE.get(token)


def shard_of(token: str) -> dict[str, Any]:
    """This engine's state for run ``token``, which must still hold its shard; else :class:`EngineError`."""
    found = _STATE.get(token)
    if found is None or "X" not in found:
        raise EngineError(f"no shard for run {token} on this engine: distribute first")
    return found


def distribute_shards(token: str, source) -> dict:
    """Collective over ``COMM_WORLD``: rank 0 reads ``source`` and scatters the shards (:func:`scatter_source`).

    Every rank must call this (rank 0 with the source, the others with ``None``). Keeps the
    rank's shard in ``_STATE[token]`` and returns what it received.
    """
    _STATE.clear()  # one run at a time; drop what an earlier (failed) run left
    got = scatter_source(source)
    X_shard, y_shard = got.pop("X"), got.pop("y")
    _STATE[token] = {"X": X_shard, "y": y_shard}
    return {**got, "pid": os.getpid(), "n_rows": len(y_shard), "labels": np.unique(y_shard).tolist(),
            "checksum": checksum(X_shard, y_shard)}


def fit_shard(token: str, hidden: int, epochs: int, seed: int, mlp_params: dict, scale_inputs: bool = False,
              dtype: str = "float64", trainer: str = "sklearn") -> dict:
    """Fit this rank's shard (pixels as ``dtype``, raw 0-255 or / 255) alone; keep the weights.

    ``trainer="sklearn"``: ``MLPClassifier.fit`` (``fit_timed``) on the shard converted to ``dtype``.
    ``trainer="numpy"``: :func:`exemplar.models.numpy_mlp.train`, which keeps the pixels as uint8
    and converts each batch as it gathers it.
    """
    state = shard_of(token)
    if check_trainer(trainer) == "numpy":
        from exemplar.models.numpy_mlp import train

        res = train(state["X"], state["y"], hidden, epochs, seed, dtype=dtype, scale=255 if scale_inputs else None,
                    **mlp_params)
        state["weights"], state["classes"] = res.net.weights(), np.unique(state["y"])
        seconds, cpu_seconds, n_iter = res.seconds, res.cpu_seconds, res.n_iter
    else:
        result = fit_timed(build_mlp(hidden, epochs, seed, **mlp_params), features(state["X"], scale_inputs, dtype),
                           state["y"])
        state["weights"], state["classes"] = get_weights(result.model), result.model.classes_
        seconds, cpu_seconds, n_iter = result.seconds, result.cpu_seconds, result.n_iter
    del state["X"], state["y"]
    return {"rank": Collectives().rank, "fit_seconds": seconds, "fit_cpu_seconds": cpu_seconds, "n_iter": n_iter}


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
    ``allreduce_probe_seconds``: :meth:`Collectives.probe <exemplar.parallel.collectives.Collectives.probe>`
    at the rounds' message size.
    """
    trainer = trainer_used(check_choice("strategy", strategy, STRATEGIES), trainer)
    if strategy in APART:
        out = fit_shard(token, hidden, epochs, seed, mlp_params, scale_inputs, dtype, trainer)
        out.update(comm_rounds=0, comm_bytes=0, comm_seconds=0.0, trainer=trainer)
        out["weights_crc"] = _flat_crc(_STATE[token]["weights"])
        return out
    state = shard_of(token)
    coll = Collectives()
    X, y = state["X"], state["y"]
    scale = 255 if scale_inputs else None
    classes = np.asarray(classes)
    if strategy == "periodic":
        rows = X if trainer == "numpy" else features(X, scale_inputs, dtype)  # numpy converts per batch
        fit = epoch_trainer(trainer, rows, y, hidden, epochs, seed, classes, mlp_params, dtype=dtype, scale=scale)
        res = periodic_fit(fit, coll, X.shape[0], epochs, sync_every)
        weights = res["weights"]
        keys = ("n_iter", "comm_rounds", "comm_bytes", "comm_seconds", "round_cpu_seconds", "round_comm_seconds")
        out = {k: res[k] for k in keys}
        out.update(fit_seconds=res["seconds"], fit_cpu_seconds=res["cpu_seconds"])
    else:  # gradient-allreduce: the fast trainer's gradients meet every step
        from exemplar.models.numpy_mlp import train

        res = train(X, y, hidden, epochs, seed, classes=classes, collectives=coll, dtype=dtype, scale=scale,
                    **mlp_params)
        weights = res.net.weights()
        out = {"n_iter": res.n_iter, "comm_rounds": res.comm_rounds, "comm_bytes": res.comm_bytes,
               "comm_seconds": res.comm_seconds, "fit_seconds": res.seconds,
               "global_batch": res.global_batch, "fit_cpu_seconds": res.cpu_seconds,
               "round_cpu_seconds": res.round_cpu_seconds, "round_comm_seconds": res.round_comm_seconds}
    state["weights"] = weights
    del state["X"], state["y"], X
    n_values = out["comm_bytes"] // max(out["comm_rounds"], 1) // np.dtype(dtype).itemsize
    out["allreduce_probe_seconds"] = coll.probe(n_values, dtype)
    out["rank"] = coll.rank
    out["trainer"] = trainer
    out["weights_crc"] = _flat_crc(weights)
    return out


def train_to_target(token: str, variant, hidden: int, seed: int, mlp_params: dict, scale_inputs: bool, classes: list,
                    dtype: str, target: float | None, budget_steps: int, max_epochs: int, stopping: bool,
                    patience_steps: int | None = None, checkpoint_steps: int = 1, X_val=None,
                    y_val=None) -> dict:
    """Train this rank's shard with ``variant`` until the target or the budget
    (:func:`exemplar.parallel.target_loop.train_until`); keep the weights (and a checksum of them).

    Rank 0 gets the validation rows (``X_val``, ``y_val``); the others ``None``.
    """
    from exemplar.parallel.target_loop import Variant, train_until

    state = shard_of(token)
    variant = Variant(**variant) if isinstance(variant, dict) else variant
    report, weights = train_until(state["X"], state["y"], variant, hidden, seed, np.asarray(classes), mlp_params,
                                  dtype, 255 if scale_inputs else None, target=target, budget_steps=budget_steps,
                                  max_epochs=max_epochs, stopping=stopping, X_val=X_val, y_val=y_val,
                                  patience_steps=patience_steps, checkpoint_steps=checkpoint_steps)
    state["weights"] = weights
    del state["X"], state["y"]
    report["weights_crc"] = _flat_crc(weights)
    return report


def take_root_weights(token: str):
    """Rank 0's weights (the others return ``None``); every rank forgets the run."""
    state = _STATE.pop(token, None)
    if state is None or "weights" not in state:
        raise EngineError(f"no fitted weights for run {token} on this engine: fit first")
    return state["weights"] if Collectives().rank == 0 else None


def take_weights(token: str) -> list[np.ndarray]:
    """This rank's fitted weights (``get_weights`` order); forgets the run."""
    state = _STATE.pop(token, None)
    if state is None or "weights" not in state:
        raise EngineError(f"no fitted weights for run {token} on this engine: fit first")
    return state["weights"]


def forget(token: str | None = None) -> None:
    """Drop the state of one run (or all runs) on this engine."""
    if token is None:
        _STATE.clear()
    else:
        _STATE.pop(token, None)


def fit_algorithm_shard(token: str, algorithm: str, seed: int, params: dict) -> dict:
    """Fit this rank's shard (kept by :func:`distribute_shards`): statistics, or a tree; keep the result."""
    import warnings

    state = shard_of(token)
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
    return {"rank": Collectives().rank, "fit_seconds": seconds, "n_rows": int(len(y))}


def take_algorithm_result(token: str):
    """This rank's statistics or tree (a tree pickled to bytes); forgets the run."""
    state = _STATE.pop(token, None)
    if state is None or "result" not in state:
        raise EngineError(f"no fitted result for run {token} on this engine: fit first")
    result = state["result"]
    return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL) if not isinstance(result, dict) else result
