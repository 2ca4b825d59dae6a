"""Chapter 06, performance: the benchmarks' measurements read back, held to their targets, and put into words.

The chapter runs nothing: it reads what ``make bench`` wrote (``results/bench/*.csv``, see
:mod:`exemplar.bench`) and the report's stage times (``results/report_stages.csv``). Its one
parameter, ``bench_dir``, says where the benchmarks' files are. :func:`load` reads everything once
into a :class:`Measurements`; each section of the chapter is then one call that returns what the
notebook displays (a table and a figure, the computed sentences, or a note that the benchmark has
not been run). The sentences are plain functions of the summary tables, unit-tested word for word.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from exemplar import config
from exemplar.experiments.params import Param, Parameters, ParamSpec
from exemplar.reporting import performance as perf
from exemplar.reporting import status

SPEC = ParamSpec(
    Param("bench_dir", "str", None, "folder of the benchmarks' CSV files; None: results/bench", optional=True),
)

#: The benchmarks' result files the chapter reads, in the order it shows them.
BENCHMARKS = ("compute", "compute_profile", "distribution", "ddp", "report_scaling", "sweep_engines")


def parameters(namespace: Mapping[str, Any]) -> Parameters:
    """The chapter's parameters from the notebook's namespace, checked.

    ``bench_dir`` is ``None`` (``results/bench``) or a folder that exists, relative to the project
    root or absolute.

    Raises
    ------
    ValueError
        Naming ``bench_dir``, what it accepts and what it got (not a string, empty, or no such folder).
    """
    p = SPEC.from_namespace(namespace)
    if p.bench_dir is not None:
        accepted = ("an existing folder of the benchmarks' CSV files (relative to the project root, or "
                    "absolute), or None for results/bench")
        if not p.bench_dir.strip():
            raise ValueError(f"parameter bench_dir must be {accepted}; got {p.bench_dir!r}")
        folder = config.ROOT / p.bench_dir
        if not folder.is_dir():
            raise ValueError(f"parameter bench_dir must be {accepted}; got {p.bench_dir!r} (no folder {folder})")
    return p


# --------------------------------------------------------------------------------------------
# Reading the measurements
# --------------------------------------------------------------------------------------------


@dataclass
class Measurements:
    """What the chapter reads: each benchmark's table and provenance, the stage times, the targets."""

    directory: Path
    found: dict[str, tuple[pd.DataFrame | None, dict]]
    stages: pd.DataFrame | None
    goals: pd.DataFrame

    def frame(self, name: str) -> pd.DataFrame | None:
        """Benchmark ``name``'s table, or ``None`` where it has not been run."""
        return self.found[name][0]

    @property
    def missing(self) -> list[str]:
        return [name for name, (df, _) in self.found.items() if df is None]

    @property
    def provenance(self) -> dict:
        """The provenance of the first benchmark found (machine, commit, time), else ``{}``."""
        return next((p for df, p in self.found.values() if df is not None), {})

    @property
    def cores(self):
        return self.provenance.get("machine", {}).get("usable_cores")


def read_stages(path: Path | None = None) -> pd.DataFrame | None:
    """The latest full run of each stage from ``report_stages.csv`` (the QUICK ones while no full run is recorded).

    ``None`` when the file does not exist.
    """
    from exemplar.site import notebooks

    path = Path(path) if path is not None else config.results_dir() / f"{notebooks.STAGES_NAME}.csv"
    if not path.is_file():
        return None
    all_stages = pd.read_csv(path)
    stages = perf.latest_stages(all_stages, quick=False)
    if not len(stages) and len(all_stages):
        stages = perf.latest_stages(all_stages, quick=True)  # only QUICK runs recorded so far
    return stages


def load(p: Parameters) -> Measurements:
    """Every benchmark's results from ``p.bench_dir`` (default ``results/bench``), the stage times, the targets."""
    directory = perf.default_dir() if p.bench_dir is None else config.ROOT / p.bench_dir
    found = {name: perf.load(name, directory) for name in BENCHMARKS}
    stages = read_stages()
    return Measurements(directory, found, stages, perf.targets(directory, stages))


