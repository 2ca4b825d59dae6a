"""Exemplar-parallel training: shards, the weighted combination, and runs on MPI engines.

The data are conftest's synthetic digits (``digits``, ``synthetic_digits``): reproducible, no download.
"""

from __future__ import annotations

import os
import signal
import time
from types import SimpleNamespace

import numpy as np
import psutil
import pytest
from threadpoolctl import threadpool_limits

from exemplar import parallel as ex
from exemplar.parallel.cluster import start_cluster
from exemplar.models.sklearn_mlp import accuracy_pct, build_mlp, combine, fit_timed, get_weights


# ------------------------------------------------------------------------------------------
# shard_bounds
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 99, 100, 101, 600, 6000])
def test_shard_bounds_cover_every_row_once(n):
    for k in sorted({1, 2, 3, 4, 6, 7, n // 2 or 1, n - 1 or 1, n}):
        if k > n:
            continue
        bounds = ex.shard_bounds(n, k)
        assert len(bounds) == k
        rows = np.concatenate([np.arange(a, b) for a, b in bounds])
        np.testing.assert_array_equal(rows, np.arange(n))  # contiguous, in order, each row once
        sizes = [b - a for a, b in bounds]
        assert max(sizes) - min(sizes) <= 1
        assert min(sizes) >= 1
        assert sizes == ex.shard_sizes(n, k)


def test_shard_bounds_uneven_and_one_per_row():
    assert ex.shard_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert ex.shard_bounds(600, 7) == [(0, 86), (86, 172), (172, 258), (258, 344), (344, 430), (430, 515), (515, 600)]
    assert ex.shard_bounds(5, 5) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert ex.shard_bounds(6000, 4) == [(0, 1500), (1500, 3000), (3000, 4500), (4500, 6000)]


@pytest.mark.parametrize(
    ("n", "k", "name"),
    [(10, 0, "n_shards"), (10, 11, "n_shards"), (10, -1, "n_shards"), (10, 2.0, "n_shards"),
     (10, True, "n_shards"), (0, 1, "n_samples"), (-3, 1, "n_samples"), (5.5, 1, "n_samples")],
)
def test_shard_bounds_rejects_bad_input(n, k, name):
    with pytest.raises(ValueError, match=name):
        ex.shard_bounds(n, k)


def test_shard_bounds_message_names_the_range():
    with pytest.raises(ValueError, match=r"n_shards must be an integer of at least 1 and at most 10; got 11"):
        ex.shard_bounds(10, 11)


# ------------------------------------------------------------------------------------------
# the weighted combination (mlp.combine)
# ------------------------------------------------------------------------------------------


def test_weighted_combine_is_exact():
    a = [np.array([[1.0, 2.0], [4.0, -8.0]]), np.array([0.0, 1.0])]
    b = [np.array([[3.0, 6.0], [0.0, 8.0]]), np.array([4.0, -3.0])]
    out = combine([a, b], [1, 3])  # weights 1/4 and 3/4: exact in binary floating point
    np.testing.assert_array_equal(out[0], np.array([[2.5, 5.0], [1.0, 4.0]]))
    np.testing.assert_array_equal(out[1], np.array([3.0, -2.0]))
    plain = combine([a, b], [150, 150])  # equal shards: the paper's plain average
    np.testing.assert_array_equal(plain[0], np.array([[2.0, 4.0], [2.0, 0.0]]))
    np.testing.assert_array_equal(plain[1], np.array([2.0, -1.0]))
    single = combine([a], [300])  # one engine: the weights themselves, bit for bit
    for x, y in zip(single, a):
        np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------------------------------------
# validation before anything runs on the engines
# ------------------------------------------------------------------------------------------


def test_run_exemplar_refuses_a_local_cluster(digits):
    X, y, Xt, yt = digits
    with pytest.raises(ValueError, match="launcher='mpi'"):
        ex.run_exemplar(SimpleNamespace(launcher="local", n=2), ex.array_source(X, y), Xt, yt)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"hidden": 0}, "hidden"), ({"epochs": -1}, "epochs"), ({"seed": -1}, "seed"),
     ({"mlp_params": {"max_iter": 5}}, "max_iter"), ({"mlp_params": {"no_such": 1}}, "no_such"),
     ({"timeout": 0}, "timeout")],
)
def test_run_exemplar_validates_parameters(digits, kwargs, match):
    X, y, Xt, yt = digits
    fake = SimpleNamespace(launcher="mpi", n=2)  # never reached: validation comes first
    with pytest.raises((ValueError, TypeError), match=match):
        ex.run_exemplar(fake, ex.array_source(X, y), Xt, yt, **kwargs)


