"""Chapter 04's numbers: the communication strategies' result table summarized, and the title question answered.

Pure functions of ``results/communication.csv``'s rows (:data:`RESULTS_NAME`): :func:`with_derived`
adds the derived time columns, :func:`summarize_strategies` averages the repeats per input scaling,
strategy variant and engine count, and :func:`speed_at_same_accuracy` finds the fastest strategy at
the sequential accuracy per engine count (the answer). Where the engines outnumber the machine's
cores, the speedup comes from the estimate with a core per engine (:mod:`exemplar.parallel.dedicated`)
instead of the wall clock. :func:`effects` and :func:`accuracy_grid` compare the input scalings.

The chapter runs with :mod:`exemplar.experiments.communication` and shows these numbers with
:mod:`exemplar.reporting.communication`; both read this module, neither the other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exemplar.validation import check_interval

#: The chapter's results file: ``results/communication.csv`` and ``.json``.
RESULTS_NAME = "communication"

#: How the two input scalings are named in tables and prose.
SCALE_NAME = {False: "raw pixels", True: "pixels / 255"}

#: What a speedup was computed from: the wall clock, or the estimate with a core per engine.
BASIS_TIME = {"measured": "wall_seconds_mean", "estimate": "estimated_wall_mean"}

#: The columns :func:`summarize_strategies` groups by.
SUMMARY_KEYS = ["scale_inputs", "variant", "strategy", "n_engines"]


def variant_name(strategy: str, sync_every=None) -> str:
    """A label for a strategy and its setting: ``"periodic, every 5 epochs"``, else the strategy."""
    if strategy == "periodic":
        k = int(sync_every)
        return f"periodic, every {k} epoch{'s' if k != 1 else ''}"
    return str(strategy)


def with_derived(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with ``variant`` and ``scale_inputs`` (where absent) and the derived time columns.

    ``training_seconds`` is the slowest engine's fit plus distribution plus combination;
    ``estimated_wall`` and ``estimated_training`` are the wall and training time with the slowest
    engine's fit replaced by ``dedicated_seconds`` (the estimate with a core per engine; ``nan``
    for runs without it).
    """
    runs = runs.copy()
    if "variant" not in runs.columns:
        every = runs.get("sync_every", [None] * len(runs))
        runs["variant"] = [variant_name(s, e) for s, e in zip(runs["strategy"], every)]
    if "scale_inputs" not in runs.columns:
        runs["scale_inputs"] = False
    runs["training_seconds"] = runs["fit_seconds_max"] + runs["distribute_seconds"] + runs["combine_seconds"]
    # the run with its training (measured wall) replaced by the estimate with a core per engine
    dedicated = runs["dedicated_seconds"] if "dedicated_seconds" in runs.columns else np.nan
    runs["estimated_wall"] = runs["wall_seconds"] - runs["fit_seconds_max"] + dedicated
    runs["estimated_training"] = runs["training_seconds"] - runs["fit_seconds_max"] + dedicated
    return runs


