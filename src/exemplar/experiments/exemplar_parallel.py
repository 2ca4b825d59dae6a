"""The chapter ``notebooks/03-exemplar-parallel.ipynb``: the paper's Section IV.B, Tables II–III and Figs 5–8.

The training data are split into contiguous shards, one per MPI engine; every engine trains the
same initial network on its shard, and the master averages the weights (one-shot averaging).
This module holds the chapter's parameters (:data:`SPEC`, :func:`parameters`), its run
(:func:`run`, through :func:`exemplar.experiments.runner.run_configs`), its analysis
(:func:`analyse`: per engine count, speedups, Amdahl's law) and tables, and its computed sentences.

Beside each measured time stands the estimate with a core per engine (``dedicated_seconds``, the
slowest engine's fit CPU time: :mod:`exemplar.parallel.dedicated`), labelled as an estimate in
every table and figure; Amdahl's law is fitted to both.

The analysis handles every engine count the parameters accept: without a 1-engine run the
speedups are over the all-core BLAS baseline, and without an engine count above 1 that has a core
each, Amdahl's law is fitted to every measured count (see :func:`analyse`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from exemplar import config, metrics, paper
from exemplar.analysis import sweep as sweep_analysis
from exemplar.experiments import sweep
from exemplar.experiments.params import Param, Parameters, ParamSpec, check_engine_counts
from exemplar.validation import DTYPES

#: Table II's column of the dedicated-core estimate.
ESTIMATE_COLUMN = "estimate: a core each (s)"

#: Results name of the chapter (``results/exemplar.csv``).
RESULTS_NAME = "exemplar"
#: The configurations' key columns in the results file.
KEY_COLUMNS = ["strategy", "n_engines", "repeat"]

#: The chapter's parameters, as in the notebook's ``parameters`` cell.
SPEC = ParamSpec(
    Param("engine_counts", "int_list", [1, 2, 4, 6], "processes (MPI engines) to train on", minimum=1),
    Param("hidden", "int", None, "hidden units; None: the sweep's optimum (results/sequential_sweep.csv)",
          minimum=1, optional=True),
    Param("epochs", "int", None, "max_iter; None: the sweep's optimum", minimum=1, optional=True),
    Param("repeats", "int", 5, "runs per engine count: run r uses random_state seed+r on every engine", minimum=1),
    Param("n_train", "int", 6000, "the first n_train training images, split over the engines", minimum=1,
          maximum=config.N_TRAIN_TOTAL),
    Param("seed", "int", 0, "base seed: run r uses random_state seed+r", minimum=0),
    Param("launcher", "str", "mpi", "engines started by mpiexec, sharing one MPI world", choices=("mpi",)),
    Param("resume", "bool", False, "keep finished runs of an earlier, interrupted run with the same parameters"),
    Param("retries", "int", 0, "restart the cluster and rerun a configuration this many times if it fails",
          minimum=0),
    Param("dtype", "str", "float64", "float32: train in single precision (features, weights, MPI buffers)",
          choices=DTYPES),
    Param("trainer", "str", "sklearn", "who trains each engine's network: \"sklearn\" (MLPClassifier, the paper's) "
          "or \"numpy\", the fast trainer (the same network and training)", choices=("sklearn", "numpy")),
)


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from a notebook's ``globals()`` (or any mapping), checked.

    Beyond each parameter's own range, every engine count must be at most ``n_train`` (each
    engine trains on at least one image).

    Raises
    ------
    ValueError
        For a bad value, naming the parameter, what it accepts and what it got.
    """
    p = SPEC.from_namespace(namespace)
    check_engine_counts(p.engine_counts, p.n_train)  # the order the notebook gave is kept
    return p


def choose_model(p: Parameters) -> tuple[Parameters, str]:
    """``p`` with ``hidden`` and ``epochs`` filled in (:func:`exemplar.analysis.sweep.chosen_model`),
    and where they came from."""
    hidden, epochs, chosen_by = sweep_analysis.chosen_model(p.hidden, p.epochs)
    return Parameters(**{**p.as_dict(), "hidden": hidden, "epochs": epochs}), chosen_by


