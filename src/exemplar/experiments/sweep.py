"""Chapter 02, the sequential sweep of the paper's Section IV.A: its fits and its runs (the chapter protocol).

Hidden sizes × epoch caps × repeats → one tidy row per fit. Every fit is sequential (one process,
BLAS pinned to one thread) and timed on its own. The fits are independent, so :func:`sweep_rows`
runs them in this process one after another, or several at once on the engines of an ipyparallel
cluster (``cluster=``, one fit per engine at a time): each fit is still one single-threaded
process timing its own ``fit``. On a machine with a core per engine the timings are those of
sequential fits, up to the memory bandwidth and cache the concurrent fits share;
``exemplar.bench.report`` measures that ratio on the same grid points.

The notebook ``02-sequential-sweep`` declares the parameters of :data:`SPEC`, checks them with
:func:`parameters` and runs the grid with ``exemplar.experiments.runner.run_chapter(sweep, p)``:
the fits share work (:func:`run_group`: the largest cap first, a smaller cap reuses a fit that
stopped before it) and run ``p.engines`` at a time on a local cluster. The numbers (Table I, the
optimum, the classifier the parallel chapters train) are :mod:`exemplar.analysis.sweep`'s; the
text, tables and figures are :mod:`exemplar.reporting.sweep`'s.

The fits themselves (the grid, never fitting the same network twice, in this process or on the
engines) are :mod:`exemplar.parallel.fits`'.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterator, Mapping, Sequence

import pandas as pd

from exemplar import config
from exemplar.analysis import sweep as analysis
from exemplar.analysis.sweep import RESULTS_NAME  # noqa: F401 (the protocol's name for it)
from exemplar.experiments.params import Param, Parameters, ParamSpec, shared
from exemplar.experiments.runner import Inputs
from exemplar.parallel.fits import sweep_rows


# ---------------------------------------------------------------------------------------------
# The chapter: notebooks/02-sequential-sweep.ipynb
# ---------------------------------------------------------------------------------------------

#: What the provenance says this chapter measures.
EXPERIMENT = "sequential sweep (paper Section IV.A)"
#: The columns that identify one configuration (a row of ``results/sequential_sweep.csv``).
KEY_COLUMNS = ["hidden", "epochs", "repeat"]

#: The chapter's parameters, as in the notebook's ``parameters`` cell.
SPEC = ParamSpec(
    Param("hidden_sizes", "int_list", list(config.PAPER_HIDDEN_SIZES), "units in the single hidden layer", minimum=1),
    Param("epochs", "int_list", list(config.PAPER_EPOCHS), "max_iter: the most epochs a fit may run", minimum=1),
    shared("repeats", help="fits per grid point: repeat r uses random_state seed+r"),
    shared("n_train", help="the first n_train training images"),
    shared("seed", help="base seed: repeat r uses random_state seed+r"),
    Param("threads", "int", 1, "BLAS threads during each fit: 1 is one core", minimum=1),
    Param("engines", "int", 2, "fits run at once, one per ipyparallel engine (0: one by one, here)", minimum=0),
    shared("resume", help="keep the fits of an earlier, interrupted run with the same parameters"),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from a notebook's ``globals()`` (or any mapping), checked.

    Raises
    ------
    ValueError
        For a bad value, naming the parameter, what it accepts and what it got.
    """
    return SPEC.from_namespace(namespace)


def load(p: Parameters) -> Inputs:
    """The first ``n_train`` training images and the whole test set, raw pixels."""
    from exemplar import data

    X_train, y_train = data.load_mnist("train", n_rows=p.n_train)
    X_test, y_test = data.load_mnist("test")
    return Inputs({"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test},
                  n_test=len(y_test), inputs="raw pixels 0-255, float64",
                  timing="train_seconds: wall time of fit; train_cpu_seconds: its thread's CPU time")


def configs(p: Parameters) -> list[dict[str, Any]]:
    """Every grid point: hidden size × epoch cap × repeat (repeat ``r`` uses ``seed + r``)."""
    return [{"hidden": h, "epochs": e, "repeat": r, "seed": p.seed + r}
            for h, e, r in itertools.product(p.hidden_sizes, p.epochs, range(p.repeats))]


def cluster_size(p: Parameters, c: Mapping[str, Any]) -> int | None:
    """Every fit runs on the ``p.engines`` engines of one local cluster, or in this process (``engines = 0``)."""
    return p.engines or None


def start_cluster(p: Parameters, n: int):
    """A local ipyparallel cluster of ``n`` engines (the fits are independent: no MPI world)."""
    from exemplar.parallel import cluster

    return cluster.start_cluster(n, launcher="local")


def run_group(p: Parameters, inputs: Inputs, cl, group: Sequence[Mapping[str, Any]],
              done: pd.DataFrame) -> Iterator[dict]:
    """The fits of ``group`` sharing work (:func:`sweep_rows`: the grid's largest cap first, and rows
    ``done`` earlier standing in for smaller caps), each row yielded as it finishes."""
    points = [(int(c["hidden"]), int(c["epochs"]), int(c["repeat"])) for c in group]
    yield from sweep_rows(points, inputs.X_train, inputs.y_train, inputs.X_test, inputs.y_test, cap=max(p.epochs),
                          seed=p.seed, threads=p.threads, cluster=cl, finished=done)


def run_one(p: Parameters, inputs: Inputs, cl, c: Mapping[str, Any]) -> dict:
    """One grid point fitted on its own (on ``cl``'s engines, or here); the chapter runs :func:`run_group`."""
    point = (int(c["hidden"]), int(c["epochs"]), int(c["repeat"]))
    return list(sweep_rows([point], inputs.X_train, inputs.y_train, inputs.X_test, inputs.y_test, cap=point[1],
                           seed=p.seed, threads=p.threads, cluster=cl))[0]


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """The chapter's summary of its rows: Table I (:func:`exemplar.analysis.sweep.summarize`)."""
    return analysis.summarize(rows)
