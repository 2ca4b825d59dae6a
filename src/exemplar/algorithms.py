"""Other algorithms trained by exemplar parallelism: Gaussian Naive Bayes, LDA, QDA and decision trees.

The paper ends by asking whether Naive Bayes, decision trees, LDA or QDA suit parallel execution
better than a neural network. This module trains each of them the paper's way -- rank 0 reads the
training set, ``MPI.Scatterv`` gives every engine a contiguous shard (:mod:`exemplar.exemplar`'s
``_engine_distribute``, the very code the MLP uses), every engine fits its shard, the master (this
process) combines -- and times the same steps as :func:`exemplar.exemplar.run_exemplar`.

How each algorithm is combined (:data:`ALGORITHMS`)
----------------------------------------------------
``"gaussian-nb"``, ``"lda"``, ``"qda"``: sufficient statistics, combined exactly
    Each engine computes, per class ``c`` present in its shard, the count ``n_c``, the sum of the
    rows ``s_c = sum x`` and either the per-pixel sum of squares ``q_c = sum x*x`` (Naive Bayes) or
    the Gram matrix ``G_c = sum x x^T`` (LDA, QDA; sent as its upper triangle). The master adds them
    over the engines. The pixels are integers 0-255, so every one of these numbers is an integer
    below 2^53 and float64 holds it exactly: the sums over shards are *the same bits* as the
    statistics of the whole training set, whatever the number of engines and however the rows are
    split. The model is then built from the totals (:func:`model_from_statistics`):

    * means ``m_c = s_c / n_c``, priors ``n_c / n``;
    * Naive Bayes variances ``v_c = (n_c q_c - s_c^2) / n_c^2`` (numerator exact), plus
      scikit-learn's ``epsilon = var_smoothing * max_j var(x_j)`` over all classes;
    * class covariances (biased, as scikit-learn's ``empirical_covariance``)
      ``C_c = (n_c G_c - s_c s_c^T) / n_c^2`` (numerator exact), shrunk as scikit-learn's
      ``shrunk_covariance``: ``S_c = (1 - a) C_c + a (trace(C_c) / p) I`` with ``a =``
      :data:`SHRINKAGE` (the numerators are exact up to about 370,000 images per class, where
      ``n_c * 255^2 * n_c`` reaches 2^53);
    * LDA (``solver="lsqr"``): pooled ``S = sum_c prior_c S_c``, ``coef = lstsq(S, M^T)^T``,
      ``intercept_c = -m_c . coef_c / 2 + log prior_c``;
    * QDA (``solver="eigen"``): per class the eigen-decomposition of ``S_c`` (``scalings_``,
      ``rotations_``).

    The results are real scikit-learn estimators (``GaussianNB``,
    ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage=a)``,
    ``QuadraticDiscriminantAnalysis(solver="eigen", shrinkage=a)``) with the fitted attributes set,
    equal to scikit-learn's own sequential ``fit`` on the same rows up to floating-point rounding
    (its two-pass means and variances round differently), and identical, bit for bit, for 1, 2,
    4 or 6 engines.

    **Regularisation.** MNIST's border pixels are 0 in every image (and many more are 0 in every
    image of one class), so the class covariances are singular. Both discriminant analyses use
    scikit-learn's fixed shrinkage ``a = 0.1`` (:data:`SHRINKAGE`, not tuned): 10 % of each class
    covariance is replaced by its mean variance on the diagonal, so a pixel that never varies in
    class ``c`` gets variance ``0.1 * trace(C_c) / 784`` there instead of 0. The shrinkage is
    relative, so the models do not depend on the pixels' scale (raw 0-255, as the paper).
    Naive Bayes keeps scikit-learn's default ``var_smoothing=1e-9``.

``"tree"``: a forest of the engines' trees
    Each engine grows ``DecisionTreeClassifier(random_state=seed)`` on its shard; the master
    gathers the pickled trees and predicts with :class:`ForestVote`, the mean of the trees'
    ``predict_proba`` (each tree counts once). One engine is one tree on all rows.

``"mlp"``: the paper's network
    :func:`exemplar.exemplar.run_exemplar` (one-shot weight averaging), for comparison.

Timings (the fields of :meth:`ExemplarResult.as_row <exemplar.exemplar.ExemplarResult.as_row>`)
---------------------------------------------------------------------------------------------------
``fit_seconds_max`` the slowest engine's fit (statistics: converting its pixels and summing;
trees: ``fit``); ``read_seconds`` rank 0 reading the source; ``distribute_seconds`` the scatter;
``combine_seconds`` gathering the engines' statistics or trees to the master plus building the
model (``gather_seconds`` the gather alone, ``gathered_bytes`` what came back);
``eval_seconds`` predicting the test set in the master; ``wall_seconds`` the whole call.
The master's own work (combining, testing) runs with its BLAS pinned to one thread, as the
engines' is: every process uses one core, so the 1-engine run is the single-core sequential
reference, and a busy machine cannot make multithreaded BLAS spin in the master.
"""

