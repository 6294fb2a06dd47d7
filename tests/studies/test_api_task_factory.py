"""``Study(task=make_task)``: a task factory given as the function itself, from a module, a
script (``"__main__:make_task"``, also in ``jobs=2`` worker processes) or an interactive
session; what no import path leads back to is refused with what to pass.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from paretune import trainers
from paretune.studies import Study, StudyFileError, UntrustedTaskError

#: A user's factory: the synthetic task, small.
FACTORY = """
from paretune.trainers import get_task


def make_task(n_samples=200):
    return get_task("synthetic", options={"n_samples": n_samples})
"""

#: A user's script: the factory at its top level, a study of it run with two worker
#: processes (each imports the factory by the stored "__main__:make_task"); prints the result.
SCRIPT = (
    FACTORY
    + """

if __name__ == "__main__":
    import json, sys
    from paretune.studies import Study

    study = Study(name="script", task=make_task, task_options={"n_samples": 240},
                  space={"lr": {"low": 0.01, "high": 0.1}, "epochs": 2}, n_trials=4, jobs=2,
                  storage=sys.argv[1])
    result = study.run()
    exported = result.export(result.front[0], sys.argv[2])  # rebuilt here, by the factory
    print(json.dumps({"task": study.config.task, "complete": result.summary.complete,
                      "failed": result.summary.failed, "test": exported.test_accuracy}))
"""
)


def _python(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_a_factory_of_a_module_is_stored_as_its_path_and_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "user_factory_mod.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    import user_factory_mod  # type: ignore[import-not-found]

    study = Study(
        name="mod",
        task=user_factory_mod.make_task,
        space={"lr": 0.05, "epochs": 2},
        n_trials=1,
        storage=f"sqlite:///{tmp_path}/mod.db",
    )
    assert study.config.task == "user_factory_mod:make_task"
    result = study.run()
    assert (result.summary.complete, result.summary.failed) == (1, 0)
    stored = optuna.load_study(study_name="mod", storage=study.storage)
    assert stored.user_attrs["metadata"]["task"] == "user_factory_mod:make_task"
    # the same study named by the path resumes (the same task, not a changed one)
    again = Study(
        name="mod",
        task="user_factory_mod:make_task",
        space={"lr": 0.05, "epochs": 2},
        n_trials=2,
        storage=study.storage,
    ).run()
    assert again.summary.ran == 1 and again.summary.complete == 2
    # read back by a Study that names the same task, it exports without trust_task
    loaded = Study(
        name="mod",
        task="user_factory_mod:make_task",
        space={"lr": 0.05, "epochs": 2},
        storage=study.storage,
    ).load()
    assert loaded.summary is None
    exported = loaded.export(0, tmp_path / "model")
    assert trainers.load_exported(tmp_path / "model").metrics["test_accuracy"] == (
        exported.test_accuracy
    )
    # a Study that names another task vouches for that one only
    other = Study(name="mod", task="synthetic", space={"lr": 0.05}, storage=study.storage)
    with pytest.raises(UntrustedTaskError, match="user_factory_mod:make_task"):
        other.load().export(0, tmp_path / "other")
    assert not (tmp_path / "other").exists()


@pytest.mark.slow
def test_a_script_factory_trains_in_two_worker_processes(tmp_path: Path) -> None:
    (tmp_path / "sweep.py").write_text(SCRIPT)
    storage = f"journal:///{tmp_path}/script.log"
    done = _python("sweep.py", storage, str(tmp_path / "model"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert {k: report[k] for k in ("task", "complete", "failed")} == {
        "task": "__main__:make_task",
        "complete": 4,
        "failed": 0,
    }
    loaded = trainers.load_exported(tmp_path / "model")
    assert loaded.metrics["test_accuracy"] == report["test"] > 0.5
    # read back by Optuna alone: four trials, trained by the factory the script defined
    stored = optuna.load_study(
        study_name="script",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "script.log"))
        ),
    )
    assert stored.user_attrs["metadata"]["task"] == "__main__:make_task"
    assert [t.state for t in stored.trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert {t.user_attrs["strategy"]["epochs"] for t in stored.trials} == {2}
    # the paretune command cannot import the script's factory: one line, exit 2
    command = shutil.which("paretune")
    if command is not None:
        refused = subprocess.run(
            [command, "select", "--storage", storage, "--study", "script", "--export", "out"]
            + ["--trust-task"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.strip() == (
            "paretune: error: --export: the study's task '__main__:make_task' is a function of "
            "the script or notebook that ran the study, which this command cannot import: "
            "export from there (StudyResult.export), or move the factory into a module and "
            "name its path"
        )
        assert not (tmp_path / "out").exists()


#: A script whose factory builds its own task, the model's width one of its options.
OWN_TASK_SCRIPT = """
import sys
from torch import nn
from paretune.trainers import Task, get_task
from paretune.studies import Study


