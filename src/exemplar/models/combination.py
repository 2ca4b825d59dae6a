"""Combining one-hidden-layer networks trained apart: better than a plain mean (issue 14).

Pure numpy/scipy maths on weight lists in :func:`exemplar.models.sklearn_mlp.get_weights` order,
``[W1 (d, h), W2 (h, c), b1 (h,), b2 (c,)]``, for ``softmax(relu(X @ W1 + b1) @ W2 + b2)``
(``MLPClassifier`` with one ReLU hidden layer and more than two classes). Nothing here knows about
a cluster: :mod:`exemplar.parallel.combine` computes what is local to each shard on the engines
(Fishers, Grams, distillation), moves it with collectives, and combines it with these functions.

Methods (one weight list per network and the shard sizes in; one weight list, in the networks'
dtype, out; a single network comes back unchanged, as copies):

* ``mean``: the paper's, weighted by shard size (:func:`exemplar.models.sklearn_mlp.combine`);
* ``matched``: hidden units permuted to best match the first network's (one linear assignment per
  network; weight matching, Ainsworth et al. 2022, "Git Re-Basin"), then the mean;
* ``fisher``: each parameter weighted by shard size times its diagonal Fisher information
  (Matena & Raffel 2022, "Merging models with Fisher-weighted averaging");
* ``regmean``: per layer, the weights that best reproduce every network's outputs on its own
  inputs, in closed form from Gram matrices (Jin et al. 2023, RegMean);
* ``distilled``: one more round, the mean network trained for a few epochs on every shard toward
  the ensemble's probabilities (optionally mixed with the true labels), averaged again
  (:mod:`exemplar.models.distillation`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from exemplar.models import sklearn_mlp
from exemplar.validation import check_interval

#: The methods, in the order a report lists them: the five combinations above, ``retrained`` (the
#: distillation round on the true labels) and ``ensemble`` (the reference, not one network).
METHODS = ("mean", "matched", "fisher", "regmean", "distilled", "retrained", "ensemble")


# ----------------------------------------------------------------------------- checks

def check_network(weights: Sequence[np.ndarray], what: str = "weights") -> tuple[int, int, int]:
    """Check one network's weight list; return its ``(d, h, c)`` (inputs, hidden units, classes).

    Raises
    ------
    ValueError
        When ``weights`` is not four floating arrays ``[W1 (d, h), W2 (h, c), b1 (h,), b2 (c,)]`` of
        one dtype (a one-hidden-layer network in ``get_weights`` order).
    """
    if len(weights) != 4:
        raise ValueError(f"{what}: expected a one-hidden-layer network, 4 arrays [W1, W2, b1, b2] in "
                         f"get_weights order; got {len(weights)} arrays")
    W1, W2, b1, b2 = (np.asarray(w) for w in weights)
    if W1.ndim != 2 or W2.ndim != 2 or b1.ndim != 1 or b2.ndim != 1:
        raise ValueError(f"{what}: expected W1 (d, h), W2 (h, c), b1 (h,), b2 (c,); got shapes "
                         f"{[np.shape(w) for w in weights]}")
    d, h = W1.shape
    c = W2.shape[1]
    if W2.shape[0] != h or b1.shape != (h,) or b2.shape != (c,):
        raise ValueError(f"{what}: shapes do not chain: expected W1 ({d}, {h}), W2 ({h}, c), b1 ({h},), "
                         f"b2 (c,); got {[w.shape for w in (W1, W2, b1, b2)]}")
    dtypes = {w.dtype for w in (W1, W2, b1, b2)}
    if len(dtypes) != 1 or not np.issubdtype(W1.dtype, np.floating):
        raise ValueError(f"{what}: expected arrays of one floating dtype; got {sorted(map(str, dtypes))}")
    return d, h, c


def check_sets(weight_sets, sizes=None) -> np.ndarray:
    """Check networks of one shape and dtype and their sizes; return the sizes normalised to sum 1.

    Raises
    ------
    ValueError
        When there is no network, when the networks differ in shape or dtype, or when ``sizes``
        is not one non-negative number per network with a positive sum.
    """
    k = len(weight_sets)
    if k == 0:
        raise ValueError("need at least one network to combine; got none")
    shape = check_network(weight_sets[0], "network 0")
    dtype = np.asarray(weight_sets[0][0]).dtype
    for i, ws in enumerate(weight_sets[1:], start=1):
        if check_network(ws, f"network {i}") != shape:
            raise ValueError(f"network {i} has (inputs, hidden, classes) {check_network(ws)}, "
                             f"network 0 has {shape}: all networks must have one shape")
        if np.asarray(ws[0]).dtype != dtype:
            raise ValueError(f"network {i} is {np.asarray(ws[0]).dtype}, network 0 is {dtype}: "
                             "all networks must have one dtype")
    return sklearn_mlp.shares(sizes, k)


def _check_like(weight_sets, others, name: str) -> None:
    """Check that ``others`` holds one array list per network, shaped like the networks' weights."""
    if len(others) != len(weight_sets):
        raise ValueError(f"{name}: expected one per network ({len(weight_sets)}); got {len(others)}")
    for i, (ws, fs) in enumerate(zip(weight_sets, others)):
        shapes = [np.shape(f) for f in fs]
        if len(fs) != len(ws) or shapes != [w.shape for w in ws]:
            raise ValueError(f"{name}[{i}]: expected shapes {[w.shape for w in ws]}; got {shapes}")


