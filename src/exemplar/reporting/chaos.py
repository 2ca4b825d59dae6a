"""The chaos soak's results (``results/bench/chaos.csv``, :mod:`exemplar.bench.chaos`) as a table and a sentence.

One row of the CSV is one faulted run: the member hit (``target``), the ``signal``, how the run ended
(``outcome``: completed, error, slow error, hung, or not faulted when the run ended before the
member was there), the seconds from the fault to the error, the processes it left, the rows lost and
duplicated after the resumed run, whether the resumed rows' accuracies equal a fault-free run's, and
whether the error named what died. The performance chapter shows both through
:func:`exemplar.reporting.performance.chaos_section`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

NAME = "chaos"
OUTCOMES = ("completed", "error", "slow error", "hung")


def read(directory) -> pd.DataFrame | None:
    """``DIRECTORY/chaos.csv``, or None where the soak has not been run."""
    path = Path(directory) / f"{NAME}.csv"
    return pd.read_csv(path) if path.is_file() else None


def chaos_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per fault kind (member × signal): runs, how they ended, seconds to the error (median and
    most), processes left, rows lost and duplicated, resumed runs equal to the fault-free one, errors
    that named what died; the faulted runs only (not those whose member never ran)."""
    df = frame[frame["outcome"] != "not faulted"].copy()
    df["fault"] = df["target"] + " " + df["signal"]
    errors = df["outcome"].isin(["error", "slow error"])
    rows = []
    for fault, g in df.groupby("fault", sort=True):
        e = g[errors.loc[g.index]]
        rows.append({"Fault": fault, "Runs": len(g),
                     **{o.capitalize(): int((g["outcome"] == o).sum()) for o in OUTCOMES},
                     "To the error (s)": (f"{e['error_seconds'].median():.1f} (max {e['error_seconds'].max():.1f})"
                                          if len(e) else "–"),
                     "Left": int(g["processes_left"].sum() + g["resume_left"].sum()),
                     "Rows lost": int(g["rows_lost"].sum()), "Rows duplicated": int(g["rows_duplicated"].sum()),
                     "Resumed equal": f"{int(g['accuracy_equal'].astype(bool).sum())} / {len(g)}",
                     "Error named it": _named(e),
                     "Signal ignored": int(g["victim_ignores"].fillna(False).astype(bool).sum())
                     if "victim_ignores" in g else 0})
    return pd.DataFrame(rows)


def chaos_sentence(frame: pd.DataFrame) -> str:
    """The soak in one sentence, against its goal (no hang, nothing left, no row lost or duplicated)."""
    df = frame[frame["outcome"] != "not faulted"]
    errors = df[df["outcome"].isin(["error", "slow error"])]
    left = int(df["processes_left"].sum() + df["resume_left"].sum())
    return (f"{len(df)} faulted runs ({', '.join(sorted(df['stem'].unique()))}): "
            f"{int((df['outcome'] == 'completed').sum())} completed, {len(errors)} failed with an error "
            f"({int((df['outcome'] == 'slow error').sum())} of them after more than 60 s), "
            f"{int((df['outcome'] == 'hung').sum())} hung; {left} processes left, "
            f"{int(df['rows_lost'].sum())} rows lost and {int(df['rows_duplicated'].sum())} duplicated after "
            f"resuming, {int(df['accuracy_equal'].astype(bool).sum())} resumed runs equal to the fault-free run; "
            f"{_named(errors, ' of ')} errors named what died (of those the run's own process could print).")


def _named(errors: pd.DataFrame, sep: str = " / ") -> str:
    """Errors that named what died, of those with a message (a SIGKILLed papermill prints none): "k / n"."""
    said = errors["error_names_member"].dropna()
    return f"{int(said.astype(bool).sum())}{sep}{len(said)}" if len(said) else "–"
