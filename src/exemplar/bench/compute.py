"""Compute efficiency: how close one MLP fit runs to this machine's single-core GEMM peak.

Counts the floating-point operations of a training run — the forward and backward GEMMs of every
mini-batch, 4·n·d·h + 6·n·h·k per epoch for n rows, d inputs, h hidden units and k classes, times
the epochs actually run — and divides them by the fit's time. The peak is numpy's matmul of two
1024×1024 matrices on one thread, measured in the same run, for float64 and float32; so is the
rate of one mini-batch GEMM (200×784 by 784×h), the largest GEMM a fit does. Measured for:

* ``sequential``: ``MLPClassifier.fit`` in this process, BLAS on one thread, on raw and on
  scaled pixels, in float64 and float32 (the ``dtype`` option of :func:`exemplar.parallel.train.run_exemplar`);
* ``exemplar``: each engine's own fit in a 2-engine one-shot run (the report's default
  configuration, and float32), each engine one core;

and, when py-spy is installed (the ``[bench]`` extra), a sampling profile of one sequential float64
fit that says where the time that is not GEMM goes (``compute_profile.csv``).

Run ``python -m exemplar.bench.compute [--quick] [--output-dir DIR]`` (``make bench`` runs every benchmark).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from exemplar.bench import common

from exemplar import config, data
from exemplar.parallel import cluster
from exemplar.models import sklearn_mlp as mlp
from exemplar.experiments import sweep
from exemplar import parallel as ex
from exemplar.validation import check_positive_int

N_CLASSES = 10


def mlp_flops(n_rows: int, n_features: int, hidden: int, epochs: int, n_classes: int = N_CLASSES) -> float:
    """FLOPs of the GEMMs of ``epochs`` epochs of one-hidden-layer MLP training on ``n_rows`` rows.

    Forward: X·W1 (2ndh) and H·W2 (2nhk); backward: H^T·D (2nhk), D·W2^T (2nhk) and X^T·D1
    (2ndh). The input layer's delta is never formed. Element-wise work (activations, softmax,
    Adam) is not counted: it is what keeps a fit below the GEMM peak.
    """
    return float(epochs) * (4.0 * n_rows * n_features * hidden + 6.0 * n_rows * hidden * n_classes)


def gemm_rate(dtype, m: int, k: int, n: int, repeats: int = 7, min_seconds: float = 0.2) -> float:
    """Best GFLOP/s of ``(m×k) @ (k×n)`` in ``dtype`` on one BLAS thread."""
    rng = np.random.default_rng(0)
    a = rng.random((m, k)).astype(dtype)
    b = rng.random((k, n)).astype(dtype)
    out = np.empty((m, n), dtype=dtype)
    best = np.inf
    with threadpool_limits(limits=1):
        np.matmul(a, b, out=out)
        for _ in range(repeats):
            reps, t0 = 0, time.perf_counter()
            while True:
                np.matmul(a, b, out=out)
                reps += 1
                dt = time.perf_counter() - t0
                if dt >= min_seconds:
                    break
            best = min(best, dt / reps)
    return 2.0 * m * k * n / best / 1e9


def subnormal_share(model, X) -> float:
    """Share of the model's output probabilities on ``X`` that are subnormal numbers in its dtype."""
    p = model.predict_proba(X[:2000])
    tiny = np.finfo(p.dtype).tiny
    return float(np.mean((p != 0) & (np.abs(p) < tiny)))


def sequential_rows(X, y, Xt, yt, hidden, epochs, repeats, peaks):
    """``MLPClassifier.fit`` in this process (one BLAS thread): float64 and float32, raw and scaled pixels."""
    rows = []
    for dtype in ("float64", "float32"):
        for scaled in (False, True):
            Xf, Xtf = ex.features(X, scaled, dtype), ex.features(Xt, scaled, dtype)
            for r in range(repeats):
                with threadpool_limits(limits=1):
                    fit = mlp.fit_timed(mlp.build_mlp(hidden, epochs, r), Xf, y)
                flops = mlp_flops(len(y), X.shape[1], hidden, fit.n_iter)
                rows.append({"kind": "sequential", "dtype": dtype, "inputs": "pixels / 255" if scaled else "raw 0-255",
                             "n_engines": 1, "rank": 0, "repeat": r, "n_rows": len(y), "hidden": hidden,
                             "epochs_max": epochs, "n_iter": fit.n_iter, "fit_seconds": fit.seconds,
                             "seconds_per_epoch": fit.seconds / fit.n_iter, "gflop": flops / 1e9,
                             "gflops": flops / fit.seconds / 1e9, "peak_gflops": peaks[dtype],
                             "accuracy_pct": mlp.accuracy_pct(fit.model, Xtf, yt),
                             "subnormal_share": subnormal_share(fit.model, Xf)})
    return rows


