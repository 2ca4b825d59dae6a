"""The distillation round of the combination methods: the mean network trained toward the ensemble.

Each network labels its own shard with the ensemble's probabilities (:func:`distillation_targets`),
mixed with the true labels by ``true_share`` (:func:`mixed_targets`; Hinton et al. 2015), a
:class:`Distiller` trains the common start toward them for a few epochs, and the students are
averaged again (:func:`distilled` in one process; :mod:`exemplar.parallel.combine` on the cluster,
where :func:`exemplar.parallel.rounds.extra_round` drives the :class:`Distiller`). Weight lists are
:mod:`exemplar.models.combination`'s: ``[W1 (d, h), W2 (h, c), b1 (h,), b2 (c,)]``.
"""

from __future__ import annotations

import numpy as np

from exemplar.models import sklearn_mlp
from exemplar.models.combination import (check_network, check_sets, copies, matched, mean, predict_proba, row_slices,
                                        softmax)
from exemplar.models.numpy_mlp import weight_views
from exemplar.models.optim import Adam
from exemplar.validation import check_interval, check_positive_int


def distillation_targets(weight_sets, sizes, X: np.ndarray) -> np.ndarray:
    """The ensemble's predicted probabilities on ``X``: the networks' ``predict_proba`` weighted by ``sizes``.

    The same as :class:`exemplar.models.wrappers.EnsembleModel` of the networks with these weights.
    """
    p = check_sets(weight_sets, sizes)
    return sum(pi * predict_proba(ws, X) for pi, ws in zip(p, weight_sets))


class Distiller:
    """Train a network toward soft targets, an epoch at a time (an epoch trainer of :mod:`exemplar.models.epochs`).

    Each epoch shuffles the rows by ``RandomState(seed)`` (``permutation``) and takes one Adam step
    (:class:`exemplar.models.optim.Adam`, scikit-learn's, fresh moments) per batch of ``batch_rows``
    on the mean cross-entropy to ``targets`` plus scikit-learn's L2 term ``alpha`` (0: none).
    Computed in float64 (the weights in one flat vector); ``weights()`` returns them in the start's
    dtype. There is no stopping rule (``stopping`` is ``None``) and ``epoch()`` returns ``nan``: the
    round runs a fixed number of epochs.

    Parameters
    ----------
    weights : list of ndarray
        The start, ``[W1, W2, b1, b2]``.
    X, targets : ndarray
        The rows ``(n, d)`` and their target probabilities ``(n, c)``.
    seed : int
        Of the shuffles.
    learning_rate, batch_rows, alpha
        Adam's ``learning_rate_init``, rows per step, L2 penalty.
    """

    stopping = None

    def __init__(self, weights, X: np.ndarray, targets: np.ndarray, seed: int = 0, learning_rate: float = 1e-3,
                 batch_rows: int = 200, alpha: float = 0.0):
        d, _, c = check_network(weights)
        self.X, self.T = np.asarray(X, dtype=np.float64), np.asarray(targets, dtype=np.float64)
        if self.X.ndim != 2 or self.X.shape[1] != d or self.T.shape != (self.X.shape[0], c) or self.X.shape[0] == 0:
            raise ValueError(f"expected X (n, {d}) and targets (n, {c}) with n >= 1; got {self.X.shape} and "
                             f"{self.T.shape}")
        self.batch_rows = check_positive_int("batch_rows", int(batch_rows))
        self.alpha, self.dtype = float(alpha), np.asarray(weights[0]).dtype
        pairs = [np.shape(weights[0]), np.shape(weights[1])]
        n = sum(np.size(w) for w in weights)
        self.flat, self.grad = np.empty(n), np.empty(n)
        # W1, W2, b1, b2 as views into the flat vectors Adam updates
        self.params, self.grads = sum(weight_views(self.flat, pairs), []), sum(weight_views(self.grad, pairs), [])
        self.set_weights(weights)
        self.adam = Adam(self.flat.size, np.float64, learning_rate_init=learning_rate)
        self.rng = np.random.RandomState(seed)

    def weights(self) -> list[np.ndarray]:
        """The weights, in the start's dtype (copies)."""
        return [p.astype(self.dtype) for p in self.params]

    def set_weights(self, weights) -> None:
        """Continue from ``weights`` (Adam's state stays)."""
        for p, w in zip(self.params, weights):
            p[...] = w

    def _gradient(self, X: np.ndarray, T: np.ndarray) -> None:
        """The mean gradient of the cross-entropy to soft targets ``T`` (+ the L2 term), into ``grads``."""
        W1, W2, b1, b2 = self.params
        n = X.shape[0]
        A = np.maximum(X @ W1 + b1, 0)
        D2 = (softmax(A @ W2 + b2) - T) / n
        D1 = (D2 @ W2.T) * (A > 0)
        g1, g2, gb1, gb2 = self.grads
        g1[...] = X.T @ D1 + self.alpha * W1 / n
        g2[...] = A.T @ D2 + self.alpha * W2 / n
        gb1[...] = D1.sum(axis=0)
        gb2[...] = D2.sum(axis=0)

    def epoch(self) -> float:
        """One epoch of Adam steps over the rows in a new shuffled order (no loss computed: ``nan``)."""
        order = self.rng.permutation(self.X.shape[0])
        for rows in row_slices(self.X.shape[0], self.batch_rows):
            idx = order[rows]
            self._gradient(self.X[idx], self.T[idx])
            self.adam.update(self.flat, self.grad)
        return float("nan")


