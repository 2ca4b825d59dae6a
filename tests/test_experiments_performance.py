"""Chapter 06: its parameter and reading the benchmarks (``exemplar.experiments.performance``), its sections and
sentences (``exemplar.reporting.performance``) and its targets (``exemplar.reporting.targets``).

Every sentence is asserted word for word for a made-up table; nothing here runs a benchmark or a notebook.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from exemplar import config
from exemplar.analysis import performance as analysis
from exemplar.analysis import stages
from exemplar.experiments import performance as chapter
from exemplar.reporting import performance as page
from exemplar.reporting import targets

BENCH = config.ROOT / "results" / "bench"


# --------------------------------------------------------------------------------------------
# The parameter
# --------------------------------------------------------------------------------------------


def test_bench_dir_defaults_to_none_and_accepts_an_existing_folder(tmp_path):
    assert chapter.parameters({}).bench_dir is None
    assert chapter.parameters({"bench_dir": None}).bench_dir is None
    assert chapter.parameters({"bench_dir": str(tmp_path)}).bench_dir == str(tmp_path)


@pytest.mark.parametrize("value, message", [
    (123, r"parameter bench_dir must be a string, or None; got 123"),
    ([1], r"parameter bench_dir must be a string, or None; got \[1\]"),
    ("", r"parameter bench_dir must be an existing folder of the benchmarks' CSV files \(relative to the project "
         r"root, or absolute\), or None for results/bench; got ''"),
    ("no/such/folder", r"parameter bench_dir must be an existing folder .*; got 'no/such/folder' \(no folder "),
])
def test_a_bad_bench_dir_is_refused_by_name(value, message):
    with pytest.raises(ValueError, match=message):
        chapter.parameters({"bench_dir": value})


def test_a_file_is_not_a_bench_dir(tmp_path):
    (tmp_path / "compute.csv").write_text("a\n1\n")
    with pytest.raises(ValueError, match=r"parameter bench_dir must be an existing folder"):
        chapter.parameters({"bench_dir": str(tmp_path / "compute.csv")})


# --------------------------------------------------------------------------------------------
# Reading the measurements and the sections
# --------------------------------------------------------------------------------------------


def _sweep_engines() -> pd.DataFrame:
    return pd.DataFrame({"hidden": [10, 20, 30], "epochs": [5, 5, 5], "n_iter_sequential": [5, 5, 5],
                         "train_seconds_sequential": [1.0, 1.0, 1.0], "train_seconds_engines": [1.0, 1.1, 1.3],
                         "time_ratio": [1.0, 1.1, 1.3], "wall_sequential": [10.0] * 3, "wall_engines": [6.0] * 3})


def _compute_csv() -> pd.DataFrame:
    """Made-up ``compute.csv``: both trainers, both networks, both dtypes and inputs, and the 2-engine runs.

    The fast trainer's default network: 60 / 58 % of peak in float64 (raw / scaled), 50 / 48 % in float32, by wall
    time; 5 points more each by CPU time.
    """
    rows = []

    def add(kind, trainer, dtype, inputs, share, ms, default=True, hidden=85, sub=0.0, n=1):
        rows.append({"kind": kind, "trainer": trainer, "dtype": dtype, "inputs": inputs, "n_engines": n, "rank": 0,
                     "repeat": 0, "hidden": hidden, "default_network": default, "batch_size": 200,
                     "fit_seconds": 1.0, "fit_cpu_seconds": 0.9, "n_iter": 30, "seconds_per_epoch": ms / 1e3,
                     "gflops": share * (73.0 if dtype == "float64" else 150.0),
                     "peak_gflops": 73.0 if dtype == "float64" else 150.0, "fraction_of_peak": share,
                     "fraction_of_peak_cpu": share + 0.05, "batch_gemm_gflops": 50.0 if hidden == 85 else 55.0,
                     "accuracy_pct": 90.0, "subnormal_share": sub})
    for d, base in (("float64", 0.6), ("float32", 0.5)):
        for i, inputs in enumerate(("raw 0-255", "pixels / 255")):
            sub = 0.25 if (d == "float32" and i == 0) else 0.0
            add("sequential", "sklearn", d, inputs, base - 0.2 - i * 0.01, 40.0, sub=sub)
            add("sequential", "numpy", d, inputs, base - i * 0.02, 30.0)
            add("sequential", "sklearn", d, inputs, base - 0.15, 40.0, default=False, hidden=100)
            add("sequential", "numpy", d, inputs, base + 0.02, 30.0, default=False, hidden=100)
        add("exemplar", "sklearn", d, "raw 0-255", base - 0.25, 20.0, n=2)
        add("exemplar", "numpy", d, "raw 0-255", base - 0.05, 15.0, n=2)
    return pd.DataFrame(rows)


def _profile_csv() -> pd.DataFrame:
    """Made-up ``compute_profile.csv`` of both trainers."""
    rows = [("numpy", "float64", "GEMM (BLAS matmul)", 70.0), ("numpy", "float64", "Adam update", 15.0),
            ("numpy", "float64", "batch gather (X[idx] copy)", 10.0), ("numpy", "float64", "shuffle", 5.0),
            ("sklearn", "float64", "GEMM (BLAS matmul)", 50.0), ("sklearn", "float64", "Adam update", 20.0),
            ("sklearn", "float64", "batch gather (X[idx] copy)", 30.0), ("numpy", "float32", "GEMM (BLAS matmul)", 80.0)]
    return pd.DataFrame(rows, columns=["trainer", "dtype", "category", "share_pct"])


def _memory_csv() -> pd.DataFrame:
    """Made-up ``memory.csv``: client, rank 0 and rank 1 of runs on 6,000 and 60,000 images."""
    return pd.DataFrame({"n_train": [6000] * 3 + [60000] * 3, "dtype": ["float64"] * 6, "trainer": ["numpy"] * 6,
                         "role": ["client", "rank 0", "rank 1"] * 2, "rank": [-1, 0, 1] * 2,
                         "peak_mb": [400.0, 500.0, 450.0, 420.0, 900.0, 700.0],
                         "growth_mb": [100.0, 150.0, 120.0, 110.0, 600.0, 400.0],
                         "own_data_mb": [62.7, 18.8, 18.8, 62.7, 188.2, 188.2],
                         "bound_mb": [425.4, 337.6, 337.6, 425.4, 676.3, 676.3], "within_bound": [True] * 6,
                         "holds_whole_set": [False, True, False] * 2})


def _ddp_runs(reached: bool = True) -> pd.DataFrame:
    """Made-up ``ddp.csv``: sequential 94 %, target 93.5 %; ours and DDP on 2 processes in both dtypes."""
    nan = np.nan
    rows = [  # framework, strategy, dtype, n_procs, accuracy, fit, time to target (upper bound), measured, epoch, setup
        ("sklearn", "sequential", "float64", 1, 94.0, 2.0, 2.0, nan, nan, 0.0),
        ("exemplar", "gradient-allreduce", "float64", 1, 93.8, 2.0, 2.0, 1.5, 20, 1.0),
        ("exemplar", "gradient-allreduce", "float64", 2, 93.7, 2.5, 2.5, 2.0, 40, 1.0),
        ("exemplar", "gradient-allreduce", "float32", 2, 93.6, 1.25, 1.25, 1.0, 42, 1.0),
        ("pytorch-ddp", "gradient-allreduce", "float64", 2, 93.8, 7.0, 7.0, 6.5, 35, 5.0),
        ("pytorch-ddp", "gradient-allreduce", "float32", 1, 93.9, 4.0, 4.0, 4.0, 30, 5.0),
        ("pytorch-ddp", "gradient-allreduce", "float32", 2, 93.8, 3.0, 3.0, 3.0, 35, 5.0),
    ]
    df = pd.DataFrame(rows, columns=["framework", "strategy", "dtype", "n_procs", "accuracy_pct", "fit_seconds",
                                     "time_to_target_seconds", "time_to_target_prefix_seconds", "target_epoch",
                                     "setup_seconds"])
    df["trainer"] = np.where(df.framework == "exemplar", "numpy", "")
    df["repeat"], df["n_iter"], df["wall_seconds"] = 0, 50, df.fit_seconds
    df["sequential_pct"], df["target_pct"], df["reached"] = 94.0, 93.5, True
    if not reached:
        mine = df.framework != "sklearn"
        df.loc[mine, "reached"] = False
        df.loc[mine, ["time_to_target_seconds", "time_to_target_prefix_seconds"]] = nan
    return df


def test_load_reads_what_is_there_and_the_sections_say_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(tmp_path / "results"))  # no stage times recorded
    bench = tmp_path / "bench"
    bench.mkdir()
    _sweep_engines().to_csv(bench / "sweep_engines.csv", index=False)
    prov = {"machine": {"cpu_model": "Test CPU", "usable_cores": 2, "memory_gib": 16.0},
            "git_commit": "0123456789abcdef", "created": "2026-01-02T03:04:05+00:00"}
    (bench / "sweep_engines.json").write_text(json.dumps(prov))

    m = chapter.load(chapter.parameters({"bench_dir": str(bench)}))
    assert m.directory == bench and m.stages is None and m.cores == 2
    assert m.missing == ["compute", "compute_profile", "distribution", "ddp", "memory", "report_scaling"]
    assert page.header(m).data == (
        f"Benchmarks read from `{bench}`, measured on Test CPU (2 usable cores, 16.0 GiB), commit `0123456789ab`, "
        "2026-01-02T03:04:05+00:00. Missing: compute, compute_profile, distribution, ddp, memory, report_scaling. "
        "The load of the machine was not recorded with these results (they predate the record), so whether other "
        "work shared its cores is not known.")
    note = page.compute_section(m)
    assert [n.data for n in note] == [f"*Not measured yet: no `compute.csv` in `{bench}`. "
                                      "Run `make bench`, then rebuild the book.*"]
    assert page.compute_prose(m) == [] and page.distribution_prose(m) == []
    assert page.stages_section(m)[0].data == "*No stage times recorded yet: `make book` records them.*"
    table, sentence = page.sweep_section(m)
    assert list(table.data.columns) == ["hidden", "epochs", "epochs run", "one at a time (s)", "two at a time (s)",
                                        "ratio"]
    assert sentence.data == page.sweep_sentence(_sweep_engines())
    assert page.memory_section(m)[0].data.startswith("*Not measured yet: no `memory.csv`")
    assert list(targets.targets(m).measured) == ["not measured"] * 7
    assert page.summary(m).data.startswith("- The fast trainer's fit, default network, float64")


def test_the_sections_show_the_trainers_and_the_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(tmp_path / "results"))
    _compute_csv().to_csv(tmp_path / "compute.csv", index=False)
    _profile_csv().to_csv(tmp_path / "compute_profile.csv", index=False)
    _memory_csv().to_csv(tmp_path / "memory.csv", index=False)
    m = chapter.load(chapter.parameters({"bench_dir": str(tmp_path)}))
    table, bars = page.compute_section(m)
    assert {"trainer", "hidden", "batch"} <= set(table.data.columns) and len(table.data) == 20
    assert len(bars.data) == 2 and len(bars.data[0].x) == 16  # sequential: trainers × networks × dtypes × inputs
    assert [p.data for p in page.compute_prose(m)] == [page.compute_sentence(analysis.compute_summary(_compute_csv()))]
    side, profile_bars, sentence = page.profile_section(m)
    assert list(side.data.columns) == ["category", "numpy, float64", "sklearn, float64", "numpy, float32"]
    assert {t.name for t in profile_bars.data} == {"numpy, float64", "sklearn, float64", "numpy, float32"}
    assert sentence.data == page.profile_sentence(_profile_csv(), _compute_csv())
    mem_table, mem_sentence = page.memory_section(m)
    assert len(mem_table.data) == 6 and mem_sentence.data == page.memory_sentence(_memory_csv())
    goals = targets.targets(m).set_index("key")
    assert goals.loc["compute-float64"].met is True and goals.loc["memory"].measured == "0 of 6 processes"


def test_read_stages_prefers_full_runs_and_falls_back_to_quick_ones(tmp_path):
    rows = {"run_id": ["a", "b", "b"], "stage": ["x", "x", "y"], "seconds": [1.0, 2.0, 3.0],
            "quick": [True, True, True]}
    pd.DataFrame(rows).to_csv(tmp_path / "stages.csv", index=False)
    assert stages.read_stages(tmp_path / "stages.csv").set_index("stage").seconds.to_dict() == {"x": 2.0, "y": 3.0}
    pd.DataFrame({**rows, "quick": [False, True, True]}).to_csv(tmp_path / "stages.csv", index=False)
    assert stages.read_stages(tmp_path / "stages.csv").set_index("stage").seconds.to_dict() == {"x": 1.0}
    assert stages.read_stages(tmp_path / "absent.csv") is None


# --------------------------------------------------------------------------------------------
# The sentences
# --------------------------------------------------------------------------------------------


def test_not_measured_and_sources_sentences():
    assert page.not_measured_sentence("ddp", BENCH) == (
        "*Not measured yet: no `ddp.csv` in `results/bench`. Run `make bench`, then rebuild the book.*")
    assert page.sources_sentence(BENCH, {}, []) == "Benchmarks read from `results/bench`."


def test_compute_sentence():
    assert page.compute_sentence(analysis.compute_summary(_compute_csv())) == (
        "By each fit's CPU time (what it takes on a core of its own; the table gives the wall-clock shares too): on "
        "one core, the fast trainer's fit of the default network (85 hidden units, batches of 200) runs at **65 % of "
        "the single-core float64 peak** (73 GFLOP/s) on raw pixels and 63 % on scaled ones; scikit-learn's "
        "`MLPClassifier.fit`, alternating with it in the same run, at 45 % and 44 %: the fast trainer's epochs are "
        "1.33× faster (raw pixels). In float32 the fast trainer reaches 55 % and 53 % of the float32 peak "
        "(150 GFLOP/s), scikit-learn 35 % and 34 %; scikit-learn's float32 on raw pixels is slowed by subnormal "
        "numbers (25 % of its outputs), which the fast trainer flushes to zero. With 100 hidden units at batch 200: "
        "67 % and 67 % in float64 against scikit-learn's 50 % and 50 %; 57 % and 57 % in float32 against 40 % and "
        "40 %. One mini-batch GEMM alone (200×784 by 784×85) reaches 50 GFLOP/s, 68 % of peak: the most a fit made of "
        "GEMMs of this shape could reach. Each engine's fit in the 2-engine one-shot run (float64, raw pixels): fast "
        "trainer 60 %, scikit-learn 40 %.")
    # without CPU times (an older file), by wall time
    older = _compute_csv().drop(columns="fraction_of_peak_cpu")
    assert page.compute_sentence(analysis.compute_summary(older)).startswith(
        "On one core, the fast trainer's fit of the default network (85 hidden units, batches of 200) runs at **60 % "
        "of the single-core float64 peak**")


def test_compute_sentence_without_the_fast_trainer():
    older = _compute_csv()[lambda d: d.trainer == "sklearn"].drop(columns="trainer")
    assert page.compute_sentence(analysis.compute_summary(older)) == (
        "The compute benchmark has no fits of the fast trainer yet: run `make bench`.")


def test_profile_sentence():
    assert page.profile_sentence(_profile_csv(), _compute_csv()) == (
        "In float64, **70 % of the fast trainer's samples are in the GEMMs**, against 50 % of scikit-learn's; the "
        "rest of its time: Adam update 15 % (scikit-learn 20 %), batch gather (X[idx] copy) 10 % (scikit-learn 30 %), "
        "shuffle 5 % (scikit-learn 0 %). At 65 % of peak overall (raw pixels, as profiled) with 70 % of its time in "
        "the GEMMs, the GEMMs themselves run at about 93 % of peak while they run, against the 68 % one batch-shaped "
        "GEMM reaches alone (above); the rest is element-wise work (Adam's update of every weight at every step, the "
        "batch gather, the activations) bound by memory speed, not by the peak. The float64 target (≥ 55 %) is "
        "**met**.")
    assert page.profile_sentence(_profile_csv(), None).endswith("The float64 target (≥ 55 %) is **not measured**.")
    only_sklearn = _profile_csv()[_profile_csv().trainer == "sklearn"].drop(columns="trainer")  # an older file
    assert page.profile_sentence(only_sklearn, None) == (
        "The profile has no samples of the fast trainer yet: run `make bench`.")


def test_memory_sentence():
    assert page.memory_sentence(_memory_csv()) == (
        "Of the 6 processes measured (the client and every rank, one-shot runs on 6,000 and 60,000 images), "
        "**6 stayed within their bound** (twice their own data in the training dtype plus 300 MB, counting what each "
        "took on for the run: peak minus its idle baseline); closest to its bound: rank 0 (60,000 images, float64, "
        "numpy), 600 of 676 MB; only rank 0 held the whole training set. The largest peak: rank 0 (60,000 images, "
        "float64, numpy), 900 MB.")


def test_distribution_sentence():
    def rows(method, n_train, ms, **more):
        return [{"method": method, "n_train": n_train, "n_engines": n, "ms": t,
                 **{k: v[i] for k, v in more.items()}} for i, (n, t) in enumerate(zip((2, 4, 6), ms))]

    summary = pd.DataFrame(
        rows("scatterv-uint8", 6000, [1.0, 2.0, 3.0], fraction_of_fit=[0.0005, 0.001, 0.0015], times_ours=[1, 1, 1])
        + rows("scatterv-float64", 6000, [8.0, 9.0, 10.0])
        + rows("comm.scatter-pickle", 6000, [60.0, 100.0, 140.0])
        + rows("ipyparallel-scatter", 6000, [96.0, 80.0, 90.0], times_ours=[96.0, 40.0, 30.0])
        + rows("scatterv-uint8", 60000, [10.0, 20.0, 30.0]))
    assert page.distribution_sentence(summary) == (
        "Our `Scatterv` gives 6,000 images to 2/4/6 engines in **1.0 / 2.0 / 3.0 ms**, 0.05 / 0.10 / 0.15 % of the "
        "fit time (target ≤ 1 %), and 60,000 in 10 / 20 / 30 ms. ipyparallel's scatter takes 96 / 80 / 90 ms for "
        "the 6,000 (30–96× ours), the pickled scatter 60 / 100 / 140 ms. Two things make ours fast: sending bytes "
        "instead of float64 (8× fewer; the same `Scatterv` of float64 takes 8.0 ms on 2 engines, 8× ours), and one "
        "message per engine straight from rank 0's buffer, with no pickling and no hop through the controller "
        "(float64 `Scatterv` against ipyparallel's scatter of the same float64: 12× on 2 engines). Nothing here "
        "comes near the paper's 11 s: even the naive methods move 6,000 images in about a tenth of a second, so "
        "the paper's figure must include work beyond the transfer (reading or converting the data inside the timed "
        "region). The 60,000-image float64 rows vary widely from repeat to repeat on this machine (a virtual "
        "machine where first-touching hundreds of freshly allocated megabytes is slow); the *best* column is the "
        "fairer transport comparison there.")


def test_ddp_sentences():
    headline, epochs = page.ddp_sentences(_ddp_runs())
    assert headline == (
        "The sequential scikit-learn fit reaches 94.00 %, so the target is **93.50 %**. In float64, our "
        "*gradient-allreduce, numpy trainer* gets there in **2.00 s** (measured at the target epoch) and ends at "
        "93.70 %; DDP with 2 processes (*gradient-allreduce*) in **6.50 s**, ending at 93.80 %: ours is **3.25×** as "
        "fast (target ≥ 3×); charged for its whole run instead (an upper bound, 2.50 s), 2.60×. Runs at the target: "
        "ours 100 %, DDP's 100 %. In float32, our *gradient-allreduce, numpy trainer* gets there in **1.00 s** "
        "(measured at the target epoch) and ends at 93.60 %; DDP with 2 processes (*gradient-allreduce*) in "
        "**3.00 s**, ending at 93.80 %: ours is **3.00×** as fast (target ≥ 3×); charged for its whole run instead "
        "(an upper bound, 1.25 s), 2.40×. Runs at the target: ours 100 %, DDP's 100 %. Both sides' per-epoch "
        "evaluations are excluded from their clocks; starting its processes (torch's import and `init_process_group`) "
        "costs 5.0 s per run, against the cluster start of the other chapters; neither is counted.")
    assert epochs == (
        "Epochs against time. In float64, gradient-allreduce on one process reaches the target at epoch 20 in "
        "1.50 s; on 2 engines, whose steps add the gradients of 2 × 200 rows, at epoch 40 on average, in 2.00 s. "
        "Doubling the global batch halves the steps per epoch, so an epoch costs half as long but moves the "
        "weights half as often; that costs more epochs than the second core saves.")
    # a dtype in which DDP was not run is left out
    float32_only = _ddp_runs()[lambda d: (d.dtype == "float32") | (d.framework != "pytorch-ddp")]
    assert "In float64" not in page.ddp_sentences(float32_only)[0]


def test_ddp_sentences_when_the_target_was_not_reached():
    assert page.ddp_sentences(_ddp_runs(reached=False)) == [
        "Our strategy or DDP did not reach the target accuracy in these runs; the table shows how close each came."]


def test_stages_sentence():
    stages = pd.DataFrame({"stage": ["a", "b", "c"], "seconds": [60.0, 120.0, 180.0], "quick": [False] * 3})
    tail = (". Setting up `.venv` and fetching the data are not counted: both are done once per machine. The sweep "
            "runs its fits two at a time on two engines (below); without that it takes about twice as long.")
    assert page.stages_sentence(stages, 2) == (
        "The latest full stages sum to **6.0 minutes** (target ≤ 10 min for the full report on 2 cores). "
        "The heaviest are `c` (3.0 min, 50 %) and `b` (2.0 min, 33 %)" + tail)
    assert page.stages_sentence(stages.assign(quick=True)).startswith(
        "The latest QUICK stages sum to **6.0 minutes** (target ≤ 10 min for the full report on these cores).")


def test_projection_sentence():
    projected = pd.DataFrame({"n_train": [6000, 6000, 60000, 60000], "stage": ["a", "b", "a", "b"],
                              "seconds": [60.0, 120.0, 600.0, 1200.0]})
    assert page.projection_sentence(projected) == (
        "Projected full report: 6,000 images **3 min**; 60,000 images **30 min**. The sweep and the parallel "
        "chapters grow with the fits; the algorithms chapter already runs its own sizes.")


def test_sweep_sentence():
    assert page.sweep_sentence(_sweep_engines()) == (
        "Side by side, each fit took **1.13×** its time alone on average (from 1.00× to 1.30×), with identical "
        "accuracies and epochs; the grid as a whole finished 1.67× sooner. The two fits share the memory bus and "
        "the last-level cache, which is what the ratio above 1 measures: the sweep's times in Table I are those of "
        "fits running beside one other fit, and read that much slower than fits run alone.")


def test_summary_bullets():
    goals = pd.DataFrame({"measure": ["Compute", "Distribution"], "measured": ["31 % of peak", "not measured"],
                          "target": ["≥ 40 %", "≤ 1 %"], "met": [False, None], "note": ["see the profile", ""]})
    assert targets.summary_bullets(goals) == (
        "- Compute: 31 % of peak (target ≥ 40 %): **not met** (see the profile).\n"
        "- Distribution: not measured (target ≤ 1 %): not measured.\n"
        "- Every number on this page comes from `results/bench/*.csv` and `results/report_stages.csv`, with the "
        "machine, versions and commit that produced it in the `.json` beside each file.")