# --------------------------------------------------------------------------------------------
# The sections: what the notebook displays
# --------------------------------------------------------------------------------------------


def _md(text: str):
    from IPython.display import Markdown

    return Markdown(text)


def _not_measured(m: Measurements, name: str) -> list:
    return [_md(not_measured_sentence(name, m.directory))]


def header(m: Measurements):
    """Where the benchmarks were read from, and the machine and commit that measured them."""
    return _md(sources_sentence(m.directory, m.provenance, m.missing) + " " + status.load_sentence(m.provenance))


def targets_table(m: Measurements):
    """The targets, as the chapter's first table."""
    from exemplar.reporting import figures

    return figures.table(perf.targets_table(m.goals))


def compute_section(m: Measurements) -> list:
    """The compute-efficiency table and bars."""
    from exemplar.reporting import figures

    if m.frame("compute") is None:
        return _not_measured(m, "compute")
    comp = perf.compute_summary(m.frame("compute"))
    return [figures.table(perf.compute_table(comp)), figures.efficiency_bars(comp)]


def compute_prose(m: Measurements) -> list:
    """:func:`compute_sentence`, where the benchmark has been run."""
    if m.frame("compute") is None:
        return []
    return [_md(compute_sentence(perf.compute_summary(m.frame("compute"))))]


def profile_section(m: Measurements) -> list:
    """Where the rest of a fit's time goes: the profile's bars and :func:`profile_sentence`."""
    from exemplar.reporting import figures

    prof = m.frame("compute_profile")
    if prof is None:
        return _not_measured(m, "compute_profile")
    return [figures.profile_bars(prof), _md(profile_sentence(prof, m.frame("compute")))]


def distribution_section(m: Measurements) -> list:
    """The distribution table and bars."""
    from exemplar.reporting import figures

    if m.frame("distribution") is None:
        return _not_measured(m, "distribution")
    dist = perf.distribution_summary(m.frame("distribution"))
    return [figures.table(perf.distribution_table(dist), precision=3), figures.distribution_bars(dist)]


def distribution_prose(m: Measurements) -> list:
    """:func:`distribution_sentence`, where the benchmark has been run."""
    if m.frame("distribution") is None:
        return []
    return [_md(distribution_sentence(perf.distribution_summary(m.frame("distribution"))))]


def ddp_section(m: Measurements) -> list:
    """The DDP table and :func:`ddp_sentences`."""
    from exemplar.reporting import figures

    runs = m.frame("ddp")
    if runs is None:
        return _not_measured(m, "ddp")
    return [figures.table(perf.ddp_table(perf.ddp_summary(runs))), *map(_md, ddp_sentences(runs))]


def stages_section(m: Measurements) -> list:
    """The report's stage times: table, bar and :func:`stages_sentence`."""
    from exemplar.reporting import figures

    if m.stages is None or not len(m.stages):
        return [_md("*No stage times recorded yet: `make book` records them.*")]
    return [figures.table(perf.stages_table(m.stages)), figures.stage_bars(m.stages),
            _md(stages_sentence(m.stages, m.cores))]


def scaling_section(m: Measurements) -> list:
    """How the report grows with the training set: table, lines and (after a full run) the projection."""
    from exemplar.reporting import figures

    sc = m.frame("report_scaling")
    if sc is None:
        return _not_measured(m, "report_scaling")
    out = [figures.table(perf.scaling_table(sc)), figures.scaling_lines(sc)]
    if m.stages is not None and len(m.stages) and not m.stages.quick.any():
        out.append(_md(projection_sentence(perf.project_stages(m.stages, sc))))
    return out


def sweep_section(m: Measurements) -> list:
    """The sweep on two engines: table and :func:`sweep_sentence`."""
    from exemplar.reporting import figures

    sw = m.frame("sweep_engines")
    if sw is None:
        return _not_measured(m, "sweep_engines")
    return [figures.table(perf.sweep_table(sw)), _md(sweep_sentence(sw))]


