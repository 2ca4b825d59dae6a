"""The benchmarks' results (``make bench``, ``results/bench/``) read back, summarized and held to their targets.

The measurements themselves are the modules of :mod:`exemplar.bench` (``python -m exemplar.bench.run_all``);
this module is what the performance chapter (:mod:`exemplar.experiments.performance`) calls: one
summary per benchmark, :func:`targets` (the table of each target with what was measured and whether
it is met), and each table as the chapter shows it (``*_table``: the columns it shows, named for the
reader). Every number comes from the CSV files; a missing file gives a row that says which command
produces it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from exemplar import config

#: The issue's targets: (key, what, the target as text, threshold, direction).
TARGETS = [
    ("compute", "Per-engine fit of the default configuration, share of the single-core GEMM peak",
     "≥ 40 % (or a profile of where the rest goes)", 0.40, ">="),
    ("distribution", "Distributing 6,000 images (Scatterv), share of the fit time", "≤ 1 %", 0.01, "<="),
    ("ddp", "Time to the sequential accuracy − 0.5 pp: DDP with 2 processes / ours on 2 engines",
     "≥ 1.5×", 1.5, ">="),
    ("report", "Wall time of a full `make book` (the report's stages, summed)", "≤ 15 min", 15 * 60.0, "<="),
]


def default_dir() -> Path:
    """``results/bench`` of the project (the full results; ``make bench QUICK=1`` writes elsewhere)."""
    return config.ROOT / "results" / "bench"


def load(name: str, directory: str | Path | None = None) -> tuple[pd.DataFrame | None, dict]:
    """``NAME.csv`` and its provenance from ``directory`` (default :func:`default_dir`); ``(None, {})`` if absent."""
    from exemplar import results

    directory = Path(directory) if directory is not None else default_dir()
    if not (directory / f"{name}.csv").is_file():
        return None, {}
    return results.read_results(name, directory)


# --------------------------------------------------------------------------- compute efficiency
def compute_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per kind (sequential / exemplar), dtype and inputs: mean fit time, epochs, GFLOP/s and share of peak."""
    g = df.groupby(["kind", "dtype", "inputs", "n_engines"], sort=False)
    return g.agg(fit_seconds=("fit_seconds", "mean"), n_iter=("n_iter", "mean"),
                 ms_per_epoch=("seconds_per_epoch", lambda s: 1e3 * s.mean()), gflops=("gflops", "mean"),
                 peak_gflops=("peak_gflops", "first"), fraction_of_peak=("fraction_of_peak", "mean"),
                 batch_gemm_gflops=("batch_gemm_gflops", "first"), accuracy_pct=("accuracy_pct", "mean"),
                 subnormal_share=("subnormal_share", "mean"), runs=("repeat", "nunique")).reset_index()


def engine_efficiency(df: pd.DataFrame, dtype: str = "float64") -> float:
    """Mean share of the single-core peak reached by each engine's fit in the exemplar runs of ``dtype``."""
    part = df[(df.kind == "exemplar") & (df.dtype == dtype)]
    return float(part.fraction_of_peak.mean()) if len(part) else float("nan")


# --------------------------------------------------------------------------- distribution
def distribution_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Median (and best) time, bandwidth and shares per method, size and engine count."""
    ok = df[df.get("repeat", 0) >= 0]
    g = ok.groupby(["method", "n_train", "n_engines"], sort=False)
    out = g.agg(ms=("seconds", lambda s: 1e3 * s.median()), best_ms=("seconds", lambda s: 1e3 * s.min()),
                bytes_moved=("bytes_moved", "first"), bandwidth_gbs=("bandwidth_gbs", "median"),
                memcpy_gbs=("memcpy_gbs", "median"), fraction_of_memcpy=("fraction_of_memcpy", "median"),
                fraction_of_fit=("fraction_of_fit", "median"), oversubscribed=("oversubscribed", "first"),
                verified=("verified", "all"), repeats=("seconds", "size")).reset_index()
    ours = out[out.method == "scatterv-uint8"].set_index(["n_train", "n_engines"]).ms
    out["times_ours"] = [r.ms / ours.get((r.n_train, r.n_engines), np.nan) for r in out.itertuples()]
    return out


def distribution_share_of_fit(df: pd.DataFrame, n_train: int = 6000) -> float:
    """The largest (over engine counts) median share of the fit time our Scatterv takes for ``n_train`` images."""
    s = distribution_summary(df)
    part = s[(s.method == "scatterv-uint8") & (s.n_train == n_train)]
    return float(part.fraction_of_fit.max()) if len(part) else float("nan")


# --------------------------------------------------------------------------- PyTorch DDP
def ddp_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per framework, strategy and process count: means over the runs (times to target over those that reached it).

    ``time_to_target`` is the measured time at the first epoch at the target where the benchmark has it
    (DDP: per-epoch evaluation with the clock paused; ours: the same run stopped at its target epoch),
    else the whole run's time, an upper bound (``time_to_target_kind`` says which).
    """
    df = df.copy()
    df["reached"] = df["reached"].astype(float)
    if "time_to_target_prefix_seconds" in df:
        measured = df.time_to_target_prefix_seconds.notna()
        df["time_to_target"] = df.time_to_target_prefix_seconds.where(measured, df.time_to_target_seconds)
        df["kind"] = np.where(measured, "measured at the target epoch", "whole run (upper bound)")
    else:
        df["time_to_target"] = df.time_to_target_seconds
        df["kind"] = df.get("time_to_target_kind", "")
    g = df.groupby(["framework", "strategy", "n_procs"], sort=False)
    cols = {c: (c, "mean") for c in ("fit_seconds", "wall_seconds", "setup_seconds", "time_to_target",
                                     "time_to_target_seconds", "target_epoch", "reached", "accuracy_pct",
                                     "n_iter") if c in df}
    out = g.agg(**cols, target_pct=("target_pct", "first"), kind=("kind", "first"),
                runs=("repeat", "nunique")).reset_index()
    return out


