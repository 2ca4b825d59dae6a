"""The performance chapter's targets: each as the issue set it, what was measured, and whether it is met.

:data:`TARGETS` holds the thresholds (the figures of :mod:`exemplar.reporting.figures` draw their target
lines from them); :func:`targets` holds the benchmarks' numbers (:mod:`exemplar.analysis.performance`)
and the report's stage times to them, one row per target, which the chapter shows as its first table
(:func:`targets_table`) and its summary (:func:`summary_bullets`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exemplar.analysis.performance import (Measurements, compute_frame, ddp_frame, ddp_ratio,
                                           distribution_share_of_fit, memory_frame, share_column, trainer_shares)

#: The issue's targets: (key, what, the target as text, threshold, direction).
TARGETS = [
    ("compute-float64", "The fast trainer's fit, default network, float64: share of the single-core GEMM peak "
     "(the lower of raw and scaled pixels; scikit-learn's beside it)", "≥ 55 %", 0.55, ">="),
    ("compute-float32", "The fast trainer's fit, default network, float32: share of the single-core GEMM peak "
     "(the lower of raw and scaled pixels; scikit-learn's beside it)", "≥ 45 %", 0.45, ">="),
    ("ddp-float64", "Time to the sequential accuracy − 0.5 pp in float64: DDP with 2 processes / ours on 2 engines",
     "≥ 3×", 3.0, ">="),
    ("ddp-float32", "Time to the sequential accuracy − 0.5 pp in float32: DDP with 2 processes / ours on 2 engines",
     "≥ 3×", 3.0, ">="),
    ("report", "Wall time of a full `make book` from a clean `results/` (the report's stages, summed)",
     "≤ 10 min", 10 * 60.0, "<="),
    ("memory", "Processes over 2× their own data in the training dtype + 300 MB, or holding the whole training "
     "set without being rank 0", "0 processes", 0, "<="),
    ("distribution", "Distributing 6,000 images (Scatterv), share of the fit time", "≤ 1 %", 0.01, "<="),
]


def target(key: str) -> dict:
    """One target of :data:`TARGETS` by key: ``what, text, threshold, direction``."""
    for k, what, text, threshold, direction in TARGETS:
        if k == key:
            return {"what": what, "text": text, "threshold": threshold, "direction": direction}
    raise KeyError(f"no target {key!r}; the targets are {[t[0] for t in TARGETS]}")


def compute_target(df: pd.DataFrame, dtype: str) -> tuple[float, str, str]:
    """The fast trainer's share of peak in ``dtype`` for the target: ``(value, shown, note)``.

    ``value`` is the lower of its raw- and scaled-pixel shares (the target holds for both), by
    :func:`~exemplar.analysis.performance.share_column`; ``shown`` gives both, and scikit-learn's beside them; ``note``, where the
    verdict is by CPU time, the same by wall time.
    """
    column = share_column(compute_frame(df))
    ours = trainer_shares(df, "numpy", dtype, column)
    if not len(ours):
        return float("nan"), "not measured (no fast-trainer rows)", "run `make bench`"

    def listed(trainer, col):
        shares = trainer_shares(df, trainer, dtype, col)
        return ", ".join(f"{i}: {100 * v:.0f} %" for i, v in shares.items()) or "not measured"

    basis = " by CPU time" if column == "fraction_of_peak_cpu" else ""
    shown = f"{100 * ours.min():.0f} %{basis} ({listed('numpy', column)}); scikit-learn: {listed('sklearn', column)}"
    wall = (f"by wall time: {listed('numpy', 'fraction_of_peak')} (scikit-learn: {listed('sklearn', 'fraction_of_peak')}); "
            if basis else "")
    return float(ours.min()), shown, wall + "the chapter's profile says where the rest goes"


def process_name(row: pd.Series) -> str:
    """A process of ``memory.csv`` in words: its role and, where recorded, the run's images, dtype and trainer."""
    run = [f"{int(row['n_train']):,} images" if "n_train" in row else None, row.get("dtype"), row.get("trainer")]
    details = ", ".join(str(x) for x in run if x is not None and x == x)
    return f"{row.get('role', '?')}" + (f" ({details})" if details else "")


