"""A model's outputs on a split, and its accuracy (``@torch.no_grad``, symmetric eval/train)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import cast

import torch
from torch import nn

from ._data import EVAL_BATCH_SIZE, Batch, eval_batches
from ._inputs import forward, to_device
from ._task import Task

__all__ = ["Split", "accuracy", "evaluate", "predict", "split_accuracy"]

_SPLITS = ("train", "val", "test")

#: A split to evaluate: ``(inputs, targets)`` tensors (the in-memory path, batched here) or an
#: iterable of ``(inputs, targets)`` batches (a ``DataLoader``; inputs a tensor, a tuple or a
#: dict of tensors).
Split = tuple[torch.Tensor, torch.Tensor] | Iterable[Batch]


def _batches(split: Split, batch_size: int) -> Iterator[Batch]:
    if (
        isinstance(split, tuple)
        and len(split) == 2
        and isinstance(x := split[0], torch.Tensor)
        and isinstance(y := split[1], torch.Tensor)
    ):
        if len(x) != len(y):
            raise ValueError(f"The split has {len(x)} inputs but {len(y)} targets.")
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
    else:
        yield from cast(Iterable[Batch], split)  # a (x, y) pair of non-tensors is batches too


@torch.no_grad()
def predict(
    model: nn.Module,
    split: Split,
    *,
    device: torch.device | None = None,
    batch_size: int = EVAL_BATCH_SIZE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's outputs and the targets over a whole split, concatenated in order.

    The model runs in eval mode (its mode is restored afterwards) without gradients; each
    batch goes to ``device`` (inputs and targets), and the results stay there.

    Args:
        model: Any model whose forward returns one tensor per batch.
        split: ``(x, y)`` tensors, batched by ``batch_size``, or an iterable of
            ``(inputs, targets)`` batches such as a ``DataLoader`` (see :data:`Split`).
        device: Where to run (None: the device of the model's parameters).
        batch_size: Batch size of the tensor path.

    Returns:
        ``(outputs, targets)``: ``outputs[i]`` is the model's output for sample ``i``.

    Examples:
        >>> model = nn.Linear(2, 2, bias=False)
        >>> _ = model.weight.data.copy_(torch.eye(2))
        >>> x, y = torch.tensor([[1.0, 0.0], [0.0, 3.0]]), torch.tensor([0, 0])
        >>> outputs, targets = predict(model, (x, y))
        >>> outputs.tolist(), targets.tolist()
        ([[1.0, 0.0], [0.0, 3.0]], [0, 0])
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=1)
        >>> torch.equal(predict(model, loader)[0], outputs)
        True
    """
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    outputs: list[torch.Tensor] = []
    targets: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    try:
        for inputs, target in _batches(split, batch_size):
            out = forward(model, to_device(inputs, device, non_blocking=True))
            if not isinstance(out, torch.Tensor):
                raise TypeError(
                    "predict needs a model whose forward returns one tensor. "
                    f"Got {type(out).__name__} instead."
                )
            outputs.append(out)
            targets.append(target.to(device, non_blocking=True))
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("The split to predict on is empty.")
    if len(outputs) == 1:
        return outputs[0], targets[0]
    return torch.cat(outputs), torch.cat(targets)


def split_accuracy(
    model: nn.Module,
    split: Split,
    *,
    device: torch.device | None = None,
    batch_size: int = EVAL_BATCH_SIZE,
) -> float:
    """Fraction of ``split`` that ``model`` classifies as its targets (one host sync).

    Examples:
        >>> model = nn.Linear(2, 2, bias=False)
        >>> _ = model.weight.data.copy_(torch.eye(2))
        >>> split_accuracy(model, [(torch.eye(2), torch.tensor([0, 0]))])
        0.5
    """
    outputs, targets = predict(model, split, device=device, batch_size=batch_size)
    return int((outputs.argmax(dim=1) == targets).sum().item()) / len(targets)


def accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = EVAL_BATCH_SIZE
) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y`` (one host sync at the end).

    Examples:
        >>> model = nn.Linear(2, 2, bias=False)
        >>> _ = model.weight.data.copy_(torch.eye(2))
        >>> accuracy(model, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
        0.5
    """
    return split_accuracy(model, (x, y), batch_size=batch_size)


def evaluate(model: nn.Module, task: Task, *, split: str = "test") -> float:
    """Accuracy of ``model`` on ``task``'s ``split`` ("train", "val" or "test").

    Works for in-memory tasks and for dataset tasks (read in order with the task's
    :class:`LoaderOptions`).
    """
    if split not in _SPLITS:
        raise ValueError(
            f"The 'split' parameter of evaluate must be one of "
            f"{', '.join(_SPLITS)}. Got {split!r} instead."
        )
    if task.streams:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        return split_accuracy(model, eval_batches(task, split, device=device))
    data = task.data()
    return accuracy(model, getattr(data, f"x_{split}"), getattr(data, f"y_{split}"))
