"""Chapter 04's further numbers: the speed/accuracy frontier and what held a speedup back.

Pure functions of the summary (:func:`exemplar.analysis.communication.summarize_to_target`) and of
the curves file (``results/communication_curves.csv``, :data:`~exemplar.analysis.communication.CURVES_NAME`):

* :func:`frontier_curves` and :func:`target_points`: every run's validation accuracy against its
  training time (measured, or estimated with a core per engine) at one engine count, and each
  variant's mean time to the target, for the frontier figure;
* :func:`speedup_factors`: a speedup on the dedicated-core estimate split exactly into the ideal
  ``n`` and three losses, so a reader sees which term holds it back::

      speedup = n / (samples × row cost × collective)

  ``samples`` is the rows the engines processed to reach the target over the sequential run's
  (``steps × local batch × n`` against ``steps × batch``: more than 1 means extra steps);
  ``row cost`` one row's compute in a step of the variant (its step probe over its local batch)
  over the sequential run's (smaller batches use the core less well); ``collective`` the time to
  the target over its compute part (``1 + collective / compute``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exemplar.analysis.communication import BASIS_TIME, SEQUENTIAL, SUMMARY_KEYS

#: The curves file's time column for each basis (:data:`~exemplar.analysis.communication.BASIS_TIME`).
CURVE_TIME = {"measured": "wall_seconds", "estimate": "dedicated_seconds"}

#: The three losses of :func:`speedup_factors`, by the words the chapter uses for them.
LOSSES = {"samples_ratio": "extra steps", "row_cost_ratio": "compute", "collective_factor": "collective"}


def basis_of(n_engines: int, cores: int | None) -> str:
    """``"estimate"`` where ``n_engines`` outnumber ``cores``, else ``"measured"`` (as the speedups choose)."""
    return "estimate" if cores is not None and int(n_engines) > int(cores) else "measured"


def frontier_curves(curves: pd.DataFrame, n_engines: int, scale: bool, basis: str) -> pd.DataFrame:
    """The checkpoints of the runs to the target on ``n_engines`` and of the 1-engine sequential run, on
    input scaling ``scale``: the curves file's rows with ``seconds`` (the basis' time column,
    :data:`CURVE_TIME`) and ``sequential`` (the 1-engine run). Reference runs are left out."""
    time = CURVE_TIME[basis]
    part = curves[(curves.scale_inputs.astype(str).str.lower() == str(bool(scale)).lower())
                  & (curves.variant != "sequential reference")]
    seq = (part.n_engines == 1) & (part.variant == SEQUENTIAL)
    out = part[seq | (part.n_engines == int(n_engines))].copy()
    out["sequential"] = (out.n_engines == 1).to_numpy()
    out["seconds"] = out[time].astype(float)
    return out.sort_values(["sequential", "variant", "repeat", "checkpoint"]).reset_index(drop=True)


def target_points(summary: pd.DataFrame, n_engines: int, scale: bool, basis: str) -> pd.DataFrame:
    """Per variant on ``n_engines`` (and the 1-engine sequential run) on scaling ``scale``: the mean (sd) time
    to the target on ``basis`` over the runs that reached it, the target, and how many runs reached it."""
    col = BASIS_TIME[basis]
    part = summary[summary.scale_inputs.astype(bool) == bool(scale)]
    part = part[(part.n_engines == int(n_engines)) | ((part.n_engines == 1) & (part.variant == SEQUENTIAL))]
    out = part[["variant", "n_engines", "target_pct", "reached_runs", "runs"]].copy()
    out["seconds"] = part[f"{col}_mean"].astype(float).to_numpy()
    out["seconds_sd"] = part[f"{col}_sd"].astype(float).fillna(0).to_numpy()
    out["sequential"] = (out.n_engines == 1).to_numpy()
    return out.reset_index(drop=True)


def speedup_factors(summary: pd.DataFrame) -> pd.DataFrame:
    """Every variant's estimated speedup (reached in every repeat, more than one engine) split into the ideal
    ``n`` and its three losses (the module's formula).

    Returns
    -------
    DataFrame
        :data:`~exemplar.analysis.communication.SUMMARY_KEYS`, ``ideal`` (``n``), ``samples_ratio``,
        ``row_cost_ratio``, ``collective_factor``, ``speedup_model`` (``n`` over their product: the
        estimate's speedup, with the probes' means), ``held_back`` (the loss with the largest factor, in
        the words of :data:`LOSSES`, or ``None`` when none exceeds 1).
    """
    rows = []
    for _, part in summary.groupby("scale_inputs", sort=True):
        seq = part[(part.variant == SEQUENTIAL) & (part.n_engines == 1)]
        if seq.empty or not np.isfinite(seq.steps_to_target_mean.iloc[0]):
            continue
        s = seq.iloc[0]
        seq_rows = s.steps_to_target_mean * s.local_batch
        seq_row_cost = s.step_probe_seconds / s.local_batch
        for _, r in part[(part.n_engines > 1) & part.reached_all.astype(bool)].iterrows():
            n = int(r.n_engines)
            compute = r.steps_to_target_mean * r.step_probe_seconds
            collective = r.exchanges_to_target_mean * r.collective_seconds
            f = {"samples_ratio": r.steps_to_target_mean * r.local_batch * n / seq_rows,
                 "row_cost_ratio": (r.step_probe_seconds / r.local_batch) / seq_row_cost,
                 "collective_factor": (compute + collective) / compute if compute > 0 else np.nan}
            worst = max(f, key=lambda k: f[k])
            loss = f["samples_ratio"] * f["row_cost_ratio"] * f["collective_factor"]
            rows.append({**{k: r[k] for k in SUMMARY_KEYS}, "ideal": n, **f, "speedup_model": n / loss,
                         "held_back": LOSSES[worst] if f[worst] > 1 and loss > 1 else None})
    return pd.DataFrame(rows, columns=[*SUMMARY_KEYS, "ideal", *LOSSES, "speedup_model", "held_back"])


def fastest_factors(summary: pd.DataFrame, answer: pd.DataFrame) -> pd.DataFrame:
    """:func:`speedup_factors` of each answer row's fastest variant (``answer``:
    :func:`~exemplar.analysis.communication.answer_to_target`), with the answer's ``speedup`` and ``basis``."""
    factors = speedup_factors(summary)
    if factors.empty or answer.empty:
        return factors.assign(speedup=[], basis=[])
    found = answer[answer.fastest.notna()][["scale_inputs", "n_engines", "fastest", "speedup", "basis"]]
    found = found.rename(columns={"fastest": "variant"})
    factors = factors.assign(scale_inputs=factors.scale_inputs.astype(bool))
    return found.merge(factors, on=["scale_inputs", "n_engines", "variant"], how="inner")
