"""``Task``: data plus a model factory plus defaults.

The data comes either as ``DataSplits`` (tensors in memory, the fast path) or as
``DatasetSplits`` (torch ``Dataset`` objects streamed through ``DataLoader``s with the task's
``LoaderOptions``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from paretune.spaces import check_int
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset, IterableDataset

from ._metrics import Metric, check_metrics, resolve_metric
from ._preprocessing import Preprocessing

if TYPE_CHECKING:
    from ._result import Reporter, TrainResult
    from ._strategy import Strategy
    from ._task_param import TaskParam

__all__ = [
    "DataSplits",
    "DatasetSplits",
    "LoaderOptions",
    "Task",
    "metric_directions",
    "task_metrics",
]

#: Built-in metrics computed from class scores: a regression task cannot use them.
_CLASS_METRICS = ("accuracy", "top5_accuracy", "macro_f1")


@dataclass(frozen=True, kw_only=True)
class DataSplits:
    """Train / validation / test tensors (inputs float, labels int64), on the CPU.

    The test split is only ever used to report ``test_accuracy``. ``preprocessing`` says how
    the loader made these inputs from raw ones when it computed that from the data itself
    (digits: the training split's mean and std); an export puts it in front of the model.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    preprocessing: Preprocessing | None = None

    def __post_init__(self) -> None:
        if self.preprocessing is not None and not isinstance(self.preprocessing, Preprocessing):
            raise ValueError(
                "The 'preprocessing' parameter of DataSplits must be a Preprocessing or None. "
                f"Got {self.preprocessing!r} instead."
            )
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y):
                raise ValueError(f"The {split} split has {len(x)} inputs but {len(y)} labels.")
            if len(x) == 0:
                raise ValueError(f"The {split} split is empty.")


@dataclass(frozen=True, kw_only=True)
class DatasetSplits:
    """Train / validation / test ``torch.utils.data.Dataset`` objects (map-style or iterable).

    Each item is an ``(input, target)`` pair; ``input`` is a tensor, a tuple of tensors (the
    model is called as ``model(*input)``) or a dict of tensors (``model(**input)``). The
    trainer batches them with ``DataLoader`` (``Strategy.batch_size``, the task's
    :class:`LoaderOptions`), shuffles map-style training data with a generator seeded by
    ``Strategy.seed``, and never shuffles validation or test. Augmentation belongs in the
    train dataset's own transform (or ``Task.augment``); validation and test are read as given.

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> part = TensorDataset(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
        >>> len(DatasetSplits(train=part, val=part, test=part).train)
        4
        >>> DatasetSplits(train=part, val=[1, 2], test=part)
        Traceback (most recent call last):
        ...
        TypeError: The 'val' parameter of DatasetSplits must be a torch.utils.data.Dataset \
(map-style or iterable). Got list instead.
    """

    train: Dataset[Any]
    val: Dataset[Any]
    test: Dataset[Any]

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            value = getattr(self, split)
            if not isinstance(value, Dataset):
                raise TypeError(
                    f"The {split!r} parameter of DatasetSplits must be a "
                    "torch.utils.data.Dataset (map-style or iterable). "
                    f"Got {type(value).__name__} instead."
                )
            if not isinstance(value, IterableDataset) and not hasattr(value, "__len__"):
                raise TypeError(
                    f"The {split!r} dataset of DatasetSplits is map-style but has no __len__; "
                    "give it one, or make it a torch.utils.data.IterableDataset."
                )


