"""The objective vocabulary: which names exist, which way each is optimized, where it is read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "COSTS",
    "MEASUREMENTS",
    "OBJECTIVES",
    "direction_of",
    "metric_of",
    "objective_values",
]

#: Measured costs (all minimized), as named in a trainer result.
COSTS: tuple[str, ...] = (
    "size_bits",
    "bitops",
    "latency_ms",
    "train_seconds",
    "params",
    "nonzero_params",
)

#: Every objective name a study may use.
OBJECTIVES: tuple[str, ...] = ("accuracy", *COSTS)

#: Every measurement a trial outcome may carry (stored as user attributes of its trial).
MEASUREMENTS: tuple[str, ...] = ("val_accuracy", "test_accuracy", *COSTS, "sparsity", "epochs")


def direction_of(objective: str) -> str:
    """``"maximize"`` for accuracy, ``"minimize"`` for every cost.

    Examples:
        >>> direction_of("accuracy"), direction_of("size_bits")
        ('maximize', 'minimize')
        >>> direction_of("speed")
        Traceback (most recent call last):
        ...
        ValueError: Unknown objective 'speed'. Known: accuracy, size_bits, bitops, latency_ms, ...
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"Unknown objective {objective!r}. Known: {', '.join(OBJECTIVES)}.")
    return "maximize" if objective == "accuracy" else "minimize"


def metric_of(objective: str) -> str:
    """The result / reported-metric key that holds an objective (accuracy is validation accuracy).

    Examples:
        >>> metric_of("accuracy"), metric_of("bitops")
        ('val_accuracy', 'bitops')
    """
    direction_of(objective)
    return "val_accuracy" if objective == "accuracy" else objective


def objective_values(objectives: Sequence[str], result: Mapping[str, Any]) -> list[float]:
    """The objective values of a result, in the order of ``objectives``.

    Raises:
        KeyError: The result lacks a needed key (the message names it).

    Examples:
        >>> objective_values(["accuracy", "size_bits"], {"val_accuracy": 0.9, "size_bits": 8e3})
        [0.9, 8000.0]
    """
    values: list[float] = []
    for objective in objectives:
        key = metric_of(objective)
        if key not in result:
            raise KeyError(f"the result has no {key!r} (needed for objective {objective!r})")
        values.append(float(result[key]))
    return values
