"""Chapter 04's text: the communication strategies' sentences, display tables and figures.

Every number comes from :mod:`exemplar.analysis.communication` (the summary of
``results/communication.csv`` and :func:`~exemplar.analysis.communication.speed_at_same_accuracy`,
the answer); this module only says it. The notebook ``04-communication`` shows it as ``page``.

For the report's first page, :func:`verdict_sentence` takes a ``lead``:
``verdict_sentence(answer, tolerance_pp, lead="")`` — with ``lead`` given, the sentence starts with
it and continues in lower case (``lead="Communicating during training instead (the communication
chapter), and "`` gives "Communicating during training instead (the communication chapter), and
counting as ...").
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from exemplar import config
from exemplar.analysis import provenance
from exemplar.analysis.communication import (SCALE_NAME, accuracy_grid, by_scale, effects, estimated, timing_gap_pct,
                                             variants, with_derived)
from exemplar.parallel import APART
from exemplar.reporting import sweep


# ---------------------------------------------------------------------------------------------- the plan and the runs
def plan_sentence(p) -> str:
    """The classifier and the number of runs, for the notebook's first paragraph of results."""
    n_variants = len(variants(p.strategies, p.sync_every))
    n_runs = n_variants * len(p.engine_counts) * len(p.scale_inputs) * p.repeats
    return (f"Classifier: {sweep.classifier_text(p)}. "
            f"{n_variants} strategy variants × {len(p.engine_counts)} engine counts × {len(p.scale_inputs)} input "
            f"scalings × {p.repeats} repeats = **{n_runs} runs**.")


def run_sentence(run) -> str:
    """How many runs, how long, where written, the machine, and whether the replicas stayed identical, from a
    :class:`~exemplar.experiments.runner.ChapterRun`."""
    runs, prov = run.rows, run.prov
    replicated = runs.replicas_identical.dropna()
    cores = provenance.cores(prov)
    return (f"{len(runs)} runs in **{prov['run_seconds'] / 60:.1f} minutes**, written to "
            f"`{config.display_path(run.path)}`. This machine has **{cores} cores** ({prov['machine']['cpu_model']}); "
            f"runs with more engines than cores share them. In all {len(replicated)} periodic and "
            f"gradient-allreduce runs the engines ended with "
            f"{'bit-identical' if replicated.all() else 'NOT identical'} weights.")


def validation_sentence(runs, cores: int) -> str:
    """Where engines had a core each: the dedicated-core estimate over the measured training time, per strategy."""
    from exemplar.parallel import dedicated

    if "dedicated_seconds" not in runs.columns:
        return "These runs predate the dedicated-core estimate (no `dedicated_seconds` column)."
    return dedicated.validation_sentence(dedicated.validation(with_derived(runs), cores, by=("variant",)))


# ---------------------------------------------------------------------------------------------- the answer
def engines_list(ns: Iterable) -> str:
    """Engine counts in words: ``"2"``, ``"2 and 4"``, ``"2, 4 and 6"``."""
    ns = [str(int(n)) for n in ns]
    return ns[0] if len(ns) == 1 else ", ".join(ns[:-1]) + " and " + ns[-1]


def verdict(t, tolerance_pp: float) -> str:
    """The answer for one input scaling (rows of :func:`~exemplar.analysis.communication.speed_at_same_accuracy`)."""
    fast = t[t.faster].n_engines.tolist()
    slow = t[t.reached & ~t.faster].n_engines.tolist()
    rest = [n for n in t.n_engines if n not in fast]
    if fast and not rest:
        return "yes, on every engine count measured"
    if fast:
        return f"yes on {engines_list(fast)} engines, not on {engines_list(rest)}"
    if slow:
        return f"only without a speedup (within {tolerance_pp:g} pp on {engines_list(slow)} engines, but slower)"
    return "no, on no engine count"


def firmness(r, tolerance_pp: float) -> str:
    """Why one engine count's answer (a row of :func:`~exemplar.analysis.communication.speed_at_same_accuracy`)
    is not firm, in words: "within 0.5 pp by 0.10 pp, inside the spread of 0.80 pp over 3 repeats: not a firm
    yes"; ``""`` where it is firm, or its spread is not known (one run, or a table without the columns)."""
    if r.get("firm", True) or pd.isna(r.get("spread_pp", np.nan)):
        return ""
    bits = []
    if r.margin_pp < r.spread_pp:
        where = (f"within {tolerance_pp:g} pp by {r.margin_pp:.2f} pp" if r.reached
                 else f"outside {tolerance_pp:g} pp by {r.margin_pp:.2f} pp")
        bits.append(f"{where}, inside the spread of {r.spread_pp:.2f} pp")
    if r.reached and abs(r.speedup - 1) < r.speedup_sd:
        bits.append(f"at {r.speedup:.2f}× the sequential speed, inside its spread of {r.speedup_sd:.2f}×")
    answer = "yes" if r.faster else "no"
    return f"{' and '.join(bits)} over {int(r.repeats)} repeats: not a firm {answer}"


