"""The training time a run would take with one core per engine, estimated.

Two estimates live in this package. This module's, :func:`estimate`, is built from each engine's
CPU time and serves the fixed-epoch runs of :func:`exemplar.parallel.run_exemplar` (chapters 03 and
04b). The communication chapter's runs to a target (:mod:`exemplar.parallel.to_target`) use a sounder
model: ``steps × one step's compute timed on a core of its own + exchanges × the collective among n
engines`` (:func:`collective_seconds`), because CPU time grows when engines share a core: a process
that shares its core loses its caches, and CPU time counts that loss (per 200-row step 1.63 ms on one
engine against 2.81 ms on six, in this report's earlier runs on 2 cores).

On a machine with fewer cores than engines, the engines take turns on the cores and the wall
time of a run measures that, not parallelism. Each engine's *CPU time* does not: a process that
shares its core waits longer, but computes no longer (:mod:`exemplar.models.timing`). So every
run records, per engine, the CPU time of its compute apart from the time inside MPI calls, and
:func:`estimate` turns them into ``dedicated_seconds``, the training time on dedicated cores:

one-shot and ensemble
    the largest engine's fit CPU time (the engines never meet during training; this is Table
    II's "no overhead" time on a core each);
periodic and gradient-allreduce
    per communication round, the largest engine's compute CPU time in that round (the others wait
    for it), plus that round's ``Allreduce`` on dedicated cores; summed over the rounds.

The collective's cost on dedicated cores
----------------------------------------
Every run with two or more engines measures one ``Allreduce`` of its rounds' message between two
engines that have a core each (:meth:`exemplar.parallel.collectives.Collectives.probe`; the other
engines sleep meanwhile): ``allreduce_probe_seconds``, the 2-engine cost ``c2``. How it grows
with the engine count ``n`` is a model, :data:`COMM_MODEL`: **recursive doubling**, ``ceil(log2
n)`` exchange steps of the whole message, so ``c(n) = ceil(log2 n) × c2`` (``c(1) = 0``: one
engine has nobody to talk to). MPICH switches to reduce-scatter + all-gather for large messages,
whose bandwidth term grows only as ``2 (n - 1) / n``; recursive doubling is the pessimistic of
the two (×3 at 6 engines, against ×1.67), so the estimate does not flatter the strategies that
communicate.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from exemplar.parallel.engine import APART

#: The model of the collective's growth with the engine count (the chapters name it).
COMM_MODEL = "recursive doubling: ceil(log2 n) × the 2-engine Allreduce"


def collective_factor(n_engines: int) -> int:
    """``ceil(log2 n)``: the steps of a recursive-doubling ``Allreduce`` among ``n`` engines (0 for one)."""
    n = int(n_engines)
    if n < 1:
        raise ValueError(f"n_engines must be a positive integer; got {n_engines!r}")
    return math.ceil(math.log2(n)) if n > 1 else 0


def collective_seconds(n_engines: int, probe_seconds: float) -> float:
    """One ``Allreduce`` among ``n_engines`` with a core each: :func:`collective_factor` × the 2-engine cost."""
    factor = collective_factor(n_engines)
    return 0.0 if factor == 0 else factor * float(probe_seconds)


def round_maxima(per_rank: Sequence[Sequence[float]]) -> np.ndarray:
    """Per round, the largest of the ranks' values (every rank must list the same rounds)."""
    lengths = {len(r) for r in per_rank}
    if len(lengths) != 1:
        raise ValueError(f"every rank must report the same number of rounds; got {sorted(lengths)}")
    return np.max(np.asarray(per_rank, dtype=float), axis=0)


def estimate(strategy: str, fits: Sequence[dict], n_engines: int) -> dict:
    """The CPU-time figures of one run, from what its ranks reported (rank order).

    Parameters
    ----------
    strategy : str
        One of :data:`exemplar.parallel.engine.STRATEGIES`.
    fits : sequence of dict
        Per rank, :func:`exemplar.parallel.engine.train_shard`'s report: ``fit_cpu_seconds``; for the
        ``Allreduce`` strategies also ``round_cpu_seconds`` and, on rank 0, ``allreduce_probe_seconds``.
    n_engines : int
        Ranks of the run.

    Returns
    -------
    dict
        ``fit_cpu_seconds`` (per rank), ``fit_cpu_seconds_max``, ``compute_cpu_seconds`` (the sum over
        rounds of the largest rank's compute; the largest fit for one-shot and ensemble),
        ``allreduce_probe_seconds`` (``nan`` without rounds or with one engine),
        ``comm_model_seconds`` (the rounds' collectives on dedicated cores) and ``dedicated_seconds``.
    """
    cpu = [float(f["fit_cpu_seconds"]) for f in fits]
    out = {"fit_cpu_seconds": cpu, "fit_cpu_seconds_max": max(cpu)}
    if strategy in APART:
        out.update(compute_cpu_seconds=max(cpu), allreduce_probe_seconds=float("nan"), comm_model_seconds=0.0)
    else:
        compute = float(round_maxima([f["round_cpu_seconds"] for f in fits]).sum())
        rounds = len(fits[0]["round_cpu_seconds"])
        probe = float(fits[0].get("allreduce_probe_seconds", float("nan")))
        out.update(compute_cpu_seconds=compute, allreduce_probe_seconds=probe,
                   comm_model_seconds=rounds * collective_seconds(n_engines, probe))
    out["dedicated_seconds"] = out["compute_cpu_seconds"] + out["comm_model_seconds"]
    return out


def validation(runs, cores: int, by: Sequence[str] = ("strategy",)):
    """Where engines have a core each, the estimate against the measured training wall time.

    Parameters
    ----------
    runs : DataFrame
        Rows of :meth:`exemplar.parallel.train.ExemplarResult.as_row` (``n_engines``,
        ``dedicated_seconds``, ``fit_seconds_max`` and the ``by`` columns).
    cores : int
        Usable cores of the machine: only runs with ``n_engines <= cores`` are compared.
    by : sequence of str
        Columns to group by besides ``n_engines``.

    Returns
    -------
    DataFrame
        Per group and engine count: ``runs``, ``estimate_s`` and ``measured_s`` (means of
        ``dedicated_seconds`` and of ``fit_seconds_max``, the slowest engine's training wall time)
        and ``ratio`` (estimate / measured), ``within_10pct`` (``|ratio - 1| <= 0.10``).
    """
    keys = [*by, "n_engines"]
    real = runs[runs.n_engines <= cores]
    g = real.groupby(keys, sort=True)
    out = g.agg(runs=("dedicated_seconds", "size"), estimate_s=("dedicated_seconds", "mean"),
                measured_s=("fit_seconds_max", "mean")).reset_index()
    out["ratio"] = out.estimate_s / out.measured_s
    out["within_10pct"] = (out.ratio - 1).abs() <= 0.10 + 1e-9
    return out


def validation_sentence(table) -> str:
    """The ratios of :func:`validation` in one sentence (per strategy and engine count)."""
    if len(table) == 0:
        return "No run had a core per engine, so the estimate could not be checked against a measurement here."
    name = "variant" if "variant" in table.columns else "strategy"
    parts = [f"{r[name]} on {int(r.n_engines)} engine{'s' if r.n_engines != 1 else ''} {r.ratio:.2f}"
             for _, r in table.iterrows()]
    inside = int(table.within_10pct.sum())
    return (f"With no more engines than cores, the dedicated-core estimate over the measured training "
            f"wall time was {'; '.join(parts)}: {inside} of {len(table)} within 10 %.")