def exemplar_rows(n_train, Xt, yt, hidden, epochs, repeats, peaks, n_engines=2):
    """Each engine's own fit in one-shot runs on an ``n_engines`` MPI cluster, float64 and float32: one row per rank."""
    rows = []
    source = ex.csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, n_train)
    with cluster.start_cluster(n_engines) as cl:
        for dtype in ("float64", "float32"):
            for r in range(repeats):
                res = ex.run_exemplar(cl, source, Xt, yt, hidden=hidden, epochs=epochs, seed=r, dtype=dtype)
                for rank, (size, secs, it) in enumerate(zip(res.shard_sizes, res.fit_seconds, res.n_iter)):
                    flops = mlp_flops(size, config.N_PIXELS, hidden, it)
                    rows.append({"kind": "exemplar", "dtype": dtype, "inputs": "raw 0-255", "n_engines": n_engines,
                                 "rank": rank, "repeat": r, "n_rows": size, "hidden": hidden, "epochs_max": epochs,
                                 "n_iter": it, "fit_seconds": secs, "seconds_per_epoch": secs / it,
                                 "gflop": flops / 1e9, "gflops": flops / secs / 1e9, "peak_gflops": peaks[dtype],
                                 "accuracy_pct": res.accuracy_pct, "subnormal_share": np.nan})
    return rows


#: Where the samples of a profile go: the first rule whose text is in the sampled frame wins.
PROFILE_RULES = [
    ("GEMM (BLAS matmul)", ("safe_sparse_dot",)),
    ("Adam update", ("_stochastic_optimizers",)),
    ("batch gather (X[idx] copy)", ("_safe_indexing", "_array_indexing", "_indexing.py")),
    ("activations, softmax, derivatives", ("inplace_relu", "inplace_softmax", "_base.py")),
    ("loss (log-loss, L2 penalty)", ("log_loss", "xlogy", "squared_norm")),
    ("gradient scaling and L2 term", ("_compute_loss_grad",)),
    ("other backprop bookkeeping", ("_backprop", "_forward_pass")),
    ("shuffle", ("shuffle",)),
]


def classify_stack(frames: list[str]) -> str:
    """The category of one sampled stack (innermost frame last), by :data:`PROFILE_RULES`."""
    for frame in reversed(frames):
        for name, needles in PROFILE_RULES:
            if any(n in frame for n in needles):
                return name
    return "other Python in fit (loops, checks, allocation)"


PROFILE_SCRIPT = """
import sys, numpy as np
from threadpoolctl import threadpool_limits
from exemplar import data
from exemplar.models import sklearn_mlp as mlp
X, y = data.load_mnist("train", n_rows=int(sys.argv[1]))
X = X.astype(sys.argv[4])
with threadpool_limits(limits=1):
    mlp.fit_timed(mlp.build_mlp(int(sys.argv[2]), int(sys.argv[3]), 0), X, y)
"""


