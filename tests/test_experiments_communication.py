"""Chapter 04 by time to the target: its parameters, its plan of runs, its run loop (references first, then every
variant to the target they set), its curves file, and the numbers computed from its rows.

No cluster is started: the run loop is driven with a stand-in trainer, and the numbers with made-up rows.
"""

from __future__ import annotations

import ast
import json
import math
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from exemplar.analysis import communication as analysis
from exemplar.analysis.stages import PLAN
from exemplar.experiments import communication, runner

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04-communication.ipynb"
#: Parameters as papermill's ``-p`` hands them over (strings), with the model given.
QUICK = {"engine_counts": "[1, 2]", "repeats": "1", "n_train": "1000", "n_validation": "500", "hidden": 75,
         "epochs": 75, "variants": '["one-shot", "gradient-allreduce, global batch"]'}


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


def test_parameters_as_strings_are_read_and_completed():
    p = communication.parameters(QUICK)
    assert p.engine_counts == [1, 2] and p.repeats == 1 and p.n_train == 1000 and p.n_validation == 500
    assert p.variants == ["one-shot", "gradient-allreduce, global batch"] and p.scale_inputs == [False, True]
    assert (p.hidden, p.epochs, p.chosen_by) == (75, 75, "as given")
    assert (p.tolerance_pp, p.budget_factor, p.patience_factor, p.switch_epochs) == (0.5, 2.0, 0.5, 5)
    defaults = communication.SPEC.defaults()
    assert defaults["variants"] == communication.VARIANT_NAMES and defaults["n_validation"] == 5000


def test_the_quick_plan_is_a_valid_parameter_set():
    p = communication.parameters({**PLAN["04-communication"][1], "hidden": 75, "epochs": 75})
    assert p.engine_counts == [1, 2] and len(p.variants) == 4


def test_the_model_defaults_to_the_papers_classifier(tmp_path, monkeypatch):
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(tmp_path))
    p = communication.parameters({**QUICK, "hidden": None, "epochs": None})
    assert (p.hidden, p.epochs, p.chosen_by) == (75, 75, "the paper's classifier for Tables II–III")
    p = communication.parameters({**QUICK, "hidden": None, "epochs": None, "model": "sweep-optimum"})
    assert (p.hidden, p.epochs) == (75, 75) and "no sweep results found" in p.chosen_by  # no sweep here


def test_the_site_checks_the_same_parameters_before_starting_a_kernel():
    with pytest.raises(ValueError, match="parameter variants"):
        communication.SPEC.check({"variants": ["ring-allreduce"]})
    assert communication.SPEC.check({"scale_inputs": "[false]"}).scale_inputs == [False]


def test_variants_come_back_in_the_catalogues_order():
    p = communication.parameters({**QUICK, "variants": ["post-local SGD", "one-shot"]})
    assert p.variants == ["one-shot", "post-local SGD"]


BAD = [
    ({"variants": ["one-shot", "bogus"]}, r"parameter variants must be a list of strings \('one-shot'"),
    ({"n_validation": 5}, r"parameter n_validation must be an integer from 10 to 30000; got 5"),
    ({"n_train": 59000, "n_validation": 5000}, r"n_train \+ n_validation must fit in the 60000 training images"),
    ({"budget_factor": 0.5}, r"parameter budget_factor must be a number of at least 1; got 0.5"),
    ({"patience_factor": -1}, r"parameter patience_factor must be a number of at least 0; got -1"),
    ({"switch_epochs": 0}, r"parameter switch_epochs must be an integer of at least 1; got 0"),
    ({"tolerance_pp": "half"}, r"parameter tolerance_pp must be a number of at least 0; got 'half'"),
    ({"engine_counts": [2, 4]}, r"parameter engine_counts must include 1 .*; got \[2, 4\]"),
    ({"scale_inputs": "yes"}, r"parameter scale_inputs must be a list of true and/or false .*; got 'yes'"),
]


@pytest.mark.parametrize("change, message", BAD, ids=[next(iter(c)) + str(i) for i, (c, _) in enumerate(BAD)])
def test_a_bad_parameter_is_refused_by_name(change, message):
    with pytest.raises(ValueError, match=message):
        communication.parameters({**QUICK, **change})


# ---------------------------------------------------------------------------------------------- the plan
def test_configs_put_the_references_first_then_each_engine_count():
    p = communication.parameters({**QUICK, "repeats": 2})
    configs = communication.configs(p)
    refs = [c for c in configs if c["phase"] == "reference"]
    assert configs[:4] == refs and len(refs) == 4  # 2 scalings × 2 repeats, on one engine
    assert refs[0] == {"n_engines": 1, "scale_inputs": False, "repeat": 0, "seed": 0,
                       "variant": analysis.REFERENCE, "phase": "reference"}
    one = [c for c in configs[4:] if c["n_engines"] == 1]
    assert [c["variant"] for c in one] == ["one-shot"] * 4  # on one engine, only the sequential run to the target
    two = [c for c in configs if c["n_engines"] == 2]
    assert len(two) == 2 * 2 * 2 and two[0]["variant"] == "one-shot" and two[1]["variant"] == p.variants[1]
    assert [c["n_engines"] for c in configs] == [1] * 8 + [2] * 8


