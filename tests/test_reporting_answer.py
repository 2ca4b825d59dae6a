"""The site's first paragraph: the title question answered from the results."""

from __future__ import annotations

import pandas as pd
import pytest

from exemplar.analysis import communication
from exemplar.reporting import answer


def _per_n(rows):
    return pd.DataFrame(rows, columns=["n_engines", "fit_seconds_max", "accuracy_pct"])


def test_one_shot_sentence_word_for_word():
    per_n = _per_n([(1, 2.0, 88.0), (2, 1.0, 86.0), (4, 0.8, 83.5)])
    assert answer.one_shot_sentence(per_n, cores=2) == (
        "The paper's method, one average of the engines' networks at the end, **trains faster but does not keep "
        "the accuracy**: 2.00× faster and 2.00 pp less accurate on 2 engines; 2.50× faster and 4.50 pp less "
        "accurate on 4 engines, sharing cores (training time of the slowest engine; sequential 88.00 %).")


def test_one_shot_sentence_when_accuracy_holds_somewhere_or_everywhere():
    assert "**trains faster and keeps the accuracy only on 2 engines**" in answer.one_shot_sentence(
        _per_n([(1, 2.0, 88.0), (2, 1.0, 87.8), (4, 0.8, 83.5)]), cores=4)
    text = answer.one_shot_sentence(_per_n([(1, 2.0, 88.0), (2, 1.0, 88.3)]), cores=4)
    assert "**trains faster and keeps the accuracy**" in text and "0.30 pp more accurate on 2 engines" in text
    assert "has no 1- and multi-engine runs" in answer.one_shot_sentence(_per_n([(2, 1.0, 88.0)]), cores=2)


def test_the_intro_gets_the_answer_in_place_of_its_marker(tmp_path):
    source = tmp_path / "intro.md"
    source.write_text(f"# Title\n\n{answer.MARKER}\n\n## Next\n")
    target = answer.render_intro(source, tmp_path / "_run" / "intro.md", directory=tmp_path / "none")
    lines = target.read_text().splitlines()
    assert lines[0] == "# Title" and lines[2].startswith("**The answer, from this build's measurements.**")
    assert "has no results yet (run `make book`)" in lines[2] and lines[4] == "## Next"
    source.write_text("# Title\n")
    with pytest.raises(ValueError, match="no line '% exemplar:answer'"):
        answer.render_intro(source, tmp_path / "x.md")


def test_one_shot_sentence_from_cpu_times_marks_estimates_above_the_cores():
    per_n = pd.DataFrame([(1, 4.0, 2.0, 88.0), (2, 3.0, 1.0, 86.0), (4, 9.0, 0.8, 83.5)],
                         columns=["n_engines", "fit_seconds_max", "fit_cpu_seconds_max", "accuracy_pct"])
    assert answer.one_shot_sentence(per_n, cores=2) == (
        "The paper's method, one average of the engines' networks at the end, **trains faster but does not keep "
        "the accuracy**: 2.00× faster and 2.00 pp less accurate on 2 engines; 2.50× faster and 4.50 pp less "
        "accurate on 4 engines (estimated: more engines than the 2 cores) (CPU time of the slowest engine's "
        "training, which other work on the machine barely moves; sequential 88.00 %).")
    per_n.loc[2, "fit_cpu_seconds_max"] = float("nan")            # old rows: wall time for every count
    assert "1.33× faster" in answer.one_shot_sentence(per_n, cores=2)


def test_a_speedup_below_one_is_said_to_be_slower():
    """A made-up table where the parallel runs are slower than the sequential one: the words follow the numbers."""
    per_n = _per_n([(1, 2.0, 88.0), (2, 2.15, 86.0)])  # 2.0 / 2.15 = 0.93
    assert answer.one_shot_sentence(per_n, cores=2) == (
        "The paper's method, one average of the engines' networks at the end, **neither trains faster nor keeps the "
        "accuracy**: slower (0.93× the sequential speed) and 2.00 pp less accurate on 2 engines (training time of the "
        "slowest engine; sequential 88.00 %).")
    assert "faster" not in answer.one_shot_sentence(per_n, cores=2).split("**")[2]
    mixed = _per_n([(1, 2.0, 88.0), (2, 1.0, 87.9), (4, 2.5, 87.8)])
    text = answer.one_shot_sentence(mixed, cores=4)
    assert "**trains faster only on 2 engines and keeps the accuracy**" in text
    assert "2.00× faster" in text and "slower (0.80× the sequential speed) and 0.20 pp less accurate on 4" in text
    kept_not_faster = _per_n([(1, 2.0, 88.0), (2, 2.0, 88.1)])
    assert "**does not train faster and keeps the accuracy**: as fast as sequential and 0.10 pp more accurate" in \
        answer.one_shot_sentence(kept_not_faster, cores=2)