from __future__ import annotations

import pickle
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from . import exemplar as ex
from .exemplar import _submit, _wait
from .mlp import accuracy_pct, check_positive_int

#: The algorithms :func:`run_algorithm` trains.
ALGORITHMS = ("mlp", "gaussian-nb", "lda", "qda", "tree")

#: Algorithms combined through exact sufficient statistics.
STATISTICS_ALGORITHMS = ("gaussian-nb", "lda", "qda")

#: Readable names, for tables and figures.
ALGORITHM_NAMES = {
    "mlp": "MLP (weight averaging)",
    "gaussian-nb": "Gaussian Naive Bayes",
    "lda": "LDA",
    "qda": "QDA",
    "tree": "decision tree → forest",
}

#: The fixed covariance shrinkage of LDA and QDA (scikit-learn's ``shrinkage``), see the module's notes.
SHRINKAGE = 0.1

#: Accepted ``params`` per algorithm (the MLP's are ``MLPClassifier``'s, checked by ``run_exemplar``).
_PARAMS = {
    "gaussian-nb": {"var_smoothing": 1e-9},
    "lda": {"shrinkage": SHRINKAGE},
    "qda": {"shrinkage": SHRINKAGE, "tol": 1.0e-4},
}

#: The fields of a row, as in ``ExemplarResult.as_row()``.
ROW_FIELDS = ("algorithm", "n_engines", "seed", "n_train", "fit_seconds_max", "read_seconds", "distribute_seconds",
              "combine_seconds", "gather_seconds", "gathered_bytes", "eval_seconds", "wall_seconds", "accuracy_pct")


