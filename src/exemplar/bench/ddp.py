"""Against PyTorch DDP: our best strategy and DistributedDataParallel, on the same network, shards and batches.

The setting is the communication chapter's: a 784-85-10 ReLU network (hidden 85), at most 100 epochs,
Adam (learning rate 1e-3, betas 0.9/0.999, eps 1e-8), L2 penalty ``alpha = 1e-4``, mini-batches of 200
rows per process, pixels scaled to [0, 1], the first 6,000 MNIST training images in contiguous shards
(:func:`exemplar.parallel.shards.shard_bounds`), the whole 10,000-image test set, seeds ``0 .. repeats-1``.
Every process has one core's worth of threads (BLAS / torch pinned to 1 thread).

Rows, one per run (``framework``):

``"sklearn"`` (strategy ``"sequential"``)
    ``MLPClassifier(hidden_layer_sizes=(85,), max_iter=100, random_state=seed)`` fitted in this process.
    Its mean test accuracy over the repeats is the *sequential accuracy*; the **target** is that minus
    0.5 percentage points (one target for every row).
``"exemplar"``
    :func:`exemplar.parallel.train.run_exemplar` on a ``start_cluster(n, launcher="mpi")`` cluster with
    ``scale_inputs=True``: ``"gradient-allreduce"`` (the communication chapter's best strategy: one
    ``MPI.Allreduce`` of the summed gradients per step, a global batch of ``n x 200`` rows) and, where
    ``ours`` asks for them, ``"periodic"`` (weights averaged every epoch) and ``"one-shot"``. An entry
    ``[engines, strategy, "float32"]`` trains in single precision (``run_exemplar(dtype="float32")``),
    DDP's own type: ``"gradient-allreduce (float32)"`` rows.
``"pytorch-ddp"``
    ``nn.Sequential(Linear(784, 85), ReLU(), Linear(85, 10))`` wrapped in ``DistributedDataParallel``,
    gloo backend on 127.0.0.1, ``n`` processes started with ``torch.multiprocessing`` (spawn), each with
    ``torch.set_num_threads(1)`` and the same contiguous shard as our engine of that rank. The network
    is ours, term by term: scikit-learn's Glorot-uniform initial weights (drawn by
    :class:`exemplar.models.numpy_mlp.NumpyMLP` from ``RandomState(seed)``, identical on every rank; DDP also
    broadcasts rank 0's), per-epoch shuffles of each shard from the same stream as ours, a step's loss
    ``(sum of the ranks' cross-entropies + alpha/2 * ||W||^2) / (global batch rows)`` on the
    coefficients only (DDP averages the ranks' gradients, so each rank scales its own cross-entropy sum
    by the number of ranks: the averaged gradient is then exactly ours), ``torch.optim.Adam`` with
    the same settings (``adam="sklearn"`` swaps in scikit-learn's Adam, whose eps sits inside the bias
    correction, for the equivalence tests), and scikit-learn's stopping rule on the global training
    loss (not better by ``tol = 1e-4`` for more than 10 epochs; one ``all_reduce`` per epoch). In
    ``float32`` by default (PyTorch's own, and twice the SIMD width of our float64: in DDP's favour),
    with denormal numbers flushed to zero (``torch.set_flush_denormal(True)``, also in DDP's favour: in
    float32 the weights of the always-blank border pixels, and their Adam moments, decay into the
    subnormal range after some 40 epochs, and every epoch after that is about 60 % slower). Each DDP
    configuration is a ``[dtype, flush_denormal]`` pair of ``ddp_variants``; the full run also measures
    ``["float32", False]``, to show that effect, and ``["float64", True]``, ours's arithmetic. Ours trains
    in float64, where nothing gets that small.

Time to the target
------------------
* DDP: after every epoch rank 0 evaluates the test set with the clock **paused** (the evaluation and the
  barrier after it are excluded, in DDP's favour); ``time_to_target_seconds`` is the training time
  elapsed at the end of the first epoch whose test accuracy is at least the target, ``target_epoch``
  that epoch (``time_to_target_kind = "first epoch at target (evaluation excluded)"``).
* Ours and scikit-learn: ``run_exemplar`` and ``fit`` have no per-epoch hook, so
  ``time_to_target_seconds`` is the whole run's training time (``fit_seconds``: slowest engine's fit),
  an **upper bound**, when the final accuracy reaches the target, else NaN
  (``time_to_target_kind = "whole run (upper bound)"``).
  For our ``gradient-allreduce`` rows the benchmark also *measures* the time to the target: this process
  replays the same algorithm (:func:`allreduce_curve`: the ranks' summed gradients, the same
  :class:`~exemplar.models.numpy_mlp.NumpyMLP` steps, shuffles and stopping rule) with the test accuracy after
  every epoch, which gives ``target_epoch``; a second ``run_exemplar`` with ``epochs=target_epoch``
  (the same run stopped there: every epoch of gradient-allreduce is a prefix of the longer run) gives
  ``time_to_target_prefix_seconds`` (its ``fit_seconds_max``) and ``prefix_accuracy_pct`` (which must
  equal the replay's accuracy at that epoch: ``replay_matches`` says so, with the replay's final
  accuracy and epoch count equal to the full run's). For DDP, ``time_to_target_prefix_seconds`` equals
  ``time_to_target_seconds``.

Other times: ``fit_seconds`` is training alone (DDP: slowest rank's training clock, evaluations
excluded); ``setup_seconds`` starting the processes and their communicator (ours: ``start_cluster``,
once per cluster and engine count; DDP: from the spawn to every rank past ``init_process_group`` and
the ``DistributedDataParallel`` wrap, importing torch included, per run); ``wall_seconds`` one run
without that set-up (ours: ``run_exemplar``'s wall: read, scatter, fit, gather, evaluation; DDP: rank 0
from ready to done, its shard to tensors and training, minus the paused evaluations, without the
processes' exit, as ours is without the cluster's stop; scikit-learn: fit and evaluation);
``time_to_target_wall_seconds`` ours ``distribute + fit + combine`` (upper bound), DDP from the ranks
being ready to the target epoch's end (evaluations excluded).

:func:`summarize` gives the means per framework, strategy and process count and the headline ratio
``ddp2_ratio``: DDP with 2 processes' mean time to the target over each row's (the issue's target:
at least 1.5 for ours with 2 engines). :func:`headline` picks out those numbers.

The DDP side is :mod:`exemplar.bench.ddp_torch`, the replay :mod:`exemplar.bench.ddp_replay`.

Run ``python -m exemplar.bench.ddp`` (``--quick`` for a tiny smoke run; ``python -m exemplar.bench.run_all``,
which ``make bench`` calls, runs every benchmark). Needs the optional extra ``pip install -e '.[bench]'``
(``torch==2.13.0``, CPU build).
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd

from exemplar.bench import common
from exemplar.bench.ddp_replay import allreduce_curve, first_reach
from exemplar.bench.ddp_torch import TORCH_HINT, global_batch_rows, require_torch, train_ddp
from exemplar.experiments import communication
from exemplar.validation import check_dtype

__all__ = ["OURS", "KIND_UPPER", "KIND_EPOCH", "COLUMNS", "TORCH_HINT", "params", "ddp_label", "run", "summarize",
           "headline", "main", "allreduce_curve", "first_reach", "global_batch_rows", "require_torch", "train_ddp"]

#: Our strategy the issue compares with DDP (the communication chapter's best, pixels scaled).
OURS = "gradient-allreduce"

#: ``time_to_target_kind`` values.
KIND_UPPER = "whole run (upper bound)"
KIND_EPOCH = "first epoch at target (evaluation excluded)"

#: The columns every row has, in order.
COLUMNS = [
    "framework", "strategy", "n_procs", "repeat", "seed", "hidden", "epochs_max", "n_iter", "batch_size",
    "n_train", "n_test", "dtype", "optimizer", "flush_denormal", "fit_seconds", "wall_seconds", "setup_seconds", "accuracy_pct",
    "sequential_pct", "target_pct", "reached", "time_to_target_seconds", "time_to_target_kind",
    "time_to_target_wall_seconds", "target_epoch", "time_to_target_prefix_seconds", "prefix_accuracy_pct",
    "replay_matches", "comm_seconds", "eval_seconds_excluded", "replicas_identical", "init_crc",
    "threads_per_proc", "torch_version",
]


def params(quick: bool) -> dict:
    """The benchmark's parameters: the report's setting, or tiny sizes for ``--quick``."""
    if quick:
        return dict(n_train=600, n_test=1000, hidden=85, epochs=5, batch_size=200, repeats=1,
                    tolerance_pp=0.5, scale_inputs=True,
                    ours=[[1, OURS], [2, OURS], [2, OURS, "float32"]], ddp_procs=[1, 2], ddp_variants=[["float32", True]],
                    adam="torch", timeout=600)
    return dict(n_train=6000, n_test=None, hidden=85, epochs=100, batch_size=200, repeats=3,
                tolerance_pp=0.5, scale_inputs=True,
                # ours in float64 (scikit-learn's type) and in float32 (DDP's, the same arithmetic width)
                ours=[[1, OURS], [2, OURS], [2, OURS, "float32"], [2, "periodic"], [2, "one-shot"]], ddp_procs=[1, 2],
                # float64 DDP is left to the tests (it reproduces our gradient-allreduce to rounding error)
                ddp_variants=[["float32", True], ["float32", False]], adam="torch", timeout=1800)


def ddp_label(dtype: str = "float32", flush_denormal: bool = True) -> str:
    """``strategy`` of a DDP row: ``"gradient-allreduce (float32)"``, ``"gradient-allreduce (float32, denormals kept)"``."""
    return f"{OURS} ({dtype})" if flush_denormal else f"{OURS} ({dtype}, denormals kept)"


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


def _row(**kw) -> dict:
    return {c: kw.get(c, np.nan) for c in COLUMNS}


def _sequential_rows(F, y, Ft, yt, seeds, hidden, epochs, mlp_params, tolerance_pp, shared, say):
    """scikit-learn's fits (one per seed), and the target: their mean accuracy less ``tolerance_pp``.

    ``shared`` (the columns every row shares) gains ``sequential_pct`` and ``target_pct``. Returns the
    rows and the target.
    """
    from threadpoolctl import threadpool_limits

    from exemplar.models.sklearn_mlp import accuracy_pct, build_mlp, fit_timed

    seq = []
    with threadpool_limits(1):
        for r, seed in enumerate(seeds):
            t0 = time.perf_counter()
            fit = fit_timed(build_mlp(hidden, epochs, seed, **mlp_params), F, y)
            acc = accuracy_pct(fit.model, Ft, yt)
            seq.append(dict(repeat=r, seed=seed, fit=fit, acc=acc, wall=time.perf_counter() - t0))
            say(f"sklearn seed {seed}: {acc:.2f} % in {fit.seconds:.1f} s ({fit.n_iter} epochs)")
    sequential = float(np.mean([s["acc"] for s in seq]))
    target = sequential - tolerance_pp
    say(f"sequential accuracy {sequential:.3f} %, target {target:.3f} %")
    shared.update(sequential_pct=sequential, target_pct=target)
    rows = []
    for s in seq:
        reached = s["acc"] >= target - 1e-9
        rows.append(_row(**shared, framework="sklearn", strategy="sequential", n_procs=1, repeat=s["repeat"],
                         seed=s["seed"], n_iter=s["fit"].n_iter, dtype="float64", optimizer="sklearn adam",
                         fit_seconds=s["fit"].seconds, wall_seconds=s["wall"], setup_seconds=0.0,
                         accuracy_pct=s["acc"], reached=reached,
                         time_to_target_seconds=s["fit"].seconds if reached else np.nan,
                         time_to_target_wall_seconds=s["fit"].seconds if reached else np.nan,
                         time_to_target_kind=KIND_UPPER))
    return rows, target


def _target_epoch(cl, source, data, res, n, seed, dtype, target, cfg) -> dict:
    """Our gradient-allreduce's target epoch (by the replay) and its time, measured by a run stopped there."""
    from exemplar import parallel as ex

    X, y, Xt, yt = data
    curve = allreduce_curve(X, y, Xt, yt, n, cfg["hidden"], cfg["epochs"], seed, cfg["batch_size"],
                            cfg["scale_inputs"], dtype=dtype)
    k = first_reach(curve["accuracy"], target)
    same = (curve["n_iter"] == max(res.n_iter)
            and abs(curve["accuracy"][-1] - res.accuracy_pct) < 1e-9)
    extra = dict(target_epoch=k if k is not None else np.nan, replay_matches=same)
    if k is not None:
        if k == max(res.n_iter):
            pre = res
        else:
            pre = ex.run_exemplar(cl, source, Xt, yt, hidden=cfg["hidden"], epochs=k, seed=seed,
                                  mlp_params=cfg["mlp_params"], strategy=OURS,
                                  scale_inputs=cfg["scale_inputs"], timeout=cfg["timeout"], dtype=dtype)
        extra.update(time_to_target_prefix_seconds=pre.fit_seconds_max,
                     prefix_accuracy_pct=pre.accuracy_pct)
        extra["replay_matches"] = same and abs(pre.accuracy_pct - curve["accuracy"][k - 1]) < 1e-9
    return extra


