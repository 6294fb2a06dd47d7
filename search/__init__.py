"""Optuna studies, samplers and pruners by name, executors, Pareto math and reports."""

from __future__ import annotations

from paretune.search._budget import epochs_saved, epochs_spent, trial_epochs
from paretune.search._decision import Decision
from paretune.search._local import Objective, ObjectiveFactory, run_local
from paretune.search._objectives import COSTS, OBJECTIVES, direction_of, metric_of
from paretune.search._pareto import (
    crowding_distance,
    hypervolume,
    knee_point,
    non_dominated_sort,
    pareto_front_mask,
)
from paretune.search._pruner_base import TrialPruner
from paretune.search._pruners import (
    NoPruner,
    OptunaPruner,
    PrunerInfo,
    get_pruner,
    list_pruners,
    pruner_info,
    register_pruner,
)
from paretune.search._record import MEASUREMENTS, record_failure, record_result
from paretune.search._reporter import TrialReporter
from paretune.search._samplers import (
    SamplerInfo,
    get_sampler,
    list_samplers,
    register_sampler,
    sampler_info,
)
from paretune.search._spec import StudySpec
from paretune.search._storage import (
    is_parallel_safe,
    make_storage,
    storage_path,
    validate_storage_url,
)
from paretune.search._study import open_study, recover_interrupted
from paretune.search._summary import Progress, RunSummary, StopReason

__all__ = [
    "COSTS",
    "MEASUREMENTS",
    "OBJECTIVES",
    "Decision",
    "NoPruner",
    "Objective",
    "ObjectiveFactory",
    "OptunaPruner",
    "Progress",
    "PrunerInfo",
    "RunSummary",
    "SamplerInfo",
    "StopReason",
    "StudySpec",
    "TrialPruner",
    "TrialReporter",
    "crowding_distance",
    "direction_of",
    "epochs_saved",
    "epochs_spent",
    "get_pruner",
    "get_sampler",
    "hypervolume",
    "is_parallel_safe",
    "knee_point",
    "list_pruners",
    "list_samplers",
    "make_storage",
    "metric_of",
    "non_dominated_sort",
    "open_study",
    "pareto_front_mask",
    "pruner_info",
    "record_failure",
    "record_result",
    "recover_interrupted",
    "register_pruner",
    "register_sampler",
    "run_local",
    "sampler_info",
    "storage_path",
    "trial_epochs",
    "validate_storage_url",
]
