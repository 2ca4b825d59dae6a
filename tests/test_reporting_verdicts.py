"""The verdict rules (exemplar.reporting.verdicts), each threshold at its edge."""

import pytest

from exemplar.reporting import verdicts


def test_flat_verdict_edges():
    assert verdicts.flat_verdict(verdicts.FLAT_PP) == verdicts.REPRODUCED
    assert verdicts.flat_verdict(0.51) == verdicts.CAVEAT
    assert verdicts.flat_verdict(verdicts.ACCURACY_PP) == verdicts.CAVEAT
    assert verdicts.flat_verdict(1.01) == verdicts.NOT_REPRODUCED


def test_worst_of_several():
    assert verdicts.worst([verdicts.REPRODUCED, verdicts.CAVEAT]) == verdicts.CAVEAT
    assert verdicts.worst([verdicts.CAVEAT, verdicts.NOT_REPRODUCED, verdicts.REPRODUCED]) == verdicts.NOT_REPRODUCED
    assert verdicts.worst([verdicts.REPRODUCED]) == verdicts.REPRODUCED


@pytest.mark.parametrize("diff, verdict", [(1.0, verdicts.REPRODUCED), (-2.0, verdicts.CAVEAT),
                                           (2.01, verdicts.NOT_REPRODUCED)])
def test_accuracy_verdict_edges(diff, verdict):
    assert verdicts.accuracy_verdict(diff) == verdict


def test_rules_text_states_the_thresholds():
    text = verdicts.rules_markdown()
    assert "within 1 percentage point" in text and "Spearman's ρ ≥ 0.7" in text and "within 25%" in text


def test_a_margin_inside_its_spread_is_flagged_and_words_follow_the_numbers():
    assert verdicts.Margin(0.45, 0.12).text() == "clear (margin 0.45 pp, sd 0.12 pp)"
    assert verdicts.Margin(0.10, 0.80).text() == "within the spread (margin 0.10 pp against an sd of 0.80 pp)"
    assert not verdicts.Margin(0.10, 0.80).firm and verdicts.Margin(0.45, 0.12).firm
    assert verdicts.Margin(0.2, float("nan"), "").text() == "margin 0.20; no spread over repeats"
    assert verdicts.Margin(0.2, float("nan")).firm                 # not known to be inside: not flagged
    assert verdicts.Margin(0.15, 0.2, "%").text() == "within the spread (margin 15.0 % against an sd of 20.0 %)"
    assert verdicts.Margin(float("nan")).text() == "no number decides it"


@pytest.mark.parametrize("scores, spreads, margin, spread", [
    ([0.95], [0.8], 0.05, 0.8),            # reproduced by 0.05 pp: a rise of one sd crosses 1 pp
    ([0.2, 0.95], [0.1, 0.8], 0.05, 0.8),  # the point nearest its threshold for its sd decides
    ([0.2, 0.5], [0.1, 0.1], 0.5, 0.1),    # clear
    ([1.5], [0.1], 0.5, 0.1),              # a caveat, half-way between 1 and 2 pp
    ([1.1, 1.9], [0.05, 0.05], 0.1, 0.05),  # rising: 1.9 is 0.1 below 2 pp; falling needs both below 1 pp
    ([1.1, 1.2], [0.05, 0.05], 0.2, 0.05),  # falling below 1 pp needs both: the caveat holds by 1.2's margin
    ([2.5], [1.0], 0.5, 1.0),              # not reproduced by 0.5 pp
])
def test_threshold_margin(scores, spreads, margin, spread):
    m = verdicts.threshold_margin(scores, spreads, [verdicts.ACCURACY_PP, verdicts.ACCURACY_CAVEAT_PP])
    assert (m.margin, m.spread) == (pytest.approx(margin), pytest.approx(spread))


def test_threshold_margin_of_a_correlation_and_bad_input():
    m = verdicts.threshold_margin([-0.75], 0.1, [-verdicts.RANK_CORRELATION, -verdicts.RANK_CORRELATION_CAVEAT], "")
    assert m.margin == pytest.approx(0.05) and not m.firm
    with pytest.raises(ValueError, match=r"thresholds must be one or more ascending numbers; got \[2.0, 1.0\]"):
        verdicts.threshold_margin([1.0], 0.1, [2.0, 1.0])
    with pytest.raises(ValueError, match="scores must hold at least one number; got none"):
        verdicts.threshold_margin([float("nan")], 0.1, [1.0])


def test_weakest_and_strongest_margins():
    a, b = verdicts.Margin(0.5, 0.1), verdicts.Margin(0.3, 0.4)
    assert verdicts.weakest([a, b]) is b and verdicts.strongest([a, b]) is a


def test_rules_text_explains_the_margins():
    text = verdicts.rules_markdown()
    assert "**Repeats and margins**" in text and "*within the spread*" in text and "*clear*" in text
