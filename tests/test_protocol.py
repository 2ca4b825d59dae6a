"""Every run chapter offers the one chapter protocol, and :func:`runner.run_chapter` drives any module that does."""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
import types

import pandas as pd
import pytest

from exemplar.experiments import CHAPTERS, runner
from exemplar.experiments.params import Param, ParamSpec, SHARED, shared

#: The chapters that run experiments (the others read results and show them).
RUN_CHAPTERS = ("02-sequential-sweep", "03-exemplar-parallel", "04-communication", "04b-combining", "05-algorithms")
#: The chapters that read results and show them: their modules hold SPEC and parameters() (and load, to read).
PAGE_CHAPTERS = ("00-paper-vs-report", "01-data", "06-performance", "99-status")


def test_every_chapter_is_a_run_chapter_or_a_page():
    assert sorted(RUN_CHAPTERS + PAGE_CHAPTERS) == sorted(CHAPTERS)


@pytest.mark.parametrize("stem", PAGE_CHAPTERS)
def test_a_page_chapter_runs_nothing(stem):
    module = _module(stem)
    assert hasattr(module, "SPEC") and callable(module.parameters)
    assert not any(hasattr(module, name) for name in ("configs", "run_one", "RESULTS_NAME"))


def _module(stem):
    return importlib.import_module(f"exemplar.experiments.{CHAPTERS[stem]}")


@pytest.mark.parametrize("stem", RUN_CHAPTERS)
def test_every_run_chapter_offers_the_protocol(stem):
    module = _module(stem)
    runner.check_protocol(module)
    p = module.parameters(module.SPEC.defaults())
    configs = module.configs(p)
    assert configs and all(isinstance(c, dict) for c in configs)
    assert all(set(module.KEY_COLUMNS) <= set(c) for c in configs), "every configuration names its key columns"
    keys = [tuple(c[k] for k in module.KEY_COLUMNS) for c in configs]
    assert len(set(keys)) == len(keys), "the key columns tell the configurations apart"
    assert isinstance(module.EXPERIMENT, str) and module.EXPERIMENT
    assert set(runner.recorded(module, p)) >= {"seed"}
    extra = [name for name in vars(module) if name in ("run_configs", "ResultsLog")]
    assert not extra, f"{stem}: the loop is the runner's, not the chapter's"


@pytest.mark.parametrize("stem", RUN_CHAPTERS)
def test_shared_parameters_are_the_shared_declaration(stem):
    """A parameter named as a shared one is the shared one (its default and help may differ), or a grid of
    its values (the sweep's ``epochs``, the algorithms chapter's ``n_train``): the same items and range."""
    for param in _module(stem).SPEC:
        if param.name in SHARED:
            ours = SHARED[param.name]
            if param.kind == ours.kind + "_list":
                assert (param.minimum, param.maximum, param.choices) == (ours.minimum, ours.maximum, ours.choices)
            else:
                assert (param.kind, param.minimum, param.maximum, param.choices, param.optional) == \
                       (ours.kind, ours.minimum, ours.maximum, ours.choices, ours.optional), param.name


def test_a_shared_parameter_changes_its_default_and_help_only():
    assert shared("trainer", default="sklearn").default == "sklearn"
    with pytest.raises(ValueError, match="default and help only"):
        shared("seed", minimum=3)


def test_a_module_without_the_protocol_is_refused_by_name():
    with pytest.raises(TypeError, match=r"lacks .*run_one"):
        runner.check_protocol(types.SimpleNamespace(__name__="half", SPEC=None, RESULTS_NAME="x", KEY_COLUMNS=[],
                                                    EXPERIMENT="x", parameters=len, load=len, configs=len,
                                                    summarize=len))


