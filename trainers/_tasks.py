"""The task registry: built-in tasks, ``replay:PATH`` and user tasks ``package.module:factory``."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch
from paretune.spaces import Registry
from torch import nn
from torch.nn import functional as F

from ._datasets import (
    CIFAR10_PREPROCESSING,
    MNIST_PREPROCESSING,
    check_files,
    cifar10_splits,
    digits_splits,
    mnist_splits,
    synthetic_splits,
)
from ._models import MLP, DigitsCNN, LeNet5, ResNet20, shape_params
from ._task import DataSplits, Task
from ._task_param import TaskParam

__all__ = ["TaskSpec", "cifar_augment", "describe_tasks", "get_task", "list_tasks", "register_task"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """A registered task: how to build it and which options it takes.

    Attributes:
        name: Registry name.
        description: One line for listings.
        builder: ``builder(data_dir, options)`` -> Task, with options already completed.
        options: Accepted option names with their defaults.
        needs_data_dir: The task reads files from a user directory.
    """

    name: str
    description: str
    builder: Callable[[str | None, Mapping[str, Any]], Task]
    options: Mapping[str, Any]
    needs_data_dir: bool = False


_TASKS: Registry[TaskSpec] = Registry(kind="task")


def register_task(spec: TaskSpec) -> None:
    """Add a task; a duplicate name raises ``ValueError``."""
    _TASKS.register(spec.name, spec)


def list_tasks() -> list[str]:
    """Names of the built-in tasks (plus ``replay:PATH`` and ``package.module:factory``).

    Examples:
        >>> list_tasks()
        ['digits-mlp', 'digits-cnn', 'synthetic', 'mnist-mlp', 'mnist-lenet5', 'cifar10-resnet20', \
'diabetes-mlp']
    """
    return _TASKS.names()


def describe_tasks() -> dict[str, str]:
    """Each built-in task's one-line description.

    Examples:
        >>> describe_tasks()["digits-mlp"]
        "MLP 64-256-128-10 on scikit-learn's 8x8 digits (no download)"
    """
    return {spec.name: spec.description for spec in _TASKS}


def get_task(
    name: str, *, data_dir: str | None = None, options: Mapping[str, Any] | None = None
) -> Task:
    """The task called ``name``.

    Args:
        name: A built-in name (:func:`list_tasks`), ``replay:PATH`` (recorded results replayed
            by ``paretune.trainers._replay.make_replay_task``) or ``package.module:factory``
            (a user function called as ``factory(**options)``, plus ``data_dir=`` when given,
            that returns a :class:`Task`).
        data_dir: Directory of the dataset files (MNIST, CIFAR-10 tasks).
        options: Task options; unknown ones raise ``ValueError`` listing the known ones.

    Examples:
        >>> get_task("digits-mlp").default_epochs
        20
        >>> get_task("digits-mlp", options={"hidden": 3})
        Traceback (most recent call last):
        ...
        ValueError: Unknown option(s) hidden for task 'digits-mlp'. Known: split_seed.
        >>> get_task("imagenet")
        Traceback (most recent call last):
        ...
        ValueError: Unknown task 'imagenet'. Known: digits-mlp, ..., diabetes-mlp, \
