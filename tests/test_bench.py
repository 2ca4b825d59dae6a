"""The compute and whole-report benchmarks (``exemplar.bench.compute``, its profile's classification in
``exemplar.bench.compute_profile``, ``exemplar.bench.report``) at their --quick size, and ``python -m
exemplar.bench.run_all``."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest

from exemplar import config
from exemplar.bench import compute, compute_profile, run_all
from exemplar.bench import report as report_bench
from exemplar.models import numpy_mlp
from exemplar.parallel.cluster import mpiexec_path
from exemplar.analysis import performance as bench_analysis

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


def _line(qualname: str, needle: str) -> int:
    """The number of the first line of ``numpy_mlp.<qualname>`` whose code contains ``needle``."""
    obj = numpy_mlp
    for part in qualname.split("."):
        obj = getattr(obj, part)
    lines, start = inspect.getsourcelines(obj)
    return start + next(i for i, text in enumerate(lines) if needle in text.split("#")[0])


def _fast(qualname: str, line: int) -> str:
    return f"{qualname} (exemplar/models/numpy_mlp.py:{line})"


def test_the_fast_trainers_lines_are_classified_from_its_source():
    lines = compute_profile.fast_line_categories()
    got = {cat for _, cat in lines.values()}
    # every category the rules name is reached by some line of today's source: a renamed line fails here
    named = {c for default, rules in compute_profile.FAST_RULES.values() for c in [default, *(r[1] for r in rules)]}
    assert got == named
    assert lines[_line("NumpyMLP._forward", "np.matmul")] == ("NumpyMLP._forward", "GEMM (BLAS matmul)")
    assert lines[_line("NumpyMLP._forward", "np.exp")][1] == "activations, softmax, derivatives"
    assert lines[_line("NumpyMLP.loss_grad_sum", "np.log")][1] == "loss (log-loss, L2 penalty)"
    assert lines[_line("NumpyMLP.apply", "adam.update")][1] == "Adam update"
    assert lines[_line("NumpyMLP.apply", "grad /= n_rows")][1] == "gradient scaling and L2 term"
    assert lines[_line("Batches.take", "np.take")][1] == "batch gather (X[idx] copy)"


def test_a_fast_trainer_stack_goes_by_its_innermost_frame_in_numpy_mlp():
    outer = ["<module> (fit.py:14)", "timed_fit (fit.py:11)", "train (exemplar/models/numpy_mlp.py:1)",
             _fast("NumpyEpochs.epoch", _line("NumpyEpochs.epoch", "loss_grad_sum"))]
    gemm = outer + [_fast("NumpyMLP.loss_grad_sum", _line("NumpyMLP.loss_grad_sum", "matmul"))]
    assert compute.classify_stack(gemm) == "GEMM (BLAS matmul)"
    # numpy's own Python wrappers below the sampled line do not decide
    relu = outer + [_fast("NumpyMLP.loss_grad_sum", _line("NumpyMLP.loss_grad_sum", "np.copyto")),
                    "copyto (numpy/_core/multiarray.py:1)"]
    assert compute.classify_stack(relu) == "activations, softmax, derivatives"
    # the epoch's shuffle (a permutation drawn from the weights' stream, then applied) is its own category
    for needle in ("shuffle(perm)", "[perm]"):
        shuffle = outer[:-1] + [_fast("NumpyEpochs.epoch", _line("NumpyEpochs.epoch", needle)),
                                "shuffle (numpy/random/mtrand.pyx:1)"]
        assert compute.classify_stack(shuffle) == "shuffle"
    # a line that is not where the source says (the file changed): the function's own category
    assert compute.classify_stack(outer + [_fast("NumpyMLP.apply", 1)]) == "Adam update"
    assert compute.classify_stack(outer + [_fast("NumpyEpochs.__init__", 1)]).startswith("other Python")


def test_samples_count_only_inside_the_timed_fit():
    take = _fast("Batches.take", _line("Batches.take", "xb[...]"))
    raw = "\n".join([
        "<module> (fit.py:3);load_mnist (exemplar/data/cache.py:9) 40",
        f"<module> (fit.py:14);timed_fit (fit.py:11);train (exemplar/models/numpy_mlp.py:1);{take} 3",
        "<module> (fit.py:14);timed_fit (fit.py:9);fit_timed (sklearn_mlp.py:73);safe_sparse_dot (extmath.py:2) 5",
    ])
    assert compute_profile.count_samples(raw) == {"batch gather (X[idx] copy)": 3, "GEMM (BLAS matmul)": 5}


def test_rules_that_name_a_missing_function_fail_loudly():
    with pytest.raises(ValueError, match="the profile's rules name NumpyMLP._forward, which fake does not define"):
        compute_profile.fast_line_categories(types.SimpleNamespace(__name__="fake"))


def test_both_trainers_fit_alike_in_float64(synthetic_digits):
    X, y = synthetic_digits(300, seed=0)
    fits = {t: compute.fit_one(t, X, y, X / 255.0, 10, 5, 0, "float64", True, "auto") for t in compute.TRAINERS}
    (m_sk, _, _, it_sk), (m_np, secs, cpu, it_np) = fits["sklearn"], fits["numpy"]
    assert it_sk == it_np == 5 and secs > 0 and cpu > 0
    np.testing.assert_allclose(m_np.predict_proba(X / 255.0), m_sk.predict_proba(X / 255.0), rtol=1e-9, atol=1e-12)
    assert compute.effective_batch("auto", 150) == 150 and compute.effective_batch(200, 6000) == 200


@pytest.mark.mpi
@skip_without_mpiexec
@pytest.mark.slow
@pytest.mark.bench
def test_compute_and_report_benchmarks_write_their_results(tmp_path):
    assert compute.main(["--quick", "--output-dir", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "compute.csv")
    assert set(df.kind) == {"sequential", "exemplar"} and set(df.dtype) == {"float64", "float32"}
    assert set(df.trainer) == {"sklearn", "numpy"} and set(df.batch_size) == {200}
    seq = df[df.kind == "sequential"]
    assert set(seq.hidden) == {20, 100} and set(seq[seq.default_network].hidden) == {20}
    # the trainers alternate: every sklearn fit is followed by the numpy fit of the same configuration
    assert list(seq.trainer) == ["sklearn", "numpy"] * (len(seq) // 2)
    assert set(df[df.kind == "exemplar"].trainer) == set(compute.exemplar_trainers())
    assert df.fraction_of_peak.between(0, 1.5).all() and (df.peak_gflops > 0).all()
    assert (df.fit_cpu_seconds > 0).all()
    assert np.allclose(df.fraction_of_peak_cpu, df.gflop / df.fit_cpu_seconds / df.peak_gflops)
    assert (tmp_path / "compute.json").is_file()
    s = bench_analysis.compute_summary(df)
    assert len(s) == 16 + 2 * len(compute.exemplar_trainers())

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
    assert f"unknown benchmark(s) ['nonsense']; known: {list(run_all.BENCHMARKS)}" in proc.stderr