def check_algorithm(algorithm: str) -> str:
    """Return ``algorithm`` if it is one of :data:`ALGORITHMS`, else raise ``ValueError`` listing them."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(map(repr, ALGORITHMS))}; got {algorithm!r}")
    return algorithm


def _check_params(algorithm: str, params: Mapping[str, Any] | None) -> dict:
    """``params`` completed with the defaults; unknown names and bad values raise ``ValueError``."""
    params = dict(params or {})
    if algorithm in ("mlp", "tree"):
        return params  # MLPClassifier's / DecisionTreeClassifier's own, checked when the model is built
    known = _PARAMS[algorithm]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"params for {algorithm!r} may set {', '.join(known)}; got unknown {', '.join(unknown)}")
    out = {**known, **params}
    if "shrinkage" in out and not (isinstance(out["shrinkage"], (int, float)) and 0 <= out["shrinkage"] <= 1):
        raise ValueError(f"shrinkage must be a number from 0 to 1; got {out['shrinkage']!r}")
    if "var_smoothing" in out and not (isinstance(out["var_smoothing"], (int, float)) and out["var_smoothing"] >= 0):
        raise ValueError(f"var_smoothing must be a non-negative number; got {out['var_smoothing']!r}")
    return out


# --------------------------------------------------------------------------------------------
# Sufficient statistics
# --------------------------------------------------------------------------------------------


def _kind(algorithm: str) -> str:
    return "diagonal" if algorithm == "gaussian-nb" else "gram"


def shard_statistics(X: np.ndarray, y: np.ndarray, algorithm: str) -> dict:
    """Per-class sufficient statistics of one shard.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Pixels (uint8 on the engines). With integer values the statistics are exact.
    y : ndarray, shape (n,)
        Class labels.
    algorithm : {"gaussian-nb", "lda", "qda"}

    Returns
    -------
    dict
        ``classes`` (sorted labels present), ``counts`` (int64), ``sums`` (float64, (k, p)), and
        ``sumsq`` ((k, p), Naive Bayes) or ``gram_upper`` ((k, p(p+1)/2): the upper triangle of
        each class's ``X_c^T X_c``, row by row), ``n_features``.
    """
    if algorithm not in STATISTICS_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {STATISTICS_ALGORITHMS} for statistics; got {algorithm!r}")
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be 2-D with one label per row; got X {X.shape}, y {y.shape}")
    classes = np.unique(y)
    p = X.shape[1]
    counts = np.zeros(len(classes), dtype=np.int64)
    sums = np.zeros((len(classes), p))
    out = {"classes": classes, "counts": counts, "sums": sums, "n_features": p}
    if _kind(algorithm) == "diagonal":
        second = out["sumsq"] = np.zeros((len(classes), p))
    else:
        upper = np.triu_indices(p)
        second = out["gram_upper"] = np.zeros((len(classes), len(upper[0])))
    for i, c in enumerate(classes):
        Xc = X[y == c].astype(np.float64)
        counts[i] = len(Xc)
        sums[i] = Xc.sum(axis=0)
        if _kind(algorithm) == "diagonal":
            second[i] = np.einsum("ij,ij->j", Xc, Xc)
        else:
            second[i] = (Xc.T @ Xc)[upper]
    return out


def combine_statistics(parts: Sequence[dict]) -> dict:
    """Add the statistics of several shards: per class, counts, sums and second moments add up.

    Shards may hold different classes (a class missing from a shard contributes nothing).
    With integer pixels the totals are exact, so they equal the statistics of all rows at once.
    """
    parts = [p for p in parts if p is not None]
    if not parts:
        raise ValueError("combine_statistics needs the statistics of at least one shard")
    p = {int(s["n_features"]) for s in parts}
    if len(p) != 1:
        raise ValueError(f"shards have different numbers of features: {sorted(p)}")
    second = "sumsq" if "sumsq" in parts[0] else "gram_upper"
    if any(second not in s for s in parts):
        raise ValueError("shards computed different statistics (Naive Bayes' and the discriminant analyses')")
    classes = np.unique(np.concatenate([s["classes"] for s in parts]))
    total = {"classes": classes, "counts": np.zeros(len(classes), dtype=np.int64),
             "sums": np.zeros((len(classes), p.pop())),
             second: np.zeros((len(classes), parts[0][second].shape[1])),
             "n_features": int(parts[0]["n_features"])}
    for s in parts:
        idx = np.searchsorted(classes, s["classes"])
        total["counts"][idx] += s["counts"]
        total["sums"][idx] += s["sums"]
        total[second][idx] += s[second]
    return total


def _class_moments(stats: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(n_c, m_c)``: counts as float64 and class means."""
    n = stats["counts"].astype(np.float64)
    if np.any(n < 1):
        raise ValueError("every class in the statistics must have at least one row")
    return n, stats["sums"] / n[:, None]


def _class_covariances(stats: dict) -> np.ndarray:
    """Biased class covariances ``(n_c G_c - s_c s_c^T) / n_c^2`` from the Gram matrices' upper triangles."""
    p = stats["n_features"]
    upper = np.triu_indices(p)
    out = np.empty((len(stats["classes"]), p, p))
    for i, (n, s, g) in enumerate(zip(stats["counts"].astype(np.float64), stats["sums"], stats["gram_upper"])):
        G = np.empty((p, p))
        G[upper] = g
        G.T[upper] = g  # mirror: the lower triangle
        # exact while n * max(G) < 2**53: the numerator is an integer difference of integers
        out[i] = (n * G - np.outer(s, s)) / (n * n)
    return out


def _shrunk(C: np.ndarray, shrinkage: float) -> np.ndarray:
    """scikit-learn's ``shrunk_covariance``: ``(1 - a) C + a (trace(C) / p) I``."""
    p = C.shape[0]
    out = (1.0 - shrinkage) * C
    out.flat[:: p + 1] += shrinkage * (np.trace(C) / p)
    return out


def gaussian_nb_from_statistics(stats: dict, var_smoothing: float = 1e-9):
    """A fitted ``GaussianNB`` from the totals of :func:`combine_statistics`."""
    from sklearn.naive_bayes import GaussianNB

    n, means = _class_moments(stats)
    S, Q = stats["sums"], stats["sumsq"]
    var = (n[:, None] * Q - S * S) / (n * n)[:, None]
    N, S_all, Q_all = n.sum(), S.sum(axis=0), Q.sum(axis=0)
    var_all = (N * Q_all - S_all * S_all) / (N * N)
    model = GaussianNB(var_smoothing=var_smoothing)
    model.epsilon_ = float(var_smoothing * np.max(var_all))
    model.classes_ = np.asarray(stats["classes"])
    model.class_count_ = n.copy()
    model.class_prior_ = n / N
    model.theta_ = means
    model.var_ = var + model.epsilon_
    model.n_features_in_ = int(stats["n_features"])
    return model


def lda_from_statistics(stats: dict, shrinkage: float = SHRINKAGE):
    """A fitted ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage)`` from the totals."""
    from scipy import linalg
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    n, means = _class_moments(stats)
    k, p = means.shape
    if n.sum() <= k:
        raise ValueError("The number of samples must be more than the number of classes.")
    priors = n / n.sum()
    cov = np.zeros((p, p))
    for prior, C in zip(priors, _class_covariances(stats)):
        cov += prior * _shrunk(C, shrinkage)
    coef = linalg.lstsq(cov, means.T)[0].T
    intercept = -0.5 * np.diag(means @ coef.T) + np.log(priors)
    model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage)
    model.classes_ = np.asarray(stats["classes"])
    model.priors_ = priors
    model.means_ = means
    model.covariance_ = cov
    if k == 2:  # scikit-learn's binary case: one decision function
        coef, intercept = (coef[1] - coef[0])[None, :], np.array([intercept[1] - intercept[0]])
    model.coef_ = coef
    model.intercept_ = intercept
    model.n_features_in_ = p
    model._max_components = min(k - 1, p)
    model._n_features_out = model._max_components
    return model


