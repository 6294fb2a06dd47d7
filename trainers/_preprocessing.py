"""What turns a raw input into the model's input: :class:`Preprocessing` and its layer.

A task whose data loader standardizes its inputs (digits: with the training split's mean and
std; MNIST, CIFAR-10: with their published constants) declares it as a
:class:`Preprocessing`, so an exported model can take raw inputs: the export puts a
:class:`Normalize` layer in front of the network and writes the record into its model card.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["Normalize", "Preprocessing"]


def _floats(value: Any, *, name: str) -> tuple[float, ...]:
    items = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    if (
        not items
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in items)
        or not all(math.isfinite(float(v)) for v in items)
    ):
        raise ValueError(
            f"The {name!r} parameter of Preprocessing must be a non-empty sequence of finite "
            f"floats. Got {value!r} instead."
        )
    return tuple(float(v) for v in items)


@dataclass(frozen=True, kw_only=True)
class Preprocessing:
    """``(raw - mean) / std``: how a task's data loader turns raw inputs into model inputs.

    The values run along dimension 1 of a batch (the features of a vector, the channels of an
    image); a single value applies to every element.

    Attributes:
        mean: One value, or one per feature / channel.
        std: As many values as ``mean``, each > 0.
        description: What a raw input is and where the numbers come from, for the model card
            (``"pixels 0-255; MNIST's mean 0.1307 and std 0.3081 of x / 255"``).

    Examples:
        >>> p = Preprocessing(mean=(2.0,), std=(4.0,), description="demo")
        >>> p.apply(torch.tensor([[2.0, 6.0]])).tolist()
        [[0.0, 1.0]]
        >>> Preprocessing.from_dict(p.to_dict()) == p
        True
        >>> Preprocessing(mean=(0.0, 1.0), std=(0.0, 1.0))
        Traceback (most recent call last):
        ...
        ValueError: The 'std' parameter of Preprocessing must hold floats > 0. Got (0.0, 1.0) \
instead.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    description: str = ""

    def __post_init__(self) -> None:
        mean = _floats(self.mean, name="mean")
        std = _floats(self.std, name="std")
        if any(s <= 0 for s in std):
            raise ValueError(
                f"The 'std' parameter of Preprocessing must hold floats > 0. Got {std} instead."
            )
        if len(mean) != len(std):
            raise ValueError(
                "The 'mean' and 'std' parameters of Preprocessing must have the same length. "
                f"Got {len(mean)} and {len(std)} instead."
            )
        if not isinstance(self.description, str):
            raise ValueError(
                "The 'description' parameter of Preprocessing must be a str. "
                f"Got {self.description!r} instead."
            )
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def module(self) -> Normalize:
        """A :class:`Normalize` layer that applies it."""
        return Normalize(self)

    def apply(self, raw: torch.Tensor) -> torch.Tensor:
        """The model input of a batch of raw inputs."""
        out: torch.Tensor = self.module()(raw)
        return out

    def invert(self, inputs: torch.Tensor) -> torch.Tensor:
        """The raw inputs of a batch of model inputs (``inputs * std + mean``)."""
        mean, std = (torch.tensor(v, dtype=inputs.dtype) for v in (self.mean, self.std))
        shape = _shape(inputs, len(self.mean))
        return inputs * std.view(shape) + mean.view(shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (``export.json``, ``metrics.json``)."""
        return {"mean": list(self.mean), "std": list(self.std), "description": self.description}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        """The record :meth:`to_dict` wrote."""
        return cls(
            mean=tuple(data["mean"]),
            std=tuple(data["std"]),
            description=str(data.get("description", "")),
        )

    def __str__(self) -> str:
        def show(values: tuple[float, ...]) -> str:
            text = ", ".join(f"{v:.6g}" for v in values)
            return text if len(values) == 1 else f"({text})"

        formula = f"(x - {show(self.mean)}) / {show(self.std)}"
        if len(self.mean) > 1:
            formula += " along dimension 1"
        return f"{formula}: {self.description}" if self.description else formula


def _shape(x: torch.Tensor, count: int) -> tuple[int, ...]:
    """The shape that broadcasts ``count`` values along dimension 1 of ``x``."""
    if count == 1:
        return (1,)
    if x.dim() < 2 or x.shape[1] != count:
        raise ValueError(
            f"The preprocessing holds {count} values for dimension 1 of the input; "
            f"the input has shape {tuple(x.shape)}."
        )
    return (1, count) + (1,) * (x.dim() - 2)


class Normalize(nn.Module):
    """The layer of a :class:`Preprocessing`: ``(x - mean) / std``, float32 buffers.

    Examples:
        >>> layer = Normalize(Preprocessing(mean=(1.0, 2.0), std=(2.0, 4.0)))
        >>> layer(torch.tensor([[3.0, 6.0]])).tolist()
        [[1.0, 1.0]]
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, preprocessing: Preprocessing) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(preprocessing.mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(preprocessing.std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = _shape(x, self.mean.numel())
        return (x - self.mean.view(shape)) / self.std.view(shape)
