"""Shared fixtures. Real-data tests use a few hundred MNIST images from `make data` (which `make test` runs)."""

from __future__ import annotations

import pytest

from exemplar import config


@pytest.fixture(scope="session")
def mnist_small():
    """The first 400 training and 500 test images, as (X_train, y_train, X_test, y_test)."""
    from exemplar import data

    if not (config.data_dir() / config.MNIST_TRAIN_CSV).is_file():
        pytest.fail("MNIST is missing: run `make data` (or `exemplar data`) before the tests", pytrace=False)
    X, y = data.load_mnist("train", n_rows=400)
    Xt, yt = data.load_mnist("test", n_rows=500)
    return X, y, Xt, yt
