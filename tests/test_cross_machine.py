"""The same conclusions on every machine (issue 25): made-up results of two machines whose sweeps disagree.

No cluster and no notebook: each "machine" is a results folder holding a made-up ``sequential_sweep.csv``
whose optimum by impact factor differs from the other's.
"""

from __future__ import annotations

import pandas as pd
import pytest

from exemplar import paper, results
from exemplar.analysis import sweep
from exemplar.experiments import algorithms, combining, communication, exemplar_parallel

#: The chapters after the sweep: each trains the classifier its ``parameters()`` resolves.
AFTER_THE_SWEEP = [exemplar_parallel, communication, combining, algorithms]


def _sweep_rows(fast_hidden: int) -> pd.DataFrame:
    """A made-up sweep of hidden sizes 50, 65, 75 × caps 50, 75 (2 repeats): every network reaches 90 %, and the
    one with ``fast_hidden`` units trains in 1 s of CPU time, the others in 2 s: that one is the optimum."""
    rows = []
    for hidden in (50, 65, 75):
        for epochs in (50, 75):
            for r in range(2):
                t = 1.0 if hidden == fast_hidden else 2.0
                rows.append({"hidden": hidden, "epochs": epochs, "repeat": r, "seed": r, "train_seconds": t + 0.1,
                             "train_cpu_seconds": t, "accuracy_pct": 90.0, "n_iter": 40, "fit_epochs": 75})
    return pd.DataFrame(rows, columns=sweep.COLUMNS)


def _machine(tmp_path, monkeypatch, name: str, fast_hidden: int):
    """A results folder whose sweep's optimum has ``fast_hidden`` hidden units, made the current one."""
    folder = tmp_path / name
    folder.mkdir()
    results.write_results(sweep.RESULTS_NAME, _sweep_rows(fast_hidden), {"machine": {"cpu_model": name}}, folder)
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(folder))


def _classifiers(model: str | None = None) -> list[tuple[int, int]]:
    """(hidden, epochs) each chapter after the sweep trains with its defaults (and ``model``, if given)."""
    given = {} if model is None else {"model": model}
    return [(p.hidden, p.epochs) for p in
            (chapter.parameters({**chapter.SPEC.defaults(), **given}) for chapter in AFTER_THE_SWEEP)]


@pytest.mark.parametrize("chapter", AFTER_THE_SWEEP, ids=lambda c: c.__name__.rsplit(".", 1)[-1])
def test_every_chapter_after_the_sweep_takes_the_model_parameter(chapter):
    assert chapter.SPEC["model"].default == "paper" and chapter.SPEC["model"].choices == sweep.MODELS
    assert chapter.SPEC.names.index("model") == chapter.SPEC.names.index("epochs") + 1


def test_chapters_after_the_sweep_train_the_same_classifier_whatever_the_sweeps_optimum(tmp_path, monkeypatch):
    """Two machines, two sweep optima (50 and 65 hidden units): by default every chapter after the sweep trains the
    paper's (75, 75) on both; only ``model="sweep-optimum"`` follows each machine's sweep."""
    trained, followed = {}, {}
    for name, fast in (("machine-a", 50), ("machine-b", 65)):
        _machine(tmp_path, monkeypatch, name, fast)
        assert sweep.best_model(sweep.summarize(results.read_results(sweep.RESULTS_NAME)[0])).hidden == fast
        trained[name] = _classifiers()
        followed[name] = _classifiers("sweep-optimum")
    assert trained["machine-a"] == trained["machine-b"] == [paper.OPTIMUM] * len(AFTER_THE_SWEEP)
    assert followed["machine-a"] == [(50, 50)] * len(AFTER_THE_SWEEP)
    assert followed["machine-b"] == [(65, 50)] * len(AFTER_THE_SWEEP)
