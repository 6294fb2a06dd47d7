"""The report's HTML blocks: summary cards, the recommendation, the front and budget tables."""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from paretune.search.report._data import ReportData
from paretune.search.report._format import (
    better,
    distinct_digits,
    esc,
    fmt_value,
    metric_text,
    plural,
    quality_short,
    quality_title,
    quality_value,
    test_short,
)
from paretune.search.report._picks import distinct_picks
from paretune.search.report._rows import TrialRow
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


def summary_html(data: ReportData, *, study_args: Sequence[str] | None = None) -> str:
    """The summary cards and the recommended strategy.

    Args:
        data: The report data.
        study_args: The arguments that name the study in a ``paretune`` command
            (``["digits-quick", "--storage", "sqlite:///q.db"]``); default: its name.
    """
    s = data.summary
    quality = s.quality
    finished = s.n_complete + s.n_pruned  # as Optuna and paretune count: not the failed

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
        _card(
            "Pareto front", plural(len(data.front), "strategy"), "non-dominated on all objectives"
        ),
    ]
    return (
        '<div class="cards">'
        + "".join(cards)
        + "</div>"
        + _recommendation_html(data, study_args=study_args)
    )


def _best_title(quality: Quality) -> str:
    """``"best validation accuracy"``, else ``"best val_rmse (lower is better)"``."""
    if quality.key == "val_accuracy":
        return "best validation accuracy"
    return f"best {esc(quality_title(quality))} ({better(quality)})"


