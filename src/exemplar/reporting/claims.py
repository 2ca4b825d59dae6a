"""Every claim of the paper's Tables I–III, with a computed verdict, the repeats it rests on and its margin.

Everything here *reads* what the notebooks wrote (``results/*.csv`` and their provenance
``results/*.json``); nothing is re-measured. The tables beside the paper's are
:mod:`exemplar.reporting.comparison`, the verdict rules and their thresholds
:mod:`exemplar.reporting.verdicts` (both re-exported here); the status page and the downloads are
:mod:`exemplar.reporting.status`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from exemplar import paper
from exemplar.analysis import sweep
from exemplar.reporting.comparison import (DIFF, IMPACT, REPEATS, SD, Ours, read_ours, table_i_comparison,
                                           table_ii_comparison, table_iii_comparison)
from exemplar.reporting.verdicts import (ACCURACY_CAVEAT_PP, ACCURACY_PP, CAVEAT, FLAT_PP, NOT_REPRODUCED,
                                         RANK_CORRELATION, RANK_CORRELATION_CAVEAT, RATIO_TOLERANCE, REPRODUCED,
                                         WITHIN_SPREAD, Margin, accuracy_verdict, flat_verdict, rank_verdict,
                                         ratio_verdict, spearman, strongest, threshold_margin, weakest,
                                         worst)

# ---------------------------------------------------------------------------------------------
# The spread over repeats of what the claims compute from the means
# ---------------------------------------------------------------------------------------------

def _sd(values) -> float:
    """The standard deviation over repeats (ddof 1) of ``values``; NaN with fewer than two numbers."""
    v = pd.Series(values, dtype=float).dropna()
    return float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def repeats_text(runs: Iterable[float]) -> str:
    """The runs per point that the compared numbers average: ``"5"``, ``"3–5"`` where they differ, ``"–"``."""
    r = pd.Series(list(runs), dtype=float).dropna().astype(int)
    if r.empty:
        return "–"
    return f"{r.min()}" if r.min() == r.max() else f"{r.min()}–{r.max()}"


def _sweep_by_repeat(ours: Ours, value: str) -> pd.DataFrame | None:
    """``value`` of the sweep's fits per repeat (rows) and (hidden, epochs) (columns); ``None`` without the rows."""
    rows = ours.sweep_rows
    if rows is None or rows.empty or "repeat" not in rows:
        return None
    return rows.pivot_table(index="repeat", columns=["hidden", "epochs"], values=value, aggfunc="mean")


def parallel_by_repeat(ours: Ours, quantity: str) -> pd.DataFrame | None:
    """The one-shot runs per repeat (rows) and engine count (columns): ``"accuracy"``, ``"time"`` (the slowest
    engine's fit, CPU time on the CPU basis) or ``"overhead"`` (that plus distribution and gather/combine).
    ``None`` without the rows."""
    runs = ours.parallel_rows
    if runs is None or runs.empty or "repeat" not in runs:
        return None
    fit = runs["fit_cpu_seconds_max"] if ours.parallel_basis == "cpu" else runs["fit_seconds_max"]
    value = {"accuracy": runs["accuracy_pct"], "time": fit,
             "overhead": fit + runs.get("distribute_seconds", 0.0) + runs.get("combine_seconds", 0.0)}[quantity]
    return runs.assign(value=value).pivot_table(index="repeat", columns="n_engines", values="value",
                                                aggfunc="mean")


def _margin(scores, spreads, thresholds, unit: str = "pp") -> Margin:
    """:func:`~exemplar.reporting.verdicts.threshold_margin`, or no margin where no score is a number."""
    scores = pd.Series(list(scores), dtype=float)
    if scores.isna().all():
        return Margin(float("nan"), unit=unit)
    return threshold_margin(scores, spreads, thresholds, unit)


# ---------------------------------------------------------------------------------------------
# Claims and verdicts
# ---------------------------------------------------------------------------------------------

@dataclass
class Claim:
    """One claim of the paper, what it said, what we measured, and the verdict with its reason.

    ``repeats`` are the runs per point our numbers average (:func:`repeats_text`); ``margin`` says how far the
    number that decided the verdict lies from changing it, against its spread over the repeats
    (:meth:`exemplar.reporting.verdicts.Margin.text`; "–" where not measured).
    """

    table: str
    claim: str
    paper: str
    ours: str
    verdict: str
    why: str
    repeats: str = "–"
    margin: str = "–"


