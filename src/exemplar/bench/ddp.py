"""Against PyTorch DDP: our gradient-allreduce (the fast trainer) and DistributedDataParallel, same network and data.

The setting is the communication chapter's: a 784-85-10 ReLU network (hidden 85), at most 100 epochs,
Adam (learning rate 1e-3, betas 0.9/0.999, eps 1e-8), L2 penalty ``alpha = 1e-4``, mini-batches of 200
rows per process, pixels scaled to [0, 1], the first 6,000 MNIST training images in contiguous shards
(:func:`exemplar.parallel.shards.shard_bounds`), the whole 10,000-image test set, seeds ``0 .. repeats-1``.
Every process has one core's worth of threads (BLAS / torch pinned to 1 thread). Both sides are measured
in float64 and in float32; every row says which in ``dtype``, and the comparison is per dtype.

Rows, one per run (``framework``):

``"sklearn"`` (strategy ``"sequential"``, float64)
    ``MLPClassifier(hidden_layer_sizes=(85,), max_iter=100, random_state=seed)`` fitted in this process.
    Its mean test accuracy over the repeats is the *sequential accuracy*; the **target** is that minus
    0.5 percentage points (one target for every row, whatever its dtype).
``"exemplar"``
    :func:`exemplar.parallel.train.run_exemplar` on a ``start_cluster(n, launcher="mpi")`` cluster with
    ``scale_inputs=True``, one entry ``[engines, strategy(, dtype)]`` of ``ours`` each (dtype float64
    unless given). ``"gradient-allreduce"`` (the communication chapter's best strategy: one
    ``MPI.Allreduce`` of the summed gradients per step, a global batch of ``n x 200`` rows) always runs
    the fast trainer, :func:`exemplar.models.numpy_mlp.train`; ``"periodic"`` and ``"one-shot"`` run
    the trainer ``trainer`` (the fast one by default). In float32 (``run_exemplar(dtype="float32")``)
    the engines train in float32 end to end (uint8 pixels converted per batch to float32, float32
    weights, Adam state and ``Allreduce`` buffers; ``train_dtype`` is the network's dtype as the
    engines report it); the strategy's label then ends in ``" (float32)"``.
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
    loss (not better by ``tol = 1e-4`` for more than 10 epochs; one ``all_reduce`` per epoch). Each DDP
    configuration is a ``[dtype, flush_denormal]`` pair of ``ddp_variants``: float32 (PyTorch's own)
    with denormal numbers flushed to zero (``torch.set_flush_denormal(True)``, in DDP's favour: in
    float32 the weights of the always-blank border pixels, and their Adam moments, decay into the
    subnormal range after some 40 epochs, and every epoch after that is slower), float32 with them kept
    (to show that effect), and float64 (flushed too; nothing gets that small there). DDP's best
    variant of a dtype is the one compared with ours.

Time to the target
------------------
Both sides are measured the same way: after every epoch rank 0 evaluates the test set with the clock
**paused** (the evaluation and the barrier after it are excluded); the time to the target is the
training time elapsed at the end of the first epoch whose test accuracy is at least the target, and
``target_epoch`` that epoch.

* DDP: ``time_to_target_seconds`` and ``time_to_target_prefix_seconds`` are that time
  (``time_to_target_kind = "first epoch at target (evaluation excluded)"``).
* Ours, ``"gradient-allreduce"``: after the ``run_exemplar`` run, the same training runs again on the
  same cluster through :func:`exemplar.bench.ddp_ours.ours_curve`: the shards distributed as
  ``run_exemplar`` distributes them, then on every engine its own call to
  :func:`~exemplar.models.numpy_mlp.train` with an ``on_epoch`` hook in which rank 0 evaluates the
  test set as the master does while every rank waits in a barrier, off the clock
  (:class:`~exemplar.bench.ddp_ours.EpochClock`). That gives ``target_epoch``,
  ``time_to_target_prefix_seconds`` (the **measured** time to the target; the clock starts, after a
  barrier of the ranks as DDP's, when ``train`` is called, buffers' allocation included, where DDP's
  starts at its first epoch: in DDP's favour), ``target_epoch_accuracy_pct``, ``eval_seconds_excluded``
  and ``train_dtype``; ``curve_matches`` says that this run ended where the ``run_exemplar`` run did
  (the same epochs, the same final accuracy). ``time_to_target_seconds`` stays the ``run_exemplar``
  run's whole training time (``fit_seconds``: the slowest engine's fit) when its final accuracy
  reaches the target, else NaN: an **upper bound** (``time_to_target_kind = "whole run (upper bound)"``).
* Our other strategies and scikit-learn: only that upper bound (they have no per-epoch hook here).

Order: scikit-learn's fits first (they set the target), then seed by seed every configuration of ours
and every DDP variant, one MPI cluster per engine count kept up throughout, so that a change in the
machine's load falls on both sides rather than on one. The comparison still wants a quiet machine:
other processes on the cores slow both sides, and ours probably more, since a rank waiting in an MPI
collective spins (the cluster makes it yield only when its own engines oversubscribe the cores);
``comm_seconds``, which includes waiting for the other rank, shows how much.

Other times: ``fit_seconds`` is training alone (DDP: slowest rank's training clock, evaluations
excluded); ``setup_seconds`` starting the processes and their communicator (ours: ``start_cluster``,
once per cluster and engine count; DDP: from the spawn to every rank past ``init_process_group`` and
the ``DistributedDataParallel`` wrap, importing torch included, per run); ``wall_seconds`` one run
without that set-up (ours: ``run_exemplar``'s wall: read, scatter, fit, gather, evaluation; DDP: rank 0
from ready to done, its shard to tensors and training, minus the paused evaluations, without the
processes' exit, as ours is without the cluster's stop; scikit-learn: fit and evaluation);
``time_to_target_wall_seconds`` ours ``distribute + fit + combine`` (upper bound), DDP from the ranks
being ready to the target epoch's end (evaluations excluded).

:func:`summarize` gives the means per framework, strategy, process count and dtype, and the ratios to
DDP with 2 processes *of the same dtype* (its fastest variant): ``ddp2_ratio`` and friends.
:func:`headline` picks out the issue's numbers per dtype: DDP-2's measured time to the target over
ours on 2 engines (the issue's target: at least 3 in float32 and in float64).

The DDP side is :mod:`exemplar.bench.ddp_torch`, ours per epoch :mod:`exemplar.bench.ddp_ours`.

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

from exemplar.analysis import communication as analysis
from exemplar.bench import common
from exemplar.bench.ddp_ours import first_reach, ours_curve
from exemplar.bench.ddp_torch import TORCH_HINT, global_batch_rows, require_torch, train_ddp
from exemplar.validation import check_dtype, check_trainer

__all__ = ["OURS", "DTYPES", "KIND_UPPER", "KIND_EPOCH", "COLUMNS", "TORCH_HINT", "params", "ddp_label", "ours_label",
           "run", "summarize", "headline", "main", "ours_curve", "first_reach", "global_batch_rows", "require_torch",
           "train_ddp"]

#: Our strategy the issue compares with DDP (the communication chapter's best, pixels scaled).
OURS = "gradient-allreduce"

#: The dtypes both sides are compared in.
DTYPES = ("float32", "float64")

#: ``time_to_target_kind`` values.
KIND_UPPER = "whole run (upper bound)"
KIND_EPOCH = "first epoch at target (evaluation excluded)"

#: The columns every row has, in order.
COLUMNS = [
    "framework", "strategy", "trainer", "n_procs", "repeat", "seed", "hidden", "epochs_max", "n_iter", "batch_size",
    "n_train", "n_test", "dtype", "train_dtype", "optimizer", "flush_denormal", "fit_seconds", "wall_seconds",
    "setup_seconds", "accuracy_pct", "sequential_pct", "target_pct", "reached", "time_to_target_seconds",
    "time_to_target_kind", "time_to_target_wall_seconds", "target_epoch", "time_to_target_prefix_seconds",
    "target_epoch_accuracy_pct", "curve_matches", "comm_seconds", "eval_seconds_excluded", "replicas_identical",
    "init_crc", "threads_per_proc", "torch_version",
]


def params(quick: bool) -> dict:
    """The benchmark's parameters: the report's setting, or tiny sizes for ``--quick``."""
    if quick:
        return dict(n_train=600, n_test=1000, hidden=85, epochs=5, batch_size=200, repeats=1,
                    tolerance_pp=0.5, scale_inputs=True,
                    ours=[[1, OURS], [2, OURS], [2, OURS, "float32"]], ddp_procs=[1, 2],
                    ddp_variants=[["float32", True], ["float64", True]], adam="torch", trainer="numpy", timeout=600)
    return dict(n_train=6000, n_test=None, hidden=85, epochs=100, batch_size=200, repeats=3,
                tolerance_pp=0.5, scale_inputs=True,
                # ours in float64 (scikit-learn's type) and in float32 (DDP's), and two other strategies
                ours=[[1, OURS], [2, OURS], [2, OURS, "float32"], [2, "periodic"], [2, "one-shot"]], ddp_procs=[1, 2],
                # DDP at its best in each dtype (denormals flushed), and float32 with denormals kept
                ddp_variants=[["float32", True], ["float64", True], ["float32", False]], adam="torch",
                trainer="numpy", timeout=1800)


def ddp_label(dtype: str = "float32", flush_denormal: bool = True) -> str:
    """``strategy`` of a DDP row: ``"gradient-allreduce (float32)"``, ``"gradient-allreduce (float32, denormals kept)"``."""
    return f"{OURS} ({dtype})" if flush_denormal else f"{OURS} ({dtype}, denormals kept)"


def ours_label(strategy: str = OURS, dtype: str = "float64") -> str:
    """``strategy`` of one of our rows: ``"gradient-allreduce"`` (float64), ``"gradient-allreduce (float32)"``."""
    return analysis.variant_name(strategy, 1) + (f" ({dtype})" if dtype != "float64" else "")


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
        rows.append(_row(**shared, framework="sklearn", strategy="sequential", trainer="sklearn", n_procs=1,
                         repeat=s["repeat"], seed=s["seed"], n_iter=s["fit"].n_iter, dtype="float64",
                         train_dtype="float64", optimizer="sklearn adam", fit_seconds=s["fit"].seconds,
                         wall_seconds=s["wall"], setup_seconds=0.0, accuracy_pct=s["acc"], reached=reached,
                         time_to_target_seconds=s["fit"].seconds if reached else np.nan,
                         time_to_target_wall_seconds=s["fit"].seconds if reached else np.nan,
                         time_to_target_kind=KIND_UPPER))
    return rows, target


def _measured(cl, source, Xt, yt, res, seed, dtype, target, cfg) -> dict:
    """Our gradient-allreduce run again with the test accuracy after every epoch (:func:`ours_curve`): its columns."""
    c = ours_curve(cl, source, Xt, yt, cfg["hidden"], cfg["epochs"], seed, target, batch_size=cfg["batch_size"],
                   scale_inputs=cfg["scale_inputs"], dtype=dtype, timeout=cfg["timeout"])
    k = c["target_epoch"]
    matches = (c["n_iter"] == max(res.n_iter) and abs(c["accuracy_pct"] - res.accuracy_pct) < 1e-9
               and c["replicas_identical"])
    return dict(target_epoch=np.nan if k is None else k,
                time_to_target_prefix_seconds=np.nan if k is None else c["time_to_target_seconds"],
                target_epoch_accuracy_pct=np.nan if k is None else c["accuracy_curve"][k - 1],
                curve_matches=bool(matches), eval_seconds_excluded=c["paused_seconds"],
                train_dtype=",".join(c["train_dtypes"]))


def _ours_row(cl, source, n, strategy, dtype, r, seed, data, target, cfg, shared, say) -> dict:
    """One ``run_exemplar`` run of ours (and, for gradient-allreduce, its run measured per epoch): its row."""
    from exemplar import parallel as ex

    X, y, Xt, yt = data
    trainer = {} if strategy == OURS else {"trainer": cfg["trainer"]}  # gradient-allreduce: always the fast one
    res = ex.run_exemplar(cl, source, Xt, yt, hidden=cfg["hidden"], epochs=cfg["epochs"], seed=seed,
                          mlp_params=cfg["mlp_params"], strategy=strategy, sync_every=1,
                          scale_inputs=cfg["scale_inputs"], timeout=cfg["timeout"], dtype=dtype, **trainer)
    reached = res.accuracy_pct >= target - 1e-9
    training = res.fit_seconds_max + res.distribute_seconds + res.combine_seconds
    extra = _measured(cl, source, Xt, yt, res, seed, dtype, target, cfg) if strategy == OURS else {}
    label = ours_label(strategy, dtype)
    used = "numpy" if strategy == OURS else cfg["trainer"]
    say(f"exemplar {label} x{n} seed {seed}: {res.accuracy_pct:.2f} % in {res.fit_seconds_max:.2f} s"
        + (f", target at epoch {extra['target_epoch']} ({extra['time_to_target_prefix_seconds']:.2f} s)"
           if extra else ""))
    return _row(**{"train_dtype": dtype, **shared, **extra}, framework="exemplar", strategy=label, trainer=used,
                n_procs=n, repeat=r, seed=seed, n_iter=max(res.n_iter), dtype=dtype,
                optimizer="numpy adam (sklearn's)" if used == "numpy" else "sklearn adam",
                fit_seconds=res.fit_seconds_max, wall_seconds=res.wall_seconds, setup_seconds=cl.start_seconds,
                accuracy_pct=res.accuracy_pct, reached=reached,
                time_to_target_seconds=res.fit_seconds_max if reached else np.nan,
                time_to_target_wall_seconds=training if reached else np.nan, time_to_target_kind=KIND_UPPER,
                comm_seconds=res.comm_seconds, replicas_identical=res.replicas_identical)


def _ddp_row(d: dict, n: int, r: int, seed: int, dtype: str, flush: bool, adam: str, shared: dict) -> dict:
    """The row of one DDP run (:func:`train_ddp`'s report)."""
    ttt = d["time_to_target_seconds"]
    k = d["target_epoch"]
    return _row(**{**shared, "threads_per_proc": d["threads"]}, framework="pytorch-ddp",
                strategy=ddp_label(dtype, flush), trainer="torch", n_procs=int(n),
                repeat=r, seed=seed, n_iter=d["n_iter"], dtype=dtype, train_dtype=dtype,
                optimizer=f"{'torch.optim.Adam' if adam == 'torch' else 'sklearn adam'}",
                fit_seconds=d["fit_seconds"], wall_seconds=d["wall_seconds"],
                setup_seconds=d["setup_seconds"], accuracy_pct=d["accuracy_pct"],
                reached=ttt is not None,
                time_to_target_seconds=np.nan if ttt is None else ttt,
                time_to_target_wall_seconds=(np.nan if d["time_to_target_wall_seconds"] is None
                                             else d["time_to_target_wall_seconds"]),
                target_epoch=np.nan if k is None else k,
                time_to_target_prefix_seconds=np.nan if ttt is None else ttt,
                target_epoch_accuracy_pct=np.nan if k is None else d["accuracy_curve"][k - 1],
                time_to_target_kind=KIND_EPOCH, eval_seconds_excluded=d["paused_seconds"],
                replicas_identical=bool(d["init_identical"] and d["final_identical"]),
                init_crc=d["init_crc"], flush_denormal=d["flush_denormal"])


def _ddp_run(n, r, seed, dtype, flush, data, target, cfg, adam, shared, say) -> dict:
    """One DDP run: its row."""
    X, y, Xt, yt = data
    d = train_ddp(X, y, Xt, yt, int(n), cfg["hidden"], cfg["epochs"], seed, target, batch_size=cfg["batch_size"],
                  dtype=dtype, adam=adam, scale_inputs=cfg["scale_inputs"], flush_denormal=bool(flush),
                  timeout=cfg["timeout"])
    ttt = d["time_to_target_seconds"]
    say(f"ddp {ddp_label(dtype, flush)} x{n} seed {seed}: {d['accuracy_pct']:.2f} % after {d['n_iter']} "
        f"epochs in {d['fit_seconds']:.2f} s; target at epoch {d['target_epoch']} "
        f"({'never' if ttt is None else f'{ttt:.2f} s'}); setup {d['setup_seconds']:.1f} s")
    return _ddp_row(d, n, r, seed, dtype, flush, adam, shared)


def _interleaved_rows(ours, ddp_variants, ddp_procs, seeds, data, target, cfg, adam, shared, say) -> list[dict]:
    """Ours and DDP, seed by seed: every ``[engines, strategy(, dtype)]`` of ``ours``, then every DDP variant.

    One MPI cluster per engine count stays up for the whole run, so that both sides' runs of a seed
    follow each other: a change in the machine's load then falls on both rather than on one side.
    """
    from contextlib import ExitStack

    from exemplar import config
    from exemplar import parallel as ex

    source = ex.csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, cfg["n_train"])
    mine = [(int(n), str(s), check_dtype(rest[0] if rest else "float64")) for n, s, *rest in ours]
    rows = []
    with ExitStack() as stack:
        clusters = {n: stack.enter_context(ex.start_cluster(n, launcher="mpi"))
                    for n in sorted({n for n, _, _ in mine})}
        for r, seed in enumerate(seeds):
            for n, strategy, dtype in mine:
                rows.append(_ours_row(clusters[n], source, n, strategy, dtype, r, seed, data, target, cfg, shared, say))
            for dtype, flush in ddp_variants:
                for n in ddp_procs:
                    rows.append(_ddp_run(n, r, seed, dtype, flush, data, target, cfg, adam, shared, say))
    return rows


