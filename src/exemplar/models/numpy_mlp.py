"""A small numpy MLP that matches scikit-learn's ``MLPClassifier``, for synchronous data-parallel SGD.

Why not scikit-learn itself? ``MLPClassifier`` computes the gradient of a mini-batch and applies
Adam's update in one private loop; there is no public hook between the two where engines could
average their gradients. This module re-implements exactly the pieces that loop uses, for the
configuration the report trains (``solver="adam"``, ``activation="relu"``, softmax output,
``loss="log_loss"``, no validation-based early stopping), so that:

* the initial weights are scikit-learn's: Glorot-uniform bounds ``sqrt(6 / (fan_in + fan_out))``
  drawn layer by layer, coefficients then intercepts, from ``RandomState(random_state)``, the
  same stream that then shuffles the rows every epoch (``sklearn.utils.shuffle``);
* a step computes, per layer, ``(activations.T @ deltas + alpha * W) / batch_rows`` and
  ``sum(deltas) / batch_rows``, and Adam's update with scikit-learn's formulas and defaults
  (``learning_rate_init`` 1e-3, ``beta_1`` 0.9, ``beta_2`` 0.999, ``epsilon`` 1e-8, ``alpha`` 1e-4,
  batches of ``min(200, rows)``);
* an epoch's loss, and the stopping rule (training loss not better by ``tol`` for more than
  ``n_iter_no_change`` epochs: :class:`exemplar.models.stopping.StoppingRule`), are scikit-learn's.

On one process :func:`train` therefore reproduces ``MLPClassifier.fit`` (the tests check it to
rounding error). With an MPI communicator every rank computes the *sum* of its mini-batch's
per-row gradients, one ``Allreduce`` adds them (with the row counts and the loss), and every rank
divides by the global batch size and applies the same Adam step. That is the sequential run on the
union of the ranks' mini-batches: a global batch of ``n_ranks x batch_size`` rows. (Averaging the
ranks' *mean* gradients would count the L2 penalty once per rank; adding sums does not.)

The weights live in one flat vector (``coefs`` and ``intercepts`` are views into it, in
:func:`exemplar.models.sklearn_mlp.get_weights` order), so a step is one buffer collective and one vector update.
Its dtype is the features' (float64, or float32 as scikit-learn keeps float32 inputs): float32
training halves the bytes of every ``Allreduce``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils import shuffle as _shuffle

from exemplar.models.stopping import StoppingRule
from exemplar.models.timing import RoundTimer

#: ``MLPClassifier`` parameters :func:`train` understands, with scikit-learn's defaults.
DEFAULTS = {
    "alpha": 1e-4,
    "batch_size": "auto",
    "learning_rate_init": 1e-3,
    "beta_1": 0.9,
    "beta_2": 0.999,
    "epsilon": 1e-8,
    "shuffle": True,
    "tol": 1e-4,
    "n_iter_no_change": 10,
}

#: ``MLPClassifier`` parameters accepted only at the value this module implements.
FIXED = {"solver": "adam", "activation": "relu", "early_stopping": False}


def check_params(params: dict) -> dict:
    """``DEFAULTS`` updated by ``params``; raise ``ValueError`` for anything this MLP does not implement."""
    params = dict(params or {})
    for key, value in FIXED.items():
        if key in params:
            given = params.pop(key)
            if given != value:
                raise ValueError(f"the numpy MLP implements only {key}={value!r}; got {key}={given!r}")
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(
            f"the numpy MLP does not implement the MLPClassifier parameter(s) {', '.join(unknown)}; "
            f"it accepts {', '.join(sorted(DEFAULTS))} (and {', '.join(f'{k}={v!r}' for k, v in FIXED.items())})"
        )
    out = {**DEFAULTS, **params}
    bs = out["batch_size"]
    if bs != "auto" and not (isinstance(bs, (int, np.integer)) and not isinstance(bs, bool) and bs >= 1):
        raise ValueError(f"batch_size must be 'auto' or a positive integer; got {bs!r}")
    return out


class NumpyMLP:
    """A fully connected ReLU network with a softmax output, weights in one flat vector.

    Parameters
    ----------
    layer_units : sequence of int
        Units per layer, inputs first and classes last, e.g. ``(784, 85, 10)``.
    random_state : int or RandomState
        Drawn from exactly as ``MLPClassifier`` draws its initial weights. The same stream is
        kept in ``random_state_`` for the epochs' shuffles.
    alpha, learning_rate_init, beta_1, beta_2, epsilon : float
        L2 penalty and Adam's settings, as ``MLPClassifier``'s.
    dtype : {float64, float32}
        Type of the weights, Adam's state and the gradient (scikit-learn draws the initial
        weights in float64 and casts them, as here).
    """

    def __init__(self, layer_units: Sequence[int], random_state=None, alpha: float = 1e-4,
                 learning_rate_init: float = 1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, dtype=np.float64):
        units = [int(u) for u in layer_units]
        if len(units) < 2 or min(units) < 1:
            raise ValueError(f"layer_units must list at least two positive sizes; got {layer_units!r}")
        self.layer_units = units
        self.alpha, self.learning_rate_init = float(alpha), float(learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.random_state_ = check_random_state(random_state)
        pairs = list(zip(units[:-1], units[1:]))
        n_coef = sum(a * b for a, b in pairs)
        self.n_params = n_coef + sum(b for _, b in pairs)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float64, np.float32):
            raise ValueError(f"dtype must be float64 or float32; got {dtype!r}")
        self.params = np.empty(self.n_params, dtype=self.dtype)
        self.coefs, self.intercepts, self._coef_slices = [], [], []
        offsets = np.cumsum([0] + [a * b for a, b in pairs] + [b for _, b in pairs])
        for i, (a, b) in enumerate(pairs):
            self.coefs.append(self.params[offsets[i]:offsets[i + 1]].reshape(a, b))
            self._coef_slices.append(slice(offsets[i], offsets[i + 1]))
        for i, (_, b) in enumerate(pairs):
            j = len(pairs) + i
            self.intercepts.append(self.params[offsets[j]:offsets[j + 1]])
        self.n_coef = n_coef
        # scikit-learn's _init_coef, layer by layer: coefficients, then intercepts
        for coef, intercept, (a, b) in zip(self.coefs, self.intercepts, pairs):
            bound = np.sqrt(6.0 / (a + b))
            coef[...] = self.random_state_.uniform(-bound, bound, (a, b))
            intercept[...] = self.random_state_.uniform(-bound, bound, b)
        # Adam's state
        self.t = 0
        self.ms = np.zeros(self.n_params, dtype=self.dtype)
        self.vs = np.zeros(self.n_params, dtype=self.dtype)
        self._grad = np.empty(self.n_params, dtype=self.dtype)

    # ------------------------------------------------------------------ forward and backward
    def _forward(self, X: np.ndarray) -> list[np.ndarray]:
        activations = [X]
        last = len(self.coefs) - 1
        for i, (W, b) in enumerate(zip(self.coefs, self.intercepts)):
            a = activations[-1] @ W
            a += b
            if i != last:
                np.maximum(a, 0, out=a)  # relu
            else:  # softmax, as scikit-learn's inplace_softmax
                tmp = a - a.max(axis=1)[:, np.newaxis]
                np.exp(tmp, out=a)
                a /= a.sum(axis=1)[:, np.newaxis]
            activations.append(a)
        return activations

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self._forward(np.asarray(X, dtype=self.dtype))[-1]

    def loss_grad_sum(self, X: np.ndarray, Y: np.ndarray, out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Sum over the rows of ``(X, Y)`` of the data loss and of its gradient (no L2 term, no division).

        ``Y`` is one-hot (rows × classes). The gradient goes into ``out`` (a flat vector of
        ``n_params``, default: an internal buffer) in :func:`exemplar.models.sklearn_mlp.get_weights` order. An
        empty batch gives zero loss and a zero gradient.
        """
        grad = self._grad if out is None else out
        if X.shape[0] == 0:
            grad[: self.n_params] = 0.0
            return 0.0, grad
        acts = self._forward(X)
        prob = acts[-1]
        eps = np.finfo(prob.dtype).eps
        clipped = np.clip(prob, eps, 1 - eps)
        loss_sum = float(-np.sum(Y * np.log(clipped), where=Y > 0))
        delta = prob - Y
        n_layers = len(self.coefs)
        for i in range(n_layers - 1, -1, -1):
            grad[self._coef_slices[i]] = (acts[i].T @ delta).ravel()
            j = self.n_coef + sum(self.layer_units[1:i + 1])
            grad[j:j + self.layer_units[i + 1]] = delta.sum(axis=0)
            if i:
                delta = delta @ self.coefs[i].T
                delta[acts[i] == 0] = 0  # relu's derivative, as scikit-learn's inplace_relu_derivative
        return loss_sum, grad

    def l2_sum(self) -> float:
        """``sum of squared coefficients`` (intercepts are not penalised), as scikit-learn's."""
        values = 0.0
        for W in self.coefs:
            s = W.ravel()
            values += np.dot(s, s)
        return float(values)

    def apply(self, grad_sum: np.ndarray, loss_sum: float, n_rows: float) -> float:
        """One Adam step from the summed gradient of ``n_rows`` rows; returns the batch loss.

        Adds the L2 term (``alpha * W`` to the coefficients' gradient, ``0.5 * alpha * ||W||^2`` to
        the loss), divides by ``n_rows`` and updates the weights in place, exactly as
        ``MLPClassifier``'s ``_backprop`` and ``AdamOptimizer`` do.
        """
        loss = (loss_sum + 0.5 * self.alpha * self.l2_sum()) / n_rows
        grad = grad_sum[: self.n_params]
        grad[: self.n_coef] += self.alpha * self.params[: self.n_coef]
        grad /= n_rows
        self.t += 1
        self.ms = self.beta_1 * self.ms + (1 - self.beta_1) * grad
        self.vs = self.beta_2 * self.vs + (1 - self.beta_2) * (grad**2)
        lr = self.learning_rate_init * np.sqrt(1 - self.beta_2**self.t) / (1 - self.beta_1**self.t)
        # as scikit-learn: the update is formed in float64 (lr is a float64 scalar) and added in place
        self.params += -lr * self.ms / (np.sqrt(self.vs) + self.epsilon)
        return loss

    def weights(self) -> list[np.ndarray]:
        """Copies of the weights, coefficients then intercepts (:func:`exemplar.models.sklearn_mlp.get_weights` order)."""
        return [np.array(w, copy=True) for w in (*self.coefs, *self.intercepts)]


