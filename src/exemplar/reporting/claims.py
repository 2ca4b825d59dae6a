"""The report's summaries: the paper's Tables I–III beside ours, with verdicts, and the status page.

Everything here *reads* what the notebooks wrote (``results/*.csv`` and their provenance
``results/*.json``, and the executed notebooks in ``book/_run/``); nothing is re-measured.

Verdict rules
-------------
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
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from exemplar import config, metrics, paper, results
from exemplar.experiments import sweep

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

#: The paper's set-up, for warning when results were produced differently (a QUICK run).
PAPER_SETUP = {"n_train": config.PAPER_N_TRAIN, "repeats": 5}

#: Column labels of the comparison tables: the difference, and the impact factor's unit.
DIFF = "Δ"
IMPACT = "impact (% / s)"

SWEEP = "sequential_sweep"
PARALLEL = "exemplar"


# ---------------------------------------------------------------------------------------------
# Verdict rules
# ---------------------------------------------------------------------------------------------

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


def _worst(verdicts: Iterable[str]) -> str:
    order = [REPRODUCED, CAVEAT, NOT_REPRODUCED]
    return max(verdicts, key=order.index)


# ---------------------------------------------------------------------------------------------
# Reading our results
# ---------------------------------------------------------------------------------------------

@dataclass
class Ours:
    """Our results as the comparison needs them, read from the results folder.

    Attributes
    ----------
    sweep : DataFrame
        :func:`exemplar.sweep.summarize` of ``sequential_sweep.csv`` (one row per grid point).
    parallel : DataFrame
        :func:`exemplar.metrics.summarize_runs` of the one-shot runs of ``exemplar.csv``
        (one row per engine count).
    sweep_prov, parallel_prov : dict
        The two provenance records.
    cores : int
        The usable cores of the machine that ran the parallel experiment.
    """

    sweep: pd.DataFrame
    parallel: pd.DataFrame
    sweep_prov: dict
    parallel_prov: dict
    cores: int


def read_ours(directory: Path | None = None) -> Ours:
    """Read ``sequential_sweep`` and ``exemplar`` from the results folder (default :func:`config.results_dir`).

    Raises
    ------
    FileNotFoundError
        When either results file is missing, naming the notebook that writes it.
    """
    directory = Path(directory) if directory is not None else config.results_dir()
    for name, notebook in ((SWEEP, "02-sequential-sweep"), (PARALLEL, "03-exemplar-parallel")):
        if not (directory / f"{name}.csv").is_file():
            raise FileNotFoundError(f"{directory / (name + '.csv')} is missing: run `exemplar run {notebook}` first")
    rows, sweep_prov = results.read_results(SWEEP, directory)
    runs, parallel_prov = results.read_results(PARALLEL, directory)
    one_shot = runs[runs["strategy"] == "one-shot"] if "strategy" in runs.columns else runs
    machine = parallel_prov.get("machine", {})
    cores = int(machine.get("usable_cores") or machine.get("logical_cores") or os.cpu_count() or 1)
    return Ours(sweep.summarize(rows), metrics.summarize_runs(one_shot), sweep_prov, parallel_prov, cores)


def setup_differences(ours: Ours) -> list[str]:
    """How our results' set-up differs from the paper's (training images, repeats, classifier).

    Returns
    -------
    list of str
        One sentence per difference; empty when the runs used the paper's set-up.
    """
    out = []
    for label, prov in (("sweep", ours.sweep_prov), ("parallel runs", ours.parallel_prov)):
        params = prov.get("parameters", {})
        for key, value in PAPER_SETUP.items():
            if key in params and params[key] != value:
                out.append(f"The {label} used {key} = {params[key]} (the paper: {value}).")
    params = ours.parallel_prov.get("parameters", {})
    if params.get("hidden") is not None and (params.get("hidden"), params.get("epochs")) != paper.OPTIMUM:
        out.append(f"The parallel runs trained {params['hidden']} hidden units for at most {params['epochs']} epochs "
                   f"(this report's optimum by impact factor); the paper's Tables II–III trained "
                   f"{paper.OPTIMUM[0]} hidden units for {paper.OPTIMUM[1]} epochs.")
    return out


def setup_note_markdown(ours: Ours) -> str:
    """A MyST admonition on how our set-up differs from the paper's: a warning when the data or repeats
    differ (a QUICK run, whose verdicts say little), a note when only the classifier does."""
    differences = setup_differences(ours)
    if not differences:
        return "These results used the paper's set-up: 6,000 training images, five repeats per point."
    quick = any("n_train" in d or "repeats" in d for d in differences)
    kind, lead = ("warning", "These results were not produced with the paper's set-up, so their verdicts say "
                             "little about the paper:") if quick else ("note", "One difference from the paper's set-up:")
    return f":::{{{kind}}}\n{lead}\n\n" + "\n".join(f"- {d}" for d in differences) + "\n:::"


# ---------------------------------------------------------------------------------------------
# The paper's tables beside ours
# ---------------------------------------------------------------------------------------------

def _triple(theirs: pd.Series, ours: pd.Series, unit: str) -> dict:
    return {(unit, "paper"): theirs, (unit, "ours"): ours, (unit, DIFF): ours - theirs}


def table_i_comparison(ours: Ours) -> pd.DataFrame:
    """The paper's Table I beside ours: time, accuracy and impact factor per hidden size × epochs.

    Returns
    -------
    DataFrame
        Two-level columns (quantity, paper / ours / :data:`DIFF` = ours − paper), one row per grid point of the
        paper's table (ours NaN where our sweep did not run that point), and a ``verdict`` on
        the accuracy (times are machine-dependent and are not judged point by point).
    """
    t = paper.table_i().merge(ours.sweep, on=["hidden", "epochs"], how="left")
    cols = {("", "hidden"): t.hidden, ("", "epochs"): t.epochs}
    cols.update(_triple(t.time, t.time_mean, "time (s)"))
    cols.update(_triple(t.accuracy, t.accuracy_mean, "accuracy (%)"))
    cols.update(_triple(t.impact_x, t.impact_y, IMPACT) if "impact_x" in t else {})
    out = pd.DataFrame(cols)
    out.insert(2, ("", "verdict (accuracy)"), [accuracy_verdict(d) if not math.isnan(d) else "not run"
                                               for d in out[("accuracy (%)", DIFF)]])
    return out


def _parallel_table(ours: Ours, theirs: pd.DataFrame, time_col: str, impact_col: str) -> pd.DataFrame:
    t = theirs.merge(ours.parallel.rename(columns={"n_engines": "n_processes"}), on="n_processes", how="left")
    t0_ours = t.loc[t.n_processes == 1, time_col]
    t0_paper = float(theirs.loc[theirs.n_processes == 1, "time"].iloc[0])
    cols = {("", "processes"): t.n_processes}
    cols.update(_triple(t.time, t[time_col], "time (s)"))
    cols[("speedup (× 1 process)", "paper")] = t0_paper / t.time
    cols[("speedup (× 1 process)", "ours")] = (float(t0_ours.iloc[0]) / t[time_col]) if len(t0_ours) else np.nan
    cols.update(_triple(t.accuracy, t.accuracy_pct, "accuracy (%)"))
    cols.update(_triple(t.impact, t[impact_col], IMPACT))
    out = pd.DataFrame(cols)
    out.insert(1, ("", "more engines than cores"), np.where(out[("", "processes")] > ours.cores, "yes", "no"))
    out.insert(2, ("", "verdict (accuracy)"), [accuracy_verdict(d) if not math.isnan(d) else "not run"
                                               for d in out[("accuracy (%)", DIFF)]])
    return out


def table_ii_comparison(ours: Ours) -> pd.DataFrame:
    """The paper's Table II (no communication overhead) beside ours.

    Our time is the slowest engine's fit (``fit_seconds_max``), as in the paper; the impact factor
    is accuracy / that time. Speedups are relative to each side's own 1-process time.
    """
    return _parallel_table(ours, paper.table_ii(), "fit_seconds_max", "impact_fit")


def table_iii_comparison(ours: Ours) -> pd.DataFrame:
    """The paper's Table III (with its 11 s scatter) beside ours (fit + distribution + gather/combine)."""
    return _parallel_table(ours, paper.table_iii(), "time_with_overhead", "impact_overhead")


