"""Plotly figures for the report, and the renderer that makes them work in Jupyter Book offline.

Jupyter Book 1 (myst-nb) drops plotly's own mime type, so :func:`use_book_renderer` registers a
renderer that emits *both* plotly's JSON (JupyterLab draws it natively) and an HTML ``<div>``
that calls ``Plotly.newPlot`` without embedding plotly.js. The book loads plotly.js once, from
``_static/`` (copied there by ``exemplar book``), never from a CDN, so the site renders offline.

Colours are fixed across the report: our measurements in :data:`OURS`, the paper's in :data:`PAPER`.
"""

from __future__ import annotations

import html as _html
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer

from exemplar.reporting.targets import target as goal

OURS = "#1f77b4"
PAPER = "#d95f02"
REFERENCE = "#7f7f7f"
#: The dedicated-core estimate (CPU time per engine), wherever it is drawn: dash-dot, this colour.
ESTIMATE = "#2ca02c"
CONFIG = {"displaylogo": False, "responsive": True}


class BookRenderer(MimetypeRenderer):
    """Plotly JSON for Jupyter front ends plus an HTML div (no bundled plotly.js) for Jupyter Book."""

    def to_mimebundle(self, fig_dict):
        html = pio.to_html(fig_dict, include_plotlyjs=False, include_mathjax=False, full_html=False,
                           config=CONFIG, default_width="100%")
        # A text alternative for readers who do not see the chart: its title (the caption below the
        # figure describes it in words), on a container announced as a figure.
        html = f'<div class="exemplar-figure" role="figure" aria-label="{_html.escape(figure_label(fig_dict), quote=True)}">' \
               f"{html}</div>"
        return {"application/vnd.plotly.v1+json": {"data": fig_dict.get("data", []),
                                                   "layout": fig_dict.get("layout", {}),
                                                   "config": CONFIG},
                "text/html": html}


def and_list(parts) -> str:
    """Words joined as a sentence lists them: ``"a"``, ``"a and b"``, ``"a, b and c"``."""
    parts = [str(p) for p in parts]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def figure_label(fig_dict) -> str:
    """The text alternative of a figure: "Interactive chart: TITLE (described in the caption below)"."""
    title = ((fig_dict.get("layout") or {}).get("title") or {})
    text = title.get("text") if isinstance(title, dict) else str(title)
    text = re.sub(r"<[^>]+>", " ", text or "").strip() or "untitled"
    return f"Interactive chart: {' '.join(text.split())} (described in the caption below)"


def use_book_renderer() -> None:
    """Make ``fig.show()`` and a bare ``fig`` at the end of a cell use :class:`BookRenderer`."""
    pio.renderers["exemplar"] = BookRenderer()
    pio.renderers.default = "exemplar"


def _grid(table: pd.DataFrame, column: str):
    pivot = table.pivot(index="epochs", columns="hidden", values=column).sort_index().sort_index(axis=1)
    return pivot.columns.to_numpy(), pivot.index.to_numpy(), pivot.to_numpy()


def surface(table: pd.DataFrame, column: str, title: str, z_title: str,
            paper: pd.DataFrame | None = None, paper_column: str | None = None) -> go.Figure:
    """A 3D surface of ``column`` over hidden size × epochs (the paper's Figs 3 and 4).

    Parameters
    ----------
    table : DataFrame
        One row per (hidden, epochs), e.g. :func:`exemplar.analysis.sweep.summarize`'s.
    column : str
        The value to draw (e.g. ``time_mean``).
    paper : DataFrame, optional
        The paper's table, drawn as markers (``paper_column`` of it) beside our surface.
    """
    x, y, z = _grid(table, column)
    fig = go.Figure(go.Surface(x=x, y=y, z=z, colorscale="Blues", name="this report", showscale=False,
                               hovertemplate="hidden %{x}<br>epochs %{y}<br>%{z:.3f}<extra>this report</extra>",
                               opacity=0.95))
    if paper is not None:
        fig.add_trace(go.Scatter3d(x=paper["hidden"], y=paper["epochs"], z=paper[paper_column or column],
                                   mode="markers", marker=dict(size=4, color=PAPER), name="paper",
                                   hovertemplate="hidden %{x}<br>epochs %{y}<br>%{z:.3f}<extra>paper</extra>"))
    fig.update_layout(title=title, height=520, margin=dict(l=0, r=0, t=50, b=0), legend=dict(x=0, y=1),
                      scene=dict(xaxis_title="hidden units", yaxis_title="epochs (max_iter)", zaxis_title=z_title,
                                 camera=dict(eye=dict(x=1.6, y=-1.6, z=0.9))))
    return fig