def qda_from_statistics(stats: dict, shrinkage: float = SHRINKAGE, tol: float = 1.0e-4):
    """A fitted ``QuadraticDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage)`` from the totals.

    Raises
    ------
    ValueError
        When a class has a single row (its covariance is undefined) or, as scikit-learn, when a
        shrunk class covariance has an eigenvalue of at most ``tol`` (too little shrinkage).
    """
    from scipy import linalg
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis

    n, means = _class_moments(stats)
    if len(n) < 2:
        raise ValueError(f"QDA needs at least two classes; got {len(n)}")
    single = [c for c, m in zip(stats["classes"], n) if m < 2]
    if single:
        raise ValueError(f"y has only 1 sample in class {single[0]}, covariance is ill defined.")
    scalings, rotations = [], []
    for c, C in zip(stats["classes"], _class_covariances(stats)):
        values, vectors = linalg.eigh(_shrunk(C, shrinkage), driver="evd")  # divide and conquer: the fastest here
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        if np.sum(values > tol) < len(values):
            raise ValueError(f"The covariance matrix of class {c} is not full rank. "
                             "Increase the value of `shrinkage` to reduce the collinearity.")
        scalings.append(values)
        rotations.append(vectors)
    model = QuadraticDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage, tol=tol)
    model.classes_ = np.asarray(stats["classes"])
    model.priors_ = n / n.sum()
    model.means_ = means
    model.scalings_ = scalings
    model.rotations_ = rotations
    model.n_features_in_ = int(stats["n_features"])
    return model


