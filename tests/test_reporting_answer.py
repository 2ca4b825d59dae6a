"""The site's first paragraph: the title question answered from the results."""

from __future__ import annotations

import pandas as pd
import pytest

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
    assert "**keeps the accuracy only on 2 engines**" in answer.one_shot_sentence(
        _per_n([(1, 2.0, 88.0), (2, 1.0, 87.8), (4, 0.8, 83.5)]), cores=4)
    text = answer.one_shot_sentence(_per_n([(1, 2.0, 88.0), (2, 1.0, 88.3)]), cores=4)
    assert "**keeps the accuracy**" in text and "0.30 pp more accurate on 2 engines" in text
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
