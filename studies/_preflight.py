"""Checks ``paretune run`` makes before the first trial: what would fail every trial is bad
input, refused at once (exit 2) instead of recorded as ten failed trials."""

from __future__ import annotations

from paretune.studies._checks import Where
from paretune.studies._errors import format_value

__all__ = ["check_device"]


def check_device(where: Where, device: str) -> None:
    """Refuse a ``device`` this machine does not have (``cuda`` without CUDA, ``cuda:3`` with
    one GPU, ``mps`` where training cannot use it), naming the device.

    Args:
        where: The ``device`` key (or ``--device``), for the message.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (already read).

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