def _toy_chapter(**hooks):
    m = types.ModuleType("toy_chapter")
    m.SPEC = ParamSpec(shared("repeats", default=2), shared("seed"), shared("resume"), shared("retries"))
    m.RESULTS_NAME, m.KEY_COLUMNS, m.EXPERIMENT = "toy", ["n_engines", "repeat"], "a toy chapter"
    m.parameters = m.SPEC.from_namespace
    m.load = lambda p: runner.Inputs({"offset": 10.0}, inputs="made up")
    m.configs = lambda p: [{"n_engines": n, "repeat": r} for n in (1, 2) for r in range(p.repeats)]
    m.run_one = lambda p, inputs, cl, c: {"accuracy_pct": inputs.offset + c["repeat"], "cluster": cl}
    m.summarize = lambda rows: rows.groupby("n_engines").accuracy_pct.mean().reset_index()
    for name, fn in hooks.items():
        setattr(m, name, fn)
    return m


@contextlib.contextmanager
def _fake_cluster(n):
    yield f"cluster-{n}"


def test_run_chapter_loads_records_loops_and_writes(tmp_path):
    module = _toy_chapter(finish=lambda rows: rows.sort_values(["repeat", "n_engines"]).reset_index(drop=True))
    p = module.parameters({})
    run = runner.run_chapter(module, p, directory=tmp_path, start_cluster=_fake_cluster, progress=False,
                             log=lambda m: None)
    assert isinstance(run, runner.ChapterRun) and run.path == tmp_path / "toy.csv"
    on_disk = pd.read_csv(run.path)
    assert list(on_disk.n_engines) == [1, 2, 1, 2]  # finish() decided the order written
    assert list(on_disk.cluster) == ["cluster-1", "cluster-2", "cluster-1", "cluster-2"]
    assert run.prov["experiment"] == "a toy chapter" and run.prov["inputs"] == "made up"
    assert run.prov["parameters"] == {"repeats": 2, "seed": 0, "resume": False, "retries": 0}
    assert run.prov["run_seconds"] >= 0 and "end" in run.prov["load"]
    assert list(module.summarize(run.rows).accuracy_pct) == [10.5, 10.5]


def test_run_chapter_resumes_and_a_run_group_shares_work(tmp_path):
    calls = []

    def run_group(p, inputs, cl, configs, done):
        calls.append((cl, len(configs), len(done)))
        for c in configs:
            yield {**c, "accuracy_pct": 1.0}

    module = _toy_chapter(run_group=run_group, cluster_size=lambda p, c: None)
    p = module.parameters({})
    runner.run_chapter(module, p, directory=tmp_path, progress=False, log=lambda m: None)
    assert calls == [(None, 4, 0)]
    p = module.parameters({"repeats": 3, "resume": True})  # another provenance: nothing is kept
    run = runner.run_chapter(module, p, directory=tmp_path, progress=False, log=lambda m: None)
    assert calls[-1] == (None, 6, 0) and len(run.rows) == 6


def test_a_resumed_run_counts_the_time_of_the_rows_it_kept(tmp_path):
    module = _toy_chapter()
    p = module.parameters({})
    first = runner.run_chapter(module, p, directory=tmp_path, start_cluster=_fake_cluster, progress=False,
                               log=lambda m: None)
    prov_path = tmp_path / "toy.json"
    prov = json.loads(prov_path.read_text())
    prov["run_seconds"] = 600.0  # as if the first run had taken ten minutes
    prov_path.write_text(json.dumps(prov))
    p = module.parameters({"resume": True})
    again = runner.run_chapter(module, p, directory=tmp_path, start_cluster=_fake_cluster, progress=False,
                               log=lambda m: None)
    assert again.prov["resumed_rows"] == len(first.rows) == 4
    assert 600.0 <= again.prov["run_seconds"] < 660.0  # not the seconds the resume itself took
    assert first.prov["resumed_rows"] == 0
    on_disk = json.loads(prov_path.read_text())  # nothing ran: when, at which commit, under what load: the first's
    assert {k: on_disk[k] for k in runner.RESUME_KEPT} == {k: prov[k] for k in runner.RESUME_KEPT}
    assert set(on_disk["resumed_at"]) == set(runner.RESUME_KEPT)
