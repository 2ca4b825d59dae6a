"""Chapter 03's text: exemplar parallelism's sentences, Tables II–III beside the paper's, and Figs 5–8.

Every number comes from :mod:`exemplar.analysis.exemplar_parallel` (:func:`~exemplar.analysis.exemplar_parallel.analyse`:
per engine count, speedups, Amdahl's law); this module only says and draws it. The notebook
``03-exemplar-parallel`` shows it as ``page``. Beside each measured time stands the estimate with a
core per engine (``dedicated_seconds``), labelled as an estimate in every table and figure; how
well it agrees with the measurements on real cores is :func:`exemplar.parallel.dedicated.validation`'s.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from exemplar import config, metrics, paper
from exemplar.analysis import provenance
from exemplar.analysis.exemplar_parallel import ONE_SHOT, Analysis
from exemplar.reporting import figures, sweep
from exemplar.reporting.status import precision_sentence

#: Table II's column of the dedicated-core estimate.
ESTIMATE_COLUMN = "estimate: a core each (s)"


# ---------------------------------------------------------------------------------------------- the model and the runs
def model_sentence(p: Any) -> str:
    """"Classifier: **H hidden units, at most E epochs** (where the choice came from)", from ``p.hidden``,
    ``p.epochs`` and ``p.chosen_by``."""
    return f"Classifier: {sweep.classifier_text(p)}."


def run_sentence(run) -> str:
    """"N runs in `PATH`; this machine has **C cores** (CPU)", from a :class:`~exemplar.experiments.runner.ChapterRun`."""
    return (f"{len(run.rows)} runs in `{config.display_path(run.path)}`; this machine has "
            f"**{provenance.cores(run.prov)} cores** ({run.prov['machine']['cpu_model']}). "
            + precision_sentence(run.prov.get("parameters", {}).get("dtype")))


# ---------------------------------------------------------------------------------------------- tables
def _paper_columns(table: pd.DataFrame) -> pd.DataFrame:
    return table.rename(columns={"n_processes": "n_engines", "time": "paper time (s)",
                                 "accuracy": "paper accuracy (%)", "impact": "paper impact"})


def table_ii(per_n: pd.DataFrame) -> pd.DataFrame:
    """Table II as the chapter shows it: our slowest fit, accuracy and impact per process count, beside the paper's."""
    t2 = per_n[["n_engines", "fit_seconds_max", "fit_seconds_max_sd", "dedicated_seconds", "accuracy_pct",
                "accuracy_pct_sd", "impact_fit"]]
    t2 = t2.merge(_paper_columns(paper.table_ii()), on="n_engines", how="left")
    t2.columns = ["processes", "time (s)", "time sd", ESTIMATE_COLUMN, "accuracy (%)", "accuracy sd", "impact",
                  "paper time (s)", "paper accuracy (%)", "paper impact"]
    return t2


def table_iii(per_n: pd.DataFrame) -> pd.DataFrame:
    """Table III as the chapter shows it: with distribution and gather + combine, beside the paper's."""
    t3 = per_n[["n_engines", "distribute_seconds", "combine_seconds", "time_with_overhead", "estimate_with_overhead",
                "wall_seconds", "accuracy_pct", "impact_overhead"]]
    t3 = t3.merge(_paper_columns(paper.table_iii()), on="n_engines", how="left")
    t3.columns = ["processes", "distribution (s)", "gather + combine (s)", "time with overhead (s)",
                  "estimate with overhead, a core each (s)", "wall (s)", "accuracy (%)", "impact", "paper time (s)",
                  "paper accuracy (%)", "paper impact"]
    return t3


def speedup_table(a: Analysis) -> pd.DataFrame:
    """Speedups per process count, over 1 engine and over all-core BLAS, with the Amdahl fit's value."""
    per_n = a.per_n
    return pd.DataFrame({"processes": per_n.n_engines, "speedup": per_n.speedup.round(2),
                         "speedup over all-core BLAS": per_n.speedup_vs_blas.round(2),
                         f"Amdahl fit to the measurements (f = {a.f_ours:.2f})":
                             metrics.amdahl(per_n.n_engines, a.f_ours).round(2),
                         "estimated speedup, a core each": per_n.speedup_estimate.round(2),
                         f"Amdahl fit to the estimate (f = {a.f_estimate:.2f})":
                             metrics.amdahl(per_n.n_engines, a.f_estimate).round(2),
                         "more engines than cores": per_n.n_engines > a.cores})


