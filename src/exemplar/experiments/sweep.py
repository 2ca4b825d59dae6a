"""The sequential grid of the paper's Section IV.A: hidden sizes × epochs × repeats → tidy rows.

Every fit is sequential (one process, BLAS pinned to one thread) and timed on its own. The fits
are independent, so :func:`run_sweep` can run them in this process one after another, or several
at once on the engines of an ipyparallel cluster (``cluster=``, one fit per engine at a time):
each fit is still one single-threaded process timing its own ``fit``. On a machine with a core
per engine the timings are those of sequential fits, up to the memory bandwidth and cache the
concurrent fits share; ``benchmarks/report.py`` measures that ratio on the same grid points.
"""

from __future__ import annotations

import itertools
import sys
from concurrent import futures
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from exemplar import metrics
from exemplar.models import sklearn_mlp as mlp

#: Columns of ``results/sequential_sweep.csv``, in order.
COLUMNS = ["hidden", "epochs", "repeat", "seed", "train_seconds", "accuracy_pct", "n_iter"]


def check_sizes(name: str, values: Sequence[int]) -> list[int]:
    values = list(values)
    if not values:
        raise ValueError(f"{name} must list at least one value")
    return [mlp.check_positive_int(f"{name}[{i}]", v) for i, v in enumerate(values)]


def run_sweep(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
              hidden_sizes: Sequence[int], epochs: Sequence[int], repeats: int = 1, seed: int = 0,
              threads: int = 1, progress: bool = True, on_row=None, skip=None, cluster=None) -> pd.DataFrame:
    """Fit one ``MLPClassifier`` per (hidden, epochs, repeat) and test it.

    Parameters
    ----------
    X_train, y_train : ndarray
        Training images (raw 0–255 pixels, as the paper) and labels.
    X_test, y_test : ndarray
        Test images and labels; every fitted model is tested on all of them.
    hidden_sizes, epochs : sequence of int
        The grid (the paper: 50, 65, 75, 85, 100 for both).
    repeats : int
        Fits per grid point; repeat ``r`` uses ``random_state = seed + r``.
    seed : int
        Base seed.
    threads : int
        BLAS/OpenMP threads allowed during the fits (1 = one core, as the paper's sequential baseline).
    progress : bool
        Show a tqdm progress bar (on stderr, so it works in notebooks and batch runs alike).
    on_row : callable, optional
        Called with each finished row (a dict), e.g. :meth:`exemplar.experiment.ResultsLog.append`.
    skip : callable, optional
        ``skip({"hidden", "epochs", "repeat"}) -> bool``: grid points already done (resume).
    cluster : exemplar.parallel.cluster.RunningCluster, optional
        Run the fits on this cluster's engines (any launcher), as many at once as it has engines,
        each engine's BLAS pinned to ``threads`` threads; the data are sent to every engine once,
        as uint8. ``None`` (default): one after another in this process. The rows are the same
        either way (the fits are deterministic); only their order (completion order) and
        ``engine`` differ.

    Returns
    -------
    pandas.DataFrame
        One row per fit run now (skipped ones excluded), columns :data:`COLUMNS` and, with a
        cluster, ``engine`` (the MPI rank or engine index that ran it).
    """
    hidden_sizes = check_sizes("hidden_sizes", hidden_sizes)
    epochs = check_sizes("epochs", epochs)
    mlp.check_positive_int("repeats", repeats)
    mlp.check_positive_int("threads", threads)
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    grid = [(h, e, r) for h, e, r in itertools.product(hidden_sizes, epochs, range(repeats))
            if skip is None or not skip({"hidden": h, "epochs": e, "repeat": r})]
    rows = []
    bar = tqdm(total=len(grid), desc="sweep", unit="fit", disable=not progress, file=sys.stderr, mininterval=2.0)
    if cluster is None:
        results = _fits_here(grid, X_train, y_train, X_test, y_test, seed, threads)
    else:
        results = _fits_on_engines(cluster, grid, X_train, y_train, X_test, y_test, seed, threads)
    with bar:
        for row in results:
            rows.append(row)
            if on_row is not None:
                on_row(row)
            bar.update()
    columns = COLUMNS + (["engine"] if cluster is not None else [])
    return pd.DataFrame(rows, columns=columns)


def fit_one(hidden: int, epochs: int, repeat: int, seed: int, X_train, y_train, X_test, y_test) -> dict:
    """One grid point: build, fit (timed alone) and test; a row of :data:`COLUMNS`."""
    model = mlp.build_mlp(hidden, epochs, seed + repeat)
    fit = mlp.fit_timed(model, X_train, y_train)
    return {"hidden": hidden, "epochs": epochs, "repeat": repeat, "seed": seed + repeat,
            "train_seconds": fit.seconds, "accuracy_pct": mlp.accuracy_pct(model, X_test, y_test),
            "n_iter": fit.n_iter}


def _fits_here(grid, X_train, y_train, X_test, y_test, seed, threads):
    with threadpool_limits(limits=threads):
        for h, e, r in grid:
            yield fit_one(h, e, r, seed, X_train, y_train, X_test, y_test)


#: The sweep's data on an engine (sent once by :func:`_fits_on_engines`).
_ENGINE_DATA: dict = {}


def _engine_set_data(X_train, y_train, X_test, y_test) -> int:
    import os

    _ENGINE_DATA.clear()
    _ENGINE_DATA.update(X_train=X_train.astype(np.float64), y_train=y_train,
                        X_test=X_test.astype(np.float64), y_test=y_test)
    return os.getpid()