def memory_check(df: pd.DataFrame) -> tuple[float, str, str]:
    """The memory target: ``(violations, shown, note)``.

    A violation is a process over its bound, or one other than rank 0 holding the whole training set.
    ``shown`` counts them among the processes measured; ``note`` names the process closest to (or
    furthest over) its bound, and any that held the whole set.
    """
    df = memory_frame(df)
    over = ~df.within_bound
    whole = df.holds_whole_set & ~df.is_rank0
    value = float((over | whole).sum())
    worst = df.loc[(df.growth_mb / df.bound_mb).idxmax()]
    shown = f"{value:.0f} of {len(df)} processes"
    note = (f"closest to its bound: {process_name(worst)}, {worst.growth_mb:.0f} of {worst.bound_mb:.0f} MB"
            + ("; the whole set held by " + ", ".join(df[whole].role.astype(str).unique()) if whole.any() else
               "; only rank 0 held the whole training set"))
    return value, shown, note


# --------------------------------------------------------------------------- the targets
def _measure(key: str, m: Measurements) -> tuple[float, str, str]:
    """``(value, shown, note)`` of target ``key``; ``(NaN, "not measured", what to run)`` without its results."""
    nothing = (float("nan"), "not measured", "run `make bench`")
    if key.startswith("compute-"):
        df = m.frame("compute")
        return nothing if df is None else compute_target(df, key.split("-", 1)[1])
    if key.startswith("ddp-"):
        df = m.frame("ddp")
        if df is None:
            return nothing
        dtype = key.split("-", 1)[1]
        frame = ddp_frame(df)
        ran = frame[(frame.dtype == dtype) & (frame.n_procs == 2)].framework
        missing = [who for who, fw in (("ours", "exemplar"), ("DDP", "pytorch-ddp")) if not (ran == fw).any()]
        if missing:
            return float("nan"), f"not measured: no run of {' or '.join(missing)} in {dtype}", "run `make bench`"
        value, best = ddp_ratio(df, 2, dtype)
        shown = f"{value:.2f}×" if np.isfinite(value) else "target accuracy not reached"
        return value, shown, f"ours: {best}" if best else ""
    if key == "memory":
        df = m.frame("memory")
        return nothing if df is None or not len(df) else memory_check(df)
    if key == "distribution":
        df = m.frame("distribution")
        if df is None:
            return nothing
        value = distribution_share_of_fit(df)
        return value, f"{100 * value:.2f} % (worst engine count)", ""
    if key == "report":
        if m.stages is not None and len(m.stages):
            value = float(m.stages.seconds.sum())
            return value, f"{value / 60:.1f} min", "the latest full run of each stage"
        return float("nan"), "not measured", "run `make book`"
    raise KeyError(f"no measurement for target {key!r}")


def targets(m: Measurements) -> pd.DataFrame:
    """One row per target: key, what, the target, the measured value (as text and number), whether it is met, a note.

    Parameters
    ----------
    m : Measurements
        Each benchmark's table (``m.frame(name)``, ``None`` where not run) and the report's stage times
        (``m.stages``), as :func:`exemplar.experiments.performance.load` read them.
    """
    rows = []
    for key, what, text, threshold, direction in TARGETS:
        value, shown, note = _measure(key, m)
        met = (value >= threshold if direction == ">=" else value <= threshold) if np.isfinite(value) else None
        rows.append({"key": key, "measure": what, "target": text, "measured": shown, "met": met, "value": value,
                     "note": note})
    return pd.DataFrame(rows)


def targets_table(goals: pd.DataFrame) -> pd.DataFrame:
    """:func:`targets` as the chapter shows it: measure, target, measured, met ("yes", "no", "–"; plain text: the
    table is HTML, not markdown), note."""
    shown = goals[["measure", "target", "measured", "met", "note"]].copy()
    shown["met"] = shown.met.map({True: "yes", False: "no", None: "–"})
    return shown


def summary_bullets(goals: pd.DataFrame) -> str:
    """One bullet per target (measured, target, verdict, note) and one on where the numbers come from.

    Parameters
    ----------
    goals : DataFrame
        :func:`targets`.
    """
    verdict = {True: "met", False: "**not met**", None: "not measured"}
    bullets = [f"- {r.measure}: {r.measured} (target {r.target}): {verdict[r.met]}"
               + (f" ({r.note})." if r.note else ".") for r in goals.itertuples()]
    bullets.append("- Every number on this page comes from `results/bench/*.csv` and `results/report_stages.csv`, "
                   "with the machine, versions and commit that produced it in the `.json` beside each file.")
    return "\n".join(bullets)