def summary(m: Measurements):
    """The chapter's summary: :func:`summary_bullets` of the targets."""
    return _md(summary_bullets(m.goals))


# --------------------------------------------------------------------------------------------
# The computed sentences
# --------------------------------------------------------------------------------------------


def not_measured_sentence(name: str, directory) -> str:
    """The note shown in place of a benchmark's section while its file is missing."""
    return (f"*Not measured yet: no `{name}.csv` in `{config.display_path(directory)}`. "
            "Run `make bench`, then rebuild the book.*")


def sources_sentence(directory, provenance: Mapping, missing: list[str]) -> str:
    """Where the benchmarks were read from; the machine, commit and time that measured them; what is missing."""
    machine = provenance.get("machine", {})
    measured = (f", measured on {machine.get('cpu_model')} ({machine.get('usable_cores')} usable cores, "
                f"{machine.get('memory_gib')} GiB), commit `{str(provenance.get('git_commit'))[:12]}`, "
                f"{provenance.get('created')}." if provenance else ".")
    return (f"Benchmarks read from `{config.display_path(directory)}`" + measured
            + (f" Missing: {', '.join(missing)}." if missing else ""))


def _value(summary: pd.DataFrame, kind: str, dtype: str, inputs: str, column: str) -> float:
    """One cell of :func:`~exemplar.reporting.performance.compute_summary` (NaN where that fit was not run)."""
    try:
        return float(summary.set_index(["kind", "dtype", "inputs"]).loc[(kind, dtype, inputs), column])
    except KeyError:
        return float("nan")


def compute_sentence(summary: pd.DataFrame) -> str:
    """Each engine's share of peak, the batch-shaped GEMM, and float32 against float64 (raw and scaled pixels).

    Parameters
    ----------
    summary : DataFrame
        :func:`exemplar.reporting.performance.compute_summary` of ``compute.csv``.
    """
    def seq(dtype, inputs, column="ms_per_epoch"):
        return _value(summary, "sequential", dtype, inputs, column)

    eng64 = _value(summary, "exemplar", "float64", "raw 0-255", "fraction_of_peak")
    eng32 = _value(summary, "exemplar", "float32", "raw 0-255", "fraction_of_peak")
    peak64, batch64 = seq("float64", "raw 0-255", "peak_gflops"), seq("float64", "raw 0-255", "batch_gemm_gflops")
    sub = seq("float32", "raw 0-255", "subnormal_share")
    s64, s32 = seq("float64", "pixels / 255"), seq("float32", "pixels / 255")
    text = (f"Each engine's fit in the default configuration (float64, raw pixels, 2 engines) runs at "
            f"**{100 * eng64:.0f} % of the single-core float64 peak** ({peak64:.0f} GFLOP/s); in float32 at "
            f"{100 * eng32:.0f} % of the float32 peak. Part of the gap is the GEMMs' shape: one mini-batch GEMM "
            f"(200×784 by 784×h) alone reaches {batch64:.0f} GFLOP/s, {100 * batch64 / peak64:.0f} % "
            "of peak, because its matrices are too small to keep the processor's vector units fed. The rest goes "
            "between the GEMMs (the profile below). ")
    text += (f"float32 per epoch, sequential: {s32:.0f} ms against float64's {s64:.0f} ms on scaled pixels "
             f"({s64 / s32:.2f}× faster), at an accuracy "
             f"of {seq('float32', 'pixels / 255', 'accuracy_pct'):.2f} % against "
             f"{seq('float64', 'pixels / 255', 'accuracy_pct'):.2f} %. "
             f"On raw pixels float32 is no faster: an epoch takes "
             f"{seq('float32', 'raw 0-255') / seq('float64', 'raw 0-255'):.2f}× float64's time, because "
             f"raw pixels drive the softmax into saturation, and {100 * sub:.0f} % of its float32 outputs are then "
             "*subnormal* numbers (below 1.2e-38), on which the processor's arithmetic falls to a slow path; "
             "in float64 the same probabilities stay normal (the limit is 2.2e-308). Scaling the inputs, which "
             "the communication chapter recommends for accuracy, is also what lets float32 pay off.")
    return text


