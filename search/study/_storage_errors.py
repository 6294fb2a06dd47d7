"""Storage errors that name the file and the reason (no space, permission, missing folder ...).

SQLite reports most failures to open a file as "unable to open database file", and Optuna
wraps every SQLAlchemy error of a commit as "invalid data in the commit, e.g. exceeding max
length" -- a full disk included. :func:`storage_error` looks through such an error (its
cause and context) for what really happened and turns it into a :class:`StorageError` whose
message names the path and the reason.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from enum import Enum
from pathlib import Path

__all__ = ["StorageError", "StorageProblem", "exception_chain", "file_problem", "storage_error"]

#: The most bytes a file name may have on the usual file systems (ext4, xfs, btrfs, tmpfs).
NAME_MAX = 255


class StorageProblem(Enum):
    """Why a storage file could not be read or written."""

    NO_SPACE = "no space left"
    PERMISSION = "permission denied"
    READ_ONLY = "read-only file system"
    MISSING_DIRECTORY = "directory missing"
    NOT_A_DIRECTORY = "not a directory"
    IS_A_DIRECTORY = "is a directory"
    NAME_TOO_LONG = "file name too long"
    NOT_A_DATABASE = "not a database"
    NOT_A_JOURNAL = "not an Optuna journal"
    DAMAGED = "damaged"
    IO = "I/O error"


class StorageError(OSError):
    """A storage file could not be read or written; the message names the path and why.

    An :class:`OSError` (the file system refused), never a :class:`ValueError`: a full disk
    is not a mistake in the study file.

    Args:
        message: The whole message.
        problem: Why.
        path: The file (or folder) concerned.

    Examples:
        >>> error = StorageError("no space left on runs/a.db", problem=StorageProblem.NO_SPACE,
        ...                      path="runs/a.db")
        >>> str(error), error.problem.value, isinstance(error, OSError)
        ('no space left on runs/a.db', 'no space left', True)
    """

    def __init__(
        self, message: str, *, problem: StorageProblem = StorageProblem.IO, path: str = ""
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[object, ...]:  # keyword arguments survive pickling
        return (_rebuild, (str(self), self.problem, self.path))


def _rebuild(message: str, problem: StorageProblem, path: str) -> StorageError:
    return StorageError(message, problem=problem, path=path)


_ERRNO = {
    errno.ENOSPC: StorageProblem.NO_SPACE,
    errno.EDQUOT: StorageProblem.NO_SPACE,
    errno.EACCES: StorageProblem.PERMISSION,
    errno.EPERM: StorageProblem.PERMISSION,
    errno.EROFS: StorageProblem.READ_ONLY,
    errno.ENOTDIR: StorageProblem.NOT_A_DIRECTORY,
    errno.EISDIR: StorageProblem.IS_A_DIRECTORY,
    errno.ENAMETOOLONG: StorageProblem.NAME_TOO_LONG,
}

# SQLite's messages (sqlite3.Error text) and what they mean.
_SQLITE = (
    ("database or disk is full", StorageProblem.NO_SPACE),
    ("attempt to write a readonly database", StorageProblem.PERMISSION),
    ("file is not a database", StorageProblem.NOT_A_DATABASE),
    ("database disk image is malformed", StorageProblem.DAMAGED),
)


def exception_chain(error: BaseException) -> list[BaseException]:
    """``error``, its causes, contexts and wrapped DBAPI errors (``orig``), each once."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__, getattr(item, "orig", None)]
    return seen


def _existing_parent(path: Path) -> Path:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _nearly_full(path: Path) -> bool:
    """Whether the file system of ``path`` has less than 64 KiB free."""
    try:
        stat = os.statvfs(_existing_parent(path))
    except OSError:
        return False
    # a file system of no blocks (/proc, /sys) is not full: it holds no files of ours
    return stat.f_blocks > 0 and stat.f_bavail * stat.f_frsize < 64 * 1024


