"""The fast numpy trainer (``exemplar.models.numpy_mlp``): equal to ``MLPClassifier.fit`` in float64,
close in float32, and offered as ``trainer="numpy"`` to every strategy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from exemplar import parallel as ex
from exemplar.models import numpy_mlp
from exemplar.models.sklearn_mlp import accuracy_pct, fit_timed, get_weights
from exemplar.parallel.combine import run_combination

#: The tolerance of "equal to rounding error" (float64): weights and losses after the whole fit.
RTOL, ATOL = 1e-9, 1e-12


def _sklearn(X, y, hidden, epochs, seed, **kw):
    with threadpool_limits(1):
        ref = MLPClassifier(hidden_layer_sizes=hidden, max_iter=epochs, random_state=seed, **kw)
        return fit_timed(ref, X, y).model


@pytest.mark.parametrize("hidden", [(12,), (16, 8)])
@pytest.mark.parametrize("scale", [None, 255])
def test_float64_fit_equals_mlpclassifier_fit(digits, hidden, scale):
    """Same initial weights, shuffles, gradients, Adam steps, losses and stop, for one and two hidden layers."""
    X, y, Xt, _ = digits
    features = X.astype(np.float64) / (scale or 1)
    ref = _sklearn(features, y, hidden, 30, 7, batch_size=64)
    with threadpool_limits(1):
        got = numpy_mlp.train(features, y, hidden, 30, 7, batch_size=64)
    assert got.n_iter == ref.n_iter_
    np.testing.assert_allclose(got.loss_curve, ref.loss_curve_, rtol=1e-10)
    for a, b in zip(got.net.weights(), get_weights(ref)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    Xt = Xt.astype(np.float64) / (scale or 1)
    np.testing.assert_allclose(got.net.predict_proba(Xt), ref.predict_proba(Xt), rtol=1e-9, atol=1e-12)


def test_uint8_pixels_converted_per_batch_train_as_the_converted_array_does(digits):
    """Pixels kept as uint8 and scaled per batch give bit-identical weights to pixels converted up front."""
    X, y, _, _ = digits
    assert X.dtype == np.uint8
    for dtype in ("float64", "float32"):
        whole = X.astype(dtype) / np.dtype(dtype).type(255)
        a = numpy_mlp.train(whole, y, 10, 5, 1, batch_size=50)
        b = numpy_mlp.train(X, y, 10, 5, 1, batch_size=50, dtype=dtype, scale=255)
        assert b.net.params.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a.net.params, b.net.params)
        assert a.loss_curve == b.loss_curve


def test_float32_trains_in_float32_and_matches_float64_on_accuracy(mnist_small):
    X, y, Xt, yt = mnist_small
    r64 = numpy_mlp.train(X, y, 32, 40, 0, dtype="float64", scale=255)
    r32 = numpy_mlp.train(X, y, 32, 40, 0, dtype="float32", scale=255)
    assert r32.net.params.dtype == np.float32 and r32.net.adam.ms.dtype == np.float32
    acc = {}
    for name, res in (("64", r64), ("32", r32)):
        acc[name] = 100.0 * np.mean(res.net.predict_proba(Xt / 255.0).argmax(axis=1) == yt)
    assert acc["64"] > 70
    assert abs(acc["64"] - acc["32"]) <= 2.0, acc


def test_float32_flushes_subnormal_probabilities(digits):
    X, y, _, _ = digits
    res = numpy_mlp.train(X, y, 10, 3, 0, dtype="float32")  # raw 0-255 pixels: extreme logits
    prob = res.net.predict_proba(X.astype(np.float32))
    tiny = np.finfo(np.float32).tiny
    assert not np.any((prob > 0) & (prob < tiny))


def test_bad_inputs_are_refused_with_their_name(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="dtype must be"):
        numpy_mlp.train(X, y, 4, 1, 0, dtype="float16")
    with pytest.raises(ValueError, match="scale applies to integer pixels"):
        numpy_mlp.train(X.astype(np.float64), y, 4, 1, 0, scale=255)
    with pytest.raises(ValueError, match="2-D"):
        numpy_mlp.train(X[0], y[:1], 4, 1, 0)
    with pytest.raises(ValueError, match="solver='adam'"):
        numpy_mlp.train(X, y, 4, 1, 0, solver="sgd")


def test_a_fit_allocates_its_buffers_once(digits):
    """The batch workspace is made for the largest batch and reused: no new buffers during the fit."""
    X, y, _, _ = digits
    fit = numpy_mlp.NumpyEpochs(X, y, 8, 0, batch_size=64, dtype="float64")
    buffers = [id(a) for a in (*fit.net.buffers(), fit.batches.xb, fit.buf)]
    assert len(buffers) == 2 + 1 + 1 + 2  # activations of 2 layers, 1 delta, 1 mask; the batch and the gradient
    fit.epoch()
    fit.epoch()
    assert [id(a) for a in (*fit.net.buffers(), fit.batches.xb, fit.buf)] == buffers


# ------------------------------------------------------------------------------------------ on the cluster
@pytest.mark.mpi
@pytest.mark.parametrize("strategy", ["one-shot", "periodic", "ensemble"])
def test_numpy_trainer_equals_sklearn_for_every_strategy(cluster2, digits, strategy):
    """trainer="numpy" trains what trainer="sklearn" trains, to rounding error, for every strategy."""
    X, y, Xt, yt = digits
    kw = dict(hidden=8, epochs=6, seed=0, strategy=strategy, sync_every=2, scale_inputs=True)
    sk = ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, **kw)
    fast = ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, trainer="numpy", **kw)
    assert (sk.trainer, fast.trainer) == ("sklearn", "numpy")
    assert fast.as_row()["trainer"] == "numpy"
    assert fast.n_iter == sk.n_iter and fast.comm_rounds == sk.comm_rounds and fast.comm_bytes == sk.comm_bytes
    assert fast.accuracy_pct == pytest.approx(sk.accuracy_pct, abs=1e-9)
    if strategy != "ensemble":
        for a, b in zip(get_weights(fast.model.model), get_weights(sk.model.model)):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.mpi
def test_gradient_allreduce_always_records_the_numpy_trainer(cluster2, digits):
    X, y, Xt, yt = digits
    res = ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, hidden=8, epochs=2, seed=0,
                          strategy="gradient-allreduce", trainer="sklearn")
    assert res.trainer == "numpy"


@pytest.mark.mpi
def test_trainer_is_checked_before_anything_runs(cluster2, digits):
    X, y, Xt, yt = digits
    with pytest.raises(ValueError, match="trainer must be one of 'sklearn', 'numpy'; got 'torch'"):
        ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, trainer="torch")
    with pytest.raises(ValueError, match="solver='adam'"):
        ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, trainer="numpy", mlp_params={"solver": "sgd"})
    with pytest.raises(ValueError, match="trainer must be one of"):
        run_combination(cluster2, ex.array_source(X, y), Xt, yt, hidden=4, epochs=1, seed=0, trainer="jax")


@pytest.mark.mpi
def test_combination_methods_combine_networks_of_the_numpy_trainer(cluster2, digits):
    X, y, Xt, yt = digits
    kw = dict(hidden=8, epochs=5, seed=0, methods=("mean", "matched", "ensemble"), scale_inputs=True)
    sk = run_combination(cluster2, ex.array_source(X, y), Xt, yt, **kw)
    fast = run_combination(cluster2, ex.array_source(X, y), Xt, yt, trainer="numpy", **kw)
    assert {r["trainer"] for r in fast.rows()} == {"numpy"}
    for a, b in zip(sk.methods, fast.methods):
        assert a["method"] == b["method"]
        assert b["accuracy_pct"] == pytest.approx(a["accuracy_pct"], abs=1e-9)
    assert accuracy_pct(fast.models["mean"], Xt, yt) == pytest.approx(fast.methods[0]["accuracy_pct"])