def copies(weights) -> list[np.ndarray]:
    """Copies of a network's arrays (what a method returns for a single network)."""
    return [np.array(w, copy=True) for w in weights]


# ----------------------------------------------------------------------------- forward pass

def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, as scikit-learn computes it (subtract the row maximum first)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def hidden(weights, X: np.ndarray) -> np.ndarray:
    """The hidden layer's activations ``relu(X @ W1 + b1)``, shape ``(n, h)``."""
    W1, _, b1, _ = weights
    return np.maximum(np.asarray(X, dtype=W1.dtype) @ W1 + b1, 0)


def predict_proba(weights, X: np.ndarray) -> np.ndarray:
    """The network's class probabilities on ``X`` (as ``MLPClassifier.predict_proba``), ``(n, c)``."""
    check_network(weights)
    _, W2, _, b2 = weights
    return softmax(hidden(weights, X) @ W2 + b2)


def row_slices(n: int, batch_rows: int):
    """Consecutive slices of ``batch_rows`` of ``n`` rows (the last one shorter)."""
    for start in range(0, n, batch_rows):
        yield slice(start, min(start + batch_rows, n))


# ----------------------------------------------------------------------------- mean and matching

def mean(weight_sets, sizes=None) -> list[np.ndarray]:
    """The paper's combination: the mean of the networks' weights, weighted by ``sizes``."""
    check_sets(weight_sets, sizes)
    return sklearn_mlp.combine(weight_sets, sizes)


def match_permutation(reference, weights) -> np.ndarray:
    """The permutation of ``weights``' hidden units that best matches ``reference``'s.

    Each hidden unit is described by its incoming weights (a column of ``W1``), its bias and its
    outgoing weights (a row of ``W2``); the permutation maximises the sum, over matched pairs, of
    the inner products of these descriptions (weight matching, Ainsworth et al. 2022), solved
    exactly with :func:`scipy.optimize.linear_sum_assignment`.

    Returns
    -------
    ndarray of int, shape (h,)
        ``perm`` such that unit ``perm[j]`` of ``weights`` goes to position ``j``
        (``permute(weights, perm)``).
    """
    check_sets([reference, weights])
    R1, R2, rb1, _ = (np.asarray(w, dtype=np.float64) for w in reference)
    W1, W2, b1, _ = (np.asarray(w, dtype=np.float64) for w in weights)
    similarity = R1.T @ W1 + np.outer(rb1, b1) + R2 @ W2.T
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    return cols[np.argsort(rows)]


def permute(weights, perm) -> list[np.ndarray]:
    """``weights`` with its hidden units reordered: unit ``perm[j]`` moves to position ``j``.

    The network computes the same function: columns of ``W1``, entries of ``b1`` and rows of
    ``W2`` move together.
    """
    _, h, _ = check_network(weights)
    perm = np.asarray(perm)
    if perm.shape != (h,) or not np.array_equal(np.sort(perm), np.arange(h)):
        raise ValueError(f"perm must be a permutation of range({h}); got {perm!r}")
    W1, W2, b1, b2 = weights
    return [W1[:, perm].copy(), W2[perm, :].copy(), b1[perm].copy(), b2.copy()]


