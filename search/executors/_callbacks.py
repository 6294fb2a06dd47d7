"""Optuna-style callbacks: ``callback(study, frozen_trial)`` once for each trial a run ends.

Both executors take ``callbacks=`` as ``study.optimize`` does and call them in the driver
process: :func:`~paretune.search.run_local` right after recording a trial (with ``jobs > 1``,
for the trials it finds finished in the storage while its workers run), and
:func:`~paretune.search.run_ray` from the driver's searcher after recording. A callback that
raises fails the run, as in Optuna.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from paretune.spaces import bad_parameter

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = ["TrialCallback", "TrialCallbacks", "check_callbacks"]

#: ``callback(study, frozen_trial)``, as Optuna's ``study.optimize(callbacks=...)`` calls it.
TrialCallback = Callable[["optuna.Study", "FrozenTrial"], None]


def check_callbacks(callbacks: Any, *, owner: str) -> tuple[TrialCallback, ...]:
    """The callbacks as a tuple; anything but a sequence of callables raises ``ValueError``.

    Examples:
        >>> check_callbacks([print], owner="run_local")
        (<built-in function print>,)
        >>> check_callbacks(print, owner="run_local")
        Traceback (most recent call last):
        ...
        ValueError: The 'callbacks' parameter of run_local must be a sequence of callables \
callback(study, frozen_trial). Got <built-in function print> instead.
    """
    what = "a sequence of callables callback(study, frozen_trial)"
    if callbacks is None:
        return ()
    if isinstance(callbacks, str | bytes) or not isinstance(callbacks, Sequence):
        raise bad_parameter("callbacks", owner, what, callbacks)
    for callback in callbacks:
        if not callable(callback):
            raise bad_parameter("callbacks", owner, what, callbacks)
    return tuple(callbacks)


class TrialCallbacks:
    """Calls each callback once for every trial of ``study`` that ends after it was made.

    Trials already finished when it is made (earlier runs, trials recovered as interrupted)
    are never passed.

    Args:
        callbacks: The callbacks (checked by :func:`check_callbacks`).
        study: The study the run records into.

    Examples:
        >>> import optuna
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study()
        >>> study.optimize(lambda t: 1.0, n_trials=1)
        >>> seen = []
        >>> calls = TrialCallbacks([lambda s, t: seen.append(t.number)], study)
        >>> study.optimize(lambda t: 2.0, n_trials=2)
        >>> calls.poll(); calls.poll()
        >>> seen
        [1, 2]
    """

    def __init__(self, callbacks: Sequence[TrialCallback], study: optuna.Study) -> None:
        self._callbacks = tuple(callbacks)
        self._study = study
        self._done: set[int] = set()
        if self._callbacks:
            self._done = {t.number for t in self._finished()}

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def _finished(self) -> list[FrozenTrial]:
        from optuna.trial import TrialState

        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        return self._study.get_trials(deepcopy=False, states=states)

    def ended(self, trial: FrozenTrial) -> None:
        """Call every callback with the finished ``trial`` (once per trial number)."""
        if not self._callbacks or trial.number in self._done:
            return
        self._done.add(trial.number)
        for callback in self._callbacks:
            callback(self._study, trial)

    def poll(self) -> None:
        """Call the callbacks for the trials found finished in the storage since the last call."""
        if not self._callbacks:
            return
        for trial in sorted(self._finished(), key=lambda t: t.number):
            if trial.number not in self._done:
                self.ended(trial)