#: The columns of :func:`claims_table`, in order.
COLUMNS = ["table", "claim", "paper", "ours", "verdict", "repeats", "margin", "why"]


def _fmt(values: Iterable[float], digits: int = 2, sep: str = " / ") -> str:
    return sep.join("–" if (v is None or (isinstance(v, float) and math.isnan(v))) else f"{v:.{digits}f}"
                    for v in values)


def claims(ours: Ours) -> list[Claim]:
    """Every claim of the paper's Tables I–III, with our numbers, a computed verdict, its repeats and margin.

    See :mod:`exemplar.reporting.verdicts` for the rules. Machine-dependent quantities (seconds,
    impact factors) are judged by their shape: rankings and ratios to the 1-process run.
    """
    t1 = table_i_comparison(ours)
    ran = t1[t1[("accuracy (%)", "ours")].notna()]
    n_grid, n_ran = len(t1), len(ran)
    subset = "" if n_ran == n_grid else f" (the {n_ran} of {n_grid} grid points our sweep ran)"
    out = [table_i_accuracy_claim(ran, subset)]
    out += table_i_flat_claims(ours)
    out.append(table_i_time_claim(ran, subset, pooled_times(ours, ran), _sd(rank_correlations(ours, ran))))
    out.append(optimum_claim(ours))
    out += parallel_claims(ours)
    return out


def table_i_accuracy_claim(ran: pd.DataFrame, subset: str = "") -> Claim:
    """Table I's accuracies, point by point (``ran``: the rows of :func:`table_i_comparison` our sweep ran).

    The margin is the largest difference's distance from the threshold that would change the verdict, against
    our accuracy's sd over the repeats at that point (the paper's is one number).
    """
    d = ran[("accuracy (%)", DIFF)]
    within = int((d.abs() <= ACCURACY_PP).sum())
    sd = ran[("accuracy (%)", SD)] if ("accuracy (%)", SD) in ran else np.nan
    runs = ran[("", REPEATS)] if ("", REPEATS) in ran else []
    return Claim("I", "Test accuracy per hidden size × epochs" + subset,
                 f"{ran[('accuracy (%)', 'paper')].min():.2f}–{ran[('accuracy (%)', 'paper')].max():.2f} %",
                 f"{ran[('accuracy (%)', 'ours')].min():.2f}–{ran[('accuracy (%)', 'ours')].max():.2f} %",
                 accuracy_verdict(d), f"{within} of {len(ran)} points within {ACCURACY_PP:g} pp; largest difference "
                                      f"{d.abs().max():.2f} pp.", repeats_text(runs),
                 _margin(d.abs(), sd, [ACCURACY_PP, ACCURACY_CAVEAT_PP]).text())


def table_i_flat_claims(ours: Ours) -> list[Claim]:
    """Accuracy does not change with epochs where the paper's is constant (none when we cannot tell).

    The spread of a hidden size's range is the sd over the repeats of the difference between its most and
    its least accurate cap, repeat by repeat (zero where the caps trained the same networks).
    """
    theirs = paper.table_i().groupby("hidden")["accuracy"].agg(lambda s: s.max() - s.min())
    flat_h = [h for h, r in theirs.items() if r < 1e-9]
    mine = ours.sweep.groupby("hidden")["accuracy_mean"].agg(lambda s: s.max() - s.min() if len(s) > 1 else np.nan)
    mine = mine.reindex(flat_h).dropna()
    flat_h = [int(h) for h in mine.index]
    if not len(mine):
        return []
    largest = float(mine.max())
    acc = _sweep_by_repeat(ours, "accuracy_pct")
    spreads = []
    for h in flat_h:
        caps = ours.sweep[ours.sweep.hidden == h].set_index("epochs").accuracy_mean
        spreads.append(_sd(acc[(h, caps.idxmax())] - acc[(h, caps.idxmin())]) if acc is not None else np.nan)
    runs = ours.sweep[ours.sweep.hidden.isin(flat_h)].runs
    return [Claim("I", "Accuracy stops changing with the epoch cap (early stopping) at "
                       + ", ".join(str(h) for h in flat_h) + " hidden units",
                  "range 0.00 pp", f"range ≤ {largest:.2f} pp", flat_verdict(largest),
                  f"largest accuracy range across epoch caps at those sizes: {largest:.2f} pp.", repeats_text(runs),
                  _margin(mine, spreads, [FLAT_PP, ACCURACY_PP]).text())]


