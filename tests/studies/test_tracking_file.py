"""The study file's ``[tracking]`` table and ``paretune run --mlflow URI``, through the
installed CLI, logging into a real MLflow store; bad values are refused at start-up (exit 2,
one line naming file, key and value)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import optuna
import pytest
from paretune.studies import StudyFileError, load_config, read_mapping

mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny is not installed")

EXE = shutil.which("paretune")
needs_cli = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

STUDY = """
name = "tracked"
task = "synthetic"
task_options = { n_samples = 200 }
objectives = ["accuracy", "size_bits"]
sampler = "random"
n_trials = 2
storage = "sqlite:///tracked.db"

[space]
lr = { low = 1e-3, high = 0.3, log = true }
epochs = 2
"""


def _paretune(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    return subprocess.run(
        [EXE, *args], cwd=folder, capture_output=True, text=True, timeout=600, check=False
    )


def _runs(uri: str, experiment: str) -> dict[str, mlflow.entities.Run]:
    client = mlflow.MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    return {r.info.run_name: r for r in client.search_runs([found.experiment_id])}


@needs_cli
@pytest.mark.slow
def test_the_tracking_table_and_the_flag_log_every_trial(tmp_path: Path) -> None:
    path = tmp_path / "tracked.toml"
    path.write_text(STUDY + '\n[tracking]\nmlflow = "sqlite:///mlflow.db"\n')
    done = _paretune(tmp_path, "run", "tracked.toml", "--quiet")
    assert done.returncode == 0, done.stderr

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    runs = _runs(uri, "tracked")  # the experiment defaults to the study's name
    study = optuna.load_study(study_name="tracked", storage=f"sqlite:///{tmp_path}/tracked.db")
    assert sorted(runs) == ["trial-0", "trial-1"]
    client = mlflow.MlflowClient(tracking_uri=uri)
    for trial in study.trials:
        run = runs[f"trial-{trial.number}"]
        assert run.data.tags["state"] == "COMPLETE" and run.data.tags["study"] == "tracked"
        assert run.data.params["lr"] == str(trial.params["lr"])
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in history] == [1, 2]
        assert run.data.metrics["objective/accuracy"] == pytest.approx(trial.values[0])

    # --mlflow names the store; [tracking] experiment names the experiment
    path.write_text(STUDY + '\n[tracking]\nmlflow = "sqlite:///unused.db"\nexperiment = "exp"\n')
    other = f"sqlite:///{tmp_path}/other.db"
    done = _paretune(tmp_path, "run", "tracked.toml", "--n-trials", "3", "--mlflow", other)
    assert done.returncode == 0, done.stderr
    assert sorted(_runs(other, "exp")) == ["trial-2"]  # only the trial this run ended
    assert not (tmp_path / "unused.db").exists()


@needs_cli
@pytest.mark.slow
def test_a_store_mlflow_refuses_stops_the_run_before_any_trial(tmp_path: Path) -> None:
    (tmp_path / "tracked.toml").write_text(STUDY)
    done = _paretune(tmp_path, "run", "tracked.toml", "--mlflow", "file:./mlruns")
    assert done.returncode == 2
    assert done.stderr.startswith(
        'paretune: error: tracked.toml: tracking.mlflow cannot be opened by MLflow (got "file:'
    )
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    # refused before the study was opened: nothing ran
    assert optuna.get_all_study_names(storage=f"sqlite:///{tmp_path}/tracked.db") == []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"mlflow": 3}, "x: tracking.mlflow must be a non-empty string (got 3)"),
        ({"mlflow": ""}, 'x: tracking.mlflow must be a non-empty string (got "")'),
        (
            {"mlfow": "sqlite:///m.db"},
            "x: tracking.mlfow is not a known key (did you mean 'mlflow'?). Known: experiment, "
            "mlflow",
        ),
        (
            {"experiment": "e"},
            'x: tracking.experiment needs tracking.mlflow (got "e"): name the MLflow tracking '
            'URI too, e.g. mlflow = "sqlite:///runs/mlflow.db"',
        ),
        ("sqlite:///m.db", 'x: tracking must be a table (got "sqlite:///m.db")'),
    ],
)
def test_bad_tracking_values_are_refused(table: object, message: str) -> None:
    data = {"name": "m", "task": "synthetic", "space": {"lr": 0.1}, "tracking": table}
    with pytest.raises(StudyFileError) as caught:
        read_mapping(data, label="x")
    assert str(caught.value) == message


def test_the_tracking_table_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(STUDY + '\n[tracking]\nmlflow = "sqlite:///m.db"\nexperiment = "e"\n')
    tracking = load_config(str(path)).tracking
    assert (tracking.mlflow, tracking.experiment) == ("sqlite:///m.db", "e")
    path.write_text(STUDY)
    assert load_config(str(path)).tracking.mlflow is None
    flagged = load_config(str(path), overrides={"tracking.mlflow": "sqlite:///f.db"}).tracking
    assert flagged.mlflow == "sqlite:///f.db"


def _readme_section(title: str) -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _blocks(section: str, language: str) -> list[str]:
    parts = section.split(f"```{language}\n")[1:]
    return [part.split("```", 1)[0] for part in parts]


def _tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """The scalars of the TensorBoard event files in ``folder`` (TFRecord framing)."""
    import struct

    from tensorboardX.proto import event_pb2

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            record = data[offset + 12 : offset + 12 + length]
            offset += 12 + length + 4
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


@pytest.mark.slow
def test_the_readme_tracking_examples_run(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tensorboardX", reason="tensorboardX is not installed")
    section = _readme_section("Tracking")
    (toml,) = _blocks(section, "toml")
    path = workdir / "t.toml"
    path.write_text(STUDY + "\n" + toml)
    tracking = load_config(str(path)).tracking
    assert (tracking.mlflow, tracking.experiment) == ("sqlite:///runs/mlflow.db", "digits")

    python = _blocks(section, "python")
    assert len(python) == 2
    namespace: dict[str, object] = {}
    for block in python:
        exec(compile(block, "README.md", "exec"), namespace)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trial-")]
    assert len(printed) == 3
    assert all("COMPLETE" in line and "(3, " in line for line in printed)

    trials = namespace["result"].study.trials  # type: ignore[attr-defined]
    for trial in trials:
        scalars = _tensorboard_scalars(
            workdir / "runs" / "tensorboard" / "tracking-demo" / f"trial-{trial.number}"
        )
        curve = trial.user_attrs["curve"]
        assert [step for step, _ in scalars["val_accuracy"]] == [1, 2, 3]
        assert [v for _, v in scalars["val_accuracy"]] == pytest.approx(
            [p["val_accuracy"] for p in curve]
        )


@needs_cli
@pytest.mark.slow
def test_select_export_logs_the_model_to_the_trials_run(tmp_path: Path) -> None:
    path = tmp_path / "tracked.toml"
    path.write_text(STUDY + '\n[tracking]\nmlflow = "sqlite:///mlflow.db"\n')
    assert _paretune(tmp_path, "run", "tracked.toml", "--quiet").returncode == 0
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    refused = _paretune(tmp_path, "select", "tracked.toml", "--mlflow", uri)
    assert refused.returncode == 2 and "needs --export DIR" in refused.stderr
    done = _paretune(
        tmp_path,
        "select",
        "tracked.toml",
        "--knee",
        "--export",
        "model",
        "--mlflow",
        uri,
        "--device",
        "cpu",
    )
    assert done.returncode == 0, done.stderr
    chosen = next(line for line in done.stdout.splitlines() if "retraining trial" in line)
    number = int(chosen.split("retraining trial ")[1].split()[0])
    run = _runs(uri, "tracked")[f"trial-{number}"]
    client = mlflow.MlflowClient(tracking_uri=uri)
    logged = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "model")}
    assert logged and logged == {p.name for p in (tmp_path / "model").iterdir()}
