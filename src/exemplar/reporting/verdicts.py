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
* **Margins.** Each verdict also says how far the number that decided it lies from the threshold
  that would change it (:func:`threshold_margin`), against that number's spread over the repeats
  (its standard deviation, computed repeat by repeat): a :class:`Margin` smaller than its spread is
  flagged :data:`WITHIN_SPREAD`, a conclusion another run could turn.

:mod:`exemplar.reporting.claims` applies these rules to the paper's claims.
"""

from __future__ import annotations

from dataclasses import dataclass
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

#: How a verdict's margin is said: larger than the spread over repeats, or not.
CLEAR = "clear"
WITHIN_SPREAD = "within the spread"


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


# ---------------------------------------------------------------------------------------------
# Margins: how far a verdict's deciding number is from changing it, against its spread
# ---------------------------------------------------------------------------------------------

def _number(value: float, unit: str) -> str:
    """``value`` in ``unit``: ``"pp"``, ``"s"``, ``"% / s"`` or ``""`` with two decimals; ``"%"`` (a fraction) in
    percent with one."""
    if unit == "%":
        return f"{100 * value:.1f} %"
    return f"{value:.2f}" + (f" {unit}" if unit else "")


@dataclass(frozen=True)
class Margin:
    """How far the number that decided a verdict lies from the threshold that would change it, and its spread.

    Attributes
    ----------
    margin : float
        The distance to the threshold (NaN: no number decided the verdict).
    spread : float
        The standard deviation over the repeats of that number (NaN: not known, e.g. one run per point).
    unit : str
        ``"pp"``, ``"%"`` (a fraction, said in percent), ``"s"``, ``"% / s"`` or ``""``.
    """

    margin: float
    spread: float = float("nan")
    unit: str = "pp"

    @property
    def known(self) -> bool:
        """Whether both the margin and its spread are numbers."""
        return bool(np.isfinite(self.margin) and np.isfinite(self.spread))

    @property
    def firm(self) -> bool:
        """``False`` only where the margin is known to be smaller than the spread over repeats."""
        return not (self.known and self.margin < self.spread)

    def text(self) -> str:
        """The margin in words: "clear (margin 0.45 pp, sd 0.12 pp)", "within the spread (margin 0.10 pp against
        an sd of 0.80 pp)", or, without a spread, "margin 0.45 pp; no spread over repeats"."""
        if not np.isfinite(self.margin):
            return "no number decides it"
        m = _number(self.margin, self.unit)
        if not np.isfinite(self.spread):
            return f"margin {m}; no spread over repeats"
        s = _number(self.spread, self.unit)
        return f"{CLEAR} (margin {m}, sd {s})" if self.firm else f"{WITHIN_SPREAD} (margin {m} against an sd of {s})"


def _slack(margin, spread):
    """How much of a margin is left over its spread (an unknown spread counts as none)."""
    return margin - np.nan_to_num(spread, nan=0.0)


def threshold_margin(scores: Iterable[float], spreads: Iterable[float] | float, thresholds: Iterable[float],
                     unit: str = "pp") -> Margin:
    """The margin of a verdict that classes numbers by thresholds and takes the worst class.

    A score at most ``thresholds[0]`` is in the best class, above it and at most ``thresholds[1]`` in the next,
    and so on (higher is worse; pass ``-rho`` for a correlation where higher is better). The verdict is the worst
    class of the scores. It changes when one score rises above the worst class's upper threshold, or when
    every score of the worst class falls to its lower one. The margin is the distance of the deciding score
    from that threshold: of the score with the least margin over its spread for a rise, of the worst class's
    score with the most for a fall, whichever has less.

    Parameters
    ----------
    scores : iterable of float
        The numbers judged (NaN ignored).
    spreads : iterable of float, or float
        The standard deviation over repeats of each score (NaN where not known).
    thresholds : iterable of float
        Ascending.
    unit : str
        The unit of the scores (:class:`Margin`).

    Raises
    ------
    ValueError
        When no score is a number, or ``thresholds`` is empty or not ascending.
    """
    t = np.asarray(list(thresholds), dtype=float)
    if t.size == 0 or np.any(np.diff(t) <= 0):
        raise ValueError(f"thresholds must be one or more ascending numbers; got {t.tolist()}")
    x = np.asarray(list(scores), dtype=float)
    sd = np.broadcast_to(np.asarray(list(spreads) if np.iterable(spreads) else spreads, dtype=float), x.shape)
    ok = ~np.isnan(x)
    x, sd = x[ok], sd[ok]
    if x.size == 0:
        raise ValueError("scores must hold at least one number; got none")
    cls = np.searchsorted(t, x, side="left")
    worst_class = int(cls.max())
    candidates = []
    if worst_class < t.size:                                       # a rise above the upper threshold
        m = t[worst_class] - x
        i = int(np.argmin(_slack(m, sd)))
        candidates.append((m[i], sd[i]))
    if worst_class > 0:                                            # every score of the worst class falls
        inside = cls == worst_class
        m, s = x[inside] - t[worst_class - 1], sd[inside]
        i = int(np.argmax(_slack(m, s)))
        candidates.append((m[i], s[i]))
    m, s = min(candidates, key=lambda c: float(_slack(*c)))
    return Margin(float(m), float(s), unit)


def weakest(margins: Iterable[Margin]) -> Margin:
    """Of several margins a verdict needs all of, the one with the least margin over its spread."""
    return min(margins, key=lambda m: float(_slack(m.margin, m.spread)))


def strongest(margins: Iterable[Margin]) -> Margin:
    """Of several margins a verdict holds by any one of, the one with the most margin over its spread."""
    return max(margins, key=lambda m: float(_slack(m.margin, m.spread)))


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
        "- **Repeats and margins**: each verdict says how many runs per point its numbers average (*repeats*) and "
        "how far the number that decided it lies from the threshold that would change it (*margin*), against "
        "that number's standard deviation over the repeats, computed repeat by repeat (the difference, ratio or "
        f"correlation of each repeat). A margin larger than that sd is *{CLEAR}*; a smaller one is flagged "
        f"*{WITHIN_SPREAD}*: the verdict rests on a difference the repeats do not resolve, and another run could "
        "turn it. The optimum's margin is its impact factor's lead over the best other network.",
    ])