def distill(weights, X: np.ndarray, targets: np.ndarray, epochs: int = 3, seed: int = 0,
            learning_rate: float = 1e-3, batch_rows: int = 200, alpha: float = 0.0) -> list[np.ndarray]:
    """Train ``weights`` toward soft ``targets`` on ``X``: ``epochs`` epochs of a :class:`Distiller`.

    Adam's settings are scikit-learn's, fresh moments; the rows are shuffled every epoch by
    ``RandomState(seed)``, so a call is deterministic. ``alpha`` is scikit-learn's L2 penalty (0:
    none). Computed in float64, returned in the weights' dtype.
    """
    epochs = check_positive_int("epochs", epochs, minimum=0)
    trainer = Distiller(weights, X, targets, seed, learning_rate, batch_rows, alpha)
    for _ in range(epochs):
        trainer.epoch()
    return trainer.weights()


def mixed_targets(probs: np.ndarray, y: np.ndarray, classes=sklearn_mlp.CLASSES, true_share: float = 0.0) -> np.ndarray:
    """``(1 - true_share) probs + true_share onehot(y)``: soft targets mixed with the true labels.

    Hinton et al. (2015) train the student on a weighted mix of the teacher's soft targets and the
    true labels; ``true_share`` 0 is pure distillation, 1 plain training on the labels.
    """
    probs = np.asarray(probs, dtype=np.float64)
    check_interval("true_share", true_share, low=0, high=1)
    if true_share == 0:
        return probs
    classes, y = np.asarray(classes), np.asarray(y)
    if probs.shape != (len(y), len(classes)) or not np.all(np.isin(y, classes)):
        raise ValueError(f"expected probs of shape ({len(y)}, {len(classes)}) and y among {classes.tolist()}; "
                         f"got {probs.shape}")
    onehot = (y[:, None] == classes[None, :]).astype(np.float64)
    return (1 - true_share) * probs + true_share * onehot


def distilled(weight_sets, sizes, shards, epochs: int = 3, seed: int = 0, labels=None, true_share: float = 0.0,
              match: bool = False, **params) -> list[np.ndarray]:
    """The distilled combination, as the engines would run it after an all-gather of the networks.

    Each network ``i`` labels its shard ``shards[i]`` with the ensemble's probabilities
    (:func:`distillation_targets`), mixed with its true ``labels[i]`` by ``true_share``
    (:func:`mixed_targets`; 0 by default), trains the start network toward them (:func:`distill`,
    seed ``seed + i``), and the results are averaged by ``sizes`` (the second exchange). The start
    is the mean network, or with ``match`` the matched mean (:func:`matched`). ``params`` go to
    :func:`distill`.
    """
    check_sets(weight_sets, sizes)
    if len(shards) != len(weight_sets) or (labels is not None and len(labels) != len(shards)):
        raise ValueError(f"shards (and labels): expected one per network ({len(weight_sets)}); got {len(shards)}")
    if true_share and labels is None:
        raise ValueError("true_share > 0 needs the shards' labels")
    if len(weight_sets) == 1:
        return copies(weight_sets[0])
    start = (matched if match else mean)(weight_sets, sizes)
    students = []
    for i, X in enumerate(shards):
        T = distillation_targets(weight_sets, sizes, X) if true_share < 1 else np.zeros((len(X), start[3].size))
        if true_share:
            T = mixed_targets(T, labels[i], true_share=true_share)
        students.append(distill(start, X, T, epochs, seed + i, **params))
    return mean(students, sizes)