def model_from_statistics(algorithm: str, stats: dict, params: Mapping[str, Any] | None = None):
    """The fitted model of ``algorithm`` (``"gaussian-nb"``, ``"lda"``, ``"qda"``) from combined statistics."""
    params = _check_params(algorithm, params)
    if algorithm == "gaussian-nb":
        return gaussian_nb_from_statistics(stats, **params)
    if algorithm == "lda":
        return lda_from_statistics(stats, **params)
    if algorithm == "qda":
        return qda_from_statistics(stats, **params)
    raise ValueError(f"algorithm must be one of {STATISTICS_ALGORITHMS}; got {algorithm!r}")


# --------------------------------------------------------------------------------------------
# The forest of the engines' trees
# --------------------------------------------------------------------------------------------


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


def build_tree(seed: int = 0, **params):
    """The engines' tree: ``DecisionTreeClassifier(random_state=seed, **params)``."""
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(random_state=seed, **params)


# --------------------------------------------------------------------------------------------
# Sequential references (in this process)
# --------------------------------------------------------------------------------------------


def fit_sequential(algorithm: str, X: np.ndarray, y: np.ndarray, seed: int = 0, params=None):
    """``algorithm`` fitted on all rows in this process, by the same code the engines and master run.

    For the statistics algorithms this is one shard's statistics turned into the model, which
    is what any number of engines produces, bit for bit; for ``"tree"`` a one-tree
    :class:`ForestVote`. Not for ``"mlp"`` (see :func:`exemplar.sweep.baseline_run`).
    """
    check_algorithm(algorithm)
    if algorithm in STATISTICS_ALGORITHMS:
        return model_from_statistics(algorithm, combine_statistics([shard_statistics(X, y, algorithm)]), params)
    if algorithm == "tree":
        return ForestVote([build_tree(seed, **_check_params(algorithm, params)).fit(X, y)])
    raise ValueError("fit_sequential does not fit the MLP; use exemplar.sweep.baseline_run")


def sklearn_reference(algorithm: str, params=None, seed: int = 0):
    """The unfitted scikit-learn estimator whose sequential ``fit`` the parallel model reproduces."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis
    from sklearn.naive_bayes import GaussianNB

    check_algorithm(algorithm)
    params = _check_params(algorithm, params)
    if algorithm == "gaussian-nb":
        return GaussianNB(**params)
    if algorithm == "lda":
        return LinearDiscriminantAnalysis(solver="lsqr", **params)
    if algorithm == "qda":
        return QuadraticDiscriminantAnalysis(solver="eigen", **params)
    if algorithm == "tree":
        return build_tree(seed, **params)
    raise ValueError("the MLP's reference is exemplar.mlp.build_mlp")


# --------------------------------------------------------------------------------------------
# What runs on the engines
# --------------------------------------------------------------------------------------------


def _engine_fit(token: str, algorithm: str, seed: int, params: dict) -> dict:
    """Fit this rank's shard (kept by ``_engine_distribute``): statistics, or a tree; keep the result."""
    import warnings

    from mpi4py import MPI

    state = ex._STATE.get(token)
    if state is None or "X" not in state:
        raise ex.ExemplarError(f"no shard for run {token} on this engine: distribute first")
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
    return {"rank": MPI.COMM_WORLD.Get_rank(), "fit_seconds": seconds, "n_rows": int(len(y))}


def _engine_result(token: str):
    """This rank's statistics or tree (a tree pickled to bytes); forgets the run."""
    state = ex._STATE.pop(token, None)
    if state is None or "result" not in state:
        raise ex.ExemplarError(f"no fitted result for run {token} on this engine: fit first")
    result = state["result"]
    return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL) if not isinstance(result, dict) else result


