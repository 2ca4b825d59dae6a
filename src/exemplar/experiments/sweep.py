"""The sequential grid of the paper's Section IV.A: hidden sizes × epochs × repeats → tidy rows.

Every fit is sequential (one process, BLAS pinned to one thread) and timed on its own. The fits
are independent, so :func:`run_sweep` can run them in this process one after another, or several
at once on the engines of an ipyparallel cluster (``cluster=``, one fit per engine at a time):
each fit is still one single-threaded process timing its own ``fit``. On a machine with a core
per engine the timings are those of sequential fits, up to the memory bandwidth and cache the
concurrent fits share; ``exemplar.bench.report`` measures that ratio on the same grid points.

It is also the chapter module of ``notebooks/02-sequential-sweep.ipynb``: its parameters
(:data:`SPEC`, :func:`parameters`), the run (:func:`run`), the table beside the paper's
(:func:`table_beside_paper`) and the computed sentences (:func:`run_sentence`, :func:`optimum_sentence`).
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from exemplar import config, metrics
from exemplar.experiments.params import Param, Parameters, ParamSpec
from exemplar.analysis.sweep import COLUMNS, RESULTS_NAME  # noqa: F401 (the protocol's name for it)
from exemplar.models import sklearn_mlp as mlp

# TEMPORARY (issue 20): experiments/{communication,combining,algorithms}.py and reporting/claims.py read
# these here until they read exemplar.analysis.sweep; removed then.
from exemplar.analysis.sweep import (BASELINE, BASIS, best_model, chosen_model, optimum, pooled,  # noqa: F401
                                     same_model_classes, summarize, time_basis)

def check_sizes(name: str, values: Sequence[int]) -> list[int]:
    values = list(values)
    if not values:
        raise ValueError(f"{name} must list at least one value")
    return [mlp.check_positive_int(f"{name}[{i}]", v) for i, v in enumerate(values)]


def run_sweep(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
              hidden_sizes: Sequence[int], epochs: Sequence[int], repeats: int = 1, seed: int = 0,
              threads: int = 1, progress: bool = True, on_row=None, skip=None, cluster=None,
              finished=None) -> pd.DataFrame:
    """Fit one ``MLPClassifier`` per (hidden, epochs, repeat) and test it, never fitting the same network twice.

    A fit stops at its cap or earlier, when its training loss stalls (scikit-learn's rule). A fit
    capped at ``E`` that stops after ``n <= e`` epochs is, operation for operation, the fit capped at
    any ``e`` from ``n`` to ``E``: same seed, same epochs, same network. So the largest cap runs
    first, for every hidden size and repeat, and a smaller cap ``e`` is fitted only when that fit ran
    more than ``e`` epochs; otherwise its row is the larger fit's (its ``fit_epochs`` says so).

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
    finished : DataFrame, optional
        Rows of an earlier, interrupted run (resume): their largest-cap fits stand in for smaller caps.
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
    cap = max(epochs)
    longest = {} if finished is None or "epochs" not in finished else {(int(f.hidden), int(f.repeat)): f._asdict() for f in
                                           finished[finished.epochs == cap].itertuples(index=False)}
    rows = []
    bar = tqdm(total=len(grid), desc="sweep", unit="fit", disable=not progress, file=sys.stderr, mininterval=2.0)

    def fits(points):
        if cluster is None:
            return _fits_here(points, X_train, y_train, X_test, y_test, seed, threads)
        return _fits_on_engines(cluster, points, X_train, y_train, X_test, y_test, seed, threads)

    def keep(row):
        rows.append(row)
        if on_row is not None:
            on_row(row)
        bar.update()

    with bar:
        for row in fits([g for g in grid if g[1] == cap]):
            longest[(row["hidden"], row["repeat"])] = row
            keep(row)
        rest = []
        for h, e, r in (g for g in grid if g[1] != cap):
            done = longest.get((h, r))
            if done is not None and int(done["n_iter"]) <= e:  # the largest cap's fit stopped first: the same fit
                keep({**{k: done[k] for k in COLUMNS + ["engine"] if k in done}, "epochs": e, "fit_epochs": cap})
            else:
                rest.append((h, e, r))
        for row in fits(rest):
            keep(row)
    columns = COLUMNS + (["engine"] if cluster is not None else [])
    return pd.DataFrame(rows, columns=columns)


def fit_one(hidden: int, epochs: int, repeat: int, seed: int, X_train, y_train, X_test, y_test) -> dict:
    """One grid point: build, fit (timed alone) and test; a row of :data:`COLUMNS`."""
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


# ---------------------------------------------------------------------------------------------
# The chapter: notebooks/02-sequential-sweep.ipynb
# ---------------------------------------------------------------------------------------------

#: The chapter's parameters, as in the notebook's ``parameters`` cell.
SPEC = ParamSpec(
    Param("hidden_sizes", "int_list", [50, 65, 75, 85, 100], "units in the single hidden layer", minimum=1),
    Param("epochs", "int_list", [50, 65, 75, 85, 100], "max_iter: the most epochs a fit may run", minimum=1),
    Param("repeats", "int", 5, "fits per grid point: repeat r uses random_state seed+r", minimum=1),
    Param("n_train", "int", 6000, "the first n_train training images", minimum=1, maximum=config.N_TRAIN_TOTAL),
    Param("seed", "int", 0, "base seed: repeat r uses random_state seed+r", minimum=0),
    Param("threads", "int", 1, "BLAS threads during each fit: 1 is one core", minimum=1),
    Param("engines", "int", 2, "fits run at once, one per ipyparallel engine (0: one by one, here)", minimum=0),
    Param("resume", "bool", False, "keep the fits of an earlier, interrupted run with the same parameters"),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from a notebook's ``globals()`` (or any mapping), checked.

    Raises
    ------
    ValueError
        For a bad value, naming the parameter, what it accepts and what it got.
    """
    return SPEC.from_namespace(namespace)


@dataclass
class SweepRun:
    """What :func:`run` leaves: every row of the results file, its provenance, and where it is."""

    rows: pd.DataFrame
    prov: dict
    csv_path: Path
    engines: int


def run(p: Parameters) -> SweepRun:
    """Run the sweep of ``p`` (from :func:`parameters`), saving each fit's row as soon as it finishes.

    With ``p.engines > 0`` the fits run that many at a time on a local ipyparallel cluster, which
    stops with the run; ``p.resume`` keeps the rows of an earlier run with the same provenance.
    """
    from exemplar import data, results
    from exemplar.experiments import runner
    from exemplar.parallel import cluster

    X_train, y_train = data.load_mnist("train", n_rows=p.n_train)
    X_test, y_test = data.load_mnist("test")
    prov = results.provenance(p.as_dict(), experiment="sequential sweep (paper Section IV.A)",
                              n_test=len(y_test), inputs="raw pixels 0-255, float64",
                              timing="train_seconds: wall time of fit; train_cpu_seconds: its thread's CPU time")
    log = runner.ResultsLog(RESULTS_NAME, prov, ["hidden", "epochs", "repeat"], resume=p.resume)
    with contextlib.ExitStack() as stack:
        # engines > 0: independent fits side by side, each engine one single-threaded process timing its own fit
        cl = stack.enter_context(cluster.start_cluster(p.engines, launcher="local")) if p.engines else None
        run_sweep(X_train, y_train, X_test, y_test, p.hidden_sizes, p.epochs, repeats=p.repeats, seed=p.seed,
                  threads=p.threads, on_row=log.append, skip=log.done, cluster=cl, finished=log.frame())
    return SweepRun(log.frame(), results.with_end_load(prov), config.results_dir() / f"{RESULTS_NAME}.csv",
                    p.engines)


def run_sentence(n_rows: int, csv_path, machine: Mapping[str, Any], engines: int) -> str:
    """Where the fits are and how they ran: "N fits in `PATH` on CPU (C cores), run ...".

    Parameters
    ----------
    n_rows : int
        Rows in the results file.
    csv_path : path
        The results file (shown relative to the project).
    machine : dict
        The provenance's ``machine`` record (``cpu_model``, ``logical_cores``, ``usable_cores``).
    engines : int
        The ``engines`` parameter (0: in this process).
    """
    where = (f"{engines} at a time on {engines} engines, each fit one single-threaded process"
             + (" (more engines than cores: the fits share cores, and their times grow)"
                if engines > machine["usable_cores"] else "")
             if engines else "one after another in this process")
    return (f"{n_rows} fits in `{config.display_path(csv_path)}` "
            f"on {machine['cpu_model']} ({machine['logical_cores']} cores), run {where}.")


def table_beside_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Table I as the chapter shows it: :func:`summarize`'s table with readable names, beside the paper's."""
    from exemplar import paper

    mine = table.rename(columns={"time_mean": "time (s)", "time_sd": "time sd", "cpu_mean": "CPU time (s)",
                                 "cpu_sd": "CPU time sd", "accuracy_mean": "accuracy (%)",
                                 "accuracy_sd": "accuracy sd", "n_iter_mean": "epochs run", "impact": "impact",
                                 "impact_cpu": "impact (CPU time)"})
    theirs = paper.table_i().rename(columns={"time": "paper time (s)", "accuracy": "paper accuracy (%)",
                                             "impact": "paper impact"})
    drop = ["runs", "n_iter_max"] + ([] if time_basis(table) == "cpu" else
                                     ["CPU time (s)", "CPU time sd", "impact (CPU time)"])
    return mine.merge(theirs, on=["hidden", "epochs"], how="left").drop(columns=drop)


def timing_sentence(basis: str) -> str:
    """Which time the sweep's impact factors and optimum are judged from, and why (``basis``: cpu or wall)."""
    if basis == "cpu":
        return ("Impact factors and the optimum are judged from the CPU time of each fit (the seconds its "
                "thread computed), which other work on the machine barely moves, so a rerun on a busy machine "
                "reaches the same conclusion; the wall times stand beside them in the table.")
    if basis == "wall":
        return ("These results record no CPU time (they predate it), so impact factors and the optimum use the "
                "fits' wall time, which grows when other work shares the cores.")
    raise ValueError(f"basis must be 'cpu' or 'wall'; got {basis!r}")


def _caps_text(best: pd.Series) -> str:
    if len(best.caps) == 1:
        return f"**{int(best.hidden)} hidden units and {int(best.epochs)} epochs**"
    return (f"**{int(best.hidden)} hidden units, with any epoch cap from {best.caps[0]} to {best.caps[-1]}** "
            f"(every fit stopped before the smallest, so these caps trained the same networks and count as one; "
            f"the parallel chapters use {int(best.epochs)})")


def optimum_sentence(table: pd.DataFrame) -> str:
    """The optimum by impact factor (:func:`best_model`) beside the paper's, our (75, 75) classifier,
    why the epoch cap barely matters, and which time it is judged from.

    Parameters
    ----------
    table : DataFrame
        :func:`summarize`'s table.
    """
    from exemplar import paper

    best = best_model(table)
    time_col, impact_col = BASIS[best.basis]
    cpu = best.basis == "cpu"
    p = optimum(paper.table_i())
    row75 = table[(table.hidden == 75) & (table.epochs == 75)]
    flat = table.groupby("hidden")["accuracy_mean"].agg(lambda s: s.max() - s.min())
    text = [
        f"The best impact factor here is **{best.impact:.2f}**, for {_caps_text(best)}: "
        f"{best.accuracy_mean:.2f} % in {best.time:.2f} s{' of CPU time' if cpu else ''}"
        + (f" ({best.wall_time:.2f} s wall)" if cpu else "")
        + f" (the fits stopped after {best.n_iter_mean:.0f} epochs on average). "
        f"The paper's optimum was {int(p.hidden)} hidden units and {int(p.epochs)} epochs: {p.accuracy:.2f} % in "
        f"{p.time:.2f} s, impact {p.impact:.2f}, on an {paper.MACHINE}."
    ]
    if len(row75):
        r = row75.iloc[0]
        sd_col = "cpu_sd" if cpu else "time_sd"
        text.append(f" Our (75, 75) classifier reaches {r.accuracy_mean:.2f} ± {r.accuracy_sd:.2f} % in "
                    f"{r[time_col]:.2f} ± {r[sd_col]:.2f} s{' of CPU time' if cpu else ''}, "
                    f"impact {r[impact_col]:.2f}.")
    text.append(
        f" For a fixed hidden size, accuracy varies by at most {flat.max():.2f} points across epoch counts: "
        "the fits stop early once the training loss stalls, so a larger `max_iter` changes nothing, which is "
        "why the paper's accuracy column is constant across epochs at 75, 85 and 100 hidden units. The impact factor "
        "therefore mostly ranks the hidden sizes by speed, and its winner depends on the machine and on the "
        "random initialisation as much as on the model. ")
    text.append(timing_sentence(best.basis))
    return "".join(text)
