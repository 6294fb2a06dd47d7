"""Text for the report's figures and tables: escaping, rounding, units and hover texts."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

from paretune.search.report._rows import TrialRow
from paretune.search.report._select import COST_UNITS, format_quantity
from paretune.search.report._trials import Quality

__all__ = [
    "acc",
    "axis_title",
    "better",
    "esc",
    "fmt_value",
    "hover_text",
    "json_for_script",
    "metric",
    "num",
    "quality_name",
    "quality_short",
    "quality_title",
    "quality_value",
    "test_short",
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


def quality_name(objectives: Sequence[str]) -> str:
    """The study's quality objective: its first non-cost objective (``"accuracy"`` if none).

    Examples:
        >>> quality_name(["val_rmse", "size_bits"]), quality_name(["size_bits"])
        ('val_rmse', 'accuracy')
    """
    return next((o for o in objectives if o not in COST_UNITS), "accuracy")


def quality_title(quality: Quality) -> str:
    """The quality's name in titles: ``"validation accuracy"``, else its key (``"val_rmse"``).

    Examples:
        >>> quality_title(Quality()), quality_title(Quality("val_rmse", "val_rmse", False))
        ('validation accuracy', 'val_rmse')
    """
    return "validation accuracy" if quality.key == "val_accuracy" else quality.key


def quality_short(quality: Quality) -> str:
    """The quality's column head: ``"val acc"``, else its key (``"val_rmse"``)."""
    return "val acc" if quality.key == "val_accuracy" else quality.key


def test_short(quality: Quality) -> str:
    """The same metric on the test split: ``"test acc"``, else ``"test_rmse"`` ..."""
    return "test acc" if quality.key == "val_accuracy" else quality.test_key


def better(quality: Quality) -> str:
    """``"higher is better"`` or ``"lower is better"``, by the quality's direction.

    Examples:
        >>> better(Quality()), better(Quality("val_rmse", "val_rmse", False))
        ('higher is better', 'lower is better')
    """
    return "higher is better" if quality.maximize else "lower is better"


def quality_value(value: float, quality: Quality) -> str:
    """A quality value: an accuracy to 4 decimals, another metric to 4 significant digits.

    Examples:
        >>> rmse = Quality("val_rmse", "val_rmse", False)
        >>> quality_value(0.91234, Quality()), quality_value(52.1234, rmse)
        ('0.9123', '52.12')
    """
    if quality.key == "val_accuracy" or not math.isfinite(value):
        return acc(value)
    return f"{value:.4g}"


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


def hover_text(row: TrialRow, objectives: Sequence[str], quality: Quality | None = None) -> str:
    """The hover text of one trial: state, quality, costs and the whole strategy (escaped).

    The quality is named as the study's (``val acc``, or ``val_rmse``: ``quality``).
    """
    quality = quality or Quality()
    short = quality_short(quality)
    value = quality_value(row.accuracy, quality)
    accuracy = f"{short} {value}"
    if row.state == "PRUNED":
        accuracy = f"last {short} {value} (epoch {len(row.curve)})"
    if math.isfinite(row.test_accuracy):
        accuracy += f" · test {quality_value(row.test_accuracy, quality)}"
    lines = [f"<b>trial {row.number}</b> · {row.state.lower()}", accuracy]
    shown = [o for o in objectives if o in COST_UNITS]
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
