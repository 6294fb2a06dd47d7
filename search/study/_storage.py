"""Storage URLs: validate them and build the Optuna storage behind them.

Accepted forms:

- ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (the default; one
  process at a time),
- ``journal:///relative/path.log`` or ``journal:////absolute/path.log``: Optuna's
  ``JournalStorage`` over an append-only file with a file lock; safe for several processes on
  one machine (what ``jobs > 1`` needs),
- any other SQLAlchemy URL Optuna's ``RDBStorage`` takes (``postgresql://…``,
  ``postgresql+psycopg2://…``, ``mysql+pymysql://…``): for many processes or hosts.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paretune.search.study._space_reserve import free_reserve
from paretune.search.study._storage_errors import StorageProblem, exception_chain, storage_error

if TYPE_CHECKING:
    import optuna

__all__ = [
    "MissingDriverError",
    "default_storage_url",
    "is_parallel_safe",
    "make_storage",
    "storage_file_stem",
    "storage_path",
    "validate_storage_url",
]

_RDB_SCHEMES = ("postgresql", "mysql", "oracle", "mssql")
_HELP = (
    "Use sqlite:///PATH.db (one process), journal:///PATH.log (several processes on one "
    "machine) or a server URL such as postgresql://USER:PASSWORD@HOST/DB."
)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def validate_storage_url(url: str) -> str:
    """Check that ``url`` names a storage paretune can open; return it unchanged.

    Raises:
        ValueError: In the scikit-learn wording, listing the accepted forms.

    Examples:
        >>> validate_storage_url("sqlite:///runs/x.db")
        'sqlite:///runs/x.db'
        >>> validate_storage_url("runs/x.db")
        Traceback (most recent call last):
        ...
        ValueError: The 'storage' parameter must be a storage URL. Got 'runs/x.db' instead. ...
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            f"The 'storage' parameter must be a storage URL. Got {url!r} instead. {_HELP}"
        )
    scheme = _scheme(url)
    written = url.split("://", 1)[0]
    if written != written.lower():  # SQLAlchemy knows its dialects by lower-case names only
        raise ValueError(
            f"The 'storage' parameter must write its scheme in lower case "
            f"({written.lower()}://...). Got {url!r} instead."
        )
    if scheme in ("sqlite", "journal"):
        prefix = f"{written}:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ValueError(
                f"The 'storage' parameter must name a file for {scheme}: {scheme}:///PATH "
                f"(relative) or {scheme}:////PATH (absolute). Got {url!r} instead."
            )
        if scheme == "sqlite" and ("?" in url or "%" in url):
            raise ValueError(
                "The 'storage' parameter must name a SQLite file by its plain path, without a "
                "query string or %-escapes (SQLAlchemy would read another file than the one "
                f"paretune locks beside it). Got {url!r} instead."
            )
        if scheme == "sqlite" and url.endswith(":memory:"):
            raise ValueError(
                "The 'storage' parameter must name a file: an in-memory SQLite database "
                f"loses the study when the process ends. Got {url!r} instead."
            )
        return url
    if scheme not in _RDB_SCHEMES:
        raise ValueError(
            f"The 'storage' parameter has an unsupported scheme {scheme!r}. "
            f"Got {url!r} instead. {_HELP}"
        )
    rest = url.split("://", 1)[1]
    if not rest or rest.startswith("/") and len(rest) == 1:
        raise ValueError(
            f"The 'storage' parameter must name a host and database. Got {url!r} instead."
        )
    return url


