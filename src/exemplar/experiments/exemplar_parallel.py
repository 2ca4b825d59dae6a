"""Chapter 03, exemplar parallelism (the paper's Section IV.B): its parameters and its runs (the chapter protocol).

The training data are split into contiguous shards, one per MPI engine; every engine trains the
same initial network on its shard, and the master averages the weights (one-shot averaging).
Beside the paper's 1-engine reference, the baseline a user gets by default runs in this process:
one fit whose BLAS uses every core (:func:`exemplar.parallel.fits.baseline_run`).

The notebook ``03-exemplar-parallel`` declares the parameters of :data:`SPEC`, checks them with
:func:`parameters` (which resolves the classifier: the paper's (75, 75) unless ``hidden``, ``epochs``
or ``model`` say otherwise) and runs every configuration with
``exemplar.experiments.runner.run_chapter(exemplar_parallel, p)``: the baseline's repeats here, then
each engine count × repeat on one MPI cluster per engine count. The numbers
(per engine count, speedups, Amdahl's law, the estimate with a core per engine) are
:mod:`exemplar.analysis.exemplar_parallel`'s; the text, tables and figures are
:mod:`exemplar.reporting.exemplar_parallel`'s.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from exemplar import config
from exemplar.analysis import exemplar_parallel as analysis
from exemplar.analysis.exemplar_parallel import ONE_SHOT, RESULTS_NAME  # noqa: F401 (the protocol's name for it)
from exemplar.analysis.sweep import BASELINE, chosen_model
from exemplar.experiments.params import Parameters, ParamSpec, check_engine_counts, shared
from exemplar.experiments.runner import Inputs

#: What the provenance says this chapter measures.
EXPERIMENT = "exemplar parallelism (paper Section IV.B)"
#: The configurations' key columns in the results file.
KEY_COLUMNS = ["strategy", "n_engines", "repeat"]

#: The chapter's parameters, as in the notebook's ``parameters`` cell.
SPEC = ParamSpec(
    shared("engine_counts", help="processes (MPI engines) to train on"),
    shared("hidden"),
    shared("epochs", help="max_iter; None: the `model` parameter decides"),
    shared("model"),
    shared("repeats", help="runs per engine count: run r uses random_state seed+r on every engine"),
    shared("n_train"),
    shared("seed", help="base seed: run r uses random_state seed+r"),
    shared("launcher"),
    shared("resume"),
    shared("retries"),
    shared("dtype"),
    shared("trainer", default="sklearn", help="who trains each engine's network: \"sklearn\" (MLPClassifier, the "
           "paper's) or \"numpy\", the fast trainer (the same network and training)"),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from a notebook's ``globals()`` (or any mapping), checked and completed.

    Beyond each parameter's own range, every engine count must be at most ``n_train`` (each
    engine trains on at least one image); the order given is kept. ``hidden`` and ``epochs`` are
    resolved (:func:`exemplar.analysis.sweep.chosen_model`: the ``model`` parameter's unless given) and
    ``chosen_by`` says how.

    Raises
    ------
    ValueError
        For a bad value, naming the parameter, what it accepts and what it got.
    """
    p = SPEC.from_namespace(namespace)
    check_engine_counts(p.engine_counts, p.n_train)  # the order the notebook gave is kept
    p.hidden, p.epochs, p.chosen_by = chosen_model(p.hidden, p.epochs, p.model)
    return p


def load(p: Parameters) -> Inputs:
    """The test set, the training CSV's first ``n_train`` rows (read by the engines; in this process
    for the baseline) and the trainer.

    ``train`` is :func:`exemplar.parallel.run_exemplar` and ``baseline`` is
    :func:`exemplar.parallel.fits.baseline_run` (a test's :class:`Inputs` gives stand-ins).
    """
    from exemplar import data
    from exemplar.parallel.fits import baseline_run
    from exemplar.parallel import csv_source, run_exemplar

    X_test, y_test = data.load_mnist("test")
    source = csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, p.n_train)
    X_train, y_train = data.load_mnist("train", n_rows=p.n_train)
    return Inputs({"source": source, "X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test,
                   "train": run_exemplar, "baseline": baseline_run},
                  inputs=f"raw pixels 0-255, {p.dtype}", n_test=len(y_test))


def configs(p: Parameters) -> list[dict[str, Any]]:
    """This chapter's configurations: the all-core BLAS baseline, then each engine count × repeat.

    Repeat ``r`` uses ``seed + r`` on every engine.
    """
    out = [{"strategy": BASELINE, "n_engines": 1, "repeat": r, "seed": p.seed + r} for r in range(p.repeats)]
    out += [{"strategy": ONE_SHOT, "n_engines": n, "repeat": r, "seed": p.seed + r}
            for n in p.engine_counts for r in range(p.repeats)]
    return out


def cluster_size(p: Parameters, c: Mapping[str, Any]) -> int | None:
    """Engine count of a configuration; ``None`` (this process) for the all-core BLAS baseline."""
    return None if c["strategy"] == BASELINE else int(c["n_engines"])


def run_one(p: Parameters, inputs: Inputs, cl, c: Mapping[str, Any]) -> dict[str, Any]:
    """One configuration's row: the baseline in this process (``cl`` is ``None``), a one-shot run on ``cl``."""
    if cl is None:
        return inputs.baseline(inputs.X_train, inputs.y_train, inputs.X_test, inputs.y_test, p.hidden, p.epochs,
                               c["seed"], dtype=p.dtype)
    res = inputs.train(cl, inputs.source, inputs.X_test, inputs.y_test, hidden=p.hidden, epochs=p.epochs,
                       seed=c["seed"], dtype=p.dtype, trainer=p.trainer)
    return {**res.as_row(), "n_iter_max": max(res.n_iter)}


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """The chapter's summary of its runs: per engine count, with speedups
    (:func:`exemplar.analysis.exemplar_parallel.summarize`)."""
    return analysis.summarize(runs)
