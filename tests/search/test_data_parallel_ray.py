"""Data-parallel trials on Ray: Ray Train runs inside Tune trials, on a real local Ray (4 CPUs).

Each trial trains the real objective on two Ray Train workers (gloo on CPU); the tests check
what a user relies on: the same curve as one worker, a pruned trial that stops every worker
and is recorded once, a killed worker retried from the last checkpoint, and a trial larger
than the cluster refused before anything starts.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from paretune.search import OutcomeState, StudySpec, TrialOutcome, run_local, run_ray
from paretune.spaces import Fixed, StrategySpace
from paretune.studies import build_objective

ray = pytest.importorskip("ray", reason="ray is not installed")

TASK_OPTIONS = {"n_samples": 300}  # 180 training samples: 3 global batches of 60 per epoch

# A user task module (found through PYTHONPATH, as a user's would be): the synthetic task whose
# model, on rank 1, kills its own process at the first batch of epoch 2 — once, marked by a file.
KILL_TASK = '''
"""The synthetic task with a model that SIGKILLs its process once (rank 1, epoch 2)."""

import dataclasses
import math
import os
import signal
from pathlib import Path

from torch import nn

from paretune.trainers import get_task


class KillOnce(nn.Module):
    def __init__(self, inner, marker, batches_per_epoch):
        super().__init__()
        self.inner = inner
        self.marker = marker
        self.batches_per_epoch = batches_per_epoch
        self.calls = 0

    def forward(self, x):
        if self.training and os.environ.get("RANK") == "1":
            self.calls += 1
            if self.calls > self.batches_per_epoch and not Path(self.marker).exists():
                Path(self.marker).write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return self.inner(x)


def build(dropout, *, base, marker, batches_per_epoch):
    return KillOnce(base.build_model(dropout), marker, batches_per_epoch)


def make_task(marker, n_samples, batch_size):
    base = get_task("synthetic", options={"n_samples": n_samples})
    batches = math.ceil(len(base.load_data().x_train) / batch_size)
    return dataclasses.replace(
        base,
        name="kill-once",
        build_model=lambda dropout: build(
            dropout, base=base, marker=marker, batches_per_epoch=batches
        ),
    )
'''


class ReportLog:
    """The real training objective, logging every ``report`` call as (rank, pid, epoch, stop).

    One JSON line per call goes to ``log_dir/<pid>.jsonl``, so a test sees what every worker
    of every attempt reported and was answered.
    """

    def __init__(self, *, log_dir: str, task: str, task_options: Mapping[str, Any]) -> None:
        self.inner = build_objective(task=task, task_options=task_options, device="cpu")
        self.log_dir = log_dir

    def __call__(
        self,
        params: Mapping[str, Any],
        report: Callable[[int, Mapping[str, float]], bool],
        checkpoint_dir: str | None = None,
    ) -> Any:
        log = Path(self.log_dir, f"{os.getpid()}.jsonl")

        def logged(epoch: int, metrics: Mapping[str, float]) -> bool:
            stop = report(epoch, metrics)
            line = {"rank": int(os.environ["RANK"]), "pid": os.getpid(), "epoch": epoch}
            with log.open("a") as file:
                file.write(json.dumps({**line, "stop": stop}) + "\n")
            return stop

        return self.inner(params, logged, checkpoint_dir=checkpoint_dir)


def report_log(log_dir: str, task: str, task_options: Mapping[str, Any]) -> ReportLog:
    return ReportLog(log_dir=log_dir, task=task, task_options=task_options)


def _reports(log_dir: Path) -> list[dict[str, Any]]:
    lines = [line for path in log_dir.glob("*.jsonl") for line in path.read_text().splitlines()]
    return [json.loads(line) for line in lines]


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.fixture(scope="module")
def dp_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local Ray of 4 CPUs (and one GPU where there is one) whose workers import the user
    task module; yields the module's folder."""
    from ray import cloudpickle

    modules = tmp_path_factory.mktemp("user_tasks")
    (modules / "kill_task.py").write_text(KILL_TASK)
    # Ray workers cannot import this test module by name: send its objects by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # type: ignore[no-untyped-call]
    ray.init(
        num_cpus=4,
        num_gpus=1 if _has_cuda() else 0,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={
            "env_vars": {
                # Ahead of the path the workers would inherit (where Ray itself may live).
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(modules), os.environ.get("PYTHONPATH", "")) if p
                ),
                # Ray Train's controller polls its workers every 2 s by default: each epoch
                # of these tiny trials would wait for that.
                "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2",
            }
        },
    )
    yield modules
    ray.shutdown()


