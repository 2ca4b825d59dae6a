"""The fast trainer: scikit-learn's ``MLPClassifier`` network and training, in numpy, near the GEMM limit.

Why not scikit-learn itself? ``MLPClassifier`` computes the gradient of a mini-batch and applies
Adam's update in one private loop; there is no public hook between the two where engines could
average their gradients, and the loop spends almost half its time outside the matrix products
(Adam's update formed in new arrays, every batch's rows copied into a new array, activations).
This module re-implements exactly the pieces that loop uses, for the configuration the report
trains (``solver="adam"``, ``activation="relu"``, softmax output, ``loss="log_loss"``, no
validation-based early stopping):

* the initial weights are scikit-learn's (:func:`~exemplar.models.sklearn_mlp.initial_weights`), drawn
  from ``RandomState(random_state)``, the stream that then shuffles the rows every epoch;
* a step computes, per layer, ``(activations.T @ deltas + alpha * W) / batch_rows`` and
  ``sum(deltas) / batch_rows`` (``alpha`` 1e-4, batches of ``min(200, rows)``), and scikit-learn's
  Adam update (:class:`exemplar.models.optim.Adam`, with its defaults);
* an epoch's loss, and the stopping rule (training loss not better by ``tol`` for more than
  ``n_iter_no_change`` epochs: :class:`exemplar.models.stopping.StoppingRule`), are scikit-learn's.

**Equal to scikit-learn.** In float64 :func:`train` on one process performs the same floating-point
operations in the same order as ``MLPClassifier.fit``, so the weights agree to rounding error
(``tests/test_models_fast.py`` holds them within ``rtol=1e-9``; on MNIST they come out bit for bit
equal). Only the epoch loss is summed in another order (within 1e-12 relative).

**Fast.** Every buffer is allocated once per fit (activations, deltas and relu masks of a batch,
the gradient, Adam's moments, scratch vectors). Each batch's rows are gathered into one array;
raw pixels stay ``uint8`` and are converted (and scaled) per batch, an eighth of the bytes of
float64 rows. Products write into their buffers (``out=``), Adam and the L2 term update in place.
In float32 everything is float32, the update included, and output probabilities below float32's
smallest normal number are flushed to zero (on raw pixels such subnormal numbers slow every product).

Handed collectives (:class:`exemplar.parallel.collectives.Collectives`; this module never calls
MPI itself) every rank computes the *sum* of its mini-batch's per-row gradients, one ``Allreduce``
adds them (with the row counts and the loss), and every rank divides by the global batch size and
applies the same Adam step. That is the sequential run on the union of the ranks' mini-batches: a
global batch of ``n_ranks x batch_size`` rows. (Averaging the ranks' *mean* gradients would count
the L2 penalty once per rank; adding sums does not.)

The weights live in one flat vector (``coefs`` and ``intercepts`` are views into it, in
:func:`exemplar.models.sklearn_mlp.get_weights` order), so a step is one buffer collective and
one vector update. :class:`NumpyEpochs` is the fast trainer behind the epoch-trainer interface
(:mod:`exemplar.models.epochs`) that every strategy drives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from sklearn.utils import check_random_state, gen_batches

from exemplar.models.optim import ADAM_DEFAULTS, Adam
from exemplar.models.sklearn_mlp import initial_weights
from exemplar.models.stopping import StoppingRule
from exemplar.models.timing import RoundTimer
from exemplar.validation import check_dtype, check_positive_int

#: ``MLPClassifier`` parameters :func:`train` understands, with scikit-learn's defaults.
DEFAULTS = {
    "alpha": 1e-4,
    "batch_size": "auto",
    **ADAM_DEFAULTS,
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
    if out["batch_size"] != "auto":
        check_positive_int("batch_size ('auto' or an integer)", out["batch_size"])
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
    alpha : float
        L2 penalty, as ``MLPClassifier``'s.
    dtype : {float64, float32}
        Type of the weights, Adam's state, the gradient and every intermediate (scikit-learn draws
        the initial weights in float64 and casts them, as here).
    **adam
        Adam's settings, ``learning_rate_init``, ``beta_1``, ``beta_2``, ``epsilon``
        (:class:`exemplar.models.optim.Adam`, kept in ``adam``; default scikit-learn's).
    """

    def __init__(self, layer_units: Sequence[int], random_state=None, alpha: float = 1e-4, dtype=np.float64,
                 **adam):
        units = [int(u) for u in layer_units]
        if len(units) < 2 or min(units) < 1:
            raise ValueError(f"layer_units must list at least two positive sizes; got {layer_units!r}")
        self.layer_units = units
        self.alpha = float(alpha)
        self.random_state_ = check_random_state(random_state)
        self.dtype = np.dtype(check_dtype(dtype))
        pairs = list(zip(units[:-1], units[1:]))
        self.n_coef = sum(a * b for a, b in pairs)
        self.n_params = self.n_coef + sum(b for _, b in pairs)
        self.params = np.empty(self.n_params, dtype=self.dtype)
        self._grad = np.empty(self.n_params, dtype=self.dtype)
        self.coefs, self.intercepts = weight_views(self.params, pairs)
        self._gcoefs, self._gintercepts = weight_views(self._grad, pairs)
        coefs, intercepts = initial_weights(self.random_state_, units)  # drawn in float64, cast here
        for dst, src in zip((*self.coefs, *self.intercepts), (*coefs, *intercepts)):
            dst[...] = src
        self.adam = Adam(self.n_params, self.dtype, **adam)
        self._l2 = np.empty(self.n_coef, dtype=self.dtype)  # scratch for the L2 term
        self._rows = 0  # rows the batch workspace holds

    # ------------------------------------------------------------------ buffers
    def _workspace(self, rows: int) -> None:
        """Allocate the per-batch buffers for up to ``rows`` rows (once per fit: only when more are needed)."""
        if rows <= self._rows:
            return
        self._acts = [np.empty((rows, u), dtype=self.dtype) for u in self.layer_units[1:]]
        self._deltas = [np.empty((rows, u), dtype=self.dtype) for u in self.layer_units[1:-1]]
        self._masks = [np.empty((rows, u), dtype=bool) for u in self.layer_units[1:-1]]
        self._arange = np.arange(rows)
        self._rows = rows

    def buffers(self) -> list[np.ndarray]:
        """The per-batch buffers a fit reuses (activations, deltas, relu masks; empty before the first batch)."""
        return [*self._acts, *self._deltas, *self._masks] if self._rows else []

    # ------------------------------------------------------------------ forward and backward
    def _forward(self, X: np.ndarray) -> list[np.ndarray]:
        """The activations of ``X``'s rows, every layer's in the workspace (valid until the next batch)."""
        n = X.shape[0]
        self._workspace(n)
        activations = [X]
        last = len(self.coefs) - 1
        for i, (W, b) in enumerate(zip(self.coefs, self.intercepts)):
            a = self._acts[i][:n]
            np.matmul(activations[-1], W, out=a)
            a += b
            if i != last:
                np.maximum(a, 0, out=a)  # relu
            else:  # softmax, as scikit-learn's inplace_softmax
                a -= a.max(axis=1)[:, np.newaxis]
                np.exp(a, out=a)
                a /= a.sum(axis=1)[:, np.newaxis]
                if self.dtype == np.float32:  # flush to zero what would be a subnormal number
                    a[a < np.finfo(np.float32).tiny] = 0.0
            activations.append(a)
        return activations

    def predict_proba(self, X: np.ndarray, batch_rows: int = 2000) -> np.ndarray:
        """Class probabilities of ``X``'s rows (computed ``batch_rows`` at a time)."""
        X = np.asarray(X)
        out = np.empty((X.shape[0], self.layer_units[-1]), dtype=self.dtype)
        for start in range(0, X.shape[0], batch_rows):
            out[start:start + batch_rows] = self._forward(np.asarray(X[start:start + batch_rows], dtype=self.dtype))[-1]
        return out

    def loss_grad_sum(self, X: np.ndarray, Y: np.ndarray, out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Sum over the rows of ``(X, Y)`` of the data loss and of its gradient (no L2 term, no division).

        ``X`` holds the batch's features in the network's dtype; ``Y`` its labels as class
        indices (``0 .. classes - 1``), or one-hot rows. The gradient goes into ``out`` (a flat
        vector of at least ``n_params``, default: an internal buffer) in
        :func:`exemplar.models.sklearn_mlp.get_weights` order. An empty batch gives zero loss and
        a zero gradient.
        """
        grad = self._grad if out is None else out[: self.n_params]
        gcoefs, gints = (self._gcoefs, self._gintercepts) if out is None else self._views_of(grad)
        n = X.shape[0]
        if n == 0:
            grad[...] = 0.0
            return 0.0, grad
        labels = np.asarray(Y)
        if labels.ndim == 2:
            labels = labels.argmax(axis=1)
        acts = self._forward(X)
        prob = acts[-1]
        rows = self._arange[:n]
        eps = np.finfo(self.dtype).eps
        loss_sum = float(-np.log(np.clip(prob[rows, labels], eps, 1 - eps)).sum())
        prob[rows, labels] -= 1  # the output's delta, in place of the probabilities
        delta = prob
        for i in range(len(self.coefs) - 1, -1, -1):
            np.matmul(acts[i].T, delta, out=gcoefs[i])
            np.sum(delta, axis=0, out=gints[i])
            if i:
                below = self._deltas[i - 1][:n]
                np.matmul(delta, self.coefs[i].T, out=below)
                mask = self._masks[i - 1][:n]
                np.equal(acts[i], 0, out=mask)
                np.copyto(below, 0, where=mask)  # relu's derivative, as scikit-learn's inplace_relu_derivative
                delta = below
        return loss_sum, grad

    def _views_of(self, grad: np.ndarray):
        """Per-layer views into a caller's gradient vector (made once per buffer)."""
        key = (grad.__array_interface__["data"][0], grad.dtype.str)
        if getattr(self, "_out_key", None) != key:
            self._out_key = key
            self._out_views = weight_views(grad, list(zip(self.layer_units[:-1], self.layer_units[1:])))
        return self._out_views

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
        the loss), divides by ``n_rows`` and takes one step of :attr:`adam` in place (``grad_sum`` is
        used up: it ends holding the update), with scikit-learn's ``_backprop`` formulas, operation for
        operation (in float64 the same roundings).
        """
        loss = (loss_sum + 0.5 * self.alpha * self.l2_sum()) / n_rows
        grad = grad_sum[: self.n_params]
        nc = self.n_coef
        np.multiply(self.params[:nc], self.alpha, out=self._l2)
        grad[:nc] += self._l2
        grad /= n_rows
        self.adam.update(self.params, grad)
        return float(loss)

    def weights(self) -> list[np.ndarray]:
        """Copies of the weights, coefficients then intercepts (:func:`exemplar.models.sklearn_mlp.get_weights` order)."""
        return [np.array(w, copy=True) for w in (*self.coefs, *self.intercepts)]


def weight_views(vector: np.ndarray, pairs: list[tuple[int, int]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The coefficient matrices and intercept vectors of layers ``pairs`` (``(fan_in, fan_out)``) as views into
    one flat vector, in :func:`~exemplar.models.sklearn_mlp.get_weights` order."""
    offsets = np.cumsum([0] + [a * b for a, b in pairs] + [b for _, b in pairs])
    coefs = [vector[offsets[i]:offsets[i + 1]].reshape(a, b) for i, (a, b) in enumerate(pairs)]
    n = len(pairs)
    intercepts = [vector[offsets[n + i]:offsets[n + i + 1]] for i in range(n)]
    return coefs, intercepts