@dataclass(frozen=True, kw_only=True)
class LoaderOptions:
    """How a :class:`DatasetSplits` task's data is streamed (``DataLoader`` arguments).

    Attributes:
        num_workers: Worker processes per loader (0: load in the training process).
        pin_memory: Page-locked batches for faster copies to the GPU (None: on when training
            on CUDA; always off on the CPU).
        persistent_workers: Keep the workers alive between epochs (needs ``num_workers > 0``).
        prefetch_factor: Batches loaded in advance by each worker (None: torch's default).
        eval_batch_size: Batch size of the validation and test loaders (None: 1024, the
            in-memory path's evaluation batch).
        collate_fn: ``DataLoader``'s ``collate_fn`` (None: torch's default collation).

    Examples:
        >>> LoaderOptions(num_workers=2, persistent_workers=True).num_workers
        2
        >>> LoaderOptions(num_workers=-1)
        Traceback (most recent call last):
        ...
        ValueError: The 'num_workers' parameter of LoaderOptions must be an int >= 0. \
Got -1 instead.
    """

    num_workers: int = 0
    pin_memory: bool | None = None
    persistent_workers: bool = False
    prefetch_factor: int | None = None
    eval_batch_size: int | None = None
    collate_fn: Callable[[list[Any]], Any] | None = None

    def __post_init__(self) -> None:
        check_int(self.num_workers, name="num_workers", owner="LoaderOptions", minimum=0)
        for name in ("pin_memory", "persistent_workers"):
            value = getattr(self, name)
            if not isinstance(value, bool) and not (name == "pin_memory" and value is None):
                allowed = "a bool or None" if name == "pin_memory" else "a bool"
                raise ValueError(
                    f"The {name!r} parameter of LoaderOptions must be {allowed}. "
                    f"Got {value!r} instead."
                )
        if self.persistent_workers and self.num_workers == 0:
            raise ValueError(
                "The 'persistent_workers' parameter of LoaderOptions needs num_workers > 0. "
                "Got persistent_workers=True with num_workers=0 instead."
            )
        for name in ("prefetch_factor", "eval_batch_size"):
            value = getattr(self, name)
            if value is not None:
                check_int(
                    value, name=name, owner="LoaderOptions", minimum=1, what="None or an int >= 1"
                )
        if self.prefetch_factor is not None and self.num_workers == 0:
            raise ValueError(
                "The 'prefetch_factor' parameter of LoaderOptions needs num_workers > 0. "
                f"Got prefetch_factor={self.prefetch_factor} with num_workers=0 instead."
            )
        if self.collate_fn is not None and not callable(self.collate_fn):
            raise ValueError(
                "The 'collate_fn' parameter of LoaderOptions must be a callable or None. "
                f"Got {self.collate_fn!r} instead."
            )


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target)


