"""Reading a finished study: report data (pure), its HTML drawing, and selection under limits."""

from __future__ import annotations

from paretune.search.report._data import ReportData, Summary, build_report_data
from paretune.search.report._fronts import FrontView, front_view, global_front, staircase
from paretune.search.report._html import render_report_html, write_report
from paretune.search.report._importance import importances
from paretune.search.report._picks import ConstraintPick, constraint_picks
from paretune.search.report._progress import (
    History,
    HypervolumeHistory,
    hypervolume_history,
    optimization_history,
)
from paretune.search.report._rows import TrialRow, rows_from_trials
from paretune.search.report._select import (
    COST_UNITS,
    Candidate,
    Selection,
    SelectionRule,
    Shortfall,
    candidates_from_trials,
    format_quantity,
    parse_limit,
    parse_quantity,
    select_strategy,
)
from paretune.search.report._trials import Quality, study_quality

__all__ = [
    "COST_UNITS",
    "Candidate",
    "ConstraintPick",
    "FrontView",
    "History",
    "HypervolumeHistory",
    "Quality",
    "ReportData",
    "Selection",
    "SelectionRule",
    "Shortfall",
    "Summary",
    "TrialRow",
    "build_report_data",
    "candidates_from_trials",
    "constraint_picks",
    "format_quantity",
    "front_view",
    "global_front",
    "hypervolume_history",
    "importances",
    "optimization_history",
    "parse_limit",
    "parse_quantity",
    "render_report_html",
    "rows_from_trials",
    "select_strategy",
    "staircase",
    "study_quality",
    "write_report",
]
