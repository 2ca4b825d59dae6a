"""Chapter 04, communication strategies: its parameters, the runs, their summary and the chapter's sentences.

The notebook ``04-communication`` declares the parameters of :data:`SPEC`, checks them with
:func:`parameters`, runs every configuration with :func:`run` (rows saved as they finish, resumable,
retried on a dead engine: :mod:`exemplar.experiments.runner`), reads them with :func:`summarize` and
:func:`speed_at_same_accuracy`, and shows the tables and sentences built here. The answer to the
title question lives in :mod:`exemplar.experiments.communication_answer` (its names are imported
here); above the machine's cores it uses the estimate with a core per engine
(:mod:`exemplar.parallel.dedicated`).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from exemplar import config
# TEMPORARY (issue 20): the moved names, until reporting/answer.py and the notebook read their new homes
from exemplar.analysis.communication import (  # noqa: F401
    SCALE_NAME, speed_at_same_accuracy, summarize_strategies, variant_name)
from exemplar.reporting.communication import (  # noqa: F401
    answer_paragraph, answer_table, details, engines_list, summary_bullets, timing_noise, verdict, verdict_sentence)
from exemplar.experiments.params import Param, Parameters, ParamSpec, check_engine_counts
from exemplar.parallel import STRATEGIES

#: The results' first columns, in this order; the rest follow as the runs report them.
FIRST_COLUMNS = ["n_engines", "repeat", "seed", "strategy", "fit_seconds_max", "distribute_seconds",
                 "combine_seconds", "wall_seconds", "accuracy_pct", "sync_every", "scale_inputs", "comm_rounds",
                 "comm_bytes", "comm_seconds"]
#: The results' last columns, in this order.
LAST_COLUMNS = ["variant", "n_iter_max", "start_seconds", "oversubscribed", "provenance_id"]
#: The columns that identify one configuration (a row of ``results/communication.csv``).
KEY_COLUMNS = ["n_engines", "scale_inputs", "repeat", "variant"]


SPEC = ParamSpec(
    Param("engine_counts", "int_list", [1, 2, 4, 6], "MPI engines; the 1-engine runs are the sequential reference",
          minimum=1),
    Param("strategies", "str_list", ["one-shot", "periodic", "gradient-allreduce", "ensemble"],
          "how the engines combine their work (one-shot is required: the reference)", choices=STRATEGIES),
    Param("sync_every", "int_list", [1, 5], "epochs between weight averages, for the periodic strategy", minimum=1),
    Param("repeats", "int", 3, "runs per setting: run r uses random_state seed+r on every engine", minimum=1),
    Param("scale_inputs", "bool_list", [False, True], "False: raw pixels 0-255, as the paper; True: pixels / 255"),
    Param("hidden", "int", None, "hidden units; None: the sweep's optimum", minimum=1, optional=True),
    Param("epochs", "int", None, "epochs (max_iter); None: the sweep's optimum", minimum=1, optional=True),
    Param("n_train", "int", 6000, "the first n_train training images, split over the engines", minimum=1,
          maximum=config.N_TRAIN_TOTAL),
    Param("seed", "int", 0, "random_state of repeat 0 (repeat r uses seed+r)", minimum=0),
    Param("tolerance_pp", "float", 0.5,
          '"the same accuracy": a mean within this many percentage points of sequential', minimum=0),
    Param("resume", "bool", False, "keep finished runs of an earlier, interrupted run with the same parameters"),
    Param("retries", "int", 0, "restart the cluster and rerun a configuration this many times if it fails",
          minimum=0),
    Param("trainer", "str", "numpy", "who trains: \"numpy\", the fast trainer (the same network and training "
          "as scikit-learn's, equal to it in float64), or \"sklearn\" (MLPClassifier)", choices=("numpy", "sklearn")),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from ``namespace`` (the notebook's ``globals()``), checked and completed.

    Besides each parameter's own type and range (:data:`SPEC`): ``engine_counts`` must include 1 and
    a larger count, none above ``n_train``; ``strategies`` must include ``"one-shot"``. Engine
    counts, ``sync_every`` and ``scale_inputs`` come back sorted; ``hidden`` and ``epochs`` are
    resolved (:func:`exemplar.experiments.sweep.chosen_model`) and ``chosen_by`` says how.

    Raises
    ------
    ValueError
        Naming the parameter, what it accepts and what it got.
    """
    from exemplar.experiments import sweep

    p = SPEC.from_namespace(namespace)
    p.engine_counts = check_engine_counts(p.engine_counts, p.n_train, reference=True, larger=True)
    if "one-shot" not in p.strategies:
        raise ValueError(f"parameter strategies must include 'one-shot' (its 1-engine run is the sequential "
                         f"reference); got {p.strategies}")
    p.sync_every = sorted(p.sync_every)
    p.scale_inputs = sorted(p.scale_inputs)
    p.hidden, p.epochs, p.chosen_by = sweep.chosen_model(p.hidden, p.epochs)
    return p


