"""Reading a finished study: report data (pure), its HTML drawing, and selection under limits."""

from __future__ import annotations

from paretune.search.report._data import ReportData, Summary, build_report_data
from paretune.search.report._format import distinct_digits, plural
from paretune.search.report._fronts import (
    FrontView,
    FrontZoom,
    front_view,
    front_zoom,
    global_front,
    staircase,
)
from paretune.search.report._html import render_report_html, write_report
from paretune.search.report._importance import importances
from paretune.search.report._noise import (
    ASSUMED_SPREAD,
    TIME_COSTS,
    CloseCall,
    NoiseSource,
    TimedPoint,
    TimingNoise,
    close_pairs,
    study_spread,
    timing_noise,
)
from paretune.search.report._picks import (
    ConstraintPick,
    PickGroup,
    constraint_picks,
    distinct_picks,
)
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
    "ASSUMED_SPREAD",
    "COST_UNITS",
    "TIME_COSTS",
    "Candidate",
    "CloseCall",
    "ConstraintPick",
    "FrontView",
    "FrontZoom",
    "History",
    "HypervolumeHistory",
    "NoiseSource",
    "PickGroup",
    "Quality",
    "ReportData",
    "Selection",
    "SelectionRule",
    "Shortfall",
    "Summary",
    "TimedPoint",
    "TimingNoise",
    "TrialRow",
    "build_report_data",
    "candidates_from_trials",
    "close_pairs",
    "constraint_picks",
    "distinct_digits",
    "distinct_picks",
    "format_quantity",
    "front_view",
    "front_zoom",
    "global_front",
    "hypervolume_history",
    "importances",
    "optimization_history",
    "parse_limit",
    "parse_quantity",
    "plural",
    "render_report_html",
    "rows_from_trials",
    "select_strategy",
    "staircase",
    "study_quality",
    "study_spread",
    "timing_noise",
    "write_report",
]