def digit_grid(X: np.ndarray, y: np.ndarray, n: int = 30, columns: int = 10) -> go.Figure:
    """The first ``n`` images as a grid of small heatmaps, each titled with its label."""
    n = min(n, len(X))
    rows = int(np.ceil(n / columns))
    canvas = np.full((rows * 30, columns * 30), np.nan)
    for i in range(n):
        r, c = divmod(i, columns)
        canvas[r * 30 + 1:r * 30 + 29, c * 30 + 1:c * 30 + 29] = X[i].reshape(28, 28)
    fig = go.Figure(go.Heatmap(z=canvas, colorscale="Greys", showscale=False, hoverinfo="skip"))
    for i in range(n):
        r, c = divmod(i, columns)
        fig.add_annotation(x=c * 30 + 2, y=r * 30 + 3, text=str(int(y[i])), showarrow=False,
                           font=dict(color=OURS, size=12), xanchor="left", yanchor="top")
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x")
    fig.update_xaxes(visible=False)
    fig.update_layout(height=60 * rows + 40, margin=dict(l=0, r=0, t=10, b=0), plot_bgcolor="white")
    return fig


def class_counts(counts: pd.DataFrame) -> go.Figure:
    """Bar chart of images per digit, one bar group per split (columns: digit, split, images)."""
    fig = go.Figure()
    for split, part in counts.groupby("split", sort=False):
        fig.add_trace(go.Bar(x=part["digit"], y=part["images"], name=split))
    fig.update_layout(barmode="group", xaxis_title="digit", yaxis_title="images", height=380,
                      xaxis=dict(dtick=1), margin=dict(t=30))
    return fig


def _mark_oversubscribed(fig: go.Figure, cores: int | None, n_max: float) -> None:
    """Shade engine counts above the machine's core count: there engines share cores."""
    if cores and n_max > cores:
        fig.add_vrect(x0=cores + 0.5, x1=n_max + 0.5, fillcolor=REFERENCE, opacity=0.12, line_width=0,
                      annotation_text=f"more engines than the {cores} cores", annotation_position="top left",
                      annotation_font_size=11)


def versus_processes(ours: pd.DataFrame, y: str, y_sd: str | None, title: str, y_title: str,
                     paper: pd.DataFrame | None = None, paper_y: str | None = None,
                     extra: dict[str, tuple[pd.DataFrame, str]] | None = None,
                     cores: int | None = None, label: str = "this report",
                     estimates: dict[str, tuple[pd.DataFrame, str]] | None = None) -> go.Figure:
    """A measure against the number of processes (Figs 5, 7, 8), ours with ± sd, the paper's beside.

    Parameters
    ----------
    ours : DataFrame
        One row per engine count: ``n_engines``, ``y`` and optionally ``y_sd``.
    paper : DataFrame, optional
        The paper's table (``n_processes`` and ``paper_y``).
    extra : dict, optional
        More of our traces: name → (frame with ``n_engines``, column), drawn dashed.
    cores : int, optional
        The machine's core count; engine counts above it are shaded.
    estimates : dict, optional
        Estimates (name → (frame, column)), drawn dash-dot in :data:`ESTIMATE`'s colour; name them as estimates.
    """
    fig = go.Figure()
    err = dict(type="data", array=ours[y_sd], visible=True) if y_sd else None
    fig.add_trace(go.Scatter(x=ours["n_engines"], y=ours[y], error_y=err, mode="lines+markers", name=label,
                             line=dict(color=OURS), marker=dict(size=9)))
    for name, (frame, col) in (extra or {}).items():
        fig.add_trace(go.Scatter(x=frame["n_engines"], y=frame[col], mode="lines+markers", name=name,
                                 line=dict(color=OURS, dash="dash"), marker=dict(symbol="square", size=8)))
    for name, (frame, col) in (estimates or {}).items():
        fig.add_trace(go.Scatter(x=frame["n_engines"], y=frame[col], mode="lines+markers", name=name,
                                 line=dict(color=ESTIMATE, dash="dashdot"), marker=dict(symbol="circle-open", size=9)))
    if paper is not None:
        fig.add_trace(go.Scatter(x=paper["n_processes"], y=paper[paper_y or y], mode="lines+markers",
                                 name="paper", line=dict(color=PAPER), marker=dict(symbol="diamond", size=9)))
    n_max = max(ours["n_engines"].max(), paper["n_processes"].max() if paper is not None else 0)
    _mark_oversubscribed(fig, cores, n_max)
    fig.update_layout(title=title, xaxis_title="processes (MPI engines)", yaxis_title=y_title, height=420,
                      xaxis=dict(tickmode="array", tickvals=sorted(set(ours["n_engines"]) | (
                          set(paper["n_processes"]) if paper is not None else set()))),
                      legend=dict(orientation="h", y=-0.2), margin=dict(t=50))
    return fig


