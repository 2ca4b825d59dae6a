"""The site's first paragraph: the title question answered from the results."""

from __future__ import annotations

import pandas as pd
import pytest

from exemplar.analysis import communication
from exemplar.reporting import answer
from exemplar.reporting import communication as page


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


# ---------------------------------------------------------------------------------------------- firm or not
def _comm_runs(ref_acc, par_acc, ref_wall=(10.0, 10.0, 10.0), par_wall=(5.0, 5.0, 5.0)) -> pd.DataFrame:
    """Made-up communication runs on raw pixels, 3 repeats: one-shot on 1 engine (the sequential reference),
    periodic on 2 engines (``par_acc``, ``par_wall``), one-shot on 2 engines 3 pp short and fastest."""
    rows = []
    for variant, n, accs, walls in (("one-shot", 1, ref_acc, ref_wall), ("periodic, every 5 epochs", 2, par_acc,
                                                                          par_wall),
                                    ("one-shot", 2, [a - 3.0 for a in ref_acc], (4.0, 4.0, 4.0))):
        for r, (acc, wall) in enumerate(zip(accs, walls)):
            rows.append({"scale_inputs": False, "n_engines": n, "strategy": variant.split(",")[0], "variant": variant,
                         "repeat": r, "accuracy_pct": acc, "wall_seconds": wall, "fit_seconds_max": wall / 2,
                         "distribute_seconds": 0.0, "combine_seconds": 0.0})
    return pd.DataFrame(rows)


def _answer(runs):
    return communication.speed_at_same_accuracy(communication.summarize_strategies(runs), answer.TOLERANCE_PP)


def test_the_answer_computes_its_margin_and_spread():
    """Within 0.5 pp by 0.1 pp, against an sd of the difference of sqrt(1² + 1²) = 1.41 pp: not firm."""
    row = _answer(_comm_runs([88.0, 89.0, 90.0], [87.6, 88.6, 89.6])).iloc[0]
    assert row.reached and row.faster and row.fastest == "periodic, every 5 epochs" and row.repeats == 3
    assert (row.margin_pp, row.spread_pp) == (pytest.approx(0.1), pytest.approx(2 ** 0.5))
    assert row.speedup == pytest.approx(2.0) and row.speedup_sd == pytest.approx(0.0) and not row.firm
    firm = _answer(_comm_runs([88.9, 89.0, 89.1], [88.9, 89.0, 89.1])).iloc[0]
    assert firm.margin_pp == pytest.approx(0.5) and firm.spread_pp == pytest.approx(0.1414, abs=1e-4) and firm.firm


def test_a_yes_inside_the_spread_is_not_a_firm_yes():
    text = page.verdict_sentence(_answer(_comm_runs([88.0, 89.0, 90.0], [87.6, 88.6, 89.6])), answer.TOLERANCE_PP)
    assert text.endswith(
        "with raw pixels, as in the paper, **yes, on every engine count measured** (on 2 engines within 0.5 pp by "
        "0.10 pp, inside the spread of 1.41 pp over 3 repeats: not a firm yes).")
    firm = page.verdict_sentence(_answer(_comm_runs([88.9, 89.0, 89.1], [88.9, 89.0, 89.1])), answer.TOLERANCE_PP)
    assert firm.endswith("**yes, on every engine count measured**.")


def test_a_no_and_a_speedup_inside_the_spread_are_said_so():
    no = _answer(_comm_runs([88.0, 89.0, 90.0], [87.4, 88.4, 89.4], par_wall=(9.0, 9.5, 10.0)))
    assert page.verdict_sentence(no, answer.TOLERANCE_PP).endswith(
        "**no, on no engine count** (on 2 engines outside 0.5 pp by 0.10 pp, inside the spread of 1.41 pp over 3 "
        "repeats: not a firm no).")
    slow = _answer(_comm_runs([88.9, 89.0, 89.1], [88.9, 89.0, 89.1], (9.0, 10.0, 11.0), (9.0, 9.5, 10.0)))
    assert page.firmness(slow.iloc[0], answer.TOLERANCE_PP) == (
        "at 1.05× the sequential speed, inside its spread of 0.12× over 3 repeats: not a firm yes")
    table = page.answer_table(slow, answer.TOLERANCE_PP)
    assert table[["repeats", "firm?"]].values.tolist() == [[3, "no: inside the spread"]]


def test_the_first_pages_answer_says_its_repeats_and_what_not_firm_means(tmp_path):
    from exemplar import results

    results.write_results(communication.RESULTS_NAME, _comm_runs([88.0, 89.0, 90.0], [87.6, 88.6, 89.6]),
                          {"machine": {"usable_cores": 2}}, tmp_path)
    text = answer.answer_paragraph(tmp_path)
    assert "(on 2 engines within 0.5 pp by 0.10 pp, inside the spread of 1.41 pp over 3 repeats: not a firm yes). " \
           "Measured on 2 cores; engine counts above that share cores; means of 3 repeats per point. " \
           + answer.FIRM_NOTE in text


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
