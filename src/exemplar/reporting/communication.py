"""Chapter 04's text: time to a target accuracy per variant and engine count, in sentences, tables and a figure.

Every number comes from :mod:`exemplar.analysis.communication` (the runs' summary,
:func:`~exemplar.analysis.communication.answer_to_target`, the speedups, the per-step split, the
reference runs) and :mod:`exemplar.analysis.frontier` (the frontier and the speedup's factors);
this module only says it. The notebook ``04-communication`` shows it as ``page``.

For the report's first page, :func:`verdict_sentence` takes a ``lead``: with it, the sentence starts
with ``lead`` and continues in lower case ("Communicating during training instead (the
communication chapter), and timing ...").
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from exemplar import config, results
from exemplar.analysis import provenance
from exemplar.analysis.communication import (CURVES_NAME, SCALE_NAME, by_scale, estimated,
                                             fewest_exchanges, reference_summary, speedups, step_split, to_target)
from exemplar.analysis.frontier import basis_of, fastest_factors
from exemplar.reporting import figures, sweep
from exemplar.reporting.status import precision_sentence

#: How each way a run ended is said.
STOPPED = {"target": "reached the target", "budget": "ran out of budget", "patience": "ran out of patience",
           "rule": "stopped by scikit-learn's rule"}


# ---------------------------------------------------------------------------------------------- the plan and the runs
def engines_list(ns: Iterable) -> str:
    """Engine counts in words: ``"2"``, ``"2 and 4"``, ``"2, 4 and 6"``."""
    return figures.and_list(int(n) for n in ns)


def plan_sentence(p) -> str:
    """The plan in words: the classifier, the target and its validation set, the budget, the patience, the
    variants and the number of runs."""
    parallel = [n for n in p.engine_counts if n > 1]
    scalings = len(p.scale_inputs)
    n_ref = scalings * p.repeats
    n_runs = n_ref + scalings * p.repeats * (1 + len(p.variants) * len(parallel))
    patience = (f", or after {p.patience_factor:g}× them without a new best validation accuracy (patience)"
                if p.patience_factor > 0 else "")
    return (f"Classifier: {sweep.classifier_text(p)}. **The target**, per input scaling: the mean validation "
            f"accuracy of {p.repeats} sequential reference runs (one engine, scikit-learn's network and stopping "
            f"rule, at most {p.epochs} epochs) minus **{p.tolerance_pp:g} pp**, on a validation set of "
            f"{p.n_validation:,} training images (images {p.n_train:,}–{p.n_train + p.n_validation - 1:,}, never "
            f"the test set). Every run then trains until its validation accuracy reaches the target, or gives up "
            f"after {p.budget_factor:g}× the reference runs' mean optimizer steps (budget){patience}. "
            f"{len(p.variants)} variants ({', '.join(p.variants)}) on {engines_list(parallel)} engines and the "
            f"sequential run on one, × {scalings} input scaling{'s' if scalings != 1 else ''} × {p.repeats} repeats, "
            f"after the {n_ref} reference runs: **{n_runs} runs**.")


def oversubscribed(ns: Iterable, cores: int) -> list[int]:
    """The engine counts of ``ns`` above ``cores``, sorted."""
    return sorted({int(n) for n in ns if int(n) > cores})


def oversubscribed_sentence(ns: Iterable, cores: int) -> str:
    """Says plainly which engine counts oversubscribe the machine and that their speedups are estimates."""
    over = oversubscribed(ns, cores)
    if not over:
        return f"Every engine count had a core per engine on this {cores}-core machine: its speedups are measured."
    return (f"On this {cores}-core machine {engines_list(over)} engines oversubscribe it (they take turns on "
            f"the cores): **their speedups are estimates** with a core per engine, not measurements.")


def run_sentence(run) -> str:
    """How many runs, how long, where written, the machine, how the runs to the target ended, from a
    :class:`~exemplar.experiments.runner.ChapterRun`."""
    runs, prov = run.rows, run.prov
    cores = provenance.cores(prov)
    tt = to_target(runs)
    ended = tt.stopped_by.value_counts() if "stopped_by" in tt else pd.Series(dtype=int)
    how = ", ".join(f"{int(k)} {STOPPED.get(s, s)}" for s, k in ended.items())
    return (f"{len(runs)} runs in **{prov['run_seconds'] / 60:.1f} minutes**, written to "
            f"`{config.display_path(run.path)}`. This machine has **{cores} cores** ({prov['machine']['cpu_model']}). "
            f"Of the {len(tt)} runs to the target, {how or 'none ended yet'}. "
            + precision_sentence(prov.get("parameters", {}).get("dtype")) + " "
            + oversubscribed_sentence(runs.n_engines.unique(), cores))


def curves(run) -> pd.DataFrame:
    """The run's checkpoints (``results/communication_curves.csv`` beside its results file), their estimate
    with a core per engine priced as the summary's (:func:`~exemplar.analysis.communication.sound_curves`)."""
    from exemplar.analysis.communication import KEY_COLUMNS, sound_curves

    return sound_curves(results.read_results(CURVES_NAME, run.path.parent)[0], run.rows, KEY_COLUMNS)