def matched_permutations(weight_sets) -> list[np.ndarray]:
    """Each network's permutation onto the first network's units (the first's is the identity)."""
    check_sets(weight_sets)
    h = weight_sets[0][0].shape[1]
    return [np.arange(h)] + [match_permutation(weight_sets[0], ws) for ws in weight_sets[1:]]


def matched(weight_sets, sizes=None) -> list[np.ndarray]:
    """Align every network's hidden units to the first's, then take the mean weighted by ``sizes``."""
    check_sets(weight_sets, sizes)
    if len(weight_sets) == 1:
        return copies(weight_sets[0])
    perms = matched_permutations(weight_sets)
    return mean([permute(ws, p) for ws, p in zip(weight_sets, perms)], sizes)


# ----------------------------------------------------------------------------- Fisher

def _fisher_sums(weights, X, Y, expected: bool) -> list[np.ndarray]:
    """Sums over the rows of ``X`` of the squared per-row gradients of ``log p``, in float64."""
    W1, W2, b1, b2 = (np.asarray(w, dtype=np.float64) for w in weights)
    X = np.asarray(X, dtype=np.float64)
    A = np.maximum(X @ W1 + b1, 0)
    P = softmax(A @ W2 + b2)
    on = (A > 0).astype(np.float64)
    if expected:
        # E_{y ~ p}[(p_k - [y = k])^2] = p_k (1 - p_k); the hidden unit's gradient is
        # (W2 (p - e_y))_j, whose expected square is sum_y p_y W2_jy^2 - (W2 p)_j^2
        D2sq = P * (1 - P)
        D1sq = on * (P @ (W2 ** 2).T - (P @ W2.T) ** 2)
    else:
        D2 = P - Y
        D2sq = D2 ** 2
        D1sq = (on * (D2 @ W2.T)) ** 2
    # a per-row gradient of W is an outer product x d^T, so its square is x^2 (d^2)^T
    return [(X ** 2).T @ D1sq, (A ** 2).T @ D2sq, D1sq.sum(axis=0), D2sq.sum(axis=0)]


def diagonal_fisher(weights, X: np.ndarray, y: np.ndarray, classes=sklearn_mlp.CLASSES,
                    kind: str = "empirical", batch_rows: int = 1000) -> list[np.ndarray]:
    """The network's diagonal Fisher information on ``(X, y)``, one array per weight array.

    Parameters
    ----------
    weights : list of ndarray
        One network, ``[W1, W2, b1, b2]``.
    X : ndarray, shape (n, d)
        The inputs the network is fed (its shard, scaled as in training).
    y : ndarray, shape (n,)
        The labels, values of ``classes``.
    classes : ndarray
        The classes, in the order of the network's outputs.
    kind : {"empirical", "expected"}
        ``"empirical"``: the mean over rows of the squared gradient of ``log p(y_true | x)``.
        ``"expected"``: the label drawn from the network's own prediction, in expectation (exact),
        as Matena & Raffel define the Fisher.
    batch_rows : int
        Rows per batch (bounds memory; the gradients are computed in closed form per batch).

    Returns
    -------
    list of ndarray
        Shaped and typed like ``weights``.
    """
    d, _, c = check_network(weights)
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.shape[1] != d or y.shape != (X.shape[0],) or X.shape[0] == 0:
        raise ValueError(f"expected X of shape (n, {d}) with n >= 1 and y of shape (n,); got {X.shape} and {y.shape}")
    if kind not in ("empirical", "expected"):
        raise ValueError(f"kind must be 'empirical' or 'expected'; got {kind!r}")
    classes = np.asarray(classes)
    if len(classes) != c or not np.all(np.isin(y, classes)):
        raise ValueError(f"y must take values among the network's {c} classes {classes.tolist()}")
    Y = (y[:, None] == classes[None, :]).astype(np.float64)
    sums = [np.zeros(w.shape) for w in weights]
    for rows in row_slices(X.shape[0], int(batch_rows)):
        for s, part in zip(sums, _fisher_sums(weights, X[rows], Y[rows], kind == "expected")):
            s += part
    return [(s / X.shape[0]).astype(w.dtype) for s, w in zip(sums, weights)]