def storage_path(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` or ``journal:///`` URL, or None for a server.

    Examples:
        >>> storage_path("sqlite:///runs/a.db")
        PosixPath('runs/a.db')
        >>> storage_path("journal:////tmp/a.log")
        PosixPath('/tmp/a.log')
        >>> storage_path("postgresql://u@h/db") is None
        True
    """
    scheme = _scheme(validate_storage_url(url))
    if scheme not in ("sqlite", "journal"):
        return None
    return Path(url.split(":///", 1)[1])


#: The longest study name used whole as a storage file name (``runs/<name>.db``). Longer
#: names keep their first characters and get a hash of the whole name: the file name and the
#: names SQLite and Optuna derive from it (``-wal``, ``.lock`` plus a 43-character suffix)
#: stay far below the file systems' limit of 255 bytes.
MAX_STEM = 120
_HASH = 12


def storage_file_stem(name: str) -> str:
    """The file name (without extension) of a study's default storage file.

    A name of up to :data:`MAX_STEM` bytes is used as it is. A longer one is cut to its
    first characters plus ``-`` and the first 12 hex digits of its SHA-256, 120 bytes in all:
    different long names still get different files, and the same name always the same one.

    Examples:
        >>> storage_file_stem("digits-quick")
        'digits-quick'
        >>> stem = storage_file_stem("a" * 300)
        >>> len(stem), stem[:4], stem[-13]
        (120, 'aaaa', '-')
        >>> storage_file_stem("a" * 300) != storage_file_stem("a" * 299 + "b")
        True
    """
    if len(os.fsencode(name)) <= MAX_STEM:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:_HASH]
    head = os.fsencode(name)[: MAX_STEM - _HASH - 1].decode("utf-8", "ignore")
    return f"{head}-{digest}"


def default_storage_url(name: str) -> str:
    """The storage of a study file that names none: ``sqlite:///runs/<stem>.db``.

    The stem is :func:`storage_file_stem` (the name itself, unless it is too long for a file
    name).

    Examples:
        >>> default_storage_url("digits-quick")
        'sqlite:///runs/digits-quick.db'
        >>> len(default_storage_url("x" * 300)) < 255
        True
    """
    return f"sqlite:///runs/{storage_file_stem(name)}.db"


def is_parallel_safe(url: str) -> bool:
    """Whether several processes may write the storage at once (everything but SQLite).

    Examples:
        >>> is_parallel_safe("sqlite:///a.db"), is_parallel_safe("journal:///a.log")
        (False, True)
    """
    return _scheme(validate_storage_url(url)) != "sqlite"


def make_storage(url: str, *, existing: bool = False) -> optuna.storages.BaseStorage:
    """Open the Optuna storage behind ``url`` (creating the parent folder of a file).

    With ``existing=True`` (the commands that only read a study) a database storage whose
    tables are already there at Optuna's schema version is opened without creating tables and
    without Optuna's migration check (importing alembic alone takes about half a second); any
    other database is opened as usual, so Optuna's own messages still explain an old schema.

    Examples:
        >>> import tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> storage = make_storage(f"journal:///{folder}/runs/a.log")
        >>> type(storage).__name__, os.path.isdir(f"{folder}/runs")
        ('JournalStorage', True)
    """
    import optuna

    path = storage_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise (storage_error(error, path=path) or error) from error
    scheme = _scheme(url)
    if scheme == "journal" and path is not None:
        from paretune.search.study._journal_file import make_journal

        # a torn last record (a write cut short) is cut off before anything is appended
        journal: optuna.storages.BaseStorage = make_journal(path)
        return journal
    from paretune.search.study._lock import StudyLock
    from paretune.search.study._trial_cache import OwnedTrialCache

    if path is None:  # a server: its driver is imported when the storage opens
        _check_driver(url)
    if existing:
        quick = _existing_rdb(url, path)
        if quick is not None:
            return OwnedTrialCache(storage=optuna.storages.get_storage(quick))
    # Processes opening a fresh database at once would each create its tables; one does.
    try:
        with contextlib.closing(StudyLock(storage=url, study_id=None)) as lock, lock:
            for attempt in range(_CREATION_TRIES):
                try:
                    if scheme == "sqlite" and path is not None:
                        rdb = _sqlite_storage(url, path)
                    else:
                        rdb = optuna.storages.RDBStorage(url)
                    break
                except Exception as error:
                    if attempt + 1 == _CREATION_TRIES or not _lost_creation_race(error):
                        raise
                    time.sleep(0.1 * (attempt + 1))
    except OSError as error:  # the lock file beside the database: name it and the reason
        named = None if path is None else storage_error(error, path=path)
        raise (named or error) from error
    # An RDB storage answers reads of this process's running trials from memory (see
    # OwnedTrialCache): about a third fewer SQL statements per trial.
    storage: optuna.storages.BaseStorage = OwnedTrialCache(storage=optuna.storages.get_storage(rdb))
    return storage


_CREATION_TRIES = 4


class MissingDriverError(ValueError):
    """A database server URL whose Python driver is not installed (the message names it and
    what to install)."""


def _check_driver(url: str) -> None:
    """Refuse a database server URL whose Python driver is not installed, naming it."""
    import sqlalchemy

    try:
        dialect = sqlalchemy.engine.make_url(url).get_dialect()
    except (sqlalchemy.exc.ArgumentError, ValueError, AttributeError):
        return  # a URL SQLAlchemy cannot read: Optuna names what is wrong with it
    try:
        dialect.import_dbapi()
    except ImportError as error:  # SQLAlchemy imports the dialect's driver on first use
        raise MissingDriverError(
            f"The 'storage' parameter {url.split('://', 1)[0]}://... needs its database "
            f"driver, which is not installed ({error}): install it (postgresql: "
            "pip install psycopg2-binary; mysql: pip install mysqlclient, or PyMySQL with "
            "mysql+pymysql://)."
        ) from None


def _lost_creation_race(error: BaseException) -> bool:
    """Whether creating the storage failed because another process (a plain Optuna script,
    optuna-dashboard: paretune's own runs take the lock) created the same tables at that
    moment: SQLite's "table ... already exists", or the second stamp of Optuna's schema
    version. Opening it again then finds the tables made."""
    import sqlalchemy

    for seen in exception_chain(error):  # a chain may lead back to itself: each seen once
        if isinstance(seen, sqlalchemy.exc.IntegrityError) and "alembic_version" in str(seen):
            return True
        if isinstance(seen, sqlalchemy.exc.OperationalError) and "already exists" in str(seen):
            return True
    return False


def _existing_rdb(url: str, path: Path | None) -> optuna.storages.RDBStorage | None:
    """The database behind ``url`` opened without creating tables or checking migrations, or
    None when it is not at the schema version the installed Optuna writes (or unreadable)."""
    import optuna
    import sqlalchemy
    from optuna.storages._rdb import models

    try:
        with _migrations_on_demand():
            if path is not None:
                rdb = _sqlite_storage(url, path, checked=False)
            else:
                rdb = optuna.storages.RDBStorage(
                    url, skip_compatibility_check=True, skip_table_creation=True
                )
        with rdb.engine.connect() as connection:
            table = models.VersionInfoModel.__table__
            version = connection.execute(sqlalchemy.select(table.c.schema_version)).scalar()
    except Exception:  # no tables, another schema, a server refusing: the full path explains
        return None
    return rdb if version == models.SCHEMA_VERSION else None


@contextlib.contextmanager
def _migrations_on_demand() -> Iterator[None]:
    """While an ``RDBStorage`` is created, its migration manager (which imports alembic, about
    half a second) is built only if something asks it for a version or an upgrade; reading a
    study never does. Where Optuna keeps no such manager, nothing changes."""
    from optuna.storages._rdb import storage

    rdb_module: Any = storage
    real: Any = getattr(rdb_module, "_VersionManager", None)
    if real is None:
        yield
        return

    class _OnDemand:
        def __init__(self, *args: Any) -> None:
            self._args = args
            self._manager: Any = None

        def __getattr__(self, name: str) -> Any:
            if self._manager is None:
                self._manager = real(*self._args)
            return getattr(self._manager, name)

    rdb_module._VersionManager = _OnDemand
    try:
        yield
    finally:
        rdb_module._VersionManager = real


def _sqlite_storage(url: str, path: Path, *, checked: bool = True) -> optuna.storages.RDBStorage:
    """An RDB storage on a SQLite file in WAL mode with ``synchronous=NORMAL``.

    Optuna commits once per parameter, attribute and state change; in SQLite's default
    rollback-journal mode every commit waits for the disk (about 10 ms each on a typical VM
    disk), which dominates a trial's bookkeeping. In WAL mode with ``synchronous=NORMAL`` a
    commit is an append to the write-ahead log: still atomic and durable across a crash of
    the process (SIGKILL); a power loss may lose the last commits but never corrupts the file.
    WAL also lets readers (``paretune status``, optuna-dashboard) read while a run writes.

    SQLite's errors ("unable to open database file", "database or disk is full", which
    Optuna reports as "invalid data in the commit") become a
    :class:`~paretune.search.study._storage_errors.StorageError` naming ``path`` and the
    reason, when the storage is created and on every later statement.

    With ``checked=False`` (an existing database, opened to read) Optuna neither creates tables
    nor checks the schema's migrations.
    """
    import optuna
    import sqlalchemy

    # A generous busy timeout: a reader may hold the file briefly while a run writes.
    try:
        rdb = optuna.storages.RDBStorage(
            url,
            engine_kwargs={"connect_args": {"timeout": 30}},
            skip_compatibility_check=not checked,
            skip_table_creation=not checked,
        )
    except Exception as error:  # SQLAlchemy's or Optuna's wrapper of SQLite's error
        raise (storage_error(error, path=path) or error) from error

    def on_error(context: Any) -> None:
        named = storage_error(context.original_exception, path=path)
        if named is not None:
            if named.problem is StorageProblem.NO_SPACE:
                free_reserve(path)  # room to record the running trial as failed
            raise named from context.original_exception

    def on_connect(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(rdb.engine, "connect", on_connect)
    sqlalchemy.event.listen(rdb.engine, "handle_error", on_error)
    rdb.engine.dispose()  # connections opened while creating the tables lack the pragmas
    return rdb
