"""``Task``: a dataset plus a model factory plus defaults; ``DataSplits``: its tensors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from paretune.spaces import check_int
from torch import nn
from torch.nn import functional as F

if TYPE_CHECKING:
    from ._result import Reporter, TrainResult
    from ._strategy import Strategy

__all__ = ["DataSplits", "Task"]


@dataclass(frozen=True, kw_only=True)
class DataSplits:
    """Train / validation / test tensors (inputs float, labels int64), on the CPU.

    The test split is only ever used to report ``test_accuracy``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y):
                raise ValueError(f"The {split} split has {len(x)} inputs but {len(y)} labels.")
            if len(x) == 0:
                raise ValueError(f"The {split} split is empty.")


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target)


@dataclass(frozen=True, kw_only=True)
class Task:
    """What to train: a dataset, a model factory and defaults.

    A task either trains (``build_model`` and ``load_data`` given) or replays recorded results
    (``replay`` given: :func:`train` delegates to it and trains nothing).

    Attributes:
        name: The name it was created under (``"digits-mlp"``).
        description: One line for listings.
        default_epochs: Sensible epochs for this task (studies use it as a default).
        build_model: ``build_model(dropout)`` -> a fresh, randomly initialised model.
        load_data: ``load_data()`` -> :class:`DataSplits` (may be cached by the task).
        input_shape: Shape of one input sample (for cost measurement without data; may be
            left empty, then the cost is measured on a batch of validation data).
        num_classes: Number of classes.
        loss: ``loss(logits, labels)`` -> scalar (cross-entropy by default).
        augment: Optional ``augment(batch, generator)`` applied to training batches only.
        options: The options the task was created with.
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

    Examples:
        >>> from paretune.trainers import get_task
        >>> task = get_task("synthetic", options={"n_samples": 300})
        >>> task.name, task.input_shape, task.num_classes
        ('synthetic', (20,), 3)
        >>> Task(name="broken")
        Traceback (most recent call last):
        ...
        ValueError: Task 'broken' needs either replay or both build_model and load_data.
    """

    name: str
    description: str = ""
    default_epochs: int = 20
    build_model: Callable[[float], nn.Module] | None = None
    load_data: Callable[[], DataSplits] | None = None
    input_shape: tuple[int, ...] = ()
    num_classes: int = 0
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = _cross_entropy
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    replay: Callable[[Strategy, Reporter | None], TrainResult] | None = None
    prunable: Callable[[str, nn.Module], bool] | None = None
    pretrained: str | Path | None = None
    head: tuple[str, ...] = ()
    teacher: Callable[[], nn.Module] | str | Path | None = None
    micro_batch: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(
                f"The 'name' parameter of Task must be a non-empty str. Got {self.name!r} instead."
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
        if self.replay is None and (self.build_model is None or self.load_data is None):
            raise ValueError(
                f"Task {self.name!r} needs either replay or both build_model and load_data."
            )
        if self.replay is None and self.num_classes < 2:
            raise ValueError(
                f"Task {self.name!r} needs num_classes >= 2 (got {self.num_classes!r})."
            )
        self._check_transfer_fields()
        if self.prunable is not None and not callable(self.prunable):
            raise ValueError(
                "The 'prunable' parameter of Task must be a callable (name, module) -> bool "
                f"or None. Got {self.prunable!r} instead."
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
    def trains(self) -> bool:
        """True when the task trains a model (False for replay tasks)."""
        return self.replay is None

    def new_model(self, dropout: float = 0.0) -> nn.Module:
        """A fresh model from ``build_model`` (raises for a replay task)."""
        if self.build_model is None:
            raise ValueError(f"Task {self.name!r} replays recorded results; it has no model.")
        return self.build_model(dropout)

    def data(self) -> DataSplits:
        """The task's splits from ``load_data`` (raises for a replay task)."""
        if self.load_data is None:
            raise ValueError(f"Task {self.name!r} replays recorded results; it has no data.")
        return self.load_data()
