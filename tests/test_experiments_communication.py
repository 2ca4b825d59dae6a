"""Chapter 04: its parameters (checked before any work), its runs (experiments.communication), its numbers
(analysis.communication); its tables and sentences are tested in test_reporting_communication.py.

No notebook is executed and no cluster is started: the run loop is driven with a stand-in trainer
and cluster, and the sentences are built from a made-up table of runs.
"""

from __future__ import annotations

import ast
import json
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from exemplar.analysis import communication as analysis
from exemplar.experiments import communication, runner

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04-communication.ipynb"
#: The QUICK plan's parameters, as papermill's ``-p`` hands them over (strings), with the model given.
QUICK = {"engine_counts": "[1, 2]", "repeats": "1", "n_train": "1000", "sync_every": "[5]", "hidden": 75,
         "epochs": 75}


def notebook_parameters() -> dict:
    """The names and literal values of the notebook's ``parameters`` cell, in order."""
    nb = json.loads(NOTEBOOK.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1
    tree = ast.parse("".join(cells[0]["source"]))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body}


# ---------------------------------------------------------------------------------------------- parameters
def test_spec_matches_the_notebooks_parameters_cell():
    assert notebook_parameters() == communication.SPEC.defaults()
    assert list(notebook_parameters()) == communication.SPEC.names


def test_quick_parameters_as_strings_are_read_and_completed():
    p = communication.parameters(QUICK)
    assert p.engine_counts == [1, 2] and p.repeats == 1 and p.n_train == 1000 and p.sync_every == [5]
    assert p.scale_inputs == [False, True] and p.strategies == list(communication.SPEC.defaults()["strategies"])
    assert (p.hidden, p.epochs, p.chosen_by) == (75, 75, "as given")
    assert p.tolerance_pp == 0.5 and p.resume is False and p.retries == 0


def test_lists_come_back_sorted():
    p = communication.parameters({**QUICK, "engine_counts": [4, 1, 2], "sync_every": [5, 1],
                                  "scale_inputs": "[true, false]"})
    assert p.engine_counts == [1, 2, 4] and p.sync_every == [1, 5] and p.scale_inputs == [False, True]


def test_the_model_defaults_to_the_papers_classifier(tmp_path, monkeypatch):
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(tmp_path))
    p = communication.parameters({**QUICK, "hidden": None, "epochs": None})
    assert (p.hidden, p.epochs, p.chosen_by) == (75, 75, "the paper's classifier for Tables II–III")
    p = communication.parameters({**QUICK, "hidden": None, "epochs": None, "model": "sweep-optimum"})
    assert (p.hidden, p.epochs) == (75, 75) and "no sweep results found" in p.chosen_by  # no sweep here