# ---------------------------------------------------------------------------------------------
# Claims and verdicts
# ---------------------------------------------------------------------------------------------

@dataclass
class Claim:
    """One claim of the paper, what it said, what we measured, and the verdict with its reason."""

    table: str
    claim: str
    paper: str
    ours: str
    verdict: str
    why: str


def _fmt(values: Iterable[float], digits: int = 2, sep: str = " / ") -> str:
    return sep.join("–" if (v is None or (isinstance(v, float) and math.isnan(v))) else f"{v:.{digits}f}"
                    for v in values)


def _spearman(a: pd.Series, b: pd.Series) -> float:
    ok = a.notna() & b.notna()
    if ok.sum() < 3:
        return float("nan")
    ra, rb = a[ok].rank(), b[ok].rank()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def claims(ours: Ours) -> list[Claim]:
    """Every claim of the paper's Tables I–III, with our numbers and a computed verdict.

    See the module's docstring for the rules. Machine-dependent quantities (seconds, impact
    factors) are judged by their shape: rankings and ratios to the 1-process run.
    """
    out: list[Claim] = []
    t1 = table_i_comparison(ours)
    ran = t1[t1[("accuracy (%)", "ours")].notna()]
    n_grid, n_ran = len(t1), len(ran)
    subset = "" if n_ran == n_grid else f" (the {n_ran} of {n_grid} grid points our sweep ran)"

    # 1. Table I accuracy, point by point.
    d = ran[("accuracy (%)", DIFF)]
    within = int((d.abs() <= ACCURACY_PP).sum())
    v = accuracy_verdict(d)
    out.append(Claim("I", "Test accuracy per hidden size × epochs" + subset,
                     f"{ran[('accuracy (%)', 'paper')].min():.2f}–{ran[('accuracy (%)', 'paper')].max():.2f} %",
                     f"{ran[('accuracy (%)', 'ours')].min():.2f}–{ran[('accuracy (%)', 'ours')].max():.2f} %",
                     v, f"{within} of {n_ran} points within {ACCURACY_PP:g} pp; largest difference "
                        f"{d.abs().max():.2f} pp."))

    # 2. Accuracy does not change with epochs where the paper's is constant.
    theirs = paper.table_i().groupby("hidden")["accuracy"].agg(lambda s: s.max() - s.min())
    flat_h = [h for h, r in theirs.items() if r < 1e-9]
    mine = ours.sweep.groupby("hidden")["accuracy_mean"].agg(lambda s: s.max() - s.min() if len(s) > 1 else np.nan)
    mine = mine.reindex(flat_h).dropna()
    flat_h = [int(h) for h in mine.index]
    if len(mine):
        worst = float(mine.max())
        v = REPRODUCED if worst <= FLAT_PP else (CAVEAT if worst <= ACCURACY_PP else NOT_REPRODUCED)
        out.append(Claim("I", "Accuracy stops changing with the epoch cap (early stopping) at "
                              + ", ".join(str(h) for h in flat_h) + " hidden units",
                         "range 0.00 pp", f"range ≤ {worst:.2f} pp", v,
                         f"largest accuracy range across epoch caps at those sizes: {worst:.2f} pp."))

    # 3. Table I times: machine-dependent, compare their ranking over the grid.
    rho = _spearman(ran[("time (s)", "paper")], ran[("time (s)", "ours")])
    ratio = (ran[("time (s)", "ours")] / ran[("time (s)", "paper")]).median()
    out.append(Claim("I", "Training time per hidden size × epochs" + subset,
                     f"{ran[('time (s)', 'paper')].min():.2f}–{ran[('time (s)', 'paper')].max():.2f} s",
                     f"{ran[('time (s)', 'ours')].min():.2f}–{ran[('time (s)', 'ours')].max():.2f} s",
                     rank_verdict(rho),
                     f"seconds depend on the machine (ours are {ratio:.2f}× the paper's, median), so the ranking of "
                     f"the grid points is compared: Spearman ρ = {rho:.2f}."))

    # 4. The optimum by impact factor.
    best = sweep.optimum(ours.sweep)
    ph, pe = paper.OPTIMUM
    bh, be = int(best.hidden), int(best.epochs)
    v = REPRODUCED if (bh, be) == (ph, pe) else (CAVEAT if bh == ph else NOT_REPRODUCED)
    at_paper = ours.sweep[(ours.sweep.hidden == ph) & (ours.sweep.epochs == pe)]
    there = (f"the paper's ({ph}, {pe}) scores {float(at_paper.impact.iloc[0]):.2f} here, "
             f"{float(at_paper.impact.iloc[0]) / best.impact:.0%} of our best" if len(at_paper)
             else f"our sweep did not run ({ph}, {pe})")
    out.append(Claim("I", f"The best impact factor (accuracy / time) is {ph} hidden units, {pe} epochs",
                     f"({ph}, {pe}): impact {paper.table_i().impact.max():.2f}",
                     f"({bh}, {be}): impact {best.impact:.2f}", v,
                     f"{there}; the impact factor divides by seconds, so its winner depends on the machine."))

    # 5–7. Tables II and III.
    t2 = table_ii_comparison(ours)
    t3 = table_iii_comparison(ours)
    par = t2[t2[("accuracy (%)", "ours")].notna()]
    more = par[par[("", "processes")] > 1]
    if len(more):
        acc = par[("accuracy (%)", "ours")].to_numpy()
        monotone = bool(np.all(np.diff(acc) < 0))
        v = accuracy_verdict(more[("accuracy (%)", DIFF)])
        if not monotone:
            v = NOT_REPRODUCED
        out.append(Claim("II", "Accuracy falls as the data are split over more processes",
                         _fmt(par[("accuracy (%)", "paper")]) + " %", _fmt(par[("accuracy (%)", "ours")]) + " %", v,
                         f"on {_fmt(par[('', 'processes')], 0)} processes; largest difference "
                         f"{more[('accuracy (%)', DIFF)].abs().max():.2f} pp, ours "
                         f"{'falls' if monotone else 'does not fall'} with every added process."))

        for table, quantity, claim_text in (
                (t2, "speedup (× 1 process)", "Training gets faster with more processes (speedup without overhead)"),
                (t2, IMPACT, "The impact factor rises with more processes (no overhead)")):
            rows = table[table[(quantity, "ours")].notna() & (table[("", "processes")] > 1)]
            if quantity.startswith("impact"):
                p1 = float(table.loc[table[("", "processes")] == 1, (quantity, "paper")].iloc[0])
                o1 = table.loc[table[("", "processes")] == 1, (quantity, "ours")]
                o1 = float(o1.iloc[0]) if len(o1) else np.nan
                theirs_r, ours_r = rows[(quantity, "paper")] / p1, rows[(quantity, "ours")] / o1
            else:
                theirs_r, ours_r = rows[(quantity, "paper")], rows[(quantity, "ours")]
            fair = rows[("", "processes")] <= ours.cores
            judged = [ratio_verdict(o, t) for o, t, f in zip(ours_r, theirs_r, fair) if f]
            n_list = _fmt(rows[("", "processes")], 0)
            if not judged:
                v, note = CAVEAT, f"no engine count above 1 has a core each on this {ours.cores}-core machine"
            else:
                v = _worst(judged)
                note = (f"judged at {_fmt(rows[('', 'processes')][fair], 0)} processes (a core each)")
                if (~fair).any():
                    if v == REPRODUCED:
                        v = CAVEAT
                    note += (f"; {_fmt(rows[('', 'processes')][~fair], 0)} processes share this machine's "
                             f"{ours.cores} cores and are not judged")
            out.append(Claim("II", claim_text,
                             f"{_fmt(theirs_r)} × on {n_list}", f"{_fmt(ours_r)} × on {n_list}", v,
                             f"ratios to each side's own 1-process run (seconds depend on the machine); {note}."))

        # Table III: communication overhead makes parallel training slower than sequential.
        rows3 = t3[t3[("time (s)", "ours")].notna()]
        t1_ours = float(rows3.loc[rows3[("", "processes")] == 1, ("time (s)", "ours")].iloc[0]) \
            if (rows3[("", "processes")] == 1).any() else np.nan
        p3 = rows3[rows3[("", "processes")] > 1]
        slower = bool((p3[("time (s)", "ours")] > t1_ours).all())
        overhead = ours.parallel.loc[ours.parallel.n_engines > 1, ["distribute_seconds", "combine_seconds"]].sum(axis=1)
        out.append(Claim("III", "With the cost of sending the data (the paper's 11 s scatter), parallel training is "
                                "slower than sequential and the impact factor collapses",
                         f"time {_fmt(rows3[('time (s)', 'paper')])} s, impact {_fmt(rows3[(IMPACT, 'paper')])}",
                         f"time {_fmt(rows3[('time (s)', 'ours')])} s, impact {_fmt(rows3[(IMPACT, 'ours')])}",
                         REPRODUCED if slower else NOT_REPRODUCED,
                         f"our distribution + gather + combine cost at most {overhead.max() * 1e3:.0f} ms against the "
                         f"paper's {paper.SCATTER_SECONDS:.0f} s, so parallel runs with overhead are "
                         f"{'slower' if slower else 'still faster'} than 1 process."))
    return out


