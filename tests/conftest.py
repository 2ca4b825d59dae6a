"""Shared fixtures. Real-data tests use a few hundred MNIST images from `make data` (which `make test` runs)."""

from __future__ import annotations

import pytest

from exemplar import config
from exemplar.cluster import mpiexec_path, start_cluster

HAVE_MPIEXEC = mpiexec_path().exists()


@pytest.fixture(scope="session")
def mnist_small():
    """The first 400 training and 500 test images, as (X_train, y_train, X_test, y_test)."""
    from exemplar import data

    if not (config.data_dir() / config.MNIST_TRAIN_CSV).is_file():
        pytest.fail("MNIST is missing: run `make data` (or `exemplar data`) before the tests", pytrace=False)
    X, y = data.load_mnist("train", n_rows=400)
    Xt, yt = data.load_mnist("test", n_rows=500)
    return X, y, Xt, yt


@pytest.fixture(scope="module")
def cluster2():
    """One 2-engine MPI cluster shared by the tests of a module that need one."""
    if not HAVE_MPIEXEC:
        pytest.skip(f"no mpiexec at {mpiexec_path()}")
    with start_cluster(2) as cl:
        yield cl


@pytest.fixture(scope="module")
def cluster1():
    """One 1-engine MPI cluster shared by the tests of a module that need one."""
    if not HAVE_MPIEXEC:
        pytest.skip(f"no mpiexec at {mpiexec_path()}")
    with start_cluster(1) as cl:
        yield cl
