"""Shared fixtures and synthetic data.

Real-data tests use a few hundred MNIST images from `make data` (which `make test` runs); the
others use :func:`make_digits`, reproducible synthetic digits (no download): ten classes, each a
fixed random set of "stroke" pixels that are mostly on, over a sparse background, as 0-255
integers like MNIST. Tests marked ``mpi`` are skipped where this environment has no ``mpiexec``.
Test modules take what they share from here, as fixtures (no test module imports another).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from exemplar import config
from exemplar.parallel.cluster import have_mpiexec, mpiexec_path, start_cluster


# The fuzz tests' hypothesis profiles (tests/test_fuzz_*.py take theirs with settings.get_profile; the long one
# with EXEMPLAR_FUZZ_PROFILE=exemplar-fuzz-long). Hypothesis keeps its files in the temporary folder, not the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "exemplar-hypothesis")
settings.register_profile(
    "exemplar-fuzz", max_examples=40, deadline=timedelta(seconds=10), derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("exemplar-fuzz-long", parent=settings.get_profile("exemplar-fuzz"), max_examples=3000,
                          derandomize=False)


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``mpi`` where there is no ``mpiexec`` next to the interpreter."""
    if have_mpiexec():
        return
    skip = pytest.mark.skip(reason=f"no mpiexec at {mpiexec_path()}")
    for item in items:
        if "mpi" in item.keywords:
            item.add_marker(skip)


def make_digits(n: int, seed: int = 0, n_on: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (uint8, 784 pixels) of 10 separable classes, labels as balanced as possible."""
    proto = np.random.default_rng(12345)  # the class prototypes are the same for every seed
    masks = np.zeros((10, 784), dtype=bool)
    for c in range(10):
        masks[c, proto.choice(784, n_on, replace=False)] = True
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    rng.shuffle(y)
    on = (masks[y] & (rng.random((n, 784)) < 0.7)) | (rng.random((n, 784)) < 0.03)
    X = np.where(on, rng.integers(128, 256, size=(n, 784)), 0).astype(np.uint8)
    return X, y.astype(np.int64)


@pytest.fixture(scope="session")
def synthetic_digits():
    """:func:`make_digits` itself: ``synthetic_digits(n, seed=0, n_on=60) -> (X, y)``."""
    return make_digits


@pytest.fixture(scope="session")
def digits():
    """300 synthetic training and 300 test images, as (X_train, y_train, X_test, y_test)."""
    X, y = make_digits(300, seed=0)
    Xt, yt = make_digits(300, seed=1)
    return X, y, Xt, yt


@pytest.fixture(scope="session")
def n_params():
    """``n_params(hidden, n_features=784, n_classes=10)``: the weights of a one-hidden-layer MLP."""
    def count(hidden: int, n_features: int = 784, n_classes: int = 10) -> int:
        return n_features * hidden + hidden + hidden * n_classes + n_classes

    return count


def need_mnist() -> None:
    """Fail the calling test, naming the fix, where `make data` has not written MNIST."""
    if not (config.data_dir() / config.MNIST_TRAIN_CSV).is_file():
        pytest.fail("MNIST is missing: run `make data` (or `exemplar data`) before the tests", pytrace=False)


@pytest.fixture(scope="session")
def quick_bench(tmp_path_factory):
    """``run(name, main)``: a benchmark's ``main(argv)`` with ``--quick`` into a fresh temporary folder.

    Returns ``(exit code, folder, rows of NAME.csv or None)``; fails where MNIST is missing.
    """
    def run(name, main):
        import pandas as pd

        need_mnist()
        out = tmp_path_factory.mktemp("bench")
        code = main(["--quick", "--output-dir", str(out)])
        csv = out / f"{name}.csv"
        return code, out, pd.read_csv(csv) if csv.is_file() else None

    return run


@pytest.fixture(scope="session")
def mnist_small():
    """The first 400 training and 500 test images, as (X_train, y_train, X_test, y_test)."""
    from exemplar import data

    need_mnist()
    X, y = data.load_mnist("train", n_rows=400)
    Xt, yt = data.load_mnist("test", n_rows=500)
    return X, y, Xt, yt


@pytest.fixture(scope="module")
def cluster2():
    """One 2-engine MPI cluster shared by the tests of a module that need one."""
    if not have_mpiexec():
        pytest.skip(f"no mpiexec at {mpiexec_path()}")
    with start_cluster(2) as cl:
        yield cl


@pytest.fixture(scope="module")
def cluster1():
    """One 1-engine MPI cluster shared by the tests of a module that need one."""
    if not have_mpiexec():
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
