"""Chapter 04's page: its sentences, tables and figure (reporting.communication, reporting.strategy_figures) and the
frontier's numbers (analysis.frontier), from made-up runs in the time-to-target schema.

The made-up runs, 2 repeats each, on a 2-core machine: raw pixels, the sequential run reaches the target in
10 s (estimate 8 s); on 2 engines gradient-allreduce in 4 and 6 s (estimate 6 s) and one-shot in 8 s; on 4
engines (above the cores: the estimate) gradient-allreduce in an estimated 4 s, one-shot never. Pixels / 255:
only gradient-allreduce on 2 engines reaches the target, slower than sequentially.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from exemplar import results
from exemplar.analysis import communication as analysis
from exemplar.analysis import frontier
from exemplar.experiments import runner
from exemplar.reporting import answer as first_page
from exemplar.reporting import communication as page
from exemplar.reporting import strategy_figures

CORES = 2
#: (scale, n, variant): (reached, measured times per repeat, steps, exchanges, step probe s, collective s, test %)
TO_TARGET = {
    (False, 1, "one-shot"): (True, (10.0, 10.0), 100, 0, 0.08, 0.0, 88.0),
    (False, 2, "one-shot"): (True, (8.0, 8.0), 80, 0, 0.08, 0.0, 86.0),
    (False, 2, "gradient-allreduce"): (True, (4.0, 6.0), 60, 60, 0.08, 0.02, 87.5),
    (False, 4, "one-shot"): (False, (9.0, 9.0), 400, 0, 0.08, 0.0, 80.0),
    (False, 4, "gradient-allreduce"): (True, (12.0, 12.0), 40, 40, 0.08, 0.02, 87.0),
    (True, 1, "one-shot"): (True, (10.0, 10.0), 100, 0, 0.08, 0.0, 94.5),
    (True, 2, "one-shot"): (False, (9.0, 9.0), 400, 0, 0.08, 0.0, 90.0),
    (True, 2, "gradient-allreduce"): (True, (11.0, 11.0), 100, 100, 0.08, 0.01, 94.4),
    (True, 4, "one-shot"): (False, (9.0, 9.0), 400, 0, 0.08, 0.0, 90.0),
    (True, 4, "gradient-allreduce"): (False, (9.0, 9.0), 400, 400, 0.08, 0.02, 93.0),
}
#: scale: (validation % per repeat, test % per repeat, epochs, steps, seconds)
REFERENCE = {False: ((89.0, 89.2), (88.1, 88.3), 30, 150, 12.0), True: ((95.0, 95.4), (94.8, 95.2), 40, 200, 15.0)}


def made_up_runs() -> pd.DataFrame:
    rows = []
    for scale, (val, test, epochs, steps, seconds) in REFERENCE.items():
        for r in range(2):
            rows.append({"n_engines": 1, "scale_inputs": scale, "repeat": r, "seed": r, "variant": analysis.REFERENCE,
                         "strategy": "one-shot", "phase": "reference", "reached": False, "stopped_by": "rule",
                         "validation_pct": val[r], "accuracy_pct": test[r], "n_iter_max": epochs, "steps": steps,
                         "fit_seconds_max": seconds, "dedicated_seconds": seconds, "local_batch": 200})
    for (scale, n, variant), (reached, times, steps, exchanges, probe, coll, test) in TO_TARGET.items():
        target = float(np.mean(REFERENCE[scale][0])) - 0.5
        dedicated = steps * probe + exchanges * coll
        for r, t in enumerate(times):
            rows.append({"n_engines": n, "scale_inputs": scale, "repeat": r, "seed": r, "variant": variant,
                         "strategy": variant, "phase": "to target", "target_pct": target, "reached": reached,
                         "stopped_by": "target" if reached else "budget",
                         "time_to_target_seconds": t if reached else np.nan,
                         "dedicated_time_to_target_seconds": dedicated if reached else np.nan,
                         "steps_to_target": steps if reached else np.nan,
                         "exchanges_to_target": exchanges if reached else np.nan,
                         "epochs_to_target": steps / 5 if reached else np.nan,
                         "test_accuracy_at_target_pct": test if reached else np.nan, "accuracy_pct": test,
                         "validation_pct": target + (0.1 if reached else -1.0), "step_probe_seconds": probe,
                         "collective_seconds": coll, "local_batch": 200, "global_batch": 200 * n,
                         "learning_rate": 0.001, "steps": steps, "fit_seconds_max": t, "dedicated_seconds": dedicated,
                         "n_iter_max": steps // 5})
    return pd.DataFrame(rows)


@pytest.fixture
def runs():
    return made_up_runs()


@pytest.fixture
def summary(runs):
    return analysis.summarize_to_target(runs)


@pytest.fixture
def answer(summary):
    return analysis.answer_to_target(summary, CORES)


# ---------------------------------------------------------------------------------------------- the plan and the runs
def test_plan_sentence_states_the_target_validation_set_budget_patience_and_runs():
    p = SimpleNamespace(hidden=75, epochs=75, chosen_by="the paper's", engine_counts=[1, 2, 4], repeats=2,
                        scale_inputs=[False, True], variants=["one-shot", "gradient-allreduce"], tolerance_pp=0.5,
                        n_train=1000, n_validation=5000, budget_factor=4.0, patience_factor=0.5)
    text = page.plan_sentence(p)
    assert "minus **0.5 pp**, on a validation set of 5,000 training images (images 1,000–5,999, never the test " \
           "set)" in text
    assert "after 4× the reference runs' mean optimizer steps (budget), or after 0.5× them without a new best" in text
    # 4 references + 2 scalings × 2 repeats × (1 sequential + 2 variants × 2 engine counts) = 4 + 20
    assert text.endswith("2 variants (one-shot, gradient-allreduce) on 2 and 4 engines and the sequential run on "
                         "one, × 2 input scalings × 2 repeats, after the 4 reference runs: **24 runs**.")
    p.patience_factor = 0
    assert "without a new best" not in page.plan_sentence(p)


def test_run_sentence_counts_how_the_runs_ended_and_says_the_oversubscribed_counts_are_estimates(runs):
    prov = {"run_seconds": 90.0, "machine": {"usable_cores": 2, "cpu_model": "Some CPU"}}
    text = page.run_sentence(runner.ChapterRun(runs, prov, "/elsewhere/communication.csv"))
    assert text.startswith("24 runs in **1.5 minutes**, written to `/elsewhere/communication.csv`. This machine has "
                           "**2 cores** (Some CPU). Of the 20 runs to the target, 12 reached the target, 8 ran out "
                           "of budget. ")
    assert text.endswith("On this 2-core machine 4 engines oversubscribe it (they take turns on the cores): **their "
                         "speedups are estimates** with a core per engine, not measurements.")
    assert page.oversubscribed_sentence([1, 2], 2).endswith("its speedups are measured.")
    assert "4 and 6 engines oversubscribe it" in page.oversubscribed_sentence([1, 2, 4, 6], 2)


def test_validation_sentence_states_the_model_and_checks_it_where_engines_have_a_core(runs):
    text = page.validation_sentence(runs[~runs.scale_inputs], CORES)
    assert "ceil(log2 n) × the 2-engine Allreduce probe" in text
    # gradient-allreduce on 2 engines: estimate 6.0 s against the measured 5.0 s; one-shot: 6.4 / 8 and 8 / 10
    assert "gradient-allreduce on 2 engines 1.20; one-shot on 1 engine 0.80; one-shot on 2 engines 0.80" in text
    assert text.endswith("0 of 3 within 10 %.")
    assert "one-shot on 4 engines" not in page.validation_sentence(runs, CORES)       # 4 engines share 2 cores
    assert page.validation_sentence(runs[runs.phase == "reference"], CORES).endswith("no estimate to check.")


# ---------------------------------------------------------------------------------------------- the answer
def test_verdict_per_scaling(answer):
    raw, scaled = analysis.by_scale(answer)[False], analysis.by_scale(answer)[True]
    assert page.verdict(raw) == "yes, on every engine count measured"
    assert page.verdict(scaled) == "no: the target was reached on 2 engines, but not faster than sequentially"
    assert page.verdict(scaled[scaled.n_engines == 4]) == "no: no variant reached the target on any engine count"
    mixed = raw.copy()
    mixed.loc[mixed.n_engines == 4, "speedup"] = 0.9
    assert page.verdict(mixed) == "yes on 2 engines, not on 4"


def test_answer_paragraph_word_for_word(answer):
    assert page.answer_paragraph(answer, 0.5, CORES, "2 repeats") == (
        "**The answer, as measured in this chapter.** Timing how long each way of training takes to reach a target "
        "validation accuracy (the sequential runs' minus 0.5 pp), can the engines train faster than one process to "
        "the same accuracy? With raw pixels, as in the paper, **yes, on every engine count measured**; with pixels / "
        "255, **no: the target was reached on 2 engines, but not faster than sequentially**. With raw pixels "
        "(target 88.60 %): on 2 engines *gradient-allreduce* at **2.00× ± 0.57** (measured; 0.60× the sequential "
        "steps, test accuracy at the target -0.50 pp); on 4 engines *gradient-allreduce* at **2.00× ± 0.00** "
        "(estimated with a core per engine; 0.40× the sequential steps, test accuracy at the target -1.00 pp). With "
        "pixels / 255 (target 94.70 %): on 2 engines *gradient-allreduce* at **0.91× ± 0.00** (measured; 1.00× the "
        "sequential steps, test accuracy at the target -0.10 pp); on 4 engines no variant reached it in every "
        "repeat. Speedups are the sequential run's mean training time to the target over the variant's, evaluation "
        "off the clock, on this 2-core machine (2 repeats). Where the engines outnumber the cores, the speedup "
        "compares the estimates with a core per engine (steps × the step probe + exchanges × the collective), the "
        "sequential run's too.")


def test_a_speedup_inside_its_spread_is_not_firm(answer):
    shaky = answer.copy()
    shaky.loc[0, ["speedup", "speedup_sd", "firm"]] = [1.1, 0.3, False]
    text = page.verdict_sentence(shaky, 0.5, lead="Led, and ")
    assert text.startswith("Led, and timing how long")
    assert "(on 2 engines 1.10× the sequential speed, inside its spread of 0.30×: not a firm yes)" in text


def test_answer_table_has_one_row_per_scaling_and_engine_count(answer):
    t = page.answer_table(answer)
    assert t[["inputs", "engines", "fastest to target", "basis", "firm?"]].values.tolist() == [
        ["raw pixels", 2, "gradient-allreduce", "measured", "yes"],
        ["raw pixels", 4, "gradient-allreduce", "estimate", "yes"],
        ["pixels / 255", 2, "gradient-allreduce", "measured", "yes"],
        ["pixels / 255", 4, "–", "estimate", "–"]]
    assert t.speedup.iloc[:3].tolist() == pytest.approx([2.0, 2.0, 10 / 11])
    assert t["variants reaching it"].tolist() == ["2 of 2", "1 of 2", "1 of 2", "0 of 2"]


def test_speedup_table_lists_every_variant_fastest_first(summary):
    t = page.speedup_table(summary, CORES)
    raw2 = t[(t.inputs == "raw pixels") & (t.engines == 2)]
    assert raw2.variant.tolist() == ["gradient-allreduce", "one-shot"]
    assert raw2.speedup.tolist() == pytest.approx([2.0, 1.25])
    raw4 = t[(t.inputs == "raw pixels") & (t.engines == 4)].set_index("variant")
    assert raw4.loc["gradient-allreduce", "measured"] == pytest.approx(10 / 12)
    assert raw4.loc["gradient-allreduce", "estimate"] == pytest.approx(2.0)
    assert np.isnan(raw4.loc["one-shot", "speedup"]) and raw4.loc["one-shot", "reached"] == "0 of 2"


# ---------------------------------------------------------------------------------------------- what held it back
def test_speedup_factors_multiply_back_to_the_estimates_speedup(summary):
    f = frontier.speedup_factors(summary).set_index(["scale_inputs", "n_engines", "variant"])
    two = f.loc[(False, 2, "gradient-allreduce")]
    assert (two.samples_ratio, two.row_cost_ratio, two.collective_factor) == pytest.approx((1.2, 1.0, 1.25))
    assert two.speedup_model == pytest.approx(8.0 / 6.0) and two.held_back == "collective"
    four = f.loc[(False, 4, "gradient-allreduce")]
    assert four.speedup_model == pytest.approx(2.0) and four.held_back == "extra steps"
    assert (False, 4, "one-shot") not in f.index                     # never reached: nothing to split
    quick = summary.copy()
    quick.loc[(quick.n_engines == 2) & (quick.variant == "gradient-allreduce") & ~quick.scale_inputs,
              "steps_to_target_mean"] = 30                              # half the rows: above the ideal
    fast = frontier.speedup_factors(quick).set_index(["scale_inputs", "n_engines", "variant"])
    assert pd.isna(fast.loc[(False, 2, "gradient-allreduce"), "held_back"])
    assert "together they leave it at or above the ideal" in page.held_back_sentences(quick, analysis.answer_to_target(
        quick, CORES))


def test_held_back_sentences_name_the_term_with_figures(summary, answer):
    text = page.held_back_sentences(summary, answer)
    assert ("With raw pixels on 2 engines, *gradient-allreduce* (2.00×, measured; 1.33× in the estimate's terms, of "
            "an ideal 2×): rows to the target 1.20× the sequential run's (extra steps), one row's compute 1.00× "
            "(compute), the collective +25 % on its compute (collective): **collective** holds it back most.") in text
    assert "With raw pixels on 4 engines, *gradient-allreduce* (2.00×, estimate; 2.00× in the estimate's terms, of " \
           "an ideal 4×): rows to the target 1.60× the sequential run's" in text
    assert "**extra steps** holds it back most" in text
    nothing = answer.assign(fastest=None)
    assert page.held_back_sentences(summary, nothing).startswith("No variant reached the target")


def test_split_table_shows_compute_and_collective_per_step(summary):
    t = page.split_table(summary).set_index(["inputs", "engines", "variant"])
    row = t.loc[("raw pixels", 4, "gradient-allreduce")]
    assert row["compute per step (ms)"] == pytest.approx(80.0)
    assert row["collective per step (ms)"] == pytest.approx(20.0)
    assert row["collective share (%)"] == pytest.approx(20.0) and row["steps ratio"] == pytest.approx(0.4)
    assert 1 not in t.index.get_level_values("engines")


def test_exchanges_sentence_at_the_most_engines(summary):
    assert page.exchanges_sentence(summary) == (
        "On 4 engines, the fewest exchanges of model state that reached the target: with raw pixels, "
        "*gradient-allreduce*: 40 exchanges, 4.00 s (estimate with a core per engine), 87.00 % on the test set. "
        "The combining chapter's figure puts these beside its methods, which exchange once or twice.")
    assert page.exchanges_sentence(summary[summary.scale_inputs]) == (
        "On 4 engines no variant reached the target in every repeat.")


# ---------------------------------------------------------------------------------------------- the reference runs
def test_reference_table_and_paragraph(runs):
    t = page.reference_table(runs)
    assert t.inputs.tolist() == ["raw pixels", "pixels / 255"]
    assert t["target (%)"].tolist() == pytest.approx([88.6, 94.7])
    assert page.reference_paragraph(runs) == (
        "Scaling the pixels to [0, 1] moved the sequential network's test accuracy from 88.20 % to 95.00 % "
        "(**+6.80 pp**; sds 0.14 and 0.28 pp) and its validation accuracy by +6.10 pp, in 40 epochs against 30. "
        "Each scaling has its own target, so every speedup above compares like with like.")
    assert page.reference_paragraph(runs[~runs.scale_inputs]).startswith("Only one input scaling was run")
    one = page.reference_paragraph(runs[runs.repeat == 0])
    assert "(**+6.70 pp**) and its validation" in one                       # one run each: no sds


def test_summary_bullets(answer):
    bullets = page.summary_bullets(answer, 0.5, 90.0, CORES).split("\n")
    assert len(bullets) == 4 and bullets[0].startswith("- Timing how long")
    assert bullets[1] == ("- With raw pixels, the largest speedup to the target was **2.00×** (measured), by "
                          "*gradient-allreduce* on 2 engines, its test accuracy at the target -0.50 pp from the "
                          "sequential run's.")
    assert bullets[3].startswith("- The runs took 1.5 minutes on 2 cores. On this 2-core machine 4 engines "
                                 "oversubscribe it")


def test_repeats_text(runs):
    assert page.repeats_text(runs) == "2 repeats"
    assert page.repeats_text(runs[runs.repeat == 0]) == "one run"
    assert page.repeats_text(runs[(runs.repeat == 0) | (runs.n_engines == 1)]) == "1–2 repeats"


# ---------------------------------------------------------------------------------------------- the frontier
def made_up_curves(runs) -> pd.DataFrame:
    rows = []
    for _, r in runs.iterrows():
        for k, frac in enumerate((0.5, 1.0), start=1):
            rows.append({"n_engines": r.n_engines, "scale_inputs": r.scale_inputs, "repeat": r["repeat"],
                         "variant": r.variant, "provenance_id": "x", "checkpoint": k, "epoch": k,
                         "steps": int(r.steps * frac), "exchanges": 0, "validation_pct": 80.0 + 10 * frac,
                         "wall_seconds": r.fit_seconds_max * frac, "cpu_seconds": r.fit_seconds_max * frac,
                         "dedicated_seconds": r.dedicated_seconds * frac})
    return pd.DataFrame(rows)


def test_frontier_curves_take_the_basis_time_and_leave_out_the_references(runs):
    curves = made_up_curves(runs)
    part = frontier.frontier_curves(curves, 4, False, "estimate")
    assert set(part.variant) == {"one-shot", "gradient-allreduce"} and set(part.n_engines) == {1, 4}
    seq = part[part.sequential]
    assert seq.seconds.tolist() == pytest.approx([4.0, 8.0, 4.0, 8.0])      # the sequential run's estimate
    measured = frontier.frontier_curves(curves, 2, False, "measured")
    assert measured[measured.sequential].seconds.max() == pytest.approx(10.0)


def test_the_frontier_figure_marks_each_time_to_target_on_the_target_line(runs, summary):
    fig = page.frontier_figure(made_up_curves(runs), summary, CORES)
    assert "4 engines on 2 cores: estimate" in fig.layout.title.text
    assert fig.layout.xaxis.title.text.startswith("estimated training time")
    seq = [t for t in fig.data if t.name == "sequential (1 engine)" and t.mode == "lines"]
    assert len(seq) == 4 and seq[0].line.color == strategy_figures.SEQUENTIAL_COLOUR
    diamonds = [t for t in fig.data if t.mode == "markers" and t.name == "gradient-allreduce"]
    assert [(d.x[0], d.y[0]) for d in diamonds] == [(pytest.approx(4.0), pytest.approx(88.6))]
    lines = [s for s in fig.layout.shapes if s.y0 == s.y1]
    assert sorted(round(s.y0, 2) for s in lines) == [88.6, 94.7]


def test_strategy_colours_are_fixed_and_unknown_variants_get_a_spare():
    assert strategy_figures.strategy_colour("one-shot") == strategy_figures.STRATEGY_COLOURS["one-shot"]
    assert strategy_figures.strategy_colour("new") == strategy_figures.strategy_colour("new")
    assert strategy_figures.variants_in_order(["post-local SGD", "zz", "one-shot"]) == ["one-shot", "post-local SGD",
                                                                                        "zz"]


# ---------------------------------------------------------------------------------------------- the first page
def test_the_first_pages_communication_answer_comes_from_time_to_target(tmp_path, runs):
    prov = {"machine": {"usable_cores": 2}, "parameters": {"tolerance_pp": 0.5}}
    results.write_results(analysis.RESULTS_NAME, runs, prov, tmp_path)
    text = first_page.answer_paragraph(tmp_path)
    assert ("Communicating during training instead (the communication chapter), and timing how long each way of "
            "training takes to reach a target validation accuracy (the sequential runs' minus 0.5 pp)") in text
    assert "? With raw pixels, as in the paper, **yes, on every engine count measured**" in text
    assert "on 4 engines *gradient-allreduce* at **2.00× ± 0.00** (estimated with a core per engine" in text
    assert text.endswith("**their speedups are estimates** with a core per engine, not measurements. "
                         "(Means of 2 repeats per point.)")
    old = pd.DataFrame({"n_engines": [1], "variant": ["one-shot"], "accuracy_pct": [88.0]})
    assert "predate its time-to-target runs" in first_page.communication_sentence(old, prov)
