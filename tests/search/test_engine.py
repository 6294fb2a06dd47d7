"""run_local in one process: n_trials semantics, failures, progress, budget, Ctrl-C."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from paretune.search import Progress, StopReason, StudySpec, epochs_spent, run_local
from paretune.spaces import CategoricalDistribution, Fixed, FloatDistribution, StrategySpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = StrategySpace(
    params={
        "lr": FloatDistribution(low=1e-4, high=1.0, log=True),
        "bits": CategoricalDistribution(choices=(2, 4, 8, 32)),
        "epochs": Fixed(value=3),
    }
)
URL = "sqlite:///runs/e.db"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> ModuleType:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import fake_trainer_search

    return fake_trainer_search


def spec(**changes: Any) -> StudySpec:
    fields: dict[str, Any] = {
        "name": "e",
        "storage": URL,
        "objectives": ("accuracy", "size_bits"),
        "space": SPACE,
        "sampler": "random",
        "seed": 5,
    }
    fields.update(changes)
    return StudySpec(**fields)


def load() -> optuna.Study:
    return optuna.load_study(study_name="e", storage=URL)


def test_every_trial_records_params_values_and_attributes(fake: ModuleType) -> None:
    summary = run_local(spec(), objective_factory=fake.make_fake, n_trials=4)
    assert (summary.complete, summary.pruned, summary.failed, summary.ran) == (4, 0, 0, 4)
    assert summary.stop_reason is StopReason.N_TRIALS
    assert summary.epochs_spent == 12 and summary.front_size >= 1
    for trial in load().trials:
        assert set(trial.params) == {"lr", "bits"}  # sampled only; fixed epochs is not a param
        strategy = trial.user_attrs["strategy"]
        assert strategy == {**trial.params, "epochs": 3}
        assert trial.values == [trial.user_attrs["val_accuracy"], 1000.0 * trial.params["bits"]]
        assert trial.user_attrs["epochs"] == 3 and len(trial.user_attrs["curve"]) == 3
        assert trial.user_attrs["curve"][0]["epoch"] == 1  # the reporter's curve


def test_n_trials_counts_finished_trials_and_resumes(fake: ModuleType) -> None:
    first = run_local(spec(), objective_factory=fake.make_fake, n_trials=3)
    assert first.ran == 3
    again = run_local(spec(), objective_factory=fake.make_fake, n_trials=3)
    assert again.stop_reason is StopReason.ALREADY_DONE and again.ran == 0
    extended = run_local(spec(), objective_factory=fake.make_fake, n_trials=5)
    assert extended.ran == 2 and extended.done == 5
    numbers = [t.number for t in load().trials]
    assert numbers == [0, 1, 2, 3, 4]
    # a resumed run does not replay the first run's random draws
    lrs = [t.params["lr"] for t in load().trials]
    assert len(set(lrs)) == 5


def test_same_seed_same_trials(fake: ModuleType, tmp_path: Path) -> None:
    run_local(spec(), objective_factory=fake.make_fake, n_trials=4)
    other = spec(storage=f"sqlite:///{tmp_path}/other.db")
    run_local(other, objective_factory=fake.make_fake, n_trials=4)
    first = [t.params for t in load().trials]
    second = [t.params for t in optuna.load_study(study_name="e", storage=other.storage).trials]
    assert first == second
    third = spec(storage=f"sqlite:///{tmp_path}/third.db", seed=6)
    run_local(third, objective_factory=fake.make_fake, n_trials=4)
    assert [
        t.params for t in optuna.load_study(study_name="e", storage=third.storage).trials
    ] != first


def test_raising_and_diverging_objectives_fail_and_the_study_goes_on(fake: ModuleType) -> None:
    factory = partial(fake.make_fake, raise_above_lr=0.3, diverge_above_lr=0.03)
    summary = run_local(spec(seed=0), objective_factory=factory, n_trials=6)
    assert summary.done == 6 and summary.failed >= 1
    failed = [t for t in load().trials if t.state is TrialState.FAIL]
    assert len(failed) == summary.failed
    for trial in failed:
        reason = trial.user_attrs["fail_reason"]
        if trial.params["lr"] > 0.3:
            assert reason == f"ValueError: lr={trial.params['lr']} is too large for this fake"
        else:
            assert reason == "loss is nan at epoch 1"
            assert trial.user_attrs["curve"][0]["val_accuracy"] == 0.1
    complete = [t for t in load().trials if t.state is TrialState.COMPLETE]
    assert len(complete) == 6 and all(t.params["lr"] <= 0.03 for t in complete)


def test_a_broken_objective_stops_after_consecutive_failures(fake: ModuleType) -> None:
    from paretune.search.executors import MAX_CONSECUTIVE_FAILURES

    factory = partial(fake.make_fake, raise_above_lr=0.0)  # every trial raises
    summary = run_local(spec(), objective_factory=factory, n_trials=50)
    assert summary.stop_reason is StopReason.FAILURES
    assert summary.failed == summary.ran == MAX_CONSECUTIVE_FAILURES and summary.done == 0


def test_progress_reports_each_trial(fake: ModuleType) -> None:
    seen: list[Progress] = []
    run_local(spec(), objective_factory=fake.make_fake, n_trials=3, progress=seen.append)
    ends = [p for p in seen if p.running == 0]  # before the first trial, then after each one
    assert [p.done for p in ends] == [0, 1, 2, 3]
    assert all(p.running_epochs == 0 for p in ends)
    # and after each epoch a running trial reports (the progress display moves per epoch)
    assert [p.running_epochs for p in seen if p.running] == [1, 2, 3] * 3
    assert all(p.n_trials == 3 and p.failed == 0 for p in seen)
    assert seen[-1].epochs_spent == 9 and seen[-1].front_size >= 1
    assert seen[-1].elapsed_s >= seen[0].elapsed_s


def test_max_total_epochs_stops_starting_trials(fake: ModuleType) -> None:
    summary = run_local(spec(max_total_epochs=7), objective_factory=fake.make_fake, n_trials=10)
    assert summary.stop_reason is StopReason.MAX_TOTAL_EPOCHS
    assert summary.done == 3 and epochs_spent(load().trials) == 9


def test_timeout_stops_starting_trials(fake: ModuleType) -> None:
    factory = partial(fake.make_fake, sleep_s=0.2)
    summary = run_local(spec(), objective_factory=factory, n_trials=50, timeout=1.0)
    assert summary.stop_reason is StopReason.TIMEOUT
    assert 1 <= summary.done < 50


def test_constraints_reach_optuna(fake: ModuleType) -> None:
    run_local(
        spec(objectives=("accuracy",), constraints={"size_bits": 5000}),
        objective_factory=fake.make_fake,
        n_trials=6,
    )
    for trial in load().trials:
        assert trial.constraints == {"size_bits": 1000.0 * trial.params["bits"] - 5000.0}


def test_keyboard_interrupt_records_the_trial_and_requeues_it(fake: ModuleType) -> None:
    calls: list[dict[str, Any]] = []

    def objective(params: dict[str, Any], report: Any, checkpoint_dir: Any = None) -> Any:
        calls.append(params)
        if len(calls) == 2:
            report(1, {"val_accuracy": 0.2})
            raise KeyboardInterrupt
        return fake.fake_objective(params, report)

    with pytest.raises(KeyboardInterrupt):
        run_local(spec(), objective_factory=lambda: objective, n_trials=4)
    trials = load().trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    assert trials[1].user_attrs["fail_reason"] == "interrupted"
    assert trials[1].user_attrs["curve"] == [{"epoch": 1, "val_accuracy": 0.2}]
    assert trials[2].user_attrs == {"retry_of": 1}
    summary = run_local(spec(), objective_factory=fake.make_fake, n_trials=4)
    assert summary.ran == 3 and summary.done == 4
    retried = load().trials[2]
    assert retried.state is TrialState.COMPLETE and retried.user_attrs["retry_of"] == 1
    assert retried.params == trials[1].params


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_trials": -1}, "The 'n_trials' parameter of run_local must be an int >= 0"),
        ({"n_trials": 2, "timeout": 0}, "The 'timeout' parameter of run_local must be a number"),
        ({"n_trials": 2, "jobs": 0}, "The 'jobs' parameter of run_local must be an int >= 1"),
        ({"n_trials": 2, "jobs": 2}, "must be 1 with a SQLite storage"),
    ],
)
def test_bad_arguments(fake: ModuleType, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_local(spec(), objective_factory=fake.make_fake, **kwargs)
