"""What float32 costs: the test accuracy of the fast trainer in float32 against float64, seed by seed.

Chapters 04, 04b and 05 train in float32 by default; the paper's chapters 02 and 03 train in float64
with scikit-learn. This benchmark measures, once and over seeds, what the narrower type costs in
accuracy and what it saves in time: the fast trainer (:func:`exemplar.models.numpy_mlp.train`) fits
the paper's network (75 hidden units, at most 75 epochs, scikit-learn's other defaults) on the first
6,000 MNIST training images in this process, BLAS on one thread, for every seed in float64 and then
in float32 (same seed: same initial weights and shuffles), on the raw 0-255 pixels and on pixels / 255
(``scale=255``); each fit is scored on the 10,000 test images in its own dtype. One row per
(inputs, seed, dtype): ``accuracy_pct``, ``n_iter``, ``fit_seconds``, ``fit_cpu_seconds``.
:func:`exemplar.analysis.performance.dtype_summary` pairs the two dtypes per seed.

Run ``python -m exemplar.bench.dtype [--quick] [--output-dir DIR]`` (``make bench`` runs every benchmark).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from exemplar import config, data, paper
from exemplar.bench import common
from exemplar.models import numpy_mlp
from exemplar.validation import check_positive_int

#: The dtypes compared, float64 (the reference) first.
DTYPES = ("float64", "float32")

#: The input scalings, as ``(label, scale)``: the labels those of ``compute.csv``.
INPUTS = (("raw 0-255", None), ("pixels / 255", 255))


def scaled_features(X: np.ndarray, dtype: str, scale) -> np.ndarray:
    """The test pixels as the features a model trained in ``dtype`` with ``scale`` reads."""
    Xf = X.astype(dtype)
    if scale is not None:
        Xf /= Xf.dtype.type(scale)
    return Xf


def fit_row(X, y, Xt, yt, hidden, epochs, seed, dtype, inputs, scale) -> dict:
    """One sequential fit of the fast trainer on one BLAS thread, scored on the test set."""
    with threadpool_limits(limits=1):
        res = numpy_mlp.train(X, y, hidden, epochs, seed, dtype=dtype, scale=scale)
        classes = np.unique(y)
        pred = classes[res.net.predict_proba(scaled_features(Xt, dtype, scale)).argmax(axis=1)]
    return {"inputs": inputs, "seed": seed, "dtype": dtype, "n_train": len(y), "n_test": len(yt), "hidden": hidden,
            "epochs_max": epochs, "accuracy_pct": float(100.0 * np.mean(pred == yt)), "n_iter": int(res.n_iter),
            "fit_seconds": float(res.seconds), "fit_cpu_seconds": float(res.cpu_seconds)}


def params(quick: bool) -> dict:
    """The paper's network on 6,000 images, seeds 0..4; ``--quick``: 1,000 images, 20 epochs, 2 seeds."""
    hidden, epochs = paper.OPTIMUM
    if quick:
        return {"n_train": 1000, "n_test": config.N_TEST_TOTAL, "hidden": hidden, "epochs": 20, "seeds": 2}
    return {"n_train": config.PAPER_N_TRAIN, "n_test": config.N_TEST_TOTAL, "hidden": hidden, "epochs": epochs,
            "seeds": 5}


def run(n_train, n_test, hidden, epochs, seeds) -> pd.DataFrame:
    """Every (inputs, seed) fitted in float64 then float32.

    Returns
    -------
    DataFrame
        One row per fit: ``inputs, seed, dtype, n_train, n_test, hidden, epochs_max, accuracy_pct, n_iter,
        fit_seconds, fit_cpu_seconds``.

    Raises
    ------
    ValueError
        A size that is not a positive integer, named.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test), ("hidden", hidden), ("epochs", epochs),
                        ("seeds", seeds)):
        check_positive_int(name, value)
    X, y = data.load_mnist("train", n_train)
    Xt, yt = data.load_mnist("test", n_test)
    rows = [fit_row(X, y, Xt, yt, hidden, epochs, seed, dtype, inputs, scale)
            for inputs, scale in INPUTS for seed in range(seeds) for dtype in DTYPES]
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    return common.main("dtype", __doc__.splitlines()[0], run, params, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
