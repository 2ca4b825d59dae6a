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
def compute_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``compute.csv`` with the columns of older files filled in: scikit-learn's fits of the default network,
    batches of 200, no CPU-time share."""
    df = df.copy()
    defaults = {"trainer": "sklearn", "default_network": True, "batch_size": 200, "fraction_of_peak_cpu": np.nan}
    for column, value in defaults.items():
        if column not in df:
            df[column] = value
    if "hidden" not in df:
        df["hidden"] = 0
    df["default_network"] = df.default_network.astype(str).str.lower().isin(["true", "1"])
    return df


def compute_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per kind (sequential / exemplar), trainer, network, dtype and inputs: mean fit time, epochs, GFLOP/s and share
    of peak (by wall time and by CPU time)."""
    keys = ["kind", "trainer", "hidden", "batch_size", "default_network", "dtype", "inputs", "n_engines"]
    g = compute_frame(df).groupby(keys, sort=False)
    return g.agg(fit_seconds=("fit_seconds", "mean"), n_iter=("n_iter", "mean"),
                 ms_per_epoch=("seconds_per_epoch", lambda s: 1e3 * s.mean()), gflops=("gflops", "mean"),
                 peak_gflops=("peak_gflops", "first"), fraction_of_peak=("fraction_of_peak", "mean"),
                 fraction_of_peak_cpu=("fraction_of_peak_cpu", "mean"),
                 batch_gemm_gflops=("batch_gemm_gflops", "first"), accuracy_pct=("accuracy_pct", "mean"),
                 subnormal_share=("subnormal_share", "mean"), runs=("repeat", "nunique")).reset_index()


def engine_efficiency(df: pd.DataFrame, dtype: str = "float64", trainer: str | None = None) -> float:
    """Mean share of the single-core peak reached by each engine's fit in the exemplar runs of ``dtype``
    (of ``trainer``'s, if given)."""
    df = compute_frame(df)
    part = df[(df.kind == "exemplar") & (df.dtype == dtype) & ((df.trainer == trainer) if trainer else True)]
    return float(part.fraction_of_peak.mean()) if len(part) else float("nan")


def share_column(df: pd.DataFrame) -> str:
    """The share of peak the verdicts use: by the fit's CPU time (``fraction_of_peak_cpu``, what the fit takes on a
    core of its own, which other work on the machine barely moves) where every fit has it, else by wall time."""
    cpu = df["fraction_of_peak_cpu"] if "fraction_of_peak_cpu" in df else pd.Series(dtype=float)
    return "fraction_of_peak_cpu" if len(cpu) and cpu.notna().all() else "fraction_of_peak"


def trainer_shares(df: pd.DataFrame, trainer: str, dtype: str, column: str | None = None) -> pd.Series:
    """Mean share of peak (``column``, default :func:`share_column`) of ``trainer``'s sequential fits of the default
    network in ``dtype``, per inputs."""
    df = compute_frame(df)
    part = df[(df.kind == "sequential") & (df.trainer == trainer) & (df.dtype == dtype) & df.default_network]
    return part.groupby("inputs", sort=False)[column or share_column(df)].mean()


def compute_value(summary: pd.DataFrame, column: str, trainer: str, dtype: str = "float64", inputs: str = "raw 0-255",
                  kind: str = "sequential", default: bool = True) -> float:
    """One cell of :func:`compute_summary` (of the default network, or with ``default=False`` the other); NaN if not run."""
    part = summary[(summary.kind == kind) & (summary.trainer == trainer) & (summary.dtype == dtype)
                   & (summary.inputs == inputs) & (summary.default_network == default)]
    return float(part[column].iloc[0]) if len(part) else float("nan")


def compute_target(df: pd.DataFrame, dtype: str) -> tuple[float, str, str]:
    """The fast trainer's share of peak in ``dtype`` for the target: ``(value, shown, note)``.

    ``value`` is the lower of its raw- and scaled-pixel shares (the target holds for both), by
    :func:`share_column`; ``shown`` gives both, and scikit-learn's beside them; ``note``, where the
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
def ddp_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``ddp.csv`` with a ``dtype`` on every row and a ``label`` per strategy, also for older files.

    A missing dtype is read from the strategy's name ("... (float32)"), else taken as float64 for
    our and scikit-learn's rows and float32 (PyTorch's default, all the older benchmark ran) for DDP's.
    ``label`` is the strategy, with its trainer where the file names one for our rows.
    """
    df = df.copy()
    named = df.strategy.astype(str).str.extract(r"(float32|float64)", expand=False)
    default = np.where(df.framework == "pytorch-ddp", "float32", "float64")
    given = df["dtype"] if "dtype" in df else pd.Series(np.nan, index=df.index)
    df["dtype"] = given.where(given.notna(), named.where(named.notna(), default))
    trainer = df["trainer"].fillna("").astype(str) if "trainer" in df else pd.Series("", index=df.index)
    ours = (df.framework == "exemplar") & (trainer != "")
    df["label"] = np.where(ours, df.strategy.astype(str) + ", " + trainer + " trainer", df.strategy.astype(str))
    return df


