"""Chapter 05, other algorithms in parallel: parameters, runs, the summary, and the chapter's sentences.

The notebook ``notebooks/05-algorithms.ipynb`` reads as a chapter; everything it computes is here::

    from exemplar.experiments import algorithms as chapter
    p = chapter.parameters(globals())     # every parameter checked before any cluster starts
    mlp = chapter.chosen_model(p)         # the MLP's size: as given, else the sweep's optimum
    res = chapter.run(p, mlp)             # rows saved one by one to results/algorithms.csv
    chapter.gains_sentence(res)           # computed prose, one function per sentence or paragraph

:func:`run` goes through :func:`exemplar.experiments.runner.run_configs`, so every finished run is
saved at once, ``resume=True`` continues an interrupted run and ``retries=N`` replaces a cluster
whose engine died. The training itself is :func:`exemplar.parallel.algorithms.run_algorithm`.
The tables, figures and sentences take a :class:`Reading` (the runs, their summary and what the
run was asked for), which the unit tests build from made-up rows with :func:`read_runs`; they live
in the private sibling :mod:`exemplar.experiments._algorithms_report` and are imported from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple

import pandas as pd

from exemplar import config
from exemplar.data import DATASETS
from exemplar.experiments.params import Param, Parameters, ParamSpec, check_engine_counts
from exemplar.experiments._algorithms_report import (ALGORITHM_NAMES, SHORT_NAMES, Reading, accuracy_figure,
                                                    answer_table, comparison_engines, exact_sentence,
                                                    fashion_labels_sentence, fashion_preview, gains_sentence,
                                                    median_gains, runs_sentence, speedup_figure, summary_sentence,
                                                    time_shares_sentence, time_shares_table)
from exemplar.models.statistics import ALGORITHMS, SHRINKAGE

#: Where the rows go (``results/algorithms.csv``) and the columns that identify one run.
RESULTS_NAME = "algorithms"
KEY_COLUMNS = ("dataset", "algorithm", "n_train", "n_engines", "repeat")

#: The chapter's parameters: the notebook's ``parameters`` cell, in order, with the same defaults.
SPEC = ParamSpec(
    Param("algorithms", "str_list", ["mlp", "gaussian-nb", "lda", "qda", "tree"],
          "algorithms to train by exemplar parallelism", choices=ALGORITHMS),
    Param("datasets", "str_list", ["mnist", "fashion-mnist"],
          "data sets, each in the paper's CSV format (exemplar data)", choices=DATASETS),
    Param("engine_counts", "int_list", [1, 2, 4, 6], "processes (MPI engines) to train on; must include 1",
          minimum=1),
    Param("n_train", "int_list", [6000, 60000], "training sizes: the first n images of each training set",
          minimum=1, maximum=config.N_TRAIN_TOTAL),
    Param("repeats", "int", 1, "runs per configuration; run r uses random_state seed+r", minimum=1),
    Param("repeats_full_set", "int", 1, "runs per configuration at 60000 images (all), ten times dearer",
          minimum=1),
    Param("n_test", "int", None, "test images: the first n_test of each test set; None for all 10000",
          minimum=1, maximum=config.N_TEST_TOTAL, optional=True),
    Param("hidden", "int", None, "the MLP's hidden units; None: the sweep's optimum", minimum=1, optional=True),
    Param("epochs", "int", None, "the MLP's max_iter; None: the sweep's optimum", minimum=1, optional=True),
    Param("seed", "int", 0, "random_state of the first repeat", minimum=0),
    Param("launcher", "str", "mpi", "engines started by mpiexec, sharing one MPI world (exemplar parallelism "
          "scatters the data with MPI)", choices=("mpi",)),
    Param("resume", "bool", False, "keep finished runs of an interrupted run with the same parameters"),
    Param("retries", "int", 0, "restart the cluster and rerun a failed configuration this many times", minimum=0),
    Param("trainer", "str", "numpy", "who trains the MLP: \"numpy\", the fast trainer (the same network and "
          "training as scikit-learn's, equal to it in float64), or \"sklearn\" (MLPClassifier)",
          choices=("numpy", "sklearn")),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from ``namespace`` (a notebook's ``globals()``), all checked.

    Besides each parameter's own range (:data:`SPEC`), ``engine_counts`` must include 1 (the
    sequential reference of every speedup) and no engine count may exceed the smallest
    training size (every engine needs a shard).

    Raises
    ------
    ValueError
        Naming the parameter, what it accepts and what it got.
    """
    p = SPEC.from_namespace(namespace)
    check_engine_counts(p.engine_counts, min(p.n_train), reference=True, n_train_name="the smallest n_train")
    return p