class Batches:
    """Mini-batches of one rank's rows, gathered into one preallocated array in the training dtype.

    ``X`` may be the training features themselves (float64 or float32, in the training dtype),
    or raw integer pixels (e.g. ``uint8``): these stay as they are in memory and each batch is
    converted (and divided by ``scale``, if given) as it is gathered, the same operations
    ``X.astype(dtype) / dtype(scale)`` would apply to the whole array.
    """

    def __init__(self, X: np.ndarray, labels: np.ndarray, rows: int, dtype, scale: float | None = None):
        self.X, self.labels, self.dtype = X, labels, np.dtype(dtype)
        self.integer = np.issubdtype(X.dtype, np.integer)
        if not self.integer and X.dtype != self.dtype:
            raise ValueError(f"features of dtype {X.dtype} cannot train in {self.dtype}; convert them first")
        if scale is not None and not self.integer:
            raise ValueError("scale applies to integer pixels only; scale float features before training")
        self.scale = None if scale is None else self.dtype.type(scale)
        self.xb = np.empty((max(rows, 1), X.shape[1]), dtype=self.dtype)
        self.yb = np.empty(max(rows, 1), dtype=np.intp)

    def take(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows ``idx`` (features, labels) as views into the batch buffers."""
        n = len(idx)
        xb, yb = self.xb[:n], self.yb[:n]
        if self.integer:
            xb[...] = self.X[idx]  # uint8 rows gathered and converted in one step
            if self.scale is not None:
                np.divide(xb, self.scale, out=xb)
        else:
            np.take(self.X, idx, axis=0, out=xb)
        np.take(self.labels, idx, out=yb)
        return xb, yb


@dataclass
class TrainResult:
    """What :func:`train` did.

    ``comm_rounds`` counts the gradient ``Allreduce`` calls (one per step), ``comm_bytes`` is the
    bytes of the buffer each rank contributes per call times the calls, ``comm_seconds`` the
    wall time this rank spent inside them (waiting for slower ranks included). All zero without
    collectives. ``cpu_seconds`` is this thread's CPU time computing (the ``Allreduce`` calls
    excluded); with collectives, ``round_cpu_seconds`` and ``round_comm_seconds`` split it and
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