def variants(p: Parameters) -> list[tuple[str, int | None]]:
    """``(strategy, sync_every)`` of every variant run: one per ``sync_every`` for periodic, else ``None``."""
    return [(s, k) for s in p.strategies for k in (p.sync_every if s == "periodic" else [None])]


def variant_name(strategy: str, sync_every=None) -> str:
    """A label for a strategy and its setting: ``"periodic, every 5 epochs"``, else the strategy."""
    if strategy == "periodic":
        k = int(sync_every)
        return f"periodic, every {k} epoch{'s' if k != 1 else ''}"
    return str(strategy)


def configs(p: Parameters) -> list[dict[str, Any]]:
    """Every run, in order: per engine count (one cluster each), input scaling, repeat and variant."""
    return [{"n_engines": n, "scale_inputs": scale, "repeat": r, "seed": p.seed + r, "strategy": s,
             "sync_every": k, "variant": variant_name(s, k)}
            for n in p.engine_counts for scale in p.scale_inputs for r in range(p.repeats)
            for s, k in variants(p)]


def plan_sentence(p: Parameters) -> str:
    """The classifier and the number of runs, for the notebook's first paragraph of results."""
    n_variants = len(variants(p))
    n_runs = n_variants * len(p.engine_counts) * len(p.scale_inputs) * p.repeats
    return (f"Classifier: **{p.hidden} hidden units, at most {p.epochs} epochs** ({p.chosen_by}). "
            f"{n_variants} strategy variants × {len(p.engine_counts)} engine counts × {len(p.scale_inputs)} input "
            f"scalings × {p.repeats} repeats = **{n_runs} runs**.")


# ---------------------------------------------------------------------------------------------- the runs
class Run(NamedTuple):
    """What :func:`run` returns: the rows, their provenance (with ``run_seconds``) and the CSV's path."""
    runs: Any
    prov: dict
    path: Any


def runner(p: Parameters, source, X_test, y_test, cores: int, train: Callable | None = None) -> Callable:
    """``run_one(cluster, config)`` for :func:`exemplar.experiments.runner.run_configs`.

    ``train`` is :func:`exemplar.parallel.run_exemplar` unless given (tests give a stand-in).
    """
    if train is None:
        from exemplar.parallel import run_exemplar as train

    def run_one(cl, c):
        res = train(cl, source, X_test, y_test, hidden=p.hidden, epochs=p.epochs, seed=c["seed"],
                    strategy=c["strategy"], sync_every=c["sync_every"] or 1, scale_inputs=c["scale_inputs"],
                    trainer=p.trainer)
        return {**res.as_row(), "repeat": c["repeat"], "seed": c["seed"], "variant": c["variant"],
                "n_iter_max": max(res.n_iter), "start_seconds": cl.start_seconds,
                "oversubscribed": c["n_engines"] > cores}

    return run_one


def in_column_order(runs):
    """``runs`` with :data:`FIRST_COLUMNS` first, :data:`LAST_COLUMNS` last, ``sync_every`` as ``Int64``."""
    last = [c for c in LAST_COLUMNS if c in runs.columns]
    middle = [c for c in runs.columns if c not in FIRST_COLUMNS and c not in last]
    runs = runs[FIRST_COLUMNS + middle + last].copy()
    runs["sync_every"] = runs["sync_every"].astype("Int64")
    return runs


