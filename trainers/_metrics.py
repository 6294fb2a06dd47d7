"""Validation metrics with directions: a registry of :class:`Metric` records.

A metric turns a model's outputs over a split and the split's targets into one number, and
says whether a higher or a lower number is better. A task names the metrics it computes
(``Task.metrics``, names of this registry or :class:`Metric` records of its own); the trainer
reports ``val_<name>`` for each after every epoch and the result carries ``val_<name>`` and
``test_<name>`` for each. Scores that scikit-learn defines (macro-F1, RMSE, MAE) are computed
by scikit-learn.

Examples:
    >>> import torch
    >>> outputs = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    >>> get_metric("accuracy").compute(outputs, torch.tensor([0, 1, 1]))
    0.6666666666666666
    >>> get_metric("rmse").direction
    <Direction.MINIMIZE: 'minimize'>
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch
from paretune.spaces import Registry
from torch.nn import functional as F

__all__ = [
    "Direction",
    "Metric",
    "check_metrics",
    "compute_metrics",
    "get_metric",
    "list_metrics",
    "load_metric_code",
    "register_metric",
    "resolve_metric",
    "top_k_accuracy",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Direction(Enum):
    """Which way a metric is better.

    Examples:
        >>> Direction("minimize") is Direction.MINIMIZE
        True
    """

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


@dataclass(frozen=True, kw_only=True)
class Metric:
    """A named score of a model's outputs against the targets, with its direction.

    Attributes:
        name: Lower-case identifier (``"rmse"``); reported as ``val_<name>`` / ``test_<name>``.
        direction: :class:`Direction` (or its value string).
        compute: ``compute(outputs, targets) -> float`` over a whole split (CPU or device
            tensors; outputs as the model returns them).
        description: One line for listings.

    Examples:
        >>> m = Metric(name="max_error", direction="minimize",
        ...            compute=lambda out, y: float((out.squeeze(-1) - y).abs().max()))
        >>> m.direction, m.compute(torch.tensor([[1.0], [3.0]]), torch.tensor([1.0, 1.0]))
        (<Direction.MINIMIZE: 'minimize'>, 2.0)
        >>> Metric(name="F1", direction="up", compute=len)
        Traceback (most recent call last):
        ...
        ValueError: The 'name' parameter of Metric must be a lower-case identifier \
(letters, digits, '_'). Got 'F1' instead.
    """

    name: str
    direction: Direction
    compute: Callable[[torch.Tensor, torch.Tensor], float]
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(
                "The 'name' parameter of Metric must be a lower-case identifier (letters, "
                f"digits, '_'). Got {self.name!r} instead."
            )
        try:
            object.__setattr__(self, "direction", Direction(self.direction))
        except ValueError:
            raise ValueError(
                "The 'direction' parameter of Metric must be one of maximize, minimize. "
                f"Got {self.direction!r} instead."
            ) from None
        if not callable(self.compute):
            raise ValueError(
                "The 'compute' parameter of Metric must be a callable (outputs, targets) -> "
                f"float. Got {self.compute!r} instead."
            )


_METRICS: Registry[Metric] = Registry(kind="metric")


def register_metric(metric: Metric) -> None:
    """Add a metric to the registry; a duplicate name raises ``ValueError``."""
    if not isinstance(metric, Metric):
        raise ValueError(
            f"The 'metric' parameter of register_metric must be a Metric. Got {metric!r} instead."
        )
    _METRICS.register(metric.name, metric)


def get_metric(name: str) -> Metric:
    """The registered metric ``name`` (an unknown name raises listing the known ones).

    Examples:
        >>> get_metric("f1")
        Traceback (most recent call last):
        ...
        ValueError: Unknown metric 'f1'. Known: accuracy, top5_accuracy, loss, macro_f1, rmse, mae.
    """
    return _METRICS.get(name)


def list_metrics() -> list[str]:
    """Names of the registered metrics.

    Examples:
        >>> list_metrics()
        ['accuracy', 'top5_accuracy', 'loss', 'macro_f1', 'rmse', 'mae']
    """
    return _METRICS.names()


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float64).numpy()


def _predictions(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Regression outputs shaped like the targets (``(n, 1)`` -> ``(n,)``)."""
    if outputs.shape != targets.shape and outputs.numel() == targets.numel():
        return outputs.reshape(targets.shape)
    return outputs


def _accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    correct = (outputs.argmax(dim=1) == targets.to(outputs.device)).sum()
    return int(correct.item()) / len(targets)


def top_k_accuracy(outputs: torch.Tensor, targets: torch.Tensor, *, k: int) -> float:
    """Fraction of samples whose target is among the ``k`` highest outputs.

    Examples:
        >>> top_k_accuracy(torch.tensor([[0.1, 0.5, 0.4]]), torch.tensor([2]), k=2)
        1.0
    """
    k = min(k, outputs.shape[1])
    top = outputs.topk(k, dim=1).indices
    hits = (top == targets.to(outputs.device)[:, None]).any(dim=1).sum()
    return int(hits.item()) / len(targets)


