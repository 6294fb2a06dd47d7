"""run_ray on a real local Ray (2 CPUs): records, pruning as PRUNED, worker failures, validation."""

from __future__ import annotations

import functools
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
import pytest
from paretune.search import StopReason, StudySpec, run_local, run_ray
from paretune.search.executors import MAX_CONSECUTIVE_FAILURES, gpu_share
from paretune.search.tune import CtrlCWatch
from paretune.spaces import (
    CategoricalDistribution,
    Fixed,
    FloatDistribution,
    StrategySpace,
)

ray = pytest.importorskip("ray", reason="ray is not installed")


class SleepyObjective:
    """A trainer stand-in for executor tests: each epoch sleeps, accuracy grows with lr.

    It honours the objective contract (``report`` may stop it; ``checkpoint_dir`` holds the
    last epoch and is resumed from) and, with ``marker_dir``, writes one JSON file per call
    (process id, first epoch run, lr) so tests can find and kill the worker and see resumes.
    """

    def __init__(self, *, seconds: float, marker_dir: str | None = None) -> None:
        self.seconds = seconds
        self.marker_dir = marker_dir

    def __call__(
        self,
        params: Mapping[str, Any],
        report: Callable[[int, Mapping[str, float]], bool] | None,
        checkpoint_dir: str | None = None,
    ) -> dict[str, Any]:
        state_file = Path(checkpoint_dir, "state.json") if checkpoint_dir else None
        start, curve = 1, []
        if state_file is not None and state_file.exists():
            saved = json.loads(state_file.read_text())
            start, curve = saved["epoch"] + 1, saved["curve"]
        if self.marker_dir is not None:
            marker = Path(self.marker_dir, f"{os.getpid()}-{time.monotonic_ns()}.json")
            marker.write_text(json.dumps({"pid": os.getpid(), "start": start, "lr": params["lr"]}))
        epochs, lr = int(params["epochs"]), float(params["lr"])
        size = 100.0 * float(params.get("bits", 32))
        status, epoch = "completed", start - 1
        for epoch in range(start, epochs + 1):
            time.sleep(self.seconds)
            accuracy = 1.0 - math.exp(-3.0 * lr * epoch)
            metrics = {"val_accuracy": accuracy, "train_loss": 1.0 - accuracy, "size_bits": size}
            curve.append({"epoch": epoch, **metrics})
            if state_file is not None:
                state_file.write_text(json.dumps({"epoch": epoch, "curve": curve}))
            if report is not None and report(epoch, metrics):
                status = "stopped"
                break
        return self._result(params, curve, status)

    def _result(
        self, params: Mapping[str, Any], curve: list[dict[str, float]], status: str
    ) -> dict[str, Any]:
        last, epoch = curve[-1], len(curve)
        size = 100.0 * float(params.get("bits", 32))
        return {
            "status": status,
            "reason": "stopped by report" if status == "stopped" else "",
            "val_accuracy": last["val_accuracy"],
            "test_accuracy": last["val_accuracy"] - 0.01,
            "params": 10,
            "nonzero_params": 10,
            "sparsity": 0.0,
            "size_bits": size,
            "bitops": 1000.0,
            "latency_ms": 0.1,
            "train_seconds": self.seconds * epoch,
            "epochs": epoch,
            "curve": curve,
            "strategy": dict(params),
        }

    def run_group(
        self,
        params: list[Mapping[str, Any]],
        reports: list[Callable[[int, Mapping[str, float]], bool] | None],
    ) -> list[dict[str, Any]]:
        """A fused group's contract: the members train in step, each reports and stops alone
        (no checkpoint: a retried group starts again)."""
        if self.marker_dir is not None:
            marker = Path(self.marker_dir, f"{os.getpid()}-{time.monotonic_ns()}.json")
            marker.write_text(json.dumps({"pid": os.getpid(), "lrs": [p["lr"] for p in params]}))
        curves: list[list[dict[str, float]]] = [[] for _ in params]
        status = ["completed"] * len(params)
        active = list(range(len(params)))
        for epoch in range(1, int(params[0]["epochs"]) + 1):
            time.sleep(self.seconds)
            for k in list(active):
                lr, size = float(params[k]["lr"]), 100.0 * float(params[k].get("bits", 32))
                accuracy = 1.0 - math.exp(-3.0 * lr * epoch)
                metrics = {"val_accuracy": accuracy, "train_loss": 1 - accuracy, "size_bits": size}
                curves[k].append({"epoch": epoch, **metrics})
                report = reports[k]
                if report is not None and report(epoch, metrics):
                    status[k] = "stopped"
                    active.remove(k)
            if not active:
                break
        return [self._result(p, c, s) for p, c, s in zip(params, curves, status, strict=True)]