def speedup_amdahl(n: np.ndarray, measured: np.ndarray, f_ours: float,
                   paper_n: np.ndarray | None = None, paper_speedup: np.ndarray | None = None,
                   f_paper: float | None = None, cores: int | None = None,
                   extra: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                   estimate: tuple[np.ndarray, np.ndarray, float] | None = None) -> go.Figure:
    """Fig 6: measured speedup against the number of processes, with fitted Amdahl curves and the ideal.

    ``estimate`` (engine counts, estimated speedups with a core per engine, the serial fraction fitted
    to them) adds the estimate (dash-dot, :data:`ESTIMATE`) and its Amdahl fit, both labelled as estimates.
    """
    from exemplar.metrics import amdahl

    n_max = int(max(np.max(n), np.max(paper_n) if paper_n is not None else 0))
    grid = np.linspace(1, n_max, 100)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=grid, y=grid, mode="lines", name="ideal (speedup = n)",
                             line=dict(color=REFERENCE, dash="dot")))
    fig.add_trace(go.Scatter(x=n, y=measured, mode="markers", name="this report", marker=dict(color=OURS, size=10)))
    fig.add_trace(go.Scatter(x=grid, y=amdahl(grid, f_ours), mode="lines", line=dict(color=OURS),
                             name=f"Amdahl fit{' to the measurements' if estimate else ''}, serial fraction "
                                  f"{f_ours:.2f}"))
    if estimate is not None and np.isfinite(estimate[2]):
        fig.add_trace(go.Scatter(x=estimate[0], y=estimate[1], mode="markers", name="estimate: a core per engine",
                                 marker=dict(color=ESTIMATE, symbol="circle-open", size=11, line=dict(width=2))))
        fig.add_trace(go.Scatter(x=grid, y=amdahl(grid, estimate[2]), mode="lines",
                                 line=dict(color=ESTIMATE, dash="dashdot"),
                                 name=f"Amdahl fit to the estimate, serial fraction {estimate[2]:.2f}"))
    for name, (xs, ys) in (extra or {}).items():
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=name,
                                 marker=dict(color=OURS, symbol="square-open", size=10)))
    if paper_n is not None:
        fig.add_trace(go.Scatter(x=paper_n, y=paper_speedup, mode="markers", name="paper",
                                 marker=dict(color=PAPER, symbol="diamond", size=10)))
        if f_paper is not None:
            fig.add_trace(go.Scatter(x=grid, y=amdahl(grid, f_paper), mode="lines", line=dict(color=PAPER),
                                     name=f"Amdahl fit to the paper, serial fraction {f_paper:.2f}"))
    _mark_oversubscribed(fig, cores, n_max)
    fig.update_layout(title="Speedup against the number of processes", xaxis_title="processes (MPI engines)",
                      yaxis_title="speedup (× one process)", height=460, legend=dict(orientation="h", y=-0.2),
                      margin=dict(t=50))
    return fig


def table(df: pd.DataFrame, precision: int = 2):
    """A results table for the report: fixed decimals, "–" where the paper has no value, no index."""
    return df.style.format(precision=precision, na_rep="–").hide(axis="index")


