"""The one module that talks MPI for training: counted, timed collectives on flat buffers.

Every exchange of model state between the engines goes through a :class:`Collectives`: the
gradient sums of gradient all-reduce (:func:`exemplar.models.numpy_mlp.train`), the weight
averages of periodic averaging and of the combination's extra round (:mod:`exemplar.parallel.rounds`),
the gathers and reductions of the combination methods (:mod:`exemplar.parallel.combine`), and the
probe of an ``Allreduce``'s cost on dedicated cores (:meth:`Collectives.probe`). The numerics
(:mod:`exemplar.models`) never import ``mpi4py``: a trainer that communicates is handed a
:class:`Collectives` (it uses :attr:`~Collectives.size`, :meth:`~Collectives.allreduce` and
:meth:`~Collectives.allreduce_value`), as ipyparallel's ``wave2D`` example hands its solver the
communicator. (Distributing the data -- ``Bcast`` of a header and ``Scatterv`` of the shards --
is not training: it lives with the shards, :func:`exemplar.parallel.shards.scatter_source`.)

Counters
--------
Each counted call adds one to ``rounds``, the bytes this rank contributes to ``bytes`` (an
``Allreduce`` or ``Gather`` counts its buffer; an ``Allgather`` its own buffer sent plus the
other ``size - 1`` received) and its wall time (waiting for slower ranks included) to
``seconds``; ``last_seconds`` is the latest call's. A ``timer`` (anything with ``enter()`` and
``leave(seconds)``, e.g. :class:`exemplar.models.timing.RoundTimer`) given to a call is entered
just before the MPI call and left just after it. Set-up reductions of one number
(:meth:`~Collectives.allreduce_value`), barriers and the probe are not counted.

The order of the floating-point operations is the callers': :meth:`~Collectives.average`
multiplies each rank's values by its share and sums them (one ``MPI.SUM``), as every weighted
mean of this package always has.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np


def flatten(arrays, out: np.ndarray | None = None) -> np.ndarray:
    """The arrays as one contiguous vector (their common dtype), written into ``out`` when given.

    ``out`` must hold at least the arrays' total size; the vector returned is its first part.
    """
    if out is None:
        return np.concatenate([np.ravel(a) for a in arrays])
    start = 0
    for a in arrays:
        size = np.size(a)
        out[start:start + size] = np.ravel(a)
        start += size
    return out[:start]


def unflatten(vector: np.ndarray, shapes) -> list[np.ndarray]:
    """``vector`` cut into new arrays of ``shapes`` (shapes, or arrays to take them from): undoes :func:`flatten`."""
    out, start = [], 0
    for s in shapes:
        shape = tuple(getattr(s, "shape", s))
        size = int(np.prod(shape, dtype=np.int64))
        out.append(np.array(vector[start:start + size].reshape(shape)))
        start += size
    return out


class Collectives:
    """A communicator's collectives on flat numpy buffers, counting rounds, bytes (this rank's) and seconds.

    Parameters
    ----------
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``.

    Attributes
    ----------
    rank, size : int
        This rank and the number of ranks.
    rounds, bytes, seconds, last_seconds
        The counters (see the module's documentation).
    """

    def __init__(self, comm=None):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.rounds, self.bytes, self.seconds, self.last_seconds = 0, 0, 0.0, 0.0

    def counters(self) -> tuple[int, int, float]:
        """``(rounds, bytes, seconds)`` so far."""
        return self.rounds, self.bytes, self.seconds

    def _call(self, collective, nbytes: int, timer) -> None:
        """Run ``collective()`` inside ``timer`` and count it."""
        if timer is not None:
            timer.enter()
        t0 = time.perf_counter()
        collective()
        seconds = time.perf_counter() - t0
        if timer is not None:
            timer.leave(seconds)
        self.rounds += 1
        self.bytes += int(nbytes)
        self.seconds += seconds
        self.last_seconds = seconds

    def allreduce(self, buf: np.ndarray, timer=None) -> np.ndarray:
        """Sum ``buf`` over the ranks, in place (one counted ``Allreduce``); returns ``buf``."""
        self._call(lambda: self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM), buf.nbytes, timer)
        return buf

    def average(self, arrays: Sequence[np.ndarray], share: float, extra: Sequence[float] = (), slots: int = 0,
                out: np.ndarray | None = None, timer=None) -> np.ndarray:
        """The ranks' ``arrays`` (and ``extra`` numbers) weighted by ``share``, summed: one counted ``Allreduce``.

        Each rank writes its arrays (:func:`flatten`) times its ``share`` (e.g. its fraction of the
        rows: the shares sum to 1, so the sum is the weighted mean), then ``slots`` numbers: its
        ``extra`` numbers (at most ``slots``) times ``share``, zeros after them; one ``Allreduce`` adds
        the buffers. Returns the buffer: the mean arrays, flat, then the ``slots`` sums. ``out``, a
        buffer of the same layout and of the arrays' dtype, is reused when given.
        """
        n = int(sum(np.size(a) for a in arrays))
        if out is None:
            out = np.empty(n + slots, dtype=np.asarray(arrays[0]).dtype)
        flat = flatten(arrays, out[:n])
        flat *= share
        if slots:
            out[n:] = 0.0
            out[n:n + len(extra)] = np.asarray(extra) * share
        return self.allreduce(out, timer)

    def gather(self, buf: np.ndarray) -> np.ndarray | None:
        """Every rank's ``buf`` as the rows of an array on rank 0 (``None`` elsewhere): one counted ``Gather``."""
        out = np.empty((self.size, buf.size), dtype=buf.dtype) if self.rank == 0 else None
        self._call(lambda: self.comm.Gather(buf, out, root=0), buf.nbytes, None)
        return out

    def allgather(self, buf: np.ndarray) -> np.ndarray:
        """Every rank's ``buf`` as the rows of an array on every rank: one counted ``Allgather``."""
        out = np.empty((self.size, buf.size), dtype=buf.dtype)
        self._call(lambda: self.comm.Allgather(buf, out), buf.nbytes * self.size, None)
        return out

    def allreduce_value(self, value, op: str = "sum"):
        """A set-up reduction of one Python number over the ranks (``op`` ``"sum"`` or ``"max"``), not counted."""
        ops = {"sum": self.MPI.SUM, "max": self.MPI.MAX}
        if op not in ops:
            raise ValueError(f"op must be 'sum' or 'max'; got {op!r}")
        return self.comm.allreduce(value, op=ops[op])

    def barrier(self) -> None:
        """Wait until every rank gets here (not counted)."""
        self.comm.Barrier()

    def probe(self, n_values: int, dtype: str = "float64", repeats: int = 21, warmup: int = 3) -> float:
        """The wall time of one ``Allreduce`` of ``n_values`` numbers between two ranks with a core each.

        Collective over the communicator: ranks 0 and 1 time ``repeats`` sum-``Allreduce`` calls of a
        buffer of ``n_values`` numbers of ``dtype`` on a communicator of their own (after ``warmup``
        untimed calls, each call after a ``Barrier`` so that neither waits for the other) while every
        other rank waits in a non-blocking barrier polled with short sleeps, leaving the cores to the
        pair. This is the collective's cost on dedicated cores at the message size of the training's
        rounds, whatever the engine count (:mod:`exemplar.parallel.dedicated`). Returns the median on
        rank 0, ``nan`` elsewhere and with fewer than two ranks. Not counted.
        """
        MPI = self.MPI
        if self.size < 2:
            return float("nan")
        pair = self.comm.Split(0 if self.rank < 2 else MPI.UNDEFINED, self.rank)
        times = []
        if pair != MPI.COMM_NULL:
            buf = np.ones(max(int(n_values), 1), dtype=dtype)
            for i in range(warmup + repeats):
                pair.Barrier()
                t0 = time.perf_counter()
                pair.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
            pair.Free()
        done = self.comm.Ibarrier()
        while not done.Test():
            time.sleep(0.0005)
        return float(np.median(times)) if self.rank == 0 else float("nan")
