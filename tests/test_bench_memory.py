"""The memory benchmark (``exemplar.bench.memory``): its quick run, its arithmetic and its parameters.

The quick run measures 600 and 2,000 images in float64 and float32 with both trainers, each in a
fresh client process and a fresh 2-engine MPI cluster (about ten seconds each); the other tests
start no cluster.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from exemplar.bench import common, memory
from exemplar.bench.common import BenchError
from exemplar.parallel.shards import shard_sizes

COLUMNS = {"n_train", "dtype", "trainer", "n_engines", "role", "rank", "pid", "own_rows", "own_data_bytes",
           "own_data_mb", "reads_whole_set_mb", "baseline_mb", "peak_mb", "growth_mb", "lifetime_peak_mb",
           "bound_mb", "growth_over_bound", "within_bound", "peak_within_bound", "largest_training_rows",
           "holds_whole_set", "peak_reset", "accuracy_pct", "run_seconds"}


@pytest.fixture(scope="module")
def quick_run(quick_bench):
    """``python -m exemplar.bench.memory --quick`` into a temporary folder: (exit code, folder, rows)."""
    return quick_bench("memory", lambda argv: common.main("memory", memory.DESCRIPTION, memory.run, memory.params,
                                                         argv=argv))


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_has_one_row_per_process_per_configuration(quick_run):
    code, out, df = quick_run
    assert code == 0
    prov = json.loads((out / "memory.json").read_text())
    assert prov["benchmark"] == "memory" and prov["quick"] is True
    assert set(df.columns) == COLUMNS
    p = memory.params(True)
    configs = set(itertools.product(p["n_trains"], p["dtypes"], p["trainers"]))
    assert set(map(tuple, df[["n_train", "dtype", "trainer"]].drop_duplicates().to_numpy().tolist())) == configs
    for _, g in df.groupby(["n_train", "dtype", "trainer"]):
        assert sorted(g["role"]) == ["client", "rank 0", "rank 1"]
        assert sorted(g["rank"]) == [-1, 0, 1]
        assert g["pid"].nunique() == 3  # three distinct processes
    # a fresh cluster (and client) per configuration: no pid is measured twice
    assert df["pid"].nunique() == len(df)


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_memory_and_data_bytes(quick_run):
    _, _, df = quick_run
    p = memory.params(True)
    assert (df["baseline_mb"] > 0).all()
    assert (df["peak_mb"] >= df["baseline_mb"]).all()
    assert (df["lifetime_peak_mb"] >= df["peak_mb"]).all()
    np.testing.assert_allclose(df["growth_mb"], df["peak_mb"] - df["baseline_mb"], atol=1e-6)
    item = df["dtype"].map({"float64": 8, "float32": 4})
    assert (df["own_data_bytes"] == df["own_rows"] * 784 * item).all()
    np.testing.assert_allclose(df["bound_mb"], 2 * df["own_data_bytes"] / 1e6 + 300)
    client = df[df["role"] == "client"]
    assert (client["own_rows"] == p["n_test"]).all()
    for (n_train, _, _), g in df[df["rank"] >= 0].groupby(["n_train", "dtype", "trainer"]):
        assert g.sort_values("rank")["own_rows"].tolist() == shard_sizes(n_train, 2)
    # the bound checks are booleans and say what the numbers say
    for col in ("within_bound", "peak_within_bound", "holds_whole_set", "peak_reset"):
        assert df[col].dtype == bool
    assert (df["within_bound"] == (df["growth_mb"] <= df["bound_mb"] + 1e-9)).all()
    assert (df["peak_within_bound"] == (df["peak_mb"] <= df["bound_mb"] + 1e-9)).all()
    # only rank 0 reads (and holds) the whole training set
    assert (df["holds_whole_set"] == (df["rank"] == 0)).all()
    assert (df.loc[df["rank"] == 0, "reads_whole_set_mb"] > 0).all()
    assert (df.loc[df["rank"] != 0, "reads_whole_set_mb"] == 0).all()
    s = memory.summarize(df)
    assert len(s) == len(df) // 3 and not s["other_holds_whole_set"].any()


def test_params_sizes():
    assert memory.params(True)["n_trains"] == [600, 2000]
    full = memory.params(False)
    assert full["n_trains"] == [6000, 60000] and full["n_engines"] == 2
    assert set(full["dtypes"]) == {"float64", "float32"} and set(full["trainers"]) == {"sklearn", "numpy"}


def test_data_bytes_and_bound():
    assert memory.data_bytes(3000, "float64") == 3000 * 784 * 8
    assert memory.data_bytes(3000, "float32") == 3000 * 784 * 4
    assert memory.bound_bytes(10**6) == 2 * 10**6 + 300 * 10**6


def test_process_memory_sees_a_freed_allocation_in_the_peak():
    before = memory.process_memory(reset=True)
    assert before["rss_bytes"] > 0 and before["hwm_bytes"] >= before["rss_bytes"]
    block = np.ones(100 * 10**6, dtype=np.uint8)  # 100 MB, touched
    del block
    after = memory.process_memory()
    assert after["hwm_bytes"] >= before["rss_bytes"] + 90 * 10**6
    assert after["rss_bytes"] < after["hwm_bytes"]


@pytest.mark.parametrize("change, names", [
    ({"n_trains": []}, "n_trains"), ({"n_trains": [70_000]}, "n_trains"), ({"dtypes": ["float16"]}, "dtypes"),
    ({"trainers": ["torch"]}, "trainers"), ({"trainers": "sklearn"}, "trainers"), ({"n_test": 0}, "n_test"),
    ({"timeout": -1}, "timeout"),
])
def test_bad_parameters_are_named(change, names):
    with pytest.raises(BenchError, match=names):
        memory.run(**{**memory.params(True), **change})
