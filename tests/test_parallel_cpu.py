"""CPU time per engine and the dedicated-core estimate (issue 13, items 1-2).

The arithmetic of :mod:`exemplar.parallel.dedicated` on made-up runs with known timings, the
round timer on a known split of compute and waiting, and the figures of real 1- and 2-engine
runs (conftest's synthetic digits): consistent with each other and with the wall times whatever
else loads the machine (CPU time never exceeds wall time by more than the clock's noise).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from exemplar import parallel as ex
from exemplar.models import numpy_mlp
from exemplar.models.timing import RoundTimer
from exemplar.parallel import dedicated


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


# ------------------------------------------------------------------------------------------ the timer
def test_round_timer_counts_compute_and_not_the_time_inside_the_collective():
    timer = RoundTimer()
    for _ in range(2):
        _spin(0.02)
        timer.enter()
        time.sleep(0.05)  # a collective's wait: wall time, no CPU time
        timer.leave(0.05)
    _spin(0.01)
    total = timer.finish()
    assert len(timer.cpu) == len(timer.comm) == 2
    assert timer.comm == [0.05, 0.05]
    assert 0.02 <= timer.cpu[0] < 0.035 and 0.03 <= timer.cpu[1] < 0.05  # the tail joins the last round
    assert total == pytest.approx(sum(timer.cpu))


def test_round_timer_without_rounds_gives_the_whole_compute():
    timer = RoundTimer()
    _spin(0.02)
    assert timer.finish() >= 0.02 and timer.cpu == [] and timer.comm == []


def test_numpy_training_reports_its_cpu_time(digits):
    X, y, _, _ = digits
    res = numpy_mlp.train(X / 255.0, y, 8, 3, 0)
    assert 0 < res.cpu_seconds <= res.seconds * 1.05 + 0.01
    assert res.round_cpu_seconds == [] and res.round_comm_seconds == []


# ------------------------------------------------------------------------------------------ the model
@pytest.mark.parametrize("n, steps", [(1, 0), (2, 1), (3, 2), (4, 2), (6, 3), (8, 3), (16, 4)])
def test_recursive_doubling_steps(n, steps):
    assert dedicated.collective_factor(n) == steps
    assert dedicated.collective_seconds(n, 0.002) == pytest.approx(steps * 0.002)


def test_collective_factor_refuses_no_engines():
    with pytest.raises(ValueError, match="n_engines must be a positive integer; got 0"):
        dedicated.collective_factor(0)


def test_estimate_of_a_run_that_trains_apart_is_its_largest_fit():
    fits = [{"fit_cpu_seconds": 1.5}, {"fit_cpu_seconds": 2.0}, {"fit_cpu_seconds": 1.0}]
    est = dedicated.estimate("one-shot", fits, 3)
    assert est["fit_cpu_seconds"] == [1.5, 2.0, 1.0]
    assert est["fit_cpu_seconds_max"] == est["compute_cpu_seconds"] == est["dedicated_seconds"] == 2.0
    assert est["comm_model_seconds"] == 0.0 and np.isnan(est["allreduce_probe_seconds"])


def test_estimate_of_an_allreduce_run_sums_the_slowest_engine_of_each_round():
    """4 engines, 3 rounds: the slowest differs per round; the collective is 2 steps of 10 ms."""
    rounds = [[1.0, 2.0, 1.0], [2.0, 1.0, 1.0], [1.0, 1.0, 3.0], [1.5, 1.5, 1.5]]
    fits = [{"fit_cpu_seconds": sum(r), "round_cpu_seconds": r} for r in rounds]
    fits[0]["allreduce_probe_seconds"] = 0.01
    est = dedicated.estimate("periodic", fits, 4)
    assert est["fit_cpu_seconds_max"] == 5.0
    assert est["compute_cpu_seconds"] == 2.0 + 2.0 + 3.0
    assert est["comm_model_seconds"] == pytest.approx(3 * 2 * 0.01)
    assert est["dedicated_seconds"] == pytest.approx(7.06)


def test_round_maxima_refuses_ranks_with_different_rounds():
    with pytest.raises(ValueError, match=r"the same number of rounds; got \[2, 3\]"):
        dedicated.round_maxima([[1.0, 2.0], [1.0, 2.0, 3.0]])


def test_validation_compares_only_runs_with_a_core_each():
    runs = pd.DataFrame({"strategy": ["one-shot"] * 4 + ["periodic"] * 2,
                         "n_engines": [1, 1, 2, 4, 1, 2],
                         "dedicated_seconds": [1.0, 1.2, 0.55, 0.3, 2.0, 1.2],
                         "fit_seconds_max": [1.0, 1.0, 0.5, 0.9, 2.0, 1.0]})
    table = dedicated.validation(runs, cores=2)
    assert list(zip(table.strategy, table.n_engines)) == [("one-shot", 1), ("one-shot", 2), ("periodic", 1),
                                                         ("periodic", 2)]
    np.testing.assert_allclose(table.ratio, [1.1, 1.1, 1.0, 1.2])
    assert table.within_10pct.tolist() == [True, True, True, False]
    assert dedicated.validation_sentence(table) == (
        "With no more engines than cores, the dedicated-core estimate over the measured training wall "
        "time was one-shot on 1 engine 1.10; one-shot on 2 engines 1.10; periodic on 1 engine 1.00; periodic on 2 "
        "engines 1.20: 3 of 4 within 10 %.")


def test_validation_sentence_without_a_comparable_run():
    assert dedicated.validation_sentence(pd.DataFrame(columns=["strategy", "n_engines", "ratio"])) == (
        "No run had a core per engine, so the estimate could not be checked against a measurement here.")


# ------------------------------------------------------------------------------------------ real runs
@pytest.mark.mpi
def test_one_engine_estimate_is_its_fit_cpu_time(cluster1, digits):
    X, y, Xt, yt = digits
    res = ex.run_exemplar(cluster1, ex.array_source(X, y), Xt, yt, hidden=16, epochs=20, seed=0)
    assert res.dedicated_seconds == res.fit_cpu_seconds_max == res.fit_cpu_seconds[0] > 0
    assert res.dedicated_seconds <= res.fit_seconds_max * 1.05 + 0.01  # CPU time never outruns the wall clock
    row = res.as_row()
    for key in ("fit_cpu_seconds_max", "dedicated_seconds", "compute_cpu_seconds", "comm_model_seconds",
                "allreduce_probe_seconds"):
        assert key in row
    assert "fit_cpu_seconds" not in row  # a list: not in the tidy row


@pytest.mark.mpi
@pytest.mark.parametrize("strategy, params", [("periodic", {}), ("gradient-allreduce", {"batch_size": 50})])
def test_two_engine_allreduce_estimate_is_consistent(cluster2, digits, strategy, params):
    X, y, Xt, yt = digits
    res = ex.run_exemplar(cluster2, ex.array_source(X, y), Xt, yt, hidden=16, epochs=6, seed=0, strategy=strategy,
                          mlp_params={"n_iter_no_change": 1000, **params})
    assert 0 < res.allreduce_probe_seconds < 0.05  # one message of a few kB between two processes
    assert res.comm_model_seconds == pytest.approx(res.comm_rounds * res.allreduce_probe_seconds)
    assert res.dedicated_seconds == pytest.approx(res.compute_cpu_seconds + res.comm_model_seconds)
    # the sum of the rounds' slowest is at least any one engine's total, at most all engines' together
    assert res.fit_cpu_seconds_max <= res.compute_cpu_seconds * (1 + 1e-9) <= sum(res.fit_cpu_seconds) * (1 + 1e-9)
    assert res.compute_cpu_seconds <= res.fit_seconds_max * 1.05 + 0.01


@pytest.mark.mpi
def test_a_one_engine_allreduce_run_models_no_collective(cluster1, digits):
    X, y, Xt, yt = digits
    res = ex.run_exemplar(cluster1, ex.array_source(X, y), Xt, yt, hidden=8, epochs=3, seed=0, strategy="periodic")
    assert np.isnan(res.allreduce_probe_seconds) and res.comm_model_seconds == 0.0
    assert res.dedicated_seconds == res.compute_cpu_seconds == res.fit_cpu_seconds_max
