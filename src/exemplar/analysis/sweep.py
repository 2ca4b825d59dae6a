"""Chapter 02's numbers: the sequential sweep's result table summarized, and the classifier it chooses.

Pure functions of ``results/sequential_sweep.csv``'s rows (:data:`RESULTS_NAME`, columns
:data:`COLUMNS`): :func:`summarize` is the paper's Table I (per hidden size and epoch cap, mean and
sd of time and accuracy, and the impact factor), :func:`optimum` its plain maximum, and
:func:`best_model` the optimum the report judges by (from CPU time where recorded, epoch caps that
trained the same networks counted as one). :func:`chosen_model` is the classifier the chapters after
the sweep train: given explicitly, else the ``model`` parameter's (the paper's (75, 75) by default, the same on
every machine; or this machine's :func:`best_model`). :func:`optimum_stability` and :func:`optimum_separated` say
how firmly the sweep's optimum stands out of its neighbours over the repeats.

The chapter runs with :mod:`exemplar.experiments.sweep` and shows these numbers with
:mod:`exemplar.reporting.sweep`; both read this module, neither the other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exemplar import config, metrics, paper, results
from exemplar.parallel.fits import BASELINE, COLUMNS  # noqa: F401 (the rows' columns and the baseline's name, as the fits write them)
from exemplar.validation import check_positive_int

#: The chapter's results file: ``results/sequential_sweep.csv`` and ``.json``.
RESULTS_NAME = "sequential_sweep"

#: The classifiers the chapters after the sweep may train (their ``model`` parameter, :func:`chosen_model`):
#: the paper's for Tables II–III, the same on every machine, or this machine's sweep optimum.
MODELS = ("paper", "sweep-optimum")

#: :func:`chosen_model`'s reason for the paper's classifier.
PAPER_REASON = "the paper's classifier for Tables II–III"

#: The time a verdict is judged from: its column in :func:`summarize`'s table and the impact factor's.
BASIS = {"cpu": ("cpu_mean", "impact_cpu"), "wall": ("time_mean", "impact")}


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Table I: per (hidden, epochs) the mean and sd of time and accuracy, and the impact factor.

    The impact factor is computed from the means, as the paper's Table I does
    (mean accuracy / mean time): ``impact`` from the wall time of the fits (``time_mean``),
    ``impact_cpu`` from their CPU time (``cpu_mean``; NaN for results that record none).
    ``n_iter_max`` (the most epochs any repeat ran) tells which epoch caps cut a fit short.
    """
    g = rows.groupby(["hidden", "epochs"], as_index=False)
    aggs = dict(time_mean=("train_seconds", "mean"), time_sd=("train_seconds", "std"))
    if "train_cpu_seconds" in rows.columns:
        aggs.update(cpu_mean=("train_cpu_seconds", "mean"), cpu_sd=("train_cpu_seconds", "std"))
    aggs.update(accuracy_mean=("accuracy_pct", "mean"), accuracy_sd=("accuracy_pct", "std"),
                n_iter_mean=("n_iter", "mean"), n_iter_max=("n_iter", "max"), runs=("repeat", "count"))
    out = g.agg(**aggs)
    if "cpu_mean" not in out.columns:
        out.insert(4, "cpu_mean", np.nan)
        out.insert(5, "cpu_sd", np.nan)
    out["impact"] = metrics.impact_factor(out["accuracy_mean"], out["time_mean"])
    out["impact_cpu"] = metrics.impact_factor(out["accuracy_mean"], out["cpu_mean"])
    return out


def optimum(table: pd.DataFrame, column: str = "impact") -> pd.Series:
    """The row of :func:`summarize`'s table with the largest ``column`` (the paper: impact factor).

    This is the plain, point-by-point maximum; :func:`best_model` is the one the report judges by.
    """
    return table.loc[table[column].idxmax()]


def time_basis(table: pd.DataFrame) -> str:
    """``"cpu"`` when every row of :func:`summarize`'s table has a CPU time, else ``"wall"`` (older results)."""
    return "cpu" if "cpu_mean" in table.columns and len(table) and table["cpu_mean"].notna().all() else "wall"


