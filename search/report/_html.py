"""Draw a :class:`ReportData` as one self-contained, offline HTML file (plotly, lazily imported).

The file embeds plotly.js once and makes no network request: no CDN, no web font, no
MathJax. Every string that comes from the study (name, task, strategy values, reasons) is
HTML-escaped; figure data sits in ``<script type="application/json">`` blocks with ``<``,
``>`` and ``&`` written as JSON escapes, so nothing in a study can close a tag. Plots with
more than ``webgl_above`` points use WebGL traces (``scattergl``). Hover texts are stored once
per trial and attached to the traces in the browser, which keeps a 20,000-trial report small.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from paretune.search.report._data import FrontView, ReportData, TrialRow
from paretune.search.report._select import Selection, format_quantity

__all__ = ["render_report_html", "write_report"]

_LABELS = {
    "accuracy": "validation accuracy",
    "size_bits": "model size (bits)",
    "bitops": "BitOps per inference",
    "latency_ms": "latency (ms)",
    "train_seconds": "training time (s)",
    "params": "parameters",
    "nonzero_params": "nonzero parameters",
}
_FRONT = "#1f5fbf"
_KNEE = "#d62728"
_DOMINATED = "#7f8c9a"
_PRUNED = "#e8892b"
_MAX_TABLE_ROWS = 300
_MAX_CURVES = 25
_MAX_3D_BACKGROUND = 5000

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:34px 0 8px;border-bottom:1px solid
#d5d9e0;padding-bottom:4px}h3{font-size:1.05em;margin:18px 0 6px}
p.lead{color:#4a5261;margin:4px 0 14px}.muted{color:#667085}
nav a{margin-right:14px;color:#1f5fbf;text-decoration:none;font-size:.92em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:10px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 12px}
.card .k{font-size:.78em;color:#667085;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:1.2em;font-weight:600;margin-top:2px;word-break:break-word}
.card .s{font-size:.85em;color:#4a5261}
.reco{background:#fff;border:1px solid #dde1e7;border-left:4px solid #d62728;border-radius:6px;
padding:10px 14px;margin-top:12px}
.plot{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:8px 0;height:480px}
.plot.tall{height:620px}.plot.short{height:380px}
.scroll{overflow-x:auto;background:#fff;border:1px solid #dde1e7;border-radius:6px}
table{border-collapse:collapse;font-size:.86em;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
th{background:#f0f2f5;position:sticky;top:0;font-weight:600}
td.t,th.t{text-align:left}tr.reco-row td{background:#fff4f4}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
dl.kv dt{color:#667085}dl.kv dd{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace}
.help{font-size:.9em;color:#4a5261;margin:2px 0 8px}
"""

