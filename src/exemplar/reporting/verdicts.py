"""The verdict rules of the paper-versus-report page: three verdicts and the thresholds that decide them.

Each claim of the paper gets one of three verdicts, :data:`REPRODUCED`, :data:`CAVEAT` or
:data:`NOT_REPRODUCED`, by an explicit rule:

* **Accuracy** does not depend on the machine, so it is compared number by number: a difference
  of at most :data:`ACCURACY_PP` percentage points is reproduced, at most
  :data:`ACCURACY_CAVEAT_PP` is reproduced with a caveat, more is not reproduced. (The paper
  reports one number per point; ours are means over repeats whose standard deviation is itself
  about one point.)
* **Time** depends on the machine (the paper's is an :data:`exemplar.paper.MACHINE`), so absolute
  seconds are never judged. Shapes are: the ranking of the grid points by training time
  (Spearman's rank correlation at least :data:`RANK_CORRELATION`, or at least
  :data:`RANK_CORRELATION_CAVEAT` for a caveat), and speedups (times relative to one process)
  within :data:`RATIO_TOLERANCE` of the paper's, at the engine counts that have a core each.
  Engine counts above this machine's cores share cores: they measure oversubscription, so they
  are shown but not judged, and a claim that needs them is at best reproduced with a caveat.
  Our times are CPU times where the results record them (other work on the machine barely moves
  them), else wall times.

:mod:`exemplar.reporting.claims` applies these rules to the paper's claims.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd


REPRODUCED = "reproduced"
CAVEAT = "reproduced with a caveat"
NOT_REPRODUCED = "not reproduced"

#: Accuracy within this many percentage points of the paper's: reproduced.
ACCURACY_PP = 1.0
#: Accuracy within this many percentage points: reproduced with a caveat.
ACCURACY_CAVEAT_PP = 2.0
#: Spearman rank correlation of training times over the grid, ours vs the paper's: reproduced.
RANK_CORRELATION = 0.7
#: ... and reproduced with a caveat.
RANK_CORRELATION_CAVEAT = 0.3
#: A ratio (speedup, impact factor over one process) within this fraction of the paper's: reproduced.
RATIO_TOLERANCE = 0.25
#: Accuracy range across epoch counts (pp) that still counts as "does not change with epochs".
FLAT_PP = 0.5


def accuracy_verdict(diff_pp: float | Iterable[float]) -> str:
    """The verdict for accuracy differences (ours − paper, in percentage points).

    Parameters
    ----------
    diff_pp : float or iterable of float
        One difference, or several (judged by the largest absolute one). NaN values are ignored.

    Returns
    -------
    str
        :data:`REPRODUCED` if every ``|diff| <= ACCURACY_PP``, :data:`CAVEAT` if every
        ``|diff| <= ACCURACY_CAVEAT_PP``, else :data:`NOT_REPRODUCED`.
    """
    values = np.atleast_1d(np.asarray(list(diff_pp) if not np.isscalar(diff_pp) else [diff_pp], dtype=float))
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError("no accuracy difference to judge: our results share no point with the paper's table")
    worst = float(np.max(np.abs(values)))
    if worst <= ACCURACY_PP:
        return REPRODUCED
    if worst <= ACCURACY_CAVEAT_PP:
        return CAVEAT
    return NOT_REPRODUCED


def ratio_verdict(ours: float, theirs: float) -> str:
    """:data:`REPRODUCED` when ``ours`` is within :data:`RATIO_TOLERANCE` (relative) of ``theirs``, else not."""
    return REPRODUCED if abs(ours / theirs - 1.0) <= RATIO_TOLERANCE else NOT_REPRODUCED


def rank_verdict(rho: float) -> str:
    """The verdict for a Spearman rank correlation of training times (see :data:`RANK_CORRELATION`)."""
    if np.isnan(rho):
        return NOT_REPRODUCED
    if rho >= RANK_CORRELATION:
        return REPRODUCED
    if rho >= RANK_CORRELATION_CAVEAT:
        return CAVEAT
    return NOT_REPRODUCED



def spearman(a: pd.Series, b: pd.Series) -> float:
    """Spearman's rank correlation of ``a`` and ``b`` over the points both have; NaN below 3 points or for a tie."""
    ok = a.notna() & b.notna()
    if ok.sum() < 3:
        return float("nan")
    ra, rb = a[ok].rank(), b[ok].rank()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def worst(verdicts: Iterable[str]) -> str:
    """The worst of several verdicts (:data:`NOT_REPRODUCED` before :data:`CAVEAT` before :data:`REPRODUCED`)."""
    order = [REPRODUCED, CAVEAT, NOT_REPRODUCED]
    return max(verdicts, key=order.index)


def flat_verdict(range_pp: float) -> str:
    """The verdict for "accuracy does not change with the epoch cap": its range (pp) across caps.

    Within :data:`FLAT_PP` is :data:`REPRODUCED`, within :data:`ACCURACY_PP` :data:`CAVEAT`, else
    :data:`NOT_REPRODUCED`.
    """
    return REPRODUCED if range_pp <= FLAT_PP else (CAVEAT if range_pp <= ACCURACY_PP else NOT_REPRODUCED)


def rules_markdown() -> str:
    """The verdict rules, as a Markdown list built from this module's thresholds."""
    return "\n".join([
        f"- **Accuracy** (does not depend on the machine): ours within {ACCURACY_PP:g} percentage point of the "
        f"paper's is *{REPRODUCED}*, within {ACCURACY_CAVEAT_PP:g} points *{CAVEAT}*, further *{NOT_REPRODUCED}*. "
        "A claim over several numbers takes its largest difference.",
        "- **Time** (depends on the machine): absolute seconds are shown, never judged. Judged are the shapes: "
        f"the ranking of the grid points by training time (Spearman's ρ ≥ {RANK_CORRELATION:g} *{REPRODUCED}*, "
        f"≥ {RANK_CORRELATION_CAVEAT:g} *{CAVEAT}*) and speedups and impact factors relative to each side's own "
        f"1-process run (within {RATIO_TOLERANCE:.0%} of the paper's: *{REPRODUCED}*). Our times are CPU times "
        "where the results record them (the seconds the fits computed, which other work on the machine barely "
        "moves, so a rerun on a busy machine gets the same verdicts), else wall times; epoch caps that trained "
        "the same networks (every fit stopped before the smaller cap) count as one point, their times pooled.",
        "- **Cores**: engine counts above this machine's cores share cores, so they measure oversubscription. "
        f"They are shown but not judged, and a claim that needs them is at best *{CAVEAT}*.",
        f"- **Shape claims** are judged as stated: accuracy flat across epoch caps (a range within {FLAT_PP:g} pp "
        f"*{REPRODUCED}*, within {ACCURACY_PP:g} pp *{CAVEAT}*); accuracy falling with every added process (and "
        "judged as accuracy); communication overhead making every parallel run slower than one process.",
        f"- **The optimum** by impact factor: the paper's grid point (or a cap that trained the same networks as "
        f"it) *{REPRODUCED}*, its hidden size with another "
        f"epoch cap *{CAVEAT}* (the cap barely matters once early stopping ends the fits), else *{NOT_REPRODUCED}*.",
    ])
