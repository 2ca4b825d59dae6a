"""The optimizer every trainer of this package uses: scikit-learn's Adam, in place on one flat vector.

scikit-learn keeps its optimizers in one module (``sklearn/neural_network/_stochastic_optimizers.py``);
this is that module's ``AdamOptimizer``, written once for the fast trainer
(:class:`exemplar.models.numpy_mlp.NumpyMLP`) and the distillation round
(:class:`exemplar.models.distillation.Distiller`). Its formulas, operation for operation (in float64
the same roundings as scikit-learn's)::

    t  += 1
    ms  = beta_1 * ms + (1 - beta_1) * grad
    vs  = beta_2 * vs + (1 - beta_2) * grad ** 2
    lr  = learning_rate_init * sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    params += -lr * ms / (sqrt(vs) + epsilon)

with scikit-learn's defaults (``learning_rate_init`` 1e-3, ``beta_1`` 0.9, ``beta_2`` 0.999,
``epsilon`` 1e-8). The moments and a scratch vector are allocated once; an update writes into them
and into the gradient's own buffer (it ends holding the update), never into new arrays. In float32
everything is float32, the step size included (scikit-learn forms the update in float64).
"""

from __future__ import annotations

import numpy as np

#: scikit-learn's Adam settings (``MLPClassifier``'s defaults).
ADAM_DEFAULTS = {"learning_rate_init": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}


class Adam:
    """scikit-learn's ``AdamOptimizer`` on one flat parameter vector of ``n_params`` numbers of ``dtype``.

    Parameters
    ----------
    n_params : int
        Length of the parameter vector.
    dtype : {float64, float32}
        Type of the moments and of the update.
    learning_rate_init, beta_1, beta_2, epsilon : float
        As ``MLPClassifier``'s (:data:`ADAM_DEFAULTS`).

    Attributes
    ----------
    t : int
        Updates so far.
    ms, vs : ndarray
        The first and second moments.
    """

    def __init__(self, n_params: int, dtype=np.float64, learning_rate_init: float = 1e-3, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8):
        self.dtype = np.dtype(dtype)
        self.learning_rate_init, self.epsilon = float(learning_rate_init), float(epsilon)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.t = 0
        self.ms = np.zeros(n_params, dtype=self.dtype)
        self.vs = np.zeros(n_params, dtype=self.dtype)
        self._tmp = np.empty(n_params, dtype=self.dtype)

    def update(self, params: np.ndarray, grad: np.ndarray) -> None:
        """One step, ``params += -lr * ms / (sqrt(vs) + epsilon)`` in place; ``grad`` ends holding the update."""
        tmp = self._tmp
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        self.ms *= b1                                # ms = b1 * ms + (1 - b1) * grad
        np.multiply(grad, 1 - b1, out=tmp)
        self.ms += tmp
        self.vs *= b2                                # vs = b2 * vs + (1 - b2) * grad ** 2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1 - b2
        self.vs += tmp
        lr = self.learning_rate_init * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        if self.dtype == np.float32:
            lr = float(lr)  # a Python float keeps the update in float32
        np.sqrt(self.vs, out=tmp)                    # params += -lr * ms / (sqrt(vs) + epsilon)
        tmp += self.epsilon
        np.multiply(self.ms, -lr, out=grad)          # the gradient is spent: its buffer takes the update
        grad /= tmp
        params += grad
