"""The chaos soak (issue 24, part 1): its bookkeeping, its summary, and one real faulted run of chapter 03.

The full soak (at least 100 faulted runs of chapters 03 and 04) is ``make bench`` (``exemplar bench
chaos``); here one run at the smallest size is faulted (an engine ``SIGKILL``ed mid-run) and resumed,
and the soak's own verdicts on it are held to the goal: a clean error naming the engine, nothing
left, no row lost or duplicated, the resumed rows equal to a fault-free run's.
"""

from __future__ import annotations

import random

import pandas as pd
import pytest

from exemplar.bench import chaos
from exemplar.parallel.cluster import have_mpiexec
from exemplar.reporting import chaos as chaos_page

KEYS = ["strategy", "n_engines", "repeat"]


def _rows(*triples):
    return pd.DataFrame([{"strategy": s, "n_engines": n, "repeat": 0, "accuracy_pct": a} for s, n, a in triples])


def test_compare_counts_rows_lost_and_duplicated_and_checks_accuracies():
    ref = _rows(("seq", 1, 80.0), ("one-shot", 1, 80.0), ("one-shot", 2, 78.5))
    assert chaos.compare("03-exemplar-parallel", ref.copy(), ref) == {
        "rows_lost": 0, "rows_duplicated": 0, "accuracy_equal": True, "accuracy_unequal": ""}
    partial = pd.concat([ref.iloc[:2], ref.iloc[:1]])
    assert {k: v for k, v in chaos.compare("03-exemplar-parallel", partial, ref).items() if k != "accuracy_unequal"} \
        == {"rows_lost": 1, "rows_duplicated": 1, "accuracy_equal": False}
    other = _rows(("seq", 1, 80.0), ("one-shot", 1, 80.0), ("one-shot", 2, 78.4))
    compared = chaos.compare("03-exemplar-parallel", other, ref)
    assert compared["accuracy_equal"] is False
    assert compared["accuracy_unequal"] == "{'strategy': 'one-shot', 'n_engines': 2, 'repeat': 0}: 78.5 vs 78.4"
    assert chaos.compare("03-exemplar-parallel", None, ref)["rows_lost"] == 3


def test_error_line_is_the_last_error_s_first_line():
    stderr = "progress 1/3\nerror: 03-exemplar-parallel failed after 9 s: rank 1 (engine 1) died\nThe partly...\n"
    assert chaos.error_line(stderr) == "error: 03-exemplar-parallel failed after 9 s: rank 1 (engine 1) died"
    assert chaos.error_line("\ninterrupted\n") == "interrupted"
    assert chaos.error_line("") == ""


def test_an_error_names_what_died():
    assert chaos.names_member("engine", "SIGKILL", "error: rank 1 (engine 3) failed")
    assert chaos.names_member("controller", "SIGTERM", "the cluster's controller (ipcontroller, pid 9) is gone")
    assert not chaos.names_member("controller", "SIGTERM", "error: something went wrong")
    assert chaos.names_member("papermill", "SIGTERM", "terminated (SIGTERM); rerun the same command to continue")


def test_the_command_resumes_and_overrides_the_small_size(tmp_path):
    cmd = chaos.command("04-communication", tmp_path, resume=True, extra={"n_train": "500"})
    pairs = dict(zip(cmd[cmd.index("-p") + 1::3], cmd[cmd.index("-p") + 2::3]))
    assert pairs["resume"] == "true" and pairs["n_train"] == "500"
    assert pairs["variants"] == '["one-shot", "gradient-allreduce, global batch"]'
    assert cmd[cmd.index("--output-dir") + 1] == str(tmp_path / "nb")


def _soak_frame():
    base = {"stem": "03-exemplar-parallel", "processes_left": 0, "resume_left": 0, "rows_lost": 0,
            "rows_duplicated": 0, "accuracy_equal": True, "error_seconds": None, "error_names_member": None}
    return pd.DataFrame([
        {**base, "target": "engine", "signal": "SIGKILL", "outcome": "error", "error_seconds": 4.0,
         "error_names_member": True},
        {**base, "target": "engine", "signal": "SIGKILL", "outcome": "error", "error_seconds": 6.0,
         "error_names_member": False},
        {**base, "target": "kernel", "signal": "SIGSTOP", "outcome": "completed"},
        {**base, "target": "papermill", "signal": "SIGKILL", "outcome": "error", "error_seconds": 0.1},
        {**base, "target": "controller", "signal": "SIGINT", "outcome": "hung", "processes_left": 2,
         "rows_lost": 1, "accuracy_equal": False},
        {**base, "target": "engine", "signal": "SIGINT", "outcome": "not faulted"},
    ])


