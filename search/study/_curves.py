"""Learning curves as Optuna intermediate values, so Optuna's plots and the dashboard draw them.

Each epoch's value of one metric, the study's *curve metric* (:func:`curve_metric`), is stored
as the trial's intermediate value at ``step = epoch``; the whole curve (every metric of every
epoch) stays in the ``curve`` user attribute. Single-objective studies store it with
``Trial.report``; multi-objective ones, which ``Trial.report`` refuses, through the storage
(:func:`paretune.search._optuna_compat.report_intermediate`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from paretune.search._objectives import metric_of, quality_objective
from paretune.search._optuna_compat import report_intermediate

if TYPE_CHECKING:
    import optuna

__all__ = ["curve_metric", "report_curve", "report_epoch"]


def curve_metric(objectives: Sequence[str]) -> str:
    """The reported metric a study stores as its trials' intermediate values.

    The metric of the study's quality objective (the first that is not a cost: accuracy,
    that is ``val_accuracy``, or a task metric), else of its first objective.

    Examples:
        >>> curve_metric(["accuracy", "size_bits"]), curve_metric(["size_bits", "val_rmse"])
        ('val_accuracy', 'val_rmse')
        >>> curve_metric(["bitops"])
        'bitops'
    """
    if not objectives:
        raise ValueError("The 'objectives' parameter of curve_metric must not be empty.")
    return metric_of(quality_objective(objectives) or objectives[0])


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def report_epoch(trial: optuna.Trial, metric: str, epoch: int, metrics: Mapping[str, Any]) -> bool:
    """Store ``metrics[metric]`` as the trial's intermediate value at step ``epoch``.

    Nothing is stored when the epoch lacks the metric, when it is not a finite number, or
    when the step already holds a value (an Optuna pruner reports its own metric there).

    Returns:
        Whether a value was stored.

    Examples:
        >>> import optuna
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(directions=["maximize", "minimize"])
        >>> trial = study.ask()
        >>> report_epoch(trial, "val_accuracy", 1, {"val_accuracy": 0.5, "train_loss": 1.2})
        True
        >>> report_epoch(trial, "val_accuracy", 1, {"val_accuracy": 0.6})
        False
        >>> study.trials[0].intermediate_values
        {1: 0.5}
    """
    value = _number(metrics.get(metric))
    if value is None:
        return False
    return report_intermediate(trial, int(epoch), value)


def report_curve(trial: optuna.Trial, metric: str, curve: Iterable[Mapping[str, Any]]) -> int:
    """Store every epoch of ``curve`` (points ``{"epoch": N, **metrics}``) not yet stored.

    Returns:
        How many values were stored.

    Examples:
        >>> import optuna
        >>> study = optuna.create_study(direction="maximize")
        >>> trial = study.ask()
        >>> report_curve(trial, "val_accuracy",
        ...     [{"epoch": 1, "val_accuracy": 0.4}, {"epoch": 2, "val_accuracy": 0.7}])
        2
        >>> study.trials[0].intermediate_values
        {1: 0.4, 2: 0.7}
    """
    stored = 0
    for point in curve:
        epoch = point.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            continue
        stored += report_epoch(trial, metric, epoch, point)
    return stored
