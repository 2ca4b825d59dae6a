"""Chapter 02's text: the sequential sweep's sentences, Table I beside the paper's, and Figs 3–4.

Every number comes from :mod:`exemplar.analysis.sweep` (Table I, :func:`~exemplar.analysis.sweep.summarize`;
the optimum by impact factor, :func:`~exemplar.analysis.sweep.best_model`); this module only says and
draws it. The notebook ``02-sequential-sweep`` shows it as ``page``.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from exemplar import config, paper
from exemplar.analysis.sweep import BASIS, best_model, optimum, time_basis
from exemplar.reporting import figures



def classifier_text(p: Any) -> str:
    """"**H hidden units, at most E epochs** (where the choice came from)": the classifier the chapters after the
    sweep train, from ``p.hidden``, ``p.epochs`` and ``p.chosen_by`` (their ``parameters()``)."""
    return f"**{p.hidden} hidden units, at most {p.epochs} epochs** ({p.chosen_by})"

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
            f"the parallel chapters use {int(best.epochs)})")


def optimum_sentence(table: pd.DataFrame) -> str:
    """The optimum by impact factor (:func:`~exemplar.analysis.sweep.best_model`) beside the paper's, our
    (75, 75) classifier, why the epoch cap barely matters, and which time it is judged from.

    Parameters
    ----------
    table : DataFrame
        :func:`~exemplar.analysis.sweep.summarize`'s table.
    """
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


def time_figure(table: pd.DataFrame):
    """Fig 3: the mean training time over hidden units × epoch caps, the paper's Table I as markers."""
    return figures.surface(table, "time_mean", "Training time over hidden units and epochs", "time (s)",
                           paper=paper.table_i(), paper_column="time")


def accuracy_figure(table: pd.DataFrame):
    """Fig 4: the mean test accuracy over hidden units × epoch caps, the paper's Table I as markers."""
    return figures.surface(table, "accuracy_mean", "Test accuracy over hidden units and epochs", "accuracy (%)",
                           paper=paper.table_i(), paper_column="accuracy")
