"""The trial-slot quota: separate processes on one study end with exactly ``n_trials``.

Each process is a separate Python interpreter calling ``run_local`` (no shared memory, as
separate ``paretune run`` commands or hosts), on SQLite, a journal file and a real
PostgreSQL server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from paretune.search import (
    OutcomeState,
    SlotCounts,
    StudySpec,
    TrialOutcome,
    TrialSlots,
    make_storage,
    open_study,
    record_failure,
    run_local,
)
from paretune.spaces import FloatDistribution, StrategySpace

SPACE = StrategySpace(params={"lr": FloatDistribution(low=0.0, high=1.0)})

# One process of the study: a trial sleeps a little (so the processes overlap) and fails when
# lr > 0.8 (a FAIL gives its slot back: the quota must still end exactly at n_trials).
WORKER = """\
import sys, time
from paretune.search import OutcomeState, StudySpec, TrialOutcome, run_local
from paretune.spaces import FloatDistribution, StrategySpace

def objective(params, report, checkpoint_dir=None):
    time.sleep(0.02)
    if params["lr"] > 0.8:
        raise ValueError("too large")
    report(1, {"val_accuracy": params["lr"]})
    return TrialOutcome(state=OutcomeState.COMPLETE, strategy=params,
                        measurements={"val_accuracy": params["lr"], "epochs": 1})

spec = StudySpec(name="quota", storage=sys.argv[1], objectives=("accuracy",), sampler="random",
                 space=StrategySpace(params={"lr": FloatDistribution(low=0.0, high=1.0)}))
summary = run_local(spec, objective_factory=lambda: objective, n_trials=int(sys.argv[2]))
print(summary.ran, summary.stop_reason.value, summary.done)
"""


def _storage(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path}/q.db" if kind == "sqlite" else f"journal:///{tmp_path}/q.log"


def _check_exact(url: str, n_trials: int) -> list[optuna.trial.FrozenTrial]:
    trials = optuna.load_study(study_name="quota", storage=make_storage(url)).get_trials()
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == n_trials
    assert states.count(TrialState.RUNNING) == 0 and states.count(TrialState.WAITING) == 0
    assert sorted(t.number for t in trials) == list(range(len(trials)))  # no duplicate number
    lrs = [t.params["lr"] for t in trials if t.state is TrialState.COMPLETE]
    assert len(set(lrs)) == len(lrs)  # no strategy ran twice
    return trials


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_four_processes_end_with_exactly_n_trials(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = _storage(kind, tmp_path, request)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, "20"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    trials = _check_exact(url, 20)
    ran = [int(out.split()[0]) for out, _ in outputs]
    assert sum(ran) == len(trials)  # every trial was run by exactly one process
    assert sum(r > 0 for r in ran) >= 2  # the processes did share the work
    # each process ends on a truthful reason: the study is full, or the slots left were held
    # by the others' running trials; one that started after the others had filled the study
    # ran nothing and says so
    for out, _ in outputs:
        count, reason = int(out.split()[0]), out.split()[1]
        assert reason in {"n_trials", "slots_held"} or (reason == "already_done" and count == 0)


def _objective(params: dict[str, Any], report: Any, checkpoint_dir: Any = None) -> TrialOutcome:
    report(1, {"val_accuracy": params["lr"]})
    return TrialOutcome(
        state=OutcomeState.COMPLETE,
        strategy=params,
        measurements={"val_accuracy": params["lr"], "epochs": 1},
    )


def test_a_failed_trial_gives_its_slot_back(tmp_path: Path) -> None:
    spec = StudySpec(
        name="slots", storage=f"journal:///{tmp_path}/s.log", objectives=("accuracy",), space=SPACE
    )
    study = open_study(spec)
    slots = TrialSlots(spec=spec, study=study, n_trials=1)
    first, counts = slots.claim()
    assert first is not None and counts == SlotCounts(0, 0, 0, 0, 0)
    assert slots.claim() == (None, SlotCounts(0, 0, 0, 1, 0))  # held by the running trial
    record_failure(study, first, "broken")
    second, counts = slots.claim()
    assert second is not None and second.number == 1 and counts.failed == 1
    slots.close()


def test_a_run_stops_when_other_processes_hold_the_slots_left(tmp_path: Path) -> None:
    spec = StudySpec(
        name="held", storage=f"journal:///{tmp_path}/h.log", objectives=("accuracy",), space=SPACE
    )
    # another process holds two of the three slots (its trials are running)
    other = TrialSlots(spec=spec, study=open_study(spec), n_trials=3)
    held = [other.claim()[0] for _ in range(2)]
    assert all(trial is not None for trial in held)
    summary = run_local(spec, objective_factory=lambda: _objective, n_trials=3)
    assert (summary.ran, summary.done, summary.running) == (1, 1, 2)
    assert summary.stop_reason.value == "slots_held"
    other.close()
