"""Chapter 04b, combining better than a mean: its parameters and its runs (the chapter protocol).

The notebook ``notebooks/04b-combining.ipynb`` reads as a chapter::

    from exemplar.experiments import combining as chapter
    from exemplar.reporting import combining as page
    p = chapter.parameters(globals())             # every parameter checked before any cluster starts
    run = runner.run_chapter(chapter, p)          # one row per configuration, saved as it finishes
    summary = chapter.summarize(run.rows)         # per data set, inputs, start, engines and method
    page.answer_paragraph(summary)                # computed prose, one function per sentence or paragraph

A configuration is one data set, input scaling, start (identical or different initial weights),
engine count and repeat: one distribution and one one-shot training, after which every method
combines the **same** trained networks (:func:`exemplar.parallel.combine.run_combination`). Its
row holds every method's accuracy and costs in ``METHOD__COLUMN`` columns;
:func:`exemplar.analysis.combining.long_form` turns them into one row per method, and
:mod:`exemplar.analysis.combining` computes the chapter's numbers from them.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import pandas as pd

from exemplar.analysis import combining as analysis
from exemplar.analysis.combining import RESULTS_NAME, STARTS  # noqa: F401 (the protocol's name; the choices)
from exemplar.analysis.sweep import chosen_model
from exemplar.data import DATASETS
from exemplar.experiments.params import Param, Parameters, ParamSpec, check_engine_counts, shared
from exemplar.experiments.runner import Inputs
from exemplar.parallel.combine import DEFAULT_SETTINGS, METHODS

#: What the provenance says this chapter measures.
EXPERIMENT = "combining networks trained apart, better than a mean"
#: The columns that identify one configuration (a row of ``results/combining.csv``).
KEY_COLUMNS = ["dataset", "n_engines", "scale_inputs", "start", "repeat"]

SPEC = ParamSpec(
    shared("engine_counts", help="MPI engines; the 1-engine runs are the sequential reference"),
    Param("datasets", "str_list", ["mnist", "fashion-mnist"], "data sets, each in the paper's CSV format",
          choices=DATASETS),
    Param("scale_inputs", "bool_list", [False, True], "False: raw pixels 0-255, as the paper; True: pixels / 255"),
    Param("starts", "str_list", ["identical", "different"],
          "initial weights: the same on every engine (the paper's premise) or one seed per engine", choices=STARTS),
    Param("methods", "str_list", list(METHODS), "how the trained networks are combined (mean is required: "
          "the paper's one-shot average)", choices=METHODS),
    shared("repeats", default=3, help="runs per setting: run r uses random_state seed+r"),
    shared("n_train"),
    shared("hidden"),
    shared("epochs"),
    shared("model"),
    shared("seed", help="random_state of repeat 0 (engine r of a different start adds r)"),
    shared("resume"),
    shared("retries"),
    shared("trainer"),
    shared("dtype", default="float32", help="the training dtype: \"float32\" (the default beyond the paper: pixels, "
                                           "weights and MPI buffers in single precision, about twice as fast; the "
                                           "performance chapter measures what it costs in accuracy) or \"float64\""),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from ``namespace`` (the notebook's ``globals()``), checked and completed.

    Besides each parameter's own type and range (:data:`SPEC`): ``engine_counts`` must include 1
    (the sequential reference) and a larger count, none above ``n_train``; ``methods`` must include
    ``"mean"`` (one-shot's loss is what the others recover). Engine counts and scalings come back
    sorted, starts and methods in :data:`~exemplar.analysis.combining.STARTS` and
    :data:`~exemplar.parallel.combine.METHODS` order; ``hidden`` and ``epochs`` are resolved (the
    ``model`` parameter's classifier unless given) and ``chosen_by`` says how.

    Raises
    ------
    ValueError
        Naming the parameter, what it accepts and what it got.
    """
    p = SPEC.from_namespace(namespace)
    p.engine_counts = check_engine_counts(p.engine_counts, p.n_train, reference=True, larger=True)
    if "mean" not in p.methods:
        raise ValueError(f"parameter methods must include 'mean' (the paper's one-shot average, the reference of "
                         f"every recovery); got {p.methods}")
    p.scale_inputs = sorted(p.scale_inputs)
    p.starts = [s for s in STARTS if s in p.starts]
    p.methods = [m for m in METHODS if m in p.methods]
    p.hidden, p.epochs, p.chosen_by = chosen_model(p.hidden, p.epochs, p.model)
    return p


def recorded(p: Parameters) -> dict[str, Any]:
    """What the provenance records: every parameter of :data:`SPEC` and the methods' ``settings``."""
    return {**{name: getattr(p, name) for name in SPEC.names}, "settings": dict(DEFAULT_SETTINGS)}


def configs(p: Parameters) -> list[dict[str, Any]]:
    """Every configuration, in order: per engine count (one cluster each), data set, scaling, repeat, start.

    One engine holds a single network, so its start is only ``"identical"`` (the sequential run).
    """
    return [{"dataset": d, "n_engines": n, "scale_inputs": s, "start": start, "repeat": r, "seed": p.seed + r}
            for n in p.engine_counts for d in p.datasets for s in p.scale_inputs for r in range(p.repeats)
            for start in (p.starts if n > 1 else ["identical"])]


def load(p: Parameters) -> Inputs:
    """Each data set's test set and the combining run (a test's :class:`Inputs` gives a stand-in ``combine``).

    ``combine`` is :func:`exemplar.parallel.combine.run_combination`; each configuration's engines
    read the first ``n_train`` rows of its data set's training CSV.
    """
    from exemplar import data
    from exemplar.parallel.combine import run_combination

    tests = {d: data.load_dataset(d, "test") for d in p.datasets}
    return Inputs({"tests": tests, "combine": run_combination}, inputs="raw pixels 0-255 and pixels / 255, float64",
                  n_test={d: len(t[1]) for d, t in tests.items()})


def run_one(p: Parameters, inputs: Inputs, cl, c: Mapping[str, Any]) -> dict[str, Any]:
    """One configuration on the cluster ``cl``: one training, every method's combination, one row."""
    from exemplar import data
    from exemplar.parallel.shards import csv_source

    t0 = time.perf_counter()
    source = csv_source(data.dataset_csv(c["dataset"], "train"), p.n_train)
    res = inputs.combine(cl, source, *inputs.tests[c["dataset"]], hidden=p.hidden, epochs=p.epochs, seed=c["seed"],
                         same_start=c["start"] == "identical", scale_inputs=c["scale_inputs"], methods=p.methods,
                         trainer=p.trainer, dtype=p.dtype)
    row = {"hidden": res.hidden, "epochs": res.epochs, "n_train": res.n_train, "dtype": p.dtype,
           "fit_seconds_max": res.fit_seconds_max, "n_iter_max": max(res.n_iter),
           "distribute_seconds": res.distribute_seconds, "wall_seconds": time.perf_counter() - t0}
    for m in res.methods:
        row.update({f"{m['method']}__{k}": m[k] for k in analysis.METHOD_COLUMNS})
    return row


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """The chapter's summary of its runs: :func:`exemplar.analysis.combining.summarize`."""
    return analysis.summarize(runs)
