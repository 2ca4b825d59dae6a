"""Chapter 04b: parameters and runs (experiments.combining), numbers (analysis.combining), tables and sentences
(reporting.combining); no cluster."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from exemplar.analysis import combining as analysis
from exemplar.experiments import combining as chapter
from exemplar.experiments import runner
from exemplar.reporting import combining as page

COLUMNS = ("accuracy_pct", "exchanges", "extra_rounds", "extra_bytes", "seconds", "comm_seconds")
EXCHANGES = {"mean": 1, "matched": 1, "distilled": 2, "ensemble": 1}


def _row(n, start, acc, repeat=0, scale=False):
    row = {"dataset": "mnist", "n_engines": n, "scale_inputs": scale, "start": start, "repeat": repeat,
           "seed": repeat, "hidden": 85, "epochs": 50, "n_train": 6000, "fit_seconds_max": 2.0, "n_iter_max": 30,
           "distribute_seconds": 0.1, "wall_seconds": 4.0}
    for m, a in acc.items():
        ex = EXCHANGES[m] if n > 1 else 1
        row.update({f"{m}__accuracy_pct": a, f"{m}__exchanges": ex, f"{m}__extra_rounds": ex - 1,
                    f"{m}__extra_bytes": 1000 * (ex - 1), f"{m}__seconds": 0.5 * ex, f"{m}__comm_seconds": 0.01})
    return row


@pytest.fixture
def runs():
    """Made-up runs: sequential 90 %; at 2 engines the mean loses 2 pp (identical) or 30 pp (different starts)."""
    one = dict.fromkeys(EXCHANGES, 90.0)
    return pd.DataFrame([
        _row(1, "identical", one),
        _row(2, "identical", {"mean": 88.0, "matched": 88.0, "distilled": 89.8, "ensemble": 89.0}),
        _row(2, "different", {"mean": 60.0, "matched": 80.0, "distilled": 89.0, "ensemble": 91.0}),
    ])


# ---------------------------------------------------------------------------------------------- parameters
def test_defaults_pass_and_come_back_ordered():
    p = chapter.parameters({"engine_counts": "[6, 1, 2]", "starts": ["different", "identical"],
                            "methods": ["ensemble", "mean"], "scale_inputs": [True, False], "hidden": 10,
                            "epochs": 5})
    assert p.engine_counts == [1, 2, 6]
    assert p.starts == ["identical", "different"]
    assert p.methods == ["mean", "ensemble"]
    assert p.scale_inputs == [False, True]
    assert (p.hidden, p.epochs, p.chosen_by) == (10, 5, "as given")
    assert chapter.SPEC.names[:5] == ["engine_counts", "datasets", "scale_inputs", "starts", "methods"]


@pytest.mark.parametrize("given, message", [
    ({"engine_counts": [2, 4]}, "engine_counts must include 1"),
    ({"engine_counts": [1]}, "engine_counts must include 1"),
    ({"engine_counts": [1, 2], "n_train": 1}, r"engine_counts must be a list of integers from 1 to n_train \(1\).*got \[1, 2\] \(2 > n_train\)"),
    ({"methods": ["matched", "ensemble"]}, "methods must include 'mean'"),
    ({"methods": ["median"]}, "parameter methods must be"),
    ({"starts": ["random"]}, "parameter starts must be"),
    ({"datasets": ["cifar"]}, "parameter datasets must be"),
    ({"repeats": 0}, "parameter repeats must be an integer of at least 1"),
    ({"scale_inputs": "[true, true]"}, "an item is repeated"),
])
def test_bad_values_are_refused_naming_the_parameter(given, message):
    with pytest.raises(ValueError, match=message):
        chapter.parameters({"hidden": 10, "epochs": 5, **given})


def test_configs_run_one_start_on_one_engine():
    p = chapter.parameters({"engine_counts": [1, 2], "datasets": ["mnist"], "repeats": 2, "hidden": 10, "epochs": 5})
    c = chapter.configs(p)
    assert len(c) == 2 * 2 + 2 * 2 * 2  # 1 engine: scalings x repeats; 2 engines: x starts too
    assert {x["start"] for x in c if x["n_engines"] == 1} == {"identical"}
    assert [x["seed"] for x in c[:2]] == [0, 1]
    assert page.plan_sentence(p, len(c)).startswith("Classifier: **10 hidden units, at most 5 epochs** (as given), on the "
                                               "first 6,000 training images. 12 trainings")


# ---------------------------------------------------------------------------------------------- summary
def test_summary_recovers_one_shots_loss(runs):
    s = chapter.summarize(runs).set_index(["start", "n_engines", "method"])
    assert list(analysis.long_form(runs).method.unique()) == ["mean", "matched", "distilled", "ensemble"]
    assert s.loc[("identical", 2, "distilled"), "recovered_pct"] == pytest.approx(90.0)
    assert s.loc[("different", 2, "matched"), "recovered_pct"] == pytest.approx(100 * 20 / 30)
    assert s.loc[("identical", 2, "distilled"), "gap_pp"] == pytest.approx(-0.2)
    assert np.isnan(s.loc[("identical", 1, "mean"), "recovered_pct"])  # nothing to recover
    assert s.loc[("identical", 2, "distilled"), "extra_bytes"] == 1000


def test_answer_paragraph_for_a_made_up_table(runs):
    summary = chapter.summarize(runs)
    assert page.answer_paragraph(summary) == (
        "**The answer, as measured in this chapter.** At 2 engines, with at most 2 exchanges of models after the "
        "data are distributed, one network came within 0.5 pp of the sequential network's accuracy in 1 of 1 "
        "settings (MNIST, raw pixels). MNIST, raw pixels: the plain mean ends 2.00 pp below the sequential 90.00 %; "
        "the best network, *distilled* (identical start, 2 exchanges), ends 0.20 pp below it, 90 % of the loss "
        "recovered. " + page.premise_sentence(summary))


def test_premise_sentence_for_a_made_up_table(runs):
    assert page.premise_sentence(chapter.summarize(runs)) == (
        "The paper's premise, tested at 2 engines: with a different start per engine, the plain mean loses a "
        "further 28.00 pp against identical starts, so the plain mean needs identical starts; matching the "
        "hidden units wins back 20.00 pp of it, while the ensemble of differently started networks scores +2.00 pp "
        "against the ensemble of identically started ones.")
    identical_only = chapter.summarize(runs[runs.start == "identical"])
    assert page.premise_sentence(identical_only) == ("Only identical starts were run, so the paper's premise "
                                                        "was not tested.")


def test_reach_sentence_for_a_made_up_table(runs):
    summary = chapter.summarize(runs)
    assert page.reach_sentence(summary) == (
        "How far each method got at 2 engines with identical starts (accuracy minus the sequential network's, over "
        "the data sets and scalings run): *mean* -2.00 pp; *matched* -2.00 pp; *distilled* -0.20 pp; "
        "*ensemble* -1.00 pp.")
    assert page.reach_sentence(summary, "different").startswith("How far each method got at 2 engines with "
                                                                   "different starts")


def test_goal_not_reached_is_said(runs):
    runs = runs.copy()
    runs.loc[1, "distilled__accuracy_pct"] = 89.0
    runs.loc[2, "distilled__accuracy_pct"] = 88.5
    text = page.answer_paragraph(chapter.summarize(runs))
    assert "no method brought one network within 0.5 pp of the sequential network's accuracy." in text
    assert "the best network, *distilled* (identical start, 2 exchanges), ends 1.00 pp below it, 50 % of" in text


def test_tables_and_figure(runs):
    summary = chapter.summarize(runs)
    acc = page.accuracy_table(summary)
    assert list(acc.columns) == ["data", "inputs", "start", "method", "2 engines"]
    assert acc.iloc[0].tolist() == ["MNIST", "raw pixels (sequential 90.00 %)", "identical", "mean", "88.00 (0 %)"]
    goal = page.goal_table(summary)
    assert goal.loc[0, "within 0.5 pp?"] == "yes" and goal.loc[0, "best network"] == "distilled (identical start)"
    cost = page.cost_table(summary).set_index("method")
    assert cost.loc["distilled", "extra MB per engine"] == pytest.approx(0.001)
    assert cost.loc["distilled", "share of the slowest fit (%)"] == pytest.approx(50.0)
    premise = page.premise_table(summary)
    assert premise.loc[0, "best network, different start"] == "distilled"
    lit = page.literature_table(summary).set_index("method")
    assert lit.loc["distilled", "what we measured"] == ("+1.80 pp over the mean, identical starts; +29.00 pp over "
                                                        "the mean, different starts (at 2 engines, averaged over data "
                                                        "sets and scalings)")
    assert lit.loc["Fisher", "what we measured"] == "not run"
    comm = pd.DataFrame({"n_engines": [2, 2, 2, 2], "scale_inputs": [False] * 4, "phase": ["to target"] * 4,
                         "reached": [True, True, True, False], "exchanges_to_target": [1, 50, 40, np.nan],
                         "test_accuracy_at_target_pct": [88.0, 90.0, 89.0, np.nan],
                         "strategy": ["one-shot", "periodic", "periodic", "periodic"],
                         "variant": ["one-shot"] + ["periodic, every 1 epoch"] * 3})
    fig = page.exchanges_figure(summary, comm)
    periodic = [t for t in fig.data if t.name == "communication chapter, to the target"]
    assert list(periodic[0].x) == [45.0] and list(periodic[0].y) == [89.5]
    assert len(page.exchanges_figure(summary, None).data) == 1


def test_summary_bullets(runs):
    text = page.summary_bullets(chapter.summarize(runs), 90.0, 2)
    assert text.splitlines()[:2] == [
        "- Goal (one network within 0.5 pp of sequential at 2 engines, at most 2 exchanges): reached in 1 of 1 "
        "settings.",
        "- MNIST, raw pixels: mean 88.00 %, best *distilled* 89.80 %, sequential 90.00 %."]
    assert text.endswith("- The trainings took 1.5 minutes on 2 cores.")


# ---------------------------------------------------------------------------------------------- the run
class _Fake:
    def __init__(self, n):
        self.n, self.start_seconds = n, 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_run_saves_one_row_per_configuration(tmp_path):
    p = chapter.parameters({"engine_counts": [1, 2], "datasets": ["mnist"], "scale_inputs": [False],
                            "methods": ["mean", "ensemble"], "repeats": 1, "hidden": 10, "epochs": 5})
    calls = []

    def combine(cl, source, X_test, y_test, **kw):
        calls.append(kw)
        methods = [{"method": m, "accuracy_pct": 90.0 - cl.n, "exchanges": 1, "extra_rounds": 0, "extra_bytes": 0,
                    "seconds": 0.1, "comm_seconds": 0.0} for m in kw["methods"]]
        return types.SimpleNamespace(hidden=kw["hidden"], epochs=kw["epochs"], n_train=100, fit_seconds_max=1.0,
                                     n_iter=[5], distribute_seconds=0.0, methods=methods)

    inputs = runner.Inputs({"tests": {"mnist": (None, None)}, "combine": combine},
                           inputs="raw pixels 0-255 and pixels / 255, float64", n_test={"mnist": 10000})
    res = runner.run_chapter(chapter, p, inputs=inputs, directory=tmp_path, start_cluster=_Fake, progress=False,
                             log=lambda m: None)
    assert len(res.rows) == 3 and (tmp_path / "combining.csv").is_file()
    assert list(res.prov["parameters"]) == chapter.SPEC.names + ["settings"]
    assert (res.prov["experiment"], res.prov["n_test"]) == ("combining networks trained apart, better than a mean",
                                                           {"mnist": 10000})
    assert [c["same_start"] for c in calls] == [True, True, False]
    assert chapter.summarize(res.rows).query("n_engines == 2").gap_pp.tolist() == [-1.0, -1.0, -1.0, -1.0]
    assert "3 trainings in **" in page.run_sentence(res)
