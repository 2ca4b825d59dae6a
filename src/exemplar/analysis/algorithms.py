"""Chapter 05's numbers: the algorithms' runs summarized, and the figures its answer is made of.

The rows are ``results/algorithms.csv`` (written by :mod:`exemplar.experiments.algorithms`, one per
run); :func:`summarize_algorithms` turns them into means, speedups and accuracy changes, and
:func:`read_runs` gathers what the chapter's text (:mod:`exemplar.reporting.algorithms`) reads into one
:class:`Reading`. Nothing here runs or says anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from exemplar.analysis import provenance
from exemplar.metrics import impact_factor, speedup
from exemplar.models.statistics import ALGORITHMS

#: Where the rows go: ``results/algorithms.csv``.
RESULTS_NAME = "algorithms"


def summarize_algorithms(runs: pd.DataFrame) -> pd.DataFrame:
    """Per data set, training size, algorithm and engine count: means over the repeats, speedups, impact.

    Parameters
    ----------
    runs : DataFrame
        Rows of :func:`exemplar.parallel.algorithms.run_algorithm` with ``dataset`` and ``repeat``.

    Returns
    -------
    DataFrame
        ``dataset, n_train, algorithm, n_engines, runs``; the means of ``fit_seconds_max``,
        ``distribute_seconds``, ``combine_seconds``, ``wall_seconds``, ``accuracy_pct`` (and
        ``accuracy_pct_sd``); ``training_seconds`` (slowest fit + distribution + combination,
        the paper's time with overhead); ``speedup`` (1-engine training time / this one's),
        ``speedup_wall`` (the same for wall time), ``accuracy_change_pp`` (accuracy minus the
        1-engine accuracy, percentage points) and ``impact`` (accuracy / training time, the
        paper's impact factor with overhead). Speedups and changes are ``NaN`` where the
        1-engine run is missing.
    """
    keys = ["dataset", "n_train", "algorithm", "n_engines"]
    runs = runs.copy()
    runs["training_seconds"] = runs["fit_seconds_max"] + runs["distribute_seconds"] + runs["combine_seconds"]
    cols = ["fit_seconds_max", "distribute_seconds", "combine_seconds", "training_seconds", "wall_seconds",
            "accuracy_pct"]
    g = runs.groupby(keys, sort=True)
    out = pd.concat([g[cols].mean(), g["accuracy_pct"].std(ddof=1).rename("accuracy_pct_sd"),
                     g["training_seconds"].std(ddof=1).rename("training_seconds_sd"), g.size().rename("runs")],
                    axis=1).reset_index()
    one = out[out.n_engines == 1].set_index(["dataset", "n_train", "algorithm"])
    ref = out.set_index(["dataset", "n_train", "algorithm"]).index
    t1 = one["training_seconds"].reindex(ref).to_numpy()
    w1 = one["wall_seconds"].reindex(ref).to_numpy()
    a1 = one["accuracy_pct"].reindex(ref).to_numpy()
    out["speedup"] = speedup(t1, out["training_seconds"].to_numpy())
    out["speedup_wall"] = speedup(w1, out["wall_seconds"].to_numpy())
    out["accuracy_change_pp"] = out["accuracy_pct"].to_numpy() - a1
    out["impact"] = impact_factor(out["accuracy_pct"], out["training_seconds"])
    order = {a: i for i, a in enumerate(ALGORITHMS)}
    out["_order"] = out["algorithm"].map(lambda a: order.get(a, len(order)))
    return out.sort_values(["dataset", "n_train", "_order", "n_engines"]).drop(columns="_order").reset_index(drop=True)


@dataclass
class Reading:
    """The runs of this chapter and what they were asked for: what every table and sentence reads.

    Attributes
    ----------
    runs : DataFrame
        One row per run (of the selected data sets and algorithms).
    summary : DataFrame
        :func:`summarize_algorithms` of ``runs``.
    datasets, algorithms, engine_counts : list
        The parameters, in their order.
    cores : int
        The machine's usable cores.
    cpu_model : str
        The machine's processor, as the provenance records it.
    csv_path : Path
        Where the rows are.
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    datasets: list[str]
    algorithms: list[str]
    engine_counts: list[int]
    cores: int
    cpu_model: str
    csv_path: Path


def read_runs(run: Any, p: Any) -> Reading:
    """The runs of ``p.datasets`` and ``p.algorithms`` in ``run`` (a resumed file may hold others), summarized.

    Parameters
    ----------
    run : ChapterRun
        What :func:`exemplar.experiments.runner.run_chapter` returned: ``rows``, ``prov`` and ``path``.
    p : Parameters
        The chapter's parameters (``datasets``, ``algorithms``, ``engine_counts``).
    """
    runs = run.rows[run.rows.dataset.isin(p.datasets) & run.rows.algorithm.isin(p.algorithms)]
    machine = run.prov.get("machine") or {}
    return Reading(runs, summarize_algorithms(runs), list(p.datasets), list(p.algorithms), list(p.engine_counts),
                   provenance.cores(run.prov), str(machine.get("cpu_model")), Path(run.path))


def comparison_engines(engine_counts, cores: int) -> int | None:
    """The engine count the chapter compares at: the most that still have a core each, else the fewest above 1."""
    real = [n for n in engine_counts if 1 < n <= cores]
    more = [n for n in engine_counts if n > 1]
    return max(real) if real else (min(more) if more else None)


def at_comparison(res: Reading) -> pd.DataFrame:
    """The summary's rows at :func:`comparison_engines` (none when only one engine count was run)."""
    at = comparison_engines(res.engine_counts, res.cores)
    return res.summary[res.summary.n_engines == at] if at else res.summary.iloc[:0]


def median_gains(res: Reading) -> tuple[pd.Series, pd.Series]:
    """Per algorithm at :func:`comparison_engines`: median speedup (fastest first) and median accuracy change."""
    pick = at_comparison(res)
    fast = pick.groupby("algorithm").speedup.median().sort_values(ascending=False)
    kept = pick.groupby("algorithm").accuracy_change_pp.median()
    return fast, kept


def median_at(summary: pd.DataFrame, algorithm: str, column: str, n: int) -> float:
    """The median of ``column`` over the data sets and sizes for ``algorithm`` on ``n`` engines (NaN if not run)."""
    v = summary[(summary.algorithm == algorithm) & (summary.n_engines == n)][column]
    return float(v.median()) if len(v) else float("nan")


def odd_speedups(summary: pd.DataFrame, factor: float = 1.25) -> pd.DataFrame:
    """The rows whose speedup exceeds ``factor`` × the engine count, largest ratio first (``ratio`` added)."""
    odd = summary[(summary.n_engines > 1) & (summary.speedup > factor * summary.n_engines)]
    return odd.assign(ratio=odd.speedup / odd.n_engines).sort_values("ratio", ascending=False)


def largest_size(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary's rows at its largest training size."""
    return summary[summary.n_train == summary.n_train.max()]


def exact_accuracies(runs: pd.DataFrame, datasets, exact) -> pd.DataFrame:
    """Per data set, size and exactly combined algorithm (``exact``): the lowest and highest accuracy of any run,
    in the order of ``datasets``, then size, then algorithm."""
    acc = runs.groupby(["dataset", "n_train", "algorithm"]).accuracy_pct.agg(["min", "max"]).reset_index()
    acc = acc[acc.algorithm.isin(exact)]
    return acc.assign(_d=acc.dataset.map(list(datasets).index)).sort_values(["_d", "n_train", "algorithm"])