def make_task(hidden=24):
    base = get_task("synthetic", options={"n_samples": 200})
    return Task(name="own", num_classes=base.num_classes, input_shape=(20,), default_epochs=1,
                build_model=lambda dropout: nn.Sequential(
                    nn.Linear(20, hidden), nn.ReLU(), nn.Linear(hidden, base.num_classes)),
                load_data=base.load_data)


if __name__ == "__main__":
    study = Study(name="own", task=make_task, task_options={"hidden": 16}, space={"lr": 0.05},
                  n_trials=1, storage=sys.argv[1])
    result = study.run()
    result.export(result.front[0], sys.argv[2])
"""


def test_the_card_of_a_script_factory_builds_the_task_with_its_options(tmp_path: Path) -> None:
    (tmp_path / "sweep.py").write_text(OWN_TASK_SCRIPT)
    done = _python("sweep.py", f"sqlite:///{tmp_path}/own.db", "model", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    line = next(line for line in card.splitlines() if line.startswith("task = "))
    assert line == "task = make_task(hidden=16)  # your own code, which builds task 'own'"
    # a model owner follows the card in a new process, with the script's factory
    follow = (
        "from sweep import make_task\n"
        "from paretune.trainers import load_exported\n"
        f"{line}\n"
        "model = load_exported('model', task=task).model\n"
        "print(sum(p.numel() for p in model.parameters()), task.num_classes)\n"
    )
    loaded = _python("-", cwd=tmp_path, stdin=follow)
    assert loaded.returncode == 0, loaded.stderr
    weights, classes = map(int, loaded.stdout.split())
    assert weights == 20 * 16 + 16 + 16 * classes + classes  # hidden = 16, as the study ran


def test_an_interactive_session_is_refused_worker_processes_and_ray(tmp_path: Path) -> None:
    code = FACTORY + textwrap.dedent(
        """
            from paretune.studies import Study, StudyFileError, UntrustedTaskError

            for extra in ({"jobs": 2, "storage": "journal:///x.log"}, {"workers_per_trial": 2},
                          {"backend": "ray"}):
                try:
                    Study(name="s", task=make_task, space={"lr": 0.1}, **extra)
                except StudyFileError as error:
                    print(error)
            print(Study(name="s", task=make_task, space={"lr": 0.1}).config.task)
            """
    )
    done = _python("-", cwd=tmp_path, stdin=code)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == (
        "Study: task names a function of this interactive session (got '__main__:make_task'), "
        "which the worker processes of jobs=2 cannot import: use jobs=1, or move the factory "
        'into a module and pass its path "package.module:make_task"'
    )
    assert "worker processes of workers_per_trial=2 cannot import" in lines[1]
    assert lines[2].startswith(
        "Study: task names a function of the running script (got '__main__:make_task'), which "
        "Ray workers cannot import"
    )
    assert lines[3] == "__main__:make_task"  # one process: allowed


def _nested() -> object:
    def make_task() -> trainers.Task:
        return trainers.get_task("synthetic")

    return make_task


def _renamed() -> object:
    """A function that claims a top-level name its module does not hold."""
    function = _nested()
    function.__qualname__ = function.__name__ = "make_task"  # type: ignore[attr-defined]
    return function


@pytest.mark.parametrize(
    ("task", "match"),
    [
        (lambda: None, r"^Study: task is a function no import path leads back to \(got <lambda>\)"),
        (_nested(), r"no import path leads back to \(got _nested\.<locals>\.make_task\)"),
        (_renamed(), r"no import path leads back to \(got make_task\)"),
        (
            trainers.get_task("synthetic"),
            r"^Study: task must be a task name or the function that makes the task \(got "
            r"Task\(name='synthetic', \.\.\.\)\): pass the factory, task=make_task, or its path",
        ),
        (
            functools.partial(trainers.get_task, "synthetic"),
            r"^Study: task must be a task name or the function that makes the task \(got "
            r"functools\.partial of get_task\): pass the function, and its arguments as "
            r"task_options$",
        ),
        (3, r"^Study: task must be a non-empty string \(got 3\)$"),
    ],
    ids=["lambda", "nested function", "renamed function", "Task", "partial", "int"],
)
def test_what_no_path_leads_back_to_is_refused(task: object, match: str) -> None:
    with pytest.raises(StudyFileError, match=match):
        Study(name="s", task=task, space={"lr": 0.1})  # type: ignore[arg-type]
