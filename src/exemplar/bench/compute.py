"""Compute efficiency: how close one MLP fit runs to this machine's single-core GEMM peak, per trainer.

Counts the floating-point operations of a training run — the forward and backward GEMMs of every
mini-batch, 4·n·d·h + 6·n·h·k per epoch for n rows, d inputs, h hidden units and k classes, times
the epochs actually run — and divides them by the fit's time. The peak is numpy's matmul of two
1024×1024 matrices on one thread, measured in the same run (before the fits and after them; the
higher counts), for float64 and float32; so is the rate of one mini-batch GEMM (200×784 by 784×h),
the largest GEMM a fit does. Two trainers (column ``trainer``):

* ``sklearn``: ``MLPClassifier.fit`` (:func:`exemplar.models.sklearn_mlp.fit_timed`) on float features;
* ``numpy``: the fast trainer, :func:`exemplar.models.numpy_mlp.train`, fed the raw uint8 pixels
  (converted per batch; ``scale=255`` for scaled inputs).

Measured for:

* ``sequential``: each trainer's fit in this process, BLAS on one thread, on raw and on scaled
  pixels, in float64 and float32, for the report's default network (``default_network``) and for
  100 hidden units at batch 200; the trainers alternate (sklearn, numpy, sklearn, ...) so that
  the machine's noise falls on both alike;
* ``exemplar``: each engine's own fit in a 2-engine one-shot run (the report's default
  configuration, and float32), each engine one core, with each trainer;

and, when py-spy is installed (the ``[bench]`` extra), a sampling profile of one sequential fit per
trainer and dtype that says where the time that is not GEMM goes (``compute_profile.csv``,
:mod:`exemplar.bench.compute_profile`).

Run ``python -m exemplar.bench.compute [--quick] [--output-dir DIR]`` (``make bench`` runs every benchmark).
"""

from __future__ import annotations

import inspect
import sys
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from exemplar import config, data
from exemplar.bench import common, compute_profile
from exemplar.parallel import cluster
from exemplar.models import numpy_mlp, sklearn_mlp as mlp
from exemplar.analysis import sweep
from exemplar import parallel as ex
from exemplar.validation import TRAINERS, check_positive_int

N_CLASSES = 10

#: The second network of the sequential fits: (hidden units, rows per batch).
WIDE_NETWORK = (100, 200)

#: The profile's classification, kept importable from here.
classify_stack = compute_profile.classify_stack


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


def effective_batch(batch_size, n_rows: int) -> int:
    """The rows per mini-batch a fit on ``n_rows`` rows uses: ``"auto"`` is ``min(200, n_rows)``, as scikit-learn's."""
    return min(200, n_rows) if batch_size == "auto" else int(min(int(batch_size), n_rows))


def fit_one(trainer, X, y, Xf, hidden, epochs, seed, dtype, scaled, batch_size):
    """One sequential fit by ``trainer`` on one BLAS thread: ``(model, seconds, cpu_seconds, n_iter)``.

    scikit-learn gets the float features ``Xf``; the fast trainer the raw pixels ``X``, converted per batch.
    """
    with threadpool_limits(limits=1):
        if trainer == "numpy":
            res = numpy_mlp.train(X, y, hidden, epochs, seed, dtype=dtype, scale=255 if scaled else None,
                                  batch_size=batch_size)
            return res.net, res.seconds, res.cpu_seconds, res.n_iter
        fit = mlp.fit_timed(mlp.build_mlp(hidden, epochs, seed, batch_size=batch_size), Xf, y)
        return fit.model, fit.seconds, fit.cpu_seconds, fit.n_iter


def _accuracy(model, X, y, classes) -> float:
    """Test accuracy (%) of either trainer's model; the fast trainer's columns are ``classes`` in order."""
    if isinstance(model, numpy_mlp.NumpyMLP):
        return float(100.0 * np.mean(classes[model.predict_proba(X).argmax(axis=1)] == y))
    return mlp.accuracy_pct(model, X, y)


