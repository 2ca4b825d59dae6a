"""Chapter 05's text: its computed sentences, display tables and figures, read from a :class:`Reading` of the runs.

Every number comes from :mod:`exemplar.analysis.algorithms` (the summary of ``results/algorithms.csv``
and the figures of the answer); this module only says it. Each function takes the runs (and what the
run was asked for) and returns a string of Markdown, a styled table or a figure; none of them runs
anything. The notebook ``05-algorithms`` shows it as ``page``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from exemplar import config
from exemplar.analysis import algorithms as analysis
from exemplar.analysis.algorithms import Reading
from exemplar.models.statistics import ALGORITHMS, SHRINKAGE, STATISTICS_ALGORITHMS
from exemplar.reporting import figures, sweep
from exemplar.reporting.status import precision_sentence
from exemplar.reporting.figures import ALGORITHM_NAMES, DATASET_NAMES

#: Short names, for the columns of the answer tables.
SHORT_NAMES = {"mlp": "MLP", "gaussian-nb": "Naive Bayes", "lda": "LDA", "qda": "QDA", "tree": "trees (forest)"}


def model_sentence(p: Any) -> str:
    """What the models are: the MLP's size and where it came from (``p.hidden``, ``p.epochs``, ``p.chosen_by``),
    the shrinkage, Naive Bayes' defaults."""
    return (f"MLP: {sweep.classifier_text(p)}. "
            f"LDA and QDA: covariance shrinkage **{SHRINKAGE}**; Naive Bayes: scikit-learn's defaults.")


# --------------------------------------------------------------------------------------- the runs
def runs_sentence(res: Reading) -> str:
    """How many runs, where they are, how many repeats at each size, how long, and the machine's cores."""
    runs = res.runs
    reps = sorted({(int(m), int(k)) for m, k in runs.groupby("n_train").repeat.nunique().items()})
    over = [n for n in res.engine_counts if n > res.cores]
    return (
        f"{len(runs)} runs in `{config.display_path(res.csv_path)}` "
        f"({'; '.join(f'{k} per configuration at {m:,} images' for m, k in reps)}), "
        f"{runs.wall_seconds.sum() / 60:.1f} minutes of runs in all. This machine has "
        f"**{res.cores} cores** ({res.cpu_model})"
        + (f": with {', '.join(map(str, over))} engines, engines outnumber cores and share them, so those runs "
           "measure oversubscription, not parallelism." if over else ".")
        + " " + precision_sentence(runs.dtype.dropna().iloc[0] if "dtype" in runs and runs.dtype.notna().any() else None,
                               "The MLPs") + " The other algorithms fit in float64."
    )


def exact_sentence(res: Reading) -> str:
    """Whether the exactly combined models (Naive Bayes, LDA, QDA) score the same on every engine count."""
    exact = analysis.exact_accuracies(res.runs, res.datasets, STATISTICS_ALGORITHMS)
    same = exact[exact["max"] == exact["min"]]
    lines = [f"- {DATASET_NAMES[r.dataset]}, {r.n_train:,} images, {ALGORITHM_NAMES[r.algorithm]}: "
             f"{r['min']:.2f} % on every engine count" for _, r in same.iterrows()]
    differ = exact[exact["max"] != exact["min"]]
    lines += [f"- **{DATASET_NAMES[r.dataset]}, {r.n_train:,} images, {ALGORITHM_NAMES[r.algorithm]}: "
              f"accuracy varies from {r['min']:.2f} to {r['max']:.2f} %** (it should not)"
              for _, r in differ.iterrows()]
    return (("Test accuracy of the exactly combined models:\n\n" + "\n".join(lines)) if lines
            else "No Naive Bayes, LDA or QDA runs in this selection.")


# --------------------------------------------------------------------------------------- the answer
def answer_table(res: Reading, dataset: str):
    """Per algorithm and size: the 1-engine accuracy, time and impact; per further engine count the
    speedup, the accuracy change and the impact. A sentence instead when ``dataset`` was not run."""
    from IPython.display import Markdown

    if dataset not in res.datasets:
        return Markdown(f"{DATASET_NAMES[dataset]} is not among this run's data sets.")
    part = res.summary[res.summary.dataset == dataset]
    rows = [_answer_row(m, a, g.set_index("n_engines"), res.engine_counts, res.cores)
            for (m, a), g in part.groupby(["n_train", "algorithm"], sort=False)]
    table = pd.DataFrame(rows)
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return figures.table(table, precision=2)


def _answer_row(m: int, a: str, g: pd.DataFrame, engine_counts, cores: int) -> dict:
    row = {("", "algorithm"): SHORT_NAMES.get(a, a), ("", "images"): f"{m:,}"}
    if 1 in g.index:
        row[("1 engine", "acc. (%)")] = g.loc[1, "accuracy_pct"]
        row[("1 engine", "time (s)")] = g.loc[1, "training_seconds"]
        row[("1 engine", "impact")] = g.loc[1, "impact"]
    for n in [n for n in engine_counts if n != 1]:
        head = f"{n} engines" + (" (oversubscribed)" if n > cores else "")
        if n in g.index:
            row[(head, "speedup")] = g.loc[n, "speedup"]
            row[(head, "Δ acc. (pp)")] = g.loc[n, "accuracy_change_pp"]
            row[(head, "impact")] = g.loc[n, "impact"]
    return row


