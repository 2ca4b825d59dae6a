"""Chapter 04b's numbers: the combination methods' result table in long form, summarized, and the goal.

Pure functions of ``results/combining.csv``'s rows (:data:`RESULTS_NAME`: one row per configuration,
every method's measures in ``METHOD__COLUMN`` columns): :func:`long_form` turns them into one row
per method, :func:`summarize` averages the repeats and computes each method's share of one-shot's
loss recovered, :func:`goal_frame` is the chapter's answer (the best network at the most engines,
within :data:`GOAL_EXCHANGES` exchanges), :func:`premise_gaps` tests the paper's premise (identical
starts) and :func:`periodic_points` reads the communication chapter's strategies beside them.

The chapter runs with :mod:`exemplar.experiments.combining` and is shown by
:mod:`exemplar.reporting.combining`; both read this module, neither the other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exemplar.analysis import communication
from exemplar.parallel import APART
from exemplar.parallel.combine import METHODS

#: The chapter's results file: ``results/combining.csv`` and ``.json``.
RESULTS_NAME = "combining"
#: The starts: every engine from the same initial weights (the paper's premise), or each from its own.
STARTS = ("identical", "different")
#: Each method's measured columns (``METHOD__COLUMN`` in a configuration's row).
METHOD_COLUMNS = ("accuracy_pct", "exchanges", "extra_rounds", "extra_bytes", "seconds", "comm_seconds")
#: A configuration's own columns, kept in :func:`long_form`.
RUN_COLUMNS = ["dataset", "n_engines", "scale_inputs", "start", "repeat", "seed", "hidden", "epochs", "n_train",
               "fit_seconds_max", "n_iter_max", "distribute_seconds", "wall_seconds"]
#: The goal of issue 14: one network within this many percentage points of the sequential network.
GOAL_PP = 0.5
#: At most this many exchanges of models after distribution count for the goal.
GOAL_EXCHANGES = 2


def long_form(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and method: :data:`RUN_COLUMNS`, ``method`` and :data:`METHOD_COLUMNS`."""
    methods = [m for m in METHODS if f"{m}__accuracy_pct" in runs.columns]
    keep = [c for c in RUN_COLUMNS if c in runs.columns]
    parts = []
    for m in methods:
        part = runs[keep].copy()
        part.insert(len(keep), "method", m)
        for k in METHOD_COLUMNS:
            part[k] = runs[f"{m}__{k}"].to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Per data set, scaling, start, engine count and method: means (and sd) over the repeats, and the recovery.

    Returns
    -------
    DataFrame
        ``dataset, scale_inputs, start, n_engines, method, runs``, ``accuracy_pct_mean``,
        ``accuracy_pct_sd``, the means of ``exchanges``, ``extra_rounds``, ``extra_bytes``,
        ``seconds``, ``comm_seconds`` and ``fit_seconds_max``; ``sequential`` (the 1-engine accuracy of
        that data set and scaling), ``one_shot`` (the plain mean's accuracy in the same setting),
        ``gap_pp`` (accuracy minus sequential) and ``recovered_pct``, the share of one-shot's loss
        the method recovers, ``100 (accuracy - one_shot) / (sequential - one_shot)`` (NaN where
        one-shot lost less than 0.1 pp: nothing to recover).
    """
    long = long_form(runs)
    keys = ["dataset", "scale_inputs", "start", "n_engines", "method"]
    g = long.groupby(keys, sort=False)
    out = g.accuracy_pct.agg(accuracy_pct_mean="mean", accuracy_pct_sd="std")
    costs = g[["exchanges", "extra_rounds", "extra_bytes", "seconds", "comm_seconds", "fit_seconds_max"]].mean()
    out = pd.concat([out, costs, g.size().rename("runs")], axis=1).reset_index()
    seq = out[(out.n_engines == 1) & (out.method == "mean")].set_index(["dataset", "scale_inputs"]).accuracy_pct_mean
    one = out[out.method == "mean"].set_index(["dataset", "scale_inputs", "start", "n_engines"]).accuracy_pct_mean
    out["sequential"] = [seq.get((d, s), np.nan) for d, s in zip(out.dataset, out.scale_inputs)]
    out["one_shot"] = [one.get(k, np.nan) for k in zip(out.dataset, out.scale_inputs, out.start, out.n_engines)]
    out["gap_pp"] = out.accuracy_pct_mean - out.sequential
    loss = out.sequential - out.one_shot
    out["recovered_pct"] = np.where(loss >= 0.1, 100 * (out.accuracy_pct_mean - out.one_shot) / loss.where(loss >= 0.1),
                                    np.nan)
    out["_start"] = out.start.map({s: i for i, s in enumerate(STARTS)})
    out["_method"] = out.method.map({m: i for i, m in enumerate(METHODS)})
    out = out.sort_values(["dataset", "scale_inputs", "_start", "n_engines", "_method"], kind="stable")
    return out.drop(columns=["_start", "_method"]).reset_index(drop=True)


def goal_frame(summary: pd.DataFrame, goal_pp: float = GOAL_PP) -> pd.DataFrame:
    """At the largest engine count, per data set and scaling: one-shot, and the best network in <= 2 exchanges.

    Every start and every method but the ensemble (not one network) competes; ``reached`` is the
    best's mean accuracy at least the sequential's minus ``goal_pp``.
    """
    n = int(summary.n_engines.max())
    at = summary[(summary.n_engines == n) & (summary.method != "ensemble") & (summary.exchanges <= GOAL_EXCHANGES)]
    rows = []
    for (d, s), part in at.groupby(["dataset", "scale_inputs"], sort=False):
        means = part[part.method == "mean"]
        one = means[means.start == "identical"].iloc[0] if "identical" in set(means.start) else means.iloc[0]
        best = part.loc[part.accuracy_pct_mean.idxmax()]
        rows.append({"dataset": d, "scale_inputs": bool(s), "n_engines": n, "sequential": best.sequential,
                     "one_shot": one.accuracy_pct_mean, "one_shot_start": one.start, "best": best.method,
                     "best_start": best.start, "accuracy": best.accuracy_pct_mean, "gap_pp": best.gap_pp,
                     "recovered_pct": best.recovered_pct, "exchanges": best.exchanges,
                     "reached": bool(best.gap_pp >= -goal_pp)})
    return pd.DataFrame(rows)


def premise_gaps(summary: pd.DataFrame) -> dict | None:
    """The paper's premise (identical starts) at the largest engine count, per data set and scaling.

    Returns
    -------
    dict or None
        ``n_engines``; ``drop`` (the plain mean's accuracy with identical starts minus with different
        ones), ``back`` (matched minus mean, different starts) and ``ensemble`` (the ensemble's accuracy
        with different starts minus with identical ones), each a Series by ``(dataset, scale_inputs)``,
        ``back`` and ``ensemble`` ``None`` where those methods were not run; ``None`` without
        different starts at that count.
    """
    n = int(summary.n_engines.max())
    at = summary[summary.n_engines == n]
    if "different" not in set(at.start):
        return None
    acc = at.pivot_table(index=["dataset", "scale_inputs"], columns=["start", "method"], values="accuracy_pct_mean")
    back = ens = None
    if ("different", "matched") in acc.columns:
        back = acc[("different", "matched")] - acc[("different", "mean")]
    if ("different", "ensemble") in acc.columns and ("identical", "ensemble") in acc.columns:
        ens = acc[("different", "ensemble")] - acc[("identical", "ensemble")]
    return {"n_engines": n, "drop": acc[("identical", "mean")] - acc[("different", "mean")], "back": back,
            "ensemble": ens}


def gain_over_mean(summary: pd.DataFrame) -> pd.Series:
    """At the largest engine count: each method's mean accuracy minus the plain mean's, by ``(method, start)``
    (averaged over the data sets and scalings)."""
    at = summary[summary.n_engines == int(summary.n_engines.max())]
    return (at.accuracy_pct_mean - at.one_shot).groupby([at.method, at.start]).mean()


def periodic_points(comm_runs: pd.DataFrame | None, n: int, scale: bool) -> pd.DataFrame:
    """The communication chapter's variants at ``n`` engines that reached its target: their mean exchanges of
    model state to the target (``comm_rounds``) and test accuracy there (``accuracy_pct``), per variant.

    ``comm_runs`` is ``results/communication.csv`` (:func:`read_communication`): only the runs to the
    target that reached it count, and one-shot is left out (it exchanges once, as this chapter's
    methods). Empty when ``comm_runs`` is ``None`` or lacks the columns.
    """
    empty = pd.DataFrame(columns=["variant", "comm_rounds", "accuracy_pct"])
    if comm_runs is None or "exchanges_to_target" not in comm_runs.columns:
        return empty
    part = communication.to_target(comm_runs)
    part = part[(part.n_engines == n) & (part.scale_inputs.astype(bool) == scale) & part.reached.astype(bool)]
    part = part[~part.strategy.isin(APART)]
    if part.empty:
        return empty
    out = part.groupby("variant", sort=True)[["exchanges_to_target", "test_accuracy_at_target_pct"]].mean()
    return out.rename(columns={"exchanges_to_target": "comm_rounds",
                               "test_accuracy_at_target_pct": "accuracy_pct"}).reset_index()


def read_communication(directory=None) -> pd.DataFrame | None:
    """``results/communication.csv`` (the communication chapter's runs), or ``None`` when absent."""
    from exemplar import results

    try:
        return results.read_results(communication.RESULTS_NAME, directory)[0]
    except FileNotFoundError:
        return None
