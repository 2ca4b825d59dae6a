"""The ipyparallel cluster: validation, rank mapping, pinned threads, no processes left behind, and
CurveZMQ whenever the controller listens beyond loopback (the key in 0600 connection files only)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
import uuid

import psutil
import pytest
import zmq
from ipyparallel import interactive

from exemplar.parallel import security
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


# ---------------------------------------------------------------------------- encryption beyond loopback

@pytest.mark.parametrize("ip, curve", [("127.0.0.1", False), ("127.0.1.1", False), ("localhost", False),
                                       ("::1", False), ("*", True), ("0.0.0.0", True), ("10.0.0.1", True)])
def test_a_controller_is_encrypted_whenever_it_listens_beyond_loopback(ip, curve):
    assert security.wants_curve(ip) is curve
    assert security.controller_args(curve) == (["--IPController.enable_curve=True"] if curve else [])
    assert security.cluster_options(curve) == ({"send_engines_connection_env": False} if curve else {})


def _connection_files(cl) -> dict:
    return security.connection_files(cl.cluster_id, os.path.dirname(cl.cluster.cluster_file))


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_cluster_listening_beyond_loopback_is_encrypted_and_a_wrong_key_cannot_register(tmp_path):
    with start_cluster(1, launcher="local", controller_ip="*", timeout=60) as cl:
        files = _connection_files(cl)
        key = security.serverkey(files["engine"])
        assert key and security.serverkey(files["client"]) == key and len(key) == 40  # Z85 of 32 bytes
        assert {name: _mode(path) for name, path in files.items()} == dict.fromkeys(files, 0o600)
        assert _mode(files["engine"].parent) == 0o700
        assert json.loads(files["engine"].read_text())["key"] == ""  # CurveZMQ authenticates instead of HMAC
        engine = psutil.Process(cl.engine_info[0]["pid"])
        assert "IPP_CONNECTION_INFO" not in engine.environ()  # the key is in the file only
        assert cl.rc._query_socket.get(zmq.MECHANISM) == zmq.CURVE and cl.rc.curve_serverkey == key.encode()

        # an engine holding another controller's key: its handshake fails, it never registers
        forged = json.loads(files["engine"].read_text())
        forged["curve_serverkey"] = zmq.curve_keypair()[0].decode()
        (tmp_path / "forged.json").write_text(json.dumps(forged))
        env = {k: v for k, v in os.environ.items() if not k.startswith("IPP_")}
        rogue = subprocess.Popen([sys.executable, "-m", "ipyparallel.engine", f"--IPEngine.url_file={tmp_path}/"
                                  "forged.json", "--IPEngine.timeout=2"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = rogue.communicate(timeout=60)
        finally:
            rogue.kill()
        assert rogue.returncode != 0 and security.REGISTRATION_TIMED_OUT in out, out[-2000:]
        assert len(cl.rc.ids) == 1  # it never joined: no work can reach it
        assert cl.view.apply_sync(_double, 21) == [42]  # the real engine still works
    for path in files.values():
        assert not path.exists()


def test_a_loopback_cluster_is_not_encrypted_but_its_files_are_private():
    with start_cluster(1, launcher="local", timeout=60) as cl:
        files = _connection_files(cl)
        assert security.serverkey(files["engine"]) is None and security.serverkey(files["client"]) is None
        assert {name: _mode(path) for name, path in files.items()} == dict.fromkeys(files, 0o600)
        assert security.registration_hint(cl.cluster, security.REGISTRATION_TIMED_OUT) == ""


def test_connection_files_readable_by_others_or_without_the_key_are_refused(tmp_path):
    files = security.connection_files("c1", tmp_path)
    for path in files.values():
        path.write_text(json.dumps({"curve_serverkey": "k" * 40}))
        path.chmod(0o600)
    security.check_connection_files(files, curve=True)
    files["engine"].chmod(0o644)
    with pytest.raises(security.ConnectionSecurityError, match=r"ipcontroller-c1-engine.json has mode 644.*chmod 600"):
        security.check_connection_files(files, curve=False)
    secured = security.secure_connection_files("c1", tmp_path, curve=True, timeout=1)  # sets them to 0600
    assert {_mode(p) for p in secured.values()} == {0o600}
    files["client"].write_text(json.dumps({"curve_serverkey": None}))
    with pytest.raises(security.ConnectionSecurityError, match=r"client connection file .* holds no CurveZMQ key"):
        security.check_connection_files(files, curve=True)
    exited = type("Launcher", (), {"state": "after"})()
    with pytest.raises(security.ConnectionSecurityError, match=r"wrote no connection files .* before it exited"):
        security.secure_connection_files("c2", tmp_path, curve=True, timeout=0.1, controller=exited)


@interactive
def _double(x):
    return 2 * x
