"""What one training run returns: status, accuracies, measured cost and the learning curve."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from ._strategy import Strategy

if TYPE_CHECKING:
    import torch

__all__ = ["COST_NAMES", "Reporter", "TrainResult", "TrainStatus"]

#: ``report(epoch, metrics) -> True`` means stop after this epoch.
Reporter = Callable[[int, Mapping[str, float]], bool]

#: Cost measurements a result carries (all minimized).
COST_NAMES: tuple[str, ...] = (
    "params",
    "nonzero_params",
    "size_bits",
    "bitops",
    "latency_ms",
    "train_seconds",
)


class TrainStatus(Enum):
    """How a run ended."""

    COMPLETED = "completed"
    STOPPED = "stopped"
    DIVERGED = "diverged"


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """The outcome of :func:`train`.

    Attributes:
        status: Completed, stopped by the reporter, or diverged.
        reason: Why it ended (empty when completed).
        val_accuracy: Validation accuracy of the final model (NaN for a regression task).
        test_accuracy: Test accuracy of the final model (never used for a decision; NaN for a
            regression task).
        params: Trainable parameters.
        nonzero_params: Trainable parameters that are not exactly zero.
        sparsity: Fraction of the prunable weights that are exactly zero.
        size_bits: Nonzero prunable weights x ``bits`` + every other parameter x 32.
        bitops: Multiply-accumulates of nonzero weights x weight bits x activation bits.
        latency_ms: Median batch-1 inference time on the training device, warm, timed until
            its relative standard error is at most 2 % (or a 0.25 s cap was reached).
        latency_ms_spread: Interquartile range of the timed passes behind ``latency_ms``, in
            milliseconds (NaN when not measured); see ``measure_latency``.
        train_seconds: Wall-clock seconds spent training (evaluation included).
        epochs: Epochs actually run.
        curve: The metrics reported after each epoch.
        strategy: The strategy trained.
        metrics: ``val_<name>`` and ``test_<name>`` of every metric the task declares
            (``Task.metrics``), on the final model; empty for a run that diverged.
        model: The trained model, only with ``keep_model=True`` (not in :meth:`to_dict`).

    Examples:
        >>> r = TrainResult(status=TrainStatus.STOPPED, reason="pruned", val_accuracy=0.5,
        ...     test_accuracy=0.5, params=10, nonzero_params=10, sparsity=0.0, size_bits=320.0,
        ...     bitops=0.0, latency_ms=0.1, train_seconds=1.0, epochs=1, curve=(),
        ...     strategy=Strategy())
        >>> r.to_dict()["status"], r.to_dict()["strategy"]["optimizer"]
        ('stopped', 'adam')
    """

    status: TrainStatus
    reason: str
    val_accuracy: float
    test_accuracy: float
    params: int
    nonzero_params: int
    sparsity: float
    size_bits: float
    bitops: float
    latency_ms: float
    train_seconds: float
    epochs: int
    curve: tuple[dict[str, float], ...]
    strategy: Strategy
    latency_ms_spread: float = math.nan
    metrics: Mapping[str, float] = field(default_factory=dict)
    model: torch.nn.Module | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: status as its value string, strategy as a dict, no model.

        Every entry of :attr:`metrics` is a top-level key (``val_rmse``), beside the fields;
        ``latency_ms_spread`` is left out while not measured (NaN).
        """
        out: dict[str, Any] = {
            "status": self.status.value,
            "reason": self.reason,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "params": self.params,
            "nonzero_params": self.nonzero_params,
            "sparsity": self.sparsity,
            "size_bits": self.size_bits,
            "bitops": self.bitops,
            "latency_ms": self.latency_ms,
            **(
                {}
                if math.isnan(self.latency_ms_spread)
                else {"latency_ms_spread": self.latency_ms_spread}
            ),
            "train_seconds": self.train_seconds,
            "epochs": self.epochs,
            "curve": [dict(point) for point in self.curve],
            "strategy": self.strategy.to_dict(),
        }
        out.update(self.metrics)
        return out
