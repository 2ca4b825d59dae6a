"""Chapter 04b's text: the combination methods' sentences, display tables and figure.

Every function takes :func:`exemplar.analysis.combining.summarize`'s table (one row per data set,
scaling, start, engine count and method), whose numbers :mod:`exemplar.analysis.combining` computes
(the goal, the premise, the gains), and returns a table, a figure or a sentence. The notebook
``04b-combining`` shows it as ``page``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exemplar import config
from exemplar.analysis import provenance
from exemplar.analysis.combining import (GOAL_EXCHANGES, GOAL_PP, gain_over_mean, goal_frame, periodic_points,
                                         premise_gaps)
from exemplar.analysis.communication import SCALE_NAME
from exemplar.parallel.combine import DEFAULT_SETTINGS
from exemplar.reporting import sweep
from exemplar.reporting.status import precision_sentence
from exemplar.reporting.figures import DATASET_NAMES

#: How each combination method is named in tables and prose, in the order they are shown.
METHOD_NAMES = {"mean": "mean", "matched": "matched", "fisher": "Fisher", "regmean": "RegMean",
                "distilled": "distilled", "retrained": "retrained", "ensemble": "ensemble"}


def _case(dataset, scale) -> str:
    return f"{DATASET_NAMES.get(dataset, dataset)}, {SCALE_NAME[bool(scale)]}"


def _plural(n, word: str) -> str:
    return f"{n:g} {word}{'' if n == 1 else 's'}"


def _span(values, signed: bool = False) -> str:
    """``"2.00"`` for one value (or equal ones), else ``"1.00 to 2.00"``; with a sign when ``signed``."""
    f = "{:+.2f}" if signed else "{:.2f}"
    lo, hi = f.format(min(values)), f.format(max(values))
    return lo if lo == hi else f"{lo} to {hi}"


def _off(gap: float) -> str:
    """``"0.20 pp below"`` or ``"0.30 pp above"``."""
    return f"{abs(gap):.2f} pp {'below' if gap < 0 else 'above'}"


# ---------------------------------------------------------------------------------------------- the plan and the runs
def plan_sentence(p, n_trainings: int) -> str:
    """The classifier and the number of trainings (``len(configs(p))``), for the first paragraph of results."""
    return (f"Classifier: {sweep.classifier_text(p)}, on the first "
            f"{p.n_train:,} training images. {n_trainings} trainings (data sets × input scalings × repeats × engine "
            f"counts × starts; one engine has one start), each combined by {len(p.methods)} methods: "
            + ", ".join(f"*{METHOD_NAMES[m]}*" for m in p.methods) + ".")


def settings_sentence(settings=None) -> str:
    """How Fisher, RegMean, the distillation and the retraining round were set."""
    s = {**DEFAULT_SETTINGS, **(settings or {})}
    return (f"Fisher: the {s['fisher_kind']} diagonal Fisher on each engine's shard. RegMean: off-diagonal Gram "
            f"entries shrunk by α = {s['regmean_alpha']:g}. Distilled: {s['distill_epochs']} epochs of Adam (step "
            f"{s['distill_learning_rate']:g}, batches of 200, fresh moments) from the matched mean, toward targets "
            f"{100 * (1 - s['distill_true_share']):.0f} % the ensemble's probabilities and "
            f"{100 * s['distill_true_share']:.0f} % the true labels. Retrained: the same round on the true labels "
            "only.")


def run_sentence(run) -> str:
    """How many trainings, how long, where written, and the machine, from a
    :class:`~exemplar.experiments.runner.ChapterRun`."""
    runs, prov = run.rows, run.prov
    cores = provenance.cores(prov)
    return (f"{len(runs)} trainings in **{prov['run_seconds'] / 60:.1f} minutes**, written to "
            f"`{config.display_path(run.path)}`. This machine has **{cores} cores** ({prov['machine']['cpu_model']}); "
            "runs with more engines than cores share them, which slows them but changes no accuracy. "
            + precision_sentence(prov.get("parameters", {}).get("dtype")))


# ---------------------------------------------------------------------------------------------- the goal
def goal_table(summary, goal_pp: float = GOAL_PP) -> pd.DataFrame:
    """:func:`~exemplar.analysis.combining.goal_frame` with readable columns."""
    g = goal_frame(summary, goal_pp)
    return pd.DataFrame({
        "data": g.dataset.map(DATASET_NAMES), "inputs": g.scale_inputs.map(SCALE_NAME), "engines": g.n_engines,
        "sequential (%)": g.sequential, "mean, one-shot (%)": g.one_shot,
        "best network": g.best.map(METHOD_NAMES) + " (" + g.best_start + " start)", "its accuracy (%)": g.accuracy,
        "gap (pp)": g.gap_pp, "loss recovered (%)": g.recovered_pct, "exchanges": g.exchanges,
        f"within {goal_pp:g} pp?": g.reached.map({True: "yes", False: "no"})})


def answer_paragraph(summary, goal_pp: float = GOAL_PP) -> str:
    """The chapter's answer (glued under the title): the goal at the most engines, each case, the premise."""
    g = goal_frame(summary, goal_pp)
    n = int(g.n_engines.iloc[0])
    won = [_case(d, s) for d, s in zip(g[g.reached].dataset, g[g.reached].scale_inputs)]
    head = (f"**The answer, as measured in this chapter.** At {n} engines, with at most {GOAL_EXCHANGES} exchanges "
            "of models after the data are distributed, ")
    head += (f"one network came within {goal_pp:g} pp of the sequential network's accuracy in {len(won)} of "
             f"{len(g)} settings ({'; '.join(won)})." if won else
             f"no method brought one network within {goal_pp:g} pp of the sequential network's accuracy.")
    cases = []
    for _, r in g.iterrows():
        cases.append(f"{_case(r.dataset, r.scale_inputs)}: the plain mean ends {r.sequential - r.one_shot:.2f} pp "
                     f"below the sequential {r.sequential:.2f} %; the best network, *{METHOD_NAMES[r.best]}* "
                     f"({r.best_start} start, {_plural(r.exchanges, 'exchange')}), ends {_off(r.gap_pp)} it"
                     + (f", {r.recovered_pct:.0f} % of the loss recovered" if np.isfinite(r.recovered_pct) else ""))
    return f"{head} " + "; ".join(cases) + ". " + premise_sentence(summary)


