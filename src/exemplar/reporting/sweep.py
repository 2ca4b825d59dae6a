"""Chapter 02's text: the sequential sweep's sentences, Table I beside the paper's, and Figs 3–4.

Every number comes from :mod:`exemplar.analysis.sweep` (Table I, :func:`~exemplar.analysis.sweep.summarize`;
the optimum by impact factor, :func:`~exemplar.analysis.sweep.best_model`; how firmly it stands out,
:func:`~exemplar.analysis.sweep.optimum_stability`); this module only says and
draws it. The notebook ``02-sequential-sweep`` shows it as ``page``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from exemplar import config, paper
from exemplar.analysis import provenance
from exemplar.analysis.sweep import BASIS, best_model, optimum, optimum_separated, time_basis
from exemplar.reporting import figures
from exemplar.reporting.status import precision_sentence



def classifier_text(p: Any) -> str:
    """"**H hidden units, at most E epochs** (where the choice came from)": the classifier the chapters after the
    sweep train, from ``p.hidden``, ``p.epochs`` and ``p.chosen_by`` (their ``parameters()``)."""
    return f"**{p.hidden} hidden units, at most {p.epochs} epochs** ({p.chosen_by})"


def run_sentence(run) -> str:
    """Where the fits are and how they ran: "N fits in `PATH` on CPU (C cores), run ...".

    Parameters
    ----------
    run : ChapterRun
        ``rows``, ``prov`` (its ``engines`` parameter: fits at once, 0 in this process) and ``path``
        (:func:`exemplar.experiments.runner.run_chapter`'s, as every chapter's ``run_sentence`` takes).
    """
    cores, engines = provenance.cores(run.prov), int(run.prov["parameters"].get("engines", 0))
    where = (f"{engines} at a time on {engines} engines, each fit one single-threaded process"
             + (" (more engines than cores: the fits share cores, and their times grow)" if engines > cores else "")
             if engines else "one after another in this process")
    return (f"{len(run.rows)} fits in `{config.display_path(run.path)}` "
            f"on {run.prov['machine']['cpu_model']} ({cores} cores), run {where}. "
            + precision_sentence(run.prov.get("parameters", {}).get("dtype")))


def table_beside_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Table I as the chapter shows it: :func:`~exemplar.analysis.sweep.summarize`'s table with readable
    names, beside the paper's."""
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
            f"`model = \"sweep-optimum\"` trains it with {int(best.epochs)})")


def _sd(sd: float) -> str:
    """" ± sd", or nothing when the sd is unknown (one repeat)."""
    return f" ± {sd:.2f}" if np.isfinite(sd) else ""


def optimum_sentence(table: pd.DataFrame) -> str:
    """The optimum by impact factor (:func:`~exemplar.analysis.sweep.best_model`) beside the paper's, the paper's
    classifier (:data:`exemplar.paper.OPTIMUM`, which the later chapters train), why the epoch cap barely matters,
    and which time it is judged from.

    Parameters
    ----------
    table : DataFrame
        :func:`~exemplar.analysis.sweep.summarize`'s table.
    """
    best = best_model(table)
    time_col, impact_col = BASIS[best.basis]
    cpu = best.basis == "cpu"
    p = optimum(paper.table_i())
    ph, pe = paper.OPTIMUM
    row75 = table[(table.hidden == ph) & (table.epochs == pe)]
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
        text.append(f" The paper's ({ph}, {pe}) classifier, which the later chapters train, reaches "
                    f"{r.accuracy_mean:.2f}{_sd(r.accuracy_sd)} % in {r[time_col]:.2f}{_sd(r[sd_col])} s"
                    f"{' of CPU time' if cpu else ''}, impact {r[impact_col]:.2f}.")
    text.append(
        f" For a fixed hidden size, accuracy varies by at most {flat.max():.2f} points across epoch counts: "
        "the fits stop early once the training loss stalls, so a larger `max_iter` changes nothing, which is "
        "why the paper's accuracy column is constant across epochs at 75, 85 and 100 hidden units. The impact factor "
        "therefore mostly ranks the hidden sizes by speed, and its winner depends on the machine and on the "
        "random initialisation as much as on the model. ")
    text.append(timing_sentence(best.basis))
    return "".join(text)


def _network(row: pd.Series) -> str:
    caps = row.caps
    cap = f"{caps[0]} epochs" if len(caps) == 1 else f"any cap from {caps[0]} to {caps[-1]} epochs"
    return f"{int(row.hidden)} hidden units, {cap}"


