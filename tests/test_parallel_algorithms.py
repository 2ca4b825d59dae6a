"""Other algorithms trained by exemplar parallelism on MPI engines: the parallel model is the sequential one.

The data are the synthetic digits of ``conftest.py`` (784 integer pixels 0-255, like MNIST), so
the tests need no download; the tests marked ``mpi`` share one 2-engine cluster.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from exemplar.data import write_csv
from exemplar.models import statistics
from exemplar.models.wrappers import ForestVote
from exemplar.parallel import algorithms as al
from exemplar.parallel.shards import array_source, csv_source, shard_bounds


def assert_same_model(a, b):
    """Bit-for-bit equal fitted attributes (those ending in ``_``, arrays and lists of arrays alike)."""
    fitted = sorted(k for k in vars(b) if k.endswith("_") and not k.startswith("_"))
    assert fitted and fitted == sorted(k for k in vars(a) if k.endswith("_") and not k.startswith("_"))
    for name in fitted:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(y, list):
            assert len(x) == len(y), name
            for s, t in zip(x, y):
                np.testing.assert_array_equal(s, t, err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.mpi
@pytest.mark.parametrize("algorithm", statistics.STATISTICS_ALGORITHMS)
def test_parallel_model_equals_the_sequential_one_exactly(cluster2, digits, algorithm):
    X, y, Xt, _ = digits
    fit = al.fit_parallel(cluster2, algorithm, array_source(X, y), timeout=120)
    assert fit.n_engines == 2 and fit.shard_sizes == [150, 150] and fit.n_train == 300
    with threadpool_limits(limits=1):  # as the master builds the model: one BLAS thread, the same rounding
        sequential = statistics.fit_sequential(algorithm, X, y)
    assert_same_model(fit.model, sequential)  # bit for bit
    ref = statistics.sklearn_reference(algorithm).fit(X.astype(np.float64), y)
    np.testing.assert_array_equal(fit.model.predict(Xt), ref.predict(Xt.astype(np.float64)))
    assert fit.gathered_bytes > 0 and 0 <= fit.gather_seconds <= fit.combine_seconds


@pytest.mark.mpi
def test_parallel_tree_is_the_forest_of_the_shards_trees(cluster2, digits):
    X, y, Xt, _ = digits
    fit = al.fit_parallel(cluster2, "tree", array_source(X, y), seed=3, timeout=120)
    assert isinstance(fit.model, ForestVote) and len(fit.model.members) == 2
    trees = [DecisionTreeClassifier(random_state=3).fit(X[a:b], y[a:b]) for a, b in shard_bounds(len(y), 2)]
    np.testing.assert_array_equal(fit.model.predict_proba(Xt), ForestVote(trees).predict_proba(Xt))


@pytest.mark.mpi
@pytest.mark.parametrize("algorithm", statistics.ALGORITHMS)
def test_run_algorithm_rows(cluster2, synthetic_digits, algorithm):
    X, y = synthetic_digits(300, seed=0)
    Xt, yt = synthetic_digits(200, seed=1)
    row = al.run_algorithm(cluster2, algorithm, array_source(X, y), Xt, yt, seed=1, hidden=20, epochs=20,
                           timeout=120)
    for name in al.ROW_FIELDS:
        assert name in row, name
    assert row["algorithm"] == algorithm and row["n_engines"] == 2 and row["n_train"] == 300 and row["seed"] == 1
    assert row["accuracy_pct"] > 60  # separable classes
    for name in ("fit_seconds_max", "distribute_seconds", "combine_seconds", "eval_seconds"):
        assert 0 <= row[name] <= row["wall_seconds"], name


@pytest.mark.mpi
def test_run_algorithm_from_a_csv_file(cluster2, synthetic_digits, tmp_path):
    X, y = synthetic_digits(200, seed=0)
    Xt, yt = synthetic_digits(100, seed=1)
    source = csv_source(write_csv(tmp_path / "train.csv", X, y), 150)
    row = al.run_algorithm(cluster2, "gaussian-nb", source, Xt, yt, timeout=120)
    assert row["n_train"] == 150 and row["read_seconds"] > 0
    expected = statistics.fit_sequential("gaussian-nb", X[:150], y[:150])
    assert row["accuracy_pct"] == pytest.approx(np.mean(expected.predict(Xt) == yt) * 100)


@pytest.mark.mpi
def test_run_algorithm_checks_before_it_starts(cluster2, digits):
    X, y, Xt, yt = digits
    with pytest.raises(ValueError, match="algorithm must be one of"):
        al.run_algorithm(cluster2, "svm", array_source(X, y), Xt, yt)
    with pytest.raises(ValueError, match="X_test must have 784 columns"):
        al.run_algorithm(cluster2, "lda", array_source(X, y), Xt[:, :10], yt)
    with pytest.raises(ValueError, match="may set var_smoothing"):
        al.run_algorithm(cluster2, "gaussian-nb", array_source(X, y), Xt, yt, params={"alpha": 1})
    # the cluster is still usable after the refusals
    row = al.run_algorithm(cluster2, "lda", array_source(X, y), Xt, yt, timeout=120)
    assert row["accuracy_pct"] > 50


def test_tree_params_are_checked_before_the_engines_run(digits):
    X, y, _, _ = digits
    fake = type("Mpi", (), {"launcher": "mpi", "n": 2})()  # never reached: the parameters fail first
    with pytest.raises(ValueError, match="DecisionTreeClassifier parameters.*max_depht"):
        al.fit_parallel(fake, "tree", array_source(X, y), params={"max_depht": 3})
    with pytest.raises(ValueError, match="max_depth"):
        al.fit_parallel(fake, "tree", array_source(X, y), params={"max_depth": -1})
    with pytest.raises(ValueError, match="the MLP is run_exemplar's"):
        al.fit_parallel(fake, "mlp", array_source(X, y))


def test_local_cluster_is_refused(digits):
    X, y, Xt, yt = digits
    fake = type("Local", (), {"launcher": "local", "n": 2})()
    with pytest.raises(ValueError, match="launcher='mpi'"):
        al.run_algorithm(fake, "lda", array_source(X, y), Xt, yt)
