"""Accuracy of a model on a task's split (``@torch.no_grad``, symmetric eval/train)."""

from __future__ import annotations

import torch
from torch import nn

from ._task import Task

__all__ = ["accuracy", "evaluate"]

_SPLITS = ("train", "val", "test")


@torch.no_grad()
def accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024
) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y`` (one host sync at the end).

    Examples:
        >>> model = nn.Linear(2, 2, bias=False)
        >>> _ = model.weight.data.copy_(torch.eye(2))
        >>> accuracy(model, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
        0.5
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    try:
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            yb = y[start : start + batch_size].to(device, non_blocking=True)
            correct += (model(xb).argmax(dim=1) == yb).sum()
    finally:
        model.train(was_training)
    return int(correct.item()) / len(x)


def evaluate(model: nn.Module, task: Task, *, split: str = "test") -> float:
    """Accuracy of ``model`` on ``task``'s ``split`` ("train", "val" or "test")."""
    if split not in _SPLITS:
        raise ValueError(
            f"The 'split' parameter of evaluate must be one of "
            f"{', '.join(_SPLITS)}. Got {split!r} instead."
        )
    data = task.data()
    return accuracy(model, getattr(data, f"x_{split}"), getattr(data, f"y_{split}"))
