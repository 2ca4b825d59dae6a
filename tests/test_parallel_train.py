"""The driver's steps that run in the master alone: the source check and what a distribution reports."""

from __future__ import annotations

import numpy as np
import pytest

from exemplar.parallel.shards import array_source, check_source, csv_source
from exemplar.parallel.train import Distribution


def test_a_distribution_reads_sizes_classes_and_times_from_its_ranks():
    ranks = [
        {"rank": 0, "n_cols": 784, "n_rows": 3, "labels": [0, 1], "checksum": 11, "read_seconds": 0.5,
         "distribute_seconds": 0.25},
        {"rank": 1, "n_cols": 784, "n_rows": 2, "labels": [1, 2], "checksum": 12, "read_seconds": 0.0,
         "distribute_seconds": 0.5},
    ]
    dist = Distribution("token", ranks)
    assert (dist.n_cols, dist.sizes, dist.classes, dist.checksums) == (784, [3, 2], [0, 1, 2], [11, 12])
    assert (dist.read_seconds, dist.distribute_seconds) == (0.5, 0.25)  # rank 0's


def test_check_source_refuses_more_engines_than_known_rows():
    X, y = np.zeros((5, 784), np.uint8), np.arange(5)
    assert check_source(array_source(X, y), 5) == 5
    with pytest.raises(ValueError, match=r"n_engines must be at most the number of training rows \(5\); got 6"):
        check_source(array_source(X, y), 6)
    assert check_source(csv_source("train.csv"), 1000) is None  # rows unknown until rank 0 reads them
    with pytest.raises(ValueError, match=r"at most the number of training rows \(3\); got 4"):
        check_source(csv_source("train.csv", n_rows=3), 4)
