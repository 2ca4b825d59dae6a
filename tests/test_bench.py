"""The compute and whole-report benchmarks at their --quick size, and the chapter's summaries and targets."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from exemplar import config
from exemplar.reporting import performance as bench

sys.path.insert(0, str(config.ROOT / "benchmarks"))
import compute  # noqa: E402
import run_all  # noqa: E402

from test_exemplar import mpi  # noqa: E402


def test_mlp_flops_counts_the_five_gemms_of_an_epoch():
    n, d, h, k = 200, 784, 85, 10
    per_epoch = 2 * n * d * h + 2 * n * h * k + 2 * n * h * k + 2 * n * h * k + 2 * n * d * h
    assert compute.mlp_flops(n, d, h, 3, k) == 3 * per_epoch


def test_profile_stacks_are_classified_by_their_innermost_known_frame():
    assert compute.classify_stack(["fit_timed (x)", "_fit_stochastic (y)", "safe_sparse_dot (z)"]) == "GEMM (BLAS matmul)"
    assert compute.classify_stack(["fit_timed", "update_params (a/_stochastic_optimizers.py:43)"]) == "Adam update"
    assert compute.classify_stack(["fit_timed", "_compute_loss_grad (m.py:235)", "safe_sparse_dot (e.py)"]) \
        == "GEMM (BLAS matmul)"
    assert compute.classify_stack(["fit_timed", "_fit_stochastic (m.py)"]).startswith("other Python")


@mpi
@pytest.mark.slow
@pytest.mark.bench
def test_compute_and_report_benchmarks_write_their_results(tmp_path):
    import report as report_bench

    assert compute.main(["--quick", "--output-dir", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "compute.csv")
    assert set(df.kind) == {"sequential", "exemplar"} and set(df.dtype) == {"float64", "float32"}
    assert df.fraction_of_peak.between(0, 1.5).all() and (df.peak_gflops > 0).all()
    assert (tmp_path / "compute.json").is_file()
    s = bench.compute_summary(df)
    assert 0 < bench.engine_efficiency(df) < 1.5 and len(s) == 6

    assert report_bench.main(["--quick", "--output-dir", str(tmp_path)]) == 0
    sc = pd.read_csv(tmp_path / "report_scaling.csv")
    assert set(sc.kind) == {"sequential", "exemplar one-shot"}
    assert np.allclose(sc[sc.n_train == sc.n_train.min()].fit_ratio, 1.0)
    sw = pd.read_csv(tmp_path / "sweep_engines.csv")
    assert len(sw) == 2 and (sw.time_ratio > 0).all()


def test_a_bad_parameter_fails_with_its_name(tmp_path):
    with pytest.raises(ValueError, match="repeats must be an integer"):
        compute.run(n_train=100, n_test=100, hidden=5, epochs=2, repeats=0, profile=False, output_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_run_all_refuses_an_unknown_benchmark(capsys):
    assert run_all.main(["nonsense"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err


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
