"""Models made of other models: a network trained on scaled pixels, an ensemble, a forest's vote."""

from __future__ import annotations

import numpy as np

from exemplar.models.sklearn_mlp import shares


class PixelScaledModel:
    """A model trained on pixels / 255 that takes raw 0-255 pixels: it divides by 255 first.

    ``model`` is the wrapped classifier; ``predict``, ``predict_proba`` and ``classes_`` are its.
    """

    def __init__(self, model, scale: float = 255.0):
        self.model = model
        self.scale = float(scale)

    @property
    def classes_(self):
        return self.model.classes_

    def _scaled(self, X):
        return np.asarray(X, dtype=np.float64) / self.scale

    def predict(self, X):
        return self.model.predict(self._scaled(X))

    def predict_proba(self, X):
        return self.model.predict_proba(self._scaled(X))


class EnsembleModel:
    """Predicts with the mean of its members' ``predict_proba``, weighted by ``weights``.

    Parameters
    ----------
    members : list of classifiers
        With the same ``classes_``, in the same order.
    weights : sequence of float, optional
        E.g. shard sizes; default equal.
    """

    def __init__(self, members, weights=None):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        self.weights = shares(weights, len(members), "weights")
        self.classes_ = self.members[0].classes_

    def predict_proba(self, X):
        return sum(w * m.predict_proba(X) for w, m in zip(self.weights, self.members))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class ForestVote:
    """Predicts with the mean of its members' ``predict_proba``, each member counted once.

    Members may know different classes (a shard can lack one): each member's probabilities are
    placed in the columns of its classes among the union of all members' classes, and a class a
    member never saw gets probability 0 from it. ``predict`` is the class of largest mean
    probability (the first, in sorted order, on a tie).

    Parameters
    ----------
    members : list of classifiers
        Fitted, with ``classes_`` and ``predict_proba`` (the engines' decision trees).
    """

    def __init__(self, members):
        self.members = list(members)
        if not self.members:
            raise ValueError("a forest needs at least one tree")
        self.classes_ = np.unique(np.concatenate([np.asarray(m.classes_) for m in self.members]))
        self._columns = [np.searchsorted(self.classes_, m.classes_) for m in self.members]

    def predict_proba(self, X) -> np.ndarray:
        X = np.asarray(X)
        out = np.zeros((X.shape[0], len(self.classes_)))
        for m, cols in zip(self.members, self._columns):
            out[:, cols] += m.predict_proba(X)
        return out / len(self.members)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
