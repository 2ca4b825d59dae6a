"""Chapter 04's numbers: time to a target accuracy per variant and engine count, and the title question answered.

Pure functions of ``results/communication.csv``'s rows (:data:`RESULTS_NAME`) and of the curves
file (:data:`CURVES_NAME`):

* :func:`plan_from`: the target and the budget of one input scaling, from the sequential reference runs;
* :func:`curves_frame`: every run's checkpoints, one tidy row each;
* :func:`summarize_to_target`: per input scaling, variant and engine count, how many runs reached the
  target and in how long (measured, and estimated with a core per engine), steps, exchanges and
  test accuracy there;
* :func:`speedups` and :func:`answer_to_target`: the sequential time to the target over each
  variant's, and the fastest variant per engine count (the answer). Where the engines outnumber
  the machine's cores the speedups compare the estimates with a core per engine
  (:mod:`exemplar.parallel.to_target`); elsewhere the measured training times;
* :func:`step_split`: what a step costs (compute against collective) and how many steps each
  variant needed, so a reader sees which term holds a speedup back.

The chapter runs with :mod:`exemplar.experiments.communication` and shows these numbers with
:mod:`exemplar.reporting.communication`; both read this module, neither the other.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from exemplar.validation import check_interval

#: The chapter's results file: ``results/communication.csv`` and ``.json``.
RESULTS_NAME = "communication"
#: Every run's checkpoints: ``results/communication_curves.csv``.
CURVES_NAME = "communication_curves"
#: The variant name of the sequential reference runs (one engine, run to scikit-learn's stopping rule).
REFERENCE = "sequential reference"
#: The variant whose 1-engine run to the target is the sequential time every speedup divides.
SEQUENTIAL = "one-shot"

#: How the two input scalings are named in tables and prose.
SCALE_NAME = {False: "raw pixels", True: "pixels / 255"}

#: What a speedup was computed from: the measured training time, or the estimate with a core per engine.
BASIS_TIME = {"measured": "time_to_target_seconds", "estimate": "dedicated_time_to_target_seconds"}

#: The columns that identify one run of the chapter (as :data:`exemplar.experiments.communication.KEY_COLUMNS`).
KEY_COLUMNS = ["n_engines", "scale_inputs", "repeat", "variant"]

#: The columns :func:`summarize_to_target` groups by.
SUMMARY_KEYS = ["scale_inputs", "variant", "strategy", "n_engines"]

#: Columns of a checkpoint in the curves file (besides the run's key and ``provenance_id``).
CURVE_FIELDS = ["epoch", "steps", "exchanges", "validation_pct", "wall_seconds", "cpu_seconds", "dedicated_seconds"]


def variant_name(strategy: str, sync_every=None) -> str:
    """A label for a strategy and its setting: ``"periodic, every 5 epochs"``, else the strategy."""
    if strategy == "periodic":
        k = int(sync_every)
        return f"periodic, every {k} epoch{'s' if k != 1 else ''}"
    return str(strategy)


def references(runs: pd.DataFrame) -> pd.DataFrame:
    """The sequential reference rows of ``runs`` (``phase == "reference"``)."""
    if "phase" not in runs.columns:
        return runs.iloc[:0]
    return runs[runs.phase == "reference"]


def to_target(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs to the target (``phase == "to target"``)."""
    if "phase" not in runs.columns:
        return runs.iloc[:0]
    return runs[runs.phase == "to target"]


def plan_from(runs: pd.DataFrame, scale: bool, tolerance_pp: float, budget_factor: float,
              patience_factor: float) -> dict:
    """The target and budget of the runs on input scaling ``scale``, from its reference rows in ``runs``.

    ``target_pct`` is the references' mean validation accuracy minus ``tolerance_pp``; ``budget_steps``
    is ``budget_factor`` times their mean optimizer steps, ``patience_steps`` ``patience_factor`` times
    them (``None`` for 0); ``checkpoint_steps`` half the references' steps per epoch (every variant is
    then tested at least as often per update as the sequential run, at most twice as often).

    Raises
    ------
    ValueError
        When ``runs`` holds no reference row of that scaling.
    """
    ref = references(runs)
    ref = ref[ref.scale_inputs.astype(bool) == bool(scale)] if len(ref) else ref
    if ref.empty:
        raise ValueError(f"no sequential reference runs on {SCALE_NAME[bool(scale)]} to set the target from: "
                         "the reference runs come first (rerun the chapter with resume=True)")
    steps = float(ref.steps.mean())
    per_epoch = steps / float(ref.n_iter_max.mean())
    return {"target_pct": float(ref.validation_pct.mean()) - float(tolerance_pp),
            "checkpoint_steps": max(1, int(round(per_epoch / 2))),
            "budget_steps": max(1, int(round(budget_factor * steps))),
            "patience_steps": max(1, int(round(patience_factor * steps))) if patience_factor > 0 else None,
            "reference_runs": int(len(ref)), "reference_validation_pct": float(ref.validation_pct.mean()),
            "reference_steps": steps}