def _spec(tmp: Path, name: str, **extra: Any) -> StudySpec:
    space = StrategySpace(
        params={
            "optimizer": Fixed(value="momentum"),
            "lr": Fixed(value=0.05),
            "batch_size": Fixed(value=60),
            "prune_rate": Fixed(value=0.5),
            "epochs": Fixed(value=3),
        }
    )
    return StudySpec(
        name=name,
        storage=f"sqlite:///{tmp}/{name}.db",
        objectives=("accuracy",),
        space=space,
        sampler="random",
        **extra,
    )


def _trials(spec: StudySpec) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=spec.name, storage=spec.storage).trials


@pytest.mark.ray
@pytest.mark.slow
def test_two_workers_train_the_curve_one_worker_trains(dp_ray: Path, tmp_path: Path) -> None:
    _check_the_curve_of_two_workers(tmp_path, device="cpu")


@pytest.mark.gpu
@pytest.mark.ray
@pytest.mark.slow
def test_two_workers_sharing_a_gpu_train_the_curve_one_worker_trains(
    dp_ray: Path, tmp_path: Path
) -> None:
    # Half a GPU each: gloo over CUDA tensors, each worker's memory capped at half.
    _check_the_curve_of_two_workers(tmp_path, device="cuda", gpus_per_worker=0.5)


def _check_the_curve_of_two_workers(tmp_path: Path, *, device: str, **resources: Any) -> None:
    factory = functools.partial(
        build_objective, task="synthetic", task_options=TASK_OPTIONS, device=device
    )
    one, two = _spec(tmp_path, "one"), _spec(tmp_path, "two")
    run_local(one, objective_factory=factory, n_trials=1)
    summary = run_ray(
        two,
        objective_factory=factory,
        n_trials=1,
        workers_per_trial=2,
        storage_path=tmp_path / "ray",
        **resources,
    )

    assert (summary.complete, summary.failed) == (1, 0)
    (local,), (parallel,) = _trials(one), _trials(two)
    assert parallel.state == optuna.trial.TrialState.COMPLETE
    curves = local.user_attrs["curve"], parallel.user_attrs["curve"]
    assert [p["epoch"] for p in curves[1]] == [1, 2, 3]
    for a, b in zip(*curves, strict=True):
        for key in ("train_loss", "val_accuracy", "sparsity"):
            assert b[key] == pytest.approx(a[key], abs=1e-4), (a["epoch"], key)
    assert parallel.values == pytest.approx(local.values, abs=1e-4)
    assert parallel.user_attrs["test_accuracy"] == pytest.approx(
        local.user_attrs["test_accuracy"], abs=1e-4
    )


