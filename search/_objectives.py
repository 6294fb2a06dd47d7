"""The objective vocabulary: which names exist, which way each is optimized, where it is read.

An objective is ``accuracy`` (validation accuracy, maximized; the alias of ``val_accuracy``),
a measured cost (minimized), or a validation metric ``val_<name>`` that the task computes,
whose direction the study is given (``metric_directions``): the search never imports the
trainers, it only sees names, directions and numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "COSTS",
    "DIRECTIONS",
    "MEASUREMENTS",
    "OBJECTIVES",
    "direction_of",
    "directions_of",
    "is_measurement",
    "is_metric",
    "metric_of",
    "objective_values",
    "quality_objective",
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

#: The built-in objective names (a study may also name any ``val_<metric>`` of its task).
OBJECTIVES: tuple[str, ...] = ("accuracy", *COSTS)

#: Every measurement a trial outcome may carry besides ``val_<metric>`` / ``test_<metric>``
#: (``latency_ms_spread``: the interquartile range of the timed passes behind ``latency_ms``).
MEASUREMENTS: tuple[str, ...] = (
    "val_accuracy",
    "test_accuracy",
    *COSTS,
    "latency_ms_spread",
    "sparsity",
    "epochs",
)

#: The two directions, as Optuna names them.
DIRECTIONS: tuple[str, ...] = ("maximize", "minimize")

_METRIC = re.compile(r"^val_[a-z][a-z0-9_]*$")
_SPLIT_METRIC = re.compile(r"^(val|test)_[a-z][a-z0-9_]*$")


def is_metric(name: str) -> bool:
    """Whether ``name`` is a validation metric objective (``val_<metric>``, lower case).

    Examples:
        >>> is_metric("val_rmse"), is_metric("accuracy"), is_metric("val_")
        (True, False, False)
    """
    return isinstance(name, str) and bool(_METRIC.fullmatch(name))


def is_measurement(name: str) -> bool:
    """Whether a trial outcome may carry ``name``: a :data:`MEASUREMENTS` entry or a metric.

    Examples:
        >>> is_measurement("size_bits"), is_measurement("test_macro_f1"), is_measurement("f1")
        (True, True, False)
    """
    return name in MEASUREMENTS or (isinstance(name, str) and bool(_SPLIT_METRIC.fullmatch(name)))


def metric_of(objective: str) -> str:
    """The result / reported-metric key that holds an objective (accuracy is validation accuracy).

    Examples:
        >>> metric_of("accuracy"), metric_of("bitops"), metric_of("val_rmse")
        ('val_accuracy', 'bitops', 'val_rmse')
        >>> metric_of("speed")
        Traceback (most recent call last):
        ...
        ValueError: Unknown objective 'speed'. Known: accuracy, size_bits, bitops, ..., or a \
task metric val_<name>.
    """
    if objective == "accuracy":
        return "val_accuracy"
    if objective in COSTS or is_metric(objective):
        return objective
    raise ValueError(
        f"Unknown objective {objective!r}. Known: {', '.join(OBJECTIVES)}, or a task metric "
        "val_<name>."
    )


def direction_of(objective: str, metric_directions: Mapping[str, str] | None = None) -> str:
    """``"maximize"`` or ``"minimize"``: accuracy maximized, costs minimized, metrics as given.

    Args:
        objective: An objective name.
        metric_directions: ``val_<metric>`` -> direction, for the task's metrics
            (``val_accuracy`` is maximized when not given).

    Raises:
        ValueError: An unknown name, or a metric without a direction.

    Examples:
        >>> direction_of("accuracy"), direction_of("size_bits")
        ('maximize', 'minimize')
        >>> direction_of("val_rmse", {"val_rmse": "minimize"})
        'minimize'
        >>> direction_of("val_rmse")
        Traceback (most recent call last):
        ...
        ValueError: Objective 'val_rmse' needs its direction: pass metric_directions={'val_rmse': \
'maximize' or 'minimize'}.
    """
    key = metric_of(objective)
    if key in COSTS:
        return "minimize"
    given = (metric_directions or {}).get(key)
    if given is None and objective != key:
        given = (metric_directions or {}).get(objective)
    if given is None:
        if key == "val_accuracy":
            return "maximize"
        raise ValueError(
            f"Objective {objective!r} needs its direction: pass "
            f"metric_directions={{{key!r}: 'maximize' or 'minimize'}}."
        )
    if given not in DIRECTIONS:
        raise ValueError(
            f"The direction of {key!r} must be one of {', '.join(DIRECTIONS)}. "
            f"Got {given!r} instead."
        )
    return given


def directions_of(
    objectives: Sequence[str], metric_directions: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """:func:`direction_of` of each objective, in order.

    Examples:
        >>> directions_of(["val_rmse", "size_bits"], {"val_rmse": "minimize"})
        ('minimize', 'minimize')
    """
    return tuple(direction_of(o, metric_directions) for o in objectives)


def quality_objective(objectives: Sequence[str]) -> str | None:
    """The first objective that is not a cost (accuracy or a task metric), or None.

    Examples:
        >>> quality_objective(["size_bits", "val_macro_f1"]), quality_objective(["bitops"])
        ('val_macro_f1', None)
    """
    return next((o for o in objectives if o not in COSTS), None)


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
