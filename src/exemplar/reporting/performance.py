"""Chapter 06's text: the benchmarks' sections, computed sentences and figures, read from its measurements.

The chapter runs nothing: :func:`exemplar.experiments.performance.load` reads what ``make bench`` wrote
(``results/bench/*.csv``) and the report's stage times into a
:class:`~exemplar.analysis.performance.Measurements`; each section here is one
call that returns what the notebook displays (a table and a figure, the computed sentences, or a note
that the benchmark has not been run). The numbers come from :mod:`exemplar.analysis.performance`, the
targets from :mod:`exemplar.reporting.targets`. The sentences are plain functions of the summary tables,
unit-tested word for word. The notebook ``06-performance`` shows it as ``page``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from exemplar import config
from exemplar.analysis import performance as analysis
from exemplar.analysis.performance import Measurements
from exemplar.analysis.stages import project_stages
from exemplar.reporting import chaos, figures, status, targets

# ------------------------------------------------------------------- the sections: what the notebook displays


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
    return figures.table(targets.targets_table(targets.targets(m)))


def compute_section(m: Measurements) -> list:
    """The compute-efficiency table (both trainers, both networks) and bars."""
    if m.frame("compute") is None:
        return _not_measured(m, "compute")
    comp = analysis.compute_summary(m.frame("compute"))
    return [figures.table(compute_table(comp)), figures.efficiency_bars(bars_frame(comp))]


def compute_prose(m: Measurements) -> list:
    """:func:`compute_sentence`, where the benchmark has been run."""
    if m.frame("compute") is None:
        return []
    return [_md(compute_sentence(analysis.compute_summary(m.frame("compute"))))]


def profile_section(m: Measurements) -> list:
    """Where each trainer's time goes, side by side: table, bars and :func:`profile_sentence`."""
    prof = m.frame("compute_profile")
    if prof is None:
        return _not_measured(m, "compute_profile")
    prof = prof.assign(trainer=prof.get("trainer", "sklearn"))
    bars = figures.profile_bars(prof.assign(dtype=prof.trainer + ", " + prof.dtype))
    return [figures.table(profile_table(prof)), bars, _md(profile_sentence(prof, m.frame("compute")))]


def dtype_section(m: Measurements) -> list:
    """float32 against float64 (``dtype.csv``, :mod:`exemplar.bench.dtype`): table and :func:`dtype_sentence`."""
    df, _ = analysis.load(analysis.DTYPE_NAME, m.directory)
    if df is None or not len(df):
        return _not_measured(m, analysis.DTYPE_NAME)
    s = analysis.dtype_summary(df)
    return [figures.table(dtype_table(s)), _md(dtype_sentence(s))]


def memory_section(m: Measurements) -> list:
    """Peak memory of every process against its bound: table and :func:`memory_sentence`."""
    mem = m.frame("memory")
    if mem is None or not len(mem):
        return _not_measured(m, "memory")
    return [figures.table(memory_table(mem)), _md(memory_sentence(mem))]


def distribution_section(m: Measurements) -> list:
    """The distribution table and bars."""
    if m.frame("distribution") is None:
        return _not_measured(m, "distribution")
    dist = analysis.distribution_summary(m.frame("distribution"))
    return [figures.table(distribution_table(dist), precision=3), figures.distribution_bars(dist)]


def distribution_prose(m: Measurements) -> list:
    """:func:`distribution_sentence`, where the benchmark has been run."""
    if m.frame("distribution") is None:
        return []
    return [_md(distribution_sentence(analysis.distribution_summary(m.frame("distribution"))))]


def ddp_section(m: Measurements) -> list:
    """The DDP table and :func:`ddp_sentences`."""
    runs = m.frame("ddp")
    if runs is None:
        return _not_measured(m, "ddp")
    return [figures.table(ddp_table(analysis.ddp_summary(runs))), *map(_md, ddp_sentences(runs))]


def stages_section(m: Measurements) -> list:
    """The report's stage times: table, bar and :func:`stages_sentence`."""
    if m.stages is None or not len(m.stages):
        return [_md("*No stage times recorded yet: `make book` records them.*")]
    return [figures.table(stages_table(m.stages)), figures.stage_bars(m.stages),
            _md(stages_sentence(m.stages, m.cores))]


