"""Pareto fronts of the trial rows: accuracy against one cost (with its staircase), and on all
objectives at once. Only feasible COMPLETE trials make a front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from paretune.search._pareto import pareto_front_mask
from paretune.search.report._rows import TrialRow, is_usable, objective_points
from paretune.search.report._select import COST_UNITS

__all__ = ["FrontView", "front_view", "global_front", "staircase"]


class FrontView(NamedTuple):
    """Accuracy against one cost: which trials are on the 2-D front, and its staircase.

    Attributes:
        cost: The cost on the x axis.
        front: Row indices of the 2-D non-dominated feasible COMPLETE trials, cheapest first.
        dominated: Row indices of the other feasible COMPLETE trials.
        infeasible: Row indices of COMPLETE trials breaking a study constraint.
        pruned: Row indices of PRUNED trials with a known last accuracy and cost.
        stair_x: Staircase x (cost) coordinates.
        stair_y: Staircase y (accuracy) coordinates.
        log_x: Whether the cost spans enough orders of magnitude for a log axis.
    """

    cost: str
    front: tuple[int, ...]
    dominated: tuple[int, ...]
    infeasible: tuple[int, ...]
    pruned: tuple[int, ...]
    stair_x: tuple[float, ...]
    stair_y: tuple[float, ...]
    log_x: bool


def staircase(
    costs: Sequence[float], accuracies: Sequence[float], *, x_max: float | None = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The attainment staircase of a front (minimize cost, maximize accuracy).

    The best accuracy reachable at cost ``x`` is a step function: it rises at each front
    point and stays flat until the next one; the last step runs to ``x_max``.

    Args:
        costs: Costs of the front points (any order).
        accuracies: Their accuracies.
        x_max: Where the last step ends (default: the largest cost).

    Returns:
        ``(xs, ys)`` of the polyline.

    Examples:
        >>> staircase([1, 3, 2], [0.5, 0.9, 0.7], x_max=4)
        ((1.0, 2.0, 2.0, 3.0, 3.0, 4.0), (0.5, 0.5, 0.7, 0.7, 0.9, 0.9))
    """
    if len(costs) != len(accuracies):
        raise ValueError("The 'costs' and 'accuracies' parameters must have the same length.")
    if not costs:
        return (), ()
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -accuracies[i]))
    xs: list[float] = []
    ys: list[float] = []
    best = -math.inf
    for i in order:
        x, y = float(costs[i]), float(accuracies[i])
        if y <= best:
            continue
        if xs:
            xs.append(x)
            ys.append(best)
        xs.append(x)
        ys.append(y)
        best = y
    end = float(x_max) if x_max is not None else float(max(costs))
    if end > xs[-1]:
        xs.append(end)
        ys.append(best)
    return tuple(xs), tuple(ys)


def front_view(rows: Sequence[TrialRow], cost: str) -> FrontView:
    """Split the trials for the plot of accuracy against ``cost``.

    Args:
        rows: All trials.
        cost: The cost on the x axis.

    Returns:
        The :class:`FrontView`.
    """
    complete = [i for i, r in enumerate(rows) if r.state == "COMPLETE" and is_usable(r, [cost])]
    feasible = [i for i in complete if rows[i].feasible]
    infeasible = [i for i in complete if not rows[i].feasible]
    pruned = [i for i, r in enumerate(rows) if r.state == "PRUNED" and is_usable(r, [cost])]
    points = np.array([[rows[i].metrics[cost], rows[i].minimized] for i in feasible])
    mask = pareto_front_mask(points.reshape(len(feasible), 2))
    front = sorted(
        (i for i, on in zip(feasible, mask, strict=True) if on),
        key=lambda i: (rows[i].metrics[cost], rows[i].minimized, rows[i].number),
    )
    dominated = [i for i, on in zip(feasible, mask, strict=True) if not on]
    all_costs = [rows[i].metrics[cost] for i in complete + pruned]
    sign = -1.0 if rows and not rows[0].maximize else 1.0  # a minimized metric steps down
    xs, ys = staircase(
        [rows[i].metrics[cost] for i in front],
        [sign * rows[i].accuracy for i in front],
        x_max=max(all_costs) if all_costs else None,
    )
    ys = tuple(sign * y for y in ys)
    positive = [c for c in all_costs if c > 0]
    log_x = (
        bool(positive) and len(positive) == len(all_costs) and max(positive) > 10 * min(positive)
    )
    return FrontView(
        cost, tuple(front), tuple(dominated), tuple(infeasible), tuple(pruned), xs, ys, log_x
    )


def global_front(rows: Sequence[TrialRow], objectives: Sequence[str]) -> tuple[int, ...]:
    """Row indices of feasible COMPLETE trials non-dominated on all objectives.

    Sorted by the first cost objective (then the others), cheapest first.

    Args:
        rows: All trials.
        objectives: The study's objectives.

    Returns:
        Row indices.
    """
    costs = [o for o in objectives if o in COST_UNITS]
    usable = [i for i, r in enumerate(rows) if r.state == "COMPLETE" and r.feasible]
    usable = [i for i in usable if is_usable(rows[i], costs)]
    mask = pareto_front_mask(objective_points(rows, usable, costs))
    front = [i for i, on in zip(usable, mask, strict=True) if on]
    front.sort(key=lambda i: (*(rows[i].metrics[c] for c in costs), rows[i].minimized))
    return tuple(front)
