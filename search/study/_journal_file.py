"""The journal file behind ``journal:///`` storages: appends that leave no torn record.

Optuna's :class:`~optuna.storages.journal.JournalFileBackend` appends one JSON record per
line. A write cut short (a full disk, a process killed mid-write) leaves a last line without
its end; the next append is glued to it, and from then on every reader fails with a JSON
error ("Expecting ',' delimiter") although all the records are there.

:class:`JournalFile` closes that hole in three places, each under the journal's own lock (the
one Optuna's writers take, so a concurrent writer is never cut):

- on open, a torn last record is cut off (:func:`repair_journal`), kept in a sibling file
  ``<journal>.torn-<UTC time>``, and one line on standard error says so;
- before each append the file must end with a complete record (one more such repair when a
  writer died mid-write since);
- a Ctrl-C or SIGTERM during an append waits for it to end (:func:`deferred_interrupts`),
  so no writer leaves the lock file behind for the others to wait out;
- an append that fails (``ENOSPC``) is undone by truncating the file back to its size
  before, frees the space reserve (``_space_reserve``) and raises a
  :class:`~paretune.search.study._storage_errors.StorageError` naming the file ("no space
  left on PATH").

A journal already damaged by an older version (a torn record with the next record glued to
it, in the middle of the file) is repaired when Optuna cannot read it: see :func:`make_journal`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import BaseJournalFileLock, get_lock_file
from paretune.search.study._deferred_signals import deferred_interrupts
from paretune.search.study._space_reserve import free_reserve
from paretune.search.study._storage_errors import StorageError, StorageProblem, storage_error

if TYPE_CHECKING:
    import optuna

__all__ = ["JournalFile", "JournalRepair", "make_journal", "repair_journal"]

_RECORD_START = b'{"op_code"'  # every record Optuna writes starts so
_BLOCK = 1 << 16


@dataclass(frozen=True)
class JournalRepair:
    """What :func:`repair_journal` cut from a journal.

    Attributes:
        path: The journal.
        torn: The file that keeps the bytes that were cut.
        n_bytes: How many bytes were cut.
        n_salvaged: Complete records found glued behind a torn one, and kept.
    """

    path: Path
    torn: Path
    n_bytes: int
    n_salvaged: int

    def message(self) -> str:
        """The line printed on standard error."""
        kept = f"; {self.n_salvaged} record(s) glued to it kept" if self.n_salvaged else ""
        return (
            f"paretune: repaired journal {self.path}: cut {self.n_bytes} byte(s) of torn "
            f"record(s) (a write cut short{kept}), saved in {self.torn}; the study resumes "
            "from the last complete record"
        )


def _is_record(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _salvage(line: bytes) -> bytes | None:
    """The complete record glued behind a torn one in ``line`` (None when there is none)."""
    start = line.find(_RECORD_START, 1)
    while start > 0:
        if _is_record(line[start:]):
            return line[start:]
        start = line.find(_RECORD_START, start + 1)
    return None


def _fix_lines(lines: list[bytes]) -> tuple[list[bytes], bytes, int]:
    """The lines to keep, the bytes cut and the number of records salvaged."""
    kept: list[bytes] = []
    cut = b""
    salvaged = 0
    for line in lines:
        if _is_record(line):
            kept.append(line)
            continue
        rescued = _salvage(line) if line.endswith(b"\n") else None
        if rescued is None:
            cut += line
        else:
            cut += line[: len(line) - len(rescued)] + b"\n"
            kept.append(rescued)
            salvaged += 1
    return kept, cut, salvaged


def _tail_start(handle: BinaryIO, size: int) -> int:
    """The offset where the file's last complete line starts (the torn rest follows it)."""
    data = b""
    position = size
    while position > 0:
        step = min(_BLOCK, position)
        position -= step
        handle.seek(position)
        data = handle.read(step) + data
        last = data.rfind(b"\n")
        before = data.rfind(b"\n", 0, max(last, 0))
        if before >= 0:
            return position + before + 1
    return 0