def flags(t, tolerance_pp: float) -> str:
    """The engine counts of one input scaling whose answer is not firm (:func:`firmness`), in brackets:
    " (on 2 engines within 0.5 pp by 0.10 pp, inside the spread of 0.80 pp over 3 repeats: not a firm yes)";
    ``""`` where every answer is firm."""
    said = [f"on {int(r.n_engines)} engines {firmness(r, tolerance_pp)}" for _, r in t.iterrows()
            if firmness(r, tolerance_pp)]
    return f" ({'; '.join(said)})" if said else ""


def repeats_text(answer) -> str:
    """The runs the answer's means average: "3 repeats", "2–3 repeats", "one run"; ``""`` without the column."""
    if "repeats" not in answer or answer.repeats.isna().all():
        return ""
    low, high = int(answer.repeats.min()), int(answer.repeats.max())
    return "one run" if high == 1 else f"{low}{'' if low == high else f'–{high}'} repeats"


def verdict_sentence(answer, tolerance_pp: float, lead: str = "") -> str:
    """The verdict per input scaling, in one sentence, with the engine counts whose answer is not firm
    (:func:`flags`).

    Parameters
    ----------
    answer : DataFrame
        :func:`exemplar.analysis.communication.speed_at_same_accuracy`'s rows.
    tolerance_pp : float
        What "the same accuracy" meant for them, in percentage points.
    lead : str
        Words to start the sentence with; the sentence then goes on in lower case ("counting as ...").
    """
    verdicts = "; ".join(f"with {SCALE_NAME[s]}{', as in the paper' if not s else ''}, **{verdict(t, tolerance_pp)}**"
                         f"{flags(t, tolerance_pp)}" for s, t in by_scale(answer).items())
    return (f"{lead}{'counting' if lead else 'Counting'} as \"the same accuracy\" a mean test accuracy within "
            f"{tolerance_pp:g} percentage points of the sequential run's: {verdicts}.")


def _marked(r) -> str:
    """How a speedup was obtained, in brackets: measured, or estimated for a core per engine."""
    return " (estimated for a core per engine)" if r.get("basis") == "estimate" else " (measured)"


def details(t, cores: int) -> str:
    """For one input scaling: the sequential run, then what each engine count reached, and how fast."""
    ref = t.iloc[0]
    bits = []
    for _, r in t.iterrows():
        shared = " (sharing cores)" if r.n_engines > cores and r.get("basis") != "estimate" else ""
        if r.reached:
            bits.append(f"on {r.n_engines} engines{shared} *{r.fastest}* reached {r.accuracy_pct:.2f} % "
                        f"({r.gap_pp:+.2f} pp) at **{r.speedup:.2f}×** the sequential speed{_marked(r)}")
        else:
            bits.append(f"on {r.n_engines} engines{shared} no strategy did; the closest, *{r.most_accurate}*, "
                        f"was {-r.most_accurate_gap_pp:.2f} pp short")
    return (f"With {SCALE_NAME[bool(ref.scale_inputs)]} the sequential run reaches {ref.sequential_accuracy:.2f} % "
            f"in {ref.sequential_wall:.2f} s; " + "; ".join(bits) + ".")


def answer_paragraph(answer, tolerance_pp: float, cores: int, repeats: int) -> str:
    """The chapter's answer to its title question (glued under the title as ``answer``)."""
    basis = ("; estimated ones, for more engines than cores, replace the training time of each run (the "
             "sequential run's too) by its estimate with a core per engine: per communication round the "
             "slowest engine's compute CPU time, plus the collective modelled as recursive doubling"
             if estimated(answer) else "")
    return (f"**The answer, as measured in this chapter.** {verdict_sentence(answer, tolerance_pp)} "
            + " ".join(details(t, cores) for t in by_scale(answer).values())
            + f" ({'Measured s' if basis else 'S'}peedups compare wall times, including reading and distributing "
            f"the data, on this {cores}-core machine{basis}; "
            f"{'means of ' + str(repeats) + ' repeats' if repeats > 1 else 'one run each'}.)")


def timing_noise(summary) -> str:
    """How far apart one-shot and ensemble (the same fit) are in wall time on one engine; ``""`` without ensemble."""
    gap = timing_gap_pct(summary)
    if gap is None:
        return ""
    return (f" How precise are the speedups? On one engine, one-shot and ensemble run the very same fit "
            f"(bit-identical models); their mean wall times differ by {gap:.0f} % here, which is "
            "the timing noise of this machine to keep in mind when reading the speedup columns.")