def file_problem(path: Path) -> tuple[StorageProblem, str] | None:
    """Why ``path`` cannot be opened for writing, found by looking at it (None: no reason seen).

    Examples:
        >>> file_problem(Path("/no/such/folder/a.db"))
        (<StorageProblem.MISSING_DIRECTORY: 'directory missing'>, '/no/such/folder does not exist')
        >>> file_problem(Path("x" * 300 + ".db"))[0]
        <StorageProblem.NAME_TOO_LONG: 'file name too long'>
    """
    try:
        return _file_problem(path)
    except PermissionError as error:  # a folder on the way may not be entered
        where = os.fsdecode(error.filename) if error.filename is not None else str(path)
        return StorageProblem.PERMISSION, f"cannot enter {where}"
    except OSError:
        return None


def _file_problem(path: Path) -> tuple[StorageProblem, str] | None:
    size = len(os.fsencode(path.name))
    if size > NAME_MAX:
        return (
            StorageProblem.NAME_TOO_LONG,
            f"the file name has {size} bytes; file systems allow {NAME_MAX}",
        )
    parent = path.parent
    if not parent.exists():
        return StorageProblem.MISSING_DIRECTORY, f"{parent} does not exist"
    if not parent.is_dir():
        return StorageProblem.NOT_A_DIRECTORY, f"{parent} is not a directory"
    if path.is_dir():
        return StorageProblem.IS_A_DIRECTORY, f"{path} is a directory"
    if _read_only(parent):
        return StorageProblem.READ_ONLY, f"{parent} is on a read-only file system"
    if not os.access(parent, os.W_OK | os.X_OK):
        return StorageProblem.PERMISSION, f"cannot write in {parent}"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return StorageProblem.PERMISSION, f"cannot read and write {path}"
    if _nearly_full(path):
        return StorageProblem.NO_SPACE, "the file system is full"
    return None


def _message(problem: StorageProblem, path: Path, detail: str) -> str:
    if problem is StorageProblem.NO_SPACE:
        return (
            f"no space left on {path} ({detail}). Free some space and run the same command "
            "again: the finished trials are kept."
        )
    return f"cannot use storage file {path}: {problem.value} ({detail})"


def storage_error(error: BaseException, *, path: Path | str) -> StorageError | None:
    """The :class:`StorageError` behind ``error`` for storage file ``path``, or None.

    Looks through ``error``, its cause and context (Optuna's "invalid data in the commit"
    wraps SQLAlchemy's error, which wraps SQLite's) for an :class:`OSError` or a SQLite
    error that says what happened.

    Examples:
        >>> import errno
        >>> error = storage_error(OSError(errno.ENOSPC, "No space left on device"),
        ...                       path="runs/a.log")
        >>> str(error).split(" (")[0]
        'no space left on runs/a.log'
        >>> storage_error(ValueError("lr must be > 0"), path="runs/a.db") is None
        True
    """
    path = Path(path)
    for item in exception_chain(error):
        if isinstance(item, StorageError):
            return item
        problem: StorageProblem | None = None
        detail = ""
        if isinstance(item, OSError):
            found: tuple[StorageProblem, str] | None = None
            if item.errno in _ERRNO:
                found = (_ERRNO[item.errno], item.strerror or str(item))
            seen = file_problem(path)
            if found is None or (seen is not None and seen[0] is found[0]):
                found = seen  # unknown errno, or the same reason said more precisely
            elif item.filename is not None and Path(os.fsdecode(item.filename)) != path:
                found = (found[0], f"{found[1]}: {os.fsdecode(item.filename)}")
            # any other refusal of the file system (/proc: "No such file or directory")
            problem, detail = found or (StorageProblem.IO, item.strerror or str(item))
        elif isinstance(item, sqlite3.Error):
            text = str(item)
            for needle, kind in _SQLITE:
                if needle in text:
                    problem, detail = kind, f"SQLite: {text}"
            if problem is None and ("unable to open" in text or "disk I/O error" in text):
                problem, detail = file_problem(path) or (StorageProblem.IO, f"SQLite: {text}")
        if problem is not None:
            return StorageError(_message(problem, path, detail), problem=problem, path=str(path))
    return None