def _pooled(table: pd.DataFrame, ran: pd.DataFrame) -> pd.Series:
    """The judged time of :func:`summarize`'s ``table`` per row of ``ran``, pooled (:func:`pooled_times`)."""
    time_col, _ = sweep.BASIS[sweep.time_basis(table)]
    table = table.assign(pooled=sweep.pooled(table, time_col)).set_index(["hidden", "epochs"])
    keys = pd.MultiIndex.from_arrays([ran[("", "hidden")], ran[("", "epochs")]])
    return pd.Series(table["pooled"].reindex(keys).to_numpy(), index=ran.index)


def pooled_times(ours: Ours, ran: pd.DataFrame) -> pd.Series:
    """Our judged time per row of ``ran`` (rows of :func:`table_i_comparison`), pooled over the epoch caps
    that trained the same networks (:func:`exemplar.analysis.sweep.pooled`): their times differ only
    by noise, so they rank as ties."""
    return _pooled(ours.sweep, ran)


def rank_correlations(ours: Ours, ran: pd.DataFrame) -> list[float]:
    """Spearman's ρ of the paper's times against each repeat's own (pooled as :func:`pooled_times`): its spread
    over the repeats. Empty without the sweep's rows."""
    rows = ours.sweep_rows
    if rows is None or rows.empty or "repeat" not in rows:
        return []
    return [spearman(ran[("time (s)", "paper")], _pooled(sweep.summarize(part), ran))
            for _, part in rows.groupby("repeat")]


def table_i_time_claim(ran: pd.DataFrame, subset: str = "", ours_times: pd.Series | None = None,
                       rho_sd: float = float("nan")) -> Claim:
    """Table I's times: machine-dependent, so their ranking over the grid is compared.

    ``ours_times`` (default: the table's own) are the times ranked, e.g. :func:`pooled_times`; the margin weighs
    ρ against ``rho_sd``, its sd over the repeats (of :func:`rank_correlations`; NaN: not known).
    """
    ours_times = ran[("time (s)", "ours")] if ours_times is None else ours_times
    rho = spearman(ran[("time (s)", "paper")], ours_times)
    ratio = (ran[("time (s)", "ours")] / ran[("time (s)", "paper")]).median()
    runs = ran[("", REPEATS)] if ("", REPEATS) in ran else []
    return Claim("I", "Training time per hidden size × epochs" + subset,
                 f"{ran[('time (s)', 'paper')].min():.2f}–{ran[('time (s)', 'paper')].max():.2f} s",
                 f"{ran[('time (s)', 'ours')].min():.2f}–{ran[('time (s)', 'ours')].max():.2f} s",
                 rank_verdict(rho),
                 f"seconds depend on the machine (ours are {ratio:.2f}× the paper's, median), so the ranking of "
                 f"the grid points is compared: Spearman ρ = {rho:.2f} (epoch caps that trained the same networks "
                 "rank as ties).", repeats_text(runs),
                 _margin([-rho], rho_sd, [-RANK_CORRELATION, -RANK_CORRELATION_CAVEAT], "").text())


def _optimum_verdict(hidden: int, caps) -> str:
    ph, pe = paper.OPTIMUM
    return REPRODUCED if hidden == ph and pe in caps else (CAVEAT if hidden == ph else NOT_REPRODUCED)


def optimum_margin(ours: Ours) -> tuple[Margin, str]:
    """The optimum's margin: its impact factor's lead over the best network that would give another verdict,
    against the larger of their sds over the repeats (:func:`exemplar.analysis.sweep.optimum_stability`), and
    a clause on its lead over the runner-up (:func:`exemplar.analysis.sweep.optimum_separated`)."""
    rows = ours.sweep_rows
    if rows is None or rows.empty:
        return Margin(float("nan"), unit="% / s"), ""
    table = sweep.optimum_stability(rows, top=len(rows))
    best = table.iloc[0]
    verdicts = [_optimum_verdict(int(r.hidden), r.caps) for r in table.itertuples()]
    other = table[[v != verdicts[0] for v in verdicts]]
    margin = (Margin(float(best.impact - other.impact.iloc[0]), float(max(best.impact_sd, other.impact_sd.iloc[0])),
                     "% / s") if len(other) else Margin(float("nan"), unit="% / s"))
    if len(table) < 2:
        return margin, ""
    second = table.iloc[1]
    lead = (f"; it leads the next network, ({int(second.hidden)}, {int(second.epochs)}), by "
            f"{best.impact - second.impact:.2f}")
    if not np.isfinite([best.impact_sd, second.impact_sd]).all():
        return margin, lead + " (no spread over repeats)"
    return margin, lead + (f" against sds of {best.impact_sd:.2f} and {second.impact_sd:.2f} over the repeats: "
                           + ("separated" if sweep.optimum_separated(table) else "not separated by more than them"))