def sleepy(seconds: float, marker_dir: str | None = None) -> SleepyObjective:
    return SleepyObjective(seconds=seconds, marker_dir=marker_dir)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    from ray import cloudpickle

    # Ray workers cannot import this test module by name: send its objects by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # type: ignore[no-untyped-call]
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _spec(tmp: Path, name: str, **extra: Any) -> StudySpec:
    space = extra.pop(
        "space",
        StrategySpace(
            params={
                "lr": CategoricalDistribution(choices=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6)),
                "epochs": Fixed(value=4),
            }
        ),
    )
    return StudySpec(
        name=name,
        storage=f"sqlite:///{tmp}/{name}.db",
        objectives=extra.pop("objectives", ("accuracy",)),
        space=space,
        sampler=extra.pop("sampler", "random"),
        **extra,
    )


def _trials(spec: StudySpec) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=spec.name, storage=spec.storage).trials


@pytest.mark.ray
@pytest.mark.slow
def test_ray_run_records_the_same_trials_as_a_local_run(local_ray: None, tmp_path: Path) -> None:
    from paretune.studies import build_objective

    factory = functools.partial(build_objective, task="synthetic", task_options={"n_samples": 300})
    space = StrategySpace(
        params={
            "optimizer": CategoricalDistribution(choices=("sgd", "adam")),
            "lr": FloatDistribution(low=1e-3, high=0.1, log=True),
            "epochs": Fixed(value=2),
        }
    )
    objectives = ("accuracy", "size_bits")
    local = _spec(tmp_path, "local", space=space, objectives=objectives)
    remote = _spec(tmp_path, "remote", space=space, objectives=objectives)
    run_local(local, objective_factory=factory, n_trials=3)
    summary = run_ray(remote, objective_factory=factory, n_trials=3, storage_path=tmp_path / "ray")

    assert (summary.complete, summary.pruned, summary.failed, summary.ran) == (3, 0, 0, 3)
    by_local, by_ray = _trials(local), _trials(remote)
    assert [t.state for t in by_ray] == [optuna.trial.TrialState.COMPLETE] * 3
    for a, b in zip(by_local, by_ray, strict=True):
        # Same seed, same sampler, same deterministic trainer: the same trials.
        assert a.params == b.params
        assert a.values == pytest.approx(b.values)
        assert set(a.user_attrs) == set(b.user_attrs)
        assert a.user_attrs["strategy"] == b.user_attrs["strategy"]
        assert len(b.user_attrs["curve"]) == len(a.user_attrs["curve"]) == 2
        assert set(b.user_attrs["curve"][0]) == set(a.user_attrs["curve"][0])
    # The Ray study is an ordinary paretune study: a local run continues it.
    assert run_local(remote, objective_factory=factory, n_trials=4).done == 4
    assert len(_trials(remote)) == 4


@pytest.mark.ray
def test_scheduler_stops_are_recorded_pruned_with_the_epoch_reached(
    local_ray: None, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, "asha", pruner="asha", pruner_options={"reduction_factor": 2})
    summary = run_ray(
        spec,
        objective_factory=functools.partial(sleepy, 0.05),
        n_trials=8,
        max_concurrent=1,
        storage_path=tmp_path / "ray",
    )
    trials = _trials(spec)
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert summary.done == 8 and len(trials) == 8
    assert pruned, "ASHA with reduction factor 2 stopped no trial"
    for trial in pruned:
        epochs = trial.user_attrs["epochs"]
        assert trial.user_attrs["pruned_at_epoch"] == epochs < 4
        assert [p["epoch"] for p in trial.user_attrs["curve"]] == list(range(1, epochs + 1))
        assert trial.user_attrs["prune_reason"].startswith("asha pruner stopped the trial")
        assert sorted(trial.intermediate_values) == list(range(1, epochs + 1))
        assert "test_accuracy" in trial.user_attrs  # the trainer's own result, not a kill
    assert all(t.user_attrs["epochs"] == 4 for t in complete)


