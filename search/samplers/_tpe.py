"""``tpe``: Optuna's ``TPESampler``, reading studies whose trials carry learning curves.

paretune stores each epoch's metric as an intermediate value, in multi-objective studies too
(through the storage). Optuna's TPE ranks PRUNED trials by that value in the direction of
``study.direction``, which a multi-objective study does not have; so for such a study this
sampler reads the PRUNED trials without their intermediate values, as Optuna stores them
(:func:`paretune.search._optuna_compat.without_pruned_curves`). Everything else is Optuna's.
This module imports Optuna and is imported when the sampler is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optuna import samplers
from paretune.search._optuna_compat import without_pruned_curves

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

__all__ = ["TPESampler"]


class TPESampler(samplers.TPESampler):
    """Optuna's ``TPESampler`` for studies with learning curves (module docstring).

    Examples:
        >>> import optuna
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(directions=["maximize", "minimize"],
        ...                             sampler=TPESampler(seed=0, n_startup_trials=1))
        >>> for number in range(3):
        ...     trial = study.ask()
        ...     x = trial.suggest_float("x", 0.0, 1.0)
        ...     study._storage.set_trial_intermediate_value(trial._trial_id, 1, x)
        ...     state = optuna.trial.TrialState.PRUNED if number else None
        ...     _ = study.tell(trial, None if state else [x, x], state=state)
        >>> 0.0 <= study.ask().suggest_float("x", 0.0, 1.0) <= 1.0
        True
    """

    def _sample(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        found: dict[str, Any] = super()._sample(without_pruned_curves(study), trial, search_space)
        return found
