"""Per-round timers of the trainers that communicate: compute CPU time apart from time inside MPI.

Periodic averaging (:func:`exemplar.parallel.rounds.periodic_fit`) and the gradient trainer
(:func:`exemplar.models.numpy_mlp.train` with collectives) run in *rounds*: compute, then one
``Allreduce``. :class:`RoundTimer` records, per round, this thread's CPU time spent computing
(``time.thread_time``: BLAS is pinned to this one thread, so it is the compute's whole CPU
time) and the wall time inside the round's ``Allreduce``. CPU time barely moves when other
processes share the core (they take wall time, not this thread's CPU time), so the compute of a
round measured beside other work is what it would take on a core of its own; the ``Allreduce``
calls are left out because MPICH spins while it waits, which is CPU time but not work.
"""

from __future__ import annotations

import time


class RoundTimer:
    """Compute CPU time and ``Allreduce`` wall time, one entry per communication round.

    Call :meth:`enter` just before a round's ``Allreduce`` and :meth:`leave` just after it;
    :meth:`finish` once the training is over (the compute after the last ``Allreduce`` is added to
    the last round). The clock starts when the timer is made.

    Attributes
    ----------
    cpu : list of float
        Per round, this thread's CPU seconds from the end of the previous ``Allreduce`` (or the
        start) to the start of this one.
    comm : list of float
        Per round, the wall seconds inside its ``Allreduce`` (waiting for slower ranks included).
    total : float
        After :meth:`finish`: all the compute CPU time (the rounds' sum, or the whole run without rounds).
    """

    def __init__(self):
        self.cpu: list[float] = []
        self.comm: list[float] = []
        self.total = 0.0
        self._mark = time.thread_time()

    def enter(self) -> None:
        """A round's compute ends: its ``Allreduce`` starts."""
        self.cpu.append(time.thread_time() - self._mark)

    def leave(self, seconds: float) -> None:
        """The round's ``Allreduce`` ended after ``seconds`` of wall time; the next round's compute starts."""
        self.comm.append(float(seconds))
        self._mark = time.thread_time()

    def finish(self) -> float:
        """Add the compute since the last ``Allreduce`` to the last round; return the total compute CPU time.

        Without a round (no communicator) the rounds stay empty and the total is all the compute.
        """
        tail = time.thread_time() - self._mark
        if self.cpu:
            self.cpu[-1] += tail
        self._mark = time.thread_time()
        self.total = float(sum(self.cpu)) if self.cpu else float(tail)
        return self.total
