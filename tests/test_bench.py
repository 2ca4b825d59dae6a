"""The compute and whole-report benchmarks (``exemplar.bench.compute``, ``exemplar.bench.report``) at their
--quick size, and ``python -m exemplar.bench.run_all``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from exemplar import config
from exemplar.bench import compute, run_all
from exemplar.bench import report as report_bench
from exemplar.parallel.cluster import mpiexec_path
from exemplar.reporting import performance as bench

#: For the tests that start an MPI cluster (marked ``mpi``): skipped only where no mpiexec is installed.
skip_without_mpiexec = pytest.mark.skipif(not mpiexec_path().exists(), reason=f"no mpiexec at {mpiexec_path()}")


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


@pytest.mark.mpi
@skip_without_mpiexec
@pytest.mark.slow
@pytest.mark.bench
def test_compute_and_report_benchmarks_write_their_results(tmp_path):
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


@pytest.mark.parametrize("name", run_all.BENCHMARKS)
def test_each_benchmark_runs_as_a_module(name):
    proc = subprocess.run([sys.executable, "-m", f"exemplar.bench.{name}", "--help"], capture_output=True, text=True,
                          timeout=120, cwd=config.ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout and "--output-dir" in proc.stdout


def test_run_all_runs_as_a_module_and_refuses_an_unknown_benchmark():
    proc = subprocess.run([sys.executable, "-m", "exemplar.bench.run_all", "nonsense"], capture_output=True,
                          text=True, timeout=120, cwd=config.ROOT)
    assert proc.returncode == 2
    assert "unknown benchmark(s) ['nonsense']; known: ['compute', 'distribution', 'ddp', 'report']" in proc.stderr