def _engine_fit_one(hidden: int, epochs: int, repeat: int, seed: int, threads: int) -> dict:
    d = _ENGINE_DATA
    if not d:
        raise RuntimeError("no sweep data on this engine: run_sweep sends them before the first fit")
    with threadpool_limits(limits=threads):
        return fit_one(hidden, epochs, repeat, seed, d["X_train"], d["y_train"], d["X_test"], d["y_test"])


def _engine_clear() -> None:
    _ENGINE_DATA.clear()


def _pixels(X: np.ndarray) -> np.ndarray:
    """``X`` as uint8 when it holds integer pixels 0-255 (8 times fewer bytes to send), else as it is."""
    u8 = X.astype(np.uint8)
    return u8 if np.array_equal(u8, X) else X


def _fits_on_engines(cl, grid, X_train, y_train, X_test, y_test, seed, threads):
    """Yield rows as the engines finish them; at most one fit per engine at a time."""
    view = cl.view
    view.apply_sync(_engine_set_data, _pixels(X_train), y_train, _pixels(X_test), y_test)
    engines = [cl.engine_of[rank] for rank in range(cl.n)]
    pending = list(grid)
    running = {}  # engine id -> AsyncResult
    try:
        while pending or running:
            for eid in engines:
                if eid not in running and pending:
                    h, e, r = pending.pop(0)
                    running[eid] = cl.rc[eid].apply_async(_engine_fit_one, h, e, r, seed, threads)
            done = [eid for eid, ar in running.items() if ar.ready()]
            if not done:
                futures.wait(list(running.values()), timeout=1.0, return_when=futures.FIRST_COMPLETED)
                continue
            for eid in done:
                row = running.pop(eid).get()
                row["engine"] = int(cl.rank_of[eid])
                yield row
    finally:
        try:
            view.apply_async(_engine_clear)
        except Exception:
            pass


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Table I: per (hidden, epochs) the mean and sd of time and accuracy, and the impact factor.

    The impact factor is computed from the means, as the paper's Table I does
    (mean accuracy / mean time).
    """
    g = rows.groupby(["hidden", "epochs"], as_index=False)
    out = g.agg(time_mean=("train_seconds", "mean"), time_sd=("train_seconds", "std"),
                accuracy_mean=("accuracy_pct", "mean"), accuracy_sd=("accuracy_pct", "std"),
                n_iter_mean=("n_iter", "mean"), runs=("repeat", "count"))
    out["impact"] = metrics.impact_factor(out["accuracy_mean"], out["time_mean"])
    return out


def optimum(table: pd.DataFrame, column: str = "impact") -> pd.Series:
    """The row of :func:`summarize`'s table with the largest ``column`` (the paper: impact factor)."""
    return table.loc[table[column].idxmax()]


def chosen_model(hidden: int | None = None, epochs: int | None = None, results_name: str = "sequential_sweep"):
    """The classifier the parallel chapters train: given explicitly, else the sweep's optimum.

    Returns
    -------
    (hidden, epochs, reason)
        ``reason`` says where the choice came from: the parameters, the sweep's results file
        (its optimum by impact factor), or, when no sweep has been run, the paper's (75, 75).
    """
    from exemplar import config, paper, results

    if hidden is not None and epochs is not None:
        return mlp.check_positive_int("hidden", hidden), mlp.check_positive_int("epochs", epochs), "as given"
    path = config.results_dir() / f"{results_name}.csv"
    if path.is_file():
        best = optimum(summarize(results.read_results(results_name)[0]))
        h, e = int(best.hidden), int(best.epochs)
        reason = f"the sweep's optimum by impact factor, from {config.display_path(path)}"
    else:
        h, e = paper.OPTIMUM
        reason = "the paper's optimum: no sweep results found"
    h = mlp.check_positive_int("hidden", hidden) if hidden is not None else h
    e = mlp.check_positive_int("epochs", epochs) if epochs is not None else e
    return h, e, reason


def baseline_run(X_train, y_train, X_test, y_test, hidden: int, epochs: int, seed: int = 0,
                 threads: int | None = None, dtype: str = "float64") -> dict:
    """One fit in this process, BLAS with ``threads`` threads (``None``: every core, a user's default),
    on the training pixels as ``dtype`` (``"float64"`` or ``"float32"``).

    Returns a row in the exemplar results' shape (``n_engines`` 1, no distribution or combination),
    strategy ``"sequential, all-core BLAS"`` (or ``"sequential, N BLAS threads"``).
    """
    import time

    with threadpool_limits(limits=threads):
        t0 = time.perf_counter()
        fit = mlp.fit_timed(mlp.build_mlp(hidden, epochs, seed), np.asarray(X_train, dtype=dtype), y_train)
        acc = mlp.accuracy_pct(fit.model, np.asarray(X_test, dtype=dtype), y_test)
        wall = time.perf_counter() - t0
    return {"n_engines": 1, "seed": seed, "hidden": hidden, "epochs": epochs, "n_train": len(y_train),
            "strategy": BASELINE if threads is None else f"sequential, {threads} BLAS threads",
            "fit_seconds_max": fit.seconds, "distribute_seconds": 0.0, "combine_seconds": 0.0,
            "wall_seconds": wall, "accuracy_pct": acc, "n_iter_max": fit.n_iter, "dtype": np.dtype(dtype).name}


#: Strategy name of :func:`baseline_run`'s default rows.
BASELINE = "sequential, all-core BLAS"
