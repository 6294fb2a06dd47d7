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
from paretune.search._ray_executor import run_ray
from paretune.search._record import MEASUREMENTS, record_failure, record_result
from paretune.search._report_data import ReportData, build_report_data
from paretune.search._report_html import render_report_html, write_report
from paretune.search._reporter import TrialReporter
from paretune.search._samplers import (
    SamplerInfo,
    get_sampler,
    list_samplers,
    register_sampler,
    sampler_info,
)
from paretune.search._select import (
    Candidate,
    Selection,
    SelectionRule,
    candidates_from_trials,
    format_quantity,
    parse_limit,
    parse_quantity,
    select_strategy,
)
from paretune.search._spec import StudySpec
from paretune.search._storage import (
    is_parallel_safe,
    make_storage,
    storage_path,
    validate_storage_url,
)
from paretune.search._study import mark_worker, open_study, recover_interrupted
from paretune.search._summary import Progress, RunSummary, StopReason

__all__ = [
    "COSTS",
    "MEASUREMENTS",
    "OBJECTIVES",
    "Candidate",
    "Decision",
    "NoPruner",
    "Objective",
    "ObjectiveFactory",
    "OptunaPruner",
    "Progress",
    "PrunerInfo",
    "ReportData",
    "RunSummary",
    "SamplerInfo",
    "Selection",
    "SelectionRule",
    "StopReason",
    "StudySpec",
    "TrialPruner",
    "TrialReporter",
    "build_report_data",
    "candidates_from_trials",
    "crowding_distance",
    "direction_of",
    "epochs_saved",
    "epochs_spent",
    "format_quantity",
    "get_pruner",
    "get_sampler",
    "hypervolume",
    "is_parallel_safe",
    "knee_point",
    "list_pruners",
    "list_samplers",
    "make_storage",
    "mark_worker",
    "metric_of",
    "non_dominated_sort",
    "open_study",
    "pareto_front_mask",
    "parse_limit",
    "parse_quantity",
    "pruner_info",
    "record_failure",
    "record_result",
    "recover_interrupted",
    "register_pruner",
    "register_sampler",
    "render_report_html",
    "run_local",
    "run_ray",
    "sampler_info",
    "select_strategy",
    "storage_path",
    "trial_epochs",
    "validate_storage_url",
    "write_report",
]
