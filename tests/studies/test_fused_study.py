"""``fuse = K``: a study whose trials train K at a time as one fused model, recorded one by one."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import optuna
import pytest
from paretune.studies import Study, StudyFileError

EXE = shutil.which("paretune")
needs_cli = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

SPACE: dict[str, Any] = {
    "optimizer": ["sgd", "momentum", "adam", "rmsprop"],
    "lr": {"low": 1e-3, "high": 0.1, "log": True},
    "weight_decay": [0.0, 1e-4],
    "bits": [4, 8, 32],
    "prune_rate": [0.0, 0.5],
    "epochs": 3,
    "batch_size": 32,
}


def _study(folder: Path, name: str, **changes: Any) -> Study:
    arguments: dict[str, Any] = {
        "name": name,
        "task": "synthetic",
        "task_options": {"n_samples": 300},
        "objectives": ["accuracy", "size_bits"],
        "space": SPACE,
        "sampler": "random",
        "n_trials": 8,
        "seed": 3,
        "device": "cpu",
        "storage": f"sqlite:///{folder}/{name}.db",
        **changes,
    }
    return Study(**arguments)


def _trials(result: Any) -> list[optuna.trial.FrozenTrial]:
    return sorted(result.study.get_trials(deepcopy=False), key=lambda t: t.number)


def test_a_fused_study_holds_the_unfused_strategies_and_curves(tmp_path: Path) -> None:
    alone = _trials(_study(tmp_path, "alone").run())
    fused = _trials(_study(tmp_path, "fused", fuse=4).run())
    assert len(alone) == len(fused) == 8
    for a, f in zip(alone, fused, strict=True):
        assert f.state is a.state is optuna.trial.TrialState.COMPLETE
        assert f.params == a.params  # the same strategies, asked in the same order
        assert f.user_attrs.keys() == a.user_attrs.keys()  # recorded as an unfused trial
        assert f.user_attrs["strategy"] == a.user_attrs["strategy"]
        assert f.values[1] == a.values[1]  # size_bits
        assert abs(f.values[0] - a.values[0]) <= 0.02  # accuracy: float rounding only
        curve_f, curve_a = f.user_attrs["curve"], a.user_attrs["curve"]
        assert len(curve_f) == len(curve_a) == 3
        for mine, theirs in zip(curve_f, curve_a, strict=True):
            assert math.isclose(mine["train_loss"], theirs["train_loss"], rel_tol=1e-3)
            assert mine["train_seconds"] > 0
        assert sorted(f.intermediate_values) == [1, 2, 3]


def test_fused_trials_are_pruned_one_by_one_by_mo_asha(tmp_path: Path) -> None:
    space = {**SPACE, "epochs": 6, "lr": {"low": 1e-4, "high": 0.3, "log": True}}
    result = _study(
        tmp_path,
        "pruned",
        fuse=4,
        n_trials=16,
        space=space,
        sampler="rung-tpe",
        pruner={"name": "mo-asha", "min_epochs": 1, "reduction_factor": 2},
    ).run()
    trials = _trials(result)
    states = [t.state for t in trials]
    assert states.count(optuna.trial.TrialState.PRUNED) >= 1
    assert states.count(optuna.trial.TrialState.COMPLETE) >= 1
    for trial in trials:
        epochs = len(trial.user_attrs["curve"])
        if trial.state is optuna.trial.TrialState.PRUNED:
            assert epochs < 6  # stopped alone while its group went on
        else:
            assert epochs == 6


#: TPE asking K trials at once: each running trial counts as a bad one (Optuna's liar)
LIAR = {"name": "tpe", "constant_liar": True}


def test_a_fused_study_is_reproducible_for_a_seed_and_k(tmp_path: Path) -> None:
    runs = [
        _trials(_study(tmp_path, f"tpe{i}", fuse=4, sampler=LIAR, n_trials=12).run())
        for i in range(2)
    ]
    assert [t.params for t in runs[0]] == [t.params for t in runs[1]]
    assert [t.values for t in runs[0]] == [t.values for t in runs[1]]


def test_a_diverging_member_fails_alone_with_its_reason(tmp_path: Path) -> None:
    space = {**SPACE, "optimizer": "sgd", "lr": [1e9, 0.01], "bits": 32, "prune_rate": 0.0}
    result = _study(tmp_path, "diverge", fuse=4, n_trials=4, space=space).run()
    trials = _trials(result)
    failed = [t for t in trials if t.state is optuna.trial.TrialState.FAIL]
    assert failed and all(t.params["lr"] == 1e9 for t in failed)
    assert all("training loss became" in t.user_attrs["fail_reason"] for t in failed)
    assert any(t.state is optuna.trial.TrialState.COMPLETE for t in trials)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )


STUDY_FILE = """
name = "cli"
task = "synthetic"
task_options = {{ n_samples = 300 }}
objectives = ["accuracy", "size_bits"]
sampler = "random"
n_trials = 4
storage = "sqlite:///cli.db"
{extra}
[space]
lr = {{ low = 0.001, high = 0.1, log = true }}
epochs = 2
"""


@needs_cli
def test_run_fuse_flag_trains_and_describes_the_groups(tmp_path: Path) -> None:
    # a searched batch size splits the groups: the run's first line says so
    (tmp_path / "cli.toml").write_text(STUDY_FILE.format(extra="") + "batch_size = [32, 64]\n")
    done = _cli("run", "cli.toml", "--fuse", "4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "4 trials fused where they share batch_size (searched))" in done.stdout
    study = optuna.load_study(study_name="cli", storage=f"sqlite:///{tmp_path}/cli.db")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 4


@needs_cli
@pytest.mark.ray
@pytest.mark.slow
def test_a_study_file_with_fuse_runs_its_groups_on_ray(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed")
    (tmp_path / "cli.toml").write_text(STUDY_FILE.format(extra='fuse = 2\nbackend = "ray"'))
    done = _cli("run", "cli.toml", "--storage-path", "ray", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 trials fused" in done.stdout + done.stderr
    study = optuna.load_study(study_name="cli", storage=f"sqlite:///{tmp_path}/cli.db")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 4
    experiment = next(d for d in (tmp_path / "ray").iterdir() if d.is_dir())
    groups = [d for d in experiment.iterdir() if d.name.startswith("run_group_trial")]
    assert len(groups) == 2  # two Tune trials, two Optuna trials each


@needs_cli
@pytest.mark.parametrize(
    ("extra", "flags", "message"),
    [
        ("", ("--fuse", "0"), "--fuse: must be an integer >= 1 (got 0)"),
        ('fuse = "x"', (), 'cli.toml: fuse must be an integer >= 1 (got "x")'),
        (
            "fuse = 2\nworkers_per_trial = 2",
            (),
            "cli.toml: fuse must be 1 when workers_per_trial = 2 (got 2)",
        ),
    ],
)
def test_bad_fuse_values_exit_2_with_one_message(
    tmp_path: Path, extra: str, flags: tuple[str, ...], message: str
) -> None:
    (tmp_path / "cli.toml").write_text(STUDY_FILE.format(extra=extra))
    done = _cli("run", "cli.toml", *flags, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "cli.db").exists()  # nothing ran


@pytest.mark.slow
def test_fused_groups_run_in_every_job(tmp_path: Path) -> None:
    result = _study(
        tmp_path, "jobs", fuse=2, jobs=2, n_trials=8, storage=f"journal:///{tmp_path}/jobs.log"
    ).run()
    trials = _trials(result)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 8
    assert all(len(t.user_attrs["curve"]) == 3 for t in trials)


def test_an_interrupted_group_leaves_no_trial_running(tmp_path: Path) -> None:
    from paretune import search
    from paretune.studies import objective_factory

    config = _study(tmp_path, "interrupt", fuse=4, n_trials=8).config

    def interrupt_in_the_second_epoch(progress: search.Progress) -> None:
        if progress.running_epochs >= 5:  # the first group is in its second epoch
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        search.run_local(
            config.spec,
            objective_factory=objective_factory(config),
            n_trials=8,
            fuse=4,
            progress=interrupt_in_the_second_epoch,
        )
    study = optuna.load_study(study_name="interrupt", storage=config.spec.storage)
    ran = [t for t in study.trials if t.state is not optuna.trial.TrialState.WAITING]
    assert [t.state for t in ran] == [optuna.trial.TrialState.FAIL] * 4  # the whole group
    assert all(t.user_attrs["fail_reason"] == "interrupted" for t in ran)
    queued = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    again = sorted(str(t.system_attrs["fixed_params"]) for t in queued)  # queued to run again
    assert again == sorted(str(t.params) for t in ran)


#: User tasks no trial of which can be trained fused, and one whose model is known only once a
#: searched width is drawn.
UNFUSABLE_TASKS = """
import torch
from torch import nn
from torch.utils.data import TensorDataset
from paretune.trainers import DatasetSplits, DataSplits, Task, TaskParam

