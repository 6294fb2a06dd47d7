"""Data-parallel trials on local processes: ``run_local(..., workers_per_trial=N)``.

Every test starts real rank processes (``spawn``) that join a real gloo process group on
127.0.0.1 and train with ``paretune.trainers.train``; nothing is mocked. A 2-rank trial costs
some seconds of start-up (each rank imports torch, builds the task and DistributedDataParallel).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from paretune.search import (
    DataParallelObjective,
    OutcomeState,
    StopReason,
    StudySpec,
    make_storage,
    run_local,
)
from paretune.spaces import CategoricalDistribution, Fixed, FloatDistribution, StrategySpace
from paretune.studies import build_objective

optuna.logging.set_verbosity(optuna.logging.WARNING)

pytestmark = pytest.mark.timeout(600)

#: How far a 2-rank curve may lie from the 1-rank curve at the same global batch: the ranks
#: sum the same gradients in another order, so only float rounding may differ.
CURVE_TOLERANCE = 1e-4
#: The same on a GPU, where CUDA's reductions also change order from run to run.
GPU_CURVE_TOLERANCE = 1e-3

# A strategy space with every dimension that must survive sharding: momentum, pruning, QAT.
SPACE = StrategySpace(
    params={
        "optimizer": Fixed(value="momentum"),
        "lr": FloatDistribution(low=0.02, high=0.1, log=True),
        "batch_size": Fixed(value=50),
        "prune_rate": CategoricalDistribution(choices=(0.25, 0.5)),
        "bits": CategoricalDistribution(choices=(4, 8)),
        "epochs": Fixed(value=3),
    }
)

SYNTHETIC = functools.partial(
    build_objective, task="synthetic", task_options={"n_samples": 600}, device="cpu"
)

# A user task (imported by the rank processes from tmp_path): a tiny MLP whose training
# forward logs "attempt rank device" per call and, in mode "kill" / "raise", makes rank 1 die by
# SIGKILL at the first step of epoch 2 / raise at its first step, on the first attempt only
# (a marker file says the attempt happened). 64 training samples in global batches of 32:
# two steps per epoch on every rank.
TASK_MODULE = """
import functools
import os
import signal
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from paretune.trainers import DataSplits, Task

HERE = Path(__file__).parent
STEPS_PER_EPOCH = 2


class Net(nn.Module):
    def __init__(self, dropout=0.0, *, mode="plain"):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
        self.mode = mode
        self.marker = HERE / f"{mode}.marker"
        self.attempt = 2 if self.marker.exists() else 1
        self.steps = 0

    def forward(self, x):
        if self.training:
            self.steps += 1
            rank = dist.get_rank() if dist.is_initialized() else 0
            with open(HERE / "forwards.log", "a") as log:
                log.write(f"{self.attempt} {rank} {x.device.type}\\n")
            if rank == 1 and self.attempt == 1:
                if self.mode == "kill" and self.steps == STEPS_PER_EPOCH + 1:
                    self.marker.touch()
                    os.kill(os.getpid(), signal.SIGKILL)
                if self.mode == "raise":
                    self.marker.touch()
                    raise ValueError("boom on rank 1")
        return self.body(x)


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 8, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return DataSplits(
        x_train=x[:64], y_train=y[:64], x_val=x[64:96], y_val=y[64:96],
        x_test=x[96:], y_test=y[96:],
    )


def _die_on_rank_1(params, report, checkpoint_dir=None):
    if dist.get_rank() == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()


def make_dying_objective():
    return _die_on_rank_1


def make_task(mode="plain"):
    return Task(
        name="dp-user", build_model=functools.partial(Net, mode=mode), load_data=_data,
        input_shape=(8,), num_classes=2, default_epochs=3,
    )
