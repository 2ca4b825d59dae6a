"""Conclusions that survive a busy machine (issue 13, item 6).

A small sweep chapter runs twice through :func:`exemplar.experiments.runner.run_chapter`, once on the
machine as it is and once beside a CPU hog (busy-loop processes, more than the cores), and the
verdicts judged from its CPU times must be the same: the ranking of its networks by CPU time, the
optimum and every Table I claim. The grid is the paper's (50, 100) × (85, 100) at 1,000 images, chosen
so that its networks differ clearly in cost: at this size 50 hidden units stop early at 85 epochs and
100 hidden units at about 30, so the grid holds two distinct networks (each trained once and shared by
both caps) whose costs differ by about 1.5× in hidden units × epochs (4,250 against 2,900) and by 1.45–2.3×
in CPU time (16 runs, quiet and beside the hog). The test asks what the report needs, that other work cannot
reorder clearly different times, and not the impossible, that noise cannot reorder equal ones (those
the rules count as one network, :func:`exemplar.analysis.sweep.same_model_classes`). (The earlier
grid, (50, 100) × (50, 85), held 50 hidden units × 50 epochs and 100 hidden units × 29 epochs: 2,500 against
2,900 hidden units × epochs, and within 7 % of each other in CPU time on a quiet machine since the sweep
trains each network once. Beside the hog they swapped places and turned a Table I verdict.)
The load average recorded in the provenance, and the sentences that report it, are tested on
made-up records.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import psutil
import pytest

from exemplar import config, paper, results
from exemplar.analysis import sweep as analysis
from exemplar.experiments import runner, sweep
from exemplar.reporting import claims, comparison, status, verdicts

#: A small sweep: fits one after another in the test's process (no engines), under 2 CPU seconds in all.
SMALL = {"hidden_sizes": [50, 100], "epochs": [85, 100], "repeats": 1, "n_train": 1000, "engines": 0}


@pytest.fixture
def cpu_hog():
    """Busy-loop processes, one more than the usable cores (at least 2), killed however the test ends."""
    n = max(2, results.usable_cores() + 1)
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield [psutil.Process(p.pid) for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(timeout=10)


def _run_quick(folder, monkeypatch) -> pd.DataFrame:
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(folder))
    folder.mkdir()
    run = runner.run_chapter(sweep, sweep.parameters(SMALL))
    assert run.path == folder / "sequential_sweep.csv"
    return run.rows


def _verdicts(rows: pd.DataFrame) -> tuple:
    """The optimum and the Table I claims' verdicts, judged from the rows (CPU time).

    The full order of the networks by time is not compared: two different networks whose fits cost
    nearly the same may swap places by noise on any clock; what the report concludes from the times
    (the optimum, the claims' verdicts) must not change.
    """
    table = analysis.summarize(rows)
    assert analysis.time_basis(table) == "cpu"
    best = analysis.best_model(table)
    ours = comparison.Ours(table, pd.DataFrame(), {}, {}, cores=2)
    t1 = comparison.table_i_comparison(ours)
    ran = t1[t1[("accuracy (%)", "ours")].notna()]
    found = [claims.table_i_accuracy_claim(ran), *claims.table_i_flat_claims(ours),
             claims.table_i_time_claim(ran, "", claims.pooled_times(ours, ran)), claims.optimum_claim(ours)]
    return (best.hidden, best.epochs, tuple(best.caps)), [(c.claim, c.verdict) for c in found]


def test_the_sweeps_verdicts_are_the_same_beside_a_cpu_hog(tmp_path, monkeypatch, request):
    if not (config.data_dir() / config.MNIST_TRAIN_CSV).is_file():
        pytest.fail("MNIST is missing: run `make data` (or `exemplar data`) before the tests", pytrace=False)
    quiet = _run_quick(tmp_path / "quiet", monkeypatch)
    hog = request.getfixturevalue("cpu_hog")
    busy = _run_quick(tmp_path / "busy", monkeypatch)
    hog_cpu = sum(p.cpu_times().user + p.cpu_times().system for p in hog)
    assert hog_cpu > 1.0, f"the hog did not run beside the sweep ({hog_cpu:.2f} CPU s)"

    key = ["hidden", "epochs", "repeat"]
    quiet, busy = quiet.sort_values(key, ignore_index=True), busy.sort_values(key, ignore_index=True)
    assert quiet.accuracy_pct.tolist() == busy.accuracy_pct.tolist()      # the same networks
    costs = sorted(quiet.groupby("hidden").train_cpu_seconds.mean())
    assert costs[1] / costs[0] > 1.25, (
        f"the grid's networks no longer differ clearly in CPU time ({costs}): choose a grid whose distinct "
        "networks do, or the test measures noise")
    assert _verdicts(quiet) == _verdicts(busy)
    prov = results.read_results("sequential_sweep", tmp_path / "busy")[1]
    assert len(prov["load"]["start"]) == 3 and len(prov["load"]["end"]) == 3


# ---------------------------------------------------------------------------------------------
# The load average in the provenance, and what the pages say about it
# ---------------------------------------------------------------------------------------------

def _prov(start, end, cores=2, **params):
    return {"parameters": params, "machine": {"usable_cores": cores, "logical_cores": cores},
            "load": {"start": start, "end": end}}


def test_provenance_records_the_load_at_the_start_and_write_results_at_the_end(tmp_path):
    prov = results.provenance({"a": 1})
    assert set(prov["load"]) == {"start"}
    results.write_results("x", [{"a": 1}], prov, directory=tmp_path)
    written = results.read_results("x", tmp_path)[1]
    assert len(written["load"]["start"]) == 3 and len(written["load"]["end"]) == 3
    assert "end" not in prov["load"]                                  # the caller's record is not changed
    results.write_results("y", [{"a": 1}], {"parameters": {}}, directory=tmp_path)
    assert "load" not in results.read_results("y", tmp_path)[1]      # records without a load stay without


def test_load_sentence_word_for_word():
    assert status.load_sentence(_prov([6.5, 5.0, 3.0], [7.25, 6.0, 4.0])) == (
        "**The machine was busier than its cores while these numbers were produced** (load average 6.5 at the "
        "start and 7.2 at the end on 2 usable cores): other work took turns on the cores, so wall times are "
        "inflated. The verdicts use CPU times, which such load barely moves; the wall times are shown beside them.")
    assert status.load_sentence(_prov([0.4, 0.3, 0.2], [3.8, 1.0, 0.5]), own=2) == (
        "The machine was not busier than its cores while these numbers were produced (load average 0.4 at the "
        "start and 3.8 at the end on 2 usable cores, the end counting its own 2 busy processes).")
    assert status.load_sentence({"machine": {"usable_cores": 2}}) == (
        "The load of the machine was not recorded with these results (they predate the record), so whether other "
        "work shared its cores is not known.")


def test_busier_than_cores_counts_the_runs_own_engines_at_the_end_only():
    assert status.busier_than_cores(_prov([2.5, 0, 0], [0.1, 0, 0])) is True     # others before it started
    assert status.busier_than_cores(_prov([0.5, 0, 0], [3.9, 0, 0]), own=2) is False
    assert status.busier_than_cores(_prov([0.5, 0, 0], [4.1, 0, 0]), own=2) is True
    assert status.busier_than_cores(_prov(None, None)) is None


def test_busy_sentence_and_the_status_tables_load_row():
    records = {"exemplar": _prov([0.2, 0, 0], [5.0, 0, 0], engine_counts=[1, 2, 4]),
               "sequential_sweep": _prov([6.0, 0, 0], [6.5, 0, 0], engines=2),
               "old": {"machine": {"usable_cores": 2}}}
    assert status.busy_sentence(records) == (
        "**The machine was busier than its cores while `sequential_sweep` was produced**: its wall times are "
        "inflated; the verdicts use CPU times, which such load barely moves. No more work than cores while "
        "`exemplar` was produced. No load recorded for `old` (results older than the record).")
    table = status.machine_table(records).set_index("")
    assert table.loc["load average, 1 min (start / end)"].tolist() == ["0.20 / 5.00", "6.00 / 6.50", "– / –"]


def test_timing_note_says_which_time_is_judged():
    note = status.timing_note_markdown({"sweep": "cpu", "parallel runs": "wall"},
                                       {"sweep": _prov([0.1, 0, 0], [0.2, 0, 0]), "parallel runs": {}})
    assert note.startswith("Times of the sweep are judged from CPU time (the seconds the fits' own threads "
                           "computed: for parallel runs, the slowest engine's)")
    assert "The parallel runs record no CPU time (results older than that record), so its times are judged " \
           "from wall time" in note
    assert "Sweep: The machine was not busier than its cores" in note
    assert "Parallel runs: The load of the machine was not recorded" in note


def test_paper_optimum_counts_as_reproduced_when_its_cap_trained_the_same_networks():
    """The paper's (75, 75) is among the caps that trained our best networks: reproduced, whatever the noise."""
    t1 = paper.table_i()
    rows = t1.assign(repeat=0, seed=0, n_iter=40, train_cpu_seconds=t1.time, train_seconds=t1.time * 3,
                     accuracy_pct=t1.hidden.map(lambda h: 95.0 if h == 75 else 80.0))
    ours = comparison.Ours(analysis.summarize(rows.drop(columns=["time", "accuracy", "impact"])), pd.DataFrame(), {}, {}, 2)
    claim = claims.optimum_claim(ours)
    assert claim.verdict == verdicts.REPRODUCED and claim.ours.startswith("(75, 50–100)")
    assert "judged from CPU time" in claim.why