@pytest.mark.ray
def test_mo_asha_runs_as_a_ray_scheduler(local_ray: None, tmp_path: Path) -> None:
    space = StrategySpace(
        params={
            "lr": CategoricalDistribution(choices=(0.05, 0.1, 0.2, 0.4)),
            "bits": CategoricalDistribution(choices=(8, 32)),
            "epochs": Fixed(value=4),
        }
    )
    spec = _spec(
        tmp_path,
        "moasha",
        space=space,
        objectives=("accuracy", "size_bits"),
        pruner="mo-asha",
        pruner_options={"min_epochs": 1, "reduction_factor": 3},
    )
    run_ray(
        spec,
        objective_factory=functools.partial(sleepy, 0.05),
        n_trials=8,
        max_concurrent=1,
        storage_path=tmp_path / "ray",
    )
    trials = _trials(spec)
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(trials) == 8 and pruned
    for trial in pruned:
        reason = trial.user_attrs["prune_reason"]
        assert reason.startswith("mo-asha pruner stopped the trial") and ": rank" in reason
        assert trial.user_attrs["pruned_at_epoch"] in (1, 3)  # the rungs below epoch 4


def _killer(markers: Path, killed: list[int]) -> threading.Thread:
    """A started thread that kills the first worker that writes a marker, 1.5 s in (epoch 1
    reported, epoch 2 under way), and notes its pid in ``killed``."""

    def kill_first_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(markers.iterdir()):
            time.sleep(0.05)
        first = json.loads(sorted(markers.iterdir())[0].read_text())
        time.sleep(1.5)
        os.kill(first["pid"], signal.SIGKILL)
        killed.append(first["pid"])

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    return killer