# --------------------------------------------------------------------------------------- the MLP
class ChosenModel(NamedTuple):
    """The MLP the chapter trains: hidden units, ``max_iter``, and where the choice came from."""

    hidden: int
    epochs: int
    reason: str


def chosen_model(p: Parameters) -> ChosenModel:
    """``p.hidden`` and ``p.epochs`` as given, else the sequential sweep's optimum (else the paper's)."""
    from exemplar.experiments.sweep import chosen_model as sweep_choice

    return ChosenModel(*sweep_choice(p.hidden, p.epochs))


def model_sentence(model: ChosenModel) -> str:
    """What the models are: the MLP's size and where it came from, the shrinkage, Naive Bayes' defaults."""
    return (f"MLP: **{model.hidden} hidden units, at most {model.epochs} epochs** ({model.reason}). "
            f"LDA and QDA: covariance shrinkage **{SHRINKAGE}**; Naive Bayes: scikit-learn's defaults.")


# --------------------------------------------------------------------------------------- the runs
def configurations(p: Parameters) -> list[dict[str, Any]]:
    """One dict per run, in the order they run: engine count, data set, size, repeat, algorithm.

    Runs at all 60,000 images are repeated ``repeats_full_set`` times, the others ``repeats``
    times; repeat ``r`` uses ``seed + r``.
    """
    return [{"dataset": d, "algorithm": a, "n_train": m, "n_engines": n, "repeat": r, "seed": p.seed + r}
            for n in p.engine_counts for d in p.datasets for m in p.n_train
            for r in range(p.repeats_full_set if m == config.N_TRAIN_TOTAL else p.repeats) for a in p.algorithms]


def provenance_parameters(p: Parameters, model: ChosenModel) -> dict[str, Any]:
    """The parameters recorded with the rows (their hash decides what ``resume`` keeps)."""
    return dict(algorithms=p.algorithms, datasets=p.datasets, engine_counts=p.engine_counts, n_train=p.n_train,
                repeats=p.repeats, repeats_full_set=p.repeats_full_set, n_test=p.n_test, hidden=model.hidden,
                epochs=model.epochs, seed=p.seed, launcher=p.launcher, shrinkage=SHRINKAGE, resume=p.resume,
                retries=p.retries, trainer=p.trainer)


def make_run_one(tests: Mapping[str, tuple], model: ChosenModel, cores: int, trainer: str = "sklearn"):
    """``run_one(cluster, config)`` for :func:`~exemplar.experiments.runner.run_configs`: one run's row."""
    from exemplar import data
    from exemplar.parallel.algorithms import run_algorithm
    from exemplar.parallel.shards import csv_source

    def run_one(cl, c):
        X_test, y_test = tests[c["dataset"]]
        source = csv_source(data.dataset_csv(c["dataset"], "train"), c["n_train"])
        row = run_algorithm(cl, c["algorithm"], source, X_test, y_test, seed=c["seed"], hidden=model.hidden,
                            epochs=model.epochs, trainer=trainer)
        return {**row, "start_seconds": cl.start_seconds, "oversubscribed": cl.n > cores}

    return run_one


def read_runs(runs: pd.DataFrame, datasets, algorithms, engine_counts, cores: int, cpu_model: str,
              csv_path: Path) -> Reading:
    """The runs of ``datasets`` and ``algorithms`` (a resumed file may hold others), summarized."""
    runs = runs[runs.dataset.isin(datasets) & runs.algorithm.isin(algorithms)]
    return Reading(runs, summarize_algorithms(runs), list(datasets), list(algorithms), list(engine_counts),
                   int(cores), cpu_model, csv_path)