def run(n_train: int = 6000, n_test: int | None = None, hidden: int = 85, epochs: int = 100, batch_size: int = 200,
        repeats: int = 3, tolerance_pp: float = 0.5, scale_inputs: bool = True, ours=((1, OURS), (2, OURS)),
        ddp_procs=(1, 2), ddp_variants=(("float32", True), ("float64", True)), adam: str = "torch",
        trainer: str = "numpy", timeout: float = 1800.0, verbose: bool = True) -> pd.DataFrame:
    """Run every configuration; one row per run (:data:`COLUMNS`). See the module's documentation.

    scikit-learn's fits come first (they set the target); then, seed by seed, ours and DDP
    (:func:`_interleaved_rows`).

    Raises
    ------
    BenchError
        PyTorch is not installed (the message says how to install it), a DDP run failed, or a
        parameter is out of range.
    """
    torch = require_torch()
    from exemplar import data as datasets
    from exemplar import parallel as ex

    try:
        check_trainer(trainer)
    except ValueError as exc:
        raise common.BenchError(str(exc)) from None
    for variant in ddp_variants:
        if len(variant) != 2 or variant[0] not in DTYPES:
            raise common.BenchError(f"each of ddp_variants must be [dtype, flush_denormal] with dtype one of "
                                    f"{DTYPES}; got {variant!r}")

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
               timeout=timeout, mlp_params={"batch_size": batch_size}, trainer=trainer)
    F, Ft = ex.features(X, scale_inputs), ex.features(Xt, scale_inputs)
    rows, target = _sequential_rows(F, y, Ft, yt, seeds, hidden, epochs, cfg["mlp_params"], tolerance_pp, shared, say)
    rows += _interleaved_rows(ours, ddp_variants, ddp_procs, seeds, data, target, cfg, adam, shared, say)
    return pd.DataFrame(rows, columns=COLUMNS)


