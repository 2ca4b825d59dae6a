"""The one stopping rule every trainer of this package uses: scikit-learn's, on the training loss.

``MLPClassifier`` (without ``early_stopping``) stops when the training loss has not improved by
at least ``tol`` for more than ``n_iter_no_change`` consecutive epochs. :class:`StoppingRule`
is that rule, written once: every epoch trainer (:mod:`exemplar.models.epochs`) carries one as
``stopping``; the numpy trainer (:func:`exemplar.models.numpy_mlp.train`) and periodic averaging
(:func:`exemplar.parallel.rounds.periodic_fit`) feed it one loss per epoch, so they stop at the
epoch where ``fit`` would.
"""

from __future__ import annotations

import math


class StoppingRule:
    """scikit-learn's rule: stop once the loss has not improved by ``tol`` for more than ``n_iter_no_change`` epochs.

    Parameters
    ----------
    tol : float
        The improvement that counts (``MLPClassifier``'s ``tol``, default 1e-4).
    n_iter_no_change : int
        Epochs without such an improvement that are tolerated (default 10); the rule fires at
        the next one.

    Attributes
    ----------
    best : float
        The lowest loss seen so far (``inf`` before the first).
    no_improvement : int
        Consecutive epochs whose loss was not ``tol`` below the best before it.

    Examples
    --------
    >>> rule = StoppingRule(tol=0.5, n_iter_no_change=1)
    >>> [rule.update(loss) for loss in (3.0, 2.0, 1.8, 1.7)]
    [False, False, False, True]
    """

    def __init__(self, tol: float = 1e-4, n_iter_no_change: int = 10):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.best = math.inf
        self.no_improvement = 0

    def update(self, loss: float) -> bool:
        """Count one epoch's ``loss``; ``True`` when training should stop after this epoch."""
        if loss > self.best - self.tol:
            self.no_improvement += 1
        else:
            self.no_improvement = 0
        if loss < self.best:
            self.best = loss
        return self.no_improvement > self.n_iter_no_change
