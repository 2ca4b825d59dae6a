"""Models combined exactly from shard statistics (Naive Bayes, LDA, QDA), equal to scikit-learn; the forest vote.

The data are small and synthetic (integer pixels 0-255 with constant columns, like MNIST's
borders), so the tests need no download and no cluster (the engines' side is
``tests/test_parallel_algorithms.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from exemplar.models import statistics
from exemplar.models.wrappers import ForestVote
from exemplar.parallel.shards import shard_bounds


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


@pytest.mark.parametrize("algorithm", statistics.STATISTICS_ALGORITHMS)
@pytest.mark.parametrize("n_shards", [1, 2, 3, 7])
def test_shard_statistics_add_up_to_the_whole_exactly(small, algorithm, n_shards):
    X, y, _, _ = small
    whole = statistics.shard_statistics(X, y, algorithm)
    parts = [statistics.shard_statistics(X[a:b], y[a:b], algorithm) for a, b in shard_bounds(len(y), n_shards)]
    total = statistics.combine_statistics(parts)
    for key in whole:
        np.testing.assert_array_equal(total[key], whole[key], err_msg=key)


def test_shards_lacking_a_class_combine_exactly(small):
    X, y, _, _ = small
    order = np.argsort(y, kind="stable")  # sorted by class: the first shards lack the last classes
    Xs, ys = X[order], y[order]
    parts = [statistics.shard_statistics(Xs[a:b], ys[a:b], "lda") for a, b in shard_bounds(len(ys), 5)]
    assert any(len(p["classes"]) < 4 for p in parts)
    total = statistics.combine_statistics(parts)
    whole = statistics.shard_statistics(X, y, "lda")
    for key in whole:
        np.testing.assert_array_equal(total[key], whole[key], err_msg=key)


def test_combine_statistics_refuses_mixed_kinds(small):
    X, y, _, _ = small
    with pytest.raises(ValueError, match="different statistics"):
        statistics.combine_statistics([statistics.shard_statistics(X, y, "gaussian-nb"),
                                       statistics.shard_statistics(X, y, "lda")])
    with pytest.raises(ValueError, match="at least one shard"):
        statistics.combine_statistics([])


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
    with pytest.raises(ValueError, match=r"shrinkage must be a number in \[0, 1\]; got 2"):
        statistics.fit_sequential("qda", X, y, params={"shrinkage": 2})
    with pytest.raises(ValueError, match="algorithm must be one of 'mlp', 'gaussian-nb'"):
        statistics.check_algorithm("svm")


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
    forest = ForestVote([a, b])
    np.testing.assert_array_equal(forest.classes_, [0, 1, 2, 3])
    np.testing.assert_allclose(forest.predict_proba(np.zeros((2, 5))), [[0.15, 0.25, 0.2, 0.4]] * 2)
    np.testing.assert_array_equal(forest.predict(np.zeros((2, 5))), [3, 3])
    # a tie goes to the first class in sorted order
    tie = ForestVote([Fixed([0, 1], [1.0, 0.0]), Fixed([0, 1], [0.0, 1.0])])
    np.testing.assert_array_equal(tie.predict(np.zeros((1, 5))), [0])
    with pytest.raises(ValueError, match="at least one tree"):
        ForestVote([])


def test_forest_vote_of_real_trees(small):
    X, y, Xt, _ = small
    trees = [DecisionTreeClassifier(random_state=0).fit(X[a:b], y[a:b]) for a, b in shard_bounds(len(y), 3)]
    forest = ForestVote(trees)
    expected = np.mean([t.predict_proba(Xt) for t in trees], axis=0)
    np.testing.assert_allclose(forest.predict_proba(Xt), expected)
    np.testing.assert_array_equal(forest.predict(Xt), forest.classes_[expected.argmax(axis=1)])


@pytest.mark.parametrize("algorithm", statistics.STATISTICS_ALGORITHMS)
def test_sklearn_reference_is_the_estimator_the_combined_model_reproduces(small, algorithm):
    X, y, Xt, _ = small
    ref = statistics.sklearn_reference(algorithm).fit(X.astype(np.float64), y)
    assert type(ref) is type(statistics.fit_sequential(algorithm, X, y))
    assert_matches_sklearn(statistics.fit_sequential(algorithm, X, y), ref, algorithm, Xt)


def test_fit_sequential_tree_is_a_one_tree_forest(small):
    X, y, Xt, _ = small
    forest = statistics.fit_sequential("tree", X, y, seed=2)
    tree = DecisionTreeClassifier(random_state=2).fit(X, y)
    assert isinstance(forest, ForestVote) and len(forest.members) == 1
    np.testing.assert_array_equal(forest.predict(Xt), tree.predict(Xt))
    with pytest.raises(ValueError, match="does not fit the MLP"):
        statistics.fit_sequential("mlp", X, y)
