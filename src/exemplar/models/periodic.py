"""Local SGD with periodic weight averaging (the ``"periodic"`` strategy): a trainer run on every rank.

Every ``sync_every`` epochs the engines average their weights among themselves with one
``MPI.Allreduce`` (weighted by shard size; the controller is not involved) and all continue
from the average, for ``epochs`` epochs in all (the last round is shorter when ``sync_every``
does not divide ``epochs``). An epoch is one ``MLPClassifier.partial_fit`` call, on the
shard's rows already in the order ``fit`` would shuffle them into that epoch (``partial_fit``'s
own shuffle restarts from the original order at every call, so it is switched off and done
outside, from the same ``RandomState(seed)`` stream). **Optimizer state:** each engine keeps
its own Adam moments and step count across rounds; only the weights are averaged (averaging the moments too would triple
the bytes, and the moments describe each engine's own gradient noise). **Stopping:**
scikit-learn's rule (training loss not better by ``tol`` for more than ``n_iter_no_change``
epochs) is applied to the *global* training loss, the shard-size-weighted mean of the
engines' epoch losses, which travel in the same ``Allreduce`` as the weights. The engines
learn it only when they communicate, so a stop takes effect at the end of the round in which
the rule fires: up to ``sync_every - 1`` epochs late (on time for ``sync_every=1``). With one
engine and ``sync_every=1`` this is ``MLPClassifier.fit``, bit for bit.

:func:`exemplar.parallel.engine.train_shard` calls :func:`periodic_fit` on every rank
(:mod:`exemplar.parallel.train` describes the strategies side by side).
"""

from __future__ import annotations

import time

import numpy as np

from exemplar.models.sklearn_mlp import build_mlp
from exemplar.models.stopping import StoppingRule
from exemplar.models.timing import RoundTimer
from exemplar.validation import check_positive_int


