"""A little disk space kept aside next to a storage file, freed when the disk is full.

When a write fails because the file system is full, the trial being written is still
RUNNING, and recording it as failed needs a few more writes. A run therefore keeps
``<storage file>.reserve`` (64 KiB) beside the storage: the first "no space left" error
deletes it, so the writes that record the trial's failure fit, and the next run creates it
again. A storage that is only read (``status``, ``report``) gets no reserve.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["RESERVE_BYTES", "free_reserve", "keep_reserve", "reserve_path"]

#: The size of the reserve: room for a few SQLite pages or journal records.
RESERVE_BYTES = 64 * 1024


def reserve_path(path: Path) -> Path:
    """The reserve file of storage file ``path``.

    Examples:
        >>> reserve_path(Path("runs/a.db"))
        PosixPath('runs/a.db.reserve')
    """
    return path.with_name(f"{path.name}.reserve")


def keep_reserve(path: Path) -> bool:
    """Create the reserve of ``path`` where it is missing; whether it exists afterwards.

    Nothing is raised: a file system too full (or not writable) for it gets none.

    Examples:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "a.db"
        >>> keep_reserve(path), reserve_path(path).stat().st_size
        (True, 65536)
    """
    reserve = reserve_path(path)
    if reserve.exists():
        return True
    partial = reserve.with_name(f"{reserve.name}.{os.getpid()}")
    try:
        with open(partial, "wb") as handle:
            handle.write(bytes(RESERVE_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, reserve)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink()
        return False
    return True


def free_reserve(path: Path) -> bool:
    """Delete the reserve of ``path`` (the disk is full); whether there was one.

    Examples:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "a.db"
        >>> _ = keep_reserve(path)
        >>> free_reserve(path), free_reserve(path)
        (True, False)
    """
    try:
        reserve_path(path).unlink()
    except OSError:
        return False
    return True
