"""Chapter 05, other algorithms in parallel: reading the runs."""

from __future__ import annotations

from exemplar.models.statistics import ALGORITHMS


#: Readable names, for tables and figures.
ALGORITHM_NAMES = {
    "mlp": "MLP (weight averaging)",
    "gaussian-nb": "Gaussian Naive Bayes",
    "lda": "LDA",
    "qda": "QDA",
    "tree": "decision tree → forest",
}


def summarize_algorithms(runs):
    """Per data set, training size, algorithm and engine count: means over the repeats, speedups, impact.

    Parameters
    ----------
    runs : DataFrame
        Rows of :func:`run_algorithm` with ``dataset`` and ``repeat``.

    Returns
    -------
    DataFrame
        ``dataset, n_train, algorithm, n_engines, runs``; the means of ``fit_seconds_max``,
        ``distribute_seconds``, ``combine_seconds``, ``wall_seconds``, ``accuracy_pct`` (and
        ``accuracy_pct_sd``); ``training_seconds`` (slowest fit + distribution + combination,
        the paper's time with overhead); ``speedup`` (1-engine training time / this one's),
        ``speedup_wall`` (the same for wall time), ``accuracy_change_pp`` (accuracy minus the
        1-engine accuracy, percentage points) and ``impact`` (accuracy / training time, the
        paper's impact factor with overhead). Speedups and changes are ``NaN`` where the
        1-engine run is missing.
    """
    import pandas as pd

    from exemplar.metrics import impact_factor, speedup

    keys = ["dataset", "n_train", "algorithm", "n_engines"]
    runs = runs.copy()
    runs["training_seconds"] = runs["fit_seconds_max"] + runs["distribute_seconds"] + runs["combine_seconds"]
    cols = ["fit_seconds_max", "distribute_seconds", "combine_seconds", "training_seconds", "wall_seconds",
            "accuracy_pct"]
    g = runs.groupby(keys, sort=True)
    out = pd.concat([g[cols].mean(), g["accuracy_pct"].std(ddof=1).rename("accuracy_pct_sd"),
                     g["training_seconds"].std(ddof=1).rename("training_seconds_sd"), g.size().rename("runs")],
                    axis=1).reset_index()
    one = out[out.n_engines == 1].set_index(["dataset", "n_train", "algorithm"])
    ref = out.set_index(["dataset", "n_train", "algorithm"]).index
    t1 = one["training_seconds"].reindex(ref).to_numpy()
    w1 = one["wall_seconds"].reindex(ref).to_numpy()
    a1 = one["accuracy_pct"].reindex(ref).to_numpy()
    out["speedup"] = speedup(t1, out["training_seconds"].to_numpy())
    out["speedup_wall"] = speedup(w1, out["wall_seconds"].to_numpy())
    out["accuracy_change_pp"] = out["accuracy_pct"].to_numpy() - a1
    out["impact"] = impact_factor(out["accuracy_pct"], out["training_seconds"])
    order = {a: i for i, a in enumerate(ALGORITHMS)}
    out["_order"] = out["algorithm"].map(lambda a: order.get(a, len(order)))
    return out.sort_values(["dataset", "n_train", "_order", "n_engines"]).drop(columns="_order").reset_index(drop=True)
