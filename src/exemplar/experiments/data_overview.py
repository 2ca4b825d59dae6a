"""The chapter ``notebooks/01-data.ipynb``: its parameters.

The chapter's tables and its computed sentence are :mod:`exemplar.reporting.data_overview`.
"""

from __future__ import annotations

from typing import Any, Mapping

from exemplar import config
from exemplar.experiments.params import Param, Parameters, ParamSpec

#: The chapter's parameters, as in the notebook's ``parameters`` cell.
SPEC = ParamSpec(
    Param("n_train", "int", 6000, "the training images the paper uses (the first n_train rows)", minimum=1,
          maximum=config.N_TRAIN_TOTAL),
    Param("n_show", "int", 30, "digits drawn in the sample grid", minimum=1, maximum=200),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from a notebook's ``globals()`` (or any mapping), checked."""
    return SPEC.from_namespace(namespace)