def ddp_ratio(df: pd.DataFrame, n_procs: int = 2) -> tuple[float, str]:
    """Mean time to target of DDP on ``n_procs`` processes over our fastest strategy's on as many engines.

    Where DDP ran in several variants (dtype, denormal handling), the fastest to the target is taken:
    the comparison is with DDP at its best.
    """
    s = ddp_summary(df)
    theirs = s[(s.framework == "pytorch-ddp") & (s.n_procs == n_procs) & (s.reached > 0)]
    ours = s[(s.framework == "exemplar") & (s.n_procs == n_procs) & (s.reached > 0)]
    if not len(theirs) or not len(ours):
        return float("nan"), ""
    best = ours.loc[ours.time_to_target.idxmin()]
    return float(theirs.time_to_target.min() / best.time_to_target), str(best.strategy)


# --------------------------------------------------------------------------- the whole report
def latest_stages(stages: pd.DataFrame, quick: bool = False) -> pd.DataFrame:
    """Each stage's most recent wall time among the runs of one kind (full or QUICK), with its run."""
    part = stages[stages.quick == quick]
    if not len(part):
        return part
    part = part.sort_values("run_id").groupby("stage", sort=False).tail(1)
    return part.reset_index(drop=True)


def project_stages(stages: pd.DataFrame, scaling: pd.DataFrame) -> pd.DataFrame:
    """Each training stage's time at every size of ``scaling``, projected from its time at the smallest size.

    A stage's time is taken to grow as its fits do: the sweep as the sequential fit, the
    exemplar and communication chapters as the 2-engine exemplar fit; the algorithms chapter fixes
    its own sizes, and the data and book stages do not depend on ``n_train``.
    """
    seq = scaling[scaling.kind == "sequential"].set_index("n_train").fit_ratio
    par = scaling[(scaling.kind != "sequential") & (scaling.n_engines == 2)].set_index("n_train").fit_ratio
    grows = {"02-sequential-sweep": seq, "03-exemplar-parallel": par, "04-communication": par}
    rows = []
    for n in sorted(scaling.n_train.unique()):
        for r in stages.itertuples():
            ratio = float(grows[r.stage].get(n, np.nan)) if r.stage in grows else 1.0
            rows.append({"n_train": int(n), "stage": r.stage, "seconds": r.seconds * ratio,
                         "measured": ratio == 1.0 or n == scaling.n_train.min()})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the targets
