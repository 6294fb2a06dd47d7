"""--jobs N: worker processes on one journal file lose and duplicate no trial."""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path
from types import ModuleType

import optuna
import pytest
from optuna.trial import TrialState
from paretune.search import Progress, StopReason, StudySpec, make_storage, run_local
from paretune.spaces import CategoricalDistribution, Fixed, FloatDistribution, StrategySpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = StrategySpace(
    params={
        "lr": FloatDistribution(low=1e-4, high=1.0, log=True),
        "bits": CategoricalDistribution(choices=(2, 4, 8, 32)),
        "epochs": Fixed(value=2),
    }
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> ModuleType:
    # on sys.path before the workers start, so that they can import the objective factory
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import fake_trainer_search

    return fake_trainer_search


@pytest.mark.slow
def test_four_processes_fifty_trials_each(fake: ModuleType) -> None:
    url = "journal:///runs/jobs.log"
    spec = StudySpec(
        name="jobs",
        storage=url,
        objectives=("accuracy", "size_bits"),
        space=SPACE,
        sampler="random",
        seed=0,
    )
    seen: list[Progress] = []
    # a few trials raise: their slots are handed out again, so the study still ends at 200
    factory = partial(fake.make_fake, raise_above_lr=0.7)
    summary = run_local(spec, objective_factory=factory, n_trials=200, jobs=4, progress=seen.append)
    assert summary.stop_reason is StopReason.N_TRIALS
    assert summary.complete == 200 and summary.ran == 200 + summary.failed

    trials = optuna.load_study(study_name="jobs", storage=make_storage(url)).trials
    states = Counter(t.state for t in trials)
    assert states[TrialState.COMPLETE] == 200
    assert states[TrialState.FAIL] == summary.failed
    assert set(states) <= {TrialState.COMPLETE, TrialState.FAIL}  # nothing RUNNING or WAITING
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    # every worker sampled its own sequence: no two trials share a strategy
    assert len({t.params["lr"] for t in complete}) == 200
    for trial in complete:
        assert trial.user_attrs["strategy"] == {**trial.params, "epochs": 2}
        assert trial.values == [trial.user_attrs["val_accuracy"], 1000.0 * trial.params["bits"]]
    # four workers wrote (each trial carries its worker's pid)
    workers = {t.system_attrs["paretune:worker"].split(":")[1] for t in trials}
    assert len(workers) == 4
    assert seen and seen[-1].done == 200

    again = run_local(spec, objective_factory=factory, n_trials=200, jobs=4)
    assert again.stop_reason is StopReason.ALREADY_DONE


def test_sqlite_with_several_jobs_is_refused_with_the_alternatives(fake: ModuleType) -> None:
    spec = StudySpec(name="j", storage="sqlite:///runs/j.db", objectives=("accuracy",), space=SPACE)
    with pytest.raises(ValueError) as info:
        run_local(spec, objective_factory=fake.make_fake, n_trials=4, jobs=2)
    message = str(info.value)
    assert "SQLite fails under parallel writers" in message
    assert "journal:///runs/NAME.log" in message and "postgresql://" in message
    assert not (Path("runs") / "j.db").exists()


def test_a_worker_killed_mid_trial_is_recovered(fake: ModuleType) -> None:
    url = "journal:///runs/kill.log"
    spec = StudySpec(
        name="kill", storage=url, objectives=("accuracy",), space=SPACE, sampler="random"
    )
    factory = partial(fake.make_fake, kill_once=str(Path("killed").resolve()))
    # the other worker (or the parent, once both ended) recovers the trial: FAIL interrupted
    with pytest.raises(RuntimeError, match=r"exited with code -9\. "):
        run_local(spec, objective_factory=factory, n_trials=6, jobs=2)
    trials = optuna.load_study(study_name="kill", storage=make_storage(url)).trials
    failed = [t for t in trials if t.state is TrialState.FAIL]
    assert len(failed) == 1 and failed[0].user_attrs["fail_reason"] == "interrupted"
    assert [t.state for t in trials].count(TrialState.RUNNING) == 0
    summary = run_local(spec, objective_factory=factory, n_trials=6, jobs=2)
    assert summary.complete == 6
    retried = [
        t
        for t in optuna.load_study(study_name="kill", storage=make_storage(url)).trials
        if t.user_attrs.get("retry_of") == failed[0].number
    ]
    assert len(retried) == 1 and retried[0].params == failed[0].params


def test_objective_factory_must_pickle_for_workers(fake: ModuleType) -> None:
    spec = StudySpec(
        name="p", storage="journal:///runs/p.log", objectives=("accuracy",), space=SPACE
    )
    with pytest.raises(ValueError, match="must be picklable when jobs > 1"):
        run_local(spec, objective_factory=lambda: fake.fake_objective, n_trials=2, jobs=2)


def test_a_trial_counted_by_a_claim_and_by_its_worker_counts_once() -> None:
    """A claim can read a trial that another worker has told the storage of but not counted
    yet; the run's progress counts it once (it read 201 of 200 trials at times)."""
    from paretune.search.executors import RunCounters, TrialCounts
    from paretune.search.study import SlotCounts

    counters = RunCounters(counts=TrialCounts(complete=5, pruned=1, failed=0), epochs=0)
    counters.start(SlotCounts(complete=5, pruned=1, failed=0, running=0, waiting=0))
    # the first trial ends COMPLETE in the storage; a second claim reads it before its worker
    # counts it
    counters.start(SlotCounts(complete=6, pruned=1, failed=0, running=1, waiting=0))
    counters.finish(TrialState.COMPLETE, epochs=2)
    assert counters.counts() == TrialCounts(complete=6, pruned=1, failed=0)
    # another process's trials, read at a claim, count too
    counters.start(SlotCounts(complete=9, pruned=1, failed=2, running=1, waiting=0))
    counters.finish(TrialState.PRUNED, epochs=1)
    assert counters.counts() == TrialCounts(complete=9, pruned=2, failed=2)
    assert counters.ran() == 2 and counters.running() == 1