def same_model_classes(table: pd.DataFrame) -> pd.Series:
    """A label per row of :func:`summarize`'s table; rows with the same label trained the same networks.

    For one hidden size, the epoch caps no repeat reached (``n_iter_max < epochs``) train the same
    networks, seed for seed: equal accuracies, times that differ only by noise. Those caps share a label
    (when their mean accuracies are equal too); every other row, and every row without ``n_iter_max``, is its own.
    """
    labels = []
    for row in table.itertuples():
        free = hasattr(row, "n_iter_max") and row.n_iter_max < row.epochs
        labels.append(f"{row.hidden}: stopped early, {row.accuracy_mean!r} %" if free
                      else f"{row.hidden}: {row.epochs} epochs")
    return pd.Series(labels, index=table.index, name="model")


def pooled(table: pd.DataFrame, column: str) -> pd.Series:
    """``column`` of :func:`summarize`'s table averaged over the rows that trained the same networks
    (:func:`same_model_classes`), weighted by their runs: one value per row."""
    classes = same_model_classes(table)
    weighted = (table[column] * table["runs"]).groupby(classes).transform("sum")
    return weighted / table["runs"].groupby(classes).transform("sum")


def best_model(table: pd.DataFrame) -> pd.Series:
    """The optimum by impact factor, judged so that noise cannot move it: from the fits' CPU time where
    recorded (:func:`time_basis`), which other work barely moves, else wall time; epoch caps that trained
    the same networks (:func:`same_model_classes`) count as one, times pooled, named by the smallest cap
    (the least budget that trains those networks; the parallel chapters then train with that cap).

    Returns
    -------
    pandas.Series
        ``hidden``, ``epochs`` (the smallest equivalent cap), ``caps`` (all equivalent caps, sorted),
        ``accuracy_mean``, ``time`` and ``impact`` (pooled, on the basis), ``wall_time`` (pooled wall
        time), ``n_iter_mean`` and ``basis`` (``"cpu"`` or ``"wall"``).
    """
    basis = time_basis(table)
    time_col, _ = BASIS[basis]
    t = table.assign(model=same_model_classes(table), time=pooled(table, time_col),
                     wall_time=pooled(table, "time_mean"))
    t["impact"] = metrics.impact_factor(t["accuracy_mean"], t["time"])
    best = t.loc[t["impact"].idxmax()]
    same = t[t.model == best.model]
    return pd.Series({"hidden": int(best.hidden), "epochs": int(same.epochs.min()),
                      "caps": sorted(int(e) for e in same.epochs), "accuracy_mean": best.accuracy_mean,
                      "time": best.time, "impact": best.impact, "wall_time": best.wall_time,
                      "n_iter_mean": best.n_iter_mean, "basis": basis})


