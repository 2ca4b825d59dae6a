"""Independent fits, timed one by one: the sequential sweep's grid and the all-core BLAS baseline.

Hidden sizes × epoch caps × repeats → one tidy row per fit (:data:`COLUMNS`). Every fit is
sequential (one process, BLAS pinned to one thread) and timed on its own. The fits are independent,
so :func:`sweep_rows` runs them in this process one after another, or several at once on the engines
of an ipyparallel cluster (``cluster=``, one fit per engine at a time): each fit is still one
single-threaded process timing its own ``fit``. On a machine with a core per engine the timings are
those of sequential fits, up to the memory bandwidth and cache the concurrent fits share;
``exemplar.bench.report`` measures that ratio on the same grid points. :func:`run_sweep` and
:func:`sweep_rows` never fit the same network twice (a fit that stopped before a smaller cap is
that cap's fit too).

:func:`baseline_run` is the one fit in this process whose BLAS uses every core, the baseline the
exemplar chapter measures against. The chapters drive these (``exemplar.experiments.sweep``,
``exemplar.experiments.exemplar_parallel``); the engines import this module by name.
"""

from __future__ import annotations

import itertools
import sys
from concurrent import futures
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from exemplar.models import sklearn_mlp as mlp
from exemplar.validation import check_positive_int

#: Columns of ``results/sequential_sweep.csv``, in order. ``fit_epochs`` is the cap of the fit that
#: produced the row: the row's own ``epochs``, or a larger cap whose fit stopped first (the same fit).
COLUMNS = ["hidden", "epochs", "repeat", "seed", "train_seconds", "train_cpu_seconds", "accuracy_pct", "n_iter",
           "fit_epochs"]

#: Strategy name of the sequential baseline the parallel chapters measure against: one fit in one
#: process, BLAS on every core (a user's default).
BASELINE = "sequential, all-core BLAS"


def check_sizes(name: str, values: Sequence[int]) -> list[int]:
    values = list(values)
    if not values:
        raise ValueError(f"{name} must list at least one value")
    return [check_positive_int(f"{name}[{i}]", v) for i, v in enumerate(values)]


def run_sweep(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
              hidden_sizes: Sequence[int], epochs: Sequence[int], repeats: int = 1, seed: int = 0,
              threads: int = 1, progress: bool = True, cluster=None) -> pd.DataFrame:
    """Fit one ``MLPClassifier`` per (hidden, epochs, repeat) and test it, never fitting the same network twice
    (:func:`sweep_rows`).

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
    cluster : exemplar.parallel.cluster.RunningCluster, optional
        Run the fits on this cluster's engines (:func:`sweep_rows`); ``None`` (default): in this process.

    Returns
    -------
    pandas.DataFrame
        One row per fit, columns :data:`~exemplar.analysis.sweep.COLUMNS` and, with a cluster,
        ``engine`` (the MPI rank or engine index that ran it).
    """
    hidden_sizes = check_sizes("hidden_sizes", hidden_sizes)
    epochs = check_sizes("epochs", epochs)
    check_positive_int("repeats", repeats)
    check_positive_int("threads", threads)
    points = list(itertools.product(hidden_sizes, epochs, range(repeats)))
    with tqdm(total=len(points), desc="sweep", unit="fit", disable=not progress, file=sys.stderr,
              mininterval=2.0) as bar:
        rows = []
        for row in sweep_rows(points, X_train, y_train, X_test, y_test, cap=max(epochs), seed=seed, threads=threads,
                              cluster=cluster):
            rows.append(row)
            bar.update()
    return pd.DataFrame(rows, columns=COLUMNS + (["engine"] if cluster is not None else []))


