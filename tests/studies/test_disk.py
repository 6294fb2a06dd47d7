"""``paretune run`` on a full disk, on a torn journal, and with a very long study name.

The disk-full runs use a real tmpfs of a few hundred KiB (mounting needs root: skipped with
the reason where it is not allowed); the torn journal is a real journal cut mid-record.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from paretune.search.study import storage_file_stem
from paretune.studies import Study

EXE = shutil.which("paretune")
pytestmark = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

STUDY = """\
name = "{name}"
task = "synthetic"
task_options = {{ n_samples = 120 }}
objectives = ["accuracy", "size_bits"]
sampler = "random"
n_trials = {n_trials}
seed = 1
{storage}
[space]
lr = {{ low = 1e-3, high = 0.3, log = true }}
epochs = 1
"""


def _paretune(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def _write(folder: Path, *, name: str = "disk", n_trials: int, storage: str = "") -> Path:
    path = folder / "study.toml"
    line = f'storage = "{storage}"' if storage else ""
    path.write_text(STUDY.format(name=name, n_trials=n_trials, storage=line))
    return path


def _storage(url: str) -> optuna.storages.BaseStorage | str:
    if url.startswith("journal:///"):
        backend = optuna.storages.journal.JournalFileBackend(url.removeprefix("journal:///"))
        return optuna.storages.JournalStorage(backend)
    return url


def _states(url: str, name: str = "disk") -> list[str]:
    study = optuna.load_study(study_name=name, storage=_storage(url))
    return [t.state.name for t in study.trials]


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("paretune: error")]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 300 KiB tmpfs, unmounted afterwards."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _resume(study: Path, n_trials: int) -> list[str]:
    """Run the study to ``n_trials`` in this process (the public API); its trials' states."""
    result = Study.from_file(study, n_trials=n_trials).run()
    return [t.state.name for t in result.study.trials]


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["journal", "sqlite"])
def test_full_disk_says_no_space_and_leaves_no_trial_running(
    tmp_path: Path, tiny_disk: Path, scheme: str
) -> None:
    if scheme == "journal":  # a journal grows slowly: leave about 110 KiB of the 300
        (tiny_disk / "filler").write_bytes(bytes(190_000))
        url = f"journal:///{tiny_disk}/disk.log"
    else:  # SQLite's write-ahead log fills the 300 KiB by itself
        url = f"sqlite:///{tiny_disk}/disk.db"
    study = _write(tmp_path, n_trials=30, storage=url)

    full = _paretune("run", str(study), cwd=tmp_path)
    assert full.returncode == 1, full.stderr
    errors = _errors(full.stderr)
    path = url.split(":///", 1)[1]
    assert len(errors) == 1 and errors[0].startswith(f"paretune: error: no space left on {path}")
    assert "Traceback" not in full.stderr and "invalid data in the commit" not in full.stderr
    if scheme == "journal":
        assert Path(path).read_bytes().endswith(b"\n")  # no torn record left behind
    subprocess.run(["mount", "-o", "remount,size=4m", str(tiny_disk)], check=True)
    states = _states(url)
    assert "RUNNING" not in states and states.count("COMPLETE") < 30, states

    # space freed: the same study resumes and finishes
    after = _resume(study, 30)
    assert after.count("COMPLETE") == 30 and "RUNNING" not in after
    assert after[: len(states)] == states  # every trial of the full-disk run is kept


@pytest.mark.slow
def test_torn_journal_is_repaired_when_the_run_resumes(tmp_path: Path) -> None:
    url = f"journal:///{tmp_path}/runs/disk.log"
    study = _write(tmp_path, n_trials=3, storage=url)
    assert _paretune("run", str(study), cwd=tmp_path).returncode == 0  # a process that ends
    journal = tmp_path / "runs" / "disk.log"
    data = journal.read_bytes()
    journal.write_bytes(data[: len(data) - 40])  # the last trial's end, cut mid-record

    resumed = _paretune("run", str(study), "--n-trials", "5", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    repaired = [line for line in resumed.stderr.splitlines() if "repaired journal" in line]
    torn = list((tmp_path / "runs").glob("disk.log.torn-*"))
    assert len(repaired) == 1 and len(torn) == 1 and torn[0].name in repaired[0]
    whole = data[: data.rfind(b"\n", 0, len(data) - 40) + 1]  # the complete records
    assert journal.read_bytes().startswith(whole) and torn[0].read_bytes() != b""
    states = _states(url)  # Optuna alone reads the whole file
    assert states.count("COMPLETE") == 5 and "RUNNING" not in states


@pytest.mark.slow
def test_300_character_study_name_runs(tmp_path: Path) -> None:
    name = "s" + "x" * 299
    study = _write(tmp_path, name=name, n_trials=2)
    run = _paretune("run", str(study), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    files = os.listdir(tmp_path / "runs")
    assert files and max(len(f) for f in files) <= 255
    assert _states(f"sqlite:///{tmp_path}/runs/{storage_file_stem(name)}.db", name) == [
        "COMPLETE",
        "COMPLETE",
    ]
    report = _paretune("report", str(study), cwd=tmp_path)  # its default path is cut too
    assert report.returncode == 0, report.stderr
    (written,) = os.listdir(tmp_path / "reports")
    assert written == f"{storage_file_stem(name)}.html"


@pytest.mark.parametrize("scheme", ["sqlite", "journal"])
def test_a_storage_file_name_too_long_is_named_on_every_try(tmp_path: Path, scheme: str) -> None:
    study = _write(tmp_path, name="long", n_trials=1)
    url = f"{scheme}:///runs/{'a' * 300}.db"
    for _ in range(2):  # the second try found the study folder made by the first
        run = _paretune("run", str(study), "--storage", url, cwd=tmp_path)
        assert run.returncode == 1
        (line,) = run.stderr.strip().splitlines()
        assert line.startswith(f"paretune: error: cannot use storage file runs/{'a' * 300}.db")
        assert "file name too long" in line


def test_not_a_database_names_the_file_and_the_reason(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("my notes, not a database\n" * 200)
    result = _paretune("status", "--storage", "sqlite:///notes.db", "--study", "x", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "paretune: error: cannot use storage file notes.db: not a database "
        "(SQLite: file is not a database)"
    ]