def curves_frame(runs: pd.DataFrame, key_columns, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every run's checkpoints, one row each: the run's key columns, ``provenance_id``, ``checkpoint`` and
    :data:`CURVE_FIELDS`.

    A run's checkpoints come from its ``curve`` column (JSON lists, as
    :func:`exemplar.parallel.to_target.run_to_target` writes them); a run without one (kept by
    ``resume`` from a finished results file) takes its rows from ``previous`` (the earlier curves
    file) where its key and ``provenance_id`` match.
    """
    keys = list(key_columns) + ["provenance_id"]
    parts = []
    for _, run in runs.iterrows():
        text = run.get("curve")
        if isinstance(text, str) and text:
            points = pd.DataFrame(json.loads(text))[CURVE_FIELDS]
            points.insert(0, "checkpoint", np.arange(1, len(points) + 1))
            for k in reversed(keys):
                points.insert(0, k, run.get(k))
            parts.append(points)
        elif previous is not None and len(previous):
            match = np.ones(len(previous), dtype=bool)
            for k in keys:
                match &= (previous[k].astype(str) == str(run.get(k))).to_numpy()
            parts.append(previous[match])
    columns = keys + ["checkpoint"] + CURVE_FIELDS
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def _clean(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs whose engines each had a core (``oversubscribed`` false; every run where the column is absent)."""
    if "oversubscribed" not in runs.columns:
        return runs
    return runs[~runs.oversubscribed.astype(str).str.lower().isin(["true", "1"])]


def probes(runs: pd.DataFrame) -> dict:
    """The step and the exchange as measured where the engines had a core each (:func:`sound_estimate`).

    ``steps``: per ``(scale_inputs, local_batch)``, the median step probe of those runs; ``exchange``:
    the median 2-engine ``Allreduce`` probe of those runs with two engines or more (``nan`` without any).
    """
    clean = _clean(to_target(runs))
    steps = clean.groupby([clean.scale_inputs.astype(bool), "local_batch"]).step_probe_seconds.median().to_dict()
    pairs = clean[(clean.n_engines >= 2)].allreduce_probe_seconds.dropna()
    return {"steps": steps, "exchange": float(pairs.median()) if len(pairs) else float("nan")}


