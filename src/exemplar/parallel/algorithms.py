"""Other algorithms trained by exemplar parallelism: Gaussian Naive Bayes, LDA, QDA and decision trees.

The paper ends by asking whether Naive Bayes, decision trees, LDA or QDA suit parallel execution
better than a neural network. This module trains each of them the paper's way -- rank 0 reads the
training set, ``MPI.Scatterv`` gives every engine a contiguous shard (:func:`exemplar.parallel.distribute.distribute`,
the very step the MLP uses), every engine fits its shard, the master (this process) combines -- and
times the same steps as :func:`exemplar.parallel.train.run_exemplar`.

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
    :func:`exemplar.parallel.train.run_exemplar` (one-shot weight averaging), for comparison.

Timings (the fields of :meth:`ExemplarResult.as_row <exemplar.parallel.train.ExemplarResult.as_row>`)
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
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from threadpoolctl import threadpool_limits

from exemplar.models.sklearn_mlp import accuracy_pct
from exemplar.models.statistics import (STATISTICS_ALGORITHMS, build_tree, check_algorithm, check_params,
                                        combine_statistics, model_from_statistics)
from exemplar.models.wrappers import ForestVote
from exemplar.parallel import engine, train
from exemplar.parallel.distribute import check_shards, distribute, forget_run
from exemplar.parallel.remote import submit, wait
from exemplar.parallel.shards import check_arrays, check_source
from exemplar.validation import check_mpi_cluster, check_positive_int, check_timeout


#: The fields of a row, as in ``ExemplarResult.as_row()``.
ROW_FIELDS = ("algorithm", "n_engines", "seed", "n_train", "fit_seconds_max", "read_seconds", "distribute_seconds",
              "combine_seconds", "gather_seconds", "gathered_bytes", "eval_seconds", "wall_seconds", "accuracy_pct")


def _nbytes(part) -> int:
    if isinstance(part, bytes):
        return len(part)
    return int(sum(v.nbytes for v in part.values() if isinstance(v, np.ndarray)))


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


def fit_parallel(cl, algorithm: str, source, seed: int = 0, params: Mapping[str, Any] | None = None,
                 timeout: float | None = 3600.0, n_features: int | None = None) -> ParallelFit:
    """Train ``algorithm`` (not the MLP) by exemplar parallelism on all engines of ``cl``.

    Parameters
    ----------
    cl : exemplar.parallel.cluster.RunningCluster
        Started with ``launcher="mpi"``; every engine (MPI rank) gets one shard.
    algorithm : {"gaussian-nb", "lda", "qda", "tree"}
    source : tuple
        Where rank 0 reads the training data: :func:`exemplar.parallel.shards.csv_source` or
        :func:`exemplar.parallel.shards.array_source`.
    seed : int
        ``random_state`` of every engine's tree (the statistics use none).
    params : dict, optional
        ``var_smoothing`` (Naive Bayes), ``shrinkage`` (LDA, QDA; default :data:`SHRINKAGE`),
        ``tol`` (QDA), or ``DecisionTreeClassifier`` parameters (tree).
    timeout : float or None
        Seconds each step may take on the engines before :class:`~exemplar.parallel.remote.EngineError`.
    n_features : int, optional
        The columns the training data must have (the test set's); checked after distribution.

    Returns
    -------
    ParallelFit

    Raises
    ------
    ValueError
        For bad parameters or a local cluster.
    EngineError
        When a step fails or times out on an engine.
    """
    n_engines = check_mpi_cluster(cl, "fit_parallel")
    check_algorithm(algorithm)
    if algorithm == "mlp":
        raise ValueError("fit_parallel trains the statistics algorithms and trees; the MLP is run_exemplar's "
                         "(or run_algorithm(..., 'mlp', ...))")
    seed = check_positive_int("seed", seed, minimum=0)
    params = check_params(algorithm, params)
    if algorithm == "tree":  # unknown or bad parameters fail here, not on the engines
        try:
            build_tree(seed, **params)._validate_params()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"params for 'tree' must be DecisionTreeClassifier parameters: {exc}") from None
    check_timeout(timeout)
    check_source(source, n_engines)
    dist, fits, parts, gather_seconds, t0 = _fit_on_engines(cl, algorithm, source, seed, params, timeout, n_features)
    gathered = sum(_nbytes(p) for p in parts)
    with threadpool_limits(limits=1):  # the master is one process on one core, like each engine
        if algorithm == "tree":
            model = ForestVote([pickle.loads(p) for p in parts])
        else:
            model = model_from_statistics(algorithm, combine_statistics(parts), params)
    combine_seconds = time.perf_counter() - t0
    return ParallelFit(
        algorithm=algorithm, model=model, n_engines=n_engines, n_train=int(sum(dist.sizes)),
        shard_sizes=dist.sizes, fit_seconds=[f["fit_seconds"] for f in fits],
        read_seconds=dist.read_seconds, distribute_seconds=dist.distribute_seconds,
        gather_seconds=gather_seconds, combine_seconds=combine_seconds, gathered_bytes=int(gathered),
    )


def _fit_on_engines(cl, algorithm: str, source, seed: int, params: dict, timeout: float | None,
                    n_features: int | None):
    """Distribute (:func:`~exemplar.parallel.distribute.distribute`), fit every shard, gather the parts.

    Returns the distribution, each rank's fit report, each rank's part (statistics or a pickled
    tree), the gather's seconds, and when the gather began. The engines forget the run on any failure.
    """
    try:
        dist = distribute(cl, source, timeout)
        if n_features is not None:
            check_shards(dist, n_features, every_class=False)  # the statistics and trees need no class everywhere
        engine_params = {} if algorithm in STATISTICS_ALGORITHMS else params
        ars = submit(cl, engine.fit_algorithm_shard, lambda rank: (dist.token, algorithm, seed, engine_params))
        fits = wait(cl, ars, f"fitting ({algorithm})", timeout)
        t0 = time.perf_counter()
        ars = submit(cl, engine.take_algorithm_result, lambda rank: (dist.token,))
        parts = wait(cl, ars, "gathering the results", timeout)
        gather_seconds = time.perf_counter() - t0
    except BaseException:
        forget_run(cl)
        raise
    return dist, fits, parts, gather_seconds, t0


def run_algorithm(cl, algorithm: str, source, X_test: np.ndarray, y_test: np.ndarray, seed: int = 0, *,
                  hidden: int = 75, epochs: int = 75, params: Mapping[str, Any] | None = None,
                  timeout: float | None = 3600.0, trainer: str = "sklearn", dtype: str = "float64") -> dict:
    """Train ``algorithm`` by exemplar parallelism on all engines of ``cl``, test it, and time each step.

    Parameters
    ----------
    cl : exemplar.parallel.cluster.RunningCluster
        Started with ``launcher="mpi"``.
    algorithm : {"mlp", "gaussian-nb", "lda", "qda", "tree"}
        See the module's documentation for how each is combined.
    source : tuple
        :func:`exemplar.parallel.shards.csv_source` (rank 0 reads the CSV) or ``array_source``.
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
    trainer : {"sklearn", "numpy"}
        Who trains the MLP (:func:`exemplar.parallel.train.run_exemplar`); ignored by the other algorithms.
    dtype : {"float64", "float32"}
        The MLP's training dtype; the other algorithms fit in float64.

    Returns
    -------
    dict
        One tidy row: :data:`ROW_FIELDS` (``accuracy_pct`` on the test set, 0-100), plus
        ``n_iter_max`` for the MLP.

    Raises
    ------
    ValueError
        For bad parameters, or a local cluster.
    EngineError
        When a step fails or times out on an engine.
    """
    t_start = time.perf_counter()
    check_algorithm(algorithm)
    check_mpi_cluster(cl, "run_algorithm")
    X_test, y_test = check_arrays(X_test, y_test, "X_test", "y_test")
    if algorithm == "mlp":
        with threadpool_limits(limits=1):  # the master's share (averaging, testing) on one core, as for the others
            res = train.run_exemplar(cl, source, X_test, y_test, hidden=hidden, epochs=epochs, seed=seed,
                                  mlp_params=dict(params or {}), timeout=timeout, trainer=trainer, dtype=dtype)
        row = {k: v for k, v in res.as_row().items() if k in ROW_FIELDS}
        return {"algorithm": algorithm, **row, "gather_seconds": res.comm_seconds,
                "gathered_bytes": res.comm_bytes * res.n_engines, "n_iter_max": max(res.n_iter), "dtype": res.dtype}
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
        "wall_seconds": time.perf_counter() - t_start, "accuracy_pct": acc, "dtype": "float64",
    }
