"""Distribution: the time to give every engine its shard of the training images, four ways.

From "the data are in memory on the source" to "every engine holds its shard" (a ``Barrier`` for
the MPI methods, ipyparallel's blocking wait for its scatter), for ``n_train`` images over
``n_engines`` MPI engines of one ipyparallel cluster:

``scatterv-uint8``
    Our path: :func:`exemplar.parallel.engine.distribute_shards` itself (header ``Bcast``, ``Scatterv``
    of the uint8 pixels and of the int64 labels, ``Barrier``), with the arrays already in rank 0's
    memory (an ``("arrays", X, y)`` source resolved on rank 0, so no read is timed). The time is
    its ``distribute_seconds`` on rank 0.
``scatterv-float64``
    The same collectives with float64 pixels: what sending model-ready features would cost.
``comm.scatter-pickle``
    Lower-case ``comm.scatter`` of a list of per-rank ``(X, y)`` float64 shards: pickled objects,
    as a naive mpi4py program would do it.
``ipyparallel-scatter``
    ``view.scatter("X", X_float64)`` then ``view.scatter("y", y)`` from the client, through the
    controller, blocking (as an ipyparallel program would); timed in the client.

Every method's shards are checked on the engines (shape, dtype and
:func:`exemplar.parallel.shards.shard_checksum` against the client's slice from
:func:`exemplar.parallel.shards.shard_bounds`: :func:`expected_shards`, :func:`verify_shards`); a
mismatch raises :class:`~exemplar.bench.common.BenchError`. The functions the engines run are in
:mod:`exemplar.bench.distribution_engines`.

Reference: ``memcpy``, ``np.copyto`` of the same number of bytes in the client process (best of
several), so every bandwidth is also a fraction of what one process's memory copy reaches.
``bytes_moved`` counts every shard's pixels and labels (all ranks' shards, rank 0's own
included); ``bandwidth_gbs = bytes_moved / seconds / 1e9``.

``fit_reference_seconds`` is the mean ``fit_seconds_max`` of the one-shot runs at the same engine
count in ``results/exemplar.csv`` (6,000 images; NaN for other sizes or when absent), so that
``fraction_of_fit`` checks the target: 6,000 images distributed in at most 1 % of the fit.

One cluster per engine count, reused for all sizes and methods; per size, one untimed warm-up
round, then ``repeats`` rounds of all methods in turn (rows per repeat; :func:`summarize` takes
medians). Engine counts above the usable cores are marked ``oversubscribed``.

Run: ``python -m exemplar.bench.distribution [--quick] [--output-dir DIR]`` (or all benchmarks:
``python -m exemplar.bench.run_all``, which ``make bench`` calls).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from exemplar.bench import common
from exemplar.bench import distribution_engines as on_engines
from exemplar.bench.common import BenchError
from exemplar.parallel import EngineError, cluster, remote
from exemplar.validation import check_interval

#: The methods, in the order they are run and reported.
METHODS = ("scatterv-uint8", "scatterv-float64", "comm.scatter-pickle", "ipyparallel-scatter")

#: Pixel dtype each method sends (the labels are int64 for all).
METHOD_DTYPE = {
    "scatterv-uint8": "uint8",
    "scatterv-float64": "float64",
    "comm.scatter-pickle": "float64",
    "ipyparallel-scatter": "float64",
}

#: Images in the MNIST training set (the largest ``n_train``).
N_TRAIN_MAX = 60_000

#: Size of the paper's training set, at which ``fit_reference_seconds`` is read.
FIT_REFERENCE_N_TRAIN = 6_000

# Names of the arrays kept in the engines' namespaces between calls.
_X, _Y, _XF = "_distbench_X", "_distbench_y", "_distbench_Xf"
_SX, _SY = "_distbench_scatter_X", "_distbench_scatter_y"


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


def params(quick: bool = False) -> dict:
    """The parameters of the full run, or of ``--quick`` (tiny sizes, 2 engines, 2 repeats)."""
    if quick:
        return {"n_trains": [600, 1200], "engine_counts": [2], "methods": list(METHODS), "repeats": 2,
                "warmup": 1, "memcpy_repeats": 5, "timeout": 120.0}
    return {"n_trains": [6000, 60000], "engine_counts": [2, 4, 6], "methods": list(METHODS), "repeats": 5,
            "warmup": 1, "memcpy_repeats": 7, "timeout": 600.0}


def _positive_int(name: str, value, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise BenchError(f"{name} must be a positive integer; got {value!r}")
    if maximum is not None and value > maximum:
        raise BenchError(f"{name} must be at most {maximum}; got {value!r}")
    return int(value)


def _int_list(name: str, values, maximum: int | None = None) -> list[int]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise BenchError(f"{name} must be a list of positive integers; got {values!r}")
    out = [_positive_int(f"{name} item", v, maximum) for v in values]
    if not out:
        raise BenchError(f"{name} must not be empty")
    if len(set(out)) != len(out):
        raise BenchError(f"{name} must not repeat a value; got {out}")
    return out


def check_params(n_trains, engine_counts, methods, repeats, warmup, memcpy_repeats, timeout) -> dict:
    """Validate :func:`run`'s parameters; raise :class:`BenchError` naming the bad one."""
    n_trains = _int_list("n_trains", n_trains, maximum=N_TRAIN_MAX)
    engine_counts = _int_list("engine_counts", engine_counts)
    if max(engine_counts) > min(n_trains):
        raise BenchError(f"engine_counts must be at most the smallest n_trains ({min(n_trains)}); "
                         f"got {max(engine_counts)}")
    if isinstance(methods, str) or not hasattr(methods, "__iter__"):
        raise BenchError(f"methods must be a list of method names from {list(METHODS)}; got {methods!r}")
    methods = list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise BenchError(f"methods must be a non-empty list of names from {list(METHODS)}; "
                         f"unknown: {unknown or methods!r}")
    repeats = _positive_int("repeats", repeats)
    memcpy_repeats = _positive_int("memcpy_repeats", memcpy_repeats)
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise BenchError(f"warmup must be a non-negative integer; got {warmup!r}")
    try:
        timeout = check_interval("timeout", timeout, low=0, closed="neither", what="a number of seconds")
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    return {"n_trains": n_trains, "engine_counts": engine_counts, "methods": methods, "repeats": repeats,
            "warmup": int(warmup), "memcpy_repeats": memcpy_repeats, "timeout": float(timeout)}


