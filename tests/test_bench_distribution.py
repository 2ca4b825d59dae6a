"""The distribution benchmark (``exemplar.bench.distribution``): its quick run, its checks and its parameters.

The quick run starts one 2-engine MPI cluster and times every method on 600 and 1,200 images
(a few seconds); the other tests need no cluster.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from exemplar.bench import common, distribution
from exemplar.bench.common import BenchError
from exemplar.parallel.cluster import mpiexec_path

#: For the tests that start an MPI cluster (marked ``mpi``): skipped only where no mpiexec is installed.
skip_without_mpiexec = pytest.mark.skipif(not mpiexec_path().exists(), reason=f"no mpiexec at {mpiexec_path()}")


@pytest.fixture(scope="module")
def quick_run(quick_bench):
    """``python -m exemplar.bench.distribution --quick`` into a temporary folder: (exit code, folder, rows)."""
    return quick_bench("distribution", lambda argv: common.main(
        "distribution", distribution.DESCRIPTION, distribution.run, distribution.params, argv=argv))


@pytest.mark.mpi
@skip_without_mpiexec
@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_times_every_method_and_verifies_the_shards(quick_run):
    code, out, df = quick_run
    assert code == 0
    assert (out / "distribution.csv").is_file() and (out / "distribution.json").is_file()
    prov = json.loads((out / "distribution.json").read_text())
    assert prov["benchmark"] == "distribution" and prov["quick"] is True
    quick = distribution.params(True)
    assert set(df["method"]) == set(distribution.METHODS)
    assert set(df["n_engines"]) == {2} and set(df["n_train"]) == set(quick["n_trains"])
    # every method, size and engine count: one row per repeat
    counts = df.groupby(["method", "n_train", "n_engines"]).size()
    assert len(counts) == len(distribution.METHODS) * len(quick["n_trains"])
    assert (counts == quick["repeats"]).all()
    assert df["verified"].all()
    assert (df["seconds"] > 0).all() and (df["bandwidth_gbs"] > 0).all() and (df["memcpy_gbs"] > 0).all()
    np.testing.assert_allclose(df["bandwidth_gbs"], df["bytes_moved"] / df["seconds"] / 1e9)
    np.testing.assert_allclose(df["fraction_of_memcpy"], df["bandwidth_gbs"] / df["memcpy_gbs"])
    # bytes: uint8 pixels for ours, float64 for the others, int64 labels for all
    for _, r in df.iterrows():
        item = 1 if r["method"] == "scatterv-uint8" else 8
        assert r["bytes_moved"] == r["n_train"] * (784 * item + 8)
    # no fit reference at the quick sizes (the reference is read at 6,000 images)
    assert df["fit_reference_seconds"].isna().all() and df["fraction_of_fit"].isna().all()
    assert (df["read_seconds"] > 0).all()


@pytest.mark.mpi
@skip_without_mpiexec
@pytest.mark.slow
@pytest.mark.bench
def test_summarize_takes_medians_and_compares_with_ours(quick_run):
    _, _, df = quick_run
    s = distribution.summarize(df)
    assert len(s) == len(distribution.METHODS) * df["n_train"].nunique()
    assert list(s["method"][: len(distribution.METHODS)]) == list(distribution.METHODS)
    assert s["verified"].all() and (s["repeats"] == distribution.params(True)["repeats"]).all()
    one = s[(s.method == "comm.scatter-pickle") & (s.n_train == 600)].iloc[0]
    rows = df[(df.method == "comm.scatter-pickle") & (df.n_train == 600)]
    assert one["seconds"] == pytest.approx(rows["seconds"].median())
    assert one["bandwidth_gbs"] == pytest.approx(one["bytes_moved"] / one["seconds"] / 1e9)
    assert one["best_ms"] == pytest.approx(rows["seconds"].min() * 1e3) and (s["best_ms"] <= s["ms"]).all()
    ours = s[s.method == "scatterv-uint8"]
    np.testing.assert_allclose(ours["vs_scatterv_uint8"], 1.0)


@pytest.mark.parametrize("bad, name", [
    ({"engine_counts": [0]}, "engine_counts"),
    ({"engine_counts": [2, 2]}, "engine_counts"),
    ({"n_trains": [60001]}, "n_trains"),
    ({"n_trains": [2], "engine_counts": [4]}, "engine_counts"),
    ({"methods": ["scatterv-uint8", "carrier-pigeon"]}, "methods"),
    ({"methods": "scatterv-uint8"}, "methods"),
    ({"repeats": 0}, "repeats"),
    ({"timeout": -1}, "timeout"),
])
def test_bad_parameters_are_refused_by_name(bad, name):
    p = {**distribution.params(True), **bad}
    with pytest.raises(BenchError, match=name):
        distribution.run(**p)


def test_the_command_line_reports_a_bad_parameter(tmp_path, capsys):
    def bad_params(quick):
        return {**distribution.params(quick), "methods": ["carrier-pigeon"]}

    code = common.main("distribution", distribution.DESCRIPTION, distribution.run, bad_params,
                        argv=["--quick", "--output-dir", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "benchmark distribution failed" in err and "methods" in err and "carrier-pigeon" in err
    assert not (tmp_path / "distribution.csv").exists()


def test_expected_shards_are_the_contiguous_shards_and_their_checksums():
    from exemplar.parallel.shards import shard_checksum

    X = (np.arange(11 * 784, dtype=np.int64).reshape(11, 784) % 256).astype(np.uint8)
    y = np.arange(11) % 10
    expected = distribution.expected_shards(X, y, 10, 3)  # the first 10 rows over 3 ranks: 4, 3, 3
    assert [(s, n) for s, n, _ in expected] == [(0, 4), (4, 3), (7, 3)]
    assert expected[1][2] == shard_checksum(X[4:7], y[4:7])


def test_a_wrong_shard_is_a_failure():
    X = np.arange(10 * 784, dtype=np.int64).reshape(10, 784) % 256
    y = np.arange(10) % 10
    expected = distribution.expected_shards(X, y, 10, 2)
    good = [{"rank": r, "start": s, "n_rows": n, "dtype": "uint8", "checksum": c}
            for r, (s, n, c) in enumerate(expected)]
    distribution.verify_shards("scatterv-uint8", good, expected, "uint8", 10, 2)
    bad = [dict(g) for g in good]
    bad[1]["checksum"] ^= 1
    with pytest.raises(BenchError, match="rank 1's shard checksum"):
        distribution.verify_shards("scatterv-uint8", bad, expected, "uint8", 10, 2)
    with pytest.raises(BenchError, match="rank 0 got dtype float64, expected uint8"):
        distribution.verify_shards("scatterv-uint8", [{**g, "dtype": "float64"} for g in good], expected, "uint8", 10, 2)
    with pytest.raises(BenchError, match="1 replies for 2 engines"):
        distribution.verify_shards("scatterv-uint8", good[:1], expected, "uint8", 10, 2)


def test_fit_reference_reads_one_shot_runs_at_6000_images(tmp_path):
    runs = pd.DataFrame({
        "strategy": ["one-shot", "one-shot", "one-shot", "periodic", "one-shot"],
        "n_engines": [2, 2, 4, 2, 2],
        "n_train": [6000, 6000, 6000, 6000, 600],
        "fit_seconds_max": [1.0, 2.0, 4.0, 100.0, 100.0],
    })
    runs.to_csv(tmp_path / "exemplar.csv", index=False)
    assert distribution.fit_reference(tmp_path / "exemplar.csv") == {2: 1.5, 4: 4.0}
    assert distribution.fit_reference(tmp_path / "absent.csv") == {}


def test_memcpy_reference_and_bytes():
    assert distribution.bytes_moved(6000, "uint8") == 6000 * (784 + 8)
    assert distribution.bytes_moved(6000, "float64") == 6000 * (784 * 8 + 8)
    assert distribution.memcpy_seconds(1 << 20, repeats=2) > 0