# ---------------------------------------------------------------------------------------------- the communication part
def _comm_runs(seq_times, par_times) -> pd.DataFrame:
    """Made-up time-to-target runs on raw pixels, 3 repeats: two sequential references (validation 89 %: target
    88.5 %), the 1-engine sequential run to the target (``seq_times``) and gradient-allreduce on 2 engines
    (``par_times``), both reaching it."""
    rows = [{"n_engines": 1, "scale_inputs": False, "repeat": r, "variant": communication.REFERENCE,
             "strategy": "one-shot", "phase": "reference", "validation_pct": 89.0, "accuracy_pct": 88.0,
             "steps": 100, "n_iter_max": 20, "fit_seconds_max": 10.0} for r in range(2)]
    for n, variant, times in ((1, "one-shot", seq_times), (2, "gradient-allreduce", par_times)):
        for r, t in enumerate(times):
            rows.append({"n_engines": n, "scale_inputs": False, "repeat": r, "variant": variant, "strategy": variant,
                         "phase": "to target", "target_pct": 88.5, "reached": True, "stopped_by": "target",
                         "time_to_target_seconds": t, "dedicated_time_to_target_seconds": t,
                         "steps_to_target": 100 // n, "exchanges_to_target": 0 if n == 1 else 50,
                         "epochs_to_target": 20, "test_accuracy_at_target_pct": 88.0, "accuracy_pct": 88.0,
                         "validation_pct": 88.6, "fit_seconds_max": t, "dedicated_seconds": t})
    return pd.DataFrame(rows)


def _write(tmp_path, runs):
    from exemplar import results

    results.write_results(communication.RESULTS_NAME, runs, {"machine": {"usable_cores": 2},
                                                              "parameters": {"tolerance_pp": 0.5}}, tmp_path)


def test_the_first_pages_communication_answer_is_the_time_to_target_answer(tmp_path):
    _write(tmp_path, _comm_runs((10.0, 10.0, 10.0), (5.0, 5.0, 5.0)))
    text = answer.answer_paragraph(tmp_path)
    assert ("Communicating during training instead (the communication chapter), and timing how long each way of "
            "training takes to reach a target validation accuracy (the sequential runs' minus 0.5 pp), can the "
            "engines train faster than one process to the same accuracy? With raw pixels, as in the paper, **yes, on "
            "every engine count measured**. With raw pixels (target 88.50 %): on 2 engines *gradient-allreduce* at "
            "**2.00× ± 0.00** (measured; 0.50× the sequential steps, test accuracy at the target +0.00 pp).") in text
    assert text.endswith("its speedups are measured. (Means of 3 repeats per point.)")
    assert answer.FIRM_NOTE not in text


def test_a_speedup_inside_its_spread_is_flagged_on_the_first_page(tmp_path):
    _write(tmp_path, _comm_runs((9.0, 10.0, 11.0), (9.0, 9.5, 10.0)))
    text = answer.answer_paragraph(tmp_path)
    assert "(on 2 engines 1.05× the sequential speed, inside its spread of 0.12×: not a firm yes)" in text
    assert text.endswith(answer.FIRM_NOTE)


def test_communication_results_of_the_old_design_are_named_not_read(tmp_path):
    _write(tmp_path, pd.DataFrame({"n_engines": [1, 2], "variant": ["one-shot"] * 2, "accuracy_pct": [88.0, 87.0]}))
    assert "predate its time-to-target runs: rerun the chapter" in answer.answer_paragraph(tmp_path)


def test_one_shot_sentence_says_its_repeats_and_flags_a_loss_inside_the_spread():
    per_n = pd.DataFrame({"n_engines": [1, 2], "fit_seconds_max": [2.0, 1.0], "fit_seconds_max_sd": [0.0, 0.0],
                          "accuracy_pct": [88.0, 87.6], "accuracy_pct_sd": [0.3, 0.4], "runs": [5, 5]})
    assert answer.one_shot_sentence(per_n, cores=2) == (
        "The paper's method, one average of the engines' networks at the end, **trains faster and keeps the accuracy**: "
        "2.00× faster "
        "and 0.40 pp less accurate on 2 engines (within 0.5 pp by 0.10 pp, inside the spread of 0.50 pp over 5 "
        "repeats: not firm) (training time of the slowest engine; sequential 88.00 %; means of 5 repeats).")
    per_n["accuracy_pct_sd"] = [0.03, 0.04]
    assert "less accurate on 2 engines (training time" in answer.one_shot_sentence(per_n, cores=2)