def _ours_rows(ours, seeds, data, target, cfg, shared, say) -> list[dict]:
    """``run_exemplar`` for every ``[engines, strategy(, dtype)]`` of ``ours``, one MPI cluster per engine count."""
    from exemplar import config
    from exemplar import parallel as ex

    X, y, Xt, yt = data
    source = ex.csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, cfg["n_train"])
    by_n: dict[int, list[tuple[str, str]]] = {}
    for n, strategy, *rest in ours:  # [engines, strategy] or [engines, strategy, dtype]
        by_n.setdefault(int(n), []).append((str(strategy), check_dtype(rest[0] if rest else "float64")))
    rows = []
    for n, strategies in by_n.items():
        with ex.start_cluster(n, launcher="mpi") as cl:
            for strategy, dtype in strategies:
                for r, seed in enumerate(seeds):
                    res = ex.run_exemplar(cl, source, Xt, yt, hidden=cfg["hidden"], epochs=cfg["epochs"], seed=seed,
                                          mlp_params=cfg["mlp_params"], strategy=strategy, sync_every=1,
                                          scale_inputs=cfg["scale_inputs"], timeout=cfg["timeout"], dtype=dtype)
                    reached = res.accuracy_pct >= target - 1e-9
                    training = res.fit_seconds_max + res.distribute_seconds + res.combine_seconds
                    extra = _target_epoch(cl, source, data, res, n, seed, dtype, target, cfg) if strategy == OURS else {}
                    label = communication.variant_name(strategy, 1) + (f" ({dtype})" if dtype != "float64" else "")
                    rows.append(_row(**shared, framework="exemplar", strategy=label, n_procs=n, repeat=r, seed=seed,
                                     n_iter=max(res.n_iter), dtype=dtype,
                                     optimizer="sklearn adam" if strategy != OURS else "numpy adam (sklearn's)",
                                     fit_seconds=res.fit_seconds_max, wall_seconds=res.wall_seconds,
                                     setup_seconds=cl.start_seconds, accuracy_pct=res.accuracy_pct, reached=reached,
                                     time_to_target_seconds=res.fit_seconds_max if reached else np.nan,
                                     time_to_target_wall_seconds=training if reached else np.nan,
                                     time_to_target_kind=KIND_UPPER, comm_seconds=res.comm_seconds,
                                     replicas_identical=res.replicas_identical, **extra))
                    say(f"exemplar {label} x{n} seed {seed}: {res.accuracy_pct:.2f} % in {res.fit_seconds_max:.1f} s"
                        + (f", target at epoch {extra.get('target_epoch')} "
                           f"({extra.get('time_to_target_prefix_seconds', np.nan):.1f} s)" if extra else ""))
    return rows


