"""Communication strategies: periodic averaging, gradient all-reduce, the ensemble, and their counters.

conftest's synthetic digits (ten separable classes of 0-255 pixels); one 1-engine and one 2-engine
MPI cluster are shared by the tests of this module.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from exemplar import parallel as ex
from exemplar.models import numpy_mlp
from exemplar.models.sklearn_mlp import build_mlp, fit_timed, get_weights
from exemplar.parallel import train

# ------------------------------------------------------------------------------------------
# the numpy MLP (no MPI)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_numpy_mlp_reproduces_mlpclassifier_fit(digits, scale):
    """Same initial weights, shuffles, gradients, Adam steps and losses as scikit-learn's fit."""
    X, y, Xt, _ = digits
    X = X.astype(np.float64) / scale
    with threadpool_limits(1):
        ref = MLPClassifier(hidden_layer_sizes=(12,), max_iter=6, random_state=3, batch_size=64)
        fit_timed(ref, X, y)
        got = numpy_mlp.train(X, y, 12, 6, 3, batch_size=64)
    assert got.n_iter == ref.n_iter_ == 6
    np.testing.assert_allclose(got.loss_curve, ref.loss_curve_, rtol=1e-10)
    for a, b in zip(got.net.weights(), get_weights(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.net.predict_proba(Xt / scale), ref.predict_proba(Xt / scale), atol=1e-9)
    assert got.comm_rounds == got.comm_bytes == 0 and got.global_batch == 64


def test_numpy_mlp_stops_as_mlpclassifier_does(digits):
    X, y, _, _ = digits
    X = X.astype(np.float64) / 255
    kw = dict(tol=10.0, n_iter_no_change=2)  # no epoch improves by 10: stops after 1 + 3 epochs
    with threadpool_limits(1):
        ref = build_mlp(8, 50, 0, **kw)
        fit_timed(ref, X, y)
        got = numpy_mlp.train(X, y, 8, 50, 0, **kw)
    assert got.n_iter == ref.n_iter_ == 4


@pytest.mark.parametrize(
    ("params", "match"),
    [({"activation": "tanh"}, "activation='relu'"), ({"solver": "sgd"}, "solver='adam'"),
     ({"momentum": 0.5}, "momentum"), ({"batch_size": 0}, "batch_size"), ({"early_stopping": True}, "early_stopping")],
)
def test_numpy_mlp_refuses_what_it_does_not_implement(params, match):
    with pytest.raises(ValueError, match=match):
        numpy_mlp.check_params(params)
    assert numpy_mlp.check_params({"activation": "relu", "alpha": 0.1})["alpha"] == 0.1


# ------------------------------------------------------------------------------------------
# validation before anything runs
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"strategy": "sometimes"}, "strategy must be one of"), ({"sync_every": 0}, "sync_every"),
     ({"scale_inputs": "yes"}, "scale_inputs"),
     ({"strategy": "periodic", "mlp_params": {"solver": "lbfgs"}}, "partial_fit"),
     ({"strategy": "periodic", "mlp_params": {"early_stopping": True}}, "early_stopping"),
     ({"strategy": "gradient-allreduce", "mlp_params": {"activation": "tanh"}}, "numpy MLP")],
)
def test_strategy_parameters_are_validated(digits, kwargs, match):
    X, y, Xt, yt = digits
    fake = SimpleNamespace(launcher="mpi", n=2)  # never reached: validation comes first
    with pytest.raises(ValueError, match=match):
        ex.run_exemplar(fake, ex.array_source(X, y), Xt, yt, **kwargs)


# ------------------------------------------------------------------------------------------
# on MPI engines
# ------------------------------------------------------------------------------------------


@pytest.mark.mpi
@pytest.mark.parametrize("sync_every", [1, 3])
def test_periodic_with_one_engine_equals_plain_training(cluster1, digits, sync_every):
    """One engine: averaging is the identity, so periodic training is MLPClassifier.fit, bit for bit.

    With sync_every=1 the stopping rule acts on time (default tol and n_iter_no_change); with
    sync_every=3 it could act up to 2 epochs late, so there training runs all 7 epochs (3 + 3 + 1).
    """
    X, y, Xt, yt = digits
    params = {"tol": 1e-3} if sync_every == 1 else {"n_iter_no_change": 1000}  # tol 1e-3: stops near epoch 76
    epochs = 120 if sync_every == 1 else 7
    res = ex.run_exemplar(cluster1, ex.array_source(X, y), Xt, yt, hidden=16, epochs=epochs, seed=2,
                          strategy="periodic", sync_every=sync_every, mlp_params=params)
    with threadpool_limits(1):
        plain = build_mlp(16, epochs, 2, **params)
        fit = fit_timed(plain, X.astype(np.float64), y)
    assert res.n_iter == [fit.n_iter]
    if sync_every == 1:
        assert fit.n_iter < epochs  # the default stopping rule did act, at the same epoch
    for got, want in zip(get_weights(res.model), get_weights(plain)):
        np.testing.assert_array_equal(got, want)
    assert res.strategy == "periodic" and res.sync_every == sync_every
    assert res.comm_rounds == -(-fit.n_iter // sync_every)
    assert res.replicas_identical is True


@pytest.mark.mpi
@pytest.mark.parametrize("n_rows", [300, 301])
def test_gradient_allreduce_on_two_engines_is_one_run_with_the_combined_batch(cluster2, digits, n_rows,
                                                                             synthetic_digits):
    """Each step's global batch is engine 0's mini-batch followed by engine 1's: train on that order."""
    X, y, Xt, yt = digits
    if n_rows == 301:
        extra_X, extra_y = synthetic_digits(1, seed=9)
        X, y = np.vstack([X, extra_X]), np.concatenate([y, extra_y])
    b, epochs = 50, 5
    params = {"batch_size": b, "shuffle": False, "n_iter_no_change": 1000}
    res = ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, hidden=10, epochs=epochs, seed=4,
                          strategy="gradient-allreduce", mlp_params=params)
    bounds = ex.shard_bounds(n_rows, 2)
    steps = -(-max(b1 - a for a, b1 in bounds) // b)
    order = np.concatenate([np.arange(a, b1)[s * b:(s + 1) * b] for s in range(steps) for a, b1 in bounds])
    assert sorted(order) == list(range(n_rows))
    with threadpool_limits(1):
        # on one process the combined batches are 2b rows, except where a shard runs out
        single = _train_in_batches(X[order].astype(np.float64), y[order],
                                   [min(b, b1 - a - s * b) for s in range(steps) for a, b1 in bounds], epochs)
    for got, want in zip(get_weights(res.model), single.net.weights()):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)
    assert res.n_iter == [epochs, epochs]
    assert res.replicas_identical is True
    assert res.comm_rounds == steps * epochs


