"""epochs_spent / epochs_saved over trials of every state."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState, create_trial
from paretune.search import epochs_saved, epochs_spent, trial_epochs


def test_epochs_spent_and_saved_over_mixed_states() -> None:
    trials = [
        create_trial(value=1.0, user_attrs={"epochs": 10, "strategy": {"epochs": 10}}),
        create_trial(state=TrialState.PRUNED, user_attrs={"epochs": 3, "strategy": {"epochs": 10}}),
        create_trial(state=TrialState.PRUNED, user_attrs={"epochs": 1, "strategy": {"epochs": 20}}),
        create_trial(state=TrialState.FAIL, user_attrs={"curve": [{}, {}]}),
        create_trial(state=TrialState.WAITING, user_attrs={"epochs": 99}),
    ]
    assert epochs_spent(trials) == 10 + 3 + 1 + 2
    assert epochs_saved(trials) == 7 + 19


def test_running_trials_count_by_their_curve() -> None:
    study = optuna.create_study()
    trial = study.ask()
    trial.set_user_attr("curve", [{"epoch": 1}, {"epoch": 2}, {"epoch": 3}])
    running = study.trials[0]
    assert running.state is TrialState.RUNNING
    assert trial_epochs(running) == 3
    assert epochs_spent([running]) == 3


def test_pruned_trial_without_planned_epochs_saves_nothing() -> None:
    pruned = create_trial(state=TrialState.PRUNED, user_attrs={"epochs": 2})
    assert epochs_saved([pruned]) == 0
