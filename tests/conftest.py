"""Shared fixtures. Real-data tests use a few hundred MNIST images from `make data` (which `make test` runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exemplar import config
from exemplar.parallel.cluster import mpiexec_path, start_cluster

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


@pytest.fixture(scope="session")
def quick_book(tmp_path_factory) -> Path:
    """`exemplar run --quick` then `exemplar book` once, in a copy of the project; returns its root.

    Shared by the book and browser tests, so the suite builds the QUICK site only once.
    """
    root = tmp_path_factory.mktemp("site") / "project"
    root.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(config.ROOT / name, root / name)
    shutil.copytree(config.ROOT / "notebooks", root / "notebooks")
    shutil.copytree(config.ROOT / "book", root / "book", ignore=shutil.ignore_patterns("_run", "plotly*.js"))
    (root / "pyproject.toml").write_text("")
    env = {**os.environ, "EXEMPLAR_ROOT": str(root), "EXEMPLAR_DATA": str(config.data_dir())}
    env.pop("EXEMPLAR_RESULTS", None)
    exe = Path(sys.executable).parent / "exemplar"
    for cmd in (["run", "--quick"], ["book"]):
        proc = subprocess.run([str(exe), *cmd], env=env, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root
