"""Other algorithms by exemplar parallelism: exact statistics, equality with scikit-learn, the forest vote.

The data are small and synthetic (integer pixels 0-255 with constant columns, like MNIST's
borders), so the tests need no download; the MPI tests share one 2-engine cluster.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from exemplar.parallel import algorithms as al
from exemplar import parallel as ex
from exemplar.parallel.cluster import mpiexec_path, start_cluster
from exemplar.experiments import algorithms as ch_algorithms
from exemplar.models import statistics
from exemplar.parallel import engine

HAVE_MPIEXEC = mpiexec_path().exists()


def mpi(func):
    func = pytest.mark.mpi(func)
    return pytest.mark.skipif(not HAVE_MPIEXEC, reason=f"no mpiexec at {mpiexec_path()}")(func)


def pixels(n: int, p: int = 64, n_classes: int = 4, seed: int = 0, constant: int = 6):
    """``n`` rows of ``p`` integer pixels 0-255 in ``n_classes`` classes; the first ``constant`` columns are 0."""
    rng = np.random.default_rng(seed)
    proto = np.random.default_rng(99).integers(0, 256, size=(n_classes, p))
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    X = np.clip(proto[y] + rng.normal(0, 40, size=(n, p)), 0, 255).round()
    X[:, :constant] = 0
    X[y == 1, constant] = 17  # constant within one class only
    return X.astype(np.uint8), y.astype(np.int64)


def digits(n: int, seed: int = 0, n_on: int = 60):
    """``n`` MNIST-like images (784 pixels, 10 classes of mostly-on "strokes" over a sparse background)."""
    proto = np.random.default_rng(12345)
    masks = np.zeros((10, 784), dtype=bool)
    for c in range(10):
        masks[c, proto.choice(784, n_on, replace=False)] = True
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    rng.shuffle(y)
    on = (masks[y] & (rng.random((n, 784)) < 0.7)) | (rng.random((n, 784)) < 0.03)
    return np.where(on, rng.integers(128, 256, size=(n, 784)), 0).astype(np.uint8), y.astype(np.int64)


@pytest.fixture(scope="module")
def small():
    X, y = pixels(240, seed=0)
    Xt, yt = pixels(200, seed=1)
    return X, y, Xt, yt



ATTRS = {
    "gaussian-nb": ("theta_", "var_", "class_prior_", "class_count_", "epsilon_"),
    "lda": ("means_", "priors_", "covariance_", "coef_", "intercept_"),
    "qda": ("means_", "priors_"),
}


def assert_same_model(a, b, algorithm):
    """Bit-for-bit equal fitted attributes."""
    for name in ATTRS[algorithm]:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    if algorithm == "qda":
        for s, t in zip(a.scalings_, b.scalings_):
            np.testing.assert_array_equal(s, t)
        for s, t in zip(a.rotations_, b.rotations_):
            np.testing.assert_array_equal(s, t)


def assert_matches_sklearn(ours, ref, algorithm, X_test):
    """Equal to scikit-learn's own sequential fit up to rounding, and the same predictions."""
    for name in ATTRS[algorithm]:
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-9, atol=1e-9, err_msg=name)
    if algorithm == "qda":
        for s, t in zip(ours.scalings_, ref.scalings_):
            np.testing.assert_allclose(s, t, rtol=1e-9)
    Xf = X_test.astype(np.float64)
    np.testing.assert_allclose(ours.predict_proba(X_test), ref.predict_proba(Xf), rtol=1e-7, atol=1e-10)
    np.testing.assert_array_equal(ours.predict(X_test), ref.predict(Xf))


# ------------------------------------------------------------------------------------------
# Statistics: exact, whatever the split
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", al.STATISTICS_ALGORITHMS)
@pytest.mark.parametrize("n_shards", [1, 2, 3, 7])
def test_shard_statistics_add_up_to_the_whole_exactly(small, algorithm, n_shards):
    X, y, _, _ = small
    whole = engine.shard_statistics(X, y, algorithm)
    parts = [engine.shard_statistics(X[a:b], y[a:b], algorithm) for a, b in ex.shard_bounds(len(y), n_shards)]
    total = al.combine_statistics(parts)
    for key in whole:
        np.testing.assert_array_equal(total[key], whole[key], err_msg=key)


