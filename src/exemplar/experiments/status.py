"""The chapter ``notebooks/99-status.ipynb``: how the numbers were produced.

The tables are :mod:`exemplar.reporting.status` (read from the results' provenance and papermill's
records of the executed notebooks); this module holds the page's parameters and its computed
sentences.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from exemplar import config
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


def results_sentence(folder, names: Iterable[str]) -> str:
    """"Results read from `FOLDER`: `a`, `b`." (``folder`` ``None``: :func:`exemplar.config.results_dir`)."""
    return (f"Results read from `{config.display_path(folder or config.results_dir())}`: "
            + ", ".join(f"`{name}`" for name in names) + ".")


def execution_sentence(runs: pd.DataFrame) -> str:
    """"Total execution time: **T s** over N notebooks." from :func:`exemplar.reporting.status.execution_table`."""
    return (f"Total execution time: **{runs['duration (s)'].sum():.1f} s** over "
            f"{int(runs['duration (s)'].notna().sum())} notebooks.")