def _nbytes(part) -> int:
    if isinstance(part, bytes):
        return len(part)
    return int(sum(v.nbytes for v in part.values() if isinstance(v, np.ndarray)))


# --------------------------------------------------------------------------------------------
# The master
# --------------------------------------------------------------------------------------------


@dataclass
class ParallelFit:
    """A model trained by exemplar parallelism and what each step cost (seconds, wall clock).

    Attributes
    ----------
    algorithm : str
    model : estimator
        The combined model (a scikit-learn estimator, or a :class:`ForestVote`).
    n_engines, n_train : int
    shard_sizes, fit_seconds : list
        Per rank, in rank order.
    read_seconds, distribute_seconds : float
        Rank 0 reading the source; scattering the shards.
    gather_seconds : float
        Bringing the engines' statistics or trees to the master.
    combine_seconds : float
        The gather plus combining and building the model.
    gathered_bytes : int
        Bytes of statistics or pickled trees that came back, all engines together.
    """

    algorithm: str
    model: Any = field(repr=False)
    n_engines: int
    n_train: int
    shard_sizes: list[int]
    fit_seconds: list[float]
    read_seconds: float
    distribute_seconds: float
    gather_seconds: float
    combine_seconds: float
    gathered_bytes: int

    @property
    def fit_seconds_max(self) -> float:
        return max(self.fit_seconds)


def _check_cluster(cl, what: str) -> int:
    if getattr(cl, "launcher", None) != "mpi":
        raise ValueError(
            f"{what} scatters the data with MPI and needs a cluster started with "
            f"start_cluster(..., launcher='mpi'); got launcher={getattr(cl, 'launcher', None)!r}"
        )
    return check_positive_int("cl.n (number of engines)", cl.n)


def _check_timeout(timeout) -> None:
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds or None; got {timeout!r}")


def fit_parallel(cl, algorithm: str, source, seed: int = 0, params: Mapping[str, Any] | None = None,
                 timeout: float | None = 3600.0, n_features: int | None = None) -> ParallelFit:
    """Train ``algorithm`` (not the MLP) by exemplar parallelism on all engines of ``cl``.

    Parameters
    ----------
    cl : exemplar.cluster.RunningCluster
        Started with ``launcher="mpi"``; every engine (MPI rank) gets one shard.
    algorithm : {"gaussian-nb", "lda", "qda", "tree"}
    source : tuple
        Where rank 0 reads the training data: :func:`exemplar.exemplar.csv_source` or
        :func:`exemplar.exemplar.array_source`.
    seed : int
        ``random_state`` of every engine's tree (the statistics use none).
    params : dict, optional
        ``var_smoothing`` (Naive Bayes), ``shrinkage`` (LDA, QDA; default :data:`SHRINKAGE`),
        ``tol`` (QDA), or ``DecisionTreeClassifier`` parameters (tree).
    timeout : float or None
        Seconds each step may take on the engines before :class:`~exemplar.exemplar.ExemplarError`.
    n_features : int, optional
        The columns the training data must have (the test set's); checked after distribution.

    Returns
    -------
    ParallelFit

    Raises
    ------
    ValueError
        For bad parameters or a local cluster.
    ExemplarError
        When a step fails or times out on an engine.
    """
    n_engines = _check_cluster(cl, "fit_parallel")
    check_algorithm(algorithm)
    if algorithm == "mlp":
        raise ValueError("fit_parallel trains the statistics algorithms and trees; the MLP is run_exemplar's "
                         "(or run_algorithm(..., 'mlp', ...))")
    seed = check_positive_int("seed", seed, minimum=0)
    params = _check_params(algorithm, params)
    if algorithm == "tree":  # unknown or bad parameters fail here, not on the engines
        try:
            build_tree(seed, **params)._validate_params()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"params for 'tree' must be DecisionTreeClassifier parameters: {exc}") from None
    _check_timeout(timeout)
    n_known = ex._check_source(source)
    if n_known is not None and n_engines > n_known:
        raise ValueError(f"n_engines must be at most the number of training rows ({n_known}); got {n_engines}")

    token = uuid.uuid4().hex
    try:
        ars = _submit(cl, ex._engine_distribute, lambda rank: (token, source if rank == 0 else None))
        dist = _wait(cl, ars, "reading and distributing the data", timeout)
        n_cols = dist[0]["n_cols"]
        if n_features is not None and n_features != n_cols:
            raise ValueError(f"X_test must have {n_cols} columns, as the training data; got {n_features}")
        engine_params = {} if algorithm in STATISTICS_ALGORITHMS else params
        ars = _submit(cl, _engine_fit, lambda rank: (token, algorithm, seed, engine_params))
        fits = _wait(cl, ars, f"fitting ({algorithm})", timeout)
        t0 = time.perf_counter()
        ars = _submit(cl, _engine_result, lambda rank: (token,))
        parts = _wait(cl, ars, "gathering the results", timeout)
        gather_seconds = time.perf_counter() - t0
    except BaseException:
        ex._forget(cl)
        raise
    gathered = sum(_nbytes(p) for p in parts)
    with threadpool_limits(limits=1):  # the master is one process on one core, like each engine
        if algorithm == "tree":
            model = ForestVote([pickle.loads(p) for p in parts])
        else:
            model = model_from_statistics(algorithm, combine_statistics(parts), params)
    combine_seconds = time.perf_counter() - t0
    return ParallelFit(
        algorithm=algorithm, model=model, n_engines=n_engines, n_train=int(sum(d["n_rows"] for d in dist)),
        shard_sizes=[d["n_rows"] for d in dist], fit_seconds=[f["fit_seconds"] for f in fits],
        read_seconds=dist[0]["read_seconds"], distribute_seconds=dist[0]["distribute_seconds"],
        gather_seconds=gather_seconds, combine_seconds=combine_seconds, gathered_bytes=int(gathered),
    )


