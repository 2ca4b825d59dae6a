"""The paper's impact factor, speedup, and Amdahl's law fitted to measured speedups."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar


def impact_factor(accuracy_pct, train_seconds, s1: float = 1.0, s2: float = 1.0):
    """The paper's equation (1): ``(accuracy * s1) / (time * s2)``.

    Parameters
    ----------
    accuracy_pct : float or array
        Prediction accuracy in percent (0 to 100), as the paper uses it.
    train_seconds : float or array
        Training time in seconds; must be positive.
    s1, s2 : float
        Significance factors; the paper sets both to 1.

    Returns
    -------
    float or ndarray
    """
    t = np.asarray(train_seconds, dtype=float)
    if np.any(t <= 0):
        raise ValueError(f"train_seconds must be positive; got {train_seconds!r}")
    out = (np.asarray(accuracy_pct, dtype=float) * s1) / (t * s2)
    return float(out) if out.ndim == 0 else out


def speedup(t_reference, t_parallel):
    """``t_reference / t_parallel``: how many times faster the parallel run is."""
    return np.asarray(t_reference, dtype=float) / np.asarray(t_parallel, dtype=float)


def amdahl(n, serial_fraction: float):
    """Amdahl's law: the speedup on ``n`` processors of a job whose serial fraction is ``serial_fraction``."""
    n = np.asarray(n, dtype=float)
    return 1.0 / (serial_fraction + (1.0 - serial_fraction) / n)


def fit_amdahl(n, measured_speedup) -> float:
    """The serial fraction ``f`` in [0, 1] that best fits measured speedups (least squares).

    Points with ``n == 1`` carry no information (speedup 1 for every ``f``) and are ignored
    by the fit's result though they may be passed.
    """
    n = np.asarray(n, dtype=float)
    s = np.asarray(measured_speedup, dtype=float)
    if n.shape != s.shape or n.size == 0:
        raise ValueError("n and measured_speedup must be non-empty and of the same length")
    res = minimize_scalar(lambda f: float(np.sum((amdahl(n, f) - s) ** 2)), bounds=(0.0, 1.0), method="bounded",
                          options={"xatol": 1e-6})
    return float(res.x)


def summarize_runs(runs, by: str | list[str] = "n_engines"):
    """Per group (default: engine count) the mean and sd of each timing and of accuracy, and impact factors.

    Adds ``time_with_overhead`` (slowest fit + distribution + gather/combine), ``impact_fit``
    (the paper's Table II: accuracy / slowest fit) and ``impact_overhead`` (Table III).
    """
    import pandas as pd

    cols = [c for c in ("fit_seconds_max", "distribute_seconds", "combine_seconds", "read_seconds",
                        "eval_seconds", "wall_seconds", "accuracy_pct", "start_seconds") if c in runs.columns]
    g = runs.groupby(by)
    out = g[cols].mean()
    sd = g[cols].std(ddof=1).add_suffix("_sd")
    out = pd.concat([out, sd], axis=1)
    out["runs"] = g.size()
    out = out.reset_index()
    out["time_with_overhead"] = out["fit_seconds_max"] + out.get("distribute_seconds", 0) + out.get("combine_seconds", 0)
    out["impact_fit"] = impact_factor(out["accuracy_pct"], out["fit_seconds_max"])
    out["impact_overhead"] = impact_factor(out["accuracy_pct"], out["time_with_overhead"])
    return out