def rules_markdown() -> str:
    """The verdict rules, as a Markdown list built from this module's thresholds."""
    return "\n".join([
        f"- **Accuracy** (does not depend on the machine): ours within {ACCURACY_PP:g} percentage point of the "
        f"paper's is *{REPRODUCED}*, within {ACCURACY_CAVEAT_PP:g} points *{CAVEAT}*, further *{NOT_REPRODUCED}*. "
        "A claim over several numbers takes its largest difference.",
        "- **Time** (depends on the machine): absolute seconds are shown, never judged. Judged are the shapes: "
        f"the ranking of the grid points by training time (Spearman's ρ ≥ {RANK_CORRELATION:g} *{REPRODUCED}*, "
        f"≥ {RANK_CORRELATION_CAVEAT:g} *{CAVEAT}*) and speedups and impact factors relative to each side's own "
        f"1-process run (within {RATIO_TOLERANCE:.0%} of the paper's: *{REPRODUCED}*).",
        "- **Cores**: engine counts above this machine's cores share cores, so they measure oversubscription. "
        f"They are shown but not judged, and a claim that needs them is at best *{CAVEAT}*.",
        f"- **Shape claims** are judged as stated: accuracy flat across epoch caps (a range within {FLAT_PP:g} pp "
        f"*{REPRODUCED}*, within {ACCURACY_PP:g} pp *{CAVEAT}*); accuracy falling with every added process (and "
        "judged as accuracy); communication overhead making every parallel run slower than one process.",
        f"- **The optimum** by impact factor: the paper's grid point *{REPRODUCED}*, its hidden size with another "
        f"epoch cap *{CAVEAT}* (the cap barely matters once early stopping ends the fits), else *{NOT_REPRODUCED}*.",
    ])