# --------------------------------------------------------------------------------------------
# Reading the results
# --------------------------------------------------------------------------------------------

#: :func:`summarize`'s ratio columns and the time each divides.
RATIOS = {"ddp2_ratio": "time_to_target_prefix_seconds", "ddp2_ratio_upper": "time_to_target_seconds",
          "ddp2_ratio_wall": "time_to_target_wall_seconds", "ddp2_ratio_per_epoch": "seconds_per_epoch"}


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Means per ``framework, strategy, n_procs, dtype`` and the ratios to DDP with 2 processes of the same dtype.

    Times to the target are averaged over the runs that reached it (``reached`` is the fraction that
    did by the end). The ratios divide DDP-2's time by the row's, DDP-2 being its fastest variant
    (lowest mean) of the row's dtype; above 1: faster than DDP-2. ``ddp2_ratio`` compares the
    measured times to the target (``time_to_target_prefix_seconds``: NaN where only an upper bound
    exists), ``ddp2_ratio_upper`` ``time_to_target_seconds`` (ours: the whole run, an upper bound),
    ``ddp2_ratio_wall`` ``time_to_target_wall_seconds``, ``ddp2_ratio_per_epoch`` ``seconds_per_epoch``
    (mean of ``fit_seconds / n_iter``: the cost of an epoch, whatever epoch the target falls in).
    """
    keys = ["framework", "strategy", "n_procs", "dtype"]
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
    out.insert(4, "target_pct", float(df["target_pct"].iloc[0]) if len(df) else np.nan)
    out.insert(4, "sequential_pct", float(df["sequential_pct"].iloc[0]) if len(df) else np.nan)
    ddp2 = out[(out.framework == "pytorch-ddp") & (out.n_procs == 2)]
    for name, col in RATIOS.items():
        base = ddp2.groupby("dtype")[col].min()  # DDP-2's fastest variant per dtype (NaN: none reached)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[name] = out["dtype"].map(base).astype(float) / out[col]
    return out


def headline(df: pd.DataFrame, goal: float = 3.0) -> dict:
    """The issue's numbers per dtype: ours on 2 engines and DDP with 2 processes, their ratio, and the verdict.

    For each dtype ``d`` of :data:`DTYPES` measured on both sides: ``ours2_<d>_*`` (our gradient-allreduce
    on 2 engines) and ``ddp2_<d>_*`` (DDP-2's fastest variant of ``d``, named in ``ddp2_<d>_strategy``):
    ``time_to_target_seconds`` (measured, at the first epoch at the target), ``target_epoch``,
    ``accuracy_pct`` (at the end), ``seconds_per_epoch``, ``reached``; ``ratio_<d>`` (DDP-2's measured time
    to the target over ours), ``ratio_upper_<d>`` (ours charged for its whole run), ``ratio_per_epoch_<d>``,
    and ``met_<d>``: ``ratio_<d> >= goal``.
    """
    s = summarize(df)
    out = {"sequential_pct": float(s.sequential_pct.iloc[0]), "target_pct": float(s.target_pct.iloc[0]), "goal": goal}
    for d in DTYPES:
        ours = s[(s.framework == "exemplar") & (s.strategy == ours_label(OURS, d)) & (s.n_procs == 2) & (s.dtype == d)]
        theirs = s[(s.framework == "pytorch-ddp") & (s.n_procs == 2) & (s.dtype == d)]
        if not len(ours) or not len(theirs):
            continue
        o = ours.iloc[0]
        t = theirs.loc[theirs.time_to_target_prefix_seconds.fillna(np.inf).idxmin()]
        out[f"ddp2_{d}_strategy"] = str(t.strategy)
        for name, row in (("ours2", o), ("ddp2", t)):
            out[f"{name}_{d}_time_to_target_seconds"] = float(row.time_to_target_prefix_seconds)
            out[f"{name}_{d}_target_epoch"] = float(row.target_epoch)
            out[f"{name}_{d}_accuracy_pct"] = float(row.accuracy_pct)
            out[f"{name}_{d}_seconds_per_epoch"] = float(row.seconds_per_epoch)
            out[f"{name}_{d}_reached"] = float(row.reached)
        out[f"ratio_{d}"] = float(o.ddp2_ratio)
        out[f"ratio_upper_{d}"] = float(o.ddp2_ratio_upper)
        out[f"ratio_per_epoch_{d}"] = float(o.ddp2_ratio_per_epoch)
        out[f"met_{d}"] = bool(np.isfinite(o.ddp2_ratio) and o.ddp2_ratio >= goal)
    return out


DESCRIPTION = ("Against PyTorch DDP: our gradient-allreduce (the fast trainer) and DistributedDataParallel (gloo, "
               "1 and 2 processes) on the same network, shards and batches, in float32 and float64: time to the "
               "sequential accuracy minus 0.5 pp, and the accuracy at the end.")


def main(argv=None) -> int:
    return common.main("ddp", DESCRIPTION, run, params, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
