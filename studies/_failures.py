"""A run that stopped because its trials kept failing: the reasons, and the error
``Study.run`` raises for it."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import optuna
from paretune.studies._errors import MAX_SHOWN, cut, cut_quoted

if TYPE_CHECKING:
    from paretune.studies._api_result import StudyResult

__all__ = ["RunFailedError", "failed_run_line"]


class RunFailedError(RuntimeError):
    """``Study.run`` stopped because its last trials all failed: it could not succeed.

    The message names the distinct reasons (each failed trial's ``fail_reason``); the study
    as it stands, with every failed trial recorded, is :attr:`result`.

    Args:
        message: What stopped the run and why the trials failed.
        result: The study after the run.

    Examples:
        >>> error = RunFailedError("the run stopped: the last 10 trials failed", result=None)
        >>> isinstance(error, RuntimeError), error.result is None
        (True, True)
    """

    def __init__(self, message: str, *, result: StudyResult | None) -> None:
        super().__init__(message)
        #: The study after the run (its summary says what the run did).
        self.result = result


def failed_run_line(study: optuna.Study, last: int) -> str:
    """Why a run stopped on failed trials: the distinct reasons of the ``last`` failed
    trials, the commonest first, each with its count.

    Examples:
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study()
        >>> for reason in ["ValueError: bad", "ValueError: bad", "OSError: gone"]:
        ...     trial = study.ask()
        ...     trial.set_user_attr("fail_reason", reason)
        ...     _ = study.tell(trial, state=optuna.trial.TrialState.FAIL)
        >>> print(failed_run_line(study, 10))
        the run stopped: the last 3 trials failed. Reasons: ValueError: bad (2 trials);
        OSError: gone (1 trial)
    """
    failed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    recent = sorted(failed, key=lambda t: t.number)[-last:]
    counts = Counter(str(t.user_attrs.get("fail_reason") or "no reason recorded") for t in recent)
    reasons = "; ".join(
        f"{cut_quoted(cut(reason, limit=4 * MAX_SHOWN))} ({n} trial{'s' if n > 1 else ''})"
        for reason, n in counts.most_common()
    )
    return f"the run stopped: the last {len(recent)} trials failed. Reasons: {reasons}"
