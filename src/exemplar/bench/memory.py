"""Memory: the peak resident memory of every process of a 2-engine one-shot run, against its data.

For each training-set size (the first ``n_train`` MNIST training images), training ``dtype`` and
``trainer``, one :func:`exemplar.parallel.train.run_exemplar` run (strategy one-shot, the data read
by rank 0 from the CSV file) is measured in every process that takes part: the **client** (the
process that holds the ipyparallel client and evaluates the model), **rank 0** (reads the whole
training set, scatters the shards, trains its own) and every other **rank** (receives and trains
its shard).

Method
------
A peak resident set size is a high-water mark over a process's life, so every measurement gets
fresh processes: a new client (a child Python process, :func:`measure`) and a new cluster. In each
process, after the imports the run needs and the cluster's start, :func:`process_memory` reads the
*baseline*, ``VmRSS`` from ``/proc/self/status`` (after ``gc.collect()``), then resets the
high-water mark (``5`` written to ``/proc/self/clear_refs``, Linux 4.0+); after the run it reads
the *peak*, ``VmHWM``: the most the process held during the run. Where the reset is refused
(``peak_reset`` false) the peak is the process's lifetime high-water mark, which can only be
higher. ``lifetime_peak_mb`` is the larger of the high-water mark before the reset and the peak:
imports and the cluster's start included. (``getrusage``'s ``ru_maxrss`` reads the same counter on
Linux and is reset with it, so it adds nothing.) The client loads the test set after its
baseline, so its growth includes holding it.

The target (issue 15): "no process holds more than twice the bytes of its own data in the
training dtype plus 300 MB". What a process *holds* for the run is its ``growth_mb`` =
peak - baseline (the interpreter, numpy, scikit-learn, MPI and ipyparallel of an idle process are
not the run's data); ``within_bound`` compares it with ``bound_mb`` = 2 x ``own_data_mb`` + 300.
``peak_within_bound`` compares the absolute peak too. *Own data*: a rank's shard (rows x 784
pixels x the dtype's itemsize); the client's, the test set it evaluates (same formula). Rank 0
also reads the whole training set as uint8 pixels and int64 labels (``reads_whole_set_mb``); the
bound does not count it. MB = 10^6 bytes.

"No process other than rank 0 ever holds the whole training set": the client never receives
training images (rank 0 reads them from the file); a rank k > 0 receives only its shard, into a
buffer of its shard's rows (``Scatterv``; the source goes to rank 0 alone).
``largest_training_rows`` is the most training rows a process held at once (0 for the client,
the whole set for rank 0, its shard for the others, as reported by the run) and
``holds_whole_set`` is whether that equals ``n_train``. That is what can be claimed: the memory
numbers alone could not show it, as a shard in float64 is larger than the whole set in uint8.

Run ``python -m exemplar.bench.memory [--quick] [--output-dir DIR]`` (``make bench`` runs every benchmark).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from exemplar import config
from exemplar.bench import common
from exemplar.bench.common import BenchError
from exemplar.validation import DTYPES, TRAINERS, check_interval, check_positive_int

#: Bytes per MB in every ``*_mb`` column (as the report's other byte counts).
MB = 1e6

#: The target's allowance beyond twice a process's own data, in bytes.
SLACK_BYTES = 300 * MB


#: What a run imports on the engines; imported before the baseline is read.
RUN_MODULES = ("mpi4py.MPI", "exemplar.parallel.engine", "exemplar.parallel.shards", "exemplar.data",
               "exemplar.models.sklearn_mlp", "exemplar.models.numpy_mlp")

#: The line before the child process's JSON result on its standard output.
_MARK = "@@exemplar-memory@@"


# --------------------------------------------------------------------------------------------
# In every process
# --------------------------------------------------------------------------------------------


def _status() -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024  # reported in kB (KiB)
    return out


def reset_peak() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS; whether the kernel allowed it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def process_memory(reset: bool = False) -> dict:
    """This process's ``pid``, ``rss_bytes`` and ``hwm_bytes`` (``VmRSS``, ``VmHWM``); with ``reset``,
    then resets the high-water mark (``peak_reset``: whether it could)."""
    gc.collect()
    st = _status()
    out = {"pid": os.getpid(), "rss_bytes": st["VmRSS"], "hwm_bytes": st["VmHWM"]}
    if reset:
        out["peak_reset"] = reset_peak()
    return out


def engine_memory(reset: bool = False) -> dict:
    """On an engine: :func:`process_memory` after importing :data:`RUN_MODULES`, with its MPI ``rank``."""
    for name in RUN_MODULES:
        importlib.import_module(name)
    from mpi4py import MPI

    return {"rank": MPI.COMM_WORLD.Get_rank(), **process_memory(reset)}


# --------------------------------------------------------------------------------------------
# Parameters and arithmetic
# --------------------------------------------------------------------------------------------


def params(quick: bool = False) -> dict:
    """Full: 6,000 and 60,000 images, the report's classifier, the whole test set; quick: 600 and 2,000, float64 only."""
    if quick:
        return {"n_trains": [600, 2000], "dtypes": ["float64"], "trainers": list(TRAINERS), "n_engines": 2,
                "n_test": 500, "hidden": 20, "epochs": 5, "timeout": 300.0}
    from exemplar.analysis import sweep

    hidden, epochs, _ = sweep.chosen_model()
    return {"n_trains": [config.PAPER_N_TRAIN, 60_000], "dtypes": list(DTYPES), "trainers": list(TRAINERS),
            "n_engines": 2, "n_test": config.N_TEST_TOTAL, "hidden": hidden, "epochs": epochs, "timeout": 1800.0}