"""

USER_SPACE = StrategySpace(
    params={
        "optimizer": Fixed(value="sgd"),
        "lr": Fixed(value=0.1),
        "batch_size": Fixed(value=32),
        "epochs": Fixed(value=3),
    }
)


def _spec(name: str, storage: str, space: StrategySpace = SPACE, **options: Any) -> StudySpec:
    return StudySpec(
        name=name,
        storage=storage,
        objectives=("accuracy",),
        space=space,
        sampler="random",
        seed=3,
        **options,
    )


def _trials(spec: StudySpec) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=spec.name, storage=make_storage(spec.storage))
    return study.get_trials(deepcopy=False)


@pytest.fixture
def user_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workdir: Path) -> Path:
    """``dp_user_task`` written into tmp_path, importable by the spawned ranks.

    A spawned process starts with its parent's ``sys.path`` (``multiprocessing`` sends it
    over, replacing what ``PYTHONPATH`` gave the new interpreter), so tmp_path goes there.
    """
    (tmp_path / "dp_user_task.py").write_text(TASK_MODULE)
    monkeypatch.delitem(sys.modules, "dp_user_task", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _user_factory(mode: str) -> functools.partial[Any]:
    return functools.partial(
        build_objective, task="dp_user_task:make_task", task_options={"mode": mode}, device="cpu"
    )


def _attempts(folder: Path) -> Counter[tuple[int, int]]:
    """Training steps logged by the user task, by (attempt, rank)."""
    lines = (folder / "forwards.log").read_text().splitlines()
    return Counter((int(line.split()[0]), int(line.split()[1])) for line in lines)


@pytest.mark.slow
def test_two_workers_give_the_one_worker_curve_at_the_same_global_batch(workdir: Path) -> None:
    one = _spec("one", "sqlite:///runs/one.db")
    two = _spec("two", "journal:///runs/two.log")
    run_local(one, objective_factory=SYNTHETIC, n_trials=1)
    summary = run_local(two, objective_factory=SYNTHETIC, n_trials=1, workers_per_trial=2)
    assert (summary.complete, summary.failed, summary.ran) == (1, 0, 1)

    [single], [parallel] = _trials(one), _trials(two)
    assert parallel.state is TrialState.COMPLETE
    assert parallel.params == single.params  # the same seed samples the same strategy
    assert parallel.params["prune_rate"] > 0 and parallel.params["bits"] < 32
    curves = single.user_attrs["curve"], parallel.user_attrs["curve"]
    assert [p["epoch"] for p in curves[1]] == [1, 2, 3]  # each epoch recorded once
    for a, b in zip(*curves, strict=True):
        for key in ("train_loss", "val_accuracy", "sparsity"):
            assert b[key] == pytest.approx(a[key], abs=CURVE_TOLERANCE), (a["epoch"], key)
    assert parallel.user_attrs["sparsity"] > 0.2  # pruning ran on the ranks
    assert parallel.user_attrs["epochs"] == 3
    assert parallel.values == pytest.approx(single.values, abs=CURVE_TOLERANCE)


@pytest.mark.slow
def test_a_pruned_trial_stops_every_rank_and_is_recorded_once(workdir: Path) -> None:
    # every val_accuracy is below 1.1: the pruner stops the trial after its warm-up (2 epochs)
    spec = _spec(
        "pruned",
        "sqlite:///runs/pruned.db",
        pruner="threshold",
        pruner_options={"lower": 1.1, "n_warmup_steps": 2},
    )
    summary = run_local(spec, objective_factory=SYNTHETIC, n_trials=1, workers_per_trial=2)
    assert (summary.pruned, summary.complete, summary.ran) == (1, 0, 1)

    [trial] = _trials(spec)
    assert trial.state is TrialState.PRUNED
    assert trial.user_attrs["epochs"] == 2  # the outcome rank 0 returned: every rank stopped
    assert trial.user_attrs["pruned_at_epoch"] == 2
    assert [p["epoch"] for p in trial.user_attrs["curve"]] == [1, 2]


@pytest.mark.slow
def test_called_directly_reports_reach_the_caller_once_per_epoch_across_a_restart(
    user_task: Path,
) -> None:
    seen: list[int] = []

    def report(epoch: int, metrics: Any) -> bool:
        seen.append(epoch)
        return epoch == 3  # True stops every rank after epoch 3

    objective = DataParallelObjective(objective_factory=_user_factory("kill"), workers=2)
    params = {"optimizer": "sgd", "lr": 0.1, "batch_size": 32, "epochs": 5}
    outcome = objective(params, report, checkpoint_dir=str(user_task / "ckpt"))
    # epoch 1 came from the first attempt (rank 1 died in epoch 2), epochs 2-3 from the second
    assert (user_task / "kill.marker").exists()
    assert seen == [1, 2, 3]
    assert outcome.state is OutcomeState.PRUNED and outcome.epochs == 3
    assert outcome.reason == "stopped by the reporter after epoch 3"
    assert outcome.curve is not None and len(outcome.curve) == 3
    assert (user_task / "ckpt").is_dir()  # the caller's directory is kept


@pytest.mark.slow
def test_an_interrupt_in_the_parent_stops_the_ranks_and_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the temporary checkpoint directory and torch's error files go to this folder
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def report(epoch: int, metrics: Any) -> bool:
        raise KeyboardInterrupt  # Ctrl-C while rank 0 waits for the answer

    objective = DataParallelObjective(objective_factory=SYNTHETIC, workers=2)
    with pytest.raises(KeyboardInterrupt):
        objective({"optimizer": "adam", "lr": 0.01, "epochs": 3}, report)
    assert multiprocessing.active_children() == []  # both ranks ended and were reaped
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_killed_worker_restarts_the_trial_from_its_last_epoch(
    user_task: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = _spec("killed", "sqlite:///runs/killed.db", space=USER_SPACE)
    with caplog.at_level(logging.WARNING):
        summary = run_local(
            spec, objective_factory=_user_factory("kill"), n_trials=1, workers_per_trial=2
        )
    assert (summary.complete, summary.failed, summary.ran) == (1, 0, 1)
    assert (user_task / "kill.marker").exists()  # rank 1 was killed in the first attempt
    assert "rank 1 of 2 was killed by signal SIGKILL; starting it again" in caplog.text

    [trial] = _trials(spec)
    assert trial.state is TrialState.COMPLETE
    assert [p["epoch"] for p in trial.user_attrs["curve"]] == [1, 2, 3]
    assert trial.user_attrs["epochs"] == 3
    steps = _attempts(user_task)
    # attempt 1: epoch 1 (2 steps) and the first step of epoch 2, where rank 1 died;
    # attempt 2 resumed after epoch 1: epochs 2 and 3 only (2 steps each), on both ranks
    assert steps[(1, 1)] == 3 and steps[(1, 0)] in (2, 3)
    assert steps[(2, 0)] == steps[(2, 1)] == 4


@pytest.mark.slow
def test_a_raising_rank_fails_the_trial_with_its_error_and_the_study_goes_on(
    user_task: Path,
) -> None:
    spec = _spec("raised", "sqlite:///runs/raised.db", space=USER_SPACE)
    summary = run_local(
        spec, objective_factory=_user_factory("raise"), n_trials=1, workers_per_trial=2
    )
    assert summary.stop_reason is StopReason.N_TRIALS
    assert (summary.complete, summary.failed, summary.ran) == (1, 1, 2)

    failed, complete = _trials(spec)
    assert failed.state is TrialState.FAIL
    assert failed.user_attrs["fail_reason"] == "RuntimeError: ValueError: boom on rank 1"
    assert complete.state is TrialState.COMPLETE
    steps = _attempts(user_task)
    assert steps[(1, 1)] == 1  # no restart of the failed trial: rank 1 raised at its first step
    assert steps[(2, 1)] == 6  # the next trial trained its 3 epochs


@pytest.mark.slow
def test_a_rank_dying_in_every_attempt_is_given_up_naming_rank_and_signal(
    user_task: Path,
) -> None:
    import dp_user_task

    objective = DataParallelObjective(
        objective_factory=dp_user_task.make_dying_objective, workers=2, max_restarts=1
    )
    with pytest.raises(RuntimeError) as info:
        objective({}, None)
    assert str(info.value) == (
        "A rank of the 2-rank trial died in each of its 2 attempts (max_restarts=1): "
        "attempt 1: rank 1 of 2 was killed by signal SIGKILL; "
        "attempt 2: rank 1 of 2 was killed by signal SIGKILL."
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"workers": 0},
            "The 'workers' parameter of DataParallelObjective must be an int >= 1. Got 0 instead.",
        ),
        (
            {"workers": True},
            "The 'workers' parameter of DataParallelObjective must be an int >= 1. "
            "Got True instead.",
        ),
        (
            {"workers": 2, "max_restarts": -1},
            "The 'max_restarts' parameter of DataParallelObjective must be an int >= 0. "
            "Got -1 instead.",
        ),
        (
            {"workers": 2, "objective_factory": 3},
            "The 'objective_factory' parameter of DataParallelObjective must be a callable "
            "returning an Objective. Got 3 instead.",
        ),
    ],
)
def test_bad_arguments_are_refused_in_scikit_learn_wording(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        DataParallelObjective(**{"objective_factory": SYNTHETIC, **options})
    assert str(info.value) == message


def test_run_local_checks_workers_per_trial_and_the_factory_before_opening_the_study(
    workdir: Path,
) -> None:
    spec = _spec("checked", "sqlite:///runs/checked.db")
    with pytest.raises(ValueError) as info:
        run_local(spec, objective_factory=SYNTHETIC, n_trials=1, workers_per_trial=0)
    assert str(info.value) == (
        "The 'workers_per_trial' parameter of run_local must be an int >= 1. Got 0 instead."
    )
    with pytest.raises(ValueError, match="must be picklable when workers_per_trial > 1"):
        run_local(spec, objective_factory=lambda: SYNTHETIC(), n_trials=1, workers_per_trial=2)
    assert not (workdir / "runs" / "checked.db").exists()


@pytest.mark.gpu
def test_two_ranks_train_on_the_gpu_and_give_the_one_rank_curve(user_task: Path) -> None:
    """Two ranks on the machine's GPUs: NCCL with a GPU each, else gloo on a shared GPU."""
    factory = functools.partial(
        build_objective,
        task="dp_user_task:make_task",
        task_options={"mode": "plain"},
        device="cuda",
    )
    params = {"optimizer": "momentum", "lr": 0.1, "batch_size": 32, "epochs": 3}
    single = factory()(params, None)
    (user_task / "forwards.log").unlink()
    parallel = DataParallelObjective(objective_factory=factory, workers=2)(params, None)
    lines = (user_task / "forwards.log").read_text().split("\n")
    assert Counter(line.split()[1] for line in lines if line) == {"0": 6, "1": 6}
    assert {line.split()[2] for line in lines if line} == {"cuda"}
    assert parallel.state is OutcomeState.COMPLETE
    assert single.curve is not None and parallel.curve is not None
    for a, b in zip(single.curve, parallel.curve, strict=True):
        for key in ("train_loss", "val_accuracy"):
            assert b[key] == pytest.approx(a[key], abs=GPU_CURVE_TOLERANCE), key
