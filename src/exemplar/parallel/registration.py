"""Waiting for a cluster's engines: registration and set-up that fail as soon as a member is gone.

:func:`exemplar.parallel.cluster.start_cluster` starts the controller and the engines, then waits
here: :func:`wait_for_engines` until every engine registered, :func:`set_up` until every engine ran
the cluster's set-up. Both give up with a :class:`ClusterError` at their timeout, and at once when
the controller exits (the chaos soak found a kernel waiting for ever on a set-up call whose
controller had been killed), the engine launcher exits or, for Slurm, the job ends.
"""

from __future__ import annotations

import time

from exemplar.parallel import security


class ClusterError(RuntimeError):
    """The cluster could not be started, or its engines do not form the expected MPI world."""


def _slurm():
    """:mod:`exemplar.parallel.slurm`, imported when needed (it imports ipyparallel's launchers)."""
    from exemplar.parallel import slurm

    return slurm


def controller_gone(cluster) -> bool:
    """Whether the controller this process started has exited."""
    controller = cluster.controller
    return controller is not None and getattr(controller, "state", None) == "after"


def set_up(rc, ids, cluster, setup, use_mpi: bool, timeout: float) -> list[dict]:
    """``setup(use_mpi)`` (the cluster's engine set-up) on every engine of ``ids``; its replies in that order.

    Waits at most ``timeout`` seconds and fails as soon as the controller exits: a blocking call would
    wait for ever on a dead controller (the chaos soak's finding).
    """
    ar = rc[ids].apply_async(setup, use_mpi)
    deadline = time.monotonic() + timeout
    while not ar.ready():
        if controller_gone(cluster):
            raise ClusterError("the controller exited while the engines were being set up: start the cluster again")
        if time.monotonic() > deadline:
            raise ClusterError(f"the engines were not set up within {timeout:g} s of registering; engine launcher "
                               f"output:\n{launcher_tail(cluster.engine_set)}")
        ar.wait(0.2)
    return ar.get()


def wait_for_engines(rc, cluster, n: int, timeout: float, job_id: str | None = None) -> None:
    """Wait until ``n`` engines registered; fail early if the engine launcher exits (or its Slurm job ends)."""
    deadline = time.monotonic() + timeout
    next_check = time.monotonic()
    def hint() -> str:  # a wrong key?
        return security.registration_hint(cluster, launcher_tail(cluster.engine_set, 200))

    while len(rc.ids) < n:
        engine_set = cluster.engine_set
        if job_id is not None and time.monotonic() >= next_check:
            _slurm().check_job(job_id, f"{n} engines were starting", lambda: launcher_tail(engine_set))
            next_check = time.monotonic() + 1.0
        if controller_gone(cluster):
            raise ClusterError(f"the controller exited before all {n} engines registered ({len(rc.ids)} did): "
                               "start the cluster again")
        if engine_set is not None and getattr(engine_set, "state", None) == "after":
            raise ClusterError(f"the engine launcher exited before all {n} engines registered ({len(rc.ids)} "
                               f"did){hint()}; its output:\n{launcher_tail(engine_set)}")
        if time.monotonic() > deadline:
            job = "" if job_id is None else f" ({_slurm().describe(job_id)})"
            raise ClusterError(f"only {len(rc.ids)} of {n} engines registered within {timeout:g} s{job}{hint()}; "
                               f"engine launcher output:\n{launcher_tail(engine_set)}")
        try:
            rc.wait_for_engines(n, timeout=min(0.25, max(0.01, deadline - time.monotonic())), interactive=False)
        except TimeoutError:
            pass


def launcher_tail(launcher, lines: int = 30) -> str:
    """The last ``lines`` lines of a launcher's output (a diagnostic: never raises)."""
    if launcher is None:
        return "(no launcher)"
    try:
        out = launcher.get_output(remove=False) or ""
    except Exception as exc:  # output is a diagnostic only
        return f"(could not read output: {exc})"
    return "".join(out.splitlines(True)[-lines:]) or "(empty)"
