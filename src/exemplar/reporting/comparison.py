"""The paper's Tables I–III beside ours: our results read from the results folder, and the comparison tables.

Everything here *reads* what the notebooks wrote (``results/sequential_sweep.csv`` and ``results/exemplar.csv``
with their provenance ``.json``); nothing is re-measured. :mod:`exemplar.reporting.claims` judges the paper's
claims from these tables (and re-exports them); the verdict rules are :mod:`exemplar.reporting.verdicts`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exemplar import config, metrics, paper, results
from exemplar.analysis import exemplar_parallel, provenance, sweep
from exemplar.reporting.verdicts import accuracy_verdict

#: The paper's set-up, for warning when results were produced differently (a QUICK run).
PAPER_SETUP = {"n_train": config.PAPER_N_TRAIN, "repeats": 5}

#: Column labels of the comparison tables: the difference, and the impact factor's unit.
DIFF = "Δ"
IMPACT = "impact (% / s)"

#: The results files this page reads: the sweep's and the exemplar chapter's.
SWEEP = sweep.RESULTS_NAME
PARALLEL = exemplar_parallel.RESULTS_NAME


# ---------------------------------------------------------------------------------------------
# Reading our results
# ---------------------------------------------------------------------------------------------

@dataclass
class Ours:
    """Our results as the comparison needs them, read from the results folder.

    Attributes
    ----------
    sweep : DataFrame
        :func:`exemplar.analysis.sweep.summarize` of ``sequential_sweep.csv`` (one row per grid point).
    parallel : DataFrame
        :func:`exemplar.metrics.summarize_runs` of the one-shot runs of ``exemplar.csv``
        (one row per engine count).
    sweep_prov, parallel_prov : dict
        The two provenance records.
    cores : int
        The usable cores of the machine that ran the parallel experiment.
    sweep_rows, parallel_rows : DataFrame, optional
        The rows behind them (the sweep's fits, the one-shot runs), for the spread over repeats of what the
        claims compute from the means; ``None`` where not given (the spreads are then not known).

    Times are judged from CPU time where the results record it (:attr:`sweep_basis`,
    :attr:`parallel_basis`), else from wall time.
    """

    sweep: pd.DataFrame
    parallel: pd.DataFrame
    sweep_prov: dict
    parallel_prov: dict
    cores: int
    sweep_rows: pd.DataFrame | None = None
    parallel_rows: pd.DataFrame | None = None

    @property
    def sweep_basis(self) -> str:
        """``"cpu"`` when the sweep recorded each fit's CPU time, else ``"wall"``."""
        return sweep.time_basis(self.sweep)

    @property
    def parallel_basis(self) -> str:
        """``"cpu"`` when the parallel runs recorded the slowest engine's fit CPU time, else ``"wall"``."""
        cpu = self.parallel.get("fit_cpu_seconds_max")
        return "cpu" if cpu is not None and len(cpu) and cpu.notna().all() else "wall"


#: Per-run CPU-time columns of ``exemplar.csv`` (where recorded): their means join the parallel summary.
CPU_COLUMNS = ("fit_cpu_seconds_max", "dedicated_seconds")


def summarize_parallel(one_shot: pd.DataFrame) -> pd.DataFrame:
    """:func:`exemplar.metrics.summarize_runs` of the one-shot runs, with the CPU-time figures beside the wall ones.

    Adds the means of :data:`CPU_COLUMNS` and their sds over the repeats (``_sd``; NaN where the results record none),
    ``time_with_overhead_cpu`` (the slowest engine's fit CPU time + distribution + gather/combine) and
    the impact factors from them, ``impact_fit_cpu`` and ``impact_overhead_cpu``.
    """
    out = metrics.summarize_runs(one_shot)
    present = [c for c in CPU_COLUMNS if c in one_shot.columns]
    g = one_shot.groupby("n_engines")[present]
    means, sds = (g.mean(), g.std(ddof=1)) if present else (pd.DataFrame(index=out.n_engines),) * 2
    for c in CPU_COLUMNS:
        out[c] = out.n_engines.map(means[c]) if c in means else np.nan
        out[f"{c}_sd"] = out.n_engines.map(sds[c]) if c in sds else np.nan
    out["time_with_overhead_cpu"] = (out["fit_cpu_seconds_max"] + out.get("distribute_seconds", 0)
                                     + out.get("combine_seconds", 0))
    out["impact_fit_cpu"] = metrics.impact_factor(out["accuracy_pct"], out["fit_cpu_seconds_max"])
    out["impact_overhead_cpu"] = metrics.impact_factor(out["accuracy_pct"], out["time_with_overhead_cpu"])
    return out


def read_ours(directory: Path | None = None) -> Ours:
    """Read ``sequential_sweep`` and ``exemplar`` from the results folder (default :func:`config.results_dir`).

    Raises
    ------
    FileNotFoundError
        When either results file is missing, naming the notebook that writes it.
    """
    directory = Path(directory) if directory is not None else config.results_dir()
    for name, notebook in ((SWEEP, "02-sequential-sweep"), (PARALLEL, "03-exemplar-parallel")):
        if not (directory / f"{name}.csv").is_file():
            raise FileNotFoundError(f"{directory / (name + '.csv')} is missing: run `exemplar run {notebook}` first")
    rows, sweep_prov = results.read_results(SWEEP, directory)
    runs, parallel_prov = results.read_results(PARALLEL, directory)
    one_shot = runs[runs["strategy"] == "one-shot"] if "strategy" in runs.columns else runs
    return Ours(sweep.summarize(rows), summarize_parallel(one_shot), sweep_prov, parallel_prov,
                provenance.cores(parallel_prov), rows, one_shot)


def setup_differences(ours: Ours) -> list[str]:
    """How our results' set-up differs from the paper's (training images, repeats, classifier).

    Returns
    -------
    list of str
        One sentence per difference; empty when the runs used the paper's set-up.
    """
    out = []
    for label, prov in (("sweep", ours.sweep_prov), ("parallel runs", ours.parallel_prov)):
        params = prov.get("parameters", {})
        for key, value in PAPER_SETUP.items():
            if key in params and params[key] != value:
                out.append(f"The {label} used {key} = {params[key]} (the paper: {value}).")
    params = ours.parallel_prov.get("parameters", {})
    if params.get("hidden") is not None and (params.get("hidden"), params.get("epochs")) != paper.OPTIMUM:
        out.append(f"The parallel runs trained {params['hidden']} hidden units for at most {params['epochs']} epochs; "
                   f"the paper's Tables II–III trained {paper.OPTIMUM[0]} hidden units for {paper.OPTIMUM[1]} epochs.")
    return out


def setup_note_markdown(ours: Ours) -> str:
    """A MyST admonition on how our set-up differs from the paper's: a warning when the data or repeats
    differ (a QUICK run, whose verdicts say little), a note when only the classifier does."""
    differences = setup_differences(ours)
    if not differences:
        return "These results used the paper's set-up: 6,000 training images, five repeats per point."
    quick = any("n_train" in d or "repeats" in d for d in differences)
    kind, lead = (("warning", "These results were not produced with the paper's set-up, so their verdicts say "
                              "little about the paper:") if quick
                  else ("note", "One difference from the paper's set-up:"))
    return f":::{{{kind}}}\n{lead}\n\n" + "\n".join(f"- {d}" for d in differences) + "\n:::"


def timing_note_markdown(ours: Ours) -> str:
    """Which time the verdicts are judged from, and why, how busy the machine was for each results file
    (:func:`exemplar.reporting.status.timing_note_markdown`), and its CPU model and BLAS kernel
    (:func:`exemplar.reporting.status.machine_sentence`)."""
    from exemplar.reporting import status

    return (status.timing_note_markdown({"sweep": ours.sweep_basis, "parallel runs": ours.parallel_basis},
                                        {"sweep": ours.sweep_prov, "parallel runs": ours.parallel_prov})
            + " " + status.machine_sentence({SWEEP: ours.sweep_prov, PARALLEL: ours.parallel_prov}))


# ---------------------------------------------------------------------------------------------
# The paper's tables beside ours
# ---------------------------------------------------------------------------------------------

#: Column label of our measured wall time beside the CPU time a verdict is judged from.
WALL = "ours, wall"
#: Column label of the standard deviation of our accuracy over the repeats, and of the runs per point.
SD = "ours, sd"
REPEATS = "repeats"


def _triple(theirs: pd.Series, ours: pd.Series, unit: str, wall: pd.Series | None = None) -> dict:
    out = {(unit, "paper"): theirs, (unit, "ours"): ours, (unit, DIFF): ours - theirs}
    if wall is not None:
        out[(unit, WALL)] = wall
    return out


def table_i_comparison(ours: Ours) -> pd.DataFrame:
    """The paper's Table I beside ours: time, accuracy and impact factor per hidden size × epochs.

    Returns
    -------
    DataFrame
        Two-level columns (quantity, paper / ours / :data:`DIFF` = ours − paper), one row per grid point of the
        paper's table (ours NaN where our sweep did not run that point), the runs each of ours averages
        (:data:`REPEATS`), and a ``verdict`` on the accuracy (times are machine-dependent and are not judged
        point by point), with our accuracy's sd over the repeats (:data:`SD`). Our time and impact factor are
        from CPU time where the sweep recorded it, with the wall time beside them (:data:`WALL`).
    """
    t = paper.table_i().merge(ours.sweep.rename(columns={"impact": "impact_wall"}), on=["hidden", "epochs"],
                              how="left")
    time_col, impact_col = sweep.BASIS[ours.sweep_basis]
    cpu = ours.sweep_basis == "cpu"
    cols = {("", "hidden"): t.hidden, ("", "epochs"): t.epochs, ("", REPEATS): t.runs.astype("Int64")}
    cols.update(_triple(t.time, t[time_col], "time (s)", t.time_mean if cpu else None))
    cols.update(_triple(t.accuracy, t.accuracy_mean, "accuracy (%)"))
    cols[("accuracy (%)", SD)] = t.accuracy_sd
    cols.update(_triple(t.impact, t[impact_col] if cpu else t.impact_wall, IMPACT, t.impact_wall if cpu else None))
    out = pd.DataFrame(cols)
    out.insert(3, ("", "verdict (accuracy)"), [accuracy_verdict(d) if not math.isnan(d) else "not run"
                                               for d in out[("accuracy (%)", DIFF)]])
    return out


def _parallel_table(ours: Ours, theirs: pd.DataFrame, time_col: str, impact_col: str) -> pd.DataFrame:
    t = theirs.merge(ours.parallel.rename(columns={"n_engines": "n_processes"}), on="n_processes", how="left")
    cpu = ours.parallel_basis == "cpu"
    wall_time, wall_impact = time_col, impact_col
    if cpu:  # fit_seconds_max -> fit_cpu_seconds_max, time_with_overhead -> time_with_overhead_cpu, ...
        time_col = "fit_cpu_seconds_max" if time_col == "fit_seconds_max" else time_col + "_cpu"
        impact_col += "_cpu"
    t0_ours = t.loc[t.n_processes == 1, time_col]
    t0_paper = float(theirs.loc[theirs.n_processes == 1, "time"].iloc[0])
    cols = {("", "processes"): t.n_processes, ("", REPEATS): t.runs.astype("Int64")}
    cols.update(_triple(t.time, t[time_col], "time (s)", t[wall_time] if cpu else None))
    cols[("speedup (× 1 process)", "paper")] = t0_paper / t.time
    cols[("speedup (× 1 process)", "ours")] = (float(t0_ours.iloc[0]) / t[time_col]) if len(t0_ours) else np.nan
    cols.update(_triple(t.accuracy, t.accuracy_pct, "accuracy (%)"))
    cols[("accuracy (%)", SD)] = t.accuracy_pct_sd
    cols.update(_triple(t.impact, t[impact_col], IMPACT, t[wall_impact] if cpu else None))
    out = pd.DataFrame(cols)
    out.insert(2, ("", "more engines than cores"), np.where(out[("", "processes")] > ours.cores, "yes", "no"))
    out.insert(3, ("", "verdict (accuracy)"), [accuracy_verdict(d) if not math.isnan(d) else "not run"
                                               for d in out[("accuracy (%)", DIFF)]])
    return out


def table_ii_comparison(ours: Ours) -> pd.DataFrame:
    """The paper's Table II (no communication overhead) beside ours.

    Our time is the slowest engine's fit, as in the paper: its CPU time (``fit_cpu_seconds_max``) where
    recorded, with the wall time (``fit_seconds_max``) beside it, else the wall time; the impact factor
    is accuracy / that time. Speedups are relative to each side's own 1-process time.
    """
    return _parallel_table(ours, paper.table_ii(), "fit_seconds_max", "impact_fit")


def table_iii_comparison(ours: Ours) -> pd.DataFrame:
    """The paper's Table III (with its 11 s scatter) beside ours (fit + distribution + gather/combine).

    The fit is the slowest engine's CPU time where recorded (distribution and combination are
    communication, measured in wall time), with the all-wall total beside it.
    """
    return _parallel_table(ours, paper.table_iii(), "time_with_overhead", "impact_overhead")