# ---------------------------------------------------------------------------------------------- figures
def time_figure(a: Analysis):
    """Fig 5: the slowest engine's fit time, with overhead, the dedicated-core estimate, and the paper's."""
    return figures.versus_processes(a.per_n, "fit_seconds_max", "fit_seconds_max_sd", "Training time", "time (s)",
                                    paper=paper.table_ii(), paper_y="time", cores=a.cores,
                                    extra={"this report, with overhead": (a.per_n, "time_with_overhead")},
                                    estimates={"estimate: a core per engine": (a.per_n, "dedicated_seconds")})


def speedup_figure(a: Analysis):
    """Fig 6: our speedups and Amdahl fit, the paper's and its fit, and our speedup over all-core BLAS."""
    per_n = a.per_n
    return figures.speedup_amdahl(per_n.n_engines.to_numpy(), per_n.speedup.to_numpy(), a.f_ours, a.paper_n,
                                  a.paper_speedup, a.f_paper, cores=a.cores,
                                  extra={"this report, over all-core BLAS": (per_n.n_engines.to_numpy(),
                                                                             per_n.speedup_vs_blas.to_numpy())},
                                  estimate=(per_n.n_engines.to_numpy(), per_n.speedup_estimate.to_numpy(),
                                            a.f_estimate))


def accuracy_figure(a: Analysis):
    """Fig 7: the averaged network's test accuracy per process count, beside the paper's Table II."""
    return figures.versus_processes(a.per_n, "accuracy_pct", "accuracy_pct_sd",
                                    "Test accuracy of the averaged network", "accuracy (%)", paper=paper.table_ii(),
                                    paper_y="accuracy", cores=a.cores)


def impact_figure(a: Analysis):
    """Fig 8: the impact factor with and without communication overhead, beside the paper's Table III."""
    return figures.versus_processes(a.per_n, "impact_overhead", None, "Impact factor, with communication overhead",
                                    "impact factor (% / s)", paper=paper.table_iii(), paper_y="impact",
                                    cores=a.cores, extra={"this report, without overhead": (a.per_n, "impact_fit")})


# ---------------------------------------------------------------------------------------------- sentences
def engines_text(counts) -> str:
    """Engine counts in words: "1 engine", "1 and 2 engines", "1, 2 and 4 engines"."""
    counts = [str(int(n)) for n in counts]
    return f"{figures.and_list(counts)} engine{'s' if counts != ['1'] else ''}"


def estimate_sentence(a: Analysis, runs: pd.DataFrame) -> str:
    """How the estimate is made, how it compares with the measurements on real cores, and both Amdahl fits."""
    from exemplar.parallel import dedicated

    check = dedicated.validation(runs[runs.strategy == ONE_SHOT], a.cores)
    above = a.per_n[a.per_n.n_engines > a.cores]
    beyond = ("; ".join(f"{int(r.n_engines)} engines {r.speedup_estimate:.2f}×" for _, r in above.iterrows())
              if len(above) else "")
    return (f"The estimate for a core per engine is each run's slowest engine's fit CPU time (MPI calls "
            f"excluded); CPU time barely moves when engines share a core. {dedicated.validation_sentence(check)} "
            f"Amdahl's law fitted to the measurements on real cores ({engines_text(a.fit_counts)}) gives a serial "
            f"fraction of **{a.f_ours:.2f}**; fitted to the estimate at every engine count, **{a.f_estimate:.2f}**"
            + (f". Estimated speedups with a core each: {beyond}." if beyond else "."))


def distribution_sentence(row: Mapping[str, Any], n_train: int) -> str:
    """Why our distribution costs milliseconds, with the numbers of one engine count
    (:func:`exemplar.analysis.exemplar_parallel.distribution_row`).

    Parameters
    ----------
    row : Series or dict
        ``n_engines``, ``distribute_seconds``, ``read_seconds`` and ``combine_seconds`` (means).
    n_train : int
        Training images distributed.
    """
    mb = n_train * config.N_PIXELS / 1e6
    return (
        f"Distributing {n_train:,} images ({mb:.1f} MB as bytes) to {int(row['n_engines'])} engines took "
        f"**{row['distribute_seconds'] * 1e3:.1f} ms** here, against the paper's {paper.SCATTER_SECONDS:.0f} s; "
        f"reading the CSV on rank 0 took {row['read_seconds']:.2f} s and is not counted as distribution. "
        "Rank 0 sends each engine a contiguous slice of one numpy buffer with `MPI.Scatterv`: no pickling, "
        "no copy through the ipyparallel controller, one message per engine over shared memory. "
        "The paper's 11 s is what a pickled, object-by-object scatter (or reading the CSV row by row inside "
        "the timed region) costs; the data themselves are a few megabytes, which memory moves in milliseconds. "
        f"Gathering and averaging the weights took {row['combine_seconds'] * 1e3:.1f} ms.")
