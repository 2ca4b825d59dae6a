"""Our gradient-allreduce followed epoch by epoch on the engines, the clock paused while rank 0 evaluates.

``run_exemplar`` reports only the final accuracy; :mod:`exemplar.bench.ddp` needs the epoch at which
our ``"gradient-allreduce"`` first reaches the target, and the training time up to then. It gets both
as it gets DDP's (:mod:`exemplar.bench.ddp_torch`): :func:`ours_curve` distributes the shards as
``run_exemplar`` does (:func:`exemplar.parallel.distribute.distribute`) and runs :func:`curve_on_engine` on
every rank: the engines' own call, :func:`exemplar.models.numpy_mlp.train` with the collectives, the
shard's raw pixels, ``dtype`` and ``scale``, plus an ``on_epoch`` hook (:class:`EpochClock`). After every
epoch rank 0 evaluates the test set as the master evaluates it (float64 pixels against the weights,
scikit-learn's ``predict``) while every rank waits in a ``Barrier``; that pause is taken off the clock.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np


class EpochClock:
    """An ``on_epoch(epoch, net, loss)`` hook that times training with the evaluations paused.

    Call :meth:`start` just before training. After every epoch the hook reads the training clock
    (``train_clock``: wall seconds since :meth:`start`, pauses excluded), has ``evaluate(net)``
    (given on one rank only, ``None`` on the others) compute the test accuracy in %, then waits in
    ``collectives.barrier()`` (with ``collectives``) so that every rank resumes together; the time from reading
    the clock to leaving the barrier is added to ``paused``. ``target_epoch`` is the first epoch
    (1-based) whose accuracy is at least ``target_pct``, ``time_to_target_seconds`` the training
    clock at its end (both ``None`` until then, and on ranks that do not evaluate).
    """

    def __init__(self, target_pct: float, evaluate: Callable | None = None, collectives=None):
        self.target_pct, self.evaluate, self.collectives = float(target_pct), evaluate, collectives
        self.t0 = None
        self.paused = 0.0
        self.train_clock: list[float] = []
        self.accuracy: list[float] = []
        self.loss: list[float] = []
        self.target_epoch: int | None = None
        self.time_to_target_seconds: float | None = None

    def start(self) -> None:
        """Start the clock (just before training)."""
        self.t0 = time.perf_counter()

    def __call__(self, epoch: int, net, loss: float) -> None:
        now = time.perf_counter()
        if self.t0 is None:
            raise RuntimeError("EpochClock.start() must be called before training")
        elapsed = now - self.t0 - self.paused
        self.train_clock.append(elapsed)
        self.loss.append(float(loss))
        if self.evaluate is not None:
            acc = float(self.evaluate(net))
            self.accuracy.append(acc)
            if self.target_epoch is None and acc >= self.target_pct - 1e-9:
                self.target_epoch, self.time_to_target_seconds = int(epoch), elapsed
        if self.collectives is not None:
            self.collectives.barrier()
        self.paused += time.perf_counter() - now


def curve_on_engine(token: str, hidden: int, epochs: int, seed: int, mlp_params: dict, scale_inputs: bool,
                    classes: list, dtype: str, target_pct: float, X_test=None, y_test=None,
                    return_weights: bool = False) -> dict:
    """On every rank (collective over ``COMM_WORLD``): gradient-allreduce on its shard, with :class:`EpochClock`.

    The shard is the one :func:`exemplar.parallel.distribute.distribute` left under ``token``; the call
    to :func:`~exemplar.models.numpy_mlp.train` is the engines' gradient-allreduce
    (:func:`exemplar.parallel.engine.train_shard`) with ``on_epoch`` added, the clocks started after a
    ``Barrier`` (as DDP's, after its ranks' barrier). Rank 0 gets the raw test pixels and evaluates after
    every epoch. Returns the rank's report: ``rank``, ``n_iter``,
    ``fit_seconds`` (the fit's wall time less the pauses), ``paused_seconds``, ``train_clock``,
    ``loss_curve``, ``train_dtype`` (the network's), ``weights_crc``; on rank 0 also
    ``accuracy_curve``, ``accuracy_pct`` (the last), ``target_epoch``, ``time_to_target_seconds``
    and, with ``return_weights``, ``weights`` (:func:`exemplar.models.sklearn_mlp.get_weights` order).
    """
    import zlib

    from exemplar.models.numpy_mlp import train
    from exemplar.parallel import engine
    from exemplar.parallel.collectives import Collectives
    from exemplar.parallel.shards import features

    state = engine.shard_of(token)
    coll = Collectives()
    rank = coll.rank
    classes = np.asarray(classes)
    # rank 0 evaluates float64 pixels, as the master does
    evaluate = accuracy_of_net(features(np.asarray(X_test), scale_inputs), y_test, classes) if rank == 0 else None
    clock = EpochClock(target_pct, evaluate, coll)
    coll.barrier()  # every rank has its task (rank 0's carries the test set): start the clocks together, as DDP's
    clock.start()
    res = train(state["X"], state["y"], hidden, epochs, seed, classes=classes, collectives=coll, on_epoch=clock,
                dtype=dtype, scale=255 if scale_inputs else None, **mlp_params)
    weights = res.net.weights()
    crc = 0
    for w in weights:
        crc = zlib.crc32(np.ascontiguousarray(w).tobytes(), crc)
    out = {"rank": rank, "n_iter": res.n_iter, "fit_seconds": res.seconds - clock.paused,
           "paused_seconds": clock.paused, "train_clock": clock.train_clock, "loss_curve": res.loss_curve,
           "train_dtype": str(res.net.dtype), "weights_crc": crc}
    if rank == 0:
        out.update(accuracy_curve=clock.accuracy, accuracy_pct=clock.accuracy[-1], target_epoch=clock.target_epoch,
                   time_to_target_seconds=clock.time_to_target_seconds)
        if return_weights:
            out["weights"] = weights
    return out


def ours_curve(cl, source, X_test: np.ndarray, y_test: np.ndarray, hidden: int, epochs: int, seed: int,
               target_pct: float, batch_size: int = 200, scale_inputs: bool = True, dtype: str = "float64",
               timeout: float | None = 1800.0, return_weights: bool = False) -> dict:
    """Our gradient-allreduce on every engine of ``cl``, with the test accuracy after every epoch (clock paused).

    ``source`` and ``X_test`` / ``y_test`` (raw pixels) as for :func:`exemplar.parallel.train.run_exemplar`,
    which must have accepted them (this does not check them again). Returns rank 0's report
    (:func:`curve_on_engine`) with ``fit_seconds`` the slowest rank's, ``n_iter_ranks``,
    ``replicas_identical`` (the ranks' final weights are equal) and ``train_dtypes`` (every rank's).
    """
    from exemplar.parallel.distribute import distribute, forget_run
    from exemplar.parallel.remote import submit, wait

    dist = distribute(cl, source, timeout)
    try:
        args = (dist.token, int(hidden), int(epochs), int(seed), {"batch_size": int(batch_size)}, bool(scale_inputs),
                dist.classes, dtype, float(target_pct))
        ars = submit(cl, curve_on_engine, lambda rank: (*args, *((X_test, y_test) if rank == 0 else (None, None)),
                                                        return_weights))
        reports = wait(cl, ars, "training with the test accuracy after every epoch", timeout)
    finally:
        forget_run(cl)
    out = dict(reports[0])
    out["fit_seconds"] = max(r["fit_seconds"] for r in reports)
    out["n_iter_ranks"] = [r["n_iter"] for r in reports]
    out["replicas_identical"] = len({r["weights_crc"] for r in reports}) == 1
    out["train_dtypes"] = sorted({r["train_dtype"] for r in reports})
    return out


def accuracy_of_net(X: np.ndarray, y: np.ndarray, classes: np.ndarray) -> Callable:
    """``evaluate(net)``: the test accuracy (%) of a :class:`~exemplar.models.numpy_mlp.NumpyMLP` on float64 ``X``."""
    y = np.asarray(y)

    def evaluate(net) -> float:
        return weights_accuracy_pct(net.weights(), X, y, classes)

    return evaluate


def weights_accuracy_pct(weights, X: np.ndarray, y: np.ndarray, classes: np.ndarray) -> float:
    """Test accuracy (%) of a ReLU network's weights on float64 ``X``, as scikit-learn's ``predict`` computes it."""
    n = len(weights) // 2
    a = X
    for i, (W, b) in enumerate(zip(weights[:n], weights[n:])):
        a = a @ W + b  # float64 pixels against float32 weights: float64, as in predict
        if i < n - 1:
            np.maximum(a, 0, out=a)
    return float(np.mean(classes[np.argmax(a, axis=1)] == y) * 100)


def first_reach(curve, target: float) -> int | None:
    """1-based epoch of the first accuracy at least ``target`` (``None`` if never)."""
    for i, a in enumerate(curve):
        if a >= target - 1e-9:
            return i + 1
    return None
