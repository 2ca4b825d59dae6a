"""Models combined exactly from per-shard sufficient statistics (Gaussian Naive Bayes, LDA, QDA), and trees.

Each engine computes its shard's class counts, sums and (for LDA and QDA) sums of outer products;
summed over the shards they are the whole training set's, so the combined model equals the
sequential fit up to rounding. See :mod:`exemplar.parallel.algorithms` for how they are trained
on the engines, and :mod:`exemplar.experiments.algorithms` for the chapter that compares them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from exemplar.models.wrappers import ForestVote
from exemplar.validation import check_choice, check_interval


#: The algorithms exemplar parallelism trains (:mod:`exemplar.parallel.algorithms`).
ALGORITHMS = ("mlp", "gaussian-nb", "lda", "qda", "tree")

#: Algorithms combined through exact sufficient statistics.
STATISTICS_ALGORITHMS = ("gaussian-nb", "lda", "qda")

#: The fixed covariance shrinkage of LDA and QDA (scikit-learn's ``shrinkage``), see the module's notes.
SHRINKAGE = 0.1

#: Accepted ``params`` per algorithm (the MLP's are ``MLPClassifier``'s, checked by ``run_exemplar``).
PARAMS = {
    "gaussian-nb": {"var_smoothing": 1e-9},
    "lda": {"shrinkage": SHRINKAGE},
    "qda": {"shrinkage": SHRINKAGE, "tol": 1.0e-4},
}


def _kind(algorithm: str) -> str:
    """Naive Bayes needs per-pixel sums of squares ("diagonal"); LDA and QDA the Gram matrices ("gram")."""
    return "diagonal" if algorithm == "gaussian-nb" else "gram"


def check_algorithm(algorithm: str) -> str:
    """Return ``algorithm`` if it is one of :data:`ALGORITHMS`, else raise ``ValueError`` listing them."""
    return check_choice("algorithm", algorithm, ALGORITHMS)


def check_params(algorithm: str, params: Mapping[str, Any] | None) -> dict:
    """``params`` completed with :data:`PARAMS`' defaults; unknown names and bad values raise ``ValueError``.

    The MLP's and the tree's parameters are passed through unchanged: ``MLPClassifier`` and
    ``DecisionTreeClassifier`` check them when the model is built.
    """
    params = dict(params or {})
    if algorithm in ("mlp", "tree"):
        return params  # MLPClassifier's / DecisionTreeClassifier's own, checked when the model is built
    known = PARAMS[algorithm]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"params for {algorithm!r} may set {', '.join(known)}; got unknown {', '.join(unknown)}")
    out = {**known, **params}
    if "shrinkage" in out:
        check_interval("shrinkage", out["shrinkage"], low=0, high=1)
    if "var_smoothing" in out:
        check_interval("var_smoothing", out["var_smoothing"], low=0)
    return out


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
    params = check_params(algorithm, params)
    if algorithm == "gaussian-nb":
        return gaussian_nb_from_statistics(stats, **params)
    if algorithm == "lda":
        return lda_from_statistics(stats, **params)
    if algorithm == "qda":
        return qda_from_statistics(stats, **params)
    raise ValueError(f"algorithm must be one of {STATISTICS_ALGORITHMS}; got {algorithm!r}")


def build_tree(seed: int = 0, **params):
    """The engines' tree: ``DecisionTreeClassifier(random_state=seed, **params)``."""
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(random_state=seed, **params)


def fit_sequential(algorithm: str, X: np.ndarray, y: np.ndarray, seed: int = 0, params=None):
    """``algorithm`` fitted on all rows in this process, by the same code the engines and master run.

    For the statistics algorithms this is one shard's statistics turned into the model, which
    is what any number of engines produces, bit for bit; for ``"tree"`` a one-tree
    :class:`ForestVote`. Not for ``"mlp"`` (see :func:`exemplar.parallel.fits.baseline_run`).
    """
    check_algorithm(algorithm)
    if algorithm in STATISTICS_ALGORITHMS:
        return model_from_statistics(algorithm, combine_statistics([shard_statistics(X, y, algorithm)]), params)
    if algorithm == "tree":
        return ForestVote([build_tree(seed, **check_params(algorithm, params)).fit(X, y)])
    raise ValueError("fit_sequential does not fit the MLP; use exemplar.parallel.fits.baseline_run")


def sklearn_reference(algorithm: str, params=None, seed: int = 0):
    """The unfitted scikit-learn estimator whose sequential ``fit`` the parallel model reproduces."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis
    from sklearn.naive_bayes import GaussianNB

    check_algorithm(algorithm)
    params = check_params(algorithm, params)
    if algorithm == "gaussian-nb":
        return GaussianNB(**params)
    if algorithm == "lda":
        return LinearDiscriminantAnalysis(solver="lsqr", **params)
    if algorithm == "qda":
        return QuadraticDiscriminantAnalysis(solver="eigen", **params)
    if algorithm == "tree":
        return build_tree(seed, **params)
    raise ValueError("the MLP's reference is exemplar.models.sklearn_mlp.build_mlp")