def test_shards_lacking_a_class_combine_exactly(small):
    X, y, _, _ = small
    order = np.argsort(y, kind="stable")  # sorted by class: the first shards lack the last classes
    Xs, ys = X[order], y[order]
    parts = [engine.shard_statistics(Xs[a:b], ys[a:b], "lda") for a, b in ex.shard_bounds(len(ys), 5)]
    assert any(len(p["classes"]) < 4 for p in parts)
    total = al.combine_statistics(parts)
    whole = engine.shard_statistics(X, y, "lda")
    for key in whole:
        np.testing.assert_array_equal(total[key], whole[key], err_msg=key)


def test_combine_statistics_refuses_mixed_kinds(small):
    X, y, _, _ = small
    with pytest.raises(ValueError, match="different statistics"):
        al.combine_statistics([engine.shard_statistics(X, y, "gaussian-nb"), engine.shard_statistics(X, y, "lda")])
    with pytest.raises(ValueError, match="at least one shard"):
        al.combine_statistics([])


# ------------------------------------------------------------------------------------------
# The models equal scikit-learn's sequential fit
# ------------------------------------------------------------------------------------------


def test_gaussian_nb_equals_sklearn(small):
    X, y, Xt, _ = small
    ours = statistics.fit_sequential("gaussian-nb", X, y)
    ref = GaussianNB().fit(X.astype(np.float64), y)
    assert_matches_sklearn(ours, ref, "gaussian-nb", Xt)


def test_lda_equals_sklearn(small):
    X, y, Xt, _ = small
    ours = statistics.fit_sequential("lda", X, y)
    ref = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=statistics.SHRINKAGE).fit(X.astype(np.float64), y)
    assert isinstance(ours, LinearDiscriminantAnalysis) and ours.shrinkage == statistics.SHRINKAGE
    assert_matches_sklearn(ours, ref, "lda", Xt)


def test_lda_binary_case_equals_sklearn():
    X, y = pixels(120, n_classes=2, seed=3)
    Xt, _ = pixels(50, n_classes=2, seed=4)
    ours = statistics.fit_sequential("lda", X, y)
    ref = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=statistics.SHRINKAGE).fit(X.astype(np.float64), y)
    assert ours.coef_.shape == ref.coef_.shape == (1, X.shape[1])
    assert_matches_sklearn(ours, ref, "lda", Xt)


def test_qda_equals_sklearn_with_fewer_rows_per_class_than_pixels(small):
    X, y, Xt, _ = small  # 60 rows per class, 64 pixels, constant pixels: singular without shrinkage
    ours = statistics.fit_sequential("qda", X, y)
    ref = QuadraticDiscriminantAnalysis(solver="eigen", shrinkage=statistics.SHRINKAGE).fit(X.astype(np.float64), y)
    assert isinstance(ours, QuadraticDiscriminantAnalysis)
    assert_matches_sklearn(ours, ref, "qda", Xt)
    np.testing.assert_allclose(ours.decision_function(Xt), ref.decision_function(Xt.astype(np.float64)),
                               rtol=1e-8)


def test_qda_needs_its_shrinkage_for_constant_pixels(small):
    X, y, _, _ = small
    with pytest.raises(ValueError, match="not full rank.*shrinkage"):
        statistics.fit_sequential("qda", X, y, params={"shrinkage": 0.0})


def test_params_are_checked():
    X, y = pixels(40)
    with pytest.raises(ValueError, match="may set shrinkage"):
        statistics.fit_sequential("lda", X, y, params={"reg_param": 0.1})
    with pytest.raises(ValueError, match="shrinkage must be a number from 0 to 1"):
        statistics.fit_sequential("qda", X, y, params={"shrinkage": 2})
    with pytest.raises(ValueError, match="algorithm must be one of 'mlp', 'gaussian-nb'"):
        al.check_algorithm("svm")


# ------------------------------------------------------------------------------------------
# The forest vote
# ------------------------------------------------------------------------------------------


