"""Checking a task before any training: what would make every run of it fail.

:func:`check_task` raises the trainer's own message (the same functions raise it inside
:func:`~paretune.trainers.train`) for a data factory that returns the wrong type, a first
batch of the wrong form, a pretrained or teacher file that does not match the model, and a
model that cannot run on the first validation batch. It reads a few items of each split, never
a whole dataset, in this process (no ``DataLoader`` workers), on the CPU, and leaves torch's
global random state as it found it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._data import COST_SAMPLES, check_batch, check_labels, classifies, first_batch
from ._inputs import Example, describe, forward
from ._strategy import Strategy
from ._task import Task
from ._task_params import build_task_model
from ._transfer import load_pretrained, split_parameters

__all__ = ["SPLITS", "check_task", "forward_error"]

#: The splits whose first batch :func:`check_task` reads, in this order.
SPLITS = ("train", "val", "test")


def forward_error(task: Task, example: Example, error: BaseException) -> ValueError:
    """The error of a model that cannot run on the task's first validation batch.

    Examples:
        >>> from paretune.trainers import get_task
        >>> print(forward_error(get_task("digits-mlp"), torch.zeros(8, 5), RuntimeError("no")))
        Task 'digits-mlp': the model cannot run on the first validation batch (inputs a \
float32 tensor of shape (8, 5)): no
    """
    return ValueError(
        f"Task {task.name!r}: the model cannot run on the first validation batch "
        f"(inputs {describe(example)}): {error}"
    )


def check_task(task: Task, *, strategy: Strategy | None = None, model: bool = True) -> None:
    """Raise what would make every training run of ``task`` fail, before any training.

    Checked, in this order (replay tasks train nothing and pass):

    1. the data factory returns the right type: ``load_data`` a ``DataSplits``,
       ``load_datasets`` a ``DatasetSplits`` (``TypeError``);
    2. the first batch of the train, val and test splits (``COST_SAMPLES`` items each, read
       without workers): a pair ``(inputs, targets)`` of tensors with as many targets as
       inputs, integer class labels from 0 to ``num_classes - 1`` for a cross-entropy task (of
       the whole split for in-memory data; ``ValueError``), and for datasets the sample
       shape of ``Task.input_shape`` when the task gives one (``TypeError``, naming the task
       and the split; ``ValueError`` for an empty split);
    3. a teacher weights file loads onto the task's own model (``ValueError``);
    4. with ``model``: the model of ``strategy`` (its ``task_params`` and ``dropout``) is built,
       each ``Task.head`` prefix names parameters of it (``ValueError``), the pretrained file
       loads onto it (every key and shape; ``ValueError`` naming the task,
       the file and each missing, unexpected and mis-shaped key), and it runs forward on the
       first validation batch in eval mode, on the CPU (``ValueError``, see
       :func:`forward_error`; where CUDA is available a model that fails on the CPU is left to
       the trials, which may run it on the GPU); a classifier (the default cross-entropy)
       must output ``(batch, num_classes)`` scores (``ValueError``).

    Args:
        task: The task.
        strategy: Whose model to build; ``None`` builds the default one (``Strategy()``).
        model: Check the model; leave it False when the model depends on values not known
            yet (a study that searches a task parameter).

    Raises:
        TypeError: For data of the wrong type or form.
        ValueError: For an empty split, a weights file that does not match the model, or a
            model that cannot run on the first validation batch.

    Examples:
        >>> from paretune.trainers import Task, get_task
        >>> check_task(get_task("synthetic", options={"n_samples": 200}))
        >>> bad = Task(name="bad", build_model=lambda dropout: nn.Linear(20, 2),
        ...            load_data=lambda: {"x": torch.zeros(4, 20)}, num_classes=2)
        >>> check_task(bad)
        Traceback (most recent call last):
        ...
        TypeError: Task 'bad': load_data() must return a DataSplits. Got dict instead.
    """
    if task.replay is not None:
        return
    with torch.random.fork_rng(devices=[]):  # model init and random transforms draw from it
        example = _check_data(task)
        if task.teacher is not None and not callable(task.teacher):  # a weights file
            load_pretrained(task.new_model(0.0), task.teacher, task=task.name, what="teacher file")
        if model:
            _check_model(task, strategy or Strategy(), example)


def _check_data(task: Task) -> Example:
    """Check the first batch of every split; the validation inputs."""
    classify = classifies(task)
    if task.streams:
        datasets = task.datasets()
        batches = {split: first_batch(task, split, datasets=datasets) for split in SPLITS}
        return batches["val"][0]
    data = task.data()
    for split in SPLITS:
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        batch = (x[:COST_SAMPLES], y[:COST_SAMPLES])
        check_batch(batch, task=task, split=split, classify=classify, check_shape=False)
        if classify:
            check_labels(y, task=task, split=split, what="split")
    example: Example = data.x_val[:COST_SAMPLES]
    return example


def _check_model(task: Task, strategy: Strategy, example: Example) -> None:
    """Build the model, load the pretrained file, run the first validation batch."""
    built: nn.Module = build_task_model(task, strategy)
    if task.head:  # each head prefix names parameters of the model
        split_parameters(built, task.head, task=task.name)
    if task.pretrained is not None:
        load_pretrained(built, task.pretrained, task=task.name, head=task.head)
    built.eval()
    try:
        with torch.no_grad():
            output: Any = forward(built, example)
    except Exception as error:  # noqa: BLE001 - any error of the user's model is the reason
        if torch.cuda.is_available():
            return  # it may need the GPU the trials will train it on: theirs to find out
        raise forward_error(task, example, error) from error
    if classifies(task) and isinstance(output, torch.Tensor):
        width = output.shape[1] if output.dim() >= 2 else None
        if width != task.num_classes:
            got = f"{width} columns" if width is not None else f"shape {tuple(output.shape)}"
            raise ValueError(
                f"Task {task.name!r}: the model's outputs on the first validation batch have "
                f"{got}; a classifier trained with cross-entropy must output one score per "
                f"class, (batch, num_classes={task.num_classes})."
            )
