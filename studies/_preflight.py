"""Checks ``paretune run`` makes before the first trial: what would fail every trial is bad
input, refused at once (exit 2) instead of recorded as ten failed trials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paretune.studies._checks import Where
from paretune.studies._errors import format_value

if TYPE_CHECKING:
    from paretune import trainers
    from paretune.spaces import StrategySpace

__all__ = [
    "check_data_parallel",
    "check_device",
    "check_fusable",
    "check_precision",
    "check_trainable",
]


def check_device(where: Where, device: str) -> None:
    """Refuse a ``device`` this machine does not have (``cuda`` without CUDA, ``cuda:3`` with
    one GPU), naming the device.

    Args:
        where: The ``device`` key (or ``--device``), for the message.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (already read).

    Raises:
        StudyFileError: The device cannot train here.

    Examples:
        >>> check_device(Where("x.toml", "device"), "cpu")
        >>> check_device(Where("x.toml", "device"), "cuda:99")
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: device is not usable on this machine
        (got "cuda:99"): ...
    """
    if device in ("auto", "cpu"):
        return
    import torch
    from paretune.trainers import resolve_device

    try:
        resolved = resolve_device(device)
    except ValueError as error:
        reason = str(error)
    else:
        count = torch.cuda.device_count()
        if resolved.type != "cuda" or resolved.index is None or resolved.index < count:
            return
        reason = f"this machine has {count} CUDA device(s), numbered from 0"
    available = "cpu" + (", cuda" if torch.cuda.is_available() else "")
    raise where.error(
        f"is not usable on this machine (got {format_value(device)}): {reason} "
        f"Available here: auto, {available}."
    )


def check_precision(where: Where, space: StrategySpace, device: str) -> None:
    """Refuse ``precision = "fp16"`` in the space when the run trains on the CPU (fp16 needs
    CUDA), naming the device: every such trial would fail.

    Examples:
        >>> from paretune.spaces import CategoricalDistribution, StrategySpace
        >>> space = StrategySpace(params={"precision": CategoricalDistribution(
        ...     choices=("fp32", "fp16"))})
        >>> check_precision(Where("x.toml", "space.precision"), space, "cpu")
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: space.precision cannot use "fp16" on
        the CPU this run trains on (device = "cpu"): fp16 needs a CUDA device; use "bf16" or
        "fp32"
    """
    from paretune.spaces import CategoricalDistribution, Fixed

    distribution = space.params.get("precision")
    if isinstance(distribution, Fixed):
        values: tuple[Any, ...] = (distribution.value,)
    elif isinstance(distribution, CategoricalDistribution):
        values = tuple(distribution.choices)
    else:
        return
    if "fp16" not in values or device.startswith("cuda"):
        return
    import torch

    if device == "auto" and torch.cuda.is_available():
        return
    raise where.error(
        f'cannot use "fp16" on the CPU this run trains on (device = {format_value(device)}): '
        'fp16 needs a CUDA device; use "bf16" or "fp32"'
    )


def check_trainable(
    where: Where,
    task: trainers.Task,
    value: Any,
    space: StrategySpace,
    fixed: Mapping[str, Any] | None,
) -> None:
    """Refuse a task that no trial could train (``trainers.check_task``), in one line.

    Its data factories, the first batch of each split, its weights files, and (when the
    space fixes every task parameter, so the model is known) the model on the pretrained
    file and its forward pass on the first validation batch.

    Args:
        where: The ``task`` key, for the message.
        task: The task built from ``value``.
        value: The ``task`` value as given.
        space: The study's space (its dropout).
        fixed: The task parameters the space fixes, when it fixes every one
            (``fixed_task_params``); None: the model depends on a searched value.

    Raises:
        StudyFileError: What would fail every trial.
    """
    from paretune import trainers
    from paretune.spaces import Fixed

    known = fixed is not None  # else the model depends on a searched value
    dropout = space.params.get("dropout")
    extra = {"dropout": dropout.value} if isinstance(dropout, Fixed) else {}
    strategy = trainers.Strategy(task_params=fixed or {}, **extra)
    try:
        trainers.check_task(task, strategy=strategy, model=known)
    except Exception as error:  # noqa: BLE001 - whatever would fail every trial
        detail = (
            str(error)
            if isinstance(error, ValueError | TypeError)
            else f"{type(error).__name__}: {error}"  # an OSError's str names its file
        )
        raise where.error(
            f"cannot be trained (got {format_value(value)}): {' '.join(detail.split())}"
        ) from None


def check_data_parallel(where: Where, task: trainers.Task, workers: int) -> None:
    """Refuse a data-parallel trial of a task that cannot be split over workers
    (``trainers.check_data_parallel``: replay tables, ``IterableDataset`` splits).

    Raises:
        StudyFileError: At ``where`` (the ``workers_per_trial`` key), naming why.
    """
    from paretune import trainers

    try:
        trainers.check_data_parallel(task, workers=workers)
    except ValueError as error:
        raise where.error(f"must be 1 (got {workers}): {' '.join(str(error).split())}") from None


def check_fusable(
    where: Where, task: trainers.Task, fuse: int, fixed: Mapping[str, Any] | None
) -> None:
    """Refuse ``fuse > 1`` where no trial could be trained fused (``trainers.fusable_task``:
    the task, and its model when the space fixes its parameters, ``fixed``; None when it
    searches one): each would train alone.

    Raises:
        StudyFileError: At ``where`` (the ``fuse`` key), naming why.

    Examples:
        >>> import dataclasses
        >>> from paretune.trainers import get_task
        >>> task = dataclasses.replace(get_task("synthetic"), augment=lambda x, generator: x)
        >>> check_fusable(Where("x.toml", "fuse"), task, 4, {})
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: fuse must be 1 (got 4): no trial of
        task 'synthetic' can be trained fused, as the task augments its batches; each would
        train alone
    """
    from paretune import trainers

    build = task.build_model
    model = None if fixed is None or build is None else build(0.0, **fixed)
    reason = trainers.fusable_task(task, model=model)
    if reason is not None:
        raise where.error(
            f"must be 1 (got {fuse}): no trial of task {task.name!r} can be trained fused, "
            f"as {reason}; each would train alone"
        )
