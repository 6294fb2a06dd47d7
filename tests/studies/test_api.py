"""The Python API: ``Study`` (declare, validate, run, load) and ``StudyResult`` (front, trials
as a DataFrame, select, export), with real SQLite storages, real training, and the installed
``paretune`` command reading what the API wrote.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from paretune import search, trainers
from paretune.studies import (
    Export,
    RunFailedError,
    Study,
    StudyFileError,
    StudyResult,
    load_config,
    run_study,
)

ROOT = Path(__file__).resolve().parents[2]
EXE = shutil.which("paretune")
needs_cli = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")
CALLBACKS = "callbacks" in inspect.signature(search.run_local).parameters
needs_callbacks = pytest.mark.skipif(
    not CALLBACKS, reason="paretune.search.run_local takes no callbacks yet (helper 'native')"
)

BASE: dict[str, Any] = {"name": "t", "task": "synthetic", "space": {"lr": 0.1}}
SPACE = {"lr": {"low": 1e-3, "high": 0.3, "log": True}, "bits": [4, 8, 32], "epochs": 2}


def _paretune(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def _toml(data: dict[str, Any]) -> str:
    """The study file holding ``data`` (``space``, ``ray`` and ``tracking`` as tables)."""
    tables = ("space", "ray", "tracking")
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if k not in tables]
    for table in tables:
        if table in data:
            lines.append(f"[{table}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in data[table].items()]
    return "\n".join(lines) + "\n"


# -- declaring: the same checks and messages as a study file ------------------------------

BAD = [
    ({"name": "bad demo!"}, "name must be a name of letters, digits, '-', '_' or '.'"),
    ({"n_trials": 0}, "n_trials must be an integer >= 1 (got 0)"),
    ({"sampler": "nsga9"}, 'sampler must be one of "cmaes", "gp", "nsga2", '),
    ({"objectives": ["acc", "size"]}, 'objectives[0] must be one of "accuracy", "size_bits", '),
    ({"objectives": ["accuracy", "accuracy"]}, 'objectives[1] repeats the objective "accuracy"'),
    (
        {"space": {"lr": {"low": 0, "high": 0.3, "log": True}}},
        "space.lr.low must be > 0 when log = true (got 0)",
    ),
    ({"space": {"lrr": 0.1}}, "space.lrr is not a known key (did you mean 'lr'?)"),
    ({"constraints": {"size": 5}}, "constraints.size is not a cost that can be constrained"),
    ({"jobs": 2}, "jobs must be 1 with a SQLite storage"),
    ({"backend": "ray", "ray": {"adress": "auto"}}, "ray.adress is not a known key"),
    ({"timeout": "10 parsecs"}, "timeout "),
    ({"device": "gpu"}, 'device must be "auto", "cpu", "cuda" or "cuda:N" (got "gpu")'),
    ({"device": "mps"}, 'device must be "auto", "cpu", "cuda" or "cuda:N" (got "mps")'),
    ({"task": "digits-mpl"}, "task must be one of "),
    ({"task_options": {"n_samples": -1}}, "task_options does not give a usable task"),
    ({"storage": "sqlite:/x.db"}, "storage is not usable"),
    ({"tracking": {"experiment": "x"}}, "tracking.experiment needs tracking.mlflow"),
]


#: Values only Python can pass: the message shows their type, and speaks of Python.
BAD_IN_PYTHON = [
    ({"storage": Path("runs/x.db")}, "storage must be a non-empty string (got PosixPath("),
    (
        {"objectives": {"accuracy"}},
        'objectives must be a non-empty list of "accuracy", "size_bits", "bitops", '
        '"latency_ms", "train_seconds", "params", "nonzero_params" or "val_<metric>" '
        "(got {'accuracy'})",
    ),
    ({"space": None}, 'has no space: say which strategy fields to search (space={"lr": 0.1})'),
]


@pytest.mark.parametrize(("changes", "message"), BAD_IN_PYTHON, ids=["path", "set", "no-space"])
def test_a_python_value_is_named_as_python_writes_it(changes: dict[str, Any], message: str) -> None:
    data = {key: value for key, value in {**BASE, **changes}.items() if value is not None}
    with pytest.raises(StudyFileError) as raised:
        Study(**data)
    assert str(raised.value).startswith(f"Study: {message}"), str(raised.value)


@pytest.mark.parametrize(("changes", "message"), BAD, ids=[str(c) for c, _ in BAD])
def test_a_bad_value_raises_the_study_file_message(
    changes: dict[str, Any], message: str, workdir: Path
) -> None:
    data = {**BASE, **changes}
    with pytest.raises(StudyFileError) as raised:
        Study(**data)
    error = raised.value
    assert isinstance(error, ValueError)
    assert str(error).startswith(f"Study: {message}"), str(error)
    # the same study as a file gives the same message, naming the file instead
    path = workdir / "same.toml"
    path.write_text(_toml(data))
    with pytest.raises(StudyFileError) as from_file:
        load_config(str(path))
    assert str(from_file.value) == str(error).replace("Study", str(path), 1)


def test_the_issue_example_raises_at_construction() -> None:
    with pytest.raises(ValueError, match=r"^Study: has no task"):
        Study(name="bad demo!", objectives=("acc", "size"), n_trials=0, sampler="nsga9")
    with pytest.raises(StudyFileError, match=r"^Study: name must be a name of letters"):
        Study(
            name="bad demo!",
            task="digits-mlp",
            space={"lr": 0.1},
            objectives=("acc", "size"),
            n_trials=0,
            sampler="nsga9",
        )
    with pytest.raises(StudyFileError, match=r"^Study: has no name"):
        Study(task="synthetic", space={"lr": 0.1})
    with pytest.raises(StudyFileError, match=r"^Study: has no space: say which strategy fields"):
        Study(name="t", task="synthetic")


def test_defaults_are_the_study_file_defaults(workdir: Path) -> None:
    declared = Study(**BASE).config
    (workdir / "t.toml").write_text(_toml(BASE))
    read = load_config(str(workdir / "t.toml"))
    for field in ("task", "task_options", "data_dir", "n_trials", "timeout", "device"):
        assert getattr(declared, field) == getattr(read, field), field
    for field in ("backend", "jobs", "workers_per_trial", "ray"):
        assert getattr(declared, field) == getattr(read, field), field
    for field in ("name", "storage", "objectives", "space", "sampler", "pruner", "seed"):
        assert getattr(declared.spec, field) == getattr(read.spec, field), field
    assert declared.source is None and read.source is not None


def test_python_values_are_read_as_toml_would_give_them() -> None:
    study = Study(
        name="t",
        task="synthetic",
        objectives=("accuracy", "size_bits"),
        space={"bits": (4, 8), "lr": {"low": 1e-3, "high": 0.3, "log": True}},
        sampler={"name": "nsga2", "population_size": 4},
        timeout="10m",
        data_dir=Path("data"),
    )
    assert study.config.spec.objectives == ("accuracy", "size_bits")
    assert study.config.spec.sampler == "nsga2"
    assert dict(study.config.spec.sampler_options) == {"population_size": 4}
    assert study.config.timeout == 600.0 and study.config.data_dir == "data"
    assert "bits" in study.config.spec.space.params
    assert study.name == "t" and study.storage == "sqlite:///runs/t.db"
    assert "Study(name='t', task='synthetic'" in repr(study)


def test_from_file_with_overrides(workdir: Path) -> None:
    assert Study.from_file("digits-quick", n_trials=5).config.n_trials == 5
    (workdir / "mine.toml").write_text(_toml({**BASE, "name": "mine"}))
    study = Study.from_file(workdir / "mine.toml", objectives=("accuracy", "size_bits"))
    assert study.name == "mine" and study.config.spec.objectives == ("accuracy", "size_bits")
    with pytest.raises(StudyFileError) as raised:
        Study.from_file("digits-quick", n_trials=0)
    assert str(raised.value) == "Study.from_file(n_trials=...): must be an integer >= 1 (got 0)"
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_trails'"):
        Study.from_file("digits-quick", n_trails=5)
    with pytest.raises(StudyFileError, match="is neither a study file nor a built-in"):
        Study.from_file("digits-quik")


# -- running and reading ------------------------------------------------------------------


def _declare(folder: Path, name: str = "api", **changes: Any) -> Study:
    arguments: dict[str, Any] = {
        "name": name,
        "task": "synthetic",
        "task_options": {"n_samples": 200},
        "objectives": ["accuracy", "size_bits"],
        "space": SPACE,
        "sampler": "random",
        "n_trials": 4,
        "seed": 1,
        "storage": f"sqlite:///{folder}/{name}.db",
        **changes,
    }
    return Study(**arguments)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, StudyResult]:
    """One real run of 4 trials, shared by the tests that read it."""
    folder = tmp_path_factory.mktemp("api")
    return folder, _declare(folder).run()


def test_run_returns_the_study_and_its_summary(ran: tuple[Path, StudyResult]) -> None:
    folder, result = ran
    assert isinstance(result.study, optuna.Study)
    assert result.study.study_name == "api"
    assert len(result.study.trials) == 4
    summary = result.summary
    assert summary is not None
    assert summary.ran == 4 and summary.complete == 4
    assert summary.stop_reason is search.StopReason.N_TRIALS
    # a plain Optuna study: optuna.load_study reads the same trials
    loaded = optuna.load_study(study_name="api", storage=f"sqlite:///{folder}/api.db")
    assert [t.values for t in loaded.trials] == [t.values for t in result.study.trials]


def test_the_report_names_the_study_by_its_storage(
    ran: tuple[Path, StudyResult], tmp_path: Path
) -> None:
    folder, result = ran
    path = result.report(tmp_path / "api.html", importance_trials=3)
    assert path == tmp_path / "api.html"
    text = path.read_text()
    chosen = re.search(r"Reproduce it: <code>([^<]*)</code>", text)
    assert chosen is not None
    assert chosen[1].startswith(f"paretune select --storage sqlite:///{folder}/api.db --study api ")
    with pytest.raises(ValueError, match="'importance_trials' parameter of StudyResult.report"):
        result.report(tmp_path / "x.html", importance_trials=2)
    assert not (tmp_path / "x.html").exists()


def test_front_is_the_non_dominated_trials_best_first(ran: tuple[Path, StudyResult]) -> None:
    _, result = ran
    front = result.front
    assert front and all(isinstance(t, optuna.trial.FrozenTrial) for t in front)
    assert {t.number for t in front} == {t.number for t in result.study.best_trials}
    accuracies = [t.values[0] for t in front]
    assert accuracies == sorted(accuracies, reverse=True)
    assert result.summary is not None and len(front) == result.summary.front_size


def test_trials_dataframe(ran: tuple[Path, StudyResult]) -> None:
    _, result = ran
    frame = result.trials_dataframe()
    assert list(frame.columns) == [
        "number",
        "state",
        "accuracy",
        "size_bits",
        "bitops",
        "latency_ms",
        "train_seconds",
        "params",
        "nonzero_params",
        "params_lr",
        "params_bits",
    ]
    assert len(frame) == 4 and set(frame["state"]) == {"COMPLETE"}
    for row, trial in zip(frame.itertuples(), result.study.trials, strict=True):
        assert row.number == trial.number
        assert row.accuracy == trial.values[0] and row.size_bits == trial.values[1]
        assert row.params_lr == trial.params["lr"]
        assert row.bitops == trial.user_attrs["bitops"]


@needs_cli
def test_select_is_the_select_command(ran: tuple[Path, StudyResult]) -> None:
    folder, result = ran
    sizes = sorted(t.values[1] for t in result.study.trials)
    limit = sizes[1]  # at least two trials fit
    selection = result.select(max={"size_bits": limit})
    assert selection.chosen is not None
    assert selection.chosen.costs["size_bits"] <= limit
    assert result.select(max={"size_bits": f"{limit / 8} B"}) == selection
    storage = f"sqlite:///{folder}/api.db"
    shown = _paretune(
        "select", "--storage", storage, "--study", "api", "--max", f"size_bits={limit}",
        "--json", cwd=folder,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["chosen"]["trial"] == selection.chosen.number
    assert document["reason"] == selection.reason
    knee = result.select(knee=True)
    assert knee.rule.value == "knee" and knee.chosen is not None
    nothing = result.select(max={"size_bits": 1})
    assert nothing.chosen is None and nothing.closest


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max": {"size_bit": 5}}, "max['size_bit']: Unknown cost 'size_bit'"),
        ({"max": {"size_bits": "3 parsecs"}}, "max['size_bits']: The 'size_bits' limit"),
        ({"max": {"val_rmse": 3}}, "max['val_rmse']: the study's metric objective is"),
        ({"max": {"accuracy": "high"}}, "max['accuracy']: write {'val_accuracy': NUMBER}"),
        ({"min": {"size_bits": 3}}, "min['size_bits']: min bounds the study's metric"),
        ({"min_accuracy": 95}, "The 'min_accuracy' parameter of StudyResult.select must be"),
    ],
)
def test_select_refuses_bad_limits(
    ran: tuple[Path, StudyResult], arguments: dict[str, Any], message: str
) -> None:
    _, result = ran
    with pytest.raises(ValueError) as raised:
        result.select(**arguments)
    assert str(raised.value).startswith(message), str(raised.value)


@pytest.mark.slow
def test_export_a_selection_and_a_front_trial(
    ran: tuple[Path, StudyResult], tmp_path: Path
) -> None:
    _, result = ran
    selection = result.select()
    assert selection.chosen is not None
    exported = result.export(selection, tmp_path / "model", device="cpu")
    assert isinstance(exported, Export)
    assert exported.directory == tmp_path / "model" and exported.trial == selection.chosen.number
    loaded = trainers.load_exported(exported.directory)
    assert exported.test_accuracy == loaded.metrics["test_accuracy"]
    assert exported.val_accuracy == selection.chosen.accuracy  # the study's, not the retrain's
    assert loaded.strategy.lr == selection.chosen.strategy["lr"]
    with pytest.raises(FileExistsError, match="force=True"):
        result.export(selection, tmp_path / "model")
    other = result.front[-1]
    again = result.export(other, tmp_path / "model", force=True, device="cpu")
    assert again.trial == other.number
    assert trainers.load_exported(tmp_path / "model").strategy.lr == other.params["lr"]
    with pytest.raises(ValueError, match="chose no strategy"):
        result.export(result.select(max={"size_bits": 1}), tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_load_reads_an_existing_study_without_running(ran: tuple[Path, StudyResult]) -> None:
    folder, result = ran
    loaded = _declare(folder).load()
    assert loaded.summary is None
    assert [t.number for t in loaded.front] == [t.number for t in result.front]
    assert len(loaded.study.trials) == 4
    assert StudyResult.open(name="api", storage=f"sqlite:///{folder}/api.db").study.trials
    with pytest.raises(LookupError, match="No study 'nope'"):
        _declare(folder, name="nope").load()
    assert not (folder / "nope.db").exists()
    with pytest.raises(LookupError, match="No study 'nope'"):
        StudyResult.open(name="nope", storage=f"sqlite:///{folder}/api.db")


def test_a_finished_study_runs_nothing_and_another_space_is_refused(
    ran: tuple[Path, StudyResult],
) -> None:
    folder, _ = ran
    again = _declare(folder).run()
    assert again.summary is not None
    assert again.summary.stop_reason is search.StopReason.ALREADY_DONE
    assert again.summary.ran == 0 and len(again.study.trials) == 4
    other = _declare(folder, space={**SPACE, "lr": {"low": 1e-3, "high": 0.1, "log": True}})
    with pytest.raises(StudyFileError, match=r"^Study: space\.lr = .* differs: the study 'api'"):
        other.run()


def test_run_is_quiet_and_restores_optuna_logging(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        result = _declare(tmp_path, n_trials=1).run()
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(before)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert len(result.study.trials) == 1


def test_progress_draws_on_stderr(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    _declare(tmp_path, n_trials=1).run(progress=True)
    out, err = capfd.readouterr()
    assert out == ""
    assert "1/1" in err and "A new study created" not in err


@needs_callbacks
def test_callbacks_see_every_finished_trial(tmp_path: Path) -> None:
    seen: list[tuple[str, int, str]] = []

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        assert isinstance(study, optuna.Study) and isinstance(trial, optuna.trial.FrozenTrial)
        seen.append((study.study_name, trial.number, trial.state.name))

    result = _declare(tmp_path, name="cb", n_trials=2).run(callbacks=[callback])
    assert sorted(seen) == [("cb", 0, "COMPLETE"), ("cb", 1, "COMPLETE")]
    assert len(result.study.trials) == 2


@needs_callbacks
def test_a_callbacks_own_error_comes_out_as_it_was_raised(tmp_path: Path) -> None:
    def my_callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        raise ValueError("bug in my callback")

    with pytest.raises(ValueError, match="^bug in my callback$") as raised:
        _declare(tmp_path, name="cbv", n_trials=2).run(callbacks=[my_callback])
    assert not isinstance(raised.value, StudyFileError)  # the user's error, not bad input
    assert raised.traceback[-1].name == "my_callback"  # its own traceback, to the line
    trials = optuna.load_study(study_name="cbv", storage=f"sqlite:///{tmp_path}/cbv.db").trials
    assert [t.state.name for t in trials] == ["COMPLETE"]  # the trial was recorded first


@pytest.mark.parametrize("callbacks", [print, "print", [print, 3]])
def test_callbacks_must_be_a_sequence_of_callables(tmp_path: Path, callbacks: Any) -> None:
    with pytest.raises(
        ValueError,
        match=r"^The 'callbacks' parameter of Study\.run must be a sequence of callables",
    ):
        _declare(tmp_path, name="cbt").run(callbacks=callbacks)
    assert not (tmp_path / "cbt.db").exists()


@needs_callbacks
def test_a_tracker_whose_store_mlflow_refuses_is_refused_before_any_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # MLflow refuses file stores
    tracker = search.MLflowTracker(tracking_uri=f"file:{tmp_path}/mlruns")
    with pytest.raises(
        StudyFileError, match=r"^Study: callbacks: MLflowTracker cannot be opened by MLflow"
    ):
        _declare(tmp_path, name="mlf").run(callbacks=[tracker])
    assert not (tmp_path / "mlf.db").exists()  # nothing trained


def test_a_run_whose_trials_all_fail_raises_with_their_reasons(tmp_path: Path) -> None:
    study = _declare(tmp_path, name="nan", n_trials=1, space={"lr": 1e30, "epochs": 1})
    with pytest.raises(RunFailedError) as raised:
        study.run()
    assert str(raised.value).startswith(
        "Study: the run stopped: the last 10 trials failed. Reasons: "
    )
    assert "(10 trials)" in str(raised.value)
    result = raised.value.result
    assert result is not None and result.summary is not None
    assert (result.summary.failed, result.summary.complete) == (10, 0)
    assert len(result.study.trials) == 10


def test_run_study_says_why_its_trials_failed_and_returns_one(tmp_path: Path) -> None:
    config = _declare(tmp_path, name="nan2", n_trials=1, space={"lr": 1e30, "epochs": 1}).config
    out, err = io.StringIO(), io.StringIO()
    assert run_study(config, label="nan2.toml", quiet=True, out=out, err=err) == 1
    assert err.getvalue().startswith(
        "paretune: error: the run stopped: the last 10 trials failed. Reasons: "
    )
    assert "ran 10 trial(s) in " in out.getvalue() and "(failures)" in out.getvalue()


def test_the_task_data_is_checked_when_running(tmp_path: Path) -> None:
    study = Study(
        name="m",
        task="mnist-mlp",
        data_dir=tmp_path / "nothing-here",
        space={"lr": 0.1},
        storage=f"sqlite:///{tmp_path}/m.db",
    )
    with pytest.raises(StudyFileError, match=r"^Study: data_dir does not hold the task's data"):
        study.run()
    assert not (tmp_path / "m.db").exists()


# -- the command line over the API --------------------------------------------------------


@needs_cli
def test_status_report_and_select_read_a_python_declared_study(
    ran: tuple[Path, StudyResult],
) -> None:
    folder, _ = ran
    named = ("--storage", f"sqlite:///{folder}/api.db", "--study", "api")
    status = _paretune("status", *named, cwd=folder)
    assert status.returncode == 0, status.stderr
    assert "study api in " in status.stdout and "4 finished trials" in status.stdout
    assert "Pareto front" in status.stdout
    picked = _paretune("select", *named, "--json", cwd=folder)
    assert picked.returncode == 0, picked.stderr


@needs_cli
def test_status_shows_a_constraint_with_its_unit(tmp_path: Path) -> None:
    _declare(tmp_path, name="con", n_trials=1, constraints={"size_bits": 312300}).run()
    named = ("--storage", f"sqlite:///{tmp_path}/con.db", "--study", "con")
    status = _paretune("status", *named, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "feasible: size_bits <= 312.3 kbit" in status.stdout, status.stdout


@needs_cli
@pytest.mark.slow
def test_run_prints_next_commands_that_work(tmp_path: Path) -> None:
    data = {
        "name": "cli",
        "task": "synthetic",
        "task_options": {"n_samples": 200},
        "objectives": ["accuracy", "size_bits"],
        "sampler": "random",
        "n_trials": 2,
        "space": {"lr": 0.05, "bits": [4, 8], "epochs": 1},
    }
    (tmp_path / "cli.toml").write_text(_toml(data))
    storage = f"sqlite:///{tmp_path}/elsewhere.db"
    done = _paretune("run", "cli.toml", "--storage", storage, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("study cli: task synthetic")
    assert "ran 2 trial(s)" in done.stdout and "A new study created" not in done.stderr
    assert not (tmp_path / "runs").exists()  # the --storage override was used
    hint = next(line for line in done.stdout.splitlines() if line.startswith("next: "))
    commands = [c.strip() for c in hint.removeprefix("next: ").split("|")]
    assert commands == [
        f"paretune status cli.toml --storage {storage}",
        f"paretune report cli.toml --storage {storage}",
    ]
    for command in commands:
        words = shlex.split(command)
        if words[1] == "report":
            words += ["-o", str(tmp_path / "report.html")]
        followed = _paretune(*words[1:], cwd=tmp_path)
        assert followed.returncode == 0, (command, followed.stderr)
    assert "2/2 finished trials" in _paretune(*shlex.split(commands[0])[1:], cwd=tmp_path).stdout


# -- the README's "Python API" section ----------------------------------------------------


def _readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_section_has_examples() -> None:
    blocks = _readme_blocks()
    assert len(blocks) >= 4
    code = "\n".join(blocks)
    for call in ("Study(", ".run(progress=True, callbacks=", ".front", ".trials_dataframe()"):
        assert call in code
    for call in (".select(", ".export(", ".load()"):
        assert call in code


@pytest.mark.slow
@needs_callbacks
def test_the_readme_examples_run(tmp_path: Path) -> None:
    script = tmp_path / "readme_api.py"
    script.write_text("\n\n".join(_readme_blocks()), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "Study: space.lr.low must be > 0 when log = true (got 0)" in out
    assert len(re.findall(r"^trial \d+ COMPLETE: \[", out, flags=re.MULTILINE)) == 8
    assert "8 trials ran; n_trials" in out
    assert "most accurate" in out and "A new study created" not in done.stderr
    assert trainers.load_exported(tmp_path / "models" / "api-demo").model is not None
    assert (tmp_path / "runs" / "api-demo.db").exists()
    metrics = json.loads((tmp_path / "models" / "api-demo" / "metrics.json").read_text())
    assert not math.isnan(metrics["test_accuracy"])
