"""The model: build an MLP, read and write its weights, combine weights, evaluate.

Everything the paper's method needs of scikit-learn's :class:`~sklearn.neural_network.MLPClassifier`
lives here, so the sequential sweep, the engines and the master all use one definition.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelBinarizer

from exemplar.validation import check_positive_int


#: The ten digit classes. Every model is told all ten, even when a shard lacks one.
CLASSES = np.arange(10)


def build_mlp(hidden: int, epochs: int, seed: int, **params) -> MLPClassifier:
    """Build the paper's classifier: one hidden layer of ``hidden`` units, at most ``epochs`` epochs.

    Parameters
    ----------
    hidden : int
        Units in the single hidden layer (the paper sweeps 50 to 100).
    epochs : int
        ``max_iter``: for the default ``adam`` solver, the number of epochs.
    seed : int
        ``random_state``: the initial weights and the shuffling. Engines given the same seed
        start from identical weights, as exemplar parallelism requires.
    **params
        Any other ``MLPClassifier`` parameter (defaults are scikit-learn's, as in the paper).

    Returns
    -------
    MLPClassifier
        Unfitted.
    """
    check_positive_int("hidden", hidden)
    check_positive_int("epochs", epochs)
    return MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=epochs, random_state=seed, **params)


def initial_weights(random_state: np.random.RandomState, layer_units: Sequence[int]):
    """``MLPClassifier``'s initial weights for ``layer_units``, drawn from ``random_state`` as ``fit`` draws them.

    scikit-learn's ``_init_coef`` for a ReLU network: layer by layer, the coefficients, then the
    intercepts, uniform in ``[-sqrt(6 / (fan_in + fan_out)), +...]``, in float64 (a fit casts them to
    its dtype). The same stream then shuffles the rows every epoch, so a trainer that draws its
    shuffles itself also draws these first (:class:`exemplar.models.epochs.SklearnEpochs`).

    Returns
    -------
    (list of ndarray, list of ndarray)
        The coefficient matrices and the intercept vectors.
    """
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        coefs.append(random_state.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(random_state.uniform(-bound, bound, fan_out))
    return coefs, intercepts


@dataclass
class FitResult:
    """A fitted model and what its fit cost."""

    model: MLPClassifier
    seconds: float
    n_iter: int
    #: CPU time of this thread during ``fit`` (``time.thread_time``): what the fit costs on a core
    #: of its own, whatever else shares the machine (BLAS is pinned to this one thread).
    cpu_seconds: float = float("nan")


def fit_timed(model: MLPClassifier, X: np.ndarray, y: np.ndarray) -> FitResult:
    """Fit ``model`` on ``(X, y)`` and time ``fit`` alone: wall clock (``perf_counter``) and this
    thread's CPU time (``thread_time``).

    Convergence warnings are expected (the paper caps epochs) and silenced; ``n_iter`` says
    how many epochs ran (scikit-learn stops early when the loss stalls for 10 epochs).

    Raises
    ------
    KeyboardInterrupt
        When the fit was interrupted (SIGINT): scikit-learn catches it, warns and returns the partly
        trained network, which must not become a result (:func:`raise_if_interrupted`).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)  # recorded: scikit-learn's "interrupted" is one
        warnings.simplefilter("ignore", ConvergenceWarning)  # checked first: the paper caps epochs
        c0, t0 = time.thread_time(), time.perf_counter()
        model.fit(X, y)
        seconds, cpu = time.perf_counter() - t0, time.thread_time() - c0
    raise_if_interrupted(caught, model)
    return FitResult(model, seconds, int(model.n_iter_), cpu)


#: What ``MLPClassifier`` warns when it catches a KeyboardInterrupt mid-fit (and returns as if done).
INTERRUPTED = "Training interrupted by user."


def raise_if_interrupted(caught, model) -> None:
    """Raise ``KeyboardInterrupt`` where ``caught`` (recorded warnings) holds scikit-learn's "interrupted" warning;
    pass the other warnings on as they were."""
    interrupted = False
    for w in caught:
        if str(w.message) == INTERRUPTED:
            interrupted = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if interrupted:
        raise KeyboardInterrupt(f"the fit was interrupted after {getattr(model, 'n_iter_', 0)} epochs (SIGINT): "
                                "scikit-learn returned a partly trained network, which is not a result")


