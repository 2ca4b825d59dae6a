"""The paper's Tables I–III beside ours, and every claim of the paper with a computed verdict.

Everything here *reads* what the notebooks wrote (``results/*.csv`` and their provenance
``results/*.json``, and the executed notebooks in ``book/_run/``); nothing is re-measured.

The verdict rules and their thresholds are :mod:`exemplar.reporting.verdicts` (re-exported here);
the status page and the downloads are :mod:`exemplar.reporting.status`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from exemplar import config, metrics, paper, results
from exemplar.analysis import exemplar_parallel, provenance, sweep
from exemplar.reporting.verdicts import (ACCURACY_CAVEAT_PP, ACCURACY_PP, CAVEAT, FLAT_PP, NOT_REPRODUCED,
                                         RANK_CORRELATION, RANK_CORRELATION_CAVEAT, RATIO_TOLERANCE, REPRODUCED,
                                         accuracy_verdict, flat_verdict, rank_verdict, ratio_verdict, rules_markdown,
                                         spearman, worst)

__all__ = ["ACCURACY_CAVEAT_PP", "ACCURACY_PP", "CAVEAT", "FLAT_PP", "NOT_REPRODUCED", "RANK_CORRELATION",
           "RANK_CORRELATION_CAVEAT", "RATIO_TOLERANCE", "REPRODUCED", "accuracy_verdict", "rank_verdict",
           "ratio_verdict", "rules_markdown", "Ours", "read_ours", "setup_differences", "setup_note_markdown",
           "table_i_comparison", "table_ii_comparison", "table_iii_comparison", "Claim", "claims", "claims_table",
           "verdict_counts", "verdict_sentence", "headline_markdown", "readme_figure", "summarize_parallel",
           "timing_note_markdown", "pooled_times"]

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

    Times are judged from CPU time where the results record it (:attr:`sweep_basis`,
    :attr:`parallel_basis`), else from wall time.
    """

    sweep: pd.DataFrame
    parallel: pd.DataFrame
    sweep_prov: dict
    parallel_prov: dict
    cores: int

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

    Adds the means of :data:`CPU_COLUMNS` (NaN where the results record none),
    ``time_with_overhead_cpu`` (the slowest engine's fit CPU time + distribution + gather/combine) and
    the impact factors from them, ``impact_fit_cpu`` and ``impact_overhead_cpu``.
    """
    out = metrics.summarize_runs(one_shot)
    present = [c for c in CPU_COLUMNS if c in one_shot.columns]
    means = one_shot.groupby("n_engines")[present].mean() if present else pd.DataFrame(index=out.n_engines)
    for c in CPU_COLUMNS:
        out[c] = out.n_engines.map(means[c]) if c in means else np.nan
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
                provenance.cores(parallel_prov))


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
        out.append(f"The parallel runs trained {params['hidden']} hidden units for at most {params['epochs']} epochs "
                   f"(this report's optimum by impact factor); the paper's Tables II–III trained "
                   f"{paper.OPTIMUM[0]} hidden units for {paper.OPTIMUM[1]} epochs.")
    return out


def setup_note_markdown(ours: Ours) -> str:
    """A MyST admonition on how our set-up differs from the paper's: a warning when the data or repeats
    differ (a QUICK run, whose verdicts say little), a note when only the classifier does."""
    differences = setup_differences(ours)
    if not differences:
        return "These results used the paper's set-up: 6,000 training images, five repeats per point."
    quick = any("n_train" in d or "repeats" in d for d in differences)
    kind, lead = ("warning", "These results were not produced with the paper's set-up, so their verdicts say "
                             "little about the paper:") if quick else ("note", "One difference from the paper's set-up:")
    return f":::{{{kind}}}\n{lead}\n\n" + "\n".join(f"- {d}" for d in differences) + "\n:::"


def timing_note_markdown(ours: Ours) -> str:
    """Which time the verdicts are judged from, and why, and how busy the machine was for each results file
    (:func:`exemplar.reporting.status.timing_note_markdown`)."""
    from exemplar.reporting import status

    return status.timing_note_markdown({"sweep": ours.sweep_basis, "parallel runs": ours.parallel_basis},
                                       {"sweep": ours.sweep_prov, "parallel runs": ours.parallel_prov})


# ---------------------------------------------------------------------------------------------
# The paper's tables beside ours
# ---------------------------------------------------------------------------------------------

#: Column label of our measured wall time beside the CPU time a verdict is judged from.
WALL = "ours, wall"


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
        paper's table (ours NaN where our sweep did not run that point), and a ``verdict`` on
        the accuracy (times are machine-dependent and are not judged point by point). Our time
        and impact factor are from CPU time where the sweep recorded it, with the wall time
        beside them (:data:`WALL`).
    """
    t = paper.table_i().merge(ours.sweep.rename(columns={"impact": "impact_wall"}), on=["hidden", "epochs"],
                              how="left")
    time_col, impact_col = sweep.BASIS[ours.sweep_basis]
    cpu = ours.sweep_basis == "cpu"
    cols = {("", "hidden"): t.hidden, ("", "epochs"): t.epochs}
    cols.update(_triple(t.time, t[time_col], "time (s)", t.time_mean if cpu else None))
    cols.update(_triple(t.accuracy, t.accuracy_mean, "accuracy (%)"))
    cols.update(_triple(t.impact, t[impact_col] if cpu else t.impact_wall, IMPACT, t.impact_wall if cpu else None))
    out = pd.DataFrame(cols)
    out.insert(2, ("", "verdict (accuracy)"), [accuracy_verdict(d) if not math.isnan(d) else "not run"
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
    cols = {("", "processes"): t.n_processes}
    cols.update(_triple(t.time, t[time_col], "time (s)", t[wall_time] if cpu else None))
    cols[("speedup (× 1 process)", "paper")] = t0_paper / t.time
    cols[("speedup (× 1 process)", "ours")] = (float(t0_ours.iloc[0]) / t[time_col]) if len(t0_ours) else np.nan
    cols.update(_triple(t.accuracy, t.accuracy_pct, "accuracy (%)"))
    cols.update(_triple(t.impact, t[impact_col], IMPACT, t[wall_impact] if cpu else None))
    out = pd.DataFrame(cols)
    out.insert(1, ("", "more engines than cores"), np.where(out[("", "processes")] > ours.cores, "yes", "no"))
    out.insert(2, ("", "verdict (accuracy)"), [accuracy_verdict(d) if not math.isnan(d) else "not run"
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


# ---------------------------------------------------------------------------------------------
# Claims and verdicts
# ---------------------------------------------------------------------------------------------

@dataclass
class Claim:
    """One claim of the paper, what it said, what we measured, and the verdict with its reason."""

    table: str
    claim: str
    paper: str
    ours: str
    verdict: str
    why: str


def _fmt(values: Iterable[float], digits: int = 2, sep: str = " / ") -> str:
    return sep.join("–" if (v is None or (isinstance(v, float) and math.isnan(v))) else f"{v:.{digits}f}"
                    for v in values)


def claims(ours: Ours) -> list[Claim]:
    """Every claim of the paper's Tables I–III, with our numbers and a computed verdict.

    See :mod:`exemplar.reporting.verdicts` for the rules. Machine-dependent quantities (seconds,
    impact factors) are judged by their shape: rankings and ratios to the 1-process run.
    """
    t1 = table_i_comparison(ours)
    ran = t1[t1[("accuracy (%)", "ours")].notna()]
    n_grid, n_ran = len(t1), len(ran)
    subset = "" if n_ran == n_grid else f" (the {n_ran} of {n_grid} grid points our sweep ran)"
    out = [table_i_accuracy_claim(ran, subset)]
    out += table_i_flat_claims(ours)
    out.append(table_i_time_claim(ran, subset, pooled_times(ours, ran)))
    out.append(optimum_claim(ours))
    out += parallel_claims(ours)
    return out


def table_i_accuracy_claim(ran: pd.DataFrame, subset: str = "") -> Claim:
    """Table I's accuracies, point by point (``ran``: the rows of :func:`table_i_comparison` our sweep ran)."""
    d = ran[("accuracy (%)", DIFF)]
    within = int((d.abs() <= ACCURACY_PP).sum())
    return Claim("I", "Test accuracy per hidden size × epochs" + subset,
                 f"{ran[('accuracy (%)', 'paper')].min():.2f}–{ran[('accuracy (%)', 'paper')].max():.2f} %",
                 f"{ran[('accuracy (%)', 'ours')].min():.2f}–{ran[('accuracy (%)', 'ours')].max():.2f} %",
                 accuracy_verdict(d), f"{within} of {len(ran)} points within {ACCURACY_PP:g} pp; largest difference "
                                      f"{d.abs().max():.2f} pp.")


def table_i_flat_claims(ours: Ours) -> list[Claim]:
    """Accuracy does not change with epochs where the paper's is constant (none when we cannot tell)."""
    theirs = paper.table_i().groupby("hidden")["accuracy"].agg(lambda s: s.max() - s.min())
    flat_h = [h for h, r in theirs.items() if r < 1e-9]
    mine = ours.sweep.groupby("hidden")["accuracy_mean"].agg(lambda s: s.max() - s.min() if len(s) > 1 else np.nan)
    mine = mine.reindex(flat_h).dropna()
    flat_h = [int(h) for h in mine.index]
    if not len(mine):
        return []
    largest = float(mine.max())
    return [Claim("I", "Accuracy stops changing with the epoch cap (early stopping) at "
                       + ", ".join(str(h) for h in flat_h) + " hidden units",
                  "range 0.00 pp", f"range ≤ {largest:.2f} pp", flat_verdict(largest),
                  f"largest accuracy range across epoch caps at those sizes: {largest:.2f} pp.")]


def pooled_times(ours: Ours, ran: pd.DataFrame) -> pd.Series:
    """Our judged time per row of ``ran`` (rows of :func:`table_i_comparison`), pooled over the epoch caps
    that trained the same networks (:func:`exemplar.analysis.sweep.pooled`): their times differ only
    by noise, so they rank as ties."""
    time_col, _ = sweep.BASIS[ours.sweep_basis]
    table = ours.sweep.assign(pooled=sweep.pooled(ours.sweep, time_col)).set_index(["hidden", "epochs"])
    keys = pd.MultiIndex.from_arrays([ran[("", "hidden")], ran[("", "epochs")]])
    return pd.Series(table["pooled"].reindex(keys).to_numpy(), index=ran.index)


def table_i_time_claim(ran: pd.DataFrame, subset: str = "", ours_times: pd.Series | None = None) -> Claim:
    """Table I's times: machine-dependent, so their ranking over the grid is compared.

    ``ours_times`` (default: the table's own) are the times ranked, e.g. :func:`pooled_times`.
    """
    ours_times = ran[("time (s)", "ours")] if ours_times is None else ours_times
    rho = spearman(ran[("time (s)", "paper")], ours_times)
    ratio = (ran[("time (s)", "ours")] / ran[("time (s)", "paper")]).median()
    return Claim("I", "Training time per hidden size × epochs" + subset,
                 f"{ran[('time (s)', 'paper')].min():.2f}–{ran[('time (s)', 'paper')].max():.2f} s",
                 f"{ran[('time (s)', 'ours')].min():.2f}–{ran[('time (s)', 'ours')].max():.2f} s",
                 rank_verdict(rho),
                 f"seconds depend on the machine (ours are {ratio:.2f}× the paper's, median), so the ranking of "
                 f"the grid points is compared: Spearman ρ = {rho:.2f} (epoch caps that trained the same networks "
                 "rank as ties).")


def optimum_claim(ours: Ours) -> Claim:
    """The optimum by impact factor: the paper's grid point, its hidden size, or neither.

    Ours is :func:`exemplar.analysis.sweep.best_model`: from CPU time where recorded, and epoch caps
    that trained the same networks count as one, so the paper's point is reproduced when it is among them.
    """
    best = sweep.best_model(ours.sweep)
    ph, pe = paper.OPTIMUM
    bh, be = int(best.hidden), int(best.epochs)
    v = REPRODUCED if bh == ph and pe in best.caps else (CAVEAT if bh == ph else NOT_REPRODUCED)
    _, impact_col = sweep.BASIS[best.basis]
    at_paper = ours.sweep[(ours.sweep.hidden == ph) & (ours.sweep.epochs == pe)]
    there = (f"the paper's ({ph}, {pe}) scores {float(at_paper[impact_col].iloc[0]):.2f} here, "
             f"{float(at_paper[impact_col].iloc[0]) / best.impact:.0%} of our best" if len(at_paper)
             else f"our sweep did not run ({ph}, {pe})")
    caps = f"{best.caps[0]}–{best.caps[-1]}" if len(best.caps) > 1 else f"{be}"
    same = (f"; caps {caps} trained the same networks and count as one" if len(best.caps) > 1 else "")
    return Claim("I", f"The best impact factor (accuracy / time) is {ph} hidden units, {pe} epochs",
                 f"({ph}, {pe}): impact {paper.table_i().impact.max():.2f}",
                 f"({bh}, {caps}): impact {best.impact:.2f}", v,
                 f"{there}{same}; judged from {'CPU' if best.basis == 'cpu' else 'wall'} time; the impact factor "
                 "divides by seconds, so its winner depends on the machine.")


def parallel_claims(ours: Ours) -> list[Claim]:
    """Tables II and III: accuracy, speedup and impact factor against processes, and the overhead's effect.

    None when our parallel runs have no engine count above 1 in the paper's tables.
    """
    t2 = table_ii_comparison(ours)
    par = t2[t2[("accuracy (%)", "ours")].notna()]
    more = par[par[("", "processes")] > 1]
    if not len(more):
        return []
    acc = par[("accuracy (%)", "ours")].to_numpy()
    monotone = bool(np.all(np.diff(acc) < 0))
    v = accuracy_verdict(more[("accuracy (%)", DIFF)])
    if not monotone:
        v = NOT_REPRODUCED
    out = [Claim("II", "Accuracy falls as the data are split over more processes",
                 _fmt(par[("accuracy (%)", "paper")]) + " %", _fmt(par[("accuracy (%)", "ours")]) + " %", v,
                 f"on {_fmt(par[('', 'processes')], 0)} processes; largest difference "
                 f"{more[('accuracy (%)', DIFF)].abs().max():.2f} pp, ours "
                 f"{'falls' if monotone else 'does not fall'} with every added process.")]
    out.append(ratio_claim(t2, "speedup (× 1 process)",
                           "Training gets faster with more processes (speedup without overhead)", ours.cores,
                           ours.parallel_basis))
    out.append(ratio_claim(t2, IMPACT, "The impact factor rises with more processes (no overhead)", ours.cores,
                           ours.parallel_basis))
    out.append(overhead_claim(ours, table_iii_comparison(ours)))
    return out


def ratio_claim(table: pd.DataFrame, quantity: str, claim_text: str, cores: int, basis: str = "wall") -> Claim:
    """A Table II quantity as ratios to each side's 1-process run, judged at the engine counts with a core each.

    ``basis`` (``"cpu"`` or ``"wall"``) names the time our figures come from, for the reason given.
    """
    rows = table[table[(quantity, "ours")].notna() & (table[("", "processes")] > 1)]
    if quantity.startswith("impact"):
        p1 = float(table.loc[table[("", "processes")] == 1, (quantity, "paper")].iloc[0])
        o1 = table.loc[table[("", "processes")] == 1, (quantity, "ours")]
        o1 = float(o1.iloc[0]) if len(o1) else np.nan
        theirs_r, ours_r = rows[(quantity, "paper")] / p1, rows[(quantity, "ours")] / o1
    else:
        theirs_r, ours_r = rows[(quantity, "paper")], rows[(quantity, "ours")]
    fair = rows[("", "processes")] <= cores
    judged = [ratio_verdict(o, t) for o, t, f in zip(ours_r, theirs_r, fair) if f]
    n_list = _fmt(rows[("", "processes")], 0)
    if not judged:
        v, note = CAVEAT, f"no engine count above 1 has a core each on this {cores}-core machine"
    else:
        v = worst(judged)
        note = (f"judged at {_fmt(rows[('', 'processes')][fair], 0)} processes (a core each)")
        if (~fair).any():
            if v == REPRODUCED:
                v = CAVEAT
            note += (f"; {_fmt(rows[('', 'processes')][~fair], 0)} processes share this machine's "
                     f"{cores} cores and are not judged")
    return Claim("II", claim_text, f"{_fmt(theirs_r)} × on {n_list}", f"{_fmt(ours_r)} × on {n_list}", v,
                 f"ratios to each side's own 1-process run (seconds depend on the machine; ours from "
                 f"{'CPU' if basis == 'cpu' else 'wall'} time); {note}.")


def overhead_claim(ours: Ours, t3: pd.DataFrame) -> Claim:
    """Table III: communication overhead makes parallel training slower than sequential."""
    rows3 = t3[t3[("time (s)", "ours")].notna()]
    t1_ours = float(rows3.loc[rows3[("", "processes")] == 1, ("time (s)", "ours")].iloc[0]) \
        if (rows3[("", "processes")] == 1).any() else np.nan
    p3 = rows3[rows3[("", "processes")] > 1]
    slower = bool((p3[("time (s)", "ours")] > t1_ours).all())
    overhead = ours.parallel.loc[ours.parallel.n_engines > 1, ["distribute_seconds", "combine_seconds"]].sum(axis=1)
    return Claim("III", "With the cost of sending the data (the paper's 11 s scatter), parallel training is "
                        "slower than sequential and the impact factor collapses",
                 f"time {_fmt(rows3[('time (s)', 'paper')])} s, impact {_fmt(rows3[(IMPACT, 'paper')])}",
                 f"time {_fmt(rows3[('time (s)', 'ours')])} s, impact {_fmt(rows3[(IMPACT, 'ours')])}",
                 REPRODUCED if slower else NOT_REPRODUCED,
                 f"our distribution + gather + combine cost at most {overhead.max() * 1e3:.0f} ms against the "
                 f"paper's {paper.SCATTER_SECONDS:.0f} s, so parallel runs with overhead are "
                 f"{'slower' if slower else 'still faster'} than 1 process.")

def claims_table(ours: Ours) -> pd.DataFrame:
    """:func:`claims` as a table, one row per claim (columns: table, claim, paper, ours, verdict, why)."""
    return pd.DataFrame([asdict(c) for c in claims(ours)])


def verdict_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many claims got each verdict, in the order reproduced, with a caveat, not reproduced."""
    return {v: int((table["verdict"] == v).sum()) for v in (REPRODUCED, CAVEAT, NOT_REPRODUCED)}


def verdict_sentence(table: pd.DataFrame) -> str:
    """:func:`verdict_counts` in words: "**5** reproduced, **1** reproduced with a caveat, ... (of N claims)."

    Parameters
    ----------
    table : DataFrame
        :func:`claims_table` (a ``verdict`` column).
    """
    return ", ".join(f"**{n}** {v}" for v, n in verdict_counts(table).items()) + f" (of {len(table)} claims)."


def headline_markdown(directory: Path | None = None) -> str:
    """The claims table as a Markdown table (the README's "What you get" is this, from a full run)."""
    table = claims_table(read_ours(directory))
    lines = ["| Table | The paper's claim | Paper | This report | Verdict |", "|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.table} | {row.claim} | {row.paper} | {row.ours} | **{row.verdict}** |")
    return "\n".join(lines)



def readme_figure(directory: Path | None = None):
    """The README's picture: Fig 7, the averaged network's accuracy against processes, ours beside the paper's."""
    from exemplar.reporting import figures

    ours = read_ours(directory)
    params = ours.parallel_prov.get("parameters", {})
    title = (f"Test accuracy of the averaged network ({params.get('hidden', '?')} hidden units, "
             f"{params.get('n_train', '?'):,} images)" if isinstance(params.get("n_train"), int)
             else "Test accuracy of the averaged network")
    return figures.versus_processes(ours.parallel, "accuracy_pct", "accuracy_pct_sd", title, "test accuracy (%)",
                                    paper=paper.table_ii(), paper_y="accuracy", cores=ours.cores)