BAD = [
    ({"sync_every": 0}, r"parameter sync_every must be a list of integers of at least 1 .*; got 0"),
    ({"sync_every": "0"}, r"parameter sync_every must be a list of integers of at least 1"),
    ({"sync_every": [0, 5]}, r"parameter sync_every must be a list of integers of at least 1"),
    ({"sync_every": [5, 5]}, r"parameter sync_every .*an item is repeated"),
    ({"n_train": "abc"}, r"parameter n_train must be an integer from 1 to 60000; got 'abc'"),
    ({"n_train": 70000}, r"parameter n_train must be an integer from 1 to 60000; got 70000"),
    ({"engine_counts": [0, 1]}, r"parameter engine_counts must be a list of integers of at least 1"),
    ({"engine_counts": "[1, 2000]"}, r"parameter engine_counts must be a list of integers from 1 to n_train \(1000\)"),
    ({"engine_counts": [2, 4]}, r"parameter engine_counts must include 1 .*; got \[2, 4\]"),
    ({"engine_counts": [1]}, r"parameter engine_counts must include 1 .*at least one larger count; got \[1\]"),
    ({"strategies": ["one-shot", "bogus"]}, r"parameter strategies must be a list of strings \('one-shot'"),
    ({"strategies": ["periodic"]}, r"parameter strategies must include 'one-shot'"),
    ({"scale_inputs": []}, r"parameter scale_inputs must be a list of true and/or false"),
    ({"scale_inputs": [0, 1]}, r"parameter scale_inputs must be a list of true and/or false .*; got \[0, 1\]"),
    ({"scale_inputs": True}, r"parameter scale_inputs must be a list of true and/or false"),
    ({"scale_inputs": "yes"}, r"parameter scale_inputs must be a list of true and/or false .*; got 'yes'"),
    ({"scale_inputs": [True, True]}, r"parameter scale_inputs must be a list of true and/or false"),
    ({"repeats": 0}, r"parameter repeats must be an integer of at least 1; got 0"),
    ({"hidden": 0}, r"parameter hidden must be an integer of at least 1, or None; got 0"),
    ({"epochs": 2.5}, r"parameter epochs must be an integer of at least 1, or None; got 2.5"),
    ({"seed": -1}, r"parameter seed must be an integer of at least 0; got -1"),
    ({"tolerance_pp": -0.1}, r"parameter tolerance_pp must be a number of at least 0; got -0.1"),
    ({"tolerance_pp": "half"}, r"parameter tolerance_pp must be a number of at least 0; got 'half'"),
    ({"resume": "maybe"}, r"parameter resume must be true or false; got 'maybe'"),
    ({"retries": -1}, r"parameter retries must be an integer of at least 0; got -1"),
]


@pytest.mark.parametrize("change, message", BAD, ids=[f"{k}={v!r}" for (k, v), _ in
                                                      ((next(iter(c.items())), m) for c, m in BAD)])
def test_a_bad_parameter_is_refused_by_name(change, message):
    with pytest.raises(ValueError, match=message):
        communication.parameters({**QUICK, **change})


def test_the_site_checks_the_same_parameters_before_starting_a_kernel():
    with pytest.raises(ValueError, match="parameter sync_every"):
        communication.SPEC.check({"sync_every": 0})
    assert communication.SPEC.check({"scale_inputs": "[false]"}).scale_inputs == [False]


# ---------------------------------------------------------------------------------------------- the plan
def test_configs_run_each_variant_per_engine_count_scaling_and_repeat_in_order():
    p = communication.parameters({**QUICK, "repeats": 2, "strategies": ["one-shot", "periodic"], "sync_every": [1, 5]})
    assert analysis.variants(p.strategies, p.sync_every) == [("one-shot", None), ("periodic", 1), ("periodic", 5)]
    configs = communication.configs(p)
    assert len(configs) == 2 * 2 * 2 * 3
    assert configs[0] == {"n_engines": 1, "scale_inputs": False, "repeat": 0, "seed": 0, "strategy": "one-shot",
                          "sync_every": None, "variant": "one-shot"}
    assert configs[2]["variant"] == "periodic, every 5 epochs" and configs[4]["variant"] == "periodic, every 1 epoch"
    assert [c["n_engines"] for c in configs] == [1] * 12 + [2] * 12
    assert configs[3]["seed"] == 1 and configs[6]["scale_inputs"] is True


# ---------------------------------------------------------------------------------------------- the run loop
class FakeCluster:
    start_seconds = 1.5

    def __init__(self, n):
        self.n = n


def fake_train(calls):
    """A stand-in for ``run_exemplar`` that records its calls and returns a result shaped like its own."""

    def train(cl, source, X_test, y_test, hidden, epochs, seed, strategy, sync_every, scale_inputs, trainer):
        assert trainer == "numpy"  # the chapter's default: the fast trainer
        calls.append((cl.n, scale_inputs, seed, strategy, sync_every))
        row = {"n_engines": cl.n, "strategy": strategy, "fit_seconds_max": 1.0, "distribute_seconds": 0.1,
               "combine_seconds": 0.1, "wall_seconds": 2.0, "accuracy_pct": 90.0 + seed, "scale_inputs": scale_inputs,
               "sync_every": sync_every if strategy == "periodic" else None, "comm_rounds": 1, "comm_bytes": 8,
               "comm_seconds": 0.01, "hidden": hidden, "epochs": epochs, "n_train": source[2],
               "replicas_identical": True if strategy in ("periodic", "gradient-allreduce") else None,
               "dtype": "float64"}
        return SimpleNamespace(as_row=lambda: dict(row), n_iter=[10, 12])

    return train


