"""Text for the report's figures and tables: escaping, rounding, units and hover texts."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from paretune.search.report._rows import TrialRow
from paretune.search.report._select import COST_UNITS, format_quantity
from paretune.search.report._trials import Quality

__all__ = [
    "acc",
    "axis_title",
    "better",
    "distinct_digits",
    "esc",
    "fmt_value",
    "hover_text",
    "json_for_script",
    "metric",
    "metric_text",
    "num",
    "plural",
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


def quality_value(value: float, quality: Quality, *, digits: int = 4) -> str:
    """A quality value: an accuracy to ``digits`` decimals, another metric to ``digits``
    significant digits.

    Examples:
        >>> rmse = Quality("val_rmse", "val_rmse", False)
        >>> quality_value(0.91234, Quality()), quality_value(52.1234, rmse)
        ('0.9123', '52.12')
    """
    if quality.key == "val_accuracy" or not math.isfinite(value):
        return acc(value, digits=digits)
    return f"{value:.{digits}g}"


def plural(count: int, word: str, *, many: str | None = None) -> str:
    """``count`` and ``word``, in the plural unless the count is one (thousands separated).

    The plural is ``many`` when given, else ``word`` + ``"s"`` (``"ies"`` after a consonant
    and ``"y"``, ``"es"`` after s, x, ch or sh).

    Examples:
        >>> plural(1, "strategy"), plural(2, "strategy"), plural(0, "trial")
        ('1 strategy', '2 strategies', '0 trials')
        >>> plural(12000, "pass"), plural(3, "day"), plural(2, "is", many="are")
        ('12,000 passes', '3 days', '2 are')
    """
    if count == 1:
        return f"1 {word}"
    if many is None:
        if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
            many = word[:-1] + "ies"
        elif word.endswith(("s", "x", "ch", "sh")):
            many = word + "es"
        else:
            many = word + "s"
    return f"{count:,} {many}"


def distinct_digits(
    values: Iterable[float],
    *,
    render: Callable[[float, int], str],
    start: int = 3,
    most: int = 7,
) -> int:
    """The fewest digits (from ``start``, at most ``most``) at which ``render`` shows every
    distinct value of a column differently, so that no two rows look alike when they differ.

    Args:
        values: The column's values (NaN and infinities are ignored).
        render: ``render(value, digits)`` -> the shown text.
        start: The usual number of digits.
        most: The most digits to use, whatever the values.

    Returns:
        The digits to render the whole column with.

    Examples:
        >>> sig = lambda v, d: f"{v:.{d}g}"
        >>> distinct_digits([41324, 41336, 43000], render=sig)
        4
        >>> distinct_digits([0.5, 0.25], render=sig), distinct_digits([], render=sig)
        (3, 3)
    """
    distinct = {float(v) for v in values if math.isfinite(v)}
    digits = start
    while digits < most and len({render(v, digits) for v in distinct}) < len(distinct):
        digits += 1
    return digits


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


def fmt_value(value: Any, *, digits: int = 4) -> str:
    """A strategy value for a table or hover text (floats to ``digits`` significant digits)."""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def metric(row: TrialRow, name: str, *, digits: int = 3) -> str:
    """A row's metric in readable units (see :func:`metric_text`; ``"–"`` when not recorded)."""
    return metric_text(row.metrics.get(name, math.nan), name, digits=digits)


def metric_text(value: float, name: str, *, digits: int = 3) -> str:
    """A metric in readable units to ``digits`` significant digits (``"–"`` when not finite);
    sparsity is a percentage with ``digits - 2`` decimals.

    Examples:
        >>> metric_text(41324, "size_bits"), metric_text(41324, "size_bits", digits=4)
        ('41.3 kbit (5.17 kB)', '41.32 kbit (5.165 kB)')
        >>> metric_text(0.8575, "sparsity"), metric_text(float("nan"), "bitops")
        ('85.8%', '–')
    """
    if not math.isfinite(value):
        return "–"
    if name == "sparsity":
        return f"{value:.{max(1, digits - 2)}%}"
    if name == "epochs":
        return f"{int(value)}"
    return str(format_quantity(value, cost=name, digits=digits))


def acc(value: float, *, digits: int = 4) -> str:
    """An accuracy to ``digits`` decimals (``"–"`` when unknown)."""
    return f"{value:.{digits}f}" if math.isfinite(value) else "–"


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
    # five digits: two front points a few bits apart must not read the same
    lines.append(" · ".join(f"{c} {metric(row, c, digits=5)}" for c in shown if c in row.metrics))
    if not row.feasible:
        lines.append("breaks a study constraint")
    if row.note:
        lines.append(f"note: {row.note}")
    lines.extend(f"{k} = {fmt_value(v)}" for k, v in row.strategy.items())
    # The first line is ours (markup); every other line carries study strings: escape them
    # (in one call, joined by a character escaping leaves alone, when no line holds it).
    tail = "\x00".join(lines[1:])
    if tail.count("\x00") == len(lines) - 2:
        return lines[0] + "<br>" + esc(tail).replace("\x00", "<br>")
    return "<br>".join(line if i == 0 else esc(line) for i, line in enumerate(lines))


def axis_title(name: str) -> str:
    """The readable name of an objective or cost for an axis or heading."""
    return _LABELS.get(name, name)
