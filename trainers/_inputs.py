"""Batches of model inputs: one tensor, a tuple of tensors or a dict of tensors.

A task's model is called as ``model(x)``, ``model(*x)`` or ``model(**x)``; these helpers move,
slice, count and describe such inputs the same way for training, evaluation and cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "Example",
    "batch_len",
    "describe",
    "forward",
    "map_inputs",
    "slice_inputs",
    "to_device",
]

#: One batch of model inputs: a tensor (``model(x)``), a sequence of tensors (``model(*x)``) or
#: a mapping of names to tensors (``model(**x)``); dimension 0 of every tensor is the sample.
Example = torch.Tensor | Sequence[torch.Tensor] | Mapping[str, torch.Tensor]


def map_inputs(inputs: Example, fn: Callable[[torch.Tensor], torch.Tensor]) -> Example:
    """``fn`` applied to every tensor of ``inputs``, keeping its structure.

    Examples:
        >>> map_inputs({"a": torch.ones(2)}, lambda t: t * 2)
        {'a': tensor([2., 2.])}
    """
    if isinstance(inputs, torch.Tensor):
        return fn(inputs)
    if isinstance(inputs, Mapping):
        return {key: fn(value) for key, value in inputs.items()}
    return tuple(fn(value) for value in inputs)


def forward(model: nn.Module, inputs: Example) -> Any:
    """``model(x)``, ``model(*x)`` or ``model(**x)`` for a tensor, a sequence or a mapping."""
    if isinstance(inputs, torch.Tensor):
        return model(inputs)
    if isinstance(inputs, Mapping):
        return model(**inputs)
    return model(*inputs)


def to_device(inputs: Example, device: torch.device, *, non_blocking: bool = False) -> Example:
    """``inputs`` on ``device``."""
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device, non_blocking=non_blocking)
    return map_inputs(inputs, lambda t: t.to(device, non_blocking=non_blocking))


def batch_len(inputs: Example) -> int:
    """Samples in a batch of inputs (dimension 0 of its first tensor).

    Examples:
        >>> batch_len((torch.zeros(3, 2), torch.zeros(3)))
        3
    """
    if isinstance(inputs, torch.Tensor):
        return len(inputs)
    first = next(iter(inputs.values())) if isinstance(inputs, Mapping) else inputs[0]
    return len(first)


def slice_inputs(inputs: Example, start: int, stop: int) -> Example:
    """Samples ``start:stop`` of a batch of inputs."""
    if isinstance(inputs, torch.Tensor):
        return inputs[start:stop]
    return map_inputs(inputs, lambda t: t[start:stop])


def describe(value: Any) -> str:
    """Words for what a loader or dataset gave (types, dtypes and shapes), for messages.

    Examples:
        >>> describe((torch.zeros(2, 3), {"mask": torch.ones(2, dtype=torch.bool)}))
        "a tuple of 2 (a float32 tensor of shape (2, 3), a dict with 'mask': a bool tensor \
of shape (2,))"
    """
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    if isinstance(value, Mapping):
        return "a dict with " + ", ".join(f"{k!r}: {describe(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        parts = ", ".join([describe(item) for item in value[:3]] + ["..."] * (len(value) > 3))
        return f"a {type(value).__name__} of {len(value)} ({parts})"
    return f"a {type(value).__name__}"
