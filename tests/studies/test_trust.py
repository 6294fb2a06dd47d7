"""The trust boundary: commands that only read a study run no code named by the storage, and
the working directory is searched for user tasks only, after the installed packages.

Every command runs as a user runs it (the installed ``paretune`` in a subprocess) in a
"hostile" folder: it holds ``sqlalchemy.py`` and ``sklearn.py`` (which an unguarded
``sys.path`` would import instead of the installed packages) and the user task module
named by the stored study. Each of these files writes a marker file when it is imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paretune.search import make_storage
from paretune.search.study import add_synthetic_trials, create_synthetic_study

EXE = shutil.which("paretune")
pytestmark = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

#: Writes ``RAN_<module>`` next to itself when imported: proof that the module ran.
MARKS = "import pathlib\npathlib.Path(__file__).with_name('RAN_' + __name__).write_text('ran')\n"

USER_TASK = (
    MARKS + "from paretune.trainers import get_task\n\n\n"
    "def make_task(n_samples=150):\n"
    "    return get_task('synthetic', options={'n_samples': n_samples})\n"
)

#: Installed packages the reading commands import after they start (sqlalchemy: every
#: storage; sklearn: the report's importances).
SHADOWS = ("sqlalchemy", "sklearn")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def _hostile(folder: Path) -> Path:
    """A folder holding the shadowing modules and the user task module ``trust_task``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SHADOWS:
        (folder / f"{name}.py").write_text(MARKS + "raise ImportError('shadow ran')\n")
    (folder / "trust_task.py").write_text(USER_TASK)
    return folder


def _ran(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("**/RAN_*"))


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A journal storage with two finished studies whose metadata names code to run:
    ``system`` names ``os:system`` with a command that writes a marker, ``user`` names the
    user task ``trust_task:make_task``; plus ``user.toml``, a study file for ``user``."""
    folder = _hostile(tmp_path_factory.mktemp("trust"))
    storage = f"journal:///{folder}/studies.log"
    command = f"touch {folder / 'RAN_os_system'}"
    for name, task, options in (
        ("system", "os:system", {"command": command}),
        ("user", "trust_task:make_task", {"n_samples": 150}),
    ):
        study = create_synthetic_study(storage=make_storage(storage), study_name=name, task=task)
        study.set_user_attr(
            "metadata", {**study.user_attrs["metadata"], "task": task, "task_options": options}
        )
        add_synthetic_trials(study, n_trials=12, seed=3)
    (folder / "user.toml").write_text(
        'name = "user"\ntask = "trust_task:make_task"\ntask_options = { n_samples = 150 }\n'
        f'storage = "{storage}"\n[space]\nlr = {{ low = 0.01, high = 0.1 }}\nepochs = 1\n'
    )
    assert _ran(folder) == []
    return folder, storage


READERS = {
    "status": ["status"],
    "report": ["report", "-o", "report.html"],
    "trials": ["trials"],
    "select": ["select"],
}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(READERS))
def test_a_reading_command_runs_no_code_named_by_the_storage(
    stored: tuple[Path, str], command: str
) -> None:
    folder, storage = stored
    # the user task module is importable from anywhere: only not importing it keeps it quiet
    importable = folder / "importable"
    importable.mkdir(exist_ok=True)
    (importable / "trust_task.py").write_text(USER_TASK)
    path = os.pathsep.join(p for p in (str(importable), os.environ.get("PYTHONPATH")) if p)
    env = _env(PYTHONPATH=path)
    assert EXE is not None
    for how in (["--storage", storage, "--study", "system"], ["user.toml"]):
        done = subprocess.run(
            [EXE, *READERS[command], *how],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert done.returncode == 0, (how, done.stderr)
        assert "Traceback" not in done.stderr
        assert _ran(folder) == [], how


def test_python_m_runs_no_shadowing_module_of_the_working_directory(
    stored: tuple[Path, str],
) -> None:
    """``python -m`` puts the working directory first on ``sys.path``; paretune takes it off."""
    folder, storage = stored
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "paretune.studies",
            "status",
            "--storage",
            storage,
            "--study",
            "user",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    assert "study user" in done.stdout
    assert _ran(folder) == []


@pytest.mark.slow
def test_a_user_task_in_the_working_directory_comes_after_installed_packages(
    tmp_path: Path,
) -> None:
    folder = _hostile(tmp_path / "work")
    (folder / "mine.toml").write_text(
        'name = "mine"\ntask = "trust_task:make_task"\nsampler = "random"\nn_trials = 2\n'
        'storage = "journal:///runs/mine.log"\n[space]\nlr = { low = 0.01, high = 0.1 }\n'
        "epochs = 1\n"
    )
    assert EXE is not None
    done = subprocess.run(
        [EXE, "run", "mine.toml", "--quiet"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    assert "The study holds 2/2 finished trials" in done.stdout
    # the user task was found in the working directory; the shadows were not imported
    assert _ran(folder) == ["RAN_trust_task"]


def test_a_missing_user_task_names_where_it_was_searched(tmp_path: Path) -> None:
    (tmp_path / "lost.toml").write_text(
        'name = "lost"\ntask = "no_such_module_here:make_task"\n[space]\nepochs = 1\n'
    )
    assert EXE is not None
    done = subprocess.run(
        [EXE, "run", "lost.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "No module named 'no_such_module_here'" in done.stderr
    assert f"then the working directory {tmp_path}" in done.stderr
