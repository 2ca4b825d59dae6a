"""The chapter ``notebooks/00-paper-vs-report.ipynb``: the paper's Tables I–III beside ours; its parameters.

The page reads what the sweep (02) and exemplar (03) chapters wrote; the comparisons, the verdicts
and their sentence are :mod:`exemplar.reporting.claims` (rules in :mod:`exemplar.reporting.verdicts`),
the downloads :mod:`exemplar.reporting.status`.
"""

from __future__ import annotations

from typing import Any, Mapping

from exemplar.experiments.params import Param, Parameters, ParamSpec

#: The page's parameters, as in the notebook's ``parameters`` cell.
SPEC = ParamSpec(
    Param("results_folder", "str", None,
          "folder of results/*.csv; None: config.results_dir() (results/, or results/quick)", optional=True),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The page's parameters from a notebook's ``globals()`` (or any mapping), checked."""
    return SPEC.from_namespace(namespace)
