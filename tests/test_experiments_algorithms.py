"""Chapter 05 without a notebook: its parameters, its runs (saved one by one, resumed, retried), its summary
(:mod:`exemplar.analysis.algorithms`) and its sentences (:mod:`exemplar.reporting.algorithms`).

The sentences are asserted word for word for a made-up table of runs whose numbers are chosen
by hand; no test here starts a cluster (``run_chapter`` gets a stand-in one and a stand-in trainer).
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from exemplar import config, results
from exemplar.analysis import algorithms as analysis
from exemplar.experiments import algorithms as chapter
from exemplar.experiments import runner
from exemplar.experiments.runner import ChapterRun, ExperimentError
from exemplar.reporting import algorithms as page

from conftest import need_mnist

# --------------------------------------------------------------------------------------- parameters


def test_defaults_are_accepted_as_they_are():
    p = chapter.parameters({"hidden": 50, "epochs": 60})
    full = [n for n in [1, 2, 4, 6] if n <= max(2, results.usable_cores())]
    assert p.as_dict() == {**chapter.SPEC.defaults(), "hidden": 50, "epochs": 60, "chosen_by": "as given",
                           "engine_counts_full_set": full}
    assert p.engine_counts == [1, 2, 4, 6] and p.n_train == [6000, 60000] and p.n_test is None


def test_the_full_set_runs_on_the_engines_that_have_cores_unless_told(monkeypatch):
    monkeypatch.setattr(results, "usable_cores", lambda: 2)
    p = chapter.parameters({"hidden": 50, "epochs": 60})
    runs = pd.DataFrame(chapter.configs(p))
    assert sorted(runs[runs.n_train == 60000].n_engines.unique()) == [1, 2]
    assert sorted(runs[runs.n_train == 6000].n_engines.unique()) == [1, 2, 4, 6]
    p = chapter.parameters({"hidden": 50, "epochs": 60, "engine_counts_full_set": "[1, 6]"})
    assert sorted(pd.DataFrame(chapter.configs(p)).query("n_train == 60000").n_engines.unique()) == [1, 6]


def test_papermill_strings_are_read_as_values():
    p = chapter.parameters({"engine_counts": "[1, 2]", "n_train": "[1000]", "repeats": "2", "n_test": "2000",
                            "datasets": '["mnist"]', "resume": "true", "hidden": "32", "epochs": "null"})
    assert (p.engine_counts, p.n_train, p.repeats, p.n_test, p.datasets, p.resume, p.hidden) == \
        ([1, 2], [1000], 2, 2000, ["mnist"], True, 32)
    assert p.epochs == 75 and p.chosen_by == "the paper's classifier for Tables II–III; hidden as given"  # model


BAD = [
    ({"algorithms": ["mlp", "svm"]}, r"parameter algorithms must be a list of strings \('mlp', 'gaussian-nb'"),
    ({"algorithms": []}, r"parameter algorithms must be a list of strings"),
    ({"algorithms": ["lda", "lda"]}, r"parameter algorithms .*\(an item is repeated\)"),
    ({"datasets": ["cifar"]}, r"parameter datasets must be a list of strings \('mnist', 'fashion-mnist'\)"),
    ({"engine_counts": [1, 0]}, r"parameter engine_counts must be a list of integers of at least 1"),
    ({"engine_counts": "[1, 2.5]"}, r"parameter engine_counts must be a list of integers"),
    ({"n_train": [1000, 70000]}, r"parameter n_train must be a list of integers from 1 to 60000"),
    ({"repeats": 0}, r"parameter repeats must be an integer of at least 1"),
    ({"repeats_full_set": -1}, r"parameter repeats_full_set must be an integer of at least 1"),
    ({"n_test": 20000}, r"parameter n_test must be an integer from 1 to 10000, or None"),
    ({"hidden": 0}, r"parameter hidden must be an integer of at least 1, or None"),
    ({"epochs": "many"}, r"parameter epochs must be an integer of at least 1, or None"),
    ({"seed": -1}, r"parameter seed must be an integer from 0 to 2147483647"),
    ({"launcher": "local"}, r"parameter launcher must be one of 'mpi'"),
    ({"resume": "yes please"}, r"parameter resume must be true or false"),
    ({"retries": -1}, r"parameter retries must be an integer of at least 0"),
    ({"engine_counts": [2, 4]}, r"parameter engine_counts must include 1 \(the sequential reference"),
    ({"engine_counts": [1, 2, 200], "n_train": [100, 6000]},
     r"parameter engine_counts must be a list of integers from 1 to the smallest n_train \(100\): each engine trains "
     r"on at least one image; got \[1, 2, 200\] \(200 > the smallest n_train\)"),
]


@pytest.mark.parametrize("values, message", BAD, ids=[next(iter(v)) + str(i) for i, (v, _) in enumerate(BAD)])
def test_every_bad_value_is_refused_naming_the_parameter(values, message):
    with pytest.raises(ValueError, match=message):
        chapter.parameters(values)


def test_parameters_come_from_a_notebook_namespace():
    namespace = {**chapter.SPEC.defaults(), "engine_counts": [1, 2], "figures": object(), "__name__": "x"}
    assert chapter.parameters(namespace).engine_counts == [1, 2]


# --------------------------------------------------------------------------------------- the runs


def test_configurations_in_run_order_with_fewer_repeats_at_the_full_set():
    p = chapter.parameters({"algorithms": ["lda", "mlp"], "datasets": ["mnist"], "engine_counts": [1, 2],
                            "n_train": [1000, 60000], "repeats": 2, "repeats_full_set": 1, "seed": 5})
    configs = chapter.configs(p)
    assert [(c["n_engines"], c["n_train"], c["repeat"], c["algorithm"]) for c in configs] == [
        (1, 1000, 0, "lda"), (1, 1000, 0, "mlp"), (1, 1000, 1, "lda"), (1, 1000, 1, "mlp"),
        (1, 60000, 0, "lda"), (1, 60000, 0, "mlp"),
        (2, 1000, 0, "lda"), (2, 1000, 0, "mlp"), (2, 1000, 1, "lda"), (2, 1000, 1, "mlp"),
        (2, 60000, 0, "lda"), (2, 60000, 0, "mlp")]
    assert {c["seed"] - c["repeat"] for c in configs} == {5}
    assert all(set(chapter.KEY_COLUMNS) <= set(c) for c in configs)


def test_provenance_records_the_chosen_model_and_every_parameter():
    p = chapter.parameters({"hidden": 50, "epochs": 60})
    recorded = runner.recorded(chapter, p)
    assert list(recorded) == [*chapter.SPEC.names, "shrinkage"]
    assert "model" in recorded
    assert (recorded["hidden"], recorded["epochs"], recorded["shrinkage"]) == (50, 60, 0.1)


class FakeCluster:
    def __init__(self, n):
        self.n, self.start_seconds, self.launcher = n, 0.5, "mpi"


@contextlib.contextmanager
def fake_start(n):
    yield FakeCluster(n)


def fake_algorithm(fail_at=()):
    """A stand-in for ``run_algorithm``: accuracy from the configuration; fails at the given call numbers."""
    calls = []

    def run_algorithm(cl, algorithm, source, X_test, y_test, seed=0, hidden=75, epochs=75, trainer="sklearn",
                      dtype="float64"):
        assert trainer == "numpy" and dtype == "float32"  # the chapter's defaults: the fast trainer, in float32
        calls.append(algorithm)
        if len(calls) in fail_at:
            raise RuntimeError("an engine died")
        return {"algorithm": algorithm, "n_engines": cl.n, "seed": seed, "n_train": source[2],
                "fit_seconds_max": 1.0 / cl.n, "read_seconds": 0.1, "distribute_seconds": 0.0, "combine_seconds": 0.0,
                "gather_seconds": 0.0, "gathered_bytes": 1, "eval_seconds": 0.1, "wall_seconds": 2.0,
                "accuracy_pct": 50.0 + len(X_test) / 100}

    return run_algorithm, calls


@pytest.fixture
def small_run(tmp_path, monkeypatch):
    need_mnist()
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(tmp_path))
    return {"algorithms": ["gaussian-nb", "lda"], "datasets": ["mnist"], "engine_counts": [1, 2], "n_train": [100],
            "n_test": 20, "hidden": 10, "epochs": 10}


def run_with(p, train, **kw):
    """``run_chapter`` of the chapter with the real test sets (``load``) and a stand-in trainer."""
    inputs = chapter.load(p)
    inputs["train"] = train
    return runner.run_chapter(chapter, p, inputs=inputs, progress=False, **kw)


def test_run_saves_each_row_and_resumes_after_a_failure(small_run):
    failing, _ = fake_algorithm(fail_at={3})
    with pytest.raises(ExperimentError, match="rerun with resume=True"):
        run_with(chapter.parameters(small_run), failing, start_cluster=fake_start, log=lambda m: None)
    saved, _ = results.read_results(chapter.RESULTS_NAME)
    assert len(saved) == 2  # the two runs before the failure, saved as they finished

    working, calls = fake_algorithm()
    said = []
    p = chapter.parameters({**small_run, "resume": True})
    run = run_with(p, working, start_cluster=fake_start, log=said.append)
    assert calls == ["gaussian-nb", "lda"]  # only the runs on 2 engines were left
    assert any("kept 2 rows" in m for m in said)
    assert run.prov["n_test"] == {"mnist": 20} and run.prov["parameters"]["hidden"] == 10
    res = analysis.read_runs(run, p)
    assert len(res.runs) == 4 and list(res.summary.runs) == [1, 1, 1, 1]
    assert (res.runs.accuracy_pct == 50.2).all() and res.runs.oversubscribed.dtype == bool
    assert res.csv_path == config.results_dir() / "algorithms.csv"
    np.testing.assert_allclose(res.summary.speedup, [1, 2, 1, 2])


def test_run_retries_a_failed_configuration_on_a_fresh_cluster(small_run):
    started = []

    def counting_start(n):
        started.append(n)
        return fake_start(n)

    flaky, calls = fake_algorithm(fail_at={2})
    run = run_with(chapter.parameters({**small_run, "retries": 1}), flaky, start_cluster=counting_start,
                   log=lambda m: None)
    assert len(run.rows) == 4 and len(calls) == 5 and started == [1, 1, 2]


# --------------------------------------------------------------------------------------- the summary


def test_summarize_algorithms_speedup_and_accuracy_change():
    rows = []
    for n, fit, acc in [(1, 8.0, 90.0), (2, 4.0, 89.0), (4, 2.0, 88.0)]:
        for r in range(2):
            rows.append({"dataset": "mnist", "n_train": 6000, "algorithm": "lda", "n_engines": n, "repeat": r,
                         "fit_seconds_max": fit, "distribute_seconds": 0.0, "combine_seconds": 0.0,
                         "wall_seconds": fit + 1, "accuracy_pct": acc})
    out = chapter.summarize(pd.DataFrame(rows))
    assert list(out.n_engines) == [1, 2, 4] and list(out.runs) == [2, 2, 2]
    np.testing.assert_allclose(out.speedup, [1, 2, 4])
    np.testing.assert_allclose(out.speedup_wall, [1, 9 / 5, 9 / 3])
    np.testing.assert_allclose(out.accuracy_change_pp, [0, -1, -2])
    np.testing.assert_allclose(out.impact, [90 / 8, 89 / 4, 88 / 2])


# --------------------------------------------------------------------------------------- the sentences

#: (algorithm, engines, fit, combine, accuracy): training time = fit + combine; wall = training + 1.
MADE_UP = [
    ("mlp", 1, 4.0, 0.0, 80.0), ("mlp", 2, 2.0, 0.0, 78.5),
    ("gaussian-nb", 1, 0.5, 0.5, 60.0), ("gaussian-nb", 2, 0.25, 0.75, 60.0),
    ("lda", 1, 1.0, 3.0, 75.0), ("lda", 2, 0.5, 4.5, 75.0),
]


def made_up(rows=MADE_UP, engine_counts=(1, 2), cores=2):
    runs = pd.DataFrame([{"dataset": "mnist", "n_train": 1000, "algorithm": a, "n_engines": n, "repeat": 0,
                          "fit_seconds_max": fit, "distribute_seconds": 0.0, "combine_seconds": comb,
                          "wall_seconds": fit + comb + 1, "accuracy_pct": acc} for a, n, fit, comb, acc in rows])
    prov = {"machine": {"usable_cores": cores, "cpu_model": "Test CPU"}}
    p = SimpleNamespace(datasets=["mnist"], algorithms=["mlp", "gaussian-nb", "lda"], engine_counts=list(engine_counts))
    return analysis.read_runs(ChapterRun(runs, prov, config.ROOT / "results" / "algorithms.csv"), p)


def test_model_sentence():
    assert page.model_sentence(SimpleNamespace(hidden=75, epochs=60, chosen_by="as given")) == (
        "MLP: **75 hidden units, at most 60 epochs** (as given). LDA and QDA: covariance shrinkage **0.1**; "
        "Naive Bayes: scikit-learn's defaults.")


def test_runs_sentence():
    assert page.runs_sentence(made_up()) == (
        "6 runs in `results/algorithms.csv` (1 per configuration at 1,000 images), 0.4 minutes of runs in all. "
        "This machine has **2 cores** (Test CPU). The MLPs train in **float64** (double precision, as "
        "scikit-learn). The other algorithms fit in float64.")
    assert page.runs_sentence(made_up(engine_counts=[1, 2, 4])).split(" The MLPs")[0].endswith(
        "**2 cores** (Test CPU): with 4 engines, engines outnumber cores and share them, so those runs measure "
        "oversubscription, not parallelism.")
    runs = made_up()
    runs.runs["dtype"] = "float32"
    assert "The MLPs train in **float32** (single precision" in page.runs_sentence(runs)


def test_exact_sentence():
    assert page.exact_sentence(made_up()) == (
        "Test accuracy of the exactly combined models:\n\n"
        "- MNIST, 1,000 images, Gaussian Naive Bayes: 60.00 % on every engine count\n"
        "- MNIST, 1,000 images, LDA: 75.00 % on every engine count")
    changed = [r if r[:2] != ("lda", 2) else ("lda", 2, 0.5, 4.5, 74.9) for r in MADE_UP]
    assert page.exact_sentence(made_up(changed)) == (
        "Test accuracy of the exactly combined models:\n\n"
        "- MNIST, 1,000 images, Gaussian Naive Bayes: 60.00 % on every engine count\n"
        "- **MNIST, 1,000 images, LDA: accuracy varies from 74.90 to 75.00 %** (it should not)")
    assert page.exact_sentence(made_up(MADE_UP[:2])) == "No Naive Bayes, LDA or QDA runs in this selection."


def test_comparison_engines():
    assert analysis.comparison_engines([1, 2, 4, 6], 2) == 2  # the most with a core each
    assert analysis.comparison_engines([1, 2, 4, 6], 8) == 6
    assert analysis.comparison_engines([1, 4, 6], 2) == 4  # else the fewest above 1
    assert analysis.comparison_engines([1], 2) is None


def test_gains_sentence():
    assert page.gains_sentence(made_up()) == (
        "Speedup of the training time and change of accuracy on **2 engines** (one per core):\n\n"
        "- **MNIST, 1,000 images**: MLP (weight averaging) gains most (2.00×). All, fastest first: "
        "MLP (weight averaging) 2.00× (-1.50 pp), Gaussian Naive Bayes 1.00× (+0.00 pp), LDA 0.80× (+0.00 pp).\n\n"
        "Over the data sets and sizes (median), **MLP (weight averaging)** gains most from exemplar parallelism "
        "(2.00×, accuracy -1.50 pp), and LDA least (0.80×, +0.00 pp). The largest loss of accuracy is "
        "MLP (weight averaging)'s on MNIST at 1,000 images and 2 engines (-1.50 pp).")


def test_gains_sentence_warns_of_speedups_beyond_the_engine_count():
    fast = [r if r[:2] != ("mlp", 2) else ("mlp", 2, 1.0, 0.0, 80.0) for r in MADE_UP]
    text = page.gains_sentence(made_up(fast))
    assert "The largest loss" not in text  # no accuracy was lost
    assert text.endswith(
        "\n\n**Read these with care:** 1 of the 3 speedups exceed 1.25 × the engine count (the largest: "
        "MLP (weight averaging), MNIST, 1,000 images: 4.0× on 2). Splitting the work cannot do that much; the "
        "1-engine run was slowed by something other than its work, most likely by other programs running on this "
        "machine at the same time. Rerun the chapter on a quiet machine before drawing conclusions from these "
        "speedups.")


def test_with_one_engine_count_there_is_nothing_to_compare():
    one = made_up([r for r in MADE_UP if r[1] == 1], engine_counts=[1])
    assert page.gains_sentence(one) == "Only one engine count was run: no speedups to compare."
    assert page.summary_sentence(one).count("\n- ") == 0


def test_time_shares_sentence():
    assert page.time_shares_sentence(made_up()) == (
        "For the algorithms combined from statistics, the engines' work is small: at 1,000 images the slowest "
        "1-engine fit takes at most 1.00 s, and gathering plus combining is 50 % (Gaussian Naive Bayes), "
        "75 % (LDA) of the 1-engine training time (median over the data sets). That part runs in the master "
        "(Naive Bayes' sums, LDA's least-squares solve, QDA's ten eigen-decompositions of 784 × 784 matrices) "
        "and does not shrink with more engines (each one sends its own statistics), so by Amdahl's law it caps "
        "their speedup. For MLP (weight averaging), the fit is at least 100.0 % of the 1-engine training time: "
        "that is the part that exemplar parallelism divides among the engines.")


def test_summary_sentence():
    assert page.summary_sentence(made_up(engine_counts=[1, 2, 4])) == "\n".join([
        "- Every algorithm the paper names trains on MPI shards exactly as its MLP does. Naive Bayes, LDA and QDA "
        "combine exactly: the model, and so its accuracy, is the same on any number of engines and equals "
        "scikit-learn's sequential fit; they pay nothing in accuracy for parallelism.",
        "- MLP (weight averaging) on 2 engines: training 2.00× as fast as on one, accuracy -1.50 percentage points "
        "(median over the data sets and sizes).",
        "- Gaussian Naive Bayes on 2 engines: training 1.00× as fast as on one, accuracy +0.00 percentage points "
        "(median over the data sets and sizes).",
        "- LDA on 2 engines: training 0.80× as fast as on one, accuracy +0.00 percentage points "
        "(median over the data sets and sizes).",
        "- The answer to the paper's question on this machine: MLP (weight averaging) gains most in speed "
        "(2.00× on 2 engines). Naive Bayes, LDA and QDA suit parallel execution in accuracy (they lose none) but "
        "gain less in time: their fit is so cheap that the serial gathering and combining bound what parallelism "
        "wins.",
        "- With 4 engines on 2 cores, engines share cores: those columns measure oversubscription, not parallelism.",
    ])


def test_summary_answer_when_an_exact_algorithm_gains_most():
    slow_mlp = [r if r[:2] != ("mlp", 2) else ("mlp", 2, 8.0, 0.0, 78.5) for r in MADE_UP]
    last = page.summary_sentence(made_up(slow_mlp)).splitlines()[-1]
    assert last == (
        "- The answer to the paper's question on this machine: Gaussian Naive Bayes gains most in speed "
        "(1.00× on 2 engines). The exactly combined algorithms keep their accuracy and reach up to 1.00×: they suit "
        "parallel execution better than the network, which loses accuracy.")


def test_fashion_labels_sentence():
    assert page.fashion_labels_sentence() == (
        "Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, "
        "9 Ankle boot.")
    assert page.fashion_preview(["mnist"]) == []


# --------------------------------------------------------------------------------------- tables and figures


def test_answer_table():
    table = page.answer_table(made_up(engine_counts=[1, 2, 4]), "mnist").data
    assert list(table.columns) == [
        ("", "algorithm"), ("", "images"), ("1 engine", "acc. (%)"), ("1 engine", "time (s)"), ("1 engine", "impact"),
        ("2 engines", "speedup"), ("2 engines", "Δ acc. (pp)"), ("2 engines", "impact")]
    assert list(table[("", "algorithm")]) == ["MLP", "Naive Bayes", "LDA"]
    np.testing.assert_allclose(table[("2 engines", "speedup")], [2.0, 1.0, 0.8])
    np.testing.assert_allclose(table[("1 engine", "impact")], [20.0, 60.0, 18.75])
    assert page.answer_table(made_up(), "fashion-mnist").data == "Fashion-MNIST is not among this run's data sets."


def test_answer_table_marks_oversubscribed_engine_counts():
    columns = page.answer_table(made_up(cores=1), "mnist").data.columns
    assert ("2 engines (oversubscribed)", "speedup") in list(columns)


def test_time_shares_table():
    table = page.time_shares_table(made_up()).data
    assert list(table["algorithm"]) == ["MLP (weight averaging)", "MLP (weight averaging)", "Gaussian Naive Bayes",
                                        "Gaussian Naive Bayes", "LDA", "LDA"]
    assert list(table["engines"]) == [1, 2] * 3
    np.testing.assert_allclose(table["combination share (%)"], [0, 0, 50, 75, 75, 90])


def test_figures_draw_every_algorithm():
    res = made_up()
    speedups = page.speedup_figure(res)
    assert {t.name for t in speedups.data} >= {"MLP (weight averaging)", "Gaussian Naive Bayes", "LDA"}
    accuracy = page.accuracy_figure(res)
    assert {t.name for t in accuracy.data} >= {"Gaussian Naive Bayes", "LDA"}
