"""A cluster's parent-death watch: its processes end when the process that owns the cluster dies.

:func:`exemplar.parallel.cluster.start_cluster` starts one watchdog per cluster: a small process
of its own (in a session of its own, so a signal to the owner's process group does not reach
it) that polls the owner's pid. When the owner is gone -- whatever ended it: ``SIGKILL``, a
crashed or killed kernel, a ``Ctrl-C`` that interrupted the cleanup -- it ends every process of
the cluster (found by the ``IPP_CLUSTER_ID`` they all inherit): ``SIGTERM``, then ``SIGKILL``
after a short grace -- and removes the cluster's connection files, which name a controller that
is gone. When the owner stops the cluster itself, it ends the watchdog too (:func:`stop_watchdog`).

It also holds what finds a cluster's processes (:func:`cluster_processes`), so it imports nothing
of this package: :func:`start_watchdog` runs it as ``python -I .../watchdog.py OWNER_PID
CLUSTER_ID [SECURITY_DIR]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

#: Seconds between two looks at the owner; with the grace below, a cluster ends within ~5 s of its owner.
POLL_SECONDS = 0.5

#: Seconds the cluster's processes get to exit after ``SIGTERM`` before ``SIGKILL``.
GRACE_SECONDS = 2.0


def start_watchdog(cluster_id: str, owner_pid: int | None = None,
                   security_dir: str | os.PathLike | None = None) -> subprocess.Popen:
    """Start the watchdog of cluster ``cluster_id``, owned by ``owner_pid`` (default: this process).

    ``security_dir`` is where ipyparallel keeps the cluster's connection files
    (:func:`connection_files`), removed when the owner dies.
    """
    owner = os.getpid() if owner_pid is None else int(owner_pid)
    env = {k: v for k, v in os.environ.items() if k != "IPP_CLUSTER_ID"}  # not a process of the cluster itself
    extra = [] if security_dir is None else [os.fspath(security_dir)]
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


def connection_files(cluster_id: str, security_dir: str | os.PathLike) -> list[Path]:
    """The files ipyparallel writes for cluster ``cluster_id`` in ``security_dir`` (the cluster's, the controller's)."""
    names = (f"cluster-{cluster_id}.json", f"ipcontroller-{cluster_id}-client.json",
             f"ipcontroller-{cluster_id}-engine.json")
    return [Path(security_dir) / name for name in names]


def watch(owner_pid: int, cluster_id: str, security_dir: str | os.PathLike | None = None,
          poll: float = POLL_SECONDS) -> None:
    """Wait for process ``owner_pid`` to end, then end every process of cluster ``cluster_id``
    and remove its connection files from ``security_dir``."""
    try:
        owner = psutil.Process(owner_pid)
    except psutil.NoSuchProcess:
        owner = None
    while owner is not None and alive(owner):
        time.sleep(poll)
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
    if len(args) not in (2, 3) or not args[0].isdigit():
        print("usage: python -I watchdog.py OWNER_PID CLUSTER_ID [SECURITY_DIR]", file=sys.stderr)
        return 2
    watch(int(args[0]), args[1], args[2] if len(args) == 3 else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
