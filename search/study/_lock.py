"""The lock every process and host writing one study holds to hand out its trial slots.

:class:`~paretune.search.study._quota.TrialSlots` counts a study's trials and creates the next
one while holding it, so two processes never take the same slot. The lock lives where the
storage lives, and the operating system or the database server releases it when its holder
dies (a killed process leaves no stale lock):

- ``sqlite:///`` and ``journal:///``: an exclusive ``flock`` on ``<file>.quota.lock`` next to
  the storage file (on NFS, Linux turns it into a lock the server keeps);
- PostgreSQL: a session advisory lock (``pg_advisory_lock``) keyed by the study's id, on a
  connection of its own;
- MySQL: ``GET_LOCK`` named after the study's id.

With ``study_id=None`` it locks the whole storage instead: processes opening a fresh database
at once take it while Optuna creates the tables (each would create them otherwise).

Optuna's own locks cannot be reused: RDB storages lock the study row while creating a trial
and the journal locks its file while appending, so holding either around ``ask`` would wait
for itself.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["StudyLock"]

#: First key of the PostgreSQL advisory lock (``"pare"`` in ASCII); the second is the study id.
_PG_KEY = 0x70617265


@functools.lru_cache(maxsize=8)
def _engine(url: str) -> Any:
    """The engine of the lock connections to one database server (one per process and URL)."""
    import sqlalchemy

    return sqlalchemy.create_engine(url, pool_size=2, max_overflow=8)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def _file_of(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` or ``journal:///`` URL (None for a server)."""
    if _scheme(url) in ("sqlite", "journal") and ":///" in url:
        return Path(url.split(":///", 1)[1])
    return None


class StudyLock:
    """An exclusive lock on one study of one storage, shared by every process using it.

    A context manager; not reentrant. It opens what it needs on first use and closes it on
    :meth:`close` (a pickled copy opens its own).

    Args:
        storage: The storage URL (one :func:`~paretune.search.validate_storage_url` accepts).
        study_id: The study's id in that storage (None: the whole storage).

    Examples:
        >>> import tempfile
        >>> lock = StudyLock(storage=f"journal:///{tempfile.mkdtemp()}/a.log", study_id=0)
        >>> with lock:
        ...     lock.held
        True
        >>> lock.held
        False
    """

    def __init__(self, *, storage: str, study_id: int | None) -> None:
        self.storage = storage
        self.study_id = study_id
        self.held = False
        self._fd: int | None = None
        self._connection: Any = None
        self._local = threading.Lock()  # threads of this process (flock is per open file)

    def __getstate__(self) -> dict[str, Any]:
        return {"storage": self.storage, "study_id": self.study_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __enter__(self) -> StudyLock:
        self._local.acquire()
        try:
            self._acquire()
        except BaseException:
            self._local.release()
            raise
        self.held = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._release()
        finally:
            self.held = False
            self._local.release()

    def close(self) -> None:
        """Close the lock file (a database lock's connection goes back to its pool)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- per storage -------------------------------------------------------------------------

    def _acquire(self) -> None:
        scheme = _scheme(self.storage)
        path = _file_of(self.storage)
        if path is not None:
            import fcntl

            if self._fd is None:
                lock_path = Path(f"{path}.quota.lock")
                try:
                    lock_path.parent.mkdir(parents=True, exist_ok=True)
                    self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
                except OSError as error:
                    if self.study_id is None:
                        return  # opening the storage itself says what is wrong with the folder
                    from paretune.search.study._storage_errors import storage_error

                    raise (storage_error(error, path=lock_path) or error) from error
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        elif scheme in ("postgresql", "mysql"):
            connection = self._connect()
            try:
                self._execute(self._statements(scheme)[0], connection)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        else:
            warnings.warn(
                f"No lock across processes for {scheme} storages: processes on other "
                "machines may together run more than n_trials trials (PostgreSQL, MySQL, "
                "SQLite and journal files are locked).",
                RuntimeWarning,
                stacklevel=3,
            )

    def _release(self) -> None:
        if self._fd is not None:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_UN)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                self._execute(self._statements(_scheme(self.storage))[1], connection)
                connection.commit()
            finally:
                connection.close()

    def _statements(self, scheme: str) -> tuple[str, str]:
        if scheme == "postgresql":
            # one 64-bit key for the storage, two 32-bit keys for a study (separate key spaces)
            key = str(_PG_KEY) if self.study_id is None else f"{_PG_KEY}, {int(self.study_id)}"
            return f"SELECT pg_advisory_lock({key})", f"SELECT pg_advisory_unlock({key})"
        which = "storage" if self.study_id is None else f"study-{int(self.study_id)}"
        name = f"'paretune-{which}'"
        return f"SELECT GET_LOCK({name}, -1)", f"SELECT RELEASE_LOCK({name})"

    def _connect(self) -> Any:
        return _engine(self.storage).connect()

    def _execute(self, statement: str, connection: Any = None) -> None:
        import sqlalchemy

        (connection or self._connection).execute(sqlalchemy.text(statement))