g = torch.Generator().manual_seed(0)
X, Y = torch.randn(240, 8, generator=g), torch.randint(0, 3, (240,), generator=g)
SPLITS = DataSplits(x_train=X[:160], y_train=Y[:160], x_val=X[160:200], y_val=Y[160:200],
                    x_test=X[200:], y_test=Y[200:])


def mlp(dropout):
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def batchnorm(dropout, width=16):
    return nn.Sequential(nn.Linear(8, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, 3))


def streamed():
    def datasets():
        s = SPLITS
        return DatasetSplits(train=TensorDataset(s.x_train, s.y_train),
                             val=TensorDataset(s.x_val, s.y_val),
                             test=TensorDataset(s.x_test, s.y_test))
    return Task(name="streamed", build_model=mlp, load_datasets=datasets, num_classes=3)


def augmented():
    return Task(name="augmented", build_model=mlp, load_data=lambda: SPLITS, num_classes=3,
                augment=lambda x, generator: x)


def normed():
    return Task(name="normed", build_model=batchnorm, load_data=lambda: SPLITS, num_classes=3,
                params=(TaskParam(name="width", type="int", default=16, low=8, high=32),))
"""


@pytest.fixture
def unfusable(tmp_path: Path) -> Path:
    (tmp_path / "unfusable_tasks.py").write_text(UNFUSABLE_TASKS)
    return tmp_path


@needs_cli
def test_fuse_is_refused_for_a_task_that_streams_its_datasets(unfusable: Path) -> None:
    study = STUDY_FILE.format(extra="fuse = 4").replace(
        'task = "synthetic"\ntask_options = { n_samples = 300 }',
        'task = "unfusable_tasks:streamed"',
    )
    (unfusable / "cli.toml").write_text(study)
    done = _cli("run", "cli.toml", cwd=unfusable)  # the module is found in the working folder
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "paretune: error: cli.toml: fuse must be 1 (got 4): no trial of task 'streamed' can be "
        "trained fused, as the task streams datasets; each would train alone"
    )
    assert not (unfusable / "cli.db").exists()


@pytest.mark.parametrize(
    ("factory", "space", "reason"),
    [
        ("augmented", {}, "the task augments its batches"),
        ("normed", {}, "the model has buffers (such as BatchNorm's running statistics)"),
        ("normed", {"width": 24}, "the model has buffers (such as BatchNorm's running statistics)"),
        ("normed", {"width": [8, 24]}, None),  # the model depends on the drawn width
        ("streamed", {}, "the task streams datasets"),
    ],
    ids=["augment", "batchnorm", "batchnorm, width fixed", "batchnorm, width searched", "stream"],
)
def test_fuse_of_a_task_no_trial_of_which_fuses_is_refused_when_the_run_starts(
    unfusable: Path, monkeypatch: pytest.MonkeyPatch, factory: str, space: Any, reason: str | None
) -> None:
    monkeypatch.syspath_prepend(str(unfusable))
    study = Study(
        name=factory,
        task=f"unfusable_tasks:{factory}",
        space={"lr": 0.05, "epochs": 1, **space},
        n_trials=2,
        fuse=2,
        seed=1,
        device="cpu",
        storage=f"sqlite:///{unfusable}/{factory}.db",
    )
    if reason is None:  # accepted: the group trains one by one, as documented
        result = study.run()
        assert [t.state for t in _trials(result)] == [optuna.trial.TrialState.COMPLETE] * 2
        return
    with pytest.raises(StudyFileError) as error:
        study.run()
    assert str(error.value) == (
        f"Study: fuse must be 1 (got 2): no trial of task {factory!r} can be trained fused, as "
        f"{reason}; each would train alone"
    )
