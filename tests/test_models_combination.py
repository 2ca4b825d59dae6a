"""Combining networks trained apart (exemplar.models.combination): the maths, on small fits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from exemplar.models import combination as cb
from exemplar.models import distillation
from exemplar.models import sklearn_mlp
from exemplar.models.wrappers import EnsembleModel

HIDDEN = 12


def _fit(X, y, seed):
    model = sklearn_mlp.build_mlp(HIDDEN, 100, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model


@pytest.fixture(scope="module")
def fits(mnist_small):
    """Three networks fitted on three shards of 400 scaled MNIST images, from one start (seed 0)."""
    X, y, Xt, yt = mnist_small
    X = X / 255.0
    shards = [(X[a:b], y[a:b]) for a, b in [(0, 150), (150, 300), (300, 400)]]
    models = [_fit(Xs, ys, 0) for Xs, ys in shards]
    return {"models": models, "weights": [sklearn_mlp.get_weights(m) for m in models],
            "shards": shards, "sizes": [150, 150, 100], "X": X, "y": y}


def _random_net(rng, d=7, h=5, c=4, dtype=np.float64):
    return [rng.normal(size=s).astype(dtype) for s in [(d, h), (h, c), (h,), (c,)]]


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, z in zip(a, b):
        assert x.dtype == z.dtype and x.shape == z.shape
        np.testing.assert_array_equal(x, z)


def _assert_close(a, b, rtol=1e-10, atol=1e-12):
    assert len(a) == len(b)
    for x, z in zip(a, b):
        assert x.dtype == z.dtype and x.shape == z.shape
        np.testing.assert_allclose(x, z, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- forward pass

def test_predict_proba_is_mlpclassifiers(fits):
    model, X = fits["models"][0], fits["X"]
    np.testing.assert_allclose(cb.predict_proba(fits["weights"][0], X), model.predict_proba(X), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- matching

def test_matching_recovers_a_known_permutation_and_matched_is_the_mean(fits):
    w0, w1 = fits["weights"][:2]
    rng = np.random.RandomState(3)
    p = rng.permutation(HIDDEN)
    shuffled = cb.permute(w1, p)
    # the permuted network computes the same function
    np.testing.assert_allclose(cb.predict_proba(shuffled, fits["X"]), cb.predict_proba(w1, fits["X"]), rtol=1e-10)
    # matching a network to itself, permuted, finds the inverse permutation exactly
    perm = cb.match_permutation(w1, shuffled)
    np.testing.assert_array_equal(perm, np.argsort(p))
    _assert_same(cb.permute(shuffled, perm), w1)
    # matched of identically ordered networks equals the mean, whatever order the others' units were in
    same_start = [w1, cb.permute(w1, p)]
    assert [q.tolist() for q in cb.matched_permutations(same_start)] == [list(range(HIDDEN)), np.argsort(p).tolist()]
    _assert_same(cb.matched(same_start, [2, 1]), cb.mean([w1, w1], [2, 1]))


def test_matched_recovers_the_mean_of_unpermuted_networks():
    rng = np.random.RandomState(0)
    ref = _random_net(rng, d=20, h=6, c=3)
    # a second network close to the reference, so that the identity is its best match
    close = [w + 0.05 * rng.normal(size=w.shape) for w in ref]
    p = rng.permutation(6)
    np.testing.assert_array_equal(cb.matched_permutations([ref, cb.permute(close, p)])[1], np.argsort(p))
    _assert_same(cb.matched([ref, cb.permute(close, p)], [3, 1]), cb.mean([ref, close], [3, 1]))


def test_permute_refuses_a_non_permutation():
    net = _random_net(np.random.RandomState(0))
    with pytest.raises(ValueError, match="permutation of range"):
        cb.permute(net, [0, 0, 1, 2, 3])


# ----------------------------------------------------------------------------- every method

def _all_methods(weight_sets, sizes, shards):
    fishers = [cb.diagonal_fisher(ws, X, y) for ws, (X, y) in zip(weight_sets, shards)]
    grams = [cb.layer_grams(ws, X) for ws, (X, _) in zip(weight_sets, shards)]
    return {
        "mean": cb.mean(weight_sets, sizes),
        "matched": cb.matched(weight_sets, sizes),
        "fisher": cb.fisher(weight_sets, fishers, sizes),
        "regmean": cb.regmean(weight_sets, grams, sizes),
        "distilled": distillation.distilled(weight_sets, sizes, [X for X, _ in shards], epochs=1),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_method_returns_one_network_unchanged(fits, dtype):
    w = [a.astype(dtype) for a in fits["weights"][0]]
    X, y = fits["shards"][0]
    results = _all_methods([w], [150], [(X.astype(dtype), y)])
    assert set(results) == set(cb.METHODS) - {"retrained", "ensemble"}
    for name, out in results.items():
        _assert_same(out, w)


def test_every_method_keeps_dtype_and_beats_chance(fits, mnist_small):
    _, _, Xt, yt = mnist_small
    w32 = [[a.astype(np.float32) for a in ws] for ws in fits["weights"]]
    shards = [(X.astype(np.float32), y) for X, y in fits["shards"]]
    for name, out in _all_methods(w32, fits["sizes"], shards).items():
        assert [a.dtype for a in out] == [np.float32] * 4, name
        acc = np.mean(cb.predict_proba(out, Xt / 255.0).argmax(axis=1) == yt)
        assert acc > 0.3, (name, acc)


def test_methods_refuse_mismatched_networks():
    rng = np.random.RandomState(0)
    a, b = _random_net(rng), _random_net(rng, h=6)
    with pytest.raises(ValueError, match="all networks must have one shape"):
        cb.mean([a, b])
    with pytest.raises(ValueError, match="one dtype"):
        cb.matched([a, [w.astype(np.float32) for w in a]])
    with pytest.raises(ValueError, match="one-hidden-layer network, 4 arrays"):
        cb.mean([a + a[:2]])
    with pytest.raises(ValueError, match="shapes do not chain"):
        cb.mean([[a[0], a[1], a[3], a[2]]])
    with pytest.raises(ValueError, match="sizes must be 2 non-negative"):
        cb.fisher([a, a], [a, a], [1, -1])
    with pytest.raises(ValueError, match="fishers\\[1\\]: expected shapes"):
        cb.fisher([a, a], [a, b])
    with pytest.raises(ValueError, match="grams\\[0\\]: expected shapes"):
        cb.regmean([a, a], [[np.eye(7), np.eye(6)]] * 2)
    with pytest.raises(ValueError, match="at least one network"):
        cb.mean([])


# ----------------------------------------------------------------------------- Fisher

def test_fisher_with_equal_fishers_is_the_mean(fits):
    ws, sizes = fits["weights"], fits["sizes"]
    F = cb.diagonal_fisher(ws[0], *fits["shards"][0])
    _assert_close(cb.fisher(ws, [F, F, F], sizes), cb.mean(ws, sizes))
    zeros = [np.zeros_like(w) for w in ws[0]]
    _assert_close(cb.fisher(ws, [zeros] * 3, sizes), cb.mean(ws, sizes))


def test_fisher_follows_the_informed_network():
    rng = np.random.RandomState(1)
    a, b = _random_net(rng), _random_net(rng)
    big = [np.full(w.shape, 1e6) for w in a]
    small = [np.full(w.shape, 1e-6) for w in a]
    _assert_close(cb.fisher([a, b], [big, small]), a, rtol=1e-9, atol=1e-9)


def test_diagonal_fisher_is_the_mean_squared_per_row_gradient(fits):
    w = fits["weights"][1]
    X, y = fits["shards"][1]
    X, y = X[:20], y[:20]
    W1, W2, b1, b2 = w
    rows = []
    for x, label in zip(X, y):  # one row at a time: the gradient of log p(label | x), by hand
        a = np.maximum(x @ W1 + b1, 0)
        d2 = cb.softmax((a @ W2 + b2)[None, :])[0] - np.eye(10)[label]
        d1 = (W2 @ d2) * (a > 0)
        rows.append([np.outer(x, d1) ** 2, np.outer(a, d2) ** 2, d1 ** 2, d2 ** 2])
    expect = [np.mean([r[j] for r in rows], axis=0) for j in range(4)]
    _assert_close(cb.diagonal_fisher(w, X, y, batch_rows=7), expect, rtol=1e-9, atol=1e-15)
    expected_kind = cb.diagonal_fisher(w, X, y, kind="expected")
    assert [f.shape for f in expected_kind] == [a.shape for a in w]
    assert all(np.all(f >= 0) for f in expected_kind)


# ----------------------------------------------------------------------------- RegMean

def test_regmean_with_identical_grams_is_the_mean(fits):
    ws, sizes = fits["weights"], fits["sizes"]
    G = cb.layer_grams(ws[0], fits["shards"][0][0])
    _assert_close(cb.regmean(ws, [G, G, G], sizes), cb.mean(ws, sizes), rtol=1e-6, atol=1e-9)


def test_layer_grams_append_a_ones_column(fits):
    w = fits["weights"][0]
    X = fits["shards"][0][0]
    G1, G2 = cb.layer_grams(w, X, batch_rows=64)
    Z = np.hstack([X, np.ones((len(X), 1))])
    np.testing.assert_allclose(G1, Z.T @ Z / len(X), rtol=1e-12)
    assert G2.shape == (HIDDEN + 1, HIDDEN + 1) and G2[-1, -1] == pytest.approx(1.0)


def test_regmean_reproduces_a_shared_linear_map():
    # two networks whose first layers are the same map on the inputs each has seen: RegMean with
    # alpha = 1 finds one first layer that reproduces both on their own inputs
    rng = np.random.RandomState(2)
    d, h = 6, 4
    X1 = np.hstack([rng.normal(size=(50, 3)), np.zeros((50, 3))])
    X2 = np.hstack([np.zeros((50, 3)), rng.normal(size=(50, 3))])
    a, b = _random_net(rng, d=d, h=h), _random_net(rng, d=d, h=h)
    b[2] = a[2].copy()  # same first-layer bias
    grams = [cb.layer_grams(a, X1), cb.layer_grams(b, X2)]
    W1 = cb.regmean([a, b], grams, alpha=1.0, ridge=1e-12)[0]
    np.testing.assert_allclose(X1 @ W1, X1 @ a[0], atol=1e-6)
    np.testing.assert_allclose(X2 @ W1, X2 @ b[0], atol=1e-6)


# ----------------------------------------------------------------------------- distillation

def test_distillation_targets_are_the_ensembles_predict_proba(fits):
    X, sizes = fits["X"], fits["sizes"]
    ensemble = EnsembleModel(fits["models"], sizes)
    np.testing.assert_allclose(distillation.distillation_targets(fits["weights"], sizes, X), ensemble.predict_proba(X),
                               rtol=1e-10, atol=1e-12)


def test_distill_moves_toward_the_targets_deterministically(fits):
    ws, sizes = fits["weights"], fits["sizes"]
    X = fits["shards"][0][0]
    T = distillation.distillation_targets(ws, sizes, X)
    start = cb.mean(ws, sizes)

    def cross_entropy(w):
        return -np.mean(np.sum(T * np.log(cb.predict_proba(w, X) + 1e-12), axis=1))

    once = distillation.distill(start, X, T, epochs=3, seed=4)
    _assert_same(once, distillation.distill(start, X, T, epochs=3, seed=4))
    assert cross_entropy(once) < cross_entropy(start)
    _assert_same(distillation.distill(start, X, T, epochs=0), start)


# ----------------------------------------------------------------------------- cost

def test_exchange_cost_counts_rounds_and_bytes():
    rng = np.random.RandomState(0)
    nets = [_random_net(rng, d=7, h=5, c=4, dtype=np.float32) for _ in range(3)]
    P = 4 * (7 * 5 + 5 * 4 + 5 + 4)
    assert cb.network_bytes(nets[0]) == P
    assert cb.exchange_cost("mean", nets) == (0, 0)
    assert cb.exchange_cost("ensemble", nets) == (0, 0)
    assert cb.exchange_cost("matched", nets) == (0, 0)
    assert cb.exchange_cost("fisher", nets) == (0, P)
    assert cb.exchange_cost("regmean", nets) == (0, 8 * (8 * 8 + 6 * 6))
    assert cb.exchange_cost("distilled", nets) == (1, 2 * P + P)
    assert cb.exchange_cost("distilled", nets[:1]) == (0, 0)
    with pytest.raises(ValueError, match="method must be one of"):
        cb.exchange_cost("median", nets)
