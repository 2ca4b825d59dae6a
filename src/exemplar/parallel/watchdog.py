"""A cluster's parent-death watch: its processes end when the process that owns the cluster dies.

:func:`exemplar.parallel.cluster.start_cluster` starts one watchdog per cluster: a small process
of its own (in a session of its own, so a signal to the owner's process group does not reach
it) that polls the owner's pid. When the owner is gone -- whatever ended it: ``SIGKILL``, a
crashed or killed kernel, a ``Ctrl-C`` that interrupted the cleanup -- it ends every process of
the cluster (found by the ``IPP_CLUSTER_ID`` they all inherit): ``SIGTERM``, then ``SIGKILL``
after a short grace -- and removes the cluster's connection files, which name a controller that
is gone. A cluster whose engines run as a Slurm job (``launcher="slurm"``) names the job, and the
watchdog cancels it first (``scancel --name NAME``: the name is known before ``sbatch`` returns an
id) and waits until Slurm lists it as ended. When the owner stops the cluster itself, it ends the
watchdog too (:func:`stop_watchdog`), after :func:`stop_cluster`.

It also holds what finds a cluster's processes (:func:`cluster_processes`), so it imports nothing
of this package: :func:`start_watchdog` runs it as ``python -I .../watchdog.py OWNER_PID
CLUSTER_ID [SECURITY_DIR] [--scancel-name=NAME]``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

#: Seconds between two looks at the owner; with the grace below, a cluster ends within ~5 s of its owner.
POLL_SECONDS = 0.5

log = logging.getLogger("exemplar.parallel.cluster")

#: Seconds the cluster's processes get to exit after ``SIGTERM`` before ``SIGKILL``.
GRACE_SECONDS = 2.0


def start_watchdog(cluster_id: str, owner_pid: int | None = None, security_dir: str | os.PathLike | None = None,
                   slurm_job_name: str | None = None) -> subprocess.Popen:
    """Start the watchdog of cluster ``cluster_id``, owned by ``owner_pid`` (default: this process).

    ``security_dir`` is where ipyparallel keeps the cluster's connection files
    (:func:`connection_files`), removed when the owner dies; ``slurm_job_name`` the name of the
    cluster's Slurm job, cancelled when the owner dies (Slurm's commands are found on this ``PATH``,
    its configuration by this ``SLURM_CONF``).
    """
    owner = os.getpid() if owner_pid is None else int(owner_pid)
    env = {k: v for k, v in os.environ.items() if k != "IPP_CLUSTER_ID"}  # not a process of the cluster itself
    extra = [] if security_dir is None else [os.fspath(security_dir)]
    extra += [] if slurm_job_name is None else [f"--scancel-name={slurm_job_name}"]
    # Run as a file, isolated (-I: no script folder, PYTHONPATH or user site on its path): it needs
    # only psutil, not this package, so it starts fast and stays small for the cluster's lifetime.
    return subprocess.Popen(
        [sys.executable, "-I", os.path.abspath(__file__), str(owner), str(cluster_id), *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, env=env, close_fds=True,
    )


def stop_watchdog(proc: subprocess.Popen | None) -> None:
    """End a watchdog whose owner stopped the cluster itself (nothing is left for it to do)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:  # pragma: no cover - it exits on SIGTERM at once
        proc.kill()
        proc.wait(5)


