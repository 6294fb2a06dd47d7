"""Epoch accounting over a study's trials: how many were trained, how many pruning saved."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

__all__ = ["epochs_saved", "epochs_spent", "trial_epochs"]


def trial_epochs(trial: FrozenTrial) -> int:
    """Epochs a trial has trained: its ``epochs`` attribute, else the length of its curve.

    Examples:
        >>> import optuna
        >>> t = optuna.trial.create_trial(value=1.0, user_attrs={"curve": [{}, {}]})
        >>> trial_epochs(t)
        2
    """
    epochs = trial.user_attrs.get("epochs")
    if isinstance(epochs, int) and not isinstance(epochs, bool):
        return epochs
    curve = trial.user_attrs.get("curve")
    return len(curve) if isinstance(curve, list) else 0


def epochs_spent(trials: Iterable[FrozenTrial]) -> int:
    """Epochs trained by finished and running trials (waiting ones have trained none).

    Examples:
        >>> import optuna
        >>> done = optuna.trial.create_trial(value=1.0, user_attrs={"epochs": 5})
        >>> pruned = optuna.trial.create_trial(
        ...     state=optuna.trial.TrialState.PRUNED, user_attrs={"epochs": 2})
        >>> epochs_spent([done, pruned])
        7
    """
    from optuna.trial import TrialState

    return sum(trial_epochs(t) for t in trials if t.state is not TrialState.WAITING)


def epochs_saved(trials: Iterable[FrozenTrial]) -> int:
    """Epochs pruning saved: for each PRUNED trial, its planned epochs minus those it ran.

    The planned epochs are ``strategy["epochs"]``; a pruned trial without them saves nothing.

    Examples:
        >>> import optuna
        >>> pruned = optuna.trial.create_trial(
        ...     state=optuna.trial.TrialState.PRUNED,
        ...     user_attrs={"epochs": 2, "strategy": {"epochs": 20}})
        >>> epochs_saved([pruned])
        18
    """
    from optuna.trial import TrialState

    saved = 0
    for trial in trials:
        if trial.state is not TrialState.PRUNED:
            continue
        planned = trial.user_attrs.get("strategy", {}).get("epochs")
        if isinstance(planned, int) and not isinstance(planned, bool):
            saved += max(0, planned - trial_epochs(trial))
    return saved
