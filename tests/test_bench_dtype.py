"""What float32 costs against float64 (``exemplar.bench.dtype``): the pairing per seed, the chapter's table and
sentence, the section while the file is absent, and the benchmark itself at its --quick size."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from exemplar.analysis import performance as analysis
from exemplar.bench import dtype as dtype_bench
from exemplar.bench import run_all
from exemplar.reporting import performance as page


def _rows(diffs: dict[str, list[float]], seconds=(2.0, 1.0), base=90.0) -> pd.DataFrame:
    """``dtype.csv``: per inputs, one float64 and one float32 fit per seed, float32 off by the given pp."""
    rows = []
    for inputs, ds in diffs.items():
        for seed, d in enumerate(ds):
            rows.append({"inputs": inputs, "seed": seed, "dtype": "float64", "accuracy_pct": base + seed,
                         "n_iter": 40, "fit_seconds": seconds[0]})
            rows.append({"inputs": inputs, "seed": seed, "dtype": "float32", "accuracy_pct": base + seed + d,
                         "n_iter": 41, "fit_seconds": seconds[1]})
    return pd.DataFrame(rows)


def test_summary_pairs_float32_with_float64_per_seed_and_inputs():
    s = analysis.dtype_summary(_rows({"raw 0-255": [-0.05, 0.01, 0.0, -0.02, 0.01],
                                      "pixels / 255": [0.02, 0.0, 0.0, 0.0, 0.0]})).set_index("inputs")
    assert list(s.index) == ["raw 0-255", "pixels / 255"]
    raw = s.loc["raw 0-255"]
    assert raw.runs == 5
    assert raw.mean_diff_pp == pytest.approx(-0.01)
    assert raw.sd_diff_pp == pytest.approx(np.std([-0.05, 0.01, 0.0, -0.02, 0.01], ddof=1))
    assert raw.max_abs_diff_pp == pytest.approx(0.05)
    assert raw.accuracy_reference == pytest.approx(92.0)
    assert raw.n_iter_reference == 40 and raw.n_iter_other == 41
    assert raw.speed_ratio == pytest.approx(2.0)
    assert s.loc["pixels / 255"].max_abs_diff_pp == pytest.approx(0.02)


def test_summary_counts_only_seeds_fitted_in_both_dtypes():
    df = _rows({"raw 0-255": [0.1, 0.3]})
    df = pd.concat([df, pd.DataFrame([{"inputs": "raw 0-255", "seed": 7, "dtype": "float64", "accuracy_pct": 10.0,
                                       "n_iter": 1, "fit_seconds": 100.0}])])
    s = analysis.dtype_summary(df)
    assert s.runs.tolist() == [2]
    assert s.mean_diff_pp.iloc[0] == pytest.approx(0.2)
    assert s.speed_ratio.iloc[0] == pytest.approx(2.0)


def test_one_seed_has_no_sd():
    s = analysis.dtype_summary(_rows({"raw 0-255": [0.1]}))
    assert s.runs.tolist() == [1] and math.isnan(s.sd_diff_pp.iloc[0])
    assert page.dtype_sentence(s).startswith("On one seed, float32 is within 0.10 pp of float64 with raw pixels "
                                             "(mean +0.10 pp, one seed)")


def test_sentence_is_computed_from_the_rows():
    s = analysis.dtype_summary(_rows({"raw 0-255": [-0.05, 0.01, 0.0, -0.02, 0.01],
                                      "pixels / 255": [0.02, 0.0, 0.0, 0.0, 0.0]}, seconds=(3.0, 2.0)))
    sd_raw = np.std([-0.05, 0.01, 0.0, -0.02, 0.01], ddof=1)
    sd_scaled = np.std([0.02, 0, 0, 0, 0], ddof=1)
    assert page.dtype_sentence(s) == (
        f"Over 5 seeds, float32 is within 0.05 pp of float64 with raw pixels (mean −0.01 pp, sd {sd_raw:.2f} pp) "
        f"and within 0.02 pp on pixels / 255 (mean 0.00 pp, sd {sd_scaled:.2f} pp), and fits 1.5× faster; "
        "chapters 04, 04b and 05 train in float32, the paper's chapters 02 and 03 in float64.")


def test_sentence_says_exact_matches_and_a_slower_float32():
    s = analysis.dtype_summary(_rows({"raw 0-255": [0.0, 0.0], "pixels / 255": [0.0, 0.0]}, seconds=(1.0, 2.0)))
    assert page.dtype_sentence(s).startswith(
        "Over 2 seeds, float32 matches float64 exactly with raw pixels and matches it exactly on pixels / 255, "
        "and fits 2.0× slower;")


def test_table_names_the_columns_for_the_reader():
    t = page.dtype_table(analysis.dtype_summary(_rows({"raw 0-255": [0.1, -0.1]})))
    assert t.columns[0] == "inputs" and "float64 fit ÷ float32 fit" in t.columns
    assert t["seeds"].tolist() == [2]


def test_section_says_make_bench_writes_the_file_while_it_is_absent(tmp_path):
    m = analysis.Measurements(tmp_path, {}, None)
    (note,) = page.dtype_section(m)
    assert "dtype.csv" in note.data and "make bench" in note.data


def test_section_shows_the_table_and_the_sentence(tmp_path):
    _rows({"raw 0-255": [0.1, -0.1]}).to_csv(tmp_path / "dtype.csv", index=False)
    (tmp_path / "dtype.json").write_text("{}")
    table, sentence = page.dtype_section(analysis.Measurements(tmp_path, {}, None))
    assert table.data["seeds"].tolist() == [2]
    assert sentence.data.startswith("Over 2 seeds, float32 is within 0.10 pp of float64 with raw pixels")


def test_the_benchmark_is_registered():
    assert "dtype" in run_all.BENCHMARKS
    full = dtype_bench.params(False)
    assert (full["n_train"], full["hidden"], full["epochs"], full["seeds"]) == (6000, 75, 75, 5)


def test_quick_benchmark_fits_both_dtypes_per_seed_and_inputs(quick_bench):
    code, out, df = quick_bench("dtype", dtype_bench.main)
    assert code == 0 and (out / "dtype.json").is_file()
    assert len(df) == 2 * 2 * 2
    assert set(df.dtype) == {"float64", "float32"} and set(df.inputs) == {"raw 0-255", "pixels / 255"}
    assert (df.n_test == 10_000).all() and (df.n_iter <= 20).all() and (df.fit_seconds > 0).all()
    assert df.accuracy_pct.between(50, 100).all()
    assert analysis.dtype_summary(df).runs.tolist() == [2, 2]


def test_sentence_adds_the_cpu_time_ratio_where_recorded():
    df = _rows({"raw 0-255": [0.1, -0.1]}, seconds=(3.0, 1.0))
    df["fit_cpu_seconds"] = np.where(df.dtype == "float64", 2.0, 1.0)
    s = analysis.dtype_summary(df)
    assert s.speed_ratio_cpu.tolist() == [pytest.approx(2.0)]
    assert ", and fits 3.0× faster (2.0× by CPU time); chapters 04" in page.dtype_sentence(s)