def scaling_section(m: Measurements) -> list:
    """How the report grows with the training set: table, lines and (after a full run) the projection."""
    sc = m.frame("report_scaling")
    if sc is None:
        return _not_measured(m, "report_scaling")
    out = [figures.table(scaling_table(sc)), figures.scaling_lines(sc)]
    if m.stages is not None and len(m.stages) and not m.stages.quick.any():
        out.append(_md(projection_sentence(project_stages(m.stages, sc))))
    return out


def sweep_section(m: Measurements) -> list:
    """The sweep on two engines: table and :func:`sweep_sentence`."""
    sw = m.frame("sweep_engines")
    if sw is None:
        return _not_measured(m, "sweep_engines")
    return [figures.table(sweep_table(sw)), _md(sweep_sentence(sw))]


def chaos_section(m: Measurements) -> list:
    """The chaos soak (``results/bench/chaos.csv``): one sentence and the table per fault kind."""
    frame = chaos.read(m.directory)
    if frame is None:
        return [_md(not_measured_sentence(chaos.NAME, m.directory))]
    return [_md(chaos.chaos_sentence(frame)), figures.table(chaos.chaos_table(frame))]


def summary(m: Measurements):
    """The chapter's summary: :func:`exemplar.reporting.targets.summary_bullets` of the targets."""
    return _md(targets.summary_bullets(targets.targets(m)))


# ------------------------------------------------------------------- the computed sentences


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


def _pct(value: float) -> str:
    return f"{100 * value:.0f} %"


def compute_sentence(summary: pd.DataFrame) -> str:
    """Each trainer's share of peak, per dtype and inputs, for both networks; the batch-shaped GEMM; the engines.

    ``summary`` is :func:`exemplar.analysis.performance.compute_summary` of ``compute.csv``.
    """
    def value(column, trainer="numpy", dtype="float64", inputs="raw 0-255", **where):
        return analysis.compute_value(summary, column, trainer, dtype, inputs, **where)

    def share(trainer, dtype="float64", inputs="raw 0-255", **where):
        return _pct(value(column, trainer, dtype, inputs, **where))

    def both(trainer, dtype, **where):
        return f"{share(trainer, dtype, **where)} and {share(trainer, dtype, 'pixels / 255', **where)}"

    if not (summary.trainer == "numpy").any():
        return "The compute benchmark has no fits of the fast trainer yet: run `make bench`."
    column = analysis.share_column(summary)
    basis = ("By each fit's CPU time (what it takes on a core of its own; the table gives the wall-clock shares "
             "too): o" if column == "fraction_of_peak_cpu" else "O")
    default, wide = summary[summary.default_network], summary[~summary.default_network]
    h, batch = int(default.hidden.iloc[0]), int(default.batch_size.iloc[0])
    peak64, gemm64 = value("peak_gflops"), value("batch_gemm_gflops")
    text = (f"{basis}n one core, the fast trainer's fit of the default network ({h} hidden units, batches of {batch}) "
            f"runs at **{share('numpy')} of the single-core float64 peak** ({peak64:.0f} GFLOP/s) on raw pixels and "
            f"{share('numpy', inputs='pixels / 255')} on scaled ones; scikit-learn's `MLPClassifier.fit`, alternating "
            f"with it in the same run, at {both('sklearn', 'float64')}: the fast trainer's epochs are "
            f"{value('ms_per_epoch', 'sklearn') / value('ms_per_epoch'):.2f}× faster (raw pixels). In float32 the fast trainer "
            f"reaches {both('numpy', 'float32')} of the float32 peak ({value('peak_gflops', dtype='float32'):.0f} "
            f"GFLOP/s), scikit-learn {both('sklearn', 'float32')}; scikit-learn's float32 on raw pixels is slowed "
            f"by subnormal numbers ({_pct(value('subnormal_share', 'sklearn', 'float32'))} of its outputs), which "
            "the fast trainer flushes to zero. ")
    if len(wide):
        text += (f"With {int(wide.hidden.iloc[0])} hidden units at batch {int(wide.batch_size.iloc[0])}: "
                 f"{both('numpy', 'float64', default=False)} in float64 against scikit-learn's "
                 f"{both('sklearn', 'float64', default=False)}; {both('numpy', 'float32', default=False)} in float32 "
                 f"against {both('sklearn', 'float32', default=False)}. ")
    return text + (f"One mini-batch GEMM alone ({batch}×784 by 784×{h}) reaches {gemm64:.0f} GFLOP/s, "
                   f"{_pct(gemm64 / peak64)} of peak: the most a fit made of GEMMs of this shape could reach. "
                   "Each engine's fit in the 2-engine one-shot run "
                   f"(float64, raw pixels): fast trainer {share('numpy', kind='exemplar')}, scikit-learn "
                   f"{share('sklearn', kind='exemplar')}.")


