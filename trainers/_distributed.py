"""Data-parallel training inside one trial: which rank this is, its shard, and what ranks share.

A launcher (the local executor's processes, or Ray Train's ``TorchTrainer``) initializes
``torch.distributed``'s default process group in every worker and, on CUDA, sets each worker's
device; :func:`~paretune.trainers.train` then finds the group (:func:`current_group`) and
trains data-parallel:

* ``batch_size`` is the **global** batch. Every rank draws the same seeded permutation of the
  training set and takes its slice of each global batch (:func:`local_share`), so the ranks
  together train on exactly the batches one worker would; each rank's mean loss is weighted
  by its share (:func:`loss_weight`), so the averaged gradient equals the one-worker gradient
  up to float reduction order, also for a short last batch.
* The model is wrapped in ``DistributedDataParallel``; pruning masks and quantization follow
  from identical weights, so they stay identical on every rank.
* Validation metrics are computed on each rank's shard of the split and gathered, so every
  rank holds the same figures; ``report`` is called on every rank and rank 0's answer is
  broadcast, so a pruned trial stops every worker after the same epoch.
* Rank 0 alone writes checkpoints and measures the final model; every rank returns the same
  result.

Examples:
    >>> current_group() is None  # no process group in this process
    True
    >>> [local_share(10, world=3, rank=r) for r in range(3)]
    [4, 3, 3]
    >>> loss_weight(10, world=3, rank=0)
    1.2
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, IterableDataset, Sampler, Subset

from ._task import DatasetSplits, Task

__all__ = [
    "GlobalBatchSampler",
    "ProcessGroup",
    "check_data_parallel",
    "current_group",
    "local_share",
    "loss_weight",
]

T = TypeVar("T")


def local_share(batch: int, *, world: int, rank: int) -> int:
    """How many samples of a global batch of ``batch`` rank ``rank`` trains on.

    The first ``batch % world`` ranks take one more (``torch.tensor_split``'s rule).

    Examples:
        >>> [local_share(5, world=2, rank=r) for r in (0, 1)]
        [3, 2]
        >>> local_share(1, world=2, rank=1)
        0
    """
    return batch // world + (1 if rank < batch % world else 0)


def loss_weight(batch: int, *, world: int, rank: int) -> float:
    """Weight of rank ``rank``'s mean loss so the ranks' averaged gradient is the batch's.

    DDP averages the ranks' gradients; rank ``r`` holds the gradient of its own mean loss over
    ``n_r`` samples, so weighting it by ``world * n_r / batch`` makes the average the gradient
    of the mean over the whole batch.

    Examples:
        >>> [loss_weight(5, world=2, rank=r) for r in (0, 1)]
        [1.2, 0.8]
        >>> loss_weight(4, world=2, rank=1)
        1.0
    """
    return world * local_share(batch, world=world, rank=rank) / batch


def check_data_parallel(task: Task, *, workers: int, datasets: DatasetSplits | None = None) -> None:
    """Raise ``ValueError`` when ``task`` cannot train on ``workers`` data-parallel workers.

    A replay task trains nothing; a dataset task is sharded by index, so its splits must be
    map-style datasets (an ``IterableDataset`` has no index to shard by). ``datasets``: the
    task's splits when they are already loaded (else they are loaded here).

    Examples:
        >>> from paretune.trainers import get_task
        >>> check_data_parallel(get_task("synthetic"), workers=2)
        >>> check_data_parallel(get_task("synthetic"), workers=0)
        Traceback (most recent call last):
        ...
        ValueError: The 'workers' parameter of check_data_parallel must be an int >= 1. Got 0 \
instead.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(
            "The 'workers' parameter of check_data_parallel must be an int >= 1. "
            f"Got {workers!r} instead."
        )
    if workers == 1:
        return
    if task.replay is not None:
        raise ValueError(
            f"Task {task.name!r} replays recorded results and trains nothing, so it cannot "
            f"run on {workers} data-parallel workers; use 1 worker per trial."
        )
    if task.streams:
        datasets = task.datasets() if datasets is None else datasets
        for split in ("train", "val", "test"):
            if isinstance(getattr(datasets, split), IterableDataset):
                raise ValueError(
                    f"Task {task.name!r}: its {split} dataset is an IterableDataset, which "
                    f"cannot be sharded over {workers} data-parallel workers (they split the "
                    "data by index); give a map-style dataset or use 1 worker per trial."
                )


@dataclass(frozen=True)
class ProcessGroup:
    """The data-parallel group of this process: its rank and the number of workers.

    Every collective here is an object collective (pickled), used a few times per epoch;
    the per-step gradient all-reduce is DistributedDataParallel's.
    """

    rank: int
    world: int

    @property
    def lead(self) -> bool:
        """True on rank 0, the rank that writes checkpoints and measures the final model."""
        return self.rank == 0

    def wrap(self, model: nn.Module, *, find_unused: bool) -> nn.Module:
        """``model`` in DistributedDataParallel (rank 0's weights broadcast to every rank)."""
        device = next(iter(model.parameters())).device
        ids = None
        if device.type == "cuda":
            ids = [device.index if device.index is not None else torch.cuda.current_device()]
        return nn.parallel.DistributedDataParallel(
            model, device_ids=ids, find_unused_parameters=find_unused
        )

    def share(self, index: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This rank's slice of a global batch's indices, and the weight of its loss.

        A rank with no sample in a short last batch trains on the batch's first sample with
        weight 0 (it must still join the gradient all-reduce).
        """
        part = torch.tensor_split(index, self.world)[self.rank]
        if len(part) == 0:
            return index[:1], 0.0
        return part, loss_weight(len(index), world=self.world, rank=self.rank)

    def shard(self, data: torch.Tensor) -> torch.Tensor:
        """Rows ``rank, rank + world, ...`` of an evaluation tensor."""
        return data[self.rank :: self.world]

    def shard_dataset(self, dataset: Dataset[T]) -> Dataset[T]:
        """The same rows of a map-style evaluation dataset."""
        return Subset(dataset, range(self.rank, len(dataset), self.world))  # type: ignore[arg-type]

    def gather(self, value: T) -> list[T]:
        """Every rank's ``value``, in rank order."""
        values: list[Any] = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank."""
        holder: list[Any] = [value]
        dist.broadcast_object_list(holder, src=0)
        result: T = holder[0]
        return result

    def mean(self, value: float) -> float:
        """The mean of the ranks' ``value``."""
        return math.fsum(self.gather(float(value))) / self.world

    def gather_outputs(
        self, outputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The concatenation of every rank's outputs and targets (on this rank's device)."""
        parts = self.gather((outputs.cpu(), targets.cpu()))
        device = outputs.device
        return (
            torch.cat([o for o, _ in parts]).to(device),
            torch.cat([t for _, t in parts]).to(device),
        )

    def barrier(self) -> None:
        """Wait until every rank is here."""
        dist.barrier()


def current_group() -> ProcessGroup | None:
    """The data-parallel group this process trains in, or None (no group, or one rank).

    Examples:
        >>> current_group() is None
        True
    """
    if not dist.is_available() or not dist.is_initialized():
        return None
    world = dist.get_world_size()
    if world == 1:
        return None
    return ProcessGroup(rank=dist.get_rank(), world=world)


class GlobalBatchSampler(Sampler[list[int]]):
    """Batch sampler: this rank's slice of each global batch of one seeded permutation.

    The permutation is drawn from ``generator`` when an epoch starts, exactly as a
    ``DataLoader(shuffle=True, generator=generator)`` draws it, so one worker with this
    sampler reads the batches that loader reads, and ``world`` workers read a partition of
    them (the shard of every rank differs; each epoch has a new permutation). A rank left
    without a sample in a short last batch reads its first sample (and weights it 0).

    Examples:
        >>> ranks = [GlobalBatchSampler(5, batch_size=4, group=ProcessGroup(rank=r, world=2),
        ...          generator=torch.Generator().manual_seed(0)) for r in (0, 1)]
        >>> epochs = [list(s) for s in ranks]
        >>> order = torch.randperm(5, generator=torch.Generator().manual_seed(0)).tolist()
        >>> epochs[0][0] + epochs[1][0] == order[:4], epochs[0][1] + epochs[1][1]
        (True, [2, 2])
    """

    def __init__(
        self, size: int, *, batch_size: int, group: ProcessGroup, generator: torch.Generator
    ) -> None:
        self.size = size
        self.batch_size = batch_size
        self.group = group
        self.generator = generator

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.size, generator=self.generator)
        for start in range(0, self.size, self.batch_size):
            part, _ = self.group.share(order[start : start + self.batch_size])
            yield part.tolist()

    def __len__(self) -> int:
        return -(-self.size // self.batch_size)