class Fixed:
    """A stand-in classifier with fixed probabilities."""

    def __init__(self, classes, proba):
        self.classes_ = np.asarray(classes)
        self.proba = np.asarray(proba, dtype=float)

    def predict_proba(self, X):
        return np.repeat(self.proba[None, :], len(X), axis=0)


def test_forest_vote_is_the_mean_of_the_trees_probabilities_over_all_classes():
    a = Fixed([0, 1, 2], [0.2, 0.5, 0.3])
    b = Fixed([0, 2, 3], [0.1, 0.1, 0.8])  # never saw class 1
    forest = al.ForestVote([a, b])
    np.testing.assert_array_equal(forest.classes_, [0, 1, 2, 3])
    np.testing.assert_allclose(forest.predict_proba(np.zeros((2, 5))), [[0.15, 0.25, 0.2, 0.4]] * 2)
    np.testing.assert_array_equal(forest.predict(np.zeros((2, 5))), [3, 3])
    # a tie goes to the first class in sorted order
    tie = al.ForestVote([Fixed([0, 1], [1.0, 0.0]), Fixed([0, 1], [0.0, 1.0])])
    np.testing.assert_array_equal(tie.predict(np.zeros((1, 5))), [0])
    with pytest.raises(ValueError, match="at least one tree"):
        al.ForestVote([])


def test_forest_vote_of_real_trees(small):
    X, y, Xt, _ = small
    trees = [DecisionTreeClassifier(random_state=0).fit(X[a:b], y[a:b]) for a, b in ex.shard_bounds(len(y), 3)]
    forest = al.ForestVote(trees)
    expected = np.mean([t.predict_proba(Xt) for t in trees], axis=0)
    np.testing.assert_allclose(forest.predict_proba(Xt), expected)
    np.testing.assert_array_equal(forest.predict(Xt), forest.classes_[expected.argmax(axis=1)])


# ------------------------------------------------------------------------------------------
# On the engines
# ------------------------------------------------------------------------------------------


@mpi
@pytest.mark.parametrize("algorithm", al.STATISTICS_ALGORITHMS)
def test_parallel_model_equals_the_sequential_one_exactly(cluster2, small, algorithm):
    X, y, Xt, yt = small
    fit = al.fit_parallel(cluster2, algorithm, ex.array_source(X, y), timeout=120)
    assert fit.n_engines == 2 and fit.shard_sizes == [120, 120] and fit.n_train == 240
    assert_same_model(fit.model, statistics.fit_sequential(algorithm, X, y), algorithm)  # bit for bit
    ref = statistics.sklearn_reference(algorithm).fit(X.astype(np.float64), y)
    assert_matches_sklearn(fit.model, ref, algorithm, Xt)
    assert fit.gathered_bytes > 0 and 0 <= fit.gather_seconds <= fit.combine_seconds


@mpi
def test_parallel_tree_is_the_forest_of_the_shards_trees(cluster2, small):
    X, y, Xt, _ = small
    fit = al.fit_parallel(cluster2, "tree", ex.array_source(X, y), seed=3, timeout=120)
    assert isinstance(fit.model, al.ForestVote) and len(fit.model.members) == 2
    trees = [DecisionTreeClassifier(random_state=3).fit(X[a:b], y[a:b]) for a, b in ex.shard_bounds(len(y), 2)]
    np.testing.assert_array_equal(fit.model.predict_proba(Xt), al.ForestVote(trees).predict_proba(Xt))


@mpi
@pytest.mark.parametrize("algorithm", al.ALGORITHMS)
def test_run_algorithm_rows(cluster2, algorithm):
    X, y = digits(300, seed=0)
    Xt, yt = digits(200, seed=1)
    row = al.run_algorithm(cluster2, algorithm, ex.array_source(X, y), Xt, yt, seed=1, hidden=20, epochs=20,
                           timeout=120)
    for name in al.ROW_FIELDS:
        assert name in row, name
    assert row["algorithm"] == algorithm and row["n_engines"] == 2 and row["n_train"] == 300 and row["seed"] == 1
    assert row["accuracy_pct"] > 60  # separable classes
    for name in ("fit_seconds_max", "distribute_seconds", "combine_seconds", "eval_seconds"):
        assert 0 <= row[name] <= row["wall_seconds"], name