def sweep_rows(points: Iterable[tuple[int, int, int]], X_train, y_train, X_test, y_test, *, cap: int,
               seed: int = 0, threads: int = 1, cluster=None, finished: pd.DataFrame | None = None) -> Iterator[dict]:
    """Fit and test each ``(hidden, epochs, repeat)`` of ``points``, never fitting the same network twice;
    yield each row as it finishes.

    A fit stops at its cap or earlier, when its training loss stalls (scikit-learn's rule). A fit
    capped at ``E`` that stops after ``n <= e`` epochs is, operation for operation, the fit capped at
    any ``e`` from ``n`` to ``E``: same seed, same epochs, same network. So the points at the largest
    cap ``cap`` run first, and a smaller cap ``e`` is fitted only when that fit ran more than ``e``
    epochs; otherwise its row is the larger fit's (its ``fit_epochs`` says so).

    Parameters
    ----------
    points : iterable of (int, int, int)
        The grid points to fit: hidden units, epoch cap, repeat (``random_state = seed + repeat``).
    X_train, y_train, X_test, y_test : ndarray
        As :func:`run_sweep`'s.
    cap : int
        The grid's largest epoch cap (its fits stand in for smaller caps).
    seed, threads : int
        As :func:`run_sweep`'s.
    cluster : exemplar.parallel.cluster.RunningCluster, optional
        Run the fits on this cluster's engines (any launcher), as many at once as it has engines,
        each engine's BLAS pinned to ``threads`` threads; the data are sent to every engine once,
        as uint8. ``None``: one after another in this process. The rows are the same either way
        (the fits are deterministic); only their order (completion order) and ``engine`` differ.
    finished : DataFrame, optional
        Rows of an earlier, interrupted run (resume): their largest-cap fits stand in for smaller caps.

    Yields
    ------
    dict
        A row of :data:`~exemplar.analysis.sweep.COLUMNS` (and ``engine`` with a cluster).
    """
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    points = list(points)
    longest = {} if finished is None or "epochs" not in finished else {
        (int(f.hidden), int(f.repeat)): f._asdict() for f in finished[finished.epochs == cap].itertuples(index=False)}

    def fits(grid):
        if cluster is None:
            return _fits_here(grid, X_train, y_train, X_test, y_test, seed, threads)
        return _fits_on_engines(cluster, grid, X_train, y_train, X_test, y_test, seed, threads)

    for row in fits([g for g in points if g[1] == cap]):
        longest[(row["hidden"], row["repeat"])] = row
        yield row
    rest = []
    for h, e, r in (g for g in points if g[1] != cap):
        done = longest.get((h, r))
        if done is not None and int(done["n_iter"]) <= e:  # the largest cap's fit stopped first: the same fit
            yield {**{k: done[k] for k in COLUMNS + ["engine"] if k in done}, "epochs": e, "fit_epochs": cap}
        else:
            rest.append((h, e, r))
    yield from fits(rest)


def fit_one(hidden: int, epochs: int, repeat: int, seed: int, X_train, y_train, X_test, y_test) -> dict:
    """One grid point: build, fit (timed alone) and test; a row of :data:`~exemplar.analysis.sweep.COLUMNS`."""
    model = mlp.build_mlp(hidden, epochs, seed + repeat)
    fit = mlp.fit_timed(model, X_train, y_train)
    return {"hidden": hidden, "epochs": epochs, "repeat": repeat, "seed": seed + repeat,
            "train_seconds": fit.seconds, "train_cpu_seconds": fit.cpu_seconds,
            "accuracy_pct": mlp.accuracy_pct(model, X_test, y_test), "n_iter": fit.n_iter, "fit_epochs": epochs}


def warm_up(X_train: np.ndarray, y_train: np.ndarray) -> None:
    """Fit and test one tiny network (its own seed: the timed fits' draws are unchanged) and throw it away,
    so that a process's one-time costs (lazy imports, first allocations) stay out of its first timed fit."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    n = min(len(y_train), 50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = mlp.build_mlp(4, 2, 0)
        mlp.fit_timed(model, X_train[:n], y_train[:n])
        mlp.accuracy_pct(model, X_train[:n], y_train[:n])


def _fits_here(grid, X_train, y_train, X_test, y_test, seed, threads):
    with threadpool_limits(limits=threads):
        warm_up(X_train, y_train)
        for h, e, r in grid:
            yield fit_one(h, e, r, seed, X_train, y_train, X_test, y_test)


#: The sweep's data on an engine (sent once by :func:`_fits_on_engines`).
_ENGINE_DATA: dict = {}


def _engine_set_data(X_train, y_train, X_test, y_test) -> int:
    import os

    _ENGINE_DATA.clear()
    _ENGINE_DATA.update(X_train=X_train.astype(np.float64), y_train=y_train,
                        X_test=X_test.astype(np.float64), y_test=y_test)
    with threadpool_limits(limits=1):
        warm_up(_ENGINE_DATA["X_train"], y_train)
    return os.getpid()


def _engine_fit_one(hidden: int, epochs: int, repeat: int, seed: int, threads: int) -> dict:
    d = _ENGINE_DATA
    if not d:
        raise RuntimeError("no sweep data on this engine: sweep_rows sends them before the first fit")
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


def baseline_run(X_train, y_train, X_test, y_test, hidden: int, epochs: int, seed: int = 0,
                 threads: int | None = None, dtype: str = "float64") -> dict:
    """One fit in this process, BLAS with ``threads`` threads (``None``: every core, a user's default),
    on the training pixels as ``dtype`` (``"float64"`` or ``"float32"``).

    Returns a row in the exemplar results' shape (``n_engines`` 1, no distribution or combination),
    strategy :data:`~exemplar.analysis.sweep.BASELINE` (or ``"sequential, N BLAS threads"``).
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
