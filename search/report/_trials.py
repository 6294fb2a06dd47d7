"""Reading what one trial recorded: the reader that report rows and selection candidates share.

paretune stores a trial's measurements as user attributes (``val_accuracy``,
``test_accuracy``, the costs, ``strategy``); :func:`read_trial` turns them into numbers once, so
``paretune report`` and ``paretune select`` read a trial the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = ["Quality", "TrialRecord", "as_float", "read_trial", "study_quality"]


class Quality(NamedTuple):
    """The study's quality objective: what the report and selection call "accuracy".

    It is the first objective that is not a cost: ``accuracy`` (validation accuracy,
    maximized) by default, or a task metric such as ``val_rmse`` with the study's direction.

    Attributes:
        objective: The objective name (``"accuracy"``, ``"val_rmse"``).
        key: The user attribute / curve key holding it (``"val_accuracy"``, ``"val_rmse"``).
        maximize: Whether higher is better.

    Examples:
        >>> Quality().key, Quality("val_rmse", "val_rmse", False).label
        ('val_accuracy', 'val_rmse')
    """

    objective: str = "accuracy"
    key: str = "val_accuracy"
    maximize: bool = True

    @property
    def label(self) -> str:
        """``"accuracy"`` for the default, else the metric's key."""
        return "accuracy" if self.key == "val_accuracy" else self.key

    @property
    def test_key(self) -> str:
        """The user attribute of the same metric on the test split (``"test_rmse"``).

        Examples:
            >>> Quality().test_key, Quality("val_rmse", "val_rmse", False).test_key
            ('test_accuracy', 'test_rmse')
        """
        return "test_" + self.key.removeprefix("val_")


def study_quality(study: Any) -> Quality:
    """The :class:`Quality` of a paretune study: its first non-cost objective and direction.

    Examples:
        >>> import optuna
        >>> study = optuna.create_study(directions=["minimize", "minimize"])
        >>> study.set_user_attr("objectives", ["val_rmse", "size_bits"])
        >>> study_quality(study)
        Quality(objective='val_rmse', key='val_rmse', maximize=False)
    """
    from paretune.search._objectives import metric_of, quality_objective

    objectives = list(study.user_attrs.get("objectives") or [])
    objective = quality_objective(objectives)
    if objective is None:
        return Quality()
    direction = study.directions[objectives.index(objective)]
    return Quality(objective, metric_of(objective), direction.name == "MAXIMIZE")


class TrialRecord(NamedTuple):
    """The numbers and the strategy one trial recorded.

    Attributes:
        number: Optuna trial number.
        accuracy: The quality metric (user attribute ``quality.key``: validation accuracy by
            default, or the study's metric such as ``val_rmse``; NaN when not recorded).
        test_accuracy: The quality metric on the test split (user attribute
            ``quality.test_key``: ``test_accuracy`` by default, ``test_rmse`` ...; NaN when
            not recorded).
        metrics: The requested user attributes that the trial recorded, as floats (NaN for a
            value that is not a number).
        strategy: The ``strategy`` user attribute (the task's own parameters, nested there
            under ``task_params``, beside the fields), else the trial's params.
    """

    number: int
    accuracy: float
    test_accuracy: float
    metrics: dict[str, float]
    strategy: Mapping[str, Any]


def as_float(value: Any) -> float:
    """``float(value)``, or NaN when it is not a number.

    Examples:
        >>> as_float("0.5"), as_float(None)
        (0.5, nan)
    """
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_trial(
    trial: Any, *, metrics: Iterable[str], quality: Quality | None = None
) -> TrialRecord:
    """Read an Optuna ``FrozenTrial``'s recorded accuracy, metrics and strategy (any state).

    Args:
        trial: The frozen trial.
        metrics: Names of the numeric user attributes to copy into ``metrics``.
        quality: The study's quality objective (default: validation accuracy).

    Returns:
        The :class:`TrialRecord`.
    """
    attrs = trial.user_attrs
    strategy = attrs.get("strategy")
    if isinstance(strategy, Mapping) and isinstance(strategy.get("task_params"), Mapping):
        strategy = {
            **{k: v for k, v in strategy.items() if k != "task_params"},
            **strategy["task_params"],
        }
    return TrialRecord(
        number=int(trial.number),
        accuracy=as_float(attrs.get((quality or Quality()).key)),
        test_accuracy=as_float(attrs.get((quality or Quality()).test_key)),
        metrics={name: as_float(attrs[name]) for name in metrics if name in attrs},
        strategy=strategy if isinstance(strategy, Mapping) else trial.params,
    )