def validation_sentence(runs: pd.DataFrame, cores: int) -> str:
    """The dedicated-core estimate's model, and where engines had a core each, the estimate over the measured
    training time per variant (:func:`exemplar.parallel.dedicated.validation`)."""
    from exemplar.parallel import dedicated

    model = ("The estimate with a core per engine is a run's optimizer steps × one step's compute, timed on a "
             "core of its own (the step probe), plus its exchanges × one exchange among n engines with a core "
             f"each, modelled as {dedicated.COMM_MODEL} probe. ")
    tt = to_target(runs)
    if "dedicated_seconds" not in tt.columns or tt.empty:
        return model + "These runs have no estimate to check."
    return model + dedicated.validation_sentence(dedicated.validation(tt, cores, by=("variant",)))


# ---------------------------------------------------------------------------------------------- the answer
def repeats_text(runs: pd.DataFrame) -> str:
    """The repeats the means average: "3 repeats", "2–3 repeats", "one run"; ``""`` without the column."""
    if "repeat" not in runs or runs.empty:
        return ""
    per = to_target(runs).groupby(["scale_inputs", "variant", "n_engines"]).repeat.nunique()
    if per.empty:
        return ""
    low, high = int(per.min()), int(per.max())
    return "one run" if high == 1 else f"{low}{'' if low == high else f'–{high}'} repeats"


def _faster(r) -> bool:
    return bool(r.reached) and round(float(r.speedup), 2) > 1


def verdict(t: pd.DataFrame) -> str:
    """The answer for one input scaling (its rows of :func:`~exemplar.analysis.communication.answer_to_target`)."""
    fast = [int(r.n_engines) for _, r in t.iterrows() if _faster(r)]
    slow = [int(r.n_engines) for _, r in t.iterrows() if r.reached and not _faster(r)]
    rest = [int(n) for n in t.n_engines if int(n) not in fast]
    if fast and not rest:
        return "yes, on every engine count measured"
    if fast:
        return f"yes on {engines_list(fast)} engines, not on {engines_list(rest)}"
    if slow:
        return f"no: the target was reached on {engines_list(slow)} engines, but not faster than sequentially"
    return "no: no variant reached the target on any engine count"


def firmness(r) -> str:
    """Why one engine count's answer is not firm: "1.10× inside its spread of 0.20×"; ``""`` where firm or unknown."""
    if not r.reached or bool(r.firm) or pd.isna(r.speedup_sd):
        return ""
    return f"{r.speedup:.2f}× the sequential speed, inside its spread of {r.speedup_sd:.2f}×"