#: Per MPI method: the function each rank runs (:mod:`exemplar.bench.distribution_engines`) and the
#: engine variable holding the pixels it sends.
ENGINE_FUNCS = {
    "scatterv-uint8": (on_engines.ours, _X),
    "scatterv-float64": (on_engines.scatterv, _XF),
    "comm.scatter-pickle": (on_engines.pickle_scatter, _XF),
}


# --------------------------------------------------------------------------------------------
# The client's side
# --------------------------------------------------------------------------------------------


def memcpy_seconds(n_bytes: int, repeats: int = 7) -> float:
    """Best time of ``np.copyto`` of ``n_bytes`` bytes between two already-touched buffers."""
    src = np.full(n_bytes, 7, dtype=np.uint8)
    dst = np.zeros(n_bytes, dtype=np.uint8)
    np.copyto(dst, src)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    if not np.array_equal(dst[:: max(1, n_bytes // 4096)], src[:: max(1, n_bytes // 4096)]):
        raise BenchError("memcpy reference: the copy differs from its source")
    return best


def bytes_moved(n_train: int, dtype: str, n_cols: int = 784) -> int:
    """Bytes of all shards together: pixels in ``dtype`` plus int64 labels."""
    return int(n_train) * (n_cols * np.dtype(dtype).itemsize + np.dtype(np.int64).itemsize)


def fit_reference(path: Path | None = None) -> dict[int, float]:
    """Per engine count, the mean ``fit_seconds_max`` of one-shot runs on 6,000 images in
    ``results/exemplar.csv``; empty when the file (or such rows) is absent."""
    from exemplar import config

    path = Path(path) if path is not None else config.results_dir() / "exemplar.csv"
    if not path.is_file():
        return {}
    try:
        runs = pd.read_csv(path)
    except Exception:  # an unreadable reference is no reason to lose the benchmark
        return {}
    if not {"strategy", "n_engines", "fit_seconds_max"} <= set(runs.columns):
        return {}
    keep = runs["strategy"] == "one-shot"
    if "n_train" in runs.columns:
        keep &= runs["n_train"] == FIT_REFERENCE_N_TRAIN
    if "scale_inputs" in runs.columns:
        keep &= ~runs["scale_inputs"].astype(bool)
    means = runs[keep].groupby("n_engines")["fit_seconds_max"].mean()
    return {int(n): float(v) for n, v in means.items()}


def expected_shards(X: np.ndarray, y: np.ndarray, n_train: int, n_engines: int) -> list[tuple[int, int, int]]:
    """Per rank: ``(start, rows, checksum)`` of the shard it must hold when the first ``n_train`` rows of
    ``X``, ``y`` are shared out over ``n_engines`` (:func:`exemplar.parallel.shards.shard_bounds`)."""
    from exemplar.parallel.shards import shard_bounds, shard_checksum

    return [(a, b - a, shard_checksum(X[a:b], y[a:b])) for a, b in shard_bounds(n_train, n_engines)]


def verify_shards(method: str, got: list[dict], expected, dtype: str, n_train: int, n_engines: int) -> None:
    """Check what every rank received against :func:`expected_shards`.

    Parameters
    ----------
    method : str
        The method's name, for the message.
    got : list of dict
        Per rank, in rank order: ``rank``, ``n_rows``, ``dtype``, ``checksum`` and (optionally) ``start``.
    expected : list of tuple
        :func:`expected_shards`.
    dtype : str
        The pixel dtype the method sends.
    n_train, n_engines : int
        The size and engine count, for the message.

    Raises
    ------
    BenchError
        Naming every rank whose shard is wrong (rank, rows, dtype or checksum) or a missing reply.
    """
    problems = []
    for rank, ((start, rows, crc), g) in enumerate(zip(expected, got)):
        if g["rank"] != rank:
            problems.append(f"reply {rank} came from rank {g['rank']}")
        if g["n_rows"] != rows or g.get("start", start) != start:
            problems.append(f"rank {rank} got rows {g.get('start', '?')}+{g['n_rows']}, expected {start}+{rows}")
        if g["dtype"] != dtype:
            problems.append(f"rank {rank} got dtype {g['dtype']}, expected {dtype}")
        if g["checksum"] != crc:
            problems.append(f"rank {rank}'s shard checksum {g['checksum']} differs from the expected {crc}")
    if len(got) != n_engines:
        problems.append(f"{len(got)} replies for {n_engines} engines")
    if problems:
        raise BenchError(f"{method} with {n_train} images on {n_engines} engines delivered wrong shards: "
                         + "; ".join(problems))


def _engine_call(cl, func, arg_names: tuple[str, ...], extra: tuple, step: str, timeout: float) -> list[dict]:
    """``func(*[engine variables], *extra)`` on every rank; results in rank order."""
    import ipyparallel as ipp

    refs = tuple(ipp.Reference(name) for name in arg_names)
    ars = remote.submit(cl, func, lambda rank: (*refs, *extra))
    return remote.wait(cl, ars, step, timeout)


def _one(cl, method: str, n_train: int, data: dict, expected, timeout: float) -> float:
    """Time ``method`` once (seconds), verifying every engine's shard."""
    dtype = METHOD_DTYPE[method]
    step = f"{method} of {n_train} images"
    if method == "ipyparallel-scatter":
        Xf, y = data["Xf"][:n_train], data["y"][:n_train]
        t0 = time.perf_counter()
        cl.view.scatter(_SX, Xf, block=True)
        cl.view.scatter(_SY, y, block=True)
        seconds = time.perf_counter() - t0
        got = _engine_call(cl, on_engines.held_shard, (_SX, _SY), (), f"checking {step}", timeout)
        for rank, g in enumerate(got):
            g["start"] = expected[rank][0]  # the check cannot see the offset; rows and checksum pin it
        cl.view.execute(f"del {_SX}, {_SY}", block=True)
    else:
        func, x_name = ENGINE_FUNCS[method]
        got = _engine_call(cl, func, (x_name, _Y), (n_train,), step, timeout)
        seconds = float(got[0]["seconds"])  # rank 0's, as run_exemplar reports distribute_seconds
    verify_shards(method, got, expected, dtype, n_train, cl.n)
    return seconds


def _place_source(cl, X: np.ndarray, y: np.ndarray) -> None:
    """Rank 0 gets ``X`` (uint8), a float64 copy and ``y`` in its namespace; the others ``None``."""
    cl.view.push({_X: None, _Y: None, _XF: None}, block=True)
    root = cl.rc[cl.engine_of[0]]
    root.push({_X: X, _Y: y}, block=True)
    root.execute(f"{_XF} = {_X}.astype('float64')", block=True)


def _size_rows(cl, n_train: int, p: dict, data: dict, fit_ref: dict, cores: int) -> list[dict]:
    """One size on a running cluster: the untimed warm-up rounds, the memcpy reference, the timed rounds."""
    n_engines = cl.n
    expected = expected_shards(data["X"], data["y"], n_train, n_engines)
    for _ in range(p["warmup"]):
        for method in p["methods"]:
            _one(cl, method, n_train, data, expected, p["timeout"])
    memcpy = {dt: memcpy_seconds(bytes_moved(n_train, dt), p["memcpy_repeats"])
              for dt in sorted({METHOD_DTYPE[m] for m in p["methods"]})}
    rows = []
    for repeat in range(p["repeats"]):
        for method in p["methods"]:
            seconds = _one(cl, method, n_train, data, expected, p["timeout"])
            dtype = METHOD_DTYPE[method]
            moved = bytes_moved(n_train, dtype)
            ref = fit_ref.get(n_engines, np.nan) if n_train == FIT_REFERENCE_N_TRAIN else np.nan
            bw = moved / seconds / 1e9
            mc_gbs = moved / memcpy[dtype] / 1e9
            rows.append({
                "method": method, "n_train": n_train, "n_engines": n_engines, "repeat": repeat,
                "dtype": dtype, "seconds": seconds, "bytes_moved": moved, "bandwidth_gbs": bw,
                "memcpy_seconds": memcpy[dtype], "memcpy_gbs": mc_gbs,
                "fraction_of_memcpy": bw / mc_gbs,
                "read_seconds": data["read_seconds"][n_train],
                "fit_reference_seconds": ref, "fraction_of_fit": seconds / ref,
                "verified": True, "oversubscribed": n_engines > cores, "usable_cores": cores,
                "cluster_start_seconds": cl.start_seconds,
            })
    return rows


def _cluster_rows(n_engines: int, p: dict, data: dict, fit_ref: dict, cores: int) -> list[dict]:
    """Every size on one ``n_engines`` cluster (started and stopped here)."""
    rows = []
    try:
        with cluster.start_cluster(n_engines) as cl:
            _place_source(cl, data["X"], data["y"])
            for n_train in p["n_trains"]:
                rows += _size_rows(cl, n_train, p, data, fit_ref, cores)
    except (cluster.ClusterError, EngineError) as exc:
        raise BenchError(f"with {n_engines} engines: {exc}") from exc
    return rows


def _load(n_trains: list[int]) -> dict:
    """The first ``max(n_trains)`` training images, and the CSV read time of each size (our path's read)."""
    from exemplar import config, data

    path = config.data_dir() / config.MNIST_TRAIN_CSV
    if not path.is_file():
        raise BenchError(f"MNIST is missing ({path}): run `make data` (or `exemplar data`) first")
    read = {}
    X = y = None
    data.load_csv(path, 1)  # untimed: the first call pays for imports and cold caches
    for n in sorted(n_trains):
        t0 = time.perf_counter()
        X, y = data.load_csv(path, n)
        read[n] = time.perf_counter() - t0
    if X.shape[0] < max(n_trains):
        raise BenchError(f"n_trains asks for {max(n_trains)} images; {path} holds {X.shape[0]}")
    X = np.ascontiguousarray(X, dtype=np.uint8)
    y = np.ascontiguousarray(y, dtype=np.int64)
    return {"X": X, "y": y, "Xf": X.astype(np.float64), "read_seconds": read}


def run(n_trains=(6000, 60000), engine_counts=(2, 4, 6), methods=METHODS, repeats: int = 5, warmup: int = 1,
        memcpy_repeats: int = 7, timeout: float = 600.0) -> pd.DataFrame:
    """Time every method at every size and engine count; one row per method, size, engine count and repeat.

    Parameters
    ----------
    n_trains : list of int
        Training-set sizes (first images of MNIST's training set), at most 60,000.
    engine_counts : list of int
        Engine counts; one MPI cluster each.
    methods : list of str
        Names from :data:`METHODS`.
    repeats : int
        Timed rounds per size (each runs every method once).
    warmup : int
        Untimed rounds per size before them (still verified).
    memcpy_repeats : int
        Copies of which the memcpy reference takes the best.
    timeout : float
        Seconds any one engine step may take.

    Returns
    -------
    DataFrame
        ``method, n_train, n_engines, repeat, dtype, seconds, bytes_moved, bandwidth_gbs,
        memcpy_seconds, memcpy_gbs, fraction_of_memcpy, read_seconds, fit_reference_seconds,
        fraction_of_fit, verified, oversubscribed, usable_cores, cluster_start_seconds``.

    Raises
    ------
    BenchError
        A bad parameter (named), missing data or MPI, a failed engine step or a wrong shard.
    """
    p = check_params(n_trains, engine_counts, methods, repeats, warmup, memcpy_repeats, timeout)
    if not cluster.mpiexec_path().exists():
        raise BenchError(f"no mpiexec at {cluster.mpiexec_path()}: install the project's environment (pip install mpich)")
    data = _load(p["n_trains"])
    fit_ref = fit_reference()
    from exemplar.results import usable_cores

    cores = usable_cores()
    rows = []
    for n_engines in p["engine_counts"]:
        rows += _cluster_rows(n_engines, p, data, fit_ref, cores)
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Medians per method, ``n_train`` and ``n_engines`` (methods in :data:`METHODS` order).

    Columns: ``method, n_train, n_engines, dtype, oversubscribed, repeats, seconds`` (median),
    ``ms``, ``best_ms`` (the fastest repeat), ``bytes_moved``, ``bandwidth_gbs`` (bytes / median
    seconds), ``best_bandwidth_gbs`` (bytes / fastest repeat), ``memcpy_gbs``,
    ``fraction_of_memcpy``, ``fit_reference_seconds``, ``fraction_of_fit`` (median seconds / fit),
    ``vs_scatterv_uint8`` (median seconds / ours at the same size and engine count; NaN without it)
    and ``verified`` (all repeats).
    """
    keys = ["method", "n_train", "n_engines"]
    g = df.groupby(keys, sort=False)
    out = g.agg(dtype=("dtype", "first"), oversubscribed=("oversubscribed", "first"), repeats=("seconds", "size"),
                seconds=("seconds", "median"), seconds_min=("seconds", "min"), bytes_moved=("bytes_moved", "first"),
                memcpy_gbs=("memcpy_gbs", "median"), fit_reference_seconds=("fit_reference_seconds", "first"),
                verified=("verified", "all")).reset_index()
    out["ms"] = out["seconds"] * 1e3
    out["bandwidth_gbs"] = out["bytes_moved"] / out["seconds"] / 1e9
    out["best_ms"] = out["seconds_min"] * 1e3
    out["best_bandwidth_gbs"] = out["bytes_moved"] / out["seconds_min"] / 1e9
    out["fraction_of_memcpy"] = out["bandwidth_gbs"] / out["memcpy_gbs"]
    out["fraction_of_fit"] = out["seconds"] / out["fit_reference_seconds"]
    ours = out[out["method"] == "scatterv-uint8"].set_index(["n_train", "n_engines"])["seconds"]
    idx = pd.MultiIndex.from_frame(out[["n_train", "n_engines"]])
    out["vs_scatterv_uint8"] = out["seconds"].to_numpy() / ours.reindex(idx).to_numpy()
    order = {m: i for i, m in enumerate(METHODS)}
    out = out.sort_values(["n_train", "n_engines", "method"], key=lambda s: s.map(order) if s.name == "method" else s)
    cols = ["method", "n_train", "n_engines", "dtype", "oversubscribed", "repeats", "seconds", "ms", "best_ms",
            "bytes_moved", "bandwidth_gbs", "best_bandwidth_gbs", "memcpy_gbs", "fraction_of_memcpy",
            "fit_reference_seconds", "fraction_of_fit", "vs_scatterv_uint8", "verified"]
    return out[cols].reset_index(drop=True)


DESCRIPTION = ("Distribution: time to give every engine its shard (our uint8 Scatterv, float64 Scatterv, pickled "
               "comm.scatter, ipyparallel scatter) against a memcpy of the same bytes and the fit time.")


def main(argv=None) -> int:
    return common.main("distribution", DESCRIPTION, run, params, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