def model_sentence(hidden: int, epochs: int, chosen_by: str) -> str:
    """"Classifier: **H hidden units, at most E epochs** (where the choice came from)."""
    return f"Classifier: **{hidden} hidden units, at most {epochs} epochs** ({chosen_by})."


@dataclass
class ParallelRun:
    """What :func:`run` leaves: every row of ``results/exemplar.csv``, its provenance, and where it is."""

    runs: pd.DataFrame
    prov: dict
    csv_path: Path

    @property
    def cores(self) -> int:
        """Usable cores of the machine that ran it."""
        return int(self.prov["machine"]["usable_cores"])


def configs(engine_counts: Sequence[int], repeats: int, seed: int = 0) -> list[dict[str, Any]]:
    """This chapter's configurations: the all-core BLAS baseline, then each engine count × repeat.

    Repeat ``r`` uses ``seed + r`` on every engine.
    """
    out = [{"strategy": sweep_analysis.BASELINE, "n_engines": 1, "repeat": r, "seed": seed + r} for r in range(repeats)]
    out += [{"strategy": "one-shot", "n_engines": n, "repeat": r, "seed": seed + r}
            for n in engine_counts for r in range(repeats)]
    return out


def on_cluster(config: Mapping[str, Any]) -> int | None:
    """Engine count of a configuration; ``None`` (this process) for the sequential baseline."""
    return None if config["strategy"] == sweep_analysis.BASELINE else int(config["n_engines"])


def runner(source, train: tuple, test: tuple, hidden: int, epochs: int, cores: int, **run_kwargs):
    """``run_one`` for :func:`~exemplar.experiments.runner.run_configs`: the baseline in this process,
    one-shot exemplar runs on the cluster.

    Parameters
    ----------
    source : tuple
        Where rank 0 reads the training data (:func:`exemplar.parallel.csv_source`).
    train, test : (X, y)
        Training data for the in-process baseline, test data for every run.
    cores : int
        The machine's cores: rows record whether engines outnumber them.
    """
    from exemplar import parallel as ex

    def run_one(cl, config):
        if cl is None:
            return sweep.baseline_run(*train, *test, hidden, epochs, config["seed"], dtype=run_kwargs.get("dtype", "float64"))
        res = ex.run_exemplar(cl, source, *test, hidden=hidden, epochs=epochs, seed=config["seed"], **run_kwargs)
        return {**res.as_row(), "n_iter_max": max(res.n_iter), "start_seconds": cl.start_seconds,
                "oversubscribed": cl.n > cores}

    return run_one


def run(p: Parameters) -> ParallelRun:
    """The all-core BLAS baseline, then each engine count × repeat, each row saved as it finishes.

    ``p`` comes from :func:`choose_model` (``hidden`` and ``epochs`` set). One cluster per engine
    count (``p.launcher``), reused for its repeats; ``p.resume`` and ``p.retries`` as in
    :func:`exemplar.experiments.runner.run_configs`.
    """
    from exemplar import data, results
    from exemplar.experiments import runner as loop
    from exemplar.parallel import cluster
    from exemplar.parallel.shards import csv_source

    X_test, y_test = data.load_mnist("test")
    source = csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, p.n_train)
    prov = results.provenance(p.as_dict(), experiment="exemplar parallelism (paper Section IV.B)",
                              inputs=f"raw pixels 0-255, {p.dtype}", n_test=len(y_test))
    cores = prov["machine"]["usable_cores"]
    X_train, y_train = data.load_mnist("train", n_rows=p.n_train)
    run_one = runner(source, (X_train, y_train), (X_test, y_test), p.hidden, p.epochs, cores, dtype=p.dtype,
                     trainer=p.trainer)
    log = loop.ResultsLog(RESULTS_NAME, prov, KEY_COLUMNS, resume=p.resume)
    runs = loop.run_configs(configs(p.engine_counts, p.repeats, p.seed), run_one, log, cluster_size=on_cluster,
                            retries=p.retries, start_cluster=lambda n: cluster.start_cluster(n, launcher=p.launcher))
    return ParallelRun(runs, prov, config.results_dir() / f"{RESULTS_NAME}.csv")