def flags(t: pd.DataFrame) -> str:
    """The engine counts of one scaling whose answer is not firm, in brackets; ``""`` where every one is firm."""
    said = [f"on {int(r.n_engines)} engines {firmness(r)}: not a firm {'yes' if _faster(r) else 'no'}"
            for _, r in t.iterrows() if firmness(r)]
    return f" ({'; '.join(said)})" if said else ""


def verdict_sentence(answer: pd.DataFrame, tolerance_pp: float, lead: str = "") -> str:
    """The verdict per input scaling in one sentence, with the engine counts whose answer is not firm.

    Parameters
    ----------
    answer : DataFrame
        :func:`exemplar.analysis.communication.answer_to_target`'s rows.
    tolerance_pp : float
        How far below the sequential reference runs' validation accuracy the target lies.
    lead : str
        Words to start the sentence with; the sentence then goes on in lower case ("timing ...").
    """
    verdicts = "; ".join(f"with {SCALE_NAME[s]}{', as in the paper' if not s else ''}, **{verdict(t)}**{flags(t)}"
                         for s, t in by_scale(answer).items())
    return (f"{lead}{'timing' if lead else 'Timing'} how long each way of training takes to reach a target "
            f"validation accuracy (the sequential runs' minus {tolerance_pp:g} pp), can the engines train faster "
            f"than one process to the same accuracy? {verdicts[0].upper() + verdicts[1:]}.")


def _sd(r) -> str:
    """" ± 0.12" after a speedup, or ``""`` where its sd is unknown (one run)."""
    return "" if pd.isna(r.speedup_sd) else f" ± {r.speedup_sd:.2f}"


def _basis_words(r) -> str:
    return "estimated with a core per engine" if r.basis == "estimate" else "measured"


def details(t: pd.DataFrame) -> str:
    """For one input scaling: the target, then per engine count the fastest variant and its speedup, or none."""
    bits = []
    for _, r in t.iterrows():
        if r.reached:
            bits.append(f"on {int(r.n_engines)} engines *{r.fastest}* at **{r.speedup:.2f}×{_sd(r)}** "
                        f"({_basis_words(r)}; {r.steps_ratio:.2f}× the sequential steps, test accuracy at the "
                        f"target {r.gap_pp:+.2f} pp)")
        else:
            bits.append(f"on {int(r.n_engines)} engines no variant reached it in every repeat")
    first = t.iloc[0]
    return (f"With {SCALE_NAME[bool(first.scale_inputs)]} (target {first.target_pct:.2f} %): " + "; ".join(bits) + ".")


def answer_paragraph(answer: pd.DataFrame, tolerance_pp: float, cores: int, repeats: str) -> str:
    """The chapter's answer to its title question (glued under the title as ``answer``)."""
    basis = (" Where the engines outnumber the cores, the speedup compares the estimates with a core per engine "
             "(steps × the step probe + exchanges × the collective), the sequential run's too."
             if estimated(answer) else "")
    return (f"**The answer, as measured in this chapter.** {verdict_sentence(answer, tolerance_pp)} "
            + " ".join(details(t) for t in by_scale(answer).values())
            + f" Speedups are the sequential run's mean training time to the target over the variant's, "
              f"evaluation off the clock, on this {cores}-core machine ({repeats or 'one run'}).{basis}")


def answer_table(answer: pd.DataFrame) -> pd.DataFrame:
    """:func:`~exemplar.analysis.communication.answer_to_target` with readable columns."""
    t = answer.copy()
    out = pd.DataFrame({
        "inputs": t.scale_inputs.map(SCALE_NAME), "engines": t.n_engines, "target (%)": t.target_pct,
        "sequential to target (s)": t.sequential_seconds, "fastest to target": t.fastest.fillna("–"),
        "speedup": t.speedup, "sd": t.speedup_sd, "basis": t.basis, "steps ratio": t.steps_ratio,
        "test accuracy gap at target (pp)": t.gap_pp,
        "variants reaching it": [f"{int(a)} of {int(b)}" for a, b in zip(t.variants_reached, t.variants)],
        "firm?": np.where(~t.reached, "–", np.where(t.firm, "yes", np.where(
            t.speedup_sd.isna(), "not known (one run)", "no: inside the spread")))})
    return out.reset_index(drop=True)