def gains_sentence(res: Reading) -> str:
    """Which algorithm gains most: per data set and size, then over them all; the largest loss; odd speedups."""
    summary, cores = res.summary, res.cores
    at = analysis.comparison_engines(res.engine_counts, cores)
    pick = analysis.at_comparison(res)
    if not len(pick):
        return "Only one engine count was run: no speedups to compare."
    groups = sorted(pick.groupby(["dataset", "n_train"]), key=lambda kv: (res.datasets.index(kv[0][0]), kv[0][1]))
    lines = [_gains_line(d, m, g) for (d, m), g in groups]
    fast, kept = analysis.median_gains(res)
    text = (f"Speedup of the training time and change of accuracy on **{at} engines** "
            f"({'one per core' if at <= cores else 'more engines than cores'}):\n\n" + "\n".join(lines) + "\n\n"
            f"Over the data sets and sizes (median), **{ALGORITHM_NAMES[fast.index[0]]}** gains most from "
            f"exemplar parallelism ({fast.iloc[0]:.2f}×, accuracy {kept[fast.index[0]]:+.2f} pp), and "
            f"{ALGORITHM_NAMES[fast.index[-1]]} least ({fast.iloc[-1]:.2f}×, {kept[fast.index[-1]]:+.2f} pp).")
    worst = summary.loc[summary.accuracy_change_pp.idxmin()]
    if worst.accuracy_change_pp < 0:
        text += (f" The largest loss of accuracy is {ALGORITHM_NAMES[worst.algorithm]}'s on "
                 f"{DATASET_NAMES[worst.dataset]} at {worst.n_train:,} images and {worst.n_engines} engines "
                 f"({worst.accuracy_change_pp:+.2f} pp).")
    return text + _odd_speedups(summary)


def _gains_line(dataset: str, n_train: int, g: pd.DataFrame) -> str:
    """One bullet: the algorithms of one data set and size, fastest first."""
    g = g.sort_values("speedup", ascending=False)
    best = g.iloc[0]
    order = ", ".join(f"{ALGORITHM_NAMES[r.algorithm]} {r.speedup:.2f}× ({r.accuracy_change_pp:+.2f} pp)"
                      for _, r in g.iterrows())
    return (f"- **{DATASET_NAMES[dataset]}, {n_train:,} images**: {ALGORITHM_NAMES[best.algorithm]} gains most "
            f"({best.speedup:.2f}×). All, fastest first: {order}.")


def _odd_speedups(summary: pd.DataFrame) -> str:
    """A warning paragraph when speedups exceed 1.25 × the engine count (else nothing)."""
    odd = analysis.odd_speedups(summary, 1.25)
    if not len(odd):
        return ""
    top = odd.head(4)
    cases = "; ".join(f"{ALGORITHM_NAMES[r.algorithm]}, {DATASET_NAMES[r.dataset]}, "
                      f"{r.n_train:,} images: {r.speedup:.1f}× on {r.n_engines}" for _, r in top.iterrows())
    return (f"\n\n**Read these with care:** {len(odd)} of the {int((summary.n_engines > 1).sum())} speedups "
            f"exceed 1.25 × the engine count (the largest: {cases}{'; …' if len(odd) > len(top) else ''}). "
            "Splitting the work cannot do that much; the 1-engine run was slowed by something other than its "
            "work, most likely by other programs running on this machine at the same time. Rerun the "
            "chapter on a quiet machine before drawing conclusions from these speedups.")


# --------------------------------------------------------------------------------------- figures
def speedup_figure(res: Reading):
    """Figure 1: speedup against engines per algorithm, with the paper's MLP speedups (Table II)."""
    from exemplar import paper

    pt = paper.table_ii()
    paper_points = (pt.n_processes.to_numpy(), (pt.time.iloc[0] / pt.time).to_numpy(), "paper: MLP, Table II")
    return figures.algorithm_speedups(res.summary, cores=res.cores, paper=paper_points)


def accuracy_figure(res: Reading):
    """Figure 2: test accuracy against engines per algorithm."""
    return figures.algorithm_accuracy(res.summary, cores=res.cores)


# --------------------------------------------------------------------------------------- where the time goes
def time_shares_table(res: Reading):
    """At the largest training size, per data set and algorithm, on 1 and on the most engines: where the time goes."""
    parts = []
    for (d, a), g in analysis.largest_size(res.summary).groupby(["dataset", "algorithm"], sort=False):
        for n in sorted({1, int(g.n_engines.max())}):
            r = g[g.n_engines == n]
            if r.empty:
                continue
            r = r.iloc[0]
            parts.append({"data set": DATASET_NAMES[d], "algorithm": ALGORITHM_NAMES[a], "engines": n,
                          "fit, slowest engine (s)": r.fit_seconds_max, "distribution (s)": r.distribute_seconds,
                          "gather + combine (s)": r.combine_seconds, "training time (s)": r.training_seconds,
                          "combination share (%)": 100 * r.combine_seconds / r.training_seconds})
    return figures.table(pd.DataFrame(parts), precision=3)


