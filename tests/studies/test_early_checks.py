"""What a study's task can never use is refused before training: distillation without a
teacher, freezing without a pretrained file or head, pruning and quantization of a model with
no such layer (exit 2 from ``paretune run``, one line naming file, key, value and why); a
space that also allows a workable value is accepted."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from paretune.studies import StudyFileError, load_config

EXE = shutil.which("paretune")
needs_cli = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

TASKS = '''
from pathlib import Path

import torch
from torch import nn
from paretune.trainers import Task, TaskParam, get_task


class Dense(nn.Linear):
    """A Linear subclass: paretune neither prunes nor quantizes it."""


def build(dropout, *, plain=True):
    layer = nn.Linear(20, 3) if plain else Dense(20, 3)
    return nn.Sequential(nn.Flatten(), nn.Dropout(dropout), layer)


def _task(name, **fields):
    base = get_task("synthetic", options={"n_samples": 300})
    fields.setdefault("build_model", lambda dropout: build(dropout, plain=False))
    return Task(name=name, load_data=base.load_data, num_classes=3, input_shape=(20,),
                default_epochs=1, **fields)


def no_layer():
    return _task("no-layer")


def filtered():
    return _task("filtered", build_model=build, prunable=lambda name, module: False)


def switch():
    return _task("switch", build_model=build,
                 params=(TaskParam(name="plain", type="bool", default=True),))


def pretrained(head=("2",)):
    path = Path(__file__).with_name("start.pt")
    torch.save(build(0.0).state_dict(), path)
    return _task("pretrained", build_model=build, pretrained=str(path), head=head)


def headless():
    return pretrained(head=())


def taught():
    return _task("taught", build_model=build, teacher=lambda: build(0.0))
'''


@pytest.fixture()
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "early_tasks.py").write_text(TASKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _study(folder: Path, task: str, space: str) -> Path:
    path = folder / "x.toml"
    path.write_text(f'name = "x"\ntask = "{task}"\nn_trials = 1\n[space]\nepochs = 1\n{space}\n')
    return path


def _run(folder: Path, study: Path) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    storage = f"sqlite:///{folder / 'x.db'}"
    return subprocess.run(
        [EXE, "run", str(study), "--storage", storage, "--device", "cpu", "--quiet"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


REFUSED = [
    (
        "digits-mlp",
        "distill_alpha = 0.5",
        "space.distill_alpha cannot be used (got 0.5): task 'digits-mlp' has no teacher "
        "(Task.teacher); distillation needs one",
    ),
    (
        "digits-mlp",
        "distill_temperature = { low = 1.0, high = 8.0 }",
        "space.distill_temperature cannot be used (got { low = 1.0, high = 8.0 }): task "
        "'digits-mlp' has no teacher",
    ),
    (
        "digits-mlp",
        "freeze_epochs = [0, 2]",
        "space.freeze_epochs cannot be used (got [0, 2]): task 'digits-mlp' has no pretrained "
        "file (Task.pretrained); freezing the backbone needs one",
    ),
    (
        "early_tasks:headless",
        "backbone_lr_scale = 0.1",
        "space.backbone_lr_scale cannot be used (got 0.1): task 'pretrained' names no head "
        "(Task.head)",
    ),
    (
        "early_tasks:no_layer",
        "prune_rate = { low = 0.25, high = 0.75 }",
        "space.prune_rate cannot be used (got { low = 0.25, high = 0.75 }): task 'no-layer' has "
        "no prunable layer (Linear, Conv1d, Conv2d, Conv3d); pruning needs one",
    ),
    (
        "early_tasks:no_layer",
        "bits = [4, 8]",
        "space.bits cannot be used (got [4, 8]): task 'no-layer' has no quantizable layer",
    ),
    (
        "early_tasks:filtered",
        "act_bits = 8",
        "space.act_bits cannot be used (got 8): task 'filtered' has no quantizable layer "
        "(Linear, Conv1d, Conv2d, Conv3d) chosen by its 'prunable' filter",
    ),
    (
        "early_tasks:switch",
        "plain = false\nl1 = 0.001",
        "space.l1 cannot be used (got 0.001): task 'switch' has no prunable layer",
    ),
]


@needs_cli
@pytest.mark.parametrize(("task", "space", "expected"), REFUSED)
def test_run_refuses_what_the_task_can_never_use_in_one_line(
    folder: Path, task: str, space: str, expected: str
) -> None:
    study = _study(folder, task, space)
    done = _run(folder, study)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"paretune: error: {study}: ")
    assert expected in lines[0]
    assert "Traceback" not in done.stderr
    assert not (folder / "x.db").exists()  # refused before the study was opened


ACCEPTED = [
    ("early_tasks:no_layer", "bits = [4, 32]"),  # 32 needs no layer
    ("early_tasks:no_layer", "prune_rate = { low = 0.0, high = 0.5 }"),  # 0 prunes nothing
    ("early_tasks:no_layer", "bits = 32\nact_bits = 32\nl1 = 0.0"),
    ("early_tasks:switch", "plain = [true, false]\nbits = 4"),  # layers depend on the choice
    ("early_tasks:switch", "bits = 4"),  # plain is true by default
    ("early_tasks:pretrained", "freeze_epochs = [0, 2]\nbackbone_lr_scale = 0.1"),
    ("early_tasks:taught", "distill_alpha = { low = 0.1, high = 0.9 }"),
    ("digits-mlp", "prune_rate = 0.5\nbits = 4"),
]


@pytest.mark.parametrize(("task", "space"), ACCEPTED)
def test_a_space_with_a_workable_value_is_accepted(folder: Path, task: str, space: str) -> None:
    config = load_config(str(_study(folder, task, space)))
    assert config.spec.space.params["epochs"].value == 1


def test_the_loader_raises_the_same_one_error(folder: Path) -> None:
    study = _study(folder, "early_tasks:no_layer", "bits = 4")
    with pytest.raises(StudyFileError, match=r"space\.bits cannot be used \(got 4\)") as info:
        load_config(str(study))
    assert info.value.key == "space.bits"


@needs_cli
def test_a_trial_of_an_accepted_space_still_fails_alone(folder: Path) -> None:
    """The early check leaves mixed spaces to the trials: bits=4 fails, bits=32 completes."""
    import optuna

    study = _study(folder, "early_tasks:no_layer", "bits = [4, 32]\nlr = 0.01")
    study.write_text(study.read_text().replace("n_trials = 1", 'n_trials = 6\nsampler = "random"'))
    done = _run(folder, study)
    assert done.returncode == 0, done.stdout + done.stderr
    loaded = optuna.load_study(study_name="x", storage=f"sqlite:///{folder / 'x.db'}")
    by_bits = {t.params["bits"]: t for t in loaded.trials}
    assert set(by_bits) == {4, 32}  # six random draws of two choices: both (seeded)
    assert by_bits[32].state is optuna.trial.TrialState.COMPLETE
    failed = by_bits[4]
    assert failed.state is optuna.trial.TrialState.FAIL
    assert "has no quantizable layer" in failed.user_attrs["fail_reason"]
