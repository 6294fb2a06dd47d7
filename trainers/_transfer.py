"""Starting from pretrained weights: loading a ``state_dict`` file, the head / backbone split.

A task names a weights file (``Task.pretrained``) and, optionally, its head
(``Task.head``: module-name prefixes such as ``("fc",)``). Every other parameter is the
backbone: ``Strategy.freeze_epochs`` keeps it frozen for the first epochs and
``Strategy.backbone_lr_scale`` multiplies its learning rate.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from ._strategy import Strategy
    from ._task import Task

__all__ = ["check_applies", "in_head", "load_pretrained", "read_state_dict", "split_parameters"]


def check_applies(task: Task, strategy: Strategy) -> None:
    """Raise when ``strategy`` sets a transfer field that ``task`` gives no meaning to.

    ``distill_alpha`` / ``distill_temperature`` need ``Task.teacher``; ``freeze_epochs`` /
    ``backbone_lr_scale`` need ``Task.pretrained`` and ``Task.head``.

    Examples:
        >>> from paretune.trainers import Strategy, get_task
        >>> check_applies(get_task("digits-mlp"), Strategy(distill_alpha=0.5))
        Traceback (most recent call last):
        ...
        ValueError: The 'distill_alpha' parameter of Strategy applies only to a task with a \
teacher; task 'digits-mlp' has none. Got 0.5 instead; leave it None.
    """
    needs = (
        ("distill_alpha", "a teacher", task.teacher is not None),
        ("distill_temperature", "a teacher", task.teacher is not None),
        ("freeze_epochs", "a pretrained file", task.pretrained is not None),
        ("backbone_lr_scale", "a pretrained file", task.pretrained is not None),
        ("freeze_epochs", "a head (Task.head)", bool(task.head)),
        ("backbone_lr_scale", "a head (Task.head)", bool(task.head)),
    )
    for name, what, present in needs:
        value = getattr(strategy, name)
        if value is not None and not present:
            raise ValueError(
                f"The {name!r} parameter of Strategy applies only to a task with {what}; "
                f"task {task.name!r} has none. Got {value!r} instead; leave it None."
            )


def in_head(name: str, head: Sequence[str]) -> bool:
    """Whether the parameter or module ``name`` lies under one of the ``head`` prefixes.

    Examples:
        >>> in_head("fc.weight", ("fc",)), in_head("fc2.weight", ("fc",)), in_head("fc", ("fc",))
        (True, False, True)
    """
    return any(name == prefix or name.startswith(prefix + ".") for prefix in head)


def _load_error(error: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` refused a file, in one plain line.

    Examples:
        >>> _load_error(KeyError(101))
        'it is not a file torch.save wrote (KeyError: 101)'
        >>> _load_error(pickle.UnpicklingError("... Unsupported global: GLOBAL x.Net ..."))
        'it holds pickled objects other than tensors (a whole model?); save \
model.state_dict() instead'
    """
    if isinstance(error, pickle.UnpicklingError) and "Unsupported global" in str(error):
        return (
            "it holds pickled objects other than tensors (a whole model?); save "
            "model.state_dict() instead"
        )
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, pickle.UnpicklingError):  # torch's text is pages long
        return "it is not a file torch.save wrote (not a pickle of tensors)"
    if isinstance(error, KeyError | EOFError) or len(first) < 8:
        return f"it is not a file torch.save wrote ({type(error).__name__}: {first})"
    return re.sub(r"\x1b\[[0-9;]*m", "", first)


