"""The benchmarks' results (``make bench``, ``results/bench/``) read back and summarized: the numbers.

The measurements themselves are the modules of :mod:`exemplar.bench` (``python -m exemplar.bench.run_all``);
this module reads their files (:func:`load`) and turns each into the numbers the performance chapter
shows: one summary per benchmark, the shares of peak, the DDP ratio, the memory frame. The targets they
are held to are :mod:`exemplar.reporting.targets`; the chapter's text and tables
:mod:`exemplar.reporting.performance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exemplar import config
from exemplar.analysis import provenance

#: The benchmarks' result files the performance chapter reads, in the order it shows them.
BENCHMARKS = ("compute", "compute_profile", "distribution", "ddp", "memory", "report_scaling", "sweep_engines")

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


@dataclass
class Measurements:
    """What the performance chapter reads: each benchmark's table and provenance, and the report's stage times."""

    directory: Path
    found: dict[str, tuple[pd.DataFrame | None, dict]]
    stages: pd.DataFrame | None

    def frame(self, name: str) -> pd.DataFrame | None:
        """Benchmark ``name``'s table, or ``None`` where it has not been run."""
        return self.found[name][0]

    @property
    def missing(self) -> list[str]:
        return [name for name, (df, _) in self.found.items() if df is None]

    @property
    def provenance(self) -> dict:
        """The provenance of the first benchmark found (machine, commit, time), else ``{}``."""
        return next((p for df, p in self.found.values() if df is not None), {})

    @property
    def cores(self) -> int | None:
        """The usable cores of the machine that measured the benchmarks (``None`` where none was run)."""
        return provenance.cores(self.provenance) if self.provenance else None


def read_measurements(directory: Path, stages: pd.DataFrame | None) -> Measurements:
    """Every benchmark of :data:`BENCHMARKS` from ``directory`` (:func:`load`), with the report's ``stages``."""
    return Measurements(Path(directory), {name: load(name, directory) for name in BENCHMARKS}, stages)


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


# --------------------------------------------------------------------------- float32 against float64
#: The dtype benchmark's results file (``exemplar.bench.dtype``); read on its own, not in :data:`BENCHMARKS`.
DTYPE_NAME = "dtype"


def dtype_summary(df: pd.DataFrame, reference: str = "float64", other: str = "float32") -> pd.DataFrame:
    """``dtype.csv``: ``other`` paired with ``reference`` per (inputs, seed), summarized per inputs.

    Only the seeds fitted in both dtypes count. Differences are ``other`` − ``reference`` in percentage
    points of test accuracy.

    Returns
    -------
    DataFrame
        One row per inputs, in the order they first appear: ``inputs, runs`` (paired seeds),
        ``accuracy_reference, accuracy_other`` (means, %), ``mean_diff_pp, sd_diff_pp`` (sample sd, NaN for one
        seed), ``max_abs_diff_pp``, ``n_iter_reference, n_iter_other`` (mean epochs run), ``fit_seconds_reference,
        fit_seconds_other, fit_cpu_seconds_reference, fit_cpu_seconds_other`` (means), ``speed_ratio`` (mean reference fit time / mean other fit time: above 1,
        ``other`` is faster) and ``speed_ratio_cpu`` (the same by the fits' CPU time, which other work on the
        machine does not lengthen; NaN where ``fit_cpu_seconds`` is not recorded).
    """
    columns = ["inputs", "runs", "accuracy_reference", "accuracy_other", "mean_diff_pp", "sd_diff_pp",
               "max_abs_diff_pp", "n_iter_reference", "n_iter_other", "fit_seconds_reference", "fit_seconds_other",
               "fit_cpu_seconds_reference", "fit_cpu_seconds_other", "speed_ratio", "speed_ratio_cpu"]
    df = df if "fit_cpu_seconds" in df else df.assign(fit_cpu_seconds=np.nan)
    values = ["accuracy_pct", "n_iter", "fit_seconds", "fit_cpu_seconds"]
    ref = df[df["dtype"] == reference].set_index(["inputs", "seed"])[values]
    oth = df[df["dtype"] == other].set_index(["inputs", "seed"])[values]
    pairs = ref.merge(oth, left_index=True, right_index=True, how="inner", suffixes=("_reference", "_other"))
    rows = []
    for inputs in pd.unique(df["inputs"]):
        if inputs not in pairs.index.get_level_values("inputs"):
            continue
        p = pairs.xs(inputs, level="inputs")
        diff = p.accuracy_pct_other - p.accuracy_pct_reference
        rows.append({"inputs": inputs, "runs": len(p),
                     "accuracy_reference": p.accuracy_pct_reference.mean(), "accuracy_other": p.accuracy_pct_other.mean(),
                     "mean_diff_pp": diff.mean(), "sd_diff_pp": diff.std(ddof=1) if len(p) > 1 else np.nan,
                     "max_abs_diff_pp": diff.abs().max(),
                     "n_iter_reference": p.n_iter_reference.mean(), "n_iter_other": p.n_iter_other.mean(),
                     "fit_seconds_reference": p.fit_seconds_reference.mean(),
                     "fit_seconds_other": p.fit_seconds_other.mean(),
                     "fit_cpu_seconds_reference": p.fit_cpu_seconds_reference.mean(),
                     "fit_cpu_seconds_other": p.fit_cpu_seconds_other.mean(),
                     "speed_ratio": p.fit_seconds_reference.mean() / p.fit_seconds_other.mean(),
                     "speed_ratio_cpu": p.fit_cpu_seconds_reference.mean() / p.fit_cpu_seconds_other.mean()})
    return pd.DataFrame(rows, columns=columns)