def select_command(
    study_name: str, *, study_args: Sequence[str] | None, number: int, task: str = ""
) -> str:
    """The shell command that exports the knee: ``paretune select ... --knee --export DIR``.

    Arguments are shell-quoted; a password in a storage URL is replaced by ``***``. A user
    task (``package.module:factory``) named by the storage alone, not by a study file, is
    imported only with ``--trust-task``, which the command then carries.

    Examples:
        >>> select_command("digits-quick", study_args=None, number=39)
        'paretune select digits-quick --knee --export trial-39'
        >>> select_command("x", study_args=["--storage", "postgresql://u:pw@h/db",
        ...                                 "--study", "my study"], number=2).split(" --knee")[0]
        "paretune select --storage 'postgresql://u:***@h/db' --study 'my study'"
        >>> select_command("x", study_args=["--storage", "sqlite:///x.db", "--study", "x"],
        ...                number=2, task="mytasks:make_task")
        'paretune select --storage sqlite:///x.db --study x --knee --export trial-2 --trust-task'
        >>> select_command("x", study_args=["x.toml"], number=2, task="mytasks:make_task")
        'paretune select x.toml --knee --export trial-2'
    """
    named = list(study_args) if study_args is not None else [study_name]
    named = [re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", arg) for arg in named]
    user_task = ":" in task and not task.startswith("replay:")
    from_file = bool(named) and not named[0].startswith("--")  # a study file names the task
    trust = ["--trust-task"] if user_task and not from_file else []
    return shlex.join(
        ["paretune", "select", *named, "--knee", "--export", f"trial-{number}", *trust]
    )


def _recommendation_html(data: ReportData, *, study_args: Sequence[str] | None) -> str:
    selection = data.summary.recommended
    if selection.chosen is None:
        return f'<div class="reco"><b>No recommendation.</b> {esc(selection.reason)}</div>'
    number = selection.chosen.number
    if data.summary.task.startswith("__main__:"):  # only the script that ran it knows the task
        how = (
            f"in the script that ran the study (its task {data.summary.task} is defined "
            f"there): <code>result.export({number}, {esc(repr(f'trial-{number}'))})</code>"
        )
    else:
        command = select_command(
            data.summary.study_name, study_args=study_args, number=number, task=data.summary.task
        )
        how = f"<code>{esc(command)}</code>"
    return (
        '<div class="reco"><b>Recommended strategy — trial '
        f"{selection.chosen.number}</b> (the knee of the front)<br>"
        f'<span class="help">{esc(selection.reason)}</span>'
        f"{_strategy_list(selection.chosen.strategy)}"
        f'<div class="help">Reproduce it: {how}</div></div>'
    )


def _column(values: Sequence[Any], render: Callable[[float, int], str], *, start: int) -> list[str]:
    """A column's texts, with the digits that tell its distinct numbers apart."""
    numbers = [float(v) for v in values if isinstance(v, float)]
    digits = distinct_digits(numbers, render=render, start=start)
    return [render(v, digits) if isinstance(v, float) else str(v) for v in values]


def _metric_column(rows: Sequence[TrialRow], name: str) -> list[str]:
    values = [float(r.metrics.get(name, math.nan)) for r in rows]
    return _column(values, lambda v, d: metric_text(v, name, digits=d), start=3)


def _quality_column(values: Sequence[float], quality: Quality) -> list[str]:
    return _column(
        [float(v) for v in values], lambda v, d: quality_value(v, quality, digits=d), start=4
    )


def _strategy_column(rows: Sequence[TrialRow], name: str) -> list[str]:
    values = [r.strategy.get(name, "–") for r in rows]
    return _column(values, lambda v, d: fmt_value(v, digits=d), start=4)


def _split_columns(
    columns: Mapping[str, Sequence[str]],
) -> tuple[list[str], list[tuple[str, str]]]:
    """The columns whose cells differ, and ``(name, value)`` of those the same in every row.

    A column that reads ``–`` in every row (a setting no row has) is in neither. With fewer
    than two rows every column is shown.

    Examples:
        >>> _split_columns({"lr": ["0.1", "0.2"], "beta1": ["0.9", "0.9"], "m": ["–", "–"]})
        (['lr'], [('beta1', '0.9')])
    """
    varying: list[str] = []
    constant: list[tuple[str, str]] = []
    for name, cells in columns.items():
        if all(c == "–" for c in cells):
            continue
        if len(cells) > 1 and len(set(cells)) == 1:
            constant.append((name, cells[0]))
        else:
            varying.append(name)
    return varying, constant


def front_table_html(data: ReportData) -> str:
    """The non-dominated strategies (at most 300, cheapest first): quality and the study's
    costs first, then the settings and measurements that differ between them; those the
    same for every row are named once above the table."""
    costs = [o for o in data.summary.objectives if o in COST_UNITS]
    extra = [m for m in ("size_bits", "sparsity", "bitops", "latency_ms") if m not in costs]
    recommended = data.summary.recommended.chosen
    quality = data.summary.quality
    shown = [data.rows[i] for i in data.front[:_MAX_TABLE_ROWS]]
    fixed: dict[str, list[str]] = {
        "trial": [
            f"★ {r.number}" if recommended and recommended.number == r.number else str(r.number)
            for r in shown
        ],
        quality_short(quality): _quality_column([r.accuracy for r in shown], quality),
        test_short(quality): _quality_column([r.test_accuracy for r in shown], quality),
        **{m: _metric_column(shown, m) for m in costs},
    }
    settings, same_settings = _split_columns(
        {d: _strategy_column(shown, d) for d in data.dimensions}
    )
    measured, same_measured = _split_columns({m: _metric_column(shown, m) for m in extra})
    columns = {
        **fixed,
        **{d: _strategy_column(shown, d) for d in settings},
        **{m: _metric_column(shown, m) for m in measured},
    }
    left = set(settings)
    lines = ["<tr>" + "".join(
        f'<th class="{"t" if h in left else ""}">{esc(h)}</th>' for h in columns
    ) + "</tr>"]  # fmt: skip
    for k in range(len(shown)):
        mark = ' class="reco-row"' if columns["trial"][k].startswith("★") else ""
        cells = "".join(
            f'<td class="t">{esc(cells[k])}</td>' if name in left else f"<td>{esc(cells[k])}</td>"
            for name, cells in columns.items()
        )
        lines.append(f"<tr{mark}>{cells}</tr>")
    same = [*same_settings, *same_measured]
    note = ""
    if same:
        items = " · ".join(f"<b>{esc(name)}</b> {esc(value)}" for name, value in same)
        note = (
            f'<p class="help same-for-all">Same for all {plural(len(shown), "strategy")}: '
            f"{items}</p>"
        )
    more = ""
    if len(data.front) > len(shown):
        more = f'<p class="muted">Showing the {len(shown)} cheapest of {len(data.front)}.</p>'
    return f'{note}<div class="scroll"><table>{"".join(lines)}</table></div>{more}'


def picks_html(data: ReportData) -> str:
    """What the common budgets pick: one table row per distinct strategy, naming every
    budget that picks it."""
    costs = [o for o in data.summary.objectives if o in COST_UNITS]
    metrics = [*costs, *(m for m in ("size_bits", "sparsity") if m not in costs)]
    by_number = {r.number: r for r in data.rows}
    quality = data.summary.quality
    groups = distinct_picks(data.picks)
    chosen = [
        by_number[g.selection.chosen.number] if g.selection.chosen is not None else None
        for g in groups
    ]
    picked = [r for r in chosen if r is not None]
    columns: dict[str, list[str]] = {
        "trial": [str(r.number) for r in picked],
        quality_short(quality): _quality_column([r.accuracy for r in picked], quality),
        test_short(quality): _quality_column([r.test_accuracy for r in picked], quality),
        **{m: _metric_column(picked, m) for m in metrics},
        "bits": _strategy_column(picked, "bits"),
        "prune_rate": _strategy_column(picked, "prune_rate"),
    }
    head = ["budget", "limit", *columns]
    header = (
        f'<th class="t">{esc(h)}</th>' if k < 2 else f"<th>{esc(h)}</th>"
        for k, h in enumerate(head)
    )
    lines = ["<tr>" + "".join(header) + "</tr>"]
    k = 0
    for group, row in zip(groups, chosen, strict=True):
        labels = "<br>".join(esc(p.label) for p in group.picks)
        limits = "<br>".join(
            esc(
                ", ".join(f"{c} ≤ {format_quantity(v, cost=c)}" for c, v in p.limits.items())
                or "none"
            )
            for p in group.picks
        )
        if row is None:
            cells = ["nothing feasible"] + ["–"] * (len(columns) - 1)
        else:
            cells = [values[k] for values in columns.values()]
            k += 1
        lines.append(
            f'<tr><td class="t">{labels}</td><td class="t">{limits}</td>'
            + "".join(f"<td>{esc(c)}</td>" for c in cells)
            + "</tr>"
        )
    return f'<div class="scroll"><table>{"".join(lines)}</table></div>'