replay:PATH, package.module:factory.
    """
    options = dict(options or {})
    if not isinstance(name, str):
        raise ValueError(f"A task name must be a str. Got {name!r} instead.")
    if name.startswith("replay:"):
        if options:
            raise ValueError(f"Replay tasks take no options. Got {', '.join(options)}.")
        replay = importlib.import_module("paretune.trainers._replay")
        task = replay.make_replay_task(name[len("replay:") :])
        if not isinstance(task, Task):
            raise TypeError(f"make_replay_task returned {type(task).__name__}, not a Task.")
        return task
    if name in _TASKS:
        spec = _TASKS.get(name)
        unknown = [key for key in options if key not in spec.options]
        if unknown:
            known = ", ".join(spec.options) or "none"
            raise ValueError(
                f"Unknown option(s) {', '.join(unknown)} for task {name!r}. Known: {known}."
            )
        if spec.needs_data_dir and data_dir is None:
            raise ValueError(f"Task {name!r} reads dataset files: give data_dir.")
        return spec.builder(data_dir, {**spec.options, **options})
    if ":" in name:
        return _user_task(name, data_dir=data_dir, options=options)
    raise ValueError(
        f"Unknown task {name!r}. Known: {', '.join(list_tasks())}, replay:PATH, "
        "package.module:factory."
    )


def _search_working_directory() -> str:
    """Put the working directory at the end of ``sys.path`` (once) and return it.

    A user task ``mytasks:make_task`` finds ``mytasks.py`` in the folder where paretune runs,
    after the installed packages: a ``sklearn.py`` there never shadows scikit-learn. Only
    resolving a user task does this (commands that only read a study never do); worker
    processes started afterwards inherit the path.
    """
    cwd = os.getcwd()
    here = os.path.realpath(cwd)
    if not any(os.path.realpath(entry or os.curdir) == here for entry in sys.path):
        sys.path.append(cwd)
    return cwd


def _user_task(name: str, *, data_dir: str | None, options: dict[str, Any]) -> Task:
    module_name, _, attribute = name.partition(":")
    cwd = _search_working_directory()
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"Cannot import the module of task {name!r}: {error} (searched the installed "
            f"packages, then the working directory {cwd})"
        ) from error
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ValueError(f"Module {module_name!r} has no callable {attribute!r} (task {name!r}).")
    kwargs = dict(options)
    if data_dir is not None:
        kwargs["data_dir"] = data_dir
    task = factory(**kwargs)
    if not isinstance(task, Task):
        raise TypeError(f"Task factory {name!r} returned {type(task).__name__}, not a Task.")
    # the factory's options and name: what an export needs to build this task again
    return dataclasses.replace(task, options=dict(options), reference=name)


class _CachedData:
    """Picklable ``load_data``: loads once per process (the cache is not pickled)."""

    def __init__(self, load: Callable[[], DataSplits]) -> None:
        self.load = load
        self._splits: DataSplits | None = None

    def __call__(self) -> DataSplits:
        if self._splits is None:
            self._splits = self.load()
        return self._splits

    def __getstate__(self) -> dict[str, Any]:
        return {"load": self.load, "_splits": None}


class _Model:
    """Picklable ``build_model``: ``cls(dropout=dropout, **kwargs, **task_params)``."""

    def __init__(self, cls: Callable[..., nn.Module], **kwargs: Any) -> None:
        self.cls = cls
        self.kwargs = kwargs

    def __call__(self, dropout: float, **task_params: Any) -> nn.Module:
        return self.cls(dropout=dropout, **self.kwargs, **task_params)


def _cached(load: Callable[[], DataSplits]) -> Callable[[], DataSplits]:
    return _CachedData(load)


def cifar_augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and 4-pixel-padded random 32x32 crop, on the batch's device.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> cifar_augment(torch.zeros(2, 3, 32, 32), g).shape
        torch.Size([2, 3, 32, 32])
    """
    n, channels, height, width = batch.shape
    device = batch.device
    flip = torch.rand(n, generator=generator, device=device) < 0.5
    batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
    padded = F.pad(batch, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=generator, device=device)
    dx = torch.randint(0, 9, (n,), generator=generator, device=device)
    rows = (dy[:, None] + torch.arange(height, device=device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=device))[:, None, None, :]
    samples = torch.arange(n, device=device)[:, None, None, None]
    chans = torch.arange(channels, device=device)[None, :, None, None]
    return padded[samples, chans, rows, cols]


def _digits_mlp(data_dir: str | None, options: Mapping[str, Any]) -> Task:
    seed = int(options["split_seed"])
    return Task(
        name="digits-mlp",
        description=describe_tasks()["digits-mlp"],
        default_epochs=20,
        build_model=_Model(MLP, in_features=64, hidden=(256, 128), num_classes=10),
        load_data=_cached(functools.partial(digits_splits, split_seed=seed)),
        input_shape=(64,),
        num_classes=10,
        options=dict(options),
        params=shape_params(width=256, depth=2, max_width=4096, max_depth=8),
    )


def _digits_cnn(data_dir: str | None, options: Mapping[str, Any]) -> Task:
    seed = int(options["split_seed"])
    return Task(
        name="digits-cnn",
        description=describe_tasks()["digits-cnn"],
        default_epochs=20,
        build_model=_Model(DigitsCNN, num_classes=10),
        load_data=_cached(functools.partial(digits_splits, split_seed=seed, image=True)),
        input_shape=(1, 8, 8),
        num_classes=10,
        options=dict(options),
        params=shape_params(width=16, depth=2, max_width=256, max_depth=4, conv=True),
    )


def _synthetic(data_dir: str | None, options: Mapping[str, Any]) -> Task:
    for key in ("n_samples", "n_features", "n_informative", "n_classes", "hidden", "seed"):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (key != "seed"):
            low = 0 if key == "seed" else 1
            raise ValueError(
                f"The {key!r} option of task 'synthetic' must be an int >= {low}. "
                f"Got {value!r} instead."
            )
    sizes = {k: int(options[k]) for k in ("n_samples", "n_features", "n_informative")}
    n_classes, seed = int(options["n_classes"]), int(options["seed"])
    hidden = int(options["hidden"])
    if sizes["n_informative"] > sizes["n_features"]:
        raise ValueError(
            "The 'n_informative' option of task 'synthetic' must be <= n_features "
            f"({sizes['n_features']}). Got {sizes['n_informative']} instead."
        )
    if n_classes < 2 or 2 * n_classes > 2 ** sizes["n_informative"]:
        raise ValueError(
            "The 'n_classes' option of task 'synthetic' must be >= 2 and <= "
            f"2 ** n_informative / 2. Got {n_classes} instead."
        )
    if sizes["n_samples"] < 5 * n_classes:
        raise ValueError(
            "The 'n_samples' option of task 'synthetic' must be >= 5 * n_classes "
            f"(each split needs every class). Got {sizes['n_samples']} instead."
        )
    return Task(
        name="synthetic",
        description=describe_tasks()["synthetic"],
        default_epochs=10,
        build_model=_Model(
            MLP, in_features=sizes["n_features"], hidden=(hidden, hidden), num_classes=n_classes
        ),
        load_data=_cached(
            functools.partial(synthetic_splits, **sizes, n_classes=n_classes, seed=seed)
        ),
        input_shape=(sizes["n_features"],),
        num_classes=n_classes,
        options=dict(options),
        params=shape_params(width=hidden, depth=2, max_width=max(4096, hidden), max_depth=8),
    )