def speedup_table(summary: pd.DataFrame, cores: int) -> pd.DataFrame:
    """Every variant's speedup to the target (:func:`~exemplar.analysis.communication.speedups`), readable."""
    t = speedups(summary, cores)
    if t.empty:
        return pd.DataFrame(columns=["inputs", "engines", "variant"])
    t = t.sort_values(["scale_inputs", "n_engines", "speedup"], ascending=[True, True, False], na_position="last")
    return pd.DataFrame({
        "inputs": t.scale_inputs.map(SCALE_NAME), "engines": t.n_engines, "variant": t.variant,
        "reached": [f"{int(a)} of {int(b)}" for a, b in zip(t.reached_runs, t.runs)], "speedup": t.speedup,
        "sd": t.speedup_sd, "basis": t.basis, "measured": t.speedup_measured, "estimate": t.speedup_estimate,
        "steps ratio": t.steps_ratio, "test accuracy gap at target (pp)": t.gap_pp}).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- what held it back
def split_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`~exemplar.analysis.communication.step_split` readable: a step's compute and collective, the steps."""
    t = step_split(summary)
    if t.empty:
        return pd.DataFrame(columns=["inputs", "engines", "variant"])
    t = t[t.n_engines > 1]
    return pd.DataFrame({
        "inputs": t.scale_inputs.map(SCALE_NAME), "engines": t.n_engines, "variant": t.variant,
        "steps to target": t.steps_to_target, "steps ratio": t.steps_ratio, "compute per step (ms)": t.compute_ms,
        "sequential step (ms)": t.sequential_compute_ms, "collective per exchange (ms)": t.collective_ms,
        "exchanges per step": t.exchanges_per_step,
        "collective per step (ms)": t.collective_ms * t.exchanges_per_step,
        "compute to target (s)": t.compute_seconds, "collective to target (s)": t.collective_seconds,
        "collective share (%)": 100 * t.collective_share}).reset_index(drop=True)


def held_back_sentences(summary: pd.DataFrame, answer: pd.DataFrame) -> str:
    """Per input scaling and engine count, which term holds the fastest variant's speedup back, with figures
    (:func:`exemplar.analysis.frontier.fastest_factors`: speedup = n / (samples × row cost × collective))."""
    f = fastest_factors(summary, answer)
    if f.empty:
        return "No variant reached the target in every repeat on more than one engine, so there is no speedup to split."
    bits = []
    for _, r in f.sort_values(["scale_inputs", "n_engines"]).iterrows():
        worst = (f"**{r.held_back}** holds it back most" if isinstance(r.held_back, str)
                 else "together they leave it at or above the ideal")
        bits.append(f"With {SCALE_NAME[bool(r.scale_inputs)]} on {int(r.n_engines)} engines, *{r.variant}* "
                    f"({r.speedup:.2f}×, {r.basis}; {r.speedup_model:.2f}× in the estimate's terms, of an ideal "
                    f"{int(r.ideal)}×): rows to the target {r.samples_ratio:.2f}× the sequential run's (extra steps), "
                    f"one row's compute {r.row_cost_ratio:.2f}× (compute), the collective "
                    f"+{100 * (r.collective_factor - 1):.0f} % on its compute (collective): {worst}.")
    return " ".join(bits)


def exchanges_sentence(summary: pd.DataFrame) -> str:
    """At the most engines, per input scaling, the variant that reached the target with the fewest exchanges."""
    n = int(summary.n_engines.max())
    best = fewest_exchanges(summary, n)
    if best.empty:
        return f"On {n} engines no variant reached the target in every repeat."
    bits = [f"with {SCALE_NAME[bool(r.scale_inputs)]}, *{r.variant}*: {r.exchanges_to_target_mean:.0f} exchanges, "
            f"{r.dedicated_time_to_target_seconds_mean:.2f} s (estimate with a core per engine), "
            f"{r.test_accuracy_at_target_pct_mean:.2f} % on the test set" for _, r in best.iterrows()]
    return (f"On {n} engines, the fewest exchanges of model state that reached the target: " + "; ".join(bits)
            + ". The combining chapter's figure puts these beside its methods, which exchange once or twice.")


