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


# -- what only the data and weights show: refused before training too ----------------------

DATA_TASKS = '''
import dataclasses
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset
from paretune.trainers import DatasetSplits, Task, TaskParam, get_task


def build(dropout, *, width=8):
    return nn.Sequential(nn.Linear(20, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, 3))


class Items(Dataset):
    """Synthetic items; every read is counted, to show the check reads only a few."""

    reads = 0

    def __init__(self, x, y, *, float_labels=False):
        self.x, self.y, self.float_labels = x, y, float_labels

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        Items.reads += 1
        label = self.y[index]
        return self.x[index], label.float() if self.float_labels else label


def _splits(float_labels_in=()):
    data = get_task("synthetic", options={"n_samples": 300}).data()
    return DatasetSplits(**{
        split: Items(getattr(data, f"x_{split}"), getattr(data, f"y_{split}"),
                     float_labels=split in float_labels_in)
        for split in ("train", "val", "test")
    })


def _task(name, **fields):
    fields.setdefault("load_datasets", _splits)
    fields.setdefault("build_model", build)
    fields.setdefault("params", (TaskParam(name="width", type="int", default=8, low=2, high=64),))
    return Task(name=name, num_classes=3, input_shape=(20,), default_epochs=1, **fields)


def good():
    return _task("good")


def float_labels():
    return _task("float-labels", load_datasets=lambda: _splits(float_labels_in=("val",)))


def float_train_labels():
    return _task("float-train", load_datasets=lambda: _splits(float_labels_in=("train",)))


def returns_dict():
    base = get_task("synthetic", options={"n_samples": 300})
    return Task(name="dict-data", build_model=build, num_classes=3, default_epochs=1,
                load_data=lambda: {"x_train": base.data().x_train})


def wrong_width():
    return _task("wrong-width", build_model=lambda dropout, width=8: nn.Linear(7, 3))


def missing_file():
    def load():
        with open(Path(__file__).with_name("nowhere.npy"), "rb") as file:
            return file.read()
    return _task("missing-file", load_datasets=load)


def five_outputs():
    return _task("five-outputs", build_model=lambda dropout, width=8: nn.Linear(20, 5))


def labels_out_of_range():
    def load():
        splits = _splits()
        splits.val.y = splits.val.y + 1  # classes 0..2 become 1..3: 3 is no class of three
        return splits
    return _task("labels-high", load_datasets=load)


def memory_label_out_of_range():
    base = get_task("synthetic", options={"n_samples": 300})

    def load():
        data = base.data()
        y_test = data.y_test.clone()
        y_test[-1] = 7  # one label, far past the first batch
        return dataclasses.replace(data, y_test=y_test)
    return Task(name="memory-labels", build_model=build, num_classes=3, default_epochs=1,
                load_data=load)


def head_names_nothing():
    return _task("bad-head", head=("classifier",))


def pretrained_missing():
    path = Path(__file__).with_name("partial.pt")
    state = build(0.0).state_dict()
    del state["0.bias"]
    torch.save(state, path)
    return _task("partial", pretrained=str(path), head=("3",))
'''