def optimum_claim(ours: Ours) -> Claim:
    """The optimum by impact factor: the paper's grid point, its hidden size, or neither.

    Ours is :func:`exemplar.analysis.sweep.best_model`: from CPU time where recorded, and epoch caps
    that trained the same networks count as one, so the paper's point is reproduced when it is among them.
    The margin is :func:`optimum_margin`'s.
    """
    best = sweep.best_model(ours.sweep)
    ph, pe = paper.OPTIMUM
    bh, be = int(best.hidden), int(best.epochs)
    v = _optimum_verdict(bh, best.caps)
    _, impact_col = sweep.BASIS[best.basis]
    at_paper = ours.sweep[(ours.sweep.hidden == ph) & (ours.sweep.epochs == pe)]
    there = (f"the paper's ({ph}, {pe}) scores {float(at_paper[impact_col].iloc[0]):.2f} here, "
             f"{float(at_paper[impact_col].iloc[0]) / best.impact:.0%} of our best" if len(at_paper)
             else f"our sweep did not run ({ph}, {pe})")
    caps = f"{best.caps[0]}–{best.caps[-1]}" if len(best.caps) > 1 else f"{be}"
    same = (f"; caps {caps} trained the same networks and count as one" if len(best.caps) > 1 else "")
    margin, lead = optimum_margin(ours)
    return Claim("I", f"The best impact factor (accuracy / time) is {ph} hidden units, {pe} epochs",
                 f"({ph}, {pe}): impact {paper.table_i().impact.max():.2f}",
                 f"({bh}, {caps}): impact {best.impact:.2f}", v,
                 f"{there}{same}{lead}; judged from {'CPU' if best.basis == 'cpu' else 'wall'} time; the impact "
                 "factor divides by seconds, so its winner depends on the machine.",
                 repeats_text(ours.sweep.runs), margin.text())


def _falls_margin(ours: Ours, par: pd.DataFrame, more: pd.DataFrame, acc_verdict: str, monotone: bool) -> Margin:
    """The margin of "accuracy falls with every added process": of the accuracy differences from the paper and
    of the drops between neighbouring engine counts (each drop's sd over the repeats, repeat by repeat)."""
    acc = parallel_by_repeat(ours, "accuracy")
    n = par[("", "processes")].astype(int).tolist()
    values = par[("accuracy (%)", "ours")].to_numpy()
    spreads = [_sd(acc[a] - acc[b]) if acc is not None else np.nan for a, b in zip(n, n[1:])]
    falls = _margin(values[1:] - values[:-1], spreads, [0.0])
    accuracy = _margin(more[("accuracy (%)", DIFF)].abs(), more[("accuracy (%)", SD)],
                       [ACCURACY_PP, ACCURACY_CAVEAT_PP])
    if not monotone:
        return strongest([falls, accuracy]) if acc_verdict == NOT_REPRODUCED else falls
    return weakest([falls, accuracy])


def parallel_claims(ours: Ours) -> list[Claim]:
    """Tables II and III: accuracy, speedup and impact factor against processes, and the overhead's effect.

    None when our parallel runs have no engine count above 1 in the paper's tables.
    """
    t2 = table_ii_comparison(ours)
    par = t2[t2[("accuracy (%)", "ours")].notna()]
    more = par[par[("", "processes")] > 1]
    if not len(more):
        return []
    acc = par[("accuracy (%)", "ours")].to_numpy()
    monotone = bool(np.all(np.diff(acc) < 0))
    v = accuracy_verdict(more[("accuracy (%)", DIFF)])
    margin = _falls_margin(ours, par, more, v, monotone)
    if not monotone:
        v = NOT_REPRODUCED
    out = [Claim("II", "Accuracy falls as the data are split over more processes",
                 _fmt(par[("accuracy (%)", "paper")]) + " %", _fmt(par[("accuracy (%)", "ours")]) + " %", v,
                 f"on {_fmt(par[('', 'processes')], 0)} processes; largest difference "
                 f"{more[('accuracy (%)', DIFF)].abs().max():.2f} pp, ours "
                 f"{'falls' if monotone else 'does not fall'} with every added process.",
                 repeats_text(par[("", REPEATS)]), margin.text())]
    for quantity, text in (("speedup (× 1 process)", "Training gets faster with more processes (speedup without "
                                                     "overhead)"),
                           (IMPACT, "The impact factor rises with more processes (no overhead)")):
        out.append(ratio_claim(t2, quantity, text, ours.cores, ours.parallel_basis, ratio_spreads(ours, quantity)))
    out.append(overhead_claim(ours, table_iii_comparison(ours)))
    return out


