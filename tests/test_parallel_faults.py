"""Faults of the cluster's own processes (issue 16, items 1 and 2): nothing hangs, nothing is left running.

* A dead controller ends the run with an error naming it, within 60 s (a wait checks that the
  controller's process still runs, instead of waiting for replies that will never come).
* Whatever kills the process that owns a cluster, every process of the cluster exits within
  30 s, and its connection files go: the cluster's watchdog (:mod:`exemplar.parallel.watchdog`)
  sees its owner gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import psutil
import pytest

from exemplar import parallel as ex
from exemplar.parallel.cluster import cluster_processes, start_cluster
from exemplar.parallel import remote, watchdog
from exemplar.parallel.watchdog import alive, connection_files, start_watchdog


def _watchdogs(cluster_id: str) -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter():
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if watchdog.__file__ in cmd and cluster_id in cmd:
            out.append(proc)
    return out


def _gone_within(cluster_id: str, seconds: float) -> list[psutil.Process]:
    """Wait up to ``seconds`` for every process of the cluster to end; returns those still running."""
    deadline = time.monotonic() + seconds
    left = cluster_processes(cluster_id)
    while left and time.monotonic() < deadline:
        time.sleep(0.25)
        left = cluster_processes(cluster_id)
    return left


def test_the_watchdog_ends_with_its_cluster():
    with start_cluster(1, launcher="local") as cl:
        cluster_id = cl.cluster_id
        files = connection_files(cluster_id, os.path.dirname(cl.cluster.cluster_file))
        dogs = _watchdogs(cluster_id)
        assert len(dogs) == 1
        assert dogs[0].pid not in {p.pid for p in cl.processes()}  # not counted as a process of the cluster
        assert os.getpgid(dogs[0].pid) != os.getpgid(0)  # a signal to this process group does not reach it
    assert not [d for d in dogs if alive(d)]
    assert [f for f in files if f.exists()] == []  # no stale connection files either
    assert cluster_processes(cluster_id) == []


@pytest.mark.mpi
def test_a_dead_controller_ends_the_run_with_an_error_naming_it(digits):
    X, y, Xt, yt = digits
    with pytest.raises(ex.EngineError, match=r"controller \(ipcontroller, pid \d+\) is no longer running") as info:
        with start_cluster(1) as cl:
            cluster_id = cl.cluster_id
            group = os.getpgid(cl.controller_pid)
            assert group != os.getpgid(0), "the controller must have a process group of its own"
            killer = threading.Timer(3.0, os.killpg, (group, signal.SIGKILL))
            killer.start()
            t0 = time.monotonic()
            try:  # a fit far longer than the test: only the controller check can end it
                ex.run_exemplar(cl, ex.array_source(X, y), Xt, yt, hidden=300, epochs=2000,
                                mlp_params={"n_iter_no_change": 100_000}, timeout=3600)
            finally:
                elapsed = time.monotonic() - t0
                killer.cancel()
    assert "fitting cannot finish" in str(info.value)
    assert elapsed < 60, elapsed
    assert cluster_processes(cluster_id) == []
    assert not [d for d in _watchdogs(cluster_id) if alive(d)]


OWNER = textwrap.dedent("""
    import time
    from exemplar.parallel.cluster import start_cluster

    with start_cluster(1) as cl:
        print(cl.cluster_id, cl.cluster.cluster_file, flush=True)
        time.sleep(600)
