"""Chapter 04, communication strategies: its parameters and its runs (the chapter protocol).

The notebook ``04-communication`` declares the parameters of :data:`SPEC`, checks them with
:func:`parameters` and runs every configuration with
``exemplar.experiments.runner.run_chapter(communication, p)`` (rows saved as they finish,
resumable, retried on a dead engine). The numbers are computed from the rows by
:mod:`exemplar.analysis.communication` (the summary, and the answer to the title question:
:func:`~exemplar.analysis.communication.speed_at_same_accuracy`) and said by
:mod:`exemplar.reporting.communication`; above the machine's cores the answer uses the estimate with
a core per engine (:mod:`exemplar.parallel.dedicated`).
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from exemplar import config
from exemplar.analysis import communication as analysis
from exemplar.analysis.communication import RESULTS_NAME  # noqa: F401 (the protocol's name for it)
from exemplar.analysis.sweep import chosen_model
from exemplar.experiments.params import Param, Parameters, ParamSpec, check_engine_counts, shared
from exemplar.experiments.runner import Inputs
from exemplar.parallel import STRATEGIES

#: What the provenance says this chapter measures.
EXPERIMENT = "communication strategies for exemplar parallelism"
#: The results' first columns, in this order; the rest follow as the runs report them.
FIRST_COLUMNS = ["n_engines", "repeat", "seed", "strategy", "fit_seconds_max", "distribute_seconds",
                 "combine_seconds", "wall_seconds", "accuracy_pct", "sync_every", "scale_inputs", "comm_rounds",
                 "comm_bytes", "comm_seconds"]
#: The results' last columns, in this order.
LAST_COLUMNS = ["variant", "n_iter_max", "start_seconds", "oversubscribed", "provenance_id"]
#: The columns that identify one configuration (a row of ``results/communication.csv``).
KEY_COLUMNS = ["n_engines", "scale_inputs", "repeat", "variant"]

SPEC = ParamSpec(
    shared("engine_counts", help="MPI engines; the 1-engine runs are the sequential reference"),
    Param("strategies", "str_list", list(STRATEGIES),
          "how the engines combine their work (one-shot is required: the reference)", choices=STRATEGIES),
    Param("sync_every", "int_list", [1, 5], "epochs between weight averages, for the periodic strategy", minimum=1),
    shared("repeats", default=3),
    Param("scale_inputs", "bool_list", [False, True], "False: raw pixels 0-255, as the paper; True: pixels / 255"),
    shared("hidden"),
    shared("epochs"),
    shared("model"),
    shared("n_train"),
    shared("seed"),
    Param("tolerance_pp", "float", 0.5,
          '"the same accuracy": a mean within this many percentage points of sequential', minimum=0),
    shared("resume"),
    shared("retries"),
    shared("trainer"),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from ``namespace`` (the notebook's ``globals()``), checked and completed.

    Besides each parameter's own type and range (:data:`SPEC`): ``engine_counts`` must include 1 and
    a larger count, none above ``n_train``; ``strategies`` must include ``"one-shot"``. Engine
    counts, ``sync_every`` and ``scale_inputs`` come back sorted; ``hidden`` and ``epochs`` are
    resolved (the ``model`` parameter's classifier unless given) and ``chosen_by`` says how.

    Raises
    ------
    ValueError
        Naming the parameter, what it accepts and what it got.
    """
    p = SPEC.from_namespace(namespace)
    p.engine_counts = check_engine_counts(p.engine_counts, p.n_train, reference=True, larger=True)
    if "one-shot" not in p.strategies:
        raise ValueError(f"parameter strategies must include 'one-shot' (its 1-engine run is the sequential "
                         f"reference); got {p.strategies}")
    p.sync_every = sorted(p.sync_every)
    p.scale_inputs = sorted(p.scale_inputs)
    p.hidden, p.epochs, p.chosen_by = chosen_model(p.hidden, p.epochs, p.model)
    return p


def configs(p: Parameters) -> list[dict[str, Any]]:
    """Every run, in order: per engine count (one cluster each), input scaling, repeat and variant
    (:func:`exemplar.analysis.communication.variants`)."""
    return [{"n_engines": n, "scale_inputs": scale, "repeat": r, "seed": p.seed + r, "strategy": s,
             "sync_every": k, "variant": analysis.variant_name(s, k)}
            for n in p.engine_counts for scale in p.scale_inputs for r in range(p.repeats)
            for s, k in analysis.variants(p.strategies, p.sync_every)]


def load(p: Parameters) -> Inputs:
    """The test set, the training CSV's first ``n_train`` rows (read by the engines) and the trainer.

    ``train`` is :func:`exemplar.parallel.run_exemplar` (a test's :class:`Inputs` gives a stand-in).
    """
    from exemplar import data
    from exemplar.parallel import csv_source, run_exemplar

    X_test, y_test = data.load_mnist("test")
    source = csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, p.n_train)
    return Inputs({"source": source, "X_test": X_test, "y_test": y_test, "train": run_exemplar},
                  inputs="raw pixels 0-255 and pixels / 255, float64", n_test=len(y_test), trainer=p.trainer)


def run_one(p: Parameters, inputs: Inputs, cl, c: Mapping[str, Any]) -> dict[str, Any]:
    """One configuration on the cluster ``cl``: its measured row."""
    res = inputs.train(cl, inputs.source, inputs.X_test, inputs.y_test, hidden=p.hidden, epochs=p.epochs,
                       seed=c["seed"], strategy=c["strategy"], sync_every=c["sync_every"] or 1,
                       scale_inputs=c["scale_inputs"], trainer=p.trainer)
    return {**res.as_row(), "repeat": c["repeat"], "seed": c["seed"], "variant": c["variant"],
            "n_iter_max": max(res.n_iter)}


def finish(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with :data:`FIRST_COLUMNS` first, :data:`LAST_COLUMNS` last, ``sync_every`` as ``Int64``."""
    last = [c for c in LAST_COLUMNS if c in runs.columns]
    middle = [c for c in runs.columns if c not in FIRST_COLUMNS and c not in last]
    runs = runs[FIRST_COLUMNS + middle + last].copy()
    runs["sync_every"] = runs["sync_every"].astype("Int64")
    return runs


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """The chapter's summary of its runs: :func:`exemplar.analysis.communication.summarize_strategies`."""
    return analysis.summarize_strategies(runs)

