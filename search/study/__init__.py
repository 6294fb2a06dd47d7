"""The Optuna study: its spec, storage URLs, opening or resuming it, recording trial outcomes.

The epoch accounting over a study's trials lives here too. The objective vocabulary
(``paretune.search._objectives``), Pareto math and the few reaches past Optuna's public API
stay at the package root: every role reads them.
"""

from __future__ import annotations

from paretune.search.study._budget import epochs_saved, epochs_spent, trial_epochs
from paretune.search.study._curves import curve_metric, report_curve, report_epoch
from paretune.search.study._deferred_signals import deferred_interrupts
from paretune.search.study._fast_read import load_study_fast
from paretune.search.study._journal_file import JournalFile, JournalRepair, repair_journal
from paretune.search.study._lock import StudyLock
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
from paretune.search.study._quota import SlotCounts, TrialSlots
from paretune.search.study._read_trials import read_trials
from paretune.search.study._record import MEASUREMENTS, record_failure, record_result
from paretune.search.study._spec import StudySpec, UnusableError
from paretune.search.study._storage import (
    MissingDriverError,
    default_storage_url,
    is_parallel_safe,
    make_storage,
    storage_file_stem,
    storage_path,
    validate_storage_url,
)
from paretune.search.study._storage_errors import StorageError, StorageProblem
from paretune.search.study._synthetic import add_synthetic_trials, create_synthetic_study
from paretune.search.study._trial_cache import OwnedTrialCache, suggest_strategy

__all__ = [
    "MEASUREMENTS",
    "WORKER_ATTR",
    "Objective",
    "JournalFile",
    "JournalRepair",
    "ObjectiveFactory",
    "OutcomeState",
    "OwnedTrialCache",
    "Reporter",
    "SlotCounts",
    "MissingDriverError",
    "StorageError",
    "StorageProblem",
    "StudyLock",
    "StudyMismatchError",
    "StudySpec",
    "TrialOutcome",
    "TrialSlots",
    "UnusableError",
    "add_synthetic_trials",
    "create_synthetic_study",
    "curve_metric",
    "deferred_interrupts",
    "default_storage_url",
    "epochs_saved",
    "epochs_spent",
    "is_parallel_safe",
    "load_study_fast",
    "make_storage",
    "mark_worker",
    "open_study",
    "recover_interrupted",
    "repair_journal",
    "record_failure",
    "read_trials",
    "record_result",
    "report_curve",
    "report_epoch",
    "session_seed",
    "storage_file_stem",
    "storage_path",
    "suggest_strategy",
    "to_outcome",
    "trial_epochs",
    "validate_storage_url",
]
