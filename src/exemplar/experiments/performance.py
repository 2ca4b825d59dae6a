"""Chapter 06, performance: its parameter and what it reads (the benchmarks' measurements and the stage times).

The chapter runs nothing: it reads what ``make bench`` wrote (``results/bench/*.csv``, see
:mod:`exemplar.bench`) and the report's stage times (``results/report_stages.csv``). Its one
parameter, ``bench_dir``, says where the benchmarks' files are. :func:`load` reads everything once
into a :class:`~exemplar.analysis.performance.Measurements`; the chapter's sections, sentences and
targets are :mod:`exemplar.reporting.performance` and :mod:`exemplar.reporting.targets`.
"""

from __future__ import annotations

from typing import Any, Mapping

from exemplar import config
from exemplar.analysis import performance as analysis
from exemplar.analysis.stages import read_stages
from exemplar.experiments.params import Param, Parameters, ParamSpec, shown

SPEC = ParamSpec(
    Param("bench_dir", "str", None, "folder of the benchmarks' CSV files; None: results/bench", optional=True),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from the notebook's namespace, checked.

    ``bench_dir`` is ``None`` (``results/bench``) or a folder that exists, relative to the project
    root or absolute.

    Raises
    ------
    ValueError
        Naming ``bench_dir``, what it accepts and what it got (not a string, empty, or no such folder).
    """
    p = SPEC.from_namespace(namespace)
    if p.bench_dir is not None:
        accepted = ("an existing folder of the benchmarks' CSV files (relative to the project root, or "
                    "absolute), or None for results/bench")
        if not p.bench_dir.strip():
            raise ValueError(f"parameter bench_dir must be {accepted}; got {shown(p.bench_dir)}")
        folder = config.ROOT / p.bench_dir
        try:
            found = folder.is_dir()
        except OSError:  # e.g. a name longer than the file system allows: no such folder either
            found = False
        if not found:
            raise ValueError(f"parameter bench_dir must be {accepted}; got {shown(p.bench_dir)} (no folder {shown(str(folder), 200)})")
    return p


def load(p: Parameters) -> analysis.Measurements:
    """Every benchmark's results from ``p.bench_dir`` (default ``results/bench``) and the stage times."""
    directory = analysis.default_dir() if p.bench_dir is None else config.ROOT / p.bench_dir
    return analysis.read_measurements(directory, read_stages())