def fisher(weight_sets, fishers, sizes=None, epsilon: float = 1e-8) -> list[np.ndarray]:
    """Fisher-weighted mean: ``sum_i s_i (F_i + eps) W_i / sum_i s_i (F_i + eps)``, per parameter.

    ``s_i`` are the normalised ``sizes``. ``epsilon`` (added to every Fisher) makes a parameter
    that no network's data informs (Fisher 0 everywhere, e.g. the weights of an always-blank
    pixel) fall back to the plain weighted mean. Equal Fishers give the plain weighted mean.
    """
    p = check_sets(weight_sets, sizes)
    _check_like(weight_sets, fishers, "fishers")
    check_interval("epsilon", epsilon, low=0, closed="right")
    if len(weight_sets) == 1:
        return copies(weight_sets[0])
    out = []
    for j, w0 in enumerate(weight_sets[0]):
        F = [pi * (np.asarray(fs[j], dtype=np.float64) + epsilon) for pi, fs in zip(p, fishers)]
        if any(np.any(f < 0) for f in F):
            raise ValueError(f"fishers must be non-negative; array {j} has negative entries")
        num = sum(f * np.asarray(ws[j], dtype=np.float64) for f, ws in zip(F, weight_sets))
        out.append((num / sum(F)).astype(w0.dtype))
    return out


# ----------------------------------------------------------------------------- RegMean

def _with_ones(Z: np.ndarray) -> np.ndarray:
    return np.hstack([Z, np.ones((Z.shape[0], 1))])


def layer_grams(weights, X: np.ndarray, batch_rows: int = 2000) -> list[np.ndarray]:
    """The Gram matrices of the network's two layers' inputs on ``X``, means over the rows, float64.

    Each layer's input gets a column of ones appended, so its bias is merged with its weights:
    layer 1's Gram is ``[X, 1]^T [X, 1] / n``, shape ``(d + 1, d + 1)``; layer 2's is
    ``[H, 1]^T [H, 1] / n`` with ``H = relu(X @ W1 + b1)``, shape ``(h + 1, h + 1)``.
    """
    d, h, _ = check_network(weights)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != d or X.shape[0] == 0:
        raise ValueError(f"expected X of shape (n, {d}) with n >= 1; got {X.shape}")
    G1, G2 = np.zeros((d + 1, d + 1)), np.zeros((h + 1, h + 1))
    for rows in row_slices(X.shape[0], int(batch_rows)):
        Z1 = _with_ones(np.asarray(X[rows], dtype=np.float64))
        Z2 = _with_ones(hidden([np.asarray(w, dtype=np.float64) for w in weights], X[rows]))
        G1 += Z1.T @ Z1
        G2 += Z2.T @ Z2
    return [G1 / X.shape[0], G2 / X.shape[0]]


def regmean_terms(weights, grams, alpha: float = 0.9) -> list[np.ndarray]:
    """One network's share of RegMean's sums, float64: ``[G~1, G~2, G~1 W~1, G~2 W~2, W~1, W~2]``.

    ``W~j`` is layer ``j``'s weights with its bias as the last row, ``G~j = alpha Gj + (1 - alpha)
    diag(Gj)`` its Gram (:func:`layer_grams`) with the off-diagonal entries shrunk. RegMean needs only
    the sums of these over the networks, weighted by shard size (:func:`regmean_solve`), so a
    cluster adds them with one ``Allreduce``.
    """
    Gt = [alpha * G + (1 - alpha) * np.diag(np.diag(G)) for G in grams]
    Ws = [np.vstack([weights[j], np.asarray(weights[j + 2])[None, :]]).astype(np.float64) for j in (0, 1)]
    return [Gt[0], Gt[1], Gt[0] @ Ws[0], Gt[1] @ Ws[1], Ws[0], Ws[1]]


def regmean_solve(sums, dtype, ridge: float = 1e-6) -> list[np.ndarray]:
    """RegMean's weights, in ``dtype``, from the size-weighted sums of :func:`regmean_terms`.

    Per layer ``(G + lam I)^-1 (GW + lam W_mean)``, ``lam = ridge x mean(diag(G))``.
    """
    layers = []
    for j in (0, 1):
        G, GW, W_mean = sums[j], sums[2 + j], sums[4 + j]
        lam = ridge * max(float(np.mean(np.diag(G))), np.finfo(float).tiny)
        layers.append(np.linalg.solve(G + lam * np.eye(len(G)), GW + lam * W_mean))
    return [layers[0][:-1].astype(dtype), layers[1][:-1].astype(dtype),
            layers[0][-1].astype(dtype), layers[1][-1].astype(dtype)]