def reach_sentence(summary, start: str = "identical") -> str:
    """How far each method got at the most engines: its gap to sequential, over the data sets and scalings."""
    n = int(summary.n_engines.max())
    at = summary[(summary.n_engines == n) & (summary.start == start)]
    if at.empty:
        return f"No {start}-start runs at {n} engines."
    bits = [f"*{METHOD_NAMES[m]}* {_span(part.gap_pp, signed=True)} pp"
            for m, part in at.groupby("method", sort=False)]
    return (f"How far each method got at {n} engines with {start} starts (accuracy minus the sequential "
            f"network's, over the data sets and scalings run): " + "; ".join(bits) + ".")


# ---------------------------------------------------------------------------------------------- the premise
def premise_table(summary) -> pd.DataFrame:
    """Per data set, scaling and engine count (> 1): identical against different starts, for the key methods."""
    par = summary[summary.n_engines > 1]
    acc = par.pivot_table(index=["dataset", "scale_inputs", "n_engines"], columns=["start", "method"],
                          values="accuracy_pct_mean")
    out = pd.DataFrame(index=acc.index)
    for start in ("identical", "different"):
        for m in ("mean", "matched", "ensemble"):
            if (start, m) in acc.columns:
                out[f"{METHOD_NAMES[m]}, {start} start (%)"] = acc[(start, m)]
    if "different" in acc.columns.get_level_values(0):
        single = acc["different"].drop(columns=["ensemble"], errors="ignore")
        out["best network, different start"] = single.idxmax(axis=1).map(METHOD_NAMES)
        out["its accuracy (%)"] = single.max(axis=1)
    out = out.reset_index()
    out.insert(0, "data", out.pop("dataset").map(DATASET_NAMES))
    out.insert(1, "inputs", out.pop("scale_inputs").map(SCALE_NAME))
    return out.rename(columns={"n_engines": "engines"})


