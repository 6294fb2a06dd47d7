"""Journal files cut short are repaired on open; storage errors name the file and the reason.

Real journal and SQLite files throughout; the disk-full runs on a real tmpfs are in
``tests/studies/test_disk.py``.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import tempfile
from pathlib import Path

import optuna
import pytest
from paretune.search import StorageError, StorageProblem, default_storage_url, make_storage
from paretune.search.study import repair_journal, storage_file_stem

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _journal_with_trials(path: Path, n: int) -> None:
    study = optuna.create_study(
        study_name="s", storage=make_storage(f"journal:///{path}"), directions=["maximize"]
    )
    for i in range(n):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("curve", [{"epoch": 1, "val_accuracy": 0.5 + i / 100}])
        study.tell(trial, 0.5 + i / 100)


def _load(path: Path) -> optuna.Study:
    return optuna.load_study(study_name="s", storage=make_storage(f"journal:///{path}"))


def _complete(study: optuna.Study) -> list[float]:
    return [t.values[0] for t in study.trials if t.state is optuna.trial.TrialState.COMPLETE]


def test_torn_last_record_is_cut_kept_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j.log"
    _journal_with_trials(path, 3)
    whole = path.read_bytes()
    torn = b'{"op_code":5,"worker_id":"w","study_id":0,"templ'  # a record cut short
    path.write_bytes(whole + torn)
    capsys.readouterr()

    study = _load(path)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"repaired journal {path}: cut {len(torn)} byte(s)" in err
    saved = list(tmp_path.glob("j.log.torn-*"))
    assert len(saved) == 1 and saved[0].read_bytes() == torn
    assert str(saved[0]) in err
    assert path.read_bytes() == whole
    assert _complete(study) == [0.5, 0.51, 0.52]

    # new trials append after the last complete record; the file reads whole again
    trial = study.ask()
    study.tell(trial, 0.9)
    assert _complete(_load(path)) == [0.5, 0.51, 0.52, 0.9]
    assert "repaired" not in capsys.readouterr().err


def test_torn_record_cut_mid_line_then_resumed(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    _journal_with_trials(path, 4)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 30])  # the last trial's tell cut mid-line
    study = _load(path)
    states = [t.state for t in study.trials]
    assert states[:3] == [optuna.trial.TrialState.COMPLETE] * 3
    assert states[3] is optuna.trial.TrialState.RUNNING  # recovered by the next run
    for value in (0.7, 0.8):
        trial = study.ask()
        study.tell(trial, value)
    assert _complete(_load(path)) == [0.5, 0.51, 0.52, 0.7, 0.8]


def test_record_glued_to_a_torn_one_is_salvaged(tmp_path: Path) -> None:
    """The damage an older version left: a torn record with the next append glued to it."""
    path = tmp_path / "j.log"
    _journal_with_trials(path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    last_tell = max(i for i, line in enumerate(lines) if b'"op_code":6' in line)
    glued = lines[4][:20] + lines[5]  # record 4 torn, record 5 appended to it
    path.write_bytes(b"".join(lines[:4]) + glued + b"".join(lines[6:]))
    with pytest.raises(ValueError):  # what Optuna alone makes of it
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        optuna.storages.JournalStorage(backend)

    study = _load(path)
    assert len(study.trials) == 3 and last_tell > 5
    assert (tmp_path / "j.log").read_bytes().count(b"\n") == len(lines) - 1
    assert list(tmp_path.glob("j.log.torn-*"))[0].read_bytes() == lines[4][:20] + b"\n"


def test_append_after_a_writer_died_mid_write(tmp_path: Path) -> None:
    """A process killed mid-append leaves a torn tail while this one has the study open."""
    path = tmp_path / "j.log"
    _journal_with_trials(path, 2)
    study = _load(path)
    with open(path, "ab") as handle:
        handle.write(b'{"op_code":4,"worker_id":"dead","study_id":0,"da')
    trial = study.ask()
    study.tell(trial, 0.9)
    assert _complete(_load(path)) == [0.5, 0.51, 0.9]
    assert len(list(tmp_path.glob("j.log.torn-*"))) == 1


def test_repair_journal_leaves_a_whole_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    _journal_with_trials(path, 2)
    before = path.read_bytes()
    assert repair_journal(path) is None and repair_journal(path, whole=True) is None
    assert path.read_bytes() == before and not list(tmp_path.glob("*.torn-*"))


def test_sqlite_not_a_database_names_file_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database" * 100)
    with pytest.raises(StorageError) as raised:
        make_storage(f"sqlite:///{path}")
    assert raised.value.problem is StorageProblem.NOT_A_DATABASE
    assert str(path) in str(raised.value) and "not a database" in str(raised.value)


@pytest.mark.parametrize("notes", [b"hello\n", b"hello", b"my notes\nmore notes\n", b"[1, 2]\n"])
def test_a_file_that_is_not_a_journal_is_refused_and_left_as_it_is(
    tmp_path: Path, notes: bytes
) -> None:
    """Never written to, never 'repaired' (a repair would cut the user's lines off)."""
    path = tmp_path / "notes.log"
    path.write_bytes(notes)
    for _ in range(2):  # a second try finds it the same
        with pytest.raises(StorageError) as raised:
            make_storage(f"journal:///{path}")
        assert raised.value.problem is StorageProblem.NOT_A_JOURNAL
        assert f"cannot use storage file {path}: not an Optuna journal" in str(raised.value)
    assert path.read_bytes() == notes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.log"]  # no lock, no .torn


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("url", ["sqlite:////proc/x.db", "journal:////proc/x.log"])
def test_a_file_system_that_holds_no_files_is_not_called_full(url: str) -> None:
    """/proc has no free blocks, yet it is not full: the error says the file cannot be made."""
    with pytest.raises(StorageError) as raised:
        make_storage(url)
    assert raised.value.problem is StorageProblem.IO
    message = str(raised.value)
    assert message.startswith("cannot use storage file /proc/x.") and "I/O error" in message
    assert "no space" not in message


def test_folder_that_is_a_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "runs").write_text("a file, not a folder")
    for url in (f"sqlite:///{tmp_path}/runs/a.db", f"journal:///{tmp_path}/runs/a.log"):
        with pytest.raises(StorageError) as raised:
            make_storage(url)
        assert raised.value.problem is StorageProblem.NOT_A_DIRECTORY, url
        assert str(tmp_path / "runs") in str(raised.value)


