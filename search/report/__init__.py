"""Reading a finished study: report data (pure), its HTML drawing, and selection under limits."""

from __future__ import annotations

from paretune.search.report._data import (
    ConstraintPick,
    FrontView,
    History,
    HypervolumeHistory,
    ReportData,
    Summary,
    TrialRow,
    build_report_data,
    constraint_picks,
    front_view,
    global_front,
    hypervolume_history,
    importances,
    rows_from_trials,
    staircase,
)
from paretune.search.report._html import render_report_html, write_report
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

__all__ = [
    "COST_UNITS",
    "Candidate",
    "ConstraintPick",
    "FrontView",
    "History",
    "HypervolumeHistory",
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
    "parse_limit",
    "parse_quantity",
    "render_report_html",
    "rows_from_trials",
    "select_strategy",
    "staircase",
    "write_report",
]