def profile_sentence(profile: pd.DataFrame, compute: pd.DataFrame | None) -> str:
    """The float64 profile: the GEMMs' share of the samples, the rest by category, and what that implies.

    Parameters
    ----------
    profile : DataFrame
        ``compute_profile.csv`` (``dtype, category, share_pct``).
    compute : DataFrame or None
        ``compute.csv``, for each engine's share of peak (NaN without it).
    """
    p64 = profile[profile.dtype == "float64"].set_index("category").share_pct
    eng64 = perf.engine_efficiency(compute) if compute is not None else float("nan")
    gemm = float(p64.get("GEMM (BLAS matmul)", np.nan))
    top = p64.drop("GEMM (BLAS matmul)", errors="ignore").sort_values(ascending=False)
    return (f"In float64, **{gemm:.0f} % of the fit's samples are in the GEMMs**; the rest is "
            + ", ".join(f"{k} {v:.0f} %" for k, v in top.items())
            + f". The GEMMs' {gemm:.0f} % of the time at {100 * eng64:.0f} % of peak overall means they run at about "
            f"{100 * eng64 / (gemm / 100):.0f} % of peak while they run, close to what one batch-shaped GEMM reaches "
            "alone; the other half of the time is memory-bound element-wise work (Adam's update of every weight at "
            "every step, the copy of each batch's rows, the activations), which runs at memory speed whatever the "
            "peak. Reaching 40 % would need fewer, larger steps (bigger batches, which change the training), or an "
            "optimizer and batch gather fused into fewer passes over memory, which scikit-learn's `MLPClassifier` "
            "does not offer. **The target is not met; this is where the rest goes.**")


def distribution_sentence(summary: pd.DataFrame) -> str:
    """Our Scatterv against the naive methods on 6,000 and 60,000 images, and why it is fast.

    Parameters
    ----------
    summary : DataFrame
        :func:`exemplar.reporting.performance.distribution_summary` of ``distribution.csv``.
    """
    def part(method, n_train):
        return summary[(summary.method == method) & (summary.n_train == n_train)]

    def joined(values, fmt):
        return " / ".join(format(v, fmt) for v in values)

    ours6, ipp6, pick6 = part("scatterv-uint8", 6000), part("ipyparallel-scatter", 6000), part("comm.scatter-pickle", 6000)
    ours60, f64_6 = part("scatterv-uint8", 60000), part("scatterv-float64", 6000)
    return (f"Our `Scatterv` gives 6,000 images to 2/4/6 engines in **{joined(ours6.ms, '.1f')} ms**, "
            f"{joined(100 * ours6.fraction_of_fit, '.2f')} % of the fit time (target ≤ 1 %), "
            f"and 60,000 in {joined(ours60.ms, '.0f')} ms. ipyparallel's scatter takes "
            f"{joined(ipp6.ms, '.0f')} ms for the 6,000 ({ipp6.times_ours.min():.0f}–"
            f"{ipp6.times_ours.max():.0f}× ours), the pickled scatter {joined(pick6.ms, '.0f')} ms. "
            f"Two things make ours fast: sending bytes instead of float64 (8× fewer; the same `Scatterv` of float64 "
            f"takes {f64_6.ms.iloc[0]:.1f} ms on 2 engines, {f64_6.ms.iloc[0] / ours6.ms.iloc[0]:.0f}× ours), and one "
            "message per engine straight from rank 0's buffer, with no pickling and no hop through the controller "
            f"(float64 `Scatterv` against ipyparallel's scatter of the same float64: "
            f"{ipp6.ms.iloc[0] / f64_6.ms.iloc[0]:.0f}× on 2 engines). "
            "Nothing here comes near the paper's 11 s: even the naive methods move 6,000 images in about a tenth "
            "of a second, so the paper's figure must include work beyond the transfer (reading or converting "
            "the data inside the timed region). The 60,000-image float64 rows vary widely from repeat to repeat "
            "on this machine (a virtual machine where first-touching hundreds of freshly allocated megabytes is "
            "slow); the *best* column is the fairer transport comparison there.")


