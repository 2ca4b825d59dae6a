"""Chapter 04, communication strategies trained to a target accuracy: its parameters and its runs.

The notebook ``04-communication`` declares the parameters of :data:`SPEC`, checks them with
:func:`parameters` and runs every configuration with
``exemplar.experiments.runner.run_chapter(communication, p)`` (rows saved as they finish,
resumable, retried on a dead engine).

**Time to accuracy.** First the sequential *reference* runs (one engine, scikit-learn's network and
stopping rule, ``repeats`` seeds per input scaling) fix the **target**: their mean accuracy on a
validation set (the ``n_validation`` training images after the first ``n_train``, never the test
set) minus ``tolerance_pp``. Then every variant (:data:`exemplar.parallel.target_loop.VARIANTS`; on
one engine only the sequential run) trains until its validation accuracy reaches the target, or it
gives up: after ``budget_factor`` times the reference's mean optimizer steps, or after
``patience_factor`` times them without a new best (:func:`exemplar.parallel.to_target.run_to_target`).
Each row says how long it took to the target (measured, and estimated with a core per engine), in how
many steps and exchanges, and the test accuracy there; each run's checkpoints go to
``results/communication_curves.csv`` (:func:`companions`).

The numbers are computed from the rows by :mod:`exemplar.analysis.communication` and said by
:mod:`exemplar.reporting.communication`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Sequence

import pandas as pd

from exemplar import config
from exemplar.analysis import communication as analysis
from exemplar.analysis.communication import CURVES_NAME, REFERENCE, RESULTS_NAME  # noqa: F401 (the protocol's names)
from exemplar.analysis.sweep import chosen_model
from exemplar.experiments.params import Param, Parameters, ParamSpec, check_engine_counts, shared
from exemplar.experiments.runner import Inputs
from exemplar.parallel.target_loop import variant_catalogue

#: What the provenance says this chapter measures.
EXPERIMENT = "communication strategies for exemplar parallelism, trained to a target accuracy"
#: The results' first columns, in this order; the rest follow as the runs report them.
FIRST_COLUMNS = ["n_engines", "scale_inputs", "repeat", "seed", "variant", "strategy", "phase", "target_pct",
                 "reached", "stopped_by", "time_to_target_seconds", "dedicated_time_to_target_seconds",
                 "steps_to_target", "exchanges_to_target", "test_accuracy_at_target_pct", "accuracy_pct",
                 "validation_pct"]
#: The results' last columns, in this order.
LAST_COLUMNS = ["start_seconds", "oversubscribed", "provenance_id"]
#: The columns that identify one configuration (a row of ``results/communication.csv``).
KEY_COLUMNS = analysis.KEY_COLUMNS
#: Every variant the chapter can run (periodic every 1 and 5 epochs; post-local switching after 5).
VARIANT_NAMES = list(variant_catalogue())

SPEC = ParamSpec(
    shared("engine_counts", help="MPI engines; the 1-engine runs are the sequential reference"),
    Param("variants", "str_list", VARIANT_NAMES, "how the engines train together (one-shot is the paper's)",
          choices=tuple(VARIANT_NAMES)),
    Param("switch_epochs", "int", 5, "post-local SGD: epochs of gradient all-reduce before the local steps",
          minimum=1),
    shared("repeats", default=3),
    Param("scale_inputs", "bool_list", [False, True], "False: raw pixels 0-255, as the paper; True: pixels / 255"),
    shared("hidden"),
    shared("epochs"),
    shared("model"),
    shared("n_train"),
    Param("n_validation", "int", 5000, "validation images: the training images after the first n_train "
          "(the target is detected on them, never on the test set)", minimum=10, maximum=30000),
    shared("seed"),
    Param("tolerance_pp", "float", 0.5,
          "the target: the sequential runs' mean validation accuracy minus this many percentage points", minimum=0),
    Param("budget_factor", "float", 2.0, "a run gives up after this many times the sequential runs' mean steps",
          minimum=1),
    Param("patience_factor", "float", 0.5, "... or after this many times them without a new best validation "
          "accuracy (0: no patience)", minimum=0),
    shared("resume"),
    shared("retries"),
    shared("dtype", default="float32", help="the training dtype: \"float32\" (the default beyond the paper: pixels, "
                                           "weights and MPI buffers in single precision, about twice as fast; the "
                                           "performance chapter measures what it costs in accuracy) or \"float64\""),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from ``namespace`` (the notebook's ``globals()``), checked and completed.

    Besides each parameter's own type and range (:data:`SPEC`): ``engine_counts`` must include 1 and
    a larger count, none above ``n_train``; ``n_train + n_validation`` must fit in the 60,000 training
    images. Engine counts and ``scale_inputs`` come back sorted, the variants in the catalogue's
    order; ``hidden`` and ``epochs`` are resolved (the ``model`` parameter's classifier unless given)
    and ``chosen_by`` says how.

    Raises
    ------
    ValueError
        Naming the parameter, what it accepts and what it got.
    """
    p = SPEC.from_namespace(namespace)
    p.engine_counts = check_engine_counts(p.engine_counts, p.n_train, reference=True, larger=True)
    if p.n_train + p.n_validation > config.N_TRAIN_TOTAL:
        raise ValueError(f"parameters n_train + n_validation must fit in the {config.N_TRAIN_TOTAL} training "
                         f"images (the validation images follow the first n_train); got {p.n_train} + "
                         f"{p.n_validation}: lower n_validation")
    p.variants = [v for v in VARIANT_NAMES if v in p.variants]
    p.scale_inputs = sorted(p.scale_inputs)
    p.hidden, p.epochs, p.chosen_by = chosen_model(p.hidden, p.epochs, p.model)
    return p