def test_run_exemplar_validates_sources_and_engine_count(digits):
    X, y, Xt, yt = digits
    fake = SimpleNamespace(launcher="mpi", n=7)
    with pytest.raises(ValueError, match=r"n_engines must be at most the number of training rows \(5\); got 7"):
        ex.run_exemplar(fake, ex.array_source(X[:5], y[:5]), Xt, yt)
    with pytest.raises(ValueError, match=r"n_engines must be at most the number of training rows \(3\)"):
        ex.run_exemplar(fake, ex.csv_source("train.csv", n_rows=3), Xt, yt)
    with pytest.raises(ValueError, match="source must be a tuple"):
        ex.run_exemplar(fake, "train.csv", Xt, yt)
    with pytest.raises(ValueError, match="one label per row"):
        ex.array_source(X, y[:-1])
    with pytest.raises(ValueError, match="X_test"):
        ex.run_exemplar(SimpleNamespace(launcher="mpi", n=2), ex.array_source(X, y), Xt[0], yt)


# ------------------------------------------------------------------------------------------
# runs on MPI engines
# ------------------------------------------------------------------------------------------


@pytest.mark.mpi
def test_two_engines_train_a_model_that_predicts(cluster2, digits):
    X, y, Xt, yt = digits
    res = ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, hidden=30, epochs=30, seed=0)
    assert res.n_engines == 2
    assert res.shard_sizes == [150, 150]
    assert res.n_train == 300
    assert len(res.fit_seconds) == 2 and res.fit_seconds_max == max(res.fit_seconds) > 0
    assert len(res.n_iter) == 2 and all(1 <= n <= 30 for n in res.n_iter)
    assert res.accuracy_pct > 60.0, res.accuracy_pct  # chance is 10 %
    assert res.accuracy_pct == accuracy_pct(res.model, Xt, yt)
    assert res.model.coefs_[0].shape == (784, 30)
    # each rank received its contiguous slice, by rank (not engine id)
    expected = [ex.shard_checksum(X[a:b], y[a:b]) for a, b in ex.shard_bounds(300, 2)]
    assert res.shard_checksums == expected
    row = res.as_row()
    assert row["n_engines"] == 2 and row["accuracy_pct"] == res.accuracy_pct
    assert "model" not in row and "fit_seconds" not in row and "shard_sizes" not in row
    for key in ("read_seconds", "distribute_seconds", "combine_seconds", "eval_seconds", "wall_seconds"):
        assert row[key] >= 0
    assert row["wall_seconds"] >= row["fit_seconds_max"]