def run_sentence(n_runs: int, csv_path, machine: Mapping[str, Any]) -> str:
    """"N runs in `PATH`; this machine has **C cores** (CPU)."""
    return (f"{n_runs} runs in `{config.display_path(csv_path)}`; this machine has "
            f"**{machine['usable_cores']} cores** ({machine['cpu_model']}).")


# ---------------------------------------------------------------------------------------------
# Analysis
# ---------------------------------------------------------------------------------------------

@dataclass
class Analysis:
    """The chapter's numbers, from the runs.

    Attributes
    ----------
    per_n : DataFrame
        :func:`exemplar.metrics.summarize_runs` of the one-shot runs (one row per engine count),
        with ``speedup`` (over the 1-engine fit, or over the baseline without one) and
        ``speedup_vs_blas`` (over the all-core BLAS baseline).
    baseline : DataFrame
        The same summary of the all-core BLAS baseline's runs (one row).
    cores : int
        Usable cores of the machine that ran them.
    f_ours, fit_counts : float, list of int
        Amdahl's serial fraction fitted to our measured speedups, and the engine counts it was fitted to.
    f_estimate : float
        Amdahl's serial fraction fitted to the dedicated-core estimate's speedups at every engine
        count (``nan`` when the runs carry no estimate).
    paper_n, paper_speedup, f_paper
        The paper's Table II processes, speedups and fitted serial fraction.
    """

    per_n: pd.DataFrame
    baseline: pd.DataFrame
    cores: int
    f_ours: float
    fit_counts: list
    paper_n: np.ndarray
    paper_speedup: np.ndarray
    f_paper: float
    f_estimate: float = float("nan")


def analyse(runs: pd.DataFrame, cores: int) -> Analysis:
    """Summaries per engine count, speedups and Amdahl fits, for any engine counts the chapter accepts.

    The speedup's reference is the 1-engine fit time, or the all-core BLAS baseline's when no
    1-engine run was made. Amdahl's law is fitted to the engine counts with a core each
    (``n <= cores``) when one of them is above 1; otherwise (every count above 1 oversubscribes this
    machine) to every measured count, which then counts the missing cores as serial work.
    """
    per_n = metrics.summarize_runs(runs[runs.strategy == "one-shot"])
    baseline = metrics.summarize_runs(runs[runs.strategy == sweep_analysis.BASELINE])
    t1 = per_n.loc[per_n.n_engines == 1, "fit_seconds_max"]
    ref = float(t1.iloc[0]) if len(t1) else float(baseline.fit_seconds_max.iloc[0])
    per_n["speedup"] = metrics.speedup(ref, per_n.fit_seconds_max)
    per_n["speedup_vs_blas"] = metrics.speedup(float(baseline.fit_seconds_max.iloc[0]), per_n.fit_seconds_max)
    per_n = _with_estimate(per_n, runs[runs.strategy == "one-shot"], float(baseline.fit_seconds_max.iloc[0]))
    known = per_n[per_n.speedup_estimate.notna()]
    f_estimate = metrics.fit_amdahl(known.n_engines, known.speedup_estimate) if len(known) else float("nan")
    real = per_n[per_n.n_engines <= cores]
    fitted = real if (real.n_engines > 1).any() else per_n
    f_ours = metrics.fit_amdahl(fitted.n_engines, fitted.speedup)
    pt = paper.table_ii()
    paper_speedup = metrics.speedup(pt.time.iloc[0], pt.time)
    f_paper = metrics.fit_amdahl(pt.n_processes, paper_speedup)
    return Analysis(per_n, baseline, int(cores), f_ours, [int(n) for n in fitted.n_engines],
                    pt.n_processes.to_numpy(), paper_speedup, f_paper, f_estimate)


