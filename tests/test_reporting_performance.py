"""The benchmarks' results read back (``exemplar.reporting.performance``): summaries, targets and the chapter's tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exemplar.reporting import performance as bench


def test_targets_from_results_and_stage_times(tmp_path):
    pd.DataFrame({"kind": ["exemplar"] * 2, "dtype": ["float64"] * 2, "inputs": ["raw 0-255"] * 2,
                  "n_engines": [2, 2], "repeat": [0, 0], "fit_seconds": [1.0, 1.0], "n_iter": [30, 30],
                  "seconds_per_epoch": [0.03, 0.03], "gflops": [20.0, 30.0], "peak_gflops": [80.0, 80.0],
                  "fraction_of_peak": [0.25, 0.375], "batch_gemm_gflops": [60.0, 60.0],
                  "accuracy_pct": [85.0, 85.0], "subnormal_share": [np.nan, np.nan]}).to_csv(tmp_path / "compute.csv")
    stages = pd.DataFrame({"stage": ["01-data", "02-sequential-sweep"], "seconds": [60.0, 600.0]})
    rows = bench.targets(tmp_path, stages)
    assert len(rows) == 4
    assert rows.iloc[0].value == pytest.approx(0.3125) and rows.iloc[0].met is False  # below 40 % of peak
    assert rows.iloc[1].measured == "not measured" and rows.iloc[1].met is None  # no distribution.csv
    assert "make bench" in rows.iloc[1].note
    assert rows.iloc[3].value == 660.0 and rows.iloc[3].met is True  # 11 min <= 15 min


def test_latest_stages_keeps_the_newest_run_of_each_stage():
    stages = pd.DataFrame({"run_id": ["a", "a", "b", "c"], "stage": ["x", "y", "x", "x"],
                           "seconds": [1.0, 2.0, 3.0, 4.0], "quick": [False, False, False, True]})
    latest = bench.latest_stages(stages).set_index("stage").seconds
    assert latest.to_dict() == {"y": 2.0, "x": 3.0}


def test_project_stages_grows_the_training_stages_with_their_fits():
    stages = pd.DataFrame({"stage": ["01-data", "02-sequential-sweep", "03-exemplar-parallel"],
                           "seconds": [10.0, 100.0, 50.0]})
    scaling = pd.DataFrame({"kind": ["sequential", "sequential", "exemplar one-shot", "exemplar one-shot"],
                            "n_engines": [1, 1, 2, 2], "n_train": [6000, 60000, 6000, 60000],
                            "fit_ratio": [1.0, 12.0, 1.0, 8.0]})
    proj = bench.project_stages(stages, scaling).set_index(["n_train", "stage"]).seconds
    assert proj.to_dict() == {(6000, "01-data"): 10.0, (6000, "02-sequential-sweep"): 100.0,
                              (6000, "03-exemplar-parallel"): 50.0, (60000, "01-data"): 10.0,
                              (60000, "02-sequential-sweep"): 1200.0, (60000, "03-exemplar-parallel"): 400.0}


def test_targets_table_shows_the_verdicts_in_words():
    goals = pd.DataFrame({"measure": ["a", "b", "c"], "target": ["t"] * 3, "measured": ["m"] * 3,
                          "met": [True, False, None], "value": [1.0, 2.0, np.nan], "note": ["", "n", ""]})
    shown = bench.targets_table(goals)
    assert list(shown.columns) == ["measure", "target", "measured", "met", "note"]
    assert list(shown.met) == ["yes", "**no**", "–"]


def test_distribution_table_in_megabytes_and_percent_by_size_and_engines():
    summary = pd.DataFrame({"method": ["m", "m"], "n_train": [60000, 6000], "n_engines": [2, 2],
                            "bytes_moved": [4.752e7, 4.752e6], "ms": [20.0, 2.0], "best_ms": [18.0, 1.5],
                            "bandwidth_gbs": [2.0, 2.0], "memcpy_gbs": [10.0, 10.0], "fraction_of_memcpy": [0.2, 0.2],
                            "fraction_of_fit": [np.nan, 0.001], "times_ours": [1.0, 1.0],
                            "oversubscribed": [False, False], "verified": [True, True]})
    t = bench.distribution_table(summary)
    assert list(t["images"]) == [6000, 60000] and list(t["MB moved"]) == pytest.approx([4.752, 47.52])
    assert list(t["share of fit (%)"])[0] == pytest.approx(0.1)
    assert list(t.columns) == ["images", "engines", "method", "MB moved", "median (ms)", "best (ms)", "GB/s",
                               "memcpy GB/s", "share of memcpy (%)", "× ours", "share of fit (%)",
                               "more engines than cores", "shards verified"]


def test_stages_table_adds_minutes():
    stages = pd.DataFrame({"stage": ["x"], "seconds": [90.0], "run_id": ["r"], "quick": [False], "git_commit": ["c"],
                           "cpu_model": ["cpu"]})
    t = bench.stages_table(stages)
    assert list(t.columns) == ["stage", "seconds", "minutes", "run_id", "quick", "git_commit"]
    assert t.minutes.iloc[0] == 1.5
