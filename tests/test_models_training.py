"""The trainers' shared pieces: the one stopping rule, and the numpy trainer's per-epoch callback."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from exemplar.models import numpy_mlp
from exemplar.models.sklearn_mlp import fit_timed
from exemplar.models.stopping import StoppingRule


def test_stopping_rule_counts_epochs_without_a_tol_improvement():
    rule = StoppingRule(tol=0.5, n_iter_no_change=2)
    # 10 -> 9 improves; 8.8 and 8.7 do not improve by 0.5 (but lower the best); 7.0 improves again
    assert [rule.update(v) for v in (10.0, 9.0, 8.8, 8.7, 7.0)] == [False] * 5
    assert (rule.best, rule.no_improvement) == (7.0, 0)
    assert [rule.update(v) for v in (7.0, 6.9, 7.5)] == [False, False, True]  # the third without: stop
    assert rule.no_improvement == 3 and rule.best == 6.9


@pytest.mark.parametrize(("tol", "patience"), [(1e-2, 2), (5e-2, 1), (1e-3, 4)])
def test_stopping_rule_stops_where_mlpclassifier_fit_stops(digits, tol, patience):
    X, y, _, _ = digits
    with threadpool_limits(1):
        ref = MLPClassifier(hidden_layer_sizes=(8,), max_iter=200, random_state=0, tol=tol,
                            n_iter_no_change=patience)
        fit_timed(ref, X / 255.0, y)
    assert ref.n_iter_ < 200, "the reference must have stopped early"
    rule = StoppingRule(tol, patience)
    fired = [rule.update(loss) for loss in ref.loss_curve_]
    assert fired == [False] * (ref.n_iter_ - 1) + [True]


def test_numpy_trainer_reports_every_epoch_and_trains_the_same(digits):
    X, y, Xt, yt = digits
    X, Xt = X / 255.0, Xt / 255.0
    seen = []

    def on_epoch(epoch, net, loss):
        accuracy = float(np.mean(net.predict_proba(Xt).argmax(axis=1) == yt))
        seen.append((epoch, loss, accuracy, net.params.copy()))

    kw = dict(batch_size=50, tol=1e-2, n_iter_no_change=2)
    with threadpool_limits(1):
        plain = numpy_mlp.train(X, y, 10, 40, 0, **kw)
        watched = numpy_mlp.train(X, y, 10, 40, 0, on_epoch=on_epoch, **kw)
    assert plain.n_iter < 40  # the stopping rule fired
    assert [e for e, *_ in seen] == list(range(1, watched.n_iter + 1))
    assert [loss for _, loss, _, _ in seen] == watched.loss_curve == plain.loss_curve
    np.testing.assert_array_equal(seen[-1][3], watched.net.params)  # the net as the last epoch left it
    np.testing.assert_array_equal(watched.net.params, plain.net.params)  # watching changes nothing
    assert not np.array_equal(seen[0][3], seen[-1][3])  # each call saw that epoch's weights
    accuracies = [a for _, _, a, _ in seen]
    assert accuracies[-1] == float(np.mean(plain.net.predict_proba(Xt).argmax(axis=1) == yt))
    assert accuracies[-1] > accuracies[0]


def test_numpy_trainer_refuses_an_on_epoch_that_cannot_be_called(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match=r"on_epoch must be a callable on_epoch\(epoch, net, loss\) or None; got 3"):
        numpy_mlp.train(X[:20] / 255.0, y[:20], 4, 2, 0, on_epoch=3)
