"""Chapter 03's numbers: exemplar parallelism's runs per engine count, speedups and Amdahl's law.

Pure functions of ``results/exemplar.csv``'s rows (:data:`RESULTS_NAME`): the all-core BLAS baseline
(strategy :data:`~exemplar.analysis.sweep.BASELINE`) and one-shot runs per engine count.
:func:`summarize` averages the one-shot runs per engine count, with the speedups and the estimate
with a core per engine (``dedicated_seconds``, the slowest engine's fit CPU time:
:mod:`exemplar.parallel.dedicated`); :func:`analyse` adds the baseline, the machine's cores and
Amdahl's law fitted to ours, to the estimate and to the paper's Table II.

It handles every engine count the chapter accepts: without a 1-engine run the speedups are over the
all-core BLAS baseline, and without an engine count above 1 that has a core each, Amdahl's law is
fitted to every measured count (see :func:`analyse`).

The chapter runs with :mod:`exemplar.experiments.exemplar_parallel` and shows these numbers with
:mod:`exemplar.reporting.exemplar_parallel`; both read this module, neither the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from exemplar import metrics, paper
from exemplar.analysis.sweep import BASELINE

#: The chapter's results file: ``results/exemplar.csv`` and ``.json``.
RESULTS_NAME = "exemplar"
#: The strategy of the chapter's parallel runs (the others are the all-core BLAS baseline's).
ONE_SHOT = "one-shot"


@dataclass
class Analysis:
    """The chapter's numbers, from the runs.

    Attributes
    ----------
    per_n : DataFrame
        :func:`summarize`: the one-shot runs per engine count, with ``speedup`` (over the 1-engine
        fit, or over the baseline without one), ``speedup_vs_blas`` (over the all-core BLAS baseline)
        and the dedicated-core estimate's columns.
    baseline : DataFrame
        :func:`exemplar.metrics.summarize_runs` of the all-core BLAS baseline's runs (one row).
    cores : int
        Usable cores of the machine that ran them.
    f_ours, fit_counts : float, list of int
        Amdahl's serial fraction fitted to our measured speedups, and the engine counts it was fitted to.
    f_estimate : float
        Amdahl's serial fraction fitted to the dedicated-core estimate's speedups at every engine
        count (``nan`` when the runs carry no estimate).
    paper_n, paper_speedup, f_paper
        The paper's Table II processes, speedups and fitted serial fraction.
    """

    per_n: pd.DataFrame
    baseline: pd.DataFrame
    cores: int
    f_ours: float
    fit_counts: list
    paper_n: np.ndarray
    paper_speedup: np.ndarray
    f_paper: float
    f_estimate: float = float("nan")


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """The one-shot runs per engine count (:func:`exemplar.metrics.summarize_runs`), with their speedups.

    The speedup's reference is the 1-engine fit time, or the all-core BLAS baseline's when no
    1-engine run was made; ``speedup_vs_blas`` is always over the baseline. The dedicated-core
    estimate's columns are :func:`_with_estimate`'s.
    """
    one_shot = runs[runs.strategy == ONE_SHOT]
    per_n = metrics.summarize_runs(one_shot)
    blas = float(metrics.summarize_runs(runs[runs.strategy == BASELINE]).fit_seconds_max.iloc[0])
    t1 = per_n.loc[per_n.n_engines == 1, "fit_seconds_max"]
    ref = float(t1.iloc[0]) if len(t1) else blas
    per_n["speedup"] = metrics.speedup(ref, per_n.fit_seconds_max)
    per_n["speedup_vs_blas"] = metrics.speedup(blas, per_n.fit_seconds_max)
    return _with_estimate(per_n, one_shot, blas)


def analyse(runs: pd.DataFrame, cores: int) -> Analysis:
    """Summaries per engine count, speedups and Amdahl fits, for any engine counts the chapter accepts.

    Amdahl's law is fitted to the engine counts with a core each (``n <= cores``) when one of them
    is above 1; otherwise (every count above 1 oversubscribes this machine) to every measured count,
    which then counts the missing cores as serial work.
    """
    per_n = summarize(runs)
    baseline = metrics.summarize_runs(runs[runs.strategy == BASELINE])
    known = per_n[per_n.speedup_estimate.notna()]
    f_estimate = metrics.fit_amdahl(known.n_engines, known.speedup_estimate) if len(known) else float("nan")
    real = per_n[per_n.n_engines <= cores]
    fitted = real if (real.n_engines > 1).any() else per_n
    f_ours = metrics.fit_amdahl(fitted.n_engines, fitted.speedup)
    pt = paper.table_ii()
    paper_speedup = metrics.speedup(pt.time.iloc[0], pt.time)
    f_paper = metrics.fit_amdahl(pt.n_processes, paper_speedup)
    return Analysis(per_n, baseline, int(cores), f_ours, [int(n) for n in fitted.n_engines],
                    pt.n_processes.to_numpy(), paper_speedup, f_paper, f_estimate)


def _with_estimate(per_n: pd.DataFrame, runs: pd.DataFrame, blas_seconds: float) -> pd.DataFrame:
    """``per_n`` with the dedicated-core estimate: means of ``fit_cpu_seconds_max`` and ``dedicated_seconds``
    (``nan`` for runs made before they were recorded), ``dedicated_seconds_sd``, ``estimate_with_overhead``
    and ``speedup_estimate`` (over the 1-engine estimate, else over the all-core BLAS baseline)."""
    runs = runs.assign(**{c: runs[c] if c in runs.columns else np.nan
                          for c in ("fit_cpu_seconds_max", "dedicated_seconds")})
    g = runs.groupby("n_engines")
    est = pd.concat([g[["fit_cpu_seconds_max", "dedicated_seconds"]].mean(),
                     g.dedicated_seconds.std(ddof=1).rename("dedicated_seconds_sd")], axis=1).reset_index()
    per_n = per_n.merge(est, on="n_engines", how="left")
    per_n["estimate_with_overhead"] = per_n.dedicated_seconds + per_n.distribute_seconds + per_n.combine_seconds
    one = per_n.loc[per_n.n_engines == 1, "dedicated_seconds"]
    ref = float(one.iloc[0]) if len(one) else blas_seconds
    per_n["speedup_estimate"] = metrics.speedup(ref, per_n.dedicated_seconds)
    return per_n


def distribution_row(per_n: pd.DataFrame) -> pd.Series:
    """The engine count whose distribution the chapter describes: 2 if run, else the smallest above 1, else 1."""
    counts = sorted(int(n) for n in per_n.n_engines)
    above_one = [n for n in counts if n > 1]
    n = 2 if 2 in counts else (above_one[0] if above_one else counts[0])
    return per_n[per_n.n_engines == n].iloc[0]
