"""The report's answer to its title question, computed from the measured results, for the site's first page.

"Can we increase the speed, keeping the same accuracy?" is answered twice by the chapters: by the
paper's own method (one average at the end, chapter 03) and by the strategies that communicate
more often (chapter 04). :func:`answer_paragraph` states both in one paragraph;
:func:`render_intro` puts it at the top of ``book/intro.md`` when the site is built.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from exemplar import config, results

#: The line of ``book/intro.md`` that the measured answer replaces (a MyST comment: invisible if left).
MARKER = "% exemplar:answer"
#: What "the same accuracy" means here, in percentage points (as in the communication chapter).
TOLERANCE_PP = 0.5


def one_shot_sentence(per_n: pd.DataFrame, cores: int, tolerance_pp: float = TOLERANCE_PP) -> str:
    """What the paper's one-shot averaging did, from :func:`exemplar.reporting.claims.summarize_parallel`
    (or :func:`exemplar.metrics.summarize_runs`) of its runs.

    Speedups come from the slowest engine's fit CPU time (``fit_cpu_seconds_max``) where every row has
    one: other work on the machine barely moves it, and above the cores it estimates the time on a core
    per engine (those engine counts are marked estimated). Else from its wall time (``fit_seconds_max``),
    and engine counts above the cores are marked as sharing them.
    """
    per_n = per_n.sort_values("n_engines")
    ref = per_n[per_n.n_engines == 1]
    more = per_n[per_n.n_engines > 1]
    if ref.empty or more.empty:
        return "The paper's method (one average at the end) has no 1- and multi-engine runs in these results."
    cpu = "fit_cpu_seconds_max" in per_n.columns and per_n["fit_cpu_seconds_max"].notna().all()
    time_col = "fit_cpu_seconds_max" if cpu else "fit_seconds_max"
    t1, a1 = float(ref[time_col].iloc[0]), float(ref.accuracy_pct.iloc[0])
    bits = []
    for _, r in more.iterrows():
        shared = ("" if r.n_engines <= cores else
                  f" (estimated: more engines than the {cores} cores)" if cpu else ", sharing cores")
        loss = a1 - r.accuracy_pct
        bits.append(f"{t1 / r[time_col]:.2f}× faster and {abs(loss):.2f} pp "
                    f"{'less' if loss >= 0 else 'more'} accurate on {int(r.n_engines)} engines{shared}")
    kept = [int(r.n_engines) for _, r in more.iterrows() if a1 - r.accuracy_pct <= tolerance_pp]
    verdict = ("keeps the accuracy" if len(kept) == len(more) else
               "trains faster but does not keep the accuracy" if not kept else
               f"keeps the accuracy only on {', '.join(map(str, kept))} engines")
    return (f"The paper's method, one average of the engines' networks at the end, **{verdict}**: "
            + "; ".join(bits) + (" (CPU time of the slowest engine's training, which other work on the machine "
                                 "barely moves" if cpu else " (training time of the slowest engine")
            + f"; sequential {a1:.2f} %).")


def answer_paragraph(directory: Path | None = None) -> str:
    """The answer, from ``exemplar.csv`` and ``communication.csv`` in ``directory`` (default: the results folder)."""
    from exemplar.experiments import communication
    from exemplar.reporting import claims

    directory = Path(directory) if directory is not None else config.results_dir()
    parts = []
    try:
        runs, prov = results.read_results("exemplar", directory)
        cores = int(prov.get("machine", {}).get("usable_cores") or 0) or results.usable_cores()
        parts.append(one_shot_sentence(claims.summarize_parallel(runs[runs.strategy == "one-shot"]), cores))
    except FileNotFoundError:
        parts.append("The exemplar-parallelism chapter has no results yet (run `make book`).")
    try:
        runs, prov = results.read_results("communication", directory)
        cores = int(prov.get("machine", {}).get("usable_cores") or 0) or results.usable_cores()
        answer = communication.speed_at_same_accuracy(communication.summarize(runs), TOLERANCE_PP, cores=cores)
        sentence = communication.verdict_sentence(answer, TOLERANCE_PP)
        parts.append("Communicating during training instead (the communication chapter), and c" + sentence[1:]
                     + f" Measured on {cores} cores; engine counts above that share cores.")
    except FileNotFoundError:
        parts.append("The communication chapter has no results yet (run `make book`).")
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