def _train_in_batches(X, y, local_sizes, epochs):
    """The 1-process reference: consecutive global batches made of the engines' local batches."""
    pairs = [local_sizes[i] + local_sizes[i + 1] for i in range(0, len(local_sizes), 2)]
    net = numpy_mlp.NumpyMLP([X.shape[1], 10, 10], 4)
    buf = np.empty(net.n_params)
    for _ in range(epochs):
        start = 0
        for size in pairs:
            loss_sum, _ = net.loss_grad_sum(X[start:start + size], y[start:start + size], out=buf)
            net.apply(buf, loss_sum, size)
            start += size
    return SimpleNamespace(net=net)


@pytest.mark.mpi
def test_communication_counters_for_known_runs(cluster2, digits, n_params):
    X, y, Xt, yt = digits
    P = n_params(8)
    src = ex.array_source(X, y)
    no_stop = {"n_iter_no_change": 1000}
    # periodic: 6 epochs, averaging every 2 -> 3 rounds of (weights + 2 losses) float64
    per = ex.run_exemplar(cluster2, src, Xt, yt, hidden=8, epochs=6, seed=0, strategy="periodic", sync_every=2,
                          mlp_params=no_stop)
    assert (per.comm_rounds, per.comm_bytes) == (3, 3 * (P + 2) * 8)
    # 7 epochs, every 5 -> rounds of 5 and 2 epochs
    per7 = ex.run_exemplar(cluster2, src, Xt, yt, hidden=8, epochs=7, seed=0, strategy="periodic", sync_every=5,
                           mlp_params=no_stop)
    assert (per7.comm_rounds, per7.comm_bytes, per7.n_iter) == (2, 2 * (P + 5) * 8, [7, 7])
    # gradient all-reduce: 150 rows per engine, batches of 50 -> 3 steps per epoch, 4 epochs
    grad = ex.run_exemplar(cluster2, src, Xt, yt, hidden=8, epochs=4, seed=0, strategy="gradient-allreduce",
                           mlp_params={"batch_size": 50, **no_stop})
    assert (grad.comm_rounds, grad.comm_bytes) == (12, 12 * (P + 2) * 8)
    # one-shot and ensemble: one gather of each engine's weights
    for strategy in ex.APART:
        res = ex.run_exemplar(cluster2, src, Xt, yt, hidden=8, epochs=4, seed=0, strategy=strategy)
        assert (res.comm_rounds, res.comm_bytes) == (1, P * 8)
        assert 0 < res.comm_seconds <= res.combine_seconds
        assert res.sync_every is None and res.replicas_identical is None
    for res in (per, per7, grad):
        assert 0 < res.comm_seconds <= res.fit_seconds_max
        assert res.replicas_identical is True
        row = res.as_row()
        for key in ("comm_rounds", "comm_bytes", "comm_seconds", "strategy", "sync_every", "scale_inputs"):
            assert key in row


@pytest.mark.mpi
def test_ensemble_predicts_with_the_mean_of_the_engines_probabilities(cluster2, digits):
    X, y, Xt, yt = digits
    res = ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, hidden=30, epochs=30, seed=3, strategy="ensemble")
    assert isinstance(res.model, train.EnsembleModel) and len(res.model.members) == 2
    with threadpool_limits(1):
        probs = []
        for a, b in ex.shard_bounds(300, 2):
            m = build_mlp(30, 30, 3)
            fit_timed(m, X[a:b].astype(np.float64), y[a:b])
            probs.append(m.predict_proba(Xt))
    np.testing.assert_allclose(res.model.predict_proba(Xt), (probs[0] + probs[1]) / 2, atol=1e-12)
    assert res.accuracy_pct > 60.0


@pytest.mark.mpi
@pytest.mark.parametrize("strategy", ["one-shot", "periodic", "gradient-allreduce"])
def test_scaled_inputs_train_on_pixels_over_255_and_take_raw_pixels(cluster2, digits, strategy):
    X, y, Xt, yt = digits
    res = ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, hidden=10, epochs=20, seed=0,
                          strategy=strategy, scale_inputs=True, mlp_params={"batch_size": 30})
    assert isinstance(res.model, train.PixelScaledModel) and res.scale_inputs is True
    inner = res.model.model
    np.testing.assert_array_equal(res.model.predict(Xt), inner.predict(Xt / 255.0))
    assert res.accuracy_pct > 60.0, res.accuracy_pct