def sequential_rows(X, y, Xt, yt, networks, epochs, repeats, peaks, trainers=TRAINERS):
    """Each trainer's fit in this process (one BLAS thread): every network, dtype and input scaling.

    ``networks`` lists ``(hidden, batch_size)`` pairs, the default network first; the trainers
    alternate within every repeat.
    """
    rows = []
    for i, (hidden, batch_size) in enumerate(networks):
        for dtype in ("float64", "float32"):
            for scaled in (False, True):
                Xf, Xtf = ex.features(X, scaled, dtype), ex.features(Xt, scaled, dtype)
                for r in range(repeats):
                    for trainer in trainers:
                        model, secs, cpu, it = fit_one(trainer, X, y, Xf, hidden, epochs, r, dtype, scaled, batch_size)
                        flops = mlp_flops(len(y), X.shape[1], hidden, it)
                        rows.append({"kind": "sequential", "trainer": trainer, "dtype": dtype,
                                     "inputs": "pixels / 255" if scaled else "raw 0-255", "n_engines": 1, "rank": 0,
                                     "repeat": r, "n_rows": len(y), "hidden": hidden, "default_network": i == 0,
                                     "batch_size": effective_batch(batch_size, len(y)), "epochs_max": epochs,
                                     "n_iter": it, "fit_seconds": secs, "fit_cpu_seconds": cpu,
                                     "seconds_per_epoch": secs / it, "gflop": flops / 1e9,
                                     "gflops": flops / secs / 1e9, "peak_gflops": peaks[dtype],
                                     "accuracy_pct": _accuracy(model, Xtf, yt, np.unique(y)),
                                     "subnormal_share": subnormal_share(model, Xf)})
    return rows


def exemplar_trainers(trainers=TRAINERS) -> tuple[str, ...]:
    """The trainers :func:`exemplar.parallel.train.run_exemplar` accepts among ``trainers`` (all, once it has ``trainer``)."""
    if "trainer" in inspect.signature(ex.run_exemplar).parameters:
        return tuple(trainers)
    print("[bench] compute: run_exemplar has no trainer option yet; the exemplar rows are scikit-learn's only",
          file=sys.stderr)
    return tuple(t for t in trainers if t == "sklearn")


def exemplar_rows(n_train, Xt, yt, hidden, epochs, repeats, peaks, n_engines=2, trainers=TRAINERS):
    """Each engine's own fit in one-shot runs on an ``n_engines`` MPI cluster, float64 and float32, per trainer
    (alternating): one row per rank."""
    rows = []
    trainers = exemplar_trainers(trainers)
    source = ex.csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, n_train)
    with cluster.start_cluster(n_engines) as cl:
        for dtype in ("float64", "float32"):
            for r in range(repeats):
                for trainer in trainers:
                    extra = {"trainer": trainer} if trainer != "sklearn" else {}
                    res = ex.run_exemplar(cl, source, Xt, yt, hidden=hidden, epochs=epochs, seed=r, dtype=dtype,
                                          **extra)
                    for rank, (size, secs, it) in enumerate(zip(res.shard_sizes, res.fit_seconds, res.n_iter)):
                        flops = mlp_flops(size, config.N_PIXELS, hidden, it)
                        cpu = res.fit_cpu_seconds[rank] if len(getattr(res, "fit_cpu_seconds", [])) > rank else np.nan
                        rows.append({"kind": "exemplar", "trainer": trainer, "dtype": dtype, "inputs": "raw 0-255",
                                     "n_engines": n_engines, "rank": rank, "repeat": r, "n_rows": size,
                                     "hidden": hidden, "default_network": True,
                                     "batch_size": effective_batch("auto", size), "epochs_max": epochs,
                                     "n_iter": it, "fit_seconds": secs, "fit_cpu_seconds": cpu,
                                     "seconds_per_epoch": secs / it, "gflop": flops / 1e9,
                                     "gflops": flops / secs / 1e9, "peak_gflops": peaks[dtype],
                                     "accuracy_pct": res.accuracy_pct, "subnormal_share": np.nan})
    return rows


def peak_rates() -> dict[str, float]:
    """The 1024³ GEMM rate per dtype on one thread (GFLOP/s)."""
    return {dt: gemm_rate(dt, 1024, 1024, 1024) for dt in ("float64", "float32")}


def params(quick: bool) -> dict:
    """The report's default classifier and 100 hidden units at batch 200 on 6,000 images; tiny sizes for
    ``--quick`` (no profile)."""
    hidden, epochs, _ = sweep.chosen_model()
    if quick:
        return {"n_train": 600, "n_test": 1000, "hidden": 20, "epochs": 5, "repeats": 1, "profile": False,
                "wide_hidden": WIDE_NETWORK[0], "wide_batch": WIDE_NETWORK[1]}
    return {"n_train": config.PAPER_N_TRAIN, "n_test": config.N_TEST_TOTAL, "hidden": hidden, "epochs": epochs,
            "repeats": 3, "profile": True, "wide_hidden": WIDE_NETWORK[0], "wide_batch": WIDE_NETWORK[1]}


