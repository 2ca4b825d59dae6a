"""The whole report: how its cost grows with the training-set size and the engine count.

Two measurements, both as ratios taken in one run:

* ``report_scaling.csv``: the chapters' classifier (:func:`exemplar.analysis.sweep.chosen_model`) trained once sequentially
  (one process, one BLAS thread) and once exemplar-parallel (one-shot) on 2, 4 and 6 engines, on
  the first 6,000, 30,000 and 60,000 training images: fit and wall seconds, cluster start, and
  each size's cost relative to 6,000 images. The chapter multiplies each notebook's measured
  time at 6,000 images by these ratios to project what a full report at a larger ``n_train``
  would cost (a projection, labelled as such).
* ``sweep_engines.csv``: the same sweep grid points fitted one after another in this process
  and two at a time on a 2-engine cluster (``engines=2`` in the sweep notebook): each fit's own
  time both ways, so the chapter can show whether side-by-side fits keep sequential timings.

The report's own stage times are recorded by ``exemplar run`` and ``exemplar book`` themselves
(``results/report_stages.csv``), not here.

Run ``python -m exemplar.bench.report [--quick] [--output-dir DIR]`` (``make bench`` runs every benchmark).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from exemplar.bench import common

from exemplar import config, data, results
from exemplar.parallel import cluster
from exemplar.models import sklearn_mlp as mlp
from exemplar.analysis.sweep import chosen_model
from exemplar.parallel import fits
from exemplar import parallel as ex
from exemplar.validation import check_positive_int


def scaling_rows(sizes, engine_counts, hidden, epochs, n_test, seed=0):
    """One sequential fit per size, then one one-shot run per size on each engine count; ratios to the smallest size."""
    Xt, yt = data.load_mnist("test", n_rows=n_test)
    rows = []
    for n in sizes:
        X, y = data.load_mnist("train", n_rows=n)
        t0 = time.perf_counter()
        with threadpool_limits(limits=1):
            fit = mlp.fit_timed(mlp.build_mlp(hidden, epochs, seed), X.astype(np.float64), y)
        acc = mlp.accuracy_pct(fit.model, Xt.astype(np.float64), yt)
        rows.append({"kind": "sequential", "n_train": n, "n_engines": 1, "fit_seconds": fit.seconds,
                     "wall_seconds": time.perf_counter() - t0, "start_seconds": 0.0, "distribute_seconds": 0.0,
                     "n_iter": fit.n_iter, "accuracy_pct": acc})
    for k in engine_counts:
        t0 = time.perf_counter()
        with cluster.start_cluster(k) as cl:
            for n in sizes:
                src = ex.csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, n)
                res = ex.run_exemplar(cl, src, Xt, yt, hidden=hidden, epochs=epochs, seed=seed)
                rows.append({"kind": "exemplar one-shot", "n_train": n, "n_engines": k,
                             "fit_seconds": res.fit_seconds_max, "wall_seconds": res.wall_seconds,
                             "start_seconds": cl.start_seconds, "distribute_seconds": res.distribute_seconds,
                             "n_iter": max(res.n_iter), "accuracy_pct": res.accuracy_pct})
    df = pd.DataFrame(rows)
    base = df[df.n_train == min(sizes)].set_index(["kind", "n_engines"])
    df["fit_ratio"] = [r.fit_seconds / base.loc[(r.kind, r.n_engines), "fit_seconds"] for r in df.itertuples()]
    df["wall_ratio"] = [r.wall_seconds / base.loc[(r.kind, r.n_engines), "wall_seconds"] for r in df.itertuples()]
    df["oversubscribed"] = df.n_engines > results.usable_cores()
    return df


def sweep_rows(hidden_sizes, epochs, repeats, n_train, n_test, engines=2):
    """The same sweep grid one fit at a time in this process and two at a time on ``engines`` engines."""
    X, y = data.load_mnist("train", n_rows=n_train)
    Xt, yt = data.load_mnist("test", n_rows=n_test)
    grid = dict(hidden_sizes=hidden_sizes, epochs=epochs, repeats=repeats, seed=0, progress=False)
    t0 = time.perf_counter()
    here = fits.run_sweep(X, y, Xt, yt, **grid)
    here_wall = time.perf_counter() - t0
    with cluster.start_cluster(engines, launcher="local") as cl:
        t0 = time.perf_counter()
        there = fits.run_sweep(X, y, Xt, yt, cluster=cl, **grid)
        there_wall = time.perf_counter() - t0
    m = here.merge(there, on=["hidden", "epochs", "repeat", "seed"], suffixes=("_sequential", "_engines"))
    if not ((m.accuracy_pct_sequential == m.accuracy_pct_engines).all()
            and (m.n_iter_sequential == m.n_iter_engines).all()):
        raise common.BenchError("fits on the engines differ from the same fits in this process")
    m["time_ratio"] = m.train_seconds_engines / m.train_seconds_sequential
    m["engines"] = engines
    m["wall_sequential"] = here_wall
    m["wall_engines"] = there_wall
    return m[["hidden", "epochs", "repeat", "seed", "n_iter_sequential", "accuracy_pct_sequential",
              "train_seconds_sequential", "train_seconds_engines", "time_ratio", "engine", "engines",
              "wall_sequential", "wall_engines"]]


def params(quick: bool) -> dict:
    """The full sizes (6,000 to 60,000 images, 2 to 6 engines), or tiny ones for ``--quick``."""
    hidden, epochs, _ = chosen_model()
    if quick:
        return {"sizes": [300, 600], "engine_counts": [2], "hidden": 20, "epochs": 5, "n_test": 500,
                "sweep_hidden": [10, 20], "sweep_epochs": [5], "sweep_repeats": 1, "sweep_n_train": 400}
    return {"sizes": [6000, 30000, 60000], "engine_counts": [2, 4, 6], "hidden": hidden, "epochs": epochs,
            "n_test": config.N_TEST_TOTAL, "sweep_hidden": [50, 75, 100], "sweep_epochs": [50, 100],
            "sweep_repeats": 1, "sweep_n_train": config.PAPER_N_TRAIN}


def run(sizes, engine_counts, hidden, epochs, n_test, sweep_hidden, sweep_epochs, sweep_repeats, sweep_n_train,
        output_dir=None, quick=False) -> pd.DataFrame:
    """Write ``sweep_engines.csv``; return the rows of ``report_scaling.csv``.

    Raises
    ------
    ValueError
        A size or engine count that is not a positive integer (or a size above the training set), named.
    """
    sizes = sorted(check_positive_int(f"sizes[{i}]", n, maximum=config.N_TRAIN_TOTAL)
                   for i, n in enumerate(sizes))
    engine_counts = [check_positive_int(f"engine_counts[{i}]", k) for i, k in enumerate(engine_counts)]
    sw = sweep_rows(sweep_hidden, sweep_epochs, sweep_repeats, sweep_n_train, n_test)
    common.write("sweep_engines", sw, {"hidden_sizes": sweep_hidden, "epochs": sweep_epochs,
                                        "repeats": sweep_repeats, "n_train": sweep_n_train, "n_test": n_test},
                  quick=quick, output_dir=output_dir)
    return scaling_rows(sizes, engine_counts, hidden, epochs, n_test)


def main(argv=None) -> int:
    return common.main("report_scaling", __doc__.splitlines()[0], run, params, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