def sound_estimate(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with the dedicated-core estimate of the runs whose engines shared cores taken from probes
    measured where the engines had a core each.

    A run on more engines than cores times its own step and exchange while its other engines sleep;
    but they still wake to poll, and on a 2-core machine the probed engines share their cores and
    caches with them: the 2-engine ``Allreduce`` probed inside a 4- or 6-engine run took 0.66-0.78 ms
    in this report's runs against 0.10 ms in a 2-engine run. So, for those runs only, one step costs
    the median step probe of the runs with a core per engine at the same rows per engine (its own
    probe where no such run took steps of that size: the held global batch on 4 and 6 engines), and
    one exchange ``ceil(log2 n)`` × the median 2-engine probe of the runs with a core per engine
    (:func:`exemplar.parallel.dedicated.collective_seconds`). The run's own figures stay in
    ``*_in_run`` columns; ``step_measured_on`` says where the step's cost comes from.
    """
    from exemplar.parallel.dedicated import collective_seconds

    runs = runs.copy()
    if "step_probe_seconds" not in runs.columns or "oversubscribed" not in runs.columns:
        return runs
    found = probes(runs)
    for col in ("step_probe_seconds", "collective_seconds", "dedicated_seconds", "dedicated_time_to_target_seconds"):
        runs[f"{col}_in_run"] = runs[col]
    runs["step_measured_on"] = np.where(runs.index.isin(_clean(runs).index), "this run", "")
    shared = runs.index.difference(_clean(runs).index)
    for i in shared:
        r = runs.loc[i]
        step = found["steps"].get((bool(r.scale_inputs), r.local_batch))
        runs.loc[i, "step_measured_on"] = "this run, cores shared" if step is None else "runs with a core per engine"
        step = r.step_probe_seconds if step is None else step
        exchange = collective_seconds(int(r.n_engines), found["exchange"]) if np.isfinite(found["exchange"]) else \
            r.collective_seconds
        runs.loc[i, ["step_probe_seconds", "collective_seconds"]] = [step, exchange]
        runs.loc[i, "dedicated_seconds"] = r.steps * step + r.comm_rounds * exchange
        runs.loc[i, "dedicated_time_to_target_seconds"] = r.steps_to_target * step + r.exchanges_to_target * exchange
    return runs


def sound_curves(curves: pd.DataFrame, runs: pd.DataFrame, key_columns) -> pd.DataFrame:
    """``curves`` with each checkpoint's ``dedicated_seconds`` from its run's step and exchange as
    :func:`sound_estimate` prices them (``steps × step + exchanges × exchange``)."""
    priced = sound_estimate(runs)
    keys = list(key_columns) + ["provenance_id"]
    if "step_probe_seconds" not in priced.columns or curves.empty:
        return curves
    cost = priced[keys + ["step_probe_seconds", "collective_seconds"]].copy()
    for k in keys:
        cost[k] = cost[k].astype(str)
    out = curves.copy()
    joined = out[keys].astype(str).merge(cost, on=keys, how="left")
    ok = joined.step_probe_seconds.notna().to_numpy()
    out.loc[ok, "dedicated_seconds"] = (out.steps[ok] * joined.step_probe_seconds[ok].to_numpy()
                                        + out.exchanges[ok] * joined.collective_seconds[ok].to_numpy())
    return out


def summarize_to_target(runs: pd.DataFrame) -> pd.DataFrame:
    """Per input scaling, variant and engine count (the runs to the target): how the repeats did, with the
    dedicated-core estimate of :func:`sound_estimate`.

    Returns
    -------
    DataFrame
        :data:`SUMMARY_KEYS`, ``runs``, ``reached_runs``, ``reached_all``, ``target_pct``; the mean and
        sd over the runs that reached the target of ``time_to_target_seconds``,
        ``dedicated_time_to_target_seconds``, ``steps_to_target``, ``exchanges_to_target``,
        ``epochs_to_target`` and ``test_accuracy_at_target_pct``; the mean over all runs of
        ``accuracy_pct`` and ``validation_pct`` (where they stopped) and of the per-step figures
        (``step_probe_seconds``, ``collective_seconds``, ``local_batch``, ``global_batch``,
        ``learning_rate``, ``steps``, ``fit_seconds_max``, ``dedicated_seconds``).
    """
    runs = to_target(sound_estimate(runs))
    g = runs.groupby(SUMMARY_KEYS, sort=True)
    out = g.size().rename("runs").to_frame()
    out["reached_runs"] = g["reached"].apply(lambda s: int(s.astype(bool).sum()))
    out["target_pct"] = g["target_pct"].mean()
    hit = runs[runs.reached.astype(bool)]
    timed = ["time_to_target_seconds", "dedicated_time_to_target_seconds", "steps_to_target", "exchanges_to_target",
             "epochs_to_target", "test_accuracy_at_target_pct"]
    stats = hit.groupby(SUMMARY_KEYS, sort=True)[timed].agg(["mean", "std"])
    stats.columns = [f"{a}_{'mean' if b == 'mean' else 'sd'}" for a, b in stats.columns]
    extra = [c for c in ("accuracy_pct", "validation_pct", "step_probe_seconds", "collective_seconds",
                         "local_batch", "global_batch", "learning_rate", "steps", "fit_seconds_max",
                         "dedicated_seconds") if c in runs.columns]
    out = out.join(stats).join(g[extra].mean()).reset_index()
    out["reached_all"] = out.reached_runs == out.runs
    return out


def _basis(n: int, cores: int | None) -> str:
    """``"estimate"`` where the engines outnumber ``cores``, else ``"measured"``."""
    return "estimate" if cores is not None and n > cores else "measured"


def _sequential(part: pd.DataFrame):
    """The 1-engine sequential row of one scaling's summary, or ``None``."""
    seq = part[(part.variant == SEQUENTIAL) & (part.n_engines == 1)]
    return None if seq.empty else seq.iloc[0]


def speedups(summary: pd.DataFrame, cores: int | None = None) -> pd.DataFrame:
    """Every variant's speedup to the target over the sequential run, per input scaling and engine count.

    The speedup is the sequential run's mean time to the target over the variant's, on the basis of
    the engine count (:data:`BASIS_TIME`: measured where the engines have a core each, else the
    estimate with a core per engine, for the sequential run too). ``speedup_measured`` and
    ``speedup_estimate`` give both. ``speedup_sd`` combines the two times' relative sds. A variant
    that did not reach the target in every repeat has no speedup (NaN).
    """
    rows = []
    for scale, part in summary.groupby("scale_inputs", sort=True):
        seq = _sequential(part)
        if seq is None:
            raise ValueError(f"no 1-engine sequential run to the target on {SCALE_NAME[bool(scale)]} to compare with")
        for _, r in part[part.n_engines > 1].iterrows():
            basis = _basis(int(r.n_engines), cores)
            row = {k: r[k] for k in SUMMARY_KEYS}
            row.update(basis=basis, reached_runs=int(r.reached_runs), runs=int(r.runs), reached_all=bool(r.reached_all))
            for name, col in BASIS_TIME.items():
                key = "speedup_measured" if name == "measured" else "speedup_estimate"
                row[key] = float(seq[f"{col}_mean"] / r[f"{col}_mean"]) if r.reached_all else np.nan
            time = BASIS_TIME[basis]
            row["speedup"] = row["speedup_measured" if basis == "measured" else "speedup_estimate"]
            cv = np.hypot(seq[f"{time}_sd"] / seq[f"{time}_mean"], r[f"{time}_sd"] / r[f"{time}_mean"])
            row["speedup_sd"] = float(row["speedup"] * cv) if r.reached_all else np.nan
            row["gap_pp"] = float(r.test_accuracy_at_target_pct_mean - seq.test_accuracy_at_target_pct_mean)
            row["steps_ratio"] = float(r.steps_to_target_mean / seq.steps_to_target_mean)
            rows.append(row)
    return pd.DataFrame(rows)


def answer_to_target(summary: pd.DataFrame, cores: int | None = None) -> pd.DataFrame:
    """The title question per input scaling and engine count (more than one), by time to the target.

    Returns
    -------
    DataFrame
        Per ``scale_inputs`` and ``n_engines``: ``basis``, ``target_pct``, ``sequential_seconds`` (the
        sequential time to the target on the basis), ``reached`` (some variant reached the target in
        every repeat), ``fastest`` (the one with the largest speedup among those, else ``None``) with
        its ``speedup``, ``speedup_sd``, ``speedup_measured``, ``speedup_estimate``, ``gap_pp`` (its
        test accuracy at the target minus the sequential run's), ``steps_ratio`` (its steps to the
        target over the sequential run's) and ``firm`` (its speedup is at least its sd from 1; ``False``
        where the sd is not known, from one run); and
        ``variants_reached`` (how many variants reached the target in every repeat) of ``variants``.
    """
    table = speedups(summary, cores)
    rows = []
    for (scale, n), part in table.groupby(["scale_inputs", "n_engines"], sort=True):
        seq = _sequential(summary[summary.scale_inputs == scale])
        basis = part.basis.iloc[0]
        ok = part[part.reached_all & part.speedup.notna()]
        row = {"scale_inputs": bool(scale), "n_engines": int(n), "basis": basis, "target_pct": float(seq.target_pct),
               "sequential_seconds": float(seq[f"{BASIS_TIME[basis]}_mean"]), "reached": not ok.empty,
               "variants_reached": int(len(ok)), "variants": int(len(part))}
        if ok.empty:
            row.update(fastest=None, speedup=np.nan, speedup_sd=np.nan, speedup_measured=np.nan,
                       speedup_estimate=np.nan, gap_pp=np.nan, steps_ratio=np.nan, firm=False)
        else:
            f = ok.loc[ok.speedup.idxmax()]
            row.update(fastest=f.variant, speedup=f.speedup, speedup_sd=f.speedup_sd,
                       speedup_measured=f.speedup_measured, speedup_estimate=f.speedup_estimate, gap_pp=f.gap_pp,
                       steps_ratio=f.steps_ratio,
                       firm=bool(np.isfinite(f.speedup_sd) and abs(f.speedup - 1) >= f.speedup_sd))
        rows.append(row)
    return pd.DataFrame(rows)


def step_split(summary: pd.DataFrame) -> pd.DataFrame:
    """What held each variant's speedup back: per input scaling, engine count and variant (reached in every
    repeat), the steps to the target against the sequential run's, one step's compute on a core of its
    own, the collective per exchange and per step, and the estimated time to the target split into
    compute and collective.

    Columns: :data:`SUMMARY_KEYS`, ``steps_to_target``, ``steps_ratio``, ``compute_ms`` (a step),
    ``sequential_compute_ms``, ``collective_ms`` (one exchange among the engines), ``exchanges_per_step``,
    ``compute_seconds`` and ``collective_seconds`` (to the target), ``collective_share``.
    """
    rows = []
    for scale, part in summary.groupby("scale_inputs", sort=True):
        seq = _sequential(part)
        if seq is None:
            continue
        for _, r in part[part.reached_all].iterrows():
            steps, exchanges = r.steps_to_target_mean, r.exchanges_to_target_mean
            compute = steps * r.step_probe_seconds
            collective = exchanges * r.collective_seconds
            rows.append({**{k: r[k] for k in SUMMARY_KEYS}, "steps_to_target": steps,
                         "steps_ratio": steps / seq.steps_to_target_mean, "compute_ms": r.step_probe_seconds * 1e3,
                         "sequential_compute_ms": seq.step_probe_seconds * 1e3,
                         "collective_ms": r.collective_seconds * 1e3, "exchanges_per_step": exchanges / steps,
                         "compute_seconds": compute, "collective_seconds": collective,
                         "collective_share": collective / (compute + collective) if compute + collective else np.nan})
    return pd.DataFrame(rows)


def fewest_exchanges(summary: pd.DataFrame, n_engines: int) -> pd.DataFrame:
    """Per input scaling, the variant that reached the target (every repeat) on ``n_engines`` with the fewest
    exchanges of model state, with its mean exchanges, time and test accuracy at the target."""
    part = summary[(summary.n_engines == n_engines) & summary.reached_all]
    if part.empty:
        return pd.DataFrame(columns=["scale_inputs", "variant", "exchanges_to_target_mean"])
    best = part.loc[part.groupby("scale_inputs").exchanges_to_target_mean.idxmin()]
    return best[["scale_inputs", "variant", "exchanges_to_target_mean", "dedicated_time_to_target_seconds_mean",
                 "test_accuracy_at_target_pct_mean"]].reset_index(drop=True)


def reference_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per input scaling, the sequential reference runs: their mean (sd) validation and test accuracy,
    epochs and steps, and the target they set (the chapter's tolerance given as ``target_pct`` in the
    runs to the target)."""
    ref = references(runs)
    g = ref.groupby("scale_inputs", sort=True)
    out = g.agg(runs=("accuracy_pct", "size"), validation_pct=("validation_pct", "mean"),
                validation_sd=("validation_pct", "std"), accuracy_pct=("accuracy_pct", "mean"),
                accuracy_sd=("accuracy_pct", "std"), epochs=("n_iter_max", "mean"), steps=("steps", "mean"),
                seconds=("fit_seconds_max", "mean")).reset_index()
    tt = to_target(runs)
    if len(tt):
        out = out.merge(tt.groupby("scale_inputs").target_pct.mean().rename("target_pct").reset_index(), how="left")
    return out


def by_scale(answer: pd.DataFrame) -> dict:
    """:func:`answer_to_target`'s rows per input scaling: ``{scale_inputs: rows}``, raw pixels first."""
    return {bool(s): t for s, t in answer.groupby("scale_inputs")}


def estimated(answer: pd.DataFrame) -> bool:
    """Whether some speedup of :func:`answer_to_target` comes from the estimate with a core per engine."""
    return "basis" in answer and bool((answer.basis == "estimate").any())


def check_tolerance(tolerance_pp) -> float:
    """``tolerance_pp`` checked (a number, at least 0)."""
    return check_interval("tolerance_pp", tolerance_pp, low=0)