def premise_sentence(summary) -> str:
    """Whether the paper's premise (identical initial weights) holds, at the largest engine count."""
    gaps = premise_gaps(summary)
    if gaps is None:
        return "Only identical starts were run, so the paper's premise was not tested."
    drop = gaps["drop"]
    text = (f"The paper's premise, tested at {gaps['n_engines']} engines: with a different start per engine, the "
            f"plain mean loses a further {_span(drop)} pp against identical starts")
    text += ", so the plain mean needs identical starts" if drop.min() > GOAL_PP else ""
    if gaps["back"] is not None:
        text += f"; matching the hidden units wins back {_span(gaps['back'])} pp of it"
    if gaps["ensemble"] is not None:
        text += (f", while the ensemble of differently started networks scores {_span(gaps['ensemble'], signed=True)}"
                 " pp against the ensemble of identically started ones")
    return text + "."


# ---------------------------------------------------------------------------------------------- the tables
def _cell(mean, sd, recovered) -> str:
    text = f"{mean:.2f}" + (f" ± {sd:.2f}" if np.isfinite(sd) else "")
    return text + (f" ({recovered:.0f} %)" if np.isfinite(recovered) else "")


def accuracy_table(summary) -> pd.DataFrame:
    """Accuracy ± sd (share of one-shot's loss recovered) per data set, inputs, start, method and engine count."""
    par = summary[summary.n_engines > 1].copy()
    par["cell"] = [_cell(m, s, r) for m, s, r in zip(par.accuracy_pct_mean, par.accuracy_pct_sd, par.recovered_pct)]
    par["inputs"] = [f"{SCALE_NAME[bool(s)]} (sequential {q:.2f} %)" for s, q in zip(par.scale_inputs, par.sequential)]
    par["data"] = par.dataset.map(DATASET_NAMES)
    par["order"] = par.method.map({m: i for i, m in enumerate(METHOD_NAMES)})
    par["start_order"] = par.start.map({"identical": 0, "different": 1})
    t = par.pivot_table(index=["dataset", "data", "scale_inputs", "inputs", "start_order", "start", "order", "method"],
                        columns="n_engines", values="cell", aggfunc="first")
    t.columns = [f"{n} engines" for n in t.columns]
    t = t.reset_index().drop(columns=["dataset", "scale_inputs", "order", "start_order"])
    t["method"] = t.method.map(METHOD_NAMES)
    return t


def cost_table(summary) -> pd.DataFrame:
    """Per method and engine count (> 1): exchanges, extra MB per engine, combining seconds and their share."""
    par = summary[summary.n_engines > 1]
    g = par.groupby(["method", "n_engines"], sort=False)
    t = g[["exchanges", "extra_bytes", "seconds", "fit_seconds_max"]].mean().reset_index()
    t["order"] = t.method.map({m: i for i, m in enumerate(METHOD_NAMES)})
    t = t.sort_values(["order", "n_engines"])
    return pd.DataFrame({"method": t.method.map(METHOD_NAMES), "engines": t.n_engines, "exchanges": t.exchanges,
                         "extra MB per engine": t.extra_bytes / 1e6, "combining (s)": t.seconds,
                         "share of the slowest fit (%)": 100 * t.seconds / t.fit_seconds_max})


#: What the literature reports for each method: (method, reference, what it reports).
LITERATURE = [
    ("matched", "Ainsworth, Hayase & Srinivasa (2022), Git Re-Basin; Singh & Jaggi (2020)",
     "Networks trained from different initialisations can be averaged once their hidden units are permuted "
     "to match (weight matching; optimal transport in Singh & Jaggi); averaging without the alignment "
     "performs poorly. The loss barrier shrinks as the networks get wider."),
    ("fisher", "Matena & Raffel (2022), Fisher-weighted averaging",
     "Weighting each parameter by its diagonal Fisher information improves on plain averaging when merging "
     "models fine-tuned from one shared pre-trained start."),
    ("regmean", "Jin, Ren, Preotiuc-Pietro & Cheng (2023), RegMean",
     "A closed-form merge per linear layer from the Gram matrices of its inputs (no data exchanged); "
     "reported above plain and Fisher-weighted averaging for language models fine-tuned from one start."),
    ("distilled", "Hinton, Vinyals & Dean (2015), distillation",
     "A single network trained on an ensemble's soft targets, mixed with the true labels, keeps much of "
     "the ensemble's gain."),
]


