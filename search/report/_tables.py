"""The report's HTML blocks: summary cards, the recommendation, the front and budget tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paretune.search.report._data import ReportData
from paretune.search.report._format import (
    better,
    esc,
    fmt_value,
    metric,
    quality_short,
    quality_title,
    quality_value,
    test_short,
)
from paretune.search.report._select import COST_UNITS, format_quantity
from paretune.search.report._trials import Quality

__all__ = ["front_table_html", "picks_html", "summary_html"]

_MAX_TABLE_ROWS = 300


def _card(key: str, value: str, sub: str = "") -> str:
    extra = f'<div class="s">{sub}</div>' if sub else ""
    return f'<div class="card"><div class="k">{key}</div><div class="v">{value}</div>{extra}</div>'


def _strategy_list(strategy: Mapping[str, Any]) -> str:
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(fmt_value(v))}</dd>" for k, v in strategy.items())
    return f'<dl class="kv">{items}</dl>'


def summary_html(data: ReportData) -> str:
    """The summary cards and the recommended strategy."""
    s = data.summary
    quality = s.quality
    finished = s.n_complete + s.n_pruned + s.n_failed

    def maximized(objective: str) -> bool:
        return quality.maximize if objective == quality.objective else objective == "accuracy"

    directions = ", ".join(f"{esc(o)} ({'max' if maximized(o) else 'min'})" for o in s.objectives)
    constraints = ", ".join(
        f"{esc(c)} ≤ {esc(format_quantity(v, cost=c))}" for c, v in s.constraints.items()
    )
    planned = s.epochs_spent + s.epochs_saved
    saved = f"{s.epochs_saved / planned:.0%} of planned" if planned else ""
    best = (
        quality_value(s.best_accuracy, quality),
        f"trial {s.best_trial}" if s.best_trial >= 0 else "no complete trial",
    )
    cards = [
        _card("task", esc(s.task or "unknown")),
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
        _card(_best_title(quality), best[0], best[1]),
        _card("Pareto front", f"{len(data.front)} strategies", "non-dominated on all objectives"),
    ]
    return '<div class="cards">' + "".join(cards) + "</div>" + _recommendation_html(data)


def _best_title(quality: Quality) -> str:
    """``"best validation accuracy"``, else ``"best val_rmse (lower is better)"``."""
    if quality.key == "val_accuracy":
        return "best validation accuracy"
    return f"best {esc(quality_title(quality))} ({better(quality)})"


def _recommendation_html(data: ReportData) -> str:
    selection = data.summary.recommended
    if selection.chosen is None:
        return f'<div class="reco"><b>No recommendation.</b> {esc(selection.reason)}</div>'
    return (
        '<div class="reco"><b>Recommended strategy — trial '
        f"{selection.chosen.number}</b> (the knee of the front)<br>"
        f'<span class="help">{esc(selection.reason)}</span>'
        f"{_strategy_list(selection.chosen.strategy)}"
        '<div class="help">Reproduce it: <code>paretune select STUDY --knee --export DIR'
        "</code></div></div>"
    )


def front_table_html(data: ReportData) -> str:
    """The non-dominated strategies (at most 300, cheapest first) with costs and settings."""
    rows = data.rows
    costs = [o for o in data.summary.objectives if o in COST_UNITS]
    metrics = [
        *costs,
        *(m for m in ("size_bits", "sparsity", "bitops", "latency_ms") if m not in costs),
    ]
    recommended = data.summary.recommended.chosen
    quality = data.summary.quality
    head = ["trial", quality_short(quality), test_short(quality), *metrics, *data.dimensions]
    lines = ["<tr>" + "".join(
        f'<th class="{"t" if h in data.dimensions else ""}">{esc(h)}</th>' for h in head
    ) + "</tr>"]  # fmt: skip
    shown = data.front[:_MAX_TABLE_ROWS]
    for i in shown:
        row = rows[i]
        mark = ' class="reco-row"' if recommended and recommended.number == row.number else ""
        number = f"★ {row.number}" if mark else str(row.number)
        cells = [
            number,
            quality_value(row.accuracy, quality),
            quality_value(row.test_accuracy, quality),
        ]
        cells += [metric(row, m) for m in metrics]
        values = [
            esc(fmt_value(row.strategy[d])) if d in row.strategy else "–" for d in data.dimensions
        ]
        lines.append(
            f"<tr{mark}>"
            + "".join(f"<td>{esc(c)}</td>" for c in cells)
            + "".join(f'<td class="t">{v}</td>' for v in values)
            + "</tr>"
        )
    more = ""
    if len(data.front) > len(shown):
        more = f'<p class="muted">Showing the {len(shown)} cheapest of {len(data.front)}.</p>'
    return f'<div class="scroll"><table>{"".join(lines)}</table></div>{more}'


def picks_html(data: ReportData) -> str:
    """What each common budget picks (one table row per :class:`ConstraintPick`)."""
    costs = [o for o in data.summary.objectives if o in COST_UNITS]
    metrics = [*costs, *(m for m in ("size_bits", "sparsity") if m not in costs)]
    by_number = {r.number: r for r in data.rows}
    quality = data.summary.quality
    head = ["constraint", "limit", "trial", quality_short(quality), test_short(quality),
            *metrics, "bits", "prune_rate"]  # fmt: skip
    header = (
        f'<th class="t">{esc(h)}</th>' if k < 2 else f"<th>{esc(h)}</th>"
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
            cells = [
                str(row.number),
                quality_value(row.accuracy, quality),
                quality_value(row.test_accuracy, quality),
            ]
            cells += [metric(row, m) for m in metrics]
            cells += [fmt_value(row.strategy.get("bits", "–")),
                      fmt_value(row.strategy.get("prune_rate", "–"))]  # fmt: skip
        lines.append(
            f'<tr><td class="t">{esc(pick.label)}</td><td class="t">{esc(limit)}</td>'
            + "".join(f"<td>{esc(c)}</td>" for c in cells)
            + "</tr>"
        )
    return f'<div class="scroll"><table>{"".join(lines)}</table></div>'
