"""Reading what one trial recorded: the reader that report rows and selection candidates share.

paretune stores a trial's measurements as user attributes (``val_accuracy``,
``test_accuracy``, the costs, ``strategy``); :func:`read_trial` turns them into numbers once, so
``paretune report`` and ``paretune select`` read a trial the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = ["TrialRecord", "as_float", "read_trial"]


class TrialRecord(NamedTuple):
    """The numbers and the strategy one trial recorded.

    Attributes:
        number: Optuna trial number.
        accuracy: Validation accuracy (user attribute ``val_accuracy``; NaN when not recorded).
        test_accuracy: Test accuracy (NaN when not recorded).
        metrics: The requested user attributes that the trial recorded, as floats (NaN for a
            value that is not a number).
        strategy: The ``strategy`` user attribute, else the trial's params.
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


def read_trial(trial: Any, *, metrics: Iterable[str]) -> TrialRecord:
    """Read an Optuna ``FrozenTrial``'s recorded accuracy, metrics and strategy (any state).

    Args:
        trial: The frozen trial.
        metrics: Names of the numeric user attributes to copy into ``metrics``.

    Returns:
        The :class:`TrialRecord`.
    """
    attrs = trial.user_attrs
    strategy = attrs.get("strategy")
    return TrialRecord(
        number=int(trial.number),
        accuracy=as_float(attrs.get("val_accuracy")),
        test_accuracy=as_float(attrs.get("test_accuracy")),
        metrics={name: as_float(attrs[name]) for name in metrics if name in attrs},
        strategy=strategy if isinstance(strategy, Mapping) else trial.params,
    )