def catalogue(p: Parameters) -> dict:
    """The variants by name, with this run's ``switch_epochs`` (:func:`~exemplar.parallel.target_loop.variant_catalogue`)."""
    return variant_catalogue(switch_epochs=p.switch_epochs)


def configs(p: Parameters) -> list[dict[str, Any]]:
    """Every run, in order: the sequential references, then per engine count (one cluster each), input
    scaling, repeat and variant the runs to the target (on one engine the sequential run only)."""
    out = [{"n_engines": 1, "scale_inputs": s, "repeat": r, "seed": p.seed + r, "variant": REFERENCE,
            "phase": "reference"} for s in p.scale_inputs for r in range(p.repeats)]
    for n in p.engine_counts:
        names = ["one-shot"] if n == 1 else p.variants
        out += [{"n_engines": n, "scale_inputs": s, "repeat": r, "seed": p.seed + r, "variant": v,
                 "phase": "to target"} for s in p.scale_inputs for r in range(p.repeats) for v in names]
    return out


def load(p: Parameters) -> Inputs:
    """The test set, the validation images, the training CSV's first ``n_train`` rows (read by the
    engines) and the trainer (:func:`exemplar.parallel.to_target.run_to_target`; a test's
    :class:`Inputs` gives a stand-in)."""
    from exemplar import data
    from exemplar.parallel import csv_source
    from exemplar.parallel.to_target import run_to_target

    X_test, y_test = data.load_mnist("test")
    X, y = data.load_mnist("train", p.n_train + p.n_validation)
    source = csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, p.n_train)
    return Inputs({"source": source, "X_val": X[p.n_train:], "y_val": y[p.n_train:], "X_test": X_test,
                   "y_test": y_test, "train": run_to_target},
                  inputs="raw pixels 0-255 and pixels / 255, float64", n_test=len(y_test),
                  validation=f"training images {p.n_train}-{p.n_train + p.n_validation - 1}", trainer="numpy")


def run_one(p: Parameters, inputs: Inputs, cl, c: Mapping[str, Any], plan: Mapping[str, Any] | None = None) -> dict:
    """One configuration on the cluster ``cl``: its measured row (with its checkpoints in ``curve``).

    A reference runs to scikit-learn's stopping rule (at most ``epochs`` epochs); a run to the target
    needs ``plan``, the target and budget of its input scaling (:func:`exemplar.analysis.communication.plan_from`).
    """
    common = dict(hidden=p.hidden, seed=c["seed"], scale_inputs=c["scale_inputs"], dtype=p.dtype)
    variant = catalogue(p)["one-shot" if c["phase"] == "reference" else c["variant"]]
    if c["phase"] == "reference":
        res = inputs.train(cl, inputs.source, inputs.X_val, inputs.y_val, inputs.X_test, inputs.y_test, variant,
                           stopping=True, max_epochs=p.epochs, budget_steps=10**9, **common)
    else:
        if plan is None:
            raise ValueError("a run to the target needs the plan of its input scaling (the reference runs first)")
        res = inputs.train(cl, inputs.source, inputs.X_val, inputs.y_val, inputs.X_test, inputs.y_test, variant,
                           target=plan["target_pct"], budget_steps=plan["budget_steps"], max_epochs=10**6,
                           patience_steps=plan["patience_steps"], checkpoint_steps=plan["checkpoint_steps"],
                           **common)
    return {**res.row, "repeat": c["repeat"], "variant": c["variant"], "phase": c["phase"]}


def run_group(p: Parameters, inputs: Inputs, cl, group: Sequence[Mapping[str, Any]],
              done: pd.DataFrame) -> Iterator[dict]:
    """The configurations of one cluster in order, each row yielded as it finishes; a run to the target
    takes its target and budget from the reference rows finished so far (``done`` and this group's)."""
    known = done.to_dict("records") if len(done) else []
    for c in group:
        plan = None
        if c["phase"] != "reference":
            plan = analysis.plan_from(pd.DataFrame(known), c["scale_inputs"], p.tolerance_pp, p.budget_factor,
                                      p.patience_factor)
        row = {**c, **run_one(p, inputs, cl, c, plan)}
        known.append(row)
        yield row


def finish(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` as ``results/communication.csv`` holds them: :data:`FIRST_COLUMNS` first, :data:`LAST_COLUMNS`
    last, without the checkpoints (they go to the curves file, :func:`companions`)."""
    runs = runs.drop(columns=["curve"], errors="ignore")
    first = [c for c in FIRST_COLUMNS if c in runs.columns]
    last = [c for c in LAST_COLUMNS if c in runs.columns]
    middle = [c for c in runs.columns if c not in first and c not in last]
    return runs[first + middle + last].copy()


def companions(runs: pd.DataFrame, previous: Callable[[str], pd.DataFrame | None]) -> dict[str, pd.DataFrame]:
    """``results/communication_curves.csv``: every run's checkpoints, one tidy row each
    (:func:`exemplar.analysis.communication.curves_frame`). Runs kept from an earlier run by ``resume``
    take their checkpoints from the earlier curves file (``previous(name)``)."""
    return {CURVES_NAME: analysis.curves_frame(runs, KEY_COLUMNS, previous(CURVES_NAME))}


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """The chapter's summary of its runs: :func:`exemplar.analysis.communication.summarize_to_target`."""
    return analysis.summarize_to_target(runs)