def ddp_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per framework, strategy (with trainer), dtype and process count: means over the runs (times to target over
    those that reached it).

    ``time_to_target`` is the measured time at the first epoch at the target where the benchmark has it
    (both sides: per-epoch evaluation by rank 0 with the clock paused),
    else the whole run's time, an upper bound (``time_to_target_kind`` says which).
    """
    df = ddp_frame(df)
    df["reached"] = df["reached"].astype(float)
    if "time_to_target_prefix_seconds" in df:
        measured = df.time_to_target_prefix_seconds.notna()
        df["time_to_target"] = df.time_to_target_prefix_seconds.where(measured, df.time_to_target_seconds)
        df["kind"] = np.where(measured, "measured at the target epoch", "whole run (upper bound)")
    else:
        df["time_to_target"] = df.time_to_target_seconds
        df["kind"] = df.get("time_to_target_kind", "")
    g = df.groupby(["framework", "label", "dtype", "n_procs"], sort=False)
    cols = {c: (c, "mean") for c in ("fit_seconds", "wall_seconds", "setup_seconds", "time_to_target",
                                     "time_to_target_seconds", "target_epoch", "reached", "accuracy_pct",
                                     "n_iter") if c in df}
    out = g.agg(**cols, strategy=("strategy", "first"), target_pct=("target_pct", "first"), kind=("kind", "first"),
                runs=("repeat", "nunique")).reset_index()
    return out


def ddp_ratio(df: pd.DataFrame, n_procs: int = 2, dtype: str | None = None) -> tuple[float, str]:
    """Mean time to target of DDP on ``n_procs`` processes over our fastest strategy's on as many engines.

    With ``dtype``, both sides in that dtype only. Where DDP ran in several variants (denormal
    handling, ...), the fastest to the target is taken: the comparison is with DDP at its best.
    Returns the ratio and our fastest strategy's label (NaN and ``""`` where either side never
    reached the target).
    """
    s = ddp_summary(df)
    s = s[(s.n_procs == n_procs) & (s.reached > 0) & ((s.dtype == dtype) if dtype else True)]
    theirs, ours = s[s.framework == "pytorch-ddp"], s[s.framework == "exemplar"]
    if not len(theirs) or not len(ours):
        return float("nan"), ""
    best = ours.loc[ours.time_to_target.idxmin()]
    return float(theirs.time_to_target.min() / best.time_to_target), str(best.label)


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


# --------------------------------------------------------------------------- memory
def memory_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``memory.csv`` with the columns the checks need, computed where a file lacks them.

    ``growth_mb`` (what the process took on for the run: peak - baseline; ``peak_minus_baseline_mb`` in
    some files, else the peak), ``bound_mb`` (2 × own data + 300 MB), ``within_bound``, ``is_rank0``
    (``rank`` 0, or a role named "rank 0") and ``holds_whole_set`` (False where not recorded).
    """
    df = df.copy()
    if "growth_mb" not in df:
        df["growth_mb"] = df["peak_minus_baseline_mb"] if "peak_minus_baseline_mb" in df else df["peak_mb"]
    if "bound_mb" not in df:
        df["bound_mb"] = 2 * df["own_data_bytes"] / 1e6 + 300
    if "within_bound" not in df:
        df["within_bound"] = df.growth_mb <= df.bound_mb
    role = df["role"].astype(str).str.lower().str.replace(" ", "") if "role" in df else pd.Series("", index=df.index)
    df["is_rank0"] = (df["rank"] == 0) if "rank" in df else role.eq("rank0")
    df["holds_whole_set"] = df["holds_whole_set"] if "holds_whole_set" in df else False
    for column in ("within_bound", "holds_whole_set"):
        df[column] = df[column].astype(str).str.lower().isin(["true", "1"])
    return df


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
def _measure(key: str, directory, stages) -> tuple[float, str, str]:
    """``(value, shown, note)`` of target ``key``; ``(NaN, "not measured", what to run)`` without its results."""
    nothing = (float("nan"), "not measured", "run `make bench`")
    if key.startswith("compute-"):
        df, _ = load("compute", directory)
        return nothing if df is None else compute_target(df, key.split("-", 1)[1])
    if key.startswith("ddp-"):
        df, _ = load("ddp", directory)
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
        df, _ = load("memory", directory)
        return nothing if df is None or not len(df) else memory_check(df)
    if key == "distribution":
        df, _ = load("distribution", directory)
        if df is None:
            return nothing
        value = distribution_share_of_fit(df)
        return value, f"{100 * value:.2f} % (worst engine count)", ""
    if key == "report":
        if stages is not None and len(stages):
            value = float(stages.seconds.sum())
            return value, f"{value / 60:.1f} min", "the latest full run of each stage"
        return float("nan"), "not measured", "run `make book`"
    raise KeyError(f"no measurement for target {key!r}")