def periodic_fit(X: np.ndarray, y: np.ndarray, hidden: int, epochs: int, seed: int, mlp_params: dict,
                 sync_every: int, classes: np.ndarray, comm, trainer: str = "sklearn", dtype=None,
                 scale: float | None = None) -> dict:
    """Local training with weight averaging every ``sync_every`` epochs (the ``"periodic"`` strategy).

    Every rank of ``comm`` calls this together with its own rows (with one rank and
    ``sync_every=1`` this is ``MLPClassifier.fit``, bit for bit). The module's documentation says
    how epochs, Adam's state and early stopping are handled. ``trainer="numpy"`` runs each epoch
    with the fast trainer (:class:`exemplar.models.numpy_mlp.EpochTrainer`: the same epoch, its
    weights one flat vector) instead of ``partial_fit``; ``X`` may then be uint8 pixels, converted
    per batch to ``dtype`` and divided by ``scale`` (for ``"sklearn"``, ``X`` must already be the
    features, and ``dtype`` and ``scale`` are ignored).

    Returns
    -------
    dict
        ``weights`` (the averaged weights in :func:`~exemplar.models.sklearn_mlp.get_weights`
        order, identical on every rank), ``seconds``,
        ``n_iter`` (epochs run), ``loss_curve`` (global training loss per epoch),
        ``comm_rounds``, ``comm_bytes``, ``comm_seconds``; per round, ``round_cpu_seconds`` (this
        thread's CPU time computing: everything between two ``Allreduce`` calls, the calls excluded)
        and ``round_comm_seconds`` (wall time inside the round's ``Allreduce``); ``cpu_seconds``
        their sum (the compute, without MPI).
    """
    import warnings

    from mpi4py import MPI
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import shuffle as sk_shuffle

    sync_every = check_positive_int("sync_every", sync_every)
    n_local = X.shape[0]
    n_total = comm.allreduce(n_local, op=MPI.SUM)  # set-up, not counted as a round
    frac = n_local / n_total
    if trainer == "numpy":
        from exemplar.models.numpy_mlp import EpochTrainer

        fit = EpochTrainer(X, y, hidden, seed, classes=classes, dtype=dtype, scale=scale, **mlp_params)
        trainer_epoch, params, weights = fit.epoch, lambda: [fit.net.params], fit.net.weights
        tol, patience = fit.params["tol"], fit.params["n_iter_no_change"]
    elif trainer == "sklearn":
        model = build_mlp(hidden, epochs, seed, **mlp_params)
        tol, patience, shuffle = model.tol, model.n_iter_no_change, model.shuffle
        # The epochs' shuffles are drawn here, exactly as fit draws them: one RandomState(seed) stream,
        # first the initial weights (drawn by the first partial_fit; replayed here to advance the
        # stream past them), then one shuffle of the previous epoch's order per epoch. partial_fit
        # itself would restart from arange every call; it gets the rows already in order instead.
        model.set_params(shuffle=False)
        rng = _past_initial_weights(seed, [X.shape[1], *model.hidden_layer_sizes,
                                           len(classes) if len(classes) > 2 else 1])
        order = np.arange(n_local)

        def trainer_epoch() -> float:
            nonlocal order
            if shuffle:
                order = sk_shuffle(order, random_state=rng)
                model.partial_fit(X[order], y[order], classes=classes)
            else:
                model.partial_fit(X, y, classes=classes)
            return model.loss_

        def params() -> list[np.ndarray]:  # the arrays exist once the first partial_fit has made them
            return [*model.coefs_, *model.intercepts_]

        def weights() -> list[np.ndarray]:
            return [np.array(w, copy=True) for w in params()]
    else:
        raise ValueError(f"trainer must be 'sklearn' or 'numpy'; got {trainer!r}")
    buf = None
    done = rounds = 0
    comm_seconds = 0.0
    rule, stop = StoppingRule(tol, patience), False
    loss_curve: list[float] = []
    timer = RoundTimer()
    t_start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        while done < epochs and not stop:
            e = min(sync_every, epochs - done)
            losses = [trainer_epoch() for _ in range(e)]
            done += e
            buf, global_losses, seconds = _average(params(), losses, frac, buf, sync_every, comm, timer)
            comm_seconds += seconds
            rounds += 1
            for loss in global_losses:
                loss = float(loss)
                loss_curve.append(loss)
                if rule.update(loss):
                    stop = True  # takes effect at the end of this round
    seconds = time.perf_counter() - t_start
    cpu_seconds = timer.finish()
    return {
        "weights": weights(),
        "seconds": seconds,
        "n_iter": done,
        "loss_curve": loss_curve,
        "comm_rounds": rounds,
        "comm_bytes": rounds * (buf.nbytes if buf is not None else 0),
        "comm_seconds": comm_seconds,
        "round_cpu_seconds": timer.cpu,
        "round_comm_seconds": timer.comm,
        "cpu_seconds": cpu_seconds,
    }


def _past_initial_weights(seed: int, units: list[int]) -> np.random.RandomState:
    """``RandomState(seed)`` advanced past the initial weights ``MLPClassifier`` draws from it for ``units``."""
    rng = np.random.RandomState(seed)
    for a, b in zip(units[:-1], units[1:]):
        rng.uniform(-1.0, 1.0, (a, b))
        rng.uniform(-1.0, 1.0, b)
    return rng


def _average(params: list[np.ndarray], losses: list[float], frac: float, buf: np.ndarray | None, sync_every: int,
             comm, timer: RoundTimer | None = None):
    """One round: the rows-weighted mean of every rank's weights (``params``, set in place) and epoch losses.

    Returns the buffer (allocated on the first round: the weights, then ``sync_every`` losses, in
    the weights' dtype), the round's global losses (a view into it) and the seconds in ``Allreduce``.
    """
    from mpi4py import MPI

    e = len(losses)
    n_params = sum(p.size for p in params)
    if buf is None:
        buf = np.empty(n_params + sync_every, dtype=params[0].dtype)
    offset = 0
    for p in params:
        np.multiply(p.ravel(), frac, out=buf[offset:offset + p.size])
        offset += p.size
    buf[n_params:] = 0.0
    buf[n_params:n_params + e] = np.asarray(losses) * frac
    if timer is not None:
        timer.enter()
    t0 = time.perf_counter()
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    seconds = time.perf_counter() - t0
    if timer is not None:
        timer.leave(seconds)
    offset = 0
    for p in params:  # in place: the arrays Adam updates stay the model's own
        p[...] = buf[offset:offset + p.size].reshape(p.shape)
        offset += p.size
    return buf, buf[n_params:n_params + e], seconds