def _with_estimate(per_n: pd.DataFrame, runs: pd.DataFrame, blas_seconds: float) -> pd.DataFrame:
    """``per_n`` with the dedicated-core estimate: means of ``fit_cpu_seconds_max`` and ``dedicated_seconds``
    (``nan`` for runs made before they were recorded), ``dedicated_seconds_sd``, ``estimate_with_overhead``
    and ``speedup_estimate`` (over the 1-engine estimate, else over the all-core BLAS baseline)."""
    runs = runs.assign(**{c: runs[c] if c in runs.columns else np.nan
                          for c in ("fit_cpu_seconds_max", "dedicated_seconds")})
    g = runs.groupby("n_engines")
    est = pd.concat([g[["fit_cpu_seconds_max", "dedicated_seconds"]].mean(),
                     g.dedicated_seconds.std(ddof=1).rename("dedicated_seconds_sd")], axis=1).reset_index()
    per_n = per_n.merge(est, on="n_engines", how="left")
    per_n["estimate_with_overhead"] = per_n.dedicated_seconds + per_n.distribute_seconds + per_n.combine_seconds
    one = per_n.loc[per_n.n_engines == 1, "dedicated_seconds"]
    ref = float(one.iloc[0]) if len(one) else blas_seconds
    per_n["speedup_estimate"] = metrics.speedup(ref, per_n.dedicated_seconds)
    return per_n


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


def speedup_figure(a: Analysis):
    """Fig 6: our speedups and Amdahl fit, the paper's and its fit, and our speedup over all-core BLAS."""
    from exemplar.reporting import figures

    per_n = a.per_n
    return figures.speedup_amdahl(per_n.n_engines.to_numpy(), per_n.speedup.to_numpy(), a.f_ours, a.paper_n,
                                  a.paper_speedup, a.f_paper, cores=a.cores,
                                  extra={"this report, over all-core BLAS": (per_n.n_engines.to_numpy(),
                                                                             per_n.speedup_vs_blas.to_numpy())},
                                  estimate=(per_n.n_engines.to_numpy(), per_n.speedup_estimate.to_numpy(),
                                            a.f_estimate))


def time_figure(a: Analysis):
    """Fig 5: the slowest engine's fit time, with overhead, the dedicated-core estimate, and the paper's."""
    from exemplar.reporting import figures

    return figures.versus_processes(a.per_n, "fit_seconds_max", "fit_seconds_max_sd", "Training time", "time (s)",
                                    paper=paper.table_ii(), paper_y="time", cores=a.cores,
                                    extra={"this report, with overhead": (a.per_n, "time_with_overhead")},
                                    estimates={"estimate: a core per engine": (a.per_n, "dedicated_seconds")})


def estimate_sentence(a: Analysis, runs: pd.DataFrame) -> str:
    """How the estimate is made, how it compares with the measurements on real cores, and both Amdahl fits."""
    from exemplar.parallel import dedicated

    check = dedicated.validation(runs[runs.strategy == "one-shot"], a.cores)
    above = a.per_n[a.per_n.n_engines > a.cores]
    beyond = ("; ".join(f"{int(r.n_engines)} engines {r.speedup_estimate:.2f}×" for _, r in above.iterrows())
              if len(above) else "")
    return (f"The estimate for a core per engine is each run's slowest engine's fit CPU time (MPI calls "
            f"excluded); CPU time barely moves when engines share a core. {dedicated.validation_sentence(check)} "
            f"Amdahl's law fitted to the measurements on real cores ({engines_text(a.fit_counts)}) gives a serial "
            f"fraction of **{a.f_ours:.2f}**; fitted to the estimate at every engine count, **{a.f_estimate:.2f}**"
            + (f". Estimated speedups with a core each: {beyond}." if beyond else "."))


def engines_text(counts) -> str:
    """Engine counts in words: "1 engine", "1 and 2 engines", "1, 2 and 4 engines"."""
    counts = [str(int(n)) for n in counts]
    listed = counts[0] if len(counts) == 1 else ", ".join(counts[:-1]) + " and " + counts[-1]
    return f"{listed} engine{'s' if counts != ['1'] else ''}"


def distribution_row(per_n: pd.DataFrame) -> pd.Series:
    """The engine count whose distribution the chapter describes: 2 if run, else the smallest above 1, else 1."""
    counts = sorted(int(n) for n in per_n.n_engines)
    above_one = [n for n in counts if n > 1]
    n = 2 if 2 in counts else (above_one[0] if above_one else counts[0])
    return per_n[per_n.n_engines == n].iloc[0]


def distribution_sentence(row: Mapping[str, Any], n_train: int) -> str:
    """Why our distribution costs milliseconds, with the numbers of one engine count (:func:`distribution_row`).

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