def stability_table(stability: pd.DataFrame) -> pd.DataFrame:
    """:func:`~exemplar.analysis.sweep.optimum_stability`'s table as the chapter shows it: readable names, the
    epoch caps that trained the same networks as one range, and the repeats each network won."""
    cpu = stability["basis"].eq("cpu").all()
    time = "CPU time (s)" if cpu else "time (s)"
    caps = stability["caps"].map(lambda c: str(c[0]) if len(c) == 1 else f"{c[0]}–{c[-1]}")
    won = [f"{round(w * n)} of {n}" for w, n in zip(stability["wins"], stability["repeats"])]
    out = pd.DataFrame({"rank": stability["rank"], "hidden": stability["hidden"], "epoch caps": caps,
                        "fits": stability["runs"], "accuracy (%)": stability["accuracy_mean"],
                        "accuracy sd": stability["accuracy_sd"], time: stability["time_mean"],
                        "time sd": stability["time_sd"], "impact": stability["impact"],
                        "impact sd": stability["impact_sd"], "best in repeats": won})
    return out.reset_index(drop=True)


def stability_sentence(stability: pd.DataFrame, paper_optimum: tuple[int, int] = paper.OPTIMUM) -> str:
    """How firmly the optimum stands out: this machine's optimum, its impact ± sd over the repeats, the runner-up,
    whether the lead is larger than the spread (:func:`~exemplar.analysis.sweep.optimum_separated`), and where the
    paper's optimum ranks here.

    Parameters
    ----------
    stability : DataFrame
        :func:`~exemplar.analysis.sweep.optimum_stability`'s table, best first.
    paper_optimum : (hidden, epochs)
        The paper's optimum by impact factor (:data:`exemplar.paper.OPTIMUM`).
    """
    best = stability.iloc[0]
    n = int(best.repeats)
    basis = "CPU" if best.basis == "cpu" else "wall"
    spread = (f" ± {best.impact_sd:.2f}** (± one sd of each repeat's impact, over {n} repeats; it has the best "
              f"impact of any network in {round(best.wins * n)} of them)" if n > 1 and np.isfinite(best.impact_sd)
              else f"** (from {n} repeat{'s' if n > 1 else ''}: no spread over repeats)")
    text = [f"On this machine the optimum by impact factor ({basis} time) is **{_network(best)}**, impact "
            f"**{best.impact:.2f}{spread}."]
    later = "which is why the later chapters train the paper's classifier"
    if len(stability) < 2:
        text.append(" It is the only network of the sweep.")
    else:
        second = stability.iloc[1]
        lead, gap = best.impact - second.impact, max(best.impact_sd, second.impact_sd)
        text.append(f" The runner-up, {_network(second)}, has {second.impact:.2f}"
                    + (f" ± {second.impact_sd:.2f}." if np.isfinite(second.impact_sd) else "."))
        if optimum_separated(stability):
            text.append(f" The lead, {lead:.2f}, is larger than the spread ({gap:.2f}): the argmax is separated "
                        f"from its neighbours on this machine, though another machine's CPU and BLAS may rank them "
                        f"otherwise, {later}.")
        elif np.isfinite(gap):
            text.append(f" The lead, {lead:.2f}, is within the spread ({gap:.2f}): another machine may pick "
                        f"another network, {later}.")
        else:
            text.append(f" With one repeat there is no spread to judge the lead of {lead:.2f} by: another machine "
                        f"may pick another network, {later}.")
    ph, pe = paper_optimum
    theirs = stability[(stability.hidden == ph) & stability.caps.map(lambda c: pe in c)]
    where = (f"it ranks {int(theirs.iloc[0]['rank'])} here, impact {theirs.iloc[0].impact:.2f}" if len(theirs)
             else f"it is not among the top {len(stability)} here")
    text.append(f" The paper's optimum was {ph} hidden units and {pe} epochs, on an {paper.MACHINE}; {where}.")
    return "".join(text)


def time_figure(table: pd.DataFrame):
    """Fig 3: the mean training time over hidden units × epoch caps, the paper's Table I as markers."""
    return figures.surface(table, "time_mean", "Training time over hidden units and epochs", "time (s)",
                           paper=paper.table_i(), paper_column="time")


def accuracy_figure(table: pd.DataFrame):
    """Fig 4: the mean test accuracy over hidden units × epoch caps, the paper's Table I as markers."""
    return figures.surface(table, "accuracy_mean", "Test accuracy over hidden units and epochs", "accuracy (%)",
                           paper=paper.table_i(), paper_column="accuracy")