@pytest.mark.ray
@pytest.mark.slow
def test_a_pruned_trial_stops_every_worker_and_is_recorded_once(
    dp_ray: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "reports"
    logs.mkdir()
    # No accuracy reaches 0.99 here: the threshold pruner stops the trial after epoch 1.
    spec = _spec(tmp_path, "pruned", pruner="threshold", pruner_options={"lower": 0.99})
    summary = run_ray(
        spec,
        objective_factory=functools.partial(report_log, str(logs), "synthetic", TASK_OPTIONS),
        n_trials=1,
        workers_per_trial=2,
        storage_path=tmp_path / "ray",
    )

    (trial,) = _trials(spec)
    assert (summary.pruned, summary.complete, summary.failed) == (1, 0, 0)
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.user_attrs["pruned_at_epoch"] == trial.user_attrs["epochs"] == 1
    assert trial.user_attrs["prune_reason"].startswith("threshold pruner stopped the trial")
    assert [p["epoch"] for p in trial.user_attrs["curve"]] == [1]
    assert "test_accuracy" in trial.user_attrs  # the trainer's own result, not a kill
    # Each worker reported epoch 1 once and went no further; rank 0 was told to stop.
    reports = sorted(_reports(logs), key=lambda r: r["rank"])
    assert [(r["rank"], r["epoch"]) for r in reports] == [(0, 1), (1, 1)]
    assert reports[0]["stop"] is True


@pytest.mark.ray
@pytest.mark.slow
def test_a_killed_worker_is_retried_from_the_last_checkpoint(dp_ray: Path, tmp_path: Path) -> None:
    logs = tmp_path / "reports"
    logs.mkdir()
    marker = tmp_path / "killed"
    spec = _spec(tmp_path, "killed")
    options = {"marker": str(marker), "n_samples": 300, "batch_size": 60}
    summary = run_ray(
        spec,
        objective_factory=functools.partial(report_log, str(logs), "kill_task:make_task", options),
        n_trials=1,
        workers_per_trial=2,
        max_failures=1,
        storage_path=tmp_path / "ray",
    )

    assert marker.exists(), "the worker of rank 1 was never killed"
    (trial,) = _trials(spec)
    assert (summary.complete, summary.failed) == (1, 0)
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert [p["epoch"] for p in trial.user_attrs["curve"]] == [1, 2, 3]
    # The first attempt reported epoch 1 on both ranks and died in epoch 2; the second
    # attempt (new processes) resumed from the epoch-1 checkpoint: epochs 2 and 3 only.
    killed = int(marker.read_text())
    reports = _reports(logs)
    first = {r["pid"] for r in reports if r["epoch"] == 1}
    assert killed in first and len(first) == 2
    again = sorted((r["epoch"], r["rank"]) for r in reports if r["pid"] not in first)
    assert again == [(2, 0), (2, 1), (3, 0), (3, 1)]


@pytest.mark.ray
def test_a_data_parallel_run_without_a_pruner_still_notes_every_epoch(
    dp_ray: Path, tmp_path: Path
) -> None:
    from paretune.search.tune import (
        EpochNoteScheduler,
        epoch_result,
        final_result,
        make_scheduler,
        open_channel,
    )
    from ray.tune.schedulers import FIFOScheduler

    spec = _spec(tmp_path, "none")
    assert type(make_scheduler(spec, channel_name="c")) is FIFOScheduler  # one-worker trials
    channel = open_channel("paretune-channel:notes")  # held while the scheduler writes to it
    scheduler = make_scheduler(spec, channel_name="paretune-channel:notes", note_epochs=True)
    assert isinstance(scheduler, EpochNoteScheduler)
    trial = SimpleNamespace(trial_id="t1", config={})
    for epoch in (1, 2, 1):  # the last: a restarted worker group replaying epoch 1
        result = epoch_result(epoch, {"val_accuracy": 0.5})
        assert scheduler.on_trial_result(None, trial, result) == "CONTINUE"
    # the trainer's final result is no epoch of its own
    final = TrialOutcome(state=OutcomeState.COMPLETE, measurements={"epochs": 5})
    assert scheduler.on_trial_result(None, trial, final_result(final)) == "CONTINUE"
    assert ray.get(scheduler.channel().seen.remote("t1")) == 2
    assert ray.get(channel.stop_requested.remote("t1")) is None


@pytest.mark.ray
def test_a_trial_needing_more_gpus_than_the_cluster_has_is_refused(
    dp_ray: Path, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, "too-big")
    has = "1 GPU" if _has_cuda() else "0 GPUs"  # (this Ray's GPUs: see dp_ray)
    with pytest.raises(
        ValueError,
        match=rf"^A trial of 2 workers needs 2 GPUs \(2 x 1 per worker\); the Ray cluster has "
        rf"{has}\.$",
    ):
        run_ray(
            spec,
            objective_factory=functools.partial(build_objective, task="synthetic"),
            n_trials=1,
            workers_per_trial=2,
            gpus_per_worker=1,
            storage_path=tmp_path / "ray",
        )
    assert _trials(spec) == []  # refused before any trial started
    assert ray.is_initialized()  # the Ray it found is left running


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"workers_per_trial": 0}, "'workers_per_trial' parameter of run_ray must be an int >= 1"),
        ({"workers_per_trial": 2.0}, "'workers_per_trial' parameter of run_ray must be an int"),
        ({"cpus_per_worker": 0}, "'cpus_per_worker' parameter of run_ray must be an int >= 1"),
        ({"gpus_per_worker": 0.3}, "'gpus_per_worker' parameter of run_ray must be 0, a whole"),
        ({"gpus_per_worker": -1}, "'gpus_per_worker' parameter of run_ray must be a float >= 0"),
        (
            {"workers_per_trial": 2, "gpus_per_trial": 1},
            r"'gpus_per_trial' parameter of run_ray must be 0 \(its default\) when "
            r"workers_per_trial > 1 \(workers_per_trial=2\); size each worker with "
            r"gpus_per_worker\. Got 1 instead\.",
        ),
        (
            {"workers_per_trial": 2, "cpus_per_trial": 2},
            r"'cpus_per_trial' parameter .* size each worker with cpus_per_worker\. Got 2",
        ),
    ],
)
def test_bad_data_parallel_arguments_fail_before_ray_starts(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    started = ray.is_initialized()
    with pytest.raises(ValueError, match=match):
        run_ray(
            _spec(tmp_path, "bad"),
            objective_factory=functools.partial(build_objective, task="synthetic"),
            n_trials=1,
            **kwargs,
        )
    assert ray.is_initialized() is started


def test_data_parallel_trials_need_ray_train_v2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_TRAIN_V2_ENABLED", "0")
    started = ray.is_initialized()
    with pytest.raises(RuntimeError, match=r"workers_per_trial > 1\) run on Ray Train V2"):
        run_ray(
            _spec(tmp_path, "v1"),
            objective_factory=functools.partial(build_objective, task="synthetic"),
            n_trials=1,
            workers_per_trial=2,
        )
    assert ray.is_initialized() is started
