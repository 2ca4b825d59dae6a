"""The experiment loop: rows saved one by one, resume, retries on a fresh cluster, a dead engine."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import psutil
import pytest

from exemplar import results
from exemplar.experiments import runner as experiment
from exemplar.experiments.runner import ExperimentError, ResultsLog, run_configs

KEYS = ["n_engines", "repeat"]


def _prov(**params):
    return results.provenance({"engine_counts": [1, 2], **params})


class FakeClusters:
    """start_cluster stand-in that counts starts and stops."""

    def __init__(self):
        self.started, self.stopped = [], 0

    @contextlib.contextmanager
    def __call__(self, n):
        self.started.append(n)
        try:
            yield f"cluster-{n}-{len(self.started)}"
        finally:
            self.stopped += 1


CONFIGS = [{"n_engines": n, "repeat": r} for n in (1, 2) for r in range(3)]


def test_rows_are_saved_one_by_one_and_a_failure_writes_none(tmp_path):
    log = ResultsLog("demo", _prov(), KEYS, directory=tmp_path, log=lambda m: None)
    seen_on_disk = []

    def run_one(cl, c):
        if (c["n_engines"], c["repeat"]) == (2, 1):
            raise RuntimeError("engine 1 (rank 1) died")
        if (tmp_path / "demo.csv").exists():
            seen_on_disk.append(len(pd.read_csv(tmp_path / "demo.csv")))
        return {"accuracy_pct": 80.0 + c["repeat"], "cluster": cl}

    clusters = FakeClusters()
    with pytest.raises(ExperimentError, match=r"failed.*rank 1.*4 rows finished before it are saved.*resume=True"):
        run_configs(CONFIGS, run_one, log, start_cluster=clusters, progress=False, log=lambda m: None)
    df = pd.read_csv(tmp_path / "demo.csv")
    assert len(df) == 4  # (1,0) (1,1) (1,2) (2,0): the failed (2,1) has no row
    assert seen_on_disk == [1, 2, 3]  # the file grew after every finished configuration
    assert not list(tmp_path.glob(".*tmp"))
    assert clusters.started == [1, 2] and clusters.stopped == 2  # one cluster per engine count, always stopped
    assert df.provenance_id.nunique() == 1


def test_retries_restart_the_cluster_and_rerun_the_configuration(tmp_path):
    log = ResultsLog("demo", _prov(), KEYS, directory=tmp_path, log=lambda m: None)
    failures = {"left": 1}

    def run_one(cl, c):
        if (c["n_engines"], c["repeat"]) == (2, 1) and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("dead engine")
        return {"accuracy_pct": 90.0, "cluster": cl}

    clusters = FakeClusters()
    messages = []
    df = run_configs(CONFIGS, run_one, log, start_cluster=clusters, retries=1, progress=False, log=messages.append)
    assert len(df) == 6
    assert clusters.started == [1, 2, 2] and clusters.stopped == 3
    assert df.loc[(df.n_engines == 2) & (df.repeat == 2), "cluster"].item() == "cluster-2-3"  # on the new cluster
    assert any("retry 1 of 1" in m for m in messages)


def test_resume_skips_finished_configurations_of_the_same_provenance(tmp_path):
    prov = _prov(repeats=3)
    calls = []

    def run_one(cl, c):
        calls.append((c["n_engines"], c["repeat"]))
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user stops the run: never retried
        return {"accuracy_pct": 88.0}

    log = ResultsLog("demo", prov, KEYS, directory=tmp_path, log=lambda m: None)
    with pytest.raises(KeyboardInterrupt):
        run_configs(CONFIGS, run_one, log, start_cluster=FakeClusters(), retries=3, progress=False)
    assert len(pd.read_csv(tmp_path / "demo.csv")) == 2

    calls.clear()
    messages = []
    log = ResultsLog("demo", {**prov, "parameters": {**prov["parameters"], "resume": True}}, KEYS,
                     resume=True, directory=tmp_path, log=messages.append)
    df = run_configs(CONFIGS, lambda cl, c: calls.append(1) or {"accuracy_pct": 88.0}, log,
                     start_cluster=FakeClusters(), progress=False, log=messages.append)
    assert len(calls) == 4 and len(df) == 6 and log.skipped == 2
    assert any("skipping 2 of 6" in m for m in messages)
    assert sorted(zip(df.n_engines, df.repeat)) == sorted((c["n_engines"], c["repeat"]) for c in CONFIGS)


def test_resume_drops_rows_of_another_provenance(tmp_path):
    log = ResultsLog("demo", _prov(hidden=75), KEYS, directory=tmp_path)
    run_configs(CONFIGS[:2], lambda cl, c: {"accuracy_pct": 1.0}, log, start_cluster=FakeClusters(), progress=False)
    messages = []
    log = ResultsLog("demo", _prov(hidden=85), KEYS, resume=True, directory=tmp_path, log=messages.append)
    assert log.rows == [] and any("dropped 2 of another provenance" in m for m in messages)


def test_provenance_id_ignores_time_commit_and_loop_parameters():
    a = _prov(hidden=75)
    b = {**a, "created": "later", "git_commit": "other", "parameters": {**a["parameters"], "resume": True}}
    assert experiment.provenance_id(a) == experiment.provenance_id(b)
    assert experiment.provenance_id(a) != experiment.provenance_id(_prov(hidden=85))


def test_configurations_without_engines_run_without_a_cluster(tmp_path):
    log = ResultsLog("demo", _prov(), ["strategy", "repeat"], directory=tmp_path)
    clusters = FakeClusters()
    df = run_configs([{"strategy": "baseline", "repeat": 0}], lambda cl, c: {"cl": cl}, log,
                     start_cluster=clusters, progress=False)
    assert clusters.started == [] and df.cl.isna().all()


@pytest.mark.mpi
@pytest.mark.slow
def test_engine_killed_mid_fit_fails_fast_and_retry_completes(tmp_path):
    """A real MPI cluster: rank 1's engine is SIGKILLed during a long fit; the run fails within
    seconds naming the rank, the cluster is replaced, and the retry writes the only row."""
    from exemplar.parallel import cluster as cluster_mod
    from exemplar import parallel as ex

    rng = np.random.default_rng(0)
    y = np.tile(np.arange(10), 30)
    X = (rng.random((300, 784)) * 40).astype(np.uint8)
    X[np.arange(300), y * 70] = 255
    clusters, failure = [], {}

    @contextlib.contextmanager
    def start(n):
        with cluster_mod.start_cluster(n) as cl:
            clusters.append(cl)
            yield cl
        clusters[-1].procs_after = cl.processes()

    def run_one(cl, c):
        if len(clusters) == 1:  # first attempt: kill rank 1 mid-fit
            threading.Timer(2.0, os.kill, (cl.engine_info[1]["pid"], signal.SIGKILL)).start()
            t0 = time.monotonic()
            try:
                ex.run_exemplar(cl, ex.array_source(X, y), X, y, hidden=400, epochs=2000,
                                mlp_params={"n_iter_no_change": 100_000}, timeout=120)
            except ex.EngineError as exc:
                failure["seconds"] = time.monotonic() - t0
                failure["message"] = str(exc)
                raise
        return ex.run_exemplar(cl, ex.array_source(X, y), X, y, hidden=10, epochs=5).as_row()

    log = ResultsLog("dead", _prov(), ["n_engines", "repeat"], directory=tmp_path)
    df = run_configs([{"n_engines": 2, "repeat": 0}], run_one, log, start_cluster=start, retries=1,
                     progress=False, log=lambda m: None)
    print(f"failed after {failure['seconds']:.1f} s: {failure['message']}")
    assert "rank 1 (engine 1)" in failure["message"]
    assert failure["seconds"] < 30
    assert len(clusters) == 2 and len(df) == 1 and df.accuracy_pct.item() > 0
    for cl in clusters:
        left = [p for p in getattr(cl, "procs_after", []) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not left, left


@pytest.mark.mpi
@pytest.mark.slow
def test_exemplar_run_is_bit_identical_on_a_fresh_cluster():
    """Same seed, parameters and thread settings: the same accuracy and weights on a rerun."""
    from exemplar.parallel import cluster as cluster_mod
    from exemplar import parallel as ex
    from exemplar.models import sklearn_mlp as mlp

    rng = np.random.default_rng(1)
    y = np.tile(np.arange(10), 40)
    X = (rng.random((400, 784)) * 60).astype(np.uint8)
    X[np.arange(400), y * 70 + 3] = 255
    outcomes = []
    for _ in range(2):
        with cluster_mod.start_cluster(2) as cl:
            res = ex.run_exemplar(cl, ex.array_source(X, y), X, y, hidden=16, epochs=8, seed=5)
            outcomes.append((res.accuracy_pct, mlp.get_weights(res.model)))
    assert outcomes[0][0] == outcomes[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(outcomes[0][1], outcomes[1][1]))


# --------------------------------------------------------------------------------------------
# Faults of issue 16: a failed write, two runs at once
# --------------------------------------------------------------------------------------------


def _enospc(*args, **kwargs):
    raise OSError(28, "No space left on device", "demo.csv")


def test_a_failed_write_names_the_file_and_reason_and_a_retry_adds_the_row_once(tmp_path, monkeypatch):
    log = ResultsLog("demo", _prov(), KEYS, directory=tmp_path, log=lambda m: None)
    log.append({"n_engines": 1, "repeat": 0, "accuracy_pct": 80.0})
    real = results.write_results
    monkeypatch.setattr(results, "write_results", _enospc)
    with pytest.raises(experiment.ResultsWriteError) as info:
        log.append({"n_engines": 1, "repeat": 1, "accuracy_pct": 81.0})
    msg = str(info.value)
    assert str(tmp_path / "demo.csv") in msg and "No space left on device" in msg
    assert "still holds the 1 rows saved" in msg and info.value.errno == 28
    assert len(log.rows) == 1 and log.saved == 1  # the failed row did not join the log
    monkeypatch.setattr(results, "write_results", real)
    log.append({"n_engines": 1, "repeat": 1, "accuracy_pct": 81.0})  # the retry
    df = pd.read_csv(tmp_path / "demo.csv")
    assert df.repeat.tolist() == [0, 1]


def test_a_write_error_in_a_run_is_reported_as_one_not_as_a_failed_configuration(tmp_path, monkeypatch):
    log = ResultsLog("demo", _prov(), KEYS, directory=tmp_path, log=lambda m: None)
    calls = []

    def run_one(cl, c):
        calls.append(c)
        if len(calls) == 2:
            monkeypatch.setattr(results, "write_results", _enospc)
        return {"accuracy_pct": 80.0}

    with pytest.raises(experiment.ResultsWriteError, match="could not write the results file"):
        run_configs(CONFIGS, run_one, log, start_cluster=FakeClusters(), retries=3, progress=False,
                    log=lambda m: None)
    assert len(calls) == 2  # not retried: rerunning the configuration cannot fix a full disk
    assert len(pd.read_csv(tmp_path / "demo.csv")) == 1 == log.saved


_SLOW_RUN = """
import sys, time
from exemplar import results
from exemplar.experiments.runner import ResultsLog, run_configs
folder, tag, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
log = ResultsLog("demo", results.provenance({"tag": tag}), ["n_engines", "repeat"], directory=folder,
                 log=lambda m: None)