def literature_table(summary) -> pd.DataFrame:
    """What the literature reports for each method, beside what this chapter measured (gain over the mean)."""
    n = int(summary.n_engines.max())
    gain = gain_over_mean(summary)

    def measured(m):
        bits = [f"{gain[(m, s)]:+.2f} pp over the mean, {s} starts" for s in ("identical", "different")
                if (m, s) in gain.index]
        return "; ".join(bits) + f" (at {n} engines, averaged over data sets and scalings)" if bits else "not run"

    return pd.DataFrame([{"method": METHOD_NAMES[m], "reference": ref, "what it reports": says,
                          "what we measured": measured(m)} for m, ref, says in LITERATURE])


# ---------------------------------------------------------------------------------------------- the figure
def exchanges_figure(summary, comm_runs=None, dataset: str = "mnist", start: str = "identical"):
    """Accuracy against model exchanges after distribution, at the most engines; sequential as the reference line.

    One panel per scaling: this chapter's methods (1 or 2 exchanges; error bars one sd) and the
    communication chapter's variants that reached its target (grey: their mean exchanges of model state
    to the target and test accuracy there, :func:`exemplar.analysis.combining.periodic_points`), when
    ``comm_runs`` (``results/communication.csv``, :func:`exemplar.analysis.combining.read_communication`)
    is given and holds that engine count.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = int(summary.n_engines.max())
    part = summary[(summary.dataset == dataset) & (summary.n_engines == n) & (summary.start == start)]
    scales = sorted(set(part.scale_inputs))
    fig = make_subplots(rows=1, cols=len(scales), subplot_titles=[SCALE_NAME[bool(s)] for s in scales])
    for col, s in enumerate(scales, start=1):
        here = part[part.scale_inputs == s]
        fig.add_trace(go.Scatter(x=here.exchanges, y=here.accuracy_pct_mean, mode="markers+text",
                                 text=here.method.map(METHOD_NAMES), textposition="middle right",
                                 error_y=dict(type="data", array=here.accuracy_pct_sd.fillna(0)),
                                 name="combination methods", showlegend=col == 1,
                                 marker=dict(size=9, color="#1f77b4")), row=1, col=col)
        other = periodic_points(comm_runs if dataset == "mnist" else None, n, bool(s))
        if len(other):
            fig.add_trace(go.Scatter(x=other.comm_rounds, y=other.accuracy_pct, mode="markers+text",
                                     text=other.variant, textposition="top center",
                                     name="communication chapter, to the target", showlegend=col == 1,
                                     hovertemplate="%{text}<br>%{x:.0f} exchanges to the target<br>test accuracy "
                                                   "there %{y:.2f} %<extra></extra>",
                                     marker=dict(size=9, color="grey", symbol="square")),
                          row=1, col=col)
        seq = float(here.sequential.iloc[0])
        fig.add_hline(y=seq, line_dash="dash", line_color="black", annotation_text=f"sequential {seq:.2f} %",
                      row=1, col=col)
        fig.add_hline(y=seq - GOAL_PP, line_dash="dot", line_color="green", row=1, col=col)
    fig.update_xaxes(type="log", title_text="model exchanges after distribution")
    fig.update_yaxes(title_text="test accuracy (%)", col=1)
    fig.update_layout(title=f"{DATASET_NAMES.get(dataset, dataset)}, {n} engines, {start} start: accuracy against "
                            f"exchanges (dotted: the goal, sequential − {GOAL_PP:g} pp)", height=450)
    return fig


# ---------------------------------------------------------------------------------------------- summary
def summary_bullets(summary, run_seconds: float, cores: int, goal_pp: float = GOAL_PP) -> str:
    """The chapter's summary, as a markdown list."""
    g = goal_frame(summary, goal_pp)
    n = int(g.n_engines.iloc[0])
    bullets = [f"- Goal (one network within {goal_pp:g} pp of sequential at {n} engines, at most "
               f"{GOAL_EXCHANGES} exchanges): reached in {int(g.reached.sum())} of {len(g)} settings."]
    for _, r in g.iterrows():
        bullets.append(f"- {_case(r.dataset, r.scale_inputs)}: mean {r.one_shot:.2f} %, best "
                       f"*{METHOD_NAMES[r.best]}* {r.accuracy:.2f} %, sequential {r.sequential:.2f} %.")
    bullets.append("- " + premise_sentence(summary))
    bullets.append(f"- The trainings took {run_seconds / 60:.1f} minutes on {cores} cores.")
    return "\n".join(bullets)
