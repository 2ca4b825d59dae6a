"""Chapter 05, other algorithms in parallel: its parameters and its runs (the chapter protocol).

The notebook ``05-algorithms`` declares the parameters of :data:`SPEC`, checks them with
:func:`parameters` (which also resolves the MLP's size: as given, else the sequential sweep's
optimum) and runs every configuration with ``exemplar.experiments.runner.run_chapter(algorithms, p)``
(rows saved as they finish, resumable, retried on a dead engine). The training itself is
:func:`exemplar.parallel.algorithms.run_algorithm`. The numbers are computed from the rows by
:mod:`exemplar.analysis.algorithms` and said by :mod:`exemplar.reporting.algorithms`.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from exemplar import config, results
from exemplar.analysis import algorithms as analysis
from exemplar.analysis.algorithms import RESULTS_NAME  # noqa: F401 (the protocol's name for it)
from exemplar.data import DATASETS
from exemplar.experiments.params import Param, Parameters, ParamSpec, check_engine_counts, shared
from exemplar.experiments.runner import Inputs
from exemplar.models.statistics import ALGORITHMS, SHRINKAGE

#: What the provenance says this chapter measures.
EXPERIMENT = "other algorithms by exemplar parallelism (the paper's conclusion)"
#: The columns that identify one run (a row of ``results/algorithms.csv``).
KEY_COLUMNS = ("dataset", "algorithm", "n_train", "n_engines", "repeat")

#: The chapter's parameters: the notebook's ``parameters`` cell, in order, with the same defaults.
SPEC = ParamSpec(
    Param("algorithms", "str_list", list(ALGORITHMS),
          "algorithms to train by exemplar parallelism", choices=ALGORITHMS),
    Param("datasets", "str_list", ["mnist", "fashion-mnist"],
          "data sets, each in the paper's CSV format (exemplar data)", choices=DATASETS),
    shared("engine_counts", help="processes (MPI engines) to train on; must include 1"),
    Param("n_train", "int_list", [6000, 60000], "training sizes: the first n images of each training set",
          minimum=1, maximum=config.N_TRAIN_TOTAL),
    shared("repeats", default=1, help="runs per configuration; run r uses random_state seed+r"),
    Param("repeats_full_set", "int", 1, "runs per configuration at 60000 images (all), ten times dearer",
          minimum=1),
    Param("engine_counts_full_set", "int_list", None, "engine counts at 60000 images; None: those of engine_counts "
          "that do not outnumber this machine's cores (more would measure oversubscription, which the 6000-image "
          "runs already show)", minimum=1, optional=True),
    Param("n_test", "int", None, "test images: the first n_test of each test set; None for all 10000",
          minimum=1, maximum=config.N_TEST_TOTAL, optional=True),
    shared("hidden", help="the MLP's hidden units; None: the `model` parameter decides"),
    shared("epochs", help="the MLP's max_iter; None: the `model` parameter decides"),
    shared("model"),
    shared("seed", help="random_state of the first repeat"),
    shared("launcher", help="engines started by mpiexec, sharing one MPI world (exemplar parallelism scatters "
                            "the data with MPI)"),
    shared("resume"),
    shared("retries"),
    shared("trainer", help="who trains the MLP: \"numpy\", the fast trainer (the same network and training as "
                           "scikit-learn's, equal to it in float64), or \"sklearn\" (MLPClassifier)"),
    shared("dtype", default="float32", help="the MLP's training dtype: \"float32\" (the default beyond the paper: "
                                           "pixels, weights and MPI buffers in single precision) or \"float64\"; the "
                                           "other algorithms fit in float64"),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from ``namespace`` (a notebook's ``globals()``), checked and completed.

    Besides each parameter's own range (:data:`SPEC`), ``engine_counts`` must include 1 (the
    sequential reference of every speedup) and no engine count may exceed the smallest
    training size (every engine needs a shard). ``hidden`` and ``epochs`` are resolved (the
    ``model`` parameter's classifier unless given, :func:`exemplar.analysis.sweep.chosen_model`) and ``chosen_by``
    says how.

    Raises
    ------
    ValueError
        Naming the parameter, what it accepts and what it got.
    """
    from exemplar.analysis import sweep

    p = SPEC.from_namespace(namespace)
    check_engine_counts(p.engine_counts, min(p.n_train), reference=True, n_train_name="the smallest n_train")
    p.hidden, p.epochs, p.chosen_by = sweep.chosen_model(p.hidden, p.epochs, p.model)
    if p.engine_counts_full_set is None:
        p.engine_counts_full_set = [n for n in p.engine_counts if n <= max(2, results.usable_cores())]
    check_engine_counts(p.engine_counts_full_set, config.N_TRAIN_TOTAL, reference=True,
                        n_train_name="the full training set")
    return p


def recorded(p: Parameters) -> dict[str, Any]:
    """The parameters recorded with the rows (their hash decides what ``resume`` keeps): every parameter,
    the MLP's resolved size and LDA's and QDA's shrinkage."""
    return {**{name: getattr(p, name) for name in SPEC.names}, "shrinkage": SHRINKAGE}


def configs(p: Parameters) -> list[dict[str, Any]]:
    """One dict per run, in the order they run: engine count, data set, size, repeat, algorithm.

    Runs at all 60,000 images are repeated ``repeats_full_set`` times on ``engine_counts_full_set``, the
    others ``repeats`` times on ``engine_counts``; repeat ``r`` uses ``seed + r``.
    """
    full = config.N_TRAIN_TOTAL
    return [{"dataset": d, "algorithm": a, "n_train": m, "n_engines": n, "repeat": r, "seed": p.seed + r}
            for n in p.engine_counts for d in p.datasets for m in p.n_train
            if m != full or n in (p.engine_counts_full_set or p.engine_counts)
            for r in range(p.repeats_full_set if m == full else p.repeats) for a in p.algorithms]


def load(p: Parameters) -> Inputs:
    """Each data set's first ``n_test`` test images and the trainer.

    ``train`` is :func:`exemplar.parallel.algorithms.run_algorithm` (a test's :class:`Inputs` gives a
    stand-in); each run's training rows are read by rank 0 from the data set's CSV.
    """
    from exemplar import data
    from exemplar.parallel.algorithms import run_algorithm

    tests = {d: data.load_dataset(d, "test", n_rows=p.n_test) for d in p.datasets}
    return Inputs({"tests": tests, "train": run_algorithm}, inputs="raw pixels 0-255",
                  n_test={d: len(t[1]) for d, t in tests.items()})


def run_one(p: Parameters, inputs: Inputs, cl, c: Mapping[str, Any]) -> dict[str, Any]:
    """One run on the cluster ``cl``: its measured row."""
    from exemplar import data
    from exemplar.parallel.shards import csv_source

    X_test, y_test = inputs.tests[c["dataset"]]
    source = csv_source(data.dataset_csv(c["dataset"], "train"), c["n_train"])
    row = inputs.train(cl, c["algorithm"], source, X_test, y_test, seed=c["seed"], hidden=p.hidden,
                       epochs=p.epochs, trainer=p.trainer, dtype=p.dtype)
    return row


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """The chapter's summary of its rows: :func:`exemplar.analysis.algorithms.summarize_algorithms`."""
    return analysis.summarize_algorithms(rows)