def run(p: Parameters, *, directory=None, start_cluster: Callable | None = None, train: Callable | None = None,
        progress: bool = True, log: Callable[[str], None] = print) -> Run:
    """Run every configuration of :func:`configs`, saving each row to ``communication.csv`` as it finishes.

    One cluster per engine count serves every input scaling, repeat and variant. With
    ``p.resume`` the rows of an earlier run with the same parameters and provenance are kept and
    their configurations skipped; ``p.retries`` restarts the cluster after a failure.

    Parameters
    ----------
    p : Parameters
        From :func:`parameters`.
    directory : path, optional
        The results folder (default: :func:`exemplar.config.results_dir`).
    start_cluster, train : callable, optional
        Stand-ins for :func:`exemplar.parallel.cluster.start_cluster` and
        :func:`exemplar.parallel.run_exemplar` (for tests).

    Returns
    -------
    Run
        ``runs`` (one row per configuration, in :func:`in_column_order`), ``prov`` (with
        ``run_seconds``: this session's time) and ``path`` (the CSV).
    """
    from exemplar import data, results
    from exemplar.experiments import runner as experiment
    from exemplar.parallel import csv_source

    X_test, y_test = data.load_mnist("test")
    source = csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, p.n_train)
    recorded = {name: getattr(p, name) for name in SPEC.names}  # chosen_by left out
    prov = results.provenance(recorded, experiment="communication strategies for exemplar "
                              "parallelism", inputs="raw pixels 0-255 and pixels / 255, float64", n_test=len(y_test),
                              trainer=p.trainer)
    run_one = runner(p, source, X_test, y_test, prov["machine"]["usable_cores"], train)
    rows = experiment.ResultsLog("communication", prov, KEY_COLUMNS, resume=p.resume, directory=directory, log=log)
    t_run = time.perf_counter()
    runs = experiment.run_configs(configs(p), run_one, rows, start_cluster=start_cluster, retries=p.retries,
                                  progress=progress, log=log)
    prov["run_seconds"] = round(time.perf_counter() - t_run, 1)
    runs = in_column_order(runs)
    return Run(runs, prov, results.write_results("communication", runs, prov, directory))


def run_sentence(runs, prov: Mapping[str, Any], path) -> str:
    """How many runs, how long, where written, the machine, and whether the replicas stayed identical."""
    replicated = runs.replicas_identical.dropna()
    cores = prov["machine"]["usable_cores"]
    return (f"{len(runs)} runs in **{prov['run_seconds'] / 60:.1f} minutes**, written to "
            f"`{config.display_path(path)}`. This machine has **{cores} cores** ({prov['machine']['cpu_model']}); "
            f"runs with more engines than cores share them. In all {len(replicated)} periodic and "
            f"gradient-allreduce runs the engines ended with "
            f"{'bit-identical' if replicated.all() else 'NOT identical'} weights.")


# ---------------------------------------------------------------------------------------------- summaries
def _with_derived(runs):
    runs = runs.copy()
    if "variant" not in runs.columns:
        every = runs.get("sync_every", [None] * len(runs))
        runs["variant"] = [variant_name(s, e) for s, e in zip(runs["strategy"], every)]
    if "scale_inputs" not in runs.columns:
        runs["scale_inputs"] = False
    runs["training_seconds"] = runs["fit_seconds_max"] + runs["distribute_seconds"] + runs["combine_seconds"]
    # the run with its training (measured wall) replaced by the estimate with a core per engine
    dedicated = runs["dedicated_seconds"] if "dedicated_seconds" in runs.columns else np.nan
    runs["estimated_wall"] = runs["wall_seconds"] - runs["fit_seconds_max"] + dedicated
    runs["estimated_training"] = runs["training_seconds"] - runs["fit_seconds_max"] + dedicated
    return runs


def summarize_strategies(runs):
    """Per input scaling, strategy variant and engine count: means (and sd) over the repeats.

    Parameters
    ----------
    runs : DataFrame
        Rows of :meth:`ExemplarResult.as_row` (plus ``variant``, else derived from ``strategy`` and
        ``sync_every``).

    Returns
    -------
    DataFrame
        ``scale_inputs, variant, strategy, n_engines, runs``, the mean and sd of ``accuracy_pct``,
        ``wall_seconds`` and ``training_seconds`` (slowest engine's fit + distribution + combination),
        of ``estimated_wall`` and ``estimated_training`` (the same with the training's wall time
        replaced by ``dedicated_seconds``, the estimate with a core per engine; ``nan`` for runs
        without it), and the means of ``fit_seconds_max``, ``comm_rounds``, ``comm_bytes``,
        ``comm_seconds`` (and of ``n_iter_max``, ``fit_cpu_seconds_max``, ``dedicated_seconds``,
        ``comm_model_seconds`` and ``allreduce_probe_seconds`` when present).
    """
    import pandas as pd

    runs = _with_derived(runs)
    keys = ["scale_inputs", "variant", "strategy", "n_engines"]
    g = runs.groupby(keys, sort=True)
    out = g[["accuracy_pct", "wall_seconds", "training_seconds", "estimated_wall", "estimated_training"]].agg(
        ["mean", "std"])
    out.columns = [f"{a}_{'mean' if b == 'mean' else 'sd'}" for a, b in out.columns]
    extra = [c for c in ("fit_seconds_max", "comm_rounds", "comm_bytes", "comm_seconds", "n_iter_max",
                         "fit_cpu_seconds_max", "dedicated_seconds", "comm_model_seconds", "allreduce_probe_seconds")
             if c in runs.columns]
    out = pd.concat([out, g[extra].mean(), g.size().rename("runs")], axis=1).reset_index()
    return out