""")


@pytest.mark.mpi
def test_a_cluster_ends_within_30_s_of_its_owner_being_killed():
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        line = owner.stdout.readline().split()  # once the cluster runs
        assert line, owner.communicate(timeout=60)[1][-3000:]
        cluster_id, cluster_file = line
        files = connection_files(cluster_id, os.path.dirname(cluster_file))
        assert files[0].exists()
        before = cluster_processes(cluster_id)
        assert {"mpiexec", "hydra_pmi_proxy"} <= {p.name() for p in before}
        dogs = _watchdogs(cluster_id)
        assert len(dogs) == 1
        owner.send_signal(signal.SIGKILL)  # no cleanup can run in the owner
        owner.wait(10)
        left = _gone_within(cluster_id, 30)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)
    assert left == [], [f"{p.name()} (pid {p.pid})" for p in left]
    # a process on its way out may no longer show its environment (so `left` misses it): wait for it
    _, still = psutil.wait_procs([p for p in before if alive(p)], timeout=5)
    assert not still, [f"{p.name()} (pid {p.pid})" for p in still]
    psutil.wait_procs(dogs, timeout=10)
    assert not [d for d in dogs if alive(d)]
    assert [f for f in files if f.exists()] == []  # no stale connection files either


class _Pending:
    """An async result that never arrives (its controller is gone)."""

    def ready(self):
        return False

    def wait(self, seconds):
        time.sleep(seconds)


class _ClusterWithDeadController:
    n = 1
    engine_of = {0: 0}
    controller_pid = 4242

    def controller_alive(self):
        return False


def test_a_wait_stops_naming_the_controller_once_it_is_gone(monkeypatch):
    monkeypatch.setattr(remote, "CONTROLLER_CHECK_SECONDS", 0.1)
    t0 = time.monotonic()
    with pytest.raises(ex.EngineError, match=r"controller \(ipcontroller, pid 4242\) is no longer running, "
                                               r"so fitting cannot finish: stop the cluster"):
        remote.wait(_ClusterWithDeadController(), {0: _Pending()}, "fitting", timeout=None)
    assert time.monotonic() - t0 < 5
    with pytest.raises(ex.EngineError, match="so submitting len cannot finish"):
        remote.submit(_ClusterWithDeadController(), len, lambda rank: ([],))


def test_the_watchdog_ends_the_processes_of_a_dead_owner(tmp_path):
    """Without MPI: an owner, a process tagged as its cluster's, the cluster's files; SIGKILL the owner."""
    cluster_id = f"test-{uuid.uuid4().hex[:8]}"
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    owner = subprocess.Popen(sleeper)
    member = subprocess.Popen(sleeper, env={**os.environ, "IPP_CLUSTER_ID": cluster_id}, start_new_session=True)
    files = connection_files(cluster_id, tmp_path)
    for f in files:
        f.write_text("{}")
    dog = start_watchdog(cluster_id, owner_pid=owner.pid, security_dir=tmp_path)
    try:
        assert [p.pid for p in _gone_within(cluster_id, 0)] == [member.pid]
        time.sleep(1.0)
        assert dog.poll() is None and member.poll() is None  # the owner lives: nothing happens
        owner.kill()
        owner.wait(10)
        assert _gone_within(cluster_id, 30) == []
        assert member.wait(10) is not None
        assert dog.wait(30) == 0
        assert [f for f in files if f.exists()] == []
    finally:
        for proc in (owner, member, dog):
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_an_engine_unregistered_between_the_check_and_the_submit_is_named_as_gone(monkeypatch):
    """The controller may drop a dead engine after submit's check: the error is still "no longer registered",
    with the advice to start a new cluster, not ipyparallel's bare "No such engine"."""
    monkeypatch.setattr(remote, "check_controller", lambda cl, what: None)

    class Client:
        def __init__(self):
            self.ids = [0, 1]

        def __getitem__(self, engine):
            if engine == 1:
                self.ids = [0]  # unregistered just now
                raise IndexError("No such engine: 1")
            return type("View", (), {"apply_async": lambda self, f, *a: "submitted"})()

    class Cluster:
        n, engine_of, rc = 2, {0: 0, 1: 1}, Client()

    with pytest.raises(ex.EngineError, match=r"rank 1 \(engine 1\) no longer registered .* start a new one"):
        remote.submit(Cluster(), len, lambda rank: ([],))