@pytest.mark.mpi
def test_two_engines_average_the_same_as_the_master_would(cluster2, digits):
    """The combined model is the size-weighted mean of the models each shard gives alone."""
    X, y, Xt, yt = digits
    res = ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, hidden=10, epochs=5, seed=3)
    with threadpool_limits(1):
        parts = []
        for a, b in ex.shard_bounds(300, 2):
            m = build_mlp(10, 5, 3)
            fit_timed(m, X[a:b].astype(np.float64), y[a:b])
            parts.append(get_weights(m))
    expected = combine(parts, [150, 150])
    for got, want in zip(get_weights(res.model), expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.mpi
def test_csv_source_is_read_by_rank_zero(cluster2, tmp_path, synthetic_digits):
    X, y = synthetic_digits(41, seed=7)
    path = tmp_path / "train.csv"
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    rows = [",".join(map(str, [int(label), *map(int, img)])) for img, label in zip(X, y)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    got = ex.distribute_only(cluster2, ex.csv_source(path))
    assert [g["n_rows"] for g in got] == [21, 20]
    assert [g["checksum"] for g in got] == [ex.shard_checksum(X[a:b], y[a:b]) for a, b in ex.shard_bounds(41, 2)]
    got = ex.distribute_only(cluster2, ex.csv_source(path, n_rows=10))
    assert [g["n_rows"] for g in got] == [5, 5]
    assert got[0]["read_seconds"] > 0 and got[1]["read_seconds"] == 0
    assert all(g["distribute_seconds"] > 0 for g in got)


@pytest.mark.mpi
def test_read_error_on_rank_zero_is_reported_and_does_not_hang(cluster2, tmp_path, synthetic_digits):
    t0 = time.monotonic()
    with pytest.raises(ex.EngineError, match=r"failed on rank 0 \(engine \d+\).*missing\.csv"):
        ex.distribute_only(cluster2, ex.csv_source(tmp_path / "missing.csv"), timeout=60)
    assert time.monotonic() - t0 < 30
    # every rank left the collective cleanly: the cluster still works
    X, y = synthetic_digits(20)
    got = ex.distribute_only(cluster2, ex.array_source(X, y))
    assert [g["n_rows"] for g in got] == [10, 10]


@pytest.mark.mpi
def test_shards_lacking_a_class_are_refused(cluster2, synthetic_digits):
    X, y = synthetic_digits(40)
    order = np.argsort(y, kind="stable")  # rank 0 gets classes 0-4, rank 1 gets 5-9
    with pytest.raises(ValueError, match=r"every shard must hold every class.*rank 0 lacks \[5, 6, 7, 8, 9\]"):
        ex.run_exemplar(cluster2, ex.array_source(X[order], y[order]), X, y, hidden=5, epochs=2)


@pytest.mark.mpi
def test_one_engine_equals_a_sequential_fit(digits):
    X, y, Xt, yt = digits
    with start_cluster(1) as cl:
        res = ex.run_exemplar(cl, ex.array_source(X, y), Xt, yt, hidden=30, epochs=30, seed=0)
    with threadpool_limits(1):
        model = build_mlp(30, 30, 0)
        fit = fit_timed(model, X.astype(np.float64), y)
        acc = accuracy_pct(model, Xt, yt)
    assert res.shard_sizes == [300]
    assert res.n_iter == [fit.n_iter]
    for got, want in zip(get_weights(res.model), get_weights(model)):
        np.testing.assert_array_equal(got, want)  # bit-identical: BLAS pinned to one thread on both sides
    assert res.accuracy_pct == acc
    np.testing.assert_array_equal(res.model.predict(Xt), model.predict(Xt))


@pytest.mark.mpi
def test_seven_engines_use_every_row_once(synthetic_digits):
    X, y = synthetic_digits(600, seed=2)
    Xt, yt = synthetic_digits(200, seed=3)
    bounds = ex.shard_bounds(600, 7)
    with start_cluster(7) as cl:
        got = ex.distribute_only(cl, ex.array_source(X, y))
        res = ex.run_exemplar(cl, ex.array_source(X, y), Xt, yt, hidden=20, epochs=20, seed=0)
    assert [g["rank"] for g in got] == list(range(7))
    assert [(g["start"], g["start"] + g["n_rows"]) for g in got] == bounds
    assert sum(g["n_rows"] for g in got) == 600
    expected = [ex.shard_checksum(X[a:b], y[a:b]) for a, b in bounds]
    assert [g["checksum"] for g in got] == expected
    assert res.shard_sizes == [86, 86, 86, 86, 86, 85, 85] and sum(res.shard_sizes) == 600
    assert res.shard_checksums == expected
    assert res.accuracy_pct > 30.0  # seven small shards, averaged: still far above chance (10 %)


@pytest.mark.mpi
def test_timeouts_and_dead_engines_raise_instead_of_hanging(digits):
    X, y, Xt, yt = digits
    with start_cluster(2) as cl:
        t0 = time.monotonic()
        with pytest.raises(ex.EngineError, match=r"did not finish within 0.5 s on rank"):
            ex.run_exemplar(
                cl, ex.array_source(X, y), Xt, yt, hidden=300, epochs=400,
                mlp_params={"n_iter_no_change": 10_000}, timeout=0.5,
            )
        assert time.monotonic() - t0 < 20
        cl.rc.wait(timeout=120)  # let the engines finish that fit
        victim = cl.engine_info[1]["pid"]
        os.kill(victim, signal.SIGKILL)
        try:
            psutil.Process(victim).wait(timeout=10)
        except psutil.NoSuchProcess:
            pass
        t0 = time.monotonic()
        with pytest.raises(ex.EngineError, match=r"rank \d \(engine \d+\)") as info:
            ex.run_exemplar(cl, ex.array_source(X, y), Xt, yt, hidden=5, epochs=2, timeout=60)
        assert time.monotonic() - t0 < 30
        assert "start a new one" in str(info.value)
        procs = cl.processes()
    assert not [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
