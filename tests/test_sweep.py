import numpy as np
import pandas as pd
import pytest

from exemplar.models import sklearn_mlp as mlp
from exemplar.experiments import sweep


def test_small_sweep_rows_and_summary(mnist_small):
    X, y, Xt, yt = mnist_small
    rows = sweep.run_sweep(X, y, Xt, yt, hidden_sizes=[20, 30], epochs=[5, 10], repeats=1, seed=3,
                           progress=False)
    assert list(rows.columns) == sweep.COLUMNS
    assert len(rows) == 4
    assert set(zip(rows.hidden, rows.epochs)) == {(20, 5), (20, 10), (30, 5), (30, 10)}
    assert (rows.seed == 3).all()
    assert (rows.train_seconds > 0).all()
    assert (rows.n_iter <= rows.epochs).all()
    assert rows.accuracy_pct.between(20, 100).all()  # raw pixels, 400 images, a few epochs: above chance (10 %)
    table = sweep.summarize(rows)
    assert len(table) == 4
    assert np.allclose(table.impact, table.accuracy_mean / table.time_mean)
    best = sweep.optimum(table)
    assert best.impact == table.impact.max()


def test_sweep_is_reproducible(mnist_small):
    X, y, Xt, yt = mnist_small
    a = sweep.run_sweep(X, y, Xt, yt, [16], [8], repeats=2, seed=0, progress=False)
    b = sweep.run_sweep(X, y, Xt, yt, [16], [8], repeats=2, seed=0, progress=False)
    assert a.accuracy_pct.tolist() == b.accuracy_pct.tolist()
    assert a.seed.tolist() == [0, 1]


def test_summary_sd_over_repeats():
    rows = pd.DataFrame({"hidden": [5, 5], "epochs": [7, 7], "repeat": [0, 1], "seed": [0, 1],
                         "train_seconds": [1.0, 3.0], "accuracy_pct": [80.0, 90.0], "n_iter": [7, 7]})
    t = sweep.summarize(rows).iloc[0]
    assert t.time_mean == 2.0 and t.accuracy_mean == 85.0
    assert t.accuracy_sd == pytest.approx(np.std([80, 90], ddof=1))
    assert t.impact == pytest.approx(42.5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(hidden_sizes=[0], epochs=[5]), r"hidden_sizes\[0\]"),
    (dict(hidden_sizes=[5], epochs=[-1]), r"epochs\[0\]"),
    (dict(hidden_sizes=[], epochs=[5]), "at least one"),
    (dict(hidden_sizes=[5], epochs=[5], repeats=0), "repeats"),
])
def test_sweep_rejects_bad_parameters(kwargs, match):
    X = np.zeros((10, 784)); y = np.arange(10)
    with pytest.raises(ValueError, match=match):
        sweep.run_sweep(X, y, X, y, progress=False, **kwargs)


def test_model_from_weights_predicts_like_the_fitted_model(mnist_small):
    X, y, Xt, yt = mnist_small
    fitted = mlp.fit_timed(mlp.build_mlp(12, 5, 0), X.astype(float), y).model
    rebuilt = mlp.model_from_weights(mlp.get_weights(fitted))
    assert np.array_equal(rebuilt.predict(Xt.astype(float)), fitted.predict(Xt.astype(float)))


@pytest.mark.mpi
def test_sweep_on_engines_gives_the_same_fits_as_in_this_process(mnist_small):
    """Fits run side by side on two engines are the same deterministic fits, each timed on its own."""
    from exemplar.parallel.cluster import start_cluster

    X, y, Xt, yt = mnist_small
    grid = dict(hidden_sizes=[10, 20], epochs=[5, 8], repeats=1, seed=3, progress=False)
    here = sweep.run_sweep(X, y, Xt, yt, **grid)
    seen = []
    with start_cluster(2, launcher="local") as cl:
        there = sweep.run_sweep(X, y, Xt, yt, cluster=cl, on_row=seen.append, **grid)
    assert len(there) == len(seen) == 4 and set(there.engine) <= {0, 1}
    merged = here.merge(there, on=["hidden", "epochs", "repeat", "seed"], suffixes=("", "_engine"))
    assert len(merged) == 4
    assert (merged.accuracy_pct == merged.accuracy_pct_engine).all()
    assert (merged.n_iter == merged.n_iter_engine).all()
    assert (merged.train_seconds_engine > 0).all()