def run_algorithm(cl, algorithm: str, source, X_test: np.ndarray, y_test: np.ndarray, seed: int = 0, *,
                  hidden: int = 75, epochs: int = 75, params: Mapping[str, Any] | None = None,
                  timeout: float | None = 3600.0) -> dict:
    """Train ``algorithm`` by exemplar parallelism on all engines of ``cl``, test it, and time each step.

    Parameters
    ----------
    cl : exemplar.cluster.RunningCluster
        Started with ``launcher="mpi"``.
    algorithm : {"mlp", "gaussian-nb", "lda", "qda", "tree"}
        See the module's documentation for how each is combined.
    source : tuple
        :func:`exemplar.exemplar.csv_source` (rank 0 reads the CSV) or ``array_source``.
    X_test, y_test : ndarray
        The test set, in this (the master) process.
    seed : int
        ``random_state`` of the engines' trees or networks.
    hidden, epochs : int
        The MLP's hidden units and ``max_iter`` (ignored by the other algorithms).
    params : dict, optional
        Further parameters: ``MLPClassifier``'s for the MLP, else as :func:`fit_parallel`.
    timeout : float or None
        Seconds each step may take on the engines.

    Returns
    -------
    dict
        One tidy row: :data:`ROW_FIELDS` (``accuracy_pct`` on the test set, 0-100), plus
        ``n_iter_max`` for the MLP.

    Raises
    ------
    ValueError
        For bad parameters, or a local cluster.
    ExemplarError
        When a step fails or times out on an engine.
    """
    t_start = time.perf_counter()
    check_algorithm(algorithm)
    _check_cluster(cl, "run_algorithm")
    X_test, y_test = ex._check_arrays(X_test, y_test, "X_test", "y_test")
    if algorithm == "mlp":
        with threadpool_limits(limits=1):  # the master's share (averaging, testing) on one core, as for the others
            res = ex.run_exemplar(cl, source, X_test, y_test, hidden=hidden, epochs=epochs, seed=seed,
                                  mlp_params=dict(params or {}), timeout=timeout)
        row = {k: v for k, v in res.as_row().items() if k in ROW_FIELDS}
        return {"algorithm": algorithm, **row, "gather_seconds": res.comm_seconds,
                "gathered_bytes": res.comm_bytes * res.n_engines, "n_iter_max": max(res.n_iter)}
    fit = fit_parallel(cl, algorithm, source, seed=seed, params=params, timeout=timeout, n_features=X_test.shape[1])
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        acc = accuracy_pct(fit.model, X_test, y_test)
    eval_seconds = time.perf_counter() - t0
    return {
        "algorithm": algorithm, "n_engines": fit.n_engines, "seed": seed, "n_train": fit.n_train,
        "fit_seconds_max": fit.fit_seconds_max, "read_seconds": fit.read_seconds,
        "distribute_seconds": fit.distribute_seconds, "combine_seconds": fit.combine_seconds,
        "gather_seconds": fit.gather_seconds, "gathered_bytes": fit.gathered_bytes, "eval_seconds": eval_seconds,
        "wall_seconds": time.perf_counter() - t_start, "accuracy_pct": acc,
    }