def alive(proc: psutil.Process) -> bool:
    """Whether ``proc`` still runs (a zombie does not: it only waits for its parent to reap it)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def cluster_processes(cluster_id: str, pids: set[int] = frozenset()) -> list[psutil.Process]:
    """The running processes of cluster ``cluster_id``, orphans included.

    Parameters
    ----------
    cluster_id : str
        The cluster's id (``RunningCluster.cluster_id``); every process of the cluster inherits
        it in its environment as ``IPP_CLUSTER_ID``.
    pids : set of int, optional
        Further processes known to belong to the cluster.

    Returns
    -------
    list of psutil.Process
        The processes that carry ``IPP_CLUSTER_ID=cluster_id``, plus ``pids``, and all their
        descendants, that are still running (zombies excluded); never this process.
    """
    found: dict[int, psutil.Process] = {}
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            if proc.environ().get("IPP_CLUSTER_ID") == cluster_id:
                found[proc.pid] = proc
        except (psutil.Error, OSError):
            continue
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            found.setdefault(pid, proc)
        except psutil.Error:
            continue
    for proc in list(found.values()):
        try:
            for child in proc.children(recursive=True):
                found.setdefault(child.pid, child)
        except psutil.Error:
            continue
    return [proc for proc in found.values() if alive(proc)]


def end_processes(procs: list[psutil.Process], grace: float = GRACE_SECONDS) -> list[psutil.Process]:
    """``SIGTERM`` to ``procs``, then ``SIGKILL`` to those still running after ``grace`` seconds; returns those."""
    for proc in procs:
        try:
            proc.terminate()
        except psutil.Error:
            continue
    _, left = psutil.wait_procs(procs, timeout=grace)
    left = [p for p in left if alive(p)]
    for proc in left:
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(left, timeout=5)
    return left


def kill_stragglers(cluster_id: str, pids: set[int], grace: float = 3.0) -> list[str]:
    """Wait up to ``grace`` seconds for the cluster's processes to exit, then SIGKILL the rest.

    Returns a description of each process that had to be killed.
    """
    deadline = time.monotonic() + grace
    procs = cluster_processes(cluster_id, pids)
    while procs and time.monotonic() < deadline:
        time.sleep(0.1)
        procs = [p for p in procs if alive(p)]
    killed = []
    for proc in procs:
        try:
            killed.append(f"{proc.name()} (pid {proc.pid})")
            proc.kill()
        except psutil.Error:
            continue
    if procs:
        psutil.wait_procs(procs, timeout=5)
    return killed


def stop_cluster(cluster, rc, known_pids: set[int], after=None) -> None:
    """Stop an ipyparallel ``cluster`` its owner started: close the client ``rc``, stop engines and
    controller, then kill whatever of it is still running (found as :func:`cluster_processes` does,
    ``known_pids`` included), and call ``after()`` (say, to end a Slurm job; its errors propagate)."""
    cluster_id = cluster.cluster_id
    # Snapshot the process tree first: once mpiexec dies, its orphans are no longer its children.
    try:
        known_pids = known_pids | {p.pid for p in cluster_processes(cluster_id, known_pids)}
    except Exception:  # pragma: no cover - psutil trouble must not block the stop
        pass
    if rc is not None:
        try:
            rc.close()
        except Exception as exc:  # pragma: no cover
            log.debug("closing client: %r", exc)
    interrupted = None
    # Engines first, then the controller (as ipyparallel's own ``Cluster.__exit__``): stopping
    # both at once (``stop_cluster``) makes the engines linger ~3 s looking for the controller.
    for step in (cluster.stop_engines_sync, cluster.stop_controller_sync):
        try:
            step()
        except KeyboardInterrupt as exc:  # still kill below, then re-raise
            interrupted = exc
        except Exception as exc:
            log.warning("ipyparallel's %s failed (%r); killing the cluster's processes", step.__name__, exc)
    killed = kill_stragglers(cluster_id, known_pids)
    if killed:
        log.warning("killed leftover cluster processes: %s", ", ".join(killed))
    if after is not None:
        after()
    if interrupted is not None:
        raise interrupted


def connection_files(cluster_id: str, security_dir: str | os.PathLike) -> list[Path]:
    """The files ipyparallel writes for cluster ``cluster_id`` in ``security_dir`` (the cluster's, the controller's)."""
    names = (f"cluster-{cluster_id}.json", f"ipcontroller-{cluster_id}-client.json",
             f"ipcontroller-{cluster_id}-engine.json")
    return [Path(security_dir) / name for name in names]


def cancel_slurm_job(name: str, wait: float = 60.0) -> bool:
    """Cancel the Slurm jobs named ``name`` (``scancel --name``) and wait until ``squeue`` lists none;
    whether none is left."""
    deadline = time.monotonic() + wait
    while True:
        try:
            subprocess.run(["scancel", f"--name={name}"], capture_output=True, timeout=30)
            listed = subprocess.run(["squeue", "-h", f"--name={name}", "-o", "%i"], capture_output=True,
                                    text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return False
        if listed.returncode == 0 and not listed.stdout.strip():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def watch(owner_pid: int, cluster_id: str, security_dir: str | os.PathLike | None = None,
          poll: float = POLL_SECONDS, slurm_job_name: str | None = None) -> None:
    """Wait for process ``owner_pid`` to end, then cancel the cluster's Slurm job ``slurm_job_name``
    (if any), end every process of cluster ``cluster_id`` and remove its connection files from
    ``security_dir``."""
    try:
        owner = psutil.Process(owner_pid)
    except psutil.NoSuchProcess:
        owner = None
    while owner is not None and alive(owner):
        time.sleep(poll)
    if slurm_job_name is not None:
        cancel_slurm_job(slurm_job_name)
    # Processes of the cluster may still be starting (a launcher forks): look until none is left.
    for _ in range(5):
        procs = cluster_processes(cluster_id)
        if not procs:
            break
        end_processes(procs)
    for path in connection_files(cluster_id, security_dir) if security_dir is not None else []:
        path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    names = [a.split("=", 1)[1] for a in args if a.startswith("--scancel-name=")]
    args = [a for a in args if not a.startswith("--scancel-name=")]
    if len(args) not in (2, 3) or not args[0].isdigit() or len(names) > 1:
        print("usage: python -I watchdog.py OWNER_PID CLUSTER_ID [SECURITY_DIR] [--scancel-name=NAME]",
              file=sys.stderr)
        return 2
    watch(int(args[0]), args[1], args[2] if len(args) == 3 else None, slurm_job_name=names[0] if names else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