def _ddp_row(d: dict, n: int, r: int, seed: int, dtype: str, flush: bool, adam: str, shared: dict) -> dict:
    """The row of one DDP run (:func:`train_ddp`'s report)."""
    ttt = d["time_to_target_seconds"]
    return _row(**{**shared, "threads_per_proc": d["threads"]}, framework="pytorch-ddp",
                strategy=ddp_label(dtype, flush), n_procs=int(n),
                repeat=r, seed=seed, n_iter=d["n_iter"], dtype=dtype,
                optimizer=f"{'torch.optim.Adam' if adam == 'torch' else 'sklearn adam'}",
                fit_seconds=d["fit_seconds"], wall_seconds=d["wall_seconds"],
                setup_seconds=d["setup_seconds"], accuracy_pct=d["accuracy_pct"],
                reached=ttt is not None,
                time_to_target_seconds=np.nan if ttt is None else ttt,
                time_to_target_wall_seconds=(np.nan if d["time_to_target_wall_seconds"] is None
                                             else d["time_to_target_wall_seconds"]),
                target_epoch=np.nan if d["target_epoch"] is None else d["target_epoch"],
                time_to_target_prefix_seconds=np.nan if ttt is None else ttt,
                time_to_target_kind=KIND_EPOCH, eval_seconds_excluded=d["paused_seconds"],
                replicas_identical=bool(d["init_identical"] and d["final_identical"]),
                init_crc=d["init_crc"], flush_denormal=d["flush_denormal"])


