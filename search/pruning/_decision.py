"""The answer a pruner gives after each reported epoch: a :class:`Verdict`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from paretune.spaces import bad_parameter, is_number

__all__ = ["Decision", "Verdict", "stop_reason"]


class Decision(Enum):
    """What a trial should do after reporting an epoch.

    Examples:
        >>> Decision.STOP.value
        'stop'
        >>> Decision("continue") is Decision.CONTINUE
        True
    """

    CONTINUE = "continue"
    STOP = "stop"


@dataclass(frozen=True)
class Verdict:
    """A pruner's decision after one epoch, with why (recorded as the trial's ``prune_reason``).

    Every pruner returns one, whatever the executor (local or Ray), so the reason a pruned
    trial carries is worded by the pruner, the same way everywhere.

    Attributes:
        decision: Whether the trial continues or stops.
        reason: Why it stops, in one line (None: no reason given).

    Examples:
        >>> Verdict(Decision.STOP, "below the median")
        Verdict(decision=<Decision.STOP: 'stop'>, reason='below the median')
        >>> Verdict(Decision.CONTINUE).reason is None
        True
        >>> Verdict("stop")
        Traceback (most recent call last):
        ...
        ValueError: The 'decision' parameter of Verdict must be a Decision. Got 'stop' instead.
    """

    decision: Decision
    reason: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.decision, Decision):
            raise bad_parameter("decision", "Verdict", "a Decision", self.decision)
        if self.reason is not None and not isinstance(self.reason, str):
            raise bad_parameter("reason", "Verdict", "a str or None", self.reason)


def stop_reason(pruner: str, epoch: int, metrics: Mapping[str, Any]) -> str:
    """The one wording of a prune reason: the pruner, the epoch, the metrics and loss reached.

    Shown: every validation metric (``val_<name>``) and ``train_loss`` that is a number.

    Examples:
        >>> stop_reason("asha", 2, {"val_accuracy": 0.31, "lr": 1.0, "train_loss": float("nan")})
        'asha pruner stopped the trial after epoch 2 (val_accuracy=0.31)'
        >>> stop_reason("median", 3, {"val_rmse": 61.25, "size_bits": 8.0})
        'median pruner stopped the trial after epoch 3 (val_rmse=61.25)'
        >>> stop_reason("two", 2, {})
        'two pruner stopped the trial after epoch 2'
    """
    shown = ", ".join(
        f"{key}={float(value):.4g}"
        for key, value in metrics.items()
        if (key.startswith("val_") or key == "train_loss") and is_number(value)
    )
    return f"{pruner} pruner stopped the trial after epoch {epoch}" + (
        f" ({shown})" if shown else ""
    )
