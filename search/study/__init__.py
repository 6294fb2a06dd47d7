"""The Optuna study: its spec, storage URLs, opening or resuming it, recording trial outcomes.

The epoch accounting over a study's trials lives here too. The objective vocabulary
(``paretune.search._objectives``), Pareto math and the few reaches past Optuna's public API
stay at the package root: every role reads them.
"""

from __future__ import annotations

from paretune.search.study._budget import epochs_saved, epochs_spent, trial_epochs
from paretune.search.study._curves import curve_metric, report_curve, report_epoch
from paretune.search.study._open import (
    WORKER_ATTR,
    StudyMismatchError,
    mark_worker,
    open_study,
    recover_interrupted,
    session_seed,
)
from paretune.search.study._outcome import (
    Objective,
    ObjectiveFactory,
    OutcomeState,
    Reporter,
    TrialOutcome,
    to_outcome,
)
from paretune.search.study._record import MEASUREMENTS, record_failure, record_result
from paretune.search.study._spec import StudySpec, UnusableError
from paretune.search.study._storage import (
    is_parallel_safe,
    make_storage,
    storage_path,
    validate_storage_url,
)
from paretune.search.study._synthetic import add_synthetic_trials, create_synthetic_study
from paretune.search.study._trial_cache import OwnedTrialCache

__all__ = [
    "MEASUREMENTS",
    "WORKER_ATTR",
    "Objective",
    "ObjectiveFactory",
    "OutcomeState",
    "OwnedTrialCache",
    "Reporter",
    "StudyMismatchError",
    "StudySpec",
    "TrialOutcome",
    "UnusableError",
    "add_synthetic_trials",
    "create_synthetic_study",
    "curve_metric",
    "epochs_saved",
    "epochs_spent",
    "is_parallel_safe",
    "make_storage",
    "mark_worker",
    "open_study",
    "recover_interrupted",
    "record_failure",
    "record_result",
    "report_curve",
    "report_epoch",
    "session_seed",
    "storage_path",
    "to_outcome",
    "trial_epochs",
    "validate_storage_url",
]
