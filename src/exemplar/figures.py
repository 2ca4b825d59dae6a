"""Plotly figures for the report, and the renderer that makes them work in Jupyter Book offline.

Jupyter Book 1 (myst-nb) drops plotly's own mime type, so :func:`use_book_renderer` registers a
renderer that emits *both* plotly's JSON (JupyterLab draws it natively) and an HTML ``<div>``
that calls ``Plotly.newPlot`` without embedding plotly.js. The book loads plotly.js once, from
``_static/`` (copied there by ``exemplar book``), never from a CDN, so the site renders offline.

Colours are fixed across the report: our measurements in :data:`OURS`, the paper's in :data:`PAPER`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer

OURS = "#1f77b4"
PAPER = "#d95f02"
REFERENCE = "#7f7f7f"
CONFIG = {"displaylogo": False, "responsive": True}


class BookRenderer(MimetypeRenderer):
    """Plotly JSON for Jupyter front ends plus an HTML div (no bundled plotly.js) for Jupyter Book."""

    def to_mimebundle(self, fig_dict):
        html = pio.to_html(fig_dict, include_plotlyjs=False, include_mathjax=False, full_html=False,
                           config=CONFIG, default_width="100%")
        return {"application/vnd.plotly.v1+json": {"data": fig_dict.get("data", []),
                                                   "layout": fig_dict.get("layout", {}),
                                                   "config": CONFIG},
                "text/html": html}


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
        One row per (hidden, epochs), e.g. :func:`exemplar.sweep.summarize`'s.
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
                     cores: int | None = None, label: str = "this report") -> go.Figure:
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
    """
    fig = go.Figure()
    err = dict(type="data", array=ours[y_sd], visible=True) if y_sd else None
    fig.add_trace(go.Scatter(x=ours["n_engines"], y=ours[y], error_y=err, mode="lines+markers", name=label,
                             line=dict(color=OURS), marker=dict(size=9)))
    for name, (frame, col) in (extra or {}).items():
        fig.add_trace(go.Scatter(x=frame["n_engines"], y=frame[col], mode="lines+markers", name=name,
                                 line=dict(color=OURS, dash="dash"), marker=dict(symbol="square", size=8)))
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
                   extra: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> go.Figure:
    """Fig 6: measured speedup against the number of processes, with fitted Amdahl curves and the ideal."""
    from .metrics import amdahl

    n_max = int(max(np.max(n), np.max(paper_n) if paper_n is not None else 0))
    grid = np.linspace(1, n_max, 100)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=grid, y=grid, mode="lines", name="ideal (speedup = n)",
                             line=dict(color=REFERENCE, dash="dot")))
    fig.add_trace(go.Scatter(x=n, y=measured, mode="markers", name="this report", marker=dict(color=OURS, size=10)))
    fig.add_trace(go.Scatter(x=grid, y=amdahl(grid, f_ours), mode="lines", line=dict(color=OURS),
                             name=f"Amdahl fit, serial fraction {f_ours:.2f}"))
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
