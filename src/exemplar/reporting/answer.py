"""The report's answer to its title question, computed from the measured results, for the site's first page.

"Can we increase the speed, keeping the same accuracy?" is answered twice by the chapters: by the
paper's own method (one average at the end, chapter 03) and by the variants that communicate
during training (chapter 04), timed to a target validation accuracy (time to accuracy). :func:`answer_paragraph` states both in one paragraph;
:func:`render_intro` puts it at the top of ``book/intro.md`` when the site is built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from exemplar import config, results
from exemplar.analysis import communication, exemplar_parallel, provenance
from exemplar.reporting import comparison
from exemplar.reporting.communication import details, oversubscribed_sentence, repeats_text, verdict_sentence

#: The line of ``book/intro.md`` that the measured answer replaces (a MyST comment: invisible if left).
MARKER = "% exemplar:answer"
#: What "the same accuracy" means here, in percentage points (as in the communication chapter, whose target is
#: its sequential runs' validation accuracy minus its own ``tolerance_pp``, read from its provenance).
TOLERANCE_PP = 0.5
#: What "not firm" means, said once where some answer is not.
FIRM_NOTE = ("An answer is *not firm* where its margin (how far the difference it rests on lies from the tolerance, "
             "or a speedup from 1) is smaller than that difference's spread, its standard deviation over the "
             "repeats: another run could turn it.")


def speed_words(speedup: float) -> str:
    """A speedup (sequential time / parallel time) in words that follow its number: "2.00× faster" above 1,
    "slower (0.93× the sequential speed)" below, "as fast as sequential" at 1.00 (to the two decimals shown)."""
    shown = round(float(speedup), 2)
    if shown > 1:
        return f"{speedup:.2f}× faster"
    if shown < 1:
        return f"slower ({speedup:.2f}× the sequential speed)"
    return "as fast as sequential"


def one_shot_verdict(faster: list[int], kept: list[int], n_counts: int) -> str:
    """The verdict on the paper's method, from the engine counts that trained ``faster`` and those that ``kept``
    the accuracy, of ``n_counts`` engine counts above 1."""
    def only(ns):
        return ", ".join(map(str, ns))

    accuracy = ("keeps the accuracy" if len(kept) == n_counts else "does not keep the accuracy" if not kept
                else f"keeps the accuracy only on {only(kept)} engines")
    if len(faster) == n_counts:
        return f"trains faster but {accuracy}" if not kept else f"trains faster and {accuracy}"
    if not faster and not kept:
        return "neither trains faster nor keeps the accuracy"
    speed = "does not train faster" if not faster else f"trains faster only on {only(faster)} engines"
    return f"{speed} and {accuracy}"


def repeats_words(counts: pd.Series) -> str:
    """Runs per point in words: "3 repeats", "2–3 repeats", "one run" (as
    :func:`exemplar.reporting.communication.repeats_text` says them); ``""`` without counts."""
    counts = pd.Series(counts).dropna()
    if counts.empty:
        return ""
    low, high = int(counts.min()), int(counts.max())
    return "one run" if high == 1 else f"{low}{'' if low == high else f'–{high}'} repeats"


def _averaged(repeats: str) -> str:
    """"means of 3 repeats", or "one run" (:func:`repeats_words`' words)."""
    return repeats if repeats == "one run" else f"means of {repeats}"


def one_shot_firmness(ref: pd.Series, r: pd.Series, time_col: str, tolerance_pp: float = TOLERANCE_PP) -> str:
    """Why one engine count's "keeps the accuracy" or "faster" is not firm, from two rows of
    :func:`exemplar.reporting.comparison.summarize_parallel` (the 1-engine ``ref`` and ``r``): a margin smaller than
    its spread over the repeats. The accuracy's margin is the loss's distance from ``tolerance_pp``, its spread
    ``sqrt(sd_1² + sd_n²)``; the speedup's margin its distance from 1, its spread the speedup times the two
    times' relative sds combined. ``""`` where both are firm or a spread is not known (one run, or no sd column).
    """
    loss, speedup = ref.accuracy_pct - r.accuracy_pct, ref[time_col] / r[time_col]
    spread = float(np.hypot(ref.get("accuracy_pct_sd", np.nan), r.get("accuracy_pct_sd", np.nan)))
    speed_sd = speedup * float(np.hypot(ref.get(f"{time_col}_sd", np.nan) / ref[time_col],
                                        r.get(f"{time_col}_sd", np.nan) / r[time_col]))
    bits = []
    if abs(tolerance_pp - loss) < spread:
        bits.append(f"{'within' if loss <= tolerance_pp else 'outside'} {tolerance_pp:g} pp by "
                    f"{abs(tolerance_pp - loss):.2f} pp, inside the spread of {spread:.2f} pp")
    if abs(speedup - 1) < speed_sd:
        bits.append(f"{speedup:.2f}× the sequential speed, inside its spread of {speed_sd:.2f}×")
    if not bits:
        return ""
    return f" ({' and '.join(bits)} over {int(min(ref.get('runs', 1), r.get('runs', 1)))} repeats: not firm)"


def one_shot_sentence(per_n: pd.DataFrame, cores: int, tolerance_pp: float = TOLERANCE_PP) -> str:
    """What the paper's one-shot averaging did, from :func:`exemplar.reporting.comparison.summarize_parallel`
    (or :func:`exemplar.metrics.summarize_runs`) of its runs.

    Speedups come from the slowest engine's fit CPU time (``fit_cpu_seconds_max``) where every row has
    one: other work on the machine barely moves it, and above the cores it estimates the time on a core
    per engine (those engine counts are marked estimated). Else from its wall time (``fit_seconds_max``),
    and engine counts above the cores are marked as sharing them. A speedup below 1 is said to be slower
    (:func:`speed_words`), and the verdict says where the method trained faster (:func:`one_shot_verdict`).
    An engine count whose accuracy or speed is decided inside its spread over the repeats says so
    (:func:`one_shot_firmness`); with a ``runs`` column, the sentence ends with the repeats its means average.
    """
    per_n = per_n.sort_values("n_engines")
    ref = per_n[per_n.n_engines == 1]
    more = per_n[per_n.n_engines > 1]
    if ref.empty or more.empty:
        return "The paper's method (one average at the end) has no 1- and multi-engine runs in these results."
    cpu = "fit_cpu_seconds_max" in per_n.columns and per_n["fit_cpu_seconds_max"].notna().all()
    time_col = "fit_cpu_seconds_max" if cpu else "fit_seconds_max"
    t1, a1 = float(ref[time_col].iloc[0]), float(ref.accuracy_pct.iloc[0])
    bits, faster, kept = [], [], []
    for _, r in more.iterrows():
        n, speedup, loss = int(r.n_engines), t1 / r[time_col], a1 - r.accuracy_pct
        shared = ("" if n <= cores else
                  f" (estimated: more engines than the {cores} cores)" if cpu else ", sharing cores")
        bits.append(f"{speed_words(speedup)} and {abs(loss):.2f} pp "
                    f"{'less' if loss >= 0 else 'more'} accurate on {n} engines{shared}"
                    + one_shot_firmness(ref.iloc[0], r, time_col, tolerance_pp))
        faster += [n] if round(speedup, 2) > 1 else []
        kept += [n] if loss <= tolerance_pp else []
    verdict = one_shot_verdict(faster, kept, len(more))
    return (f"The paper's method, one average of the engines' networks at the end, **{verdict}**: "
            + "; ".join(bits) + (" (CPU time of the slowest engine's training, which other work on the machine "
                                 "barely moves" if cpu else " (training time of the slowest engine")
            + f"; sequential {a1:.2f} %" + (f"; {_averaged(repeats_words(per_n.runs))}"
                                             if "runs" in per_n else "") + ").")


def communication_sentence(runs: pd.DataFrame, prov: dict) -> str:
    """The communication chapter's answer by time to the target (:func:`exemplar.analysis.communication.answer_to_target`
    of ``results/communication.csv``'s rows): the verdict per input scaling, the fastest variant per engine count
    with its speedup, the machine and the repeats. Results from before the time-to-target chapter (no ``phase``
    column) are named as such, not read."""
    if "phase" not in runs.columns:
        return ("The communication chapter's results predate its time-to-target runs: rerun the chapter "
                "(`exemplar run 04-communication`) for its answer.")
    cores = provenance.cores(prov)
    tolerance = float((prov.get("parameters") or {}).get("tolerance_pp", TOLERANCE_PP))
    answer = communication.answer_to_target(communication.summarize_to_target(runs), cores)
    repeats = repeats_text(runs)
    return (verdict_sentence(answer, tolerance, lead="Communicating during training instead (the communication "
                                                     "chapter), and ")
            + " " + " ".join(details(t) for t in communication.by_scale(answer).values())
            + " " + oversubscribed_sentence(answer.n_engines.unique(), cores)
            + (f" ({_averaged(repeats).capitalize()} per point.)" if repeats else ""))


def answer_paragraph(directory: Path | None = None) -> str:
    """The answer, from ``exemplar.csv`` and ``communication.csv`` in ``directory`` (default: the results folder)."""
    directory = Path(directory) if directory is not None else config.results_dir()
    parts = []
    try:
        runs, prov = results.read_results(exemplar_parallel.RESULTS_NAME, directory)
        parts.append(one_shot_sentence(comparison.summarize_parallel(runs[runs.strategy == "one-shot"]),
                                       provenance.cores(prov)))
    except FileNotFoundError:
        parts.append("The exemplar-parallelism chapter has no results yet (run `make book`).")
    try:
        runs, prov = results.read_results(communication.RESULTS_NAME, directory)
        parts.append(communication_sentence(runs, prov))
    except FileNotFoundError:
        parts.append("The communication chapter has no results yet (run `make book`).")
    if any("not firm" in part or "not a firm" in part for part in parts):
        parts.append(FIRM_NOTE)
    return "**The answer, from this build's measurements.** " + " ".join(parts)


def render_intro(source: Path, target: Path, directory: Path | None = None) -> Path:
    """Write ``source`` (``book/intro.md``) to ``target`` with the line :data:`MARKER` replaced by the answer."""
    text = Path(source).read_text(encoding="utf-8")
    if MARKER not in text:
        raise ValueError(f"{source} has no line {MARKER!r} to put the measured answer at")
    lines = [answer_paragraph(directory) if line.strip() == MARKER else line for line in text.splitlines()]
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