# ---------------------------------------------------------------------------------------------- the reference runs
def reference_table(runs: pd.DataFrame) -> pd.DataFrame:
    """:func:`~exemplar.analysis.communication.reference_summary`, readable."""
    t = reference_summary(runs)
    out = pd.DataFrame({"inputs": t.scale_inputs.map(SCALE_NAME), "runs": t.runs,
                        "validation (%)": t.validation_pct, "sd": t.validation_sd, "test (%)": t.accuracy_pct,
                        "test sd": t.accuracy_sd, "epochs": t.epochs, "steps": t.steps, "training (s)": t.seconds})
    if "target_pct" in t:
        out["target (%)"] = t.target_pct
    return out.reset_index(drop=True)


def reference_paragraph(runs: pd.DataFrame) -> str:
    """What input scaling does to the sequential network (the reference runs), raw pixels against pixels / 255."""
    t = reference_summary(runs).set_index("scale_inputs")
    if len(t) != 2:
        return "Only one input scaling was run, so its effect on the sequential network cannot be compared here."
    raw, scaled = t.loc[False], t.loc[True]
    sds = ("" if pd.isna(raw.accuracy_sd) or pd.isna(scaled.accuracy_sd)
           else f"; sds {raw.accuracy_sd:.2f} and {scaled.accuracy_sd:.2f} pp")
    return (f"Scaling the pixels to [0, 1] moved the sequential network's test accuracy from {raw.accuracy_pct:.2f} % "
            f"to {scaled.accuracy_pct:.2f} % (**{scaled.accuracy_pct - raw.accuracy_pct:+.2f} pp**{sds}) and its "
            f"validation accuracy by "
            f"{scaled.validation_pct - raw.validation_pct:+.2f} pp, in {scaled.epochs:.0f} epochs against "
            f"{raw.epochs:.0f}. Each scaling has its own target, so every speedup above compares like with like.")


# ---------------------------------------------------------------------------------------------- figure and summary
def frontier_figure(curve_rows: pd.DataFrame, summary: pd.DataFrame, cores: int):
    """The speed/accuracy frontier at the most engines (:func:`exemplar.reporting.strategy_figures.time_frontier`),
    on the estimate where they outnumber ``cores``."""
    from exemplar.reporting import strategy_figures

    n = int(summary.n_engines.max())
    return strategy_figures.time_frontier(curve_rows, summary, n, cores, basis_of(n, cores))


def summary_bullets(answer: pd.DataFrame, tolerance_pp: float, run_seconds: float, cores: int) -> str:
    """The chapter's summary, as a markdown list: the verdict, the best speedup per scaling, the machine."""
    bullets = [f"- {verdict_sentence(answer, tolerance_pp)}"]
    for s, t in by_scale(answer).items():
        ok = t[t.reached]
        if len(ok):
            top = ok.loc[ok.speedup.idxmax()]
            bullets.append(f"- With {SCALE_NAME[s]}, the largest speedup to the target was **{top.speedup:.2f}×** "
                           f"({_basis_words(top)}), by *{top.fastest}* on {int(top.n_engines)} engines, its test "
                           f"accuracy at the target {top.gap_pp:+.2f} pp from the sequential run's.")
        else:
            bullets.append(f"- With {SCALE_NAME[s]}, no variant reached the target in every repeat.")
    bullets.append(f"- The runs took {run_seconds / 60:.1f} minutes on {cores} cores. "
                   + oversubscribed_sentence(answer.n_engines.unique(), cores))
    return "\n".join(bullets)