def profile_rows(n_train, hidden, epochs, dtype="float64", rate=250):
    """py-spy samples of one sequential fit, grouped by :data:`PROFILE_RULES` (only samples inside ``fit``)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return [{"dtype": dtype, "category": "py-spy not installed: pip install -e '.[bench]'", "samples": 0,
                 "share_pct": np.nan}]
    with tempfile.TemporaryDirectory() as tmp:
        script, raw = Path(tmp) / "fit.py", Path(tmp) / "profile.txt"
        script.write_text(PROFILE_SCRIPT)
        cmd = [spy, "record", "-r", str(rate), "-f", "raw", "-o", str(raw), "--", sys.executable, str(script),
               str(n_train), str(hidden), str(epochs), dtype]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not raw.exists():
            raise common.BenchError(f"py-spy failed (exit {proc.returncode}): {proc.stderr[-500:]} "
                                     "(py-spy needs permission to trace: run as root or set kernel.yama.ptrace_scope=0)")
        counts: Counter = Counter()
        for line in raw.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            frames = stack.split(";")
            if not any("fit_timed" in f for f in frames):
                continue  # imports and data loading
            counts[classify_stack(frames)] += int(n)
    total = sum(counts.values())
    return [{"dtype": dtype, "category": k, "samples": v, "share_pct": 100.0 * v / total}
            for k, v in counts.most_common()]


def params(quick: bool) -> dict:
    """The report's default classifier on 6,000 images, or tiny sizes for ``--quick`` (no profile)."""
    hidden, epochs, _ = sweep.chosen_model()
    if quick:
        return {"n_train": 600, "n_test": 1000, "hidden": 20, "epochs": 5, "repeats": 1, "profile": False}
    return {"n_train": config.PAPER_N_TRAIN, "n_test": config.N_TEST_TOTAL, "hidden": hidden, "epochs": epochs,
            "repeats": 3, "profile": True}


def run(n_train, n_test, hidden, epochs, repeats, profile, output_dir=None, quick=False) -> pd.DataFrame:
    """GEMM peaks, then the sequential and per-engine fits; with ``profile``, also ``compute_profile.csv``.

    Returns
    -------
    DataFrame
        One row per fit (per rank for the exemplar runs): ``kind, dtype, inputs, n_engines, rank, repeat,
        n_rows, hidden, epochs_max, n_iter, fit_seconds, seconds_per_epoch, gflop, gflops, peak_gflops,
        accuracy_pct, subnormal_share, fraction_of_peak, batch_gemm_gflops``.

    Raises
    ------
    ValueError
        A size that is not a positive integer, named.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test), ("hidden", hidden), ("epochs", epochs),
                        ("repeats", repeats)):
        check_positive_int(name, value)
    X, y = data.load_mnist("train", n_rows=n_train)
    Xt, yt = data.load_mnist("test", n_rows=n_test)
    peaks = {dt: gemm_rate(dt, 1024, 1024, 1024) for dt in ("float64", "float32")}
    batch = {dt: gemm_rate(dt, 200, config.N_PIXELS, hidden) for dt in ("float64", "float32")}
    rows = sequential_rows(X, y, Xt, yt, hidden, epochs, repeats, peaks)
    rows += exemplar_rows(n_train, Xt, yt, hidden, epochs, repeats, peaks)
    df = pd.DataFrame(rows)
    df["fraction_of_peak"] = df.gflops / df.peak_gflops
    df["batch_gemm_gflops"] = df.dtype.map(batch)
    if profile:
        prof = pd.DataFrame(profile_rows(n_train, hidden, epochs, "float64")
                            + profile_rows(n_train, hidden, epochs, "float32"))
        common.write("compute_profile", prof, {"n_train": n_train, "hidden": hidden, "epochs": epochs},
                      quick=quick, output_dir=output_dir)
    return df


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per kind, dtype and inputs: mean seconds, epochs, GFLOP/s, fraction of peak and accuracy."""
    g = df.groupby(["kind", "dtype", "inputs", "n_engines"], sort=False)
    return g.agg(fit_seconds=("fit_seconds", "mean"), n_iter=("n_iter", "mean"),
                 seconds_per_epoch=("seconds_per_epoch", "mean"), gflops=("gflops", "mean"),
                 peak_gflops=("peak_gflops", "first"), fraction_of_peak=("fraction_of_peak", "mean"),
                 batch_gemm_gflops=("batch_gemm_gflops", "first"), accuracy_pct=("accuracy_pct", "mean"),
                 subnormal_share=("subnormal_share", "mean"), runs=("repeat", "nunique")).reset_index()


def main(argv=None) -> int:
    return common.main("compute", __doc__.splitlines()[0], run, params, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