def data_bytes(n_rows: int, dtype: str, n_cols: int = config.N_PIXELS) -> int:
    """Bytes of ``n_rows`` images of ``n_cols`` pixels in ``dtype``."""
    return int(n_rows) * int(n_cols) * np.dtype(dtype).itemsize


def bound_bytes(own_bytes: int) -> float:
    """The target's limit for a process whose own data is ``own_bytes``: twice that plus 300 MB."""
    return 2.0 * own_bytes + SLACK_BYTES


def _check(n_trains, dtypes, trainers, n_engines, n_test, hidden, epochs, timeout) -> None:
    try:
        for name, v in (("n_engines", n_engines), ("n_test", n_test), ("hidden", hidden), ("epochs", epochs)):
            check_positive_int(name, v)
        for n in n_trains:
            check_positive_int("n_trains item", n)
        check_interval("timeout", timeout, low=0, closed="neither", what="a number of seconds")
    except (TypeError, ValueError) as exc:
        raise BenchError(str(exc)) from exc
    if not n_trains or max(n_trains) > 60_000 or min(n_trains) < n_engines:
        raise BenchError(f"n_trains must be a non-empty list of sizes from n_engines to 60,000; got {n_trains!r}")
    for name, values, allowed in (("dtypes", dtypes, DTYPES), ("trainers", trainers, TRAINERS)):
        if isinstance(values, str) or not values or any(v not in allowed for v in values):
            raise BenchError(f"{name} must be a non-empty list of names from {list(allowed)}; got {values!r}")


# --------------------------------------------------------------------------------------------
# One measurement (in a fresh child process) and the whole run
# --------------------------------------------------------------------------------------------


def _measure_here(n_train, dtype, trainer, n_engines, n_test, hidden, epochs, timeout) -> dict:
    """In this (fresh) process: start a cluster, read every baseline, run once, read every peak."""
    from exemplar import data
    from exemplar.parallel import cluster, remote, train
    from exemplar.parallel.shards import csv_source

    source = csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, n_train)
    with cluster.start_cluster(n_engines) as cl:
        engines_before = remote.wait(cl, remote.submit(cl, engine_memory, lambda r: (True,)), "baseline", timeout)
        client_before = process_memory(reset=True)
        Xt, yt = data.load_mnist("test", n_rows=n_test)
        t0 = time.perf_counter()
        res = train.run_exemplar(cl, source, Xt, yt, hidden=hidden, epochs=epochs, seed=0, dtype=dtype,
                                 timeout=timeout, trainer=trainer)
        wall = time.perf_counter() - t0
        client_after = process_memory()
        engines_after = remote.wait(cl, remote.submit(cl, engine_memory, lambda r: (False,)), "peak", timeout)
    return {"client": [client_before, client_after], "engines": [list(p) for p in zip(engines_before, engines_after)],
            "shard_sizes": list(res.shard_sizes), "accuracy_pct": res.accuracy_pct, "wall_seconds": wall}


def _child() -> None:
    """Entry of the child process: :func:`_measure_here` with the JSON arguments in ``argv[1]``."""
    out = _measure_here(**json.loads(sys.argv[1]))
    print(_MARK)
    print(json.dumps(out))