def _networks(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """``rows`` with ``network`` (:func:`same_model_classes`' label of their grid point) and ``time`` (on the
    basis), and the basis (:func:`time_basis`)."""
    table = summarize(rows)
    basis = time_basis(table)
    labels = table[["hidden", "epochs"]].assign(network=same_model_classes(table))
    time_col = "train_cpu_seconds" if basis == "cpu" else "train_seconds"
    return rows.merge(labels, on=["hidden", "epochs"]).assign(time=lambda d: d[time_col]), basis


def optimum_stability(rows: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """How firmly the sweep's optimum by impact factor stands out of the next best networks, over the repeats.

    Parameters
    ----------
    rows : DataFrame
        The sweep's rows (``results/sequential_sweep.csv``, columns :data:`COLUMNS`).
    top : int
        How many networks to keep, best first.

    Returns
    -------
    DataFrame
        One row per distinct network (a hidden size and the epoch caps that trained the same networks,
        :func:`same_model_classes`), named by its smallest cap, best first, the ``top`` best: ``hidden``,
        ``epochs`` (the smallest cap), ``caps`` (all, sorted), ``runs`` (fits), ``repeats``,
        ``accuracy_mean``/``accuracy_sd`` and ``time_mean``/``time_sd`` over its fits, the time on the
        ``basis`` (CPU time where recorded, else wall: :func:`time_basis`); ``impact`` (pooled mean accuracy /
        pooled mean time, as :func:`best_model`), ``impact_sd`` (the sd over the repeats of each repeat's
        mean accuracy / mean time; NaN with one repeat), ``wins`` (the share of repeats in which its
        per-repeat impact is the best of all networks), ``rank`` (1: the optimum, among all networks) and ``basis``.

    Raises
    ------
    ValueError
        For a ``top`` that is not a positive integer, or no rows.
    """
    top = check_positive_int("top", top)
    if rows.empty:
        raise ValueError("parameter rows must hold at least one fit of the sweep; got an empty table")
    fits, basis = _networks(rows)
    by_network = fits.groupby("network")
    out = by_network.agg(hidden=("hidden", "first"), epochs=("epochs", "min"), runs=("repeat", "count"),
                         repeats=("repeat", "nunique"), accuracy_mean=("accuracy_pct", "mean"),
                         accuracy_sd=("accuracy_pct", "std"), time_mean=("time", "mean"), time_sd=("time", "std"))
    out.insert(2, "caps", by_network["epochs"].agg(lambda e: sorted(int(x) for x in set(e))))
    out["impact"] = metrics.impact_factor(out["accuracy_mean"], out["time_mean"])
    per_repeat = fits.groupby(["repeat", "network"])[["accuracy_pct", "time"]].mean()
    per_repeat = pd.Series(metrics.impact_factor(per_repeat["accuracy_pct"], per_repeat["time"]),
                           index=per_repeat.index).unstack("network")
    out["impact_sd"] = per_repeat.std()
    winners = per_repeat.idxmax(axis=1).value_counts()
    out["wins"] = winners.reindex(out.index, fill_value=0) / len(per_repeat)
    out = out.sort_values(["impact", "hidden", "epochs"], ascending=[False, True, True])
    out["rank"] = np.arange(1, len(out) + 1)
    out["basis"] = basis
    return out.reset_index(drop=True).head(top)


def optimum_separated(stability: pd.DataFrame) -> bool:
    """Whether the optimum stands out: the best impact exceeds the runner-up's by more than the larger of their
    spreads over the repeats (``impact_sd``).

    Parameters
    ----------
    stability : DataFrame
        :func:`optimum_stability`'s table, best first.

    Returns
    -------
    bool
        ``True`` also for a single network (no runner-up); ``False`` when a spread is unknown (one repeat): a
        separation not measured is not claimed.
    """
    if len(stability) < 2:
        return True
    best, second = stability.iloc[0], stability.iloc[1]
    spread = max(best.impact_sd, second.impact_sd)
    return bool(np.isfinite(spread) and best.impact - second.impact > spread)


def chosen_model(hidden: int | None = None, epochs: int | None = None, model: str = "paper",
                 results_name: str = RESULTS_NAME):
    """The classifier the chapters after the sweep train: ``hidden`` and ``epochs`` where given, the rest from
    ``model``.

    Parameters
    ----------
    hidden, epochs : int, optional
        Given values override the ``model``'s (each on its own).
    model : {"paper", "sweep-optimum"}
        ``"paper"``: the paper's classifier for Tables II–III (:data:`exemplar.paper.OPTIMUM`, 75 hidden units,
        75 epochs), the same on every machine. ``"sweep-optimum"``: the sweep's optimum by impact factor
        (:func:`best_model` of ``results/<results_name>.csv``), which moves with the machine; the paper's
        when no sweep has been run.
    results_name : str
        The sweep's results file, for ``"sweep-optimum"``.

    Returns
    -------
    (hidden, epochs, reason)
        ``reason`` says where the choice came from.

    Raises
    ------
    ValueError
        For a ``model`` not in :data:`MODELS`, or a ``hidden``/``epochs`` that is not a positive integer.
    """
    if model not in MODELS:
        raise ValueError(f"parameter model must be one of {', '.join(map(repr, MODELS))}; got {model!r}")
    if hidden is not None and epochs is not None:
        return check_positive_int("hidden", hidden), check_positive_int("epochs", epochs), "as given"
    path = config.results_dir() / f"{results_name}.csv"
    if model == "paper":
        (h, e), reason = paper.OPTIMUM, PAPER_REASON
    elif path.is_file():
        best = best_model(summarize(results.read_results(results_name)[0]))
        h, e = int(best.hidden), int(best.epochs)
        reason = (f"the sweep's optimum by impact factor ({'CPU' if best.basis == 'cpu' else 'wall'} time), "
                  f"from {config.display_path(path)}")
    else:
        h, e = paper.OPTIMUM
        reason = "the paper's classifier for Tables II–III: no sweep results found"
    given = [name for name, v in (("hidden", hidden), ("epochs", epochs)) if v is not None]
    h = check_positive_int("hidden", hidden) if hidden is not None else h
    e = check_positive_int("epochs", epochs) if epochs is not None else e
    return h, e, reason + "".join(f"; {name} as given" for name in given)
