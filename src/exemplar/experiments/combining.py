"""Chapter 04b, combining better than a mean: parameters, runs, their summary and the chapter's sentences.

The notebook ``notebooks/04b-combining.ipynb`` reads as a chapter; everything it computes is here::

    from exemplar.experiments import combining as chapter
    p = chapter.parameters(globals())      # every parameter checked before any cluster starts
    res = chapter.run(p)                   # one row per configuration, saved as it finishes
    summary = chapter.summarize(res.runs)  # per data set, inputs, start, engines and method
    chapter.answer_paragraph(summary)      # computed prose, one function per sentence or paragraph

A configuration is one data set, input scaling, start (identical or different initial weights),
engine count and repeat: one distribution and one one-shot training, after which every method
combines the **same** trained networks (:func:`exemplar.parallel.combine.run_combination`). Its
row holds every method's accuracy and costs in ``METHOD__COLUMN`` columns; :func:`long_form`
turns them into one row per method. The tables, figure and sentences live in the private
sibling :mod:`exemplar.experiments._combining_report` and are imported from here.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np
import pandas as pd

from exemplar import config
from exemplar.data import DATASETS
from exemplar.experiments._combining_report import (GOAL_PP, METHOD_NAMES, SCALE_NAME, accuracy_table,
                                                    answer_paragraph, cost_table, exchanges_figure, goal_table,
                                                    literature_table, premise_sentence, premise_table, reach_sentence,
                                                    settings_sentence, summary_bullets)
from exemplar.experiments.params import Param, Parameters, ParamSpec, check_engine_counts
from exemplar.parallel.combine import DEFAULT_SETTINGS, METHODS

#: Where the rows go (``results/combining.csv``) and the columns that identify one configuration.
RESULTS_NAME = "combining"
KEY_COLUMNS = ["dataset", "n_engines", "scale_inputs", "start", "repeat"]
#: The starts: every engine from the same initial weights (the paper's premise), or each from its own.
STARTS = ("identical", "different")
#: Each method's measured columns (``METHOD__COLUMN`` in a configuration's row).
METHOD_COLUMNS = ("accuracy_pct", "exchanges", "extra_rounds", "extra_bytes", "seconds", "comm_seconds")
#: A configuration's own columns, kept in :func:`long_form`.
RUN_COLUMNS = ["dataset", "n_engines", "scale_inputs", "start", "repeat", "seed", "hidden", "epochs", "n_train",
               "fit_seconds_max", "n_iter_max", "distribute_seconds", "wall_seconds"]

SPEC = ParamSpec(
    Param("engine_counts", "int_list", [1, 2, 4, 6], "MPI engines; the 1-engine runs are the sequential reference",
          minimum=1),
    Param("datasets", "str_list", ["mnist", "fashion-mnist"], "data sets, each in the paper's CSV format",
          choices=DATASETS),
    Param("scale_inputs", "bool_list", [False, True], "False: raw pixels 0-255, as the paper; True: pixels / 255"),
    Param("starts", "str_list", ["identical", "different"],
          "initial weights: the same on every engine (the paper's premise) or one seed per engine", choices=STARTS),
    Param("methods", "str_list", list(METHODS), "how the trained networks are combined (mean is required: "
          "the paper's one-shot average)", choices=METHODS),
    Param("repeats", "int", 3, "runs per setting: run r uses random_state seed+r", minimum=1),
    Param("n_train", "int", 6000, "the first n_train training images, split over the engines", minimum=1,
          maximum=config.N_TRAIN_TOTAL),
    Param("hidden", "int", None, "hidden units; None: the sweep's optimum", minimum=1, optional=True),
    Param("epochs", "int", None, "epochs (max_iter); None: the sweep's optimum", minimum=1, optional=True),
    Param("seed", "int", 0, "random_state of repeat 0 (engine r of a different start adds r)", minimum=0),
    Param("resume", "bool", False, "keep finished runs of an earlier, interrupted run with the same parameters"),
    Param("retries", "int", 0, "restart the cluster and rerun a configuration this many times if it fails",
          minimum=0),
    Param("trainer", "str", "numpy", "who trains the MLP: \"numpy\", the fast trainer (the same network and "
          "training as scikit-learn's, equal to it in float64), or \"sklearn\" (MLPClassifier)",
          choices=("numpy", "sklearn")),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from ``namespace`` (the notebook's ``globals()``), checked and completed.

    Besides each parameter's own type and range (:data:`SPEC`): ``engine_counts`` must include 1
    (the sequential reference) and a larger count, none above ``n_train``; ``methods`` must include
    ``"mean"`` (one-shot's loss is what the others recover). Engine counts and scalings come back
    sorted, starts and methods in :data:`STARTS` and :data:`~exemplar.parallel.combine.METHODS`
    order; ``hidden`` and ``epochs`` are resolved (the sweep's optimum) and ``chosen_by`` says how.

    Raises
    ------
    ValueError
        Naming the parameter, what it accepts and what it got.
    """
    from exemplar.experiments import sweep

    p = SPEC.from_namespace(namespace)
    p.engine_counts = check_engine_counts(p.engine_counts, p.n_train, reference=True, larger=True)
    if "mean" not in p.methods:
        raise ValueError(f"parameter methods must include 'mean' (the paper's one-shot average, the reference of "
                         f"every recovery); got {p.methods}")
    p.scale_inputs = sorted(p.scale_inputs)
    p.starts = [s for s in STARTS if s in p.starts]
    p.methods = [m for m in METHODS if m in p.methods]
    p.hidden, p.epochs, p.chosen_by = sweep.chosen_model(p.hidden, p.epochs)
    return p


