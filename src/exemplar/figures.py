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
