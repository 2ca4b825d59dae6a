"""Chapter 04's answer to its title question: the fastest strategy at the sequential accuracy, per engine count.

:func:`speed_at_same_accuracy` reads :func:`exemplar.experiments.communication.summarize`'s table; the
other functions turn its rows into the chapter's verdict, paragraph, table and summary. Where the
engines outnumber the machine's cores, the speedup comes from the dedicated-core estimate
(:mod:`exemplar.parallel.dedicated`) instead of the wall clock, and says so. Every name here is
also reachable as ``exemplar.experiments.communication.NAME``.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

#: How the two input scalings are named in tables and prose.
SCALE_NAME = {False: "raw pixels", True: "pixels / 255"}

#: What a speedup was computed from: the wall clock, or the estimate with a core per engine.
BASIS_TIME = {"measured": "wall_seconds_mean", "estimate": "estimated_wall_mean"}


def _basis(ref, at_n, n: int, cores: int | None) -> str:
    """``"estimate"`` where the engines outnumber ``cores`` and every run there has an estimate, else ``"measured"``."""
    if cores is None or n <= cores or "estimated_wall_mean" not in at_n:
        return "measured"
    known = np.isfinite(ref.get("estimated_wall_mean", np.nan)) and at_n.estimated_wall_mean.notna().all()
    return "estimate" if known else "measured"


def speed_at_same_accuracy(summary, tolerance_pp: float = 0.5, reference: str = "one-shot", cores: int | None = None):
    """The title question, per input scaling and engine count (more than one).

    The reference is the 1-engine run of ``reference`` (one-shot with one engine is a plain
    sequential ``fit``). A variant reaches "the same accuracy" when its mean accuracy is at least
    the reference's minus ``tolerance_pp`` percentage points (being more accurate counts).

    Parameters
    ----------
    summary : DataFrame
        :func:`exemplar.experiments.communication.summarize_strategies`' table.
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
        variant with its ``most_accurate_gap_pp``.
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
    return row


def engines_list(ns: Iterable) -> str:
    """Engine counts in words: ``"2"``, ``"2 and 4"``, ``"2, 4 and 6"``."""
    ns = [str(int(n)) for n in ns]
    return ns[0] if len(ns) == 1 else ", ".join(ns[:-1]) + " and " + ns[-1]


def verdict(t, tolerance_pp: float) -> str:
    """The answer for one input scaling (rows of :func:`speed_at_same_accuracy`): yes, where, or no."""
    fast = t[t.faster].n_engines.tolist()
    slow = t[t.reached & ~t.faster].n_engines.tolist()
    rest = [n for n in t.n_engines if n not in fast]
    if fast and not rest:
        return "yes, on every engine count measured"
    if fast:
        return f"yes on {engines_list(fast)} engines, not on {engines_list(rest)}"
    if slow:
        return f"only without a speedup (within {tolerance_pp:g} pp on {engines_list(slow)} engines, but slower)"
    return "no, on no engine count"


def _by_scale(answer) -> dict:
    return {bool(s): t for s, t in answer.groupby("scale_inputs")}


def _estimated(answer) -> bool:
    return "basis" in answer and bool((answer.basis == "estimate").any())


def verdict_sentence(answer, tolerance_pp: float) -> str:
    """The verdict per input scaling, in one sentence."""
    verdicts = "; ".join(f"with {SCALE_NAME[s]}{', as in the paper' if not s else ''}, **{verdict(t, tolerance_pp)}**"
                         for s, t in _by_scale(answer).items())
    return (f"Counting as \"the same accuracy\" a mean test accuracy within {tolerance_pp:g} percentage "
            f"points of the sequential run's: {verdicts}.")


def _marked(r) -> str:
    """How a speedup was obtained, in brackets: measured, or estimated for a core per engine."""
    return " (estimated for a core per engine)" if r.get("basis") == "estimate" else " (measured)"


def details(t, cores: int) -> str:
    """For one input scaling: the sequential run, then what each engine count reached, and how fast."""
    ref = t.iloc[0]
    bits = []
    for _, r in t.iterrows():
        shared = " (sharing cores)" if r.n_engines > cores and r.get("basis") != "estimate" else ""
        if r.reached:
            bits.append(f"on {r.n_engines} engines{shared} *{r.fastest}* reached {r.accuracy_pct:.2f} % "
                        f"({r.gap_pp:+.2f} pp) at **{r.speedup:.2f}×** the sequential speed{_marked(r)}")
        else:
            bits.append(f"on {r.n_engines} engines{shared} no strategy did; the closest, *{r.most_accurate}*, "
                        f"was {-r.most_accurate_gap_pp:.2f} pp short")
    return (f"With {SCALE_NAME[bool(ref.scale_inputs)]} the sequential run reaches {ref.sequential_accuracy:.2f} % "
            f"in {ref.sequential_wall:.2f} s; " + "; ".join(bits) + ".")