def _torn_name(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    torn = path.with_name(f"{path.name}.torn-{stamp}")
    number = 1
    while torn.exists():
        number += 1
        torn = path.with_name(f"{path.name}.torn-{stamp}-{number}")
    return torn


def _save(torn: Path, data: bytes) -> None:
    with open(torn, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def repair_journal(path: Path, *, whole: bool = False) -> JournalRepair | None:
    """Cut torn records off a journal file; keep what was cut in ``<journal>.torn-<time>``.

    The caller holds the journal's lock. By default only the end of the file is read: a last
    line without its end, or a last line that is not a JSON record, is cut (a complete record
    glued behind a torn one is kept). With ``whole`` every line is checked and the file is
    rewritten (atomically, by renaming a full copy).

    Returns:
        What was cut, or None when the file was whole.

    Examples:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "a.log"
        >>> _ = path.write_bytes(b'{"op_code":0}\\n{"op_code":4,"tri')
        >>> repair = repair_journal(path)
        >>> path.read_bytes(), repair.n_bytes, repair.torn.read_bytes()
        (b'{"op_code":0}\\n', 17, b'{"op_code":4,"tri')
        >>> repair_journal(path) is None
        True
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        start = 0 if whole else _tail_start(handle, size)
        handle.seek(start)
        lines = handle.read(size - start).splitlines(keepends=True)
    kept, cut, salvaged = _fix_lines(lines)
    if not cut:
        return None
    torn = _torn_name(path)
    _save(torn, cut)
    if whole:
        fresh = path.with_name(f"{path.name}.repair-{os.getpid()}")
        _save(fresh, b"".join(kept))
        os.replace(fresh, path)
    else:
        with open(path, "r+b") as handle:
            handle.truncate(start)
            handle.seek(start)
            handle.write(b"".join(kept))
            handle.flush()
            os.fsync(handle.fileno())
    return JournalRepair(path=path, torn=torn, n_bytes=len(cut), n_salvaged=salvaged)


def _ends_whole(path: Path) -> bool:
    """Whether the file is empty or ends with a newline (cheap: reads one byte)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return True
        handle.seek(size - 1)
        return handle.read(1) == b"\n"


class JournalFile(JournalFileBackend):
    """Optuna's journal file backend, with torn records repaired and failed appends undone.

    Args:
        file_path: The journal file (created when missing).
        lock_obj: The lock (default: Optuna's, a symlink ``<file>.lock``).

    Attributes:
        repairs: What was cut when the file was opened (and since, before appends).

    Examples:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "a.log"
        >>> _ = path.write_bytes(b'{"op_code":0,"worker_id":"w","study_name":"s","directions":[1]}'
        ...                      b'\\n{"op_code":4,"wor')
        >>> backend = JournalFile(str(path))  # prints "paretune: repaired journal ..."
        >>> [log["op_code"] for log in backend.read_logs(0)], backend.repairs[0].n_bytes
        ([0], 17)
    """

    def __init__(self, file_path: str, lock_obj: BaseJournalFileLock | None = None) -> None:
        check_journal(Path(file_path))
        super().__init__(file_path, lock_obj)
        self.repairs: list[JournalRepair] = []
        self._repair(whole=False, when_unwritable=True)

    @property
    def path(self) -> Path:
        """The journal file."""
        return Path(self._file_path)

    def _repair(self, *, whole: bool, when_unwritable: bool = False) -> None:
        """Repair under the lock; print the line. A journal this process may only read is
        left as it is (Optuna's reader skips a torn last line) when ``when_unwritable``."""
        if not whole and _ends_whole(self.path):
            return
        try:
            with deferred_interrupts(), get_lock_file(self._lock):  # no lock left behind
                repair = repair_journal(self.path, whole=whole)
        except OSError as error:
            known = storage_error(error, path=self.path)
            if when_unwritable and known is not None and known.problem in _READ_ONLY:
                return
            raise (known or error) from error
        if repair is not None:
            self.repairs.append(repair)
            print(repair.message(), file=sys.stderr, flush=True)

    def repair_whole(self) -> bool:
        """Check every line and cut or salvage the damaged ones; whether anything changed."""
        before = len(self.repairs)
        self._repair(whole=True)
        return len(self.repairs) > before

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        try:
            yield from super().read_logs(log_number_from)
        except OSError as error:
            raise (storage_error(error, path=self.path) or error) from error

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        try:
            # a Ctrl-C or SIGTERM waits for the append to end: the lock file is removed and
            # the record whole (see _deferred_signals)
            with deferred_interrupts(), get_lock_file(self._lock):
                if not _ends_whole(self.path):  # a writer died mid-write since we looked
                    repair = repair_journal(self.path)
                    if repair is not None:
                        self.repairs.append(repair)
                        print(repair.message(), file=sys.stderr, flush=True)
                _append(self.path, data.encode("utf-8"))
        except OSError as error:
            known = storage_error(error, path=self.path)
            if known is not None and known.problem is StorageProblem.NO_SPACE:
                free_reserve(self.path)  # room to record the running trial as failed
            raise (known or error) from error


_READ_ONLY = (StorageProblem.PERMISSION, StorageProblem.READ_ONLY)


def _append(path: Path, data: bytes) -> None:
    """Append ``data`` and fsync; on failure truncate the file back to its size before."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
                os.fsync(fd)
            raise
    finally:
        os.close(fd)


def check_journal(path: Path) -> None:
    """Refuse a file that is not an Optuna journal before anything writes to it or repairs
    it (a repair would cut its lines off as torn records).

    Raises:
        StorageError: Its first line is not a journal record (nothing is written).
    """
    try:
        with open(path, "rb") as handle:
            first = handle.readline(1 << 20)
    except OSError:  # missing (a new journal), or unreadable: the opener names why
        return
    if first and not _may_be_journal(first):
        raise StorageError(
            f"cannot use storage file {path}: {StorageProblem.NOT_A_JOURNAL.value} (its first "
            f"line is not a journal record: {first[:40]!r}); name a new file for the study",
            problem=StorageProblem.NOT_A_JOURNAL,
            path=str(path),
        )


def _may_be_journal(line: bytes) -> bool:
    """Whether ``line`` is an Optuna journal record (a JSON object with an ``op_code``), or
    the start of one cut short (no newline yet: the repair cuts it).

    Examples:
        >>> _may_be_journal(b'{"op_code": 0, "worker_id": "w"}\\n'), _may_be_journal(b"hello\\n")
        (True, False)
        >>> _may_be_journal(b'{"op_code":4,"wor'), _may_be_journal(b"hello")
        (True, False)
    """
    if not line.endswith(b"\n"):
        return line.startswith(_RECORD_START) or _RECORD_START.startswith(line)
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "op_code" in record


def make_journal(path: Path) -> optuna.storages.JournalStorage:
    """The Optuna journal storage on ``path``, repairing the file first where it is torn.

    A file Optuna cannot read (a record that is not JSON in the middle: an older version
    appended to a torn record) is repaired line by line once, then read again.

    Raises:
        StorageError: The file cannot be created, read or repaired (the message names it
            and the reason).
    """
    import optuna

    try:
        backend = JournalFile(os.fspath(path))
    except OSError as error:
        raise (storage_error(error, path=path) or error) from error
    try:
        return optuna.storages.JournalStorage(backend)
    except ValueError as error:  # json.JSONDecodeError, "Invalid log format."
        if not backend.repair_whole():
            raise StorageError(
                f"cannot use storage file {path}: {StorageProblem.DAMAGED.value} ({error})",
                problem=StorageProblem.DAMAGED,
                path=str(path),
            ) from error
    return optuna.storages.JournalStorage(JournalFile(os.fspath(path)))