def regmean(weight_sets, grams, sizes=None, alpha: float = 0.9, ridge: float = 1e-6) -> list[np.ndarray]:
    """RegMean: per layer, the weights that best reproduce every network's outputs on its own inputs.

    Per layer, with the bias as the last row of ``W~ = [W; b]``: ``W* = (sum_i s_i G~_i + lam I)^-1
    (sum_i s_i G~_i W~_i + lam W_mean)``; ``G_i`` is network ``i``'s mean Gram of the layer's augmented
    inputs on its shard (:func:`layer_grams`), ``s_i`` the normalised ``sizes``, ``G~ = alpha G +
    (1 - alpha) diag(G)`` (``alpha = 1``: the exact least-squares merge), and ``lam = ridge x
    mean(diag(sum_i s_i G~_i))`` a small ridge toward the weighted mean for inputs that never vary.
    Identical Grams give the weighted mean. Networks with different starts should be matched
    first. Computed as :func:`regmean_solve` of the weighted sums of :func:`regmean_terms`.
    """
    p = check_sets(weight_sets, sizes)
    d, h, _ = check_network(weight_sets[0])
    if len(grams) != len(weight_sets):
        raise ValueError(f"grams: expected one pair per network ({len(weight_sets)}); got {len(grams)}")
    for i, gs in enumerate(grams):
        if len(gs) != 2 or np.shape(gs[0]) != (d + 1, d + 1) or np.shape(gs[1]) != (h + 1, h + 1):
            raise ValueError(f"grams[{i}]: expected shapes [({d + 1}, {d + 1}), ({h + 1}, {h + 1})] "
                             f"(layer_grams); got {[np.shape(g) for g in gs]}")
    check_interval("alpha", alpha, low=0, high=1)
    check_interval("ridge", ridge, low=0, closed="right")
    if len(weight_sets) == 1:
        return copies(weight_sets[0])
    terms = [regmean_terms(ws, gs, alpha) for ws, gs in zip(weight_sets, grams)]
    sums = [sum(pi * t[j] for pi, t in zip(p, terms)) for j in range(6)]
    return regmean_solve(sums, weight_sets[0][0].dtype, ridge)


# ----------------------------------------------------------------------------- cost

def network_bytes(weights) -> int:
    """Bytes of one network's weights (what one-shot's gather moves per engine)."""
    return int(sum(np.asarray(w).nbytes for w in weights))


def exchange_cost(method: str, weight_sets, collectives: bool = False) -> tuple[int, int]:
    """``(extra_rounds, extra_bytes_per_rank)`` a method adds to one-shot's single gather of ``P`` bytes per rank.

    A round is one collective exchange of models after training; bytes per rank are what one rank
    sends or receives beyond its own network's ``P`` bytes. ``mean``, ``matched`` and ``ensemble``:
    ``(0, 0)`` (the gather brings every network to one place). ``fisher``: ``(0, P)`` (each Fisher
    travels with its network). ``regmean``: ``(0, 8 ((d + 1)^2 + (h + 1)^2))`` (the two float64 Grams,
    ones column included). ``distilled`` and ``retrained`` (the same round on the true labels):
    ``(1, K P)``: an all-gather (``(K - 1) P`` received) and one more averaging round (``P``).
    One network: ``(0, 0)``.

    With ``collectives=True``, the cost of :mod:`exemplar.parallel.combine`, which sums with
    ``Allreduce``: the same, except ``regmean``, whose ``Allreduce`` adds float64 Grams,
    Gram-times-weights and weights (``E`` numbers each, the network's size):
    ``(0, 8 ((d + 1)^2 + (h + 1)^2 + 2 E) - P)``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}; got {method!r}")
    check_sets(weight_sets)
    k = len(weight_sets)
    P = network_bytes(weight_sets[0])
    d, h, _ = check_network(weight_sets[0])
    if k == 1:  # one engine: nothing to exchange, no method has anything to add
        return 0, 0
    grams = 8 * ((d + 1) ** 2 + (h + 1) ** 2)
    if collectives and method == "regmean":
        elements = sum(np.asarray(w).size for w in weight_sets[0])
        return 0, grams + 16 * elements - P
    return {"mean": (0, 0), "ensemble": (0, 0), "matched": (0, 0), "fisher": (0, P), "regmean": (0, grams),
            "distilled": (1, k * P), "retrained": (1, k * P)}[method]