def profile_sentence(profile: pd.DataFrame, compute: pd.DataFrame | None) -> str:
    """The two trainers' float64 profiles side by side: the GEMMs' share, the rest, and what it implies.

    ``profile`` is ``compute_profile.csv`` (``trainer, dtype, category, share_pct``); ``compute``
    ``compute.csv``, for the fast trainer's share of peak on raw pixels and the batch GEMM's (NaN without it).
    """
    def shares(trainer):
        part = profile[(profile.get("trainer", "sklearn") == trainer) & (profile.dtype == "float64")]
        return part.set_index("category").share_pct.sort_values(ascending=False)

    ours, theirs, gemm = shares("numpy"), shares("sklearn"), "GEMM (BLAS matmul)"
    if not len(ours):
        return "The profile has no samples of the fast trainer yet: run `make bench`."
    g, g_sk = float(ours.get(gemm, np.nan)), float(theirs.get(gemm, np.nan))
    raw = batch = value = np.nan
    if compute is not None:
        comp = analysis.compute_summary(compute)
        raw = analysis.compute_value(comp, analysis.share_column(comp), "numpy")
        batch = analysis.compute_value(comp, "batch_gemm_gflops", "numpy") / analysis.compute_value(comp, "peak_gflops", "numpy")
        value = targets.compute_target(compute, "float64")[0]
    goal = targets.target("compute-float64")
    verdict = "not measured" if not np.isfinite(value) else "met" if value >= goal["threshold"] else "not met"
    compare = ", ".join(f"{k} {v:.0f} % (scikit-learn {float(theirs.get(k, 0.0)):.0f} %)"
                        for k, v in ours.drop(gemm, errors="ignore").items())
    return (f"In float64, **{g:.0f} % of the fast trainer's samples are in the GEMMs**, against {g_sk:.0f} % of "
            f"scikit-learn's; the rest of its time: {compare}. At {_pct(raw)} of peak overall (raw pixels, as "
            f"profiled) with {g:.0f} % of its time in the GEMMs, the GEMMs themselves run at about "
            f"{_pct(raw / (g / 100))} of peak while they run, against the {_pct(batch)} one batch-shaped GEMM "
            "reaches alone (above); the rest is element-wise work (Adam's update of every weight at every step, the "
            f"batch gather, the activations) bound by memory speed, not by the peak. The float64 target "
            f"({goal['text']}) is **{verdict}**.")


def memory_sentence(memory: pd.DataFrame) -> str:
    """From ``memory.csv``: how many processes stayed within their bound, the closest, the largest peak, who held
    the whole set."""
    df = analysis.memory_frame(memory)
    note = targets.memory_check(memory)[2]
    top = df.loc[df.peak_mb.idxmax()]
    sizes = " and ".join(f"{n:,}" for n in sorted(df.n_train.unique()))
    engines = f"{int(df.n_engines.max())}-engine " if "n_engines" in df else ""
    return (f"Of the {len(df)} processes measured (the client and every rank, {engines}one-shot runs on {sizes} "
            f"images), **{int(df.within_bound.sum())} stayed within their bound** (twice their own data in the training "
            f"dtype plus 300 MB, counting what each took on for the run: peak minus its idle baseline); {note}. "
            f"The largest peak: {targets.process_name(top)}, {top.peak_mb:.0f} MB.")


#: How :func:`dtype_sentence` names each input scaling of ``dtype.csv``.
INPUTS_WORDS = {"raw 0-255": "with raw pixels", "pixels / 255": "on pixels / 255"}


def _pp(value: float) -> str:
    """Signed percentage points to 0.01 (the resolution of 10,000 test images), with a true minus sign."""
    text = f"{value:+.2f}"
    return "0.00" if text in ("+0.00", "-0.00") else text.replace("-", "−")


