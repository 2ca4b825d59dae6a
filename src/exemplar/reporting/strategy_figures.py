"""The communication chapter's figures (notebook 04): the variants' colours and the speed/accuracy frontier.

The frontier draws every run's validation accuracy against its training time, checkpoint by
checkpoint (from ``results/communication_curves.csv``), one panel per input scaling at one engine
count: the sequential run in black, each variant in its colour, each variant's mean time to the
target marked on the target's horizontal line. The report's colours and renderer are
:mod:`exemplar.reporting.figures`'.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from exemplar.analysis.communication import SCALE_NAME
from exemplar.analysis.frontier import frontier_curves, target_points
from exemplar.reporting.figures import OURS, REFERENCE

#: The sequential run's colour in the frontier.
SEQUENTIAL_COLOUR = "#000000"

#: The frontier opens on this many times the slowest mean time to the target ...
ZOOM_SPAN = 2.0
#: ... and from this many percentage points below the target.
ZOOM_BELOW_PP = 10.0

#: One colour per variant, the same in every figure; the paper's one-shot method is :data:`OURS`.
STRATEGY_COLOURS = {
    "one-shot": OURS,
    "periodic, every 1 epoch": "#2ca02c",
    "periodic, every 5 epochs": "#8fbf3f",
    "gradient-allreduce": "#9467bd",
    "gradient-allreduce, global batch": "#c5b0d5",
    "gradient-allreduce, lr × n": "#e377c2",
    "gradient-allreduce, Adam √n rule": "#d62728",
    "post-local SGD": "#ff7f0e",
    "ensemble": "#8c564b",
}
_EXTRA_COLOURS = ["#17becf", "#bcbd22", "#393b79", "#637939", "#8c6d31"]


def strategy_colour(variant: str) -> str:
    """The colour of a variant (:data:`STRATEGY_COLOURS`, else a fixed spare colour)."""
    if variant in STRATEGY_COLOURS:
        return STRATEGY_COLOURS[variant]
    return _EXTRA_COLOURS[sum(map(ord, variant)) % len(_EXTRA_COLOURS)]


def variants_in_order(names) -> list[str]:
    """``names`` in :data:`STRATEGY_COLOURS`' order, the unknown ones after them, sorted."""
    names = set(names)
    known = [v for v in STRATEGY_COLOURS if v in names]
    return known + sorted(names - set(known))


def _curve_traces(fig: go.Figure, curves: pd.DataFrame, col: int, first: bool) -> None:
    """One line per run (thin, one legend entry per variant): validation accuracy against time; the
    sequential run last, on top."""
    for sequential in (False, True):
        part = curves[curves.sequential == sequential]
        names = ["sequential (1 engine)"] if sequential else variants_in_order(part.variant)
        for name in names:
            runs = part if sequential else part[part.variant == name]
            colour = SEQUENTIAL_COLOUR if sequential else strategy_colour(name)
            for i, (repeat, run) in enumerate(runs.groupby("repeat", sort=True)):
                fig.add_trace(go.Scatter(
                    x=run.seconds, y=run.validation_pct, mode="lines", name=name, legendgroup=name,
                    showlegend=first and i == 0, line=dict(color=colour, width=2.5 if sequential else 1.5),
                    opacity=1.0 if sequential else 0.8,
                    hovertemplate=f"repeat {int(repeat)}<br>" + "%{x:.3f} s<br>validation %{y:.2f} %"
                                  f"<extra>{name}</extra>"), row=1, col=col)


def _target_traces(fig: go.Figure, points: pd.DataFrame, col: int) -> None:
    """Each variant's mean time to the target (± one sd), on the target line; a cross where no run reached it."""
    for _, p in points.iterrows():
        name = "sequential (1 engine)" if p.sequential else p.variant
        colour = SEQUENTIAL_COLOUR if p.sequential else strategy_colour(p.variant)
        if pd.isna(p.seconds):
            continue
        partial = "" if p.reached_runs == p.runs else f" ({int(p.reached_runs)} of {int(p.runs)} runs)"
        fig.add_trace(go.Scatter(
            x=[p.seconds], y=[p.target_pct], mode="markers", legendgroup=name, showlegend=False, name=name,
            error_x=dict(type="data", array=[p.seconds_sd], visible=True, thickness=1),
            marker=dict(size=11, color=colour, symbol="diamond" if not partial else "diamond-open",
                        line=dict(color="white", width=1)),
            hovertemplate=f"time to target{partial}<br>" + "%{x:.3f} s" + f"<extra>{name}</extra>"), row=1, col=col)


def _zoom(fig: go.Figure, points: pd.DataFrame, target: float, col: int, span: float = ZOOM_SPAN,
          below_pp: float = ZOOM_BELOW_PP) -> None:
    """Open panel ``col`` on the race to the target: up to ``span`` × the slowest mean time to it, from
    ``below_pp`` under it (double-click shows every checkpoint)."""
    slowest = (points.seconds + points.seconds_sd).max()
    if pd.notna(slowest) and slowest > 0:
        fig.update_xaxes(range=[0, float(span * slowest)], row=1, col=col)
    fig.update_yaxes(range=[target - below_pp, target + 0.3 * below_pp], row=1, col=col)


def time_frontier(curves: pd.DataFrame, summary: pd.DataFrame, n_engines: int, cores: int | None = None,
                  basis: str = "measured") -> go.Figure:
    """Validation accuracy against training time at ``n_engines``, one panel per input scaling.

    Parameters
    ----------
    curves : DataFrame
        The curves file's rows (``results/communication_curves.csv``).
    summary : DataFrame
        :func:`exemplar.analysis.communication.summarize_to_target` of the same runs.
    n_engines : int
        The engine count drawn (with the 1-engine sequential run).
    cores : int, optional
        For the title: where ``n_engines`` outnumber them, the x axis is the estimate.
    basis : {"measured", "estimate"}
        The time drawn: the measured on-clock training time or the estimate with a core per engine.
    """
    from plotly.subplots import make_subplots

    scales = sorted({bool(s) for s in summary.scale_inputs})
    fig = make_subplots(rows=1, cols=len(scales), subplot_titles=[SCALE_NAME[s] for s in scales],
                        horizontal_spacing=0.06)
    for col, scale in enumerate(scales, start=1):
        _curve_traces(fig, frontier_curves(curves, n_engines, scale, basis), col, col == 1)
        points = target_points(summary, n_engines, scale, basis)
        _target_traces(fig, points, col)
        if len(points):
            target = float(points.target_pct.dropna().iloc[0])
            fig.add_hline(y=target, line=dict(color=REFERENCE, dash="dash"), row=1, col=col,
                          annotation_text=f"target {target:.2f} %", annotation_position="bottom right")
            _zoom(fig, points, target, col)
    what = ("estimated training time with a core per engine (s)" if basis == "estimate"
            else "measured training time (s)")
    over = f"; {n_engines} engines on {cores} cores: estimate" if cores and basis == "estimate" else ""
    fig.update_xaxes(title_text=what)
    fig.update_yaxes(title_text="validation accuracy (%)", col=1)
    fig.update_layout(title=f"Validation accuracy against training time, {n_engines} engines and sequential "
                            f"(diamonds: mean time to the target{over})", height=500,
                      legend=dict(orientation="h", y=-0.22), margin=dict(t=70))
    return fig
