"""Atomic save / load of a training run's state in a directory (used to resume)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT_FILE", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FILE = "paretune_checkpoint.pt"


def save_checkpoint(directory: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``directory/CHECKPOINT_FILE`` atomically (temp file + rename).

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = save_checkpoint(d, {"epoch": 3})
        ...     load_checkpoint(d)
        {'epoch': 3}
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CHECKPOINT_FILE
    temporary = folder / (CHECKPOINT_FILE + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)
    return path


def load_checkpoint(directory: str | Path) -> dict[str, Any] | None:
    """The state saved in ``directory``, or ``None`` when there is none."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state