def _ddp_headline(runs: pd.DataFrame, ratio: float, best: str, d2, d1, o2) -> str:
    seq_acc, target = float(runs.sequential_pct.iloc[0]), float(runs.target_pct.iloc[0])
    d1_text = (f"; with one process DDP needs {d1.time_to_target.iloc[0]:.2f} s" if len(d1) else "")
    upper = d2.time_to_target / o2.time_to_target_seconds
    return (f"The sequential scikit-learn fit reaches {seq_acc:.2f} %, so the target is **{target:.2f} %**. "
            f"On 2 engines our *{best}* gets there in **{o2.time_to_target:.2f} s** "
            f"({o2.kind}) and ends at {o2.accuracy_pct:.2f} %; DDP with 2 processes gets there in "
            f"**{d2.time_to_target:.2f} s** and ends at {d2.accuracy_pct:.2f} %{d1_text}. "
            f"Ours is **{ratio:.2f}×** as fast to the target (target ≥ 1.5×); charged for its whole run instead "
            f"(an upper bound, {o2.time_to_target_seconds:.2f} s), {upper:.2f}×. "
            f"Our 2-engine runs ended at or above the target in {100 * o2.reached:.0f} % of the seeds, DDP's in "
            f"{100 * d2.reached:.0f} % (a run can pass the target and end just below it: its time to target still "
            "counts where the benchmark measured it). "
            "DDP trains in float32, PyTorch's default; its evaluations are excluded from its clock, in its "
            "favour. Starting DDP's processes "
            f"(torch's import and `init_process_group`) costs {d2.setup_seconds:.1f} s per run, against the "
            "cluster start of the other chapters; neither is counted in the time to target.")


def _ddp_epochs(best: str, o1, o2_64, o2) -> str:
    sooner = o1.time_to_target < o2_64.time_to_target
    text = (f"Epochs against time. In float64, the same algorithm on one process reaches the target at epoch "
            f"{o1.target_epoch:.0f} in {o1.time_to_target:.2f} s; on 2 engines, whose steps add the gradients "
            f"of 2 × 200 rows, at epoch {o2_64.target_epoch:.0f} on average, in {o2_64.time_to_target:.2f} s. "
            "Doubling the global batch halves the steps per epoch, so an epoch costs half as long but moves "
            "the weights half as often"
            + ("; in float64 that costs more epochs than the second core saves, and one process is the "
               "faster way to the target. " if sooner else "; the second core still wins. "))
    if best != o2_64.strategy:
        text += (f"In float32 (*{best}*) an epoch costs {o2_64.fit_seconds / o2.fit_seconds:.2f}× less than in "
                 "float64, which more than pays for the extra epochs: the parallel run is then the fastest "
                 "way to the target of all measured here. ")
    return text + ("Subnormal numbers hurt DDP's float32 too: the weights of always-blank pixels and their Adam "
                   "moments decay into them, and without `torch.set_flush_denormal(True)` (which the benchmark "
                   "sets, in DDP's favour) its epochs slow down (the *denormals kept* rows).")


def ddp_sentences(runs: pd.DataFrame) -> list[str]:
    """Ours against DDP on 2 processes, and (where measured) epochs against time; or why there is no comparison.

    Parameters
    ----------
    runs : DataFrame
        ``ddp.csv``, one row per run.

    Returns
    -------
    list of str
        The headline comparison and, where our 1- and 2-engine float64 runs were measured, the
        paragraph on epochs against time; or one sentence saying that the target was not reached.
    """
    ddp = perf.ddp_summary(runs)
    ratio, best = perf.ddp_ratio(runs)
    d2 = ddp[(ddp.framework == "pytorch-ddp") & (ddp.n_procs == 2)].sort_values("time_to_target")
    d1 = ddp[(ddp.framework == "pytorch-ddp") & (ddp.n_procs == 1)].sort_values("time_to_target")
    o2 = ddp[(ddp.framework == "exemplar") & (ddp.strategy == best) & (ddp.n_procs == 2)]
    o1 = ddp[(ddp.framework == "exemplar") & (ddp.n_procs == 1)]
    if not (len(d2) and len(o2) and np.isfinite(ratio)):
        return ["Our strategy or DDP did not reach the target accuracy in these runs; the table shows "
                "how close each came."]
    d2, o2 = d2.iloc[0], o2.iloc[0]
    out = [_ddp_headline(runs, ratio, best, d2, d1, o2)]
    o2_64 = ddp[(ddp.framework == "exemplar") & (ddp.strategy == "gradient-allreduce") & (ddp.n_procs == 2)]
    if len(o1) and len(o2_64):
        out.append(_ddp_epochs(best, o1.iloc[0], o2_64.iloc[0], o2))
    return out


