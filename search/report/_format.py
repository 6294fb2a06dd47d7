"""Text for the report's figures and tables: escaping, rounding, units and hover texts."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

from paretune.search.report._rows import TrialRow
from paretune.search.report._select import format_quantity

__all__ = [
    "acc",
    "axis_title",
    "esc",
    "fmt_value",
    "hover_text",
    "json_for_script",
    "metric",
    "num",
]

_LABELS = {
    "accuracy": "validation accuracy",
    "size_bits": "model size (bits)",
    "bitops": "BitOps per inference",
    "latency_ms": "latency (ms)",
    "train_seconds": "training time (s)",
    "params": "parameters",
    "nonzero_params": "nonzero parameters",
}


def esc(value: Any) -> str:
    """HTML-escape ``value`` (quotes too) for text and attributes."""
    return html.escape(str(value), quote=True)


def json_for_script(value: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: ``<``, ``>``, ``&`` escaped."""
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


def num(value: float, digits: int = 6) -> float | None:
    """Round for the file (None for NaN/inf, which JSON cannot hold)."""
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def fmt_value(value: Any) -> str:
    """A strategy value for a table or hover text (floats to 4 significant digits)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def metric(row: TrialRow, name: str) -> str:
    """A row's metric in readable units (``"–"`` when not recorded)."""
    value = row.metrics.get(name, math.nan)
    if not math.isfinite(value):
        return "–"
    if name == "sparsity":
        return f"{value:.1%}"
    if name == "epochs":
        return f"{int(value)}"
    return str(format_quantity(value, cost=name))


def acc(value: float) -> str:
    """An accuracy to 4 decimals (``"–"`` when unknown)."""
    return f"{value:.4f}" if math.isfinite(value) else "–"


def hover_text(row: TrialRow, objectives: Sequence[str]) -> str:
    """The hover text of one trial: state, accuracy, costs and the whole strategy (escaped)."""
    lines = [f"<b>trial {row.number}</b> · {row.state.lower()}"]
    accuracy = f"val acc {acc(row.accuracy)}"
    if row.state == "PRUNED":
        accuracy = f"last val acc {acc(row.accuracy)} (epoch {len(row.curve)})"
    if math.isfinite(row.test_accuracy):
        accuracy += f" · test {acc(row.test_accuracy)}"
    lines.append(accuracy)
    shown = [o for o in objectives if o != "accuracy"]
    shown += [c for c in ("size_bits", "bitops", "latency_ms", "sparsity") if c not in shown]
    lines.append(" · ".join(f"{c} {metric(row, c)}" for c in shown if c in row.metrics))
    if not row.feasible:
        lines.append("breaks a study constraint")
    if row.note:
        lines.append(f"note: {row.note}")
    lines.extend(f"{k} = {fmt_value(v)}" for k, v in row.strategy.items())
    # The first line is ours (markup); every other line carries study strings: escape them.
    return "<br>".join(line if i == 0 else esc(line) for i, line in enumerate(lines))


def axis_title(name: str) -> str:
    """The readable name of an objective or cost for an axis or heading."""
    return _LABELS.get(name, name)