def run(n_train, n_test, hidden, epochs, repeats, profile, wide_hidden=WIDE_NETWORK[0], wide_batch=WIDE_NETWORK[1],
        output_dir=None, quick=False) -> pd.DataFrame:
    """GEMM peaks, then the sequential and per-engine fits, then the peaks again; with ``profile``, also
    ``compute_profile.csv`` (both trainers, both dtypes).

    ``hidden`` is the default network (trained with ``batch_size="auto"``); ``wide_hidden`` units at
    ``wide_batch`` rows per batch the second network of the sequential fits.

    Returns
    -------
    DataFrame
        One row per fit (per rank for the exemplar runs): ``kind, trainer, dtype, inputs, n_engines, rank,
        repeat, n_rows, hidden, default_network, batch_size, epochs_max, n_iter, fit_seconds, fit_cpu_seconds,
        seconds_per_epoch, gflop, gflops, peak_gflops, accuracy_pct, subnormal_share, fraction_of_peak,
        fraction_of_peak_cpu, batch_gemm_gflops``. ``fraction_of_peak`` divides by the fit's wall time,
        ``fraction_of_peak_cpu`` by its thread's CPU time (what it would take with the core to itself).

    Raises
    ------
    ValueError
        A size that is not a positive integer, named.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test), ("hidden", hidden), ("epochs", epochs),
                        ("repeats", repeats), ("wide_hidden", wide_hidden), ("wide_batch", wide_batch)):
        check_positive_int(name, value)
    networks = [(hidden, "auto"), (wide_hidden, wide_batch)]
    if (wide_hidden, effective_batch(wide_batch, n_train)) == (hidden, effective_batch("auto", n_train)):
        networks = networks[:1]  # the same network twice
    X, y = data.load_mnist("train", n_rows=n_train)
    Xt, yt = data.load_mnist("test", n_rows=n_test)
    before = peak_rates()
    batch = {(dt, h): gemm_rate(dt, 200, config.N_PIXELS, h) for dt in ("float64", "float32") for h, _ in networks}
    rows = sequential_rows(X, y, Xt, yt, networks, epochs, repeats, before)
    rows += exemplar_rows(n_train, Xt, yt, hidden, epochs, repeats, before)
    after = peak_rates()
    peaks = {dt: max(before[dt], after[dt]) for dt in before}
    df = pd.DataFrame(rows)
    df["peak_gflops"] = df.dtype.map(peaks)
    df["fraction_of_peak"] = df.gflops / df.peak_gflops
    df["fraction_of_peak_cpu"] = df.gflop / df.fit_cpu_seconds / df.peak_gflops  # the fit's CPU time: no preemption
    df["batch_gemm_gflops"] = [batch.get((d, h), np.nan) for d, h in zip(df.dtype, df.hidden)]
    if profile:
        prof = pd.DataFrame([row for trainer in TRAINERS for dtype in ("float64", "float32")
                             for row in compute_profile.profile_rows(n_train, hidden, epochs, dtype, trainer)])
        common.write("compute_profile", prof, {"n_train": n_train, "hidden": hidden, "epochs": epochs},
                     quick=quick, output_dir=output_dir)
    return df


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per kind, trainer, network, dtype and inputs: mean seconds, epochs, GFLOP/s, fraction of peak and accuracy."""
    g = df.groupby(["kind", "trainer", "hidden", "batch_size", "dtype", "inputs", "n_engines"], sort=False)
    return g.agg(fit_seconds=("fit_seconds", "mean"), n_iter=("n_iter", "mean"),
                 seconds_per_epoch=("seconds_per_epoch", "mean"), gflops=("gflops", "mean"),
                 peak_gflops=("peak_gflops", "first"), fraction_of_peak=("fraction_of_peak", "mean"),
                 batch_gemm_gflops=("batch_gemm_gflops", "first"), accuracy_pct=("accuracy_pct", "mean"),
                 subnormal_share=("subnormal_share", "mean"), runs=("repeat", "nunique")).reset_index()


def main(argv=None) -> int:
    return common.main("compute", __doc__.splitlines()[0], run, params, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
