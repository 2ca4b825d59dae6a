"""The benchmarks' results read back: summaries (``exemplar.analysis.performance``), targets
(``exemplar.reporting.targets``) and the chapter's tables (``exemplar.reporting.performance``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exemplar.analysis import performance as analysis
from exemplar.analysis.stages import latest_stages, project_stages
from exemplar.reporting import performance as page
from exemplar.reporting import targets


def _compute_rows(trainer, dtype, inputs, share, kind="sequential", default=True, hidden=85):
    return {"kind": kind, "trainer": trainer, "dtype": dtype, "inputs": inputs, "n_engines": 1 if kind == "sequential"
            else 2, "rank": 0, "repeat": 0, "hidden": hidden, "default_network": default, "batch_size": 200,
            "fit_seconds": 1.0, "fit_cpu_seconds": 0.9, "n_iter": 30, "seconds_per_epoch": 0.03, "gflops": 80 * share,
            "peak_gflops": 80.0, "fraction_of_peak": share, "fraction_of_peak_cpu": share + 0.04,
            "batch_gemm_gflops": 60.0, "accuracy_pct": 85.0, "subnormal_share": 0.0}


def _compute_csv() -> pd.DataFrame:
    """Made-up ``compute.csv``: the fast trainer 60/56 % in float64 (raw/scaled), 50/40 % in float32, by wall time;
    4 points more each by CPU time."""
    rows = [_compute_rows("numpy", "float64", "raw 0-255", 0.60), _compute_rows("numpy", "float64", "pixels / 255", 0.56),
            _compute_rows("numpy", "float32", "raw 0-255", 0.50), _compute_rows("numpy", "float32", "pixels / 255", 0.40),
            _compute_rows("sklearn", "float64", "raw 0-255", 0.44), _compute_rows("sklearn", "float64", "pixels / 255", 0.43),
            _compute_rows("numpy", "float64", "raw 0-255", 0.10, default=False, hidden=100),  # not the default network
            _compute_rows("numpy", "float64", "raw 0-255", 0.30, kind="exemplar")]
    return pd.DataFrame(rows)


def _ddp_csv(with_dtype: bool = True) -> pd.DataFrame:
    """Made-up ``ddp.csv``: on 2 processes, float64 ours 1 s / DDP 4 s; float32 ours 1 s / DDP 2.5 s (best variant)."""
    rows = [("exemplar", "gradient-allreduce", "float64", 2, 1.0), ("exemplar", "gradient-allreduce", "float32", 2, 1.0),
            ("exemplar", "one-shot", "float64", 2, 3.0), ("pytorch-ddp", "gradient-allreduce", "float64", 2, 4.0),
            ("pytorch-ddp", "gradient-allreduce", "float32", 2, 3.0),
            ("pytorch-ddp", "gradient-allreduce (denormals flushed)", "float32", 2, 2.5),
            ("pytorch-ddp", "gradient-allreduce", "float32", 1, 0.5)]
    df = pd.DataFrame(rows, columns=["framework", "strategy", "dtype", "n_procs", "time_to_target_prefix_seconds"])
    df["time_to_target_seconds"], df["reached"], df["repeat"], df["target_pct"] = 9.0, True, 0, 93.5
    df["trainer"] = np.where(df.framework == "exemplar", "numpy", "")
    return df if with_dtype else df.drop(columns="dtype")


def _memory_csv(**changes) -> pd.DataFrame:
    df = pd.DataFrame({"n_train": [6000] * 3, "dtype": ["float64"] * 3, "trainer": ["numpy"] * 3,
                       "role": ["client", "rank 0", "rank 1"], "rank": [-1, 0, 1], "peak_mb": [400.0, 500.0, 450.0],
                       "growth_mb": [100.0, 150.0, 120.0], "own_data_bytes": [62.7e6, 18.8e6, 18.8e6],
                       "bound_mb": [425.4, 337.6, 337.6], "within_bound": [True] * 3,
                       "holds_whole_set": [False, True, False]})
    for column, values in changes.items():
        df[column] = values
    return df


def test_targets_from_results_and_stage_times(tmp_path):
    _compute_csv().to_csv(tmp_path / "compute.csv", index=False)
    _ddp_csv().to_csv(tmp_path / "ddp.csv", index=False)
    _memory_csv().to_csv(tmp_path / "memory.csv", index=False)
    stages = pd.DataFrame({"stage": ["01-data", "02-sequential-sweep"], "seconds": [60.0, 600.0]})
    rows = targets.targets(analysis.read_measurements(tmp_path, stages)).set_index("key")
    assert list(rows.index) == [t[0] for t in targets.TARGETS]
    c64, c32 = rows.loc["compute-float64"], rows.loc["compute-float32"]
    # by CPU time (every fit has it), the lower of raw and scaled pixels
    assert c64.value == pytest.approx(0.60) and c64.met is True
    assert c64.measured == ("60 % by CPU time (raw 0-255: 64 %, pixels / 255: 60 %); scikit-learn: raw 0-255: 48 %, "
                            "pixels / 255: 47 %")
    assert c64.note == ("by wall time: raw 0-255: 60 %, pixels / 255: 56 % (scikit-learn: raw 0-255: 44 %, "
                        "pixels / 255: 43 %); the chapter's profile says where the rest goes")
    assert c32.value == pytest.approx(0.44) and c32.met is False  # below 45 % on scaled pixels
    assert c32.measured.endswith("scikit-learn: not measured")
    assert rows.loc["ddp-float64"].value == pytest.approx(4.0) and rows.loc["ddp-float64"].met is True
    assert rows.loc["ddp-float64"].note == "ours: gradient-allreduce, numpy trainer"
    assert rows.loc["ddp-float32"].value == pytest.approx(2.5) and rows.loc["ddp-float32"].met is False  # DDP at its best
    assert rows.loc["report"].value == 660.0 and rows.loc["report"].met is False  # 11 min > 10 min
    mem = rows.loc["memory"]
    assert mem.value == 0 and mem.met is True and mem.measured == "0 of 3 processes"
    assert mem.note == ("closest to its bound: rank 0 (6,000 images, float64, numpy), 150 of 338 MB; "
                        "only rank 0 held the whole training set")
    assert rows.loc["distribution"].measured == "not measured" and rows.loc["distribution"].met is None
    assert "make bench" in rows.loc["distribution"].note


def test_the_compute_target_falls_back_to_wall_time_where_a_fit_lacks_its_cpu_time(tmp_path):
    df = _compute_csv()
    df.loc[0, "fraction_of_peak_cpu"] = np.nan
    value, shown, note = targets.compute_target(df, "float64")
    assert value == pytest.approx(0.56) and shown.startswith("56 % (raw 0-255: 60 %")
    assert note == "the chapter's profile says where the rest goes"
    assert analysis.share_column(df) == "fraction_of_peak" and analysis.share_column(_compute_csv()) == "fraction_of_peak_cpu"


def test_targets_without_results_say_what_to_run(tmp_path):
    rows = targets.targets(analysis.read_measurements(tmp_path, None)).set_index("key")
    assert set(rows.measured) == {"not measured"} and set(rows.met) == {None}
    assert rows.loc["memory"].note == "run `make bench`" and rows.loc["report"].note == "run `make book`"
    assert targets.target("report")["threshold"] == 600.0
    with pytest.raises(KeyError, match="no target 'speed'"):
        targets.target("speed")


def test_memory_violations_count_processes_over_their_bound_and_others_holding_the_whole_set():
    df = _memory_csv(within_bound=[True, True, False], holds_whole_set=[False, True, True])
    value, shown, note = targets.memory_check(df)
    assert value == 1 and shown == "1 of 3 processes"  # rank 1: over its bound and holding the whole set
    assert note.endswith("; the whole set held by rank 1")
    # an older file: the growth under another name, no bound, no flags; rank 0 found by its role
    old = _memory_csv().drop(columns=["growth_mb", "bound_mb", "within_bound", "holds_whole_set", "rank"])
    old["peak_minus_baseline_mb"] = [100.0, 150.0, 400.0]
    frame = analysis.memory_frame(old)
    assert list(frame.is_rank0) == [False, True, False] and list(frame.within_bound) == [True, True, False]
    assert frame.bound_mb.iloc[1] == pytest.approx(337.6) and targets.memory_check(old)[0] == 1


def test_older_files_are_read_with_their_defaults():
    old = _compute_csv().drop(columns=["trainer", "default_network", "batch_size", "fraction_of_peak_cpu"])
    frame = analysis.compute_frame(old)
    assert set(frame.trainer) == {"sklearn"} and frame.default_network.all() and set(frame.batch_size) == {200}
    # ddp.csv without a dtype: from the strategy's name, else float64 for ours and float32 for DDP
    ddp = _ddp_csv(with_dtype=False)
    ddp.loc[0, "strategy"] = "gradient-allreduce (float32)"
    assert list(analysis.ddp_frame(ddp).dtype) == ["float32", "float64", "float64"] + ["float32"] * 4
    ratio, best = analysis.ddp_ratio(ddp, 2, "float32")
    assert ratio == pytest.approx(2.5) and best == "gradient-allreduce (float32), numpy trainer"
    ratio, best = analysis.ddp_ratio(ddp, 2, "float64")  # an older file's DDP ran in float32 only
    assert np.isnan(ratio) and best == ""


def test_a_dtype_without_ddp_runs_is_not_measured_rather_than_missed(tmp_path):
    ddp = _ddp_csv()
    ddp[ddp.dtype == "float32"].to_csv(tmp_path / "ddp.csv", index=False)
    rows = targets.targets(analysis.read_measurements(tmp_path, None)).set_index("key")
    assert rows.loc["ddp-float64"].measured == "not measured: no run of ours or DDP in float64"
    assert rows.loc["ddp-float64"].met is None and rows.loc["ddp-float32"].value == pytest.approx(2.5)


def test_compute_and_profile_tables_show_the_trainers_side_by_side():
    summary = analysis.compute_summary(_compute_csv())
    assert len(summary) == 8
    t = page.compute_table(summary)
    assert list(t.columns[:7]) == ["fit", "trainer", "engines", "hidden", "batch", "dtype", "inputs"]
    assert t["share of peak, CPU time (%)"].iloc[0] == pytest.approx(64.0)
    assert page.bars_frame(summary).inputs.iloc[0] == "raw 0-255, numpy, h=85/b=200"
    profile = pd.DataFrame({"trainer": ["numpy", "numpy", "sklearn", "sklearn"], "dtype": ["float64"] * 4,
                            "category": ["GEMM", "Adam", "GEMM", "gather"], "share_pct": [70.0, 30.0, 50.0, 50.0]})
    side = page.profile_table(profile)
    assert list(side.columns) == ["category", "numpy, float64", "sklearn, float64"]
    assert list(side.category) == ["GEMM", "gather", "Adam"]  # by the largest share in any column
    assert np.isnan(side.set_index("category").loc["Adam", "sklearn, float64"])


def test_memory_table_names_the_columns_for_the_reader():
    t = page.memory_table(_memory_csv())
    assert list(t.columns) == ["images", "dtype", "trainer", "process", "own data (MB)", "peak (MB)",
                               "peak − baseline (MB)", "bound (MB)", "within bound", "holds the whole training set"]


def test_latest_stages_keeps_the_newest_run_of_each_stage():
    stages = pd.DataFrame({"run_id": ["a", "a", "b", "c"], "stage": ["x", "y", "x", "x"],
                           "seconds": [1.0, 2.0, 3.0, 4.0], "quick": [False, False, False, True]})
    latest = latest_stages(stages).set_index("stage").seconds
    assert latest.to_dict() == {"y": 2.0, "x": 3.0}


def test_project_stages_grows_the_training_stages_with_their_fits():
    stages = pd.DataFrame({"stage": ["01-data", "02-sequential-sweep", "03-exemplar-parallel"],
                           "seconds": [10.0, 100.0, 50.0]})
    scaling = pd.DataFrame({"kind": ["sequential", "sequential", "exemplar one-shot", "exemplar one-shot"],
                            "n_engines": [1, 1, 2, 2], "n_train": [6000, 60000, 6000, 60000],
                            "fit_ratio": [1.0, 12.0, 1.0, 8.0]})
    proj = project_stages(stages, scaling).set_index(["n_train", "stage"]).seconds
    assert proj.to_dict() == {(6000, "01-data"): 10.0, (6000, "02-sequential-sweep"): 100.0,
                              (6000, "03-exemplar-parallel"): 50.0, (60000, "01-data"): 10.0,
                              (60000, "02-sequential-sweep"): 1200.0, (60000, "03-exemplar-parallel"): 400.0}


def test_targets_table_shows_the_verdicts_in_words():
    goals = pd.DataFrame({"measure": ["a", "b", "c"], "target": ["t"] * 3, "measured": ["m"] * 3,
                          "met": [True, False, None], "value": [1.0, 2.0, np.nan], "note": ["", "n", ""]})
    shown = targets.targets_table(goals)
    assert list(shown.columns) == ["measure", "target", "measured", "met", "note"]
    assert list(shown.met) == ["yes", "no", "–"]


def test_distribution_table_in_megabytes_and_percent_by_size_and_engines():
    summary = pd.DataFrame({"method": ["m", "m"], "n_train": [60000, 6000], "n_engines": [2, 2],
                            "bytes_moved": [4.752e7, 4.752e6], "ms": [20.0, 2.0], "best_ms": [18.0, 1.5],
                            "bandwidth_gbs": [2.0, 2.0], "memcpy_gbs": [10.0, 10.0], "fraction_of_memcpy": [0.2, 0.2],
                            "fraction_of_fit": [np.nan, 0.001], "times_ours": [1.0, 1.0],
                            "oversubscribed": [False, False], "verified": [True, True]})
    t = page.distribution_table(summary)
    assert list(t["images"]) == [6000, 60000] and list(t["MB moved"]) == pytest.approx([4.752, 47.52])
    assert list(t["share of fit (%)"])[0] == pytest.approx(0.1)
    assert list(t.columns) == ["images", "engines", "method", "MB moved", "median (ms)", "best (ms)", "GB/s",
                               "memcpy GB/s", "share of memcpy (%)", "× ours", "share of fit (%)",
                               "more engines than cores", "shards verified"]


def test_stages_table_adds_minutes():
    stages = pd.DataFrame({"stage": ["x"], "seconds": [90.0], "run_id": ["r"], "quick": [False], "git_commit": ["c"],
                           "cpu_model": ["cpu"]})
    t = page.stages_table(stages)
    assert list(t.columns) == ["stage", "seconds", "minutes", "run_id", "quick", "git_commit"]
    assert t.minutes.iloc[0] == 1.5
