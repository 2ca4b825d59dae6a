"""Chapter 01's text: where MNIST comes from, the paper's 9,999 test images, the classes.

The chapter's tables (:func:`source_table`, :func:`header_table`, :func:`class_counts`) and its computed
sentence (:func:`loaded_sentence`); its parameters are :mod:`exemplar.experiments.data_overview`'s.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from exemplar import config

#: Accuracies (%) the paper printed: each is a whole number of 9,999 test images.
PAPER_ACCURACIES = [85.8985, 88.2288, 89.6289, 89.4989, 88.3188]


def checksum_of(sums_text: str, name: str) -> str:
    """The SHA-256 of file ``name`` in the text of ``data/SHA256SUMS`` ("HASH  NAME" lines)."""
    for line in sums_text.split("\n"):
        if line.endswith(name):
            return line.split()[0]
    raise ValueError(f"no checksum for {name} in SHA256SUMS; expected a line 'HASH  {name}': run `exemplar data`")


def source_table(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                 sums_text: str | None = None) -> pd.DataFrame:
    """The two CSV files: images, pixel range and SHA-256 (from ``sums_text``, default ``data/SHA256SUMS``)."""
    if sums_text is None:
        sums_text = (config.data_dir() / "SHA256SUMS").read_text()
    names = (config.MNIST_TRAIN_CSV, config.MNIST_TEST_CSV)
    return pd.DataFrame({
        "file": list(names),
        "images": [len(y_train), len(y_test)],
        "pixel range": [f"{X_train.min()}–{X_train.max()}", f"{X_test.min()}–{X_test.max()}"],
        "sha256": [checksum_of(sums_text, name) for name in names],
    })


def header_table(accuracies: Sequence[float] = tuple(PAPER_ACCURACIES)) -> pd.DataFrame:
    """The paper's accuracies as counts out of 9,999 and out of 10,000 test images."""
    accuracies = list(accuracies)
    return pd.DataFrame({
        "paper's accuracy (%)": accuracies,
        "× 9,999 / 100": [a * 9999 / 100 for a in accuracies],
        "× 10,000 / 100": [a * 10000 / 100 for a in accuracies],
    }).round(3)


def loaded_sentence(n_train_images: int, n_test_images: int, n_train: int) -> str:
    """"Test images loaded: **10,000**; training images: **60,000**, of which the experiments use the first **N**."

    Raises
    ------
    ValueError
        When the test set is not the whole 10,000 images.
    """
    if n_test_images != config.N_TEST_TOTAL:
        raise ValueError(f"the test set must hold all {config.N_TEST_TOTAL:,} images; got {n_test_images:,}: "
                         "rerun `exemplar data`")
    return (f"Test images loaded: **{n_test_images:,}**; training images: **{n_train_images:,}**, "
            f"of which the experiments use the first **{n_train:,}**.")


def class_counts(y_train: np.ndarray, y_test: np.ndarray, n_train: int) -> pd.DataFrame:
    """Images per digit in the first ``n_train`` training images and in the test set (long form)."""
    return pd.concat([
        pd.DataFrame({"digit": np.arange(10), "split": f"first {n_train:,} training images",
                      "images": np.bincount(y_train[:n_train], minlength=10)}),
        pd.DataFrame({"digit": np.arange(10), "split": "10,000 test images",
                      "images": np.bincount(y_test, minlength=10)}),
    ])