def targets(directory: str | Path | None = None, stages: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per target: what, the target, the measured value (as text and number) and whether it is met."""
    rows = []
    for key, what, target, threshold, direction in TARGETS:
        value, shown, note = float("nan"), "not measured", "run `make bench`"
        if key == "compute":
            df, _ = load("compute", directory)
            if df is not None:
                value = engine_efficiency(df)
                shown, note = f"{100 * value:.0f} % of peak", "the chapter's profile says where the rest goes"
        elif key == "distribution":
            df, _ = load("distribution", directory)
            if df is not None:
                value = distribution_share_of_fit(df)
                shown, note = f"{100 * value:.2f} % (worst engine count)", ""
        elif key == "ddp":
            df, _ = load("ddp", directory)
            if df is not None:
                value, best = ddp_ratio(df)
                shown = f"{value:.2f}×" if np.isfinite(value) else "target accuracy not reached"
                note = f"ours: {best}" if best else ""
        elif key == "report":
            if stages is not None and len(stages):
                value = float(stages.seconds.sum())
                shown, note = f"{value / 60:.1f} min", "the latest full run of each stage"
            else:
                note = "run `make book`"
        met = (value >= threshold if direction == ">=" else value <= threshold) if np.isfinite(value) else None
        rows.append({"measure": what, "target": target, "measured": shown, "met": met, "value": value, "note": note})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the chapter's tables
def targets_table(goals: pd.DataFrame) -> pd.DataFrame:
    """:func:`targets` as the chapter shows it: measure, target, measured, met ("yes", "**no**", "–"), note."""
    shown = goals[["measure", "target", "measured", "met", "note"]].copy()
    shown["met"] = shown.met.map({True: "yes", False: "**no**", None: "–"})
    return shown


def compute_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`compute_summary` with shares in percent and the columns named for the reader."""
    t = summary.copy()
    t["share of peak (%)"] = 100 * t.fraction_of_peak
    t["subnormal outputs (%)"] = 100 * t.subnormal_share
    t = t[["kind", "n_engines", "dtype", "inputs", "fit_seconds", "n_iter", "ms_per_epoch", "gflops", "peak_gflops",
           "share of peak (%)", "batch_gemm_gflops", "accuracy_pct", "subnormal outputs (%)"]]
    t.columns = ["fit", "engines", "dtype", "inputs", "fit (s)", "epochs run", "ms per epoch", "GFLOP/s",
                 "peak GFLOP/s", "share of peak (%)", "batch GEMM GFLOP/s", "accuracy (%)", "subnormal outputs (%)"]
    return t


def distribution_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`distribution_summary` in MB, ms and percent, by size and engine count."""
    t = summary.copy()
    t["MB"] = t.bytes_moved / 1e6
    t["share of memcpy (%)"] = 100 * t.fraction_of_memcpy
    t["share of fit (%)"] = 100 * t.fraction_of_fit
    t = t[["n_train", "n_engines", "method", "MB", "ms", "best_ms", "bandwidth_gbs", "memcpy_gbs",
           "share of memcpy (%)", "times_ours", "share of fit (%)", "oversubscribed", "verified"]]
    t.columns = ["images", "engines", "method", "MB moved", "median (ms)", "best (ms)", "GB/s", "memcpy GB/s",
                 "share of memcpy (%)", "× ours", "share of fit (%)", "more engines than cores", "shards verified"]
    return t.sort_values(["images", "engines"])


def ddp_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`ddp_summary` with the share of runs at the target in percent."""
    t = summary.copy()
    t["reached (%)"] = 100 * t.reached
    t = t[["framework", "strategy", "n_procs", "accuracy_pct", "n_iter", "fit_seconds", "time_to_target", "kind",
           "target_epoch", "setup_seconds", "reached (%)", "runs"]]
    t.columns = ["framework", "strategy", "processes", "final accuracy (%)", "epochs run", "training (s)",
                 "time to target (s)", "how the time to target was taken", "target epoch", "set-up (s)",
                 "runs at target (%)", "runs"]
    return t


def stages_table(stages: pd.DataFrame) -> pd.DataFrame:
    """The report's stages (:func:`latest_stages`) in seconds and minutes, with the run that recorded each."""
    t = stages[["stage", "seconds", "run_id", "quick", "git_commit"]].copy()
    t["minutes"] = t.seconds / 60
    return t[["stage", "seconds", "minutes", "run_id", "quick", "git_commit"]]


def scaling_table(scaling: pd.DataFrame) -> pd.DataFrame:
    """``report_scaling.csv``: each size's fit, its ratio to the smallest size, and the run's other times."""
    t = scaling[["kind", "n_engines", "n_train", "fit_seconds", "fit_ratio", "wall_seconds", "n_iter", "accuracy_pct",
                 "start_seconds", "oversubscribed"]].copy()
    t.columns = ["training", "engines", "images", "fit (s)", "fit ÷ fit at the smallest size", "wall (s)",
                 "epochs run", "accuracy (%)", "cluster start (s)", "more engines than cores"]
    return t


def sweep_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """``sweep_engines.csv``: each grid point's fit time alone and beside another fit, and their ratio."""
    t = sweep[["hidden", "epochs", "n_iter_sequential", "train_seconds_sequential", "train_seconds_engines",
               "time_ratio"]].copy()
    t.columns = ["hidden", "epochs", "epochs run", "one at a time (s)", "two at a time (s)", "ratio"]
    return t
