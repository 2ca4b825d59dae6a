"""The epoch-trainer interface every strategy drives, and scikit-learn's ``MLPClassifier`` behind it.

An *epoch trainer* is one rank's fit, advanced an epoch at a time. It offers

``epoch() -> float``
    one epoch over its rows (in a new shuffled order); returns the epoch's training loss;
``weights() -> list of ndarray``
    copies of its weights in :func:`~exemplar.models.sklearn_mlp.get_weights` order, in the dtype
    they are exchanged in;
``set_weights(weights)``
    continue from ``weights`` (written in place: the optimizer's state stays, and with it each
    rank's own Adam moments);
``stopping``
    a fresh :class:`~exemplar.models.stopping.StoppingRule` with the fit's ``tol`` and
    ``n_iter_no_change`` (``None`` for a trainer that runs a fixed number of epochs).

Three trainers implement it: :class:`SklearnEpochs` (``MLPClassifier.partial_fit``, below),
:class:`exemplar.models.numpy_mlp.NumpyEpochs` (the fast trainer) and
:class:`exemplar.models.distillation.Distiller` (the combination's distillation round). The
strategies that drive them live with the communication (:mod:`exemplar.parallel.rounds`):
periodic averaging runs epochs and averages ``weights()`` between them; gradient all-reduce runs
:class:`~exemplar.models.numpy_mlp.NumpyEpochs` handed collectives (its gradients meet every step)
under ``stopping``; the combination's extra round runs a few epochs and averages once.
:func:`epoch_trainer` makes the trainer a strategy asks for by name.
"""

from __future__ import annotations

import warnings
from typing import Protocol

import numpy as np

from exemplar.models.sklearn_mlp import build_mlp, get_weights, initial_weights, raise_if_interrupted
from exemplar.models.stopping import StoppingRule
from exemplar.validation import check_trainer


class EpochTrainer(Protocol):
    """The interface (see the module's documentation)."""

    stopping: StoppingRule | None

    def epoch(self) -> float: ...

    def weights(self) -> list[np.ndarray]: ...

    def set_weights(self, weights) -> None: ...


class SklearnEpochs:
    """``MLPClassifier.fit``, an epoch at a time: one ``partial_fit`` per epoch on rows shuffled as ``fit`` would.

    ``partial_fit``'s own shuffle restarts from the original order at every call, so it is switched
    off and done here, from the same ``RandomState(seed)`` stream ``fit`` uses: first the initial
    weights (drawn by the first ``partial_fit``; drawn here too, :func:`~exemplar.models.sklearn_mlp.initial_weights`,
    to advance the stream past them), then one shuffle of the previous epoch's order per epoch.
    With nothing else done between epochs this is ``MLPClassifier.fit``, bit for bit.

    Parameters
    ----------
    X, y : ndarray
        The rank's features (already in the training dtype and scale) and labels.
    hidden, epochs, seed : int
        As :func:`~exemplar.models.sklearn_mlp.build_mlp`.
    classes : ndarray
        Every class (the same on every rank).
    **mlp_params
        Further ``MLPClassifier`` parameters.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, hidden: int, epochs: int, seed: int, classes, **mlp_params):
        self.X, self.y, self.classes = X, y, np.asarray(classes)
        self.model = build_mlp(hidden, epochs, seed, **mlp_params)
        self.stopping = StoppingRule(self.model.tol, self.model.n_iter_no_change)
        self.shuffle = self.model.shuffle
        self.model.set_params(shuffle=False)
        units = [X.shape[1], *self.model.hidden_layer_sizes, len(self.classes) if len(self.classes) > 2 else 1]
        self.rng = np.random.RandomState(seed)
        initial_weights(self.rng, units)  # drawn and dropped: the stream is now where fit's first shuffle starts
        self.order = np.arange(X.shape[0])

    def epoch(self) -> float:
        """One ``partial_fit`` on the rows in this epoch's order; returns its training loss."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.utils import shuffle as sk_shuffle

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)  # recorded: scikit-learn's "interrupted" is one
            warnings.simplefilter("ignore", ConvergenceWarning)  # checked first: the paper caps epochs
            if self.shuffle:
                self.order = sk_shuffle(self.order, random_state=self.rng)
                self.model.partial_fit(self.X[self.order], self.y[self.order], classes=self.classes)
            else:
                self.model.partial_fit(self.X, self.y, classes=self.classes)
        raise_if_interrupted(caught, self.model)  # a SIGINT mid-epoch is no epoch
        return self.model.loss_

    def weights(self) -> list[np.ndarray]:
        """Copies of the weights (after the first epoch: ``partial_fit`` makes them)."""
        return get_weights(self.model)

    def set_weights(self, weights) -> None:
        """Write ``weights`` into the model's own arrays (the ones its Adam updates)."""
        for dst, src in zip((*self.model.coefs_, *self.model.intercepts_), weights):
            dst[...] = src


def epoch_trainer(trainer: str, X: np.ndarray, y: np.ndarray, hidden: int, epochs: int, seed: int, classes,
                  mlp_params: dict | None = None, dtype=None, scale: float | None = None) -> EpochTrainer:
    """The epoch trainer ``trainer`` names, on one rank's rows.

    ``"sklearn"``: :class:`SklearnEpochs` (``X`` must be the features, in the training dtype and
    scale; ``dtype`` and ``scale`` are ignored). ``"numpy"``:
    :class:`~exemplar.models.numpy_mlp.NumpyEpochs`, alone (no collectives); ``X`` may be uint8 pixels,
    converted per batch to ``dtype`` and divided by ``scale``.
    """
    if check_trainer(trainer) == "numpy":
        from exemplar.models.numpy_mlp import NumpyEpochs

        return NumpyEpochs(X, y, hidden, seed, classes=classes, dtype=dtype, scale=scale, **(mlp_params or {}))
    return SklearnEpochs(X, y, hidden, epochs, seed, classes, **(mlp_params or {}))
