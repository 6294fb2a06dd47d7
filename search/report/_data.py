"""Everything the report shows, computed from a study's trials (pure, no plotly).

One function, :func:`build_report_data`, reads an ``optuna.Study`` (or its frozen trials) and
returns a :class:`ReportData` of NamedTuples; ``_html`` only draws it. The parts live by
concept and are public to the tests on plain rows: trial rows (``_rows``), fronts and the
staircase (``_fronts``), hypervolume and optimization history (``_progress``), importances
(``_importance``) and constraint picks (``_picks``).

Only COMPLETE trials that meet the study's constraints take part in fronts, hypervolume and
picks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from paretune.search.report._fronts import FrontView, front_view, global_front
from paretune.search.report._importance import importances
from paretune.search.report._noise import TIME_COSTS, TimingNoise, timing_noise
from paretune.search.report._picks import ConstraintPick, constraint_picks
from paretune.search.report._progress import (
    History,
    HypervolumeHistory,
    hypervolume_history,
    optimization_history,
)
from paretune.search.report._rows import TrialRow, dimensions, rows_from_trials
from paretune.search.report._select import COST_UNITS, Selection
from paretune.search.report._trials import Quality, study_quality

__all__ = ["ReportData", "Summary", "build_report_data"]


class Summary(NamedTuple):
    """The report's first section.

    Attributes:
        study_name: Name of the study.
        task: Task name from the study metadata (``""`` if unknown).
        objectives: Objective names in order.
        constraints: Cost name -> largest allowed value (the study's constraints).
        n_complete: COMPLETE trials.
        n_pruned: PRUNED trials.
        n_failed: FAIL trials.
        n_running: RUNNING or WAITING trials.
        epochs_spent: Epochs trained over all trials.
        epochs_saved: Epochs pruning saved (planned minus run, over PRUNED trials).
        best_accuracy: Best validation accuracy of a feasible COMPLETE trial (NaN if none).
        best_trial: Its number (-1 if none).
        recommended: The knee of the feasible front (see ``select_strategy``).
        quality: The study's quality objective (name, user attribute, direction): what
            ``best_accuracy`` and every "accuracy" of the report measure.
    """

    study_name: str
    task: str
    objectives: tuple[str, ...]
    constraints: Mapping[str, float]
    n_complete: int
    n_pruned: int
    n_failed: int
    n_running: int
    epochs_spent: int
    epochs_saved: int
    best_accuracy: float
    best_trial: int
    recommended: Selection
    quality: Quality = Quality()


class ReportData(NamedTuple):
    """All the report's content.

    Attributes:
        summary: Counts, budget, best accuracy and the recommendation.
        rows: Every trial, in trial-number order.
        dimensions: Strategy keys present in any trial, in a stable order.
        fronts: One :class:`FrontView` per cost objective (or per constrained cost when the
            study has accuracy only).
        front: Row indices of the trials non-dominated on all objectives, cheapest first.
        hypervolume: The hypervolume history.
        history: The optimization history.
        importances: Objective -> parameter -> importance (empty when not computable).
        picks: What common constraints pick.
        timing: For each front against a time cost (``latency_ms``, ``train_seconds``), the
            front points indistinguishable within the timing noise.
    """

    summary: Summary
    rows: tuple[TrialRow, ...]
    dimensions: tuple[str, ...]
    fronts: tuple[FrontView, ...]
    front: tuple[int, ...]
    hypervolume: HypervolumeHistory
    history: History
    importances: Mapping[str, Mapping[str, float]]
    picks: tuple[ConstraintPick, ...]
    timing: tuple[TimingNoise, ...] = ()


def build_report_data(
    study: Any,
    *,
    trials: Sequence[Any] | None = None,
    max_importance_trials: int = 1000,
    seed: int = 0,
) -> ReportData:
    """Compute every section of the report from a study.

    Args:
        study: An ``optuna.Study`` written by paretune (user attributes ``objectives``,
            ``constraints``, ``metadata``); objective names fall back to ``accuracy`` and
            ``objective_1`` ... when absent.
        trials: The study's frozen trials when already loaded (else read once here).
        max_importance_trials: Subsample size for the importances.
        seed: Seed for the importance evaluator.

    Returns:
        The :class:`ReportData`.
    """
    from paretune.search.study._budget import epochs_saved, epochs_spent
    from paretune.search.study._read_trials import read_trials

    if trials is None:
        trials = read_trials(study)
    attrs = study.user_attrs
    objectives = tuple(
        attrs.get("objectives")
        or ["accuracy", *(f"objective_{i}" for i in range(1, len(study.directions)))]
    )
    constraints = {str(k): float(v) for k, v in dict(attrs.get("constraints") or {}).items()}
    metadata = attrs.get("metadata") or {}
    quality = study_quality(study) if "objectives" in attrs else Quality()
    rows = rows_from_trials(trials, constraints=constraints, quality=quality)
    costs = [o for o in objectives if o in COST_UNITS]
    plotted = costs or [c for c in constraints if c in COST_UNITS] or ["size_bits"]
    fronts = tuple(front_view(rows, cost) for cost in plotted)
    front = global_front(rows, objectives)
    states = [r.state for r in rows]
    usable = [r for r in rows if r.state == "COMPLETE" and r.feasible and math.isfinite(r.accuracy)]
    best = min(usable, key=lambda r: (r.minimized, r.number)) if usable else None
    picks = constraint_picks(rows, objectives, constraints=constraints)
    recommended = picks[-1].selection
    timed = [view for view in fronts if view.cost in TIME_COSTS]
    complete = [r.candidate() for r in rows if r.state == "COMPLETE"] if timed else []
    timing = tuple(
        timing_noise(complete, front=[rows[i].candidate() for i in view.front], cost=view.cost)
        for view in timed
    )
    summary = Summary(
        study_name=str(study.study_name),
        task=str(metadata.get("task", "")) if isinstance(metadata, Mapping) else "",
        objectives=objectives,
        constraints=constraints,
        n_complete=states.count("COMPLETE"),
        n_pruned=states.count("PRUNED"),
        n_failed=states.count("FAIL"),
        n_running=states.count("RUNNING") + states.count("WAITING"),
        epochs_spent=int(epochs_spent(trials)),
        epochs_saved=int(epochs_saved(trials)),
        best_accuracy=best.accuracy if best else math.nan,
        best_trial=best.number if best else -1,
        recommended=recommended,
        quality=quality,
    )
    return ReportData(
        summary=summary,
        rows=rows,
        dimensions=dimensions(rows),
        fronts=fronts,
        front=front,
        hypervolume=hypervolume_history(rows, objectives),
        history=optimization_history(rows),
        importances=importances(trials, objectives, max_trials=max_importance_trials, seed=seed),
        picks=picks,
        timing=timing,
    )
