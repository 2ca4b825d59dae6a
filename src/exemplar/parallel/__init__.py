"""Exemplar parallelism on an ipyparallel cluster of MPI engines.

* :mod:`~exemplar.parallel.cluster`: start and always stop a cluster, mapped by MPI rank.
* :mod:`~exemplar.parallel.remote`: remote calls by MPI rank that never hang (:func:`submit`, :func:`wait`).
* :mod:`~exemplar.parallel.shards`: shard bounds, sources, checksums.
* :mod:`~exemplar.parallel.engine`: what runs on the engines (the only module they call into).
* :mod:`~exemplar.parallel.train`: the MLP driver, check -> distribute -> train -> collect -> evaluate.
* :mod:`~exemplar.parallel.algorithms`: the same for the statistics models and trees.
"""

from exemplar.parallel.cluster import ClusterError, RunningCluster, start_cluster
from exemplar.parallel.remote import ExemplarError
from exemplar.parallel.shards import array_source, csv_source, features, shard_bounds, shard_checksum, shard_sizes
from exemplar.parallel.train import STRATEGIES, ExemplarResult, distribute_only, run_exemplar

__all__ = ["ClusterError", "ExemplarError", "RunningCluster", "start_cluster", "array_source", "csv_source",
           "features", "shard_bounds", "shard_checksum", "shard_sizes", "STRATEGIES", "ExemplarResult",
           "distribute_only", "run_exemplar"]
