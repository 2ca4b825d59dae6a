"""Exemplar parallelism on an ipyparallel cluster of MPI engines.

* :mod:`~exemplar.parallel.cluster`: start and always stop a cluster, mapped by MPI rank.
* :mod:`~exemplar.parallel.registration`: waiting for the engines, giving up at once when the controller is gone.
* :mod:`~exemplar.parallel.remote`: remote calls by MPI rank that never hang (:func:`submit`, :func:`wait`).
* :mod:`~exemplar.parallel.shards`: shard bounds, sources, checksums, and the scatter of the shards.
* :mod:`~exemplar.parallel.collectives`: the training's MPI collectives, counted and timed (the only
  module that calls them), and ``flatten`` / ``unflatten``.
* :mod:`~exemplar.parallel.rounds`: how the strategies drive an epoch trainer with the collectives.
* :mod:`~exemplar.parallel.engine`: what runs on the engines (the module they call into).
* :mod:`~exemplar.parallel.distribute`: a run's shards on the engines, and the shards' check.
* :mod:`~exemplar.parallel.train`: the MLP driver, check -> distribute -> train -> collect -> evaluate.
* :mod:`~exemplar.parallel.combine`: combining the networks of one-shot training, method by method.
* :mod:`~exemplar.parallel.algorithms`: the driver for the statistics models and trees.
"""

from exemplar.parallel.cluster import ClusterError, RunningCluster, start_cluster
from exemplar.parallel.distribute import distribute_only
from exemplar.parallel.engine import APART, STRATEGIES
from exemplar.parallel.remote import EngineError
from exemplar.parallel.shards import array_source, csv_source, features, shard_bounds, shard_checksum, shard_sizes
from exemplar.parallel.train import ExemplarResult, run_exemplar

__all__ = ["ClusterError", "EngineError", "RunningCluster", "start_cluster", "array_source", "csv_source",
           "features", "shard_bounds", "shard_checksum", "shard_sizes", "APART", "STRATEGIES", "ExemplarResult",
           "distribute_only", "run_exemplar"]