configs = [{"n_engines": None, "repeat": r} for r in range(3)]
def run_one(cl, c):
    time.sleep(pause)
    return {"tag": tag}
try:
    run_configs(configs, run_one, log, progress=False, cluster_size=lambda c: None, log=lambda m: None)
except Exception as exc:
    print(type(exc).__name__, exc)
    sys.exit(2)
"""


def test_a_second_run_into_the_same_results_is_refused_naming_the_holder(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(_SLOW_RUN)
    first = subprocess.Popen([sys.executable, str(script), str(tmp_path), "first", "5.0"],
                             stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (tmp_path / "demo.lock").exists() or not (tmp_path / "demo.lock").read_text():
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.05)
    second = subprocess.run([sys.executable, str(script), str(tmp_path), "second", "0"], capture_output=True,
                            text=True, timeout=60)
    assert first.wait(timeout=60) == 0
    assert second.returncode == 2
    assert "BusyError" in second.stdout and f"pid {first.pid}" in second.stdout
    assert "EXEMPLAR_RESULTS" in second.stdout
    df = pd.read_csv(tmp_path / "demo.csv")
    assert df.tag.tolist() == ["first"] * 3  # the first run's rows are all there


def test_the_lock_goes_with_a_killed_holder(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(_SLOW_RUN)
    first = subprocess.Popen([sys.executable, str(script), str(tmp_path), "first", "30"])
    deadline = time.monotonic() + 30
    while not (tmp_path / "demo.lock").exists() or not (tmp_path / "demo.lock").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.kill()
    first.wait()
    log = ResultsLog("demo", _prov(), KEYS, directory=tmp_path, log=lambda m: None)
    with log.locked():  # no stale lock: the OS released it with the process
        pass