@dataclass
class TrainResult:
    """What :func:`train` did.

    ``comm_rounds`` counts the gradient ``Allreduce`` calls (one per step), ``comm_bytes`` is the
    bytes of the buffer each rank contributes per call times the calls, ``comm_seconds`` the
    wall time this rank spent inside them (waiting for slower ranks included). All zero without
    a communicator. ``cpu_seconds`` is this thread's CPU time computing (the ``Allreduce`` calls
    excluded); with a communicator, ``round_cpu_seconds`` and ``round_comm_seconds`` split it and
    the time inside the calls by round (:class:`exemplar.models.timing.RoundTimer`).
    """

    net: NumpyMLP
    n_iter: int
    loss_curve: list[float]
    seconds: float
    steps: int
    global_batch: int
    comm_rounds: int = 0
    comm_bytes: int = 0
    comm_seconds: float = 0.0
    extra: dict = field(default_factory=dict)
    cpu_seconds: float = float("nan")
    round_cpu_seconds: list = field(default_factory=list)
    round_comm_seconds: list = field(default_factory=list)


def one_hot(y: np.ndarray, classes: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Rows of ``y`` as one-hot vectors over ``classes`` (labels outside ``classes`` refused)."""
    classes = np.asarray(classes)
    idx = np.searchsorted(classes, y)
    if np.any(idx >= len(classes)) or np.any(classes[np.minimum(idx, len(classes) - 1)] != y):
        raise ValueError(f"labels {sorted(set(np.unique(y)) - set(classes))} are not among the classes {classes}")
    Y = np.zeros((len(y), len(classes)), dtype=dtype)
    Y[np.arange(len(y)), idx] = 1.0
    return Y


def train(X: np.ndarray, y: np.ndarray, hidden: int | Sequence[int], epochs: int, random_state,
          classes: np.ndarray | None = None, comm=None, on_epoch: Callable | None = None, **params) -> TrainResult:
    """Train by mini-batch Adam; with ``comm``, synchronously data-parallel over its ranks.

    Parameters
    ----------
    X, y : ndarray
        This rank's rows (float64 or float32 features, integer labels). Ranks may hold different
        numbers. The network trains in the features' dtype (other types become float64); all
        ranks must use the same.
    hidden : int or sequence of int
        Hidden layer sizes.
    epochs : int
        At most this many epochs (``max_iter``).
    random_state : int or RandomState
        Initial weights and shuffles, as ``MLPClassifier``'s ``random_state``. Give every rank the
        same value: the ranks then start from the same weights and stay identical.
    classes : ndarray, optional
        All classes (default: those in ``y``); must be the same on every rank.
    comm : mpi4py communicator, optional
        ``None``: one process (reproduces ``MLPClassifier.fit``). Otherwise every rank of ``comm``
        must call this together.
    on_epoch : callable, optional
        Called after every epoch as ``on_epoch(epoch, net, loss)``: the epoch's number (1 for the
        first), the :class:`NumpyMLP` as that epoch left it, and the epoch's training loss (the
        global one, with ``comm``). To follow training (e.g. the test accuracy per epoch) without
        replaying it; it must not modify ``net``. Its return value is ignored.
    **params
        ``MLPClassifier`` parameters of :data:`DEFAULTS`. ``batch_size`` is **per rank**;
        ``"auto"`` means ``min(200, largest rank's rows)``. Each epoch has as many steps as the
        largest rank has batches; a rank out of rows contributes an empty batch.

    Returns
    -------
    TrainResult
    """
    p = check_params(params)
    if on_epoch is not None and not callable(on_epoch):
        raise ValueError(f"on_epoch must be a callable on_epoch(epoch, net, loss) or None; got {on_epoch!r}")
    X = np.asarray(X)
    if X.dtype not in (np.float64, np.float32):
        X = X.astype(np.float64)
    y = np.asarray(y)
    classes = np.unique(y) if classes is None else np.asarray(classes)
    Y = one_hot(y, classes, dtype=X.dtype)
    hidden = [int(hidden)] if np.isscalar(hidden) else [int(h) for h in hidden]
    net = NumpyMLP([X.shape[1], *hidden, len(classes)], random_state, alpha=p["alpha"],
                   learning_rate_init=p["learning_rate_init"], beta_1=p["beta_1"], beta_2=p["beta_2"],
                   epsilon=p["epsilon"], dtype=X.dtype)
    t_start = time.perf_counter()
    plan = _plan(X.shape[0], p["batch_size"], comm)
    # buffer: summed gradient, summed loss, rows in the batch
    buf = np.empty(net.n_params + 2, dtype=X.dtype)
    counters = {"rounds": 0, "comm_seconds": 0.0, "timer": RoundTimer()}
    loss_curve: list[float] = []
    rule = StoppingRule(p["tol"], p["n_iter_no_change"])
    sample_idx = np.arange(X.shape[0])
    n_iter = 0
    for _ in range(int(epochs)):
        if p["shuffle"]:
            sample_idx = _shuffle(sample_idx, random_state=net.random_state_)
        loss = _epoch(net, X, Y, sample_idx, plan, buf, comm, counters)
        n_iter += 1
        loss_curve.append(loss)
        if on_epoch is not None:
            on_epoch(n_iter, net, loss)
        # scikit-learn's rule on the training loss (identical on every rank: it is a global number)
        if rule.update(loss):
            break
    seconds = time.perf_counter() - t_start
    timer = counters["timer"]
    timer.finish()
    return TrainResult(net=net, n_iter=n_iter, loss_curve=loss_curve, seconds=seconds,
                       steps=n_iter * plan["steps_per_epoch"], global_batch=plan["batch"] * plan["n_ranks"],
                       comm_rounds=counters["rounds"], comm_bytes=counters["rounds"] * buf.nbytes,
                       comm_seconds=counters["comm_seconds"],
                       extra={"batch_size": plan["batch"], "steps_per_epoch": plan["steps_per_epoch"]},
                       cpu_seconds=timer.total, round_cpu_seconds=timer.cpu, round_comm_seconds=timer.comm)


def _plan(n_local: int, batch_size, comm) -> dict:
    """Rows of the largest rank and of all ranks, ranks, rows per batch and steps per epoch."""
    if comm is not None:
        from mpi4py import MPI

        n_max = int(comm.allreduce(n_local, op=MPI.MAX))  # set-up, not counted as a round
        n_total = int(comm.allreduce(n_local, op=MPI.SUM))
        n_ranks = comm.Get_size()
    else:
        n_max = n_total = n_local
        n_ranks = 1
    if n_max < 1:
        raise ValueError("no training rows")
    batch = min(200, n_max) if batch_size == "auto" else int(np.clip(batch_size, 1, n_max))
    return {"n_local": n_local, "n_max": n_max, "n_total": n_total, "n_ranks": n_ranks, "batch": batch,
            "steps_per_epoch": -(-n_max // batch)}


def _epoch(net: NumpyMLP, X: np.ndarray, Y: np.ndarray, sample_idx: np.ndarray, plan: dict, buf: np.ndarray,
           comm, counters: dict) -> float:
    """One epoch of steps over the rows in ``sample_idx`` order; returns the epoch's (global) training loss."""
    if comm is not None:
        from mpi4py import MPI
    n_local = plan["n_local"]
    batches = list(gen_batches(n_local, plan["batch"])) if n_local else []
    accumulated = 0.0
    for s in range(plan["steps_per_epoch"]):
        if s < len(batches):
            idx = sample_idx[batches[s]]
            loss_sum, _ = net.loss_grad_sum(X[idx], Y[idx], out=buf)
            rows = len(idx)
        else:
            buf[: net.n_params] = 0.0
            loss_sum, rows = 0.0, 0
        buf[net.n_params] = loss_sum
        buf[net.n_params + 1] = rows
        if comm is not None:
            counters["timer"].enter()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            seconds = time.perf_counter() - t0
            counters["timer"].leave(seconds)
            counters["comm_seconds"] += seconds
            counters["rounds"] += 1
        n_rows = buf[net.n_params + 1]
        if n_rows == 0:
            continue
        batch_loss = net.apply(buf, buf[net.n_params], n_rows)
        accumulated += batch_loss * n_rows
    return accumulated / plan["n_total"]
