import numpy as np
import pytest

from exemplar import metrics, paper


def test_impact_factor_matches_paper_table_i():
    t = paper.table_i()
    ours = metrics.impact_factor(t["accuracy"], t["time"])
    # The paper's impact column is its accuracy / time to the printed precision.
    assert np.allclose(ours, t["impact"], atol=0.002)


def test_impact_factor_weights_and_errors():
    assert metrics.impact_factor(90.0, 3.0) == pytest.approx(30.0)
    assert metrics.impact_factor(90.0, 3.0, s1=2, s2=3) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="positive"):
        metrics.impact_factor(90.0, 0.0)


def test_amdahl_limits():
    assert metrics.amdahl(1, 0.3) == pytest.approx(1.0)
    assert metrics.amdahl(1e9, 0.25) == pytest.approx(4.0, rel=1e-6)
    assert metrics.amdahl(4, 0.0) == pytest.approx(4.0)


@pytest.mark.parametrize("f", [0.0, 0.1, 0.37, 0.9])
def test_fit_amdahl_recovers_serial_fraction(f):
    n = np.array([1, 2, 4, 6])
    assert metrics.fit_amdahl(n, metrics.amdahl(n, f)) == pytest.approx(f, abs=1e-4)


def test_speedup():
    assert np.allclose(metrics.speedup(5.39, [2.67, 2.21]), [5.39 / 2.67, 5.39 / 2.21])