def claims_table(ours: Ours) -> pd.DataFrame:
    """:func:`claims` as a table, one row per claim (columns: table, claim, paper, ours, verdict, why)."""
    return pd.DataFrame([asdict(c) for c in claims(ours)])


def verdict_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many claims got each verdict, in the order reproduced, with a caveat, not reproduced."""
    return {v: int((table["verdict"] == v).sum()) for v in (REPRODUCED, CAVEAT, NOT_REPRODUCED)}


def headline_markdown(directory: Path | None = None) -> str:
    """The claims table as a Markdown table (the README's "What you get" is this, from a full run)."""
    table = claims_table(read_ours(directory))
    lines = ["| Table | The paper's claim | Paper | This report | Verdict |", "|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.table} | {row.claim} | {row.paper} | {row.ours} | **{row.verdict}** |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------------------------

def download_markdown(directory: Path | None = None, relative_to: Path | None = None) -> str:
    """A MyST Markdown table with a ``{download}`` link to every results CSV and its provenance JSON.

    Parameters
    ----------
    directory : Path, optional
        The results folder (default :func:`config.results_dir`).
    relative_to : Path, optional
        The folder of the page that shows the links (default ``book/_run``): the links are
        relative to it, and Sphinx copies the files into the site.

    Returns
    -------
    str
        Render it with ``IPython.display.Markdown`` in a cell whose metadata sets
        ``mystnb.markdown_format: myst``, so that the ``{download}`` role is parsed.
    """
    directory = Path(directory) if directory is not None else config.results_dir()
    relative_to = Path(relative_to) if relative_to is not None else config.RUN_DIR
    lines = ["| results | rows | written (UTC) | what | download |", "|---|---|---|---|---|"]
    for csv_path in sorted(directory.glob("*.csv")):
        rel = Path(os.path.relpath(csv_path, relative_to)).as_posix()
        json_path = csv_path.with_suffix(".json")
        prov = json.loads(json_path.read_text()) if json_path.is_file() else {}
        n_rows = max(sum(1 for _ in csv_path.open(encoding="utf-8")) - 1, 0)
        links = f"{{download}}`{csv_path.name} <{rel}>`"
        if json_path.is_file():
            links += f", {{download}}`{json_path.name} <{Path(os.path.relpath(json_path, relative_to)).as_posix()}>`"
        lines.append(f"| `{csv_path.stem}` | {n_rows} | {prov.get('created', '–')} | "
                     f"{prov.get('experiment', '–')} | {links} |")
    if len(lines) == 2:
        raise FileNotFoundError(f"no results CSV in {directory}: run `exemplar run` first")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The status page: how the numbers were produced
# ---------------------------------------------------------------------------------------------

def provenance_records(directory: Path | None = None) -> dict[str, dict]:
    """Every results file's provenance (``NAME.json`` beside ``NAME.csv``), by name, in name order."""
    directory = Path(directory) if directory is not None else config.results_dir()
    out = {}
    for json_path in sorted(directory.glob("*.json")):
        if json_path.with_suffix(".csv").is_file():
            out[json_path.stem] = json.loads(json_path.read_text())
    if not out:
        raise FileNotFoundError(f"no results with provenance in {directory}: run `exemplar run` first")
    return out


def _blas_text(blas: list[Mapping[str, Any]] | None) -> str:
    if not blas:
        return "–"
    parts = []
    for lib in blas:
        name = lib.get("internal_api") or lib.get("user_api")
        version = f" {lib['version']}" if lib.get("version") else ""
        layer = f", {lib['threading_layer']}" if lib.get("threading_layer") else ""
        parts.append(f"{name}{version} ({lib.get('num_threads')} threads{layer})")
    return "; ".join(sorted(set(parts)))


def machine_table(records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Machine, OS, Python, BLAS, MPI and commit of each results file: one row per field, one column per file."""
    fields = {
        "CPU model": lambda p: p.get("machine", {}).get("cpu_model"),
        "logical cores": lambda p: p.get("machine", {}).get("logical_cores"),
        "usable cores": lambda p: p.get("machine", {}).get("usable_cores"),
        "memory (GiB)": lambda p: p.get("machine", {}).get("memory_gib"),
        "OS": lambda p: p.get("machine", {}).get("os"),
        "host": lambda p: p.get("machine", {}).get("hostname"),
        "Python": lambda p: p.get("python"),
        "BLAS / OpenMP (threads)": lambda p: _blas_text(p.get("blas")),
        "MPI": lambda p: p.get("mpi"),
        "git commit": lambda p: p.get("git_commit"),
        "written (UTC)": lambda p: p.get("created"),
    }
    data = {name: [str(f(prov)) if f(prov) is not None else "–" for f in fields.values()]
            for name, prov in records.items()}
    return pd.DataFrame(data, index=pd.Index(list(fields), name="")).reset_index()


def package_table(records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Package versions recorded with each results file: one row per package, one column per file."""
    names = list(dict.fromkeys(n for prov in records.values() for n in prov.get("packages", {})))
    data = {name: [prov.get("packages", {}).get(n) or "–" for n in names] for name, prov in records.items()}
    return pd.DataFrame(data, index=pd.Index(names, name="package")).reset_index()


def parameters_table(records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The parameters each results file was produced with (one row per file)."""
    rows = []
    for name, prov in records.items():
        params = prov.get("parameters", {})
        rows.append({"results": name, "experiment": prov.get("experiment", "–"),
                     "parameters": ", ".join(f"{k} = {v}" for k, v in params.items()),
                     "inputs": prov.get("inputs", "–"), "test images": prov.get("n_test", "–")})
    return pd.DataFrame(rows)


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The parameters an executed notebook ran with: its defaults, overridden by what papermill injected."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    defaults: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            defaults = _literal_assignments(cell.source)
            break
    injected = nb.metadata.get("papermill", {}).get("parameters", {}) or {}
    return {**defaults, **injected}


def _literal_assignments(source: str) -> dict[str, Any]:
    import ast

    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = ast.unparse(node.value)
    return out


def execution_table(run_dir: Path | None = None, stems: Iterable[str] | None = None,
                    current: str | None = None) -> pd.DataFrame:
    """How each notebook of the report was executed, from papermill's record in ``book/_run/STEM.ipynb``.

    Parameters
    ----------
    run_dir : Path, optional
        Folder of executed notebooks (default ``book/_run``).
    stems : iterable of str, optional
        The notebooks, in order (default: :data:`exemplar.report.PLAN`).
    current : str, optional
        The notebook that is running now (this status page): its own time is not known yet.

    Returns
    -------
    DataFrame
        One row per notebook: started (UTC), duration (s), the parameters it ran with (defaults
        overridden by injected ones; "injected" lists the latter), and the slowest cell.
    """
    from exemplar.site import notebooks as report

    run_dir = Path(run_dir) if run_dir is not None else config.RUN_DIR
    stems = list(stems) if stems is not None else list(report.PLAN)
    rows = []
    for stem in stems:
        path = run_dir / f"{stem}.ipynb"
        if stem == current:
            rows.append({"notebook": stem, "started (UTC)": "running now (this page)", "duration (s)": np.nan,
                         "parameters": "", "injected": "", "slowest cell (s)": np.nan})
            continue
        if not path.is_file():
            rows.append({"notebook": stem, "started (UTC)": "not run", "duration (s)": np.nan, "parameters": "",
                         "injected": "", "slowest cell (s)": np.nan})
            continue
        import nbformat

        nb = nbformat.read(path, as_version=4)
        pm = nb.metadata.get("papermill", {})
        cell_times = [c.metadata.get("papermill", {}).get("duration") for c in nb.cells]
        cell_times = [t for t in cell_times if t is not None]
        params = notebook_parameters(path)
        rows.append({"notebook": stem, "started (UTC)": str(pm.get("start_time", "–"))[:19].replace("T", " "),
                     "duration (s)": pm.get("duration", np.nan),
                     "parameters": ", ".join(f"{k} = {v!r}" for k, v in params.items()),
                     "injected": ", ".join(f"{k} = {v!r}" for k, v in (pm.get("parameters") or {}).items()) or "none",
                     "slowest cell (s)": max(cell_times) if cell_times else np.nan})
    return pd.DataFrame(rows)


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


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - a convenience for the README's maintainer
    """``python -m exemplar.summary [--figure PNG]``: print the headline table; draw the README's picture."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m exemplar.summary", description=main.__doc__)
    p.add_argument("--results", help="results folder (default: config.results_dir())")
    p.add_argument("--figure", help="also draw the README's picture into this PNG (needs Chromium)")
    args = p.parse_args(argv)
    directory = Path(args.results) if args.results else None
    print(headline_markdown(directory))
    if args.figure:
        from exemplar.site.browser import figure_png

        print(figure_png(readme_figure(directory), Path(args.figure)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
