"""The few places paretune reaches past Optuna's public API, kept in one module.

Optuna's public API addresses a running trial by its ``Trial`` object or, for ``tell``, by its
number; recording attributes on a trial another process started, or handing an Optuna pruner
the frozen state of a live trial, needs the storage-level trial id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = [
    "frozen_trial",
    "set_trial_user_attrs",
    "storage_of",
    "trial_by_number",
    "trial_id_of",
]


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage object behind ``study``."""
    return study._storage


def trial_by_number(study: optuna.Study, number: int) -> optuna.Trial:
    """A ``Trial`` handle on trial ``number`` of ``study`` (to set attributes / constraints)."""
    import optuna

    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.Trial(study, trial_id)


def frozen_trial(study: optuna.Study, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    """The current stored state of a live trial (what Optuna pruners read)."""
    return study._storage.get_trial(trial._trial_id)


def trial_id_of(trial: optuna.Trial) -> int:
    """The storage-level id of a live trial."""
    return trial._trial_id


def set_trial_user_attrs(
    storage: optuna.storages.BaseStorage, trial_id: int, attrs: Mapping[str, Any]
) -> None:
    """Set several user attributes of a running trial (one storage write each)."""
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