def ratio_spreads(ours: Ours, quantity: str) -> pd.Series:
    """Per engine count, the sd over the repeats of our ratio to the 1-process run, repeat by repeat: the
    speedup (``quantity`` ``"speedup (× 1 process)"``) or the impact factor's ratio (:data:`IMPACT`). Empty
    without the rows or a 1-engine run."""
    time = parallel_by_repeat(ours, "time")
    if time is None or 1 not in time.columns:
        return pd.Series(dtype=float)
    ratio = 1.0 / time.div(time[1], axis=0)
    if quantity.startswith("impact"):
        acc = parallel_by_repeat(ours, "accuracy")
        ratio = ratio * acc.div(acc[1], axis=0)
    return ratio.apply(_sd)


def ratio_claim(table: pd.DataFrame, quantity: str, claim_text: str, cores: int, basis: str = "wall",
                spreads: pd.Series | None = None) -> Claim:
    """A Table II quantity as ratios to each side's 1-process run, judged at the engine counts with a core each.

    ``basis`` (``"cpu"`` or ``"wall"``) names the time our figures come from, for the reason given; ``spreads``
    (:func:`ratio_spreads`, by engine count) are our ratios' sds over the repeats, for the margin.
    """
    rows = table[table[(quantity, "ours")].notna() & (table[("", "processes")] > 1)]
    if quantity.startswith("impact"):
        p1 = float(table.loc[table[("", "processes")] == 1, (quantity, "paper")].iloc[0])
        o1 = table.loc[table[("", "processes")] == 1, (quantity, "ours")]
        o1 = float(o1.iloc[0]) if len(o1) else np.nan
        theirs_r, ours_r = rows[(quantity, "paper")] / p1, rows[(quantity, "ours")] / o1
    else:
        theirs_r, ours_r = rows[(quantity, "paper")], rows[(quantity, "ours")]
    fair = rows[("", "processes")] <= cores
    judged = [ratio_verdict(o, t) for o, t, f in zip(ours_r, theirs_r, fair) if f]
    n_list = _fmt(rows[("", "processes")], 0)
    spreads = (spreads if spreads is not None else pd.Series(dtype=float)).reindex(rows[("", "processes")])
    margin = _margin((ours_r / theirs_r - 1).abs()[fair], (spreads.to_numpy() / theirs_r)[fair], [RATIO_TOLERANCE],
                     "%")
    if not judged:
        v, note = CAVEAT, f"no engine count above 1 has a core each on this {cores}-core machine"
    else:
        v = worst(judged)
        note = (f"judged at {_fmt(rows[('', 'processes')][fair], 0)} processes (a core each)")
        if (~fair).any():
            if v == REPRODUCED:
                v = CAVEAT
            note += (f"; {_fmt(rows[('', 'processes')][~fair], 0)} processes share this machine's "
                     f"{cores} cores and are not judged")
    return Claim("II", claim_text, f"{_fmt(theirs_r)} × on {n_list}", f"{_fmt(ours_r)} × on {n_list}", v,
                 f"ratios to each side's own 1-process run (seconds depend on the machine; ours from "
                 f"{'CPU' if basis == 'cpu' else 'wall'} time); {note}.",
                 repeats_text(table.loc[table[(quantity, "ours")].notna(), ("", REPEATS)]), margin.text())


