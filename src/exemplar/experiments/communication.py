"""Chapter 04, communication strategies: reading the runs per strategy, and the title question."""

from __future__ import annotations

import numpy as np


def variant_name(strategy: str, sync_every=None) -> str:
    """A label for a strategy and its setting: ``"periodic, every 5 epochs"``, else the strategy."""
    if strategy == "periodic":
        k = int(sync_every)
        return f"periodic, every {k} epoch{'s' if k != 1 else ''}"
    return str(strategy)


def _with_derived(runs):
    runs = runs.copy()
    if "variant" not in runs.columns:
        runs["variant"] = [variant_name(s, e) for s, e in zip(runs["strategy"], runs.get("sync_every", [None] * len(runs)))]
    if "scale_inputs" not in runs.columns:
        runs["scale_inputs"] = False
    runs["training_seconds"] = runs["fit_seconds_max"] + runs["distribute_seconds"] + runs["combine_seconds"]
    return runs


def summarize_strategies(runs):
    """Per input scaling, strategy variant and engine count: means (and sd) over the repeats.

    Parameters
    ----------
    runs : DataFrame
        Rows of :meth:`ExemplarResult.as_row` (plus ``variant``, else derived from ``strategy`` and
        ``sync_every``).

    Returns
    -------
    DataFrame
        ``scale_inputs, variant, strategy, n_engines, runs``, the mean and sd of ``accuracy_pct``,
        ``wall_seconds`` and ``training_seconds`` (slowest engine's fit + distribution + combination),
        and the means of ``fit_seconds_max``, ``comm_rounds``, ``comm_bytes``, ``comm_seconds``
        (and ``n_iter_max`` when present).
    """
    import pandas as pd

    runs = _with_derived(runs)
    keys = ["scale_inputs", "variant", "strategy", "n_engines"]
    g = runs.groupby(keys, sort=True)
    out = g[["accuracy_pct", "wall_seconds", "training_seconds"]].agg(["mean", "std"])
    out.columns = [f"{a}_{'mean' if b == 'mean' else 'sd'}" for a, b in out.columns]
    extra = [c for c in ("fit_seconds_max", "comm_rounds", "comm_bytes", "comm_seconds", "n_iter_max")
             if c in runs.columns]
    out = pd.concat([out, g[extra].mean(), g.size().rename("runs")], axis=1).reset_index()
    return out


def speed_at_same_accuracy(summary, tolerance_pp: float = 0.5, reference: str = "one-shot"):
    """The title question, per input scaling and engine count (more than one).

    The reference is the 1-engine run of ``reference`` (one-shot with one engine is a plain
    sequential ``fit``). A variant reaches "the same accuracy" when its mean accuracy is at least
    the reference's minus ``tolerance_pp`` percentage points (being more accurate counts).

    Parameters
    ----------
    summary : DataFrame
        :func:`summarize_strategies`' table.

    Returns
    -------
    DataFrame
        Per ``scale_inputs`` and ``n_engines``: ``sequential_accuracy``, ``sequential_wall``,
        ``reached`` (some variant within the tolerance), ``fastest`` (the one with the smallest mean
        wall time among those, else ``None``) with its ``accuracy_pct``, ``gap_pp`` (its accuracy minus
        the reference's), ``wall_seconds``, ``speedup`` (reference wall time / its wall time),
        ``speedup_training`` (the same for training time) and ``faster`` (reached *and* speedup > 1);
        and the ``most_accurate`` variant with its ``most_accurate_gap_pp``.
    """
    import pandas as pd

    if not (isinstance(tolerance_pp, (int, float)) and tolerance_pp >= 0):
        raise ValueError(f"tolerance_pp must be a non-negative number; got {tolerance_pp!r}")
    rows = []
    for scale, part in summary.groupby("scale_inputs", sort=True):
        ref = part[(part.variant == reference) & (part.n_engines == 1)]
        if ref.empty:
            raise ValueError(f"no 1-engine {reference!r} runs (scale_inputs={scale}) to compare with")
        ref = ref.iloc[0]
        for n, at_n in part[part.n_engines > 1].groupby("n_engines", sort=True):
            ok = at_n[at_n.accuracy_pct_mean >= ref.accuracy_pct_mean - tolerance_pp]
            best = at_n.loc[at_n.accuracy_pct_mean.idxmax()]
            row = {"scale_inputs": bool(scale), "n_engines": int(n),
                   "sequential_accuracy": ref.accuracy_pct_mean, "sequential_wall": ref.wall_seconds_mean,
                   "reached": not ok.empty}
            if ok.empty:
                row.update(fastest=None, accuracy_pct=np.nan, gap_pp=np.nan, wall_seconds=np.nan, speedup=np.nan,
                           speedup_training=np.nan, faster=False)
            else:
                f = ok.loc[ok.wall_seconds_mean.idxmin()]
                speedup = ref.wall_seconds_mean / f.wall_seconds_mean
                row.update(fastest=f.variant, accuracy_pct=f.accuracy_pct_mean,
                           gap_pp=f.accuracy_pct_mean - ref.accuracy_pct_mean, wall_seconds=f.wall_seconds_mean,
                           speedup=speedup, speedup_training=ref.training_seconds_mean / f.training_seconds_mean,
                           faster=bool(speedup > 1))
            row.update(most_accurate=best.variant, most_accurate_gap_pp=best.accuracy_pct_mean - ref.accuracy_pct_mean)
            rows.append(row)
    return pd.DataFrame(rows)