def _ddp_rows(ddp_variants, ddp_procs, seeds, data, target, cfg, adam, shared, say) -> list[dict]:
    """DDP for every ``[dtype, flush_denormal]`` variant, process count and seed."""
    X, y, Xt, yt = data
    rows = []
    for dtype, flush in ddp_variants:
        for n in ddp_procs:
            for r, seed in enumerate(seeds):
                d = train_ddp(X, y, Xt, yt, int(n), cfg["hidden"], cfg["epochs"], seed, target,
                              batch_size=cfg["batch_size"], dtype=dtype, adam=adam, scale_inputs=cfg["scale_inputs"],
                              flush_denormal=bool(flush), timeout=cfg["timeout"])
                rows.append(_ddp_row(d, n, r, seed, dtype, flush, adam, shared))
                ttt = d["time_to_target_seconds"]
                say(f"ddp {ddp_label(dtype, flush)} x{n} seed {seed}: {d['accuracy_pct']:.2f} % after {d['n_iter']} "
                    f"epochs in {d['fit_seconds']:.1f} s; target at epoch {d['target_epoch']} "
                    f"({'never' if ttt is None else f'{ttt:.1f} s'}); setup {d['setup_seconds']:.1f} s")
    return rows


def run(n_train: int = 6000, n_test: int | None = None, hidden: int = 85, epochs: int = 100, batch_size: int = 200,
        repeats: int = 3, tolerance_pp: float = 0.5, scale_inputs: bool = True, ours=((1, OURS), (2, OURS)),
        ddp_procs=(1, 2), ddp_variants=(("float32", True),), adam: str = "torch", timeout: float = 1800.0,
        verbose: bool = True) -> pd.DataFrame:
    """Run every configuration; one row per run (:data:`COLUMNS`). See the module's documentation.

    Raises
    ------
    BenchError
        PyTorch is not installed (the message says how to install it), or a DDP run failed.
    """
    torch = require_torch()
    from exemplar import data as datasets
    from exemplar import parallel as ex

    def say(msg):
        if verbose:
            print(f"[ddp] {msg}", flush=True)

    X, y = datasets.load_mnist("train", n_rows=n_train)
    Xt, yt = datasets.load_mnist("test", n_rows=n_test)
    data = (X, y, Xt, yt)
    seeds = list(range(repeats))
    shared = dict(hidden=hidden, epochs_max=epochs, batch_size=batch_size, n_train=n_train, n_test=len(yt),
                  torch_version=torch.__version__, threads_per_proc=1)
    cfg = dict(n_train=n_train, hidden=hidden, epochs=epochs, batch_size=batch_size, scale_inputs=scale_inputs,
               timeout=timeout, mlp_params={"batch_size": batch_size})
    F, Ft = ex.features(X, scale_inputs), ex.features(Xt, scale_inputs)
    rows, target = _sequential_rows(F, y, Ft, yt, seeds, hidden, epochs, cfg["mlp_params"], tolerance_pp, shared, say)
    rows += _ours_rows(ours, seeds, data, target, cfg, shared, say)
    rows += _ddp_rows(ddp_variants, ddp_procs, seeds, data, target, cfg, adam, shared, say)
    return pd.DataFrame(rows, columns=COLUMNS)


