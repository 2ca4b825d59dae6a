"""The communication chapter's figures (notebook 04): strategies' colours, the frontier, accuracy by engines.

The report's colours and renderer are :mod:`exemplar.reporting.figures`'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from exemplar.reporting.figures import OURS, REFERENCE

#: One colour per strategy variant, the same in every figure; the paper's one-shot method is :data:`OURS`.
STRATEGY_COLOURS = {
    "one-shot": OURS,
    "periodic, every 1 epoch": "#2ca02c",
    "periodic, every 5 epochs": "#8fbf3f",
    "gradient-allreduce": "#9467bd",
    "ensemble": "#8c564b",
}
_EXTRA_COLOURS = ["#17becf", "#bcbd22", "#e377c2", "#393b79", "#637939"]


def strategy_colour(variant: str) -> str:
    """The colour of a strategy variant (:data:`STRATEGY_COLOURS`, else a fixed spare colour)."""
    if variant in STRATEGY_COLOURS:
        return STRATEGY_COLOURS[variant]
    return _EXTRA_COLOURS[sum(map(ord, variant)) % len(_EXTRA_COLOURS)]


def _variants_in_order(summary: pd.DataFrame) -> list[str]:
    known = [v for v in STRATEGY_COLOURS if v in set(summary["variant"])]
    return known + sorted(set(summary["variant"]) - set(known))


def frontier(summary: pd.DataFrame, title: str, tolerance_pp: float = 0.5, reference: str = "one-shot",
             cores: int | None = None) -> go.Figure:
    """Accuracy against wall time, one line per strategy through its engine counts (the frontier).

    Parameters
    ----------
    summary : DataFrame
        :func:`exemplar.analysis.communication.summarize_strategies` rows of *one* input scaling.
    tolerance_pp : float
        The shaded region is "at least as fast as sequential and within ``tolerance_pp`` of its accuracy".
    reference : str
        The variant whose 1-engine run is the sequential reference (drawn as a grey star).
    cores : int, optional
        Engine counts above it are marked "oversubscribed" in the hover text and, when ``summary`` has
        ``estimated_wall_mean``, drawn again dash-dot at their estimated wall time with a core per engine.
    """
    ref = summary[(summary.variant == reference) & (summary.n_engines == 1)].iloc[0]
    fig = go.Figure()
    x_max = float((summary.wall_seconds_mean + summary.wall_seconds_sd.fillna(0)).max()) * 1.05
    fig.add_shape(type="rect", x0=0, x1=ref.wall_seconds_mean, y0=ref.accuracy_pct_mean - tolerance_pp,
                  y1=float(summary.accuracy_pct_mean.max()) + 0.5, fillcolor=REFERENCE, opacity=0.12, line_width=0,
                  layer="below")
    fig.add_annotation(x=0, y=ref.accuracy_pct_mean - tolerance_pp, xanchor="left", yanchor="bottom",
                       text=f"faster than sequential, within {tolerance_pp:g} pp of its accuracy",
                       showarrow=False, font=dict(size=11, color=REFERENCE))
    for variant in _variants_in_order(summary):
        part = summary[summary.variant == variant].sort_values("n_engines")
        over = [" (oversubscribed)" if cores and n > cores else "" for n in part.n_engines]
        fig.add_trace(go.Scatter(
            x=part.wall_seconds_mean, y=part.accuracy_pct_mean, mode="lines+markers+text", name=variant,
            text=[str(int(n)) for n in part.n_engines], textposition="top center", textfont=dict(size=10),
            error_x=dict(type="data", array=part.wall_seconds_sd, visible=True, thickness=1),
            error_y=dict(type="data", array=part.accuracy_pct_sd, visible=True, thickness=1),
            line=dict(color=strategy_colour(variant)), marker=dict(size=8),
            customdata=np.column_stack([part.n_engines, over]),
            hovertemplate="%{customdata[0]} engines%{customdata[1]}<br>wall %{x:.2f} s<br>accuracy %{y:.2f} %"
                          f"<extra>{variant}</extra>"))
    _frontier_estimates(fig, summary, cores)
    fig.add_trace(go.Scatter(x=[ref.wall_seconds_mean], y=[ref.accuracy_pct_mean], mode="markers",
                             name="sequential (1 engine)", marker=dict(symbol="star", size=16, color=REFERENCE),
                             hovertemplate="sequential<br>wall %{x:.2f} s<br>accuracy %{y:.2f} %<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="wall time per run (s)", yaxis_title="test accuracy (%)",
                      height=480, legend=dict(orientation="h", y=-0.2), margin=dict(t=50),
                      xaxis=dict(range=[0, x_max]))
    return fig


def _frontier_estimates(fig: go.Figure, summary: pd.DataFrame, cores: int | None) -> None:
    """Per strategy, its engine counts above ``cores`` at their estimated wall time (dash-dot), from its last
    count on real cores."""
    if not cores or "estimated_wall_mean" not in summary or not (summary.n_engines > cores).any():
        return
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=REFERENCE, dash="dashdot"),
                             name=f"estimate: a core per engine (above {cores} engines)"))
    for variant in _variants_in_order(summary):
        part = summary[summary.variant == variant].sort_values("n_engines")
        real, above = part[part.n_engines <= cores].tail(1), part[part.n_engines > cores]
        if above.estimated_wall_mean.isna().all():
            continue
        x = [*real.wall_seconds_mean, *above.estimated_wall_mean]
        fig.add_trace(go.Scatter(
            x=x, y=[*real.accuracy_pct_mean, *above.accuracy_pct_mean], mode="lines+markers+text",
            name=f"{variant}, estimate", showlegend=False, text=[""] * len(real) + [f"{int(n)} (estimate)" for n in
                                                                               above.n_engines],
            textposition="bottom center", textfont=dict(size=10), line=dict(color=strategy_colour(variant),
                                                                          dash="dashdot"),
            marker=dict(size=8, symbol="circle-open"),
            hovertemplate="estimate, a core per engine<br>wall %{x:.2f} s<br>accuracy %{y:.2f} %"
                          f"<extra>{variant}</extra>"))


def accuracy_by_engines(summary: pd.DataFrame, reference: str = "one-shot") -> go.Figure:
    """Accuracy against engine count per strategy, raw pixels and scaled pixels side by side (shared y axis).

    The dotted line in each panel is that scaling's sequential accuracy (1-engine ``reference``).
    """
    from plotly.subplots import make_subplots

    scales = sorted(summary.scale_inputs.unique())
    names = {False: "raw pixels 0–255 (the paper)", True: "pixels / 255"}
    fig = make_subplots(rows=1, cols=len(scales), shared_yaxes=True,
                        subplot_titles=[names.get(bool(s), str(s)) for s in scales], horizontal_spacing=0.04)
    for col, scale in enumerate(scales, start=1):
        part = summary[summary.scale_inputs == scale]
        for variant in _variants_in_order(part):
            v = part[part.variant == variant].sort_values("n_engines")
            fig.add_trace(go.Scatter(x=v.n_engines, y=v.accuracy_pct_mean, mode="lines+markers", name=variant,
                                     legendgroup=variant, showlegend=col == 1,
                                     error_y=dict(type="data", array=v.accuracy_pct_sd, visible=True, thickness=1),
                                     line=dict(color=strategy_colour(variant)), marker=dict(size=8),
                                     hovertemplate="%{x} engines<br>%{y:.2f} %" f"<extra>{variant}</extra>"),
                          row=1, col=col)
        ref = part[(part.variant == reference) & (part.n_engines == 1)]
        if len(ref):
            fig.add_hline(y=float(ref.accuracy_pct_mean.iloc[0]), line=dict(color=REFERENCE, dash="dot"),
                          row=1, col=col)
        fig.update_xaxes(title_text="engines", tickvals=sorted(part.n_engines.unique()), row=1, col=col)
    fig.update_yaxes(title_text="test accuracy (%)", row=1, col=1)
    fig.update_layout(height=440, legend=dict(orientation="h", y=-0.25), margin=dict(t=50),
                      title="Accuracy by strategy and engine count; dotted: sequential")
    return fig