def stages_sentence(stages: pd.DataFrame, cores=None) -> str:
    """The report's stages summed against the 15-minute target, and the two heaviest.

    Parameters
    ----------
    stages : DataFrame
        :func:`exemplar.reporting.performance.latest_stages` (``stage, seconds, quick``).
    cores : int, optional
        Usable cores of the machine that measured the benchmarks ("these" where unknown).
    """
    total = stages.seconds.sum()
    kind = "QUICK" if stages.quick.any() else "full"
    top = stages.sort_values("seconds", ascending=False).iloc[:2]
    return (f"The latest {kind} stages sum to **{total / 60:.1f} minutes** (target ≤ 15 min for the full "
            f"report on {cores or 'these'} cores). The heaviest are "
            + " and ".join(f"`{r.stage}` ({r.seconds / 60:.1f} min, {100 * r.seconds / total:.0f} %)"
                           for r in top.itertuples())
            + ". Setting up `.venv` and fetching the data are not counted: both are done once per machine. "
            "The sweep runs its fits two at a time on two engines (below); without that it takes about "
            "twice as long.")


def projection_sentence(projected: pd.DataFrame) -> str:
    """The full report's projected minutes per training-set size.

    Parameters
    ----------
    projected : DataFrame
        :func:`exemplar.reporting.performance.project_stages` (``n_train, stage, seconds``).
    """
    minutes = projected.groupby("n_train").seconds.sum() / 60
    return ("Projected full report: " + "; ".join(f"{n:,} images **{m:.0f} min**" for n, m in minutes.items())
            + ". The sweep and the parallel chapters grow with the fits; the algorithms chapter "
            "already runs its own sizes.")


def sweep_sentence(sweep: pd.DataFrame) -> str:
    """Two fits side by side against one alone, and the grid's wall time (``sweep_engines.csv``)."""
    wall_gain = sweep.wall_sequential.iloc[0] / sweep.wall_engines.iloc[0]
    return (f"Side by side, each fit took **{sweep.time_ratio.mean():.2f}×** its time alone on average "
            f"(from {sweep.time_ratio.min():.2f}× to {sweep.time_ratio.max():.2f}×), with identical accuracies and "
            f"epochs; the grid as a whole finished {wall_gain:.2f}× sooner. The two fits share the memory bus and the "
            "last-level cache, which is what the ratio above 1 measures: the sweep's times in Table I are those of "
            "fits running beside one other fit, and read that much slower than fits run alone.")


def summary_bullets(goals: pd.DataFrame) -> str:
    """One bullet per target (measured, target, verdict, note) and one on where the numbers come from.

    Parameters
    ----------
    goals : DataFrame
        :func:`exemplar.reporting.performance.targets`.
    """
    verdict = {True: "met", False: "**not met**", None: "not measured"}
    bullets = [f"- {r.measure}: {r.measured} (target {r.target}): {verdict[r.met]}"
               + (f" ({r.note})." if r.note else ".") for r in goals.itertuples()]
    bullets.append("- Every number on this page comes from `results/bench/*.csv` and `results/report_stages.csv`, "
                   "with the machine, versions and commit that produced it in the `.json` beside each file.")
    return "\n".join(bullets)
