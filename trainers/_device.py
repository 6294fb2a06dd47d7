"""Where a run trains (:func:`resolve_device`) and its own random state (:func:`private_rng`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["private_rng", "resolve_device", "torch_threads"]


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else must be usable here.

    Examples:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"The 'device' parameter of train must be 'auto', 'cpu' or 'cuda[:N]'. "
            f"Got {device!r} instead."
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {device!r} was requested but CUDA is not available.")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(
            f"The 'device' parameter of train must be 'auto', 'cpu' or 'cuda[:N]'. "
            f"Got {device!r} instead."
        )
    return resolved


@contextlib.contextmanager
def private_rng(device: torch.device, seed: int) -> Iterator[None]:
    """Seed torch's global generators for this run and restore them afterwards."""
    cuda = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if device.type == "cuda"
        else []
    )
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(cuda[0]):
                torch.cuda.manual_seed(seed)
        yield


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Torch's CPU threads set to ``count`` for the block (as trials run), restored afterwards.

    Examples:
        >>> before = torch.get_num_threads()
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
