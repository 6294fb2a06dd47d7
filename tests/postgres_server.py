"""A throw-away PostgreSQL server for tests (the ``postgres_server`` fixture of conftest.py).

``initdb`` into a fresh folder under /tmp, then ``pg_ctl start`` listening on 127.0.0.1 at a
free port and on a socket in that folder; fsync off (a test server holds nothing to keep).
PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user (or
``nobody``) through ``runuser``. :func:`start` raises :class:`Unavailable` with the reason when
no server can be started here (the fixture turns it into a skip).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class Unavailable(RuntimeError):
    """No PostgreSQL server can be started on this machine (the message says why)."""


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if found is None:
        raise Unavailable(
            f"PostgreSQL is not installed ({name} not found; .ci/run installs Debian's postgresql)"
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_user() -> tuple[list[str], int | None, int | None]:
    """The command prefix that runs a server program, and the uid/gid owning its files."""
    if os.geteuid() != 0:
        return [], None, None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise Unavailable("running as root and `runuser` is missing: cannot start PostgreSQL")
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return [runuser, "-u", name, "--"], entry.pw_uid, entry.pw_gid
    raise Unavailable("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


@dataclass
class Server:
    """A running server: ``url(db)`` names a database on it; ``create_database`` makes one."""

    folder: Path
    port: int
    user: str
    prefix: list[str]

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name``; return its SQLAlchemy URL."""
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        data = self.folder / "data"
        subprocess.run(
            [*self.prefix, _binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> Server:
    """Start a server; raise :class:`Unavailable` when this machine cannot run one."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise Unavailable("psycopg is not installed (pip install 'paretune[postgres]')") from None
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    prefix, uid, gid = _as_user()
    folder = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))  # short: the socket path
    if uid is not None and gid is not None:
        os.chown(folder, uid, gid)
    data, user, port = folder / "data", "paretune", _free_port()
    init = subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8", "--no-sync"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise Unavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
    options = f"-k {folder} -h 127.0.0.1 -p {port} -F -c max_connections=200"
    started = subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if started.returncode != 0:
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise Unavailable(f"pg_ctl start failed: {started.stderr.strip()} {log[-300:]}")
    return Server(folder=folder, port=port, user=user, prefix=prefix)