# --------------------------------------------------------------------------------------------
# Reading the results
# --------------------------------------------------------------------------------------------


def summarize(df: pd.DataFrame, reference_dtype: str = "float32") -> pd.DataFrame:
    """Means per ``framework, strategy, n_procs`` and the ratios to DDP with 2 processes.

    Times to the target are averaged over the runs that reached it (``reached`` is the fraction that
    did). ``ddp2_ratio`` is DDP-2's (strategy :func:`ddp_label` of ``reference_dtype``) mean
    ``time_to_target_seconds`` divided by the row's; ``ddp2_ratio_prefix`` the same with
    ``time_to_target_prefix_seconds`` (ours measured at the target epoch; NaN where not measured);
    ``ddp2_ratio_wall`` with ``time_to_target_wall_seconds``; ``ddp2_ratio_per_epoch`` with
    ``seconds_per_epoch`` (mean of ``fit_seconds / n_iter``: the cost of an epoch, whatever epoch the
    target falls in). Above 1: faster than DDP-2. The reference is :func:`ddp_label` of
    ``reference_dtype`` (denormals flushed).
    """
    keys = ["framework", "strategy", "n_procs"]
    df = df.copy()
    df["reached"] = df["reached"].astype(float)
    df["seconds_per_epoch"] = df["fit_seconds"] / df["n_iter"]
    g = df.groupby(keys, sort=False)
    cols = ["accuracy_pct", "n_iter", "fit_seconds", "wall_seconds", "setup_seconds", "time_to_target_seconds",
            "time_to_target_wall_seconds", "target_epoch", "time_to_target_prefix_seconds", "seconds_per_epoch",
            "reached"]
    out = g[cols].mean()
    out["accuracy_sd"] = g["accuracy_pct"].std()
    out["runs"] = g.size()
    out = out.reset_index()
    out.insert(3, "target_pct", float(df["target_pct"].iloc[0]) if len(df) else np.nan)
    out.insert(3, "sequential_pct", float(df["sequential_pct"].iloc[0]) if len(df) else np.nan)
    ref = out[(out.framework == "pytorch-ddp") & (out.strategy == ddp_label(reference_dtype)) & (out.n_procs == 2)]
    for col, name in (("time_to_target_seconds", "ddp2_ratio"), ("time_to_target_prefix_seconds", "ddp2_ratio_prefix"),
                      ("time_to_target_wall_seconds", "ddp2_ratio_wall"),
                      ("seconds_per_epoch", "ddp2_ratio_per_epoch")):
        base = float(ref[col].iloc[0]) if len(ref) else np.nan
        out[name] = base / out[col]
    return out


