"""Knowledge distillation (Hinton et al. 2015): the loss and the task's teacher."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from ._transfer import load_pretrained

if TYPE_CHECKING:
    from ._task import Task

__all__ = ["DISTILL_ALPHA", "DISTILL_TEMPERATURE", "distillation_loss", "load_teacher"]

#: ``distill_alpha`` used when the task has a teacher and the strategy leaves it None.
DISTILL_ALPHA = 0.5
#: ``distill_temperature`` used when the task has a teacher and the strategy leaves it None.
DISTILL_TEMPERATURE = 4.0


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    hard: torch.Tensor,
    *,
    alpha: float,
    temperature: float,
) -> torch.Tensor:
    """``(1 - alpha) * hard + alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))``.

    The KL divergence is averaged over the batch (``reduction="batchmean"``, the mathematical
    definition); the ``T**2`` factor keeps the soft term's gradient scale independent of ``T``.
    The soft term is computed in float32 (also under autocast).

    Args:
        student: The student's logits, ``(batch, classes)``.
        teacher: The teacher's logits, same shape.
        hard: The task's loss of the student on the labels (cross-entropy by default).
        alpha: Weight of the soft term, in [0, 1].
        temperature: Softmax temperature ``T`` > 0.

    Examples:
        >>> logits = torch.tensor([[1.0, 2.0, 0.5]])
        >>> hard = torch.tensor(0.7)
        >>> round(float(distillation_loss(logits, logits, hard, alpha=0.5, temperature=2.0)), 6)
        0.35
        >>> distillation_loss(logits, logits[:, :2], hard, alpha=0.5, temperature=2.0)
        Traceback (most recent call last):
        ...
        ValueError: The teacher's outputs have shape (1, 2) and the student's (1, 3): a teacher \
must output one score per class, as the student does.
    """
    if student.shape != teacher.shape:
        raise ValueError(
            f"The teacher's outputs have shape {tuple(teacher.shape)} and the student's "
            f"{tuple(student.shape)}: a teacher must output one score per class, as the "
            "student does."
        )
    t = float(temperature)
    soft = F.kl_div(
        F.log_softmax(student.float() / t, dim=-1),
        F.log_softmax(teacher.float() / t, dim=-1),
        reduction="batchmean",
        log_target=True,
    )
    return (1.0 - alpha) * hard + alpha * t * t * soft


def load_teacher(task: Task, device: torch.device) -> nn.Module | None:
    """The task's teacher on ``device`` in eval mode with frozen parameters (or None).

    ``Task.teacher`` is either a factory ``() -> nn.Module`` or a weights file for the task's
    own model (a ``state_dict`` or a paretune checkpoint, loaded like a pretrained file: every
    key must match).
    """
    source = task.teacher
    if source is None:
        return None
    if callable(source):
        teacher = source()
        if not isinstance(teacher, nn.Module):
            raise TypeError(
                f"Task {task.name!r}: the teacher factory returned {type(teacher).__name__}, "
                "not a torch.nn.Module."
            )
    else:
        teacher = task.new_model(0.0)
        load_pretrained(teacher, source, task=task.name, what="teacher file")
    teacher = teacher.to(device).eval()
    teacher.requires_grad_(False)
    return teacher