@pytest.mark.ray
def test_a_killed_worker_is_retried_from_its_checkpoint(local_ray: None, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    spec = _spec(tmp_path, "killed")
    killed: list[int] = []
    killer = _killer(markers, killed)
    summary = run_ray(
        spec,
        objective_factory=functools.partial(sleepy, 1.0, str(markers)),
        n_trials=2,
        max_failures=2,
        storage_path=tmp_path / "ray",
    )
    killer.join()

    calls = [json.loads(path.read_text()) for path in markers.iterdir()]
    victim = next(call for call in calls if call["pid"] == killed[0])
    retries = [c for c in calls if c["lr"] == victim["lr"] and c["pid"] != victim["pid"]]
    assert retries and retries[-1]["start"] > 1, calls  # resumed, not restarted
    assert (summary.complete, summary.failed) == (2, 0)
    for trial in _trials(spec):
        assert [p["epoch"] for p in trial.user_attrs["curve"]] == [1, 2, 3, 4]


@pytest.mark.ray
def test_failing_objective_is_recorded_fail_with_its_reason(
    local_ray: None, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, "failing")
    summary = run_ray(
        spec,
        objective_factory=functools.partial(_broken_objective),
        n_trials=1,
        max_failures=0,
        storage_path=tmp_path / "ray",
    )
    trials = _trials(spec)
    # it stops after MAX_CONSECUTIVE_FAILURES failed trials in a row, as run_local does
    assert summary.stop_reason is StopReason.FAILURES
    assert summary.done == 0 and summary.failed == MAX_CONSECUTIVE_FAILURES == len(trials)
    assert {t.user_attrs["fail_reason"] for t in trials} == {
        "RuntimeError: CUDA out of memory (simulated)"
    }


def _raise(params: Mapping[str, Any], report: Any, checkpoint_dir: str | None = None) -> None:
    raise RuntimeError("CUDA out of memory (simulated)")


def _broken_objective() -> Callable[..., Any]:
    return _raise


def _fails_at_low_lr(
    params: Mapping[str, Any], report: Any, checkpoint_dir: str | None = None
) -> dict[str, Any]:
    if float(params["lr"]) <= 0.4:  # four of the six choices
        raise RuntimeError("low lr (simulated)")
    return sleepy(0.0)(params, report, checkpoint_dir)


def _mostly_failing() -> Callable[..., Any]:
    return _fails_at_low_lr


@pytest.mark.ray
@pytest.mark.slow
def test_failures_not_in_a_row_do_not_stop_a_ray_run(local_ray: None, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "sometimes", seed=3)
    summary = run_ray(
        spec,
        objective_factory=functools.partial(_mostly_failing),
        n_trials=4,
        max_failures=0,
        max_concurrent=1,
        storage_path=tmp_path / "ray",
    )
    trials = _trials(spec)
    states = [t.state for t in sorted(trials, key=lambda t: t.number)]
    assert summary.stop_reason is StopReason.N_TRIALS and summary.complete == 4
    assert states.count(optuna.trial.TrialState.FAIL) == summary.failed >= 4  # n_trials of them


def _interrupt_once(
    params: Mapping[str, Any],
    report: Any,
    checkpoint_dir: str | None = None,
    *,
    driver: int,
    marker: str,
) -> dict[str, Any]:
    if not os.path.exists(marker):  # the first trial presses Ctrl-C on the driver
        Path(marker).touch()
        os.kill(driver, signal.SIGINT)
        time.sleep(30)  # the driver ends the run meanwhile
    return sleepy(0.0)(params, report, checkpoint_dir)


def _interrupting(driver: int, marker: str) -> Callable[..., Any]:
    return functools.partial(_interrupt_once, driver=driver, marker=marker)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_experiment_whose_trials_another_run_recovered_is_not_restored(
    local_ray: None, tmp_path: Path
) -> None:
    """A Ray run interrupted, its RUNNING trials then recovered by another run (recorded
    FAIL, interrupted, as ``run_local`` records them): the next Ray run starts a new
    experiment instead of restoring the stale one (which resumed finished trials and hung)."""
    spec = _spec(tmp_path, "stale")
    interrupting = functools.partial(_interrupting, os.getpid(), str(tmp_path / "pressed"))
    with pytest.raises(KeyboardInterrupt):
        run_ray(spec, objective_factory=interrupting, n_trials=2, storage_path=tmp_path / "ray")
    study = optuna.load_study(study_name=spec.name, storage=spec.storage)
    running = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert running  # left RUNNING for the experiment to resume
    for trial in running:  # another run recovers them
        study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", "interrupted")
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    summary = run_ray(
        spec,
        objective_factory=functools.partial(sleepy, 0.0),
        n_trials=2,
        storage_path=tmp_path / "ray",
    )
    assert summary.complete == 2 and summary.stop_reason is StopReason.N_TRIALS


def _ctrl_c_the_driver(config: Mapping[str, Any]) -> None:
    """A Tune trainable that presses Ctrl-C on the driver (``config['pid']``, 0: never)."""
    from ray import tune

    tune.report({"step": 1})
    if config["pid"]:
        os.kill(config["pid"], signal.SIGINT)
        time.sleep(20)  # the driver ends the run meanwhile
    tune.report({"step": 2})


@pytest.mark.ray
@pytest.mark.parametrize("ctrl_c", [False, True])
def test_ctrl_c_watch_tells_whether_tune_received_the_signal(
    local_ray: None, tmp_path: Path, ctrl_c: bool
) -> None:
    from ray import tune

    tuner = tune.Tuner(
        _ctrl_c_the_driver,
        param_space={"pid": os.getpid() if ctrl_c else 0},
        run_config=tune.RunConfig(name="watch", storage_path=str(tmp_path), verbose=0),
    )
    before = signal.getsignal(signal.SIGINT)
    with CtrlCWatch() as watch:
        grid = tuner.fit()
    assert watch.fired is ctrl_c
    assert grid[0].metrics["step"] == (1 if ctrl_c else 2)
    assert signal.getsignal(signal.SIGINT) == before  # the driver's handler is back


def test_ctrl_c_watch_outside_the_main_thread_never_fires() -> None:
    seen: list[bool] = []

    def watch_in_thread() -> None:
        with CtrlCWatch() as watch:
            pass
        seen.append(watch.fired)

    worker = threading.Thread(target=watch_in_thread)
    worker.start()
    worker.join()
    assert seen == [False]


@pytest.mark.parametrize(
    ("value", "expected"), [(0, None), (1, None), (2, None), (0.5, 0.5), (0.25, 0.25), (0.2, 0.2)]
)
def test_gpu_share_accepts_whole_gpus_and_fractions_that_divide_one(
    value: float, expected: float | None
) -> None:
    assert gpu_share(value) == expected


@pytest.mark.parametrize("value", [0.3, 0.4, 1.5, -1, True, "0.5"])
def test_gpu_share_refuses_other_values(value: Any) -> None:
    with pytest.raises(ValueError, match="'gpus_per_trial' parameter of run_ray must be"):
        gpu_share(value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_trials": -1}, "'n_trials' parameter of run_ray must be an int >= 0. Got -1"),
        ({"cpus_per_trial": 0}, "'cpus_per_trial' parameter of run_ray must be a float > 0"),
        ({"max_concurrent": 0}, "'max_concurrent' parameter of run_ray must be an int >= 1"),
        ({"max_failures": -1}, "'max_failures' parameter of run_ray must be an int >= 0"),
        ({"timeout": 0}, "'timeout' parameter of run_ray must be a number > 0"),
        ({"gpus_per_trial": 0.3}, "fraction that divides 1"),
    ],
)
def test_bad_arguments_fail_before_ray_starts(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    args: dict[str, Any] = {"objective_factory": functools.partial(sleepy, 0.0), "n_trials": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        run_ray(_spec(tmp_path, "bad"), **args)


@pytest.mark.parametrize("run", [run_local, run_ray])
def test_both_executors_check_n_trials_and_timeout_the_same_way(run: Any, tmp_path: Path) -> None:
    factory = functools.partial(sleepy, 0.0)
    name = run.__name__
    with pytest.raises(ValueError, match=f"'n_trials' parameter of {name} must be an int >= 0"):
        run(_spec(tmp_path, "args"), objective_factory=factory, n_trials=True)
    with pytest.raises(
        ValueError, match=rf"'timeout' parameter of {name} must be a number > 0 \(seconds\)"
    ):
        run(_spec(tmp_path, "args"), objective_factory=factory, n_trials=1, timeout=-1.0)


def test_nothing_left_to_run_returns_the_summary_a_local_run_does(tmp_path: Path) -> None:
    factory = functools.partial(sleepy, 0.0)
    local = run_local(_spec(tmp_path, "none"), objective_factory=factory, n_trials=0)
    started = ray.is_initialized()
    on_ray = run_ray(_spec(tmp_path, "none"), objective_factory=factory, n_trials=0)
    assert ray.is_initialized() is started  # it returned before starting Ray
    for summary in (local, on_ray):
        assert summary.stop_reason is StopReason.ALREADY_DONE
        assert (summary.done, summary.ran, summary.failed, summary.front_size) == (0, 0, 0, 0)
    assert local.study_name == on_ray.study_name and local.n_trials == on_ray.n_trials == 0


def test_unknown_pruner_options_are_refused_before_ray_starts(tmp_path: Path) -> None:
    started = ray.is_initialized()
    with pytest.raises(ValueError, match="Unknown option 'patience' for pruner 'median'"):
        spec = _spec(tmp_path, "opts", pruner="median", pruner_options={"patience": 2})
        run_ray(spec, objective_factory=functools.partial(sleepy, 0.0), n_trials=1)
    assert ray.is_initialized() is started


def _fused_factory() -> Any:
    from paretune.studies import build_objective

    return functools.partial(build_objective, task="synthetic", task_options={"n_samples": 300})


@pytest.mark.ray
@pytest.mark.slow
def test_a_fused_ray_run_records_each_member_as_a_local_fused_run(
    local_ray: None, tmp_path: Path
) -> None:
    space = StrategySpace(
        params={
            "optimizer": CategoricalDistribution(choices=("sgd", "adam")),
            "lr": FloatDistribution(low=1e-3, high=0.1, log=True),
            "bits": CategoricalDistribution(choices=(4, 32)),
            "epochs": Fixed(value=2),
        }
    )
    objectives = ("accuracy", "size_bits")
    local = _spec(tmp_path, "flocal", space=space, objectives=objectives)
    remote = _spec(tmp_path, "fremote", space=space, objectives=objectives)
    run_local(local, objective_factory=_fused_factory(), n_trials=6, fuse=3)
    summary = run_ray(
        remote,
        objective_factory=_fused_factory(),
        n_trials=6,
        fuse=3,
        max_concurrent=1,
        storage_path=tmp_path / "ray",
    )

    assert (summary.complete, summary.failed, summary.ran) == (6, 0, 6)
    by_local, by_ray = _trials(local), _trials(remote)
    tune_trials = [d for d in (tmp_path / "ray" / "fremote").iterdir() if d.is_dir()]
    assert len(tune_trials) == 2 and len(by_ray) == 6  # three Optuna trials per Tune trial
    assert all(d.name.startswith("run_group_trial") for d in tune_trials)
    for a, b in zip(by_local, by_ray, strict=True):
        assert a.params == b.params  # same seed, asked in the same groups
        assert b.values == pytest.approx(a.values, abs=0.02)
        assert set(a.user_attrs) == set(b.user_attrs)
        assert [p["epoch"] for p in b.user_attrs["curve"]] == [1, 2]
        assert sorted(b.intermediate_values) == [1, 2]


@pytest.mark.ray
def test_mo_asha_stops_fused_members_alone_on_ray(local_ray: None, tmp_path: Path) -> None:
    space = StrategySpace(
        params={
            "lr": CategoricalDistribution(choices=(0.001, 0.01, 0.1, 0.3)),
            "bits": CategoricalDistribution(choices=(4, 32)),
            "epochs": Fixed(value=4),
        }
    )
    spec = _spec(
        tmp_path,
        "fmoasha",
        space=space,
        objectives=("accuracy", "size_bits"),
        pruner="mo-asha",
        pruner_options={"min_epochs": 1, "reduction_factor": 2},
    )
    run_ray(
        spec,
        objective_factory=_fused_factory(),
        n_trials=8,
        fuse=4,
        max_concurrent=1,
        storage_path=tmp_path / "ray",
    )
    trials = _trials(spec)
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 8 and pruned and complete
    for trial in pruned:
        epochs = trial.user_attrs["epochs"]
        assert trial.user_attrs["pruned_at_epoch"] == epochs < 4
        assert [p["epoch"] for p in trial.user_attrs["curve"]] == list(range(1, epochs + 1))
        assert trial.user_attrs["prune_reason"].startswith("mo-asha pruner stopped the trial")
    # a stopped member left its group alone: the second group has members of both kinds
    second = trials[4:]
    assert {t.state for t in second} == {
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.COMPLETE,
    }
    assert all(t.user_attrs["epochs"] == 4 for t in complete)


@pytest.mark.ray
def test_a_diverging_fused_member_fails_alone_on_ray(local_ray: None, tmp_path: Path) -> None:
    space = StrategySpace(
        params={
            "optimizer": Fixed(value="sgd"),
            "lr": CategoricalDistribution(choices=(1e9, 0.01)),
            "epochs": Fixed(value=2),
        }
    )
    spec = _spec(tmp_path, "fdiverge", space=space)
    run_ray(
        spec,
        objective_factory=_fused_factory(),
        n_trials=4,
        fuse=4,
        storage_path=tmp_path / "ray",
    )
    trials = _trials(spec)
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all(t.params["lr"] == 1e9 for t in failed)
    assert all("training loss became" in t.user_attrs["fail_reason"] for t in failed)
    assert any(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def test_fuse_is_checked_before_ray_starts(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "fbad")
    with pytest.raises(ValueError, match="The 'fuse' parameter of run_ray must be an int"):
        run_ray(spec, objective_factory=_fused_factory(), n_trials=2, fuse=0)
    with pytest.raises(ValueError, match="must be 1 when workers_per_trial > 1"):
        run_ray(spec, objective_factory=_fused_factory(), n_trials=2, fuse=2, workers_per_trial=2)


@pytest.mark.ray
def test_a_killed_group_trains_again_and_records_each_epoch_once(
    local_ray: None, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    spec = _spec(tmp_path, "fkilled")
    killed: list[int] = []
    killer = _killer(markers, killed)
    summary = run_ray(
        spec,
        objective_factory=functools.partial(sleepy, 1.0, str(markers)),
        n_trials=2,
        fuse=2,
        max_failures=2,
        storage_path=tmp_path / "ray",
    )
    killer.join()

    calls = [json.loads(path.read_text()) for path in markers.iterdir()]
    assert len(calls) == 2 and {c["pid"] for c in calls} != {killed[0]}  # trained again
    assert calls[0]["lrs"] == calls[1]["lrs"]  # the same group
    assert (summary.complete, summary.failed) == (2, 0)
    for trial in _trials(spec):
        assert [p["epoch"] for p in trial.user_attrs["curve"]] == [1, 2, 3, 4]
        assert sorted(trial.intermediate_values) == [1, 2, 3, 4]