def headline(df: pd.DataFrame, reference_dtype: str = "float32", goal: float = 1.5) -> dict:
    """The issue's numbers: sequential accuracy, target, ours and DDP with 2 processes, the ratios, and the verdict.

    ``met`` is whether ours with 2 engines is at least ``goal`` times faster to the target than DDP-2 by the
    upper bound (``ratio``); ``met_prefix`` by the measured time at our target epoch (``ratio_prefix``).
    """
    s = summarize(df, reference_dtype)

    def pick(framework, strategy, n):
        part = s[(s.framework == framework) & (s.strategy == strategy) & (s.n_procs == n)]
        return part.iloc[0] if len(part) else None

    ours2, ddp1, ddp2 = pick("exemplar", OURS, 2), pick("pytorch-ddp", ddp_label(reference_dtype), 1), \
        pick("pytorch-ddp", ddp_label(reference_dtype), 2)
    out = {"sequential_pct": float(s.sequential_pct.iloc[0]), "target_pct": float(s.target_pct.iloc[0])}
    for name, row in (("ours2", ours2), ("ddp1", ddp1), ("ddp2", ddp2)):
        if row is None:
            continue
        out[f"{name}_accuracy_pct"] = float(row.accuracy_pct)
        out[f"{name}_time_to_target_seconds"] = float(row.time_to_target_seconds)
        out[f"{name}_time_to_target_prefix_seconds"] = float(row.time_to_target_prefix_seconds)
        out[f"{name}_fit_seconds"] = float(row.fit_seconds)
        out[f"{name}_seconds_per_epoch"] = float(row.seconds_per_epoch)
        out[f"{name}_reached"] = float(row.reached)
    if ours2 is not None:
        out["ratio"] = float(ours2.ddp2_ratio)
        out["ratio_prefix"] = float(ours2.ddp2_ratio_prefix)
        out["ratio_wall"] = float(ours2.ddp2_ratio_wall)
        out["ratio_per_epoch"] = float(ours2.ddp2_ratio_per_epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out["met"] = bool(out["ratio"] >= goal)
            out["met_prefix"] = bool(out["ratio_prefix"] >= goal)
    out["goal"] = goal
    return out


DESCRIPTION = ("Against PyTorch DDP: our gradient-allreduce and DistributedDataParallel (gloo, 1 and 2 processes) "
               "on the same network, shards and batches: time to the sequential accuracy minus 0.5 pp, and the "
               "accuracy at the end.")


def main(argv=None) -> int:
    return common.main("ddp", DESCRIPTION, run, params, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