def class_indices(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Each label's index in ``classes`` (labels outside ``classes`` refused)."""
    classes = np.asarray(classes)
    idx = np.searchsorted(classes, y)
    if np.any(idx >= len(classes)) or np.any(classes[np.minimum(idx, len(classes) - 1)] != y):
        raise ValueError(f"labels {sorted(set(np.unique(y)) - set(classes))} are not among the classes {classes}")
    return idx


def training_dtype(X: np.ndarray, dtype=None) -> np.dtype:
    """The dtype a fit on ``X`` trains in: ``dtype`` if given, else the features' (float32 stays float32), else float64."""
    if dtype is not None:
        return np.dtype(check_dtype(dtype))
    return X.dtype if X.dtype in (np.float64, np.float32) else np.dtype(np.float64)


class NumpyEpochs:
    """One rank's fit with the fast trainer, an epoch at a time (an epoch trainer of :mod:`exemplar.models.epochs`).

    Holds the network, its rows, the shuffle stream and the buffers. Parameters are those of
    :func:`train`; ``epoch()`` runs one epoch (with ``collectives``, together with every other rank,
    one gradient ``Allreduce`` per step) and returns its training loss (the global one, with
    ``collectives``); ``weights()`` and ``set_weights()`` read and write the network's weights;
    ``stopping`` is scikit-learn's rule with this fit's ``tol`` and ``n_iter_no_change``.

    ``global_batch`` (with ``collectives``) holds the rows of a step *in all* at that number instead of
    ``batch_size`` per rank: each step every rank takes its share of it from its own shuffled rows
    (``global_batch // ranks`` rows, one more on the first ``global_batch % ranks`` ranks), and the
    update divides the summed gradient by the rows actually summed, as a sequential step on the
    union of those rows would (:func:`_plan`). Setting :attr:`collectives` to ``None`` later makes
    every step local (post-local SGD), with the same rows per step.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, hidden, random_state, classes=None, collectives=None,
                 dtype=None, scale: float | None = None, global_batch: int | None = None, **params):
        p = check_params(params)
        self.mlp_params = p
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array of rows; got shape {X.shape}")
        self.dtype = training_dtype(X, dtype)
        if not np.issubdtype(X.dtype, np.integer) and X.dtype != self.dtype:
            X = X.astype(self.dtype)
        y = np.asarray(y)
        self.classes = np.unique(y) if classes is None else np.asarray(classes)
        labels = class_indices(y, self.classes)
        hidden = [int(hidden)] if np.isscalar(hidden) else [int(h) for h in hidden]
        self.net = NumpyMLP([X.shape[1], *hidden, len(self.classes)], random_state, alpha=p["alpha"],
                            dtype=self.dtype, **{k: p[k] for k in ADAM_DEFAULTS})
        self.stopping = StoppingRule(p["tol"], p["n_iter_no_change"])
        self.collectives = collectives
        self.plan = _plan(X.shape[0], p["batch_size"], collectives, global_batch)
        self.batches = Batches(X, labels, self.plan["batch"], self.dtype, scale)
        self.net._workspace(self.plan["batch"])
        # buffer: summed gradient, summed loss, rows in the batch
        self.buf = np.empty(self.net.n_params + 2, dtype=self.dtype)
        self.order = np.arange(X.shape[0])
        self.timer = RoundTimer()

    def weights(self) -> list[np.ndarray]:
        """Copies of the network's weights (:meth:`NumpyMLP.weights`)."""
        return self.net.weights()

    def set_weights(self, weights) -> None:
        """Set the network's weights, in place (``get_weights`` order); Adam's state stays."""
        for dst, src in zip((*self.net.coefs, *self.net.intercepts), weights):
            dst[...] = src

    def epoch(self) -> float:
        """One epoch of steps over this rank's rows in a new shuffled order; returns the epoch's training loss."""
        net, plan, buf = self.net, self.plan, self.buf
        if self.mlp_params["shuffle"]:
            # sklearn.utils.shuffle(order, random_state) without its checks: the same draw from the same stream
            perm = np.arange(len(self.order))
            net.random_state_.shuffle(perm)
            self.order = self.order[perm]
        batches = list(gen_batches(plan["n_local"], plan["batch"])) if plan["n_local"] else []
        n_params = net.n_params
        accumulated = 0.0
        for s in range(plan["steps_per_epoch"]):
            if s < len(batches):
                xb, yb = self.batches.take(self.order[batches[s]])
                loss_sum, _ = net.loss_grad_sum(xb, yb, out=buf)
                rows = xb.shape[0]
            else:
                buf[:n_params] = 0.0
                loss_sum, rows = 0.0, 0
            if self.collectives is None:
                if rows:
                    accumulated += net.apply(buf, loss_sum, rows) * rows
                continue
            buf[n_params] = loss_sum
            buf[n_params + 1] = rows
            self.collectives.allreduce(buf, timer=self.timer)
            n_rows = buf[n_params + 1]
            if n_rows:
                accumulated += net.apply(buf, buf[n_params], n_rows) * n_rows
        return accumulated / plan["n_total"]


def train(X: np.ndarray, y: np.ndarray, hidden: int | Sequence[int], epochs: int, random_state,
          classes: np.ndarray | None = None, collectives=None, on_epoch: Callable | None = None, dtype=None,
          scale: float | None = None, global_batch: int | None = None, **params) -> TrainResult:
    """Train by mini-batch Adam; with ``collectives``, synchronously data-parallel over its ranks.

    Parameters
    ----------
    X, y : ndarray
        This rank's rows (features, integer labels). Ranks may hold different numbers. Features
        are float64 or float32, or raw integer pixels (``uint8``), which are converted per batch
        (and divided by ``scale``, if given) and never held as floats in full.
    hidden : int or sequence of int
        Hidden layer sizes.
    epochs : int
        At most this many epochs (``max_iter``).
    random_state : int or RandomState
        Initial weights and shuffles, as ``MLPClassifier``'s ``random_state``. Give every rank the
        same value: the ranks then start from the same weights and stay identical.
    classes : ndarray, optional
        All classes (default: those in ``y``); must be the same on every rank.
    collectives : exemplar.parallel.collectives.Collectives, optional
        ``None``: one process (reproduces ``MLPClassifier.fit``). Otherwise every rank of its
        communicator must call this together; each step's gradients are added by its counted
        ``allreduce`` (set-up sums by ``allreduce_value``).
    on_epoch : callable, optional
        Called after every epoch as ``on_epoch(epoch, net, loss)``: the epoch's number (1 for the
        first), the :class:`NumpyMLP` as that epoch left it, and the epoch's training loss (the
        global one, with ``collectives``). To follow training (e.g. the test accuracy per epoch)
        without replaying it; it must not modify ``net``. Its return value is ignored.
    dtype : {None, "float64", "float32"}
        The training dtype (default: the features', float64 for integer pixels).
    scale : float, optional
        Divide integer pixels by this (255 for pixels / 255).
    global_batch : int, optional
        With ``collectives``: the rows of a step in all ranks together, split over them
        (:class:`NumpyEpochs`); ``None``: ``batch_size`` rows per rank.
    **params
        ``MLPClassifier`` parameters of :data:`DEFAULTS`. ``batch_size`` is **per rank**;
        ``"auto"`` means ``min(200, largest rank's rows)``. Each epoch has as many steps as the
        largest rank has batches; a rank out of rows contributes an empty batch.

    Returns
    -------
    TrainResult
        Its ``comm_*`` counters are what this fit added to ``collectives``' counters.
    """
    if on_epoch is not None and not callable(on_epoch):
        raise ValueError(f"on_epoch must be a callable on_epoch(epoch, net, loss) or None; got {on_epoch!r}")
    t_start = time.perf_counter()
    before = (0, 0, 0.0) if collectives is None else collectives.counters()
    fit = NumpyEpochs(X, y, hidden, random_state, classes=classes, collectives=collectives, dtype=dtype,
                      scale=scale, global_batch=global_batch, **params)
    loss_curve: list[float] = []
    for _ in range(int(epochs)):
        loss = fit.epoch()
        loss_curve.append(loss)
        if on_epoch is not None:
            on_epoch(len(loss_curve), fit.net, loss)
        # scikit-learn's rule on the training loss (identical on every rank: it is a global number)
        if fit.stopping.update(loss):
            break
    seconds = time.perf_counter() - t_start
    timer, plan, n_iter = fit.timer, fit.plan, len(loss_curve)
    timer.finish()
    after = (0, 0, 0.0) if collectives is None else collectives.counters()
    rounds, nbytes, comm_seconds = (a - b for a, b in zip(after, before))
    return TrainResult(net=fit.net, n_iter=n_iter, loss_curve=loss_curve, seconds=seconds,
                       steps=n_iter * plan["steps_per_epoch"], global_batch=plan["global"],
                       comm_rounds=rounds, comm_bytes=nbytes, comm_seconds=comm_seconds,
                       extra={"batch_size": plan["batch"], "steps_per_epoch": plan["steps_per_epoch"]},
                       cpu_seconds=timer.total, round_cpu_seconds=timer.cpu, round_comm_seconds=timer.comm)


def _plan(n_local: int, batch_size, collectives, global_batch: int | None = None) -> dict:
    """Rows of the largest rank and of all ranks, ranks, this rank's rows per step, the rows of a step in
    all (``global``) and steps per epoch (the largest rank's: a rank out of rows contributes empty batches).

    Per rank (``batch_size``, ``"auto"``: ``min(200, largest rank's rows)``) every rank takes that many
    rows a step. With ``global_batch`` the step's ``min(global_batch, all rows)`` rows are split over
    the ranks as evenly as they go, the first ranks taking one more where they do not divide.
    """
    if collectives is not None:
        n_max = int(collectives.allreduce_value(n_local, "max"))  # set-up, not counted as a round
        n_total = int(collectives.allreduce_value(n_local, "sum"))
        n_ranks, rank = collectives.size, collectives.rank
    else:
        n_max = n_total = n_local
        n_ranks, rank = 1, 0
    if n_max < 1:
        raise ValueError("no training rows")
    if global_batch is not None:
        total = min(check_positive_int("global_batch", global_batch), n_total)
        if total < n_ranks:
            raise ValueError(f"global_batch={global_batch} is smaller than the {n_ranks} ranks: every rank needs "
                             f"a row per step; use at least {n_ranks}")
        base, extra = divmod(total, n_ranks)
        batch = base + (1 if rank < extra else 0)
        mine = -(-n_local // batch) if n_local else 0
        steps = mine if collectives is None else int(collectives.allreduce_value(mine, "max"))
        return {"n_local": n_local, "n_max": n_max, "n_total": n_total, "n_ranks": n_ranks, "batch": batch,
                "global": total, "steps_per_epoch": steps}
    batch = min(200, n_max) if batch_size == "auto" else int(np.clip(batch_size, 1, n_max))
    return {"n_local": n_local, "n_max": n_max, "n_total": n_total, "n_ranks": n_ranks, "batch": batch,
            "global": batch * n_ranks, "steps_per_epoch": -(-n_max // batch)}