# ---------------------------------------------------------------------------------------------
# Verdict tables (the paper-vs-report page)
# ---------------------------------------------------------------------------------------------

#: Background of a verdict cell, the same wherever a verdict is shown.
VERDICT_COLOURS = {
    "reproduced": "#d9f2d9",
    "reproduced with a caveat": "#fff0c2",
    "not reproduced": "#f8d4d4",
}


def verdict_table(df: pd.DataFrame, precision: int = 2):
    """:func:`table`, with every verdict cell (a value of :data:`VERDICT_COLOURS`) coloured by its verdict.

    Parameters
    ----------
    df : DataFrame
        Any table; columns whose name contains "verdict" (at any level) are coloured.
    precision : int
        Decimals of the numbers.
    """
    def colour(value):
        bg = VERDICT_COLOURS.get(value)
        return f"background-color: {bg}; color: #222222" if bg else ""

    cols = [c for c in df.columns if "verdict" in " ".join(map(str, c if isinstance(c, tuple) else (c,)))]
    return table(df, precision).map(colour, subset=cols)


# ---------------------------------------------------------------------------------------------
# Other algorithms (notebook 05)
# ---------------------------------------------------------------------------------------------

#: One colour per algorithm, the same in every figure; the paper's MLP is :data:`OURS`.
ALGORITHM_COLOURS = {
    "mlp": OURS,
    "gaussian-nb": "#2ca02c",
    "lda": "#9467bd",
    "qda": "#8c564b",
    "tree": "#17becf",
}

#: Readable names of the data sets.
DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

#: Readable names of the algorithms, for tables and figures.
ALGORITHM_NAMES = {
    "mlp": "MLP (weight averaging)",
    "gaussian-nb": "Gaussian Naive Bayes",
    "lda": "LDA",
    "qda": "QDA",
    "tree": "decision tree → forest",
}


def _algorithm_grid(summary: pd.DataFrame, column: str, y_title: str, title: str, cores: int | None = None,
                    sd_column: str | None = None, ideal: bool = False,
                    paper: tuple[np.ndarray, np.ndarray, str] | None = None) -> go.Figure:
    """One panel per data set (rows) and training size (columns), one line per algorithm through its engine counts."""
    from plotly.subplots import make_subplots


    present = set(summary["dataset"])
    datasets = [d for d in DATASET_NAMES if d in present] + sorted(present - set(DATASET_NAMES))
    sizes = sorted(summary["n_train"].unique())
    titles = [f"{DATASET_NAMES.get(d, d)}, {int(n):,} training images" for d in datasets for n in sizes]
    fig = make_subplots(rows=len(datasets), cols=len(sizes), shared_xaxes=True, subplot_titles=titles,
                        horizontal_spacing=0.08, vertical_spacing=0.12)
    n_max = int(summary["n_engines"].max())
    algorithms = [a for a in ALGORITHM_COLOURS if a in set(summary["algorithm"])]
    algorithms += sorted(set(summary["algorithm"]) - set(algorithms))
    for r, dataset in enumerate(datasets, start=1):
        for c, n_train in enumerate(sizes, start=1):
            part = summary[(summary.dataset == dataset) & (summary.n_train == n_train)]
            first = r == 1 and c == 1
            if ideal:
                fig.add_trace(go.Scatter(x=[1, n_max], y=[1, n_max], mode="lines", name="ideal (speedup = engines)",
                                         line=dict(color=REFERENCE, dash="dot"), showlegend=first,
                                         legendgroup="ideal", hoverinfo="skip"), row=r, col=c)
            for algorithm in algorithms:
                a = part[part.algorithm == algorithm].sort_values("n_engines")
                if a.empty:
                    continue
                name = ALGORITHM_NAMES.get(algorithm, algorithm)
                err = (dict(type="data", array=a[sd_column], visible=True, thickness=1)
                       if sd_column and sd_column in a else None)
                fig.add_trace(go.Scatter(
                    x=a.n_engines, y=a[column], error_y=err, mode="lines+markers", name=name, legendgroup=algorithm,
                    showlegend=first, line=dict(color=ALGORITHM_COLOURS.get(algorithm, REFERENCE)),
                    marker=dict(size=8),
                    hovertemplate="%{x} engines<br>%{y:.2f}" f"<extra>{name}</extra>"), row=r, col=c)
            if paper is not None and dataset == "mnist" and n_train == 6000:
                xs, ys, label = paper
                fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=label, legendgroup="paper",
                                         marker=dict(color=PAPER, symbol="diamond", size=9)), row=r, col=c)
            if cores and n_max > cores:
                fig.add_vrect(x0=cores + 0.5, x1=n_max + 0.5, fillcolor=REFERENCE, opacity=0.12, line_width=0,
                              row=r, col=c)
            fig.update_xaxes(tickvals=sorted(summary["n_engines"].unique()), row=r, col=c)
    for c in range(1, len(sizes) + 1):
        fig.update_xaxes(title_text="engines (MPI processes)", row=len(datasets), col=c)
    for r in range(1, len(datasets) + 1):
        fig.update_yaxes(title_text=y_title, row=r, col=1)
    fig.update_layout(title=title + (f" (grey: more engines than the {cores} cores)" if cores and n_max > cores
                                     else ""),
                      height=330 * len(datasets) + 120, legend=dict(orientation="h", y=-0.12), margin=dict(t=80))
    return fig


