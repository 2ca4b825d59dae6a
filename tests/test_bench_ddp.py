"""The PyTorch DDP benchmark (``exemplar.bench.ddp``): its quick run, its equivalence with ours, and a missing torch.

The quick run starts a 1-engine and a 2-engine MPI cluster and DDP with 1 and 2 processes on 600
images for 5 epochs (about half a minute). The equivalence test spawns DDP twice in float64 with
scikit-learn's Adam and checks it reproduces our gradient-allreduce to rounding error.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from exemplar import config
from exemplar.bench import ddp
from exemplar.bench.common import BenchError
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


def test_first_reach_and_global_batch_rows():
    assert ddp.first_reach([10.0, 50.0, 49.0, 60.0], 49.5) == 2
    assert ddp.first_reach([10.0, 20.0], 49.5) is None
    # shards of 401 and 400 rows, batches of 200: the last step has 1 row on rank 0 and none on rank 1
    assert ddp.global_batch_rows([401, 400], 200) == [400, 400, 1]
    assert ddp.global_batch_rows([3, 3, 2], 2) == [6, 2]


@pytest.mark.slow
def test_ddp_reproduces_our_gradient_allreduce_in_float64():
    pytest.importorskip("torch")
    _need_mnist()
    from exemplar import data
    from exemplar.models.numpy_mlp import train

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
    replay = ddp.allreduce_curve(X, y, Xt, yt, 2, 20, 2, 3, batch_size=100)
    for a, b in zip(two["weights"], replay["weights"]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(two["loss_curve"], replay["loss"], rtol=1e-12)
    assert two["accuracy_curve"] == replay["accuracy"]
    # identical initial weights on every rank, and the same as with one process (same seed)
    assert two["init_identical"] and len(set(two["init_crcs"])) == 1
    assert two["init_crcs"][0] == one["init_crc"]
    assert two["final_identical"]
    assert one["threads"] == two["threads"] == 1


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``python -m exemplar.bench.ddp --quick`` into a temporary folder: (exit code, folder, rows)."""
    pytest.importorskip("torch")
    _need_mnist()
    out = tmp_path_factory.mktemp("bench")
    code = ddp.main(["--quick", "--output-dir", str(out)])
    df = pd.read_csv(out / "ddp.csv") if (out / "ddp.csv").is_file() else None
    return code, out, df


@pytest.mark.mpi
@skip_without_mpiexec
@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_writes_every_framework(quick_run):
    code, out, df = quick_run
    assert code == 0
    prov = json.loads((out / "ddp.json").read_text())
    assert prov["benchmark"] == "ddp" and prov["quick"] is True
    assert list(df.columns) == ddp.COLUMNS
    quick = ddp.params(True)
    assert set(df.framework) == {"sklearn", "exemplar", "pytorch-ddp"}
    d = df[df.framework == "pytorch-ddp"]
    assert sorted(d.n_procs) == sorted(quick["ddp_procs"])
    assert (d.strategy == ddp.ddp_label("float32")).all() and (d.threads_per_proc == 1).all()
    assert d.flush_denormal.astype(bool).all()
    assert set(df[df.framework == "exemplar"].n_procs) == {1, 2}
    assert df.accuracy_pct.between(0, 100, inclusive="right").all()
    assert (df.n_iter >= 1).all() and (df.n_iter <= quick["epochs"]).all()
    # one target for all: the mean sequential accuracy minus the tolerance
    seq = df[df.framework == "sklearn"].accuracy_pct.mean()
    np.testing.assert_allclose(df.target_pct, seq - quick["tolerance_pp"])
    np.testing.assert_allclose(df.sequential_pct, seq)
    # DDP with 1 and 2 processes started from the same weights, identical on every rank
    assert d.init_crc.nunique() == 1 and d.replicas_identical.all()
    # reached <=> a time to the target; DDP's kind is per epoch, ours an upper bound
    assert (df.reached == df.time_to_target_seconds.notna()).all()
    assert (d.time_to_target_kind == ddp.KIND_EPOCH).all()
    assert (df[df.framework != "pytorch-ddp"].time_to_target_kind == ddp.KIND_UPPER).all()
    assert (d[d.reached].time_to_target_seconds <= d[d.reached].fit_seconds + 1e-9).all()
    # our replay of gradient-allreduce matches the engines' run (same epochs, same accuracy)
    ours = df[(df.framework == "exemplar") & (df.strategy == ddp.OURS)]
    assert ours.replay_matches.astype(bool).all()
    # ours in float32 trains in float32, and the float32 replay matches it too
    ours32 = df[(df.framework == "exemplar") & (df.strategy == f"{ddp.OURS} (float32)")]
    assert len(ours32) and (ours32.dtype == "float32").all() and ours32.replay_matches.astype(bool).all()
    # the one-engine gradient-allreduce is the sequential fit
    one = ours[ours.n_procs == 1].iloc[0]
    assert abs(one.accuracy_pct - df[df.framework == "sklearn"].iloc[0].accuracy_pct) <= 0.1 + 1e-9
    s = ddp.summarize(df)
    assert {"ddp2_ratio", "ddp2_ratio_prefix", "ddp2_ratio_wall", "ddp2_ratio_per_epoch", "runs"} <= set(s.columns)
    assert len(s) == df.groupby(["framework", "strategy", "n_procs"]).ngroups
    row = s[(s.framework == "pytorch-ddp") & (s.n_procs == 2)].iloc[0]
    assert row.reached == 0 or row.ddp2_ratio == pytest.approx(1.0)
    h = ddp.headline(df)
    assert {"sequential_pct", "target_pct", "ours2_accuracy_pct", "ddp1_accuracy_pct", "ddp2_accuracy_pct",
            "ratio", "ratio_prefix", "ratio_per_epoch", "goal"} <= set(h)