def test_the_table_counts_each_fault_kind():
    table = chaos_page.chaos_table(_soak_frame()).set_index("Fault")
    assert list(table.index) == ["controller SIGINT", "engine SIGKILL", "kernel SIGSTOP",
                                 "papermill SIGKILL"]  # not faulted: left out
    assert table.loc["papermill SIGKILL", "Error named it"] == "–"  # it can print nothing
    assert table["Signal ignored"].sum() == 0
    engine = table.loc["engine SIGKILL"]
    assert (engine["Runs"], engine["Error"], engine["Hung"]) == (2, 2, 0)
    assert engine["To the error (s)"] == "5.0 (max 6.0)" and engine["Error named it"] == "1 / 2"
    hung = table.loc["controller SIGINT"]
    assert (hung["Hung"], hung["Left"], hung["Rows lost"], hung["Resumed equal"]) == (1, 2, 1, "0 / 1")


def test_the_sentence_sums_up_the_soak():
    assert chaos_page.chaos_sentence(_soak_frame()) == (
        "5 faulted runs (03-exemplar-parallel): 1 completed, 3 failed with an error (0 of them after more "
        "than 60 s), 1 hung; 2 processes left, 1 rows lost and 0 duplicated after resuming, 4 resumed runs "
        "equal to the fault-free run; 1 of 2 errors named what died (of those the run's own process could "
        "print).")


def test_the_performance_page_shows_the_soak_or_says_it_is_missing(tmp_path):
    from exemplar.analysis.performance import Measurements
    from exemplar.reporting import performance

    m = Measurements(tmp_path, {}, None)
    assert "no `chaos.csv`" in performance.chaos_section(m)[0].data
    _soak_frame().to_csv(tmp_path / "chaos.csv", index=False)
    shown = performance.chaos_section(m)
    assert shown[0].data.startswith("5 faulted runs") and len(shown) == 2


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.skipif(not have_mpiexec(), reason="needs the venv's mpiexec (the mpich wheel)")
def test_an_engine_killed_mid_run_fails_cleanly_and_resumes_to_the_same_rows(tmp_path, monkeypatch):
    monkeypatch.delenv("EXEMPLAR_RESULTS", raising=False)
    extra = {"engine_counts": "[2]"}  # the smallest run with a cluster: its two rows
    stem = "03-exemplar-parallel"
    rc, seconds, err = chaos.run_plain(stem, tmp_path / "reference", extra=extra)
    assert rc == 0, err
    reference = chaos.read_rows(stem, tmp_path / "reference")
    out = tmp_path / "faulted"
    out.mkdir()
    row = chaos.faulted_run(stem, "engine", "SIGKILL", out, reference, seconds, random.Random(0), extra=extra,
                             window=0.05)  # soon after the engine started: while the run still needs it
    assert row["outcome"] == "error", row
    assert row["error_names_member"], row["error"]
    assert row["processes_left"] == 0 and row["resume_left"] == 0, row["left"]
    assert row["resume_ok"], row["resume_error"]
    assert (row["rows_lost"], row["rows_duplicated"], row["accuracy_equal"]) == (0, 0, True)


def test_the_run_s_process_does_not_inherit_an_ignored_sigint():
    import signal
    import subprocess
    import sys

    import psutil

    code = "import signal, time; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, flush=True)"
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a soak started with `nohup ... &`
    try:
        inherited = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        reset = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               preexec_fn=chaos.default_sigint)
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            assert chaos.ignores(psutil.Process(sleeper.pid), "SIGINT")
            assert not chaos.ignores(psutil.Process(sleeper.pid), "SIGTERM")
        finally:
            sleeper.kill()
            sleeper.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert inherited.stdout.strip() == "False"  # Python would never raise KeyboardInterrupt
    assert reset.stdout.strip() == "True"


def test_a_sigint_mid_fit_is_not_a_result():
    """The soak's finding: scikit-learn's fit catches KeyboardInterrupt, warns and returns a partly trained
    network, which a chapter saved as a finished row; fit_timed turns the warning back into the interrupt."""
    import os
    import signal
    import threading

    import numpy as np
    from sklearn.neural_network import MLPClassifier

    from exemplar.models import sklearn_mlp

    rng = np.random.default_rng(0)
    X, y = rng.random((3000, 100)), rng.integers(0, 10, 3000)
    model = MLPClassifier(hidden_layer_sizes=(75,), max_iter=400, random_state=0)
    fitting = threading.Event()

    def interrupt():
        fitting.wait()
        while getattr(model, "n_iter_", 0) < 1:  # once the fit has begun its epochs
            threading.Event().wait(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    fitting.set()
    with pytest.raises(KeyboardInterrupt):
        sklearn_mlp.fit_timed(model, X, y)