def _write_csv(path, X, y):
    from exemplar.data import _csv_chunks

    path.write_bytes(b"".join(_csv_chunks(X, y)))
    return path


@mpi
def test_run_algorithm_from_a_csv_file(cluster2, tmp_path):
    X, y = digits(200, seed=0)  # the CSV format has 784 pixels
    Xt, yt = digits(100, seed=1)
    source = ex.csv_source(_write_csv(tmp_path / "train.csv", X, y), 150)
    row = al.run_algorithm(cluster2, "gaussian-nb", source, Xt, yt, timeout=120)
    assert row["n_train"] == 150 and row["read_seconds"] > 0
    expected = statistics.fit_sequential("gaussian-nb", X[:150], y[:150])
    assert row["accuracy_pct"] == pytest.approx(np.mean(expected.predict(Xt) == yt) * 100)


@mpi
def test_run_algorithm_checks_before_it_starts(cluster2, small):
    X, y, Xt, yt = small
    with pytest.raises(ValueError, match="algorithm must be one of"):
        al.run_algorithm(cluster2, "svm", ex.array_source(X, y), Xt, yt)
    with pytest.raises(ValueError, match="X_test must have 64 columns"):
        al.run_algorithm(cluster2, "lda", ex.array_source(X, y), Xt[:, :10], yt)
    with pytest.raises(ValueError, match="may set var_smoothing"):
        al.run_algorithm(cluster2, "gaussian-nb", ex.array_source(X, y), Xt, yt, params={"alpha": 1})
    # the cluster is still usable after the refusals
    row = al.run_algorithm(cluster2, "lda", ex.array_source(X, y), Xt, yt, timeout=120)
    assert row["accuracy_pct"] > 50


def test_tree_params_are_checked_before_the_engines_run(small):
    X, y, _, _ = small
    fake = type("Mpi", (), {"launcher": "mpi", "n": 2})()  # never reached: the parameters fail first
    with pytest.raises(ValueError, match="DecisionTreeClassifier parameters.*max_depht"):
        al.fit_parallel(fake, "tree", ex.array_source(X, y), params={"max_depht": 3})
    with pytest.raises(ValueError, match="max_depth"):
        al.fit_parallel(fake, "tree", ex.array_source(X, y), params={"max_depth": -1})
    with pytest.raises(ValueError, match="the MLP is run_exemplar's"):
        al.fit_parallel(fake, "mlp", ex.array_source(X, y))


def test_local_cluster_is_refused(small):
    X, y, Xt, yt = small
    fake = type("Local", (), {"launcher": "local", "n": 2})()
    with pytest.raises(ValueError, match="launcher='mpi'"):
        al.run_algorithm(fake, "lda", ex.array_source(X, y), Xt, yt)


# ------------------------------------------------------------------------------------------
# Reading the runs
# ------------------------------------------------------------------------------------------


def test_summarize_algorithms_speedup_and_accuracy_change():
    import pandas as pd

    rows = []
    for n, fit, acc in [(1, 8.0, 90.0), (2, 4.0, 89.0), (4, 2.0, 88.0)]:
        for r in range(2):
            rows.append({"dataset": "mnist", "n_train": 6000, "algorithm": "lda", "n_engines": n, "repeat": r,
                         "fit_seconds_max": fit, "distribute_seconds": 0.0, "combine_seconds": 0.0,
                         "wall_seconds": fit + 1, "accuracy_pct": acc})
    out = ch_algorithms.summarize_algorithms(pd.DataFrame(rows))
    assert list(out.n_engines) == [1, 2, 4] and list(out.runs) == [2, 2, 2]
    np.testing.assert_allclose(out.speedup, [1, 2, 4])
    np.testing.assert_allclose(out.speedup_wall, [1, 9 / 5, 9 / 3])
    np.testing.assert_allclose(out.accuracy_change_pp, [0, -1, -2])
    np.testing.assert_allclose(out.impact, [90 / 8, 89 / 4, 88 / 2])
