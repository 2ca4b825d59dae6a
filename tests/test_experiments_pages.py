"""Chapters 00 (paper vs report), 01 (data) and 99 (status): their parameters (``exemplar.experiments``), tables and
sentences (``exemplar.reporting``), without notebooks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exemplar import config
from exemplar.experiments import data_overview, paper_vs_report, status
from exemplar.reporting import claims
from exemplar.reporting import data_overview as data_page
from exemplar.reporting import status as status_page


# ------------------------------------------------------------------------------------ 00-paper-vs-report

def test_paper_vs_report_parameters():
    assert paper_vs_report.parameters({"results_folder": None}).results_folder is None
    assert paper_vs_report.parameters({"results_folder": "/tmp/r"}).results_folder == "/tmp/r"
    assert paper_vs_report.parameters({}).results_folder is None
    with pytest.raises(ValueError, match=r"parameter results_folder must be a string, or None; got 3"):
        paper_vs_report.parameters({"results_folder": 3})


def test_verdict_sentence_for_a_made_up_table():
    verdicts = pd.DataFrame({"verdict": ["reproduced", "not reproduced", "reproduced", "reproduced with a caveat",
                                         "reproduced"]})
    assert claims.verdict_sentence(verdicts) == (
        "**3** reproduced, **1** reproduced with a caveat, **1** not reproduced (of 5 claims).")
    verdicts["claim"] = list("abcde")
    verdicts["margin"] = ["clear (margin 0.45 pp, sd 0.12 pp)", "within the spread (margin 0.10 pp against an sd of "
                          "0.80 pp)", "margin 0.30 pp; no spread over repeats", "clear (margin 1.00 pp, sd 0.10 pp)",
                          "no number decides it"]
    assert claims.verdict_sentence(verdicts) == (
        "**3** reproduced, **1** reproduced with a caveat, **1** not reproduced (of 5 claims). 1 of them was decided "
        "by a margin inside the spread over the repeats, so another run could turn it: *b*.")


# ------------------------------------------------------------------------------------ 01-data

def test_data_parameters():
    p = data_overview.parameters({"n_train": "1000", "n_show": 12})
    assert (p.n_train, p.n_show) == (1000, 12)
    assert data_overview.parameters({}).as_dict() == {"n_train": 6000, "n_show": 30}


@pytest.mark.parametrize("given, message", [
    ({"n_train": 0}, r"parameter n_train must be an integer from 1 to 60000; got 0"),
    ({"n_train": 60001}, r"parameter n_train must be an integer from 1 to 60000; got 60001"),
    ({"n_show": 201}, r"parameter n_show must be an integer from 1 to 200; got 201"),
    ({"n_show": "many"}, r"parameter n_show must be an integer from 1 to 200; got 'many'"),
])
def test_data_refuses_bad_parameters(given, message):
    with pytest.raises(ValueError, match=message):
        data_overview.parameters(given)


def test_loaded_sentence():
    assert data_page.loaded_sentence(60000, 10000, 6000) == (
        "Test images loaded: **10,000**; training images: **60,000**, of which the experiments use the first "
        "**6,000**.")
    with pytest.raises(ValueError, match="the test set must hold all 10,000 images; got 9,999"):
        data_page.loaded_sentence(60000, 9999, 6000)


def test_source_table_reads_the_checksums():
    X = np.array([[0, 255], [3, 4]], dtype=np.uint8)
    sums = f"aaa  {config.MNIST_TRAIN_CSV}\nbbb  {config.MNIST_TEST_CSV}\n"
    t = data_page.source_table(X, np.array([1, 2]), X[:1], np.array([3]), sums)
    assert t.to_dict("list") == {"file": [config.MNIST_TRAIN_CSV, config.MNIST_TEST_CSV], "images": [2, 1],
                                 "pixel range": ["0–255", "0–255"], "sha256": ["aaa", "bbb"]}
    with pytest.raises(ValueError, match="no checksum for mnist_test.csv"):
        data_page.source_table(X, np.array([1, 2]), X, np.array([3, 4]), f"aaa  {config.MNIST_TRAIN_CSV}\n")


def test_header_table_shows_whole_counts_out_of_9999():
    t = data_page.header_table()
    whole = lambda column: (t[column] - t[column].round()).abs() < 0.01  # to the 4 decimals the paper printed
    assert whole("× 9,999 / 100").all() and not whole("× 10,000 / 100").any()
    assert t.iloc[1].tolist() == [88.229, 8821.998, 8822.88]  # rounded to 3 decimals, as the page shows


def test_class_counts():
    counts = data_page.class_counts(np.array([0, 1, 1, 9, 9]), np.array([2, 2]), n_train=3)
    wide = counts.pivot(index="split", columns="digit", values="images")
    assert wide.loc["first 3 training images"].tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 0]
    assert wide.loc["10,000 test images"].tolist() == [0, 0, 2, 0, 0, 0, 0, 0, 0, 0]


# ------------------------------------------------------------------------------------ 99-status

def test_status_parameters():
    p = status.parameters({"results_folder": None, "run_dir": "/tmp/run"})
    assert p.as_dict() == {"results_folder": None, "run_dir": "/tmp/run"}
    with pytest.raises(ValueError, match=r"parameter run_dir must be a string, or None; got \['a'\]"):
        status.parameters({"run_dir": ["a"]})


def test_results_sentence():
    assert status_page.results_sentence("/tmp/q", ["exemplar", "sequential_sweep"]) == (
        "Results read from `/tmp/q`: `exemplar`, `sequential_sweep`.")
    assert status_page.results_sentence(config.ROOT / "results" / "quick", {"a": {}}) == (
        "Results read from `results/quick`: `a`.")


def test_execution_sentence():
    runs = pd.DataFrame({"notebook": ["01", "02", "99"], "duration (s)": [12.25, 30.0, np.nan]})
    assert status_page.execution_sentence(runs) == "Total execution time: **42.2 s** over 2 notebooks."


def _blas_prov(cpu, architecture=None, version="0.3.30"):
    lib = {"user_api": "blas", "internal_api": "openblas", "version": version, "num_threads": 2,
           "threading_layer": "pthreads"}
    return {"machine": {"cpu_model": cpu}, "blas": [lib | ({"architecture": architecture} if architecture else {}),
                                                    {"user_api": "openmp", "internal_api": "openmp", "version": None}]}


def test_the_cpu_model_and_blas_kernel_of_each_results_file():
    zen = _blas_prov("AMD EPYC", "Zen")
    assert status_page.blas_kernel(zen) == "openblas 0.3.30 (Zen kernel)"
    assert status_page.blas_kernel(_blas_prov("AMD EPYC")) == "openblas 0.3.30 (kernel not recorded)"
    assert status_page.blas_kernel({}) == "not recorded"
    two = {"blas": [{"user_api": "blas", "internal_api": "openblas", "version": v} for v in ("0.3.31", "0.3.30")]}
    assert status_page.blas_kernel(two) == status_page.blas_kernel({"blas": two["blas"][::-1]}) == (
        "openblas 0.3.30 (kernel not recorded) and openblas 0.3.31 (kernel not recorded)")   # the order of loading
    assert status_page.machine_of(zen) == "AMD EPYC with openblas 0.3.30 (Zen kernel)"
    assert status_page.machine_of({}) == "a CPU not recorded with a BLAS not recorded"
    table = status_page.machine_table({"exemplar": zen}).set_index("")
    assert table.loc["BLAS kernel", "exemplar"] == "openblas 0.3.30 (Zen kernel)"
    assert table.loc["BLAS / OpenMP (threads)", "exemplar"] == (
        "openblas 0.3.30 (Zen kernel, 2 threads, pthreads); openmp (None threads)")


def test_machine_sentence_says_whether_the_results_share_a_machine():
    one = {"exemplar": _blas_prov("AMD EPYC", "Zen"), "sequential_sweep": _blas_prov("AMD EPYC", "Zen")}
    assert status_page.machine_sentence(one) == (
        "The results here were computed on one CPU and BLAS: AMD EPYC with openblas 0.3.30 (Zen kernel).")
    assert status_page.machine_sentence({"exemplar": one["exemplar"]}) == (
        "`exemplar` was computed on one CPU and BLAS: AMD EPYC with openblas 0.3.30 (Zen kernel).")
    two = {**one, "communication": _blas_prov("Intel Xeon", "SkylakeX", "0.3.31")}
    assert status_page.machine_sentence(two) == (
        "The results here come from 2 CPU and BLAS set-ups: `exemplar`, `sequential_sweep` on AMD EPYC with "
        "openblas 0.3.30 (Zen kernel); `communication` on Intel Xeon with openblas 0.3.31 (SkylakeX kernel). Times, "
        "speedups and the sweep's optimum depend on them, so they compare only within one set-up; accuracies do not.")