def targets(directory: str | Path | None = None, stages: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per target: key, what, the target, the measured value (as text and number), whether it is met, a note."""
    rows = []
    for key, what, text, threshold, direction in TARGETS:
        value, shown, note = _measure(key, directory, stages)
        met = (value >= threshold if direction == ">=" else value <= threshold) if np.isfinite(value) else None
        rows.append({"key": key, "measure": what, "target": text, "measured": shown, "met": met, "value": value,
                     "note": note})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the chapter's tables
def targets_table(goals: pd.DataFrame) -> pd.DataFrame:
    """:func:`targets` as the chapter shows it: measure, target, measured, met ("yes", "no", "–"; plain text: the table is HTML, not markdown), note."""
    shown = goals[["measure", "target", "measured", "met", "note"]].copy()
    shown["met"] = shown.met.map({True: "yes", False: "no", None: "–"})
    return shown


def compute_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`compute_summary` with shares in percent and the columns named for the reader."""
    t = summary.copy()
    t["share of peak (%)"] = 100 * t.fraction_of_peak
    t["share of peak, CPU time (%)"] = 100 * t.fraction_of_peak_cpu
    t["subnormal outputs (%)"] = 100 * t.subnormal_share
    t = t[["kind", "trainer", "n_engines", "hidden", "batch_size", "dtype", "inputs", "fit_seconds", "n_iter",
           "ms_per_epoch", "gflops", "peak_gflops", "share of peak (%)", "share of peak, CPU time (%)",
           "batch_gemm_gflops", "accuracy_pct", "subnormal outputs (%)"]]
    t.columns = ["fit", "trainer", "engines", "hidden", "batch", "dtype", "inputs", "fit (s)", "epochs run",
                 "ms per epoch", "GFLOP/s", "peak GFLOP/s", "share of peak (%)", "share of peak, CPU time (%)",
                 "batch GEMM GFLOP/s", "accuracy (%)", "subnormal outputs (%)"]
    return t


def bars_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`compute_summary` for :func:`exemplar.reporting.figures.efficiency_bars`: one bar per trainer, network,
    dtype and inputs (the trainer and network written into ``inputs``, the bar's label)."""
    t = summary.copy()
    t["inputs"] = t.inputs + ", " + t.trainer + ", h=" + t.hidden.astype(str) + "/b=" + t.batch_size.astype(str)
    return t


def profile_table(profile: pd.DataFrame) -> pd.DataFrame:
    """``compute_profile.csv`` side by side: one row per category, one column of % of samples per trainer and dtype."""
    p = profile.copy()
    if "trainer" not in p:
        p["trainer"] = "sklearn"
    p["fit"] = p.trainer + ", " + p.dtype
    t = p.pivot_table(index="category", columns="fit", values="share_pct", aggfunc="sum", sort=False)
    return t.reindex(t.max(axis=1).sort_values(ascending=False).index).reset_index().rename_axis(columns=None)


def memory_table(df: pd.DataFrame) -> pd.DataFrame:
    """``memory.csv`` (:func:`memory_frame`) for the reader: one row per process of each run."""
    t = memory_frame(df)
    for column in ("n_train", "dtype", "trainer", "role", "own_data_mb", "peak_mb"):
        if column not in t:
            t[column] = np.nan
    t = t[["n_train", "dtype", "trainer", "role", "own_data_mb", "peak_mb", "growth_mb", "bound_mb", "within_bound",
           "holds_whole_set"]]
    t.columns = ["images", "dtype", "trainer", "process", "own data (MB)", "peak (MB)", "peak − baseline (MB)",
                 "bound (MB)", "within bound", "holds the whole training set"]
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
    t = t[["framework", "label", "dtype", "n_procs", "accuracy_pct", "n_iter", "fit_seconds", "time_to_target", "kind",
           "target_epoch", "setup_seconds", "reached (%)", "runs"]]
    t.columns = ["framework", "strategy", "dtype", "processes", "final accuracy (%)", "epochs run", "training (s)",
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
