"""A process killed with SIGKILL mid-trial: resuming marks that trial interrupted and retries it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType

import optuna
import pytest
from optuna.trial import TrialState
from paretune.search import StudySpec, make_storage, recover_interrupted, run_local
from paretune.spaces import CategoricalDistribution, Fixed, FloatDistribution, StrategySpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

HERE = Path(__file__).parent
URL = "sqlite:///runs/r.db"

SCRIPT = textwrap.dedent(
    """
    import sys, time, json
    sys.path.insert(0, {here!r})
    import fake_trainer_search as fake
    from paretune.search import StudySpec, run_local
    from paretune.spaces import StrategySpace

    spec = StudySpec(name="r", storage={url!r}, objectives=("accuracy", "size_bits"),
                     space=StrategySpace.from_json({space!r}), sampler="random", seed=0)
    started = 0

    def objective(params, report, checkpoint_dir=None):
        global started
        started += 1
        if started == 4:  # the fourth trial hangs after one epoch, until it is killed
            report(1, {{"val_accuracy": 0.25}})
            open("blocked", "w").write(json.dumps(params))
            while True:
                time.sleep(0.05)
        return fake.fake_objective(params, report)

    run_local(spec, objective_factory=lambda: objective, n_trials=8)
    """
)

SPACE = StrategySpace(
    params={
        "lr": FloatDistribution(low=1e-4, high=1.0, log=True),
        "bits": CategoricalDistribution(choices=(2, 4, 8, 32)),
        "epochs": Fixed(value=2),
    }
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> ModuleType:
    monkeypatch.syspath_prepend(str(HERE))
    import fake_trainer_search

    return fake_trainer_search


def spec() -> StudySpec:
    return StudySpec(
        name="r",
        storage=URL,
        objectives=("accuracy", "size_bits"),
        space=SPACE,
        sampler="random",
        seed=0,
    )


def run_and_kill(workdir: Path) -> None:
    script = workdir / "run.py"
    script.write_text(SCRIPT.format(here=str(HERE), url=URL, space=SPACE.to_json()))
    process = subprocess.Popen([sys.executable, str(script)], cwd=workdir)
    try:
        deadline = time.time() + 120
        while not (workdir / "blocked").exists():
            if process.poll() is not None:
                pytest.fail(f"the study process ended early with code {process.returncode}")
            if time.time() > deadline:
                pytest.fail("the study process never reached the hanging trial")
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_sigkill_then_resume_loses_nothing_and_retries_the_killed_strategy(
    workdir: Path, fake: ModuleType
) -> None:
    run_and_kill(workdir)
    before = optuna.load_study(study_name="r", storage=URL).trials
    assert [t.state for t in before] == [TrialState.COMPLETE] * 3 + [TrialState.RUNNING]
    killed = before[3]
    assert killed.user_attrs["curve"] == [{"epoch": 1, "val_accuracy": 0.25}]

    summary = run_local(spec(), objective_factory=fake.make_fake, n_trials=8)
    assert summary.recovered == (3,)
    assert summary.complete == 8 and summary.failed == 1 and summary.ran == 5

    after = optuna.load_study(study_name="r", storage=URL).trials
    for old, new in zip(before[:3], after[:3], strict=True):  # completed trials are untouched
        assert (new.state, new.values, new.params) == (old.state, old.values, old.params)
    interrupted = after[3]
    assert interrupted.state is TrialState.FAIL
    assert interrupted.user_attrs["fail_reason"] == "interrupted"
    assert interrupted.user_attrs["curve"] == [{"epoch": 1, "val_accuracy": 0.25}]
    retry = after[4]
    assert retry.state is TrialState.COMPLETE
    assert retry.params == killed.params and retry.user_attrs["retry_of"] == 3
    assert [t.state for t in after].count(TrialState.RUNNING) == 0


def test_running_trials_of_live_processes_are_left_alone(workdir: Path) -> None:
    from paretune.search.study import mark_worker  # the same marker run_local writes

    study = optuna.create_study(
        study_name="r", storage=make_storage(URL), directions=["maximize", "minimize"]
    )
    study.set_user_attr("objectives", ["accuracy", "size_bits"])
    mine = study.ask()
    mark_worker(study, mine)  # this (live) process
    foreign = study.ask()
    study._storage.set_trial_system_attr(foreign._trial_id, "paretune:worker", "otherhost:1:0")
    unmarked = study.ask()
    dead = study.ask()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    study._storage.set_trial_system_attr(
        dead._trial_id, "paretune:worker", f"{os.uname().nodename}:{child.pid}:"
    )
    assert recover_interrupted(study) == [dead.number]
    states = {t.number: t.state for t in study.trials}
    assert states[mine.number] is TrialState.RUNNING
    assert states[foreign.number] is TrialState.RUNNING
    assert states[unmarked.number] is TrialState.RUNNING
    assert states[dead.number] is TrialState.FAIL
    assert states[dead.number + 1] is TrialState.WAITING  # queued again