def dtype_sentence(summary: pd.DataFrame) -> str:
    """What float32 costs against float64 per input scaling, and how much faster it fits; the chapters' dtypes.

    ``summary`` is :func:`exemplar.analysis.performance.dtype_summary` of ``dtype.csv``: the largest
    |float32 − float64| over the seeds, their mean and sd, and the fit-time ratio over every paired fit (wall
    time, and CPU time where recorded).
    """
    if not len(summary):
        return "No seed was fitted in both float32 and float64: run `make bench` (`exemplar.bench.dtype`)."
    runs = sorted(set(int(r) for r in summary.runs))
    seeds = ("one seed" if runs == [1] else f"{runs[0]} seeds") if len(runs) == 1 else f"{runs[0]}–{runs[-1]} seeds"
    clauses = []
    for i, row in enumerate(summary.itertuples(index=False)):
        words = INPUTS_WORDS.get(row.inputs, f"on {row.inputs}")
        if round(row.max_abs_diff_pp, 2) == 0:
            clauses.append(f"matches {'float64' if i == 0 else 'it'} exactly {words}")
            continue
        spread = "one seed" if np.isnan(row.sd_diff_pp) else f"sd {row.sd_diff_pp:.2f} pp"
        clauses.append(f"{'is ' if i == 0 else ''}within {row.max_abs_diff_pp:.2f} pp"
                       f"{' of float64' if i == 0 else ''} {words} (mean {_pp(row.mean_diff_pp)} pp, {spread})")
    ratio = (summary.fit_seconds_reference * summary.runs).sum() / (summary.fit_seconds_other * summary.runs).sum()
    speed = f"fits {ratio:.1f}× faster" if ratio >= 1 else f"fits {1 / ratio:.1f}× slower"
    cpu = ((summary.fit_cpu_seconds_reference * summary.runs).sum(min_count=1)
           / (summary.fit_cpu_seconds_other * summary.runs).sum(min_count=1))
    if np.isfinite(cpu) and cpu > 0:
        speed += f" ({cpu:.1f}× by CPU time)"
    return (f"{'On' if runs == [1] else 'Over'} {seeds}, float32 {figures.and_list(clauses)}, and {speed}; chapters 04, 04b and 05 "
            "train in float32, the paper's chapters 02 and 03 in float64.")


def distribution_sentence(summary: pd.DataFrame) -> str:
    """Our Scatterv against the naive methods on 6,000 and 60,000 images, and why it is fast.

    Parameters
    ----------
    summary : DataFrame
        :func:`exemplar.analysis.performance.distribution_summary` of ``distribution.csv``.
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


def _ddp_dtype(ddp: pd.DataFrame, runs: pd.DataFrame, dtype: str) -> str | None:
    """The headline of one dtype: ours and DDP's fastest on 2 processes, the ratio, the upper bound; None if unmeasured."""
    ratio, best = analysis.ddp_ratio(runs, 2, dtype)
    two = ddp[(ddp.n_procs == 2) & (ddp.dtype == dtype)]
    d2 = two[two.framework == "pytorch-ddp"].sort_values("time_to_target")
    o2 = two[(two.framework == "exemplar") & (two.label == best)]
    if not (len(d2) and len(o2) and np.isfinite(ratio)):
        return None
    d2, o2 = d2.iloc[0], o2.iloc[0]
    return (f"In {dtype}, our *{best}* gets there in **{o2.time_to_target:.2f} s** ({o2.kind}) and ends at "
            f"{o2.accuracy_pct:.2f} %; DDP with 2 processes (*{d2.label}*) in **{d2.time_to_target:.2f} s**, ending "
            f"at {d2.accuracy_pct:.2f} %: ours is **{ratio:.2f}×** as fast (target {targets.target('ddp-' + dtype)['text']}"
            f"); charged for its whole run instead (an upper bound, {o2.time_to_target_seconds:.2f} s), "
            f"{d2.time_to_target / o2.time_to_target_seconds:.2f}×. Runs at the target: ours "
            f"{100 * o2.reached:.0f} %, DDP's {100 * d2.reached:.0f} %.")