# ---------------------------------------------------------------------------------------------- the run loop
class FakeCluster:
    start_seconds = 1.5

    def __init__(self, n):
        self.n = n


@contextmanager
def fake_cluster(n):
    yield FakeCluster(n)


def fake_train(calls):
    """A stand-in for ``run_to_target``: validation accuracy 90 + seed on the references (30 steps), and
    reaching the target in 10 × n steps... scaled by the engines (the larger the faster)."""

    def train(cl, source, X_val, y_val, X_test, y_test, variant, *, hidden, seed, scale_inputs, target=None,
              budget_steps, max_epochs, stopping=False, patience_steps=None, checkpoint_steps=1, dtype="float64"):
        assert dtype == "float32"  # the chapter's default, the references included
        calls.append((cl.n, variant.name, scale_inputs, seed, target, budget_steps, patience_steps, checkpoint_steps,
                      stopping))
        reached = target is not None
        curve = {"epoch": [1, 2], "steps": [5, 10], "exchanges": [0, cl.n - 1], "validation_pct": [50.0, 90.0 + seed],
                 "wall_seconds": [0.5, 1.0 / cl.n], "cpu_seconds": [0.4, 0.8], "dedicated_seconds": [0.3, 0.6 / cl.n]}
        row = {"n_engines": cl.n, "strategy": variant.strategy, "variant": variant.name, "hidden": hidden,
               "seed": seed, "scale_inputs": scale_inputs, "accuracy_pct": 89.0 + seed, "validation_pct": 90.0 + seed,
               "steps": 30 if stopping else 10, "n_iter_max": 2, "fit_seconds_max": 1.0 / cl.n,
               "target_pct": target if reached else np.nan, "reached": reached,
               "stopped_by": "target" if reached else "rule", "time_to_target_seconds": 1.0 / cl.n if reached
               else np.nan, "dedicated_time_to_target_seconds": 0.6 / cl.n if reached else np.nan,
               "steps_to_target": 10 if reached else np.nan, "exchanges_to_target": cl.n - 1 if reached else np.nan,
               "epochs_to_target": 2 if reached else np.nan,
               "test_accuracy_at_target_pct": 89.0 + seed if reached else np.nan,
               "step_probe_seconds": 0.06, "collective_seconds": 0.01 * (cl.n - 1), "curve": json.dumps(curve)}
        return SimpleNamespace(row=row)

    return train


def fake_inputs(train):
    return runner.Inputs({"source": ("csv", "train.csv", 1000), "X_val": None, "y_val": None, "X_test": None,
                          "y_test": None, "train": train}, inputs="raw pixels 0-255 and pixels / 255, float64",
                         n_test=10000, trainer="numpy")


def run_chapter(p, directory, train):
    return runner.run_chapter(communication, p, inputs=fake_inputs(train), directory=directory,
                              start_cluster=fake_cluster, progress=False, log=lambda s: None)


def test_the_references_set_the_target_and_budget_of_every_run_after_them(tmp_path):
    p = communication.parameters({**QUICK, "repeats": 2, "scale_inputs": [True], "variants": ["one-shot"]})
    calls = []
    out = run_chapter(p, tmp_path, fake_train(calls))
    refs = [c for c in calls if c[-1]]
    assert [(c[0], c[1], c[3], c[4]) for c in refs] == [(1, "one-shot", 0, None), (1, "one-shot", 1, None)]
    runs = [c for c in calls if not c[-1]]
    # the references' validation: 90 and 91, mean 90.5; target 90.0; budget 2 × 30 steps; patience 0.5 × 30;
    # a checkpoint every half epoch of the references' (30 steps in 2 epochs)
    assert {c[4:8] for c in runs} == {(90.0, 60, 15, 8)} and len(runs) == 4
    assert out.rows.phase.tolist() == ["reference"] * 2 + ["to target"] * 4
    saved = pd.read_csv(out.path)
    assert "curve" not in saved.columns
    assert list(saved.columns[:len(communication.FIRST_COLUMNS)]) == communication.FIRST_COLUMNS
    assert list(saved.columns[-3:]) == communication.LAST_COLUMNS
    curves = pd.read_csv(tmp_path / "communication_curves.csv")
    assert len(curves) == 2 * len(saved) and curves.checkpoint.tolist()[:2] == [1, 2]
    assert list(curves.columns) == (communication.KEY_COLUMNS + ["provenance_id", "checkpoint"]
                                    + analysis.CURVE_FIELDS)
    assert json.loads((tmp_path / "communication_curves.json").read_text())["experiment"] == communication.EXPERIMENT


