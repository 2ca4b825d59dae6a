"""The chapter ``notebooks/99-status.ipynb``: how the numbers were produced; its parameters.

The tables and sentences are :mod:`exemplar.reporting.status` (read from the results' provenance and
papermill's records of the executed notebooks).
"""

from __future__ import annotations

from typing import Any, Mapping

from exemplar.experiments.params import Param, Parameters, ParamSpec

#: The page's parameters, as in the notebook's ``parameters`` cell.
SPEC = ParamSpec(
    Param("results_folder", "str", None,
          "folder of results/*.json; None: config.results_dir() (results/, or results/quick)", optional=True),
    Param("run_dir", "str", None, "folder of executed notebooks; None: book/_run", optional=True),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The page's parameters from a notebook's ``globals()`` (or any mapping), checked."""
    return SPEC.from_namespace(namespace)
