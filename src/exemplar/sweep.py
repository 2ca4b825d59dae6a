"""The sequential grid of the paper's Section IV.A: hidden sizes × epochs × repeats → tidy rows."""

from __future__ import annotations

import itertools
import sys
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from . import metrics, mlp

#: Columns of ``results/sequential_sweep.csv``, in order.
COLUMNS = ["hidden", "epochs", "repeat", "seed", "train_seconds", "accuracy_pct", "n_iter"]


def check_sizes(name: str, values: Sequence[int]) -> list[int]:
    values = list(values)
    if not values:
        raise ValueError(f"{name} must list at least one value")
    return [mlp.check_positive_int(f"{name}[{i}]", v) for i, v in enumerate(values)]


def run_sweep(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
              hidden_sizes: Sequence[int], epochs: Sequence[int], repeats: int = 1, seed: int = 0,
              threads: int = 1, progress: bool = True, on_row=None, skip=None) -> pd.DataFrame:
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

    Returns
    -------
    pandas.DataFrame
        One row per fit run now (skipped ones excluded), columns :data:`COLUMNS`.
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
    with threadpool_limits(limits=threads):
        for h, e, r in tqdm(grid, desc="sweep", unit="fit", disable=not progress, file=sys.stderr,
                            mininterval=2.0):
            model = mlp.build_mlp(h, e, seed + r)
            fit = mlp.fit_timed(model, X_train, y_train)
            row = {"hidden": h, "epochs": e, "repeat": r, "seed": seed + r,
                   "train_seconds": fit.seconds, "accuracy_pct": mlp.accuracy_pct(model, X_test, y_test),
                   "n_iter": fit.n_iter}
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return pd.DataFrame(rows, columns=COLUMNS)


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
    from . import config, paper, results

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
                 threads: int | None = None) -> dict:
    """One fit in this process, BLAS with ``threads`` threads (``None``: every core, a user's default).

    Returns a row in the exemplar results' shape (``n_engines`` 1, no distribution or combination),
    strategy ``"sequential, all-core BLAS"`` (or ``"sequential, N BLAS threads"``).
    """
    import time

    with threadpool_limits(limits=threads):
        t0 = time.perf_counter()
        fit = mlp.fit_timed(mlp.build_mlp(hidden, epochs, seed), np.asarray(X_train, dtype=np.float64), y_train)
        acc = mlp.accuracy_pct(fit.model, np.asarray(X_test, dtype=np.float64), y_test)
        wall = time.perf_counter() - t0
    return {"n_engines": 1, "seed": seed, "hidden": hidden, "epochs": epochs, "n_train": len(y_train),
            "strategy": BASELINE if threads is None else f"sequential, {threads} BLAS threads",
            "fit_seconds_max": fit.seconds, "distribute_seconds": 0.0, "combine_seconds": 0.0,
            "wall_seconds": wall, "accuracy_pct": acc, "n_iter_max": fit.n_iter}


#: Strategy name of :func:`baseline_run`'s default rows.
BASELINE = "sequential, all-core BLAS"