def answer_table(answer, tolerance_pp: float) -> pd.DataFrame:
    """:func:`~exemplar.analysis.communication.speed_at_same_accuracy`'s table with readable columns; where some
    spread over repeats is known, also the repeats, the accuracy margin and its spread, the speedup's spread
    and whether the answer is firm."""
    t = answer.copy()
    for column in ("basis", "estimated_wall", "speedup_estimate"):
        if column not in t:
            t[column] = "measured" if column == "basis" else np.nan
    t["inputs"] = t.scale_inputs.map(SCALE_NAME)
    t["reached"] = t.reached.map({True: "yes", False: "no"})
    t["fastest"] = t.fastest.fillna("–")
    t = t[["inputs", "n_engines", "sequential_accuracy", "reached", "fastest", "accuracy_pct", "gap_pp",
           "wall_seconds", "speedup_measured" if "speedup_measured" in t else "speedup", "speedup_training",
           "estimated_wall", "speedup_estimate", "basis", "most_accurate", "most_accurate_gap_pp"]]
    t.columns = ["inputs", "engines", "sequential accuracy (%)", f"within {tolerance_pp:g} pp?",
                 "fastest such strategy", "its accuracy (%)", "gap (pp)", "its wall time (s)", "speedup (wall)",
                 "speedup (training)", "its wall time, a core each (estimate, s)", "speedup, a core each (estimate)",
                 "answer from", "most accurate strategy", "its gap (pp)"]
    if "spread_pp" in answer and answer.spread_pp.notna().any():
        t["repeats"] = answer.repeats.to_numpy()
        t[f"margin to {tolerance_pp:g} pp (pp)"] = answer.margin_pp.to_numpy()
        t["its spread (pp)"] = answer.spread_pp.to_numpy()
        t["speedup's spread"] = answer.speedup_sd.to_numpy()
        t["firm?"] = np.where(answer.firm, "yes", "no: inside the spread")
    return t


def summary_bullets(answer, tolerance_pp: float, run_seconds: float, cores: int) -> str:
    """The chapter's summary, as a markdown list: the verdict, the best speedup per scaling, the machine."""
    bullets = [f"- {verdict_sentence(answer, tolerance_pp)}"]
    for s, t in by_scale(answer).items():
        reached = t[t.reached]
        if len(reached):
            top = reached.loc[reached.speedup.idxmax()]
            bullets.append(f"- With {SCALE_NAME[s]}, the best speedup at the sequential accuracy was "
                           f"**{top.speedup:.2f}×**{_marked(top)}, by *{top.fastest}* on {top.n_engines} engines.")
        else:
            bullets.append(f"- With {SCALE_NAME[s]}, no parallel strategy came within {tolerance_pp:g} pp of "
                           "the sequential accuracy.")
    above = ("their speeds are estimated for a core per engine from each engine's CPU time" if estimated(answer)
             else "their speed says little about a machine with a core per engine")
    bullets.append(f"- The runs took {run_seconds / 60:.1f} minutes on {cores} cores; engine counts above "
                   f"{cores} time-share the cores, so {above}.")
    return "\n".join(bullets)


# ---------------------------------------------------------------------------------------------- figures
def accuracy_figure(summary):
    """Accuracy against engine count per strategy (:func:`exemplar.reporting.strategy_figures.accuracy_by_engines`)."""
    from exemplar.reporting import strategy_figures

    return strategy_figures.accuracy_by_engines(summary)


def show_frontiers(summary, tolerance_pp: float, cores: int) -> None:
    """Show :func:`exemplar.reporting.strategy_figures.frontier` for each input scaling, raw pixels first."""
    from exemplar.reporting import strategy_figures as figures

    for scale in sorted(set(summary.scale_inputs)):
        part = summary[summary.scale_inputs == scale]
        figures.frontier(part, f"Accuracy against wall time, {SCALE_NAME[bool(scale)]}", tolerance_pp,
                         cores=cores).show()


# ---------------------------------------------------------------------------------------------- the cost
def communication_table(summary) -> pd.DataFrame:
    """Epochs, rounds, MB per engine and seconds of communication of the parallel runs."""
    c = summary[summary.n_engines > 1].copy()
    c["inputs"] = c.scale_inputs.map(SCALE_NAME)
    c["MB per engine"] = c.comm_bytes / 1e6
    c["share of wall time (%)"] = 100 * c.comm_seconds / c.wall_seconds_mean
    c = c[["inputs", "variant", "n_engines", "n_iter_max", "comm_rounds", "MB per engine", "comm_seconds",
           "share of wall time (%)", "wall_seconds_mean"]]
    c.columns = ["inputs", "strategy", "engines", "epochs run", "rounds", "MB per engine", "communication (s)",
                 "share of wall time (%)", "wall time (s)"]
    return c.sort_values(["inputs", "strategy", "engines"])