def validation_sentence(runs, cores: int) -> str:
    """Where engines had a core each: the dedicated-core estimate over the measured training time, per strategy."""
    from exemplar.parallel import dedicated

    if "dedicated_seconds" not in runs.columns:
        return "These runs predate the dedicated-core estimate (no `dedicated_seconds` column)."
    return dedicated.validation_sentence(dedicated.validation(_with_derived(runs), cores, by=("variant",)))


def accuracy_figure(summary):
    """Accuracy against engine count per strategy (:func:`exemplar.reporting.strategy_figures.accuracy_by_engines`)."""
    from exemplar.reporting import strategy_figures

    return strategy_figures.accuracy_by_engines(summary)


def summarize(runs):
    """The chapter's summary of its runs: :func:`summarize_strategies`."""
    return summarize_strategies(runs)


def show_frontiers(summary, tolerance_pp: float, cores: int) -> None:
    """Show :func:`exemplar.reporting.strategy_figures.frontier` for each input scaling, raw pixels first."""
    from exemplar.reporting import strategy_figures as figures

    for scale in sorted(set(summary.scale_inputs)):
        part = summary[summary.scale_inputs == scale]
        figures.frontier(part, f"Accuracy against wall time, {SCALE_NAME[bool(scale)]}", tolerance_pp,
                         cores=cores).show()


# ---------------------------------------------------------------------------------------------- the cost
def communication_table(summary):
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
    local = par[par.strategy.isin(["one-shot", "ensemble"])].n_iter_max.mean()
    synced = par[par.strategy.isin(["periodic", "gradient-allreduce"])].n_iter_max.mean()
    if synced > local + 1:
        text += (f" Here that kept them training longer ({synced:.0f} epochs on average against {local:.0f}): part "
                 "of the accuracy they recover is that longer training, and part of the time they cost.")
    elif not np.isnan(synced):
        text += f" Here both ran about as many epochs ({synced:.0f} and {local:.0f} on average)."
    return text


# ---------------------------------------------------------------------------------------------- input scaling
def _accuracy_grid(summary):
    """Mean accuracy per variant (rows) and (scale_inputs, n_engines) (columns); the scalings; the largest count."""
    acc = summary.pivot_table(index="variant", columns=["scale_inputs", "n_engines"], values="accuracy_pct_mean")
    return acc, [bool(s) for s in sorted(set(summary.scale_inputs))], int(summary.n_engines.max())


def effects(summary):
    """Per variant: accuracy on 1 and the most engines per scaling, the effect of parallelism and of scaling."""
    import pandas as pd

    acc, scales, n_max = _accuracy_grid(summary)
    out = pd.DataFrame(index=acc.index)
    for s in scales:
        out[f"{SCALE_NAME[s]}, 1 engine (%)"] = acc[(s, 1)]
        out[f"{SCALE_NAME[s]}, {n_max} engines (%)"] = acc[(s, n_max)]
        out[f"parallelism effect, {SCALE_NAME[s]} (pp)"] = acc[(s, n_max)] - acc[(s, 1)]
    if len(scales) == 2:
        out["scaling effect, 1 engine (pp)"] = acc[(True, 1)] - acc[(False, 1)]
        out[f"scaling effect, {n_max} engines (pp)"] = acc[(True, n_max)] - acc[(False, n_max)]
    return out


def effects_table(summary):
    """:func:`effects` with the strategy as a column, for the report."""
    return effects(summary).reset_index().rename(columns={"variant": "strategy"})


def scaling_paragraph(summary) -> str:
    """Input scaling's effect beside parallelism's; whether every scaled parallel run beats raw sequential."""
    acc, scales, n_max = _accuracy_grid(summary)
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
    _, scales, n_max = _accuracy_grid(summary)
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
