"""Remote calls by MPI rank: submit one call per rank, wait for all of them, and fail loudly.

:func:`submit` sends ``func(*args_of_rank(rank))`` to every rank's engine of a
:class:`~exemplar.parallel.cluster.RunningCluster`; :func:`wait` collects the replies in rank
order (results come back by engine id: they are mapped by rank here). A wait never hangs on a
lost cluster: it raises :class:`EngineError`, naming the rank and the engine, as soon as any
rank fails, and once ``timeout`` seconds have passed.
"""

from __future__ import annotations

import time
from typing import Any


class EngineError(RuntimeError):
    """A step failed or timed out on an engine. The message names the rank and the engine.

    (Not ipyparallel's ``ipyparallel.error.EngineError``, which says that an engine died:
    :func:`wait` reports that one as the cause.)
    """


#: Seconds between two checks, while waiting, that the cluster's controller still runs.
CONTROLLER_CHECK_SECONDS = 1.0


def check_controller(cl, step: str) -> None:
    """Raise :class:`EngineError` naming the controller if its process is gone (nothing can reach the engines).

    Clusters that cannot tell (no ``controller_alive`` method, or a controller this process did
    not start) pass.
    """
    controller_alive = getattr(cl, "controller_alive", None)
    if controller_alive is None or controller_alive():
        return
    raise EngineError(
        f"the cluster's controller (ipcontroller, pid {getattr(cl, 'controller_pid', None)}) is no longer "
        f"running, so {step} cannot finish: stop the cluster (leave its `with` block) and start a new one"
    )


def _refuse_gone(cl, registered: set, cause: BaseException | None = None) -> None:
    """Raise :class:`EngineError` naming the ranks whose engines are no longer registered, if any."""
    gone = [r for r in range(cl.n) if cl.engine_of[r] not in registered]
    if gone:
        who = ", ".join(f"rank {r} (engine {cl.engine_of[r]})" for r in gone)
        raise EngineError(
            f"{who} no longer registered with the controller (dead?); "
            "stop the cluster (leave its `with` block) and start a new one"
        ) from cause


def submit(cl, func, args_of_rank) -> dict[int, Any]:
    """Submit ``func(*args_of_rank(rank))`` to every rank's engine; refuse if an engine or the controller is gone."""
    check_controller(cl, f"submitting {getattr(func, '__name__', func)}")
    _refuse_gone(cl, set(cl.rc.ids))
    ars = {}
    for rank in range(cl.n):
        try:
            ars[rank] = cl.rc[cl.engine_of[rank]].apply_async(func, *args_of_rank(rank))
        except Exception as exc:
            # the controller may unregister a dead engine between the check above and this call
            _refuse_gone(cl, set(cl.rc.ids), cause=exc)
            raise EngineError(
                f"could not submit {func.__name__} to rank {rank} (engine {cl.engine_of[rank]}): {exc}; "
                "stop the cluster (leave its `with` block) and start a new one"
            ) from exc
    return ars


def wait(cl, ars: dict[int, Any], step: str, timeout: float | None) -> list:
    """Results of one async call per rank, in rank order.

    Raises :class:`EngineError` naming the rank(s) and engine(s) as soon as any rank fails
    (after a short grace for the other ranks' errors, so the first cause is reported too),
    naming the ranks still running once ``timeout`` seconds have passed, or naming the
    controller within :data:`CONTROLLER_CHECK_SECONDS` of its process ending (the replies
    would never come).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    next_check = time.monotonic() + CONTROLLER_CHECK_SECONDS
    while True:
        pending = [rank for rank, ar in ars.items() if not ar.ready()]
        if any(ars[r].ready() and not ars[r].successful() for r in ars):
            grace = time.monotonic() + 1.0
            while pending and time.monotonic() < grace:
                ars[pending[0]].wait(0.05)
                pending = [rank for rank, ar in ars.items() if not ar.ready()]
            _raise_failures(cl, ars, step)
        if not pending:
            return [ars[rank].get() for rank in sorted(ars)]
        if deadline is not None and time.monotonic() > deadline:
            alive = set(cl.rc.ids)
            who = ", ".join(
                f"rank {r} (engine {cl.engine_of[r]}{'' if cl.engine_of[r] in alive else ', no longer registered'})"
                for r in pending
            )
            raise EngineError(
                f"{step} did not finish within {timeout:g} s on {who}; "
                "stop the cluster (leave its `with` block) and start a new one"
            )
        if time.monotonic() >= next_check:
            check_controller(cl, step)
            next_check = time.monotonic() + CONTROLLER_CHECK_SECONDS
        pause = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
        ars[pending[0]].wait(pause)


def _raise_failures(cl, ars: dict[int, Any], step: str) -> None:
    failures = []
    for rank in sorted(ars):
        ar = ars[rank]
        if ar.ready() and not ar.successful():
            try:
                ar.get()
            except Exception as exc:
                failures.append((rank, exc))
    first_exc = failures[0][1]
    detail = "; ".join(f"rank {r} (engine {cl.engine_of[r]}): {_describe(e)}" for r, e in failures)
    hint = ""
    died = [r for r, e in failures if _engine_died(e)]
    if died:
        hint = (
            "; an engine died (MPI then ends the whole job): stop the cluster "
            "(leave its `with` block) and start a new one"
        )
    elif len(failures) < len(ars):
        hint = (
            "; the other ranks may be blocked in an MPI collective: stop the cluster "
            "(leave its `with` block) and start a new one"
        )
    raise EngineError(f"{step} failed on {detail}{hint}") from first_exc


def _engine_died(exc: BaseException) -> bool:
    """Whether ``exc`` is ipyparallel's report that an engine died (its ``EngineError``, raised or wrapped)."""
    from ipyparallel import error

    if isinstance(exc, error.EngineError):
        return True
    return getattr(exc, "ename", None) == "EngineError" and "died" in str(getattr(exc, "evalue", ""))


def _describe(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(exc).__name__}: {exc}"