def epochs_paragraph(summary) -> str:
    """Epochs run per strategy, against the sequential run's, and what the stopping rules made of them."""
    par = summary[summary.n_engines > 1]
    ep = par.groupby(["scale_inputs", "variant"]).n_iter_max.mean().round(0).astype(int)
    seq_ep = summary[(summary.n_engines == 1) & (summary.variant == "one-shot")].set_index("scale_inputs").n_iter_max
    text = ("Epochs run, mean over the parallel runs (the sequential run's in brackets): " + "; ".join(
        f"{SCALE_NAME[bool(s)]} ({seq_ep[s]:.0f}): " + ", ".join(f"*{v}* {ep[(s, v)]}" for v in ep[s].index)
        for s in ep.index.levels[0]) + ". One-shot and ensemble engines each stop when *their own* shard's "
        "training loss stalls; periodic and gradient-allreduce stop when the loss of all the data together does.")
    local = par[par.strategy.isin(APART)].n_iter_max.mean()
    synced = par[par.strategy.isin(["periodic", "gradient-allreduce"])].n_iter_max.mean()
    if synced > local + 1:
        text += (f" Here that kept them training longer ({synced:.0f} epochs on average against {local:.0f}): part "
                 "of the accuracy they recover is that longer training, and part of the time they cost.")
    elif not np.isnan(synced):
        text += f" Here both ran about as many epochs ({synced:.0f} and {local:.0f} on average)."
    return text


# ---------------------------------------------------------------------------------------------- input scaling
def effects_table(summary) -> pd.DataFrame:
    """:func:`~exemplar.analysis.communication.effects` with the strategy as a column, for the report."""
    return effects(summary).reset_index().rename(columns={"variant": "strategy"})


def scaling_paragraph(summary) -> str:
    """Input scaling's effect beside parallelism's; whether every scaled parallel run beats raw sequential."""
    acc, scales, n_max = accuracy_grid(summary)
    if len(scales) != 2:
        return "Only one input scaling was run, so its effect cannot be compared here."
    eff = effects(summary)
    seq = eff.loc["one-shot"]
    lost = {s: eff[f"parallelism effect, {SCALE_NAME[s]} (pp)"] for s in scales}
    best = {s: lost[s].idxmax() for s in scales}
    text = (f"Scaling the inputs moved the sequential accuracy by **{seq['scaling effect, 1 engine (pp)']:+.2f} pp**. "
            f"Going from 1 to {n_max} engines moved one-shot averaging's accuracy by "
            f"{lost[False]['one-shot']:+.2f} pp on raw pixels and {lost[True]['one-shot']:+.2f} pp on scaled ones; "
            f"the strategy that kept the most was *{best[False]}* on raw pixels ({lost[False][best[False]]:+.2f} pp) "
            f"and *{best[True]}* on scaled ones ({lost[True][best[True]]:+.2f} pp). ")
    raw_seq = acc[(False, 1)]["one-shot"]
    scaled_par = summary[summary.scale_inputs & (summary.n_engines > 1)]
    worst = scaled_par.loc[scaled_par.accuracy_pct_mean.idxmin()]
    if worst.accuracy_pct_mean > raw_seq:
        return text + (f"Every parallel run on scaled pixels, even the worst (*{worst.variant}* on {worst.n_engines} "
                       f"engines, {worst.accuracy_pct_mean:.2f} %), is more accurate than the sequential run on raw "
                       f"pixels as the paper trained it ({raw_seq:.2f} %).")
    return text + (f"The worst parallel run on scaled pixels (*{worst.variant}* on {worst.n_engines} engines, "
                   f"{worst.accuracy_pct_mean:.2f} %) falls below the sequential run on raw pixels ({raw_seq:.2f} %).")


def recovery_sentence(summary) -> str:
    """On the first scaling and the most engines: one-shot's loss, and how much of it each other variant recovered."""
    _, scales, n_max = accuracy_grid(summary)
    raw = summary[summary.scale_inputs == scales[0]]
    at = raw[raw.n_engines == n_max].set_index("variant").accuracy_pct_mean
    ref1 = raw[(raw.n_engines == 1) & (raw.variant == "one-shot")].accuracy_pct_mean.iloc[0]
    lines = [f"On {SCALE_NAME[scales[0]]} with {n_max} engines, one-shot averaging ended "
             f"{ref1 - at['one-shot']:.2f} pp below the sequential run."]
    for v in at.index.drop("one-shot"):
        lost, one = ref1 - at[v], ref1 - at["one-shot"]
        share = f", {100 * (1 - lost / one):.0f} % of one-shot's loss recovered" if one > 0 else ""
        lines.append(f"*{v}*: {lost:.2f} pp below{share}.")
    return " ".join(lines)