# --------------------------------------------------------------------------------------------
# Reading the runs
# --------------------------------------------------------------------------------------------


def summarize_algorithms(runs):
    """Per data set, training size, algorithm and engine count: means over the repeats, speedups, impact.

    Parameters
    ----------
    runs : DataFrame
        Rows of :func:`run_algorithm` with ``dataset`` and ``repeat``.

    Returns
    -------
    DataFrame
        ``dataset, n_train, algorithm, n_engines, runs``; the means of ``fit_seconds_max``,
        ``distribute_seconds``, ``combine_seconds``, ``wall_seconds``, ``accuracy_pct`` (and
        ``accuracy_pct_sd``); ``training_seconds`` (slowest fit + distribution + combination,
        the paper's time with overhead); ``speedup`` (1-engine training time / this one's),
        ``speedup_wall`` (the same for wall time), ``accuracy_change_pp`` (accuracy minus the
        1-engine accuracy, percentage points) and ``impact`` (accuracy / training time, the
        paper's impact factor with overhead). Speedups and changes are ``NaN`` where the
        1-engine run is missing.
    """
    import pandas as pd

    from .metrics import impact_factor, speedup

    keys = ["dataset", "n_train", "algorithm", "n_engines"]
    runs = runs.copy()
    runs["training_seconds"] = runs["fit_seconds_max"] + runs["distribute_seconds"] + runs["combine_seconds"]
    cols = ["fit_seconds_max", "distribute_seconds", "combine_seconds", "training_seconds", "wall_seconds",
            "accuracy_pct"]
    g = runs.groupby(keys, sort=True)
    out = pd.concat([g[cols].mean(), g["accuracy_pct"].std(ddof=1).rename("accuracy_pct_sd"),
                     g["training_seconds"].std(ddof=1).rename("training_seconds_sd"), g.size().rename("runs")],
                    axis=1).reset_index()
    one = out[out.n_engines == 1].set_index(["dataset", "n_train", "algorithm"])
    ref = out.set_index(["dataset", "n_train", "algorithm"]).index
    t1 = one["training_seconds"].reindex(ref).to_numpy()
    w1 = one["wall_seconds"].reindex(ref).to_numpy()
    a1 = one["accuracy_pct"].reindex(ref).to_numpy()
    out["speedup"] = speedup(t1, out["training_seconds"].to_numpy())
    out["speedup_wall"] = speedup(w1, out["wall_seconds"].to_numpy())
    out["accuracy_change_pp"] = out["accuracy_pct"].to_numpy() - a1
    out["impact"] = impact_factor(out["accuracy_pct"], out["training_seconds"])
    order = {a: i for i, a in enumerate(ALGORITHMS)}
    out["_order"] = out["algorithm"].map(lambda a: order.get(a, len(order)))
    return out.sort_values(["dataset", "n_train", "_order", "n_engines"]).drop(columns="_order").reset_index(drop=True)
