"""The folder an export writes: refused when it holds files (unless forced) or is a link, and
written file by file without ever following a symbolic link.

Each file is written to a temporary name created with ``O_EXCL | O_NOFOLLOW`` inside the folder
(opened itself with ``O_NOFOLLOW``), synced, then renamed over its final name with
``os.replace``: a reader never sees half a file, and a link planted under a final name is
refused, never written through.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

__all__ = ["ExportFolder", "check_export_dir"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def _link_error(path: Path) -> ValueError:
    return ValueError(
        f"{path} is a symbolic link: an export never writes through a link (remove it, or "
        "export into another folder)"
    )


def check_export_dir(directory: str | Path, *, names: Iterable[str], force: bool) -> Path:
    """The folder to export into, after checking it may be written.

    Args:
        directory: The folder (created later if missing).
        names: The file names the export writes or removes there.
        force: Allow a folder that already holds files (they are overwritten).

    Returns:
        ``directory`` as a path (``~`` expanded).

    Raises:
        ValueError: The folder, or one of ``names`` inside it, is a symbolic link (even with
            ``force``).
        FileExistsError: The folder is a file, holds files and ``force`` is false, or one of
            ``names`` is a folder.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = (Path(folder) / "notes.txt").write_text("mine")
        ...     check_export_dir(folder, names=["weights.pt"], force=False)
        Traceback (most recent call last):
        ...
        FileExistsError: ... already holds files: export into a new folder, or pass force=True ...
    """
    folder = Path(directory).expanduser()
    if folder.is_symlink():
        raise _link_error(folder)
    if not folder.exists():
        return folder
    if not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder: export into a folder")
    if not force and any(folder.iterdir()):
        raise FileExistsError(
            f"{folder} already holds files: export into a new folder, or pass force=True "
            "(--force) to write over them"
        )
    for name in names:
        path = folder / name
        if path.is_symlink():
            raise _link_error(path)
        if path.is_dir():
            raise FileExistsError(f"{path} is a folder: the export writes a file of that name")
    return folder


class ExportFolder:
    """Writes files into an export folder atomically, never through a link.

    Use as a context manager; the folder (and its parents) are created when missing.

    Args:
        folder: The folder, already checked by :func:`check_export_dir`.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as root:
        ...     with ExportFolder(Path(root) / "out") as out:
        ...         out.write("a.txt", b"hello")
        ...     (Path(root) / "out" / "a.txt").read_text()
        'hello'
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None

    def __enter__(self) -> ExportFolder:
        if self.folder.is_symlink():
            raise _link_error(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._fd = os.open(self.folder, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
        except OSError as error:  # a link swapped in since the check (ELOOP), or not a folder
            if self.folder.is_symlink():
                raise _link_error(self.folder) from None
            raise FileExistsError(f"{self.folder}: cannot open the folder ({error})") from None
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):  # some file systems cannot sync a folder
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def _dir_fd(self) -> int | None:
        return self._fd if os.open in os.supports_dir_fd else None

    def _where(self, name: str) -> str:
        """``name`` relative to the open folder (or its whole path without ``dir_fd``)."""
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"{name!r} is not a plain file name")
        return name if self._dir_fd() is not None else str(self.folder / name)

    def _refuse_link(self, name: str) -> bool:
        """Raise when ``name`` is a link; True when it exists."""
        try:
            info = os.lstat(self._where(name), dir_fd=self._dir_fd())
        except FileNotFoundError:
            return False
        if stat.S_ISLNK(info.st_mode):
            raise _link_error(self.folder / name)
        if stat.S_ISDIR(info.st_mode):
            raise FileExistsError(f"{self.folder / name} is a folder, not a file")
        return True

    def write(self, name: str, data: bytes) -> None:
        """Write ``data`` as the file ``name`` (replacing it), atomically."""
        self._refuse_link(name)
        temporary = self._where(f".{name}.{secrets.token_hex(6)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
        fd = os.open(temporary, flags, 0o644, dir_fd=self._dir_fd())
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            self._refuse_link(name)  # planted while writing: still never followed
            os.replace(
                temporary,
                self._where(name),
                src_dir_fd=self._dir_fd(),
                dst_dir_fd=self._dir_fd(),
            )
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=self._dir_fd())
            raise

    def remove(self, name: str) -> None:
        """Remove the file ``name`` when present (a stale file of an earlier export)."""
        if self._refuse_link(name):
            os.unlink(self._where(name), dir_fd=self._dir_fd())
