"""The driver's steps that run in the master alone: the source check and what a distribution reports."""

from __future__ import annotations

import numpy as np
import pytest

from exemplar.parallel.shards import array_source, check_source, csv_source
from exemplar.parallel.distribute import Distribution


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


def test_rank_0_reads_a_csv_once_then_its_binary_cache(tmp_path, digits):
    """The first read parses the CSV and writes its cache; later reads take the cache while the CSV is unchanged,
    with the same arrays; a damaged row past the rows asked for does not stop a read of the rows before it."""
    from exemplar.data import load_csv
    from exemplar.data.cache import cache_path
    from exemplar.parallel.shards import read_source

    X, y, _, _ = digits
    path = tmp_path / "train.csv"
    lines = ["label," + ",".join(f"pixel{i}" for i in range(784))]
    lines += [f"{label}," + ",".join(map(str, row)) for row, label in zip(X[:40], y[:40])]
    path.write_text("\n".join(lines) + "\n")
    first = read_source(csv_source(path, 30))
    assert cache_path(path).is_file()
    again = read_source(csv_source(path, 30))
    want = load_csv(path, 30)
    for got in (first, again):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    damaged = tmp_path / "damaged.csv"
    damaged.write_text("\n".join(lines[:21] + ["7,not-a-pixel"] + lines[22:]) + "\n")
    Xd, yd = read_source(csv_source(damaged, 10))
    np.testing.assert_array_equal(Xd, want[0][:10])
    assert not cache_path(damaged).exists()