def _check_files(
    dataset: str, data_dir: str, load: Callable[[], DataSplits]
) -> Callable[[], DataSplits]:
    """Fail now with a clear error naming a missing file; load lazily (once) later."""
    check_files(dataset, data_dir)
    return _cached(load)


def _mnist(
    name: str,
    model: Callable[[float], torch.nn.Module],
    shape: tuple[int, ...],
    params: tuple[TaskParam, ...] = (),
) -> Any:
    def build(data_dir: str | None, options: Mapping[str, Any]) -> Task:
        if data_dir is None:  # pragma: no cover - get_task checks it
            raise ValueError(f"Task {name!r} reads dataset files: give data_dir.")
        size, seed = options["validation_size"], int(options["split_seed"])
        return Task(
            name=name,
            description=describe_tasks()[name],
            default_epochs=10,
            build_model=model,
            load_data=_check_files(
                "mnist",
                data_dir,
                functools.partial(mnist_splits, data_dir, validation_size=size, split_seed=seed),
            ),
            input_shape=shape,
            num_classes=10,
            options=dict(options),
            params=params,
            preprocessing=MNIST_PREPROCESSING,
        )

    return build


def _cifar10_resnet20(data_dir: str | None, options: Mapping[str, Any]) -> Task:
    if data_dir is None:  # pragma: no cover - get_task checks it
        raise ValueError("Task 'cifar10-resnet20' reads dataset files: give data_dir.")
    size, seed = options["validation_size"], int(options["split_seed"])
    return Task(
        name="cifar10-resnet20",
        description=describe_tasks()["cifar10-resnet20"],
        default_epochs=160,
        build_model=_Model(ResNet20, num_classes=10),
        load_data=_check_files(
            "cifar10",
            data_dir,
            functools.partial(cifar10_splits, data_dir, validation_size=size, split_seed=seed),
        ),
        input_shape=(3, 32, 32),
        num_classes=10,
        augment=cifar_augment if options["augment"] else None,
        options=dict(options),
        preprocessing=CIFAR10_PREPROCESSING,
    )


_HOLDOUT = {"validation_size": None, "split_seed": 0}

for _spec in (
    TaskSpec(
        name="digits-mlp",
        description="MLP 64-256-128-10 on scikit-learn's 8x8 digits (no download)",
        builder=_digits_mlp,
        options={"split_seed": 0},
    ),
    TaskSpec(
        name="digits-cnn",
        description="small CNN (2 conv + 2 fc) on scikit-learn's 8x8 digits (no download)",
        builder=_digits_cnn,
        options={"split_seed": 0},
    ),
    TaskSpec(
        name="synthetic",
        description="MLP on sklearn make_classification data (sizes configurable), for tests",
        builder=_synthetic,
        options={
            "n_samples": 600,
            "n_features": 20,
            "n_informative": 10,
            "n_classes": 3,
            "hidden": 64,
            "seed": 0,
        },
    ),
    TaskSpec(
        name="mnist-mlp",
        description="LeNet-300-100 MLP on MNIST idx files from data_dir",
        builder=_mnist(
            "mnist-mlp",
            _Model(MLP, in_features=784, hidden=(300, 100), num_classes=10),
            (1, 28, 28),
            shape_params(width=300, depth=2, max_width=4096, max_depth=8),
        ),
        options=_HOLDOUT,
        needs_data_dir=True,
    ),
    TaskSpec(
        name="mnist-lenet5",
        description="LeNet-5 CNN on MNIST idx files from data_dir",
        builder=_mnist(
            "mnist-lenet5",
            _Model(LeNet5, num_classes=10),
            (1, 28, 28),
        ),
        options=_HOLDOUT,
        needs_data_dir=True,
    ),
    TaskSpec(
        name="cifar10-resnet20",
        description="ResNet-20 on CIFAR-10 python batches from data_dir (flip + crop augment)",
        builder=_cifar10_resnet20,
        options={**_HOLDOUT, "augment": True},
        needs_data_dir=True,
    ),
):
    register_task(_spec)