def algorithm_speedups(summary: pd.DataFrame, cores: int | None = None, column: str = "speedup",
                       paper: tuple[np.ndarray, np.ndarray, str] | None = None) -> go.Figure:
    """Speedup against engines, one line per algorithm, one panel per data set and training size.

    Parameters
    ----------
    summary : DataFrame
        :func:`exemplar.analysis.algorithms.summarize_algorithms`' table.
    cores : int, optional
        The machine's cores: engine counts above it are shaded.
    column : str
        ``"speedup"`` (training time) or ``"speedup_wall"``.
    paper : (engines, speedups, label), optional
        The paper's MLP speedups, drawn in :data:`PAPER` on the MNIST 6,000-image panel.
    """
    return _algorithm_grid(summary, column, "speedup (× 1 engine)", "Speedup against engines",
                           cores, ideal=True, paper=paper)


def algorithm_accuracy(summary: pd.DataFrame, cores: int | None = None) -> go.Figure:
    """Test accuracy (± sd over the repeats) against engines, one line per algorithm, one panel per data set and size."""
    return _algorithm_grid(summary, "accuracy_pct", "test accuracy (%)", "Test accuracy against engines",
                           cores, sd_column="accuracy_pct_sd")


# --------------------------------------------------------------------------- performance chapter
def _target_line(fig: go.Figure, y: float, text: str) -> None:
    fig.add_hline(y=y, line=dict(color=PAPER, dash="dash"), annotation_text=text,
                  annotation_position="top left", annotation_font_color=PAPER)


def efficiency_bars(summary: pd.DataFrame, target: float | None = None) -> go.Figure:
    """Share of the single-core GEMM peak per fit kind, dtype and inputs
    (:func:`exemplar.analysis.performance.compute_summary`), against ``target`` (a share; default: the float64
    compute target of :data:`exemplar.reporting.targets.TARGETS`)."""
    target = goal("compute-float64")["threshold"] if target is None else target
    fig = go.Figure()
    for (kind, n), part in summary.groupby(["kind", "n_engines"], sort=False):
        label = "sequential fit" if kind == "sequential" else f"each engine's fit ({n} engines)"
        x = [f"{d}, {i}" for d, i in zip(part.dtype, part.inputs)]
        fig.add_trace(go.Bar(x=x, y=100 * part.fraction_of_peak, name=label,
                             customdata=np.column_stack([part.gflops, part.peak_gflops, part.fit_seconds]),
                             hovertemplate="%{x}<br>%{y:.0f} % of peak<br>%{customdata[0]:.1f} of "
                                           "%{customdata[1]:.0f} GFLOP/s<br>fit %{customdata[2]:.2f} s"
                                           f"<extra>{label}</extra>"))
    _target_line(fig, 100 * target, f"target {100 * target:.0f} %")
    fig.update_layout(title="Share of the single-core GEMM peak (same dtype)", barmode="group",
                      yaxis_title="% of peak", height=420, legend=dict(orientation="h", y=-0.25))
    return fig