def ddp_sentences(runs: pd.DataFrame) -> list[str]:
    """From ``ddp.csv``: the target accuracy and, per dtype in which both reached it, ours against DDP on 2 processes;
    where our 1- and 2-engine float64 gradient-allreduce runs were measured, a paragraph on epochs against time. Or
    one sentence saying that the target was not reached."""
    ddp = analysis.ddp_summary(runs)
    heads = [h for h in (_ddp_dtype(ddp, runs, dtype) for dtype in ("float64", "float32")) if h]
    if not heads:
        return ["Our strategy or DDP did not reach the target accuracy in these runs; the table shows "
                "how close each came."]
    setup = ddp[ddp.framework == "pytorch-ddp"].setup_seconds.mean()
    out = [f"The sequential scikit-learn fit reaches {float(runs.sequential_pct.iloc[0]):.2f} %, so the target is "
           f"**{float(runs.target_pct.iloc[0]):.2f} %**. " + " ".join(heads) + " Both sides' per-epoch "
           f"evaluations are excluded from their clocks; starting its processes (torch's import and `init_process_group`) costs "
           f"{setup:.1f} s per run, against the cluster start of the other chapters; neither is counted."]
    ga = ddp[(ddp.framework == "exemplar") & (ddp.strategy == "gradient-allreduce") & (ddp.dtype == "float64")]
    o1, o2 = ga[ga.n_procs == 1], ga[ga.n_procs == 2]
    if len(o1) and len(o2):
        o1, o2 = o1.iloc[0], o2.iloc[0]
        out.append(f"Epochs against time. In float64, gradient-allreduce on one process reaches the target at epoch "
                   f"{o1.target_epoch:.0f} in {o1.time_to_target:.2f} s; on 2 engines, whose steps add the gradients "
                   f"of 2 × 200 rows, at epoch {o2.target_epoch:.0f} on average, in {o2.time_to_target:.2f} s. "
                   "Doubling the global batch halves the steps per epoch, so an epoch costs half as long but moves "
                   "the weights half as often"
                   + ("; that costs more epochs than the second core saves." if o1.time_to_target < o2.time_to_target
                      else "; the second core still wins."))
    return out