@pytest.fixture()
def data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "data_tasks.py").write_text(DATA_TASKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


UNTRAINABLE = [
    (
        "data_tasks:pretrained_missing",
        "lr = 0.01",
        "task cannot be trained (got \"data_tasks:pretrained_missing\"): Task 'partial': the "
        "pretrained file '{folder}/partial.pt' does not match the model: missing keys 0.bias.",
    ),
    (
        "data_tasks:float_labels",
        "lr = 0.01",
        "task cannot be trained (got \"data_tasks:float_labels\"): Task 'float-labels': a val "
        "batch must be (inputs, targets) with class labels of an integer dtype (torch.long); "
        "got targets a float32 tensor of shape (8,).",
    ),
    (
        "data_tasks:float_train_labels",
        "width = [4, 8]",  # a searched task parameter leaves the model out, not the data
        "Task 'float-train': a train batch must be (inputs, targets) with class labels of an "
        "integer dtype (torch.long)",
    ),
    (
        "data_tasks:labels_out_of_range",
        "lr = 0.01",
        "task cannot be trained (got \"data_tasks:labels_out_of_range\"): Task 'labels-high': "
        "a val batch holds class label 3; labels must be 0 to 2 (num_classes=3).",
    ),
    (
        "data_tasks:memory_label_out_of_range",
        "lr = 0.01",
        "Task 'memory-labels': a test split holds class label 7; labels must be 0 to 2 "
        "(num_classes=3).",
    ),
    (
        "data_tasks:head_names_nothing",
        "lr = 0.01",
        "Task 'bad-head': the head prefix 'classifier' names no parameter of the model (its "
        "modules: 0, 1, 2, 3).",
    ),
    (
        "data_tasks:returns_dict",
        "lr = 0.01",
        "Task 'dict-data': load_data() must return a DataSplits. Got dict instead.",
    ),
    (
        "data_tasks:missing_file",
        "lr = 0.01",
        'task cannot be trained (got "data_tasks:missing_file"): FileNotFoundError: [Errno 2] '
        "No such file or directory: '{folder}/nowhere.npy'",
    ),
    (
        "data_tasks:five_outputs",
        "lr = 0.01",
        "Task 'five-outputs': the model's outputs on the first validation batch have 5 "
        "columns; a classifier trained with cross-entropy must output one score per class, "
        "(batch, num_classes=3).",
    ),
    (
        "data_tasks:wrong_width",
        "lr = 0.01",
        "Task 'wrong-width': the model cannot run on the first validation batch (inputs a "
        "float32 tensor of shape (8, 20)): mat1 and mat2 shapes cannot be multiplied",
    ),
]


@needs_cli
@pytest.mark.parametrize(("task", "space", "expected"), UNTRAINABLE)
def test_run_refuses_a_task_no_trial_could_train_in_one_line(
    data_folder: Path, task: str, space: str, expected: str
) -> None:
    study = _study(data_folder, task, space)
    done = _run(data_folder, study)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"paretune: error: {study}: task cannot be trained")
    assert expected.format(folder=data_folder) in lines[0]
    assert "Traceback" not in done.stderr
    assert not (data_folder / "x.db").exists()  # refused before the study was opened


def test_a_searched_task_parameter_leaves_the_pretrained_check_to_the_trials(
    data_folder: Path,
) -> None:
    """The model depends on width: the file may fit some widths, so only trials can tell."""
    from paretune.studies import read_study

    study = _study(data_folder, "data_tasks:pretrained_missing", "width = [4, 8]")
    read_study(str(study), check_data=True)  # accepted
    fixed = _study(data_folder, "data_tasks:pretrained_missing", "width = 8")
    with pytest.raises(StudyFileError, match="missing keys 0.bias") as info:
        read_study(str(fixed), check_data=True)
    assert info.value.key == "task"


def test_the_check_reads_a_few_items_and_the_trainer_raises_the_same(data_folder: Path) -> None:
    """check_task reads the first COST_SAMPLES items of each split, not the datasets; train
    raises the very message the loader refuses with."""
    import data_tasks  # type: ignore[import-not-found]
    from paretune import trainers

    data_tasks.Items.reads = 0
    trainers.check_task(data_tasks.good())
    assert data_tasks.Items.reads == 3 * trainers.COST_SAMPLES
    bad = data_tasks.pretrained_missing()
    with pytest.raises(ValueError) as checked:
        trainers.check_task(bad)
    with pytest.raises(ValueError) as trained:
        trainers.train(bad, trainers.Strategy(epochs=1), device="cpu")
    assert str(checked.value) == str(trained.value)
    labels = data_tasks.float_labels()
    with pytest.raises(TypeError) as checked:
        trainers.check_task(labels)
    with pytest.raises(TypeError) as trained:
        trainers.train(labels, trainers.Strategy(epochs=1), device="cpu")
    assert str(checked.value) == str(trained.value)


def test_the_check_leaves_the_global_random_state_alone(data_folder: Path) -> None:
    import data_tasks
    import torch
    from paretune import trainers

    before = torch.get_rng_state()
    trainers.check_task(data_tasks.good())  # builds and initialises a model
    assert torch.equal(torch.get_rng_state(), before)


@needs_cli
def test_a_good_user_task_still_runs(data_folder: Path) -> None:
    import optuna

    study = _study(data_folder, "data_tasks:good", "lr = 0.01\nwidth = [4, 8]")
    done = _run(data_folder, study)
    assert done.returncode == 0, done.stdout + done.stderr
    loaded = optuna.load_study(study_name="x", storage=f"sqlite:///{data_folder / 'x.db'}")
    assert [t.state for t in loaded.trials] == [optuna.trial.TrialState.COMPLETE]
