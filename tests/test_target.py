"""Training to a target accuracy: the held global batch, Adam's rescaling rules, the engines' loop and the driver.

The held-global-batch step is checked without MPI: two "ranks" run in two threads that meet in a
stand-in for :class:`exemplar.parallel.collectives.Collectives`, so their rows can be chosen freely
(uneven shards, uneven shares of the step). The driver runs on conftest's synthetic digits on a
2-engine MPI cluster shared by the module.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from exemplar.models import numpy_mlp
from exemplar.parallel import array_source
from exemplar.parallel.target_loop import GLOBAL_ROWS, VARIANTS, Variant, scaled_params, variant_catalogue
from exemplar.parallel.to_target import CURVE_COLUMNS, at_target, run_to_target


class ThreadCollectives:
    """Just what the fast trainer asks of :class:`~exemplar.parallel.collectives.Collectives`, for ranks that are
    threads of this process: every rank's buffer added in rank order (the same sum on every rank)."""

    def __init__(self, rank: int, shared: dict):
        self.rank, self.size, self.shared = rank, shared["size"], shared
        self.rounds = 0

    def _meet(self, value):
        s = self.shared
        s["slots"][self.rank] = value
        s["barrier"].wait()
        out = [s["slots"][r] for r in range(self.size)]
        s["barrier"].wait()
        return out

    def allreduce(self, buf, timer=None):
        parts = self._meet(np.array(buf, copy=True))
        buf[...] = np.sum(parts, axis=0)
        self.rounds += 1
        return buf

    def allreduce_value(self, value, op="sum"):
        parts = self._meet(value)
        return sum(parts) if op == "sum" else max(parts)

    def counters(self):
        return self.rounds, 0, 0.0


def train_on_threads(shards, epochs, **kw):
    """Each shard ``(X, y)`` trained by the fast trainer in its own thread, all meeting every step; rank 0's result."""
    shared = {"size": len(shards), "barrier": threading.Barrier(len(shards)), "slots": {}}
    out, errors = {}, []

    def work(rank):
        try:
            X, y = shards[rank]
            out[rank] = numpy_mlp.train(X, y, 8, epochs, 0, classes=np.arange(10),
                                        collectives=ThreadCollectives(rank, shared), **kw)
        except Exception as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)
            shared["barrier"].abort()

    threads = [threading.Thread(target=work, args=(r,)) for r in range(len(shards))]
    with threadpool_limits(1):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]  # the first rank's error (the others then see a broken barrier)
    return out


