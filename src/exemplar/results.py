"""Tidy results with provenance, written atomically.

Each experiment writes ``results/NAME.csv`` (one row per run) and ``results/NAME.json``
(what produced it: parameters, seed, machine, versions, git commit). Files are written to a
temporary file in the same folder and renamed into place, so an interrupted run never leaves
a half-written file behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from exemplar import config
from exemplar.fileio import atomic_write_text  # re-exported: results.atomic_write_text

#: Packages whose versions go into every provenance record.
PACKAGES = ("exemplar", "numpy", "scipy", "scikit-learn", "pandas", "ipyparallel", "mpi4py", "mpich",
            "papermill", "plotly", "jupyter-book", "threadpoolctl")


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def memory_gib() -> float | None:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:  # pragma: no cover - psutil is a dependency, this is belt and braces
        return None


def git_commit() -> str | None:
    """The checkout's commit, with ``-dirty`` when the tree has uncommitted changes; ``None`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=config.ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except Exception:
        return None


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def blas_info() -> list[dict[str, Any]]:
    """The BLAS/OpenMP libraries loaded in this process and their thread counts (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info

        keys = ("user_api", "internal_api", "version", "architecture", "num_threads", "threading_layer")
        return [{k: d.get(k) for k in keys} for d in threadpool_info()]
    except Exception:
        return []


def mpi_version() -> str | None:
    try:
        from mpi4py import MPI

        return MPI.Get_library_version().splitlines()[0].strip()
    except Exception:
        return None


def load_average() -> list[float] | None:
    """The machine's load average over the last 1, 5 and 15 minutes (``os.getloadavg``), rounded;
    ``None`` where the OS has none.

    The load average counts the processes running or waiting for a core; above the usable cores,
    processes take turns on them, and wall times grow while CPU times barely move.
    """
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def provenance(params: Mapping[str, Any], **extra) -> dict[str, Any]:
    """What produced a result: parameters, machine, versions and commit, as a JSON-ready dict.

    ``load`` holds the machine's load average (:func:`load_average`) when the chapter starts
    (``start``); :func:`write_results` adds ``end``, the load average when the file was last written
    (after a chapter's last row, its end).
    """
    return {
        "parameters": dict(params),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpu_model": cpu_model(),
            "logical_cores": os.cpu_count(),
            "usable_cores": usable_cores(),
            "memory_gib": memory_gib(),
            "os": platform.platform(),
            "hostname": platform.node(),
        },
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "blas": blas_info(),
        "mpi": mpi_version(),
        "git_commit": git_commit(),
        "load": {"start": load_average()},
        **extra,
    }


def with_end_load(prov: Mapping[str, Any]) -> dict[str, Any]:
    """``prov`` with ``load.end`` set to the load average now (a copy; ``prov`` is not changed).

    Only provenance records that carry a ``load`` record (those of :func:`provenance`) get one, and not
    those of a run that resumed every row of an earlier one (``resumed_at``: the load is that run's).
    """
    prov = dict(prov)
    if isinstance(prov.get("load"), Mapping) and "resumed_at" not in prov:
        prov["load"] = {**prov["load"], "end": load_average()}
    return prov


def write_results(name: str, rows: pd.DataFrame | Iterable[Mapping[str, Any]], prov: Mapping[str, Any],
                  directory: Path | None = None) -> Path:
    """Write ``NAME.csv`` and ``NAME.json`` into the results folder, atomically. Returns the CSV's path.

    The JSON is ``prov`` with the load average at this write as ``load.end`` (:func:`with_end_load`):
    a chapter that saves each row as it finishes leaves its end load in the file.
    """
    directory = Path(directory) if directory is not None else config.results_dir()
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    csv_path = directory / f"{name}.csv"
    atomic_write_text(directory / f"{name}.json", json.dumps(with_end_load(prov), indent=2, default=str) + "\n")
    atomic_write_text(csv_path, df.to_csv(index=False, lineterminator="\n"))
    return csv_path


def read_results(name: str, directory: Path | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read back ``NAME.csv`` and its provenance."""
    directory = Path(directory) if directory is not None else config.results_dir()
    df = pd.read_csv(directory / f"{name}.csv")
    prov_path = directory / f"{name}.json"
    prov = json.loads(prov_path.read_text()) if prov_path.exists() else {}
    return df, prov