def summarize_strategies(runs: pd.DataFrame) -> pd.DataFrame:
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
        of ``estimated_wall`` and ``estimated_training`` (the same with the training's wall time
        replaced by ``dedicated_seconds``, the estimate with a core per engine; ``nan`` for runs
        without it), and the means of ``fit_seconds_max``, ``comm_rounds``, ``comm_bytes``,
        ``comm_seconds`` (and of ``n_iter_max``, ``fit_cpu_seconds_max``, ``dedicated_seconds``,
        ``comm_model_seconds`` and ``allreduce_probe_seconds`` when present).
    """
    runs = with_derived(runs)
    g = runs.groupby(SUMMARY_KEYS, sort=True)
    out = g[["accuracy_pct", "wall_seconds", "training_seconds", "estimated_wall", "estimated_training"]].agg(
        ["mean", "std"])
    out.columns = [f"{a}_{'mean' if b == 'mean' else 'sd'}" for a, b in out.columns]
    extra = [c for c in ("fit_seconds_max", "comm_rounds", "comm_bytes", "comm_seconds", "n_iter_max",
                         "fit_cpu_seconds_max", "dedicated_seconds", "comm_model_seconds", "allreduce_probe_seconds")
             if c in runs.columns]
    return pd.concat([out, g[extra].mean(), g.size().rename("runs")], axis=1).reset_index()


def _basis(ref, at_n, n: int, cores: int | None) -> str:
    """``"estimate"`` where the engines outnumber ``cores`` and every run there has an estimate, else ``"measured"``."""
    if cores is None or n <= cores or "estimated_wall_mean" not in at_n:
        return "measured"
    known = np.isfinite(ref.get("estimated_wall_mean", np.nan)) and at_n.estimated_wall_mean.notna().all()
    return "estimate" if known else "measured"


def speed_at_same_accuracy(summary: pd.DataFrame, tolerance_pp: float = 0.5, reference: str = "one-shot",
                           cores: int | None = None) -> pd.DataFrame:
    """The title question, per input scaling and engine count (more than one).

    The reference is the 1-engine run of ``reference`` (one-shot with one engine is a plain
    sequential ``fit``). A variant reaches "the same accuracy" when its mean accuracy is at least
    the reference's minus ``tolerance_pp`` percentage points (being more accurate counts).

    Parameters
    ----------
    summary : DataFrame
        :func:`summarize_strategies`' table.
    tolerance_pp : float
        "The same accuracy", in percentage points (at least 0).
    reference : str
        The variant whose 1-engine run is the reference.
    cores : int, optional
        The machine's cores. Engine counts above it are judged by the estimate with a core per
        engine (``estimated_wall_mean``, for the reference too) where the runs carry one; ``None``
        judges every count by the measured wall time.

    Returns
    -------
    DataFrame
        Per ``scale_inputs`` and ``n_engines``: ``sequential_accuracy``, ``sequential_wall``,
        ``reached`` (some variant within the tolerance), ``basis`` (``"measured"`` or ``"estimate"``),
        ``fastest`` (the one with the smallest mean time on that basis among those, else ``None``) with its
        ``accuracy_pct``, ``gap_pp`` (its accuracy minus the reference's), ``wall_seconds``,
        ``estimated_wall``, ``speedup`` (on the basis), ``speedup_measured`` (reference wall time / its
        wall time), ``speedup_estimate`` (the same for the estimates), ``speedup_training`` (measured
        training times) and ``faster`` (reached *and* speedup > 1); and the ``most_accurate``
        variant with its ``most_accurate_gap_pp``. How firm the answer is (:func:`_firmness`): ``repeats``
        (the runs the compared means average, the fewer of the two), ``margin_pp`` (how far the deciding
        variant's gap is from the tolerance: the fastest one's where reached, else the most accurate one's),
        ``spread_pp`` (the sd over repeats of that difference), ``speedup_sd`` (the speedup's sd over
        repeats; NaN where not reached) and ``firm`` (no margin inside its spread: the accuracy's, and the
        speedup's distance from 1 where reached).

    Raises
    ------
    ValueError
        For a negative or non-numeric ``tolerance_pp``, or without the reference's 1-engine runs.
    """
    check_interval("tolerance_pp", tolerance_pp, low=0)
    rows = []
    for scale, part in summary.groupby("scale_inputs", sort=True):
        ref = part[(part.variant == reference) & (part.n_engines == 1)]
        if ref.empty:
            raise ValueError(f"no 1-engine {reference!r} runs (scale_inputs={scale}) to compare with")
        ref = ref.iloc[0]
        for n, at_n in part[part.n_engines > 1].groupby("n_engines", sort=True):
            rows.append(_answer_row(ref, at_n, int(n), bool(scale), tolerance_pp, _basis(ref, at_n, int(n), cores)))
    return pd.DataFrame(rows)


def _answer_row(ref, at_n, n: int, scale: bool, tolerance_pp: float, basis: str) -> dict:
    """One row of :func:`speed_at_same_accuracy`: the engine count ``n`` against the reference ``ref``."""
    ok = at_n[at_n.accuracy_pct_mean >= ref.accuracy_pct_mean - tolerance_pp]
    best = at_n.loc[at_n.accuracy_pct_mean.idxmax()]
    row = {"scale_inputs": scale, "n_engines": n, "sequential_accuracy": ref.accuracy_pct_mean,
           "sequential_wall": ref.wall_seconds_mean, "reached": not ok.empty, "basis": basis}
    if ok.empty:
        row.update(fastest=None, accuracy_pct=np.nan, gap_pp=np.nan, wall_seconds=np.nan, estimated_wall=np.nan,
                   speedup=np.nan, speedup_measured=np.nan, speedup_estimate=np.nan, speedup_training=np.nan,
                   faster=False)
    else:
        f = ok.loc[ok[BASIS_TIME[basis]].idxmin()]
        est_ref, est_f = ref.get("estimated_wall_mean", np.nan), f.get("estimated_wall_mean", np.nan)
        measured, estimated = ref.wall_seconds_mean / f.wall_seconds_mean, est_ref / est_f
        speedup = estimated if basis == "estimate" else measured
        row.update(fastest=f.variant, accuracy_pct=f.accuracy_pct_mean,
                   gap_pp=f.accuracy_pct_mean - ref.accuracy_pct_mean, wall_seconds=f.wall_seconds_mean,
                   estimated_wall=est_f, speedup=speedup, speedup_measured=measured, speedup_estimate=estimated,
                   speedup_training=ref.training_seconds_mean / f.training_seconds_mean, faster=bool(speedup > 1))
    row.update(most_accurate=best.variant, most_accurate_gap_pp=best.accuracy_pct_mean - ref.accuracy_pct_mean)
    row.update(_firmness(ref, f if not ok.empty else best, row, tolerance_pp, basis))
    return row


def _sd_of_difference(a, b, column: str) -> float:
    """The sd over repeats of ``column``'s difference between two rows of :func:`summarize_strategies`: their
    runs are not paired, so ``sqrt(sd_a² + sd_b²)`` (NaN where either has one run)."""
    return float(np.hypot(a.get(f"{column}_sd", np.nan), b.get(f"{column}_sd", np.nan)))


def _firmness(ref, decider, row: dict, tolerance_pp: float, basis: str) -> dict:
    """How firm one answer row is: the deciding variant's accuracy margin against its spread, and where the
    tolerance was reached, the speedup's distance from 1 against the speedup's spread (its relative sd is the
    two times' relative sds combined)."""
    gap = decider.accuracy_pct_mean - ref.accuracy_pct_mean
    margin, spread = abs(gap + tolerance_pp), _sd_of_difference(decider, ref, "accuracy_pct")
    speedup_sd = np.nan
    if row["reached"]:
        time = BASIS_TIME[basis].removesuffix("_mean")
        cv = np.hypot(ref.get(f"{time}_sd", np.nan) / ref[f"{time}_mean"],
                      decider.get(f"{time}_sd", np.nan) / decider[f"{time}_mean"])
        speedup_sd = float(row["speedup"] * cv)
    firm = not (margin < spread) and not (abs(row["speedup"] - 1) < speedup_sd)
    return {"repeats": int(min(ref.get("runs", 1), decider.get("runs", 1))), "margin_pp": margin, "spread_pp": spread,
            "speedup_sd": speedup_sd, "firm": bool(firm)}


def by_scale(answer: pd.DataFrame) -> dict:
    """:func:`speed_at_same_accuracy`'s rows per input scaling: ``{scale_inputs: rows}``, raw pixels first."""
    return {bool(s): t for s, t in answer.groupby("scale_inputs")}


def estimated(answer: pd.DataFrame) -> bool:
    """Whether some speedup of :func:`speed_at_same_accuracy` comes from the estimate with a core per engine."""
    return "basis" in answer and bool((answer.basis == "estimate").any())


def timing_gap_pct(summary: pd.DataFrame) -> float | None:
    """How far apart one-shot and ensemble (the same fit) are in mean wall time on one engine, in percent.

    The largest gap over the input scalings; ``None`` without ensemble runs.
    """
    if "ensemble" not in set(summary.variant):
        return None
    one = summary[summary.n_engines == 1].set_index(["scale_inputs", "variant"]).wall_seconds_mean
    return max(abs(one[(s, "ensemble")] / one[(s, "one-shot")] - 1) * 100 for s in sorted(set(summary.scale_inputs)))


def accuracy_grid(summary: pd.DataFrame):
    """Mean accuracy per variant (rows) and (scale_inputs, n_engines) (columns); the scalings; the largest count."""
    acc = summary.pivot_table(index="variant", columns=["scale_inputs", "n_engines"], values="accuracy_pct_mean")
    return acc, [bool(s) for s in sorted(set(summary.scale_inputs))], int(summary.n_engines.max())


def effects(summary: pd.DataFrame) -> pd.DataFrame:
    """Per variant: accuracy on 1 and the most engines per scaling, the effect of parallelism and of scaling."""
    acc, scales, n_max = accuracy_grid(summary)
    out = pd.DataFrame(index=acc.index)
    for s in scales:
        out[f"{SCALE_NAME[s]}, 1 engine (%)"] = acc[(s, 1)]
        out[f"{SCALE_NAME[s]}, {n_max} engines (%)"] = acc[(s, n_max)]
        out[f"parallelism effect, {SCALE_NAME[s]} (pp)"] = acc[(s, n_max)] - acc[(s, 1)]
    if len(scales) == 2:
        out["scaling effect, 1 engine (pp)"] = acc[(True, 1)] - acc[(False, 1)]
        out[f"scaling effect, {n_max} engines (pp)"] = acc[(True, n_max)] - acc[(False, n_max)]
    return out


def variants(strategies, sync_every) -> list[tuple[str, int | None]]:
    """``(strategy, sync_every)`` of every variant run: one per ``sync_every`` for periodic, else ``None``."""
    return [(s, k) for s in strategies for k in (sync_every if s == "periodic" else [None])]
