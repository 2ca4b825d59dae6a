"""How the strategies drive an epoch trainer (:mod:`exemplar.models.epochs`) with collectives.

Every rank calls these together, each with its own trainer (the same network, its own rows) and
the run's :class:`~exemplar.parallel.collectives.Collectives`:

* :func:`periodic_fit`: local training, the weights averaged every ``sync_every`` epochs (the
  ``"periodic"`` strategy);
* gradient all-reduce is the fast trainer handed the collectives (its gradients meet every step:
  :func:`exemplar.models.numpy_mlp.train`), run by :func:`exemplar.parallel.engine.train_shard`;
* :func:`extra_round`: a few epochs from a common start, then one average (the combination
  methods' distillation and retraining round, :mod:`exemplar.parallel.combine`).

All of them meet in :func:`average_weights`: each rank's weights times its share of the rows,
added by one ``Allreduce`` (:meth:`~exemplar.parallel.collectives.Collectives.average`).

Periodic averaging
------------------
Every ``sync_every`` epochs the engines average their weights among themselves with one
``Allreduce`` (weighted by shard size; the controller is not involved) and all continue from the
average, for ``epochs`` epochs in all (the last round is shorter when ``sync_every`` does not
divide ``epochs``). **Optimizer state:** each engine keeps its own Adam moments and step count
across rounds; only the weights are averaged (averaging the moments too would triple the bytes, and
the moments describe each engine's own gradient noise). **Stopping:** scikit-learn's rule
(training loss not better by ``tol`` for more than ``n_iter_no_change`` epochs) is applied to the
*global* training loss, the shard-size-weighted mean of the engines' epoch losses, which travel in
the same ``Allreduce`` as the weights. The engines learn it only when they communicate, so a stop
takes effect at the end of the round in which the rule fires: up to ``sync_every - 1`` epochs late
(on time for ``sync_every=1``). With one engine and ``sync_every=1`` this is ``MLPClassifier.fit``,
bit for bit (for the ``"sklearn"`` trainer; to rounding for ``"numpy"``).
"""

from __future__ import annotations

import time

import numpy as np

from exemplar.models.timing import RoundTimer
from exemplar.parallel.collectives import Collectives, unflatten
from exemplar.validation import check_positive_int


def average_weights(trainer, coll: Collectives, share: float, losses=(), slots: int = 0,
                    buf: np.ndarray | None = None, timer=None) -> tuple[list[np.ndarray], np.ndarray]:
    """One round: every rank continues from the ``share``-weighted mean of the ranks' weights.

    ``losses`` (at most ``slots`` numbers) travel in the same ``Allreduce``, weighted alike.
    Returns the mean weights (new arrays, also set into ``trainer``) and the buffer after the
    ``Allreduce``: the weights, flat, then the ``slots`` global losses (reuse it as ``buf``).
    """
    weights = trainer.weights()
    buf = coll.average(weights, share, extra=losses, slots=slots, out=buf, timer=timer)
    mean = unflatten(buf, weights)
    trainer.set_weights(mean)
    return mean, buf


def periodic_fit(trainer, coll: Collectives, n_local: int, epochs: int, sync_every: int) -> dict:
    """Local training with weight averaging every ``sync_every`` epochs (the ``"periodic"`` strategy).

    Every rank of ``coll`` calls this together with its trainer on its ``n_local`` rows. The
    module's documentation says how epochs, Adam's state and early stopping are handled.

    Returns
    -------
    dict
        ``weights`` (the averaged weights in :func:`~exemplar.models.sklearn_mlp.get_weights`
        order, identical on every rank), ``seconds``, ``n_iter`` (epochs run), ``loss_curve``
        (global training loss per epoch), ``comm_rounds``, ``comm_bytes``, ``comm_seconds``; per
        round, ``round_cpu_seconds`` (this thread's CPU time computing: everything between two
        ``Allreduce`` calls, the calls excluded) and ``round_comm_seconds`` (wall time inside the
        round's ``Allreduce``); ``cpu_seconds`` their sum (the compute, without MPI).
    """
    sync_every = check_positive_int("sync_every", sync_every)
    share = n_local / coll.allreduce_value(n_local, "sum")  # set-up, not counted as a round
    before = coll.counters()
    rule, stop = trainer.stopping, False
    buf, done, loss_curve = None, 0, []
    timer = RoundTimer()
    t_start = time.perf_counter()
    while done < epochs and not stop:
        e = min(sync_every, epochs - done)
        losses = [trainer.epoch() for _ in range(e)]
        done += e
        weights, buf = average_weights(trainer, coll, share, losses, sync_every, buf, timer)
        n = sum(w.size for w in weights)
        for loss in buf[n:n + e]:
            loss = float(loss)
            loss_curve.append(loss)
            if rule.update(loss):
                stop = True  # takes effect at the end of this round
    seconds = time.perf_counter() - t_start
    cpu_seconds = timer.finish()
    rounds, nbytes, comm_seconds = (a - b for a, b in zip(coll.counters(), before))
    return {"weights": trainer.weights(), "seconds": seconds, "n_iter": done, "loss_curve": loss_curve,
            "comm_rounds": rounds, "comm_bytes": nbytes, "comm_seconds": comm_seconds,
            "round_cpu_seconds": timer.cpu, "round_comm_seconds": timer.comm, "cpu_seconds": cpu_seconds}


def extra_round(trainer, coll: Collectives, share: float, epochs: int) -> list[np.ndarray]:
    """``epochs`` epochs of ``trainer`` on this rank, then one average weighted by ``share``; returns the average."""
    for _ in range(int(epochs)):
        trainer.epoch()
    return average_weights(trainer, coll, share)[0]