def get_weights(model: MLPClassifier) -> list[np.ndarray]:
    """The model's parameters as one flat list: ``coefs_`` then ``intercepts_`` (copies)."""
    return [np.array(w, copy=True) for w in (*model.coefs_, *model.intercepts_)]


def set_weights(model: MLPClassifier, weights: Sequence[np.ndarray]) -> MLPClassifier:
    """Set parameters from the flat list :func:`get_weights` returns. Returns ``model``."""
    n = len(weights) // 2
    if len(weights) != 2 * n or n == 0:
        raise ValueError(f"expected coefs and intercepts in equal numbers, got {len(weights)} arrays")
    model.coefs_ = [np.array(w, copy=True) for w in weights[:n]]
    model.intercepts_ = [np.array(w, copy=True) for w in weights[n:]]
    return model


def model_from_weights(weights: Sequence[np.ndarray], classes: np.ndarray = CLASSES, **params) -> MLPClassifier:
    """An ``MLPClassifier`` that predicts with the given weights, without fitting.

    The attributes scikit-learn's ``predict`` needs are set explicitly: the layer count,
    the output activation (softmax for more than two classes) and the label binarizer.
    """
    n = len(weights) // 2
    hidden = tuple(int(w.shape[1]) for w in weights[: n - 1])
    model = MLPClassifier(hidden_layer_sizes=hidden, **params)
    set_weights(model, weights)
    model.n_features_in_ = int(weights[0].shape[0])
    model.n_layers_ = n + 1
    model.n_outputs_ = int(weights[n - 1].shape[1])
    model.out_activation_ = "softmax" if len(classes) > 2 else "logistic"
    model._label_binarizer = LabelBinarizer().fit(classes)
    model.classes_ = model._label_binarizer.classes_
    return model


def shares(values, k: int, name: str = "sizes") -> np.ndarray:
    """``values`` (e.g. shard sizes; ``None``: equal) normalised to sum 1, as float64.

    Raises
    ------
    ValueError
        Unless ``values`` is ``k`` finite non-negative numbers with a positive sum (the message names ``name``).
    """
    w = np.ones(k) if values is None else np.asarray(values, dtype=float)
    if w.shape != (k,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"{name} must be {k} non-negative numbers with a positive sum; got {values!r}")
    return w / w.sum()


def combine(weight_sets: Sequence[Sequence[np.ndarray]], sizes: Sequence[float] | None = None) -> list[np.ndarray]:
    """Combine several models' weights by their mean, weighted by ``sizes``.

    Parameters
    ----------
    weight_sets : sequence of weight lists
        One :func:`get_weights` list per engine, all of the same shapes.
    sizes : sequence of float, optional
        Weight of each set, e.g. its shard size. Equal sizes (or ``None``) give the paper's plain average.

    Returns
    -------
    list of ndarray
        The combined weights, in the dtype of the inputs.
    """
    k = len(weight_sets)
    if k == 0:
        raise ValueError("combine needs at least one set of weights")
    w = shares(sizes, k)
    out = []
    for layer in zip(*weight_sets):
        shapes = {a.shape for a in layer}
        if len(shapes) != 1:
            raise ValueError(f"cannot combine weights of different shapes: {sorted(shapes)}")
        dtypes = {a.dtype for a in layer}
        if len(dtypes) != 1:
            raise ValueError(f"cannot combine weights of different dtypes: {sorted(map(str, dtypes))}")
        # the mean is taken in float64 and returned in the weights' own dtype (float32 stays float32)
        out.append(np.tensordot(w, np.stack(layer), axes=1).astype(layer[0].dtype, copy=False))
    return out


def accuracy_pct(model, X: np.ndarray, y: np.ndarray) -> float:
    """Percentage of ``X`` classified as ``y`` (0 to 100)."""
    return float(np.mean(model.predict(X) == y) * 100.0)