def configs(p: Parameters) -> list[dict[str, Any]]:
    """Every configuration, in order: per engine count (one cluster each), data set, scaling, repeat, start.

    One engine holds a single network, so its start is only ``"identical"`` (the sequential run).
    """
    return [{"dataset": d, "n_engines": n, "scale_inputs": s, "start": start, "repeat": r, "seed": p.seed + r}
            for n in p.engine_counts for d in p.datasets for s in p.scale_inputs for r in range(p.repeats)
            for start in (p.starts if n > 1 else ["identical"])]


def plan_sentence(p: Parameters) -> str:
    """The classifier and the number of trainings, for the first paragraph of results."""
    n = len(configs(p))
    return (f"Classifier: **{p.hidden} hidden units, at most {p.epochs} epochs** ({p.chosen_by}), on the first "
            f"{p.n_train:,} training images. {n} trainings (data sets × input scalings × repeats × engine counts × "
            f"starts; one engine has one start), each combined by {len(p.methods)} methods: "
            + ", ".join(f"*{METHOD_NAMES[m]}*" for m in p.methods) + ".")


# ---------------------------------------------------------------------------------------------- the runs
class Run(NamedTuple):
    """What :func:`run` returns: the rows (one per configuration), their provenance and the CSV's path."""
    runs: Any
    prov: dict
    path: Any


def runner(p: Parameters, tests: Mapping[str, tuple], cores: int, combine: Callable | None = None) -> Callable:
    """``run_one(cluster, config)`` for :func:`exemplar.experiments.runner.run_configs`: one configuration's row.

    ``combine`` is :func:`exemplar.parallel.combine.run_combination` unless given (tests give a stand-in).
    """
    from exemplar import data
    from exemplar.parallel.shards import csv_source

    if combine is None:
        from exemplar.parallel.combine import run_combination as combine

    def run_one(cl, c):
        t0 = time.perf_counter()
        source = csv_source(data.dataset_csv(c["dataset"], "train"), p.n_train)
        res = combine(cl, source, *tests[c["dataset"]], hidden=p.hidden, epochs=p.epochs, seed=c["seed"],
                      same_start=c["start"] == "identical", scale_inputs=c["scale_inputs"], methods=p.methods,
                      trainer=p.trainer)
        row = {"hidden": res.hidden, "epochs": res.epochs, "n_train": res.n_train,
               "fit_seconds_max": res.fit_seconds_max, "n_iter_max": max(res.n_iter),
               "distribute_seconds": res.distribute_seconds, "wall_seconds": time.perf_counter() - t0,
               "start_seconds": getattr(cl, "start_seconds", np.nan), "oversubscribed": c["n_engines"] > cores}
        for m in res.methods:
            row.update({f"{m['method']}__{k}": m[k] for k in METHOD_COLUMNS})
        return row

    return run_one


def run(p: Parameters, *, directory=None, start_cluster: Callable | None = None, combine: Callable | None = None,
        progress: bool = True, log: Callable[[str], None] = print) -> Run:
    """Run every configuration of :func:`configs`, saving each row to ``combining.csv`` as it finishes.

    One cluster per engine count serves every data set, scaling, repeat and start; ``p.resume``
    keeps the rows of an earlier run with the same parameters, ``p.retries`` restarts a cluster
    after a failure (:mod:`exemplar.experiments.runner`).

    Parameters
    ----------
    p : Parameters
        From :func:`parameters`.
    directory : path, optional
        The results folder (default: :func:`exemplar.config.results_dir`).
    start_cluster, combine : callable, optional
        Stand-ins for :func:`exemplar.parallel.cluster.start_cluster` and
        :func:`exemplar.parallel.combine.run_combination` (for tests).

    Returns
    -------
    Run
        ``runs`` (one row per configuration), ``prov`` (with ``run_seconds``) and ``path`` (the CSV).
    """
    from exemplar import data, results
    from exemplar.experiments import runner as experiment

    tests = {d: data.load_dataset(d, "test") for d in p.datasets}
    recorded = {name: getattr(p, name) for name in SPEC.names}
    recorded["settings"] = dict(DEFAULT_SETTINGS)
    prov = results.provenance(recorded, experiment="combining networks trained apart, better than a mean",
                              inputs="raw pixels 0-255 and pixels / 255, float64",
                              n_test={d: len(t[1]) for d, t in tests.items()})
    run_one = runner(p, tests, prov["machine"]["usable_cores"], combine)
    rows = experiment.ResultsLog(RESULTS_NAME, prov, KEY_COLUMNS, resume=p.resume, directory=directory, log=log)
    t_run = time.perf_counter()
    runs = experiment.run_configs(configs(p), run_one, rows, start_cluster=start_cluster, retries=p.retries,
                                  progress=progress, log=log)
    prov["run_seconds"] = round(time.perf_counter() - t_run, 1)
    return Run(runs, prov, results.write_results(RESULTS_NAME, runs, prov, directory))