def measure(n_train: int, dtype: str, trainer: str, n_engines: int = 2, n_test: int = 500, hidden: int = 20,
            epochs: int = 5, timeout: float = 300.0) -> list[dict]:
    """One configuration in a fresh client process and a fresh cluster: one row per process (see :func:`run`)."""
    args = dict(n_train=n_train, dtype=dtype, trainer=trainer, n_engines=n_engines, n_test=n_test, hidden=hidden,
                epochs=epochs, timeout=timeout)
    code = "from exemplar.bench.memory import _child; _child()"
    what = f"{n_train} images, {dtype}, trainer {trainer}"
    try:
        proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True,
                              timeout=timeout + 120)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"the measurement of {what} took over {timeout + 120:g} s") from exc
    if proc.returncode != 0 or _MARK not in proc.stdout:
        raise BenchError(f"the measurement of {what} failed (exit {proc.returncode}): {proc.stderr[-1500:]}")
    got = json.loads(proc.stdout.split(_MARK, 1)[1])
    procs = [("client", -1, n_test, 0, got["client"])]
    for before, after in got["engines"]:
        rank = before["rank"]
        rows = got["shard_sizes"][rank]
        procs.append((f"rank {rank}", rank, rows, n_train if rank == 0 else rows, [before, after]))
    out = []
    for role, rank, own_rows, largest, (before, after) in procs:
        own = data_bytes(own_rows, dtype)
        bound = bound_bytes(own)
        growth = after["hwm_bytes"] - before["rss_bytes"]
        out.append({
            "n_train": n_train, "dtype": dtype, "trainer": trainer, "n_engines": n_engines, "role": role,
            "rank": rank, "pid": before["pid"], "own_rows": own_rows, "own_data_bytes": own,
            "own_data_mb": own / MB, "reads_whole_set_mb": n_train * (config.N_PIXELS + 8) / MB if rank == 0 else 0.0,
            "baseline_mb": before["rss_bytes"] / MB, "peak_mb": after["hwm_bytes"] / MB, "growth_mb": growth / MB,
            "lifetime_peak_mb": max(before["hwm_bytes"], after["hwm_bytes"]) / MB, "bound_mb": bound / MB,
            "growth_over_bound": growth / bound, "within_bound": bool(growth <= bound),
            "peak_within_bound": bool(after["hwm_bytes"] <= bound), "largest_training_rows": largest,
            "holds_whole_set": bool(largest >= n_train), "peak_reset": bool(before["peak_reset"]),
            "accuracy_pct": got["accuracy_pct"], "run_seconds": got["wall_seconds"],
        })
    return out


def run(n_trains=(6000, 60000), dtypes=DTYPES, trainers=TRAINERS, n_engines: int = 2, n_test: int = 10_000,
        hidden: int = 75, epochs: int = 75, timeout: float = 1800.0) -> pd.DataFrame:
    """Measure every size, dtype and trainer, each in fresh processes.

    Returns
    -------
    DataFrame
        One row per process (client, rank 0, rank 1, ...) per configuration: ``n_train, dtype, trainer,
        n_engines, role, rank`` (-1 for the client), ``pid, own_rows, own_data_bytes, own_data_mb,
        reads_whole_set_mb, baseline_mb, peak_mb, growth_mb, lifetime_peak_mb, bound_mb, growth_over_bound,
        within_bound, peak_within_bound, largest_training_rows, holds_whole_set, peak_reset,
        accuracy_pct, run_seconds`` (see the module's documentation).

    Raises
    ------
    BenchError
        A bad parameter (named), missing data or MPI, or a failed measurement.
    """
    from exemplar.parallel import cluster

    _check(n_trains, dtypes, trainers, n_engines, n_test, hidden, epochs, timeout)
    if not cluster.mpiexec_path().exists():
        raise BenchError(f"no mpiexec at {cluster.mpiexec_path()}: install the project's environment (pip install mpich)")
    if not (config.data_dir() / config.MNIST_TRAIN_CSV).is_file():
        raise BenchError(f"MNIST is missing ({config.data_dir()}): run `make data` (or `exemplar data`) first")
    rows = []
    for n_train in n_trains:
        for dtype in dtypes:
            for trainer in trainers:
                rows += measure(int(n_train), dtype, trainer, n_engines, n_test, hidden, epochs, float(timeout))
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: the largest ``growth_over_bound`` and its process, whether every process met
    the bound (growth, and absolute peak), and whether any process but rank 0 held the whole set."""
    keys = ["n_train", "dtype", "trainer"]
    worst = df.loc[df.groupby(keys, sort=False)["growth_over_bound"].idxmax(), keys + ["role", "growth_over_bound"]]
    worst = worst.rename(columns={"role": "worst_role"})
    agg = df.groupby(keys, sort=False).agg(
        all_within_bound=("within_bound", "all"), all_peaks_within_bound=("peak_within_bound", "all"),
        max_peak_mb=("peak_mb", "max"), max_growth_mb=("growth_mb", "max")).reset_index()
    others = df[df["rank"] != 0].groupby(keys, sort=False)["holds_whole_set"].any().rename("other_holds_whole_set")
    return agg.merge(worst, on=keys).merge(others.reset_index(), on=keys)


DESCRIPTION = ("Memory: peak resident memory of the client, rank 0 and the other engines of a 2-engine one-shot run, "
               "against twice each process's own data plus 300 MB.")


def main(argv=None) -> int:
    return common.main("memory", DESCRIPTION, run, params, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
