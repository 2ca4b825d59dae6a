"""The verdict rules (exemplar.reporting.verdicts), each threshold at its edge."""

import pytest

from exemplar.reporting import claims, verdicts


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


def test_rules_text_states_the_thresholds_and_claims_reexports_them():
    text = verdicts.rules_markdown()
    assert "within 1 percentage point" in text and "Spearman's ρ ≥ 0.7" in text and "within 25%" in text
    assert claims.rules_markdown is verdicts.rules_markdown and claims.REPRODUCED == verdicts.REPRODUCED