def test_the_held_global_batch_takes_the_sequential_step(digits):
    """Uneven shards (104 and 96 rows) and an uneven split of a 25-row step (13 and 12 rows): every step sums the
    rows a sequential step of 25 would, so with the rows in that order (shuffle off: the sequential run reads rank
    0's 13 rows, then rank 1's 12, step after step) the weights agree to rounding; only the order of the sums differs.
    """
    X, y, _, _ = digits
    X = X[:200].astype(np.float64) / 255
    y = y[:200]
    A, B = (X[:104], y[:104]), (X[104:], y[104:])
    got = train_on_threads([A, B], 3, global_batch=25, shuffle=False)
    assert got[0].extra["batch_size"] == 13 and got[1].extra["batch_size"] == 12
    assert got[0].extra["steps_per_epoch"] == got[1].extra["steps_per_epoch"] == 8 and got[0].global_batch == 25
    order = np.concatenate([np.r_[13 * k:13 * k + 13, 104 + 12 * k:104 + 12 * k + 12] for k in range(8)])
    with threadpool_limits(1):
        ref = numpy_mlp.train(X[order], y[order], 8, 3, 0, classes=np.arange(10), batch_size=25, shuffle=False)
    for a, b in zip(got[0].net.weights(), ref.net.weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(got[0].net.weights(), got[1].net.weights()):
        np.testing.assert_array_equal(a, b)  # every rank applied the same update
    np.testing.assert_allclose(got[0].loss_curve, ref.loss_curve, rtol=1e-10)


def test_a_global_batch_smaller_than_the_ranks_is_refused(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="global_batch=1 is smaller than the 2 ranks"):
        train_on_threads([(X[:50], y[:50]), (X[50:100], y[50:100])], 1, global_batch=1)


def test_adams_rescaling_rules():
    v = VARIANTS
    assert scaled_params(v["gradient-allreduce"], {}, 6) == {}
    assert scaled_params(v["gradient-allreduce, lr × n"], {}, 6)["learning_rate_init"] == pytest.approx(0.006)
    sq = scaled_params(v["gradient-allreduce, Adam √n rule"], {"learning_rate_init": 0.002}, 4)
    assert sq["learning_rate_init"] == pytest.approx(0.004)
    assert sq["beta_1"] == pytest.approx(0.6) and sq["beta_2"] == pytest.approx(0.996)
    assert sq["epsilon"] == pytest.approx(5e-9)
    assert scaled_params(v["gradient-allreduce, Adam √n rule"], {}, 16)["beta_1"] == 0.0  # 1 - 0.1 × 16 < 0
    assert scaled_params(v["gradient-allreduce, Adam √n rule"], {}, 1) == {"learning_rate_init": 1e-3, "beta_1": 0.9,
                                                                           "beta_2": 0.999, "epsilon": 1e-8}
    with pytest.raises(ValueError, match="lr_rule must be one of"):
        scaled_params(Variant("x", "gradient-allreduce", lr_rule="cubic"), {}, 2)


def test_the_catalogue_names_every_variant_once():
    names = list(variant_catalogue(sync_every=(1, 5), switch_epochs=3))
    assert names == ["one-shot", "periodic, every 1 epoch", "periodic, every 5 epochs", "gradient-allreduce",
                     "gradient-allreduce, global batch", "gradient-allreduce, lr × n",
                     "gradient-allreduce, Adam √n rule", "post-local SGD"]
    assert variant_catalogue(switch_epochs=3)["post-local SGD"].switch_epochs == 3
    assert VARIANTS["gradient-allreduce, global batch"].global_rows == GLOBAL_ROWS == 200


def test_at_target_takes_the_first_checkpoint_at_or_above_it():
    curve = pd.DataFrame({"epoch": [1, 2, 3], "steps": [10, 20, 30], "exchanges": [1, 2, 3],
                          "validation_pct": [80.0, 90.0, 95.0], "wall_seconds": [1.0, 2.0, 3.0],
                          "dedicated_seconds": [0.5, 1.0, 1.5]})
    got = at_target(curve, 90.0, 91.5)
    assert got["reached"] and (got["steps_to_target"], got["exchanges_to_target"], got["epochs_to_target"]) == (20, 2, 2)
    assert (got["time_to_target_seconds"], got["dedicated_time_to_target_seconds"]) == (2.0, 1.0)
    assert got["test_accuracy_at_target_pct"] == 91.5 and got["target_pct"] == 90.0
    missed = at_target(curve, 99.0, 91.5)
    assert not missed["reached"] and math.isnan(missed["time_to_target_seconds"])
    assert math.isnan(at_target(curve, None, 91.5)["target_pct"])


# ------------------------------------------------------------------------------------------ on a cluster
@pytest.fixture(scope="module")
def data(digits):
    X, y, Xt, yt = digits
    return array_source(X[:240], y[:240]), X[240:], y[240:], Xt, yt


def test_a_reference_run_goes_to_its_end_and_records_its_checkpoints(cluster2, data):
    source, Xv, yv, Xt, yt = data
    got = run_to_target(cluster2, source, Xv, yv, Xt, yt, "one-shot", hidden=8, seed=0, max_epochs=4,
                        stopping=True)
    row, curve = got.row, got.curve
    assert list(curve.columns) == CURVE_COLUMNS and curve.epoch.tolist() == [1, 2, 3, 4]
    assert row["stopped_by"] == "budget" and not row["reached"] and math.isnan(row["target_pct"])
    assert (curve.wall_seconds.diff().dropna() > 0).all() and (curve.exchanges == 0).all()
    assert row["steps"] == 4 and row["local_batch"] == 120 and row["n_iter_max"] == 4
    assert row["step_probe_seconds"] > 0 and row["allreduce_probe_seconds"] > 0 and row["replicas_identical"] is None
    assert row["dedicated_seconds"] == pytest.approx(4 * row["step_probe_seconds"])
    assert 0 <= row["accuracy_pct"] <= 100 and row["validation_pct"] == curve.validation_pct.iloc[-1]


@pytest.mark.parametrize("name", ["gradient-allreduce, global batch", "periodic, every 1 epoch", "post-local SGD"])
def test_a_run_stops_at_the_first_checkpoint_that_reaches_the_target(cluster2, data, name):
    source, Xv, yv, Xt, yt = data
    variant = variant_catalogue(switch_epochs=2)[name]
    variant = Variant(**{**variant.as_dict(), "global_rows": 40})
    got = run_to_target(cluster2, source, Xv, yv, Xt, yt, variant, hidden=8, seed=0, scale_inputs=True,
                        target=60.0, budget_steps=2000, max_epochs=300)
    row, curve = got.row, got.curve
    assert row["reached"] and row["stopped_by"] == "target" and row["replicas_identical"] is True
    assert curve.validation_pct.iloc[-1] >= 60.0 and (curve.validation_pct.iloc[:-1] < 60.0).all()
    assert row["steps_to_target"] == row["steps"] and row["test_accuracy_at_target_pct"] == row["accuracy_pct"]
    assert row["exchanges_to_target"] == row["comm_rounds"] > 0
    collective = row["collective_seconds"]
    assert row["dedicated_time_to_target_seconds"] == pytest.approx(
        row["steps_to_target"] * row["step_probe_seconds"] + row["exchanges_to_target"] * collective)
    if name == "gradient-allreduce, global batch":
        assert (row["global_batch"], row["local_batch"], row["exchanges_to_target"]) == (40, 20, row["steps"])


def test_checkpoints_wait_for_enough_steps(cluster2, data):
    source, Xv, yv, Xt, yt = data
    got = run_to_target(cluster2, source, Xv, yv, Xt, yt, "gradient-allreduce", hidden=8, seed=0, target=100.0,
                        budget_steps=7, max_epochs=100, checkpoint_steps=3, mlp_params={"batch_size": 60})
    assert got.curve.steps.tolist() == [4, 8]  # 2 steps an epoch: at least 3 steps apart, and at the budget
    assert got.row["checkpoint_steps"] == 3


def test_a_run_that_cannot_reach_the_target_gives_up_on_its_budget_or_patience(cluster2, data):
    source, Xv, yv, Xt, yt = data
    got = run_to_target(cluster2, source, Xv, yv, Xt, yt, "gradient-allreduce", hidden=8, seed=0, target=100.0,
                        budget_steps=6, max_epochs=100)
    assert got.row["stopped_by"] == "budget" and got.row["steps"] == 6 and not got.row["reached"]
    patient = run_to_target(cluster2, source, Xv, yv, Xt, yt, "one-shot", hidden=8, seed=0, scale_inputs=True,
                            target=100.0, budget_steps=10_000, max_epochs=10_000, patience_steps=3)
    best = patient.curve.validation_pct.cummax()
    assert patient.row["stopped_by"] == "patience" and best.iloc[-1] == best.iloc[-4]


@pytest.mark.parametrize(("kw", "match"), [
    ({"variant": "bogus"}, "variant must be one of one-shot"),
    ({"target": 101}, "target"), ({"budget_steps": 0}, "budget_steps"), ({"patience_steps": 0}, "patience_steps"),
    ({"max_epochs": -1}, "max_epochs"), ({"stopping": "yes"}, "stopping"), ({"checkpoint_steps": 0}, "checkpoint_steps")])
def test_bad_arguments_are_refused_by_name_before_anything_runs(cluster2, data, kw, match):
    source, Xv, yv, Xt, yt = data
    kw = {"variant": "one-shot", **kw}
    with pytest.raises(ValueError, match=match):
        run_to_target(cluster2, source, Xv, yv, Xt, yt, kw.pop("variant"), hidden=8, **kw)
