"""The ipyparallel cluster: validation, rank mapping, pinned threads, and no processes left behind."""

from __future__ import annotations

import threading
import time
import uuid

import psutil
import pytest
from ipyparallel import interactive

from exemplar.parallel.cluster import LAUNCHERS, ClusterError, cluster_processes, start_cluster
from exemplar.results import usable_cores

CLUSTER_NAMES = ("mpiexec", "hydra_pmi_proxy", "ipengine", "ipcontroller")


def _running(procs: list[psutil.Process]) -> list[str]:
    left = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{p.name()} (pid {p.pid}): {' '.join(p.cmdline()[:4])}")
        except psutil.Error:
            continue
    return left


def _tagged(cluster_id: str) -> list[psutil.Process]:
    """Every process whose environment says it belongs to the cluster (orphans included)."""
    return cluster_processes(cluster_id)


def _descendants_by_name() -> list[psutil.Process]:
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            text = " ".join([p.name(), *p.cmdline()])
        except psutil.Error:
            continue
        if any(name in text for name in CLUSTER_NAMES) or "ipyparallel" in text:
            out.append(p)
    return out


def test_unknown_launcher_is_refused_before_starting():
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(ValueError, match="launcher must be one of 'mpi', 'local', 'slurm'; got 'pbs'"):
        with start_cluster(2, launcher="pbs"):
            pass  # pragma: no cover
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before
    assert LAUNCHERS == ("mpi", "local", "slurm")


@pytest.mark.parametrize("launcher", ["mpi", "local"])
@pytest.mark.parametrize("option", [{"partition": "debug"}, {"time": "10"}, {"account": "a"}, {"sbatch_args": []}])
def test_slurm_options_need_the_slurm_launcher(launcher, option):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(ValueError, match="apply only to launcher='slurm'"):
        with start_cluster(1, launcher=launcher, **option):
            pass  # pragma: no cover
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


@pytest.mark.parametrize("bad", [0, -1, 2.0, "2", True, None])
def test_bad_engine_count_is_refused(bad):
    with pytest.raises(ValueError, match="n_engines"):
        with start_cluster(bad):
            pass  # pragma: no cover


def test_mpi_options_need_the_mpi_launcher():
    with pytest.raises(ValueError, match="launcher='mpi'"):
        with start_cluster(1, launcher="local", mpi_args=["-v"]):
            pass  # pragma: no cover


@pytest.mark.mpi
def test_mpi_cluster_maps_ranks_pins_threads_and_stops_cleanly():
    with start_cluster(2) as cl:
        assert cl.n == 2 and cl.launcher == "mpi"
        assert sorted(cl.rank_of.values()) == [0, 1]
        assert sorted(cl.rank_of) == sorted(cl.rc.ids)
        assert all(cl.engine_of[cl.rank_of[e]] == e for e in cl.rank_of)
        assert cl.start_seconds > 0
        # the view is in rank order: its results come back by rank, whatever the engine ids
        assert cl.view.targets == [cl.engine_of[r] for r in range(2)]
        ranks = cl.view.apply_sync(_mpi_rank)
        assert ranks == [0, 1]
        # BLAS / OpenMP pools are 1 thread on every engine (env vars set and threadpoolctl applied)
        for pools in cl.view.apply_sync(_thread_counts):
            assert pools, "no thread pool found on the engine"
            assert all(n == 1 for n in pools.values()), pools
        for info in cl.engine_info:
            assert info["env"]["OMP_NUM_THREADS"] == "1"
            assert info["env"]["OPENBLAS_NUM_THREADS"] == "1"
        # waiting ranks sleep only where the engines share cores (tests/test_parallel_yield.py)
        assert cl.mpi_yield == (2 > usable_cores())
        assert all((info["env"]["MPIR_CVAR_ENABLE_HEAVY_YIELD"] == "1") == cl.mpi_yield for info in cl.engine_info)
        procs = cl.processes() + _tagged(cl.cluster_id) + _descendants_by_name()
        names = {p.name() for p in procs}
        assert {"mpiexec", "hydra_pmi_proxy"} <= names
        cluster_id = cl.cluster_id
    assert _running(procs) == []
    assert _running(_tagged(cluster_id)) == []
    assert _running(_descendants_by_name()) == []


@pytest.mark.mpi
@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_mpi_cluster_stops_after_an_exception(exc_type):
    with pytest.raises(exc_type, match="boom"):
        with start_cluster(2) as cl:
            procs = cl.processes()
            cluster_id = cl.cluster_id
            assert len(procs) >= 4
            raise exc_type("boom")
    assert _running(procs) == []
    assert _running(_tagged(cluster_id)) == []
    assert _running(_descendants_by_name()) == []


@pytest.mark.mpi
def test_engines_that_do_not_register_in_time_raise_and_leave_nothing():
    cluster_id = f"test-{uuid.uuid4().hex[:8]}"
    seen: dict[int, psutil.Process] = {}
    starting = threading.Event()
    starting.set()

    def watch():  # what the cluster starts, seen from outside while it starts
        while starting.is_set():
            seen.update((p.pid, p) for p in cluster_processes(cluster_id))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with pytest.raises(ClusterError, match=r"of 2 engines registered within 0.2 s"):
            with start_cluster(2, timeout=0.2, cluster_id=cluster_id):
                pass  # pragma: no cover
    finally:
        starting.clear()
        watcher.join(10)
    assert seen, "the cluster had started some processes"
    assert _running(list(seen.values())) == []
    assert cluster_processes(cluster_id) == []


def test_cluster_processes_of_an_unknown_cluster_is_empty():
    assert cluster_processes(f"no-such-cluster-{uuid.uuid4().hex}") == []


def test_local_cluster_ranks_are_engine_order_and_it_stops():
    with start_cluster(2, launcher="local") as cl:
        assert cl.launcher == "local"
        assert [cl.rank_of[e] for e in sorted(cl.rank_of)] == [0, 1]
        assert all(n == 1 for pools in cl.view.apply_sync(_thread_counts) for n in pools.values())
        procs = cl.processes()
        cluster_id = cl.cluster_id
    assert _running(procs) == []
    assert _running(_tagged(cluster_id)) == []


@interactive  # shipped by value: the engines cannot import this test module
def _mpi_rank():
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank()


@interactive
def _thread_counts():
    from threadpoolctl import threadpool_info

    return {f"{p['internal_api']}:{p['filepath']}": p["num_threads"] for p in threadpool_info()}


@pytest.mark.mpi
def test_an_engine_failing_at_start_up_raises_the_clusters_own_error(tmp_path):
    """Issue 16: an engine that fails while the cluster sets it up gives a ClusterError, not a raw CompositeError."""
    (tmp_path / "threadpoolctl.py").write_text("raise RuntimeError('threadpoolctl broken on purpose')\n")
    with pytest.raises(ClusterError, match=r"failed while being set up.*broken on purpose"):
        with start_cluster(1, environment={"PYTHONPATH": str(tmp_path)}, timeout=60):
            pass

    def started_here(proc):
        try:
            return proc.environ().get("PYTHONPATH") == str(tmp_path)
        except (psutil.Error, OSError):
            return False

    _, left = psutil.wait_procs([p for p in psutil.process_iter() if started_here(p)], timeout=10)
    assert not left, [f"{p.name()} (pid {p.pid})" for p in left]  # the failed start left nothing running