@contextmanager
def fake_cluster(n):
    yield FakeCluster(n)


def fake_inputs(train):
    """What ``communication.load`` returns, with a stand-in trainer and no data (the provenance as the real one's)."""
    return runner.Inputs({"source": ("csv", "train.csv", 1000), "X_test": None, "y_test": None, "train": train},
                         inputs="raw pixels 0-255 and pixels / 255, float64", n_test=10000, trainer="numpy")


def run_chapter(p, directory, train):
    return runner.run_chapter(communication, p, inputs=fake_inputs(train), directory=directory,
                              start_cluster=fake_cluster, progress=False, log=lambda s: None)


def test_run_saves_every_row_in_the_results_order_and_resumes(tmp_path):
    p = communication.parameters({**QUICK, "strategies": ["one-shot", "periodic"], "scale_inputs": [True]})
    calls = []
    out = run_chapter(p, tmp_path, fake_train(calls))
    assert calls == [(1, True, 0, "one-shot", 1), (1, True, 0, "periodic", 5),
                     (2, True, 0, "one-shot", 1), (2, True, 0, "periodic", 5)]
    assert out.path == tmp_path / "communication.csv"
    saved = pd.read_csv(out.path)
    assert list(saved.columns) == (communication.FIRST_COLUMNS + ["hidden", "epochs", "n_train", "replicas_identical",
                                                                  "dtype"] + communication.LAST_COLUMNS)
    assert saved.variant.tolist() == ["one-shot", "periodic, every 5 epochs"] * 2
    cores = out.prov["machine"]["usable_cores"]
    assert saved.oversubscribed.tolist() == [n > cores for n in saved.n_engines]
    assert str(out.rows.sync_every.dtype) == "Int64" and out.prov["run_seconds"] >= 0
    assert out.prov["parameters"]["engine_counts"] == [1, 2] and "chosen_by" not in out.prov["parameters"]
    assert list(out.prov["parameters"]) == communication.SPEC.names
    assert (out.prov["experiment"], out.prov["n_test"], out.prov["trainer"]) == (
        "communication strategies for exemplar parallelism", 10000, "numpy")

    calls.clear()  # a rerun with resume=True finds every configuration done
    p.resume = True
    again = run_chapter(p, tmp_path, fake_train(calls))
    assert calls == [] and len(again.rows) == 4
    assert again.rows.accuracy_pct.tolist() == saved.accuracy_pct.tolist()


# ---------------------------------------------------------------------------------------------- made-up runs
#: (scale_inputs, n_engines, variant): (mean accuracy %, wall s, epochs run)
MADE_UP = {
    (False, 1, "one-shot"): (90.0, 10.0, 30), (False, 1, "ensemble"): (90.0, 11.0, 30),
    (False, 1, "periodic, every 5 epochs"): (90.0, 10.5, 30), (False, 1, "gradient-allreduce"): (90.0, 12.0, 30),
    (False, 2, "one-shot"): (88.0, 5.0, 20), (False, 2, "ensemble"): (89.0, 5.5, 20),
    (False, 2, "periodic, every 5 epochs"): (89.75, 6.0, 40), (False, 2, "gradient-allreduce"): (89.6, 8.0, 36),
    (True, 1, "one-shot"): (95.0, 20.0, 50), (True, 1, "ensemble"): (95.0, 22.0, 50),
    (True, 1, "periodic, every 5 epochs"): (95.0, 20.0, 50), (True, 1, "gradient-allreduce"): (95.0, 20.0, 50),
    (True, 2, "one-shot"): (93.0, 10.0, 50), (True, 2, "ensemble"): (93.5, 10.0, 50),
    (True, 2, "periodic, every 5 epochs"): (94.0, 25.0, 50), (True, 2, "gradient-allreduce"): (94.2, 30.0, 50),
}


