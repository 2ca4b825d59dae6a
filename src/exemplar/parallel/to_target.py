"""The driver of a run to a target accuracy: check -> distribute -> train until -> collect -> test.

:func:`run_to_target` trains one variant (:data:`exemplar.parallel.target_loop.VARIANTS`) on every
engine of an MPI cluster until its validation accuracy reaches ``target`` or its optimizer steps
reach ``budget_steps`` (:func:`exemplar.parallel.target_loop.train_until` on the engines), then
tests the final model on the test set in the master. With ``target=None`` it runs to the budget or
to scikit-learn's stopping rule (``stopping=True``): the sequential reference, whose validation
accuracy fixes the target.

What a run reports
------------------
Its row (:attr:`TargetRun.row`) and its *curve* (:attr:`TargetRun.curve`, one row per checkpoint).
At each checkpoint: the epochs, the optimizer steps (of the engine that made the most), the
exchanges of model state so far, the validation accuracy, the on-clock training wall time (the
slowest engine's), the compute CPU time (the largest engine's), and the **dedicated-core estimate**
``steps × step + exchanges × collective(n)``: ``step`` is one step's compute timed on a core of its
own (:func:`~exemplar.parallel.target_loop.step_probe`), ``collective(n)`` the exchange's
``Allreduce`` among ``n`` engines with a core each (:func:`exemplar.parallel.dedicated.collective_seconds`).
The row's ``*_to_target_*`` columns are taken at the first checkpoint at or above the target; the
run stops there, so its final model is the model at the target and ``test_accuracy_at_target_pct``
is its test accuracy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exemplar.models.sklearn_mlp import accuracy_pct
from exemplar.models.wrappers import PixelScaledModel
from exemplar.parallel import engine
from exemplar.parallel.dedicated import collective_seconds
from exemplar.parallel.distribute import distribute_checked
from exemplar.parallel.remote import submit, wait
from exemplar.parallel.shards import check_arrays, check_source
from exemplar.parallel.target_loop import VARIANTS, Variant, scaled_params
from exemplar.parallel.train import RunSettings, collect_model
from exemplar.validation import (check_bool, check_dtype, check_interval, check_mpi_cluster, check_positive_int,
                                 check_timeout)

#: The curve's columns (one row per checkpoint).
CURVE_COLUMNS = ["checkpoint", "epoch", "steps", "exchanges", "validation_pct", "wall_seconds", "cpu_seconds",
                 "dedicated_seconds"]


@dataclass
class TargetRun:
    """One run to the target: its row, its curve and its final model (takes raw pixels)."""

    row: dict
    curve: pd.DataFrame
    model: Any


def run_to_target(cl, source, X_val, y_val, X_test, y_test, variant: str | Variant, *, hidden=75, seed: int = 0,
                  scale_inputs: bool = False, target: float | None = None, budget_steps: int = 10_000,
                  max_epochs: int = 10_000, stopping: bool = False, patience_steps: int | None = None,
                  checkpoint_steps: int = 1, dtype: str = "float64",
                  mlp_params: dict | None = None, timeout: float | None = 3600.0) -> TargetRun:
    """Train ``variant`` on every engine of ``cl`` until the validation accuracy reaches ``target``.

    Parameters
    ----------
    cl : exemplar.parallel.cluster.RunningCluster
        An MPI cluster; each engine gets one shard of ``source`` (:func:`exemplar.parallel.csv_source`
        or :func:`~exemplar.parallel.array_source`).
    X_val, y_val : ndarray
        The validation set (uint8 pixels, labels): never the test set. Sent to rank 0.
    X_test, y_test : ndarray
        The test set, for the final model's accuracy in this process.
    variant : str or Variant
        A name of :data:`~exemplar.parallel.target_loop.VARIANTS`, or a :class:`Variant`.
    hidden, seed, scale_inputs, dtype, mlp_params, timeout
        As :func:`exemplar.parallel.run_exemplar` (``mlp_params`` before the variant's rescaling).
    target : float or None
        Validation accuracy to reach, in percent; ``None``: run to the end.
    budget_steps, max_epochs : int
        Stop once the steps (of the busiest engine) reach ``budget_steps``, or after ``max_epochs``.
    stopping : bool
        Also stop at scikit-learn's rule on the training loss (the sequential reference).
    patience_steps : int, optional
        Give up once this many steps passed without a new best validation accuracy (``None``: never).
    checkpoint_steps : int
        Test at the first checkpoint (epoch or average) at least this many steps after the last (1: at every one).

    Returns
    -------
    TargetRun

    Raises
    ------
    ValueError
        For a bad parameter (named), a local cluster or shards without every class.
    exemplar.parallel.EngineError
        When a step fails or times out on an engine.
    """
    t_start = time.perf_counter()
    n = check_mpi_cluster(cl, "run_to_target")
    variant = _check_variant(variant)
    settings = dict(hidden=check_positive_int("hidden", hidden), seed=check_positive_int("seed", seed, minimum=0),
                    scale_inputs=check_bool("scale_inputs", scale_inputs), dtype=check_dtype(dtype),
                    budget_steps=check_positive_int("budget_steps", budget_steps),
                    max_epochs=check_positive_int("max_epochs", max_epochs), stopping=check_bool("stopping", stopping),
                    patience_steps=None if patience_steps is None else check_positive_int("patience_steps",
                                                                                         patience_steps),
                    checkpoint_steps=check_positive_int("checkpoint_steps", checkpoint_steps),
                    target=None if target is None else check_interval("target", target, low=0, high=100))
    timeout = check_timeout(timeout)
    check_source(source, n)
    X_val, y_val = check_arrays(X_val, y_val, "X_val", "y_val")
    X_test, y_test = check_arrays(X_test, y_test, "X_test", "y_test")
    dist, classes = distribute_checked(cl, source, X_test.shape[1], timeout)
    s = settings
    args = (dist.token, variant.as_dict(), s["hidden"], s["seed"], dict(mlp_params or {}), s["scale_inputs"], classes,
            s["dtype"], s["target"], s["budget_steps"], s["max_epochs"], s["stopping"], s["patience_steps"],
            s["checkpoint_steps"])
    ars = submit(cl, engine.train_to_target, lambda rank: (*args, *((X_val, y_val) if rank == 0 else (None, None))))
    reports = wait(cl, ars, "training to the target", timeout)
    t0 = time.perf_counter()
    run = RunSettings(n_engines=n, hidden=s["hidden"], epochs=s["max_epochs"], seed=s["seed"], timeout=timeout,
                      mlp_params=scaled_params(variant, mlp_params or {}, n),
                      strategy="one-shot" if variant.apart else "gradient-allreduce", sync_every=1,
                      scale_inputs=False, dtype=s["dtype"], trainer="numpy")
    model, _ = collect_model(cl, dist, run, reports, classes)
    model = PixelScaledModel(model) if s["scale_inputs"] else model
    combine_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    acc = accuracy_pct(model, X_test, y_test)
    eval_seconds = time.perf_counter() - t0
    curve = curve_of(reports, n)
    row = _row(variant, reports, curve, n, s, dist, acc)
    row.update(combine_seconds=combine_seconds, eval_seconds=eval_seconds, wall_seconds=time.perf_counter() - t_start,
               replicas_identical=None if variant.apart else len({r["weights_crc"] for r in reports}) == 1)
    return TargetRun(row=row, curve=curve, model=model)


def _check_variant(variant) -> Variant:
    if isinstance(variant, Variant):
        return variant
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)} (or a Variant); got {variant!r}")
    return VARIANTS[variant]


def curve_of(reports: list[dict], n_engines: int) -> pd.DataFrame:
    """The run's checkpoints from the ranks' reports (rank order): :data:`CURVE_COLUMNS`."""
    lengths = {len(r["points"]) for r in reports}
    if len(lengths) != 1:
        raise ValueError(f"the ranks report different numbers of checkpoints: {sorted(lengths)}")
    per_rank = [pd.DataFrame(r["points"]) for r in reports]
    first = per_rank[0]
    step = float(reports[0]["step_probe_seconds"])
    collective = collective_seconds(n_engines, reports[0]["allreduce_probe_seconds"]) if n_engines > 1 else 0.0
    steps = np.max([p["steps"].to_numpy() for p in per_rank], axis=0)
    curve = pd.DataFrame({
        "checkpoint": np.arange(1, len(first) + 1), "epoch": first["epoch"].to_numpy(), "steps": steps,
        "exchanges": first["exchanges"].to_numpy(), "validation_pct": first["validation_pct"].to_numpy(),
        "wall_seconds": np.max([p["wall"].to_numpy() for p in per_rank], axis=0),
        "cpu_seconds": np.max([p["cpu"].to_numpy() for p in per_rank], axis=0)})
    curve["dedicated_seconds"] = curve.steps * step + curve.exchanges * collective
    return curve[CURVE_COLUMNS]


def _row(variant: Variant, reports: list[dict], curve: pd.DataFrame, n: int, s: dict, dist, acc: float) -> dict:
    """The run's row: settings, the final model's accuracy, the counters, the probes and the time to target."""
    r0 = reports[0]
    last = curve.iloc[-1]
    collective = collective_seconds(n, r0["allreduce_probe_seconds"]) if n > 1 else 0.0
    row = {"n_engines": n, "strategy": variant.strategy, "variant": variant.name, "hidden": s["hidden"],
           "seed": s["seed"], "scale_inputs": s["scale_inputs"], "dtype": s["dtype"], "trainer": "numpy",
           "n_train": int(sum(dist.sizes)), "accuracy_pct": acc, "validation_pct": float(last.validation_pct),
           "n_iter_max": max(r["n_iter"] for r in reports), "steps": int(last.steps),
           "comm_rounds": int(r0["comm_rounds"]), "comm_bytes": int(r0["comm_bytes"]),
           "comm_seconds": float(max(r["comm_seconds"] for r in reports)),
           "fit_seconds_max": float(max(r["fit_seconds"] for r in reports)),
           "fit_cpu_seconds_max": float(max(r["fit_cpu_seconds"] for r in reports)),
           "step_probe_seconds": float(r0["step_probe_seconds"]),
           "allreduce_probe_seconds": float(r0["allreduce_probe_seconds"]), "collective_seconds": collective,
           "dedicated_seconds": float(last.dedicated_seconds),
           "dedicated_cpu_seconds": float(last.cpu_seconds + last.exchanges * collective),
           "local_batch": int(max(r["local_batch"] for r in reports)), "global_batch": int(r0["global_batch"]),
           "steps_per_epoch": int(max(r["steps_per_epoch"] for r in reports)), "learning_rate": float(r0["learning_rate"]),
           "budget_steps": s["budget_steps"], "patience_steps": s["patience_steps"], "checkpoint_steps": s["checkpoint_steps"],
           "stopped_by": r0["stopped_by"],
           "read_seconds": dist.read_seconds,
           "distribute_seconds": dist.distribute_seconds}
    row.update(at_target(curve, s["target"], acc))
    row["curve"] = json.dumps({c: curve[c].round(6).tolist() for c in CURVE_COLUMNS[1:]}, separators=(",", ":"))
    return row


def at_target(curve: pd.DataFrame, target: float | None, final_accuracy: float) -> dict:
    """The time-to-target columns of a run: at the first checkpoint whose validation accuracy reaches ``target``.

    ``reached`` is ``False`` (and the times ``nan``) where no checkpoint did or there is no target.
    The run stopped at that checkpoint, so ``test_accuracy_at_target_pct`` is the final model's.
    """
    hit = curve.index[curve.validation_pct >= target] if target is not None else []
    out = {"target_pct": np.nan if target is None else float(target), "reached": len(hit) > 0}
    if len(hit):
        at = curve.loc[hit[0]]
        out.update(time_to_target_seconds=float(at.wall_seconds), dedicated_time_to_target_seconds=float(
            at.dedicated_seconds), steps_to_target=int(at.steps), exchanges_to_target=int(at.exchanges),
            epochs_to_target=int(at.epoch), test_accuracy_at_target_pct=float(final_accuracy))
    else:
        out.update(time_to_target_seconds=np.nan, dedicated_time_to_target_seconds=np.nan, steps_to_target=np.nan,
                   exchanges_to_target=np.nan, epochs_to_target=np.nan, test_accuracy_at_target_pct=np.nan)
    return out