_BOOT = """
(function(){
  var hover = JSON.parse(document.getElementById('paretune-hover').textContent);
  var config = {displaylogo:false, responsive:true, showLink:false, showSendToCloud:false,
                showEditInChartStudio:false, toImageButtonOptions:{format:'png', scale:2}};
  window.paretuneReport = {figures:{}};
  document.querySelectorAll('script.paretune-figure').forEach(function(node){
    var fig = JSON.parse(node.textContent);
    fig.data.forEach(function(trace){
      if (trace.meta === 'hover') {
        trace.text = trace.customdata.map(function(i){ return hover[i]; });
        trace.hovertemplate = '%{text}<extra></extra>';
      }
    });
    window.paretuneReport.figures[node.dataset.target] = fig;
    Plotly.newPlot(node.dataset.target, fig.data, fig.layout, config);
  });
  window.paretuneReport.readyAt = performance.now();
  window.paretuneReport.ready = true;
})();
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _json_for_script(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, default=_json_default)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        item: Any = value.item()
        return item
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _num(value: float, digits: int = 6) -> float | None:
    """Round for the file (None for NaN/inf, which JSON cannot hold)."""
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _metric(row: TrialRow, name: str) -> str:
    value = row.metrics.get(name, math.nan)
    if not math.isfinite(value):
        return "–"
    if name == "sparsity":
        return f"{value:.1%}"
    if name == "epochs":
        return f"{int(value)}"
    return str(format_quantity(value, cost=name))


def _acc(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "–"


def _hover_text(row: TrialRow, objectives: Sequence[str]) -> str:
    lines = [f"<b>trial {row.number}</b> · {row.state.lower()}"]
    accuracy = f"val acc {_acc(row.accuracy)}"
    if row.state == "PRUNED":
        accuracy = f"last val acc {_acc(row.accuracy)} (epoch {len(row.curve)})"
    if math.isfinite(row.test_accuracy):
        accuracy += f" · test {_acc(row.test_accuracy)}"
    lines.append(accuracy)
    shown = [o for o in objectives if o != "accuracy"]
    shown += [c for c in ("size_bits", "bitops", "latency_ms", "sparsity") if c not in shown]
    lines.append(" · ".join(f"{c} {_metric(row, c)}" for c in shown if c in row.metrics))
    if not row.feasible:
        lines.append("breaks a study constraint")
    if row.note:
        lines.append(f"note: {row.note}")
    lines.extend(f"{k} = {_fmt_value(v)}" for k, v in row.strategy.items())
    # The first line is ours (markup); every other line carries study strings: escape them.
    return "<br>".join(line if i == 0 else _esc(line) for i, line in enumerate(lines))


def _axis_title(name: str) -> str:
    return _LABELS.get(name, name)


def _scatter_type(n_points: int, webgl_above: int) -> str:
    return "scattergl" if n_points > webgl_above else "scatter"


def _front_figure(
    data: ReportData, view: FrontView, recommended: int | None, webgl_above: int
) -> dict[str, Any]:
    rows = data.rows
    kind = _scatter_type(len(view.dominated) + len(view.pruned) + len(view.front), webgl_above)

    def points(indices: Sequence[int]) -> tuple[list[float | None], list[float | None]]:
        return (
            [_num(rows[i].metrics[view.cost]) for i in indices],
            [_num(rows[i].accuracy) for i in indices],
        )

    traces: list[dict[str, Any]] = []
    groups: list[tuple[str, tuple[int, ...], dict[str, Any]]] = [
        (
            "pruned (last reported accuracy)",
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
         "y": [_num(y) for y in view.stair_y], "line": {"color": _FRONT, "width": 2,
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
        "xaxis": {"title": {"text": f"{_axis_title(view.cost)}{log} — lower is better"},
                  "type": "log" if view.log_x else "linear", "gridcolor": "#eceef2"},
        "yaxis": {"title": {"text": "validation accuracy — higher is better"},
                  "gridcolor": "#eceef2"},
        "legend": {"orientation": "h", "y": -0.18},
        "hovermode": "closest", "plot_bgcolor": "white", "paper_bgcolor": "white",
        "hoverlabel": {"align": "left", "font": {"size": 12}},
    }  # fmt: skip
    if view.cost == "size_bits":
        layout["shapes"], layout["annotations"] = _budget_marks(data)
    return {"data": traces, "layout": layout}


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


def _multi_figure(data: ReportData, webgl_above: int) -> dict[str, Any] | None:
    objectives = data.summary.objectives
    costs = [o for o in objectives if o != "accuracy"]
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
        if name == "accuracy":
            return [_num(rows[i].accuracy) for i in indices]
        return [_num(rows[i].metrics[name]) for i in indices]

    groups = (
        ("others (sample)" if len(others) == _MAX_3D_BACKGROUND else "others", others,
         {"color": _DOMINATED, "size": 3, "opacity": 0.35}),
        ("Pareto front", list(data.front), {"color": _FRONT, "size": 6}),
    )  # fmt: skip
    traces: list[dict[str, Any]] = []
    if len(objectives) == 3:
        names = ["accuracy", *costs][:3]
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
            return {"title": {"text": _axis_title(name) + suffix},
                    "type": "log" if log.get(name) else "linear"}  # fmt: skip

        layout = {
            "margin": {"l": 0, "r": 0, "t": 10, "b": 0},
            "scene": {"xaxis": axis(names[1]), "yaxis": axis(names[2]), "zaxis": axis(names[0]),
                      "camera": {"eye": {"x": 1.6, "y": -1.6, "z": 0.8}}},
            "legend": {"orientation": "h"}, "paper_bgcolor": "white",
        }  # fmt: skip
        return {"data": traces, "layout": layout}
    names = ["accuracy", *costs]
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


def _hypervolume_figure(data: ReportData) -> dict[str, Any]:
    hv = data.hypervolume
    traces = [
        {"type": "scatter", "mode": "lines+markers", "name": "hypervolume",
         "x": list(hv.trial_numbers), "y": [_num(v) for v in hv.values],
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


def _history_figure(data: ReportData, webgl_above: int) -> dict[str, Any]:
    rows = data.rows
    indices = list(data.history.rows)
    xs = [rows[i].number for i in indices]
    traces = [
        {"type": _scatter_type(len(indices), webgl_above), "mode": "markers",
         "name": "complete trial", "x": xs, "y": [_num(rows[i].accuracy) for i in indices],
         "customdata": indices, "meta": "hover",
         "marker": {"color": _DOMINATED, "size": 5, "opacity": 0.5}},
        {"type": _scatter_type(len(indices), webgl_above), "mode": "lines",
         "name": "best so far", "x": xs, "y": [_num(v) for v in data.history.best_so_far],
         "line": {"color": _FRONT, "width": 2, "shape": "hv"}, "hoverinfo": "skip"},
    ]  # fmt: skip
    layout = {
        "margin": {"l": 70, "r": 20, "t": 20, "b": 50}, "plot_bgcolor": "white",
        "xaxis": {"title": {"text": "trial number"}, "gridcolor": "#eceef2"},
        "yaxis": {"title": {"text": "validation accuracy"}, "gridcolor": "#eceef2"},
        "legend": {"orientation": "h", "y": -0.22}, "paper_bgcolor": "white",
        "hovermode": "closest",
    }  # fmt: skip
    return {"data": traces, "layout": layout}


def _importance_figure(data: ReportData) -> dict[str, Any] | None:
    if not data.importances:
        return None
    params = sorted({p for values in data.importances.values() for p in values})
    first = next(iter(data.importances.values()))
    params.sort(key=lambda p: first.get(p, 0.0))
    traces = [
        {"type": "bar", "orientation": "h", "name": _axis_title(objective),
         "y": params, "x": [_num(values.get(p, 0.0), 4) for p in params],
         "hovertemplate": "%{y}: %{x:.3f}<extra>" + _esc(objective) + "</extra>"}
        for objective, values in data.importances.items()
    ]  # fmt: skip
    layout = {
        "barmode": "group", "margin": {"l": 120, "r": 20, "t": 20, "b": 50},
        "xaxis": {"title": {"text": "importance (fANOVA, share of variance)"},
                  "gridcolor": "#eceef2"},
        "plot_bgcolor": "white", "paper_bgcolor": "white", "legend": {"orientation": "h"},
    }  # fmt: skip
    return {"data": traces, "layout": layout}


def _curves_figure(data: ReportData) -> dict[str, Any] | None:
    rows = data.rows
    chosen = [i for i in data.front if rows[i].curve]
    if not chosen:
        return None
    if len(chosen) > _MAX_CURVES:
        step = len(chosen) / _MAX_CURVES
        chosen = [chosen[int(k * step)] for k in range(_MAX_CURVES)]
    cost = next((o for o in data.summary.objectives if o != "accuracy"), None)
    traces = []
    for k, i in enumerate(chosen):
        row = rows[i]
        label = f"trial {row.number}"
        if cost and cost in row.metrics:
            label += f" ({format_quantity(row.metrics[cost], cost=cost)})"
        traces.append(
            {"type": "scatter", "mode": "lines", "name": _esc(label),
             "x": list(range(1, len(row.curve) + 1)), "y": [_num(v) for v in row.curve],
             "customdata": [i] * len(row.curve), "meta": "hover",
             "line": {"color": _shade(k / max(1, len(chosen) - 1)), "width": 1.8}}
        )  # fmt: skip
    legend = f"light: small {cost} · dark: large" if cost else ""
    layout = {
        "margin": {"l": 70, "r": 20, "t": 20, "b": 50}, "plot_bgcolor": "white",
        "legend": {"title": {"text": legend}},
        "xaxis": {"title": {"text": "epoch"}, "gridcolor": "#eceef2", "dtick": 1},
        "yaxis": {"title": {"text": "validation accuracy"}, "gridcolor": "#eceef2"},
        "paper_bgcolor": "white", "hovermode": "closest",
    }  # fmt: skip
    return {"data": traces, "layout": layout}


def _shade(t: float) -> str:
    """A blue from light (t=0) to dark (t=1)."""
    light, dark = (158, 202, 225), (8, 48, 107)
    r, g, b = (round(a + (c - a) * t) for a, c in zip(light, dark, strict=True))
    return f"rgb({r},{g},{b})"


def _card(key: str, value: str, sub: str = "") -> str:
    extra = f'<div class="s">{sub}</div>' if sub else ""
    return f'<div class="card"><div class="k">{key}</div><div class="v">{value}</div>{extra}</div>'


def _strategy_list(strategy: Mapping[str, Any]) -> str:
    items = "".join(
        f"<dt>{_esc(k)}</dt><dd>{_esc(_fmt_value(v))}</dd>" for k, v in strategy.items()
    )
    return f'<dl class="kv">{items}</dl>'


def _summary_html(data: ReportData) -> str:
    s = data.summary
    finished = s.n_complete + s.n_pruned + s.n_failed
    directions = ", ".join(
        f"{_esc(o)} ({'max' if o == 'accuracy' else 'min'})" for o in s.objectives
    )
    constraints = ", ".join(
        f"{_esc(c)} ≤ {_esc(format_quantity(v, cost=c))}" for c, v in s.constraints.items()
    )
    planned = s.epochs_spent + s.epochs_saved
    saved = f"{s.epochs_saved / planned:.0%} of planned" if planned else ""
    best = (
        f"{s.best_accuracy:.4f}" if math.isfinite(s.best_accuracy) else "–",
        f"trial {s.best_trial}" if s.best_trial >= 0 else "no complete trial",
    )
    cards = [
        _card("task", _esc(s.task or "unknown")),
        _card("objectives", directions, f"constraints: {constraints}" if constraints else ""),
        _card(
            "trials",
            f"{s.n_complete} complete",
            f"{s.n_pruned} pruned · {s.n_failed} failed"
            + (f" · {s.n_running} running" if s.n_running else "")
            + f" · {finished} finished",
        ),
        _card(
            "epochs trained",
            f"{s.epochs_spent:,}",
            f"{s.epochs_saved:,} saved by pruning" + (f" ({saved})" if saved else ""),
        ),
        _card("best validation accuracy", best[0], best[1]),
        _card("Pareto front", f"{len(data.front)} strategies", "non-dominated on all objectives"),
    ]
    return '<div class="cards">' + "".join(cards) + "</div>" + _recommendation_html(data)


def _recommendation_html(data: ReportData) -> str:
    selection = data.summary.recommended
    if selection.chosen is None:
        return f'<div class="reco"><b>No recommendation.</b> {_esc(selection.reason)}</div>'
    return (
        '<div class="reco"><b>Recommended strategy — trial '
        f"{selection.chosen.number}</b> (the knee of the front)<br>"
        f'<span class="help">{_esc(selection.reason)}</span>'
        f"{_strategy_list(selection.chosen.strategy)}"
        '<div class="help">Reproduce it: <code>paretune select STUDY --knee --export DIR'
        "</code></div></div>"
    )


def _front_table_html(data: ReportData) -> str:
    rows = data.rows
    costs = [o for o in data.summary.objectives if o != "accuracy"]
    metrics = [
        *costs,
        *(m for m in ("size_bits", "sparsity", "bitops", "latency_ms") if m not in costs),
    ]
    recommended = data.summary.recommended.chosen
    head = ["trial", "val acc", "test acc", *metrics, *data.dimensions]
    lines = ["<tr>" + "".join(
        f'<th class="{"t" if h in data.dimensions else ""}">{_esc(h)}</th>' for h in head
    ) + "</tr>"]  # fmt: skip
    shown = data.front[:_MAX_TABLE_ROWS]
    for i in shown:
        row = rows[i]
        mark = ' class="reco-row"' if recommended and recommended.number == row.number else ""
        number = f"★ {row.number}" if mark else str(row.number)
        cells = [number, _acc(row.accuracy), _acc(row.test_accuracy)]
        cells += [_metric(row, m) for m in metrics]
        values = [
            _esc(_fmt_value(row.strategy[d])) if d in row.strategy else "–" for d in data.dimensions
        ]
        lines.append(
            f"<tr{mark}>"
            + "".join(f"<td>{_esc(c)}</td>" for c in cells)
            + "".join(f'<td class="t">{v}</td>' for v in values)
            + "</tr>"
        )
    more = ""
    if len(data.front) > len(shown):
        more = f'<p class="muted">Showing the {len(shown)} cheapest of {len(data.front)}.</p>'
    return f'<div class="scroll"><table>{"".join(lines)}</table></div>{more}'


def _picks_html(data: ReportData) -> str:
    costs = [o for o in data.summary.objectives if o != "accuracy"]
    metrics = [*costs, *(m for m in ("size_bits", "sparsity") if m not in costs)]
    by_number = {r.number: r for r in data.rows}
    head = ["constraint", "limit", "trial", "val acc", "test acc", *metrics, "bits", "prune_rate"]
    header = (
        f'<th class="t">{_esc(h)}</th>' if k < 2 else f"<th>{_esc(h)}</th>"
        for k, h in enumerate(head)
    )
    lines = ["<tr>" + "".join(header) + "</tr>"]
    for pick in data.picks:
        limit = (
            ", ".join(f"{c} ≤ {format_quantity(v, cost=c)}" for c, v in pick.limits.items())
            or "none"
        )
        chosen = pick.selection.chosen
        if chosen is None:
            cells = ["nothing feasible", "–", "–"] + ["–"] * (len(metrics) + 2)
        else:
            row = by_number[chosen.number]
            cells = [str(row.number), _acc(row.accuracy), _acc(row.test_accuracy)]
            cells += [_metric(row, m) for m in metrics]
            cells += [_fmt_value(row.strategy.get("bits", "–")),
                      _fmt_value(row.strategy.get("prune_rate", "–"))]  # fmt: skip
        lines.append(
            f'<tr><td class="t">{_esc(pick.label)}</td><td class="t">{_esc(limit)}</td>'
            + "".join(f"<td>{_esc(c)}</td>" for c in cells)
            + "</tr>"
        )
    return f'<div class="scroll"><table>{"".join(lines)}</table></div>'


def _figure_block(target: str, figure: dict[str, Any] | None, css: str = "plot") -> str:
    if figure is None:
        return '<p class="muted">Not enough data for this view.</p>'
    return (
        f'<div id="{target}" class="{css}"></div>'
        f'<script type="application/json" class="paretune-figure" data-target="{target}">'
        f"{_json_for_script(figure)}</script>"
    )


def _recommended_row(data: ReportData, selection: Selection) -> int | None:
    if selection.chosen is None:
        return None
    for i, row in enumerate(data.rows):
        if row.number == selection.chosen.number:
            return i
    return None


def render_report_html(data: ReportData, *, webgl_above: int = 1000) -> str:
    """The report as one HTML document (plotly.js embedded, no network access needed).

    Args:
        data: What :func:`build_report_data` computed.
        webgl_above: Scatter plots with more points than this use WebGL (``scattergl``).

    Returns:
        The HTML text.
    """
    import plotly.offline

    s = data.summary
    recommended = _recommended_row(data, s.recommended)
    hover = [_hover_text(row, s.objectives) for row in data.rows]
    fronts = "".join(
        f"<h3>Accuracy against {_esc(_axis_title(view.cost))}</h3>"
        + _figure_block(f"plot-front-{i}", _front_figure(data, view, recommended, webgl_above))
        for i, view in enumerate(data.fronts)
    )
    multi = _multi_figure(data, webgl_above)
    multi_html = ""
    if multi is not None:
        multi_html = (
            "<h3>All objectives together</h3><p class='help'>Blue: strategies no other beats on "
            "every objective at once. Drag to rotate.</p>"
            + _figure_block("plot-multi", multi, "plot tall")
        )
    title = f"paretune report — {s.study_name}"
    body = f"""
