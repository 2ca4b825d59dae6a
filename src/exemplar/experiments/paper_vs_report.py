"""The chapter ``notebooks/00-paper-vs-report.ipynb``: the paper's Tables I–III beside ours, with verdicts.

The page reads what the sweep (02) and exemplar (03) chapters wrote; the comparisons and the
verdicts are :mod:`exemplar.reporting.claims` (rules in :mod:`exemplar.reporting.verdicts`), the
downloads :mod:`exemplar.reporting.status`. This module holds the page's parameters and its
computed sentence.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from exemplar.experiments.params import Param, Parameters, ParamSpec
from exemplar.reporting.verdicts import CAVEAT, NOT_REPRODUCED, REPRODUCED

#: The page's parameters, as in the notebook's ``parameters`` cell.
SPEC = ParamSpec(
    Param("results_folder", "str", None,
          "folder of results/*.csv; None: config.results_dir() (results/, or results/quick)", optional=True),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The page's parameters from a notebook's ``globals()`` (or any mapping), checked."""
    return SPEC.from_namespace(namespace)


def verdict_sentence(verdicts: pd.DataFrame) -> str:
    """How many claims got each verdict: "**5** reproduced, **1** reproduced with a caveat, ... (of N claims)."

    Parameters
    ----------
    verdicts : DataFrame
        :func:`exemplar.reporting.claims.claims_table` (a ``verdict`` column).
    """
    counts = {v: int((verdicts["verdict"] == v).sum()) for v in (REPRODUCED, CAVEAT, NOT_REPRODUCED)}
    return ", ".join(f"**{n}** {v}" for v, n in counts.items()) + f" (of {len(verdicts)} claims)."