def profile_bars(profile: pd.DataFrame) -> go.Figure:
    """Where a fit's time goes: share of the profile's samples per category, one bar group per dtype."""
    fig = go.Figure()
    for dtype, part in profile.groupby("dtype", sort=False):
        fig.add_trace(go.Bar(y=part.category, x=part.share_pct, orientation="h", name=dtype,
                             hovertemplate="%{y}: %{x:.1f} % of samples" f"<extra>{dtype}</extra>"))
    fig.update_layout(title="Where one sequential fit spends its time (py-spy samples)", barmode="group",
                      xaxis_title="% of the samples inside fit", height=420, margin=dict(l=260),
                      yaxis=dict(autorange="reversed"), legend=dict(orientation="h", y=-0.2))
    return fig


def distribution_bars(summary: pd.DataFrame) -> go.Figure:
    """Median distribution time per method and engine count, one panel per training-set size (log scale)."""
    from plotly.subplots import make_subplots

    sizes = sorted(summary.n_train.unique())
    fig = make_subplots(rows=1, cols=len(sizes), subplot_titles=[f"{n:,} images" for n in sizes])
    colours = {m: c for m, c in zip(summary.method.unique(), [OURS, "#6baed6", "#9467bd", PAPER])}
    for j, n in enumerate(sizes, start=1):
        part = summary[summary.n_train == n]
        for method, m in part.groupby("method", sort=False):
            fig.add_trace(go.Bar(x=[f"{k} engines" for k in m.n_engines], y=m.ms, name=method,
                                 marker_color=colours.get(method), showlegend=j == 1, legendgroup=method,
                                 customdata=np.column_stack([m.bandwidth_gbs, 100 * m.fraction_of_memcpy]),
                                 hovertemplate="%{x}: %{y:.1f} ms<br>%{customdata[0]:.2f} GB/s, "
                                               "%{customdata[1]:.1f} % of memcpy" f"<extra>{method}</extra>"),
                          row=1, col=j)
        fig.update_yaxes(type="log", title_text="ms (log scale)" if j == 1 else None, row=1, col=j)
    fig.update_layout(title="Time to give every engine its shard (median)", barmode="group", height=440,
                      legend=dict(orientation="h", y=-0.2))
    return fig


def stage_bars(stages: pd.DataFrame, target_minutes: float | None = None) -> go.Figure:
    """The report's stages stacked into one bar of minutes, against ``target_minutes`` (default: the report's
    target of :data:`exemplar.reporting.targets.TARGETS`)."""
    target_minutes = goal("report")["threshold"] / 60 if target_minutes is None else target_minutes
    fig = go.Figure()
    for r in stages.itertuples():
        fig.add_trace(go.Bar(x=["make book"], y=[r.seconds / 60], name=r.stage,
                             hovertemplate=f"{r.stage}: " "%{y:.1f} min<extra></extra>"))
    _target_line(fig, target_minutes, f"target {target_minutes:g} min")
    fig.update_layout(title="Wall time of each stage of the report", barmode="stack", yaxis_title="minutes",
                      height=460, legend=dict(orientation="v"))
    return fig


def scaling_lines(scaling: pd.DataFrame) -> go.Figure:
    """Fit time against training-set size, one line per way of training (``report_scaling.csv``)."""
    fig = go.Figure()
    for (kind, n), part in scaling.groupby(["kind", "n_engines"], sort=False):
        label = "sequential" if kind == "sequential" else f"{kind}, {n} engines"
        part = part.sort_values("n_train")
        fig.add_trace(go.Scatter(x=part.n_train, y=part.fit_seconds, mode="lines+markers", name=label,
                                 customdata=np.column_stack([part.n_iter, part.accuracy_pct]),
                                 hovertemplate="%{x:,} images: %{y:.2f} s<br>%{customdata[0]} epochs, "
                                               "%{customdata[1]:.2f} %" f"<extra>{label}</extra>"))
    fig.update_layout(title="Fit time against the number of training images", xaxis_title="training images",
                      yaxis_title="fit time (s)", height=420, legend=dict(orientation="h", y=-0.25))
    return fig