def run_sentence(runs, prov: Mapping[str, Any], path) -> str:
    """How many trainings, how long, where written, and the machine."""
    cores = prov["machine"]["usable_cores"]
    return (f"{len(runs)} trainings in **{prov['run_seconds'] / 60:.1f} minutes**, written to "
            f"`{config.display_path(path)}`. This machine has **{cores} cores** ({prov['machine']['cpu_model']}); "
            "runs with more engines than cores share them, which slows them but changes no accuracy.")


# ---------------------------------------------------------------------------------------------- summaries
def long_form(runs) -> pd.DataFrame:
    """One row per configuration and method: :data:`RUN_COLUMNS`, ``method`` and :data:`METHOD_COLUMNS`."""
    methods = [m for m in METHODS if f"{m}__accuracy_pct" in runs.columns]
    keep = [c for c in RUN_COLUMNS if c in runs.columns]
    parts = []
    for m in methods:
        part = runs[keep].copy()
        part.insert(len(keep), "method", m)
        for k in METHOD_COLUMNS:
            part[k] = runs[f"{m}__{k}"].to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def summarize(runs) -> pd.DataFrame:
    """Per data set, scaling, start, engine count and method: means (and sd) over the repeats, and the recovery.

    Returns
    -------
    DataFrame
        ``dataset, scale_inputs, start, n_engines, method, runs``, ``accuracy_pct_mean``,
        ``accuracy_pct_sd``, the means of ``exchanges``, ``extra_rounds``, ``extra_bytes``,
        ``seconds``, ``comm_seconds`` and ``fit_seconds_max``; ``sequential`` (the 1-engine accuracy of
        that data set and scaling), ``one_shot`` (the plain mean's accuracy in the same setting),
        ``gap_pp`` (accuracy minus sequential) and ``recovered_pct``, the share of one-shot's loss
        the method recovers, ``100 (accuracy - one_shot) / (sequential - one_shot)`` (NaN where
        one-shot lost less than 0.1 pp: nothing to recover).
    """
    long = long_form(runs)
    keys = ["dataset", "scale_inputs", "start", "n_engines", "method"]
    g = long.groupby(keys, sort=False)
    out = g.accuracy_pct.agg(accuracy_pct_mean="mean", accuracy_pct_sd="std")
    costs = g[["exchanges", "extra_rounds", "extra_bytes", "seconds", "comm_seconds", "fit_seconds_max"]].mean()
    out = pd.concat([out, costs, g.size().rename("runs")], axis=1).reset_index()
    seq = out[(out.n_engines == 1) & (out.method == "mean")].set_index(["dataset", "scale_inputs"]).accuracy_pct_mean
    one = out[out.method == "mean"].set_index(["dataset", "scale_inputs", "start", "n_engines"]).accuracy_pct_mean
    out["sequential"] = [seq.get((d, s), np.nan) for d, s in zip(out.dataset, out.scale_inputs)]
    out["one_shot"] = [one.get(k, np.nan) for k in zip(out.dataset, out.scale_inputs, out.start, out.n_engines)]
    out["gap_pp"] = out.accuracy_pct_mean - out.sequential
    loss = out.sequential - out.one_shot
    out["recovered_pct"] = np.where(loss >= 0.1, 100 * (out.accuracy_pct_mean - out.one_shot) / loss.where(loss >= 0.1),
                                    np.nan)
    out["_start"] = out.start.map({s: i for i, s in enumerate(STARTS)})
    out["_method"] = out.method.map({m: i for i, m in enumerate(METHODS)})
    out = out.sort_values(["dataset", "scale_inputs", "_start", "n_engines", "_method"], kind="stable")
    return out.drop(columns=["_start", "_method"]).reset_index(drop=True)


def read_communication(directory=None):
    """``results/communication.csv`` (the communication chapter's runs), or ``None`` when absent."""
    from exemplar import results

    try:
        return results.read_results("communication", directory)[0]
    except FileNotFoundError:
        return None


__all__ = ["SPEC", "STARTS", "KEY_COLUMNS", "METHODS", "GOAL_PP", "SCALE_NAME", "METHOD_NAMES", "parameters",
           "configs", "plan_sentence", "run", "runner", "run_sentence", "long_form", "summarize",
           "read_communication", "accuracy_table", "answer_paragraph", "cost_table", "exchanges_figure",
           "goal_table", "literature_table", "premise_sentence", "premise_table", "reach_sentence", "settings_sentence",
           "summary_bullets"]