def test_resume_keeps_the_finished_runs_and_their_curves(tmp_path):
    p = communication.parameters({**QUICK, "scale_inputs": [False]})
    calls = []
    first = run_chapter(p, tmp_path, fake_train(calls))
    curves = pd.read_csv(tmp_path / "communication_curves.csv")
    calls.clear()
    p.resume = True
    again = run_chapter(p, tmp_path, fake_train(calls))
    assert calls == [] and len(again.rows) == len(first.rows)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "communication_curves.csv"), curves)


def test_a_failed_run_keeps_the_rows_finished_before_it(tmp_path):
    from exemplar.experiments.runner import ExperimentError

    p = communication.parameters({**QUICK, "scale_inputs": [False]})
    calls = []
    works = fake_train(calls)

    def train(cl, *args, **kwargs):
        if len(calls) == 2:
            raise RuntimeError("engine 1 (MPI rank 1) died")
        return works(cl, *args, **kwargs)

    with pytest.raises(ExperimentError, match="died"):
        run_chapter(p, tmp_path, train)
    saved = pd.read_csv(tmp_path / "communication.csv")
    assert saved[["n_engines", "phase"]].values.tolist() == [[1, "reference"], [1, "to target"]]
    assert "curve" in saved.columns  # until the chapter finishes, the file keeps the checkpoints for resume


def test_a_run_to_the_target_without_references_is_refused():
    with pytest.raises(ValueError, match="no sequential reference runs on raw pixels"):
        analysis.plan_from(pd.DataFrame({"phase": ["to target"], "scale_inputs": [False]}), False, 0.5, 4, 1)
    p = communication.parameters(QUICK)
    c = communication.configs(p)[-1]
    with pytest.raises(ValueError, match="needs the plan"):
        communication.run_one(p, fake_inputs(fake_train([])), FakeCluster(2), c)


# ---------------------------------------------------------------------------------------------- the numbers
def rows(times: dict, reached: dict | None = None, seeds=(0, 1)) -> pd.DataFrame:
    """Runs to the target: ``times[(n, variant)] = (measured, estimated)`` per repeat; ``reached`` False marks misses."""
    out = []
    for (n, variant), (wall, est) in times.items():
        for r in seeds:
            hit = (reached or {}).get((n, variant), True)
            out.append({"phase": "to target", "scale_inputs": False, "variant": variant, "n_engines": n,
                        "strategy": variant.split(",")[0], "repeat": r, "reached": hit, "target_pct": 87.0,
                        "time_to_target_seconds": wall + 0.1 * r if hit else np.nan,
                        "dedicated_time_to_target_seconds": est + 0.1 * r if hit else np.nan,
                        "steps_to_target": 100.0 * n if hit else np.nan, "exchanges_to_target": 10.0 if hit else np.nan,
                        "epochs_to_target": 3.0, "test_accuracy_at_target_pct": 87.5 if hit else np.nan,
                        "accuracy_pct": 87.5, "validation_pct": 87.2, "step_probe_seconds": 0.002,
                        "collective_seconds": 0.001, "steps": 100.0 * n})
    return pd.DataFrame(out)


def test_the_answer_takes_the_fastest_variant_that_reached_the_target_in_every_repeat():
    runs = rows({(1, "one-shot"): (4.0, 4.0), (2, "one-shot"): (1.0, 1.0), (2, "gradient-allreduce"): (2.0, 2.0),
                 (4, "gradient-allreduce"): (9.0, 1.0), (4, "periodic"): (8.0, 0.5)},
                reached={(2, "one-shot"): False})
    summary = analysis.summarize_to_target(runs)
    one = summary[(summary.n_engines == 2) & (summary.variant == "one-shot")].iloc[0]
    assert (one.runs, one.reached_runs, bool(one.reached_all)) == (2, 0, False)
    answer = analysis.answer_to_target(summary, cores=2).set_index("n_engines")
    assert answer.loc[2, "fastest"] == "gradient-allreduce" and answer.loc[2, "basis"] == "measured"
    assert answer.loc[2, "speedup"] == pytest.approx(4.05 / 2.05)  # one-shot missed: no speedup for it
    assert answer.loc[4, "basis"] == "estimate" and answer.loc[4, "fastest"] == "periodic"
    assert answer.loc[4, "speedup"] == pytest.approx(4.05 / 0.55)
    assert answer.loc[4, "speedup_measured"] == pytest.approx(4.05 / 8.05) and answer.loc[4, "steps_ratio"] == 4.0
    assert answer.loc[2, "variants_reached"] == 1 and answer.loc[2, "variants"] == 2
    table = analysis.speedups(summary, cores=2)
    assert math.isnan(table[(table.n_engines == 2) & (table.variant == "one-shot")].speedup.iloc[0])


