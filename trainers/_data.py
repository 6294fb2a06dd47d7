"""Streaming a task's datasets: seeded ``DataLoader``s, batch checks, batches on the device.

A :class:`DatasetSplits` task is read through ``DataLoader``s built here:

* training: ``batch_size = Strategy.batch_size`` (the effective batch), map-style data
  shuffled by a ``torch.Generator`` of the run (seeded with ``Strategy.seed``). The same
  generator draws each epoch's worker seed: torch seeds every worker's ``torch`` and
  ``random`` from it, and :func:`seed_worker` seeds NumPy, so a trial's data order and its
  worker-side random transforms repeat with any ``num_workers``.
* validation / test: in order, ``LoaderOptions.eval_batch_size`` (default 1024).

Every pass checks its first batch (:class:`CheckedBatches`): a pair ``(inputs, targets)`` whose
inputs are a tensor, a tuple of tensors or a dict of tensors and whose targets are one tensor,
all with the same number of samples, class labels of an integer type for a classification task,
and sample shapes equal to ``Task.input_shape`` when the task gives one.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import ChainDataset, ConcatDataset, DataLoader, Dataset, IterableDataset

from ._distributed import GlobalBatchSampler, ProcessGroup
from ._inputs import Example, describe
from ._task import DatasetSplits, Task, _cross_entropy

__all__ = [
    "COST_SAMPLES",
    "EVAL_BATCH_SIZE",
    "Batch",
    "CheckedBatches",
    "check_batch",
    "check_labels",
    "classifies",
    "eval_batches",
    "first_batch",
    "first_inputs",
    "make_loader",
    "seed_worker",
    "steps_per_epoch",
    "task_example",
    "train_dataset",
]

#: Validation samples the cost is measured on (uses per weight are averaged over them).
COST_SAMPLES = 8

#: Batch size of evaluation when the task does not set ``LoaderOptions.eval_batch_size``.
EVAL_BATCH_SIZE = 1024

#: One batch: the model's inputs (see :data:`Example`) and the targets.
Batch = tuple[Example, torch.Tensor]


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed NumPy from the worker's torch seed (torch seeds ``random``).

    Examples:
        >>> seed_worker(0)  # in the main process it seeds NumPy from torch's initial seed
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def check_batch(
    batch: Any, *, task: Task, split: str, classify: bool, check_shape: bool = True
) -> Batch:
    """``batch`` as ``(inputs, targets)``, or a ``TypeError`` naming the task and the split.

    Args:
        batch: What the loader gave.
        task: The task (its name, ``input_shape``).
        split: ``"train"``, ``"val"`` or ``"test"``.
        classify: The targets are class labels (an integer dtype, one per sample).
        check_shape: Compare the sample shape with ``Task.input_shape`` (in-memory tensors
            are not held to it: their trainer never was).

    Examples:
        >>> from paretune.trainers import get_task
        >>> task = get_task("synthetic", options={"n_samples": 200})
        >>> x, y = check_batch((torch.zeros(4, 20), torch.zeros(4, dtype=torch.long)),
        ...                    task=task, split="val", classify=True)
        >>> check_batch((torch.zeros(4, 20), torch.zeros(4)), task=task, split="val",
        ...             classify=True)
        Traceback (most recent call last):
        ...
        TypeError: Task 'synthetic': a val batch must be (inputs, targets) with class labels \