<main>
<h1>{_esc(title)}</h1>
<p class="lead">Each point is one training strategy (optimizer, learning rate, schedule, batch
size, regularization, prune rate, bit width) that was really trained and measured. The
<b>Pareto front</b> holds the strategies no other strategy beats on accuracy <i>and</i> cost at
once: pick one of those for your budget. Accuracy is measured on the validation split; the
test accuracy is reported alongside but was never used to choose.</p>
<nav><a href="#summary">Summary</a><a href="#front">Pareto front</a><a href="#table">Front
table</a><a href="#picks">Budgets</a><a href="#progress">Progress</a><a
href="#importance">Importance</a><a href="#curves">Learning curves</a></nav>
<h2 id="summary">Summary</h2>
{_summary_html(data)}
<h2 id="front">Pareto front</h2>
<p class="help">Hover a point to see its whole strategy. Blue dots joined by the staircase:
the front (for each cost, the best accuracy reachable at or below it). Grey: dominated
strategies. Orange ×: trials stopped early by the pruner, drawn at their last reported
accuracy. Red star: the recommended strategy. Click legend entries to hide groups.</p>
{fronts}
{multi_html}
<h2 id="table">Non-dominated strategies</h2>
<p class="help">Sorted by cost, cheapest first; ★ marks the recommended strategy. Size counts
the stored weights (nonzero weights × bits); BitOps are per inference; sparsity is the share
of weights pruned to zero.</p>
{_front_table_html(data)}
<h2 id="picks">What common budgets pick</h2>
<p class="help">The most accurate strategy whose size fits a share of the dense float32 model
(every parameter stored in 32 bits), and the knee of the front.</p>
{_picks_html(data)}
<h2 id="progress">Progress of the search</h2>
<h3>Hypervolume against trials</h3>
<p class="help">How much of the accuracy–cost space the front covers (reference: accuracy 0 and
1.1 × the largest cost seen); a flat curve means more trials stopped paying off.</p>
{_figure_block("plot-hypervolume", _hypervolume_figure(data), "plot short")}
<h3>Optimization history</h3>
{_figure_block("plot-history", _history_figure(data, webgl_above), "plot short")}
<h2 id="importance">Which settings matter</h2>
<p class="help">fANOVA importance of each searched parameter for each objective (Optuna's
evaluator, on a sample of at most 1,000 complete trials).</p>
{_figure_block("plot-importance", _importance_figure(data), "plot short")}
<h2 id="curves">Learning curves of the front</h2>
{_figure_block("plot-curves", _curves_figure(data))}
<p class="muted">Generated by paretune from the Optuna study {_esc(s.study_name)}.</p>
</main>"""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_esc(title)}</title><style>{_CSS}</style>"
        f"<script>{plotly.offline.get_plotlyjs()}</script></head><body>{body}"
        f'<script type="application/json" id="paretune-hover">{_json_for_script(hover)}</script>'
        f"<script>{_BOOT}</script></body></html>\n"
    )


def write_report(data: ReportData, path: str | Path, *, webgl_above: int = 1000) -> Path:
    """Write :func:`render_report_html` to ``path`` (parent folders created).

    Args:
        data: The report data.
        path: Where to write the HTML file.
        webgl_above: See :func:`render_report_html`.

    Returns:
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report_html(data, webgl_above=webgl_above), encoding="utf-8")
    return target