def answer_paragraph(answer, tolerance_pp: float, cores: int, repeats: int) -> str:
    """The chapter's answer to its title question (glued under the title as ``answer``)."""
    estimated = ("; estimated ones, for more engines than cores, replace the training time of each run (the "
                 "sequential run's too) by its estimate with a core per engine: per communication round the "
                 "slowest engine's compute CPU time, plus the collective modelled as recursive doubling"
                 if _estimated(answer) else "")
    return (f"**The answer, as measured in this chapter.** {verdict_sentence(answer, tolerance_pp)} "
            + " ".join(details(t, cores) for t in _by_scale(answer).values())
            + f" ({'Measured s' if estimated else 'S'}peedups compare wall times, including reading and distributing "
            f"the data, on this {cores}-core machine{estimated}; "
            f"{'means of ' + str(repeats) + ' repeats' if repeats > 1 else 'one run each'}.)")


def timing_noise(summary) -> str:
    """How far apart one-shot and ensemble (the same fit) are in wall time on one engine; ``""`` without ensemble."""
    if "ensemble" not in set(summary.variant):
        return ""
    one = summary[summary.n_engines == 1].set_index(["scale_inputs", "variant"]).wall_seconds_mean
    gaps = [abs(one[(s, "ensemble")] / one[(s, "one-shot")] - 1) * 100 for s in sorted(set(summary.scale_inputs))]
    return (f" How precise are the speedups? On one engine, one-shot and ensemble run the very same fit "
            f"(bit-identical models); their mean wall times differ by {max(gaps):.0f} % here, which is "
            "the timing noise of this machine to keep in mind when reading the speedup columns.")


def answer_table(answer, tolerance_pp: float):
    """:func:`speed_at_same_accuracy`'s table with readable columns (the estimate's labelled as such)."""
    t = answer.copy()
    for column in ("basis", "estimated_wall", "speedup_estimate"):
        if column not in t:
            t[column] = "measured" if column == "basis" else np.nan
    t["inputs"] = t.scale_inputs.map(SCALE_NAME)
    t["reached"] = t.reached.map({True: "yes", False: "no"})
    t["fastest"] = t.fastest.fillna("–")
    t = t[["inputs", "n_engines", "sequential_accuracy", "reached", "fastest", "accuracy_pct", "gap_pp",
           "wall_seconds", "speedup_measured" if "speedup_measured" in t else "speedup", "speedup_training",
           "estimated_wall", "speedup_estimate", "basis", "most_accurate", "most_accurate_gap_pp"]]
    t.columns = ["inputs", "engines", "sequential accuracy (%)", f"within {tolerance_pp:g} pp?",
                 "fastest such strategy", "its accuracy (%)", "gap (pp)", "its wall time (s)", "speedup (wall)",
                 "speedup (training)", "its wall time, a core each (estimate, s)", "speedup, a core each (estimate)",
                 "answer from", "most accurate strategy", "its gap (pp)"]
    return t


def summary_bullets(answer, tolerance_pp: float, run_seconds: float, cores: int) -> str:
    """The chapter's summary, as a markdown list: the verdict, the best speedup per scaling, the machine."""
    bullets = [f"- {verdict_sentence(answer, tolerance_pp)}"]
    for s, t in _by_scale(answer).items():
        reached = t[t.reached]
        if len(reached):
            top = reached.loc[reached.speedup.idxmax()]
            bullets.append(f"- With {SCALE_NAME[s]}, the best speedup at the sequential accuracy was "
                           f"**{top.speedup:.2f}×**{_marked(top)}, by *{top.fastest}* on {top.n_engines} engines.")
        else:
            bullets.append(f"- With {SCALE_NAME[s]}, no parallel strategy came within {tolerance_pp:g} pp of "
                           "the sequential accuracy.")
    above = ("their speeds are estimated for a core per engine from each engine's CPU time" if _estimated(answer)
             else "their speed says little about a machine with a core per engine")
    bullets.append(f"- The runs took {run_seconds / 60:.1f} minutes on {cores} cores; engine counts above "
                   f"{cores} time-share the cores, so {above}.")
    return "\n".join(bullets)