def read_state_dict(path: str | Path, *, task: str, what: str) -> dict[str, torch.Tensor]:
    """The ``state_dict`` saved with ``torch.save`` in ``path`` (``weights_only`` loading).

    A paretune training checkpoint (its ``"model"`` entry) is accepted too.

    Args:
        path: The file.
        task: The task's name, for messages.
        what: What the file is for (``"pretrained file"``, ``"teacher file"``), for messages.

    Examples:
        >>> read_state_dict("/nonexistent.pt", task="t", what="pretrained file")
        Traceback (most recent call last):
        ...
        ValueError: Task 't': the pretrained file '/nonexistent.pt' does not exist.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"Task {task!r}: the {what} {str(file)!r} does not exist.")
    try:
        loaded: Any = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for unreadable files
        raise ValueError(
            f"Task {task!r}: the {what} {str(file)!r} cannot be read as a state_dict: "
            f"{_load_error(error)}"
        ) from None
    if isinstance(loaded, Mapping) and "model" in loaded and "strategy" in loaded:
        loaded = loaded["model"]
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ValueError(
            f"Task {task!r}: the {what} {str(file)!r} must hold a state_dict "
            f"(str -> tensor, as saved by torch.save(model.state_dict(), path)). "
            f"Got {type(loaded).__name__} instead."
        )
    return dict(loaded)


def _mismatch(
    model: nn.Module, state: Mapping[str, torch.Tensor], head: Sequence[str]
) -> tuple[list[str], list[str], list[str]]:
    own = model.state_dict()
    missing = [k for k in own if k not in state and not in_head(k, head)]
    unexpected = [k for k in state if k not in own and not in_head(k, head)]
    shaped = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
        for k in own
        if k in state and state[k].shape != own[k].shape and not in_head(k, head)
    ]
    return missing, unexpected, shaped


@torch.no_grad()
def load_pretrained(
    model: nn.Module,
    path: str | Path,
    *,
    task: str,
    head: Sequence[str] = (),
    what: str = "pretrained file",
) -> None:
    """Copy the weights saved in ``path`` into ``model``.

    Every entry of the model's ``state_dict`` must be in the file with the same shape, and the
    file may hold nothing else, except under the ``head`` prefixes: a head entry that is missing
    from the file or has another shape (a new classifier for another number of classes) keeps
    the model's own initialisation.

    Raises:
        ValueError: One message naming the task, the file and every missing, unexpected and
            mis-shaped key.

    Examples:
        >>> import tempfile, os
        >>> source, target = nn.Linear(3, 2), nn.Linear(3, 4)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     file = os.path.join(folder, "w.pt")
        ...     torch.save(source.state_dict(), file)
        ...     load_pretrained(target, file, task="demo")
        Traceback (most recent call last):
        ...
        ValueError: Task 'demo': the pretrained file '.../w.pt' does not match the model: \
mis-shaped keys weight (file (2, 3), model (4, 3)), bias (file (2,), model (4,)).
    """
    state = read_state_dict(path, task=task, what=what)
    missing, unexpected, shaped = _mismatch(model, state, head)
    if missing or unexpected or shaped:
        parts = [
            f"{label} {', '.join(keys)}"
            for label, keys in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("mis-shaped keys", shaped),
            )
            if keys
        ]
        raise ValueError(
            f"Task {task!r}: the {what} {str(path)!r} does not match the model: {'; '.join(parts)}."
        )
    own = model.state_dict()
    kept = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict(kept, strict=False)


def split_parameters(
    model: nn.Module, head: Sequence[str], *, task: str
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(backbone, head)`` parameters of ``model``; every head prefix must name parameters.

    Examples:
        >>> model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
        >>> backbone, head = split_parameters(model, ("1",), task="demo")
        >>> len(backbone), len(head)
        (2, 2)
        >>> split_parameters(model, ("fc",), task="demo")
        Traceback (most recent call last):
        ...
        ValueError: Task 'demo': the head prefix 'fc' names no parameter of the model \
(its modules: 0, 1).
    """
    named = list(model.named_parameters())
    for prefix in head:
        if not any(in_head(name, (prefix,)) for name, _ in named):
            modules = ", ".join(n for n, _ in model.named_children()) or "none"
            raise ValueError(
                f"Task {task!r}: the head prefix {prefix!r} names no parameter of the model "
                f"(its modules: {modules})."
            )
    backbone = [p for name, p in named if not in_head(name, head)]
    head_params = [p for name, p in named if in_head(name, head)]
    return backbone, head_params
