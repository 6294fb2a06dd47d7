"""The report's plotly figures, as plain dicts built from a :class:`ReportData`.

No plotly import here: the page (``_html``) embeds plotly.js and draws these dicts in the
browser. Hover texts are attached in the browser from one per-trial list (``meta: "hover"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from paretune.search.report._data import ReportData
from paretune.search.report._format import (
    axis_title,
    better,
    esc,
    num,
    plural,
    quality_name,
    quality_short,
    quality_title,
    quality_value,
)
from paretune.search.report._fronts import FrontView, FrontZoom, front_zoom
from paretune.search.report._select import COST_UNITS, format_quantity

__all__ = [
    "curves_figure",
    "front_figure",
    "history_figure",
    "hypervolume_figure",
    "importance_figure",
    "multi_figure",
]

_FRONT = "#1f5fbf"
_KNEE = "#d62728"
_DOMINATED = "#7f8c9a"
_PRUNED = "#e8892b"
_MAX_CURVES = 25
_MAX_3D_BACKGROUND = 5000


def _scatter_type(n_points: int, webgl_above: int) -> str:
    return "scattergl" if n_points > webgl_above else "scatter"


def _quality_axis(data: ReportData, *, directed: bool) -> str:
    """The quality's axis title: ``validation accuracy`` (``— higher is better`` when
    ``directed``); another metric always says its direction (``val_rmse — lower is better``).
    """
    quality = data.summary.quality
    if quality.key == "val_accuracy" and not directed:
        return esc(axis_title(quality_name(data.summary.objectives)))
    return f"{esc(quality_title(quality))} — {better(quality)}"


def front_figure(
    data: ReportData, view: FrontView, recommended: int | None, webgl_above: int
) -> dict[str, Any]:
    """The quality (accuracy or the study's metric) against ``view.cost``: front, staircase,
    dominated, pruned, knee (row index)."""
    rows = data.rows
    kind = _scatter_type(len(view.dominated) + len(view.pruned) + len(view.front), webgl_above)

    def points(indices: Sequence[int]) -> tuple[list[float | None], list[float | None]]:
        return (
            [num(rows[i].metrics[view.cost]) for i in indices],
            [num(rows[i].accuracy) for i in indices],
        )

    traces: list[dict[str, Any]] = []
    groups: list[tuple[str, tuple[int, ...], dict[str, Any]]] = [
        (
            f"pruned (last reported {esc(_last_name(data))})",
            view.pruned,
            {"color": _PRUNED, "size": 6, "symbol": "x", "opacity": 0.45},
        ),
        (
            "dominated",
            view.dominated,
            {"color": _DOMINATED, "size": 6, "opacity": 0.35},
        ),
        (
            "breaks a study constraint",
            view.infeasible,
            {"color": "#b0b6bf", "size": 6, "symbol": "square-open", "opacity": 0.5},
        ),
    ]
    for name, indices, marker in groups:
        if not indices:
            continue
        if len(indices) > 5000:  # a dense cloud: smaller, fainter marks keep the front readable
            marker = {**marker, "size": 4, "opacity": marker["opacity"] * 0.6}
        xs, ys = points(indices)
        traces.append(
            {"type": kind, "mode": "markers", "name": f"{name} ({len(indices)})", "x": xs,
             "y": ys, "customdata": list(indices), "meta": "hover", "marker": marker}
        )  # fmt: skip
    traces.append(
        {"type": "scatter", "mode": "lines", "name": "front staircase", "x": list(view.stair_x),
         "y": [num(y) for y in view.stair_y], "line": {"color": _FRONT, "width": 2,
         "shape": "linear"}, "hoverinfo": "skip"}
    )  # fmt: skip
    xs, ys = points(view.front)
    traces.append(
        {"type": "scatter", "mode": "markers", "name": f"Pareto front ({len(view.front)})",
         "x": xs, "y": ys, "customdata": list(view.front), "meta": "hover",
         "marker": {"color": _FRONT, "size": 11, "line": {"color": "white", "width": 1.5}}}
    )  # fmt: skip
    if recommended is not None and rows[recommended].metrics.get(view.cost) is not None:
        xs, ys = points([recommended])
        traces.append(
            {"type": "scatter", "mode": "markers", "name": "recommended (knee)", "x": xs,
             "y": ys, "customdata": [recommended], "meta": "hover",
             "marker": {"color": _KNEE, "size": 20, "symbol": "star",
                        "line": {"color": "white", "width": 1}}}
        )  # fmt: skip
    log = " — log scale" if view.log_x else ""
    layout: dict[str, Any] = {
        "margin": {"l": 70, "r": 20, "t": 44, "b": 60},
        "xaxis": {"title": {"text": f"{esc(axis_title(view.cost))}{log} — lower is better"},
                  "type": "log" if view.log_x else "linear", "gridcolor": "#eceef2"},
        "yaxis": {"title": {"text": _quality_axis(data, directed=True)},
                  "gridcolor": "#eceef2"},
        "legend": {"orientation": "h", "y": -0.18},
        "hovermode": "closest", "plot_bgcolor": "white", "paper_bgcolor": "white",
        "hoverlabel": {"align": "left", "font": {"size": 12}},
    }  # fmt: skip
    notes: list[dict[str, Any]] = []
    if view.cost == "size_bits":
        layout["shapes"], notes = _budget_marks(data)
    zoom = front_zoom(rows, view, keep=[] if recommended is None else [recommended])
    if zoom is not None:
        layout["xaxis"]["range"], layout["yaxis"]["range"] = list(zoom.x), list(zoom.y)
        outside = _outside_notes(data, view, zoom)
        hidden = [f"annotations[{len(notes) + k}].visible" for k in range(len(outside))]
        layout["updatemenus"] = [_zoom_buttons(zoom, hidden)]
        notes += outside
    layout["annotations"] = notes
    return {"data": traces, "layout": layout}


def _zoom_buttons(zoom: FrontZoom, notes: Sequence[str]) -> dict[str, Any]:
    """Two buttons above the plot: the front's frame (as it opens) and every trial; the
    ``notes`` (annotation visibility keys) show with the frame only."""
    return {
        "type": "buttons", "direction": "right", "showactive": True, "active": 0,
        "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom",
        "pad": {"l": 0, "r": 0, "t": 0, "b": 0}, "font": {"size": 11},
        "bgcolor": "#f0f2f5", "bordercolor": "#c5cad3",
        "buttons": [
            {"label": "front", "method": "relayout",
             "args": [{"xaxis.range": list(zoom.x), "yaxis.range": list(zoom.y),
                       **{note: True for note in notes}}]},
            {"label": "all trials", "method": "relayout",
             "args": [{"xaxis.autorange": True, "yaxis.autorange": True,
                       **{note: False for note in notes}}]},
        ],
    }  # fmt: skip


def _outside_notes(data: ReportData, view: FrontView, zoom: FrontZoom) -> list[dict[str, Any]]:
    """A line in the frame's corner naming the front points left outside it."""
    if not zoom.outside:
        return []
    quality = data.summary.quality
    named = ", ".join(
        f"trial {data.rows[i].number} ({esc(quality_short(quality))} "
        f"{quality_value(data.rows[i].accuracy, quality)})"
        for i in zoom.outside[:3]
    )
    more = f" and {len(zoom.outside) - 3} more" if len(zoom.outside) > 3 else ""
    where = "below" if quality.maximize else "above"
    text = f"{plural(len(zoom.outside), 'front point')} {where} this view: {named}{more}"
    return [
        {"x": 1, "y": 0 if quality.maximize else 1, "xref": "paper", "yref": "paper",
         "xanchor": "right", "yanchor": "bottom" if quality.maximize else "top",
         "text": f"{text} · <i>all trials</i> shows them", "showarrow": False,
         "font": {"size": 11, "color": "#1f5fbf"}, "bgcolor": "rgba(255,255,255,0.85)"}
    ]  # fmt: skip


def _last_name(data: ReportData) -> str:
    quality = data.summary.quality
    return "accuracy" if quality.key == "val_accuracy" else quality.key


def _log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Ticks of a log axis over ``[low, high]`` (both > 0), labelled short (``100k``, ``1M``).

    Every decade; 2 and 5 times each decade too when the axis spans less than two decades,
    3 times each up to four; every other decade beyond six. Labels are plain numbers with k,
    M, G, T.

    Examples:
        >>> _log_ticks(4e4, 1.5e6)[1]
        ['50k', '100k', '200k', '500k', '1M']
        >>> _log_ticks(0.36, 56)[1]
        ['1', '3', '10', '30']
        >>> _log_ticks(1e3, 1e10)[1]
        ['1k', '100k', '10M', '1G']
    """
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    span = math.log10(high) - math.log10(low)
    steps = (1.0, 2.0, 5.0) if span < 2 else (1.0, 3.0) if span < 4 else (1.0,)
    every = 2 if span > 6 else 1
    values = [
        m * 10.0**d
        for d in range(first, last + 1)
        for m in steps
        if (d - first) % every == 0 or m != 1.0
    ]
    values = [v for v in values if low * (1 - 1e-9) <= v <= high * (1 + 1e-9)]
    return values, [_short(v) for v in values]


def _short(value: float) -> str:
    """``100000`` -> ``"100k"``, ``0.05`` -> ``"0.05"``."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g}{prefix}"
    return f"{value:.3g}"


def _budget_marks(data: ReportData) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Dotted vertical lines at the size budgets of the "common budgets" table."""
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    view = next((v for v in data.fronts if v.cost == "size_bits"), None)
    seen = (
        [data.rows[i].metrics["size_bits"] for i in (*view.front, *view.dominated)] if view else []
    )
    for pick in data.picks:
        limit = pick.limits.get("size_bits")
        if limit is None or "dense float32" not in pick.label or not seen or limit > max(seen):
            continue  # a budget every strategy fits would only stretch the axis
        share = pick.label.split("≤ ")[-1].split(" of")[0]
        shapes.append(
            {"type": "line", "xref": "x", "yref": "paper", "x0": limit, "x1": limit, "y0": 0,
             "y1": 1, "line": {"color": "#9aa3ae", "width": 1, "dash": "dot"}}
        )  # fmt: skip
        notes.append(
            {"x": limit, "y": 0.02, "xref": "x", "yref": "paper", "text": f"{share} dense",
             "showarrow": False, "xanchor": "left", "font": {"size": 10, "color": "#667085"}}
        )  # fmt: skip
    if not shapes:
        return shapes, notes
    # on a log axis plotly places shapes by data value but annotations by log10(value)
    if view is not None and view.log_x:
        for note in notes:
            note["x"] = math.log10(note["x"])
    return shapes, notes


def multi_figure(data: ReportData, webgl_above: int) -> dict[str, Any] | None:
    """All objectives at once: 3-D scatter for three, a scatter matrix for more (else None)."""
    objectives = data.summary.objectives
    costs = [o for o in objectives if o in COST_UNITS]
    if len(objectives) < 3 or not costs:
        return None
    rows = data.rows
    front = set(data.front)
    others = [
        i
        for i, r in enumerate(rows)
        if r.state == "COMPLETE"
        and i not in front
        and all(math.isfinite(r.metrics.get(c, math.nan)) for c in costs)
    ]
    if len(others) > _MAX_3D_BACKGROUND:
        step = len(others) / _MAX_3D_BACKGROUND
        others = [others[int(k * step)] for k in range(_MAX_3D_BACKGROUND)]

    def column(indices: Sequence[int], name: str) -> list[float | None]:
        if name not in COST_UNITS:  # the quality: accuracy or the study's metric
            return [num(rows[i].accuracy) for i in indices]
        return [num(rows[i].metrics[name]) for i in indices]

    groups = (
        ("others (sample)" if len(others) == _MAX_3D_BACKGROUND else "others", others,
         {"color": _DOMINATED, "size": 3, "opacity": 0.35}),
        ("Pareto front", list(data.front), {"color": _FRONT, "size": 6}),
    )  # fmt: skip
    traces: list[dict[str, Any]] = []
    if len(objectives) == 3:
        names = [quality_name(objectives), *costs][:3]
        for label, indices, marker in groups:
            traces.append(
                {"type": "scatter3d", "mode": "markers", "name": f"{label} ({len(indices)})",
                 "x": column(indices, names[1]), "y": column(indices, names[2]),
                 "z": column(indices, names[0]), "customdata": list(indices), "meta": "hover",
                 "marker": marker}
            )  # fmt: skip
        log = {view.cost: view.log_x for view in data.fronts}
        shown = [*others, *data.front]

        def axis(name: str) -> dict[str, Any]:
            title = {"text": esc(axis_title(name)) + (" (log)" if log.get(name) else "")}
            values = [v for v in column(shown, name) if v is not None and v > 0]
            if not log.get(name) or not values:
                return {"title": title, "type": "linear", "nticks": 6}
            ticks, labels = _log_ticks(min(values), max(values))
            return {"title": title, "type": "log", "tickmode": "array", "tickvals": ticks,
                    "ticktext": labels}  # fmt: skip

        layout = {
            "margin": {"l": 0, "r": 0, "t": 10, "b": 0},
            "scene": {"xaxis": axis(names[1]), "yaxis": axis(names[2]), "zaxis": axis(names[0]),
                      "camera": {"eye": {"x": 1.6, "y": -1.6, "z": 0.8}}},
            "legend": {"orientation": "h"}, "paper_bgcolor": "white",
        }  # fmt: skip
        return {"data": traces, "layout": layout}
    names = [quality_name(objectives), *costs]
    for label, indices, marker in groups:
        traces.append(
            {"type": "splom", "name": f"{label} ({len(indices)})",
             "dimensions": [{"label": esc(n), "values": column(indices, n)} for n in names],
             "customdata": list(indices), "meta": "hover", "marker": marker,
             "diagonal": {"visible": False}, "showupperhalf": False}
        )  # fmt: skip
    layout = {"margin": {"l": 60, "r": 20, "t": 20, "b": 60}, "paper_bgcolor": "white",
              "plot_bgcolor": "white", "legend": {"orientation": "h"}}  # fmt: skip
    return {"data": traces, "layout": layout}


def hypervolume_figure(data: ReportData) -> dict[str, Any]:
    """Hypervolume of the feasible front against trial number."""
    hv = data.hypervolume
    traces = [
        {"type": "scatter", "mode": "lines+markers", "name": "hypervolume",
         "x": list(hv.trial_numbers), "y": [num(v) for v in hv.values],
         "line": {"color": _FRONT, "shape": "hv"}, "marker": {"size": 4},
         "hovertemplate": "after trial %{x}: %{y:.4f}<extra></extra>"}
    ]  # fmt: skip
    layout = {
        "margin": {"l": 70, "r": 20, "t": 20, "b": 50}, "plot_bgcolor": "white",
        "xaxis": {"title": {"text": "trial number"}, "gridcolor": "#eceef2"},
        "yaxis": {"title": {"text": "dominated share of the box"}, "gridcolor": "#eceef2",
                  "rangemode": "tozero"},
        "paper_bgcolor": "white",
    }  # fmt: skip
    return {"data": traces, "layout": layout}


def history_figure(data: ReportData, webgl_above: int) -> dict[str, Any]:
    """The quality of each complete trial and the best so far."""
    rows = data.rows
    indices = list(data.history.rows)
    xs = [rows[i].number for i in indices]
    traces = [
        {"type": _scatter_type(len(indices), webgl_above), "mode": "markers",
         "name": "complete trial", "x": xs, "y": [num(rows[i].accuracy) for i in indices],
         "customdata": indices, "meta": "hover",
         "marker": {"color": _DOMINATED, "size": 5, "opacity": 0.5}},
        {"type": _scatter_type(len(indices), webgl_above), "mode": "lines",
         "name": "best so far", "x": xs, "y": [num(v) for v in data.history.best_so_far],
         "line": {"color": _FRONT, "width": 2, "shape": "hv"}, "hoverinfo": "skip"},
    ]  # fmt: skip
    layout = {
        "margin": {"l": 70, "r": 20, "t": 20, "b": 50}, "plot_bgcolor": "white",
        "xaxis": {"title": {"text": "trial number"}, "gridcolor": "#eceef2"},
        "yaxis": {"title": {"text": _quality_axis(data, directed=False)},
                  "gridcolor": "#eceef2"},
        "legend": {"orientation": "h", "y": -0.22}, "paper_bgcolor": "white",
        "hovermode": "closest",
    }  # fmt: skip
    return {"data": traces, "layout": layout}


def importance_figure(data: ReportData) -> dict[str, Any] | None:
    """Parameter importances per objective as grouped bars (None when not computed)."""
    if not data.importances:
        return None
    params = sorted({p for values in data.importances.values() for p in values})
    first = next(iter(data.importances.values()))
    params.sort(key=lambda p: first.get(p, 0.0))
    # names go to plotly as its HTML subset (ticks, legend, hover): escaped
    traces = [
        {"type": "bar", "orientation": "h", "name": esc(axis_title(objective)),
         "y": [esc(p) for p in params], "x": [num(values.get(p, 0.0), 4) for p in params],
         "hovertemplate": "%{y}: %{x:.3f}<extra>" + esc(objective) + "</extra>"}
        for objective, values in data.importances.items()
    ]  # fmt: skip
    layout = {
        "barmode": "group", "margin": {"l": 120, "r": 20, "t": 36, "b": 50},
        "xaxis": {"title": {"text": "importance (fANOVA, share of variance)"},
                  "gridcolor": "#eceef2"},
        "yaxis": {"automargin": True, "ticksuffix": "  "},
        "plot_bgcolor": "white", "paper_bgcolor": "white",
        # above the plot: below it the legend would sit on the x axis title
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02,
                   "yanchor": "bottom"},
    }  # fmt: skip
    return {"data": traces, "layout": layout}


def curves_figure(data: ReportData) -> dict[str, Any] | None:
    """Learning curves of (at most 25) front trials, shaded by cost (None without curves)."""
    rows = data.rows
    chosen = [i for i in data.front if rows[i].curve]
    if not chosen:
        return None
    if len(chosen) > _MAX_CURVES:
        step = len(chosen) / _MAX_CURVES
        chosen = [chosen[int(k * step)] for k in range(_MAX_CURVES)]
    cost = next((o for o in data.summary.objectives if o in COST_UNITS), None)
    traces = []
    for k, i in enumerate(chosen):
        row = rows[i]
        label = f"trial {row.number}"
        if cost and cost in row.metrics:
            label += f" ({format_quantity(row.metrics[cost], cost=cost)})"
        traces.append(
            {"type": "scatter", "mode": "lines", "name": esc(label),
             "x": list(range(1, len(row.curve) + 1)), "y": [num(v) for v in row.curve],
             "customdata": [i] * len(row.curve), "meta": "hover",
             "line": {"color": _shade(k / max(1, len(chosen) - 1)), "width": 1.8}}
        )  # fmt: skip
    legend = f"light: small {esc(cost)} · dark: large" if cost else ""
    layout = {
        "margin": {"l": 70, "r": 20, "t": 20, "b": 50}, "plot_bgcolor": "white",
        "legend": {"title": {"text": legend}},
        "xaxis": {"title": {"text": "epoch"}, "gridcolor": "#eceef2", "dtick": 1},
        "yaxis": {"title": {"text": _quality_axis(data, directed=False)},
                  "gridcolor": "#eceef2"},
        "paper_bgcolor": "white", "hovermode": "closest",
    }  # fmt: skip
    return {"data": traces, "layout": layout}


def _shade(t: float) -> str:
    """A blue from light (t=0) to dark (t=1)."""
    light, dark = (158, 202, 225), (8, 48, 107)
    r, g, b = (round(a + (c - a) * t) for a, c in zip(light, dark, strict=True))
    return f"rgb({r},{g},{b})"
