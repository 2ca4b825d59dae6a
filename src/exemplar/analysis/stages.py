"""The report's stages: the notebooks ``exemplar run`` executes, in order, and the wall time recorded of each.

:data:`PLAN` is the report: each notebook with the parameters of a full run and of a QUICK run, in
the order they run. :mod:`exemplar.site.notebooks` executes it and appends each stage's wall time to
``results/report_stages.csv`` (:data:`STAGES_NAME`); the status page lists the notebooks in this
order and the performance chapter reads the stage times back (:func:`read_stages`,
:func:`latest_stages`, :func:`project_stages`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exemplar import config

#: notebook stem → (full-run parameters, QUICK parameters). Empty = the notebook's own defaults.
PLAN: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "01-data": ({}, {}),
    "02-sequential-sweep": ({}, {"hidden_sizes": [50, 75], "epochs": [50, 75], "repeats": 1, "n_train": 1000}),
    "03-exemplar-parallel": ({}, {"engine_counts": [1, 2], "repeats": 1, "n_train": 1000}),
    "04-communication": ({}, {"engine_counts": [1, 2], "repeats": 1, "n_train": 1000, "n_validation": 1000,
                              "variants": ["one-shot", "periodic, every 5 epochs", "gradient-allreduce, global batch",
                                           "gradient-allreduce, Adam √n rule"]}),
    "04b-combining": ({}, {"engine_counts": [1, 2], "repeats": 1, "n_train": 1000, "datasets": ["mnist"]}),
    "05-algorithms": ({}, {"engine_counts": [1, 2], "n_train": [1000], "repeats": 1, "repeats_full_set": 1,
                                       "n_test": 2000}),
    # Reads results/bench (written by `make bench`, not by this plan) and the stage times recorded so far.
    "06-performance": ({}, {}),
    # These two read the others' results and papermill records, so they run last (the book puts 00 first).
    "00-paper-vs-report": ({}, {}),
    "99-status": ({}, {}),
}

#: What each notebook reads of the others' results: the stems whose results files it reads, or
#: :data:`EARLIER` (every notebook before it in :data:`PLAN`, and ``results/bench``: the pages). A
#: notebook is run again when what it reads changed (:func:`exemplar.site.notebooks.run_plan`).
EARLIER = "every earlier notebook"
READS: dict[str, tuple[str, ...] | str] = {
    "01-data": (),
    "02-sequential-sweep": (),
    # the classifier the later chapters train is the paper's, or (model="sweep-optimum") the sweep's
    "03-exemplar-parallel": ("02-sequential-sweep",),
    "04-communication": ("02-sequential-sweep",),
    "04b-combining": ("02-sequential-sweep",),
    "05-algorithms": ("02-sequential-sweep",),
    "06-performance": EARLIER,
    "00-paper-vs-report": EARLIER,
    "99-status": EARLIER,
}

#: Name of the results file where ``exemplar run`` and ``exemplar book`` record each stage's wall time.
STAGES_NAME = "report_stages"


def latest_stages(stages: pd.DataFrame, quick: bool = False) -> pd.DataFrame:
    """Each stage's most recent wall time among the runs of one kind (full or QUICK), with its run."""
    part = stages[stages.quick == quick]
    if not len(part):
        return part
    part = part.sort_values("run_id").groupby("stage", sort=False).tail(1)
    return part.reset_index(drop=True)


def read_stages(path: Path | None = None) -> pd.DataFrame | None:
    """The latest full run of each stage from ``report_stages.csv`` (the QUICK ones while no full run is recorded).

    ``path`` defaults to ``report_stages.csv`` in :func:`exemplar.config.results_dir`; ``None`` when the
    file does not exist.
    """
    path = Path(path) if path is not None else config.results_dir() / f"{STAGES_NAME}.csv"
    if not path.is_file():
        return None
    all_stages = pd.read_csv(path)
    stages = latest_stages(all_stages, quick=False)
    if not len(stages) and len(all_stages):
        stages = latest_stages(all_stages, quick=True)  # only QUICK runs recorded so far
    return stages


def project_stages(stages: pd.DataFrame, scaling: pd.DataFrame) -> pd.DataFrame:
    """Each training stage's time at every size of ``scaling``, projected from its time at the smallest size.

    A stage's time is taken to grow as its fits do: the sweep as the sequential fit, the
    exemplar and communication chapters as the 2-engine exemplar fit; the algorithms chapter fixes
    its own sizes, and the data and book stages do not depend on ``n_train``.
    """
    seq = scaling[scaling.kind == "sequential"].set_index("n_train").fit_ratio
    par = scaling[(scaling.kind != "sequential") & (scaling.n_engines == 2)].set_index("n_train").fit_ratio
    grows = {"02-sequential-sweep": seq, "03-exemplar-parallel": par, "04-communication": par}
    rows = []
    for n in sorted(scaling.n_train.unique()):
        for r in stages.itertuples():
            ratio = float(grows[r.stage].get(n, np.nan)) if r.stage in grows else 1.0
            rows.append({"n_train": int(n), "stage": r.stage, "seconds": r.seconds * ratio,
                         "measured": ratio == 1.0 or n == scaling.n_train.min()})
    return pd.DataFrame(rows)