of an integer dtype (torch.long); got targets a float32 tensor of shape (4,).
    """
    where = f"Task {task.name!r}: a {split} batch"
    if not isinstance(batch, list | tuple) or len(batch) != 2:
        raise TypeError(
            f"{where} must be a pair (inputs, targets) (each dataset item an (input, target) "
            f"pair); got {describe(batch)}."
        )
    inputs, targets = batch
    if isinstance(inputs, list):
        inputs = tuple(inputs)
    tensors = (
        [inputs]
        if isinstance(inputs, torch.Tensor)
        else list(inputs.values())
        if isinstance(inputs, Mapping)
        else list(inputs)
        if isinstance(inputs, tuple)
        else []
    )
    if (
        not tensors
        or not all(isinstance(t, torch.Tensor) and t.dim() >= 1 for t in tensors)
        or (isinstance(inputs, Mapping) and not all(isinstance(k, str) for k in inputs))
    ):
        raise TypeError(
            f"{where} must have inputs that are a tensor, a tuple of tensors or a dict of "
            f"str to tensors, with the samples along dimension 0; got {describe(inputs)}."
        )
    if not isinstance(targets, torch.Tensor) or targets.dim() < 1:
        raise TypeError(
            f"{where} must have targets that are one tensor with the samples along dimension "
            f"0; got {describe(targets)}."
        )
    samples = {len(t) for t in tensors} | {len(targets)}
    if len(samples) > 1:
        raise TypeError(
            f"{where} must hold as many targets as inputs; got inputs {describe(inputs)} and "
            f"targets {describe(targets)}."
        )
    if classify and (
        targets.dim() != 1 or targets.dtype.is_floating_point or targets.dtype.is_complex
    ):
        raise TypeError(
            f"{where} must be (inputs, targets) with class labels of an integer dtype "
            f"(torch.long); got targets {describe(targets)}."
        )
    if classify:
        check_labels(targets, task=task, split=split, what="batch")
    shape = tuple(task.input_shape)
    if (
        check_shape
        and shape
        and isinstance(inputs, torch.Tensor)
        and tuple(inputs.shape[1:]) != shape
    ):
        raise TypeError(
            f"{where} must have inputs of shape (batch, *{shape}) (Task.input_shape); "
            f"got {describe(inputs)}."
        )
    return inputs, targets


def check_labels(targets: torch.Tensor, *, task: Task, split: str, what: str) -> None:
    """Raise ``ValueError`` for a class label outside ``0 .. num_classes - 1``.

    Examples:
        >>> from paretune.trainers import get_task
        >>> task = get_task("synthetic", options={"n_samples": 200})
        >>> check_labels(torch.tensor([0, 1, 1]), task=task, split="val", what="batch")
        >>> check_labels(torch.tensor([0, 6, 2]), task=task, split="val", what="batch")
        Traceback (most recent call last):
        ...
        ValueError: Task 'synthetic': a val batch holds class label 6; labels must be 0 to 2 \
(num_classes=3).
    """
    if targets.numel() == 0:
        return
    low, high = int(targets.min()), int(targets.max())
    if low < 0 or high >= task.num_classes:
        label = low if low < 0 else high
        raise ValueError(
            f"Task {task.name!r}: a {split} {what} holds class label {label}; labels must be "
            f"0 to {task.num_classes - 1} (num_classes={task.num_classes})."
        )


class CheckedBatches:
    """Iterable over ``loader``'s batches, each pass checking its first batch.

    Args:
        loader: A ``DataLoader`` (or any iterable of batches).
        task: The task (for the error message).
        split: ``"train"``, ``"val"`` or ``"test"``.
        classify: The targets are class labels.
    """

    def __init__(self, loader: Iterable[Any], *, task: Task, split: str, classify: bool) -> None:
        self.loader = loader
        self.task = task
        self.split = split
        self.classify = classify

    def __iter__(self) -> Iterator[Batch]:
        batches = iter(self.loader)
        first = next(batches, None)
        if first is None:
            raise ValueError(f"Task {self.task.name!r}: the {self.split} dataset is empty.")
        yield check_batch(first, task=self.task, split=self.split, classify=self.classify)
        for inputs, targets in batches:
            yield (tuple(inputs) if isinstance(inputs, list) else inputs), targets

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]


def train_dataset(task: Task, datasets: DatasetSplits, *, fit_on_validation: bool) -> Dataset[Any]:
    """The training data: ``train``, or ``train`` then ``val`` for a final model."""
    if not fit_on_validation:
        return datasets.train
    train, val = datasets.train, datasets.val
    iterable = isinstance(train, IterableDataset), isinstance(val, IterableDataset)
    if all(iterable):
        return ChainDataset([train, val])
    if not any(iterable):
        return ConcatDataset([train, val])
    raise ValueError(
        f"Task {task.name!r}: fit_on_validation chains the train and val datasets, which must "
        "then both be map-style or both iterable."
    )


def make_loader(
    dataset: Dataset[Any],
    *,
    task: Task,
    batch_size: int,
    train: bool,
    generator: torch.Generator | None,
    device: torch.device,
    group: ProcessGroup | None = None,
) -> DataLoader[Any]:
    """A ``DataLoader`` over ``dataset`` with the task's :class:`LoaderOptions`.

    Args:
        dataset: Map-style or iterable dataset.
        task: The task (its ``loader_options``).
        batch_size: Samples per batch.
        train: Shuffle (map-style data) and keep the generator's order; else read in order.
        generator: Seeded generator for shuffling and worker seeds.
        device: Where the batches go (pinned memory only helps CUDA).
        group: The data-parallel group of a training loader: this rank reads its slice of
            every global batch of ``batch_size`` (:class:`GlobalBatchSampler`).

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> from paretune.trainers import get_task
        >>> data = TensorDataset(torch.arange(6.0).unsqueeze(1), torch.arange(6))
        >>> loader = make_loader(data, task=get_task("synthetic"), batch_size=4, train=True,
        ...                      generator=torch.Generator().manual_seed(0),
        ...                      device=torch.device("cpu"))
        >>> [len(y) for _, y in loader]
        [4, 2]
    """
    options = task.loader_options
    pin = device.type == "cuda" and (options.pin_memory is None or options.pin_memory)
    workers = options.num_workers
    common: dict[str, Any] = {
        "num_workers": workers,
        "pin_memory": pin,
        "persistent_workers": options.persistent_workers,
        "prefetch_factor": options.prefetch_factor,
        "collate_fn": options.collate_fn,
        "worker_init_fn": seed_worker if workers > 0 else None,
        "generator": generator,
    }
    if train and generator is not None and not isinstance(dataset, IterableDataset):
        # One seeded permutation per epoch, cut into global batches; a data-parallel rank
        # reads its slice of each, so N ranks read what one worker reads.
        sampler = GlobalBatchSampler(
            len(dataset),  # type: ignore[arg-type]
            batch_size=batch_size,
            group=ProcessGroup(rank=0, world=1) if group is None else group,
            generator=generator,
        )
        return DataLoader(dataset, batch_sampler=sampler, **common)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and not isinstance(dataset, IterableDataset),
        **common,
    )


def classifies(task: Task) -> bool:
    """True when the task's targets are class labels (its loss is the default cross-entropy)."""
    return task.loss is _cross_entropy