def time_shares_sentence(res: Reading) -> str:
    """How much of the 1-engine training time is the master's combination (statistics) or the fit (the others)."""
    big = analysis.largest_size(res.summary)
    one = big[big.n_engines == 1].copy()
    one["share"] = one.combine_seconds / one.training_seconds
    stat = one[one.algorithm.isin(STATISTICS_ALGORITHMS)]
    fitting = one[~one.algorithm.isin(STATISTICS_ALGORITHMS)]
    text = []
    if len(stat):
        shares = stat.groupby("algorithm").share.median()
        text.append(
            f"For the algorithms combined from statistics, the engines' work is small: at {int(big.n_train.max()):,} "
            f"images the slowest 1-engine fit takes at most {stat.fit_seconds_max.max():.2f} s, and gathering plus "
            "combining is " + ", ".join(f"{100 * v:.0f} % ({ALGORITHM_NAMES[a]})" for a, v in shares.items())
            + " of the 1-engine training time (median over the data sets). That part runs in the master (Naive "
            "Bayes' sums, LDA's least-squares solve, QDA's ten eigen-decompositions of 784 × 784 matrices) and does "
            "not shrink with more engines (each one sends its own statistics), so by Amdahl's law it caps their "
            "speedup.")
    if len(fitting):
        text.append(
            f"For {' and '.join(ALGORITHM_NAMES[a] for a in dict.fromkeys(fitting.algorithm))}, the fit is "
            f"at least {np.floor(1000 * (1 - fitting.share.max())) / 10:.1f} % of the 1-engine training time: "
            "that is the part that exemplar parallelism divides among the engines.")
    return " ".join(text)


# --------------------------------------------------------------------------------------- the second data set
def fashion_labels_sentence() -> str:
    """Fashion-MNIST's ten labels and what they mean."""
    from exemplar.data import FASHION_MNIST_CLASSES

    return "Labels: " + ", ".join(f"{i} {name}" for i, name in enumerate(FASHION_MNIST_CLASSES)) + "."


def fashion_preview(datasets, n: int = 20) -> list:
    """Fashion-MNIST's first ``n`` training images and its labels, to ``display``; nothing when it was not run."""
    if "fashion-mnist" not in datasets:
        return []
    from IPython.display import Markdown

    from exemplar import data

    X, y = data.load_dataset("fashion-mnist", "train", n_rows=n)
    return [figures.digit_grid(X, y, n=n), Markdown(fashion_labels_sentence())]


# --------------------------------------------------------------------------------------- summary
def summary_sentence(res: Reading) -> str:
    """The chapter's summary, as Markdown bullets: exactness, each algorithm's gain, the answer, oversubscription."""
    bullets = [
        "Every algorithm the paper names trains on MPI shards exactly as its MLP does. Naive Bayes, LDA and QDA "
        "combine exactly: the model, and so its accuracy, is the same on any number of engines and equals "
        "scikit-learn's sequential fit; they pay nothing in accuracy for parallelism."
    ]
    at = analysis.comparison_engines(res.engine_counts, res.cores)
    if at:
        for a in [a for a in ALGORITHMS if a in res.algorithms]:
            s = analysis.median_at(res.summary, a, "speedup", at)
            d = analysis.median_at(res.summary, a, "accuracy_change_pp", at)
            bullets.append(f"{ALGORITHM_NAMES[a]} on {at} engines: training {s:.2f}× as fast as on one, "
                           f"accuracy {d:+.2f} percentage points (median over the data sets and sizes).")
        bullets.append(_answer(analysis.median_gains(res)[0], at))
    over = [n for n in res.engine_counts if n > res.cores]
    if over:
        bullets.append(f"With {', '.join(map(str, over))} engines on {res.cores} cores, engines share cores: those "
                       "columns measure oversubscription, not parallelism.")
    return "\n".join(f"- {b}" for b in bullets)


def _answer(fast: pd.Series, at: int) -> str:
    """The answer to the paper's question, from the median speedups (fastest first)."""
    exact_best = fast[fast.index.isin(STATISTICS_ALGORITHMS)]
    other_best = fast[~fast.index.isin(STATISTICS_ALGORITHMS)]
    answer = (f"The answer to the paper's question on this machine: {ALGORITHM_NAMES[fast.index[0]]} gains most "
              f"in speed ({fast.iloc[0]:.2f}× on {at} engines).")
    if len(exact_best) and len(other_best) and exact_best.max() < other_best.max():
        answer += (" Naive Bayes, LDA and QDA suit parallel execution in accuracy (they lose none) but gain less in "
                   "time: their fit is so cheap that the serial gathering and combining bound what parallelism wins.")
    elif len(exact_best):
        answer += (f" The exactly combined algorithms keep their accuracy and reach up to {exact_best.max():.2f}×: "
                   "they suit parallel execution better than the network, which loses accuracy.")
    return answer
