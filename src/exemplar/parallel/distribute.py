"""How the training data reach the engines: one run's shards, and the checks the drivers share.

:func:`distribute` is the first step of every driver (:func:`exemplar.parallel.train.run_exemplar`,
:func:`exemplar.parallel.combine.run_combination`, :func:`exemplar.parallel.algorithms.fit_parallel`):
every engine runs :func:`exemplar.parallel.engine.distribute_shards` (rank 0 reads the source, the
shards go out by ``Scatterv``: :func:`exemplar.parallel.shards.scatter_source`) and keeps its shard
under the run's token. :func:`check_shards` is the one check of the shards against the test set;
:func:`forget_run` drops a run's state on every engine.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from exemplar.parallel import engine
from exemplar.parallel.remote import submit, wait
from exemplar.parallel.shards import check_source
from exemplar.validation import check_mpi_cluster


@dataclass(frozen=True)
class Distribution:
    """Where one run's shards went: what :func:`distribute` returns.

    Attributes
    ----------
    token : str
        The run's key on the engines (:func:`exemplar.parallel.engine.state`).
    ranks : list of dict
        Per rank, in rank order, what :func:`exemplar.parallel.engine.distribute_shards` returned:
        ``rank``, ``pid``, ``n_rows_total``, ``n_cols``, ``start``, ``n_rows``, ``labels``,
        ``checksum``, ``read_seconds`` (rank 0's read; 0 elsewhere), ``distribute_seconds``.
    n_cols, sizes, classes, checksums, read_seconds, distribute_seconds
        Read from ``ranks``: the training data's columns; rows per rank; every label of some
        shard, sorted; each rank's :func:`~exemplar.parallel.shards.shard_checksum`; rank 0's
        read and scatter times.
    """

    token: str
    ranks: list[dict]

    @property
    def n_cols(self) -> int:
        return self.ranks[0]["n_cols"]

    @property
    def sizes(self) -> list[int]:
        return [d["n_rows"] for d in self.ranks]

    @property
    def classes(self) -> list:
        return sorted(set().union(*(d["labels"] for d in self.ranks)))

    @property
    def checksums(self) -> list[int]:
        return [d["checksum"] for d in self.ranks]

    @property
    def read_seconds(self) -> float:
        return self.ranks[0]["read_seconds"]

    @property
    def distribute_seconds(self) -> float:
        return self.ranks[0]["distribute_seconds"]


def distribute(cl, source, timeout: float | None) -> Distribution:
    """A driver's first step: rank 0 reads ``source`` and scatters one shard to every rank (all ranks join).

    The shards stay on the engines under a new run token, for the steps that follow; drop them
    with :func:`forget_run`. ``cl`` and ``source`` must have been checked (:func:`check_mpi_cluster
    <exemplar.validation.check_mpi_cluster>`, :func:`check_source <exemplar.parallel.shards.check_source>`).

    Raises
    ------
    EngineError
        When rank 0 cannot read the source, or a rank fails or times out.
    """
    token = uuid.uuid4().hex
    ars = submit(cl, engine.distribute_shards, lambda rank: (token, source if rank == 0 else None))
    return Distribution(token, wait(cl, ars, "reading and distributing the data", timeout))


def check_shards(dist: Distribution, n_features: int, every_class: bool = True) -> list:
    """The run's classes (every label of some shard, sorted), once the shards suit the test set.

    Raises
    ------
    ValueError
        When the test set's ``n_features`` columns are not the training data's, or (``every_class``)
        a shard lacks a class: a network learns only the classes it sees, and networks of different
        output sizes cannot be averaged or combined. The caller forgets the run (:func:`forget_run`).
    """
    if n_features != dist.n_cols:
        raise ValueError(f"X_test must have {dist.n_cols} columns, as the training data; got {n_features}")
    classes = dist.classes
    lacking = {d["rank"]: sorted(set(classes) - set(d["labels"])) for d in dist.ranks
               if len(d["labels"]) < len(classes)}
    if every_class and lacking:
        detail = "; ".join(f"rank {r} lacks {m}" for r, m in lacking.items())
        raise ValueError(
            "every shard must hold every class (MLPClassifier learns only the classes it sees, and "
            f"weights of different output sizes cannot be averaged or combined): {detail}. Use fewer engines, "
            "or shuffle the training rows"
        )
    return classes


def distribute_checked(cl, source, n_features: int, timeout: float | None) -> tuple[Distribution, list]:
    """:func:`distribute`, then :func:`check_shards` against a test set of ``n_features`` columns: the
    distribution and the run's classes. A shard that does not suit is refused (``ValueError``) and the
    engines forget the run."""
    dist = distribute(cl, source, timeout)
    try:
        return dist, check_shards(dist, n_features)
    except ValueError:
        forget_run(cl)
        raise


def forget_run(cl) -> None:
    """Ask every engine to drop its run state; does not wait (an engine may be busy or stuck)."""
    try:
        cl.view.apply_async(engine.forget)
    except Exception:
        pass


def distribute_only(cl, source, timeout: float | None = 600.0) -> list[dict]:
    """Read and scatter ``source`` as every driver does (:func:`distribute`), without fitting.

    Returns
    -------
    list of dict
        Per rank, in rank order (:attr:`Distribution.ranks`): ``rank``, ``start``, ``n_rows``,
        ``checksum`` (:func:`~exemplar.parallel.shards.shard_checksum` of what it received), ``read_seconds`` (rank 0),
        ``distribute_seconds``. For tests and for timing the scatter alone.
    """
    check_source(source, check_mpi_cluster(cl, "distribute_only"))
    try:
        return distribute(cl, source, timeout).ranks
    finally:
        forget_run(cl)