@pytest.mark.parametrize("scheme, ext", [("sqlite", "db"), ("journal", "log")])
def test_file_name_too_long_names_it(tmp_path: Path, scheme: str, ext: str) -> None:
    path = tmp_path / f"{'x' * 300}.{ext}"
    with pytest.raises(StorageError) as raised:
        make_storage(f"{scheme}:///{path}")
    assert raised.value.problem is StorageProblem.NAME_TOO_LONG
    assert "file name too long" in str(raised.value) and "255" in str(raised.value)


def test_read_only_file_system_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.strip()}")
    try:
        with pytest.raises(StorageError) as raised:
            optuna.create_study(storage=make_storage(f"sqlite:///{folder}/a.db"))
        assert raised.value.problem is StorageProblem.READ_ONLY
        assert f"{folder}/a.db" in str(raised.value)
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_storage_error_survives_pickling() -> None:
    """Worker processes (``--jobs``) send it back to the parent."""
    error = StorageError("no space left on a.db", problem=StorageProblem.NO_SPACE, path="a.db")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.problem, copy.path) == (str(error), error.problem, "a.db")


def test_long_study_name_gets_a_storage_file_that_fits(tmp_path: Path) -> None:
    name = "s" + "x" * 299
    url = default_storage_url(name)
    stem = storage_file_stem(name)
    assert url == f"sqlite:///runs/{stem}.db" and len(stem) == 120
    assert storage_file_stem(name + "y") != stem
    study = optuna.create_study(
        study_name=name, storage=make_storage(f"sqlite:///{tmp_path}/{stem}.db")
    )
    study.tell(study.ask(), 1.0)
    assert [f for f in os.listdir(tmp_path) if len(f) > 255] == []


@pytest.mark.skipif(not hasattr(os, "fork") or os.geteuid() != 0, reason="needs root to drop to")
def test_permission_denied_names_the_file() -> None:
    """A user who may not write the storage (root drops to uid 65534 in a forked child)."""
    folder = Path(tempfile.mkdtemp(prefix="paretune-theirs-"))  # in /tmp: others may enter
    try:
        make_storage(f"sqlite:///{folder}/a.db")  # created by root; loads every module first
        folder.chmod(0o755)
        (folder / "a.db").chmod(0o600)
        answer = _open_as_nobody(folder / "a.db")
    finally:
        shutil.rmtree(folder)
    problem, _, message = answer.partition("|")
    assert problem == "PERMISSION", answer
    assert message.startswith(f"cannot use storage file {folder}/a.db: permission denied")


def _open_as_nobody(path: Path) -> str:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read)
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            make_storage(f"sqlite:///{path}")
            answer = "opened"
        except StorageError as error:
            answer = f"{error.problem.name}|{error}"
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            answer = f"{type(error).__name__}: {error}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    os.waitpid(child, 0)
    return answer


class _InterruptedLock:
    """The journal's own symlink lock, with a signal arriving the moment the link is made."""

    def __init__(self, path: Path, signum: int) -> None:
        from optuna.storages.journal import JournalFileSymlinkLock

        self.inner = JournalFileSymlinkLock(str(path))
        self.link = Path(str(path) + ".lock")
        self.signum = signum

    def acquire(self) -> bool:
        taken = self.inner.acquire()
        os.kill(os.getpid(), self.signum)  # its handler runs at the next bytecode
        return taken

    def release(self) -> None:
        self.inner.release()


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_ctrl_c_during_an_append_waits_for_it_to_end(tmp_path: Path, name: str) -> None:
    """Ctrl-C (or SIGTERM turned into one) while an append holds the journal's lock is raised
    once the record is written and the lock file removed: no writer is left waiting out
    Optuna's 30-second grace period for a lock nobody holds."""
    import signal

    from paretune.search.study import JournalFile

    def as_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    path = tmp_path / "a.log"
    lock = _InterruptedLock(path, getattr(signal, name))
    backend = JournalFile(str(path), lock_obj=lock)  # type: ignore[arg-type]
    before = {s: signal.signal(s, as_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(KeyboardInterrupt):
            backend.append_logs([{"op_code": 0, "worker_id": "w", "study_name": "s"}])
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    assert not lock.link.exists()
    assert [log["study_name"] for log in backend.read_logs(0)] == ["s"]