def test_the_step_split_and_the_fewest_exchanges():
    summary = analysis.summarize_to_target(rows({(1, "one-shot"): (4.0, 4.0), (2, "gradient-allreduce"): (2.0, 2.0)}))
    split = analysis.step_split(summary).set_index("n_engines")
    assert split.loc[2, "steps_ratio"] == 2.0 and split.loc[2, "compute_ms"] == pytest.approx(2.0)
    assert split.loc[2, "collective_seconds"] == pytest.approx(0.01)
    assert split.loc[2, "collective_share"] == pytest.approx(0.01 / (0.4 + 0.01))
    best = analysis.fewest_exchanges(summary, 2)
    assert best.variant.tolist() == ["gradient-allreduce"] and best.exchanges_to_target_mean.tolist() == [10.0]


def test_the_curves_of_resumed_runs_come_from_the_earlier_file():
    keys = ["n_engines", "variant"]
    runs = pd.DataFrame({"n_engines": [1, 2], "variant": ["a", "b"], "provenance_id": ["x", "x"],
                         "curve": [json.dumps({f: [1, 2] for f in analysis.CURVE_FIELDS}), np.nan]})
    previous = pd.DataFrame({"n_engines": [2, 2, 2], "variant": ["b", "b", "c"], "provenance_id": ["x", "x", "x"],
                             "checkpoint": [1, 2, 1], **{f: [7, 8, 9] for f in analysis.CURVE_FIELDS}})
    got = analysis.curves_frame(runs, keys, previous)
    assert got.variant.tolist() == ["a", "a", "b", "b"] and got.epoch.tolist() == [1, 2, 7, 8]
    assert analysis.curves_frame(runs.iloc[1:], keys, None).empty


def test_runs_on_more_engines_than_cores_are_priced_with_probes_from_runs_with_a_core_per_engine():
    base = {"phase": "to target", "scale_inputs": False, "strategy": "gradient-allreduce", "reached": True,
            "steps": 100, "comm_rounds": 100, "steps_to_target": 50, "exchanges_to_target": 50}
    runs = pd.DataFrame([
        {**base, "n_engines": 1, "variant": "one-shot", "oversubscribed": False, "local_batch": 200,
         "step_probe_seconds": 0.002, "allreduce_probe_seconds": np.nan, "collective_seconds": 0.0},
        {**base, "n_engines": 2, "variant": "g", "oversubscribed": False, "local_batch": 200,
         "step_probe_seconds": 0.0022, "allreduce_probe_seconds": 0.0001, "collective_seconds": 0.0001},
        {**base, "n_engines": 6, "variant": "g", "oversubscribed": True, "local_batch": 200,
         "step_probe_seconds": 0.003, "allreduce_probe_seconds": 0.0007, "collective_seconds": 0.0021},
        {**base, "n_engines": 6, "variant": "h", "oversubscribed": True, "local_batch": 34,
         "step_probe_seconds": 0.0008, "allreduce_probe_seconds": 0.0007, "collective_seconds": 0.0021}])
    for col in ("dedicated_seconds", "dedicated_time_to_target_seconds"):
        runs[col] = 0.0
    got = analysis.sound_estimate(runs).set_index(["n_engines", "variant"])
    six = got.loc[(6, "g")]
    assert six.step_probe_seconds == pytest.approx(0.0021)  # the median of the 1- and 2-engine runs' 200-row steps
    assert six.collective_seconds == pytest.approx(3 * 0.0001)  # ceil(log2 6) × the 2-engine run's probe
    assert six.dedicated_time_to_target_seconds == pytest.approx(50 * 0.0021 + 50 * 0.0003)
    assert six.step_probe_seconds_in_run == 0.003 and six.step_measured_on == "runs with a core per engine"
    held = got.loc[(6, "h")]  # no run with a core per engine took 34-row steps: its own probe, marked so
    assert held.step_probe_seconds == 0.0008 and held.step_measured_on == "this run, cores shared"
    two = got.loc[(2, "g")]
    assert two.step_probe_seconds == 0.0022 and two.step_measured_on == "this run"  # left as measured
    curves = pd.DataFrame({"n_engines": [6], "scale_inputs": [False], "repeat": [0], "variant": ["g"],
                           "provenance_id": ["x"], "steps": [10], "exchanges": [10], "dedicated_seconds": [9.9]})
    runs["repeat"], runs["provenance_id"] = 0, "x"
    priced = analysis.sound_curves(curves, runs, analysis.KEY_COLUMNS)
    assert priced.dedicated_seconds.iloc[0] == pytest.approx(10 * 0.0021 + 10 * 0.0003)