def _default_loss(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Cross-entropy for integer targets, mean squared error for float targets."""
    if targets.is_floating_point():
        return float(F.mse_loss(_predictions(outputs, targets).float(), targets.float()))
    return float(F.cross_entropy(outputs.float(), targets.to(outputs.device)))


def _macro_f1(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    from sklearn.metrics import f1_score

    predicted = outputs.argmax(dim=1).cpu().numpy()
    return float(f1_score(targets.cpu().numpy(), predicted, average="macro", zero_division=0))


def _rmse(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    from sklearn.metrics import mean_squared_error

    mse = mean_squared_error(_numpy(targets), _numpy(_predictions(outputs, targets)))
    return math.sqrt(float(mse))


def _mae(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(_numpy(targets), _numpy(_predictions(outputs, targets))))


for _metric in (
    Metric(
        name="accuracy",
        direction=Direction.MAXIMIZE,
        compute=_accuracy,
        description="Fraction classified correctly (arg max of the outputs).",
    ),
    Metric(
        name="top5_accuracy",
        direction=Direction.MAXIMIZE,
        compute=lambda outputs, targets: top_k_accuracy(outputs, targets, k=5),
        description="Fraction whose class is among the 5 highest outputs.",
    ),
    Metric(
        name="loss",
        direction=Direction.MINIMIZE,
        compute=_default_loss,
        description="The task's loss (cross-entropy, or MSE for float targets).",
    ),
    Metric(
        name="macro_f1",
        direction=Direction.MAXIMIZE,
        compute=_macro_f1,
        description="scikit-learn f1_score(average='macro') of the arg max.",
    ),
    Metric(
        name="rmse",
        direction=Direction.MINIMIZE,
        compute=_rmse,
        description="Root of scikit-learn's mean_squared_error.",
    ),
    Metric(
        name="mae",
        direction=Direction.MINIMIZE,
        compute=_mae,
        description="scikit-learn's mean_absolute_error.",
    ),
):
    register_metric(_metric)


#: Built-in metrics that compute with scikit-learn (imported on their first use).
_WITH_SKLEARN = (_macro_f1, _rmse, _mae)


def load_metric_code(metrics: Iterable[Metric]) -> None:
    """Import what the built-in ``metrics`` compute with, so that the first validation of a
    run (inside its timed epoch) does not pay for the import: scikit-learn's ``metrics``
    takes about a second and a half to import, a hundred times a digits epoch.

    Examples:
        >>> load_metric_code([get_metric("rmse")])
        >>> import sys; "sklearn.metrics" in sys.modules
        True
    """
    if any(metric.compute in _WITH_SKLEARN for metric in metrics):
        import sklearn.metrics  # noqa: F401


def resolve_metric(
    item: str | Metric, *, loss: Callable[..., torch.Tensor] | None = None
) -> Metric:
    """A task's metric entry as a :class:`Metric` (``"loss"`` bound to the task's ``loss``).

    Examples:
        >>> resolve_metric("mae").name
        'mae'
    """
    if isinstance(item, Metric):
        return item
    metric = get_metric(item)
    if item == "loss" and loss is not None:
        task_loss = loss
        return Metric(
            name="loss",
            direction=Direction.MINIMIZE,
            compute=lambda outputs, targets: float(task_loss(outputs, targets)),
            description=metric.description,
        )
    return metric


def compute_metrics(
    metrics: Iterable[Metric],
    outputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    prefix: str,
) -> dict[str, float]:
    """``{prefix + name: value}`` for every metric over one split.

    Raises:
        ValueError: A metric that is not a finite number (the message names it), or a
            compute function that raised (its error is named).

    Examples:
        >>> out, y = torch.tensor([[1.0], [2.0]]), torch.tensor([1.0, 4.0])
        >>> compute_metrics([get_metric("mae"), get_metric("rmse")], out, y, prefix="val_")
        {'val_mae': 1.0, 'val_rmse': 1.4142135623730951}
        >>> compute_metrics([get_metric("mae")], torch.tensor([[float("nan")]]),
        ...                 torch.tensor([1.0]), prefix="val_")
        Traceback (most recent call last):
        ...
        ValueError: metric 'val_mae' is nan
        >>> def broken(outputs, targets):
        ...     return 1 / 0
        >>> compute_metrics([Metric(name="mine", direction="maximize", compute=broken)],
        ...                 out, y, prefix="val_")
        Traceback (most recent call last):
        ...
        ValueError: metric 'val_mine' could not be computed: ZeroDivisionError: division by zero
    """
    values: dict[str, float] = {}
    for metric in metrics:
        key = f"{prefix}{metric.name}"
        try:
            value = float(metric.compute(outputs, targets))
        except ValueError as error:
            if "NaN" in str(error) or "nan" in str(error):  # scikit-learn refuses NaN input
                raise ValueError(f"metric {key!r} is nan") from None
            raise ValueError(f"metric {key!r} could not be computed: {error}") from None
        except (TypeError, RuntimeError) as error:
            raise ValueError(f"metric {key!r} could not be computed: {error}") from None
        except Exception as error:  # the user's own compute function: name the metric
            name = type(error).__name__
            raise ValueError(f"metric {key!r} could not be computed: {name}: {error}") from error
        if not math.isfinite(value):
            raise ValueError(f"metric {key!r} is {value}")
        values[key] = value
    return values


def check_metrics(owner: str, items: object) -> tuple[str | Metric, ...]:
    """Validate a task's ``metrics`` field: a non-empty tuple of known names or records."""
    if isinstance(items, str) or not isinstance(items, tuple | list) or not items:
        raise ValueError(
            f"The 'metrics' parameter of {owner} must be a non-empty tuple of metric names "
            f"({', '.join(list_metrics())}) or Metric records. Got {items!r} instead."
        )
    names: list[str] = []
    for item in items:
        if isinstance(item, str):
            get_metric(item)
            names.append(item)
        elif isinstance(item, Metric):
            names.append(item.name)
        else:
            raise ValueError(
                f"The 'metrics' parameter of {owner} must hold metric names or Metric records. "
                f"Got {item!r} instead."
            )
    if len(set(names)) != len(names):
        raise ValueError(
            f"The 'metrics' parameter of {owner} must not repeat a metric. Got {names!r} instead."
        )
    return tuple(items)