def overhead_claim(ours: Ours, t3: pd.DataFrame) -> Claim:
    """Table III: communication overhead makes parallel training slower than sequential.

    The margin is the time by which the deciding engine count is slower (or faster) than 1 process, against
    the sd over the repeats of that difference, repeat by repeat.
    """
    rows3 = t3[t3[("time (s)", "ours")].notna()]
    t1_ours = float(rows3.loc[rows3[("", "processes")] == 1, ("time (s)", "ours")].iloc[0]) \
        if (rows3[("", "processes")] == 1).any() else np.nan
    p3 = rows3[rows3[("", "processes")] > 1]
    slower = bool((p3[("time (s)", "ours")] > t1_ours).all())
    overhead = ours.parallel.loc[ours.parallel.n_engines > 1, ["distribute_seconds", "combine_seconds"]].sum(axis=1)
    times = parallel_by_repeat(ours, "overhead")
    spreads = [_sd(times[1] - times[n]) if times is not None and 1 in times else np.nan
               for n in p3[("", "processes")].astype(int)]
    return Claim("III", "With the cost of sending the data (the paper's 11 s scatter), parallel training is "
                        "slower than sequential and the impact factor collapses",
                 f"time {_fmt(rows3[('time (s)', 'paper')])} s, impact {_fmt(rows3[(IMPACT, 'paper')])}",
                 f"time {_fmt(rows3[('time (s)', 'ours')])} s, impact {_fmt(rows3[(IMPACT, 'ours')])}",
                 REPRODUCED if slower else NOT_REPRODUCED,
                 f"our distribution + gather + combine cost at most {overhead.max() * 1e3:.0f} ms against the "
                 f"paper's {paper.SCATTER_SECONDS:.0f} s, so parallel runs with overhead are "
                 f"{'slower' if slower else 'still faster'} than 1 process.", repeats_text(rows3[("", REPEATS)]),
                 _margin(t1_ours - p3[("time (s)", "ours")], spreads, [0.0], "s").text())


def claims_table(ours: Ours) -> pd.DataFrame:
    """:func:`claims` as a table, one row per claim (columns :data:`COLUMNS`: table, claim, paper, ours,
    verdict, repeats, margin, why)."""
    return pd.DataFrame([asdict(c) for c in claims(ours)], columns=COLUMNS)


def verdict_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many claims got each verdict, in the order reproduced, with a caveat, not reproduced."""
    return {v: int((table["verdict"] == v).sum()) for v in (REPRODUCED, CAVEAT, NOT_REPRODUCED)}


def within_spread(table: pd.DataFrame) -> pd.Series:
    """Which claims of :func:`claims_table` have a margin inside the spread over repeats (all ``False`` without
    a ``margin`` column)."""
    if "margin" not in table:
        return pd.Series(False, index=table.index)
    return table["margin"].str.startswith(WITHIN_SPREAD)


def verdict_sentence(table: pd.DataFrame) -> str:
    """:func:`verdict_counts` in words: "**5** reproduced, **1** reproduced with a caveat, ... (of N claims).",
    and how many of them were decided by less than the spread over repeats (:func:`within_spread`).

    Parameters
    ----------
    table : DataFrame
        :func:`claims_table` (a ``verdict`` column; ``margin`` where known).
    """
    text = ", ".join(f"**{n}** {v}" for v, n in verdict_counts(table).items()) + f" (of {len(table)} claims)."
    flagged = table.loc[within_spread(table), "claim"].tolist() if within_spread(table).any() else []
    if flagged:
        text += (f" {len(flagged)} of them {'was' if len(flagged) == 1 else 'were'} decided by a margin inside the "
                 "spread over the repeats, so another run could turn "
                 f"{'it' if len(flagged) == 1 else 'them'}: " + "; ".join(f"*{c}*" for c in flagged) + ".")
    return text


def headline_markdown(directory: Path | None = None) -> str:
    """The claims table as a Markdown table (the README's "What you get" is this, from a full run): the verdict
    with the repeats it rests on and its margin against the spread over them."""
    table = claims_table(read_ours(directory))
    lines = ["| Table | The paper's claim | Paper | This report | Verdict | Repeats | Margin |",
             "|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.table} | {row.claim} | {row.paper} | {row.ours} | **{row.verdict}** | {row.repeats} "
                     f"| {row.margin} |")
    return "\n".join(lines)


def readme_figure(directory: Path | None = None):
    """The README's picture: Fig 7, the averaged network's accuracy against processes, ours beside the paper's."""
    from exemplar.reporting import figures

    ours = read_ours(directory)
    params = ours.parallel_prov.get("parameters", {})
    title = (f"Test accuracy of the averaged network ({params.get('hidden', '?')} hidden units, "
             f"{params.get('n_train', '?'):,} images)" if isinstance(params.get("n_train"), int)
             else "Test accuracy of the averaged network")
    return figures.versus_processes(ours.parallel, "accuracy_pct", "accuracy_pct_sd", title, "test accuracy (%)",
                                    paper=paper.table_ii(), paper_y="accuracy", cores=ours.cores)
