"""A regression task: an MLP on scikit-learn's bundled diabetes data (no download).

Targets are floats (disease progression one year later), the loss is MSE, and the metrics
are RMSE, MAE and the loss, all minimized. Features and targets are standardised with the
training split's mean and deviation; the metrics are in the original target units.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._task import DataSplits, Task
from ._tasks import TaskSpec, register_task

__all__ = ["RegressionMLP", "diabetes_splits", "mse_loss"]


def diabetes_splits(*, split_seed: int = 0) -> DataSplits:
    """scikit-learn's diabetes data (442 samples, 10 features), 60/20/20, float targets.

    Features are standardised with the training split's statistics; targets stay in their
    own units (float32).

    Examples:
        >>> d = diabetes_splits()
        >>> tuple(d.x_train.shape), len(d.x_val), len(d.x_test), d.y_train.dtype
        ((265, 10), 88, 89, torch.float32)
    """
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, train_size=0.6, random_state=split_seed
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, train_size=0.5, random_state=split_seed
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)

    def tensor(values: np.ndarray, *, scale: bool) -> torch.Tensor:
        values = (values - mean) / std if scale else values
        return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))

    return DataSplits(
        x_train=tensor(x_train, scale=True),
        y_train=tensor(y_train, scale=False),
        x_val=tensor(x_val, scale=True),
        y_val=tensor(y_val, scale=False),
        x_test=tensor(x_test, scale=True),
        y_test=tensor(y_test, scale=False),
    )


def mse_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error of ``(n, 1)`` outputs against ``(n,)`` targets.

    Examples:
        >>> float(mse_loss(torch.tensor([[1.0], [3.0]]), torch.tensor([1.0, 1.0])))
        2.0
    """
    return F.mse_loss(outputs.reshape(targets.shape).float(), targets.float())


class RegressionMLP(nn.Sequential):
    """ReLU MLP with one output, whose last bias starts at the targets' mean.

    Examples:
        >>> RegressionMLP(in_features=10, hidden=(8,), bias=150.0)(torch.zeros(2, 10)).shape
        torch.Size([2, 1])
    """

    def __init__(
        self, *, in_features: int, hidden: tuple[int, ...], bias: float, dropout: float = 0.0
    ) -> None:
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        head = nn.Linear(width, 1)
        super().__init__(*layers, head)
        with torch.no_grad():
            head.bias.fill_(bias)


class _Cached:
    def __init__(self, split_seed: int) -> None:
        self.split_seed = split_seed
        self._data: DataSplits | None = None

    def __call__(self) -> DataSplits:
        if self._data is None:
            self._data = diabetes_splits(split_seed=self.split_seed)
        return self._data


class _DiabetesModel:
    """Picklable ``build_model(dropout)``: the output bias starts at the training mean."""

    def __init__(self, *, hidden: tuple[int, ...], data: _Cached) -> None:
        self.hidden = hidden
        self.data = data

    def __call__(self, dropout: float) -> nn.Module:
        bias = float(self.data().y_train.mean())
        return RegressionMLP(in_features=10, hidden=self.hidden, bias=bias, dropout=dropout)


def _diabetes_mlp(data_dir: str | None, options: Mapping[str, Any]) -> Task:
    seed = options["split_seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(
            f"The 'split_seed' option of task 'diabetes-mlp' must be an int >= 0. "
            f"Got {seed!r} instead."
        )
    load = _Cached(seed)
    return Task(
        name="diabetes-mlp",
        description=_DESCRIPTION,
        default_epochs=40,
        build_model=_DiabetesModel(hidden=(64, 32), data=load),
        load_data=load,
        input_shape=(10,),
        num_classes=0,
        loss=mse_loss,
        metrics=("rmse", "mae", "loss"),
        options=dict(options),
    )


_DESCRIPTION = "MLP 10-64-32-1 regression on scikit-learn's diabetes data (no download; RMSE)"

register_task(
    TaskSpec(
        name="diabetes-mlp",
        description=_DESCRIPTION,
        builder=_diabetes_mlp,
        options={"split_seed": 0},
    )
)
