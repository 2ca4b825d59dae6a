"""The PyTorch DDP benchmark (``exemplar.bench.ddp``): its quick run, its equivalence with ours, the epoch clock,
the per-dtype ratios, and a missing torch.

The quick run starts a 1-engine and a 2-engine MPI cluster and DDP with 1 and 2 processes in float32 and
float64 on 600 images for 5 epochs (about a minute). The equivalence test spawns DDP twice in float64 with
scikit-learn's Adam and checks it reproduces our gradient-allreduce (one process, and 2 engines) to
rounding error, epoch by epoch.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd
import pytest

from exemplar import config
from exemplar.bench import ddp
from exemplar.bench.common import BenchError
from exemplar.bench.ddp_ours import EpochClock, weights_accuracy_pct
from exemplar.parallel.cluster import mpiexec_path

#: For the tests that start an MPI cluster (marked ``mpi``): skipped only where no mpiexec is installed.
skip_without_mpiexec = pytest.mark.skipif(not mpiexec_path().exists(), reason=f"no mpiexec at {mpiexec_path()}")


def _need_mnist():
    if not (config.data_dir() / config.MNIST_TRAIN_CSV).is_file():
        pytest.fail("MNIST is missing: run `make data` (or `exemplar data`) before the tests", pytrace=False)


def test_missing_torch_fails_with_the_install_hint(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(BenchError, match=r"pip install -e '\.\[bench\]' \(torch==2\.13\.0, CPU build\)"):
        ddp.run(**ddp.params(True))
    assert ddp.main(["--quick", "--output-dir", str(tmp_path)]) == 1
    assert "benchmark ddp failed: PyTorch is not installed" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_bad_variant_or_trainer_is_refused():
    pytest.importorskip("torch")
    with pytest.raises(BenchError, match=r"ddp_variants must be \[dtype, flush_denormal\]"):
        ddp.run(ddp_variants=[["float16", True]])
    with pytest.raises(BenchError, match="trainer must be one of 'sklearn', 'numpy'"):
        ddp.run(trainer="torch")


def test_first_reach_and_global_batch_rows():
    assert ddp.first_reach([10.0, 50.0, 49.0, 60.0], 49.5) == 2
    assert ddp.first_reach([10.0, 20.0], 49.5) is None
    # shards of 401 and 400 rows, batches of 200: the last step has 1 row on rank 0 and none on rank 1
    assert ddp.global_batch_rows([401, 400], 200) == [400, 400, 1]
    assert ddp.global_batch_rows([3, 3, 2], 2) == [6, 2]


def test_every_dtype_is_measured_on_both_sides_by_default():
    full = ddp.params(False)
    ours = {(n, s, (rest or ["float64"])[0]) for n, s, *rest in full["ours"]}
    assert {(2, ddp.OURS, "float64"), (2, ddp.OURS, "float32")} <= ours
    assert 2 in full["ddp_procs"] and {d for d, flush in full["ddp_variants"] if flush} == set(ddp.DTYPES)
    quick = ddp.params(True)
    assert {d for d, _ in quick["ddp_variants"]} == set(ddp.DTYPES)


def test_epoch_clock_follows_training_without_changing_it_and_pauses_for_evaluation(mnist_small):
    from exemplar.models.numpy_mlp import train
    from exemplar.parallel.shards import features

    X, y, Xt, yt = mnist_small
    Ft, classes = features(Xt, True), np.unique(y)
    nets = []

    def evaluate(net):
        nets.append(net.weights())
        time.sleep(0.02)  # an evaluation that takes time: it must stay off the clock
        return weights_accuracy_pct(net.weights(), Ft, yt, classes)

    plain = train(X, y, 20, 6, 0, dtype="float32", scale=255)
    clock = EpochClock(50.0, evaluate)
    clock.start()
    res = train(X, y, 20, 6, 0, dtype="float32", scale=255, on_epoch=clock)
    t_after = time.perf_counter()
    # the hook changes nothing: the same weights, epoch for epoch the accuracy of the weights it saw
    np.testing.assert_array_equal(res.net.params, plain.net.params)
    assert len(clock.accuracy) == len(clock.train_clock) == len(clock.loss) == res.n_iter == 6
    assert clock.loss == res.loss_curve
    assert clock.accuracy == [weights_accuracy_pct(w, Ft, yt, classes) for w in nets]
    assert clock.accuracy[-1] == weights_accuracy_pct(res.net.weights(), Ft, yt, classes)
    assert clock.target_epoch == ddp.first_reach(clock.accuracy, 50.0)
    if clock.target_epoch is not None:
        assert clock.time_to_target_seconds == clock.train_clock[clock.target_epoch - 1]
    # the evaluations' time is off the clock: the clock plus the pauses is the elapsed time
    assert clock.paused >= 6 * 0.02
    assert np.all(np.diff(clock.train_clock) > 0)
    assert clock.train_clock[-1] + clock.paused <= t_after - clock.t0
    with pytest.raises(RuntimeError, match="start"):
        EpochClock(50.0)(1, res.net, 0.0)


def _frame(times):
    """Rows with given times to target: ``times[(framework, strategy, n_procs, dtype)] = [seconds per run]``."""
    rows = []
    for (framework, strategy, n, dtype), seconds in times.items():
        for r, t in enumerate(seconds):
            rows.append(dict(framework=framework, strategy=strategy, n_procs=n, dtype=dtype, repeat=r, n_iter=10,
                             fit_seconds=2 * t, wall_seconds=2 * t, setup_seconds=0.0, accuracy_pct=95.0,
                             time_to_target_seconds=2 * t, time_to_target_wall_seconds=2 * t, target_epoch=5,
                             time_to_target_prefix_seconds=t, reached=True, sequential_pct=95.0, target_pct=94.5))
    return pd.DataFrame(rows)


def test_ratios_are_per_dtype_against_ddps_fastest_variant():
    df = _frame({("exemplar", ddp.OURS, 2, "float64"): [1.0, 3.0],
                 ("exemplar", ddp.ours_label(ddp.OURS, "float32"), 2, "float32"): [0.5],
                 ("pytorch-ddp", ddp.ddp_label("float64"), 2, "float64"): [6.0],
                 ("pytorch-ddp", ddp.ddp_label("float32"), 2, "float32"): [3.0],
                 ("pytorch-ddp", ddp.ddp_label("float32", False), 2, "float32"): [4.0],
                 ("pytorch-ddp", ddp.ddp_label("float32"), 1, "float32"): [1.0]})
    s = ddp.summarize(df)
    ours64 = s[(s.framework == "exemplar") & (s.dtype == "float64")].iloc[0]
    assert ours64.ddp2_ratio == pytest.approx(6.0 / 2.0) and ours64.ddp2_ratio_upper == pytest.approx(3.0)
    ours32 = s[(s.framework == "exemplar") & (s.dtype == "float32")].iloc[0]
    assert ours32.ddp2_ratio == pytest.approx(3.0 / 0.5)  # DDP's fastest float32 variant, not the other
    h = ddp.headline(df)
    assert h["ratio_float64"] == pytest.approx(3.0) and h["met_float64"]
    assert h["ratio_float32"] == pytest.approx(6.0) and h["met_float32"]
    assert h["ddp2_float32_strategy"] == ddp.ddp_label("float32")
    assert h["ours2_float32_time_to_target_seconds"] == pytest.approx(0.5)
    assert not ddp.headline(df, goal=4.0)["met_float64"]


@pytest.mark.mpi
@skip_without_mpiexec
@pytest.mark.slow
def test_ddp_reproduces_our_gradient_allreduce_in_float64(cluster2):
    pytest.importorskip("torch")
    _need_mnist()
    from exemplar import data
    from exemplar.models.numpy_mlp import train
    from exemplar.parallel.shards import array_source

    X, y = data.load_mnist("train", n_rows=401)  # odd: rank 1's shard is a row short, one empty batch
    Xt, yt = data.load_mnist("test", n_rows=300)
    one = ddp.train_ddp(X, y, Xt, yt, 1, 20, 2, 3, 50.0, batch_size=100, dtype="float64", adam="sklearn",
                        return_weights=True, timeout=300)
    ref = train(X / 255.0, y, 20, 2, 3, batch_size=100)  # what one engine of gradient-allreduce runs
    for a, b in zip(one["weights"], ref.net.weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(one["loss_curve"], ref.loss_curve, rtol=1e-12)

    two = ddp.train_ddp(X, y, Xt, yt, 2, 20, 2, 3, 50.0, batch_size=100, dtype="float64", adam="sklearn",
                        return_weights=True, timeout=300)
    ours = ddp.ours_curve(cluster2, array_source(X, y), Xt, yt, 20, 2, 3, 50.0, batch_size=100, dtype="float64",
                          timeout=300, return_weights=True)
    for a, b in zip(two["weights"], ours["weights"]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(two["loss_curve"], ours["loss_curve"], rtol=1e-12)
    assert two["accuracy_curve"] == ours["accuracy_curve"]
    assert two["target_epoch"] == ours["target_epoch"]
    assert ours["replicas_identical"] and ours["n_iter_ranks"] == [2, 2] and ours["train_dtypes"] == ["float64"]
    # identical initial weights on every rank, and the same as with one process (same seed)
    assert two["init_identical"] and len(set(two["init_crcs"])) == 1
    assert two["init_crcs"][0] == one["init_crc"]
    assert two["final_identical"]
    assert one["threads"] == two["threads"] == 1


@pytest.fixture(scope="module")
def quick_run(quick_bench):
    """``python -m exemplar.bench.ddp --quick`` into a temporary folder: (exit code, folder, rows)."""
    pytest.importorskip("torch")
    return quick_bench("ddp", ddp.main)


@pytest.mark.mpi
@skip_without_mpiexec
@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_writes_every_framework_in_both_dtypes(quick_run):
    code, out, df = quick_run
    assert code == 0
    prov = json.loads((out / "ddp.json").read_text())
    assert prov["benchmark"] == "ddp" and prov["quick"] is True
    assert list(df.columns) == ddp.COLUMNS
    quick = ddp.params(True)
    assert set(df.framework) == {"sklearn", "exemplar", "pytorch-ddp"}
    # every row says its dtype, and the network trained in it
    assert set(df.dtype) == set(ddp.DTYPES) and (df.train_dtype == df.dtype).all()
    d = df[df.framework == "pytorch-ddp"]
    assert sorted(d.n_procs) == sorted(quick["ddp_procs"] * len(quick["ddp_variants"]))
    assert set(d.dtype) == set(ddp.DTYPES) and (d.threads_per_proc == 1).all()
    assert (d.strategy == [ddp.ddp_label(t) for t in d.dtype]).all()
    assert d.flush_denormal.astype(bool).all() and (d.trainer == "torch").all()
    assert set(df[df.framework == "exemplar"].n_procs) == {1, 2}
    assert df.accuracy_pct.between(0, 100, inclusive="right").all()
    assert (df.n_iter >= 1).all() and (df.n_iter <= quick["epochs"]).all()
    # one target for all: the mean sequential accuracy minus the tolerance
    seq = df[df.framework == "sklearn"].accuracy_pct.mean()
    np.testing.assert_allclose(df.target_pct, seq - quick["tolerance_pp"])
    np.testing.assert_allclose(df.sequential_pct, seq)
    # DDP with 1 and 2 processes started from the same weights in a dtype, identical on every rank
    assert (d.groupby("dtype").init_crc.nunique() == 1).all() and d.replicas_identical.all()
    # reached <=> a time to the target; DDP's kind is per epoch, ours an upper bound
    assert (df.reached == df.time_to_target_seconds.notna()).all()
    assert (d.time_to_target_kind == ddp.KIND_EPOCH).all()
    assert (df[df.framework != "pytorch-ddp"].time_to_target_kind == ddp.KIND_UPPER).all()
    assert (d[d.reached].time_to_target_seconds <= d[d.reached].fit_seconds + 1e-9).all()
    # ours measured per epoch on the engines: the same run as run_exemplar's, in its dtype, fast trainer
    ours = df[(df.framework == "exemplar") & df.strategy.str.startswith(ddp.OURS)]
    assert len(ours) == len(quick["ours"]) and (ours.trainer == "numpy").all()
    assert ours.curve_matches.astype(bool).all() and ours.replicas_identical.astype(bool).all()
    assert (ours.eval_seconds_excluded > 0).all()
    at = ours[ours.target_epoch.notna()]
    assert (at.target_epoch <= at.n_iter).all() and (at.target_epoch_accuracy_pct >= at.target_pct - 1e-9).all()
    ours32 = ours[ours.strategy == ddp.ours_label(ddp.OURS, "float32")]
    assert len(ours32) and (ours32.dtype == "float32").all() and (ours32.train_dtype == "float32").all()
    # the one-engine gradient-allreduce is the sequential fit
    one = ours[(ours.n_procs == 1) & (ours.dtype == "float64")].iloc[0]
    assert abs(one.accuracy_pct - df[df.framework == "sklearn"].iloc[0].accuracy_pct) <= 0.1 + 1e-9
    s = ddp.summarize(df)
    assert set(ddp.RATIOS) | {"runs", "dtype"} <= set(s.columns)
    assert len(s) == df.groupby(["framework", "strategy", "n_procs", "dtype"]).ngroups
    for dtype in ddp.DTYPES:
        row = s[(s.framework == "pytorch-ddp") & (s.n_procs == 2) & (s.dtype == dtype)].iloc[0]
        assert row.reached == 0 or np.isnan(row.ddp2_ratio) or row.ddp2_ratio == pytest.approx(1.0)
    h = ddp.headline(df)
    assert {"sequential_pct", "target_pct", "goal", "ratio_float32", "ratio_float64", "met_float32",
            "met_float64", "ratio_upper_float64", "ratio_per_epoch_float32"} <= set(h)
    assert h["goal"] == 3.0