def run(p: Parameters, model: ChosenModel, *, start_cluster=None, log=print, progress: bool = True) -> Reading:
    """Every configuration of :func:`configurations`, one cluster per engine count, rows saved as they finish.

    Parameters
    ----------
    p : Parameters
        :func:`parameters`' checked values.
    model : ChosenModel
        The MLP's size (:func:`chosen_model`).
    start_cluster : callable, optional
        ``start_cluster(n)`` -> a context manager yielding a cluster of ``n`` engines; by default
        :func:`exemplar.parallel.cluster.start_cluster` with ``launcher=p.launcher``.
    log : callable
        Where the runner says what it resumed or retried.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Reading
        The runs (earlier ones of the same provenance included, with ``resume``) and their summary.

    Raises
    ------
    exemplar.experiments.runner.ExperimentError
        When a run still fails after ``p.retries`` retries; the rows finished before it are saved.
    """
    from exemplar import data, results
    from exemplar.experiments import runner as experiment
    from exemplar.parallel import cluster

    if start_cluster is None:
        def start_cluster(n):
            return cluster.start_cluster(n, launcher=p.launcher)
    tests = {d: data.load_dataset(d, "test", n_rows=p.n_test) for d in p.datasets}
    prov = results.provenance(provenance_parameters(p, model),
                              experiment="other algorithms by exemplar parallelism (the paper's conclusion)",
                              inputs="raw pixels 0-255", n_test={d: len(t[1]) for d, t in tests.items()})
    cores = prov["machine"]["usable_cores"]
    log_to = experiment.ResultsLog(RESULTS_NAME, prov, list(KEY_COLUMNS), resume=p.resume, log=log)
    runs = experiment.run_configs(configurations(p), make_run_one(tests, model, cores, p.trainer), log_to, retries=p.retries,
                                  start_cluster=start_cluster, progress=progress, log=log)
    return read_runs(runs, p.datasets, p.algorithms, p.engine_counts, cores, prov["machine"]["cpu_model"],
                     config.results_dir() / f"{RESULTS_NAME}.csv")


def summarize_algorithms(runs):
    """Per data set, training size, algorithm and engine count: means over the repeats, speedups, impact.

    Parameters
    ----------
    runs : DataFrame
        Rows of :func:`run_algorithm` with ``dataset`` and ``repeat``.

    Returns
    -------
    DataFrame
        ``dataset, n_train, algorithm, n_engines, runs``; the means of ``fit_seconds_max``,
        ``distribute_seconds``, ``combine_seconds``, ``wall_seconds``, ``accuracy_pct`` (and
        ``accuracy_pct_sd``); ``training_seconds`` (slowest fit + distribution + combination,
        the paper's time with overhead); ``speedup`` (1-engine training time / this one's),
        ``speedup_wall`` (the same for wall time), ``accuracy_change_pp`` (accuracy minus the
        1-engine accuracy, percentage points) and ``impact`` (accuracy / training time, the
        paper's impact factor with overhead). Speedups and changes are ``NaN`` where the
        1-engine run is missing.
    """
    from exemplar.metrics import impact_factor, speedup

    keys = ["dataset", "n_train", "algorithm", "n_engines"]
    runs = runs.copy()
    runs["training_seconds"] = runs["fit_seconds_max"] + runs["distribute_seconds"] + runs["combine_seconds"]
    cols = ["fit_seconds_max", "distribute_seconds", "combine_seconds", "training_seconds", "wall_seconds",
            "accuracy_pct"]
    g = runs.groupby(keys, sort=True)
    out = pd.concat([g[cols].mean(), g["accuracy_pct"].std(ddof=1).rename("accuracy_pct_sd"),
                     g["training_seconds"].std(ddof=1).rename("training_seconds_sd"), g.size().rename("runs")],
                    axis=1).reset_index()
    one = out[out.n_engines == 1].set_index(["dataset", "n_train", "algorithm"])
    ref = out.set_index(["dataset", "n_train", "algorithm"]).index
    t1 = one["training_seconds"].reindex(ref).to_numpy()
    w1 = one["wall_seconds"].reindex(ref).to_numpy()
    a1 = one["accuracy_pct"].reindex(ref).to_numpy()
    out["speedup"] = speedup(t1, out["training_seconds"].to_numpy())
    out["speedup_wall"] = speedup(w1, out["wall_seconds"].to_numpy())
    out["accuracy_change_pp"] = out["accuracy_pct"].to_numpy() - a1
    out["impact"] = impact_factor(out["accuracy_pct"], out["training_seconds"])
    order = {a: i for i, a in enumerate(ALGORITHMS)}
    out["_order"] = out["algorithm"].map(lambda a: order.get(a, len(order)))
    return out.sort_values(["dataset", "n_train", "_order", "n_engines"]).drop(columns="_order").reset_index(drop=True)


__all__ = ["ALGORITHM_NAMES", "SHORT_NAMES", "RESULTS_NAME", "KEY_COLUMNS", "SPEC", "parameters", "ChosenModel",
           "chosen_model", "model_sentence", "configurations", "provenance_parameters", "make_run_one", "Reading",
           "read_runs", "run", "summarize_algorithms", "runs_sentence", "exact_sentence", "answer_table",
           "comparison_engines", "median_gains", "gains_sentence", "speedup_figure", "accuracy_figure",
           "time_shares_table", "time_shares_sentence", "fashion_labels_sentence", "fashion_preview",
           "summary_sentence"]