def made_up_runs(table=MADE_UP) -> pd.DataFrame:
    rows = []
    for (scale, n, variant), (acc, wall, epochs) in table.items():
        strategy = variant.split(",")[0]
        rows.append({"scale_inputs": scale, "n_engines": n, "strategy": strategy, "variant": variant,
                     "sync_every": 5 if strategy == "periodic" else None, "repeat": 0, "accuracy_pct": acc,
                     "wall_seconds": wall, "fit_seconds_max": wall / 2, "distribute_seconds": 0.0,
                     "combine_seconds": 0.0, "comm_rounds": 1, "comm_bytes": 2_000_000, "comm_seconds": 0.5,
                     "n_iter_max": epochs})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- tables
def test_a_failed_run_keeps_the_rows_finished_before_it(tmp_path):
    from exemplar.experiments.runner import ExperimentError

    p = communication.parameters({**QUICK, "strategies": ["one-shot"]})
    calls = []
    works = fake_train(calls)

    def train(cl, *args, **kwargs):
        if len(calls) == 2:
            raise RuntimeError("engine 1 (MPI rank 1) died")
        return works(cl, *args, **kwargs)

    with pytest.raises(ExperimentError, match="died"):
        run_chapter(p, tmp_path, train)
    saved = pd.read_csv(tmp_path / "communication.csv")
    assert saved[["n_engines", "scale_inputs"]].values.tolist() == [[1, False], [1, True]]


# ---------------------------------------------------------------------------------------------- the estimate
def estimated_runs() -> pd.DataFrame:
    """MADE_UP plus 4 engines, with dedicated_seconds: at 4 engines (above 2 cores) only the estimate is fast."""
    four = {(False, 4, "one-shot"): (87.0, 9.0, 20), (False, 4, "ensemble"): (88.0, 9.5, 20),
            (False, 4, "periodic, every 5 epochs"): (89.6, 12.0, 40), (False, 4, "gradient-allreduce"): (89.0, 16.0, 36),
            (True, 4, "one-shot"): (92.0, 12.0, 50), (True, 4, "ensemble"): (93.0, 12.0, 50),
            (True, 4, "periodic, every 5 epochs"): (93.5, 30.0, 50), (True, 4, "gradient-allreduce"): (94.1, 36.0, 50)}
    runs = made_up_runs({**MADE_UP, **four})
    # a core each: the training takes its wall time on up to 2 engines, a quarter of the 1-engine's on 4
    runs["dedicated_seconds"] = np.where(runs.n_engines <= 2, runs.fit_seconds_max, runs.fit_seconds_max / 4)
    return runs


def test_engine_counts_above_the_cores_are_answered_from_the_estimate():
    summary = communication.summarize(estimated_runs())
    raw4 = summary[(summary.n_engines == 4) & ~summary.scale_inputs].set_index("variant")
    # estimated wall: wall - training + estimate = 12 - 6 + 1.5
    assert raw4.loc["periodic, every 5 epochs", "estimated_wall_mean"] == pytest.approx(7.5)
    answer = analysis.speed_at_same_accuracy(summary, 0.5, cores=2).set_index(["scale_inputs", "n_engines"])
    assert answer.basis.tolist() == ["measured", "estimate", "measured", "estimate"]
    row = answer.loc[(False, 4)]
    assert row.fastest == "periodic, every 5 epochs" and row.faster
    assert row.speedup == row.speedup_estimate == pytest.approx(10.0 / 7.5)  # the sequential run's estimate is its wall
    assert row.speedup_measured == pytest.approx(10.0 / 12.0)
    measured_only = analysis.speed_at_same_accuracy(summary, 0.5).set_index(["scale_inputs", "n_engines"])
    assert set(measured_only.basis) == {"measured"} and not measured_only.loc[(False, 4)].faster
