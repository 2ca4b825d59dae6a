"""Our gradient-allreduce replayed in one process, with the test accuracy after every epoch.

``run_exemplar`` reports only the final accuracy; :mod:`exemplar.bench.ddp` needs the epoch at which
our ``"gradient-allreduce"`` first reaches the target. :func:`allreduce_curve` computes the same
steps as the engines (the ranks' summed gradients, in rank order, the same shuffles and stopping
rule) and evaluates after every epoch; the benchmark then checks that the replay ends where the
engines' run ended (``replay_matches``).
"""

from __future__ import annotations

import numpy as np

from exemplar.models.stopping import StoppingRule


def allreduce_curve(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, n_ranks: int,
                    hidden: int, epochs: int, seed: int, batch_size: int = 200, scale_inputs: bool = True,
                    tol: float = 1e-4, n_iter_no_change: int = 10, dtype: str = "float64") -> dict:
    """Our ``"gradient-allreduce"`` on ``n_ranks`` shards, computed in one process, with the test accuracy per epoch.

    The same steps as :func:`exemplar.models.numpy_mlp.train` on every rank: each shard shuffled by its own
    ``RandomState(seed)`` stream (after the initial weights), per step the ranks' summed gradients (in
    rank order, as ``MPI_SUM``), one :meth:`~exemplar.models.numpy_mlp.NumpyMLP.apply`, the global epoch loss
    and scikit-learn's stopping rule, in ``dtype`` as the engines train (``run_exemplar``'s ``dtype``).
    ``X`` and ``X_test`` are raw pixels. The test accuracy is computed as the master computes it:
    float64 pixels against the weights (scikit-learn's ``predict``), whatever ``dtype``.

    Returns
    -------
    dict
        ``accuracy`` (test accuracy, %, after each epoch), ``loss`` (global training loss per epoch),
        ``n_iter``, ``weights`` (final, :func:`exemplar.models.sklearn_mlp.get_weights` order).
    """
    from sklearn.utils import gen_batches
    from sklearn.utils import shuffle as sk_shuffle
    from threadpoolctl import threadpool_limits

    from exemplar.parallel.shards import features, shard_bounds
    from exemplar.models.numpy_mlp import NumpyMLP, one_hot

    classes = np.unique(y)
    F = features(np.asarray(X), scale_inputs, dtype)  # exactly what each engine trains on
    Ft = features(np.asarray(X_test), scale_inputs)  # float64, as the master evaluates
    Y = one_hot(y, classes, dtype=F.dtype)
    bounds = shard_bounds(len(y), n_ranks)
    sizes = [b - a for a, b in bounds]
    units = [F.shape[1], hidden, len(classes)]
    nets = [NumpyMLP(units, seed, dtype=F.dtype) for _ in range(n_ranks)]  # one stream per rank, as on the engines
    net = nets[0]
    batch = int(np.clip(batch_size, 1, max(sizes)))
    steps = -(-max(sizes) // batch)
    order = [np.arange(n) for n in sizes]
    buf = np.zeros(net.n_params, dtype=F.dtype)
    part = np.empty(net.n_params, dtype=F.dtype)
    n_total = sum(sizes)
    acc_curve, loss_curve = [], []
    rule = StoppingRule(tol, n_iter_no_change)
    with threadpool_limits(1):
        for _ in range(epochs):
            order = [sk_shuffle(o, random_state=r.random_state_) for o, r in zip(order, nets)]
            batches = [list(gen_batches(n, batch)) for n in sizes]
            accumulated = 0.0
            for s in range(steps):
                buf[:] = 0.0
                loss_sum, rows = 0.0, 0
                for r, (a, _) in enumerate(bounds):
                    if s < len(batches[r]):
                        idx = a + order[r][batches[r][s]]
                        ls, g = net.loss_grad_sum(F[idx], Y[idx], out=part)
                        buf += g
                        loss_sum += ls
                        rows += len(idx)
                if rows == 0:
                    continue
                accumulated += net.apply(buf, loss_sum, rows) * rows
            loss = accumulated / n_total
            loss_curve.append(loss)
            acc_curve.append(weights_accuracy_pct(net.weights(), Ft, y_test, classes))
            if rule.update(loss):
                break
    return {"accuracy": acc_curve, "loss": loss_curve, "n_iter": len(acc_curve), "weights": net.weights()}


def weights_accuracy_pct(weights, X: np.ndarray, y: np.ndarray, classes: np.ndarray) -> float:
    """Test accuracy (%) of a ReLU network's weights on float64 ``X``, as scikit-learn's ``predict`` computes it."""
    n = len(weights) // 2
    a = X
    for i, (W, b) in enumerate(zip(weights[:n], weights[n:])):
        a = a @ W + b  # float64 pixels against float32 weights: float64, as in predict
        if i < n - 1:
            np.maximum(a, 0, out=a)
    return float(np.mean(classes[np.argmax(a, axis=1)] == y) * 100)


def first_reach(curve, target: float) -> int | None:
    """1-based epoch of the first accuracy at least ``target`` (``None`` if never)."""
    for i, a in enumerate(curve):
        if a >= target - 1e-9:
            return i + 1
    return None
