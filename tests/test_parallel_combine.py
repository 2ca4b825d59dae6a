"""Combining on the cluster (exemplar.parallel.combine): every method's result and its counted communication."""

from __future__ import annotations

import types

import numpy as np
import pytest

from exemplar.models import combination as cb
from exemplar.models.sklearn_mlp import get_weights
from exemplar.parallel import array_source
from exemplar.parallel.collectives import flatten, unflatten
from exemplar.parallel.combine import METHODS, check_settings, run_combination

pytestmark = pytest.mark.mpi

HIDDEN, EPOCHS = 8, 30


def _weights(model):
    """The weight list of a combined model (unwrapping the pixel scaling)."""
    return get_weights(getattr(model, "model", model))


def _members(result):
    ens = result.models["ensemble"]
    return [get_weights(m) for m in getattr(ens, "model", ens).members]


def _assert_same(a, b):
    for x, z in zip(a, b):
        assert x.dtype == z.dtype
        np.testing.assert_array_equal(x, z)


def _assert_close(a, b):
    for x, z in zip(a, b):
        np.testing.assert_allclose(x, z, rtol=1e-9, atol=1e-10)


def _run(cl, X, y, Xt, yt, **kw):
    kw = {"hidden": HIDDEN, "epochs": EPOCHS, "seed": 0, **kw}
    return run_combination(cl, array_source(X, y), Xt, yt, **kw)


def test_every_method_on_one_engine_returns_its_network_unchanged(cluster1, digits):
    X, y, Xt, yt = digits
    res = _run(cluster1, X, y, Xt, yt, scale_inputs=True)
    assert [m["method"] for m in res.methods] == list(METHODS)
    (net,) = _members(res)
    for name in METHODS[:-1]:
        _assert_same(_weights(res.models[name]), net)
    rows = res.rows()
    assert len({r["accuracy_pct"] for r in rows}) == 1
    assert all(r["exchanges"] == 1 and r["extra_rounds"] == 0 and r["extra_bytes"] == 0 for r in rows)


def test_identical_networks_make_every_method_the_mean(cluster2, digits):
    X, y, Xt, yt = digits
    X2, y2 = np.vstack([X, X]), np.concatenate([y, y])  # both shards the same rows: the same network twice
    res = _run(cluster2, X2, y2, Xt, yt, settings={"distill_epochs": 0})
    a, b = _members(res)
    _assert_same(a, b)
    for name in ("mean", "matched", "fisher", "regmean", "distilled", "retrained"):
        _assert_close(_weights(res.models[name]), a)
    accuracies = {m["method"]: m["accuracy_pct"] for m in res.methods}
    assert len(set(accuracies.values())) == 1, accuracies


def test_bytes_and_rounds_are_counted_as_exchange_cost_says(cluster2, digits):
    X, y, Xt, yt = digits
    res = _run(cluster2, X, y, Xt, yt, methods=("mean", "matched", "fisher", "regmean", "distilled", "ensemble"))
    E = 784 * HIDDEN + HIDDEN + HIDDEN * 10 + 10
    P = 8 * E
    grams = 8 * (785 ** 2 + (HIDDEN + 1) ** 2)
    counted = {m["method"]: (m["exchanges"], m["extra_rounds"], m["extra_bytes"]) for m in res.methods}
    assert counted == {"mean": (1, 0, 0), "matched": (1, 0, 0), "ensemble": (1, 0, 0), "fisher": (1, 0, P),
                       "regmean": (1, 0, grams + 16 * E - P), "distilled": (2, 1, 2 * P)}
    nets = _members(res)
    assert cb.exchange_cost("distilled", nets, collectives=True) == (1, 2 * P)
    assert all(m["seconds"] > 0 and m["comm_seconds"] >= 0 for m in res.methods)


def test_matched_on_the_cluster_is_the_matching_of_the_gathered_networks(cluster2, digits):
    X, y, Xt, yt = digits
    res = _run(cluster2, X, y, Xt, yt, same_start=False, methods=("matched", "mean", "ensemble"))
    nets = _members(res)
    assert not np.array_equal(nets[0][0], nets[1][0])  # different starts: different networks
    _assert_same(_weights(res.models["matched"]), cb.matched(nets, res.shard_sizes))
    _assert_close(_weights(res.models["mean"]), cb.mean(nets, res.shard_sizes))


def test_bad_arguments_are_refused_before_the_engines_are_used(digits):
    X, y, Xt, yt = digits
    fake = types.SimpleNamespace(launcher="mpi", n=2)
    with pytest.raises(ValueError, match="methods must be one or more of"):
        _run(fake, X, y, Xt, yt, methods=("median",))
    with pytest.raises(ValueError, match="unknown name"):
        _run(fake, X, y, Xt, yt, settings={"temperature": 2})
    with pytest.raises(ValueError, match="same_start must be True or False"):
        _run(fake, X, y, Xt, yt, same_start="yes")
    with pytest.raises(ValueError, match="launcher"):
        _run(types.SimpleNamespace(launcher="local", n=2), X, y, Xt, yt)


def test_settings_and_flattening():
    assert check_settings({"distill_epochs": 2})["distill_epochs"] == 2
    with pytest.raises(ValueError, match="distill_true_share"):
        check_settings({"distill_true_share": 1.5})
    arrays = [np.arange(6.0).reshape(2, 3), np.arange(3.0)]
    _assert_same(unflatten(flatten(arrays), arrays), arrays)


def test_float32_networks_are_combined_and_counted_in_float32(cluster2, digits):
    X, y, Xt, yt = digits
    names = ("mean", "fisher", "regmean", "distilled")
    res = _run(cluster2, X, y, Xt, yt, dtype="float32", scale_inputs=True, methods=names)
    P = 4 * (784 * HIDDEN + HIDDEN + HIDDEN * 10 + 10)
    assert {m["method"]: m["extra_bytes"] for m in res.methods}["fisher"] == P
    for name, row in zip(names, res.methods):
        assert {w.dtype for w in _weights(res.models[name])} == {np.dtype(np.float32)}, name
        assert row["accuracy_pct"] > 50, row
