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
    quality_name,
    quality_title,
)
from paretune.search.report._fronts import FrontView
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
        return axis_title(quality_name(data.summary.objectives))
    return f"{quality_title(quality)} — {better(quality)}"


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
            f"pruned (last reported {_last_name(data)})",
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
    layout = {
        "margin": {"l": 70, "r": 20, "t": 30, "b": 60},
        "xaxis": {"title": {"text": f"{axis_title(view.cost)}{log} — lower is better"},
                  "type": "log" if view.log_x else "linear", "gridcolor": "#eceef2"},
        "yaxis": {"title": {"text": _quality_axis(data, directed=True)},
                  "gridcolor": "#eceef2"},
        "legend": {"orientation": "h", "y": -0.18},
        "hovermode": "closest", "plot_bgcolor": "white", "paper_bgcolor": "white",
        "hoverlabel": {"align": "left", "font": {"size": 12}},
    }  # fmt: skip
    if view.cost == "size_bits":
        layout["shapes"], layout["annotations"] = _budget_marks(data)
    return {"data": traces, "layout": layout}


def _last_name(data: ReportData) -> str:
    quality = data.summary.quality
    return "accuracy" if quality.key == "val_accuracy" else quality.key


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

        def axis(name: str) -> dict[str, Any]:
            suffix = " (log)" if log.get(name) else ""
            return {"title": {"text": axis_title(name) + suffix},
                    "type": "log" if log.get(name) else "linear"}  # fmt: skip

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
             "dimensions": [{"label": n, "values": column(indices, n)} for n in names],
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
    traces = [
        {"type": "bar", "orientation": "h", "name": axis_title(objective),
         "y": params, "x": [num(values.get(p, 0.0), 4) for p in params],
         "hovertemplate": "%{y}: %{x:.3f}<extra>" + esc(objective) + "</extra>"}
        for objective, values in data.importances.items()
    ]  # fmt: skip
    layout = {
        "barmode": "group", "margin": {"l": 120, "r": 20, "t": 20, "b": 50},
        "xaxis": {"title": {"text": "importance (fANOVA, share of variance)"},
                  "gridcolor": "#eceef2"},
        "plot_bgcolor": "white", "paper_bgcolor": "white", "legend": {"orientation": "h"},
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
    legend = f"light: small {cost} · dark: large" if cost else ""
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