@dataclass(frozen=True, kw_only=True)
class Task:
    """What to train: data, a model factory and defaults.

    A task either trains (``build_model`` and one of ``load_data`` / ``load_datasets`` given)
    or replays recorded results (``replay`` given: :func:`train` delegates to it and trains
    nothing).

    Attributes:
        name: The name it was created under (``"digits-mlp"``).
        description: One line for listings.
        default_epochs: Sensible epochs for this task (studies use it as a default).
        build_model: ``build_model(dropout)`` -> a fresh, randomly initialised model.
        load_data: ``load_data()`` -> :class:`DataSplits` (may be cached by the task): the
            in-memory fast path.
        load_datasets: ``load_datasets()`` -> :class:`DatasetSplits` (torch ``Dataset``
            objects, streamed with ``DataLoader``); instead of ``load_data``.
        loader_options: :class:`LoaderOptions` of the ``DataLoader``s (``load_datasets``
            tasks only): workers, pinned memory, persistent workers.
        input_shape: Shape of one input sample (for cost measurement without data; may be
            left empty, then the cost is measured on a batch of validation data).
        num_classes: Number of classes; 0 for a regression task (float targets), which must
            bring its own ``loss`` (e.g. MSE) and its ``metrics`` (e.g. ``("rmse", "mae")``).
        loss: ``loss(logits, labels)`` -> scalar (cross-entropy by default).
        augment: Optional ``augment(batch, generator)`` applied to training batches only (on
            the device, after loading; tensor inputs).
        options: The options the task was created with.
        reference: How :func:`~paretune.trainers.get_task` names a task built from your own
            factory (``"mytasks:make_task"``; set by ``get_task``): exports and model cards
            say it, so the model owner can build the task again. None for built-in tasks.
        replay: Optional ``replay(strategy, report)`` -> TrainResult.
        prunable: Optional ``prunable(name, module) -> bool`` choosing which ``nn.Linear`` /
            ``nn.Conv1d/2d/3d`` layers are pruned and quantized (default: all of them).
        pretrained: Optional weights file (``torch.save(model.state_dict(), path)``) the model
            starts from; see :func:`paretune.trainers.load_pretrained`.
        head: Module-name prefixes of the head (``("fc",)``); every other parameter is the
            backbone that ``Strategy.freeze_epochs`` freezes and ``backbone_lr_scale`` scales.
        teacher: Optional distillation teacher: a factory ``() -> nn.Module`` or a weights file
            of the task's own model.
        micro_batch: Largest batch that goes through the model at once (None = the whole
            ``Strategy.batch_size``); larger batches accumulate gradients over micro-batches.
        metrics: Validation metrics the task computes: names of
            :func:`~paretune.trainers.list_metrics` or :class:`Metric` records; each is
            reported as ``val_<name>`` and may be a study objective.
        params: The task's own parameters (:class:`TaskParam`), searched like strategy
            fields; ``build_model(dropout, **values)`` receives them when there are any.
        preprocessing: How raw inputs become the model's inputs (a :class:`Preprocessing`:
            mean and std, per feature or channel), when the data loader normalizes them with
            fixed numbers; statistics of the data itself go on ``DataSplits.preprocessing``.
            An export takes raw inputs through it (:meth:`input_preprocessing`).

    Examples:
        >>> from paretune.trainers import get_task
        >>> task = get_task("synthetic", options={"n_samples": 300})
        >>> task.name, task.input_shape, task.num_classes
        ('synthetic', (20,), 3)
        >>> Task(name="broken")
        Traceback (most recent call last):
        ...
        ValueError: Task 'broken' needs either replay or both build_model and load_data \
(or load_datasets).
    """

    name: str
    description: str = ""
    default_epochs: int = 20
    build_model: Callable[[float], nn.Module] | None = None
    load_data: Callable[[], DataSplits] | None = None
    load_datasets: Callable[[], DatasetSplits] | None = None
    loader_options: LoaderOptions = field(default_factory=LoaderOptions)
    input_shape: tuple[int, ...] = ()
    num_classes: int = 0
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = _cross_entropy
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    reference: str | None = None
    replay: Callable[[Strategy, Reporter | None], TrainResult] | None = None
    prunable: Callable[[str, nn.Module], bool] | None = None
    pretrained: str | Path | None = None
    head: tuple[str, ...] = ()
    teacher: Callable[[], nn.Module] | str | Path | None = None
    micro_batch: int | None = None
    params: tuple[TaskParam, ...] = ()
    metrics: tuple[str | Metric, ...] = ("accuracy",)
    preprocessing: Preprocessing | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(
                f"The 'name' parameter of Task must be a non-empty str. Got {self.name!r} instead."
            )
        if self.reference is not None and not isinstance(self.reference, str):
            raise ValueError(
                "The 'reference' parameter of Task must be a str or None. "
                f"Got {self.reference!r} instead."
            )
        if (
            isinstance(self.default_epochs, bool)
            or not isinstance(self.default_epochs, int)
            or self.default_epochs < 1
        ):
            raise ValueError(
                "The 'default_epochs' parameter of Task must be an int >= 1. "
                f"Got {self.default_epochs!r} instead."
            )
        if self.replay is None and (
            self.build_model is None or (self.load_data is None and self.load_datasets is None)
        ):
            raise ValueError(
                f"Task {self.name!r} needs either replay or both build_model and load_data  "
                "(or load_datasets)."
            )
        if self.load_data is not None and self.load_datasets is not None:
            raise ValueError(
                f"Task {self.name!r} has both load_data and load_datasets; give one of them."
            )
        if not isinstance(self.loader_options, LoaderOptions):
            raise ValueError(
                "The 'loader_options' parameter of Task must be a LoaderOptions. "
                f"Got {self.loader_options!r} instead."
            )
        if self.replay is None and self.num_classes < 2 and not self.regression:
            raise ValueError(
                f"Task {self.name!r} needs num_classes >= 2, or num_classes=0 with a regression "
                f"loss (got num_classes={self.num_classes!r})."
            )
        object.__setattr__(self, "metrics", check_metrics("Task", self.metrics))
        if self.regression:
            by_class = [m for m in self.metrics if m in _CLASS_METRICS]
            if by_class:
                raise ValueError(
                    f"Task {self.name!r} is a regression task (num_classes=0), whose outputs "
                    f"are no class scores: give it metrics for real values, such as "
                    f"metrics=('rmse', 'mae') (got {', '.join(map(repr, by_class))}, which "
                    "need classes)."
                )
        self._check_transfer_fields()
        if self.prunable is not None and not callable(self.prunable):
            raise ValueError(
                "The 'prunable' parameter of Task must be a callable (name, module) -> bool "
                f"or None. Got {self.prunable!r} instead."
            )
        if self.preprocessing is not None and not isinstance(self.preprocessing, Preprocessing):
            raise ValueError(
                "The 'preprocessing' parameter of Task must be a Preprocessing or None. "
                f"Got {self.preprocessing!r} instead."
            )

    def _check_transfer_fields(self) -> None:
        if self.pretrained is not None and not isinstance(self.pretrained, str | Path):
            raise ValueError(
                "The 'pretrained' parameter of Task must be None or a path (str or Path). "
                f"Got {self.pretrained!r} instead."
            )
        if not isinstance(self.head, tuple) or not all(
            isinstance(prefix, str) and prefix for prefix in self.head
        ):
            raise ValueError(
                "The 'head' parameter of Task must be a tuple of non-empty str (module-name "
                f"prefixes). Got {self.head!r} instead."
            )
        if self.teacher is not None and not (
            callable(self.teacher) or isinstance(self.teacher, str | Path)
        ):
            raise ValueError(
                "The 'teacher' parameter of Task must be None, a factory () -> nn.Module or a "
                f"path. Got {self.teacher!r} instead."
            )
        if self.micro_batch is not None:
            check_int(
                self.micro_batch,
                name="micro_batch",
                owner="Task",
                minimum=1,
                what="None or an int >= 1",
            )

    @property
    def regression(self) -> bool:
        """True for a regression task: ``num_classes=0`` and a loss other than cross-entropy."""
        return self.num_classes == 0 and self.loss is not _cross_entropy

    @property
    def trains(self) -> bool:
        """True when the task trains a model (False for replay tasks)."""
        return self.replay is None

    def new_model(self, dropout: float = 0.0) -> nn.Module:
        """A fresh model from ``build_model`` (raises for a replay task)."""
        if self.build_model is None:
            raise ValueError(f"Task {self.name!r} replays recorded results; it has no model.")
        return self.build_model(dropout)

    def input_preprocessing(self) -> Preprocessing | None:
        """How raw inputs become this task's model inputs: ``preprocessing``, else that of
        the loaded data (``DataSplits.preprocessing``; loads an in-memory task's data), else
        None (the model takes its inputs as the data gives them).

        Examples:
            >>> from paretune.trainers import get_task
            >>> print(get_task("digits-mlp").input_preprocessing())
            (x - 4.87626) / 6.00886: pixel values 0-16, 64 features, standardized with the
            training split's mean and std (split seed 0)
        """
        if self.preprocessing is not None:
            return self.preprocessing
        if self.load_data is not None:
            return self.data().preprocessing
        return None

    @property
    def streams(self) -> bool:
        """True when the task's data comes as datasets through ``DataLoader``s."""
        return self.load_datasets is not None

    def data(self) -> DataSplits:
        """The task's splits from ``load_data`` (raises for a replay or a dataset task)."""
        if self.load_data is None:
            if self.load_datasets is not None:
                raise ValueError(
                    f"Task {self.name!r} gives its data as datasets (load_datasets), not as "
                    "in-memory tensors; use Task.datasets()."
                )
            raise ValueError(f"Task {self.name!r} replays recorded results; it has no data.")
        data = self.load_data()
        if not isinstance(data, DataSplits):
            raise TypeError(
                f"Task {self.name!r}: load_data() must return a DataSplits. "
                f"Got {type(data).__name__} instead."
            )
        return data

    def datasets(self) -> DatasetSplits:
        """The task's datasets from ``load_datasets`` (raises for other tasks)."""
        if self.load_datasets is None:
            raise ValueError(
                f"Task {self.name!r} has no load_datasets; its data is "
                + ("in-memory tensors (Task.data())." if self.load_data else "a replay table.")
            )
        datasets = self.load_datasets()
        if not isinstance(datasets, DatasetSplits):
            raise TypeError(
                f"Task {self.name!r}: load_datasets() must return a DatasetSplits(train=..., "
                f"val=..., test=...) of torch Datasets. Got {type(datasets).__name__} instead."
            )
        return datasets


def task_metrics(task: Task) -> tuple[Metric, ...]:
    """The metrics ``task`` declares, as records (``loss`` is the task's own loss).

    Examples:
        >>> from paretune.trainers import get_task
        >>> [m.name for m in task_metrics(get_task("diabetes-mlp"))]
        ['rmse', 'mae', 'loss']
    """
    return tuple(resolve_metric(item, loss=task.loss) for item in task.metrics)


def metric_directions(task: Task) -> dict[str, str]:
    """``val_<name>`` -> ``"maximize"`` / ``"minimize"`` for every metric ``task`` declares.

    Examples:
        >>> from paretune.trainers import get_task
        >>> metric_directions(get_task("digits-mlp"))
        {'val_accuracy': 'maximize'}
    """
    return {f"val_{m.name}": m.direction.value for m in task_metrics(task)}