def stages_sentence(stages: pd.DataFrame, cores=None) -> str:
    """The report's stages summed against their target, and the two heaviest.

    Parameters
    ----------
    stages : DataFrame
        :func:`exemplar.analysis.stages.latest_stages` (``stage, seconds, quick``).
    cores : int, optional
        Usable cores of the machine that measured the benchmarks ("these" where unknown).
    """
    total = stages.seconds.sum()
    kind = "QUICK" if stages.quick.any() else "full"
    top = stages.sort_values("seconds", ascending=False).iloc[:2]
    return (f"The latest {kind} stages sum to **{total / 60:.1f} minutes** (target {targets.target('report')['text']} "
            "for the full "
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
        :func:`exemplar.analysis.stages.project_stages` (``n_train, stage, seconds``).
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


# ------------------------------------------------------------------- the chapter's tables, as shown


def compute_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`~exemplar.analysis.performance.compute_summary` with shares in percent and the columns named for
    the reader."""
    t = summary.copy()
    t["share of peak (%)"] = 100 * t.fraction_of_peak
    t["share of peak, CPU time (%)"] = 100 * t.fraction_of_peak_cpu
    t["subnormal outputs (%)"] = 100 * t.subnormal_share
    t = t[["kind", "trainer", "n_engines", "hidden", "batch_size", "dtype", "inputs", "fit_seconds", "n_iter",
           "ms_per_epoch", "gflops", "peak_gflops", "share of peak (%)", "share of peak, CPU time (%)",
           "batch_gemm_gflops", "accuracy_pct", "subnormal outputs (%)"]]
    t.columns = ["fit", "trainer", "engines", "hidden", "batch", "dtype", "inputs", "fit (s)", "epochs run",
                 "ms per epoch", "GFLOP/s", "peak GFLOP/s", "share of peak (%)", "share of peak, CPU time (%)",
                 "batch GEMM GFLOP/s", "accuracy (%)", "subnormal outputs (%)"]
    return t


def bars_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`~exemplar.analysis.performance.compute_summary` for :func:`exemplar.reporting.figures.efficiency_bars`:
    one bar per trainer, network, dtype and inputs (the trainer and network written into ``inputs``, the bar's
    label)."""
    t = summary.copy()
    t["inputs"] = t.inputs + ", " + t.trainer + ", h=" + t.hidden.astype(str) + "/b=" + t.batch_size.astype(str)
    return t


def profile_table(profile: pd.DataFrame) -> pd.DataFrame:
    """``compute_profile.csv`` side by side: one row per category, one column of % of samples per trainer and dtype."""
    p = profile.copy()
    if "trainer" not in p:
        p["trainer"] = "sklearn"
    p["fit"] = p.trainer + ", " + p.dtype
    t = p.pivot_table(index="category", columns="fit", values="share_pct", aggfunc="sum", sort=False)
    return t.reindex(t.max(axis=1).sort_values(ascending=False).index).reset_index().rename_axis(columns=None)


def dtype_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`~exemplar.analysis.performance.dtype_summary` with the columns named for the reader."""
    t = summary[["inputs", "runs", "accuracy_reference", "accuracy_other", "mean_diff_pp", "sd_diff_pp",
                 "max_abs_diff_pp", "n_iter_reference", "n_iter_other", "fit_seconds_reference", "fit_seconds_other",
                 "speed_ratio", "speed_ratio_cpu"]].copy()
    t.columns = ["inputs", "seeds", "float64 accuracy (%)", "float32 accuracy (%)", "float32 − float64, mean (pp)",
                 "sd (pp)", "largest |float32 − float64| (pp)", "float64 epochs run", "float32 epochs run",
                 "float64 fit (s)", "float32 fit (s)", "float64 fit ÷ float32 fit", "the same by CPU time"]
    return t


def memory_table(df: pd.DataFrame) -> pd.DataFrame:
    """``memory.csv`` (:func:`~exemplar.analysis.performance.memory_frame`) for the reader: one row per process of
    each run."""
    t = analysis.memory_frame(df)
    for column in ("n_train", "dtype", "trainer", "role", "own_data_mb", "peak_mb"):
        if column not in t:
            t[column] = np.nan
    t = t[["n_train", "dtype", "trainer", "role", "own_data_mb", "peak_mb", "growth_mb", "bound_mb", "within_bound",
           "holds_whole_set"]]
    t.columns = ["images", "dtype", "trainer", "process", "own data (MB)", "peak (MB)", "peak − baseline (MB)",
                 "bound (MB)", "within bound", "holds the whole training set"]
    return t


def distribution_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`~exemplar.analysis.performance.distribution_summary` in MB, ms and percent, by size and engine count."""
    t = summary.copy()
    t["MB"] = t.bytes_moved / 1e6
    t["share of memcpy (%)"] = 100 * t.fraction_of_memcpy
    t["share of fit (%)"] = 100 * t.fraction_of_fit
    t = t[["n_train", "n_engines", "method", "MB", "ms", "best_ms", "bandwidth_gbs", "memcpy_gbs",
           "share of memcpy (%)", "times_ours", "share of fit (%)", "oversubscribed", "verified"]]
    t.columns = ["images", "engines", "method", "MB moved", "median (ms)", "best (ms)", "GB/s", "memcpy GB/s",
                 "share of memcpy (%)", "× ours", "share of fit (%)", "more engines than cores", "shards verified"]
    return t.sort_values(["images", "engines"])


def ddp_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`~exemplar.analysis.performance.ddp_summary` with the share of runs at the target in percent."""
    t = summary.copy()
    t["reached (%)"] = 100 * t.reached
    t = t[["framework", "label", "dtype", "n_procs", "accuracy_pct", "n_iter", "fit_seconds", "time_to_target", "kind",
           "target_epoch", "setup_seconds", "reached (%)", "runs"]]
    t.columns = ["framework", "strategy", "dtype", "processes", "final accuracy (%)", "epochs run", "training (s)",
                 "time to target (s)", "how the time to target was taken", "target epoch", "set-up (s)",
                 "runs at target (%)", "runs"]
    return t


def stages_table(stages: pd.DataFrame) -> pd.DataFrame:
    """The report's stages (:func:`~exemplar.analysis.stages.latest_stages`) in seconds and minutes, with the run
    that recorded each."""
    t = stages[["stage", "seconds", "run_id", "quick", "git_commit"]].copy()
    t["minutes"] = t.seconds / 60
    return t[["stage", "seconds", "minutes", "run_id", "quick", "git_commit"]]


def scaling_table(scaling: pd.DataFrame) -> pd.DataFrame:
    """``report_scaling.csv``: each size's fit, its ratio to the smallest size, and the run's other times."""
    t = scaling[["kind", "n_engines", "n_train", "fit_seconds", "fit_ratio", "wall_seconds", "n_iter", "accuracy_pct",
                 "start_seconds", "oversubscribed"]].copy()
    t.columns = ["training", "engines", "images", "fit (s)", "fit ÷ fit at the smallest size", "wall (s)",
                 "epochs run", "accuracy (%)", "cluster start (s)", "more engines than cores"]
    return t


def sweep_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """``sweep_engines.csv``: each grid point's fit time alone and beside another fit, and their ratio."""
    t = sweep[["hidden", "epochs", "n_iter_sequential", "train_seconds_sequential", "train_seconds_engines",
               "time_ratio"]].copy()
    t.columns = ["hidden", "epochs", "epochs run", "one at a time (s)", "two at a time (s)", "ratio"]
    return t