def eval_batches(
    task: Task,
    split: str,
    *,
    device: torch.device,
    datasets: DatasetSplits | None = None,
    group: ProcessGroup | None = None,
) -> CheckedBatches:
    """The checked batches of ``task``'s ``split`` dataset, in order (validation and test).

    The loader draws its worker seeds from a generator of its own (seed 0), never from torch's
    global one, so evaluating does not move the training run's random state. With a
    data-parallel ``group``, only this rank's shard of the split (every ``world``-th sample).
    """
    dataset = getattr(task.datasets() if datasets is None else datasets, split)
    if group is not None:
        dataset = group.shard_dataset(dataset)
    loader = make_loader(
        dataset,
        task=task,
        batch_size=task.loader_options.eval_batch_size or EVAL_BATCH_SIZE,
        train=False,
        generator=torch.Generator().manual_seed(0),
        device=device,
    )
    return CheckedBatches(loader, task=task, split=split, classify=classifies(task))


def steps_per_epoch(dataset: Dataset[Any], batch_size: int) -> int | None:
    """Batches per epoch of ``dataset`` (None for an iterable dataset without ``__len__``).

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> steps_per_epoch(TensorDataset(torch.zeros(10, 1)), 4)
        3
    """
    try:
        samples = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        return None
    return -(-samples // batch_size)


def first_batch(
    task: Task,
    split: str = "val",
    *,
    samples: int = COST_SAMPLES,
    datasets: DatasetSplits | None = None,
) -> Batch:
    """The first ``samples`` items of ``task``'s ``split`` dataset as one checked batch.

    Read in this process (no workers), in order, with the task's ``collate_fn``, and checked
    like every first batch (:func:`check_batch`); nothing else of the dataset is read.

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> from paretune.trainers import DatasetSplits, Task, get_task
        >>> base = get_task("synthetic", options={"n_samples": 200}).data()
        >>> floats = TensorDataset(base.x_val, base.y_val.float())
        >>> task = Task(name="floats", build_model=lambda dropout: torch.nn.Linear(20, 2),
        ...     num_classes=2, load_datasets=lambda: DatasetSplits(train=floats, val=floats,
        ...     test=floats))
        >>> first_batch(task, "train")
        Traceback (most recent call last):
        ...
        TypeError: Task 'floats': a train batch must be (inputs, targets) with class labels \
of an integer dtype (torch.long); got targets a float32 tensor of shape (8,).
    """
    dataset = getattr(task.datasets() if datasets is None else datasets, split)
    loader = DataLoader(dataset, batch_size=samples, collate_fn=task.loader_options.collate_fn)
    batch = next(iter(loader), None)
    if batch is None:
        raise ValueError(f"Task {task.name!r}: the {split} dataset is empty.")
    return check_batch(batch, task=task, split=split, classify=classifies(task))


def first_inputs(
    task: Task,
    split: str = "val",
    *,
    samples: int = COST_SAMPLES,
    datasets: DatasetSplits | None = None,
) -> Example:
    """The inputs of :func:`first_batch`: the cost sample batch of a dataset task."""
    inputs, _ = first_batch(task, split, samples=samples, datasets=datasets)
    return inputs


def task_example(task: Task) -> Example:
    """The first :data:`COST_SAMPLES` validation inputs of ``task`` (loads its data).

    For a dataset task (``Task.load_datasets``): the inputs of its first validation items.
    """
    if task.streams:
        return first_inputs(task, "val")
    return task.data().x_val[:COST_SAMPLES]
