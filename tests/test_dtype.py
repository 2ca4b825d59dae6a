"""float32 training end to end: features, weights, Allreduce buffers and gathered weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from exemplar import parallel as ex
from exemplar.models import numpy_mlp
from exemplar.models.sklearn_mlp import combine, fit_timed, get_weights
from exemplar.parallel import train

@pytest.mark.parametrize("given, name", [("float32", "float32"), (np.float32, "float32"),
                                         ("float64", "float64"), (np.dtype("float64"), "float64")])
def test_check_dtype_accepts_the_two_float_types(given, name):
    assert train.check_dtype(given) == name


@pytest.mark.parametrize("bad", ["float16", "int64", np.uint8, "single-ish", None])
def test_check_dtype_refuses_anything_else_naming_what_is_accepted(bad):
    with pytest.raises(ValueError, match=r"dtype must be one of 'float64', 'float32'"):
        train.check_dtype(bad)


def test_combine_keeps_float32_and_refuses_mixed_dtypes():
    a = [np.ones((2, 2), np.float32), np.zeros(2, np.float32)]
    b = [np.full((2, 2), 3, np.float32), np.ones(2, np.float32)]
    out = combine([a, b], sizes=[1, 3])
    assert all(w.dtype == np.float32 for w in out)
    np.testing.assert_allclose(out[0], 2.5)
    with pytest.raises(ValueError, match="different dtypes"):
        combine([a, [w.astype(np.float64) for w in b]])


def test_numpy_mlp_in_float32_reproduces_mlpclassifier_in_float32(digits):
    X, y, _, _ = digits
    X = X.astype(np.float32) / np.float32(255)
    with threadpool_limits(1):
        ref = MLPClassifier(hidden_layer_sizes=(12,), max_iter=6, random_state=3, batch_size=64)
        fit_timed(ref, X, y)
        got = numpy_mlp.train(X, y, 12, 6, 3, batch_size=64)
    assert ref.coefs_[0].dtype == got.net.params.dtype == np.float32
    for a, b in zip(got.net.weights(), get_weights(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.loss_curve, ref.loss_curve_, rtol=1e-5)


@pytest.mark.mpi
@pytest.mark.parametrize("strategy", ["one-shot", "periodic", "gradient-allreduce"])
def test_float32_runs_train_and_communicate_in_float32(cluster2, digits, strategy, n_params):
    X, y, Xt, yt = digits
    P = n_params(8)
    kw = dict(hidden=8, epochs=4, seed=0, strategy=strategy, scale_inputs=True,
              mlp_params={"n_iter_no_change": 1000})
    r64 = ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, **kw)
    r32 = ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, dtype="float32", **kw)
    assert (r64.dtype, r32.dtype) == ("float64", "float32")
    assert r32.as_row()["dtype"] == "float32"
    weights = get_weights(r32.model.model)
    assert all(w.dtype == np.float32 for w in weights)
    # the exchanged model state is half the bytes; the rounds are the same
    assert r32.comm_rounds == r64.comm_rounds
    assert r32.comm_bytes * 2 == r64.comm_bytes
    if strategy == "one-shot":
        assert r32.comm_bytes == P * 4
    # the same training in another precision: close, not equal
    for a, b in zip(weights, get_weights(r64.model.model)):
        np.testing.assert_allclose(a, b, atol=1e-3)
    assert abs(r32.accuracy_pct - r64.accuracy_pct) <= 2.0
    if strategy != "one-shot":
        assert r32.replicas_identical is True


@pytest.mark.mpi
def test_a_bad_dtype_fails_before_any_engine_work(cluster2, digits):
    X, y, Xt, yt = digits
    with pytest.raises(ValueError, match="dtype must be one of"):
        ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, hidden=8, epochs=2, dtype="float16")
