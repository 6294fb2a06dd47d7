"""What common constraints pick: the most accurate strategy under shares of the dense size,
the most accurate under the study's constraints, and the knee (selection rules of ``_select``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from paretune.search._objectives import metric_of, quality_objective
from paretune.search.report._rows import TrialRow
from paretune.search.report._select import COST_UNITS, Selection, select_strategy

__all__ = ["ConstraintPick", "PickGroup", "constraint_picks", "distinct_picks"]


class ConstraintPick(NamedTuple):
    """What a common constraint picks.

    Attributes:
        label: Human-readable constraint (``"size <= 1/4 of dense float32"``).
        limits: The limits applied (cost -> max).
        selection: The selection under those limits (``chosen`` may be None).
    """

    label: str
    limits: Mapping[str, float]
    selection: Selection


def constraint_picks(
    rows: Sequence[TrialRow],
    objectives: Sequence[str],
    *,
    constraints: Mapping[str, float] | None = None,
    fractions: Sequence[tuple[str, float]] = (("1/2", 0.5), ("1/4", 0.25), ("1/10", 0.1)),
) -> tuple[ConstraintPick, ...]:
    """The most accurate strategy under common size budgets, plus the knee.

    Only trials that meet the study's constraints (``TrialRow.feasible``) take part.

    The dense float model is ``params * 32`` bits (the largest ``params`` recorded); each
    fraction of it becomes a ``size_bits`` limit, combined with the study's own constraints.

    Args:
        rows: All trials.
        objectives: The study's objectives.
        constraints: The study's constraints.
        fractions: ``(label, fraction)`` pairs of the dense float size.

    Returns:
        One :class:`ConstraintPick` per budget, then the unconstrained best and the knee.
    """
    constraints = dict(constraints or {})
    rows = [r for r in rows if r.feasible or r.state != "COMPLETE"]
    complete = [
        (r, r.candidate()) for r in rows if r.state == "COMPLETE" and math.isfinite(r.accuracy)
    ]
    candidates = [c for r, c in complete if "size_bits" in r.metrics]
    picks: list[ConstraintPick] = []
    dense = [r.metrics["params"] for r in rows if math.isfinite(r.metrics.get("params", math.nan))]
    if dense and candidates:
        dense_bits = max(dense) * 32
        for label, fraction in fractions:
            limit = dense_bits * fraction
            limits = {**constraints, "size_bits": min(limit, constraints.get("size_bits", limit))}
            selection = select_strategy(candidates, objectives=objectives, limits=limits)
            picks.append(ConstraintPick(f"size ≤ {label} of dense float32", limits, selection))
    usable = [c for _, c in complete if all(o in c.costs for o in objectives if o in COST_UNITS)]
    best = select_strategy(usable, objectives=objectives, limits=constraints)
    named = quality_objective(objectives)
    most = "most accurate" if named in (None, "accuracy") else f"best {metric_of(named)}"
    picks.append(ConstraintPick(f"{most} (study constraints only)", constraints, best))
    knee = select_strategy(usable, objectives=objectives, limits=constraints, knee=True)
    picks.append(ConstraintPick("knee of the front", constraints, knee))
    return tuple(picks)


class PickGroup(NamedTuple):
    """The constraints that pick the same strategy (or that all find nothing feasible).

    Attributes:
        picks: The constraints, in the order :func:`constraint_picks` gave them.
        selection: The first one's selection (the same trial as every other one's).
    """

    picks: tuple[ConstraintPick, ...]
    selection: Selection


def distinct_picks(picks: Sequence[ConstraintPick]) -> tuple[PickGroup, ...]:
    """One group per distinct pick: constraints choosing the same trial share one group.

    Groups come in the order of their first constraint; the constraints that find nothing
    feasible share one group too.

    Args:
        picks: What each constraint picks (:func:`constraint_picks`).

    Returns:
        The :class:`PickGroup` tuples.
    """
    groups: dict[int | None, list[ConstraintPick]] = {}
    for pick in picks:
        chosen = pick.selection.chosen
        groups.setdefault(None if chosen is None else chosen.number, []).append(pick)
    return tuple(PickGroup(tuple(group), group[0].selection) for group in groups.values())
